//! Frame-level tests: known-answer frames, round trips of whole frames, robustness against
//! corrupted input, and a pcap of a short RoCEv2 + CM conversation checked with tshark.

use core::net::{IpAddr, Ipv4Addr};
use std::borrow::ToOwned;
use std::format;
use std::println;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::bth::{Bth, Opcode};
use super::cm::{
    rdma_cm_service_id, CmDrep, CmDreq, CmMessage, CmMsgRef, CmPath, CmRej, CmRep, CmReq, CmRtu,
    CmaHeader, RejReason, TransportType,
};
use super::eth::{MacAddr, VlanTag};
use super::ext::{Aeth, Deth, ExtHeaders, NakCode, Reth, Syndrome, CREDITS_INVALID};
use super::icrc::icrc_bytes;
use super::ip::{ecn, IpHeader};
use super::mad::{gsi_packet, Mad, GSI_QKEY, GSI_QP};
use super::packet::{Gid, RoceFrame, RocePacket, RocePath};
use super::seg::{segments, MessageKind, PathMtu};
use super::udp::{flow_label_from_qpns, src_port_from_flow_label};
use super::WireError;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An IPv6 RC SEND ONLY frame built by scapy 2.8.0's contrib/roce (an independent ICRC and
/// UDP checksum implementation): traffic class 0x6a, flow label 0x12345, hop limit 61,
/// SE, M, pad count 1, FECN, AckReq.
const SCAPY_IPV6_SEND_ONLY: &str =
    "02000000000202000000000186dd66a123450024113dfd000000000000000000\
    000000000001fd000000000000000000000000000002c12312b70024f5f704d0\
    ffff8012345680000abc68656c6c6f20726f63652100b52707eb";

/// A CNP captured on a ConnectX-4 Lx (scapy's test/contrib/roce.uts), with hardware ICRC.
pub(super) const CX4_CNP: &str = "e41d2dab2bc27cfe90643b32080045c2003c718c4000401191610a0011010a00\
    1201000012b7002800008100ffff400001180000000000000000000000000000\
    00000000000082fd002a";

#[test]
fn ipv6_frame_matches_scapy_byte_for_byte() {
    let want = hex(SCAPY_IPV6_SEND_ONLY);
    let mut path = RocePath::new(
        MacAddr([2, 0, 0, 0, 0, 1]),
        MacAddr([2, 0, 0, 0, 0, 2]),
        Gid::from_ipv6("fd00::1".parse().unwrap()),
        Gid::from_ipv6("fd00::2".parse().unwrap()),
    );
    path.traffic_class = 0x6a;
    path.flow_label = 0x12345;
    path.hop_limit = 61;
    path.udp_src_port = 0xc123;
    let mut bth = Bth::new(Opcode::RcSendOnly, 0x12_3456, 0xabc);
    bth.solicited = true;
    bth.fecn = true;
    bth.ack_req = true;
    let frame = RocePacket::new(bth, ExtHeaders::default(), b"hello roce!")
        .build(&path)
        .unwrap();
    assert_eq!(frame, want);

    let f = RoceFrame::parse(&want).unwrap();
    assert_eq!(f.payload, b"hello roce!");
    assert_eq!(f.bth.pad_count, 1);
    assert_eq!(f.icrc_bytes(), [0xb5, 0x27, 0x07, 0xeb]);
    assert_eq!(f.udp.checksum, 0xf5f7);
    assert_eq!(f.src_gid(), path.src_gid);
    let IpHeader::V6(ip) = f.ip else {
        panic!("not IPv6")
    };
    assert_eq!(
        (ip.traffic_class, ip.flow_label, ip.hop_limit),
        (0x6a, 0x12345, 61)
    );
}

