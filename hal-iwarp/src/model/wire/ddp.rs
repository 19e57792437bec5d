//! DDP segment headers (RFC 5041 §4, §9.4 of the datasheet): tagged (STag + TO) and
//! untagged (QN, MSN, MO). Byte 1 of both is the RDMAP control byte ([`super::rdmap`]).

use std::vec::Vec;

use super::bytes::{be32, be64, u8_at};
use super::WireError;

/// The DDP version (DV) RFC 5041 defines.
pub const DDP_VERSION: u8 = 1;
/// Bytes of a tagged header (with the RDMAP control byte).
pub const TAGGED_HEADER_LEN: usize = 14;
/// Bytes of an untagged header (with the RDMAP control byte and RDMAP's reserved field).
pub const UNTAGGED_HEADER_LEN: usize = 18;
/// Untagged queue of Sends (RFC 5040 §5.1).
pub const QN_SEND: u32 = 0;
/// Untagged queue of RDMA Read Requests.
pub const QN_READ_REQUEST: u32 = 1;
/// Untagged queue of Terminates.
pub const QN_TERMINATE: u32 = 2;

const T_BIT: u8 = 0x80;
const L_BIT: u8 = 0x40;
const DV_MASK: u8 = 0x03;

/// A tagged-buffer header: the data goes to `stag` at offset `to`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TaggedHeader {
    /// L: last segment of the message.
    pub last: bool,
    /// The RDMAP control byte.
    pub rdmap_ctrl: u8,
    /// Steering tag of the target buffer.
    pub stag: u32,
    /// Tagged offset of this segment's first byte.
    pub to: u64,
}

/// An untagged-buffer header: the data goes to the receive buffer of message `msn` on
/// queue `qn`, at message offset `mo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UntaggedHeader {
    /// L: last segment of the message.
    pub last: bool,
    /// The RDMAP control byte.
    pub rdmap_ctrl: u8,
    /// The 32 bits DDP reserves for the ULP: RDMAP's Invalidate STag of Send with
    /// Invalidate, otherwise 0.
    pub ulp_reserved: u32,
    /// Queue number.
    pub qn: u32,
    /// Message sequence number (per queue, the first message is 1).
    pub msn: u32,
    /// Message offset of this segment's first byte.
    pub mo: u32,
}

/// Either DDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DdpHeader {
    /// T = 1.
    Tagged(TaggedHeader),
    /// T = 0.
    Untagged(UntaggedHeader),
}

impl DdpHeader {
    /// Bytes on the wire: 14 or 18.
    pub fn len(&self) -> usize {
        match self {
            DdpHeader::Tagged(_) => TAGGED_HEADER_LEN,
            DdpHeader::Untagged(_) => UNTAGGED_HEADER_LEN,
        }
    }

    /// Never empty; present for symmetry with [`DdpHeader::len`].
    pub fn is_empty(&self) -> bool {
        false
    }

    /// L: last segment of its message.
    pub fn last(&self) -> bool {
        match self {
            DdpHeader::Tagged(h) => h.last,
            DdpHeader::Untagged(h) => h.last,
        }
    }

    /// The RDMAP control byte.
    pub fn rdmap_ctrl(&self) -> u8 {
        match self {
            DdpHeader::Tagged(h) => h.rdmap_ctrl,
            DdpHeader::Untagged(h) => h.rdmap_ctrl,
        }
    }

    /// Appends the header (DV = 1, reserved bits 0).
    pub fn write(&self, out: &mut Vec<u8>) {
        let l = if self.last() { L_BIT } else { 0 };
        match self {
            DdpHeader::Tagged(h) => {
                out.push(T_BIT | l | DDP_VERSION);
                out.push(h.rdmap_ctrl);
                out.extend_from_slice(&h.stag.to_be_bytes());
                out.extend_from_slice(&h.to.to_be_bytes());
            }
            DdpHeader::Untagged(h) => {
                out.push(l | DDP_VERSION);
                out.push(h.rdmap_ctrl);
                out.extend_from_slice(&h.ulp_reserved.to_be_bytes());
                out.extend_from_slice(&h.qn.to_be_bytes());
                out.extend_from_slice(&h.msn.to_be_bytes());
                out.extend_from_slice(&h.mo.to_be_bytes());
            }
        }
    }

    /// Parses the header at the start of a ULPDU (DV must be 1; reserved bits are ignored
    /// as RFC 5041 asks); returns it and the segment's payload.
    pub fn parse(ulpdu: &[u8]) -> Result<(DdpHeader, &[u8]), WireError> {
        const T: WireError = WireError::Truncated("DDP header");
        let b0 = u8_at(ulpdu, 0).ok_or(T)?;
        if b0 & DV_MASK != DDP_VERSION {
            return Err(WireError::BadDdpVersion(b0 & DV_MASK));
        }
        let last = b0 & L_BIT != 0;
        let rdmap_ctrl = u8_at(ulpdu, 1).ok_or(T)?;
        if b0 & T_BIT != 0 {
            let h = TaggedHeader {
                last,
                rdmap_ctrl,
                stag: be32(ulpdu, 2).ok_or(T)?,
                to: be64(ulpdu, 6).ok_or(T)?,
            };
            Ok((
                DdpHeader::Tagged(h),
                ulpdu.get(TAGGED_HEADER_LEN..).ok_or(T)?,
            ))
        } else {
            let h = UntaggedHeader {
                last,
                rdmap_ctrl,
                ulp_reserved: be32(ulpdu, 2).ok_or(T)?,
                qn: be32(ulpdu, 6).ok_or(T)?,
                msn: be32(ulpdu, 10).ok_or(T)?,
                mo: be32(ulpdu, 14).ok_or(T)?,
            };
            Ok((
                DdpHeader::Untagged(h),
                ulpdu.get(UNTAGGED_HEADER_LEN..).ok_or(T)?,
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tagged_known_bytes() {
        let h = DdpHeader::Tagged(TaggedHeader {
            last: true,
            rdmap_ctrl: 0x40,
            stag: 0x1122_3344,
            to: 0x0102_0304_0506_0708,
        });
        let mut b = Vec::new();
        h.write(&mut b);
        assert_eq!(
            b,
            [0xC1, 0x40, 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        b.extend_from_slice(b"xy");
        assert_eq!(DdpHeader::parse(&b).unwrap(), (h, &b"xy"[..]));
    }

    #[test]
    fn untagged_known_bytes() {
        let h = DdpHeader::Untagged(UntaggedHeader {
            last: false,
            rdmap_ctrl: 0x43,
            ulp_reserved: 0,
            qn: QN_SEND,
            msn: 1,
            mo: 0x100,
        });
        let mut b = Vec::new();
        h.write(&mut b);
        assert_eq!(
            b,
            [0x01, 0x43, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]
        );
        assert_eq!(h.len(), b.len());
        assert_eq!(DdpHeader::parse(&b).unwrap().0, h);
    }

    #[test]
    fn rejects_version_and_truncation() {
        assert_eq!(
            DdpHeader::parse(&[0x82, 0x40]),
            Err(WireError::BadDdpVersion(2))
        );
        assert_eq!(
            DdpHeader::parse(&[0x81, 0x40, 0, 0]),
            Err(WireError::Truncated("DDP header"))
        );
        assert_eq!(
            DdpHeader::parse(&[0x01; 17]),
            Err(WireError::Truncated("DDP header"))
        );
        assert!(DdpHeader::parse(&[]).is_err());
    }
}
