//! MPA frames of the silicon's wire interface (docs/silicon/iwarp.md §9.3): the request / reply
//! frame header, the RFC 6581 IRD / ORD block, RTR types and FPDU framing arithmetic.
//!
//! The device builds and parses these; the driver sees their results in connection records
//! (§5.8). They live here so the device model and the capture tests share one definition.
//! Everything on the wire is in network order.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use zerocopy::byteorder::big_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// KEY of an MPA request frame.
pub const KEY_REQUEST: [u8; 16] = *b"MPA ID Req Frame";
/// KEY of an MPA reply frame.
pub const KEY_REPLY: [u8; 16] = *b"MPA ID Rep Frame";
/// The MPA revision RNIC-W1 speaks (enhanced mode, RFC 6581).
pub const REVISION: u8 = 2;
/// Bytes of the request / reply header before the private data.
pub const FRAME_HEADER_SIZE: usize = 20;
/// Largest PD_LENGTH of a request or reply (RFC 5044).
pub const MAX_PRIVATE_DATA: usize = 512;
/// Bytes of the IRD / ORD block at the start of revision-2 private data.
pub const IRD_ORD_SIZE: usize = 4;
/// Largest ULP private data: [`MAX_PRIVATE_DATA`] less the IRD / ORD block (`CAP_CM`).
pub const MAX_ULP_PRIVATE_DATA: usize = MAX_PRIVATE_DATA - IRD_ORD_SIZE;
/// Mask of the 14-bit IRD and ORD values.
pub const IRD_ORD_MASK: u16 = 0x3FFF;
/// FLAGS bit M: the sender wants markers.
pub const FLAG_MARKERS: u8 = 1 << 7;
/// FLAGS bit C: the sender wants CRC.
pub const FLAG_CRC: u8 = 1 << 6;
/// FLAGS bit R: the reply rejects the connection.
pub const FLAG_REJECT: u8 = 1 << 5;
/// Reserved FLAGS bits (must be 0).
pub const FLAGS_RESERVED: u8 = 0x1F;
/// Bytes of the FPDU header (ULPDU_LENGTH).
pub const FPDU_HEADER_SIZE: usize = 2;
/// Bytes of the FPDU CRC.
pub const FPDU_CRC_SIZE: usize = 4;

/// The RTR message of peer-to-peer mode (§9.3.3); also the RTR byte of connection records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RtrType {
    /// No RTR (client-server mode, or before negotiation).
    #[default]
    None = 0,
    /// Zero-length Send.
    Send = 1,
    /// Zero-length RDMA Write.
    Write = 2,
    /// Zero-length RDMA Read (what RNIC-W1 sends as initiator).
    Read = 3,
}

impl RtrType {
    /// Decodes an RTR byte of a connection record.
    pub const fn from_u8(v: u8) -> Option<RtrType> {
        Some(match v {
            0 => RtrType::None,
            1 => RtrType::Send,
            2 => RtrType::Write,
            3 => RtrType::Read,
            _ => return None,
        })
    }
}

/// The request / reply frame header exactly as on the wire (§9.3.1).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct FrameHeaderRaw {
    /// 0x00 KEY.
    pub key: [u8; 16],
    /// 0x10 FLAGS (M, C, R).
    pub flags: u8,
    /// 0x11 REV.
    pub rev: u8,
    /// 0x12 PD_LENGTH (network order).
    pub pd_length: U16,
}

const _: () = assert!(core::mem::size_of::<FrameHeaderRaw>() == FRAME_HEADER_SIZE);

/// Request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// `MPA ID Req Frame`.
    Request,
    /// `MPA ID Rep Frame`.
    Reply,
}

/// A decoded request / reply header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Request or reply.
    pub kind: FrameKind,
    /// M: markers wanted.
    pub markers: bool,
    /// C: CRC wanted.
    pub crc: bool,
    /// R: rejected (replies only).
    pub reject: bool,
    /// REV.
    pub rev: u8,
    /// PD_LENGTH.
    pub pd_length: u16,
}

/// Why an MPA frame header is not acceptable (§9.3.1, "what it accepts"); the connection
/// manager reports these as reason MPA_ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than [`FRAME_HEADER_SIZE`] bytes.
    Short,
    /// KEY is neither request nor reply.
    BadKey,
    /// Reserved FLAGS bits set, or R in a request.
    BadFlags(u8),
    /// PD_LENGTH above [`MAX_PRIVATE_DATA`].
    BadLength(u16),
}

