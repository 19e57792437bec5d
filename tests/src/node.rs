//! NICs with an open adapter ([`Node`]), connected QP endpoints with a registered buffer
//! ([`Side`]) and connection establishment ([`connect`]), over any [`Backend`].

use std::ffi::c_void;
use std::net::{IpAddr, SocketAddr};
use std::ptr::null_mut;
use std::sync::Arc;

use hal::mock::{Fabric, HostBuffer};
use hal::{NicHal, Platform};
use ndk_provider::abi::*;
use ndk_provider::device::SharedHal;
use ndk_provider::karc::KArc;
use ndk_provider::{adapter, Device};

use crate::{
    make, on_connect, on_create, on_request, sge, sockaddr, table, wait_for, Backend, Event,
    MockBackend, Recorder, TestMdl,
};

/// One NIC with an open NDK adapter.
pub struct Node<B: Backend = MockBackend> {
    /// The NIC (for the mock: scripting and inspection), as the device shares it.
    pub nic: SharedHal<B::Nic>,
    /// The provider's device.
    pub dev: KArc<Device<B::Nic>>,
    /// The NDK adapter as NDIS would hand it to a consumer.
    pub adapter: *mut NDK_ADAPTER,
    /// The NIC's address.
    pub ip: IpAddr,
    /// The network the NIC is on.
    pub net: B::Net,
}

impl Node<MockBackend> {
    /// A mock NIC on `fabric` with address `ip`, and an adapter opened at NDKPI 2.1.
    pub fn new(fabric: &Fabric, ip: &str) -> Node {
        Node::open(fabric, ip)
    }
}

impl<B: Backend> Node<B> {
    /// A NIC of backend `B` on `net` with address `ip`, and an adapter opened at NDKPI 2.1.
    pub fn open(net: &B::Net, ip: &str) -> Node<B> {
        let ip: IpAddr = ip.parse().unwrap();
        let nic = B::nic(net, ip);
        let dev = Device::try_new(nic.clone()).expect("device");
        let adapter = adapter::open(&dev, NDK_VERSION::new(2, 1)).expect("open adapter");
        Node {
            nic: nic.into(),
            dev,
            adapter,
            ip,
            net: net.clone(),
        }
    }

    /// Lets the network run and the devices' DPCs deliver every callback that is due
    /// ([`Backend::pump`]); returns how much work was done.
    pub fn pump(&self) -> usize {
        B::pump(&self.net)
    }

    /// The adapter dispatch table.
    pub fn a(&self) -> &NDK_ADAPTER_DISPATCH {
        // SAFETY: the adapter is open; its Dispatch points to a static table.
        unsafe { &*(*self.adapter).Dispatch }
    }

    /// Send-queue doorbells the NIC got so far, when the backend counts them.
    pub fn doorbells(&self) -> Option<u64> {
        B::doorbells(&self.nic)
    }

    /// The device logical address of host address `va` (in a locked page), as the platform
    /// maps page frame numbers.
    pub fn logical_address(&self, va: u64) -> u64 {
        self.nic.platform().page_logical_address(va >> 12) + (va & 0xFFF)
    }

    /// Device logical addresses of the pages of `buf`, as a LAM or a fast-register page list
    /// carries them.
    pub fn logical_pages(&self, buf: &HostBuffer) -> Vec<i64> {
        let p = self.nic.platform();
        buf.pfns()
            .map(|pfn| p.page_logical_address(pfn) as i64)
            .collect()
    }

    /// Pumps until `rec` holds an event `pred` accepts; removes and returns it.
    pub fn wait_event(&self, rec: &Recorder, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        wait_for::<B, _>(&self.net, what, || rec.take_matching(&pred))
    }

