//! The host memory of a queue pair and its producer side: one DMA buffer holding the SQ ring,
//! the RQ ring and the device-written QP record, producer counters published for the software
//! flush, the fast-register page-list pool, and writing an encoded WQE into its ring slot.
//! WQE encodings stay with the silicon; this module only places bytes.

use core::sync::atomic::{fence, AtomicU16, AtomicU32, Ordering};

use super::flush::{Queue, Tracks};

use crate::karc::{Finalize, KArc};
use crate::ring;
use crate::{DmaRegion, HalError, HalResult, Platform, SendOp, SendWr};

/// The rings of a QP's queue buffer: `2^log2` slots of `2^stride_log2` bytes each, and the
/// size of the record the device writes after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QpRings {
    /// SQ slots (log2).
    pub sq_log2: u8,
    /// SQ slot bytes (log2).
    pub sq_stride_log2: u8,
    /// RQ slots (log2); ignored without an RQ.
    pub rq_log2: u8,
    /// RQ slot bytes (log2); ignored without an RQ.
    pub rq_stride_log2: u8,
    /// The QP has its own RQ (not an SRQ).
    pub has_rq: bool,
    /// Bytes of the QP record.
    pub record_size: usize,
}

/// Where the parts of a QP's queue buffer go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QpLayout {
    /// Offset of the RQ ring (the end of the SQ ring).
    pub rq_offset: usize,
    /// Offset of the QP record (the end of the RQ ring).
    pub record_offset: usize,
    /// Bytes of the whole buffer.
    pub len: usize,
}

impl QpRings {
    /// The layout: SQ ring, RQ ring, record. Rings too large for their shift are
    /// `InvalidParameter`, a buffer too large to address `NoResources`.
    pub fn layout(&self) -> HalResult<QpLayout> {
        let sq_bytes = 1usize
            .checked_shl(u32::from(self.sq_log2) + u32::from(self.sq_stride_log2))
            .ok_or(HalError::InvalidParameter)?;
        let rq_bytes = if self.has_rq {
            1usize
                .checked_shl(u32::from(self.rq_log2) + u32::from(self.rq_stride_log2))
                .ok_or(HalError::InvalidParameter)?
        } else {
            0
        };
        // Both rings are powers of two of at least a slot, so the record after them is aligned
        // as a slot is.
        let record_offset = sq_bytes
            .checked_add(rq_bytes)
            .ok_or(HalError::NoResources)?;
        let len = record_offset
            .checked_add(self.record_size)
            .ok_or(HalError::NoResources)?;
        Ok(QpLayout {
            rq_offset: sq_bytes,
            record_offset,
            len,
        })
    }
}

/// The queue buffer of a QP: SQ ring, RQ ring, then the QP record the device writes.
#[derive(Debug)]
pub struct QpMem {
    /// The whole buffer.
    pub region: DmaRegion,
    /// Where the RQ ring starts (its end is where the record starts).
    pub rq_offset: usize,
    /// Where the QP record starts.
    pub record_offset: usize,
    /// The QP number.
    pub qpn: u32,
    /// The provider's context, for completions the driver makes itself (`flush`).
    pub qp_context: u64,
    /// The SQ holds `2^sq_log2` slots of `2^sq_stride_log2` bytes.
    pub sq_log2: u8,
    /// log2 of an SQ slot's bytes.
    pub sq_stride_log2: u8,
    /// The RQ holds `2^rq_log2` slots of `2^rq_stride_log2` bytes.
    pub rq_log2: u8,
    /// log2 of an RQ slot's bytes.
    pub rq_stride_log2: u8,
    /// The posters' producer counters, published (release) after each WQE is written, so a
    /// dead device's queues can be flushed from their rings (`flush`).
    pub sq_pi: AtomicU16,
    /// See `sq_pi`.
    pub rq_pi: AtomicU16,
}

impl Finalize for QpMem {}

