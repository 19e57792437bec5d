//! The mock's own tests, driven through the `NicHal` trait.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use super::dma::alloc_count::allocs;
use super::*;
use crate::{Access, CmEvent, Payload, Platform, SendOp, Sge, WcOpcode, WcStatus, WrFlags};

// --- harness ------------------------------------------------------------------------------

const A_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const PORT: u16 = 4791;

/// A NIC whose handler collects events (auto mode: inline, re-entrant).
struct Dev {
    nic: Arc<MockNic>,
    events: Arc<Mutex<Vec<HalEvent>>>,
}

impl Dev {
    fn new(fabric: &Fabric, ip: IpAddr) -> Dev {
        let nic = MockNic::new(fabric, default_caps(), &[ip]);
        let events = Arc::new(Mutex::new(Vec::new()));
        let (weak, sink): (Weak<MockNic>, _) = (Arc::downgrade(&nic), events.clone());
        nic.attach_interrupt(
            crate::karc::KFn::try_new(move || {
                let Some(nic) = weak.upgrade() else { return };
                while let Some(e) = nic.next_event() {
                    sink.lock().unwrap().push(e);
                }
            })
            .expect("alloc"),
        );
        Dev { nic, events }
    }

    fn take(&self) -> Vec<HalEvent> {
        core::mem::take(&mut *self.events.lock().unwrap())
    }
}

/// One side of a connection with its objects.
struct End {
    dev: Dev,
    pd: Pd,
    cq: CqParts<MockNic>,
    qp: QpParts<MockNic>,
    conn: ConnId,
}

fn done<T: core::fmt::Debug>(c: Cmd<T>) -> T {
    match c {
        Cmd::Done(v) => v,
        Cmd::Pending => panic!("unexpected pending command"),
    }
}

fn objects(dev: &Dev, ctx: u64) -> (Pd, CqParts<MockNic>, QpParts<MockNic>) {
    let nic = &dev.nic;
    let pd = nic.create_pd().unwrap();
    let (cq, c) = nic.create_cq(64, ctx + 1, CmdToken(1)).unwrap();
    done(c);
    let params = QpParams {
        pd: &pd,
        send_cq: &cq.cq,
        recv_cq: &cq.cq,
        srq: None,
        sq_depth: 16,
        rq_depth: 16,
        max_send_sge: 4,
        max_recv_sge: 4,
        max_inline: 64,
        context: ctx,
    };
    let (qp, c) = nic.create_qp(&params, CmdToken(2)).unwrap();
    done(c);
    (pd, cq, qp)
}

/// Two NICs on a fabric with a connected QP each (a: ctx 100, b: ctx 200).
fn connected() -> (Fabric, End, End) {
    let fabric = Fabric::new();
    let a = Dev::new(&fabric, A_IP);
    let b = Dev::new(&fabric, B_IP);
    let (apd, acq, aqp) = objects(&a, 100);
    let (bpd, bcq, bqp) = objects(&b, 200);

    let listen = b.nic.cm_listen(SocketAddr::new(B_IP, PORT), 7).unwrap();
    let aconn = a
        .nic
        .cm_connect(
            &aqp.qp,
            SocketAddr::new(A_IP, 5000),
            SocketAddr::new(B_IP, PORT),
            8,
            8,
            b"hello",
            1000,
        )
        .unwrap();
    let ev = b.take();
    let bconn = match ev.as_slice() {
        [HalEvent::Cm(CmEvent::ConnectRequest {
            listen_ctx: 7,
            conn,
            remote,
            private_data,
            ird: 8,
            ..
        })] => {
            assert_eq!(*remote, SocketAddr::new(A_IP, 5000));
            assert_eq!(private_data.as_slice(), b"hello");
            *conn
        }
        other => panic!("expected a connect request, got {other:?}"),
    };
    b.nic.cm_attach(bconn, 2000);
    b.nic.cm_accept(bconn, &bqp.qp, 8, 8, b"welcome").unwrap();
    match a.take().as_slice() {
        [HalEvent::Cm(CmEvent::ConnectReply {
            ctx: 1000,
            private_data,
            ..
        })] => assert_eq!(private_data.as_slice(), b"welcome"),
        other => panic!("expected a reply, got {other:?}"),
    }
    a.nic.cm_complete(aconn).unwrap();
    assert!(matches!(
        b.take().as_slice(),
        [HalEvent::Cm(CmEvent::Established { ctx: 2000 })]
    ));
    b.nic.cm_stop_listen(listen);
    (
        fabric,
        End {
            dev: a,
            pd: apd,
            cq: acq,
            qp: aqp,
            conn: aconn,
        },
        End {
            dev: b,
            pd: bpd,
            cq: bcq,
            qp: bqp,
            conn: bconn,
        },
    )
}

/// Registers `buf` at iova `iova`; returns the MR and its key.
fn register(end: &End, buf: &HostBuffer, iova: u64, access: Access) -> (Mr, u32) {
    let nic = &end.dev.nic;
    let mr = nic.alloc_mr(&end.pd, MrKind::Registered).unwrap();
    let pages: Vec<u64> = buf
        .pfns()
        .map(|pfn| nic.platform().page_logical_address(pfn))
        .collect();
    let reg = Registration {
        pages: &pages,
        first_byte_offset: 0,
        iova,
        length: buf.len() as u64,
        access,
    };
    let (l, r) = done(nic.register_mr(&mr, &reg, CmdToken(3)).unwrap());
    assert_eq!(l, r);
    (mr, l)
}

