//! `hal::Platform` in the Windows kernel: `KSPIN_LOCK`s, the interrupt-time clock, NDIS
//! shared memory for DMA, and DPCs for deferred work.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, Ordering};

use hal::karc::{Finalize, KArc};
use hal::platform::DeferredWork;
use hal::{DmaRegion, HalError, HalResult, Platform};

use crate::imports::*;

/// A `KSPIN_LOCK` as a `lock_api` mutex: acquiring raises to DISPATCH_LEVEL, and the IRQL to
/// return to is kept in the lock (only its holder reads or writes it).
pub struct KSpinLock {
    lock: UnsafeCell<KSPIN_LOCK>,
    old_irql: UnsafeCell<KIRQL>,
}

// SAFETY: the kernel serializes access to the KSPIN_LOCK word; `old_irql` is touched only by
// the holder of the lock.
unsafe impl Send for KSpinLock {}
// SAFETY: as above.
unsafe impl Sync for KSpinLock {}

// SAFETY: KeAcquireSpinLockRaiseToDpc / KeTryToAcquireSpinLockAtDpcLevel give mutual
// exclusion; the guard is `!Send` because the saved IRQL belongs to the acquiring processor.
unsafe impl lock_api::RawMutex for KSpinLock {
    // KeInitializeSpinLock stores 0 on x64.
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: KSpinLock = KSpinLock {
        lock: UnsafeCell::new(0),
        old_irql: UnsafeCell::new(PASSIVE_LEVEL),
    };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        // SAFETY: the lock word lives as long as `self`; callers run at <= DISPATCH_LEVEL.
        let old = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        // SAFETY: we hold the lock, so nobody else accesses `old_irql`.
        unsafe { *self.old_irql.get() = old };
    }

    fn try_lock(&self) -> bool {
        // SAFETY: raising to DISPATCH_LEVEL from <= DISPATCH_LEVEL, as KeRaiseIrql does.
        let old = unsafe { swap_irql(DISPATCH_LEVEL.max(current_irql())) };
        // SAFETY: at DISPATCH_LEVEL, as the function requires.
        if unsafe { KeTryToAcquireSpinLockAtDpcLevel(self.lock.get()) } != 0 {
            // SAFETY: we hold the lock.
            unsafe { *self.old_irql.get() = old };
            true
        } else {
            // SAFETY: back to the level the caller entered at.
            unsafe { swap_irql(old) };
            false
        }
    }

    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock (lock_api's contract), so `old_irql` is ours.
        let old = unsafe { *self.old_irql.get() };
        // SAFETY: releasing the lock this processor acquired, returning to its old IRQL.
        unsafe { KeReleaseSpinLock(self.lock.get(), old) }
    }
}

/// Deferred works a platform can queue at once. The provider defers one per adapter (the
/// interrupt DPC); a work beyond this many distinct ones is not run (see `defer`).
const DPC_SLOTS: usize = 8;

const SLOT_FREE: u8 = 0;
const SLOT_BUSY: u8 = 1;
const SLOT_READY: u8 = 2;

/// One `KDPC` bound to one `DeferredWork`, which it keeps alive.
struct DpcSlot {
    state: AtomicU8,
    dpc: UnsafeCell<KDPC>,
    work: UnsafeCell<Option<DeferredWork>>,
}

/// The DPCs of one adapter's platform; shared by its clones, never moved once allocated
/// (the kernel holds pointers to the KDPCs while they are queued).
struct DpcTable {
    slots: [DpcSlot; DPC_SLOTS],
}

impl Finalize for DpcTable {}

impl Drop for DpcTable {
    fn drop(&mut self) {
        for slot in &self.slots {
            if slot.state.load(Ordering::Acquire) == SLOT_READY {
                // SAFETY: the KDPC was initialized (READY) and is still in place.
                unsafe { KeRemoveQueueDpc(slot.dpc.get()) };
            }
        }
        // A DPC already running elsewhere must finish before its slot is freed.
        if current_irql() == PASSIVE_LEVEL {
            // SAFETY: PASSIVE_LEVEL, as KeFlushQueuedDpcs requires.
            unsafe { KeFlushQueuedDpcs() };
        }
    }
}

