//! Connection management through the device's TCP offload engine and MPA connection manager
//! (§6.4.8, §8, §11.10): the `cm_*` methods as `CM_*` admin commands — listen, connect (with
//! the next-hop MAC from `set_neighbor`), accept, reject with private data, complete (the RTR),
//! disconnect (FIN), abort (RST), release — and the bookkeeping that turns connection events
//! into `hal::CmEvent`s (contexts from `cm_attach`, no events after `cm_release` /
//! `cm_stop_listen`).

use core::net::{IpAddr, SocketAddr};

use hal::queue::cm::CmBook;
use hal::{ConnId, HalError, HalResult, Platform};
use tock_registers::interfaces::Readable;

use super::cmdq::{Action, Post};
use super::eq::Tag;
use super::sq::Qp;
use super::{params, IwarpNic};
use crate::admin::Command;
use crate::cm::{CmRecord, CM_RECORD_SIZE, PASSIVE_CONN_ID_BASE};

/// §8.2: the connection manager numbers passive connections `0x8000_0000 | n`.
fn is_passive_conn_id(conn: u32) -> bool {
    conn & PASSIVE_CONN_ID_BASE != 0
}

/// Timers of the TCP offload engine and connection manager (SET_TCP_PARAMS, §6.4.3, §8.6);
/// 0 keeps the device's value. Production drivers leave the reset values; tests and
/// simulations shorten them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpTimers {
    /// Smallest retransmission timeout (reset value 200 ms).
    pub rto_min_us: u32,
    /// Largest retransmission timeout after back-off (reset value 60 s).
    pub rto_max_us: u32,
    /// Timeout before the first RTT sample, also the SYN timeout (reset value 1 s).
    pub rto_init_us: u32,
    /// Consecutive timeouts of one segment before the connection is reset (reset value 8).
    pub max_retries: u8,
    /// SYN / SYN-ACK retransmissions before a handshake fails (reset value 5).
    pub syn_retries: u8,
    /// MPA request, reply and RTR timer (reset value 10 s).
    pub mpa_timeout_ms: u32,
    /// Wait for the peer's FIN after ours (reset value 10 s).
    pub fin_timeout_ms: u32,
    /// How long a closed 4-tuple is held (reset value 1 s).
    pub time_wait_ms: u32,
}

/// A listening address: its listen id.
#[derive(Debug)]
pub struct Listen {
    id: u32,
}

/// CM bookkeeping under the `ctl` lock ([`hal::queue::cm`]).
pub(crate) type CmState = CmBook;

impl super::cmdq::Control {
    /// CM_RELEASE executed: stop filtering the id; an active id may be chosen again.
    pub(crate) fn cm_released(&mut self, conn: u32) {
        self.cm.released.retain(|c| *c != conn);
        if !is_passive_conn_id(conn) {
            self.ids.conn.free(conn);
        }
    }

    /// CM_STOP_LISTEN executed: the listen id may be reused.
    pub(crate) fn listen_stopped(&mut self, listen_id: u32) {
        self.cm.stopped.retain(|l| *l != listen_id);
        self.ids.listen.free(listen_id);
    }
}

impl<P: Platform> IwarpNic<P> {
    /// Posts SET_ADDR for `ip` (or a clear, `None`) at local address table entry `index`
    /// (§6.4.3; SILENT unless `action`).
    pub(crate) fn post_addr(
        &self,
        index: u32,
        ip: Option<IpAddr>,
        action: Option<Action>,
    ) -> HalResult<u64> {
        let how = if action.is_some() {
            Post::on(index)
        } else {
            Post::silent(index)
        };
        self.command(
            |_| Command::SetAddr(params::set_addr(ip)),
            None,
            how,
            None,
            action,
        )
    }

    /// Changes the station MAC address (SET_MAC, §6.4.3, §11.1 step 12), e.g. when NDIS
    /// configures a locally administered address.
    pub fn set_mac(&self, mac: [u8; 6]) -> HalResult<()> {
        self.command(
            |_| Command::SetMac(params::set_mac(mac)),
            None,
            Post::silent(0),
            None,
            None,
        )?;
        self.ctl.lock().station_mac = mac;
        Ok(())
    }

    /// SET_TCP_PARAMS (§6.4.3): applies to timers started afterwards. Control path
    /// (PASSIVE_LEVEL): waits for the command's completion.
    pub fn set_tcp_params(&self, timers: &TcpTimers) -> HalResult<()> {
        self.command_sync(Command::SetTcpParams(params::set_tcp(timers)))
    }

