//! The consumer side of the event queue (EQ: `2^k` EQEs of `E` bytes found by the owner bit,
//! a 24-bit consumer counter the driver writes back with the re-arm) and of the record ring
//! beside it (`2^m` records of `R` bytes whose producer counter an EQE names: the CM event
//! ring of both reference NICs). irdma's AEQ / CEQ consumers have the same shape.

use crate::ring;
use crate::{DmaRegion, Platform};

/// EQ and record ring consumer state; the silicon decodes EQEs and records and writes its
/// `EQ_CI` register with [`EventRings::ci`].
#[derive(Debug)]
pub struct EventRings<const E: usize, const R: usize> {
    /// The EQ, once allocated at bring-up.
    pub ring: Option<DmaRegion>,
    /// The EQ holds `2^log2` EQEs.
    pub log2: u8,
    /// EQEs consumed (24 bits).
    ci: u32,
    owner_offset: usize,
    /// The record ring, once allocated at bring-up.
    pub records: Option<DmaRegion>,
    /// The record ring holds `2^records_log2` records.
    pub records_log2: u8,
    /// `DeviceFatal` was queued (from an EQE or from the interrupt cause); report it once.
    pub fatal_reported: bool,
}

impl<const E: usize, const R: usize> EventRings<E, R> {
    /// Consumer state for rings of `2^log2` EQEs (owner bit in byte `owner_offset`) and
    /// `2^records_log2` records, before their memory is allocated.
    pub fn new(log2: u8, owner_offset: usize, records_log2: u8) -> Self {
        EventRings {
            ring: None,
            log2,
            ci: 0,
            owner_offset,
            records: None,
            records_log2,
            fatal_reported: false,
        }
    }

    /// EQEs consumed (24 bits), the value `EQ_CI` gets.
    pub fn ci(&self) -> u32 {
        self.ci
    }

    /// Gives the rings' memory back (after a reset: the device writes no more).
    pub fn free<P: Platform>(&mut self, p: &P) {
        if let Some(r) = self.ring.take() {
            p.free_dma(r);
        }
        if let Some(r) = self.records.take() {
            p.free_dma(r);
        }
    }

    /// The EQE at the consumer counter when its owner bit matches (read after an acquire
    /// fence), consumed.
    pub fn next_eqe(&mut self) -> Option<[u8; E]> {
        let raw = super::ring::owned_entry(
            self.ring.as_ref()?,
            0,
            self.ci,
            self.log2,
            self.owner_offset,
        )?;
        self.ci = ring::advance24(self.ci, 1);
        Some(raw)
    }

    /// The record of producer counter `index` (named by the EQE that announced it).
    pub fn record(&self, index: u16) -> Option<[u8; R]> {
        super::ring::slot_entry(self.records.as_ref()?, u32::from(index), self.records_log2)
    }
}
