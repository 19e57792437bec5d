//! Tests of the device model through the real driver (`RoceNic`), calling its `NicHal`
//! methods directly.

use core::net::SocketAddr;
use std::vec::Vec;

use hal::{
    CmEvent, CmdToken, HalError, HalEvent, NicHal, Payload, SendOp, SendWr, WcOpcode, WcStatus,
    WrFlags,
};

use super::network::{Network, Rnicr2};

pub(super) use fabric::testkit::rdma::{connected, ip, wait};
use fabric::testkit::rdma::{send_wr, write_wr, BUF};

fabric::rdma_tests!(Rnicr2);

/// One NIC's PD, CQ, QP and registered buffer: the shared test kit's, on RNIC-R2.
pub(super) type Side = fabric::testkit::rdma::Side<Rnicr2>;

#[test]
fn connect_send_write_read() {
    fabric::testkit::rdma_tests::connect_send_write_read::<Rnicr2>(|net| {
        let st = net.stats(ip(1)).unwrap();
        assert_eq!(st.retransmits, 0);
        assert_eq!(st.icrc_errors, 0);
    });
}

#[test]
fn bounds_violation_leaves_target_unchanged() {
    fabric::testkit::rdma_tests::write_out_of_bounds_leaves_target_unchanged::<Rnicr2>(
        |_, ca, _, _| assert_eq!(ca.len(), 1, "{ca:?}"),
    );
}

#[test]
fn stale_rkey_fails() {
    fabric::testkit::rdma_tests::write_with_stale_rkey_fails::<Rnicr2>(|_, ca, _, _| {
        assert_eq!(ca.len(), 1, "{ca:?}");
    });
}

#[test]
fn lossy_wire_exactly_once_in_order() {
    fabric::testkit::rdma_tests::lossy_wire_exactly_once_in_order::<Rnicr2>(200, 50, |net| {
        let sa = net.stats(ip(1)).unwrap();
        assert!(sa.retransmits > 0, "{sa:?}");
    });
}

#[test]
fn link_down_gives_retry_exceeded() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, b, _ca, _cb) = connected(&net);
    net.set_link(ip(2), false);
    let sge = [a.sge(0, 100)];
    a.post(&write_wr(5, &sge, b.buf.addr(), b.rkey));
    let sge2 = [a.sge(0, 100)];
    a.post(&write_wr(6, &sge2, b.buf.addr(), b.rkey));
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 2, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::RetryExceeded);
    assert_eq!(ca[1].status, WcStatus::Flushed);
    let st = net.stats(ip(1)).unwrap();
    assert_eq!(st.local_ack_timeouts, 8);
    // The QP failed on its own: the CM agent reports the connection broken (§8.3).
    a.ev.pump(&a.nic);
    let e = a.ev.take_cm().expect("cm event");
    assert!(
        matches!(e, CmEvent::PeerDisconnected { reason: 4, .. }),
        "{e:?}"
    );
    assert!(a.ev.0.iter().any(|e| matches!(e, HalEvent::QpError { .. })));
}

