//! MPA over the TCP engine and the fabric: the enhanced exchange with the RTR, DDP / RDMAP
//! traffic of every opcode as FPDUs, reject, CRC errors, bad requests, and Wireshark's
//! MPA / DDP / RDMAP dissectors over a capture.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::prelude::rust_2021::*;
use std::{format, println, vec};

use core::net::SocketAddr;
use std::collections::BTreeMap;

use fabric::{Fabric, Impairments, Port};

use super::mpa::{Connect, MpaEngine, MpaError, MpaEvent, Phase, Role};
use super::sim::Sim;
use super::tcp::{ConnId, TcpConfig, TcpEngine};
use super::tcp_tests::{ip_a, ip_b, lossy, random_bytes, scratch, tshark, MAC_A, MAC_B, PORT};
use super::wire::ddp::DdpHeader;
use super::wire::mpa::{decode_fpdu, fpdu, MpaFrame};
use super::wire::rdmap::{segment_message, Opcode, ReadRequest, Segment, Target, Terminate};
use super::wire::tcp::parse_frame;
use crate::mpa::{FrameHeader, FrameKind, IrdOrd, RtrType};

fn pair(imp: Impairments) -> (Sim, Vec<(MpaEngine, Port)>) {
    let fabric = Fabric::new(imp);
    let pa = fabric.attach(MAC_A);
    let pb = fabric.attach(MAC_B);
    let cfg = |seed| TcpConfig {
        seed,
        ..TcpConfig::default()
    };
    let a = MpaEngine::new(TcpEngine::new(MAC_A, &[ip_a()], cfg(1)));
    let b = MpaEngine::new(TcpEngine::new(MAC_B, &[ip_b()], cfg(2)));
    (Sim::new(fabric), vec![(a, pa), (b, pb)])
}

#[derive(Default)]
struct Log(Vec<MpaEvent>);

impl Log {
    fn drain(&mut self, e: &mut MpaEngine) {
        while let Some(ev) = e.pop_event() {
            self.0.push(ev);
        }
    }
    fn has(&self, want: &MpaEvent) -> bool {
        self.0.contains(want)
    }
    fn request(&self) -> Option<(ConnId, IrdOrd, Vec<u8>)> {
        self.0.iter().find_map(|e| match e {
            MpaEvent::Request {
                conn,
                ird_ord,
                private_data,
            } => Some((*conn, *ird_ord, private_data.clone())),
            _ => None,
        })
    }
    fn reply(&self) -> Option<(IrdOrd, Vec<u8>)> {
        self.0.iter().find_map(|e| match e {
            MpaEvent::Reply {
                ird_ord,
                private_data,
                ..
            } => Some((*ird_ord, private_data.clone())),
            _ => None,
        })
    }
    fn fpdus(&self) -> Vec<Vec<u8>> {
        self.0
            .iter()
            .filter_map(|e| match e {
                MpaEvent::Fpdu { ulpdu, .. } => Some(ulpdu.clone()),
                _ => None,
            })
            .collect()
    }
}

fn connect(sim: &mut Sim, nodes: &mut [(MpaEngine, Port)]) -> ConnId {
    nodes[1].0.listen(PORT).unwrap();
    let ca = nodes[0]
        .0
        .connect(
            &Connect {
                local: SocketAddr::new(ip_a(), 0),
                remote: SocketAddr::new(ip_b(), PORT),
                remote_mac: MAC_B,
                ird: 16,
                ord: 8,
                private_data: b"hello from A",
            },
            sim.now,
        )
        .unwrap();
    assert_eq!(
        nodes[0].0.phase(ca),
        Some((Role::Initiator, Phase::AwaitReply))
    );
    ca
}

