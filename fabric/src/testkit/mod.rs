//! Test support shared by the NIC models' tests: the same test body runs against every model
//! ([`crate::network::NicModel`]) that implements the behaviour it checks.
//!
//! * [`rdma`]: two connected RDMA endpoints over a [`crate::network::Network`].
//! * [`raw_eth`]: the raw Ethernet queue and bare-NIC tests; a model's crate instantiates
//!   them with [`raw_eth_tests!`](crate::raw_eth_tests).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod raw_eth;
pub mod rdma;