    /// `PORT_STATUS` (§3.5) as the device reports it now: link, speed and MTU, for the
    /// NDIS glue's link indications (PORT_CHANGE EQEs have no `hal` event).
    pub fn port_status(&self) -> u32 {
        self.bar0().map_or(0, |b| b.port_status.get())
    }

    /// Records the next-hop MAC of `ip` for `CM_CONNECT`'s REMOTE_MAC (§8.1: the driver
    /// resolves it with the host stack's ARP / neighbour discovery); `EthernetPort::set_neighbor`.
    pub(crate) fn neighbor_set(&self, ip: IpAddr, mac: [u8; 6]) -> HalResult<()> {
        let mut ctl = self.ctl.lock();
        if let Some(e) = ctl.neighbors.iter_mut().find(|(a, _)| *a == ip) {
            e.1 = mac;
            return Ok(());
        }
        ctl.neighbors
            .try_reserve(1)
            .map_err(|_| HalError::NoResources)?;
        ctl.neighbors.push((ip, mac));
        Ok(())
    }

    /// CM_LISTEN (§6.4.8) with a driver-chosen listen id. ADDRESS_IN_USE and an address that
    /// is not the interface's (the device's UNREACHABLE) are detected here (the driver knows
    /// every listen and address), so the call can fail synchronously.
    pub(crate) fn listen(&self, addr: SocketAddr, ctx: u64) -> HalResult<Listen> {
        let id = {
            let mut ctl = self.ctl.lock();
            if !addr.ip().is_unspecified() && !ctl.addrs.contains(&addr.ip()) {
                return Err(HalError::InvalidParameter);
            }
            // §6.4.8 / §8.5: a listen of the same version, port and address (or wildcard).
            if ctl.cm.listen_covers(&addr) {
                return Err(HalError::AddressInUse);
            }
            ctl.cm
                .listens
                .try_reserve(1)
                .map_err(|_| HalError::NoResources)?;
            let id = ctl.ids.listen.alloc().ok_or(HalError::NoResources)?;
            ctl.cm.listens.push((id, addr));
            id
        };
        // BACKLOG 0: the device's default (128).
        let params = params::listen(addr.ip(), addr.port(), ctx);
        match self.command(
            |_| Command::CmListen(params),
            None,
            Post::silent(id),
            None,
            None,
        ) {
            Ok(_) => Ok(Listen { id }),
            Err(e) => {
                let mut ctl = self.ctl.lock();
                ctl.cm.listens.retain(|(l, _)| *l != id);
                ctl.ids.listen.free(id);
                Err(e)
            }
        }
    }

    /// CM_STOP_LISTEN: requests of this listen not yet taken by `next_event` are withdrawn
    /// (and released on the device), later ones are dropped until the command executed.
    pub(crate) fn stop_listen(&self, listen: Listen) {
        let id = listen.id;
        let mut withdrawn: [u32; 16] = [0; 16];
        let mut n = 0;
        {
            let mut ctl = self.ctl.lock();
            ctl.cm.listens.retain(|(l, _)| *l != id);
            let _ = ctl
                .cm
                .stopped
                .try_reserve(1)
                .map(|()| ctl.cm.stopped.push(id));
            self.events.lock().retain(|t| match t {
                Tag::Request { listen, conn } if *listen == id => {
                    if let Some(w) = withdrawn.get_mut(n) {
                        *w = *conn;
                        n += 1;
                    }
                    false
                }
                _ => true,
            });
        }
        for conn_id in withdrawn.iter().take(n).copied() {
            let _ = self.command_wait(|_| Command::CmRelease, Post::silent(conn_id), None, None);
        }
        let _ = self.command_wait(
            |_| Command::CmStopListen,
            Post::on(id),
            None,
            Some(Action::ListenStopped { listen_id: id }),
        );
    }

