//! Register-level formats of RNIC-W1, the reference iWARP NIC (docs/silicon/iwarp.md).
//!
//! Everything the driver (a `hal::NicHal` backend) and the device model share, as declarative
//! maps and byte-buffer encoders / decoders, and the driver itself ([`driver`]), which uses
//! nothing of the device model.
//!
//! | module | manual | what |
//! |---|---|---|
//! | [`regs`] | §2–§4 | PCI identity, BAR0 register block, BAR2 doorbell blocks |
//! | [`caps`] | §3.3–§3.4, §13.1 | identity and capabilities as data, `hal::DeviceCaps` |
//! | [`stag`] | §5.2 | STags (index + key byte), access rights |
//! | [`record`] | §5.5 | QP / SRQ records, CQ doorbell record |
//! | [`wqe`] | §5.3–§5.4 | send and receive WQEs |
//! | [`cqe`] | §5.6, §10 | CQEs, completion status, syndromes, Terminate codes |
//! | [`eqe`] | §5.7 | EQEs |
//! | [`cm`] | §5.8, §8 | connection records and events |
//! | [`admin`] | §6–§7 | admin commands incl. TCP offload, QP attributes, QP state machine |
//! | [`mpa`] | §9.3 | MPA request / reply frames, the IRD / ORD block, FPDU framing |
//! | [`driver`] | §11 | [`IwarpNic`]: the `hal::NicHal` and `hal::EthernetPort` backend |
//! | `model` | §12 | the device model and its `Network` (feature `model`, std) |
//!
//! Host-memory formats are `#[repr(C)]` structs of little-endian `zerocopy` fields (the
//! `*Raw` types): one field per row of the manual's table, sizes checked at compile time and
//! offsets by the unit tests. The typed structs above them validate enums and reserved bits.
//! Encoders and decoders never allocate and never panic.
//!
//! Ring arithmetic (owner bit, slots) and the raw Ethernet queue formats are transport-neutral
//! and identical to RNIC-R2's: they live in `hal::ring` and `hal::raw_eth` (§5.1, §5.9).
#![no_std]
// register_structs! checks the long Bar0 layout recursively at compile time.
#![recursion_limit = "512"]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod admin;
pub mod caps;
pub mod cm;
pub mod cqe;
pub mod driver;
pub mod eqe;
#[cfg(feature = "model")]
pub mod model;
pub mod mpa;
pub mod record;
pub mod regs;
mod silicon;
pub mod stag;
pub mod wqe;

#[cfg(test)]
mod doc_check;

pub use driver::IwarpNic;
pub use silicon::Iwarp;
