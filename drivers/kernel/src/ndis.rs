//! [`KernelNdis`]: the glue's `Ndis` trait over the real `ndis.sys` (and one `ntoskrnl.exe`
//! macro), plus the generic `DriverEntry` a silicon crate exports.
//!
//! The `ndis.sys` functions are listed once, in `ndis_sys!`: the list declares the raw-dylib
//! imports and the trait's one-line forwards, so the two cannot disagree.

use core::ffi::c_void;

pub use ndk_provider::abi::*;
use ndk_provider::miniport::{Ndis, Silicon};

use crate::platform::KernelPlatform;

/// Calls `$m!` with every `ndis.sys` function of the `Ndis` trait (signatures as the trait's).
macro_rules! ndis_sys {
    ($m:ident) => {
        $m! {
            fn NdisMRegisterMiniportDriver(
                driver_object: *mut DRIVER_OBJECT,
                registry_path: *mut UNICODE_STRING,
                driver_context: NDIS_HANDLE,
                characteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
                driver_handle: *mut NDIS_HANDLE,
            ) -> NDIS_STATUS;
            fn NdisMDeregisterMiniportDriver(driver_handle: NDIS_HANDLE);
            fn NdisSetOptionalHandlers(
                ndis_handle: NDIS_HANDLE,
                handlers: *mut NDIS_DRIVER_OPTIONAL_HANDLERS,
            ) -> NDIS_STATUS;
            fn NdisMSetMiniportAttributes(
                adapter: NDIS_HANDLE,
                attributes: *mut NDIS_MINIPORT_ADAPTER_ATTRIBUTES,
            ) -> NDIS_STATUS;
            fn NdisOpenConfigurationEx(
                config_object: *mut NDIS_CONFIGURATION_OBJECT,
                config_handle: *mut NDIS_HANDLE,
            ) -> NDIS_STATUS;
            fn NdisReadConfiguration(
                status: *mut NDIS_STATUS,
                value: *mut *mut NDIS_CONFIGURATION_PARAMETER,
                config_handle: NDIS_HANDLE,
                keyword: *mut NDIS_STRING,
                parameter_type: NDIS_PARAMETER_TYPE,
            );
            fn NdisCloseConfiguration(config_handle: NDIS_HANDLE);
            fn NdisMMapIoSpace(
                virtual_address: *mut *mut c_void,
                adapter: NDIS_HANDLE,
                physical_address: NDIS_PHYSICAL_ADDRESS,
                length: u32,
            ) -> NDIS_STATUS;
            fn NdisMUnmapIoSpace(adapter: NDIS_HANDLE, virtual_address: *mut c_void, length: u32);
            fn NdisMRegisterScatterGatherDma(
                adapter: NDIS_HANDLE,
                description: *mut NDIS_SG_DMA_DESCRIPTION,
                dma_handle: *mut NDIS_HANDLE,
            ) -> NDIS_STATUS;
            fn NdisMDeregisterScatterGatherDma(dma_handle: NDIS_HANDLE);
            fn NdisMRegisterInterruptEx(
                adapter: NDIS_HANDLE,
                interrupt_context: NDIS_HANDLE,
                characteristics: *mut NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
                interrupt_handle: *mut NDIS_HANDLE,
            ) -> NDIS_STATUS;
            fn NdisMDeregisterInterruptEx(interrupt_handle: NDIS_HANDLE);
            fn NdisAllocateIoWorkItem(ndis_object: NDIS_HANDLE) -> NDIS_HANDLE;
            fn NdisQueueIoWorkItem(
                work_item: NDIS_HANDLE,
                routine: NDIS_IO_WORKITEM_ROUTINE,
                context: *mut c_void,
            );
            fn NdisFreeIoWorkItem(work_item: NDIS_HANDLE);
            fn NdisMNetPnPEvent(
                adapter: NDIS_HANDLE,
                notification: *mut NET_PNP_EVENT_NOTIFICATION,
            ) -> NDIS_STATUS;
            fn NdisMPauseComplete(adapter: NDIS_HANDLE);
            fn NdisMIndicateStatusEx(adapter: NDIS_HANDLE, indication: *mut NDIS_STATUS_INDICATION);
            fn NdisAllocateNetBufferListPool(
                ndis_handle: NDIS_HANDLE,
                parameters: *mut NET_BUFFER_LIST_POOL_PARAMETERS,
            ) -> NDIS_HANDLE;
            fn NdisFreeNetBufferListPool(pool: NDIS_HANDLE);
            fn NdisAllocateNetBufferAndNetBufferList(
                pool: NDIS_HANDLE,
                context_size: u16,
                context_backfill: u16,
                mdl_chain: *mut MDL,
                data_offset: u32,
                data_length: usize,
            ) -> *mut NET_BUFFER_LIST;
            fn NdisFreeNetBufferList(nbl: *mut NET_BUFFER_LIST);
            fn NdisAllocateMdl(ndis_handle: NDIS_HANDLE, va: *mut c_void, length: u32) -> *mut MDL;
            fn NdisFreeMdl(mdl: *mut MDL);
            fn NdisMIndicateReceiveNetBufferLists(
                adapter: NDIS_HANDLE,
                nbls: *mut NET_BUFFER_LIST,
                port: NDIS_PORT_NUMBER,
                count: u32,
                flags: u32,
            );
            fn NdisMSendNetBufferListsComplete(
                adapter: NDIS_HANDLE,
                nbls: *mut NET_BUFFER_LIST,
                flags: u32,
            );
        }
    };
}

