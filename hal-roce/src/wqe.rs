//! Send and receive work-queue entries (docs/silicon/rocev2.md §5.3–§5.4).
//!
//! A send WQE is a 32-byte control segment followed by 16-byte units, in one slot of the SQ
//! (stride 64–512 bytes, fixed per QP). A receive WQE is a 16-byte header followed by data
//! segments. The driver encodes from `hal` work requests ([`encode_send_wqe`],
//! [`encode_recv_wqe`]); the device model decodes ([`SendWqe::decode`], [`RecvWqe::decode`]).
//! Nothing here allocates or panics.
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
use hal::{Access, Payload, RecvWr, SendOp, SendWr, Sge, WrFlags};

use crate::bytes::{get, put, put_u16, put_u32, put_u64, put_u8, u16_at, u32_at, u64_at, u8_at};
use crate::cqe::syndrome;

/// Size of one WQE unit.
pub const UNIT: usize = 16;
/// Size of the control segment (two units, §5.3.1).
pub const CTRL_SEG_SIZE: usize = 32;
/// Size of the remote address segment (§5.3.2).
pub const RADDR_SEG_SIZE: usize = 16;
/// Size of a data segment (§5.3.3).
pub const DATA_SEG_SIZE: usize = 16;
/// Size of the inline segment header (§5.3.4).
pub const INLINE_HEADER_SIZE: usize = 4;
/// Bit 31 of the inline header: marks an inline segment.
pub const INLINE_SEG_MARKER: u32 = 1 << 31;
/// Size of the fast-register segment (§5.3.5).
pub const FAST_REG_SEG_SIZE: usize = 48;
/// WQE offset of an inline page list (after control and fast-register segments).
pub const FAST_REG_INLINE_PBL_OFFSET: usize = CTRL_SEG_SIZE + FAST_REG_SEG_SIZE;
/// Size of the bind segment (§5.3.6).
pub const BIND_SEG_SIZE: usize = 32;
/// Size of the receive WQE header (§5.4).
pub const RECV_HEADER_SIZE: usize = 16;

/// Smallest SQ stride, log2 bytes (64).
pub const MIN_SQ_STRIDE_LOG2: u8 = 6;
/// Largest SQ stride, log2 bytes (512), `CAP_INLINE.MAX_SQ_STRIDE_LOG2` of the reference silicon.
pub const MAX_SQ_STRIDE_LOG2: u8 = 9;
/// Smallest receive stride, log2 bytes (32).
pub const MIN_RQ_STRIDE_LOG2: u8 = 5;
/// Largest receive stride, log2 bytes (512).
pub const MAX_RQ_STRIDE_LOG2: u8 = 9;
/// Largest send WQE in bytes.
pub const MAX_SQ_WQE_SIZE: usize = 1 << MAX_SQ_STRIDE_LOG2;
/// Largest DS_COUNT (units in the largest send WQE).
pub const MAX_DS_COUNT: u8 = (MAX_SQ_WQE_SIZE / UNIT) as u8;
/// Data segments per WQE the format allows (`hal::MAX_SGE`).
pub const MAX_SGE: usize = hal::MAX_SGE;
/// Inline payload bytes the format allows (`hal::MAX_INLINE_DATA`).
pub const MAX_INLINE: usize = hal::MAX_INLINE_DATA;
/// log2 of the host page size of `hal` page lists (`PAGE_SIZE`, 4 KiB).
pub const HOST_PAGE_LOG2: u8 = 12;

/// Send WQE opcode (§5.3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SendOpcode {
    /// No operation; completes (if signaled) in order.
    Nop = 0x00,
    /// Send.
    Send = 0x01,
    /// Send with solicited event; the same as `Send` with [`WqeFlags::SOLICITED`].
    SendSe = 0x02,
    /// Send with invalidate of the peer's `INV_KEY`.
    SendInv = 0x03,
    /// RDMA write.
    Write = 0x04,
    /// RDMA read.
    Read = 0x05,
    /// Fast register.
    FastReg = 0x06,
    /// Memory window bind.
    Bind = 0x07,
    /// Local invalidate of `INV_KEY`.
    LocalInv = 0x08,
}

impl SendOpcode {
    /// Decodes an OPCODE byte.
    pub const fn from_u8(v: u8) -> Option<SendOpcode> {
        Some(match v {
            0x00 => SendOpcode::Nop,
            0x01 => SendOpcode::Send,
            0x02 => SendOpcode::SendSe,
            0x03 => SendOpcode::SendInv,
            0x04 => SendOpcode::Write,
            0x05 => SendOpcode::Read,
            0x06 => SendOpcode::FastReg,
            0x07 => SendOpcode::Bind,
            0x08 => SendOpcode::LocalInv,
            _ => return None,
        })
    }
}

bitflags! {
    /// FLAGS byte of the control segment (§5.3.1).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct WqeFlags: u8 {
        /// Write a CQE on success (errors and flushes always write one).
        const SIGNALED = 1 << 0;
        /// Wait for every earlier READ of the SQ to complete first.
        const FENCE = 1 << 1;
        /// Set SE in the last packet of a send.
        const SOLICITED = 1 << 2;
        /// The payload is one inline segment.
        const INLINE = 1 << 3;
        /// READ only: invalidate the lkey of the first sink on success.
        const LOCAL_INVALIDATE = 1 << 4;
    }
}

bitflags! {
    /// Access rights (§5.2); the bit numbers of [`hal::Access`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct AccessFlags: u32 {
        /// Local writes (receives, read sinks).
        const LOCAL_WRITE = 1 << 0;
        /// Remote RDMA read.
        const REMOTE_READ = 1 << 1;
        /// Remote RDMA write.
        const REMOTE_WRITE = 1 << 2;
        /// Sink of an RDMA read.
        const READ_SINK = 1 << 3;
        /// Windows may be bound over the MR.
        const MW_BIND = 1 << 4;
    }
}

impl From<Access> for AccessFlags {
    fn from(a: Access) -> AccessFlags {
        AccessFlags::from_bits_truncate(a.bits())
    }
}

impl From<AccessFlags> for Access {
    fn from(a: AccessFlags) -> Access {
        Access::from_bits_truncate(a.bits())
    }
}

/// Why a WQE could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WqeError {
    /// The WQE does not fit the slot (encode), or DS_COUNT runs past the slot (decode).
    SlotTooSmall,
    /// More data segments than the format allows.
    TooManySges,
    /// More inline bytes than the format allows.
    InlineTooLong,
    /// A fast-register page list that does not fit inline and has no host list, or a page count
    /// the format cannot carry.
    TooManyPages,
    /// OPCODE is reserved.
    BadOpcode(u8),
    /// DS_COUNT does not match the opcode's layout.
    BadDsCount(u8),
    /// A segment is malformed (inline marker missing, reserved bits set, bad flag for opcode).
    BadSegment,
}

