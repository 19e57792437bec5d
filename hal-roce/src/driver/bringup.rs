//! Reset and bring-up (§11.1), one datasheet step per block, and the teardown in `Drop`.

use alloc::vec::Vec;
use core::net::IpAddr;
use core::sync::atomic::{AtomicBool, AtomicU64};

use hal::queue::bringup::{self, BringUpRegs, HostRing};
use hal::queue::serial::Serialized;
use hal::queue::wait;
use hal::{DeviceCaps, HalError, HalResult, MmioRegion, Platform};
use tock_registers::interfaces::{Readable, Writeable};

use super::cmdq::{Action, AdminQueue, Control, MAILBOX_SIZE};
use super::eq::{EqState, SoftEvents};
use super::mem::{IdLimits, Ids};
use super::{Lock, RoceNic};
use crate::admin::{CmdFlags, Command};
use crate::caps::DeviceAttrs;
use crate::cm::CM_RECORD_SIZE;
use crate::eqe::{EQE_OWNER_OFFSET, EQE_SIZE, MIN_EQ_LOG2};
use crate::regs::{
    self, Bar0, ADMQ_CTRL, ADMQ_SIZE, CMEV_CI, CMEV_CTRL, CMEV_SIZE, CTRL, EQ_CI, EQ_CTRL, EQ_SIZE,
    ID, REVISION, STATUS,
};

/// §11.1 step 3 and §12.7: reset completes within 100 ms; the driver gives it 1 s.
const RESET_TIMEOUT_NS: u64 = 1_000_000_000;
/// §12.7: a reset completes within 100 ms; `Drop` waits that long before freeing the rings.
const DROP_RESET_TIMEOUT_NS: u64 = 100_000_000;
/// Driver choice: EQ of up to 2^14 EQEs (512 KiB of DMA memory). §5.7's sizing rule for every
/// object the reference device allows would need 2^16; the counts are scaled to fit instead.
const EQ_LOG2: u8 = 14;
/// Driver choice: 64 CM records in flight (32 KiB).
const CMEV_LOG2: u8 = 6;
/// Driver choice: 256 admin entries and mailboxes (16 KiB + 128 KiB).
const ADMQ_LOG2: u8 = 8;
/// Events buffered between the EQ and `next_event` (each ~600 bytes: CM private data).
const SOFT_EVENTS: usize = 1024;

/// What the bring-up programs besides the rings (§11.1 step 12).
#[derive(Clone, Copy, Debug)]
pub struct BringUpConfig<'a> {
    /// Ethernet MTU for SET_MTU (1280..9000).
    pub mtu: u32,
    /// Interface addresses, installed as GID entries 0, 1, … with SET_GID.
    pub addresses: &'a [IpAddr],
}

impl Default for BringUpConfig<'_> {
    fn default() -> Self {
        BringUpConfig {
            mtu: 1500,
            addresses: &[],
        }
    }
}

/// §11.1 steps 1–4 on the bare registers: identity, reset, capabilities.
fn reset_and_identify<P: Platform>(p: &P, bar0: &Bar0) -> HalResult<DeviceAttrs> {
    // 1–3. Identity, reset, wait for READY.
    bringup::reset(p, bar0, RESET_TIMEOUT_NS)?;
    // 4. Capabilities.
    Ok(DeviceAttrs::read(bar0))
}

/// The bring-up registers of §3.2 and §3.6–§3.9 for `hal::queue::bringup`.
impl BringUpRegs for Bar0 {
    fn identity_matches(&self) -> bool {
        let id = self.id.extract();
        id.read(ID::VENDOR_ID) == u32::from(regs::PCI_VENDOR_ID)
            && id.read(ID::DEVICE_ID) == u32::from(regs::PCI_DEVICE_ID)
            && self.revision.read(REVISION::IF_MAJOR) == u32::from(regs::IF_MAJOR)
    }

    fn start_reset(&self) {
        self.ctrl.write(CTRL::RESET::SET);
    }

