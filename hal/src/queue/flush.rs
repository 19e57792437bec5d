//! Completions the driver makes itself once the device is dead (FATAL, or surprise-removed).
//! A dead device writes no FLUSHED CQE, yet every posted request must complete exactly once
//! (`NicHal`). As Linux mlx5 (`mlx5_ib_poll_sw_comp`) and irdma
//! (`irdma_generate_flush_completions`) do, the CQ poller, once the hardware ring yields
//! nothing more, synthesizes FLUSHED completions from the queues themselves: a WQE keeps its
//! WR id, opcode and SIGNALED flag in its ring slot until the slot is reused.
//!
//! Per queue the driver knows the WQE after the last one whose completion was reported
//! ([`Tracks`], indexed by QPN: the poller stores each CQE's WQE index + 1, one store with no
//! lookup and no lock) and the producer counter the poster published in the QP's shared
//! memory ([`QpMem`]). Which queues feed which CQ is kept in a registry under its own lock,
//! which the fast path takes only once the device is dead. A queue leaves the registry when
//! the device confirmed its QP's destroy (every CQE written), or with its CQ.
//!
//! QP numbers are handed out round-robin, so a late CQE of a destroyed QP polled after its
//! number was reused (which would move the new QP's track) needs the whole number space to
//! wrap first; a track outside the ring's window is clamped to it.
//!
//! SRQ receives are not flushed: they belong to the SRQ, not to a QP or CQ, and stay queued
//! until the SRQ is destroyed, as on a live device and in `hal::mock`.
//!
//! The silicon reads its own WQE slots and builds its own FLUSHED CQEs ([`FlushFormat`]).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, Ordering};

use lock_api::{Mutex, RawMutex};

use super::qp::QpMem;
use crate::karc::KArc;
use crate::{Completion, HalError, HalResult, Platform};

/// Which queue of a QP a completion retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// The send queue.
    Send,
    /// The receive queue (not an SRQ).
    Recv,
}

/// How one silicon turns ring slots into FLUSHED completions.
pub trait FlushFormat {
    /// Byte offset of SQ_CI in the QP record (the SQ WQEs the device retired).
    const SQ_CI_OFFSET: usize;

    /// The FLUSHED completion of the send WQE with index `index` in the slot at byte `off` of
    /// `mem.region`, or `None` when it completes silently: a NOP, or an unsignaled WQE the
    /// device had `retired` (it succeeded without a CQE).
    fn flushed_send(mem: &QpMem, off: usize, index: u16, retired: bool) -> Option<Completion>;

    /// The FLUSHED completion of the receive WQE with index `index` at byte `off`.
    fn flushed_recv(mem: &QpMem, off: usize, index: u16) -> Option<Completion>;
}

/// Per QP: the WQE after the last one whose completion was reported, per queue.
#[derive(Debug, Default)]
pub struct Track {
    sq: AtomicU16,
    rq: AtomicU16,
}

impl Track {
    fn of(&self, queue: Queue) -> &AtomicU16 {
        match queue {
            Queue::Send => &self.sq,
            Queue::Recv => &self.rq,
        }
    }
}

/// [`Track`]s of every QP number, allocated at bring-up.
#[derive(Debug)]
pub struct Tracks(Vec<Track>);

impl Tracks {
    /// One entry per QP number below `qps`.
    pub fn new(qps: u32) -> HalResult<Tracks> {
        let n = usize::try_from(qps).map_err(|_| HalError::NoResources)?;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| HalError::NoResources)?;
        v.resize_with(n, Track::default);
        Ok(Tracks(v))
    }

    fn get(&self, qpn: u32) -> Option<&Track> {
        self.0.get(usize::try_from(qpn).ok()?)
    }

    /// A new QP starts with nothing completed.
    pub fn reset(&self, qpn: u32) {
        if let Some(t) = self.get(qpn) {
            t.sq.store(0, Ordering::Release);
            t.rq.store(0, Ordering::Release);
        }
    }

    /// The poller reports a completion of WQE `wqe_index` of `queue` of QP `qpn`: the queue
    /// completed through it (SQ and RQ WQEs complete in order).
    pub fn completed(&self, qpn: u32, queue: Queue, wqe_index: u16) {
        if let Some(t) = self.get(qpn) {
            t.of(queue)
                .store(wqe_index.wrapping_add(1), Ordering::Release);
        }
    }

    /// The consumer counter a poster checks room against: `ci` as the device reported it, or,
    /// when the ring of `depth` slots looks full by it, the flush track if that is later (a
    /// dead device retires nothing; the driver's own flush completions free slots; alive, the
    /// track never passes the device's counter). Reads the track only when full.
    pub fn room_ci(&self, qpn: u32, queue: Queue, pi: u16, ci: u16, depth: u32) -> u16 {
        if u32::from(pi.wrapping_sub(ci)) < depth {
            return ci;
        }
        if let Some(t) = self.get(qpn) {
            let done = t.of(queue).load(Ordering::Acquire);
            if pi.wrapping_sub(done) < pi.wrapping_sub(ci) {
                return done;
            }
        }
        ci
    }
}

