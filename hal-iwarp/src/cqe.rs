//! Completion queue entries (docs/silicon/iwarp.md §5.6), completion status, syndromes and
//! Terminate codes (§10).
//!
//! A CQE is 64 bytes; the owner bit in its last byte follows the phase rule of §5.1. The device
//! writes the body first and the owner byte last ([`Cqe::encode`] returns the whole entry; write
//! it in ascending byte order or as one store).
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
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of a CQE.
pub const CQE_SIZE: usize = 64;
/// Offset of the byte holding the owner bit.
pub const CQE_OWNER_OFFSET: usize = 0x3F;
/// Largest CQ ring, log2 entries (the usable depth is one less than the ring).
pub const MAX_CQ_LOG2: u8 = 22;

/// The CQE exactly as in host memory (§5.6.1), one field per row.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct CqeRaw {
    /// 0x00 WR_ID.
    pub wr_id: U64,
    /// 0x08 QP_CONTEXT.
    pub qp_context: U64,
    /// 0x10 BYTE_COUNT.
    pub byte_count: U32,
    /// 0x14 INVALIDATED_STAG.
    pub invalidated_stag: U32,
    /// 0x18 QPN (bits 23:0).
    pub qpn: U32,
    /// 0x1C SRQN (bits 23:0).
    pub srqn: U32,
    /// 0x20 SYNDROME.
    pub syndrome: U32,
    /// 0x24 WQE_INDEX.
    pub wqe_index: U16,
    /// 0x26 reserved.
    pub reserved0: [u8; 2],
    /// 0x28 TERM.
    pub term: U32,
    /// 0x2C reserved.
    pub reserved1: [u8; 16],
    /// 0x3C STATUS.
    pub status: u8,
    /// 0x3D OPCODE.
    pub opcode: u8,
    /// 0x3E FLAGS.
    pub flags: u8,
    /// 0x3F OWNER (bit 0).
    pub owner: u8,
}

const _: () = assert!(core::mem::size_of::<CqeRaw>() == CQE_SIZE);

/// OPCODE of a CQE (§5.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CqeOpcode {
    /// SEND or SEND_INV (any RDMAP Send variant).
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
    /// Receive of a Send with Invalidate; INVALIDATED_STAG names the STag.
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

