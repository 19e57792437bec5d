//! Completion queue entries (docs/silicon/rocev2.md §5.6, §10).
//!
//! A CQE is 64 bytes; the owner bit in its last byte follows the phase rule of
//! [`crate::ring::owner_bit`]. The device writes the body first and the owner byte last
//! ([`Cqe::encode`] returns the whole entry; write it in ascending byte order or as one store).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use bitflags::bitflags;
use hal::{Completion, WcOpcode, WcStatus};

use crate::bytes::{put_u16, put_u32, put_u64, put_u8, u16_at, u32_at, u64_at, u8_at};

/// Size of a CQE.
pub const CQE_SIZE: usize = 64;
/// Offset of the byte holding the owner bit.
pub const CQE_OWNER_OFFSET: usize = 0x3F;
/// Largest CQ ring, log2 entries (the usable depth is one less than the ring).
pub const MAX_CQ_LOG2: u8 = 22;

/// OPCODE of a CQE (§5.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CqeOpcode {
    /// SEND, SEND_SE or SEND_INV.
    Send = 0x00,
    /// WRITE.
    Write = 0x01,
    /// READ.
    Read = 0x02,
    /// FAST_REG.
    FastReg = 0x03,
    /// BIND.
    Bind = 0x04,
    /// LOCAL_INV.
    LocalInv = 0x05,
    /// NOP (driver-internal; not reported to the provider).
    Nop = 0x06,
    /// Receive.
    Recv = 0x80,
    /// Receive of a SEND_INV; INVALIDATED_RKEY names the key.
    RecvInv = 0x81,
    /// The last entry of a ring replaced by `RESIZE_CQ` (§5.6.3).
    Resize = 0xFE,
}

impl CqeOpcode {
    /// Decodes an OPCODE byte.
    pub const fn from_u8(v: u8) -> Option<CqeOpcode> {
        Some(match v {
            0x00 => CqeOpcode::Send,
            0x01 => CqeOpcode::Write,
            0x02 => CqeOpcode::Read,
            0x03 => CqeOpcode::FastReg,
            0x04 => CqeOpcode::Bind,
            0x05 => CqeOpcode::LocalInv,
            0x06 => CqeOpcode::Nop,
            0x80 => CqeOpcode::Recv,
            0x81 => CqeOpcode::RecvInv,
            0xFE => CqeOpcode::Resize,
            _ => return None,
        })
    }

    /// The `hal` opcode; `None` for NOP and RESIZE, which the provider never sees.
    pub const fn wc_opcode(self) -> Option<WcOpcode> {
        Some(match self {
            CqeOpcode::Send => WcOpcode::Send,
            CqeOpcode::Write => WcOpcode::Write,
            CqeOpcode::Read => WcOpcode::Read,
            CqeOpcode::FastReg => WcOpcode::FastRegister,
            CqeOpcode::Bind => WcOpcode::Bind,
            CqeOpcode::LocalInv => WcOpcode::Invalidate,
            CqeOpcode::Recv => WcOpcode::Receive,
            CqeOpcode::RecvInv => WcOpcode::ReceiveInvalidate,
            CqeOpcode::Nop | CqeOpcode::Resize => return None,
        })
    }

    /// True for receive completions (RQ or SRQ).
    pub const fn is_receive(self) -> bool {
        matches!(self, CqeOpcode::Recv | CqeOpcode::RecvInv)
    }
}

/// STATUS of a CQE (§10.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CqeStatus {
    /// Completed.
    Success = 0x00,
    /// Flushed: the QP was in ERR.
    Flushed = 0x01,
    /// Length error.
    LocalLength = 0x02,
    /// Local key / bounds / rights check failed.
    LocalProtection = 0x03,
    /// The incoming message did not fit the receive buffers.
    ReceiveOverflow = 0x04,
    /// Remote access error NAK.
    RemoteAccess = 0x05,
    /// Remote invalid request NAK.
    RemoteInvalidRequest = 0x06,
    /// Remote operational error NAK.
    RemoteOperation = 0x07,
    /// Transport retries exhausted.
    RetryExceeded = 0x08,
    /// RNR retries exhausted.
    RnrRetryExceeded = 0x09,
    /// Malformed WQE, bind or invalidate error.
    BadRequest = 0x0A,
    /// Internal or DMA failure.
    Fatal = 0x0B,
}

