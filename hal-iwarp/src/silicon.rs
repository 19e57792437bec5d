//! RNIC-W1 (docs/silicon/iwarp.md) as a [`Silicon`] of the generic NDIS miniport: the HAL is
//! `hal_iwarp::IwarpNic`, brought up over BAR0 (registers) and BAR2 (doorbell pages).

use alloc::vec::Vec;

use hal::silicon::{self, PciId, Silicon};
use hal::{HalResult, MmioRegion, Platform, RdmaTransport};

use crate::regs;
use crate::IwarpNic;

/// The reference iWARP NIC.
pub struct Iwarp;

impl<P: Platform + Clone> Silicon<P> for Iwarp {
    type Hal = IwarpNic<P>;

    /// §2: the one PCI function of the datasheet.
    const PCI_IDS: &'static [PciId] = &[PciId {
        vendor: regs::PCI_VENDOR_ID,
        device: regs::PCI_DEVICE_ID,
    }];
    const VENDOR_DESCRIPTION: &'static str = "RNIC-W1 iWARP Network Adapter";
    /// The OUI of the factory MAC prefix (02:1F:0D), NIC id 2 in the high byte.
    const VENDOR_ID: u32 = u32::from_le_bytes([0x02, 0x1F, 0x0D, 0x02]);
    const TECHNOLOGY: RdmaTransport = RdmaTransport::Iwarp;
    /// BAR0 (registers) and BAR2 (doorbells), the memory BARs in resource-list order (§2).
    const BAR_COUNT: usize = 2;

    fn start(platform: P, bars: Vec<MmioRegion>) -> HalResult<IwarpNic<P>> {
        let [bar0, bar2] = silicon::bars(bars)?;
        IwarpNic::new(platform, bar0, bar2)
    }

    fn interrupt(hal: &IwarpNic<P>) {
        hal.interrupt();
    }

    // surprise_removed: the default. A removed PCI function reads as all-ones: the ISR
    // (§11.8) takes `STATUS` = all-ones for a removed device, fails every pending command
    // and flushes the CQs in software (the HAL reports `DeviceRemoved`).
}
