//! The identity and capability block as data (docs/silicon/rocev2.md §3.3–§3.4, §13.1): read
//! from BAR0 or from QUERY_DEVICE's output, written by a device model, and turned into
//! `hal::DeviceCaps`.
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

use crate::bytes::{get, put, put_u32, u32_at};
use crate::key::PRIVILEGED_LKEY;
use crate::regs::{self, Bar0, DEVICE_ATTRS_SIZE};

bitflags! {
    /// `CAP_FEATURES` bits (§3.4).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Features: u32 {
        /// Incoming data is placed in order.
        const IN_ORDER_DMA = 1 << 0;
        /// Read sinks need no special right.
        const READ_SINK_NOT_REQUIRED = 1 << 1;
        /// CQ interrupt moderation.
        const CQ_MODERATION = 1 << 2;
        /// `RESIZE_CQ`.
        const CQ_RESIZE = 1 << 3;
        /// Several protocol engines.
        const MULTI_ENGINE = 1 << 4;
        /// READ with LOCAL_INVALIDATE.
        const READ_LOCAL_INVALIDATE = 1 << 5;
        /// Connections between QPs of this device.
        const LOOPBACK = 1 << 6;
        /// Shared receive queues.
        const SRQ = 1 << 7;
        /// Memory windows.
        const MW = 1 << 8;
        /// FAST_REG and LOCAL_INV.
        const FAST_REG = 1 << 9;
        /// IPv6.
        const IPV6 = 1 << 10;
        /// The embedded CM agent.
        const CM_AGENT = 1 << 11;
        /// ECN / CNP congestion control.
        const DCQCN = 1 << 12;
    }
}

/// Identity and capabilities: BAR0 `0x000`–`0x1FF` (§3.3–§3.4) as plain data.
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
    /// FW_VERSION (raw: MAJOR 31:24, MINOR 23:16, PATCH 15:0).
    pub fw_version: u32,
    /// MAC_LO / MAC_HI: the factory MAC address, octet 0 first.
    pub factory_mac: [u8; 6],
    /// CAP_MAX_QP (QPN 0 and 1 reserved).
    pub max_qp: u32,
    /// CAP_MAX_CQ.
    pub max_cq: u32,
    /// CAP_MAX_SRQ.
    pub max_srq: u32,
    /// CAP_MAX_PD.
    pub max_pd: u32,
    /// CAP_MAX_MPT (key indices 0 and 1 reserved).
    pub max_mpt: u32,
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
    /// CAP_MAX_CQ_DEPTH (usable entries).
    pub max_cq_depth: u32,
    /// CAP_SGE.MAX_SEND_SGE.
    pub max_send_sge: u8,
    /// CAP_SGE.MAX_RECV_SGE.
    pub max_recv_sge: u8,
    /// CAP_SGE.MAX_READ_SGE.
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
    /// CAP_PAGE_SIZES (bit n: pages of 2^n bytes).
    pub page_sizes: u32,
    /// CAP_MAX_PBL_PAGES.
    pub max_pbl_pages: u32,
    /// CAP_FRMR.MAX_PAGES.
    pub frmr_max_pages: u16,
    /// CAP_FRMR.OPT_PAGES.
    pub frmr_opt_pages: u16,
    /// CAP_FEATURES.
    pub features: Features,
    /// CAP_CM.MAX_CALLER_DATA.
    pub max_caller_data: u8,
    /// CAP_CM.MAX_CALLEE_DATA.
    pub max_callee_data: u8,
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
    /// CAP_GID.GID_TABLE_SIZE.
    pub gid_table_size: u16,
    /// CAP_LARGE_REQUEST.
    pub large_request: u32,
    /// CAP_PRIV_LKEY.
    pub priv_lkey: u32,
    /// CAP_DB_PAGES.
    pub db_pages: u32,
    /// CAP_MAX_CONN.
    pub max_conn: u32,
}

/// Every 32-bit register of the block with its offset, for moving it between BAR0 and an image.
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
        $m!(0x110, cap_max_mpt);
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
        $m!(0x158, cap_gid);
        $m!(0x15C, cap_large_request);
        $m!(0x160, cap_priv_lkey);
        $m!(0x164, cap_db_pages);
        $m!(0x168, cap_max_conn);
    };
}