#[test]
fn unreachable_peer_times_out() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 1234),
            SocketAddr::new(ip(99), 80),
            1,
            1,
            &[],
            0x78,
        )
        .unwrap();
    net.run_until_idle();
    net.advance(30_000_000_000);
    a.ev.pump(&a.nic);
    let e = a.ev.take_cm().expect("event");
    assert!(
        matches!(
            e,
            CmEvent::ConnectFailed {
                error: HalError::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn disconnect_both_sides() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, ca, _cb) = connected(&net);
    b.post_recv(1, 0, 64);
    a.nic.cm_disconnect(ca).unwrap();
    net.run_until_idle();
    a.ev.pump(&a.nic);
    b.ev.pump(&b.nic);
    let ea = a.ev.take_cm().expect("a event");
    assert!(matches!(ea, CmEvent::DisconnectComplete { .. }), "{ea:?}");
    let eb = b.ev.take_cm().expect("b event");
    assert!(matches!(eb, CmEvent::PeerDisconnected { .. }), "{eb:?}");
    // b's posted receive is flushed.
    let cb = b.poll();
    assert_eq!(cb.len(), 1);
    assert_eq!(cb[0].status, WcStatus::Flushed);
}

#[test]
fn pcap_decodes_as_rocev2_in_tshark() {
    let Some(path) = fabric::testkit::tshark::capture_path("rnic-r2-model") else {
        return;
    };
    // send (2 packets), write (3 packets), read (2 packets)
    let (net, a, _b, ca) =
        fabric::testkit::rdma_tests::captured_send_write_read::<Rnicr2>(path.clone());
    a.nic.cm_disconnect(ca).unwrap();
    net.run_until_idle();
    net.fabric().stop_capture().unwrap();
    let text = fabric::testkit::tshark::fields(
        &path,
        &[],
        &[
            "frame.protocols",
            "infiniband.bth.opcode",
            "infiniband.mad.attributeid",
            "_ws.malformed",
        ],
    );
    let mut opcodes = std::collections::BTreeSet::new();
    let mut attrs = std::collections::BTreeSet::new();
    let mut frames = 0;
    for line in text.lines() {
        frames += 1;
        let f: Vec<&str> = line.split(';').collect();
        assert!(
            f[0].starts_with("eth:ethertype:ip:udp:infiniband"),
            "not RoCEv2: {line}"
        );
        assert!(f.get(3).is_none_or(|m| m.is_empty()), "malformed: {line}");
        opcodes.insert(f[1].parse::<u32>().unwrap());
        if let Some(a) = f.get(2).filter(|a| !a.is_empty()) {
            attrs.insert(u32::from_str_radix(a.trim_start_matches("0x"), 16).unwrap());
        }
    }
    assert!(frames > 10);
    for op in [0u32, 2, 6, 7, 8, 12, 13, 15, 17, 100] {
        assert!(opcodes.contains(&op), "opcode {op} missing: {opcodes:?}");
    }
    for at in [0x10u32, 0x13, 0x14, 0x15, 0x16] {
        assert!(attrs.contains(&at), "attribute {at:#x} missing: {attrs:?}");
    }
}

#[test]
fn rnr_nak_then_receive() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    a.post(&send_wr(1, Payload::Inline(b"late"), None));
    net.advance(5_000_000);
    assert!(a.poll().is_empty());
    assert!(net.stats(ip(1)).unwrap().rnr_naks_received > 0);
    b.post_recv(9, 0, 64);
    net.advance(5_000_000);
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0].status, WcStatus::Success);
    let cb = b.poll();
    assert_eq!(cb.len(), 1);
    assert_eq!(cb[0].byte_len, 4);
}

#[test]
fn reject_carries_private_data() {
    fabric::testkit::rdma_tests::reject_carries_private_data::<Rnicr2>(|_, _, _| {});
}

#[test]
fn bad_icrc_is_dropped_and_counted() {
    use super::wire::bth::{Bth, Opcode};
    use super::wire::eth::MacAddr;
    use super::wire::ext::{ExtHeaders, Reth};
    use super::wire::packet::{Gid, RocePacket, RocePath};
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (_a, b, _ca, _cb) = connected(&net);
    b.buf.fill(0);
    let mac_b = net.mac(ip(2)).unwrap();
    let path = RocePath::new(
        MacAddr(net.mac(ip(1)).unwrap()),
        MacAddr(mac_b),
        Gid::from_ip(ip(1)),
        Gid::from_ip(ip(2)),
    );
    let pkt = RocePacket::new(
        Bth::new(Opcode::RcWriteOnly, 2, 0),
        ExtHeaders {
            reth: Some(Reth {
                va: b.buf.addr(),
                rkey: b.rkey,
                dma_len: 4,
            }),
            ..ExtHeaders::default()
        },
        &[1, 2, 3, 4],
    );
    let mut frame = pkt.build(&path).unwrap();
    let n = frame.len();
    frame[n - 10] ^= 0xFF;
    net.with_device(ip(2), |d| d.step(0, std::vec![frame]));
    assert_eq!(net.stats(ip(2)).unwrap().icrc_errors, 1);
    assert!(b.buf.to_vec().iter().all(|&x| x == 0));
}

