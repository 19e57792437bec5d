//! Connection management through the device's CM agent (§6.4.8, §8): the `cm_*` methods as
//! CM admin commands, and the bookkeeping that turns CM events into `hal::CmEvent`s (contexts
//! from `cm_attach`, no events after `cm_release` / `cm_stop_listen`).

use core::net::{IpAddr, SocketAddr};

use hal::queue::cm::CmBook;
use hal::{ConnId, HalError, HalResult, Platform};
use tock_registers::interfaces::Readable;

use super::cmdq::Action;
use super::eq::Tag;
use super::sq::Qp;
use super::RoceNic;
use crate::admin::{CmListen, CmdFlags, Command, GidType};
use crate::cm::{ip_to_gid, is_passive_conn_id, CmAddresses, CmRecord};

/// REMOTE_MAC of `CM_CONNECT` when the glue resolved no next hop
/// (`hal::EthernetPort::set_neighbor`).
/// §8.1 wants the driver to pass a resolved MAC; all zeros is no valid unicast MAC, and the
/// device model then resolves it from its own neighbour table (UNCONFIRMED: not in the manual).
const UNRESOLVED_MAC: [u8; 6] = [0; 6];

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

impl<P: Platform> RoceNic<P> {
    /// Posts SET_GID for `ip` at `index` (SILENT unless `action`).
    pub(crate) fn post_gid(
        &self,
        index: u32,
        ip: IpAddr,
        action: Option<Action>,
    ) -> HalResult<u64> {
        let gid_type = if ip.is_ipv4() {
            GidType::RoceV2Ipv4
        } else {
            GidType::RoceV2Ipv6
        };
        let flags = if action.is_some() {
            CmdFlags::empty()
        } else {
            CmdFlags::SILENT
        };
        self.command(
            |_| Command::SetGid {
                index,
                gid_type,
                gid: ip_to_gid(ip),
            },
            None,
            flags,
            None,
            action,
        )
    }

    /// Changes the station MAC address (SET_MAC, §6.4.3, §11.1 step 12), e.g. when NDIS
    /// configures a locally administered address.
    pub fn set_mac(&self, mac: [u8; 6]) -> HalResult<()> {
        self.command(
            |_| Command::SetMac { mac },
            None,
            CmdFlags::SILENT,
            None,
            None,
        )
        .map(|_| ())
    }

    /// `PORT_STATUS` (§3.5) as the device reports it now: link, speed and MTU, for the
    /// NDIS glue's link indications (PORT_CHANGE EQEs have no `hal` event).
    pub fn port_status(&self) -> u32 {
        self.bar0().map_or(0, |b| b.port_status.get())
    }

    /// Records the next-hop MAC of `ip` for `CM_CONNECT` (§8.1: the driver resolves it with
    /// the host stack's ARP / neighbour discovery); `EthernetPort::set_neighbor`.
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

