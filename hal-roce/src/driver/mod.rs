//! The register-level driver of RNIC-R2: a [`hal::NicHal`] backend over BAR0, BAR2 and host
//! rings (docs/silicon/rocev2.md).
//!
//! Layout follows irdma's split (style.md): the fast path ([`sq`], [`rq`], [`srq`], [`cq`])
//! writes WQEs into DMA rings, rings doorbells and polls CQEs by the owner bit, with no lock and
//! no allocation, and so does the raw Ethernet queue ([`eth`], `hal::EthernetPort`); the
//! control path ([`cmdq`], [`eq`], [`mem`], [`cm`]) posts admin commands
//! under one spin lock and turns EQEs into [`hal::HalEvent`]s.
//!
//! Locks (all `lock_api` over `P::RawLock`), always taken in this order: `eq` → `ctl` →
//! `events`; `handler` is taken alone. The driver never calls `Platform::stall_us` or the
//! interrupt handler while holding a lock, because a device model steps (and may raise the
//! interrupt) inside `stall_us`.
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
mod mem;
mod rq;
mod sq;
mod srq;
#[cfg(test)]
mod tests;

use alloc::sync::Arc;
use core::net::{IpAddr, SocketAddr};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use hal::{
    Cmd, CmdToken, Completion, ConnId, CqParts, DeviceCaps, HalEvent, HalResult, MmioRegion,
    MrKind, NicHal, Platform, QpParams, QpParts, RecvWr, Registration, SendWr,
};

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

/// The interrupt handler given to [`NicHal::attach_interrupt`].
type Handler = Arc<dyn Fn() + Send + Sync>;

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
    isr_requests: AtomicU32,
    /// The device reported FATAL (§3.5): commands are no longer posted (creates fail with
    /// `Fatal`, destroys complete at once), pending ones were failed.
    fatal: AtomicBool,
    /// The raw Ethernet queue exists (revision 1 has one), and its context for the
    /// `EthNotify` of a link change.
    eth_live: AtomicBool,
    eth_ctx: AtomicU64,
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

impl<P: Platform> NicHal for RoceNic<P> {
    type Platform = P;
    type Pd = Pd;
    type Cq = Cq;
    type CqPoller = CqPoller;
    type Qp = Qp;
    type Sq = Sq;
    type Rq = Rq;
    type Srq = Srq;
    type SrqPoster = SrqPoster;
    type Mr = Mr;
    type Mw = Mw;
    type Listen = Listen;

    fn platform(&self) -> &P {
        &self.platform
    }

    fn caps(&self) -> &DeviceCaps {
        &self.caps
    }

    fn is_local_address(&self, addr: &IpAddr) -> bool {
        self.ctl.lock().addrs.contains(addr)
    }

    fn attach_interrupt(&self, handler: Arc<dyn Fn() + Send + Sync>) {
        let old = self.handler.lock().replace(handler);
        // Dropped outside the lock: it may own the last reference to something that locks.
        drop(old);
        // Events that arrived before there was a handler are delivered now, as if the
        // interrupt had been pending (the mock does the same).
        self.interrupt();
    }

    fn next_event(&self) -> Option<HalEvent> {
        self.take_event()
    }

    fn create_pd(&self) -> HalResult<Pd> {
        self.pd_create()
    }

    fn destroy_pd(&self, pd: Pd) {
        self.pd_destroy(pd)
    }

