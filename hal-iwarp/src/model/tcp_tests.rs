//! The TCP offload engine over the real fabric: handshakes, bulk data under loss,
//! duplication and reordering, FIN and RST paths, timeouts, and Wireshark's view of it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::prelude::rust_2021::*;
use std::{format, println, vec};

use core::net::{IpAddr, SocketAddr};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fabric::{Fabric, Impairments, Port};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::sim::Sim;
use super::tcp::{ConnId, Disposition, TcpConfig, TcpEngine, TcpError, TcpEvent, TcpState};

pub(crate) const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xA];
pub(crate) const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xB];
pub(crate) const PORT: u16 = 4000;

pub(crate) fn ip_a() -> IpAddr {
    "10.0.0.1".parse().unwrap()
}
pub(crate) fn ip_b() -> IpAddr {
    "10.0.0.2".parse().unwrap()
}

pub(crate) fn lossy(seed: u64) -> Impairments {
    Impairments {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        delay_ns: (2_000, 20_000),
        seed,
    }
}

fn pair(imp: Impairments, a: IpAddr, b: IpAddr) -> (Sim, Vec<(TcpEngine, Port)>) {
    let fabric = Fabric::new(imp);
    let pa = fabric.attach(MAC_A);
    let pb = fabric.attach(MAC_B);
    let ea = TcpEngine::new(
        MAC_A,
        &[a],
        TcpConfig {
            seed: 1,
            ..TcpConfig::default()
        },
    );
    let eb = TcpEngine::new(
        MAC_B,
        &[b],
        TcpConfig {
            seed: 2,
            ..TcpConfig::default()
        },
    );
    (Sim::new(fabric), vec![(ea, pa), (eb, pb)])
}

pub(crate) fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// Events per node, with received bytes joined per connection.
#[derive(Default)]
struct Log {
    events: Vec<TcpEvent>,
    data: HashMap<ConnId, Vec<u8>>,
}

impl Log {
    fn drain(&mut self, e: &mut TcpEngine) {
        while let Some(ev) = e.pop_event() {
            if let TcpEvent::Data(c, bytes) = &ev {
                self.data.entry(*c).or_default().extend_from_slice(bytes);
            } else {
                self.events.push(ev);
            }
        }
    }

    fn has(&self, want: &TcpEvent) -> bool {
        self.events.contains(want)
    }

    fn incoming(&self) -> Option<ConnId> {
        self.events.iter().find_map(|e| match e {
            TcpEvent::Incoming { conn, .. } => Some(*conn),
            _ => None,
        })
    }
}

/// Sends `data` in records of 1..=3000 bytes.
fn send_records(e: &mut TcpEngine, conn: ConnId, data: &[u8], seed: u64, now: u64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut off = 0;
    while off < data.len() {
        let n = (1 + rng.next_u32() as usize % 3000).min(data.len() - off);
        e.send(conn, &data[off..off + n], now).unwrap();
        off += n;
    }
}

/// Opens a → b:PORT and runs to both ends established; returns (a's conn, b's conn).
fn connect(
    sim: &mut Sim,
    nodes: &mut [(TcpEngine, Port)],
    logs: &mut [Log; 2],
) -> (ConnId, ConnId) {
    nodes[1].0.listen(PORT).unwrap();
    let remote = SocketAddr::new(nodes[1].0.addresses()[0], PORT);
    let local = SocketAddr::new(nodes[0].0.addresses()[0], 0);
    let ca = nodes[0].0.open(local, remote, MAC_B, sim.now).unwrap();
    let ok = sim.run(nodes, sim.now + 1_000_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        logs[0].has(&TcpEvent::Established(ca)) && logs[1].incoming().is_some()
    });
    assert!(ok, "handshake");
    (ca, logs[1].incoming().unwrap())
}

