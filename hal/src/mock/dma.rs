//! The only unsafe code of the mock: the "device" moving bytes between host addresses,
//! DMA allocations for [`super::MockPlatform`], and page-aligned host buffers for tests.
//!
//! In the mock a device logical address *is* a host address (`page_logical_address(pfn) =
//! pfn << 12`), so DMA is a `memmove` between raw addresses. The engine only calls
//! [`copy`] after every key, bound and right check passed; what it cannot check is that
//! the memory is still alive — that is the test's promise (see [`copy`]). Addresses go
//! through exposed provenance (`expose_provenance` / `with_exposed_provenance`), which is
//! what an address handed to a device is, and what Miri accepts.

use core::ptr::NonNull;
use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};

use crate::platform::DmaRegion;
use crate::{HalError, HalResult};

/// Page size of the mock (and of MDL page frame numbers).
pub const PAGE_SIZE: usize = 4096;

/// Copies `len` bytes from host address `src` to host address `dst`; the ranges may overlap
/// (a loopback write into the buffer it reads from).
pub(super) fn copy(src: u64, dst: u64, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: the engine computed both ranges from a validated registration, window,
    // privileged-key SGE or the inline buffer of a WQE copy on its own stack, and checked
    // them against the registration's bounds. Tests guarantee that memory they register (or
    // hand over with the privileged key) stays alive and is not borrowed by Rust references
    // while the mock NIC may touch it. `ptr::copy` allows overlap.
    unsafe {
        core::ptr::copy(
            core::ptr::with_exposed_provenance::<u8>(src as usize),
            core::ptr::with_exposed_provenance_mut::<u8>(dst as usize),
            len,
        )
    }
}

fn page_layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(len.max(1), PAGE_SIZE).ok()
}

/// Zeroed, page-aligned memory whose bus address is its host address.
pub(super) fn alloc_region(len: usize) -> HalResult<DmaRegion> {
    let layout = page_layout(len).ok_or(HalError::InvalidParameter)?;
    // SAFETY: `layout` has a non-zero size.
    let cpu = NonNull::new(unsafe { alloc_zeroed(layout) }).ok_or(HalError::NoResources)?;
    // SAFETY: `cpu` points to `len` zeroed bytes that only this region owns until
    // `free_region` returns them.
    Ok(unsafe { DmaRegion::from_raw(cpu, cpu.as_ptr().expose_provenance() as u64, len) })
}

/// Returns memory from [`alloc_region`].
pub(super) fn free_region(region: DmaRegion) {
    // A region not from `alloc_region` would have been built with the unsafe
    // `DmaRegion::from_raw`, whose contract hands it to this platform's `free_dma`.
    let Some(layout) = page_layout(region.len()) else {
        return;
    };
    // SAFETY: the region was allocated by `alloc_region` with this same layout
    // (`Platform::free_dma` only takes memory from `Platform::alloc_dma`).
    unsafe { dealloc(region.cpu_ptr().as_ptr(), layout) }
}

/// A zeroed, page-aligned host buffer for tests: what a test registers through MDLs whose
/// page frame numbers are `addr() >> 12`. Access goes through copies, never references,
/// because the mock NIC writes into it behind the borrow checker.
pub struct HostBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer owns its allocation; all access copies through raw pointers.
unsafe impl Send for HostBuffer {}
// SAFETY: as above.
unsafe impl Sync for HostBuffer {}

impl HostBuffer {
    /// Allocates `len` zeroed bytes aligned to a page (aborts like `Vec` when out of memory).
    pub fn new(len: usize) -> HostBuffer {
        let Some(layout) = page_layout(len) else {
            panic!("HostBuffer of {len} bytes is too large")
        };
        // SAFETY: `layout` has a non-zero size.
        let p = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(p) else {
            handle_alloc_error(layout)
        };
        HostBuffer { ptr, len }
    }

    /// Host address of the first byte (= device logical address in the mock).
    pub fn addr(&self) -> u64 {
        // Exposed: the mock NIC turns the address back into a pointer when it moves bytes.
        self.ptr.as_ptr().expose_provenance() as u64
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pages the buffer spans.
    pub fn page_count(&self) -> usize {
        self.len.div_ceil(PAGE_SIZE).max(1)
    }

    /// Page frame numbers as an MDL would carry them.
    pub fn pfns(&self) -> impl Iterator<Item = u64> + '_ {
        let first = self.addr() >> 12;
        (0..self.page_count() as u64).map(move |i| first + i)
    }

    /// Logical addresses of the pages (what `Registration::pages` wants).
    pub fn pages(&self) -> alloc::vec::Vec<u64> {
        self.pfns().map(|p| p << 12).collect()
    }

    fn range(&self, offset: usize, n: usize) -> bool {
        offset.checked_add(n).is_some_and(|end| end <= self.len)
    }

    /// Copies `src` into the buffer at `offset`; panics when it does not fit (test helper).
    pub fn write(&self, offset: usize, src: &[u8]) {
        assert!(
            self.range(offset, src.len()),
            "HostBuffer::write out of bounds"
        );
        // SAFETY: bounds checked above; the buffer is alive while `self` is.
        unsafe { core::ptr::copy(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len()) }
    }

    /// Copies from the buffer at `offset` into `dst`; panics when out of bounds.
    pub fn read(&self, offset: usize, dst: &mut [u8]) {
        assert!(
            self.range(offset, dst.len()),
            "HostBuffer::read out of bounds"
        );
        // SAFETY: bounds checked above; the buffer is alive while `self` is.
        unsafe { core::ptr::copy(self.ptr.as_ptr().add(offset), dst.as_mut_ptr(), dst.len()) }
    }

    /// The whole content.
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut v = alloc::vec![0u8; self.len];
        self.read(0, &mut v);
        v
    }

    /// Sets every byte to `b`.
    pub fn fill(&self, b: u8) {
        // SAFETY: writes exactly `len` bytes of the live allocation.
        unsafe { core::ptr::write_bytes(self.ptr.as_ptr(), b, self.len) }
    }
}

impl Drop for HostBuffer {
    fn drop(&mut self) {
        // `new` succeeded with this layout, so it is valid.
        let Some(layout) = page_layout(self.len) else {
            return;
        };
        // SAFETY: allocated in `new` with this same layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

impl core::fmt::Debug for HostBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostBuffer")
            .field("addr", &format_args!("{:#x}", self.addr()))
            .field("len", &self.len)
            .finish()
    }
}

/// Per-thread allocation counting for the mock's tests (the fast path must not allocate).
#[cfg(test)]
pub(super) mod alloc_count {
    use core::cell::Cell;
    use std::alloc::{GlobalAlloc, Layout, System};

    struct Counting;

    std::thread_local! {
        static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: forwards every call to the system allocator unchanged; only counts.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations (and reallocations) made by this thread so far.
    pub(crate) fn allocs() -> u64 {
        ALLOCS.with(|c| c.get())
    }
}
