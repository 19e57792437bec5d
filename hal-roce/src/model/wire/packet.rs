//! Whole RoCEv2 frames (IBA Annex A17): Ethernet / IPv4 or IPv6 / UDP 4791 / BTH /
//! extension headers / payload / pad / ICRC.
//!
//! [`RocePacket`] is the transport part (what an IB port would send after its LRH/GRH);
//! [`RocePacket::build`] wraps it for a [`RocePath`] into a frame, [`RoceFrame::parse`]
//! takes a received frame apart and verifies the IPv4 header checksum, the UDP checksum
//! (when present) and the ICRC.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use super::bth::{Bth, Opcode, BTH_LEN};
use super::eth::{EthHeader, MacAddr, VlanTag, ETHERTYPE_IPV4, ETHERTYPE_IPV6, MIN_FRAME_LEN};
use super::ext::ExtHeaders;
use super::icrc::{compute_icrc, icrc_bytes, verify_icrc, ICRC_LEN};
use super::ip::{
    ecn, IpHeader, Ipv4Header, Ipv6Header, DEFAULT_HOP_LIMIT, IPPROTO_UDP, IPV4_HEADER_LEN,
};
use super::seg::pad_count;
use super::udp::{
    checksum_v6, verify_checksum_v4, verify_checksum_v6, UdpHeader, ROCEV2_UDP_PORT,
    ROCE_SRC_PORT_MIN, UDP_HEADER_LEN,
};
use super::WireError;

/// A 128-bit InfiniBand GID. RoCEv2 GIDs are IP addresses: IPv4 ones are IPv4-mapped IPv6
/// addresses (`::ffff:a.b.c.d`, Annex A17 §A17.4.5.1), which put an IPv4 header on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gid(pub [u8; 16]);

impl Gid {
    /// The all-zero GID.
    pub const ZERO: Gid = Gid([0; 16]);

    /// `::ffff:a.b.c.d`.
    pub fn from_ipv4(ip: Ipv4Addr) -> Gid {
        Gid(ip.to_ipv6_mapped().octets())
    }

    /// The GID of an IPv6 address (an IPv4-mapped one stays mapped).
    pub fn from_ipv6(ip: Ipv6Addr) -> Gid {
        Gid(ip.octets())
    }

    /// The GID of either address.
    pub fn from_ip(ip: IpAddr) -> Gid {
        match ip {
            IpAddr::V4(v4) => Gid::from_ipv4(v4),
            IpAddr::V6(v6) => Gid::from_ipv6(v6),
        }
    }

    /// The IPv4 address of an IPv4-mapped GID.
    pub fn to_ipv4(&self) -> Option<Ipv4Addr> {
        self.to_ipv6().to_ipv4_mapped()
    }

    /// The GID as an IPv6 address.
    pub fn to_ipv6(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.0)
    }

    /// The IP address the GID stands for: IPv4 when IPv4-mapped, else IPv6.
    pub fn to_ip(&self) -> IpAddr {
        match self.to_ipv4() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(self.to_ipv6()),
        }
    }
}

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ipv6(), f)
    }
}

/// Where a frame goes: the L2/L3/L4 fields a QP's address vector fixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RocePath {
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Destination MAC (next hop).
    pub dst_mac: MacAddr,
    /// 802.1Q tag, when the port is on a VLAN.
    pub vlan: Option<VlanTag>,
    /// Source GID (IPv4-mapped for an IPv4 header).
    pub src_gid: Gid,
    /// Destination GID (same family as the source).
    pub dst_gid: Gid,
    /// IP traffic class: DSCP in the upper six bits, ECN in the lower two (RoCEv2 senders
    /// mark ECT(0), [`ecn::ECT0`], for DCQCN).
    pub traffic_class: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
    /// IPv6 flow label (20 bits); ignored over IPv4.
    pub flow_label: u32,
    /// UDP source port, from a flow hash (see [`super::udp::src_port_from_flow_label`]).
    pub udp_src_port: u16,
    /// IPv4 identification (DF is always set, so 0 is fine, RFC 6864).
    pub ipv4_id: u16,
}