impl CqeStatus {
    /// Decodes a STATUS byte.
    pub const fn from_u8(v: u8) -> Option<CqeStatus> {
        Some(match v {
            0x00 => CqeStatus::Success,
            0x01 => CqeStatus::Flushed,
            0x02 => CqeStatus::LocalLength,
            0x03 => CqeStatus::LocalProtection,
            0x04 => CqeStatus::ReceiveOverflow,
            0x05 => CqeStatus::RemoteAccess,
            0x06 => CqeStatus::RemoteInvalidRequest,
            0x07 => CqeStatus::RemoteOperation,
            0x08 => CqeStatus::RetryExceeded,
            0x09 => CqeStatus::RnrRetryExceeded,
            0x0A => CqeStatus::BadRequest,
            0x0B => CqeStatus::Fatal,
            _ => return None,
        })
    }

    /// The `hal` status (§10.1).
    pub const fn wc_status(self) -> WcStatus {
        match self {
            CqeStatus::Success => WcStatus::Success,
            CqeStatus::Flushed => WcStatus::Flushed,
            CqeStatus::LocalLength => WcStatus::LocalLength,
            CqeStatus::LocalProtection => WcStatus::LocalProtection,
            CqeStatus::ReceiveOverflow => WcStatus::ReceiveOverflow,
            CqeStatus::RemoteAccess => WcStatus::RemoteAccess,
            CqeStatus::RemoteInvalidRequest => WcStatus::RemoteInvalidRequest,
            CqeStatus::RemoteOperation => WcStatus::RemoteOperation,
            CqeStatus::RetryExceeded | CqeStatus::RnrRetryExceeded => WcStatus::RetryExceeded,
            CqeStatus::BadRequest => WcStatus::BadRequest,
            CqeStatus::Fatal => WcStatus::Fatal,
        }
    }
}

/// Vendor syndromes (§10.2): the CQE SYNDROME, `hal::Completion::vendor_error`, and the SYNDROME
/// of QP_ERROR events and the QP record. Bits 15:8 are the class.
pub mod syndrome {
    use super::CqeStatus;

    /// No error.
    pub const NONE: u32 = 0x0000;
    /// Key index out of range, free, or not an MR.
    pub const LKEY_INVALID: u32 = 0x0101;
    /// Key variant differs from the registration's.
    pub const LKEY_STALE: u32 = 0x0102;
    /// MR deregistered or invalidated.
    pub const LKEY_NOT_VALID: u32 = 0x0103;
    /// Key of another PD.
    pub const PD_MISMATCH: u32 = 0x0104;
    /// Outside the registration.
    pub const BOUNDS: u32 = 0x0105;
    /// A right is missing (LOCAL_WRITE for a sink).
    pub const ACCESS: u32 = 0x0106;
    /// Sum of lengths above `CAP_MAX_MSG_SIZE`.
    pub const MSG_TOO_LONG: u32 = 0x0201;
    /// The message did not fit the receive buffers.
    pub const RECV_TOO_SMALL: u32 = 0x0202;
    /// Reserved opcode.
    pub const BAD_OPCODE: u32 = 0x0301;
    /// DS_COUNT does not fit the opcode or stride.
    pub const BAD_DS_COUNT: u32 = 0x0302;
    /// WQE_INDEX differs from the producer count.
    pub const WQE_INDEX_MISMATCH: u32 = 0x0303;
    /// Malformed segment.
    pub const BAD_SEGMENT: u32 = 0x0304;
    /// Bind checks failed.
    pub const BIND_ERROR: u32 = 0x0305;
    /// The key cannot be invalidated.
    pub const INVALIDATE_ERROR: u32 = 0x0306;
    /// Fast-register checks failed.
    pub const FAST_REG_ERROR: u32 = 0x0307;
    /// Remote access error NAK.
    pub const NAK_REMOTE_ACCESS: u32 = 0x0401;
    /// Invalid request NAK.
    pub const NAK_INVALID_REQUEST: u32 = 0x0402;
    /// Remote operational error NAK.
    pub const NAK_REMOTE_OPERATION: u32 = 0x0403;
    /// Local ACK timeouts exhausted the retries.
    pub const ACK_TIMEOUT: u32 = 0x0501;
    /// Sequence NAKs exhausted the retries.
    pub const SEQ_NAK_RETRIES: u32 = 0x0502;
    /// RNR NAKs exhausted the RNR retries.
    pub const RNR_RETRIES: u32 = 0x0503;
    /// Flushed.
    pub const FLUSH: u32 = 0x0601;
    /// Internal error.
    pub const INTERNAL: u32 = 0x0701;
    /// A WQE, page list or buffer could not be read or written.
    pub const DMA_ERROR: u32 = 0x0702;
    /// The QP's CQ failed.
    pub const CQ_ERROR: u32 = 0x0703;