fn poll(end: &mut End) -> Vec<Completion> {
    let mut out = [Completion::EMPTY; 8];
    let mut all = Vec::new();
    loop {
        let n = end.dev.nic.poll_cq(&mut end.cq.poller, &mut out);
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&out[..n]);
    }
}

fn send_wr(wr_id: u64, op: SendOp<'_>) -> SendWr<'_> {
    SendWr {
        wr_id,
        op,
        flags: WrFlags::SIGNALED,
    }
}

fn post(end: &mut End, wr: &SendWr<'_>) {
    end.dev.nic.post_send(&mut end.qp.sq, wr).unwrap();
    end.dev.nic.ring_sq(&mut end.qp.sq);
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

// --- tests --------------------------------------------------------------------------------

#[test]
fn write_and_read_move_real_bytes_and_bounds_violation_leaves_target_unchanged() {
    let (_f, mut a, mut b) = connected();
    let len = 3 * PAGE_SIZE;
    let src = HostBuffer::new(len);
    let dst = HostBuffer::new(len);
    let data = pattern(len, 7);
    src.write(0, &data);
    let (_smr, skey) = register(&a, &src, 0x10_0000, Access::LOCAL_WRITE);
    let rights = Access::LOCAL_WRITE | Access::REMOTE_WRITE | Access::REMOTE_READ;
    let (_dmr, dkey) = register(&b, &dst, 0x70_0000, rights);

    // Write crossing page boundaries on both sides (offset 100 into 2 pages + a bit).
    let n = 2 * PAGE_SIZE + 300;
    let sge = [Sge {
        addr: 0x10_0000,
        length: n as u32,
        lkey: skey,
    }];
    post(
        &mut a,
        &send_wr(
            1,
            SendOp::Write {
                payload: Payload::Sgl(&sge),
                remote_addr: 0x70_0000 + 100,
                rkey: dkey,
            },
        ),
    );
    let c = poll(&mut a);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].wr_id, c[0].status, c[0].opcode, c[0].qp_context),
        (1, WcStatus::Success, WcOpcode::Write, 100)
    );
    let got = dst.to_vec();
    assert_eq!(&got[100..100 + n], &data[..n]);
    assert!(got[..100].iter().all(|&x| x == 0));

    // Read it back into a fresh local buffer through two SGEs.
    let back = HostBuffer::new(len);
    let (_bmr, bkey) = register(&a, &back, 0x20_0000, Access::LOCAL_WRITE);
    let sinks = [
        Sge {
            addr: 0x20_0000,
            length: 1000,
            lkey: bkey,
        },
        Sge {
            addr: 0x20_0000 + 4000,
            length: (n - 1000) as u32,
            lkey: bkey,
        },
    ];
    post(
        &mut a,
        &send_wr(
            2,
            SendOp::Read {
                sgl: &sinks,
                remote_addr: 0x70_0000 + 100,
                rkey: dkey,
            },
        ),
    );
    assert_eq!(poll(&mut a)[0].status, WcStatus::Success);
    let r = back.to_vec();
    assert_eq!(&r[..1000], &data[..1000]);
    assert_eq!(&r[4000..4000 + n - 1000], &data[1000..n]);

    // One byte past the end of the target: RemoteAccess, nothing written, both QPs in error.
    let before = dst.to_vec();
    src.fill(0xEE);
    let sge = [Sge {
        addr: 0x10_0000,
        length: 200,
        lkey: skey,
    }];
    let wr = send_wr(
        3,
        SendOp::Write {
            payload: Payload::Sgl(&sge),
            remote_addr: 0x70_0000 + len as u64 - 199,
            rkey: dkey,
        },
    );
    a.dev.nic.post_send(&mut a.qp.sq, &wr).unwrap();
    a.dev
        .nic
        .post_send(
            &mut a.qp.sq,
            &send_wr(
                4,
                SendOp::Send {
                    payload: Payload::Inline(b"x"),
                    invalidate_rkey: None,
                },
            ),
        )
        .unwrap();
    a.dev.nic.ring_sq(&mut a.qp.sq);
    let c = poll(&mut a);
    assert_eq!(
        c.iter().map(|c| (c.wr_id, c.status)).collect::<Vec<_>>(),
        [(3, WcStatus::RemoteAccess), (4, WcStatus::Flushed)]
    );
    assert_eq!(dst.to_vec(), before);
    assert!(a
        .dev
        .take()
        .iter()
        .any(|e| matches!(e, HalEvent::QpError { qp_ctx: 100 })));
    assert!(b
        .dev
        .take()
        .iter()
        .any(|e| matches!(e, HalEvent::QpError { qp_ctx: 200 })));
    let _ = poll(&mut b);
}

