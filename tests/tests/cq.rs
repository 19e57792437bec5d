//! `NDK_CQ_DISPATCH` slots not covered by the object tests, where the mock NIC's scripting
//! is needed (ndkpi.md §4.3, §5.3, §7.4): `NdkResizeCq` (synchronous, pending, limits), arm
//! merging over injected completions, and no notification after a close. Plain
//! `NdkGetCqResults`, `ProviderErrorCode` and SOLICITED arms fired by a peer's sends are in
//! the conformance suite (`conformance/cq.rs`).

use hal::mock::{Fabric, MockCall, MockOp};
use hal::{Completion, WcOpcode, WcStatus};
use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

fn completion(wr_id: u64, status: WcStatus) -> Completion {
    Completion {
        wr_id,
        qp_context: 0x77,
        status,
        opcode: WcOpcode::Send,
        byte_len: 0,
        invalidated_rkey: 0,
        vendor_error: 0,
    }
}

fn arm(cq: *mut NDK_CQ, ty: u32) {
    // SAFETY: consumer call on an open CQ.
    unsafe { (table::<_, NDK_CQ_DISPATCH>(cq).NdkArmCq)(cq, ty) }
}

fn resize(cq: *mut NDK_CQ, depth: u32, rec: &Recorder) -> NTSTATUS {
    // SAFETY: consumer call on an open CQ.
    unsafe { (table::<_, NDK_CQ_DISPATCH>(cq).NdkResizeCq)(cq, depth, Some(on_request), rec.ctx()) }
}

#[test]
fn resize_cq_succeeds_synchronously_and_keeps_queued_completions() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.3.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    for i in 0..10 {
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(i, WcStatus::Success)));
    }
    assert_eq!(resize(cq, 64, &rec), STATUS_SUCCESS);
    assert!(n.nic.calls().contains(&MockCall::ResizeCq {
        cq_ctx: cq as u64,
        depth: 64
    }));
    // The deeper CQ takes 64 entries without overrunning.
    for i in 10..64 {
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(i, WcStatus::Success)));
    }
    n.pump();
    assert!(
        rec.take().is_empty(),
        "a synchronous resize makes no callback"
    );
    let mut all = Vec::new();
    loop {
        let r = poll_plain(cq);
        if r.is_empty() {
            break;
        }
        all.extend(r.iter().map(|r| r.RequestContext as u64));
    }
    assert_eq!(all, (0..64).collect::<Vec<_>>());
    assert_eq!(make::close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn pending_resize_cq_completes_through_exactly_one_request_callback() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.3.0.1");
    let (rcq, rreq) = (Recorder::new(), Recorder::new());
    let cq = make::cq(&n, 16, &rcq);
    n.nic.pend(MockOp::ResizeCq);
    assert_eq!(resize(cq, 32, &rreq), STATUS_PENDING);
    assert_eq!(
        resize(cq, 48, &rreq),
        STATUS_DEVICE_BUSY,
        "one resize at a time"
    );
    n.pump();
    assert!(rreq.take().is_empty(), "not before the device completes");
    n.nic.complete_pending();
    n.pump();
    assert_eq!(rreq.take(), vec![Event::Request(STATUS_SUCCESS)]);
    n.pump();
    assert!(rreq.take().is_empty());
    assert!(rcq.take().is_empty(), "no CQ notification from a resize");
    n.nic.unpend(MockOp::ResizeCq);
    assert_eq!(resize(cq, 8, &rreq), STATUS_SUCCESS);
    assert_eq!(make::close(cq, &rcq), STATUS_SUCCESS);
}

