//! Wire tests every reference NIC's device model runs (`rocev2.rs`, `iwarp.rs`), written once
//! over the shared virtual network ([`fabric::network::Network`]): take a peer off the wire,
//! check that impairments really happen, and capture an NDK run's frames for tshark. The
//! transport's own test file instantiates them and checks its protocol's dissection.

use std::ffi::c_void;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::null_mut;
use std::sync::{Arc, Mutex};

use fabric::network::Network;
use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

#[path = "../conformance/impairments.rs"]
#[allow(dead_code)]
mod impairments;

/// Disconnect indications (`NDK_FN_DISCONNECT_EVENT_CALLBACK_EX`) and their reasons.
#[derive(Default)]
pub struct Disconnects(Mutex<Vec<u32>>);

impl Disconnects {
    fn ctx(&self) -> *mut c_void {
        self as *const Disconnects as *mut c_void
    }
    /// Takes the recorded reasons.
    pub fn take(&self) -> Vec<u32> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

unsafe extern "system" fn on_disconnect_ex(ctx: *mut c_void, reason: u32) {
    // SAFETY: the tests pass `Disconnects::ctx` of logs that outlive the connectors.
    let d = unsafe { &*(ctx as *const Disconnects) };
    d.0.lock().unwrap().push(reason);
}

/// A connected pair whose connectors were completed with disconnect callbacks.
pub struct Linked<M: Transport> {
    pub a: Side<ModelBackend<M>>,
    pub b: Side<ModelBackend<M>>,
    listener: *mut NDK_LISTENER,
    /// A's (`NdkCompleteConnectEx`) and B's (`NdkAcceptEx`) disconnect indications.
    pub da: Arc<Disconnects>,
    pub db: Arc<Disconnects>,
}

/// Waits for the final status of a request that returned `s` with completion to `rec`.
fn settled<B: Backend>(n: &Node<B>, s: NTSTATUS, rec: &Recorder, what: &str) {
    assert!(s == STATUS_SUCCESS || s == STATUS_PENDING, "{what}: {s:#x}");
    if s == STATUS_PENDING {
        let e = n.wait_event(rec, what, |e| matches!(e, Event::Request(_)));
        assert_eq!(e, Event::Request(STATUS_SUCCESS), "{what}");
    }
}

/// [`connect`] with disconnect callbacks on both connectors.
pub fn link<M: Transport>(net: &Network<M>) -> Linked<M> {
    let mut a = Side::<ModelBackend<M>>::open(net, "10.0.0.1", 64);
    let mut b = Side::<ModelBackend<M>>::open(net, "10.0.0.2", 64);
    let (da, db) = (
        Arc::new(Disconnects::default()),
        Arc::new(Disconnects::default()),
    );
    let (addr, len) = sockaddr(SocketAddr::new(b.node.ip, 445));
    let (src, slen) = sockaddr(SocketAddr::new(a.node.ip, 0));
    let done = Recorder::new();
    // SAFETY: consumer calls through the dispatch tables; the recorders and disconnect logs
    // outlive the objects they are given to (the test closes everything before they drop).
    let listener = unsafe {
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
            null_mut(),
            0,
            Some(on_request),
            a.rec.ctx(),
        );
        assert_eq!(s, STATUS_PENDING);
        let Event::Connect(cb) = b
            .node
            .wait_event(&b.rec, "connect event", |e| matches!(e, Event::Connect(_)))
        else {
            unreachable!()
        };
        b.conn = cb as *mut NDK_CONNECTOR;
        let accept = (ct.NdkAcceptEx)(
            b.conn,
            b.qp,
            4,
            4,
            null_mut(),
            0,
            Some(on_disconnect_ex),
            db.ctx(),
            Some(on_request),
            b.rec.ctx(),
        );
        assert!(accept == STATUS_PENDING || accept == STATUS_SUCCESS);
        let e = a.node.wait_event(&a.rec, "connect completion", |e| {
            matches!(e, Event::Request(_))
        });
        assert_eq!(e, Event::Request(STATUS_SUCCESS));
        let complete = (ct.NdkCompleteConnectEx)(
            a.conn,
            Some(on_disconnect_ex),
            da.ctx(),
            Some(on_request),
            a.rec.ctx(),
        );
        settled(&a.node, complete, &a.rec, "NdkCompleteConnectEx");
        settled(&b.node, accept, &b.rec, "NdkAcceptEx");
        listener
    };
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

impl<M: Transport> Linked<M> {
    /// Closes A's connector (unless the test closed it), the listener (pending until B's
    /// connector closes), B, then A.
    pub fn close(self) {
        let Linked {
            mut a,
            b,
            listener,
            da,
            db,
        } = self;
        if !a.conn.is_null() {
            a.node.close_object(a.conn);
            a.conn = null_mut();
        }
        let rec = Recorder::new();
        assert_eq!(make::close(listener, &rec), STATUS_PENDING);
        b.close();
        a.node
            .wait_event(&rec, "listener close", |e| *e == Event::Close);
        a.close();
        drop((da, db));
    }
}

/// Posts a send of `len` bytes at offset 0 of `side`'s buffer.
fn send<B: Backend>(side: &Side<B>, c: usize, len: u32) {
    // SAFETY: consumer call on a QP with a registered SGE.
    let s = unsafe { (side.q().NdkSend)(side.qp, ctx(c), &side.sge(0, len), 1, 0) };
    assert_eq!(s, STATUS_SUCCESS);
}

/// A peer whose link goes down: A's first request times out, the next is flushed, and each
/// side hears of the abort exactly once.
pub fn link_down_gives_io_timeout_then_cancelled_and_one_disconnect_event<M: Transport>() {
    let net = ModelBackend::<M>::network(&NetOptions::default());
    let l = link(&net);
    let (a, b) = (&l.a, &l.b);
    // The link works: a send arrives.
    // SAFETY: consumer call on a connected QP with a registered SGE.
    let s = unsafe { (b.q().NdkReceive)(b.qp, ctx(1), &b.sge(0, 64), 1) };
    assert_eq!(s, STATUS_SUCCESS);
    send(a, 2, 16);
    assert_eq!(
        summary(&a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeSend)]
    );
    assert_eq!(b.wait_completions(1).len(), 1);

