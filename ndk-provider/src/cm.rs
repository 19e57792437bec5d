//! Connection events from the device, routed to listeners and connectors (ndkpi.md §3
//! ConnectEvent / DisconnectEvent, §7.3).
//!
//! Called from the device's serialized event processing, so events of one connection are
//! handled in order and one at a time. Each event names its object by the context the
//! provider gave the HAL (the object's address); the context is looked up in the device's
//! table of live contexts and upgraded under that table's lock, which refuses objects whose
//! memory is going (see `endpoint`). No lock is held while a consumer callback runs.

use hal::{CmEvent, ConnId, NicHal};

use crate::callback;
use crate::connector::{self, ConnectorBody, Incoming};
use crate::device::Device;
use crate::endpoint::CmKind;
use crate::karc::KArc;
use crate::listener::ListenerBody;
use crate::object::{self, NdkObj, Obj};

/// A counted reference to the listener whose listen context is `ctx`, unless it is gone.
fn listener<H: NicHal>(dev: &Device<H>, ctx: u64) -> Option<Obj<ListenerBody<H>>> {
    let t = dev.ports.lock();
    if !t.is_live(ctx, CmKind::Listener) {
        return None;
    }
    // SAFETY: `ctx` is registered as a listener, so it is the address of a listener
    // allocation that is not freed: its teardown unregisters it under this lock before the
    // memory goes. `upgrade_raw` refuses it once its count reached zero.
    let l = unsafe { KArc::<NdkObj<ListenerBody<H>>>::upgrade_raw(ctx) };
    drop(t);
    l
}

/// A counted reference to the connector whose context is `ctx`, unless it is gone.
fn connector<H: NicHal>(dev: &Device<H>, ctx: u64) -> Option<Obj<ConnectorBody<H>>> {
    let t = dev.ports.lock();
    if !t.is_live(ctx, CmKind::Connector) {
        return None;
    }
    // SAFETY: as in `listener`, for a context registered as a connector.
    let c = unsafe { KArc::<NdkObj<ConnectorBody<H>>>::upgrade_raw(ctx) };
    drop(t);
    c
}

/// Routes one connection event (called by the device's event processing).
pub fn on_event<H: NicHal>(dev: &Device<H>, ev: CmEvent) {
    match ev {
        CmEvent::ConnectRequest {
            listen_ctx,
            conn,
            local,
            remote,
            ird,
            ord,
            private_data,
        } => {
            let req = Incoming {
                conn,
                local,
                remote,
                ird,
                ord,
                private_data,
            };
            connect_request(dev, listen_ctx, &req);
        }
        CmEvent::ConnectReply {
            ctx,
            ird,
            ord,
            private_data,
        } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_connect_reply(&c, ird, ord, private_data);
            }
        }
        CmEvent::ConnectFailed {
            ctx,
            error,
            private_data,
        } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_connect_failed(&c, error, private_data);
            }
        }
        CmEvent::Established { ctx } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_established(&c);
            }
        }
        CmEvent::AcceptFailed { ctx, error } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_accept_failed(&c, error);
            }
        }
        CmEvent::PeerDisconnected { ctx, reason } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_peer_disconnected(&c, reason);
            }
        }
        CmEvent::DisconnectComplete { ctx, error } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_disconnect_complete(&c, error);
            }
        }
    }
}

/// Refuses a request as if nobody listened (ndkpi.md §4.9).
fn refuse<H: NicHal>(dev: &Device<H>, conn: ConnId) {
    // Nothing more to do if the peer is already gone.
    let _ = dev.hal().cm_reject(conn, &[]);
    // No connector will ever own this connection: the device can forget it now.
    dev.hal().cm_release(conn);
}

/// `ConnectRequest` (ndkpi.md §3 ConnectEvent, §7.3 passive 2): a new connector for the
/// request, handed to the listener's ConnectEvent callback; the consumer owns it from then
/// on and closes it. Refused when the listener is gone, closing or paused, or when the
/// connector cannot be allocated.
fn connect_request<H: NicHal>(dev: &Device<H>, listen_ctx: u64, req: &Incoming) {
    let Some(l) = listener(dev, listen_ctx) else {
        refuse(dev, req.conn);
        return;
    };
    // ndkpi.md §7.1: no new connect events once the consumer closed the listener.
    let port = if l.is_closing() { None } else { l.body.admit() };
    let Some(port) = port else {
        refuse(dev, req.conn);
        return;
    };
    let c = match connector::new_passive(&l, req, port) {
        Ok(c) => c,
        Err(_) => {
            refuse(dev, req.conn);
            return;
        }
    };
    dev.hal().cm_attach(req.conn, connector::context(&c));
    let cb = l.body.connect_callback();
    let p = object::publish(c);
    callback::connect_event(cb, p.cast());
    // Our listener reference goes only after the callback returned, so a close issued
    // meanwhile completes after it (ndkpi.md §7.1).
    drop(l);
}

#[cfg(test)]
mod tests {
    //! Connection management end to end on two mock NICs, through the dispatch tables.
    //! Every test closes every object it creates, then each adapter, and checks that the
    //! device is left with no object and no bound port (under Miri, that nothing leaks).
    extern crate std;

    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::ffi::c_void;
    use core::net::SocketAddr;
    use core::ptr::null_mut;
    use std::sync::Mutex;