    fn reset_done(&self) -> bool {
        !self.ctrl.is_set(CTRL::RESET)
    }

    fn ready(&self) -> bool {
        self.status.is_set(STATUS::READY)
    }

    fn start_enable(&self) {
        self.ctrl.write(CTRL::ENABLE::SET);
    }

    fn enabled(&self) -> bool {
        self.status.is_set(STATUS::ENABLED)
    }

    fn program_ring(&self, ring: HostRing, bus: u64, log2: u8) {
        let (lo, hi) = (bus as u32, (bus >> 32) as u32);
        let log2 = u32::from(log2);
        match ring {
            HostRing::Eq => {
                self.eq_base_lo.set(lo);
                self.eq_base_hi.set(hi);
                self.eq_size.write(EQ_SIZE::LOG2_ENTRIES.val(log2));
                self.eq_ci.write(EQ_CI::CI.val(0));
                self.eq_ctrl.write(EQ_CTRL::ENABLE::SET);
            }
            HostRing::CmEvents => {
                self.cmev_base_lo.set(lo);
                self.cmev_base_hi.set(hi);
                self.cmev_size.write(CMEV_SIZE::LOG2_ENTRIES.val(log2));
                self.cmev_ci.write(CMEV_CI::CI.val(0));
                self.cmev_ctrl.write(CMEV_CTRL::ENABLE::SET);
            }
            HostRing::Admin => {
                self.admq_base_lo.set(lo);
                self.admq_base_hi.set(hi);
                self.admq_size.write(ADMQ_SIZE::LOG2_ENTRIES.val(log2));
                self.admq_ctrl.write(ADMQ_CTRL::ENABLE::SET);
            }
        }
    }

    fn unmask_interrupts(&self) {
        self.int_cause.set(u32::MAX);
        self.int_mask.set(0);
    }

    fn arm_eq(&self) {
        self.eq_ci.write(EQ_CI::CI.val(0) + EQ_CI::ARM::SET);
    }
}

/// §13.1 plus the driver's own limits: queue numbers need a doorbell block in BAR2 (§4), and
/// §5.7's EQ sizing rule (`2 × CQs + 2 × SRQs + QPs + ADMQ + CMEV + 16` ≤ EQ entries) must
/// hold so the device never overflows the EQ (FATAL): QP, CQ and SRQ counts are scaled down
/// to fit the EQ the driver allocates.
pub(crate) fn derive_caps(
    attrs: &DeviceAttrs,
    bar2_len: usize,
    eq_entries: u64,
    fixed: u64,
) -> (DeviceCaps, IdLimits) {
    let mut caps = attrs.device_caps();
    let blocks = u32::try_from(bar2_len / regs::DB_BLOCK_SIZE)
        .unwrap_or(u32::MAX)
        .min(
            attrs
                .db_pages
                .saturating_mul(regs::DB_BLOCKS_PER_PAGE as u32),
        );
    let mut qp = u64::from(attrs.max_qp.min(blocks));
    let mut cq = u64::from(attrs.max_cq.min(blocks));
    let mut srq = u64::from(attrs.max_srq.min(blocks));
    let budget = eq_entries.saturating_sub(fixed);
    let need = cq
        .saturating_mul(2)
        .saturating_add(srq.saturating_mul(2))
        .saturating_add(qp);
    if need > budget && need > 0 {
        qp = qp.saturating_mul(budget) / need;
        cq = cq.saturating_mul(budget) / need;
        srq = srq.saturating_mul(budget) / need;
    }
    let to32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let (qp, cq, srq) = (to32(qp), to32(cq), to32(srq));
    caps.max_qp_count = qp.saturating_sub(2);
    caps.max_cq_count = cq;
    caps.max_srq_count = srq;
    let limits = IdLimits {
        pd: attrs.max_pd,
        cq,
        srq,
        qp,
        mpt: attrs.max_mpt,
        listen: u32::from(attrs.max_listen),
        conn: attrs.max_conn,
    };
    (caps, limits)
}

