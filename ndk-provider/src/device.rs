//! One NIC function as the provider sees it: the HAL, its event processing, and the state
//! every NDK adapter opened on it shares (the port space of listeners and endpoints).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::ops::Deref;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hal::karc::{Finalize, KFn, Plain};
use hal::platform::DeferredWork;
use hal::{CmdToken, CmdValue, HalError, HalEvent, NicHal, Platform};

use crate::abi::*;
use crate::endpoint::PortTable;
use crate::karc::KArc;
use crate::object::{dispatch_token, token_object_type, NdkObj};
use crate::{adapter, cm, connector, cq, listener, mr, mw, pd, qp, shared_endpoint, srq};

/// A lock safe at DISPATCH_LEVEL, from the HAL's platform.
pub type Lock<H, T> = lock_api::Mutex<<<H as NicHal>::Platform as Platform>::RawLock, T>;

/// A HAL shared by the device and the miniport (interrupt context, raw queue): a [`KArc`]
/// when the miniport allocates it (fallibly, at initialization), or an `Arc` a test or host
/// tool already shares it as.
pub enum SharedHal<H> {
    /// Allocated fallibly.
    K(KArc<Plain<H>>),
    /// Shared by the caller.
    Arc(Arc<H>),
}

impl<H> Deref for SharedHal<H> {
    type Target = H;
    fn deref(&self) -> &H {
        match self {
            SharedHal::K(h) => h,
            SharedHal::Arc(h) => h,
        }
    }
}

impl<H> Clone for SharedHal<H> {
    fn clone(&self) -> Self {
        match self {
            SharedHal::K(h) => SharedHal::K(h.clone()),
            SharedHal::Arc(h) => SharedHal::Arc(h.clone()),
        }
    }
}

impl<H> From<KArc<Plain<H>>> for SharedHal<H> {
    fn from(h: KArc<Plain<H>>) -> Self {
        SharedHal::K(h)
    }
}

impl<H> From<Arc<H>> for SharedHal<H> {
    fn from(h: Arc<H>) -> Self {
        SharedHal::Arc(h)
    }
}

/// Shared state of a NIC function; NDK adapters opened on it hold a [`KArc`].
pub struct Device<H: NicHal> {
    hal: SharedHal<H>,
    /// Ports bound by listeners, shared endpoints and connectors (ndkpi.md §7.2).
    pub ports: Lock<H, PortTable>,
    /// Contexts of the live CQs, to tell each of them when the device fails.
    cqs: Lock<H, Vec<u64>>,
    event_requests: AtomicUsize,
    /// Run (in the event DPC) on [`HalEvent::EthNotify`]: the miniport's raw-queue service.
    ethernet: Lock<H, Option<DeferredWork>>,
    /// What the miniport reports with the NDK OIDs (ndkpi.md §8.4).
    pub activity: Activity<H>,
}

/// NDK activity of a device, for OID_NDK_STATISTICS, OID_NDK_CONNECTIONS and
/// OID_NDK_LOCAL_ENDPOINTS (ndkpi.md §8.4). Counters are the ones the provider itself can
/// see; traffic counters (RDMA octets and frames) are the silicon's and not kept here.
///
/// The lists grow fallibly when a connection is established or an endpoint bound; when
/// memory is short that entry is left out of the lists (the connection itself is
/// unaffected).
pub struct Activity<H: NicHal> {
    /// Outbound connections established (`Connect`).
    pub connect: AtomicU64,
    /// Inbound connections established (`Accept`).
    pub accept: AtomicU64,
    /// Connection attempts that failed, in and out (`ConnectFailure`).
    pub connect_failure: AtomicU64,
    /// CQs that went into error (`CQError`).
    pub cq_error: AtomicU64,
    /// Established connections: (connector context, local, remote).
    connections: Lock<H, Vec<(u64, SocketAddr, SocketAddr)>>,
    /// Listeners and shared endpoints: (object context, local address, is a listener).
    endpoints: Lock<H, Vec<(u64, SocketAddr, bool)>>,
}

