//! Connection bookkeeping of a driver whose device runs connection setup itself (a CM agent or
//! an offloaded TCP + MPA engine): which context each connection id reports, which ids and
//! listens the provider has given up (their late events drop), and which addresses are
//! listened on. The handshake and its commands stay with the silicon.

use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::ops::DerefMut;

use crate::{HalError, HalResult};

/// CM bookkeeping, kept under the driver's control lock.
#[derive(Debug, Default)]
pub struct CmBook {
    /// Connection id → context reported in its events (`cm_connect`, `cm_attach`).
    pub conns: Vec<(u32, u64)>,
    /// Ids given to `cm_release` whose release command has not executed yet: their events
    /// drop.
    pub released: Vec<u32>,
    /// Ids given to an abort: their events drop until `cm_release` forgets the id.
    pub aborted: Vec<u32>,
    /// Listen ids given to `cm_stop_listen` whose command has not executed yet.
    pub stopped: Vec<u32>,
    /// Active listens: id and address (for the driver-side ADDRESS_IN_USE check).
    pub listens: Vec<(u32, SocketAddr)>,
}

impl CmBook {
    /// The context events of `conn` carry.
    pub fn ctx_of(&self, conn: u32) -> Option<u64> {
        self.conns.iter().find(|(c, _)| *c == conn).map(|(_, x)| *x)
    }

    /// No event of `conn` reaches the provider any more (released or aborted).
    pub fn is_released(&self, conn: u32) -> bool {
        self.released.contains(&conn) || self.aborted.contains(&conn)
    }

    /// The listen is being stopped: its connect requests are refused.
    pub fn is_stopped(&self, listen_id: u32) -> bool {
        self.stopped.contains(&listen_id)
    }

    /// Sets (or replaces) the context of `conn`.
    pub fn set_ctx(&mut self, conn: u32, ctx: u64) -> HalResult<()> {
        if let Some(e) = self.conns.iter_mut().find(|(c, _)| *c == conn) {
            e.1 = ctx;
            return Ok(());
        }
        self.conns
            .try_reserve(1)
            .map_err(|_| HalError::NoResources)?;
        self.conns.push((conn, ctx));
        Ok(())
    }

    /// An active listen of the same IP version covers `addr` when the port matches and its
    /// address is the same or the wildcard (either way round).
    pub fn listen_covers(&self, addr: &SocketAddr) -> bool {
        self.listens.iter().any(|(_, a)| covers(a, addr))
    }
}

fn covers(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// `hal::EthernetPort::set_local_addresses` on a device whose connection setup looks its
/// local addresses up in a table of `table_size` entries (RNIC-R2's GID table, RNIC-W1's local
/// address table): the distinct addresses of `addrs` go to entries 0, 1, … in order and
/// entries past the new list are cleared, each through `post(index, address)` (SILENT, in
/// admin order before any later CM command). `known` is the driver's copy, replaced first
/// (locked only while it is replaced, not while posting). More distinct addresses than
/// entries is `ImplementationLimit`, with nothing changed.
pub fn set_local_addresses<G: DerefMut<Target = Vec<IpAddr>>>(
    addrs: &[IpAddr],
    table_size: usize,
    known: impl FnOnce() -> G,
    mut post: impl FnMut(u32, Option<IpAddr>) -> HalResult<()>,
) -> HalResult<()> {
    let is_first = |i: usize, a: &IpAddr| !addrs.get(..i).is_some_and(|p| p.contains(a));
    let unique = addrs
        .iter()
        .enumerate()
        .filter(|(i, a)| is_first(*i, a))
        .count();
    if unique > table_size {
        return Err(HalError::ImplementationLimit);
    }
    let old_len = {
        let mut known = known();
        let more = unique.saturating_sub(known.len());
        known.try_reserve(more).map_err(|_| HalError::NoResources)?;
        let old = known.len();
        known.clear();
        for a in addrs {
            if !known.contains(a) {
                known.push(*a);
            }
        }
        old
    };
    let distinct = addrs
        .iter()
        .enumerate()
        .filter(|(i, a)| is_first(*i, a))
        .map(|(_, a)| a);
    for (i, a) in distinct.enumerate() {
        let index = u32::try_from(i).map_err(|_| HalError::ImplementationLimit)?;
        post(index, Some(*a))?;
    }
    for i in unique..old_len.min(table_size) {
        let index = u32::try_from(i).map_err(|_| HalError::ImplementationLimit)?;
        post(index, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    #[test]
    fn a_wildcard_listen_covers_every_address_of_its_port_and_version() {
        let mut b = CmBook::default();
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 445);
        b.listens.push((0, any));
        assert!(b.listen_covers(&SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            445
        )));
        assert!(!b.listen_covers(&SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            446
        )));
        assert!(!b.listen_covers(&"[::1]:445".parse().unwrap()));
    }
}
