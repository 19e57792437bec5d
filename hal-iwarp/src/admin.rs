//! Admin commands (docs/silicon/iwarp.md §6), including the TCP offload connection commands,
//! the QP attribute block (§6.5) and the QP state machine (§7).
//!
//! An entry is 64 bytes: a 16-byte header ([`CmdEntryRaw`]) and 48 bytes of parameters. Each
//! command's parameters are a `*Params` struct of exactly 48 bytes declared field by field at
//! the manual's entry offsets (minus 0x10); [`Command`] is the typed union the driver encodes
//! and the device model decodes.
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
use hal::HalError;
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of an admin entry.
pub const CMD_SIZE: usize = 64;
/// Size of the PARAMS area.
pub const PARAMS_SIZE: usize = 48;
/// Entry offset of PARAMS.
pub const PARAMS_OFFSET: usize = 0x10;
/// Size of the QP attribute block (MODIFY_QP / QUERY_QP mailbox).
pub const QP_ATTR_SIZE: usize = 128;
/// Size of QUERY_DEVICE's output (BAR0 0x000–0x1FF).
pub const QUERY_DEVICE_SIZE: usize = 512;
/// FLAGS bit 0: no CMD_COMPLETE on success.
pub const FLAG_SILENT: u8 = 1 << 0;
/// CREATE_QP MODIFIER bit 0: the QP takes receives from SRQN.
pub const MODIFIER_USE_SRQ: u16 = 1 << 0;

/// The entry header exactly as in host memory (§6.1).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct CmdEntryRaw {
    /// 0x00 OPCODE.
    pub opcode: u8,
    /// 0x01 FLAGS.
    pub flags: u8,
    /// 0x02 MODIFIER.
    pub modifier: U16,
    /// 0x04 OBJECT.
    pub object: U32,
    /// 0x08 TOKEN.
    pub token: U64,
    /// 0x10 PARAMS.
    pub params: [u8; PARAMS_SIZE],
}

const _: () = assert!(core::mem::size_of::<CmdEntryRaw>() == CMD_SIZE);

/// OPCODE (§6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // the names are the manual's command names
pub enum Opcode {
    Nop = 0x00,
    QueryDevice = 0x01,
    SetMac = 0x02,
    SetMtu = 0x03,
    SetAddr = 0x04,
    SetRxFilter = 0x05,
    SetTcpParams = 0x06,
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
    CmAbort = 0x67,
    CmRelease = 0x68,
    CreateRawq = 0x70,
    FlushRawq = 0x71,
    DestroyRawq = 0x72,
}

impl Opcode {
    /// Every opcode, in table order.
    pub const ALL: [Opcode; 39] = [
        Opcode::Nop,
        Opcode::QueryDevice,
        Opcode::SetMac,
        Opcode::SetMtu,
        Opcode::SetAddr,
        Opcode::SetRxFilter,
        Opcode::SetTcpParams,
        Opcode::CreatePd,
        Opcode::DestroyPd,
        Opcode::CreateCq,
        Opcode::ResizeCq,
        Opcode::ModifyCq,
        Opcode::DestroyCq,
        Opcode::CreateSrq,
        Opcode::ModifySrq,
        Opcode::DestroySrq,
        Opcode::CreateQp,
        Opcode::ModifyQp,
        Opcode::QueryQp,
        Opcode::DestroyQp,
        Opcode::AllocMr,
        Opcode::FreeMr,
        Opcode::RegisterMr,
        Opcode::DeregisterMr,
        Opcode::InitFastReg,
        Opcode::AllocMw,
        Opcode::FreeMw,
        Opcode::CmListen,
        Opcode::CmStopListen,
        Opcode::CmConnect,
        Opcode::CmAccept,
        Opcode::CmReject,
        Opcode::CmComplete,
        Opcode::CmDisconnect,
        Opcode::CmAbort,
        Opcode::CmRelease,
        Opcode::CreateRawq,
        Opcode::FlushRawq,
        Opcode::DestroyRawq,
    ];

    /// Decodes an OPCODE byte.
    pub fn from_u8(v: u8) -> Option<Opcode> {
        Opcode::ALL.iter().copied().find(|o| *o as u8 == v)
    }
}

/// Command STATUS (§6.2), reported in the CMD_COMPLETE EQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CmdStatus {
    /// Success.
    Ok = 0x00,
    /// Unknown opcode.
    BadOpcode = 0x01,
    /// Malformed parameter or reserved field not 0.
    BadParam = 0x02,
    /// Object number out of range or names no object.
    BadObject = 0x03,
    /// The object exists, or its state forbids the command.
    BadState = 0x04,
    /// Device resources exhausted.
    NoResources = 0x05,
    /// Destroy of an object still in use.
    InUse = 0x06,
    /// A size exceeds a capability.
    Limit = 0x07,
    /// Listen address / 4-tuple in use, or no free ephemeral port.
    AddressInUse = 0x08,
    /// Feature not in CAP_FEATURES.
    NotSupported = 0x09,
    /// A mailbox or page list could not be read.
    DmaError = 0x0A,
    /// The local address is not in the local address table.
    Unreachable = 0x0B,
    /// PD mismatch or rights not allowed.
    Access = 0x0C,
    /// Firmware error.
    Internal = 0x0D,
}