    /// The STATUS a syndrome is reported with (§10.2); `None` for an unknown syndrome.
    pub const fn status(syndrome: u32) -> Option<CqeStatus> {
        Some(match syndrome {
            NONE => CqeStatus::Success,
            LKEY_INVALID | LKEY_STALE | LKEY_NOT_VALID | PD_MISMATCH | BOUNDS | ACCESS => {
                CqeStatus::LocalProtection
            }
            MSG_TOO_LONG => CqeStatus::LocalLength,
            RECV_TOO_SMALL => CqeStatus::ReceiveOverflow,
            BAD_OPCODE | BAD_DS_COUNT | WQE_INDEX_MISMATCH | BAD_SEGMENT | BIND_ERROR
            | INVALIDATE_ERROR | FAST_REG_ERROR => CqeStatus::BadRequest,
            NAK_REMOTE_ACCESS => CqeStatus::RemoteAccess,
            NAK_INVALID_REQUEST => CqeStatus::RemoteInvalidRequest,
            NAK_REMOTE_OPERATION => CqeStatus::RemoteOperation,
            ACK_TIMEOUT | SEQ_NAK_RETRIES => CqeStatus::RetryExceeded,
            RNR_RETRIES => CqeStatus::RnrRetryExceeded,
            FLUSH => CqeStatus::Flushed,
            INTERNAL | DMA_ERROR | CQ_ERROR => CqeStatus::Fatal,
            _ => return None,
        })
    }
}

bitflags! {
    /// FLAGS byte of a CQE (§5.6.1).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CqeFlags: u8 {
        /// The received message's last packet had SE set.
        const SOLICITED = 1 << 0;
        /// The receive WQE came from the SRQ in SRQN.
        const FROM_SRQ = 1 << 1;
    }
}

/// Why a CQE could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CqeError {
    /// OPCODE is reserved.
    BadOpcode(u8),
    /// STATUS is reserved.
    BadStatus(u8),
    /// FLAGS has reserved bits set.
    BadFlags(u8),
}

/// A completion queue entry (§5.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cqe {
    /// WR_ID from the WQE.
    pub wr_id: u64,
    /// QP_CONTEXT from `CREATE_QP`.
    pub qp_context: u64,
    /// BYTE_COUNT: receives and reads.
    pub byte_count: u32,
    /// INVALIDATED_RKEY: RECV_INV only.
    pub invalidated_rkey: u32,
    /// QPN (24 bits).
    pub qpn: u32,
    /// SRQN (24 bits) with [`CqeFlags::FROM_SRQ`].
    pub srqn: u32,
    /// SYNDROME ([`syndrome`]).
    pub syndrome: u32,
    /// WQE_INDEX of the completed WQE.
    pub wqe_index: u16,
    /// STATUS.
    pub status: CqeStatus,
    /// OPCODE.
    pub opcode: CqeOpcode,
    /// FLAGS.
    pub flags: CqeFlags,
}

impl Cqe {
    /// The RESIZE marker the device writes as the last entry of a replaced ring.
    pub const RESIZE_MARKER: Cqe = Cqe {
        wr_id: 0,
        qp_context: 0,
        byte_count: 0,
        invalidated_rkey: 0,
        qpn: 0,
        srqn: 0,
        syndrome: 0,
        wqe_index: 0,
        status: CqeStatus::Success,
        opcode: CqeOpcode::Resize,
        flags: CqeFlags::empty(),
    };

