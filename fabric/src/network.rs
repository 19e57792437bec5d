//! A virtual network of NIC device models driven by their real drivers: the engine behind
//! each NIC model's `Network` (RNIC-R2's and RNIC-W1's are this type with their
//! [`NicModel`]).
//!
//! One [`Fabric`] (virtual Ethernet, seeded impairments, optional pcap), one [`MockPlatform`]
//! with a virtual clock shared by every NIC, and one device model per NIC. The models step
//! where a driver waits (`stall_us`, the platform's stall hook) and in
//! [`Network::run_until_idle`]; interrupts are delivered inline to the driver
//! ([`NicModel::interrupt`]). Deferred work (DPCs) runs in [`Network::step_all`], never
//! inside a driver's wait.
//!
//! [`Network::add_bare_nic`] attaches a device without a driver: the code under test (the
//! NDIS glue) maps its BARs ([`BareNic::bars`]), brings the driver up on
//! [`Network::platform`] and wires the interrupt line ([`BareNic::set_interrupt_line`]) itself.

use core::net::IpAddr;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::vec::Vec;

use hal::mock::MockPlatform;
use hal::HalResult;

use crate::{BarMemory, Fabric, Impairments, Port};

/// IP → MAC table the network fills as NICs are added (the hosts' neighbour caches); a device
/// model may consult it when its driver names no next hop.
pub type Neighbours = Arc<Mutex<HashMap<IpAddr, [u8; 6]>>>;

/// A device model as the network runs it.
pub trait DeviceModel: Send + 'static {
    /// Statistics counters (the device's STAT registers).
    type Stats;
    /// One step at virtual time `now` with the frames received since the last one; returns
    /// the work done (0: nothing happened).
    fn step(&mut self, now: u64, rx: Vec<Vec<u8>>) -> usize;
    /// The frames to put on the wire.
    fn take_tx(&mut self) -> Vec<Vec<u8>>;
    /// Whether the interrupt line must be raised (once per call that returns true).
    fn take_irq(&mut self) -> bool;
    /// The earliest timer, if any.
    fn next_deadline(&self) -> Option<u64>;
    /// A handshake waits for the driver to answer an event: the clock must not jump over the
    /// connection manager's timers.
    fn waits_for_host(&self) -> bool;
    /// Link up or down (the device reports the change to its driver).
    fn set_link(&mut self, up: bool);
    /// The statistics counters.
    fn stats(&self) -> Self::Stats;
}

/// Implements [`DeviceModel`] for a device model type `$device` whose inherent methods carry
/// the trait's names and signatures (`step`, `take_tx`, `take_irq`, `next_deadline`,
/// `set_link`, `stats`, and `cm_waits_for_host` for [`DeviceModel::waits_for_host`]), with
/// statistics type `$stats`.
#[macro_export]
macro_rules! impl_device_model {
    ($device:ty, $stats:ty) => {
        impl $crate::network::DeviceModel for $device {
            type Stats = $stats;

            fn step(&mut self, now: u64, rx: ::std::vec::Vec<::std::vec::Vec<u8>>) -> usize {
                <$device>::step(self, now, rx)
            }

            fn take_tx(&mut self) -> ::std::vec::Vec<::std::vec::Vec<u8>> {
                <$device>::take_tx(self)
            }

            fn take_irq(&mut self) -> bool {
                <$device>::take_irq(self)
            }

            fn next_deadline(&self) -> ::core::option::Option<u64> {
                <$device>::next_deadline(self)
            }

            fn waits_for_host(&self) -> bool {
                <$device>::cm_waits_for_host(self)
            }

            fn set_link(&mut self, up: bool) {
                <$device>::set_link(self, up);
            }

            fn stats(&self) -> $stats {
                <$device>::stats(self)
            }
        }
    };
}

/// A NIC type: its device model and its driver.
pub trait NicModel: 'static {
    /// The device model.
    type Device: DeviceModel;
    /// The driver the network brings up.
    type Nic: Send + Sync + 'static;
    /// Name in panics and diagnostics.
    const NAME: &'static str;
    /// BAR0 bytes.
    const BAR0_SIZE: usize;
    /// BAR2 bytes.
    const BAR2_SIZE: usize;
    /// The device model at power-up (`index` seeds its random sources; `neighbours` is the
    /// network's address table).
    fn device(
        bar0: &'static BarMemory,
        bar2: &'static BarMemory,
        mac: [u8; 6],
        neighbours: Neighbours,
        index: u64,
    ) -> Self::Device;
    /// Brings the driver up on the BARs with the interface's `addresses`.
    fn bring_up(
        platform: MockPlatform,
        bar0: hal::MmioRegion,
        bar2: hal::MmioRegion,
        addresses: &[IpAddr],
    ) -> HalResult<Self::Nic>;
    /// The driver's interrupt entry point.
    fn interrupt(nic: &Self::Nic);
    /// Teaches the driver's neighbour table (the host stack's ARP cache).
    fn set_neighbor(nic: &Self::Nic, ip: IpAddr, mac: [u8; 6]);
}

