//! Queue records in host memory (docs/silicon/iwarp.md §5.5): the device-written QP and SRQ
//! records and the driver-written CQ doorbell record.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use zerocopy::byteorder::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of a QP record.
pub const QP_RECORD_SIZE: usize = 64;
/// Size of an SRQ record.
pub const SRQ_RECORD_SIZE: usize = 64;
/// Size of a CQ doorbell record.
pub const CQ_DBREC_SIZE: usize = 8;

/// The QP record exactly as in host memory (§5.5).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct QpRecordRaw {
    /// 0x00 SQ_CI (bits 15:0).
    pub sq_ci: U32,
    /// 0x04 RQ_CI (bits 15:0).
    pub rq_ci: U32,
    /// 0x08 STATE.
    pub state: u8,
    /// 0x09 reserved.
    pub reserved0: [u8; 3],
    /// 0x0C SYNDROME.
    pub syndrome: U32,
    /// 0x10 reserved.
    pub reserved1: [u8; 48],
}

/// The CQ doorbell record exactly as in host memory (§5.5).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct CqDoorbellRecordRaw {
    /// 0x00 CI (bits 23:0) and RING (bit 31).
    pub ci: U32,
    /// 0x04 reserved.
    pub reserved: [u8; 4],
}

const _: () = {
    assert!(core::mem::size_of::<QpRecordRaw>() == QP_RECORD_SIZE);
    assert!(core::mem::size_of::<CqDoorbellRecordRaw>() == CQ_DBREC_SIZE);
};

/// A QP record, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QpRecord {
    /// SQ WQEs retired.
    pub sq_ci: u16,
    /// RQ WQEs consumed.
    pub rq_ci: u16,
    /// STATE (`admin::QpState` as a byte).
    pub state: u8,
    /// SYNDROME of the error that moved the QP to ERR.
    pub syndrome: u32,
}

impl QpRecord {
    /// Offset of SQ_CI (the driver polls it alone).
    pub const SQ_CI_OFFSET: usize = 0x00;
    /// Offset of RQ_CI.
    pub const RQ_CI_OFFSET: usize = 0x04;

    /// The 64 bytes the device writes.
    pub fn encode(&self) -> [u8; QP_RECORD_SIZE] {
        let r = QpRecordRaw {
            sq_ci: U32::new(u32::from(self.sq_ci)),
            rq_ci: U32::new(u32::from(self.rq_ci)),
            state: self.state,
            reserved0: [0; 3],
            syndrome: U32::new(self.syndrome),
            reserved1: [0; 48],
        };
        zerocopy::transmute!(r)
    }

    /// Decodes a QP record (reserved bits ignored).
    pub fn decode(b: &[u8; QP_RECORD_SIZE]) -> QpRecord {
        let r: QpRecordRaw = zerocopy::transmute!(*b);
        QpRecord {
            sq_ci: (r.sq_ci.get() & 0xFFFF) as u16,
            rq_ci: (r.rq_ci.get() & 0xFFFF) as u16,
            state: r.state,
            syndrome: r.syndrome.get(),
        }
    }
}

/// The SRQ record: offset 0x00, `SRQ_CI` bits 15:0 (§5.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SrqRecord {
    /// SRQ WQEs consumed.
    pub srq_ci: u16,
}

impl SrqRecord {
    /// The 64 bytes the device writes.
    pub fn encode(&self) -> [u8; SRQ_RECORD_SIZE] {
        let mut b = [0u8; SRQ_RECORD_SIZE];
        let _ = U32::new(u32::from(self.srq_ci)).write_to_prefix(&mut b[..]);
        b
    }

    /// Decodes an SRQ record.
    pub fn decode(b: &[u8; SRQ_RECORD_SIZE]) -> SrqRecord {
        let ci = U32::read_from_prefix(&b[..]).map_or(0, |(v, _)| v.get());
        SrqRecord {
            srq_ci: (ci & 0xFFFF) as u16,
        }
    }
}

/// The CQ doorbell record the driver writes after polling (§5.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CqDoorbellRecord {
    /// CQEs consumed (24 bits).
    pub ci: u32,
    /// Ring generation the CI counts in (§5.6.3).
    pub ring: bool,
}

impl CqDoorbellRecord {
    /// The record as one little-endian dword (the driver writes it with one store).
    pub const fn to_u32(self) -> u32 {
        (self.ci & 0x00FF_FFFF) | if self.ring { 1 << 31 } else { 0 }
    }

    /// Decodes the dword.
    pub const fn from_u32(v: u32) -> CqDoorbellRecord {
        CqDoorbellRecord {
            ci: v & 0x00FF_FFFF,
            ring: v & (1 << 31) != 0,
        }
    }

    /// The 8 bytes in host memory.
    pub fn encode(&self) -> [u8; CQ_DBREC_SIZE] {
        let r = CqDoorbellRecordRaw {
            ci: U32::new(self.to_u32()),
            reserved: [0; 4],
        };
        zerocopy::transmute!(r)
    }

    /// Decodes the 8 bytes.
    pub fn decode(b: &[u8; CQ_DBREC_SIZE]) -> CqDoorbellRecord {
        let r: CqDoorbellRecordRaw = zerocopy::transmute!(*b);
        CqDoorbellRecord::from_u32(r.ci.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn qp_record_layout_matches_the_manual() {
        assert_eq!(offset_of!(QpRecordRaw, sq_ci), QpRecord::SQ_CI_OFFSET);
        assert_eq!(offset_of!(QpRecordRaw, rq_ci), QpRecord::RQ_CI_OFFSET);
        assert_eq!(offset_of!(QpRecordRaw, state), 0x08);
        assert_eq!(offset_of!(QpRecordRaw, syndrome), 0x0C);
        let r = QpRecord {
            sq_ci: 0xFFFE,
            rq_ci: 3,
            state: 6,
            syndrome: 0x0502,
        };
        let b = r.encode();
        assert_eq!(&b[0..4], &[0xFE, 0xFF, 0, 0]);
        assert_eq!(&b[4..8], &[3, 0, 0, 0]);
        assert_eq!(b[8], 6);
        assert_eq!(&b[0x0C..0x10], &[0x02, 0x05, 0, 0]);
        assert_eq!(QpRecord::decode(&b), r);
    }

    #[test]
    fn srq_and_cq_records() {
        let s = SrqRecord { srq_ci: 0x1234 };
        let b = s.encode();
        assert_eq!(&b[..4], &[0x34, 0x12, 0, 0]);
        assert_eq!(SrqRecord::decode(&b), s);
        let c = CqDoorbellRecord {
            ci: 0xAB_CDEF,
            ring: true,
        };
        assert_eq!(c.to_u32(), 0x80AB_CDEF);
        assert_eq!(c.encode(), [0xEF, 0xCD, 0xAB, 0x80, 0, 0, 0, 0]);
        assert_eq!(CqDoorbellRecord::decode(&c.encode()), c);
        assert_eq!(CqDoorbellRecord::from_u32(0x7FFF_FFFF).ci, 0xFF_FFFF);
    }
}
