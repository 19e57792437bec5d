//! MPA (RFC 5044) with enhanced connection establishment (RFC 6581) on the connections of a
//! [`TcpEngine`] (datasheet §9.3): the request / reply exchange with IRD / ORD and private
//! data, the RTR of peer-to-peer mode, and FPDU framing with CRC32c in full operation.
//!
//! [`MpaEngine`] wraps the TCP engine: the device feeds it frames and timers as it would the
//! TCP engine, and gets [`MpaEvent`]s whose unit is the ULPDU (one DDP segment) instead of
//! bytes. DDP / RDMAP placement is the caller's: it builds ULPDUs with
//! [`super::wire::rdmap`] and sends them with [`MpaEngine::send_fpdu`].
//!
//! Roles and phases:
//!
//! * **Initiator** ([`MpaEngine::connect`]): opens TCP and queues the request (P2P, Read RTR
//!   offered, IRD / ORD, private data) → [`MpaEvent::Reply`] or [`MpaEvent::Rejected`] →
//!   [`MpaEngine::complete`] sends the RTR (a zero-length RDMA Read Request, §9.3.3) and
//!   enters full operation ([`MpaEvent::Established`]); the peer's zero-length Read Response
//!   is consumed silently.
//! * **Responder** ([`MpaEngine::listen`]): a connection's request → [`MpaEvent::Request`]
//!   → [`MpaEngine::accept`] (reply choosing the RTR; full operation after the RTR arrives,
//!   answered with a zero-length Read Response) or [`MpaEngine::reject`].
//!
//! Errors (§8.3, §9.6): a bad request is answered with a device reject (R = 1, no private
//! data) and FIN; a bad reply or a wrong RTR aborts the connection with RST; a bad FPDU (CRC,
//! ULPDU_LENGTH above MULPDU) sends a Terminate (layer LLP) and FIN. Each reports
//! [`MpaEvent::Error`]; the MPA timers of §8.6 are the device's.

use core::net::SocketAddr;
use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

use super::tcp::{ConnId, Disposition, TcpEngine, TcpError, TcpEvent};
use super::wire::ddp::{DdpHeader, QN_READ_REQUEST, QN_SEND};
use super::wire::mpa::{decode_fpdu, fpdu, MpaFrame};
use super::wire::rdmap::{segment_message, Opcode, ReadRequest, Segment, Target, Terminate};
use super::wire::WireError;
use crate::cqe::term;
use crate::mpa::{mulpdu, FrameHeader, FrameKind, IrdOrd, RtrType, REVISION};

/// Which end of the MPA exchange we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent the request.
    Initiator,
    /// Received the request.
    Responder,
}

/// Where a connection is in the MPA exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Initiator: request sent, waiting for the reply.
    AwaitReply,
    /// Initiator: accepted reply received, waiting for [`MpaEngine::complete`].
    ReplyReceived,
    /// Responder: TCP established, waiting for the request.
    AwaitRequest,
    /// Responder: request reported, waiting for [`MpaEngine::accept`] / [`MpaEngine::reject`].
    RequestPending,
    /// Responder: accepted in peer-to-peer mode, waiting for the RTR.
    AwaitRtr,
    /// Full operation: FPDUs both ways.
    Fpdu,
    /// Rejected, failed or terminated: received bytes are discarded.
    Dead,
}

/// Why an MPA exchange or stream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpaError {
    /// A request / reply frame that does not parse (key, flags, PD_LENGTH).
    BadFrame(WireError),
    /// A request where a reply was due or the other way round.
    WrongFrameKind,
    /// REV other than 2.
    Revision(u8),
    /// M = 1: markers are not supported.
    Markers,
    /// Revision-2 private data shorter than the IRD / ORD block.
    NoIrdOrd,
    /// Peer-to-peer without an RTR type we can use (or a reply choosing one not offered).
    Rtr,
    /// The first FPDU after a peer-to-peer accept is not the chosen RTR.
    NotRtr,
    /// An FPDU with a bad CRC.
    Crc,
    /// An FPDU whose ULPDU_LENGTH exceeds MULPDU.
    Length,
}

/// Why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpaCallError {
    /// The TCP engine refused.
    Tcp(TcpError),
    /// The connection is not in the phase the call needs.
    WrongPhase(Phase),
    /// Private data above 508 bytes, or a ULPDU above MULPDU.
    TooLong,
}