#[test]
fn wrong_key_rights_and_pd_are_refused() {
    let (_f, mut a, b) = connected();
    let buf = HostBuffer::new(PAGE_SIZE);
    let (_mr, key) = register(&b, &buf, 0x1000, Access::LOCAL_WRITE | Access::REMOTE_READ);
    // Remote write to a read-only registration.
    post(
        &mut a,
        &send_wr(
            1,
            SendOp::Write {
                payload: Payload::Inline(b"abc"),
                remote_addr: 0x1000,
                rkey: key,
            },
        ),
    );
    let c = poll(&mut a);
    assert_eq!(
        (c[0].status, c[0].vendor_error),
        (WcStatus::RemoteAccess, memory::Fault::Rights as u32)
    );
    assert!(buf.to_vec().iter().all(|&x| x == 0));
}

#[test]
fn send_waits_for_a_receive_posted_later() {
    let (_f, mut a, mut b) = connected();
    let rbuf = HostBuffer::new(PAGE_SIZE);
    let (_mr, rkey) = register(&b, &rbuf, 0x4000, Access::LOCAL_WRITE);

    let wr = SendWr {
        wr_id: 9,
        op: SendOp::Send {
            payload: Payload::Inline(b"late receive"),
            invalidate_rkey: None,
        },
        flags: WrFlags::SIGNALED | WrFlags::SOLICITED,
    };
    post(&mut a, &wr);
    assert!(
        poll(&mut a).is_empty(),
        "the send must wait (RNR) until a receive is posted"
    );

    b.dev.nic.arm_cq(&mut b.cq.poller, true);
    let sgl = [Sge {
        addr: 0x4000,
        length: 64,
        lkey: rkey,
    }];
    b.dev
        .nic
        .post_recv(
            b.qp.rq.as_mut().unwrap(),
            &RecvWr {
                wr_id: 77,
                sgl: &sgl,
            },
        )
        .unwrap();

    let rc = poll(&mut b);
    assert_eq!(rc.len(), 1);
    assert_eq!(
        (
            rc[0].wr_id,
            rc[0].status,
            rc[0].opcode,
            rc[0].byte_len,
            rc[0].qp_context
        ),
        (77, WcStatus::Success, WcOpcode::Receive, 12, 200)
    );
    assert_eq!(&rbuf.to_vec()[..12], b"late receive");
    assert!(
        b.dev
            .take()
            .iter()
            .any(|e| matches!(e, HalEvent::CqNotify { cq_ctx: 201 })),
        "solicited receive fires a solicited-only arm"
    );
    let sc = poll(&mut a);
    assert_eq!(
        (sc.len(), sc[0].wr_id, sc[0].status, sc[0].opcode),
        (1, 9, WcStatus::Success, WcOpcode::Send)
    );
}

#[test]
fn receive_overflow_fails_both_sides() {
    let (_f, mut a, mut b) = connected();
    let rbuf = HostBuffer::new(PAGE_SIZE);
    let (_mr, rkey) = register(&b, &rbuf, 0, Access::LOCAL_WRITE);
    let sgl = [Sge {
        addr: 0,
        length: 4,
        lkey: rkey,
    }];
    b.dev
        .nic
        .post_recv(
            b.qp.rq.as_mut().unwrap(),
            &RecvWr {
                wr_id: 1,
                sgl: &sgl,
            },
        )
        .unwrap();
    post(
        &mut a,
        &send_wr(
            2,
            SendOp::Send {
                payload: Payload::Inline(b"too long"),
                invalidate_rkey: None,
            },
        ),
    );
    assert_eq!(poll(&mut b)[0].status, WcStatus::ReceiveOverflow);
    assert_eq!(poll(&mut a)[0].status, WcStatus::RemoteInvalidRequest);
    assert!(rbuf.to_vec().iter().all(|&x| x == 0));
}

#[test]
fn flush_completes_everything_in_order_exactly_once() {
    let (_f, mut a, _b) = connected();
    let nic = a.dev.nic.clone();
    let rq = a.qp.rq.as_mut().unwrap();
    for i in 0..3 {
        nic.post_recv(
            rq,
            &RecvWr {
                wr_id: 10 + i,
                sgl: &[],
            },
        )
        .unwrap();
    }
    // Sends wait for receives the peer never posts; one is posted but not rung.
    for i in 0..3 {
        let wr = SendWr {
            wr_id: 20 + i,
            op: SendOp::Send {
                payload: Payload::Inline(b"x"),
                invalidate_rkey: None,
            },
            flags: WrFlags::empty(),
        };
        nic.post_send(&mut a.qp.sq, &wr).unwrap();
        if i < 2 {
            nic.ring_sq(&mut a.qp.sq);
        }
    }
    assert!(poll(&mut a).is_empty());

    nic.flush_qp(&a.qp.qp);
    nic.flush_qp(&a.qp.qp);
    let c = poll(&mut a);
    let ids: Vec<(u64, WcStatus)> = c.iter().map(|c| (c.wr_id, c.status)).collect();
    let flushed = |ids: &[u64]| {
        ids.iter()
            .map(|&i| (i, WcStatus::Flushed))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids, flushed(&[20, 21, 22, 10, 11, 12]));
    assert!(c.iter().all(|c| c.qp_context == 100));

    // Later posts flush at once, in order; nothing completes twice.
    nic.post_send(
        &mut a.qp.sq,
        &send_wr(
            30,
            SendOp::Send {
                payload: Payload::Inline(b""),
                invalidate_rkey: None,
            },
        ),
    )
    .unwrap();
    nic.post_recv(
        a.qp.rq.as_mut().unwrap(),
        &RecvWr {
            wr_id: 31,
            sgl: &[],
        },
    )
    .unwrap();
    nic.ring_sq(&mut a.qp.sq);
    assert_eq!(
        poll(&mut a)
            .iter()
            .map(|c| (c.wr_id, c.status))
            .collect::<Vec<_>>(),
        flushed(&[30, 31])
    );
    let tok = CmdToken(5);
    let End { qp, .. } = a;
    done(nic.destroy_qp(qp, tok));
    let mut out = [Completion::EMPTY; 4];
    assert_eq!(nic.poll_cq(&mut a.cq.poller, &mut out), 0);
}

