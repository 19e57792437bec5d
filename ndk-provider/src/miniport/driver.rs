//! DriverEntry, the miniport driver characteristics, MiniportSetOptions (the NDK provider
//! characteristics, ndkpi.md §8.1) and MiniportDriverUnload.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::*;

use super::{init, ndk, oid, pnp};
use super::{Ndis, Silicon};

/// Driver version reported in the characteristics.
const DRIVER_MAJOR_VERSION: u8 = 1;
const DRIVER_MINOR_VERSION: u8 = 0;

/// Driver objects and the miniport driver handle NDIS gave each: MiniportDriverUnload gets
/// only the driver object. A kernel image registers one driver; the host tests load many,
/// concurrently, hence a small lock-free table instead of one global.
struct DriverSlot {
    object: AtomicUsize,
    handle: AtomicUsize,
}

const DRIVER_SLOTS: usize = 64;
static DRIVERS: [DriverSlot; DRIVER_SLOTS] = [const {
    DriverSlot {
        object: AtomicUsize::new(0),
        handle: AtomicUsize::new(0),
    }
}; DRIVER_SLOTS];

fn remember(object: *mut DRIVER_OBJECT, handle: NDIS_HANDLE) -> bool {
    // A driver object at the address of one never unloaded (a host test that stopped
    // early) replaces it.
    if let Some(s) = DRIVERS
        .iter()
        .find(|s| s.object.load(Ordering::Acquire) == object as usize)
    {
        s.handle.store(handle as usize, Ordering::Release);
        return true;
    }
    for s in DRIVERS.iter() {
        if s.object
            .compare_exchange(0, object as usize, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            s.handle.store(handle as usize, Ordering::Release);
            return true;
        }
    }
    false
}

fn forget(object: *mut DRIVER_OBJECT) -> Option<NDIS_HANDLE> {
    let s = DRIVERS
        .iter()
        .find(|s| s.object.load(Ordering::Acquire) == object as usize)?;
    let h = s.handle.swap(0, Ordering::AcqRel);
    s.object.store(0, Ordering::Release);
    Some(h as NDIS_HANDLE)
}

/// The miniport driver characteristics for silicon `S` over NDIS `N` (NDIS 6.30,
/// revision 2).
pub fn characteristics<S: Silicon<N::Platform>, N: Ndis>() -> NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
            Revision: NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            Size: NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        MajorNdisVersion: NDIS_MINIPORT_MAJOR_VERSION,
        MinorNdisVersion: NDIS_MINIPORT_MINOR_VERSION,
        MajorDriverVersion: DRIVER_MAJOR_VERSION,
        MinorDriverVersion: DRIVER_MINOR_VERSION,
        Flags: 0,
        SetOptionsHandler: Some(set_options::<S, N>),
        InitializeHandlerEx: Some(init::initialize_ex::<S, N>),
        HaltHandlerEx: Some(pnp::halt_ex::<S, N>),
        UnloadHandler: Some(unload::<N>),
        PauseHandler: Some(pnp::pause::<S, N>),
        RestartHandler: Some(pnp::restart::<S, N>),
        OidRequestHandler: Some(oid::oid_request::<S, N>),
        SendNetBufferListsHandler: Some(send_net_buffer_lists::<S, N>),
        ReturnNetBufferListsHandler: Some(return_net_buffer_lists::<S, N>),
        CancelSendHandler: Some(cancel_send::<S, N>),
        CheckForHangHandlerEx: None,
        ResetHandlerEx: None,
        DevicePnPEventNotifyHandler: Some(pnp::device_pnp_event_notify::<S, N>),
        ShutdownHandlerEx: Some(pnp::shutdown_ex::<S, N>),
        CancelOidRequestHandler: Some(oid::cancel_oid_request::<S, N>),
        DirectOidRequestHandler: Some(oid::direct_oid_request::<S, N>),
        CancelDirectOidRequestHandler: Some(oid::cancel_oid_request::<S, N>),
    }
}