impl From<TcpError> for MpaCallError {
    fn from(e: TcpError) -> MpaCallError {
        MpaCallError::Tcp(e)
    }
}

/// What the MPA engine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MpaEvent {
    /// Responder: a valid request arrived (accept or reject it).
    Request {
        /// The connection.
        conn: ConnId,
        /// The initiator's IRD / ORD block.
        ird_ord: IrdOrd,
        /// The ULP private data.
        private_data: Vec<u8>,
    },
    /// Initiator: the responder accepted (call [`MpaEngine::complete`]).
    Reply {
        /// The connection.
        conn: ConnId,
        /// The responder's IRD / ORD block (its RTR choice included).
        ird_ord: IrdOrd,
        /// The ULP private data.
        private_data: Vec<u8>,
    },
    /// Initiator: the responder rejected; the connection closes.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// The ULP private data of the reject (empty for a device reject).
        private_data: Vec<u8>,
    },
    /// Full operation begins (initiator: RTR sent; responder: RTR received).
    Established(ConnId),
    /// A ULPDU (one DDP segment) with a good CRC.
    Fpdu {
        /// The connection.
        conn: ConnId,
        /// The DDP segment.
        ulpdu: Vec<u8>,
    },
    /// The peer acknowledged our stream up to `total` (see [`MpaEngine::send_fpdu`]).
    Acked {
        /// The connection.
        conn: ConnId,
        /// Stream bytes acknowledged.
        total: u64,
    },
    /// The MPA exchange or stream failed (and the connection is being closed, see the
    /// module documentation).
    Error {
        /// The connection.
        conn: ConnId,
        /// What went wrong.
        error: MpaError,
    },
    /// The peer closed its direction (TCP FIN).
    PeerClosed(ConnId),
    /// Closed gracefully both ways; gone.
    Closed(ConnId),
    /// Reset by the peer; gone.
    Reset(ConnId),
    /// TCP retransmissions ran out; gone.
    TimedOut(ConnId),
}

/// What [`MpaEngine::connect`] needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Our address (port 0: an ephemeral port).
    pub local: SocketAddr,
    /// The responder's address and listening port.
    pub remote: SocketAddr,
    /// The MAC the responder's frames go to.
    pub remote_mac: [u8; 6],
    /// Our IRD (inbound RDMA Read Requests we accept).
    pub ird: u16,
    /// Our ORD (outbound RDMA Read Requests we may have outstanding).
    pub ord: u16,
    /// ULP private data (≤ 508 bytes).
    pub private_data: &'a [u8],
}

struct Conn {
    role: Role,
    phase: Phase,
    rx: Vec<u8>,
    rtr: RtrType,
    /// Initiator: the zero-length Read Response answering our RTR is still due.
    rtr_response_due: bool,
    /// Responder: the request's IRD / ORD block.
    request: Option<IrdOrd>,
    /// MSN of the next Terminate (queue 2).
    term_msn: u32,
}

/// MPA over the connections of a TCP engine.
pub struct MpaEngine {
    tcp: TcpEngine,
    conns: BTreeMap<ConnId, Conn>,
    events: VecDeque<MpaEvent>,
}

