//! A generic Windows NDK provider: every NDKPI object, dispatch table and rule, over the
//! [`hal::NicHal`] porting contract. A NIC vendor supplies a HAL; this crate supplies the
//! NDK semantics SMB Direct, Storage Spaces Direct and live migration rely on.
//!
//! Layout: `abi/` is the binary-exact C ABI; one module per NDK object, named as NDKPI names
//! it, holds that object's dispatch table, thin `extern "system"` entry points and logic;
//! `object`, `karc`, `edge` and `callback` are the few modules with `unsafe`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
// The `unsafe extern "system"` entry points are reached only through the dispatch tables;
// their safety contract is NDKPI's (ndkpi.md §4), cited at each call of an unsafe helper.
#![allow(clippy::missing_safety_doc)]

extern crate alloc;

pub mod abi;
pub mod adapter;
pub mod callback;
pub mod cm;
pub mod connector;
pub mod cq;
pub mod device;
pub mod edge;
pub mod endpoint;
// The object model's fallible, raw-pointer-capable `Arc` lives in `hal`, so backends share it.
pub use hal::karc;
pub mod listener;
pub mod miniport;
pub mod mr;
pub mod mw;
pub mod object;
pub mod pd;
pub mod pending;
pub mod qp;
pub mod serial;
pub mod shared_endpoint;
pub mod srq;
pub mod status;

pub use device::Device;
