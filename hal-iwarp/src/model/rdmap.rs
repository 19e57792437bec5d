//! QPs and the RDMAP requester (docs/silicon/iwarp.md §5.3–§5.5, §6.4.6, §7, §9.4–§9.5,
//! §12.3): QP objects and their state machine, the send queue engine (Send and its variants,
//! RDMA Write, RDMA Read Request, local WQEs), completions in SQ order when TCP acknowledges
//! a message's last byte (or its last Read Response is placed), ERR and flushes.

use std::collections::VecDeque;
use std::vec::Vec;

use hal::ring;

use crate::admin::{check_modify, CmdStatus, CreateQpParams, QpAttr, QpAttrMask, QpState};
use crate::cqe::{syndrome, Cqe, CqeFlags, CqeOpcode, CqeStatus, TermInfo};
use crate::record::QpRecord;
use crate::regs;
use crate::stag::{AccessFlags, STag};
use crate::wqe::{
    DataSeg, FastRegPages, SendOpcode, SendWqe, SendWqeOp, WqeFlags, WqePayload, CTRL_SEG_SIZE,
};

use super::device::{read_u64s, Device, Pages, StagKind};
use super::tcp::ConnId;
use super::wire::rdmap::{segment_message, Opcode, ReadRequest, Target};
use fabric::dma;

/// A started SQ WQE waiting to complete (in SQ order).
#[derive(Clone, Debug)]
pub(crate) struct SqEntry {
    pub wqe_index: u16,
    pub wr_id: u64,
    pub opcode: CqeOpcode,
    pub signaled: bool,
    /// Sends and writes: the TCP stream offset just past the message's last FPDU.
    pub end: Option<u64>,
    /// Finished (acknowledged, placed, or local); completes once it is the oldest.
    pub done: bool,
    pub byte_count: u32,
    /// READ with LOCAL_INVALIDATE: the sink STag to invalidate on success.
    pub invalidate: Option<u32>,
}

/// An outstanding RDMA Read (requester, §9.5): Read Responses are placed only here.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadOut {
    pub sink_stag: u32,
    pub sink_to: u64,
    pub size: u32,
}

/// The receive WQE of the untagged message in progress (§5.4).
#[derive(Clone, Debug)]
pub(crate) struct RecvCur {
    pub wr_id: u64,
    pub wqe_index: u16,
    pub segs: Vec<DataSeg>,
    pub srqn: Option<u32>,
    /// Bytes of the message placed so far (the largest MO + length).
    pub bytes: u64,
}

/// A QP (§6.4.6).
#[derive(Debug)]
pub(crate) struct Qp {
    pub qpn: u32,
    pub pdn: u32,
    pub send_cqn: u32,
    pub recv_cqn: u32,
    pub srqn: Option<u32>,
    pub ctx: u64,
    pub sq_log2: u8,
    pub sq_stride: u8,
    pub rq_log2: u8,
    pub rq_stride: u8,
    pub buf: u64,
    pub record: u64,
    pub state: QpState,
    pub ird: u16,
    pub ord: u16,
    pub access: AccessFlags,
    /// Doorbell values, the next WQE to start, WQEs retired / consumed.
    pub sq_pi: u16,
    pub sq_next: u16,
    pub sq_ci: u16,
    pub rq_pi: u16,
    pub rq_ci: u16,
    /// The connection id (CM) and TCP connection bound to the QP.
    pub conn: Option<u32>,
    pub tcp: Option<ConnId>,
    pub syndrome: u32,
    pub term: Option<TermInfo>,
    /// MSNs (§9.4): next Send we send, next Read Request we send, next Send and Read Request
    /// we expect.
    pub send_msn: u32,
    pub read_msn: u32,
    pub recv_msn: u32,
    pub rreq_msn: u32,
    pub active: VecDeque<SqEntry>,
    pub reads: VecDeque<ReadOut>,
    pub recv: Option<RecvCur>,
    /// MODIFY_QP to ERR by the driver while connected (§7): the next FPDU is answered with a
    /// Terminate.
    pub driver_err: bool,
}

impl Qp {
    /// Bus address of SQ slot `counter`.
    fn sq_slot(&self, counter: u16) -> u64 {
        self.buf
            .wrapping_add((ring::slot(u32::from(counter), self.sq_log2) as u64) << self.sq_stride)
    }

