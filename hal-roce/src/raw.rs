//! The raw Ethernet queue (docs/silicon/rocev2.md §14): send and receive descriptors, raw
//! completions and the receive filter. The formats are transport-neutral and identical on the
//! iWARP sibling, so they live in [`hal::raw_eth`]; re-exported here so the formats of this
//! crate are complete in one place.

pub use hal::raw_eth::*;
