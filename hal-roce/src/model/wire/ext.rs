//! Extended transport headers (IBA vol 1 §9.3): RETH, AETH, DETH, IETH, ImmDt, AtomicETH,
//! AtomicAckETH.

use std::vec::Vec;

use super::bth::{HeaderSet, Opcode, QPN_MASK};
use super::bytes::{be24, be24_bytes, be32, be64, u8_at};
use super::WireError;

/// Length of a RETH.
pub const RETH_LEN: usize = 16;
/// Length of an AETH.
pub const AETH_LEN: usize = 4;
/// Length of a DETH.
pub const DETH_LEN: usize = 8;
/// Length of an IETH.
pub const IETH_LEN: usize = 4;
/// Length of an ImmDt.
pub const IMMDT_LEN: usize = 4;
/// Length of an AtomicETH.
pub const ATOMIC_ETH_LEN: usize = 28;
/// Length of an AtomicAckETH.
pub const ATOMIC_ACK_ETH_LEN: usize = 8;

/// RDMA Extended Transport Header (§9.3.3): the remote buffer of a WRITE or READ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reth {
    /// Remote virtual address.
    pub va: u64,
    /// Remote key.
    pub rkey: u32,
    /// Length of the whole WRITE / READ in bytes.
    pub dma_len: u32,
}

impl Reth {
    /// The header's 16 bytes.
    pub fn to_bytes(&self) -> [u8; RETH_LEN] {
        let mut b = [0u8; RETH_LEN];
        b[0..8].copy_from_slice(&self.va.to_be_bytes());
        b[8..12].copy_from_slice(&self.rkey.to_be_bytes());
        b[12..16].copy_from_slice(&self.dma_len.to_be_bytes());
        b
    }

    /// Parses a RETH.
    pub fn parse(buf: &[u8]) -> Result<Reth, WireError> {
        const T: WireError = WireError::Truncated("RETH");
        Ok(Reth {
            va: be64(buf, 0).ok_or(T)?,
            rkey: be32(buf, 8).ok_or(T)?,
            dma_len: be32(buf, 12).ok_or(T)?,
        })
    }
}

/// NAK codes of the AETH syndrome (IBA §9.3.4, Table 43).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NakCode {
    /// PSN sequence error: a request arrived out of order; resend from the NAK's PSN.
    PsnSequenceError = 0,
    /// Invalid request (unsupported opcode, length error, …).
    InvalidRequest = 1,
    /// Remote access error (R_Key, bounds or access rights).
    RemoteAccessError = 2,
    /// Remote operational error (responder could not complete the request).
    RemoteOperationalError = 3,
    /// Invalid RD request (RD only).
    InvalidRdRequest = 4,
}

impl NakCode {
    /// Decodes a NAK code; other values are reserved.
    pub const fn from_u8(v: u8) -> Option<NakCode> {
        match v {
            0 => Some(NakCode::PsnSequenceError),
            1 => Some(NakCode::InvalidRequest),
            2 => Some(NakCode::RemoteAccessError),
            3 => Some(NakCode::RemoteOperationalError),
            4 => Some(NakCode::InvalidRdRequest),
            _ => None,
        }
    }
}

/// Credit count value meaning "no credit information / end-to-end flow control off"
/// (IBA §9.7.7.2, Table 44).
pub const CREDITS_INVALID: u8 = 0x1F;

/// The AETH syndrome (IBA §9.3.4, Table 42): bit 7 reserved, bits 6-5 the kind, bits
/// 4-0 its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syndrome {
    /// Positive acknowledge, with the responder's encoded credit count (0–31).
    Ack {
        /// Encoded credit count ([`CREDITS_INVALID`] when not used).
        credits: u8,
    },
    /// Receiver not ready: retry after the encoded timer (see [`rnr_timer_micros`]).
    RnrNak {
        /// Encoded RNR NAK timer (0–31).
        timer: u8,
    },
    /// Negative acknowledge.
    Nak(NakCode),
}

impl Syndrome {
    /// The syndrome byte (values masked to 5 bits).
    pub const fn to_u8(self) -> u8 {
        match self {
            Syndrome::Ack { credits } => credits & 0x1F,
            Syndrome::RnrNak { timer } => 0x20 | (timer & 0x1F),
            Syndrome::Nak(code) => 0x60 | code as u8,
        }
    }

