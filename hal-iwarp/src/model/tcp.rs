//! The TCP offload engine of RNIC-W1 (datasheet §9.1–§9.2) as a model: a connection table
//! keyed by the 4-tuple, active and passive open, in-order receive, go-back-N retransmission
//! with RFC 6298 RTO (doubled on every expiry), fast retransmit on three duplicate ACKs, slow
//! start and congestion avoidance, graceful close in both directions and RST.
//!
//! The engine owns no clock and no wire: every call takes `now_ns` (virtual time) from the
//! caller, frames to transmit queue up for [`TcpEngine::pop_frame`] (the device puts them on
//! the fabric), and what happened queues up as [`TcpEvent`]s for [`TcpEngine::pop_event`].
//! [`TcpEngine::next_timer`] tells the simulation loop when to call
//! [`TcpEngine::poll_timers`].
//!
//! Writes are records: bytes of one [`TcpEngine::send`] of at most one MSS never straddle two
//! segments, so MPA's FPDUs travel whole, one or more per segment (§9.2 "Sending").
//!
//! Departures from the datasheet, all harmless for a model: no window scaling (the window
//! is at most 65535), no delayed ACK (every data segment is acknowledged at once, usually
//! piggybacked on data), no NewReno partial-ACK logic (a fast retransmit goes back N like a
//! timeout, which the in-order-only receiver needs anyway).

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::vec::Vec;

use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::wire::eth::MacAddr;
use super::wire::tcp::{build_frame, parse_frame, FrameAddr, TcpFlags, TcpHeader, DEFAULT_MSS};
use super::wire::WireError;

/// First port of the ephemeral range active opens draw from (IANA dynamic ports).
pub const EPHEMERAL_PORT_MIN: u16 = 49152;

/// Engine parameters (the silicon takes them from `SET_TCP_PARAMS`, §8.6). The timer
/// defaults are scaled for a data-centre fabric in virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Our MSS: MTU − 40 (IPv4) or MTU − 60 (IPv6).
    pub mss: u16,
    /// The receive window we advertise.
    pub window: u16,
    /// RTO before the first RTT sample.
    pub rto_initial_ns: u64,
    /// Lower bound of the RTO.
    pub rto_min_ns: u64,
    /// Upper bound of the RTO (doubling stops there).
    pub rto_max_ns: u64,
    /// Consecutive expiries of the retransmission timer that end the connection
    /// ([`TcpEvent::TimedOut`]).
    pub max_retries: u32,
    /// Time a connection stays in TIME_WAIT.
    pub time_wait_ns: u64,
    /// Initial congestion window in segments (RFC 6928).
    pub initial_cwnd_segments: u32,
    /// Seed of the initial-sequence-number generator.
    pub seed: u64,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            mss: 1460,
            window: 65535,
            rto_initial_ns: 1_000_000,
            rto_min_ns: 200_000,
            rto_max_ns: 64_000_000,
            max_retries: 10,
            time_wait_ns: 2_000_000,
            initial_cwnd_segments: 10,
            seed: 0,
        }
    }
}

/// A connection handle, unique for the life of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// The 4-tuple of a connection, from our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

/// RFC 9293 connection states (CLOSED and LISTEN are the absence of a connection and a
/// listening port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// Active open, SYN sent.
    SynSent,
    /// Passive open, SYN-ACK sent.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN is not acknowledged yet.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// Both FINs done; lingering for retransmitted FINs.
    TimeWait,
    /// The peer closed; we may still send.
    CloseWait,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
}

impl TcpState {
    /// Whether the SYN exchange is complete and data may be sent.
    fn synchronized(self) -> bool {
        !matches!(self, TcpState::SynSent | TcpState::SynReceived)
    }

    /// Whether we may still queue data.
    fn can_send(self) -> bool {
        matches!(
            self,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Established | TcpState::CloseWait
        )
    }
}

/// What the engine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// An active open completed.
    Established(ConnId),
    /// A passive open on listening port `port` completed (the handshake's last ACK arrived).
    Incoming {
        /// The new connection.
        conn: ConnId,
        /// The listening port it arrived on.
        port: u16,
    },
    /// In-order bytes from the peer.
    Data(ConnId, Vec<u8>),
    /// The peer acknowledged our stream up to byte `total` (counted from the first data
    /// byte): writes wholly below it are delivered.
    Acked {
        /// The connection.
        conn: ConnId,
        /// Bytes of our stream acknowledged so far.
        total: u64,
    },
    /// The peer's FIN arrived (after all its data): it sends no more.
    PeerClosed(ConnId),
    /// Both directions closed gracefully; the connection is gone.
    Closed(ConnId),
    /// The peer reset the connection (or refused it); the connection is gone.
    Reset(ConnId),
    /// Retransmissions ran out (an RST was sent); the connection is gone.
    TimedOut(ConnId),
}

