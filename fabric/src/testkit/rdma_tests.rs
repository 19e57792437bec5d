//! The RDMA tests whose behaviour both transports must show the same way (SEND/WRITE/READ,
//! memory windows, fast registration, SRQs, loss recovery, connection setup failures): one
//! body per test, run against every model by [`rdma_tests!`](crate::rdma_tests) or, where the
//! transport adds its own checks (RoCE PSN/NAK/ICRC, iWARP MPA/Terminate/TCP counters), called
//! from the model's test with a `check` closure.

use core::net::SocketAddr;
use std::path::PathBuf;
use std::vec::Vec;

use hal::{
    Access, CmEvent, Cmd, CmdToken, CmdValue, Completion, ConnId, HalError, HalEvent, MrKind,
    NicHal, Payload, RecvWr, SendOp, SendWr, Sge, WcOpcode, WcStatus, WrFlags,
};

use super::raw_eth::Counters;
use super::rdma::{
    connected, connected_srq, ip, read_wr, request, send_wr, wait, write_wr, Events, Side, BUF,
};
use crate::network::{DeviceModel, Network, NicModel};
use crate::Impairments;

/// A NIC model whose driver is an RDMA NIC (`hal::NicHal`).
pub trait RdmaModel: NicModel<Nic: NicHal> {}

impl<M> RdmaModel for M where M: NicModel<Nic: NicHal> {}

/// The tests of this module as `#[test]` functions for model `$model` (an [`RdmaModel`]).
#[macro_export]
macro_rules! rdma_tests {
    ($model:ty) => {
        $crate::rdma_tests!(@each $model; memory_window_bind_write_and_send_invalidate, fast_register_then_local_invalidate, srq_receives_and_limit_event, connect_without_listener_is_refused, bring_up_through_driver, solicited_send_fires_a_solicited_arm, resize_cq_keeps_completions_in_order, cq_notify_and_flush, loopback_connection_on_one_nic);
    };
    (@each $model:ty; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                $crate::testkit::rdma_tests::$name::<$model>();
            }
        )*
    };
}

/// A memory window bound over part of an MR admits a remote WRITE; a SEND with invalidate
/// of it reports the key and kills it, so a later WRITE through it fails and places nothing.
pub fn memory_window_bind_write_and_send_invalidate<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
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

/// A fast-register MR mapped by a work request admits a remote WRITE at its own iova; after a
/// local invalidate the same WRITE fails.
pub fn fast_register_then_local_invalidate<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
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

/// SENDs to a QP on an SRQ consume its receives in posting order, and falling under the armed
/// limit raises the SRQ limit event.
pub fn srq_receives_and_limit_event<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
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

/// `n` RDMA WRITEs and `n` SENDs (`flush_every` posts between pumps) over a wire that loses,
/// duplicates and reorders: every request completes once, in order, and every byte lands.
/// `check` then reads the transport's own retransmission counters (while both NICs are up).
pub fn lossy_wire_exactly_once_in_order<M: RdmaModel>(
    n: usize,
    flush_every: usize,
    check: impl FnOnce(&Network<M>),
) {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    net.fabric().set_impairments(Impairments {
        loss: 0.03,
        duplicate: 0.03,
        reorder: 0.03,
        delay_ns: (1_000, 5_000),
        seed: 0x5EED,
    });
    const LEN: usize = 2500;
    // Writes of distinct patterns to distinct places, and as many sends.
    for i in 0..n {
        let pat: Vec<u8> = (0..LEN)
            .map(|j| (i * 31 + j * 7) as u8 ^ (i as u8))
            .collect();
        a.buf.write(i * LEN, &pat);
    }
    for i in 0..n {
        b.post_recv(1000 + i as u64, 0x80000 + i * 64, 64);
    }
    let mut done_a = Vec::new();
    for i in 0..n {
        let sge = [a.sge(i * LEN, LEN as u32)];
        a.post(&write_wr(
            i as u64,
            &sge,
            b.buf.addr() + (i * LEN) as u64,
            b.rkey,
        ));
        let msg = (i as u64).to_le_bytes();
        a.post(&send_wr(10_000 + i as u64, Payload::Inline(&msg), None));
        if i % flush_every == flush_every - 1 {
            net.run_until_idle();
            done_a.extend(a.poll());
        }
    }
    for _ in 0..20 {
        net.run_until_idle();
        done_a.extend(a.poll());
        if done_a.len() == 2 * n {
            break;
        }
    }
    assert_eq!(done_a.len(), 2 * n);
    for (k, c) in done_a.iter().enumerate() {
        assert_eq!(c.status, WcStatus::Success, "{c:?}");
        let i = (k / 2) as u64;
        assert_eq!(c.wr_id, if k % 2 == 0 { i } else { 10_000 + i });
    }
    let recvs = b.poll();
    assert_eq!(recvs.len(), n);
    for (i, c) in recvs.iter().enumerate() {
        assert_eq!(c.status, WcStatus::Success);
        assert_eq!(c.wr_id, 1000 + i as u64);
        assert_eq!(c.byte_len, 8);
        let mut v = [0u8; 8];
        b.buf.read(0x80000 + i * 64, &mut v);
        assert_eq!(u64::from_le_bytes(v), i as u64);
    }
    let mut got = std::vec![0u8; n * LEN];
    b.buf.read(0, &mut got);
    let mut want = std::vec![0u8; n * LEN];
    a.buf.read(0, &mut want);
    assert!(got == want, "written data differs");
    let fs = net.fabric_stats();
    assert!(
        fs.lost > 0 && fs.duplicated > 0 && fs.reordered > 0,
        "{fs:?}"
    );
    check(&net);
    assert!(b.poll().is_empty());
}