impl MpaEngine {
    /// MPA on `tcp` (which should have no connections yet).
    pub fn new(tcp: TcpEngine) -> MpaEngine {
        MpaEngine {
            tcp,
            conns: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The TCP engine (counters, states).
    pub fn tcp(&self) -> &TcpEngine {
        &self.tcp
    }

    /// The TCP engine, to send raw bytes (tests of error paths).
    pub fn tcp_mut(&mut self) -> &mut TcpEngine {
        &mut self.tcp
    }

    /// Accepts MPA connections on `port`.
    pub fn listen(&mut self, port: u16) -> Result<(), TcpError> {
        self.tcp.listen(port)
    }

    /// Opens TCP as `to` says and queues the request: peer-to-peer, Read RTR offered, IRD,
    /// ORD and up to 508 bytes of private data.
    pub fn connect(&mut self, to: &Connect<'_>, now_ns: u64) -> Result<ConnId, MpaCallError> {
        let Connect {
            local,
            remote,
            remote_mac,
            ird,
            ord,
            private_data,
        } = *to;
        let req = MpaFrame::ours(
            FrameKind::Request,
            false,
            IrdOrd::request(ird, ord),
            private_data,
        )
        .encode()
        .map_err(|_| MpaCallError::TooLong)?;
        let conn = self.tcp.open(local, remote, remote_mac, now_ns)?;
        self.tcp.send(conn, &req, now_ns)?;
        self.conns.insert(
            conn,
            Conn {
                role: Role::Initiator,
                phase: Phase::AwaitReply,
                rx: Vec::new(),
                rtr: RtrType::Read,
                rtr_response_due: false,
                request: None,
                term_msn: 1,
            },
        );
        self.pump(now_ns);
        Ok(conn)
    }

    fn phase_of(&self, conn: ConnId) -> Result<Phase, MpaCallError> {
        self.conns
            .get(&conn)
            .map(|c| c.phase)
            .ok_or(MpaCallError::Tcp(TcpError::NoSuchConnection))
    }

    /// Responder: accepts the pending request with our `ird`, `ord` and `private_data`; the
    /// reply chooses the RTR (Read if offered, else Write, else Send; none without P2P).
    pub fn accept(
        &mut self,
        conn: ConnId,
        ird: u16,
        ord: u16,
        private_data: &[u8],
        now_ns: u64,
    ) -> Result<(), MpaCallError> {
        let phase = self.phase_of(conn)?;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(MpaCallError::WrongPhase(phase));
        };
        let Some(req) = c.request.filter(|_| phase == Phase::RequestPending) else {
            return Err(MpaCallError::WrongPhase(phase));
        };
        // A request without a usable RTR never reaches RequestPending.
        let rtr = req.choose_rtr().unwrap_or(RtrType::None);
        let reply = MpaFrame::ours(
            FrameKind::Reply,
            false,
            IrdOrd::reply(rtr, ird, ord),
            private_data,
        )
        .encode()
        .map_err(|_| MpaCallError::TooLong)?;
        self.tcp.send(conn, &reply, now_ns)?;
        c.rtr = rtr;
        if rtr == RtrType::None {
            c.phase = Phase::Fpdu;
            self.events.push_back(MpaEvent::Established(conn));
        } else {
            c.phase = Phase::AwaitRtr;
        }
        self.parse(conn, now_ns);
        self.pump(now_ns);
        Ok(())
    }

    /// Responder: rejects the pending request (R = 1, P2P as asked, no RTR, IRD = ORD = 0,
    /// then `private_data`) and closes the connection with FIN.
    pub fn reject(
        &mut self,
        conn: ConnId,
        private_data: &[u8],
        now_ns: u64,
    ) -> Result<(), MpaCallError> {
        let phase = self.phase_of(conn)?;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(MpaCallError::WrongPhase(phase));
        };
        let Some(req) = c.request.filter(|_| phase == Phase::RequestPending) else {
            return Err(MpaCallError::WrongPhase(phase));
        };
        let io = IrdOrd {
            p2p: req.p2p,
            ..IrdOrd::default()
        };
        let reply = MpaFrame::ours(FrameKind::Reply, true, io, private_data)
            .encode()
            .map_err(|_| MpaCallError::TooLong)?;
        c.phase = Phase::Dead;
        self.tcp.send(conn, &reply, now_ns)?;
        self.tcp.close(conn, now_ns)?;
        self.pump(now_ns);
        Ok(())
    }

    /// Initiator: after [`MpaEvent::Reply`], sends the RTR the reply chose and enters full
    /// operation.
    pub fn complete(&mut self, conn: ConnId, now_ns: u64) -> Result<(), MpaCallError> {
        let phase = self.phase_of(conn)?;
        if phase != Phase::ReplyReceived {
            return Err(MpaCallError::WrongPhase(phase));
        }
        let rtr = self.conns.get(&conn).map_or(RtrType::None, |c| c.rtr);
        let ulpdu = match rtr {
            RtrType::None => None,
            RtrType::Read => Some(rtr_segment(
                Opcode::ReadRequest,
                Target::Untagged {
                    msn: 1,
                    inval_stag: 0,
                },
                &ReadRequest::default().encode(),
            )),
            RtrType::Write => Some(rtr_segment(
                Opcode::Write,
                Target::Tagged { stag: 0, to: 0 },
                &[],
            )),
            RtrType::Send => Some(rtr_segment(
                Opcode::Send,
                Target::Untagged {
                    msn: 1,
                    inval_stag: 0,
                },
                &[],
            )),
        };
        if let Some(u) = ulpdu {
            self.tcp.send(conn, &fpdu(&u).unwrap_or_default(), now_ns)?;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Fpdu;
            c.rtr_response_due = rtr == RtrType::Read;
        }
        self.events.push_back(MpaEvent::Established(conn));
        self.parse(conn, now_ns);
        self.pump(now_ns);
        Ok(())
    }