#[test]
fn pending_commands_complete_with_command_complete() {
    let fabric = Fabric::new();
    let dev = Dev::new(&fabric, A_IP);
    let nic = &dev.nic;
    let pd = nic.create_pd().unwrap();
    nic.pend(MockOp::CreateCq);
    nic.pend(MockOp::RegisterMr);
    let (cq, cmd) = nic.create_cq(8, 5, CmdToken(11)).unwrap();
    assert!(matches!(cmd, Cmd::Pending));
    let buf = HostBuffer::new(PAGE_SIZE);
    let mr = nic.alloc_mr(&pd, MrKind::Registered).unwrap();
    let pages = buf.pages();
    let reg = Registration {
        pages: &pages,
        first_byte_offset: 0,
        iova: 0,
        length: 4096,
        access: Access::LOCAL_WRITE,
    };
    assert!(matches!(
        nic.register_mr(&mr, &reg, CmdToken(12)).unwrap(),
        Cmd::Pending
    ));
    assert_eq!(nic.pending_count(), 2);
    assert!(dev.take().is_empty());

    nic.complete_pending();
    let ev = dev.take();
    match ev.as_slice() {
        [HalEvent::CommandComplete {
            token: CmdToken(11),
            result: Ok(CmdValue::Unit),
        }, HalEvent::CommandComplete {
            token: CmdToken(12),
            result: Ok(CmdValue::Keys(l, r)),
        }] => {
            assert_eq!(l, r);
            assert_ne!(*l, nic.privileged_lkey());
        }
        other => panic!("unexpected events {other:?}"),
    }

    // A failed completion leaves the MR unregistered; a scripted destroy failure completes
    // through an event too.
    nic.unpend(MockOp::CreateCq);
    done(nic.deregister_mr(&mr, CmdToken(13)).unwrap());
    assert!(matches!(
        nic.register_mr(&mr, &reg, CmdToken(14)).unwrap(),
        Cmd::Pending
    ));
    nic.complete_pending_with(HalError::NoResources);
    assert!(matches!(
        dev.take().as_slice(),
        [HalEvent::CommandComplete {
            token: CmdToken(14),
            result: Err(HalError::NoResources)
        }]
    ));
    assert_eq!(
        nic.deregister_mr(&mr, CmdToken(15)).unwrap_err(),
        HalError::InvalidState
    );
    nic.fail_next(MockOp::DestroyCq, HalError::Fatal);
    assert!(matches!(nic.destroy_cq(cq, CmdToken(16)), Cmd::Pending));
    assert!(matches!(
        dev.take().as_slice(),
        [HalEvent::CommandComplete {
            token: CmdToken(16),
            result: Err(HalError::Fatal)
        }]
    ));
    nic.free_mr(mr);
    nic.destroy_pd(pd);
    assert_eq!(nic.live_objects(), LiveObjects::default());
}

#[test]
fn fail_next_fails_once() {
    let fabric = Fabric::new();
    let dev = Dev::new(&fabric, A_IP);
    dev.nic.fail_next(MockOp::CreatePd, HalError::NoResources);
    assert_eq!(dev.nic.create_pd().unwrap_err(), HalError::NoResources);
    let pd = dev.nic.create_pd().unwrap();
    dev.nic.destroy_pd(pd);
    assert_eq!(
        dev.nic.calls(),
        [
            MockCall::AttachInterrupt,
            MockCall::CreatePd,
            MockCall::CreatePd,
            MockCall::DestroyPd
        ]
    );
}

