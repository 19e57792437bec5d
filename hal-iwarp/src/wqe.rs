//! Send and receive WQEs (docs/silicon/iwarp.md §5.3–§5.4).
//!
//! A send WQE is a 32-byte control segment followed by the segments of its opcode, in 16-byte
//! units inside one SQ slot. A READ carries exactly one sink data segment: an RDMA Read
//! Request names one Data Sink STag and offset (RFC 5040), so `MAX_READ_SGE` is 1.
//! [`encode_send_wqe`] is the driver's encoder from a `hal::SendWr`; [`SendWqe::decode`] is the
//! device model's decoder. Neither allocates nor panics.
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
use hal::{HalError, Payload, RecvWr, SendOp, SendWr, Sge, WrFlags};
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::cqe::syndrome;
use crate::stag::AccessFlags;

/// WQE unit.
pub const UNIT: usize = 16;
/// Control segment size.
pub const CTRL_SEG_SIZE: usize = 32;
/// Remote address segment size.
pub const RADDR_SEG_SIZE: usize = 16;
/// Data segment size.
pub const DATA_SEG_SIZE: usize = 16;
/// Inline segment header size.
pub const INLINE_HEADER_SIZE: usize = 4;
/// Bit 31 of the inline header: INLINE_SEG.
pub const INLINE_SEG_MARKER: u32 = 1 << 31;
/// Fast-register segment size.
pub const FAST_REG_SEG_SIZE: usize = 48;
/// WQE offset of an inline page list.
pub const FAST_REG_INLINE_PBL_OFFSET: usize = CTRL_SEG_SIZE + FAST_REG_SEG_SIZE;
/// Bind segment size.
pub const BIND_SEG_SIZE: usize = 32;
/// Receive WQE header size.
pub const RECV_HEADER_SIZE: usize = 16;
/// Smallest SQ stride, log2 bytes.
pub const MIN_SQ_STRIDE_LOG2: u8 = 6;
/// Largest SQ stride, log2 bytes (`CAP_INLINE.MAX_SQ_STRIDE_LOG2`).
pub const MAX_SQ_STRIDE_LOG2: u8 = 9;
/// Smallest RQ stride, log2 bytes.
pub const MIN_RQ_STRIDE_LOG2: u8 = 5;
/// Largest RQ stride, log2 bytes.
pub const MAX_RQ_STRIDE_LOG2: u8 = 9;
/// Largest send WQE.
pub const MAX_SQ_WQE_SIZE: usize = 1 << MAX_SQ_STRIDE_LOG2;
/// Largest DS_COUNT.
pub const MAX_DS_COUNT: u8 = (MAX_SQ_WQE_SIZE / UNIT) as u8;
/// Data segments per send / receive WQE.
pub const MAX_SGE: usize = hal::MAX_SGE;
/// Sink data segments per READ: exactly one (§5.3.7).
pub const MAX_READ_SGE: usize = 1;
/// DS_COUNT of every READ (control, remote address, one sink).
pub const READ_DS_COUNT: u8 = 4;
/// Inline bytes per WQE.
pub const MAX_INLINE: usize = hal::MAX_INLINE_DATA;
/// Page size of `hal::SendOp::FastRegister` pages, log2.
pub const HOST_PAGE_LOG2: u8 = 12;

/// Control segment exactly as in the slot (§5.3.1).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct CtrlSegRaw {
    /// 0x00 OPCODE.
    pub opcode: u8,
    /// 0x01 FLAGS.
    pub flags: u8,
    /// 0x02 WQE_INDEX.
    pub wqe_index: U16,
    /// 0x04 DS_COUNT.
    pub ds_count: u8,
    /// 0x05 reserved.
    pub reserved0: [u8; 3],
    /// 0x08 INV_STAG.
    pub inv_stag: U32,
    /// 0x0C reserved.
    pub reserved1: [u8; 4],
    /// 0x10 WR_ID.
    pub wr_id: U64,
    /// 0x18 reserved.
    pub reserved2: [u8; 8],
}

/// Remote address segment (§5.3.2).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RemoteAddrSegRaw {
    /// 0x00 REMOTE_TO.
    pub remote_to: U64,
    /// 0x08 REMOTE_STAG.
    pub remote_stag: U32,
    /// 0x0C reserved.
    pub reserved: [u8; 4],
}

/// Data segment (§5.3.3).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct DataSegRaw {
    /// 0x00 LENGTH.
    pub length: U32,
    /// 0x04 STAG.
    pub stag: U32,
    /// 0x08 ADDR.
    pub addr: U64,
}

/// Fast-register segment (§5.3.5).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct FastRegSegRaw {
    /// 0x00 STAG.
    pub stag: U32,
    /// 0x04 ACCESS.
    pub access: U32,
    /// 0x08 PAGE_COUNT.
    pub page_count: U32,
    /// 0x0C LOG2_PAGE_SIZE.
    pub log2_page_size: u8,
    /// 0x0D FR_FLAGS.
    pub fr_flags: u8,
    /// 0x0E reserved.
    pub reserved0: [u8; 2],
    /// 0x10 IOVA.
    pub iova: U64,
    /// 0x18 LENGTH.
    pub length: U64,
    /// 0x20 PBL_ADDR.
    pub pbl_addr: U64,
    /// 0x28 FIRST_BYTE_OFFSET.
    pub first_byte_offset: U32,
    /// 0x2C reserved.
    pub reserved1: [u8; 4],
}

/// Bind segment (§5.3.6).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct BindSegRaw {
    /// 0x00 MW_STAG.
    pub mw_stag: U32,
    /// 0x04 MR_STAG.
    pub mr_stag: U32,
    /// 0x08 ACCESS.
    pub access: U32,
    /// 0x0C reserved.
    pub reserved: [u8; 4],
    /// 0x10 ADDR.
    pub addr: U64,
    /// 0x18 LENGTH.
    pub length: U64,
}

