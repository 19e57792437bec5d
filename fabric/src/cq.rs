//! The completion-queue and host-ring producer logic both reference NICs share (their
//! datasheets define the same CQ: a 24-bit producer counter with an owner bit, the driver's
//! doorbell record of CI and ring generation, CQ_ARM with TYPE and SN, notify moderation by
//! count and period). The models keep their own CQE and EQE formats and events: the methods
//! here decide and write, the device posts the event they call for.

use crate::dma;
use hal::ring;

/// A host ring the device writes (EQ, CMEV) or reads (ADMQ).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostRing {
    /// Bus address of slot 0.
    pub base: u64,
    /// Slots, log2.
    pub log2: u8,
    /// Device-side counter: PI of EQ / CMEV, CI of ADMQ.
    pub count: u32,
}

/// What [`HostRing::post`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingPost {
    /// No room: the consumer is a whole ring behind.
    Full,
    /// The ring could not be written: the device goes fatal.
    DmaError,
    /// Written; the producer counter advanced.
    Written,
}

impl HostRing {
    /// Writes the entry `encode(owner)` at the producer slot when the ring has room for the
    /// consumer counter `ci` (24 bits): body, then the owner byte at `owner_offset`.
    pub fn post<const N: usize>(
        &mut self,
        ci: u32,
        encode: impl FnOnce(bool) -> [u8; N],
        owner_offset: usize,
    ) -> RingPost {
        let n = 1u32 << self.log2.min(24);
        if ring::used24(self.count, ci) >= n {
            return RingPost::Full;
        }
        let raw = encode(ring::owner_bit(self.count, self.log2));
        let addr = self
            .base
            .wrapping_add((ring::slot(self.count, self.log2) * N) as u64);
        if !dma::write_entry(addr, &raw, owner_offset) {
            return RingPost::DmaError;
        }
        self.count = ring::advance24(self.count, 1);
        RingPost::Written
    }
}

/// What [`HostRing::fetch16`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFetch<const N: usize> {
    /// The consumer caught up with the producer.
    Empty,
    /// The producer is more than a ring ahead: the host broke the ring.
    Overflow,
    /// The entry could not be read.
    Unreadable,
    /// The next entry.
    Entry([u8; N]),
}

impl HostRing {
    /// The next entry of a ring the device consumes with 16-bit counters (ADMQ), for the
    /// host's producer counter `pi`; [`HostRing::consumed16`] retires it.
    pub fn fetch16<const N: usize>(&self, pi: u32) -> RingFetch<N> {
        if self.count == pi {
            return RingFetch::Empty;
        }
        let n = 1u32 << self.log2.min(15);
        if (pi.wrapping_sub(self.count) & 0xFFFF) > n {
            return RingFetch::Overflow;
        }
        let addr = self
            .base
            .wrapping_add((ring::slot(self.count, self.log2) * N) as u64);
        dma::read_array::<N>(addr).map_or(RingFetch::Unreadable, RingFetch::Entry)
    }

    /// The entry [`HostRing::fetch16`] returned was consumed.
    pub fn consumed16(&mut self) {
        self.count = (self.count + 1) & 0xFFFF;
    }

    /// Whether a ring the device produces with 16-bit counters and no owner byte (CMEV) has
    /// room for the host's consumer counter `ci`.
    pub fn has_room16(&self, ci: u32) -> bool {
        let n = 1u32 << self.log2.min(15);
        (self.count.wrapping_sub(ci) & 0xFFFF) < n
    }

    /// Writes `record` (`N` bytes a slot) at the producer slot of such a ring; the index it
    /// was written at, or `None` when the write failed (nothing advanced).
    pub fn push16<const N: usize>(&mut self, record: &[u8; N]) -> Option<u16> {
        let addr = self
            .base
            .wrapping_add((ring::slot(self.count, self.log2) * N) as u64);
        if !dma::write(addr, record) {
            return None;
        }
        let idx = (self.count & 0xFFFF) as u16;
        self.count = (self.count + 1) & 0xFFFF;
        Some(idx)
    }
}

/// What [`Cq::post`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CqPost {
    /// The CQ is in error: nothing written.
    InError,
    /// The ring was full: the CQ is now in error (the device reports the overrun).
    Overrun,
    /// The ring could not be written: the device goes fatal.
    DmaError,
    /// Written and counted.
    Written,
}

/// A completion queue's ring state.
#[derive(Debug)]
pub struct Cq {
    /// Ring slots, log2.
    pub log2: u8,
    /// Bus address of the ring.
    pub ring: u64,
    /// Bus address of the driver's doorbell record.
    pub dbrec: u64,
    /// The CQ context events carry.
    pub ctx: u64,
    /// Producer counter (24 bits) in the current ring.
    pub pi: u32,
    /// Ring generation (flips on resize).
    pub generation: bool,
    /// Armed: (TYPE, SN).
    pub arm: Option<(u32, u8)>,
    /// Last CQ_ARM value seen.
    pub last_arm: u32,
    /// Counter just past the latest solicited or error CQE.
    pub last_sol: Option<u32>,
    /// Overrun: no more CQEs.
    pub error: bool,
    /// QPs using the CQ.
    pub users: u32,
    /// Moderation: CQEs and µs before a notify; 0 = off.
    pub mod_count: u16,
    /// See `mod_count`.
    pub mod_period: u16,
    /// Moderated notify in progress: (satisfying CQEs so far, time of the first).
    pub mod_pending: Option<(u32, u64)>,
}

