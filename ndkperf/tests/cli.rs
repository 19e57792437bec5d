//! Smoke tests of `ndkperf`: the binary with tiny iteration counts, its JSON summary parsed,
//! its chart written; and the measurement over a mock NIC that completes asynchronously.

use std::path::PathBuf;
use std::process::{Command, Output};

use clap::Parser;
use serde_json::Value;

fn ndkperf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ndkperf"))
        .args(args)
        .output()
        .expect("run ndkperf")
}

fn tmp(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "ndkperf failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("stdout is one JSON document")
}

/// The latency percentiles are ordered and the point moved data that was checked.
fn check_point(p: &Value, op: &str, size: u64, iters: u64) {
    assert_eq!(p["op"], op);
    assert_eq!(p["size"], size);
    assert_eq!(p["iters"], iters);
    assert!(p["gbps"].as_f64().unwrap() > 0.0);
    assert!(p["mmsg_per_s"].as_f64().unwrap() > 0.0);
    let l = &p["latency_ns"];
    let v = |k: &str| l[k].as_u64().unwrap();
    assert!(v("min") <= v("p50") && v("p50") <= v("p99"), "{l}");
    assert!(v("p99") <= v("p999") && v("p999") <= v("max"), "{l}");
    assert_eq!(
        p["verified"]["stamped"], iters,
        "every request's stamp arrived"
    );
    assert!(p["verified"]["full"].as_u64().unwrap() >= 1);
}

#[test]
fn json_summary_of_one_write_point() {
    let o = ndkperf(&[
        "--json", "--op", "write", "--size", "4096", "--iters", "300",
    ]);
    let r = json(&o);
    assert_eq!(r["tool"], "ndkperf");
    assert_eq!(r["transport"], "rocev2", "RoCEv2 is the default transport");
    assert_eq!(r["depth"], 16);
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 1);
    check_point(&points[0], "write", 4096, 300);
    assert!(o.stderr.is_empty(), "no progress bar with --json");
}

