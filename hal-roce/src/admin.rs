//! Admin commands (docs/silicon/rocev2.md §6, §7): 64-byte entries of the admin queue, their
//! status codes, the QP attribute block of MODIFY_QP / QUERY_QP and the QP state machine.
//!
//! The driver builds a [`Command`] and encodes it with [`CmdEntry::encode`]; the device model
//! decodes with [`CmdEntry::decode`], which also rejects reserved bits (status BAD_PARAM), and
//! reads [`CmdHeader`] to complete an entry it cannot decode.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use core::net::IpAddr;

use bitflags::bitflags;
use hal::HalError;

use crate::bytes::{get, put, put_u16, put_u32, put_u64, put_u8, u16_at, u32_at, u64_at, u8_at};
use crate::cm::{gid_to_ip, ip_to_gid, ip_version, CM_RECORD_SIZE};
use crate::key::Key;
use crate::regs::DEVICE_ATTRS_SIZE;
use crate::wqe::AccessFlags;

/// Size of an admin queue entry.
pub const CMD_SIZE: usize = 64;
/// Size of the QP attribute block (§6.5).
pub const QP_ATTR_SIZE: usize = 128;
/// Size of QUERY_DEVICE's output (BAR0 `0x000`–`0x1FF`).
pub const QUERY_DEVICE_SIZE: usize = DEVICE_ATTRS_SIZE;
/// Tokens with this bit are driver-internal by convention (§6.1).
pub const INTERNAL_TOKEN_BIT: u64 = 1 << 63;

/// Admin command OPCODE (§6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // the names are the manual's; §6.4 describes each
pub enum Opcode {
    Nop = 0x00,
    QueryDevice = 0x01,
    SetMac = 0x02,
    SetMtu = 0x03,
    SetGid = 0x04,
    SetRxFilter = 0x05,
    CreatePd = 0x10,
    DestroyPd = 0x11,
    CreateCq = 0x20,
    ResizeCq = 0x21,
    ModifyCq = 0x22,
    DestroyCq = 0x23,
    CreateSrq = 0x30,
    ModifySrq = 0x31,
    DestroySrq = 0x32,
    CreateQp = 0x40,
    ModifyQp = 0x41,
    QueryQp = 0x42,
    DestroyQp = 0x43,
    AllocMr = 0x50,
    FreeMr = 0x51,
    RegisterMr = 0x52,
    DeregisterMr = 0x53,
    InitFastReg = 0x54,
    AllocMw = 0x55,
    FreeMw = 0x56,
    CmListen = 0x60,
    CmStopListen = 0x61,
    CmConnect = 0x62,
    CmAccept = 0x63,
    CmReject = 0x64,
    CmComplete = 0x65,
    CmDisconnect = 0x66,
    CmRelease = 0x67,
    CreateRawq = 0x70,
    FlushRawq = 0x71,
    DestroyRawq = 0x72,
}

impl Opcode {
    /// Decodes an OPCODE byte.
    pub const fn from_u8(v: u8) -> Option<Opcode> {
        use Opcode::*;
        Some(match v {
            0x00 => Nop,
            0x01 => QueryDevice,
            0x02 => SetMac,
            0x03 => SetMtu,
            0x04 => SetGid,
            0x05 => SetRxFilter,
            0x10 => CreatePd,
            0x11 => DestroyPd,
            0x20 => CreateCq,
            0x21 => ResizeCq,
            0x22 => ModifyCq,
            0x23 => DestroyCq,
            0x30 => CreateSrq,
            0x31 => ModifySrq,
            0x32 => DestroySrq,
            0x40 => CreateQp,
            0x41 => ModifyQp,
            0x42 => QueryQp,
            0x43 => DestroyQp,
            0x50 => AllocMr,
            0x51 => FreeMr,
            0x52 => RegisterMr,
            0x53 => DeregisterMr,
            0x54 => InitFastReg,
            0x55 => AllocMw,
            0x56 => FreeMw,
            0x60 => CmListen,
            0x61 => CmStopListen,
            0x62 => CmConnect,
            0x63 => CmAccept,
            0x64 => CmReject,
            0x65 => CmComplete,
            0x66 => CmDisconnect,
            0x67 => CmRelease,
            0x70 => CreateRawq,
            0x71 => FlushRawq,
            0x72 => DestroyRawq,
            _ => return None,
        })
    }
}

bitflags! {
    /// FLAGS byte of an admin entry (§6.1).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CmdFlags: u8 {
        /// No CMD_COMPLETE EQE on success (a failure still writes one).
        const SILENT = 1 << 0;
    }
}

/// Command STATUS (§6.2): the STATUS of a CMD_COMPLETE EQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CmdStatus {
    /// Success.
    Ok = 0x00,
    /// Unknown opcode.
    BadOpcode = 0x01,
    /// Malformed parameter or reserved bits set.
    BadParam = 0x02,
    /// Object number out of range or naming no object.
    BadObject = 0x03,
    /// Object exists already, or its state forbids the command.
    BadState = 0x04,
    /// Device resources exhausted.
    NoResources = 0x05,
    /// Destroy of an object still in use.
    InUse = 0x06,
    /// A size beyond a capability.
    Limit = 0x07,
    /// `CM_LISTEN` on an address already listened on.
    AddressInUse = 0x08,
    /// Feature not implemented.
    NotSupported = 0x09,
    /// A mailbox or page list could not be read.
    DmaError = 0x0A,
    /// `CM_CONNECT` without a GID for the local address.
    Unreachable = 0x0B,
    /// PD mismatch or rights not allowed.
    Access = 0x0C,
    /// Firmware error.
    Internal = 0x0D,
}

impl CmdStatus {
    /// Decodes a STATUS byte.
    pub const fn from_u8(v: u8) -> Option<CmdStatus> {
        use CmdStatus::*;
        Some(match v {
            0x00 => Ok,
            0x01 => BadOpcode,
            0x02 => BadParam,
            0x03 => BadObject,
            0x04 => BadState,
            0x05 => NoResources,
            0x06 => InUse,
            0x07 => Limit,
            0x08 => AddressInUse,
            0x09 => NotSupported,
            0x0A => DmaError,
            0x0B => Unreachable,
            0x0C => Access,
            0x0D => Internal,
            _ => return None,
        })
    }

    /// The `hal` error of a failed command (§6.2); `None` for [`CmdStatus::Ok`].
    pub const fn hal_error(self) -> Option<HalError> {
        use CmdStatus::*;
        Some(match self {
            Ok => return None,
            BadOpcode | NotSupported => HalError::NotSupported,
            BadParam | BadObject => HalError::InvalidParameter,
            BadState | InUse => HalError::InvalidState,
            NoResources => HalError::NoResources,
            Limit => HalError::ImplementationLimit,
            AddressInUse => HalError::AddressInUse,
            DmaError | Internal => HalError::Fatal,
            Unreachable => HalError::NetworkUnreachable,
            Access => HalError::AccessViolation,
        })
    }
}

/// A buffer in host memory named by a command (§6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mailbox {
    /// MAILBOX_ADDR: bus address, 8-byte aligned.
    pub addr: u64,
    /// MAILBOX_LEN in bytes.
    pub len: u32,
}

impl Mailbox {
    /// True when aligned and at least `min_len` bytes long.
    pub const fn fits(&self, min_len: usize) -> bool {
        self.addr % 8 == 0 && self.len as usize >= min_len
    }
}