impl<P: Platform> RoceNic<P> {
    /// Brings the device up with the default configuration (MTU 1500, no addresses yet; add
    /// them with `hal::EthernetPort::set_local_addresses`). See [`RoceNic::with_config`].
    pub fn new(platform: P, bar0: MmioRegion, bar2: MmioRegion) -> HalResult<RoceNic<P>> {
        RoceNic::with_config(platform, bar0, bar2, &BringUpConfig::default())
    }

    /// Takes the mapped BARs of one RNIC-R2 function (BAR0: 64 KiB of registers, BAR2: the
    /// doorbell pages) and runs the bring-up of §11.1: identity check, reset, capabilities,
    /// EQ, CM event ring and admin queue in host memory, interrupts unmasked, enable, EQ
    /// armed, then SET_MTU and one SET_GID per address, waiting for their completions.
    ///
    /// Every wait polls through `platform.stall_us` (where a device model steps) and gives
    /// up after 1 s of `platform.now_ns`. Errors: `NotSupported` for a device that is not
    /// RNIC-R2 interface 1.x, `InvalidParameter` when BAR0 is too small, `NoResources` when
    /// host memory runs out, `Fatal` when the device does not answer in time, or the error of
    /// a bring-up command.
    pub fn with_config(
        platform: P,
        bar0: MmioRegion,
        bar2: MmioRegion,
        config: &BringUpConfig<'_>,
    ) -> HalResult<RoceNic<P>> {
        let attrs = {
            let regs = bar0.block::<Bar0>(0).ok_or(HalError::InvalidParameter)?;
            reset_and_identify(&platform, regs)?
        };
        let eq_log2 = EQ_LOG2.min(attrs.max_eq_log2).max(MIN_EQ_LOG2);
        let cmev_log2 = CMEV_LOG2.min(attrs.max_cmev_log2).max(2);
        let admq_log2 = ADMQ_LOG2.min(attrs.max_admq_log2).max(2);
        let pow2 = |k: u8| 1u64.checked_shl(u32::from(k)).unwrap_or(u64::MAX);
        let fixed = pow2(admq_log2)
            .saturating_add(pow2(cmev_log2))
            .saturating_add(16);
        let (caps, limits) = derive_caps(&attrs, bar2.len(), pow2(eq_log2), fixed);

        // 5–7. Host rings, zeroed by alloc_dma. Owned by `nic` at once, so an error below
        // frees them in Drop. Heap memory is allocated first: the admin queue's DMA memory
        // is freed only by that Drop.
        let ids = Ids::new(&limits)?;
        let events = SoftEvents::with_capacity(SOFT_EVENTS)?;
        let flush = super::flush::SoftFlush::<P>::new(limits.qp)?;
        let mut sync_done = Vec::new();
        sync_done
            .try_reserve(config.addresses.len().saturating_add(1))
            .map_err(|_| HalError::NoResources)?;
        let admq = AdminQueue::new(&platform, admq_log2, MAILBOX_SIZE)?;
        let mut control = Control::new(admq, ids);
        control.sync_done = sync_done;
        let nic = RoceNic {
            ctl: Lock::<P, _>::new(control),
            eq: Lock::<P, _>::new(EqState::new(eq_log2, EQE_OWNER_OFFSET, cmev_log2)),
            events: Lock::<P, _>::new(events),
            handler: Lock::<P, _>::new(None),
            isr: Serialized::new(),
            fatal: AtomicBool::new(false),
            eth_live: AtomicBool::new(false),
            eth_ctx: AtomicU64::new(0),
            flush,
            platform,
            bar0,
            bar2,
            attrs,
            caps,
        };
        nic.program_rings(eq_log2, cmev_log2)?;
        nic.configure(config)?;
        Ok(nic)
    }

