//! Command-line options.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::Serialize;

/// The NIC backend the two emulated NICs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The scriptable software NIC of `hal::mock` on its loopback fabric (no wire).
    Mock,
    /// The register-level RoCEv2 backend on its device model: RoCEv2 frames over a virtual
    /// Ethernet.
    Rocev2,
    /// The register-level iWARP backend on its device model: TCP, MPA, DDP and RDMAP over a
    /// virtual Ethernet.
    Iwarp,
}

impl Transport {
    /// The name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Mock => "mock",
            Transport::Rocev2 => "rocev2",
            Transport::Iwarp => "iwarp",
        }
    }
}

/// An NDK operation to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `NdkSend` to a posted `NdkReceive` (two-sided).
    Send,
    /// `NdkWrite` into the peer's registered buffer.
    Write,
    /// `NdkRead` from the peer's registered buffer.
    Read,
}

impl Op {
    /// The name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Op::Send => "send",
            Op::Write => "write",
            Op::Read => "read",
        }
    }
}

/// The default sweep of message sizes: 64 B to 64 KiB by powers of 4.
pub const DEFAULT_SIZES: [u32; 6] = [64, 256, 1024, 4096, 16384, 65536];

/// Largest message accepted (the registered buffers hold `2 × depth` of them per side).
pub const MAX_SIZE: u32 = 16 << 20;

/// Brings up two emulated NICs with the real NDK provider and HAL, connects them through NDK
/// listener and connector objects, and measures send, write and read over a sweep of message
/// sizes: bandwidth, message rate and latency percentiles (post to completion harvested).
#[derive(Clone, Debug, Parser)]
#[command(name = "ndkperf", version)]
pub struct Args {
    /// NIC backend of the two emulated NICs.
    #[arg(long, value_enum, default_value_t = Transport::Rocev2)]
    pub transport: Transport,

    /// Operations to measure (comma-separated or repeated) [default: send,write,read].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub op: Vec<Op>,

    /// Message sizes in bytes, with an optional K or M suffix (comma-separated or repeated)
    /// [default: 64,256,1K,4K,16K,64K].
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    pub size: Vec<u32>,

    /// Requests per operation and size.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub iters: u64,

    /// Requests kept outstanding on the QP (pipeline depth).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub depth: u32,

    /// Write every frame on the wire to FILE (pcap). The connection uses port 445 (SMB
    /// Direct's): to decode iWARP, give tshark `-o tcp.try_heuristic_first:TRUE` so that MPA,
    /// not NBSS, claims the stream.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Print a machine-readable JSON summary on stdout (and no progress bar).
    #[arg(long)]
    pub json: bool,

    /// Draw the sweep as an SVG chart (bandwidth and median latency by message size).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Wire impairment: probability that a frame is lost.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub loss: f64,

    /// Wire impairment: probability that a frame is duplicated.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub duplicate: f64,

    /// Wire impairment: probability that a frame overtakes the previous one.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub reorder: f64,

    /// Wire impairment: one-way delay in nanoseconds.
    #[arg(long, default_value_t = 0)]
    pub delay_ns: u64,

    /// Seed of the wire's impairments.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Args {
    /// The operations to measure, in the order send, write, read, without repeats.
    pub fn ops(&self) -> Vec<Op> {
        let mut ops = if self.op.is_empty() {
            vec![Op::Send, Op::Write, Op::Read]
        } else {
            self.op.clone()
        };
        ops.sort();
        ops.dedup();
        ops
    }

    /// The message sizes to measure, ascending, without repeats.
    pub fn sizes(&self) -> Vec<u32> {
        let mut sizes = if self.size.is_empty() {
            DEFAULT_SIZES.to_vec()
        } else {
            self.size.clone()
        };
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }
}

/// Parses a message size: `4096`, `4K`, `4KiB`, `1M`, `1MiB` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower
        .strip_suffix("kib")
        .or_else(|| lower.strip_suffix("kb"))
        .or_else(|| lower.strip_suffix('k'))
    {
        (d, 1024u64)
    } else if let Some(d) = lower
        .strip_suffix("mib")
        .or_else(|| lower.strip_suffix("mb"))
        .or_else(|| lower.strip_suffix('m'))
    {
        (d, 1024 * 1024)
    } else {
        (lower.strip_suffix('b').unwrap_or(&lower), 1)
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{t}` is not a size (bytes, or a number with K or M)"))?;
    let bytes = n.saturating_mul(mult);
    if bytes == 0 || bytes > u64::from(MAX_SIZE) {
        return Err(format!(
            "size {t} is outside 1 B ..= {} MiB",
            MAX_SIZE >> 20
        ));
    }
    Ok(bytes as u32)
}

/// Parses a probability in `0.0..=1.0`.
fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{s} is not a probability in 0..=1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_k_and_m_suffixes_and_refuse_zero_and_garbage() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("512B"), Ok(512));
        assert!(parse_size("0").is_err());
        assert!(parse_size("17M").is_err());
        assert!(parse_size("four").is_err());
    }

    #[test]
    fn the_default_run_measures_three_ops_over_six_sizes() {
        let a = Args::parse_from(["ndkperf"]);
        assert_eq!(a.transport, Transport::Rocev2);
        assert_eq!(a.ops(), vec![Op::Send, Op::Write, Op::Read]);
        assert_eq!(a.sizes(), DEFAULT_SIZES.to_vec());
        let a = Args::parse_from(["ndkperf", "--op", "read,write", "--size", "4K,64,4096"]);
        assert_eq!(a.ops(), vec![Op::Write, Op::Read]);
        assert_eq!(a.sizes(), vec![64, 4096]);
    }
}