/// GID entry type of SET_GID (§6.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GidType {
    /// Clear the entry.
    Clear = 0,
    /// RoCEv2, IPv4-mapped GID.
    RoceV2Ipv4 = 1,
    /// RoCEv2, IPv6 GID.
    RoceV2Ipv6 = 2,
}

impl GidType {
    /// Decodes a TYPE byte.
    pub const fn from_u8(v: u8) -> Option<GidType> {
        Some(match v {
            0 => GidType::Clear,
            1 => GidType::RoceV2Ipv4,
            2 => GidType::RoceV2Ipv6,
            _ => return None,
        })
    }
}

/// MR kind of ALLOC_MR (§6.4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MrKind {
    /// Registered with REGISTER_MR.
    Registered = 0,
    /// Registered by FAST_REG WQEs after INIT_FAST_REG.
    FastRegister = 1,
}

impl MrKind {
    /// Decodes a KIND byte.
    pub const fn from_u8(v: u8) -> Option<MrKind> {
        Some(match v {
            0 => MrKind::Registered,
            1 => MrKind::FastRegister,
            _ => return None,
        })
    }
}

impl From<hal::MrKind> for MrKind {
    fn from(k: hal::MrKind) -> MrKind {
        match k {
            hal::MrKind::Registered => MrKind::Registered,
            hal::MrKind::FastRegister => MrKind::FastRegister,
        }
    }
}

/// Parameters of CREATE_CQ (§6.4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateCq {
    /// CQN (OBJECT).
    pub cqn: u32,
    /// LOG2_SIZE: ring entries, 1..=22; usable depth one less.
    pub log2_size: u8,
    /// EQN (0 in revision 1).
    pub eqn: u8,
    /// MOD_COUNT: CQEs before a notify, 0 = off.
    pub mod_count: u16,
    /// MOD_PERIOD: µs before a notify, 0 = off.
    pub mod_period: u16,
    /// RING_ADDR.
    pub ring_addr: u64,
    /// DBREC_ADDR of the CQ doorbell record.
    pub dbrec_addr: u64,
    /// CQ_CONTEXT.
    pub cq_context: u64,
}

/// Parameters of CREATE_SRQ (§6.4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateSrq {
    /// SRQN (OBJECT).
    pub srqn: u32,
    /// PDN.
    pub pdn: u32,
    /// LOG2_DEPTH.
    pub log2_depth: u8,
    /// LOG2_STRIDE (5..=9).
    pub log2_stride: u8,
    /// LIMIT, 0 = not armed.
    pub limit: u32,
    /// RING_ADDR.
    pub ring_addr: u64,
    /// RECORD_ADDR of the SRQ record.
    pub record_addr: u64,
    /// SRQ_CONTEXT.
    pub srq_context: u64,
}

/// Parameters of CREATE_QP (§6.4.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateQp {
    /// QPN (OBJECT), ≥ 2.
    pub qpn: u32,
    /// PDN.
    pub pdn: u32,
    /// SEND_CQN.
    pub send_cqn: u32,
    /// RECV_CQN.
    pub recv_cqn: u32,
    /// SRQN; `Some` sets MODIFIER.USE_SRQ.
    pub srqn: Option<u32>,
    /// LOG2_SQ_DEPTH.
    pub log2_sq_depth: u8,
    /// LOG2_SQ_STRIDE (6..=9).
    pub log2_sq_stride: u8,
    /// LOG2_RQ_DEPTH (0 with an SRQ).
    pub log2_rq_depth: u8,
    /// LOG2_RQ_STRIDE (5..=9; 0 with an SRQ).
    pub log2_rq_stride: u8,
    /// QP_CONTEXT, reported in every CQE.
    pub qp_context: u64,
    /// BUF_ADDR: SQ ring, then RQ ring.
    pub buf_addr: u64,
    /// RECORD_ADDR of the QP record.
    pub record_addr: u64,
}

impl CreateQp {
    /// Byte offset of the RQ ring in the queue buffer (the SQ ring's size); `None` when the
    /// sizes are out of any range.
    pub const fn rq_offset(&self) -> Option<u64> {
        1u64.checked_shl(self.log2_sq_depth as u32 + self.log2_sq_stride as u32)
    }
}

/// Parameters of REGISTER_MR (§6.4.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterMr {
    /// The new key (OBJECT).
    pub key: Key,
    /// ACCESS.
    pub access: AccessFlags,
    /// LOG2_PAGE_SIZE.
    pub log2_page_size: u8,
    /// PBL_LEVELS: 0 contiguous, 1 list, 2 two-level.
    pub pbl_levels: u8,
    /// IOVA of the first byte.
    pub iova: u64,
    /// LENGTH in bytes.
    pub length: u64,
    /// PAGE_COUNT.
    pub page_count: u32,
    /// FIRST_BYTE_OFFSET.
    pub first_byte_offset: u32,
    /// PBL_ADDR.
    pub pbl_addr: u64,
}

/// Page addresses per leaf page of a two-level page list (§6.4.7).
pub const PBL_LEAF_ENTRIES: usize = 512;

/// Parameters of CM_LISTEN (§6.4.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmListen {
    /// Listen id (OBJECT).
    pub listen_id: u32,
    /// IP (unspecified = any local address of its version); sets IP_VERSION.
    pub ip: IpAddr,
    /// PORT.
    pub port: u16,
    /// LISTEN_CONTEXT.
    pub listen_context: u64,
}

/// CREATE_RAWQ parameters (§14.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateRawq {
    /// Raw queue number (OBJECT), below `raw::MAX_RAWQ`.
    pub rawqn: u32,
    /// LOG2_SQ_DEPTH: send descriptors, log2.
    pub log2_sq_depth: u8,
    /// LOG2_RQ_DEPTH: receive descriptors, log2.
    pub log2_rq_depth: u8,
    /// LOG2_CQ_SIZE: raw completions, log2; the ring holds both depths together.
    pub log2_cq_size: u8,
    /// SQ_ADDR: send ring, 4 KiB aligned, contiguous.
    pub sq_addr: u64,
    /// RQ_ADDR: receive ring, 4 KiB aligned, contiguous.
    pub rq_addr: u64,
    /// CQ_ADDR: completion ring, 4 KiB aligned, contiguous, zeroed.
    pub cq_addr: u64,
    /// RAWQ_CONTEXT: reported in RAW_NOTIFY.
    pub context: u64,
}

/// An admin command with its parameters (§6.3, §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are the manual's parameters; §6.4 describes each
pub enum Command {
    Nop,
    QueryDevice {
        out: Mailbox,
    },
    SetMac {
        mac: [u8; 6],
    },
    SetMtu {
        mtu: u32,
    },
    SetGid {
        index: u32,
        gid_type: GidType,
        gid: [u8; 16],
    },
    CreatePd {
        pdn: u32,
    },
    DestroyPd {
        pdn: u32,
    },
    CreateCq(CreateCq),
    ResizeCq {
        cqn: u32,
        log2_size: u8,
        ring_addr: u64,
    },
    ModifyCq {
        cqn: u32,
        mod_count: u16,
        mod_period: u16,
    },
    DestroyCq {
        cqn: u32,
    },
    CreateSrq(CreateSrq),
    ModifySrq {
        srqn: u32,
        limit: u32,
    },
    DestroySrq {
        srqn: u32,
    },
    CreateQp(CreateQp),
    ModifyQp {
        qpn: u32,
        attr: Mailbox,
    },
    QueryQp {
        qpn: u32,
        out: Mailbox,
    },
    DestroyQp {
        qpn: u32,
    },
    AllocMr {
        key: Key,
        pdn: u32,
        kind: MrKind,
    },
    FreeMr {
        key: Key,
    },
    RegisterMr(RegisterMr),
    DeregisterMr {
        key: Key,
    },
    InitFastReg {
        key: Key,
        max_pages: u32,
        access: AccessFlags,
    },
    AllocMw {
        key: Key,
        pdn: u32,
    },
    FreeMw {
        key: Key,
    },
    CmListen(CmListen),
    CmStopListen {
        listen_id: u32,
    },
    CmConnect {
        conn_id: u32,
        record: Mailbox,
    },
    CmAccept {
        conn_id: u32,
        record: Mailbox,
    },
    CmReject {
        conn_id: u32,
        record: Mailbox,
    },
    CmComplete {
        conn_id: u32,
    },
    CmDisconnect {
        conn_id: u32,
    },
    CmRelease {
        conn_id: u32,
    },
    SetRxFilter {
        filter: crate::raw::RxFilter,
    },
    CreateRawq(CreateRawq),
    FlushRawq {
        rawqn: u32,
    },
    DestroyRawq {
        rawqn: u32,
    },
}