#[test]
fn a_sweep_of_every_op_and_its_chart() {
    let svg = tmp("sweep.svg");
    let o = ndkperf(&[
        "--json",
        "--iters",
        "64",
        "--size",
        "64,1K,17",
        "--depth",
        "4",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let r = json(&o);
    let points = r["points"].as_array().unwrap();
    let got: Vec<(&str, u64)> = points
        .iter()
        .map(|p| (p["op"].as_str().unwrap(), p["size"].as_u64().unwrap()))
        .collect();
    let mut want = Vec::new();
    for op in ["send", "write", "read"] {
        for size in [17, 64, 1024] {
            want.push((op, size));
        }
    }
    assert_eq!(got, want, "ops in order, sizes ascending");
    for p in points {
        check_point(
            p,
            p["op"].as_str().unwrap(),
            p["size"].as_u64().unwrap(),
            64,
        );
    }
    let chart = std::fs::read_to_string(&svg).expect("the chart was written");
    assert!(chart.starts_with("<svg"));
    for text in [
        "Bandwidth",
        "Median latency",
        "send",
        "write",
        "read",
        "1 KiB",
    ] {
        assert!(chart.contains(text), "{text} in the chart");
    }
}

#[test]
fn the_table_has_a_row_per_point() {
    let o = ndkperf(&[
        "--transport",
        "mock",
        "--iters",
        "50",
        "--size",
        "64,256",
        "--op",
        "read",
    ]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ndkperf "), "{out}");
    assert!(
        lines[1].contains("Gb/s") && lines[1].contains("p99.9 us"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("read") && lines[2].contains(" 64 "),
        "{out}"
    );
    assert!(
        lines[3].starts_with("read") && lines[3].contains(" 256 "),
        "{out}"
    );
    assert!(lines[4].starts_with("2 points in"), "{out}");
}

#[test]
fn an_unknown_transport_is_a_usage_error() {
    let o = ndkperf(&["--transport", "infiniband"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown transport is a usage error"
    );
}

#[test]
fn iwarp_writes_the_wire_to_a_pcap_that_tshark_decodes_as_mpa_ddp_and_rdmap() {
    let pcap = tmp("iwarp.pcap");
    let o = ndkperf(&[
        "--transport",
        "iwarp",
        "--json",
        "--op",
        "send,write,read",
        "--size",
        "4096",
        "--iters",
        "20",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    let v = json(&o);
    assert_eq!(v["transport"], "iwarp");
    assert_eq!(v["backend"], "iwarp");
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    for p in points {
        check_point(p, p["op"].as_str().unwrap(), 4096, 20);
    }
    let frames = std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0);
    assert!(frames > 24, "the pcap holds the run's frames");
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("note: tshark is not installed; the wire decode check is skipped");
        return;
    }
    // The connection runs on TCP port 445, which NBSS claims unless heuristics go first;
    // RPC-over-RDMA's and SMB Direct's heuristics would misread the benchmark's payloads.
    let opts = [
        "-o",
        "tcp.try_heuristic_first:TRUE",
        "--disable-protocol",
        "rpcordma",
        "--disable-protocol",
        "smb_direct",
    ];
    let out = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap()])
        .args(opts)
        .args(["-T", "fields", "-E", "occurrence=a"])
        .args(["-e", "frame.protocols", "-e", "iwarp_mpa.key.req"])
        .args(["-e", "iwarp_mpa.key.rep", "-e", "iwarp_rdma.opcode"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut requests, mut replies, mut fpdus) = (0, 0, 0);
    let mut opcodes = std::collections::BTreeSet::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f[0].starts_with("eth:ethertype:ip:tcp"), "not TCP: {line}");
        requests += usize::from(!f[1].is_empty());
        replies += usize::from(!f.get(2).unwrap_or(&"").is_empty());
        for op in f.get(3).unwrap_or(&"").split(',').filter(|o| !o.is_empty()) {
            opcodes.insert(op.trim_start_matches("0x").parse::<u32>().unwrap());
            fpdus += 1;
        }
    }
    assert_eq!((requests, replies), (1, 1), "one MPA request and reply");
    // RDMAP Write (0), Read Request (1), Read Response (2), Send (3): nothing else.
    assert_eq!(opcodes, [0, 1, 2, 3].into(), "RDMAP opcodes");
    // 4 KiB messages over a 1460-byte MSS: several FPDUs per message, each with a good CRC.
    assert!(fpdus > 3 * 20 * 3, "{fpdus} FPDUs");
    let out = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap()])
        .args(opts)
        .args(["-V", "-O", "iwarp_mpa"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Bad CRC32"), "a bad MPA CRC");
    assert_eq!(text.matches("(Good CRC32)").count(), fpdus, "CRCs checked");
    // ndkperf closes its connectors without `NdkDisconnect`: the closing resets (RST, a
    // warning to tshark) are expected; nothing else may be suspect.
    let out = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap()])
        .args(opts)
        .args([
            "-Y",
            "_ws.malformed || (_ws.expert.severity >= \"warning\" && !tcp.flags.reset)",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark: {out:?}");
    assert!(
        out.stdout.is_empty(),
        "malformed or suspect frames: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn rocev2_writes_the_wire_to_a_pcap_that_tshark_decodes() {
    let pcap = tmp("rocev2.pcap");
    let o = ndkperf(&[
        "--transport",
        "rocev2",
        "--json",
        "--op",
        "send,write,read",
        "--size",
        "4096",
        "--iters",
        "20",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    let v = json(&o);
    for p in v["points"].as_array().unwrap() {
        check_point(p, p["op"].as_str().unwrap(), 4096, 20);
    }
    let frames = std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0);
    assert!(frames > 24, "the pcap holds the run's frames");
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("note: tshark is not installed; the wire decode check is skipped");
        return;
    }
    // Every frame is RoCEv2 (UDP 4791) with a BTH; the payload heuristics of the InfiniBand
    // dissector may guess at our random payload bytes, so only the transport is checked.
    let out = Command::new("tshark")
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "infiniband.bth.opcode",
            "-e",
            "infiniband.invariant.crc",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut opcodes = std::collections::BTreeSet::new();
    for line in text.lines() {
        let mut f = line.split('\t');
        let protocols = f.next().unwrap_or("");
        assert!(
            protocols.starts_with("eth:ethertype:ip:udp:infiniband"),
            "not RoCEv2: {line}"
        );
        let op: u32 = f.next().unwrap_or("").parse().unwrap_or(u32::MAX);
        opcodes.insert(op);
    }
    // 4 KiB over a 1024-byte path MTU: SEND FIRST/LAST (0, 2), WRITE FIRST/LAST (6, 8), READ
    // REQUEST (12), READ RESPONSE FIRST/LAST (13, 15), ACK (17) and the CM MADs on QP1 (UD
    // SEND ONLY, 100).
    for op in [0, 2, 6, 8, 12, 13, 15, 17, 100] {
        assert!(
            opcodes.contains(&op),
            "opcode {op} missing from {opcodes:?}"
        );
    }
}

#[test]
fn pcap_on_the_mock_warns_that_there_is_no_wire() {
    let pcap = tmp("mock.pcap");
    let o = ndkperf(&[
        "--transport",
        "mock",
        "--json",
        "--op",
        "send",
        "--size",
        "64",
        "--iters",
        "10",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    json(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no wire"), "{err}");
    assert!(!pcap.exists());
}

#[test]
fn bad_sizes_and_depths_are_usage_errors() {
    for args in [
        &["--size", "0"][..],
        &["--size", "lots"],
        &["--depth", "0"],
        &["--iters", "0"],
        &["--loss", "2"],
    ] {
        let o = ndkperf(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn the_measurement_waits_for_a_nic_that_completes_asynchronously() {
    let args =
        ndkperf::Args::parse_from(["ndkperf", "--iters", "100", "--size", "64,4K", "--json"]);
    let mut out = Vec::new();
    let r = ndkperf::run::<ndk_tests::AsyncMockBackend>(&args, &mut out).expect("run");
    assert!(out.is_empty(), "the caller prints the JSON");
    assert_eq!(r.backend, "mock-async");
    assert_eq!(r.points.len(), 6);
    for p in &r.points {
        assert_eq!(p.verified.stamped, 100);
        assert!(p.latency_ns.p50 <= p.latency_ns.p999);
    }
}
