//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers as the emulated RDMA NICs send them (RoCEv2
//! over UDP, iWARP over TCP): no IPv4 options, no fragments, no IPv6 extension headers.
//! Also the Internet checksum (RFC 1071) and the transport pseudo-header sum that UDP and TCP
//! checksums start from.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use super::bytes::{arr, u8_at};
use super::HeaderError;

/// IP protocol number / IPv6 next header of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number / IPv6 next header of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of the IPv6 fixed header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Default TTL / hop limit of the model's senders.
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Explicit Congestion Notification codepoints (RFC 3168), the low two bits of the
/// traffic class.
pub mod ecn {
    /// Not ECN-capable transport.
    pub const NOT_ECT: u8 = 0b00;
    /// ECN-capable transport (1).
    pub const ECT1: u8 = 0b01;
    /// ECN-capable transport (0); what RoCEv2 senders use for DCQCN.
    pub const ECT0: u8 = 0b10;
    /// Congestion experienced.
    pub const CE: u8 = 0b11;
}

/// Folds a 32-bit one's-complement accumulator into 16 bits.
pub fn fold(mut sum: u32) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    // Lossless: the loop leaves at most 0xFFFF.
    sum as u16
}

/// Adds `data` as big-endian 16-bit words (an odd last byte is padded with zero) to a
/// one's-complement accumulator (RFC 1071).
pub fn sum_words(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [a, b] = c {
            sum = u32::from(fold(sum)) + u32::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [last] = chunks.remainder() {
        sum = u32::from(fold(sum)) + u32::from(u16::from_be_bytes([*last, 0]));
    }
    sum
}

/// The Internet checksum (RFC 1071) of `data`: the one's complement of the one's-complement
/// sum of its 16-bit words. Over an IPv4 header whose checksum field is set, it is 0.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum_words(0, data))
}

/// The one's-complement sum of the transport pseudo-header (RFC 768, RFC 793 §3.1 for IPv4,
/// RFC 8200 §8.1 for IPv6) of a `len`-byte UDP or TCP segment. Both layouts sum to the same
/// value (the one's-complement sum is order-independent and the upper bytes of the IPv6
/// 32-bit length and next-header word are zero), so one function serves both; mixed address
/// families (a programming error) sum both addresses as given.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> u32 {
    let mut sum = match src {
        IpAddr::V4(a) => sum_words(0, &a.octets()),
        IpAddr::V6(a) => sum_words(0, &a.octets()),
    };
    sum = match dst {
        IpAddr::V4(a) => sum_words(sum, &a.octets()),
        IpAddr::V6(a) => sum_words(sum, &a.octets()),
    };
    sum = sum_words(sum, &[0, protocol]);
    sum_words(sum, &len.to_be_bytes())
}

/// The transport checksum (UDP or TCP) of `segment` between `src` and `dst`, with the two
/// checksum bytes at `checksum_at` taken as zero. UDP senders transmit a result of 0 as
/// 0xFFFF (RFC 768); TCP sends it as is.
pub fn transport_checksum(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    segment: &[u8],
    checksum_at: usize,
) -> u16 {
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    let sum = pseudo_header_sum(src, dst, protocol, len);
    let head = segment.get(..checksum_at).unwrap_or(segment);
    let tail = checksum_at
        .checked_add(2)
        .and_then(|t| segment.get(t..))
        .unwrap_or(&[]);
    // The head has even length at every real checksum offset (6 for UDP, 16 for TCP), so
    // summing the two parts separately keeps the 16-bit word alignment.
    !fold(sum_words(sum_words(sum, head), tail))
}

/// An IPv4 header (20 bytes, no options).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Header {
    /// Differentiated services codepoint (6 bits).
    pub dscp: u8,
    /// ECN codepoint (2 bits), see [`ecn`].
    pub ecn: u8,
    /// Total length: header plus payload.
    pub total_len: u16,
    /// Identification.
    pub identification: u16,
    /// Don't Fragment; the model's senders set it.
    pub dont_fragment: bool,
    /// Time to live.
    pub ttl: u8,
    /// Protocol of the payload ([`IPPROTO_UDP`], [`IPPROTO_TCP`]).
    pub protocol: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
}

