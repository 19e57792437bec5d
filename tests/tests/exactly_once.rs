//! Exactly-once completion accounting under random work-request sequences (ndkpi.md §3,
//! §4.7, §7.1, §7.4, §7.7), driven only through the dispatch tables.
//!
//! Each case connects two adapters (`Side` A active, B passive), then runs a random sequence
//! of: receives posted on B; sends, RDMA writes and RDMA reads posted on A (some
//! `SILENT_SUCCESS`, some `DEFER`, some that fail at the peer: a receive too small for a
//! send, a write or read outside the peer's region); posts that must fail inline; polls of
//! either CQ (`NdkGetCqResults` or `...Ex`, in random batch sizes); `NdkFlush` of either
//! QP; CQ arms of every type; and DPC runs (`pump`). DEFER chains always end with a
//! non-DEFER post, or an initiator post that fails inline, before a poll, a pump or the end
//! (§7.7).
//!
//! A model of the queues predicts every CQ entry (status, type, request and QP context,
//! receive byte count) in order, and every CQ notification callback; on top of it a ledger
//! checks the property itself: each request posted with STATUS_SUCCESS is reported exactly
//! once — unless it was SILENT_SUCCESS and succeeded, then never — and a request that failed
//! inline never is. After the first failure of a queue the rest complete STATUS_CANCELLED, as
//! does everything outstanding at an `NdkFlush`.
//!
//! The case ends by flushing both QPs (or closing both connectors, which flushes them),
//! arming the CQs (a random type, or not), draining them, and closing all eleven objects in a
//! random order, antecedents before successors included (§7.1): a close returns
//! STATUS_SUCCESS exactly when no successor is left, else STATUS_PENDING and one close
//! callback once the last successor's close completed, after it. No callback of any kind reaches an object after its close
//! completed. Then both adapters close, the mock holds no object, and every byte the
//! case allocated on this thread was freed (`CountingAlloc`).

use std::collections::{BTreeMap, VecDeque};
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::Mutex;

use hal::mock::{Fabric, LiveObjects, MockNic};
use ndk_provider::abi::*;
use ndk_provider::adapter;
use ndk_tests::alloc::{live_bytes, CountingAlloc};
use ndk_tests::*;
use proptest::prelude::*;
use proptest::test_runner::Config;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// `QPContext` the harness gives both QPs.
const QP_CTX: usize = 0x5150;

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    A,
    B,
}