/// SEND, WRITE and READ between two connected QPs, and a READ by the responder: every
/// request completes once with the right opcode and length, and the bytes land. `check` then
/// reads the transport's own counters (while both NICs are up).
pub fn connect_send_write_read<M: RdmaModel>(check: impl FnOnce(&Network<M>)) {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    // SEND of 3000 bytes (several packets at either model's MTU).
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

    check(&net);
}

/// A request the listener rejects: the requester's connect fails as refused and carries the
/// reject's private data, and the listener saw the request's. `check` then reads the
/// transport's own state, given the private data of the request and of the reject as seen.
pub fn reject_carries_private_data<M: RdmaModel>(check: impl FnOnce(&Network<M>, &[u8], &[u8])) {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let (mut a, mut b, _l) = request(&net, 7000, b"please", 0x55);
    let eb = b.cm_events();
    let [CmEvent::ConnectRequest {
        conn,
        private_data: req_data,
        ..
    }] = eb.as_slice()
    else {
        panic!("{eb:?}")
    };
    assert!(req_data.as_slice().starts_with(b"please"), "{req_data:?}");
    b.nic.cm_reject(*conn, b"nope").unwrap();
    net.run_until_idle();
    let ea = a.cm_events();
    let [CmEvent::ConnectFailed {
        error,
        private_data,
        ..
    }] = ea.as_slice()
    else {
        panic!("{ea:?}")
    };
    assert_eq!(*error, HalError::ConnectionRefused);
    assert!(
        private_data.as_slice().starts_with(b"nope"),
        "{private_data:?}"
    );
    check(&net, req_data.as_slice(), private_data.as_slice());
}

/// A request the listener's host never answers: after `timeout_ns` the requester's connect
/// fails with a timeout and the listener's side reports the accept failed. `check` then reads
/// the transport's own state.
pub fn unanswered_request_times_out_on_both_sides<M: RdmaModel>(
    timeout_ns: u64,
    check: impl FnOnce(&Network<M>),
) {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let (mut a, mut b, _l) = request(&net, 6000, &[], 0x66);
    let eb = b.cm_events();
    assert!(
        matches!(eb.as_slice(), [CmEvent::ConnectRequest { .. }]),
        "{eb:?}"
    );
    net.advance(timeout_ns);
    net.run_until_idle();
    let ea = a.cm_events();
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
    let eb = b.cm_events();
    assert!(
        eb.iter().any(|e| matches!(e, CmEvent::AcceptFailed { .. })),
        "{eb:?}"
    );
    check(&net);
}

/// A connect to a port nobody listens on fails as refused, reported with the connect's context.
pub fn connect_without_listener_is_refused<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let mut a = Side::new(&net, ip(1));
    let _b = Side::new(&net, ip(2));
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), 1234),
            SocketAddr::new(ip(2), 9999),
            1,
            1,
            &[],
            0x77,
        )
        .unwrap();
    net.run_until_idle();
    let ev = a.cm_events();
    assert!(
        matches!(
            ev.as_slice(),
            [CmEvent::ConnectFailed {
                ctx: 0x77,
                error: HalError::ConnectionRefused,
                ..
            }]
        ),
        "{ev:?}"
    );
}