impl QpMem {
    /// Allocates the zeroed buffer of `layout` for QP `qpn` and the handle its SQ, RQ and
    /// control handles share, fallibly and before the device hears of the QP: on failure
    /// nothing stays allocated.
    pub fn allocate<P: Platform>(
        p: &P,
        rings: &QpRings,
        layout: &QpLayout,
        qpn: u32,
        qp_context: u64,
    ) -> HalResult<KArc<QpMem>> {
        let region = p.alloc_dma(layout.len)?;
        let (rq_log2, rq_stride_log2) = if rings.has_rq {
            (rings.rq_log2, rings.rq_stride_log2)
        } else {
            (0, 0)
        };
        KArc::try_new_or_return(QpMem {
            region,
            rq_offset: layout.rq_offset,
            record_offset: layout.record_offset,
            qpn,
            qp_context,
            sq_log2: rings.sq_log2,
            sq_stride_log2: rings.sq_stride_log2,
            rq_log2,
            rq_stride_log2,
            sq_pi: AtomicU16::new(0),
            rq_pi: AtomicU16::new(0),
        })
        .map_err(|m| {
            p.free_dma(m.region);
            HalError::NoResources
        })
    }

    /// Gives the buffer back when `mem` was its last reference.
    pub fn release<P: Platform>(p: &P, mem: KArc<QpMem>) {
        if let Ok(m) = KArc::try_unwrap(mem) {
            p.free_dma(m.region);
        }
    }

    /// A 16-bit counter of the device-written QP record at byte `field` (SQ_CI, RQ_CI).
    pub fn record_counter(&self, field: usize) -> u16 {
        let mut b = [0u8; 4];
        self.region
            .read(self.record_offset.wrapping_add(field), &mut b);
        (u32::from_le_bytes(b) & 0xFFFF) as u16
    }
}

/// The ring and record of a shared receive queue, shared by its control handle (for the
/// queued count) and its poster.
#[derive(Debug)]
pub struct SrqMem {
    /// The ring, then the SRQ record the device writes.
    pub region: DmaRegion,
    record_offset: usize,
    /// The poster's PI, published for [`SrqMem::queued`] (a store, not a lock).
    pi: AtomicU32,
}

impl Finalize for SrqMem {}

impl SrqMem {
    /// `(record_offset, len)` of an SRQ buffer: a ring of `2^log2` slots of `2^stride_log2`
    /// bytes, then a record of `record_size` bytes (errors as [`QpRings::layout`]).
    pub fn layout(log2: u8, stride_log2: u8, record_size: usize) -> HalResult<(usize, usize)> {
        let ring_bytes = 1usize
            .checked_shl(u32::from(log2) + u32::from(stride_log2))
            .ok_or(HalError::InvalidParameter)?;
        let len = ring_bytes
            .checked_add(record_size)
            .ok_or(HalError::NoResources)?;
        Ok((ring_bytes, len))
    }

    /// Allocates the zeroed buffer and the shared handle; on failure nothing stays allocated.
    pub fn allocate<P: Platform>(
        p: &P,
        record_offset: usize,
        len: usize,
    ) -> HalResult<KArc<SrqMem>> {
        let region = p.alloc_dma(len)?;
        KArc::try_new_or_return(SrqMem {
            region,
            record_offset,
            pi: AtomicU32::new(0),
        })
        .map_err(|m| {
            p.free_dma(m.region);
            HalError::NoResources
        })
    }

    /// Gives the buffer back when `mem` was its last reference.
    pub fn release<P: Platform>(p: &P, mem: KArc<SrqMem>) {
        if let Some(r) = SrqMem::into_region(mem) {
            p.free_dma(r);
        }
    }

    /// The buffer, when `mem` was its last reference.
    pub fn into_region(mem: KArc<SrqMem>) -> Option<DmaRegion> {
        KArc::try_unwrap(mem).ok().map(|m| m.region)
    }

    /// SRQ_CI of the device-written record (16 bits at the record's start).
    pub fn srq_ci(&self) -> u16 {
        let mut b = [0u8; 4];
        self.region.read(self.record_offset, &mut b);
        (u32::from_le_bytes(b) & 0xFFFF) as u16
    }

    /// Publishes the poster's producer counter.
    pub fn publish_pi(&self, pi: u16) {
        self.pi.store(u32::from(pi), Ordering::Release);
    }

    /// Receives posted and not yet consumed: `PI − SRQ_CI`.
    pub fn queued(&self) -> u32 {
        let pi = (self.pi.load(Ordering::Acquire) & 0xFFFF) as u16;
        u32::from(pi.wrapping_sub(self.srq_ci()))
    }
}

