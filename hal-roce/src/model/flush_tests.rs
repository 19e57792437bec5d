//! A dead device (surprise-removed: BARs read all ones; or FATAL) writes no FLUSHED CQE; the
//! driver flushes its queues in software: every outstanding and every later request completes
//! exactly once, FLUSHED, in post order per queue, through the normal `poll_cq`.

use std::collections::HashMap;
use std::vec;
use std::vec::Vec;

use hal::{
    Cmd, CmdToken, Completion, HalError, HalEvent, NicHal, Payload, QpParams, QpParts, RecvWr,
    SendOp, SendWr, WcOpcode, WcStatus, WrFlags,
};

use super::network::Network;
use super::tests::{connected, ip, wait, Side};
use crate::cqe::syndrome;

fn send(wr_id: u64, sge: &[hal::Sge], signaled: bool) -> SendWr<'_> {
    SendWr {
        wr_id,
        op: SendOp::Send {
            payload: Payload::Sgl(sge),
            invalidate_rkey: None,
        },
        flags: if signaled {
            WrFlags::SIGNALED
        } else {
            WrFlags::empty()
        },
    }
}

/// Polls one completion per call (so a flush spans many polls) until the CQ is empty.
fn poll_singly(s: &mut Side) -> Vec<Completion> {
    let mut out = Vec::new();
    let mut one = [Completion::EMPTY; 1];
    for _ in 0..10_000 {
        let n = s.nic.poll_cq(&mut s.cq.as_mut().unwrap().poller, &mut one);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&one[..n]);
    }
    panic!("the CQ never ran dry");
}

fn try_post_send(s: &mut Side, wr: &SendWr<'_>) -> Result<(), HalError> {
    let sq = &mut s.qp.as_mut().unwrap().sq;
    let r = s.nic.post_send(sq, wr);
    s.nic.ring_sq(sq);
    r
}

fn try_post_recv(s: &mut Side, wr_id: u64) -> Result<(), HalError> {
    let sge = [s.sge(0x8000, 64)];
    let rq = s.qp.as_mut().unwrap().rq.as_mut().unwrap();
    s.nic.post_recv(rq, &RecvWr { wr_id, sgl: &sge })
}

/// wr_ids of the completions in `c` of the QP with context `ctx` and `opcode`, in completion
/// order; every completion in `c` is FLUSHED with the flush syndrome.
fn flushed(c: &[Completion], opcode: WcOpcode, ctx: u64) -> Vec<u64> {
    for c in c {
        assert_eq!(c.status, WcStatus::Flushed, "{c:?}");
        assert_eq!(c.vendor_error, syndrome::FLUSH, "{c:?}");
        assert_eq!(c.byte_len, 0, "{c:?}");
    }
    c.iter()
        .filter(|c| c.opcode == opcode && c.qp_context == ctx)
        .map(|c| c.wr_id)
        .collect()
}

fn counts(c: &[Completion]) -> HashMap<u64, usize> {
    let mut m = HashMap::new();
    for c in c {
        *m.entry(c.wr_id).or_insert(0) += 1;
    }
    m
}

/// A's sends: 10 (unsignaled) then 11 run on the live device (only 11 completes), 12
/// (unsignaled) runs and retires silently; then 20 (signaled), 21 (unsignaled), 22 and
/// receives 1–3 are posted but never run.
fn outstanding_on_a(net: &Network, a: &mut Side, b: &mut Side) {
    for i in 0..3 {
        b.post_recv(100 + i, 0x1000 * (i as usize + 1), 4096);
    }
    let sge = [a.sge(0, 64)];
    a.post(&send(10, &sge, false));
    a.post(&send(11, &sge, true));
    a.post(&send(12, &sge, false));
    net.run_until_idle();
    let live = a.poll();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live[0].wr_id, live[0].status), (11, WcStatus::Success));
    assert_eq!(b.poll().len(), 3, "B received all three");
    for id in 1..=3 {
        a.post_recv(id, 0x1000 * id as usize, 4096);
    }
    // Not run: nothing steps the network before the device goes.
    a.post(&send(20, &sge, true));
    a.post(&send(21, &sge, false));
    a.post(&send(22, &sge, true));
}

