//! BAR0 control registers and BAR2 doorbell pages of RNIC-W1 (docs/silicon/iwarp.md §2–§4).
//!
//! Purely declarative: the PCI identity, the register blocks (`register_structs!`, whose
//! compile-time checks pin every offset) and the bit fields (`register_bitfields!`). Names are
//! the manual's: register `CAP_MAX_QP` is field `cap_max_qp` of [`Bar0`], its bit fields live in
//! the module of the same name.
//!
//! Registers the device changes are `ReadWrite` even where the manual says RO, so a device model
//! can update them through the same block (windows-build.md §3: a `ReadOnly` register is not an
//! `UnsafeCell`). Drivers honour the manual's access column. Doorbells are `WriteOnly`: a model
//! reads them from its backing memory at [`DB_SQ_PI`] and the other `DB_*` offsets and decodes
//! them with `LocalRegisterCopy<u32, SQ_PI::Register>`.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use tock_registers::register_structs;
use tock_registers::registers::{ReadWrite, WriteOnly};

pub use bitfields::*;

/// PCI vendor ID (§2). A placeholder shared with RNIC-R2: a vendor shipping the design replaces
/// it with its PCI-SIG ID.
pub const PCI_VENDOR_ID: u16 = 0x1F0D;
/// PCI device ID of the iWARP function (§2).
pub const PCI_DEVICE_ID: u16 = 0x0002;
/// PCI revision ID of revision-1 silicon (§2).
pub const PCI_REVISION_ID: u8 = 0x01;
/// PCI subsystem vendor ID (§2, placeholder as [`PCI_VENDOR_ID`]).
pub const PCI_SUBSYSTEM_VENDOR_ID: u16 = 0x1F0D;
/// PCI subsystem ID of the reference board (§2).
pub const PCI_SUBSYSTEM_ID: u16 = 0x0002;
/// PCI class code: network controller, Ethernet, programming interface 0 (§2).
pub const PCI_CLASS_CODE: u32 = 0x02_00_00;
/// Register-interface major version this crate implements (`REVISION.IF_MAJOR`).
pub const IF_MAJOR: u8 = 1;
/// Register-interface minor version this crate implements (`REVISION.IF_MINOR`).
pub const IF_MINOR: u8 = 0;

/// Size of BAR0 in bytes (§2).
pub const BAR0_SIZE: usize = 0x1_0000;
/// BAR0 offset of the MSI-X table (§2); owned by the PCI layer, not part of [`Bar0`].
pub const MSIX_TABLE_OFFSET: usize = 0x2000;
/// BAR0 offset of the MSI-X pending-bit array (§2).
pub const MSIX_PBA_OFFSET: usize = 0x3000;
/// MSI-X vectors; vector 0 signals the event queue (§2).
pub const MSIX_VECTORS: u16 = 4;
/// BAR0 bytes covered by `QUERY_DEVICE`'s output: identity and capabilities (§3.4, §6.4.1).
pub const DEVICE_ATTRS_SIZE: usize = 0x200;

/// Size of one doorbell page in BAR2 (§4).
pub const DB_PAGE_SIZE: usize = 4096;
/// Size of one doorbell block; block `n` is at BAR2 offset `n * DB_BLOCK_SIZE` (§4).
pub const DB_BLOCK_SIZE: usize = 64;
/// Doorbell blocks per page (§4).
pub const DB_BLOCKS_PER_PAGE: usize = DB_PAGE_SIZE / DB_BLOCK_SIZE;
/// Offset of `SQ_PI` in a doorbell block (§4).
pub const DB_SQ_PI: usize = 0x00;
/// Offset of `RQ_PI` in a doorbell block (§4).
pub const DB_RQ_PI: usize = 0x04;
/// Offset of `SRQ_PI` in a doorbell block (§4).
pub const DB_SRQ_PI: usize = 0x08;
/// Offset of `CQ_ARM` in a doorbell block (§4).
pub const DB_CQ_ARM: usize = 0x0C;
/// Offset of `RAW_SQ_PI` in a doorbell block (§4).
pub const DB_RAW_SQ_PI: usize = 0x10;
/// Offset of `RAW_RQ_PI` in a doorbell block (§4).
pub const DB_RAW_RQ_PI: usize = 0x14;
/// Offset of `RAW_CQ_ARM` in a doorbell block (§4).
pub const DB_RAW_CQ_ARM: usize = 0x18;

/// BAR2 offset of the doorbell block of queue number `n` (QPN, SRQN, CQN or raw queue), §4.
pub const fn doorbell_block_offset(n: u32) -> usize {
    (n as usize).saturating_mul(DB_BLOCK_SIZE)
}

// register_bitfields! generates undocumented items of its own (the `Register` marker, the
// `Field` constants, `SET` / `CLEAR`); every register, field and value below is documented.
#[allow(missing_docs)]
mod bitfields {
    use tock_registers::register_bitfields;

