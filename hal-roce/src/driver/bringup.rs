//! Reset and bring-up (§11.1), one datasheet step per block, and the teardown in `Drop`.

use alloc::vec::Vec;
use core::net::IpAddr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use hal::{DeviceCaps, HalError, HalResult, MmioRegion, Platform};
use tock_registers::interfaces::{Readable, Writeable};

use super::cmdq::{free_action, Action, AdminQueue, Control};
use super::eq::{EqState, SoftEvents};
use super::mem::{IdLimits, Ids};
use super::{Lock, RoceNic};
use crate::admin::{CmdFlags, Command};
use crate::caps::DeviceAttrs;
use crate::cm::CM_RECORD_SIZE;
use crate::eqe::{EQE_SIZE, MIN_EQ_LOG2};
use crate::regs::{
    self, Bar0, ADMQ_CTRL, ADMQ_SIZE, CMEV_CI, CMEV_CTRL, CMEV_SIZE, CTRL, EQ_CI, EQ_CTRL, EQ_SIZE,
    ID, REVISION, STATUS,
};

/// §11.1 step 3 and §12.7: reset completes within 100 ms; the driver gives it 1 s.
const RESET_TIMEOUT_NS: u64 = 1_000_000_000;
/// §12.7: a reset completes within 100 ms; `Drop` waits that long before freeing the rings.
const DROP_RESET_TIMEOUT_NS: u64 = 100_000_000;
/// §11.1 step 3: poll every 10 µs.
const POLL_US: u32 = 10;
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

/// Polls `done` every 10 µs through `stall_us` (where a device model steps) until it holds
/// or `timeout_ns` passed on `now_ns`.
fn wait_for<P: Platform>(p: &P, timeout_ns: u64, mut done: impl FnMut() -> bool) -> HalResult<()> {
    let start = p.now_ns();
    loop {
        if done() {
            return Ok(());
        }
        if p.now_ns().wrapping_sub(start) >= timeout_ns {
            return Err(HalError::Fatal);
        }
        p.stall_us(POLL_US);
    }
}

