//! Shared receive queues through the dispatch tables (ndkpi.md §4.2 `NdkCreateSrq` and
//! `NdkCreateQpWithSrq`, §4.6, §7.1, §7.5): creation limits, `NdkSrqReceive`,
//! `NdkModifySrq` depth and threshold rules, the one-shot limit notification as a peer's
//! sends consume receives, and close ordering with a QP on the SRQ.

mod wrkit;

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::Mutex;

use hal::mock::{Fabric, MockCall, MockOp};
use ndk_provider::abi::*;
use ndk_tests::*;
use wrkit::*;

/// What an SRQ notification callback was told.
#[derive(Default)]
struct SrqLog(Mutex<Vec<NTSTATUS>>);

impl SrqLog {
    fn ctx(&self) -> *mut c_void {
        self as *const SrqLog as *mut c_void
    }
    fn take(&self) -> Vec<NTSTATUS> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// `NDK_FN_SRQ_NOTIFICATION_CALLBACK` that records into an [`SrqLog`].
unsafe extern "system" fn on_srq(ctx: *mut c_void, status: NTSTATUS) {
    // SAFETY: tests pass `SrqLog::ctx` of logs that outlive the SRQ.
    let log = unsafe { &*(ctx as *const SrqLog) };
    log.0.lock().unwrap().push(status);
}

/// `NdkCreateSrq` with notifications to `log`; returns the status and the SRQ.
fn create_srq(
    pd: *mut NDK_PD,
    depth: u32,
    sge: u32,
    threshold: u32,
    log: &SrqLog,
) -> (NTSTATUS, *mut NDK_SRQ) {
    let mut srq = null_mut();
    // SAFETY: consumer call on an open PD.
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
            null_mut(),
            &mut srq,
        )
    };
    (s, srq)
}

/// `NdkCreateQpWithSrq` on one CQ; returns the status and the QP.
fn create_qp_with_srq(
    pd: *mut NDK_PD,
    cq: *mut NDK_CQ,
    srq: *mut NDK_SRQ,
    qp_ctx: usize,
    sq_depth: u32,
    sge: u32,
    inline: u32,
) -> (NTSTATUS, *mut NDK_QP) {
    let mut qp = null_mut();
    // SAFETY: consumer call on open PD, CQ and SRQ.
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
            null_mut(),
            &mut qp,
        )
    };
    (s, qp)
}

