//! Platform services a driver needs, so backends and the provider run unchanged in the
//! Windows kernel (NDIS shared memory, KSPIN_LOCK, KeQueryInterruptTime, DPCs) and in tests.

use core::ptr::NonNull;

use crate::karc::KFn;
use crate::HalResult;

/// Deferred work: queued from any IRQL, run later at PASSIVE or DISPATCH level, like an
/// `IO_WORKITEM` or a DPC. Created once (fallibly, [`KFn::try_new`]) and queued many times,
/// so queueing never allocates; [`KFn::ptr_eq`] tells whether a work is already queued.
pub type DeferredWork = KFn;

/// Host services. Implemented by the per-silicon driver crate over NDIS, and by the mock.
pub trait Platform: Send + Sync + 'static {
    /// A spin lock that is safe at DISPATCH_LEVEL (in the kernel it raises IRQL).
    type RawLock: lock_api::RawMutex + Send + Sync;

    /// Monotonic time in nanoseconds.
    fn now_ns(&self) -> u64;

    /// Busy-waits; for register polling during bring-up only.
    fn stall_us(&self, us: u32);

    /// The device logical (bus) address of a locked host page, given its page frame number
    /// as an MDL carries it.
    fn page_logical_address(&self, pfn: u64) -> u64;

    /// Allocates `len` bytes of zeroed, DMA-coherent memory aligned to a page.
    fn alloc_dma(&self, len: usize) -> HalResult<DmaRegion>;

    /// Returns memory from [`Platform::alloc_dma`].
    fn free_dma(&self, region: DmaRegion);

    /// Runs `work` later, outside the caller's locks and call stack.
    fn defer(&self, work: &DeferredWork);
}

/// A DMA-coherent buffer: host-visible through `cpu`, device-visible at `bus`.
///
/// Accessors are volatile and bounds-checked, because the device writes this memory behind
/// the compiler's back and a bad offset must not become a stray write.
#[derive(Debug)]
pub struct DmaRegion {
    cpu: NonNull<u8>,
    bus: u64,
    len: usize,
}

// SAFETY: a DmaRegion is an owned allocation; all access goes through volatile,
// bounds-checked accessors, and callers serialize writers per ring.
unsafe impl Send for DmaRegion {}
// SAFETY: as above; shared readers only perform volatile reads.
unsafe impl Sync for DmaRegion {}

impl DmaRegion {
    /// Wraps memory a platform allocated.
    ///
    /// # Safety
    /// `cpu` must point to `len` bytes that stay valid, and are accessed only through this
    /// region and the device, until the region is returned with [`Platform::free_dma`].
    pub unsafe fn from_raw(cpu: NonNull<u8>, bus: u64, len: usize) -> DmaRegion {
        DmaRegion { cpu, bus, len }
    }

    /// Host address, for the platform that frees it.
    pub fn cpu_ptr(&self) -> NonNull<u8> {
        self.cpu
    }

    /// Device address.
    pub fn bus_address(&self) -> u64 {
        self.bus
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty region.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, offset: usize, n: usize) -> Option<*mut u8> {
        let end = offset.checked_add(n)?;
        if end > self.len {
            return None;
        }
        // SAFETY: offset + n <= len, so the pointer stays inside the allocation.
        Some(unsafe { self.cpu.as_ptr().add(offset) })
    }

    /// Copies `src` into the region at `offset`; `false` when it does not fit.
    pub fn write(&self, offset: usize, src: &[u8]) -> bool {
        let Some(p) = self.check(offset, src.len()) else {
            return false;
        };
        for (i, b) in src.iter().enumerate() {
            // SAFETY: `check` proved offset + src.len() is inside the region.
            unsafe { p.add(i).write_volatile(*b) };
        }
        true
    }

    /// Copies from the region at `offset` into `dst`; `false` when out of bounds.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> bool {
        let Some(p) = self.check(offset, dst.len()) else {
            return false;
        };
        for (i, b) in dst.iter_mut().enumerate() {
            // SAFETY: `check` proved offset + dst.len() is inside the region.
            *b = unsafe { p.add(i).read_volatile() };
        }
        true
    }

    /// Writes a little-endian u64 at `offset` (8-byte aligned for device atomicity).
    pub fn write_u64(&self, offset: usize, v: u64) -> bool {
        self.write(offset, &v.to_le_bytes())
    }

    /// Reads a little-endian u64 at `offset`.
    pub fn read_u64(&self, offset: usize) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(offset, &mut b).then(|| u64::from_le_bytes(b))
    }
}

/// A mapped device register window (a PCI BAR), viewed as a tock-registers block.
///
/// In the kernel the driver crate maps the BAR with `NdisMMapIoSpace`; in tests a device
/// model provides the memory. Backends only ever see typed register blocks.
#[derive(Debug)]
pub struct MmioRegion {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: register blocks are accessed only through volatile cell types (tock-registers
// wraps every register in `UnsafeCell`); sharing the window is what a device requires.
unsafe impl Send for MmioRegion {}
// SAFETY: as above.
unsafe impl Sync for MmioRegion {}

impl MmioRegion {
    /// Wraps a mapped window.
    ///
    /// # Safety
    /// `base` must point to `len` bytes of device registers (or memory standing in for them,
    /// made of `UnsafeCell`s) that stay mapped while the region and every block viewed
    /// through it live, and are aligned to at least 4096 bytes.
    pub unsafe fn from_raw(base: NonNull<u8>, len: usize) -> MmioRegion {
        MmioRegion { base, len }
    }

    /// Length of the window in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty window.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The register block `T` at `offset`, or `None` when it does not fit the window or is
    /// misaligned. `T` must be a `register_structs!` block (all registers are cells).
    pub fn block<T>(&self, offset: usize) -> Option<&T> {
        let end = offset.checked_add(core::mem::size_of::<T>())?;
        if end > self.len || offset % core::mem::align_of::<T>() != 0 {
            return None;
        }
        // SAFETY: in bounds and aligned (checked above; the base is page-aligned); the memory
        // is device registers or UnsafeCell-backed, as `from_raw` requires, so a shared
        // reference to a block of register cells is sound.
        Some(unsafe { &*self.base.as_ptr().add(offset).cast::<T>() })
    }
}