    /// §11.1 steps 5–11: the host rings, then the register procedure of `hal::queue::bringup`.
    fn program_rings(&self, eq_log2: u8, cmev_log2: u8) -> HalResult<()> {
        let bar0 = self.bar0().ok_or(HalError::InvalidParameter)?;
        let eq_len = EQE_SIZE
            .checked_shl(u32::from(eq_log2))
            .ok_or(HalError::NoResources)?;
        let cmev_len = CM_RECORD_SIZE
            .checked_shl(u32::from(cmev_log2))
            .ok_or(HalError::NoResources)?;
        let (eq_bus, cmev_bus) = {
            let mut eq = self.eq.lock();
            let ring = self.platform.alloc_dma(eq_len)?;
            let eq_bus = ring.bus_address();
            eq.ring = Some(ring);
            let cmev = self.platform.alloc_dma(cmev_len)?;
            let cmev_bus = cmev.bus_address();
            eq.records = Some(cmev);
            (eq_bus, cmev_bus)
        };
        let admq = {
            let ctl = self.ctl.lock();
            (ctl.cmds.ring.bus_address(), ctl.cmds.ring.log2())
        };
        bringup::start(
            &self.platform,
            bar0,
            RESET_TIMEOUT_NS,
            (eq_bus, eq_log2),
            (cmev_bus, cmev_log2),
            admq,
        )?;
        // 11. BAR2 must hold at least one doorbell block.
        if self.bar2.len() < regs::DB_BLOCK_SIZE {
            return Err(HalError::InvalidParameter);
        }
        Ok(())
    }

    /// §11.1 step 12: SET_MTU and SET_GID per address, waiting for their completions.
    fn configure(&self, config: &BringUpConfig<'_>) -> HalResult<()> {
        let mut tokens: Vec<u64> = Vec::new();
        tokens
            .try_reserve(config.addresses.len().saturating_add(1))
            .map_err(|_| HalError::NoResources)?;
        let mtu = config.mtu;
        tokens.push(self.command(
            |_| Command::SetMtu { mtu },
            None,
            CmdFlags::empty(),
            None,
            Some(Action::Sync),
        )?);
        for (i, ip) in config.addresses.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| HalError::ImplementationLimit)?;
            if index >= u32::from(self.attrs.gid_table_size) {
                return Err(HalError::ImplementationLimit);
            }
            tokens.push(self.post_gid(index, *ip, Some(Action::Sync))?);
            let mut ctl = self.ctl.lock();
            ctl.addrs
                .try_reserve(1)
                .map_err(|_| HalError::NoResources)?;
            ctl.addrs.push(*ip);
        }
        for t in tokens {
            self.wait_sync(t)?;
        }
        Ok(())
    }

    /// Waits (polling the EQ, no handler yet) for the completion of a bring-up command.
    pub(super) fn wait_sync(&self, token: u64) -> HalResult<()> {
        wait::wait_result(
            &self.platform,
            RESET_TIMEOUT_NS,
            || self.process_eq(),
            || wait::take_result(&mut self.ctl.lock().sync_done, token),
        )
    }
}

impl<P: Platform> Drop for RoceNic<P> {
    /// Resets the device (it forgets every ring and object, so it no longer writes host
    /// memory), waits for the reset, then returns the driver's rings to the platform. Memory
    /// of objects the provider did not destroy stays with their handles.
    fn drop(&mut self) {
        let reset_done = match self.bar0.block::<Bar0>(0) {
            Some(bar0) => bringup::reset_for_teardown(&self.platform, bar0, DROP_RESET_TIMEOUT_NS),
            None => true,
        };
        if !reset_done {
            // The device may still write the rings: leak them rather than free them.
            return;
        }
        let platform = &self.platform;
        self.eq.get_mut().free(platform);
        let ctl = self.ctl.get_mut();
        ctl.cmds.ring.free(platform);
        for p in ctl.cmds.drain_pending() {
            p.action.free(platform);
        }
    }
}
