//! The driver side of the raw Ethernet queue of the reference NICs (formats in
//! [`crate::raw_eth`]): send, receive and completion rings in one DMA region, posting and
//! polling with no lock and no allocation, and the completions a driver returns itself once
//! the device is dead. The silicon sends the admin commands and writes its doorbells, given to
//! [`EthRings::ring`] and [`EthRings::arm`] as closures.

use core::sync::atomic::{fence, Ordering};

use crate::raw_eth::{
    RawCqe, RawFrag, RawRecvDesc, RawSendDesc, MAX_RAW_FRAGS, MAX_RAW_LOG2, RAW_CQE_OWNER_OFFSET,
    RAW_CQE_SIZE, RAW_RECV_DESC_SIZE, RAW_SEND_DESC_SIZE,
};
use crate::ring;
use crate::{DmaRegion, EthBuffer, EthCompletion, HalError, HalResult, MAX_ETH_FRAGS};

/// Rings start on their own page.
const PAGE: usize = 4096;

/// `log2` of the smallest power of two ≥ `n`, for ring depths 1..=2^MAX_RAW_LOG2.
fn depth_log2(n: u32) -> HalResult<u8> {
    if n == 0 {
        return Err(HalError::InvalidParameter);
    }
    let l = n.max(2).next_power_of_two().trailing_zeros();
    let l = u8::try_from(l).map_err(|_| HalError::ImplementationLimit)?;
    if l > MAX_RAW_LOG2 {
        return Err(HalError::ImplementationLimit);
    }
    Ok(l)
}

fn round_page(n: usize) -> Option<usize> {
    n.checked_add(PAGE - 1).map(|v| v & !(PAGE - 1))
}

/// PORT_STATUS.SPEED (the same code on both reference NICs) in bits per second.
pub fn link_speed_bps(code: u32) -> u64 {
    const G: u64 = 1_000_000_000;
    match code {
        1 => 10 * G,
        2 => 25 * G,
        3 => 40 * G,
        4 => 50 * G,
        5 => 100 * G,
        6 => 200 * G,
        7 => 400 * G,
        _ => 0,
    }
}

/// Where the rings of a raw queue go in its DMA region, and their sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthLayout {
    /// The send ring holds `2^sq_log2` descriptors, at offset 0.
    pub sq_log2: u8,
    /// The receive ring holds `2^rq_log2` descriptors.
    pub rq_log2: u8,
    /// The completion ring holds `2^cq_log2` completions: both rings' descriptors.
    pub cq_log2: u8,
    /// Offset of the receive ring.
    pub rq_off: usize,
    /// Offset of the completion ring.
    pub cq_off: usize,
    /// Bytes of the whole region.
    pub total: usize,
}

impl EthLayout {
    /// The layout for `send_depth` and `recv_depth` descriptors (each 1..=2^MAX_RAW_LOG2).
    pub fn new(send_depth: u32, recv_depth: u32) -> HalResult<EthLayout> {
        let sq_log2 = depth_log2(send_depth)?;
        let rq_log2 = depth_log2(recv_depth)?;
        let cq_log2 = sq_log2.max(rq_log2).saturating_add(1);
        let sq_len = RAW_SEND_DESC_SIZE << sq_log2;
        let rq_len = RAW_RECV_DESC_SIZE << rq_log2;
        let cq_len = RAW_CQE_SIZE << cq_log2;
        let rq_off = round_page(sq_len).ok_or(HalError::NoResources)?;
        let cq_off = rq_off
            .checked_add(round_page(rq_len).ok_or(HalError::NoResources)?)
            .ok_or(HalError::NoResources)?;
        let total = cq_off.checked_add(cq_len).ok_or(HalError::NoResources)?;
        Ok(EthLayout {
            sq_log2,
            rq_log2,
            cq_log2,
            rq_off,
            cq_off,
            total,
        })
    }
}