// SAFETY: slots are claimed with an atomic state; `dpc` and `work` are written only by the
// claimer before READY is published and read only after it.
unsafe impl Send for DpcTable {}
// SAFETY: as above.
unsafe impl Sync for DpcTable {}

/// The DPC routine: runs the slot's work at DISPATCH_LEVEL.
unsafe extern "system" fn run_deferred(
    _dpc: *mut KDPC,
    context: *mut c_void,
    _arg1: *mut c_void,
    _arg2: *mut c_void,
) {
    // SAFETY: `context` is the slot this KDPC was initialized with; the table outlives every
    // queued DPC (Drop removes and flushes them).
    let slot = unsafe { &*context.cast::<DpcSlot>() };
    // SAFETY: READY was published before the DPC was queued; `work` no longer changes.
    // The clone keeps the work alive even if running it drops the last platform (and so
    // this table); nothing below touches the slot after the call.
    if let Some(work) = unsafe { &*slot.work.get() }.clone() {
        work();
    }
}

/// The miniport adapter handle NDIS gave; NDIS functions taking it are callable from any
/// processor.
#[derive(Clone, Copy)]
struct AdapterHandle(*mut c_void);

// SAFETY: an NDIS handle is an opaque token valid on every processor.
unsafe impl Send for AdapterHandle {}
// SAFETY: as above.
unsafe impl Sync for AdapterHandle {}

/// `hal::Platform` for one miniport adapter.
#[derive(Clone)]
pub struct KernelPlatform {
    adapter: AdapterHandle,
    dpcs: KArc<DpcTable>,
}

impl KernelPlatform {
    /// The platform of a miniport adapter, or `None` when memory is short.
    ///
    /// # Safety
    /// `adapter` is the `MiniportAdapterHandle` NDIS gave, and scatter-gather DMA is
    /// registered for it (NdisMAllocateSharedMemory requires it), for as long as any clone
    /// lives.
    pub unsafe fn new(adapter: *mut c_void) -> Option<KernelPlatform> {
        let slots = core::array::from_fn(|_| DpcSlot {
            state: AtomicU8::new(SLOT_FREE),
            dpc: UnsafeCell::new(KDPC::zeroed()),
            work: UnsafeCell::new(None),
        });
        let dpcs = KArc::try_new(DpcTable { slots }).ok()?;
        Some(KernelPlatform {
            adapter: AdapterHandle(adapter),
            dpcs,
        })
    }

    /// The slot bound to `work`, binding a free one the first time.
    fn slot(&self, work: &DeferredWork) -> Option<&DpcSlot> {
        let slots = &self.dpcs.slots;
        let bound = slots.iter().find(|s| {
            s.state.load(Ordering::Acquire) == SLOT_READY
                // SAFETY: READY slots' `work` is immutable.
                && unsafe { &*s.work.get() }
                    .as_ref()
                    .is_some_and(|w| DeferredWork::ptr_eq(w, work))
        });
        if bound.is_some() {
            return bound;
        }
        let slot = slots.iter().find(|s| {
            s.state
                .compare_exchange(SLOT_FREE, SLOT_BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: the slot is BUSY, so only this caller touches it until READY is published.
        unsafe {
            *slot.work.get() = Some(work.clone());
            KeInitializeDpc(
                slot.dpc.get(),
                run_deferred,
                core::ptr::from_ref(slot).cast_mut().cast(),
            );
        }
        slot.state.store(SLOT_READY, Ordering::Release);
        Some(slot)
    }
}

const PAGE_SIZE: usize = 4096;
/// Pool tag of one-page DMA regions (`'amdR'`, shows as "Rdma").
const DMA_TAG: u32 = u32::from_le_bytes(*b"Rdma");

/// Rounds a length up to whole pages: DMA memory is page-granular.
fn page_round(len: usize) -> Option<usize> {
    len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1))
}

impl Platform for KernelPlatform {
    type RawLock = KSpinLock;

    fn now_ns(&self) -> u64 {
        // SAFETY: callable at any IRQL; a null QPC pointer is allowed.
        let ticks = unsafe { KeQueryInterruptTimePrecise(&mut 0) };
        ticks.saturating_mul(100)
    }

    fn stall_us(&self, us: u32) {
        // SAFETY: busy-waits; callable at any IRQL.
        unsafe { KeStallExecutionProcessor(us) }
    }