/// Why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// No such connection (never existed, or gone).
    NoSuchConnection,
    /// The port already listens, or the 4-tuple is taken.
    AddressInUse,
    /// The local address is not one of the engine's.
    AddressNotLocal,
    /// Local and remote address families differ.
    MixedFamilies,
    /// No ephemeral port is free for this remote.
    NoPorts,
    /// The connection no longer accepts data (we closed it).
    Closing,
}

/// What [`TcpEngine::on_frame`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// A TCP segment for one of our addresses; handled (maybe answered with an RST).
    Consumed,
    /// Not TCP, or not for our addresses: the host's (raw queue, §8.7).
    NotMine,
    /// A TCP frame for us that failed a check (IP or TCP checksum, lengths): dropped.
    Dropped(WireError),
}

/// Counters (the datasheet's STAT_TCP_* registers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments sent (all kinds).
    pub segments_out: u64,
    /// Segments received and consumed.
    pub segments_in: u64,
    /// Segments sent again by a timeout or fast retransmit.
    pub retransmits: u64,
    /// Retransmission-timer expiries.
    pub timeouts: u64,
    /// Fast retransmits (three duplicate ACKs).
    pub fast_retransmits: u64,
    /// Segments beyond RCV.NXT (dropped, duplicate ACK sent).
    pub out_of_order: u64,
    /// Segments wholly before RCV.NXT (dropped, ACK sent).
    pub duplicates: u64,
    /// Frames with a bad IP or TCP checksum or bad lengths.
    pub bad_checksum: u64,
    /// RSTs sent.
    pub resets_out: u64,
    /// RSTs accepted.
    pub resets_in: u64,
}

struct Conn {
    id: ConnId,
    tuple: Endpoints,
    remote_mac: MacAddr,
    state: TcpState,
    listen_port: Option<u16>,
    mss: u16,
    // Send side: stream offsets count data bytes from 0 (the SYN is before offset 0).
    iss: u32,
    una: u64,
    nxt: u64,
    max: u64,
    buf: VecDeque<u8>,
    records: VecDeque<u64>,
    fin_queued: bool,
    fin_sent: bool,
    fin_max: bool,
    fin_acked: bool,
    snd_wnd: u32,
    cwnd: u32,
    ssthresh: u32,
    dupacks: u32,
    recover: u64,
    // Timers.
    rto: u64,
    srtt: Option<u64>,
    rttvar: u64,
    rtx_deadline: Option<u64>,
    retries: u32,
    rtt_probe: Option<(u64, u64)>,
    time_wait_deadline: Option<u64>,
    // Receive side.
    irs: u32,
    rcv_nxt: u32,
    ack_now: bool,
}

impl Conn {
    fn seq_of(&self, off: u64) -> u32 {
        // Lossless modulo 2^32 by design: sequence numbers wrap.
        self.iss.wrapping_add(1).wrapping_add(off as u32)
    }

    fn total(&self) -> u64 {
        self.una + self.buf.len() as u64
    }

    fn flight(&self) -> u64 {
        self.nxt.saturating_sub(self.una)
    }

    fn addr(&self, mac: MacAddr) -> FrameAddr {
        FrameAddr {
            src_mac: mac,
            dst_mac: self.remote_mac,
            src: self.tuple.local.ip(),
            dst: self.tuple.remote.ip(),
        }
    }

    fn arm(&mut self, now: u64) {
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(now.saturating_add(self.rto));
        }
    }
}

/// Frame output shared by all connections.
struct Outbox {
    mac: MacAddr,
    window: u16,
    ip_id: u16,
    frames: VecDeque<Vec<u8>>,
    stats: TcpStats,
}

impl Outbox {
    fn emit(&mut self, addr: &FrameAddr, h: &TcpHeader, payload: &[u8]) {
        self.ip_id = self.ip_id.wrapping_add(1);
        // Headers built from our own connection state always fit; a failure is a model bug
        // and the frame is simply not sent (TCP recovers as from a loss).
        if let Ok(f) = build_frame(addr, self.ip_id, h, payload) {
            self.frames.push_back(f);
            self.stats.segments_out += 1;
            if h.flags.contains(TcpFlags::RST) {
                self.stats.resets_out += 1;
            }
        }
    }

    fn segment(&mut self, c: &Conn, flags: TcpFlags, seq: u32, payload: &[u8]) {
        let h = TcpHeader {
            src_port: c.tuple.local.port(),
            dst_port: c.tuple.remote.port(),
            seq,
            ack: if flags.contains(TcpFlags::ACK) {
                c.rcv_nxt
            } else {
                0
            },
            flags,
            window: self.window,
            ..TcpHeader::default()
        };
        self.emit(&c.addr(self.mac), &h, payload);
    }