impl Ipv4Header {
    /// The header's 20 bytes, with the header checksum computed.
    pub fn to_bytes(&self) -> [u8; IPV4_HEADER_LEN] {
        let mut h = [0u8; IPV4_HEADER_LEN];
        h[0] = 0x45;
        h[1] = (self.dscp << 2) | (self.ecn & 3);
        h[2..4].copy_from_slice(&self.total_len.to_be_bytes());
        h[4..6].copy_from_slice(&self.identification.to_be_bytes());
        h[6] = if self.dont_fragment { 0x40 } else { 0 };
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let csum = internet_checksum(&h);
        h[10..12].copy_from_slice(&csum.to_be_bytes());
        h
    }

    /// Parses and verifies the header (version, IHL 5, checksum, no fragmentation, total
    /// length within `buf`); returns it and the IP payload, cut at the total length (so
    /// Ethernet padding after the datagram is dropped).
    pub fn parse(buf: &[u8]) -> Result<(Ipv4Header, &[u8]), HeaderError> {
        let h: [u8; IPV4_HEADER_LEN] = arr(buf, 0).ok_or(HeaderError::Truncated("IPv4 header"))?;
        if h[0] >> 4 != 4 {
            return Err(HeaderError::BadIpVersion(h[0] >> 4));
        }
        if h[0] & 0x0F != 5 {
            return Err(HeaderError::UnsupportedIpOptions);
        }
        let found = u16::from_be_bytes([h[10], h[11]]);
        if internet_checksum(&h) != 0 {
            let mut zeroed = h;
            zeroed[10] = 0;
            zeroed[11] = 0;
            return Err(HeaderError::BadIpChecksum {
                computed: internet_checksum(&zeroed),
                found,
            });
        }
        let flags_frag = u16::from_be_bytes([h[6], h[7]]);
        if flags_frag & 0x3FFF != 0 {
            return Err(HeaderError::Fragmented);
        }
        let total_len = u16::from_be_bytes([h[2], h[3]]);
        let payload = buf
            .get(IPV4_HEADER_LEN..usize::from(total_len))
            .ok_or(HeaderError::BadLength("IPv4 total length"))?;
        Ok((
            Ipv4Header {
                dscp: h[1] >> 2,
                ecn: h[1] & 3,
                total_len,
                identification: u16::from_be_bytes([h[4], h[5]]),
                dont_fragment: flags_frag & 0x4000 != 0,
                ttl: h[8],
                protocol: h[9],
                src: Ipv4Addr::from([h[12], h[13], h[14], h[15]]),
                dst: Ipv4Addr::from([h[16], h[17], h[18], h[19]]),
            },
            payload,
        ))
    }
}

/// An IPv6 fixed header (40 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Header {
    /// Traffic class: DSCP in the upper six bits, ECN in the lower two.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length (everything after the fixed header).
    pub payload_len: u16,
    /// Next header ([`IPPROTO_UDP`], [`IPPROTO_TCP`]).
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
}

impl Ipv6Header {
    /// The header's 40 bytes.
    pub fn to_bytes(&self) -> [u8; IPV6_HEADER_LEN] {
        let mut h = [0u8; IPV6_HEADER_LEN];
        let word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xF_FFFF);
        h[0..4].copy_from_slice(&word.to_be_bytes());
        h[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        h[6] = self.next_header;
        h[7] = self.hop_limit;
        h[8..24].copy_from_slice(&self.src.octets());
        h[24..40].copy_from_slice(&self.dst.octets());
        h
    }

