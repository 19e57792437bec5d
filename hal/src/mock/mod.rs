//! A deterministic software RDMA NIC and a loopback fabric, for tests.
//!
//! [`MockNic`] implements [`NicHal`] for real: it moves bytes between host buffers, checks
//! keys, bounds, rights and PDs, generates completions and events, and establishes
//! connections over a [`Fabric`] that routes by IP address. Tests script it: fail or hold
//! the next command ([`MockNic::fail_next`], [`MockNic::pend`]), inject completions, overrun
//! a CQ, kill or unplug the device, switch interrupts to manual, and inspect the calls it
//! got and the objects still alive.
//!
//! Addresses: device logical addresses are host addresses
//! (`page_logical_address(pfn) = pfn << 12`), so an MDL of a test buffer (see
//! [`HostBuffer`]) registers that buffer, and the privileged key takes host addresses.
//!
//! Choices the contract leaves open (documented where they are made):
//! * A connect to an address no NIC owns fails with `ConnectFailed{Timeout}`.
//! * Fast-register WRs keep the MR's key: the variant moves on `register_mr`,
//!   `deregister_mr` and `init_fast_register` only, because a WR completion cannot report
//!   a new key to the provider. Invalidation is what makes a fast-register key unusable.
//! * Any QP that fails on its own (a failed WQE, a remote error, a dead peer) queues
//!   `QpError` after its error completion.
//! * The interrupt handler is not re-entered for the same NIC (like a DPC); events queued
//!   while it runs make it run again after it returns.

mod dma;
mod engine;
mod fabric;
mod memory;
mod platform;
mod queue;
#[cfg(test)]
mod tests;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

pub use dma::{HostBuffer, PAGE_SIZE};
pub use fabric::Fabric;
pub use platform::{MockPlatform, StallHook};

use crate::{
    Cmd, CmdToken, CmdValue, Completion, ConnId, CqParts, DeviceCaps, HalError, HalEvent,
    HalResult, MrKind, NicHal, QpParams, QpParts, RdmaTransport, RecvWr, Registration, SendWr,
    MAX_INLINE_DATA, MAX_SGE,
};

use fabric::{NicState, Shared, Tag, World};
use memory::{KeyTable, RegParams, PRIVILEGED_KEY};
use queue::{ring, CqState, Id, PdState, QpMode, QpState, RqState, SqState, SrqState};

/// Capabilities of a RoCEv2-like device, for tests that do not care.
pub fn default_caps() -> DeviceCaps {
    DeviceCaps {
        vendor_id: 0x1af4,
        device_id: 0x10fd,
        max_registration_size: 1 << 40,
        max_window_size: 1 << 40,
        frmr_page_count: 256,
        max_frmr_page_count: 1024,
        max_initiator_sge: 4,
        max_receive_sge: 4,
        max_read_sge: 4,
        max_transfer_length: 1 << 30,
        max_inline_data: 128,
        max_inbound_read_limit: 16,
        max_outbound_read_limit: 16,
        max_receive_queue_depth: 1024,
        max_initiator_queue_depth: 1024,
        max_srq_depth: 1024,
        max_cq_depth: 4096,
        large_request_threshold: 8192,
        max_caller_data: 56,
        max_callee_data: 148,
        max_cq_count: 1024,
        max_qp_count: 1024,
        max_srq_count: 1024,
        max_mr_count: 1024,
        max_mw_count: 1024,
        max_pd_count: 1024,
        transport: RdmaTransport::RoceV2,
        in_order_dma: true,
        read_sink_not_required: true,
        cq_interrupt_moderation: true,
        cq_resize: true,
        multi_engine: true,
        read_local_invalidate: true,
        loopback_connections: true,
    }
}

/// A control operation [`MockNic::fail_next`] and [`MockNic::pend`] can script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum MockOp {
    CreatePd,
    CreateCq,
    ResizeCq,
    DestroyCq,
    SetCqModeration,
    CreateSrq,
    ModifySrq,
    DestroySrq,
    CreateQp,
    DestroyQp,
    AllocMr,
    RegisterMr,
    DeregisterMr,
    InitFastRegister,
    AllocMw,
    PostSend,
    PostRecv,
    PostSrqRecv,
    CmListen,
    CmConnect,
    CmAccept,
    CmReject,
    CmComplete,
    CmDisconnect,
}

/// A recorded [`NicHal`] call with its key arguments. Queries (`platform`, `caps`,
/// `is_local_address`, `next_event`, `privileged_lkey`, `srq_queued`) are not recorded,
/// and fast-path calls are only counted ([`MockNic::fast_path_counts`]), so recording never
/// allocates on the fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum MockCall {
    AttachInterrupt,
    CreatePd,
    DestroyPd,
    CreateCq {
        depth: u32,
        ctx: u64,
    },
    ResizeCq {
        cq_ctx: u64,
        depth: u32,
    },
    DestroyCq {
        cq_ctx: u64,
    },
    SetCqModeration {
        cq_ctx: u64,
        interval_us: u32,
        count: u32,
    },
    CreateSrq {
        depth: u32,
        max_sge: u32,
        ctx: u64,
    },
    ModifySrq {
        srq_ctx: u64,
        depth: u32,
    },
    ArmSrqLimit {
        srq_ctx: u64,
        limit: u32,
    },
    DestroySrq {
        srq_ctx: u64,
    },
    CreateQp {
        ctx: u64,
        sq_depth: u32,
        rq_depth: u32,
        srq: bool,
    },
    FlushQp {
        qp_ctx: u64,
    },
    DestroyQp {
        qp_ctx: u64,
    },
    AllocMr {
        kind: MrKind,
    },
    RegisterMr {
        length: u64,
        pages: usize,
    },
    DeregisterMr,
    InitFastRegister {
        max_pages: u32,
        remote_access: bool,
    },
    FreeMr,
    AllocMw,
    FreeMw,
    CmListen {
        addr: SocketAddr,
        ctx: u64,
    },
    CmStopListen {
        addr: SocketAddr,
    },
    CmConnect {
        local: SocketAddr,
        remote: SocketAddr,
        ird: u32,
        ord: u32,
        ctx: u64,
    },
    CmAttach {
        conn: ConnId,
        ctx: u64,
    },
    CmAccept {
        conn: ConnId,
        ird: u32,
        ord: u32,
    },
    CmReject {
        conn: ConnId,
    },
    CmComplete {
        conn: ConnId,
    },
    CmDisconnect {
        conn: ConnId,
    },
    CmRelease {
        conn: ConnId,
    },
}