const fn b(v: u32, shift: u32) -> u8 {
    (v >> shift) as u8
}

const fn h(v: u32, shift: u32) -> u16 {
    (v >> shift) as u16
}

impl DeviceAttrs {
    /// The values of RNIC-R2 (the "Reference" column of §3.4), with the locally administered
    /// MAC `02:1f:0d:00:00:01`. A model may report smaller limits.
    pub const REFERENCE: DeviceAttrs = DeviceAttrs {
        vendor_id: regs::PCI_VENDOR_ID,
        device_id: regs::PCI_DEVICE_ID,
        revision_id: regs::PCI_REVISION_ID,
        if_minor: regs::IF_MINOR,
        if_major: regs::IF_MAJOR,
        subsys_vendor_id: regs::PCI_SUBSYSTEM_VENDOR_ID,
        subsys_id: regs::PCI_SUBSYSTEM_ID,
        fw_version: 0x0100_0000,
        factory_mac: [0x02, 0x1F, 0x0D, 0x00, 0x00, 0x01],
        max_qp: 16384,
        max_cq: 16384,
        max_srq: 4096,
        max_pd: 16384,
        max_mpt: 1 << 20,
        max_mr: 262_144,
        max_mw: 262_144,
        max_sq_depth: 32768,
        max_rq_depth: 32768,
        max_srq_depth: 32768,
        max_cq_depth: (1 << 22) - 1,
        max_send_sge: 16,
        max_recv_sge: 16,
        max_read_sge: 16,
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
        max_caller_data: 56,
        max_callee_data: 148,
        max_listen: 1024,
        max_eq_log2: 16,
        max_admq_log2: 12,
        max_cmev_log2: 10,
        num_eq: 1,
        gid_table_size: 64,
        large_request: 8192,
        priv_lkey: PRIVILEGED_LKEY,
        db_pages: 256,
        max_conn: 16384,
    };

    /// The 512-byte image (BAR0 `0x000`–`0x1FF`, QUERY_DEVICE's output).
    pub fn to_image(&self) -> [u8; DEVICE_ATTRS_SIZE] {
        let mut img = [0u8; DEVICE_ATTRS_SIZE];
        let w = |img: &mut [u8; DEVICE_ATTRS_SIZE], off, v| put_u32(img, off, v);
        w(
            &mut img,
            0x000,
            u32::from(self.vendor_id) | u32::from(self.device_id) << 16,
        );
        w(
            &mut img,
            0x004,
            u32::from(self.revision_id)
                | u32::from(self.if_minor) << 8
                | u32::from(self.if_major) << 16,
        );
        w(
            &mut img,
            0x008,
            u32::from(self.subsys_vendor_id) | u32::from(self.subsys_id) << 16,
        );
        w(&mut img, 0x00C, self.fw_version);
        put(&mut img, 0x010, &self.factory_mac);
        w(&mut img, 0x100, self.max_qp);
        w(&mut img, 0x104, self.max_cq);
        w(&mut img, 0x108, self.max_srq);
        w(&mut img, 0x10C, self.max_pd);
        w(&mut img, 0x110, self.max_mpt);
        w(&mut img, 0x114, self.max_mr);
        w(&mut img, 0x118, self.max_mw);
        w(&mut img, 0x11C, self.max_sq_depth);
        w(&mut img, 0x120, self.max_rq_depth);
        w(&mut img, 0x124, self.max_srq_depth);
        w(&mut img, 0x128, self.max_cq_depth);
        w(
            &mut img,
            0x12C,
            u32::from_le_bytes([
                self.max_send_sge,
                self.max_recv_sge,
                self.max_read_sge,
                self.max_srq_sge,
            ]),
        );
        w(
            &mut img,
            0x130,
            u32::from(self.max_inline)
                | u32::from(self.max_sq_stride_log2) << 16
                | u32::from(self.max_rq_stride_log2) << 24,
        );
        w(
            &mut img,
            0x134,
            u32::from(self.max_ird) | u32::from(self.max_ord) << 8,
        );
        w(&mut img, 0x138, self.max_msg_size);
        w(
            &mut img,
            0x13C,
            u32::from_le_bytes([
                self.max_mr_size_log2,
                self.max_mw_size_log2,
                self.max_pbl_levels,
                0,
            ]),
        );
        w(&mut img, 0x140, self.page_sizes);
        w(&mut img, 0x144, self.max_pbl_pages);
        w(
            &mut img,
            0x148,
            u32::from(self.frmr_max_pages) | u32::from(self.frmr_opt_pages) << 16,
        );
        w(&mut img, 0x14C, self.features.bits());
        w(
            &mut img,
            0x150,
            u32::from(self.max_caller_data)
                | u32::from(self.max_callee_data) << 8
                | u32::from(self.max_listen) << 16,
        );
        w(
            &mut img,
            0x154,
            u32::from_le_bytes([
                self.max_eq_log2,
                self.max_admq_log2,
                self.max_cmev_log2,
                self.num_eq,
            ]),
        );
        w(&mut img, 0x158, u32::from(self.gid_table_size));
        w(&mut img, 0x15C, self.large_request);
        w(&mut img, 0x160, self.priv_lkey);
        w(&mut img, 0x164, self.db_pages);
        w(&mut img, 0x168, self.max_conn);
        img
    }