    use hal::mock::{default_caps, Fabric, LiveObjects, MockNic, MockPlatform};

    use crate::abi::*;
    use crate::adapter::AdapterBody;
    use crate::karc::KArc;
    use crate::{adapter, edge, object, Device};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Ev {
        Request(NTSTATUS),
        Close,
        Connect(usize),
        Disconnect,
        DisconnectEx(u32),
    }

    /// A consumer callback context recording what the provider reported.
    struct Rec(Mutex<Vec<Ev>>, MockPlatform);

    impl Rec {
        /// Shared (`Arc`): the provider keeps its address as a callback context, and an
        /// `Arc` may move without invalidating that address's provenance (a `Box` may not).
        fn new(f: &Fabric) -> Arc<Rec> {
            Arc::new(Rec(Mutex::new(Vec::new()), f.platform().clone()))
        }
        fn ctx(&self) -> *mut c_void {
            self as *const Rec as *mut c_void
        }
        /// Lets the device's DPC run (events are never delivered inside a provider call),
        /// then takes what was recorded.
        fn take(&self) -> Vec<Ev> {
            self.1.run_deferred();
            core::mem::take(&mut *self.0.lock().expect("lock"))
        }
        fn push(ctx: *mut c_void, e: Ev) {
            // SAFETY: tests pass only `Rec::ctx` of recorders that outlive the objects.
            unsafe { &*(ctx as *const Rec) }
                .0
                .lock()
                .expect("lock")
                .push(e);
        }
    }

    unsafe extern "system" fn on_request(ctx: *mut c_void, s: NTSTATUS) {
        Rec::push(ctx, Ev::Request(s));
    }
    unsafe extern "system" fn on_close(ctx: *mut c_void) {
        Rec::push(ctx, Ev::Close);
    }
    unsafe extern "system" fn on_connect(ctx: *mut c_void, c: *mut NDK_CONNECTOR) {
        Rec::push(ctx, Ev::Connect(c as usize));
    }
    unsafe extern "system" fn on_disconnect(ctx: *mut c_void) {
        Rec::push(ctx, Ev::Disconnect);
    }
    unsafe extern "system" fn on_disconnect_ex(ctx: *mut c_void, reason: u32) {
        Rec::push(ctx, Ev::DisconnectEx(reason));
    }

    struct Node {
        nic: Arc<MockNic>,
        dev: KArc<Device<MockNic>>,
        adapter: *mut NDK_ADAPTER,
    }

    fn node(f: &Fabric, ip: &str) -> Node {
        let nic = MockNic::new(f, default_caps(), &[ip.parse().expect("ip")]);
        let dev = Device::try_new(nic.clone()).expect("device");
        let adapter = adapter::open(&dev, NDK_VERSION::new(2, 1)).expect("open");
        Node { nic, dev, adapter }
    }

    /// Closes the adapter of a node whose objects are all closed, and checks that the device
    /// is left with no object and no bound port.
    fn finish(n: Node) {
        {
            // `adapter::close` would wait forever for an object left open: fail instead.
            // SAFETY: the adapter is open; the borrow ends before it is closed.
            let a =
                unsafe { object::borrow::<AdapterBody<MockNic>, _>(n.adapter) }.expect("adapter");
            assert_eq!(KArc::count(&a), 1, "objects of the adapter left open");
        }
        // SAFETY: open, and every object created on it is closed.
        unsafe { adapter::close::<MockNic>(n.adapter) };
        assert_eq!(
            n.nic.live_objects(),
            LiveObjects::default(),
            "device objects left after every object and the adapter closed"
        );
        assert_eq!(n.dev.ports.lock().bound_ports(), 0, "ports left bound");
    }

    /// The dispatch table of an object.
    unsafe fn t<'a, O, D>(obj: *mut O) -> &'a D {
        // SAFETY: every NDK object is `{ Header, Dispatch }`, Dispatch at +0x28.
        unsafe { &**(obj.cast::<u8>().add(0x28).cast::<*const D>()) }
    }

    fn sa(s: &str) -> ([u8; 28], u32) {
        let a: SocketAddr = s.parse().expect("addr");
        edge::sockaddr_bytes(&a)
    }

    unsafe fn close<O>(obj: *mut O, rec: &Rec) -> NTSTATUS {
        // SAFETY: slot 0 of every table but the adapter's is the close.
        unsafe {
            let close: NDK_FN_CLOSE_OBJECT = *(*(obj
                .cast::<u8>()
                .add(0x28)
                .cast::<*const NDK_FN_CLOSE_OBJECT>()));
            close(obj.cast(), Some(on_close), rec.ctx())
        }
    }

    /// A QP on two CQs of its own, with its PD.
    #[derive(Clone, Copy)]
    struct Qp {
        qp: *mut NDK_QP,
        cq: [*mut NDK_CQ; 2],
        pd: *mut NDK_PD,
    }