/// The NDK provider characteristics (ndkpi.md §8.1: Type 0xB2, Revision 1, Size 0x18).
pub fn ndk_characteristics<S: Silicon<N::Platform>, N: Ndis>() -> NDIS_NDK_PROVIDER_CHARACTERISTICS
{
    NDIS_NDK_PROVIDER_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS,
            Revision: NDIS_NDK_PROVIDER_CHARACTERISTICS_REVISION_1,
            Size: NDIS_SIZEOF_NDK_PROVIDER_CHARACTERISTICS_REVISION_1,
        },
        Flags: 0,
        OpenNDKAdapterHandler: ndk::open_ndk_adapter::<S, N>,
        CloseNDKAdapterHandler: ndk::close_ndk_adapter::<S, N>,
    }
}

/// DriverEntry of a per-silicon driver: registers the miniport driver with NDIS
/// (PASSIVE_LEVEL). NDIS calls MiniportSetOptions from inside the registration.
///
/// # Safety
/// Called once per driver object, with the I/O manager's driver object and registry path.
pub unsafe fn driver_entry<S: Silicon<N::Platform>, N: Ndis>(
    driver_object: *mut DRIVER_OBJECT,
    registry_path: *mut UNICODE_STRING,
) -> NTSTATUS {
    let chars = characteristics::<S, N>();
    let mut handle: NDIS_HANDLE = null_mut();
    // SAFETY: the I/O manager's arguments, filled characteristics (NDIS copies them) and an
    // out handle.
    let status = unsafe {
        N::NdisMRegisterMiniportDriver(
            driver_object,
            registry_path,
            null_mut(),
            &chars,
            &mut handle,
        )
    };
    if status != NDIS_STATUS_SUCCESS {
        return status;
    }
    if !remember(driver_object, handle) {
        // SAFETY: the handle just registered, deregistered once.
        unsafe { N::NdisMDeregisterMiniportDriver(handle) };
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    STATUS_SUCCESS
}

/// MiniportSetOptions: registers the NDK provider characteristics (ndkpi.md §8.1 step 2).
unsafe extern "system" fn set_options<S: Silicon<N::Platform>, N: Ndis>(
    driver_handle: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
) -> NDIS_STATUS {
    let mut chars = ndk_characteristics::<S, N>();
    // SAFETY: NDIS's driver handle and the characteristics (NDIS copies them); the object
    // header tells NDIS what the optional handlers are.
    unsafe {
        N::NdisSetOptionalHandlers(
            driver_handle,
            (&mut chars as *mut NDIS_NDK_PROVIDER_CHARACTERISTICS)
                .cast::<NDIS_DRIVER_OPTIONAL_HANDLERS>(),
        )
    }
}

/// MiniportDriverUnload: deregisters the miniport driver (every adapter was halted).
unsafe extern "system" fn unload<N: Ndis>(driver_object: *mut DRIVER_OBJECT) {
    if let Some(h) = forget(driver_object) {
        // SAFETY: the handle DriverEntry registered, deregistered once.
        unsafe { N::NdisMDeregisterMiniportDriver(h) };
    }
}

/// MiniportSendNetBufferLists.
unsafe extern "system" fn send_net_buffer_lists<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    nbls: *mut NET_BUFFER_LIST,
    _port: NDIS_PORT_NUMBER,
    flags: u32,
) {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { super::context::Miniport::<S, N>::from_context(ctx) }) else {
        return;
    };
    // SAFETY: NDIS hands the chain to the miniport.
    unsafe {
        mp.eth
            .send(nbls, flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL != 0)
    };
}

/// MiniportReturnNetBufferLists.
unsafe extern "system" fn return_net_buffer_lists<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    nbls: *mut NET_BUFFER_LIST,
    _flags: u32,
) {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { super::context::Miniport::<S, N>::from_context(ctx) }) else {
        return;
    };
    // SAFETY: receive NBLs this adapter indicated.
    unsafe { mp.eth.return_nbls(nbls) };
}

/// MiniportCancelSend: nothing is cancelled. NBLs wait only for a transmit slot, which
/// frees within microseconds while the link runs, and a pause completes every waiting NBL
/// with `NDIS_STATUS_PAUSED`.
unsafe extern "system" fn cancel_send<S: Silicon<N::Platform>, N: Ndis>(
    _ctx: NDIS_HANDLE,
    _cancel_id: *mut core::ffi::c_void,
) {
}