    /// Decodes a syndrome byte; `None` for the reserved kind (0b10), a set reserved bit 7
    /// or a reserved NAK code.
    pub const fn from_u8(v: u8) -> Option<Syndrome> {
        if v & 0x80 != 0 {
            return None;
        }
        let low = v & 0x1F;
        match (v >> 5) & 3 {
            0 => Some(Syndrome::Ack { credits: low }),
            1 => Some(Syndrome::RnrNak { timer: low }),
            3 => match NakCode::from_u8(low) {
                Some(code) => Some(Syndrome::Nak(code)),
                None => None,
            },
            _ => None,
        }
    }
}

/// The minimum RNR NAK delay in microseconds for an encoded RNR timer (IBA §9.7.5.2.8,
/// Table 45); code 0 is the longest, 655.36 ms.
pub const fn rnr_timer_micros(timer: u8) -> u32 {
    const T: [u32; 32] = [
        655_360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1_280, 1_920, 2_560,
        3_840, 5_120, 7_680, 10_240, 15_360, 20_480, 30_720, 40_960, 61_440, 81_920, 122_880,
        163_840, 245_760, 327_680, 491_520,
    ];
    T[(timer & 0x1F) as usize]
}

/// ACK Extended Transport Header (§9.3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aeth {
    /// Syndrome.
    pub syndrome: Syndrome,
    /// Message sequence number (24 bits): messages completed by the responder.
    pub msn: u32,
}

impl Aeth {
    /// The header's 4 bytes.
    pub fn to_bytes(&self) -> [u8; AETH_LEN] {
        let [a, b, c] = be24_bytes(self.msn);
        [self.syndrome.to_u8(), a, b, c]
    }

    /// Parses an AETH; a reserved syndrome is an error.
    pub fn parse(buf: &[u8]) -> Result<Aeth, WireError> {
        const T: WireError = WireError::Truncated("AETH");
        let syn = u8_at(buf, 0).ok_or(T)?;
        Ok(Aeth {
            syndrome: Syndrome::from_u8(syn).ok_or(WireError::InvalidField("AETH syndrome"))?,
            msn: be24(buf, 1).ok_or(T)?,
        })
    }
}

/// Datagram Extended Transport Header (§9.3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Deth {
    /// Queue key; QP1 uses [`super::mad::GSI_QKEY`].
    pub qkey: u32,
    /// Source QP (24 bits).
    pub src_qp: u32,
}

impl Deth {
    /// The header's 8 bytes.
    pub fn to_bytes(&self) -> [u8; DETH_LEN] {
        let [a, b, c, d] = self.qkey.to_be_bytes();
        let [e, f, g] = be24_bytes(self.src_qp);
        [a, b, c, d, 0, e, f, g]
    }

    /// Parses a DETH.
    pub fn parse(buf: &[u8]) -> Result<Deth, WireError> {
        const T: WireError = WireError::Truncated("DETH");
        Ok(Deth {
            qkey: be32(buf, 0).ok_or(T)?,
            src_qp: be24(buf, 5).ok_or(T)? & QPN_MASK,
        })
    }
}

/// Atomic Extended Transport Header (§9.3.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AtomicEth {
    /// Remote virtual address (8-byte aligned).
    pub va: u64,
    /// Remote key.
    pub rkey: u32,
    /// Swap (CmpSwap) or add (FetchAdd) operand.
    pub swap_add: u64,
    /// Compare operand (CmpSwap).
    pub compare: u64,
}

impl AtomicEth {
    /// The header's 28 bytes.
    pub fn to_bytes(&self) -> [u8; ATOMIC_ETH_LEN] {
        let mut b = [0u8; ATOMIC_ETH_LEN];
        b[0..8].copy_from_slice(&self.va.to_be_bytes());
        b[8..12].copy_from_slice(&self.rkey.to_be_bytes());
        b[12..20].copy_from_slice(&self.swap_add.to_be_bytes());
        b[20..28].copy_from_slice(&self.compare.to_be_bytes());
        b
    }

    /// Parses an AtomicETH.
    pub fn parse(buf: &[u8]) -> Result<AtomicEth, WireError> {
        const T: WireError = WireError::Truncated("AtomicETH");
        Ok(AtomicEth {
            va: be64(buf, 0).ok_or(T)?,
            rkey: be32(buf, 8).ok_or(T)?,
            swap_add: be64(buf, 12).ok_or(T)?,
            compare: be64(buf, 20).ok_or(T)?,
        })
    }
}

