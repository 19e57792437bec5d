//! The device model of RNIC-W1 (std, feature `model`): software that behaves as the silicon
//! of docs/silicon/iwarp.md, so the real driver ([`crate::driver::IwarpNic`]) runs in tests
//! and puts genuine TCP / MPA / DDP / RDMAP frames on a virtual Ethernet ([`fabric`]).
//!
//! | module | datasheet | what |
//! |---|---|---|
//! | [`wire`] | §9.1–§9.4 | Ethernet / IP (shared), TCP, MPA, DDP, RDMAP codecs |
//! | [`tcp`] | §9.1–§9.2 | the TCP offload engine: connections, retransmission, close |
//! | [`mpa`] | §9.3 | MPA request / reply, RTR, FPDU framing on TCP connections |
//! | [`device`] | §3, §5, §6, §12 | registers, admin queue, EQ, CMEV, CQs, SRQs, STag table |
//! | `rdmap` | §5.3–§5.5, §7, §9.5 | QPs, the send queue engine, completions, ERR and flush |
//! | `ddp` | §9.4–§9.6 | placement checks before any byte is written, the responder, Terminate |
//! | `cm` | §8 | listens, `CM_*` commands, connection events |
//! | `raw` | §5.9 | the raw Ethernet queue and receive filter |
//! | [`network`] | — | [`fabric::network::Network`] of RNIC-W1s: the entry point |
//!
//! ```no_run
//! use hal_iwarp::model::Network;
//! let net = Network::new(fabric::Impairments::PERFECT, None);
//! let a = net.add_nic("10.0.0.1".parse().unwrap());
//! let b = net.add_nic("10.0.0.2".parse().unwrap());
//! // ... NicHal calls on `a` and `b` ...
//! net.run_until_idle();
//! # drop((a, b));
//! ```
//!
//! Where the model departs from the datasheet (documented at the place): Read Requests are
//! answered at once, so the responder never holds IRD requests (§9.5); the TCP timers are
//! the engine's, scaled for virtual time, and `SET_TCP_PARAMS` changes only the MPA and FIN
//! timers (§6.4.3); `SET_MTU` sets our MSS to MTU − 40 whatever the IP version; a SYN to a port nobody listens on is
//! answered with RST by the engine (on the silicon the host stack answers it, §8.7);
//! acknowledgements of received data are sent after the data was checked and placed, so a
//! Terminate carries the ACK of the segment it answers (§9.6); connection events wait in the
//! model while the CMEV ring is full (§3.8).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod cm;
mod ddp;
pub mod device;
pub mod mpa;
pub mod network;
mod raw;
mod rdmap;
pub mod tcp;
pub mod wire;

#[cfg(test)]
mod eth_tests;
#[cfg(test)]
mod mpa_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tcp_tests;
#[cfg(test)]
mod tests;

pub use device::Stats;
pub use network::{BareNic, Network, Nic, Rnicw1, DEFAULT_HORIZON_NS};
