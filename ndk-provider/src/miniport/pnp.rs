//! Pause, restart, device PnP events, shutdown and halt.
//!
//! Halt order (every NDK adapter was closed by NDIS first; after a surprise removal the
//! HAL failed everything outstanding, so those closes could complete): the NDK work item
//! is waited for, the context drops its references, then [`super::init::Parts`] releases
//! the raw queue, the interrupt, the device and HAL (which quiesces the silicon), DMA and
//! the BARs. Nothing calls NDIS or a consumer for the adapter afterwards.

use core::sync::atomic::Ordering;

use crate::abi::*;

use super::context::{free_context, AdapterState, Miniport};
use super::{init, ndk, Ndis, Silicon};

/// MiniportPause: sends stop (completed with `NDIS_STATUS_PAUSED`), receive indications
/// stop; pends until posted sends completed and indicated receives returned.
pub unsafe extern "system" fn pause<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    _params: *mut NDIS_MINIPORT_PAUSE_PARAMETERS,
) -> NDIS_STATUS {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return NDIS_STATUS_FAILURE;
    };
    mp.set_state(AdapterState::Pausing);
    if mp.eth.pause() {
        mp.set_state(AdapterState::Paused);
        NDIS_STATUS_SUCCESS
    } else {
        NDIS_STATUS_PENDING
    }
}

/// MiniportRestart.
pub unsafe extern "system" fn restart<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    _params: *mut NDIS_MINIPORT_RESTART_PARAMETERS,
) -> NDIS_STATUS {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return NDIS_STATUS_FAILURE;
    };
    if mp.removed.load(Ordering::Acquire) {
        return NDIS_STATUS_ADAPTER_REMOVED;
    }
    mp.eth.restart();
    mp.set_state(AdapterState::Running);
    NDIS_STATUS_SUCCESS
}

/// MiniportDevicePnPEventNotify: on surprise removal nothing reaches the device any more;
/// the HAL fails what it waits for (so every outstanding NDK request completes and armed
/// CQs are told, through the provider's device), NDK opens are refused, and outstanding
/// sends complete.
pub unsafe extern "system" fn device_pnp_event_notify<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    event: *mut NET_DEVICE_PNP_EVENT,
) {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return;
    };
    // SAFETY: NDIS's event block for the call.
    let Some(e) = (unsafe { event.as_ref() }) else {
        return;
    };
    if e.DevicePnPEvent != NdisDevicePnPEventSurpriseRemoved {
        return;
    }
    if mp.removed.swap(true, Ordering::AcqRel) {
        return;
    }
    mp.ndk.enabled.store(false, Ordering::Release);
    S::surprise_removed(&mp.hal);
    mp.eth.removed();
}

/// MiniportShutdownEx: on power-off (PASSIVE_LEVEL) the raw queue is flushed so the
/// device stops writing frames to host memory; nothing is freed. On a bug check (high
/// IRQL, nothing may wait) nothing is done.
pub unsafe extern "system" fn shutdown_ex<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    action: NDIS_SHUTDOWN_ACTION,
) {
    if action != NdisShutdownPowerOff {
        return;
    }
    // SAFETY: NDIS passes the context of a live adapter.
    if let Some(mp) = unsafe { Miniport::<S, N>::from_context(ctx) } {
        mp.eth.removed();
    }
}

/// MiniportHaltEx (PASSIVE_LEVEL).
pub unsafe extern "system" fn halt_ex<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    _action: NDIS_HALT_ACTION,
) {
    // SAFETY: NDIS passes the context of a live adapter; it calls nothing else on it now.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return;
    };
    mp.set_state(AdapterState::Halted);
    mp.ndk.enabled.store(false, Ordering::Release);
    ndk::wait_for_work(mp);
    let parts = init::take_parts(mp);
    // SAFETY: filled by MiniportInitializeEx; NDIS never uses the context after halt.
    unsafe { free_context::<Miniport<S, N>>(ctx) };
    drop(parts);
}
