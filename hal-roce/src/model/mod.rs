//! The device model (std).

pub mod wire;