impl FrameHeader {
    /// The header RNIC-W1 sends (§9.3.1): M = 0, C = 1, REV = 2.
    pub const fn ours(kind: FrameKind, reject: bool, pd_length: u16) -> FrameHeader {
        FrameHeader {
            kind,
            markers: false,
            crc: true,
            reject,
            rev: REVISION,
            pd_length,
        }
    }

    /// The 20 wire bytes.
    pub fn encode(&self) -> [u8; FRAME_HEADER_SIZE] {
        let mut flags = 0;
        if self.markers {
            flags |= FLAG_MARKERS;
        }
        if self.crc {
            flags |= FLAG_CRC;
        }
        if self.reject {
            flags |= FLAG_REJECT;
        }
        let r = FrameHeaderRaw {
            key: match self.kind {
                FrameKind::Request => KEY_REQUEST,
                FrameKind::Reply => KEY_REPLY,
            },
            flags,
            rev: self.rev,
            pd_length: U16::new(self.pd_length),
        };
        zerocopy::transmute!(r)
    }

    /// Parses the header at the start of `b` (revision and markers are the caller's policy).
    pub fn decode(b: &[u8]) -> Result<FrameHeader, FrameError> {
        let (r, _) = FrameHeaderRaw::ref_from_prefix(b).map_err(|_| FrameError::Short)?;
        let kind = match r.key {
            KEY_REQUEST => FrameKind::Request,
            KEY_REPLY => FrameKind::Reply,
            _ => return Err(FrameError::BadKey),
        };
        let reject = r.flags & FLAG_REJECT != 0;
        if r.flags & FLAGS_RESERVED != 0 || (reject && kind == FrameKind::Request) {
            return Err(FrameError::BadFlags(r.flags));
        }
        let len = r.pd_length.get();
        if usize::from(len) > MAX_PRIVATE_DATA {
            return Err(FrameError::BadLength(len));
        }
        Ok(FrameHeader {
            kind,
            markers: r.flags & FLAG_MARKERS != 0,
            crc: r.flags & FLAG_CRC != 0,
            reject,
            rev: r.rev,
            pd_length: len,
        })
    }
}

/// The RFC 6581 IRD / ORD block: the first 4 bytes of revision-2 private data (§9.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IrdOrd {
    /// A: peer-to-peer mode.
    pub p2p: bool,
    /// B: zero-length Send RTR (offered in a request, chosen in a reply).
    pub send_rtr: bool,
    /// C: zero-length RDMA Write RTR.
    pub write_rtr: bool,
    /// D: zero-length RDMA Read RTR.
    pub read_rtr: bool,
    /// IRD (14 bits; `0x3FFF` = no limit stated).
    pub ird: u16,
    /// ORD (14 bits).
    pub ord: u16,
}

impl IrdOrd {
    const A: u16 = 1 << 15;
    const B: u16 = 1 << 14;
    const C: u16 = 1 << 15;
    const D: u16 = 1 << 14;

    /// The block of RNIC-W1's MPA request: peer-to-peer, offering only the Read RTR.
    pub const fn request(ird: u16, ord: u16) -> IrdOrd {
        IrdOrd {
            p2p: true,
            send_rtr: false,
            write_rtr: false,
            read_rtr: true,
            ird: ird & IRD_ORD_MASK,
            ord: ord & IRD_ORD_MASK,
        }
    }

    /// The RTR a responder chooses from a request's offer (§9.3.1: Read, else Write, else Send;
    /// none without peer-to-peer). `None` when peer-to-peer is asked without any RTR type.
    pub const fn choose_rtr(&self) -> Option<RtrType> {
        if !self.p2p {
            Some(RtrType::None)
        } else if self.read_rtr {
            Some(RtrType::Read)
        } else if self.write_rtr {
            Some(RtrType::Write)
        } else if self.send_rtr {
            Some(RtrType::Send)
        } else {
            None
        }
    }