/// A raw Ethernet queue: send, receive and completion rings in one DMA region, and the
/// driver's counters. Used by one thread at a time (`&mut`), like the other fast-path
/// handles.
#[derive(Debug)]
pub struct EthRings {
    mem: DmaRegion,
    rq_off: usize,
    cq_off: usize,
    sq_log2: u8,
    rq_log2: u8,
    cq_log2: u8,
    /// Descriptors written, and the values last written to the doorbells.
    sq_pi: u16,
    rq_pi: u16,
    sq_rung: u16,
    rq_rung: u16,
    /// Completions polled per ring (the device completes each ring in order).
    sq_done: u16,
    rq_done: u16,
    /// Raw completions consumed (24 bits).
    cq_ci: u32,
    arm_sn: u8,
    /// The queue was flushed: posts fail.
    flushed: bool,
    /// The device did not answer the flush (fatal, removed): the driver returns what is
    /// outstanding itself.
    dead: bool,
}

impl EthRings {
    /// Rings over `mem` (zeroed, `layout.total` bytes), all counters at zero.
    pub fn new(mem: DmaRegion, layout: &EthLayout) -> EthRings {
        EthRings {
            mem,
            rq_off: layout.rq_off,
            cq_off: layout.cq_off,
            sq_log2: layout.sq_log2,
            rq_log2: layout.rq_log2,
            cq_log2: layout.cq_log2,
            sq_pi: 0,
            rq_pi: 0,
            sq_rung: 0,
            rq_rung: 0,
            sq_done: 0,
            rq_done: 0,
            cq_ci: 0,
            arm_sn: 0,
            flushed: false,
            dead: false,
        }
    }

    /// The region, for freeing once the device writes no more.
    pub fn into_region(self) -> DmaRegion {
        self.mem
    }

    /// The queue was flushed (posts fail from now on); `dead`: the device did not answer, so
    /// polling returns every outstanding descriptor itself, each once.
    pub fn mark_flushed(&mut self, dead: bool) {
        self.flushed = true;
        self.dead |= dead;
    }

    fn sq_slot(&self, counter: u16) -> Option<usize> {
        ring::slot(u32::from(counter), self.sq_log2).checked_mul(RAW_SEND_DESC_SIZE)
    }

    fn rq_slot(&self, counter: u16) -> Option<usize> {
        ring::slot(u32::from(counter), self.rq_log2)
            .checked_mul(RAW_RECV_DESC_SIZE)?
            .checked_add(self.rq_off)
    }

    /// The completion at CI when its owner bit says the device wrote it.
    fn next_cqe(&mut self) -> Option<RawCqe> {
        let raw: [u8; RAW_CQE_SIZE] = super::ring::owned_entry(
            &self.mem,
            self.cq_off,
            self.cq_ci,
            self.cq_log2,
            RAW_CQE_OWNER_OFFSET,
        )?;
        self.cq_ci = ring::advance24(self.cq_ci, 1);
        Some(RawCqe::decode(&raw).0)
    }

    /// The token of the outstanding send or receive descriptor at `counter` (for completions
    /// the driver makes itself after the device died).
    fn token_at(&self, receive: bool, counter: u16) -> u64 {
        let off = if receive {
            self.rq_slot(counter)
        } else {
            self.sq_slot(counter)
        };
        off.and_then(|o| self.mem.read_u64(o)).unwrap_or(0)
    }

    /// Writes a send descriptor of `frags`; no doorbell (see [`EthRings::ring`]).
    pub fn post_send(&mut self, frags: &[EthBuffer], token: u64) -> HalResult<()> {
        if self.flushed {
            return Err(HalError::InvalidState);
        }
        if frags.is_empty() || frags.len() > MAX_ETH_FRAGS.min(MAX_RAW_FRAGS) {
            return Err(HalError::InvalidParameter);
        }
        let depth = 1u32.checked_shl(u32::from(self.sq_log2)).unwrap_or(0);
        if u32::from(self.sq_pi.wrapping_sub(self.sq_done)) >= depth {
            return Err(HalError::QueueFull);
        }
        let mut d = RawSendDesc {
            token,
            index: self.sq_pi,
            num_frags: frags.len() as u8,
            frags: [RawFrag::default(); MAX_RAW_FRAGS],
        };
        for (slot, f) in d.frags.iter_mut().zip(frags) {
            *slot = RawFrag {
                addr: f.addr,
                len: f.len,
            };
        }
        let off = self.sq_slot(self.sq_pi).ok_or(HalError::Fatal)?;
        if !self.mem.write(off, &d.encode()) {
            return Err(HalError::Fatal);
        }
        self.sq_pi = self.sq_pi.wrapping_add(1);
        Ok(())
    }

