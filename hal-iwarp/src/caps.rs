//! Identity and capabilities as data (docs/silicon/iwarp.md §3.3–§3.4) and their mapping to
//! `hal::DeviceCaps` (§13.1).
//!
//! The same 512 bytes are BAR0 `0x000`–`0x1FF` and the output of `QUERY_DEVICE`:
//! [`DeviceAttrsRaw`] is that image field by field, [`DeviceAttrs`] the decoded values, with
//! [`DeviceAttrs::REFERENCE`] the values of RNIC-W1 (which a device model writes at reset).
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
use hal::{DeviceCaps, RdmaTransport};
use tock_registers::interfaces::{Readable, Writeable};
use zerocopy::byteorder::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::regs::{Bar0, DEVICE_ATTRS_SIZE};

bitflags! {
    /// `CAP_FEATURES` (§3.4).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Features: u32 {
        /// Incoming data is placed in order.
        const IN_ORDER_DMA = 1 << 0;
        /// Read sinks need only LOCAL_WRITE.
        const READ_SINK_NOT_REQUIRED = 1 << 1;
        /// CQ moderation.
        const CQ_MODERATION = 1 << 2;
        /// `RESIZE_CQ`.
        const CQ_RESIZE = 1 << 3;
        /// Several protocol engines.
        const MULTI_ENGINE = 1 << 4;
        /// READ with `LOCAL_INVALIDATE`.
        const READ_LOCAL_INVALIDATE = 1 << 5;
        /// Connections between QPs of this device.
        const LOOPBACK = 1 << 6;
        /// Shared receive queues.
        const SRQ = 1 << 7;
        /// Memory windows.
        const MW = 1 << 8;
        /// FAST_REG / LOCAL_INV.
        const FAST_REG = 1 << 9;
        /// IPv6.
        const IPV6 = 1 << 10;
        /// TCP offload engine and MPA connection manager.
        const TCP_OFFLOAD = 1 << 11;
    }
}

/// The 512-byte identity and capability image (BAR0 `0x000`–`0x1FF`, `QUERY_DEVICE` output).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct DeviceAttrsRaw {
    /// 0x000 ID.
    pub id: U32,
    /// 0x004 REVISION.
    pub revision: U32,
    /// 0x008 SUBSYSTEM.
    pub subsystem: U32,
    /// 0x00C FW_VERSION.
    pub fw_version: U32,
    /// 0x010 MAC_LO.
    pub mac_lo: U32,
    /// 0x014 MAC_HI.
    pub mac_hi: U32,
    /// 0x018 reserved.
    pub reserved0: [u8; 0xE8],
    /// 0x100 CAP_MAX_QP.
    pub cap_max_qp: U32,
    /// 0x104 CAP_MAX_CQ.
    pub cap_max_cq: U32,
    /// 0x108 CAP_MAX_SRQ.
    pub cap_max_srq: U32,
    /// 0x10C CAP_MAX_PD.
    pub cap_max_pd: U32,
    /// 0x110 CAP_MAX_STAG.
    pub cap_max_stag: U32,
    /// 0x114 CAP_MAX_MR.
    pub cap_max_mr: U32,
    /// 0x118 CAP_MAX_MW.
    pub cap_max_mw: U32,
    /// 0x11C CAP_MAX_SQ_DEPTH.
    pub cap_max_sq_depth: U32,
    /// 0x120 CAP_MAX_RQ_DEPTH.
    pub cap_max_rq_depth: U32,
    /// 0x124 CAP_MAX_SRQ_DEPTH.
    pub cap_max_srq_depth: U32,
    /// 0x128 CAP_MAX_CQ_DEPTH.
    pub cap_max_cq_depth: U32,
    /// 0x12C CAP_SGE.
    pub cap_sge: U32,
    /// 0x130 CAP_INLINE.
    pub cap_inline: U32,
    /// 0x134 CAP_RDMA.
    pub cap_rdma: U32,
    /// 0x138 CAP_MAX_MSG_SIZE.
    pub cap_max_msg_size: U32,
    /// 0x13C CAP_MR.
    pub cap_mr: U32,
    /// 0x140 CAP_PAGE_SIZES.
    pub cap_page_sizes: U32,
    /// 0x144 CAP_MAX_PBL_PAGES.
    pub cap_max_pbl_pages: U32,
    /// 0x148 CAP_FRMR.
    pub cap_frmr: U32,
    /// 0x14C CAP_FEATURES.
    pub cap_features: U32,
    /// 0x150 CAP_CM.
    pub cap_cm: U32,
    /// 0x154 CAP_QUEUES.
    pub cap_queues: U32,
    /// 0x158 CAP_ADDR.
    pub cap_addr: U32,
    /// 0x15C CAP_LARGE_REQUEST.
    pub cap_large_request: U32,
    /// 0x160 CAP_PRIV_STAG.
    pub cap_priv_stag: U32,
    /// 0x164 CAP_DB_PAGES.
    pub cap_db_pages: U32,
    /// 0x168 CAP_MAX_CONN.
    pub cap_max_conn: U32,
    /// 0x16C CAP_TCP.
    pub cap_tcp: U32,
    /// 0x170 CAP_TCP_WINDOW.
    pub cap_tcp_window: U32,
    /// 0x174 reserved.
    pub reserved1: [u8; 0x8C],
}