macro_rules! declare_imports {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        /// The `ndis.sys` exports the glue calls.
        #[allow(non_snake_case)]
        pub mod imports {
            use super::*;
            #[link(name = "ndis.sys", kind = "raw-dylib", modifiers = "+verbatim")]
            unsafe extern "system" {
                $(pub fn $name($($arg: $ty),*) $(-> $ret)?;)*
            }
        }
    };
}

macro_rules! forward {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        $(unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: the caller upholds the NDIS function's contract (the trait's).
            unsafe { imports::$name($($arg),*) }
        })*
    };
}

ndis_sys!(declare_imports);

/// `KernelMode` (`KPROCESSOR_MODE`).
const KERNEL_MODE: i8 = 0;
/// `MmCached` (`MEMORY_CACHING_TYPE`).
const MM_CACHED: i32 = 1;
/// `NormalPagePriority | MdlMappingNoExecute`.
const NORMAL_PAGE_PRIORITY_NO_EXECUTE: u32 = 16 | 0x4000_0000;

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    fn MmMapLockedPagesSpecifyCache(
        MemoryDescriptorList: *mut MDL,
        AccessMode: i8,
        CacheType: i32,
        RequestedAddress: *mut c_void,
        BugCheckOnFailure: u32,
        Priority: u32,
    ) -> *mut c_void;
}

/// NDIS in the Windows kernel.
pub enum KernelNdis {}

// SAFETY: every function is the NDIS (or WDK macro) function of the same name.
unsafe impl Ndis for KernelNdis {
    type Platform = KernelPlatform;

    unsafe fn platform(
        adapter: NDIS_HANDLE,
        _dma: NDIS_HANDLE,
    ) -> Result<KernelPlatform, NDIS_STATUS> {
        // SAFETY: the glue passes the adapter handle after registering scatter-gather DMA,
        // and keeps both until every platform clone is gone (the trait's contract).
        unsafe { KernelPlatform::new(adapter.cast()) }.ok_or(NDIS_STATUS_RESOURCES)
    }

    /// The WDK macro: the MDL's existing system mapping, else a new no-execute mapping.
    unsafe fn MmGetSystemAddressForMdlSafe(mdl: *mut MDL) -> *mut c_void {
        // SAFETY: the caller passes a valid, locked MDL.
        let m = unsafe { &*mdl };
        if m.MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
            return m.MappedSystemVa;
        }
        // SAFETY: as above; failure returns null (BugCheckOnFailure = FALSE).
        unsafe {
            MmMapLockedPagesSpecifyCache(
                mdl,
                KERNEL_MODE,
                MM_CACHED,
                core::ptr::null_mut(),
                0,
                NORMAL_PAGE_PRIORITY_NO_EXECUTE,
            )
        }
    }

    ndis_sys!(forward);
}

/// DriverEntry for silicon `S`: the generic miniport glue over [`KernelNdis`].
///
/// # Safety
/// Called only from the image's `DriverEntry`, with the I/O manager's arguments.
pub unsafe fn driver_entry<S: Silicon<KernelPlatform>>(
    driver_object: *mut DRIVER_OBJECT,
    registry_path: *mut UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: forwarded unchanged from the I/O manager.
    unsafe { ndk_provider::miniport::driver_entry::<S, KernelNdis>(driver_object, registry_path) }
}
