//! The reference RoCEv2 NIC's driver: the generic NDIS miniport glue instantiated with the
//! RNIC-R2 HAL. Built as `ndkroce.sys` for Windows.
//! The silicon binding itself (`hal_roce::RoceV2`) lives in the HAL crate, so
//! host tests use it without this crate.
#![cfg_attr(windows, no_std)]

extern crate alloc;

ndk_kernel::driver_entry!(hal_roce::RoceV2);