    /// MULPDU of the connection: the largest ULPDU [`MpaEngine::send_fpdu`] takes.
    pub fn mulpdu(&self, conn: ConnId) -> Option<usize> {
        self.tcp.mss(conn).map(mulpdu)
    }

    /// The connection's role and phase.
    pub fn phase(&self, conn: ConnId) -> Option<(Role, Phase)> {
        self.conns.get(&conn).map(|c| (c.role, c.phase))
    }

    /// Sends one ULPDU (a DDP segment) as an FPDU in full operation. Returns the stream
    /// offset just past it: the FPDU is delivered once [`MpaEvent::Acked`] reaches it.
    pub fn send_fpdu(
        &mut self,
        conn: ConnId,
        ulpdu: &[u8],
        now_ns: u64,
    ) -> Result<u64, MpaCallError> {
        let phase = self.phase_of(conn)?;
        if phase != Phase::Fpdu {
            return Err(MpaCallError::WrongPhase(phase));
        }
        if ulpdu.len() > self.mulpdu(conn).unwrap_or(0) {
            return Err(MpaCallError::TooLong);
        }
        let f = fpdu(ulpdu).map_err(|_| MpaCallError::TooLong)?;
        let end = self.tcp.send(conn, &f, now_ns)?;
        self.pump(now_ns);
        Ok(end)
    }

    /// Sends a Terminate (untagged queue 2) carrying `t`, then closes with FIN; further
    /// received bytes are discarded (§9.6).
    pub fn terminate(
        &mut self,
        conn: ConnId,
        t: &Terminate,
        now_ns: u64,
    ) -> Result<(), MpaCallError> {
        let phase = self.phase_of(conn)?;
        if !matches!(phase, Phase::Fpdu | Phase::AwaitRtr) {
            return Err(MpaCallError::WrongPhase(phase));
        }
        self.send_terminate(conn, t, now_ns);
        self.pump(now_ns);
        Ok(())
    }

    fn send_terminate(&mut self, conn: ConnId, t: &Terminate, now_ns: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let msn = c.term_msn;
        c.term_msn = c.term_msn.wrapping_add(1);
        c.phase = Phase::Dead;
        let mut payload = Vec::new();
        t.write(&mut payload);
        let max = self.tcp.mss(conn).map_or(0, mulpdu);
        if let Ok(segs) = segment_message(
            Opcode::Terminate,
            Target::Untagged { msn, inval_stag: 0 },
            &payload,
            max,
        ) {
            for s in segs {
                if let Ok(f) = fpdu(&s) {
                    let _ = self.tcp.send(conn, &f, now_ns);
                }
            }
        }
        let _ = self.tcp.close(conn, now_ns);
    }

    /// Graceful TCP close.
    pub fn close(&mut self, conn: ConnId, now_ns: u64) -> Result<(), MpaCallError> {
        self.tcp.close(conn, now_ns)?;
        self.pump(now_ns);
        Ok(())
    }

    /// Abortive close (RST); no event follows.
    pub fn abort(&mut self, conn: ConnId) -> Result<(), MpaCallError> {
        self.conns.remove(&conn);
        self.tcp.abort(conn)?;
        Ok(())
    }

    /// Handles a received frame (see [`TcpEngine::on_frame`]).
    pub fn on_frame(&mut self, frame: &[u8], now_ns: u64) -> Disposition {
        let d = self.tcp.on_frame(frame, now_ns);
        self.pump(now_ns);
        d
    }

    /// Runs the TCP timers.
    pub fn poll_timers(&mut self, now_ns: u64) {
        self.tcp.poll_timers(now_ns);
        self.pump(now_ns);
    }

    /// The earliest timer deadline.
    pub fn next_timer(&self) -> Option<u64> {
        self.tcp.next_timer()
    }

    /// The next frame to transmit.
    pub fn pop_frame(&mut self) -> Option<Vec<u8>> {
        self.tcp.pop_frame()
    }

    /// Whether frames wait for [`MpaEngine::pop_frame`].
    pub fn has_frames(&self) -> bool {
        self.tcp.has_frames()
    }

    /// The next event.
    pub fn pop_event(&mut self) -> Option<MpaEvent> {
        self.events.pop_front()
    }

