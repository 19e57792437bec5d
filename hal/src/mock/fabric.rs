//! The loopback fabric: the state of every NIC on it, event queues and interrupt delivery,
//! routing by IP address, and connection management.
//!
//! One lock guards the whole fabric (`World`). That keeps cross-NIC operations (a send on
//! one NIC consuming a receive on another) atomic and deadlock-free, and makes every run
//! deterministic; the mock is a functional model, not a performance one.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use parking_lot::Mutex;

use crate::{CmEvent, ConnId, DeviceCaps, HalError, HalEvent, HalResult, PrivateData};

use super::memory::KeyTable;
use super::queue::{CqState, Id, PdState, QpMode, QpState, Slab, SrqState};
use super::{MockPlatform, Script};

/// Events a NIC's queue holds before it may allocate; reserved when the NIC is created so
/// fast-path calls that queue events (`CqNotify` from `arm_cq`) do not allocate.
const EVENT_QUEUE_RESERVE: usize = 512;

/// An interrupt handler given to `attach_interrupt`.
pub(crate) type Handler = crate::karc::KFn;

/// Which object an event names, so destroying the object can take back its queued events
/// ("no event names an object after its destroy completed").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    None,
    Cq(Id),
    Qp(Id),
    Srq(Id),
    Conn(Id),
    Request { listen: Id, conn: Id },
}

/// Limits the engine checks, copied out of the caps.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_transfer: u64,
    pub(crate) max_registration: u64,
    pub(crate) sink_right: bool,
    pub(crate) read_local_invalidate: bool,
}

/// One NIC as the fabric sees it.
pub(crate) struct NicState {
    pub(crate) addrs: Vec<IpAddr>,
    pub(crate) limits: Limits,
    pub(crate) loopback: bool,
    /// On the fabric: reachable by address, its QPs answer peers.
    pub(crate) plugged: bool,
    /// Set by `fatal()` / `remove()` (or dropping the NIC): control calls fail with it.
    pub(crate) dead: Option<HalError>,
    pub(crate) events: VecDeque<(HalEvent, Tag)>,
    pub(crate) handler: Option<Handler>,
    pub(crate) auto_interrupt: bool,
    /// Events were queued since the handler last ran.
    pub(crate) raise: bool,
    /// `fire_interrupt()` asked for a handler call.
    pub(crate) fire: bool,
    /// The handler is running; like a DPC it is not re-entered for the same NIC, but run
    /// again after it returns when more events came in meanwhile.
    pub(crate) in_handler: bool,
    pub(crate) script: Script,
}

/// A listening address.
pub(crate) struct Listener {
    pub(crate) nic: usize,
    pub(crate) addr: SocketAddr,
    pub(crate) ctx: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Active,
    Passive,
}

/// Connection state of one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmState {
    /// Active: request sent, no answer yet.
    Connecting,
    /// Passive: request received, not answered yet.
    Requested,
    /// Active: the peer accepted; waiting for `cm_complete` or `cm_reject`.
    Replied,
    /// Passive: accepted; waiting for the active side to complete.
    Accepted,
    Established,
    /// `local_done`: our own `cm_disconnect` ran (else only the peer disconnected).
    Disconnected {
        local_done: bool,
    },
    /// Refused, rejected, aborted or unreachable; only `cm_release` is left to do.
    Closed,
}

/// One side of a connection; its slab id is the `ConnId` its NIC knows it by.
pub(crate) struct Endpoint {
    pub(crate) nic: usize,
    pub(crate) role: Role,
    pub(crate) state: CmState,
    pub(crate) ctx: u64,
    pub(crate) qp: Option<Id>,
    pub(crate) peer: Option<Id>,
}

/// Everything on the fabric, under one lock.
pub(crate) struct World {
    pub(crate) nics: Vec<NicState>,
    pub(crate) pds: Slab<PdState>,
    pub(crate) cqs: Slab<CqState>,
    pub(crate) qps: Slab<QpState>,
    pub(crate) srqs: Slab<SrqState>,
    pub(crate) mem: KeyTable,
    pub(crate) listens: Slab<Listener>,
    pub(crate) conns: Slab<Endpoint>,
}

