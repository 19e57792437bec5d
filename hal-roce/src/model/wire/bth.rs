//! The Base Transport Header and the opcodes (IBA vol 1 §9.2, Table 38 "OpCode field").

use core::fmt;

use super::bytes::{arr, be24_bytes};
use super::seg::Position;
use super::WireError;

/// Length of the BTH.
pub const BTH_LEN: usize = 12;
/// The default (full-membership) partition key; RoCEv2 QPs and QP1 use it.
pub const DEFAULT_PKEY: u16 = 0xFFFF;
/// PSNs are 24 bits (IBA §9.7.1).
pub const PSN_MASK: u32 = 0x00FF_FFFF;
/// QP numbers are 24 bits.
pub const QPN_MASK: u32 = 0x00FF_FFFF;
/// Transport header version this codec speaks (TVer, §9.2.5).
pub const TVER: u8 = 0;

/// Which extension headers follow the BTH for an opcode, in wire order (IBA §9.2, Figure
/// 39 / Table 38 "Packet header sequence"): DETH, RETH, AtomicETH, AETH, AtomicAckETH,
/// ImmDt, IETH.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HeaderSet {
    /// Datagram ETH (UD).
    pub deth: bool,
    /// RDMA ETH.
    pub reth: bool,
    /// Atomic ETH.
    pub atomic_eth: bool,
    /// ACK ETH.
    pub aeth: bool,
    /// Atomic ACK ETH.
    pub atomic_ack_eth: bool,
    /// Immediate data.
    pub immdt: bool,
    /// Invalidate ETH.
    pub ieth: bool,
}

impl HeaderSet {
    const NONE: HeaderSet = HeaderSet {
        deth: false,
        reth: false,
        atomic_eth: false,
        aeth: false,
        atomic_ack_eth: false,
        immdt: false,
        ieth: false,
    };

    /// Total length of these headers.
    pub const fn byte_len(&self) -> usize {
        (self.deth as usize) * 8
            + (self.reth as usize) * 16
            + (self.atomic_eth as usize) * 28
            + (self.aeth as usize) * 4
            + (self.atomic_ack_eth as usize) * 8
            + (self.immdt as usize) * 4
            + (self.ieth as usize) * 4
    }
}

