//! The shared device-model network (`fabric::network`) with a toy NIC: a "device" that
//! transmits what its driver writes into BAR0 and raises its interrupt for every frame it
//! receives, and a "driver" that counts interrupts. What the NIC models rely on: frames cross
//! the fabric between steps, interrupts reach the driver, idle time jumps to the next timer,
//! removed NICs stop, surprise-removed BARs read all ones.

use std::cell::UnsafeCell;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use fabric::network::{DeviceModel, Neighbours, NicModel};
use fabric::{BarMemory, Impairments};
use hal::mock::MockPlatform;
use hal::{HalResult, MmioRegion};

/// BAR0 word 0: the driver writes a destination index there (1-based) to send one frame.
const TX_REG: usize = 0;

struct ToyDevice {
    bar0: &'static BarMemory,
    mac: [u8; 6],
    neighbours: Neighbours,
    tx: Vec<Vec<u8>>,
    irq: bool,
    received: u64,
    /// A timer the test arms through BAR0 word 1 (absolute virtual ns, low 32 bits).
    timer: Option<u64>,
    fired: u64,
}

impl DeviceModel for ToyDevice {
    type Stats = (u64, u64);

    fn step(&mut self, now: u64, rx: Vec<Vec<u8>>) -> usize {
        let mut work = 0;
        let dst = self.bar0.read32(TX_REG);
        if dst != 0 {
            self.bar0.write32(TX_REG, 0);
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, dst as u8));
            if let Some(mac) = self.neighbours.lock().unwrap().get(&ip).copied() {
                let mut f = mac.to_vec();
                f.extend_from_slice(&self.mac);
                f.extend_from_slice(&[0x88, 0xB5, 1, 2, 3]);
                self.tx.push(f);
            }
            work += 1;
        }
        let t = self.bar0.read32(4);
        if t != 0 {
            self.bar0.write32(4, 0);
            self.timer = Some(u64::from(t));
            work += 1;
        }
        if self.timer.is_some_and(|d| d <= now) {
            self.timer = None;
            self.fired += 1;
            work += 1;
        }
        for _ in rx {
            self.received += 1;
            self.irq = true;
            work += 1;
        }
        work
    }

    fn take_tx(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.tx)
    }

    fn take_irq(&mut self) -> bool {
        std::mem::take(&mut self.irq)
    }

    fn next_deadline(&self) -> Option<u64> {
        self.timer
    }

    fn waits_for_host(&self) -> bool {
        false
    }

    fn set_link(&mut self, _up: bool) {}

    fn stats(&self) -> (u64, u64) {
        (self.received, self.fired)
    }
}

struct ToyDriver {
    bar0: MmioRegion,
    interrupts: AtomicUsize,
    neighbours: Mutex<Vec<(IpAddr, [u8; 6])>>,
}

impl ToyDriver {
    /// The toy's two registers: `UnsafeCell` words, as register cells are.
    fn regs(&self) -> &[UnsafeCell<u32>; 2] {
        self.bar0.block::<[UnsafeCell<u32>; 2]>(0).unwrap()
    }

    fn write(&self, word: usize, v: u32) {
        // SAFETY: a live register cell of the BAR; volatile, whole-word, like MMIO.
        unsafe { self.regs()[word].get().write_volatile(v) }
    }

    fn read(&self, word: usize) -> u32 {
        // SAFETY: as in `write`.
        unsafe { self.regs()[word].get().read_volatile() }
    }
}

enum Toy {}

impl NicModel for Toy {
    type Device = ToyDevice;
    type Nic = ToyDriver;
    const NAME: &'static str = "toy";
    const BAR0_SIZE: usize = 4096;
    const BAR2_SIZE: usize = 4096;

    fn device(
        bar0: &'static BarMemory,
        _bar2: &'static BarMemory,
        mac: [u8; 6],
        neighbours: Neighbours,
        _index: u64,
    ) -> ToyDevice {
        ToyDevice {
            bar0,
            mac,
            neighbours,
            tx: Vec::new(),
            irq: false,
            received: 0,
            timer: None,
            fired: 0,
        }
    }

    fn bring_up(
        _platform: MockPlatform,
        bar0: MmioRegion,
        _bar2: MmioRegion,
        _addresses: &[IpAddr],
    ) -> HalResult<ToyDriver> {
        Ok(ToyDriver {
            bar0,
            interrupts: AtomicUsize::new(0),
            neighbours: Mutex::new(Vec::new()),
        })
    }

    fn interrupt(nic: &ToyDriver) {
        nic.interrupts.fetch_add(1, Ordering::SeqCst);
    }

    fn set_neighbor(nic: &ToyDriver, ip: IpAddr, mac: [u8; 6]) {
        nic.neighbours.lock().unwrap().push((ip, mac));
    }
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

#[test]
fn frames_cross_the_fabric_and_interrupts_reach_the_driver() {
    let net = fabric::network::Network::<Toy>::new(Impairments::PERFECT, None);
    let a = net.add_nic(ip(1));
    let b = net.add_nic(ip(2));
    // Every driver learnt every other NIC.
    assert_eq!(
        a.neighbours.lock().unwrap().as_slice(),
        &[(ip(2), net.mac(ip(2)).unwrap())]
    );
    assert_eq!(
        b.neighbours.lock().unwrap().as_slice(),
        &[(ip(1), net.mac(ip(1)).unwrap())]
    );
    a.write(0, 2);
    net.run_until_idle();
    assert_eq!(net.stats(ip(2)), Some((1, 0)));
    assert_eq!(b.interrupts.load(Ordering::SeqCst), 1);
    assert_eq!(a.interrupts.load(Ordering::SeqCst), 0);
    assert_eq!(net.fabric_stats().delivered, 1);
}

#[test]
fn idle_time_jumps_to_the_next_timer_within_the_horizon() {
    let net = fabric::network::Network::<Toy>::new(Impairments::PERFECT, None);
    let a = net.add_nic(ip(1));
    let now = hal::Platform::now_ns(net.platform());
    let due = now + 500_000_000;
    a.write(1, due as u32);
    net.run_until_idle();
    assert_eq!(net.stats(ip(1)), Some((0, 1)));
    assert!(hal::Platform::now_ns(net.platform()) >= due);
}

#[test]
fn removed_and_surprise_removed_nics() {
    let net = fabric::network::Network::<Toy>::new(Impairments::PERFECT, None);
    let a = net.add_nic(ip(1));
    let _b = net.add_nic(ip(2));
    assert!(net.remove_nic(ip(2)));
    a.write(0, 2);
    net.run_until_idle();
    assert_eq!(net.stats(ip(2)), None);
    assert!(!net.remove_nic(ip(2)));
    assert!(net.surprise_remove(ip(1)));
    assert_eq!(a.read(1), u32::MAX, "a gone function reads all ones");
}