impl WqeError {
    /// The CQE syndrome a device reports for a WQE that fails to decode (§10.2).
    pub const fn syndrome(self) -> u32 {
        match self {
            WqeError::BadOpcode(_) => syndrome::BAD_OPCODE,
            WqeError::BadDsCount(_) | WqeError::SlotTooSmall => syndrome::BAD_DS_COUNT,
            WqeError::TooManySges
            | WqeError::InlineTooLong
            | WqeError::TooManyPages
            | WqeError::BadSegment => syndrome::BAD_SEGMENT,
        }
    }
}

/// The control segment (§5.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtrlSeg {
    /// OPCODE.
    pub opcode: SendOpcode,
    /// FLAGS.
    pub flags: WqeFlags,
    /// WQE_INDEX: the SQ producer counter of this WQE.
    pub wqe_index: u16,
    /// DS_COUNT: units in the WQE including the control segment.
    pub ds_count: u8,
    /// INV_KEY (SEND_INV, LOCAL_INV).
    pub inv_key: u32,
    /// WR_ID, returned in the CQE.
    pub wr_id: u64,
}

impl CtrlSeg {
    /// Encodes the segment.
    pub fn encode(&self) -> [u8; CTRL_SEG_SIZE] {
        let mut b = [0u8; CTRL_SEG_SIZE];
        put_u8(&mut b, 0x00, self.opcode as u8);
        put_u8(&mut b, 0x01, self.flags.bits());
        put_u16(&mut b, 0x02, self.wqe_index);
        put_u8(&mut b, 0x04, self.ds_count);
        put_u32(&mut b, 0x08, self.inv_key);
        put_u64(&mut b, 0x10, self.wr_id);
        b
    }

    /// Decodes the segment; reserved bits must be zero.
    pub fn decode(b: &[u8; CTRL_SEG_SIZE]) -> Result<CtrlSeg, WqeError> {
        let op = u8_at(b, 0x00);
        let opcode = SendOpcode::from_u8(op).ok_or(WqeError::BadOpcode(op))?;
        let flags = WqeFlags::from_bits(u8_at(b, 0x01)).ok_or(WqeError::BadSegment)?;
        let reserved_zero =
            crate::bytes::zero(b, 0x05, 3) && u32_at(b, 0x0C) == 0 && u64_at(b, 0x18) == 0;
        if !reserved_zero {
            return Err(WqeError::BadSegment);
        }
        Ok(CtrlSeg {
            opcode,
            flags,
            wqe_index: u16_at(b, 0x02),
            ds_count: u8_at(b, 0x04),
            inv_key: u32_at(b, 0x08),
            wr_id: u64_at(b, 0x10),
        })
    }
}

/// The remote address segment (§5.3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteAddrSeg {
    /// REMOTE_ADDR.
    pub remote_addr: u64,
    /// RKEY.
    pub rkey: u32,
}

impl RemoteAddrSeg {
    /// Encodes the segment.
    pub fn encode(&self) -> [u8; RADDR_SEG_SIZE] {
        let mut b = [0u8; RADDR_SEG_SIZE];
        put_u64(&mut b, 0x00, self.remote_addr);
        put_u32(&mut b, 0x08, self.rkey);
        b
    }

    /// Decodes the segment.
    pub fn decode(b: &[u8; RADDR_SEG_SIZE]) -> RemoteAddrSeg {
        RemoteAddrSeg {
            remote_addr: u64_at(b, 0x00),
            rkey: u32_at(b, 0x08),
        }
    }
}

/// A data segment (§5.3.3), also used by receive WQEs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataSeg {
    /// LENGTH in bytes.
    pub length: u32,
    /// LKEY (or the privileged lkey).
    pub lkey: u32,
    /// ADDR.
    pub addr: u64,
}

impl DataSeg {
    /// Encodes the segment.
    pub fn encode(&self) -> [u8; DATA_SEG_SIZE] {
        let mut b = [0u8; DATA_SEG_SIZE];
        put_u32(&mut b, 0x00, self.length);
        put_u32(&mut b, 0x04, self.lkey);
        put_u64(&mut b, 0x08, self.addr);
        b
    }

    /// Decodes the segment.
    pub fn decode(b: &[u8; DATA_SEG_SIZE]) -> DataSeg {
        DataSeg {
            length: u32_at(b, 0x00),
            lkey: u32_at(b, 0x04),
            addr: u64_at(b, 0x08),
        }
    }
}

impl From<&Sge> for DataSeg {
    fn from(s: &Sge) -> DataSeg {
        DataSeg {
            length: s.length,
            lkey: s.lkey,
            addr: s.addr,
        }
    }
}

impl From<DataSeg> for Sge {
    fn from(d: DataSeg) -> Sge {
        Sge {
            addr: d.addr,
            length: d.length,
            lkey: d.lkey,
        }
    }
}

/// The inline segment (§5.3.4).
pub mod inline {
    use super::{WqeError, INLINE_HEADER_SIZE, INLINE_SEG_MARKER, MAX_INLINE, UNIT};
    use crate::bytes::{put, put_u32, u32_at};

    /// Units an inline segment of `len` bytes occupies.
    pub const fn units(len: usize) -> usize {
        INLINE_HEADER_SIZE.saturating_add(len).div_ceil(UNIT)
    }

    /// Writes the header and `data` at the start of `dst`; returns the units used. The pad
    /// bytes are not written (the caller zeroes the WQE first).
    pub fn encode(dst: &mut [u8], data: &[u8]) -> Result<usize, WqeError> {
        if data.len() > MAX_INLINE {
            return Err(WqeError::InlineTooLong);
        }
        let units = units(data.len());
        if dst.len() < units * UNIT {
            return Err(WqeError::SlotTooSmall);
        }
        // MAX_INLINE fits the 16-bit BYTE_COUNT.
        put_u32(dst, 0, INLINE_SEG_MARKER | data.len() as u32);
        put(dst, INLINE_HEADER_SIZE, data);
        Ok(units)
    }

    /// Reads an inline segment that must occupy exactly `src` (whole units).
    pub fn decode(src: &[u8]) -> Result<&[u8], WqeError> {
        let header = u32_at(src, 0);
        if header & INLINE_SEG_MARKER == 0 || header & 0x7FFF_0000 != 0 {
            return Err(WqeError::BadSegment);
        }
        let len = (header & 0xFFFF) as usize;
        if len > MAX_INLINE {
            return Err(WqeError::InlineTooLong);
        }
        if units(len) * UNIT != src.len() {
            return Err(WqeError::BadSegment);
        }
        src.get(INLINE_HEADER_SIZE..INLINE_HEADER_SIZE + len)
            .ok_or(WqeError::BadSegment)
    }
}

