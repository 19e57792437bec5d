//! Tests only the reference iWARP NIC can run: they use the device model's network
//! ([`hal_iwarp::model::Network`]) to take a link down, count what the wire did, and capture
//! the frames for tshark (the generic bodies are in `wire/`, shared with `rocev2.rs`).
//! Everything else is driven through the NDK dispatch tables.
//!
//! ```sh
//! cargo test -p ndk-tests --test iwarp
//! ```

mod wire;

use std::process::Command;

use hal_iwarp::model::Rnicw1;
use wire::num;

#[test]
fn a_peer_whose_link_goes_down_gives_io_timeout_then_cancelled_and_one_disconnect_event() {
    wire::link_down_gives_io_timeout_then_cancelled_and_one_disconnect_event::<Rnicw1>();
}

#[test]
fn a_peer_removed_from_the_network_gives_io_timeout_then_cancelled_and_one_disconnect_event() {
    wire::peer_removed_gives_io_timeout_then_cancelled_and_one_disconnect_event::<Rnicw1>();
}

#[test]
fn loss_duplication_and_reordering_really_happen_on_the_wire_and_every_byte_arrives_once() {
    wire::impairments_really_happen_on_the_wire::<Rnicw1>();
}

/// tshark options for an iWARP capture. The connection runs on TCP port 445, which NBSS
/// claims unless heuristics go first; MPA's heuristic then finds the stream by its
/// request / reply keys. RPC-over-RDMA's and SMB Direct's heuristics are off because the
/// test's Send payloads are arbitrary bytes, not their headers.
const TSHARK_OPTS: [&str; 6] = [
    "-o",
    "tcp.try_heuristic_first:TRUE",
    "--disable-protocol",
    "rpcordma",
    "--disable-protocol",
    "smb_direct",
];

/// A TCP flag field as tshark prints it ("1" / "True" when set).
fn flag(field: &str) -> bool {
    matches!(field, "1" | "True")
}

/// RDMAP opcodes (RFC 5040).
const WRITE: u64 = 0;
const READ_REQUEST: u64 = 1;
const READ_RESPONSE: u64 = 2;
const SEND: u64 = 3;

