//! Ethernet II framing with an optional IEEE 802.1Q tag.

use core::fmt;
use std::vec::Vec;

use super::bytes::{arr, be16};
use super::HeaderError;

/// Ethernet type of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethernet type of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Tag protocol identifier of an IEEE 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// Length of an untagged Ethernet II header.
pub const ETH_HEADER_LEN: usize = 14;
/// Length of an 802.1Q tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// Shortest Ethernet frame without FCS; shorter frames are zero-padded by the sender.
pub const MIN_FRAME_LEN: usize = 60;

/// A 48-bit MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl From<crate::Mac> for MacAddr {
    fn from(mac: crate::Mac) -> MacAddr {
        MacAddr(mac)
    }
}

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xFF; 6]);

    /// Group (multicast or broadcast) address: I/G bit of the first octet set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// An IEEE 802.1Q tag control information field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// Priority code point (3 bits); RDMA NICs map traffic classes onto it for PFC.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

impl VlanTag {
    /// The 16-bit TCI (fields are masked to their widths).
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0FFF)
    }

    /// Decodes a TCI.
    pub fn from_tci(tci: u16) -> VlanTag {
        VlanTag {
            // Lossless: a u16 shifted right by 13 is at most 7.
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0FFF,
        }
    }
}

/// An Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthHeader {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// 802.1Q tag, if the frame is tagged.
    pub vlan: Option<VlanTag>,
    /// Ethernet type of the payload (after the tag).
    pub ethertype: u16,
}

impl EthHeader {
    /// Bytes this header takes on the wire (14, or 18 with a tag).
    pub fn header_len(&self) -> usize {
        ETH_HEADER_LEN + if self.vlan.is_some() { VLAN_TAG_LEN } else { 0 }
    }

    /// Appends the header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dst.0);
        out.extend_from_slice(&self.src.0);
        if let Some(tag) = self.vlan {
            out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            out.extend_from_slice(&tag.tci().to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
    }

    /// Parses the header (decoding one 802.1Q tag); returns it and the rest of the frame.
    pub fn parse(frame: &[u8]) -> Result<(EthHeader, &[u8]), HeaderError> {
        const T: HeaderError = HeaderError::Truncated("Ethernet header");
        let dst = MacAddr(arr(frame, 0).ok_or(T)?);
        let src = MacAddr(arr(frame, 6).ok_or(T)?);
        let mut ethertype = be16(frame, 12).ok_or(T)?;
        let mut off = ETH_HEADER_LEN;
        let mut vlan = None;
        if ethertype == ETHERTYPE_VLAN {
            vlan = Some(VlanTag::from_tci(be16(frame, 14).ok_or(T)?));
            ethertype = be16(frame, 16).ok_or(T)?;
            off += VLAN_TAG_LEN;
        }
        let rest = frame.get(off..).ok_or(T)?;
        Ok((
            EthHeader {
                dst,
                src,
                vlan,
                ethertype,
            },
            rest,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    #[test]
    fn round_trip_untagged_and_tagged() {
        for vlan in [
            None,
            Some(VlanTag {
                pcp: 3,
                dei: true,
                vid: 0x123,
            }),
        ] {
            let h = EthHeader {
                dst: MacAddr([2, 0, 0, 0, 0, 1]),
                src: MacAddr([2, 0, 0, 0, 0, 2]),
                vlan,
                ethertype: ETHERTYPE_IPV6,
            };
            let mut out = Vec::new();
            h.write(&mut out);
            assert_eq!(out.len(), h.header_len());
            out.extend_from_slice(&[0xAA, 0xBB]);
            let (p, rest) = EthHeader::parse(&out).unwrap();
            assert_eq!(p, h);
            assert_eq!(rest, &[0xAA, 0xBB]);
        }
    }

    #[test]
    fn tagged_bytes() {
        let h = EthHeader {
            dst: MacAddr::BROADCAST,
            src: MacAddr([0; 6]),
            vlan: Some(VlanTag {
                pcp: 5,
                dei: false,
                vid: 7,
            }),
            ethertype: ETHERTYPE_IPV4,
        };
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(&out[12..], &[0x81, 0x00, 0xA0, 0x07, 0x08, 0x00]);
        assert!(MacAddr::BROADCAST.is_multicast());
        assert_eq!(
            MacAddr([0x24, 0x8a, 7, 0xa8, 0xfa, 0x22]).to_string(),
            "24:8a:07:a8:fa:22"
        );
    }

    #[test]
    fn truncated() {
        assert!(EthHeader::parse(&[0; 13]).is_err());
        let mut tagged = vec![0u8; 16];
        tagged[12] = 0x81;
        assert!(EthHeader::parse(&tagged).is_err());
    }
}
