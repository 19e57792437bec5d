//! BAR memory of an emulated PCI function: page-aligned, `UnsafeCell`-backed 32-bit words
//! that a driver sees as `hal::MmioRegion`s and a device model reads and writes by offset.
//!
//! The model never sees individual MMIO writes: it samples the memory when it steps (the
//! pattern of the Windows build notes, §3). That is enough for devices whose doorbells are
//! cumulative and whose control registers are level-sampled (RNIC-R2, RNIC-W1).
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use std::boxed::Box;
use std::vec::Vec;

/// Words in one 4 KiB page.
const WORDS_PER_PAGE: usize = 1024;

/// One 4 KiB page of register words.
#[repr(C, align(4096))]
struct Page([UnsafeCell<u32>; WORDS_PER_PAGE]);

/// A BAR's backing memory: `pages × 4 KiB` of 32-bit cells, 4 KiB aligned, living for the
/// rest of the process (drivers keep `MmioRegion`s that must never dangle).
pub struct BarMemory {
    pages: &'static [Page],
}

// SAFETY: every word is an `UnsafeCell` accessed only with volatile reads and writes of the
// whole word, as device registers are; the model and the driver are the only users.
unsafe impl Send for BarMemory {}
// SAFETY: as above.
unsafe impl Sync for BarMemory {}

impl BarMemory {
    /// Zeroed memory of `len` bytes (rounded up to whole pages), leaked for `'static`.
    pub fn new(len: usize) -> &'static BarMemory {
        let n = len.div_ceil(4096).max(1);
        let pages: Vec<Page> = (0..n)
            .map(|_| Page(core::array::from_fn(|_| UnsafeCell::new(0))))
            .collect();
        let pages: &'static [Page] = Box::leak(pages.into_boxed_slice());
        Box::leak(Box::new(BarMemory { pages }))
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.pages.len() * 4096
    }

    /// True for an empty BAR (never: at least one page).
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    fn cell(&self, offset: usize) -> Option<&UnsafeCell<u32>> {
        if offset % 4 != 0 {
            return None;
        }
        let w = offset / 4;
        self.pages
            .get(w / WORDS_PER_PAGE)?
            .0
            .get(w % WORDS_PER_PAGE)
    }

    /// Reads the 32-bit word at `offset` (0 when out of range or misaligned).
    pub fn read32(&self, offset: usize) -> u32 {
        // SAFETY: the cell is a live `UnsafeCell<u32>`; volatile, whole-word access.
        self.cell(offset)
            .map_or(0, |c| unsafe { c.get().read_volatile() })
    }

    /// Writes the 32-bit word at `offset` (ignored when out of range or misaligned).
    pub fn write32(&self, offset: usize, v: u32) {
        if let Some(c) = self.cell(offset) {
            // SAFETY: as in `read32`.
            unsafe { c.get().write_volatile(v) }
        }
    }

    /// Sets every word to `v` (all ones: the function was surprise-removed and reads as
    /// nothing behind the bus).
    pub fn fill(&self, v: u32) {
        for page in self.pages {
            for c in page.0.iter() {
                // SAFETY: as in `read32`.
                unsafe { c.get().write_volatile(v) }
            }
        }
    }

    /// Writes a 64-bit register (statistics counters) as low then high word.
    pub fn write64(&self, offset: usize, v: u64) {
        self.write32(offset, v as u32);
        self.write32(offset + 4, (v >> 32) as u32);
    }

    /// Address of the first byte (what a host maps the BAR at).
    pub fn base(&'static self) -> NonNull<u8> {
        NonNull::from(self.pages).cast::<u8>()
    }

    /// A driver's view of the whole BAR.
    pub fn region(&'static self) -> hal::MmioRegion {
        let base = self.base();
        // SAFETY: `base` points to `len()` bytes of `UnsafeCell` words, 4 KiB aligned (the
        // `Page` alignment), leaked so they stay valid for the rest of the process.
        unsafe { hal::MmioRegion::from_raw(base, self.len()) }
    }
}
