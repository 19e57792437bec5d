//! Queue records in host memory (docs/silicon/rocev2.md §5.5): the QP and SRQ records the
//! device writes, and the CQ doorbell record the driver writes.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use crate::admin::QpState;
use crate::bytes::{put_u32, put_u8, u32_at, u8_at};

/// Size (and alignment) of a QP record.
pub const QP_RECORD_SIZE: usize = 64;
/// Size (and alignment) of an SRQ record.
pub const SRQ_RECORD_SIZE: usize = 64;
/// Size (and alignment) of a CQ doorbell record.
pub const CQ_DBREC_SIZE: usize = 8;

/// The QP record, written by the device (§5.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QpRecord {
    /// SQ_CI: SQ WQEs retired (16-bit counter).
    pub sq_ci: u16,
    /// RQ_CI: RQ WQEs consumed (16-bit counter).
    pub rq_ci: u16,
    /// STATE: the raw QP state ([`QpRecord::state`] decodes it).
    pub state: u8,
    /// SYNDROME of the error that moved the QP to ERR, else 0.
    pub syndrome: u32,
}

impl QpRecord {
    /// Offset of SQ_CI: a driver may read just this dword.
    pub const SQ_CI_OFFSET: usize = 0x00;
    /// Offset of RQ_CI.
    pub const RQ_CI_OFFSET: usize = 0x04;

    /// Encodes the record (device side).
    pub fn encode(&self) -> [u8; QP_RECORD_SIZE] {
        let mut b = [0u8; QP_RECORD_SIZE];
        put_u32(&mut b, 0x00, u32::from(self.sq_ci));
        put_u32(&mut b, 0x04, u32::from(self.rq_ci));
        put_u8(&mut b, 0x08, self.state);
        put_u32(&mut b, 0x0C, self.syndrome);
        b
    }

    /// Decodes the record (driver side).
    pub fn decode(b: &[u8; QP_RECORD_SIZE]) -> QpRecord {
        QpRecord {
            sq_ci: (u32_at(b, 0x00) & 0xFFFF) as u16,
            rq_ci: (u32_at(b, 0x04) & 0xFFFF) as u16,
            state: u8_at(b, 0x08),
            syndrome: u32_at(b, 0x0C),
        }
    }

    /// The QP state, when STATE holds a valid one.
    pub const fn state(&self) -> Option<QpState> {
        QpState::from_u8(self.state)
    }
}

/// The SRQ record, written by the device (§5.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SrqRecord {
    /// SRQ_CI: WQEs consumed (16-bit counter).
    pub srq_ci: u16,
}

impl SrqRecord {
    /// Encodes the record (device side).
    pub fn encode(&self) -> [u8; SRQ_RECORD_SIZE] {
        let mut b = [0u8; SRQ_RECORD_SIZE];
        put_u32(&mut b, 0x00, u32::from(self.srq_ci));
        b
    }

    /// Decodes the record (driver side).
    pub fn decode(b: &[u8; SRQ_RECORD_SIZE]) -> SrqRecord {
        SrqRecord {
            srq_ci: (u32_at(b, 0x00) & 0xFFFF) as u16,
        }
    }
}

/// The CQ doorbell record, written by the driver, read by the device (§5.5, §5.6.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CqDoorbellRecord {
    /// CI: CQEs consumed (24-bit counter).
    pub ci: u32,
    /// RING: the ring generation CI counts in.
    pub ring: bool,
}

impl CqDoorbellRecord {
    /// The record's first dword (CI | RING << 31); a driver writes just this.
    pub const fn to_u32(self) -> u32 {
        (self.ci & crate::ring::COUNTER24_MASK) | (self.ring as u32) << 31
    }

    /// Decodes the first dword; reserved bits are ignored.
    pub const fn from_u32(v: u32) -> CqDoorbellRecord {
        CqDoorbellRecord {
            ci: v & crate::ring::COUNTER24_MASK,
            ring: v >> 31 != 0,
        }
    }

    /// Encodes the whole record.
    pub fn encode(&self) -> [u8; CQ_DBREC_SIZE] {
        let mut b = [0u8; CQ_DBREC_SIZE];
        put_u32(&mut b, 0, self.to_u32());
        b
    }

    /// Decodes the whole record.
    pub fn decode(b: &[u8; CQ_DBREC_SIZE]) -> CqDoorbellRecord {
        CqDoorbellRecord::from_u32(u32_at(b, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_record_round_trips() {
        let r = QpRecord {
            sq_ci: 0xFFFE,
            rq_ci: 3,
            state: QpState::Err as u8,
            syndrome: crate::cqe::syndrome::ACK_TIMEOUT,
        };
        let b = r.encode();
        assert_eq!(&b[0..4], &[0xFE, 0xFF, 0, 0]);
        assert_eq!(b[8], 6);
        assert_eq!(QpRecord::decode(&b), r);
        assert_eq!(r.state(), Some(QpState::Err));
    }

    #[test]
    fn srq_record_round_trips() {
        let r = SrqRecord { srq_ci: 0x1234 };
        assert_eq!(SrqRecord::decode(&r.encode()), r);
    }

    #[test]
    fn cq_doorbell_record_carries_ci_and_ring_generation() {
        let r = CqDoorbellRecord {
            ci: 0x00AB_CDEF,
            ring: true,
        };
        assert_eq!(r.to_u32(), 0x80AB_CDEF);
        assert_eq!(CqDoorbellRecord::decode(&r.encode()), r);
        assert_eq!(CqDoorbellRecord::from_u32(0x7F00_0001).ci, 1);
    }
}
