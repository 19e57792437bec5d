//! The consumer side of a completion ring: `2^k` CQEs of `N` bytes found by the owner bit, a
//! 24-bit consumer counter published in a driver-written doorbell record (no MMIO on the poll
//! path), ring generations switched at a RESIZE marker, and the arm sequence number. irdma's
//! `irdma_cq_uk` and mlx5's CQ buffer have the same shape.
//!
//! The silicon decodes CQEs and writes its arm register; this module owns the ring walk.

use core::sync::atomic::{fence, Ordering};

use crate::ring;
use crate::{Completion, DmaRegion};

/// What the silicon made of one CQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CqEntry {
    /// A completion for the consumer (`None`: consumed, nothing to report).
    Completion(Option<Completion>),
    /// The last entry of the old ring after a RESIZE_CQ: later CQEs are in the new ring.
    Resize,
}

/// The values an arm doorbell carries (CQ_ARM on both reference NICs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArmState {
    /// CQEs consumed (24 bits).
    pub ci: u32,
    /// The arm sequence number, 2 bits, incremented by every arm.
    pub sn: u8,
    /// The ring generation `ci` counts in.
    pub generation: bool,
}

/// Encodes the first dword of the CQ doorbell record from `ci` and the ring generation.
pub type DbrecEncoder = fn(ci: u32, generation: bool) -> u32;

/// A CQ ring of `N`-byte CQEs, its doorbell record and the resize state. Owns its DMA memory
/// until [`CqRing::take_memory`] hands it back.
#[derive(Debug)]
pub struct CqRing<const N: usize> {
    /// The create-time memory: the first ring of `2^log2` CQEs, then the doorbell record
    /// (which stays here across resizes: RESIZE_CQ names only a new ring).
    mem: Option<DmaRegion>,
    /// The ring in use after a resize (`None`: the ring in `mem`).
    ring: Option<DmaRegion>,
    /// A posted RESIZE_CQ's ring and log2 size, switched to at the RESIZE marker.
    next: Option<(DmaRegion, u8)>,
    /// A replaced resized ring, freed at the next resize or at destroy (not on the fast path).
    retired: Option<DmaRegion>,
    log2: u8,
    owner_offset: usize,
    dbrec_offset: usize,
    dbrec: DbrecEncoder,
    /// CQEs consumed (24 bits).
    ci: u32,
    /// Ring generation, toggled at every RESIZE marker.
    generation: bool,
    /// Sequence number of the last arm.
    sn: u8,
}

impl<const N: usize> CqRing<N> {
    /// A consumer over `mem`: a zeroed ring of `2^log2` CQEs followed by the doorbell record
    /// that `dbrec` encodes. The owner bit is bit 0 of byte `owner_offset` of each CQE.
    pub fn new(mem: DmaRegion, log2: u8, owner_offset: usize, dbrec: DbrecEncoder) -> Self {
        CqRing {
            mem: Some(mem),
            ring: None,
            next: None,
            retired: None,
            log2,
            owner_offset,
            dbrec_offset: N.checked_shl(u32::from(log2)).unwrap_or(0),
            dbrec,
            ci: 0,
            generation: false,
            sn: 0,
        }
    }

    /// The raw CQE at the consumer counter when the device owns it no more.
    fn peek(&self) -> Option<[u8; N]> {
        let mem = self.ring.as_ref().or(self.mem.as_ref())?;
        super::ring::owned_entry(mem, 0, self.ci, self.log2, self.owner_offset)
    }

    /// The driver-written consumer counter the device reads for room (host memory only).
    fn write_dbrec(&self) {
        if let Some(mem) = self.mem.as_ref() {
            let v = (self.dbrec)(self.ci, self.generation);
            mem.write(self.dbrec_offset, &v.to_le_bytes());
        }
    }