/// What a [`Fabric`] and its NICs share.
pub(crate) struct Shared {
    pub(crate) world: Mutex<World>,
    pub(crate) platform: MockPlatform,
}

/// A loopback network joining any number of [`super::MockNic`]s; routes connection
/// requests by IP address and connects QPs so data moves between them. Cheap to clone.
#[derive(Clone)]
pub struct Fabric {
    pub(crate) shared: Arc<Shared>,
}

impl Fabric {
    /// An empty fabric with its own [`MockPlatform`] (one clock for every NIC on it).
    pub fn new() -> Fabric {
        Fabric {
            shared: Arc::new(Shared {
                world: Mutex::new(World {
                    nics: Vec::new(),
                    pds: Slab::new(),
                    cqs: Slab::new(),
                    qps: Slab::new(),
                    srqs: Slab::new(),
                    mem: KeyTable::new(),
                    listens: Slab::new(),
                    conns: Slab::new(),
                }),
                platform: MockPlatform::new(),
            }),
        }
    }

    /// The platform every NIC on this fabric uses (advance its clock here).
    pub fn platform(&self) -> &MockPlatform {
        &self.shared.platform
    }
}

impl Default for Fabric {
    fn default() -> Self {
        Fabric::new()
    }
}

impl core::fmt::Debug for Fabric {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fabric")
            .field("nics", &self.shared.world.lock().nics.len())
            .finish()
    }
}

impl Shared {
    /// Calls the handlers of NICs with queued events, never under the lock, until none is
    /// due. Handlers may call back into any NIC; a NIC whose handler is already running
    /// further up the stack (or on another thread) is skipped, and that running call picks
    /// the new events up when its handler returns.
    pub(crate) fn deliver(&self) {
        loop {
            let due = self.world.lock().take_due_handler();
            let Some((n, handler)) = due else { return };
            handler();
            {
                let mut w = self.world.lock();
                if let Some(nic) = w.nics.get_mut(n) {
                    nic.in_handler = false;
                }
            }
            // Dropped outside the lock: the handler may own the last reference to a NIC.
            drop(handler);
        }
    }
}

impl NicState {
    pub(crate) fn new(addrs: &[IpAddr], caps: &DeviceCaps) -> NicState {
        NicState {
            addrs: addrs.to_vec(),
            limits: Limits {
                max_transfer: u64::from(caps.max_transfer_length),
                max_registration: caps.max_registration_size,
                sink_right: !caps.read_sink_not_required,
                read_local_invalidate: caps.read_local_invalidate,
            },
            loopback: caps.loopback_connections,
            plugged: true,
            dead: None,
            events: VecDeque::with_capacity(EVENT_QUEUE_RESERVE),
            handler: None,
            auto_interrupt: true,
            raise: false,
            fire: false,
            in_handler: false,
            script: Script::default(),
        }
    }
}

impl World {
    fn take_due_handler(&mut self) -> Option<(usize, Handler)> {
        for (n, nic) in self.nics.iter_mut().enumerate() {
            let due = nic.fire || (nic.auto_interrupt && nic.raise);
            if due && !nic.in_handler {
                if let Some(h) = nic.handler.clone() {
                    nic.in_handler = true;
                    nic.raise = false;
                    nic.fire = false;
                    return Some((n, h));
                }
            }
        }
        None
    }

    pub(crate) fn push_event(&mut self, nic: usize, ev: HalEvent, tag: Tag) {
        if let Some(s) = self.nics.get_mut(nic) {
            s.events.push_back((ev, tag));
            s.raise = true;
        }
    }

    /// Takes back queued events of a destroyed object.
    pub(crate) fn purge_events(&mut self, nic: usize, pred: impl Fn(&Tag) -> bool) {
        if let Some(s) = self.nics.get_mut(nic) {
            s.events.retain(|(_, t)| !pred(t));
        }
    }

    pub(crate) fn limits(&self, nic: usize) -> Option<Limits> {
        self.nics.get(nic).map(|s| s.limits)
    }