#[test]
fn connectx4_cnp_parses_and_rebuilds() {
    let want = hex(CX4_CNP);
    let f = RoceFrame::parse(&want).unwrap();
    assert_eq!(f.bth.opcode, Opcode::Cnp);
    assert!(f.bth.becn);
    assert_eq!(f.bth.dest_qp, 0x118);
    assert_eq!(f.payload, &[0; 16]);
    assert_eq!(f.icrc, 0x2a00_fd82);

    let mut path = f.reply_path().reversed();
    path.traffic_class = 0xc2;
    path.hop_limit = 64;
    path.ipv4_id = 0x718c;
    assert_eq!(path.udp_src_port, 0);
    assert_eq!(RocePacket::cnp(0x118).build(&path).unwrap(), want);
}

impl RoceFrame<'_> {
    fn icrc_bytes(&self) -> [u8; 4] {
        icrc_bytes(self.icrc)
    }
}

fn v4_path() -> RocePath {
    let mut p = RocePath::new(
        MacAddr([0x02, 0, 0, 0, 0, 0x01]),
        MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        Gid::from_ipv4(Ipv4Addr::new(192, 168, 10, 1)),
        Gid::from_ipv4(Ipv4Addr::new(192, 168, 10, 2)),
    );
    p.traffic_class = (26 << 2) | ecn::ECT0;
    p.udp_src_port = src_port_from_flow_label(flow_label_from_qpns(0x11, 0x22));
    p
}

