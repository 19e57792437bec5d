//! Test scaffolding for register-level drivers (feature `mock`): plain memory that stands in
//! for a BAR, and access to the mock platform's DMA memory by bus address. A driver's unit
//! tests build a minimal fake device from these, stepped from `MockPlatform`'s stall hook.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use std::boxed::Box;

use crate::MmioRegion;

const WORDS: usize = 16384;

/// 64 KiB of register memory, 4096-aligned, read and written only volatile (as a BAR is).
#[repr(C, align(4096))]
pub struct FakeBar([UnsafeCell<u32>; WORDS]);

// SAFETY: the cells are accessed only with volatile reads and writes, as device registers.
unsafe impl Sync for FakeBar {}
// SAFETY: as above.
unsafe impl Send for FakeBar {}

impl FakeBar {
    /// Bytes of a fake BAR.
    pub const SIZE: usize = WORDS * 4;

    /// A zeroed BAR on the heap (it is too large for a test thread's stack).
    pub fn new() -> Box<FakeBar> {
        Box::new(FakeBar(core::array::from_fn(|_| UnsafeCell::new(0))))
    }

    /// The BAR as the driver sees it. The caller keeps `self` alive as long as the region (a
    /// test's fake device outlives the driver it drives).
    pub fn region(&self) -> MmioRegion {
        // SAFETY: SIZE bytes of UnsafeCell memory, 4096-aligned, alive while `self` is (the
        // caller's contract above).
        unsafe { MmioRegion::from_raw(NonNull::from(self).cast(), Self::SIZE) }
    }

    /// The 32-bit register at byte `offset` (0 outside the BAR).
    pub fn peek(&self, offset: usize) -> u32 {
        self.0
            .get(offset / 4)
            // SAFETY: an in-bounds cell, read volatile.
            .map_or(0, |c| unsafe { c.get().read_volatile() })
    }
}

/// Reads `dst.len()` bytes of the mock platform's DMA memory at bus address `bus` (in the
/// mock, bus addresses are host addresses of live DMA regions).
pub fn dma_read(bus: u64, dst: &mut [u8]) {
    for (i, b) in dst.iter_mut().enumerate() {
        // SAFETY: in the mock, bus addresses are host addresses of live DMA regions; the test
        // names only bytes of a region the driver handed to its (fake) device.
        *b = unsafe { ((bus as usize + i) as *const u8).read_volatile() };
    }
}

/// Writes `src` into the mock platform's DMA memory at bus address `bus`.
pub fn dma_write(bus: u64, src: &[u8]) {
    for (i, b) in src.iter().enumerate() {
        // SAFETY: as in `dma_read`.
        unsafe { ((bus as usize + i) as *mut u8).write_volatile(*b) };
    }
}
