//! Shared receive queues on the data path (ndkpi.md §4.2 `NdkCreateSrq` and
//! `NdkCreateQpWithSrq`, §4.6, §7.5): the one-shot limit notification, at creation and as a
//! peer's sends consume receives, and SRQ receives completing in order on the QP's CQ.

use std::ffi::c_void;

use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

use super::net;

pub fn a_creation_threshold_above_the_queued_receives_fires_at_once<B: Backend>() {
    let net = net::<B>();
    let n = Node::<B>::open(&net, "10.4.0.1");
    let log = SrqLog::default();
    let pd = make::pd(&n);
    let (s, srq) = create_srq(&n, pd, 8, 1, 2, &log);
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
        n.close_object(o);
    }
    n.close();
}

pub fn threshold_notification_fires_exactly_once_as_a_peer_consumes_srq_receives<B: Backend>() {
    let net = net::<B>();
    let a = Side::<B>::open(&net, "10.0.0.1", 64);
    let mut b = Side::<B>::open(&net, "10.0.0.2", 64);
    let log = SrqLog::default();
    let (s, srq) = create_srq(&b.node, b.pd, 8, 1, 0, &log);
    assert_eq!(s, STATUS_SUCCESS);
    // B's QP takes its receives from the SRQ.
    b.node.close_object(b.qp);
    let (s, qp) = create_qp_with_srq(&b.node, b.pd, b.cq, srq, 0x5151, 16, 1, 0);
    assert_eq!(s, STATUS_SUCCESS);
    b.qp = qp;
    for i in 0..4 {
        let g = [b.sge(i * 1024, 1024)];
        assert_eq!(srq_receive(srq, i as usize, &g), STATUS_SUCCESS);
    }
    let rec = Recorder::new();
    assert_eq!(
        b.node.settle(modify_srq(srq, 0, 3, &rec), &rec),
        STATUS_SUCCESS
    );
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
    let r = p.b.wait_completions(3);
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
    assert_eq!(p.a.wait_completions(3).len(), 3);
    // Re-arming at the one receive left fires again once that one is consumed.
    assert_eq!(
        p.b.node.settle(modify_srq(srq, 0, 1, &rec), &rec),
        STATUS_SUCCESS
    );
    p.b.node.pump();
    assert!(log.take().is_empty(), "1 queued is not below 1");
    assert_eq!(send(13, b"four"), vec![STATUS_SUCCESS]);
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x103, NdkOperationTypeReceive)]
    );
    assert_eq!(p.a.wait_completions(1).len(), 1);
    // The SRQ's close waits for the QP on it, which the pair's teardown closes.
    let rsrq = Recorder::new();
    assert_eq!(make::close(srq, &rsrq), STATUS_PENDING);
    assert!(rsrq.take().is_empty());
    p.close();
    wait_for::<B, _>(&net, "the SRQ's close completion", || {
        rsrq.take_matching(|e| *e == Event::Close)
    });
    assert!(rsrq.take().is_empty(), "one close completion");
    assert!(log.take().is_empty(), "nothing after the close");
}
