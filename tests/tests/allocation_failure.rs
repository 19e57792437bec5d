//! Allocation failure at every allocation site of each create and request call, through the
//! dispatch tables (and the NDIS open-adapter logic).
//!
//! For each scenario, attempt n = 0, 1, 2, ... builds a fresh fabric with the fixtures the
//! call needs (nothing armed), makes the n-th allocation of this thread fail
//! (`fail_allocation_in(n)`), makes the one call, and disarms. The rule:
//!
//! * the injected failure fired (an allocation of the call returned NULL) ⇒ the call returns
//!   STATUS_INSUFFICIENT_RESOURCES (NDIS_STATUS_RESOURCES for the adapter open), writes no
//!   object to its out-parameter, makes no callback, leaves no device object behind and
//!   changes nothing (a failed RegisterMr leaves the MR unregistered, a failed Listen leaves
//!   the listener without an address, a failed Connect leaves the connector unbound);
//! * it did not fire ⇒ the call succeeded and the sweep ends: every allocation the call makes
//!   has been failed once.
//!
//! Each attempt then closes everything, closes the adapters (asserting the mock holds no
//! object) and drops the fabric; the thread's live bytes must be back to their value before
//! the attempt. The allocations of the mock NIC (which reserves with `try_reserve` and reports
//! `HalError::NoResources`) and its first-use table growth are part of the sweep, since each
//! attempt starts from a new fabric. Test-side callbacks here only touch atomics, so the
//! consumer never allocates inside an armed call.

use std::ffi::c_void;
use std::net::SocketAddr;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use hal::mock::{Fabric, HostBuffer, LiveObjects, MockNic};
use ndk_provider::abi::*;
use ndk_provider::adapter;
use ndk_tests::alloc::{disarm_failure, fail_allocation_in, live_bytes, CountingAlloc};
use ndk_tests::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------------------
// Callbacks that never allocate
// ---------------------------------------------------------------------------------------

/// What the provider called back, in atomics (a `Recorder` would allocate in the callback).
#[derive(Default)]
struct Slots {
    /// Every callback of any kind.
    callbacks: AtomicUsize,
    /// ConnectEvent calls, and the last connector delivered.
    connects: AtomicUsize,
    connector: AtomicUsize,
    /// Request completions, and the last status.
    requests: AtomicUsize,
    request_status: AtomicI32,
}

impl Slots {
    fn ctx(&self) -> *mut c_void {
        self as *const Slots as *mut c_void
    }
}

/// # Safety
/// `ctx` is a live `Slots`.
unsafe fn slots<'a>(ctx: *mut c_void) -> &'a Slots {
    // SAFETY: every context given to the provider in this file is a `Slots` of the world.
    unsafe { &*(ctx as *const Slots) }
}