/// One frame of the test conversation and what tshark should make of it.
struct Expect {
    what: String,
    frame: Vec<u8>,
    opcode: Opcode,
    /// Expected `frame.protocols` prefix.
    protocols: &'static str,
    /// CM attribute ID for MADs.
    cm_attr: Option<u16>,
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

const V4: &str = "eth:ethertype:ip:udp:infiniband";

fn conversation() -> Vec<Expect> {
    let a = v4_path();
    let b = a.reversed();
    let (qp_a, qp_b) = (0x11, 0x22);
    let mut out = Vec::new();
    let mut push = |what: String, frame: Vec<u8>, opcode, protocols, cm_attr| {
        out.push(Expect {
            what,
            frame,
            opcode,
            protocols,
            cm_attr,
        })
    };

    // --- connection setup over QP1 (RDMA CM over IB CM) ---
    let tid = 0x0000_0001_0000_0042;
    let mut req = CmReq {
        local_comm_id: 0x1000_0001,
        vendor_id: 0,
        service_id: rdma_cm_service_id(7471),
        local_ca_guid: 0x0200_00ff_fe00_0001,
        local_qkey: 0,
        local_qpn: qp_a,
        responder_resources: 16,
        local_eecn: 0,
        initiator_depth: 16,
        remote_eecn: 0,
        remote_cm_response_timeout: 20,
        transport: TransportType::Rc,
        end_to_end_flow_control: false,
        starting_psn: 100,
        local_cm_response_timeout: 20,
        retry_count: 7,
        pkey: 0xFFFF,
        path_mtu: PathMtu::Mtu1024,
        rdc_exists: false,
        rnr_retry_count: 7,
        max_cm_retries: 15,
        srq: false,
        extended_transport: 0,
        primary_path: CmPath::roce(a.src_gid, a.dst_gid),
        alternate_path: None,
        private_data: Vec::new(),
    };
    req.set_rdma_cm_private_data(
        &CmaHeader {
            src_port: 40001,
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 10, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 168, 10, 2)),
        },
        b"consumer private data",
    )
    .unwrap();
    let rep = CmRep {
        local_comm_id: 0x2000_0001,
        remote_comm_id: req.local_comm_id,
        local_qkey: 0,
        local_qpn: qp_b,
        local_eecn: 0,
        starting_psn: 500,
        responder_resources: 16,
        initiator_depth: 16,
        target_ack_delay: 10,
        failover_accepted: 0,
        end_to_end_flow_control: true,
        rnr_retry_count: 7,
        srq: false,
        local_ca_guid: 0x0200_00ff_fe00_0002,
        private_data: b"welcome".to_vec(),
    };
    let rtu = CmRtu {
        local_comm_id: req.local_comm_id,
        remote_comm_id: rep.local_comm_id,
        private_data: Vec::new(),
    };
    let rej = CmRej {
        local_comm_id: 0,
        remote_comm_id: 0x1000_0002,
        message_rejected: CmMsgRef::Req,
        reason: RejReason::CONSUMER_REJECT,
        ari: Vec::new(),
        private_data: b"go away".to_vec(),
    };
    let mut gsi_psn = 0;
    for (msg, path, tid) in [
        (CmMessage::Req(req.clone()), a, tid),
        (CmMessage::Rep(rep.clone()), b, tid),
        (CmMessage::Rtu(rtu), a, tid),
        (CmMessage::Rej(rej), b, tid + 1),
    ] {
        let mad = msg.to_mad(tid).unwrap();
        let frame = gsi_packet(&mad, gsi_psn).build(&path).unwrap();
        gsi_psn += 1;
        push(
            format!("CM {}", msg.name()),
            frame,
            Opcode::UdSendOnly,
            V4,
            Some(msg.attr_id()),
        );
    }

    // --- data transfer on the RC QP pair: A's PSNs from 100, B's from 500 ---
    let mut psn_a = 100;
    let msg = b"SEND ONLY from A!"; // 17 bytes: pad count 3
    let mut bth = Bth::new(Opcode::RcSendOnly, qp_b, psn_a);
    bth.ack_req = true;
    push(
        "SEND ONLY".to_owned(),
        RocePacket::new(bth, ExtHeaders::default(), msg)
            .build(&a)
            .unwrap(),
        Opcode::RcSendOnly,
        V4,
        None,
    );
    psn_a += 1;

    // RDMA WRITE of 400 bytes at path MTU 256: FIRST (RETH) + LAST (ImmDt variant).
    let buf = data(400);
    for seg in segments(MessageKind::WriteImm, 400, PathMtu::Mtu256) {
        let mut bth = Bth::new(seg.opcode, qp_b, psn_a + seg.index);
        let mut ext = ExtHeaders::default();
        if seg.opcode.headers().reth {
            ext.reth = Some(Reth {
                va: 0x7f00_0000_1000,
                rkey: 0x1234,
                dma_len: 400,
            });
        }
        if seg.opcode.headers().immdt {
            ext.immdt = Some(0xCAFE_F00D);
            bth.solicited = true;
            bth.ack_req = true;
        }
        let off = seg.offset as usize;
        let payload = &buf[off..off + seg.len as usize];
        push(
            format!("{}", seg.opcode),
            RocePacket::new(bth, ext, payload).build(&a).unwrap(),
            seg.opcode,
            V4,
            None,
        );
    }
    psn_a += 2;

    // RDMA READ of 300 bytes: request, then FIRST + LAST responses at MTU 256.
    let read_psn = psn_a;
    let mut bth = Bth::new(Opcode::RcReadRequest, qp_b, read_psn);
    bth.ack_req = true;
    let ext = ExtHeaders {
        reth: Some(Reth {
            va: 0x7f00_0000_2000,
            rkey: 0x5678,
            dma_len: 300,
        }),
        ..ExtHeaders::default()
    };
    push(
        "READ REQUEST".to_owned(),
        RocePacket::new(bth, ext, &[]).build(&a).unwrap(),
        Opcode::RcReadRequest,
        V4,
        None,
    );
    let rbuf = data(300);
    for seg in segments(MessageKind::ReadResponse, 300, PathMtu::Mtu256) {
        let mut ext = ExtHeaders::default();
        if seg.opcode.headers().aeth {
            ext.aeth = Some(Aeth {
                syndrome: Syndrome::Ack {
                    credits: CREDITS_INVALID,
                },
                msn: 2,
            });
        }
        let off = seg.offset as usize;
        push(
            format!("{}", seg.opcode),
            RocePacket::new(
                Bth::new(seg.opcode, qp_a, read_psn + seg.index),
                ext,
                &rbuf[off..off + seg.len as usize],
            )
            .build(&b)
            .unwrap(),
            seg.opcode,
            V4,
            None,
        );
    }

    // Acknowledges from B: an ACK, a PSN-sequence-error NAK, an RNR NAK.
    for (what, syndrome) in [
        (
            "ACK",
            Syndrome::Ack {
                credits: CREDITS_INVALID,
            },
        ),
        (
            "NAK PSN sequence error",
            Syndrome::Nak(NakCode::PsnSequenceError),
        ),
        (
            "NAK remote access error",
            Syndrome::Nak(NakCode::RemoteAccessError),
        ),
        ("RNR NAK", Syndrome::RnrNak { timer: 14 }),
    ] {
        let ext = ExtHeaders {
            aeth: Some(Aeth { syndrome, msn: 3 }),
            ..ExtHeaders::default()
        };
        push(
            what.to_owned(),
            RocePacket::new(Bth::new(Opcode::RcAck, qp_a, psn_a), ext, &[])
                .build(&b)
                .unwrap(),
            Opcode::RcAck,
            V4,
            None,
        );
    }

    // SEND with Invalidate, tagged on VLAN 100 with PCP 3.
    let mut tagged = a;
    tagged.vlan = Some(VlanTag {
        pcp: 3,
        dei: false,
        vid: 100,
    });
    let ext = ExtHeaders {
        ieth: Some(0x1234),
        ..ExtHeaders::default()
    };
    push(
        "SEND ONLY with Invalidate, VLAN".to_owned(),
        RocePacket::new(
            Bth::new(Opcode::RcSendOnlyInv, qp_b, psn_a + 1),
            ext,
            &data(64),
        )
        .build(&tagged)
        .unwrap(),
        Opcode::RcSendOnlyInv,
        "eth:ethertype:vlan:ethertype:ip:udp:infiniband",
        None,
    );

    // IPv6: SEND ONLY with Immediate.
    let mut v6 = RocePath::new(
        a.src_mac,
        a.dst_mac,
        Gid::from_ipv6("fd00:10::1".parse().unwrap()),
        Gid::from_ipv6("fd00:10::2".parse().unwrap()),
    );
    v6.flow_label = flow_label_from_qpns(qp_a, qp_b);
    v6.udp_src_port = src_port_from_flow_label(v6.flow_label);
    let ext = ExtHeaders {
        immdt: Some(0x0102_0304),
        ..ExtHeaders::default()
    };
    push(
        "IPv6 SEND ONLY with Immediate".to_owned(),
        RocePacket::new(
            Bth::new(Opcode::RcSendOnlyImm, qp_b, psn_a + 2),
            ext,
            &data(1000),
        )
        .build(&v6)
        .unwrap(),
        Opcode::RcSendOnlyImm,
        "eth:ethertype:ipv6:udp:infiniband",
        None,
    );

    // Teardown.
    let dreq = CmDreq {
        local_comm_id: req.local_comm_id,
        remote_comm_id: rep.local_comm_id,
        remote_qpn: qp_b,
        private_data: Vec::new(),
    };
    let drep = CmDrep {
        local_comm_id: rep.local_comm_id,
        remote_comm_id: req.local_comm_id,
        private_data: Vec::new(),
    };
    for (msg, path) in [(CmMessage::Dreq(dreq), a), (CmMessage::Drep(drep), b)] {
        let mad = msg.to_mad(tid + 2).unwrap();
        let frame = gsi_packet(&mad, gsi_psn).build(&path).unwrap();
        gsi_psn += 1;
        push(
            format!("CM {}", msg.name()),
            frame,
            Opcode::UdSendOnly,
            V4,
            Some(msg.attr_id()),
        );
    }
    out
}