fn bulk(
    imp: Impairments,
    a: IpAddr,
    b: IpAddr,
    a_len: usize,
    b_len: usize,
) -> (Sim, Vec<(TcpEngine, Port)>) {
    let (mut sim, mut nodes) = pair(imp, a, b);
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = connect(&mut sim, &mut nodes, &mut logs);
    assert_eq!(nodes[0].0.state(ca), Some(TcpState::Established));
    assert_eq!(nodes[1].0.listen_port(cb), Some(PORT));
    assert_eq!(nodes[0].0.mss(ca), Some(1460));
    let da = random_bytes(10, a_len);
    let db = random_bytes(20, b_len);
    send_records(&mut nodes[0].0, ca, &da, 11, sim.now);
    send_records(&mut nodes[1].0, cb, &db, 21, sim.now);
    let done = sim.run(&mut nodes, sim.now + 60_000_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        logs[1].data.get(&cb).map_or(0, Vec::len) == a_len
            && logs[0].data.get(&ca).map_or(0, Vec::len) == b_len
            && n[0].0.unacked(ca) == Some(0)
            && n[1].0.unacked(cb) == Some(0)
    });
    assert!(done, "transfer did not finish by {} ns", sim.now);
    assert!(logs[1].data[&cb] == da, "a → b bytes differ");
    assert!(logs[0].data[&ca] == db, "b → a bytes differ");
    assert!(logs[0].has(&TcpEvent::Acked {
        conn: ca,
        total: a_len as u64
    }));

    // Graceful close, a first.
    nodes[0].0.close(ca, sim.now).unwrap();
    assert_eq!(
        nodes[0].0.send(ca, b"late", sim.now),
        Err(TcpError::Closing)
    );
    let ok = sim.run(&mut nodes, sim.now + 10_000_000_000, |n, now| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        if logs[1].has(&TcpEvent::PeerClosed(cb)) && n[1].0.state(cb) == Some(TcpState::CloseWait) {
            n[1].0.close(cb, now).unwrap();
        }
        logs[0].has(&TcpEvent::Closed(ca)) && logs[1].has(&TcpEvent::Closed(cb))
    });
    assert!(ok, "close");
    assert!(logs[0].has(&TcpEvent::PeerClosed(ca)));
    assert_eq!(nodes[0].0.connections(), 0);
    assert_eq!(nodes[1].0.connections(), 0);
    (sim, nodes)
}

#[test]
fn bulk_both_ways_over_a_lossy_fabric_is_byte_exact() {
    let (sim, nodes) = bulk(lossy(7), ip_a(), ip_b(), 3 << 20, 2 << 20);
    let fs = sim.fabric.stats();
    assert!(
        fs.lost > 100 && fs.duplicated > 10 && fs.reordered > 10,
        "{fs:?}"
    );
    for (e, _) in &nodes {
        let s = e.stats();
        assert!(
            s.retransmits > 0 && s.out_of_order > 0 && s.duplicates > 0,
            "{s:?}"
        );
        assert_eq!(s.bad_checksum, 0);
    }
    let s = nodes[0].0.stats();
    println!(
        "{fs:?}\n{s:?}\n{:?}\nvirtual time {} ns",
        nodes[1].0.stats(),
        sim.now
    );
    assert!(s.fast_retransmits > 0 && s.timeouts > 0, "{s:?}");
}

#[test]
fn bulk_over_ipv6() {
    let (_, nodes) = bulk(
        lossy(8),
        "fd00::1".parse().unwrap(),
        "fd00::2".parse().unwrap(),
        300_000,
        200_000,
    );
    assert!(nodes[0].0.stats().retransmits > 0);
}

#[test]
fn segments_to_no_listener_are_reset() {
    let (mut sim, mut nodes) = pair(Impairments::PERFECT, ip_a(), ip_b());
    let mut logs = [Log::default(), Log::default()];
    let ca = nodes[0]
        .0
        .open(
            SocketAddr::new(ip_a(), 0),
            SocketAddr::new(ip_b(), 9),
            MAC_B,
            0,
        )
        .unwrap();
    assert!(sim.run(&mut nodes, 1_000_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[0].has(&TcpEvent::Reset(ca))
    }));
    assert_eq!(nodes[1].0.stats().resets_out, 1);
    assert_eq!(nodes[0].0.stats().resets_in, 1);
    assert_eq!(nodes[0].0.connections(), 0);
    assert_eq!(
        nodes[0].0.send(ca, b"x", 0),
        Err(TcpError::NoSuchConnection)
    );
}