#[test]
fn fast_path_does_not_allocate() {
    let (_f, mut a, mut b) = connected();
    let sbuf = HostBuffer::new(PAGE_SIZE);
    let rbuf = HostBuffer::new(PAGE_SIZE);
    let (_m1, skey) = register(&a, &sbuf, 0, Access::LOCAL_WRITE);
    let (_m2, rkey) = register(&b, &rbuf, 0, Access::LOCAL_WRITE | Access::REMOTE_WRITE);
    let mut out = [Completion::EMPTY; 4];
    a.dev.events.lock().unwrap().reserve(64);
    b.dev.events.lock().unwrap().reserve(64);
    let before = allocs();
    for i in 0..100u64 {
        let sgl = [Sge {
            addr: 0,
            length: 64,
            lkey: rkey,
        }];
        b.dev
            .nic
            .post_recv(
                b.qp.rq.as_mut().unwrap(),
                &RecvWr {
                    wr_id: i,
                    sgl: &sgl,
                },
            )
            .unwrap();
        let sge = [Sge {
            addr: 0,
            length: 64,
            lkey: skey,
        }];
        a.dev
            .nic
            .post_send(
                &mut a.qp.sq,
                &send_wr(
                    i,
                    SendOp::Send {
                        payload: Payload::Sgl(&sge),
                        invalidate_rkey: None,
                    },
                ),
            )
            .unwrap();
        a.dev
            .nic
            .post_send(
                &mut a.qp.sq,
                &send_wr(
                    i,
                    SendOp::Write {
                        payload: Payload::Inline(b"inline"),
                        remote_addr: 8,
                        rkey,
                    },
                ),
            )
            .unwrap();
        a.dev.nic.ring_sq(&mut a.qp.sq);
        b.dev.nic.arm_cq(&mut b.cq.poller, false);
        a.dev.nic.arm_cq(&mut a.cq.poller, false);
        while a.dev.nic.poll_cq(&mut a.cq.poller, &mut out) > 0 {}
        while b.dev.nic.poll_cq(&mut b.cq.poller, &mut out) > 0 {}
        // The collecting handler's Vec is pre-grown; clear it without freeing.
        a.dev.events.lock().unwrap().clear();
        b.dev.events.lock().unwrap().clear();
    }
    assert_eq!(allocs() - before, 0);
    assert_eq!(a.dev.nic.doorbells(), 100);
}

#[test]
fn arm_notifies_once_and_at_once_when_completions_wait() {
    let (_f, mut a, _b) = connected();
    let nic = a.dev.nic.clone();
    nic.set_auto_interrupt(false);
    nic.arm_cq(&mut a.cq.poller, false);
    nic.inject_completion(
        101,
        Completion {
            wr_id: 1,
            ..Completion::EMPTY
        },
    );
    nic.inject_completion(
        101,
        Completion {
            wr_id: 2,
            ..Completion::EMPTY
        },
    );
    assert!(a.dev.take().is_empty(), "manual mode: no handler call");
    nic.fire_interrupt();
    let ev = a.dev.take();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, HalEvent::CqNotify { cq_ctx: 101 }))
            .count(),
        1
    );
    nic.set_auto_interrupt(true);
    // Completions are waiting: arming notifies at once.
    nic.arm_cq(&mut a.cq.poller, false);
    assert!(matches!(
        a.dev.take().as_slice(),
        [HalEvent::CqNotify { cq_ctx: 101 }]
    ));
    // Solicited-only: successful unsolicited entries do not qualify.
    nic.arm_cq(&mut a.cq.poller, true);
    assert!(a.dev.take().is_empty());
    assert_eq!(poll(&mut a).len(), 2);
}

#[test]
fn cq_overrun_reports_once_and_drops() {
    let (_f, mut a, _b) = connected();
    for i in 0..70 {
        a.dev.nic.inject_completion(
            101,
            Completion {
                wr_id: i,
                ..Completion::EMPTY
            },
        );
    }
    let ev = a.dev.take();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(
                e,
                HalEvent::CqError {
                    cq_ctx: 101,
                    kind: crate::CqErrorKind::Overrun
                }
            ))
            .count(),
        1
    );
    assert_eq!(poll(&mut a).len(), 64);
}