#[test]
fn conversation_round_trips() {
    for e in conversation() {
        let f = RoceFrame::parse(&e.frame).unwrap_or_else(|err| panic!("{}: {err}", e.what));
        assert!(e.frame.len() >= 60, "{}", e.what);
        assert_eq!(f.bth.opcode, e.opcode, "{}", e.what);
        assert_eq!(f.bth.pkey, 0xFFFF);
        assert_eq!(f.udp.dst_port, 4791);
        // Rebuilding the parsed packet on the parsed path gives the same frame.
        let mut path = f.reply_path().reversed();
        match f.ip {
            IpHeader::V4(h) => {
                path.traffic_class = (h.dscp << 2) | h.ecn;
                path.hop_limit = h.ttl;
                path.ipv4_id = h.identification;
            }
            IpHeader::V6(h) => {
                path.traffic_class = h.traffic_class;
                path.hop_limit = h.hop_limit;
            }
        }
        assert_eq!(f.packet().build(&path).unwrap(), e.frame, "{}", e.what);
        if let Some(attr) = e.cm_attr {
            assert_eq!(f.bth.dest_qp, GSI_QP);
            assert_eq!(
                f.ext.deth,
                Some(Deth {
                    qkey: GSI_QKEY,
                    src_qp: GSI_QP
                })
            );
            let mad = Mad::parse(f.payload).unwrap();
            assert_eq!(mad.header.attr_id, attr);
            let (_, msg) = CmMessage::from_mad(f.payload).unwrap();
            assert_eq!(msg.attr_id(), attr);
            if let CmMessage::Req(req) = msg {
                assert_eq!(
                    req.rdma_cm_header().unwrap().src,
                    IpAddr::V4(Ipv4Addr::new(192, 168, 10, 1))
                );
                assert!(req
                    .rdma_cm_consumer_data()
                    .starts_with(b"consumer private data"));
            }
        }
    }
}

