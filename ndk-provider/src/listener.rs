//! `NDK_LISTENER`: listens on a local address and hands each incoming connection request to
//! the consumer as a new connector through its ConnectEvent callback (ndkpi.md §3, §4.1,
//! §4.9, §7.2, §7.3).
//!
//! Lifetime (ndkpi.md §7.1, §7.2): every connector delivered by ConnectEvent holds a
//! reference to the listener and one on its port, so closing the listener stops listening at
//! once (no new requests reach it) but the close stays pending, and the address:port stays
//! busy, until those connectors are closed.

use core::ffi::c_void;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};

use hal::NicHal;

use crate::abi::*;
use crate::adapter::{Adapter, AdapterBody};
use crate::callback::{Callback, Ctx};
use crate::device::Lock;
use crate::endpoint::{self, CmKind, PortRef};
use crate::karc::KArc;
use crate::object::{self, borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody};
use crate::{edge, status};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Created; `NdkListen` not called yet (or it failed).
    Idle,
    /// `NdkListen` bound the port and is starting the device listen.
    Starting,
    /// Listening.
    Listening,
    /// The consumer closed the listener: no new requests.
    Stopped,
}

struct ListenState<H: NicHal> {
    phase: Phase,
    /// The listener's reference on its address:port (ndkpi.md §7.2).
    port: Option<PortRef>,
    /// The device listen, stopped at close.
    listen: Option<H::Listen>,
    /// Our CM context (the object's address), registered in the device table.
    ctx: u64,
}

/// Listener state.
pub struct ListenerBody<H: NicHal> {
    adapter: Adapter<H>,
    connect_cb: Callback<NDK_FN_CONNECT_EVENT_CALLBACK>,
    /// `NdkControlConnectEvents(TRUE)`: requests are refused as if nobody listened.
    paused: AtomicBool,
    st: Lock<H, ListenState<H>>,
}

/// A reference to a listener.
pub type Listener<H> = Obj<ListenerBody<H>>;

impl<H: NicHal> ObjBody for ListenerBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeListener;

    /// ndkpi.md §7.1, §7.2: a listener close refuses new connections at once; accepted
    /// connectors keep the object (and the port) until they are closed.
    fn on_close(obj: &Obj<Self>) {
        let listen = {
            let mut st = obj.body.st.lock();
            st.phase = Phase::Stopped;
            obj.body.adapter.body.dev.activity.endpoint_released(st.ctx);
            st.listen.take()
        };
        if let Some(l) = listen {
            obj.body.adapter.body.dev.hal().cm_stop_listen(l);
        }
    }

    fn teardown(&mut self, _token: hal::CmdToken) -> hal::Cmd<()> {
        let dev = &self.adapter.body.dev;
        let st = self.st.get_mut();
        if let Some(l) = st.listen.take() {
            dev.hal().cm_stop_listen(l);
        }
        if let Some(p) = st.port.take() {
            p.release(&dev.ports);
        }
        if st.ctx != 0 {
            dev.ports.lock().unregister(st.ctx);
        }
        dev.activity.endpoint_released(st.ctx);
        hal::Cmd::Done(())
    }
}

impl<H: NicHal> ListenerBody<H> {
    /// The adapter the listener was created on (connectors from its requests share it).
    pub fn adapter(&self) -> &Adapter<H> {
        &self.adapter
    }

    /// The consumer's ConnectEvent callback.
    pub fn connect_callback(&self) -> Callback<NDK_FN_CONNECT_EVENT_CALLBACK> {
        self.connect_cb
    }

    /// Admits an incoming request: a new reference on the listener's port for the connector
    /// that will carry it, or `None` when the request must be refused as if nobody listened
    /// (ndkpi.md §4.9: paused; §7.2: closing; not listening; no ConnectEvent callback).
    pub fn admit(&self) -> Option<PortRef> {
        if self.paused.load(Ordering::Acquire) || self.connect_cb.func.is_none() {
            return None;
        }
        let st = self.st.lock();
        if !matches!(st.phase, Phase::Starting | Phase::Listening) {
            return None;
        }
        st.port.as_ref()?.share(&self.adapter.body.dev.ports).ok()
    }
}

/// The listener dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_LISTENER_DISPATCH` (ndkpi.md §4.9).
    pub const DISPATCH: NDK_LISTENER_DISPATCH = NDK_LISTENER_DISPATCH {
        NdkCloseListener: ndk_close::<ListenerBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkListen: listen::<H>,
        NdkGetLocalAddress: get_local_address::<H>,
        NdkControlConnectEvents: control_connect_events::<H>,
    };
}