impl CmdStatus {
    /// Decodes a STATUS byte.
    pub const fn from_u8(v: u8) -> Option<CmdStatus> {
        Some(match v {
            0x00 => CmdStatus::Ok,
            0x01 => CmdStatus::BadOpcode,
            0x02 => CmdStatus::BadParam,
            0x03 => CmdStatus::BadObject,
            0x04 => CmdStatus::BadState,
            0x05 => CmdStatus::NoResources,
            0x06 => CmdStatus::InUse,
            0x07 => CmdStatus::Limit,
            0x08 => CmdStatus::AddressInUse,
            0x09 => CmdStatus::NotSupported,
            0x0A => CmdStatus::DmaError,
            0x0B => CmdStatus::Unreachable,
            0x0C => CmdStatus::Access,
            0x0D => CmdStatus::Internal,
            _ => return None,
        })
    }

    /// The `hal` result of the status (§6.2, last column).
    pub const fn result(self) -> Result<(), HalError> {
        Err(match self {
            CmdStatus::Ok => return Ok(()),
            CmdStatus::BadOpcode | CmdStatus::NotSupported => HalError::NotSupported,
            CmdStatus::BadParam | CmdStatus::BadObject => HalError::InvalidParameter,
            CmdStatus::BadState | CmdStatus::InUse => HalError::InvalidState,
            CmdStatus::NoResources => HalError::NoResources,
            CmdStatus::Limit => HalError::ImplementationLimit,
            CmdStatus::AddressInUse => HalError::AddressInUse,
            CmdStatus::DmaError | CmdStatus::Internal => HalError::Fatal,
            CmdStatus::Unreachable => HalError::NetworkUnreachable,
            CmdStatus::Access => HalError::AccessViolation,
        })
    }
}