/// STATUS of a CQE (§10.1). 0x09 is reserved: iWARP has no RNR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CqeStatus {
    /// Completed.
    Success = 0x00,
    /// Flushed: the QP was in ERR.
    Flushed = 0x01,
    /// Length error.
    LocalLength = 0x02,
    /// Local STag / bounds / rights check failed.
    LocalProtection = 0x03,
    /// The incoming message did not fit the receive buffers.
    ReceiveOverflow = 0x04,
    /// The peer terminated for a protection error.
    RemoteAccess = 0x05,
    /// The peer terminated for an untagged-buffer error.
    RemoteInvalidRequest = 0x06,
    /// The peer terminated for an operation error, or we terminated.
    RemoteOperation = 0x07,
    /// The TCP connection failed (timeout, reset, MPA CRC, peer closed).
    TransportError = 0x08,
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
            0x08 => CqeStatus::TransportError,
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
            CqeStatus::TransportError => WcStatus::RetryExceeded,
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
    /// STag index out of range, free, or not an MR.
    pub const STAG_INVALID: u32 = 0x0101;
    /// Key byte differs from the registration's.
    pub const STAG_KEY_MISMATCH: u32 = 0x0102;
    /// MR deregistered or invalidated.
    pub const STAG_NOT_VALID: u32 = 0x0103;
    /// STag of another PD.
    pub const PD_MISMATCH: u32 = 0x0104;
    /// Outside the registration.
    pub const BOUNDS: u32 = 0x0105;
    /// A right is missing (LOCAL_WRITE for a sink or receive).
    pub const ACCESS: u32 = 0x0106;
    /// Sum of lengths above `CAP_MAX_MSG_SIZE`.
    pub const MSG_TOO_LONG: u32 = 0x0201;
    /// The message did not fit the receive buffers.
    pub const RECV_TOO_SMALL: u32 = 0x0202;
    /// Reserved opcode.
    pub const BAD_OPCODE: u32 = 0x0301;
    /// DS_COUNT does not fit the opcode or stride (a READ without exactly one sink).
    pub const BAD_DS_COUNT: u32 = 0x0302;
    /// WQE_INDEX differs from the producer count.
    pub const WQE_INDEX_MISMATCH: u32 = 0x0303;
    /// Malformed segment.
    pub const BAD_SEGMENT: u32 = 0x0304;
    /// Bind checks failed.
    pub const BIND_ERROR: u32 = 0x0305;
    /// The STag cannot be invalidated.
    pub const INVALIDATE_ERROR: u32 = 0x0306;
    /// Fast-register checks failed.
    pub const FAST_REG_ERROR: u32 = 0x0307;
    /// The peer terminated for a protection error.
    pub const TERM_REMOTE_ACCESS: u32 = 0x0401;
    /// The peer terminated for an untagged-buffer error.
    pub const TERM_INVALID_REQUEST: u32 = 0x0402;
    /// The peer terminated for an operation error.
    pub const TERM_REMOTE_OPERATION: u32 = 0x0403;
    /// We terminated for the peer's segment.
    pub const TERM_SENT: u32 = 0x0404;
    /// TCP retransmissions exhausted.
    pub const TCP_TIMEOUT: u32 = 0x0501;
    /// TCP RST received.
    pub const TCP_RESET: u32 = 0x0502;
    /// Bad FPDU CRC or length.
    pub const MPA_CRC: u32 = 0x0503;
    /// FIN received with WQEs outstanding.
    pub const PEER_CLOSED: u32 = 0x0504;
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
            STAG_INVALID | STAG_KEY_MISMATCH | STAG_NOT_VALID | PD_MISMATCH | BOUNDS | ACCESS => {
                CqeStatus::LocalProtection
            }
            MSG_TOO_LONG => CqeStatus::LocalLength,
            RECV_TOO_SMALL => CqeStatus::ReceiveOverflow,
            BAD_OPCODE | BAD_DS_COUNT | WQE_INDEX_MISMATCH | BAD_SEGMENT | BIND_ERROR
            | INVALIDATE_ERROR | FAST_REG_ERROR => CqeStatus::BadRequest,
            TERM_REMOTE_ACCESS => CqeStatus::RemoteAccess,
            TERM_INVALID_REQUEST => CqeStatus::RemoteInvalidRequest,
            TERM_REMOTE_OPERATION | TERM_SENT => CqeStatus::RemoteOperation,
            TCP_TIMEOUT | TCP_RESET | MPA_CRC | PEER_CLOSED => CqeStatus::TransportError,
            FLUSH => CqeStatus::Flushed,
            INTERNAL | DMA_ERROR | CQ_ERROR => CqeStatus::Fatal,
            _ => return None,
        })
    }

    /// The QP_ERROR SUBTYPE of a syndrome (§10.2): 1 LOCAL, 2 REMOTE, 3 TRANSPORT, 4 CQ.
    pub const fn qp_error_subtype(syndrome: u32) -> u8 {
        match syndrome >> 8 {
            0x04 => 2,
            0x05 => 3,
            _ if syndrome == CQ_ERROR => 4,
            _ => 1,
        }
    }
}

/// Terminate layers, error types and codes (§10.3, RFC 5040).
pub mod term {
    use super::syndrome;

    /// Layer: RDMAP.
    pub const LAYER_RDMAP: u8 = 0;
    /// Layer: DDP.
    pub const LAYER_DDP: u8 = 1;
    /// Layer: LLP (MPA).
    pub const LAYER_LLP: u8 = 2;

    /// RDMAP etype: local catastrophic error.
    pub const RDMAP_CATASTROPHIC: u8 = 0;
    /// RDMAP etype: remote protection error.
    pub const RDMAP_PROTECTION: u8 = 1;
    /// RDMAP etype: remote operation error.
    pub const RDMAP_OPERATION: u8 = 2;
    /// DDP etype: local catastrophic error.
    pub const DDP_CATASTROPHIC: u8 = 0;
    /// DDP etype: tagged buffer error.
    pub const DDP_TAGGED: u8 = 1;
    /// DDP etype: untagged buffer error.
    pub const DDP_UNTAGGED: u8 = 2;

