//! The device's connection-management table, shared by every NDK adapter opened on it and
//! kept in [`Device::ports`](crate::device::Device::ports):
//!
//! * the **port space** (ndkpi.md §7.2): one reference-counted entry per bound
//!   (IP address, port). A listener holds one reference and each connector delivered by its
//!   ConnectEvent another; a shared endpoint holds one and each connector connected through
//!   it another; a connector's implicit `NdkConnect` endpoint holds exactly one. The
//!   address:port is free again when the count reaches zero.
//! * the **live CM contexts**: the addresses of listeners and connectors whose memory is still
//!   allocated. The HAL reports connection events by context, and an event the device
//!   dequeued just before a consumer's close could otherwise name freed memory; looking the
//!   context up here and upgrading it under this lock, while teardown removes it under the
//!   same lock before the memory goes, makes the upgrade sound.
//! * the **bound QPs**: a QP serves at most one connector (ndkpi.md §7.1 QP→Connector).
//!
//! Every operation is a short critical section under the device's spin lock (DISPATCH_LEVEL
//! safe); the only allocation is the fallible growth of a `Vec` (`try_reserve`).

use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use hal::NicHal;
use lock_api::{Mutex, RawMutex};

use crate::abi::*;
use crate::device::Device;

/// First port of the ephemeral range (ndkpi.md §7.2: port 0 → 49152–65535).
const EPHEMERAL_FIRST: u16 = 49152;
/// Number of ports in the ephemeral range (49152..=65535).
const EPHEMERAL_COUNT: u32 = 16384;

/// One bound address:port.
#[derive(Clone, Copy, Debug)]
struct PortEntry {
    ip: IpAddr,
    port: u16,
    refs: u32,
}

/// What a live CM context is, so an event can only ever upgrade the type it was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmKind {
    /// A listener (`listen_ctx` of `CmEvent::ConnectRequest`).
    Listener,
    /// A connector (`ctx` of every other `CmEvent`).
    Connector,
}

/// The connection-management table of one device (see the module docs).
#[derive(Debug)]
pub struct PortTable {
    /// Sorted by port, so a port's entries are one contiguous run.
    ports: Vec<PortEntry>,
    /// Offset in the ephemeral range where the next search starts (round robin, so a port
    /// just released is not reused at once).
    next_ephemeral: u32,
    /// Sorted by context.
    live: Vec<(u64, CmKind)>,
    /// Sorted QP addresses bound to a connector.
    qps: Vec<u64>,
}

impl Default for PortTable {
    fn default() -> Self {
        Self::new()
    }
}