#[test]
fn lossy_wire_reads_and_large_sends() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    net.fabric().set_impairments(fabric::Impairments {
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.05,
        delay_ns: (1_000, 8_000),
        seed: 42,
    });
    const N: usize = 60;
    const LEN: usize = 5000;
    for i in 0..N {
        let pat: Vec<u8> = (0..LEN).map(|j| (i * 13 + j) as u8).collect();
        b.buf.write(i * LEN, &pat);
        b.post_recv(500 + i as u64, 0x60000 + i * 8192, 8192);
    }
    for i in 0..N {
        let sink = [a.sge(i * LEN, LEN as u32)];
        a.post(&SendWr {
            wr_id: i as u64,
            op: SendOp::Read {
                sgl: &sink,
                remote_addr: b.buf.addr() + (i * LEN) as u64,
                rkey: b.rkey,
            },
            flags: WrFlags::SIGNALED,
        });
        let src = [a.sge(0x80000 + i * 16, 7000.min(16 * (N - i)) as u32)];
        a.post(&SendWr {
            wr_id: 1000 + i as u64,
            op: SendOp::Send {
                payload: Payload::Sgl(&src),
                invalidate_rkey: None,
            },
            flags: WrFlags::SIGNALED,
        });
        if i % 20 == 19 {
            net.run_until_idle();
        }
    }
    let mut ca = Vec::new();
    for _ in 0..20 {
        net.run_until_idle();
        ca.extend(a.poll());
        if ca.len() == 2 * N {
            break;
        }
    }
    assert_eq!(ca.len(), 2 * N);
    for (k, c) in ca.iter().enumerate() {
        assert_eq!(c.status, WcStatus::Success, "{c:?}");
        let i = (k / 2) as u64;
        assert_eq!(c.wr_id, if k % 2 == 0 { i } else { 1000 + i });
    }
    let mut got = std::vec![0u8; N * LEN];
    a.buf.read(0, &mut got);
    let mut want = std::vec![0u8; N * LEN];
    b.buf.read(0, &mut want);
    assert!(got == want, "read data differs");
    let cb = b.poll();
    assert_eq!(cb.len(), N);
    for (i, c) in cb.iter().enumerate() {
        assert_eq!(c.wr_id, 500 + i as u64);
        assert_eq!(c.byte_len as usize, 7000.min(16 * (N - i)));
    }
}

#[test]
fn lossy_many_seeds_mixed_ops() {
    for seed in 1..=12u64 {
        let net = Network::new(fabric::Impairments::PERFECT, None);
        let (mut a, mut b, _ca, _cb) = connected(&net);
        net.fabric().set_impairments(fabric::Impairments {
            loss: 0.04,
            duplicate: 0.04,
            reorder: 0.1,
            delay_ns: (500, 20_000),
            seed,
        });
        const N: usize = 40;
        for i in 0..N {
            let pat: Vec<u8> = (0..4096)
                .map(|j| (seed as usize + i * 5 + j) as u8)
                .collect();
            a.buf.write(i * 4096, &pat);
            b.buf.write(0x40000 + i * 4096, &pat);
            b.post_recv(i as u64, 0x80000 + i * 4096, 4096);
        }
        for i in 0..N {
            let s = [a.sge(i * 4096, 4096)];
            let wr = match i % 3 {
                0 => write_wr(i as u64, &s, b.buf.addr() + (i * 4096) as u64, b.rkey),
                1 => send_wr(i as u64, Payload::Sgl(&s), None),
                _ => SendWr {
                    wr_id: i as u64,
                    op: SendOp::Read {
                        sgl: &s,
                        remote_addr: b.buf.addr() + 0x40000 + (i * 4096) as u64,
                        rkey: b.rkey,
                    },
                    flags: WrFlags::SIGNALED,
                },
            };
            a.post(&wr);
        }
        let mut ca = Vec::new();
        for _ in 0..20 {
            net.run_until_idle();
            ca.extend(a.poll());
            if ca.len() == N {
                break;
            }
        }
        assert_eq!(ca.len(), N, "seed {seed}");
        for (i, c) in ca.iter().enumerate() {
            assert_eq!(c.status, WcStatus::Success, "seed {seed}: {c:?}");
            assert_eq!(c.wr_id, i as u64, "seed {seed}");
        }
        let cb = b.poll();
        let sends: Vec<u64> = (0..N as u64).filter(|i| i % 3 == 1).collect();
        assert_eq!(cb.len(), sends.len(), "seed {seed}");
        for (k, c) in cb.iter().enumerate() {
            assert_eq!(c.wr_id, k as u64, "seed {seed}");
            let i = sends[k] as usize;
            let mut got = std::vec![0u8; 4096];
            b.buf.read(0x80000 + k * 4096, &mut got);
            let mut want = std::vec![0u8; 4096];
            a.buf.read(i * 4096, &mut want);
            assert!(got == want, "seed {seed}: send {i} differs");
        }
        for i in (0..N).filter(|i| i % 3 == 0) {
            let mut got = std::vec![0u8; 4096];
            b.buf.read(i * 4096, &mut got);
            let mut want = std::vec![0u8; 4096];
            a.buf.read(i * 4096, &mut want);
            assert!(got == want, "seed {seed}: write {i} differs");
        }
    }
}