/// Counts of fast-path calls (never recorded one by one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct FastPathCounts {
    pub post_send: u64,
    pub ring_sq: u64,
    pub post_recv: u64,
    pub post_srq_recv: u64,
    pub poll_cq: u64,
    pub arm_cq: u64,
}

/// Objects alive in the device, for leak assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct LiveObjects {
    pub pd: usize,
    pub cq: usize,
    pub qp: usize,
    pub srq: usize,
    pub mr: usize,
    pub mw: usize,
    pub listen: usize,
    /// Connection ids not yet released (`cm_release`).
    pub conn: usize,
}

/// What a held (pending) command does when it completes. Creates, destroys, resizes and
/// modifies take effect when called; registrations take effect at completion, since their
/// keys are the completion's value (a failed completion leaves the MR as it was).
enum HeldAction {
    Unit,
    Register {
        idx: u32,
        pages: Vec<u64>,
        reg: RegParams,
    },
    Deregister {
        idx: u32,
    },
    InitFastRegister {
        idx: u32,
        max_pages: usize,
        remote: bool,
    },
}

struct Held {
    token: CmdToken,
    action: HeldAction,
}

/// Per-NIC scripting state.
#[derive(Default)]
pub(crate) struct Script {
    fail: Vec<(MockOp, HalError)>,
    pend: Vec<MockOp>,
    held: Vec<Held>,
    calls: Vec<MockCall>,
    fast: FastPathCounts,
}

/// A protection domain.
#[derive(Debug)]
pub struct Pd(Id);
/// Completion queue control handle.
#[derive(Debug)]
pub struct Cq(Id);
/// Completion queue polling side.
#[derive(Debug)]
pub struct CqPoller(Id);
/// Queue pair control handle.
#[derive(Debug)]
pub struct Qp(Id);
/// Send queue.
#[derive(Debug)]
pub struct Sq(Id);
/// Receive queue.
#[derive(Debug)]
pub struct Rq(Id);
/// Shared receive queue control handle.
#[derive(Debug)]
pub struct Srq(Id);
/// Shared receive queue posting side.
#[derive(Debug)]
pub struct SrqPoster(Id);
/// Memory region (its key slot).
#[derive(Debug)]
pub struct Mr(u32);
/// Memory window (its key slot).
#[derive(Debug)]
pub struct Mw(u32);
/// A listening address.
#[derive(Debug)]
pub struct Listen(Id);

/// A scriptable software NIC on a [`Fabric`]. See the module docs.
pub struct MockNic {
    shared: Arc<Shared>,
    n: usize,
    caps: DeviceCaps,
    addrs: Vec<IpAddr>,
}

impl core::fmt::Debug for MockNic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MockNic")
            .field("index", &self.n)
            .field("addrs", &self.addrs)
            .finish()
    }
}

impl MockNic {
    /// Plugs a new NIC into `fabric` with the given local addresses. Caps above the
    /// contract's bounds ([`MAX_SGE`], [`MAX_INLINE_DATA`]) are clamped to them.
    pub fn new(fabric: &Fabric, caps: DeviceCaps, addrs: &[IpAddr]) -> Arc<MockNic> {
        let mut caps = caps;
        let max_sge = MAX_SGE as u32;
        caps.max_initiator_sge = caps.max_initiator_sge.min(max_sge);
        caps.max_receive_sge = caps.max_receive_sge.min(max_sge);
        caps.max_read_sge = caps.max_read_sge.min(max_sge);
        caps.max_inline_data = caps.max_inline_data.min(MAX_INLINE_DATA as u32);
        let shared = fabric.shared.clone();
        let n = {
            let mut w = shared.world.lock();
            w.nics.push(NicState::new(addrs, &caps));
            w.nics.len() - 1
        };
        Arc::new(MockNic {
            shared,
            n,
            caps,
            addrs: addrs.to_vec(),
        })
    }

    // --- plumbing -----------------------------------------------------------------------

    /// Runs `f` under the fabric lock, then raises the handlers of NICs that got events.
    fn with<R>(&self, f: impl FnOnce(&mut World, usize) -> R) -> R {
        let r = {
            let mut w = self.shared.world.lock();
            f(&mut w, self.n)
        };
        self.shared.deliver();
        r
    }

    /// A control call: recorded; fails when the device is dead or a failure is scripted.
    fn control<R>(
        &self,
        op: Option<MockOp>,
        call: MockCall,
        f: impl FnOnce(&mut World, usize) -> HalResult<R>,
    ) -> HalResult<R> {
        self.with(|w, n| {
            let nic = w.nics.get_mut(n).ok_or(HalError::DeviceRemoved)?;
            record(&mut nic.script, call);
            if let Some(e) = nic.dead {
                return Err(e);
            }
            if let Some(e) = op.and_then(|op| take_failure(&mut nic.script, op)) {
                return Err(e);
            }
            f(w, n)
        })
    }

