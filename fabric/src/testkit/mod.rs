//! Test support shared by the NIC models' tests: the same test body runs against every model
//! ([`crate::network::NicModel`]) that implements the behaviour it checks.
//!
//! * [`rdma`]: two connected RDMA endpoints over a [`crate::network::Network`].
//! * [`rdma_tests`]: the RDMA tests both transports pass alike; a model's crate
//!   instantiates them with [`rdma_tests!`](crate::rdma_tests).
//! * [`raw_eth`]: the raw Ethernet queue and bare-NIC tests; a model's crate instantiates
//!   them with [`raw_eth_tests!`](crate::raw_eth_tests).
//! * [`tshark`]: decoding the models' captures with tshark.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod raw_eth;
pub mod rdma;
pub mod rdma_tests;
pub mod tshark;