    /// Writes a receive descriptor of `buf`; no doorbell (see [`EthRings::ring`]).
    pub fn post_recv(&mut self, buf: EthBuffer, token: u64) -> HalResult<()> {
        if self.flushed {
            return Err(HalError::InvalidState);
        }
        if buf.len == 0 {
            return Err(HalError::InvalidParameter);
        }
        let depth = 1u32.checked_shl(u32::from(self.rq_log2)).unwrap_or(0);
        if u32::from(self.rq_pi.wrapping_sub(self.rq_done)) >= depth {
            return Err(HalError::QueueFull);
        }
        let d = RawRecvDesc {
            token,
            addr: buf.addr,
            len: buf.len,
            index: self.rq_pi,
        };
        let off = self.rq_slot(self.rq_pi).ok_or(HalError::Fatal)?;
        if !self.mem.write(off, &d.encode()) {
            return Err(HalError::Fatal);
        }
        self.rq_pi = self.rq_pi.wrapping_add(1);
        Ok(())
    }

    /// Publishes descriptors written since the last call: a release fence, then
    /// `write_rq` / `write_sq` with the new producer counter of each ring that moved, on the
    /// doorbell block `db` returns (nothing is marked rung without one).
    pub fn ring<D>(
        &mut self,
        db: impl FnOnce() -> Option<D>,
        write_rq: impl FnOnce(&D, u16),
        write_sq: impl FnOnce(&D, u16),
    ) {
        if self.sq_pi == self.sq_rung && self.rq_pi == self.rq_rung {
            return;
        }
        // Descriptors visible before the doorbell.
        fence(Ordering::Release);
        let Some(db) = db() else {
            return;
        };
        if self.rq_pi != self.rq_rung {
            write_rq(&db, self.rq_pi);
            self.rq_rung = self.rq_pi;
        }
        if self.sq_pi != self.sq_rung {
            write_sq(&db, self.sq_pi);
            self.sq_rung = self.sq_pi;
        }
    }

    /// Harvests completions into `out`. A dead device's late completions are ignored: the
    /// driver returns every outstanding descriptor itself (not OK), each exactly once.
    pub fn poll(&mut self, out: &mut [EthCompletion]) -> usize {
        let mut n = 0;
        for slot in out.iter_mut() {
            let hw = if self.dead { None } else { self.next_cqe() };
            let c = match hw {
                Some(c) => {
                    if c.receive {
                        self.rq_done = self.rq_done.wrapping_add(1);
                    } else {
                        self.sq_done = self.sq_done.wrapping_add(1);
                    }
                    c.eth_completion()
                }
                None if self.dead && self.sq_done != self.sq_pi => {
                    let token = self.token_at(false, self.sq_done);
                    self.sq_done = self.sq_done.wrapping_add(1);
                    EthCompletion::Sent { token, ok: false }
                }
                None if self.dead && self.rq_done != self.rq_pi => {
                    let token = self.token_at(true, self.rq_done);
                    self.rq_done = self.rq_done.wrapping_add(1);
                    EthCompletion::Received {
                        token,
                        len: 0,
                        ok: false,
                    }
                }
                None => break,
            };
            *slot = c;
            n += 1;
        }
        n
    }

    /// Arms the completion ring: the next sequence number (2 bits), then `write` with the
    /// 24-bit consumer counter and that number.
    pub fn arm(&mut self, write: impl FnOnce(u32, u8)) {
        self.arm_sn = self.arm_sn.wrapping_add(1) & 3;
        write(self.cq_ci & ring::COUNTER24_MASK, self.arm_sn);
    }
}
