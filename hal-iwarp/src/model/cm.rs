//! The embedded connection manager (docs/silicon/iwarp.md §8, §12.6): listens, the `CM_*`
//! commands, and the connection events of the MPA engine turned into QP transitions and
//! connection records (§8.3, §8.4).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::BTreeMap;
use std::vec::Vec;

use crate::admin::{CmdStatus, ListenParams, QpState};
use crate::cm::{ip_from_bytes, reason, CmEventType, CmRecord, PASSIVE_CONN_ID_BASE};
use crate::cqe::{syndrome, term, TermInfo};
use crate::mpa::RtrType;

use super::device::Device;
use super::mpa::{Connect, MpaCallError, MpaEvent};
use super::rdmap::ErrCqe;
use super::tcp::{ConnId, TcpError, TcpState};

/// A listen (CM_LISTEN).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Listen {
    pub ip: IpAddr,
    pub port: u16,
    pub ctx: u64,
    pub backlog: u16,
}

/// Where a connection is (§12.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum St {
    /// Active: SYN or MPA request sent, waiting for the reply.
    AwaitReply,
    /// Active: CONNECT_REPLY written, waiting for CM_COMPLETE / CM_REJECT.
    ReplyReported,
    /// Passive: CONNECT_REQUEST written, waiting for CM_ACCEPT / CM_REJECT.
    RequestReported,
    /// Passive: accepted, waiting for the RTR.
    Accepted,
    /// Connected (RTS).
    Connected,
    /// CM_DISCONNECT issued: waiting for the close to finish.
    Disconnecting,
    /// DISCONNECTED written (or the handshake failed): the driver's to release.
    Down,
}

/// A connection id's state.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub tcp: Option<ConnId>,
    pub qpn: Option<u32>,
    pub ctx: u64,
    pub active: bool,
    pub st: St,
    pub listen_id: u32,
    /// Active: the SYN was still unanswered before the last frame (an RST then is a refusal).
    pub syn_sent: bool,
    /// CM_DISCONNECT was issued: DISCONNECT_DONE is due when TCP has closed.
    pub disconnect_requested: bool,
    /// CM_ABORT or CM_REJECT: no further events.
    pub silent: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub remote_mac: [u8; 6],
    pub peer_ird: u16,
    pub peer_ord: u16,
    /// The MPA timer (reply, RTR) or the FIN timer (after CM_DISCONNECT), §8.6.
    pub deadline: Option<u64>,
}

/// MPA_TIMEOUT and FIN_TIMEOUT reset values (§6.4.3), in ns.
const DEFAULT_TIMEOUT_NS: u64 = 10_000_000_000;

/// The connection manager's tables.
#[derive(Debug)]
pub(crate) struct Cm {
    pub listens: BTreeMap<u32, Listen>,
    pub conns: BTreeMap<u32, Conn>,
    pub next_passive: u32,
    /// MPA request / reply / RTR timer (SET_TCP_PARAMS MPA_TIMEOUT_MS).
    pub mpa_timeout_ns: u64,
    /// Wait for the peer's FIN after CM_DISCONNECT (SET_TCP_PARAMS FIN_TIMEOUT_MS).
    pub fin_timeout_ns: u64,
}

impl Default for Cm {
    fn default() -> Cm {
        Cm {
            listens: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_passive: 0,
            mpa_timeout_ns: DEFAULT_TIMEOUT_NS,
            fin_timeout_ns: DEFAULT_TIMEOUT_NS,
        }
    }
}

impl Cm {
    /// A connection waits for its driver (CONNECT_REQUEST or CONNECT_REPLY unanswered).
    pub(crate) fn waits_for_host(&self) -> bool {
        self.conns
            .values()
            .any(|c| matches!(c.st, St::RequestReported | St::ReplyReported))
    }

    /// The earliest MPA or FIN timer.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.conns.values().filter_map(|c| c.deadline).min()
    }

    fn by_tcp(&self, tcp: ConnId) -> Option<u32> {
        self.conns
            .iter()
            .find(|(_, c)| c.tcp == Some(tcp))
            .map(|(id, _)| *id)
    }
}