    /// CM_CONNECT (§6.4.8, §8.3) with a driver-chosen connection id, the QP to bind and the
    /// next-hop MAC (§8.1); LOCAL_PORT 0 lets the device pick an ephemeral port. A failure of
    /// the command is reported as `ConnectFailed` (§8.3).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connect(
        &self,
        qp: &Qp,
        local: SocketAddr,
        remote: SocketAddr,
        ird: u32,
        ord: u32,
        private_data: &[u8],
        ctx: u64,
    ) -> HalResult<ConnId> {
        if private_data.len() > usize::from(self.attrs.max_private_data)
            || local.is_ipv4() != remote.is_ipv4()
        {
            return Err(HalError::InvalidParameter);
        }
        let (conn, mac) = {
            let mut ctl = self.ctl.lock();
            // §8.1: the driver resolves the next hop; a connection to one of our own
            // addresses (LOOPBACK) goes to our station address; without either the connect
            // cannot start.
            let mac = match ctl.neighbors.iter().find(|(a, _)| *a == remote.ip()) {
                Some((_, m)) => *m,
                None if ctl.addrs.contains(&remote.ip()) => ctl.station_mac,
                None => return Err(HalError::HostUnreachable),
            };
            let conn = ctl.ids.conn.alloc().ok_or(HalError::NoResources)?;
            if let Err(e) = ctl.cm.set_ctx(conn, ctx) {
                ctl.ids.conn.free(conn);
                return Err(e);
            }
            (conn, mac)
        };
        let undo = |e| {
            let mut ctl = self.ctl.lock();
            ctl.cm.conns.retain(|(c, _)| *c != conn);
            ctl.ids.conn.free(conn);
            e
        };
        let rec = CmRecord::mailbox(
            conn,
            ctx,
            local,
            remote,
            self.clamp_ird(ird),
            self.clamp_ord(ord),
            qp.qpn,
            mac,
            private_data,
        )
        .ok_or(HalError::InvalidParameter)
        .map_err(undo)?;
        let mut raw = [0u8; CM_RECORD_SIZE];
        if !rec.encode_into(&mut raw) {
            return Err(undo(HalError::Fatal));
        }
        match self.command(
            Command::CmConnect,
            Some(&raw),
            Post::on(conn),
            None,
            Some(Action::ConnectFailed { conn, ctx }),
        ) {
            Ok(_) => Ok(ConnId(conn)),
            Err(e) => Err(undo(e)),
        }
    }

    /// IRD of a mailbox: the consumer's, at most the device's (§6.4.8: more fails LIMIT).
    fn clamp_ird(&self, ird: u32) -> u16 {
        u16::try_from(ird)
            .unwrap_or(u16::MAX)
            .min(u16::from(self.attrs.max_ird))
    }

    /// ORD of a mailbox, likewise.
    fn clamp_ord(&self, ord: u32) -> u16 {
        u16::try_from(ord)
            .unwrap_or(u16::MAX)
            .min(u16::from(self.attrs.max_ord))
    }

    /// A mailbox record that carries only CONTEXT, IRD, ORD, LOCAL_QPN and private data
    /// (CM_ACCEPT, CM_REJECT: the connection's addresses are the device's).
    fn answer_record(
        &self,
        conn: u32,
        ctx: u64,
        ird: u16,
        ord: u16,
        qpn: u32,
        private_data: &[u8],
    ) -> HalResult<[u8; CM_RECORD_SIZE]> {
        let none = SocketAddr::new(IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0);
        let rec = CmRecord::mailbox(conn, ctx, none, none, ird, ord, qpn, [0; 6], private_data)
            .ok_or(HalError::InvalidParameter)?;
        let mut raw = [0u8; CM_RECORD_SIZE];
        if rec.encode_into(&mut raw) {
            Ok(raw)
        } else {
            Err(HalError::Fatal)
        }
    }

    /// Remembers the context of a passive connection (events before CM_ACCEPT carry the
    /// listen context in the device's record; §8.4 says drivers look them up by CONN_ID).
    pub(crate) fn attach(&self, conn: ConnId, ctx: u64) {
        let _ = self.ctl.lock().cm.set_ctx(conn.0, ctx);
    }

    /// CM_ACCEPT: binds `qp` and sends the MPA reply with the private data (§8.3); a failure
    /// is reported as `AcceptFailed`.
    pub(crate) fn accept(
        &self,
        conn: ConnId,
        qp: &Qp,
        ird: u32,
        ord: u32,
        private_data: &[u8],
    ) -> HalResult<()> {
        if private_data.len() > usize::from(self.attrs.max_private_data) {
            return Err(HalError::InvalidParameter);
        }
        let conn_id = conn.0;
        let ctx = self.ctl.lock().cm.ctx_of(conn_id).unwrap_or(0);
        let raw = self.answer_record(
            conn_id,
            ctx,
            self.clamp_ird(ird),
            self.clamp_ord(ord),
            qp.qpn,
            private_data,
        )?;
        self.command(
            Command::CmAccept,
            Some(&raw),
            Post::on(conn_id),
            None,
            Some(Action::AcceptFailed { conn: conn_id }),
        )
        .map(|_| ())
    }

    /// CM_REJECT (SILENT: a failed reject has nobody to tell). Passive: an MPA reply with the
    /// Rej bit and the private data, then FIN; active (after CONNECT_REPLY): RST, the private
    /// data is not sent (§8.3: MPA has no message for it).
    pub(crate) fn reject(&self, conn: ConnId, private_data: &[u8]) -> HalResult<()> {
        if private_data.len() > usize::from(self.attrs.max_private_data) {
            return Err(HalError::InvalidParameter);
        }
        let conn_id = conn.0;
        let raw = self.answer_record(conn_id, 0, 0, 0, 0, private_data)?;
        self.command(
            Command::CmReject,
            Some(&raw),
            Post::silent(conn_id),
            None,
            None,
        )
        .map(|_| ())
    }

    /// CM_COMPLETE: the device sends the RTR (a zero-length RDMA Read, §9.3.3) and moves the
    /// QP to RTS; a failure is reported as `ConnectFailed`.
    pub(crate) fn complete(&self, conn: ConnId) -> HalResult<()> {
        let conn_id = conn.0;
        self.command(
            |_| Command::CmComplete,
            None,
            Post::on(conn_id),
            None,
            Some(Action::CompleteFailed { conn: conn_id }),
        )
        .map(|_| ())
    }

    /// CM_DISCONNECT: graceful close — the QP is flushed, FIN follows the bytes already given
    /// to TCP, and DISCONNECT_DONE reports the peer's FIN (or the FIN timer, §8.3); a failure
    /// is reported as `DisconnectComplete` with the error.
    pub(crate) fn disconnect(&self, conn: ConnId) -> HalResult<()> {
        let conn_id = conn.0;
        self.command(
            |_| Command::CmDisconnect,
            None,
            Post::on(conn_id),
            None,
            Some(Action::DisconnectFailed { conn: conn_id }),
        )
        .map(|_| ())
    }

    /// CM_RELEASE: no event for the id follows — queued ones are withdrawn, and EQEs for it
    /// are dropped until the command executed (then the id may be reused). Abortive (RST)
    /// unless a graceful close is under way, which the device finishes on its own (§8.3).
    pub(crate) fn release(&self, conn: ConnId) {
        let conn_id = conn.0;
        {
            let mut ctl = self.ctl.lock();
            ctl.cm.conns.retain(|(c, _)| *c != conn_id);
            ctl.cm.aborted.retain(|c| *c != conn_id);
            if ctl.cm.released.try_reserve(1).is_ok() {
                ctl.cm.released.push(conn_id);
            }
            self.events.lock().retain(
                |t| !matches!(t, Tag::Conn(c) | Tag::Request { conn: c, .. } if *c == conn_id),
            );
        }
        let _ = self.command_wait(
            |_| Command::CmRelease,
            Post::on(conn_id),
            None,
            Some(Action::Released { conn: conn_id }),
        );
    }
}