    fn create_cq(
        &self,
        depth: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(CqParts<Self>, Cmd<()>)> {
        self.cq_create(depth, ctx, token)
    }

    fn resize_cq(
        &self,
        cq: &Cq,
        poller: &mut CqPoller,
        depth: u32,
        token: CmdToken,
    ) -> HalResult<Cmd<()>> {
        self.cq_resize(cq, poller, depth, token)
    }

    fn destroy_cq(&self, cq: CqParts<Self>, token: CmdToken) -> Cmd<()> {
        self.cq_destroy(cq, token)
    }

    fn poll_cq(&self, poller: &mut CqPoller, out: &mut [Completion]) -> usize {
        cq::poll(poller, out)
    }

    fn arm_cq(&self, poller: &mut CqPoller, solicited_only: bool) {
        cq::arm(self.doorbell(poller.db_offset), poller, solicited_only)
    }

    fn set_cq_moderation(&self, cq: &Cq, interval_us: u32, count: u32) -> HalResult<()> {
        self.cq_moderation(cq, interval_us, count)
    }

    fn create_srq(
        &self,
        pd: &Pd,
        depth: u32,
        max_sge: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(Srq, SrqPoster, Cmd<()>)> {
        self.srq_create(pd, depth, max_sge, ctx, token)
    }

    fn modify_srq(&self, srq: &Srq, depth: u32, token: CmdToken) -> HalResult<Cmd<()>> {
        self.srq_modify(srq, depth, token)
    }

    fn arm_srq_limit(&self, srq: &Srq, limit: u32) {
        self.srq_arm_limit(srq, limit)
    }

    fn srq_queued(&self, srq: &Srq) -> u32 {
        srq::queued(srq)
    }

    fn destroy_srq(&self, srq: Srq, poster: SrqPoster, token: CmdToken) -> Cmd<()> {
        self.srq_destroy(srq, poster, token)
    }

    fn post_srq_recv(&self, srq: &mut SrqPoster, wr: &RecvWr<'_>) -> HalResult<()> {
        srq::post(self.doorbell(srq.db_offset), srq, wr)
    }

    fn create_qp(
        &self,
        params: &QpParams<'_, Self>,
        token: CmdToken,
    ) -> HalResult<(QpParts<Self>, Cmd<()>)> {
        self.qp_create(params, token)
    }

    fn flush_qp(&self, qp: &Qp) {
        self.qp_flush(qp)
    }

    fn destroy_qp(&self, qp: QpParts<Self>, token: CmdToken) -> Cmd<()> {
        self.qp_destroy(qp, token)
    }

    fn post_send(&self, sq: &mut Sq, wr: &SendWr<'_>) -> HalResult<()> {
        sq::post(sq, wr)
    }

    fn ring_sq(&self, sq: &mut Sq) {
        sq::ring(self.doorbell(sq.db_offset), sq)
    }

    fn post_recv(&self, rq: &mut Rq, wr: &RecvWr<'_>) -> HalResult<()> {
        rq::post(self.doorbell(rq.db_offset), rq, wr)
    }

    fn alloc_mr(&self, pd: &Pd, kind: MrKind) -> HalResult<Mr> {
        self.mr_alloc(pd, kind)
    }

    fn register_mr(
        &self,
        mr: &Mr,
        reg: &Registration<'_>,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>> {
        self.mr_register(mr, reg, token)
    }

    fn deregister_mr(&self, mr: &Mr, token: CmdToken) -> HalResult<Cmd<()>> {
        self.mr_deregister(mr, token)
    }

    fn init_fast_register(
        &self,
        mr: &Mr,
        max_pages: u32,
        remote_access: bool,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>> {
        self.mr_init_fast_register(mr, max_pages, remote_access, token)
    }

    fn free_mr(&self, mr: Mr) {
        self.mr_free(mr)
    }

    fn alloc_mw(&self, pd: &Pd) -> HalResult<(Mw, u32)> {
        self.mw_alloc(pd)
    }

    fn free_mw(&self, mw: Mw) {
        self.mw_free(mw)
    }

    fn privileged_lkey(&self) -> u32 {
        self.attrs.priv_lkey
    }

    fn cm_listen(&self, addr: SocketAddr, ctx: u64) -> HalResult<Listen> {
        self.listen(addr, ctx)
    }

    fn cm_stop_listen(&self, listen: Listen) {
        self.stop_listen(listen)
    }

    fn cm_connect(
        &self,
        qp: &Qp,
        local: SocketAddr,
        remote: SocketAddr,
        ird: u32,
        ord: u32,
        private_data: &[u8],
        ctx: u64,
    ) -> HalResult<ConnId> {
        self.connect(qp, local, remote, ird, ord, private_data, ctx)
    }

    fn cm_attach(&self, conn: ConnId, ctx: u64) {
        self.attach(conn, ctx)
    }

    fn cm_accept(
        &self,
        conn: ConnId,
        qp: &Qp,
        ird: u32,
        ord: u32,
        private_data: &[u8],
    ) -> HalResult<()> {
        self.accept(conn, qp, ird, ord, private_data)
    }

    fn cm_reject(&self, conn: ConnId, private_data: &[u8]) -> HalResult<()> {
        self.reject(conn, private_data)
    }

    fn cm_complete(&self, conn: ConnId) -> HalResult<()> {
        self.complete(conn)
    }

    fn cm_disconnect(&self, conn: ConnId) -> HalResult<()> {
        self.disconnect(conn)
    }

    fn cm_release(&self, conn: ConnId) {
        self.release(conn)
    }
}