    /// Turns TCP events into MPA events.
    fn pump(&mut self, now: u64) {
        while let Some(ev) = self.tcp.pop_event() {
            match ev {
                TcpEvent::Established(_) => {}
                TcpEvent::Incoming { conn, .. } => {
                    self.conns.insert(
                        conn,
                        Conn {
                            role: Role::Responder,
                            phase: Phase::AwaitRequest,
                            rx: Vec::new(),
                            rtr: RtrType::None,
                            rtr_response_due: false,
                            request: None,
                            term_msn: 1,
                        },
                    );
                }
                TcpEvent::Data(conn, bytes) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        if c.phase != Phase::Dead {
                            c.rx.extend_from_slice(&bytes);
                            self.parse(conn, now);
                        }
                    }
                }
                // Connections MPA does not know (a responder's half-open ones, raw ones)
                // report nothing.
                TcpEvent::Acked { conn, total } => {
                    if self.conns.contains_key(&conn) {
                        self.events.push_back(MpaEvent::Acked { conn, total });
                    }
                }
                TcpEvent::PeerClosed(conn) => {
                    if self.conns.contains_key(&conn) {
                        self.events.push_back(MpaEvent::PeerClosed(conn));
                    }
                }
                TcpEvent::Closed(conn) => {
                    if self.conns.remove(&conn).is_some() {
                        self.events.push_back(MpaEvent::Closed(conn));
                    }
                }
                TcpEvent::Reset(conn) => {
                    if self.conns.remove(&conn).is_some() {
                        self.events.push_back(MpaEvent::Reset(conn));
                    }
                }
                TcpEvent::TimedOut(conn) => {
                    if self.conns.remove(&conn).is_some() {
                        self.events.push_back(MpaEvent::TimedOut(conn));
                    }
                }
            }
        }
    }

    /// Consumes what the connection's receive buffer holds in its phase.
    fn parse(&mut self, conn: ConnId, now: u64) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.phase {
                Phase::AwaitReply | Phase::AwaitRequest => {
                    let frame = match MpaFrame::decode(&c.rx) {
                        Ok(None) => return,
                        Ok(Some((f, used))) => {
                            c.rx.drain(..used);
                            f
                        }
                        Err(e) => {
                            self.fail_exchange(conn, MpaError::BadFrame(e), now);
                            return;
                        }
                    };
                    if let Err(e) = self.on_exchange_frame(conn, frame) {
                        self.fail_exchange(conn, e, now);
                        return;
                    }
                }
                Phase::AwaitRtr | Phase::Fpdu => {
                    let ours = mulpdu(self.tcp.config().mss);
                    let (ulpdu, used) = match decode_fpdu(&c.rx, ours) {
                        Ok(None) => return,
                        Ok(Some((u, used))) => (u.to_vec(), used),
                        Err(e) => {
                            let (error, code) = match e {
                                WireError::BadCrc { .. } => (MpaError::Crc, 0x02),
                                _ => (MpaError::Length, 0x03),
                            };
                            self.events.push_back(MpaEvent::Error { conn, error });
                            self.send_terminate(
                                conn,
                                &Terminate::new(term::LAYER_LLP, 0, code),
                                now,
                            );
                            return;
                        }
                    };
                    c.rx.drain(..used);
                    if c.phase == Phase::AwaitRtr {
                        if !is_rtr(c.rtr, &ulpdu) {
                            self.events.push_back(MpaEvent::Error {
                                conn,
                                error: MpaError::NotRtr,
                            });
                            let t = Terminate::new(
                                term::LAYER_RDMAP,
                                term::RDMAP_OPERATION,
                                term::UNEXPECTED_OPCODE,
                            );
                            self.send_terminate(conn, &t, now);
                            return;
                        }
                        c.phase = Phase::Fpdu;
                        if c.rtr == RtrType::Read {
                            let resp = rtr_segment(
                                Opcode::ReadResponse,
                                Target::Tagged { stag: 0, to: 0 },
                                &[],
                            );
                            let _ = self.tcp.send(conn, &fpdu(&resp).unwrap_or_default(), now);
                        }
                        self.events.push_back(MpaEvent::Established(conn));
                    } else if c.rtr_response_due && is_rtr_response(&ulpdu) {
                        c.rtr_response_due = false;
                    } else {
                        self.events.push_back(MpaEvent::Fpdu { conn, ulpdu });
                    }
                }
                Phase::ReplyReceived | Phase::RequestPending | Phase::Dead => return,
            }
        }
    }

    /// Checks a request (responder) or reply (initiator) and reports it.
    fn on_exchange_frame(&mut self, conn: ConnId, f: MpaFrame) -> Result<(), MpaError> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        let want = match c.role {
            Role::Initiator => FrameKind::Reply,
            Role::Responder => FrameKind::Request,
        };
        let FrameHeader {
            kind,
            markers,
            reject,
            rev,
            ..
        } = f.header;
        if kind != want {
            return Err(MpaError::WrongFrameKind);
        }
        if rev != REVISION {
            return Err(MpaError::Revision(rev));
        }
        if markers {
            return Err(MpaError::Markers);
        }
        if c.role == Role::Initiator && reject {
            c.phase = Phase::Dead;
            self.events.push_back(MpaEvent::Rejected {
                conn,
                private_data: f.private_data,
            });
            return Ok(());
        }
        let io = f.ird_ord.ok_or(MpaError::NoIrdOrd)?;
        match c.role {
            Role::Responder => {
                io.choose_rtr().ok_or(MpaError::Rtr)?;
                c.request = Some(io);
                c.phase = Phase::RequestPending;
                self.events.push_back(MpaEvent::Request {
                    conn,
                    ird_ord: io,
                    private_data: f.private_data,
                });
            }
            Role::Initiator => {
                // We offered exactly the Read RTR in peer-to-peer mode (§9.3.1).
                if io.chosen_rtr() != Some(RtrType::Read) {
                    return Err(MpaError::Rtr);
                }
                c.rtr = RtrType::Read;
                c.phase = Phase::ReplyReceived;
                self.events.push_back(MpaEvent::Reply {
                    conn,
                    ird_ord: io,
                    private_data: f.private_data,
                });
            }
        }
        Ok(())
    }

    /// A failed request / reply exchange: the responder sends a device reject and FIN, the
    /// initiator aborts with RST (§8.3).
    fn fail_exchange(&mut self, conn: ConnId, error: MpaError, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.phase = Phase::Dead;
        self.events.push_back(MpaEvent::Error { conn, error });
        match c.role {
            Role::Responder => {
                let rej = MpaFrame {
                    header: FrameHeader::ours(FrameKind::Reply, true, 0),
                    ird_ord: None,
                    private_data: Vec::new(),
                };
                if let Ok(b) = rej.encode() {
                    let _ = self.tcp.send(conn, &b, now);
                }
                let _ = self.tcp.close(conn, now);
            }
            Role::Initiator => {
                self.conns.remove(&conn);
                let _ = self.tcp.abort(conn);
            }
        }
    }
}

