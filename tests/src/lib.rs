//! A small NDK consumer for tests: it opens adapters on mock NICs and calls the provider only
//! through the dispatch tables' `extern "system"` function pointers, with C-ABI callbacks
//! that record what the provider reported, the way SMB Direct drives a provider.
//!
//! The helpers take raw NDK object pointers as a consumer holds them; their contract is
//! NDKPI's (the object is open), so they are not marked `unsafe` one by one.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

pub mod alloc;

use std::ffi::c_void;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use hal::mock::{Fabric, MockNic};
use ndk_provider::abi::*;
use ndk_provider::{adapter, edge, Device};

/// What the provider told the consumer through callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A request completion (`NDK_FN_REQUEST_COMPLETION`).
    Request(NTSTATUS),
    /// A create completion.
    Create(NTSTATUS, usize),
    /// A close completion.
    Close,
    /// A CQ notification.
    CqNotify(NTSTATUS),
    /// A connect event with the new connector.
    Connect(usize),
    /// A disconnect event.
    Disconnect,
}

/// A callback context: every callback given this context appends to `events`.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    /// A shared recorder whose address is stable for the test (an `Arc`, which may move
    /// without invalidating the context pointer the provider keeps; a `Box` may not).
    pub fn new() -> Arc<Recorder> {
        Arc::default()
    }
    /// The context pointer to pass to the provider.
    pub fn ctx(&self) -> *mut c_void {
        self as *const Recorder as *mut c_void
    }
    /// Takes the recorded events.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
    fn push(ctx: *mut c_void, e: Event) {
        // SAFETY: tests only pass `Recorder::ctx` pointers of recorders that outlive the
        // provider objects they were given to.
        let r = unsafe { &*(ctx as *const Recorder) };
        r.events.lock().unwrap().push(e);
    }
}

/// `NDK_FN_REQUEST_COMPLETION` that records.
pub unsafe extern "system" fn on_request(ctx: *mut c_void, status: NTSTATUS) {
    Recorder::push(ctx, Event::Request(status));
}
/// `NDK_FN_CREATE_COMPLETION` that records.
pub unsafe extern "system" fn on_create(
    ctx: *mut c_void,
    status: NTSTATUS,
    obj: *mut NDK_OBJECT_HEADER,
) {
    Recorder::push(ctx, Event::Create(status, obj as usize));
}
/// `NDK_FN_CLOSE_COMPLETION` that records.
pub unsafe extern "system" fn on_close(ctx: *mut c_void) {
    Recorder::push(ctx, Event::Close);
}
/// `NDK_FN_CQ_NOTIFICATION_CALLBACK` that records.
pub unsafe extern "system" fn on_cq(ctx: *mut c_void, status: NTSTATUS) {
    Recorder::push(ctx, Event::CqNotify(status));
}
/// `NDK_FN_CONNECT_EVENT_CALLBACK` that records.
pub unsafe extern "system" fn on_connect(ctx: *mut c_void, c: *mut NDK_CONNECTOR) {
    Recorder::push(ctx, Event::Connect(c as usize));
}
/// `NDK_FN_DISCONNECT_EVENT_CALLBACK` that records.
pub unsafe extern "system" fn on_disconnect(ctx: *mut c_void) {
    Recorder::push(ctx, Event::Disconnect);
}

/// One NIC with an open NDK adapter.
pub struct Node {
    /// The mock NIC, for scripting.
    pub nic: Arc<MockNic>,
    /// The provider's device.
    pub dev: Arc<Device<MockNic>>,
    /// The NDK adapter as NDIS would hand it to a consumer.
    pub adapter: *mut NDK_ADAPTER,
    /// The NIC's address.
    pub ip: IpAddr,
}

impl Node {
    /// A NIC on `fabric` with address `ip`, and an adapter opened at NDKPI 2.1.
    pub fn new(fabric: &Fabric, ip: &str) -> Node {
        let ip: IpAddr = ip.parse().unwrap();
        let nic = MockNic::new(fabric, hal::mock::default_caps(), &[ip]);
        let dev = Device::new(nic.clone());
        let adapter = adapter::open(&dev, NDK_VERSION::new(2, 1)).expect("open adapter");
        Node {
            nic,
            dev,
            adapter,
            ip,
        }
    }