impl RocePath {
    /// A path with defaults: no VLAN, traffic class ECT(0), hop limit 64, flow label 0,
    /// UDP source port 0xC000, IPv4 ID 0.
    pub fn new(src_mac: MacAddr, dst_mac: MacAddr, src_gid: Gid, dst_gid: Gid) -> RocePath {
        RocePath {
            src_mac,
            dst_mac,
            vlan: None,
            src_gid,
            dst_gid,
            traffic_class: ecn::ECT0,
            hop_limit: DEFAULT_HOP_LIMIT,
            flow_label: 0,
            udp_src_port: ROCE_SRC_PORT_MIN,
            ipv4_id: 0,
        }
    }

    /// The path back: MACs and GIDs swapped, the rest kept.
    pub fn reversed(&self) -> RocePath {
        RocePath {
            src_mac: self.dst_mac,
            dst_mac: self.src_mac,
            src_gid: self.dst_gid,
            dst_gid: self.src_gid,
            ..*self
        }
    }

    /// The IPv4 addresses when both GIDs are IPv4-mapped, `None` when neither is; mixing
    /// the families is an error.
    fn ipv4_pair(&self) -> Result<Option<(Ipv4Addr, Ipv4Addr)>, WireError> {
        match (self.src_gid.to_ipv4(), self.dst_gid.to_ipv4()) {
            (Some(s), Some(d)) => Ok(Some((s, d))),
            (None, None) => Ok(None),
            _ => Err(WireError::InvalidField("GID pair mixes IPv4 and IPv6")),
        }
    }
}

/// The transport part of a RoCEv2 packet: BTH, extension headers and payload (the pad and
/// the ICRC are added by [`RocePacket::build`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RocePacket<'a> {
    /// Base transport header; its pad count is recomputed by the builder.
    pub bth: Bth,
    /// Extension headers; must match the opcode.
    pub ext: ExtHeaders,
    /// Payload, without pad.
    pub payload: &'a [u8],
}

/// Payload of a CNP: 16 reserved bytes (Annex A17 §A17.9.2).
pub const CNP_PAYLOAD: [u8; 16] = [0; 16];

impl<'a> RocePacket<'a> {
    /// A packet.
    pub fn new(bth: Bth, ext: ExtHeaders, payload: &'a [u8]) -> RocePacket<'a> {
        RocePacket { bth, ext, payload }
    }

    /// A Congestion Notification Packet to `dest_qp` (Annex A17 §A17.9.2): BECN set, M
    /// clear, PSN 0, 16 reserved bytes.
    pub fn cnp(dest_qp: u32) -> RocePacket<'static> {
        let mut bth = Bth::new(Opcode::Cnp, dest_qp, 0);
        bth.migreq = false;
        bth.becn = true;
        RocePacket {
            bth,
            ext: ExtHeaders::default(),
            payload: &CNP_PAYLOAD,
        }
    }

    /// Bytes of UDP payload: BTH + extension headers + payload + pad + ICRC.
    pub fn udp_payload_len(&self) -> usize {
        BTH_LEN
            + self.bth.opcode.headers().byte_len()
            + self.payload.len()
            + usize::from(pad_count(self.payload.len()))
            + ICRC_LEN
    }