    /// The CQE as the device writes it, with `owner` ([`crate::ring::owner_bit`] of its producer
    /// counter) in the last byte.
    pub fn encode(&self, owner: bool) -> [u8; CQE_SIZE] {
        let mut b = [0u8; CQE_SIZE];
        put_u64(&mut b, 0x00, self.wr_id);
        put_u64(&mut b, 0x08, self.qp_context);
        put_u32(&mut b, 0x10, self.byte_count);
        put_u32(&mut b, 0x14, self.invalidated_rkey);
        put_u32(&mut b, 0x18, self.qpn & 0x00FF_FFFF);
        put_u32(&mut b, 0x1C, self.srqn & 0x00FF_FFFF);
        put_u32(&mut b, 0x20, self.syndrome);
        put_u16(&mut b, 0x24, self.wqe_index);
        put_u8(&mut b, 0x3C, self.status as u8);
        put_u8(&mut b, 0x3D, self.opcode as u8);
        put_u8(&mut b, 0x3E, self.flags.bits());
        put_u8(&mut b, CQE_OWNER_OFFSET, u8::from(owner));
        b
    }

    /// The owner bit of a raw CQE: compare it with [`crate::ring::owner_bit`] of the consumer
    /// counter before decoding (and issue an acquire fence in between).
    pub fn owner(raw: &[u8; CQE_SIZE]) -> bool {
        u8_at(raw, CQE_OWNER_OFFSET) & 1 != 0
    }

    /// Decodes a CQE (the owner bit is not part of the result).
    pub fn decode(raw: &[u8; CQE_SIZE]) -> Result<Cqe, CqeError> {
        let op = u8_at(raw, 0x3D);
        let st = u8_at(raw, 0x3C);
        let fl = u8_at(raw, 0x3E);
        Ok(Cqe {
            wr_id: u64_at(raw, 0x00),
            qp_context: u64_at(raw, 0x08),
            byte_count: u32_at(raw, 0x10),
            invalidated_rkey: u32_at(raw, 0x14),
            qpn: u32_at(raw, 0x18) & 0x00FF_FFFF,
            srqn: u32_at(raw, 0x1C) & 0x00FF_FFFF,
            syndrome: u32_at(raw, 0x20),
            wqe_index: u16_at(raw, 0x24),
            status: CqeStatus::from_u8(st).ok_or(CqeError::BadStatus(st))?,
            opcode: CqeOpcode::from_u8(op).ok_or(CqeError::BadOpcode(op))?,
            flags: CqeFlags::from_bits(fl).ok_or(CqeError::BadFlags(fl))?,
        })
    }

    /// The `hal` completion; `None` for NOP and RESIZE entries.
    pub fn completion(&self) -> Option<Completion> {
        Some(Completion {
            wr_id: self.wr_id,
            qp_context: self.qp_context,
            status: self.status.wc_status(),
            opcode: self.opcode.wc_opcode()?,
            byte_len: self.byte_count,
            invalidated_rkey: self.invalidated_rkey,
            vendor_error: self.syndrome,
        })
    }

