//! Fast-path cost on the reference NICs' backends — RoCEv2 (`hal_roce::RoceNic` over its
//! device model) and iWARP (`hal_iwarp::IwarpNic` over its device model) — driven as an NDK
//! consumer drives a provider (every call through the `extern "system"` function pointers of
//! the QP and CQ dispatch tables of a connected pair set up once), against a minimal loop
//! that writes the same WQE and doorbell directly. Each group is named after its transport
//! (`rocev2_*`, `iwarp_*`); the provider side is one generic harness
//! ([`ndk_tests::ModelBackend`]), the baseline one macro instantiated with each NIC's formats.
//!
//! - `<transport>_post`: `NdkWrite` (64 bytes, one SGE) with `NDK_OP_FLAG_DEFER` (the WQE is
//!   written, no doorbell), and batches of 16 whose last post has no `DEFER` (one doorbell
//!   per batch). The device model runs only when the network is pumped, so nothing moves in
//!   the timed region: the doorbell is one store to BAR memory. Between rounds (untimed) the
//!   network is pumped and the completions are harvested.
//! - `<transport>_poll`: `NdkGetCqResultsEx` of N completions from a CQ the model filled by
//!   executing RDMA writes (untimed); `<transport>_poll_empty` is a poll that finds nothing.
//! - `<transport>_baseline_post` / `<transport>_baseline_poll`: what the driver's
//!   `post_send` + `ring_sq` and `poll_cq` do, written out by hand from the NIC crate's public
//!   formats, with no provider and no HAL trait: the same WQE encoded with the crate's
//!   `wqe::encode_send_wqe` and copied into its slot of a `hal::DmaRegion` after the room
//!   check against the QP record's SQ_CI, a release fence and a volatile store of SQ_PI into
//!   a doorbell word; and the driver's CQE loop (owner bit, acquire fence, `Cqe::decode`,
//!   `Cqe::completion`, CQ doorbell record) over a ring of CQEs encoded with `Cqe::encode`.
//!   `encode+copy+lock` adds the uncontended lock and unlock of a queue lock.
//!
//! The ratio provider / baseline is the cost of the provider (dispatch, object and argument
//! checks, SGL translation, the queue guards, `NDK_RESULT_EX` translation) and the HAL trait
//! boundary on top of the hardware-facing work.
//!
//! Run: `cargo bench -p ndk-tests --bench silicon_fast_path` (see BENCHMARKS.md); add
//! `-- iwarp` or `-- rocev2` for one transport.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::c_void;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hal::{DmaRegion, Sge};
use hal_iwarp::model::Rnicw1;
use hal_roce::model::network::Rnicr2;
use ndk_provider::abi::*;
use ndk_tests::wr::Pair;
use ndk_tests::{Backend, ModelBackend, NetOptions, Side, SideOptions, Transport, WAIT_ROUNDS};

/// CQ depth of each side: room for a full prefill round of the harvest benchmarks.
const CQ_DEPTH: u32 = 1024;
/// Initiator queue depth of the harness's QPs.
const QP_DEPTH: usize = 64;
/// Payload of every write.
const LEN: u32 = 64;
/// WRs per doorbell in `batch16`.
const BATCH: usize = 16;
/// Send SGEs and inline bytes the harness's QPs are created with (`Side::open_with`).
const MAX_SEND_SGE: usize = 2;
const MAX_INLINE: usize = 64;
/// QPN of the baseline's doorbell block (any block of the first doorbell page).
const BASELINE_QPN: u32 = 2;
/// The QPContext the harness's QPs are created with.
const QP_CONTEXT: u64 = 0x5150;

/// Criterion settings of the benchmarks whose untimed part runs the device model: a timed
/// post or poll costs tens of nanoseconds, executing the write behind it in the model about
/// a microsecond, so these measure less timed time to keep the wall time down.
fn model_bound(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, ms: u64) {
    g.warm_up_time(Duration::from_millis(ms / 4))
        .measurement_time(Duration::from_millis(ms));
}

