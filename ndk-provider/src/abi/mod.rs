//! Binary-exact NDKPI + NDIS C ABI for x86_64 (MSVC ABI).
//!
//! Everything here is a plain `#[repr(C)]` mirror of `ndkpi.h`, `ndkinfo.h`,
//! `ndisndk.h` and the NDK parts of `ndis.h` / `ntddndis.h`, as described in
//! `ndkpi.md` §0–§6 and §8.1–§8.4. Type, field, constant and slot names are kept
//! **exactly** as in the Windows headers (hence the `non_camel_case_types` /
//! `non_snake_case` allows) so a reader can compare this module with `ndkpi.h`
//! line by line.
//!
//! * [`types`]: NTSTATUS, NDK_VERSION, the object header, the ten NDK object
//!   structs (`NDK_ADAPTER` … `NDK_SHARED_ENDPOINT`), SGE / result / LAM /
//!   adapter-info structs, sockaddrs, `MDL`.
//! * [`status`]: NTSTATUS / NDIS_STATUS values (`ndkpi.md` §6).
//! * [`flags`]: `NDK_OP_FLAG_*`, `NDK_MR_FLAG_*`, `NDK_ADAPTER_FLAG_*` as raw
//!   constants and as `bitflags` types.
//! * [`dispatch`]: consumer callback typedefs (`NDK_FN_*_COMPLETION`,
//!   `NDK_FN_*_CALLBACK`, all `Option<fn>`), provider function typedefs
//!   (`NDK_FN_*`, non-`Option`) and the ten `NDK_*_DISPATCH` tables.
//! * [`ndis`]: NDIS registration / attributes / OID / statistics structures.
//! * [`miniport`]: the NDIS 6.30 miniport ABI (characteristics, init parameters,
//!   resources, attributes, OID requests, PnP, interrupts, NBL/NB, OID_GEN_* values).
//!
//! The `layout` module (64-bit only) holds compile-time assertions of every size
//! and offset against the values of the reference; a wrong layout fails the
//! build. This module contains types only: no code, no `unsafe`.

// Names mirror the C headers on purpose; documentation lives in ndkpi.md.
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs,
    clippy::upper_case_acronyms
)]

pub mod dispatch;
pub mod flags;
pub mod miniport;
pub mod ndis;
pub mod status;
pub mod types;

#[cfg(target_pointer_width = "64")]
mod layout;
#[cfg(target_pointer_width = "64")]
mod miniport_layout;

pub use dispatch::*;
pub use flags::*;
pub use miniport::*;
pub use ndis::*;
pub use status::*;
pub use types::*;