    /// Bus address of RQ slot `counter` (the RQ follows the SQ in the queue buffer).
    pub(crate) fn rq_slot(&self, counter: u16) -> u64 {
        let rq_base = self
            .buf
            .wrapping_add(1u64 << (u32::from(self.sq_log2) + u32::from(self.sq_stride)));
        rq_base
            .wrapping_add((ring::slot(u32::from(counter), self.rq_log2) as u64) << self.rq_stride)
    }

    pub(crate) fn cqe(&self, wr_id: u64, wqe_index: u16, opcode: CqeOpcode) -> Cqe {
        Cqe {
            wr_id,
            qp_context: self.ctx,
            byte_count: 0,
            invalidated_stag: 0,
            qpn: self.qpn,
            srqn: 0,
            syndrome: 0,
            wqe_index,
            term: None,
            status: CqeStatus::Success,
            opcode,
            flags: CqeFlags::empty(),
        }
    }

    /// The error CQE of `e` with `syn` (and the Terminate, if any).
    pub(crate) fn error_cqe(&self, e: &SqEntry, syn: u32, term: Option<TermInfo>) -> Cqe {
        let mut c = self.cqe(e.wr_id, e.wqe_index, e.opcode);
        c.syndrome = syn;
        c.status = syndrome::status(syn).unwrap_or(CqeStatus::Fatal);
        c.term = term;
        c
    }
}

/// The CQE opcode of a send WQE opcode.
pub(crate) fn cqe_opcode(op: SendOpcode) -> CqeOpcode {
    match op {
        SendOpcode::Nop => CqeOpcode::Nop,
        SendOpcode::Send | SendOpcode::SendInv => CqeOpcode::Send,
        SendOpcode::Write => CqeOpcode::Write,
        SendOpcode::Read => CqeOpcode::Read,
        SendOpcode::FastReg => CqeOpcode::FastReg,
        SendOpcode::Bind => CqeOpcode::Bind,
        SendOpcode::LocalInv => CqeOpcode::LocalInv,
    }
}

/// Which CQE opens the flushes when a QP enters ERR (§7).
pub(crate) enum ErrCqe {
    /// None (driver or CM request, or nothing outstanding).
    None,
    /// The oldest outstanding SQ WQE completes with this syndrome (and TERM word).
    OldestSq(u32, Option<TermInfo>),
    /// This SQ WQE (not yet in the active list) completes with this syndrome.
    Sq(SqEntry, u32),
    /// A receive completion (to RECV_CQN).
    Recv(Cqe),
}

impl Device {
    pub(crate) fn create_qp(
        &mut self,
        qpn: u32,
        use_srq: bool,
        p: &CreateQpParams,
    ) -> Result<(), CmdStatus> {
        use CmdStatus as S;
        if qpn == 0 || qpn >= self.attrs.max_qp {
            return Err(S::BadObject);
        }
        if self.qps.contains_key(&qpn) {
            return Err(S::BadState);
        }
        let (pdn, scq, rcq) = (p.pdn.get(), p.send_cqn.get(), p.recv_cqn.get());
        if !self.pds.contains_key(&pdn)
            || !self.cqs.contains_key(&scq)
            || !self.cqs.contains_key(&rcq)
        {
            return Err(S::BadObject);
        }
        let srqn = if use_srq {
            let s = self.srqs.get(&p.srqn.get()).ok_or(S::BadObject)?;
            if s.pdn != pdn {
                return Err(S::Access);
            }
            if p.log2_rq_depth != 0 || p.log2_rq_stride != 0 {
                return Err(S::BadParam);
            }
            Some(p.srqn.get())
        } else {
            if p.srqn.get() != 0 || !(1..=15).contains(&p.log2_rq_depth) {
                return Err(S::BadParam);
            }
            if !(5..=self.attrs.max_rq_stride_log2).contains(&p.log2_rq_stride) {
                return Err(S::BadParam);
            }
            None
        };
        if !(1..=15).contains(&p.log2_sq_depth)
            || !(6..=self.attrs.max_sq_stride_log2).contains(&p.log2_sq_stride)
            || p.buf_addr.get() & 0xFFF != 0
        {
            return Err(S::BadParam);
        }
        // Doorbells of a new QP count from 0 (a block may hold an earlier QP's values).
        let db = regs::doorbell_block_offset(qpn);
        self.bar2.write32(db + regs::DB_SQ_PI, 0);
        self.bar2.write32(db + regs::DB_RQ_PI, 0);
        let qp = Qp {
            qpn,
            pdn,
            send_cqn: scq,
            recv_cqn: rcq,
            srqn,
            ctx: p.qp_context.get(),
            sq_log2: p.log2_sq_depth,
            sq_stride: p.log2_sq_stride,
            rq_log2: p.log2_rq_depth,
            rq_stride: p.log2_rq_stride,
            buf: p.buf_addr.get(),
            record: p.record_addr.get(),
            state: QpState::Reset,
            ird: 0,
            ord: 0,
            access: AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE,
            sq_pi: 0,
            sq_next: 0,
            sq_ci: 0,
            rq_pi: 0,
            rq_ci: 0,
            conn: None,
            tcp: None,
            syndrome: 0,
            term: None,
            send_msn: 1,
            read_msn: 1,
            recv_msn: 1,
            rreq_msn: 1,
            active: VecDeque::new(),
            reads: VecDeque::new(),
            recv: None,
            driver_err: false,
        };
        self.qps.insert(qpn, qp);
        self.pd_ref(pdn, true);
        for cqn in [scq, rcq] {
            if let Some(c) = self.cqs.get_mut(&cqn) {
                c.users += 1;
            }
        }
        if let Some(s) = srqn.and_then(|s| self.srqs.get_mut(&s)) {
            s.users += 1;
        }
        self.write_record(qpn);
        Ok(())
    }

