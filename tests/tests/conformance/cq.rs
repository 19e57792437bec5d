//! `NDK_CQ_DISPATCH` on the data path (ndkpi.md §4.3, §5.3, §5.4, §7.4): plain
//! `NdkGetCqResults`, `ProviderErrorCode` in `NdkGetCqResultsEx`, and SOLICITED arms fired by
//! a peer's sends.

use std::ptr::null_mut;

use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

use super::net;

fn arm(cq: *mut NDK_CQ, ty: u32) {
    // SAFETY: consumer call on an open CQ.
    unsafe { (table::<_, NDK_CQ_DISPATCH>(cq).NdkArmCq)(cq, ty) }
}

/// Waits for the CQ notification of `side`.
fn notification<B: Backend>(side: &Side<B>) -> Event {
    side.node.wait_event(&side.rec, "CQ notification", |e| {
        matches!(e, Event::CqNotify(_))
    })
}

/// `NdkSend` of `len` bytes of A's buffer with `flags`.
fn send<B: Backend>(p: &Pair<B>, c: usize, len: u32, flags: u32) {
    // SAFETY: consumer call on A's connected QP.
    let s = unsafe { (p.a.q().NdkSend)(p.a.qp, ctx(c), &p.a.sge(0, len), 1, flags) };
    assert_eq!(s, STATUS_SUCCESS);
}

/// `NdkReceive` of `len` bytes into B's buffer at `off`.
fn receive<B: Backend>(p: &Pair<B>, c: usize, off: u64, len: u32) {
    // SAFETY: consumer call on B's QP.
    let s = unsafe { (p.b.q().NdkReceive)(p.b.qp, ctx(c), &p.b.sge(off, len), 1) };
    assert_eq!(s, STATUS_SUCCESS);
}

pub fn get_cq_results_returns_plain_results_up_to_the_count_asked<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    receive(&p, 1, 0, 64);
    receive(&p, 2, 64, 64);
    p.a.buf.write(0, b"abcdefgh");
    send(&p, 3, 3, 0);
    send(&p, 4, 5, 0);
    p.b.pump();
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
    let r = p.a.poll_plain();
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

pub fn get_cq_results_ex_reports_zero_provider_error_code_on_success_and_the_status_on_error<
    B: Backend,
>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    receive(&p, 1, 0, 4);
    send(&p, 2, 4, 0);
    let ok = p.b.wait_completions(1);
    assert_eq!(
        (ok.len(), ok[0].Status, ok[0].ProviderErrorCode),
        (1, STATUS_SUCCESS, 0)
    );
    assert_eq!(p.a.wait_completions(1)[0].ProviderErrorCode, 0);
    // A receive too small for the send fails on both sides.
    receive(&p, 3, 0, 4);
    send(&p, 4, 12, 0);
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_BUFFER_OVERFLOW, 0x103, NdkOperationTypeReceive)]
    );
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_REMOTE_RESOURCES, 0x104, NdkOperationTypeSend)]
    );
    p.close();
}

pub fn solicited_arm_fires_for_a_solicited_send_and_not_for_an_unsolicited_one<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
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
    assert_eq!(notification(&p.b), Event::CqNotify(STATUS_SUCCESS));
    assert!(p.b.rec.take().is_empty());
    // One arm, one notification.
    send(&p, 12, 8, NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT);
    p.b.node.pump();
    assert!(p.b.rec.take().is_empty());
    assert_eq!(p.b.wait_completions(3).len(), 3);
    assert_eq!(p.a.wait_completions(3).len(), 3);
    assert!(p.a.rec.take().is_empty(), "A never armed");
    p.close();
}

pub fn an_error_completion_satisfies_a_solicited_arm<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    receive(&p, 1, 0, 4);
    arm(p.b.cq, NDK_CQ_NOTIFY_SOLICITED);
    p.b.node.pump();
    // Unsolicited, and too large for the receive: the receive completes in error.
    send(&p, 2, 12, 0);
    assert_eq!(notification(&p.b), Event::CqNotify(STATUS_SUCCESS));
    assert!(p.b.rec.take().is_empty());
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_BUFFER_OVERFLOW, 0x101, NdkOperationTypeReceive)]
    );
    p.close();
}