    /// The NIC on the fabric that owns `ip` (the first one, if several claim it).
    fn route(&self, ip: IpAddr) -> Option<usize> {
        self.nics
            .iter()
            .position(|s| s.plugged && s.addrs.contains(&ip))
    }

    // --- listening ----------------------------------------------------------------------

    pub(crate) fn cm_listen(&mut self, n: usize, addr: SocketAddr, ctx: u64) -> HalResult<Id> {
        let nic = self.nics.get(n).ok_or(HalError::InvalidState)?;
        if !addr.ip().is_unspecified() && !nic.addrs.contains(&addr.ip()) {
            return Err(HalError::InvalidParameter);
        }
        if self
            .listens
            .iter()
            .any(|(_, l)| l.nic == n && l.addr == addr)
        {
            return Err(HalError::AddressInUse);
        }
        self.listens.insert(Listener { nic: n, addr, ctx })
    }

    /// Stops a listener. Requests it queued that the provider has not taken yet are
    /// withdrawn and refused; requests already taken stay the provider's to answer.
    pub(crate) fn cm_stop_listen(&mut self, n: usize, l: Id) {
        if self.listens.remove(l).is_none() {
            return;
        }
        let Some(nic) = self.nics.get_mut(n) else {
            return;
        };
        let mut withdrawn = Vec::new();
        nic.events.retain(|(_, t)| match t {
            Tag::Request { listen, conn } if *listen == l => {
                withdrawn.push(*conn);
                false
            }
            _ => true,
        });
        for p in withdrawn {
            self.refuse_request(p, HalError::ConnectionRefused);
            self.conns.remove(p);
        }
    }

    /// A listener on NIC `t` for `addr`: exact address first, then a wildcard on the port.
    fn find_listener(&self, t: usize, addr: SocketAddr) -> Option<(Id, u64)> {
        let exact = self
            .listens
            .iter()
            .find(|(_, l)| l.nic == t && l.addr == addr);
        let wild = || {
            self.listens.iter().find(|(_, l)| {
                l.nic == t
                    && l.addr.ip().is_unspecified()
                    && l.addr.port() == addr.port()
                    && l.addr.is_ipv4() == addr.is_ipv4()
            })
        };
        exact.or_else(wild).map(|(id, l)| (id, l.ctx))
    }

    // --- connection helpers -------------------------------------------------------------

    /// The endpoint `c` names on NIC `n`.
    fn endpoint(&self, n: usize, c: ConnId) -> HalResult<Id> {
        let e = self.conns.conn(c).ok_or(HalError::InvalidParameter)?;
        match self.conns.get(e) {
            Some(ep) if ep.nic == n => Ok(e),
            _ => Err(HalError::InvalidParameter),
        }
    }

    fn ep(&self, e: Id) -> Option<&Endpoint> {
        self.conns.get(e)
    }

    /// `e`'s peer, when it still points back and is in `state`.
    fn peer_in(&self, e: Id, state: CmState) -> Option<Id> {
        let p = self.ep(e)?.peer?;
        let pe = self.ep(p)?;
        (pe.peer == Some(e) && pe.state == state).then_some(p)
    }

    fn cm_event(&mut self, e: Id, ev: impl FnOnce(u64) -> CmEvent) {
        let Some(ep) = self.conns.get(e) else { return };
        let (nic, ctx) = (ep.nic, ep.ctx);
        self.push_event(nic, HalEvent::Cm(ev(ctx)), Tag::Conn(e));
    }

    /// A QP that may be given to a connect or accept: this NIC's, unbound, never
    /// connected, not in error.
    fn qp_eligible(&self, n: usize, q: Id) -> HalResult<()> {
        let qp = self.qps.get(q).ok_or(HalError::InvalidParameter)?;
        if qp.nic != n {
            return Err(HalError::InvalidParameter);
        }
        if qp.conn.is_some() || qp.connected_once || qp.mode != QpMode::Reset {
            return Err(HalError::InvalidState);
        }
        Ok(())
    }

