//! [`MockPlatform`]: host services for tests.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::platform::{DeferredWork, DmaRegion};
use crate::{HalResult, Platform};

use super::dma;

/// Distinct deferred work items queued at once without reallocating.
const DEFERRED_CAPACITY: usize = 64;

/// Time as tests see it: a virtual part the test moves with [`MockPlatform::advance_ns`],
/// plus (while real time is on) the real monotonic time elapsed since it was switched on.
struct Clock {
    virtual_ns: u64,
    real_since: Option<Instant>,
}

impl Clock {
    fn now(&self) -> u64 {
        let real = self.real_since.map_or(0, |t| {
            u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
        });
        self.virtual_ns.saturating_add(real)
    }
}

/// Host services of the mock. Clones share one clock and one DMA counter; every NIC on a
/// [`super::Fabric`] uses the fabric's platform, so advancing it advances all of them.
///
/// * `now_ns` = virtual time + real monotonic time. Real time is **on** by default so a
///   provider that spins on `now_ns` for a deadline cannot hang a test; a test that needs
///   exact, reproducible timestamps calls [`MockPlatform::set_real_time`]`(false)` and then
///   only [`MockPlatform::advance_ns`] moves time. Either way time never goes backwards.
/// * `stall_us` runs the stall hook, if one is set (a device model's step), and otherwise
///   returns at once; it does not move the clock.
/// * `page_logical_address(pfn) = pfn << 12`: device logical addresses are host addresses.
/// * `alloc_dma` is zeroed, page-aligned std memory whose bus address is its host address.
/// * `defer` queues the work like a DPC: it runs when the test calls
///   [`MockPlatform::run_deferred`], outside every provider call, as a DPC runs outside the
///   call that queued it. Queuing work that is already queued does nothing (like
///   `KeInsertQueueDpc`), and the queue is preallocated, so queuing never allocates.
#[derive(Clone)]
pub struct MockPlatform {
    clock: Arc<Mutex<Clock>>,
    live_dma: Arc<AtomicUsize>,
    deferred: Arc<Mutex<Vec<DeferredWork>>>,
    stall_hook: Arc<Mutex<Option<StallHook>>>,
}

/// Runs while a driver busy-waits in `stall_us`: a device model steps here, so a driver's
/// register poll loop (reset, bring-up) sees the device react (the pattern of a model driven
/// at the points where the driver waits).
pub type StallHook = Arc<dyn Fn(u32) + Send + Sync>;

impl MockPlatform {
    /// A platform with virtual time 0 and real time on.
    pub fn new() -> MockPlatform {
        MockPlatform {
            clock: Arc::new(Mutex::new(Clock {
                virtual_ns: 0,
                real_since: Some(Instant::now()),
            })),
            live_dma: Arc::new(AtomicUsize::new(0)),
            deferred: Arc::new(Mutex::new(Vec::with_capacity(DEFERRED_CAPACITY))),
            stall_hook: Arc::new(Mutex::new(None)),
        }
    }

    /// Sets the function `stall_us` runs (a device model's step), replacing any earlier one.
    pub fn set_stall_hook(&self, hook: Option<StallHook>) {
        *self.stall_hook.lock() = hook;
    }

    /// Runs queued deferred work (and work it queues) until none is left; returns how many
    /// items ran. This is the tests' "DPC runs now".
    pub fn run_deferred(&self) -> usize {
        let mut ran = 0;
        loop {
            let next = {
                let mut q = self.deferred.lock();
                if q.is_empty() {
                    None
                } else {
                    Some(q.remove(0))
                }
            };
            let Some(work) = next else { return ran };
            work();
            ran += 1;
        }
    }

    /// Deferred work waiting to run.
    pub fn deferred_count(&self) -> usize {
        self.deferred.lock().len()
    }

    /// Moves time forward by `ns`.
    pub fn advance_ns(&self, ns: u64) {
        let mut c = self.clock.lock();
        c.virtual_ns = c.virtual_ns.saturating_add(ns);
    }

    /// Switches the real-time part on or off; the time reached so far is kept.
    pub fn set_real_time(&self, on: bool) {
        let mut c = self.clock.lock();
        let now = c.now();
        c.virtual_ns = now;
        c.real_since = on.then(Instant::now);
    }

    /// DMA regions allocated and not yet freed (for leak assertions).
    pub fn live_dma(&self) -> usize {
        self.live_dma.load(Ordering::Relaxed)
    }
}

impl Default for MockPlatform {
    fn default() -> Self {
        MockPlatform::new()
    }
}

impl Platform for MockPlatform {
    type RawLock = parking_lot::RawMutex;

    fn now_ns(&self) -> u64 {
        self.clock.lock().now()
    }

    fn stall_us(&self, us: u32) {
        let hook = self.stall_hook.lock().clone();
        if let Some(h) = hook {
            h(us);
        }
    }

    fn page_logical_address(&self, pfn: u64) -> u64 {
        pfn << 12
    }

    fn alloc_dma(&self, len: usize) -> HalResult<DmaRegion> {
        let r = dma::alloc_region(len)?;
        self.live_dma.fetch_add(1, Ordering::Relaxed);
        Ok(r)
    }

    fn free_dma(&self, region: DmaRegion) {
        dma::free_region(region);
        self.live_dma.fetch_sub(1, Ordering::Relaxed);
    }

    fn defer(&self, work: &DeferredWork) {
        let mut q = self.deferred.lock();
        if !q.iter().any(|w| DeferredWork::ptr_eq(w, work)) {
            q.push(work.clone());
        }
    }
}