#[test]
fn surprise_removal_flushes_every_outstanding_and_later_request_exactly_once_in_order() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    outstanding_on_a(&net, &mut a, &mut b);
    let ctx = 0x9901;

    assert!(net.surprise_remove(ip(1)));
    // What the NDIS glue does on surprise removal: the ISR reads all ones.
    a.nic.interrupt();
    a.ev.pump(&a.nic);
    let removed =
        a.ev.0
            .iter()
            .filter(|e| matches!(e, HalEvent::DeviceRemoved))
            .count();
    let fatal =
        a.ev.0
            .iter()
            .filter(|e| matches!(e, HalEvent::DeviceFatal))
            .count();
    assert_eq!((removed, fatal), (1, 0), "{:?}", a.ev.0);

    // Requests posted after the removal are accepted and flushed too.
    let sge = [a.sge(0, 64)];
    try_post_send(&mut a, &send(23, &sge, false)).unwrap();
    try_post_recv(&mut a, 4).unwrap();
    try_post_send(&mut a, &send(24, &sge, true)).unwrap();

    let c = poll_singly(&mut a);
    assert_eq!(flushed(&c, WcOpcode::Send, ctx), vec![20, 21, 22, 23, 24]);
    assert_eq!(flushed(&c, WcOpcode::Receive, ctx), vec![1, 2, 3, 4]);
    assert_eq!(c.len(), 9, "{c:?}");
    assert!(counts(&c).values().all(|n| *n == 1), "exactly once: {c:?}");
    assert!(!counts(&c).contains_key(&10) && !counts(&c).contains_key(&12));
    // Nothing twice.
    assert!(a.poll().is_empty());

    // Later requests complete at the next poll, however many polls come in between.
    try_post_recv(&mut a, 5).unwrap();
    try_post_send(&mut a, &send(25, &sge, false)).unwrap();
    let c = a.poll();
    assert_eq!(flushed(&c, WcOpcode::Receive, ctx), vec![5]);
    assert_eq!(flushed(&c, WcOpcode::Send, ctx), vec![25]);
    assert_eq!(c.len(), 2);

    // flush_qp and destroy_qp on the dead device: done at once, nothing reported twice; a
    // request posted just before the destroy still completes after it.
    try_post_send(&mut a, &send(26, &sge, true)).unwrap();
    let qp = a.qp.take().unwrap();
    a.nic.flush_qp(&qp.qp);
    assert!(matches!(a.nic.destroy_qp(qp, CmdToken(7)), Cmd::Done(())));
    let c = a.poll();
    assert_eq!(flushed(&c, WcOpcode::Send, ctx), vec![26]);
    assert_eq!(c.len(), 1);
    assert!(a.poll().is_empty());
    // Destroying the CQ on the dead device is done at once too.
    let cq = a.cq.take().unwrap();
    assert!(matches!(a.nic.destroy_cq(cq, CmdToken(8)), Cmd::Done(())));
}

#[test]
fn a_dead_queue_takes_new_requests_as_fast_as_flushes_are_polled() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, _b, _ca, _cb) = connected(&net);
    assert!(net.surprise_remove(ip(1)));
    a.nic.interrupt();
    let sge = [a.sge(0, 64)];
    // The SQ is 256 deep: it fills, as on a live device that completes nothing.
    let mut posted = 0u64;
    while try_post_send(&mut a, &send(1000 + posted, &sge, posted % 2 == 0)).is_ok() {
        posted += 1;
        assert!(posted <= 4096, "the SQ never filled");
    }
    assert_eq!(
        try_post_send(&mut a, &send(1, &sge, true)),
        Err(HalError::QueueFull)
    );
    assert_eq!(posted, 256);
    let mut rq = 0u64;
    while try_post_recv(&mut a, 5000 + rq).is_ok() {
        rq += 1;
        assert!(rq <= 4096, "the RQ never filled");
    }
    assert_eq!(rq, 256);
    // Polling frees the slots: every request once, in order.
    let c = a.poll();
    let ctx = 0x9901;
    let sends: Vec<u64> = (1000..1000 + posted).collect();
    let recvs: Vec<u64> = (5000..5000 + rq).collect();
    assert_eq!(flushed(&c, WcOpcode::Send, ctx), sends);
    assert_eq!(flushed(&c, WcOpcode::Receive, ctx), recvs);
    // And the queues take requests again (the ring wraps over flushed slots).
    for i in 0..300u64 {
        try_post_send(&mut a, &send(9000 + i, &sge, true)).unwrap();
        try_post_recv(&mut a, 19000 + i).unwrap();
        let c = a.poll();
        assert_eq!(flushed(&c, WcOpcode::Send, ctx), vec![9000 + i]);
        assert_eq!(flushed(&c, WcOpcode::Receive, ctx), vec![19000 + i]);
    }
}

