//! Windows-kernel services shared by every per-silicon driver: the raw-dylib imports of
//! `ntoskrnl.exe`, `ndis.sys` and `hal.dll`, `platform::KernelPlatform` (`hal::Platform`
//! over spin locks, DMA memory and DPCs), `ndis::KernelNdis` (the glue's `Ndis`
//! trait forwarded to the imports), and the pieces a `no_std` kernel image needs (pool
//! allocator, panic handler, runtime symbols).
//!
//! Everything is compiled only for Windows; on other hosts the crate is empty, so the
//! workspace builds and tests everywhere. Two Windows builds exist:
//! - linked with rust-lld on any host (`--cfg ndk_rust_lld`, set by the link config): the
//!   allocator, panic handler and runtime symbols are this crate's own;
//! - built with the WDK on Windows (cargo-wdk): `wdk-alloc`, `wdk-panic` and `wdk-sys` supply
//!   them instead; the raw-dylib imports are the same.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
// Kernel code: a panic is a bugcheck.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[cfg(all(windows, ndk_rust_lld))]
mod alloc_pool;
#[cfg(windows)]
pub mod imports;
#[cfg(windows)]
pub mod ndis;
#[cfg(all(windows, ndk_rust_lld))]
mod panic;
#[cfg(windows)]
pub mod platform;
#[cfg(all(windows, ndk_rust_lld))]
mod rt;

// The WDK build takes the allocator and panic handler from windows-drivers-rs.
#[cfg(all(windows, not(ndk_rust_lld)))]
extern crate wdk_panic;
#[cfg(all(windows, not(ndk_rust_lld)))]
#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;
// `_fltused` and the frame-handler stubs.
#[cfg(all(windows, not(ndk_rust_lld)))]
extern crate wdk_sys;

/// Exports `DriverEntry` for a silicon: `ndk_kernel::driver_entry!(RoceV2);` instantiates the
/// generic miniport glue with the silicon's HAL and `ndis::KernelNdis`.
#[macro_export]
macro_rules! driver_entry {
    ($silicon:ty) => {
        /// The image's entry point (`/ENTRY:DriverEntry`), called once at PASSIVE_LEVEL.
        ///
        /// # Safety
        /// Called only by the I/O manager, with its driver object and registry path.
        #[cfg(windows)]
        #[unsafe(export_name = "DriverEntry")]
        pub unsafe extern "system" fn driver_entry(
            driver_object: *mut $crate::ndis::DRIVER_OBJECT,
            registry_path: *mut $crate::ndis::UNICODE_STRING,
        ) -> $crate::ndis::NTSTATUS {
            // SAFETY: forwarded unchanged from the I/O manager.
            unsafe { $crate::ndis::driver_entry::<$silicon>(driver_object, registry_path) }
        }
    };
}