const _: () = assert!(core::mem::size_of::<DeviceAttrsRaw>() == DEVICE_ATTRS_SIZE);

/// Every register of the image with its offset, for moving it between BAR0 and the image.
macro_rules! attr_registers {
    ($m:ident) => {
        $m!(0x000, id);
        $m!(0x004, revision);
        $m!(0x008, subsystem);
        $m!(0x00C, fw_version);
        $m!(0x010, mac_lo);
        $m!(0x014, mac_hi);
        $m!(0x100, cap_max_qp);
        $m!(0x104, cap_max_cq);
        $m!(0x108, cap_max_srq);
        $m!(0x10C, cap_max_pd);
        $m!(0x110, cap_max_stag);
        $m!(0x114, cap_max_mr);
        $m!(0x118, cap_max_mw);
        $m!(0x11C, cap_max_sq_depth);
        $m!(0x120, cap_max_rq_depth);
        $m!(0x124, cap_max_srq_depth);
        $m!(0x128, cap_max_cq_depth);
        $m!(0x12C, cap_sge);
        $m!(0x130, cap_inline);
        $m!(0x134, cap_rdma);
        $m!(0x138, cap_max_msg_size);
        $m!(0x13C, cap_mr);
        $m!(0x140, cap_page_sizes);
        $m!(0x144, cap_max_pbl_pages);
        $m!(0x148, cap_frmr);
        $m!(0x14C, cap_features);
        $m!(0x150, cap_cm);
        $m!(0x154, cap_queues);
        $m!(0x158, cap_addr);
        $m!(0x15C, cap_large_request);
        $m!(0x160, cap_priv_stag);
        $m!(0x164, cap_db_pages);
        $m!(0x168, cap_max_conn);
        $m!(0x16C, cap_tcp);
        $m!(0x170, cap_tcp_window);
    };
}