    fn bind_qp(&mut self, e: Id, q: Id) {
        let conn = e.to_conn();
        if let Some(qp) = self.qps.get_mut(q) {
            qp.conn = conn;
        }
        if let Some(ep) = self.conns.get_mut(e) {
            ep.qp = Some(q);
        }
    }

    /// Detaches the QP of `e` (it may be given to another connection attempt).
    fn unbind_qp(&mut self, e: Id) {
        let q = self.conns.get_mut(e).and_then(|ep| ep.qp.take());
        if let Some(qp) = q.and_then(|q| self.qps.get_mut(q)) {
            qp.conn = None;
        }
    }

    /// The handshake of `e` failed: closed, QP released, no peer.
    fn close_endpoint(&mut self, e: Id) {
        self.unbind_qp(e);
        if let Some(ep) = self.conns.get_mut(e) {
            ep.state = CmState::Closed;
            ep.peer = None;
        }
    }

    fn error_qp_of(&mut self, e: Id) {
        if let Some(q) = self.ep(e).and_then(|ep| ep.qp) {
            self.qp_to_error(q, false);
        }
    }

    /// The passive side `p` will not answer: its active peer fails with `error`.
    fn refuse_request(&mut self, p: Id, error: HalError) {
        if let Some(a) = self.peer_in(p, CmState::Connecting) {
            self.close_endpoint(a);
            self.cm_event(a, |ctx| CmEvent::ConnectFailed {
                ctx,
                error,
                private_data: PrivateData::EMPTY,
            });
        }
        self.close_endpoint(p);
    }

    /// Both ends of an established connection go down: QPs to error, peer told.
    fn break_connection(&mut self, e: Id, local_done: bool) {
        if let Some(ep) = self.conns.get_mut(e) {
            ep.state = CmState::Disconnected { local_done };
        }
        self.error_qp_of(e);
        if let Some(p) = self.peer_in(e, CmState::Established) {
            if let Some(pe) = self.conns.get_mut(p) {
                pe.state = CmState::Disconnected { local_done: false };
            }
            self.error_qp_of(p);
            self.cm_event(p, |ctx| CmEvent::PeerDisconnected { ctx, reason: 0 });
        }
    }

