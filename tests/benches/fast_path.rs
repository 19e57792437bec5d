//! Fast-path cost over the mock HAL, driven exactly as an NDK consumer drives a provider:
//! every call goes through the `extern "system"` function pointers of the QP and CQ
//! dispatch tables of a connected pair set up once.
//!
//! - `send_recv`: `NdkSend` (64 bytes, non-`DEFER`: one doorbell) to a peer with a receive
//!   pre-posted, then harvesting the send and the receive completion (one
//!   `NdkGetCqResultsEx` on each CQ). Receives are pre-posted outside the timed region; the
//!   `+recv_post` variant times the `NdkReceive` as well.
//! - `write_batch16`: 16 `NdkWrite`s of 64 bytes, `NDK_OP_FLAG_DEFER` on all but the last
//!   (one doorbell), then harvesting the 16 completions; throughput is per WR.
//! - `post_deferred`: one `NdkWrite` with `NDK_OP_FLAG_DEFER` (the WQE is written, no
//!   doorbell, nothing moves); the doorbell and the harvest happen outside the timed region.
//! - `harvest`: `NdkGetCqResultsEx` of N completions from a CQ prefilled outside the timed
//!   region; throughput is per completion. `poll_empty` is a poll that finds nothing.
//! - `arm_cq`: `NdkArmCq(NDK_CQ_NOTIFY_ANY)` on an empty CQ.
//!
//! The mock NIC executes a transfer synchronously when the doorbell rings, so `send_recv`
//! and `write_batch16` include its emulated data movement; `post_deferred`, `harvest`,
//! `poll_empty` and `arm_cq` isolate the provider's per-call overhead (plus the mock's CQ lock and copy).
//!
//! Run: `cargo bench -p ndk-tests --bench fast_path` (see BENCHMARKS.md).

use std::ffi::c_void;
use std::hint::black_box;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hal::mock::Fabric;
use ndk_provider::abi::*;
use ndk_tests::*;

/// CQ depth of each side: room for a full prefill round of the harvest benchmarks.
const CQ_DEPTH: u32 = 1024;
/// Initiator and receive queue depth of the harness's QPs.
const QP_DEPTH: usize = 64;
/// Sends timed per pre-posted round of receives (at most the receive queue depth).
const RECV_ROUND: u64 = 32;
/// Payload of every send and write.
const LEN: u32 = 64;
/// WRs per doorbell in `write_batch16`.
const BATCH: usize = 16;

/// The connected pair and the dispatch tables a consumer would hold.
struct Pair {
    a: Side,
    b: Side,
    listener: *mut NDK_LISTENER,
}

impl Pair {
    fn new() -> Pair {
        let fabric = Fabric::new();
        let mut a = Side::new(&fabric, "10.77.0.1", CQ_DEPTH);
        let mut b = Side::new(&fabric, "10.77.0.2", CQ_DEPTH);
        let listener = connect(&mut a, &mut b, b"");
        Pair { a, b, listener }
    }

