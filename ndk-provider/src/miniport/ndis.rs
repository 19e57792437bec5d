//! The NDIS services the miniport glue calls, as a trait of static functions.
//!
//! The driver crate implements it over the real `ndis.sys` / `ntoskrnl.exe` imports; the
//! host tests implement it with a fake NDIS of the project's own ([`super::fake`]). Every
//! function has the name, argument order and meaning of the NDIS function it stands for, so
//! the kernel implementation is a one-line forward and this list is the import list.

// The functions keep their NDIS names.
#![allow(non_snake_case)]

use core::ffi::c_void;

use crate::abi::*;

/// NDIS, as the glue sees it.
///
/// # Safety
/// Implementations must behave as the NDIS function of the same name documents (pointers
/// valid for the documented duration, handles as NDIS issues them); the glue relies on it for
/// memory safety.
pub unsafe trait Ndis: 'static {
    /// Host services (DMA memory, locks, time, DPCs) for one miniport adapter.
    type Platform: hal::Platform + Clone;

    /// The platform of a miniport adapter, after its scatter-gather DMA registration.
    ///
    /// # Safety
    /// `adapter` and `dma` are the handles NDIS gave for this adapter.
    unsafe fn platform(
        adapter: NDIS_HANDLE,
        dma: NDIS_HANDLE,
    ) -> Result<Self::Platform, NDIS_STATUS>;

    /// `NdisMRegisterMiniportDriver`.
    unsafe fn NdisMRegisterMiniportDriver(
        driver_object: *mut DRIVER_OBJECT,
        registry_path: *mut UNICODE_STRING,
        driver_context: NDIS_HANDLE,
        characteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        driver_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// `NdisMDeregisterMiniportDriver`.
    unsafe fn NdisMDeregisterMiniportDriver(driver_handle: NDIS_HANDLE);
    /// `NdisSetOptionalHandlers` (with `NDIS_NDK_PROVIDER_CHARACTERISTICS`).
    unsafe fn NdisSetOptionalHandlers(
        ndis_handle: NDIS_HANDLE,
        handlers: *mut NDIS_DRIVER_OPTIONAL_HANDLERS,
    ) -> NDIS_STATUS;
    /// `NdisMSetMiniportAttributes`.
    unsafe fn NdisMSetMiniportAttributes(
        adapter: NDIS_HANDLE,
        attributes: *mut NDIS_MINIPORT_ADAPTER_ATTRIBUTES,
    ) -> NDIS_STATUS;

    /// `NdisOpenConfigurationEx`.
    unsafe fn NdisOpenConfigurationEx(
        config_object: *mut NDIS_CONFIGURATION_OBJECT,
        config_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// `NdisReadConfiguration`.
    unsafe fn NdisReadConfiguration(
        status: *mut NDIS_STATUS,
        value: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        config_handle: NDIS_HANDLE,
        keyword: *mut NDIS_STRING,
        parameter_type: NDIS_PARAMETER_TYPE,
    );
    /// `NdisCloseConfiguration`.
    unsafe fn NdisCloseConfiguration(config_handle: NDIS_HANDLE);

    /// `NdisMMapIoSpace`.
    unsafe fn NdisMMapIoSpace(
        virtual_address: *mut *mut c_void,
        adapter: NDIS_HANDLE,
        physical_address: NDIS_PHYSICAL_ADDRESS,
        length: u32,
    ) -> NDIS_STATUS;
    /// `NdisMUnmapIoSpace`.
    unsafe fn NdisMUnmapIoSpace(adapter: NDIS_HANDLE, virtual_address: *mut c_void, length: u32);
    /// `NdisMRegisterScatterGatherDma`.
    unsafe fn NdisMRegisterScatterGatherDma(
        adapter: NDIS_HANDLE,
        description: *mut NDIS_SG_DMA_DESCRIPTION,
        dma_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// `NdisMDeregisterScatterGatherDma`.
    unsafe fn NdisMDeregisterScatterGatherDma(dma_handle: NDIS_HANDLE);

    /// `NdisMRegisterInterruptEx`.
    unsafe fn NdisMRegisterInterruptEx(
        adapter: NDIS_HANDLE,
        interrupt_context: NDIS_HANDLE,
        characteristics: *mut NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        interrupt_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// `NdisMDeregisterInterruptEx`.
    unsafe fn NdisMDeregisterInterruptEx(interrupt_handle: NDIS_HANDLE);

    /// `NdisAllocateIoWorkItem`.
    unsafe fn NdisAllocateIoWorkItem(ndis_object: NDIS_HANDLE) -> NDIS_HANDLE;
    /// `NdisQueueIoWorkItem`.
    unsafe fn NdisQueueIoWorkItem(
        work_item: NDIS_HANDLE,
        routine: NDIS_IO_WORKITEM_ROUTINE,
        context: *mut c_void,
    );
    /// `NdisFreeIoWorkItem`.
    unsafe fn NdisFreeIoWorkItem(work_item: NDIS_HANDLE);

    /// `NdisMNetPnPEvent` (NetEventNDKEnable / NetEventNDKDisable; PASSIVE_LEVEL, may block).
    unsafe fn NdisMNetPnPEvent(
        adapter: NDIS_HANDLE,
        notification: *mut NET_PNP_EVENT_NOTIFICATION,
    ) -> NDIS_STATUS;
    /// `NdisMPauseComplete`: finishes a MiniportPause that returned `NDIS_STATUS_PENDING`
    /// (once the last posted send completed and the last indicated receive came back).
    unsafe fn NdisMPauseComplete(adapter: NDIS_HANDLE);
    /// `NdisMIndicateStatusEx` (link state).
    unsafe fn NdisMIndicateStatusEx(adapter: NDIS_HANDLE, indication: *mut NDIS_STATUS_INDICATION);

    /// `NdisAllocateNetBufferListPool`.
    unsafe fn NdisAllocateNetBufferListPool(
        ndis_handle: NDIS_HANDLE,
        parameters: *mut NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE;
    /// `NdisFreeNetBufferListPool`.
    unsafe fn NdisFreeNetBufferListPool(pool: NDIS_HANDLE);
    /// `NdisAllocateNetBufferAndNetBufferList`.
    unsafe fn NdisAllocateNetBufferAndNetBufferList(
        pool: NDIS_HANDLE,
        context_size: u16,
        context_backfill: u16,
        mdl_chain: *mut MDL,
        data_offset: u32,
        data_length: usize,
    ) -> *mut NET_BUFFER_LIST;
    /// `NdisFreeNetBufferList`.
    unsafe fn NdisFreeNetBufferList(nbl: *mut NET_BUFFER_LIST);
    /// `NdisAllocateMdl`.
    unsafe fn NdisAllocateMdl(ndis_handle: NDIS_HANDLE, va: *mut c_void, length: u32) -> *mut MDL;
    /// `NdisFreeMdl`.
    unsafe fn NdisFreeMdl(mdl: *mut MDL);
    /// `MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority | MdlMappingNoExecute)`: the
    /// system address of an MDL's buffer, or null when it cannot be mapped.
    unsafe fn MmGetSystemAddressForMdlSafe(mdl: *mut MDL) -> *mut c_void;

    /// `NdisMIndicateReceiveNetBufferLists`.
    unsafe fn NdisMIndicateReceiveNetBufferLists(
        adapter: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        port: NDIS_PORT_NUMBER,
        count: u32,
        flags: u32,
    );
    /// `NdisMSendNetBufferListsComplete`.
    unsafe fn NdisMSendNetBufferListsComplete(
        adapter: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        flags: u32,
    );
}