impl Command {
    /// The command's OPCODE.
    pub const fn opcode(&self) -> Opcode {
        use Command as C;
        match self {
            C::Nop => Opcode::Nop,
            C::QueryDevice { .. } => Opcode::QueryDevice,
            C::SetMac { .. } => Opcode::SetMac,
            C::SetMtu { .. } => Opcode::SetMtu,
            C::SetGid { .. } => Opcode::SetGid,
            C::CreatePd { .. } => Opcode::CreatePd,
            C::DestroyPd { .. } => Opcode::DestroyPd,
            C::CreateCq(_) => Opcode::CreateCq,
            C::ResizeCq { .. } => Opcode::ResizeCq,
            C::ModifyCq { .. } => Opcode::ModifyCq,
            C::DestroyCq { .. } => Opcode::DestroyCq,
            C::CreateSrq(_) => Opcode::CreateSrq,
            C::ModifySrq { .. } => Opcode::ModifySrq,
            C::DestroySrq { .. } => Opcode::DestroySrq,
            C::CreateQp(_) => Opcode::CreateQp,
            C::ModifyQp { .. } => Opcode::ModifyQp,
            C::QueryQp { .. } => Opcode::QueryQp,
            C::DestroyQp { .. } => Opcode::DestroyQp,
            C::AllocMr { .. } => Opcode::AllocMr,
            C::FreeMr { .. } => Opcode::FreeMr,
            C::RegisterMr(_) => Opcode::RegisterMr,
            C::DeregisterMr { .. } => Opcode::DeregisterMr,
            C::InitFastReg { .. } => Opcode::InitFastReg,
            C::AllocMw { .. } => Opcode::AllocMw,
            C::FreeMw { .. } => Opcode::FreeMw,
            C::CmListen(_) => Opcode::CmListen,
            C::CmStopListen { .. } => Opcode::CmStopListen,
            C::CmConnect { .. } => Opcode::CmConnect,
            C::CmAccept { .. } => Opcode::CmAccept,
            C::CmReject { .. } => Opcode::CmReject,
            C::CmComplete { .. } => Opcode::CmComplete,
            C::CmDisconnect { .. } => Opcode::CmDisconnect,
            C::CmRelease { .. } => Opcode::CmRelease,
            C::SetRxFilter { .. } => Opcode::SetRxFilter,
            C::CreateRawq(_) => Opcode::CreateRawq,
            C::FlushRawq { .. } => Opcode::FlushRawq,
            C::DestroyRawq { .. } => Opcode::DestroyRawq,
        }
    }

    /// The OBJECT field: the number of the object the command acts on, else 0.
    pub const fn object(&self) -> u32 {
        use Command as C;
        match self {
            C::Nop
            | C::QueryDevice { .. }
            | C::SetMac { .. }
            | C::SetMtu { .. }
            | C::SetRxFilter { .. } => 0,
            C::CreateRawq(r) => r.rawqn,
            C::FlushRawq { rawqn } | C::DestroyRawq { rawqn } => *rawqn,
            C::SetGid { index, .. } => *index,
            C::CreatePd { pdn } | C::DestroyPd { pdn } => *pdn,
            C::CreateCq(c) => c.cqn,
            C::ResizeCq { cqn, .. } | C::ModifyCq { cqn, .. } | C::DestroyCq { cqn } => *cqn,
            C::CreateSrq(s) => s.srqn,
            C::ModifySrq { srqn, .. } | C::DestroySrq { srqn } => *srqn,
            C::CreateQp(q) => q.qpn,
            C::ModifyQp { qpn, .. } | C::QueryQp { qpn, .. } | C::DestroyQp { qpn } => *qpn,
            C::AllocMr { key, .. }
            | C::FreeMr { key }
            | C::DeregisterMr { key }
            | C::InitFastReg { key, .. }
            | C::AllocMw { key, .. }
            | C::FreeMw { key } => key.0,
            C::RegisterMr(r) => r.key.0,
            C::CmListen(l) => l.listen_id,
            C::CmStopListen { listen_id } => *listen_id,
            C::CmConnect { conn_id, .. }
            | C::CmAccept { conn_id, .. }
            | C::CmReject { conn_id, .. }
            | C::CmComplete { conn_id }
            | C::CmDisconnect { conn_id }
            | C::CmRelease { conn_id } => *conn_id,
        }
    }

    /// The command's mailbox and the length it needs (input or output), if it has one.
    pub const fn mailbox(&self) -> Option<(Mailbox, usize)> {
        use Command as C;
        match self {
            C::QueryDevice { out } => Some((*out, QUERY_DEVICE_SIZE)),
            C::ModifyQp { attr: m, .. } | C::QueryQp { out: m, .. } => Some((*m, QP_ATTR_SIZE)),
            C::CmConnect { record: m, .. }
            | C::CmAccept { record: m, .. }
            | C::CmReject { record: m, .. } => Some((*m, CM_RECORD_SIZE)),
            _ => None,
        }
    }

    const fn modifier(&self) -> u16 {
        match self {
            Command::CreateQp(CreateQp { srqn: Some(_), .. }) => 1,
            _ => 0,
        }
    }

