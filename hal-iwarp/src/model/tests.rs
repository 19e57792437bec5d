//! Tests of the device model through the real driver (`IwarpNic`), calling its `NicHal`
//! methods directly: two NICs on the virtual fabric, connected through TCP + MPA.

use core::net::{IpAddr, SocketAddr};
use std::vec::Vec;

use hal::{
    Access, CmEvent, Cmd, CmdToken, CmdValue, HalError, HalEvent, MrKind, NicHal, Payload, RecvWr,
    Registration, SendOp, SendWr, Sge, WcOpcode, WcStatus, WrFlags,
};

use crate::admin::QpState;
use crate::cqe::{term, TermInfo};

use super::network::{Network, Rnicw1};

use fabric::testkit::rdma::{connected, connected_srq, ip, wait, Events, BUF};

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

fn send_wr<'a>(wr_id: u64, payload: Payload<'a>, inv: Option<u32>) -> SendWr<'a> {
    SendWr {
        wr_id,
        op: SendOp::Send {
            payload,
            invalidate_rkey: inv,
        },
        flags: WrFlags::SIGNALED,
    }
}

fn write_wr<'a>(wr_id: u64, sge: &'a [Sge], raddr: u64, rkey: u32) -> SendWr<'a> {
    SendWr {
        wr_id,
        op: SendOp::Write {
            payload: Payload::Sgl(sge),
            remote_addr: raddr,
            rkey,
        },
        flags: WrFlags::SIGNALED,
    }
}

fn read_wr<'a>(wr_id: u64, sgl: &'a [Sge], raddr: u64, rkey: u32) -> SendWr<'a> {
    SendWr {
        wr_id,
        op: SendOp::Read {
            sgl,
            remote_addr: raddr,
            rkey,
        },
        flags: WrFlags::SIGNALED,
    }
}

#[test]
fn bring_up_through_driver() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    assert!(nic.is_local_address(&ip(1)));
    assert_eq!(nic.caps().max_read_sge, 1);
    assert_eq!(nic.caps().max_inline_data, 256);
    let st = net.stats(ip(1)).unwrap();
    assert_eq!(st.tx_frames, 0);
}

#[test]
fn connect_send_write_read() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    assert_eq!(qp_state(&net, ip(1)), QpState::Rts);
    assert_eq!(qp_state(&net, ip(2)), QpState::Rts);
    // SEND of 3000 bytes (3 FPDUs at MTU 1500).
    let msg: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    a.buf.write(0, &msg);
    b.post_recv(1, 0x1000, 4096);
    let sge = [a.sge(0, 3000)];
    a.post(&send_wr(10, Payload::Sgl(&sge), None));
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::Success);
    assert_eq!(ca[0].wr_id, 10);
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!(cb[0].opcode, WcOpcode::Receive);
    assert_eq!(cb[0].byte_len, 3000);
    let mut got = std::vec![0u8; 3000];
    b.buf.read(0x1000, &mut got);
    assert_eq!(got, msg);

    // WRITE 5000 bytes into b at 0x10000.
    let w: Vec<u8> = (0..5000u32).map(|i| (i ^ 0x5A) as u8).collect();
    a.buf.write(0x2000, &w);
    let sge = [a.sge(0x2000, 5000)];
    a.post(&write_wr(11, &sge, b.buf.addr() + 0x10000, b.rkey));
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::Success);
    assert_eq!(ca[0].opcode, WcOpcode::Write);
    let mut got = std::vec![0u8; 5000];
    b.buf.read(0x10000, &mut got);
    assert_eq!(got, w);
    assert!(
        b.poll().is_empty(),
        "a write completes nothing at the responder"
    );

    // READ 6000 bytes from b at 0x20000 into a at 0x30000.
    let r: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    b.buf.write(0x20000, &r);
    let sge = [a.sge(0x30000, 6000)];
    a.post(&read_wr(12, &sge, b.buf.addr() + 0x20000, b.rkey));
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::Success);
    assert_eq!(ca[0].opcode, WcOpcode::Read);
    assert_eq!(ca[0].byte_len, 6000);
    let mut got = std::vec![0u8; 6000];
    a.buf.read(0x30000, &mut got);
    assert_eq!(got, r);

    // The responder reads too (its Read Requests start at MSN 1 on its side).
    a.buf.write(0x40000, &[0x77; 100]);
    let sge = [b.sge(0x50000, 100)];
    b.post(&read_wr(13, &sge, a.buf.addr() + 0x40000, a.rkey));
    net.run_until_idle();
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!(cb[0].status, WcStatus::Success);
    let mut got = [0u8; 100];
    b.buf.read(0x50000, &mut got);
    assert_eq!(got, [0x77; 100]);

    let st = net.stats(ip(1)).unwrap();
    assert_eq!(st.tcp_retransmits, 0);
    assert_eq!(st.terminates_sent + st.terminates_received, 0);
    assert_eq!(st.mpa_crc_errors, 0);
    assert!(st.ddp_segments_sent >= 8, "{st:?}");
}