/// The one zero-length segment of an RTR message or its Read Response.
fn rtr_segment(opcode: Opcode, target: Target, payload: &[u8]) -> Vec<u8> {
    // One segment always fits (the payload is at most 28 bytes).
    segment_message(opcode, target, payload, usize::MAX)
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_default()
}

/// Whether `ulpdu` is the RTR of type `rtr` (§9.3.3).
fn is_rtr(rtr: RtrType, ulpdu: &[u8]) -> bool {
    let Ok(s) = Segment::parse(ulpdu) else {
        return false;
    };
    match (rtr, s.ddp) {
        (RtrType::Read, DdpHeader::Untagged(h)) => {
            s.opcode == Opcode::ReadRequest
                && h.qn == QN_READ_REQUEST
                && h.last
                && ReadRequest::parse(s.payload) == Ok(ReadRequest::default())
                && s.payload.len() == ReadRequest::default().encode().len()
        }
        (RtrType::Write, DdpHeader::Tagged(h)) => {
            s.opcode == Opcode::Write && h.stag == 0 && s.payload.is_empty()
        }
        (RtrType::Send, DdpHeader::Untagged(h)) => {
            s.opcode == Opcode::Send && h.qn == QN_SEND && h.last && s.payload.is_empty()
        }
        _ => false,
    }
}

/// Whether `ulpdu` is the zero-length Read Response to STag 0 answering a Read RTR.
fn is_rtr_response(ulpdu: &[u8]) -> bool {
    matches!(
        Segment::parse(ulpdu),
        Ok(Segment {
            opcode: Opcode::ReadResponse,
            ddp: DdpHeader::Tagged(h),
            payload: &[],
        }) if h.stag == 0 && h.last
    )
}