macro_rules! opcodes {
    ($($(#[$doc:meta])* $name:ident = $val:literal, $text:literal;)*) => {
        /// A BTH opcode: the transport (upper 3 bits) and operation (lower 5 bits), with the
        /// numeric values of IBA Table 38. RC, the UD SEND used by QP1, and the RoCEv2 CNP.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Opcode {
            $($(#[$doc])* $name = $val,)*
        }

        impl Opcode {
            /// Every opcode this codec knows.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$name,)*];

            /// Decodes a BTH opcode byte.
            pub const fn from_u8(v: u8) -> Option<Opcode> {
                match v {
                    $($val => Some(Opcode::$name),)*
                    _ => None,
                }
            }

            /// The name the IBA (and Wireshark) give the opcode.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Opcode::$name => $text,)*
                }
            }
        }
    };
}

opcodes! {
    /// RC SEND First.
    RcSendFirst = 0x00, "RC Send First";
    /// RC SEND Middle.
    RcSendMiddle = 0x01, "RC Send Middle";
    /// RC SEND Last.
    RcSendLast = 0x02, "RC Send Last";
    /// RC SEND Last with Immediate.
    RcSendLastImm = 0x03, "RC Send Last Immediate";
    /// RC SEND Only.
    RcSendOnly = 0x04, "RC Send Only";
    /// RC SEND Only with Immediate.
    RcSendOnlyImm = 0x05, "RC Send Only Immediate";
    /// RC RDMA WRITE First (RETH).
    RcWriteFirst = 0x06, "RC RDMA Write First";
    /// RC RDMA WRITE Middle.
    RcWriteMiddle = 0x07, "RC RDMA Write Middle";
    /// RC RDMA WRITE Last.
    RcWriteLast = 0x08, "RC RDMA Write Last";
    /// RC RDMA WRITE Last with Immediate.
    RcWriteLastImm = 0x09, "RC RDMA Write Last Immediate";
    /// RC RDMA WRITE Only (RETH).
    RcWriteOnly = 0x0A, "RC RDMA Write Only";
    /// RC RDMA WRITE Only with Immediate (RETH, ImmDt).
    RcWriteOnlyImm = 0x0B, "RC RDMA Write Only Immediate";
    /// RC RDMA READ Request (RETH).
    RcReadRequest = 0x0C, "RC RDMA Read Request";
    /// RC RDMA READ Response First (AETH).
    RcReadResponseFirst = 0x0D, "RC RDMA Read Response First";
    /// RC RDMA READ Response Middle.
    RcReadResponseMiddle = 0x0E, "RC RDMA Read Response Middle";
    /// RC RDMA READ Response Last (AETH).
    RcReadResponseLast = 0x0F, "RC RDMA Read Response Last";
    /// RC RDMA READ Response Only (AETH).
    RcReadResponseOnly = 0x10, "RC RDMA Read Response Only";
    /// RC Acknowledge (AETH).
    RcAck = 0x11, "RC Acknowledge";
    /// RC ATOMIC Acknowledge (AETH, AtomicAckETH).
    RcAtomicAck = 0x12, "RC Atomic Acknowledge";
    /// RC CmpSwap (AtomicETH).
    RcCompareSwap = 0x13, "RC CmpSwap";
    /// RC FetchAdd (AtomicETH).
    RcFetchAdd = 0x14, "RC FetchAdd";
    /// RC SEND Last with Invalidate (IETH).
    RcSendLastInv = 0x16, "RC Send Last Invalidate";
    /// RC SEND Only with Invalidate (IETH).
    RcSendOnlyInv = 0x17, "RC Send Only Invalidate";
    /// UD SEND Only (DETH); MADs on QP1 use it.
    UdSendOnly = 0x64, "UD Send Only";
    /// UD SEND Only with Immediate (DETH, ImmDt).
    UdSendOnlyImm = 0x65, "UD Send Only Immediate";
    /// RoCEv2 Congestion Notification Packet (Annex A17 §A17.9.2): BTH, 16 reserved bytes.
    Cnp = 0x81, "CNP";
}

impl TryFrom<u8> for Opcode {
    type Error = WireError;

    fn try_from(v: u8) -> Result<Opcode, WireError> {
        Opcode::from_u8(v).ok_or(WireError::UnknownOpcode(v))
    }
}

impl From<Opcode> for u8 {
    fn from(op: Opcode) -> u8 {
        op as u8
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Opcode {
    /// The extension headers that follow the BTH (IBA Table 38).
    pub const fn headers(self) -> HeaderSet {
        use Opcode::*;
        let n = HeaderSet::NONE;
        match self {
            RcSendFirst | RcSendMiddle | RcSendLast | RcSendOnly | RcWriteMiddle | RcWriteLast
            | RcReadResponseMiddle | Cnp => n,
            RcSendLastImm | RcSendOnlyImm | RcWriteLastImm => HeaderSet { immdt: true, ..n },
            RcWriteFirst | RcWriteOnly | RcReadRequest => HeaderSet { reth: true, ..n },
            RcWriteOnlyImm => HeaderSet {
                reth: true,
                immdt: true,
                ..n
            },
            RcReadResponseFirst | RcReadResponseLast | RcReadResponseOnly | RcAck => {
                HeaderSet { aeth: true, ..n }
            }
            RcAtomicAck => HeaderSet {
                aeth: true,
                atomic_ack_eth: true,
                ..n
            },
            RcCompareSwap | RcFetchAdd => HeaderSet {
                atomic_eth: true,
                ..n
            },
            RcSendLastInv | RcSendOnlyInv => HeaderSet { ieth: true, ..n },
            UdSendOnly => HeaderSet { deth: true, ..n },
            UdSendOnlyImm => HeaderSet {
                deth: true,
                immdt: true,
                ..n
            },
        }
    }

    /// Whether packets of this opcode carry data after the headers (READ requests,
    /// acknowledges and atomics carry none; a CNP carries its 16 reserved bytes).
    pub const fn has_payload(self) -> bool {
        use Opcode::*;
        !matches!(
            self,
            RcReadRequest | RcAck | RcAtomicAck | RcCompareSwap | RcFetchAdd
        )
    }

    /// Sent by a requester (consumes request PSNs); false for responses (READ responses,
    /// acknowledges) and the CNP.
    pub const fn is_request(self) -> bool {
        use Opcode::*;
        !matches!(
            self,
            RcReadResponseFirst
                | RcReadResponseMiddle
                | RcReadResponseLast
                | RcReadResponseOnly
                | RcAck
                | RcAtomicAck
                | Cnp
        )
    }

    /// A SEND of any kind (RC or UD).
    pub const fn is_send(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            RcSendFirst
                | RcSendMiddle
                | RcSendLast
                | RcSendLastImm
                | RcSendOnly
                | RcSendOnlyImm
                | RcSendLastInv
                | RcSendOnlyInv
                | UdSendOnly
                | UdSendOnlyImm
        )
    }

    /// An RDMA WRITE packet.
    pub const fn is_write(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            RcWriteFirst
                | RcWriteMiddle
                | RcWriteLast
                | RcWriteLastImm
                | RcWriteOnly
                | RcWriteOnlyImm
        )
    }

    /// An RDMA READ response packet.
    pub const fn is_read_response(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            RcReadResponseFirst | RcReadResponseMiddle | RcReadResponseLast | RcReadResponseOnly
        )
    }

    /// Where the packet sits in its message, for multi-packet operations (SEND, WRITE,
    /// READ response); `None` for single-packet operations (READ request, ACK, atomics,
    /// CNP) and UD.
    pub const fn position(self) -> Option<Position> {
        use Opcode::*;
        match self {
            RcSendFirst | RcWriteFirst | RcReadResponseFirst => Some(Position::First),
            RcSendMiddle | RcWriteMiddle | RcReadResponseMiddle => Some(Position::Middle),
            RcSendLast | RcSendLastImm | RcSendLastInv | RcWriteLast | RcWriteLastImm
            | RcReadResponseLast => Some(Position::Last),
            RcSendOnly | RcSendOnlyImm | RcSendOnlyInv | RcWriteOnly | RcWriteOnlyImm
            | RcReadResponseOnly => Some(Position::Only),
            _ => None,
        }
    }
}