    register_bitfields![u32,
        /// `ID` (0x000, RO): PCI identity (§3.3).
        pub ID [
            /// PCI vendor ID.
            VENDOR_ID OFFSET(0) NUMBITS(16) [],
            /// PCI device ID.
            DEVICE_ID OFFSET(16) NUMBITS(16) []
        ],
        /// `REVISION` (0x004, RO): silicon revision and register-interface version (§3.3).
        pub REVISION [
            /// Silicon revision.
            REVISION_ID OFFSET(0) NUMBITS(8) [],
            /// Register-interface minor version (compatible additions).
            IF_MINOR OFFSET(8) NUMBITS(8) [],
            /// Register-interface major version; a driver refuses one it does not know.
            IF_MAJOR OFFSET(16) NUMBITS(8) []
        ],
        /// `SUBSYSTEM` (0x008, RO): PCI subsystem identity (§3.3).
        pub SUBSYSTEM [
            /// Subsystem vendor ID.
            SUBSYS_VENDOR_ID OFFSET(0) NUMBITS(16) [],
            /// Subsystem ID.
            SUBSYS_ID OFFSET(16) NUMBITS(16) []
        ],
        /// `FW_VERSION` (0x00C, RO): firmware version (§3.3).
        pub FW_VERSION [
            /// Patch level.
            PATCH OFFSET(0) NUMBITS(16) [],
            /// Minor version.
            MINOR OFFSET(16) NUMBITS(8) [],
            /// Major version.
            MAJOR OFFSET(24) NUMBITS(8) []
        ],
        /// `MAC_LO` (0x010, RO): factory MAC octets 0–3, octet 0 in bits 7:0 (§3.3).
        pub MAC_LO [
            /// Octet 0 (first on the wire).
            OCTET0 OFFSET(0) NUMBITS(8) [],
            /// Octet 1.
            OCTET1 OFFSET(8) NUMBITS(8) [],
            /// Octet 2.
            OCTET2 OFFSET(16) NUMBITS(8) [],
            /// Octet 3.
            OCTET3 OFFSET(24) NUMBITS(8) []
        ],
        /// `MAC_HI` (0x014, RO): factory MAC octets 4–5 (§3.3).
        pub MAC_HI [
            /// Octet 4.
            OCTET4 OFFSET(0) NUMBITS(8) [],
            /// Octet 5 (last on the wire).
            OCTET5 OFFSET(8) NUMBITS(8) []
        ],
        /// `CAP_SGE` (0x12C, RO): data segments per WQE (§3.4).
        pub CAP_SGE [
            /// Data segments per send / write WQE.
            MAX_SEND_SGE OFFSET(0) NUMBITS(8) [],
            /// Data segments per receive WQE.
            MAX_RECV_SGE OFFSET(8) NUMBITS(8) [],
            /// Sink data segments per read WQE (1: a Read Request names one sink STag).
            MAX_READ_SGE OFFSET(16) NUMBITS(8) [],
            /// Data segments per SRQ WQE.
            MAX_SRQ_SGE OFFSET(24) NUMBITS(8) []
        ],
        /// `CAP_INLINE` (0x130, RO): inline payload and WQE strides (§3.4).
        pub CAP_INLINE [
            /// Inline payload bytes per send / write WQE.
            MAX_INLINE OFFSET(0) NUMBITS(16) [],
            /// Largest send WQE stride, log2 bytes.
            MAX_SQ_STRIDE_LOG2 OFFSET(16) NUMBITS(8) [],
            /// Largest receive WQE stride, log2 bytes.
            MAX_RQ_STRIDE_LOG2 OFFSET(24) NUMBITS(8) []
        ],
        /// `CAP_RDMA` (0x134, RO): RDMA Read Request depths per QP (§3.4).
        pub CAP_RDMA [
            /// Inbound Read Requests outstanding (responder resources).
            MAX_IRD OFFSET(0) NUMBITS(8) [],
            /// Outbound Read Requests outstanding (initiator depth).
            MAX_ORD OFFSET(8) NUMBITS(8) []
        ],
        /// `CAP_MR` (0x13C, RO): registration limits (§3.4).
        pub CAP_MR [
            /// Largest registration, log2 bytes.
            MAX_MR_SIZE_LOG2 OFFSET(0) NUMBITS(8) [],
            /// Largest memory window, log2 bytes.
            MAX_MW_SIZE_LOG2 OFFSET(8) NUMBITS(8) [],
            /// Page-list levels `REGISTER_MR` accepts.
            MAX_PBL_LEVELS OFFSET(16) NUMBITS(8) []
        ],
        /// `CAP_PAGE_SIZES` (0x140, RO): bit n set = pages of 2^n bytes supported (§3.4).
        pub CAP_PAGE_SIZES [
            /// 4 KiB pages.
            SIZE_4K OFFSET(12) NUMBITS(1) [],
            /// 2 MiB pages.
            SIZE_2M OFFSET(21) NUMBITS(1) [],
            /// 1 GiB pages.
            SIZE_1G OFFSET(30) NUMBITS(1) []
        ],
        /// `CAP_FRMR` (0x148, RO): fast-register page counts (§3.4).
        pub CAP_FRMR [
            /// Largest page count `INIT_FAST_REG` accepts.
            MAX_PAGES OFFSET(0) NUMBITS(16) [],
            /// Page count that gives the most fast-register MRs.
            OPT_PAGES OFFSET(16) NUMBITS(16) []
        ],
        /// `CAP_FEATURES` (0x14C, RO): feature bits (§3.4).
        pub CAP_FEATURES [
            /// Incoming data is placed in order.
            IN_ORDER_DMA OFFSET(0) NUMBITS(1) [],
            /// Read sinks need only LOCAL_WRITE.
            READ_SINK_NOT_REQUIRED OFFSET(1) NUMBITS(1) [],
            /// CQ interrupt moderation.
            CQ_MODERATION OFFSET(2) NUMBITS(1) [],
            /// `RESIZE_CQ`.
            CQ_RESIZE OFFSET(3) NUMBITS(1) [],
            /// Several protocol engines.
            MULTI_ENGINE OFFSET(4) NUMBITS(1) [],
            /// READ with `LOCAL_INVALIDATE`.
            READ_LOCAL_INVALIDATE OFFSET(5) NUMBITS(1) [],
            /// Connections between QPs of this device.
            LOOPBACK OFFSET(6) NUMBITS(1) [],
            /// Shared receive queues.
            SRQ OFFSET(7) NUMBITS(1) [],
            /// Memory windows.
            MW OFFSET(8) NUMBITS(1) [],
            /// FAST_REG and LOCAL_INV WQEs.
            FAST_REG OFFSET(9) NUMBITS(1) [],
            /// IPv6 local addresses and connections.
            IPV6 OFFSET(10) NUMBITS(1) [],
            /// The TCP offload engine and MPA connection manager.
            TCP_OFFLOAD OFFSET(11) NUMBITS(1) []
        ],
        /// `CAP_CM` (0x150, RO): connection-manager limits (§3.4).
        pub CAP_CM [
            /// ULP private-data bytes of an MPA request, reply or reject (512 − 4 for IRD / ORD).
            MAX_PRIVATE_DATA OFFSET(0) NUMBITS(16) [],
            /// Listen ids `0..MAX_LISTEN`.
            MAX_LISTEN OFFSET(16) NUMBITS(16) []
        ],
        /// `CAP_QUEUES` (0x154, RO): host ring limits (§3.4).
        pub CAP_QUEUES [
            /// Largest EQ, log2 entries.
            MAX_EQ_LOG2 OFFSET(0) NUMBITS(8) [],
            /// Largest admin queue, log2 entries.
            MAX_ADMQ_LOG2 OFFSET(8) NUMBITS(8) [],
            /// Largest connection event ring, log2 entries.
            MAX_CMEV_LOG2 OFFSET(16) NUMBITS(8) [],
            /// Event queues.
            NUM_EQ OFFSET(24) NUMBITS(8) []
        ],
        /// `CAP_ADDR` (0x158, RO): local address table size (§3.4).
        pub CAP_ADDR [
            /// Local address table entries.
            ADDR_TABLE_SIZE OFFSET(0) NUMBITS(16) []
        ],
        /// `CAP_TCP` (0x16C, RO): TCP offload parameters (§3.4).
        pub CAP_TCP [
            /// First port the device picks local ports from (to 65535).
            EPHEMERAL_BASE OFFSET(0) NUMBITS(16) [],
            /// Window-scale shift offered in SYN / SYN-ACK.
            WSCALE OFFSET(16) NUMBITS(4) []
        ],
        /// `CTRL` (0x200, RW): reset and enable (§3.5).
        pub CTRL [
            /// Write 1 to reset the function; self-clearing when the reset is done.
            RESET OFFSET(0) NUMBITS(1) [],
            /// 1: process doorbells, admin commands and traffic; 0: quiesce.
            ENABLE OFFSET(1) NUMBITS(1) []
        ],
        /// `STATUS` (0x204, RO): device state (§3.5).
        pub STATUS [
            /// Reset complete, registers may be programmed.
            READY OFFSET(0) NUMBITS(1) [],
            /// The device acted on `CTRL.ENABLE` = 1.
            ENABLED OFFSET(1) NUMBITS(1) [],
            /// Unrecoverable error; see `FATAL_CODE`.
            FATAL OFFSET(2) NUMBITS(1) []
        ],
        /// `FATAL_CODE` (0x208, RO): why the device is fatal (§3.5).
        pub FATAL_CODE [
            /// The cause.
            CODE OFFSET(0) NUMBITS(32) [
                /// No fatal error.
                None = 0,
                /// Firmware assertion.
                Firmware = 1,
                /// An event was due while the EQ was full.
                EqOverflow = 2,
                /// A host-memory access to a device-owned ring failed.
                DmaError = 3,
                /// Internal memory parity error.
                InternalParity = 4,
                /// Over-temperature shutdown.
                Thermal = 5
            ]
        ],
        /// `PORT_STATUS` (0x20C, RO): Ethernet port (§3.5).
        pub PORT_STATUS [
            /// Link is up.
            LINK_UP OFFSET(0) NUMBITS(1) [],
            /// Link speed.
            SPEED OFFSET(8) NUMBITS(4) [
                /// Unknown or down.
                Unknown = 0,
                /// 10 Gb/s.
                Gbps10 = 1,
                /// 25 Gb/s.
                Gbps25 = 2,
                /// 40 Gb/s.
                Gbps40 = 3,
                /// 50 Gb/s.
                Gbps50 = 4,
                /// 100 Gb/s.
                Gbps100 = 5,
                /// 200 Gb/s.
                Gbps200 = 6,
                /// 400 Gb/s.
                Gbps400 = 7
            ],
            /// Ethernet MTU in force, bytes.
            MTU OFFSET(16) NUMBITS(16) []
        ],
        /// `ADMQ_SIZE` (0x308, RW): admin ring size (§3.6).
        pub ADMQ_SIZE [
            /// log2 entries, 2..`MAX_ADMQ_LOG2`.
            LOG2_ENTRIES OFFSET(0) NUMBITS(5) []
        ],
        /// `ADMQ_CTRL` (0x30C, RW): admin queue enable (§3.6).
        pub ADMQ_CTRL [
            /// 1: latch base and size, PI = CI = 0, start.
            ENABLE OFFSET(0) NUMBITS(1) []
        ],
        /// `ADMQ_PI` (0x310, RW): admin producer index; writing it is the admin doorbell (§3.6).
        pub ADMQ_PI [
            /// Entries written (free-running, 16 bits).
            PI OFFSET(0) NUMBITS(16) []
        ],
        /// `ADMQ_CI` (0x314, RO): admin consumer index (§3.6).
        pub ADMQ_CI [
            /// Entries read and executed (free-running, 16 bits).
            CI OFFSET(0) NUMBITS(16) []
        ],
        /// `ADMQ_STATUS` (0x318, RO): admin queue state (§3.6).
        pub ADMQ_STATUS [
            /// The admin queue is running.
            ENABLED OFFSET(0) NUMBITS(1) [],
            /// The admin queue stopped on an error.
            ERROR OFFSET(1) NUMBITS(1) [],
            /// Why it stopped.
            ERROR_CODE OFFSET(8) NUMBITS(8) [
                /// No error.
                None = 0,
                /// DMA read of an entry failed.
                DmaError = 1,
                /// PI − CI exceeded the ring size.
                BadProducerIndex = 2
            ]
        ],
        /// `EQ_SIZE` (0x348, RW): event ring size (§3.7).
        pub EQ_SIZE [
            /// log2 entries, 4..`MAX_EQ_LOG2`.
            LOG2_ENTRIES OFFSET(0) NUMBITS(5) []
        ],
        /// `EQ_CTRL` (0x34C, RW): event queue enable (§3.7).
        pub EQ_CTRL [
            /// 1: latch base and size, PI = CI = 0, start writing events.
            ENABLE OFFSET(0) NUMBITS(1) []
        ],
        /// `EQ_CI` (0x350, RW): event consumer index and interrupt arm (§3.7).
        pub EQ_CI [
            /// EQEs consumed (free-running, 24 bits).
            CI OFFSET(0) NUMBITS(24) [],
            /// Interrupt on the next EQE (at once if some are unconsumed); self-clearing.
            ARM OFFSET(31) NUMBITS(1) []
        ],
        /// `EQ_PI` (0x354, RO): EQEs written (diagnostic, §3.7).
        pub EQ_PI [
            /// EQEs written (free-running, 24 bits).
            PI OFFSET(0) NUMBITS(24) []
        ],
        /// `EQ_STATUS` (0x358, RO): event queue state (§3.7).
        pub EQ_STATUS [
            /// The EQ is running.
            ENABLED OFFSET(0) NUMBITS(1) [],
            /// An event was due while the EQ was full (the device is fatal).
            OVERFLOW OFFSET(1) NUMBITS(1) []
        ],
        /// `CMEV_SIZE` (0x388, RW): connection event ring size (§3.8).
        pub CMEV_SIZE [
            /// log2 entries, 2..`MAX_CMEV_LOG2`.
            LOG2_ENTRIES OFFSET(0) NUMBITS(5) []
        ],
        /// `CMEV_CTRL` (0x38C, RW): connection event ring enable (§3.8).
        pub CMEV_CTRL [
            /// 1: latch base and size, PI = CI = 0; the connection manager runs.
            ENABLE OFFSET(0) NUMBITS(1) []
        ],
        /// `CMEV_CI` (0x390, RW): connection records consumed (§3.8).
        pub CMEV_CI [
            /// Records consumed (free-running, 16 bits).
            CI OFFSET(0) NUMBITS(16) []
        ],
        /// `CMEV_PI` (0x394, RO): connection records written (§3.8).
        pub CMEV_PI [
            /// Records written (free-running, 16 bits).
            PI OFFSET(0) NUMBITS(16) []
        ],
        /// `INT_CAUSE` (0x400, W1C) and `INT_MASK` (0x404, RW; 1 = masked) share this layout (§3.9).
        pub INT [
            /// An EQE was written while the EQ was armed.
            EQ OFFSET(0) NUMBITS(1) [],
            /// `ADMQ_STATUS.ERROR` became 1.
            ADMQ_ERROR OFFSET(1) NUMBITS(1) [],
            /// `PORT_STATUS.LINK_UP` changed.
            LINK OFFSET(2) NUMBITS(1) [],
            /// `STATUS.FATAL` became 1.
            FATAL OFFSET(3) NUMBITS(1) []
        ],
        /// `ADDR_SELECT` (0x500, RW): local address table entry to show (§3.10).
        pub ADDR_SELECT [
            /// Entry index.
            INDEX OFFSET(0) NUMBITS(16) []
        ],
        /// `ADDR_ATTR` (0x504, RO): the selected local address entry (§3.10).
        pub ADDR_ATTR [
            /// The entry is in use.
            VALID OFFSET(0) NUMBITS(1) [],
            /// Address type.
            TYPE OFFSET(1) NUMBITS(2) [
                /// Not set.
                None = 0,
                /// IPv4, stored IPv4-mapped.
                Ipv4 = 1,
                /// IPv6.
                Ipv6 = 2
            ]
        ],
        /// `SQ_PI` (doorbell block 0x00, WO): send queue producer index (§4).
        pub SQ_PI [
            /// SQ WQEs written (free-running, 16 bits).
            PI OFFSET(0) NUMBITS(16) []
        ],
        /// `RQ_PI` (doorbell block 0x04, WO): receive queue producer index (§4).
        pub RQ_PI [
            /// RQ WQEs written (free-running, 16 bits).
            PI OFFSET(0) NUMBITS(16) []
        ],
        /// `SRQ_PI` (doorbell block 0x08, WO): shared receive queue producer index (§4).
        pub SRQ_PI [
            /// SRQ WQEs written (free-running, 16 bits).
            PI OFFSET(0) NUMBITS(16) []
        ],
        /// `CQ_ARM` (doorbell block 0x0C, WO): CQ consumer index and arm (§4, §5.6.4).
        pub CQ_ARM [
            /// CQEs consumed at the time of arming (free-running, 24 bits).
            CI OFFSET(0) NUMBITS(24) [],
            /// Arm sequence number: previous arm's SN + 1 (mod 4).
            SN OFFSET(24) NUMBITS(2) [],
            /// What the arm waits for.
            TYPE OFFSET(26) NUMBITS(2) [
                /// The next CQE.
                Any = 1,
                /// The next solicited or error CQE.
                Solicited = 2
            ],
            /// Ring generation the CI counts in (§5.6.3).
            RING OFFSET(28) NUMBITS(1) []
        ],
        /// `RAW_SQ_PI` / `RAW_RQ_PI` (doorbell block 0x10 / 0x14, WO): raw queue producer
        /// indices (§4, §5.9).
        pub RAW_PI [
            /// Descriptors written (free-running, 16 bits).
            PI OFFSET(0) NUMBITS(16) []
        ],
        /// `RAW_CQ_ARM` (doorbell block 0x18, WO): raw completion ring consumer index and arm
        /// (§4, §5.9).
        pub RAW_CQ_ARM [
            /// Raw completions consumed at the time of arming (free-running, 24 bits).
            CI OFFSET(0) NUMBITS(24) [],
            /// Arm sequence number: previous arm's SN + 1 (mod 4).
            SN OFFSET(24) NUMBITS(2) []
        ]
    ];
}