macro_rules! params {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(C)]
        pub struct $name { $($(#[$fm])* pub $f: $t,)* }
        const _: () = assert!(core::mem::size_of::<$name>() == PARAMS_SIZE);
    };
}

params!(
    /// Mailbox of QUERY_DEVICE, MODIFY_QP, QUERY_QP, CM_CONNECT, CM_ACCEPT, CM_REJECT.
    MailboxParams {
        /// 0x10 reserved.
        reserved: [u8; 0x20],
        /// 0x30 MAILBOX_ADDR.
        addr: U64,
        /// 0x38 MAILBOX_LEN.
        len: U32,
        /// 0x3C reserved.
        reserved1: [u8; 4],
    }
);
params!(
    /// SET_MAC (§6.4.3).
    SetMacParams {
        /// 0x10 MAC (network order).
        mac: [u8; 6],
        /// 0x16 reserved.
        reserved: [u8; 42],
    }
);
params!(
    /// SET_MTU (§6.4.3), SET_RX_FILTER (§6.4.9), MODIFY_SRQ (§6.4.4): one dword at 0x10.
    DwordParams {
        /// 0x10 MTU / FILTER / LIMIT.
        value: U32,
        /// 0x14 reserved.
        reserved: [u8; 44],
    }
);
params!(
    /// SET_ADDR (§6.4.3).
    SetAddrParams {
        /// 0x10 TYPE: 0 clear, 1 IPv4, 2 IPv6.
        addr_type: u8,
        /// 0x11 reserved.
        reserved: [u8; 15],
        /// 0x20 ADDR (network order, IPv4-mapped).
        addr: [u8; 16],
        /// 0x30 reserved.
        reserved1: [u8; 16],
    }
);
params!(
    /// SET_TCP_PARAMS (§6.4.3); 0 keeps a value.
    SetTcpParams {
        /// 0x10 RTO_MIN_US.
        rto_min_us: U32,
        /// 0x14 RTO_MAX_US.
        rto_max_us: U32,
        /// 0x18 RTO_INIT_US.
        rto_init_us: U32,
        /// 0x1C MAX_RETRIES.
        max_retries: u8,
        /// 0x1D SYN_RETRIES.
        syn_retries: u8,
        /// 0x1E reserved.
        reserved: [u8; 2],
        /// 0x20 MPA_TIMEOUT_MS.
        mpa_timeout_ms: U32,
        /// 0x24 FIN_TIMEOUT_MS.
        fin_timeout_ms: U32,
        /// 0x28 TIME_WAIT_MS.
        time_wait_ms: U32,
        /// 0x2C reserved.
        reserved1: [u8; 20],
    }
);
params!(
    /// CREATE_SRQ (§6.4.4).
    CreateSrqParams {
        /// 0x10 PDN.
        pdn: U32,
        /// 0x14 LOG2_DEPTH.
        log2_depth: u8,
        /// 0x15 LOG2_STRIDE.
        log2_stride: u8,
        /// 0x16 reserved.
        reserved: [u8; 2],
        /// 0x18 LIMIT.
        limit: U32,
        /// 0x1C reserved.
        reserved1: [u8; 4],
        /// 0x20 RING_ADDR.
        ring_addr: U64,
        /// 0x28 RECORD_ADDR.
        record_addr: U64,
        /// 0x30 SRQ_CONTEXT.
        srq_context: U64,
        /// 0x38 reserved.
        reserved2: [u8; 8],
    }
);
params!(
    /// CREATE_CQ, RESIZE_CQ (LOG2_SIZE, RING_ADDR) and MODIFY_CQ (MOD_COUNT, MOD_PERIOD), §6.4.5.
    CqParams {
        /// 0x10 LOG2_SIZE.
        log2_size: u8,
        /// 0x11 EQN.
        eqn: u8,
        /// 0x12 MOD_COUNT.
        mod_count: U16,
        /// 0x14 MOD_PERIOD.
        mod_period: U16,
        /// 0x16 reserved.
        reserved: [u8; 2],
        /// 0x18 RING_ADDR.
        ring_addr: U64,
        /// 0x20 DBREC_ADDR.
        dbrec_addr: U64,
        /// 0x28 CQ_CONTEXT.
        cq_context: U64,
        /// 0x30 reserved.
        reserved1: [u8; 16],
    }
);
params!(
    /// CREATE_QP (§6.4.6).
    CreateQpParams {
        /// 0x10 PDN.
        pdn: U32,
        /// 0x14 SEND_CQN.
        send_cqn: U32,
        /// 0x18 RECV_CQN.
        recv_cqn: U32,
        /// 0x1C SRQN.
        srqn: U32,
        /// 0x20 LOG2_SQ_DEPTH.
        log2_sq_depth: u8,
        /// 0x21 LOG2_SQ_STRIDE.
        log2_sq_stride: u8,
        /// 0x22 LOG2_RQ_DEPTH.
        log2_rq_depth: u8,
        /// 0x23 LOG2_RQ_STRIDE.
        log2_rq_stride: u8,
        /// 0x24 reserved.
        reserved: [u8; 4],
        /// 0x28 QP_CONTEXT.
        qp_context: U64,
        /// 0x30 BUF_ADDR.
        buf_addr: U64,
        /// 0x38 RECORD_ADDR.
        record_addr: U64,
    }
);
params!(
    /// ALLOC_MR (PDN, KIND), ALLOC_MW (PDN), INIT_FAST_REG (MAX_PAGES, ACCESS), §6.4.7.
    MemParams {
        /// 0x10 PDN (ALLOC_MR, ALLOC_MW) or MAX_PAGES (INIT_FAST_REG).
        dword0: U32,
        /// 0x14 KIND (ALLOC_MR, 1 byte) or ACCESS (INIT_FAST_REG, 4 bytes).
        dword1: U32,
        /// 0x18 reserved.
        reserved: [u8; 40],
    }
);
params!(
    /// REGISTER_MR (§6.4.7).
    RegisterMrParams {
        /// 0x10 ACCESS.
        access: U32,
        /// 0x14 LOG2_PAGE_SIZE.
        log2_page_size: u8,
        /// 0x15 PBL_LEVELS.
        pbl_levels: u8,
        /// 0x16 reserved.
        reserved: [u8; 2],
        /// 0x18 IOVA.
        iova: U64,
        /// 0x20 LENGTH.
        length: U64,
        /// 0x28 PAGE_COUNT.
        page_count: U32,
        /// 0x2C FIRST_BYTE_OFFSET.
        first_byte_offset: U32,
        /// 0x30 PBL_ADDR.
        pbl_addr: U64,
        /// 0x38 reserved.
        reserved1: [u8; 8],
    }
);
params!(
    /// CM_LISTEN (§6.4.8).
    ListenParams {
        /// 0x10 IP_VERSION.
        ip_version: u8,
        /// 0x11 reserved.
        reserved: u8,
        /// 0x12 PORT.
        port: U16,
        /// 0x14 BACKLOG (0 = 128).
        backlog: U16,
        /// 0x16 reserved.
        reserved1: [u8; 2],
        /// 0x18 LISTEN_CONTEXT.
        listen_context: U64,
        /// 0x20 IP (network order, IPv4-mapped).
        ip: [u8; 16],
        /// 0x30 reserved.
        reserved2: [u8; 16],
    }
);
params!(
    /// CREATE_RAWQ (§6.4.9).
    CreateRawqParams {
        /// 0x10 LOG2_SQ_DEPTH.
        log2_sq_depth: u8,
        /// 0x11 LOG2_RQ_DEPTH.
        log2_rq_depth: u8,
        /// 0x12 LOG2_CQ_SIZE.
        log2_cq_size: u8,
        /// 0x13 reserved.
        reserved: [u8; 5],
        /// 0x18 SQ_ADDR.
        sq_addr: U64,
        /// 0x20 RQ_ADDR.
        rq_addr: U64,
        /// 0x28 CQ_ADDR.
        cq_addr: U64,
        /// 0x30 RAWQ_CONTEXT.
        rawq_context: U64,
        /// 0x38 reserved.
        reserved1: [u8; 8],
    }
);

/// A 16-byte-aligned-free view of zero parameters.
const NO_PARAMS: [u8; PARAMS_SIZE] = [0; PARAMS_SIZE];

/// A command with its parameters, typed (§6.3–§6.4). OBJECT, TOKEN and FLAGS are in
/// [`CmdEntry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // variants are the manual's commands; fields are documented on the params
pub enum Command {
    Nop,
    QueryDevice(MailboxParams),
    SetMac(SetMacParams),
    SetMtu(DwordParams),
    SetAddr(SetAddrParams),
    SetRxFilter(DwordParams),
    SetTcpParams(SetTcpParams),
    CreatePd,
    DestroyPd,
    CreateCq(CqParams),
    ResizeCq(CqParams),
    ModifyCq(CqParams),
    DestroyCq,
    CreateSrq(CreateSrqParams),
    ModifySrq(DwordParams),
    DestroySrq,
    CreateQp {
        use_srq: bool,
        params: CreateQpParams,
    },
    ModifyQp(MailboxParams),
    QueryQp(MailboxParams),
    DestroyQp,
    AllocMr(MemParams),
    FreeMr,
    RegisterMr(RegisterMrParams),
    DeregisterMr,
    InitFastReg(MemParams),
    AllocMw(MemParams),
    FreeMw,
    CmListen(ListenParams),
    CmStopListen,
    CmConnect(MailboxParams),
    CmAccept(MailboxParams),
    CmReject(MailboxParams),
    CmComplete,
    CmDisconnect,
    CmAbort,
    CmRelease,
    CreateRawq(CreateRawqParams),
    FlushRawq,
    DestroyRawq,
}

impl Command {
    /// The opcode, MODIFIER and PARAMS bytes of the command.
    pub fn parts(&self) -> (Opcode, u16, [u8; PARAMS_SIZE]) {
        fn b<T: IntoBytes + Immutable + Copy>(p: &T) -> [u8; PARAMS_SIZE] {
            let mut out = NO_PARAMS;
            let _ = p.write_to(&mut out[..]);
            out
        }
        match self {
            Command::Nop => (Opcode::Nop, 0, NO_PARAMS),
            Command::QueryDevice(p) => (Opcode::QueryDevice, 0, b(p)),
            Command::SetMac(p) => (Opcode::SetMac, 0, b(p)),
            Command::SetMtu(p) => (Opcode::SetMtu, 0, b(p)),
            Command::SetAddr(p) => (Opcode::SetAddr, 0, b(p)),
            Command::SetRxFilter(p) => (Opcode::SetRxFilter, 0, b(p)),
            Command::SetTcpParams(p) => (Opcode::SetTcpParams, 0, b(p)),
            Command::CreatePd => (Opcode::CreatePd, 0, NO_PARAMS),
            Command::DestroyPd => (Opcode::DestroyPd, 0, NO_PARAMS),
            Command::CreateCq(p) => (Opcode::CreateCq, 0, b(p)),
            Command::ResizeCq(p) => (Opcode::ResizeCq, 0, b(p)),
            Command::ModifyCq(p) => (Opcode::ModifyCq, 0, b(p)),
            Command::DestroyCq => (Opcode::DestroyCq, 0, NO_PARAMS),
            Command::CreateSrq(p) => (Opcode::CreateSrq, 0, b(p)),
            Command::ModifySrq(p) => (Opcode::ModifySrq, 0, b(p)),
            Command::DestroySrq => (Opcode::DestroySrq, 0, NO_PARAMS),
            Command::CreateQp { use_srq, params } => (
                Opcode::CreateQp,
                if *use_srq { MODIFIER_USE_SRQ } else { 0 },
                b(params),
            ),
            Command::ModifyQp(p) => (Opcode::ModifyQp, 0, b(p)),
            Command::QueryQp(p) => (Opcode::QueryQp, 0, b(p)),
            Command::DestroyQp => (Opcode::DestroyQp, 0, NO_PARAMS),
            Command::AllocMr(p) => (Opcode::AllocMr, 0, b(p)),
            Command::FreeMr => (Opcode::FreeMr, 0, NO_PARAMS),
            Command::RegisterMr(p) => (Opcode::RegisterMr, 0, b(p)),
            Command::DeregisterMr => (Opcode::DeregisterMr, 0, NO_PARAMS),
            Command::InitFastReg(p) => (Opcode::InitFastReg, 0, b(p)),
            Command::AllocMw(p) => (Opcode::AllocMw, 0, b(p)),
            Command::FreeMw => (Opcode::FreeMw, 0, NO_PARAMS),
            Command::CmListen(p) => (Opcode::CmListen, 0, b(p)),
            Command::CmStopListen => (Opcode::CmStopListen, 0, NO_PARAMS),
            Command::CmConnect(p) => (Opcode::CmConnect, 0, b(p)),
            Command::CmAccept(p) => (Opcode::CmAccept, 0, b(p)),
            Command::CmReject(p) => (Opcode::CmReject, 0, b(p)),
            Command::CmComplete => (Opcode::CmComplete, 0, NO_PARAMS),
            Command::CmDisconnect => (Opcode::CmDisconnect, 0, NO_PARAMS),
            Command::CmAbort => (Opcode::CmAbort, 0, NO_PARAMS),
            Command::CmRelease => (Opcode::CmRelease, 0, NO_PARAMS),
            Command::CreateRawq(p) => (Opcode::CreateRawq, 0, b(p)),
            Command::FlushRawq => (Opcode::FlushRawq, 0, NO_PARAMS),
            Command::DestroyRawq => (Opcode::DestroyRawq, 0, NO_PARAMS),
        }
    }

    /// Decodes the command of an entry (the device side). Reserved MODIFIER bits or non-zero
    /// PARAMS of a command without parameters give `BadParam`; an unknown opcode `BadOpcode`.
    pub fn decode(raw: &CmdEntryRaw) -> Result<Command, CmdStatus> {
        let op = Opcode::from_u8(raw.opcode).ok_or(CmdStatus::BadOpcode)?;
        let m = raw.modifier.get();
        let allowed_modifier = if op == Opcode::CreateQp {
            MODIFIER_USE_SRQ
        } else {
            0
        };
        if m & !allowed_modifier != 0 || raw.flags & !FLAG_SILENT != 0 {
            return Err(CmdStatus::BadParam);
        }
        fn p<T: FromBytes + Copy>(b: &[u8; PARAMS_SIZE]) -> Result<T, CmdStatus> {
            T::read_from_bytes(&b[..]).map_err(|_| CmdStatus::BadParam)
        }
        let none = |c: Command| {
            if raw.params == NO_PARAMS {
                Ok(c)
            } else {
                Err(CmdStatus::BadParam)
            }
        };
        let b = &raw.params;
        match op {
            Opcode::Nop => none(Command::Nop),
            Opcode::QueryDevice => Ok(Command::QueryDevice(p(b)?)),
            Opcode::SetMac => Ok(Command::SetMac(p(b)?)),
            Opcode::SetMtu => Ok(Command::SetMtu(p(b)?)),
            Opcode::SetAddr => Ok(Command::SetAddr(p(b)?)),
            Opcode::SetRxFilter => Ok(Command::SetRxFilter(p(b)?)),
            Opcode::SetTcpParams => Ok(Command::SetTcpParams(p(b)?)),
            Opcode::CreatePd => none(Command::CreatePd),
            Opcode::DestroyPd => none(Command::DestroyPd),
            Opcode::CreateCq => Ok(Command::CreateCq(p(b)?)),
            Opcode::ResizeCq => Ok(Command::ResizeCq(p(b)?)),
            Opcode::ModifyCq => Ok(Command::ModifyCq(p(b)?)),
            Opcode::DestroyCq => none(Command::DestroyCq),
            Opcode::CreateSrq => Ok(Command::CreateSrq(p(b)?)),
            Opcode::ModifySrq => Ok(Command::ModifySrq(p(b)?)),
            Opcode::DestroySrq => none(Command::DestroySrq),
            Opcode::CreateQp => Ok(Command::CreateQp {
                use_srq: m & MODIFIER_USE_SRQ != 0,
                params: p(b)?,
            }),
            Opcode::ModifyQp => Ok(Command::ModifyQp(p(b)?)),
            Opcode::QueryQp => Ok(Command::QueryQp(p(b)?)),
            Opcode::DestroyQp => none(Command::DestroyQp),
            Opcode::AllocMr => Ok(Command::AllocMr(p(b)?)),
            Opcode::FreeMr => none(Command::FreeMr),
            Opcode::RegisterMr => Ok(Command::RegisterMr(p(b)?)),
            Opcode::DeregisterMr => none(Command::DeregisterMr),
            Opcode::InitFastReg => Ok(Command::InitFastReg(p(b)?)),
            Opcode::AllocMw => Ok(Command::AllocMw(p(b)?)),
            Opcode::FreeMw => none(Command::FreeMw),
            Opcode::CmListen => Ok(Command::CmListen(p(b)?)),
            Opcode::CmStopListen => none(Command::CmStopListen),
            Opcode::CmConnect => Ok(Command::CmConnect(p(b)?)),
            Opcode::CmAccept => Ok(Command::CmAccept(p(b)?)),
            Opcode::CmReject => Ok(Command::CmReject(p(b)?)),
            Opcode::CmComplete => none(Command::CmComplete),
            Opcode::CmDisconnect => none(Command::CmDisconnect),
            Opcode::CmAbort => none(Command::CmAbort),
            Opcode::CmRelease => none(Command::CmRelease),
            Opcode::CreateRawq => Ok(Command::CreateRawq(p(b)?)),
            Opcode::FlushRawq => none(Command::FlushRawq),
            Opcode::DestroyRawq => none(Command::DestroyRawq),
        }
    }
}

/// A mailbox parameter block (`addr`, `len`).
pub fn mailbox(addr: u64, len: u32) -> MailboxParams {
    MailboxParams {
        reserved: [0; 0x20],
        addr: U64::new(addr),
        len: U32::new(len),
        reserved1: [0; 4],
    }
}

/// One admin entry: header fields and the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdEntry {
    /// The command and its parameters.
    pub command: Command,
    /// FLAGS.SILENT.
    pub silent: bool,
    /// OBJECT.
    pub object: u32,
    /// TOKEN, returned in the EQE's CONTEXT.
    pub token: u64,
}