    fn encode_params(&self, b: &mut [u8; CMD_SIZE]) {
        use Command as C;
        let mailbox = |b: &mut [u8; CMD_SIZE], m: &Mailbox| {
            put_u64(b, 0x30, m.addr);
            put_u32(b, 0x38, m.len);
        };
        match self {
            C::Nop
            | C::CreatePd { .. }
            | C::DestroyPd { .. }
            | C::DestroyCq { .. }
            | C::DestroySrq { .. }
            | C::DestroyQp { .. }
            | C::FreeMr { .. }
            | C::DeregisterMr { .. }
            | C::FreeMw { .. }
            | C::CmStopListen { .. }
            | C::CmComplete { .. }
            | C::CmDisconnect { .. }
            | C::CmRelease { .. }
            | C::FlushRawq { .. }
            | C::DestroyRawq { .. } => {}
            C::SetRxFilter { filter } => put_u32(b, 0x10, filter.bits()),
            C::CreateRawq(r) => {
                put_u8(b, 0x10, r.log2_sq_depth);
                put_u8(b, 0x11, r.log2_rq_depth);
                put_u8(b, 0x12, r.log2_cq_size);
                put_u64(b, 0x18, r.sq_addr);
                put_u64(b, 0x20, r.rq_addr);
                put_u64(b, 0x28, r.cq_addr);
                put_u64(b, 0x30, r.context);
            }
            C::QueryDevice { out: m }
            | C::ModifyQp { attr: m, .. }
            | C::QueryQp { out: m, .. }
            | C::CmConnect { record: m, .. }
            | C::CmAccept { record: m, .. }
            | C::CmReject { record: m, .. } => mailbox(b, m),
            C::SetMac { mac } => put(b, 0x10, mac),
            C::SetMtu { mtu } => put_u32(b, 0x10, *mtu),
            C::SetGid { gid_type, gid, .. } => {
                put_u8(b, 0x10, *gid_type as u8);
                put(b, 0x20, gid);
            }
            C::CreateCq(c) => {
                put_u8(b, 0x10, c.log2_size);
                put_u8(b, 0x11, c.eqn);
                put_u16(b, 0x12, c.mod_count);
                put_u16(b, 0x14, c.mod_period);
                put_u64(b, 0x18, c.ring_addr);
                put_u64(b, 0x20, c.dbrec_addr);
                put_u64(b, 0x28, c.cq_context);
            }
            C::ResizeCq {
                log2_size,
                ring_addr,
                ..
            } => {
                put_u8(b, 0x10, *log2_size);
                put_u64(b, 0x18, *ring_addr);
            }
            C::ModifyCq {
                mod_count,
                mod_period,
                ..
            } => {
                put_u16(b, 0x12, *mod_count);
                put_u16(b, 0x14, *mod_period);
            }
            C::CreateSrq(s) => {
                put_u32(b, 0x10, s.pdn);
                put_u8(b, 0x14, s.log2_depth);
                put_u8(b, 0x15, s.log2_stride);
                put_u32(b, 0x18, s.limit);
                put_u64(b, 0x20, s.ring_addr);
                put_u64(b, 0x28, s.record_addr);
                put_u64(b, 0x30, s.srq_context);
            }
            C::ModifySrq { limit, .. } => put_u32(b, 0x10, *limit),
            C::CreateQp(q) => {
                put_u32(b, 0x10, q.pdn);
                put_u32(b, 0x14, q.send_cqn);
                put_u32(b, 0x18, q.recv_cqn);
                put_u32(b, 0x1C, q.srqn.unwrap_or(0));
                put_u8(b, 0x20, q.log2_sq_depth);
                put_u8(b, 0x21, q.log2_sq_stride);
                put_u8(b, 0x22, q.log2_rq_depth);
                put_u8(b, 0x23, q.log2_rq_stride);
                put_u64(b, 0x28, q.qp_context);
                put_u64(b, 0x30, q.buf_addr);
                put_u64(b, 0x38, q.record_addr);
            }
            C::AllocMr { pdn, kind, .. } => {
                put_u32(b, 0x10, *pdn);
                put_u8(b, 0x14, *kind as u8);
            }
            C::RegisterMr(r) => {
                put_u32(b, 0x10, r.access.bits());
                put_u8(b, 0x14, r.log2_page_size);
                put_u8(b, 0x15, r.pbl_levels);
                put_u64(b, 0x18, r.iova);
                put_u64(b, 0x20, r.length);
                put_u32(b, 0x28, r.page_count);
                put_u32(b, 0x2C, r.first_byte_offset);
                put_u64(b, 0x30, r.pbl_addr);
            }
            C::InitFastReg {
                max_pages, access, ..
            } => {
                put_u32(b, 0x10, *max_pages);
                put_u32(b, 0x14, access.bits());
            }
            C::AllocMw { pdn, .. } => put_u32(b, 0x10, *pdn),
            C::CmListen(l) => {
                put_u8(b, 0x10, ip_version(&l.ip));
                put_u16(b, 0x12, l.port);
                put_u64(b, 0x18, l.listen_context);
                put(b, 0x20, &ip_to_gid(l.ip));
            }
        }
    }

    fn decode_params(op: Opcode, h: &CmdHeader, b: &[u8; CMD_SIZE]) -> Option<Command> {
        use Command as C;
        let obj = h.object;
        let key = Key(obj);
        let mailbox = || Mailbox {
            addr: u64_at(b, 0x30),
            len: u32_at(b, 0x38),
        };
        Some(match op {
            Opcode::Nop => C::Nop,
            Opcode::QueryDevice => C::QueryDevice { out: mailbox() },
            Opcode::SetMac => C::SetMac { mac: get(b, 0x10) },
            Opcode::SetMtu => C::SetMtu {
                mtu: u32_at(b, 0x10),
            },
            Opcode::SetGid => C::SetGid {
                index: obj,
                gid_type: GidType::from_u8(u8_at(b, 0x10))?,
                gid: get(b, 0x20),
            },
            Opcode::CreatePd => C::CreatePd { pdn: obj },
            Opcode::DestroyPd => C::DestroyPd { pdn: obj },
            Opcode::CreateCq => C::CreateCq(CreateCq {
                cqn: obj,
                log2_size: u8_at(b, 0x10),
                eqn: u8_at(b, 0x11),
                mod_count: u16_at(b, 0x12),
                mod_period: u16_at(b, 0x14),
                ring_addr: u64_at(b, 0x18),
                dbrec_addr: u64_at(b, 0x20),
                cq_context: u64_at(b, 0x28),
            }),
            Opcode::ResizeCq => C::ResizeCq {
                cqn: obj,
                log2_size: u8_at(b, 0x10),
                ring_addr: u64_at(b, 0x18),
            },
            Opcode::ModifyCq => C::ModifyCq {
                cqn: obj,
                mod_count: u16_at(b, 0x12),
                mod_period: u16_at(b, 0x14),
            },
            Opcode::DestroyCq => C::DestroyCq { cqn: obj },
            Opcode::CreateSrq => C::CreateSrq(CreateSrq {
                srqn: obj,
                pdn: u32_at(b, 0x10),
                log2_depth: u8_at(b, 0x14),
                log2_stride: u8_at(b, 0x15),
                limit: u32_at(b, 0x18),
                ring_addr: u64_at(b, 0x20),
                record_addr: u64_at(b, 0x28),
                srq_context: u64_at(b, 0x30),
            }),
            Opcode::ModifySrq => C::ModifySrq {
                srqn: obj,
                limit: u32_at(b, 0x10),
            },
            Opcode::DestroySrq => C::DestroySrq { srqn: obj },
            Opcode::CreateQp => C::CreateQp(CreateQp {
                qpn: obj,
                pdn: u32_at(b, 0x10),
                send_cqn: u32_at(b, 0x14),
                recv_cqn: u32_at(b, 0x18),
                srqn: (h.modifier & 1 != 0).then(|| u32_at(b, 0x1C)),
                log2_sq_depth: u8_at(b, 0x20),
                log2_sq_stride: u8_at(b, 0x21),
                log2_rq_depth: u8_at(b, 0x22),
                log2_rq_stride: u8_at(b, 0x23),
                qp_context: u64_at(b, 0x28),
                buf_addr: u64_at(b, 0x30),
                record_addr: u64_at(b, 0x38),
            }),
            Opcode::ModifyQp => C::ModifyQp {
                qpn: obj,
                attr: mailbox(),
            },
            Opcode::QueryQp => C::QueryQp {
                qpn: obj,
                out: mailbox(),
            },
            Opcode::DestroyQp => C::DestroyQp { qpn: obj },
            Opcode::AllocMr => C::AllocMr {
                key,
                pdn: u32_at(b, 0x10),
                kind: MrKind::from_u8(u8_at(b, 0x14))?,
            },
            Opcode::FreeMr => C::FreeMr { key },
            Opcode::RegisterMr => C::RegisterMr(RegisterMr {
                key,
                access: AccessFlags::from_bits(u32_at(b, 0x10))?,
                log2_page_size: u8_at(b, 0x14),
                pbl_levels: u8_at(b, 0x15),
                iova: u64_at(b, 0x18),
                length: u64_at(b, 0x20),
                page_count: u32_at(b, 0x28),
                first_byte_offset: u32_at(b, 0x2C),
                pbl_addr: u64_at(b, 0x30),
            }),
            Opcode::DeregisterMr => C::DeregisterMr { key },
            Opcode::InitFastReg => C::InitFastReg {
                key,
                max_pages: u32_at(b, 0x10),
                access: AccessFlags::from_bits(u32_at(b, 0x14))?,
            },
            Opcode::AllocMw => C::AllocMw {
                key,
                pdn: u32_at(b, 0x10),
            },
            Opcode::FreeMw => C::FreeMw { key },
            Opcode::CmListen => C::CmListen(CmListen {
                listen_id: obj,
                ip: gid_to_ip(&get(b, 0x20), u8_at(b, 0x10))?,
                port: u16_at(b, 0x12),
                listen_context: u64_at(b, 0x18),
            }),
            Opcode::CmStopListen => C::CmStopListen { listen_id: obj },
            Opcode::CmConnect => C::CmConnect {
                conn_id: obj,
                record: mailbox(),
            },
            Opcode::CmAccept => C::CmAccept {
                conn_id: obj,
                record: mailbox(),
            },
            Opcode::CmReject => C::CmReject {
                conn_id: obj,
                record: mailbox(),
            },
            Opcode::CmComplete => C::CmComplete { conn_id: obj },
            Opcode::CmDisconnect => C::CmDisconnect { conn_id: obj },
            Opcode::CmRelease => C::CmRelease { conn_id: obj },
            Opcode::SetRxFilter => C::SetRxFilter {
                filter: crate::raw::RxFilter::from_bits(u32_at(b, 0x10))?,
            },
            Opcode::CreateRawq => C::CreateRawq(CreateRawq {
                rawqn: obj,
                log2_sq_depth: u8_at(b, 0x10),
                log2_rq_depth: u8_at(b, 0x11),
                log2_cq_size: u8_at(b, 0x12),
                sq_addr: u64_at(b, 0x18),
                rq_addr: u64_at(b, 0x20),
                cq_addr: u64_at(b, 0x28),
                context: u64_at(b, 0x30),
            }),
            Opcode::FlushRawq => C::FlushRawq { rawqn: obj },
            Opcode::DestroyRawq => C::DestroyRawq { rawqn: obj },
        })
    }
}

