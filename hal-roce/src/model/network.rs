//! A virtual network of RNIC-R2 device models driven by the real driver ([`RoceNic`]): the
//! public entry point for tests and ndkperf.
//!
//! One [`fabric::Fabric`] (virtual Ethernet, seeded impairments, optional pcap), one
//! [`MockPlatform`] with a virtual clock shared by every NIC, and one device model per NIC.
//! The model steps where the driver waits (`stall_us`, the platform's stall hook) and in
//! [`Network::run_until_idle`]; interrupts are delivered inline to [`RoceNic::interrupt`].
//! Deferred work (DPCs) runs in [`Network::step_all`], never inside a driver's wait.
//!
//! [`Network::add_bare_nic`] attaches a device without a driver: the code under test (the
//! NDIS glue) maps its BARs ([`BareNic::bars`]), brings [`RoceNic`] up on [`Network::platform`]
//! and wires the interrupt line ([`BareNic::set_interrupt_line`]) itself.

use core::net::IpAddr;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::vec::Vec;

use hal::mock::MockPlatform;
use hal::{EthernetPort, HalResult};

use crate::driver::{BringUpConfig, RoceNic};
use crate::regs;

use super::bar::BarMemory;
use super::device::{Device, Neighbours, Stats};

/// The driver type the network builds.
pub type Nic = RoceNic<MockPlatform>;

/// Loop iterations [`Network::run_until_idle`] runs at most.
const MAX_ITERATIONS: usize = 500_000;
/// Default idle horizon: timers due within 1 s (ACK timeouts, RNR waits) are always run by
/// [`Network::run_until_idle`]; later ones (CM retransmissions, ≈ 4.3 s, §8.6) only while no
/// CM handshake waits for a driver to answer an event, so a handshake waiting for the host is
/// not timed out behind its back ([`Network::advance`] moves time regardless).
pub const DEFAULT_HORIZON_NS: u64 = 1_000_000_000;
/// Virtual time [`Network::run_until_idle`] advances at most per call (1 minute: a CM
/// exchange with every retry of §8.6, ≈ 17 s, fits; an endless RNR retry loop does not spin
/// forever).
const MAX_ADVANCE_NS: u64 = 60_000_000_000;

type Line = Arc<dyn Fn() + Send + Sync>;

struct Node {
    ip: IpAddr,
    mac: [u8; 6],
    bar0: &'static BarMemory,
    bar2: &'static BarMemory,
    dev: Mutex<Device>,
    port: fabric::Port,
    line: Mutex<Option<Line>>,
    nic: Mutex<Weak<Nic>>,
    /// Frames handed to the device as if from the wire, bypassing the fabric's forwarding
    /// ([`Network::inject_frame`]).
    injected: Mutex<Vec<Vec<u8>>>,
}

/// A device model on the network without a driver ([`Network::add_bare_nic`]): the code under
/// test maps its BARs and brings [`RoceNic`] up itself. Clones name the same device.
#[derive(Clone)]
pub struct BareNic {
    node: Arc<Node>,
}

impl BareNic {
    /// The BARs as a host maps them: BAR0 (registers, `regs::BAR0_SIZE` bytes) then BAR2
    /// (doorbell pages). The memory lives for the rest of the process.
    pub fn bars(&self) -> Vec<(NonNull<u8>, usize)> {
        std::vec![
            (self.node.bar0.base(), self.node.bar0.len()),
            (self.node.bar2.base(), self.node.bar2.len()),
        ]
    }

    /// Station MAC the device reports at power-up (§3.4 FACTORY_MAC).
    pub fn mac(&self) -> [u8; 6] {
        self.node.mac
    }

    /// The address the network knows the NIC by (its neighbour entry).
    pub fn ip(&self) -> IpAddr {
        self.node.ip
    }

    /// Wires the device's interrupt: the network calls `line` (outside every model lock) when
    /// the device raises its interrupt; an interrupt raised before is delivered on the next
    /// step. Replaces any earlier line.
    pub fn set_interrupt_line(&self, line: Arc<dyn Fn() + Send + Sync>) {
        let old = lock(&self.node.line).replace(line);
        drop(old);
    }
}

impl core::fmt::Debug for BareNic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BareNic")
            .field("ip", &self.node.ip)
            .field("mac", &fabric::format_mac(&self.node.mac))
            .finish()
    }
}

struct Inner {
    fabric: fabric::Fabric,
    platform: MockPlatform,
    nodes: Mutex<Vec<Arc<Node>>>,
    neighbours: Neighbours,
    /// Set while a step runs, so a stall inside it does not step again.
    stepping: AtomicBool,
    next_index: Mutex<u32>,
    /// `run_until_idle` jumps the clock only to timers due within this horizon.
    horizon_ns: AtomicU64,
}

