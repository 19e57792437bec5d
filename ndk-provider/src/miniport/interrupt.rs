//! Interrupts: MSI-X (and line-based) ISRs that claim the interrupt and queue the DPC, and
//! DPCs that run the silicon's interrupt service, which turns device events into HAL events
//! and hands them to the provider's event DPC (`Device::process_events`).
//!
//! The interrupt context NDIS passes back is a leaked reference of the HAL (a [`KArc`]), so
//! the ISR and DPC need nothing else of the adapter; MiniportHaltEx deregisters the
//! interrupt (after which NDIS calls neither) before it reclaims the reference.

use crate::abi::*;
use crate::karc::{KArc, Plain};

use super::context::{HalArc, HalOf, Handle};
use super::{Ndis, Silicon};

/// Registers the ISRs and DPCs with `hal` as their context. Returns the interrupt handle
/// and the context to reclaim with [`deregister`].
pub fn register<S: Silicon<N::Platform>, N: Ndis>(
    handle: Handle,
    hal: &HalArc<S, N>,
) -> Result<(Handle, *const HalOf<S, N>), NDIS_STATUS> {
    // The value is at offset 0 of the allocation and `Plain` is transparent: the address
    // is the HAL's.
    let ctx = KArc::into_raw(hal.clone()) as usize as *const HalOf<S, N>;
    let mut chars = NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
            Revision: NDIS_MINIPORT_INTERRUPT_REVISION_1,
            Size: NDIS_SIZEOF_MINIPORT_INTERRUPT_CHARACTERISTICS_REVISION_1,
        },
        InterruptHandler: Some(isr),
        InterruptDpcHandler: Some(dpc::<S, N>),
        DisableInterruptHandler: None,
        EnableInterruptHandler: None,
        MsiSupported: 1,
        MsiSyncWithAllMessages: 0,
        MessageInterruptHandler: Some(message_isr),
        MessageInterruptDpcHandler: Some(message_dpc::<S, N>),
        DisableMessageInterruptHandler: None,
        EnableMessageInterruptHandler: None,
        InterruptType: 0,
        MessageInfoTable: core::ptr::null_mut(),
    };
    let mut ih: NDIS_HANDLE = core::ptr::null_mut();
    // SAFETY: the adapter's handle, filled characteristics and an out handle; `ctx` stays
    // valid until `deregister`.
    let status = unsafe {
        N::NdisMRegisterInterruptEx(handle.0, ctx.cast_mut().cast(), &mut chars, &mut ih)
    };
    if status != NDIS_STATUS_SUCCESS {
        // SAFETY: `ctx` came from `KArc::into_raw` above and NDIS did not keep it.
        drop(unsafe { KArc::<Plain<HalOf<S, N>>>::from_raw(ctx as usize as u64) });
        return Err(status);
    }
    Ok((Handle(ih), ctx))
}

/// Deregisters the interrupt (NDIS then calls no ISR or DPC) and reclaims the context.
///
/// # Safety
/// `ih` and `ctx` come from one successful [`register`], not yet deregistered.
pub unsafe fn deregister<S: Silicon<N::Platform>, N: Ndis>(ih: Handle, ctx: *const HalOf<S, N>) {
    // SAFETY: per the contract.
    unsafe {
        N::NdisMDeregisterInterruptEx(ih.0);
        drop(KArc::<Plain<HalOf<S, N>>>::from_raw(ctx as usize as u64));
    }
}

/// # Safety
/// `ctx` is the interrupt context given at registration and still registered.
unsafe fn hal_of<'a, S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
) -> Option<&'a HalOf<S, N>> {
    // SAFETY: per the contract, `ctx` is the address of a live `KArc` of the HAL.
    unsafe { ctx.cast::<HalOf<S, N>>().cast_const().as_ref() }
}

/// Claims the interrupt and asks for the default DPC. The device's interrupt cause is read
/// and cleared in the DPC by the silicon's service routine.
///
/// # Safety
/// Out pointers are null or writable.
unsafe fn claim(queue_dpc: *mut BOOLEAN, target: *mut u32) -> BOOLEAN {
    // SAFETY: per the contract.
    unsafe {
        if !queue_dpc.is_null() {
            *queue_dpc = 1;
        }
        if !target.is_null() {
            *target = 0;
        }
    }
    1
}

/// MiniportInterrupt (line-based).
unsafe extern "system" fn isr(
    _ctx: NDIS_HANDLE,
    queue_dpc: *mut BOOLEAN,
    target: *mut u32,
) -> BOOLEAN {
    // SAFETY: NDIS's out parameters.
    unsafe { claim(queue_dpc, target) }
}

/// MiniportInterruptDPC (line-based).
unsafe extern "system" fn dpc<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    _dpc_ctx: *mut core::ffi::c_void,
    _throttle: *mut core::ffi::c_void,
    _reserved: *mut core::ffi::c_void,
) {
    // SAFETY: the registered context.
    if let Some(hal) = unsafe { hal_of::<S, N>(ctx) } {
        S::interrupt(hal);
    }
}

/// MiniportMessageInterrupt (MSI-X).
unsafe extern "system" fn message_isr(
    _ctx: NDIS_HANDLE,
    _message: u32,
    queue_dpc: *mut BOOLEAN,
    target: *mut u32,
) -> BOOLEAN {
    // SAFETY: NDIS's out parameters.
    unsafe { claim(queue_dpc, target) }
}

/// MiniportMessageInterruptDPC (MSI-X): every vector runs the one service routine, which
/// drains the device's event queue.
unsafe extern "system" fn message_dpc<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    _message: u32,
    _dpc_ctx: *mut core::ffi::c_void,
    _throttle: *mut core::ffi::c_void,
    _reserved: *mut core::ffi::c_void,
) {
    // SAFETY: the registered context.
    if let Some(hal) = unsafe { hal_of::<S, N>(ctx) } {
        S::interrupt(hal);
    }
}
