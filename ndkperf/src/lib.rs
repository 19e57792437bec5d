//! `ndkperf`: brings up two emulated NICs with the real NDK provider and HAL, connects them
//! through NDK listener and connector objects, and measures send, write and read over a
//! sweep of message sizes: bandwidth, message rate and latency percentiles, with every call
//! made through the dispatch tables as an NDK consumer makes it.
//!
//! The NICs come from an [`ndk_tests::Backend`]: `--transport rocev2` (the default) and
//! `--transport iwarp` are the register-level drivers of the reference NICs on their device
//! models, over a virtual Ethernet that `--pcap` captures; `--transport mock` is the mock NIC
//! of `hal::mock`, which has no wire.

pub mod bench;
pub mod cli;
mod plot;

use std::io::Write;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndk_tests::{Backend, IwarpBackend, MockBackend, NetOptions, RoceBackend};
use serde::Serialize;

pub use bench::{Latency, Point, Verified};
pub use cli::{Args, Op, Transport};

/// The machine-readable summary (`--json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// "ndkperf".
    pub tool: &'static str,
    /// This crate's version.
    pub version: &'static str,
    /// The transport asked for.
    pub transport: Transport,
    /// The backend that ran ([`Backend::name`]).
    pub backend: &'static str,
    /// Addresses of the active and the passive NIC.
    pub nics: [&'static str; 2],
    /// Outstanding requests per QP.
    pub depth: u32,
    /// Requests per point.
    pub iters: u64,
    /// One point per operation and size, in the order measured.
    pub points: Vec<Point>,
    /// Wall time of the whole run, set-up and teardown included.
    pub elapsed_s: f64,
}

/// Runs `ndkperf` with `args`: the measurement, the table or JSON on `out`, warnings on
/// stderr, the chart. Errors are meant for stderr.
pub fn main_with(args: &Args, out: &mut dyn Write) -> Result<Report, String> {
    let report = match args.transport {
        Transport::Mock => run::<MockBackend>(args, out)?,
        Transport::Rocev2 => run::<RoceBackend>(args, out)?,
        Transport::Iwarp => run::<IwarpBackend>(args, out)?,
    };
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report).map_err(|e| e.to_string())?;
        writeln!(out).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &report)?;
        if !args.json {
            writeln!(out, "chart: {}", path.display()).map_err(|e| e.to_string())?;
        }
    }
    Ok(report)
}

/// The wire options of `args`.
pub fn net_options(args: &Args) -> NetOptions {
    NetOptions {
        loss: args.loss,
        duplicate: args.duplicate,
        reorder: args.reorder,
        delay_ns: (args.delay_ns, args.delay_ns),
        seed: args.seed,
        pcap: args.pcap.clone(),
    }
}

/// Measures every point of `args` on backend `B`; prints the table on `out` unless `--json`.
pub fn run<B: Backend>(args: &Args, out: &mut dyn Write) -> Result<Report, String> {
    let started = Instant::now();
    let opts = net_options(args);
    if args.transport == Transport::Mock {
        if let Some(p) = &opts.pcap {
            eprintln!(
                "ndkperf: warning: the mock transport has no wire: {} is not written",
                p.display()
            );
        }
        if !opts.is_perfect() {
            eprintln!("ndkperf: warning: the mock transport has no wire: impairments are ignored");
        }
    }
    let (ops, sizes) = (args.ops(), args.sizes());
    let max_size = sizes.iter().copied().max().unwrap_or(64);
    let total = (ops.len() * sizes.len()) as u64 * args.iters;
    let pb = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    };
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:32}] {percent:>3}% {pos}/{len} eta {eta}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let w = |out: &mut dyn Write, line: String| -> Result<(), String> {
        if args.json {
            return Ok(());
        }
        pb.suspend(|| writeln!(out, "{line}"))
            .map_err(|e| e.to_string())
    };
    w(
        out,
        format!(
            "ndkperf {}: transport {} (backend {}), 2 NICs 10.0.0.1 -> 10.0.0.2 connected \
             through NDK, depth {}, {} requests per point",
            env!("CARGO_PKG_VERSION"),
            args.transport.name(),
            B::name(),
            args.depth,
            args.iters
        ),
    )?;
    w(
        out,
        format!(
            "{:<6}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}   verified (full)",
            "op", "bytes", "Gb/s", "Mmsg/s", "p50 us", "p99 us", "p99.9 us"
        ),
    )?;
    pb.set_message("connecting");
    let mut rig = bench::Rig::<B>::new(&opts, args.depth, max_size)?;
    let mut points = Vec::new();
    for &op in &ops {
        for &size in &sizes {
            pb.set_message(format!("{} {}", op.name(), human_size(size)));
            let p = rig.run(op, size, args.iters, &pb)?;
            w(out, row(&p))?;
            points.push(p);
        }
    }
    rig.close();
    pb.finish_and_clear();
    let elapsed_s = started.elapsed().as_secs_f64();
    w(out, format!("{} points in {elapsed_s:.1} s", points.len()))?;
    Ok(Report {
        tool: "ndkperf",
        version: env!("CARGO_PKG_VERSION"),
        transport: args.transport,
        backend: B::name(),
        nics: ["10.0.0.1", "10.0.0.2"],
        depth: args.depth,
        iters: args.iters,
        points,
        elapsed_s,
    })
}

/// One table row.
fn row(p: &Point) -> String {
    let us = |ns: u64| ns as f64 / 1000.0;
    format!(
        "{:<6}{:>9}{:>10.2}{:>10.3}{:>10.2}{:>10.2}{:>10.2}   {} ({})",
        p.op.name(),
        p.size,
        p.gbps,
        p.mmsg_per_s,
        us(p.latency_ns.p50),
        us(p.latency_ns.p99),
        us(p.latency_ns.p999),
        p.verified.stamped,
        p.verified.full
    )
}

/// `64 B`, `4 KiB`, `1 MiB`.
pub fn human_size(b: u32) -> String {
    if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
        format!("{} MiB", b >> 20)
    } else if b >= 1024 && b.is_multiple_of(1024) {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}