    // UNCONFIRMED: a page's bus address equals its physical address only without DMA
    // remapping (no IOMMU / Kernel DMA Protection for this device). A driver behind an IOMMU
    // must map MDLs through the DMA adapter (NdisMAllocateNetBufferSGList) instead.
    fn page_logical_address(&self, pfn: u64) -> u64 {
        pfn << 12
    }

    /// One page comes from non-paged pool, which works up to DISPATCH_LEVEL (NDK create
    /// calls may run there): a page-aligned page is physically contiguous, and its bus
    /// address is its physical address under the same assumption as `page_logical_address`.
    /// Larger regions are NDIS shared memory, which needs PASSIVE_LEVEL; above it they fail
    /// with `NoResources` rather than break the IRQL rule.
    fn alloc_dma(&self, len: usize) -> HalResult<DmaRegion> {
        let pages = page_round(len.max(1)).ok_or(HalError::NoResources)?;
        if pages == PAGE_SIZE {
            // SAFETY: a non-paged pool allocation (zeroed by ExAllocatePool2); a request of a
            // whole page returns a page-aligned page.
            let va = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, PAGE_SIZE, DMA_TAG) };
            let cpu = NonNull::new(va.cast::<u8>()).ok_or(HalError::NoResources)?;
            // SAFETY: `va` is resident non-paged memory; callable at <= DISPATCH_LEVEL.
            let pa = unsafe { MmGetPhysicalAddress(va) };
            // SAFETY: the page stays valid until free_dma returns it.
            return Ok(unsafe { DmaRegion::from_raw(cpu, pa as u64, len) });
        }
        if current_irql() != PASSIVE_LEVEL {
            return Err(HalError::NoResources);
        }
        let length = u32::try_from(pages).map_err(|_| HalError::NoResources)?;
        let mut va: *mut c_void = core::ptr::null_mut();
        let mut pa: i64 = 0;
        // SAFETY: the adapter handle is valid with SG DMA registered (`new`'s contract), at
        // PASSIVE_LEVEL (checked above).
        unsafe { NdisMAllocateSharedMemory(self.adapter.0, length, 1, &mut va, &mut pa) };
        let cpu = NonNull::new(va.cast::<u8>()).ok_or(HalError::NoResources)?;
        // SAFETY: `pages` bytes were just allocated at `cpu`; NDIS does not zero them.
        unsafe { core::ptr::write_bytes(cpu.as_ptr(), 0, pages) };
        // SAFETY: the memory stays valid until free_dma returns it.
        Ok(unsafe { DmaRegion::from_raw(cpu, pa as u64, len) })
    }

    /// Shared memory freed above PASSIVE_LEVEL cannot be returned to NDIS there and is
    /// leaked (see docs/windows.md).
    fn free_dma(&self, region: DmaRegion) {
        let Some(pages) = page_round(region.len().max(1)) else {
            return;
        };
        if pages == PAGE_SIZE {
            // SAFETY: a one-page region came from ExAllocatePool2 with this tag.
            unsafe { ExFreePoolWithTag(region.cpu_ptr().as_ptr().cast(), DMA_TAG) };
            return;
        }
        let Ok(length) = u32::try_from(pages) else {
            return;
        };
        if current_irql() != PASSIVE_LEVEL {
            return;
        }
        // SAFETY: the region came from alloc_dma with this length, cache type and addresses;
        // PASSIVE_LEVEL (checked above).
        unsafe {
            NdisMFreeSharedMemory(
                self.adapter.0,
                length,
                1,
                region.cpu_ptr().as_ptr().cast(),
                region.bus_address() as i64,
            )
        }
    }

    /// Queues the work's DPC. A work already queued is not queued twice (it runs once, later).
    /// Binding a new work needs a free slot; past `DPC_SLOTS` distinct works the work is not
    /// run.
    fn defer(&self, work: &DeferredWork) {
        let Some(slot) = self.slot(work) else {
            return;
        };
        // SAFETY: the KDPC is initialized (READY) and lives as long as the table, which
        // removes and flushes it before it is freed.
        unsafe { KeInsertQueueDpc(slot.dpc.get(), core::ptr::null_mut(), core::ptr::null_mut()) };
    }
}
