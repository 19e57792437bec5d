//! Tests of the device model through the real driver (`IwarpNic`), calling its `NicHal`
//! methods directly: two NICs on the virtual fabric, connected through TCP + MPA.

use core::net::IpAddr;
use std::vec::Vec;

use hal::{Access, CmEvent, HalEvent, NicHal, Payload, WcStatus};

use crate::admin::QpState;
use crate::cqe::{term, TermInfo};

use super::network::{Network, Rnicw1};

use fabric::testkit::rdma::{connected, ip, read_wr, send_wr, write_wr, BUF};

fabric::rdma_tests!(Rnicw1);

/// One NIC's PD, CQ, QP and registered buffer: the shared test kit's, on RNIC-W1.
type Side = fabric::testkit::rdma::Side<Rnicw1>;

/// The state of the one QP of the NIC at `addr`.
fn qp_state(net: &Network, addr: IpAddr) -> QpState {
    net.with_device(addr, |d| d.qps.values().next().map(|q| q.state))
        .flatten()
        .expect("a QP")
}

/// The TERM word of the one QP of the NIC at `addr` (`None`: no Terminate).
fn qp_term(net: &Network, addr: IpAddr) -> Option<TermInfo> {
    net.with_device(addr, |d| d.qps.values().next().and_then(|q| q.term))
        .flatten()
}

/// The connection events `s` has seen since the last call, in order.
fn cm_events(s: &mut Side) -> Vec<CmEvent> {
    s.ev.pump(&s.nic);
    core::iter::from_fn(|| s.ev.take_cm()).collect()
}

#[test]
fn read_sge_is_one() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    // An iWARP Read Request names one sink buffer (RFC 5040 §4.4).
    assert_eq!(nic.caps().max_read_sge, 1);
}

#[test]
fn connect_send_write_read() {
    fabric::testkit::rdma_tests::connect_send_write_read::<Rnicw1>(|net| {
        assert_eq!(qp_state(net, ip(1)), QpState::Rts);
        assert_eq!(qp_state(net, ip(2)), QpState::Rts);
        let st = net.stats(ip(1)).unwrap();
        assert_eq!(st.tcp_retransmits, 0);
        assert_eq!(st.terminates_sent + st.terminates_received, 0);
        assert_eq!(st.mpa_crc_errors, 0);
        assert!(st.ddp_segments_sent >= 8, "{st:?}");
    });
}

/// Checks that a violation at `b` ended both QPs with a Terminate: `a` (the requester) got
/// `status` and the TERM word `(layer, etype, code)`; both sides report the disconnect.
fn expect_terminated(
    net: &Network,
    a: &mut Side,
    b: &mut Side,
    wr_id: u64,
    status: WcStatus,
    code: (u8, u8, u8),
) {
    let ca = a.poll();
    assert!(!ca.is_empty(), "no completion at the requester");
    assert_eq!(ca[0].wr_id, wr_id, "{ca:?}");
    assert_eq!(ca[0].status, status, "{ca:?}");
    assert!(
        ca[1..].iter().all(|c| c.status == WcStatus::Flushed),
        "{ca:?}"
    );
    expect_term_words(net, a, b, code);
}

/// The Terminate part of [`expect_terminated`], once the requester's completions are checked:
/// both TERM words are `(layer, etype, code)`, both QPs are in error, both sides report the
/// disconnect.
fn expect_term_words(net: &Network, a: &mut Side, b: &mut Side, code: (u8, u8, u8)) {
    let ta = qp_term(net, ip(1)).expect("requester TERM word");
    assert_eq!(
        (ta.layer, ta.etype, ta.code, ta.received),
        (code.0, code.1, code.2, true)
    );
    let tb = qp_term(net, ip(2)).expect("responder TERM word");
    assert_eq!(
        (tb.layer, tb.etype, tb.code, tb.received),
        (code.0, code.1, code.2, false)
    );
    assert_eq!(qp_state(net, ip(1)), QpState::Err);
    assert_eq!(qp_state(net, ip(2)), QpState::Err);
    let sa = net.stats(ip(1)).unwrap();
    let sb = net.stats(ip(2)).unwrap();
    assert_eq!(sa.terminates_received, 1, "{sa:?}");
    assert_eq!(sb.terminates_sent, 1, "{sb:?}");
    let ea = cm_events(a);
    assert!(
        ea.iter()
            .any(|e| matches!(e, CmEvent::PeerDisconnected { .. })),
        "{ea:?}"
    );
    let eb = cm_events(b);
    assert!(
        eb.iter()
            .any(|e| matches!(e, CmEvent::PeerDisconnected { .. })),
        "{eb:?}"
    );
}