    fn syn(&mut self, c: &Conn, mss: u16) {
        let mut flags = TcpFlags::SYN;
        if c.state == TcpState::SynReceived {
            flags |= TcpFlags::ACK;
        }
        let h = TcpHeader {
            src_port: c.tuple.local.port(),
            dst_port: c.tuple.remote.port(),
            seq: c.iss,
            ack: if flags.contains(TcpFlags::ACK) {
                c.rcv_nxt
            } else {
                0
            },
            flags,
            window: self.window,
            mss: Some(mss),
            ..TcpHeader::default()
        };
        self.emit(&c.addr(self.mac), &h, &[]);
    }
}

/// The engine: all TCP connections of one device.
pub struct TcpEngine {
    config: TcpConfig,
    addrs: Vec<IpAddr>,
    out: Outbox,
    rng: Xoshiro256PlusPlus,
    listeners: Vec<u16>,
    by_tuple: HashMap<Endpoints, ConnId>,
    conns: BTreeMap<ConnId, Conn>,
    events: VecDeque<TcpEvent>,
    next_id: u32,
    next_port: u16,
    /// ACKs of delivered data wait for [`TcpEngine::flush_acks`] (see
    /// [`TcpEngine::set_deferred_acks`]).
    defer_acks: bool,
    ack_due: Vec<ConnId>,
}

impl TcpEngine {
    /// An engine for the device with MAC `mac` owning the addresses `addrs`.
    pub fn new(mac: [u8; 6], addrs: &[IpAddr], config: TcpConfig) -> TcpEngine {
        TcpEngine {
            config,
            addrs: addrs.to_vec(),
            out: Outbox {
                mac: MacAddr(mac),
                window: config.window,
                ip_id: 0,
                frames: VecDeque::new(),
                stats: TcpStats::default(),
            },
            rng: Xoshiro256PlusPlus::seed_from_u64(config.seed),
            listeners: Vec::new(),
            by_tuple: HashMap::new(),
            conns: BTreeMap::new(),
            events: VecDeque::new(),
            next_id: 1,
            next_port: EPHEMERAL_PORT_MIN,
            defer_acks: false,
            ack_due: Vec::new(),
        }
    }

    /// The engine's parameters.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// The local addresses.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// With `on`, the acknowledgement of in-order data waits until [`TcpEngine::flush_acks`]:
    /// a device that checks what it received before acknowledging it (§9.6) then answers a
    /// bad segment with a Terminate that carries the ACK, as the silicon's TOE does.
    pub fn set_deferred_acks(&mut self, on: bool) {
        self.defer_acks = on;
    }

    /// Sends the acknowledgements (and anything else due) that [`TcpEngine::set_deferred_acks`]
    /// held back.
    pub fn flush_acks(&mut self, now_ns: u64) {
        for id in core::mem::take(&mut self.ack_due) {
            if let Some(c) = self.conns.get_mut(&id) {
                output(c, &mut self.out, now_ns, false);
            }
        }
    }

    /// The station MAC of frames sent from now on (the device's SET_MAC, §6.4.3).
    pub fn set_mac(&mut self, mac: [u8; 6]) {
        self.out.mac = MacAddr(mac);
    }

    /// Our MSS for connections opened from now on (the device's SET_MTU, §6.4.3).
    pub fn set_mss(&mut self, mss: u16) {
        self.config.mss = mss;
    }

    /// Replaces the local addresses (the device's SET_ADDR, §3.10); connections already open
    /// keep theirs.
    pub fn set_addresses(&mut self, addrs: &[IpAddr]) {
        self.addrs = addrs.to_vec();
    }

    /// Counters.
    pub fn stats(&self) -> TcpStats {
        self.out.stats
    }

    /// Accepts connections to `port` on every local address.
    pub fn listen(&mut self, port: u16) -> Result<(), TcpError> {
        if self.listeners.contains(&port) {
            return Err(TcpError::AddressInUse);
        }
        self.listeners.push(port);
        Ok(())
    }

    /// Stops accepting connections to `port` (existing connections stay); whether it listened.
    pub fn unlisten(&mut self, port: u16) -> bool {
        let before = self.listeners.len();
        self.listeners.retain(|p| *p != port);
        before != self.listeners.len()
    }