    /// Lets the device's DPC run: delivers every callback the NICs of the fabric queued.
    pub fn pump(&self) -> usize {
        use hal::NicHal;
        self.nic.platform().run_deferred()
    }

    /// The adapter dispatch table.
    pub fn a(&self) -> &NDK_ADAPTER_DISPATCH {
        // SAFETY: the adapter is open; its Dispatch points to a static table.
        unsafe { &*(*self.adapter).Dispatch }
    }
}

/// The dispatch table of an object.
///
/// # Safety
/// `obj` must be an open NDK object whose dispatch table type is `D`.
pub unsafe fn table<'a, O, D>(obj: *mut O) -> &'a D {
    // SAFETY: every NDK object is `{ Header, Dispatch }`; Dispatch is at +0x28.
    unsafe { &**(obj.cast::<u8>().add(0x28).cast::<*const D>()) }
}

/// An in-memory MDL for a buffer, as the kernel would build it for locked pages.
pub struct TestMdl {
    words: Vec<u64>,
}

impl TestMdl {
    /// An MDL describing `len` bytes at host address `va`.
    pub fn new(va: u64, len: u32) -> TestMdl {
        let start = va & !0xFFF;
        let offset = (va & 0xFFF) as u32;
        let pages = (u64::from(offset) + u64::from(len)).div_ceil(4096);
        let mut words = vec![0u64; 6 + pages as usize];
        // SAFETY: `words` holds at least the 0x30-byte MDL header.
        let mdl = unsafe { &mut *(words.as_mut_ptr().cast::<MDL>()) };
        mdl.StartVa = start as *mut c_void;
        mdl.ByteOffset = offset;
        mdl.ByteCount = len;
        mdl.Size = (48 + 8 * pages) as i16;
        for i in 0..pages {
            words[6 + i as usize] = (start >> 12) + i;
        }
        TestMdl { words }
    }
    /// The MDL pointer.
    pub fn as_ptr(&mut self) -> *mut MDL {
        self.words.as_mut_ptr().cast()
    }
}

/// `SOCKADDR_IN`/`SOCKADDR_IN6` bytes for an address.
pub fn sockaddr(a: SocketAddr) -> ([u8; 28], u32) {
    edge::sockaddr_bytes(&a)
}

/// An SGE.
pub fn sge(addr: u64, len: u32, token: u32) -> NDK_SGE {
    NDK_SGE {
        Address: NDK_SGE_ADDRESS {
            LogicalAddress: addr as i64,
        },
        Length: len,
        MemoryRegionToken: token,
    }
}

/// Consumer-side shorthands for the creates most tests need. Each asserts success.
pub mod make {
    use super::*;
    use std::ptr::null_mut;

    /// `NdkCreateCq` with notifications to `rec`.
    pub fn cq(n: &Node, depth: u32, rec: &Recorder) -> *mut NDK_CQ {
        let mut cq = null_mut();
        // SAFETY: calling the provider through its dispatch table as a consumer.
        let s = unsafe {
            (n.a().NdkCreateCq)(
                n.adapter,
                depth,
                Some(on_cq),
                rec.ctx(),
                null_mut(),
                Some(on_create),
                rec.ctx(),
                &mut cq,
            )
        };
        assert_eq!(s, STATUS_SUCCESS);
        cq
    }

    /// `NdkCreatePd`.
    pub fn pd(n: &Node) -> *mut NDK_PD {
        let mut pd = null_mut();
        // SAFETY: as above.
        assert_eq!(
            unsafe { (n.a().NdkCreatePd)(n.adapter, Some(on_create), null_mut(), &mut pd) },
            STATUS_SUCCESS
        );
        pd
    }

    /// `NdkCreateQp` with depths 16, 2 SGEs, 64 inline bytes and QPContext `qp_ctx`.
    pub fn qp(pd: *mut NDK_PD, cq: *mut NDK_CQ, qp_ctx: usize) -> *mut NDK_QP {
        let mut qp = null_mut();
        // SAFETY: as above.
        let s = unsafe {
            let t: &NDK_PD_DISPATCH = table(pd);
            (t.NdkCreateQp)(
                pd,
                cq,
                cq,
                qp_ctx as *mut c_void,
                16,
                16,
                2,
                2,
                64,
                Some(on_create),
                null_mut(),
                &mut qp,
            )
        };
        assert_eq!(s, STATUS_SUCCESS);
        qp
    }