/// The Base Transport Header (IBA §9.2, Figure 40).
///
/// ```text
/// byte 0      OpCode
/// byte 1      SE(7) M(6) PadCnt(5:4) TVer(3:0)
/// bytes 2-3   P_Key
/// byte 4      FECN(7) BECN(6) Resv6a — "resv8a" as a whole for the ICRC
/// bytes 5-7   DestQP
/// byte 8      A(7) Resv7
/// bytes 9-11  PSN
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bth {
    /// Opcode.
    pub opcode: Opcode,
    /// Solicited event (SE), requested of the responder for SEND / WRITE with immediate.
    pub solicited: bool,
    /// MigReq (M): the path migration state of the sender (1 = migrated).
    pub migreq: bool,
    /// Pad count: bytes (0–3) added to the payload to make it a multiple of 4.
    pub pad_count: u8,
    /// Transport header version ([`TVER`]).
    pub tver: u8,
    /// Partition key.
    pub pkey: u16,
    /// Forward ECN (congestion seen, IBA §A10 / A17.9).
    pub fecn: bool,
    /// Backward ECN (set on CNPs).
    pub becn: bool,
    /// Destination QP (24 bits).
    pub dest_qp: u32,
    /// Acknowledge request (A).
    pub ack_req: bool,
    /// Packet sequence number (24 bits).
    pub psn: u32,
}

impl Bth {
    /// A BTH with default fields: P_Key 0xFFFF, M set (migrated, as hardware sends), no SE,
    /// no AckReq, pad count 0 (builders fill it in).
    pub fn new(opcode: Opcode, dest_qp: u32, psn: u32) -> Bth {
        Bth {
            opcode,
            solicited: false,
            migreq: true,
            pad_count: 0,
            tver: TVER,
            pkey: DEFAULT_PKEY,
            fecn: false,
            becn: false,
            dest_qp: dest_qp & QPN_MASK,
            ack_req: false,
            psn: psn & PSN_MASK,
        }
    }

    /// The header's 12 bytes (QPN and PSN masked to 24 bits).
    pub fn to_bytes(&self) -> [u8; BTH_LEN] {
        let b1 = (u8::from(self.solicited) << 7)
            | (u8::from(self.migreq) << 6)
            | ((self.pad_count & 3) << 4)
            | (self.tver & 0x0F);
        let b4 = (u8::from(self.fecn) << 7) | (u8::from(self.becn) << 6);
        let [p0, p1] = self.pkey.to_be_bytes();
        let [q0, q1, q2] = be24_bytes(self.dest_qp);
        let [s0, s1, s2] = be24_bytes(self.psn);
        [
            self.opcode as u8,
            b1,
            p0,
            p1,
            b4,
            q0,
            q1,
            q2,
            u8::from(self.ack_req) << 7,
            s0,
            s1,
            s2,
        ]
    }

    /// Parses a BTH; reserved bits are ignored, unknown opcodes are an error.
    pub fn parse(buf: &[u8]) -> Result<Bth, WireError> {
        let b: [u8; BTH_LEN] = arr(buf, 0).ok_or(WireError::Truncated("BTH"))?;
        let [op, b1, p0, p1, b4, q0, q1, q2, b8, s0, s1, s2] = b;
        Ok(Bth {
            opcode: Opcode::try_from(op)?,
            solicited: b1 & 0x80 != 0,
            migreq: b1 & 0x40 != 0,
            pad_count: (b1 >> 4) & 3,
            tver: b1 & 0x0F,
            pkey: u16::from_be_bytes([p0, p1]),
            fecn: b4 & 0x80 != 0,
            becn: b4 & 0x40 != 0,
            dest_qp: u32::from_be_bytes([0, q0, q1, q2]),
            ack_req: b8 & 0x80 != 0,
            psn: u32::from_be_bytes([0, s0, s1, s2]),
        })
    }
}