/// A virtual RoCEv2 network: clone handles share it.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Network {
    /// A network on a fabric with `impairments`, capturing every frame to `pcap` when given.
    /// The platform's clock is virtual (real time off).
    pub fn new(impairments: fabric::Impairments, pcap: Option<PathBuf>) -> Network {
        let fabric = fabric::Fabric::new(impairments);
        if let Some(p) = pcap {
            // A capture that cannot be opened is not fatal to the simulation.
            let _ = fabric.capture_to(p);
        }
        let platform = MockPlatform::new();
        platform.set_real_time(false);
        let inner = Arc::new(Inner {
            fabric,
            platform: platform.clone(),
            nodes: Mutex::new(Vec::new()),
            neighbours: Arc::new(Mutex::new(HashMap::new())),
            stepping: AtomicBool::new(false),
            next_index: Mutex::new(0),
            horizon_ns: AtomicU64::new(DEFAULT_HORIZON_NS),
        });
        let weak = Arc::downgrade(&inner);
        let clock = platform.clone();
        platform.set_stall_hook(Some(Arc::new(move |us: u32| {
            // The driver busy-waits: time passes and the devices run (windows-build.md §3).
            clock.advance_ns(u64::from(us.max(1)) * 1000);
            // Deferred work (DPCs) does not run inside a busy wait: the waiting thread may hold
            // a lock a DPC takes (as on a CPU at DISPATCH_LEVEL); it runs in the next
            // `step_all` outside the wait.
            if let Some(inner) = weak.upgrade() {
                Network { inner }.step_devices();
            }
        })));
        Network { inner }
    }

    /// The shared platform (virtual clock, DPCs).
    pub fn platform(&self) -> &MockPlatform {
        &self.inner.platform
    }

    /// The virtual Ethernet.
    pub fn fabric(&self) -> &fabric::Fabric {
        &self.inner.fabric
    }

    /// Adds a NIC with address `ip`: device model, MAC `02:1f:0d:00:hi:lo` from its index,
    /// neighbour entry, driver bring-up, interrupt line.
    ///
    /// # Panics
    /// When the driver's bring-up fails (a driver or model bug); see [`Network::try_add_nic`].
    pub fn add_nic(&self, ip: IpAddr) -> Arc<Nic> {
        match self.try_add_nic(ip) {
            Ok(n) => n,
            Err(e) => panic!("RNIC-R2 bring-up failed for {ip}: {e:?}"),
        }
    }

    /// Adds a device model with address `ip` and no driver: MAC, fabric port and neighbour
    /// entry as [`Network::add_nic`], but no bring-up and no interrupt line until
    /// [`BareNic::set_interrupt_line`]. Bring [`RoceNic`] up over [`BareNic::bars`] with
    /// [`Network::platform`]; stepping and [`Network::run_until_idle`] run it like any NIC.
    /// Drivers of NICs already on the network learn its address; its own driver learns
    /// neighbours from its host stack (`EthernetPort::set_neighbor`), and its device falls
    /// back to the network's table when a connect names no next hop.
    pub fn add_bare_nic(&self, ip: IpAddr) -> BareNic {
        let node = self.attach_node(ip);
        let others: Vec<Arc<Node>> = lock(&self.inner.nodes).clone();
        for o in others.iter().filter(|o| !Arc::ptr_eq(o, &node)) {
            if let Some(peer) = lock(&o.nic).upgrade() {
                let _ = peer.set_neighbor(ip, node.mac);
            }
        }
        self.step_all();
        BareNic { node }
    }

    /// A new device model on the fabric, in the neighbour table, stepped by the network.
    fn attach_node(&self, ip: IpAddr) -> Arc<Node> {
        let idx = {
            let mut n = lock(&self.inner.next_index);
            *n += 1;
            *n
        };
        let mac = [0x02, 0x1F, 0x0D, 0x00, (idx >> 8) as u8, idx as u8];
        let bar0 = BarMemory::new(regs::BAR0_SIZE);
        let bar2 = BarMemory::new(256 * regs::DB_PAGE_SIZE);
        let dev = Device::new(
            bar0,
            bar2,
            mac,
            self.inner.neighbours.clone(),
            u64::from(idx),
        );
        let port = self.inner.fabric.attach(mac);
        lock(&self.inner.neighbours).insert(ip, mac);
        let node = Arc::new(Node {
            ip,
            mac,
            bar0,
            bar2,
            dev: Mutex::new(dev),
            port,
            line: Mutex::new(None),
            nic: Mutex::new(Weak::new()),
            injected: Mutex::new(Vec::new()),
        });
        lock(&self.inner.nodes).push(node.clone());
        node
    }

    /// [`Network::add_nic`], returning the driver's bring-up error.
    pub fn try_add_nic(&self, ip: IpAddr) -> HalResult<Arc<Nic>> {
        let node = self.attach_node(ip);
        let (bar0, bar2) = (node.bar0, node.bar2);
        let mac = node.mac;
        let cfg = BringUpConfig {
            mtu: 1500,
            addresses: &[ip],
        };
        let nic = match RoceNic::with_config(
            self.inner.platform.clone(),
            bar0.region(),
            bar2.region(),
            &cfg,
        ) {
            Ok(n) => Arc::new(n),
            Err(e) => {
                self.remove_node(&node);
                return Err(e);
            }
        };
        // The host stack's neighbour cache (§8.1: the driver passes the resolved next hop in
        // CM_CONNECT): every NIC learns every other one.
        let others: Vec<Arc<Node>> = lock(&self.inner.nodes).clone();
        for o in others.iter().filter(|o| !Arc::ptr_eq(o, &node)) {
            let _ = nic.set_neighbor(o.ip, o.mac);
            if let Some(peer) = lock(&o.nic).upgrade() {
                let _ = peer.set_neighbor(ip, mac);
            }
        }
        let weak = Arc::downgrade(&nic);
        *lock(&node.nic) = weak.clone();
        let line: Line = Arc::new(move || {
            if let Some(n) = weak.upgrade() {
                n.interrupt();
            }
        });
        *lock(&node.line) = Some(line);
        self.step_all();
        Ok(nic)
    }

    fn remove_node(&self, node: &Arc<Node>) {
        self.inner.fabric.detach(&node.port);
        lock(&self.inner.nodes).retain(|n| !Arc::ptr_eq(n, node));
        lock(&self.inner.neighbours).remove(&node.ip);
    }

    fn node(&self, ip: IpAddr) -> Option<Arc<Node>> {
        lock(&self.inner.nodes).iter().find(|n| n.ip == ip).cloned()
    }

    /// Removes the NIC with address `ip` from the network (the peer vanishes): its port is
    /// detached and its device no longer runs. Its driver stays usable but gets no answers.
    pub fn remove_nic(&self, ip: IpAddr) -> bool {
        match self.node(ip) {
            Some(n) => {
                self.remove_node(&n);
                true
            }
            None => false,
        }
    }

    /// Link up or down for the NIC with address `ip` (PORT_CHANGE event, frames dropped).
    pub fn set_link(&self, ip: IpAddr, up: bool) -> bool {
        let Some(n) = self.node(ip) else { return false };
        n.port.set_link(up);
        lock(&n.dev).set_link(up);
        self.step_all();
        true
    }

    /// Hands `frame` to the device of `ip` on its next step as if it came from the wire,
    /// whatever its destination MAC (a hub port, or a switch flooding an unknown unicast):
    /// what receive filters are tested with. False when no NIC has the address.
    pub fn inject_frame(&self, ip: IpAddr, frame: &[u8]) -> bool {
        let Some(n) = self.node(ip) else { return false };
        lock(&n.injected).push(frame.to_vec());
        true
    }

    /// Statistics counters of the NIC with address `ip` (§3.11).
    pub fn stats(&self, ip: IpAddr) -> Option<Stats> {
        self.node(ip).map(|n| lock(&n.dev).stats())
    }

    /// MAC address of the NIC with address `ip`.
    pub fn mac(&self, ip: IpAddr) -> Option<[u8; 6]> {
        self.node(ip).map(|n| n.mac)
    }

    /// Fabric counters.
    pub fn fabric_stats(&self) -> fabric::Stats {
        self.inner.fabric.stats()
    }

    /// Flushes the pcap capture, if any.
    pub fn flush_capture(&self) {
        let _ = self.inner.fabric.flush_capture();
    }

    /// Runs `f` on the device model of `ip` (tests and diagnostics).
    pub fn with_device<R>(&self, ip: IpAddr, f: impl FnOnce(&mut Device) -> R) -> Option<R> {
        self.node(ip).map(|n| f(&mut lock(&n.dev)))
    }

    /// One pass: every device steps (registers, admin, doorbells, received frames, timers),
    /// its frames go on the wire, its interrupt is raised, and deferred work (DPCs) runs.
    /// Returns the work done; 0 when called from inside a step.
    pub fn step_all(&self) -> usize {
        self.step_devices() + self.inner.platform.run_deferred()
    }

    /// [`Network::step_all`] without running deferred work.
    fn step_devices(&self) -> usize {
        if self.inner.stepping.swap(true, Ordering::AcqRel) {
            return 0;
        }
        let now = hal::Platform::now_ns(&self.inner.platform);
        let nodes: Vec<Arc<Node>> = lock(&self.inner.nodes).clone();
        let mut work = 0;
        let mut lines: Vec<Line> = Vec::new();
        for n in &nodes {
            let mut rx = core::mem::take(&mut *lock(&n.injected));
            while let Some(f) = n.port.recv(now) {
                rx.push(f.into_data());
            }
            let (tx, irq) = {
                let mut d = lock(&n.dev);
                work += d.step(now, rx);
                let wired = lock(&n.line).is_some();
                let irq = wired && core::mem::take(&mut d.irq_pending);
                (d.take_tx(), irq)
            };
            for f in &tx {
                n.port.send(f, now);
            }
            if irq {
                if let Some(l) = lock(&n.line).clone() {
                    lines.push(l);
                }
            }
        }
        self.inner.stepping.store(false, Ordering::Release);
        // Interrupts run the driver's ISR inline, outside every model lock.
        for l in lines {
            l();
            work += 1;
        }
        work
    }

    /// Some device's CM agent waits for its driver (an unanswered CONNECT_REQUEST or
    /// CONNECT_REPLY): the clock must not jump over CM timers then.
    fn host_has_cm_work(&self) -> bool {
        let nodes: Vec<Arc<Node>> = lock(&self.inner.nodes).clone();
        nodes.iter().any(|n| lock(&n.dev).cm_waits_for_host())
    }

    fn next_due(&self) -> Option<u64> {
        let nodes: Vec<Arc<Node>> = lock(&self.inner.nodes).clone();
        let mut due = self.inner.fabric.next_due();
        for n in &nodes {
            if let Some(t) = lock(&n.dev).next_deadline() {
                due = Some(due.map_or(t, |d| d.min(t)));
            }
        }
        due
    }

    /// Sets how far ahead [`Network::run_until_idle`] may jump the clock to a pending timer
    /// ([`DEFAULT_HORIZON_NS`]; `u64::MAX` runs every timer, CM timeouts included).
    pub fn set_idle_horizon(&self, ns: u64) {
        self.inner.horizon_ns.store(ns, Ordering::Relaxed);
    }

    /// Steps every device and delivers frames until nothing is runnable; when only timers
    /// (or delayed frames) are pending, advances the virtual clock to the next one (beyond the
    /// idle horizon only while no CM handshake waits for a driver). Bounded (iterations and 1 minute of virtual time), so it always
    /// returns. Returns work done.
    pub fn run_until_idle(&self) -> usize {
        let start = hal::Platform::now_ns(&self.inner.platform);
        let mut total = 0;
        let mut idle_passes = 0;
        for _ in 0..MAX_ITERATIONS {
            let w = self.step_all();
            total += w;
            if w > 0 {
                idle_passes = 0;
                continue;
            }
            let now = hal::Platform::now_ns(&self.inner.platform);
            match self.next_due() {
                Some(t) if t > now => {
                    let horizon = self.inner.horizon_ns.load(Ordering::Relaxed);
                    let far = t - now > horizon && self.host_has_cm_work();
                    if far || t - start > MAX_ADVANCE_NS {
                        break;
                    }
                    self.inner.platform.advance_ns(t - now);
                }
                Some(_) => {
                    idle_passes += 1;
                    if idle_passes > 3 {
                        // Due but nothing happens: nudge time forward once.
                        self.inner.platform.advance_ns(1_000);
                        idle_passes = 0;
                        if now - start > MAX_ADVANCE_NS {
                            break;
                        }
                    }
                }
                None => break,
            }
        }
        total
    }

    /// Advances virtual time by `ns`, running the network at every step of it that has work
    /// (timers fire in order).
    pub fn advance(&self, ns: u64) {
        let end = hal::Platform::now_ns(&self.inner.platform).saturating_add(ns);
        loop {
            while self.step_all() > 0 {}
            let now = hal::Platform::now_ns(&self.inner.platform);
            if now >= end {
                return;
            }
            let next = self.next_due().filter(|&t| t > now).unwrap_or(end).min(end);
            self.inner.platform.advance_ns(next - now);
        }
    }
}

impl core::fmt::Debug for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ips: Vec<IpAddr> = lock(&self.inner.nodes).iter().map(|n| n.ip).collect();
        f.debug_struct("Network").field("nics", &ips).finish()
    }
}