#[test]
fn write_out_of_bounds_terminates_and_leaves_target_unchanged() {
    // The first FPDU is inside the registration, a later one is not.
    fabric::testkit::rdma_tests::write_out_of_bounds_leaves_target_unchanged::<Rnicw1>(
        |net, _, a, b| {
            expect_term_words(
                net,
                a,
                b,
                (term::LAYER_DDP, term::DDP_TAGGED, term::BASE_BOUNDS),
            );
        },
    );
}

#[test]
fn write_with_stale_stag_terminates_invalid_stag() {
    fabric::testkit::rdma_tests::write_with_stale_rkey_fails::<Rnicw1>(|net, _, a, b| {
        expect_term_words(
            net,
            a,
            b,
            (term::LAYER_DDP, term::DDP_TAGGED, term::INVALID_STAG),
        );
    });
}

#[test]
fn write_without_remote_write_right_terminates_access() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    // A second MR of b with LOCAL_WRITE | REMOTE_READ only.
    let (_mr, _, rkey) = b.register_buffer(&net, Access::LOCAL_WRITE | Access::REMOTE_READ);
    b.buf.fill(0xEE);
    let sge = [a.sge(0, 64)];
    a.post(&write_wr(9, &sge, b.buf.addr(), rkey));
    net.run_until_idle();
    expect_terminated(
        &net,
        &mut a,
        &mut b,
        9,
        WcStatus::RemoteAccess,
        (
            term::LAYER_RDMAP,
            term::RDMAP_PROTECTION,
            term::ACCESS_RIGHTS,
        ),
    );
    assert!(b.buf.to_vec().iter().all(|&x| x == 0xEE));
}

#[test]
fn read_of_bad_source_terminates_and_leaves_sink_unchanged() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    a.buf.fill(0xAB);
    let sge = [a.sge(0x1000, 256)];
    // Outside b's registration.
    a.post(&read_wr(21, &sge, b.buf.addr() + BUF as u64 - 16, b.rkey));
    net.run_until_idle();
    expect_terminated(
        &net,
        &mut a,
        &mut b,
        21,
        WcStatus::RemoteAccess,
        (term::LAYER_RDMAP, term::RDMAP_PROTECTION, term::BASE_BOUNDS),
    );
    assert!(a.buf.to_vec().iter().all(|&x| x == 0xAB));
}

#[test]
fn send_without_receive_terminates_no_buffer() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    a.post(&send_wr(30, Payload::Inline(b"nobody"), None));
    net.run_until_idle();
    expect_terminated(
        &net,
        &mut a,
        &mut b,
        30,
        WcStatus::RemoteInvalidRequest,
        (term::LAYER_DDP, term::DDP_UNTAGGED, term::NO_BUFFER),
    );
    // No receive was consumed: b completes nothing.
    assert!(b.poll().is_empty());
}

