//! Two RDMA endpoints on a [`Network`] of any NIC model, driven through `hal::NicHal`: a
//! PD, CQ, QP and registered buffer per side, connected through the connection manager.
//! What both models' tests build on.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::vec::Vec;

use hal::mock::HostBuffer;
use hal::{
    Access, CmEvent, Cmd, CmdToken, CmdValue, Completion, ConnId, CqParts, HalError, HalEvent,
    MrKind, NicHal, Payload, QpParams, QpParts, RecvWr, Registration, SendOp, SendWr, Sge,
    WcOpcode, WcStatus, WrFlags,
};

use crate::network::{Network, NicModel};

/// Bytes of each side's registered buffer.
pub const BUF: usize = 1 << 20;

/// 10.0.0.`last`.
pub fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// An SRQ and its poster.
pub type SrqParts<N> = (<N as NicHal>::Srq, <N as NicHal>::SrqPoster);

/// Events of one NIC, pumped from `next_event`.
#[derive(Default)]
pub struct Events(pub Vec<HalEvent>);

impl Events {
    pub fn pump<N: NicHal>(&mut self, nic: &Arc<N>) {
        while let Some(e) = nic.next_event() {
            self.0.push(e);
        }
    }

    pub fn take_cmd(&mut self, token: u64) -> Option<Result<CmdValue, HalError>> {
        let i = self.0.iter().position(
            |e| matches!(e, HalEvent::CommandComplete { token: t, .. } if t.0 == token),
        )?;
        match self.0.remove(i) {
            HalEvent::CommandComplete { result, .. } => Some(result),
            _ => None,
        }
    }

    pub fn take_cm(&mut self) -> Option<CmEvent> {
        let i = self.0.iter().position(|e| matches!(e, HalEvent::Cm(_)))?;
        match self.0.remove(i) {
            HalEvent::Cm(c) => Some(c),
            _ => None,
        }
    }
}

pub struct Side<M: NicModel>
where
    M::Nic: NicHal,
{
    pub nic: Arc<M::Nic>,
    pub ev: Events,
    pub pd: Option<<M::Nic as NicHal>::Pd>,
    pub cq: Option<CqParts<M::Nic>>,
    pub qp: Option<QpParts<M::Nic>>,
    pub buf: HostBuffer,
    pub srq: Option<SrqParts<M::Nic>>,
    pub mr: Option<<M::Nic as NicHal>::Mr>,
    pub lkey: u32,
    pub rkey: u32,
    pub token: u64,
}

pub fn wait<T, M: NicModel>(
    net: &Network<M>,
    s: &mut Side<M>,
    cmd: Cmd<T>,
    token: u64,
) -> Result<CmdValue, HalError>
where
    M::Nic: NicHal,
{
    if let Cmd::Done(_) = cmd {
        return Ok(CmdValue::Unit);
    }
    for _ in 0..100 {
        net.run_until_idle();
        s.ev.pump(&s.nic);
        if let Some(r) = s.ev.take_cmd(token) {
            return r;
        }
    }
    panic!("command {token} never completed");
}