/// §11.1 steps 1–4 on the bare registers: identity, reset, capabilities.
fn reset_and_identify<P: Platform>(p: &P, bar0: &Bar0) -> HalResult<DeviceAttrs> {
    // 1. Identity; refuse an interface major we do not know.
    let id = bar0.id.extract();
    if id.read(ID::VENDOR_ID) != u32::from(regs::PCI_VENDOR_ID)
        || id.read(ID::DEVICE_ID) != u32::from(regs::PCI_DEVICE_ID)
    {
        return Err(HalError::NotSupported);
    }
    if bar0.revision.read(REVISION::IF_MAJOR) != u32::from(regs::IF_MAJOR) {
        return Err(HalError::NotSupported);
    }
    // 2. Reset.
    bar0.ctrl.write(CTRL::RESET::SET);
    // 3. Wait for RESET = 0 and READY = 1.
    wait_for(p, RESET_TIMEOUT_NS, || {
        !bar0.ctrl.is_set(CTRL::RESET) && bar0.status.is_set(STATUS::READY)
    })?;
    // 4. Capabilities.
    Ok(DeviceAttrs::read(bar0))
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
        // frees them in Drop.
        let ids = Ids::new(&limits)?;
        let admq = AdminQueue::new(&platform, admq_log2)?;
        let mut control = Control::new(admq, ids);
        control
            .sync_done
            .try_reserve(config.addresses.len().saturating_add(1))
            .map_err(|_| HalError::NoResources)?;
        let nic = RoceNic {
            ctl: Lock::<P, _>::new(control),
            eq: Lock::<P, _>::new(EqState {
                ring: None,
                log2: eq_log2,
                ci: 0,
                cmev: None,
                cmev_log2,
                fatal_reported: false,
            }),
            events: Lock::<P, _>::new(SoftEvents::with_capacity(SOFT_EVENTS)?),
            handler: Lock::<P, _>::new(None),
            isr_requests: AtomicU32::new(0),
            fatal: AtomicBool::new(false),
            eth_live: AtomicBool::new(false),
            eth_ctx: AtomicU64::new(0),
            platform,
            bar0,
            bar2,
            attrs,
            caps,
        };
        nic.program_rings(eq_log2, cmev_log2)?;
        nic.enable()?;
        nic.configure(config)?;
        Ok(nic)
    }

    /// §11.1 steps 5–8.
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
            eq.cmev = Some(cmev);
            (eq_bus, cmev_bus)
        };
        // 5. EQ.
        bar0.eq_base_lo.set(eq_bus as u32);
        bar0.eq_base_hi.set((eq_bus >> 32) as u32);
        bar0.eq_size
            .write(EQ_SIZE::LOG2_ENTRIES.val(u32::from(eq_log2)));
        bar0.eq_ci.write(EQ_CI::CI.val(0));
        bar0.eq_ctrl.write(EQ_CTRL::ENABLE::SET);
        // 6. CM event ring.
        bar0.cmev_base_lo.set(cmev_bus as u32);
        bar0.cmev_base_hi.set((cmev_bus >> 32) as u32);
        bar0.cmev_size
            .write(CMEV_SIZE::LOG2_ENTRIES.val(u32::from(cmev_log2)));
        bar0.cmev_ci.write(CMEV_CI::CI.val(0));
        bar0.cmev_ctrl.write(CMEV_CTRL::ENABLE::SET);
        // 7. Admin queue.
        let (admq_bus, admq_log2) = {
            let ctl = self.ctl.lock();
            (ctl.admq.bus_address(), ctl.admq.log2())
        };
        bar0.admq_base_lo.set(admq_bus as u32);
        bar0.admq_base_hi.set((admq_bus >> 32) as u32);
        bar0.admq_size
            .write(ADMQ_SIZE::LOG2_ENTRIES.val(u32::from(admq_log2)));
        bar0.admq_ctrl.write(ADMQ_CTRL::ENABLE::SET);
        // 8. Clear and unmask interrupts.
        bar0.int_cause.set(u32::MAX);
        bar0.int_mask.set(0);
        Ok(())
    }

    /// §11.1 steps 9–11.
    fn enable(&self) -> HalResult<()> {
        let bar0 = self.bar0().ok_or(HalError::InvalidParameter)?;
        // 9. Enable and wait.
        bar0.ctrl.write(CTRL::ENABLE::SET);
        wait_for(&self.platform, RESET_TIMEOUT_NS, || {
            bar0.status.is_set(STATUS::ENABLED)
        })?;
        // 10. Arm the EQ.
        bar0.eq_ci.write(EQ_CI::CI.val(0) + EQ_CI::ARM::SET);
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
        let mut result = None;
        wait_for(&self.platform, RESET_TIMEOUT_NS, || {
            self.process_eq();
            let mut ctl = self.ctl.lock();
            if let Some(i) = ctl.sync_done.iter().position(|(t, _)| *t == token) {
                result = Some(ctl.sync_done.swap_remove(i).1);
                true
            } else {
                false
            }
        })?;
        result.unwrap_or(Err(HalError::Fatal))
    }
}

impl<P: Platform> Drop for RoceNic<P> {
    /// Resets the device (it forgets every ring and object, so it no longer writes host
    /// memory), waits for the reset, then returns the driver's rings to the platform. Memory
    /// of objects the provider did not destroy stays with their handles.
    fn drop(&mut self) {
        let reset_done = match self.bar0.block::<Bar0>(0) {
            Some(bar0) => {
                bar0.ctrl.write(CTRL::RESET::SET);
                wait_for(&self.platform, DROP_RESET_TIMEOUT_NS, || {
                    !bar0.ctrl.is_set(CTRL::RESET)
                })
                .is_ok()
            }
            None => true,
        };
        if !reset_done {
            // The device may still write the rings: leak them rather than free them.
            return;
        }
        let platform = &self.platform;
        self.eq.get_mut().free(platform);
        let ctl = self.ctl.get_mut();
        ctl.admq.free(platform);
        for p in ctl.pending.drain(..) {
            free_action(platform, p.action);
        }
    }
}