#[test]
fn a_fatal_device_flushes_its_queues_in_software() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    outstanding_on_a(&net, &mut a, &mut b);
    net.with_device(ip(1), |d| d.go_fatal(1)).unwrap();
    net.run_until_idle();
    a.ev.pump(&a.nic);
    assert!(
        a.ev.0.iter().any(|e| matches!(e, HalEvent::DeviceFatal)),
        "{:?}",
        a.ev.0
    );
    assert!(!a.ev.0.iter().any(|e| matches!(e, HalEvent::DeviceRemoved)));
    let c = poll_singly(&mut a);
    let ctx = 0x9901;
    assert_eq!(flushed(&c, WcOpcode::Send, ctx), vec![20, 21, 22]);
    assert_eq!(flushed(&c, WcOpcode::Receive, ctx), vec![1, 2, 3]);
    assert_eq!(c.len(), 6);
    assert!(a.poll().is_empty());
    // B's peer is still alive and unaffected: nothing of A's arrived.
    assert!(b.poll().is_empty());
}

#[test]
fn a_live_device_is_not_flushed_by_the_driver() {
    // The same requests on a live device: the device runs them; the driver adds nothing.
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    outstanding_on_a(&net, &mut a, &mut b);
    for i in 0..3 {
        b.post_recv(200 + i, 0x1000 * (i as usize + 1), 4096);
    }
    net.run_until_idle();
    let c = a.poll();
    let ids: Vec<(u64, WcStatus)> = c.iter().map(|c| (c.wr_id, c.status)).collect();
    assert_eq!(ids, vec![(20, WcStatus::Success), (22, WcStatus::Success)]);
    assert!(a.poll().is_empty());
}

#[test]
fn flush_qp_on_a_removed_device_nobody_reported_detects_the_removal() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    outstanding_on_a(&net, &mut a, &mut b);
    let calls = std::sync::Arc::new(core::sync::atomic::AtomicUsize::new(0));
    let c2 = calls.clone();
    let handler = hal::karc::KFn::try_new(move || {
        c2.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
    })
    .expect("alloc");
    a.nic.attach_interrupt(handler);
    net.platform().run_deferred();
    let before = calls.load(core::sync::atomic::Ordering::SeqCst);
    assert!(net.surprise_remove(ip(1)));
    // No interrupt comes from a removed function: until the driver looks, nothing is known.
    assert!(a.poll().is_empty());
    a.nic.flush_qp(&a.qp.as_ref().unwrap().qp);
    // The handler runs as deferred work, not inside flush_qp.
    assert_eq!(calls.load(core::sync::atomic::Ordering::SeqCst), before);
    net.platform().run_deferred();
    assert_eq!(calls.load(core::sync::atomic::Ordering::SeqCst), before + 1);
    a.ev.pump(&a.nic);
    assert_eq!(
        a.ev.0
            .iter()
            .filter(|e| matches!(e, HalEvent::DeviceRemoved))
            .count(),
        1,
        "{:?}",
        a.ev.0
    );
    let c = a.poll();
    let ctx = 0x9901;
    assert_eq!(flushed(&c, WcOpcode::Send, ctx), vec![20, 21, 22]);
    assert_eq!(flushed(&c, WcOpcode::Receive, ctx), vec![1, 2, 3]);
    assert_eq!(c.len(), 6);
}

/// A second QP on `s`'s PD and CQ, with context `ctx`.
fn second_qp(net: &Network, s: &mut Side, ctx: u64) -> QpParts<super::network::Nic> {
    s.token += 1;
    let t = s.token;
    let cq = &s.cq.as_ref().unwrap().cq;
    let (qp, cmd) = s
        .nic
        .create_qp(
            &QpParams {
                pd: s.pd.as_ref().unwrap(),
                send_cq: cq,
                recv_cq: cq,
                srq: None,
                sq_depth: 16,
                rq_depth: 16,
                max_send_sge: 2,
                max_recv_sge: 2,
                max_inline: 0,
                context: ctx,
            },
            CmdToken(t),
        )
        .unwrap();
    wait(net, s, cmd, t).unwrap();
    qp
}