/// A producer counter over a ring of `2^log2_depth` slots of `2^log2_stride` bytes.
#[derive(Debug)]
struct Producer {
    log2_depth: u8,
    log2_stride: u8,
    /// WQEs written (16 bits).
    pi: u16,
}

impl Producer {
    fn new(log2_depth: u8, log2_stride: u8) -> Producer {
        Producer {
            log2_depth,
            log2_stride,
            pi: 0,
        }
    }

    fn depth(&self) -> u32 {
        1u32.checked_shl(u32::from(self.log2_depth)).unwrap_or(0)
    }

    /// Room when fewer than `depth` WQEs are outstanding behind consumer counter `ci`.
    fn has_room(&self, ci: u16) -> bool {
        u32::from(self.pi.wrapping_sub(ci)) < self.depth()
    }

    /// `encode` (given the slot and the WQE index) into slot PI of the ring at `ring_offset`
    /// of `region`, then PI + 1, returned.
    fn write<const N: usize>(
        &mut self,
        region: &DmaRegion,
        ring_offset: usize,
        encode: impl FnOnce(&mut [u8], u16) -> HalResult<usize>,
    ) -> HalResult<u16> {
        let pi = self.pi;
        write_slot::<N>(
            region,
            ring_offset,
            self.log2_depth,
            self.log2_stride,
            pi,
            |slot| encode(slot, pi),
        )?;
        self.pi = pi.wrapping_add(1);
        Ok(self.pi)
    }
}

/// The producer side of a QP's send ring: WQEs are written by [`SendRing::post`] and
/// published to the device by [`SendRing::ring`] (one doorbell for a batch).
#[derive(Debug)]
pub struct SendRing {
    mem: KArc<QpMem>,
    producer: Producer,
    /// PI of the last doorbell.
    rung: u16,
    /// Host page lists of FAST_REG WQEs whose list does not fit the slot.
    fr: Option<FrPool>,
}

impl SendRing {
    /// An empty ring of `2^log2_depth` slots of `2^log2_stride` bytes in `mem`, with the QP's
    /// fast-register page-list pool if it has one.
    pub fn new(mem: KArc<QpMem>, log2_depth: u8, log2_stride: u8, fr: Option<FrPool>) -> Self {
        SendRing {
            mem,
            producer: Producer::new(log2_depth, log2_stride),
            rung: 0,
            fr,
        }
    }

    /// The shared queue memory and the page-list pool (for destroy).
    pub fn into_parts(self) -> (KArc<QpMem>, Option<FrPool>) {
        (self.mem, self.fr)
    }

    /// Writes one WQE: room against the QP record's counter at `ci_offset` (or the flush
    /// track once the device is dead); a FAST_REG page list of more than
    /// `fast_reg_inline(stride)` pages goes to the pool (its entry must have retired, else
    /// `QueueFull`); `encode` fills the slot (given the slot, the WQE index and the list's bus
    /// address); PI + 1 published for the flush. No doorbell.
    pub fn post<const N: usize>(
        &mut self,
        tracks: &Tracks,
        ci_offset: usize,
        wr: &SendWr<'_>,
        fast_reg_inline: impl FnOnce(usize) -> usize,
        encode: impl FnOnce(&mut [u8], u16, Option<u64>) -> HalResult<usize>,
    ) -> HalResult<()> {
        let p = &mut self.producer;
        let ci = self.mem.record_counter(ci_offset);
        let ci = tracks.room_ci(self.mem.qpn, Queue::Send, p.pi, ci, p.depth());
        if !p.has_room(ci) {
            return Err(HalError::QueueFull);
        }
        let stride = 1usize.checked_shl(u32::from(p.log2_stride)).unwrap_or(0);
        let mut pbl = None;
        if let SendOp::FastRegister { pages, .. } = wr.op {
            if pages.len() > fast_reg_inline(stride) {
                let pool = self.fr.as_mut().ok_or(HalError::NotSupported)?;
                let i = pool.take(p.pi, ci).ok_or(HalError::QueueFull)?;
                pbl = Some(pool.fill(i, p.pi, pages)?);
            }
        }
        let pi = p.write::<N>(&self.mem.region, 0, |slot, index| encode(slot, index, pbl))?;
        self.mem.sq_pi.store(pi, Ordering::Release);
        Ok(())
    }