// ---------------------------------------------------------------------------------------
// The provider on a reference NIC's backend.
// ---------------------------------------------------------------------------------------

struct Rig<M: Transport> {
    pair: Pair<ModelBackend<M>>,
}

impl<M: Transport> Rig<M> {
    fn new() -> Rig<M> {
        let net = ModelBackend::<M>::network(&NetOptions::default());
        let o = SideOptions::new(CQ_DEPTH).queues(QP_DEPTH as u32, QP_DEPTH as u32);
        let a = Side::<ModelBackend<M>>::open_with(&net, "10.77.0.1", o);
        let b = Side::<ModelBackend<M>>::open_with(&net, "10.77.0.2", o);
        Rig {
            pair: Pair::connect(a, b),
        }
    }

    fn a(&self) -> &Side<ModelBackend<M>> {
        &self.pair.a
    }

    fn remote(&self) -> u64 {
        self.pair.b.buf.addr() + 4096
    }

    /// One 64-byte `NdkWrite` from `a` into `b`'s buffer.
    fn write(&self, q: &NDK_QP_DISPATCH, wsge: &NDK_SGE, ctx: usize, flags: u32) -> NTSTATUS {
        // SAFETY: consumer call on a connected QP with one SGE.
        unsafe {
            (q.NdkWrite)(
                self.a().qp,
                ctx as *mut c_void,
                wsge,
                1,
                self.remote(),
                self.pair.b.rkey,
                flags,
            )
        }
    }

    /// Lets the model run, then harvests exactly `n` completions from `a`'s CQ, asserting
    /// they succeeded.
    fn drain(&self, n: usize) {
        let a = self.a();
        let c = a.c();
        let mut out = [NDK_RESULT_EX::EMPTY; 64];
        let (mut got, mut idle) = (0usize, 0usize);
        a.pump();
        while got < n {
            let want = (n - got).min(out.len()) as u32;
            // SAFETY: consumer call with a buffer of `want` entries.
            let k = unsafe { (c.NdkGetCqResultsEx)(a.cq, out.as_mut_ptr(), want) } as usize;
            if k == 0 {
                idle += 1;
                assert!(idle < WAIT_ROUNDS, "CQ ran dry: {got} of {n}");
                a.pump();
                continue;
            }
            for r in &out[..k] {
                assert_eq!(r.Status, STATUS_SUCCESS);
            }
            got += k;
        }
    }

    /// Posts `n` 64-byte RDMA writes from `a` in rounds of the send queue depth (`DEFER` on
    /// all but the last of a round) and pumps after each round: `n` completions wait in
    /// `a`'s CQ.
    fn prefill(&self, n: usize) {
        let (q, wsge) = (self.a().q(), self.a().sge(128, LEN));
        let mut left = n;
        while left > 0 {
            let round = left.min(QP_DEPTH);
            for i in 0..round {
                let flags = if i + 1 < round { NDK_OP_FLAG_DEFER } else { 0 };
                assert_eq!(self.write(q, &wsge, i, flags), STATUS_SUCCESS);
            }
            self.a().pump();
            left -= round;
        }
    }
}