    fn new_conn(&mut self, tuple: Endpoints, remote_mac: MacAddr, state: TcpState) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let cfg = &self.config;
        let c = Conn {
            id,
            tuple,
            remote_mac,
            state,
            listen_port: None,
            mss: cfg.mss,
            iss: self.rng.next_u32(),
            una: 0,
            nxt: 0,
            max: 0,
            buf: VecDeque::new(),
            records: VecDeque::new(),
            fin_queued: false,
            fin_sent: false,
            fin_max: false,
            fin_acked: false,
            snd_wnd: 0,
            cwnd: 0,
            ssthresh: u32::MAX,
            dupacks: 0,
            recover: 0,
            rto: cfg.rto_initial_ns,
            srtt: None,
            rttvar: 0,
            rtx_deadline: None,
            retries: 0,
            rtt_probe: None,
            time_wait_deadline: None,
            irs: 0,
            rcv_nxt: 0,
            ack_now: false,
        };
        self.by_tuple.insert(tuple, id);
        self.conns.insert(id, c);
        id
    }

    fn remove(&mut self, id: ConnId) {
        if let Some(c) = self.conns.remove(&id) {
            self.by_tuple.remove(&c.tuple);
        }
    }

    /// Active open from `local` (port 0: an ephemeral port) to `remote`, whose frames go to
    /// `remote_mac`; sends the SYN. [`TcpEvent::Established`] follows.
    pub fn open(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        remote_mac: [u8; 6],
        now_ns: u64,
    ) -> Result<ConnId, TcpError> {
        if !self.addrs.contains(&local.ip()) {
            return Err(TcpError::AddressNotLocal);
        }
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(TcpError::MixedFamilies);
        }
        let mut local = local;
        if local.port() == 0 {
            let span = u32::from(u16::MAX - EPHEMERAL_PORT_MIN) + 1;
            let free = (0..span).find_map(|_| {
                let p = self.next_port;
                self.next_port = if p == u16::MAX {
                    EPHEMERAL_PORT_MIN
                } else {
                    p + 1
                };
                let t = Endpoints {
                    local: SocketAddr::new(local.ip(), p),
                    remote,
                };
                (!self.by_tuple.contains_key(&t) && !self.listeners.contains(&p)).then_some(p)
            });
            local.set_port(free.ok_or(TcpError::NoPorts)?);
        }
        let tuple = Endpoints { local, remote };
        if self.by_tuple.contains_key(&tuple) {
            return Err(TcpError::AddressInUse);
        }
        let id = self.new_conn(tuple, MacAddr(remote_mac), TcpState::SynSent);
        if let Some(c) = self.conns.get_mut(&id) {
            self.out.syn(c, self.config.mss);
            c.arm(now_ns);
        }
        Ok(id)
    }

    /// Queues `data` for the peer. One call is one record: if it fits a segment it is never
    /// split across two. Allowed until we close (also before the handshake completes).
    /// Returns the stream offset just past `data`: once [`TcpEvent::Acked`] reports that
    /// total, the peer has all of it.
    pub fn send(&mut self, conn: ConnId, data: &[u8], now_ns: u64) -> Result<u64, TcpError> {
        let c = self
            .conns
            .get_mut(&conn)
            .ok_or(TcpError::NoSuchConnection)?;
        if !c.state.can_send() || c.fin_queued {
            return Err(TcpError::Closing);
        }
        if data.is_empty() {
            return Ok(c.total());
        }
        c.buf.extend(data);
        let end = c.total();
        c.records.push_back(end);
        output(c, &mut self.out, now_ns, false);
        Ok(end)
    }

    /// Bytes queued and not yet acknowledged.
    pub fn unacked(&self, conn: ConnId) -> Option<u64> {
        self.conns.get(&conn).map(|c| c.buf.len() as u64)
    }

    /// The connection's state.
    pub fn state(&self, conn: ConnId) -> Option<TcpState> {
        self.conns.get(&conn).map(|c| c.state)
    }

    /// The connection's 4-tuple.
    pub fn endpoints(&self, conn: ConnId) -> Option<Endpoints> {
        self.conns.get(&conn).map(|c| c.tuple)
    }

    /// The MSS in force (the smaller of ours and the peer's).
    pub fn mss(&self, conn: ConnId) -> Option<u16> {
        self.conns.get(&conn).map(|c| c.mss)
    }

    /// The MAC address the connection's frames go to (the peer's source MAC on a passive
    /// connection).
    pub fn remote_mac(&self, conn: ConnId) -> Option<[u8; 6]> {
        self.conns.get(&conn).map(|c| c.remote_mac.0)
    }

    /// The listening port a passive connection arrived on.
    pub fn listen_port(&self, conn: ConnId) -> Option<u16> {
        self.conns.get(&conn).and_then(|c| c.listen_port)
    }

    /// Connections alive (in any state, TIME_WAIT included).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Graceful close: a FIN goes after every byte already queued.
    pub fn close(&mut self, conn: ConnId, now_ns: u64) -> Result<(), TcpError> {
        let c = self
            .conns
            .get_mut(&conn)
            .ok_or(TcpError::NoSuchConnection)?;
        match c.state {
            TcpState::SynSent => {
                self.remove(conn);
                self.events.push_back(TcpEvent::Closed(conn));
                return Ok(());
            }
            // FIN_WAIT_1 begins when the handshake completes (see the ACK processing).
            TcpState::SynReceived => {}
            TcpState::Established => c.state = TcpState::FinWait1,
            TcpState::CloseWait => c.state = TcpState::LastAck,
            _ => return Ok(()),
        }
        c.fin_queued = true;
        output(c, &mut self.out, now_ns, false);
        Ok(())
    }

    /// Abortive close: sends an RST and forgets the connection (no event).
    pub fn abort(&mut self, conn: ConnId) -> Result<(), TcpError> {
        let c = self.conns.get(&conn).ok_or(TcpError::NoSuchConnection)?;
        if c.state != TcpState::SynSent {
            let seq = c.seq_of(c.max).wrapping_add(u32::from(c.fin_max));
            self.out.segment(c, TcpFlags::RST | TcpFlags::ACK, seq, &[]);
        }
        self.remove(conn);
        Ok(())
    }

    /// The next frame to transmit.
    pub fn pop_frame(&mut self) -> Option<Vec<u8>> {
        self.out.frames.pop_front()
    }

    /// Whether frames wait for [`TcpEngine::pop_frame`].
    pub fn has_frames(&self) -> bool {
        !self.out.frames.is_empty()
    }

    /// The next event.
    pub fn pop_event(&mut self) -> Option<TcpEvent> {
        self.events.pop_front()
    }

    /// The earliest timer deadline, for the simulation loop.
    pub fn next_timer(&self) -> Option<u64> {
        self.conns
            .values()
            .filter_map(|c| match (c.rtx_deadline, c.time_wait_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            })
            .min()
    }

    /// Runs the timers due at `now_ns`: retransmission (go-back-N, RTO doubled, cwnd = 1
    /// MSS; after `max_retries` an RST and [`TcpEvent::TimedOut`]) and TIME_WAIT expiry.
    pub fn poll_timers(&mut self, now_ns: u64) {
        let due: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| {
                c.rtx_deadline.is_some_and(|d| d <= now_ns)
                    || c.time_wait_deadline.is_some_and(|d| d <= now_ns)
            })
            .map(|c| c.id)
            .collect();
        for id in due {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            if c.time_wait_deadline.is_some_and(|d| d <= now_ns) {
                self.remove(id);
                self.events.push_back(TcpEvent::Closed(id));
                continue;
            }
            c.rtx_deadline = None;
            self.out.stats.timeouts += 1;
            c.retries += 1;
            if c.retries > self.config.max_retries {
                if c.state != TcpState::SynSent {
                    let seq = c.seq_of(c.una);
                    self.out.segment(c, TcpFlags::RST | TcpFlags::ACK, seq, &[]);
                }
                self.remove(id);
                self.events.push_back(TcpEvent::TimedOut(id));
                continue;
            }
            c.rto = c.rto.saturating_mul(2).min(self.config.rto_max_ns);
            c.rtt_probe = None;
            c.dupacks = 0;
            match c.state {
                TcpState::SynSent | TcpState::SynReceived => {
                    self.out.stats.retransmits += 1;
                    self.out.syn(c, self.config.mss);
                    c.arm(now_ns);
                }
                _ => {
                    let mss = u32::from(c.mss);
                    c.ssthresh = (c.flight().min(u64::from(u32::MAX)) as u32 / 2).max(2 * mss);
                    c.cwnd = mss;
                    c.recover = c.max;
                    go_back(c);
                    output(c, &mut self.out, now_ns, true);
                }
            }
        }
    }

    /// Handles a received frame.
    pub fn on_frame(&mut self, frame: &[u8], now_ns: u64) -> Disposition {
        let f = match parse_frame(frame) {
            Ok(f) => f,
            Err(WireError::UnsupportedEtherType(_) | WireError::NotTcp(_)) => {
                return Disposition::NotMine;
            }
            Err(e) => {
                // Damaged IP or TCP (the destination cannot be trusted either).
                self.out.stats.bad_checksum += 1;
                return Disposition::Dropped(e);
            }
        };
        if !self.addrs.contains(&f.ip.dst()) {
            return Disposition::NotMine;
        }
        self.out.stats.segments_in += 1;
        let tuple = Endpoints {
            local: SocketAddr::new(f.ip.dst(), f.tcp.dst_port),
            remote: SocketAddr::new(f.ip.src(), f.tcp.src_port),
        };
        let h = f.tcp;
        let Some(&id) = self.by_tuple.get(&tuple) else {
            self.no_connection(tuple, f.eth.src, &h, f.payload.len(), now_ns);
            return Disposition::Consumed;
        };
        self.segment_arrives(id, &h, f.payload, now_ns);
        Disposition::Consumed
    }

    /// A segment for no connection: a SYN to a listening port opens one, anything else but
    /// an RST is answered with an RST (RFC 9293 §3.10.7.1).
    fn no_connection(
        &mut self,
        tuple: Endpoints,
        mac: MacAddr,
        h: &TcpHeader,
        len: usize,
        now: u64,
    ) {
        if h.flags.contains(TcpFlags::RST) {
            return;
        }
        if h.flags.contains(TcpFlags::SYN)
            && !h.flags.contains(TcpFlags::ACK)
            && self.listeners.contains(&tuple.local.port())
        {
            let id = self.new_conn(tuple, mac, TcpState::SynReceived);
            let mss = self.config.mss;
            if let Some(c) = self.conns.get_mut(&id) {
                c.listen_port = Some(tuple.local.port());
                c.irs = h.seq;
                c.rcv_nxt = h.seq.wrapping_add(1);
                c.mss = mss.min(h.mss.unwrap_or(DEFAULT_MSS));
                c.snd_wnd = u32::from(h.window);
                self.out.syn(c, mss);
                c.arm(now);
            }
            return;
        }
        let (flags, seq, ack) = if h.flags.contains(TcpFlags::ACK) {
            (TcpFlags::RST, h.ack, 0)
        } else {
            (
                TcpFlags::RST | TcpFlags::ACK,
                0,
                h.seq.wrapping_add(h.seq_len(len)),
            )
        };
        let r = TcpHeader {
            src_port: tuple.local.port(),
            dst_port: tuple.remote.port(),
            seq,
            ack,
            flags,
            window: 0,
            ..TcpHeader::default()
        };
        let addr = FrameAddr {
            src_mac: self.out.mac,
            dst_mac: mac,
            src: tuple.local.ip(),
            dst: tuple.remote.ip(),
        };
        self.out.emit(&addr, &r, &[]);
    }

    fn segment_arrives(&mut self, id: ConnId, h: &TcpHeader, payload: &[u8], now: u64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let flags = h.flags;
        if c.state == TcpState::SynSent {
            let ack_ok = flags.contains(TcpFlags::ACK) && h.ack == c.iss.wrapping_add(1);
            if flags.contains(TcpFlags::ACK) && !ack_ok {
                if !flags.contains(TcpFlags::RST) {
                    let r = TcpHeader {
                        src_port: c.tuple.local.port(),
                        dst_port: c.tuple.remote.port(),
                        seq: h.ack,
                        flags: TcpFlags::RST,
                        ..TcpHeader::default()
                    };
                    self.out.emit(&c.addr(self.out.mac), &r, &[]);
                }
                return;
            }
            if flags.contains(TcpFlags::RST) {
                if ack_ok {
                    self.out.stats.resets_in += 1;
                    self.remove(id);
                    self.events.push_back(TcpEvent::Reset(id));
                }
                return;
            }
            if flags.contains(TcpFlags::SYN) && ack_ok {
                c.irs = h.seq;
                c.rcv_nxt = h.seq.wrapping_add(1);
                c.mss = c.mss.min(h.mss.unwrap_or(DEFAULT_MSS));
                c.snd_wnd = u32::from(h.window);
                c.cwnd = self.config.initial_cwnd_segments.max(1) * u32::from(c.mss);
                c.state = TcpState::Established;
                c.rtx_deadline = None;
                c.retries = 0;
                c.ack_now = true;
                self.events.push_back(TcpEvent::Established(id));
                output(c, &mut self.out, now, false);
            }
            // A SYN without ACK (simultaneous open) is not supported: the peer's SYN
            // retransmission meets our SYN-ACK-less state and the connection times out.
            return;
        }

        // RST (RFC 5961 §3.2): exactly RCV.NXT resets, elsewhere in the window a challenge
        // ACK, outside it nothing.
        if flags.contains(TcpFlags::RST) {
            let off = h.seq.wrapping_sub(c.rcv_nxt);
            if off == 0 {
                self.out.stats.resets_in += 1;
                self.remove(id);
                self.events.push_back(TcpEvent::Reset(id));
            } else if off < u32::from(self.config.window) {
                c.ack_now = true;
                output(c, &mut self.out, now, false);
            }
            return;
        }
        if flags.contains(TcpFlags::SYN) {
            if h.seq == c.irs {
                // A retransmitted SYN (our SYN-ACK was lost) or SYN-ACK (our ACK was lost).
                if c.state == TcpState::SynReceived {
                    self.out.syn(c, self.config.mss);
                } else {
                    c.ack_now = true;
                    output(c, &mut self.out, now, false);
                }
            } else {
                // RFC 5961 §4: challenge ACK.
                c.ack_now = true;
                output(c, &mut self.out, now, false);
            }
            return;
        }
        if !flags.contains(TcpFlags::ACK) {
            return;
        }

        // ACK processing.
        if c.state == TcpState::SynReceived {
            if h.ack != c.iss.wrapping_add(1) {
                let r = TcpHeader {
                    src_port: c.tuple.local.port(),
                    dst_port: c.tuple.remote.port(),
                    seq: h.ack,
                    flags: TcpFlags::RST,
                    ..TcpHeader::default()
                };
                self.out.emit(&c.addr(self.out.mac), &r, &[]);
                return;
            }
            c.state = if c.fin_queued {
                TcpState::FinWait1
            } else {
                TcpState::Established
            };
            c.cwnd = self.config.initial_cwnd_segments.max(1) * u32::from(c.mss);
            c.rtx_deadline = None;
            c.retries = 0;
            c.snd_wnd = u32::from(h.window);
            self.events.push_back(TcpEvent::Incoming {
                conn: id,
                port: c.listen_port.unwrap_or(0),
            });
        }
        let delta = h.ack.wrapping_sub(c.seq_of(c.una));
        let max_delta = (c.max - c.una) as u32 + u32::from(c.fin_max);
        if (delta as i32) < 0 {
            // An old ACK: nothing to learn from it.
        } else if delta > max_delta {
            // Acknowledges what we never sent: answer with an ACK and drop (RFC 9293).
            c.ack_now = true;
            output(c, &mut self.out, now, false);
            return;
        } else if delta > 0 {
            let data_acked = u64::from(delta).min(c.buf.len() as u64);
            c.buf.drain(..data_acked as usize);
            c.una += data_acked;
            while c.records.front().is_some_and(|e| *e <= c.una) {
                c.records.pop_front();
            }
            if c.nxt < c.una {
                c.nxt = c.una;
            }
            if c.fin_max && u64::from(delta) == data_acked + 1 {
                c.fin_acked = true;
                c.fin_sent = true;
            }
            c.retries = 0;
            c.dupacks = 0;
            if let Some((end, sent)) = c.rtt_probe {
                if c.una >= end {
                    c.rtt_probe = None;
                    sample_rtt(c, now.saturating_sub(sent), &self.config);
                }
            }
            let mss = u32::from(c.mss);
            if c.cwnd < c.ssthresh {
                c.cwnd = c.cwnd.saturating_add((data_acked as u32).clamp(1, mss));
            } else {
                c.cwnd = c.cwnd.saturating_add((mss * mss / c.cwnd.max(1)).max(1));
            }
            c.rtx_deadline = None;
            if c.flight() > 0 || (c.fin_sent && !c.fin_acked) {
                c.arm(now);
            }
            if data_acked > 0 {
                self.events.push_back(TcpEvent::Acked {
                    conn: id,
                    total: c.una,
                });
            }
            if c.fin_acked {
                match c.state {
                    TcpState::FinWait1 => c.state = TcpState::FinWait2,
                    TcpState::Closing => {
                        c.state = TcpState::TimeWait;
                        c.time_wait_deadline = Some(now.saturating_add(self.config.time_wait_ns));
                    }
                    TcpState::LastAck => {
                        self.remove(id);
                        self.events.push_back(TcpEvent::Closed(id));
                        return;
                    }
                    _ => {}
                }
            }
        } else if payload.is_empty()
            && !flags.contains(TcpFlags::FIN)
            && u32::from(h.window) == c.snd_wnd
            && c.flight() > 0
        {
            c.dupacks += 1;
            if c.dupacks == 3 && c.una >= c.recover {
                let mss = u32::from(c.mss);
                c.ssthresh = (c.flight().min(u64::from(u32::MAX)) as u32 / 2).max(2 * mss);
                c.cwnd = c.ssthresh;
                c.recover = c.max;
                self.out.stats.fast_retransmits += 1;
                go_back(c);
            }
        }
        c.snd_wnd = u32::from(h.window);

        // Data and FIN: in order only.
        let fin = flags.contains(TcpFlags::FIN);
        let receiving = matches!(
            c.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        );
        if !payload.is_empty() || fin {
            let off = h.seq.wrapping_sub(c.rcv_nxt) as i32;
            if off > 0 {
                self.out.stats.out_of_order += 1;
                c.ack_now = true;
            } else {
                let skip = off.unsigned_abs() as usize;
                if skip > payload.len() || (skip == payload.len() && !fin) || !receiving {
                    self.out.stats.duplicates += 1;
                    c.ack_now = true;
                    if c.state == TcpState::TimeWait && fin {
                        c.time_wait_deadline = Some(now.saturating_add(self.config.time_wait_ns));
                    }
                } else {
                    let new = payload.get(skip..).unwrap_or(&[]);
                    if !new.is_empty() {
                        c.rcv_nxt = c.rcv_nxt.wrapping_add(new.len() as u32);
                        self.events.push_back(TcpEvent::Data(id, new.to_vec()));
                        if self.defer_acks && !fin {
                            c.ack_now = true;
                            if !self.ack_due.contains(&id) {
                                self.ack_due.push(id);
                            }
                            return;
                        }
                    }
                    c.ack_now = true;
                    if fin {
                        c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
                        self.events.push_back(TcpEvent::PeerClosed(id));
                        match c.state {
                            TcpState::Established => c.state = TcpState::CloseWait,
                            TcpState::FinWait1 if c.fin_acked => {
                                c.state = TcpState::TimeWait;
                            }
                            TcpState::FinWait1 => c.state = TcpState::Closing,
                            TcpState::FinWait2 => c.state = TcpState::TimeWait,
                            _ => {}
                        }
                        if c.state == TcpState::TimeWait {
                            c.rtx_deadline = None;
                            c.time_wait_deadline =
                                Some(now.saturating_add(self.config.time_wait_ns));
                        }
                    }
                }
            }
        }
        output(c, &mut self.out, now, false);
    }
}

