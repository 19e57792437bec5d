//! `NDK_CONNECTOR`: one connection, active (`NdkConnect`, `NdkConnectWithSharedEndpoint`,
//! `NdkCompleteConnect`) or passive (delivered by a listener's ConnectEvent, then
//! `NdkAccept` or `NdkReject`), and its graceful disconnect (ndkpi.md §3, §4.8, §7.3).
//!
//! State machine (ndkpi.md §7.3):
//!
//! ```text
//! active:  Idle --Connect--> Connecting --ConnectReply--> Replied --CompleteConnect--> Connected
//!                                      \--ConnectFailed--> Failed          \--Reject--> Failed
//! passive: Requested --Accept--> Accepting --Established--> Connected
//!                   \--Reject--> Failed   \--AcceptFailed--> Failed
//! both:    Connected --Disconnect--> Disconnecting --DisconnectComplete--> Disconnected
//!          any --close--> Closed
//! ```
//!
//! Requests that pend (Connect, Accept, Disconnect) park their callback in the state; it is
//! taken under the lock by exactly one of: the HAL event that ends the request, a
//! synchronous failure (then no callback, the status is returned), or the close (then
//! `STATUS_CANCELLED`, before the close completes). The connector's own lock is never held
//! across a HAL `cm_*` call, and no lock at all across a consumer callback. `cm_connect` and
//! `cm_accept` run under the QP's lock (`QpBody::with_hal`); an event of the connection that
//! the device's DPC processes before such a call returned (another processor) has what it
//! owes the consumer parked (`in_hal`) and handed out by that call once it is done. Entry
//! points that call the HAL keep their own reference (ndkpi.md §7.1: the consumer may close
//! the connector from a callback).
//!
//! Lifetime: the connector holds its QP, its listener or shared endpoint, and its port
//! reference until teardown (ndkpi.md §7.1 QP→Connector, Listener→Connector,
//! SharedEndpoint→Connector; §7.2).

use core::ffi::c_void;
use core::net::SocketAddr;

use hal::{ConnId, HalError, NicHal, PrivateData, MAX_PRIVATE_DATA};

use crate::abi::*;
use crate::adapter::{request_cb, Adapter, AdapterBody};
use crate::callback::{self, Callback, Ctx, DisconnectCallback};
use crate::device::Lock;
use crate::endpoint::{self, CmKind, PortRef};
use crate::karc::KArc;
use crate::listener::Listener;
use crate::object::{self, borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody};
use crate::qp::{Qp, QpBody};
use crate::shared_endpoint::{SharedEndpoint, SharedEndpointBody};
use crate::{edge, status};

/// Where a connection stands (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Replied,
    Requested,
    Accepting,
    Connected,
    Disconnecting,
    Disconnected,
    Failed,
    Closed,
}

struct ConnState<H: NicHal> {
    phase: Phase,
    /// Our CM context (the object's address), registered in the device table.
    ctx: u64,
    /// The HAL connection, released at close.
    conn: Option<ConnId>,
    /// The bound QP (antecedent), also marked in the device table.
    qp: Option<Qp<H>>,
    /// The listener whose ConnectEvent delivered this connector (antecedent).
    listener: Option<Listener<H>>,
    /// The shared endpoint this connector connected through (antecedent).
    shared: Option<SharedEndpoint<H>>,
    /// Our reference on the local address:port (ndkpi.md §7.2).
    port: Option<PortRef>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    /// Read limits the consumer asked for, clamped to the adapter's maxima: (IRD, ORD).
    mine: Option<(u32, u32)>,
    /// The peer's read limits: (IRD, ORD).
    theirs: Option<(u32, u32)>,
    /// Private data of the peer's request, reply or reject.
    peer_data: PrivateData,
    /// The pending Connect / Accept / Disconnect.
    request: Option<Callback<NDK_FN_REQUEST_COMPLETION>>,
    /// Registered by CompleteConnect / Accept; taken when it fires (at most once).
    disconnect_cb: Option<DisconnectCallback>,
    /// The peer disconnected, aborted or gave up.
    peer_gone: bool,
    /// A HAL call made under the QP's lock (`cm_connect`, `cm_accept`: `QpBody::with_hal`)
    /// is in progress. An event for this connection can be processed before it returns (on
    /// another processor's DPC, or from a callback), so what such an event or a close owes
    /// the consumer is parked here and handed out by that call once it has stored the
    /// connection id and released the QP's lock: the consumer never sees a Connect complete
    /// before CompleteConnect can find the connection, and no lock is held across a
    /// consumer callback.
    in_hal: bool,
    /// A QP flush parked while `in_hal`.
    flush_owed: bool,
    /// A disconnect indication parked while `in_hal`.
    owed_disconnect: Option<(DisconnectCallback, u32)>,
    /// A request completion parked while `in_hal`.
    owed_request: Option<(Callback<NDK_FN_REQUEST_COMPLETION>, NTSTATUS)>,
}

/// What an event, a close or a HAL call owes the consumer, handed out with no lock held:
/// first the QP flush (ndkpi.md §7.3: Disconnect completes after it), then the callbacks.
struct Deliver<H: NicHal> {
    flush: Option<Qp<H>>,
    disconnect: Option<(DisconnectCallback, u32)>,
    request: Option<(Callback<NDK_FN_REQUEST_COMPLETION>, NTSTATUS)>,
}

impl<H: NicHal> Deliver<H> {
    fn none() -> Deliver<H> {
        Deliver {
            flush: None,
            disconnect: None,
            request: None,
        }
    }