    /// Parses the header; returns it and the payload, cut at the payload length.
    pub fn parse(buf: &[u8]) -> Result<(Ipv6Header, &[u8]), HeaderError> {
        let h: [u8; IPV6_HEADER_LEN] = arr(buf, 0).ok_or(HeaderError::Truncated("IPv6 header"))?;
        let word = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if word >> 28 != 6 {
            return Err(HeaderError::BadIpVersion(h[0] >> 4));
        }
        let payload_len = u16::from_be_bytes([h[4], h[5]]);
        let payload = buf
            .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + usize::from(payload_len))
            .ok_or(HeaderError::BadLength("IPv6 payload length"))?;
        let src: [u8; 16] = arr(&h, 8).ok_or(HeaderError::Truncated("IPv6 header"))?;
        let dst: [u8; 16] = arr(&h, 24).ok_or(HeaderError::Truncated("IPv6 header"))?;
        Ok((
            Ipv6Header {
                // Lossless: 8 bits of the word.
                traffic_class: ((word >> 20) & 0xFF) as u8,
                flow_label: word & 0xF_FFFF,
                payload_len,
                next_header: h[6],
                hop_limit: h[7],
                src: Ipv6Addr::from(src),
                dst: Ipv6Addr::from(dst),
            },
            payload,
        ))
    }
}

/// Either IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpHeader {
    /// IPv4.
    V4(Ipv4Header),
    /// IPv6.
    V6(Ipv6Header),
}

impl IpHeader {
    /// Header length on the wire (20 or 40).
    pub fn header_len(&self) -> usize {
        match self {
            IpHeader::V4(_) => IPV4_HEADER_LEN,
            IpHeader::V6(_) => IPV6_HEADER_LEN,
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::V4(h.src),
            IpHeader::V6(h) => IpAddr::V6(h.src),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::V4(h.dst),
            IpHeader::V6(h) => IpAddr::V6(h.dst),
        }
    }

    /// DSCP (upper six bits of TOS / traffic class).
    pub fn dscp(&self) -> u8 {
        match self {
            IpHeader::V4(h) => h.dscp,
            IpHeader::V6(h) => h.traffic_class >> 2,
        }
    }

    /// ECN codepoint; [`ecn::CE`] marks congestion (RoCEv2 CNP generation, Annex A17.9).
    pub fn ecn(&self) -> u8 {
        match self {
            IpHeader::V4(h) => h.ecn,
            IpHeader::V6(h) => h.traffic_class & 3,
        }
    }