#[test]
fn a_capture_of_connect_send_write_read_and_disconnect_dissects_as_mpa_ddp_and_rdmap() {
    if wire::tshark().is_none() {
        println!("tshark not found: skipped");
        return;
    }
    let file = std::env::temp_dir().join(format!("ndk-iwarp-{}.pcap", std::process::id()));
    wire::capture_connect_send_write_read_disconnect::<Rnicw1>(&file);

    let mut opts = TSHARK_OPTS.to_vec();
    opts.extend(["-E", "occurrence=a"]);
    let frames = wire::tshark_fields(
        &file,
        &opts,
        &[
            "frame.protocols",
            "ip.src",
            "iwarp_mpa.key.req",
            "iwarp_mpa.key.rep",
            "iwarp_mpa.crc_flag",
            "iwarp_mpa.marker_flag",
            "iwarp_mpa.rej_flag",
            "iwarp_rdma.opcode",
            "iwarp_ddp.tagged_flag",
            "iwarp_ddp.qn",
            "tcp.flags.fin",
            "tcp.flags.reset",
        ],
    );
    assert!(!frames.is_empty(), "frames captured");

    let (a, b) = ("10.0.0.1", "10.0.0.2");
    let (mut requests, mut replies) = (Vec::new(), Vec::new());
    // (source, opcode, tagged, queue number) of every DDP segment.
    let mut segments = Vec::new();
    for f in &frames {
        assert!(
            f[0].starts_with("eth:ethertype:ip:tcp"),
            "a TCP segment: {}",
            f[0]
        );
        if !f[2].is_empty() {
            requests.push(f[1].clone());
        }
        if !f[3].is_empty() {
            replies.push(f[1].clone());
        }
        if !f[2].is_empty() || !f[3].is_empty() {
            // Markers off, CRCs on, not rejected.
            assert_eq!((&*f[4], &*f[5], &*f[6]), ("1", "0", "0"), "MPA flags");
        }
        let ops: Vec<u64> = f[7].split(',').filter_map(num).collect();
        let tagged: Vec<&str> = f[8].split(',').filter(|t| !t.is_empty()).collect();
        let qns: Vec<u64> = f[9].split(',').filter_map(num).collect();
        assert_eq!(
            ops.len(),
            tagged.len(),
            "a DDP header per RDMAP header: {f:?}"
        );
        if !ops.is_empty() {
            assert!(f[0].contains(":iwarp_mpa:iwarp_ddp_rdmap"), "{}", f[0]);
        }
        let mut untagged = qns.into_iter();
        for (op, t) in ops.into_iter().zip(tagged) {
            let qn = if t == "0" { untagged.next() } else { None };
            segments.push((f[1].clone(), op, t == "1", qn));
        }
    }
    println!("{} frames, DDP segments {segments:?}", frames.len());
    // The graceful disconnect closes TCP with a FIN from each side and never resets it.
    let fins: Vec<&str> = frames
        .iter()
        .filter(|f| flag(&f[10]))
        .map(|f| &*f[1])
        .collect();
    assert!(
        fins.contains(&a) && fins.contains(&b),
        "a FIN from both sides: {fins:?}"
    );
    assert!(!frames.iter().any(|f| flag(&f[11])), "no RST");
    assert_eq!(requests, [a], "one MPA request frame, from the active side");
    assert_eq!(replies, [b], "one MPA reply frame, from the passive side");
    // Send: untagged on queue 0; Write: tagged; Read Request: untagged on queue 1; Read
    // Response: tagged, from the peer (RFC 5040).
    for (from, op, tagged, qn) in [
        (a, SEND, false, Some(0)),
        (a, WRITE, true, None),
        (a, READ_REQUEST, false, Some(1)),
        (b, READ_RESPONSE, true, None),
    ] {
        assert!(
            segments.contains(&(from.to_owned(), op, tagged, qn)),
            "RDMAP opcode {op} from {from} (tagged {tagged}, queue {qn:?}) in {segments:?}"
        );
    }
    assert!(
        segments.iter().all(|s| s.1 <= SEND),
        "only Send, Write and Read: {segments:?}"
    );

    // Every FPDU's CRC32c is checked and good.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(TSHARK_OPTS)
        .args(["-V", "-O", "iwarp_mpa"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let good = text.matches("(Good CRC32)").count();
    assert!(!text.contains("Bad CRC32"), "a bad CRC: {text}");
    assert_eq!(good, segments.len(), "one good CRC per FPDU");
    wire::assert_nothing_malformed(&file, &TSHARK_OPTS);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_capture_of_an_abortive_close_shows_a_tcp_reset_from_the_closing_side() {
    if wire::tshark().is_none() {
        println!("tshark not found: skipped");
        return;
    }
    let file = std::env::temp_dir().join(format!("ndk-iwarp-abort-{}.pcap", std::process::id()));
    wire::capture_abortive_close::<Rnicw1>(&file);
    let frames = wire::tshark_fields(
        &file,
        &TSHARK_OPTS,
        &["ip.src", "tcp.flags.fin", "tcp.flags.reset"],
    );
    let resets: Vec<&str> = frames
        .iter()
        .filter(|f| flag(&f[2]))
        .map(|f| &*f[0])
        .collect();
    println!("{} frames, RST from {resets:?}", frames.len());
    assert!(
        resets.contains(&"10.0.0.1"),
        "the closed connector's side resets the connection: {resets:?}"
    );
    assert!(
        !frames.iter().any(|f| f[0] == "10.0.0.1" && flag(&f[1])),
        "no FIN from the side that closed without NdkDisconnect"
    );
    // tshark's expert info rates every RST a warning: apart from the reset, nothing suspect.
    let mut opts = TSHARK_OPTS.to_vec();
    opts.extend([
        "-Y",
        "_ws.malformed || (_ws.expert.severity >= \"warning\" && !tcp.flags.reset)",
    ]);
    let suspect = wire::tshark_fields(&file, &opts, &["frame.number"]);
    assert!(
        suspect.is_empty(),
        "malformed or suspect frames: {suspect:?}"
    );
    let _ = std::fs::remove_file(&file);
}