/// Runs the whole exchange to full operation at both ends; returns (a's conn, b's conn).
fn establish(
    sim: &mut Sim,
    nodes: &mut [(MpaEngine, Port)],
    logs: &mut [Log; 2],
) -> (ConnId, ConnId) {
    let ca = connect(sim, nodes);
    let (mut accepted, mut completed) = (false, false);
    let ok = sim.run(nodes, sim.now + 10_000_000_000, |n, now| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        if let (false, Some((cb, io, pd))) = (accepted, logs[1].request()) {
            assert_eq!(io, IrdOrd::request(16, 8));
            assert_eq!(pd, b"hello from A");
            assert_eq!(
                n[1].0.phase(cb),
                Some((Role::Responder, Phase::RequestPending))
            );
            n[1].0.accept(cb, 4, 2, b"welcome", now).unwrap();
            accepted = true;
        }
        if let (false, Some((io, pd))) = (completed, logs[0].reply()) {
            assert_eq!(io, IrdOrd::reply(RtrType::Read, 4, 2));
            assert_eq!(pd, b"welcome");
            n[0].0.complete(ca, now).unwrap();
            completed = true;
        }
        logs[0].has(&MpaEvent::Established(ca))
            && logs[1]
                .request()
                .is_some_and(|(cb, ..)| logs[1].has(&MpaEvent::Established(cb)))
    });
    assert!(ok, "MPA exchange");
    let cb = logs[1].request().unwrap().0;
    assert_eq!(nodes[1].0.phase(cb), Some((Role::Responder, Phase::Fpdu)));
    (ca, cb)
}

/// A message of the test traffic.
struct Msg {
    opcode: Opcode,
    target: Target,
    payload: Vec<u8>,
}

/// Sends of every kind, a multi-segment RDMA Write and a Read Request from one side.
fn traffic(seed: u64, count: usize) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut msn_send = 1;
    let mut msn_read = 1;
    for i in 0..count {
        let len = (i * 7919 + seed as usize * 31) % 20_000;
        let payload = random_bytes(seed * 1000 + i as u64, len);
        let (opcode, target) = match i % 6 {
            0 => (
                Opcode::Write,
                Target::Tagged {
                    stag: 0x100 + i as u32,
                    to: 0x1_0000_0000 + i as u64 * 0x10_0000,
                },
            ),
            1 => {
                msn_read += 1;
                let rr = ReadRequest {
                    sink_stag: 0x200 + i as u32,
                    sink_to: 0x4000,
                    size: len as u32,
                    src_stag: 0x300 + i as u32,
                    src_to: 0x8000,
                };
                out.push(Msg {
                    opcode: Opcode::ReadRequest,
                    target: Target::Untagged {
                        msn: msn_read,
                        inval_stag: 0,
                    },
                    payload: rr.encode().to_vec(),
                });
                continue;
            }
            2 => (
                Opcode::Send,
                Target::Untagged {
                    msn: 0,
                    inval_stag: 0,
                },
            ),
            3 => (
                Opcode::SendInvalidate,
                Target::Untagged {
                    msn: 0,
                    inval_stag: 0xAB00 + i as u32,
                },
            ),
            4 => (
                Opcode::SendSe,
                Target::Untagged {
                    msn: 0,
                    inval_stag: 0,
                },
            ),
            _ => (
                Opcode::SendSeInvalidate,
                Target::Untagged {
                    msn: 0,
                    inval_stag: 0xCD00 + i as u32,
                },
            ),
        };
        let target = match target {
            Target::Untagged { inval_stag, .. } => {
                msn_send += 1;
                Target::Untagged {
                    msn: msn_send - 1,
                    inval_stag,
                }
            }
            t => t,
        };
        out.push(Msg {
            opcode,
            target,
            payload,
        });
    }
    out
}

fn send_all(e: &mut MpaEngine, conn: ConnId, msgs: &[Msg], now: u64) -> u64 {
    let max = e.mulpdu(conn).unwrap();
    let mut end = 0;
    for m in msgs {
        for seg in segment_message(m.opcode, m.target, &m.payload, max).unwrap() {
            end = e.send_fpdu(conn, &seg, now).unwrap();
        }
    }
    end
}

