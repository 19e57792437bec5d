//! The embedded CM agent on QP1 (docs/silicon/rocev2.md §8): IB CM REQ/REP/RTU/REJ/DREQ/DREP
//! in MADs with the RDMA CM service ID and CMA header, CM events to the CMEV ring, QP moves
//! of §8.3 and the retransmission timers of §8.6 in virtual time.

use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeMap;
use std::vec::Vec;

use crate::admin::{CmListen, CmdStatus, PathMtu, QpAttr, QpAttrMask, QpState};
use crate::cm::{self, reason, CmAddresses, CmEventType, CmRecord, PASSIVE_CONN_ID_BIT};
use crate::wqe::AccessFlags;

use super::device::Device;
use super::wire::bth::Opcode;
use super::wire::cm::{
    rdma_cm_port, rdma_cm_service_id, CmDrep, CmDreq, CmMessage, CmMsgRef, CmPath, CmRej, CmRep,
    CmReq, CmRtu, CmaHeader, RejReason, TransportType,
};
use super::wire::eth::MacAddr;
use super::wire::mad::{gsi_packet, MAD_LEN};
use super::wire::packet::{Gid, RoceFrame, RocePath};
use super::wire::seg;

/// CM response timeout: `4.096 µs × 2^20` (§8.6).
const CM_TIMEOUT_NS: u64 = 4096 << 20;
/// CM retransmissions before a handshake fails (§8.1).
const CM_RETRIES: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Active: REQ sent, waiting for REP.
    ReqSent,
    /// Active: REP received, waiting for CM_COMPLETE / CM_REJECT.
    RepRcvd,
    /// Passive: CONNECT_REQUEST reported, waiting for CM_ACCEPT / CM_REJECT.
    ReqRcvd,
    /// Passive: REP sent, waiting for RTU.
    RepSent,
    Established,
    /// DREQ sent, waiting for DREP.
    DreqSent,
    /// Over; the id waits for CM_RELEASE.
    Closed,
}

#[derive(Debug, Clone)]
struct Listen {
    ip: IpAddr,
    port: u16,
    ctx: u64,
}

#[derive(Debug, Clone)]
struct Conn {
    state: State,
    ctx: u64,
    qpn: u32,
    local: SocketAddr,
    remote: SocketAddr,
    remote_mac: [u8; 6],
    remote_comm_id: u32,
    remote_qpn: u32,
    start_psn: u32,
    peer_psn: u32,
    ird: u8,
    ord: u8,
    peer_rr: u8,
    peer_id: u8,
    tid: u64,
    last: Option<[u8; MAD_LEN]>,
    answer: Option<[u8; MAD_LEN]>,
    retries: u8,
    deadline: Option<u64>,
}

/// The agent's tables.
#[derive(Debug, Default)]
pub(crate) struct CmAgent {
    listens: BTreeMap<u32, Listen>,
    conns: BTreeMap<u32, Conn>,
    next_passive: u32,
    psn: u32,
}

impl CmAgent {
    /// Earliest retransmission timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.conns.values().filter_map(|c| c.deadline).min()
    }

    /// A handshake waits for the host (a CONNECT_REQUEST or CONNECT_REPLY not yet answered):
    /// the network must not jump the clock over its timers.
    pub fn waits_for_host(&self) -> bool {
        self.conns
            .values()
            .any(|c| matches!(c.state, State::ReqRcvd | State::RepRcvd))
    }

    /// A live connection uses QP `qpn` (DESTROY_QP fails, §6.4.6).
    pub fn qp_in_use(&self, qpn: u32) -> bool {
        self.conns
            .values()
            .any(|c| c.qpn == qpn && !matches!(c.state, State::Closed | State::ReqRcvd))
    }
}

fn v4v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v) if v.to_ipv4_mapped().is_none())
}