/// QUERY_QP's TCP_STATE code (§6.5).
pub(crate) fn tcp_state_code(s: TcpState) -> u8 {
    match s {
        TcpState::SynSent => 2,
        TcpState::SynReceived => 3,
        TcpState::Established => 4,
        TcpState::FinWait1 => 5,
        TcpState::FinWait2 => 6,
        TcpState::CloseWait => 7,
        TcpState::Closing => 8,
        TcpState::LastAck => 9,
        TcpState::TimeWait => 10,
    }
}

fn unspecified(ip: IpAddr) -> bool {
    ip.is_unspecified() || ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

impl Device {
    /// The connection manager runs while CMEV_CTRL.ENABLE is 1 (§3.8).
    pub(crate) fn cm_enabled(&self) -> bool {
        self.ctl.cmev.is_some()
    }

    /// Records, before frames or timers run, which active connections still wait for their
    /// SYN-ACK (an RST then is TCP_REFUSED, §8.3).
    pub(crate) fn cm_snapshot(&mut self) {
        let tcp = self.mpa.tcp();
        for c in self.cm.conns.values_mut() {
            if c.active && c.st == St::AwaitReply {
                c.syn_sent = c
                    .tcp
                    .and_then(|t| tcp.state(t))
                    .is_none_or(|s| s == TcpState::SynSent);
            }
        }
    }

    fn local_addr(&self, ip: IpAddr) -> bool {
        self.addrs.iter().flatten().any(|a| *a == ip)
    }

    // ---------------------------------------------------------------------------------
    // Commands (§6.4.8, §8.3)
    // ---------------------------------------------------------------------------------

    pub(crate) fn cm_listen(&mut self, id: u32, p: &ListenParams) -> Result<(), CmdStatus> {
        if id >= u32::from(self.attrs.max_listen) {
            return Err(CmdStatus::BadObject);
        }
        if self.cm.listens.contains_key(&id) {
            return Err(CmdStatus::BadState);
        }
        let port = p.port.get();
        if port == 0 || p.reserved != 0 || p.reserved1 != [0; 2] {
            return Err(CmdStatus::BadParam);
        }
        let ip = ip_from_bytes(p.ip_version, p.ip).ok_or(CmdStatus::BadParam)?;
        if !unspecified(ip) && !self.local_addr(ip) {
            return Err(CmdStatus::Unreachable);
        }
        if self
            .cm
            .listens
            .values()
            .any(|l| l.port == port && l.ip.is_ipv4() == ip.is_ipv4() && l.ip == ip)
        {
            return Err(CmdStatus::AddressInUse);
        }
        if !self.cm.listens.values().any(|l| l.port == port) {
            let _ = self.mpa.listen(port);
        }
        let backlog = if p.backlog.get() == 0 {
            128
        } else {
            p.backlog.get()
        };
        self.cm.listens.insert(
            id,
            Listen {
                ip,
                port,
                ctx: p.listen_context.get(),
                backlog,
            },
        );
        Ok(())
    }

    pub(crate) fn cm_stop_listen(&mut self, id: u32) -> Result<(), CmdStatus> {
        let l = self.cm.listens.remove(&id).ok_or(CmdStatus::BadObject)?;
        if !self.cm.listens.values().any(|o| o.port == l.port) {
            self.mpa.tcp_mut().unlisten(l.port);
        }
        Ok(())
    }

    /// Checks a QP for binding (§8.3: RESET or INIT, unbound) and the IRD / ORD limits.
    fn check_bind(&self, qpn: u32, ird: u16, ord: u16) -> Result<(), CmdStatus> {
        let q = self.qps.get(&qpn).ok_or(CmdStatus::BadObject)?;
        if !matches!(q.state, QpState::Reset | QpState::Init) || q.conn.is_some() {
            return Err(CmdStatus::BadState);
        }
        if ird > u16::from(self.attrs.max_ird) || ord > u16::from(self.attrs.max_ord) {
            return Err(CmdStatus::Limit);
        }
        Ok(())
    }

    pub(crate) fn cm_connect(&mut self, id: u32, rec: &CmRecord) -> Result<u16, CmdStatus> {
        if id & PASSIVE_CONN_ID_BASE != 0 {
            return Err(CmdStatus::BadObject);
        }
        if self.cm.conns.contains_key(&id) {
            return Err(CmdStatus::BadState);
        }
        let qpn = rec.local_qpn;
        self.check_bind(qpn, rec.ird, rec.ord)?;
        if !self.local_addr(rec.local.ip()) {
            return Err(CmdStatus::Unreachable);
        }
        let tcp = self
            .mpa
            .connect(
                &Connect {
                    local: rec.local,
                    remote: rec.remote,
                    remote_mac: rec.remote_mac,
                    ird: rec.ird,
                    ord: rec.ord,
                    private_data: rec.private_data.as_slice(),
                },
                self.now,
            )
            .map_err(|e| match e {
                MpaCallError::Tcp(TcpError::AddressInUse | TcpError::NoPorts) => {
                    CmdStatus::AddressInUse
                }
                MpaCallError::Tcp(TcpError::AddressNotLocal) => CmdStatus::Unreachable,
                MpaCallError::Tcp(_) | MpaCallError::TooLong => CmdStatus::BadParam,
                MpaCallError::WrongPhase(_) => CmdStatus::Internal,
            })?;
        self.stats.tcp_active_opens += 1;
        let local = self.mpa.tcp().endpoints(tcp).map_or(rec.local, |e| e.local);
        if let Some(q) = self.qps.get_mut(&qpn) {
            q.state = QpState::Init;
            q.conn = Some(id);
            q.tcp = Some(tcp);
            q.ird = rec.ird;
            q.ord = rec.ord;
            // Our RTR is Read Request number 1 on queue 1 (§9.3.3).
            q.read_msn = 2;
            q.rreq_msn = 1;
        }
        self.write_record(qpn);
        self.cm.conns.insert(
            id,
            Conn {
                tcp: Some(tcp),
                qpn: Some(qpn),
                ctx: rec.context,
                active: true,
                st: St::AwaitReply,
                listen_id: 0,
                syn_sent: true,
                disconnect_requested: false,
                silent: false,
                local,
                remote: rec.remote,
                remote_mac: rec.remote_mac,
                peer_ird: 0,
                peer_ord: 0,
                deadline: Some(self.now.saturating_add(self.cm.mpa_timeout_ns)),
            },
        );
        Ok(local.port())
    }

    pub(crate) fn cm_accept(&mut self, id: u32, rec: &CmRecord) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        if c.active || c.st != St::RequestReported {
            return Err(CmdStatus::BadState);
        }
        let (tcp, peer_ird) = (c.tcp.ok_or(CmdStatus::BadState)?, c.peer_ird);
        let qpn = rec.local_qpn;
        self.check_bind(qpn, rec.ird, rec.ord)?;
        self.mpa
            .accept(tcp, rec.ird, rec.ord, rec.private_data.as_slice(), self.now)
            .map_err(|_| CmdStatus::BadState)?;
        if let Some(q) = self.qps.get_mut(&qpn) {
            q.state = QpState::Rtr;
            q.conn = Some(id);
            q.tcp = Some(tcp);
            q.ird = rec.ird;
            q.ord = rec.ord.min(peer_ird);
            // The initiator's RTR was its Read Request number 1 (§9.3.3).
            q.read_msn = 1;
            q.rreq_msn = 2;
        }
        self.write_record(qpn);
        let deadline = self.now.saturating_add(self.cm.mpa_timeout_ns);
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.qpn = Some(qpn);
            c.ctx = rec.context;
            c.st = St::Accepted;
            c.deadline = Some(deadline);
        }
        Ok(())
    }

    pub(crate) fn cm_reject(&mut self, id: u32, rec: &CmRecord) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        let tcp = c.tcp.ok_or(CmdStatus::BadState)?;
        match (c.active, c.st) {
            (false, St::RequestReported) => {
                self.mpa
                    .reject(tcp, rec.private_data.as_slice(), self.now)
                    .map_err(|_| CmdStatus::BadState)?;
                self.stats.mpa_rejects_sent += 1;
            }
            (true, St::ReplyReported) => {
                // MPA has no message for it: RST (§8.3).
                let _ = self.mpa.abort(tcp);
                if let Some(c) = self.cm.conns.get_mut(&id) {
                    c.tcp = None;
                }
                if let Some(qpn) = c_qpn(&self.cm, id) {
                    self.enter_err(qpn, ErrCqe::None, None);
                }
            }
            _ => return Err(CmdStatus::BadState),
        }
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.st = St::Down;
            c.silent = true;
        }
        Ok(())
    }

    pub(crate) fn cm_complete(&mut self, id: u32) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        if !c.active || c.st != St::ReplyReported {
            return Err(CmdStatus::BadState);
        }
        let tcp = c.tcp.ok_or(CmdStatus::BadState)?;
        let qpn = c.qpn;
        self.mpa
            .complete(tcp, self.now)
            .map_err(|_| CmdStatus::BadState)?;
        if let Some(q) = qpn.and_then(|n| self.qps.get_mut(&n)) {
            if q.state == QpState::Rtr {
                q.state = QpState::Rts;
            }
        }
        if let Some(n) = qpn {
            self.write_record(n);
        }
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.st = St::Connected;
        }
        Ok(())
    }

    pub(crate) fn cm_disconnect(&mut self, id: u32) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        let (tcp, qpn) = (c.tcp, c.qpn);
        match c.st {
            St::Connected | St::ReplyReported | St::Accepted => {
                if let Some(n) = qpn {
                    self.enter_err(n, ErrCqe::None, None);
                }
                if let Some(t) = tcp {
                    let _ = self.mpa.close(t, self.now);
                }
            }
            // After DISCONNECTED: the close is under way (or done); DISCONNECT_DONE follows.
            St::Down if !c.disconnect_requested => {}
            _ => return Err(CmdStatus::BadState),
        }
        let done_now = tcp.is_none();
        let fin_deadline = self.now.saturating_add(self.cm.fin_timeout_ns);
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.disconnect_requested = true;
            c.deadline = tcp.map(|_| fin_deadline);
            if c.st != St::Down {
                c.st = St::Disconnecting;
            }
        }
        if done_now {
            self.cm_report(id, CmEventType::DisconnectDone, reason::NONE, &[]);
        }
        Ok(())
    }

    pub(crate) fn cm_abort(&mut self, id: u32) -> Result<(), CmdStatus> {
        let c = self.cm.conns.get(&id).ok_or(CmdStatus::BadObject)?;
        let tcp = c.tcp.ok_or(CmdStatus::BadState)?;
        let qpn = c.qpn;
        let _ = self.mpa.abort(tcp);
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.tcp = None;
            c.silent = true;
            c.st = St::Down;
        }
        if let Some(n) = qpn {
            self.enter_err(n, ErrCqe::None, None);
        }
        Ok(())
    }

    pub(crate) fn cm_release(&mut self, id: u32) -> Result<(), CmdStatus> {
        let c = self.cm.conns.remove(&id).ok_or(CmdStatus::BadObject)?;
        if let Some(t) = c.tcp {
            let graceful = c.disconnect_requested
                || self.mpa.tcp().state(t).is_some_and(|s| {
                    !matches!(
                        s,
                        TcpState::Established | TcpState::SynSent | TcpState::SynReceived
                    )
                });
            if !graceful {
                let _ = self.mpa.abort(t);
            }
        }
        if let Some(n) = c.qpn {
            self.enter_err(n, ErrCqe::None, None);
            if let Some(q) = self.qps.get_mut(&n) {
                q.conn = None;
                q.tcp = None;
                q.driver_err = false;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------
    // Events (§8.3, §8.4)
    // ---------------------------------------------------------------------------------

    /// Queues the connection record of `ev` for connection `id` (unless it went silent).
    fn cm_report(&mut self, id: u32, ev: CmEventType, why: u16, pd: &[u8]) {
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        if c.silent {
            return;
        }
        let ctx = if !c.active && c.st == St::RequestReported && ev == CmEventType::ConnectRequest {
            self.cm.listens.get(&c.listen_id).map_or(c.ctx, |l| l.ctx)
        } else {
            c.ctx
        };
        let (mss, iss) = c
            .tcp
            .map_or((0, 0), |t| (self.mpa.tcp().mss(t).unwrap_or(0), 0));
        let Some(mut rec) = CmRecord::mailbox(
            id,
            ctx,
            c.local,
            c.remote,
            c.peer_ird,
            c.peer_ord,
            c.qpn.unwrap_or(0),
            c.remote_mac,
            pd,
        ) else {
            return;
        };
        rec.event = ev as u8;
        rec.reason = why;
        rec.mpa_revision = crate::mpa::REVISION;
        rec.rtr = RtrType::Read;
        rec.mss = mss;
        rec.iss = iss;
        rec.listen_id = c.listen_id;
        if ev == CmEventType::ConnectRequest {
            rec.local_qpn = 0;
        }
        self.pending_cm.push_back(rec);
        self.work += 1;
    }

    /// Handles every pending event of the MPA engine.
    ///
    /// Acknowledgements are applied after the other events of the same batch (one received
    /// segment): a Terminate that arrives in the segment acknowledging the offending message
    /// fails that message's WQE instead of completing it (§9.6).
    pub(crate) fn cm_events(&mut self) {
        let mut acks: Vec<(ConnId, u64)> = Vec::new();
        loop {
            let Some(ev) = self.mpa.pop_event() else {
                let Some((conn, total)) = acks.pop() else {
                    break;
                };
                self.acked(conn, total);
                continue;
            };
            self.work += 1;
            match ev {
                MpaEvent::Fpdu { conn, ulpdu } => self.on_fpdu(conn, &ulpdu),
                MpaEvent::Acked { conn, total } => {
                    acks.retain(|(c, _)| *c != conn);
                    acks.push((conn, total));
                }
                MpaEvent::Request {
                    conn,
                    ird_ord,
                    private_data,
                } => self.on_request(conn, ird_ord.ird, ird_ord.ord, &private_data),
                MpaEvent::Reply {
                    conn,
                    ird_ord,
                    private_data,
                } => self.on_reply(conn, ird_ord.ird, ird_ord.ord, &private_data),
                MpaEvent::Rejected { conn, private_data } => {
                    let Some(id) = self.cm.by_tcp(conn) else {
                        continue;
                    };
                    self.stats.mpa_rejects_received += 1;
                    self.stats.tcp_failed_opens += 1;
                    self.handshake_failed(
                        id,
                        CmEventType::Rejected,
                        reason::MPA_REJECT,
                        &private_data,
                    );
                    let _ = self.mpa.close(conn, self.now);
                }
                MpaEvent::Established(conn) => {
                    let Some(id) = self.cm.by_tcp(conn) else {
                        continue;
                    };
                    let Some(c) = self.cm.conns.get_mut(&id) else {
                        continue;
                    };
                    if c.active || c.st != St::Accepted {
                        continue;
                    }
                    c.st = St::Connected;
                    c.deadline = None;
                    let qpn = c.qpn;
                    if let Some(q) = qpn.and_then(|n| self.qps.get_mut(&n)) {
                        if q.state == QpState::Rtr {
                            q.state = QpState::Rts;
                        }
                    }
                    if let Some(n) = qpn {
                        self.write_record(n);
                    }
                    self.cm_report(id, CmEventType::Established, reason::NONE, &[]);
                }
                MpaEvent::Error { conn, error } => self.on_mpa_error(conn, error),
                MpaEvent::PeerClosed(conn) => self.on_peer_closed(conn),
                MpaEvent::Closed(conn) => self.on_tcp_gone(conn, None),
                MpaEvent::Reset(conn) => self.on_tcp_gone(conn, Some(reason::RESET)),
                MpaEvent::TimedOut(conn) => self.on_tcp_gone(conn, Some(reason::TIMEOUT)),
            }
        }
    }

    fn on_request(&mut self, tcp: ConnId, peer_ird: u16, peer_ord: u16, pd: &[u8]) {
        let t = self.mpa.tcp();
        let (Some(ep), Some(port)) = (t.endpoints(tcp), t.listen_port(tcp)) else {
            return;
        };
        let mac = t.remote_mac(tcp).unwrap_or([0; 6]);
        let local_ip = ep.local.ip();
        let matching = |exact: bool| {
            self.cm.listens.iter().find(|(_, l)| {
                l.port == port
                    && l.ip.is_ipv4() == local_ip.is_ipv4()
                    && if exact {
                        l.ip == local_ip
                    } else {
                        unspecified(l.ip)
                    }
            })
        };
        let Some((lid, l)) = matching(true).or_else(|| matching(false)) else {
            let _ = self.mpa.abort(tcp);
            return;
        };
        let (lid, l) = (*lid, *l);
        let backlog = self
            .cm
            .conns
            .values()
            .filter(|c| !c.active && c.listen_id == lid && c.st == St::RequestReported)
            .count();
        if backlog >= usize::from(l.backlog) {
            let _ = self.mpa.abort(tcp);
            return;
        }
        self.stats.tcp_passive_opens += 1;
        let id = PASSIVE_CONN_ID_BASE | (self.cm.next_passive & !PASSIVE_CONN_ID_BASE);
        self.cm.next_passive = self.cm.next_passive.wrapping_add(1);
        self.cm.conns.insert(
            id,
            Conn {
                tcp: Some(tcp),
                qpn: None,
                ctx: l.ctx,
                active: false,
                st: St::RequestReported,
                listen_id: lid,
                syn_sent: false,
                disconnect_requested: false,
                silent: false,
                local: ep.local,
                remote: ep.remote,
                remote_mac: mac,
                peer_ird,
                peer_ord,
                deadline: None,
            },
        );
        self.cm_report(id, CmEventType::ConnectRequest, reason::NONE, pd);
    }

    fn on_reply(&mut self, tcp: ConnId, peer_ird: u16, peer_ord: u16, pd: &[u8]) {
        let Some(id) = self.cm.by_tcp(tcp) else {
            return;
        };
        let Some(c) = self.cm.conns.get_mut(&id) else {
            return;
        };
        if c.st != St::AwaitReply {
            return;
        }
        c.st = St::ReplyReported;
        c.deadline = None;
        c.peer_ird = peer_ird;
        c.peer_ord = peer_ord;
        let qpn = c.qpn;
        if let Some(q) = qpn.and_then(|n| self.qps.get_mut(&n)) {
            if q.state == QpState::Init {
                q.state = QpState::Rtr;
                q.ord = q.ord.min(peer_ird);
            }
        }
        if let Some(n) = qpn {
            self.write_record(n);
        }
        self.cm_report(id, CmEventType::ConnectReply, reason::NONE, pd);
    }

    /// A handshake ended without a connection: the event, QP → ERR (the CM moved it: no
    /// QP_ERROR), the id stays the driver's.
    fn handshake_failed(&mut self, id: u32, ev: CmEventType, why: u16, pd: &[u8]) {
        let qpn = c_qpn(&self.cm, id);
        self.cm_report(id, ev, why, pd);
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.st = St::Down;
            c.deadline = None;
        }
        if let Some(n) = qpn {
            self.enter_err(n, ErrCqe::None, None);
        }
    }

    /// Runs the MPA and FIN timers (§8.6): an initiator without a reply gets CONNECT_FAILED
    /// (TIMEOUT), a responder without the RTR ACCEPT_FAILED (TIMEOUT), a disconnect without
    /// the peer's FIN DISCONNECT_DONE (TIMEOUT); each connection is reset.
    pub(crate) fn cm_timers(&mut self) {
        let now = self.now;
        let due: Vec<u32> = self
            .cm
            .conns
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(c) = self.cm.conns.get_mut(&id) else {
                continue;
            };
            c.deadline = None;
            let (st, tcp) = (c.st, c.tcp.take());
            if let Some(t) = tcp {
                let _ = self.mpa.abort(t);
            }
            self.work += 1;
            match st {
                St::AwaitReply => {
                    self.stats.mpa_timeouts += 1;
                    self.stats.tcp_failed_opens += 1;
                    self.handshake_failed(id, CmEventType::ConnectFailed, reason::TIMEOUT, &[]);
                }
                St::Accepted => {
                    self.stats.mpa_timeouts += 1;
                    self.handshake_failed(id, CmEventType::AcceptFailed, reason::TIMEOUT, &[]);
                }
                St::Disconnecting | St::Down => {
                    self.cm_report(id, CmEventType::DisconnectDone, reason::TIMEOUT, &[]);
                    if let Some(c) = self.cm.conns.get_mut(&id) {
                        c.st = St::Down;
                    }
                }
                _ => {}
            }
        }
    }

    fn on_mpa_error(&mut self, tcp: ConnId, error: super::mpa::MpaError) {
        let Some(id) = self.cm.by_tcp(tcp) else {
            return;
        };
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        match (c.active, c.st) {
            (true, St::AwaitReply) => {
                self.stats.tcp_failed_opens += 1;
                if let Some(c) = self.cm.conns.get_mut(&id) {
                    c.tcp = None;
                }
                self.handshake_failed(id, CmEventType::ConnectFailed, reason::MPA_ERROR, &[]);
            }
            (false, St::Accepted) => {
                self.handshake_failed(id, CmEventType::AcceptFailed, reason::ABORTED, &[]);
            }
            (_, St::Connected | St::ReplyReported) => {
                let code = match error {
                    super::mpa::MpaError::Crc => {
                        self.stats.mpa_crc_errors += 1;
                        term::MPA_CRC
                    }
                    _ => term::MPA_LENGTH,
                };
                self.stats.terminates_sent += 1;
                let info = TermInfo {
                    layer: term::LAYER_LLP,
                    etype: 0,
                    code,
                    received: false,
                };
                if let Some(n) = c.qpn {
                    self.qp_failed(n, syndrome::MPA_CRC, Some(info), true);
                }
                self.cm_down(id, reason::BROKEN);
            }
            _ => {}
        }
    }

    /// DISCONNECTED with `why`; the connection is the driver's to release.
    fn cm_down(&mut self, id: u32, why: u16) {
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        if c.st == St::Down || c.st == St::Disconnecting {
            return;
        }
        self.cm_report(id, CmEventType::Disconnected, why, &[]);
        if let Some(c) = self.cm.conns.get_mut(&id) {
            c.st = St::Down;
        }
    }

    fn on_peer_closed(&mut self, tcp: ConnId) {
        let Some(id) = self.cm.by_tcp(tcp) else {
            return;
        };
        let Some(c) = self.cm.conns.get(&id) else {
            return;
        };
        let qpn = c.qpn;
        match (c.active, c.st) {
            (true, St::AwaitReply) => {
                self.stats.tcp_failed_opens += 1;
                let _ = self.mpa.abort(tcp);
                if let Some(c) = self.cm.conns.get_mut(&id) {
                    c.tcp = None;
                }
                self.handshake_failed(id, CmEventType::ConnectFailed, reason::RESET, &[]);
            }
            (false, St::RequestReported | St::Accepted) => {
                let _ = self.mpa.close(tcp, self.now);
                self.handshake_failed(id, CmEventType::AcceptFailed, reason::ABORTED, &[]);
            }
            (_, St::Connected | St::ReplyReported) => {
                let outstanding = qpn
                    .and_then(|n| self.qps.get(&n))
                    .is_some_and(|q| !q.active.is_empty());
                if let Some(n) = qpn {
                    if outstanding {
                        self.qp_failed(n, syndrome::PEER_CLOSED, None, true);
                    } else {
                        self.enter_err(n, ErrCqe::None, None);
                    }
                }
                let _ = self.mpa.close(tcp, self.now);
                self.cm_down(id, reason::NONE);
            }
            _ => {}
        }
    }

    /// The TCP connection is gone: closed both ways (`why` None), reset or timed out.
    fn on_tcp_gone(&mut self, tcp: ConnId, why: Option<u16>) {
        let Some(id) = self.cm.by_tcp(tcp) else {
            return;
        };
        let Some(c) = self.cm.conns.get_mut(&id) else {
            return;
        };
        c.tcp = None;
        c.deadline = None;
        let (active, st, syn_sent, qpn, disc) =
            (c.active, c.st, c.syn_sent, c.qpn, c.disconnect_requested);
        if disc {
            let r = if why == Some(reason::TIMEOUT) {
                reason::TIMEOUT
            } else {
                reason::NONE
            };
            self.cm_report(id, CmEventType::DisconnectDone, r, &[]);
            if let Some(c) = self.cm.conns.get_mut(&id) {
                c.st = St::Down;
            }
            return;
        }
        let Some(why) = why else {
            // A graceful close after DISCONNECTED: nothing more to report.
            if st != St::Down {
                self.cm_down(id, reason::NONE);
            }
            return;
        };
        match (active, st) {
            (true, St::AwaitReply) => {
                self.stats.tcp_failed_opens += 1;
                if why == reason::RESET && syn_sent {
                    self.handshake_failed(id, CmEventType::Rejected, reason::TCP_REFUSED, &[]);
                } else {
                    self.handshake_failed(id, CmEventType::ConnectFailed, why, &[]);
                }
            }
            (false, St::RequestReported | St::Accepted) => {
                let r = if why == reason::TIMEOUT {
                    reason::TIMEOUT
                } else {
                    reason::ABORTED
                };
                self.handshake_failed(id, CmEventType::AcceptFailed, r, &[]);
            }
            (_, St::Connected | St::ReplyReported) => {
                let syn = if why == reason::TIMEOUT {
                    syndrome::TCP_TIMEOUT
                } else {
                    syndrome::TCP_RESET
                };
                if let Some(n) = qpn {
                    self.qp_failed(n, syn, None, true);
                }
                self.cm_down(id, why);
            }
            _ => {}
        }
    }

    /// The QP of connection `tcp` entered ERR on its own (a local error, or a Terminate we
    /// sent): FIN (the Terminate's FIN is already queued), DISCONNECTED (BROKEN).
    pub(crate) fn cm_qp_broken(&mut self, qpn: u32, tcp: Option<ConnId>) {
        let Some(id) = self.qps.get(&qpn).and_then(|q| q.conn) else {
            return;
        };
        if tcp.is_none() {
            if let Some(t) = self.cm.conns.get(&id).and_then(|c| c.tcp) {
                let _ = self.mpa.close(t, self.now);
            }
        }
        self.cm_down(id, reason::BROKEN);
    }

    /// A Terminate arrived: FIN, DISCONNECTED (TERMINATE).
    pub(crate) fn cm_terminated(&mut self, qpn: u32, tcp: ConnId) {
        let _ = self.mpa.close(tcp, self.now);
        if let Some(id) = self.qps.get(&qpn).and_then(|q| q.conn) {
            self.cm_down(id, reason::TERMINATE);
        }
    }
}

fn c_qpn(cm: &Cm, id: u32) -> Option<u32> {
    cm.conns.get(&id).and_then(|c| c.qpn)
}
