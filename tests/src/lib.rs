//! A small NDK consumer for tests and tools: it opens adapters on the NICs of a [`Backend`]
//! and calls the provider only through the dispatch tables' `extern "system"` function
//! pointers, with C-ABI callbacks that record what the provider reported, the way SMB Direct
//! drives a provider.
//!
//! The same helpers run over the mock NIC ([`MockBackend`], the default type parameter of
//! [`Node`] and [`Side`]) and over any other HAL that implements [`Backend`]: a real NIC
//! completes requests asynchronously, so every helper that expects a completion or a
//! callback first lets the backend run ([`Backend::pump`]), and a call that may pend
//! (creates, closes, registrations) is waited for.
//!
//! The helpers take raw NDK object pointers as a consumer holds them; their contract is
//! NDKPI's (the object is open), so they are not marked `unsafe` one by one.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

pub mod alloc;
mod backend;
mod iwarp;
pub mod miniport;
mod model;
mod node;
mod roce;
pub mod wr;

use std::ffi::c_void;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ndk_provider::abi::*;
use ndk_provider::edge;

pub use backend::{
    wait_for, AsyncFabric, AsyncMockBackend, Backend, MockBackend, NetOptions, WAIT_ROUNDS,
};
pub use iwarp::IwarpBackend;
pub use model::{ModelBackend, Transport};
pub use node::{connect, Node, Side, SideOptions, SIDE_BUF};
pub use roce::RoceBackend;

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
    /// Removes and returns the first recorded event `pred` accepts, leaving the others.
    pub fn take_matching(&self, pred: impl Fn(&Event) -> bool) -> Option<Event> {
        let mut ev = self.events.lock().unwrap();
        let i = ev.iter().position(pred)?;
        Some(ev.remove(i))
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

/// Consumer-side shorthands for the creates most tests need. Each asserts success; a
/// create that pends is waited for (see [`Node::created`]).
pub mod make {
    use super::*;
    use std::ptr::null_mut;

    /// `NdkCreateCq` with notifications to `rec`.
    pub fn cq<B: Backend>(n: &Node<B>, depth: u32, rec: &Recorder) -> *mut NDK_CQ {
        let mut cq = null_mut();
        let done = Recorder::new();
        // SAFETY: calling the provider through its dispatch table as a consumer; the
        // recorders outlive the CQ's notifications and its (awaited) create completion.
        let s = unsafe {
            (n.a().NdkCreateCq)(
                n.adapter,
                depth,
                Some(on_cq),
                rec.ctx(),
                null_mut(),
                Some(on_create),
                done.ctx(),
                &mut cq,
            )
        };
        n.created("NdkCreateCq", &done, s, cq)
    }

    /// `NdkCreatePd`.
    pub fn pd<B: Backend>(n: &Node<B>) -> *mut NDK_PD {
        let mut pd = null_mut();
        let done = Recorder::new();
        // SAFETY: as above.
        let s = unsafe { (n.a().NdkCreatePd)(n.adapter, Some(on_create), done.ctx(), &mut pd) };
        n.created("NdkCreatePd", &done, s, pd)
    }

    /// `NdkCreateQp` with depths 16, 2 SGEs, 64 inline bytes and QPContext `qp_ctx`. Must
    /// complete synchronously (as the mock does).
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