/// Identity and capabilities, decoded (§3.3–§3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceAttrs {
    /// ID.VENDOR_ID.
    pub vendor_id: u16,
    /// ID.DEVICE_ID.
    pub device_id: u16,
    /// REVISION.REVISION_ID.
    pub revision_id: u8,
    /// REVISION.IF_MINOR.
    pub if_minor: u8,
    /// REVISION.IF_MAJOR.
    pub if_major: u8,
    /// SUBSYSTEM.SUBSYS_VENDOR_ID.
    pub subsys_vendor_id: u16,
    /// SUBSYSTEM.SUBSYS_ID.
    pub subsys_id: u16,
    /// FW_VERSION.
    pub fw_version: u32,
    /// MAC_LO / MAC_HI, octet 0 first.
    pub factory_mac: [u8; 6],
    /// CAP_MAX_QP.
    pub max_qp: u32,
    /// CAP_MAX_CQ.
    pub max_cq: u32,
    /// CAP_MAX_SRQ.
    pub max_srq: u32,
    /// CAP_MAX_PD.
    pub max_pd: u32,
    /// CAP_MAX_STAG.
    pub max_stag: u32,
    /// CAP_MAX_MR.
    pub max_mr: u32,
    /// CAP_MAX_MW.
    pub max_mw: u32,
    /// CAP_MAX_SQ_DEPTH.
    pub max_sq_depth: u32,
    /// CAP_MAX_RQ_DEPTH.
    pub max_rq_depth: u32,
    /// CAP_MAX_SRQ_DEPTH.
    pub max_srq_depth: u32,
    /// CAP_MAX_CQ_DEPTH.
    pub max_cq_depth: u32,
    /// CAP_SGE.MAX_SEND_SGE.
    pub max_send_sge: u8,
    /// CAP_SGE.MAX_RECV_SGE.
    pub max_recv_sge: u8,
    /// CAP_SGE.MAX_READ_SGE (1 on RNIC-W1).
    pub max_read_sge: u8,
    /// CAP_SGE.MAX_SRQ_SGE.
    pub max_srq_sge: u8,
    /// CAP_INLINE.MAX_INLINE.
    pub max_inline: u16,
    /// CAP_INLINE.MAX_SQ_STRIDE_LOG2.
    pub max_sq_stride_log2: u8,
    /// CAP_INLINE.MAX_RQ_STRIDE_LOG2.
    pub max_rq_stride_log2: u8,
    /// CAP_RDMA.MAX_IRD.
    pub max_ird: u8,
    /// CAP_RDMA.MAX_ORD.
    pub max_ord: u8,
    /// CAP_MAX_MSG_SIZE.
    pub max_msg_size: u32,
    /// CAP_MR.MAX_MR_SIZE_LOG2.
    pub max_mr_size_log2: u8,
    /// CAP_MR.MAX_MW_SIZE_LOG2.
    pub max_mw_size_log2: u8,
    /// CAP_MR.MAX_PBL_LEVELS.
    pub max_pbl_levels: u8,
    /// CAP_PAGE_SIZES.
    pub page_sizes: u32,
    /// CAP_MAX_PBL_PAGES.
    pub max_pbl_pages: u32,
    /// CAP_FRMR.MAX_PAGES.
    pub frmr_max_pages: u16,
    /// CAP_FRMR.OPT_PAGES.
    pub frmr_opt_pages: u16,
    /// CAP_FEATURES (unknown bits dropped).
    pub features: Features,
    /// CAP_CM.MAX_PRIVATE_DATA.
    pub max_private_data: u16,
    /// CAP_CM.MAX_LISTEN.
    pub max_listen: u16,
    /// CAP_QUEUES.MAX_EQ_LOG2.
    pub max_eq_log2: u8,
    /// CAP_QUEUES.MAX_ADMQ_LOG2.
    pub max_admq_log2: u8,
    /// CAP_QUEUES.MAX_CMEV_LOG2.
    pub max_cmev_log2: u8,
    /// CAP_QUEUES.NUM_EQ.
    pub num_eq: u8,
    /// CAP_ADDR.ADDR_TABLE_SIZE.
    pub addr_table_size: u16,
    /// CAP_LARGE_REQUEST.
    pub large_request: u32,
    /// CAP_PRIV_STAG.
    pub priv_stag: u32,
    /// CAP_DB_PAGES.
    pub db_pages: u32,
    /// CAP_MAX_CONN.
    pub max_conn: u32,
    /// CAP_TCP.EPHEMERAL_BASE.
    pub ephemeral_base: u16,
    /// CAP_TCP.WSCALE.
    pub wscale: u8,
    /// CAP_TCP_WINDOW.
    pub tcp_window: u32,
}

const fn b(v: u32, shift: u32) -> u8 {
    (v >> shift) as u8
}

const fn h(v: u32, shift: u32) -> u16 {
    (v >> shift) as u16
}

const fn w4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_le_bytes([a, b, c, d])
}