#[test]
fn teardown_after_disconnect() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, ca, cb) = connected(&net);
    a.nic.cm_disconnect(ca).unwrap();
    net.run_until_idle();
    a.ev.pump(&a.nic);
    b.ev.pump(&b.nic);
    a.nic.cm_release(ca);
    b.nic.cm_release(cb);
    net.run_until_idle();
    for s in [&mut a, &mut b] {
        let qp = s.qp.take().unwrap();
        s.token += 1;
        let t = s.token;
        let cmd = s.nic.destroy_qp(qp, CmdToken(t));
        wait(&net, s, cmd, t).unwrap();
        let mr = s.mr.take().unwrap();
        s.token += 1;
        let t = s.token;
        let cmd = s.nic.deregister_mr(&mr, CmdToken(t)).unwrap();
        wait(&net, s, cmd, t).unwrap();
        s.nic.free_mr(mr);
        let cq = s.cq.take().unwrap();
        s.token += 1;
        let t = s.token;
        let cmd = s.nic.destroy_cq(cq, CmdToken(t));
        wait(&net, s, cmd, t).unwrap();
        s.nic.destroy_pd(s.pd.take().unwrap());
        net.run_until_idle();
        s.ev.pump(&s.nic);
        assert!(
            !s.ev.0.iter().any(|e| matches!(
                e,
                HalEvent::CommandComplete { result: Err(_), .. } | HalEvent::DeviceFatal
            )),
            "{:?}",
            s.ev.0
        );
    }
    for n in [1, 2] {
        net.with_device(ip(n), |d| {
            assert!(d.qps.is_empty(), "QPs left");
            assert!(d.cqs.is_empty(), "CQs left");
            assert!(d.mpt.is_empty(), "keys left");
            assert!(d.pds.is_empty(), "PDs left");
        });
    }
}

