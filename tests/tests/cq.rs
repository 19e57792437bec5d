//! `NDK_CQ_DISPATCH` slots not covered by the object tests (ndkpi.md §4.3, §5.3, §5.4,
//! §7.4): plain `NdkGetCqResults`, `NdkResizeCq` (synchronous, pending, limits), SOLICITED
//! arms, arm merging, and no notification after a close.

mod wrkit;

use std::ptr::null_mut;

use hal::mock::{Fabric, MockCall, MockOp};
use hal::{Completion, WcOpcode, WcStatus};
use ndk_provider::abi::*;
use ndk_tests::*;
use wrkit::*;

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

/// `NdkSend` of `len` bytes of A's buffer with `flags`.
fn send(p: &Pair, c: usize, len: u32, flags: u32) {
    // SAFETY: consumer call on A's connected QP.
    let s = unsafe { (p.a.q().NdkSend)(p.a.qp, ctx(c), &p.a.sge(0, len), 1, flags) };
    assert_eq!(s, STATUS_SUCCESS);
}

/// `NdkReceive` of `len` bytes into B's buffer at `off`.
fn receive(p: &Pair, c: usize, off: u64, len: u32) {
    // SAFETY: consumer call on B's QP.
    let s = unsafe { (p.b.q().NdkReceive)(p.b.qp, ctx(c), &p.b.sge(off, len), 1) };
    assert_eq!(s, STATUS_SUCCESS);
}

#[test]
fn get_cq_results_returns_plain_results_up_to_the_count_asked() {
    let fabric = Fabric::new();
    let p = pair(&fabric);
    receive(&p, 1, 0, 64);
    receive(&p, 2, 64, 64);
    p.a.buf.write(0, b"abcdefgh");
    send(&p, 3, 3, 0);
    send(&p, 4, 5, 0);
    // SAFETY: consumer calls on an open CQ with room for the counts given.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(p.b.cq);
        let mut one = [NDK_RESULT {
            Status: -1,
            BytesTransferred: 0,
            QPContext: null_mut(),
            RequestContext: null_mut(),
        }; 2];
        assert_eq!((t.NdkGetCqResults)(p.b.cq, one.as_mut_ptr(), 1), 1);
        assert_eq!(
            (
                one[0].Status,
                one[0].BytesTransferred,
                one[0].QPContext as usize,
                one[0].RequestContext as usize
            ),
            (STATUS_SUCCESS, 3, 0x5150, 0x101)
        );
        assert_eq!(one[1].Status, -1, "only the count asked is written");
        assert_eq!((t.NdkGetCqResults)(p.b.cq, one.as_mut_ptr(), 2), 1);
        assert_eq!(
            (one[0].BytesTransferred, one[0].RequestContext as usize),
            (5, 0x102)
        );
        assert_eq!((t.NdkGetCqResults)(p.b.cq, one.as_mut_ptr(), 2), 0, "empty");
    }
    let r = poll_plain(p.a.cq);
    let got: Vec<(NTSTATUS, usize, usize)> = r
        .iter()
        .map(|r| (r.Status, r.QPContext as usize, r.RequestContext as usize))
        .collect();
    assert_eq!(
        got,
        vec![
            (STATUS_SUCCESS, 0x5150, 0x103),
            (STATUS_SUCCESS, 0x5150, 0x104)
        ]
    );
    let mut back = [0u8; 8];
    p.b.buf.read(0, &mut back[..3]);
    p.b.buf.read(64, &mut back[3..]);
    assert_eq!(&back, b"abcabcde");
    p.close();
}

#[test]
fn get_cq_results_ex_reports_zero_provider_error_code_on_success_and_the_status_on_error() {
    let fabric = Fabric::new();
    let p = pair(&fabric);
    receive(&p, 1, 0, 4);
    send(&p, 2, 4, 0);
    let ok = p.b.poll();
    assert_eq!(
        (ok.len(), ok[0].Status, ok[0].ProviderErrorCode),
        (1, STATUS_SUCCESS, 0)
    );
    assert_eq!(p.a.poll()[0].ProviderErrorCode, 0);
    // A receive too small for the send fails on both sides.
    receive(&p, 3, 0, 4);
    send(&p, 4, 12, 0);
    assert_eq!(
        summary(&p.b.poll()),
        vec![(STATUS_BUFFER_OVERFLOW, 0x103, NdkOperationTypeReceive)]
    );
    assert_eq!(
        summary(&p.a.poll()),
        vec![(STATUS_REMOTE_RESOURCES, 0x104, NdkOperationTypeSend)]
    );
    p.close();
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
fn solicited_arm_fires_for_a_solicited_send_and_not_for_an_unsolicited_one() {
    let fabric = Fabric::new();
    let p = pair(&fabric);
    for i in 0..3 {
        receive(&p, i, 64 * i as u64, 64);
    }
    arm(p.b.cq, NDK_CQ_NOTIFY_SOLICITED);
    p.b.node.pump();
    assert!(p.b.rec.take().is_empty());
    send(&p, 10, 8, 0);
    p.b.node.pump();
    assert!(
        p.b.rec.take().is_empty(),
        "an unsolicited receive does not satisfy SOLICITED"
    );
    send(&p, 11, 8, NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT);
    p.b.node.pump();
    assert_eq!(p.b.rec.take(), vec![Event::CqNotify(STATUS_SUCCESS)]);
    // One arm, one notification.
    send(&p, 12, 8, NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT);
    p.b.node.pump();
    assert!(p.b.rec.take().is_empty());
    assert_eq!(p.b.poll().len(), 3);
    assert_eq!(p.a.poll().len(), 3);
    assert!(p.a.rec.take().is_empty(), "A never armed");
    p.close();
}

#[test]
fn an_error_completion_satisfies_a_solicited_arm() {
    let fabric = Fabric::new();
    let p = pair(&fabric);
    receive(&p, 1, 0, 4);
    arm(p.b.cq, NDK_CQ_NOTIFY_SOLICITED);
    p.b.node.pump();
    // Unsolicited, and too large for the receive: the receive completes in error.
    send(&p, 2, 12, 0);
    p.b.node.pump();
    assert_eq!(p.b.rec.take(), vec![Event::CqNotify(STATUS_SUCCESS)]);
    assert_eq!(
        summary(&p.b.poll()),
        vec![(STATUS_BUFFER_OVERFLOW, 0x101, NdkOperationTypeReceive)]
    );
    p.close();
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