impl Device {
    fn gid_index(&self, ip: IpAddr) -> Option<u8> {
        let g = cm::ip_to_gid(ip);
        self.gids
            .iter()
            .position(|e| e.is_some_and(|(_, x)| x == g))
            .and_then(|i| u8::try_from(i).ok())
    }

    fn ca_guid(&self) -> u64 {
        let m = self.mac;
        u64::from_be_bytes([m[0] ^ 2, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
    }

    fn active_mtu(&self, ip: IpAddr) -> seg::PathMtu {
        seg::PathMtu::for_ethernet_mtu(self.mtu, v4v6(ip)).unwrap_or(seg::PathMtu::Mtu1024)
    }

    fn send_mad(&mut self, local: IpAddr, remote: IpAddr, mac: [u8; 6], mad: &[u8; MAD_LEN]) {
        self.cm.psn = (self.cm.psn + 1) & 0xFF_FFFF;
        let path = RocePath::new(
            MacAddr(self.mac),
            MacAddr(mac),
            Gid::from_ip(local),
            Gid::from_ip(remote),
        );
        if let Ok(f) = gsi_packet(mad, self.cm.psn).build(&path) {
            self.transmit(f);
        }
    }

    fn conn_send(&mut self, id: u32, msg: &CmMessage, keep: bool, answer: bool) {
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        let Ok(mad) = msg.to_mad(c.tid) else { return };
        let (l, r, mac) = (c.local.ip(), c.remote.ip(), c.remote_mac);
        let now = self.now;
        if let Some(c) = self.cm.conns.get_mut(&id) {
            if keep {
                c.last = Some(mad);
                c.retries = 0;
                c.deadline = Some(now + CM_TIMEOUT_NS);
            }
            if answer {
                c.answer = Some(mad);
            }
        }
        self.send_mad(l, r, mac, &mad);
    }

    fn cm_event(&mut self, id: u32, ev: CmEventType, why: u16, pd: &[u8]) {
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        let mut rec = CmRecord::EMPTY;
        rec.conn_id = id;
        rec.event = Some(ev);
        rec.context = c.ctx;
        rec.reason = why;
        rec.local_qpn = if ev == CmEventType::ConnectRequest {
            0
        } else {
            c.qpn
        };
        rec.remote_qpn = c.remote_qpn;
        rec.remote_mac = c.remote_mac;
        rec.ird = c.peer_rr;
        rec.ord = c.peer_id;
        rec.addresses = Some(CmAddresses {
            local: c.local,
            remote: c.remote,
        });
        let n = pd.len().min(cm::MAX_CM_PRIVATE_DATA);
        let _ = rec.set_private_data(pd.get(..n).unwrap_or(&[]));
        self.pending_cm.push_back(rec);
        self.work += 1;
    }

    fn qp_to(&mut self, qpn: u32, attr: QpAttr) {
        self.apply_modify(qpn, &attr);
    }

    fn qp_err(&mut self, qpn: u32) {
        if self.qps.get(&qpn).is_some_and(|q| q.state != QpState::Err) {
            self.qp_to(qpn, QpAttr::state_only(QpState::Err));
        }
    }

    /// RESET/INIT → RTR with the peer's QPN and PSN and the path (§8.3).
    fn qp_rtr(&mut self, id: u32) {
        let Some(c) = self.cm.conns.get(&id).cloned() else {
            return;
        };
        let sgid = self.gid_index(c.local.ip()).unwrap_or(0);
        let mtu = self.active_mtu(c.local.ip());
        if self
            .qps
            .get(&c.qpn)
            .is_some_and(|q| q.state == QpState::Reset)
        {
            self.qp_to(c.qpn, QpAttr::state_only(QpState::Init));
        }
        let attr = QpAttr {
            mask: QpAttrMask::STATE
                | QpAttrMask::PATH_MTU
                | QpAttrMask::DEST_QPN
                | QpAttrMask::RQ_PSN
                | QpAttrMask::IRD
                | QpAttrMask::MIN_RNR_TIMER
                | QpAttrMask::ADDRESS,
            state: QpState::Rtr,
            path_mtu: PathMtu::from_u8(mtu.to_ib()),
            dest_qpn: c.remote_qpn,
            rq_psn: c.peer_psn,
            ird: c.ird,
            min_rnr_timer: 12,
            sgid_index: sgid,
            hop_limit: 64,
            dest_gid: cm::ip_to_gid(c.remote.ip()),
            dest_mac: c.remote_mac,
            access: AccessFlags::empty(),
            ..QpAttr::default()
        };
        if self
            .qps
            .get(&c.qpn)
            .is_some_and(|q| q.state == QpState::Init)
        {
            self.qp_to(c.qpn, attr);
        }
    }

    /// RTR → RTS with our PSN, ORD and the retry parameters of §8.1.
    fn qp_rts(&mut self, id: u32) {
        let Some(c) = self.cm.conns.get(&id).cloned() else {
            return;
        };
        let attr = QpAttr {
            mask: QpAttrMask::STATE
                | QpAttrMask::SQ_PSN
                | QpAttrMask::RETRY_COUNT
                | QpAttrMask::RNR_RETRY
                | QpAttrMask::TIMEOUT
                | QpAttrMask::ORD,
            state: QpState::Rts,
            sq_psn: c.start_psn,
            retry_count: 7,
            rnr_retry: 7,
            timeout: 14,
            ord: c.ord.min(c.peer_rr.max(1)),
            ..QpAttr::default()
        };
        if let Some(q) = self.qps.get_mut(&c.qpn) {
            q.pending_rts = false;
            if q.state != QpState::Rtr {
                return;
            }
        }
        self.qp_to(c.qpn, attr);
    }

    // ---------------------------------------------------------------------------------
    // Commands (§6.4.8, §8.3)
    // ---------------------------------------------------------------------------------

    pub(crate) fn cm_listen(&mut self, l: &CmListen) -> Result<(), CmdStatus> {
        if l.listen_id >= u32::from(self.attrs.max_listen) {
            return Err(CmdStatus::BadObject);
        }
        if self.cm.listens.contains_key(&l.listen_id) {
            return Err(CmdStatus::BadState);
        }
        let clash = self.cm.listens.values().any(|x| {
            x.port == l.port
                && x.ip.is_ipv4() == l.ip.is_ipv4()
                && (x.ip == l.ip || x.ip.is_unspecified() || l.ip.is_unspecified())
        });
        if clash {
            return Err(CmdStatus::AddressInUse);
        }
        self.cm.listens.insert(
            l.listen_id,
            Listen {
                ip: l.ip,
                port: l.port,
                ctx: l.listen_context,
            },
        );
        Ok(())
    }

    pub(crate) fn cm_stop_listen(&mut self, id: u32) -> Result<(), CmdStatus> {
        self.cm
            .listens
            .remove(&id)
            .map(|_| ())
            .ok_or(CmdStatus::BadObject)
    }

    pub(crate) fn cm_connect(&mut self, id: u32, rec: &CmRecord) -> Result<(), CmdStatus> {
        if id & PASSIVE_CONN_ID_BIT != 0 {
            return Err(CmdStatus::BadObject);
        }
        if self.cm.conns.contains_key(&id) {
            return Err(CmdStatus::BadState);
        }
        let a = rec.addresses.ok_or(CmdStatus::BadParam)?;
        if usize::from(rec.private_data().len() as u16) > usize::from(self.attrs.max_caller_data) {
            return Err(CmdStatus::Limit);
        }
        let qp = self.qps.get(&rec.local_qpn).ok_or(CmdStatus::BadObject)?;
        if qp.state != QpState::Reset {
            return Err(CmdStatus::BadState);
        }
        if self.gid_index(a.local.ip()).is_none() {
            return Err(CmdStatus::Unreachable);
        }
        let mac = if rec.remote_mac != [0; 6] {
            rec.remote_mac
        } else {
            self.neighbours
                .lock()
                .ok()
                .and_then(|t| t.get(&a.remote.ip()).copied())
                .unwrap_or([0xFF; 6])
        };
        let start_psn = (self.rand() & 0xFF_FFFF) as u32;
        let tid = self.rand();
        self.cm.conns.insert(
            id,
            Conn {
                state: State::ReqSent,
                ctx: rec.context,
                qpn: rec.local_qpn,
                local: a.local,
                remote: a.remote,
                remote_mac: mac,
                remote_comm_id: 0,
                remote_qpn: 0,
                start_psn,
                peer_psn: 0,
                ird: rec.ird,
                ord: rec.ord,
                peer_rr: 0,
                peer_id: 0,
                tid,
                last: None,
                answer: None,
                retries: 0,
                deadline: None,
            },
        );
        if let Some(q) = self.qps.get_mut(&rec.local_qpn) {
            q.conn = Some(id);
        }
        self.qp_to(rec.local_qpn, QpAttr::state_only(QpState::Init));
        let mut req = CmReq {
            local_comm_id: id,
            vendor_id: 0,
            service_id: rdma_cm_service_id(a.remote.port()),
            local_ca_guid: self.ca_guid(),
            local_qkey: 0,
            local_qpn: rec.local_qpn,
            responder_resources: rec.ird,
            local_eecn: 0,
            initiator_depth: rec.ord,
            remote_eecn: 0,
            remote_cm_response_timeout: 20,
            transport: TransportType::Rc,
            end_to_end_flow_control: false,
            starting_psn: start_psn,
            local_cm_response_timeout: 20,
            retry_count: 7,
            pkey: 0xFFFF,
            path_mtu: self.active_mtu(a.local.ip()),
            rdc_exists: false,
            rnr_retry_count: 7,
            max_cm_retries: CM_RETRIES,
            srq: false,
            extended_transport: 0,
            primary_path: CmPath::roce(Gid::from_ip(a.local.ip()), Gid::from_ip(a.remote.ip())),
            alternate_path: None,
            private_data: Vec::new(),
        };
        let hdr = CmaHeader {
            src_port: a.local.port(),
            src: a.local.ip(),
            dst: a.remote.ip(),
        };
        req.set_rdma_cm_private_data(&hdr, rec.private_data())
            .map_err(|_| CmdStatus::BadParam)?;
        self.conn_send(id, &CmMessage::Req(req), true, false);
        Ok(())
    }

    pub(crate) fn cm_accept(&mut self, id: u32, rec: &CmRecord) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        if c.state != State::ReqRcvd {
            return Err(CmdStatus::BadState);
        }
        if rec.private_data().len() > usize::from(self.attrs.max_callee_data) {
            return Err(CmdStatus::Limit);
        }
        let qp = self.qps.get(&rec.local_qpn).ok_or(CmdStatus::BadObject)?;
        if qp.state != QpState::Reset {
            return Err(CmdStatus::BadState);
        }
        let start_psn = (self.rand() & 0xFF_FFFF) as u32;
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.qpn = rec.local_qpn;
            c.ctx = rec.context;
            c.ird = rec.ird;
            c.ord = rec.ord;
            c.start_psn = start_psn;
            c.state = State::RepSent;
        }
        if let Some(q) = self.qps.get_mut(&rec.local_qpn) {
            q.conn = Some(id);
        }
        self.qp_rtr(id);
        if let Some(q) = self.qps.get_mut(&rec.local_qpn) {
            q.pending_rts = true;
        }
        let Some(c) = self.cm.conns.get(&id) else {
            return Ok(());
        };
        let rep = CmRep {
            local_comm_id: id,
            remote_comm_id: c.remote_comm_id,
            local_qkey: 0,
            local_qpn: rec.local_qpn,
            local_eecn: 0,
            starting_psn: start_psn,
            responder_resources: rec.ird,
            initiator_depth: rec.ord,
            target_ack_delay: 0,
            failover_accepted: 0,
            end_to_end_flow_control: false,
            rnr_retry_count: 7,
            srq: false,
            local_ca_guid: self.ca_guid(),
            private_data: rec.private_data().to_vec(),
        };
        self.conn_send(id, &CmMessage::Rep(rep), true, true);
        Ok(())
    }