/// Receive WQE header (§5.4).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RecvHeaderRaw {
    /// 0x00 WR_ID.
    pub wr_id: U64,
    /// 0x08 WQE_INDEX.
    pub wqe_index: U16,
    /// 0x0A NUM_SGE.
    pub num_sge: u8,
    /// 0x0B reserved.
    pub reserved: [u8; 5],
}

const _: () = {
    assert!(core::mem::size_of::<CtrlSegRaw>() == CTRL_SEG_SIZE);
    assert!(core::mem::size_of::<RemoteAddrSegRaw>() == RADDR_SEG_SIZE);
    assert!(core::mem::size_of::<DataSegRaw>() == DATA_SEG_SIZE);
    assert!(core::mem::size_of::<FastRegSegRaw>() == FAST_REG_SEG_SIZE);
    assert!(core::mem::size_of::<BindSegRaw>() == BIND_SEG_SIZE);
    assert!(core::mem::size_of::<RecvHeaderRaw>() == RECV_HEADER_SIZE);
};

/// OPCODE of a send WQE (§5.3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SendOpcode {
    /// No operation.
    Nop = 0x00,
    /// RDMAP Send (with SE when FLAGS.SOLICITED).
    Send = 0x01,
    /// RDMAP Send with Invalidate of INV_STAG.
    SendInv = 0x02,
    /// RDMA Write.
    Write = 0x03,
    /// RDMA Read Request, one sink.
    Read = 0x04,
    /// Fast register.
    FastReg = 0x05,
    /// Bind a memory window.
    Bind = 0x06,
    /// Invalidate INV_STAG locally.
    LocalInv = 0x07,
}

impl SendOpcode {
    /// Decodes an OPCODE byte.
    pub const fn from_u8(v: u8) -> Option<SendOpcode> {
        Some(match v {
            0x00 => SendOpcode::Nop,
            0x01 => SendOpcode::Send,
            0x02 => SendOpcode::SendInv,
            0x03 => SendOpcode::Write,
            0x04 => SendOpcode::Read,
            0x05 => SendOpcode::FastReg,
            0x06 => SendOpcode::Bind,
            0x07 => SendOpcode::LocalInv,
            _ => return None,
        })
    }
}

bitflags! {
    /// FLAGS of the control segment (§5.3.1).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct WqeFlags: u8 {
        /// Write a CQE on success.
        const SIGNALED = 1 << 0;
        /// Wait for earlier READs.
        const FENCE = 1 << 1;
        /// Send with Solicited Event.
        const SOLICITED = 1 << 2;
        /// The payload is one inline segment.
        const INLINE = 1 << 3;
        /// READ: invalidate the sink STag on success.
        const LOCAL_INVALIDATE = 1 << 4;
    }
}

/// Why a WQE could not be encoded or decoded; the device completes a malformed WQE with
/// BAD_REQUEST and [`WqeError::syndrome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WqeError {
    /// The WQE does not fit the slot.
    SlotTooSmall,
    /// Reserved opcode.
    BadOpcode(u8),
    /// Reserved flag bits, or a flag on an opcode it does not apply to.
    BadFlags(u8),
    /// DS_COUNT does not fit the opcode (a READ without exactly one sink).
    BadDsCount(u8),
    /// A malformed segment (inline marker, reserved field, INV_STAG on another opcode).
    BadSegment,
    /// More data segments than `MAX_SGE`.
    TooManySges,
    /// Inline payload longer than `MAX_INLINE`.
    InlineTooLong,
    /// A fast-register page list that does not fit.
    TooManyPages,
    /// A READ with other than one sink segment.
    ReadSinkCount,
}

impl WqeError {
    /// The CQE syndrome of a malformed WQE (§10.2).
    pub const fn syndrome(self) -> u32 {
        match self {
            WqeError::BadOpcode(_) => syndrome::BAD_OPCODE,
            WqeError::BadDsCount(_) | WqeError::ReadSinkCount => syndrome::BAD_DS_COUNT,
            WqeError::TooManyPages => syndrome::FAST_REG_ERROR,
            _ => syndrome::BAD_SEGMENT,
        }
    }

    /// The `hal` error of an encoder failure (the provider checked limits first, so these
    /// are invalid parameters).
    pub const fn hal_error(self) -> HalError {
        HalError::InvalidParameter
    }
}

/// A decoded control segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtrlSeg {
    /// OPCODE.
    pub opcode: SendOpcode,
    /// FLAGS.
    pub flags: WqeFlags,
    /// WQE_INDEX.
    pub wqe_index: u16,
    /// DS_COUNT.
    pub ds_count: u8,
    /// INV_STAG.
    pub inv_stag: u32,
    /// WR_ID.
    pub wr_id: u64,
}

impl CtrlSeg {
    fn raw(&self) -> CtrlSegRaw {
        CtrlSegRaw {
            opcode: self.opcode as u8,
            flags: self.flags.bits(),
            wqe_index: U16::new(self.wqe_index),
            ds_count: self.ds_count,
            reserved0: [0; 3],
            inv_stag: U32::new(self.inv_stag),
            reserved1: [0; 4],
            wr_id: U64::new(self.wr_id),
            reserved2: [0; 8],
        }
    }

