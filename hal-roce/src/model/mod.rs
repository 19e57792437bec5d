//! The device model of RNIC-R2 (std): software that behaves as the silicon of
//! docs/silicon/rocev2.md, so the real driver ([`crate::driver::RoceNic`]) runs in tests and
//! puts genuine RoCEv2 frames on a virtual Ethernet ([`fabric`]).
//!
//! | module | datasheet | what |
//! |---|---|---|
//! | `bar` | §2–§4 | BAR0 / BAR2 backing memory (`UnsafeCell` words, sampled when stepping) |
//! | `dma` | §5 | host memory at bus addresses |
//! | [`device`] | §3, §5, §6, §12 | registers, admin queue, EQ, CMEV, CQs, SRQs, keys |
//! | `rc` | §7, §9 | QPs: requester, responder, completer (go-back-N, NAKs, RNR, timers) |
//! | `cm_agent` | §8 | the CM agent on QP1 (REQ/REP/RTU/REJ/DREQ/DREP, timers) |
//! | `raw` | §14 | the raw Ethernet queue and receive filter |
//! | [`network`] | — | NICs on a fabric with a virtual clock: the entry point |
//! | [`wire`] | §9.1 | RoCEv2 wire codecs |
//!
//! ```no_run
//! use hal_roce::model::Network;
//! let net = Network::new(fabric::Impairments::PERFECT, None);
//! let a = net.add_nic("10.0.0.1".parse().unwrap());
//! let b = net.add_nic("10.0.0.2".parse().unwrap());
//! // ... NicHal calls on `a` and `b` ...
//! net.run_until_idle();
//! # drop((a, b));
//! ```
//!
//! Where the model departs from the datasheet (documented at the place): read requests are
//! answered at once, so the responder never holds IRD requests (§9.3); MRAs are neither sent
//! nor needed (§8.1); CM events wait in the model while the CMEV ring is full instead of
//! dropping MADs (§3.8); a driver's INT_CAUSE write-back of exactly the value it read cannot
//! be told from no write (the model samples memory), so causes accumulate (§3.9, harmless
//! with MSI-X semantics: every EQ interrupt is delivered).

mod bar;
mod cm_agent;
pub mod device;
mod dma;
pub mod network;
mod raw;
mod rc;
pub mod wire;

#[cfg(test)]
mod eth_tests;
#[cfg(test)]
mod flush_tests;
#[cfg(test)]
mod tests;

pub use device::Stats;
pub use network::{BareNic, Network, Nic, DEFAULT_HORIZON_NS};