    fn send_rej(&mut self, id: u32, what: CmMsgRef, pd: &[u8]) {
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        let rej = CmRej {
            local_comm_id: id,
            remote_comm_id: c.remote_comm_id,
            message_rejected: what,
            reason: RejReason::CONSUMER_REJECT,
            ari: Vec::new(),
            private_data: pd.to_vec(),
        };
        self.conn_send(id, &CmMessage::Rej(rej), false, false);
    }

    pub(crate) fn cm_reject(&mut self, id: u32, rec: &CmRecord) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        if rec.private_data().len() > usize::from(self.attrs.max_callee_data) {
            return Err(CmdStatus::Limit);
        }
        let (state, qpn) = (c.state, c.qpn);
        match state {
            State::ReqRcvd => self.send_rej(id, CmMsgRef::Req, rec.private_data()),
            State::RepRcvd => {
                self.send_rej(id, CmMsgRef::Rep, rec.private_data());
                self.qp_err(qpn);
            }
            _ => return Err(CmdStatus::BadState),
        }
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.state = State::Closed;
            c.deadline = None;
        }
        Ok(())
    }

    pub(crate) fn cm_complete(&mut self, id: u32) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        if c.state != State::RepRcvd {
            return Err(CmdStatus::BadState);
        }
        let rtu = CmRtu {
            local_comm_id: id,
            remote_comm_id: c.remote_comm_id,
            private_data: Vec::new(),
        };
        self.conn_send(id, &CmMessage::Rtu(rtu), false, true);
        self.qp_rts(id);
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.state = State::Established;
        }
        Ok(())
    }

    fn send_dreq(&mut self, id: u32, keep: bool) {
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        let dreq = CmDreq {
            local_comm_id: id,
            remote_comm_id: c.remote_comm_id,
            remote_qpn: c.remote_qpn,
            private_data: Vec::new(),
        };
        self.conn_send(id, &CmMessage::Dreq(dreq), keep, false);
    }

    pub(crate) fn cm_disconnect(&mut self, id: u32) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        if c.state != State::Established {
            return Err(CmdStatus::BadState);
        }
        let qpn = c.qpn;
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.state = State::DreqSent;
        }
        self.send_dreq(id, true);
        self.qp_err(qpn);
        Ok(())
    }

    pub(crate) fn cm_release(&mut self, id: u32) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        let (state, qpn) = (c.state, c.qpn);
        match state {
            State::Established => {
                self.send_dreq(id, false);
                self.qp_err(qpn);
            }
            State::ReqSent | State::RepRcvd | State::RepSent => {
                self.send_rej(id, CmMsgRef::Other, &[]);
                self.qp_err(qpn);
            }
            State::ReqRcvd => self.send_rej(id, CmMsgRef::Req, &[]),
            State::DreqSent | State::Closed => {}
        }
        self.cm.conns.remove(&id);
        if let Some(q) = self.qps.get_mut(&qpn) {
            if q.conn == Some(id) {
                q.conn = None;
                q.pending_rts = false;
            }
        }
        Ok(())
    }

    /// A QP entered ERR on its own: an established connection breaks (§8.3).
    pub(crate) fn cm_qp_broken(&mut self, qpn: u32) {
        let Some(id) = self.qps.get(&qpn).and_then(|q| q.conn) else {
            return;
        };
        if self
            .cm
            .conns
            .get(&id)
            .is_some_and(|c| c.state == State::Established)
        {
            self.send_dreq(id, false);
            if let Some(c) = self.cm.conns.get_mut(&id) {
                c.state = State::Closed;
            }
            self.cm_event(id, CmEventType::Disconnected, reason::BROKEN, &[]);
        }
    }

    /// The passive QP received its first request before the RTU (§8.3).
    pub(crate) fn cm_first_request(&mut self, qpn: u32) {
        let Some(id) = self.qps.get(&qpn).and_then(|q| q.conn) else {
            return;
        };
        self.passive_established(id);
    }

    fn passive_established(&mut self, id: u32) {
        if self
            .cm
            .conns
            .get(&id)
            .is_some_and(|c| c.state == State::RepSent)
        {
            self.qp_rts(id);
            if let Some(c) = self.cm.conns.get_mut(&id) {
                c.state = State::Established;
                c.deadline = None;
            }
            self.cm_event(id, CmEventType::Established, reason::NONE, &[]);
        }
    }

    // ---------------------------------------------------------------------------------
    // MADs received on QP1
    // ---------------------------------------------------------------------------------

    /// A UD packet for QP1.
    pub(crate) fn receive_mad(&mut self, f: &RoceFrame<'_>) {
        if f.bth.opcode != Opcode::UdSendOnly || self.ctl.cmev.is_none() {
            self.stats.rx_discards += 1;
            return;
        }
        let Ok((hdr, msg)) = CmMessage::from_mad(f.payload) else {
            self.stats.rx_discards += 1;
            return;
        };
        self.work += 1;
        let src_mac = f.eth.src.0;
        let src_ip = f.ip.src();
        let dst_ip = f.ip.dst();
        match msg {
            CmMessage::Req(r) => self.on_req(&r, hdr.tid, src_mac, src_ip, dst_ip),
            CmMessage::Rep(r) => self.on_rep(&r),
            CmMessage::Rtu(r) => {
                self.passive_established(r.remote_comm_id);
            }
            CmMessage::Rej(r) => self.on_rej(&r),
            CmMessage::Dreq(r) => self.on_dreq(&r),
            CmMessage::Drep(r) => {
                let id = r.remote_comm_id;
                if self
                    .cm
                    .conns
                    .get(&id)
                    .is_some_and(|c| c.state == State::DreqSent)
                {
                    if let Some(c) = self.cm.conns.get_mut(&id) {
                        c.state = State::Closed;
                        c.deadline = None;
                    }
                    self.cm_event(id, CmEventType::DisconnectDone, reason::NONE, &[]);
                }
            }
            CmMessage::Mra(r) => {
                // The peer needs time: push our timer out.
                let now = self.now;
                if let Some(c) = self.cm.conns.get_mut(&r.remote_comm_id) {
                    if c.deadline.is_some() {
                        c.deadline = Some(now + (4096u64 << 24));
                    }
                }
            }
        }
    }

    fn on_req(&mut self, r: &CmReq, tid: u64, src_mac: [u8; 6], src_ip: IpAddr, dst_ip: IpAddr) {
        // Duplicate of a request we know: answer again. Only a passive connection answers a
        // REQ: on a loopback connection the requester's own entry also names this address.
        if let Some((&id, c)) = self.cm.conns.iter().find(|(&id, c)| {
            id & PASSIVE_CONN_ID_BIT != 0
                && c.remote_comm_id == r.local_comm_id
                && c.remote.ip() == src_ip
        }) {
            if let (State::RepSent | State::Established, Some(m)) = (c.state, c.answer) {
                let (l, rip, mac) = (c.local.ip(), c.remote.ip(), c.remote_mac);
                let _ = id;
                self.send_mad(l, rip, mac, &m);
            }
            return;
        }
        let Ok(hdr) = r.rdma_cm_header() else {
            return;
        };
        let port = rdma_cm_port(r.service_id);
        let listen = port.and_then(|p| {
            let mut best: Option<(u32, &Listen)> = None;
            for (id, l) in &self.cm.listens {
                if l.port != p || l.ip.is_ipv4() != hdr.dst.is_ipv4() {
                    continue;
                }
                if l.ip == hdr.dst {
                    return Some((*id, l.clone()));
                }
                if l.ip.is_unspecified() && best.is_none() {
                    best = Some((*id, l));
                }
            }
            best.map(|(i, l)| (i, l.clone()))
        });
        let Some((listen_id, l)) = listen else {
            // No listener: REJ, invalid service ID (§8.3).
            let rej = CmRej {
                local_comm_id: 0,
                remote_comm_id: r.local_comm_id,
                message_rejected: CmMsgRef::Req,
                reason: RejReason::INVALID_SERVICE_ID,
                ari: Vec::new(),
                private_data: Vec::new(),
            };
            if let Ok(m) = CmMessage::Rej(rej).to_mad(tid) {
                self.send_mad(dst_ip, src_ip, src_mac, &m);
            }
            return;
        };
        let id = PASSIVE_CONN_ID_BIT | (self.cm.next_passive & !PASSIVE_CONN_ID_BIT);
        self.cm.next_passive = self.cm.next_passive.wrapping_add(1);
        let local_ip = if hdr.dst.is_unspecified() {
            dst_ip
        } else {
            hdr.dst
        };
        let remote_ip = if hdr.src.is_unspecified() {
            src_ip
        } else {
            hdr.src
        };
        self.cm.conns.insert(
            id,
            Conn {
                state: State::ReqRcvd,
                ctx: l.ctx,
                qpn: 0,
                local: SocketAddr::new(to_plain(local_ip), port.unwrap_or(0)),
                remote: SocketAddr::new(to_plain(remote_ip), hdr.src_port),
                remote_mac: src_mac,
                remote_comm_id: r.local_comm_id,
                remote_qpn: r.local_qpn,
                start_psn: 0,
                peer_psn: r.starting_psn,
                ird: 0,
                ord: 0,
                peer_rr: r.responder_resources,
                peer_id: r.initiator_depth,
                tid,
                last: None,
                answer: None,
                retries: 0,
                // The requester gives up after its retries (§8.6): so does the request.
                deadline: Some(self.now + (u64::from(CM_RETRIES) + 1) * CM_TIMEOUT_NS),
            },
        );
        let pd = r.rdma_cm_consumer_data().to_vec();
        self.cm_event(id, CmEventType::ConnectRequest, reason::NONE, &pd);
        if let Some(rec) = self.pending_cm.back_mut() {
            rec.listen_id = listen_id;
        }
    }

    fn on_rep(&mut self, r: &CmRep) {
        let id = r.remote_comm_id;
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        match c.state {
            State::ReqSent => {}
            State::Established => {
                // Our RTU was lost: send it again.
                if let Some(m) = c.answer {
                    let (l, rip, mac) = (c.local.ip(), c.remote.ip(), c.remote_mac);
                    self.send_mad(l, rip, mac, &m);
                }
                return;
            }
            _ => return,
        }
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.state = State::RepRcvd;
            c.deadline = None;
            c.remote_comm_id = r.local_comm_id;
            c.remote_qpn = r.local_qpn;
            c.peer_psn = r.starting_psn;
            c.peer_rr = r.responder_resources;
            c.peer_id = r.initiator_depth;
        }
        self.qp_rtr(id);
        self.cm_event(id, CmEventType::ConnectReply, reason::NONE, &r.private_data);
    }

    fn on_rej(&mut self, r: &CmRej) {
        let id = r.remote_comm_id;
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        let (state, qpn) = (c.state, c.qpn);
        match state {
            State::ReqSent | State::RepRcvd => {
                self.qp_err(qpn);
                self.cm_event(id, CmEventType::Rejected, r.reason.0, &r.private_data);
            }
            State::ReqRcvd => self.cm_event(id, CmEventType::AcceptFailed, reason::ABORTED, &[]),
            State::RepSent => {
                self.qp_err(qpn);
                self.cm_event(id, CmEventType::AcceptFailed, reason::ABORTED, &[]);
            }
            _ => return,
        }
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.state = State::Closed;
            c.deadline = None;
        }
    }

    fn on_dreq(&mut self, r: &CmDreq) {
        let id = r.remote_comm_id;
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        let (state, qpn) = (c.state, c.qpn);
        let drep = CmDrep {
            local_comm_id: id,
            remote_comm_id: c.remote_comm_id,
            private_data: Vec::new(),
        };
        match state {
            State::Established | State::RepSent => {
                self.conn_send(id, &CmMessage::Drep(drep), false, true);
                self.qp_err(qpn);
                if let Some(c) = self.cm.conns.get_mut(&id) {
                    c.state = State::Closed;
                    c.deadline = None;
                }
                self.cm_event(id, CmEventType::Disconnected, reason::NONE, &[]);
            }
            State::DreqSent | State::Closed => {
                self.conn_send(id, &CmMessage::Drep(drep), false, false);
            }
            _ => {}
        }
    }

    /// Retransmissions and handshake timeouts (§8.6).
    pub(crate) fn cm_timers(&mut self) {
        let now = self.now;
        let due: Vec<u32> = self
            .cm
            .conns
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| now >= d))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(c) = self.cm.conns.get_mut(&id) else {
                continue;
            };
            if c.state == State::ReqRcvd {
                // The peer's REQ retries ended before CM_ACCEPT (§8.3).
                c.deadline = None;
                c.state = State::Closed;
                self.cm_event(id, CmEventType::AcceptFailed, reason::ABORTED, &[]);
                continue;
            }
            if c.retries < CM_RETRIES {
                c.retries += 1;
                c.deadline = Some(now + CM_TIMEOUT_NS);
                if let Some(m) = c.last {
                    let (l, r, mac) = (c.local.ip(), c.remote.ip(), c.remote_mac);
                    self.send_mad(l, r, mac, &m);
                }
                continue;
            }
            c.deadline = None;
            let (state, qpn) = (c.state, c.qpn);
            c.state = State::Closed;
            match state {
                State::ReqSent => {
                    self.qp_err(qpn);
                    self.cm_event(id, CmEventType::ConnectFailed, reason::TIMEOUT, &[]);
                }
                State::RepSent => {
                    self.qp_err(qpn);
                    self.cm_event(id, CmEventType::AcceptFailed, reason::TIMEOUT, &[]);
                }
                State::DreqSent => {
                    self.cm_event(id, CmEventType::DisconnectDone, reason::TIMEOUT, &[]);
                }
                _ => {}
            }
        }
    }

    /// Dispatches a verified frame addressed to this device.
    pub(crate) fn receive_frame(&mut self, frame: &[u8]) {
        use super::wire::WireError as E;
        let f = match RoceFrame::parse(frame) {
            Ok(f) => f,
            Err(E::NotRoce(_) | E::UnsupportedEtherType(_) | E::NotUdp(_)) => return,
            Err(E::BadIcrc { .. }) => {
                self.stats.rx_frames += 1;
                self.stats.rx_octets += frame.len() as u64 + 4;
                self.stats.icrc_errors += 1;
                return;
            }
            Err(_) => {
                self.stats.rx_frames += 1;
                self.stats.rx_discards += 1;
                return;
            }
        };
        self.stats.rx_frames += 1;
        self.stats.rx_octets += frame.len() as u64 + 4;
        let dst = f.dst_gid().0;
        let mine = self.gids.iter().any(|g| g.is_some_and(|(_, x)| x == dst));
        let mac_ok = f.eth.dst.0 == self.mac || f.eth.dst.is_multicast();
        if !mine || !mac_ok {
            self.stats.rx_discards += 1;
            return;
        }
        self.work += 1;
        if f.bth.dest_qp == super::wire::mad::GSI_QP {
            self.receive_mad(&f);
        } else {
            self.receive_rc(&f);
        }
    }
}

/// An IPv4-mapped IPv6 address as IPv4.
fn to_plain(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