#[test]
fn send_too_long_overflows_receive_and_places_nothing() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.buf.fill(0xEE);
    b.post_recv(40, 0x100, 16);
    b.post_recv(41, 0x200, 16);
    a.buf.write(0, &[0x42; 100]);
    let sge = [a.sge(0, 100)];
    a.post(&send_wr(31, Payload::Sgl(&sge), None));
    net.run_until_idle();
    let cb = b.poll();
    assert_eq!(cb.len(), 2, "{cb:?}");
    assert_eq!((cb[0].wr_id, cb[0].status), (40, WcStatus::ReceiveOverflow));
    assert_eq!((cb[1].wr_id, cb[1].status), (41, WcStatus::Flushed));
    expect_terminated(
        &net,
        &mut a,
        &mut b,
        31,
        WcStatus::RemoteInvalidRequest,
        (term::LAYER_DDP, term::DDP_UNTAGGED, term::MSG_TOO_LONG),
    );
    assert!(b.buf.to_vec().iter().all(|&x| x == 0xEE));
}

#[test]
fn send_with_invalidate_of_unbound_stag_terminates() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.post_recv(50, 0, 64);
    // b's registered MR cannot be invalidated remotely (§9.6).
    a.post(&send_wr(51, Payload::Inline(b"inv"), Some(b.rkey)));
    net.run_until_idle();
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!((cb[0].wr_id, cb[0].status), (50, WcStatus::BadRequest));
    expect_terminated(
        &net,
        &mut a,
        &mut b,
        51,
        WcStatus::RemoteOperation,
        (
            term::LAYER_RDMAP,
            term::RDMAP_OPERATION,
            term::CANNOT_INVALIDATE,
        ),
    );
}

#[test]
fn lossy_wire_exactly_once_in_order() {
    fabric::testkit::rdma_tests::lossy_wire_exactly_once_in_order::<Rnicw1>(100, 25, |net| {
        let sa = net.stats(ip(1)).unwrap();
        assert!(sa.tcp_retransmits > 0, "{sa:?}");
    });
}

#[test]
fn lossy_wire_reads_complete_in_order() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, b, _ca, _cb) = connected(&net);
    net.fabric().set_impairments(fabric::Impairments {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        delay_ns: (1_000, 3_000),
        seed: 77,
    });
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 13 + 5) as u8).collect();
    b.buf.write(0, &data);
    for i in 0..16usize {
        let sge = [a.sge(0x40000 + i * 4096, 4096)];
        a.post(&read_wr(
            i as u64,
            &sge,
            b.buf.addr() + (i * 4096) as u64,
            b.rkey,
        ));
    }
    let mut done = Vec::new();
    for _ in 0..20 {
        net.run_until_idle();
        done.extend(a.poll());
        if done.len() == 16 {
            break;
        }
    }
    assert_eq!(done.len(), 16);
    for (i, c) in done.iter().enumerate() {
        assert_eq!(
            (c.wr_id, c.status, c.byte_len),
            (i as u64, WcStatus::Success, 4096)
        );
    }
    let mut got = std::vec![0u8; 64 * 1024];
    a.buf.read(0x40000, &mut got);
    assert!(got == data);
}

#[test]
fn reject_carries_private_data() {
    fabric::testkit::rdma_tests::reject_carries_private_data::<Rnicw1>(|net, request, reject| {
        // MPA carries private data at its own length.
        assert_eq!(request, b"please");
        assert_eq!(reject, b"nope");
        assert_eq!(qp_state(net, ip(1)), QpState::Err);
        assert_eq!(net.stats(ip(2)).unwrap().mpa_rejects_sent, 1);
        assert_eq!(net.stats(ip(1)).unwrap().mpa_rejects_received, 1);
    });
}