    fn request(cb: Option<Callback<NDK_FN_REQUEST_COMPLETION>>, status: NTSTATUS) -> Deliver<H> {
        Deliver {
            flush: None,
            disconnect: None,
            request: cb.map(|c| (c, status)),
        }
    }

    /// Runs it; call with no lock held.
    fn run(self) {
        if let Some(q) = self.flush.as_ref() {
            q.body.flush();
        }
        if let Some((d, reason)) = self.disconnect {
            callback::disconnect_event(d, reason);
        }
        if let Some((cb, s)) = self.request {
            callback::request_complete(cb, s);
        }
        drop(self.flush);
    }
}

/// Connector state.
pub struct ConnectorBody<H: NicHal> {
    adapter: Adapter<H>,
    st: Lock<H, ConnState<H>>,
}

/// A reference to a connector.
pub type Connector<H> = Obj<ConnectorBody<H>>;

impl<H: NicHal> ObjBody for ConnectorBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeConnector;

    /// ndkpi.md §7.1: the close aborts the connection, stops every callback and completes a
    /// pending request (with `STATUS_CANCELLED`, UNCONFIRMED: NDKPI names no status) before
    /// the close itself can complete. A QP that was or was becoming ready to send is
    /// flushed so its outstanding requests complete; one whose connect never got that far
    /// is left alone (the HAL aborts the attempt).
    fn on_close(obj: &Obj<Self>) {
        let (d, conn) = {
            let mut st = obj.body.st.lock();
            let prev = st.phase;
            st.phase = Phase::Closed;
            st.disconnect_cb = None;
            obj.body.adapter.body.dev.activity.disconnected(st.ctx);
            let flush = matches!(
                prev,
                Phase::Accepting | Phase::Connected | Phase::Disconnecting
            );
            let qp = if flush { st.qp.clone() } else { None };
            if let Some(q) = qp.as_ref() {
                q.body.set_connected(false);
            }
            let mut d = Deliver::request(st.request.take(), STATUS_CANCELLED);
            d.flush = qp;
            (st.deliver(d), st.conn.take())
        };
        if let Some(c) = conn {
            obj.body.adapter.body.dev.hal().cm_release(c);
        }
        d.run();
    }

    fn teardown(&mut self, _token: hal::CmdToken) -> hal::Cmd<()> {
        let dev = &self.adapter.body.dev;
        let st = self.st.get_mut();
        if let Some(c) = st.conn.take() {
            dev.hal().cm_release(c);
        }
        if let Some(p) = st.port.take() {
            p.release(&dev.ports);
        }
        if let (Some(se), Some(peer)) = (st.shared.as_ref(), st.peer.as_ref()) {
            se.body.forget(peer);
        }
        {
            let mut t = dev.ports.lock();
            if let Some(q) = st.qp.as_ref() {
                t.unbind_qp(KArc::as_ptr(q) as u64);
            }
            if st.ctx != 0 {
                t.unregister(st.ctx);
            }
        }
        dev.activity.disconnected(st.ctx);
        // Only an object that was never closed can still owe one; complete it once.
        let owed = Deliver::<H> {
            flush: None,
            disconnect: None,
            request: st.owed_request.take(),
        };
        owed.run();
        Deliver::<H>::request(st.request.take(), STATUS_CANCELLED).run();
        hal::Cmd::Done(())
    }
}

impl<H: NicHal> ConnState<H> {
    fn new() -> ConnState<H> {
        ConnState {
            phase: Phase::Idle,
            ctx: 0,
            conn: None,
            qp: None,
            listener: None,
            shared: None,
            port: None,
            local: None,
            peer: None,
            mine: None,
            theirs: None,
            peer_data: PrivateData::EMPTY,
            request: None,
            disconnect_cb: None,
            peer_gone: false,
            in_hal: false,
            flush_owed: false,
            owed_disconnect: None,
            owed_request: None,
        }
    }

    /// Hands `d` out for delivery now, or parks it for the HAL call in progress (see
    /// `in_hal`).
    fn deliver(&mut self, mut d: Deliver<H>) -> Deliver<H> {
        if self.in_hal {
            if let Some(r) = d.request.take() {
                self.owed_request = Some(r);
            }
            if let Some(x) = d.disconnect.take() {
                self.owed_disconnect = Some(x);
            }
            if d.flush.is_some() {
                self.flush_owed = true;
            }
            d.flush = None;
        }
        d
    }

    /// Enters a HAL call made under the QP's lock.
    fn enter_hal(&mut self) {
        self.in_hal = true;
    }

    /// Leaves it: what was parked meanwhile, to run once the caller holds no lock.
    fn leave_hal(&mut self) -> Deliver<H> {
        self.in_hal = false;
        let flush = if core::mem::take(&mut self.flush_owed) {
            self.qp.clone()
        } else {
            None
        };
        Deliver {
            flush,
            disconnect: self.owed_disconnect.take(),
            request: self.owed_request.take(),
        }
    }
}

/// Allocates a connector and registers its CM context.
fn create<H: NicHal>(adapter: &Adapter<H>) -> Result<Connector<H>, NTSTATUS> {
    let body = ConnectorBody {
        adapter: adapter.clone(),
        st: Lock::<H, _>::new(ConnState::new()),
    };
    let obj = new_obj(adapter.body.version, &Table::<H>::DISPATCH, body)
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
    let ctx = KArc::as_ptr(&obj) as u64;
    let registered = adapter
        .body
        .dev
        .ports
        .lock()
        .register(ctx, CmKind::Connector);
    registered?;
    obj.body.st.lock().ctx = ctx;
    Ok(obj)
}