    pub(crate) fn modify_qp(&mut self, qpn: u32, attr: &QpAttr) -> Result<(), CmdStatus> {
        let q = self.qps.get(&qpn).ok_or(CmdStatus::BadObject)?;
        let bound = q.conn.is_some();
        let to = check_modify(q.state, bound, attr)?;
        let mask = attr.mask().unwrap_or(QpAttrMask::empty());
        let max_ird = u16::from(self.attrs.max_ird);
        let max_ord = u16::from(self.attrs.max_ord);
        if (mask.contains(QpAttrMask::IRD) && attr.ird.get() > max_ird)
            || (mask.contains(QpAttrMask::ORD) && attr.ord.get() > max_ord)
        {
            return Err(CmdStatus::Limit);
        }
        let access = if mask.contains(QpAttrMask::ACCESS) {
            let a = AccessFlags::from_bits(attr.access.get()).ok_or(CmdStatus::BadParam)?;
            if !(AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE).contains(a) {
                return Err(CmdStatus::BadParam);
            }
            Some(a)
        } else {
            None
        };
        match to {
            QpState::Err => {
                let connected = self.qps.get(&qpn).is_some_and(|q| {
                    q.conn.is_some() && matches!(q.state, QpState::Rtr | QpState::Rts)
                });
                self.enter_err(qpn, ErrCqe::None, None);
                if let Some(q) = self.qps.get_mut(&qpn) {
                    q.driver_err = connected;
                }
            }
            QpState::Reset => {
                let db = regs::doorbell_block_offset(qpn);
                self.bar2.write32(db + regs::DB_SQ_PI, 0);
                self.bar2.write32(db + regs::DB_RQ_PI, 0);
                if let Some(q) = self.qps.get_mut(&qpn) {
                    q.state = QpState::Reset;
                    q.sq_pi = 0;
                    q.sq_next = 0;
                    q.sq_ci = 0;
                    q.rq_pi = 0;
                    q.rq_ci = 0;
                    q.syndrome = 0;
                    q.term = None;
                    q.active.clear();
                    q.reads.clear();
                    q.recv = None;
                    q.driver_err = false;
                    q.send_msn = 1;
                    q.read_msn = 1;
                    q.recv_msn = 1;
                    q.rreq_msn = 1;
                }
            }
            _ => {
                if let Some(q) = self.qps.get_mut(&qpn) {
                    q.state = to;
                    if mask.contains(QpAttrMask::IRD) {
                        q.ird = attr.ird.get();
                    }
                    if mask.contains(QpAttrMask::ORD) {
                        q.ord = attr.ord.get();
                    }
                    if let Some(a) = access {
                        q.access = a;
                    }
                }
            }
        }
        self.write_record(qpn);
        Ok(())
    }

