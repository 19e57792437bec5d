//! Consumer-side shorthands for the work-request, memory, CQ and SRQ tests: a connected pair
//! with its teardown, MR / MW / LAM helpers and completion summaries. Every call still goes
//! through the dispatch tables; calls that may pend are waited for.

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::Mutex;

use hal::mock::Fabric;
use ndk_provider::abi::*;

use crate::{connect, make, on_create, on_request, table, Backend, Event, MockBackend, Node};
use crate::{Recorder, Side, TestMdl};

/// A request context value.
pub fn ctx(n: usize) -> *mut c_void {
    (0x100 + n) as *mut c_void
}

/// Two connected sides (A active at 10.0.0.1, B passive at 10.0.0.2) and B's listener.
pub struct Pair<B: Backend = MockBackend> {
    /// The active side.
    pub a: Side<B>,
    /// The passive side.
    pub b: Side<B>,
    listener: *mut NDK_LISTENER,
}

/// A connected pair of mock NICs whose CQs hold 256 entries.
pub fn pair(fabric: &Fabric) -> Pair {
    Pair::open(fabric)
}

impl<B: Backend> Pair<B> {
    /// A connected pair of `B` NICs on `net` whose CQs hold 256 entries.
    pub fn open(net: &B::Net) -> Pair<B> {
        let a = Side::open(net, "10.0.0.1", 256);
        let b = Side::open(net, "10.0.0.2", 256);
        Pair::connect(a, b)
    }

    /// Connects `a` to `b` (both already built).
    pub fn connect(a: Side<B>, b: Side<B>) -> Pair<B> {
        Pair::connect_with(a, b, b"")
    }

    /// Connects `a` to `b` (both already built) with `private_data` in the request.
    pub fn connect_with(mut a: Side<B>, mut b: Side<B>, private_data: &[u8]) -> Pair<B> {
        let listener = connect(&mut a, &mut b, private_data);
        Pair { a, b, listener }
    }

    /// Closes A's connector, the listener (pending until B's connector closes), B, then A,
    /// asserting that both devices are left empty.
    pub fn close(self) {
        let Pair { mut a, b, listener } = self;
        a.node.close_object(a.conn);
        a.conn = null_mut();
        let rec = Recorder::new();
        assert_eq!(make::close(listener, &rec), STATUS_PENDING);
        b.close();
        a.node
            .wait_event(&rec, "listener close", |e| *e == Event::Close);
        assert!(rec.take().is_empty(), "one close completion");
        a.close();
    }
}

/// `(Status, RequestContext, Type)` of each completion.
pub fn summary(r: &[NDK_RESULT_EX]) -> Vec<(NTSTATUS, usize, NDK_OPERATION_TYPE)> {
    r.iter()
        .map(|r| (r.Status, r.RequestContext as usize, r.Type))
        .collect()
}

/// Harvests up to 64 completions with the plain `NdkGetCqResults` (no pump: see
/// [`Side::poll_plain`]).
pub fn poll_plain(cq: *mut NDK_CQ) -> Vec<NDK_RESULT> {
    let mut out: Vec<NDK_RESULT> = Vec::with_capacity(64);
    // SAFETY: consumer call with a 64-entry buffer.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(cq);
        let n = (t.NdkGetCqResults)(cq, out.as_mut_ptr(), 64);
        out.set_len(n as usize);
    }
    out
}

/// `NdkCreateMr` (asserts success).
pub fn create_mr<B: Backend>(n: &Node<B>, pd: *mut NDK_PD, fast_register: bool) -> *mut NDK_MR {
    let mut mr = null_mut();
    let done = Recorder::new();
    // SAFETY: consumer call on an open PD; `done` outlives the awaited completion.
    let s = unsafe {
        (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateMr)(
            pd,
            u8::from(fast_register),
            Some(on_create),
            done.ctx(),
            &mut mr,
        )
    };
    n.created("NdkCreateMr", &done, s, mr)
}

/// `NdkCreateMw` (asserts success).
pub fn create_mw<B: Backend>(n: &Node<B>, pd: *mut NDK_PD) -> *mut NDK_MW {
    let mut mw = null_mut();
    let done = Recorder::new();
    // SAFETY: consumer call on an open PD; `done` outlives the awaited completion.
    let s = unsafe {
        (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateMw)(pd, Some(on_create), done.ctx(), &mut mw)
    };
    n.created("NdkCreateMw", &done, s, mw)
}

/// The MR dispatch table.
pub fn mrt<'a>(mr: *mut NDK_MR) -> &'a NDK_MR_DISPATCH {
    // SAFETY: the MR is open.
    unsafe { table(mr) }
}

