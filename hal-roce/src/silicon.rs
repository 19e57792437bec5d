//! RNIC-R2 (docs/silicon/rocev2.md) as a [`Silicon`] of the generic NDIS miniport: the HAL is
//! `hal_roce::RoceNic`, brought up over BAR0 (registers) and BAR2 (doorbell pages).

use alloc::vec::Vec;

use hal::silicon::{self, PciId, Silicon};
use hal::{HalResult, MmioRegion, Platform, RdmaTransport};

use crate::regs;
use crate::RoceNic;

/// The reference RoCEv2 NIC.
pub struct RoceV2;

impl<P: Platform + Clone> Silicon<P> for RoceV2 {
    type Hal = RoceNic<P>;

    /// §2: the one PCI function of the datasheet.
    const PCI_IDS: &'static [PciId] = &[PciId {
        vendor: regs::PCI_VENDOR_ID,
        device: regs::PCI_DEVICE_ID,
    }];
    const VENDOR_DESCRIPTION: &'static str = "RNIC-R2 RoCEv2 Network Adapter";
    /// The OUI of the factory MAC prefix (02:1F:0D), NIC id 1 in the high byte.
    const VENDOR_ID: u32 = u32::from_le_bytes([0x02, 0x1F, 0x0D, 0x01]);
    const TECHNOLOGY: RdmaTransport = RdmaTransport::RoceV2;
    /// BAR0 (registers) and BAR2 (doorbells), the memory BARs in resource-list order.
    const BAR_COUNT: usize = 2;

    fn start(platform: P, bars: Vec<MmioRegion>) -> HalResult<RoceNic<P>> {
        let [bar0, bar2] = silicon::bars(bars)?;
        RoceNic::new(platform, bar0, bar2)
    }

    fn interrupt(hal: &RoceNic<P>) {
        hal.interrupt();
    }

    // surprise_removed: the default. A removed PCI function reads as all-ones: the ISR then
    // sees `INT_CAUSE.FATAL` with `STATUS.FATAL` (§3.5, §11.8) and fails every pending
    // command and CQ, as for a fatal device error (the HAL reports `DeviceFatal`).
}