/// The header fields of an admin entry, readable from any entry (also one that fails to
/// decode), so a device can complete it with its token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CmdHeader {
    /// OPCODE byte.
    pub opcode: u8,
    /// FLAGS byte.
    pub flags: u8,
    /// MODIFIER.
    pub modifier: u16,
    /// OBJECT.
    pub object: u32,
    /// TOKEN.
    pub token: u64,
}

impl CmdHeader {
    /// Reads the header of an entry.
    pub fn decode(raw: &[u8; CMD_SIZE]) -> CmdHeader {
        CmdHeader {
            opcode: u8_at(raw, 0x00),
            flags: u8_at(raw, 0x01),
            modifier: u16_at(raw, 0x02),
            object: u32_at(raw, 0x04),
            token: u64_at(raw, 0x08),
        }
    }

    /// True when the entry asks for no completion on success (a device still completes
    /// failures).
    pub const fn silent(&self) -> bool {
        self.flags & CmdFlags::SILENT.bits() != 0
    }
}

/// Why an admin entry could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdDecodeError {
    /// Unknown OPCODE.
    BadOpcode(u8),
    /// A malformed parameter or a reserved bit set.
    BadParam,
}

impl CmdDecodeError {
    /// The STATUS a device completes such an entry with.
    pub const fn status(self) -> CmdStatus {
        match self {
            CmdDecodeError::BadOpcode(_) => CmdStatus::BadOpcode,
            CmdDecodeError::BadParam => CmdStatus::BadParam,
        }
    }
}

/// An admin queue entry: a command, its flags and its token (§6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdEntry {
    /// The command.
    pub command: Command,
    /// FLAGS.
    pub flags: CmdFlags,
    /// TOKEN, returned in the CMD_COMPLETE EQE.
    pub token: u64,
}

impl CmdEntry {
    /// Encodes the entry.
    pub fn encode(&self) -> [u8; CMD_SIZE] {
        let mut b = [0u8; CMD_SIZE];
        put_u8(&mut b, 0x00, self.command.opcode() as u8);
        put_u8(&mut b, 0x01, self.flags.bits());
        put_u16(&mut b, 0x02, self.command.modifier());
        put_u32(&mut b, 0x04, self.command.object());
        put_u64(&mut b, 0x08, self.token);
        self.command.encode_params(&mut b);
        b
    }

    /// Decodes an entry; every reserved bit (in the header and in PARAMS) must be zero.
    pub fn decode(raw: &[u8; CMD_SIZE]) -> Result<CmdEntry, CmdDecodeError> {
        let h = CmdHeader::decode(raw);
        let op = Opcode::from_u8(h.opcode).ok_or(CmdDecodeError::BadOpcode(h.opcode))?;
        let flags = CmdFlags::from_bits(h.flags).ok_or(CmdDecodeError::BadParam)?;
        let command = Command::decode_params(op, &h, raw).ok_or(CmdDecodeError::BadParam)?;
        let entry = CmdEntry {
            command,
            flags,
            token: h.token,
        };
        // Every field of every command is re-encoded at its place, so any difference is a
        // reserved bit (or a non-canonical value, e.g. an IPv4 address not IPv4-mapped).
        if entry.encode() != *raw {
            return Err(CmdDecodeError::BadParam);
        }
        Ok(entry)
    }
}

/// QP state (§7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum QpState {
    /// Created; WQEs held.
    #[default]
    Reset = 0,
    /// Initialized; receives kept.
    Init = 1,
    /// Ready to receive.
    Rtr = 2,
    /// Ready to send.
    Rts = 3,
    /// Error; everything flushes.
    Err = 6,
}

impl QpState {
    /// Decodes a STATE byte.
    pub const fn from_u8(v: u8) -> Option<QpState> {
        Some(match v {
            0 => QpState::Reset,
            1 => QpState::Init,
            2 => QpState::Rtr,
            3 => QpState::Rts,
            6 => QpState::Err,
            _ => return None,
        })
    }
}

/// Path MTU (§6.5).
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
    /// Decodes a PATH_MTU byte.
    pub const fn from_u8(v: u8) -> Option<PathMtu> {
        Some(match v {
            1 => PathMtu::Mtu256,
            2 => PathMtu::Mtu512,
            3 => PathMtu::Mtu1024,
            4 => PathMtu::Mtu2048,
            5 => PathMtu::Mtu4096,
            _ => return None,
        })
    }

    /// Payload bytes per packet.
    pub const fn bytes(self) -> u32 {
        128 << (self as u32)
    }

    /// The active path MTU for an Ethernet MTU (§6.4.3: the largest that fits `mtu − 78`).
    pub const fn for_ethernet_mtu(mtu: u32) -> Option<PathMtu> {
        let room = mtu.saturating_sub(78);
        Some(if room >= 4096 {
            PathMtu::Mtu4096
        } else if room >= 2048 {
            PathMtu::Mtu2048
        } else if room >= 1024 {
            PathMtu::Mtu1024
        } else if room >= 512 {
            PathMtu::Mtu512
        } else if room >= 256 {
            PathMtu::Mtu256
        } else {
            return None;
        })
    }
}