    /// Publishes what was posted since the last call: a release fence, then `doorbell` with
    /// the new PI. Nothing to do when nothing was posted.
    pub fn ring(&mut self, doorbell: impl FnOnce(u16)) {
        let pi = self.producer.pi;
        if pi == self.rung {
            return;
        }
        fence(Ordering::Release);
        doorbell(pi);
        self.rung = pi;
    }
}

/// The producer side of a QP's receive ring.
#[derive(Debug)]
pub struct RecvRing {
    mem: KArc<QpMem>,
    producer: Producer,
}

impl RecvRing {
    /// An empty ring of `2^log2_depth` slots of `2^log2_stride` bytes in `mem`.
    pub fn new(mem: KArc<QpMem>, log2_depth: u8, log2_stride: u8) -> RecvRing {
        RecvRing {
            mem,
            producer: Producer::new(log2_depth, log2_stride),
        }
    }

    /// Posts one receive: room against the QP record's counter at `ci_offset` (or the flush
    /// track once the device is dead), `encode` into the slot (given the slot and the WQE
    /// index), PI + 1 published for the flush, a release fence, then `doorbell` with the new
    /// PI. `N` is the largest slot.
    pub fn post<const N: usize>(
        &mut self,
        tracks: &Tracks,
        ci_offset: usize,
        encode: impl FnOnce(&mut [u8], u16) -> HalResult<usize>,
        doorbell: impl FnOnce(u16),
    ) -> HalResult<()> {
        let p = &mut self.producer;
        let ci = self.mem.record_counter(ci_offset);
        let ci = tracks.room_ci(self.mem.qpn, Queue::Recv, p.pi, ci, p.depth());
        if !p.has_room(ci) {
            return Err(HalError::QueueFull);
        }
        let pi = p.write::<N>(&self.mem.region, self.mem.rq_offset, encode)?;
        self.mem.rq_pi.store(pi, Ordering::Release);
        fence(Ordering::Release);
        doorbell(pi);
        Ok(())
    }
}

/// The producer side of a shared receive queue.
#[derive(Debug)]
pub struct SrqRing {
    mem: KArc<SrqMem>,
    producer: Producer,
}

impl SrqRing {
    /// An empty ring of `2^log2_depth` slots of `2^log2_stride` bytes in `mem`.
    pub fn new(mem: KArc<SrqMem>, log2_depth: u8, log2_stride: u8) -> SrqRing {
        SrqRing {
            mem,
            producer: Producer::new(log2_depth, log2_stride),
        }
    }

    /// Posts one receive as [`RecvRing::post`] does, with room against the SRQ record.
    pub fn post<const N: usize>(
        &mut self,
        encode: impl FnOnce(&mut [u8], u16) -> HalResult<usize>,
        doorbell: impl FnOnce(u16),
    ) -> HalResult<()> {
        if !self.producer.has_room(self.mem.srq_ci()) {
            return Err(HalError::QueueFull);
        }
        let pi = self.producer.write::<N>(&self.mem.region, 0, encode)?;
        self.mem.publish_pi(pi);
        fence(Ordering::Release);
        doorbell(pi);
        Ok(())
    }
}

/// Encodes one WQE with `encode` (which returns the bytes used of the slot it is given) into
/// slot `pi` of a ring of `2^log2_depth` slots of `2^log2_stride` bytes at `ring_offset` of
/// `region`. `N` is the largest slot; the WQE is built on the stack and copied in one write.
pub fn write_slot<const N: usize>(
    region: &DmaRegion,
    ring_offset: usize,
    log2_depth: u8,
    log2_stride: u8,
    pi: u16,
    encode: impl FnOnce(&mut [u8]) -> HalResult<usize>,
) -> HalResult<()> {
    let stride = 1usize.checked_shl(u32::from(log2_stride)).unwrap_or(0);
    let mut buf = [0u8; N];
    let slot = buf.get_mut(..stride).ok_or(HalError::InvalidParameter)?;
    let n = encode(slot)?;
    let off = ring::slot(u32::from(pi), log2_depth)
        .checked_mul(stride)
        .and_then(|o| o.checked_add(ring_offset))
        .ok_or(HalError::Fatal)?;
    let bytes = buf.get(..n).ok_or(HalError::InvalidParameter)?;
    if region.write(off, bytes) {
        Ok(())
    } else {
        Err(HalError::Fatal)
    }
}