impl DeviceAttrs {
    /// RNIC-W1's values (§3.2 reset column); the factory MAC of the reference board is
    /// `02:1f:0d:00:00:02` (locally administered).
    pub const REFERENCE: DeviceAttrs = DeviceAttrs {
        vendor_id: crate::regs::PCI_VENDOR_ID,
        device_id: crate::regs::PCI_DEVICE_ID,
        revision_id: crate::regs::PCI_REVISION_ID,
        if_minor: crate::regs::IF_MINOR,
        if_major: crate::regs::IF_MAJOR,
        subsys_vendor_id: crate::regs::PCI_SUBSYSTEM_VENDOR_ID,
        subsys_id: crate::regs::PCI_SUBSYSTEM_ID,
        fw_version: 0x0100_0000,
        factory_mac: [0x02, 0x1F, 0x0D, 0x00, 0x00, 0x02],
        max_qp: 16384,
        max_cq: 16384,
        max_srq: 4096,
        max_pd: 16384,
        max_stag: 1 << 20,
        max_mr: 262_144,
        max_mw: 262_144,
        max_sq_depth: 32768,
        max_rq_depth: 32768,
        max_srq_depth: 32768,
        max_cq_depth: (1 << 22) - 1,
        max_send_sge: 16,
        max_recv_sge: 16,
        max_read_sge: 1,
        max_srq_sge: 16,
        max_inline: 256,
        max_sq_stride_log2: 9,
        max_rq_stride_log2: 9,
        max_ird: 16,
        max_ord: 16,
        max_msg_size: 0x8000_0000,
        max_mr_size_log2: 40,
        max_mw_size_log2: 40,
        max_pbl_levels: 2,
        page_sizes: 1 << 12 | 1 << 21 | 1 << 30,
        max_pbl_pages: 1 << 28,
        frmr_max_pages: 1024,
        frmr_opt_pages: 256,
        features: Features::all(),
        max_private_data: crate::mpa::MAX_ULP_PRIVATE_DATA as u16,
        max_listen: 1024,
        max_eq_log2: 16,
        max_admq_log2: 12,
        max_cmev_log2: 10,
        num_eq: 1,
        addr_table_size: 64,
        large_request: 8192,
        priv_stag: crate::stag::PRIVILEGED_STAG,
        db_pages: 256,
        max_conn: 16384,
        ephemeral_base: 0xC000,
        wscale: 7,
        tcp_window: 256 * 1024,
    };

    /// The 512-byte image, as BAR0 and `QUERY_DEVICE` hold it.
    pub fn to_raw(&self) -> DeviceAttrsRaw {
        let m = self.factory_mac;
        let v = |x: u32| U32::new(x);
        DeviceAttrsRaw {
            id: v(u32::from(self.vendor_id) | u32::from(self.device_id) << 16),
            revision: v(w4(self.revision_id, self.if_minor, self.if_major, 0)),
            subsystem: v(u32::from(self.subsys_vendor_id) | u32::from(self.subsys_id) << 16),
            fw_version: v(self.fw_version),
            mac_lo: v(w4(m[0], m[1], m[2], m[3])),
            mac_hi: v(w4(m[4], m[5], 0, 0)),
            reserved0: [0; 0xE8],
            cap_max_qp: v(self.max_qp),
            cap_max_cq: v(self.max_cq),
            cap_max_srq: v(self.max_srq),
            cap_max_pd: v(self.max_pd),
            cap_max_stag: v(self.max_stag),
            cap_max_mr: v(self.max_mr),
            cap_max_mw: v(self.max_mw),
            cap_max_sq_depth: v(self.max_sq_depth),
            cap_max_rq_depth: v(self.max_rq_depth),
            cap_max_srq_depth: v(self.max_srq_depth),
            cap_max_cq_depth: v(self.max_cq_depth),
            cap_sge: v(w4(
                self.max_send_sge,
                self.max_recv_sge,
                self.max_read_sge,
                self.max_srq_sge,
            )),
            cap_inline: v(u32::from(self.max_inline)
                | u32::from(self.max_sq_stride_log2) << 16
                | u32::from(self.max_rq_stride_log2) << 24),
            cap_rdma: v(w4(self.max_ird, self.max_ord, 0, 0)),
            cap_max_msg_size: v(self.max_msg_size),
            cap_mr: v(w4(
                self.max_mr_size_log2,
                self.max_mw_size_log2,
                self.max_pbl_levels,
                0,
            )),
            cap_page_sizes: v(self.page_sizes),
            cap_max_pbl_pages: v(self.max_pbl_pages),
            cap_frmr: v(u32::from(self.frmr_max_pages) | u32::from(self.frmr_opt_pages) << 16),
            cap_features: v(self.features.bits()),
            cap_cm: v(u32::from(self.max_private_data) | u32::from(self.max_listen) << 16),
            cap_queues: v(w4(
                self.max_eq_log2,
                self.max_admq_log2,
                self.max_cmev_log2,
                self.num_eq,
            )),
            cap_addr: v(u32::from(self.addr_table_size)),
            cap_large_request: v(self.large_request),
            cap_priv_stag: v(self.priv_stag),
            cap_db_pages: v(self.db_pages),
            cap_max_conn: v(self.max_conn),
            cap_tcp: v(u32::from(self.ephemeral_base) | u32::from(self.wscale & 0xF) << 16),
            cap_tcp_window: v(self.tcp_window),
            reserved1: [0; 0x8C],
        }
    }