impl Cq {
    /// The consumer counter of the driver's doorbell record when it counts in the current
    /// ring generation; 0 otherwise (and when the record is unreadable).
    pub fn consumer_index(&self) -> u32 {
        match dma::read_array::<8>(self.dbrec) {
            Some([a, b, c, d, ..]) => {
                let v = u32::from_le_bytes([a, b, c, d]);
                if (v >> 31 != 0) == self.generation {
                    v & ring::COUNTER24_MASK
                } else {
                    0
                }
            }
            None => 0,
        }
    }

    /// Writes the entry `encode(owner)` at the producer slot: overrun check against the
    /// doorbell record (one slot stays free), body then the owner byte at `owner_offset`.
    /// `notable`: a solicited or error CQE (it satisfies a SOLICITED arm).
    pub fn post<const N: usize>(
        &mut self,
        encode: impl FnOnce(bool) -> [u8; N],
        owner_offset: usize,
        notable: bool,
    ) -> CqPost {
        if self.error {
            return CqPost::InError;
        }
        let ci = self.consumer_index();
        let cap = (1u32 << self.log2) - 1;
        if ring::used24(self.pi, ci) >= cap {
            self.error = true;
            return CqPost::Overrun;
        }
        let raw = encode(ring::owner_bit(self.pi, self.log2));
        let addr = self
            .ring
            .wrapping_add((ring::slot(self.pi, self.log2) * N) as u64);
        if !dma::write_entry(addr, &raw, owner_offset) {
            return CqPost::DmaError;
        }
        self.pi = ring::advance24(self.pi, 1);
        if notable {
            self.last_sol = Some(self.pi);
        }
        CqPost::Written
    }

    /// A CQ_ARM doorbell value: latches a new arm (TYPE 1 any, 2 solicited; an arm for any
    /// stays one). True when the device must check the arm against waiting CQEs.
    pub fn sample_arm(&mut self, v: u32) -> bool {
        if v == self.last_arm {
            return false;
        }
        self.last_arm = v;
        let ty = (v >> 26) & 3;
        if ty != 1 && ty != 2 {
            return false;
        }
        let sn = ((v >> 24) & 3) as u8;
        let ty = match self.arm {
            Some((1, _)) => 1,
            _ => ty,
        };
        self.arm = Some((ty, sn));
        self.mod_pending = None;
        true
    }

    /// Whether the arm is satisfied and its notify due now; the arm's SN when it is.
    /// `new`: a CQE was just written (`Some(notable)`), or an arm arrived (`None`: then the
    /// unconsumed CQEs count). Moderation waits for MOD_COUNT CQEs or MOD_PERIOD µs.
    pub fn notify_due(&mut self, new: Option<bool>, now: u64) -> Option<u8> {
        let (ty, sn) = self.arm?;
        let fire = match new {
            Some(notable) => ty == 1 || notable,
            None => {
                let arm_ci = self.last_arm & ring::COUNTER24_MASK;
                let arm_gen = self.last_arm & (1 << 28) != 0;
                let ci = if arm_gen == self.generation {
                    arm_ci
                } else {
                    self.consumer_index()
                };
                let unconsumed = ring::used24(self.pi, ci);
                if ty == 1 {
                    unconsumed > 0
                } else {
                    self.last_sol
                        .is_some_and(|s| ring::used24(self.pi, s) < unconsumed && unconsumed > 0)
                }
            }
        };
        if !fire {
            return None;
        }
        if self.mod_count > 0 || self.mod_period > 0 {
            let (n, first) = self.mod_pending.map_or((1, now), |(n, f)| (n + 1, f));
            self.mod_pending = Some((n, first));
            let by_count = self.mod_count > 0 && n >= u32::from(self.mod_count);
            let by_time = self.mod_period > 0 && now >= first + u64::from(self.mod_period) * 1000;
            if !(by_count || by_time) {
                return None;
            }
        }
        Some(sn)
    }

    /// The notify was posted: the arm is spent.
    pub fn notified(&mut self) {
        self.arm = None;
        self.mod_pending = None;
    }

    /// A moderated notify whose period ran out by `now`: the arm's SN.
    pub fn moderation_due(&self, now: u64) -> Option<u8> {
        let (_, first) = self.mod_pending?;
        let (_, sn) = self.arm?;
        (self.mod_period > 0 && now >= first + u64::from(self.mod_period) * 1000).then_some(sn)
    }

    /// When a moderated notify falls due, if one is pending.
    pub fn moderation_deadline(&self) -> Option<u64> {
        if self.mod_period == 0 || self.arm.is_none() {
            return None;
        }
        self.mod_pending
            .map(|(_, f)| f + u64::from(self.mod_period) * 1000)
    }
}

/// Why [`Cq::resize`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CqResizeError {
    /// The unconsumed CQEs do not fit the new ring.
    Limit,
    /// The marker could not be written.
    DmaError,
}

impl Cq {
    /// RESIZE_CQ: the unconsumed CQEs must fit the new ring; the marker `encode(owner)` goes
    /// into the old ring's reserved slot, then the producer restarts at 0 of the new ring in
    /// the other generation.
    pub fn resize<const N: usize>(
        &mut self,
        log2_size: u8,
        ring_addr: u64,
        encode: impl FnOnce(bool) -> [u8; N],
        owner_offset: usize,
    ) -> Result<(), CqResizeError> {
        let ci = self.consumer_index();
        if ring::used24(self.pi, ci) > (1u32 << log2_size) - 1 {
            return Err(CqResizeError::Limit);
        }
        let raw = encode(ring::owner_bit(self.pi, self.log2));
        let addr = self
            .ring
            .wrapping_add((ring::slot(self.pi, self.log2) * N) as u64);
        if !dma::write_entry(addr, &raw, owner_offset) {
            return Err(CqResizeError::DmaError);
        }
        self.ring = ring_addr;
        self.log2 = log2_size;
        self.pi = 0;
        self.generation = !self.generation;
        self.last_sol = None;
        Ok(())
    }
}