#[test]
fn connect_failures_and_disconnect() {
    let fabric = Fabric::new();
    let a = Dev::new(&fabric, A_IP);
    let b = Dev::new(&fabric, B_IP);
    let (_apd, _acq, aqp) = objects(&a, 100);
    let (_bpd, _bcq, bqp) = objects(&b, 200);
    let local = SocketAddr::new(A_IP, 1);

    let c1 = a
        .nic
        .cm_connect(
            &aqp.qp,
            local,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)), PORT),
            1,
            1,
            &[],
            1,
        )
        .unwrap();
    assert!(matches!(
        a.take().as_slice(),
        [HalEvent::Cm(CmEvent::ConnectFailed {
            ctx: 1,
            error: HalError::Timeout,
            ..
        })]
    ));
    a.nic.cm_release(c1);
    let c2 = a
        .nic
        .cm_connect(&aqp.qp, local, SocketAddr::new(B_IP, PORT), 1, 1, &[], 2)
        .unwrap();
    assert!(matches!(
        a.take().as_slice(),
        [HalEvent::Cm(CmEvent::ConnectFailed {
            ctx: 2,
            error: HalError::ConnectionRefused,
            ..
        })]
    ));
    a.nic.cm_release(c2);

    let l = b
        .nic
        .cm_listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT), 9)
        .unwrap();
    assert_eq!(
        b.nic
            .cm_listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT), 9)
            .unwrap_err(),
        HalError::AddressInUse
    );
    let c3 = a
        .nic
        .cm_connect(&aqp.qp, local, SocketAddr::new(B_IP, PORT), 1, 1, &[], 3)
        .unwrap();
    let HalEvent::Cm(CmEvent::ConnectRequest { conn, .. }) = b.take()[0] else {
        panic!("no request")
    };
    b.nic.cm_reject(conn, b"no").unwrap();
    match a.take().as_slice() {
        [HalEvent::Cm(CmEvent::ConnectFailed {
            ctx: 3,
            error: HalError::ConnectionRefused,
            private_data,
        })] => assert_eq!(private_data.as_slice(), b"no"),
        other => panic!("{other:?}"),
    }
    a.nic.cm_release(c3);
    b.nic.cm_release(conn);

    // Connect for real, then disconnect from the passive side.
    let c4 = a
        .nic
        .cm_connect(&aqp.qp, local, SocketAddr::new(B_IP, PORT), 1, 1, &[], 4)
        .unwrap();
    let HalEvent::Cm(CmEvent::ConnectRequest { conn, .. }) = b.take()[0] else {
        panic!("no request")
    };
    b.nic.cm_attach(conn, 40);
    b.nic.cm_accept(conn, &bqp.qp, 1, 1, &[]).unwrap();
    a.take();
    a.nic.cm_complete(c4).unwrap();
    assert_eq!(a.nic.cm_complete(c4).unwrap_err(), HalError::InvalidState);
    b.take();
    b.nic.cm_disconnect(conn).unwrap();
    assert!(matches!(
        a.take().as_slice(),
        [HalEvent::Cm(CmEvent::PeerDisconnected {
            ctx: 4,
            reason: 0
        })]
    ));
    assert!(matches!(
        b.take().as_slice(),
        [HalEvent::Cm(CmEvent::DisconnectComplete {
            ctx: 40,
            error: None
        })]
    ));
    a.nic.cm_disconnect(c4).unwrap();
    assert!(matches!(
        a.take().as_slice(),
        [HalEvent::Cm(CmEvent::DisconnectComplete {
            ctx: 4,
            error: None
        })]
    ));
    // A QP is connected only once.
    a.nic.cm_release(c4);
    assert_eq!(
        a.nic
            .cm_connect(&aqp.qp, local, SocketAddr::new(B_IP, PORT), 1, 1, &[], 5)
            .unwrap_err(),
        HalError::InvalidState
    );
    b.nic.cm_release(conn);
    b.nic.cm_stop_listen(l);
    assert_eq!(
        (
            a.nic.live_objects().conn,
            b.nic.live_objects().conn,
            b.nic.live_objects().listen
        ),
        (0, 0, 0)
    );
}

#[test]
fn removal_fails_peer_sends_with_retry_exceeded() {
    let (_f, mut a, b) = connected();
    post(
        &mut a,
        &send_wr(
            1,
            SendOp::Send {
                payload: Payload::Inline(b"x"),
                invalidate_rkey: None,
            },
        ),
    );
    post(
        &mut a,
        &send_wr(
            2,
            SendOp::Send {
                payload: Payload::Inline(b"y"),
                invalidate_rkey: None,
            },
        ),
    );
    b.dev.nic.remove();
    let c = poll(&mut a);
    assert_eq!(
        c.iter().map(|c| (c.wr_id, c.status)).collect::<Vec<_>>(),
        [(1, WcStatus::RetryExceeded), (2, WcStatus::Flushed)]
    );
    let ev = a.dev.take();
    assert!(
        matches!(
            ev.as_slice(),
            [
                HalEvent::QpError { qp_ctx: 100 },
                HalEvent::Cm(CmEvent::PeerDisconnected { ctx: 1000, .. })
            ]
        ),
        "{ev:?}"
    );
    assert!(matches!(b.dev.take().last(), Some(HalEvent::DeviceRemoved)));
    assert_eq!(b.dev.nic.create_pd().unwrap_err(), HalError::DeviceRemoved);
    // The surviving side disconnects its half; later sends flush.
    a.dev.nic.cm_disconnect(a.conn).unwrap();
    assert!(matches!(
        a.dev.take().as_slice(),
        [HalEvent::Cm(CmEvent::DisconnectComplete {
            ctx: 1000,
            error: None
        })]
    ));
    a.dev.nic.cm_release(a.conn);
    b.dev.nic.cm_release(b.conn);
    assert_eq!(
        (a.dev.nic.live_objects().conn, b.dev.nic.live_objects().conn),
        (0, 0)
    );
}