    /// Decodes and checks reserved fields.
    pub fn decode(b: &[u8]) -> Result<CtrlSeg, WqeError> {
        let (r, _) = CtrlSegRaw::read_from_prefix(b).map_err(|_| WqeError::SlotTooSmall)?;
        if r.reserved0 != [0; 3] || r.reserved1 != [0; 4] || r.reserved2 != [0; 8] {
            return Err(WqeError::BadSegment);
        }
        Ok(CtrlSeg {
            opcode: SendOpcode::from_u8(r.opcode).ok_or(WqeError::BadOpcode(r.opcode))?,
            flags: WqeFlags::from_bits(r.flags).ok_or(WqeError::BadFlags(r.flags))?,
            wqe_index: r.wqe_index.get(),
            ds_count: r.ds_count,
            inv_stag: r.inv_stag.get(),
            wr_id: r.wr_id.get(),
        })
    }
}

/// A decoded remote address segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteAddrSeg {
    /// REMOTE_TO.
    pub remote_to: u64,
    /// REMOTE_STAG.
    pub remote_stag: u32,
}

/// A decoded data segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataSeg {
    /// LENGTH.
    pub length: u32,
    /// STAG.
    pub stag: u32,
    /// ADDR.
    pub addr: u64,
}

impl From<&Sge> for DataSeg {
    fn from(s: &Sge) -> DataSeg {
        DataSeg {
            length: s.length,
            stag: s.lkey,
            addr: s.addr,
        }
    }
}

impl DataSeg {
    fn raw(&self) -> DataSegRaw {
        DataSegRaw {
            length: U32::new(self.length),
            stag: U32::new(self.stag),
            addr: U64::new(self.addr),
        }
    }

    fn from_raw(r: &DataSegRaw) -> DataSeg {
        DataSeg {
            length: r.length.get(),
            stag: r.stag.get(),
            addr: r.addr.get(),
        }
    }
}

/// A decoded fast-register segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastRegSeg {
    /// STAG.
    pub stag: u32,
    /// ACCESS.
    pub access: AccessFlags,
    /// PAGE_COUNT.
    pub page_count: u32,
    /// LOG2_PAGE_SIZE.
    pub log2_page_size: u8,
    /// FR_FLAGS.INLINE_PBL.
    pub inline_pbl: bool,
    /// IOVA.
    pub iova: u64,
    /// LENGTH.
    pub length: u64,
    /// PBL_ADDR.
    pub pbl_addr: u64,
    /// FIRST_BYTE_OFFSET.
    pub first_byte_offset: u32,
}

/// A decoded bind segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindSeg {
    /// MW_STAG.
    pub mw_stag: u32,
    /// MR_STAG.
    pub mr_stag: u32,
    /// ACCESS.
    pub access: AccessFlags,
    /// ADDR.
    pub addr: u64,
    /// LENGTH.
    pub length: u64,
}

/// Units an inline payload of `n` bytes occupies.
pub const fn inline_units(n: usize) -> usize {
    (INLINE_HEADER_SIZE + n).div_ceil(UNIT)
}

/// Where a decoded send's payload comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WqePayload<'a> {
    /// Gathered from data segments (the bytes of the segments).
    Gather(&'a [u8]),
    /// Carried in the WQE.
    Inline(&'a [u8]),
}

impl<'a> WqePayload<'a> {
    /// The data segments of a gather payload (none for inline).
    pub fn segments(&self) -> impl Iterator<Item = DataSeg> + 'a {
        let b: &'a [u8] = match self {
            WqePayload::Gather(b) => b,
            WqePayload::Inline(_) => &[],
        };
        data_segs(b)
    }

    /// Total payload bytes.
    pub fn total_length(&self) -> u64 {
        match self {
            WqePayload::Gather(_) => self.segments().map(|d| u64::from(d.length)).sum(),
            WqePayload::Inline(b) => b.len() as u64,
        }
    }
}

fn data_segs(b: &[u8]) -> impl Iterator<Item = DataSeg> + '_ {
    b.chunks_exact(DATA_SEG_SIZE)
        .filter_map(|c| DataSegRaw::read_from_bytes(c).ok())
        .map(|r| DataSeg::from_raw(&r))
}

/// Where a FAST_REG's page list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastRegPages<'a> {
    /// In the WQE (8-byte page addresses).
    Inline(&'a [u8]),
    /// In host memory at PBL_ADDR.
    Host {
        /// PBL_ADDR.
        addr: u64,
        /// PAGE_COUNT.
        count: u32,
    },
}

impl<'a> FastRegPages<'a> {
    /// The inline page addresses (none for a host list).
    pub fn inline_pages(&self) -> impl Iterator<Item = u64> + 'a {
        let b: &'a [u8] = match self {
            FastRegPages::Inline(b) => b,
            FastRegPages::Host { .. } => &[],
        };
        b.chunks_exact(8)
            .filter_map(|c| U64::read_from_bytes(c).ok())
            .map(|v| v.get())
    }
}

/// The operation of a decoded send WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendWqeOp<'a> {
    /// NOP.
    Nop,
    /// SEND / SEND_INV (INV_STAG in the control segment).
    Send {
        /// Payload.
        payload: WqePayload<'a>,
    },
    /// WRITE.
    Write {
        /// Peer STag and TO.
        remote: RemoteAddrSeg,
        /// Payload.
        payload: WqePayload<'a>,
    },
    /// READ.
    Read {
        /// Peer (data source) STag and TO.
        remote: RemoteAddrSeg,
        /// The one sink.
        sink: DataSeg,
    },
    /// FAST_REG.
    FastReg {
        /// The segment.
        seg: FastRegSeg,
        /// Its page list.
        pages: FastRegPages<'a>,
    },
    /// BIND.
    Bind(BindSeg),
    /// LOCAL_INV of INV_STAG.
    LocalInv,
}

/// A decoded send WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendWqe<'a> {
    /// Control segment.
    pub ctrl: CtrlSeg,
    /// Operation.
    pub op: SendWqeOp<'a>,
}

