//! Connection establishment and teardown through NDK listener and connector objects
//! (ndkpi.md §4.8, §7.3, §3 DisconnectEvent): a rejected request carries private data both
//! ways and fails the caller's Connect with `STATUS_CONNECTION_REFUSED`; a graceful
//! `NdkDisconnect` is heard once by the peer and flushes posted receives; closing a
//! connected connector without `NdkDisconnect` (an abortive close) is heard once by the peer.

use std::net::SocketAddr;
use std::ptr::null_mut;
use std::sync::Arc;

use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

use super::net;

/// The private data of the caller's request.
const REQUEST_DATA: &[u8] = b"connect-request:smb-direct";
/// The private data of the rejecter.
const REJECT_DATA: &[u8] = b"rejected:no-credits";

/// The private data `NdkGetConnectionData` reports on `conn`: asks the required size (RDS)
/// with a NULL buffer, then reads that many bytes (§7.3).
fn connection_data(conn: *mut NDK_CONNECTOR) -> Vec<u8> {
    // SAFETY: consumer calls on an open connector with out parameters that live.
    unsafe {
        let ct: &NDK_CONNECTOR_DISPATCH = table(conn);
        let (mut ird, mut ord, mut len) = (0u32, 0u32, 0u32);
        let s = (ct.NdkGetConnectionData)(conn, &mut ird, &mut ord, null_mut(), &mut len);
        assert_eq!(
            s, STATUS_SUCCESS,
            "GetConnectionData(NULL, 0) gives the size"
        );
        let mut buf = vec![0xEEu8; len as usize];
        let mut got = len;
        let s =
            (ct.NdkGetConnectionData)(conn, &mut ird, &mut ord, buf.as_mut_ptr().cast(), &mut got);
        assert_eq!(s, STATUS_SUCCESS, "GetConnectionData with RDS bytes");
        assert_eq!(got, len, "the length stays RDS");
        buf
    }
}

/// Asserts that `got` (RDS bytes) carries exactly `sent`: NDKPI lets RDS exceed what the
/// peer sent (a transport's fixed private-data size), the rest then being zero padding.
fn assert_private_data(got: &[u8], sent: &[u8], what: &str) {
    assert!(
        got.len() >= sent.len(),
        "{what}: RDS {} < {} bytes sent",
        got.len(),
        sent.len()
    );
    assert_eq!(&got[..sent.len()], sent, "{what}: the peer's private data");
    assert!(
        got[sent.len()..].iter().all(|&b| b == 0),
        "{what}: nothing but zero padding after the private data"
    );
}

/// A listener of `b` on port 445 (connect events to `b.rec`).
fn listen<B: Backend>(b: &Side<B>) -> *mut NDK_LISTENER {
    let (addr, len) = sockaddr(SocketAddr::new(b.node.ip, 445));
    let done = Recorder::new();
    // SAFETY: consumer calls through the dispatch tables; `b.rec` outlives the listener and
    // `done` every completion it is given (each is waited for).
    unsafe {
        let mut listener = null_mut();
        let s = (b.node.a().NdkCreateListener)(
            b.node.adapter,
            Some(on_connect),
            b.rec.ctx(),
            Some(on_create),
            done.ctx(),
            &mut listener,
        );
        let listener = b.node.created("NdkCreateListener", &done, s, listener);
        let lt: &NDK_LISTENER_DISPATCH = table(listener);
        let s = (lt.NdkListen)(
            listener,
            addr.as_ptr().cast(),
            len,
            Some(on_request),
            done.ctx(),
        );
        assert_eq!(b.node.settle(s, &done), STATUS_SUCCESS, "NdkListen");
        listener
    }
}

