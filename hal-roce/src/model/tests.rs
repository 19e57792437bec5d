//! Tests of the device model through the real driver (`RoceNic`), calling its `NicHal`
//! methods directly.

use core::net::SocketAddr;
use std::vec::Vec;

use hal::{
    Access, CmEvent, Cmd, CmdToken, CmdValue, HalError, HalEvent, MrKind, NicHal, Payload, RecvWr,
    SendOp, SendWr, Sge, WcOpcode, WcStatus, WrFlags,
};

use super::network::{Network, Rnicr2};

pub(super) use fabric::testkit::rdma::{connected, ip, wait};
use fabric::testkit::rdma::{connected_srq, BUF};

/// One NIC's PD, CQ, QP and registered buffer: the shared test kit's, on RNIC-R2.
pub(super) type Side = fabric::testkit::rdma::Side<Rnicr2>;

#[test]
fn bring_up_through_driver() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    assert!(nic.is_local_address(&ip(1)));
    assert_eq!(nic.caps().max_inline_data, 256);
    let st = net.stats(ip(1)).unwrap();
    assert_eq!(st.tx_frames, 0);
}

#[test]
fn connect_send_write_read() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    // SEND of 3000 bytes (3 packets at MTU 1024).
    let msg: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    a.buf.write(0, &msg);
    b.post_recv(1, 0x1000, 4096);
    let sge = [a.sge(0, 3000)];
    a.post(&SendWr {
        wr_id: 10,
        op: SendOp::Send {
            payload: Payload::Sgl(&sge),
            invalidate_rkey: None,
        },
        flags: WrFlags::SIGNALED,
    });
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
    a.post(&SendWr {
        wr_id: 11,
        op: SendOp::Write {
            payload: Payload::Sgl(&sge),
            remote_addr: b.buf.addr() + 0x10000,
            rkey: b.rkey,
        },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::Success);
    let mut got = std::vec![0u8; 5000];
    b.buf.read(0x10000, &mut got);
    assert_eq!(got, w);

    // READ 6000 bytes from b at 0x20000 into a at 0x30000.
    let r: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    b.buf.write(0x20000, &r);
    let sge = [a.sge(0x30000, 6000)];
    a.post(&SendWr {
        wr_id: 12,
        op: SendOp::Read {
            sgl: &sge,
            remote_addr: b.buf.addr() + 0x20000,
            rkey: b.rkey,
        },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::Success);
    assert_eq!(ca[0].opcode, WcOpcode::Read);
    assert_eq!(ca[0].byte_len, 6000);
    let mut got = std::vec![0u8; 6000];
    a.buf.read(0x30000, &mut got);
    assert_eq!(got, r);
    let st = net.stats(ip(1)).unwrap();
    assert_eq!(st.retransmits, 0);
    assert_eq!(st.icrc_errors, 0);
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

#[test]
fn bounds_violation_leaves_target_unchanged() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.buf.fill(0xEE);
    a.buf.write(0, &[0x11; 4096]);
    // 4096 bytes starting 100 bytes before the end of b's registration.
    let sge = [a.sge(0, 4096)];
    let raddr = b.buf.addr() + BUF as u64 - 100;
    a.post(&write_wr(7, &sge, raddr, b.rkey));
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::RemoteAccess);
    assert!(b.buf.to_vec().iter().all(|&x| x == 0xEE));
    // A stale rkey (other variant) fails too.
    let _ = b.poll();
}