#[test]
fn solicited_send_fires_a_solicited_arm() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.post_recv(1, 0, 64);
    b.post_recv(2, 64, 64);
    b.nic.arm_cq(&mut b.cq.as_mut().unwrap().poller, true);
    a.post(&send_wr(1, Payload::Inline(b"plain"), None));
    net.run_until_idle();
    b.ev.pump(&b.nic);
    let notifies = |ev: &Events| {
        ev.0.iter()
            .filter(|e| matches!(e, HalEvent::CqNotify { .. }))
            .count()
    };
    assert_eq!(
        notifies(&b.ev),
        0,
        "a plain Send does not fire a solicited arm"
    );
    a.post(&SendWr {
        wr_id: 2,
        op: SendOp::Send {
            payload: Payload::Inline(b"solicited"),
            invalidate_rkey: None,
        },
        flags: WrFlags::SIGNALED | WrFlags::SOLICITED,
    });
    net.run_until_idle();
    b.ev.pump(&b.nic);
    assert_eq!(notifies(&b.ev), 1, "{:?}", b.ev.0);
    assert_eq!(a.poll().len(), 2);
    let cb = b.poll();
    assert_eq!(cb.len(), 2, "{cb:?}");
    assert_eq!((cb[0].wr_id, cb[0].byte_len), (1, 5));
    assert_eq!((cb[1].wr_id, cb[1].byte_len), (2, 9));
    let mut got = [0u8; 9];
    b.buf.read(64, &mut got);
    assert_eq!(&got, b"solicited");
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
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.buf.fill(0xEE);
    a.buf.write(0, &[0x11; 4096]);
    // 4096 bytes starting 100 bytes before the end of b's registration: the first FPDU is
    // inside, a later one is not; no byte of the failing segment may be placed.
    let sge = [a.sge(0, 100)];
    let raddr = b.buf.addr() + BUF as u64 - 50;
    a.post(&write_wr(7, &sge, raddr, b.rkey));
    net.run_until_idle();
    expect_terminated(
        &net,
        &mut a,
        &mut b,
        7,
        WcStatus::RemoteAccess,
        (term::LAYER_DDP, term::DDP_TAGGED, term::BASE_BOUNDS),
    );
    assert!(b.buf.to_vec().iter().all(|&x| x == 0xEE));
}

#[test]
fn write_with_stale_stag_terminates_invalid_stag() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.buf.fill(0xEE);
    let sge = [a.sge(0, 64)];
    let stale = (b.rkey & !0xFF) | (b.rkey.wrapping_add(1) & 0xFF);
    a.post(&write_wr(8, &sge, b.buf.addr(), stale));
    net.run_until_idle();
    expect_terminated(
        &net,
        &mut a,
        &mut b,
        8,
        WcStatus::RemoteAccess,
        (term::LAYER_DDP, term::DDP_TAGGED, term::INVALID_STAG),
    );
    assert!(b.buf.to_vec().iter().all(|&x| x == 0xEE));
}

