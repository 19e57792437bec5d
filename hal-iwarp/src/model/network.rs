//! A virtual network of RNIC-W1 device models driven by the real driver ([`IwarpNic`]): the
//! public entry point for tests and ndkperf. It is the shared [`fabric::network::Network`]
//! with this NIC's [`Rnicw1`] model, so its API is the RoCEv2 model's name for name, and a
//! test backend of one is a backend of the other with the type names changed.

use core::net::IpAddr;

use hal::mock::MockPlatform;
use hal::{EthernetPort, HalResult, MmioRegion};

use crate::driver::{BringUpConfig, IwarpNic};
use crate::regs;

use fabric::network::{Neighbours, NicModel};
use fabric::BarMemory;

use super::device::{Device, Stats};

pub use fabric::network::DEFAULT_HORIZON_NS;

/// The driver type the network builds.
pub type Nic = IwarpNic<MockPlatform>;

/// RNIC-W1 as a [`NicModel`]: the device model of this crate and [`IwarpNic`].
#[derive(Debug)]
pub enum Rnicw1 {}

/// A virtual iWARP network: clone handles share it.
pub type Network = fabric::network::Network<Rnicw1>;

/// A device model on the network without a driver ([`Network::add_bare_nic`]).
pub type BareNic = fabric::network::BareNic<Rnicw1>;

impl NicModel for Rnicw1 {
    type Device = Device;
    type Nic = Nic;
    const NAME: &'static str = "RNIC-W1";
    const BAR0_SIZE: usize = regs::BAR0_SIZE;
    const BAR2_SIZE: usize = 256 * regs::DB_PAGE_SIZE;

    fn device(
        bar0: &'static BarMemory,
        bar2: &'static BarMemory,
        mac: [u8; 6],
        _neighbours: Neighbours,
        index: u64,
    ) -> Device {
        Device::new(bar0, bar2, mac, index)
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
        IwarpNic::with_config(platform, bar0, bar2, &cfg)
    }

    fn interrupt(nic: &Nic) {
        nic.interrupt();
    }

    fn set_neighbor(nic: &Nic, ip: IpAddr, mac: [u8; 6]) {
        let _ = nic.set_neighbor(ip, mac);
    }
}

fabric::impl_device_model!(Device, Stats);