    pub(crate) fn query_qp(&self, qpn: u32) -> Option<QpAttr> {
        use zerocopy::byteorder::little_endian::{U16, U32};
        let q = self.qps.get(&qpn)?;
        let mut a = <QpAttr as zerocopy::FromZeros>::new_zeroed();
        a.attr_mask = U32::new(0xF);
        a.state = q.state as u8;
        a.ird = U16::new(q.ird);
        a.ord = U16::new(q.ord);
        a.access = U32::new(q.access.bits());
        a.conn_id = U32::new(q.conn.unwrap_or(u32::MAX));
        if let Some(t) = q.tcp {
            a.mss = U16::new(self.mpa.tcp().mss(t).unwrap_or(0));
            a.tcp_state = match self.mpa.tcp().state(t) {
                Some(s) => super::cm::tcp_state_code(s),
                None => 0,
            };
            a.rtr = 3;
        }
        a.send_msn = U32::new(q.send_msn);
        a.recv_msn = U32::new(q.recv_msn);
        a.term = U32::new(TermInfo::encode(q.term));
        a.sq_pi = U16::new(q.sq_pi);
        a.sq_ci = U16::new(q.sq_ci);
        a.rq_pi = U16::new(q.rq_pi);
        a.rq_ci = U16::new(q.rq_ci);
        a.syndrome = U32::new(q.syndrome);
        Some(a)
    }

    pub(crate) fn destroy_qp(&mut self, qpn: u32) -> Result<(), CmdStatus> {
        let q = self.qps.get(&qpn).ok_or(CmdStatus::BadObject)?;
        if !matches!(q.state, QpState::Reset | QpState::Err) {
            return Err(CmdStatus::BadState);
        }
        if q.conn.is_some() {
            return Err(CmdStatus::InUse);
        }
        let Some(q) = self.qps.remove(&qpn) else {
            return Err(CmdStatus::BadObject);
        };
        self.pd_ref(q.pdn, false);
        for cqn in [q.send_cqn, q.recv_cqn] {
            if let Some(c) = self.cqs.get_mut(&cqn) {
                c.users = c.users.saturating_sub(1);
            }
        }
        if let Some(s) = q.srqn.and_then(|s| self.srqs.get_mut(&s)) {
            s.users = s.users.saturating_sub(1);
        }
        Ok(())
    }

    /// The QP record (§5.5).
    pub(crate) fn write_record(&mut self, qpn: u32) {
        let Some(q) = self.qps.get(&qpn) else { return };
        let rec = QpRecord {
            sq_ci: q.sq_ci,
            rq_ci: q.rq_ci,
            state: q.state as u8,
            syndrome: q.syndrome,
        };
        if !dma::write(q.record, &rec.encode()) {
            self.go_fatal(3);
        }
    }

    /// SQ_PI / RQ_PI of QP `qpn` (§12.2).
    pub(crate) fn qp_doorbells(&mut self, qpn: u32, sq: u16, rq: u16) {
        let Some(q) = self.qps.get_mut(&qpn) else {
            return;
        };
        if q.sq_pi == sq && q.rq_pi == rq {
            return;
        }
        q.sq_pi = sq;
        q.rq_pi = rq;
        self.work += 1;
        if q.state == QpState::Err {
            self.flush(qpn);
        }
    }

    /// Runs the SQ of every QP in RTS.
    pub(crate) fn run_sqs(&mut self) {
        let qpns: Vec<u32> = self
            .qps
            .iter()
            .filter(|(_, q)| q.state == QpState::Rts && q.sq_next != q.sq_pi)
            .map(|(n, _)| *n)
            .collect();
        for qpn in qpns {
            self.run_sq(qpn);
        }
    }

    fn run_sq(&mut self, qpn: u32) {
        loop {
            let Some(q) = self.qps.get(&qpn) else { return };
            if q.state != QpState::Rts || q.sq_next == q.sq_pi {
                break;
            }
            let counter = q.sq_next;
            let mut slot = std::vec![0u8; 1usize << q.sq_stride];
            if !dma::read(q.sq_slot(counter), &mut slot) {
                let e = fallback_entry(&slot, counter);
                self.enter_err(qpn, ErrCqe::Sq(e, syndrome::DMA_ERROR), None);
                return;
            }
            let wqe = match SendWqe::decode(&slot) {
                Ok(w) if w.ctrl.wqe_index == counter => w,
                Ok(w) => {
                    let e = entry(&w, counter);
                    self.sq_fail(qpn, e, syndrome::WQE_INDEX_MISMATCH);
                    return;
                }
                Err(err) => {
                    let e = fallback_entry(&slot, counter);
                    self.sq_fail(qpn, e, err.syndrome());
                    return;
                }
            };
            if wqe.ctrl.flags.contains(WqeFlags::FENCE) && !q.reads.is_empty() {
                break;
            }
            if matches!(wqe.op, SendWqeOp::Read { .. }) && q.reads.len() >= usize::from(q.ord) {
                break;
            }
            let e = entry(&wqe, counter);
            if let Some(q) = self.qps.get_mut(&qpn) {
                q.sq_next = counter.wrapping_add(1);
            }
            self.work += 1;
            if let Err(syn) = self.start_wqe(qpn, &wqe, e.clone()) {
                self.sq_fail(qpn, e, syn);
                return;
            }
        }
        self.try_complete(qpn);
    }