#[test]
fn abort_resets_the_peer() {
    let (mut sim, mut nodes) = pair(Impairments::PERFECT, ip_a(), ip_b());
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = connect(&mut sim, &mut nodes, &mut logs);
    nodes[1].0.send(cb, b"hello", sim.now).unwrap();
    assert!(sim.run(&mut nodes, sim.now + 1_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[0].data.get(&ca).is_some_and(|d| d == b"hello")
    }));
    nodes[0].0.abort(ca).unwrap();
    assert!(sim.run(&mut nodes, sim.now + 1_000_000, |n, _| {
        logs[1].drain(&mut n[1].0);
        logs[1].has(&TcpEvent::Reset(cb))
    }));
    assert_eq!(nodes[1].0.connections(), 0);
    // Nothing answers the RST, and a's later frames to b meet no connection.
    assert_eq!(nodes[1].0.stats().resets_out, 0);
}

#[test]
fn half_close_data_flows_after_the_peers_fin() {
    let (mut sim, mut nodes) = pair(lossy(3), ip_a(), ip_b());
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = connect(&mut sim, &mut nodes, &mut logs);
    nodes[0].0.send(ca, b"request", sim.now).unwrap();
    nodes[0].0.close(ca, sim.now).unwrap();
    let reply = random_bytes(5, 100_000);
    let mut replied = false;
    let ok = sim.run(&mut nodes, sim.now + 10_000_000_000, |n, now| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        if !replied && logs[1].has(&TcpEvent::PeerClosed(cb)) {
            assert_eq!(logs[1].data[&cb], b"request");
            assert_eq!(n[1].0.state(cb), Some(TcpState::CloseWait));
            n[1].0.send(cb, &reply, now).unwrap();
            n[1].0.close(cb, now).unwrap();
            replied = true;
        }
        logs[0].has(&TcpEvent::Closed(ca)) && logs[1].has(&TcpEvent::Closed(cb))
    });
    assert!(ok);
    assert!(logs[0].data[&ca] == reply);
    assert!(logs[0].has(&TcpEvent::PeerClosed(ca)));
}

#[test]
fn unanswered_syn_backs_off_and_times_out() {
    let (mut sim, mut nodes) = pair(Impairments::PERFECT, ip_a(), ip_b());
    nodes[1].1.set_link(false);
    let ca = nodes[0]
        .0
        .open(
            SocketAddr::new(ip_a(), 0),
            SocketAddr::new(ip_b(), PORT),
            MAC_B,
            0,
        )
        .unwrap();
    let mut log = Log::default();
    assert!(sim.run(&mut nodes, 10_000_000_000, |n, _| {
        log.drain(&mut n[0].0);
        log.has(&TcpEvent::TimedOut(ca))
    }));
    let cfg = TcpConfig::default();
    let times: Vec<u64> = sim.sent.iter().map(|(_, t)| *t).collect();
    assert_eq!(
        times.len() as u32,
        1 + cfg.max_retries,
        "SYN and its retransmissions"
    );
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[0], cfg.rto_initial_ns);
    for w in gaps.windows(2) {
        assert!(w[1] == (w[0] * 2).min(cfg.rto_max_ns), "{gaps:?}");
    }
    assert_eq!(nodes[0].0.connections(), 0);
}

#[test]
fn established_peer_gone_times_out_with_rst() {
    let (mut sim, mut nodes) = pair(Impairments::PERFECT, ip_a(), ip_b());
    let mut logs = [Log::default(), Log::default()];
    let (ca, _cb) = connect(&mut sim, &mut nodes, &mut logs);
    nodes[1].1.set_link(false);
    nodes[0].0.send(ca, &[1; 5000], sim.now).unwrap();
    assert!(sim.run(&mut nodes, sim.now + 100_000_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[0].has(&TcpEvent::TimedOut(ca))
    }));
    let s = nodes[0].0.stats();
    assert_eq!(s.timeouts, u64::from(TcpConfig::default().max_retries) + 1);
    assert_eq!(s.resets_out, 1);
}

