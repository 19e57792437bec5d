//! Segmentation of messages into packets by path MTU (IBA vol 1 §9.7.2, §9.4): every packet
//! but the last of a message carries exactly one path MTU of payload; a message that fits
//! in one packet (including a zero-length one) is sent as "Only".

use super::bth::Opcode;
use super::WireError;

/// The path MTUs of IBA §9.7.2 / Table 75 (with their IB encodings, as in CM REQ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PathMtu {
    /// 256 bytes.
    Mtu256 = 1,
    /// 512 bytes.
    Mtu512 = 2,
    /// 1024 bytes.
    Mtu1024 = 3,
    /// 2048 bytes.
    Mtu2048 = 4,
    /// 4096 bytes.
    Mtu4096 = 5,
}

impl PathMtu {
    /// Payload bytes per packet.
    pub const fn bytes(self) -> u32 {
        128 << (self as u32)
    }

    /// The MTU of exactly `bytes` (256, 512, …, 4096).
    pub const fn from_bytes(bytes: u32) -> Option<PathMtu> {
        match bytes {
            256 => Some(PathMtu::Mtu256),
            512 => Some(PathMtu::Mtu512),
            1024 => Some(PathMtu::Mtu1024),
            2048 => Some(PathMtu::Mtu2048),
            4096 => Some(PathMtu::Mtu4096),
            _ => None,
        }
    }

    /// The largest path MTU whose RoCEv2 packet fits an Ethernet MTU (IP packet size) over
    /// IPv4 or IPv6: IP + UDP + BTH + the largest extension headers (RETH + ImmDt) + ICRC.
    pub fn for_ethernet_mtu(eth_mtu: u32, ipv6: bool) -> Option<PathMtu> {
        let overhead = if ipv6 { 40 } else { 20 } + 8 + 12 + 16 + 4 + 4;
        [
            PathMtu::Mtu4096,
            PathMtu::Mtu2048,
            PathMtu::Mtu1024,
            PathMtu::Mtu512,
            PathMtu::Mtu256,
        ]
        .into_iter()
        .find(|m| m.bytes() + overhead <= eth_mtu)
    }

    /// The IB encoding (1–5).
    pub const fn to_ib(self) -> u8 {
        self as u8
    }

    /// Decodes the IB encoding.
    pub const fn from_ib(v: u8) -> Option<PathMtu> {
        match v {
            1 => Some(PathMtu::Mtu256),
            2 => Some(PathMtu::Mtu512),
            3 => Some(PathMtu::Mtu1024),
            4 => Some(PathMtu::Mtu2048),
            5 => Some(PathMtu::Mtu4096),
            _ => None,
        }
    }
}

impl TryFrom<u8> for PathMtu {
    type Error = WireError;

    fn try_from(v: u8) -> Result<PathMtu, WireError> {
        PathMtu::from_ib(v).ok_or(WireError::InvalidField("path MTU"))
    }
}

/// Where a packet sits in its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// First of several.
    First,
    /// Neither first nor last.
    Middle,
    /// Last of several.
    Last,
    /// The message fits one packet.
    Only,
}

impl Position {
    /// The position of packet `index` (from 0) of a `count`-packet message.
    pub const fn of(index: u32, count: u32) -> Position {
        if count <= 1 {
            Position::Only
        } else if index == 0 {
            Position::First
        } else if index + 1 >= count {
            Position::Last
        } else {
            Position::Middle
        }
    }
}

/// The kinds of multi-packet RC messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// SEND.
    Send,
    /// SEND with Immediate (ImmDt on Last/Only).
    SendImm,
    /// SEND with Invalidate (IETH on Last/Only).
    SendInv,
    /// RDMA WRITE (RETH on First/Only).
    Write,
    /// RDMA WRITE with Immediate (RETH on First/Only, ImmDt on Last/Only).
    WriteImm,
    /// RDMA READ response (AETH on First/Last/Only).
    ReadResponse,
}

impl MessageKind {
    /// The opcode of a packet of this kind at `pos` (IBA Table 38).
    pub const fn opcode(self, pos: Position) -> Opcode {
        use Position::*;
        match (self, pos) {
            (MessageKind::Send | MessageKind::SendImm | MessageKind::SendInv, First) => {
                Opcode::RcSendFirst
            }
            (MessageKind::Send | MessageKind::SendImm | MessageKind::SendInv, Middle) => {
                Opcode::RcSendMiddle
            }
            (MessageKind::Send, Last) => Opcode::RcSendLast,
            (MessageKind::Send, Only) => Opcode::RcSendOnly,
            (MessageKind::SendImm, Last) => Opcode::RcSendLastImm,
            (MessageKind::SendImm, Only) => Opcode::RcSendOnlyImm,
            (MessageKind::SendInv, Last) => Opcode::RcSendLastInv,
            (MessageKind::SendInv, Only) => Opcode::RcSendOnlyInv,
            (MessageKind::Write | MessageKind::WriteImm, First) => Opcode::RcWriteFirst,
            (MessageKind::Write | MessageKind::WriteImm, Middle) => Opcode::RcWriteMiddle,
            (MessageKind::Write, Last) => Opcode::RcWriteLast,
            (MessageKind::Write, Only) => Opcode::RcWriteOnly,
            (MessageKind::WriteImm, Last) => Opcode::RcWriteLastImm,
            (MessageKind::WriteImm, Only) => Opcode::RcWriteOnlyImm,
            (MessageKind::ReadResponse, First) => Opcode::RcReadResponseFirst,
            (MessageKind::ReadResponse, Middle) => Opcode::RcReadResponseMiddle,
            (MessageKind::ReadResponse, Last) => Opcode::RcReadResponseLast,
            (MessageKind::ReadResponse, Only) => Opcode::RcReadResponseOnly,
        }
    }
}