    /// `local` as the connection will use it: this NIC's address of `remote`'s family.
    fn local_addr(&self, n: usize, local: SocketAddr, remote: SocketAddr) -> HalResult<SocketAddr> {
        let nic = self.nics.get(n).ok_or(HalError::InvalidState)?;
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(HalError::InvalidParameter);
        }
        if local.ip().is_unspecified() {
            let ip = nic
                .addrs
                .iter()
                .find(|a| a.is_ipv4() == local.is_ipv4())
                .ok_or(HalError::InvalidParameter)?;
            return Ok(SocketAddr::new(*ip, local.port()));
        }
        if !nic.addrs.contains(&local.ip()) {
            return Err(HalError::InvalidParameter);
        }
        Ok(local)
    }

    // --- connection management ----------------------------------------------------------

    /// Starts a connection. Unreachable address: `ConnectFailed{Timeout}` (the request got
    /// no answer). No listener: `ConnectFailed{ConnectionRefused}`. Both are queued events;
    /// the call itself succeeds, like a real connect that fails later.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cm_connect(
        &mut self,
        n: usize,
        q: Id,
        local: SocketAddr,
        remote: SocketAddr,
        ird: u32,
        ord: u32,
        data: &[u8],
        ctx: u64,
    ) -> HalResult<ConnId> {
        let private_data = PrivateData::new(data).ok_or(HalError::InvalidParameter)?;
        self.qp_eligible(n, q)?;
        let local = self.local_addr(n, local, remote)?;
        let e = self.conns.insert(Endpoint {
            nic: n,
            role: Role::Active,
            state: CmState::Connecting,
            ctx,
            qp: None,
            peer: None,
        })?;
        let Some(conn) = e.to_conn() else {
            self.conns.remove(e);
            return Err(HalError::NoResources);
        };
        self.bind_qp(e, q);

        let loopback = self.nics.get(n).is_some_and(|s| s.loopback);
        let Some(t) = self.route(remote.ip()).filter(|&t| t != n || loopback) else {
            self.close_endpoint(e);
            self.cm_event(e, |ctx| CmEvent::ConnectFailed {
                ctx,
                error: HalError::Timeout,
                private_data: PrivateData::EMPTY,
            });
            return Ok(conn);
        };
        let Some((l, listen_ctx)) = self.find_listener(t, remote) else {
            self.close_endpoint(e);
            self.cm_event(e, |ctx| CmEvent::ConnectFailed {
                ctx,
                error: HalError::ConnectionRefused,
                private_data: PrivateData::EMPTY,
            });
            return Ok(conn);
        };
        let passive = Endpoint {
            nic: t,
            role: Role::Passive,
            state: CmState::Requested,
            ctx: 0,
            qp: None,
            peer: Some(e),
        };
        let Some((p, pconn)) = self
            .conns
            .insert(passive)
            .ok()
            .and_then(|p| Some((p, p.to_conn()?)))
        else {
            // The remote device is out of resources: it refuses.
            self.close_endpoint(e);
            self.cm_event(e, |ctx| CmEvent::ConnectFailed {
                ctx,
                error: HalError::ConnectionRefused,
                private_data: PrivateData::EMPTY,
            });
            return Ok(conn);
        };
        if let Some(ep) = self.conns.get_mut(e) {
            ep.peer = Some(p);
        }
        let ev = CmEvent::ConnectRequest {
            listen_ctx,
            conn: pconn,
            local: remote,
            remote: local,
            ird,
            ord,
            private_data,
        };
        self.push_event(t, HalEvent::Cm(ev), Tag::Request { listen: l, conn: p });
        Ok(conn)
    }

    pub(crate) fn cm_attach(&mut self, n: usize, c: ConnId, ctx: u64) {
        if let Ok(e) = self.endpoint(n, c) {
            if let Some(ep) = self.conns.get_mut(e) {
                ep.ctx = ctx;
            }
        }
    }

    /// Accepts; the active side gets `ConnectReply`. When the active side already gave up,
    /// `AcceptFailed{ConnectionAborted}` follows instead.
    pub(crate) fn cm_accept(
        &mut self,
        n: usize,
        c: ConnId,
        q: Id,
        ird: u32,
        ord: u32,
        data: &[u8],
    ) -> HalResult<()> {
        let private_data = PrivateData::new(data).ok_or(HalError::InvalidParameter)?;
        let e = self.endpoint(n, c)?;
        match self.ep(e) {
            Some(ep) if ep.role == Role::Passive && ep.state == CmState::Requested => {}
            _ => return Err(HalError::InvalidState),
        }
        self.qp_eligible(n, q)?;
        let Some(a) = self.peer_in(e, CmState::Connecting) else {
            self.close_endpoint(e);
            self.cm_event(e, |ctx| CmEvent::AcceptFailed {
                ctx,
                error: HalError::ConnectionAborted,
            });
            return Ok(());
        };
        self.bind_qp(e, q);
        if let Some(ep) = self.conns.get_mut(e) {
            ep.state = CmState::Accepted;
        }
        if let Some(ae) = self.conns.get_mut(a) {
            ae.state = CmState::Replied;
        }
        self.cm_event(a, |ctx| CmEvent::ConnectReply {
            ctx,
            ird,
            ord,
            private_data,
        });
        Ok(())
    }

    /// Passive side before accepting: the active side gets `ConnectFailed{ConnectionRefused}`
    /// with the private data. Active side after a reply: the passive side gets
    /// `AcceptFailed{ConnectionAborted}`.
    pub(crate) fn cm_reject(&mut self, n: usize, c: ConnId, data: &[u8]) -> HalResult<()> {
        let private_data = PrivateData::new(data).ok_or(HalError::InvalidParameter)?;
        let e = self.endpoint(n, c)?;
        let (role, state) = self
            .ep(e)
            .map(|ep| (ep.role, ep.state))
            .ok_or(HalError::InvalidParameter)?;
        match (role, state) {
            (Role::Passive, CmState::Requested) => {
                if let Some(a) = self.peer_in(e, CmState::Connecting) {
                    self.close_endpoint(a);
                    let error = HalError::ConnectionRefused;
                    self.cm_event(a, |ctx| CmEvent::ConnectFailed {
                        ctx,
                        error,
                        private_data,
                    });
                }
                self.close_endpoint(e);
            }
            (Role::Active, CmState::Replied) => {
                if let Some(p) = self.peer_in(e, CmState::Accepted) {
                    self.close_endpoint(p);
                    self.cm_event(p, |ctx| CmEvent::AcceptFailed {
                        ctx,
                        error: HalError::ConnectionAborted,
                    });
                }
                self.close_endpoint(e);
            }
            _ => return Err(HalError::InvalidState),
        }
        Ok(())
    }

    /// Active side: connects the two QPs; the passive side gets `Established`. WQEs posted
    /// before the connection start executing now.
    pub(crate) fn cm_complete(&mut self, n: usize, c: ConnId) -> HalResult<()> {
        let e = self.endpoint(n, c)?;
        match self.ep(e) {
            Some(ep) if ep.role == Role::Active && ep.state == CmState::Replied => {}
            _ => return Err(HalError::InvalidState),
        }
        let p = self
            .peer_in(e, CmState::Accepted)
            .ok_or(HalError::InvalidState)?;
        let qa = self.ep(e).and_then(|x| x.qp);
        let qb = self.ep(p).and_then(|x| x.qp);
        for (ep, mine, theirs) in [(e, qa, qb), (p, qb, qa)] {
            if let Some(x) = self.conns.get_mut(ep) {
                x.state = CmState::Established;
            }
            if let Some(qp) = mine.and_then(|q| self.qps.get_mut(q)) {
                qp.peer = theirs;
                qp.connected_once = true;
                if qp.mode == QpMode::Reset {
                    qp.mode = QpMode::Connected;
                }
            }
        }
        self.cm_event(p, |ctx| CmEvent::Established { ctx });
        for q in [qa, qb].into_iter().flatten() {
            self.progress(q);
        }
        Ok(())
    }

    /// Graceful disconnect: both QPs to error (flushing), the peer gets `PeerDisconnected`,
    /// we get `DisconnectComplete`. After the peer disconnected, completes at once.
    pub(crate) fn cm_disconnect(&mut self, n: usize, c: ConnId) -> HalResult<()> {
        let e = self.endpoint(n, c)?;
        match self.ep(e).map(|ep| ep.state) {
            Some(CmState::Established) => self.break_connection(e, true),
            Some(CmState::Disconnected { local_done: false }) => {
                if let Some(ep) = self.conns.get_mut(e) {
                    ep.state = CmState::Disconnected { local_done: true };
                }
                self.error_qp_of(e);
            }
            _ => return Err(HalError::InvalidState),
        }
        self.cm_event(e, |ctx| CmEvent::DisconnectComplete { ctx, error: None });
        Ok(())
    }

    /// Forgets a connection, aborting what is in progress (the peer hears of it as if
    /// rejected, aborted or disconnected), and takes back its queued events.
    pub(crate) fn cm_release(&mut self, n: usize, c: ConnId) {
        let Ok(e) = self.endpoint(n, c) else { return };
        let Some((role, state)) = self.ep(e).map(|ep| (ep.role, ep.state)) else {
            return;
        };
        match (role, state) {
            (Role::Passive, CmState::Requested) => {
                self.refuse_request(e, HalError::ConnectionRefused)
            }
            (Role::Active, CmState::Replied) => {
                if let Some(p) = self.peer_in(e, CmState::Accepted) {
                    self.close_endpoint(p);
                    self.cm_event(p, |ctx| CmEvent::AcceptFailed {
                        ctx,
                        error: HalError::ConnectionAborted,
                    });
                }
            }
            (Role::Passive, CmState::Accepted) => {
                if let Some(a) = self.peer_in(e, CmState::Replied) {
                    self.close_endpoint(a);
                    let error = HalError::ConnectionAborted;
                    self.cm_event(a, |ctx| CmEvent::ConnectFailed {
                        ctx,
                        error,
                        private_data: PrivateData::EMPTY,
                    });
                }
            }
            (_, CmState::Established) => self.break_connection(e, true),
            _ => {}
        }
        // Whatever is left of the peer (e.g. a passive side that has not accepted yet)
        // no longer points here.
        if let Some(p) = self.ep(e).and_then(|ep| ep.peer) {
            if let Some(pe) = self.conns.get_mut(p) {
                if pe.peer == Some(e) {
                    pe.peer = None;
                }
            }
        }
        self.unbind_qp(e);
        self.conns.remove(e);
        self.purge_events(
            n,
            |t| matches!(t, Tag::Conn(x) | Tag::Request { conn: x, .. } if *x == e),
        );
    }

    // --- device failure -----------------------------------------------------------------

    /// Every QP of NIC `n` to error (flushing); nothing is reported for them.
    fn error_all_qps(&mut self, n: usize) {
        for i in 0..self.qps.capacity_slots() {
            if let Some(q) = self.qps.id_at(i) {
                if self.qps.get(q).is_some_and(|qp| qp.nic == n) {
                    self.qp_to_error(q, false);
                }
            }
        }
    }

    /// `fatal()`: the device stops; its QPs flush. Peers find out when they next send
    /// (their requests complete with `RetryExceeded`).
    pub(crate) fn fatal(&mut self, n: usize) {
        if let Some(s) = self.nics.get_mut(n) {
            s.dead = Some(HalError::Fatal);
        }
        self.error_all_qps(n);
        self.push_event(n, HalEvent::DeviceFatal, Tag::None);
    }

    /// `remove()` (and dropping a NIC): off the fabric; its QPs flush; peers' outstanding
    /// sends complete with `RetryExceeded` (their QP reports `QpError`) and their
    /// connections report `PeerDisconnected` (or fail their handshake with `Timeout`).
    pub(crate) fn unplug(&mut self, n: usize, event: bool) {
        if let Some(s) = self.nics.get_mut(n) {
            s.plugged = false;
            s.dead = Some(HalError::DeviceRemoved);
        }
        self.error_all_qps(n);
        // Peers' waiting requests run into the dead peer now.
        for i in 0..self.qps.capacity_slots() {
            let Some(q) = self.qps.id_at(i) else { continue };
            let peer_here = self.qps.get(q).is_some_and(|qp| {
                qp.nic != n
                    && qp.mode == QpMode::Connected
                    && qp
                        .peer
                        .and_then(|p| self.qps.get(p))
                        .is_some_and(|p| p.nic == n)
            });
            if peer_here {
                self.progress(q);
            }
        }
        for i in 0..self.conns.capacity_slots() {
            let Some(x) = self.conns.id_at(i) else {
                continue;
            };
            if self.ep(x).is_none_or(|ep| ep.nic != n) {
                continue;
            }
            let Some(y) = self.ep(x).and_then(|ep| ep.peer) else {
                continue;
            };
            let Some(ystate) = self
                .ep(y)
                .filter(|ye| ye.nic != n && ye.peer == Some(x))
                .map(|ye| ye.state)
            else {
                continue;
            };
            match ystate {
                CmState::Established => {
                    if let Some(ye) = self.conns.get_mut(y) {
                        ye.state = CmState::Disconnected { local_done: false };
                        ye.peer = None;
                    }
                    self.cm_event(y, |ctx| CmEvent::PeerDisconnected { ctx, reason: 0 });
                }
                CmState::Connecting | CmState::Replied => {
                    self.close_endpoint(y);
                    let error = HalError::Timeout;
                    self.cm_event(y, |ctx| CmEvent::ConnectFailed {
                        ctx,
                        error,
                        private_data: PrivateData::EMPTY,
                    });
                }
                CmState::Accepted => {
                    self.close_endpoint(y);
                    self.cm_event(y, |ctx| CmEvent::AcceptFailed {
                        ctx,
                        error: HalError::Timeout,
                    });
                }
                _ => {
                    if let Some(ye) = self.conns.get_mut(y) {
                        ye.peer = None;
                    }
                }
            }
        }
        if event {
            self.push_event(n, HalEvent::DeviceRemoved, Tag::None);
        }
    }
}