    /// The block of a reply that chose `rtr` (exactly one RTR bit; peer-to-peer unless
    /// `rtr` is `None`).
    pub const fn reply(rtr: RtrType, ird: u16, ord: u16) -> IrdOrd {
        IrdOrd {
            p2p: !matches!(rtr, RtrType::None),
            send_rtr: matches!(rtr, RtrType::Send),
            write_rtr: matches!(rtr, RtrType::Write),
            read_rtr: matches!(rtr, RtrType::Read),
            ird: ird & IRD_ORD_MASK,
            ord: ord & IRD_ORD_MASK,
        }
    }

    /// The RTR a reply chose; `None` when it sets more than one RTR bit or none with
    /// peer-to-peer. The initiator also checks it is the one it offered (softiwarp #20).
    pub const fn chosen_rtr(&self) -> Option<RtrType> {
        match (self.p2p, self.send_rtr, self.write_rtr, self.read_rtr) {
            (false, false, false, false) => Some(RtrType::None),
            (true, true, false, false) => Some(RtrType::Send),
            (true, false, true, false) => Some(RtrType::Write),
            (true, false, false, true) => Some(RtrType::Read),
            _ => None,
        }
    }

    /// The 4 wire bytes.
    pub const fn encode(&self) -> [u8; IRD_ORD_SIZE] {
        let mut i = self.ird & IRD_ORD_MASK;
        if self.p2p {
            i |= Self::A;
        }
        if self.send_rtr {
            i |= Self::B;
        }
        let mut o = self.ord & IRD_ORD_MASK;
        if self.write_rtr {
            o |= Self::C;
        }
        if self.read_rtr {
            o |= Self::D;
        }
        let i = i.to_be_bytes();
        let o = o.to_be_bytes();
        [i[0], i[1], o[0], o[1]]
    }

    /// Parses the block from the first 4 bytes of private data.
    pub const fn decode(b: [u8; IRD_ORD_SIZE]) -> IrdOrd {
        let i = u16::from_be_bytes([b[0], b[1]]);
        let o = u16::from_be_bytes([b[2], b[3]]);
        IrdOrd {
            p2p: i & Self::A != 0,
            send_rtr: i & Self::B != 0,
            write_rtr: o & Self::C != 0,
            read_rtr: o & Self::D != 0,
            ird: i & IRD_ORD_MASK,
            ord: o & IRD_ORD_MASK,
        }
    }
}

/// PAD bytes after a ULPDU of `ulpdu_len` bytes: `2 + len + pad` is a multiple of 4 (§9.3.2).
pub const fn fpdu_pad(ulpdu_len: usize) -> usize {
    (4 - (FPDU_HEADER_SIZE + ulpdu_len) % 4) % 4
}

/// Wire bytes of the FPDU carrying `ulpdu_len` bytes: header, ULPDU, pad and CRC.
pub const fn fpdu_len(ulpdu_len: usize) -> usize {
    FPDU_HEADER_SIZE + ulpdu_len + fpdu_pad(ulpdu_len) + FPDU_CRC_SIZE
}

