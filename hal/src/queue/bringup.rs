//! The register procedure of bring-up and teardown that both reference datasheets share
//! (§11.1 steps 1–3 and 5–10, §12: reset on teardown): reset and wait for READY, program the
//! EQ, the connection event ring and the admin queue, clear and unmask interrupts, enable and
//! wait for ENABLED, arm the EQ. The silicon maps each step to its own BAR0 fields through
//! [`BringUpRegs`]; the order, the waits and their time-outs are written once, here.

use crate::queue::wait::wait_for;
use crate::{HalError, HalResult, Platform};

/// A host ring the device is told about at bring-up (§11.1 steps 5–7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRing {
    /// The event queue (EQ_BASE / EQ_SIZE / EQ_CI / EQ_CTRL).
    Eq,
    /// The connection event record ring (CMEV_BASE / CMEV_SIZE / CMEV_CI / CMEV_CTRL).
    CmEvents,
    /// The admin queue (ADMQ_BASE / ADMQ_SIZE / ADMQ_CTRL).
    Admin,
}

/// The BAR0 accesses of the bring-up procedure, one method per datasheet operation.
pub trait BringUpRegs {
    /// §11.1 step 1: the vendor and device ID are this silicon's and the interface major is
    /// one the driver knows.
    fn identity_matches(&self) -> bool;
    /// Writes CTRL.RESET = 1.
    fn start_reset(&self);
    /// CTRL.RESET reads 0 again.
    fn reset_done(&self) -> bool;
    /// STATUS.READY reads 1.
    fn ready(&self) -> bool;
    /// Writes CTRL.ENABLE = 1.
    fn start_enable(&self);
    /// STATUS.ENABLED reads 1.
    fn enabled(&self) -> bool;
    /// Writes the ring's base (low then high dword) and log2 size, a zero consumer counter
    /// where the ring has one, then its ENABLE bit.
    fn program_ring(&self, ring: HostRing, bus_address: u64, log2: u8);
    /// Clears every INT_CAUSE bit and unmasks every interrupt (INT_MASK = 0).
    fn unmask_interrupts(&self);
    /// Writes EQ_CI = 0 with ARM.
    fn arm_eq(&self);
}

/// A host ring's bus address and log2 entry count.
pub type RingAt = (u64, u8);

/// §11.1 steps 1–3: identity (`NotSupported` if it is not this silicon), reset, and the wait
/// for RESET = 0 and READY = 1 (`Fatal` after `timeout_ns`).
pub fn reset<P: Platform>(p: &P, regs: &impl BringUpRegs, timeout_ns: u64) -> HalResult<()> {
    if !regs.identity_matches() {
        return Err(HalError::NotSupported);
    }
    regs.start_reset();
    wait_for(p, timeout_ns, || regs.reset_done() && regs.ready())
}

/// §11.1 steps 5–10: the EQ, the connection event ring and the admin queue, interrupts
/// cleared and unmasked, enable and the wait for ENABLED (`Fatal` after `timeout_ns`), then
/// the EQ armed. Never call it holding a lock: it polls through `stall_us`.
pub fn start<P: Platform>(
    p: &P,
    regs: &impl BringUpRegs,
    timeout_ns: u64,
    eq: RingAt,
    cm_events: RingAt,
    admin: RingAt,
) -> HalResult<()> {
    // 5–7.
    regs.program_ring(HostRing::Eq, eq.0, eq.1);
    regs.program_ring(HostRing::CmEvents, cm_events.0, cm_events.1);
    regs.program_ring(HostRing::Admin, admin.0, admin.1);
    // 8.
    regs.unmask_interrupts();
    // 9.
    regs.start_enable();
    wait_for(p, timeout_ns, || regs.enabled())?;
    // 10.
    regs.arm_eq();
    Ok(())
}

/// Teardown: resets the device so it forgets every ring and object and no longer writes host
/// memory, waiting up to `timeout_ns`. `false`: the reset did not complete and the rings must
/// be leaked rather than freed.
pub fn reset_for_teardown<P: Platform>(p: &P, regs: &impl BringUpRegs, timeout_ns: u64) -> bool {
    regs.start_reset();
    wait_for(p, timeout_ns, || regs.reset_done()).is_ok()
}