impl CmdEntry {
    /// The 64 bytes the driver writes into the ADMQ slot.
    pub fn encode(&self) -> [u8; CMD_SIZE] {
        let (op, modifier, params) = self.command.parts();
        let r = CmdEntryRaw {
            opcode: op as u8,
            flags: if self.silent { FLAG_SILENT } else { 0 },
            modifier: U16::new(modifier),
            object: U32::new(self.object),
            token: U64::new(self.token),
            params,
        };
        zerocopy::transmute!(r)
    }

    /// Decodes an entry (the device side); the error is the STATUS to complete it with.
    pub fn decode(raw: &[u8; CMD_SIZE]) -> Result<CmdEntry, CmdStatus> {
        let r: CmdEntryRaw = zerocopy::transmute!(*raw);
        Ok(CmdEntry {
            command: Command::decode(&r)?,
            silent: r.flags & FLAG_SILENT != 0,
            object: r.object.get(),
            token: r.token.get(),
        })
    }
}

/// QP states (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum QpState {
    /// Created, nothing runs.
    Reset = 0,
    /// Receives may be posted; sends are held (iWARP IDLE).
    Init = 1,
    /// Bound and MPA done, RTR not yet sent / received: receives accepted, sends held.
    Rtr = 2,
    /// The SQ runs.
    Rts = 3,
    /// Error: everything flushes (iWARP CLOSING / TERMINATE / ERROR).
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