    /// CM_LISTEN (§6.4.8) with a driver-chosen listen id. ADDRESS_IN_USE is detected here
    /// (the driver knows every listen), so the call can fail synchronously.
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
        let params = CmListen {
            listen_id: id,
            ip: addr.ip(),
            port: addr.port(),
            listen_context: ctx,
        };
        match self.command(
            |_| Command::CmListen(params),
            None,
            CmdFlags::SILENT,
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
            let _ = self.command_wait(
                |_| Command::CmRelease { conn_id },
                CmdFlags::SILENT,
                None,
                None,
            );
        }
        let _ = self.command_wait(
            |_| Command::CmStopListen { listen_id: id },
            CmdFlags::empty(),
            None,
            Some(Action::ListenStopped { listen_id: id }),
        );
    }

    /// CM_CONNECT (§6.4.8, §8.3) with a driver-chosen connection id; a failure of the command
    /// is reported as `ConnectFailed` (§8.3).
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
        if private_data.len() > usize::from(self.attrs.max_caller_data)
            || local.is_ipv4() != remote.is_ipv4()
        {
            return Err(HalError::InvalidParameter);
        }
        let mut rec = CmRecord::EMPTY;
        rec.set_private_data(private_data)
            .map_err(|_| HalError::InvalidParameter)?;
        let (conn, mac) = {
            let mut ctl = self.ctl.lock();
            let mac = ctl
                .neighbors
                .iter()
                .find(|(a, _)| *a == remote.ip())
                .map_or(UNRESOLVED_MAC, |(_, m)| *m);
            let conn = ctl.ids.conn.alloc().ok_or(HalError::NoResources)?;
            if let Err(e) = ctl.cm.set_ctx(conn, ctx) {
                ctl.ids.conn.free(conn);
                return Err(e);
            }
            (conn, mac)
        };
        rec.conn_id = conn;
        rec.context = ctx;
        rec.addresses = Some(CmAddresses { local, remote });
        rec.ird = u8::try_from(ird).unwrap_or(u8::MAX).min(self.attrs.max_ird);
        rec.ord = u8::try_from(ord).unwrap_or(u8::MAX).min(self.attrs.max_ord);
        rec.local_qpn = qp.qpn;
        rec.remote_mac = mac;
        let raw = rec.encode();
        match self.command(
            |mb| Command::CmConnect {
                conn_id: conn,
                record: mb,
            },
            Some(&raw),
            CmdFlags::empty(),
            None,
            Some(Action::ConnectFailed { conn, ctx }),
        ) {
            Ok(_) => Ok(ConnId(conn)),
            Err(e) => {
                let mut ctl = self.ctl.lock();
                ctl.cm.conns.retain(|(c, _)| *c != conn);
                ctl.ids.conn.free(conn);
                Err(e)
            }
        }
    }

    /// Remembers the context of a passive connection (events before CM_ACCEPT carry the
    /// listen context in the device's record; §8.4 says drivers look them up by CONN_ID).
    pub(crate) fn attach(&self, conn: ConnId, ctx: u64) {
        let _ = self.ctl.lock().cm.set_ctx(conn.0, ctx);
    }

    /// CM_ACCEPT; a failure is reported as `AcceptFailed`.
    pub(crate) fn accept(
        &self,
        conn: ConnId,
        qp: &Qp,
        ird: u32,
        ord: u32,
        private_data: &[u8],
    ) -> HalResult<()> {
        if private_data.len() > usize::from(self.attrs.max_callee_data) {
            return Err(HalError::InvalidParameter);
        }
        let mut rec = CmRecord::EMPTY;
        rec.set_private_data(private_data)
            .map_err(|_| HalError::InvalidParameter)?;
        rec.conn_id = conn.0;
        rec.context = self.ctl.lock().cm.ctx_of(conn.0).unwrap_or(0);
        rec.ird = u8::try_from(ird).unwrap_or(u8::MAX).min(self.attrs.max_ird);
        rec.ord = u8::try_from(ord).unwrap_or(u8::MAX).min(self.attrs.max_ord);
        rec.local_qpn = qp.qpn;
        let raw = rec.encode();
        let conn_id = conn.0;
        self.command(
            |mb| Command::CmAccept {
                conn_id,
                record: mb,
            },
            Some(&raw),
            CmdFlags::empty(),
            None,
            Some(Action::AcceptFailed { conn: conn_id }),
        )
        .map(|_| ())
    }

    /// CM_REJECT (SILENT: a failed reject has nobody to tell).
    pub(crate) fn reject(&self, conn: ConnId, private_data: &[u8]) -> HalResult<()> {
        if private_data.len() > usize::from(self.attrs.max_callee_data) {
            return Err(HalError::InvalidParameter);
        }
        let mut rec = CmRecord::EMPTY;
        rec.set_private_data(private_data)
            .map_err(|_| HalError::InvalidParameter)?;
        rec.conn_id = conn.0;
        let raw = rec.encode();
        let conn_id = conn.0;
        self.command(
            |mb| Command::CmReject {
                conn_id,
                record: mb,
            },
            Some(&raw),
            CmdFlags::SILENT,
            None,
            None,
        )
        .map(|_| ())
    }

    /// CM_COMPLETE; a failure is reported as `ConnectFailed`.
    pub(crate) fn complete(&self, conn: ConnId) -> HalResult<()> {
        let conn_id = conn.0;
        self.command(
            |_| Command::CmComplete { conn_id },
            None,
            CmdFlags::empty(),
            None,
            Some(Action::CompleteFailed { conn: conn_id }),
        )
        .map(|_| ())
    }

    /// CM_DISCONNECT; the agent reports DISCONNECT_DONE; a failure is reported as
    /// `DisconnectComplete` with the error.
    pub(crate) fn disconnect(&self, conn: ConnId) -> HalResult<()> {
        let conn_id = conn.0;
        self.command(
            |_| Command::CmDisconnect { conn_id },
            None,
            CmdFlags::empty(),
            None,
            Some(Action::DisconnectFailed { conn: conn_id }),
        )
        .map(|_| ())
    }

    /// CM_RELEASE: no event for the id follows — queued ones are withdrawn, and EQEs for it
    /// are dropped until the command executed (then the id may be reused).
    pub(crate) fn release(&self, conn: ConnId) {
        let conn_id = conn.0;
        {
            let mut ctl = self.ctl.lock();
            ctl.cm.conns.retain(|(c, _)| *c != conn_id);
            if ctl.cm.released.try_reserve(1).is_ok() {
                ctl.cm.released.push(conn_id);
            }
            self.events.lock().retain(
                |t| !matches!(t, Tag::Conn(c) | Tag::Request { conn: c, .. } if *c == conn_id),
            );
        }
        let _ = self.command_wait(
            |_| Command::CmRelease { conn_id },
            CmdFlags::empty(),
            None,
            Some(Action::Released { conn: conn_id }),
        );
    }
}