/// What a listener learnt from a connection request (`CmEvent::ConnectRequest`).
pub struct Incoming {
    /// The HAL connection.
    pub conn: ConnId,
    /// Local address the request arrived on.
    pub local: SocketAddr,
    /// Peer address.
    pub remote: SocketAddr,
    /// Peer's IRD.
    pub ird: u32,
    /// Peer's ORD.
    pub ord: u32,
    /// Peer's private data.
    pub private_data: PrivateData,
}

/// A passive connector for a request on `listener`, holding `port` (a reference on the
/// listener's port). On failure the port reference has been given back and the caller
/// rejects the request; on success the caller attaches the connection to the connector's
/// context ([`context`]) and hands it to the consumer.
pub fn new_passive<H: NicHal>(
    listener: &Listener<H>,
    req: &Incoming,
    port: PortRef,
) -> Result<Connector<H>, NTSTATUS> {
    let adapter = listener.body.adapter();
    let obj = match create(adapter) {
        Ok(o) => o,
        Err(s) => {
            port.release(&adapter.body.dev.ports);
            return Err(s);
        }
    };
    {
        let mut st = obj.body.st.lock();
        st.phase = Phase::Requested;
        st.conn = Some(req.conn);
        st.listener = Some(listener.clone());
        st.port = Some(port);
        st.local = Some(req.local);
        st.peer = Some(req.remote);
        st.theirs = Some((req.ird, req.ord));
        st.peer_data = req.private_data;
    }
    Ok(obj)
}

/// The CM context of a connector (what `cm_connect` / `cm_attach` are given).
pub fn context<H: NicHal>(c: &Connector<H>) -> u64 {
    KArc::as_ptr(c) as u64
}

/// The connector dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_CONNECTOR_DISPATCH`, NDKPI 2.1 form (ndkpi.md §4.8).
    pub const DISPATCH: NDK_CONNECTOR_DISPATCH = NDK_CONNECTOR_DISPATCH {
        NdkCloseConnector: ndk_close::<ConnectorBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkConnect: connect::<H>,
        NdkConnectWithSharedEndpoint: connect_with_shared_endpoint::<H>,
        NdkCompleteConnect: complete_connect::<H>,
        NdkAccept: accept::<H>,
        NdkReject: reject::<H>,
        NdkGetConnectionData: get_connection_data::<H>,
        NdkGetLocalAddress: get_local_address::<H>,
        NdkGetPeerAddress: get_peer_address::<H>,
        NdkDisconnect: disconnect::<H>,
        NdkCompleteConnectEx: complete_connect_ex::<H>,
        NdkAcceptEx: accept_ex::<H>,
    };
}