impl Who {
    fn idx(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Send { solicit: bool },
    Write,
    Read,
}

impl Kind {
    fn op_type(self) -> NDK_OPERATION_TYPE {
        match self {
            Kind::Send { .. } => NdkOperationTypeSend,
            Kind::Write => NdkOperationTypeWrite,
            Kind::Read => NdkOperationTypeRead,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// `NdkReceive` on B of `len` bytes.
    Recv { len: u32 },
    /// An initiator request on A. `bad`: a write or read outside B's registered region.
    Post {
        kind: Kind,
        len: u32,
        bad: bool,
        silent: bool,
        defer: bool,
    },
    /// A post that fails parameter validation inline (which one: see `bad_post`).
    BadPost(u8),
    /// Drain a CQ, `batch` results per call, `NdkGetCqResultsEx` or `NdkGetCqResults`.
    Poll { who: Who, batch: u32, ex: bool },
    /// `NdkFlush`.
    Flush(Who),
    /// `NdkArmCq` with an `NDK_CQ_NOTIFY_*` type.
    Arm(Who, u32),
    /// Run the DPC: deliver queued notifications.
    Pump,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![Just(Who::A), Just(Who::B)]
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        any::<bool>().prop_map(|solicit| Kind::Send { solicit }),
        Just(Kind::Write),
        Just(Kind::Read),
    ];
    let post = (
        kind,
        prop_oneof![Just(8u32), Just(48u32)],
        0..24u8,
        0..4u8,
        0..3u8,
    )
        .prop_map(|(kind, len, bad, silent, defer)| Op::Post {
            kind,
            len,
            bad: bad == 0,
            silent: silent == 0,
            defer: defer == 0,
        });
    prop_oneof![
        6 => prop_oneof![11 => Just(64u32), 1 => Just(16u32)].prop_map(|len| Op::Recv { len }),
        10 => post,
        1 => (0..5u8).prop_map(Op::BadPost),
        3 => (who(), 1..6u32, any::<bool>()).prop_map(|(who, batch, ex)| Op::Poll { who, batch, ex }),
        1 => who().prop_map(Op::Flush),
        2 => (who(), prop_oneof![
            Just(NDK_CQ_NOTIFY_ANY),
            Just(NDK_CQ_NOTIFY_SOLICITED),
            Just(NDK_CQ_NOTIFY_ERRORS)
        ])
            .prop_map(|(w, t)| Op::Arm(w, t)),
        2 => Just(Op::Pump),
    ]
}

/// Ends every DEFER chain before a poll, a pump and the end of the sequence (§7.7: the
/// consumer guarantees every chain ends with a non-DEFER post, or with a post that fails
/// inline, which makes the provider submit the deferred ones): when a chain is still open
/// there, its last post loses DEFER. An initiator post that fails inline ends the chain as
/// it stands.
fn close_chains(mut ops: Vec<Op>) -> Vec<Op> {
    let mut open: Option<usize> = None;
    for i in 0..ops.len() {
        let ends_chain = match &ops[i] {
            Op::Post { defer, .. } => {
                open = defer.then_some(i);
                false
            }
            Op::BadPost(k) if is_initiator_bad_post(*k) => {
                open = None;
                false
            }
            Op::Poll { .. } | Op::Pump => true,
            Op::BadPost(_) | Op::Recv { .. } | Op::Flush(_) | Op::Arm(..) => false,
        };
        if ends_chain {
            if let Some(j) = open.take() {
                if let Op::Post { defer, .. } = &mut ops[j] {
                    *defer = false;
                }
            }
        }
    }
    if let Some(j) = open {
        if let Op::Post { defer, .. } = &mut ops[j] {
            *defer = false;
        }
    }
    ops
}

/// `BadPost` kinds that are A initiator posts (the last one is a receive on B).
fn is_initiator_bad_post(k: u8) -> bool {
    k < 4
}

#[derive(Clone, Debug)]
struct Case {
    ops: Vec<Op>,
    /// A permutation of the eleven objects (see `OBJ_NAMES`).
    close_order: Vec<usize>,
    /// Close both connectors (which flushes the QPs) instead of calling `NdkFlush`.
    connectors_first: bool,
    /// `NdkArmCq` types given to A's and B's CQ right before the final drain.
    arm_at_end: [Option<u32>; 2],
    /// Deregister A's / B's MR before closing it.
    deregister: [bool; 2],
}

fn case() -> impl Strategy<Value = Case> {
    let arm = prop::option::of(prop_oneof![
        Just(NDK_CQ_NOTIFY_ANY),
        Just(NDK_CQ_NOTIFY_SOLICITED),
        Just(NDK_CQ_NOTIFY_ERRORS)
    ]);
    (
        prop::collection::vec(op(), 0..=40),
        Just((0..OBJ_NAMES.len()).collect::<Vec<_>>()).prop_shuffle(),
        any::<bool>(),
        [arm.clone(), arm],
        [any::<bool>(), any::<bool>()],
    )
        .prop_map(
            |(ops, close_order, connectors_first, arm_at_end, deregister)| Case {
                ops: close_chains(ops),
                close_order,
                connectors_first,
                arm_at_end,
                deregister,
            },
        )
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// A CQ entry the model expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cqe {
    ctx: usize,
    status: NTSTATUS,
    ty: NDK_OPERATION_TYPE,
    /// `BytesTransferred` of a successful receive.
    bytes: Option<u32>,
    /// Satisfies a SOLICITED arm (a receive matched by a send with SEND_AND_SOLICIT_EVENT).
    solicited: bool,
}

fn qualifies(e: &Cqe, solicited_only: bool) -> bool {
    !solicited_only || e.solicited || e.status != STATUS_SUCCESS
}

/// One CQ: its entries and the notification state (§7.4) — the provider's armed type
/// (ERRORS 0 < SOLICITED 1 < ANY 2, two arms merge to the larger), the device's arm, and
/// notifications the device queued for the next DPC.
#[derive(Default)]
struct CqModel {
    entries: VecDeque<Cqe>,
    armed: Option<u8>,
    device_arm: Option<bool>,
    due: u32,
}

impl CqModel {
    fn push(&mut self, e: Cqe) {
        if let Some(so) = self.device_arm {
            if qualifies(&e, so) {
                self.due += 1;
                self.device_arm = None;
            }
        }
        self.entries.push_back(e);
    }