/// A queue whose completions go to CQ `cqn`: the SQ or the RQ of a QP.
#[derive(Debug)]
struct Feeder {
    cqn: u32,
    queue: Queue,
    mem: KArc<QpMem>,
}

/// Byte offset of slot `counter` of a ring of `2^log2` slots of `2^stride_log2` bytes at
/// `base`.
fn slot_offset(base: usize, counter: u16, log2: u8, stride_log2: u8) -> Option<usize> {
    let stride = 1usize.checked_shl(u32::from(stride_log2))?;
    crate::ring::slot(u32::from(counter), log2)
        .checked_mul(stride)?
        .checked_add(base)
}

/// The first WQE not yet reported, and how many are outstanding: `done` is trusted only
/// inside the ring's window behind `pi` (a stale value is clamped to the whole ring).
fn window(done: u16, pi: u16, log2: u8) -> (u16, u32) {
    let depth = 1u32.checked_shl(u32::from(log2)).unwrap_or(0);
    let outstanding = u32::from(pi.wrapping_sub(done));
    if outstanding <= depth {
        (done, outstanding)
    } else {
        (pi.wrapping_sub(depth as u16), depth)
    }
}

/// Flushes the SQ of `mem` into `out`, in post order, from the first WQE whose completion was
/// not reported. A signaled WQE always completes; an unsignaled one only if the device had
/// not retired it (the QP record's SQ_CI had not passed it): a retired unsignaled WQE
/// succeeded silently.
fn flush_sq<F: FlushFormat>(mem: &QpMem, track: &Track, out: &mut [Completion]) -> usize {
    let pi = mem.sq_pi.load(Ordering::Acquire);
    let (mut done, outstanding) = window(track.sq.load(Ordering::Acquire), pi, mem.sq_log2);
    let retired = u32::from(mem.record_counter(F::SQ_CI_OFFSET).wrapping_sub(done));
    let retired = if retired <= outstanding { retired } else { 0 };
    let mut n = 0;
    let mut k = 0u32;
    while done != pi {
        let Some(slot) = out.get_mut(n) else {
            break;
        };
        let Some(off) = slot_offset(0, done, mem.sq_log2, mem.sq_stride_log2) else {
            break;
        };
        if let Some(c) = F::flushed_send(mem, off, done, k < retired) {
            *slot = c;
            n += 1;
        }
        done = done.wrapping_add(1);
        k = k.saturating_add(1);
    }
    track.sq.store(done, Ordering::Release);
    n
}

/// Flushes the RQ of `mem` into `out`, in post order, from the first receive whose
/// completion was not reported (receives always complete).
fn flush_rq<F: FlushFormat>(mem: &QpMem, track: &Track, out: &mut [Completion]) -> usize {
    let pi = mem.rq_pi.load(Ordering::Acquire);
    let (mut done, _) = window(track.rq.load(Ordering::Acquire), pi, mem.rq_log2);
    let mut n = 0;
    while done != pi {
        let Some(slot) = out.get_mut(n) else {
            break;
        };
        let Some(off) = slot_offset(mem.rq_offset, done, mem.rq_log2, mem.rq_stride_log2) else {
            break;
        };
        if let Some(c) = F::flushed_recv(mem, off, done) {
            *slot = c;
            n += 1;
        }
        done = done.wrapping_add(1);
    }
    track.rq.store(done, Ordering::Release);
    n
}