/// Reassembles received ULPDUs into messages keyed like the sender's: untagged by (QN, MSN),
/// tagged by STag. Returns (opcode, key, invalidate STag, bytes) in arrival order of the
/// last segments.
fn reassemble(ulpdus: &[Vec<u8>]) -> Vec<(Opcode, u64, u32, Vec<u8>)> {
    let mut partial: BTreeMap<u64, (Vec<u8>, u64)> = BTreeMap::new();
    let mut done = Vec::new();
    for u in ulpdus {
        let s = Segment::parse(u).unwrap();
        let (key, off, inval) = match s.ddp {
            DdpHeader::Tagged(h) => (u64::from(h.stag), h.to, 0),
            DdpHeader::Untagged(h) => (
                (u64::from(h.qn) << 32) | u64::from(h.msn),
                u64::from(h.mo),
                h.ulp_reserved,
            ),
        };
        let entry = partial.entry(key).or_insert_with(|| (Vec::new(), off));
        assert_eq!(
            off - entry.1,
            entry.0.len() as u64,
            "segments in order, offsets contiguous"
        );
        entry.0.extend_from_slice(s.payload);
        if s.ddp.last() {
            let (bytes, _) = partial.remove(&key).unwrap();
            done.push((s.opcode, key, inval, bytes));
        }
    }
    assert!(partial.is_empty());
    done
}

fn check_delivery(sent: &[Msg], got: &[(Opcode, u64, u32, Vec<u8>)]) {
    assert_eq!(sent.len(), got.len());
    for (m, (op, key, inval, bytes)) in sent.iter().zip(got) {
        assert_eq!(m.opcode, *op);
        match m.target {
            Target::Tagged { stag, .. } => assert_eq!(u64::from(stag), *key),
            Target::Untagged { msn, inval_stag } => {
                assert_eq!(u64::from(msn), key & 0xFFFF_FFFF);
                assert_eq!(u64::from(m.opcode.queue().unwrap()), key >> 32);
                assert_eq!(
                    if m.opcode.invalidates() {
                        inval_stag
                    } else {
                        0
                    },
                    *inval
                );
            }
        }
        assert!(m.payload == *bytes, "payload of {:?}", m.opcode);
    }
}

fn exchange_traffic(
    imp: Impairments,
    capture: Option<&std::path::Path>,
) -> (Sim, Vec<(MpaEngine, Port)>) {
    let (mut sim, mut nodes) = pair(imp);
    sim.keep_frames = true;
    if let Some(p) = capture {
        sim.fabric.capture_to(p).unwrap();
    }
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = establish(&mut sim, &mut nodes, &mut logs);
    let to_b = traffic(1, 60);
    let to_a = traffic(2, 30);
    let end_a = send_all(&mut nodes[0].0, ca, &to_b, sim.now);
    let end_b = send_all(&mut nodes[1].0, cb, &to_a, sim.now);
    let ok = sim.run(&mut nodes, sim.now + 60_000_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        logs[0].has(&MpaEvent::Acked {
            conn: ca,
            total: end_a,
        }) && logs[1].has(&MpaEvent::Acked {
            conn: cb,
            total: end_b,
        })
    });
    assert!(ok, "traffic");
    check_delivery(&to_b, &reassemble(&logs[1].fpdus()));
    check_delivery(&to_a, &reassemble(&logs[0].fpdus()));
    assert!(logs
        .iter()
        .all(|l| !l.0.iter().any(|e| matches!(e, MpaEvent::Error { .. }))));

    nodes[0].0.close(ca, sim.now).unwrap();
    let ok = sim.run(&mut nodes, sim.now + 10_000_000_000, |n, now| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        if logs[1].has(&MpaEvent::PeerClosed(cb))
            && n[1].0.phase(cb).is_some_and(|p| p.1 == Phase::Fpdu)
        {
            n[1].0.close(cb, now).unwrap();
        }
        logs[0].has(&MpaEvent::Closed(ca)) && logs[1].has(&MpaEvent::Closed(cb))
    });
    assert!(ok, "close");
    if capture.is_some() {
        sim.fabric.stop_capture().unwrap();
    }
    (sim, nodes)
}

