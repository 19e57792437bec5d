//! What a silicon tells the generic miniport: the trait lives in `hal`, beside `NicHal`, so a
//! silicon's HAL crate implements both.

pub use hal::silicon::*;