    /// Decodes a 512-byte image; reserved bits are ignored.
    pub fn from_image(img: &[u8; DEVICE_ATTRS_SIZE]) -> DeviceAttrs {
        let r = |off| u32_at(img, off);
        let (id, rev, sub) = (r(0x000), r(0x004), r(0x008));
        let (sge, inl, rdma, mr) = (r(0x12C), r(0x130), r(0x134), r(0x13C));
        let (frmr, cm, queues) = (r(0x148), r(0x150), r(0x154));
        DeviceAttrs {
            vendor_id: h(id, 0),
            device_id: h(id, 16),
            revision_id: b(rev, 0),
            if_minor: b(rev, 8),
            if_major: b(rev, 16),
            subsys_vendor_id: h(sub, 0),
            subsys_id: h(sub, 16),
            fw_version: r(0x00C),
            factory_mac: get(img, 0x010),
            max_qp: r(0x100),
            max_cq: r(0x104),
            max_srq: r(0x108),
            max_pd: r(0x10C),
            max_mpt: r(0x110),
            max_mr: r(0x114),
            max_mw: r(0x118),
            max_sq_depth: r(0x11C),
            max_rq_depth: r(0x120),
            max_srq_depth: r(0x124),
            max_cq_depth: r(0x128),
            max_send_sge: b(sge, 0),
            max_recv_sge: b(sge, 8),
            max_read_sge: b(sge, 16),
            max_srq_sge: b(sge, 24),
            max_inline: h(inl, 0),
            max_sq_stride_log2: b(inl, 16),
            max_rq_stride_log2: b(inl, 24),
            max_ird: b(rdma, 0),
            max_ord: b(rdma, 8),
            max_msg_size: r(0x138),
            max_mr_size_log2: b(mr, 0),
            max_mw_size_log2: b(mr, 8),
            max_pbl_levels: b(mr, 16),
            page_sizes: r(0x140),
            max_pbl_pages: r(0x144),
            frmr_max_pages: h(frmr, 0),
            frmr_opt_pages: h(frmr, 16),
            features: Features::from_bits_truncate(r(0x14C)),
            max_caller_data: b(cm, 0),
            max_callee_data: b(cm, 8),
            max_listen: h(cm, 16),
            max_eq_log2: b(queues, 0),
            max_admq_log2: b(queues, 8),
            max_cmev_log2: b(queues, 16),
            num_eq: b(queues, 24),
            gid_table_size: h(r(0x158), 0),
            large_request: r(0x15C),
            priv_lkey: r(0x160),
            db_pages: r(0x164),
            max_conn: r(0x168),
        }
    }

    /// Reads the block from BAR0 (one read per register; bring-up only).
    pub fn read(bar0: &Bar0) -> DeviceAttrs {
        let mut img = [0u8; DEVICE_ATTRS_SIZE];
        macro_rules! rd {
            ($off:expr, $f:ident) => {
                put_u32(&mut img, $off, bar0.$f.get())
            };
        }
        attr_registers!(rd);
        DeviceAttrs::from_image(&img)
    }