    fn cq_a(&self) -> &'static NDK_CQ_DISPATCH {
        // SAFETY: the CQ is open; its dispatch table is a static.
        unsafe { table(self.a.cq) }
    }

    fn cq_b(&self) -> &'static NDK_CQ_DISPATCH {
        // SAFETY: as above.
        unsafe { table(self.b.cq) }
    }

    /// Harvests exactly `n` completions from `cq`, asserting they succeeded.
    fn drain(&self, cq: *mut NDK_CQ, n: usize) {
        // SAFETY: `cq` is one of the pair's open CQs.
        let t: &NDK_CQ_DISPATCH = unsafe { table(cq) };
        let mut out = [NDK_RESULT_EX::EMPTY; 64];
        let mut got = 0usize;
        while got < n {
            let want = (n - got).min(out.len()) as u32;
            // SAFETY: consumer call with a buffer of `want` entries.
            let k = unsafe { (t.NdkGetCqResultsEx)(cq, out.as_mut_ptr(), want) } as usize;
            assert!(k > 0, "CQ ran dry: {got} of {n}");
            for r in &out[..k] {
                assert_eq!(r.Status, STATUS_SUCCESS);
            }
            got += k;
        }
    }

    /// Posts `n` 64-byte RDMA writes from `a` (`DEFER` on all but the last of each round of
    /// the send queue depth) and leaves their `n` completions in `a`'s CQ.
    fn prefill_a(&self, n: usize) {
        let (q, wsge) = (self.a.q(), self.a.sge(128, LEN));
        let remote = self.b.buf.addr() + 4096;
        let mut left = n;
        while left > 0 {
            let round = left.min(QP_DEPTH);
            for i in 0..round {
                let flags = if i + 1 < round { NDK_OP_FLAG_DEFER } else { 0 };
                // SAFETY: consumer call on a connected QP.
                let s = unsafe {
                    (q.NdkWrite)(
                        self.a.qp,
                        i as *mut c_void,
                        &wsge,
                        1,
                        remote,
                        self.b.rkey,
                        flags,
                    )
                };
                assert_eq!(s, STATUS_SUCCESS);
            }
            left -= round;
        }
    }

    /// Posts `n` 64-byte receives on `b`.
    fn post_recvs(&self, n: u64) {
        let (q, rsge) = (self.b.q(), self.b.sge(0, LEN));
        for i in 0..n {
            // SAFETY: consumer call on a connected QP.
            let s = unsafe { (q.NdkReceive)(self.b.qp, i as usize as *mut c_void, &rsge, 1) };
            assert_eq!(s, STATUS_SUCCESS);
        }
    }

    /// Runs the DPCs (a notification left by an arm) and checks both CQs are empty.
    fn settle(&self) {
        self.a.node.pump();
        self.b.node.pump();
        self.a.rec.take();
        self.b.rec.take();
        assert!(self.a.poll().is_empty() && self.b.poll().is_empty());
    }

    fn close(mut self) {
        self.settle();
        let rec = Recorder::new();
        assert_eq!(make::close(self.a.conn, &rec), STATUS_SUCCESS);
        self.a.conn = null_mut();
        // The listener's close waits for the connector it accepted (ndkpi.md §7.2).
        assert_eq!(make::close(self.listener, &rec), STATUS_PENDING);
        self.b.close();
        assert_eq!(rec.take(), vec![Event::Close]);
        self.a.close();
    }
}

fn send_recv(c: &mut Criterion, p: &Pair) {
    let (qa, qb) = (p.a.q(), p.b.q());
    let (ca, cb) = (p.cq_a(), p.cq_b());
    let (ssge, rsge) = (p.a.sge(0, LEN), p.b.sge(0, LEN));
    let mut g = c.benchmark_group("send_recv");
    g.throughput(Throughput::Elements(1));

    // Receives pre-posted (untimed) in rounds; each timed op is send + doorbell + 2 polls.
    g.bench_function("send+doorbell+2polls", |bch| {
        bch.iter_custom(|iters| {
            let mut out = [NDK_RESULT_EX::EMPTY; 16];
            let (mut total, mut harvested, mut left) = (Duration::ZERO, 0u64, iters);
            while left > 0 {
                let round = left.min(RECV_ROUND);
                p.post_recvs(round);
                let t0 = Instant::now();
                for i in 0..round {
                    // SAFETY: consumer calls on a connected QP and open CQs.
                    unsafe {
                        let s = (qa.NdkSend)(p.a.qp, i as usize as *mut c_void, &ssge, 1, 0);
                        debug_assert_eq!(s, STATUS_SUCCESS);
                        harvested +=
                            u64::from((ca.NdkGetCqResultsEx)(p.a.cq, out.as_mut_ptr(), 16));
                        harvested +=
                            u64::from((cb.NdkGetCqResultsEx)(p.b.cq, out.as_mut_ptr(), 16));
                    }
                    black_box(&out);
                }
                total += t0.elapsed();
                left -= round;
            }
            assert_eq!(harvested, 2 * iters, "every send and receive completed");
            total
        })
    });

    // The same with the receive post timed too: a full message's consumer-side cost.
    g.bench_function("send+doorbell+2polls+recv_post", |bch| {
        let mut out = [NDK_RESULT_EX::EMPTY; 16];
        bch.iter(|| {
            // SAFETY: consumer calls on a connected QP and open CQs.
            unsafe {
                let s = (qb.NdkReceive)(p.b.qp, 0x11 as *mut c_void, &rsge, 1);
                debug_assert_eq!(s, STATUS_SUCCESS);
                let s = (qa.NdkSend)(p.a.qp, 0x22 as *mut c_void, &ssge, 1, 0);
                debug_assert_eq!(s, STATUS_SUCCESS);
                let n = (ca.NdkGetCqResultsEx)(p.a.cq, out.as_mut_ptr(), 16)
                    + (cb.NdkGetCqResultsEx)(p.b.cq, out.as_mut_ptr(), 16);
                assert_eq!(n, 2);
            }
            black_box(&out);
        })
    });
    g.finish();
    p.settle();
}