/// Random but well-formed (ICRC-valid) frames of every opcode, and raw garbage, never make the
/// model panic; afterwards the devices still answer.
#[test]
fn random_frames_do_not_panic() {
    use super::wire::bth::{Bth, Opcode};
    use super::wire::eth::MacAddr;
    use super::wire::ext::{Aeth, AtomicEth, Deth, ExtHeaders, Reth, Syndrome};
    use super::wire::mad::{MadHeader, MAD_LEN};
    use super::wire::packet::{Gid, RocePacket, RocePath};
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (_a, b, _ca, _cb) = connected(&net);
    let mut x: u64 = 0x1234_5678_9ABC_DEF1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let path = RocePath::new(
        MacAddr(net.mac(ip(1)).unwrap()),
        MacAddr(net.mac(ip(2)).unwrap()),
        Gid::from_ip(ip(1)),
        Gid::from_ip(ip(2)),
    );
    let mut frames = Vec::new();
    for i in 0..3000u32 {
        let ops = Opcode::ALL;
        let op = ops[(rnd() % ops.len() as u64) as usize];
        let h = op.headers();
        let near = b.buf.addr() + rnd() % (2 * BUF as u64);
        let ext = ExtHeaders {
            deth: h.deth.then(|| Deth {
                qkey: rnd() as u32,
                src_qp: 1,
            }),
            reth: h.reth.then(|| Reth {
                va: if rnd() % 2 == 0 { near } else { rnd() },
                rkey: if rnd() % 2 == 0 { b.rkey } else { rnd() as u32 },
                dma_len: (rnd() % 9000) as u32,
            }),
            atomic_eth: h.atomic_eth.then_some(AtomicEth {
                va: near,
                rkey: b.rkey,
                swap_add: 1,
                compare: 2,
            }),
            aeth: h.aeth.then(|| Aeth {
                syndrome: Syndrome::from_u8((rnd() % 0x80) as u8)
                    .unwrap_or(Syndrome::Ack { credits: 0 }),
                msn: rnd() as u32 & 0xFF_FFFF,
            }),
            atomic_ack_eth: h.atomic_ack_eth.then(&mut rnd),
            immdt: h.immdt.then(|| rnd() as u32),
            ieth: h
                .ieth
                .then(|| if rnd() % 2 == 0 { b.rkey } else { rnd() as u32 }),
        };
        let dest = match rnd() % 4 {
            0 => 1,
            1 => 2,
            2 => 3,
            _ => rnd() as u32 & 0xFF_FFFF,
        };
        let mut bth = Bth::new(op, dest, rnd() as u32);
        bth.ack_req = rnd() % 2 == 0;
        let payload: Vec<u8> = if !op.has_payload() {
            Vec::new()
        } else if dest == 1 {
            let attr = [0x10u16, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16][(rnd() % 7) as usize];
            let mut m = std::vec![0u8; MAD_LEN];
            m[..24].copy_from_slice(&MadHeader::cm(attr, rnd()).to_bytes());
            for v in m[24..].iter_mut() {
                *v = if rnd() % 3 == 0 { rnd() as u8 } else { 0 };
            }
            m
        } else {
            (0..rnd() % 1100).map(|_| rnd() as u8).collect()
        };
        if let Ok(f) = RocePacket::new(bth, ext, &payload).build(&path) {
            frames.push(f);
        }
        if i % 7 == 0 {
            let n = (rnd() % 200) as usize;
            let mut g: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
            if let Some(f) = frames.last() {
                if rnd() % 2 == 0 {
                    g = f.clone();
                    let k = (rnd() as usize) % g.len();
                    g[k] ^= 1 << (rnd() % 8);
                    g.truncate(g.len() - (rnd() % 3) as usize);
                }
            }
            frames.push(g);
        }
    }
    for chunk in frames.chunks(50) {
        let now = hal::Platform::now_ns(net.platform());
        net.with_device(ip(2), |d| d.step(now, chunk.to_vec()));
        net.run_until_idle();
    }
    let st = net.stats(ip(2)).unwrap();
    assert!(st.rx_frames > 1000);
    // The device is still alive: its admin queue still completes commands.
    let mut b = b;
    b.token += 1;
    let t = b.token;
    let (_cq, cmd) = b.nic.create_cq(16, 0xD0, CmdToken(t)).unwrap();
    wait(&net, &mut b, cmd, t).unwrap();
}

#[test]
fn cq_moderation_delays_notify() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    for i in 0..8 {
        b.post_recv(i, 0, 64);
    }
    b.nic
        .set_cq_moderation(&b.cq.as_ref().unwrap().cq, 0, 3)
        .unwrap();
    net.run_until_idle();
    b.ev.pump(&b.nic);
    b.ev.0.clear();
    b.nic.arm_cq(&mut b.cq.as_mut().unwrap().poller, false);
    let notifies = |b: &mut Side| {
        b.ev.pump(&b.nic);
        let n =
            b.ev.0
                .iter()
                .filter(|e| matches!(e, HalEvent::CqNotify { .. }))
                .count();
        b.ev.0.clear();
        n
    };
    for i in 0..2u8 {
        a.post(&send_wr(u64::from(i), Payload::Inline(&[i]), None));
        net.run_until_idle();
    }
    assert_eq!(notifies(&mut b), 0);
    a.post(&send_wr(2, Payload::Inline(&[2]), None));
    net.run_until_idle();
    assert_eq!(notifies(&mut b), 1);
    // By period: 100 µs after the first CQE.
    let _ = b.poll();
    b.nic
        .set_cq_moderation(&b.cq.as_ref().unwrap().cq, 100, 0)
        .unwrap();
    net.run_until_idle();
    let _ = notifies(&mut b);
    b.nic.arm_cq(&mut b.cq.as_mut().unwrap().poller, false);
    let t0 = hal::Platform::now_ns(net.platform());
    a.post(&send_wr(3, Payload::Inline(&[3]), None));
    net.run_until_idle();
    assert_eq!(notifies(&mut b), 1);
    assert!(hal::Platform::now_ns(net.platform()) - t0 >= 100_000);
}