register_structs! {
    /// The BAR0 control registers, `0x000`–`0xFFF` (§3.2). View it with
    /// `hal::MmioRegion::block::<Bar0>(0)`.
    pub Bar0 {
        /// PCI identity (§3.3).
        (0x000 => pub id: ReadWrite<u32, ID::Register>),
        /// Silicon revision and interface version (§3.3).
        (0x004 => pub revision: ReadWrite<u32, REVISION::Register>),
        /// PCI subsystem identity (§3.3).
        (0x008 => pub subsystem: ReadWrite<u32, SUBSYSTEM::Register>),
        /// Firmware version (§3.3).
        (0x00C => pub fw_version: ReadWrite<u32, FW_VERSION::Register>),
        /// Factory MAC octets 0–3 (§3.3).
        (0x010 => pub mac_lo: ReadWrite<u32, MAC_LO::Register>),
        /// Factory MAC octets 4–5 (§3.3).
        (0x014 => pub mac_hi: ReadWrite<u32, MAC_HI::Register>),
        (0x018 => _reserved_identity),
        /// QP numbers; QPN 0 is reserved (§3.4).
        (0x100 => pub cap_max_qp: ReadWrite<u32>),
        /// CQ numbers (§3.4).
        (0x104 => pub cap_max_cq: ReadWrite<u32>),
        /// SRQ numbers (§3.4).
        (0x108 => pub cap_max_srq: ReadWrite<u32>),
        /// PD numbers (§3.4).
        (0x10C => pub cap_max_pd: ReadWrite<u32>),
        /// STag indices shared by MRs and MWs; 0 and 1 reserved (§3.4).
        (0x110 => pub cap_max_stag: ReadWrite<u32>),
        /// MRs at once (§3.4).
        (0x114 => pub cap_max_mr: ReadWrite<u32>),
        /// MWs at once (§3.4).
        (0x118 => pub cap_max_mw: ReadWrite<u32>),
        /// Largest SQ in WQEs (§3.4).
        (0x11C => pub cap_max_sq_depth: ReadWrite<u32>),
        /// Largest RQ in WQEs (§3.4).
        (0x120 => pub cap_max_rq_depth: ReadWrite<u32>),
        /// Largest SRQ in WQEs (§3.4).
        (0x124 => pub cap_max_srq_depth: ReadWrite<u32>),
        /// Largest usable CQ depth (§3.4).
        (0x128 => pub cap_max_cq_depth: ReadWrite<u32>),
        /// Data segments per WQE (§3.4).
        (0x12C => pub cap_sge: ReadWrite<u32, CAP_SGE::Register>),
        /// Inline bytes and strides (§3.4).
        (0x130 => pub cap_inline: ReadWrite<u32, CAP_INLINE::Register>),
        /// Read depths (§3.4).
        (0x134 => pub cap_rdma: ReadWrite<u32, CAP_RDMA::Register>),
        /// Largest message in bytes (§3.4).
        (0x138 => pub cap_max_msg_size: ReadWrite<u32>),
        /// Registration limits (§3.4).
        (0x13C => pub cap_mr: ReadWrite<u32, CAP_MR::Register>),
        /// Supported page sizes (§3.4).
        (0x140 => pub cap_page_sizes: ReadWrite<u32, CAP_PAGE_SIZES::Register>),
        /// Largest `REGISTER_MR` page count (§3.4).
        (0x144 => pub cap_max_pbl_pages: ReadWrite<u32>),
        /// Fast-register page counts (§3.4).
        (0x148 => pub cap_frmr: ReadWrite<u32, CAP_FRMR::Register>),
        /// Feature bits (§3.4).
        (0x14C => pub cap_features: ReadWrite<u32, CAP_FEATURES::Register>),
        /// Connection-manager limits (§3.4).
        (0x150 => pub cap_cm: ReadWrite<u32, CAP_CM::Register>),
        /// Host ring limits (§3.4).
        (0x154 => pub cap_queues: ReadWrite<u32, CAP_QUEUES::Register>),
        /// Local address table size (§3.4).
        (0x158 => pub cap_addr: ReadWrite<u32, CAP_ADDR::Register>),
        /// Size above which RDMA beats send/receive (§3.4).
        (0x15C => pub cap_large_request: ReadWrite<u32>),
        /// The privileged STag (§3.4).
        (0x160 => pub cap_priv_stag: ReadWrite<u32>),
        /// BAR2 size in 4 KiB pages (§3.4).
        (0x164 => pub cap_db_pages: ReadWrite<u32>),
        /// Offloaded TCP connections at once (§3.4).
        (0x168 => pub cap_max_conn: ReadWrite<u32>),
        /// TCP offload parameters (§3.4).
        (0x16C => pub cap_tcp: ReadWrite<u32, CAP_TCP::Register>),
        /// Receive window of each connection, bytes (§3.4).
        (0x170 => pub cap_tcp_window: ReadWrite<u32>),
        (0x174 => _reserved_caps),
        /// Reset and enable (§3.5).
        (0x200 => pub ctrl: ReadWrite<u32, CTRL::Register>),
        /// Device state (§3.5).
        (0x204 => pub status: ReadWrite<u32, STATUS::Register>),
        /// Why the device is fatal (§3.5).
        (0x208 => pub fatal_code: ReadWrite<u32, FATAL_CODE::Register>),
        /// Ethernet port (§3.5).
        (0x20C => pub port_status: ReadWrite<u32, PORT_STATUS::Register>),
        /// Scratch register (§3.5).
        (0x210 => pub scratch: ReadWrite<u32>),
        (0x214 => _reserved_control),
        /// Admin ring bus address, bits 31:0 (§3.6).
        (0x300 => pub admq_base_lo: ReadWrite<u32>),
        /// Admin ring bus address, bits 63:32 (§3.6).
        (0x304 => pub admq_base_hi: ReadWrite<u32>),
        /// Admin ring size (§3.6).
        (0x308 => pub admq_size: ReadWrite<u32, ADMQ_SIZE::Register>),
        /// Admin queue enable (§3.6).
        (0x30C => pub admq_ctrl: ReadWrite<u32, ADMQ_CTRL::Register>),
        /// Admin producer index: the admin doorbell (§3.6).
        (0x310 => pub admq_pi: ReadWrite<u32, ADMQ_PI::Register>),
        /// Admin consumer index (§3.6).
        (0x314 => pub admq_ci: ReadWrite<u32, ADMQ_CI::Register>),
        /// Admin queue state (§3.6).
        (0x318 => pub admq_status: ReadWrite<u32, ADMQ_STATUS::Register>),
        (0x31C => _reserved_admq),
        /// EQ bus address, bits 31:0 (§3.7).
        (0x340 => pub eq_base_lo: ReadWrite<u32>),
        /// EQ bus address, bits 63:32 (§3.7).
        (0x344 => pub eq_base_hi: ReadWrite<u32>),
        /// EQ size (§3.7).
        (0x348 => pub eq_size: ReadWrite<u32, EQ_SIZE::Register>),
        /// EQ enable (§3.7).
        (0x34C => pub eq_ctrl: ReadWrite<u32, EQ_CTRL::Register>),
        /// EQ consumer index and arm (§3.7).
        (0x350 => pub eq_ci: ReadWrite<u32, EQ_CI::Register>),
        /// EQ producer index (§3.7).
        (0x354 => pub eq_pi: ReadWrite<u32, EQ_PI::Register>),
        /// EQ state (§3.7).
        (0x358 => pub eq_status: ReadWrite<u32, EQ_STATUS::Register>),
        (0x35C => _reserved_eq),
        /// Connection event ring bus address, bits 31:0 (§3.8).
        (0x380 => pub cmev_base_lo: ReadWrite<u32>),
        /// Connection event ring bus address, bits 63:32 (§3.8).
        (0x384 => pub cmev_base_hi: ReadWrite<u32>),
        /// Connection event ring size (§3.8).
        (0x388 => pub cmev_size: ReadWrite<u32, CMEV_SIZE::Register>),
        /// Connection event ring enable (§3.8).
        (0x38C => pub cmev_ctrl: ReadWrite<u32, CMEV_CTRL::Register>),
        /// Records consumed (§3.8).
        (0x390 => pub cmev_ci: ReadWrite<u32, CMEV_CI::Register>),
        /// Records written (§3.8).
        (0x394 => pub cmev_pi: ReadWrite<u32, CMEV_PI::Register>),
        (0x398 => _reserved_cmev),
        /// Interrupt causes, write 1 to clear (§3.9).
        (0x400 => pub int_cause: ReadWrite<u32, INT::Register>),
        /// Interrupt mask, 1 = masked (§3.9).
        (0x404 => pub int_mask: ReadWrite<u32, INT::Register>),
        (0x408 => _reserved_int),
        /// Local address entry to show (§3.10).
        (0x500 => pub addr_select: ReadWrite<u32, ADDR_SELECT::Register>),
        /// The selected entry (§3.10).
        (0x504 => pub addr_attr: ReadWrite<u32, ADDR_ATTR::Register>),
        (0x508 => _reserved_addr0),
        /// Address bytes 0–3 (§3.10).
        (0x510 => pub addr_data0: ReadWrite<u32>),
        /// Address bytes 4–7 (§3.10).
        (0x514 => pub addr_data1: ReadWrite<u32>),
        /// Address bytes 8–11 (§3.10).
        (0x518 => pub addr_data2: ReadWrite<u32>),
        /// Address bytes 12–15 (§3.10).
        (0x51C => pub addr_data3: ReadWrite<u32>),
        (0x520 => _reserved_addr1),
        /// Frames sent by the TCP offload engine (§3.11).
        (0x800 => pub stat_tx_frames: ReadWrite<u64>),
        /// Their octets (§3.11).
        (0x808 => pub stat_tx_octets: ReadWrite<u64>),
        /// Frames received for the TCP offload engine (§3.11).
        (0x810 => pub stat_rx_frames: ReadWrite<u64>),
        /// Their octets (§3.11).
        (0x818 => pub stat_rx_octets: ReadWrite<u64>),
        /// TCP segments sent (§3.11).
        (0x820 => pub stat_tcp_segs_sent: ReadWrite<u64>),
        /// TCP segments received with a good checksum (§3.11).
        (0x828 => pub stat_tcp_segs_received: ReadWrite<u64>),
        /// Segments sent again (§3.11).
        (0x830 => pub stat_tcp_retransmits: ReadWrite<u64>),
        /// Retransmission timer expiries (§3.11).
        (0x838 => pub stat_tcp_timeouts: ReadWrite<u64>),
        /// Retransmissions after three duplicate ACKs (§3.11).
        (0x840 => pub stat_tcp_fast_retransmits: ReadWrite<u64>),
        /// Segments beyond RCV.NXT (dropped) (§3.11).
        (0x848 => pub stat_tcp_out_of_order: ReadWrite<u64>),
        /// Segments wholly before RCV.NXT (dropped) (§3.11).
        (0x850 => pub stat_tcp_duplicates: ReadWrite<u64>),
        /// Segments with a bad IP or TCP checksum (§3.11).
        (0x858 => pub stat_tcp_bad_checksum: ReadWrite<u64>),
        /// RST segments sent (§3.11).
        (0x860 => pub stat_tcp_rsts_sent: ReadWrite<u64>),
        /// Acceptable RST segments received (§3.11).
        (0x868 => pub stat_tcp_rsts_received: ReadWrite<u64>),
        /// SYNs sent for `CM_CONNECT` (§3.11).
        (0x870 => pub stat_tcp_active_opens: ReadWrite<u64>),
        /// SYNs accepted for a listen (§3.11).
        (0x878 => pub stat_tcp_passive_opens: ReadWrite<u64>),
        /// Handshakes that ended without ESTABLISHED (§3.11).
        (0x880 => pub stat_tcp_failed_opens: ReadWrite<u64>),
        /// FPDUs with a bad CRC32c (§3.11).
        (0x888 => pub stat_mpa_crc_errors: ReadWrite<u64>),
        /// MPA replies sent with the Rej bit (§3.11).
        (0x890 => pub stat_mpa_rejects_sent: ReadWrite<u64>),
        /// MPA replies received with the Rej bit (§3.11).
        (0x898 => pub stat_mpa_rejects_received: ReadWrite<u64>),
        /// DDP segments sent (§3.11).
        (0x8A0 => pub stat_ddp_segments_sent: ReadWrite<u64>),
        /// DDP segments received and placed (§3.11).
        (0x8A8 => pub stat_ddp_segments_received: ReadWrite<u64>),
        /// RDMAP Terminate messages sent (§3.11).
        (0x8B0 => pub stat_terminates_sent: ReadWrite<u64>),
        /// RDMAP Terminate messages received (§3.11).
        (0x8B8 => pub stat_terminates_received: ReadWrite<u64>),
        /// Engine frames dropped for other reasons (§3.11).
        (0x8C0 => pub stat_rx_discards: ReadWrite<u64>),
        /// Frames sent from the raw queue (§3.11).
        (0x8C8 => pub stat_raw_tx_frames: ReadWrite<u64>),
        /// Frames written into raw receive buffers (§3.11).
        (0x8D0 => pub stat_raw_rx_frames: ReadWrite<u64>),
        /// Admitted frames no raw receive descriptor took (§3.11).
        (0x8D8 => pub stat_raw_rx_no_buffer: ReadWrite<u64>),
        /// Frames the receive filter dropped (§3.11).
        (0x8E0 => pub stat_raw_rx_filtered: ReadWrite<u64>),
        /// Window probes sent (§3.11).
        (0x8E8 => pub stat_tcp_zero_window_probes: ReadWrite<u64>),
        /// MPA timers that expired (§3.11).
        (0x8F0 => pub stat_mpa_timeouts: ReadWrite<u64>),
        /// Segments refused before placement (§3.11).
        (0x8F8 => pub stat_ddp_placement_errors: ReadWrite<u64>),
        (0x900 => _reserved_stats),
        (0x1000 => @END),
    },

    /// One 64-byte doorbell block: the doorbells of QP, SRQ, CQ and raw queue number `n` (§4).
    /// View it with `hal::MmioRegion::block::<DoorbellBlock>(regs::doorbell_block_offset(n))`
    /// on BAR2.
    pub DoorbellBlock {
        /// SQ producer index of QP `n`.
        (0x00 => pub sq_pi: WriteOnly<u32, SQ_PI::Register>),
        /// RQ producer index of QP `n`.
        (0x04 => pub rq_pi: WriteOnly<u32, RQ_PI::Register>),
        /// Producer index of SRQ `n`.
        (0x08 => pub srq_pi: WriteOnly<u32, SRQ_PI::Register>),
        /// Consumer index and arm of CQ `n`.
        (0x0C => pub cq_arm: WriteOnly<u32, CQ_ARM::Register>),
        /// Send producer index of raw queue `n` (§5.9).
        (0x10 => pub raw_sq_pi: WriteOnly<u32, RAW_PI::Register>),
        /// Receive producer index of raw queue `n`.
        (0x14 => pub raw_rq_pi: WriteOnly<u32, RAW_PI::Register>),
        /// Completion consumer index and arm of raw queue `n`.
        (0x18 => pub raw_cq_arm: WriteOnly<u32, RAW_CQ_ARM::Register>),
        (0x1C => _reserved),
        (0x40 => @END),
    },

    /// One 4 KiB doorbell page: 64 doorbell blocks, block `i` for queue number
    /// `page * 64 + i` (§4).
    pub DoorbellPage {
        /// The blocks of this page.
        (0x000 => pub blocks: [DoorbellBlock; DB_BLOCKS_PER_PAGE]),
        (0x1000 => @END),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};
    use tock_registers::interfaces::{Readable, Writeable};
    use tock_registers::registers::InMemoryRegister;
    use tock_registers::LocalRegisterCopy;

    #[test]
    fn bar0_covers_the_register_window_and_query_device_image() {
        assert_eq!(size_of::<Bar0>(), 0x1000);
        assert_eq!(offset_of!(Bar0, ctrl), DEVICE_ATTRS_SIZE);
        assert!(size_of::<Bar0>() <= MSIX_TABLE_OFFSET);
    }

    #[test]
    fn bar0_offsets_match_the_map_summary() {
        // §3.2, row by row.
        let rows: &[(usize, usize)] = &[
            (0x000, offset_of!(Bar0, id)),
            (0x004, offset_of!(Bar0, revision)),
            (0x008, offset_of!(Bar0, subsystem)),
            (0x00C, offset_of!(Bar0, fw_version)),
            (0x010, offset_of!(Bar0, mac_lo)),
            (0x014, offset_of!(Bar0, mac_hi)),
            (0x100, offset_of!(Bar0, cap_max_qp)),
            (0x104, offset_of!(Bar0, cap_max_cq)),
            (0x108, offset_of!(Bar0, cap_max_srq)),
            (0x10C, offset_of!(Bar0, cap_max_pd)),
            (0x110, offset_of!(Bar0, cap_max_stag)),
            (0x114, offset_of!(Bar0, cap_max_mr)),
            (0x118, offset_of!(Bar0, cap_max_mw)),
            (0x11C, offset_of!(Bar0, cap_max_sq_depth)),
            (0x120, offset_of!(Bar0, cap_max_rq_depth)),
            (0x124, offset_of!(Bar0, cap_max_srq_depth)),
            (0x128, offset_of!(Bar0, cap_max_cq_depth)),
            (0x12C, offset_of!(Bar0, cap_sge)),
            (0x130, offset_of!(Bar0, cap_inline)),
            (0x134, offset_of!(Bar0, cap_rdma)),
            (0x138, offset_of!(Bar0, cap_max_msg_size)),
            (0x13C, offset_of!(Bar0, cap_mr)),
            (0x140, offset_of!(Bar0, cap_page_sizes)),
            (0x144, offset_of!(Bar0, cap_max_pbl_pages)),
            (0x148, offset_of!(Bar0, cap_frmr)),
            (0x14C, offset_of!(Bar0, cap_features)),
            (0x150, offset_of!(Bar0, cap_cm)),
            (0x154, offset_of!(Bar0, cap_queues)),
            (0x158, offset_of!(Bar0, cap_addr)),
            (0x15C, offset_of!(Bar0, cap_large_request)),
            (0x160, offset_of!(Bar0, cap_priv_stag)),
            (0x164, offset_of!(Bar0, cap_db_pages)),
            (0x168, offset_of!(Bar0, cap_max_conn)),
            (0x16C, offset_of!(Bar0, cap_tcp)),
            (0x170, offset_of!(Bar0, cap_tcp_window)),
            (0x200, offset_of!(Bar0, ctrl)),
            (0x204, offset_of!(Bar0, status)),
            (0x208, offset_of!(Bar0, fatal_code)),
            (0x20C, offset_of!(Bar0, port_status)),
            (0x210, offset_of!(Bar0, scratch)),
            (0x300, offset_of!(Bar0, admq_base_lo)),
            (0x304, offset_of!(Bar0, admq_base_hi)),
            (0x308, offset_of!(Bar0, admq_size)),
            (0x30C, offset_of!(Bar0, admq_ctrl)),
            (0x310, offset_of!(Bar0, admq_pi)),
            (0x314, offset_of!(Bar0, admq_ci)),
            (0x318, offset_of!(Bar0, admq_status)),
            (0x340, offset_of!(Bar0, eq_base_lo)),
            (0x344, offset_of!(Bar0, eq_base_hi)),
            (0x348, offset_of!(Bar0, eq_size)),
            (0x34C, offset_of!(Bar0, eq_ctrl)),
            (0x350, offset_of!(Bar0, eq_ci)),
            (0x354, offset_of!(Bar0, eq_pi)),
            (0x358, offset_of!(Bar0, eq_status)),
            (0x380, offset_of!(Bar0, cmev_base_lo)),
            (0x384, offset_of!(Bar0, cmev_base_hi)),
            (0x388, offset_of!(Bar0, cmev_size)),
            (0x38C, offset_of!(Bar0, cmev_ctrl)),
            (0x390, offset_of!(Bar0, cmev_ci)),
            (0x394, offset_of!(Bar0, cmev_pi)),
            (0x400, offset_of!(Bar0, int_cause)),
            (0x404, offset_of!(Bar0, int_mask)),
            (0x500, offset_of!(Bar0, addr_select)),
            (0x504, offset_of!(Bar0, addr_attr)),
            (0x510, offset_of!(Bar0, addr_data0)),
            (0x514, offset_of!(Bar0, addr_data1)),
            (0x518, offset_of!(Bar0, addr_data2)),
            (0x51C, offset_of!(Bar0, addr_data3)),
            (0x800, offset_of!(Bar0, stat_tx_frames)),
            (0x808, offset_of!(Bar0, stat_tx_octets)),
            (0x810, offset_of!(Bar0, stat_rx_frames)),
            (0x818, offset_of!(Bar0, stat_rx_octets)),
            (0x820, offset_of!(Bar0, stat_tcp_segs_sent)),
            (0x828, offset_of!(Bar0, stat_tcp_segs_received)),
            (0x830, offset_of!(Bar0, stat_tcp_retransmits)),
            (0x838, offset_of!(Bar0, stat_tcp_timeouts)),
            (0x840, offset_of!(Bar0, stat_tcp_fast_retransmits)),
            (0x848, offset_of!(Bar0, stat_tcp_out_of_order)),
            (0x850, offset_of!(Bar0, stat_tcp_duplicates)),
            (0x858, offset_of!(Bar0, stat_tcp_bad_checksum)),
            (0x860, offset_of!(Bar0, stat_tcp_rsts_sent)),
            (0x868, offset_of!(Bar0, stat_tcp_rsts_received)),
            (0x870, offset_of!(Bar0, stat_tcp_active_opens)),
            (0x878, offset_of!(Bar0, stat_tcp_passive_opens)),
            (0x880, offset_of!(Bar0, stat_tcp_failed_opens)),
            (0x888, offset_of!(Bar0, stat_mpa_crc_errors)),
            (0x890, offset_of!(Bar0, stat_mpa_rejects_sent)),
            (0x898, offset_of!(Bar0, stat_mpa_rejects_received)),
            (0x8A0, offset_of!(Bar0, stat_ddp_segments_sent)),
            (0x8A8, offset_of!(Bar0, stat_ddp_segments_received)),
            (0x8B0, offset_of!(Bar0, stat_terminates_sent)),
            (0x8B8, offset_of!(Bar0, stat_terminates_received)),
            (0x8C0, offset_of!(Bar0, stat_rx_discards)),
            (0x8C8, offset_of!(Bar0, stat_raw_tx_frames)),
            (0x8D0, offset_of!(Bar0, stat_raw_rx_frames)),
            (0x8D8, offset_of!(Bar0, stat_raw_rx_no_buffer)),
            (0x8E0, offset_of!(Bar0, stat_raw_rx_filtered)),
            (0x8E8, offset_of!(Bar0, stat_tcp_zero_window_probes)),
            (0x8F0, offset_of!(Bar0, stat_mpa_timeouts)),
            (0x8F8, offset_of!(Bar0, stat_ddp_placement_errors)),
        ];
        for (i, &(manual, rust)) in rows.iter().enumerate() {
            assert_eq!(manual, rust, "row {i}: {manual:#x} vs {rust:#x}");
        }
    }

    #[test]
    fn doorbell_block_and_page_layout() {
        assert_eq!(size_of::<DoorbellBlock>(), DB_BLOCK_SIZE);
        assert_eq!(size_of::<DoorbellPage>(), DB_PAGE_SIZE);
        assert_eq!(offset_of!(DoorbellBlock, sq_pi), DB_SQ_PI);
        assert_eq!(offset_of!(DoorbellBlock, rq_pi), DB_RQ_PI);
        assert_eq!(offset_of!(DoorbellBlock, srq_pi), DB_SRQ_PI);
        assert_eq!(offset_of!(DoorbellBlock, cq_arm), DB_CQ_ARM);
        assert_eq!(offset_of!(DoorbellBlock, raw_sq_pi), DB_RAW_SQ_PI);
        assert_eq!(offset_of!(DoorbellBlock, raw_rq_pi), DB_RAW_RQ_PI);
        assert_eq!(offset_of!(DoorbellBlock, raw_cq_arm), DB_RAW_CQ_ARM);
        assert_eq!(doorbell_block_offset(65), 65 * 64);
        assert_eq!(doorbell_block_offset(u32::MAX), u32::MAX as usize * 64);
    }

    #[test]
    fn reset_values_of_the_manual_decode_through_the_bit_fields() {
        let id: LocalRegisterCopy<u32, ID::Register> = LocalRegisterCopy::new(0x0002_1F0D);
        assert_eq!(id.read(ID::VENDOR_ID), u32::from(PCI_VENDOR_ID));
        assert_eq!(id.read(ID::DEVICE_ID), u32::from(PCI_DEVICE_ID));
        let rev: LocalRegisterCopy<u32, REVISION::Register> = LocalRegisterCopy::new(0x0001_0001);
        assert_eq!(rev.read(REVISION::IF_MAJOR), u32::from(IF_MAJOR));
        assert_eq!(rev.read(REVISION::IF_MINOR), u32::from(IF_MINOR));
        assert_eq!(rev.read(REVISION::REVISION_ID), u32::from(PCI_REVISION_ID));
        let sge: LocalRegisterCopy<u32, CAP_SGE::Register> = LocalRegisterCopy::new(0x1001_1010);
        assert_eq!(sge.read(CAP_SGE::MAX_SEND_SGE), 16);
        assert_eq!(sge.read(CAP_SGE::MAX_RECV_SGE), 16);
        assert_eq!(sge.read(CAP_SGE::MAX_READ_SGE), 1);
        assert_eq!(sge.read(CAP_SGE::MAX_SRQ_SGE), 16);
        let cm: LocalRegisterCopy<u32, CAP_CM::Register> = LocalRegisterCopy::new(0x0400_01FC);
        assert_eq!(cm.read(CAP_CM::MAX_PRIVATE_DATA), 508);
        assert_eq!(cm.read(CAP_CM::MAX_LISTEN), 1024);
        let tcp: LocalRegisterCopy<u32, CAP_TCP::Register> = LocalRegisterCopy::new(0x0007_C000);
        assert_eq!(tcp.read(CAP_TCP::EPHEMERAL_BASE), 0xC000);
        assert_eq!(tcp.read(CAP_TCP::WSCALE), 7);
        let f: LocalRegisterCopy<u32, CAP_FEATURES::Register> = LocalRegisterCopy::new(0x0FFF);
        assert!(f.is_set(CAP_FEATURES::TCP_OFFLOAD));
        assert!(f.is_set(CAP_FEATURES::READ_SINK_NOT_REQUIRED));
    }

    #[test]
    fn doorbell_values_encode_as_the_manual_says() {
        let arm = CQ_ARM::CI.val(0x12_3456)
            + CQ_ARM::SN.val(3)
            + CQ_ARM::TYPE::Solicited
            + CQ_ARM::RING::SET;
        assert_eq!(arm.value, 0x12_3456 | 3 << 24 | 2 << 26 | 1 << 28);
        let raw = RAW_CQ_ARM::CI.val(0xAB_CDEF) + RAW_CQ_ARM::SN.val(1);
        assert_eq!(raw.value, 0x01AB_CDEF);
        let eq = EQ_CI::CI.val(5) + EQ_CI::ARM::SET;
        assert_eq!(eq.value, 0x8000_0005);
    }

    #[test]
    fn a_model_can_update_ro_registers_through_the_block() {
        let r: InMemoryRegister<u32, STATUS::Register> = InMemoryRegister::new(0);
        r.write(STATUS::READY::SET + STATUS::FATAL::SET);
        assert_eq!(r.get(), 0b101);
        assert!(r.is_set(STATUS::READY));
    }
}