    /// A WQE failed locally: its error CQE, QP → ERR (LOCAL), flushes, and the connection
    /// is closed (§8.3: a local error is not the peer's doing, no Terminate).
    fn sq_fail(&mut self, qpn: u32, e: SqEntry, syn: u32) {
        if let Some(q) = self.qps.get_mut(&qpn) {
            q.sq_next = e.wqe_index.wrapping_add(1);
        }
        self.enter_err(qpn, ErrCqe::Sq(e, syn), Some((syn, None)));
        self.cm_qp_broken(qpn, None);
    }

    /// Starts one WQE: sends its message or performs the local operation.
    fn start_wqe(&mut self, qpn: u32, wqe: &SendWqe<'_>, mut e: SqEntry) -> Result<(), u32> {
        let Some(q) = self.qps.get(&qpn) else {
            return Ok(());
        };
        let (pdn, tcp) = (q.pdn, q.tcp);
        let solicited = wqe.ctrl.flags.contains(WqeFlags::SOLICITED);
        match wqe.op {
            SendWqeOp::Nop => e.done = true,
            SendWqeOp::Send { payload } => {
                let data = self.payload(pdn, &payload)?;
                let inv = wqe.ctrl.opcode == SendOpcode::SendInv;
                let op = match (inv, solicited) {
                    (false, false) => Opcode::Send,
                    (true, false) => Opcode::SendInvalidate,
                    (false, true) => Opcode::SendSe,
                    (true, true) => Opcode::SendSeInvalidate,
                };
                let msn = self.qps.get_mut(&qpn).map_or(0, |q| {
                    q.send_msn = q.send_msn.wrapping_add(1);
                    q.send_msn.wrapping_sub(1)
                });
                let target = Target::Untagged {
                    msn,
                    inval_stag: wqe.ctrl.inv_stag,
                };
                e.end = self.send_message(tcp, op, target, &data);
            }
            SendWqeOp::Write { remote, payload } => {
                let data = self.payload(pdn, &payload)?;
                let target = Target::Tagged {
                    stag: remote.remote_stag,
                    to: remote.remote_to,
                };
                e.end = self.send_message(tcp, Opcode::Write, target, &data);
            }
            SendWqeOp::Read { remote, sink } => {
                if u64::from(sink.length) > u64::from(self.attrs.max_msg_size) {
                    return Err(syndrome::MSG_TOO_LONG);
                }
                self.translate(
                    sink.stag,
                    pdn,
                    sink.addr,
                    u64::from(sink.length),
                    AccessFlags::LOCAL_WRITE,
                    false,
                )
                .map_err(super::device::StagError::syndrome)?;
                let rr = ReadRequest {
                    sink_stag: sink.stag,
                    sink_to: sink.addr,
                    size: sink.length,
                    src_stag: remote.remote_stag,
                    src_to: remote.remote_to,
                };
                let msn = self.qps.get_mut(&qpn).map_or(0, |q| {
                    q.reads.push_back(ReadOut {
                        sink_stag: sink.stag,
                        sink_to: sink.addr,
                        size: sink.length,
                    });
                    q.read_msn = q.read_msn.wrapping_add(1);
                    q.read_msn.wrapping_sub(1)
                });
                e.byte_count = sink.length;
                if wqe.ctrl.flags.contains(WqeFlags::LOCAL_INVALIDATE) {
                    e.invalidate = Some(sink.stag);
                }
                let target = Target::Untagged { msn, inval_stag: 0 };
                self.send_message(tcp, Opcode::ReadRequest, target, &rr.encode());
            }
            SendWqeOp::FastReg { seg, pages } => {
                self.fast_reg(pdn, &seg, &pages)
                    .map_err(|()| syndrome::FAST_REG_ERROR)?;
                e.done = true;
            }
            SendWqeOp::Bind(b) => {
                self.bind_mw(pdn, &b).map_err(|()| syndrome::BIND_ERROR)?;
                e.done = true;
            }
            SendWqeOp::LocalInv => {
                if !self.invalidate(wqe.ctrl.inv_stag, pdn) {
                    return Err(syndrome::INVALIDATE_ERROR);
                }
                e.done = true;
            }
        }
        if let Some(q) = self.qps.get_mut(&qpn) {
            q.active.push_back(e);
        }
        Ok(())
    }