/// TCP_STATE of QUERY_QP (§6.5): RFC 793 states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // RFC 793 state names
pub enum TcpState {
    Closed = 0,
    Listen = 1,
    SynSent = 2,
    SynReceived = 3,
    Established = 4,
    FinWait1 = 5,
    FinWait2 = 6,
    CloseWait = 7,
    Closing = 8,
    LastAck = 9,
    TimeWait = 10,
}

impl TcpState {
    /// Decodes a TCP_STATE byte.
    pub const fn from_u8(v: u8) -> Option<TcpState> {
        Some(match v {
            0 => TcpState::Closed,
            1 => TcpState::Listen,
            2 => TcpState::SynSent,
            3 => TcpState::SynReceived,
            4 => TcpState::Established,
            5 => TcpState::FinWait1,
            6 => TcpState::FinWait2,
            7 => TcpState::CloseWait,
            8 => TcpState::Closing,
            9 => TcpState::LastAck,
            10 => TcpState::TimeWait,
            _ => return None,
        })
    }
}

bitflags! {
    /// ATTR_MASK of the QP attribute block (§6.5).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct QpAttrMask: u32 {
        /// STATE.
        const STATE = 1 << 0;
        /// IRD.
        const IRD = 1 << 1;
        /// ORD.
        const ORD = 1 << 2;
        /// ACCESS.
        const ACCESS = 1 << 3;
    }
}

