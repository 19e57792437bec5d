//! The global allocator of the rust-lld build: non-paged pool (usable at any IRQL up to
//! DISPATCH_LEVEL, which is where the provider's entry points run).

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use crate::imports::{ExAllocatePool2, ExFreePoolWithTag, POOL_FLAG_NON_PAGED};

/// Pool tag `'kdnR'` (shows as "Rndk" in pool tools).
const TAG: u32 = u32::from_le_bytes(*b"Rndk");
/// Small pool blocks are 16-byte aligned on x64.
const POOL_ALIGN: usize = 16;
/// Blocks of a page or more are page-aligned (ExAllocatePool2 documentation).
const PAGE_SIZE: usize = 4096;

struct Pool;

// SAFETY: ExAllocatePool2 returns memory valid until ExFreePoolWithTag, at the alignments
// stated above; any other alignment request fails with null, as GlobalAlloc allows.
unsafe impl GlobalAlloc for Pool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let aligned = layout.align() <= POOL_ALIGN
            || (layout.align() <= PAGE_SIZE && layout.size() >= PAGE_SIZE);
        if !aligned {
            return core::ptr::null_mut();
        }
        // SAFETY: a plain pool allocation; failure is a null return.
        unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, layout.size(), TAG) }.cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with the same tag.
        unsafe { ExFreePoolWithTag(ptr.cast::<c_void>(), TAG) }
    }
}

#[global_allocator]
static GLOBAL: Pool = Pool;