    /// Builds the Ethernet frame (without FCS, zero-padded to 60 bytes).
    pub fn build(&self, path: &RocePath) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.build_into(path, &mut out)?;
        Ok(out)
    }

    /// Appends the Ethernet frame to `out` (on error `out` is left as it was).
    pub fn build_into(&self, path: &RocePath, out: &mut Vec<u8>) -> Result<(), WireError> {
        let opcode = self.bth.opcode;
        self.ext.check(opcode)?;
        if !opcode.has_payload() && !self.payload.is_empty() {
            return Err(WireError::HeaderMismatch(
                "payload on an opcode without one",
            ));
        }
        let v4 = path.ipv4_pair()?;
        let udp_len = u16::try_from(UDP_HEADER_LEN + self.udp_payload_len())
            .map_err(|_| WireError::TooLong("payload"))?;
        let ip = match v4 {
            Some((src, dst)) => IpHeader::V4(Ipv4Header {
                dscp: path.traffic_class >> 2,
                ecn: path.traffic_class & 3,
                total_len: udp_len
                    .checked_add(IPV4_HEADER_LEN as u16)
                    .ok_or(WireError::TooLong("payload"))?,
                identification: path.ipv4_id,
                dont_fragment: true,
                ttl: path.hop_limit,
                protocol: IPPROTO_UDP,
                src,
                dst,
            }),
            None => IpHeader::V6(Ipv6Header {
                traffic_class: path.traffic_class,
                flow_label: path.flow_label & 0xF_FFFF,
                payload_len: udp_len,
                next_header: IPPROTO_UDP,
                hop_limit: path.hop_limit,
                src: path.src_gid.to_ipv6(),
                dst: path.dst_gid.to_ipv6(),
            }),
        };
        let eth = EthHeader {
            dst: path.dst_mac,
            src: path.src_mac,
            vlan: path.vlan,
            ethertype: if v4.is_some() {
                ETHERTYPE_IPV4
            } else {
                ETHERTYPE_IPV6
            },
        };
        let mut bth = self.bth;
        bth.pad_count = pad_count(self.payload.len());

        let start = out.len();
        out.reserve(eth.header_len() + ip.header_len() + usize::from(udp_len));
        eth.write(out);
        let ip_start = out.len();
        ip.write(out);
        let udp_start = out.len();
        out.extend_from_slice(
            &UdpHeader {
                src_port: path.udp_src_port,
                dst_port: ROCEV2_UDP_PORT,
                length: udp_len,
                checksum: 0, // IPv4: none (A17.4.2.1); IPv6: filled in below
            }
            .to_bytes(),
        );
        out.extend_from_slice(&bth.to_bytes());
        if let Err(e) = self.ext.write(opcode, out) {
            out.truncate(start);
            return Err(e);
        }
        out.extend_from_slice(self.payload);
        out.resize(out.len() + usize::from(bth.pad_count), 0);
        let icrc = match out.get(ip_start..).map(compute_icrc) {
            Some(Ok(icrc)) => icrc,
            Some(Err(e)) => {
                out.truncate(start);
                return Err(e);
            }
            None => {
                out.truncate(start);
                return Err(WireError::Truncated("frame"));
            }
        };
        out.extend_from_slice(&icrc_bytes(icrc));
        if let IpHeader::V6(h) = ip {
            let csum = out
                .get(udp_start..)
                .map(|seg| checksum_v6(h.src, h.dst, seg))
                .unwrap_or(0);
            if let Some(field) = out.get_mut(udp_start + 6..udp_start + 8) {
                field.copy_from_slice(&csum.to_be_bytes());
            }
        }
        let min_end = start + MIN_FRAME_LEN;
        if out.len() < min_end {
            out.resize(min_end, 0);
        }
        Ok(())
    }
}

/// A parsed, verified RoCEv2 frame; `payload` borrows from the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoceFrame<'a> {
    /// Ethernet header.
    pub eth: EthHeader,
    /// IP header.
    pub ip: IpHeader,
    /// UDP header.
    pub udp: UdpHeader,
    /// BTH (with the pad count as received).
    pub bth: Bth,
    /// Extension headers.
    pub ext: ExtHeaders,
    /// Payload, pad removed.
    pub payload: &'a [u8],
    /// The (verified) ICRC.
    pub icrc: u32,
}

