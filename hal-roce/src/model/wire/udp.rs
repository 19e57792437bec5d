//! UDP (RFC 768) as the RoCEv2 encapsulation (IBA Annex A17 §A17.4.2): destination port
//! 4791, source port from a flow hash for ECMP entropy, checksum 0 over IPv4 (allowed by
//! A17.4.2.1) and computed over IPv6 (mandatory, RFC 8200 §8.1).

use core::net::{Ipv4Addr, Ipv6Addr};

use super::bytes::{arr, be16};
use super::ip::{fold, pseudo_header_sum, sum_words, IPPROTO_UDP};
use super::WireError;

/// The IANA-assigned RoCEv2 destination port.
pub const ROCEV2_UDP_PORT: u16 = 4791;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// Lowest source port of the RoCEv2 flow-hash range (the range Linux uses, 0xC000–0xFFFF).
pub const ROCE_SRC_PORT_MIN: u16 = 0xC000;

/// A UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port ([`ROCEV2_UDP_PORT`]).
    pub dst_port: u16,
    /// Length of header plus data.
    pub length: u16,
    /// Checksum (0: none, allowed over IPv4 only).
    pub checksum: u16,
}

impl UdpHeader {
    /// The header's 8 bytes.
    pub fn to_bytes(&self) -> [u8; UDP_HEADER_LEN] {
        let [a, b] = self.src_port.to_be_bytes();
        let [c, d] = self.dst_port.to_be_bytes();
        let [e, f] = self.length.to_be_bytes();
        let [g, h] = self.checksum.to_be_bytes();
        [a, b, c, d, e, f, g, h]
    }

    /// Parses the header; returns it and the data, cut at the UDP length. The checksum is
    /// not verified here (see [`verify_checksum_v4`], [`verify_checksum_v6`]).
    pub fn parse(buf: &[u8]) -> Result<(UdpHeader, &[u8]), WireError> {
        const T: WireError = WireError::Truncated("UDP header");
        let h = UdpHeader {
            src_port: be16(buf, 0).ok_or(T)?,
            dst_port: be16(buf, 2).ok_or(T)?,
            length: be16(buf, 4).ok_or(T)?,
            checksum: be16(buf, 6).ok_or(T)?,
        };
        let data = buf
            .get(UDP_HEADER_LEN..usize::from(h.length))
            .ok_or(WireError::BadLength("UDP length"))?;
        Ok((h, data))
    }
}

fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, len: u32) -> u32 {
    pseudo_header_sum(src.into(), dst.into(), IPPROTO_UDP, len)
}

fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, len: u32) -> u32 {
    pseudo_header_sum(src.into(), dst.into(), IPPROTO_UDP, len)
}

/// Finishes a checksum: complement, and 0 is sent as 0xFFFF (RFC 768).
fn finish(sum: u32) -> u16 {
    match !fold(sum) {
        0 => 0xFFFF,
        c => c,
    }
}

/// Sum of a segment with its checksum field taken as zero.
fn segment_sum(sum: u32, segment: &[u8]) -> u32 {
    let head: [u8; 6] = arr(segment, 0).unwrap_or([0; 6]);
    let rest = segment.get(UDP_HEADER_LEN..).unwrap_or(&[]);
    sum_words(sum_words(sum, &head), rest)
}

fn seg_len(segment: &[u8]) -> u32 {
    u32::try_from(segment.len()).unwrap_or(u32::MAX)
}

/// The UDP checksum of `segment` (header and data; its checksum field is ignored) over
/// IPv4.
pub fn checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    finish(segment_sum(pseudo_v4(src, dst, seg_len(segment)), segment))
}

/// The UDP checksum of `segment` (header and data; its checksum field is ignored) over
/// IPv6, with the RFC 8200 §8.1 pseudo-header.
pub fn checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> u16 {
    finish(segment_sum(pseudo_v6(src, dst, seg_len(segment)), segment))
}

fn check(computed: u16, found: u16) -> Result<(), WireError> {
    if computed == found {
        Ok(())
    } else {
        Err(WireError::BadUdpChecksum { computed, found })
    }
}

/// Verifies the checksum of a UDP segment over IPv4; 0 (no checksum) passes.
pub fn verify_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> Result<(), WireError> {
    let found = be16(segment, 6).ok_or(WireError::Truncated("UDP header"))?;
    if found == 0 {
        return Ok(());
    }
    check(checksum_v4(src, dst, segment), found)
}

