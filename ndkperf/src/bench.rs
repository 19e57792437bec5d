//! The measurement: a connected pair of sides on a [`Backend`], and one pipelined run per
//! operation and message size, driven through the dispatch tables.

use std::ffi::c_void;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use ndk_provider::abi::*;
use ndk_tests::wr::Pair;
use ndk_tests::{Backend, NetOptions, Side, SideOptions};
use serde::Serialize;

use crate::cli::Op;

/// Rounds of pump-and-poll without any completion after which a run is declared stalled.
const STALL_ROUNDS: u32 = 100_000;

/// Every `FULL_CHECK_EVERY`-th request (and the last) is compared byte for byte.
const FULL_CHECK_EVERY: u64 = 64;

/// Latency percentiles of one point, in nanoseconds.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Latency {
    /// Fastest request.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest request.
    pub max: u64,
}

/// What was checked of the data that arrived.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Verified {
    /// Requests whose per-request stamp (head and tail bytes) was found at the destination.
    pub stamped: u64,
    /// Requests whose whole payload was compared with the source.
    pub full: u64,
}

/// The result of one operation at one message size.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Point {
    /// The operation.
    pub op: Op,
    /// Message size in bytes.
    pub size: u32,
    /// Requests completed.
    pub iters: u64,
    /// Wall time from the first post to the last completion harvested.
    pub seconds: f64,
    /// Payload bandwidth in Gb/s (10^9 bits per second).
    pub gbps: f64,
    /// Message rate in millions of messages per second.
    pub mmsg_per_s: f64,
    /// Per-request latency from post to its completion harvested.
    pub latency_ns: Latency,
    /// Data integrity checks that passed.
    pub verified: Verified,
}

/// The sides of a run and their sizes.
pub struct Rig<B: Backend> {
    net: B::Net,
    pair: Pair<B>,
    depth: u32,
    slots: u32,
    max_size: u32,
    seq: u64,
}

impl<B: Backend> Rig<B> {
    /// Two NICs at 10.0.0.1 and 10.0.0.2 on a new network, each with a buffer of
    /// `2 × depth` slots of `max_size` bytes registered, connected through NDK.
    pub fn new(opts: &NetOptions, depth: u32, max_size: u32) -> Result<Rig<B>, String> {
        let slots = 2 * depth;
        let buf = u64::from(slots) * u64::from(max_size);
        if buf > 1 << 30 {
            return Err(format!(
                "{slots} slots of {max_size} B need {buf} B of registered memory per side \
                 (at most 1 GiB): lower --depth or --size"
            ));
        }
        let o = SideOptions::new(4 * depth + 16)
            .queues(depth, slots)
            .buffer(buf as u32);
        let net = B::network(opts);
        let a = Side::<B>::open_with(&net, "10.0.0.1", o);
        let b = Side::<B>::open_with(&net, "10.0.0.2", o);
        let pair = Pair::connect(a, b);
        Ok(Rig {
            net,
            pair,
            depth,
            slots,
            max_size,
            seq: 0x5EED_0000_0000,
        })
    }

    /// Closes everything, checking that both devices are left empty.
    pub fn close(self) {
        self.pair.close();
    }

