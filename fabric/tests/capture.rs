//! pcap capture, read back with pcap-file and (when installed) tshark.

mod common;

use std::fs::File;
use std::io::{self, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use fabric::{Fabric, Impairments, BROADCAST};
use pcap_file::pcap::PcapReader;
use pcap_file::{DataLink, TsResolution};

/// One pcap record: timestamp in ns, original length, data.
type Record = (u64, u32, Vec<u8>);

/// Reads a pcap: its link type, timestamp resolution and records.
fn read_pcap(reader: impl io::Read) -> (DataLink, TsResolution, Vec<Record>) {
    let mut reader = PcapReader::new(reader).unwrap();
    let header = reader.header();
    let mut records = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        records.push((
            packet.timestamp.as_nanos() as u64,
            packet.orig_len,
            packet.data.into_owned(),
        ));
    }
    (header.datalink, header.ts_resolution, records)
}

#[test]
fn capture_file_reads_back_with_every_frame_sent() {
    let path = scratch("readback.pcap");
    let fabric = Fabric::new(Impairments {
        loss: 0.3,
        duplicate: 0.3,
        delay_ns: (10, 1_000),
        seed: 11,
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    let _c = fabric.attach(MAC_C);
    fabric.capture_to(&path).unwrap();
    assert!(fabric.is_capturing());

    let mut sent = Vec::new();
    for n in 0..50u32 {
        let now = 1_000_000_000 * u64::from(n) + 123; // crosses whole seconds
        let frame = if n % 10 == 0 {
            numbered(BROADCAST, MAC_A, n)
        } else {
            numbered(MAC_B, MAC_A, n)
        };
        a.send(&frame, now);
        sent.push((now, frame));
    }
    // Frames that go nowhere are still captured: what the device transmitted.
    b.set_link(false);
    b.send(&numbered(MAC_A, MAC_B, 99), 60_000_000_000);
    sent.push((60_000_000_000, numbered(MAC_A, MAC_B, 99)));

    fabric.stop_capture().unwrap();
    assert!(!fabric.is_capturing());
    a.send(&numbered(MAC_B, MAC_A, 100), 61_000_000_000); // not captured

    let stats = fabric.stats();
    assert_eq!(stats.captured, 51);
    assert!(stats.lost > 0 && stats.duplicated > 0, "{stats}");

    let (datalink, resolution, records) = read_pcap(File::open(&path).unwrap());
    assert_eq!(datalink, DataLink::ETHERNET);
    assert_eq!(u32::from(datalink), 1, "LINKTYPE_ETHERNET");
    assert_eq!(resolution, TsResolution::NanoSecond);
    assert_eq!(records.len(), 51, "one record per send, no more, no less");
    for ((ts, orig_len, data), (now, frame)) in records.iter().zip(&sent) {
        assert_eq!(ts, now);
        assert_eq!(*orig_len as usize, frame.len());
        assert_eq!(data, frame);
    }
    std::fs::remove_file(&path).ok();
}

/// A writer the test can look into while the fabric owns it.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn capture_to_writer_and_replacing_a_capture() {
    let fabric = Fabric::default();
    let a = fabric.attach(MAC_A);
    let _b = fabric.attach(MAC_B);

    let first = SharedBuf::default();
    fabric.capture_to_writer(first.clone()).unwrap();
    a.send(
        &numbered(MAC_B, MAC_A, 1),
        Duration::from_millis(1).as_nanos() as u64,
    );
    a.send(&numbered(MAC_B, MAC_A, 2), 2);
    fabric.flush_capture().unwrap();

    let second = SharedBuf::default();
    fabric.capture_to_writer(second.clone()).unwrap();
    a.send(&numbered(MAC_B, MAC_A, 3), 3);
    // Oversized frames are truncated to the snaplen.
    let jumbo = eth(MAC_B, MAC_A, ETHERTYPE_TEST, &vec![0xab; 300_000]);
    a.send(&jumbo, 4);
    fabric.stop_capture().unwrap();

    let (_, _, records) = read_pcap(&first.0.lock().unwrap()[..]);
    let numbers: Vec<u32> = records.iter().map(|r| number_of(&r.2[14..])).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(records[0].0, 1_000_000);

    let (_, _, records) = read_pcap(&second.0.lock().unwrap()[..]);
    assert_eq!(records.len(), 2);
    assert_eq!(number_of(&records[0].2[14..]), 3);
    assert_eq!(records[1].1, fabric::CAPTURE_SNAPLEN);
    assert_eq!(records[1].2.len(), fabric::CAPTURE_SNAPLEN as usize);
    assert_eq!(fabric.stats().captured, 4);
}

/// Fails after the pcap header, to check that write errors surface.
struct FailingWriter {
    budget: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget < buf.len() {
            return Err(io::Error::other("disk full"));
        }
        self.budget -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn capture_write_errors_stop_the_capture_and_are_reported() {
    let fabric = Fabric::default();
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    fabric
        .capture_to_writer(FailingWriter { budget: 24 })
        .unwrap();
    a.send(&numbered(MAC_B, MAC_A, 1), 0);
    assert!(!fabric.is_capturing());
    assert!(b.recv(0).is_some(), "sending is not affected");
    let err = fabric.flush_capture().unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    fabric.stop_capture().unwrap();
    assert_eq!(fabric.stats().captured, 0);

    // A header that cannot be written fails at once.
    assert!(fabric
        .capture_to_writer(FailingWriter { budget: 0 })
        .is_err());
}

#[test]
fn tshark_dissects_the_capture() {
    let tshark = Command::new("tshark").arg("--version").output();
    if !tshark.is_ok_and(|o| o.status.success()) {
        println!("note: tshark is not installed; skipping the Wireshark dissection check");
        return;
    }

    let path = scratch("tshark.pcap");
    let fabric = Fabric::default();
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    let c = fabric.attach(MAC_C);
    fabric.capture_to(&path).unwrap();

    let ip = |host: u8| [192, 0, 2, host]; // TEST-NET-1; never leaves this process
    a.send(
        &udp_frame(MAC_B, MAC_A, ip(10), ip(11), 4791, 4791, b"first"),
        1_000,
    );
    b.send(
        &udp_frame(MAC_A, MAC_B, ip(11), ip(10), 4791, 4791, b"second"),
        2_000,
    );
    c.send(
        &udp_frame(BROADCAST, MAC_C, ip(12), [255; 4], 5000, 6000, b"third"),
        3_000_000_001,
    );
    fabric.stop_capture().unwrap();

    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=,"])
        .args(["-e", "eth.src", "-e", "eth.dst", "-e", "ip.src"])
        .args(["-e", "udp.dstport", "-e", "frame.time_epoch"])
        .args(["-e", "ip.checksum.status", "-o", "ip.check_checksum:TRUE"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 3, "{text}");

    let srcs: Vec<&str> = lines.iter().map(|l| l[0]).collect();
    assert_eq!(
        srcs,
        [
            "02:00:00:00:00:0a",
            "02:00:00:00:00:0b",
            "02:00:00:00:00:0c"
        ]
    );
    assert_eq!(lines[2][1], "ff:ff:ff:ff:ff:ff");
    assert_eq!(lines[0][2], "192.0.2.10");
    assert_eq!(lines[2][3], "6000");
    // Virtual time is the capture time: 3.000000001 s after the epoch.
    assert!(lines[2][4].starts_with("3.000000001"), "{}", lines[2][4]);
    // Good IPv4 checksums ("1" = good) show the frames are well formed.
    assert!(lines.iter().all(|l| l[5] == "1"), "{text}");

    std::fs::remove_file(&path).ok();
}
