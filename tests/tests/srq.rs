//! Shared receive queues through the dispatch tables (ndkpi.md §4.2 `NdkCreateSrq` and
//! `NdkCreateQpWithSrq`, §4.6, §7.1, §7.5): creation limits, `NdkSrqReceive`,
//! `NdkModifySrq` depth and threshold rules, the one-shot limit notification as a peer's
//! sends consume receives, and close ordering with a QP on the SRQ.

use std::ffi::c_void;
use std::ptr::null_mut;

use hal::mock::{Fabric, MockCall, MockOp};
use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

#[test]
fn create_srq_beyond_the_adapter_limits_is_invalid_parameter() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let rec = Recorder::new();
    let log = SrqLog::default();
    let pd = make::pd(&n);
    // The mock's MaxSrqDepth is 1024 and MaxReceiveRequestSge 4.
    for (depth, sge) in [(0, 1), (1025, 1), (8, 5)] {
        let (s, srq) = create_srq(&n, pd, depth, sge, 0, &log);
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
    let (s, srq) = create_srq(&n, pd, 1024, 4, 0, &log);
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
    let (s, srq) = create_srq(&n, pd, 16, 2, 0, &log);
    assert_eq!(s, STATUS_SUCCESS);
    // MaxInitiatorQueueDepth 1024, MaxInitiatorRequestSge 4, MaxInlineDataSize 128.
    for (what, depth, sge, inline) in [
        ("initiator depth 0", 0, 1, 0),
        ("initiator depth", 1025, 1, 0),
        ("initiator SGEs", 16, 5, 0),
        ("inline size", 16, 1, 129),
    ] {
        let (s, qp) = create_qp_with_srq(&n, pd, cq, srq, 1, depth, sge, inline);
        assert_eq!((s, qp), (STATUS_INVALID_PARAMETER, null_mut()), "{what}");
    }
    assert_eq!(n.nic.live_objects().qp, 0);
    let (s, qp) = create_qp_with_srq(&n, pd, cq, srq, 1, 1024, 4, 128);
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
    let (_, srq) = create_srq(&n, pd, 16, 2, 0, &log);
    let (s, qp) = create_qp_with_srq(&n, pd, cq, srq, 7, 16, 2, 0);
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
    let (_, srq) = create_srq(&n, pd, 4, 2, 0, &log);
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
    let (_, srq) = create_srq(&n, pd, 4, 1, 0, &log);
    let g = [sge(0x1000, 8, 0)];
    for i in 0..4 {
        assert_eq!(srq_receive(srq, i, &g), STATUS_SUCCESS);
    }
    assert_eq!(srq_receive(srq, 4, &g), STATUS_INSUFFICIENT_RESOURCES);
    // Depth above MaxSrqDepth.
    assert_eq!(modify_srq(srq, 1025, 0, &rec), STATUS_INVALID_PARAMETER);
    // Depth 0 and threshold 0: nothing changes, nothing reaches the device.
    n.nic.clear_calls();
    assert_eq!(modify_srq(srq, 0, 0, &rec), STATUS_SUCCESS);
    assert!(n.nic.calls().is_empty());
    // A deeper SRQ takes more receives.
    assert_eq!(modify_srq(srq, 8, 0, &rec), STATUS_SUCCESS);
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
    assert_eq!(modify_srq(srq, 0, 8, &rec), STATUS_SUCCESS);
    n.pump();
    assert!(log.take().is_empty());
    assert_eq!(modify_srq(srq, 0, 9, &rec), STATUS_SUCCESS);
    n.pump();
    assert_eq!(log.take(), vec![STATUS_SUCCESS]);
    assert_eq!(modify_srq(srq, 0, 0, &rec), STATUS_SUCCESS);
    n.pump();
    assert!(
        log.take().is_empty(),
        "one-shot: threshold 0 does not re-arm"
    );
    // A new non-zero threshold re-arms.
    assert_eq!(modify_srq(srq, 0, 12, &rec), STATUS_SUCCESS);
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
    let (_, srq) = create_srq(&n, pd, 2, 1, 0, &log);
    n.nic.pend(MockOp::ModifySrq);
    assert_eq!(modify_srq(srq, 6, 0, &rec), STATUS_PENDING);
    assert_eq!(
        modify_srq(srq, 8, 0, &rec),
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
fn srq_close_pends_while_a_qp_uses_it() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.4.0.1");
    let (rec, rsrq) = (Recorder::new(), Recorder::new());
    let log = SrqLog::default();
    let cq = make::cq(&n, 16, &rec);
    let pd = make::pd(&n);
    let (_, srq) = create_srq(&n, pd, 8, 1, 0, &log);
    let (_, qp) = create_qp_with_srq(&n, pd, cq, srq, 1, 8, 1, 0);
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