fn provider_post<M: Transport>(c: &mut Criterion, r: &Rig<M>) {
    let q = r.a().q();
    let wsge = r.a().sge(128, LEN);
    let mut g = c.benchmark_group(format!("{}_post", M::TRANSPORT));
    model_bound(&mut g, 500);

    g.throughput(Throughput::Elements(1));
    g.bench_function("NdkWrite(DEFER)", |bch| {
        bch.iter_custom(|iters| {
            let (mut total, mut left) = (Duration::ZERO, iters);
            while left > 0 {
                // One slot of the send queue stays free for the post that rings.
                let round = left.min(QP_DEPTH as u64 - 1);
                let t0 = Instant::now();
                for i in 0..round {
                    let s = r.write(q, &wsge, i as usize, NDK_OP_FLAG_DEFER);
                    debug_assert_eq!(s, STATUS_SUCCESS);
                }
                total += t0.elapsed();
                // Untimed: one non-DEFER post rings for all of them; the model runs; harvest.
                assert_eq!(r.write(q, &wsge, 0, 0), STATUS_SUCCESS);
                r.drain(round as usize + 1);
                left -= round;
            }
            total
        })
    });

    // 16 posts per doorbell; 4 batches fill the send queue, then the model drains it.
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("batch16/defer15+doorbell", |bch| {
        bch.iter_custom(|iters| {
            let per_round = (QP_DEPTH / BATCH) as u64;
            let (mut total, mut left) = (Duration::ZERO, iters);
            while left > 0 {
                let batches = left.min(per_round);
                let t0 = Instant::now();
                for _ in 0..batches {
                    for i in 0..BATCH {
                        let flags = if i + 1 < BATCH { NDK_OP_FLAG_DEFER } else { 0 };
                        let s = r.write(q, &wsge, i, flags);
                        debug_assert_eq!(s, STATUS_SUCCESS);
                    }
                }
                total += t0.elapsed();
                r.drain(batches as usize * BATCH);
                left -= batches;
            }
            total
        })
    });
    g.finish();
}