    /// Writes the block into BAR0: what a device model does at power-up and reset.
    pub fn write(&self, bar0: &Bar0) {
        let img = self.to_image();
        macro_rules! wr {
            ($off:expr, $f:ident) => {
                bar0.$f.set(u32_at(&img, $off))
            };
        }
        attr_registers!(wr);
    }

    /// The `hal` capabilities (§13.1).
    pub fn device_caps(&self) -> DeviceCaps {
        let f = self.features;
        let pow2 = |log2: u8| 1u64.checked_shl(u32::from(log2)).unwrap_or(u64::MAX);
        let sge = |n: u8| u32::from(n).min(hal::MAX_SGE as u32);
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
            max_caller_data: u32::from(self.max_caller_data),
            max_callee_data: u32::from(self.max_callee_data),
            max_cq_count: self.max_cq,
            max_qp_count: self.max_qp.saturating_sub(2),
            max_srq_count: self.max_srq,
            max_mr_count: self.max_mr,
            max_mw_count: self.max_mw,
            max_pd_count: self.max_pd,
            transport: RdmaTransport::RoceV2,
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
    fn attr_register_offsets_match_bar0() {
        macro_rules! check {
            ($off:expr, $f:ident) => {
                assert_eq!(offset_of!(Bar0, $f), $off, stringify!($f))
            };
        }
        attr_registers!(check);
    }

    #[test]
    fn reference_image_matches_the_manual_reset_values() {
        let img = DeviceAttrs::REFERENCE.to_image();
        let r = |off| u32_at(&img, off);
        assert_eq!(r(0x000), 0x0001_1F0D);
        assert_eq!(r(0x004), 0x0001_0001);
        assert_eq!(r(0x008), 0x0001_1F0D);
        assert_eq!(r(0x00C), 0x0100_0000);
        assert_eq!(r(0x010), 0x000D_1F02);
        assert_eq!(r(0x014), 0x0000_0100);
        assert_eq!(r(0x12C), 0x1010_1010);
        assert_eq!(r(0x130), 0x0909_0100);
        assert_eq!(r(0x134), 0x0000_1010);
        assert_eq!(r(0x13C), 0x0002_2828);
        assert_eq!(r(0x140), 0x4020_1000);
        assert_eq!(r(0x144), 0x1000_0000);
        assert_eq!(r(0x148), 0x0100_0400);
        assert_eq!(r(0x14C), 0x0000_1FFF);
        assert_eq!(r(0x150), 0x0400_9438);
        assert_eq!(r(0x154), 0x010A_0C10);
        assert_eq!(r(0x158), 0x0000_0040);
        assert_eq!(r(0x160), 0x0000_0100);
        assert_eq!(DeviceAttrs::from_image(&img), DeviceAttrs::REFERENCE);
    }

    #[test]
    fn bar0_write_then_read_round_trips() {
        let mem = Box::new(FakeBar0(core::array::from_fn(|_| UnsafeCell::new(0))));
        let bar0 = mem.regs();
        DeviceAttrs::REFERENCE.write(bar0);
        assert_eq!(bar0.id.get(), 0x0001_1F0D);
        assert_eq!(DeviceAttrs::read(bar0), DeviceAttrs::REFERENCE);
    }

    #[test]
    fn hal_caps_follow_the_mapping_table() {
        let c = DeviceAttrs::REFERENCE.device_caps();
        assert_eq!(c.vendor_id, 0x1F0D);
        assert_eq!(c.max_qp_count, 16382);
        assert_eq!(c.max_registration_size, 1 << 40);
        assert_eq!(c.max_initiator_sge, 16);
        assert_eq!(c.max_inline_data, 256);
        assert_eq!(c.max_caller_data, 56);
        assert_eq!(c.max_callee_data, 148);
        assert_eq!(c.max_cq_depth, (1 << 22) - 1);
        assert_eq!(c.transport, RdmaTransport::RoceV2);
        assert!(c.cq_resize && c.loopback_connections && c.read_local_invalidate);
        let mut no_srq = DeviceAttrs::REFERENCE;
        no_srq.features.remove(Features::SRQ);
        assert_eq!(no_srq.device_caps().max_srq_depth, 0);
    }
}