#[test]
fn write_without_remote_write_right_terminates_access() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    // A second MR of b with LOCAL_WRITE | REMOTE_READ only.
    let mr = b
        .nic
        .alloc_mr(b.pd.as_ref().unwrap(), MrKind::Registered)
        .unwrap();
    let pages = b.buf.pages();
    b.token += 1;
    let t = b.token;
    let cmd = b
        .nic
        .register_mr(
            &mr,
            &Registration {
                pages: &pages,
                first_byte_offset: 0,
                iova: b.buf.addr(),
                length: BUF as u64,
                access: Access::LOCAL_WRITE | Access::REMOTE_READ,
            },
            CmdToken(t),
        )
        .unwrap();
    let rkey = match cmd {
        Cmd::Done(k) => k.1,
        Cmd::Pending => match wait(&net, &mut b, Cmd::<()>::Pending, t).unwrap() {
            CmdValue::Keys(_, r) => r,
            CmdValue::Unit => panic!("no keys"),
        },
    };
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
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    net.fabric().set_impairments(fabric::Impairments {
        loss: 0.03,
        duplicate: 0.03,
        reorder: 0.03,
        delay_ns: (1_000, 5_000),
        seed: 0x5EED,
    });
    const N: usize = 100;
    const LEN: usize = 2500;
    for i in 0..N {
        let pat: Vec<u8> = (0..LEN)
            .map(|j| (i * 31 + j * 7) as u8 ^ (i as u8))
            .collect();
        a.buf.write(i * LEN, &pat);
    }
    for i in 0..N {
        b.post_recv(1000 + i as u64, 0x80000 + i * 64, 64);
    }
    let mut done_a = Vec::new();
    for i in 0..N {
        let sge = [a.sge(i * LEN, LEN as u32)];
        a.post(&write_wr(
            i as u64,
            &sge,
            b.buf.addr() + (i * LEN) as u64,
            b.rkey,
        ));
        let msg = (i as u64).to_le_bytes();
        a.post(&send_wr(10_000 + i as u64, Payload::Inline(&msg), None));
        if i % 25 == 24 {
            net.run_until_idle();
            done_a.extend(a.poll());
        }
    }
    for _ in 0..20 {
        net.run_until_idle();
        done_a.extend(a.poll());
        if done_a.len() == 2 * N {
            break;
        }
    }
    assert_eq!(done_a.len(), 2 * N);
    for (k, c) in done_a.iter().enumerate() {
        assert_eq!(c.status, WcStatus::Success, "{c:?}");
        let i = (k / 2) as u64;
        assert_eq!(c.wr_id, if k % 2 == 0 { i } else { 10_000 + i });
    }
    let recvs = b.poll();
    assert_eq!(recvs.len(), N);
    for (i, c) in recvs.iter().enumerate() {
        assert_eq!(c.status, WcStatus::Success);
        assert_eq!(c.wr_id, 1000 + i as u64);
        assert_eq!(c.byte_len, 8);
        let mut v = [0u8; 8];
        b.buf.read(0x80000 + i * 64, &mut v);
        assert_eq!(u64::from_le_bytes(v), i as u64);
    }
    let mut got = std::vec![0u8; N * LEN];
    b.buf.read(0, &mut got);
    let mut want = std::vec![0u8; N * LEN];
    a.buf.read(0, &mut want);
    assert!(got == want, "written data differs");
    let fs = net.fabric_stats();
    assert!(
        fs.lost > 0 && fs.duplicated > 0 && fs.reordered > 0,
        "{fs:?}"
    );
    let sa = net.stats(ip(1)).unwrap();
    assert!(sa.tcp_retransmits > 0, "{sa:?}");
    assert!(b.poll().is_empty());
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
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    let mut b = Side::new(&net, ip(2));
    let server = SocketAddr::new(ip(2), 7000);
    let _l = b.nic.cm_listen(server, 1).unwrap();
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 7001),
            server,
            1,
            1,
            b"please",
            0x55,
        )
        .unwrap();
    net.run_until_idle();
    b.ev.pump(&b.nic);
    let Some(CmEvent::ConnectRequest {
        conn, private_data, ..
    }) = b.ev.take_cm()
    else {
        panic!("no request")
    };
    assert_eq!(private_data.as_slice(), b"please");
    b.nic.cm_reject(conn, b"nope").unwrap();
    net.run_until_idle();
    a.ev.pump(&a.nic);
    let e = a.ev.take_cm().expect("event");
    let CmEvent::ConnectFailed {
        error,
        private_data,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(error, HalError::ConnectionRefused);
    assert_eq!(private_data.as_slice(), b"nope");
    assert_eq!(qp_state(&net, ip(1)), QpState::Err);
    assert_eq!(net.stats(ip(2)).unwrap().mpa_rejects_sent, 1);
    assert_eq!(net.stats(ip(1)).unwrap().mpa_rejects_received, 1);
}