#[test]
fn graceful_disconnect_both_sides() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, ca, cb) = connected(&net);
    b.post_recv(1, 0, 64);
    a.nic.cm_disconnect(ca).unwrap();
    net.run_until_idle();
    let eb = cm_events(&mut b);
    assert!(
        matches!(eb.as_slice(), [CmEvent::PeerDisconnected { .. }]),
        "{eb:?}"
    );
    // b's posted receive is flushed.
    let cqes = b.poll();
    assert_eq!(cqes.len(), 1);
    assert_eq!(cqes[0].status, WcStatus::Flushed);
    b.nic.cm_disconnect(cb).unwrap();
    net.run_until_idle();
    let ea = cm_events(&mut a);
    assert!(
        matches!(ea.as_slice(), [CmEvent::DisconnectComplete { .. }]),
        "{ea:?}"
    );
    let eb = cm_events(&mut b);
    assert!(
        matches!(eb.as_slice(), [CmEvent::DisconnectComplete { .. }]),
        "{eb:?}"
    );
    assert_eq!(net.stats(ip(1)).unwrap().tcp_rsts_sent, 0);
    assert_eq!(net.stats(ip(2)).unwrap().tcp_rsts_sent, 0);
    a.nic.cm_release(ca);
    b.nic.cm_release(cb);
    net.run_until_idle();
    assert_eq!(net.stats(ip(1)).unwrap().tcp_rsts_sent, 0);
}

#[test]
fn abortive_release_resets_the_peer() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, ca, _cb) = connected(&net);
    b.post_recv(1, 0, 64);
    a.nic.cm_release(ca);
    net.run_until_idle();
    assert_eq!(net.stats(ip(1)).unwrap().tcp_rsts_sent, 1);
    assert_eq!(net.stats(ip(2)).unwrap().tcp_rsts_received, 1);
    let eb = cm_events(&mut b);
    assert!(
        matches!(eb.as_slice(), [CmEvent::PeerDisconnected { .. }]),
        "{eb:?}"
    );
    assert!(cm_events(&mut a).is_empty(), "no event after CM_RELEASE");
    assert_eq!(qp_state(&net, ip(2)), QpState::Err);
    let cqes = b.poll();
    assert_eq!(cqes.len(), 1);
    assert_eq!(cqes[0].status, WcStatus::Flushed);
}

#[test]
fn pcap_decodes_as_iwarp_in_tshark() {
    let Some(path) = fabric::testkit::tshark::capture_path("rnic-w1-model") else {
        return;
    };
    let (net, mut a, _b, _ca) =
        fabric::testkit::rdma_tests::captured_send_write_read::<Rnicw1>(path.clone());
    // A Terminate too: a send without a receive.
    a.post(&send_wr(4, Payload::Inline(b"x"), None));
    net.run_until_idle();
    net.fabric().stop_capture().unwrap();
    // MPA is found by its heuristic on TCP; the ULP payload is arbitrary bytes, so the ULP
    // dissectors iWARP may carry are off.
    let text = fabric::testkit::tshark::fields(
        &path,
        &[
            "-o",
            "tcp.try_heuristic_first:TRUE",
            "--disable-protocol",
            "rpcordma",
            "--disable-protocol",
            "smb_direct",
        ],
        &[
            "frame.protocols",
            "iwarp_rdma.opcode",
            "iwarp_mpa.req",
            "iwarp_mpa.rep",
            "_ws.malformed",
            "_ws.expert.severity",
        ],
    );
    let mut opcodes = std::collections::BTreeSet::new();
    let mut mpa_frames = 0;
    let mut frames = 0;
    for line in text.lines() {
        frames += 1;
        let f: Vec<&str> = line.split(';').collect();
        assert!(f[0].starts_with("eth:ethertype:ip:tcp"), "not TCP: {line}");
        assert!(f.get(4).is_none_or(|m| m.is_empty()), "malformed: {line}");
        for op in f
            .get(1)
            .copied()
            .unwrap_or("")
            .split(',')
            .filter(|o| !o.is_empty())
        {
            let op = op.trim_start_matches("0x");
            opcodes.insert(u32::from_str_radix(op, 16).unwrap());
        }
        if f.get(2).is_some_and(|k| !k.is_empty()) || f.get(3).is_some_and(|k| !k.is_empty()) {
            mpa_frames += 1;
        }
    }
    assert!(frames > 10, "{text}");
    assert!(mpa_frames >= 2, "MPA request and reply: {text}");
    // Write, Read Request, Read Response, Send, Terminate.
    for op in [0u32, 1, 2, 3, 7] {
        assert!(
            opcodes.contains(&op),
            "opcode {op} missing: {opcodes:?}\n{text}"
        );
    }
}

