//! A global allocator for test binaries that counts, per thread, the allocations and live
//! bytes, and can fail the N-th allocation — so tests can assert that a path allocates
//! nothing, that everything is returned, and that allocation failure is handled.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// Allocations left before one fails; negative = never fail.
    static FAIL_IN: Cell<i64> = const { Cell::new(-1) };
}

/// Install with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

// SAFETY: forwards to the system allocator; the bookkeeping touches only const-initialized
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let fail = FAIL_IN.with(|f| {
            let n = f.get();
            if n == 0 {
                f.set(-1);
                true
            } else {
                if n > 0 {
                    f.set(n - 1);
                }
                false
            }
        });
        if fail {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCS.with(|c| c.set(c.get() + 1));
            LIVE.with(|c| c.set(c.get() + layout.size() as i64));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|c| c.set(c.get() - layout.size() as i64));
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made by this thread so far.
pub fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

/// Bytes allocated and not freed by this thread (frees of other threads' memory count
/// against the freeing thread).
pub fn live_bytes() -> i64 {
    LIVE.with(|c| c.get())
}

/// Makes the `n`-th next allocation of this thread (0 = the very next) return NULL.
pub fn fail_allocation_in(n: u64) {
    FAIL_IN.with(|f| f.set(n as i64));
}

/// Cancels a pending [`fail_allocation_in`]; returns true when the failure did not happen.
pub fn disarm_failure() -> bool {
    FAIL_IN.with(|f| {
        let armed = f.get() >= 0;
        f.set(-1);
        armed
    })
}