    /// The final status of a call that completes through `NDK_FN_REQUEST_COMPLETION` with
    /// context `rec`: `s` itself unless it is `STATUS_PENDING`, then the status of the
    /// completion (waited for).
    pub fn settle(&self, s: NTSTATUS, rec: &Recorder) -> NTSTATUS {
        if s != STATUS_PENDING {
            return s;
        }
        match self.wait_event(rec, "request completion", |e| {
            matches!(e, Event::Request(_))
        }) {
            Event::Request(s) => s,
            e => unreachable!("{e:?}"),
        }
    }

    /// The object of a create call that returned `s` with create-completion context `rec`:
    /// `out` on success, the object of the create completion (waited for, and asserted
    /// successful) when the call pended; panics naming `what` on any other status.
    pub fn created<O>(&self, what: &str, rec: &Recorder, s: NTSTATUS, out: *mut O) -> *mut O {
        match s {
            STATUS_SUCCESS => out,
            STATUS_PENDING => {
                match self.wait_event(rec, what, |e| matches!(e, Event::Create(..))) {
                    Event::Create(st, obj) => {
                        assert_eq!(st, STATUS_SUCCESS, "{what} completed with {st:#x}");
                        obj as *mut O
                    }
                    e => unreachable!("{e:?}"),
                }
            }
            s => panic!("{what}: {s:#x}"),
        }
    }

    /// Closes an object that has no open successor: the close returns `STATUS_SUCCESS`
    /// (closed in the call, no callback), or `STATUS_PENDING` and one close callback follows
    /// (waited for).
    pub fn close_object<O>(&self, obj: *mut O) {
        let rec = Recorder::new();
        match make::close(obj, &rec) {
            STATUS_SUCCESS => assert!(rec.take().is_empty(), "no callback for a closed object"),
            STATUS_PENDING => {
                self.wait_event(&rec, "close completion", |e| *e == Event::Close);
            }
            s => panic!("close: {s:#x}"),
        }
    }

    /// Closes the adapter (every object on it must be closed) and checks that the device is
    /// left with no object ([`Backend::check_idle`]).
    pub fn close(self) {
        // Closes that pended on the device complete first: the adapter's close waits for them.
        self.pump();
        // SAFETY: the caller closed every object of the adapter.
        unsafe { adapter::close::<B::Nic>(self.adapter) };
        if let Err(live) = B::check_idle(&self.nic) {
            panic!("{} device not idle after close: {live}", B::name());
        }
    }
}

/// Bytes of each side's registered buffer unless [`SideOptions::buffer`] says otherwise.
pub const SIDE_BUF: u32 = 8192;

/// Sizes of a [`Side`]'s objects.
#[derive(Clone, Copy, Debug)]
pub struct SideOptions {
    /// CQ depth (one CQ for both queues).
    pub cq_depth: u32,
    /// Initiator queue depth.
    pub sq_depth: u32,
    /// Receive queue depth.
    pub rq_depth: u32,
    /// Bytes of the registered buffer.
    pub buf_len: u32,
}

impl SideOptions {
    /// A CQ of `cq_depth`, queues of depth 64 and an [`SIDE_BUF`]-byte buffer.
    pub fn new(cq_depth: u32) -> SideOptions {
        SideOptions {
            cq_depth,
            sq_depth: 64,
            rq_depth: 64,
            buf_len: SIDE_BUF,
        }
    }

    /// With a registered buffer of `len` bytes.
    pub fn buffer(mut self, len: u32) -> SideOptions {
        self.buf_len = len;
        self
    }

    /// With initiator and receive queues of the given depths.
    pub fn queues(mut self, sq_depth: u32, rq_depth: u32) -> SideOptions {
        self.sq_depth = sq_depth;
        self.rq_depth = rq_depth;
        self
    }
}

/// One side of a connected pair: CQ, PD, QP and a registered buffer.
pub struct Side<B: Backend = MockBackend> {
    /// The node.
    pub node: Node<B>,
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
    pub buf: HostBuffer,
    /// The connector bound to the QP.
    pub conn: *mut NDK_CONNECTOR,
    _mdl: TestMdl,
}

