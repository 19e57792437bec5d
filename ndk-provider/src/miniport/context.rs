//! The miniport adapter context: everything one NIC function owns between
//! MiniportInitializeEx and MiniportHaltEx, and the adapter's NDIS state machine.
//!
//! NDIS holds the context as an opaque `MiniportAdapterContext`. It is allocated before the
//! registration attributes are set (NDIS wants the pointer first), filled at the end of
//! MiniportInitializeEx, and dropped in MiniportHaltEx, when NDIS calls nothing else on it.

use alloc::alloc::{alloc, dealloc, Layout};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::abi::*;
use crate::device::{Device, Lock};
use crate::karc::{KArc, Plain};

use super::ethernet::EthPort;
use super::ndk::NdkState;
use super::oid::OidState;
use super::{Ndis, Silicon};

/// The HAL of silicon `S` on the platform of NDIS `N`.
pub type HalOf<S, N> = <S as Silicon<<N as Ndis>::Platform>>::Hal;

/// The HAL of silicon `S`, shared (allocated fallibly at MiniportInitializeEx).
pub type HalArc<S, N> = KArc<Plain<HalOf<S, N>>>;

/// An NDIS handle kept in shared state. NDIS handles are opaque tokens valid on any
/// processor for the object's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(pub NDIS_HANDLE);

// SAFETY: an NDIS handle is an opaque token NDIS accepts from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; the glue never dereferences it.
unsafe impl Sync for Handle {}

impl Handle {
    /// No handle.
    pub const NULL: Handle = Handle(core::ptr::null_mut());

    /// True when NDIS gave no handle.
    pub fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

/// Where the adapter stands in the NDIS miniport state machine (MiniportInitializeEx leaves
/// it Paused; NDIS restarts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AdapterState {
    /// MiniportInitializeEx is running.
    Initializing = 0,
    /// Sends and receives flow.
    Running = 1,
    /// MiniportPause returned `NDIS_STATUS_PENDING`; sends fail with `NDIS_STATUS_PAUSED`.
    Pausing = 2,
    /// Paused: no sends, no receive indications.
    Paused = 3,
    /// MiniportHaltEx ran.
    Halted = 4,
}

impl AdapterState {
    fn from_u8(v: u8) -> AdapterState {
        match v {
            0 => AdapterState::Initializing,
            1 => AdapterState::Running,
            2 => AdapterState::Pausing,
            3 => AdapterState::Paused,
            _ => AdapterState::Halted,
        }
    }
}

/// Most memory BARs a silicon may ask for.
pub const MAX_BARS: usize = 6;

/// The mapped memory BARs, to unmap at halt.
#[derive(Clone, Copy, Debug)]
pub struct Bars {
    /// (virtual address, length) per mapped BAR, in resource-list order.
    pub mapped: [(usize, u32); MAX_BARS],
    /// How many entries of `mapped` are used.
    pub count: usize,
}