impl<'a> RoceFrame<'a> {
    /// Parses and verifies a received Ethernet frame (without FCS). Fails on anything that
    /// is not a well-formed RoCEv2 packet of a known opcode; a corrupted packet is reported
    /// as [`WireError::BadIcrc`] (the model counts those) unless an IP/UDP check fails
    /// first.
    pub fn parse(frame: &'a [u8]) -> Result<RoceFrame<'a>, WireError> {
        let (eth, l3) = EthHeader::parse(frame)?;
        let (ip, ip_payload) = match eth.ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => IpHeader::parse(l3)?,
            other => return Err(WireError::UnsupportedEtherType(other)),
        };
        match (eth.ethertype, &ip) {
            (ETHERTYPE_IPV4, IpHeader::V4(_)) | (ETHERTYPE_IPV6, IpHeader::V6(_)) => {}
            (_, IpHeader::V4(_)) => return Err(WireError::BadIpVersion(4)),
            (_, IpHeader::V6(_)) => return Err(WireError::BadIpVersion(6)),
        }
        if ip.protocol() != IPPROTO_UDP {
            return Err(WireError::NotUdp(ip.protocol()));
        }
        let ip_packet = l3
            .get(..ip.header_len() + ip_payload.len())
            .ok_or(WireError::Truncated("IP packet"))?;
        let (udp, udp_data) = UdpHeader::parse(ip_payload)?;
        if usize::from(udp.length) != ip_payload.len() {
            return Err(WireError::BadLength("UDP length"));
        }
        if udp.dst_port != ROCEV2_UDP_PORT {
            return Err(WireError::NotRoce(udp.dst_port));
        }
        match &ip {
            IpHeader::V4(h) => verify_checksum_v4(h.src, h.dst, ip_payload)?,
            IpHeader::V6(h) => verify_checksum_v6(h.src, h.dst, ip_payload)?,
        }
        if udp_data.len() < BTH_LEN + ICRC_LEN {
            return Err(WireError::Truncated("BTH"));
        }
        let icrc = verify_icrc(ip_packet)?;
        let bth = Bth::parse(udp_data)?;
        let transport = udp_data
            .get(BTH_LEN..udp_data.len() - ICRC_LEN)
            .ok_or(WireError::Truncated("BTH"))?;
        let (ext, padded) = ExtHeaders::parse(bth.opcode, transport)?;
        let payload_len = padded
            .len()
            .checked_sub(usize::from(bth.pad_count))
            .ok_or(WireError::BadLength("pad count"))?;
        let payload = padded
            .get(..payload_len)
            .ok_or(WireError::BadLength("pad count"))?;
        if !bth.opcode.has_payload() && !padded.is_empty() {
            return Err(WireError::BadLength("payload on an opcode without one"));
        }
        Ok(RoceFrame {
            eth,
            ip,
            udp,
            bth,
            ext,
            payload,
            icrc,
        })
    }

    /// The transport part.
    pub fn packet(&self) -> RocePacket<'a> {
        RocePacket {
            bth: self.bth,
            ext: self.ext,
            payload: self.payload,
        }
    }

    /// Source GID (IPv4-mapped for IPv4).
    pub fn src_gid(&self) -> Gid {
        Gid::from_ip(self.ip.src())
    }

    /// Destination GID.
    pub fn dst_gid(&self) -> Gid {
        Gid::from_ip(self.ip.dst())
    }

    /// Whether a switch marked congestion (ECN CE), which makes the receiver send a CNP.
    pub fn congestion_experienced(&self) -> bool {
        self.ip.ecn() == ecn::CE
    }

    /// The path to answer this frame on: addresses swapped, the received traffic class,
    /// flow label and UDP source port kept (so the reply hashes to the same flow).
    pub fn reply_path(&self) -> RocePath {
        let (traffic_class, flow_label) = match &self.ip {
            IpHeader::V4(h) => ((h.dscp << 2) | ecn::ECT0, 0),
            IpHeader::V6(h) => ((h.traffic_class & !3) | ecn::ECT0, h.flow_label),
        };
        RocePath {
            src_mac: self.eth.dst,
            dst_mac: self.eth.src,
            vlan: self.eth.vlan,
            src_gid: self.dst_gid(),
            dst_gid: self.src_gid(),
            traffic_class,
            hop_limit: DEFAULT_HOP_LIMIT,
            flow_label,
            udp_src_port: self.udp.src_port,
            ipv4_id: 0,
        }
    }
}