impl<P: Platform> IwarpNic<P> {
    /// CM_ABORT (§8.3): resets the connection at once (RST) and moves a bound QP to ERR; no
    /// event for it follows, and the id stays allocated until `cm_release`. `hal::NicHal` has
    /// no abort of its own (`cm_release` aborts); this is for a glue that must drop a
    /// connection without forgetting it, e.g. on a surprise remove of the peer's route.
    pub fn cm_abort(&self, conn: ConnId) -> HalResult<()> {
        let conn_id = conn.0;
        {
            let ctl = self.ctl.lock();
            if ctl.cm.ctx_of(conn_id).is_none() || ctl.cm.is_released(conn_id) {
                return Err(HalError::InvalidParameter);
            }
        }
        {
            // "No event for it afterwards": withdraw what is queued, drop what arrives.
            let mut ctl = self.ctl.lock();
            if ctl.cm.aborted.try_reserve(1).is_err() {
                return Err(HalError::NoResources);
            }
            ctl.cm.aborted.push(conn_id);
            self.events
                .lock()
                .retain(|t| !matches!(t, Tag::Conn(c) if *c == conn_id));
        }
        self.command(
            |_| Command::CmAbort,
            None,
            Post::silent(conn_id),
            None,
            None,
        )
        .map(|_| ())
    }
}