/// `NdkRegisterMr`; returns its final status (a pending registration is waited for).
pub fn register<B: Backend>(
    n: &Node<B>,
    mr: *mut NDK_MR,
    mdl: &mut TestMdl,
    len: u32,
    flags: u32,
) -> NTSTATUS {
    let done = Recorder::new();
    // SAFETY: consumer call; the MDL describes a live buffer; `done` outlives the
    // completion, which `settle` waits for.
    let s = unsafe {
        (mrt(mr).NdkRegisterMr)(
            mr,
            mdl.as_ptr(),
            len as usize,
            flags,
            Some(on_request),
            done.ctx(),
        )
    };
    n.settle(s, &done)
}

/// `NdkDeregisterMr`; returns its final status.
pub fn deregister<B: Backend>(n: &Node<B>, mr: *mut NDK_MR) -> NTSTATUS {
    let done = Recorder::new();
    // SAFETY: consumer call on an open MR; `done` outlives the awaited completion.
    let s = unsafe { (mrt(mr).NdkDeregisterMr)(mr, Some(on_request), done.ctx()) };
    n.settle(s, &done)
}

/// `(local, remote)` tokens of an MR.
pub fn tokens(mr: *mut NDK_MR) -> (u32, u32) {
    let t = mrt(mr);
    // SAFETY: consumer calls on an open MR.
    unsafe {
        (
            (t.NdkGetLocalTokenFromMr)(mr),
            (t.NdkGetRemoteTokenFromMr)(mr),
        )
    }
}

/// `NdkInitializeFastRegisterMr`; returns its final status.
pub fn init_fast_register<B: Backend>(
    n: &Node<B>,
    mr: *mut NDK_MR,
    pages: u32,
    remote: bool,
) -> NTSTATUS {
    let done = Recorder::new();
    // SAFETY: consumer call on an open MR; `done` outlives the awaited completion.
    let s = unsafe {
        (mrt(mr).NdkInitializeFastRegisterMr)(
            mr,
            pages,
            u8::from(remote),
            Some(on_request),
            done.ctx(),
        )
    };
    n.settle(s, &done)
}

/// `NdkGetRemoteTokenFromMw`.
pub fn mw_token(mw: *mut NDK_MW) -> u32 {
    // SAFETY: consumer call on an open MW.
    unsafe { (table::<_, NDK_MW_DISPATCH>(mw).NdkGetRemoteTokenFromMw)(mw) }
}

/// `NdkGetPrivilegedMemoryRegionToken`.
pub fn privileged_token(pd: *mut NDK_PD) -> u32 {
    let mut token = 0xFFFF_FFFF;
    // SAFETY: consumer call on an open PD.
    unsafe { (table::<_, NDK_PD_DISPATCH>(pd).NdkGetPrivilegedMemoryRegionToken)(pd, &mut token) };
    token
}

/// A LAM buffer as a consumer would allocate it (8-byte aligned).
pub struct Lam {
    words: Vec<u64>,
    /// `*pLAMSize` as the provider left it.
    pub size: u32,
    /// `*pFBO` as the provider left it.
    pub fbo: u32,
}

impl Lam {
    /// Calls `NdkBuildLAM` for `len` bytes of `mdl` with a buffer of `size` bytes; returns
    /// the final status (a pending build is waited for) and the buffer.
    pub fn build<B: Backend>(n: &Node<B>, mdl: *mut MDL, len: usize, size: u32) -> (NTSTATUS, Lam) {
        let mut lam = Box::new(Lam {
            words: vec![0u64; (size as usize).div_ceil(8).max(3)],
            size,
            fbo: 0xFFFF_FFFF,
        });
        let p = if size == 0 {
            null_mut()
        } else {
            lam.words.as_mut_ptr().cast()
        };
        let done = Recorder::new();
        // SAFETY: consumer call; `p` has room for `size` bytes; the LAM (boxed, so its size
        // and FBO stay in place) and `done` outlive the completion, which `settle` waits for.
        let s = unsafe {
            (n.a().NdkBuildLAM)(
                n.adapter,
                mdl,
                len,
                Some(on_request),
                done.ctx(),
                p,
                &mut lam.size,
                &mut lam.fbo,
            )
        };
        (n.settle(s, &done), *lam)
    }

    /// The mapping.
    pub fn as_ptr(&mut self) -> *mut NDK_LOGICAL_ADDRESS_MAPPING {
        self.words.as_mut_ptr().cast()
    }

    /// `AdapterPageCount`.
    pub fn page_count(&self) -> u32 {
        self.words[1] as u32
    }

    /// `AdapterPageArray[..AdapterPageCount]`.
    pub fn pages(&self) -> Vec<NDK_LOGICAL_ADDRESS> {
        self.words[2..2 + self.page_count() as usize]
            .iter()
            .map(|w| *w as i64)
            .collect()
    }