impl Side<MockBackend> {
    /// A mock node with a CQ of `cq_depth`, a PD, a QP of depth 64 and a registered
    /// [`SIDE_BUF`]-byte buffer.
    pub fn new(fabric: &Fabric, ip: &str, cq_depth: u32) -> Side {
        Side::open(fabric, ip, cq_depth)
    }
}

impl<B: Backend> Side<B> {
    /// A node of backend `B` with a CQ of `cq_depth`, a PD, a QP of depth 64 and a
    /// registered [`SIDE_BUF`]-byte buffer.
    pub fn open(net: &B::Net, ip: &str, cq_depth: u32) -> Side<B> {
        Side::open_with(net, ip, SideOptions::new(cq_depth))
    }

    /// A node of backend `B` with objects of the sizes in `o`; the buffer is registered with
    /// local write, remote read and remote write access.
    pub fn open_with(net: &B::Net, ip: &str, o: SideOptions) -> Side<B> {
        let node = Node::open(net, ip);
        let rec = Recorder::new();
        let cq = make::cq(&node, o.cq_depth, &rec);
        let pd = make::pd(&node);
        let buf = HostBuffer::new(o.buf_len as usize);
        let mut mdl = TestMdl::new(buf.addr(), o.buf_len);
        let done = Recorder::new();
        // SAFETY: consumer calls on objects just created; `done` outlives the awaited
        // completions.
        let (qp, mr, lkey, rkey) = unsafe {
            let t: &NDK_PD_DISPATCH = table(pd);
            let mut qp = null_mut();
            let s = (t.NdkCreateQp)(
                pd,
                cq,
                cq,
                0x5150 as *mut c_void,
                o.rq_depth,
                o.sq_depth,
                2,
                2,
                64,
                Some(on_create),
                done.ctx(),
                &mut qp,
            );
            let qp = node.created("NdkCreateQp", &done, s, qp);
            let mut mr = null_mut();
            let s = (t.NdkCreateMr)(pd, 0, Some(on_create), done.ctx(), &mut mr);
            let mr = node.created("NdkCreateMr", &done, s, mr);
            let m: &NDK_MR_DISPATCH = table(mr);
            let flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE
                | NDK_MR_FLAG_ALLOW_REMOTE_READ
                | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
            let s = (m.NdkRegisterMr)(
                mr,
                mdl.as_ptr(),
                o.buf_len as usize,
                flags,
                Some(on_request),
                done.ctx(),
            );
            assert_eq!(node.settle(s, &done), STATUS_SUCCESS, "NdkRegisterMr");
            (
                qp,
                mr,
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

    /// The CQ's dispatch table.
    pub fn c(&self) -> &NDK_CQ_DISPATCH {
        // SAFETY: the CQ is open.
        unsafe { table(self.cq) }
    }

    /// Bytes of the registered buffer.
    pub fn buf_len(&self) -> u32 {
        self.buf.len() as u32
    }

    /// An SGE over `len` bytes of the buffer at `offset`.
    pub fn sge(&self, offset: u64, len: u32) -> NDK_SGE {
        sge(self.buf.addr() + offset, len, self.lkey)
    }

    /// Lets the network run and delivers due callbacks ([`Backend::pump`]).
    pub fn pump(&self) -> usize {
        self.node.pump()
    }

    /// Pumps, then harvests up to 64 completions with `NdkGetCqResultsEx`.
    pub fn poll(&self) -> Vec<NDK_RESULT_EX> {
        self.pump();
        let mut out: Vec<NDK_RESULT_EX> = Vec::with_capacity(64);
        // SAFETY: consumer call with a 64-entry buffer.
        unsafe {
            let n = (self.c().NdkGetCqResultsEx)(self.cq, out.as_mut_ptr(), 64);
            out.set_len(n as usize);
        }
        out
    }

    /// Pumps, then harvests up to 64 completions with the plain `NdkGetCqResults`.
    pub fn poll_plain(&self) -> Vec<NDK_RESULT> {
        self.pump();
        crate::wr::poll_plain(self.cq)
    }

    /// Pumps and harvests until at least `n` completions came, or [`crate::WAIT_ROUNDS`]
    /// rounds passed; returns every completion harvested (the caller checks the count).
    pub fn wait_completions(&self, n: usize) -> Vec<NDK_RESULT_EX> {
        let mut all = Vec::new();
        for _ in 0..crate::WAIT_ROUNDS {
            all.extend(self.poll());
            if all.len() >= n {
                break;
            }
            std::thread::yield_now();
        }
        all
    }

    /// Closes every object of the side (connector first) and the adapter, asserting that the
    /// device is left with no object.
    pub fn close(self) {
        let n = &self.node;
        if !self.conn.is_null() {
            n.close_object(self.conn);
        }
        n.close_object(self.qp);
        let done = Recorder::new();
        // SAFETY: consumer call on the open MR; `done` outlives the awaited completion.
        let s = unsafe {
            (table::<_, NDK_MR_DISPATCH>(self.mr).NdkDeregisterMr)(
                self.mr,
                Some(on_request),
                done.ctx(),
            )
        };
        assert_eq!(n.settle(s, &done), STATUS_SUCCESS, "NdkDeregisterMr");
        n.close_object(self.mr);
        n.close_object(self.pd);
        n.close_object(self.cq);
        self.node.close();
    }
}

/// Connects `a` (active) to `b` (passive, listening on port 445) through NDK listener and
/// connector objects; returns the listener, which the caller closes after the connectors.
pub fn connect<B: Backend>(
    a: &mut Side<B>,
    b: &mut Side<B>,
    private_data: &[u8],
) -> *mut NDK_LISTENER {
    let dst: SocketAddr = SocketAddr::new(b.node.ip, 445);
    let (addr, len) = sockaddr(dst);
    let (src, slen) = sockaddr(SocketAddr::new(a.node.ip, 0));
    let done = Recorder::new();
    // SAFETY: consumer calls through the dispatch tables, with recorders that outlive them
    // (`done` outlives every completion it is given: each is waited for).
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
            private_data.as_ptr().cast(),
            private_data.len() as u32,
            Some(on_request),
            a.rec.ctx(),
        );
        assert_eq!(s, STATUS_PENDING);
        let ev = b
            .node
            .wait_event(&b.rec, "connect event", |e| matches!(e, Event::Connect(_)));
        let Event::Connect(conn_b) = ev else {
            unreachable!("{ev:?}")
        };
        assert!(b.rec.take().is_empty(), "only the connect event");
        b.conn = conn_b as *mut NDK_CONNECTOR;
        let accept = (ct.NdkAcceptEx)(
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
        assert!(
            accept == STATUS_PENDING || accept == STATUS_SUCCESS,
            "accept: {accept:#x}"
        );
        let ev = a.node.wait_event(&a.rec, "connect completion", |e| {
            matches!(e, Event::Request(_))
        });
        assert_eq!(
            ev,
            Event::Request(STATUS_SUCCESS),
            "connect completes when the peer accepted"
        );
        assert!(a.rec.take().is_empty(), "only the connect completion");
        let complete =
            (ct.NdkCompleteConnectEx)(a.conn, None, null_mut(), Some(on_request), a.rec.ctx());
        assert!(
            complete == STATUS_SUCCESS || complete == STATUS_PENDING,
            "complete: {complete:#x}"
        );
        for (side, s, what) in [
            (&*a, complete, "NdkCompleteConnectEx"),
            (&*b, accept, "NdkAcceptEx"),
        ] {
            if s == STATUS_PENDING {
                let ev = side
                    .node
                    .wait_event(&side.rec, what, |e| matches!(e, Event::Request(_)));
                assert_eq!(ev, Event::Request(STATUS_SUCCESS), "{what}");
            }
        }
        a.node.pump();
        a.rec.take();
        b.rec.take();
        listener
    }
}