    /// A destroy: always takes effect; a scripted failure or hold shows only in how the
    /// command completes.
    fn destroy(
        &self,
        op: MockOp,
        call: MockCall,
        token: CmdToken,
        f: impl FnOnce(&mut World, usize),
    ) -> Cmd<()> {
        self.with(|w, n| {
            f(w, n);
            let Some(nic) = w.nics.get_mut(n) else {
                return Cmd::Done(());
            };
            record(&mut nic.script, call);
            if let Some(e) = take_failure(&mut nic.script, op) {
                w.push_event(
                    n,
                    HalEvent::CommandComplete {
                        token,
                        result: Err(e),
                    },
                    Tag::None,
                );
                return Cmd::Pending;
            }
            finish(w, n, op, token, HeldAction::Unit)
        })
    }

    /// Counts a fast-path call (no recording, no allocation).
    fn fast_path(&self, w: &mut World, count: impl FnOnce(&mut FastPathCounts)) {
        if let Some(nic) = w.nics.get_mut(self.n) {
            count(&mut nic.script.fast);
        }
    }

    // --- scripting ----------------------------------------------------------------------

    /// The next call of `op` fails with `err` (calls queue up: two `fail_next` of the same
    /// op fail its next two calls). Destroys cannot return an error: a scripted failure of
    /// one returns `Cmd::Pending` and queues `CommandComplete{Err(err)}` at once, and the
    /// object is destroyed anyway.
    pub fn fail_next(&self, op: MockOp, err: HalError) {
        let mut w = self.shared.world.lock();
        if let Some(nic) = w.nics.get_mut(self.n) {
            nic.script.fail.push((op, err));
        }
    }

    /// From now on, commands of `op` return `Cmd::Pending` and wait for
    /// [`MockNic::complete_pending`]; applies to ops that return a `Cmd` (creates, destroys,
    /// resize/modify, register/deregister/init-fast-register), others ignore it.
    pub fn pend(&self, op: MockOp) {
        let mut w = self.shared.world.lock();
        if let Some(nic) = w.nics.get_mut(self.n) {
            if !nic.script.pend.contains(&op) {
                nic.script.pend.push(op);
            }
        }
    }

    /// Commands of `op` complete synchronously again (held ones stay held).
    pub fn unpend(&self, op: MockOp) {
        let mut w = self.shared.world.lock();
        if let Some(nic) = w.nics.get_mut(self.n) {
            nic.script.pend.retain(|o| *o != op);
        }
    }

    /// Number of held commands.
    pub fn pending_count(&self) -> usize {
        self.shared
            .world
            .lock()
            .nics
            .get(self.n)
            .map_or(0, |s| s.script.held.len())
    }

    /// Completes every held command in order: `CommandComplete{token, Ok(Keys(l, r))}` for
    /// register/init-fast-register, `Ok(Unit)` otherwise; then raises the interrupt.
    pub fn complete_pending(&self) {
        self.with(|w, n| complete_held(w, n, None));
    }

    /// Completes every held command in order with `Err(err)`. Registrations do not take
    /// effect; created objects exist until destroyed; destroyed ones are gone anyway.
    pub fn complete_pending_with(&self, err: HalError) {
        self.with(|w, n| complete_held(w, n, Some(err)));
    }

    /// Pushes `c` into the CQ created with context `cq_ctx` (as if the device wrote it);
    /// `false` when this NIC has no such CQ.
    pub fn inject_completion(&self, cq_ctx: u64, c: Completion) -> bool {
        self.with(|w, n| match find_cq(w, n, cq_ctx) {
            Some(cq) => {
                w.push_completion(cq, c, false);
                true
            }
            None => false,
        })
    }

    /// Overruns the CQ with context `cq_ctx` now: `CqError{Overrun}` is queued and every
    /// further completion of it is dropped. `false` when there is no such CQ.
    pub fn overrun_cq(&self, cq_ctx: u64) -> bool {
        self.with(|w, n| {
            let Some(cq) = find_cq(w, n, cq_ctx) else {
                return false;
            };
            if let Some(s) = w.cqs.get_mut(cq) {
                if !s.overrun {
                    s.overrun = true;
                    s.arm = None;
                    w.push_event(
                        n,
                        HalEvent::CqError {
                            cq_ctx,
                            kind: crate::CqErrorKind::Overrun,
                        },
                        Tag::Cq(cq),
                    );
                }
            }
            true
        })
    }

    /// The device fails: `DeviceFatal` is queued, every QP goes to the error state
    /// (flushing), and control calls fail with `HalError::Fatal` from now on (destroys and
    /// frees still work).
    pub fn fatal(&self) {
        self.with(|w, n| w.fatal(n));
    }

    /// Surprise removal: `DeviceRemoved` is queued, the NIC leaves the fabric, its QPs
    /// flush, control calls fail with `HalError::DeviceRemoved`. Peers: outstanding and
    /// later sends complete with `RetryExceeded` plus `QpError`; established connections get
    /// `PeerDisconnected`, handshakes in progress fail with `Timeout`.
    pub fn remove(&self) {
        self.with(|w, n| w.unplug(n, true));
    }

    /// Every recorded call so far, in order.
    pub fn calls(&self) -> Vec<MockCall> {
        self.shared
            .world
            .lock()
            .nics
            .get(self.n)
            .map(|s| s.script.calls.clone())
            .unwrap_or_default()
    }