    fn payload(&self, pdn: u32, p: &WqePayload<'_>) -> Result<Vec<u8>, u32> {
        match p {
            WqePayload::Inline(b) => Ok(b.to_vec()),
            WqePayload::Gather(_) => {
                let segs: Vec<DataSeg> = p.segments().collect();
                self.gather(pdn, &segs)
            }
        }
    }

    /// Segments a message into FPDUs of at most MULPDU and hands them to TCP; the stream
    /// offset past the last one.
    pub(crate) fn send_message(
        &mut self,
        tcp: Option<ConnId>,
        op: Opcode,
        target: Target,
        data: &[u8],
    ) -> Option<u64> {
        let tcp = tcp?;
        let max = self.mpa.mulpdu(tcp)?;
        let segs = segment_message(op, target, data, max).ok()?;
        let mut end = None;
        for s in segs {
            match self.mpa.send_fpdu(tcp, &s, self.now) {
                Ok(e) => {
                    self.stats.ddp_segments_sent += 1;
                    end = Some(e);
                }
                Err(_) => return None,
            }
        }
        end
    }

    /// TCP acknowledged our stream of `tcp` up to `total`: sends and writes below it are done.
    pub(crate) fn acked(&mut self, tcp: ConnId, total: u64) {
        let Some(qpn) = self
            .qps
            .iter()
            .find(|(_, q)| q.tcp == Some(tcp))
            .map(|(n, _)| *n)
        else {
            return;
        };
        if let Some(q) = self.qps.get_mut(&qpn) {
            if q.state == QpState::Err {
                return;
            }
            for e in q.active.iter_mut() {
                if e.end.is_some_and(|end| end <= total) {
                    e.done = true;
                }
            }
        }
        self.try_complete(qpn);
    }

    /// Completes done WQEs from the front, in SQ order (§12.3).
    pub(crate) fn try_complete(&mut self, qpn: u32) {
        let mut changed = false;
        loop {
            let Some(q) = self.qps.get_mut(&qpn) else {
                return;
            };
            if !q.active.front().is_some_and(|e| e.done) {
                break;
            }
            let Some(e) = q.active.pop_front() else { break };
            q.sq_ci = e.wqe_index.wrapping_add(1);
            changed = true;
            if let Some(s) = e.invalidate {
                let pdn = q.pdn;
                self.invalidate(s, pdn);
            }
            let Some(q) = self.qps.get(&qpn) else { return };
            if e.signaled {
                let mut c = q.cqe(e.wr_id, e.wqe_index, e.opcode);
                c.byte_count = if e.opcode == CqeOpcode::Read {
                    e.byte_count
                } else {
                    0
                };
                let cqn = q.send_cqn;
                self.write_record(qpn);
                self.post_cqe(cqn, c);
            }
        }
        if changed {
            self.write_record(qpn);
        }
    }