/// MULPDU for an MSS (§9.3.2): the largest ULPDU whose FPDU fits one segment.
pub const fn mulpdu(mss: u16) -> usize {
    let room = (mss as usize).saturating_sub(FPDU_HEADER_SIZE + FPDU_CRC_SIZE);
    // Largest len with 2 + len + pad(len) <= room + 2, i.e. 2 + len rounded up to 4 fits.
    ((room + FPDU_HEADER_SIZE) & !3).saturating_sub(FPDU_HEADER_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_request_header_is_the_rfc_5044_layout() {
        let b = FrameHeader::ours(FrameKind::Request, false, 4 + 3).encode();
        assert_eq!(&b[..16], b"MPA ID Req Frame");
        assert_eq!(b[16], 0x40, "M = 0, C = 1, R = 0");
        assert_eq!(b[17], 2);
        assert_eq!(&b[18..20], &[0x00, 0x07], "PD_LENGTH in network order");
        assert_eq!(
            FrameHeader::decode(&b),
            Ok(FrameHeader::ours(FrameKind::Request, false, 7))
        );
    }

    #[test]
    fn header_checks() {
        let mut b = FrameHeader::ours(FrameKind::Reply, true, 512).encode();
        assert_eq!(b[16], 0x60);
        assert!(FrameHeader::decode(&b).unwrap().reject);
        assert_eq!(FrameHeader::decode(&b[..19]), Err(FrameError::Short));
        b[18] = 0x02;
        b[19] = 0x01;
        assert_eq!(FrameHeader::decode(&b), Err(FrameError::BadLength(513)));
        let mut q = FrameHeader::ours(FrameKind::Request, false, 0).encode();
        q[16] |= FLAG_REJECT;
        assert_eq!(FrameHeader::decode(&q), Err(FrameError::BadFlags(0x60)));
        q[16] = 0x41;
        assert_eq!(FrameHeader::decode(&q), Err(FrameError::BadFlags(0x41)));
        q[0] = b'X';
        assert_eq!(FrameHeader::decode(&q), Err(FrameError::BadKey));
        let mut m = FrameHeader::ours(FrameKind::Request, false, 0);
        m.markers = true;
        assert!(FrameHeader::decode(&m.encode()).unwrap().markers);
    }

    #[test]
    fn ird_ord_block_bits_are_those_of_rfc_6581() {
        let r = IrdOrd::request(16, 8);
        assert_eq!(r.encode(), [0x80, 0x10, 0x40, 0x08], "A | IRD, D | ORD");
        assert_eq!(IrdOrd::decode(r.encode()), r);
        let all = IrdOrd {
            p2p: true,
            send_rtr: true,
            write_rtr: true,
            read_rtr: true,
            ird: 0x3FFF,
            ord: 0x3FFF,
        };
        assert_eq!(all.encode(), [0xFF; 4]);
        assert_eq!(IrdOrd::decode([0xFF; 4]), all);
        assert_eq!(IrdOrd::request(0xFFFF, 0).ird, 0x3FFF);
    }

    #[test]
    fn rtr_negotiation_matrix() {
        let offer = |p2p, s, w, r| IrdOrd {
            p2p,
            send_rtr: s,
            write_rtr: w,
            read_rtr: r,
            ird: 1,
            ord: 1,
        };
        assert_eq!(
            offer(true, true, true, true).choose_rtr(),
            Some(RtrType::Read)
        );
        assert_eq!(
            offer(true, true, true, false).choose_rtr(),
            Some(RtrType::Write)
        );
        assert_eq!(
            offer(true, true, false, false).choose_rtr(),
            Some(RtrType::Send)
        );
        assert_eq!(offer(true, false, false, false).choose_rtr(), None);
        assert_eq!(
            offer(false, false, false, false).choose_rtr(),
            Some(RtrType::None)
        );
        for rtr in [RtrType::None, RtrType::Send, RtrType::Write, RtrType::Read] {
            let reply = IrdOrd::reply(rtr, 4, 4);
            assert_eq!(IrdOrd::decode(reply.encode()).chosen_rtr(), Some(rtr));
        }
        // A reply that names two RTR types (or none in peer-to-peer mode) is malformed.
        assert_eq!(offer(true, false, true, true).chosen_rtr(), None);
        assert_eq!(offer(true, false, false, false).chosen_rtr(), None);
        assert_eq!(offer(false, false, false, true).chosen_rtr(), None);
        for v in 0..=3 {
            assert_eq!(RtrType::from_u8(v).unwrap() as u8, v);
        }
        assert_eq!(RtrType::from_u8(4), None);
    }

    #[test]
    fn fpdu_framing_arithmetic() {
        assert_eq!(fpdu_pad(2), 0);
        assert_eq!(fpdu_pad(14), 0);
        assert_eq!(fpdu_pad(15), 3);
        assert_eq!(fpdu_pad(18), 0);
        assert_eq!(fpdu_len(18), 24);
        assert_eq!(fpdu_len(0), 8);
        // MSS 1460 (MTU 1500, IPv4): the whole FPDU fits the segment and is as large as it can be.
        let m = mulpdu(1460);
        assert!(fpdu_len(m) <= 1460);
        assert!(fpdu_len(m + 1) > 1460 || fpdu_len(m + 4) > 1460);
        assert_eq!(
            m % 4,
            2,
            "2 + MULPDU is a multiple of 4: no pad at full size"
        );
        assert_eq!(mulpdu(0), 0);
        assert_eq!(MAX_ULP_PRIVATE_DATA, 508);
    }
}