#[test]
fn fast_register_invalidate_and_windows() {
    let (_f, mut a, mut b) = connected();
    let nic = b.dev.nic.clone();
    let buf = HostBuffer::new(2 * PAGE_SIZE);
    let fr = nic.alloc_mr(&b.pd, MrKind::FastRegister).unwrap();
    let (key, _) = done(nic.init_fast_register(&fr, 4, true, CmdToken(1)).unwrap());
    let pages = buf.pages();
    let rights = Access::LOCAL_WRITE | Access::REMOTE_WRITE;
    let frwr = |id| {
        send_wr(
            id,
            SendOp::FastRegister {
                key,
                pages: &pages,
                first_byte_offset: 16,
                iova: 0x9000,
                length: 5000,
                access: rights,
            },
        )
    };
    post(&mut b, &frwr(1));
    assert_eq!(poll(&mut b)[0].opcode, WcOpcode::FastRegister);

    post(
        &mut a,
        &send_wr(
            2,
            SendOp::Write {
                payload: Payload::Inline(b"fr!"),
                remote_addr: 0x9000 + 4090,
                rkey: key,
            },
        ),
    );
    assert_eq!(poll(&mut a)[0].status, WcStatus::Success);
    assert_eq!(&buf.to_vec()[16 + 4090..16 + 4093], b"fr!");

    // Window over the FR MR, used remotely, then invalidated by the peer's send.
    let (mw, mw_key) = nic.alloc_mw(&b.pd).unwrap();
    post(
        &mut b,
        &send_wr(
            3,
            SendOp::Bind {
                mw_rkey: mw_key,
                mr_lkey: key,
                addr: 0x9000,
                length: 100,
                access: Access::REMOTE_WRITE,
            },
        ),
    );
    assert_eq!(poll(&mut b)[0].status, WcStatus::Success);
    post(
        &mut a,
        &send_wr(
            4,
            SendOp::Write {
                payload: Payload::Inline(b"mw"),
                remote_addr: 0x9000,
                rkey: mw_key,
            },
        ),
    );
    assert_eq!(poll(&mut a)[0].status, WcStatus::Success);
    assert_eq!(&buf.to_vec()[16..18], b"mw");
    nic.post_recv(b.qp.rq.as_mut().unwrap(), &RecvWr { wr_id: 5, sgl: &[] })
        .unwrap();
    post(
        &mut a,
        &send_wr(
            6,
            SendOp::Send {
                payload: Payload::Inline(b""),
                invalidate_rkey: Some(mw_key),
            },
        ),
    );
    let rc = poll(&mut b);
    assert_eq!(
        (rc[0].opcode, rc[0].invalidated_rkey),
        (WcOpcode::ReceiveInvalidate, mw_key)
    );
    assert_eq!(poll(&mut a)[0].status, WcStatus::Success);

    // Local invalidate of the FR MR; a second one is a bad request.
    post(&mut b, &send_wr(7, SendOp::Invalidate { key }));
    assert_eq!(poll(&mut b)[0].status, WcStatus::Success);
    post(&mut b, &send_wr(8, SendOp::Invalidate { key }));
    assert_eq!(poll(&mut b)[0].status, WcStatus::BadRequest);
    nic.free_mw(mw);
    nic.free_mr(fr);
}