/// The fast-register segment (§5.3.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastRegSeg {
    /// KEY of the MR; its variant becomes the MR's.
    pub key: u32,
    /// ACCESS rights.
    pub access: AccessFlags,
    /// PAGE_COUNT.
    pub page_count: u32,
    /// LOG2_PAGE_SIZE.
    pub log2_page_size: u8,
    /// FR_FLAGS bit 0: the page list follows in the WQE.
    pub inline_pbl: bool,
    /// IOVA of the first byte.
    pub iova: u64,
    /// LENGTH in bytes.
    pub length: u64,
    /// PBL_ADDR of a host page list (0 with `inline_pbl`).
    pub pbl_addr: u64,
    /// FIRST_BYTE_OFFSET in the first page.
    pub first_byte_offset: u32,
}

impl FastRegSeg {
    /// Encodes the segment.
    pub fn encode(&self) -> [u8; FAST_REG_SEG_SIZE] {
        let mut b = [0u8; FAST_REG_SEG_SIZE];
        put_u32(&mut b, 0x00, self.key);
        put_u32(&mut b, 0x04, self.access.bits());
        put_u32(&mut b, 0x08, self.page_count);
        put_u8(&mut b, 0x0C, self.log2_page_size);
        put_u8(&mut b, 0x0D, u8::from(self.inline_pbl));
        put_u64(&mut b, 0x10, self.iova);
        put_u64(&mut b, 0x18, self.length);
        put_u64(&mut b, 0x20, self.pbl_addr);
        put_u32(&mut b, 0x28, self.first_byte_offset);
        b
    }

    /// Decodes the segment; reserved bits must be zero.
    pub fn decode(b: &[u8; FAST_REG_SEG_SIZE]) -> Result<FastRegSeg, WqeError> {
        let access = AccessFlags::from_bits(u32_at(b, 0x04)).ok_or(WqeError::BadSegment)?;
        let fr_flags = u8_at(b, 0x0D);
        if fr_flags & !1 != 0 || u16_at(b, 0x0E) != 0 || u32_at(b, 0x2C) != 0 {
            return Err(WqeError::BadSegment);
        }
        Ok(FastRegSeg {
            key: u32_at(b, 0x00),
            access,
            page_count: u32_at(b, 0x08),
            log2_page_size: u8_at(b, 0x0C),
            inline_pbl: fr_flags & 1 != 0,
            iova: u64_at(b, 0x10),
            length: u64_at(b, 0x18),
            pbl_addr: u64_at(b, 0x20),
            first_byte_offset: u32_at(b, 0x28),
        })
    }
}

/// The bind segment (§5.3.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindSeg {
    /// MW_KEY of the window.
    pub mw_key: u32,
    /// MR_KEY (lkey of the MR it is bound over).
    pub mr_key: u32,
    /// ACCESS: remote rights of the window.
    pub access: AccessFlags,
    /// ADDR: first virtual address.
    pub addr: u64,
    /// LENGTH in bytes.
    pub length: u64,
}

impl BindSeg {
    /// Encodes the segment.
    pub fn encode(&self) -> [u8; BIND_SEG_SIZE] {
        let mut b = [0u8; BIND_SEG_SIZE];
        put_u32(&mut b, 0x00, self.mw_key);
        put_u32(&mut b, 0x04, self.mr_key);
        put_u32(&mut b, 0x08, self.access.bits());
        put_u64(&mut b, 0x10, self.addr);
        put_u64(&mut b, 0x18, self.length);
        b
    }

    /// Decodes the segment; reserved bits must be zero.
    pub fn decode(b: &[u8; BIND_SEG_SIZE]) -> Result<BindSeg, WqeError> {
        let access = AccessFlags::from_bits(u32_at(b, 0x08)).ok_or(WqeError::BadSegment)?;
        if u32_at(b, 0x0C) != 0 {
            return Err(WqeError::BadSegment);
        }
        Ok(BindSeg {
            mw_key: u32_at(b, 0x00),
            mr_key: u32_at(b, 0x04),
            access,
            addr: u64_at(b, 0x10),
            length: u64_at(b, 0x18),
        })
    }
}

/// The receive WQE header (§5.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvHeader {
    /// WR_ID, returned in the CQE.
    pub wr_id: u64,
    /// WQE_INDEX: the queue's producer counter of this WQE.
    pub wqe_index: u16,
    /// NUM_SGE: data segments that follow.
    pub num_sge: u8,
}

impl RecvHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; RECV_HEADER_SIZE] {
        let mut b = [0u8; RECV_HEADER_SIZE];
        put_u64(&mut b, 0x00, self.wr_id);
        put_u16(&mut b, 0x08, self.wqe_index);
        put_u8(&mut b, 0x0A, self.num_sge);
        b
    }

    /// Decodes the header; reserved bytes must be zero.
    pub fn decode(b: &[u8; RECV_HEADER_SIZE]) -> Result<RecvHeader, WqeError> {
        if !crate::bytes::zero(b, 0x0B, 5) {
            return Err(WqeError::BadSegment);
        }
        Ok(RecvHeader {
            wr_id: u64_at(b, 0x00),
            wqe_index: u16_at(b, 0x08),
            num_sge: u8_at(b, 0x0A),
        })
    }
}

/// A run of data segments inside a decoded WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataSegs<'a> {
    bytes: &'a [u8],
}

impl<'a> DataSegs<'a> {
    /// No segments.
    pub const EMPTY: DataSegs<'static> = DataSegs { bytes: &[] };

    fn new(bytes: &'a [u8]) -> DataSegs<'a> {
        DataSegs { bytes }
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.bytes.len() / DATA_SEG_SIZE
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Segment `i`.
    pub fn get(&self, i: usize) -> Option<DataSeg> {
        let off = i.checked_mul(DATA_SEG_SIZE)?;
        let raw = self.bytes.get(off..off.checked_add(DATA_SEG_SIZE)?)?;
        Some(DataSeg::decode(&get::<DATA_SEG_SIZE>(raw, 0)))
    }

    /// Sum of the lengths.
    pub fn total_length(&self) -> u64 {
        self.iter().map(|d| u64::from(d.length)).sum()
    }

    /// The segments in order.
    pub fn iter(&self) -> impl Iterator<Item = DataSeg> + 'a {
        self.bytes
            .chunks_exact(DATA_SEG_SIZE)
            .map(|c| DataSeg::decode(&get::<DATA_SEG_SIZE>(c, 0)))
    }
}

/// An inline page list of a FAST_REG WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageList<'a> {
    bytes: &'a [u8],
}