/// A's `NdkConnect` of its QP to `b`'s listener with `data`; returns B's new connector (from
/// the connect event, the only callback so far).
fn request<B: Backend>(a: &mut Side<B>, b: &Side<B>, data: &[u8]) -> *mut NDK_CONNECTOR {
    let (addr, len) = sockaddr(SocketAddr::new(b.node.ip, 445));
    let (src, slen) = sockaddr(SocketAddr::new(a.node.ip, 0));
    let done = Recorder::new();
    // SAFETY: consumer calls through the dispatch tables; `a.rec` outlives the connector.
    unsafe {
        let mut conn = null_mut();
        let s =
            (a.node.a().NdkCreateConnector)(a.node.adapter, Some(on_create), done.ctx(), &mut conn);
        a.conn = a.node.created("NdkCreateConnector", &done, s, conn);
        let ct: &NDK_CONNECTOR_DISPATCH = table(a.conn);
        let s = (ct.NdkConnect)(
            a.conn,
            a.qp,
            src.as_ptr().cast(),
            slen,
            addr.as_ptr().cast(),
            len,
            4,
            4,
            data.as_ptr().cast(),
            data.len() as u32,
            Some(on_request),
            a.rec.ctx(),
        );
        assert_eq!(s, STATUS_PENDING, "NdkConnect pends");
    }
    let ev = b
        .node
        .wait_event(&b.rec, "connect event", |e| matches!(e, Event::Connect(_)));
    let Event::Connect(conn_b) = ev else {
        unreachable!("{ev:?}")
    };
    assert!(b.rec.take().is_empty(), "only the connect event");
    conn_b as *mut NDK_CONNECTOR
}

/// Waits for the final status of a request that returned `s` with completion to `rec`
/// (SUCCESS or PENDING then one completion); returns it.
fn settled<B: Backend>(n: &Node<B>, s: NTSTATUS, rec: &Recorder, what: &str) -> NTSTATUS {
    assert!(s == STATUS_SUCCESS || s == STATUS_PENDING, "{what}: {s:#x}");
    n.settle(s, rec)
}

/// A connected pair whose connectors registered (plain) disconnect callbacks: A's through
/// `NdkCompleteConnect` to `da`, B's through `NdkAccept` to `db`.
struct Linked<B: Backend> {
    a: Side<B>,
    b: Side<B>,
    listener: *mut NDK_LISTENER,
    da: Arc<Recorder>,
    db: Arc<Recorder>,
}

fn link<B: Backend>(net: &B::Net) -> Linked<B> {
    let mut a = Side::<B>::open(net, "10.0.0.1", 64);
    let mut b = Side::<B>::open(net, "10.0.0.2", 64);
    let (da, db) = (Recorder::new(), Recorder::new());
    let listener = listen(&b);
    b.conn = request(&mut a, &b, REQUEST_DATA);
    // SAFETY: consumer calls on the connectors; the disconnect recorders outlive them (the
    // test closes every object before they drop).
    unsafe {
        let ct: &NDK_CONNECTOR_DISPATCH = table(b.conn);
        let accept = (ct.NdkAccept)(
            b.conn,
            b.qp,
            4,
            4,
            null_mut(),
            0,
            Some(on_disconnect),
            db.ctx(),
            Some(on_request),
            b.rec.ctx(),
        );
        assert!(
            accept == STATUS_PENDING || accept == STATUS_SUCCESS,
            "NdkAccept: {accept:#x}"
        );
        let e = a.node.wait_event(&a.rec, "connect completion", |e| {
            matches!(e, Event::Request(_))
        });
        assert_eq!(e, Event::Request(STATUS_SUCCESS), "NdkConnect");
        let complete = (ct.NdkCompleteConnect)(
            a.conn,
            Some(on_disconnect),
            da.ctx(),
            Some(on_request),
            a.rec.ctx(),
        );
        let s = settled(&a.node, complete, &a.rec, "NdkCompleteConnect");
        assert_eq!(s, STATUS_SUCCESS, "NdkCompleteConnect");
        let s = settled(&b.node, accept, &b.rec, "NdkAccept");
        assert_eq!(s, STATUS_SUCCESS, "NdkAccept");
    }
    a.node.pump();
    assert!(a.rec.take().is_empty() && b.rec.take().is_empty());
    Linked {
        a,
        b,
        listener,
        da,
        db,
    }
}

/// Closes `listener`: at once, or pending and then exactly one close completion.
fn close_listener<B: Backend>(n: &Node<B>, listener: *mut NDK_LISTENER) {
    let rec = Recorder::new();
    match make::close(listener, &rec) {
        STATUS_SUCCESS => {}
        STATUS_PENDING => {
            n.wait_event(&rec, "listener close", |e| *e == Event::Close);
        }
        s => panic!("listener close: {s:#x}"),
    }
    n.pump();
    assert!(
        rec.take().is_empty(),
        "at most one listener close completion"
    );
}