    fn arm(&mut self, ty: u32) {
        let rank = match ty {
            NDK_CQ_NOTIFY_ERRORS => 0,
            NDK_CQ_NOTIFY_SOLICITED => 1,
            _ => 2,
        };
        let merged = self.armed.map_or(rank, |r| r.max(rank));
        self.armed = Some(merged);
        // An ERRORS arm waits for CQ errors only (there are none here).
        if merged != 0 {
            let so = merged == 1;
            if self.entries.iter().any(|e| qualifies(e, so)) {
                self.due += 1;
                self.device_arm = None;
            } else {
                self.device_arm = Some(so);
            }
        }
    }

    /// Notification callbacks the next DPC makes: at most one per arm.
    fn pump(&mut self) -> usize {
        let mut fired = 0;
        for _ in 0..self.due {
            if matches!(self.armed, Some(1 | 2)) {
                self.armed = None;
                fired += 1;
            }
        }
        self.due = 0;
        fired
    }
}

#[derive(Clone, Copy, Debug)]
struct Wqe {
    ctx: usize,
    kind: Kind,
    len: u32,
    bad: bool,
    silent: bool,
}

/// A's initiator queue (WQEs in post order, the first `rung` doorbelled), B's receive queue,
/// whether each QP is in the error state, and the two CQs.
#[derive(Default)]
struct Model {
    sq: VecDeque<Wqe>,
    rung: usize,
    a_err: bool,
    rq: VecDeque<(usize, u32)>,
    b_err: bool,
    cq: [CqModel; 2],
}

impl Model {
    fn push_a(&mut self, ctx: usize, status: NTSTATUS, kind: Kind) {
        self.cq[0].push(Cqe {
            ctx,
            status,
            ty: kind.op_type(),
            bytes: None,
            solicited: false,
        });
    }

    fn push_b(&mut self, ctx: usize, status: NTSTATUS, bytes: Option<u32>, solicited: bool) {
        self.cq[1].push(Cqe {
            ctx,
            status,
            ty: NdkOperationTypeReceive,
            bytes,
            solicited,
        });
    }

    /// Everything outstanding on A completes STATUS_CANCELLED, in order; so do later posts.
    fn a_to_error(&mut self) {
        if self.a_err {
            return;
        }
        self.a_err = true;
        self.rung = 0;
        while let Some(w) = self.sq.pop_front() {
            self.push_a(w.ctx, STATUS_CANCELLED, w.kind);
        }
    }

    fn b_to_error(&mut self) {
        if self.b_err {
            return;
        }
        self.b_err = true;
        while let Some((ctx, _)) = self.rq.pop_front() {
            self.push_b(ctx, STATUS_CANCELLED, None, false);
        }
    }

    fn flush(&mut self, w: Who) {
        match w {
            Who::A => self.a_to_error(),
            Who::B => {
                self.b_to_error();
                // A send of A waiting for a receive at B now meets a QP that never answers.
                self.progress();
            }
        }
    }

    fn post_recv(&mut self, ctx: usize, len: u32) {
        if self.b_err {
            self.push_b(ctx, STATUS_CANCELLED, None, false);
            return;
        }
        self.rq.push_back((ctx, len));
        self.progress();
    }

    /// A's doorbell: everything posted so far may run (a non-DEFER post, or an initiator
    /// post that failed inline after DEFER posts).
    fn ring(&mut self) {
        if !self.a_err {
            self.rung = self.sq.len();
            self.progress();
        }
    }

    fn post_send(&mut self, w: Wqe, defer: bool) {
        if self.a_err {
            self.push_a(w.ctx, STATUS_CANCELLED, w.kind);
            return;
        }
        self.sq.push_back(w);
        if !defer {
            self.ring();
        }
    }