    /// Decodes the image.
    pub fn from_raw(r: &DeviceAttrsRaw) -> DeviceAttrs {
        let (lo, hi) = (r.mac_lo.get().to_le_bytes(), r.mac_hi.get().to_le_bytes());
        let sge = r.cap_sge.get();
        let inl = r.cap_inline.get();
        let rdma = r.cap_rdma.get();
        let mr = r.cap_mr.get();
        let frmr = r.cap_frmr.get();
        let cm = r.cap_cm.get();
        let q = r.cap_queues.get();
        let tcp = r.cap_tcp.get();
        DeviceAttrs {
            vendor_id: h(r.id.get(), 0),
            device_id: h(r.id.get(), 16),
            revision_id: b(r.revision.get(), 0),
            if_minor: b(r.revision.get(), 8),
            if_major: b(r.revision.get(), 16),
            subsys_vendor_id: h(r.subsystem.get(), 0),
            subsys_id: h(r.subsystem.get(), 16),
            fw_version: r.fw_version.get(),
            factory_mac: [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]],
            max_qp: r.cap_max_qp.get(),
            max_cq: r.cap_max_cq.get(),
            max_srq: r.cap_max_srq.get(),
            max_pd: r.cap_max_pd.get(),
            max_stag: r.cap_max_stag.get(),
            max_mr: r.cap_max_mr.get(),
            max_mw: r.cap_max_mw.get(),
            max_sq_depth: r.cap_max_sq_depth.get(),
            max_rq_depth: r.cap_max_rq_depth.get(),
            max_srq_depth: r.cap_max_srq_depth.get(),
            max_cq_depth: r.cap_max_cq_depth.get(),
            max_send_sge: b(sge, 0),
            max_recv_sge: b(sge, 8),
            max_read_sge: b(sge, 16),
            max_srq_sge: b(sge, 24),
            max_inline: h(inl, 0),
            max_sq_stride_log2: b(inl, 16),
            max_rq_stride_log2: b(inl, 24),
            max_ird: b(rdma, 0),
            max_ord: b(rdma, 8),
            max_msg_size: r.cap_max_msg_size.get(),
            max_mr_size_log2: b(mr, 0),
            max_mw_size_log2: b(mr, 8),
            max_pbl_levels: b(mr, 16),
            page_sizes: r.cap_page_sizes.get(),
            max_pbl_pages: r.cap_max_pbl_pages.get(),
            frmr_max_pages: h(frmr, 0),
            frmr_opt_pages: h(frmr, 16),
            features: Features::from_bits_truncate(r.cap_features.get()),
            max_private_data: h(cm, 0),
            max_listen: h(cm, 16),
            max_eq_log2: b(q, 0),
            max_admq_log2: b(q, 8),
            max_cmev_log2: b(q, 16),
            num_eq: b(q, 24),
            addr_table_size: h(r.cap_addr.get(), 0),
            large_request: r.cap_large_request.get(),
            priv_stag: r.cap_priv_stag.get(),
            db_pages: r.cap_db_pages.get(),
            max_conn: r.cap_max_conn.get(),
            ephemeral_base: h(tcp, 0),
            wscale: b(tcp, 16) & 0xF,
            tcp_window: r.cap_tcp_window.get(),
        }
    }

    /// The image bytes (`QUERY_DEVICE` output).
    pub fn to_image(&self) -> [u8; DEVICE_ATTRS_SIZE] {
        zerocopy::transmute!(self.to_raw())
    }

    /// Decodes `QUERY_DEVICE` output.
    pub fn from_image(img: &[u8; DEVICE_ATTRS_SIZE]) -> DeviceAttrs {
        let r: DeviceAttrsRaw = zerocopy::transmute!(*img);
        DeviceAttrs::from_raw(&r)
    }

    /// Reads the block from BAR0 (one read per register; bring-up only).
    pub fn read(bar0: &Bar0) -> DeviceAttrs {
        let mut r = DeviceAttrs::REFERENCE.to_raw();
        macro_rules! rd {
            ($off:expr, $f:ident) => {
                r.$f = U32::new(bar0.$f.get())
            };
        }
        attr_registers!(rd);
        DeviceAttrs::from_raw(&r)
    }

    /// Writes the block into BAR0: what a device model does at power-up and reset.
    pub fn write(&self, bar0: &Bar0) {
        let r = self.to_raw();
        macro_rules! wr {
            ($off:expr, $f:ident) => {
                bar0.$f.set(r.$f.get())
            };
        }
        attr_registers!(wr);
    }

    /// The `hal` capabilities (§13.1); `max_read_sge` is the silicon's one sink segment.
    pub fn device_caps(&self) -> DeviceCaps {
        let f = self.features;
        let pow2 = |log2: u8| 1u64.checked_shl(u32::from(log2)).unwrap_or(u64::MAX);
        let sge = |n: u8| u32::from(n).min(hal::MAX_SGE as u32);
        let pd = u32::from(self.max_private_data).min(hal::MAX_PRIVATE_DATA as u32);
        DeviceCaps {
            vendor_id: u32::from(self.vendor_id),
            device_id: u32::from(self.device_id),
            max_registration_size: pow2(self.max_mr_size_log2),
            max_window_size: pow2(self.max_mw_size_log2),
            frmr_page_count: u32::from(self.frmr_opt_pages),
            max_frmr_page_count: u32::from(self.frmr_max_pages),
            max_initiator_sge: sge(self.max_send_sge),
            max_receive_sge: sge(self.max_recv_sge),
            max_read_sge: sge(self.max_read_sge),
            max_transfer_length: self.max_msg_size,
            max_inline_data: u32::from(self.max_inline).min(hal::MAX_INLINE_DATA as u32),
            max_inbound_read_limit: u32::from(self.max_ird),
            max_outbound_read_limit: u32::from(self.max_ord),
            max_receive_queue_depth: self.max_rq_depth,
            max_initiator_queue_depth: self.max_sq_depth,
            max_srq_depth: if f.contains(Features::SRQ) {
                self.max_srq_depth
            } else {
                0
            },
            max_cq_depth: self.max_cq_depth,
            large_request_threshold: self.large_request,
            max_caller_data: pd,
            max_callee_data: pd,
            max_cq_count: self.max_cq,
            max_qp_count: self.max_qp.saturating_sub(1),
            max_srq_count: self.max_srq,
            max_mr_count: self.max_mr,
            max_mw_count: self.max_mw,
            max_pd_count: self.max_pd,
            transport: RdmaTransport::Iwarp,
            in_order_dma: f.contains(Features::IN_ORDER_DMA),
            read_sink_not_required: f.contains(Features::READ_SINK_NOT_REQUIRED),
            cq_interrupt_moderation: f.contains(Features::CQ_MODERATION),
            cq_resize: f.contains(Features::CQ_RESIZE),
            multi_engine: f.contains(Features::MULTI_ENGINE),
            read_local_invalidate: f.contains(Features::READ_LOCAL_INVALIDATE),
            loopback_connections: f.contains(Features::LOOPBACK),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::UnsafeCell;
    use core::mem::offset_of;
    use std::boxed::Box;

    /// Fake BAR0 memory made of cells (windows-build.md §3).
    #[repr(C, align(4096))]
    struct FakeBar0([UnsafeCell<u32>; 1024]);

    impl FakeBar0 {
        fn regs(&self) -> &Bar0 {
            // SAFETY: 4 KiB of UnsafeCell-backed memory, 4096-aligned, as large as Bar0.
            unsafe { &*(self as *const FakeBar0).cast::<Bar0>() }
        }
    }

    #[test]
    fn image_offsets_match_bar0() {
        macro_rules! check {
            ($off:expr, $f:ident) => {{
                assert_eq!(offset_of!(Bar0, $f), $off, stringify!($f));
                assert_eq!(offset_of!(DeviceAttrsRaw, $f), $off, stringify!($f));
            }};
        }
        attr_registers!(check);
    }

    #[test]
    fn reference_image_matches_the_manual_reset_values() {
        let img = DeviceAttrs::REFERENCE.to_image();
        let r = |off: usize| u32::from_le_bytes(img[off..off + 4].try_into().unwrap());
        assert_eq!(r(0x000), 0x0002_1F0D);
        assert_eq!(r(0x004), 0x0001_0001);
        assert_eq!(r(0x008), 0x0002_1F0D);
        assert_eq!(r(0x00C), 0x0100_0000);
        assert_eq!(r(0x010), 0x000D_1F02);
        assert_eq!(r(0x014), 0x0000_0200);
        assert_eq!(r(0x100), 16384);
        assert_eq!(r(0x110), 1_048_576);
        assert_eq!(r(0x128), 4_194_303);
        assert_eq!(r(0x12C), 0x1001_1010);
        assert_eq!(r(0x130), 0x0909_0100);
        assert_eq!(r(0x134), 0x0000_1010);
        assert_eq!(r(0x138), 0x8000_0000);
        assert_eq!(r(0x13C), 0x0002_2828);
        assert_eq!(r(0x140), 0x4020_1000);
        assert_eq!(r(0x144), 0x1000_0000);
        assert_eq!(r(0x148), 0x0100_0400);
        assert_eq!(r(0x14C), 0x0000_0FFF);
        assert_eq!(r(0x150), 0x0400_01FC);
        assert_eq!(r(0x154), 0x010A_0C10);
        assert_eq!(r(0x158), 0x0000_0040);
        assert_eq!(r(0x15C), 8192);
        assert_eq!(r(0x160), 0x0000_0100);
        assert_eq!(r(0x164), 256);
        assert_eq!(r(0x168), 16384);
        assert_eq!(r(0x16C), 0x0007_C000);
        assert_eq!(r(0x170), 0x0004_0000);
        assert!(img[0x174..].iter().all(|&x| x == 0));
        assert_eq!(DeviceAttrs::from_image(&img), DeviceAttrs::REFERENCE);
    }

    #[test]
    fn bar0_write_then_read_round_trips() {
        let mem = Box::new(FakeBar0(core::array::from_fn(|_| UnsafeCell::new(0))));
        let bar0 = mem.regs();
        DeviceAttrs::REFERENCE.write(bar0);
        assert_eq!(bar0.id.get(), 0x0002_1F0D);
        assert_eq!(bar0.cap_tcp_window.get(), 0x0004_0000);
        assert_eq!(DeviceAttrs::read(bar0), DeviceAttrs::REFERENCE);
        bar0.cap_sge.set(0x1002_1010);
        assert_eq!(DeviceAttrs::read(bar0).max_read_sge, 2);
    }

    #[test]
    fn hal_caps_follow_the_mapping_table() {
        let c = DeviceAttrs::REFERENCE.device_caps();
        assert_eq!((c.vendor_id, c.device_id), (0x1F0D, 0x0002));
        assert_eq!(c.transport, RdmaTransport::Iwarp);
        assert_eq!(c.max_read_sge, 1, "one sink per RDMA Read Request");
        assert_eq!(c.max_initiator_sge, 16);
        assert_eq!(c.max_qp_count, 16383);
        assert_eq!(c.max_caller_data, 508);
        assert_eq!(c.max_callee_data, 508);
        assert_eq!(c.max_registration_size, 1 << 40);
        assert_eq!(c.max_cq_depth, (1 << 22) - 1);
        assert_eq!(
            (c.max_inbound_read_limit, c.max_outbound_read_limit),
            (16, 16)
        );
        assert!(c.in_order_dma && c.read_sink_not_required && c.loopback_connections);
        let mut no_srq = DeviceAttrs::REFERENCE;
        no_srq.features.remove(Features::SRQ);
        assert_eq!(no_srq.device_caps().max_srq_depth, 0);
        let mut huge = DeviceAttrs::REFERENCE;
        huge.max_send_sge = 200;
        huge.max_private_data = 0xFFFF;
        huge.max_mr_size_log2 = 200;
        let c = huge.device_caps();
        assert_eq!(c.max_initiator_sge, hal::MAX_SGE as u32);
        assert_eq!(c.max_caller_data, hal::MAX_PRIVATE_DATA as u32);
        assert_eq!(c.max_registration_size, u64::MAX);
    }
}