    // B vanishes from the wire.
    assert!(net.set_link(b.node.ip, false));
    send(a, 3, 16);
    // SAFETY: as above.
    let s = unsafe { (a.q().NdkWrite)(a.qp, ctx(4), &a.sge(0, 32), 1, b.buf.addr(), b.rkey, 0) };
    assert_eq!(s, STATUS_SUCCESS);
    let before = b.buf.to_vec();
    assert_eq!(
        summary(&a.wait_completions(2)),
        vec![
            (STATUS_IO_TIMEOUT, 0x103, NdkOperationTypeSend),
            (STATUS_CANCELLED, 0x104, NdkOperationTypeWrite),
        ],
        "the first request times out, the next is flushed"
    );
    a.node.pump();
    assert_eq!(l.da.take().len(), 1, "A hears of the abort once");
    assert!(a.poll().is_empty());
    assert_eq!(b.buf.to_vec(), before, "nothing reached B");

    // B's own view: its link is down, its requests time out the same way.
    send(b, 5, 8);
    assert_eq!(
        summary(&b.wait_completions(1)),
        vec![(STATUS_IO_TIMEOUT, 0x105, NdkOperationTypeSend)]
    );
    b.node.pump();
    assert_eq!(l.db.take().len(), 1, "B hears of the abort once");

    // Nothing more, however long the network runs.
    net.advance(30_000_000_000);
    a.node.pump();
    assert!(
        l.da.take().is_empty() && l.db.take().is_empty(),
        "at most once"
    );
    assert!(a.poll().is_empty() && b.poll().is_empty());
    l.close();
}

/// A peer removed from the network: the same as a link down, seen from A only.
pub fn peer_removed_gives_io_timeout_then_cancelled_and_one_disconnect_event<M: Transport>() {
    let net = ModelBackend::<M>::network(&NetOptions::default());
    let l = link(&net);
    let (a, b) = (&l.a, &l.b);
    assert!(net.remove_nic(b.node.ip));
    // SAFETY: consumer calls on A's connected QP with registered SGEs.
    unsafe {
        let q = a.q();
        assert_eq!(
            (q.NdkWrite)(a.qp, ctx(1), &a.sge(0, 32), 1, b.buf.addr(), b.rkey, 0),
            STATUS_SUCCESS
        );
        assert_eq!(
            (q.NdkRead)(a.qp, ctx(2), &a.sge(64, 32), 1, b.buf.addr(), b.rkey, 0),
            STATUS_SUCCESS
        );
    }
    send(a, 3, 16);
    assert_eq!(
        summary(&a.wait_completions(3)),
        vec![
            (STATUS_IO_TIMEOUT, 0x101, NdkOperationTypeWrite),
            (STATUS_CANCELLED, 0x102, NdkOperationTypeRead),
            (STATUS_CANCELLED, 0x103, NdkOperationTypeSend),
        ]
    );
    net.advance(30_000_000_000);
    a.node.pump();
    assert_eq!(l.da.take().len(), 1, "A hears of the abort once");
    assert!(a.poll().is_empty());
    // A closes cleanly. B's device is gone: its commands are never answered, so its
    // objects cannot be closed and are left as they are (the end of the test process).
    let Linked {
        mut a,
        b,
        listener,
        da,
        db,
    } = l;
    a.node.close_object(a.conn);
    a.conn = null_mut();
    a.close();
    assert!(da.take().is_empty());
    std::mem::forget((b, listener, db));
}

/// 5 % loss, duplication and reordering are really applied to the frames of an exchange
/// that still delivers every byte once.
pub fn impairments_really_happen_on_the_wire<M: Transport>() {
    let opts = impairments::impaired(0.05, 0xD1CE);
    let net = ModelBackend::<M>::network(&opts);
    impairments::exchange::<ModelBackend<M>>(&net, &format!("{} 5 %", M::TRANSPORT));
    let st = net.fabric_stats();
    println!("fabric at 5 %: {st:?}");
    assert!(st.lost > 0, "frames were lost: {st:?}");
    assert!(st.duplicated > 0, "frames were duplicated: {st:?}");
    assert!(st.reordered > 0, "frames were reordered: {st:?}");
}