#[test]
fn corruption_is_detected_and_never_panics() {
    let frames = conversation();
    for e in &frames {
        // Every truncation is an error, never a panic.
        let end = e.frame.len();
        for len in 0..end {
            let cut = &e.frame[..len];
            if let Ok(f) = RoceFrame::parse(cut) {
                // Only dropping Ethernet padding may still parse.
                assert!(len >= 14 + f.ip.header_len() + usize::from(f.udp.length));
            }
        }
        // Every single-bit flip past the MACs is rejected or lands in a variant field.
        for i in 12..end {
            let mut bad = e.frame.clone();
            bad[i] ^= 0x04;
            let _ = RoceFrame::parse(&bad);
        }
    }
    // CM decoding of damaged MADs never panics either.
    for e in frames.iter().filter(|e| e.cm_attr.is_some()) {
        let f = RoceFrame::parse(&e.frame).unwrap();
        for i in 0..f.payload.len() {
            for bit in [0x01, 0x10, 0x80] {
                let mut mad = f.payload.to_vec();
                mad[i] ^= bit;
                if let Ok((_, CmMessage::Req(req))) = CmMessage::from_mad(&mad) {
                    let _ = req.rdma_cm_header();
                }
            }
        }
        let _ = CmMessage::from_mad(&[0xFF; 256]);
    }
    // A flipped payload bit is an ICRC error.
    let e = &frames[4];
    let mut bad = e.frame.clone();
    let last = bad.len() - 8;
    bad[last] ^= 1;
    assert!(matches!(
        RoceFrame::parse(&bad),
        Err(WireError::BadIcrc { .. })
    ));
    // A rewritten TTL with a fixed-up header checksum (what a router does) still passes.
    let mut routed = e.frame.clone();
    routed[22] -= 1;
    routed[24] = 0;
    routed[25] = 0;
    let c = super::ip::internet_checksum(&routed[14..34]);
    routed[24..26].copy_from_slice(&c.to_be_bytes());
    RoceFrame::parse(&routed).unwrap();
    // Not RoCE: another UDP port.
    let mut other = e.frame.clone();
    other[37] = 0x35;
    assert!(RoceFrame::parse(&other).is_err());
}