impl<'a> PageList<'a> {
    /// Number of pages.
    pub fn len(&self) -> usize {
        self.bytes.len() / 8
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The page addresses in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        self.bytes.chunks_exact(8).map(|c| u64_at(c, 0))
    }
}

/// Where a decoded send's payload comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WqePayload<'a> {
    /// Gathered from data segments.
    Gather(DataSegs<'a>),
    /// Carried in the WQE.
    Inline(&'a [u8]),
}

impl WqePayload<'_> {
    /// Total payload bytes.
    pub fn total_length(&self) -> u64 {
        match self {
            WqePayload::Gather(d) => d.total_length(),
            WqePayload::Inline(b) => b.len() as u64,
        }
    }
}

/// Where a FAST_REG WQE's page list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastRegPages<'a> {
    /// In the WQE.
    Inline(PageList<'a>),
    /// In host memory: `count` 8-byte page addresses at bus address `addr`.
    Host {
        /// PBL_ADDR.
        addr: u64,
        /// PAGE_COUNT.
        count: u32,
    },
}

/// The operation of a decoded send WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendWqeOp<'a> {
    /// NOP.
    Nop,
    /// SEND, SEND_SE or SEND_INV (the control segment has the opcode and INV_KEY).
    Send {
        /// Payload.
        payload: WqePayload<'a>,
    },
    /// WRITE.
    Write {
        /// Peer address and key.
        remote: RemoteAddrSeg,
        /// Payload.
        payload: WqePayload<'a>,
    },
    /// READ.
    Read {
        /// Peer address and key.
        remote: RemoteAddrSeg,
        /// Local sinks.
        sinks: DataSegs<'a>,
    },
    /// FAST_REG.
    FastReg {
        /// The fast-register segment.
        seg: FastRegSeg,
        /// Its page list.
        pages: FastRegPages<'a>,
    },
    /// BIND.
    Bind(BindSeg),
    /// LOCAL_INV of the control segment's INV_KEY.
    LocalInv,
}

/// A decoded send WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendWqe<'a> {
    /// The control segment.
    pub ctrl: CtrlSeg,
    /// The operation and its segments.
    pub op: SendWqeOp<'a>,
}

impl<'a> SendWqe<'a> {
    /// Decodes the WQE at the start of `slot` (one SQ slot). Checks opcode, flags, DS_COUNT and
    /// segment formats; the WQE_INDEX check against the device's counter is the caller's.
    pub fn decode(slot: &'a [u8]) -> Result<SendWqe<'a>, WqeError> {
        let ctrl = CtrlSeg::decode(&get::<CTRL_SEG_SIZE>(
            slot.get(..CTRL_SEG_SIZE).ok_or(WqeError::SlotTooSmall)?,
            0,
        ))?;
        let ds = ctrl.ds_count;
        let size = usize::from(ds) * UNIT;
        if !(2..=MAX_DS_COUNT).contains(&ds) {
            return Err(WqeError::BadDsCount(ds));
        }
        let wqe = slot.get(..size).ok_or(WqeError::SlotTooSmall)?;
        let body = wqe.get(CTRL_SEG_SIZE..).unwrap_or(&[]);
        let flags = ctrl.flags;
        let is_send = matches!(
            ctrl.opcode,
            SendOpcode::Send | SendOpcode::SendSe | SendOpcode::SendInv
        );
        let carries_payload = is_send || ctrl.opcode == SendOpcode::Write;
        if (flags.contains(WqeFlags::INLINE) && !carries_payload)
            || (flags.contains(WqeFlags::LOCAL_INVALIDATE) && ctrl.opcode != SendOpcode::Read)
            || (flags.contains(WqeFlags::SOLICITED) && !is_send)
        {
            return Err(WqeError::BadSegment);
        }
        let uses_inv_key = matches!(ctrl.opcode, SendOpcode::SendInv | SendOpcode::LocalInv);
        if !uses_inv_key && ctrl.inv_key != 0 {
            return Err(WqeError::BadSegment);
        }
        let op = match ctrl.opcode {
            SendOpcode::Nop | SendOpcode::LocalInv => {
                if ds != 2 {
                    return Err(WqeError::BadDsCount(ds));
                }
                if ctrl.opcode == SendOpcode::Nop {
                    SendWqeOp::Nop
                } else {
                    SendWqeOp::LocalInv
                }
            }
            SendOpcode::Send | SendOpcode::SendSe | SendOpcode::SendInv => SendWqeOp::Send {
                payload: payload(body, flags)?,
            },
            SendOpcode::Write | SendOpcode::Read => {
                let raddr = body.get(..RADDR_SEG_SIZE).ok_or(WqeError::BadDsCount(ds))?;
                let remote = RemoteAddrSeg::decode(&get::<RADDR_SEG_SIZE>(raddr, 0));
                if u32_at(raddr, 0x0C) != 0 {
                    return Err(WqeError::BadSegment);
                }
                let rest = body.get(RADDR_SEG_SIZE..).unwrap_or(&[]);
                if ctrl.opcode == SendOpcode::Write {
                    SendWqeOp::Write {
                        remote,
                        payload: payload(rest, flags)?,
                    }
                } else {
                    SendWqeOp::Read {
                        remote,
                        sinks: data_segs(rest)?,
                    }
                }
            }
            SendOpcode::FastReg => {
                let raw = body
                    .get(..FAST_REG_SEG_SIZE)
                    .ok_or(WqeError::BadDsCount(ds))?;
                let seg = FastRegSeg::decode(&get::<FAST_REG_SEG_SIZE>(raw, 0))?;
                let rest = body.get(FAST_REG_SEG_SIZE..).unwrap_or(&[]);
                let pages = if seg.inline_pbl {
                    let count =
                        usize::try_from(seg.page_count).map_err(|_| WqeError::TooManyPages)?;
                    let list_len = count.checked_mul(8).ok_or(WqeError::TooManyPages)?;
                    if rest.len() != list_len.next_multiple_of(UNIT) || seg.pbl_addr != 0 {
                        return Err(WqeError::BadDsCount(ds));
                    }
                    let list = rest.get(..list_len).ok_or(WqeError::TooManyPages)?;
                    FastRegPages::Inline(PageList { bytes: list })
                } else {
                    if !rest.is_empty() {
                        return Err(WqeError::BadDsCount(ds));
                    }
                    FastRegPages::Host {
                        addr: seg.pbl_addr,
                        count: seg.page_count,
                    }
                };
                SendWqeOp::FastReg { seg, pages }
            }
            SendOpcode::Bind => {
                if body.len() != BIND_SEG_SIZE {
                    return Err(WqeError::BadDsCount(ds));
                }
                SendWqeOp::Bind(BindSeg::decode(&get::<BIND_SEG_SIZE>(body, 0))?)
            }
        };
        Ok(SendWqe { ctrl, op })
    }
}

fn data_segs(bytes: &[u8]) -> Result<DataSegs<'_>, WqeError> {
    if bytes.len() / DATA_SEG_SIZE > MAX_SGE {
        return Err(WqeError::TooManySges);
    }
    Ok(DataSegs::new(bytes))
}