#[test]
fn ce_marked_request_is_answered_with_cnp() {
    use super::wire::bth::{Bth, Opcode};
    use super::wire::eth::MacAddr;
    use super::wire::ext::ExtHeaders;
    use super::wire::packet::{Gid, RocePacket, RocePath};
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (_a, _b, _ca, _cb) = connected(&net);
    let qpn_b = net
        .with_device(ip(2), |d| d.qps.keys().copied().next())
        .flatten()
        .unwrap();
    let mut path = RocePath::new(
        MacAddr(net.mac(ip(1)).unwrap()),
        MacAddr(net.mac(ip(2)).unwrap()),
        Gid::from_ip(ip(1)),
        Gid::from_ip(ip(2)),
    );
    path.traffic_class = 0b11; // ECN CE
    let f = RocePacket::new(
        Bth::new(Opcode::RcSendOnly, qpn_b, 0x7F_FFFF),
        ExtHeaders::default(),
        b"x",
    )
    .build(&path)
    .unwrap();
    let now = hal::Platform::now_ns(net.platform());
    net.with_device(ip(2), |d| d.step(now, std::vec![f.clone(), f]));
    net.run_until_idle();
    assert_eq!(net.stats(ip(2)).unwrap().cnps_sent, 1);
    assert_eq!(net.stats(ip(1)).unwrap().cnps_received, 1);
}

#[test]
fn network_is_send_and_sync() {
    fn is<T: Send + Sync>() {}
    is::<Network>();
}

#[test]
fn vanished_peer_gives_retry_exceeded() {
    fabric::testkit::rdma_tests::vanished_peer_gives_retry_exceeded::<Rnicr2>(|_, c, _| {
        assert_eq!(c.vendor_error, crate::cqe::syndrome::ACK_TIMEOUT);
    });
}

#[test]
fn unanswered_request_times_out_on_both_sides() {
    fabric::testkit::rdma_tests::unanswered_request_times_out_on_both_sides::<Rnicr2>(
        30_000_000_000,
        |_| {},
    );
}

/// CM MADs lost on the wire are retransmitted after the CM timeout (§8.6) by
/// `run_until_idle` alone, as long as no driver has an event to answer.
#[test]
fn handshake_survives_lost_mads() {
    for seed in 1..=8u64 {
        let net = Network::new(
            fabric::Impairments {
                loss: 0.25,
                duplicate: 0.1,
                reorder: 0.0,
                delay_ns: (0, 0),
                seed,
            },
            None,
        );
        let (mut a, mut b, _ca, _cb) = connected(&net);
        b.post_recv(1, 0, 64);
        a.post(&send_wr(1, Payload::Inline(b"through"), None));
        net.run_until_idle();
        assert_eq!(a.poll().len(), 1, "seed {seed}");
        assert_eq!(b.poll().len(), 1, "seed {seed}");
    }
}