bitflags! {
    /// ATTR_MASK of the QP attribute block (§6.5).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct QpAttrMask: u32 {
        /// STATE.
        const STATE = 1 << 0;
        /// PATH_MTU.
        const PATH_MTU = 1 << 1;
        /// DEST_QPN.
        const DEST_QPN = 1 << 2;
        /// SQ_PSN.
        const SQ_PSN = 1 << 3;
        /// RQ_PSN.
        const RQ_PSN = 1 << 4;
        /// RETRY_COUNT.
        const RETRY_COUNT = 1 << 5;
        /// RNR_RETRY.
        const RNR_RETRY = 1 << 6;
        /// TIMEOUT.
        const TIMEOUT = 1 << 7;
        /// MIN_RNR_TIMER.
        const MIN_RNR_TIMER = 1 << 8;
        /// IRD.
        const IRD = 1 << 9;
        /// ORD.
        const ORD = 1 << 10;
        /// SGID_INDEX, HOP_LIMIT, TRAFFIC_CLASS, UDP_SPORT, DEST_GID, DEST_MAC.
        const ADDRESS = 1 << 11;
        /// ACCESS.
        const ACCESS = 1 << 12;
    }
}

/// Why a QP attribute block could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QpAttrError {
    /// ATTR_MASK has reserved bits.
    BadMask,
    /// STATE is not a state.
    BadState(u8),
    /// PATH_MTU is not an MTU code.
    BadPathMtu(u8),
    /// ACCESS has bits other than REMOTE_READ / REMOTE_WRITE.
    BadAccess,
}

/// The QP attribute block of MODIFY_QP (input) and QUERY_QP (output), §6.5.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QpAttr {
    /// ATTR_MASK: which fields a MODIFY_QP sets.
    pub mask: QpAttrMask,
    /// STATE: target (MODIFY) or current (QUERY).
    pub state: QpState,
    /// PATH_MTU (`None` encodes 0: not given).
    pub path_mtu: Option<PathMtu>,
    /// RETRY_COUNT, 0..=7.
    pub retry_count: u8,
    /// RNR_RETRY, 0..=7 (7 = forever).
    pub rnr_retry: u8,
    /// DEST_QPN (24 bits).
    pub dest_qpn: u32,
    /// SQ_PSN (24 bits).
    pub sq_psn: u32,
    /// RQ_PSN (24 bits).
    pub rq_psn: u32,
    /// TIMEOUT exponent (0 = infinite).
    pub timeout: u8,
    /// MIN_RNR_TIMER (IB encoding).
    pub min_rnr_timer: u8,
    /// IRD.
    pub ird: u8,
    /// ORD.
    pub ord: u8,
    /// SGID_INDEX.
    pub sgid_index: u8,
    /// HOP_LIMIT (0 = 64).
    pub hop_limit: u8,
    /// TRAFFIC_CLASS.
    pub traffic_class: u8,
    /// UDP_SPORT (0 = the device chooses).
    pub udp_sport: u16,
    /// DEST_GID, network order.
    pub dest_gid: [u8; 16],
    /// DEST_MAC.
    pub dest_mac: [u8; 6],
    /// ACCESS: REMOTE_READ / REMOTE_WRITE accepted by the responder.
    pub access: AccessFlags,
    /// SQ_PI (QUERY only).
    pub sq_pi: u16,
    /// SQ_CI (QUERY only).
    pub sq_ci: u16,
    /// RQ_PI (QUERY only).
    pub rq_pi: u16,
    /// RQ_CI (QUERY only).
    pub rq_ci: u16,
    /// SYNDROME that moved the QP to ERR (QUERY only).
    pub syndrome: u32,
}

impl QpAttr {
    /// A MODIFY_QP block that only changes the state (e.g. to ERR for `flush_qp`).
    pub fn state_only(state: QpState) -> QpAttr {
        QpAttr {
            mask: QpAttrMask::STATE,
            state,
            ..QpAttr::default()
        }
    }

    /// Encodes the block.
    pub fn encode(&self) -> [u8; QP_ATTR_SIZE] {
        let mut b = [0u8; QP_ATTR_SIZE];
        put_u32(&mut b, 0x00, self.mask.bits());
        put_u8(&mut b, 0x04, self.state as u8);
        put_u8(&mut b, 0x05, self.path_mtu.map_or(0, |m| m as u8));
        put_u8(&mut b, 0x06, self.retry_count);
        put_u8(&mut b, 0x07, self.rnr_retry);
        put_u32(&mut b, 0x08, self.dest_qpn & 0x00FF_FFFF);
        put_u32(&mut b, 0x0C, self.sq_psn & 0x00FF_FFFF);
        put_u32(&mut b, 0x10, self.rq_psn & 0x00FF_FFFF);
        put_u8(&mut b, 0x14, self.timeout);
        put_u8(&mut b, 0x15, self.min_rnr_timer);
        put_u8(&mut b, 0x16, self.ird);
        put_u8(&mut b, 0x17, self.ord);
        put_u8(&mut b, 0x18, self.sgid_index);
        put_u8(&mut b, 0x19, self.hop_limit);
        put_u8(&mut b, 0x1A, self.traffic_class);
        put_u16(&mut b, 0x1C, self.udp_sport);
        put(&mut b, 0x20, &self.dest_gid);
        put(&mut b, 0x30, &self.dest_mac);
        put_u32(&mut b, 0x38, self.access.bits());
        put_u16(&mut b, 0x40, self.sq_pi);
        put_u16(&mut b, 0x42, self.sq_ci);
        put_u16(&mut b, 0x44, self.rq_pi);
        put_u16(&mut b, 0x46, self.rq_ci);
        put_u32(&mut b, 0x48, self.syndrome);
        b
    }

    /// Decodes the block.
    pub fn decode(b: &[u8; QP_ATTR_SIZE]) -> Result<QpAttr, QpAttrError> {
        let mask = QpAttrMask::from_bits(u32_at(b, 0x00)).ok_or(QpAttrError::BadMask)?;
        let st = u8_at(b, 0x04);
        let mtu = u8_at(b, 0x05);
        let access = AccessFlags::from_bits(u32_at(b, 0x38))
            .filter(|a| (AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE).contains(*a))
            .ok_or(QpAttrError::BadAccess)?;
        Ok(QpAttr {
            mask,
            state: QpState::from_u8(st).ok_or(QpAttrError::BadState(st))?,
            path_mtu: match mtu {
                0 => None,
                v => Some(PathMtu::from_u8(v).ok_or(QpAttrError::BadPathMtu(v))?),
            },
            retry_count: u8_at(b, 0x06),
            rnr_retry: u8_at(b, 0x07),
            dest_qpn: u32_at(b, 0x08) & 0x00FF_FFFF,
            sq_psn: u32_at(b, 0x0C) & 0x00FF_FFFF,
            rq_psn: u32_at(b, 0x10) & 0x00FF_FFFF,
            timeout: u8_at(b, 0x14),
            min_rnr_timer: u8_at(b, 0x15),
            ird: u8_at(b, 0x16),
            ord: u8_at(b, 0x17),
            sgid_index: u8_at(b, 0x18),
            hop_limit: u8_at(b, 0x19),
            traffic_class: u8_at(b, 0x1A),
            udp_sport: u16_at(b, 0x1C),
            dest_gid: get(b, 0x20),
            dest_mac: get(b, 0x30),
            access,
            sq_pi: u16_at(b, 0x40),
            sq_ci: u16_at(b, 0x42),
            rq_pi: u16_at(b, 0x44),
            rq_ci: u16_at(b, 0x46),
            syndrome: u32_at(b, 0x48),
        })
    }
}