#[test]
fn every_queue_feeding_a_cq_is_flushed_and_a_live_destroy_frees_the_queue_buffer() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    // A QP destroyed while the device runs: its buffer goes back when the device confirms.
    let before = net.platform().live_dma();
    let gone = second_qp(&net, &mut a, 0x6666);
    assert!(net.platform().live_dma() > before);
    a.token += 1;
    let t = a.token;
    let cmd = a.nic.destroy_qp(gone, CmdToken(t));
    wait(&net, &mut a, cmd, t).unwrap();
    assert_eq!(net.platform().live_dma(), before, "queue buffer freed");

    // Two QPs in RESET on one CQ: receives are kept, sends held (§7).
    let mut q2 = second_qp(&net, &mut a, 0x7777);
    a.post_recv(1, 0, 64);
    a.post_recv(2, 64, 64);
    let sge = [a.sge(0, 64)];
    a.post(&send(10, &sge, true));
    let sge2 = [a.sge(128, 64)];
    let rq2 = q2.rq.as_mut().unwrap();
    a.nic
        .post_recv(
            rq2,
            &RecvWr {
                wr_id: 3,
                sgl: &sge2,
            },
        )
        .unwrap();
    a.nic.post_send(&mut q2.sq, &send(11, &sge2, true)).unwrap();
    a.nic
        .post_send(&mut q2.sq, &send(12, &sge2, false))
        .unwrap();
    a.nic.ring_sq(&mut q2.sq);
    net.run_until_idle();
    assert!(a.poll().is_empty(), "nothing runs in RESET");

    assert!(net.surprise_remove(ip(1)));
    a.nic.interrupt();
    let c = poll_singly(&mut a);
    assert_eq!(flushed(&c, WcOpcode::Send, 0x9901), vec![10]);
    assert_eq!(flushed(&c, WcOpcode::Receive, 0x9901), vec![1, 2]);
    assert_eq!(flushed(&c, WcOpcode::Send, 0x7777), vec![11, 12]);
    assert_eq!(flushed(&c, WcOpcode::Receive, 0x7777), vec![3]);
    assert_eq!(c.len(), 6, "{c:?}");
    assert!(a.poll().is_empty());
    assert!(matches!(a.nic.destroy_qp(q2, CmdToken(9)), Cmd::Done(())));
    assert!(a.poll().is_empty());
}

#[test]
fn flush_eth_on_a_surprise_removed_device_returns_every_raw_request_once() {
    use hal::{EthBuffer, EthCompletion, EthernetPort};
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    let buf = hal::mock::HostBuffer::new(1 << 16);
    let mut q = nic.create_eth_queue(8, 8, 0xE).unwrap();
    for t in 0..3u64 {
        let b = EthBuffer {
            addr: buf.addr() + t * 2048,
            len: 2048,
        };
        nic.post_eth_recv(&mut q, b, t).unwrap();
    }
    let frame = EthBuffer {
        addr: buf.addr() + 0x8000,
        len: 60,
    };
    nic.post_eth_send(&mut q, &[frame], 50).unwrap();
    // Written, not rung: outstanding too.
    nic.post_eth_send(&mut q, &[frame], 51).unwrap();
    assert!(net.surprise_remove(ip(1)));
    nic.flush_eth(&mut q);
    let mut out = [EthCompletion::Sent { token: 0, ok: true }; 16];
    let n = nic.poll_eth(&mut q, &mut out);
    let mut sent = Vec::new();
    let mut received = Vec::new();
    for c in &out[..n] {
        match *c {
            EthCompletion::Sent { token, ok } => {
                assert!(!ok);
                sent.push(token);
            }
            EthCompletion::Received { token, len, ok } => {
                assert!(!ok && len == 0);
                received.push(token);
            }
        }
    }
    assert_eq!(sent, vec![50, 51], "post order");
    assert_eq!(received, vec![0, 1, 2], "post order");
    assert_eq!(nic.poll_eth(&mut q, &mut out), 0, "nothing twice");
    // A flushed queue takes nothing more.
    assert_eq!(
        nic.post_eth_send(&mut q, &[frame], 52),
        Err(HalError::InvalidState)
    );
    nic.destroy_eth_queue(q);
}

#[test]
fn a_removal_seen_by_the_raw_queue_flushes_the_rdma_queues_too() {
    use hal::EthernetPort;
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    outstanding_on_a(&net, &mut a, &mut b);
    let mut q = a.nic.create_eth_queue(8, 8, 0xE).unwrap();
    assert!(net.surprise_remove(ip(1)));
    a.nic.flush_eth(&mut q);
    a.ev.pump(&a.nic);
    assert!(
        a.ev.0.iter().any(|e| matches!(e, HalEvent::DeviceRemoved)),
        "{:?}",
        a.ev.0
    );
    let c = a.poll();
    assert_eq!(flushed(&c, WcOpcode::Send, 0x9901), vec![20, 21, 22]);
    assert_eq!(flushed(&c, WcOpcode::Receive, 0x9901), vec![1, 2, 3]);
    assert_eq!(c.len(), 6);
    a.nic.destroy_eth_queue(q);
}