    /// Harvests up to `out.len()` completions: each owned CQE is consumed and handed to
    /// `decode` (`None`: malformed, dropped, since it carries no trustworthy WR id). The
    /// doorbell record is written once at the end when anything was consumed.
    pub fn poll(
        &mut self,
        out: &mut [Completion],
        mut decode: impl FnMut(&[u8; N]) -> Option<CqEntry>,
    ) -> usize {
        let mut n = 0;
        let mut consumed = false;
        while n < out.len() {
            let Some(raw) = self.peek() else {
                break;
            };
            self.ci = ring::advance24(self.ci, 1);
            consumed = true;
            match decode(&raw) {
                None | Some(CqEntry::Completion(None)) => {}
                Some(CqEntry::Resize) => self.switch_ring(),
                Some(CqEntry::Completion(Some(c))) => {
                    if let Some(slot) = out.get_mut(n) {
                        *slot = c;
                        n += 1;
                    }
                }
            }
        }
        if consumed {
            self.write_dbrec();
        }
        n
    }

    /// At the RESIZE marker: later CQEs are in the new ring from counter 0, in the other
    /// generation (without a posted resize the marker is ignored).
    fn switch_ring(&mut self) {
        if let Some((ring, log2)) = self.next.take() {
            let old = self.ring.replace(ring);
            if self.retired.is_none() {
                self.retired = old;
            }
            self.log2 = log2;
            self.ci = 0;
            self.generation = !self.generation;
        }
    }

    /// Arming: the doorbell record, the next sequence number, a release fence, then
    /// `doorbell` writes the silicon's arm register with the returned values.
    pub fn arm(&mut self, doorbell: impl FnOnce(ArmState)) {
        self.write_dbrec();
        self.sn = self.sn.wrapping_add(1) & 3;
        fence(Ordering::Release);
        doorbell(ArmState {
            ci: self.ci,
            sn: self.sn,
            generation: self.generation,
        });
    }

    /// A RESIZE_CQ was posted and its marker not yet polled.
    pub fn resize_pending(&self) -> bool {
        self.next.is_some()
    }

    /// Takes back the ring of a RESIZE_CQ whose marker will never come (it failed).
    pub fn take_next(&mut self) -> Option<DmaRegion> {
        self.next.take().map(|(r, _)| r)
    }

    /// Notes the ring of a posted RESIZE_CQ of `2^log2` CQEs.
    pub fn set_next(&mut self, ring: DmaRegion, log2: u8) {
        self.next = Some((ring, log2));
    }

    /// Takes back a ring replaced by a resize (no CQE will land in it any more).
    pub fn take_retired(&mut self) -> Option<DmaRegion> {
        self.retired.take()
    }

    /// Every region the ring holds, for freeing once the device writes no more CQEs.
    pub fn take_memory(&mut self) -> [Option<DmaRegion>; 4] {
        [
            self.mem.take(),
            self.ring.take(),
            self.next.take().map(|(r, _)| r),
            self.retired.take(),
        ]
    }
}

