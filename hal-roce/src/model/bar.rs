//! BAR memory of the model (docs/silicon/rocev2.md §2–§4): the shared [`fabric::BarMemory`]
//! (words the driver sees as `hal::MmioRegion`s, sampled when the model steps; every doorbell
//! is cumulative and every control register level-sampled, §4).

pub use fabric::BarMemory;
