//! A virtual network of RNIC-R2 device models driven by the real driver ([`RoceNic`]): the
//! public entry point for tests and ndkperf. It is the shared [`fabric::network::Network`]
//! (one fabric, one `MockPlatform` virtual clock, models stepped where drivers wait and in
//! `run_until_idle`, interrupts inline, DPCs in `step_all`) with this NIC's [`Rnicr2`]
//! model.
//!
//! `Network::add_bare_nic` attaches a device without a driver: the code under test (the
//! NDIS glue) maps its BARs (`BareNic::bars`), brings [`RoceNic`] up on `Network::platform`
//! and wires the interrupt line (`BareNic::set_interrupt_line`) itself.

use core::net::IpAddr;

use hal::mock::MockPlatform;
use hal::{EthernetPort, HalResult, MmioRegion};

use crate::driver::{BringUpConfig, RoceNic};
use crate::regs;

use fabric::network::{Neighbours, NicModel};

use super::bar::BarMemory;
use super::device::{Device, Stats};

pub use fabric::network::DEFAULT_HORIZON_NS;

/// The driver type the network builds.
pub type Nic = RoceNic<MockPlatform>;

/// RNIC-R2 as a [`NicModel`]: the device model of this crate and [`RoceNic`].
#[derive(Debug)]
pub enum Rnicr2 {}

/// A virtual RoCEv2 network: clone handles share it.
pub type Network = fabric::network::Network<Rnicr2>;

/// A device model on the network without a driver (`Network::add_bare_nic`).
pub type BareNic = fabric::network::BareNic<Rnicr2>;

impl NicModel for Rnicr2 {
    type Device = Device;
    type Nic = Nic;
    const NAME: &'static str = "RNIC-R2";
    const BAR0_SIZE: usize = regs::BAR0_SIZE;
    const BAR2_SIZE: usize = 256 * regs::DB_PAGE_SIZE;

    fn device(
        bar0: &'static BarMemory,
        bar2: &'static BarMemory,
        mac: [u8; 6],
        neighbours: Neighbours,
        index: u64,
    ) -> Device {
        // The network's table is the device's fallback when a connect names no next hop.
        Device::new(bar0, bar2, mac, neighbours, index)
    }

    fn bring_up(
        platform: MockPlatform,
        bar0: MmioRegion,
        bar2: MmioRegion,
        addresses: &[IpAddr],
    ) -> HalResult<Nic> {
        let cfg = BringUpConfig {
            mtu: 1500,
            addresses,
        };
        RoceNic::with_config(platform, bar0, bar2, &cfg)
    }

    fn interrupt(nic: &Nic) {
        nic.interrupt();
    }

    fn set_neighbor(nic: &Nic, ip: IpAddr, mac: [u8; 6]) {
        let _ = nic.set_neighbor(ip, mac);
    }
}

fabric::impl_device_model!(Device, Stats);