/// `NdkCreateConnector` (ndkpi.md §4.1): host bookkeeping only, never pends.
pub unsafe extern "system" fn ndk_create_connector<H: NicHal>(
    p: *mut NDK_ADAPTER,
    _cb: NDK_FN_CREATE_COMPLETION,
    _ctx: *mut c_void,
    pp: *mut *mut NDK_CONNECTOR,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open adapter.
    let Some(a) = (unsafe { borrow::<AdapterBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if pp.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    match create(&a) {
        Ok(obj) => {
            // SAFETY: `pp` is the non-null out parameter.
            unsafe { edge::out(pp, object::publish(obj).cast()) };
            STATUS_SUCCESS
        }
        Err(s) => s,
    }
}

// ---------------------------------------------------------------------------------------
// Active side
// ---------------------------------------------------------------------------------------

/// The local end of an outbound connection.
enum Source<H: NicHal> {
    /// `NdkConnect`: an implicit endpoint of our own on this address (port 0 → ephemeral).
    Implicit(SocketAddr),
    /// `NdkConnectWithSharedEndpoint`.
    Shared(SharedEndpoint<H>),
}

struct ConnectArgs<'a, H: NicHal> {
    qp: &'a Qp<H>,
    source: Source<H>,
    remote: SocketAddr,
    ird: u32,
    ord: u32,
    private_data: &'a [u8],
    cb: Callback<NDK_FN_REQUEST_COMPLETION>,
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn connect<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    qp: *mut NDK_QP,
    src: *const SOCKADDR,
    src_len: u32,
    dst: *const SOCKADDR,
    dst_len: u32,
    ird: u32,
    ord: u32,
    pdata: *const c_void,
    pdata_len: u32,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open connector, `qp` an open QP.
    let (Some(c), Some(qp)) = (unsafe { borrow::<ConnectorBody<H>, _>(p) }, unsafe {
        borrow::<QpBody<H>, _>(qp)
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: NDKPI contract: the addresses and the private data are readable for their
    // lengths during the call.
    let parsed = unsafe {
        (
            edge::sockaddr(src, src_len),
            edge::sockaddr(dst, dst_len),
            edge::bytes(pdata, pdata_len),
        )
    };
    let (Some(local), Some(remote), Some(private_data)) = parsed else {
        return STATUS_INVALID_PARAMETER;
    };
    if local.is_ipv4() != remote.is_ipv4() {
        return STATUS_INVALID_PARAMETER;
    }
    let me: Connector<H> = (*c).clone();
    let args = ConnectArgs {
        qp: &qp,
        source: Source::Implicit(local),
        remote,
        ird,
        ord,
        private_data,
        cb: request_cb(cb, ctx),
    };
    start_connect(&me, args)
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn connect_with_shared_endpoint<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    qp: *mut NDK_QP,
    se: *mut NDK_SHARED_ENDPOINT,
    dst: *const SOCKADDR,
    dst_len: u32,
    ird: u32,
    ord: u32,
    pdata: *const c_void,
    pdata_len: u32,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open connector, QP and shared endpoint.
    let objs = unsafe {
        (
            borrow::<ConnectorBody<H>, _>(p),
            borrow::<QpBody<H>, _>(qp),
            borrow::<SharedEndpointBody<H>, _>(se),
        )
    };
    let (Some(c), Some(qp), Some(se)) = objs else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: NDKPI contract: the address and the private data are readable for their
    // lengths during the call.
    let parsed = unsafe { (edge::sockaddr(dst, dst_len), edge::bytes(pdata, pdata_len)) };
    let (Some(remote), Some(private_data)) = parsed else {
        return STATUS_INVALID_PARAMETER;
    };
    match se.body.local_address() {
        Some(l) if l.is_ipv4() == remote.is_ipv4() => {}
        _ => return STATUS_INVALID_PARAMETER,
    }
    // The endpoint's port lives in its own device's table.
    if !KArc::ptr_eq(&se.body.adapter().body.dev, &c.body.adapter.body.dev) {
        return STATUS_INVALID_PARAMETER;
    }
    let me: Connector<H> = (*c).clone();
    let args = ConnectArgs {
        qp: &qp,
        source: Source::Shared((*se).clone()),
        remote,
        ird,
        ord,
        private_data,
        cb: request_cb(cb, ctx),
    };
    start_connect(&me, args)
}

/// Gives back what a failed connect start had taken.
fn undo_sources<H: NicHal>(
    c: &Connector<H>,
    port: Option<PortRef>,
    shared: Option<&SharedEndpoint<H>>,
    remote: &SocketAddr,
) {
    if let Some(p) = port {
        p.release(&c.body.adapter.body.dev.ports);
    }
    if let Some(se) = shared {
        se.body.forget(remote);
    }
}

/// `NdkConnect` / `NdkConnectWithSharedEndpoint` (ndkpi.md §4.8, §7.3 active 1–2):
/// validates, binds the local end and the QP, and starts the HAL connect. Returns
/// `STATUS_PENDING`; the request completes on `ConnectReply` (SUCCESS) or `ConnectFailed`.
fn start_connect<H: NicHal>(c: &Connector<H>, a: ConnectArgs<'_, H>) -> NTSTATUS {
    let dev = &c.body.adapter.body.dev;
    let hal = dev.hal();
    let caps = hal.caps();
    if a.private_data.len() > caps.max_caller_data as usize
        || a.private_data.len() > MAX_PRIVATE_DATA
        || !a.qp.body.on_device(dev)
        || a.remote.ip().is_unspecified()
        || a.remote.port() == 0
    {
        return STATUS_INVALID_PARAMETER;
    }
    let ird = a.ird.min(caps.max_inbound_read_limit);
    let ord = a.ord.min(caps.max_outbound_read_limit);
    let ctx = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Idle {
            // UNCONFIRMED: ND's ND_CONNECTION_ACTIVE for a connector already in use.
            return STATUS_CONNECTION_ACTIVE;
        }
        st.phase = Phase::Connecting;
        st.ctx
    };
    let revert = |c: &Connector<H>| c.body.st.lock().phase = Phase::Idle;
    if let Err(s) = dev.activity.reserve_connection() {
        revert(c);
        return s;
    }
    let shared = match &a.source {
        Source::Shared(se) => Some(se.clone()),
        Source::Implicit(_) => None,
    };
    let port = match &a.source {
        Source::Implicit(local) => endpoint::bind(dev, *local, false),
        Source::Shared(se) => se.body.claim(&a.remote),
    };
    let port = match port {
        Ok(p) => p,
        Err(s) => {
            revert(c);
            return s;
        }
    };
    let qp_key = KArc::as_ptr(a.qp) as u64;
    let bound = dev.ports.lock().bind_qp(qp_key);
    if let Err(s) = bound {
        undo_sources(c, Some(port), shared.as_ref(), &a.remote);
        revert(c);
        return s;
    }
    let local = port.addr();
    {
        let mut st = c.body.st.lock();
        st.qp = Some(a.qp.clone());
        st.shared = shared.clone();
        st.port = Some(port);
        st.local = Some(local);
        st.peer = Some(a.remote);
        st.mine = Some((ird, ord));
        st.request = Some(a.cb);
        st.enter_hal();
    }
    let r =
        a.qp.body
            .with_hal(|q| hal.cm_connect(q, local, a.remote, ird, ord, a.private_data, ctx))
            .unwrap_or(Err(HalError::InvalidState));
    match r {
        Ok(conn) => {
            let (d, release) = {
                let mut st = c.body.st.lock();
                // Closed from an inline callback before we knew the connection: release it.
                let release = st.phase == Phase::Closed;
                if !release {
                    st.conn = Some(conn);
                }
                (st.leave_hal(), release)
            };
            if release {
                hal.cm_release(conn);
            }
            d.run();
            STATUS_PENDING
        }
        Err(e) => {
            let (req, qp, port, d) = {
                let mut st = c.body.st.lock();
                let d = st.leave_hal();
                let req = st.request.take();
                if st.phase == Phase::Connecting {
                    st.phase = Phase::Idle;
                }
                st.shared = None;
                st.local = None;
                st.peer = None;
                st.mine = None;
                (req, st.qp.take(), st.port.take(), d)
            };
            undo_sources(c, port, shared.as_ref(), &a.remote);
            if let Some(q) = qp {
                dev.ports.lock().unbind_qp(KArc::as_ptr(&q) as u64);
                drop(q);
            }
            d.run();
            match req {
                Some(_) => connect_failure(e, shared.is_some()),
                // Already completed (by a close from a callback): the result went there.
                None => STATUS_PENDING,
            }
        }
    }
}

/// Status of a failed HAL connect, as `NdkConnect(WithSharedEndpoint)` reports it.
fn connect_failure(e: HalError, shared: bool) -> NTSTATUS {
    match (e, shared) {
        (HalError::AddressInUse, true) => STATUS_ADDRESS_ALREADY_EXISTS,
        (e, _) => status::from_hal(e),
    }
}

/// `CmEvent::ConnectReply`: the peer accepted; Connect completes with SUCCESS
/// (ndkpi.md §7.3 active 2).
pub fn on_connect_reply<H: NicHal>(
    c: &Connector<H>,
    ird: u32,
    ord: u32,
    private_data: PrivateData,
) {
    let d = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Connecting {
            return;
        }
        st.phase = Phase::Replied;
        st.theirs = Some((ird, ord));
        st.peer_data = private_data;
        let d = Deliver::request(st.request.take(), STATUS_SUCCESS);
        st.deliver(d)
    };
    d.run();
}

/// `CmEvent::ConnectFailed`: Connect completes with the failure; a reject's private data
/// stays readable with GetConnectionData.
pub fn on_connect_failed<H: NicHal>(c: &Connector<H>, error: HalError, private_data: PrivateData) {
    let d = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Connecting {
            return;
        }
        st.phase = Phase::Failed;
        st.peer_data = private_data;
        c.body.adapter.body.dev.activity.connect_failed();
        let s = connect_failure(error, st.shared.is_some());
        let d = Deliver::request(st.request.take(), s);
        st.deliver(d)
    };
    d.run();
}