    /// `NdkReleaseLAM`.
    pub fn release<B: Backend>(mut self, n: &Node<B>) {
        // SAFETY: consumer call with a LAM the adapter built.
        unsafe { (n.a().NdkReleaseLAM)(n.adapter, self.as_ptr()) };
    }
}

/// What an SRQ notification callback was told.
#[derive(Default)]
pub struct SrqLog(Mutex<Vec<NTSTATUS>>);

impl SrqLog {
    /// The context pointer to pass to the provider.
    pub fn ctx(&self) -> *mut c_void {
        self as *const SrqLog as *mut c_void
    }
    /// Takes the recorded statuses.
    pub fn take(&self) -> Vec<NTSTATUS> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// `NDK_FN_SRQ_NOTIFICATION_CALLBACK` that records into an [`SrqLog`].
pub unsafe extern "system" fn on_srq(ctx: *mut c_void, status: NTSTATUS) {
    // SAFETY: tests pass `SrqLog::ctx` of logs that outlive the SRQ.
    let log = unsafe { &*(ctx as *const SrqLog) };
    log.0.lock().unwrap().push(status);
}

/// `NdkCreateSrq` with notifications to `log`; returns the status (of the create completion
/// when the call pended) and the SRQ.
pub fn create_srq<B: Backend>(
    n: &Node<B>,
    pd: *mut NDK_PD,
    depth: u32,
    sge: u32,
    threshold: u32,
    log: &SrqLog,
) -> (NTSTATUS, *mut NDK_SRQ) {
    let mut srq = null_mut();
    let done = Recorder::new();
    // SAFETY: consumer call on an open PD; `done` outlives the awaited completion.
    let s = unsafe {
        (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateSrq)(
            pd,
            depth,
            sge,
            threshold,
            Some(on_srq),
            log.ctx(),
            null_mut(),
            Some(on_create),
            done.ctx(),
            &mut srq,
        )
    };
    created_or_status(n, &done, s, srq)
}

/// `NdkCreateQpWithSrq` on one CQ; returns the status (of the create completion when the
/// call pended) and the QP.
#[allow(clippy::too_many_arguments)]
pub fn create_qp_with_srq<B: Backend>(
    n: &Node<B>,
    pd: *mut NDK_PD,
    cq: *mut NDK_CQ,
    srq: *mut NDK_SRQ,
    qp_ctx: usize,
    sq_depth: u32,
    sge: u32,
    inline: u32,
) -> (NTSTATUS, *mut NDK_QP) {
    let mut qp = null_mut();
    let done = Recorder::new();
    // SAFETY: consumer call on open PD, CQ and SRQ; `done` outlives the awaited completion.
    let s = unsafe {
        (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateQpWithSrq)(
            pd,
            cq,
            cq,
            srq,
            qp_ctx as *mut c_void,
            sq_depth,
            sge,
            inline,
            Some(on_create),
            done.ctx(),
            &mut qp,
        )
    };
    created_or_status(n, &done, s, qp)
}

/// `(s, out)` of a create call, or the create completion's status and object when it pended.
fn created_or_status<B: Backend, O>(
    n: &Node<B>,
    done: &Recorder,
    s: NTSTATUS,
    out: *mut O,
) -> (NTSTATUS, *mut O) {
    if s != STATUS_PENDING {
        return (s, out);
    }
    match n.wait_event(done, "create completion", |e| {
        matches!(e, Event::Create(..))
    }) {
        Event::Create(s, obj) => (s, obj as *mut O),
        e => unreachable!("{e:?}"),
    }
}

/// `NdkSrqReceive` with request context [`ctx`]`(c)`.
pub fn srq_receive(srq: *mut NDK_SRQ, c: usize, sgl: &[NDK_SGE]) -> NTSTATUS {
    // SAFETY: consumer call on an open SRQ.
    unsafe {
        (table::<_, NDK_SRQ_DISPATCH>(srq).NdkSrqReceive)(
            srq,
            ctx(c),
            sgl.as_ptr(),
            sgl.len() as u32,
        )
    }
}

/// `NdkModifySrq` with request completion to `rec`; returns the call's status as is.
pub fn modify_srq(srq: *mut NDK_SRQ, depth: u32, threshold: u32, rec: &Recorder) -> NTSTATUS {
    // SAFETY: consumer call on an open SRQ.
    unsafe {
        (table::<_, NDK_SRQ_DISPATCH>(srq).NdkModifySrq)(
            srq,
            depth,
            threshold,
            Some(on_request),
            rec.ctx(),
        )
    }
}