/// `NdkCreateListener` (ndkpi.md §4.1). Nothing to ask the device yet, so it never pends.
///
/// A NULL `ConnectEvent` is accepted (UNCONFIRMED: the parameter is `_In_`); such a
/// listener refuses every request, since nobody could take the connector.
pub unsafe extern "system" fn ndk_create_listener<H: NicHal>(
    p: *mut NDK_ADAPTER,
    connect_event: NDK_FN_CONNECT_EVENT_CALLBACK,
    connect_ctx: *mut c_void,
    _cb: NDK_FN_CREATE_COMPLETION,
    _ctx: *mut c_void,
    pp: *mut *mut NDK_LISTENER,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open adapter.
    let Some(a) = (unsafe { borrow::<AdapterBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if pp.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let body = ListenerBody {
        adapter: (*a).clone(),
        connect_cb: Callback {
            func: connect_event,
            ctx: Ctx::from_ptr(connect_ctx),
        },
        paused: AtomicBool::new(false),
        st: Lock::<H, _>::new(ListenState {
            phase: Phase::Idle,
            port: None,
            listen: None,
            ctx: 0,
        }),
    };
    let Ok(obj) = new_obj(a.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    let ctx = KArc::as_ptr(&obj) as u64;
    let registered = a.body.dev.ports.lock().register(ctx, CmKind::Listener);
    if let Err(s) = registered {
        drop(obj);
        return s;
    }
    obj.body.st.lock().ctx = ctx;
    // SAFETY: `pp` is the non-null out parameter.
    unsafe { edge::out(pp, object::publish(obj).cast()) };
    STATUS_SUCCESS
}

/// `NdkListen` (ndkpi.md §4.9): binds the address (port 0 → ephemeral) and starts the
/// device listen. The device answers at once, so this never pends and `RequestCompletion`
/// is not called.
unsafe extern "system" fn listen<H: NicHal>(
    p: *mut NDK_LISTENER,
    addr: *const SOCKADDR,
    len: u32,
    _cb: NDK_FN_REQUEST_COMPLETION,
    _ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open listener.
    let Some(l) = (unsafe { borrow::<ListenerBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: NDKPI contract: `addr` points to `len` readable bytes.
    let Some(addr) = (unsafe { edge::sockaddr(addr, len) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // A request may arrive, and its ConnectEvent callback may close the listener, before
    // `cm_listen` returns: keep our own reference for the call (ndkpi.md §7.1).
    let me: Listener<H> = (*l).clone();
    start(&me, addr)
}

fn start<H: NicHal>(l: &Listener<H>, addr: SocketAddr) -> NTSTATUS {
    let dev = &l.body.adapter.body.dev;
    let ctx = {
        let mut st = l.body.st.lock();
        if st.phase != Phase::Idle {
            // UNCONFIRMED: a second Listen on one listener; NDKPI names no status.
            return STATUS_INVALID_DEVICE_STATE;
        }
        st.phase = Phase::Starting;
        st.ctx
    };
    // UNCONFIRMED: the unspecified address is accepted as a wildcard listen.
    let port = match dev
        .activity
        .reserve_endpoint()
        .and_then(|()| endpoint::bind(dev, addr, true))
    {
        Ok(p) => p,
        Err(s) => {
            l.body.st.lock().phase = Phase::Idle;
            return s;
        }
    };
    let bound = port.addr();
    l.body.st.lock().port = Some(port);
    match dev.hal().cm_listen(bound, ctx) {
        Ok(handle) => {
            let stale = {
                let mut st = l.body.st.lock();
                if st.phase == Phase::Starting {
                    st.phase = Phase::Listening;
                    st.listen = Some(handle);
                    // Listed for OID_NDK_LOCAL_ENDPOINTS until close (ndkpi.md §8.4).
                    dev.activity.endpoint_bound(ctx, bound, true);
                    None
                } else {
                    // Closed from a callback while starting: stop at once.
                    Some(handle)
                }
            };
            if let Some(h) = stale {
                dev.hal().cm_stop_listen(h);
            }
            STATUS_SUCCESS
        }
        Err(e) => {
            let port = {
                let mut st = l.body.st.lock();
                if st.phase == Phase::Starting {
                    st.phase = Phase::Idle;
                }
                st.port.take()
            };
            if let Some(p) = port {
                p.release(&dev.ports);
            }
            status::from_hal(e)
        }
    }
}

/// `NdkGetLocalAddress` of a listener (ndkpi.md §4.9): reveals the port chosen for port 0.
/// Before `NdkListen` there is no address: `STATUS_INVALID_DEVICE_STATE` (UNCONFIRMED).
unsafe extern "system" fn get_local_address<H: NicHal>(
    p: *mut NDK_LISTENER,
    addr: *mut SOCKADDR,
    len: *mut u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open listener.
    let Some(l) = (unsafe { borrow::<ListenerBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let bound = l.body.st.lock().port.as_ref().map(PortRef::addr);
    let Some(a) = bound else {
        return STATUS_INVALID_DEVICE_STATE;
    };
    // SAFETY: NDKPI contract: `addr` has `*len` writable bytes; `len` is in/out.
    unsafe { edge::write_sockaddr(addr, len, &a) }
}

/// `NdkControlConnectEvents` (ndkpi.md §4.9): while paused, requests are refused as if no
/// listener existed.
unsafe extern "system" fn control_connect_events<H: NicHal>(p: *mut NDK_LISTENER, pause: u8) {
    // SAFETY: NDKPI contract: `p` is an open listener.
    if let Some(l) = unsafe { borrow::<ListenerBody<H>, _>(p) } {
        l.body.paused.store(pause != 0, Ordering::Release);
    }
}