/// Loop iterations [`Network::run_until_idle`] runs at most.
const MAX_ITERATIONS: usize = 500_000;
/// Default idle horizon: timers due within 1 s (transport retransmissions) are always run by
/// [`Network::run_until_idle`]; later ones (connection manager retries) only while no
/// connection waits for a driver to answer an event, so a handshake waiting for the host is
/// not timed out behind its back ([`Network::advance`] moves time regardless).
pub const DEFAULT_HORIZON_NS: u64 = 1_000_000_000;
/// Virtual time [`Network::run_until_idle`] advances at most per call (1 minute: a
/// connection handshake with every retry fits; an endless retry loop does not spin forever).
const MAX_ADVANCE_NS: u64 = 60_000_000_000;

type Line = Arc<dyn Fn() + Send + Sync>;

struct Node<M: NicModel> {
    ip: IpAddr,
    mac: [u8; 6],
    bar0: &'static BarMemory,
    bar2: &'static BarMemory,
    dev: Mutex<M::Device>,
    port: Port,
    line: Mutex<Option<Line>>,
    nic: Mutex<Weak<M::Nic>>,
    /// Frames handed to the device as if from the wire, bypassing the fabric's forwarding
    /// ([`Network::inject_frame`]).
    injected: Mutex<Vec<Vec<u8>>>,
}

/// A device model on the network without a driver ([`Network::add_bare_nic`]): the code under
/// test maps its BARs and brings the driver up itself. Clones name the same device.
pub struct BareNic<M: NicModel> {
    node: Arc<Node<M>>,
}

impl<M: NicModel> Clone for BareNic<M> {
    fn clone(&self) -> Self {
        BareNic {
            node: self.node.clone(),
        }
    }
}

impl<M: NicModel> BareNic<M> {
    /// The BARs as a host maps them: BAR0 (registers, [`NicModel::BAR0_SIZE`] bytes) then BAR2
    /// (doorbell pages). The memory lives for the rest of the process.
    pub fn bars(&self) -> Vec<(NonNull<u8>, usize)> {
        std::vec![
            (self.node.bar0.base(), self.node.bar0.len()),
            (self.node.bar2.base(), self.node.bar2.len()),
        ]
    }

    /// Station MAC the device reports at power-up.
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

impl<M: NicModel> core::fmt::Debug for BareNic<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BareNic")
            .field("ip", &self.node.ip)
            .field("mac", &crate::format_mac(&self.node.mac))
            .finish()
    }
}

struct Inner<M: NicModel> {
    fabric: Fabric,
    platform: MockPlatform,
    nodes: Mutex<Vec<Arc<Node<M>>>>,
    neighbours: Neighbours,
    /// Set while a step runs, so a stall inside it does not step again.
    stepping: AtomicBool,
    next_index: Mutex<u32>,
    /// `run_until_idle` jumps the clock only to timers due within this horizon.
    horizon_ns: AtomicU64,
}

/// A virtual network of `M` NICs: clone handles share it.
pub struct Network<M: NicModel> {
    inner: Arc<Inner<M>>,
}