/// Two bindings of one port clash when they name the same address, or when either is the
/// unspecified address of the same family (a wildcard listener owns the port on every
/// address of that family).
fn clash(a: &IpAddr, b: &IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

impl PortTable {
    /// An empty table; allocates nothing.
    pub const fn new() -> PortTable {
        PortTable {
            ports: Vec::new(),
            next_ephemeral: 0,
            live: Vec::new(),
            qps: Vec::new(),
        }
    }

    /// The run of entries bound to `port`.
    fn run(&self, port: u16) -> (usize, usize) {
        let lo = self.ports.partition_point(|e| e.port < port);
        let hi = self.ports.partition_point(|e| e.port <= port);
        (lo, hi)
    }

    fn in_use(&self, ip: &IpAddr, port: u16) -> bool {
        let (lo, hi) = self.run(port);
        self.ports
            .get(lo..hi)
            .is_some_and(|r| r.iter().any(|e| clash(&e.ip, ip)))
    }

    fn position(&self, ip: &IpAddr, port: u16) -> Option<usize> {
        let (lo, hi) = self.run(port);
        let off = self.ports.get(lo..hi)?.iter().position(|e| e.ip == *ip)?;
        lo.checked_add(off)
    }

    /// Binds `ip:port` with one reference; port 0 picks a free ephemeral port. Returns the
    /// bound port.
    fn bind(&mut self, ip: IpAddr, port: u16) -> Result<u16, NTSTATUS> {
        self.ports
            .try_reserve(1)
            .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        let port = if port != 0 {
            if self.in_use(&ip, port) {
                return Err(STATUS_SHARING_VIOLATION);
            }
            port
        } else {
            let mut found = None;
            for i in 0..EPHEMERAL_COUNT {
                let off = self.next_ephemeral.wrapping_add(i) % EPHEMERAL_COUNT;
                let Ok(off16) = u16::try_from(off) else {
                    continue;
                };
                let cand = EPHEMERAL_FIRST.saturating_add(off16);
                if !self.in_use(&ip, cand) {
                    self.next_ephemeral = off.wrapping_add(1) % EPHEMERAL_COUNT;
                    found = Some(cand);
                    break;
                }
            }
            found.ok_or(STATUS_TOO_MANY_ADDRESSES)?
        };
        let at = self.ports.partition_point(|e| e.port <= port);
        self.ports.insert(at, PortEntry { ip, port, refs: 1 });
        Ok(port)
    }

    fn add_ref(&mut self, ip: &IpAddr, port: u16) -> Result<(), NTSTATUS> {
        let i = self.position(ip, port).ok_or(STATUS_INVALID_DEVICE_STATE)?;
        let e = self.ports.get_mut(i).ok_or(STATUS_INVALID_DEVICE_STATE)?;
        e.refs = e.refs.checked_add(1).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        Ok(())
    }

    fn unref(&mut self, ip: &IpAddr, port: u16) {
        let Some(i) = self.position(ip, port) else {
            return;
        };
        let last = match self.ports.get_mut(i) {
            Some(e) => {
                e.refs = e.refs.saturating_sub(1);
                e.refs == 0
            }
            None => false,
        };
        if last {
            self.ports.remove(i);
        }
    }

    /// Records a listener or connector whose memory is allocated (its CM context).
    pub fn register(&mut self, ctx: u64, kind: CmKind) -> Result<(), NTSTATUS> {
        self.live
            .try_reserve(1)
            .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        match self.live.binary_search_by_key(&ctx, |e| e.0) {
            Ok(i) => {
                if let Some(e) = self.live.get_mut(i) {
                    e.1 = kind;
                }
            }
            Err(i) => self.live.insert(i, (ctx, kind)),
        }
        Ok(())
    }

    /// Forgets a context; called by the object's teardown, before its memory is freed.
    pub fn unregister(&mut self, ctx: u64) {
        if let Ok(i) = self.live.binary_search_by_key(&ctx, |e| e.0) {
            self.live.remove(i);
        }
    }

    /// True while `ctx` is a registered context of `kind` (its memory is not freed yet).
    pub fn is_live(&self, ctx: u64, kind: CmKind) -> bool {
        match self.live.binary_search_by_key(&ctx, |e| e.0) {
            Ok(i) => self.live.get(i).is_some_and(|e| e.1 == kind),
            Err(_) => false,
        }
    }

    /// Marks the QP at `qp` as bound to a connector; `STATUS_CONNECTION_ACTIVE` when another
    /// connector has it.
    ///
    /// UNCONFIRMED: NDKPI names no status for a QP passed to a second connector; ND's
    /// `ND_CONNECTION_ACTIVE` ("already connected") is the closest.
    pub fn bind_qp(&mut self, qp: u64) -> Result<(), NTSTATUS> {
        match self.qps.binary_search(&qp) {
            Ok(_) => Err(STATUS_CONNECTION_ACTIVE),
            Err(i) => {
                self.qps
                    .try_reserve(1)
                    .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
                self.qps.insert(i, qp);
                Ok(())
            }
        }
    }

    /// Releases a QP bound with [`PortTable::bind_qp`].
    pub fn unbind_qp(&mut self, qp: u64) {
        if let Ok(i) = self.qps.binary_search(&qp) {
            self.qps.remove(i);
        }
    }

    /// Number of bound address:port entries (diagnostics and tests).
    pub fn bound_ports(&self) -> usize {
        self.ports.len()
    }
}

/// One reference on a bound address:port. Not `Clone` and without `Drop`: the owner gives it
/// back with [`PortRef::release`] from its teardown (no lock is taken in drop glue). The
/// methods take the device's `Lock<H, PortTable>` (`dev.ports`), spelled as the `lock_api`
/// mutex it is so the HAL type need not be named.
#[derive(Debug)]
#[must_use = "a PortRef must be given back with PortRef::release"]
pub struct PortRef {
    addr: SocketAddr,
}

impl PortRef {
    /// The bound address, with the port actually allocated.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One more reference on the same address:port (a connector through a listener or a
    /// shared endpoint, ndkpi.md §7.2).
    pub fn share<R: RawMutex>(&self, ports: &Mutex<R, PortTable>) -> Result<PortRef, NTSTATUS> {
        ports.lock().add_ref(&self.addr.ip(), self.addr.port())?;
        Ok(PortRef { addr: self.addr })
    }

    /// Gives the reference back; the address:port is free when the last one goes.
    pub fn release<R: RawMutex>(self, ports: &Mutex<R, PortTable>) {
        ports.lock().unref(&self.addr.ip(), self.addr.port());
    }
}

/// Binds a local address for a listener, shared endpoint or connector (ndkpi.md §4.1, §4.8,
/// §4.9, §7.2): `STATUS_INVALID_ADDRESS` when the IP is not one of the device's,
/// `STATUS_SHARING_VIOLATION` when the address:port is taken, `STATUS_TOO_MANY_ADDRESSES`
/// when port 0 finds no free ephemeral port, `STATUS_INSUFFICIENT_RESOURCES` when the table
/// cannot grow.
///
/// `allow_unspecified`: the unspecified address (0.0.0.0 / ::) is accepted as a wildcard —
/// only for Listen (UNCONFIRMED: NDKPI neither allows nor forbids it; it then owns the port
/// on every address of its family). Shared endpoints and connectors need a real source
/// address.
pub fn bind<H: NicHal>(
    dev: &Device<H>,
    addr: SocketAddr,
    allow_unspecified: bool,
) -> Result<PortRef, NTSTATUS> {
    let ip = addr.ip();
    let ok = if ip.is_unspecified() {
        allow_unspecified
    } else {
        dev.hal().is_local_address(&ip)
    };
    if !ok {
        return Err(STATUS_INVALID_ADDRESS);
    }
    let port = dev.ports.lock().bind(ip, addr.port())?;
    let mut bound = addr;
    bound.set_port(port);
    Ok(PortRef { addr: bound })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    const ANY4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    const A6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    #[test]
    fn explicit_ports_clash_per_address_and_with_wildcards() {
        let mut t = PortTable::new();
        assert_eq!(t.bind(A, 445), Ok(445));
        assert_eq!(t.bind(A, 445), Err(STATUS_SHARING_VIOLATION));
        assert_eq!(t.bind(B, 445), Ok(445));
        assert_eq!(t.bind(ANY4, 445), Err(STATUS_SHARING_VIOLATION));
        assert_eq!(t.bind(A6, 445), Ok(445));
        assert_eq!(t.bind(ANY4, 446), Ok(446));
        assert_eq!(t.bind(B, 446), Err(STATUS_SHARING_VIOLATION));
    }

    #[test]
    fn references_keep_the_port_until_the_last_goes() {
        let mut t = PortTable::new();
        assert_eq!(t.bind(A, 5000), Ok(5000));
        assert_eq!(t.add_ref(&A, 5000), Ok(()));
        t.unref(&A, 5000);
        assert_eq!(t.bind(A, 5000), Err(STATUS_SHARING_VIOLATION));
        t.unref(&A, 5000);
        assert_eq!(t.bound_ports(), 0);
        assert_eq!(t.bind(A, 5000), Ok(5000));
        assert_eq!(t.add_ref(&B, 5000), Err(STATUS_INVALID_DEVICE_STATE));
    }

    #[test]
    // Walks all 16384 ephemeral ports: pure bookkeeping, no unsafe code, too slow for Miri.
    #[cfg_attr(miri, ignore)]
    fn ephemeral_ports_round_robin_and_run_out() {
        let mut t = PortTable::new();
        let p1 = t.bind(A, 0).expect("port");
        let p2 = t.bind(A, 0).expect("port");
        assert!(p1 >= EPHEMERAL_FIRST && p2 >= EPHEMERAL_FIRST && p1 != p2);
        // The other address has the whole range.
        assert_eq!(t.bind(B, 0), Ok(p2.wrapping_add(1)));
        for _ in 2..EPHEMERAL_COUNT {
            assert!(t.bind(A, 0).is_ok());
        }
        assert_eq!(t.bind(A, 0), Err(STATUS_TOO_MANY_ADDRESSES));
        t.unref(&A, p1);
        assert_eq!(t.bind(A, 0), Ok(p1));
    }

    #[test]
    fn contexts_and_qps() {
        let mut t = PortTable::new();
        assert_eq!(t.register(0x1000, CmKind::Listener), Ok(()));
        assert!(t.is_live(0x1000, CmKind::Listener));
        assert!(!t.is_live(0x1000, CmKind::Connector));
        t.unregister(0x1000);
        assert!(!t.is_live(0x1000, CmKind::Listener));
        assert_eq!(t.bind_qp(0x2000), Ok(()));
        assert_eq!(t.bind_qp(0x2000), Err(STATUS_CONNECTION_ACTIVE));
        t.unbind_qp(0x2000);
        assert_eq!(t.bind_qp(0x2000), Ok(()));
    }
}