/// The QP attribute block exactly as in the mailbox (§6.5), one field per row.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct QpAttr {
    /// 0x00 ATTR_MASK.
    pub attr_mask: U32,
    /// 0x04 STATE.
    pub state: u8,
    /// 0x05 reserved.
    pub reserved0: u8,
    /// 0x06 IRD.
    pub ird: U16,
    /// 0x08 ORD.
    pub ord: U16,
    /// 0x0A reserved.
    pub reserved1: [u8; 2],
    /// 0x0C ACCESS.
    pub access: U32,
    /// 0x10 CONN_ID (QUERY).
    pub conn_id: U32,
    /// 0x14 TCP_STATE (QUERY).
    pub tcp_state: u8,
    /// 0x15 RTR (QUERY).
    pub rtr: u8,
    /// 0x16 MSS (QUERY).
    pub mss: U16,
    /// 0x18 SND_UNA (QUERY).
    pub snd_una: U32,
    /// 0x1C SND_NXT (QUERY).
    pub snd_nxt: U32,
    /// 0x20 RCV_NXT (QUERY).
    pub rcv_nxt: U32,
    /// 0x24 SND_WND (QUERY).
    pub snd_wnd: U32,
    /// 0x28 CWND (QUERY).
    pub cwnd: U32,
    /// 0x2C SRTT_US (QUERY).
    pub srtt_us: U32,
    /// 0x30 RTO_US (QUERY).
    pub rto_us: U32,
    /// 0x34 SEND_MSN (QUERY).
    pub send_msn: U32,
    /// 0x38 RECV_MSN (QUERY).
    pub recv_msn: U32,
    /// 0x3C TERM (QUERY).
    pub term: U32,
    /// 0x40 SQ_PI (QUERY).
    pub sq_pi: U16,
    /// 0x42 SQ_CI (QUERY).
    pub sq_ci: U16,
    /// 0x44 RQ_PI (QUERY).
    pub rq_pi: U16,
    /// 0x46 RQ_CI (QUERY).
    pub rq_ci: U16,
    /// 0x48 SYNDROME (QUERY).
    pub syndrome: U32,
    /// 0x4C reserved.
    pub reserved2: [u8; 52],
}

const _: () = assert!(core::mem::size_of::<QpAttr>() == QP_ATTR_SIZE);

impl QpAttr {
    /// A MODIFY_QP block that only changes the state (e.g. `flush_qp` → ERR).
    pub fn state_only(state: QpState) -> QpAttr {
        let mut a = QpAttr::new_zeroed();
        a.attr_mask = U32::new(QpAttrMask::STATE.bits());
        a.state = state as u8;
        a
    }

    /// ATTR_MASK, `None` with reserved bits set.
    pub fn mask(&self) -> Option<QpAttrMask> {
        QpAttrMask::from_bits(self.attr_mask.get())
    }
}

/// The attributes a driver's MODIFY_QP `from → to` requires and may add (§7), or `None` when
/// the transition is not the driver's to make (RTR and RTS are reached through a connection).
pub const fn transition_attrs(from: QpState, to: QpState) -> Option<(QpAttrMask, QpAttrMask)> {
    let opt = QpAttrMask::IRD
        .union(QpAttrMask::ORD)
        .union(QpAttrMask::ACCESS);
    match (from, to) {
        (QpState::Reset, QpState::Init) => Some((QpAttrMask::STATE, opt)),
        (_, QpState::Err) => Some((QpAttrMask::STATE, QpAttrMask::empty())),
        (QpState::Err | QpState::Init, QpState::Reset) => {
            Some((QpAttrMask::STATE, QpAttrMask::empty()))
        }
        _ => None,
    }
}

