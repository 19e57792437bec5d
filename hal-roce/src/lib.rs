//! Register-level formats of RNIC-R2, the reference RoCEv2 NIC (docs/silicon/rocev2.md).
//!
//! Everything the driver (a `hal::NicHal` backend) and the device model share, as declarative
//! maps and byte-buffer encoders / decoders; no logic of either side lives here.
//!
//! | module | manual | what |
//! |---|---|---|
//! | [`regs`] | §2–§4 | PCI identity, BAR0 register block, BAR2 doorbell blocks |
//! | [`caps`] | §3.3–§3.4, §13.1 | identity and capabilities as data, `hal::DeviceCaps` |
//! | [`ring`] | §5.1 | ring counters and the owner (phase) bit |
//! | [`key`] | §5.2 | memory keys |
//! | [`wqe`] | §5.3–§5.4 | send and receive WQEs |
//! | [`record`] | §5.5 | QP / SRQ records, CQ doorbell record |
//! | [`cqe`] | §5.6, §10 | CQEs, completion status, syndromes |
//! | [`eqe`] | §5.7 | EQEs |
//! | [`cm`] | §5.8, §8 | CM records and events, service IDs |
//! | [`admin`] | §6–§7 | admin commands, QP attributes, QP state machine |
//! | [`raw`] | §14 | raw Ethernet queue: descriptors, completions, receive filter |
//!
//! Encoders and decoders work on fixed-size arrays or slices, never allocate and never panic.
#![no_std]
// register_structs! checks the long Bar0 layout recursively at compile time.
#![recursion_limit = "256"]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

// Each of these modules denies indexing, unwrap and panic outside tests (inner attribute):
// the shared formats must not panic on any input.
mod bytes;

pub mod admin;
pub mod caps;
pub mod cm;
pub mod cqe;
pub mod driver;
pub mod eqe;
pub mod key;
pub mod raw;
pub mod record;
pub mod regs;
pub mod ring;
mod silicon;
pub mod wqe;

#[cfg(feature = "model")]
pub mod model;

pub use driver::RoceNic;
pub use silicon::RoceV2;
