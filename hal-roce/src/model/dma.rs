//! Device access to host memory at bus addresses (docs/silicon/rocev2.md §5): the shared
//! [`fabric::dma`] (bus address = host address on `MockPlatform`; failures become DMA_ERROR).

pub use fabric::dma::*;