/// `psn + n` modulo 2^24.
pub fn psn_add(psn: u32, n: u32) -> u32 {
    psn.wrapping_add(n) & PSN_MASK
}

/// Signed distance `a - b` in the 24-bit PSN space (IBA §9.7.1: a PSN within 2^23 ahead
/// is "later"). Positive when `a` is after `b`.
pub fn psn_diff(a: u32, b: u32) -> i32 {
    // Shift the 24-bit difference into the top of an i32 and back to sign-extend it.
    i32::from_ne_bytes((a.wrapping_sub(b) << 8).to_ne_bytes()) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_values_match_iba_table_38() {
        let expect: &[(u8, Opcode)] = &[
            (0x00, Opcode::RcSendFirst),
            (0x01, Opcode::RcSendMiddle),
            (0x02, Opcode::RcSendLast),
            (0x03, Opcode::RcSendLastImm),
            (0x04, Opcode::RcSendOnly),
            (0x05, Opcode::RcSendOnlyImm),
            (0x06, Opcode::RcWriteFirst),
            (0x07, Opcode::RcWriteMiddle),
            (0x08, Opcode::RcWriteLast),
            (0x09, Opcode::RcWriteLastImm),
            (0x0A, Opcode::RcWriteOnly),
            (0x0B, Opcode::RcWriteOnlyImm),
            (0x0C, Opcode::RcReadRequest),
            (0x0D, Opcode::RcReadResponseFirst),
            (0x0E, Opcode::RcReadResponseMiddle),
            (0x0F, Opcode::RcReadResponseLast),
            (0x10, Opcode::RcReadResponseOnly),
            (0x11, Opcode::RcAck),
            (0x12, Opcode::RcAtomicAck),
            (0x13, Opcode::RcCompareSwap),
            (0x14, Opcode::RcFetchAdd),
            (0x16, Opcode::RcSendLastInv),
            (0x17, Opcode::RcSendOnlyInv),
            (0x64, Opcode::UdSendOnly),
            (0x65, Opcode::UdSendOnlyImm),
            (0x81, Opcode::Cnp),
        ];
        assert_eq!(expect.len(), Opcode::ALL.len());
        for &(v, op) in expect {
            assert_eq!(Opcode::from_u8(v), Some(op));
            assert_eq!(u8::from(op), v);
        }
        assert_eq!(Opcode::from_u8(0x15), None);
        assert_eq!(Opcode::try_from(0x20), Err(WireError::UnknownOpcode(0x20)));
    }

    #[test]
    fn header_sets() {
        assert_eq!(Opcode::RcWriteOnlyImm.headers().byte_len(), 20);
        assert_eq!(Opcode::RcAtomicAck.headers().byte_len(), 12);
        assert_eq!(Opcode::RcFetchAdd.headers().byte_len(), 28);
        assert_eq!(Opcode::UdSendOnlyImm.headers().byte_len(), 12);
        assert_eq!(Opcode::RcSendOnlyInv.headers().byte_len(), 4);
        assert_eq!(Opcode::RcSendMiddle.headers().byte_len(), 0);
        assert!(!Opcode::RcReadRequest.has_payload());
        assert!(Opcode::RcReadResponseMiddle.has_payload());
        assert!(!Opcode::RcAck.is_request());
        assert_eq!(Opcode::RcWriteLastImm.position(), Some(Position::Last));
        assert_eq!(Opcode::RcAck.position(), None);
    }

    #[test]
    fn bth_round_trip_and_layout() {
        let mut b = Bth::new(Opcode::RcSendOnlyImm, 0x12_3456, 0xAB_CDEF);
        b.solicited = true;
        b.pad_count = 3;
        b.becn = true;
        b.ack_req = true;
        let bytes = b.to_bytes();
        assert_eq!(
            bytes,
            [0x05, 0xF0, 0xFF, 0xFF, 0x40, 0x12, 0x34, 0x56, 0x80, 0xAB, 0xCD, 0xEF]
        );
        assert_eq!(Bth::parse(&bytes), Ok(b));
        for &op in Opcode::ALL {
            let b = Bth::new(op, 1, 2);
            assert_eq!(Bth::parse(&b.to_bytes()), Ok(b));
        }
        assert!(Bth::parse(&bytes[..11]).is_err());
    }

    #[test]
    fn psn_arithmetic() {
        assert_eq!(psn_add(PSN_MASK, 1), 0);
        assert_eq!(psn_add(5, 3), 8);
        assert_eq!(psn_diff(0, PSN_MASK), 1);
        assert_eq!(psn_diff(PSN_MASK, 0), -1);
        assert_eq!(psn_diff(100, 50), 50);
    }
}