/// All extension headers a packet may carry after its BTH. Which are present is fixed by
/// the opcode ([`Opcode::headers`]); builders check the match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtHeaders {
    /// DETH (UD).
    pub deth: Option<Deth>,
    /// RETH (WRITE First/Only, READ request).
    pub reth: Option<Reth>,
    /// AtomicETH (CmpSwap, FetchAdd).
    pub atomic_eth: Option<AtomicEth>,
    /// AETH (ACK, READ response First/Last/Only, atomic ACK).
    pub aeth: Option<Aeth>,
    /// AtomicAckETH: the original remote value (atomic ACK).
    pub atomic_ack_eth: Option<u64>,
    /// Immediate data (4 opaque bytes, kept in wire order as a big-endian `u32`).
    pub immdt: Option<u32>,
    /// IETH: the R_Key to invalidate (SEND with Invalidate).
    pub ieth: Option<u32>,
}

impl ExtHeaders {
    /// Which headers are present.
    pub fn present(&self) -> HeaderSet {
        HeaderSet {
            deth: self.deth.is_some(),
            reth: self.reth.is_some(),
            atomic_eth: self.atomic_eth.is_some(),
            aeth: self.aeth.is_some(),
            atomic_ack_eth: self.atomic_ack_eth.is_some(),
            immdt: self.immdt.is_some(),
            ieth: self.ieth.is_some(),
        }
    }

