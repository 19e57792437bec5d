//! QPs and the RC transport (docs/silicon/rocev2.md §7, §9, §12.3–§12.4): the state
//! machine, WQE fetch, the requester (segmentation, PSNs, go-back-N retransmission, RNR and
//! ACK timers, read responses within ORD), the responder (PSN checks, duplicate detection,
//! key checks before any byte is written, RNR / sequence / access NAKs, coalesced ACKs) and
//! the completer (in-order CQEs, flush on ERR). Structure after rxe (anchors.md).

use std::collections::VecDeque;
use std::vec::Vec;

use crate::admin::{self, CmdStatus, CreateQp, PathMtu, QpAttr, QpAttrMask, QpState};
use crate::cqe::{syndrome, Cqe, CqeFlags, CqeOpcode, CqeStatus};
use crate::key::Key;
use crate::record::QpRecord;
use crate::ring;
use crate::wqe::{
    AccessFlags, DataSeg, FastRegPages, RecvWqe, SendOpcode, SendWqe, SendWqeOp, WqeFlags,
    WqePayload,
};

use super::device::{read_runs, write_runs, Device, Pages};
use super::dma;
use super::wire::bth::{psn_add, psn_diff, Bth, Opcode};
use super::wire::eth::MacAddr;
use super::wire::ext::{Aeth, ExtHeaders, NakCode, Reth, Syndrome, CREDITS_INVALID};
use super::wire::packet::{Gid, RoceFrame, RocePacket, RocePath};
use super::wire::seg::{self, MessageKind, Position};
use super::wire::udp::{flow_label_from_qpns, src_port_from_flow_label};

/// Packets the requester keeps unacknowledged at most (go-back-N window).
const WINDOW: u32 = 256;
/// Packets one QP sends per step at most (fairness between QPs).
const BURST: u32 = 64;
/// WQEs started and not retired at most.
const MAX_INFLIGHT: usize = 512;

/// What a started WQE does on the wire.
#[derive(Debug)]
enum OpKind {
    /// NOP, FAST_REG, BIND, LOCAL_INV: done when started (§9.2).
    Local,
    Send {
        data: Vec<u8>,
        inv: Option<u32>,
        se: bool,
    },
    Write {
        data: Vec<u8>,
        va: u64,
        rkey: u32,
    },
    Read {
        va: u64,
        rkey: u32,
        len: u32,
        sinks: Vec<DataSeg>,
        recvd: u32,
        local_inv: Option<u32>,
    },
}

/// A WQE the requester started and has not retired.
#[derive(Debug)]
struct SqOp {
    wqe_index: u16,
    wr_id: u64,
    cqe_op: CqeOpcode,
    signaled: bool,
    first_psn: u32,
    npkts: u32,
    sent: u32,
    kind: OpKind,
    done: Option<(CqeStatus, u32)>,
    byte_count: u32,
}

/// A receive being filled by a multi-packet SEND.
#[derive(Debug)]
struct RecvCur {
    wr_id: u64,
    wqe_index: u16,
    sges: Vec<DataSeg>,
    offset: u64,
    srqn: Option<u32>,
}

/// A WRITE in progress at the responder.
#[derive(Debug, Clone, Copy)]
struct WriteCur {
    va: u64,
    rkey: u32,
    left: u64,
}

/// An RDMA READ request accepted by the responder whose responses are not sent yet
/// (§9.3: at most IRD per QP).
#[derive(Debug, Clone, Copy)]
struct PendingRead {
    psn: u32,
    reth: Reth,
    /// MSN after this read (carried by its responses' AETH).
    msn: u32,
}

/// A queue pair.
#[derive(Debug)]
pub(crate) struct Qp {
    pub qpn: u32,
    pub pdn: u32,
    pub send_cqn: u32,
    pub recv_cqn: u32,
    pub srqn: Option<u32>,
    pub ctx: u64,
    pub state: QpState,
    sq_base: u64,
    sq_log2: u8,
    sq_stride: u8,
    rq_base: u64,
    rq_log2: u8,
    rq_stride: u8,
    record: u64,
    sq_pi: u16,
    sq_next: u16,
    sq_ci: u16,
    rq_pi: u16,
    rq_ci: u16,
    syndrome: u32,
    // Attributes (§6.5).
    pub path_mtu: PathMtu,
    retry_count: u8,
    rnr_retry: u8,
    pub dest_qpn: u32,
    sq_psn: u32,
    rq_psn: u32,
    timeout: u8,
    min_rnr_timer: u8,
    ird: u8,
    ord: u8,
    sgid_index: u8,
    hop_limit: u8,
    traffic_class: u8,
    udp_sport: u16,
    pub dest_gid: [u8; 16],
    pub dest_mac: [u8; 6],
    access: AccessFlags,
    // Requester.
    inflight: VecDeque<SqOp>,
    next_psn: u32,
    /// PSN after the last acknowledged one.
    una: u32,
    max_sent: Option<u32>,
    retries_left: u8,
    rnr_left: u8,
    deadline: Option<u64>,
    rnr_until: Option<u64>,
    /// Time of the last CNP sent (§9.6: at most one per 50 µs).
    last_cnp: Option<u64>,
    halted: bool,
    // Responder.
    epsn: u32,
    msn: u32,
    nak_sent: bool,
    recv_cur: Option<RecvCur>,
    write_cur: Option<WriteCur>,
    /// Accepted READ requests awaiting their responses, in PSN order (at most IRD).
    reads: VecDeque<PendingRead>,
    ack_pending: bool,
    /// The passive side waits for RTU or the first request to reach RTS (§8.3).
    pub pending_rts: bool,
    /// The CM connection bound to the QP.
    pub conn: Option<u32>,
}

impl Qp {
    fn new(c: &CreateQp) -> Qp {
        let rq_off = c.rq_offset().unwrap_or(0);
        Qp {
            qpn: c.qpn,
            pdn: c.pdn,
            send_cqn: c.send_cqn,
            recv_cqn: c.recv_cqn,
            srqn: c.srqn,
            ctx: c.qp_context,
            state: QpState::Reset,
            sq_base: c.buf_addr,
            sq_log2: c.log2_sq_depth,
            sq_stride: c.log2_sq_stride,
            rq_base: c.buf_addr.wrapping_add(rq_off),
            rq_log2: c.log2_rq_depth,
            rq_stride: c.log2_rq_stride,
            record: c.record_addr,
            sq_pi: 0,
            sq_next: 0,
            sq_ci: 0,
            rq_pi: 0,
            rq_ci: 0,
            syndrome: 0,
            path_mtu: PathMtu::Mtu1024,
            retry_count: 7,
            rnr_retry: 7,
            dest_qpn: 0,
            sq_psn: 0,
            rq_psn: 0,
            timeout: 14,
            min_rnr_timer: 12,
            ird: 0,
            ord: 0,
            sgid_index: 0,
            hop_limit: 64,
            traffic_class: 0,
            udp_sport: 0,
            dest_gid: [0; 16],
            dest_mac: [0; 6],
            access: AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE,
            inflight: VecDeque::new(),
            next_psn: 0,
            una: 0,
            max_sent: None,
            retries_left: 7,
            rnr_left: 7,
            deadline: None,
            rnr_until: None,
            last_cnp: None,
            halted: false,
            epsn: 0,
            msn: 0,
            nak_sent: false,
            recv_cur: None,
            reads: VecDeque::new(),
            write_cur: None,
            ack_pending: false,
            pending_rts: false,
            conn: None,
        }
    }