    /// Runs A's doorbelled requests in order until one waits for a receive at B or fails.
    /// A failure puts A in error (the rest are cancelled); a failure the peer detects puts
    /// B in error too; requests to a B in error fail with STATUS_IO_TIMEOUT (no answer).
    fn progress(&mut self) {
        while !self.a_err && self.rung > 0 {
            let Some(w) = self.sq.front().copied() else {
                return;
            };
            let outcome = if self.b_err {
                Err(STATUS_IO_TIMEOUT)
            } else {
                match w.kind {
                    Kind::Send { solicit } => {
                        let Some((rctx, rlen)) = self.rq.pop_front() else {
                            return;
                        };
                        if rlen < w.len {
                            self.push_b(rctx, STATUS_BUFFER_OVERFLOW, None, solicit);
                            self.b_to_error();
                            Err(STATUS_REMOTE_RESOURCES)
                        } else {
                            self.push_b(rctx, STATUS_SUCCESS, Some(w.len), solicit);
                            Ok(())
                        }
                    }
                    Kind::Write | Kind::Read if w.bad => {
                        self.b_to_error();
                        Err(STATUS_REMOTE_RESOURCES)
                    }
                    Kind::Write | Kind::Read => Ok(()),
                }
            };
            self.sq.pop_front();
            self.rung -= 1;
            match outcome {
                Ok(()) if w.silent => {}
                Ok(()) => self.push_a(w.ctx, STATUS_SUCCESS, w.kind),
                Err(s) => {
                    self.push_a(w.ctx, s, w.kind);
                    self.a_to_error();
                    return;
                }
            }
        }
    }
}

/// What the consumer saw, for the exactly-once property itself.
#[derive(Default)]
struct Ledger {
    /// Requests posted with STATUS_SUCCESS: (context, SILENT_SUCCESS).
    posted: Vec<(usize, bool)>,
    /// Requests that failed inline.
    failed_inline: Vec<usize>,
    /// Every status reported per request context.
    seen: BTreeMap<usize, Vec<NTSTATUS>>,
}

impl Ledger {
    fn check(&self) {
        for &(ctx, silent) in &self.posted {
            let seen = self.seen.get(&ctx).map_or(&[][..], |v| &v[..]);
            if silent {
                assert!(
                    seen.is_empty() || (seen.len() == 1 && seen[0] != STATUS_SUCCESS),
                    "silent request {ctx:#x}: reported {seen:x?} (only a failure is reported, once)"
                );
            } else {
                assert_eq!(
                    seen.len(),
                    1,
                    "request {ctx:#x} must be reported exactly once: {seen:x?}"
                );
            }
        }
        for ctx in &self.failed_inline {
            assert!(
                !self.seen.contains_key(ctx),
                "request {ctx:#x} failed inline but was reported"
            );
        }
        for ctx in self.seen.keys() {
            assert!(
                self.posted.iter().any(|(c, _)| c == ctx),
                "a completion for {ctx:#x}, never posted successfully"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Driving the provider
// ---------------------------------------------------------------------------------------

/// The objects closed at the end, in the order of `Case::close_order` indices.
const OBJ_NAMES: [&str; 11] = [
    "A.connector",
    "A.qp",
    "A.mr",
    "A.pd",
    "A.cq",
    "B.connector",
    "B.qp",
    "B.mr",
    "B.pd",
    "B.cq",
    "B.listener",
];

/// Successors of each object (§7.1: QP→connector, CQ→QP, PD→QP and MR, listener→the
/// connector its ConnectEvent delivered).
fn successors(i: usize) -> &'static [usize] {
    match i {
        1 => &[0],
        3 => &[1, 2],
        4 => &[1],
        6 => &[5],
        8 => &[6, 7],
        9 => &[6],
        10 => &[5],
        _ => &[],
    }
}

/// Where close completions are logged, in the order they happen.
struct CloseLog {
    order: Mutex<Vec<usize>>,
}

/// The `RequestContext` of one close.
struct CloseCtx {
    id: usize,
    log: *const CloseLog,
}

unsafe extern "system" fn on_close_logged(ctx: *mut c_void) {
    // SAFETY: `ctx` is a `CloseCtx` that outlives every close of the case.
    let c = unsafe { &*(ctx as *const CloseCtx) };
    // SAFETY: as above, for the log it points to.
    unsafe { &*c.log }.order.lock().unwrap().push(c.id);
}

/// Closes an object through slot 0 of its table with `on_close_logged`.
unsafe fn close_obj(obj: *mut c_void, ctx: &CloseCtx) -> NTSTATUS {
    // SAFETY: `obj` is an open NDK object; slot 0 of its table is NdkCloseXxx.
    unsafe {
        let d = *(obj
            .cast::<u8>()
            .add(0x28)
            .cast::<*const NDK_FN_CLOSE_OBJECT>());
        (*d)(
            obj.cast(),
            Some(on_close_logged),
            ctx as *const CloseCtx as *mut c_void,
        )
    }
}

fn sides(s: &[Side; 2], w: Who) -> &Side {
    &s[w.idx()]
}

/// A harvested result: status, bytes, QPContext, RequestContext, and with
/// `NdkGetCqResultsEx` the Type and ProviderErrorCode.
type Harvested = (NTSTATUS, u32, usize, usize, Option<(i32, u32)>);

/// Drains `w`'s CQ `batch` results per call and checks each against the model.
fn drain(s: &[Side; 2], w: Who, batch: u32, ex: bool, model: &mut Model, ledger: &mut Ledger) {
    let side = sides(s, w);
    loop {
        let mut got: Vec<Harvested> = Vec::new();
        // SAFETY: consumer calls on an open CQ with buffers of `batch` entries.
        let n = unsafe {
            let t: &NDK_CQ_DISPATCH = table(side.cq);
            if ex {
                let mut r: Vec<NDK_RESULT_EX> = vec![std::mem::zeroed(); batch as usize];
                let n = (t.NdkGetCqResultsEx)(side.cq, r.as_mut_ptr(), batch);
                for x in &r[..n as usize] {
                    got.push((
                        x.Status,
                        x.BytesTransferred,
                        x.QPContext as usize,
                        x.RequestContext as usize,
                        Some((x.Type, x.ProviderErrorCode)),
                    ));
                }
                n
            } else {
                let mut r: Vec<NDK_RESULT> = vec![std::mem::zeroed(); batch as usize];
                let n = (t.NdkGetCqResults)(side.cq, r.as_mut_ptr(), batch);
                for x in &r[..n as usize] {
                    got.push((
                        x.Status,
                        x.BytesTransferred,
                        x.QPContext as usize,
                        x.RequestContext as usize,
                        None,
                    ));
                }
                n
            }
        };
        assert!(n <= batch);
        for (status, bytes, qpc, ctx, ex) in got {
            ledger.seen.entry(ctx).or_default().push(status);
            let want = model.cq[w.idx()].entries.pop_front();
            let Some(want) = want else {
                panic!("{w:?}: unexpected completion {ctx:#x} status {status:#x}")
            };
            assert_eq!(
                (ctx, status),
                (want.ctx, want.status),
                "{w:?}: completion {ctx:#x} status {status:#x}, expected {want:x?}"
            );
            assert_eq!(qpc, QP_CTX, "QPContext");
            if let Some(b) = want.bytes {
                assert_eq!(bytes, b, "BytesTransferred of receive {ctx:#x}");
            }
            if let Some((ty, perr)) = ex {
                assert_eq!(ty, want.ty, "Type of {ctx:#x}");
                if status == STATUS_SUCCESS {
                    assert_eq!(perr, 0, "ProviderErrorCode on success");
                }
            }
        }
        if n < batch {
            break;
        }
    }
    assert!(
        model.cq[w.idx()].entries.is_empty(),
        "{w:?}: CQ empty but the model expects {:x?}",
        model.cq[w.idx()].entries
    );
}

fn pump_and_check(s: &[Side; 2], model: &mut Model, cq_closing: [bool; 2]) {
    s[0].node.pump();
    for w in [Who::A, Who::B] {
        let i = w.idx();
        let fired = if cq_closing[i] {
            // A closed CQ gets no callback any more (§7.1, §7.4).
            model.cq[i].due = 0;
            0
        } else {
            model.cq[i].pump()
        };
        assert_eq!(
            s[i].rec.take(),
            vec![Event::CqNotify(STATUS_SUCCESS); fired],
            "{w:?}: notification callbacks"
        );
    }
}

unsafe fn bad_post(s: &[Side; 2], which: u8, ctx: *mut c_void) -> NTSTATUS {
    let (a, b) = (&s[0], &s[1]);
    let q = a.q();
    let one = a.sge(0, 16);
    let three = [one, one, one];
    let remote = b.buf.addr() + 4096;
    // SAFETY: consumer calls on connected QPs with valid SGE arrays.
    unsafe {
        match which {
            // More SGEs than the QP's MaxInitiatorRequestSge (2).
            0 => (q.NdkSend)(a.qp, ctx, three.as_ptr(), 3, 0),
            // SEND_AND_SOLICIT_EVENT is not a write flag.
            1 => (q.NdkWrite)(
                a.qp,
                ctx,
                &one,
                1,
                remote,
                b.rkey,
                NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT,
            ),
            // INLINE is not a read flag.
            2 => (q.NdkRead)(a.qp, ctx, &one, 1, remote, b.rkey, NDK_OP_FLAG_INLINE),
            // More inline bytes than the QP's InlineDataSize (64).
            3 => {
                let big = a.sge(0, 100);
                (q.NdkSend)(a.qp, ctx, &big, 1, NDK_OP_FLAG_INLINE)
            }
            // More SGEs than the QP's MaxReceiveRequestSge (2).
            _ => {
                let r = b.sge(0, 16);
                let rs = [r, r, r];
                (b.q().NdkReceive)(b.qp, ctx, rs.as_ptr(), 3)
            }
        }
    }
}

/// Runs one case; everything it allocates on this thread is freed before it returns.
fn run(case: &Case) {
    let fabric = Fabric::new();
    let mut a = Side::new(&fabric, "10.40.0.1", 256);
    let mut b = Side::new(&fabric, "10.40.0.2", 256);
    let listener = connect(&mut a, &mut b, b"");
    let s = [a, b];
    let mut model = Model::default();
    let mut ledger = Ledger::default();
    let mut next_ctx = 0x1000usize;
    let mut new_ctx = || {
        next_ctx += 1;
        next_ctx
    };

    for op in &case.ops {
        let (a, b) = (&s[0], &s[1]);
        match *op {
            Op::Recv { len } => {
                let ctx = new_ctx();
                let sg = b.sge(0, len);
                // SAFETY: consumer call on B's QP.
                let st = unsafe { (b.q().NdkReceive)(b.qp, ctx as *mut c_void, &sg, 1) };
                assert_eq!(st, STATUS_SUCCESS, "receive");
                ledger.posted.push((ctx, false));
                model.post_recv(ctx, len);
            }
            Op::Post {
                kind,
                len,
                bad,
                silent,
                defer,
            } => {
                let ctx = new_ctx();
                let mut flags = 0;
                if silent {
                    flags |= NDK_OP_FLAG_SILENT_SUCCESS;
                }
                if defer {
                    flags |= NDK_OP_FLAG_DEFER;
                }
                let remote = if bad {
                    b.buf.addr() + u64::from(SIDE_BUF) - 4
                } else {
                    b.buf.addr() + 4096
                };
                let p = ctx as *mut c_void;
                let q = a.q();
                // SAFETY: consumer calls on A's connected QP.
                let st = unsafe {
                    match kind {
                        Kind::Send { solicit } => {
                            if solicit {
                                flags |= NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT;
                            }
                            (q.NdkSend)(a.qp, p, &a.sge(0, len), 1, flags)
                        }
                        Kind::Write => {
                            (q.NdkWrite)(a.qp, p, &a.sge(0, len), 1, remote, b.rkey, flags)
                        }
                        Kind::Read => {
                            (q.NdkRead)(a.qp, p, &a.sge(4096, len), 1, remote, b.rkey, flags)
                        }
                    }
                };
                assert_eq!(st, STATUS_SUCCESS, "{op:?}");
                ledger.posted.push((ctx, silent));
                let w = Wqe {
                    ctx,
                    kind,
                    len,
                    bad: bad && !matches!(kind, Kind::Send { .. }),
                    silent,
                };
                model.post_send(w, defer);
            }
            Op::BadPost(which) => {
                let ctx = new_ctx();
                // SAFETY: see `bad_post`.
                let st = unsafe { bad_post(&s, which, ctx as *mut c_void) };
                assert_eq!(st, STATUS_INVALID_PARAMETER, "{op:?}");
                ledger.failed_inline.push(ctx);
                if is_initiator_bad_post(which) {
                    // §7.7: the deferred requests before it are submitted.
                    model.ring();
                }
            }
            Op::Poll { who, batch, ex } => drain(&s, who, batch, ex, &mut model, &mut ledger),
            Op::Flush(who) => {
                let side = sides(&s, who);
                // SAFETY: consumer call on an open QP.
                unsafe { (side.q().NdkFlush)(side.qp) };
                model.flush(who);
            }
            Op::Arm(who, ty) => {
                let side = sides(&s, who);
                // SAFETY: consumer call on an open CQ.
                unsafe { (table::<_, NDK_CQ_DISPATCH>(side.cq).NdkArmCq)(side.cq, ty) };
                model.cq[who.idx()].arm(ty);
            }
            Op::Pump => pump_and_check(&s, &mut model, [false, false]),
        }
    }

    // --- the end: nothing outstanding, everything reported once ---------------------------
    let objs: [*mut c_void; 11] = [
        s[0].conn.cast(),
        s[0].qp.cast(),
        s[0].mr.cast(),
        s[0].pd.cast(),
        s[0].cq.cast(),
        s[1].conn.cast(),
        s[1].qp.cast(),
        s[1].mr.cast(),
        s[1].pd.cast(),
        s[1].cq.cast(),
        listener.cast(),
    ];
    let log = CloseLog {
        order: Mutex::new(Vec::with_capacity(OBJ_NAMES.len())),
    };
    let ctxs: Vec<CloseCtx> = (0..OBJ_NAMES.len())
        .map(|id| CloseCtx { id, log: &log })
        .collect();
    let mut closing = [false; 11];
    let mut done = [false; 11];
    let mut expected_log: Vec<usize> = Vec::new();

    if case.connectors_first {
        // A connected connector's close flushes its QP; releasing the connection breaks the
        // peer's, which flushes the peer QP too.
        let mut conns = [0usize, 5];
        if case.close_order.iter().position(|&i| i == 5)
            < case.close_order.iter().position(|&i| i == 0)
        {
            conns.reverse();
        }
        for i in conns {
            closing[i] = true;
            done[i] = true;
            log.order.lock().unwrap().push(i);
            expected_log.push(i);
            // SAFETY: the connector is open; nothing else holds it.
            let st = unsafe { close_obj(objs[i], &ctxs[i]) };
            assert_eq!(st, STATUS_SUCCESS, "close {}", OBJ_NAMES[i]);
            if i == 0 {
                model.a_to_error();
                model.b_to_error();
            } else {
                // B's QP flushes first: a send of A waiting for a receive at B runs into it.
                model.flush(Who::B);
                model.a_to_error();
            }
        }
    } else {
        for w in [Who::A, Who::B] {
            let side = sides(&s, w);
            // SAFETY: consumer call on an open QP.
            unsafe { (side.q().NdkFlush)(side.qp) };
            model.flush(w);
        }
    }
    assert!(model.sq.is_empty() && model.rq.is_empty());
    for w in [Who::A, Who::B] {
        if let Some(ty) = case.arm_at_end[w.idx()] {
            let side = sides(&s, w);
            // SAFETY: consumer call on an open CQ.
            unsafe { (table::<_, NDK_CQ_DISPATCH>(side.cq).NdkArmCq)(side.cq, ty) };
            model.cq[w.idx()].arm(ty);
        }
        drain(&s, w, 16, true, &mut model, &mut ledger);
    }
    ledger.check();

    // --- closes in random order, antecedents first included ------------------------------
    for (w, i) in [(0usize, 2usize), (1, 7)] {
        if case.deregister[w] {
            // SAFETY: consumer call on a registered MR.
            let st = unsafe {
                (table::<_, NDK_MR_DISPATCH>(s[w].mr).NdkDeregisterMr)(s[w].mr, None, null_mut())
            };
            assert_eq!(st, STATUS_SUCCESS, "deregister {}", OBJ_NAMES[i]);
        }
    }
    for &i in &case.close_order {
        if closing[i] {
            continue;
        }
        closing[i] = true;
        let ready = successors(i).iter().all(|&j| done[j]);
        if ready {
            // Completed inside the call: it precedes any antecedent the call completes.
            log.order.lock().unwrap().push(i);
        }
        // SAFETY: the consumer closes each object once; antecedents may go first (§7.1).
        let st = unsafe { close_obj(objs[i], &ctxs[i]) };
        if ready {
            assert_eq!(
                st, STATUS_SUCCESS,
                "close {}: no successor left",
                OBJ_NAMES[i]
            );
            done[i] = true;
            expected_log.push(i);
            // Antecedents waiting only for this one complete now, recursively.
            let mut stack = vec![i];
            while let Some(x) = stack.pop() {
                for y in 0..OBJ_NAMES.len() {
                    if closing[y]
                        && !done[y]
                        && successors(y).contains(&x)
                        && successors(y).iter().all(|&z| done[z])
                    {
                        done[y] = true;
                        expected_log.push(y);
                        stack.push(y);
                    }
                }
            }
        } else {
            assert_eq!(
                st, STATUS_PENDING,
                "close {}: a successor is still open",
                OBJ_NAMES[i]
            );
        }
        let got = log.order.lock().unwrap().clone();
        let mut got_sorted = got.clone();
        got_sorted.sort_unstable();
        let mut want_sorted = expected_log.clone();
        want_sorted.sort_unstable();
        assert_eq!(
            got_sorted,
            want_sorted,
            "completed closes after closing {}: {:?}",
            OBJ_NAMES[i],
            got.iter().map(|&k| OBJ_NAMES[k]).collect::<Vec<_>>()
        );
        // A close completes after its successors' (and their callbacks returned).
        for (pos, &x) in got.iter().enumerate() {
            for &y in successors(x) {
                assert!(
                    got[..pos].contains(&y),
                    "{} completed before its successor {}",
                    OBJ_NAMES[x],
                    OBJ_NAMES[y]
                );
            }
        }
        pump_and_check(&s, &mut model, [closing[4], closing[9]]);
    }
    assert!(done.iter().all(|&d| d), "every close completed");
    let order = log.order.lock().unwrap().clone();
    assert_eq!(order.len(), OBJ_NAMES.len(), "one completion per object");
    for side in &s {
        assert!(side.rec.take().is_empty(), "no callback after the closes");
        assert_eq!(side.node.nic.live_objects(), LiveObjects::default());
    }
    for side in &s {
        // SAFETY: every object of the adapter is closed.
        unsafe { adapter::close::<MockNic>(side.node.adapter) };
    }
    drop(ctxs);
    drop(log);
    drop(s);
    drop(fabric);
}

proptest! {
    #![proptest_config(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn every_request_is_reported_exactly_once_and_everything_is_freed(case in case()) {
        let before = live_bytes();
        run(&case);
        prop_assert_eq!(live_bytes(), before, "bytes left allocated by the case");
    }
}

/// ndkpi.md §7.7: "When the provider fails a post inline it must first ring/submit all
/// earlier deferred WRs", and a consumer may end a DEFER chain with a post that fails inline
/// parameter validation (not only a device refusal): the deferred write is submitted.
#[test]
fn deferred_requests_are_submitted_when_the_chain_ends_with_an_inline_failure() {
    let fabric = Fabric::new();
    let mut a = Side::new(&fabric, "10.41.0.1", 64);
    let mut b = Side::new(&fabric, "10.41.0.2", 64);
    let listener = connect(&mut a, &mut b, b"");
    let one = a.sge(0, 16);
    let three = [one, one, one];
    let remote = b.buf.addr() + 4096;
    // SAFETY: consumer calls on a connected QP.
    unsafe {
        let q = a.q();
        let st = (q.NdkWrite)(
            a.qp,
            std::ptr::without_provenance_mut::<c_void>(1),
            &one,
            1,
            remote,
            b.rkey,
            NDK_OP_FLAG_DEFER,
        );
        assert_eq!(st, STATUS_SUCCESS);
        // The chain's last post: too many SGEs, refused inline.
        let st = (q.NdkWrite)(
            a.qp,
            std::ptr::without_provenance_mut::<c_void>(2),
            three.as_ptr(),
            3,
            remote,
            b.rkey,
            0,
        );
        assert_eq!(st, STATUS_INVALID_PARAMETER);
    }
    let got: Vec<(usize, NTSTATUS)> = a
        .poll()
        .iter()
        .map(|r| (r.RequestContext as usize, r.Status))
        .collect();
    assert_eq!(
        got,
        vec![(1, STATUS_SUCCESS)],
        "the deferred write was submitted"
    );
    let rec = Recorder::new();
    assert_eq!(make::close(listener, &rec), STATUS_PENDING);
    a.close();
    b.close();
}