    /// The QP enters ERR (§7): `first` opens, then every SQ WQE not completed and every RQ
    /// WQE consumed or posted completes FLUSHED; `qp_error`: it did so on its own (QP_ERROR).
    pub(crate) fn enter_err(
        &mut self,
        qpn: u32,
        first: ErrCqe,
        qp_error: Option<(u32, Option<TermInfo>)>,
    ) {
        let Some(q) = self.qps.get_mut(&qpn) else {
            return;
        };
        if q.state == QpState::Err {
            return;
        }
        q.state = QpState::Err;
        if let Some((syn, term)) = qp_error {
            q.syndrome = syn;
            q.term = term.or(q.term);
        }
        let (cqe, cqn) = match first {
            ErrCqe::None => (None, q.send_cqn),
            ErrCqe::OldestSq(syn, term) => match q.active.pop_front() {
                Some(e) => {
                    q.sq_ci = e.wqe_index.wrapping_add(1);
                    (Some(q.error_cqe(&e, syn, term)), q.send_cqn)
                }
                None => (None, q.send_cqn),
            },
            ErrCqe::Sq(e, syn) => {
                // Earlier WQEs still waiting are flushed after the error (the error CQE
                // precedes the flushes).
                let c = q.error_cqe(&e, syn, None);
                if q.active.is_empty() {
                    q.sq_ci = e.wqe_index.wrapping_add(1);
                }
                (Some(c), q.send_cqn)
            }
            ErrCqe::Recv(c) => (Some(c), q.recv_cqn),
        };
        let ctx = q.ctx;
        self.write_record(qpn);
        if let Some(c) = cqe {
            self.post_cqe(cqn, c);
        }
        self.flush(qpn);
        if let Some((syn, term)) = qp_error {
            self.post_qp_error(qpn, ctx, syn, term);
        }
    }