fn disconnect_cb_plain(
    f: NDK_FN_DISCONNECT_EVENT_CALLBACK,
    ctx: *mut c_void,
) -> Option<DisconnectCallback> {
    f.map(|_| {
        DisconnectCallback::Plain(Callback {
            func: f,
            ctx: Ctx::from_ptr(ctx),
        })
    })
}

fn disconnect_cb_ex(
    f: NDK_FN_DISCONNECT_EVENT_CALLBACK_EX,
    ctx: *mut c_void,
) -> Option<DisconnectCallback> {
    f.map(|_| {
        DisconnectCallback::Ex(Callback {
            func: f,
            ctx: Ctx::from_ptr(ctx),
        })
    })
}

unsafe extern "system" fn complete_connect<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    dcb: NDK_FN_DISCONNECT_EVENT_CALLBACK,
    dctx: *mut c_void,
    _cb: NDK_FN_REQUEST_COMPLETION,
    _ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open connector.
    let Some(c) = (unsafe { borrow::<ConnectorBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let me: Connector<H> = (*c).clone();
    complete_connect_logic(&me, disconnect_cb_plain(dcb, dctx))
}

unsafe extern "system" fn complete_connect_ex<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    dcb: NDK_FN_DISCONNECT_EVENT_CALLBACK_EX,
    dctx: *mut c_void,
    _cb: NDK_FN_REQUEST_COMPLETION,
    _ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open connector.
    let Some(c) = (unsafe { borrow::<ConnectorBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let me: Connector<H> = (*c).clone();
    complete_connect_logic(&me, disconnect_cb_ex(dcb, dctx))
}

/// `NdkCompleteConnect(Ex)` (ndkpi.md §4.8, §7.3 active 3–4): finishes the handshake and
/// registers the disconnect callback. The HAL answers at once, so it completes
/// synchronously (`STATUS_SUCCESS`, no callback). `STATUS_CONNECTION_INVALID` unless a
/// Connect completed successfully; `STATUS_CONNECTION_ABORTED` when the peer gave up.
fn complete_connect_logic<H: NicHal>(
    c: &Connector<H>,
    dcb: Option<DisconnectCallback>,
) -> NTSTATUS {
    let hal = c.body.adapter.body.dev.hal();
    let conn = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Replied {
            return STATUS_CONNECTION_INVALID;
        }
        let Some(conn) = st.conn else {
            return STATUS_CONNECTION_INVALID;
        };
        if st.peer_gone {
            st.phase = Phase::Failed;
            return STATUS_CONNECTION_ABORTED;
        }
        st.phase = Phase::Connected;
        st.disconnect_cb = dcb;
        record_connected(c, &st, false);
        conn
    };
    let r = hal.cm_complete(conn);
    let mut st = c.body.st.lock();
    match r {
        Ok(()) => {
            // Unless a callback closed or disconnected it meanwhile, the QP may now send.
            if st.phase == Phase::Connected {
                if let Some(q) = st.qp.as_ref() {
                    q.body.set_connected(true);
                }
            }
            STATUS_SUCCESS
        }
        Err(e) => {
            if st.phase == Phase::Connected {
                st.phase = Phase::Failed;
                st.disconnect_cb = None;
                c.body.adapter.body.dev.activity.disconnected(st.ctx);
            }
            status::from_hal(e)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Passive side
// ---------------------------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn accept<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    qp: *mut NDK_QP,
    ird: u32,
    ord: u32,
    pdata: *const c_void,
    pdata_len: u32,
    dcb: NDK_FN_DISCONNECT_EVENT_CALLBACK,
    dctx: *mut c_void,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open connector and QP; the private data is readable.
    let (Some(c), Some(qp), Some(data)) = (unsafe {
        (
            borrow::<ConnectorBody<H>, _>(p),
            borrow::<QpBody<H>, _>(qp),
            edge::bytes(pdata, pdata_len),
        )
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let me: Connector<H> = (*c).clone();
    accept_logic(
        &me,
        &qp,
        ird,
        ord,
        data,
        disconnect_cb_plain(dcb, dctx),
        request_cb(cb, ctx),
    )
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn accept_ex<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    qp: *mut NDK_QP,
    ird: u32,
    ord: u32,
    pdata: *const c_void,
    pdata_len: u32,
    dcb: NDK_FN_DISCONNECT_EVENT_CALLBACK_EX,
    dctx: *mut c_void,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open connector and QP; the private data is readable.
    let (Some(c), Some(qp), Some(data)) = (unsafe {
        (
            borrow::<ConnectorBody<H>, _>(p),
            borrow::<QpBody<H>, _>(qp),
            edge::bytes(pdata, pdata_len),
        )
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let me: Connector<H> = (*c).clone();
    accept_logic(
        &me,
        &qp,
        ird,
        ord,
        data,
        disconnect_cb_ex(dcb, dctx),
        request_cb(cb, ctx),
    )
}

/// `NdkAccept(Ex)` (ndkpi.md §4.8, §7.3 passive 3–4): binds the QP and answers the request;
/// `STATUS_PENDING` until the active side's CompleteConnect arrives (`Established` →
/// SUCCESS) or it gives up (`AcceptFailed` → its status).
fn accept_logic<H: NicHal>(
    c: &Connector<H>,
    qp: &Qp<H>,
    ird: u32,
    ord: u32,
    data: &[u8],
    dcb: Option<DisconnectCallback>,
    cb: Callback<NDK_FN_REQUEST_COMPLETION>,
) -> NTSTATUS {
    let dev = &c.body.adapter.body.dev;
    let hal = dev.hal();
    let caps = hal.caps();
    if data.len() > caps.max_callee_data as usize
        || data.len() > MAX_PRIVATE_DATA
        || !qp.body.on_device(dev)
    {
        return STATUS_INVALID_PARAMETER;
    }
    let ird = ird.min(caps.max_inbound_read_limit);
    let ord = ord.min(caps.max_outbound_read_limit);
    let qp_key = KArc::as_ptr(qp) as u64;
    let conn = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Requested {
            return STATUS_CONNECTION_INVALID;
        }
        let Some(conn) = st.conn else {
            return STATUS_CONNECTION_INVALID;
        };
        if st.peer_gone {
            st.phase = Phase::Failed;
            return STATUS_CONNECTION_ABORTED;
        }
        st.phase = Phase::Accepting;
        conn
    };
    let bound = dev
        .activity
        .reserve_connection()
        .and_then(|()| dev.ports.lock().bind_qp(qp_key));
    if let Err(s) = bound {
        c.body.st.lock().phase = Phase::Requested;
        return s;
    }
    {
        let mut st = c.body.st.lock();
        st.qp = Some(qp.clone());
        st.mine = Some((ird, ord));
        st.request = Some(cb);
        st.disconnect_cb = dcb;
        st.enter_hal();
    }
    let r = qp
        .body
        .with_hal(|q| hal.cm_accept(conn, q, ird, ord, data))
        .unwrap_or(Err(HalError::InvalidState));
    let (d, undo) = {
        let mut st = c.body.st.lock();
        let d = st.leave_hal();
        let undo = match r {
            Err(_) if st.phase == Phase::Accepting => {
                st.phase = Phase::Requested;
                st.mine = None;
                st.disconnect_cb = None;
                Some((st.request.take(), st.qp.take()))
            }
            _ => None,
        };
        (d, undo)
    };
    d.run();
    match (r, undo) {
        (Err(e), Some((req, old_qp))) => {
            if let Some(q) = old_qp {
                dev.ports.lock().unbind_qp(KArc::as_ptr(&q) as u64);
                drop(q);
            }
            if req.is_some() {
                status::from_hal(e)
            } else {
                STATUS_PENDING
            }
        }
        // Accepted, or failed after an event or a close already ended the request.
        _ => STATUS_PENDING,
    }
}

/// Lists an established connection for OID_NDK_CONNECTIONS and counts it (ndkpi.md §8.4).
fn record_connected<H: NicHal>(c: &Connector<H>, st: &ConnState<H>, passive: bool) {
    if let (Some(local), Some(remote)) = (st.local, st.peer) {
        c.body
            .adapter
            .body
            .dev
            .activity
            .connected(st.ctx, local, remote, passive);
    }
}

/// `CmEvent::Established`: the active side completed; Accept completes with SUCCESS and
/// the QP may send.
pub fn on_established<H: NicHal>(c: &Connector<H>) {
    let d = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Accepting {
            return;
        }
        st.phase = Phase::Connected;
        record_connected(c, &st, true);
        if let Some(q) = st.qp.as_ref() {
            q.body.set_connected(true);
        }
        let d = Deliver::request(st.request.take(), STATUS_SUCCESS);
        st.deliver(d)
    };
    d.run();
}

/// `CmEvent::AcceptFailed`: the active side gave up or never completed (ndkpi.md §7.3
/// passive 4: `STATUS_CONNECTION_ABORTED` / `STATUS_IO_TIMEOUT`).
pub fn on_accept_failed<H: NicHal>(c: &Connector<H>, error: HalError) {
    let d = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Accepting {
            return;
        }
        st.phase = Phase::Failed;
        st.peer_gone = true;
        st.disconnect_cb = None;
        c.body.adapter.body.dev.activity.connect_failed();
        let d = Deliver::request(st.request.take(), status::from_hal(error));
        st.deliver(d)
    };
    d.run();
}

/// `NdkReject` (ndkpi.md §4.8): refuses a request (passive, before Accept) or a reply
/// (active, before CompleteConnect). Synchronous. Private data up to MaxCalleeData
/// (ndkpi.md §5.1: accept/reject).
unsafe extern "system" fn reject<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    pdata: *const c_void,
    pdata_len: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open connector; the private data is readable.
    let (Some(c), Some(data)) = (unsafe {
        (
            borrow::<ConnectorBody<H>, _>(p),
            edge::bytes(pdata, pdata_len),
        )
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let hal = c.body.adapter.body.dev.hal();
    if data.len() > hal.caps().max_callee_data as usize || data.len() > MAX_PRIVATE_DATA {
        return STATUS_INVALID_PARAMETER;
    }
    let (conn, gone) = {
        let mut st = c.body.st.lock();
        if !matches!(st.phase, Phase::Requested | Phase::Replied) {
            return STATUS_CONNECTION_INVALID;
        }
        let Some(conn) = st.conn else {
            return STATUS_CONNECTION_INVALID;
        };
        st.phase = Phase::Failed;
        (conn, st.peer_gone)
    };
    if gone {
        return STATUS_CONNECTION_ABORTED;
    }
    match hal.cm_reject(conn, data) {
        Ok(()) => STATUS_SUCCESS,
        Err(e) => status::from_hal(e),
    }
}

// ---------------------------------------------------------------------------------------
// Both sides
// ---------------------------------------------------------------------------------------

/// `NdkGetConnectionData` (ndkpi.md §4.8, §7.3).
///
/// RDS (the required private-data size) is the length of the private data the peer sent
/// (request, reply or reject) — UNCONFIRMED choice: NDKPI lets a provider report more
/// (e.g. the transport's fixed size), ours reports exactly what arrived. Read limits:
/// after our Connect or Accept set them, the effective values (IRD = min(ours, adapter max,
/// peer ORD), ORD = min(ours, adapter max, peer IRD)); on the passive side before Accept, the
/// peer's values clamped to the adapter maxima, as the limits the consumer can accept with
/// (IRD ← peer ORD, ORD ← peer IRD). A NULL `pPrivateDataLength` skips the private data
/// (UNCONFIRMED: the parameter is not optional in the header).
unsafe extern "system" fn get_connection_data<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    p_ird: *mut u32,
    p_ord: *mut u32,
    pdata: *mut c_void,
    p_len: *mut u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open connector.
    let Some(c) = (unsafe { borrow::<ConnectorBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let caps = c.body.adapter.body.dev.hal().caps();
    let (mine, theirs, data) = {
        let st = c.body.st.lock();
        if matches!(st.phase, Phase::Idle | Phase::Connecting | Phase::Closed) {
            // UNCONFIRMED: nothing received yet; NDKPI names no status.
            return STATUS_CONNECTION_INVALID;
        }
        (st.mine, st.theirs, st.peer_data)
    };
    let (peer_ird, peer_ord) = theirs.unwrap_or((0, 0));
    let (max_ird, max_ord) = (caps.max_inbound_read_limit, caps.max_outbound_read_limit);
    let (ird, ord) = match mine {
        Some((i, o)) => (i.min(max_ird).min(peer_ord), o.min(max_ord).min(peer_ird)),
        None => (peer_ord.min(max_ird), peer_ird.min(max_ord)),
    };
    // SAFETY: NDKPI contract: optional out parameters, NULL or writable.
    unsafe {
        edge::out(p_ird, ird);
        edge::out(p_ord, ord);
    }
    // SAFETY: NDKPI contract: `p_len` is NULL or a readable and writable ULONG.
    let Some(have) = (unsafe { edge::read(p_len) }) else {
        return STATUS_SUCCESS;
    };
    private_data_out(data.as_slice(), pdata, have, p_len)
}

/// The §7.3 private-data rules: NULL buffer with length 0 → SUCCESS and the required size;
/// otherwise copy `min(len, RDS)` bytes, SUCCESS when `len ≥ RDS` else
/// `STATUS_BUFFER_TOO_SMALL`; the length always becomes RDS.
fn private_data_out(data: &[u8], buf: *mut c_void, have: u32, p_len: *mut u32) -> NTSTATUS {
    let rds = u32::try_from(data.len()).unwrap_or(u32::MAX);
    if buf.is_null() {
        if have > 0 {
            // ndkpi.md §7.3: invalid, and no consumer does it.
            return STATUS_INVALID_PARAMETER;
        }
        // ndkpi.md §7.3: the size query.
        // SAFETY: `p_len` was read by the caller, so it is non-null and writable.
        unsafe { edge::out(p_len, rds) };
        return STATUS_SUCCESS;
    }
    let n = have.min(rds);
    // SAFETY: NDKPI contract: `buf` has `have >= n` writable bytes (n is 0 when NULL).
    if let (Some(dst), Some(src)) = (
        unsafe { edge::slice_mut(buf.cast::<u8>(), n) },
        data.get(..n as usize),
    ) {
        dst.copy_from_slice(src);
    }
    // SAFETY: `p_len` was read above, so it is non-null and writable.
    unsafe { edge::out(p_len, rds) };
    if have >= rds {
        STATUS_SUCCESS
    } else {
        STATUS_BUFFER_TOO_SMALL
    }
}

/// `NdkGetLocalAddress` of a connector (ndkpi.md §4.8). No address before Connect:
/// `STATUS_INVALID_DEVICE_STATE` (UNCONFIRMED).
unsafe extern "system" fn get_local_address<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    addr: *mut SOCKADDR,
    len: *mut u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open connector.
    let Some(c) = (unsafe { borrow::<ConnectorBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let a = c.body.st.lock().local;
    let Some(a) = a else {
        return STATUS_INVALID_DEVICE_STATE;
    };
    // SAFETY: NDKPI contract: `addr` has `*len` writable bytes; `len` is in/out.
    unsafe { edge::write_sockaddr(addr, len, &a) }
}

/// `NdkGetPeerAddress` (ndkpi.md §4.8). No peer before Connect: `STATUS_INVALID_DEVICE_STATE`
/// (UNCONFIRMED).
unsafe extern "system" fn get_peer_address<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    addr: *mut SOCKADDR,
    len: *mut u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open connector.
    let Some(c) = (unsafe { borrow::<ConnectorBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let a = c.body.st.lock().peer;
    let Some(a) = a else {
        return STATUS_INVALID_DEVICE_STATE;
    };
    // SAFETY: NDKPI contract: `addr` has `*len` writable bytes; `len` is in/out.
    unsafe { edge::write_sockaddr(addr, len, &a) }
}

/// `NdkDisconnect` (ndkpi.md §4.8, §7.3 "Disconnect"): graceful disconnect, `STATUS_PENDING`
/// until `DisconnectComplete`, then the QP is flushed and the request completes. When the
/// peer already disconnected: flush and `STATUS_SUCCESS` at once. Not connected:
/// `STATUS_CONNECTION_INVALID`.
unsafe extern "system" fn disconnect<H: NicHal>(
    p: *mut NDK_CONNECTOR,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open connector.
    let Some(c) = (unsafe { borrow::<ConnectorBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let me: Connector<H> = (*c).clone();
    disconnect_logic(&me, request_cb(cb, ctx))
}

fn disconnect_logic<H: NicHal>(
    c: &Connector<H>,
    cb: Callback<NDK_FN_REQUEST_COMPLETION>,
) -> NTSTATUS {
    let hal = c.body.adapter.body.dev.hal();
    enum Next<H: NicHal> {
        Flush(Option<Qp<H>>),
        Start(ConnId),
    }
    let next = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Connected {
            return STATUS_CONNECTION_INVALID;
        }
        // No disconnect callback once the consumer disconnects (ndkpi.md §3).
        st.disconnect_cb = None;
        c.body.adapter.body.dev.activity.disconnected(st.ctx);
        match (st.conn, st.peer_gone) {
            (Some(conn), false) => {
                st.phase = Phase::Disconnecting;
                st.request = Some(cb);
                Next::Start(conn)
            }
            _ => {
                st.phase = Phase::Disconnected;
                if let Some(q) = st.qp.as_ref() {
                    q.body.set_connected(false);
                }
                Next::Flush(st.qp.clone())
            }
        }
    };
    match next {
        Next::Flush(qp) => {
            if let Some(q) = qp {
                q.body.flush();
            }
            STATUS_SUCCESS
        }
        Next::Start(conn) => match hal.cm_disconnect(conn) {
            Ok(()) => STATUS_PENDING,
            Err(e) => {
                // The connection is unusable either way: finish like a disconnect, with
                // the failure returned inline.
                let (req, qp) = {
                    let mut st = c.body.st.lock();
                    let req = st.request.take();
                    if st.phase == Phase::Disconnecting {
                        st.phase = Phase::Disconnected;
                    }
                    if let Some(q) = st.qp.as_ref() {
                        q.body.set_connected(false);
                    }
                    (req, st.qp.clone())
                };
                if let Some(q) = qp {
                    q.body.flush();
                }
                if req.is_some() {
                    status::from_hal(e)
                } else {
                    STATUS_PENDING
                }
            }
        },
    }
}

/// `CmEvent::DisconnectComplete`: the QP is flushed (ndkpi.md §7.3), then Disconnect
/// completes with SUCCESS or the failure.
pub fn on_disconnect_complete<H: NicHal>(c: &Connector<H>, error: Option<HalError>) {
    let d = {
        let mut st = c.body.st.lock();
        if st.phase != Phase::Disconnecting {
            return;
        }
        st.phase = Phase::Disconnected;
        if let Some(q) = st.qp.as_ref() {
            q.body.set_connected(false);
        }
        let mut d = Deliver::request(
            st.request.take(),
            error.map_or(STATUS_SUCCESS, status::from_hal),
        );
        d.flush = st.qp.clone();
        st.deliver(d)
    };
    d.run();
}

/// `CmEvent::PeerDisconnected` (ndkpi.md §3 DisconnectEvent, §7.3): on a connected
/// connector whose consumer has not called Disconnect (and not closed it), the disconnect
/// callback, once; no flush. A pending Accept or Connect ends with
/// `STATUS_CONNECTION_ABORTED` (UNCONFIRMED for Connect: the HAL normally reports
/// `ConnectFailed`). Otherwise the fact is remembered: CompleteConnect, Accept and Reject
/// then fail with `STATUS_CONNECTION_ABORTED`, Disconnect just flushes.
pub fn on_peer_disconnected<H: NicHal>(c: &Connector<H>, reason: u32) {
    let d = {
        let mut st = c.body.st.lock();
        st.peer_gone = true;
        let d = match st.phase {
            Phase::Connected => {
                let mut d = Deliver::none();
                d.disconnect = st.disconnect_cb.take().map(|cb| (cb, reason));
                d
            }
            Phase::Accepting | Phase::Connecting => {
                st.phase = Phase::Failed;
                st.disconnect_cb = None;
                Deliver::request(st.request.take(), STATUS_CONNECTION_ABORTED)
            }
            _ => Deliver::none(),
        };
        st.deliver(d)
    };
    d.run();
}