unsafe extern "system" fn s_request(ctx: *mut c_void, status: NTSTATUS) {
    // SAFETY: see `slots`.
    let s = unsafe { slots(ctx) };
    s.request_status.store(status, Ordering::SeqCst);
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.callbacks.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "system" fn s_create(ctx: *mut c_void, _: NTSTATUS, _: *mut NDK_OBJECT_HEADER) {
    // SAFETY: see `slots`.
    unsafe { slots(ctx) }
        .callbacks
        .fetch_add(1, Ordering::SeqCst);
}

unsafe extern "system" fn s_close(ctx: *mut c_void) {
    // SAFETY: see `slots`.
    unsafe { slots(ctx) }
        .callbacks
        .fetch_add(1, Ordering::SeqCst);
}

unsafe extern "system" fn s_notify(ctx: *mut c_void, _: NTSTATUS) {
    // SAFETY: see `slots`.
    unsafe { slots(ctx) }
        .callbacks
        .fetch_add(1, Ordering::SeqCst);
}

unsafe extern "system" fn s_connect(ctx: *mut c_void, c: *mut NDK_CONNECTOR) {
    // SAFETY: see `slots`.
    let s = unsafe { slots(ctx) };
    s.connector.store(c as usize, Ordering::SeqCst);
    s.connects.fetch_add(1, Ordering::SeqCst);
    s.callbacks.fetch_add(1, Ordering::SeqCst);
}

// ---------------------------------------------------------------------------------------
// A world per attempt
// ---------------------------------------------------------------------------------------

/// Fabric, nodes, fixtures and what the call under test created.
struct World {
    nodes: Vec<Node>,
    slots: Box<Slots>,
    /// Fixtures, in creation order (closed in reverse: successors first).
    objs: Vec<*mut c_void>,
    bufs: Vec<(HostBuffer, TestMdl)>,
    // Named fixtures the calls use.
    pd: *mut NDK_PD,
    cq: *mut NDK_CQ,
    qp: *mut NDK_QP,
    mr: *mut NDK_MR,
    mdl: *mut MDL,
    listener: *mut NDK_LISTENER,
    conn: *mut NDK_CONNECTOR,
    /// Addresses for Listen and Connect, prepared outside the armed call.
    src: ([u8; 28], u32),
    dst: ([u8; 28], u32),
    /// The out-parameter of the create under test (NULL unless it succeeded).
    out: *mut c_void,
    /// An adapter opened by the call under test.
    out_adapter: *mut NDK_ADAPTER,
    _fabric: Fabric,
}

const PORT: u16 = 445;

fn ip(i: usize) -> String {
    format!("10.70.0.{}", i + 1)
}

impl World {
    fn new(nodes: usize) -> World {
        let fabric = Fabric::new();
        let nodes: Vec<Node> = (0..nodes).map(|i| Node::new(&fabric, &ip(i))).collect();
        let addr = |i: usize, port: u16| sockaddr(SocketAddr::new(ip(i).parse().unwrap(), port));
        World {
            nodes,
            slots: Box::default(),
            objs: Vec::new(),
            bufs: Vec::new(),
            pd: null_mut(),
            cq: null_mut(),
            qp: null_mut(),
            mr: null_mut(),
            mdl: null_mut(),
            listener: null_mut(),
            conn: null_mut(),
            src: addr(0, 0),
            dst: addr(1, PORT),
            out: null_mut(),
            out_adapter: null_mut(),
            _fabric: fabric,
        }
    }

    fn ctx(&self) -> *mut c_void {
        self.slots.ctx()
    }

    fn cq(&mut self, i: usize) {
        let n = &self.nodes[i];
        let mut cq = null_mut();
        // SAFETY: consumer call on an open adapter.
        let st = unsafe {
            (n.a().NdkCreateCq)(
                n.adapter,
                16,
                Some(s_notify),
                self.ctx(),
                null_mut(),
                Some(s_create),
                self.ctx(),
                &mut cq,
            )
        };
        assert_eq!(st, STATUS_SUCCESS);
        self.cq = cq;
        self.objs.push(cq.cast());
    }

    fn pd(&mut self, i: usize) {
        let n = &self.nodes[i];
        let mut pd = null_mut();
        // SAFETY: consumer call on an open adapter.
        let st = unsafe { (n.a().NdkCreatePd)(n.adapter, Some(s_create), self.ctx(), &mut pd) };
        assert_eq!(st, STATUS_SUCCESS);
        self.pd = pd;
        self.objs.push(pd.cast());
    }

    fn qp(&mut self) {
        self.qp = null_mut();
        // SAFETY: consumer call on an open PD and CQ.
        let st = unsafe { create_qp(self) };
        assert_eq!(st, STATUS_SUCCESS);
        self.qp = self.out.cast();
        self.out = null_mut();
        self.objs.push(self.qp.cast());
    }

    fn mr(&mut self, fast: u8) {
        let mut mr = null_mut();
        // SAFETY: consumer call on an open PD.
        let st = unsafe {
            (table::<_, NDK_PD_DISPATCH>(self.pd).NdkCreateMr)(
                self.pd,
                fast,
                Some(s_create),
                self.ctx(),
                &mut mr,
            )
        };
        assert_eq!(st, STATUS_SUCCESS);
        self.mr = mr;
        self.objs.push(mr.cast());
    }

    fn buffer(&mut self, len: u32) {
        let buf = HostBuffer::new(len as usize);
        let mdl = TestMdl::new(buf.addr(), len);
        self.bufs.push((buf, mdl));
        self.mdl = self.bufs.last_mut().unwrap().1.as_ptr();
    }

    fn listener(&mut self, i: usize) {
        let n = &self.nodes[i];
        let mut l = null_mut();
        // SAFETY: consumer call on an open adapter.
        let st = unsafe {
            (n.a().NdkCreateListener)(
                n.adapter,
                Some(s_connect),
                self.ctx(),
                Some(s_create),
                self.ctx(),
                &mut l,
            )
        };
        assert_eq!(st, STATUS_SUCCESS);
        self.listener = l;
        self.objs.push(l.cast());
    }

    fn connector(&mut self, i: usize) {
        let n = &self.nodes[i];
        let mut c = null_mut();
        // SAFETY: consumer call on an open adapter.
        let st =
            unsafe { (n.a().NdkCreateConnector)(n.adapter, Some(s_create), self.ctx(), &mut c) };
        assert_eq!(st, STATUS_SUCCESS);
        self.conn = c;
        self.objs.push(c.cast());
    }

    fn pump(&self) {
        self.nodes[0].pump();
    }

    fn live(&self) -> Vec<LiveObjects> {
        self.nodes.iter().map(|n| n.nic.live_objects()).collect()
    }

    /// Closes everything (all closes complete inside the call: successors go first), then
    /// the adapters; the mock must hold no object.
    fn teardown(mut self) {
        self.pump();
        let passive = self.slots.connector.swap(0, Ordering::SeqCst);
        let mut order: Vec<*mut c_void> = Vec::new();
        if passive != 0 {
            order.push(passive as *mut c_void);
        }
        if !self.out.is_null() {
            order.push(self.out);
        }
        order.extend(self.objs.iter().rev());
        for o in order {
            // SAFETY: every object is open and closed once, successors first.
            let st = unsafe { close_obj(o, &self.slots) };
            assert_eq!(st, STATUS_SUCCESS, "teardown close");
        }
        self.pump();
        if !self.out_adapter.is_null() {
            // SAFETY: nothing was created on it.
            unsafe { adapter::close::<MockNic>(self.out_adapter) };
        }
        for n in &self.nodes {
            assert_eq!(
                n.nic.live_objects(),
                LiveObjects::default(),
                "device objects left on {}",
                n.ip
            );
            // SAFETY: every object of the adapter is closed.
            unsafe { adapter::close::<MockNic>(n.adapter) };
        }
        self.bufs.clear();
    }
}

/// Closes through slot 0 with a non-allocating close callback.
unsafe fn close_obj(obj: *mut c_void, s: &Slots) -> NTSTATUS {
    // SAFETY: `obj` is an open NDK object; slot 0 of its table is NdkCloseXxx.
    unsafe {
        let d = *(obj
            .cast::<u8>()
            .add(0x28)
            .cast::<*const NDK_FN_CLOSE_OBJECT>());
        (*d)(obj.cast(), Some(s_close), s.ctx())
    }
}

/// `NdkCreateQp` on the world's PD and CQ into `w.out`.
unsafe fn create_qp(w: &mut World) -> NTSTATUS {
    let mut qp = null_mut();
    // SAFETY: consumer call on an open PD and CQ.
    let st = unsafe {
        (table::<_, NDK_PD_DISPATCH>(w.pd).NdkCreateQp)(
            w.pd,
            w.cq,
            w.cq,
            0x51 as *mut c_void,
            8,
            8,
            2,
            2,
            32,
            Some(s_create),
            w.ctx(),
            &mut qp,
        )
    };
    w.out = qp.cast();
    st
}

/// The sweep: see the module docs. `setup` builds the fixtures (unarmed), `call` makes the
/// one call under test (armed) and returns its status, `ok` are its success statuses,
/// `nothing_done` checks (unarmed) that a failed call changed nothing. Returns the number of
/// allocations the call makes.
fn sweep(
    name: &str,
    nodes: usize,
    setup: impl Fn(&mut World),
    call: impl Fn(&mut World) -> NTSTATUS,
    ok: &[NTSTATUS],
    failed: NTSTATUS,
    nothing_done: impl Fn(&mut World),
) -> u64 {
    // One unarmed round first: process-wide lazy state is then in place, so the baseline
    // below holds.
    {
        let mut w = World::new(nodes);
        setup(&mut w);
        let st = call(&mut w);
        assert!(ok.contains(&st), "{name}: unarmed call returned {st:#x}");
        w.teardown();
    }
    let base = live_bytes();
    for n in 0..500u64 {
        let mut w = World::new(nodes);
        setup(&mut w);
        let live = w.live();
        let callbacks = w.slots.callbacks.load(Ordering::SeqCst);
        for node in &w.nodes {
            // Room for the mock's call log, so recording the call does not allocate.
            node.nic.clear_calls();
        }
        fail_allocation_in(n);
        let st = call(&mut w);
        let fired = !disarm_failure();
        if fired {
            assert_eq!(
                st, failed,
                "{name}: allocation #{n} failed, the call returned {st:#x}"
            );
            assert!(
                w.out.is_null(),
                "{name}: allocation #{n}: an object was returned"
            );
            assert_eq!(
                w.live(),
                live,
                "{name}: allocation #{n}: device objects left"
            );
            w.pump();
            assert_eq!(
                w.slots.callbacks.load(Ordering::SeqCst),
                callbacks,
                "{name}: allocation #{n}: a failed call made a callback"
            );
            nothing_done(&mut w);
        } else {
            assert!(ok.contains(&st), "{name}: unarmed call returned {st:#x}");
        }
        w.teardown();
        drop(live);
        assert_eq!(
            live_bytes(),
            base,
            "{name}: allocation #{n}: bytes left allocated after closing everything"
        );
        if !fired {
            eprintln!("{name}: {n} allocations, each failed once");
            assert!(
                n > 0,
                "{name}: the call allocates nothing; the sweep proves nothing"
            );
            return n;
        }
    }
    panic!("{name}: more than 500 allocations")
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

#[test]
fn open_adapter() {
    sweep(
        "open adapter",
        1,
        |_| {},
        |w| match adapter::open(&w.nodes[0].dev, NDK_VERSION::new(2, 1)) {
            Ok(a) => {
                w.out_adapter = a;
                STATUS_SUCCESS
            }
            Err(s) => s,
        },
        &[STATUS_SUCCESS],
        NDIS_STATUS_RESOURCES,
        |w| assert!(w.out_adapter.is_null()),
    );
}

#[test]
fn create_cq() {
    sweep(
        "NdkCreateCq",
        1,
        |_| {},
        |w| {
            let n = &w.nodes[0];
            let mut cq = null_mut();
            // SAFETY: consumer call on an open adapter.
            let st = unsafe {
                (n.a().NdkCreateCq)(
                    n.adapter,
                    16,
                    Some(s_notify),
                    w.ctx(),
                    null_mut(),
                    Some(s_create),
                    w.ctx(),
                    &mut cq,
                )
            };
            w.out = cq.cast();
            st
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

#[test]
fn create_pd() {
    sweep(
        "NdkCreatePd",
        1,
        |_| {},
        |w| {
            let n = &w.nodes[0];
            let mut pd = null_mut();
            // SAFETY: consumer call on an open adapter.
            let st = unsafe { (n.a().NdkCreatePd)(n.adapter, Some(s_create), w.ctx(), &mut pd) };
            w.out = pd.cast();
            st
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

#[test]
fn create_qp_on_a_pd_and_cq() {
    sweep(
        "NdkCreateQp",
        1,
        |w| {
            w.cq(0);
            w.pd(0);
        },
        // SAFETY: consumer call on an open PD and CQ.
        |w| unsafe { create_qp(w) },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

#[test]
fn create_mr() {
    sweep(
        "NdkCreateMr",
        1,
        |w| w.pd(0),
        |w| {
            let mut mr = null_mut();
            // SAFETY: consumer call on an open PD.
            let st = unsafe {
                (table::<_, NDK_PD_DISPATCH>(w.pd).NdkCreateMr)(
                    w.pd,
                    0,
                    Some(s_create),
                    w.ctx(),
                    &mut mr,
                )
            };
            w.out = mr.cast();
            st
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

#[test]
fn register_mr_with_an_mdl() {
    sweep(
        "NdkRegisterMr",
        1,
        |w| {
            w.pd(0);
            w.mr(0);
            w.buffer(3 * 4096);
        },
        |w| {
            // SAFETY: consumer call on an open MR with a locked (test) MDL of 3 pages.
            unsafe {
                (table::<_, NDK_MR_DISPATCH>(w.mr).NdkRegisterMr)(
                    w.mr,
                    w.mdl,
                    3 * 4096,
                    NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_ALLOW_REMOTE_READ,
                    Some(s_request),
                    w.ctx(),
                )
            }
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |w| {
            // Still unregistered: no token, nothing to deregister.
            // SAFETY: consumer calls on the open MR.
            unsafe {
                let m: &NDK_MR_DISPATCH = table(w.mr);
                assert_eq!((m.NdkGetLocalTokenFromMr)(w.mr), 0);
                assert_eq!(
                    (m.NdkDeregisterMr)(w.mr, None, null_mut()),
                    STATUS_INVALID_DEVICE_STATE
                );
            }
        },
    );
}

#[test]
fn initialize_fast_register_mr() {
    sweep(
        "NdkInitializeFastRegisterMr",
        1,
        |w| {
            w.pd(0);
            w.mr(1);
        },
        |w| {
            // SAFETY: consumer call on an open fast-register MR.
            unsafe {
                (table::<_, NDK_MR_DISPATCH>(w.mr).NdkInitializeFastRegisterMr)(
                    w.mr,
                    16,
                    1,
                    Some(s_request),
                    w.ctx(),
                )
            }
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |w| {
            // SAFETY: consumer call on the open MR.
            let t = unsafe { (table::<_, NDK_MR_DISPATCH>(w.mr).NdkGetLocalTokenFromMr)(w.mr) };
            assert_eq!(t, 0, "no token after a failed initialization");
        },
    );
}

/// mw.rs `ndk_create_mw` allocates the device window (`alloc_mw`) before the NDK object;
/// when `new_obj` then fails it returns STATUS_INSUFFICIENT_RESOURCES but drops the HAL
/// handle inside the unconstructed `MwBody` without `free_mw`: the device window leaks
/// (`live_objects().mw` stays 1).
#[test]
fn create_mw() {
    sweep(
        "NdkCreateMw",
        1,
        |w| w.pd(0),
        |w| {
            let mut mw = null_mut();
            // SAFETY: consumer call on an open PD.
            let st = unsafe {
                (table::<_, NDK_PD_DISPATCH>(w.pd).NdkCreateMw)(
                    w.pd,
                    Some(s_create),
                    w.ctx(),
                    &mut mw,
                )
            };
            w.out = mw.cast();
            st
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

#[test]
fn create_srq() {
    sweep(
        "NdkCreateSrq",
        1,
        |w| w.pd(0),
        |w| {
            let mut srq = null_mut();
            // SAFETY: consumer call on an open PD.
            let st = unsafe {
                (table::<_, NDK_PD_DISPATCH>(w.pd).NdkCreateSrq)(
                    w.pd,
                    16,
                    2,
                    4,
                    None,
                    null_mut(),
                    null_mut(),
                    Some(s_create),
                    w.ctx(),
                    &mut srq,
                )
            };
            w.out = srq.cast();
            st
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

#[test]
fn create_listener() {
    sweep(
        "NdkCreateListener",
        1,
        |_| {},
        |w| {
            let n = &w.nodes[0];
            let mut l = null_mut();
            // SAFETY: consumer call on an open adapter.
            let st = unsafe {
                (n.a().NdkCreateListener)(
                    n.adapter,
                    Some(s_connect),
                    w.ctx(),
                    Some(s_create),
                    w.ctx(),
                    &mut l,
                )
            };
            w.out = l.cast();
            st
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

/// `NdkListen` on node 1's address (the `dst` of the world).
unsafe fn listen_call(w: &World) -> NTSTATUS {
    // SAFETY: consumer call on an open listener.
    unsafe {
        (table::<_, NDK_LISTENER_DISPATCH>(w.listener).NdkListen)(
            w.listener,
            w.dst.0.as_ptr().cast(),
            w.dst.1,
            Some(s_request),
            w.ctx(),
        )
    }
}

#[test]
fn listen() {
    sweep(
        "NdkListen",
        2,
        |w| w.listener(1),
        // SAFETY: see `listen_call`.
        |w| unsafe { listen_call(w) },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |w| {
            // No address bound, and the address is free: a second Listen takes it.
            let mut a = [0u8; 28];
            let mut len = 28u32;
            // SAFETY: consumer calls on the open listener.
            unsafe {
                let t: &NDK_LISTENER_DISPATCH = table(w.listener);
                assert_eq!(
                    (t.NdkGetLocalAddress)(w.listener, a.as_mut_ptr().cast(), &mut len),
                    STATUS_INVALID_DEVICE_STATE
                );
                assert_eq!(listen_call(w), STATUS_SUCCESS, "the port was given back");
            }
        },
    );
}

#[test]
fn create_connector() {
    sweep(
        "NdkCreateConnector",
        1,
        |_| {},
        |w| {
            let n = &w.nodes[0];
            let mut c = null_mut();
            // SAFETY: consumer call on an open adapter.
            let st =
                unsafe { (n.a().NdkCreateConnector)(n.adapter, Some(s_create), w.ctx(), &mut c) };
            w.out = c.cast();
            st
        },
        &[STATUS_SUCCESS],
        STATUS_INSUFFICIENT_RESOURCES,
        |_| {},
    );
}

/// Node 0 with a CQ, PD, QP and connector; node 1 listening.
fn connect_fixtures(w: &mut World) {
    w.listener(1);
    // SAFETY: see `listen_call`.
    assert_eq!(unsafe { listen_call(w) }, STATUS_SUCCESS);
    w.cq(0);
    w.pd(0);
    w.qp();
    w.connector(0);
}

/// `NdkConnect` from node 0's connector and QP to node 1.
unsafe fn connect_call(w: &World) -> NTSTATUS {
    // SAFETY: consumer call on an open connector and QP.
    unsafe {
        (table::<_, NDK_CONNECTOR_DISPATCH>(w.conn).NdkConnect)(
            w.conn,
            w.qp,
            w.src.0.as_ptr().cast(),
            w.src.1,
            w.dst.0.as_ptr().cast(),
            w.dst.1,
            2,
            2,
            b"pdata".as_ptr().cast(),
            5,
            Some(s_request),
            w.ctx(),
        )
    }
}

#[test]
fn connect() {
    sweep(
        "NdkConnect",
        2,
        connect_fixtures,
        // SAFETY: see `connect_call`.
        |w| unsafe { connect_call(w) },
        &[STATUS_PENDING],
        STATUS_INSUFFICIENT_RESOURCES,
        |w| {
            // Unbound: no local address; the peer hears nothing; a new Connect works.
            let mut a = [0u8; 28];
            let mut len = 28u32;
            // SAFETY: consumer calls on the open connector.
            unsafe {
                let t: &NDK_CONNECTOR_DISPATCH = table(w.conn);
                assert_eq!(
                    (t.NdkGetLocalAddress)(w.conn, a.as_mut_ptr().cast(), &mut len),
                    STATUS_INVALID_DEVICE_STATE
                );
                w.pump();
                assert_eq!(w.slots.connects.load(Ordering::SeqCst), 0);
                assert_eq!(connect_call(w), STATUS_PENDING, "the connector is reusable");
                w.pump();
                assert_eq!(w.slots.connects.load(Ordering::SeqCst), 1);
                assert_eq!(w.slots.requests.load(Ordering::SeqCst), 0);
            }
        },
    );
}

/// Not a consumer call but the DPC: an incoming connection request whose connector cannot be
/// allocated is refused (the active side's Connect completes STATUS_CONNECTION_REFUSED), no
/// ConnectEvent is made, the refused connection is released, and nothing is left on either
/// device.
#[test]
fn incoming_connect_request() {
    let attempt = |n: Option<u64>| -> bool {
        let mut w = World::new(2);
        connect_fixtures(&mut w);
        // SAFETY: see `connect_call`.
        assert_eq!(unsafe { connect_call(&w) }, STATUS_PENDING);
        for node in &w.nodes {
            node.nic.clear_calls();
        }
        if let Some(n) = n {
            fail_allocation_in(n);
        }
        w.pump();
        let fired = n.is_some() && !disarm_failure();
        let got = (
            w.slots.connects.load(Ordering::SeqCst),
            w.slots.requests.load(Ordering::SeqCst),
        );
        if fired {
            assert_eq!(got, (0, 1), "allocation #{n:?}: refused, no connect event");
            assert_eq!(
                w.slots.request_status.load(Ordering::SeqCst),
                STATUS_CONNECTION_REFUSED
            );
        } else {
            assert_eq!(got, (1, 0), "the request reached the listener");
        }
        w.teardown();
        fired
    };
    assert!(!attempt(None));
    let base = live_bytes();
    for n in 0..500u64 {
        let fired = attempt(Some(n));
        assert_eq!(live_bytes(), base, "allocation #{n}: bytes left allocated");
        if !fired {
            assert!(n > 0, "the request path allocates nothing");
            return;
        }
    }
    panic!("more than 500 allocations");
}