/// A send of the text `data` from `from`'s buffer at offset 0.
fn send<B: Backend>(from: &Side<B>, c: usize, data: &[u8]) {
    from.buf.write(0, data);
    // SAFETY: consumer call on a connected QP with a registered SGE.
    let s = unsafe { (from.q().NdkSend)(from.qp, ctx(c), &from.sge(0, data.len() as u32), 1, 0) };
    assert_eq!(s, STATUS_SUCCESS, "NdkSend");
}

/// A receive of up to 1 KiB at `offset` of `side`'s buffer.
fn receive<B: Backend>(side: &Side<B>, c: usize, offset: u64) {
    // SAFETY: consumer call on a QP with a registered SGE.
    let s = unsafe { (side.q().NdkReceive)(side.qp, ctx(c), &side.sge(offset, 1024), 1) };
    assert_eq!(s, STATUS_SUCCESS, "NdkReceive");
}

/// `NdkDisconnect` on `side`'s connector; returns its final status.
fn disconnect<B: Backend>(side: &Side<B>) -> NTSTATUS {
    let rec = Recorder::new();
    // SAFETY: consumer call on an open connector; `rec` outlives the awaited completion.
    let s = unsafe {
        (table::<_, NDK_CONNECTOR_DISPATCH>(side.conn).NdkDisconnect)(
            side.conn,
            Some(on_request),
            rec.ctx(),
        )
    };
    let st = if s == STATUS_PENDING {
        side.node.settle(s, &rec)
    } else {
        s
    };
    side.node.pump();
    assert!(rec.take().is_empty(), "one NdkDisconnect completion");
    st
}

/// Pumps until `log` holds one disconnect event; then asserts no second one comes.
fn one_disconnect_event<B: Backend>(n: &Node<B>, log: &Recorder, what: &str) {
    n.wait_event(log, what, |e| *e == Event::Disconnect);
    n.pump();
    assert!(
        log.take().is_empty(),
        "{what}: exactly one disconnect event"
    );
}

/// Waits for `want` (status, context, type) completions and asserts that nothing else came.
fn exactly<B: Backend>(side: &Side<B>, want: &[(NTSTATUS, usize, NDK_OPERATION_TYPE)], what: &str) {
    let got = summary(&side.wait_completions(want.len()));
    assert_eq!(got, want, "{what}");
    side.pump();
    assert!(side.poll().is_empty(), "{what}: nothing more");
}

/// Deregisters and closes the MR, then the PD, CQ and adapter of a side whose connector and
/// QP are closed already.
fn close_rest<B: Backend>(s: Side<B>) {
    let n = &s.node;
    assert_eq!(deregister(n, s.mr), STATUS_SUCCESS, "NdkDeregisterMr");
    n.close_object(s.mr);
    n.close_object(s.pd);
    n.close_object(s.cq);
    s.node.close();
}

pub fn a_rejected_connect_is_refused_and_carries_the_rejecters_private_data<B: Backend>() {
    let net = net::<B>();
    let mut a = Side::<B>::open(&net, "10.0.0.1", 16);
    let b = Side::<B>::open(&net, "10.0.0.2", 16);
    let listener = listen(&b);
    let conn_b = request(&mut a, &b, REQUEST_DATA);
    assert_private_data(&connection_data(conn_b), REQUEST_DATA, "passive side");
    // SAFETY: consumer call on the connector of the connect event.
    let s = unsafe {
        (table::<_, NDK_CONNECTOR_DISPATCH>(conn_b).NdkReject)(
            conn_b,
            REJECT_DATA.as_ptr().cast(),
            REJECT_DATA.len() as u32,
        )
    };
    assert_eq!(s, STATUS_SUCCESS, "NdkReject is synchronous");
    let e = a.node.wait_event(&a.rec, "connect completion", |e| {
        matches!(e, Event::Request(_))
    });
    assert_eq!(
        e,
        Event::Request(STATUS_CONNECTION_REFUSED),
        "a rejected Connect is refused"
    );
    assert_private_data(&connection_data(a.conn), REJECT_DATA, "active side");
    a.pump();
    assert!(a.rec.take().is_empty(), "one Connect completion");
    assert!(b.rec.take().is_empty(), "no callback on the rejecter");
    assert!(a.poll().is_empty() && b.poll().is_empty(), "no completions");
    // Both connectors and the QP close; the listener too.
    b.node.close_object(conn_b);
    close_listener(&b.node, listener);
    a.node.close_object(a.conn);
    a.conn = null_mut();
    a.pump();
    assert!(
        a.rec.take().is_empty() && b.rec.take().is_empty(),
        "no late callbacks"
    );
    b.close();
    a.close();
}