impl<'a> SendWqe<'a> {
    /// Decodes the WQE at the start of `slot` (the device's WQE_INDEX check is the caller's).
    pub fn decode(slot: &'a [u8]) -> Result<SendWqe<'a>, WqeError> {
        let ctrl = CtrlSeg::decode(slot)?;
        let ds = ctrl.ds_count;
        if !(2..=MAX_DS_COUNT).contains(&ds) {
            return Err(WqeError::BadDsCount(ds));
        }
        let wqe = slot
            .get(..usize::from(ds) * UNIT)
            .ok_or(WqeError::SlotTooSmall)?;
        let body = wqe.get(CTRL_SEG_SIZE..).unwrap_or(&[]);
        let f = ctrl.flags;
        let op = ctrl.opcode;
        let is_send = matches!(op, SendOpcode::Send | SendOpcode::SendInv);
        if (f.contains(WqeFlags::INLINE) && !(is_send || op == SendOpcode::Write))
            || (f.contains(WqeFlags::LOCAL_INVALIDATE) && op != SendOpcode::Read)
            || (f.contains(WqeFlags::SOLICITED) && !is_send)
        {
            return Err(WqeError::BadFlags(f.bits()));
        }
        if !matches!(op, SendOpcode::SendInv | SendOpcode::LocalInv) && ctrl.inv_stag != 0 {
            return Err(WqeError::BadSegment);
        }
        let remote = |b: &[u8]| -> Result<RemoteAddrSeg, WqeError> {
            let (r, _) =
                RemoteAddrSegRaw::read_from_prefix(b).map_err(|_| WqeError::BadDsCount(ds))?;
            if r.reserved != [0; 4] {
                return Err(WqeError::BadSegment);
            }
            Ok(RemoteAddrSeg {
                remote_to: r.remote_to.get(),
                remote_stag: r.remote_stag.get(),
            })
        };
        let op = match op {
            SendOpcode::Nop | SendOpcode::LocalInv => {
                if ds != 2 {
                    return Err(WqeError::BadDsCount(ds));
                }
                if op == SendOpcode::Nop {
                    SendWqeOp::Nop
                } else {
                    SendWqeOp::LocalInv
                }
            }
            SendOpcode::Send | SendOpcode::SendInv => SendWqeOp::Send {
                payload: payload(body, f)?,
            },
            SendOpcode::Write => SendWqeOp::Write {
                remote: remote(body)?,
                payload: payload(body.get(RADDR_SEG_SIZE..).unwrap_or(&[]), f)?,
            },
            SendOpcode::Read => {
                if ds != READ_DS_COUNT {
                    return Err(WqeError::BadDsCount(ds));
                }
                let sink = body
                    .get(RADDR_SEG_SIZE..)
                    .and_then(|b| DataSegRaw::read_from_bytes(b).ok())
                    .ok_or(WqeError::BadDsCount(ds))?;
                SendWqeOp::Read {
                    remote: remote(body)?,
                    sink: DataSeg::from_raw(&sink),
                }
            }
            SendOpcode::FastReg => {
                let (r, rest) =
                    FastRegSegRaw::read_from_prefix(body).map_err(|_| WqeError::BadDsCount(ds))?;
                if r.fr_flags & !1 != 0 || r.reserved0 != [0; 2] || r.reserved1 != [0; 4] {
                    return Err(WqeError::BadSegment);
                }
                let seg = FastRegSeg {
                    stag: r.stag.get(),
                    access: AccessFlags::from_bits(r.access.get()).ok_or(WqeError::BadSegment)?,
                    page_count: r.page_count.get(),
                    log2_page_size: r.log2_page_size,
                    inline_pbl: r.fr_flags & 1 != 0,
                    iova: r.iova.get(),
                    length: r.length.get(),
                    pbl_addr: r.pbl_addr.get(),
                    first_byte_offset: r.first_byte_offset.get(),
                };
                let pages = if seg.inline_pbl {
                    let len = usize::try_from(seg.page_count)
                        .ok()
                        .and_then(|n| n.checked_mul(8))
                        .ok_or(WqeError::TooManyPages)?;
                    if rest.len() != len.next_multiple_of(UNIT) || seg.pbl_addr != 0 {
                        return Err(WqeError::BadDsCount(ds));
                    }
                    FastRegPages::Inline(rest.get(..len).ok_or(WqeError::TooManyPages)?)
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
                let r = BindSegRaw::read_from_bytes(body).map_err(|_| WqeError::BadDsCount(ds))?;
                if r.reserved != [0; 4] {
                    return Err(WqeError::BadSegment);
                }
                SendWqeOp::Bind(BindSeg {
                    mw_stag: r.mw_stag.get(),
                    mr_stag: r.mr_stag.get(),
                    access: AccessFlags::from_bits(r.access.get()).ok_or(WqeError::BadSegment)?,
                    addr: r.addr.get(),
                    length: r.length.get(),
                })
            }
        };
        Ok(SendWqe { ctrl, op })
    }
}

fn payload(body: &[u8], f: WqeFlags) -> Result<WqePayload<'_>, WqeError> {
    if f.contains(WqeFlags::INLINE) {
        let (h, rest) = U32::read_from_prefix(body).map_err(|_| WqeError::BadSegment)?;
        let h = h.get();
        let n = (h & 0xFFFF) as usize;
        if h & INLINE_SEG_MARKER == 0 || h & 0x7FFF_0000 != 0 || n > MAX_INLINE {
            return Err(WqeError::BadSegment);
        }
        if body.len() != inline_units(n) * UNIT {
            return Err(WqeError::BadSegment);
        }
        Ok(WqePayload::Inline(
            rest.get(..n).ok_or(WqeError::BadSegment)?,
        ))
    } else {
        if body.len() / DATA_SEG_SIZE > MAX_SGE {
            return Err(WqeError::TooManySges);
        }
        Ok(WqePayload::Gather(body))
    }
}

/// Bytes a `hal::SendWr` takes as a WQE (inline page list when `inline_pbl`).
pub fn send_wqe_size(wr: &SendWr<'_>, inline_pbl: bool) -> usize {
    let pl = |p: &Payload<'_>| match p {
        Payload::Sgl(s) => s.len() * DATA_SEG_SIZE,
        Payload::Inline(b) => inline_units(b.len()) * UNIT,
    };
    CTRL_SEG_SIZE
        + match &wr.op {
            SendOp::Send { payload, .. } => pl(payload),
            SendOp::Write { payload, .. } => RADDR_SEG_SIZE + pl(payload),
            SendOp::Read { .. } => RADDR_SEG_SIZE + DATA_SEG_SIZE,
            SendOp::FastRegister { pages, .. } => {
                FAST_REG_SEG_SIZE
                    + if inline_pbl {
                        (pages.len() * 8).next_multiple_of(UNIT)
                    } else {
                        0
                    }
            }
            SendOp::Bind { .. } => BIND_SEG_SIZE,
            SendOp::Invalidate { .. } => 0,
        }
}