impl<H: NicHal> Activity<H> {
    fn new() -> Activity<H> {
        Activity {
            connect: AtomicU64::new(0),
            accept: AtomicU64::new(0),
            connect_failure: AtomicU64::new(0),
            cq_error: AtomicU64::new(0),
            connections: Lock::<H, _>::new(Vec::new()),
            endpoints: Lock::<H, _>::new(Vec::new()),
        }
    }

    /// Makes room for one more connection in the list before a connect or accept starts,
    /// so establishing it allocates nothing.
    pub fn reserve_connection(&self) -> Result<(), NTSTATUS> {
        self.connections
            .lock()
            .try_reserve(1)
            .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)
    }

    /// Makes room for one more listener or shared endpoint in the list before it binds.
    pub fn reserve_endpoint(&self) -> Result<(), NTSTATUS> {
        self.endpoints
            .lock()
            .try_reserve(1)
            .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)
    }

    /// A connection of connector `ctx` was established (`passive`: accepted).
    pub fn connected(&self, ctx: u64, local: SocketAddr, remote: SocketAddr, passive: bool) {
        let counter = if passive { &self.accept } else { &self.connect };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut c = self.connections.lock();
        if !c.iter().any(|e| e.0 == ctx) && c.try_reserve(1).is_ok() {
            c.push((ctx, local, remote));
        }
    }

    /// The connection of connector `ctx` ended (disconnected, failed or closed).
    pub fn disconnected(&self, ctx: u64) {
        let mut c = self.connections.lock();
        if let Some(i) = c.iter().position(|e| e.0 == ctx) {
            c.swap_remove(i);
        }
    }

    /// A connection attempt failed.
    pub fn connect_failed(&self) {
        self.connect_failure.fetch_add(1, Ordering::Relaxed);
    }

    /// Currently established connections (`ActiveConnection`).
    pub fn active_connections(&self) -> u64 {
        self.connections.lock().len() as u64
    }

    /// Calls `f(local, remote)` for every established connection, under the list's lock
    /// (`f` must not call back into the provider).
    pub fn for_each_connection(&self, mut f: impl FnMut(&SocketAddr, &SocketAddr)) {
        for (_, l, r) in self.connections.lock().iter() {
            f(l, r);
        }
    }

    /// Listener or shared endpoint `ctx` is bound to `local`.
    pub fn endpoint_bound(&self, ctx: u64, local: SocketAddr, listener: bool) {
        let mut e = self.endpoints.lock();
        if !e.iter().any(|x| x.0 == ctx) && e.try_reserve(1).is_ok() {
            e.push((ctx, local, listener));
        }
    }

    /// Listener or shared endpoint `ctx` stopped (closed).
    pub fn endpoint_released(&self, ctx: u64) {
        let mut e = self.endpoints.lock();
        if let Some(i) = e.iter().position(|x| x.0 == ctx) {
            e.swap_remove(i);
        }
    }

    /// Calls `f(local, is_listener)` for every listener and shared endpoint, under the
    /// list's lock (`f` must not call back into the provider).
    pub fn for_each_endpoint(&self, mut f: impl FnMut(&SocketAddr, bool)) {
        for (_, a, l) in self.endpoints.lock().iter() {
            f(a, *l);
        }
    }
}

impl<H: NicHal> Finalize for Device<H> {}