#[test]
fn rdmap_traffic_of_every_opcode_over_a_lossy_fabric() {
    let (sim, nodes) = exchange_traffic(lossy(5), None);
    assert!(sim.fabric.stats().lost > 10);
    assert!(nodes[0].0.tcp().stats().retransmits > 0);
    // Every segment sent (retransmissions included) carries whole FPDUs (§9.2).
    let mut fpdus = 0;
    for (_, f) in &sim.frames {
        let p = parse_frame(f).unwrap();
        let mut rest = p.payload;
        if rest.starts_with(b"MPA ID") {
            continue;
        }
        while !rest.is_empty() {
            let (_, used) = decode_fpdu(rest, usize::MAX)
                .unwrap()
                .expect("a whole FPDU");
            rest = &rest[used..];
            fpdus += 1;
        }
    }
    assert!(fpdus > 600, "{fpdus}");
}

#[test]
fn reject_carries_private_data_and_closes() {
    let (mut sim, mut nodes) = pair(lossy(6));
    let mut logs = [Log::default(), Log::default()];
    let ca = connect(&mut sim, &mut nodes);
    let mut rejected = false;
    let ok = sim.run(&mut nodes, 10_000_000_000, |n, now| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        if let (false, Some((cb, ..))) = (rejected, logs[1].request()) {
            n[1].0.reject(cb, b"busy", now).unwrap();
            assert!(n[1].0.accept(cb, 1, 1, b"", now).is_err());
            rejected = true;
        }
        if logs[0].has(&MpaEvent::PeerClosed(ca))
            && n[0].0.phase(ca).is_some_and(|p| p.1 == Phase::Dead)
        {
            n[0].0.close(ca, now).unwrap();
        }
        logs[0].has(&MpaEvent::Closed(ca))
            && logs[1].0.iter().any(|e| matches!(e, MpaEvent::Closed(_)))
    });
    assert!(ok);
    assert!(logs[0].has(&MpaEvent::Rejected {
        conn: ca,
        private_data: b"busy".to_vec()
    }));
    assert!(!logs[0]
        .0
        .iter()
        .any(|e| matches!(e, MpaEvent::Established(_))));
}

#[test]
fn crc_error_sends_terminate_and_fin() {
    let (mut sim, mut nodes) = pair(Impairments::PERFECT);
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = establish(&mut sim, &mut nodes, &mut logs);
    let seg = segment_message(
        Opcode::Send,
        Target::Untagged {
            msn: 1,
            inval_stag: 0,
        },
        b"payload",
        1000,
    )
    .unwrap();
    let mut bad = fpdu(&seg[0]).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    nodes[0].0.tcp_mut().send(ca, &bad, sim.now).unwrap();
    let ok = sim.run(&mut nodes, sim.now + 1_000_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        logs[0].has(&MpaEvent::PeerClosed(ca))
    });
    assert!(ok);
    assert!(logs[1].has(&MpaEvent::Error {
        conn: cb,
        error: MpaError::Crc
    }));
    assert_eq!(nodes[1].0.phase(cb).map(|p| p.1), Some(Phase::Dead));
    let fpdus = logs[0].fpdus();
    let term = Segment::parse(fpdus.last().unwrap()).unwrap();
    assert_eq!(term.opcode, Opcode::Terminate);
    let DdpHeader::Untagged(h) = term.ddp else {
        std::panic!("untagged")
    };
    assert_eq!((h.qn, h.msn, h.mo, h.last), (2, 1, 0, true));
    let t = Terminate::parse(term.payload).unwrap();
    assert_eq!(
        (t.control.layer, t.control.etype, t.control.ecode),
        (2, 0, 2)
    );
    // Sending after the Terminate is refused at the MPA level.
    assert!(nodes[1].0.send_fpdu(cb, &seg[0], sim.now).is_err());
}