fn put<T: IntoBytes + Immutable>(wqe: &mut [u8], off: usize, v: &T) -> Result<(), WqeError> {
    wqe.get_mut(off..)
        .and_then(|d| v.write_to_prefix(d).ok())
        .ok_or(WqeError::SlotTooSmall)
}

fn put_payload(wqe: &mut [u8], off: usize, p: &Payload<'_>) -> Result<(), WqeError> {
    match p {
        Payload::Sgl(sgl) => {
            if sgl.len() > MAX_SGE {
                return Err(WqeError::TooManySges);
            }
            for (i, s) in sgl.iter().enumerate() {
                put(wqe, off + i * DATA_SEG_SIZE, &DataSeg::from(s).raw())?;
            }
            Ok(())
        }
        Payload::Inline(data) => {
            if data.len() > MAX_INLINE {
                return Err(WqeError::InlineTooLong);
            }
            let h = INLINE_SEG_MARKER | data.len() as u32;
            put(wqe, off, &U32::new(h))?;
            let dst = wqe
                .get_mut(off + INLINE_HEADER_SIZE..off + INLINE_HEADER_SIZE + data.len())
                .ok_or(WqeError::SlotTooSmall)?;
            dst.copy_from_slice(data);
            Ok(())
        }
    }
}

/// Encodes `wr` as the WQE at the start of `slot` with WQE_INDEX `wqe_index`. A FAST_REG's page
/// list goes inline when `fast_reg_pbl` is `None`, else it must already be at that bus address.
/// Returns the WQE size in bytes; the rest of the slot is untouched.
pub fn encode_send_wqe(
    slot: &mut [u8],
    wqe_index: u16,
    wr: &SendWr<'_>,
    fast_reg_pbl: Option<u64>,
) -> Result<usize, WqeError> {
    let size = send_wqe_size(wr, fast_reg_pbl.is_none());
    if size > MAX_SQ_WQE_SIZE {
        return Err(match wr.op {
            SendOp::FastRegister { .. } => WqeError::TooManyPages,
            SendOp::Send { .. } | SendOp::Write { .. } => WqeError::TooManySges,
            _ => WqeError::SlotTooSmall,
        });
    }
    let wqe = slot.get_mut(..size).ok_or(WqeError::SlotTooSmall)?;
    wqe.fill(0);
    let mut flags = WqeFlags::empty();
    if wr.flags.contains(WrFlags::SIGNALED) {
        flags |= WqeFlags::SIGNALED;
    }
    if wr.flags.contains(WrFlags::READ_FENCE) {
        flags |= WqeFlags::FENCE;
    }
    let mut inv_stag = 0;
    let opcode = match &wr.op {
        SendOp::Send {
            payload,
            invalidate_rkey,
        } => {
            if wr.flags.contains(WrFlags::SOLICITED) {
                flags |= WqeFlags::SOLICITED;
            }
            if matches!(payload, Payload::Inline(_)) {
                flags |= WqeFlags::INLINE;
            }
            put_payload(wqe, CTRL_SEG_SIZE, payload)?;
            match invalidate_rkey {
                Some(k) => {
                    inv_stag = *k;
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
            if matches!(payload, Payload::Inline(_)) {
                flags |= WqeFlags::INLINE;
            }
            put(wqe, CTRL_SEG_SIZE, &raddr(*remote_addr, *rkey))?;
            put_payload(wqe, CTRL_SEG_SIZE + RADDR_SEG_SIZE, payload)?;
            SendOpcode::Write
        }
        SendOp::Read {
            sgl,
            remote_addr,
            rkey,
        } => {
            let [sink] = sgl else {
                return Err(WqeError::ReadSinkCount);
            };
            if wr.flags.contains(WrFlags::LOCAL_INVALIDATE) {
                flags |= WqeFlags::LOCAL_INVALIDATE;
            }
            put(wqe, CTRL_SEG_SIZE, &raddr(*remote_addr, *rkey))?;
            put(
                wqe,
                CTRL_SEG_SIZE + RADDR_SEG_SIZE,
                &DataSeg::from(sink).raw(),
            )?;
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
            let count = u32::try_from(pages.len()).map_err(|_| WqeError::TooManyPages)?;
            let seg = FastRegSegRaw {
                stag: U32::new(*key),
                access: U32::new(AccessFlags::from_hal(*access).bits()),
                page_count: U32::new(count),
                log2_page_size: HOST_PAGE_LOG2,
                fr_flags: u8::from(fast_reg_pbl.is_none()),
                reserved0: [0; 2],
                iova: U64::new(*iova),
                length: U64::new(*length),
                pbl_addr: U64::new(fast_reg_pbl.unwrap_or(0)),
                first_byte_offset: U32::new(*first_byte_offset),
                reserved1: [0; 4],
            };
            put(wqe, CTRL_SEG_SIZE, &seg)?;
            if fast_reg_pbl.is_none() {
                for (i, p) in pages.iter().enumerate() {
                    put(wqe, FAST_REG_INLINE_PBL_OFFSET + i * 8, &U64::new(*p))?;
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
            let seg = BindSegRaw {
                mw_stag: U32::new(*mw_rkey),
                mr_stag: U32::new(*mr_lkey),
                access: U32::new(AccessFlags::from_hal(*access).bits()),
                reserved: [0; 4],
                addr: U64::new(*addr),
                length: U64::new(*length),
            };
            put(wqe, CTRL_SEG_SIZE, &seg)?;
            SendOpcode::Bind
        }
        SendOp::Invalidate { key } => {
            inv_stag = *key;
            SendOpcode::LocalInv
        }
    };
    let ctrl = CtrlSeg {
        opcode,
        flags,
        wqe_index,
        ds_count: (size / UNIT) as u8,
        inv_stag,
        wr_id: wr.wr_id,
    };
    put(wqe, 0, &ctrl.raw())?;
    Ok(size)
}

fn raddr(to: u64, stag: u32) -> RemoteAddrSegRaw {
    RemoteAddrSegRaw {
        remote_to: U64::new(to),
        remote_stag: U32::new(stag),
        reserved: [0; 4],
    }
}

/// The smallest SQ stride (log2 bytes, 7..=9) holding every opcode for a QP's limits; at least
/// 128 bytes, because any QP may post a FAST_REG with a host page list.
pub fn sq_stride_log2(max_sge: usize, max_inline: usize) -> Option<u8> {
    if max_sge > MAX_SGE || max_inline > MAX_INLINE {
        return None;
    }
    let sgl = CTRL_SEG_SIZE + RADDR_SEG_SIZE + max_sge * DATA_SEG_SIZE;
    let inl = CTRL_SEG_SIZE + RADDR_SEG_SIZE + inline_units(max_inline) * UNIT;
    let fixed = CTRL_SEG_SIZE + FAST_REG_SEG_SIZE;
    let need = sgl.max(inl).max(fixed);
    (MIN_SQ_STRIDE_LOG2..=MAX_SQ_STRIDE_LOG2).find(|&k| (1usize << k) >= need)
}

/// The smallest RQ stride (log2 bytes, 5..=9) for `max_sge` data segments.
pub fn rq_stride_log2(max_sge: usize) -> Option<u8> {
    if max_sge > MAX_SGE {
        return None;
    }
    let need = RECV_HEADER_SIZE + max_sge * DATA_SEG_SIZE;
    (MIN_RQ_STRIDE_LOG2..=MAX_RQ_STRIDE_LOG2).find(|&k| (1usize << k) >= need)
}

/// Encodes a receive WQE at the start of `slot`; returns its size.
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
    let h = RecvHeaderRaw {
        wr_id: U64::new(wr.wr_id),
        wqe_index: U16::new(wqe_index),
        num_sge: wr.sgl.len() as u8,
        reserved: [0; 5],
    };
    put(wqe, 0, &h)?;
    for (i, s) in wr.sgl.iter().enumerate() {
        put(
            wqe,
            RECV_HEADER_SIZE + i * DATA_SEG_SIZE,
            &DataSeg::from(s).raw(),
        )?;
    }
    Ok(size)
}

/// A decoded receive WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvWqe<'a> {
    /// WR_ID.
    pub wr_id: u64,
    /// WQE_INDEX.
    pub wqe_index: u16,
    segs: &'a [u8],
}

impl<'a> RecvWqe<'a> {
    /// Decodes the receive WQE at the start of `slot`.
    pub fn decode(slot: &'a [u8]) -> Result<RecvWqe<'a>, WqeError> {
        let (h, rest) =
            RecvHeaderRaw::read_from_prefix(slot).map_err(|_| WqeError::SlotTooSmall)?;
        let n = usize::from(h.num_sge);
        if n > MAX_SGE || h.reserved != [0; 5] {
            return Err(WqeError::TooManySges);
        }
        Ok(RecvWqe {
            wr_id: h.wr_id.get(),
            wqe_index: h.wqe_index.get(),
            segs: rest
                .get(..n * DATA_SEG_SIZE)
                .ok_or(WqeError::SlotTooSmall)?,
        })
    }

    /// The scatter list.
    pub fn segments(&self) -> impl Iterator<Item = DataSeg> + 'a {
        data_segs(self.segs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;
    use hal::Access;

    fn sge(addr: u64, length: u32, lkey: u32) -> Sge {
        Sge { addr, length, lkey }
    }

    #[test]
    fn segment_offsets_match_the_manual() {
        assert_eq!(offset_of!(CtrlSegRaw, flags), 0x01);
        assert_eq!(offset_of!(CtrlSegRaw, wqe_index), 0x02);
        assert_eq!(offset_of!(CtrlSegRaw, ds_count), 0x04);
        assert_eq!(offset_of!(CtrlSegRaw, inv_stag), 0x08);
        assert_eq!(offset_of!(CtrlSegRaw, wr_id), 0x10);
        assert_eq!(offset_of!(RemoteAddrSegRaw, remote_stag), 0x08);
        assert_eq!(offset_of!(DataSegRaw, stag), 0x04);
        assert_eq!(offset_of!(DataSegRaw, addr), 0x08);
        assert_eq!(offset_of!(FastRegSegRaw, page_count), 0x08);
        assert_eq!(offset_of!(FastRegSegRaw, log2_page_size), 0x0C);
        assert_eq!(offset_of!(FastRegSegRaw, fr_flags), 0x0D);
        assert_eq!(offset_of!(FastRegSegRaw, iova), 0x10);
        assert_eq!(offset_of!(FastRegSegRaw, length), 0x18);
        assert_eq!(offset_of!(FastRegSegRaw, pbl_addr), 0x20);
        assert_eq!(offset_of!(FastRegSegRaw, first_byte_offset), 0x28);
        assert_eq!(offset_of!(BindSegRaw, access), 0x08);
        assert_eq!(offset_of!(BindSegRaw, addr), 0x10);
        assert_eq!(offset_of!(BindSegRaw, length), 0x18);
        assert_eq!(offset_of!(RecvHeaderRaw, wqe_index), 0x08);
        assert_eq!(offset_of!(RecvHeaderRaw, num_sge), 0x0A);
    }

    #[test]
    fn a_read_wqe_is_the_byte_image_of_the_manual() {
        let sink = [sge(0x1000, 512, 0x0000_0207)];
        let wr = SendWr {
            wr_id: 0xAA,
            op: SendOp::Read {
                sgl: &sink,
                remote_addr: 0x7000,
                rkey: 0x0000_0305,
            },
            flags: WrFlags::SIGNALED | WrFlags::LOCAL_INVALIDATE,
        };
        let mut slot = [0xEEu8; 128];
        assert_eq!(encode_send_wqe(&mut slot, 9, &wr, None), Ok(64));
        let mut img = [0u8; 64];
        img[0x00] = 0x04; // READ
        img[0x01] = 0x11; // SIGNALED | LOCAL_INVALIDATE
        img[0x02] = 9;
        img[0x04] = 4; // DS_COUNT
        img[0x10] = 0xAA;
        img[0x20..0x28].copy_from_slice(&0x7000u64.to_le_bytes());
        img[0x28..0x2C].copy_from_slice(&0x0305u32.to_le_bytes());
        img[0x30..0x34].copy_from_slice(&512u32.to_le_bytes());
        img[0x34..0x38].copy_from_slice(&0x0207u32.to_le_bytes());
        img[0x38..0x40].copy_from_slice(&0x1000u64.to_le_bytes());
        assert_eq!(&slot[..64], &img);
        assert!(
            slot[64..].iter().all(|&b| b == 0xEE),
            "rest of the slot untouched"
        );
        let d = SendWqe::decode(&slot).unwrap();
        assert_eq!(d.ctrl.opcode, SendOpcode::Read);
        assert_eq!(
            d.op,
            SendWqeOp::Read {
                remote: RemoteAddrSeg {
                    remote_to: 0x7000,
                    remote_stag: 0x0305
                },
                sink: DataSeg {
                    length: 512,
                    stag: 0x0207,
                    addr: 0x1000
                }
            }
        );
    }

    #[test]
    fn a_read_needs_exactly_one_sink() {
        let two = [sge(0, 1, 2), sge(1, 1, 2)];
        for sgl in [&two[..], &[]] {
            let wr = SendWr {
                wr_id: 1,
                op: SendOp::Read {
                    sgl,
                    remote_addr: 0,
                    rkey: 0x200,
                },
                flags: WrFlags::empty(),
            };
            let mut slot = [0u8; 128];
            assert_eq!(
                encode_send_wqe(&mut slot, 0, &wr, None),
                Err(WqeError::ReadSinkCount)
            );
        }
        // A device sees DS_COUNT 5 for a READ: BAD_DS_COUNT.
        let wr = SendWr {
            wr_id: 1,
            op: SendOp::Read {
                sgl: &two[..1],
                remote_addr: 0,
                rkey: 0x200,
            },
            flags: WrFlags::empty(),
        };
        let mut slot = [0u8; 128];
        encode_send_wqe(&mut slot, 0, &wr, None).unwrap();
        slot[4] = 5;
        let e = SendWqe::decode(&slot).unwrap_err();
        assert_eq!(e, WqeError::BadDsCount(5));
        assert_eq!(e.syndrome(), syndrome::BAD_DS_COUNT);
    }

    #[test]
    fn sends_writes_and_inline_round_trip() {
        let sgl = [sge(0x10, 100, 0x300), sge(0x20, 28, 0x300)];
        let cases = [
            SendWr {
                wr_id: 1,
                op: SendOp::Send {
                    payload: Payload::Sgl(&sgl),
                    invalidate_rkey: Some(0x0000_0401),
                },
                flags: WrFlags::SIGNALED | WrFlags::SOLICITED,
            },
            SendWr {
                wr_id: 2,
                op: SendOp::Write {
                    payload: Payload::Inline(b"hello iwarp"),
                    remote_addr: 0xFFFF_0000,
                    rkey: 0x0000_0502,
                },
                flags: WrFlags::READ_FENCE,
            },
        ];
        for wr in cases {
            let mut slot = [0u8; 256];
            let n = encode_send_wqe(&mut slot, 0xFFFF, &wr, None).unwrap();
            assert_eq!(n % UNIT, 0);
            let d = SendWqe::decode(&slot).unwrap();
            assert_eq!(d.ctrl.wr_id, wr.wr_id);
            assert_eq!(d.ctrl.wqe_index, 0xFFFF);
            assert_eq!(usize::from(d.ctrl.ds_count) * UNIT, n);
            match (wr.op, d.op) {
                (SendOp::Send { .. }, SendWqeOp::Send { payload }) => {
                    assert_eq!(d.ctrl.opcode, SendOpcode::SendInv);
                    assert_eq!(d.ctrl.inv_stag, 0x401);
                    assert!(d.ctrl.flags.contains(WqeFlags::SOLICITED));
                    assert_eq!(payload.total_length(), 128);
                    assert_eq!(payload.segments().count(), 2);
                }
                (SendOp::Write { .. }, SendWqeOp::Write { remote, payload }) => {
                    assert_eq!(remote.remote_stag, 0x502);
                    assert_eq!(payload, WqePayload::Inline(b"hello iwarp"));
                    assert!(d.ctrl.flags.contains(WqeFlags::FENCE | WqeFlags::INLINE));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn fast_reg_bind_and_invalidate_round_trip() {
        let pages = [0x1000, 0x2000, 0x3000];
        let fr = SendWr {
            wr_id: 3,
            op: SendOp::FastRegister {
                key: 0x0000_0A01,
                pages: &pages,
                first_byte_offset: 16,
                iova: 0x5000_0010,
                length: 8000,
                access: Access::LOCAL_WRITE | Access::REMOTE_WRITE,
            },
            flags: WrFlags::empty(),
        };
        let mut slot = [0u8; 256];
        assert_eq!(encode_send_wqe(&mut slot, 1, &fr, None), Ok(32 + 48 + 32));
        match SendWqe::decode(&slot).unwrap().op {
            SendWqeOp::FastReg { seg, pages: p } => {
                assert!(seg.inline_pbl);
                assert_eq!(
                    seg.access,
                    AccessFlags::LOCAL_WRITE | AccessFlags::REMOTE_WRITE
                );
                assert_eq!(p.inline_pages().collect::<alloc::vec::Vec<_>>(), pages);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(encode_send_wqe(&mut slot, 1, &fr, Some(0x9000)), Ok(80));
        assert!(matches!(
            SendWqe::decode(&slot).unwrap().op,
            SendWqeOp::FastReg {
                pages: FastRegPages::Host {
                    addr: 0x9000,
                    count: 3
                },
                ..
            }
        ));
        let bind = SendWr {
            wr_id: 4,
            op: SendOp::Bind {
                mw_rkey: 0x0B02,
                mr_lkey: 0x0A01,
                addr: 0x5000_0010,
                length: 64,
                access: Access::REMOTE_READ,
            },
            flags: WrFlags::SIGNALED,
        };
        assert_eq!(encode_send_wqe(&mut slot, 2, &bind, None), Ok(64));
        assert!(
            matches!(SendWqe::decode(&slot).unwrap().op, SendWqeOp::Bind(b) if b.mw_stag == 0x0B02)
        );
        let inv = SendWr {
            wr_id: 5,
            op: SendOp::Invalidate { key: 0x0B02 },
            flags: WrFlags::empty(),
        };
        assert_eq!(encode_send_wqe(&mut slot, 3, &inv, None), Ok(32));
        let d = SendWqe::decode(&slot).unwrap();
        assert_eq!((d.op, d.ctrl.inv_stag), (SendWqeOp::LocalInv, 0x0B02));
    }

    #[test]
    fn malformed_wqes_are_refused() {
        let mut slot = [0u8; 64];
        slot[0] = 0x08;
        slot[4] = 2;
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadOpcode(8)));
        slot[0] = 0x03; // WRITE with SOLICITED
        slot[1] = 0x04;
        slot[4] = 3;
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadFlags(0x04)));
        slot[1] = 0;
        slot[0x08] = 1; // INV_STAG on a WRITE
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadSegment));
        slot[0x08] = 0;
        slot[4] = 1;
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadDsCount(1)));
        slot[0] = 0x01; // SEND, INLINE without the marker
        slot[1] = 0x08;
        slot[4] = 3;
        assert_eq!(SendWqe::decode(&slot), Err(WqeError::BadSegment));
        assert_eq!(SendWqe::decode(&slot[..16]), Err(WqeError::SlotTooSmall));
        let wr = SendWr {
            wr_id: 0,
            op: SendOp::Send {
                payload: Payload::Inline(&[0; 257]),
                invalidate_rkey: None,
            },
            flags: WrFlags::empty(),
        };
        let mut big = [0u8; 512];
        assert_eq!(
            encode_send_wqe(&mut big, 0, &wr, None),
            Err(WqeError::InlineTooLong)
        );
        assert_eq!(
            WqeError::InlineTooLong.hal_error(),
            HalError::InvalidParameter
        );
    }

    #[test]
    fn receive_wqe_round_trip_and_strides() {
        let sgl = [sge(1, 2, 3), sge(4, 5, 6)];
        let mut slot = [0u8; 64];
        let wr = RecvWr {
            wr_id: 77,
            sgl: &sgl,
        };
        assert_eq!(encode_recv_wqe(&mut slot, 12, &wr), Ok(48));
        assert_eq!(slot[0x0A], 2);
        let d = RecvWqe::decode(&slot).unwrap();
        assert_eq!((d.wr_id, d.wqe_index), (77, 12));
        let segs: alloc::vec::Vec<_> = d.segments().collect();
        assert_eq!(segs, [DataSeg::from(&sgl[0]), DataSeg::from(&sgl[1])]);
        assert_eq!(sq_stride_log2(1, 0), Some(7), "FAST_REG needs 128 bytes");
        assert_eq!(sq_stride_log2(16, 256), Some(9));
        assert_eq!(sq_stride_log2(17, 0), None);
        assert_eq!(rq_stride_log2(1), Some(5));
        assert_eq!(rq_stride_log2(16), Some(9));
        assert_eq!(rq_stride_log2(17), None);
    }
}