impl<H: NicHal> Device<H> {
    /// Wraps a backend (shared with the driver's interrupt path) and routes its interrupts
    /// to [`Device::process_events`] through [`Platform::defer`], i.e. a DPC: event
    /// processing, and so every consumer callback it makes, runs outside any provider call
    /// and any provider lock, even when a backend raises its interrupt inside a HAL call.
    ///
    /// Called once at miniport initialization (PASSIVE_LEVEL), not from an NDK entry point.
    /// Every allocation is fallible: `STATUS_INSUFFICIENT_RESOURCES` when memory is short,
    /// with nothing attached to the HAL and nothing leaked. The interrupt handler and the
    /// DPC hold weak references: the HAL holds the handler, and the device the HAL.
    pub fn try_new(hal: impl Into<SharedHal<H>>) -> Result<KArc<Device<H>>, NTSTATUS> {
        let dev = KArc::try_new(Device {
            hal: hal.into(),
            ports: Lock::<H, _>::new(PortTable::new()),
            cqs: Lock::<H, _>::new(Vec::new()),
            event_requests: AtomicUsize::new(0),
            ethernet: Lock::<H, _>::new(None),
            activity: Activity::new(),
        })
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        let weak = KArc::downgrade(&dev);
        let dpc: DeferredWork = KFn::try_new(move || {
            if let Some(d) = weak.upgrade() {
                d.process_events();
            }
        })
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        let weak = KArc::downgrade(&dev);
        let isr = KFn::try_new(move || {
            if let Some(d) = weak.upgrade() {
                d.hal.platform().defer(&dpc);
            }
        })
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        dev.hal.attach_interrupt(isr);
        Ok(dev)
    }

    /// The backend.
    pub fn hal(&self) -> &H {
        &self.hal
    }

    /// Drains the device's event queue; call from the interrupt DPC.
    ///
    /// Serialized: a call that finds another in progress leaves the work to it. That also
    /// serializes consumer notification callbacks (ndkpi.md §7.4), and lets a callback
    /// re-enter the provider (arm, post, close) without recursion.
    pub fn process_events(&self) {
        if self.event_requests.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        loop {
            let seen = self.event_requests.load(Ordering::Acquire);
            while let Some(ev) = self.hal.next_event() {
                self.dispatch(ev);
            }
            if self
                .event_requests
                .compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                break;
            }
        }
    }

    /// Sets the function run on [`HalEvent::EthNotify`] (the miniport's send-complete and
    /// receive-indicate service), or clears it.
    pub fn set_ethernet_handler(&self, handler: Option<DeferredWork>) {
        *self.ethernet.lock() = handler;
    }

    /// Records a CQ (its device context) as live; fails only when memory is short.
    pub fn register_cq(&self, ctx: u64) -> Result<(), NTSTATUS> {
        let mut cqs = self.cqs.lock();
        cqs.try_reserve(1)
            .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        cqs.push(ctx);
        Ok(())
    }

    /// Forgets a CQ; called by its teardown before its memory goes.
    pub fn unregister_cq(&self, ctx: u64) {
        let mut cqs = self.cqs.lock();
        if let Some(i) = cqs.iter().position(|c| *c == ctx) {
            cqs.swap_remove(i);
        }
    }

    fn fail_cqs(&self) {
        let live = {
            let cqs = self.cqs.lock();
            let mut live = Vec::new();
            if live.try_reserve(cqs.len()).is_err() {
                return;
            }
            for ctx in cqs.iter() {
                // SAFETY: registered CQs are unregistered, under this lock, by their teardown
                // before their memory is freed; the upgrade refuses one being torn down.
                if let Some(cq) = unsafe { KArc::<NdkObj<cq::CqBody<H>>>::upgrade_raw(*ctx) } {
                    live.push(cq);
                }
            }
            live
        };
        self.activity
            .cq_error
            .fetch_add(live.len() as u64, Ordering::Relaxed);
        // Callbacks run outside the lock.
        for cq in live {
            cq::notify(cq, STATUS_INTERNAL_ERROR);
        }
    }

    fn dispatch(&self, ev: HalEvent) {
        match ev {
            HalEvent::CommandComplete { token, result } => complete_command::<H>(token, result),
            HalEvent::CqNotify { cq_ctx } => cq::on_notify::<H>(cq_ctx, STATUS_SUCCESS),
            HalEvent::CqError { cq_ctx, kind } => {
                self.activity.cq_error.fetch_add(1, Ordering::Relaxed);
                let status = match kind {
                    hal::CqErrorKind::Overrun => STATUS_BUFFER_OVERFLOW,
                    hal::CqErrorKind::Fatal => STATUS_INTERNAL_ERROR,
                };
                cq::on_notify::<H>(cq_ctx, status)
            }
            HalEvent::SrqLimit { srq_ctx } => srq::on_notify::<H>(srq_ctx, STATUS_SUCCESS),
            HalEvent::SrqError { srq_ctx } => srq::on_notify::<H>(srq_ctx, STATUS_INTERNAL_ERROR),
            // The QP's requests complete in error through its CQs; nothing else to tell.
            HalEvent::QpError { .. } => {}
            HalEvent::Cm(ev) => cm::on_event::<H>(self, ev),
            HalEvent::EthNotify { .. } => {
                // Called outside the lock.
                let handler = self.ethernet.lock().clone();
                if let Some(h) = handler {
                    h();
                }
            }
            // The device flushes every QP itself; each CQ also reports the failure to an
            // armed consumer (ndkpi.md §3: STATUS_INTERNAL_ERROR, CQ and QPs unusable).
            HalEvent::DeviceFatal | HalEvent::DeviceRemoved => self.fail_cqs(),
        }
    }
}