#[test]
fn many_reads_within_ird_complete_in_order_under_loss() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    net.fabric().set_impairments(fabric::Impairments {
        loss: 0.03,
        duplicate: 0.0,
        reorder: 0.0,
        delay_ns: (1_000, 4_000),
        seed: 7,
    });
    const N: usize = 48;
    const STRIDE: usize = 8192;
    let len = |i: usize| 1 + (i * 977) % 6000;
    for i in 0..N {
        let pat: Vec<u8> = (0..len(i)).map(|j| (i * 31 + j * 3) as u8).collect();
        b.buf.write(i * STRIDE, &pat);
    }
    for i in 0..N {
        let sink = [a.sge(i * STRIDE, len(i) as u32)];
        a.post(&SendWr {
            wr_id: i as u64,
            op: SendOp::Read {
                sgl: &sink,
                remote_addr: b.buf.addr() + (i * STRIDE) as u64,
                rkey: b.rkey,
            },
            flags: WrFlags::SIGNALED,
        });
    }
    let mut ca = Vec::new();
    for _ in 0..50 {
        net.run_until_idle();
        ca.extend(a.poll());
        if ca.len() == N {
            break;
        }
    }
    assert_eq!(ca.len(), N);
    for (i, c) in ca.iter().enumerate() {
        assert_eq!(c.status, WcStatus::Success, "{c:?}");
        assert_eq!(c.wr_id, i as u64);
        assert_eq!(c.opcode, WcOpcode::Read);
        assert_eq!(c.byte_len as usize, len(i));
        let mut got = std::vec![0u8; len(i)];
        a.buf.read(i * STRIDE, &mut got);
        let mut want = std::vec![0u8; len(i)];
        b.buf.read(i * STRIDE, &mut want);
        assert!(got == want, "read {i} data differs");
    }
    let qpn_b = net
        .with_device(ip(2), |d| d.qps.keys().copied().next())
        .flatten()
        .unwrap();
    assert_eq!(
        net.with_device(ip(2), |d| d.qp_state(qpn_b)).flatten(),
        Some(crate::admin::QpState::Rts)
    );
    assert!(net.stats(ip(1)).unwrap().retransmits > 0);
    assert!(b.poll().is_empty());
}

#[test]
fn reads_beyond_ird_are_naked_invalid_request() {
    use crate::admin::{QpAttr, QpAttrMask, QpState};
    let net = Network::new(fabric::Impairments::PERFECT, None);
    // Both sides negotiate 4 reads; then the responder's IRD is lowered to 1 behind the
    // CM's back, so the requester (ORD 4) exceeds it.
    let (mut a, b, _ca, _cb) = connected(&net);
    let qpn_a = net
        .with_device(ip(1), |d| d.qps.keys().copied().next())
        .flatten()
        .unwrap();
    let qpn_b = net
        .with_device(ip(2), |d| d.qps.keys().copied().next())
        .flatten()
        .unwrap();
    net.with_device(ip(2), |d| {
        let mut attr = QpAttr::state_only(QpState::Rts);
        attr.mask |= QpAttrMask::IRD;
        attr.ird = 1;
        d.apply_modify(qpn_b, &attr);
    });
    let naks_before = net.stats(ip(2)).unwrap().naks_sent;
    const LEN: usize = 3000;
    for i in 0..4 {
        let pat: Vec<u8> = (0..LEN).map(|j| (i * 7 + j) as u8).collect();
        b.buf.write(i * LEN, &pat);
    }
    for i in 0..4 {
        let sink = [a.sge(0x40000 + i * LEN, LEN as u32)];
        a.post(&SendWr {
            wr_id: i as u64,
            op: SendOp::Read {
                sgl: &sink,
                remote_addr: b.buf.addr() + (i * LEN) as u64,
                rkey: b.rkey,
            },
            flags: WrFlags::SIGNALED,
        });
    }
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 4, "{ca:?}");
    // The read within IRD is answered before the NAK of the first one beyond it.
    assert_eq!(ca[0].wr_id, 0);
    assert_eq!(ca[0].status, WcStatus::Success, "{:?}", ca[0]);
    let mut got = std::vec![0u8; LEN];
    a.buf.read(0x40000, &mut got);
    let mut want = std::vec![0u8; LEN];
    b.buf.read(0, &mut want);
    assert!(got == want);
    assert_eq!(ca[1].wr_id, 1);
    assert_eq!(ca[1].status, WcStatus::RemoteInvalidRequest, "{:?}", ca[1]);
    for c in &ca[2..] {
        assert_eq!(c.status, WcStatus::Flushed, "{c:?}");
    }
    assert_eq!(net.stats(ip(2)).unwrap().naks_sent, naks_before + 1);
    assert_eq!(
        net.with_device(ip(1), |d| d.qp_state(qpn_a)).flatten(),
        Some(QpState::Err)
    );
    assert_eq!(
        net.with_device(ip(2), |d| d.qp_state(qpn_b)).flatten(),
        Some(QpState::Err)
    );
}