/// A NIC brought up through the driver owns its address, reports the capabilities both
/// datasheets give, and has sent nothing yet.
pub fn bring_up_through_driver<M>()
where
    M: RdmaModel<Device: DeviceModel<Stats: Counters>>,
{
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    assert!(nic.is_local_address(&ip(1)));
    assert_eq!(nic.caps().max_inline_data, 256);
    let st = net.stats(ip(1)).unwrap();
    assert_eq!(st.tx_frames(), 0);
}

/// A write to a peer that has left the network: the requester gives up with one
/// `RetryExceeded` completion. `check` then reads the transport's own reaction, given that
/// completion and the requester.
pub fn vanished_peer_gives_retry_exceeded<M: RdmaModel>(
    check: impl FnOnce(&Network<M>, &Completion, &mut Side<M>),
) {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let (mut a, b, _ca, _cb) = connected(&net);
    assert!(net.remove_nic(ip(2)));
    let sge = [a.sge(0, 100)];
    a.post(&write_wr(5, &sge, b.buf.addr(), b.rkey));
    net.advance(5_000_000_000);
    net.run_until_idle();
    let ca = a.poll();
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].wr_id, 5);
    assert_eq!(ca[0].status, WcStatus::RetryExceeded);
    check(&net, &ca[0], &mut a);
}

/// Two connected sides on a network capturing to `path`, after a SEND (1500 bytes), a WRITE
/// (2100) and a READ (1500) from `a` that all completed: the traffic a model's capture test
/// decodes (with what the transport adds before stopping the capture).
pub fn captured_send_write_read<M: RdmaModel>(
    path: PathBuf,
) -> (Network<M>, Side<M>, Side<M>, ConnId) {
    let net = Network::<M>::new(Impairments::PERFECT, Some(path));
    let (mut a, mut b, ca, _cb) = connected(&net);
    b.post_recv(1, 0, 4096);
    let s = [a.sge(0, 1500)];
    a.post(&send_wr(1, Payload::Sgl(&s), None));
    let w = [a.sge(0, 2100)];
    a.post(&write_wr(2, &w, b.buf.addr() + 0x8000, b.rkey));
    let r = [a.sge(0x10000, 1500)];
    a.post(&read_wr(3, &r, b.buf.addr(), b.rkey));
    net.run_until_idle();
    let ca_done = a.poll();
    assert_eq!(ca_done.len(), 3, "{ca_done:?}");
    assert!(
        ca_done.iter().all(|c| c.status == WcStatus::Success),
        "{ca_done:?}"
    );
    assert_eq!(b.poll().len(), 1);
    (net, a, b, ca)
}

/// A WRITE of `a` that `b` must refuse (`rkey` at `raddr`, `len` bytes): `a`'s request
/// completes first with `RemoteAccess` (anything after it flushed) and no byte of `b` changes.
/// `check` then reads the transport's own reaction, given `a`'s completions.
fn refused_write<M: RdmaModel>(
    len: u32,
    raddr: impl FnOnce(&Side<M>) -> (u64, u32),
    check: impl FnOnce(&Network<M>, &[Completion], &mut Side<M>, &mut Side<M>),
) {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let (mut a, mut b, _ca, _cb) = connected(&net);
    b.buf.fill(0xEE);
    a.buf.write(0, &[0x11; 4096]);
    let sge = [a.sge(0, len)];
    let (raddr, rkey) = raddr(&b);
    a.post(&write_wr(7, &sge, raddr, rkey));
    net.run_until_idle();
    let ca = a.poll();
    assert!(!ca.is_empty(), "no completion at the requester");
    assert_eq!(ca[0].wr_id, 7, "{ca:?}");
    assert_eq!(ca[0].status, WcStatus::RemoteAccess, "{ca:?}");
    assert!(
        ca[1..].iter().all(|c| c.status == WcStatus::Flushed),
        "{ca:?}"
    );
    check(&net, &ca, &mut a, &mut b);
    assert!(b.buf.to_vec().iter().all(|&x| x == 0xEE));
}

/// 4096 bytes written from 100 bytes before the end of `b`'s registration: refused, with no
/// byte of the failing part placed. `check` as for [`refused_write`].
pub fn write_out_of_bounds_leaves_target_unchanged<M: RdmaModel>(
    check: impl FnOnce(&Network<M>, &[Completion], &mut Side<M>, &mut Side<M>),
) {
    refused_write(4096, |b| (b.buf.addr() + BUF as u64 - 100, b.rkey), check);
}

