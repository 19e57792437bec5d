//! One NIC function as the provider sees it: the HAL, its event processing, and the state
//! every NDK adapter opened on it shares (the port space of listeners and endpoints).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use hal::platform::DeferredWork;
use hal::{CmdToken, CmdValue, HalError, HalEvent, NicHal, Platform};

use crate::abi::*;
use crate::endpoint::PortTable;
use crate::karc::KArc;
use crate::object::{dispatch_token, token_object_type, NdkObj};
use crate::{adapter, cm, connector, cq, listener, mr, mw, pd, qp, shared_endpoint, srq};

/// A lock safe at DISPATCH_LEVEL, from the HAL's platform.
pub type Lock<H, T> = lock_api::Mutex<<<H as NicHal>::Platform as Platform>::RawLock, T>;

/// Shared state of a NIC function; NDK adapters opened on it hold an `Arc`.
pub struct Device<H: NicHal> {
    hal: Arc<H>,
    /// Ports bound by listeners, shared endpoints and connectors (ndkpi.md §7.2).
    pub ports: Lock<H, PortTable>,
    /// Contexts of the live CQs, to tell each of them when the device fails.
    cqs: Lock<H, Vec<u64>>,
    event_requests: AtomicUsize,
    /// Run (in the event DPC) on [`HalEvent::EthNotify`]: the miniport's raw-queue service.
    ethernet: Lock<H, Option<DeferredWork>>,
}

impl<H: NicHal> Device<H> {
    /// Wraps a backend (shared with the driver's interrupt path) and routes its interrupts
    /// to [`Device::process_events`] through [`Platform::defer`], i.e. a DPC: event
    /// processing, and so every consumer callback it makes, runs outside any provider call
    /// and any provider lock, even when a backend raises its interrupt inside a HAL call.
    ///
    /// Called once at miniport initialization (PASSIVE_LEVEL), not from an NDK entry point.
    pub fn new(hal: Arc<H>) -> Arc<Device<H>> {
        let dev = Arc::new(Device {
            hal,
            ports: Lock::<H, _>::new(PortTable::new()),
            cqs: Lock::<H, _>::new(Vec::new()),
            event_requests: AtomicUsize::new(0),
            ethernet: Lock::<H, _>::new(None),
        });
        let weak: Weak<Device<H>> = Arc::downgrade(&dev);
        let dpc: DeferredWork = Arc::new(move || {
            if let Some(d) = weak.upgrade() {
                d.process_events();
            }
        });
        let weak: Weak<Device<H>> = Arc::downgrade(&dev);
        dev.hal.attach_interrupt(Arc::new(move || {
            if let Some(d) = weak.upgrade() {
                d.hal.platform().defer(&dpc);
            }
        }));
        dev
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