/// The tshark binary, if installed.
pub fn tshark() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/tshark");
    if p.exists() {
        return Some(p);
    }
    Command::new("tshark")
        .arg("-v")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("tshark"))
}

/// Captures an NDK run to `file`: connect, a Send, a Write, a Read of what was written, then
/// a graceful disconnect that B hears of once and A not at all.
pub fn capture_connect_send_write_read_disconnect<M: Transport>(file: &Path) {
    let net = ModelBackend::<M>::network(&NetOptions {
        pcap: Some(file.to_owned()),
        ..NetOptions::default()
    });
    let l = link(&net);
    let (a, b) = (&l.a, &l.b);
    a.buf.fill(0x5A);
    // SAFETY: consumer calls on connected QPs with registered SGEs.
    unsafe {
        assert_eq!(
            (b.q().NdkReceive)(b.qp, ctx(1), &b.sge(0, 256), 1),
            STATUS_SUCCESS
        );
        send(a, 2, 200);
        let remote = b.buf.addr() + 1024;
        let q = a.q();
        assert_eq!(
            (q.NdkWrite)(a.qp, ctx(3), &a.sge(0, 300), 1, remote, b.rkey, 0),
            STATUS_SUCCESS
        );
        assert_eq!(
            (q.NdkRead)(a.qp, ctx(4), &a.sge(4096, 300), 1, remote, b.rkey, 0),
            STATUS_SUCCESS
        );
    }
    assert_eq!(
        summary(&a.wait_completions(3)),
        vec![
            (STATUS_SUCCESS, 0x102, NdkOperationTypeSend),
            (STATUS_SUCCESS, 0x103, NdkOperationTypeWrite),
            (STATUS_SUCCESS, 0x104, NdkOperationTypeRead),
        ]
    );
    assert_eq!(b.wait_completions(1).len(), 1);
    assert_eq!(a.buf.to_vec()[4096..4396], [0x5A; 300], "the read's bytes");
    let rec = Recorder::new();
    // SAFETY: consumer call on A's connected connector.
    let s = unsafe {
        (table::<_, NDK_CONNECTOR_DISPATCH>(a.conn).NdkDisconnect)(
            a.conn,
            Some(on_request),
            rec.ctx(),
        )
    };
    settled(&a.node, s, &rec, "NdkDisconnect");
    a.node.pump();
    assert_eq!(l.db.take().len(), 1, "B's disconnect event");
    assert!(l.da.take().is_empty(), "no event for A's own disconnect");
    l.close();
    net.flush_capture();
}

/// Captures an abortive close to `file`: connect, a Send, then A closes its connector
/// without `NdkDisconnect`; B hears of it once, A not at all. (iWARP only: RoCEv2
/// has no TCP connection to reset.)
#[allow(dead_code)]
pub fn capture_abortive_close<M: Transport>(file: &Path) {
    let net = ModelBackend::<M>::network(&NetOptions {
        pcap: Some(file.to_owned()),
        ..NetOptions::default()
    });
    let mut l = link(&net);
    // SAFETY: consumer call on B's connected QP with a registered SGE.
    let s = unsafe { (l.b.q().NdkReceive)(l.b.qp, ctx(1), &l.b.sge(0, 256), 1) };
    assert_eq!(s, STATUS_SUCCESS);
    send(&l.a, 2, 100);
    assert_eq!(l.a.wait_completions(1).len(), 1);
    assert_eq!(l.b.wait_completions(1).len(), 1);
    l.a.node.close_object(l.a.conn);
    l.a.conn = null_mut();
    l.b.node.pump();
    assert_eq!(l.db.take().len(), 1, "B's disconnect event");
    assert!(l.da.take().is_empty(), "no event for A's own close");
    // The rest closes as usual (A's null connector is skipped).
    l.close();
    net.flush_capture();
}

/// Runs tshark on `file` with `opts` and returns the tab-separated `fields` of every frame.
pub fn tshark_fields(file: &Path, opts: &[&str], fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(opts).args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(out.status.success(), "tshark: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut v: Vec<String> = l.split('\t').map(str::to_owned).collect();
            v.resize(fields.len(), String::new());
            v
        })
        .collect()
}

/// Asserts that tshark, run with `opts`, finds no malformed frame in `file` and nothing its
/// expert analysis rates a warning or worse (bad checksums, bad lengths, lost segments).
pub fn assert_nothing_malformed(file: &Path, opts: &[&str]) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(opts)
        .args(["-Y", "_ws.malformed || _ws.expert.severity >= \"warning\""])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark: {out:?}");
    assert!(
        out.stdout.is_empty(),
        "malformed or suspect frames: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A number tshark printed in decimal or hex.
pub fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}