fn provider_poll<M: Transport>(c: &mut Criterion, r: &Rig<M>) {
    let a = r.a();
    let ca = a.c();
    let mut g = c.benchmark_group(format!("{}_poll", M::TRANSPORT));
    model_bound(&mut g, 60);
    for n in [1usize, 16, 64] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("NdkGetCqResultsEx", n), &n, |bch, &n| {
            // Calls per prefill: as many as the CQ holds.
            let per_fill = (CQ_DEPTH as usize / n) as u64;
            bch.iter_custom(|iters| {
                let mut out = [NDK_RESULT_EX::EMPTY; 64];
                let (mut total, mut left) = (Duration::ZERO, iters);
                while left > 0 {
                    let calls = left.min(per_fill);
                    r.prefill(calls as usize * n);
                    let mut got = 0u64;
                    let t0 = Instant::now();
                    for _ in 0..calls {
                        // SAFETY: consumer call with a buffer of 64 >= n entries.
                        got += u64::from(unsafe {
                            (ca.NdkGetCqResultsEx)(a.cq, out.as_mut_ptr(), n as u32)
                        });
                        black_box(&out);
                    }
                    total += t0.elapsed();
                    assert_eq!(got, calls * n as u64, "the CQ held the prefill");
                    left -= calls;
                }
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("{}_poll_empty", M::TRANSPORT));
    g.throughput(Throughput::Elements(1));
    g.bench_function("NdkGetCqResultsEx", |bch| {
        let mut out = [NDK_RESULT_EX::EMPTY; 16];
        bch.iter(|| {
            // SAFETY: consumer call with a 16-entry buffer.
            let n = unsafe { (ca.NdkGetCqResultsEx)(a.cq, out.as_mut_ptr(), 16) };
            black_box(n)
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------
// The baseline: the driver's fast path written out by hand, once per NIC's formats.
// ---------------------------------------------------------------------------------------

/// Zeroed, 4 KiB-aligned host memory standing in for DMA memory and for a BAR page.
struct Page {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Page {
    fn new(len: usize) -> Page {
        let layout = Layout::from_size_align(len.max(4096), 4096).unwrap();
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("allocation");
        Page { ptr, layout }
    }

    /// A `DmaRegion` over the whole allocation (bus address = host address).
    ///
    /// # Safety
    /// The region must be dropped before the page.
    unsafe fn region(&self) -> DmaRegion {
        // SAFETY: the memory stays valid while the page lives (the caller's contract).
        unsafe { DmaRegion::from_raw(self.ptr, self.ptr.as_ptr() as u64, self.layout.size()) }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: allocated in `Page::new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// The baseline loops of a NIC crate `$hal` (`wqe`, `cqe`, `record`, `regs`; `$field`s: the
/// CQE fields only one NIC has, with their values in a successful write's CQE): the same code
/// for both NICs, compiled against each one's formats.
macro_rules! baseline {
    ($hal:ident, { $($field:ident: $value:expr),* }) => {
        use std::sync::atomic::{fence, AtomicU8, Ordering};
        use std::time::{Duration, Instant};

        use criterion::{BenchmarkId, Criterion, Throughput};
        use hal::{ring, Completion, DmaRegion, Payload, SendOp, SendWr, Sge, WrFlags};
        use $hal::cqe::{Cqe, CqeFlags, CqeOpcode, CqeStatus, CQE_OWNER_OFFSET, CQE_SIZE};
        use $hal::record::{CqDoorbellRecord, QpRecord, CQ_DBREC_SIZE, QP_RECORD_SIZE};
        use $hal::regs;
        use $hal::wqe::{self, MAX_SQ_WQE_SIZE};
        use std::hint::black_box;

        use super::{Page, BASELINE_QPN, BATCH, CQ_DEPTH, MAX_INLINE, MAX_SEND_SGE, QP_CONTEXT};
        use super::QP_DEPTH;

        /// The driver's `Sq` and `ring_sq` target, minus the provider: a ring of `2^log2_depth`
        /// slots of `2^log2_stride` bytes, the QP record after it, and one doorbell word.
        struct SqLoop {
            region: DmaRegion,
            log2_depth: u8,
            log2_stride: u8,
            record_offset: usize,
            pi: u16,
            rung: u16,
            /// SQ_PI of doorbell block `BASELINE_QPN` in a zeroed page standing in for BAR2.
            sq_pi: *mut u32,
            _mem: Page,
            _bar: Page,
        }

        impl SqLoop {
            fn new() -> SqLoop {
                let log2_depth = QP_DEPTH.trailing_zeros() as u8;
                let log2_stride = wqe::sq_stride_log2(MAX_SEND_SGE, MAX_INLINE).unwrap();
                let record_offset = 1usize << (log2_depth + log2_stride);
                let mem = Page::new(record_offset + QP_RECORD_SIZE);
                let bar = Page::new(regs::DB_PAGE_SIZE);
                let db = regs::doorbell_block_offset(BASELINE_QPN) + regs::DB_SQ_PI;
                SqLoop {
                    // SAFETY: the region is a field dropped before `_mem`.
                    region: unsafe { mem.region() },
                    log2_depth,
                    log2_stride,
                    record_offset,
                    pi: 0,
                    rung: 0,
                    // SAFETY: `db` is an aligned word inside the page.
                    sq_pi: unsafe { bar.ptr.as_ptr().add(db).cast() },
                    _mem: mem,
                    _bar: bar,
                }
            }

            /// `sq::post`: room check against the record's SQ_CI, encode, copy into the slot, PI + 1.
            #[inline]
            fn post(&mut self, wr: &SendWr<'_>) -> bool {
                let depth = 1u32 << self.log2_depth;
                let mut b = [0u8; 4];
                self.region
                    .read(self.record_offset + QpRecord::SQ_CI_OFFSET, &mut b);
                let ci = (u32::from_le_bytes(b) & 0xFFFF) as u16;
                if u32::from(self.pi.wrapping_sub(ci)) >= depth {
                    return false;
                }
                let stride = 1usize << self.log2_stride;
                let mut buf = [0u8; MAX_SQ_WQE_SIZE];
                let Ok(n) = wqe::encode_send_wqe(&mut buf[..stride], self.pi, wr, None) else {
                    return false;
                };
                let off = ring::slot(u32::from(self.pi), self.log2_depth) * stride;
                if !self.region.write(off, &buf[..n]) {
                    return false;
                }
                self.pi = self.pi.wrapping_add(1);
                true
            }

            /// `sq::ring`: release fence, one volatile store of SQ_PI.
            #[inline]
            fn ring(&mut self) {
                if self.pi == self.rung {
                    return;
                }
                fence(Ordering::Release);
                // SAFETY: `sq_pi` points into `_bar`, which lives as long as `self`.
                unsafe { self.sq_pi.write_volatile(u32::from(self.pi)) };
                self.rung = self.pi;
            }

            /// Untimed: the device retired everything posted (its SQ_CI in the QP record = PI).
            fn retire(&mut self) {
                let off = self.record_offset + QpRecord::SQ_CI_OFFSET;
                self.region.write(off, &u32::from(self.pi).to_le_bytes());
            }
        }

        /// The driver's `CqPoller` and `cq::poll`, minus the provider: a ring of `2^log2` CQEs and
        /// the CQ doorbell record after it.
        struct CqLoop {
            region: DmaRegion,
            log2: u8,
            dbrec_offset: usize,
            ci: u32,
            generation: bool,
            /// The "device"'s producer counter (prefill only).
            pi: u32,
            _mem: Page,
        }

        impl CqLoop {
            fn new() -> CqLoop {
                // §11.3: the provider's CQ of depth 1024 gets a ring of 2^11 (one slot reserved).
                let log2 = (CQ_DEPTH + 1).next_power_of_two().trailing_zeros() as u8;
                let dbrec_offset = CQE_SIZE << log2;
                let mem = Page::new(dbrec_offset + CQ_DBREC_SIZE);
                CqLoop {
                    // SAFETY: the region is a field dropped before `_mem`.
                    region: unsafe { mem.region() },
                    log2,
                    dbrec_offset,
                    ci: 0,
                    generation: false,
                    pi: 0,
                    _mem: mem,
                }
            }

            /// Untimed: the "device" writes `n` RDMA-write completions (body, then the owner byte).
            fn prefill(&mut self, n: usize) {
                for _ in 0..n {
                    let cqe = Cqe {
                        wr_id: u64::from(self.pi),
                        qp_context: QP_CONTEXT,
                        byte_count: 0,
                        $($field: $value,)*
                        qpn: BASELINE_QPN,
                        srqn: 0,
                        syndrome: 0,
                        wqe_index: self.pi as u16,
                        status: CqeStatus::Success,
                        opcode: CqeOpcode::Write,
                        flags: CqeFlags::empty(),
                    };
                    let raw = cqe.encode(ring::owner_bit(self.pi, self.log2));
                    let off = ring::slot(self.pi, self.log2) * CQE_SIZE;
                    self.region.write(off, &raw[..CQE_OWNER_OFFSET]);
                    fence(Ordering::Release);
                    self.region
                        .write(off + CQE_OWNER_OFFSET, &raw[CQE_OWNER_OFFSET..]);
                    self.pi = ring::advance24(self.pi, 1);
                }
            }

            /// `CqPoller::peek`: the raw CQE at CI when its owner bit says the device wrote it.
            #[inline]
            fn peek(&self) -> Option<[u8; CQE_SIZE]> {
                let off = ring::slot(self.ci, self.log2) * CQE_SIZE;
                let mut owner = [0u8; 1];
                if !self.region.read(off + CQE_OWNER_OFFSET, &mut owner) {
                    return None;
                }
                if (owner[0] & 1 != 0) != ring::owner_bit(self.ci, self.log2) {
                    return None;
                }
                fence(Ordering::Acquire);
                let mut raw = [0u8; CQE_SIZE];
                self.region.read(off, &mut raw).then_some(raw)
            }

            /// `cq::poll`: harvest up to `out.len()` completions, then the CQ doorbell record.
            #[inline]
            fn poll(&mut self, out: &mut [Completion]) -> usize {
                let (mut n, mut consumed) = (0, false);
                while n < out.len() {
                    let Some(raw) = self.peek() else {
                        break;
                    };
                    self.ci = ring::advance24(self.ci, 1);
                    consumed = true;
                    let Ok(cqe) = Cqe::decode(&raw) else {
                        continue;
                    };
                    if cqe.opcode == CqeOpcode::Resize {
                        continue;
                    }
                    if let Some(c) = cqe.completion() {
                        out[n] = c;
                        n += 1;
                    }
                }
                if consumed {
                    let rec = CqDoorbellRecord {
                        ci: self.ci,
                        ring: self.generation,
                    };
                    self.region
                        .write(self.dbrec_offset, &rec.to_u32().to_le_bytes());
                }
                n
            }
        }

        /// The work request the provider builds from the consumer's `NdkWrite` (one SGE with the
        /// SGE's address and token, SIGNALED), so both sides encode the same WQE.
        fn write_wr<'a>(sgl: &'a [Sge], ctx: usize, remote_addr: u64, rkey: u32) -> SendWr<'a> {
            SendWr {
                wr_id: ctx as u64,
                op: SendOp::Write {
                    payload: Payload::Sgl(sgl),
                    remote_addr,
                    rkey,
                },
                flags: WrFlags::SIGNALED,
            }
        }

        /// `<transport>_baseline_post`: posts of an RDMA write of `sgl` to `remote` / `rkey`.
        pub fn post(c: &mut Criterion, transport: &str, sgl: [Sge; 1], remote: u64, rkey: u32) {
            let mut sq = SqLoop::new();
            let mut g = c.benchmark_group(format!("{transport}_baseline_post"));

            g.throughput(Throughput::Elements(1));
            g.bench_function("encode+copy(DEFER)", |bch| {
                bch.iter_custom(|iters| {
                    let (mut total, mut left) = (Duration::ZERO, iters);
                    while left > 0 {
                        let round = left.min(QP_DEPTH as u64 - 1);
                        let t0 = Instant::now();
                        for i in 0..round {
                            let ok = sq.post(&write_wr(black_box(&sgl), i as usize, remote, rkey));
                            debug_assert!(ok);
                        }
                        total += t0.elapsed();
                        assert!(sq.post(&write_wr(&sgl, 0, remote, rkey)));
                        sq.ring();
                        sq.retire();
                        left -= round;
                    }
                    total
                })
            });

            // The same inside the uncontended path of the queue lock the provider takes per post
            // (`parking_lot::RawMutex`, this platform's `RawLock`: one `compare_exchange` to lock,
            // one to unlock), to show what the lock alone costs.
            let lock = AtomicU8::new(0);
            g.bench_function("encode+copy+lock(DEFER)", |bch| {
                bch.iter_custom(|iters| {
                    let (mut total, mut left) = (Duration::ZERO, iters);
                    while left > 0 {
                        let round = left.min(QP_DEPTH as u64 - 1);
                        let t0 = Instant::now();
                        for i in 0..round {
                            let locked = lock
                                .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
                                .is_ok();
                            debug_assert!(locked);
                            let ok = sq.post(&write_wr(black_box(&sgl), i as usize, remote, rkey));
                            debug_assert!(ok);
                            let unlocked = lock
                                .compare_exchange(1, 0, Ordering::Release, Ordering::Relaxed)
                                .is_ok();
                            debug_assert!(unlocked);
                        }
                        total += t0.elapsed();
                        assert!(sq.post(&write_wr(&sgl, 0, remote, rkey)));
                        sq.ring();
                        sq.retire();
                        left -= round;
                    }
                    total
                })
            });

            g.throughput(Throughput::Elements(BATCH as u64));
            g.bench_function("batch16/encode+copy+doorbell", |bch| {
                bch.iter_custom(|iters| {
                    let per_round = (QP_DEPTH / BATCH) as u64;
                    let (mut total, mut left) = (Duration::ZERO, iters);
                    while left > 0 {
                        let batches = left.min(per_round);
                        let t0 = Instant::now();
                        for _ in 0..batches {
                            for i in 0..BATCH {
                                let ok = sq.post(&write_wr(black_box(&sgl), i, remote, rkey));
                                debug_assert!(ok);
                            }
                            sq.ring();
                        }
                        total += t0.elapsed();
                        sq.retire();
                        left -= batches;
                    }
                    total
                })
            });
            g.finish();
            assert_eq!(sq.rung, sq.pi, "every post was rung");
        }

        /// `<transport>_baseline_poll` and `<transport>_baseline_poll_empty`.
        pub fn poll(c: &mut Criterion, transport: &str) {
            let mut cq = CqLoop::new();
            let mut g = c.benchmark_group(format!("{transport}_baseline_poll"));
            for n in [1usize, 16, 64] {
                g.throughput(Throughput::Elements(n as u64));
                g.bench_with_input(BenchmarkId::new("decode", n), &n, |bch, &n| {
                    let per_fill = (CQ_DEPTH as usize / n) as u64;
                    bch.iter_custom(|iters| {
                        let mut out = [Completion::EMPTY; 64];
                        let (mut total, mut left) = (Duration::ZERO, iters);
                        while left > 0 {
                            let calls = left.min(per_fill);
                            cq.prefill(calls as usize * n);
                            let mut got = 0u64;
                            let t0 = Instant::now();
                            for _ in 0..calls {
                                got += cq.poll(&mut out[..n]) as u64;
                                black_box(&out);
                            }
                            total += t0.elapsed();
                            assert_eq!(got, calls * n as u64, "the ring held the prefill");
                            left -= calls;
                        }
                        total
                    })
                });
            }
            g.finish();

            let mut g = c.benchmark_group(format!("{transport}_baseline_poll_empty"));
            g.throughput(Throughput::Elements(1));
            g.bench_function("decode", |bch| {
                let mut out = [Completion::EMPTY; 16];
                bch.iter(|| black_box(cq.poll(&mut out)))
            });
            g.finish();
        }
    };
}

/// RNIC-R2's formats.
mod rocev2 {
    baseline!(hal_roce, { invalidated_rkey: 0 });
}

/// RNIC-W1's formats.
mod iwarp {
    baseline!(hal_iwarp, { invalidated_stag: 0, term: None });
}

/// Both groups of one transport; `baseline_post` / `baseline_poll` are its NIC's baseline.
fn transport<M: Transport>(
    c: &mut Criterion,
    baseline_post: fn(&mut Criterion, &str, [Sge; 1], u64, u32),
    baseline_poll: fn(&mut Criterion, &str),
) {
    let r = Rig::<M>::new();
    provider_post(c, &r);
    let s = r.a().sge(128, LEN);
    // SAFETY: reading the union member the harness wrote.
    let addr = unsafe { s.Address.LogicalAddress } as u64;
    let sgl = [Sge {
        addr,
        length: s.Length,
        lkey: s.MemoryRegionToken,
    }];
    baseline_post(c, M::TRANSPORT, sgl, r.remote(), r.pair.b.rkey);
    provider_poll(c, &r);
    baseline_poll(c, M::TRANSPORT);
    // Nothing outstanding: both CQs are empty before the pair closes.
    let (a, b) = (&r.pair.a, &r.pair.b);
    assert!(a.poll().is_empty() && b.poll().is_empty());
    r.pair.close();
}

fn silicon_fast_path(c: &mut Criterion) {
    transport::<Rnicr2>(c, rocev2::post, rocev2::poll);
    transport::<Rnicw1>(c, iwarp::post, iwarp::poll);
}

fn config() -> Criterion {
    Criterion::default()
        .without_plots()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = silicon_fast_path
}
criterion_main!(benches);