fn write_batch(c: &mut Criterion, p: &Pair) {
    let qa = p.a.q();
    let ca = p.cq_a();
    let wsge = p.a.sge(128, LEN);
    let remote = p.b.buf.addr() + 4096;
    let mut g = c.benchmark_group("write_batch16");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("defer15+doorbell+harvest", |bch| {
        let mut out = [NDK_RESULT_EX::EMPTY; BATCH];
        bch.iter(|| {
            // SAFETY: consumer calls on a connected QP and an open CQ.
            unsafe {
                for i in 0..BATCH {
                    let flags = if i + 1 < BATCH { NDK_OP_FLAG_DEFER } else { 0 };
                    let s =
                        (qa.NdkWrite)(p.a.qp, i as *mut c_void, &wsge, 1, remote, p.b.rkey, flags);
                    debug_assert_eq!(s, STATUS_SUCCESS);
                }
                let mut got = 0u32;
                while (got as usize) < BATCH {
                    let n = (ca.NdkGetCqResultsEx)(p.a.cq, out.as_mut_ptr(), (BATCH as u32) - got);
                    assert!(n > 0, "a write did not complete");
                    got += n;
                }
            }
            black_box(&out);
        })
    });
    g.finish();
    p.settle();
}

fn post_deferred(c: &mut Criterion, p: &Pair) {
    let qa = p.a.q();
    let wsge = p.a.sge(128, LEN);
    let remote = p.b.buf.addr() + 4096;
    let mut g = c.benchmark_group("post_deferred");
    g.throughput(Throughput::Elements(1));
    g.bench_function("NdkWrite(DEFER)", |bch| {
        bch.iter_custom(|iters| {
            let (mut total, mut left) = (Duration::ZERO, iters);
            while left > 0 {
                // One slot of the send queue stays free for the post that rings.
                let round = left.min(QP_DEPTH as u64 - 1);
                let t0 = Instant::now();
                for i in 0..round {
                    // SAFETY: consumer call on a connected QP.
                    let s = unsafe {
                        (qa.NdkWrite)(
                            p.a.qp,
                            i as usize as *mut c_void,
                            &wsge,
                            1,
                            remote,
                            p.b.rkey,
                            NDK_OP_FLAG_DEFER,
                        )
                    };
                    debug_assert_eq!(s, STATUS_SUCCESS);
                }
                total += t0.elapsed();
                // Untimed: one non-DEFER post rings for all of them; harvest everything.
                p.prefill_a(1);
                p.drain(p.a.cq, round as usize + 1);
                left -= round;
            }
            total
        })
    });
    g.finish();
    p.settle();
}

fn harvest(c: &mut Criterion, p: &Pair) {
    let ca = p.cq_a();
    let mut g = c.benchmark_group("harvest");
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
                    p.prefill_a(calls as usize * n);
                    let mut got = 0u64;
                    let t0 = Instant::now();
                    for _ in 0..calls {
                        // SAFETY: consumer call with a buffer of 64 >= n entries.
                        got += u64::from(unsafe {
                            (ca.NdkGetCqResultsEx)(p.a.cq, out.as_mut_ptr(), n as u32)
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

    let mut g = c.benchmark_group("poll_empty");
    g.throughput(Throughput::Elements(1));
    g.bench_function("NdkGetCqResultsEx", |bch| {
        let mut out = [NDK_RESULT_EX::EMPTY; 16];
        bch.iter(|| {
            // SAFETY: consumer call with a 16-entry buffer.
            let n = unsafe { (ca.NdkGetCqResultsEx)(p.a.cq, out.as_mut_ptr(), 16) };
            black_box(n)
        })
    });
    g.finish();
    p.settle();
}

fn arm(c: &mut Criterion, p: &Pair) {
    let ca = p.cq_a();
    let mut g = c.benchmark_group("arm_cq");
    g.throughput(Throughput::Elements(1));
    g.bench_function("NdkArmCq(ANY)", |bch| {
        // SAFETY: consumer call on an open, empty CQ: it arms and never fires here.
        bch.iter(|| unsafe { (ca.NdkArmCq)(black_box(p.a.cq), NDK_CQ_NOTIFY_ANY) })
    });
    g.finish();
    // The CQ stays armed: one completion fires its notification, which `settle` delivers.
    p.prefill_a(1);
    p.drain(p.a.cq, 1);
    p.settle();
}

fn fast_path(c: &mut Criterion) {
    let p = Pair::new();
    send_recv(c, &p);
    write_batch(c, &p);
    post_deferred(c, &p);
    harvest(c, &p);
    arm(c, &p);
    p.close();
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
    targets = fast_path
}
criterion_main!(benches);