/// The flush state of one device: the tracks (lock-free, written by the pollers) and the
/// registry of which queues feed which CQ (under its own lock `R`, taken on the fast path
/// only once the device is dead).
pub struct SoftFlush<R: RawMutex> {
    tracks: Tracks,
    feeders: Mutex<R, Vec<Feeder>>,
}

impl<R: RawMutex> core::fmt::Debug for SoftFlush<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftFlush").finish_non_exhaustive()
    }
}

impl<R: RawMutex> SoftFlush<R> {
    /// Tracks for QP numbers below `qps` and an empty registry.
    pub fn new(qps: u32) -> HalResult<Self> {
        Ok(SoftFlush {
            tracks: Tracks::new(qps)?,
            feeders: Mutex::new(Vec::new()),
        })
    }

    /// The per-QP completion tracks.
    pub fn tracks(&self) -> &Tracks {
        &self.tracks
    }

    /// Synthesizes FLUSHED completions of the queues feeding CQ `cqn` into `out`.
    pub fn flush_into<F: FlushFormat>(&self, cqn: u32, out: &mut [Completion]) -> usize {
        let feeders = self.feeders.lock();
        let mut n = 0usize;
        for f in feeders.iter().filter(|f| f.cqn == cqn) {
            let Some(rest) = out.get_mut(n..).filter(|r| !r.is_empty()) else {
                break;
            };
            let Some(track) = self.tracks.get(f.mem.qpn) else {
                continue;
            };
            let got = match f.queue {
                Queue::Recv => flush_rq::<F>(&f.mem, track, rest),
                Queue::Send => flush_sq::<F>(&f.mem, track, rest),
            };
            n = n.saturating_add(got);
        }
        n
    }

    /// Registers the SQ (and the RQ, without an SRQ) of a new QP with their CQs, before the
    /// device hears of the QP.
    pub fn add_feeders(
        &self,
        mem: &KArc<QpMem>,
        send_cqn: u32,
        recv_cqn: Option<u32>,
    ) -> HalResult<()> {
        self.tracks.reset(mem.qpn);
        let mut feeders = self.feeders.lock();
        feeders.try_reserve(2).map_err(|_| HalError::NoResources)?;
        feeders.push(Feeder {
            cqn: send_cqn,
            queue: Queue::Send,
            mem: mem.clone(),
        });
        if let Some(cqn) = recv_cqn {
            feeders.push(Feeder {
                cqn,
                queue: Queue::Recv,
                mem: mem.clone(),
            });
        }
        Ok(())
    }

    /// Forgets the queues of QP `qpn` (its destroy completed, or its create never reached the
    /// device). With `free`, the queue buffer goes back to that platform when these were its
    /// last references (dropped outside the registry lock).
    pub fn remove_feeders<P: Platform>(&self, qpn: u32, free: Option<&P>) {
        let mut gone: [Option<KArc<QpMem>>; 2] = [None, None];
        {
            let mut feeders = self.feeders.lock();
            for g in gone.iter_mut() {
                if let Some(i) = feeders.iter().position(|f| f.mem.qpn == qpn) {
                    *g = Some(feeders.swap_remove(i).mem);
                }
            }
        }
        for m in gone.into_iter().flatten() {
            if let Ok(m) = KArc::try_unwrap(m) {
                if let Some(p) = free {
                    p.free_dma(m.region);
                }
            }
        }
    }

    /// A destroyed CQ is fed by nothing any more (its number may be reused).
    pub fn remove_cq_feeders(&self, cqn: u32) {
        self.feeders.lock().retain(|f| f.cqn != cqn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_track_is_clamped_to_the_ring() {
        assert_eq!(window(3, 5, 2), (3, 2));
        assert_eq!(window(0, 100, 2), (96, 4));
    }

    #[test]
    fn room_uses_the_track_only_when_it_is_later() {
        let t = Tracks::new(4).unwrap();
        t.completed(1, Queue::Send, 9);
        assert_eq!(t.room_ci(1, Queue::Send, 12, 8, 4), 10);
        assert_eq!(t.room_ci(1, Queue::Send, 12, 11, 4), 11);
        assert_eq!(t.room_ci(1, Queue::Recv, 12, 8, 4), 8);
        t.reset(1);
        assert_eq!(t.room_ci(1, Queue::Send, 12, 8, 4), 8);
    }
}