#[test]
fn damaged_and_foreign_frames() {
    let (_, mut nodes) = pair(Impairments::PERFECT, ip_a(), ip_b());
    nodes[1].0.listen(PORT).unwrap();
    assert_eq!(nodes[1].0.listen(PORT), Err(TcpError::AddressInUse));
    nodes[0]
        .0
        .open(
            SocketAddr::new(ip_a(), 0),
            SocketAddr::new(ip_b(), PORT),
            MAC_B,
            0,
        )
        .unwrap();
    let syn = nodes[0].0.pop_frame().unwrap();
    let mut bad = syn.clone();
    bad[14 + 20 + 23] ^= 0xFF; // the last byte of the TCP options
    assert!(matches!(
        nodes[1].0.on_frame(&bad, 0),
        Disposition::Dropped(_)
    ));
    assert_eq!(nodes[1].0.stats().bad_checksum, 1);
    assert_eq!(nodes[1].0.connections(), 0);
    let mut arp = syn.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(nodes[1].0.on_frame(&arp, 0), Disposition::NotMine);
    assert_eq!(
        nodes[0].0.on_frame(&syn, 0),
        Disposition::NotMine,
        "not our address"
    );
    assert_eq!(nodes[1].0.on_frame(&syn, 0), Disposition::Consumed);
    assert_eq!(nodes[1].0.connections(), 1);
    assert!(nodes[1].0.has_frames(), "SYN-ACK");
    assert_eq!(
        nodes[0].0.open(
            SocketAddr::new(ip_b(), 0),
            SocketAddr::new(ip_a(), PORT),
            MAC_B,
            0
        ),
        Err(TcpError::AddressNotLocal)
    );
}

/// Runs tshark over `pcap` with extra `args`; `None` when tshark is not installed.
pub(crate) fn tshark(pcap: &Path, args: &[&str]) -> Option<String> {
    let out = match Command::new("tshark")
        .args([
            "-n",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => std::panic!("tshark: {e}"),
    };
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hal-iwarp-{}-{name}", std::process::id()))
}

#[test]
fn wireshark_decodes_a_lossy_run_with_good_checksums() {
    let path = scratch("tcp.pcap");
    let (mut sim, mut nodes) = pair(lossy(11), ip_a(), ip_b());
    sim.fabric.capture_to(&path).unwrap();
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = connect(&mut sim, &mut nodes, &mut logs);
    let data = random_bytes(3, 200_000);
    send_records(&mut nodes[0].0, ca, &data, 4, sim.now);
    nodes[0].0.close(ca, sim.now).unwrap();
    assert!(sim.run(&mut nodes, sim.now + 10_000_000_000, |n, now| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        if logs[1].has(&TcpEvent::PeerClosed(cb)) && n[1].0.state(cb) == Some(TcpState::CloseWait) {
            n[1].0.close(cb, now).unwrap();
        }
        logs[0].has(&TcpEvent::Closed(ca)) && logs[1].has(&TcpEvent::Closed(cb))
    }));
    assert!(logs[1].data[&cb] == data);
    sim.fabric.stop_capture().unwrap();
    let frames = sim.sent.len();

    let Some(all) = tshark(
        &path,
        &[
            "-T",
            "fields",
            "-e",
            "tcp.checksum.status",
            "-e",
            "ip.checksum.status",
        ],
    ) else {
        println!("note: tshark is not installed; skipping the Wireshark check");
        return;
    };
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), frames);
    assert!(
        lines.iter().all(|l| *l == "1\t1"),
        "checksum status: {:?}",
        lines.iter().find(|l| **l != "1\t1")
    );
    let bad = tshark(
        &path,
        &["-Y", "_ws.malformed || _ws.expert.severity == error"],
    )
    .unwrap();
    assert!(bad.is_empty(), "malformed or error frames:\n{bad}");
    let syn = tshark(
        &path,
        &[
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            "-T",
            "fields",
            "-e",
            "tcp.options.mss_val",
            "-e",
            "tcp.dstport",
        ],
    )
    .unwrap();
    assert!(syn.lines().next() == Some("1460\t4000"), "{syn}");
    let fins = tshark(&path, &["-Y", "tcp.flags.fin == 1"]).unwrap();
    assert!(fins.lines().count() >= 2);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn rst_in_window_but_not_at_rcv_nxt_gets_a_challenge_ack() {
    use super::wire::eth::MacAddr;
    use super::wire::tcp::{build_frame, parse_frame, FrameAddr, TcpFlags, TcpHeader};

    let (mut sim, mut nodes) = pair(Impairments::PERFECT, ip_a(), ip_b());
    sim.keep_frames = true;
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = connect(&mut sim, &mut nodes, &mut logs);
    nodes[1].0.send(cb, b"0123456789", sim.now).unwrap();
    assert!(sim.run(&mut nodes, sim.now + 1_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[0].data.get(&ca).is_some_and(|d| d.len() == 10)
    }));
    // RCV.NXT at a: the end of b's last data segment.
    let (seq, b_port, a_port) = sim
        .frames
        .iter()
        .filter(|(i, _)| *i == 1)
        .map(|(_, f)| parse_frame(f).unwrap())
        .filter(|p| !p.payload.is_empty())
        .map(|p| {
            (
                p.tcp.seq.wrapping_add(p.payload.len() as u32),
                p.tcp.src_port,
                p.tcp.dst_port,
            )
        })
        .next_back()
        .unwrap();
    let rst = |seq| {
        let h = TcpHeader {
            src_port: b_port,
            dst_port: a_port,
            seq,
            flags: TcpFlags::RST,
            ..TcpHeader::default()
        };
        let addr = FrameAddr {
            src_mac: MacAddr(MAC_B),
            dst_mac: MacAddr(MAC_A),
            src: ip_b(),
            dst: ip_a(),
        };
        build_frame(&addr, 0, &h, &[]).unwrap()
    };
    // The ACK of b's data may still wait in a's queue.
    while nodes[0].0.pop_frame().is_some() {}
    let before = nodes[0].0.stats().segments_out;
    assert_eq!(
        nodes[0].0.on_frame(&rst(seq.wrapping_add(100)), sim.now),
        Disposition::Consumed
    );
    let frame = nodes[0].0.pop_frame().expect("challenge ACK");
    let ack = parse_frame(&frame).unwrap();
    assert_eq!(ack.tcp.flags, TcpFlags::ACK);
    assert_eq!(ack.tcp.ack, seq);
    assert!(!nodes[0].0.has_frames());
    assert_eq!(nodes[0].0.stats().segments_out, before + 1);
    assert_eq!(nodes[0].0.state(ca), Some(TcpState::Established));
    // Outside the window: ignored without an answer.
    nodes[0].0.on_frame(&rst(seq.wrapping_sub(1)), sim.now);
    assert!(!nodes[0].0.has_frames());
    assert_eq!(nodes[0].0.stats().resets_in, 0);
    // Exactly RCV.NXT: reset.
    nodes[0].0.on_frame(&rst(seq), sim.now);
    logs[0].drain(&mut nodes[0].0);
    assert!(logs[0].has(&TcpEvent::Reset(ca)));
    assert_eq!(nodes[0].0.connections(), 0);
}

