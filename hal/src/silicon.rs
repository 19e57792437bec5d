//! What a silicon's HAL crate tells the generic NDIS miniport (`ndk_provider::miniport`): its
//! HAL, how to bring it up on the mapped BARs, how to service its interrupt, and the identity
//! NDIS reports. It lives here, beside [`NicHal`], so a vendor's one crate implements both and
//! its driver crate is only the `DriverEntry` that binds them.

use alloc::vec::Vec;

use crate::{EthernetPort, HalError, HalResult, MmioRegion, NicHal, Platform, RdmaTransport};

/// A PCI function the driver binds (the INF's hardware IDs are made of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciId {
    /// PCI vendor ID.
    pub vendor: u16,
    /// PCI device ID.
    pub device: u16,
}

/// One silicon, on one platform. Implemented by each silicon's HAL crate, used by its driver
/// crate and unchanged by the host tests with a device model behind the BARs.
pub trait Silicon<P: Platform>: 'static {
    /// The register-level backend.
    type Hal: NicHal<Platform = P> + EthernetPort;

    /// The PCI functions this driver binds.
    const PCI_IDS: &'static [PciId];
    /// `OID_GEN_VENDOR_DESCRIPTION` (ASCII, no NUL).
    const VENDOR_DESCRIPTION: &'static str;
    /// `OID_GEN_VENDOR_ID`: the IEEE OUI in the low 24 bits, NIC id in the high byte.
    const VENDOR_ID: u32;
    /// The one RDMA technology the INF lists in `*NetworkDirectTechnology`.
    const TECHNOLOGY: RdmaTransport;
    /// How many memory BARs [`Silicon::start`] needs, in resource-list order.
    const BAR_COUNT: usize;

    /// Brings the NIC up over its mapped memory BARs (PASSIVE_LEVEL, MiniportInitializeEx).
    /// Dropping the HAL must quiesce the device (reset it, so it no longer touches host
    /// memory): MiniportHaltEx drops it, after every object was closed, before the BARs are
    /// unmapped.
    fn start(platform: P, bars: Vec<MmioRegion>) -> HalResult<Self::Hal>;
    /// Services the device's interrupt; called from the interrupt DPC (DISPATCH_LEVEL).
    fn interrupt(hal: &Self::Hal);
    /// The device was surprise-removed (MiniportDevicePnPEventNotify): the HAL must stop
    /// waiting for it, fail what it waits for and report [`crate::HalEvent::DeviceRemoved`]
    /// (or `DeviceFatal`), so every outstanding request completes (PASSIVE_LEVEL).
    ///
    /// By default one run of the interrupt service: a removed PCI function reads as
    /// all-ones, which an ISR that checks its status register (as the reference NICs' do)
    /// takes for a removed device and fails everything pending.
    fn surprise_removed(hal: &Self::Hal) {
        Self::interrupt(hal);
    }
}

/// The first `N` mapped BARs of [`Silicon::start`] as an array, in resource-list order;
/// [`HalError::InvalidParameter`] when fewer were mapped.
pub fn bars<const N: usize>(mut bars: Vec<MmioRegion>) -> HalResult<[MmioRegion; N]> {
    bars.truncate(N);
    <[MmioRegion; N]>::try_from(bars).map_err(|_| HalError::InvalidParameter)
}