fn payload(bytes: &[u8], flags: WqeFlags) -> Result<WqePayload<'_>, WqeError> {
    if flags.contains(WqeFlags::INLINE) {
        Ok(WqePayload::Inline(inline::decode(bytes)?))
    } else {
        Ok(WqePayload::Gather(data_segs(bytes)?))
    }
}

/// A decoded receive WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvWqe<'a> {
    /// The header.
    pub header: RecvHeader,
    /// The scatter list.
    pub sges: DataSegs<'a>,
}

impl<'a> RecvWqe<'a> {
    /// Decodes the receive WQE at the start of `slot`.
    pub fn decode(slot: &'a [u8]) -> Result<RecvWqe<'a>, WqeError> {
        let raw = slot.get(..RECV_HEADER_SIZE).ok_or(WqeError::SlotTooSmall)?;
        let header = RecvHeader::decode(&get::<RECV_HEADER_SIZE>(raw, 0))?;
        let n = usize::from(header.num_sge);
        if n > MAX_SGE {
            return Err(WqeError::TooManySges);
        }
        let end = RECV_HEADER_SIZE + n * DATA_SEG_SIZE;
        let sges = slot
            .get(RECV_HEADER_SIZE..end)
            .ok_or(WqeError::SlotTooSmall)?;
        Ok(RecvWqe {
            header,
            sges: DataSegs::new(sges),
        })
    }
}

/// Bytes a send WQE for `wr` takes (its DS_COUNT × 16). `fast_reg_inline`: whether a
/// fast-register page list is carried in the WQE.
pub fn send_wqe_size(wr: &SendWr<'_>, fast_reg_inline: bool) -> usize {
    let payload_units = |p: &Payload<'_>| match p {
        Payload::Sgl(s) => s.len(),
        Payload::Inline(d) => inline::units(d.len()),
    };
    let units = match &wr.op {
        SendOp::Send { payload, .. } => payload_units(payload),
        SendOp::Write { payload, .. } => payload_units(payload).saturating_add(1),
        SendOp::Read { sgl, .. } => sgl.len().saturating_add(1),
        SendOp::FastRegister { pages, .. } => {
            3 + if fast_reg_inline {
                pages.len().div_ceil(2)
            } else {
                0
            }
        }
        SendOp::Bind { .. } => 2,
        SendOp::Invalidate { .. } => 0,
    };
    units.saturating_mul(UNIT).saturating_add(CTRL_SEG_SIZE)
}

/// Pages an inline fast-register page list can hold in a slot of `stride` bytes.
pub const fn fast_reg_inline_capacity(stride: usize) -> usize {
    stride.saturating_sub(FAST_REG_INLINE_PBL_OFFSET) / 8
}

/// The smallest SQ stride (log2 bytes, 6..=9) that holds every WQE of a QP with `max_sge` data
/// segments and `max_inline` inline bytes; `None` when the format cannot.
pub fn sq_stride_log2(max_sge: usize, max_inline: usize) -> Option<u8> {
    if max_sge > MAX_SGE || max_inline > MAX_INLINE {
        return None;
    }
    let sgl = CTRL_SEG_SIZE + RADDR_SEG_SIZE + max_sge * DATA_SEG_SIZE;
    let inl = CTRL_SEG_SIZE + RADDR_SEG_SIZE + inline::units(max_inline) * UNIT;
    let fixed = CTRL_SEG_SIZE + FAST_REG_SEG_SIZE; // FAST_REG with a host list; BIND is smaller
    let need = sgl.max(inl).max(fixed);
    (MIN_SQ_STRIDE_LOG2..=MAX_SQ_STRIDE_LOG2).find(|&k| (1usize << k) >= need)
}

/// The smallest receive stride (log2 bytes, 5..=9) for `max_sge` data segments.
pub fn rq_stride_log2(max_sge: usize) -> Option<u8> {
    if max_sge > MAX_SGE {
        return None;
    }
    let need = RECV_HEADER_SIZE + max_sge * DATA_SEG_SIZE;
    (MIN_RQ_STRIDE_LOG2..=MAX_RQ_STRIDE_LOG2).find(|&k| (1usize << k) >= need)
}

fn write_sgl(dst: &mut [u8], sgl: &[Sge]) -> Result<usize, WqeError> {
    if sgl.len() > MAX_SGE {
        return Err(WqeError::TooManySges);
    }
    for (i, s) in sgl.iter().enumerate() {
        put(dst, i * DATA_SEG_SIZE, &DataSeg::from(s).encode());
    }
    Ok(sgl.len())
}

fn write_payload(dst: &mut [u8], p: &Payload<'_>) -> Result<usize, WqeError> {
    match p {
        Payload::Sgl(s) => write_sgl(dst, s),
        Payload::Inline(d) => inline::encode(dst, d),
    }
}