/// The attributes a MODIFY_QP from `from` to `to` requires and may carry (§7); `None` when
/// the transition is not allowed.
pub const fn transition_attrs(from: QpState, to: QpState) -> Option<(QpAttrMask, QpAttrMask)> {
    use QpAttrMask as M;
    use QpState as S;
    let state = M::STATE;
    Some(match (from, to) {
        (_, S::Err) | (_, S::Reset) => (state, M::empty()),
        (S::Reset, S::Init) => (state, M::ACCESS),
        (S::Init, S::Rtr) => (
            state
                .union(M::PATH_MTU)
                .union(M::DEST_QPN)
                .union(M::RQ_PSN)
                .union(M::IRD)
                .union(M::MIN_RNR_TIMER)
                .union(M::ADDRESS),
            M::ACCESS,
        ),
        (S::Rtr, S::Rts) => (
            state
                .union(M::SQ_PSN)
                .union(M::RETRY_COUNT)
                .union(M::RNR_RETRY)
                .union(M::TIMEOUT)
                .union(M::ORD),
            M::empty(),
        ),
        _ => return None,
    })
}

/// Checks a MODIFY_QP of a QP in `from` (§7): BAD_STATE for a transition §7 does not list
/// (or a block without STATE), BAD_PARAM for a missing required or an unexpected attribute.
pub fn check_modify(from: QpState, attr: &QpAttr) -> Result<(), CmdStatus> {
    if !attr.mask.contains(QpAttrMask::STATE) {
        return Err(CmdStatus::BadState);
    }
    let (required, optional) = transition_attrs(from, attr.state).ok_or(CmdStatus::BadState)?;
    if !attr.mask.contains(required) || !required.union(optional).contains(attr.mask) {
        return Err(CmdStatus::BadParam);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn all_commands() -> [Command; 37] {
        let mb = Mailbox {
            addr: 0x1_0000_0040,
            len: 512,
        };
        let key = Key::new(0x1234, 5);
        [
            Command::Nop,
            Command::QueryDevice { out: mb },
            Command::SetMac {
                mac: [2, 0x1F, 0x0D, 0, 0, 1],
            },
            Command::SetMtu { mtu: 9000 },
            Command::SetGid {
                index: 3,
                gid_type: GidType::RoceV2Ipv4,
                gid: ip_to_gid(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            },
            Command::CreatePd { pdn: 7 },
            Command::DestroyPd { pdn: 7 },
            Command::CreateCq(CreateCq {
                cqn: 9,
                log2_size: 10,
                eqn: 0,
                mod_count: 4,
                mod_period: 20,
                ring_addr: 0x10_0000,
                dbrec_addr: 0x20_0008,
                cq_context: 0xC0C0,
            }),
            Command::ResizeCq {
                cqn: 9,
                log2_size: 12,
                ring_addr: 0x30_0000,
            },
            Command::ModifyCq {
                cqn: 9,
                mod_count: 1,
                mod_period: 2,
            },
            Command::DestroyCq { cqn: 9 },
            Command::CreateSrq(CreateSrq {
                srqn: 4,
                pdn: 7,
                log2_depth: 8,
                log2_stride: 6,
                limit: 16,
                ring_addr: 0x40_0000,
                record_addr: 0x50_0040,
                srq_context: 0x5050,
            }),
            Command::ModifySrq { srqn: 4, limit: 10 },
            Command::DestroySrq { srqn: 4 },
            Command::CreateQp(CreateQp {
                qpn: 2,
                pdn: 7,
                send_cqn: 9,
                recv_cqn: 10,
                srqn: Some(4),
                log2_sq_depth: 7,
                log2_sq_stride: 7,
                log2_rq_depth: 0,
                log2_rq_stride: 0,
                qp_context: 0x9090,
                buf_addr: 0x60_0000,
                record_addr: 0x70_0000,
            }),
            Command::ModifyQp { qpn: 2, attr: mb },
            Command::QueryQp { qpn: 2, out: mb },
            Command::DestroyQp { qpn: 2 },
            Command::AllocMr {
                key,
                pdn: 7,
                kind: MrKind::FastRegister,
            },
            Command::FreeMr { key },
            Command::RegisterMr(RegisterMr {
                key,
                access: AccessFlags::LOCAL_WRITE | AccessFlags::REMOTE_READ,
                log2_page_size: 12,
                pbl_levels: 2,
                iova: 0x7FFF_0000_1000,
                length: 1 << 30,
                page_count: 1 << 18,
                first_byte_offset: 0,
                pbl_addr: 0x80_0000,
            }),
            Command::DeregisterMr { key },
            Command::InitFastReg {
                key,
                max_pages: 256,
                access: AccessFlags::REMOTE_WRITE,
            },
            Command::AllocMw { key, pdn: 7 },
            Command::FreeMw { key },
            Command::CmListen(CmListen {
                listen_id: 1,
                ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                port: 445,
                listen_context: 0x11,
            }),
            Command::CmStopListen { listen_id: 1 },
            Command::CmConnect {
                conn_id: 5,
                record: mb,
            },
            Command::CmAccept {
                conn_id: 0x8000_0001,
                record: mb,
            },
            Command::CmReject {
                conn_id: 0x8000_0002,
                record: mb,
            },
            Command::CmComplete { conn_id: 5 },
            Command::CmDisconnect { conn_id: 5 },
            Command::CmRelease { conn_id: 5 },
            Command::SetRxFilter {
                filter: crate::raw::RxFilter::DIRECTED | crate::raw::RxFilter::BROADCAST,
            },
            Command::CreateRawq(CreateRawq {
                rawqn: 0,
                log2_sq_depth: 8,
                log2_rq_depth: 9,
                log2_cq_size: 10,
                sq_addr: 0x1_0000,
                rq_addr: 0x2_0000,
                cq_addr: 0x3_0000,
                context: 0xE7,
            }),
            Command::FlushRawq { rawqn: 0 },
            Command::DestroyRawq { rawqn: 0 },
        ]
    }

    #[test]
    fn every_command_round_trips() {
        for (i, command) in all_commands().into_iter().enumerate() {
            let e = CmdEntry {
                command,
                flags: if i % 2 == 0 {
                    CmdFlags::SILENT
                } else {
                    CmdFlags::empty()
                },
                token: 0xDEAD_0000 + i as u64,
            };
            let raw = e.encode();
            assert_eq!(CmdEntry::decode(&raw), Ok(e), "{command:?}");
            let h = CmdHeader::decode(&raw);
            assert_eq!(h.opcode, command.opcode() as u8);
            assert_eq!(h.object, command.object());
            assert_eq!(h.token, e.token);
            assert_eq!(Opcode::from_u8(h.opcode), Some(command.opcode()));
        }
    }

    #[test]
    fn entry_layout_matches_the_manual() {
        let e = CmdEntry {
            command: all_commands()[14],
            flags: CmdFlags::SILENT,
            token: 0x0102_0304_0506_0708,
        };
        let raw = e.encode();
        assert_eq!(raw[0x00], 0x40);
        assert_eq!(raw[0x01], 0x01);
        assert_eq!(&raw[0x02..0x04], &[1, 0], "USE_SRQ");
        assert_eq!(&raw[0x04..0x08], &[2, 0, 0, 0], "QPN");
        assert_eq!(&raw[0x08..0x10], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&raw[0x1C..0x20], &[4, 0, 0, 0], "SRQN");
        assert_eq!(raw[0x21], 7, "LOG2_SQ_STRIDE");
        assert_eq!(&raw[0x38..0x40], &0x70_0000u64.to_le_bytes(), "RECORD_ADDR");
    }

    #[test]
    fn decode_rejects_reserved_bits_and_unknown_opcodes() {
        let raw = CmdEntry {
            command: Command::CreatePd { pdn: 1 },
            flags: CmdFlags::empty(),
            token: 1,
        }
        .encode();
        let mut bad = raw;
        bad[0x20] = 1;
        assert_eq!(CmdEntry::decode(&bad), Err(CmdDecodeError::BadParam));
        let mut bad = raw;
        bad[0x01] = 0x02;
        assert_eq!(CmdEntry::decode(&bad), Err(CmdDecodeError::BadParam));
        let mut bad = raw;
        bad[0x02] = 1;
        assert_eq!(CmdEntry::decode(&bad), Err(CmdDecodeError::BadParam));
        let mut bad = raw;
        bad[0x00] = 0x7F;
        assert_eq!(CmdEntry::decode(&bad), Err(CmdDecodeError::BadOpcode(0x7F)));
        assert_eq!(CmdHeader::decode(&bad).token, 1);
        assert_eq!(
            CmdDecodeError::BadOpcode(0).status().hal_error(),
            Some(HalError::NotSupported)
        );
    }

    #[test]
    fn ipv4_listen_must_be_ipv4_mapped() {
        let l = CmdEntry {
            command: Command::CmListen(CmListen {
                listen_id: 0,
                ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: 1,
                listen_context: 0,
            }),
            flags: CmdFlags::empty(),
            token: 0,
        };
        let raw = l.encode();
        assert_eq!(raw[0x10], 4);
        assert_eq!(&raw[0x2A..0x2C], &[0xFF, 0xFF]);
        assert_eq!(CmdEntry::decode(&raw), Ok(l));
        let mut bad = raw;
        bad[0x2A] = 0;
        assert_eq!(CmdEntry::decode(&bad), Err(CmdDecodeError::BadParam));
    }

    #[test]
    fn statuses_map_to_hal_errors() {
        for v in 0..=0x0D {
            let s = CmdStatus::from_u8(v).unwrap();
            assert_eq!(s as u8, v);
            assert_eq!(s.hal_error().is_none(), s == CmdStatus::Ok);
        }
        assert_eq!(CmdStatus::from_u8(0x0E), None);
        assert_eq!(
            CmdStatus::AddressInUse.hal_error(),
            Some(HalError::AddressInUse)
        );
    }

    #[test]
    fn mailbox_requirements() {
        let cmds = all_commands();
        assert_eq!(cmds[1].mailbox().map(|m| m.1), Some(512));
        assert_eq!(cmds[15].mailbox().map(|m| m.1), Some(QP_ATTR_SIZE));
        assert!(cmds[15].mailbox().unwrap().0.fits(QP_ATTR_SIZE));
        assert!(!Mailbox { addr: 4, len: 512 }.fits(8));
        assert_eq!(cmds[0].mailbox(), None);
    }

    #[test]
    fn qp_attr_round_trips() {
        let a = QpAttr {
            mask: QpAttrMask::all(),
            state: QpState::Rtr,
            path_mtu: Some(PathMtu::Mtu4096),
            retry_count: 7,
            rnr_retry: 7,
            dest_qpn: 0xABCDEF,
            sq_psn: 0x123456,
            rq_psn: 0x654321,
            timeout: 14,
            min_rnr_timer: 12,
            ird: 16,
            ord: 8,
            sgid_index: 3,
            hop_limit: 64,
            traffic_class: 0x68,
            udp_sport: 0xC123,
            dest_gid: ip_to_gid(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
            dest_mac: [2, 0, 0, 0, 0, 2],
            access: AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE,
            sq_pi: 1,
            sq_ci: 2,
            rq_pi: 3,
            rq_ci: 4,
            syndrome: 5,
        };
        let b = a.encode();
        assert_eq!(b[0x04], 2);
        assert_eq!(b[0x05], 5);
        assert_eq!(&b[0x08..0x0C], &[0xEF, 0xCD, 0xAB, 0]);
        assert_eq!(QpAttr::decode(&b), Ok(a));
        let s = QpAttr::state_only(QpState::Err);
        assert_eq!(QpAttr::decode(&s.encode()), Ok(s));
        let mut bad = s.encode();
        bad[0x04] = 4;
        assert_eq!(QpAttr::decode(&bad), Err(QpAttrError::BadState(4)));
        let mut bad = s.encode();
        bad[0x38] = AccessFlags::LOCAL_WRITE.bits() as u8;
        assert_eq!(QpAttr::decode(&bad), Err(QpAttrError::BadAccess));
    }

    #[test]
    fn state_machine_follows_the_manual() {
        use QpAttrMask as M;
        let mut a = QpAttr::state_only(QpState::Init);
        assert_eq!(check_modify(QpState::Reset, &a), Ok(()));
        a.mask |= M::ACCESS;
        assert_eq!(check_modify(QpState::Reset, &a), Ok(()));
        a.mask |= M::SQ_PSN;
        assert_eq!(check_modify(QpState::Reset, &a), Err(CmdStatus::BadParam));
        let a = QpAttr::state_only(QpState::Rtr);
        assert_eq!(check_modify(QpState::Init, &a), Err(CmdStatus::BadParam));
        assert_eq!(check_modify(QpState::Reset, &a), Err(CmdStatus::BadState));
        let (req, _) = transition_attrs(QpState::Init, QpState::Rtr).unwrap();
        let a = QpAttr {
            mask: req,
            state: QpState::Rtr,
            ..QpAttr::default()
        };
        assert_eq!(check_modify(QpState::Init, &a), Ok(()));
        for from in [
            QpState::Reset,
            QpState::Init,
            QpState::Rtr,
            QpState::Rts,
            QpState::Err,
        ] {
            assert_eq!(
                check_modify(from, &QpAttr::state_only(QpState::Err)),
                Ok(())
            );
            assert_eq!(
                check_modify(from, &QpAttr::state_only(QpState::Reset)),
                Ok(())
            );
        }
        assert_eq!(transition_attrs(QpState::Rts, QpState::Init), None);
        let mut no_state = QpAttr::state_only(QpState::Err);
        no_state.mask = M::empty();
        assert_eq!(
            check_modify(QpState::Rts, &no_state),
            Err(CmdStatus::BadState)
        );
    }

    #[test]
    fn path_mtu_codes() {
        assert_eq!(PathMtu::Mtu256.bytes(), 256);
        assert_eq!(PathMtu::Mtu4096.bytes(), 4096);
        assert_eq!(PathMtu::for_ethernet_mtu(1500), Some(PathMtu::Mtu1024));
        assert_eq!(PathMtu::for_ethernet_mtu(9000), Some(PathMtu::Mtu4096));
        assert_eq!(PathMtu::for_ethernet_mtu(4174), Some(PathMtu::Mtu4096));
        assert_eq!(PathMtu::for_ethernet_mtu(4173), Some(PathMtu::Mtu2048));
        assert_eq!(PathMtu::for_ethernet_mtu(300), None);
    }
}
