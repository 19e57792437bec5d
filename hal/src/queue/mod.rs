//! The transport-neutral queue layer of register-level drivers whose device talks to the host
//! through owner-bit rings in host memory (the reference RoCEv2 and iWARP NICs).
//!
//! As Linux irdma keeps its queue layer (`uk.c`) and control layer (`ctrl.c`) apart from the
//! per-generation code, these pieces hold what does not depend on the transport or on one
//! silicon's encodings: consuming CQE and EQE rings by the owner bit, placing WQEs in ring
//! slots, the admin queue protocol, connection bookkeeping, the raw Ethernet queue, the
//! object-number pool, the bounded software event buffer, the software flush of a dead
//! device's queues, the bring-up procedure and poll loop, the per-object control flows
//! (`objects`, irdma's ctrl layer), the routing of `NicHal` calls (`driver`) and, for tests,
//! the control-path tests every driver runs on its fake device (`testkit`). Register maps,
//! WQE / CQE / EQE encodings and admin command sets stay in each silicon's crate and reach
//! this layer as closures or small traits.
//!
//! Nothing here allocates or locks on the fast path; allocation happens only in constructors,
//! and fails with [`crate::HalError::NoResources`].
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod admin;
pub mod bringup;
pub mod cm;
pub mod cq;
pub mod driver;
pub mod eq;
pub mod eth;
pub mod events;
pub mod flush;
pub mod numbers;
pub mod objects;
pub mod qp;
pub mod ring;
pub mod serial;
#[cfg(feature = "mock")]
pub mod testkit;
pub mod wait;
