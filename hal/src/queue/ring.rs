//! Reading entries the device hands over by the owner bit ([`crate::ring`]'s phase rule).

use core::sync::atomic::{fence, Ordering};

use crate::ring;
use crate::DmaRegion;

/// The `N`-byte entry at consumer counter `ci` of a `2^log2`-entry ring at byte `base` of
/// `mem`, when its owner bit
/// (bit 0 of the byte at `owner_offset`) says the device wrote it for this lap. The owner byte
/// is read first and the body after an acquire fence, since the device writes the owner last.
pub fn owned_entry<const N: usize>(
    mem: &DmaRegion,
    base: usize,
    ci: u32,
    log2: u8,
    owner_offset: usize,
) -> Option<[u8; N]> {
    let off = ring::slot(ci, log2).checked_mul(N)?.checked_add(base)?;
    let mut owner = [0u8; 1];
    if !mem.read(off.checked_add(owner_offset)?, &mut owner) {
        return None;
    }
    if (owner[0] & 1 != 0) != ring::owner_bit(ci, log2) {
        return None;
    }
    fence(Ordering::Acquire);
    let mut raw = [0u8; N];
    mem.read(off, &mut raw).then_some(raw)
}

/// The `N`-byte slot of counter `index` of a `2^log2`-entry ring with no owner bit (a record
/// ring whose producer counter arrives some other way, e.g. in an EQE).
pub fn slot_entry<const N: usize>(mem: &DmaRegion, index: u32, log2: u8) -> Option<[u8; N]> {
    let off = ring::slot(index, log2).checked_mul(N)?;
    let mut raw = [0u8; N];
    mem.read(off, &mut raw).then_some(raw)
}