/// `k = ceil_log2(depth + 1)`, at least 1 (one slot stays free so a full ring is told from an
/// empty one), or `None` above `max_log2`.
pub fn cq_log2(depth: u32, max_log2: u8) -> Option<u8> {
    let entries = depth.checked_add(1)?.checked_next_power_of_two()?.max(2);
    let k = u8::try_from(entries.trailing_zeros()).ok()?;
    (k <= max_log2).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "mock")]
    use crate::Platform;

    /// Writes a 4-byte test CQE `[tag, kind, 0, owner]` as the device does for entry `p` of
    /// the ring at bus address `bus`.
    #[cfg(feature = "mock")]
    fn put(bus: u64, p: u32, log2: u8, tag: u8, kind: u8) {
        let off = (ring::slot(p, log2) * 4) as u64;
        let owner = u8::from(ring::owner_bit(p, log2));
        crate::fake_bar::dma_write(bus + off, &[tag, kind, 0, owner]);
    }

    #[cfg(feature = "mock")]
    fn dbrec(bus: u64) -> u32 {
        let mut b = [0u8; 4];
        crate::fake_bar::dma_read(bus + 8, &mut b);
        u32::from_le_bytes(b)
    }

    #[cfg(feature = "mock")]
    fn decode(raw: &[u8; 4]) -> Option<CqEntry> {
        match raw[1] {
            0 => Some(CqEntry::Completion(Some(Completion {
                wr_id: u64::from(raw[0]),
                ..Completion::EMPTY
            }))),
            1 => Some(CqEntry::Resize),
            _ => None,
        }
    }

    #[test]
    #[cfg(feature = "mock")]
    fn polls_by_owner_bit_across_laps_and_publishes_the_consumer_counter() {
        let p = crate::mock::MockPlatform::new();
        // 2 entries of 4 bytes, then the 8-byte record.
        let mem = p.alloc_dma(16).unwrap();
        let bus = mem.bus_address();
        let mut cq = CqRing::<4>::new(mem, 1, 3, |ci, g| ci | (u32::from(g) << 31));
        let mut out = [Completion::EMPTY; 4];
        assert_eq!(cq.poll(&mut out, decode), 0, "an empty ring yields nothing");
        put(bus, 0, 1, 10, 0);
        put(bus, 1, 1, 11, 0);
        assert_eq!(cq.poll(&mut out[..1], decode), 1, "bounded by `out`");
        assert_eq!(out[0].wr_id, 10);
        assert_eq!(dbrec(bus), 1, "CI published");
        // Entry 2 reuses slot 0 with the second lap's owner bit; a malformed CQE (kind 2) is
        // consumed and dropped; slot 1 still holds entry 1's first-lap owner bit: not yet.
        put(bus, 2, 1, 12, 2);
        assert_eq!(cq.poll(&mut out, decode), 1);
        assert_eq!(out[0].wr_id, 11);
        assert_eq!(dbrec(bus), 3);
        put(bus, 3, 1, 13, 0);
        assert_eq!(cq.poll(&mut out, decode), 1);
        assert_eq!(out[0].wr_id, 13);
        assert_eq!(dbrec(bus), 4);
        let mut armed = None;
        cq.arm(|a| armed = Some(a));
        let expected = ArmState {
            ci: 4,
            sn: 1,
            generation: false,
        };
        assert_eq!(armed, Some(expected));
        for m in cq.take_memory().into_iter().flatten() {
            p.free_dma(m);
        }
    }

    #[test]
    #[cfg(feature = "mock")]
    fn a_resize_marker_switches_to_the_next_ring_in_the_other_generation() {
        let p = crate::mock::MockPlatform::new();
        let mem = p.alloc_dma(16).unwrap();
        let old = mem.bus_address();
        let next = p.alloc_dma(16).unwrap();
        let new = next.bus_address();
        let mut cq = CqRing::<4>::new(mem, 1, 3, |ci, g| ci | (u32::from(g) << 31));
        cq.set_next(next, 2);
        assert!(cq.resize_pending());
        put(old, 0, 1, 0, 1);
        put(new, 0, 2, 20, 0);
        let mut out = [Completion::EMPTY; 2];
        assert_eq!(cq.poll(&mut out, decode), 1);
        assert_eq!(out[0].wr_id, 20);
        assert!(!cq.resize_pending());
        assert_eq!(dbrec(old), 0x8000_0001, "new ring's CI in generation 1");
        let memory = cq.take_memory();
        assert_eq!(memory.iter().filter(|m| m.is_some()).count(), 2);
        for m in memory.into_iter().flatten() {
            p.free_dma(m);
        }
    }

    #[test]
    fn log2_reserves_a_slot_and_respects_the_limit() {
        assert_eq!(cq_log2(1, 22), Some(1));
        assert_eq!(cq_log2(3, 22), Some(2));
        assert_eq!(cq_log2(4, 22), Some(3));
        assert_eq!(cq_log2(1 << 22, 22), None);
        assert_eq!(cq_log2(u32::MAX, 22), None);
    }
}