    /// A FLUSHED completion of a WQE (§7): what the device writes for every outstanding WQE of a
    /// QP in ERR.
    pub const fn flushed(
        wr_id: u64,
        qp_context: u64,
        qpn: u32,
        wqe_index: u16,
        opcode: CqeOpcode,
    ) -> Cqe {
        Cqe {
            wr_id,
            qp_context,
            byte_count: 0,
            invalidated_rkey: 0,
            qpn,
            srqn: 0,
            syndrome: syndrome::FLUSH,
            wqe_index,
            status: CqeStatus::Flushed,
            opcode,
            flags: CqeFlags::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::owner_bit;

    fn sample() -> Cqe {
        Cqe {
            wr_id: 0x1122_3344_5566_7788,
            qp_context: 0x99AA_BBCC_DDEE_FF00,
            byte_count: 4096,
            invalidated_rkey: 0x0000_0A07,
            qpn: 0x00AB_CDEF,
            srqn: 12,
            syndrome: 0,
            wqe_index: 0xFFFF,
            status: CqeStatus::Success,
            opcode: CqeOpcode::RecvInv,
            flags: CqeFlags::SOLICITED | CqeFlags::FROM_SRQ,
        }
    }

    #[test]
    fn cqe_round_trips_with_either_owner() {
        let c = sample();
        for owner in [false, true] {
            let raw = c.encode(owner);
            assert_eq!(Cqe::owner(&raw), owner);
            assert_eq!(Cqe::decode(&raw), Ok(c));
        }
    }

    #[test]
    fn cqe_layout_matches_the_manual() {
        let raw = sample().encode(true);
        assert_eq!(&raw[0x00..0x08], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(&raw[0x18..0x1C], &[0xEF, 0xCD, 0xAB, 0x00]);
        assert_eq!(&raw[0x24..0x26], &[0xFF, 0xFF]);
        assert_eq!(raw[0x3C], 0x00);
        assert_eq!(raw[0x3D], 0x81);
        assert_eq!(raw[0x3E], 0x03);
        assert_eq!(raw[0x3F], 0x01);
        assert!(raw[0x26..0x3C].iter().all(|&b| b == 0));
    }

    #[test]
    fn decode_rejects_reserved_codes() {
        let mut raw = sample().encode(true);
        raw[0x3D] = 0x07;
        assert_eq!(Cqe::decode(&raw), Err(CqeError::BadOpcode(0x07)));
        raw[0x3D] = 0x00;
        raw[0x3C] = 0x0C;
        assert_eq!(Cqe::decode(&raw), Err(CqeError::BadStatus(0x0C)));
        raw[0x3C] = 0x00;
        raw[0x3E] = 0x04;
        assert_eq!(Cqe::decode(&raw), Err(CqeError::BadFlags(0x04)));
    }

    #[test]
    fn completion_is_self_describing() {
        let c = sample().completion().unwrap();
        assert_eq!(c.wr_id, 0x1122_3344_5566_7788);
        assert_eq!(c.qp_context, 0x99AA_BBCC_DDEE_FF00);
        assert_eq!(c.opcode, WcOpcode::ReceiveInvalidate);
        assert_eq!(c.invalidated_rkey, 0x0000_0A07);
        assert_eq!(c.byte_len, 4096);
        assert_eq!(Cqe::RESIZE_MARKER.completion(), None);
        let mut nop = sample();
        nop.opcode = CqeOpcode::Nop;
        assert_eq!(nop.completion(), None);
    }

    #[test]
    fn flushed_completion_carries_wr_id_and_context() {
        let c = Cqe::flushed(5, 6, 7, 8, CqeOpcode::Write);
        let w = c.completion().unwrap();
        assert_eq!((w.wr_id, w.qp_context, w.status), (5, 6, WcStatus::Flushed));
        assert_eq!(w.vendor_error, syndrome::FLUSH);
    }

    #[test]
    fn every_status_maps_to_hal_and_syndromes_agree() {
        for v in 0..=0x0B {
            let s = CqeStatus::from_u8(v).unwrap();
            assert_eq!(s as u8, v);
            let _ = s.wc_status();
        }
        assert_eq!(
            CqeStatus::RnrRetryExceeded.wc_status(),
            WcStatus::RetryExceeded
        );
        assert_eq!(
            syndrome::status(syndrome::RNR_RETRIES),
            Some(CqeStatus::RnrRetryExceeded)
        );
        assert_eq!(
            syndrome::status(syndrome::LKEY_STALE),
            Some(CqeStatus::LocalProtection)
        );
        assert_eq!(syndrome::status(0x0999), None);
    }

    #[test]
    fn poller_sees_entries_only_with_the_expected_phase() {
        // A ring of 2 entries, written by a "device" for producer counters 0..3, read by a
        // consumer: each entry is valid exactly when its lap's owner bit is expected.
        let k = 1;
        let mut ring = [[0u8; CQE_SIZE]; 2];
        let mut ci = 0u32;
        // Zeroed ring: empty.
        assert_ne!(Cqe::owner(&ring[0]), owner_bit(ci, k));
        for p in 0..4u32 {
            let mut c = sample();
            c.wr_id = u64::from(p);
            ring[crate::ring::slot(p, k)] = c.encode(owner_bit(p, k));
            let raw = &ring[crate::ring::slot(ci, k)];
            assert_eq!(Cqe::owner(raw), owner_bit(ci, k), "entry {p} is valid");
            assert_eq!(Cqe::decode(raw).unwrap().wr_id, u64::from(ci));
            ci += 1;
            // The next slot still holds the previous lap's entry (or zero): not valid.
            let next = &ring[crate::ring::slot(ci, k)];
            assert_ne!(Cqe::owner(next), owner_bit(ci, k), "after {p}");
        }
    }
}