    /// Completes FLUSHED every SQ WQE not completed and every RQ WQE consumed or posted
    /// (not those of an SRQ), §7.
    pub(crate) fn flush(&mut self, qpn: u32) {
        let Some(q) = self.qps.get_mut(&qpn) else {
            return;
        };
        let mut sq: Vec<Cqe> = q
            .active
            .drain(..)
            .map(|e| Cqe::flushed(e.wr_id, q.ctx, q.qpn, e.wqe_index, e.opcode))
            .collect();
        q.reads.clear();
        let mut c = q.sq_next;
        while c != q.sq_pi {
            let mut head = [0u8; CTRL_SEG_SIZE];
            let _ = dma::read(q.sq_slot(c), &mut head);
            let e = fallback_entry(&head, c);
            sq.push(Cqe::flushed(e.wr_id, q.ctx, q.qpn, c, e.opcode));
            c = c.wrapping_add(1);
        }
        q.sq_next = q.sq_pi;
        q.sq_ci = q.sq_pi;
        let mut rq: Vec<Cqe> = Vec::new();
        if let Some(r) = q.recv.take() {
            if r.srqn.is_none() {
                rq.push(Cqe::flushed(
                    r.wr_id,
                    q.ctx,
                    q.qpn,
                    r.wqe_index,
                    CqeOpcode::Recv,
                ));
            }
        }
        if q.srqn.is_none() {
            let mut c = q.rq_ci;
            while c != q.rq_pi {
                let mut head = [0u8; 16];
                let _ = dma::read(q.rq_slot(c), &mut head);
                let wr_id = u64::from_le_bytes(
                    head.get(..8)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 8]),
                );
                rq.push(Cqe::flushed(wr_id, q.ctx, q.qpn, c, CqeOpcode::Recv));
                c = c.wrapping_add(1);
            }
            q.rq_ci = q.rq_pi;
        }
        let (scq, rcq) = (q.send_cqn, q.recv_cqn);
        self.write_record(qpn);
        for c in sq {
            self.post_cqe(scq, c);
        }
        for c in rq {
            self.post_cqe(rcq, c);
        }
    }

    /// The QP failed on its own with `syn`: QP → ERR, error CQE of the oldest SQ WQE.
    pub(crate) fn qp_failed(&mut self, qpn: u32, syn: u32, term: Option<TermInfo>, oldest: bool) {
        let first = if oldest {
            ErrCqe::OldestSq(syn, term)
        } else {
            ErrCqe::None
        };
        self.enter_err(qpn, first, Some((syn, term)));
    }

    // ---------------------------------------------------------------------------------
    // Local memory operations (§5.3.5–§5.3.6, §12.5)
    // ---------------------------------------------------------------------------------

    fn fast_reg(
        &mut self,
        pdn: u32,
        seg: &crate::wqe::FastRegSeg,
        pages: &FastRegPages<'_>,
    ) -> Result<(), ()> {
        let stag = STag(seg.stag);
        let m = self.stags.get(&stag.index()).ok_or(())?;
        let (max, allowed) = m.fr_init.ok_or(())?;
        if m.kind != StagKind::FastReg || m.pdn != pdn || m.valid {
            return Err(());
        }
        if seg.page_count == 0 || seg.page_count > max {
            return Err(());
        }
        let remote = AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE;
        if !allowed.contains(seg.access & remote) {
            return Err(());
        }
        let log2 = seg.log2_page_size;
        if self.attrs.page_sizes & 1u32.checked_shl(u32::from(log2)).unwrap_or(0) == 0 {
            return Err(());
        }
        let span = u64::from(seg.first_byte_offset)
            .checked_add(seg.length)
            .ok_or(())?;
        if span > u64::from(seg.page_count) << log2 {
            return Err(());
        }
        let list: Vec<u64> = match pages {
            FastRegPages::Inline(_) => pages.inline_pages().collect(),
            FastRegPages::Host { addr, count } => read_u64s(*addr, *count as usize).ok_or(())?,
        };
        if list.len() < seg.page_count as usize {
            return Err(());
        }
        let m = self.stags.get_mut(&stag.index()).ok_or(())?;
        m.stag = stag;
        m.valid = true;
        m.access = seg.access;
        m.iova = seg.iova;
        m.length = seg.length;
        m.log2_page = log2;
        m.fbo = seg.first_byte_offset;
        m.pages = Pages::List(list);
        Ok(())
    }

    fn bind_mw(&mut self, pdn: u32, b: &crate::wqe::BindSeg) -> Result<(), ()> {
        let mw = STag(b.mw_stag);
        let mr = STag(b.mr_stag);
        let w = self.stags.get(&mw.index()).ok_or(())?;
        if w.kind != StagKind::Window || w.pdn != pdn || w.stag.index() != mw.index() {
            return Err(());
        }
        let old_parent = if w.valid { w.parent } else { None };
        let r = self.stags.get(&mr.index()).ok_or(())?;
        if r.kind == StagKind::Window
            || r.stag != mr
            || !r.valid
            || r.pdn != pdn
            || !r.access.contains(AccessFlags::MW_BIND)
        {
            return Err(());
        }
        let end = b.addr.checked_add(b.length).ok_or(())?;
        if b.addr < r.iova || end > r.iova.saturating_add(r.length) {
            return Err(());
        }
        let remote = AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE;
        if !remote.contains(b.access) {
            return Err(());
        }
        if let Some(p) = old_parent.and_then(|p| self.stags.get_mut(&p)) {
            p.binds = p.binds.saturating_sub(1);
        }
        if let Some(r) = self.stags.get_mut(&mr.index()) {
            r.binds += 1;
        }
        let w = self.stags.get_mut(&mw.index()).ok_or(())?;
        w.stag = mw;
        w.valid = true;
        w.access = b.access;
        w.iova = b.addr;
        w.length = b.length;
        w.parent = Some(mr.index());
        Ok(())
    }

    /// Invalidates a fast-register MR or a bound MW of PD `pdn` (LOCAL_INV, Send with
    /// Invalidate, READ with LOCAL_INVALIDATE); false when it cannot be invalidated.
    pub(crate) fn invalidate(&mut self, stag: u32, pdn: u32) -> bool {
        let k = STag(stag);
        let Some(m) = self.stags.get_mut(&k.index()) else {
            return false;
        };
        if m.stag != k || m.pdn != pdn || m.kind == StagKind::Registered {
            return false;
        }
        if m.kind == StagKind::FastReg && m.binds > 0 {
            return false;
        }
        let was_bound = m.kind == StagKind::Window && m.valid;
        m.valid = false;
        let parent = m.parent.take();
        if was_bound {
            if let Some(p) = parent.and_then(|p| self.stags.get_mut(&p)) {
                p.binds = p.binds.saturating_sub(1);
            }
        }
        true
    }
}

fn entry(w: &SendWqe<'_>, counter: u16) -> SqEntry {
    SqEntry {
        wqe_index: counter,
        wr_id: w.ctrl.wr_id,
        opcode: cqe_opcode(w.ctrl.opcode),
        signaled: w.ctrl.flags.contains(WqeFlags::SIGNALED),
        end: None,
        done: false,
        byte_count: 0,
        invalidate: None,
    }
}

/// The entry of a WQE that does not decode: WR_ID and the opcode as far as they read.
fn fallback_entry(slot: &[u8], counter: u16) -> SqEntry {
    let wr_id = slot
        .get(0x10..0x18)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let opcode = slot
        .first()
        .and_then(|b| SendOpcode::from_u8(*b))
        .map_or(CqeOpcode::Send, cqe_opcode);
    SqEntry {
        wqe_index: counter,
        wr_id,
        opcode,
        signaled: true,
        end: None,
        done: false,
        byte_count: 0,
        invalidate: None,
    }
}