impl<M: NicModel> Side<M>
where
    M::Nic: NicHal,
{
    pub fn new(net: &Network<M>, addr: IpAddr) -> Side<M> {
        Side::with_srq(net, addr, false)
    }

    pub fn with_srq(net: &Network<M>, addr: IpAddr, use_srq: bool) -> Side<M> {
        Side::on_nic(net, net.add_nic(addr), addr, use_srq)
    }

    /// A PD, CQ, QP (optionally on an SRQ) and a registered buffer on `nic` (address `addr`).
    pub fn on_nic(net: &Network<M>, nic: Arc<M::Nic>, addr: IpAddr, use_srq: bool) -> Side<M> {
        let mut s: Side<M> = Side {
            nic,
            ev: Events::default(),
            pd: None,
            cq: None,
            qp: None,
            buf: HostBuffer::new(BUF),
            srq: None,
            mr: None,
            lkey: 0,
            rkey: 0,
            token: 100,
        };
        let pd = s.nic.create_pd().unwrap();
        s.token += 1;
        let t = s.token;
        let (cq, cmd) = s.nic.create_cq(1024, 0xC0, CmdToken(t)).unwrap();
        wait(net, &mut s, cmd, t).unwrap();
        let srq = if use_srq {
            s.token += 1;
            let t = s.token;
            let (srq, poster, cmd) = s.nic.create_srq(&pd, 64, 2, 0x5150, CmdToken(t)).unwrap();
            wait(net, &mut s, cmd, t).unwrap();
            Some((srq, poster))
        } else {
            None
        };
        s.token += 1;
        let t = s.token;
        let (qp, cmd) = s
            .nic
            .create_qp(
                &QpParams {
                    pd: &pd,
                    send_cq: &cq.cq,
                    recv_cq: &cq.cq,
                    srq: srq.as_ref().map(|x| &x.0),
                    sq_depth: 256,
                    rq_depth: 256,
                    max_send_sge: 4,
                    max_recv_sge: 4,
                    max_inline: 64,
                    context: 0x9900
                        + u64::from(match addr {
                            IpAddr::V4(v) => v.octets()[3],
                            IpAddr::V6(_) => 0,
                        }),
                },
                CmdToken(t),
            )
            .unwrap();
        wait(net, &mut s, cmd, t).unwrap();
        s.pd = Some(pd);
        s.cq = Some(cq);
        s.qp = Some(qp);
        s.srq = srq;
        let (mr, lkey, rkey) = s.register_buffer(
            net,
            Access::LOCAL_WRITE | Access::REMOTE_READ | Access::REMOTE_WRITE | Access::MW_BIND,
        );
        s.lkey = lkey;
        s.rkey = rkey;
        s.mr = Some(mr);
        s
    }

    /// Registers the whole buffer as a new MR with `access`: the MR, its lkey and its rkey.
    pub fn register_buffer(
        &mut self,
        net: &Network<M>,
        access: Access,
    ) -> (<M::Nic as NicHal>::Mr, u32, u32) {
        let mr = self
            .nic
            .alloc_mr(self.pd.as_ref().unwrap(), MrKind::Registered)
            .unwrap();
        self.token += 1;
        let t = self.token;
        let pages = self.buf.pages();
        let cmd = self
            .nic
            .register_mr(
                &mr,
                &Registration {
                    pages: &pages,
                    first_byte_offset: 0,
                    iova: self.buf.addr(),
                    length: BUF as u64,
                    access,
                },
                CmdToken(t),
            )
            .unwrap();
        let (lkey, rkey) = match cmd {
            Cmd::Done(k) => k,
            Cmd::Pending => match wait(net, self, Cmd::<()>::Pending, t).unwrap() {
                CmdValue::Keys(l, r) => (l, r),
                CmdValue::Unit => panic!("no keys"),
            },
        };
        (mr, lkey, rkey)
    }

    pub fn post_recv(&mut self, wr_id: u64, off: usize, len: u32) {
        let sge = [Sge {
            addr: self.buf.addr() + off as u64,
            length: len,
            lkey: self.lkey,
        }];
        let rq = self.qp.as_mut().unwrap().rq.as_mut().unwrap();
        self.nic
            .post_recv(rq, &RecvWr { wr_id, sgl: &sge })
            .unwrap();
    }

    pub fn post(&mut self, wr: &SendWr<'_>) {
        let sq = &mut self.qp.as_mut().unwrap().sq;
        self.nic.post_send(sq, wr).unwrap();
        self.nic.ring_sq(sq);
    }

    pub fn sge(&self, off: usize, len: u32) -> Sge {
        Sge {
            addr: self.buf.addr() + off as u64,
            length: len,
            lkey: self.lkey,
        }
    }

    /// Every CM event the NIC has raised so far, oldest first.
    pub fn cm_events(&mut self) -> Vec<CmEvent> {
        self.ev.pump(&self.nic);
        core::iter::from_fn(|| self.ev.take_cm()).collect()
    }

    pub fn poll(&mut self) -> Vec<Completion> {
        let mut out = Vec::new();
        let blank = Completion {
            wr_id: 0,
            qp_context: 0,
            status: WcStatus::Success,
            opcode: WcOpcode::Send,
            byte_len: 0,
            invalidated_rkey: 0,
            vendor_error: 0,
        };
        let mut batch = [blank; 16];
        loop {
            let n = self
                .nic
                .poll_cq(&mut self.cq.as_mut().unwrap().poller, &mut batch);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&batch[..n]);
        }
    }
}