#[test]
fn bad_request_gets_a_device_reject() {
    let (mut sim, mut nodes) = pair(Impairments::PERFECT);
    sim.keep_frames = true;
    nodes[1].0.listen(PORT).unwrap();
    let mut logs = [Log::default(), Log::default()];
    // A revision-1 request sent as raw TCP bytes (the initiator's MPA does not know it).
    let mut req = MpaFrame::ours(FrameKind::Request, false, IrdOrd::request(1, 1), b"");
    req.header.rev = 1;
    let raw = nodes[0]
        .0
        .tcp_mut()
        .open(
            SocketAddr::new(ip_a(), 0),
            SocketAddr::new(ip_b(), PORT),
            MAC_B,
            0,
        )
        .unwrap();
    nodes[0]
        .0
        .tcp_mut()
        .send(raw, &req.encode().unwrap(), 0)
        .unwrap();
    let ok = sim.run(&mut nodes, 1_000_000_000, |n, _| {
        logs[1].drain(&mut n[1].0);
        logs[1].0.iter().any(|e| {
            matches!(
                e,
                MpaEvent::Error {
                    error: MpaError::Revision(1),
                    ..
                }
            )
        })
    });
    assert!(ok);
    sim.run(&mut nodes, sim.now + 1_000_000, |_, _| false);
    // B's reply: R = 1, REV 2, PD_LENGTH 0, then a FIN.
    let from_b: Vec<_> = sim
        .frames
        .iter()
        .filter(|(i, _)| *i == 1)
        .map(|(_, f)| {
            let p = parse_frame(f).unwrap();
            (p.tcp.flags, p.payload.to_vec())
        })
        .collect();
    let reply = from_b.iter().find(|(_, p)| !p.is_empty()).unwrap();
    assert_eq!(
        FrameHeader::decode(&reply.1).unwrap(),
        FrameHeader::ours(FrameKind::Reply, true, 0)
    );
    assert_eq!(reply.1.len(), 20);
    assert!(from_b
        .iter()
        .any(|(f, _)| f.contains(super::wire::tcp::TcpFlags::FIN)));
}