#[test]
fn mss_is_the_smaller_of_both_and_bounds_every_segment() {
    use super::wire::tcp::parse_frame;

    let (mut sim, mut nodes) = pair(lossy(12), ip_a(), ip_b());
    nodes[1].0 = TcpEngine::new(
        MAC_B,
        &[ip_b()],
        TcpConfig {
            mss: 1000,
            seed: 2,
            ..TcpConfig::default()
        },
    );
    sim.keep_frames = true;
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = connect(&mut sim, &mut nodes, &mut logs);
    assert_eq!(nodes[0].0.mss(ca), Some(1000));
    assert_eq!(nodes[1].0.mss(cb), Some(1000));
    let data = random_bytes(9, 100_000);
    // Records of 300 bytes (the last of 100): never split, up to three per 1000-byte
    // segment when retransmissions pack them.
    for c in data.chunks(300) {
        nodes[0].0.send(ca, c, sim.now).unwrap();
    }
    assert!(sim.run(&mut nodes, sim.now + 10_000_000_000, |n, _| {
        logs[1].drain(&mut n[1].0);
        logs[1].data.get(&cb).is_some_and(|d| d.len() == data.len())
    }));
    assert!(logs[1].data[&cb] == data);
    let sizes: Vec<usize> = sim
        .frames
        .iter()
        .filter(|(i, _)| *i == 0)
        .map(|(_, f)| parse_frame(f).unwrap().payload.len())
        .filter(|l| *l > 0)
        .collect();
    assert!(
        sizes
            .iter()
            .all(|l| *l <= 1000 && (l % 300 == 0 || l % 300 == 100)),
        "{sizes:?}"
    );
    assert!(sizes.contains(&900), "go-back-N packs records: {sizes:?}");
    let total: usize = sizes.iter().sum();
    assert!(total >= data.len());
}
