//! The register-level driver of RNIC-R2: a [`hal::NicHal`] backend over BAR0, BAR2 and host
//! rings (docs/silicon/rocev2.md).
//!
//! Layout follows irdma's split (style.md): the fast path ([`sq`], [`rq`], [`srq`], [`cq`])
//! writes WQEs into DMA rings, rings doorbells and polls CQEs by the owner bit, with no lock and
//! no allocation, and so does the raw Ethernet queue ([`eth`], `hal::EthernetPort`); the
//! control path ([`cmdq`], [`eq`], [`mem`], [`cm`]) posts admin commands
//! under one spin lock and turns EQEs into [`hal::HalEvent`]s. A dead device (FATAL, or
//! surprise-removed) writes no CQE any more: the CQ pollers then flush every queue in
//! software ([`flush`]), so each request still completes exactly once.
//!
//! Locks (all `lock_api` over `P::RawLock`), always taken in this order: `eq` → `ctl` →
//! `events` → `feeders`; `handler` is taken alone. The driver never calls
//! `Platform::stall_us` or the interrupt handler while holding a lock, because a device
//! model steps (and may raise the interrupt) inside `stall_us`.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod bringup;
mod cm;
mod cmdq;
mod cq;
mod eq;
mod eth;
mod flush;
mod mem;
mod rq;
mod sq;
mod srq;
#[cfg(test)]
mod tests;

use core::sync::atomic::{AtomicBool, AtomicU64};

use hal::queue::serial::Serialized;
use hal::{DeviceCaps, MmioRegion, Platform};

use crate::caps::DeviceAttrs;
use crate::regs::{Bar0, DoorbellBlock};

pub use bringup::BringUpConfig;
pub use cm::Listen;
pub use cq::{Cq, CqPoller};
pub use eth::EthQueue;
pub use mem::{Mr, Mw, Pd};
pub use rq::Rq;
pub use sq::{Qp, Sq};
pub use srq::{Srq, SrqPoster};

/// A spin lock of the platform (KSPIN_LOCK in the kernel).
pub(crate) type Lock<P, T> = lock_api::Mutex<<P as Platform>::RawLock, T>;

/// The interrupt handler given to [`hal::NicHal::attach_interrupt`].
type Handler = hal::karc::KFn;

/// One RNIC-R2 function driven through its registers.
///
/// Built by [`RoceNic::new`] (which runs the bring-up of §11.1); the NDIS glue (or a device
/// model) calls [`RoceNic::interrupt`] when the device raises its interrupt.
pub struct RoceNic<P: Platform> {
    platform: P,
    bar0: MmioRegion,
    bar2: MmioRegion,
    attrs: DeviceAttrs,
    caps: DeviceCaps,
    /// Admin queue, object numbers, pending commands, CM bookkeeping, addresses.
    ctl: Lock<P, cmdq::Control>,
    /// EQ and CM event ring consumer state.
    eq: Lock<P, eq::EqState>,
    /// Events translated from EQEs, waiting for [`NicHal::next_event`].
    events: Lock<P, eq::SoftEvents>,
    handler: Lock<P, Option<Handler>>,
    /// Interrupt requests not yet served; the ISR body runs on one CPU at a time (like a DPC).
    isr: Serialized,
    /// The device reported FATAL (§3.5): commands are no longer posted (creates fail with
    /// `Fatal`, destroys complete at once), pending ones were failed.
    fatal: AtomicBool,
    /// The raw Ethernet queue exists (revision 1 has one), and its context for the
    /// `EthNotify` of a link change.
    eth_live: AtomicBool,
    eth_ctx: AtomicU64,
    /// How far each QP's queues have completed, and which queues feed which CQ (`flush`):
    /// read by the pollers once the device is dead.
    flush: flush::SoftFlush<P>,
}

impl<P: Platform> RoceNic<P> {
    /// The BAR0 register block (checked to fit at construction).
    pub(crate) fn bar0(&self) -> Option<&Bar0> {
        self.bar0.block::<Bar0>(0)
    }

    /// The doorbell block of queue number `n` in BAR2 (§4).
    pub(crate) fn doorbell(&self, offset: usize) -> Option<&DoorbellBlock> {
        self.bar2.block::<DoorbellBlock>(offset)
    }

    /// Identity and capabilities as read at bring-up (§3.3–§3.4).
    pub fn device_attrs(&self) -> &DeviceAttrs {
        &self.attrs
    }
}

// The `NicHal` routing is the same for both reference silicons: written once in `hal::queue`.
hal::impl_nic_hal!(RoceNic, privileged_key: priv_lkey);