    /// Fails unless exactly the headers `opcode` needs are present.
    pub fn check(&self, opcode: Opcode) -> Result<(), WireError> {
        let want = opcode.headers();
        let have = self.present();
        let missing_or_extra = |w: bool, h: bool, what: &'static str| {
            if w == h {
                Ok(())
            } else {
                Err(WireError::HeaderMismatch(what))
            }
        };
        missing_or_extra(want.deth, have.deth, "DETH")?;
        missing_or_extra(want.reth, have.reth, "RETH")?;
        missing_or_extra(want.atomic_eth, have.atomic_eth, "AtomicETH")?;
        missing_or_extra(want.aeth, have.aeth, "AETH")?;
        missing_or_extra(want.atomic_ack_eth, have.atomic_ack_eth, "AtomicAckETH")?;
        missing_or_extra(want.immdt, have.immdt, "ImmDt")?;
        missing_or_extra(want.ieth, have.ieth, "IETH")
    }

    /// Appends the present headers in wire order, after checking them against `opcode`.
    pub fn write(&self, opcode: Opcode, out: &mut Vec<u8>) -> Result<(), WireError> {
        self.check(opcode)?;
        if let Some(h) = self.deth {
            out.extend_from_slice(&h.to_bytes());
        }
        if let Some(h) = self.reth {
            out.extend_from_slice(&h.to_bytes());
        }
        if let Some(h) = self.atomic_eth {
            out.extend_from_slice(&h.to_bytes());
        }
        if let Some(h) = self.aeth {
            out.extend_from_slice(&h.to_bytes());
        }
        if let Some(v) = self.atomic_ack_eth {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(v) = self.immdt {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(v) = self.ieth {
            out.extend_from_slice(&v.to_be_bytes());
        }
        Ok(())
    }

    /// Parses the headers `opcode` calls for from the bytes after the BTH; returns them
    /// and the rest (payload, pad).
    pub fn parse(opcode: Opcode, buf: &[u8]) -> Result<(ExtHeaders, &[u8]), WireError> {
        let want = opcode.headers();
        let mut ext = ExtHeaders::default();
        let mut rest = buf;
        let mut take = |n: usize, what: &'static str| -> Result<&[u8], WireError> {
            let (h, r) = rest.split_at_checked(n).ok_or(WireError::Truncated(what))?;
            rest = r;
            Ok(h)
        };
        if want.deth {
            ext.deth = Some(Deth::parse(take(DETH_LEN, "DETH")?)?);
        }
        if want.reth {
            ext.reth = Some(Reth::parse(take(RETH_LEN, "RETH")?)?);
        }
        if want.atomic_eth {
            ext.atomic_eth = Some(AtomicEth::parse(take(ATOMIC_ETH_LEN, "AtomicETH")?)?);
        }
        if want.aeth {
            ext.aeth = Some(Aeth::parse(take(AETH_LEN, "AETH")?)?);
        }
        if want.atomic_ack_eth {
            let b = take(ATOMIC_ACK_ETH_LEN, "AtomicAckETH")?;
            ext.atomic_ack_eth = be64(b, 0);
        }
        if want.immdt {
            ext.immdt = be32(take(IMMDT_LEN, "ImmDt")?, 0);
        }
        if want.ieth {
            ext.ieth = be32(take(IETH_LEN, "IETH")?, 0);
        }
        Ok((ext, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reth_round_trip() {
        let r = Reth {
            va: 0x0102_0304_0506_0708,
            rkey: 0xDEAD_BEEF,
            dma_len: 0x10000,
        };
        let b = r.to_bytes();
        assert_eq!(&b[..4], &[1, 2, 3, 4]);
        assert_eq!(&b[8..12], &[0xDE, 0xAD, 0xBE, 0xEF]);
        assert_eq!(Reth::parse(&b), Ok(r));
        assert!(Reth::parse(&b[..15]).is_err());
    }

    #[test]
    fn aeth_syndromes() {
        let cases = [
            (Syndrome::Ack { credits: 0x1F }, 0x1F),
            (Syndrome::Ack { credits: 3 }, 0x03),
            (Syndrome::RnrNak { timer: 14 }, 0x2E),
            (Syndrome::Nak(NakCode::PsnSequenceError), 0x60),
            (Syndrome::Nak(NakCode::InvalidRequest), 0x61),
            (Syndrome::Nak(NakCode::RemoteAccessError), 0x62),
            (Syndrome::Nak(NakCode::RemoteOperationalError), 0x63),
            (Syndrome::Nak(NakCode::InvalidRdRequest), 0x64),
        ];
        for (s, byte) in cases {
            assert_eq!(s.to_u8(), byte);
            assert_eq!(Syndrome::from_u8(byte), Some(s));
            let a = Aeth {
                syndrome: s,
                msn: 0x00AB_CDEF,
            };
            let b = a.to_bytes();
            assert_eq!(b, [byte, 0xAB, 0xCD, 0xEF]);
            assert_eq!(Aeth::parse(&b), Ok(a));
        }
        assert_eq!(Syndrome::from_u8(0x40), None); // reserved kind
        assert_eq!(Syndrome::from_u8(0x65), None); // reserved NAK code
        assert_eq!(Syndrome::from_u8(0x80), None); // reserved bit
        assert_eq!(rnr_timer_micros(0), 655_360);
        assert_eq!(rnr_timer_micros(14), 1_280);
        assert_eq!(rnr_timer_micros(31), 491_520);
    }

    #[test]
    fn deth_atomic_round_trip() {
        let d = Deth {
            qkey: 0x8001_0000,
            src_qp: 1,
        };
        assert_eq!(d.to_bytes(), [0x80, 0x01, 0, 0, 0, 0, 0, 1]);
        assert_eq!(Deth::parse(&d.to_bytes()), Ok(d));
        let a = AtomicEth {
            va: 8,
            rkey: 9,
            swap_add: 10,
            compare: 11,
        };
        assert_eq!(AtomicEth::parse(&a.to_bytes()), Ok(a));
    }

    #[test]
    fn ext_headers_per_opcode() {
        let full = ExtHeaders {
            deth: Some(Deth { qkey: 1, src_qp: 2 }),
            reth: Some(Reth {
                va: 3,
                rkey: 4,
                dma_len: 5,
            }),
            atomic_eth: Some(AtomicEth {
                va: 6,
                rkey: 7,
                swap_add: 8,
                compare: 9,
            }),
            aeth: Some(Aeth {
                syndrome: Syndrome::Ack { credits: 1 },
                msn: 10,
            }),
            atomic_ack_eth: Some(11),
            immdt: Some(12),
            ieth: Some(13),
        };
        for &op in Opcode::ALL {
            let want = op.headers();
            let ext = ExtHeaders {
                deth: full.deth.filter(|_| want.deth),
                reth: full.reth.filter(|_| want.reth),
                atomic_eth: full.atomic_eth.filter(|_| want.atomic_eth),
                aeth: full.aeth.filter(|_| want.aeth),
                atomic_ack_eth: full.atomic_ack_eth.filter(|_| want.atomic_ack_eth),
                immdt: full.immdt.filter(|_| want.immdt),
                ieth: full.ieth.filter(|_| want.ieth),
            };
            let mut out = Vec::new();
            ext.write(op, &mut out).unwrap();
            assert_eq!(out.len(), want.byte_len(), "{op}");
            out.extend_from_slice(&[0xEE; 3]);
            let (p, rest) = ExtHeaders::parse(op, &out).unwrap();
            assert_eq!(p, ext, "{op}");
            assert_eq!(rest, &[0xEE; 3]);
            if want.byte_len() > 0 {
                assert!(ExtHeaders::parse(op, &out[..want.byte_len() - 1]).is_err());
                assert!(ExtHeaders::default().write(op, &mut Vec::new()).is_err());
            }
        }
        assert_eq!(
            full.write(Opcode::RcSendOnly, &mut Vec::new()),
            Err(WireError::HeaderMismatch("DETH"))
        );
    }
}