fn srq_receive(srq: *mut NDK_SRQ, c: usize, sgl: &[NDK_SGE]) -> NTSTATUS {
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

fn modify(srq: *mut NDK_SRQ, depth: u32, threshold: u32, rec: &Recorder) -> NTSTATUS {
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

#[test]
fn create_srq_beyond_the_adapter_limits_is_invalid_parameter() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let pd = make::pd(&n);
    // The mock's MaxSrqDepth is 1024 and MaxReceiveRequestSge 4.
    for (depth, sge) in [(0, 1), (1025, 1), (8, 5)] {
        let (s, srq) = create_srq(pd, depth, sge, 0, &log);
        assert_eq!(
            (s, srq),
            (STATUS_INVALID_PARAMETER, null_mut()),
            "{depth} {sge}"
        );
    }
    // SAFETY: consumer call with a NULL out parameter.
    let s = unsafe {
        (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateSrq)(
            pd,
            8,
            1,
            0,
            None,
            null_mut(),
            null_mut(),
            None,
            null_mut(),
            null_mut(),
        )
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    assert_eq!(n.nic.live_objects().srq, 0);
    let (s, srq) = create_srq(pd, 1024, 4, 0, &log);
    assert_eq!(s, STATUS_SUCCESS);
    // SAFETY: the object is live; its header is its first field.
    let h = unsafe { (srq as *const NDK_OBJECT_HEADER).read() };
    assert_eq!(h.ObjectType, NdkObjectTypeSrq);
    assert_eq!(make::close(srq, &rec), STATUS_SUCCESS);
    assert_eq!(make::close(pd, &rec), STATUS_SUCCESS);
    assert!(log.take().is_empty());
}

#[test]
fn create_qp_with_srq_beyond_the_adapter_limits_is_invalid_parameter() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let cq = make::cq(&n, 64, &rec);
    let pd = make::pd(&n);
    let (s, srq) = create_srq(pd, 16, 2, 0, &log);
    assert_eq!(s, STATUS_SUCCESS);
    // MaxInitiatorQueueDepth 1024, MaxInitiatorRequestSge 4, MaxInlineDataSize 128.
    for (what, depth, sge, inline) in [
        ("initiator depth 0", 0, 1, 0),
        ("initiator depth", 1025, 1, 0),
        ("initiator SGEs", 16, 5, 0),
        ("inline size", 16, 1, 129),
    ] {
        let (s, qp) = create_qp_with_srq(pd, cq, srq, 1, depth, sge, inline);
        assert_eq!((s, qp), (STATUS_INVALID_PARAMETER, null_mut()), "{what}");
    }
    assert_eq!(n.nic.live_objects().qp, 0);
    let (s, qp) = create_qp_with_srq(pd, cq, srq, 1, 1024, 4, 128);
    assert_eq!(s, STATUS_SUCCESS);
    assert!(n.nic.calls().iter().any(|c| matches!(
        c,
        MockCall::CreateQp {
            ctx: 1,
            sq_depth: 1024,
            srq: true,
            ..
        }
    )));
    // SAFETY: the object is live; its header is its first field.
    let h = unsafe { (qp as *const NDK_OBJECT_HEADER).read() };
    assert_eq!(h.ObjectType, NdkObjectTypeQp);
    for o in [qp.cast::<c_void>(), srq.cast(), pd.cast(), cq.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
    assert!(rec.take().is_empty());
    assert_eq!(n.nic.live_objects(), hal::mock::LiveObjects::default());
}

#[test]
fn receive_on_a_qp_with_srq_is_an_error_and_srq_receive_is_the_way() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let cq = make::cq(&n, 64, &rec);
    let pd = make::pd(&n);
    let (_, srq) = create_srq(pd, 16, 2, 0, &log);
    let (s, qp) = create_qp_with_srq(pd, cq, srq, 7, 16, 2, 0);
    assert_eq!(s, STATUS_SUCCESS);
    let g = sge(0x1000, 64, 0);
    // The QP has no receive queue of its own: NdkReceive fails inline (an NTSTATUS error),
    // with or without SGEs.
    for n_sge in [1, 0] {
        // SAFETY: consumer call on an open QP.
        let s = unsafe { (table::<_, NDK_QP_DISPATCH>(qp).NdkReceive)(qp, ctx(1), &g, n_sge) };
        assert!(s < 0, "NdkReceive on a QP with an SRQ: {s:#x}");
    }
    assert_eq!(n.nic.fast_path_counts().post_recv, 0);
    assert_eq!(srq_receive(srq, 2, &[g]), STATUS_SUCCESS);
    assert_eq!(n.nic.fast_path_counts().post_srq_recv, 1);
    for o in [qp.cast::<c_void>(), srq.cast(), pd.cast(), cq.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
}

#[test]
fn srq_receive_checks_the_sge_count_the_total_length_and_the_depth() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let pd = make::pd(&n);
    let (_, srq) = create_srq(pd, 4, 2, 0, &log);
    let g = sge(0x1000, 64, 0);
    assert_eq!(
        srq_receive(srq, 1, &[g, g, g]),
        STATUS_INVALID_PARAMETER,
        "3 SGEs > 2"
    );
    let huge = [sge(0x1000, u32::MAX, 0), sge(0x2000, 2, 0)];
    assert_eq!(
        srq_receive(srq, 2, &huge),
        STATUS_INVALID_PARAMETER,
        "length overflow"
    );
    let over = [sge(0x1000, 1 << 30, 0), sge(0x2000, 1, 0)];
    assert_eq!(
        srq_receive(srq, 3, &over),
        STATUS_INVALID_PARAMETER,
        "beyond MaxTransferLength"
    );
    assert_eq!(
        n.nic.fast_path_counts().post_srq_recv,
        0,
        "refused before the device"
    );
    for i in 0..4 {
        assert_eq!(srq_receive(srq, 10 + i, &[g, g]), STATUS_SUCCESS);
    }
    assert_eq!(
        srq_receive(srq, 20, &[]),
        STATUS_INSUFFICIENT_RESOURCES,
        "SRQ full"
    );
    for o in [srq.cast::<c_void>(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
    n.pump();
    assert!(log.take().is_empty());
}

#[test]
fn modify_srq_changes_the_depth_and_rearms_the_threshold_per_the_rules() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let pd = make::pd(&n);
    let (_, srq) = create_srq(pd, 4, 1, 0, &log);
    let g = [sge(0x1000, 8, 0)];
    for i in 0..4 {
        assert_eq!(srq_receive(srq, i, &g), STATUS_SUCCESS);
    }
    assert_eq!(srq_receive(srq, 4, &g), STATUS_INSUFFICIENT_RESOURCES);
    // Depth above MaxSrqDepth.
    assert_eq!(modify(srq, 1025, 0, &rec), STATUS_INVALID_PARAMETER);
    // Depth 0 and threshold 0: nothing changes, nothing reaches the device.
    n.nic.clear_calls();
    assert_eq!(modify(srq, 0, 0, &rec), STATUS_SUCCESS);
    assert!(n.nic.calls().is_empty());
    // A deeper SRQ takes more receives.
    assert_eq!(modify(srq, 8, 0, &rec), STATUS_SUCCESS);
    assert!(matches!(
        n.nic.calls()[..],
        [MockCall::ModifySrq { depth: 8, .. }]
    ));
    for i in 4..8 {
        assert_eq!(srq_receive(srq, i, &g), STATUS_SUCCESS);
    }
    assert_eq!(srq_receive(srq, 8, &g), STATUS_INSUFFICIENT_RESOURCES);
    n.pump();
    assert!(log.take().is_empty(), "no threshold set yet");
    // 8 queued: a threshold of 8 is not crossed, one of 9 is crossed already and fires
    // at once; a threshold of 0 keeps the (now disarmed) state.
    assert_eq!(modify(srq, 0, 8, &rec), STATUS_SUCCESS);
    n.pump();
    assert!(log.take().is_empty());
    assert_eq!(modify(srq, 0, 9, &rec), STATUS_SUCCESS);
    n.pump();
    assert_eq!(log.take(), vec![STATUS_SUCCESS]);
    assert_eq!(modify(srq, 0, 0, &rec), STATUS_SUCCESS);
    n.pump();
    assert!(
        log.take().is_empty(),
        "one-shot: threshold 0 does not re-arm"
    );
    // A new non-zero threshold re-arms.
    assert_eq!(modify(srq, 0, 12, &rec), STATUS_SUCCESS);
    n.pump();
    assert_eq!(log.take(), vec![STATUS_SUCCESS]);
    n.pump();
    assert!(
        rec.take().is_empty(),
        "synchronous modifies make no request callback"
    );
    for o in [srq.cast::<c_void>(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
}

#[test]
fn pending_modify_srq_completes_through_one_request_callback_and_applies_the_depth() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let pd = make::pd(&n);
    let (_, srq) = create_srq(pd, 2, 1, 0, &log);
    n.nic.pend(MockOp::ModifySrq);
    assert_eq!(modify(srq, 6, 0, &rec), STATUS_PENDING);
    assert_eq!(
        modify(srq, 8, 0, &rec),
        STATUS_DEVICE_BUSY,
        "one modify at a time"
    );
    n.pump();
    assert!(rec.take().is_empty());
    n.nic.complete_pending();
    n.pump();
    assert_eq!(rec.take(), vec![Event::Request(STATUS_SUCCESS)]);
    n.pump();
    assert!(rec.take().is_empty());
    n.nic.unpend(MockOp::ModifySrq);
    let g = [sge(0x1000, 8, 0)];
    for i in 0..6 {
        assert_eq!(srq_receive(srq, i, &g), STATUS_SUCCESS);
    }
    assert_eq!(srq_receive(srq, 6, &g), STATUS_INSUFFICIENT_RESOURCES);
    for o in [srq.cast::<c_void>(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
    assert!(log.take().is_empty());
}

#[test]
fn a_creation_threshold_above_the_queued_receives_fires_at_once() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let pd = make::pd(&n);
    let (s, srq) = create_srq(pd, 8, 1, 2, &log);
    assert_eq!(s, STATUS_SUCCESS);
    n.pump();
    assert_eq!(log.take(), vec![STATUS_SUCCESS], "0 queued < 2");
    let g = [sge(0x1000, 8, 0)];
    for i in 0..3 {
        assert_eq!(srq_receive(srq, i, &g), STATUS_SUCCESS);
    }
    n.pump();
    assert!(log.take().is_empty(), "disarmed after firing");
    for o in [srq.cast::<c_void>(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
}

#[test]
fn srq_close_pends_while_a_qp_uses_it() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let (rec, rsrq) = (Recorder::new(), Recorder::new());
    let log = SrqLog::default();
    let cq = make::cq(&n, 16, &rec);
    let pd = make::pd(&n);
    let (_, srq) = create_srq(pd, 8, 1, 0, &log);
    let (_, qp) = create_qp_with_srq(pd, cq, srq, 1, 8, 1, 0);
    assert_eq!(make::close(srq, &rsrq), STATUS_PENDING);
    assert_eq!(make::close(pd, &rsrq), STATUS_PENDING);
    n.pump();
    assert!(rsrq.take().is_empty());
    assert_eq!(n.nic.live_objects().srq, 1);
    assert_eq!(make::close(qp, &rec), STATUS_SUCCESS);
    n.pump();
    assert_eq!(
        rsrq.take(),
        vec![Event::Close, Event::Close],
        "SRQ, then PD"
    );
    assert_eq!(make::close(cq, &rec), STATUS_SUCCESS);
    assert_eq!(n.nic.live_objects(), hal::mock::LiveObjects::default());
}

#[test]
fn threshold_notification_fires_exactly_once_as_a_peer_consumes_srq_receives() {
    let fabric = Fabric::new();
    let a = Side::new(&fabric, "10.0.0.1", 64);
    let mut b = Side::new(&fabric, "10.0.0.2", 64);
    let log = SrqLog::default();
    let (s, srq) = create_srq(b.pd, 8, 1, 0, &log);
    assert_eq!(s, STATUS_SUCCESS);
    // B's QP takes its receives from the SRQ.
    assert_eq!(make::close(b.qp, &b.rec), STATUS_SUCCESS);
    let (s, qp) = create_qp_with_srq(b.pd, b.cq, srq, 0x5151, 16, 1, 0);
    assert_eq!(s, STATUS_SUCCESS);
    b.qp = qp;
    for i in 0..4 {
        let g = [b.sge(i * 1024, 1024)];
        assert_eq!(srq_receive(srq, i as usize, &g), STATUS_SUCCESS);
    }
    let rec = Recorder::new();
    assert_eq!(modify(srq, 0, 3, &rec), STATUS_SUCCESS);
    b.node.pump();
    assert!(log.take().is_empty(), "4 queued is not below 3");
    let p = Pair::connect(a, b);
    let send = |c: usize, text: &[u8]| {
        p.a.buf.write(0, text);
        // SAFETY: consumer call on A's connected QP.
        let s = unsafe { (p.a.q().NdkSend)(p.a.qp, ctx(c), &p.a.sge(0, text.len() as u32), 1, 0) };
        assert_eq!(s, STATUS_SUCCESS);
        p.b.node.pump();
        log.take()
    };
    assert!(send(10, b"one").is_empty(), "3 queued is not below 3");
    assert_eq!(send(11, b"two"), vec![STATUS_SUCCESS], "2 queued < 3");
    assert!(send(12, b"three").is_empty(), "one-shot");
    let r = p.b.poll();
    let got: Vec<(NTSTATUS, usize, usize, u32)> = r
        .iter()
        .map(|r| {
            (
                r.Status,
                r.QPContext as usize,
                r.RequestContext as usize,
                r.BytesTransferred,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (STATUS_SUCCESS, 0x5151, 0x100, 3),
            (STATUS_SUCCESS, 0x5151, 0x101, 3),
            (STATUS_SUCCESS, 0x5151, 0x102, 5)
        ],
        "SRQ receives are consumed in order on the QP's receive CQ"
    );
    let mut back = [0u8; 5];
    p.b.buf.read(2048, &mut back);
    assert_eq!(&back, b"three");
    assert_eq!(p.a.poll().len(), 3);
    // Re-arming at the one receive left fires again once that one is consumed.
    assert_eq!(modify(srq, 0, 1, &rec), STATUS_SUCCESS);
    p.b.node.pump();
    assert!(log.take().is_empty(), "1 queued is not below 1");
    assert_eq!(send(13, b"four"), vec![STATUS_SUCCESS]);
    assert_eq!(
        summary(&p.b.poll()),
        vec![(STATUS_SUCCESS, 0x103, NdkOperationTypeReceive)]
    );
    assert_eq!(p.a.poll().len(), 1);
    // The SRQ's close waits for the QP on it, which the pair's teardown closes.
    let rsrq = Recorder::new();
    assert_eq!(make::close(srq, &rsrq), STATUS_PENDING);
    assert!(rsrq.take().is_empty());
    p.close();
    assert_eq!(rsrq.take(), vec![Event::Close]);
    assert!(log.take().is_empty(), "nothing after the close");
}