#[test]
fn builder_rejects_bad_input() {
    let p = v4_path();
    let bth = Bth::new(Opcode::RcWriteFirst, 1, 1);
    assert_eq!(
        RocePacket::new(bth, ExtHeaders::default(), b"x").build(&p),
        Err(WireError::HeaderMismatch("RETH"))
    );
    let ack = Bth::new(Opcode::RcAck, 1, 1);
    let ext = ExtHeaders {
        aeth: Some(Aeth {
            syndrome: Syndrome::Ack { credits: 0 },
            msn: 0,
        }),
        ..ExtHeaders::default()
    };
    assert!(RocePacket::new(ack, ext, b"data").build(&p).is_err());
    let mut mixed = p;
    mixed.dst_gid = Gid::from_ipv6("fd00::1".parse().unwrap());
    assert!(RocePacket::new(
        Bth::new(Opcode::RcSendOnly, 1, 1),
        ExtHeaders::default(),
        &[]
    )
    .build(&mixed)
    .is_err());
    let big = vec![0u8; 70_000];
    assert_eq!(
        RocePacket::new(
            Bth::new(Opcode::RcSendOnly, 1, 1),
            ExtHeaders::default(),
            &big
        )
        .build(&p),
        Err(WireError::TooLong("payload"))
    );
}

/// Runs tshark over `pcap` with `fields`; `None` when tshark is not installed.
fn tshark(pcap: &std::path::Path, fields: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut cmd = std::process::Command::new("tshark");
    cmd.args([
        "-n",
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
    ])
    .arg("-r")
    .arg(pcap)
    .args([
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("tshark: {e}"),
    };
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect(),
    )
}