/// Runs tshark over `pcap` (MPA is found by Wireshark's heuristic dissector on TCP, no
/// decode-as needed) and returns one row of `fields` per frame that has MPA.
fn mpa_rows(pcap: &std::path::Path, fields: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut args = vec![
        "-Y",
        "iwarp_mpa",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = tshark(pcap, &args)?;
    Some(
        out.lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect(),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks every frame of a capture: TCP / IP checksums good, nothing malformed, and every
/// FPDU's CRC good in Wireshark's own check. Returns the number of FPDUs; `None` without
/// tshark.
fn check_capture(pcap: &std::path::Path, strict: bool) -> Option<usize> {
    let all = tshark(
        pcap,
        &[
            "-T",
            "fields",
            "-e",
            "tcp.checksum.status",
            "-e",
            "ip.checksum.status",
        ],
    )?;
    assert!(all.lines().all(|l| l == "1\t1"), "checksums");
    let severity = if strict { "warning" } else { "error" };
    let bad = tshark(
        pcap,
        &[
            "-Y",
            &format!("_ws.malformed || _ws.expert.severity >= {severity}"),
        ],
    )
    .unwrap();
    assert!(bad.is_empty(), "malformed or {severity} frames:\n{bad}");
    let fpdus: usize = mpa_rows(pcap, &["iwarp_mpa.ulpdulength"])
        .unwrap()
        .iter()
        .map(|r| r[0].split(',').filter(|x| !x.is_empty()).count())
        .sum();
    let verbose = tshark(pcap, &["-Y", "iwarp_mpa", "-V"]).unwrap();
    assert_eq!(verbose.matches("(Good CRC32)").count(), fpdus);
    assert!(!verbose.contains("Bad CRC"));
    Some(fpdus)
}

#[test]
fn wireshark_decodes_mpa_ddp_and_rdmap() {
    let path = scratch("mpa.pcap");
    exchange_traffic(Impairments::PERFECT, Some(&path));
    let Some(fpdus) = check_capture(&path, true) else {
        println!("note: tshark is not installed; skipping the Wireshark check");
        return;
    };
    assert!(fpdus > 500, "{fpdus} FPDUs decoded");
    let rows = mpa_rows(
        &path,
        &[
            "iwarp_mpa.key.req",
            "iwarp_mpa.key.rep",
            "iwarp_mpa.rev",
            "iwarp_mpa.pdlength",
            "iwarp_mpa.privatedata",
            "iwarp_mpa.crc_flag",
            "iwarp_mpa.marker_flag",
            "iwarp_rdma.opcode",
            "iwarp_ddp.qn",
            "iwarp_ddp.msn",
        ],
    )
    .unwrap();
    let req: Vec<_> = rows.iter().filter(|r| !r[0].is_empty()).collect();
    let rep: Vec<_> = rows.iter().filter(|r| !r[1].is_empty()).collect();
    assert_eq!(req.len(), 1);
    assert_eq!(rep.len(), 1);
    assert_eq!(req[0][0], hex(b"MPA ID Req Frame"));
    assert_eq!(rep[0][1], hex(b"MPA ID Rep Frame"));
    for r in [req[0], rep[0]] {
        assert_eq!(
            (r[2].as_str(), r[5].as_str(), r[6].as_str()),
            ("2", "1", "0")
        );
    }
    // Private data: the RFC 6581 IRD / ORD block, then the ULP's.
    assert_eq!(req[0][3], "16");
    assert_eq!(req[0][4], format!("80104008{}", hex(b"hello from A")));
    assert_eq!(rep[0][3], "11");
    assert_eq!(rep[0][4], format!("80044002{}", hex(b"welcome")));
    let opcodes: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r[7].split(','))
        .filter(|x| !x.is_empty())
        .collect();
    assert_eq!(
        opcodes.into_iter().collect::<Vec<_>>(),
        ["0x00", "0x01", "0x02", "0x03", "0x04", "0x05", "0x06"]
    );
    // The first FPDU is the RTR: a Read Request on queue 1 with MSN 1.
    let first = rows.iter().find(|r| !r[7].is_empty()).unwrap();
    assert_eq!(
        (first[7].as_str(), first[8].as_str(), first[9].as_str()),
        ("0x01", "1", "1")
    );
    if std::env::var_os("HAL_IWARP_KEEP_PCAP").is_some() {
        println!("kept {}", path.display());
    } else {
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn wireshark_decodes_a_lossy_mpa_run() {
    let path = scratch("mpa-lossy.pcap");
    exchange_traffic(lossy(9), Some(&path));
    if check_capture(&path, false).is_none() {
        println!("note: tshark is not installed; skipping the Wireshark check");
        return;
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn wireshark_sees_the_bad_crc_and_the_terminate() {
    let path = scratch("mpa-crc.pcap");
    let (mut sim, mut nodes) = pair(Impairments::PERFECT);
    sim.fabric.capture_to(&path).unwrap();
    let mut logs = [Log::default(), Log::default()];
    let (ca, cb) = establish(&mut sim, &mut nodes, &mut logs);
    let seg = segment_message(
        Opcode::Send,
        Target::Untagged {
            msn: 1,
            inval_stag: 0,
        },
        b"payload",
        1000,
    )
    .unwrap();
    let mut bad = fpdu(&seg[0]).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    nodes[0].0.tcp_mut().send(ca, &bad, sim.now).unwrap();
    assert!(sim.run(&mut nodes, sim.now + 1_000_000_000, |n, _| {
        logs[0].drain(&mut n[0].0);
        logs[1].drain(&mut n[1].0);
        logs[0].has(&MpaEvent::PeerClosed(ca))
    }));
    assert!(logs[1].has(&MpaEvent::Error {
        conn: cb,
        error: MpaError::Crc
    }));
    sim.fabric.stop_capture().unwrap();
    let Some(verbose) = tshark(&path, &["-Y", "iwarp_mpa", "-V"]) else {
        println!("note: tshark is not installed; skipping the Wireshark check");
        return;
    };
    assert_eq!(
        verbose.matches("Bad CRC").count(),
        1,
        "exactly the corrupted FPDU"
    );
    let rows = mpa_rows(
        &path,
        &[
            "iwarp_rdma.opcode",
            "iwarp_ddp.qn",
            "iwarp_ddp.msn",
            "iwarp_rdma.term_layer",
            "iwarp_rdma.term_etype_llp",
            "iwarp_rdma.term_errcode_llp",
        ],
    )
    .unwrap();
    let term: Vec<_> = rows.iter().filter(|r| r[0] == "0x07").collect();
    assert_eq!(term.len(), 1, "{rows:?}");
    assert_eq!(&term[0][1..4], ["2", "1", "0x02"]);
    assert_eq!(term[0][5], "0x02", "MPA CRC error");
    let _ = std::fs::remove_file(&path);
}

/// A raw-TCP initiator offering only `offer`'s RTR; returns the responder's events once it
/// is established (or after 1 ms) and its connection.
fn raw_initiator(offer: IrdOrd, rtr: Option<(Opcode, Target)>) -> (Vec<MpaEvent>, Option<ConnId>) {
    let (mut sim, mut nodes) = pair(Impairments::PERFECT);
    nodes[1].0.listen(PORT).unwrap();
    let raw = nodes[0]
        .0
        .tcp_mut()
        .open(
            SocketAddr::new(ip_a(), 0),
            SocketAddr::new(ip_b(), PORT),
            MAC_B,
            0,
        )
        .unwrap();
    let req = MpaFrame::ours(FrameKind::Request, false, offer, b"raw");
    nodes[0]
        .0
        .tcp_mut()
        .send(raw, &req.encode().unwrap(), 0)
        .unwrap();
    let mut log = Log::default();
    let mut accepted = None;
    sim.run(&mut nodes, 1_000_000, |n, now| {
        log.drain(&mut n[1].0);
        if let (None, Some((cb, io, _))) = (accepted, log.request()) {
            assert_eq!(io, offer);
            n[1].0.accept(cb, 1, 1, b"", now).unwrap();
            accepted = Some(cb);
            if let Some((op, target)) = rtr {
                let seg = segment_message(op, target, &[], 100).unwrap();
                n[0].0
                    .tcp_mut()
                    .send(raw, &fpdu(&seg[0]).unwrap(), now)
                    .unwrap();
                let send = segment_message(
                    Opcode::Send,
                    Target::Untagged {
                        msn: 1,
                        inval_stag: 0,
                    },
                    b"after the RTR",
                    100,
                )
                .unwrap();
                n[0].0
                    .tcp_mut()
                    .send(raw, &fpdu(&send[0]).unwrap(), now)
                    .unwrap();
            }
        }
        false
    });
    (log.0, accepted)
}

#[test]
fn responder_accepts_the_write_and_send_rtr_it_chose() {
    for (offer, op, target) in [
        (
            IrdOrd {
                p2p: true,
                write_rtr: true,
                ..IrdOrd::default()
            },
            Opcode::Write,
            Target::Tagged { stag: 0, to: 0 },
        ),
        (
            IrdOrd {
                p2p: true,
                send_rtr: true,
                ..IrdOrd::default()
            },
            Opcode::Send,
            Target::Untagged {
                msn: 1,
                inval_stag: 0,
            },
        ),
    ] {
        let (events, cb) = raw_initiator(offer, Some((op, target)));
        let cb = cb.unwrap();
        let est = events
            .iter()
            .position(|e| *e == MpaEvent::Established(cb))
            .expect("established after the RTR");
        let fpdus: Vec<_> = events[est..]
            .iter()
            .filter_map(|e| match e {
                MpaEvent::Fpdu { ulpdu, .. } => {
                    Some(Segment::parse(ulpdu).unwrap().payload.to_vec())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            fpdus,
            [b"after the RTR".to_vec()],
            "the RTR itself is consumed"
        );
    }
}

#[test]
fn wrong_rtr_and_p2p_without_rtr_fail() {
    // The responder chose Write but a Send arrives first: NotRtr, Terminate.
    let offer = IrdOrd {
        p2p: true,
        write_rtr: true,
        ..IrdOrd::default()
    };
    let (events, cb) = raw_initiator(
        offer,
        Some((
            Opcode::Send,
            Target::Untagged {
                msn: 1,
                inval_stag: 0,
            },
        )),
    );
    assert!(events.contains(&MpaEvent::Error {
        conn: cb.unwrap(),
        error: MpaError::NotRtr
    }));
    assert!(!events
        .iter()
        .any(|e| matches!(e, MpaEvent::Established(_) | MpaEvent::Fpdu { .. })));
    // Peer-to-peer without any RTR type: no Request is reported, a device reject is sent.
    let (events, cb) = raw_initiator(
        IrdOrd {
            p2p: true,
            ..IrdOrd::default()
        },
        None,
    );
    assert!(cb.is_none());
    assert!(events.iter().any(|e| matches!(
        e,
        MpaEvent::Error {
            error: MpaError::Rtr,
            ..
        }
    )));
}
