//! The NDIS miniport glue, generic over the silicon and over NDIS itself: DriverEntry and
//! the MiniportXxx handlers that make one NIC function an NDIS 6.x Ethernet miniport and an
//! NDK provider (ndkpi.md §8, §9).
//!
//! * [`driver`]: DriverEntry, the driver characteristics, MiniportSetOptions (NDK provider
//!   characteristics), MiniportDriverUnload.
//! * [`context`]: the miniport adapter context and its state machine.
//! * [`init`]: MiniportInitializeEx (configuration, BARs, DMA, interrupts, attributes).
//! * [`interrupt`]: MSI-X ISR and DPC, which drive the HAL's event processing.
//! * [`oid`]: MiniportOidRequest and the general OIDs.
//! * [`ndk`]: the NDK OIDs, NDK enable state and the open / close NDK adapter handlers.
//! * [`ethernet`]: SendNetBufferLists, ReturnNetBufferLists and the raw queue service.
//! * [`pnp`]: Pause, Restart, device PnP events, Shutdown, Halt.
//!
//! Everything NDIS is reached through [`ndis::Ndis`], so the same code runs in the kernel and
//! on a host against a fake NDIS. `unsafe` here is the NDIS edge: raw handles, NBL chains,
//! OID buffers; the logic it feeds is safe Rust.

// NDIS constants (`NdisRequestQueryInformation`, ...) keep their header names in patterns.
#![allow(non_upper_case_globals)]
// Every handler is an NDIS entry point: a panic is a bugcheck.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod context;
pub mod driver;
pub mod ethernet;
pub mod init;
pub mod interrupt;
pub mod ndis;
pub mod ndk;
pub mod oid;
pub mod pnp;
pub mod silicon;

// The fake is test harness (std), not driver code: it panics on misuse of its test API.
#[cfg(feature = "mock")]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod fake;

pub use driver::driver_entry;
pub use ndis::Ndis;
pub use silicon::{PciId, Silicon};
