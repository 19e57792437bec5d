//! Ring counters and the owner (phase) bit (docs/silicon/rocev2.md §5.1): the transport-neutral
//! arithmetic lives in [`hal::ring`], shared with the other backends; re-exported here so the
//! formats of this crate are complete in one place.

pub use hal::ring::*;