/// Encodes the WQE of `wr` at the start of `slot` (one SQ slot) with WQE_INDEX `wqe_index` (the
/// SQ producer counter). Returns the bytes written (DS_COUNT × 16); bytes of the slot beyond
/// them are untouched.
///
/// Mapping: `Send` → SEND, or SEND_INV with `invalidate_rkey`; `Write` → WRITE; `Read` → READ;
/// `FastRegister` → FAST_REG with 4 KiB pages, the page list inline when `fast_reg_pbl` is
/// `None`, else at that bus address (where the driver copied `pages`); `Bind` → BIND;
/// `Invalidate` → LOCAL_INV. Flags: SIGNALED, READ_FENCE → FENCE, SOLICITED (sends only),
/// LOCAL_INVALIDATE (reads only); an inline payload sets INLINE.
pub fn encode_send_wqe(
    slot: &mut [u8],
    wqe_index: u16,
    wr: &SendWr<'_>,
    fast_reg_pbl: Option<u64>,
) -> Result<usize, WqeError> {
    let size = send_wqe_size(wr, fast_reg_pbl.is_none());
    let wqe = slot.get_mut(..size).ok_or(WqeError::SlotTooSmall)?;
    if size > MAX_SQ_WQE_SIZE {
        return Err(match wr.op {
            SendOp::FastRegister { .. } => WqeError::TooManyPages,
            _ => WqeError::SlotTooSmall,
        });
    }
    wqe.fill(0);
    let mut flags = WqeFlags::empty();
    flags.set(WqeFlags::SIGNALED, wr.flags.contains(WrFlags::SIGNALED));
    flags.set(WqeFlags::FENCE, wr.flags.contains(WrFlags::READ_FENCE));
    let body = wqe.get_mut(CTRL_SEG_SIZE..).unwrap_or(&mut []);
    let mut inv_key = 0;
    let opcode = match &wr.op {
        SendOp::Send {
            payload,
            invalidate_rkey,
        } => {
            write_payload(body, payload)?;
            flags.set(WqeFlags::INLINE, matches!(payload, Payload::Inline(_)));
            flags.set(WqeFlags::SOLICITED, wr.flags.contains(WrFlags::SOLICITED));
            match invalidate_rkey {
                Some(k) => {
                    inv_key = *k;
                    SendOpcode::SendInv
                }
                None => SendOpcode::Send,
            }
        }
        SendOp::Write {
            payload,
            remote_addr,
            rkey,
        } => {
            let raddr = RemoteAddrSeg {
                remote_addr: *remote_addr,
                rkey: *rkey,
            };
            put(body, 0, &raddr.encode());
            write_payload(body.get_mut(RADDR_SEG_SIZE..).unwrap_or(&mut []), payload)?;
            flags.set(WqeFlags::INLINE, matches!(payload, Payload::Inline(_)));
            SendOpcode::Write
        }
        SendOp::Read {
            sgl,
            remote_addr,
            rkey,
        } => {
            let raddr = RemoteAddrSeg {
                remote_addr: *remote_addr,
                rkey: *rkey,
            };
            put(body, 0, &raddr.encode());
            write_sgl(body.get_mut(RADDR_SEG_SIZE..).unwrap_or(&mut []), sgl)?;
            flags.set(
                WqeFlags::LOCAL_INVALIDATE,
                wr.flags.contains(WrFlags::LOCAL_INVALIDATE),
            );
            SendOpcode::Read
        }
        SendOp::FastRegister {
            key,
            pages,
            first_byte_offset,
            iova,
            length,
            access,
        } => {
            let page_count = u32::try_from(pages.len()).map_err(|_| WqeError::TooManyPages)?;
            let seg = FastRegSeg {
                key: *key,
                access: AccessFlags::from(*access),
                page_count,
                log2_page_size: HOST_PAGE_LOG2,
                inline_pbl: fast_reg_pbl.is_none(),
                iova: *iova,
                length: *length,
                pbl_addr: fast_reg_pbl.unwrap_or(0),
                first_byte_offset: *first_byte_offset,
            };
            put(body, 0, &seg.encode());
            if fast_reg_pbl.is_none() {
                for (i, p) in pages.iter().enumerate() {
                    put_u64(body, FAST_REG_SEG_SIZE + i * 8, *p);
                }
            }
            SendOpcode::FastReg
        }
        SendOp::Bind {
            mw_rkey,
            mr_lkey,
            addr,
            length,
            access,
        } => {
            let seg = BindSeg {
                mw_key: *mw_rkey,
                mr_key: *mr_lkey,
                access: AccessFlags::from(*access),
                addr: *addr,
                length: *length,
            };
            put(body, 0, &seg.encode());
            SendOpcode::Bind
        }
        SendOp::Invalidate { key } => {
            inv_key = *key;
            SendOpcode::LocalInv
        }
    };
    let ctrl = CtrlSeg {
        opcode,
        flags,
        wqe_index,
        // size ≤ MAX_SQ_WQE_SIZE, so at most 32 units.
        ds_count: (size / UNIT) as u8,
        inv_key,
        wr_id: wr.wr_id,
    };
    put(wqe, 0, &ctrl.encode());
    Ok(size)
}

/// Encodes a NOP WQE (e.g. for a doorbell self-test); returns the bytes written.
pub fn encode_nop_wqe(
    slot: &mut [u8],
    wqe_index: u16,
    wr_id: u64,
    signaled: bool,
) -> Result<usize, WqeError> {
    let wqe = slot
        .get_mut(..CTRL_SEG_SIZE)
        .ok_or(WqeError::SlotTooSmall)?;
    let ctrl = CtrlSeg {
        opcode: SendOpcode::Nop,
        flags: if signaled {
            WqeFlags::SIGNALED
        } else {
            WqeFlags::empty()
        },
        wqe_index,
        ds_count: 2,
        inv_key: 0,
        wr_id,
    };
    put(wqe, 0, &ctrl.encode());
    Ok(CTRL_SEG_SIZE)
}