    /// RDMAP / DDP tagged: invalid STag.
    pub const INVALID_STAG: u8 = 0x00;
    /// RDMAP / DDP tagged: base or bounds violation.
    pub const BASE_BOUNDS: u8 = 0x01;
    /// RDMAP: access rights violation.
    pub const ACCESS_RIGHTS: u8 = 0x02;
    /// RDMAP: STag not associated with the RDMAP stream.
    pub const RDMAP_STAG_NOT_ASSOCIATED: u8 = 0x03;
    /// RDMAP: TO wrap.
    pub const RDMAP_TO_WRAP: u8 = 0x04;
    /// RDMAP: invalid RDMAP version.
    pub const INVALID_RDMAP_VERSION: u8 = 0x05;
    /// RDMAP: unexpected opcode.
    pub const UNEXPECTED_OPCODE: u8 = 0x06;
    /// RDMAP: catastrophic error localized to the stream.
    pub const CATASTROPHIC_STREAM: u8 = 0x07;
    /// RDMAP: STag cannot be invalidated.
    pub const CANNOT_INVALIDATE: u8 = 0x09;
    /// DDP tagged: STag not associated with the stream.
    pub const DDP_STAG_NOT_ASSOCIATED: u8 = 0x02;
    /// DDP tagged: TO wrap.
    pub const DDP_TO_WRAP: u8 = 0x03;
    /// DDP tagged: invalid DDP version.
    pub const DDP_TAGGED_BAD_VERSION: u8 = 0x04;
    /// DDP untagged: invalid QN.
    pub const INVALID_QN: u8 = 0x01;
    /// DDP untagged: invalid MSN, no buffer available.
    pub const NO_BUFFER: u8 = 0x02;
    /// DDP untagged: invalid MSN, MSN range.
    pub const MSN_RANGE: u8 = 0x03;
    /// DDP untagged: invalid MO.
    pub const INVALID_MO: u8 = 0x04;
    /// DDP untagged: message too long for the receive buffer.
    pub const MSG_TOO_LONG: u8 = 0x05;
    /// DDP untagged: invalid DDP version.
    pub const DDP_UNTAGGED_BAD_VERSION: u8 = 0x06;
    /// LLP: MPA CRC error.
    pub const MPA_CRC: u8 = 0x02;
    /// LLP: marker / ULPDU length mismatch.
    pub const MPA_LENGTH: u8 = 0x03;

    /// The syndrome a requester completes its WQE with on receiving this Terminate (§10.3).
    pub const fn requester_syndrome(layer: u8, etype: u8, code: u8) -> u32 {
        match (layer, etype, code) {
            (LAYER_RDMAP, RDMAP_PROTECTION, _) => syndrome::TERM_REMOTE_ACCESS,
            (LAYER_DDP, DDP_TAGGED, DDP_TAGGED_BAD_VERSION) => syndrome::TERM_REMOTE_OPERATION,
            (LAYER_DDP, DDP_TAGGED, _) => syndrome::TERM_REMOTE_ACCESS,
            (LAYER_DDP, DDP_UNTAGGED, DDP_UNTAGGED_BAD_VERSION) => syndrome::TERM_REMOTE_OPERATION,
            (LAYER_DDP, DDP_UNTAGGED, _) => syndrome::TERM_INVALID_REQUEST,
            _ => syndrome::TERM_REMOTE_OPERATION,
        }
    }
}

/// The TERM word (§5.6.1 offset 0x28, QP_ERROR DATA0, QUERY_QP): the Terminate that ended a QP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TermInfo {
    /// LAYER (0 RDMAP, 1 DDP, 2 LLP), 4 bits.
    pub layer: u8,
    /// ETYPE, 4 bits.
    pub etype: u8,
    /// ERROR_CODE.
    pub code: u8,
    /// True: the peer sent it; false: this device sent it.
    pub received: bool,
}

impl TermInfo {
    const VALID: u32 = 1 << 16;
    const RECEIVED: u32 = 1 << 17;