/// Go-back-N: the next segment sent is the one at SND.UNA.
fn go_back(c: &mut Conn) {
    if c.nxt > c.una {
        c.nxt = c.una;
    }
    if !c.fin_acked {
        c.fin_sent = false;
    }
    c.rtt_probe = None;
}

/// RFC 6298 §2.
fn sample_rtt(c: &mut Conn, r: u64, cfg: &TcpConfig) {
    match c.srtt {
        None => {
            c.srtt = Some(r);
            c.rttvar = r / 2;
        }
        Some(s) => {
            c.rttvar = (3 * c.rttvar + s.abs_diff(r)) / 4;
            c.srtt = Some((7 * s + r) / 8);
        }
    }
    let s = c.srtt.unwrap_or(r);
    c.rto = (s + (4 * c.rttvar).max(1)).clamp(cfg.rto_min_ns, cfg.rto_max_ns);
}

/// Sends what the windows allow (records kept whole), then the FIN, then a pure ACK if one
/// is owed and nothing carried it. `force` sends one segment past a closed window (the
/// retransmission after a timeout doubles as the window probe).
fn output(c: &mut Conn, out: &mut Outbox, now: u64, mut force: bool) {
    if c.state.synchronized() {
        loop {
            let total = c.total();
            let flight = c.flight();
            let wnd = u64::from(c.snd_wnd.min(c.cwnd.max(u32::from(c.mss))));
            if c.nxt < total {
                let mss = u64::from(c.mss);
                let avail = if force {
                    mss
                } else {
                    wnd.saturating_sub(flight)
                };
                let max_len = mss.min(avail).min(total - c.nxt);
                if max_len == 0 {
                    break;
                }
                let limit = c.nxt + max_len;
                let len = if limit == total {
                    max_len
                } else {
                    let i = c.records.partition_point(|e| *e <= limit);
                    match i.checked_sub(1).and_then(|j| c.records.get(j)) {
                        Some(&e) if e > c.nxt => e - c.nxt,
                        _ if max_len == mss || flight == 0 => max_len,
                        _ => break,
                    }
                };
                let from = (c.nxt - c.una) as usize;
                let to = (from + len as usize).min(c.buf.len());
                let data: Vec<u8> = c.buf.range(from.min(to)..to).copied().collect();
                let seq = c.seq_of(c.nxt);
                if c.nxt < c.max {
                    out.stats.retransmits += 1;
                } else if c.rtt_probe.is_none() {
                    c.rtt_probe = Some((c.nxt + len, now));
                }
                out.segment(c, TcpFlags::ACK | TcpFlags::PSH, seq, &data);
                c.nxt += len;
                c.max = c.max.max(c.nxt);
                c.ack_now = false;
                c.arm(now);
                force = false;
            } else if c.fin_queued && !c.fin_sent {
                let seq = c.seq_of(total);
                if c.fin_max {
                    out.stats.retransmits += 1;
                }
                out.segment(c, TcpFlags::ACK | TcpFlags::FIN, seq, &[]);
                c.fin_sent = true;
                c.fin_max = true;
                c.ack_now = false;
                c.arm(now);
                break;
            } else {
                break;
            }
        }
    }
    if c.state.synchronized() && c.nxt < c.total() && c.flight() == 0 {
        // Data waits for a closed window: the retransmission timer probes it.
        c.arm(now);
    }
    if c.ack_now {
        let seq = c.seq_of(c.nxt).wrapping_add(u32::from(c.fin_sent));
        out.segment(c, TcpFlags::ACK, seq, &[]);
        c.ack_now = false;
    }
}
