//! The reference iWARP NIC's driver: the generic NDIS miniport glue instantiated with the
//! RNIC-W1 HAL. Built as `ndkiwarp.sys` for Windows.
//! The silicon binding itself (`hal_iwarp::Iwarp`) lives in the HAL crate, so
//! host tests use it without this crate.
#![cfg_attr(windows, no_std)]

extern crate alloc;

ndk_kernel::driver_entry!(hal_iwarp::Iwarp);