impl<M: NicModel> Clone for Network<M> {
    fn clone(&self) -> Self {
        Network {
            inner: self.inner.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<M: NicModel> Network<M> {
    /// A network on a fabric with `impairments`, capturing every frame to `pcap` when given.
    /// The platform's clock is virtual (real time off).
    pub fn new(impairments: Impairments, pcap: Option<PathBuf>) -> Network<M> {
        let fabric = Fabric::new(impairments);
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
            // The driver busy-waits: time passes and the devices run (the Windows build notes, §3).
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
    pub fn fabric(&self) -> &Fabric {
        &self.inner.fabric
    }

    /// Adds a NIC with address `ip`: device model, MAC `02:1f:0d:00:hi:lo` from its index,
    /// neighbour entry, driver bring-up, interrupt line.
    ///
    /// # Panics
    /// When the driver's bring-up fails (a driver or model bug); see [`Network::try_add_nic`].
    pub fn add_nic(&self, ip: IpAddr) -> Arc<M::Nic> {
        match self.try_add_nic(ip) {
            Ok(n) => n,
            Err(e) => panic!("{} bring-up failed for {ip}: {e:?}", M::NAME),
        }
    }

    /// Adds a device model with address `ip` and no driver: MAC, fabric port and neighbour
    /// entry as [`Network::add_nic`], but no bring-up and no interrupt line until
    /// [`BareNic::set_interrupt_line`]. Bring the driver up over [`BareNic::bars`] with
    /// [`Network::platform`]; stepping and [`Network::run_until_idle`] run it like any NIC.
    /// Drivers of NICs already on the network learn its address; its own driver learns
    /// neighbours from its host stack (`EthernetPort::set_neighbor`), and its device falls
    /// back to the network's table when a connect names no next hop.
    pub fn add_bare_nic(&self, ip: IpAddr) -> BareNic<M> {
        let node = self.attach_node(ip);
        let others: Vec<Arc<Node<M>>> = lock(&self.inner.nodes).clone();
        for o in others.iter().filter(|o| !Arc::ptr_eq(o, &node)) {
            if let Some(peer) = lock(&o.nic).upgrade() {
                M::set_neighbor(&peer, ip, node.mac);
            }
        }
        self.step_all();
        BareNic { node }
    }

    /// A new device model on the fabric, in the neighbour table, stepped by the network.
    fn attach_node(&self, ip: IpAddr) -> Arc<Node<M>> {
        let idx = {
            let mut n = lock(&self.inner.next_index);
            *n += 1;
            *n
        };
        let mac = [0x02, 0x1F, 0x0D, 0x00, (idx >> 8) as u8, idx as u8];
        let bar0 = BarMemory::new(M::BAR0_SIZE);
        let bar2 = BarMemory::new(M::BAR2_SIZE);
        let dev = M::device(
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
    pub fn try_add_nic(&self, ip: IpAddr) -> HalResult<Arc<M::Nic>> {
        let node = self.attach_node(ip);
        let (bar0, bar2) = (node.bar0, node.bar2);
        let mac = node.mac;
        let nic = match M::bring_up(
            self.inner.platform.clone(),
            bar0.region(),
            bar2.region(),
            &[ip],
        ) {
            Ok(n) => Arc::new(n),
            Err(e) => {
                self.remove_node(&node);
                return Err(e);
            }
        };
        // The host stack's neighbour cache (drivers pass the resolved next hop when they
        // connect): every NIC learns every other one.
        let others: Vec<Arc<Node<M>>> = lock(&self.inner.nodes).clone();
        for o in others.iter().filter(|o| !Arc::ptr_eq(o, &node)) {
            M::set_neighbor(&nic, o.ip, o.mac);
            if let Some(peer) = lock(&o.nic).upgrade() {
                M::set_neighbor(&peer, ip, mac);
            }
        }
        let weak = Arc::downgrade(&nic);
        *lock(&node.nic) = weak.clone();
        let line: Line = Arc::new(move || {
            if let Some(n) = weak.upgrade() {
                M::interrupt(&n);
            }
        });
        *lock(&node.line) = Some(line);
        self.step_all();
        Ok(nic)
    }

    fn remove_node(&self, node: &Arc<Node<M>>) {
        self.inner.fabric.detach(&node.port);
        lock(&self.inner.nodes).retain(|n| !Arc::ptr_eq(n, node));
        lock(&self.inner.neighbours).remove(&node.ip);
    }

    fn node(&self, ip: IpAddr) -> Option<Arc<Node<M>>> {
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

    /// Surprise removal of the NIC with address `ip`: as [`Network::remove_nic`], and its BARs
    /// read all ones from now on (a PCI function that is gone answers reads with all ones and
    /// drops writes; the model samples no BAR of it any more). Its driver detects the removal
    /// from those reads (the NDIS glue calls the driver's interrupt entry on surprise removal).
    pub fn surprise_remove(&self, ip: IpAddr) -> bool {
        match self.node(ip) {
            Some(n) => {
                self.remove_node(&n);
                n.bar0.fill(u32::MAX);
                n.bar2.fill(u32::MAX);
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

    /// Statistics counters of the NIC with address `ip`.
    pub fn stats(&self, ip: IpAddr) -> Option<<M::Device as DeviceModel>::Stats> {
        self.node(ip).map(|n| lock(&n.dev).stats())
    }

    /// MAC address of the NIC with address `ip`.
    pub fn mac(&self, ip: IpAddr) -> Option<[u8; 6]> {
        self.node(ip).map(|n| n.mac)
    }

    /// Fabric counters.
    pub fn fabric_stats(&self) -> crate::Stats {
        self.inner.fabric.stats()
    }

    /// Flushes the pcap capture, if any.
    pub fn flush_capture(&self) {
        let _ = self.inner.fabric.flush_capture();
    }

    /// Runs `f` on the device model of `ip` (tests and diagnostics).
    pub fn with_device<R>(&self, ip: IpAddr, f: impl FnOnce(&mut M::Device) -> R) -> Option<R> {
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
        let nodes: Vec<Arc<Node<M>>> = lock(&self.inner.nodes).clone();
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
                let irq = wired && d.take_irq();
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

    /// Some device's connection manager waits for its driver (an unanswered CONNECT_REQUEST or
    /// CONNECT_REPLY): the clock must not jump over CM timers then.
    fn host_has_cm_work(&self) -> bool {
        let nodes: Vec<Arc<Node<M>>> = lock(&self.inner.nodes).clone();
        nodes.iter().any(|n| lock(&n.dev).waits_for_host())
    }

    fn next_due(&self) -> Option<u64> {
        let nodes: Vec<Arc<Node<M>>> = lock(&self.inner.nodes).clone();
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

impl<M: NicModel> core::fmt::Debug for Network<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ips: Vec<IpAddr> = lock(&self.inner.nodes).iter().map(|n| n.ip).collect();
        f.debug_struct("Network")
            .field("model", &M::NAME)
            .field("nics", &ips)
            .finish()
    }
}