// The NDK object type constants keep their header names.
#[allow(non_upper_case_globals)]
fn complete_command<H: NicHal>(token: CmdToken, result: Result<CmdValue, HalError>) {
    // SAFETY: the HAL reports each token it was given exactly once (NicHal contract).
    let ty = unsafe { token_object_type(token) };
    // SAFETY: the object type read from the token selects the matching Rust type.
    unsafe {
        match ty {
            NdkObjectTypeCq => dispatch_token::<cq::CqBody<H>>(token, result),
            NdkObjectTypePd => dispatch_token::<pd::PdBody<H>>(token, result),
            NdkObjectTypeQp => dispatch_token::<qp::QpBody<H>>(token, result),
            NdkObjectTypeSrq => dispatch_token::<srq::SrqBody<H>>(token, result),
            NdkObjectTypeMr => dispatch_token::<mr::MrBody<H>>(token, result),
            NdkObjectTypeMw => dispatch_token::<mw::MwBody<H>>(token, result),
            NdkObjectTypeConnector => dispatch_token::<connector::ConnectorBody<H>>(token, result),
            NdkObjectTypeListener => dispatch_token::<listener::ListenerBody<H>>(token, result),
            NdkObjectTypeSharedEndpoint => {
                dispatch_token::<shared_endpoint::SharedEndpointBody<H>>(token, result)
            }
            NdkObjectTypeAdapter => dispatch_token::<adapter::AdapterBody<H>>(token, result),
            // Every object type is listed; a token names one of them.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::mock::{default_caps, Fabric, MockNic};

    #[test]
    fn interrupts_defer_event_processing_until_the_device_goes() {
        let f = Fabric::new();
        let nic = MockNic::new(&f, default_caps(), &["10.0.0.1".parse().expect("ip")]);
        let platform = nic.mock_platform().clone();
        let dev = Device::try_new(nic.clone()).expect("device");
        platform.run_deferred();
        nic.fire_interrupt();
        // The handler defers the device's event processing: queued, not run inline.
        assert_eq!(platform.deferred_count(), 1);
        assert_eq!(platform.run_deferred(), 1);
        let weak = KArc::downgrade(&dev);
        drop(dev);
        // The HAL outlives the device and still holds its handler, which holds only a weak
        // reference: the device is gone, and an interrupt now defers nothing.
        assert!(weak.upgrade().is_none());
        nic.fire_interrupt();
        assert_eq!(platform.deferred_count(), 0);
    }
}