/// log2 of a queue depth rounded up to a power of two, at least 2 entries (LOG2 ≥ 1), and no
/// more than `max`.
pub fn depth_log2(depth: u32, max: u32) -> HalResult<u8> {
    let n = depth
        .max(2)
        .checked_next_power_of_two()
        .ok_or(HalError::InvalidParameter)?;
    if n > max.max(2) {
        return Err(HalError::InvalidParameter);
    }
    u8::try_from(n.trailing_zeros()).map_err(|_| HalError::InvalidParameter)
}

/// Entries of a QP's fast-register page-list pool: FAST_REG WQEs with a host list that can be
/// outstanding at once (a further one waits: `QueueFull`).
pub const FR_ENTRIES: usize = 8;

/// Page lists of FAST_REG WQEs that do not fit inline, in host memory that stays untouched
/// until the WQE retires (the QP record's SQ_CI passed it). Allocated at create time so
/// posting never allocates.
#[derive(Debug)]
pub struct FrPool {
    region: DmaRegion,
    entry_bytes: usize,
    /// WQE_INDEX of the WQE using each entry.
    wqe: [u16; FR_ENTRIES],
    /// Bit i: entry i was used (and may still be outstanding).
    used: u8,
    next: usize,
}

impl FrPool {
    /// A pool of [`FR_ENTRIES`] lists of `entry_bytes` each in `region`.
    pub fn new(region: DmaRegion, entry_bytes: usize) -> FrPool {
        FrPool {
            region,
            entry_bytes,
            wqe: [0; FR_ENTRIES],
            used: 0,
            next: 0,
        }
    }

    /// Allocates a pool for lists of up to `max_pages` page addresses each.
    pub fn allocate<P: Platform>(p: &P, max_pages: usize) -> HalResult<FrPool> {
        let entry_bytes = max_pages.checked_mul(8).ok_or(HalError::NoResources)?;
        let len = entry_bytes
            .checked_mul(FR_ENTRIES)
            .ok_or(HalError::NoResources)?;
        Ok(FrPool::new(p.alloc_dma(len)?, entry_bytes))
    }

    /// The memory, for freeing once the QP is gone.
    pub fn into_region(self) -> DmaRegion {
        self.region
    }

    /// An entry whose WQE has retired: its index is outside the outstanding window
    /// `[ci, pi)`.
    pub fn take(&mut self, pi: u16, ci: u16) -> Option<usize> {
        let outstanding = pi.wrapping_sub(ci);
        for step in 0..FR_ENTRIES {
            let i = (self.next + step) % FR_ENTRIES;
            let busy = self.used & (1 << i) != 0
                && self
                    .wqe
                    .get(i)
                    .is_some_and(|w| w.wrapping_sub(ci) < outstanding);
            if !busy {
                self.next = (i + 1) % FR_ENTRIES;
                return Some(i);
            }
        }
        None
    }

    /// Copies `pages` into entry `i` for WQE `wqe_index`; returns the list's bus address.
    pub fn fill(&mut self, i: usize, wqe_index: u16, pages: &[u64]) -> HalResult<u64> {
        let off = i.checked_mul(self.entry_bytes).ok_or(HalError::Fatal)?;
        if pages.len().saturating_mul(8) > self.entry_bytes {
            return Err(HalError::ImplementationLimit);
        }
        for (k, p) in pages.iter().enumerate() {
            if !self
                .region
                .write_u64(off.wrapping_add(k.wrapping_mul(8)), *p)
            {
                return Err(HalError::Fatal);
            }
        }
        if let Some(w) = self.wqe.get_mut(i) {
            *w = wqe_index;
        }
        self.used |= 1 << i;
        Ok(self.region.bus_address().wrapping_add(off as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_rounds_up_to_a_power_of_two_of_at_least_two() {
        assert_eq!(depth_log2(0, 16), Ok(1));
        assert_eq!(depth_log2(3, 16), Ok(2));
        assert_eq!(depth_log2(16, 16), Ok(4));
        assert_eq!(depth_log2(17, 16), Err(HalError::InvalidParameter));
    }
}