/// Encodes the receive WQE of `wr` at the start of `slot` (one RQ or SRQ slot) with WQE_INDEX
/// `wqe_index`; returns the bytes written.
pub fn encode_recv_wqe(
    slot: &mut [u8],
    wqe_index: u16,
    wr: &RecvWr<'_>,
) -> Result<usize, WqeError> {
    if wr.sgl.len() > MAX_SGE {
        return Err(WqeError::TooManySges);
    }
    let size = RECV_HEADER_SIZE + wr.sgl.len() * DATA_SEG_SIZE;
    let wqe = slot.get_mut(..size).ok_or(WqeError::SlotTooSmall)?;
    let header = RecvHeader {
        wr_id: wr.wr_id,
        wqe_index,
        // ≤ MAX_SGE (16).
        num_sge: wr.sgl.len() as u8,
    };
    put(wqe, 0, &header.encode());
    write_sgl(wqe.get_mut(RECV_HEADER_SIZE..).unwrap_or(&mut []), wr.sgl)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sge(i: u32) -> Sge {
        Sge {
            addr: 0x1000 * u64::from(i) + 7,
            length: 100 + i,
            lkey: 0x300 + i,
        }
    }

    fn decode_roundtrip<'a>(wr: &SendWr<'_>, slot: &'a mut [u8], pbl: Option<u64>) -> SendWqe<'a> {
        let n = encode_send_wqe(slot, 0x1234, wr, pbl).expect("encodes");
        assert_eq!(n, send_wqe_size(wr, pbl.is_none()));
        let slot: &'a [u8] = slot;
        let w = SendWqe::decode(slot).expect("decodes");
        assert_eq!(w.ctrl.wqe_index, 0x1234);
        assert_eq!(w.ctrl.wr_id, wr.wr_id);
        assert_eq!(usize::from(w.ctrl.ds_count) * UNIT, n);
        w
    }

    #[test]
    fn control_segment_layout_matches_the_manual() {
        let c = CtrlSeg {
            opcode: SendOpcode::SendInv,
            flags: WqeFlags::SIGNALED | WqeFlags::SOLICITED,
            wqe_index: 0xBEEF,
            ds_count: 3,
            inv_key: 0x1122_3344,
            wr_id: 0x0102_0304_0506_0708,
        };
        let b = c.encode();
        assert_eq!(b[0x00], 0x03);
        assert_eq!(b[0x01], 0x05);
        assert_eq!(&b[0x02..0x04], &[0xEF, 0xBE]);
        assert_eq!(b[0x04], 3);
        assert_eq!(&b[0x08..0x0C], &[0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&b[0x10..0x18], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(CtrlSeg::decode(&b), Ok(c));
    }

    #[test]
    fn control_segment_rejects_reserved_bits_and_opcodes() {
        let mut b = CtrlSeg {
            opcode: SendOpcode::Nop,
            flags: WqeFlags::empty(),
            wqe_index: 0,
            ds_count: 2,
            inv_key: 0,
            wr_id: 0,
        }
        .encode();
        b[0x18] = 1;
        assert_eq!(CtrlSeg::decode(&b), Err(WqeError::BadSegment));
        b[0x18] = 0;
        b[0x01] = 0x80;
        assert_eq!(CtrlSeg::decode(&b), Err(WqeError::BadSegment));
        b[0x01] = 0;
        b[0x00] = 0x09;
        assert_eq!(CtrlSeg::decode(&b), Err(WqeError::BadOpcode(0x09)));
        assert_eq!(WqeError::BadOpcode(9).syndrome(), syndrome::BAD_OPCODE);
    }

    #[test]
    fn segments_round_trip() {
        let r = RemoteAddrSeg {
            remote_addr: 0xDEAD_BEEF_0000_0001,
            rkey: 0x4455_6677,
        };
        assert_eq!(RemoteAddrSeg::decode(&r.encode()), r);
        let d = DataSeg {
            length: 9,
            lkey: 0x100,
            addr: u64::MAX,
        };
        assert_eq!(DataSeg::decode(&d.encode()), d);
        assert_eq!(&d.encode()[0..4], &[9, 0, 0, 0]);
        let f = FastRegSeg {
            key: 0x0000_0A01,
            access: AccessFlags::LOCAL_WRITE | AccessFlags::REMOTE_READ,
            page_count: 3,
            log2_page_size: 12,
            inline_pbl: true,
            iova: 0x7000_0010,
            length: 8000,
            pbl_addr: 0,
            first_byte_offset: 0x10,
        };
        assert_eq!(FastRegSeg::decode(&f.encode()), Ok(f));
        let b = BindSeg {
            mw_key: 0x0000_0B02,
            mr_key: 0x0000_0C03,
            access: AccessFlags::REMOTE_WRITE,
            addr: 0x10,
            length: 0x20,
        };
        assert_eq!(BindSeg::decode(&b.encode()), Ok(b));
        let h = RecvHeader {
            wr_id: 42,
            wqe_index: 7,
            num_sge: 2,
        };
        assert_eq!(RecvHeader::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn access_flags_share_hal_bit_numbers() {
        let all = Access::all();
        assert_eq!(AccessFlags::from(all).bits(), all.bits());
        assert_eq!(Access::from(AccessFlags::all()), all);
    }

    #[test]
    fn send_with_sgl_round_trips() {
        let sgl = [sge(1), sge(2)];
        let wr = SendWr {
            wr_id: 99,
            op: SendOp::Send {
                payload: Payload::Sgl(&sgl),
                invalidate_rkey: None,
            },
            flags: WrFlags::SIGNALED | WrFlags::SOLICITED,
        };
        let mut slot = [0xAAu8; 64];
        let w = decode_roundtrip(&wr, &mut slot, None);
        assert_eq!(w.ctrl.opcode, SendOpcode::Send);
        assert_eq!(w.ctrl.flags, WqeFlags::SIGNALED | WqeFlags::SOLICITED);
        let SendWqeOp::Send {
            payload: WqePayload::Gather(d),
        } = w.op
        else {
            panic!("{:?}", w.op)
        };
        assert_eq!(d.len(), 2);
        assert_eq!(Sge::from(d.get(1).unwrap()), sge(2));
        assert_eq!(d.total_length(), 203);
    }

    #[test]
    fn send_inv_and_inline_write_round_trip() {
        let data = [5u8; 37];
        let wr = SendWr {
            wr_id: 1,
            op: SendOp::Send {
                payload: Payload::Inline(&data),
                invalidate_rkey: Some(0xABCD_EF01),
            },
            flags: WrFlags::empty(),
        };
        let mut slot = [0u8; 128];
        let w = decode_roundtrip(&wr, &mut slot, None);
        assert_eq!(w.ctrl.opcode, SendOpcode::SendInv);
        assert_eq!(w.ctrl.inv_key, 0xABCD_EF01);
        assert_eq!(
            w.op,
            SendWqeOp::Send {
                payload: WqePayload::Inline(&data)
            }
        );

        let big = [0x5Au8; MAX_INLINE];
        let wr = SendWr {
            wr_id: 2,
            op: SendOp::Write {
                payload: Payload::Inline(&big),
                remote_addr: 0x8000,
                rkey: 0x0000_0705,
            },
            flags: WrFlags::SIGNALED | WrFlags::READ_FENCE,
        };
        let mut slot = [0u8; 512];
        let w = decode_roundtrip(&wr, &mut slot, None);
        assert_eq!(usize::from(w.ctrl.ds_count) * UNIT, 320);
        assert!(w.ctrl.flags.contains(WqeFlags::INLINE | WqeFlags::FENCE));
        let SendWqeOp::Write { remote, payload } = w.op else {
            panic!()
        };
        assert_eq!(remote.rkey, 0x0000_0705);
        assert_eq!(payload, WqePayload::Inline(&big));
    }

    #[test]
    fn read_with_local_invalidate_round_trips() {
        let sgl: [Sge; MAX_SGE] = core::array::from_fn(|i| sge(i as u32));
        let wr = SendWr {
            wr_id: 3,
            op: SendOp::Read {
                sgl: &sgl,
                remote_addr: 0x42,
                rkey: 0x99,
            },
            flags: WrFlags::LOCAL_INVALIDATE,
        };
        let mut slot = [0u8; 512];
        let w = decode_roundtrip(&wr, &mut slot, None);
        assert_eq!(usize::from(w.ctrl.ds_count) * UNIT, 304);
        let SendWqeOp::Read { remote, sinks } = w.op else {
            panic!()
        };
        assert_eq!(remote.remote_addr, 0x42);
        assert_eq!(sinks.len(), MAX_SGE);
        assert!(sinks.iter().map(Sge::from).eq(sgl.iter().copied()));
        assert_eq!(w.ctrl.flags, WqeFlags::LOCAL_INVALIDATE);
    }

    #[test]
    fn fast_register_inline_and_host_page_lists_round_trip() {
        let pages = [0x1000, 0x5000, 0x9000];
        let op = SendOp::FastRegister {
            key: 0x0000_0203,
            pages: &pages,
            first_byte_offset: 0x80,
            iova: 0x7F00_0080,
            length: 0x2000,
            access: Access::LOCAL_WRITE | Access::REMOTE_WRITE,
        };
        let wr = SendWr {
            wr_id: 4,
            op,
            flags: WrFlags::SIGNALED,
        };
        let mut slot = [0u8; 128];
        let w = decode_roundtrip(&wr, &mut slot, None);
        let SendWqeOp::FastReg {
            seg,
            pages: FastRegPages::Inline(list),
        } = w.op
        else {
            panic!()
        };
        assert_eq!(seg.log2_page_size, 12);
        assert!(list.iter().eq(pages.iter().copied()));

        let w = decode_roundtrip(&wr, &mut slot, Some(0xABC0));
        assert_eq!(usize::from(w.ctrl.ds_count), 5);
        let SendWqeOp::FastReg { pages: p, .. } = w.op else {
            panic!()
        };
        assert_eq!(
            p,
            FastRegPages::Host {
                addr: 0xABC0,
                count: 3
            }
        );
        assert_eq!(fast_reg_inline_capacity(512), 54);
    }

    #[test]
    fn fast_register_too_large_for_inline_needs_a_host_list() {
        let pages = [0u64; 55];
        let wr = SendWr {
            wr_id: 0,
            op: SendOp::FastRegister {
                key: 0x200,
                pages: &pages,
                first_byte_offset: 0,
                iova: 0,
                length: 1,
                access: Access::empty(),
            },
            flags: WrFlags::empty(),
        };
        let mut slot = [0u8; 1024];
        assert_eq!(
            encode_send_wqe(&mut slot, 0, &wr, None),
            Err(WqeError::TooManyPages)
        );
        assert!(encode_send_wqe(&mut slot, 0, &wr, Some(0x1000)).is_ok());
    }

    #[test]
    fn bind_invalidate_and_nop_round_trip() {
        let wr = SendWr {
            wr_id: 5,
            op: SendOp::Bind {
                mw_rkey: 0x0000_0401,
                mr_lkey: 0x0000_0502,
                addr: 0x1000,
                length: 0x100,
                access: Access::REMOTE_READ,
            },
            flags: WrFlags::SIGNALED,
        };
        let mut slot = [0u8; 64];
        let w = decode_roundtrip(&wr, &mut slot, None);
        assert_eq!(
            w.op,
            SendWqeOp::Bind(BindSeg {
                mw_key: 0x0000_0401,
                mr_key: 0x0000_0502,
                access: AccessFlags::REMOTE_READ,
                addr: 0x1000,
                length: 0x100
            })
        );
        let wr = SendWr {
            wr_id: 6,
            op: SendOp::Invalidate { key: 0x0000_0401 },
            flags: WrFlags::empty(),
        };
        let w = decode_roundtrip(&wr, &mut slot, None);
        assert_eq!(w.op, SendWqeOp::LocalInv);
        assert_eq!(w.ctrl.inv_key, 0x0000_0401);

        assert_eq!(encode_nop_wqe(&mut slot, 9, 77, true), Ok(32));
        let w = SendWqe::decode(&slot).unwrap();
        assert_eq!(w.op, SendWqeOp::Nop);
        assert_eq!(w.ctrl.wr_id, 77);
    }

    #[test]
    fn encode_rejects_a_wqe_larger_than_the_slot() {
        let sgl = [sge(0); 3];
        let wr = SendWr {
            wr_id: 0,
            op: SendOp::Write {
                payload: Payload::Sgl(&sgl),
                remote_addr: 0,
                rkey: 0,
            },
            flags: WrFlags::empty(),
        };
        let mut slot = [0u8; 64];
        assert_eq!(
            encode_send_wqe(&mut slot, 0, &wr, None),
            Err(WqeError::SlotTooSmall)
        );
    }

    #[test]
    fn decode_rejects_malformed_wqes() {
        let mut slot = [0u8; 64];
        encode_nop_wqe(&mut slot, 0, 0, false).unwrap();
        slot[4] = 5; // DS_COUNT 5 > 64-byte slot
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::SlotTooSmall));
        slot[4] = 3; // NOP must be 2 units
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadDsCount(3)));
        slot[4] = 1;
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadDsCount(1)));
        // SEND with INLINE but no marker in the inline header.
        slot[0] = SendOpcode::Send as u8;
        slot[1] = WqeFlags::INLINE.bits();
        slot[4] = 3;
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadSegment));
        // SOLICITED on a WRITE.
        slot[0] = SendOpcode::Write as u8;
        slot[1] = WqeFlags::SOLICITED.bits();
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadSegment));
    }

    #[test]
    fn receive_wqe_round_trips() {
        let sgl = [sge(1), sge(2), sge(3)];
        let wr = RecvWr {
            wr_id: 0xFEED,
            sgl: &sgl,
        };
        let mut slot = [0u8; 64];
        assert_eq!(encode_recv_wqe(&mut slot, 3, &wr), Ok(64));
        let r = RecvWqe::decode(&slot).unwrap();
        assert_eq!(r.header.wr_id, 0xFEED);
        assert_eq!(r.header.wqe_index, 3);
        assert!(r.sges.iter().map(Sge::from).eq(sgl.iter().copied()));
        let empty = RecvWr { wr_id: 1, sgl: &[] };
        assert_eq!(encode_recv_wqe(&mut slot, 4, &empty), Ok(16));
        assert!(RecvWqe::decode(&slot).unwrap().sges.is_empty());
        let too_many = [sge(0); 4];
        let wr = RecvWr {
            wr_id: 0,
            sgl: &too_many,
        };
        assert_eq!(
            encode_recv_wqe(&mut slot, 0, &wr),
            Err(WqeError::SlotTooSmall)
        );
    }

    #[test]
    fn strides_fit_the_largest_wqe() {
        assert_eq!(sq_stride_log2(1, 0), Some(7)); // FAST_REG with a host list: 80 bytes
        assert_eq!(sq_stride_log2(2, 16), Some(7)); // WRITE + 2 SGEs: 80 bytes
        assert_eq!(sq_stride_log2(MAX_SGE, MAX_INLINE), Some(9));
        assert_eq!(sq_stride_log2(MAX_SGE + 1, 0), None);
        assert_eq!(rq_stride_log2(1), Some(5));
        assert_eq!(rq_stride_log2(3), Some(6));
        assert_eq!(rq_stride_log2(MAX_SGE), Some(9));
    }
}