    /// Runs `iters` requests of `op` with `size`-byte messages, `depth` outstanding.
    pub fn run(
        &mut self,
        op: Op,
        size: u32,
        iters: u64,
        pb: &ProgressBar,
    ) -> Result<Point, String> {
        assert!(size >= 1 && size <= self.max_size);
        let (a, b) = (&self.pair.a, &self.pair.b);
        let slot_bytes = u64::from(self.max_size);
        let slots = u64::from(self.slots);
        let depth = u64::from(self.depth);
        // The data source of this op (A for send and write, B for read) gets a pattern, the
        // destination is cleared.
        let (src, dst) = match op {
            Op::Send | Op::Write => (a, b),
            Op::Read => (b, a),
        };
        for s in 0..slots {
            let off = (s * slot_bytes) as usize;
            let pattern: Vec<u8> = (0..size)
                .map(|k| (k.wrapping_mul(31) ^ (s as u32).wrapping_mul(7) ^ size) as u8)
                .collect();
            src.buf.write(off, &pattern);
            dst.buf.write(off, &vec![0u8; size as usize]);
        }
        let base = self.seq;
        self.seq += iters;
        let stamp = |side: &Side<B>, i: u64| {
            let off = ((i % slots) * slot_bytes) as usize;
            let seq = (base + i).to_le_bytes();
            let head = (size as usize).min(8);
            side.buf.write(off, &seq[..head]);
            if size >= 16 {
                side.buf
                    .write(off + size as usize - 8, &(!(base + i)).to_le_bytes());
            }
        };
        // Checks request `i` arrived in the destination slot; compares the whole payload with
        // the source for a sample.
        let mut verified = Verified {
            stamped: 0,
            full: 0,
        };
        let check = |i: u64, verified: &mut Verified| -> Result<(), String> {
            let off = ((i % slots) * slot_bytes) as usize;
            let head = (size as usize).min(8);
            let mut got = [0u8; 8];
            dst.buf.read(off, &mut got[..head]);
            let mut ok = got[..head] == (base + i).to_le_bytes()[..head];
            if size >= 16 {
                dst.buf.read(off + size as usize - 8, &mut got);
                ok &= got == (!(base + i)).to_le_bytes();
            }
            if !ok {
                return Err(format!(
                    "{} of {size} B, request {i}: the stamp did not arrive",
                    op.name()
                ));
            }
            verified.stamped += 1;
            if i.is_multiple_of(FULL_CHECK_EVERY) || i + 1 == iters {
                let mut want = vec![0u8; size as usize];
                let mut have = vec![0u8; size as usize];
                src.buf.read(off, &mut want);
                dst.buf.read(off, &mut have);
                if want != have {
                    return Err(format!(
                        "{} of {size} B, request {i}: payload differs from the source",
                        op.name()
                    ));
                }
                verified.full += 1;
            }
            Ok(())
        };

        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
            .map_err(|e| format!("histogram: {e}"))?;
        let mut posted_at = vec![Instant::now(); depth as usize];
        let mut results = [NDK_RESULT_EX::EMPTY; 64];
        let (qa, qb, ca, cb) = (a.q(), b.q(), a.c(), b.c());
        let (mut posted, mut done) = (0u64, 0u64);
        let (mut recv_posted, mut recv_done) = (0u64, 0u64);
        let post_recv = |r: u64| -> Result<(), String> {
            let sge = b.sge((r % slots) * slot_bytes, size);
            // SAFETY: consumer call on B's connected QP; the SGE names B's registered buffer.
            let s = unsafe { (qb.NdkReceive)(b.qp, r as usize as *mut c_void, &sge, 1) };
            status("NdkReceive", s)
        };
        if op == Op::Send {
            while recv_posted < iters.min(slots) {
                post_recv(recv_posted)?;
                recv_posted += 1;
            }
        }
        let mut idle = 0u32;
        let start = Instant::now();
        while done < iters {
            // Keep `depth` requests outstanding (sends only onto posted receives).
            while posted < iters
                && posted - done < depth
                && (op != Op::Send || posted < recv_posted)
            {
                let i = posted;
                stamp(src, i);
                let off = (i % slots) * slot_bytes;
                let ctx = i as usize as *mut c_void;
                posted_at[(i % depth) as usize] = Instant::now();
                // SAFETY: consumer calls on A's connected QP; SGEs and remote addresses name
                // the sides' registered buffers.
                let s = unsafe {
                    match op {
                        Op::Send => (qa.NdkSend)(a.qp, ctx, &a.sge(off, size), 1, 0),
                        Op::Write => (qa.NdkWrite)(
                            a.qp,
                            ctx,
                            &a.sge(off, size),
                            1,
                            b.buf.addr() + off,
                            b.rkey,
                            0,
                        ),
                        Op::Read => (qa.NdkRead)(
                            a.qp,
                            ctx,
                            &a.sge(off, size),
                            1,
                            b.buf.addr() + off,
                            b.rkey,
                            0,
                        ),
                    }
                };
                status(op.name(), s)?;
                posted += 1;
            }
            B::pump(&self.net);
            let mut progress = 0;
            // Initiator completions on A.
            // SAFETY: consumer call with a 64-entry buffer.
            let n = unsafe { (ca.NdkGetCqResultsEx)(a.cq, results.as_mut_ptr(), 64) } as usize;
            let now = Instant::now();
            for r in &results[..n] {
                let i = r.RequestContext as usize as u64;
                status(op.name(), r.Status)?;
                if i != done {
                    return Err(format!("completion of request {i}, expected {done}"));
                }
                let ns = now.duration_since(posted_at[(i % depth) as usize]);
                hist.saturating_record(ns.as_nanos().max(1) as u64);
                if op != Op::Send {
                    check(i, &mut verified)?;
                }
                done += 1;
            }
            progress += n;
            if op == Op::Send {
                // Receive completions on B: check, then post the receive again.
                // SAFETY: as above.
                let m = unsafe { (cb.NdkGetCqResultsEx)(b.cq, results.as_mut_ptr(), 64) } as usize;
                for r in &results[..m] {
                    let i = r.RequestContext as usize as u64;
                    status("NdkReceive", r.Status)?;
                    if i != recv_done || r.BytesTransferred != size {
                        return Err(format!(
                            "receive {i} of {} B, expected receive {recv_done} of {size} B",
                            r.BytesTransferred
                        ));
                    }
                    check(i, &mut verified)?;
                    recv_done += 1;
                    if recv_posted < iters {
                        post_recv(recv_posted)?;
                        recv_posted += 1;
                    }
                }
                progress += m;
            }
            pb.inc(n as u64);
            if progress == 0 {
                idle += 1;
                if idle > STALL_ROUNDS {
                    return Err(format!(
                        "{} of {size} B stalled: {done} of {iters} completed, {posted} posted",
                        op.name()
                    ));
                }
                std::thread::yield_now();
            } else {
                idle = 0;
            }
        }
        // Sends: the last receives may still be in flight when the last send completed.
        while op == Op::Send && recv_done < iters {
            B::pump(&self.net);
            // SAFETY: as above.
            let m = unsafe { (cb.NdkGetCqResultsEx)(b.cq, results.as_mut_ptr(), 64) } as usize;
            for r in &results[..m] {
                let i = r.RequestContext as usize as u64;
                status("NdkReceive", r.Status)?;
                check(i, &mut verified)?;
                recv_done += 1;
            }
            if m == 0 {
                idle += 1;
                if idle > STALL_ROUNDS {
                    return Err(format!("receives stalled at {recv_done} of {iters}"));
                }
            }
        }
        let elapsed = start.elapsed().max(Duration::from_nanos(1));
        let secs = elapsed.as_secs_f64();
        Ok(Point {
            op,
            size,
            iters,
            seconds: secs,
            gbps: (iters as f64 * f64::from(size) * 8.0) / secs / 1e9,
            mmsg_per_s: iters as f64 / secs / 1e6,
            latency_ns: Latency {
                min: hist.min(),
                mean: hist.mean(),
                p50: hist.value_at_quantile(0.50),
                p99: hist.value_at_quantile(0.99),
                p999: hist.value_at_quantile(0.999),
                max: hist.max(),
            },
            verified,
        })
    }
}

fn status(what: &str, s: NTSTATUS) -> Result<(), String> {
    if s == STATUS_SUCCESS {
        Ok(())
    } else {
        Err(format!("{what} failed with NTSTATUS {s:#010x}"))
    }
}
