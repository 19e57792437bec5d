//! Driver-chosen object numbers (PD, CQ, SRQ, QP, key index, listener, connection): the
//! reference NICs let the driver pick every number (`rocev2.md` / `iwarp.md` §1).

use alloc::vec::Vec;

use crate::{HalError, HalResult};

/// A bitmap of object numbers `base..limit`, handed out round-robin so a number is reused as
/// late as possible (a late event of a destroyed object then rarely meets its successor).
#[derive(Debug)]
pub struct IdPool {
    bits: Vec<u64>,
    base: u32,
    limit: u32,
    hint: u32,
}

impl IdPool {
    /// Numbers `base..limit` (empty when `limit <= base`); the bitmap is the only allocation.
    pub fn new(base: u32, limit: u32) -> HalResult<IdPool> {
        let words = usize::try_from(limit.div_ceil(64)).map_err(|_| HalError::NoResources)?;
        let mut bits = Vec::new();
        bits.try_reserve_exact(words)
            .map_err(|_| HalError::NoResources)?;
        bits.resize(words, 0);
        Ok(IdPool {
            bits,
            base,
            limit,
            hint: base,
        })
    }

    fn word(&mut self, id: u32) -> Option<(&mut u64, u64)> {
        let w = self.bits.get_mut(usize::try_from(id / 64).ok()?)?;
        Some((w, 1u64 << (id % 64)))
    }

    /// The lowest free number at or after the last one handed out (wrapping), marked used.
    pub fn alloc(&mut self) -> Option<u32> {
        let span = self.limit.checked_sub(self.base).filter(|s| *s > 0)?;
        let start = self.hint.saturating_sub(self.base) % span;
        for step in 0..span {
            let id = self.base.wrapping_add(start.wrapping_add(step) % span);
            let (w, bit) = self.word(id)?;
            if *w & bit == 0 {
                *w |= bit;
                self.hint = id.wrapping_add(1);
                return Some(id);
            }
        }
        None
    }

    /// Marks `id` free again (a number outside the pool is ignored).
    pub fn free(&mut self, id: u32) {
        if id < self.base || id >= self.limit {
            return;
        }
        if let Some((w, bit)) = self.word(id) {
            *w &= !bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_handed_out_round_robin_from_base() {
        let mut p = IdPool::new(2, 5).unwrap();
        assert_eq!(p.alloc(), Some(2));
        assert_eq!(p.alloc(), Some(3));
        p.free(2);
        assert_eq!(p.alloc(), Some(4));
        assert_eq!(p.alloc(), Some(2));
        assert_eq!(p.alloc(), None);
        p.free(99);
        p.free(3);
        assert_eq!(p.alloc(), Some(3));
    }

    #[test]
    fn an_empty_range_hands_out_nothing() {
        assert_eq!(IdPool::new(4, 4).unwrap().alloc(), None);
        assert_eq!(IdPool::new(0, 0).unwrap().alloc(), None);
    }
}