/// Two NICs with a QP each, connected through the CM agents.
pub fn connected<M: NicModel>(net: &Network<M>) -> (Side<M>, Side<M>, ConnId, ConnId)
where
    M::Nic: NicHal,
{
    connected_srq(net, false)
}

pub fn connected_srq<M: NicModel>(
    net: &Network<M>,
    srq_b: bool,
) -> (Side<M>, Side<M>, ConnId, ConnId)
where
    M::Nic: NicHal,
{
    let a = Side::new(net, ip(1));
    let b = Side::with_srq(net, ip(2), srq_b);
    connect_sides(net, a, b)
}

/// Connects `a` (at 10.0.0.1) to a listen of `b` (at 10.0.0.2) through the CM agents.
pub fn connect_sides<M: NicModel>(
    net: &Network<M>,
    mut a: Side<M>,
    mut b: Side<M>,
) -> (Side<M>, Side<M>, ConnId, ConnId)
where
    M::Nic: NicHal,
{
    let server = SocketAddr::new(ip(2), 4791);
    let _listen = b.nic.cm_listen(server, 0x11).unwrap();
    let client = SocketAddr::new(ip(1), 50000);
    let ca = a
        .nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            client,
            server,
            4,
            4,
            b"hello",
            0xAA,
        )
        .unwrap();
    net.run_until_idle();
    b.ev.pump(&b.nic);
    let req = b.ev.take_cm().expect("connect request");
    let CmEvent::ConnectRequest {
        conn: cb,
        private_data,
        remote,
        ..
    } = req
    else {
        panic!("unexpected {req:?}")
    };
    assert_eq!(&private_data.as_slice()[..5], b"hello");
    assert_eq!(remote, client);
    b.nic.cm_attach(cb, 0xBB);
    b.nic
        .cm_accept(cb, &b.qp.as_ref().unwrap().qp, 4, 4, b"welcome")
        .unwrap();
    net.run_until_idle();
    a.ev.pump(&a.nic);
    let rep = a.ev.take_cm().expect("connect reply");
    assert!(matches!(rep, CmEvent::ConnectReply { .. }), "{rep:?}");
    a.nic.cm_complete(ca).unwrap();
    net.run_until_idle();
    b.ev.pump(&b.nic);
    let est = b.ev.take_cm().expect("established");
    assert!(matches!(est, CmEvent::Established { .. }), "{est:?}");
    (a, b, ca, cb)
}

/// A signalled SEND of `payload`, invalidating `inv` at the responder when given.
pub fn send_wr<'a>(wr_id: u64, payload: Payload<'a>, inv: Option<u32>) -> SendWr<'a> {
    SendWr {
        wr_id,
        op: SendOp::Send {
            payload,
            invalidate_rkey: inv,
        },
        flags: WrFlags::SIGNALED,
    }
}

/// A signalled RDMA WRITE of `sge` to `raddr` under `rkey`.
pub fn write_wr<'a>(wr_id: u64, sge: &'a [Sge], raddr: u64, rkey: u32) -> SendWr<'a> {
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

/// A signalled RDMA READ from `raddr` under `rkey` into `sgl`.
pub fn read_wr<'a>(wr_id: u64, sgl: &'a [Sge], raddr: u64, rkey: u32) -> SendWr<'a> {
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

/// Sides at 10.0.0.1 and 10.0.0.2, `b` listening on `port` and `a` asking to connect with
/// `private_data` (context `ctx`); the request has reached `b`'s agent.
pub fn request<M: NicModel>(
    net: &Network<M>,
    port: u16,
    private_data: &[u8],
    ctx: u64,
) -> (Side<M>, Side<M>, <M::Nic as NicHal>::Listen)
where
    M::Nic: NicHal,
{
    let a = Side::new(net, ip(1));
    let b = Side::new(net, ip(2));
    let server = SocketAddr::new(ip(2), port);
    let listen = b.nic.cm_listen(server, 1).unwrap();
    a.nic
        .cm_connect(
            &a.qp.as_ref().unwrap().qp,
            SocketAddr::new(ip(1), port + 1),
            server,
            1,
            1,
            private_data,
            ctx,
        )
        .unwrap();
    net.run_until_idle();
    (a, b, listen)
}