    unsafe fn qp(n: &Node) -> Qp {
        unsafe {
            let a: &NDK_ADAPTER_DISPATCH = t(n.adapter);
            let (mut c1, mut c2, mut pd, mut qp) = (null_mut(), null_mut(), null_mut(), null_mut());
            assert_eq!(
                (a.NdkCreateCq)(
                    n.adapter,
                    64,
                    None,
                    null_mut(),
                    null_mut(),
                    None,
                    null_mut(),
                    &mut c1
                ),
                0
            );
            assert_eq!(
                (a.NdkCreateCq)(
                    n.adapter,
                    64,
                    None,
                    null_mut(),
                    null_mut(),
                    None,
                    null_mut(),
                    &mut c2
                ),
                0
            );
            assert_eq!((a.NdkCreatePd)(n.adapter, None, null_mut(), &mut pd), 0);
            let p: &NDK_PD_DISPATCH = t(pd);
            let s = (p.NdkCreateQp)(
                pd,
                c1,
                c2,
                null_mut(),
                16,
                16,
                2,
                2,
                0,
                None,
                null_mut(),
                &mut qp,
            );
            assert_eq!(s, STATUS_SUCCESS);
            Qp {
                qp,
                cq: [c1, c2],
                pd,
            }
        }
    }

    /// Closes a QP, then its CQs and PD: at once, since the connector that used the QP is
    /// closed and the QP's close released the CQs and the PD.
    unsafe fn close_qp(q: Qp, rec: &Rec) {
        unsafe {
            assert_eq!(close(q.qp, rec), STATUS_SUCCESS);
            for o in [q.cq[0].cast::<c_void>(), q.cq[1].cast(), q.pd.cast()] {
                assert_eq!(close(o, rec), STATUS_SUCCESS);
            }
        }
    }

    unsafe fn listener(n: &Node, rec: &Rec, addr: &str) -> (*mut NDK_LISTENER, NTSTATUS) {
        unsafe {
            let a: &NDK_ADAPTER_DISPATCH = t(n.adapter);
            let mut l = null_mut();
            let s = (a.NdkCreateListener)(
                n.adapter,
                Some(on_connect),
                rec.ctx(),
                None,
                null_mut(),
                &mut l,
            );
            assert_eq!(s, STATUS_SUCCESS);
            let (b, len) = sa(addr);
            let lt: &NDK_LISTENER_DISPATCH = t(l);
            (
                l,
                (lt.NdkListen)(l, b.as_ptr().cast(), len, Some(on_request), rec.ctx()),
            )
        }
    }

    unsafe fn connector(n: &Node) -> *mut NDK_CONNECTOR {
        unsafe {
            let a: &NDK_ADAPTER_DISPATCH = t(n.adapter);
            let mut c = null_mut();
            assert_eq!(
                (a.NdkCreateConnector)(n.adapter, None, null_mut(), &mut c),
                STATUS_SUCCESS
            );
            c
        }
    }

    unsafe fn connect(
        c: *mut NDK_CONNECTOR,
        qp: *mut NDK_QP,
        src: &str,
        dst: &str,
        data: &[u8],
        rec: &Rec,
    ) -> NTSTATUS {
        unsafe {
            let ct: &NDK_CONNECTOR_DISPATCH = t(c);
            let ((s, sl), (d, dl)) = (sa(src), sa(dst));
            (ct.NdkConnect)(
                c,
                qp,
                s.as_ptr().cast(),
                sl,
                d.as_ptr().cast(),
                dl,
                8,
                32,
                data.as_ptr().cast(),
                data.len() as u32,
                Some(on_request),
                rec.ctx(),
            )
        }
    }

    unsafe fn local_addr<O>(
        obj: *mut O,
        f: unsafe extern "system" fn(*mut O, *mut SOCKADDR, *mut u32) -> NTSTATUS,
    ) -> Result<SocketAddr, NTSTATUS> {
        let mut buf = [0u8; 28];
        let mut len = 28u32;
        // SAFETY: a 28-byte buffer and its length.
        let s = unsafe { f(obj, buf.as_mut_ptr().cast(), &mut len) };
        if s != STATUS_SUCCESS {
            return Err(s);
        }
        // SAFETY: `len` bytes were written.
        unsafe { edge::sockaddr(buf.as_ptr().cast(), len) }.ok_or(STATUS_INVALID_PARAMETER)
    }

    fn connect_event(rec: &Rec) -> *mut NDK_CONNECTOR {
        match rec.take().as_slice() {
            [Ev::Connect(c)] => *c as *mut NDK_CONNECTOR,
            other => panic!("expected one connect event, got {other:?}"),
        }
    }

    /// Two nodes connected 10.0.0.1 → 10.0.0.2:445 (active A with Ex callbacks, passive B).
    struct Pair {
        a: Node,
        b: Node,
        ra: Arc<Rec>,
        rb: Arc<Rec>,
        ca: *mut NDK_CONNECTOR,
        cb: *mut NDK_CONNECTOR,
        l: *mut NDK_LISTENER,
        qa: Qp,
        qb: Qp,
    }