/// Verifies the checksum of a UDP segment over IPv6; 0 is an error there.
pub fn verify_checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> Result<(), WireError> {
    let found = be16(segment, 6).ok_or(WireError::Truncated("UDP header"))?;
    check(checksum_v6(src, dst, segment), found)
}

/// The IPv6 flow label Linux derives from a QP pair (`rdma_calc_flow_label`), a good
/// per-connection flow hash.
pub fn flow_label_from_qpns(local_qpn: u32, remote_qpn: u32) -> u32 {
    let mut v = u64::from(local_qpn) * u64::from(remote_qpn);
    v ^= v >> 20;
    v ^= v >> 40;
    // Lossless: masked to 20 bits.
    (v & 0xF_FFFF) as u32
}

/// The RoCEv2 UDP source port for a flow label (`rdma_flow_label_to_udp_sport`): the
/// 20-bit label folded to 14 bits in the range 0xC000–0xFFFF.
pub fn src_port_from_flow_label(flow_label: u32) -> u16 {
    let low = flow_label & 0x3FFF;
    let high = flow_label & 0xF_C000;
    // Lossless: at most 14 bits.
    ((low ^ (high >> 14)) & 0x3FFF) as u16 | ROCE_SRC_PORT_MIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn round_trip() {
        let h = UdpHeader {
            src_port: 0xC123,
            dst_port: ROCEV2_UDP_PORT,
            length: 10,
            checksum: 0,
        };
        let mut buf = Vec::from(h.to_bytes());
        assert_eq!(&buf[2..4], &[0x12, 0xB7]);
        buf.extend_from_slice(&[7, 8, 0]);
        let (p, data) = UdpHeader::parse(&buf).unwrap();
        assert_eq!(p, h);
        assert_eq!(data, &[7, 8]);
        assert!(UdpHeader::parse(&buf[..9]).is_err());
    }

    #[test]
    fn checksums_verify() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut seg = Vec::from(
            UdpHeader {
                src_port: 0xC000,
                dst_port: ROCEV2_UDP_PORT,
                length: 13,
                checksum: 0,
            }
            .to_bytes(),
        );
        seg.extend_from_slice(&[1, 2, 3, 4, 5]);
        let c = checksum_v6(src, dst, &seg);
        seg[6..8].copy_from_slice(&c.to_be_bytes());
        verify_checksum_v6(src, dst, &seg).unwrap();
        seg[12] ^= 0x10;
        assert!(verify_checksum_v6(src, dst, &seg).is_err());

        let s4 = Ipv4Addr::new(10, 0, 0, 1);
        let d4 = Ipv4Addr::new(10, 0, 0, 2);
        seg[6] = 0;
        seg[7] = 0;
        verify_checksum_v4(s4, d4, &seg).unwrap();
        let c = checksum_v4(s4, d4, &seg);
        seg[6..8].copy_from_slice(&c.to_be_bytes());
        verify_checksum_v4(s4, d4, &seg).unwrap();
    }

    #[test]
    fn known_udp_checksum() {
        // scapy's test/contrib/roce.uts UC SEND ONLY example: IPv4 192.168.0.7 -> itself,
        // 49152 -> 4791, UDP checksum 0xaca2 over BTH + payload + ICRC 78 f3 53 f3.
        let mut seg = Vec::from(
            UdpHeader {
                src_port: 49152,
                dst_port: ROCEV2_UDP_PORT,
                length: 44,
                checksum: 0,
            }
            .to_bytes(),
        );
        seg.extend_from_slice(&[0x24, 0x60, 0xff, 0xff, 0, 0, 0, 0xd3, 0, 0xcf, 0x17, 0x10]);
        seg.extend_from_slice(b"F0\x81\x8b\xe2\x895\xd9\x0e\x9a\x95PT\x01\xbe\x88^P\x00\x00");
        seg.extend_from_slice(&[0x78, 0xf3, 0x53, 0xf3]);
        let ip = Ipv4Addr::new(192, 168, 0, 7);
        assert_eq!(checksum_v4(ip, ip, &seg), 0xaca2);
    }

    #[test]
    fn flow_hash_ports() {
        assert_eq!(flow_label_from_qpns(0, 5), 0);
        let fl = flow_label_from_qpns(0x11, 0x2345);
        assert!(fl <= 0xF_FFFF);
        let p = src_port_from_flow_label(fl);
        assert!(p >= ROCE_SRC_PORT_MIN);
        assert_eq!(src_port_from_flow_label(0xF_FFFF), 0xC000 | (0x3FFF ^ 0x3F));
    }
}