impl Bars {
    /// None mapped.
    pub const fn new() -> Bars {
        Bars {
            mapped: [(0, 0); MAX_BARS],
            count: 0,
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

/// One miniport adapter.
pub struct Miniport<S: Silicon<N::Platform>, N: Ndis> {
    /// `MiniportAdapterHandle`.
    pub handle: Handle,
    /// `NdisMRegisterScatterGatherDma` handle.
    pub dma: Handle,
    /// Mapped BARs.
    pub bars: Bars,
    /// `NdisMRegisterInterruptEx` handle.
    pub interrupt: Handle,
    /// The interrupt context given to NDIS: a leaked reference of the HAL, reclaimed at
    /// halt.
    pub interrupt_ctx: *const HalOf<S, N>,
    /// The HAL (shared with the device, the interrupt DPC and the raw queue service).
    pub hal: HalArc<S, N>,
    /// The provider's device, shared by every NDK adapter opened on the miniport.
    pub dev: KArc<Device<HalOf<S, N>>>,
    /// The raw Ethernet queue and the NBLs around it.
    pub eth: KArc<EthPort<S, N>>,
    /// NDK enable state and the work item that indicates it.
    pub ndk: NdkState,
    /// Packet filter, lookahead, multicast list.
    pub oid: Lock<HalOf<S, N>, OidState>,
    pub(crate) state: AtomicU8,
    /// Surprise removal was reported: nothing reaches the device any more.
    pub removed: AtomicBool,
    pub(crate) _ndis: PhantomData<fn() -> (S, N)>,
}

// SAFETY: `interrupt_ctx` is a HAL reference leaked to NDIS; it is only turned back into a
// `KArc` at halt. Everything else is `Send + Sync` or an NDIS handle.
unsafe impl<S: Silicon<N::Platform>, N: Ndis> Send for Miniport<S, N> {}
// SAFETY: as above.
unsafe impl<S: Silicon<N::Platform>, N: Ndis> Sync for Miniport<S, N> {}

impl<S: Silicon<N::Platform>, N: Ndis> Miniport<S, N> {
    /// Current state.
    pub fn state(&self) -> AdapterState {
        AdapterState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves to `s`.
    pub fn set_state(&self, s: AdapterState) {
        self.state.store(s as u8, Ordering::Release);
    }

    pub(crate) fn initial_state() -> AtomicU8 {
        AtomicU8::new(AdapterState::Initializing as u8)
    }

    /// The context NDIS passes to every MiniportXxx handler.
    ///
    /// # Safety
    /// `ctx` must be a `MiniportAdapterContext` this glue registered and NDIS has not halted.
    pub unsafe fn from_context<'a>(ctx: NDIS_HANDLE) -> Option<&'a Miniport<S, N>> {
        // SAFETY: per the contract, `ctx` points to a filled, live context.
        unsafe { ctx.cast::<Miniport<S, N>>().as_ref() }
    }
}

/// Memory for a context, allocated before the context can be built (the registration
/// attributes need its address) and filled once built.
pub struct ContextSlot<T> {
    ptr: NonNull<T>,
}

impl<T> ContextSlot<T> {
    /// Allocates room for a `T`; `None` when memory is short.
    pub fn alloc() -> Option<ContextSlot<T>> {
        let layout = Layout::new::<T>();
        if layout.size() == 0 {
            return None;
        }
        // SAFETY: the layout has a non-zero size (checked above).
        let raw = unsafe { alloc(layout) }.cast::<T>();
        NonNull::new(raw).map(|ptr| ContextSlot { ptr })
    }

    /// The address NDIS will hand back as `MiniportAdapterContext`.
    pub fn as_handle(&self) -> NDIS_HANDLE {
        self.ptr.as_ptr().cast::<c_void>()
    }

    /// Moves `value` in; the context is live until [`free_context`].
    pub fn fill(self, value: T) -> NDIS_HANDLE {
        // SAFETY: `ptr` is a fresh allocation with the layout of `T`, not yet written.
        unsafe { self.ptr.as_ptr().write(value) };
        let h = self.as_handle();
        core::mem::forget(self);
        h
    }
}

impl<T> Drop for ContextSlot<T> {
    /// An unfilled slot (initialization failed) is returned unread.
    fn drop(&mut self) {
        // SAFETY: allocated in `alloc` with this layout and never filled.
        unsafe { dealloc(self.ptr.as_ptr().cast::<u8>(), Layout::new::<T>()) };
    }
}

/// Drops a filled context and frees its memory (MiniportHaltEx, last step).
///
/// # Safety
/// `ctx` must come from [`ContextSlot::fill`] with the same `T`, and nothing may use it
/// afterwards.
pub unsafe fn free_context<T>(ctx: NDIS_HANDLE) {
    let p = ctx.cast::<T>();
    if p.is_null() {
        return;
    }
    // SAFETY: per the contract, `p` holds a live `T` in memory from `ContextSlot::alloc`.
    unsafe {
        core::ptr::drop_in_place(p);
        dealloc(p.cast::<u8>(), Layout::new::<T>());
    }
}