/// Checks a MODIFY_QP block against §7 for a QP in `current` (bound to a connection or not):
/// the STATUS the command completes with, and the target state.
pub fn check_modify(current: QpState, bound: bool, attr: &QpAttr) -> Result<QpState, CmdStatus> {
    let mask = attr.mask().ok_or(CmdStatus::BadParam)?;
    if !mask.contains(QpAttrMask::STATE) {
        // INIT → INIT: attributes only.
        if current == QpState::Init && !mask.is_empty() {
            return Ok(QpState::Init);
        }
        return Err(CmdStatus::BadState);
    }
    let to = QpState::from_u8(attr.state).ok_or(CmdStatus::BadParam)?;
    let (required, optional) = transition_attrs(current, to).ok_or(CmdStatus::BadState)?;
    if !mask.contains(required) || !required.union(optional).contains(mask) {
        return Err(CmdStatus::BadParam);
    }
    if to == QpState::Reset && bound {
        return Err(CmdStatus::InUse);
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn header_and_params_offsets_match_the_manual() {
        assert_eq!(offset_of!(CmdEntryRaw, opcode), 0x00);
        assert_eq!(offset_of!(CmdEntryRaw, flags), 0x01);
        assert_eq!(offset_of!(CmdEntryRaw, modifier), 0x02);
        assert_eq!(offset_of!(CmdEntryRaw, object), 0x04);
        assert_eq!(offset_of!(CmdEntryRaw, token), 0x08);
        assert_eq!(offset_of!(CmdEntryRaw, params), PARAMS_OFFSET);
        let e = |o: usize| o + PARAMS_OFFSET;
        assert_eq!(e(offset_of!(MailboxParams, addr)), 0x30);
        assert_eq!(e(offset_of!(MailboxParams, len)), 0x38);
        assert_eq!(e(offset_of!(SetAddrParams, addr)), 0x20);
        assert_eq!(e(offset_of!(SetTcpParams, rto_max_us)), 0x14);
        assert_eq!(e(offset_of!(SetTcpParams, rto_init_us)), 0x18);
        assert_eq!(e(offset_of!(SetTcpParams, max_retries)), 0x1C);
        assert_eq!(e(offset_of!(SetTcpParams, syn_retries)), 0x1D);
        assert_eq!(e(offset_of!(SetTcpParams, mpa_timeout_ms)), 0x20);
        assert_eq!(e(offset_of!(SetTcpParams, fin_timeout_ms)), 0x24);
        assert_eq!(e(offset_of!(SetTcpParams, time_wait_ms)), 0x28);
        assert_eq!(e(offset_of!(CreateSrqParams, limit)), 0x18);
        assert_eq!(e(offset_of!(CreateSrqParams, ring_addr)), 0x20);
        assert_eq!(e(offset_of!(CreateSrqParams, srq_context)), 0x30);
        assert_eq!(e(offset_of!(CqParams, mod_count)), 0x12);
        assert_eq!(e(offset_of!(CqParams, mod_period)), 0x14);
        assert_eq!(e(offset_of!(CqParams, ring_addr)), 0x18);
        assert_eq!(e(offset_of!(CqParams, dbrec_addr)), 0x20);
        assert_eq!(e(offset_of!(CqParams, cq_context)), 0x28);
        assert_eq!(e(offset_of!(CreateQpParams, send_cqn)), 0x14);
        assert_eq!(e(offset_of!(CreateQpParams, srqn)), 0x1C);
        assert_eq!(e(offset_of!(CreateQpParams, log2_sq_depth)), 0x20);
        assert_eq!(e(offset_of!(CreateQpParams, log2_rq_stride)), 0x23);
        assert_eq!(e(offset_of!(CreateQpParams, qp_context)), 0x28);
        assert_eq!(e(offset_of!(CreateQpParams, buf_addr)), 0x30);
        assert_eq!(e(offset_of!(CreateQpParams, record_addr)), 0x38);
        assert_eq!(e(offset_of!(RegisterMrParams, log2_page_size)), 0x14);
        assert_eq!(e(offset_of!(RegisterMrParams, pbl_levels)), 0x15);
        assert_eq!(e(offset_of!(RegisterMrParams, iova)), 0x18);
        assert_eq!(e(offset_of!(RegisterMrParams, length)), 0x20);
        assert_eq!(e(offset_of!(RegisterMrParams, page_count)), 0x28);
        assert_eq!(e(offset_of!(RegisterMrParams, first_byte_offset)), 0x2C);
        assert_eq!(e(offset_of!(RegisterMrParams, pbl_addr)), 0x30);
        assert_eq!(e(offset_of!(ListenParams, port)), 0x12);
        assert_eq!(e(offset_of!(ListenParams, backlog)), 0x14);
        assert_eq!(e(offset_of!(ListenParams, listen_context)), 0x18);
        assert_eq!(e(offset_of!(ListenParams, ip)), 0x20);
        assert_eq!(e(offset_of!(CreateRawqParams, log2_cq_size)), 0x12);
        assert_eq!(e(offset_of!(CreateRawqParams, sq_addr)), 0x18);
        assert_eq!(e(offset_of!(CreateRawqParams, rawq_context)), 0x30);
    }

    #[test]
    fn qp_attr_offsets_match_the_manual() {
        assert_eq!(offset_of!(QpAttr, state), 0x04);
        assert_eq!(offset_of!(QpAttr, ird), 0x06);
        assert_eq!(offset_of!(QpAttr, ord), 0x08);
        assert_eq!(offset_of!(QpAttr, access), 0x0C);
        assert_eq!(offset_of!(QpAttr, conn_id), 0x10);
        assert_eq!(offset_of!(QpAttr, tcp_state), 0x14);
        assert_eq!(offset_of!(QpAttr, rtr), 0x15);
        assert_eq!(offset_of!(QpAttr, mss), 0x16);
        assert_eq!(offset_of!(QpAttr, snd_una), 0x18);
        assert_eq!(offset_of!(QpAttr, cwnd), 0x28);
        assert_eq!(offset_of!(QpAttr, recv_msn), 0x38);
        assert_eq!(offset_of!(QpAttr, term), 0x3C);
        assert_eq!(offset_of!(QpAttr, sq_pi), 0x40);
        assert_eq!(offset_of!(QpAttr, rq_ci), 0x46);
        assert_eq!(offset_of!(QpAttr, syndrome), 0x48);
    }

    #[test]
    fn a_cm_connect_entry_built_from_the_manual_decodes() {
        let mut raw = [0u8; CMD_SIZE];
        raw[0x00] = 0x62;
        raw[0x04..0x08].copy_from_slice(&17u32.to_le_bytes());
        raw[0x08..0x10].copy_from_slice(&0x8000_0000_0000_0042u64.to_le_bytes());
        raw[0x30..0x38].copy_from_slice(&0x1_0000u64.to_le_bytes());
        raw[0x38..0x3C].copy_from_slice(&1024u32.to_le_bytes());
        let e = CmdEntry::decode(&raw).unwrap();
        assert_eq!(e.command, Command::CmConnect(mailbox(0x1_0000, 1024)));
        assert_eq!(
            (e.object, e.token, e.silent),
            (17, 0x8000_0000_0000_0042, false)
        );
        assert_eq!(e.encode(), raw);
    }

    #[test]
    fn a_create_qp_entry_round_trips_with_use_srq() {
        let mut params = CreateQpParams::new_zeroed();
        params.pdn = U32::new(1);
        params.send_cqn = U32::new(2);
        params.recv_cqn = U32::new(3);
        params.srqn = U32::new(4);
        params.log2_sq_depth = 7;
        params.log2_sq_stride = 7;
        params.qp_context = U64::new(0xABCD);
        params.buf_addr = U64::new(0x20_0000);
        params.record_addr = U64::new(0x30_0000);
        let e = CmdEntry {
            command: Command::CreateQp {
                use_srq: true,
                params,
            },
            silent: true,
            object: 5,
            token: 6,
        };
        let raw = e.encode();
        assert_eq!(raw[0], 0x40);
        assert_eq!(raw[1], FLAG_SILENT);
        assert_eq!(&raw[2..4], &[1, 0], "MODIFIER USE_SRQ");
        assert_eq!(&raw[0x1C..0x20], &4u32.to_le_bytes());
        assert_eq!(&raw[0x28..0x30], &0xABCDu64.to_le_bytes());
        assert_eq!(CmdEntry::decode(&raw), Ok(e));
    }

    #[test]
    fn every_opcode_round_trips_and_reserved_bits_are_refused() {
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_u8(op as u8), Some(op));
            let mut raw = [0u8; CMD_SIZE];
            raw[0] = op as u8;
            let e = CmdEntry::decode(&raw).unwrap();
            assert_eq!(e.command.parts().0, op);
            assert_eq!(e.encode(), raw);
        }
        let mut raw = [0u8; CMD_SIZE];
        raw[0] = 0x07;
        assert_eq!(CmdEntry::decode(&raw), Err(CmdStatus::BadOpcode));
        raw[0] = Opcode::CmComplete as u8;
        raw[0x20] = 1;
        assert_eq!(
            CmdEntry::decode(&raw),
            Err(CmdStatus::BadParam),
            "no PARAMS"
        );
        raw[0x20] = 0;
        raw[2] = 1;
        assert_eq!(CmdEntry::decode(&raw), Err(CmdStatus::BadParam), "MODIFIER");
        raw[2] = 0;
        raw[1] = 2;
        assert_eq!(CmdEntry::decode(&raw), Err(CmdStatus::BadParam), "FLAGS");
    }

    #[test]
    fn statuses_map_to_hal_errors() {
        for v in 0..=0x0D {
            let s = CmdStatus::from_u8(v).unwrap();
            assert_eq!(s as u8, v);
            assert_eq!(s.result().is_ok(), v == 0);
        }
        assert_eq!(CmdStatus::from_u8(0x0E), None);
        assert_eq!(
            CmdStatus::AddressInUse.result(),
            Err(HalError::AddressInUse)
        );
        assert_eq!(
            CmdStatus::Unreachable.result(),
            Err(HalError::NetworkUnreachable)
        );
        assert_eq!(CmdStatus::InUse.result(), Err(HalError::InvalidState));
        assert_eq!(
            CmdStatus::Limit.result(),
            Err(HalError::ImplementationLimit)
        );
    }

    #[test]
    fn modify_qp_follows_the_state_machine() {
        let mut init = QpAttr::state_only(QpState::Init);
        assert_eq!(
            check_modify(QpState::Reset, false, &init),
            Ok(QpState::Init)
        );
        init.attr_mask =
            U32::new((QpAttrMask::STATE | QpAttrMask::IRD | QpAttrMask::ACCESS).bits());
        assert_eq!(
            check_modify(QpState::Reset, false, &init),
            Ok(QpState::Init)
        );
        // RTR and RTS only through a connection.
        for to in [QpState::Rtr, QpState::Rts] {
            assert_eq!(
                check_modify(QpState::Init, false, &QpAttr::state_only(to)),
                Err(CmdStatus::BadState)
            );
        }
        // Any state to ERR; ERR to RESET unless bound.
        for from in [
            QpState::Reset,
            QpState::Init,
            QpState::Rtr,
            QpState::Rts,
            QpState::Err,
        ] {
            assert_eq!(
                check_modify(from, true, &QpAttr::state_only(QpState::Err)),
                Ok(QpState::Err)
            );
        }
        let reset = QpAttr::state_only(QpState::Reset);
        assert_eq!(
            check_modify(QpState::Err, false, &reset),
            Ok(QpState::Reset)
        );
        assert_eq!(
            check_modify(QpState::Err, true, &reset),
            Err(CmdStatus::InUse)
        );
        assert_eq!(
            check_modify(QpState::Rts, false, &reset),
            Err(CmdStatus::BadState)
        );
        // A bit the transition does not take, or a reserved bit.
        let mut err = QpAttr::state_only(QpState::Err);
        err.attr_mask = U32::new((QpAttrMask::STATE | QpAttrMask::ORD).bits());
        assert_eq!(
            check_modify(QpState::Rts, true, &err),
            Err(CmdStatus::BadParam)
        );
        err.attr_mask = U32::new(1 << 9);
        assert_eq!(
            check_modify(QpState::Rts, true, &err),
            Err(CmdStatus::BadParam)
        );
        // INIT → INIT attribute change without STATE.
        let mut attrs = QpAttr::new_zeroed();
        attrs.attr_mask = U32::new(QpAttrMask::ORD.bits());
        assert_eq!(
            check_modify(QpState::Init, false, &attrs),
            Ok(QpState::Init)
        );
        assert_eq!(
            check_modify(QpState::Rts, true, &attrs),
            Err(CmdStatus::BadState)
        );
        let mut bad = QpAttr::state_only(QpState::Err);
        bad.state = 4;
        assert_eq!(
            check_modify(QpState::Rts, true, &bad),
            Err(CmdStatus::BadParam)
        );
        for v in 0..=10 {
            assert_eq!(TcpState::from_u8(v).unwrap() as u8, v);
        }
    }
}