    /// The TERM word; `None` encodes as 0 (no Terminate).
    pub const fn encode(t: Option<TermInfo>) -> u32 {
        match t {
            None => 0,
            Some(t) => {
                (t.code as u32)
                    | ((t.etype as u32 & 0xF) << 8)
                    | ((t.layer as u32 & 0xF) << 12)
                    | Self::VALID
                    | if t.received { Self::RECEIVED } else { 0 }
            }
        }
    }

    /// Decodes a TERM word; `None` when VALID is clear.
    pub const fn decode(w: u32) -> Option<TermInfo> {
        if w & Self::VALID == 0 {
            return None;
        }
        Some(TermInfo {
            code: (w & 0xFF) as u8,
            etype: ((w >> 8) & 0xF) as u8,
            layer: ((w >> 12) & 0xF) as u8,
            received: w & Self::RECEIVED != 0,
        })
    }

    /// The Terminate control field's first three bytes as they travel on the wire
    /// (layer [31:28], etype [27:24], code [23:16] of a big-endian dword, §9.6).
    pub const fn wire_control(self) -> u32 {
        ((self.layer as u32 & 0xF) << 28)
            | ((self.etype as u32 & 0xF) << 24)
            | ((self.code as u32) << 16)
    }
}

bitflags! {
    /// FLAGS byte of a CQE (§5.6.1).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CqeFlags: u8 {
        /// The received message was a Send with Solicited Event (with or without Invalidate).
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
    /// INVALIDATED_STAG: RECV_INV only.
    pub invalidated_stag: u32,
    /// QPN (24 bits).
    pub qpn: u32,
    /// SRQN (24 bits) with [`CqeFlags::FROM_SRQ`].
    pub srqn: u32,
    /// SYNDROME ([`syndrome`]).
    pub syndrome: u32,
    /// WQE_INDEX of the completed WQE.
    pub wqe_index: u16,
    /// The Terminate that ended the QP, when the error came from the wire.
    pub term: Option<TermInfo>,
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
        invalidated_stag: 0,
        qpn: 0,
        srqn: 0,
        syndrome: 0,
        wqe_index: 0,
        term: None,
        status: CqeStatus::Success,
        opcode: CqeOpcode::Resize,
        flags: CqeFlags::empty(),
    };

    /// The raw entry as the device writes it, with `owner` (the phase of its producer counter).
    pub fn to_raw(&self, owner: bool) -> CqeRaw {
        CqeRaw {
            wr_id: U64::new(self.wr_id),
            qp_context: U64::new(self.qp_context),
            byte_count: U32::new(self.byte_count),
            invalidated_stag: U32::new(self.invalidated_stag),
            qpn: U32::new(self.qpn & 0x00FF_FFFF),
            srqn: U32::new(self.srqn & 0x00FF_FFFF),
            syndrome: U32::new(self.syndrome),
            wqe_index: U16::new(self.wqe_index),
            reserved0: [0; 2],
            term: U32::new(TermInfo::encode(self.term)),
            reserved1: [0; 16],
            status: self.status as u8,
            opcode: self.opcode as u8,
            flags: self.flags.bits(),
            owner: u8::from(owner),
        }
    }

    /// The CQE bytes as the device writes them.
    pub fn encode(&self, owner: bool) -> [u8; CQE_SIZE] {
        zerocopy::transmute!(self.to_raw(owner))
    }

    /// The owner bit of a raw CQE: compare it with the expected phase of the consumer counter
    /// before decoding (and issue an acquire fence in between).
    pub fn owner(raw: &[u8; CQE_SIZE]) -> bool {
        raw.last().is_some_and(|b| b & 1 != 0)
    }

    /// Decodes a CQE (the owner bit is not part of the result).
    pub fn decode(raw: &[u8; CQE_SIZE]) -> Result<Cqe, CqeError> {
        let r: CqeRaw = zerocopy::transmute!(*raw);
        Ok(Cqe {
            wr_id: r.wr_id.get(),
            qp_context: r.qp_context.get(),
            byte_count: r.byte_count.get(),
            invalidated_stag: r.invalidated_stag.get(),
            qpn: r.qpn.get() & 0x00FF_FFFF,
            srqn: r.srqn.get() & 0x00FF_FFFF,
            syndrome: r.syndrome.get(),
            wqe_index: r.wqe_index.get(),
            term: TermInfo::decode(r.term.get()),
            status: CqeStatus::from_u8(r.status).ok_or(CqeError::BadStatus(r.status))?,
            opcode: CqeOpcode::from_u8(r.opcode).ok_or(CqeError::BadOpcode(r.opcode))?,
            flags: CqeFlags::from_bits(r.flags).ok_or(CqeError::BadFlags(r.flags))?,
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
            invalidated_rkey: self.invalidated_stag,
            vendor_error: self.syndrome,
        })
    }

    /// A FLUSHED completion of a WQE (§7).
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
            invalidated_stag: 0,
            qpn,
            srqn: 0,
            syndrome: syndrome::FLUSH,
            wqe_index,
            term: None,
            status: CqeStatus::Flushed,
            opcode,
            flags: CqeFlags::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    fn sample() -> Cqe {
        Cqe {
            wr_id: 0x1122_3344_5566_7788,
            qp_context: 0x99AA_BBCC_DDEE_FF00,
            byte_count: 4096,
            invalidated_stag: 0x0000_0A07,
            qpn: 0x00AB_CDEF,
            srqn: 12,
            syndrome: 0,
            wqe_index: 0xFFFF,
            term: None,
            status: CqeStatus::Success,
            opcode: CqeOpcode::RecvInv,
            flags: CqeFlags::SOLICITED | CqeFlags::FROM_SRQ,
        }
    }

    #[test]
    fn raw_offsets_match_the_manual() {
        assert_eq!(offset_of!(CqeRaw, wr_id), 0x00);
        assert_eq!(offset_of!(CqeRaw, qp_context), 0x08);
        assert_eq!(offset_of!(CqeRaw, byte_count), 0x10);
        assert_eq!(offset_of!(CqeRaw, invalidated_stag), 0x14);
        assert_eq!(offset_of!(CqeRaw, qpn), 0x18);
        assert_eq!(offset_of!(CqeRaw, srqn), 0x1C);
        assert_eq!(offset_of!(CqeRaw, syndrome), 0x20);
        assert_eq!(offset_of!(CqeRaw, wqe_index), 0x24);
        assert_eq!(offset_of!(CqeRaw, term), 0x28);
        assert_eq!(offset_of!(CqeRaw, status), 0x3C);
        assert_eq!(offset_of!(CqeRaw, opcode), 0x3D);
        assert_eq!(offset_of!(CqeRaw, flags), 0x3E);
        assert_eq!(offset_of!(CqeRaw, owner), CQE_OWNER_OFFSET);
    }

    #[test]
    fn cqe_round_trips_with_either_owner() {
        let mut c = sample();
        c.term = Some(TermInfo {
            layer: term::LAYER_DDP,
            etype: term::DDP_TAGGED,
            code: term::BASE_BOUNDS,
            received: true,
        });
        for owner in [false, true] {
            let raw = c.encode(owner);
            assert_eq!(Cqe::owner(&raw), owner);
            assert_eq!(Cqe::decode(&raw), Ok(c));
        }
    }

    #[test]
    fn a_byte_image_built_from_the_manual_decodes() {
        // §5.6.1 offsets, written by hand.
        let mut raw = [0u8; CQE_SIZE];
        raw[0x00..0x08].copy_from_slice(&7u64.to_le_bytes());
        raw[0x08..0x10].copy_from_slice(&9u64.to_le_bytes());
        raw[0x10..0x14].copy_from_slice(&100u32.to_le_bytes());
        raw[0x18..0x1C].copy_from_slice(&[0x05, 0x00, 0x00, 0xFF]); // QPN 5, reserved byte set
        raw[0x20..0x24].copy_from_slice(&0x0401u32.to_le_bytes());
        raw[0x24..0x26].copy_from_slice(&3u16.to_le_bytes());
        raw[0x28..0x2C].copy_from_slice(&0x0003_1101u32.to_le_bytes());
        raw[0x3C] = 0x05;
        raw[0x3D] = 0x01;
        raw[0x3F] = 0x01;
        let c = Cqe::decode(&raw).unwrap();
        assert_eq!((c.wr_id, c.qp_context, c.byte_count), (7, 9, 100));
        assert_eq!(c.qpn, 5, "bits 31:24 of QPN are reserved");
        assert_eq!(c.syndrome, syndrome::TERM_REMOTE_ACCESS);
        assert_eq!(c.wqe_index, 3);
        assert_eq!(
            c.term,
            Some(TermInfo {
                layer: 1,
                etype: 1,
                code: 1,
                received: true
            })
        );
        assert_eq!(c.status, CqeStatus::RemoteAccess);
        assert_eq!(c.opcode, CqeOpcode::Write);
        assert!(Cqe::owner(&raw));
        // Encoding the decoded entry gives the image back, less the reserved byte.
        raw[0x1B] = 0;
        assert_eq!(c.encode(true), raw);
    }

    #[test]
    fn decode_rejects_reserved_codes() {
        let mut raw = sample().encode(true);
        raw[0x3D] = 0x07;
        assert_eq!(Cqe::decode(&raw), Err(CqeError::BadOpcode(0x07)));
        raw[0x3D] = 0x00;
        raw[0x3C] = 0x09;
        assert_eq!(
            Cqe::decode(&raw),
            Err(CqeError::BadStatus(0x09)),
            "no RNR in iWARP"
        );
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
        let w = Cqe::flushed(5, 6, 7, 8, CqeOpcode::Write)
            .completion()
            .unwrap();
        assert_eq!((w.wr_id, w.qp_context, w.status), (5, 6, WcStatus::Flushed));
        assert_eq!(w.vendor_error, syndrome::FLUSH);
    }

    #[test]
    fn every_syndrome_has_its_status_and_subtype() {
        for v in (0..=0x0B).filter(|v| *v != 0x09) {
            assert_eq!(CqeStatus::from_u8(v).unwrap() as u8, v);
        }
        assert_eq!(
            CqeStatus::TransportError.wc_status(),
            WcStatus::RetryExceeded
        );
        assert_eq!(
            syndrome::status(syndrome::TCP_RESET),
            Some(CqeStatus::TransportError)
        );
        assert_eq!(
            syndrome::status(syndrome::TERM_SENT),
            Some(CqeStatus::RemoteOperation)
        );
        assert_eq!(syndrome::status(0x0999), None);
        assert_eq!(syndrome::qp_error_subtype(syndrome::BOUNDS), 1);
        assert_eq!(
            syndrome::qp_error_subtype(syndrome::TERM_INVALID_REQUEST),
            2
        );
        assert_eq!(syndrome::qp_error_subtype(syndrome::TCP_TIMEOUT), 3);
        assert_eq!(syndrome::qp_error_subtype(syndrome::CQ_ERROR), 4);
        assert_eq!(syndrome::qp_error_subtype(syndrome::DMA_ERROR), 1);
    }

    #[test]
    fn terminate_codes_map_to_requester_syndromes() {
        use term::*;
        let t = |l, e, c| requester_syndrome(l, e, c);
        assert_eq!(
            t(LAYER_RDMAP, RDMAP_PROTECTION, ACCESS_RIGHTS),
            syndrome::TERM_REMOTE_ACCESS
        );
        assert_eq!(
            t(LAYER_DDP, DDP_TAGGED, INVALID_STAG),
            syndrome::TERM_REMOTE_ACCESS
        );
        assert_eq!(
            t(LAYER_DDP, DDP_UNTAGGED, NO_BUFFER),
            syndrome::TERM_INVALID_REQUEST
        );
        assert_eq!(
            t(LAYER_DDP, DDP_UNTAGGED, MSG_TOO_LONG),
            syndrome::TERM_INVALID_REQUEST
        );
        assert_eq!(
            t(LAYER_RDMAP, RDMAP_OPERATION, CANNOT_INVALIDATE),
            syndrome::TERM_REMOTE_OPERATION
        );
        assert_eq!(
            t(LAYER_LLP, 0, term::MPA_CRC),
            syndrome::TERM_REMOTE_OPERATION
        );
        let w = TermInfo {
            layer: LAYER_DDP,
            etype: DDP_UNTAGGED,
            code: NO_BUFFER,
            received: false,
        };
        assert_eq!(TermInfo::encode(Some(w)), 0x0001_1202);
        assert_eq!(w.wire_control(), 0x1202_0000);
        assert_eq!(TermInfo::decode(0), None);
    }
}