/// A WRITE under `b`'s rkey with another key variant (a stale rkey): refused.
pub fn write_with_stale_rkey_fails<M: RdmaModel>(
    check: impl FnOnce(&Network<M>, &[Completion], &mut Side<M>, &mut Side<M>),
) {
    refused_write(
        64,
        |b| {
            let stale = (b.rkey & !0xFF) | (b.rkey.wrapping_add(1) & 0xFF);
            (b.buf.addr(), stale)
        },
        check,
    );
}

/// A CQ armed for solicited completions fires on a solicited SEND only.
pub fn solicited_send_fires_a_solicited_arm<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
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

/// Resizing a CQ with completions waiting keeps them, in order, before the later ones.
pub fn resize_cq_keeps_completions_in_order<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
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

/// An armed CQ notifies on a completion; flushing the QP completes the receives left, in
/// order, as flushed.
pub fn cq_notify_and_flush<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
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

/// Two QPs on ONE NIC (NDK_ADAPTER_FLAG_LOOPBACK_CONNECTIONS_SUPPORTED): the connection
/// handshake, SEND, WRITE and READ between them work, and no frame reaches the wire (a NIC
/// loops frames to its own station address back internally).
pub fn loopback_connection_on_one_nic<M: RdmaModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    let mut a = Side::on_nic(&net, nic.clone(), ip(1), false);
    let mut b = Side::on_nic(&net, nic, ip(1), false);
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
    // Both sides share the NIC's event stream: `a` collects it.
    let ev = a.cm_events();
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
    let ev = a.cm_events();
    assert!(
        ev.iter().any(|e| matches!(e, CmEvent::ConnectReply { .. })),
        "{ev:?}"
    );
    a.nic.cm_complete(ca).unwrap();
    net.run_until_idle();

    // SEND a -> b.
    let msg: Vec<u8> = (0..3000u32).map(|i| (i * 3) as u8).collect();
    a.buf.write(0, &msg);
    b.post_recv(1, 0x1000, 4096);
    let sge = [a.sge(0, 3000)];
    a.post(&send_wr(10, Payload::Sgl(&sge), None));
    net.run_until_idle();
    let ca_done = a.poll();
    assert_eq!(ca_done.len(), 1, "{ca_done:?}");
    assert_eq!(ca_done[0].status, WcStatus::Success);
    let cb = b.poll();
    assert_eq!(cb.len(), 1, "{cb:?}");
    assert_eq!(cb[0].opcode, WcOpcode::Receive);
    assert_eq!(cb[0].byte_len, 3000);
    let mut got = std::vec![0u8; 3000];
    b.buf.read(0x1000, &mut got);
    assert_eq!(got, msg);

    // WRITE a -> b.
    a.buf.write(0x2000, &[0x5C; 3000]);
    let sge = [a.sge(0x2000, 3000)];
    a.post(&write_wr(11, &sge, b.buf.addr() + 0x8000, b.rkey));
    net.run_until_idle();
    let ca_done = a.poll();
    assert_eq!(ca_done.len(), 1, "{ca_done:?}");
    assert_eq!(ca_done[0].status, WcStatus::Success);
    assert_eq!(ca_done[0].opcode, WcOpcode::Write);
    let mut got = std::vec![0u8; 3000];
    b.buf.read(0x8000, &mut got);
    assert_eq!(got, std::vec![0x5C; 3000]);

    // READ b -> a.
    let r: Vec<u8> = (0..4000u32).map(|i| (i % 253) as u8).collect();
    b.buf.write(0x20000, &r);
    let sge = [a.sge(0x30000, 4000)];
    a.post(&read_wr(12, &sge, b.buf.addr() + 0x20000, b.rkey));
    net.run_until_idle();
    let ca_done = a.poll();
    assert_eq!(ca_done.len(), 1, "{ca_done:?}");
    assert_eq!(ca_done[0].status, WcStatus::Success);
    assert_eq!(ca_done[0].opcode, WcOpcode::Read);
    assert_eq!(ca_done[0].byte_len, 4000);
    let mut got = std::vec![0u8; 4000];
    a.buf.read(0x30000, &mut got);
    assert_eq!(got, r);

    assert_eq!(
        net.fabric_stats().sent,
        0,
        "loopback never reaches the wire"
    );
}