/// Packets a `len`-byte message takes at `mtu` (at least one). An RDMA READ request
/// consumes this many PSNs: one per response packet (IBA §9.7.1.1).
pub const fn packet_count(len: u32, mtu: PathMtu) -> u32 {
    if len == 0 {
        1
    } else {
        len.div_ceil(mtu.bytes())
    }
}

/// Pad bytes (0–3) that round a payload up to a multiple of 4 (BTH PadCnt, §9.2.3).
pub const fn pad_count(payload_len: usize) -> u8 {
    // Lossless: at most 3.
    ((4 - payload_len % 4) % 4) as u8
}

/// One packet of a segmented message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Its opcode.
    pub opcode: Opcode,
    /// Its position.
    pub position: Position,
    /// Index of the packet in the message (add to the first PSN).
    pub index: u32,
    /// Offset of its payload in the message.
    pub offset: u32,
    /// Payload length.
    pub len: u32,
}

/// Iterator over the packets of a message, from [`segments`].
#[derive(Clone, Debug)]
pub struct Segments {
    kind: MessageKind,
    len: u32,
    mtu: u32,
    count: u32,
    next: u32,
}

impl Iterator for Segments {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        if self.next >= self.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let position = Position::of(index, self.count);
        let offset = index.saturating_mul(self.mtu);
        Some(Segment {
            opcode: self.kind.opcode(position),
            position,
            index,
            offset,
            len: self.len.saturating_sub(offset).min(self.mtu),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.count - self.next).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Segments {}

/// The packets of a `len`-byte message of `kind` at `mtu`.
pub fn segments(kind: MessageKind, len: u32, mtu: PathMtu) -> Segments {
    Segments {
        kind,
        len,
        mtu: mtu.bytes(),
        count: packet_count(len, mtu),
        next: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn mtu_encodings() {
        for (m, b, ib) in [
            (PathMtu::Mtu256, 256, 1),
            (PathMtu::Mtu512, 512, 2),
            (PathMtu::Mtu1024, 1024, 3),
            (PathMtu::Mtu2048, 2048, 4),
            (PathMtu::Mtu4096, 4096, 5),
        ] {
            assert_eq!(m.bytes(), b);
            assert_eq!(PathMtu::from_bytes(b), Some(m));
            assert_eq!(m.to_ib(), ib);
            assert_eq!(PathMtu::try_from(ib), Ok(m));
        }
        assert!(PathMtu::try_from(0).is_err());
        assert!(PathMtu::try_from(6).is_err());
        assert_eq!(
            PathMtu::for_ethernet_mtu(1500, false),
            Some(PathMtu::Mtu1024)
        );
        assert_eq!(
            PathMtu::for_ethernet_mtu(9000, true),
            Some(PathMtu::Mtu4096)
        );
        assert_eq!(
            PathMtu::for_ethernet_mtu(4200, true),
            Some(PathMtu::Mtu4096)
        );
        assert_eq!(PathMtu::for_ethernet_mtu(200, true), None);
    }

    #[test]
    fn segmentation() {
        let segs: Vec<_> = segments(MessageKind::Write, 0, PathMtu::Mtu1024).collect();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].opcode, Opcode::RcWriteOnly);
        assert_eq!(segs[0].len, 0);

        let segs: Vec<_> = segments(MessageKind::Send, 1024, PathMtu::Mtu1024).collect();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].opcode, Opcode::RcSendOnly);

        let segs: Vec<_> = segments(MessageKind::SendImm, 2500, PathMtu::Mtu1024).collect();
        let ops: Vec<_> = segs.iter().map(|s| (s.opcode, s.offset, s.len)).collect();
        assert_eq!(
            ops,
            [
                (Opcode::RcSendFirst, 0, 1024),
                (Opcode::RcSendMiddle, 1024, 1024),
                (Opcode::RcSendLastImm, 2048, 452)
            ]
        );

        let segs: Vec<_> = segments(MessageKind::ReadResponse, 8192, PathMtu::Mtu4096).collect();
        assert_eq!(segs[0].opcode, Opcode::RcReadResponseFirst);
        assert_eq!(segs[1].opcode, Opcode::RcReadResponseLast);
        assert_eq!(segs[1].len, 4096);
        assert_eq!(packet_count(8193, PathMtu::Mtu4096), 3);
        assert_eq!(
            segments(MessageKind::WriteImm, 600, PathMtu::Mtu256).len(),
            3
        );
        for kind in [
            MessageKind::Send,
            MessageKind::SendImm,
            MessageKind::SendInv,
            MessageKind::Write,
            MessageKind::WriteImm,
            MessageKind::ReadResponse,
        ] {
            for pos in [
                Position::First,
                Position::Middle,
                Position::Last,
                Position::Only,
            ] {
                assert_eq!(kind.opcode(pos).position(), Some(pos));
            }
        }
    }

    #[test]
    fn pads() {
        assert_eq!(pad_count(0), 0);
        assert_eq!(pad_count(1), 3);
        assert_eq!(pad_count(2), 2);
        assert_eq!(pad_count(3), 1);
        assert_eq!(pad_count(256), 0);
    }
}