#[test]
fn handler_may_call_back_into_the_nic() {
    let fabric = Fabric::new();
    let nic = MockNic::new(&fabric, default_caps(), &[A_IP]);
    let (pd, cq, _qp) = {
        let dev = Dev {
            nic: nic.clone(),
            events: Arc::new(Mutex::new(Vec::new())),
        };
        objects(&dev, 1)
    };
    let poller = Arc::new(Mutex::new(Some(cq.poller)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (weak, p2, s2) = (Arc::downgrade(&nic), poller.clone(), seen.clone());
    nic.attach_interrupt(
        crate::karc::KFn::try_new(move || {
            let Some(nic) = weak.upgrade() else { return };
            while let Some(e) = nic.next_event() {
                if let HalEvent::CqNotify { .. } = e {
                    let mut out = [Completion::EMPTY; 4];
                    let mut guard = p2.lock().unwrap();
                    let p = guard.as_mut().unwrap();
                    let n = nic.poll_cq(p, &mut out);
                    s2.lock().unwrap().extend_from_slice(&out[..n]);
                    nic.arm_cq(p, false); // re-arm from inside the handler
                }
            }
        })
        .expect("alloc"),
    );
    nic.arm_cq(poller.lock().unwrap().as_mut().unwrap(), false);
    nic.inject_completion(
        2,
        Completion {
            wr_id: 42,
            ..Completion::EMPTY
        },
    );
    nic.inject_completion(
        2,
        Completion {
            wr_id: 43,
            ..Completion::EMPTY
        },
    );
    assert_eq!(
        seen.lock()
            .unwrap()
            .iter()
            .map(|c| c.wr_id)
            .collect::<Vec<_>>(),
        [42, 43]
    );
    nic.destroy_pd(pd);
}

#[test]
fn platform_clock_and_dma() {
    let p = MockPlatform::new();
    p.set_real_time(false);
    let t = p.now_ns();
    p.advance_ns(1_000);
    assert_eq!(p.now_ns(), t + 1_000);
    assert_eq!(p.page_logical_address(0x1234), 0x1234 << 12);
    let r = p.alloc_dma(100).unwrap();
    assert_eq!(r.bus_address() % 4096, 0);
    assert_eq!(r.read_u64(0), Some(0));
    assert_eq!(p.live_dma(), 1);
    p.free_dma(r);
    assert_eq!(p.live_dma(), 0);
}

/// Connects `aqp` to `bqp` (b listens on `port`); returns both connection ids.
fn handshake(a: &Dev, aqp: &Qp, b: &Dev, bqp: &Qp, port: u16) -> (ConnId, ConnId) {
    let l = b.nic.cm_listen(SocketAddr::new(B_IP, port), 1).unwrap();
    let ac = a
        .nic
        .cm_connect(
            aqp,
            SocketAddr::new(A_IP, port),
            SocketAddr::new(B_IP, port),
            1,
            1,
            &[],
            11,
        )
        .unwrap();
    let HalEvent::Cm(CmEvent::ConnectRequest { conn: bc, .. }) = b.take()[0] else {
        panic!("no request")
    };
    b.nic.cm_attach(bc, 22);
    b.nic.cm_accept(bc, bqp, 1, 1, &[]).unwrap();
    a.take();
    a.nic.cm_complete(ac).unwrap();
    b.take();
    b.nic.cm_stop_listen(l);
    (ac, bc)
}

#[test]
fn srq_receives_limit_and_queue_full() {
    let fabric = Fabric::new();
    let a = Dev::new(&fabric, A_IP);
    let b = Dev::new(&fabric, B_IP);
    let (_apd, mut acq, mut aqp) = objects(&a, 100);
    let bpd = b.nic.create_pd().unwrap();
    let (mut bcq, c) = b.nic.create_cq(16, 201, CmdToken(1)).unwrap();
    done(c);
    let (srq, mut poster, c) = b.nic.create_srq(&bpd, 2, 1, 300, CmdToken(2)).unwrap();
    done(c);
    let params = QpParams {
        pd: &bpd,
        send_cq: &bcq.cq,
        recv_cq: &bcq.cq,
        srq: Some(&srq),
        sq_depth: 4,
        rq_depth: 0,
        max_send_sge: 1,
        max_recv_sge: 1,
        max_inline: 0,
        context: 200,
    };
    let (bqp, c) = b.nic.create_qp(&params, CmdToken(3)).unwrap();
    done(c);
    assert!(bqp.rq.is_none());
    handshake(&a, &aqp.qp, &b, &bqp.qp, 9000);

    // Two sends wait for SRQ receives; each posted receive lets one run.
    let send = |id| {
        send_wr(
            id,
            SendOp::Send {
                payload: Payload::Inline(b"srq"),
                invalidate_rkey: None,
            },
        )
    };
    a.nic.post_send(&mut aqp.sq, &send(1)).unwrap();
    a.nic.post_send(&mut aqp.sq, &send(2)).unwrap();
    a.nic.ring_sq(&mut aqp.sq);
    let buf = HostBuffer::new(PAGE_SIZE);
    let mr = b.nic.alloc_mr(&bpd, MrKind::Registered).unwrap();
    let pages = buf.pages();
    let reg = Registration {
        pages: &pages,
        first_byte_offset: 0,
        iova: 0,
        length: 4096,
        access: Access::LOCAL_WRITE,
    };
    let (key, _) = done(b.nic.register_mr(&mr, &reg, CmdToken(4)).unwrap());
    let sgl = [Sge {
        addr: 0,
        length: 16,
        lkey: key,
    }];
    b.nic
        .post_srq_recv(
            &mut poster,
            &RecvWr {
                wr_id: 10,
                sgl: &sgl,
            },
        )
        .unwrap();
    let mut out = [Completion::EMPTY; 8];
    assert_eq!(b.nic.poll_cq(&mut bcq.poller, &mut out), 1);
    assert_eq!(
        (out[0].wr_id, out[0].qp_context, out[0].byte_len),
        (10, 200, 3)
    );
    assert_eq!(a.nic.poll_cq(&mut acq.poller, &mut out), 1);

    // Depth 2: a third queued receive does not fit.
    b.nic.arm_srq_limit(&srq, 1);
    let sgl = [Sge {
        addr: 16,
        length: 16,
        lkey: key,
    }];
    b.nic
        .post_srq_recv(
            &mut poster,
            &RecvWr {
                wr_id: 11,
                sgl: &sgl,
            },
        )
        .unwrap(); // taken by send 2
    b.nic
        .post_srq_recv(
            &mut poster,
            &RecvWr {
                wr_id: 12,
                sgl: &sgl,
            },
        )
        .unwrap();
    b.nic
        .post_srq_recv(
            &mut poster,
            &RecvWr {
                wr_id: 13,
                sgl: &sgl,
            },
        )
        .unwrap();
    assert_eq!(
        b.nic
            .post_srq_recv(
                &mut poster,
                &RecvWr {
                    wr_id: 14,
                    sgl: &sgl
                }
            )
            .unwrap_err(),
        HalError::QueueFull
    );
    assert_eq!(b.nic.srq_queued(&srq), 2);
    assert!(b
        .take()
        .iter()
        .any(|e| matches!(e, HalEvent::SrqLimit { srq_ctx: 300 })));
    assert_eq!(b.nic.poll_cq(&mut bcq.poller, &mut out), 1);
    assert_eq!(out[0].wr_id, 11);
    assert_eq!(&buf.to_vec()[..3], b"srq");
    assert_eq!(&buf.to_vec()[16..19], b"srq");

    // Flushing the QP leaves SRQ receives queued.
    b.nic.flush_qp(&bqp.qp);
    assert_eq!(b.nic.srq_queued(&srq), 2);
}