    /// Forgets the recorded calls and fast-path counts.
    pub fn clear_calls(&self) {
        let mut w = self.shared.world.lock();
        if let Some(s) = w.nics.get_mut(self.n) {
            s.script.calls.clear();
            s.script.fast = FastPathCounts::default();
        }
    }

    /// Fast-path call counts.
    pub fn fast_path_counts(&self) -> FastPathCounts {
        self.shared
            .world
            .lock()
            .nics
            .get(self.n)
            .map(|s| s.script.fast)
            .unwrap_or_default()
    }

    /// Number of `ring_sq` calls.
    pub fn doorbells(&self) -> u64 {
        self.fast_path_counts().ring_sq
    }

    /// Auto mode (default): the handler runs after every call that queued events. Manual
    /// mode: only [`MockNic::fire_interrupt`] runs it. Switching back to auto runs it when
    /// events came in meanwhile.
    pub fn set_auto_interrupt(&self, auto: bool) {
        self.with(|w, n| {
            if let Some(s) = w.nics.get_mut(n) {
                s.auto_interrupt = auto;
            }
        });
    }

    /// Calls the interrupt handler now (whether or not events are queued).
    pub fn fire_interrupt(&self) {
        self.with(|w, n| {
            if let Some(s) = w.nics.get_mut(n) {
                s.fire = true;
            }
        });
    }

    /// Number of events queued and not yet taken with `next_event`.
    pub fn queued_events(&self) -> usize {
        self.shared
            .world
            .lock()
            .nics
            .get(self.n)
            .map_or(0, |s| s.events.len())
    }

    /// Objects alive in the device.
    pub fn live_objects(&self) -> LiveObjects {
        let w = self.shared.world.lock();
        let n = self.n;
        let (mr, mw) = w.mem.count(n);
        LiveObjects {
            pd: w.pds.iter().filter(|(_, x)| x.nic == n).count(),
            cq: w.cqs.iter().filter(|(_, x)| x.nic == n).count(),
            qp: w.qps.iter().filter(|(_, x)| x.nic == n).count(),
            srq: w.srqs.iter().filter(|(_, x)| x.nic == n).count(),
            mr,
            mw,
            listen: w.listens.iter().filter(|(_, x)| x.nic == n).count(),
            conn: w.conns.iter().filter(|(_, x)| x.nic == n).count(),
        }
    }

    /// The platform (shared with the fabric and every NIC on it).
    pub fn mock_platform(&self) -> &MockPlatform {
        &self.shared.platform
    }
}

impl Drop for MockNic {
    /// Leaves the fabric silently (peers see it as removed); the handler is dropped outside
    /// the lock since it may hold the last reference to something that locks the fabric.
    fn drop(&mut self) {
        let handler = {
            let mut w = self.shared.world.lock();
            w.unplug(self.n, false);
            w.nics.get_mut(self.n).and_then(|s| {
                s.events.clear();
                s.handler.take()
            })
        };
        drop(handler);
        self.shared.deliver();
    }
}

fn record(s: &mut Script, call: MockCall) {
    // Never abort because a test's allocator refuses: drop the record instead.
    if s.calls.try_reserve(1).is_ok() {
        s.calls.push(call);
    }
}

fn take_failure(s: &mut Script, op: MockOp) -> Option<HalError> {
    let i = s.fail.iter().position(|(o, _)| *o == op)?;
    Some(s.fail.remove(i).1)
}

/// Finishes a command: held when `op` is pended, else done now (applying `action`).
fn finish(w: &mut World, n: usize, op: MockOp, token: CmdToken, action: HeldAction) -> Cmd<()> {
    let Some(nic) = w.nics.get_mut(n) else {
        return Cmd::Done(());
    };
    if nic.script.pend.contains(&op) {
        nic.script.held.push(Held { token, action });
        Cmd::Pending
    } else {
        Cmd::Done(())
    }
}

fn is_pended(w: &World, n: usize, op: MockOp) -> bool {
    w.nics.get(n).is_some_and(|s| s.script.pend.contains(&op))
}

/// Completes every held command of NIC `n`, in order.
fn complete_held(w: &mut World, n: usize, err: Option<HalError>) {
    let held = match w.nics.get_mut(n) {
        Some(s) => core::mem::take(&mut s.script.held),
        None => return,
    };
    for h in held {
        let result = match (err, h.action) {
            (Some(e), _) => Err(e),
            (None, HeldAction::Unit) => Ok(CmdValue::Unit),
            (None, HeldAction::Register { idx, pages, reg }) => w
                .mem
                .register(idx, pages, &reg)
                .map(|k| CmdValue::Keys(k, k)),
            (None, HeldAction::Deregister { idx }) => {
                w.mem.deregister(idx).map(|()| CmdValue::Unit)
            }
            (
                None,
                HeldAction::InitFastRegister {
                    idx,
                    max_pages,
                    remote,
                },
            ) => w
                .mem
                .init_fast_register(idx, max_pages, remote)
                .map(|k| CmdValue::Keys(k, k)),
        };
        w.push_event(
            n,
            HalEvent::CommandComplete {
                token: h.token,
                result,
            },
            Tag::None,
        );
    }
}

fn find_cq(w: &World, n: usize, ctx: u64) -> Option<Id> {
    w.cqs
        .iter()
        .find(|(_, c)| c.nic == n && c.ctx == ctx)
        .map(|(id, _)| id)
}

fn cq_ctx(w: &World, id: Id) -> u64 {
    w.cqs.get(id).map_or(0, |c| c.ctx)
}

fn srq_ctx(w: &World, id: Id) -> u64 {
    w.srqs.get(id).map_or(0, |c| c.ctx)
}

fn qp_ctx(w: &World, id: Id) -> u64 {
    w.qps.get(id).map_or(0, |c| c.ctx)
}