    /// Closes an object through slot 0 of its table and returns the status.
    pub fn close<O>(obj: *mut O, rec: &Recorder) -> NTSTATUS {
        // SAFETY: `obj` is an open NDK object; slot 0 of its table is NdkCloseXxx.
        unsafe {
            let d = *(obj
                .cast::<u8>()
                .add(0x28)
                .cast::<*const NDK_FN_CLOSE_OBJECT>());
            let close: NDK_FN_CLOSE_OBJECT = *d;
            close(obj.cast(), Some(on_close), rec.ctx())
        }
    }
}

/// One side of a connected pair: CQ, PD, QP and a registered 8 KiB buffer.
pub struct Side {
    /// The node.
    pub node: Node,
    /// Receives completion notifications, create and request completions.
    pub rec: Arc<Recorder>,
    /// One CQ for both queues.
    pub cq: *mut NDK_CQ,
    /// Protection domain.
    pub pd: *mut NDK_PD,
    /// The queue pair (QPContext = 0x5150).
    pub qp: *mut NDK_QP,
    /// The buffer's memory region.
    pub mr: *mut NDK_MR,
    /// Its local token.
    pub lkey: u32,
    /// Its remote token.
    pub rkey: u32,
    /// The registered buffer.
    pub buf: hal::mock::HostBuffer,
    /// The connector bound to the QP.
    pub conn: *mut NDK_CONNECTOR,
    _mdl: TestMdl,
}

/// Bytes of each side's registered buffer.
pub const SIDE_BUF: u32 = 8192;

impl Side {
    /// A node with a CQ of `cq_depth`, a PD, a QP of depth 64 and a registered buffer.
    pub fn new(fabric: &Fabric, ip: &str, cq_depth: u32) -> Side {
        use std::ptr::null_mut;
        let node = Node::new(fabric, ip);
        let rec = Recorder::new();
        let cq = make::cq(&node, cq_depth, &rec);
        let pd = make::pd(&node);
        let mut qp = null_mut();
        let mut mr = null_mut();
        let buf = hal::mock::HostBuffer::new(SIDE_BUF as usize);
        let mut mdl = TestMdl::new(buf.addr(), SIDE_BUF);
        // SAFETY: consumer calls on objects just created.
        let (lkey, rkey) = unsafe {
            let t: &NDK_PD_DISPATCH = table(pd);
            let s = (t.NdkCreateQp)(
                pd,
                cq,
                cq,
                0x5150 as *mut c_void,
                64,
                64,
                2,
                2,
                64,
                None,
                null_mut(),
                &mut qp,
            );
            assert_eq!(s, STATUS_SUCCESS);
            assert_eq!(
                (t.NdkCreateMr)(pd, 0, None, null_mut(), &mut mr),
                STATUS_SUCCESS
            );
            let m: &NDK_MR_DISPATCH = table(mr);
            let flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE
                | NDK_MR_FLAG_ALLOW_REMOTE_READ
                | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
            let s = (m.NdkRegisterMr)(mr, mdl.as_ptr(), SIDE_BUF as usize, flags, None, null_mut());
            assert_eq!(s, STATUS_SUCCESS);
            (
                (m.NdkGetLocalTokenFromMr)(mr),
                (m.NdkGetRemoteTokenFromMr)(mr),
            )
        };
        Side {
            node,
            rec,
            cq,
            pd,
            qp,
            mr,
            lkey,
            rkey,
            buf,
            conn: null_mut(),
            _mdl: mdl,
        }
    }

    /// The QP's dispatch table.
    pub fn q(&self) -> &NDK_QP_DISPATCH {
        // SAFETY: the QP is open.
        unsafe { table(self.qp) }
    }

    /// An SGE over `len` bytes of the buffer at `offset`.
    pub fn sge(&self, offset: u64, len: u32) -> NDK_SGE {
        sge(self.buf.addr() + offset, len, self.lkey)
    }