    /// Earliest timer of the QP.
    pub fn next_deadline(&self) -> Option<u64> {
        match (self.deadline, self.rnr_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn timeout_ns(&self) -> Option<u64> {
        (self.timeout != 0).then(|| 4096u64 << self.timeout.min(31))
    }

    fn mtu(&self) -> seg::PathMtu {
        seg::PathMtu::from_ib(self.path_mtu as u8).unwrap_or(seg::PathMtu::Mtu1024)
    }

    fn write_record(&self) {
        let rec = QpRecord {
            sq_ci: self.sq_ci,
            rq_ci: self.rq_ci,
            state: self.state as u8,
            syndrome: self.syndrome,
        };
        let _ = dma::write(self.record, &rec.encode()[..16]);
    }

    fn sq_slot(&self, idx: u16) -> u64 {
        self.sq_base
            .wrapping_add((ring::slot(u32::from(idx), self.sq_log2) as u64) << self.sq_stride)
    }

    fn rq_slot(&self, idx: u16) -> u64 {
        self.rq_base
            .wrapping_add((ring::slot(u32::from(idx), self.rq_log2) as u64) << self.rq_stride)
    }

    fn apply(&mut self, a: &QpAttr) {
        let m = a.mask;
        if m.contains(QpAttrMask::PATH_MTU) {
            if let Some(p) = a.path_mtu {
                self.path_mtu = p;
            }
        }
        if m.contains(QpAttrMask::RETRY_COUNT) {
            self.retry_count = a.retry_count.min(7);
            self.retries_left = self.retry_count;
        }
        if m.contains(QpAttrMask::RNR_RETRY) {
            self.rnr_retry = a.rnr_retry.min(7);
            self.rnr_left = self.rnr_retry;
        }
        if m.contains(QpAttrMask::DEST_QPN) {
            self.dest_qpn = a.dest_qpn & 0xFF_FFFF;
        }
        if m.contains(QpAttrMask::SQ_PSN) {
            self.sq_psn = a.sq_psn & 0xFF_FFFF;
            self.next_psn = self.sq_psn;
            self.una = self.sq_psn;
        }
        if m.contains(QpAttrMask::RQ_PSN) {
            self.rq_psn = a.rq_psn & 0xFF_FFFF;
            self.epsn = self.rq_psn;
        }
        if m.contains(QpAttrMask::TIMEOUT) {
            self.timeout = a.timeout;
        }
        if m.contains(QpAttrMask::MIN_RNR_TIMER) {
            self.min_rnr_timer = a.min_rnr_timer & 0x1F;
        }
        if m.contains(QpAttrMask::IRD) {
            self.ird = a.ird;
        }
        if m.contains(QpAttrMask::ORD) {
            self.ord = a.ord;
        }
        if m.contains(QpAttrMask::ADDRESS) {
            self.sgid_index = a.sgid_index;
            self.hop_limit = if a.hop_limit == 0 { 64 } else { a.hop_limit };
            self.traffic_class = a.traffic_class;
            self.udp_sport = a.udp_sport;
            self.dest_gid = a.dest_gid;
            self.dest_mac = a.dest_mac;
        }
        if m.contains(QpAttrMask::ACCESS) {
            self.access = a.access;
        }
        if m.contains(QpAttrMask::STATE) {
            self.state = a.state;
        }
    }
}

fn cqe_op(op: SendOpcode) -> CqeOpcode {
    match op {
        SendOpcode::Nop => CqeOpcode::Nop,
        SendOpcode::Send | SendOpcode::SendSe | SendOpcode::SendInv => CqeOpcode::Send,
        SendOpcode::Write => CqeOpcode::Write,
        SendOpcode::Read => CqeOpcode::Read,
        SendOpcode::FastReg => CqeOpcode::FastReg,
        SendOpcode::Bind => CqeOpcode::Bind,
        SendOpcode::LocalInv => CqeOpcode::LocalInv,
    }
}

fn nak_status(code: NakCode) -> (CqeStatus, u32) {
    match code {
        NakCode::RemoteAccessError => (CqeStatus::RemoteAccess, syndrome::NAK_REMOTE_ACCESS),
        NakCode::RemoteOperationalError => {
            (CqeStatus::RemoteOperation, syndrome::NAK_REMOTE_OPERATION)
        }
        _ => (
            CqeStatus::RemoteInvalidRequest,
            syndrome::NAK_INVALID_REQUEST,
        ),
    }
}

fn status_of(syn: u32) -> CqeStatus {
    syndrome::status(syn).unwrap_or(CqeStatus::Fatal)
}

impl Device {
    // ---------------------------------------------------------------------------------
    // Admin: create / modify / query / destroy (§6.4.6, §7)
    // ---------------------------------------------------------------------------------

    pub(crate) fn create_qp(&mut self, c: &CreateQp) -> Result<(), CmdStatus> {
        use CmdStatus as S;
        if c.qpn < 2 || c.qpn >= self.attrs.max_qp {
            return Err(S::BadObject);
        }
        if self.qps.contains_key(&c.qpn) {
            return Err(S::BadState);
        }
        if !self.pds.contains_key(&c.pdn)
            || !self.cqs.contains_key(&c.send_cqn)
            || !self.cqs.contains_key(&c.recv_cqn)
        {
            return Err(S::BadObject);
        }
        if let Some(s) = c.srqn {
            if !self.srqs.contains_key(&s) {
                return Err(S::BadObject);
            }
            if c.log2_rq_depth != 0 || c.log2_rq_stride != 0 {
                return Err(S::BadParam);
            }
        } else if !(1..=15).contains(&c.log2_rq_depth) || !(5..=9).contains(&c.log2_rq_stride) {
            return Err(S::BadParam);
        }
        if !(1..=15).contains(&c.log2_sq_depth) || !(6..=9).contains(&c.log2_sq_stride) {
            return Err(S::BadParam);
        }
        let qp = Qp::new(c);
        qp.write_record();
        self.qps.insert(c.qpn, qp);
        self.pd_ref(c.pdn, true);
        if let Some(cq) = self.cqs.get_mut(&c.send_cqn) {
            cq.users += 1;
        }
        if let Some(cq) = self.cqs.get_mut(&c.recv_cqn) {
            cq.users += 1;
        }
        if let Some(s) = c.srqn.and_then(|s| self.srqs.get_mut(&s)) {
            s.users += 1;
        }
        Ok(())
    }

    pub(crate) fn modify_qp(&mut self, qpn: u32, attr: &QpAttr) -> Result<(), CmdStatus> {
        let qp = self.qps.get(&qpn).ok_or(CmdStatus::BadObject)?;
        admin::check_modify(qp.state, attr)?;
        if attr.mask.contains(QpAttrMask::ADDRESS)
            && self
                .gids
                .get(usize::from(attr.sgid_index))
                .copied()
                .flatten()
                .is_none()
        {
            return Err(CmdStatus::BadParam);
        }
        self.apply_modify(qpn, attr);
        Ok(())
    }

    /// Applies a checked transition (admin or CM agent).
    pub(crate) fn apply_modify(&mut self, qpn: u32, attr: &QpAttr) {
        match attr.state {
            QpState::Err => {
                if let Some(qp) = self.qps.get_mut(&qpn) {
                    qp.apply(&QpAttr::state_only(QpState::Rts));
                }
                self.enter_err(qpn, None);
            }
            QpState::Reset => self.reset_qp(qpn),
            _ => {
                if let Some(qp) = self.qps.get_mut(&qpn) {
                    qp.apply(attr);
                    qp.write_record();
                }
                self.work += 1;
            }
        }
    }

    fn reset_qp(&mut self, qpn: u32) {
        let Some(old) = self.qps.remove(&qpn) else {
            return;
        };
        let c = CreateQp {
            qpn,
            pdn: old.pdn,
            send_cqn: old.send_cqn,
            recv_cqn: old.recv_cqn,
            srqn: old.srqn,
            log2_sq_depth: old.sq_log2,
            log2_sq_stride: old.sq_stride,
            log2_rq_depth: old.rq_log2,
            log2_rq_stride: old.rq_stride,
            qp_context: old.ctx,
            buf_addr: old.sq_base,
            record_addr: old.record,
        };
        let mut qp = Qp::new(&c);
        qp.rq_base = old.rq_base;
        qp.write_record();
        let db = crate::regs::doorbell_block_offset(qpn);
        self.bar2.write32(db + crate::regs::DB_SQ_PI, 0);
        self.bar2.write32(db + crate::regs::DB_RQ_PI, 0);
        self.qps.insert(qpn, qp);
    }

    pub(crate) fn query_qp(&self, qpn: u32) -> Option<QpAttr> {
        let q = self.qps.get(&qpn)?;
        Some(QpAttr {
            mask: QpAttrMask::all(),
            state: q.state,
            path_mtu: Some(q.path_mtu),
            retry_count: q.retry_count,
            rnr_retry: q.rnr_retry,
            dest_qpn: q.dest_qpn,
            sq_psn: q.sq_psn,
            rq_psn: q.rq_psn,
            timeout: q.timeout,
            min_rnr_timer: q.min_rnr_timer,
            ird: q.ird,
            ord: q.ord,
            sgid_index: q.sgid_index,
            hop_limit: q.hop_limit,
            traffic_class: q.traffic_class,
            udp_sport: q.udp_sport,
            dest_gid: q.dest_gid,
            dest_mac: q.dest_mac,
            access: q.access,
            sq_pi: q.sq_pi,
            sq_ci: q.sq_ci,
            rq_pi: q.rq_pi,
            rq_ci: q.rq_ci,
            syndrome: q.syndrome,
        })
    }

    pub(crate) fn destroy_qp(&mut self, qpn: u32) -> Result<(), CmdStatus> {
        let qp = self.qps.get(&qpn).ok_or(CmdStatus::BadObject)?;
        if !matches!(qp.state, QpState::Reset | QpState::Err) {
            return Err(CmdStatus::BadState);
        }
        if self.cm.qp_in_use(qpn) {
            return Err(CmdStatus::BadState);
        }
        // Flush CQEs first (already written on entering ERR; pick up late doorbells).
        self.sample_qp_doorbells_now(qpn);
        let Some(qp) = self.qps.remove(&qpn) else {
            return Err(CmdStatus::BadObject);
        };
        self.pd_ref(qp.pdn, false);
        if let Some(cq) = self.cqs.get_mut(&qp.send_cqn) {
            cq.users = cq.users.saturating_sub(1);
        }
        if let Some(cq) = self.cqs.get_mut(&qp.recv_cqn) {
            cq.users = cq.users.saturating_sub(1);
        }
        if let Some(s) = qp.srqn.and_then(|s| self.srqs.get_mut(&s)) {
            s.users = s.users.saturating_sub(1);
        }
        let db = crate::regs::doorbell_block_offset(qpn);
        self.bar2.write32(db + crate::regs::DB_SQ_PI, 0);
        self.bar2.write32(db + crate::regs::DB_RQ_PI, 0);
        Ok(())
    }

    fn sample_qp_doorbells_now(&mut self, qpn: u32) {
        let base = crate::regs::doorbell_block_offset(qpn);
        let sq = (self.bar2.read32(base + crate::regs::DB_SQ_PI) & 0xFFFF) as u16;
        let rq = (self.bar2.read32(base + crate::regs::DB_RQ_PI) & 0xFFFF) as u16;
        self.qp_doorbells(qpn, sq, rq);
    }

    /// SQ_PI / RQ_PI doorbells (§12.2): remembered in RESET/INIT/RTR, flushed in ERR.
    pub(crate) fn qp_doorbells(&mut self, qpn: u32, sq: u16, rq: u16) {
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        if qp.sq_pi != sq || qp.rq_pi != rq {
            self.work += 1;
        }
        qp.sq_pi = sq;
        if qp.srqn.is_none() {
            qp.rq_pi = rq;
        }
        if qp.state == QpState::Err {
            self.flush_pending(qpn);
        }
    }

    // ---------------------------------------------------------------------------------
    // ERR and flush (§7)
    // ---------------------------------------------------------------------------------

    /// Moves a QP to ERR and flushes. `own`: the syndrome when the QP failed on its own
    /// (its error CQE is already written): QP_ERROR EQE and the CM agent reports BROKEN.
    pub(crate) fn enter_err(&mut self, qpn: u32, own: Option<u32>) {
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        let was = qp.state;
        qp.state = QpState::Err;
        if let Some(s) = own {
            qp.syndrome = s;
        }
        qp.deadline = None;
        qp.rnr_until = None;
        qp.pending_rts = false;
        let ctx = qp.ctx;
        // Started WQEs, in order.
        let ops: Vec<SqOp> = qp.inflight.drain(..).collect();
        let send_cqn = qp.send_cqn;
        let recv_cqn = qp.recv_cqn;
        let recv_cur = qp.recv_cur.take();
        qp.write_cur = None;
        qp.reads.clear();
        for op in ops {
            if let Some(q) = self.qps.get_mut(&qpn) {
                q.sq_ci = q.sq_ci.wrapping_add(1);
                q.write_record();
            }
            let c = Cqe::flushed(op.wr_id, ctx, qpn, op.wqe_index, op.cqe_op);
            self.post_cqe(send_cqn, c);
        }
        if let Some(r) = recv_cur {
            let mut c = Cqe::flushed(r.wr_id, ctx, qpn, r.wqe_index, CqeOpcode::Recv);
            if let Some(s) = r.srqn {
                c.srqn = s;
                c.flags = CqeFlags::FROM_SRQ;
            }
            self.post_cqe(recv_cqn, c);
        }
        self.flush_pending(qpn);
        if let Some(q) = self.qps.get(&qpn) {
            q.write_record();
        }
        if let Some(s) = own {
            if was != QpState::Err {
                self.post_qp_error(qpn, ctx, s);
                self.cm_qp_broken(qpn);
            }
        }
        self.work += 1;
    }

    /// Flushes WQEs announced but not started (SQ) or not consumed (RQ).
    fn flush_pending(&mut self, qpn: u32) {
        loop {
            let Some(qp) = self.qps.get_mut(&qpn) else {
                return;
            };
            if qp.sq_next == qp.sq_pi {
                break;
            }
            let idx = qp.sq_next;
            let addr = qp.sq_slot(idx);
            qp.sq_next = idx.wrapping_add(1);
            qp.sq_ci = qp.sq_next;
            qp.write_record();
            let (ctx, cqn) = (qp.ctx, qp.send_cqn);
            let ctrl = dma::read_array::<32>(addr).unwrap_or([0; 32]);
            let op = SendOpcode::from_u8(ctrl[0]).map_or(CqeOpcode::Send, cqe_op);
            let wr_id = u64::from_le_bytes([
                ctrl[16], ctrl[17], ctrl[18], ctrl[19], ctrl[20], ctrl[21], ctrl[22], ctrl[23],
            ]);
            self.post_cqe(cqn, Cqe::flushed(wr_id, ctx, qpn, idx, op));
        }
        loop {
            let Some(qp) = self.qps.get_mut(&qpn) else {
                return;
            };
            if qp.srqn.is_some() || qp.rq_ci == qp.rq_pi {
                break;
            }
            let idx = qp.rq_ci;
            let addr = qp.rq_slot(idx);
            qp.rq_ci = idx.wrapping_add(1);
            qp.write_record();
            let (ctx, cqn) = (qp.ctx, qp.recv_cqn);
            let wr_id = dma::read_u64(addr).unwrap_or(0);
            self.post_cqe(cqn, Cqe::flushed(wr_id, ctx, qpn, idx, CqeOpcode::Recv));
        }
    }

    // ---------------------------------------------------------------------------------
    // Frames
    // ---------------------------------------------------------------------------------

    fn qp_path(&self, qp: &Qp) -> RocePath {
        let src = self
            .gids
            .get(usize::from(qp.sgid_index))
            .copied()
            .flatten()
            .map_or([0; 16], |g| g.1);
        let mut p = RocePath::new(
            MacAddr(self.mac),
            MacAddr(qp.dest_mac),
            Gid(src),
            Gid(qp.dest_gid),
        );
        p.hop_limit = qp.hop_limit;
        p.traffic_class = qp.traffic_class | super::wire::ip::ecn::ECT0;
        p.udp_src_port = if qp.udp_sport != 0 {
            qp.udp_sport
        } else {
            src_port_from_flow_label(flow_label_from_qpns(qp.qpn, qp.dest_qpn))
        };
        p
    }

    fn send_packet(&mut self, qpn: u32, bth: Bth, ext: ExtHeaders, payload: &[u8]) {
        let Some(qp) = self.qps.get(&qpn) else { return };
        let path = self.qp_path(qp);
        if let Ok(f) = RocePacket::new(bth, ext, payload).build(&path) {
            self.transmit(f);
        }
    }

    /// DCQCN (§9.6): answer a CE-marked request with a CNP, at most one per QP per 50 µs.
    fn send_cnp(&mut self, qpn: u32) {
        let now = self.now;
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        if qp.last_cnp.is_some_and(|t| now < t + 50_000) {
            return;
        }
        qp.last_cnp = Some(now);
        let Some(qp) = self.qps.get(&qpn) else {
            return;
        };
        let cnp = RocePacket::cnp(qp.dest_qpn);
        let path = self.qp_path(qp);
        if let Ok(f) = cnp.build(&path) {
            self.stats.cnps_sent += 1;
            self.transmit(f);
        }
    }

    fn send_ack(&mut self, qpn: u32, psn: u32, syn: Syndrome) {
        let Some(qp) = self.qps.get(&qpn) else { return };
        let bth = Bth::new(Opcode::RcAck, qp.dest_qpn, psn);
        let ext = ExtHeaders {
            aeth: Some(Aeth {
                syndrome: syn,
                msn: qp.msn & 0xFF_FFFF,
            }),
            ..ExtHeaders::default()
        };
        match syn {
            Syndrome::Nak(_) => self.stats.naks_sent += 1,
            Syndrome::RnrNak { .. } => self.stats.rnr_naks_sent += 1,
            Syndrome::Ack { .. } => {}
        }
        self.send_packet(qpn, bth, ext, &[]);
    }

    /// A received, verified RoCEv2 frame for an RC QP (§9).
    pub(crate) fn receive_rc(&mut self, f: &RoceFrame<'_>) {
        let qpn = f.bth.dest_qp;
        let Some(qp) = self.qps.get(&qpn) else {
            self.stats.rx_discards += 1;
            return;
        };
        let op = f.bth.opcode;
        if op == Opcode::Cnp {
            self.stats.cnps_received += 1;
            return;
        }
        if op.is_request() {
            match qp.state {
                QpState::Rtr | QpState::Rts => {}
                _ => {
                    self.stats.rx_discards += 1;
                    return;
                }
            }
            if qp.pending_rts {
                self.cm_first_request(qpn);
            }
            if f.congestion_experienced() {
                self.send_cnp(qpn);
            }
            self.responder(qpn, f);
        } else {
            if qp.state != QpState::Rts {
                self.stats.rx_discards += 1;
                return;
            }
            if op == Opcode::RcAck {
                if let Some(a) = f.ext.aeth {
                    self.on_ack(qpn, f.bth.psn, a);
                }
            } else if op.is_read_response() {
                self.on_read_response(qpn, f);
            } else {
                self.stats.rx_discards += 1;
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Responder (§9.3, §9.4, §12.4)
    // ---------------------------------------------------------------------------------

    fn responder(&mut self, qpn: u32, f: &RoceFrame<'_>) {
        let psn = f.bth.psn;
        let Some(epsn) = self.qps.get(&qpn).map(|q| q.epsn) else {
            return;
        };
        let d = psn_diff(psn, epsn);
        let is_read = f.bth.opcode == Opcode::RcReadRequest;
        // Only consecutive in-sequence READ requests wait in the read queue; anything else
        // the responder sends follows the responses of the reads accepted before it.
        if !(is_read && d == 0) {
            self.serve_reads(qpn);
        }
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        if d < 0 {
            self.stats.duplicate_requests += 1;
            if is_read {
                if let Some(reth) = f.ext.reth {
                    // Re-read (§9.3): answer the duplicate again without moving state; a
                    // retransmission of a read still queued is answered from the queue.
                    if !qp.reads.iter().any(|r| r.psn == psn) {
                        let _ = self.answer_read(qpn, psn, reth, None);
                    }
                }
            } else {
                qp.ack_pending = true;
            }
            return;
        }
        if d > 0 {
            self.stats.out_of_sequence += 1;
            if !qp.nak_sent {
                qp.nak_sent = true;
                let e = qp.epsn;
                self.send_ack(qpn, e, Syndrome::Nak(NakCode::PsnSequenceError));
            }
            return;
        }
        qp.nak_sent = false;
        let op = f.bth.opcode;
        let result = if op.is_send() {
            self.rx_send(qpn, f)
        } else if op.is_write() {
            self.rx_write(qpn, f)
        } else if op == Opcode::RcReadRequest {
            match f.ext.reth {
                Some(reth) => {
                    let qp_access = self.qps.get(&qpn).map(|q| q.access);
                    if !qp_access.is_some_and(|a| a.contains(AccessFlags::REMOTE_READ)) {
                        Err(NakCode::RemoteAccessError)
                    } else {
                        self.accept_read(qpn, psn, reth)
                    }
                }
                None => Err(NakCode::InvalidRequest),
            }
        } else {
            Err(NakCode::InvalidRequest)
        };
        match result {
            Ok(true) => {
                if let Some(qp) = self.qps.get_mut(&qpn) {
                    if op != Opcode::RcReadRequest {
                        qp.epsn = psn_add(psn, 1);
                        if f.bth.ack_req {
                            qp.ack_pending = true;
                        }
                    }
                }
            }
            Ok(false) => {} // RNR NAK sent, nothing consumed
            Err(code) => {
                // The reads accepted before this request are answered before its NAK.
                self.serve_reads(qpn);
                self.send_ack(qpn, psn, Syndrome::Nak(code));
                let syn = match code {
                    NakCode::RemoteAccessError => syndrome::NAK_REMOTE_ACCESS,
                    NakCode::RemoteOperationalError => syndrome::NAK_REMOTE_OPERATION,
                    _ => syndrome::NAK_INVALID_REQUEST,
                };
                self.enter_err(qpn, Some(syn));
            }
        }
    }

    /// Takes the next receive WQE (RQ or SRQ), `None` when there is none (RNR).
    fn take_recv(&mut self, qpn: u32) -> Option<Result<RecvCur, ()>> {
        let qp = self.qps.get_mut(&qpn)?;
        let (addr, stride, srqn, idx) = match qp.srqn {
            None => {
                if qp.rq_ci == qp.rq_pi {
                    return None;
                }
                let idx = qp.rq_ci;
                let a = qp.rq_slot(idx);
                qp.rq_ci = idx.wrapping_add(1);
                qp.write_record();
                (a, qp.rq_stride, None, idx)
            }
            Some(s) => {
                let srq = self.srqs.get_mut(&s)?;
                if srq.ci == srq.pi {
                    return None;
                }
                let idx = srq.ci;
                let a = srq.ring.wrapping_add(
                    (ring::slot(u32::from(idx), srq.log2_depth) as u64) << srq.log2_stride,
                );
                srq.ci = idx.wrapping_add(1);
                let _ = dma::write_u32(srq.record, u32::from(srq.ci));
                let st = srq.log2_stride;
                self.check_srq_limit(s);
                (a, st, Some(s), idx)
            }
        };
        let mut slot = std::vec![0u8; 1usize << stride];
        if !dma::read(addr, &mut slot) {
            return Some(Err(()));
        }
        let Ok(w) = RecvWqe::decode(&slot) else {
            return Some(Err(()));
        };
        Some(Ok(RecvCur {
            wr_id: w.header.wr_id,
            wqe_index: idx,
            sges: w.sges.iter().collect(),
            offset: 0,
            srqn,
        }))
    }

    fn recv_cqe(&mut self, qpn: u32, r: &RecvCur, status: CqeStatus, syn: u32, extra: Cqe) {
        let Some(qp) = self.qps.get(&qpn) else { return };
        let mut c = extra;
        c.wr_id = r.wr_id;
        c.qp_context = qp.ctx;
        c.qpn = qpn;
        c.wqe_index = r.wqe_index;
        c.status = status;
        c.syndrome = syn;
        if let Some(s) = r.srqn {
            c.srqn = s;
            c.flags |= CqeFlags::FROM_SRQ;
        }
        let cqn = qp.recv_cqn;
        self.post_cqe(cqn, c);
    }

    /// A SEND packet in sequence. `Ok(false)`: RNR NAK sent.
    fn rx_send(&mut self, qpn: u32, f: &RoceFrame<'_>) -> Result<bool, NakCode> {
        let pos = f.bth.opcode.position().unwrap_or(Position::Only);
        let (pdn, min_rnr) = match self.qps.get(&qpn) {
            Some(q) => (q.pdn, q.min_rnr_timer),
            None => return Err(NakCode::InvalidRequest),
        };
        let has_cur = self.qps.get(&qpn).is_some_and(|q| q.recv_cur.is_some());
        match pos {
            Position::First | Position::Only if !has_cur => match self.take_recv(qpn) {
                None => {
                    self.send_ack(qpn, f.bth.psn, Syndrome::RnrNak { timer: min_rnr });
                    return Ok(false);
                }
                Some(Err(())) => return Err(NakCode::RemoteOperationalError),
                Some(Ok(r)) => {
                    if let Some(q) = self.qps.get_mut(&qpn) {
                        q.recv_cur = Some(r);
                    }
                }
            },
            Position::First | Position::Only => return Err(NakCode::InvalidRequest),
            _ if !has_cur => return Err(NakCode::InvalidRequest),
            _ => {}
        }
        let Some(mut cur) = self.qps.get_mut(&qpn).and_then(|q| q.recv_cur.take()) else {
            return Err(NakCode::InvalidRequest);
        };
        let len = f.payload.len() as u64;
        match self.scatter_runs(pdn, &cur.sges, cur.offset, len) {
            Ok(runs) => {
                if !write_runs(&runs, f.payload) {
                    self.recv_cqe(qpn, &cur, CqeStatus::Fatal, syndrome::DMA_ERROR, blank());
                    return Err(NakCode::RemoteOperationalError);
                }
            }
            Err(s) if s == syndrome::RECV_TOO_SMALL => {
                self.recv_cqe(qpn, &cur, CqeStatus::ReceiveOverflow, s, blank());
                return Err(NakCode::InvalidRequest);
            }
            Err(s) => {
                self.recv_cqe(qpn, &cur, CqeStatus::LocalProtection, s, blank());
                return Err(NakCode::RemoteOperationalError);
            }
        }
        cur.offset += len;
        if matches!(pos, Position::Last | Position::Only) {
            let mut extra = blank();
            extra.byte_count = u32::try_from(cur.offset).unwrap_or(u32::MAX);
            extra.opcode = CqeOpcode::Recv;
            if f.bth.solicited {
                extra.flags |= CqeFlags::SOLICITED;
            }
            if let Some(k) = f.ext.ieth {
                if self.invalidate(k, pdn, true).is_err() {
                    self.recv_cqe(
                        qpn,
                        &cur,
                        CqeStatus::BadRequest,
                        syndrome::INVALIDATE_ERROR,
                        blank(),
                    );
                    return Err(NakCode::InvalidRequest);
                }
                extra.opcode = CqeOpcode::RecvInv;
                extra.invalidated_rkey = k;
            }
            if let Some(q) = self.qps.get_mut(&qpn) {
                q.msn = psn_add(q.msn, 1);
            }
            self.recv_cqe(qpn, &cur, CqeStatus::Success, 0, extra);
        } else if let Some(q) = self.qps.get_mut(&qpn) {
            q.recv_cur = Some(cur);
        }
        Ok(true)
    }

    fn rx_write(&mut self, qpn: u32, f: &RoceFrame<'_>) -> Result<bool, NakCode> {
        let pos = f.bth.opcode.position().unwrap_or(Position::Only);
        let Some(qp) = self.qps.get(&qpn) else {
            return Err(NakCode::InvalidRequest);
        };
        let (pdn, access) = (qp.pdn, qp.access);
        let mut cur = match pos {
            Position::First | Position::Only => {
                let Some(reth) = f.ext.reth else {
                    return Err(NakCode::InvalidRequest);
                };
                if !access.contains(AccessFlags::REMOTE_WRITE) {
                    return Err(NakCode::RemoteAccessError);
                }
                // The whole range is checked before any byte is written (§9.4).
                self.translate(
                    reth.rkey,
                    pdn,
                    reth.va,
                    u64::from(reth.dma_len),
                    AccessFlags::REMOTE_WRITE,
                    true,
                )
                .map_err(|_| NakCode::RemoteAccessError)?;
                WriteCur {
                    va: reth.va,
                    rkey: reth.rkey,
                    left: u64::from(reth.dma_len),
                }
            }
            _ => qp.write_cur.ok_or(NakCode::InvalidRequest)?,
        };
        let len = f.payload.len() as u64;
        let last = matches!(pos, Position::Last | Position::Only);
        if len > cur.left || (last && len != cur.left) {
            return Err(NakCode::InvalidRequest);
        }
        let runs = self
            .translate(cur.rkey, pdn, cur.va, len, AccessFlags::REMOTE_WRITE, true)
            .map_err(|_| NakCode::RemoteAccessError)?;
        if !write_runs(&runs, f.payload) {
            return Err(NakCode::RemoteOperationalError);
        }
        cur.va += len;
        cur.left -= len;
        if let Some(q) = self.qps.get_mut(&qpn) {
            if last {
                q.write_cur = None;
                q.msn = psn_add(q.msn, 1);
            } else {
                q.write_cur = Some(cur);
            }
        }
        Ok(true)
    }

    /// Checks a READ request's length and range (§9.4), returning the host runs to read.
    fn check_read(&self, qpn: u32, reth: Reth) -> Result<Vec<(u64, usize)>, NakCode> {
        let Some(qp) = self.qps.get(&qpn) else {
            return Err(NakCode::InvalidRequest);
        };
        if reth.dma_len > self.attrs.max_msg_size {
            return Err(NakCode::InvalidRequest);
        }
        self.translate(
            reth.rkey,
            qp.pdn,
            reth.va,
            u64::from(reth.dma_len),
            AccessFlags::REMOTE_READ,
            true,
        )
        .map_err(|_| NakCode::RemoteAccessError)
    }

    /// A new READ request in sequence (§9.3): queued when fewer than IRD reads are
    /// outstanding, otherwise Invalid Request. Its responses are sent by `serve_reads`.
    fn accept_read(&mut self, qpn: u32, psn: u32, reth: Reth) -> Result<bool, NakCode> {
        let Some(qp) = self.qps.get(&qpn) else {
            return Err(NakCode::InvalidRequest);
        };
        if qp.reads.len() >= usize::from(qp.ird.max(1)) {
            return Err(NakCode::InvalidRequest);
        }
        self.check_read(qpn, reth)?;
        let Some(q) = self.qps.get_mut(&qpn) else {
            return Err(NakCode::InvalidRequest);
        };
        let npkts = seg::packet_count(reth.dma_len, q.mtu());
        q.epsn = psn_add(psn, npkts);
        q.msn = psn_add(q.msn, 1);
        let msn = q.msn;
        q.reads.push_back(PendingRead { psn, reth, msn });
        self.work += 1;
        Ok(true)
    }

    /// Sends the responses of every queued READ, in PSN order. A read failing now (host
    /// memory) is NAKed and the QP goes to ERR.
    fn serve_reads(&mut self, qpn: u32) {
        loop {
            let Some(r) = self.qps.get_mut(&qpn).and_then(|q| q.reads.pop_front()) else {
                return;
            };
            if let Err(code) = self.answer_read(qpn, r.psn, r.reth, Some(r.msn)) {
                self.send_ack(qpn, r.psn, Syndrome::Nak(code));
                let syn = match code {
                    NakCode::RemoteAccessError => syndrome::NAK_REMOTE_ACCESS,
                    NakCode::RemoteOperationalError => syndrome::NAK_REMOTE_OPERATION,
                    _ => syndrome::NAK_INVALID_REQUEST,
                };
                self.enter_err(qpn, Some(syn));
                return;
            }
        }
    }

    /// Sends the READ responses for a request at `psn`: a queued one (`msn`: its MSN) or a
    /// duplicate (`None`: the current MSN), re-read from memory.
    fn answer_read(
        &mut self,
        qpn: u32,
        psn: u32,
        reth: Reth,
        msn: Option<u32>,
    ) -> Result<(), NakCode> {
        let runs = self.check_read(qpn, reth)?;
        let mut data = Vec::new();
        if !read_runs(&runs, &mut data) {
            return Err(NakCode::RemoteOperationalError);
        }
        let (dest, mtu, msn) = match self.qps.get(&qpn) {
            Some(q) => (q.dest_qpn, q.mtu(), msn.unwrap_or(q.msn)),
            None => return Ok(()),
        };
        for s in seg::segments(MessageKind::ReadResponse, reth.dma_len, mtu) {
            let bth = Bth::new(s.opcode, dest, psn_add(psn, s.index));
            let aeth = matches!(
                s.position,
                Position::First | Position::Last | Position::Only
            )
            .then_some(Aeth {
                syndrome: Syndrome::Ack {
                    credits: CREDITS_INVALID,
                },
                msn,
            });
            let ext = ExtHeaders {
                aeth,
                ..ExtHeaders::default()
            };
            let a = s.offset as usize;
            let payload = data.get(a..a + s.len as usize).unwrap_or(&[]);
            self.send_packet(qpn, bth, ext, payload);
        }
        Ok(())
    }

    /// Invalidates `key` (SEND_INV, LOCAL_INV, READ local invalidate): a fast-register MR
    /// or a window of PD `pdn`.
    pub(crate) fn invalidate(&mut self, key: u32, pdn: u32, remote: bool) -> Result<(), u32> {
        let k = Key(key);
        let m = self
            .mpt
            .get_mut(&k.index())
            .ok_or(syndrome::INVALIDATE_ERROR)?;
        if m.key != k || m.pdn != pdn || !(m.is_mw || m.kind == admin::MrKind::FastRegister) {
            return Err(syndrome::INVALIDATE_ERROR);
        }
        let _ = remote;
        let was_valid = m.valid;
        m.valid = false;
        if m.is_mw && was_valid {
            if let Some(p) = m.parent.take().and_then(|p| self.mpt.get_mut(&p)) {
                p.binds = p.binds.saturating_sub(1);
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------
    // Requester and completer (§9.2, §9.3, §12.3)
    // ---------------------------------------------------------------------------------

    /// Fetches and starts the WQEs announced by SQ doorbells (local operations such as BIND
    /// and FAST_REG take effect here), before the frames of the same step are received: a
    /// WQE posted before a peer's request arrives is executed before it.
    pub(crate) fn start_sqs(&mut self) {
        let qpns: Vec<u32> = self.qps.keys().copied().collect();
        for qpn in qpns {
            self.sq_start(qpn);
            self.complete(qpn);
        }
    }

    /// Runs every QP: responder ACKs, SQ fetch, transmission, timers, completions.
    pub(crate) fn run_engines(&mut self) {
        let qpns: Vec<u32> = self.qps.keys().copied().collect();
        for qpn in qpns {
            self.serve_reads(qpn);
            if let Some(q) = self.qps.get_mut(&qpn) {
                if q.ack_pending {
                    q.ack_pending = false;
                    let p = psn_add(q.epsn, 0xFF_FFFF);
                    self.send_ack(
                        qpn,
                        p,
                        Syndrome::Ack {
                            credits: CREDITS_INVALID,
                        },
                    );
                }
            }
            self.sq_timers(qpn);
            self.sq_start(qpn);
            self.sq_transmit(qpn);
            self.complete(qpn);
        }
    }

    fn sq_start(&mut self, qpn: u32) {
        loop {
            let Some(qp) = self.qps.get(&qpn) else { return };
            if qp.state != QpState::Rts
                || qp.halted
                || qp.sq_next == qp.sq_pi
                || qp.inflight.len() >= MAX_INFLIGHT
            {
                return;
            }
            let idx = qp.sq_next;
            let mut slot = std::vec![0u8; 1usize << qp.sq_stride];
            let dma_ok = dma::read(qp.sq_slot(idx), &mut slot);
            let pdn = qp.pdn;
            let wqe = if dma_ok {
                SendWqe::decode(&slot).map_err(|e| e.syndrome())
            } else {
                Err(syndrome::DMA_ERROR)
            };
            let wqe = match wqe {
                Ok(w) if w.ctrl.wqe_index != idx => Err(syndrome::WQE_INDEX_MISMATCH),
                other => other,
            };
            let w = match wqe {
                Ok(w) => w,
                Err(syn) => {
                    let wr_id = dma::read_u64(qp.sq_slot(idx).wrapping_add(16)).unwrap_or(0);
                    self.push_failed(qpn, idx, wr_id, CqeOpcode::Send, syn);
                    return;
                }
            };
            let flags = w.ctrl.flags;
            let reads_out = qp
                .inflight
                .iter()
                .filter(|o| matches!(o.kind, OpKind::Read { .. }) && o.done.is_none())
                .count();
            if flags.contains(WqeFlags::FENCE) && reads_out > 0 {
                return;
            }
            if w.ctrl.opcode == SendOpcode::LocalInv && qp.inflight.iter().any(|o| o.done.is_none())
            {
                return;
            }
            if w.ctrl.opcode == SendOpcode::Read && reads_out >= usize::from(qp.ord.max(1)) {
                return;
            }
            let mtu = qp.mtu();
            let cop = cqe_op(w.ctrl.opcode);
            let mut op = SqOp {
                wqe_index: idx,
                wr_id: w.ctrl.wr_id,
                cqe_op: cop,
                signaled: flags.contains(WqeFlags::SIGNALED),
                first_psn: qp.next_psn,
                npkts: 0,
                sent: 0,
                kind: OpKind::Local,
                done: None,
                byte_count: 0,
            };
            let res: Result<OpKind, u32> = match w.op {
                SendWqeOp::Nop => Ok(OpKind::Local),
                SendWqeOp::Send { payload } => {
                    self.payload(pdn, &payload).map(|data| OpKind::Send {
                        data,
                        inv: (w.ctrl.opcode == SendOpcode::SendInv).then_some(w.ctrl.inv_key),
                        se: flags.contains(WqeFlags::SOLICITED)
                            || w.ctrl.opcode == SendOpcode::SendSe,
                    })
                }
                SendWqeOp::Write { remote, payload } => {
                    self.payload(pdn, &payload).map(|data| OpKind::Write {
                        data,
                        va: remote.remote_addr,
                        rkey: remote.rkey,
                    })
                }
                SendWqeOp::Read { remote, sinks } => {
                    let sinks: Vec<DataSeg> = sinks.iter().collect();
                    let len: u64 = sinks.iter().map(|s| u64::from(s.length)).sum();
                    if len > u64::from(self.attrs.max_msg_size) {
                        Err(syndrome::MSG_TOO_LONG)
                    } else {
                        // Sinks are checked before the request goes out (§9.5).
                        match self.scatter_runs(pdn, &sinks, 0, len) {
                            Ok(_) => Ok(OpKind::Read {
                                va: remote.remote_addr,
                                rkey: remote.rkey,
                                len: len as u32,
                                local_inv: flags
                                    .contains(WqeFlags::LOCAL_INVALIDATE)
                                    .then(|| sinks.first().map_or(0, |s| s.lkey)),
                                sinks,
                                recvd: 0,
                            }),
                            Err(s) => Err(s),
                        }
                    }
                }
                SendWqeOp::FastReg { seg, pages } => {
                    self.fast_reg(pdn, &seg, &pages).map(|()| OpKind::Local)
                }
                SendWqeOp::Bind(b) => self.bind(pdn, &b).map(|()| OpKind::Local),
                SendWqeOp::LocalInv => self
                    .invalidate(w.ctrl.inv_key, pdn, false)
                    .map(|()| OpKind::Local),
            };
            let kind = match res {
                Ok(k) => k,
                Err(syn) => {
                    self.push_failed(qpn, idx, w.ctrl.wr_id, cop, syn);
                    return;
                }
            };
            op.npkts = match &kind {
                OpKind::Local => 0,
                OpKind::Send { data, .. } | OpKind::Write { data, .. } => {
                    seg::packet_count(data.len() as u32, mtu)
                }
                OpKind::Read { len, .. } => seg::packet_count(*len, mtu),
            };
            if matches!(kind, OpKind::Local) {
                op.done = Some((CqeStatus::Success, 0));
            }
            op.kind = kind;
            let Some(qp) = self.qps.get_mut(&qpn) else {
                return;
            };
            qp.next_psn = psn_add(qp.next_psn, op.npkts);
            qp.sq_next = idx.wrapping_add(1);
            qp.inflight.push_back(op);
            self.work += 1;
        }
    }

    fn payload(&self, pdn: u32, p: &WqePayload<'_>) -> Result<Vec<u8>, u32> {
        match p {
            WqePayload::Inline(b) => Ok(b.to_vec()),
            WqePayload::Gather(d) => {
                let segs: Vec<DataSeg> = d.iter().collect();
                self.gather(pdn, &segs)
            }
        }
    }

    fn push_failed(&mut self, qpn: u32, idx: u16, wr_id: u64, cop: CqeOpcode, syn: u32) {
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        qp.inflight.push_back(SqOp {
            wqe_index: idx,
            wr_id,
            cqe_op: cop,
            signaled: true,
            first_psn: qp.next_psn,
            npkts: 0,
            sent: 0,
            kind: OpKind::Local,
            done: Some((status_of(syn), syn)),
            byte_count: 0,
        });
        qp.sq_next = idx.wrapping_add(1);
        qp.halted = true;
        self.work += 1;
    }

    fn fast_reg(
        &mut self,
        pdn: u32,
        seg: &crate::wqe::FastRegSeg,
        pages: &FastRegPages<'_>,
    ) -> Result<(), u32> {
        let k = Key(seg.key);
        let list: Vec<u64> = match pages {
            FastRegPages::Inline(l) => l.iter().collect(),
            FastRegPages::Host { addr, count } => {
                let n = *count as usize;
                let mut raw = std::vec![0u8; n.checked_mul(8).ok_or(syndrome::FAST_REG_ERROR)?];
                if !dma::read(*addr, &mut raw) {
                    return Err(syndrome::DMA_ERROR);
                }
                raw.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect()
            }
        };
        let m = self
            .mpt
            .get_mut(&k.index())
            .ok_or(syndrome::FAST_REG_ERROR)?;
        let Some((max_pages, allowed)) = m.fr_init else {
            return Err(syndrome::FAST_REG_ERROR);
        };
        let remote = AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE;
        if m.is_mw
            || m.pdn != pdn
            || m.valid
            || seg.page_count > max_pages
            || !allowed.contains(seg.access & remote)
            || (list.len() as u64) < u64::from(seg.page_count)
        {
            return Err(syndrome::FAST_REG_ERROR);
        }
        let psize = 1u64 << 12;
        if u64::from(seg.first_byte_offset) + seg.length > u64::from(seg.page_count) * psize {
            return Err(syndrome::FAST_REG_ERROR);
        }
        m.key = k;
        m.valid = true;
        m.access = seg.access;
        m.iova = seg.iova;
        m.length = seg.length;
        m.log2_page = 12;
        m.fbo = seg.first_byte_offset;
        m.pages = Pages::List(list);
        Ok(())
    }

    fn bind(&mut self, pdn: u32, b: &crate::wqe::BindSeg) -> Result<(), u32> {
        let mrk = Key(b.mr_key);
        let mr = self.mpt.get(&mrk.index()).ok_or(syndrome::BIND_ERROR)?;
        let end = b.addr.checked_add(b.length).ok_or(syndrome::BIND_ERROR)?;
        if mr.is_mw
            || mr.key != mrk
            || !mr.valid
            || mr.pdn != pdn
            || !mr.access.contains(AccessFlags::MW_BIND)
            || b.addr < mr.iova
            || end > mr.iova.saturating_add(mr.length)
        {
            return Err(syndrome::BIND_ERROR);
        }
        let mwk = Key(b.mw_key);
        let mw = self.mpt.get_mut(&mwk.index()).ok_or(syndrome::BIND_ERROR)?;
        if !mw.is_mw || mw.pdn != pdn || mw.key.index() != mwk.index() {
            return Err(syndrome::BIND_ERROR);
        }
        let old_parent = if mw.valid { mw.parent } else { None };
        mw.key = mwk;
        mw.valid = true;
        mw.access = b.access;
        mw.iova = b.addr;
        mw.length = b.length;
        mw.parent = Some(mrk.index());
        if let Some(p) = old_parent.and_then(|p| self.mpt.get_mut(&p)) {
            p.binds = p.binds.saturating_sub(1);
        }
        if let Some(p) = self.mpt.get_mut(&mrk.index()) {
            p.binds += 1;
        }
        Ok(())
    }

    fn sq_transmit(&mut self, qpn: u32) {
        let now = self.now;
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        if qp.state != QpState::Rts {
            return;
        }
        if let Some(t) = qp.rnr_until {
            if now < t {
                return;
            }
            qp.rnr_until = None;
        }
        let mut budget = BURST;
        let mut i = 0;
        while budget > 0 {
            let Some(qp) = self.qps.get_mut(&qpn) else {
                return;
            };
            let Some(op) = qp.inflight.get(i) else { break };
            if op.sent >= op.npkts || op.done.is_some() {
                i += 1;
                continue;
            }
            let psn = psn_add(op.first_psn, op.sent);
            if psn_diff(psn, qp.una) >= WINDOW as i32 {
                break;
            }
            let mtu = qp.mtu();
            let dest = qp.dest_qpn;
            let k = op.sent;
            let (bth, ext, payload, adv): (Bth, ExtHeaders, Vec<u8>, u32) = match &op.kind {
                OpKind::Local => {
                    i += 1;
                    continue;
                }
                OpKind::Send { data, inv, se } => {
                    let kind = if inv.is_some() {
                        MessageKind::SendInv
                    } else {
                        MessageKind::Send
                    };
                    let Some(s) = segment_at(kind, data.len() as u32, mtu, k) else {
                        break;
                    };
                    let mut bth = Bth::new(s.opcode, dest, psn);
                    let last = matches!(s.position, Position::Last | Position::Only);
                    bth.solicited = last && *se;
                    bth.ack_req = last || k % 16 == 15;
                    let ext = ExtHeaders {
                        ieth: if last { *inv } else { None },
                        ..ExtHeaders::default()
                    };
                    let a = s.offset as usize;
                    let p = data.get(a..a + s.len as usize).unwrap_or(&[]).to_vec();
                    (bth, ext, p, 1)
                }
                OpKind::Write { data, va, rkey } => {
                    let Some(s) = segment_at(MessageKind::Write, data.len() as u32, mtu, k) else {
                        break;
                    };
                    let mut bth = Bth::new(s.opcode, dest, psn);
                    let last = matches!(s.position, Position::Last | Position::Only);
                    bth.ack_req = last || k % 16 == 15;
                    let reth =
                        matches!(s.position, Position::First | Position::Only).then_some(Reth {
                            va: *va,
                            rkey: *rkey,
                            dma_len: data.len() as u32,
                        });
                    let ext = ExtHeaders {
                        reth,
                        ..ExtHeaders::default()
                    };
                    let a = s.offset as usize;
                    let p = data.get(a..a + s.len as usize).unwrap_or(&[]).to_vec();
                    (bth, ext, p, 1)
                }
                OpKind::Read { va, rkey, len, .. } => {
                    let off = u64::from(k) * u64::from(mtu.bytes());
                    let mut bth = Bth::new(Opcode::RcReadRequest, dest, psn);
                    bth.ack_req = true;
                    let ext = ExtHeaders {
                        reth: Some(Reth {
                            va: va.wrapping_add(off),
                            rkey: *rkey,
                            dma_len: len.saturating_sub(off as u32),
                        }),
                        ..ExtHeaders::default()
                    };
                    (bth, ext, Vec::new(), op.npkts - k)
                }
            };
            let retrans = qp.max_sent.is_some_and(|m| psn_diff(psn, m) <= 0);
            let last_psn = psn_add(psn, adv - 1);
            if qp.max_sent.is_none_or(|m| psn_diff(last_psn, m) > 0) {
                qp.max_sent = Some(last_psn);
            }
            if let Some(op) = qp.inflight.get_mut(i) {
                op.sent += adv;
            }
            if qp.deadline.is_none() {
                qp.deadline = qp.timeout_ns().map(|t| now + t);
            }
            if retrans {
                self.stats.retransmits += 1;
            }
            self.send_packet(qpn, bth, ext, &payload);
            budget -= 1;
        }
    }

    fn sq_timers(&mut self, qpn: u32) {
        let now = self.now;
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        if qp.state != QpState::Rts {
            return;
        }
        let Some(d) = qp.deadline else { return };
        if now < d {
            return;
        }
        self.stats.local_ack_timeouts += 1;
        if qp.retries_left == 0 {
            self.fail_first(qpn, CqeStatus::RetryExceeded, syndrome::ACK_TIMEOUT);
            return;
        }
        qp.retries_left -= 1;
        // The oldest PSN not known to have arrived: a coalesced ACK may cover a READ whose
        // responses were lost, so a READ restarts at its first missing response.
        let una = qp.una;
        let from = qp
            .inflight
            .iter()
            .find(|o| o.done.is_none() && o.npkts > 0)
            .map_or(una, |o| match o.kind {
                OpKind::Read { recvd, .. } => psn_add(o.first_psn, recvd),
                _ if psn_diff(una, o.first_psn) > 0 => una,
                _ => o.first_psn,
            });
        self.resend_from(qpn, from);
        self.work += 1;
    }

    /// Go-back-N: transmit again from `psn` (§9.3).
    fn resend_from(&mut self, qpn: u32, psn: u32) {
        let now = self.now;
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        for op in qp.inflight.iter_mut() {
            if op.done.is_some() || op.npkts == 0 {
                continue;
            }
            let end = psn_add(op.first_psn, op.npkts);
            if psn_diff(end, psn) <= 0 {
                continue; // entirely before psn
            }
            let from = if psn_diff(psn, op.first_psn) > 0 {
                psn_diff(psn, op.first_psn) as u32
            } else {
                0
            };
            let from = match op.kind {
                OpKind::Read { recvd, .. } => from.max(recvd),
                _ => from,
            };
            op.sent = op.sent.min(from);
        }
        qp.deadline = qp.timeout_ns().map(|t| now + t);
    }

    /// Progress: everything before `psn` (exclusive) is acknowledged.
    fn ack_before(&mut self, qpn: u32, psn: u32) {
        let now = self.now;
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        let mut progressed = false;
        if psn_diff(psn, qp.una) > 0 && psn_diff(psn, qp.next_psn) <= 0 {
            qp.una = psn;
            progressed = true;
        }
        for op in qp.inflight.iter_mut() {
            if op.done.is_some() {
                continue;
            }
            if matches!(op.kind, OpKind::Read { .. }) {
                break;
            }
            let end = psn_add(op.first_psn, op.npkts);
            if op.sent == op.npkts && psn_diff(end, psn) <= 0 {
                op.done = Some((CqeStatus::Success, 0));
                progressed = true;
            } else {
                break;
            }
        }
        if progressed {
            qp.retries_left = qp.retry_count;
            qp.rnr_left = qp.rnr_retry;
            let outstanding = qp.inflight.iter().any(|o| o.done.is_none() && o.npkts > 0);
            qp.deadline = if outstanding {
                qp.timeout_ns().map(|t| now + t)
            } else {
                None
            };
            self.work += 1;
        }
    }

    fn on_ack(&mut self, qpn: u32, psn: u32, a: Aeth) {
        let Some(qp) = self.qps.get(&qpn) else { return };
        // Ignore ACKs of PSNs never sent.
        if qp.max_sent.is_none_or(|m| psn_diff(psn, m) > 0) {
            return;
        }
        match a.syndrome {
            Syndrome::Ack { .. } => self.ack_before(qpn, psn_add(psn, 1)),
            Syndrome::RnrNak { timer } => {
                self.stats.rnr_naks_received += 1;
                self.ack_before(qpn, psn);
                let Some(qp) = self.qps.get_mut(&qpn) else {
                    return;
                };
                if qp.rnr_retry != 7 {
                    if qp.rnr_left == 0 {
                        self.fail_first(qpn, CqeStatus::RnrRetryExceeded, syndrome::RNR_RETRIES);
                        return;
                    }
                    qp.rnr_left -= 1;
                }
                qp.rnr_until =
                    Some(self.now + u64::from(super::wire::ext::rnr_timer_micros(timer)) * 1000);
                self.resend_from(qpn, psn);
            }
            Syndrome::Nak(NakCode::PsnSequenceError) => {
                self.stats.naks_received += 1;
                self.ack_before(qpn, psn);
                let Some(qp) = self.qps.get_mut(&qpn) else {
                    return;
                };
                if qp.retries_left == 0 {
                    self.fail_first(qpn, CqeStatus::RetryExceeded, syndrome::SEQ_NAK_RETRIES);
                    return;
                }
                qp.retries_left -= 1;
                self.resend_from(qpn, psn);
            }
            Syndrome::Nak(code) => {
                self.stats.naks_received += 1;
                self.ack_before(qpn, psn);
                let (st, syn) = nak_status(code);
                self.fail_first(qpn, st, syn);
            }
        }
        self.complete(qpn);
    }

    fn on_read_response(&mut self, qpn: u32, f: &RoceFrame<'_>) {
        let psn = f.bth.psn;
        let Some(qp) = self.qps.get(&qpn) else { return };
        let pdn = qp.pdn;
        let mtu = u64::from(qp.mtu().bytes());
        let Some(i) = qp.inflight.iter().position(|o| {
            o.done.is_none()
                && matches!(o.kind, OpKind::Read { .. })
                && psn_diff(psn, o.first_psn) >= 0
                && psn_diff(psn, psn_add(o.first_psn, o.npkts)) < 0
        }) else {
            self.stats.rx_discards += 1;
            return;
        };
        let Some(op) = qp.inflight.get(i) else { return };
        let OpKind::Read { recvd, .. } = op.kind else {
            return;
        };
        if psn_diff(psn, psn_add(op.first_psn, recvd)) != 0 {
            return; // a gap: the ACK timer retransmits the rest of the read
        }
        let first = op.first_psn;
        self.ack_before(qpn, first);
        let Some(qp) = self.qps.get(&qpn) else { return };
        let Some(op) = qp.inflight.get(i) else { return };
        let OpKind::Read {
            ref sinks,
            recvd,
            len,
            local_inv,
            ..
        } = op.kind
        else {
            return;
        };
        let off = u64::from(recvd) * mtu;
        let res = self.scatter_runs(pdn, sinks, off, f.payload.len() as u64);
        let npkts = op.npkts;
        match res {
            Ok(runs) if write_runs(&runs, f.payload) => {}
            Ok(_) => {
                self.fail_op(qpn, i, CqeStatus::Fatal, syndrome::DMA_ERROR);
                return;
            }
            Err(s) => {
                self.fail_op(qpn, i, status_of(s), s);
                return;
            }
        }
        let done = recvd + 1 >= npkts;
        if done {
            if let Some(k) = local_inv {
                let _ = self.invalidate(k, pdn, false);
            }
        }
        let now = self.now;
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        qp.una = psn_add(psn, 1);
        qp.retries_left = qp.retry_count;
        if let Some(op) = qp.inflight.get_mut(i) {
            if let OpKind::Read { recvd, .. } = &mut op.kind {
                *recvd += 1;
            }
            if done {
                op.done = Some((CqeStatus::Success, 0));
                op.byte_count = len;
            }
        }
        let outstanding = qp.inflight.iter().any(|o| o.done.is_none() && o.npkts > 0);
        qp.deadline = if outstanding {
            qp.timeout_ns().map(|t| now + t)
        } else {
            None
        };
        self.work += 1;
        self.complete(qpn);
    }

    fn fail_first(&mut self, qpn: u32, st: CqeStatus, syn: u32) {
        let Some(qp) = self.qps.get(&qpn) else { return };
        if let Some(i) = qp.inflight.iter().position(|o| o.done.is_none()) {
            self.fail_op(qpn, i, st, syn);
        }
    }

    fn fail_op(&mut self, qpn: u32, i: usize, st: CqeStatus, syn: u32) {
        let Some(qp) = self.qps.get_mut(&qpn) else {
            return;
        };
        if let Some(op) = qp.inflight.get_mut(i) {
            op.done = Some((st, syn));
            op.signaled = true;
        }
        qp.halted = true;
        qp.deadline = None;
        self.complete(qpn);
    }

    /// Retires done WQEs in SQ order (§12.3): SQ_CI first, then the CQE; an error CQE moves
    /// the QP to ERR and flushes the rest.
    pub(crate) fn complete(&mut self, qpn: u32) {
        loop {
            let Some(qp) = self.qps.get_mut(&qpn) else {
                return;
            };
            let Some(front) = qp.inflight.front() else {
                return;
            };
            let Some((st, syn)) = front.done else { return };
            let Some(op) = qp.inflight.pop_front() else {
                return;
            };
            qp.sq_ci = qp.sq_ci.wrapping_add(1);
            qp.write_record();
            let (ctx, cqn) = (qp.ctx, qp.send_cqn);
            if op.signaled || st != CqeStatus::Success {
                let c = Cqe {
                    wr_id: op.wr_id,
                    qp_context: ctx,
                    byte_count: if op.cqe_op == CqeOpcode::Read {
                        op.byte_count
                    } else {
                        0
                    },
                    invalidated_rkey: 0,
                    qpn,
                    srqn: 0,
                    syndrome: syn,
                    wqe_index: op.wqe_index,
                    status: st,
                    opcode: op.cqe_op,
                    flags: CqeFlags::empty(),
                };
                self.post_cqe(cqn, c);
            }
            self.work += 1;
            if st != CqeStatus::Success {
                self.enter_err(qpn, Some(syn));
                return;
            }
        }
    }
}

/// Packet `k` of a `len`-byte message (what `seg::segments(..).nth(k)` gives, in O(1)).
fn segment_at(kind: MessageKind, len: u32, mtu: seg::PathMtu, k: u32) -> Option<seg::Segment> {
    let count = seg::packet_count(len, mtu);
    if k >= count {
        return None;
    }
    let position = Position::of(k, count);
    let offset = k.checked_mul(mtu.bytes())?;
    Some(seg::Segment {
        opcode: kind.opcode(position),
        position,
        index: k,
        offset,
        len: len.saturating_sub(offset).min(mtu.bytes()),
    })
}

fn blank() -> Cqe {
    Cqe {
        wr_id: 0,
        qp_context: 0,
        byte_count: 0,
        invalidated_rkey: 0,
        qpn: 0,
        srqn: 0,
        syndrome: 0,
        wqe_index: 0,
        status: CqeStatus::Success,
        opcode: CqeOpcode::Recv,
        flags: CqeFlags::empty(),
    }
}