    fn pair(f: &Fabric) -> Pair {
        let (a, b) = (node(f, "10.0.0.1"), node(f, "10.0.0.2"));
        let (ra, rb) = (Rec::new(f), Rec::new(f));
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let (qa, qb) = (qp(&a), qp(&b));
            let (l, s) = listener(&b, &rb, "10.0.0.2:445");
            assert_eq!(s, STATUS_SUCCESS);
            let ca = connector(&a);
            assert_eq!(
                connect(ca, qa.qp, "10.0.0.1:0", "10.0.0.2:445", b"hi", &ra),
                STATUS_PENDING
            );
            let cb = connect_event(&rb);
            let ct: &NDK_CONNECTOR_DISPATCH = t(cb);
            let s = (ct.NdkAccept)(
                cb,
                qb.qp,
                4,
                2,
                b"ok!".as_ptr().cast(),
                3,
                Some(on_disconnect),
                rb.ctx(),
                Some(on_request),
                rb.ctx(),
            );
            assert_eq!(s, STATUS_PENDING);
            assert_eq!(ra.take(), [Ev::Request(STATUS_SUCCESS)]);
            assert_eq!(rb.take(), []);
            let s = (ct.NdkCompleteConnectEx)(
                ca,
                Some(on_disconnect_ex),
                ra.ctx(),
                Some(on_request),
                ra.ctx(),
            );
            assert_eq!(s, STATUS_SUCCESS);
            assert_eq!(ra.take(), []);
            assert_eq!(
                rb.take(),
                [Ev::Request(STATUS_SUCCESS)],
                "accept completes on Established"
            );
            Pair {
                a,
                b,
                ra,
                rb,
                ca,
                cb,
                l,
                qa,
                qb,
            }
        }
    }

    /// Closes everything of a pair, the active connector first, then the adapters; returns
    /// what each side heard meanwhile.
    unsafe fn close_pair(p: Pair) -> (Vec<Ev>, Vec<Ev>) {
        let (ea, eb);
        // SAFETY: every object of the pair is open; each is closed once.
        unsafe {
            assert_eq!(close(p.ca, &p.ra), STATUS_SUCCESS);
            // Runs the DPC: the passive side hears of the close before its own.
            ea = p.ra.take();
            assert_eq!(close(p.cb, &p.rb), STATUS_SUCCESS);
            assert_eq!(close(p.l, &p.rb), STATUS_SUCCESS);
            eb = p.rb.take();
            close_qp(p.qa, &p.ra);
            close_qp(p.qb, &p.rb);
        }
        assert_eq!((p.ra.take(), p.rb.take()), (Vec::new(), Vec::new()));
        finish(p.a);
        finish(p.b);
        (ea, eb)
    }

    #[test]
    fn listen_binds_checks_and_reports_its_address() {
        let f = Fabric::new();
        let n = node(&f, "10.0.0.2");
        let r = Rec::new(&f);
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let a: &NDK_ADAPTER_DISPATCH = t(n.adapter);
            let mut l = null_mut();
            assert_eq!(
                (a.NdkCreateListener)(
                    n.adapter,
                    Some(on_connect),
                    r.ctx(),
                    None,
                    null_mut(),
                    &mut l
                ),
                0
            );
            let lt: &NDK_LISTENER_DISPATCH = t(l);
            assert_eq!(
                local_addr(l, lt.NdkGetLocalAddress),
                Err(STATUS_INVALID_DEVICE_STATE)
            );
            let (b, len) = sa("10.9.9.9:445");
            assert_eq!(
                (lt.NdkListen)(l, b.as_ptr().cast(), len, Some(on_request), r.ctx()),
                STATUS_INVALID_ADDRESS
            );
            let (b, len) = sa("10.0.0.2:0");
            assert_eq!(
                (lt.NdkListen)(l, b.as_ptr().cast(), len, Some(on_request), r.ctx()),
                STATUS_SUCCESS
            );
            let got = local_addr(l, lt.NdkGetLocalAddress).expect("address");
            assert!(got.port() >= 49152, "ephemeral port, got {got}");
            // Too small a buffer: BUFFER_TOO_SMALL and the size.
            let mut small = 4u32;
            let mut buf = [0u8; 4];
            assert_eq!(
                (lt.NdkGetLocalAddress)(l, buf.as_mut_ptr().cast(), &mut small),
                STATUS_BUFFER_TOO_SMALL
            );
            assert_eq!(small, 16);
            // The same address:port again, and a wildcard on that port, are in use.
            let (l2, s) = listener(&n, &r, &alloc::format!("10.0.0.2:{}", got.port()));
            assert_eq!(s, STATUS_SHARING_VIOLATION);
            let (l3, s) = listener(&n, &r, &alloc::format!("0.0.0.0:{}", got.port()));
            assert_eq!(s, STATUS_SHARING_VIOLATION);
            assert_eq!(r.take(), [], "listen never pends");
            for x in [l, l2, l3] {
                assert_eq!(close(x, &r), STATUS_SUCCESS);
            }
            assert_eq!(n.nic.live_objects().listen, 0);
            assert_eq!(n.dev.ports.lock().bound_ports(), 0);
            assert_eq!(r.take(), []);
        }
        finish(n);
    }

    #[test]
    fn connect_accept_exchange_private_data_and_read_limits() {
        let f = Fabric::new();
        let p = pair(&f);
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let ct: &NDK_CONNECTOR_DISPATCH = t(p.ca);
            // Passive side saw the caller's data; active side the callee's (§7.3 rules).
            let (mut ird, mut ord, mut len) = (0u32, 0u32, 0u32);
            assert_eq!(
                (ct.NdkGetConnectionData)(p.ca, &mut ird, &mut ord, null_mut(), &mut len),
                STATUS_SUCCESS
            );
            assert_eq!(len, 3, "NULL buffer, length 0: the required size");
            // Effective: IRD = min(8, 16, peer ORD 2), ORD = min(32→16, peer IRD 4).
            assert_eq!((ird, ord), (2, 4));
            let mut buf = [0u8; 8];
            let mut len = 2u32;
            let s = (ct.NdkGetConnectionData)(
                p.ca,
                null_mut(),
                null_mut(),
                buf.as_mut_ptr().cast(),
                &mut len,
            );
            assert_eq!(
                (s, len, &buf[..2]),
                (STATUS_BUFFER_TOO_SMALL, 3, &b"ok"[..])
            );
            let mut len = 8u32;
            let s = (ct.NdkGetConnectionData)(
                p.ca,
                null_mut(),
                null_mut(),
                buf.as_mut_ptr().cast(),
                &mut len,
            );
            assert_eq!((s, len, &buf[..3]), (STATUS_SUCCESS, 3, &b"ok!"[..]));
            let mut len = 8u32;
            let s = (ct.NdkGetConnectionData)(
                p.cb,
                null_mut(),
                null_mut(),
                buf.as_mut_ptr().cast(),
                &mut len,
            );
            assert_eq!((s, len, &buf[..2]), (STATUS_SUCCESS, 2, &b"hi"[..]));
            // Addresses.
            let la = local_addr(p.ca, ct.NdkGetLocalAddress).expect("local");
            assert_eq!(
                la.ip(),
                "10.0.0.1".parse::<core::net::IpAddr>().expect("ip")
            );
            assert!(la.port() >= 49152);
            assert_eq!(
                local_addr(p.ca, ct.NdkGetPeerAddress),
                Ok("10.0.0.2:445".parse().expect("a"))
            );
            assert_eq!(local_addr(p.cb, ct.NdkGetPeerAddress), Ok(la));
            assert_eq!(
                local_addr(p.cb, ct.NdkGetLocalAddress),
                Ok("10.0.0.2:445".parse().expect("a"))
            );
            // Handshake steps out of order.
            assert_eq!(
                (ct.NdkCompleteConnect)(p.ca, None, null_mut(), None, null_mut()),
                STATUS_CONNECTION_INVALID
            );
            assert_eq!(
                (ct.NdkReject)(p.cb, null_mut(), 0),
                STATUS_CONNECTION_INVALID
            );
            assert_eq!(
                connect(p.ca, p.qa.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &p.ra),
                STATUS_CONNECTION_ACTIVE
            );
            // Closing the active side of the connection: the passive side hears of it.
            let (ea, eb) = close_pair(p);
            assert_eq!(ea, []);
            assert_eq!(eb, [Ev::Disconnect]);
        }
    }

    #[test]
    fn passive_side_reports_the_peer_limits_before_accept() {
        let f = Fabric::new();
        let (a, b) = (node(&f, "10.0.0.1"), node(&f, "10.0.0.2"));
        let (ra, rb) = (Rec::new(&f), Rec::new(&f));
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let (l, s) = listener(&b, &rb, "10.0.0.2:445");
            assert_eq!(s, STATUS_SUCCESS);
            let ca = connector(&a);
            let qa = qp(&a);
            // Connect asks IRD 8, ORD 32 (clamped to 16).
            assert_eq!(
                connect(ca, qa.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &ra),
                STATUS_PENDING
            );
            let cb = connect_event(&rb);
            let ct: &NDK_CONNECTOR_DISPATCH = t(cb);
            let (mut ird, mut ord, mut len) = (0u32, 0u32, 0u32);
            assert_eq!(
                (ct.NdkGetConnectionData)(cb, &mut ird, &mut ord, null_mut(), &mut len),
                STATUS_SUCCESS
            );
            assert_eq!(
                (ird, ord, len),
                (16, 8, 0),
                "IRD ← peer ORD, ORD ← peer IRD, clamped"
            );
            // The request closed unanswered: the active side's connect fails.
            assert_eq!(close(cb, &rb), STATUS_SUCCESS);
            assert_eq!(ra.take(), [Ev::Request(STATUS_CONNECTION_REFUSED)]);
            assert_eq!(close(ca, &ra), STATUS_SUCCESS);
            assert_eq!(close(l, &rb), STATUS_SUCCESS);
            close_qp(qa, &ra);
            assert_eq!((ra.take(), rb.take()), (Vec::new(), Vec::new()));
        }
        finish(a);
        finish(b);
    }

    #[test]
    fn reject_refuses_with_private_data_and_pause_refuses_silently() {
        let f = Fabric::new();
        let (a, b) = (node(&f, "10.0.0.1"), node(&f, "10.0.0.2"));
        let (ra, rb) = (Rec::new(&f), Rec::new(&f));
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let (l, s) = listener(&b, &rb, "10.0.0.2:445");
            assert_eq!(s, STATUS_SUCCESS);
            let qa = qp(&a);
            let ca = connector(&a);
            assert_eq!(
                connect(ca, qa.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &ra),
                STATUS_PENDING
            );
            let cb = connect_event(&rb);
            let ct: &NDK_CONNECTOR_DISPATCH = t(cb);
            assert_eq!(
                (ct.NdkReject)(cb, b"busy".as_ptr().cast(), 4),
                STATUS_SUCCESS
            );
            assert_eq!(ra.take(), [Ev::Request(STATUS_CONNECTION_REFUSED)]);
            let mut buf = [0u8; 8];
            let mut len = 8u32;
            let s = (ct.NdkGetConnectionData)(
                ca,
                null_mut(),
                null_mut(),
                buf.as_mut_ptr().cast(),
                &mut len,
            );
            assert_eq!(
                (s, &buf[..len as usize]),
                (STATUS_SUCCESS, &b"busy"[..]),
                "reject data stays readable"
            );
            assert_eq!(close(cb, &rb), STATUS_SUCCESS);
            assert_eq!(close(ca, &ra), STATUS_SUCCESS);

            // Paused: refused as if nobody listened; resumed: delivered again.
            let lt: &NDK_LISTENER_DISPATCH = t(l);
            (lt.NdkControlConnectEvents)(l, 1);
            let ca = connector(&a);
            assert_eq!(
                connect(ca, qa.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &ra),
                STATUS_PENDING
            );
            assert_eq!(ra.take(), [Ev::Request(STATUS_CONNECTION_REFUSED)]);
            assert_eq!(rb.take(), []);
            assert_eq!(close(ca, &ra), STATUS_SUCCESS);
            assert_eq!(
                (a.nic.live_objects().conn, b.nic.live_objects().conn),
                (0, 0),
                "the request refused while paused is released"
            );
            (lt.NdkControlConnectEvents)(l, 0);
            let ca = connector(&a);
            assert_eq!(
                connect(ca, qa.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &ra),
                STATUS_PENDING
            );
            let cb = connect_event(&rb);

            // No listener on the port; an address nobody owns.
            let c2 = connector(&a);
            let q2 = qp(&a);
            assert_eq!(
                connect(c2, q2.qp, "10.0.0.1:0", "10.0.0.2:446", b"", &ra),
                STATUS_PENDING
            );
            assert_eq!(ra.take(), [Ev::Request(STATUS_CONNECTION_REFUSED)]);
            let c3 = connector(&a);
            let q3 = qp(&a);
            assert_eq!(
                connect(c3, q3.qp, "10.0.0.1:0", "10.0.0.7:445", b"", &ra),
                STATUS_PENDING
            );
            assert_eq!(ra.take(), [Ev::Request(STATUS_IO_TIMEOUT)]);

            // The connect still waiting for an answer is cancelled by its close; the request
            // it left on the passive side then closes quietly.
            assert_eq!(close(ca, &ra), STATUS_SUCCESS);
            assert_eq!(ra.take(), [Ev::Request(STATUS_CANCELLED)]);
            assert_eq!(close(cb, &rb), STATUS_SUCCESS);
            for c in [c2, c3] {
                assert_eq!(close(c, &ra), STATUS_SUCCESS);
            }
            assert_eq!(close(l, &rb), STATUS_SUCCESS);
            for q in [qa, q2, q3] {
                close_qp(q, &ra);
            }
            assert_eq!((ra.take(), rb.take()), (Vec::new(), Vec::new()));
        }
        finish(a);
        finish(b);
    }

    #[test]
    fn connect_validates_before_anything_happens() {
        let f = Fabric::new();
        let a = node(&f, "10.0.0.1");
        let r = Rec::new(&f);
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let (c, q) = (connector(&a), qp(&a));
            let big = [0u8; 57];
            assert_eq!(
                connect(c, q.qp, "10.0.0.1:0", "10.0.0.2:445", &big, &r),
                STATUS_INVALID_PARAMETER
            );
            assert_eq!(
                connect(c, q.qp, "10.0.0.1:0", "[::1]:445", b"", &r),
                STATUS_INVALID_PARAMETER
            );
            assert_eq!(
                connect(c, q.qp, "10.0.0.1:0", "0.0.0.0:445", b"", &r),
                STATUS_INVALID_PARAMETER
            );
            assert_eq!(
                connect(c, q.qp, "10.0.0.9:0", "10.0.0.2:445", b"", &r),
                STATUS_INVALID_ADDRESS
            );
            // A port in use by a listener.
            let (l, s) = listener(&a, &r, "10.0.0.1:5000");
            assert_eq!(s, STATUS_SUCCESS);
            assert_eq!(
                connect(c, q.qp, "10.0.0.1:5000", "10.0.0.2:445", b"", &r),
                STATUS_SHARING_VIOLATION
            );
            // Nothing stuck: the connector is still usable, and a QP serves one connector.
            assert_eq!(
                connect(c, q.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &r),
                STATUS_PENDING
            );
            let c2 = connector(&a);
            assert_eq!(
                connect(c2, q.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &r),
                STATUS_CONNECTION_ACTIVE
            );
            assert_eq!(r.take(), [Ev::Request(STATUS_IO_TIMEOUT)]);
            let ct: &NDK_CONNECTOR_DISPATCH = t(c);
            assert_eq!(
                local_addr(c2, ct.NdkGetLocalAddress),
                Err(STATUS_INVALID_DEVICE_STATE)
            );
            for x in [c2, c] {
                assert_eq!(close(x, &r), STATUS_SUCCESS);
            }
            assert_eq!(close(l, &r), STATUS_SUCCESS);
            close_qp(q, &r);
            assert_eq!(r.take(), []);
        }
        finish(a);
    }

    #[test]
    fn disconnect_flushes_and_the_peer_hears_once() {
        let f = Fabric::new();
        let p = pair(&f);
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let ct: &NDK_CONNECTOR_DISPATCH = t(p.ca);
            let s = (ct.NdkDisconnect)(p.ca, Some(on_request), p.ra.ctx());
            assert_eq!(s, STATUS_PENDING);
            assert_eq!(
                p.ra.take(),
                [Ev::Request(STATUS_SUCCESS)],
                "completes, no disconnect event for our own"
            );
            assert_eq!(p.rb.take(), [Ev::Disconnect], "the peer's disconnect event");
            // The peer disconnects after the fact: flush and SUCCESS at once.
            assert_eq!(
                (ct.NdkDisconnect)(p.cb, Some(on_request), p.rb.ctx()),
                STATUS_SUCCESS
            );
            assert_eq!(
                (ct.NdkDisconnect)(p.cb, Some(on_request), p.rb.ctx()),
                STATUS_CONNECTION_INVALID
            );
            assert_eq!(p.rb.take(), []);
            // Posts now fail inline.
            let qt: &NDK_QP_DISPATCH = t(p.qa.qp);
            let sge = NDK_SGE {
                Address: NDK_SGE_ADDRESS { LogicalAddress: 0 },
                Length: 0,
                MemoryRegionToken: 0,
            };
            assert_eq!(
                (qt.NdkSend)(p.qa.qp, null_mut(), &sge, 0, 0),
                STATUS_CONNECTION_INVALID
            );
            // Disconnected: the closes tell nobody anything more.
            let (ea, eb) = close_pair(p);
            assert_eq!(ea, []);
            assert_eq!(eb, []);
        }
    }

    #[test]
    fn close_cancels_a_pending_connect_before_it_completes() {
        let f = Fabric::new();
        let (a, b) = (node(&f, "10.0.0.1"), node(&f, "10.0.0.2"));
        let (ra, rb) = (Rec::new(&f), Rec::new(&f));
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let (l, s) = listener(&b, &rb, "10.0.0.2:445");
            assert_eq!(s, STATUS_SUCCESS);
            let ca = connector(&a);
            let qa = qp(&a);
            assert_eq!(
                connect(ca, qa.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &ra),
                STATUS_PENDING
            );
            let cb = connect_event(&rb);
            assert_eq!(close(ca, &ra), STATUS_SUCCESS);
            assert_eq!(ra.take(), [Ev::Request(STATUS_CANCELLED)]);
            // The passive side's Accept then fails: the active side is gone.
            let ct: &NDK_CONNECTOR_DISPATCH = t(cb);
            let qb = qp(&b);
            let s = (ct.NdkAccept)(
                cb,
                qb.qp,
                1,
                1,
                null_mut(),
                0,
                None,
                null_mut(),
                Some(on_request),
                rb.ctx(),
            );
            assert!(
                s == STATUS_CONNECTION_ABORTED
                    || (s == STATUS_PENDING
                        && rb.take() == [Ev::Request(STATUS_CONNECTION_ABORTED)]),
                "{s:#x}"
            );
            assert_eq!(close(cb, &rb), STATUS_SUCCESS);
            assert_eq!(a.nic.live_objects().conn, 0);
            assert_eq!(close(l, &rb), STATUS_SUCCESS);
            close_qp(qa, &ra);
            close_qp(qb, &rb);
            assert_eq!((ra.take(), rb.take()), (Vec::new(), Vec::new()));
        }
        finish(a);
        finish(b);
    }

    #[test]
    fn listener_close_pends_while_its_connectors_live_and_keeps_the_port() {
        let f = Fabric::new();
        let p = pair(&f);
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            assert_eq!(close(p.l, &p.rb), STATUS_PENDING);
            assert_eq!(
                p.b.nic.live_objects().listen,
                0,
                "stopped listening at once"
            );
            let (l2, s) = listener(&p.b, &p.rb, "10.0.0.2:445");
            assert_eq!(s, STATUS_SHARING_VIOLATION, "port still busy");
            // New requests are refused.
            let c2 = connector(&p.a);
            let q2 = qp(&p.a);
            assert_eq!(
                connect(c2, q2.qp, "10.0.0.1:0", "10.0.0.2:445", b"", &p.ra),
                STATUS_PENDING
            );
            assert_eq!(p.ra.take(), [Ev::Request(STATUS_CONNECTION_REFUSED)]);
            // Closing the accepted connector completes the listener close and frees the port.
            assert_eq!(close(p.cb, &p.rb), STATUS_SUCCESS);
            assert_eq!(p.rb.take(), [Ev::Close]);
            let lt: &NDK_LISTENER_DISPATCH = t(l2);
            let (b, len) = sa("10.0.0.2:445");
            assert_eq!(
                (lt.NdkListen)(l2, b.as_ptr().cast(), len, None, null_mut()),
                STATUS_SUCCESS
            );
            // The active side heard of the abort.
            assert_eq!(p.ra.take(), [Ev::DisconnectEx(0)]);
            assert_eq!(close(p.ca, &p.ra), STATUS_SUCCESS);
            assert_eq!(p.ra.take(), []);
            // The rest closes at once.
            assert_eq!(close(c2, &p.ra), STATUS_SUCCESS);
            assert_eq!(close(l2, &p.rb), STATUS_SUCCESS);
            close_qp(p.qa, &p.ra);
            close_qp(q2, &p.ra);
            close_qp(p.qb, &p.rb);
            assert_eq!((p.ra.take(), p.rb.take()), (Vec::new(), Vec::new()));
        }
        finish(p.a);
        finish(p.b);
    }

    #[test]
    fn shared_endpoint_counts_its_connectors_and_one_per_remote() {
        let f = Fabric::new();
        let (a, b) = (node(&f, "10.0.0.1"), node(&f, "10.0.0.2"));
        let (ra, rb) = (Rec::new(&f), Rec::new(&f));
        // SAFETY: consumer calls through the dispatch tables with live objects.
        unsafe {
            let (l, s) = listener(&b, &rb, "10.0.0.2:445");
            assert_eq!(s, STATUS_SUCCESS);
            let at: &NDK_ADAPTER_DISPATCH = t(a.adapter);
            let mut se = null_mut();
            let (x, xl) = sa("10.0.0.9:0");
            assert_eq!(
                (at.NdkCreateSharedEndpoint)(
                    a.adapter,
                    x.as_ptr().cast(),
                    xl,
                    None,
                    null_mut(),
                    &mut se
                ),
                STATUS_INVALID_ADDRESS
            );
            let (x, xl) = sa("10.0.0.1:0");
            assert_eq!(
                (at.NdkCreateSharedEndpoint)(
                    a.adapter,
                    x.as_ptr().cast(),
                    xl,
                    None,
                    null_mut(),
                    &mut se
                ),
                STATUS_SUCCESS
            );
            let st: &NDK_SHARED_ENDPOINT_DISPATCH = t(se);
            let local = local_addr(se, st.NdkGetLocalAddress).expect("address");
            assert!(local.port() >= 49152);
            let mut se2 = null_mut();
            let (x, xl) = sa(&alloc::format!("{local}"));
            let s = (at.NdkCreateSharedEndpoint)(
                a.adapter,
                x.as_ptr().cast(),
                xl,
                None,
                null_mut(),
                &mut se2,
            );
            assert_eq!(s, STATUS_SHARING_VIOLATION);

            let c0 = connector(&a);
            let ct: &NDK_CONNECTOR_DISPATCH = t(c0);
            let (d, dl) = sa("10.0.0.2:445");
            let c1 = connector(&a);
            let q1 = qp(&a);
            let s = (ct.NdkConnectWithSharedEndpoint)(
                c1,
                q1.qp,
                se,
                d.as_ptr().cast(),
                dl,
                1,
                1,
                null_mut(),
                0,
                Some(on_request),
                ra.ctx(),
            );
            assert_eq!(s, STATUS_PENDING);
            assert_eq!(local_addr(c1, ct.NdkGetLocalAddress), Ok(local));
            let cb = connect_event(&rb);
            let c2 = connector(&a);
            let q2 = qp(&a);
            let s = (ct.NdkConnectWithSharedEndpoint)(
                c2,
                q2.qp,
                se,
                d.as_ptr().cast(),
                dl,
                1,
                1,
                null_mut(),
                0,
                Some(on_request),
                ra.ctx(),
            );
            assert_eq!(s, STATUS_ADDRESS_ALREADY_EXISTS);
            // The endpoint's close waits for the connector through it.
            assert_eq!(close(se, &ra), STATUS_PENDING);
            assert_eq!(close(c1, &ra), STATUS_SUCCESS);
            assert_eq!(
                ra.take(),
                [Ev::Request(STATUS_CANCELLED), Ev::Close],
                "connect cancelled, then the endpoint's close"
            );
            // The address is free again.
            let s = (at.NdkCreateSharedEndpoint)(
                a.adapter,
                x.as_ptr().cast(),
                xl,
                None,
                null_mut(),
                &mut se2,
            );
            assert_eq!(s, STATUS_SUCCESS);
            // The rest closes at once: the new endpoint has no connector, and the request
            // the cancelled connect left on the passive side closes quietly.
            for x in [se2.cast::<c_void>(), c0.cast(), c2.cast()] {
                assert_eq!(close(x, &ra), STATUS_SUCCESS);
            }
            assert_eq!(close(cb, &rb), STATUS_SUCCESS);
            assert_eq!(close(l, &rb), STATUS_SUCCESS);
            close_qp(q1, &ra);
            close_qp(q2, &ra);
            assert_eq!((ra.take(), rb.take()), (Vec::new(), Vec::new()));
        }
        finish(a);
        finish(b);
    }
}