    /// Harvests up to 64 completions with `NdkGetCqResultsEx`.
    pub fn poll(&self) -> Vec<NDK_RESULT_EX> {
        let mut out: Vec<NDK_RESULT_EX> = Vec::with_capacity(64);
        // SAFETY: consumer call with a 64-entry buffer.
        unsafe {
            let t: &NDK_CQ_DISPATCH = table(self.cq);
            let n = (t.NdkGetCqResultsEx)(self.cq, out.as_mut_ptr(), 64);
            out.set_len(n as usize);
        }
        out
    }

    /// Closes every object of the side (connector first) and the adapter, asserting that the
    /// device is left with no object.
    pub fn close(self) {
        use std::ptr::null_mut;
        let rec = Recorder::new();
        if !self.conn.is_null() {
            assert_eq!(make::close(self.conn, &rec), STATUS_SUCCESS);
        }
        assert_eq!(make::close(self.qp, &rec), STATUS_SUCCESS);
        // SAFETY: consumer call on the open MR.
        let s = unsafe {
            (table::<_, NDK_MR_DISPATCH>(self.mr).NdkDeregisterMr)(self.mr, None, null_mut())
        };
        assert_eq!(s, STATUS_SUCCESS);
        for o in [self.mr.cast::<c_void>(), self.pd.cast(), self.cq.cast()] {
            assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
        }
        // SAFETY: every object of the adapter is closed.
        unsafe { adapter::close::<MockNic>(self.node.adapter) };
        assert_eq!(
            self.node.nic.live_objects(),
            hal::mock::LiveObjects::default()
        );
    }
}

/// Connects `a` (active) to `b` (passive, listening on port 445) through NDK listener and
/// connector objects; returns the listener, which the caller closes after the connectors.
pub fn connect(a: &mut Side, b: &mut Side, private_data: &[u8]) -> *mut NDK_LISTENER {
    use std::ptr::null_mut;
    let dst: SocketAddr = SocketAddr::new(b.node.ip, 445);
    let (addr, len) = sockaddr(dst);
    let (src, slen) = sockaddr(SocketAddr::new(a.node.ip, 0));
    let mut listener = null_mut();
    // SAFETY: consumer calls through the dispatch tables, with recorders that outlive them.
    unsafe {
        let s = (b.node.a().NdkCreateListener)(
            b.node.adapter,
            Some(on_connect),
            b.rec.ctx(),
            None,
            null_mut(),
            &mut listener,
        );
        assert_eq!(s, STATUS_SUCCESS);
        let lt: &NDK_LISTENER_DISPATCH = table(listener);
        assert_eq!(
            (lt.NdkListen)(listener, addr.as_ptr().cast(), len, None, null_mut()),
            STATUS_SUCCESS
        );
        assert_eq!(
            (a.node.a().NdkCreateConnector)(a.node.adapter, None, null_mut(), &mut a.conn),
            STATUS_SUCCESS
        );
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
            private_data.as_ptr().cast(),
            private_data.len() as u32,
            Some(on_request),
            a.rec.ctx(),
        );
        assert_eq!(s, STATUS_PENDING);
        b.node.pump();
        let ev = b.rec.take();
        let Some(Event::Connect(conn_b)) = ev.first().copied() else {
            panic!("no connect event: {ev:?}")
        };
        b.conn = conn_b as *mut NDK_CONNECTOR;
        let s = (ct.NdkAcceptEx)(
            b.conn,
            b.qp,
            4,
            4,
            null_mut(),
            0,
            None,
            null_mut(),
            Some(on_request),
            b.rec.ctx(),
        );
        assert!(s == STATUS_PENDING || s == STATUS_SUCCESS, "accept: {s:#x}");
        a.node.pump();
        assert_eq!(
            a.rec.take(),
            vec![Event::Request(STATUS_SUCCESS)],
            "connect completes when the peer accepted"
        );
        let s = (ct.NdkCompleteConnectEx)(a.conn, None, null_mut(), Some(on_request), a.rec.ctx());
        assert!(
            s == STATUS_SUCCESS || s == STATUS_PENDING,
            "complete: {s:#x}"
        );
        b.node.pump();
        a.rec.take();
        b.rec.take();
    }
    listener
}