#[test]
fn pcap_decodes_in_tshark() {
    let conv = conversation();
    // HAL_ROCE_WIRE_PCAP=FILE keeps the capture for a look in Wireshark.
    let keep = std::env::var_os("HAL_ROCE_WIRE_PCAP");
    let path = match &keep {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::temp_dir().join(format!("hal-roce-wire-{}.pcap", std::process::id())),
    };
    {
        // The fabric's capture writes every frame sent, before routing.
        let wire = fabric::Fabric::default();
        wire.capture_to(&path).unwrap();
        let port = wire.attach([0x02, 0, 0, 0, 0, 0xFE]);
        for (i, e) in conv.iter().enumerate() {
            port.send(&e.frame, 1_700_000_000_000_000_000 + i as u64 * 1_000_000);
        }
        wire.stop_capture().unwrap();
    }
    let fields = [
        "frame.protocols",
        "infiniband.bth.opcode",
        "infiniband.invariant.crc",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
        "ip.checksum.status",
        "udp.checksum.status",
        "infiniband.mad.mgmtclass",
        "infiniband.mad.attributeid",
        "_ws.col.Info",
        "infiniband.cm.req.serviceid.dport",
        "infiniband.cm.req.localqpn",
        "infiniband.cm.req.ip_cm.sip4",
        "infiniband.cm.req.ip_cm.dip4",
        "infiniband.cm.req.ip_cm.sport",
        "infiniband.cm.rep.localqpn",
        "infiniband.cm.rtu.localcommid",
        "infiniband.cm.rej.reason",
        "infiniband.cm.dreq.remotecommid",
        "infiniband.cm.req.remoteqpneecn",
        "infiniband.cm.drsp.localcommid",
        "infiniband.aeth.syndrome",
        "infiniband.reth.dmalen",
        "infiniband.bth.destqp",
        "infiniband.bth.psn",
        "infiniband.bth.padcnt",
        "infiniband.bth.se",
        "infiniband.bth.a",
        "infiniband.aeth.msn",
        "infiniband.reth.va",
        "infiniband.reth.r_key",
        "infiniband.immdt",
        "infiniband.ieth",
        "infiniband.deth.q_key",
        "infiniband.deth.srcqp",
        "infiniband.cm.req.prim_localgid_ipv4",
        "infiniband.cm.req.prim_remotegid_ipv4",
        "infiniband.cm.req.pppmtu",
        "infiniband.cm.req.startpsn",
        "infiniband.cm.req.ip_cm.private",
        "infiniband.cm.rep.startpsn",
    ];
    let Some(rows) = tshark(&path, &fields) else {
        println!("note: tshark not installed; skipping the Wireshark decode check");
        if keep.is_none() {
            let _ = std::fs::remove_file(&path);
        }
        return;
    };
    assert_eq!(rows.len(), conv.len());
    let col = |row: &Vec<String>, name: &str| -> String {
        let i = fields.iter().position(|f| *f == name).unwrap();
        row.get(i).cloned().unwrap_or_default()
    };
    for (row, e) in rows.iter().zip(&conv) {
        println!("{:32} {}", e.what, row.join(" | "));
    }
    for (row, e) in rows.iter().zip(&conv) {
        let protocols = col(row, "frame.protocols");
        assert!(
            protocols.starts_with(e.protocols),
            "{}: protocols {protocols}",
            e.what
        );
        assert_eq!(
            col(row, "infiniband.bth.opcode"),
            format!("{}", u8::from(e.opcode)),
            "{}",
            e.what
        );
        // Wireshark 4.0 shows the ICRC but does not verify it; check it reads the bytes we
        // wrote at the end of the UDP payload.
        let f = RoceFrame::parse(&e.frame).unwrap();
        assert_eq!(
            col(row, "infiniband.invariant.crc"),
            format!("0x{:08x}", u32::from_be_bytes(icrc_bytes(f.icrc))),
            "{}",
            e.what
        );
        assert_eq!(col(row, "_ws.malformed"), "", "{}", e.what);
        // Header fields as Wireshark decodes them agree with our parse.
        let num = |name: &str| -> Option<u64> {
            let v = col(row, name);
            let v = v.split(',').next().unwrap_or("");
            match v.strip_prefix("0x") {
                _ if v.is_empty() => None,
                Some(h) => Some(u64::from_str_radix(h, 16).unwrap()),
                None if name == "infiniband.immdt" || name == "infiniband.ieth" => {
                    Some(u64::from_str_radix(v, 16).unwrap())
                }
                None => Some(v.parse().unwrap()),
            }
        };
        let w = &e.what;
        assert_eq!(
            num("infiniband.bth.destqp"),
            Some(f.bth.dest_qp.into()),
            "{w}"
        );
        assert_eq!(num("infiniband.bth.psn"), Some(f.bth.psn.into()), "{w}");
        assert_eq!(
            num("infiniband.bth.padcnt"),
            Some(f.bth.pad_count.into()),
            "{w}"
        );
        assert_eq!(
            num("infiniband.bth.se"),
            Some(f.bth.solicited.into()),
            "{w}"
        );
        assert_eq!(num("infiniband.bth.a"), Some(f.bth.ack_req.into()), "{w}");
        let aeth = f.ext.aeth;
        assert_eq!(
            num("infiniband.aeth.syndrome"),
            aeth.map(|a| a.syndrome.to_u8().into()),
            "{w}"
        );
        assert_eq!(
            num("infiniband.aeth.msn"),
            aeth.map(|a| a.msn.into()),
            "{w}"
        );
        let reth = f.ext.reth;
        assert_eq!(num("infiniband.reth.va"), reth.map(|r| r.va), "{w}");
        assert_eq!(
            num("infiniband.reth.r_key"),
            reth.map(|r| r.rkey.into()),
            "{w}"
        );
        assert_eq!(
            num("infiniband.reth.dmalen"),
            reth.map(|r| r.dma_len.into()),
            "{w}"
        );
        assert_eq!(num("infiniband.immdt"), f.ext.immdt.map(u64::from), "{w}");
        assert_eq!(num("infiniband.ieth"), f.ext.ieth.map(u64::from), "{w}");
        let deth = f.ext.deth;
        assert_eq!(
            num("infiniband.deth.q_key"),
            deth.map(|d| d.qkey.into()),
            "{w}"
        );
        assert_eq!(
            num("infiniband.deth.srcqp"),
            deth.map(|d| d.src_qp.into()),
            "{w}"
        );
        // Expert severities: 0x00200000 chat, 0x00400000 note, 0x00600000 warn,
        // 0x00800000 error.
        for sev in col(row, "_ws.expert.severity")
            .split(',')
            .filter(|s| !s.is_empty())
        {
            let sev: u32 = sev.parse().unwrap();
            assert!(
                sev < 0x0060_0000,
                "{}: expert {}",
                e.what,
                col(row, "_ws.expert.message")
            );
        }
        // Checksum status: 1 good, 3 not present (UDP checksum 0 over IPv4).
        if f.ip.header_len() == 20 {
            assert_eq!(col(row, "ip.checksum.status"), "1", "{}", e.what);
            assert_eq!(col(row, "udp.checksum.status"), "3", "{}", e.what);
        } else {
            assert_eq!(col(row, "udp.checksum.status"), "1", "{}", e.what);
        }
        if let Some(attr) = e.cm_attr {
            assert_eq!(col(row, "infiniband.mad.mgmtclass"), "0x07", "{}", e.what);
            assert_eq!(
                col(row, "infiniband.mad.attributeid"),
                format!("0x{attr:04x}"),
                "{}",
                e.what
            );
            let info = col(row, "_ws.col.Info");
            let name = match attr {
                0x0010 => "ConnectRequest",
                0x0012 => "ConnectReject",
                0x0013 => "ConnectReply",
                0x0014 => "ReadyToUse",
                0x0015 => "DisconnectRequest",
                0x0016 => "DisconnectReply",
                _ => unreachable!(),
            };
            assert!(info.contains(name), "{}: info {info}", e.what);
            match attr {
                0x0010 => {
                    assert_eq!(col(row, "infiniband.cm.req.serviceid.dport"), "0x1d2f"); // 7471
                    assert_eq!(col(row, "infiniband.cm.req.localqpn"), "0x000011");
                    assert_eq!(col(row, "infiniband.cm.req.ip_cm.sip4"), "192.168.10.1");
                    assert_eq!(col(row, "infiniband.cm.req.ip_cm.dip4"), "192.168.10.2");
                    assert_eq!(col(row, "infiniband.cm.req.ip_cm.sport"), "0x9c41"); // 40001
                    assert!(
                        col(row, "infiniband.cm.req.ip_cm.private").starts_with("636f6e73756d6572")
                    ); // "consumer"
                    assert_eq!(col(row, "infiniband.cm.req.startpsn"), "0x000064");
                    assert_eq!(col(row, "infiniband.cm.req.pppmtu"), "0x03");
                    let gid = "infiniband.cm.req.prim_localgid_ipv4";
                    assert_eq!(col(row, gid), "192.168.10.1");
                    let gid = "infiniband.cm.req.prim_remotegid_ipv4";
                    assert_eq!(col(row, gid), "192.168.10.2");
                }
                0x0012 => assert_eq!(col(row, "infiniband.cm.rej.reason"), "0x001c"), // 28
                0x0013 => {
                    assert_eq!(col(row, "infiniband.cm.rep.localqpn"), "0x000022");
                    assert_eq!(col(row, "infiniband.cm.rep.startpsn"), "0x0001f4");
                }
                0x0014 => assert_eq!(col(row, "infiniband.cm.rtu.localcommid"), "0x10000001"),
                0x0015 => {
                    assert_eq!(col(row, "infiniband.cm.dreq.remotecommid"), "0x20000001");
                    assert_eq!(col(row, "infiniband.cm.req.remoteqpneecn"), "0x000022");
                }
                0x0016 => assert_eq!(col(row, "infiniband.cm.drsp.localcommid"), "0x20000001"),
                _ => {}
            }
        }
    }
    if keep.is_none() {
        let _ = std::fs::remove_file(&path);
    }
}