#[test]
fn driver_flush_of_a_connected_qp_terminates_on_the_next_fpdu() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.post_recv(1, 0, 64);
    b.nic.flush_qp(&b.qp.as_ref().unwrap().qp);
    net.run_until_idle();
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!(cb[0].status, WcStatus::Flushed);
    assert_eq!(qp_state(&net, ip(2)), QpState::Err);
    // No Terminate yet: nothing arrived.
    assert_eq!(net.stats(ip(2)).unwrap().terminates_sent, 0);
    a.post(&send_wr(9, Payload::Inline(b"late"), None));
    net.run_until_idle();
    assert_eq!(net.stats(ip(2)).unwrap().terminates_sent, 1);
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::RemoteOperation);
    let t = qp_term(&net, ip(1)).unwrap();
    assert_eq!(
        (t.layer, t.etype, t.code),
        (
            term::LAYER_RDMAP,
            term::RDMAP_OPERATION,
            term::CATASTROPHIC_STREAM
        )
    );
    let eb = cm_events(&mut b);
    assert!(
        eb.iter()
            .any(|e| matches!(e, CmEvent::PeerDisconnected { .. })),
        "{eb:?}"
    );
}

#[test]
fn random_frames_do_not_panic() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.post_recv(1, 0, 64);
    // Frames built from a real capture of this connection with bytes flipped, and pure noise.
    let mut seed = 0x1234_5678_9ABC_DEF0u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mac_b = net.mac(ip(2)).unwrap();
    let mac_a = net.mac(ip(1)).unwrap();
    for i in 0..2000 {
        let len = 14 + (rnd() % 200) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        f[..6].copy_from_slice(&mac_b);
        f[6..12].copy_from_slice(&mac_a);
        if i % 2 == 0 {
            // IPv4 / TCP to b's address and the connection's port, so the TOE looks deeper.
            f[12] = 0x08;
            f[13] = 0x00;
            if f.len() > 40 {
                f[14] = 0x45;
                f[23] = 6;
                f[30..34].copy_from_slice(&[10, 0, 0, 2]);
                f[36..38].copy_from_slice(&5445u16.to_be_bytes());
            }
        }
        net.inject_frame(ip(2), &f);
        if i % 100 == 0 {
            net.run_until_idle();
        }
    }
    net.run_until_idle();
    // The connection still works (bad checksums are dropped).
    a.post(&send_wr(1, Payload::Inline(b"alive"), None));
    net.run_until_idle();
    assert_eq!(a.poll()[0].status, WcStatus::Success);
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!(cb[0].byte_len, 5);
}

#[test]
fn unanswered_request_times_out_on_both_sides() {
    // b's host never answers: a's MPA timer (10 s, §8.6) runs out and resets the connection.
    fabric::testkit::rdma_tests::unanswered_request_times_out_on_both_sides::<Rnicw1>(
        11_000_000_000,
        |net| {
            assert_eq!(net.stats(ip(1)).unwrap().mpa_timeouts, 1);
            assert_eq!(qp_state(net, ip(1)), QpState::Err);
        },
    );
}

#[test]
fn vanished_peer_gives_retry_exceeded() {
    fabric::testkit::rdma_tests::vanished_peer_gives_retry_exceeded::<Rnicw1>(|net, _, a| {
        assert!(net.stats(ip(1)).unwrap().tcp_timeouts > 0);
        let ea = cm_events(a);
        assert!(
            ea.iter()
                .any(|e| matches!(e, CmEvent::PeerDisconnected { .. })),
            "{ea:?}"
        );
        a.ev.pump(&a.nic);
        assert!(
            a.ev.0.iter().any(|e| matches!(e, HalEvent::QpError { .. })),
            "{:?}",
            a.ev.0
        );
    });
}