#[test]
fn resize_cq_to_zero_or_deeper_than_max_cq_depth_is_invalid_parameter() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.3.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    assert_eq!(resize(cq, 4097, &rec), STATUS_INVALID_PARAMETER);
    assert_eq!(resize(cq, 0, &rec), STATUS_INVALID_PARAMETER);
    assert!(
        !n.nic
            .calls()
            .iter()
            .any(|c| matches!(c, MockCall::ResizeCq { .. })),
        "refused before reaching the device"
    );
    assert_eq!(resize(cq, 4096, &rec), STATUS_SUCCESS);
    n.pump();
    assert!(rec.take().is_empty());
    assert_eq!(make::close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn arms_merge_with_any_dominating_and_errors_then_solicited_giving_solicited() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.3.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 64, &rec);
    let mut id = 0;
    let mut push = |status| {
        id += 1;
        assert!(n.nic.inject_completion(cq as u64, completion(id, status)));
        n.pump();
        rec.take()
    };
    let drain = || while !poll_plain(cq).is_empty() {};
    let fired = vec![Event::CqNotify(STATUS_SUCCESS)];
    // ERRORS then ANY = ANY: a successful completion fires.
    arm(cq, NDK_CQ_NOTIFY_ERRORS);
    arm(cq, NDK_CQ_NOTIFY_ANY);
    assert_eq!(push(WcStatus::Success), fired);
    drain();
    // ANY then ERRORS = ANY.
    arm(cq, NDK_CQ_NOTIFY_ANY);
    arm(cq, NDK_CQ_NOTIFY_ERRORS);
    assert_eq!(push(WcStatus::Success), fired);
    drain();
    // SOLICITED then ANY = ANY.
    arm(cq, NDK_CQ_NOTIFY_SOLICITED);
    arm(cq, NDK_CQ_NOTIFY_ANY);
    assert_eq!(push(WcStatus::Success), fired);
    drain();
    // ERRORS then SOLICITED = SOLICITED: an unsolicited success does not fire, an error
    // completion does (ERRORS alone waits for CQ errors only, see below).
    arm(cq, NDK_CQ_NOTIFY_ERRORS);
    arm(cq, NDK_CQ_NOTIFY_SOLICITED);
    assert!(push(WcStatus::Success).is_empty());
    assert_eq!(push(WcStatus::RemoteAccess), fired);
    drain();
    // ERRORS then ERRORS = ERRORS: neither a success nor a failed request fires it.
    arm(cq, NDK_CQ_NOTIFY_ERRORS);
    arm(cq, NDK_CQ_NOTIFY_ERRORS);
    assert!(push(WcStatus::Success).is_empty());
    assert!(push(WcStatus::RemoteAccess).is_empty());
    assert_eq!(make::close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn no_notification_is_delivered_after_the_cq_close_returned() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.3.0.1");
    let (rcq, rclose) = (Recorder::new(), Recorder::new());
    let cq = make::cq(&n, 16, &rcq);
    arm(cq, NDK_CQ_NOTIFY_ANY);
    // The notification is raised but its DPC has not run when the consumer closes.
    assert!(n
        .nic
        .inject_completion(cq as u64, completion(1, WcStatus::Success)));
    assert_eq!(make::close(cq, &rclose), STATUS_SUCCESS);
    n.pump();
    assert!(
        rcq.take().is_empty(),
        "no callback after the close returned"
    );
    assert!(rclose.take().is_empty());
}

#[test]
fn a_cq_whose_close_pends_on_a_qp_delivers_no_more_notifications() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.3.0.1");
    let (rcq, rclose) = (Recorder::new(), Recorder::new());
    let cq = make::cq(&n, 16, &rcq);
    let pd = make::pd(&n);
    let qp = make::qp(pd, cq, 0x42);
    // SAFETY: consumer calls on an unconnected QP (receives may be posted before connecting).
    unsafe {
        let t: &NDK_QP_DISPATCH = table(qp);
        assert_eq!(
            (t.NdkReceive)(qp, ctx(1), &sge(0x1000, 8, 0), 1),
            STATUS_SUCCESS
        );
        arm(cq, NDK_CQ_NOTIFY_ANY);
        n.pump();
        assert_eq!(
            make::close(cq, &rclose),
            STATUS_PENDING,
            "the QP still uses it"
        );
        // A completion reaches the closing CQ: the armed notification must not be delivered.
        (t.NdkFlush)(qp);
    }
    n.pump();
    assert!(
        rcq.take().is_empty(),
        "no notification for a CQ being closed"
    );
    assert!(rclose.take().is_empty());
    assert_eq!(make::close(qp, &rclose), STATUS_SUCCESS);
    n.pump();
    assert_eq!(rclose.take(), vec![Event::Close], "the CQ close completed");
    assert!(rcq.take().is_empty());
    assert_eq!(make::close(pd, &rclose), STATUS_SUCCESS);
    assert_eq!(n.nic.live_objects(), hal::mock::LiveObjects::default());
}