#[test]
fn stale_rkey_fails() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, b, _ca, _cb) = connected(&net);
    b.buf.fill(0xEE);
    let sge = [a.sge(0, 64)];
    let stale = b.rkey.wrapping_add(1) & 0xFF | (b.rkey & !0xFF);
    a.post(&write_wr(8, &sge, b.buf.addr(), stale));
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca[0].status, WcStatus::RemoteAccess, "{ca:?}");
    assert!(b.buf.to_vec().iter().all(|&x| x == 0xEE));
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
    const N: usize = 200;
    const LEN: usize = 2500; // 3 packets each
                             // 200 writes of distinct patterns to distinct places, and 200 sends.
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
        a.post(&SendWr {
            wr_id: 10_000 + i as u64,
            op: SendOp::Send {
                payload: Payload::Inline(&msg),
                invalidate_rkey: None,
            },
            flags: WrFlags::SIGNALED,
        });
        if i % 50 == 49 {
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
    assert!(fs.lost > 0 && fs.duplicated > 0, "{fs:?}");
    let sa = net.stats(ip(1)).unwrap();
    assert!(sa.retransmits > 0, "{sa:?}");
    assert!(b.poll().is_empty());
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
fn no_listener_is_refused() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    let _b = Side::new(&net, ip(2));
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 1234),
            SocketAddr::new(ip(2), 999),
            1,
            1,
            &[],
            0x77,
        )
        .unwrap();
    net.run_until_idle();
    a.ev.pump(&a.nic);
    let e = a.ev.take_cm().expect("event");
    assert!(
        matches!(
            e,
            CmEvent::ConnectFailed {
                ctx: 0x77,
                error: HalError::ConnectionRefused,
                ..
            }
        ),
        "{e:?}"
    );
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
    let tshark = std::path::Path::new("/usr/bin/tshark");
    if !tshark.exists() {
        return;
    }
    let path = std::env::temp_dir().join(std::format!("rnic-r2-model-{}.pcap", std::process::id()));
    let net = Network::new(fabric::Impairments::PERFECT, Some(path.clone()));
    let (mut a, mut b, ca, _cb) = connected(&net);
    // send (2 packets), write (3 packets), read (2 packets)
    b.post_recv(1, 0, 4096);
    let s = [a.sge(0, 1500)];
    a.post(&SendWr {
        wr_id: 1,
        op: SendOp::Send {
            payload: Payload::Sgl(&s),
            invalidate_rkey: None,
        },
        flags: WrFlags::SIGNALED,
    });
    let w = [a.sge(0, 2100)];
    a.post(&write_wr(2, &w, b.buf.addr() + 0x8000, b.rkey));
    let r = [a.sge(0x10000, 1500)];
    a.post(&SendWr {
        wr_id: 3,
        op: SendOp::Read {
            sgl: &r,
            remote_addr: b.buf.addr(),
            rkey: b.rkey,
        },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    assert_eq!(a.poll().len(), 3);
    assert_eq!(b.poll().len(), 1);
    a.nic.cm_disconnect(ca).unwrap();
    net.run_until_idle();
    net.fabric().stop_capture().unwrap();
    let out = std::process::Command::new(tshark)
        .args(["-r"])
        .arg(&path)
        .args([
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "frame.protocols",
            "-e",
            "infiniband.bth.opcode",
            "-e",
            "infiniband.mad.attributeid",
            "-e",
            "_ws.malformed",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{out:?}");
    let text = std::string::String::from_utf8_lossy(&out.stdout);
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

pub(super) fn send_wr<'a>(wr_id: u64, payload: Payload<'a>, inv: Option<u32>) -> SendWr<'a> {
    SendWr {
        wr_id,
        op: SendOp::Send {
            payload,
            invalidate_rkey: inv,
        },
        flags: WrFlags::SIGNALED,
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
fn cq_notify_and_flush() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.nic.arm_cq(&mut b.cq.as_mut().unwrap().poller, false);
    b.post_recv(1, 0, 64);
    b.post_recv(2, 64, 64);
    b.post_recv(3, 128, 64);
    a.post(&send_wr(1, Payload::Inline(b"ping"), None));
    net.run_until_idle();
    b.ev.pump(&b.nic);
    assert!(
        b.ev.0
            .iter()
            .any(|e| matches!(e, HalEvent::CqNotify { cq_ctx: 0xC0 })),
        "{:?}",
        b.ev.0
    );
    let cb = b.poll();
    assert_eq!(cb.len(), 1);
    b.nic.flush_qp(&b.qp.as_ref().unwrap().qp);
    net.run_until_idle();
    let cb = b.poll();
    assert_eq!(cb.len(), 2, "{cb:?}");
    assert!(cb.iter().all(|c| c.status == WcStatus::Flushed));
    assert_eq!((cb[0].wr_id, cb[1].wr_id), (2, 3));
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
            &[],
            0x55,
        )
        .unwrap();
    net.run_until_idle();
    b.ev.pump(&b.nic);
    let Some(CmEvent::ConnectRequest { conn, .. }) = b.ev.take_cm() else {
        panic!("no request")
    };
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
    assert_eq!(&private_data.as_slice()[..4], b"nope");
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

#[test]
fn resize_cq_keeps_completions_in_order() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    for i in 0..6 {
        b.post_recv(i, 0, 64);
    }
    for i in 0..3u8 {
        a.post(&send_wr(u64::from(i), Payload::Inline(&[i; 4]), None));
    }
    net.run_until_idle();
    b.token += 1;
    let t = b.token;
    let cmd = {
        let cq = b.cq.as_mut().unwrap();
        b.nic
            .resize_cq(&cq.cq, &mut cq.poller, 4000, CmdToken(t))
            .unwrap()
    };
    wait(&net, &mut b, cmd, t).unwrap();
    for i in 3..6u8 {
        a.post(&send_wr(u64::from(i), Payload::Inline(&[i; 4]), None));
    }
    net.run_until_idle();
    let cb = b.poll();
    let ids: Vec<u64> = cb.iter().map(|c| c.wr_id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    assert_eq!(a.poll().len(), 6);
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
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let (mut a, b, _ca, _cb) = connected(&net);
    assert!(net.remove_nic(ip(2)));
    let sge = [a.sge(0, 10)];
    a.post(&write_wr(1, &sge, b.buf.addr(), b.rkey));
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0].status, WcStatus::RetryExceeded);
    assert_eq!(ca[0].vendor_error, crate::cqe::syndrome::ACK_TIMEOUT);
}

#[test]
fn unanswered_request_times_out_on_both_sides() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    let mut b = Side::new(&net, ip(2));
    let server = SocketAddr::new(ip(2), 6000);
    let _l = b.nic.cm_listen(server, 1).unwrap();
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 6001),
            server,
            1,
            1,
            &[],
            0x66,
        )
        .unwrap();
    net.run_until_idle();
    b.ev.pump(&b.nic);
    assert!(matches!(
        b.ev.take_cm(),
        Some(CmEvent::ConnectRequest { .. })
    ));
    net.advance(30_000_000_000);
    a.ev.pump(&a.nic);
    b.ev.pump(&b.nic);
    let ea = a.ev.take_cm().expect("a");
    assert!(
        matches!(
            ea,
            CmEvent::ConnectFailed {
                error: HalError::Timeout,
                ..
            }
        ),
        "{ea:?}"
    );
    let eb = b.ev.take_cm().expect("b");
    assert!(matches!(eb, CmEvent::AcceptFailed { .. }), "{eb:?}");
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