    /// TTL / hop limit.
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpHeader::V4(h) => h.ttl,
            IpHeader::V6(h) => h.hop_limit,
        }
    }

    /// Protocol / next header.
    pub fn protocol(&self) -> u8 {
        match self {
            IpHeader::V4(h) => h.protocol,
            IpHeader::V6(h) => h.next_header,
        }
    }

    /// Appends the header bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            IpHeader::V4(h) => out.extend_from_slice(&h.to_bytes()),
            IpHeader::V6(h) => out.extend_from_slice(&h.to_bytes()),
        }
    }

    /// Parses whichever header `buf` starts with (by its version nibble).
    pub fn parse(buf: &[u8]) -> Result<(IpHeader, &[u8]), HeaderError> {
        match u8_at(buf, 0).ok_or(HeaderError::Truncated("IP header"))? >> 4 {
            4 => Ipv4Header::parse(buf).map(|(h, p)| (IpHeader::V4(h), p)),
            6 => Ipv6Header::parse(buf).map(|(h, p)| (IpHeader::V6(h), p)),
            v => Err(HeaderError::BadIpVersion(v)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transport_checksum_of_a_known_tcp_segment() {
        // A SYN from 10.0.0.1:1234 to 10.0.0.2:80, seq 1, no options, window 8192 (the
        // 0xAABB in the checksum field is ignored). By hand: the pseudo-header words
        // (0a00 0001 0a00 0002 0006 0014) and the header words sum to 0x8942, complement
        // 0x76bd.
        let seg = [
            0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0x00, 0xAA, 0xBB, 0,
            0,
        ];
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let c = transport_checksum(src, dst, IPPROTO_TCP, &seg, 16);
        let mut with = seg;
        with[16..18].copy_from_slice(&c.to_be_bytes());
        // Summing the whole segment with its checksum in place gives 0 (RFC 1071).
        let total = pseudo_header_sum(src, dst, IPPROTO_TCP, 20);
        assert_eq!(!fold(sum_words(total, &with)), 0);
        assert_eq!(c, 0x76bd);
    }

    fn v4() -> Ipv4Header {
        Ipv4Header {
            dscp: 26,
            ecn: ecn::ECT0,
            total_len: 28,
            identification: 0x1234,
            dont_fragment: true,
            ttl: 64,
            protocol: IPPROTO_UDP,
            src: Ipv4Addr::new(192, 168, 0, 1),
            dst: Ipv4Addr::new(192, 168, 0, 2),
        }
    }

    #[test]
    fn ipv4_round_trip_and_checksum() {
        let h = v4();
        let mut buf = Vec::from(h.to_bytes());
        assert_eq!(internet_checksum(&buf), 0);
        buf.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0xEE]); // 0xEE: Ethernet padding
        let (p, payload) = Ipv4Header::parse(&buf).unwrap();
        assert_eq!(p, h);
        assert_eq!(payload, &[1, 2, 3, 4, 5, 6, 7, 8]);
        buf[8] ^= 1;
        assert!(matches!(
            Ipv4Header::parse(&buf),
            Err(HeaderError::BadIpChecksum { .. })
        ));
    }

    #[test]
    fn ipv4_known_checksum() {
        // RFC 1071-style example: the header of the ConnectX-4 Lx CNP capture (scapy's
        // test/contrib/roce.uts), checksum 0x9161.
        let h = Ipv4Header {
            dscp: 0xc2 >> 2,
            ecn: 2,
            total_len: 0x3c,
            identification: 0x718c,
            dont_fragment: true,
            ttl: 64,
            protocol: IPPROTO_UDP,
            src: Ipv4Addr::new(10, 0, 17, 1),
            dst: Ipv4Addr::new(10, 0, 18, 1),
        };
        assert_eq!(&h.to_bytes()[10..12], &[0x91, 0x61]);
    }

    #[test]
    fn ipv4_rejects() {
        let mut b = v4().to_bytes();
        b[6] = 0x20; // MF
        b[10] = 0;
        b[11] = 0;
        let c = internet_checksum(&b);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        let mut buf = Vec::from(b);
        buf.extend_from_slice(&[0; 8]);
        assert_eq!(Ipv4Header::parse(&buf), Err(HeaderError::Fragmented));
        assert!(Ipv4Header::parse(&buf[..19]).is_err());
        let short = v4().to_bytes();
        assert_eq!(
            Ipv4Header::parse(&short),
            Err(HeaderError::BadLength("IPv4 total length"))
        );
    }

    #[test]
    fn ipv6_round_trip() {
        let h = Ipv6Header {
            traffic_class: (46 << 2) | ecn::CE,
            flow_label: 0xABCDE,
            payload_len: 3,
            next_header: IPPROTO_UDP,
            hop_limit: 255,
            src: "fe80::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
        };
        let mut buf = Vec::from(h.to_bytes());
        assert_eq!(&buf[..4], &[0x6B, 0xBA, 0xBC, 0xDE]);
        buf.extend_from_slice(&[9, 9, 9, 0]);
        let (p, payload) = IpHeader::parse(&buf).unwrap();
        assert_eq!(p, IpHeader::V6(h));
        assert_eq!(payload, &[9, 9, 9]);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), ecn::CE);
        assert_eq!(p.header_len(), 40);
        assert!(IpHeader::parse(&[0x50]).is_err());
    }
}
