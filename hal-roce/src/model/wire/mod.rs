//! RoCEv2 wire formats.
//!
//! The codecs the device model uses to put genuine RoCEv2 frames on its virtual Ethernet
//! and to run InfiniBand connection management over QP1:
//!
//! | layer | module | reference |
//! | --- | --- | --- |
//! | Ethernet II, 802.1Q | [`eth`] (the `fabric` crate's) | IEEE 802.3, 802.1Q |
//! | IPv4, IPv6 | [`ip`] (the `fabric` crate's) | RFC 791, RFC 8200 |
//! | UDP (port 4791) | [`udp`] | RFC 768, IBA Annex A17 (RoCEv2) |
//! | BTH and opcodes | [`bth`] | IBA vol 1 §9.2, §9.3 |
//! | RETH, AETH, DETH, IETH, ImmDt, atomics | [`ext`] | IBA vol 1 §9.3 |
//! | segmentation by path MTU | [`seg`] | IBA vol 1 §9.7.2 |
//! | invariant CRC | [`icrc`] | IBA vol 1 §7.8.1, Annex A17 §A17.4.3 |
//! | whole frames | [`packet`] | Annex A17 |
//! | MADs on QP1 | [`mad`] | IBA vol 1 §13.4 |
//! | IB CM messages, RDMA CM IP addressing | [`cm`] | IBA vol 1 §12.6, Annex A11 |
//!
//! Everything here parses untrusted bytes: parsers never index out of bounds, they return
//! [`WireError`] instead.

mod error;

// The generic Ethernet / IP codecs and field accessors are shared with the other device
// models through the fabric crate.
use fabric::wire::bytes;
pub use fabric::wire::{eth, ip};

pub mod bth;
pub mod cm;
pub mod ext;
pub mod icrc;
pub mod mad;
pub mod packet;
pub mod seg;
pub mod udp;

#[cfg(test)]
mod tests;

pub use error::WireError;