fn usize_of(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl MockNic {
    fn check_pd(w: &World, n: usize, pd: &Pd) -> HalResult<()> {
        match w.pds.get(pd.0) {
            Some(p) if p.nic == n => Ok(()),
            _ => Err(HalError::InvalidParameter),
        }
    }

    fn check_cq(w: &World, n: usize, cq: &Cq) -> HalResult<()> {
        match w.cqs.get(cq.0) {
            Some(c) if c.nic == n => Ok(()),
            _ => Err(HalError::InvalidParameter),
        }
    }

    fn mr_of(w: &World, n: usize, mr: &Mr) -> HalResult<()> {
        match w.mem.mr(mr.0) {
            Some(m) if m.nic == n => Ok(()),
            _ => Err(HalError::InvalidParameter),
        }
    }
}

impl NicHal for MockNic {
    type Platform = MockPlatform;
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

    fn platform(&self) -> &MockPlatform {
        &self.shared.platform
    }

    fn caps(&self) -> &DeviceCaps {
        &self.caps
    }

    fn is_local_address(&self, addr: &IpAddr) -> bool {
        self.addrs.contains(addr)
    }

    fn attach_interrupt(&self, handler: crate::karc::KFn) {
        let old = self.with(|w, n| {
            let s = w.nics.get_mut(n)?;
            record(&mut s.script, MockCall::AttachInterrupt);
            s.handler.replace(handler)
        });
        // Dropped outside the lock (it may own the last reference to a NIC); events
        // queued before the handler existed were delivered by `with`.
        drop(old);
    }

    fn next_event(&self) -> Option<HalEvent> {
        let mut w = self.shared.world.lock();
        w.nics.get_mut(self.n)?.events.pop_front().map(|(e, _)| e)
    }

    fn create_pd(&self) -> HalResult<Pd> {
        self.control(Some(MockOp::CreatePd), MockCall::CreatePd, |w, n| {
            w.pds.insert(PdState { nic: n }).map(Pd)
        })
    }

    fn destroy_pd(&self, pd: Pd) {
        self.with(|w, n| {
            if let Some(s) = w.nics.get_mut(n) {
                record(&mut s.script, MockCall::DestroyPd);
            }
            w.pds.remove(pd.0);
        });
    }

    fn create_cq(
        &self,
        depth: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(CqParts<Self>, Cmd<()>)> {
        let max = self.caps.max_cq_depth;
        self.control(
            Some(MockOp::CreateCq),
            MockCall::CreateCq { depth, ctx },
            |w, n| {
                if depth == 0 || depth > max {
                    return Err(HalError::InvalidParameter);
                }
                let id = w.cqs.insert(CqState::new(n, ctx, usize_of(depth))?)?;
                let cmd = finish(w, n, MockOp::CreateCq, token, HeldAction::Unit);
                Ok((
                    CqParts {
                        cq: Cq(id),
                        poller: CqPoller(id),
                    },
                    cmd,
                ))
            },
        )
    }

    fn resize_cq(
        &self,
        cq: &Cq,
        _poller: &mut CqPoller,
        depth: u32,
        token: CmdToken,
    ) -> HalResult<Cmd<()>> {
        let (resizable, max) = (self.caps.cq_resize, self.caps.max_cq_depth);
        let ctx = cq_ctx(&self.shared.world.lock(), cq.0);
        self.control(
            Some(MockOp::ResizeCq),
            MockCall::ResizeCq { cq_ctx: ctx, depth },
            |w, n| {
                if !resizable {
                    return Err(HalError::NotSupported);
                }
                MockNic::check_cq(w, n, cq)?;
                if depth > max {
                    return Err(HalError::InvalidParameter);
                }
                w.cqs
                    .get_mut(cq.0)
                    .ok_or(HalError::InvalidParameter)?
                    .resize(usize_of(depth))?;
                Ok(finish(w, n, MockOp::ResizeCq, token, HeldAction::Unit))
            },
        )
    }

    fn destroy_cq(&self, cq: CqParts<Self>, token: CmdToken) -> Cmd<()> {
        let id = cq.cq.0;
        let ctx = cq_ctx(&self.shared.world.lock(), id);
        self.destroy(
            MockOp::DestroyCq,
            MockCall::DestroyCq { cq_ctx: ctx },
            token,
            |w, n| {
                w.cqs.remove(id);
                w.purge_events(n, |t| *t == Tag::Cq(id));
            },
        )
    }

    fn poll_cq(&self, poller: &mut CqPoller, out: &mut [Completion]) -> usize {
        self.with(|w, _| {
            self.fast_path(w, |c| c.poll_cq += 1);
            w.cqs.get_mut(poller.0).map_or(0, |c| c.poll(out))
        })
    }

    fn arm_cq(&self, poller: &mut CqPoller, solicited_only: bool) {
        self.with(|w, _| {
            self.fast_path(w, |c| c.arm_cq += 1);
            let Some(c) = w.cqs.get_mut(poller.0) else {
                return;
            };
            if c.arm(solicited_only) {
                let (nic, cq_ctx) = (c.nic, c.ctx);
                w.push_event(nic, HalEvent::CqNotify { cq_ctx }, Tag::Cq(poller.0));
            }
        });
    }

    /// Recorded (see [`MockNic::calls`]) but without effect on when notifications fire.
    fn set_cq_moderation(&self, cq: &Cq, interval_us: u32, count: u32) -> HalResult<()> {
        let supported = self.caps.cq_interrupt_moderation;
        let ctx = cq_ctx(&self.shared.world.lock(), cq.0);
        let call = MockCall::SetCqModeration {
            cq_ctx: ctx,
            interval_us,
            count,
        };
        self.control(Some(MockOp::SetCqModeration), call, |w, n| {
            if !supported {
                return Err(HalError::NotSupported);
            }
            MockNic::check_cq(w, n, cq)?;
            if let Some(c) = w.cqs.get_mut(cq.0) {
                c.moderation = (interval_us, count);
            }
            Ok(())
        })
    }

    fn create_srq(
        &self,
        pd: &Pd,
        depth: u32,
        max_sge: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(Srq, SrqPoster, Cmd<()>)> {
        let (max_depth, max_rsge) = (self.caps.max_srq_depth, self.caps.max_receive_sge);
        self.control(
            Some(MockOp::CreateSrq),
            MockCall::CreateSrq {
                depth,
                max_sge,
                ctx,
            },
            |w, n| {
                if max_depth == 0 {
                    return Err(HalError::NotSupported);
                }
                MockNic::check_pd(w, n, pd)?;
                if depth == 0 || depth > max_depth || max_sge > max_rsge {
                    return Err(HalError::InvalidParameter);
                }
                let state = SrqState {
                    nic: n,
                    pd: pd.0,
                    ctx,
                    depth: usize_of(depth),
                    max_sge: usize_of(max_sge),
                    wqes: ring(usize_of(depth))?,
                    limit: None,
                    qps: Vec::new(),
                };
                let id = w.srqs.insert(state)?;
                let cmd = finish(w, n, MockOp::CreateSrq, token, HeldAction::Unit);
                Ok((Srq(id), SrqPoster(id), cmd))
            },
        )
    }

    fn modify_srq(&self, srq: &Srq, depth: u32, token: CmdToken) -> HalResult<Cmd<()>> {
        let max = self.caps.max_srq_depth;
        let ctx = srq_ctx(&self.shared.world.lock(), srq.0);
        self.control(
            Some(MockOp::ModifySrq),
            MockCall::ModifySrq {
                srq_ctx: ctx,
                depth,
            },
            |w, n| {
                let s = w
                    .srqs
                    .get_mut(srq.0)
                    .filter(|s| s.nic == n)
                    .ok_or(HalError::InvalidParameter)?;
                if depth > max {
                    return Err(HalError::InvalidParameter);
                }
                if depth != 0 {
                    s.resize(usize_of(depth))?;
                }
                Ok(finish(w, n, MockOp::ModifySrq, token, HeldAction::Unit))
            },
        )
    }

    /// One-shot; fires at once when fewer than `limit` receives are queued; 0 disarms.
    fn arm_srq_limit(&self, srq: &Srq, limit: u32) {
        self.with(|w, n| {
            let Some(s) = w.srqs.get_mut(srq.0) else {
                return;
            };
            let srq_ctx = s.ctx;
            s.limit = (limit != 0).then_some(limit);
            let fired = s.check_limit();
            if let Some(nic) = w.nics.get_mut(n) {
                record(&mut nic.script, MockCall::ArmSrqLimit { srq_ctx, limit });
            }
            if fired {
                w.push_event(n, HalEvent::SrqLimit { srq_ctx }, Tag::Srq(srq.0));
            }
        });
    }

    fn srq_queued(&self, srq: &Srq) -> u32 {
        self.shared
            .world
            .lock()
            .srqs
            .get(srq.0)
            .map_or(0, |s| s.queued())
    }

    fn destroy_srq(&self, srq: Srq, _poster: SrqPoster, token: CmdToken) -> Cmd<()> {
        let id = srq.0;
        let ctx = srq_ctx(&self.shared.world.lock(), id);
        self.destroy(
            MockOp::DestroySrq,
            MockCall::DestroySrq { srq_ctx: ctx },
            token,
            |w, n| {
                w.srqs.remove(id);
                w.purge_events(n, |t| *t == Tag::Srq(id));
            },
        )
    }

    fn post_srq_recv(&self, srq: &mut SrqPoster, wr: &RecvWr<'_>) -> HalResult<()> {
        self.with(|w, n| {
            self.fast_path(w, |c| c.post_srq_recv += 1);
            if let Some(e) = w
                .nics
                .get_mut(n)
                .and_then(|s| take_failure(&mut s.script, MockOp::PostSrqRecv))
            {
                return Err(e);
            }
            w.post_srq_recv(srq.0, wr)
        })
    }

    fn create_qp(
        &self,
        p: &QpParams<'_, Self>,
        token: CmdToken,
    ) -> HalResult<(QpParts<Self>, Cmd<()>)> {
        let caps = &self.caps;
        let call = MockCall::CreateQp {
            ctx: p.context,
            sq_depth: p.sq_depth,
            rq_depth: p.rq_depth,
            srq: p.srq.is_some(),
        };
        self.control(Some(MockOp::CreateQp), call, |w, n| {
            MockNic::check_pd(w, n, p.pd)?;
            MockNic::check_cq(w, n, p.send_cq)?;
            MockNic::check_cq(w, n, p.recv_cq)?;
            if let Some(s) = p.srq {
                if w.srqs.get(s.0).is_none_or(|s| s.nic != n) {
                    return Err(HalError::InvalidParameter);
                }
            }
            let rq_checked = p.srq.is_some()
                || (p.rq_depth <= caps.max_receive_queue_depth
                    && p.max_recv_sge <= caps.max_receive_sge);
            if p.sq_depth > caps.max_initiator_queue_depth
                || p.max_send_sge > caps.max_initiator_sge.max(caps.max_read_sge)
                || p.max_inline > caps.max_inline_data
                || !rq_checked
            {
                return Err(HalError::InvalidParameter);
            }
            let rq = match p.srq {
                Some(_) => None,
                None => Some(RqState {
                    depth: usize_of(p.rq_depth),
                    wqes: ring(usize_of(p.rq_depth))?,
                }),
            };
            let state = QpState {
                nic: n,
                pd: p.pd.0,
                send_cq: p.send_cq.0,
                recv_cq: p.recv_cq.0,
                srq: p.srq.map(|s| s.0),
                ctx: p.context,
                max_send_sge: usize_of(p.max_send_sge),
                max_recv_sge: usize_of(p.max_recv_sge),
                max_inline: usize_of(p.max_inline),
                mode: QpMode::Reset,
                peer: None,
                conn: None,
                connected_once: false,
                sq: SqState {
                    depth: usize_of(p.sq_depth),
                    wqes: ring(usize_of(p.sq_depth))?,
                    rung: 0,
                },
                rq,
                executing: false,
            };
            if let Some(s) = p.srq.and_then(|s| w.srqs.get_mut(s.0)) {
                s.qps.try_reserve(1).map_err(|_| HalError::NoResources)?;
            }
            let id = w.qps.insert(state)?;
            if let Some(s) = p.srq.and_then(|s| w.srqs.get_mut(s.0)) {
                s.qps.push(id);
            }
            let has_rq = p.srq.is_none();
            let cmd = finish(w, n, MockOp::CreateQp, token, HeldAction::Unit);
            Ok((
                QpParts {
                    qp: Qp(id),
                    sq: Sq(id),
                    rq: has_rq.then_some(Rq(id)),
                },
                cmd,
            ))
        })
    }

    fn flush_qp(&self, qp: &Qp) {
        self.with(|w, n| {
            let qp_ctx = qp_ctx(w, qp.0);
            if let Some(s) = w.nics.get_mut(n) {
                record(&mut s.script, MockCall::FlushQp { qp_ctx });
            }
            w.qp_to_error(qp.0, false);
        });
    }

    /// Flushes, detaches from its SRQ and connection, and takes back its queued events.
    /// A connected peer's later requests complete with `RetryExceeded`.
    fn destroy_qp(&self, qp: QpParts<Self>, token: CmdToken) -> Cmd<()> {
        let id = qp.qp.0;
        let ctx = qp_ctx(&self.shared.world.lock(), id);
        self.destroy(
            MockOp::DestroyQp,
            MockCall::DestroyQp { qp_ctx: ctx },
            token,
            |w, n| {
                w.qp_to_error(id, false);
                if let Some(state) = w.qps.remove(id) {
                    if let Some(s) = state.srq.and_then(|s| w.srqs.get_mut(s)) {
                        s.qps.retain(|q| *q != id);
                    }
                    if let Some(e) = state.conn.and_then(|c| w.conns.conn(c)) {
                        if let Some(ep) = w.conns.get_mut(e) {
                            ep.qp = None;
                        }
                    }
                }
                w.purge_events(n, |t| *t == Tag::Qp(id));
            },
        )
    }

    fn post_send(&self, sq: &mut Sq, wr: &SendWr<'_>) -> HalResult<()> {
        self.with(|w, n| {
            self.fast_path(w, |c| c.post_send += 1);
            if let Some(e) = w
                .nics
                .get_mut(n)
                .and_then(|s| take_failure(&mut s.script, MockOp::PostSend))
            {
                return Err(e);
            }
            w.post_send(sq.0, wr)
        })
    }

    fn ring_sq(&self, sq: &mut Sq) {
        self.with(|w, _| {
            self.fast_path(w, |c| c.ring_sq += 1);
            w.ring(sq.0);
        });
    }

    fn post_recv(&self, rq: &mut Rq, wr: &RecvWr<'_>) -> HalResult<()> {
        self.with(|w, n| {
            self.fast_path(w, |c| c.post_recv += 1);
            if let Some(e) = w
                .nics
                .get_mut(n)
                .and_then(|s| take_failure(&mut s.script, MockOp::PostRecv))
            {
                return Err(e);
            }
            w.post_recv(rq.0, wr)
        })
    }

    fn alloc_mr(&self, pd: &Pd, kind: MrKind) -> HalResult<Mr> {
        self.control(Some(MockOp::AllocMr), MockCall::AllocMr { kind }, |w, n| {
            MockNic::check_pd(w, n, pd)?;
            w.mem.alloc_mr(n, pd.0, kind).map(Mr)
        })
    }

    /// Keys are `(index << 8) | variant`; lkey = rkey.
    fn register_mr(
        &self,
        mr: &Mr,
        reg: &Registration<'_>,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>> {
        let max = self.caps.max_registration_size;
        let call = MockCall::RegisterMr {
            length: reg.length,
            pages: reg.pages.len(),
        };
        self.control(Some(MockOp::RegisterMr), call, |w, n| {
            MockNic::mr_of(w, n, mr)?;
            KeyTable::check_registration(reg, max)?;
            w.mem.can_register(mr.0)?;
            let mut pages = Vec::new();
            pages
                .try_reserve_exact(reg.pages.len())
                .map_err(|_| HalError::NoResources)?;
            pages.extend_from_slice(reg.pages);
            let params = RegParams::of(reg);
            if is_pended(w, n, MockOp::RegisterMr) {
                finish(
                    w,
                    n,
                    MockOp::RegisterMr,
                    token,
                    HeldAction::Register {
                        idx: mr.0,
                        pages,
                        reg: params,
                    },
                );
                return Ok(Cmd::Pending);
            }
            let key = w.mem.register(mr.0, pages, &params)?;
            Ok(Cmd::Done((key, key)))
        })
    }

    fn deregister_mr(&self, mr: &Mr, token: CmdToken) -> HalResult<Cmd<()>> {
        self.control(
            Some(MockOp::DeregisterMr),
            MockCall::DeregisterMr,
            |w, n| {
                MockNic::mr_of(w, n, mr)?;
                w.mem.can_deregister(mr.0)?;
                if is_pended(w, n, MockOp::DeregisterMr) {
                    return Ok(finish(
                        w,
                        n,
                        MockOp::DeregisterMr,
                        token,
                        HeldAction::Deregister { idx: mr.0 },
                    ));
                }
                w.mem.deregister(mr.0)?;
                Ok(Cmd::Done(()))
            },
        )
    }

    fn init_fast_register(
        &self,
        mr: &Mr,
        max_pages: u32,
        remote_access: bool,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>> {
        let limit = self.caps.max_frmr_page_count;
        let call = MockCall::InitFastRegister {
            max_pages,
            remote_access,
        };
        self.control(Some(MockOp::InitFastRegister), call, |w, n| {
            MockNic::mr_of(w, n, mr)?;
            if max_pages == 0 || max_pages > limit {
                return Err(HalError::ImplementationLimit);
            }
            w.mem.can_init_fast_register(mr.0)?;
            let (idx, max_pages) = (mr.0, usize_of(max_pages));
            if is_pended(w, n, MockOp::InitFastRegister) {
                let action = HeldAction::InitFastRegister {
                    idx,
                    max_pages,
                    remote: remote_access,
                };
                finish(w, n, MockOp::InitFastRegister, token, action);
                return Ok(Cmd::Pending);
            }
            let key = w.mem.init_fast_register(idx, max_pages, remote_access)?;
            Ok(Cmd::Done((key, key)))
        })
    }

    fn free_mr(&self, mr: Mr) {
        self.with(|w, n| {
            if let Some(s) = w.nics.get_mut(n) {
                record(&mut s.script, MockCall::FreeMr);
            }
            w.mem.free(mr.0);
        });
    }

    fn alloc_mw(&self, pd: &Pd) -> HalResult<(Mw, u32)> {
        self.control(Some(MockOp::AllocMw), MockCall::AllocMw, |w, n| {
            MockNic::check_pd(w, n, pd)?;
            let (idx, key) = w.mem.alloc_mw(n, pd.0)?;
            Ok((Mw(idx), key))
        })
    }

    fn free_mw(&self, mw: Mw) {
        self.with(|w, n| {
            if let Some(s) = w.nics.get_mut(n) {
                record(&mut s.script, MockCall::FreeMw);
            }
            w.mem.free(mw.0);
        });
    }

    /// Key 0: the SGE address is a host address; local access only.
    fn privileged_lkey(&self) -> u32 {
        PRIVILEGED_KEY
    }

    /// `addr`'s IP must be this NIC's or unspecified (wildcard); `AddressInUse` when this
    /// NIC already listens on exactly `addr`.
    fn cm_listen(&self, addr: SocketAddr, ctx: u64) -> HalResult<Listen> {
        self.control(
            Some(MockOp::CmListen),
            MockCall::CmListen { addr, ctx },
            |w, n| w.cm_listen(n, addr, ctx).map(Listen),
        )
    }

    fn cm_stop_listen(&self, listen: Listen) {
        self.with(|w, n| {
            let addr = w.listens.get(listen.0).map(|l| l.addr);
            if let (Some(s), Some(addr)) = (w.nics.get_mut(n), addr) {
                record(&mut s.script, MockCall::CmStopListen { addr });
            }
            w.cm_stop_listen(n, listen.0);
        });
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
        let call = MockCall::CmConnect {
            local,
            remote,
            ird,
            ord,
            ctx,
        };
        self.control(Some(MockOp::CmConnect), call, |w, n| {
            w.cm_connect(n, qp.0, local, remote, ird, ord, private_data, ctx)
        })
    }

    fn cm_attach(&self, conn: ConnId, ctx: u64) {
        self.with(|w, n| {
            if let Some(s) = w.nics.get_mut(n) {
                record(&mut s.script, MockCall::CmAttach { conn, ctx });
            }
            w.cm_attach(n, conn, ctx);
        });
    }

    fn cm_accept(
        &self,
        conn: ConnId,
        qp: &Qp,
        ird: u32,
        ord: u32,
        private_data: &[u8],
    ) -> HalResult<()> {
        self.control(
            Some(MockOp::CmAccept),
            MockCall::CmAccept { conn, ird, ord },
            |w, n| w.cm_accept(n, conn, qp.0, ird, ord, private_data),
        )
    }

    fn cm_reject(&self, conn: ConnId, private_data: &[u8]) -> HalResult<()> {
        self.control(
            Some(MockOp::CmReject),
            MockCall::CmReject { conn },
            |w, n| w.cm_reject(n, conn, private_data),
        )
    }

    fn cm_complete(&self, conn: ConnId) -> HalResult<()> {
        self.control(
            Some(MockOp::CmComplete),
            MockCall::CmComplete { conn },
            |w, n| w.cm_complete(n, conn),
        )
    }

    fn cm_disconnect(&self, conn: ConnId) -> HalResult<()> {
        self.control(
            Some(MockOp::CmDisconnect),
            MockCall::CmDisconnect { conn },
            |w, n| w.cm_disconnect(n, conn),
        )
    }

    fn cm_release(&self, conn: ConnId) {
        self.with(|w, n| {
            if let Some(s) = w.nics.get_mut(n) {
                record(&mut s.script, MockCall::CmRelease { conn });
            }
            w.cm_release(n, conn);
        });
    }
}