pub fn a_graceful_disconnect_is_heard_once_by_the_peer_and_flushes_receives_on_both_sides<
    B: Backend,
>() {
    let net = net::<B>();
    let l = link::<B>(&net);
    let (a, b) = (&l.a, &l.b);
    receive(b, 1, 0);
    receive(b, 2, 1024);
    receive(a, 3, 0);
    receive(a, 4, 1024);
    send(a, 5, b"before the disconnect");
    exactly(
        a,
        &[(STATUS_SUCCESS, 0x105, NdkOperationTypeSend)],
        "A's send",
    );
    exactly(
        b,
        &[(STATUS_SUCCESS, 0x101, NdkOperationTypeReceive)],
        "B's first receive",
    );
    assert_eq!(disconnect(a), STATUS_SUCCESS, "A's NdkDisconnect");
    one_disconnect_event(&b.node, &l.db, "B hears of A's disconnect");
    exactly(
        a,
        &[
            (STATUS_CANCELLED, 0x103, NdkOperationTypeReceive),
            (STATUS_CANCELLED, 0x104, NdkOperationTypeReceive),
        ],
        "A's receives are flushed after its disconnect",
    );
    // B answers the event as a consumer does: its own disconnect flushes its QP.
    assert_eq!(disconnect(b), STATUS_SUCCESS, "B's NdkDisconnect");
    exactly(
        b,
        &[(STATUS_CANCELLED, 0x102, NdkOperationTypeReceive)],
        "B's receive is flushed after its disconnect",
    );
    a.pump();
    assert!(l.da.take().is_empty(), "no event for A's own disconnect");
    assert!(l.db.take().is_empty(), "no event for B's own disconnect");
    assert!(
        a.rec.take().is_empty() && b.rec.take().is_empty(),
        "no other callbacks"
    );
    l.close();
}

pub fn closing_a_connected_connector_without_disconnect_is_heard_once_by_the_peer<B: Backend>() {
    let net = net::<B>();
    let Linked {
        mut a,
        mut b,
        listener,
        da,
        db,
    } = link::<B>(&net);
    receive(&b, 1, 0);
    receive(&b, 2, 1024);
    send(&a, 3, b"before the abort");
    exactly(
        &a,
        &[(STATUS_SUCCESS, 0x103, NdkOperationTypeSend)],
        "A's send",
    );
    exactly(
        &b,
        &[(STATUS_SUCCESS, 0x101, NdkOperationTypeReceive)],
        "B's first receive",
    );
    // A goes away without NdkDisconnect: connector, then QP.
    a.node.close_object(a.conn);
    a.conn = null_mut();
    a.node.close_object(a.qp);
    one_disconnect_event(&b.node, &db, "B hears of A's abortive close");
    // B's consumer answers with NdkDisconnect, which completes (with any status: the peer
    // is gone) and flushes B's outstanding receive exactly once.
    let s = disconnect(&b);
    println!("[{}] B's NdkDisconnect after the abort: {s:#x}", B::name());
    assert_ne!(s, STATUS_PENDING);
    exactly(
        &b,
        &[(STATUS_CANCELLED, 0x102, NdkOperationTypeReceive)],
        "B's receive is flushed",
    );
    a.pump();
    assert!(da.take().is_empty(), "no event for A's own close");
    assert!(db.take().is_empty(), "no second event on B");
    assert!(a.poll().is_empty(), "A's closed QP reports nothing");
    assert!(
        a.rec.take().is_empty() && b.rec.take().is_empty(),
        "no other callbacks"
    );
    b.node.close_object(b.conn);
    b.conn = null_mut();
    close_listener(&b.node, listener);
    b.close();
    close_rest(a);
    drop((da, db));
}

impl<B: Backend> Linked<B> {
    /// Closes A's connector, B's connector, the listener, then both sides.
    fn close(self) {
        let Linked {
            mut a,
            mut b,
            listener,
            da,
            db,
        } = self;
        a.node.close_object(a.conn);
        a.conn = null_mut();
        b.node.close_object(b.conn);
        b.conn = null_mut();
        close_listener(&b.node, listener);
        b.close();
        a.close();
        drop((da, db));
    }
}