#[test]
fn connect_without_listener_is_refused() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    let _b = Side::new(&net, ip(2));
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 0),
            SocketAddr::new(ip(2), 9999),
            1,
            1,
            &[],
            0x56,
        )
        .unwrap();
    net.run_until_idle();
    let ev = cm_events(&mut a);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            CmEvent::ConnectFailed {
                error: HalError::ConnectionRefused,
                ..
            }
        )),
        "{ev:?}"
    );
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
    let tshark = std::path::Path::new("/usr/bin/tshark");
    if !tshark.exists() {
        return;
    }
    let path = std::env::temp_dir().join(std::format!("rnic-w1-model-{}.pcap", std::process::id()));
    let net = Network::new(fabric::Impairments::PERFECT, Some(path.clone()));
    let (mut a, mut b, ca, _cb) = connected(&net);
    b.post_recv(1, 0, 4096);
    let s = [a.sge(0, 1500)];
    a.post(&send_wr(1, Payload::Sgl(&s), None));
    let w = [a.sge(0, 2100)];
    a.post(&write_wr(2, &w, b.buf.addr() + 0x8000, b.rkey));
    let r = [a.sge(0x10000, 1500)];
    a.post(&read_wr(3, &r, b.buf.addr(), b.rkey));
    net.run_until_idle();
    assert_eq!(a.poll().len(), 3);
    assert_eq!(b.poll().len(), 1);
    // A Terminate too: a send without a receive.
    a.post(&send_wr(4, Payload::Inline(b"x"), None));
    net.run_until_idle();
    let _ = ca;
    net.fabric().stop_capture().unwrap();
    let out = std::process::Command::new(tshark)
        .args(["-r"])
        .arg(&path)
        // MPA is found by its heuristic on TCP; the ULP payload is arbitrary bytes, so the
        // ULP dissectors iWARP may carry are off.
        .args(["-o", "tcp.try_heuristic_first:TRUE"])
        .args(["--disable-protocol", "rpcordma"])
        .args(["--disable-protocol", "smb_direct"])
        .args([
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "frame.protocols",
            "-e",
            "iwarp_rdma.opcode",
            "-e",
            "iwarp_mpa.req",
            "-e",
            "iwarp_mpa.rep",
            "-e",
            "_ws.malformed",
            "-e",
            "_ws.expert.severity",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::string::String::from_utf8_lossy(&out.stdout);
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
    let _ = std::fs::remove_file(&path);
}

#[test]
fn memory_window_bind_write_and_send_invalidate() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    let (_mw, mw_key) = b.nic.alloc_mw(b.pd.as_ref().unwrap()).unwrap();
    let base = b.buf.addr() + 0x4000;
    b.post(&SendWr {
        wr_id: 50,
        op: SendOp::Bind {
            mw_rkey: mw_key,
            mr_lkey: b.lkey,
            addr: base,
            length: 0x1000,
            access: Access::REMOTE_WRITE,
        },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!(cb[0].status, WcStatus::Success);
    assert_eq!(cb[0].opcode, WcOpcode::Bind);
    a.buf.write(0, &[0x42; 256]);
    let sge = [a.sge(0, 256)];
    a.post(&write_wr(1, &sge, base + 0x100, mw_key));
    net.run_until_idle();
    assert_eq!(a.poll()[0].status, WcStatus::Success);
    let mut got = [0u8; 256];
    b.buf.read(0x4100, &mut got);
    assert_eq!(got, [0x42; 256]);
    // Send with invalidate of the window.
    b.post_recv(7, 0x9000, 64);
    a.post(&send_wr(2, Payload::Inline(b"inv"), Some(mw_key)));
    net.run_until_idle();
    assert_eq!(a.poll()[0].status, WcStatus::Success);
    let cb = b.poll();
    assert_eq!(cb.len(), 1);
    assert_eq!(cb[0].opcode, WcOpcode::ReceiveInvalidate);
    assert_eq!(cb[0].invalidated_rkey, mw_key);
    // The window is gone: a write through it fails and leaves memory unchanged.
    a.buf.write(0, &[0x99; 16]);
    let sge = [a.sge(0, 16)];
    a.post(&write_wr(3, &sge, base, mw_key));
    net.run_until_idle();
    assert_eq!(a.poll()[0].status, WcStatus::RemoteAccess);
    let mut got = [0u8; 16];
    b.buf.read(0x4000, &mut got);
    assert_ne!(got, [0x99; 16]);
}

#[test]
fn fast_register_then_local_invalidate() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    let fr = b
        .nic
        .alloc_mr(b.pd.as_ref().unwrap(), MrKind::FastRegister)
        .unwrap();
    b.token += 1;
    let t = b.token;
    let cmd = b.nic.init_fast_register(&fr, 8, true, CmdToken(t)).unwrap();
    let key = match cmd {
        Cmd::Done(k) => k.0,
        Cmd::Pending => match wait(&net, &mut b, Cmd::<()>::Pending, t).unwrap() {
            CmdValue::Keys(l, _) => l,
            CmdValue::Unit => panic!("no key"),
        },
    };
    let pages: Vec<u64> = b.buf.pages()[16..20].to_vec();
    let iova = 0x7000_0000u64;
    b.post(&SendWr {
        wr_id: 60,
        op: SendOp::FastRegister {
            key,
            pages: &pages,
            first_byte_offset: 0,
            iova,
            length: 4 * 4096,
            access: Access::LOCAL_WRITE | Access::REMOTE_WRITE | Access::REMOTE_READ,
        },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!(cb[0].status, WcStatus::Success);
    let data: Vec<u8> = (0..8000u32).map(|i| (i * 3) as u8).collect();
    a.buf.write(0, &data);
    let sge = [a.sge(0, 8000)];
    a.post(&write_wr(1, &sge, iova + 100, key));
    net.run_until_idle();
    assert_eq!(a.poll()[0].status, WcStatus::Success);
    let mut got = std::vec![0u8; 8000];
    b.buf.read(16 * 4096 + 100, &mut got);
    assert_eq!(got, data);
    b.post(&SendWr {
        wr_id: 61,
        op: SendOp::Invalidate { key },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    assert_eq!(b.poll()[0].status, WcStatus::Success);
    a.post(&write_wr(2, &sge, iova, key));
    net.run_until_idle();
    assert_eq!(a.poll()[0].status, WcStatus::RemoteAccess);
}

#[test]
fn srq_receives_and_limit_event() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected_srq(&net, true);
    let base = b.buf.addr();
    let lkey = b.lkey;
    {
        let (_, poster) = b.srq.as_mut().unwrap();
        for i in 0..8u64 {
            let sge = [Sge {
                addr: base + i * 256,
                length: 256,
                lkey,
            }];
            b.nic
                .post_srq_recv(
                    poster,
                    &RecvWr {
                        wr_id: 70 + i,
                        sgl: &sge,
                    },
                )
                .unwrap();
        }
    }
    let (srq, _) = b.srq.as_ref().unwrap();
    b.nic.arm_srq_limit(srq, 5);
    net.run_until_idle();
    assert_eq!(b.nic.srq_queued(srq), 8);
    for i in 0..4u8 {
        a.post(&send_wr(u64::from(i), Payload::Inline(&[i; 10]), None));
    }
    net.run_until_idle();
    assert_eq!(a.poll().len(), 4);
    let cb = b.poll();
    assert_eq!(cb.len(), 4, "{cb:?}");
    for (i, c) in cb.iter().enumerate() {
        assert_eq!(c.wr_id, 70 + i as u64);
        assert_eq!(c.byte_len, 10);
    }
    let (srq, _) = b.srq.as_ref().unwrap();
    assert_eq!(b.nic.srq_queued(srq), 4);
    b.ev.pump(&b.nic);
    assert!(
        b.ev.0
            .iter()
            .any(|e| matches!(e, HalEvent::SrqLimit { srq_ctx: 0x5150 })),
        "{:?}",
        b.ev.0
    );
}

#[test]
fn loopback_connection_on_one_nic() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    let mut a = Side::on_nic(&net, nic.clone(), ip(1), false);
    let b = Side::on_nic(&net, nic, ip(1), false);
    let server = SocketAddr::new(ip(1), 6000);
    let _l = b.nic.cm_listen(server, 0x22).unwrap();
    let ca = a
        .nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 0),
            server,
            2,
            2,
            b"lo",
            0xA1,
        )
        .unwrap();
    net.run_until_idle();
    let ev = cm_events(&mut a);
    let Some(CmEvent::ConnectRequest { conn, .. }) = ev
        .iter()
        .find(|e| matches!(e, CmEvent::ConnectRequest { .. }))
        .cloned()
    else {
        panic!("{ev:?}")
    };
    a.nic
        .cm_accept(conn, &b.qp.as_ref().unwrap().qp, 2, 2, b"ok")
        .unwrap();
    net.run_until_idle();
    let ev = cm_events(&mut a);
    assert!(
        ev.iter().any(|e| matches!(e, CmEvent::ConnectReply { .. })),
        "{ev:?}"
    );
    a.nic.cm_complete(ca).unwrap();
    net.run_until_idle();
    // Both QPs share the NIC's buffer layout: write from a's half into b's half.
    a.buf.write(0, &[0x5C; 3000]);
    let sge = [a.sge(0, 3000)];
    a.post(&write_wr(1, &sge, b.buf.addr() + 0x8000, b.rkey));
    net.run_until_idle();
    let ca_done = a.poll();
    assert!(
        ca_done
            .iter()
            .any(|c| c.wr_id == 1 && c.status == WcStatus::Success),
        "{ca_done:?}"
    );
    let mut got = std::vec![0u8; 3000];
    b.buf.read(0x8000, &mut got);
    assert_eq!(got, std::vec![0x5C; 3000]);
    assert_eq!(
        net.fabric_stats().sent,
        0,
        "loopback never reaches the wire"
    );
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
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    let mut b = Side::new(&net, ip(2));
    let server = SocketAddr::new(ip(2), 7100);
    let _l = b.nic.cm_listen(server, 3).unwrap();
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 0),
            server,
            1,
            1,
            &[],
            0x57,
        )
        .unwrap();
    net.run_until_idle();
    let eb = cm_events(&mut b);
    assert!(
        matches!(eb.as_slice(), [CmEvent::ConnectRequest { .. }]),
        "{eb:?}"
    );
    // b's host never answers: a's MPA timer (10 s, §8.6) runs out and resets the connection.
    net.advance(11_000_000_000);
    net.run_until_idle();
    let ea = cm_events(&mut a);
    assert!(
        matches!(
            ea.as_slice(),
            [CmEvent::ConnectFailed {
                error: HalError::Timeout,
                ..
            }]
        ),
        "{ea:?}"
    );
    assert_eq!(net.stats(ip(1)).unwrap().mpa_timeouts, 1);
    assert_eq!(qp_state(&net, ip(1)), QpState::Err);
    let eb = cm_events(&mut b);
    assert!(
        eb.iter().any(|e| matches!(e, CmEvent::AcceptFailed { .. })),
        "{eb:?}"
    );
}

#[test]
fn vanished_peer_gives_retry_exceeded() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, b, _ca, _cb) = connected(&net);
    assert!(net.remove_nic(ip(2)));
    let sge = [a.sge(0, 100)];
    a.post(&write_wr(5, &sge, b.buf.addr(), b.rkey));
    net.advance(5_000_000_000);
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::RetryExceeded);
    assert!(net.stats(ip(1)).unwrap().tcp_timeouts > 0);
    let ea = cm_events(&mut a);
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
}
