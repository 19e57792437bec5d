//! TCP segments (RFC 9293) and whole Ethernet / IP / TCP frames as RNIC-W1 sends them (§9.1):
//! MSS and window-scale options on SYNs only, checksum over the IPv4 / IPv6 pseudo-header,
//! always verified on receive.

use core::net::IpAddr;
use std::vec::Vec;

use bitflags::bitflags;
use fabric::wire::eth::{EthHeader, MacAddr, ETHERTYPE_IPV4, ETHERTYPE_IPV6, MIN_FRAME_LEN};
use fabric::wire::ip::{
    transport_checksum, IpHeader, Ipv4Header, Ipv6Header, DEFAULT_HOP_LIMIT, IPPROTO_TCP,
};

use super::bytes::{be16, be32, u8_at};
use super::WireError;

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Offset of the checksum field in the TCP header.
pub const TCP_CHECKSUM_OFFSET: usize = 16;
/// Option kind: end of option list.
pub const OPT_EOL: u8 = 0;
/// Option kind: no-operation (padding).
pub const OPT_NOP: u8 = 1;
/// Option kind: maximum segment size (SYN only).
pub const OPT_MSS: u8 = 2;
/// Option kind: window scale (SYN only, RFC 7323).
pub const OPT_WSCALE: u8 = 3;
/// MSS assumed when a SYN carries no MSS option (RFC 9293 §3.7.1, IPv4).
pub const DEFAULT_MSS: u16 = 536;

bitflags! {
    /// The TCP control bits.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct TcpFlags: u8 {
        /// No more data from the sender.
        const FIN = 0x01;
        /// Synchronize sequence numbers.
        const SYN = 0x02;
        /// Reset the connection.
        const RST = 0x04;
        /// Push.
        const PSH = 0x08;
        /// The acknowledgment field is significant.
        const ACK = 0x10;
        /// The urgent pointer is significant (never sent).
        const URG = 0x20;
        /// ECN echo (never sent).
        const ECE = 0x40;
        /// Congestion window reduced (never sent).
        const CWR = 0x80;
    }
}

/// A TCP header with the options RNIC-W1 knows (§9.1); other received options are skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first byte (or of the SYN / FIN).
    pub seq: u32,
    /// Next sequence number expected (valid with ACK).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Receive window (unscaled field value).
    pub window: u16,
    /// Urgent pointer (sent as 0).
    pub urgent: u16,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window-scale option (shift count).
    pub wscale: Option<u8>,
}

impl TcpHeader {
    /// Option bytes this header sends: MSS (4) and NOP + window scale (4).
    fn options(&self) -> ([u8; 8], usize) {
        let mut o = [0u8; 8];
        let mut n = 0;
        if let Some(mss) = self.mss {
            let [hi, lo] = mss.to_be_bytes();
            o[..4].copy_from_slice(&[OPT_MSS, 4, hi, lo]);
            n = 4;
        }
        if let Some(shift) = self.wscale {
            if let Some(dst) = o.get_mut(n..n + 4) {
                dst.copy_from_slice(&[OPT_NOP, OPT_WSCALE, 3, shift]);
            }
            n += 4;
        }
        (o, n)
    }

    /// Bytes of the header on the wire, options included (a multiple of 4).
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options().1
    }

    /// Sequence space the segment takes: payload bytes plus one for SYN and one for FIN.
    pub fn seq_len(&self, payload_len: usize) -> u32 {
        let len = u32::try_from(payload_len).unwrap_or(u32::MAX);
        len.saturating_add(u32::from(self.flags.contains(TcpFlags::SYN)))
            .saturating_add(u32::from(self.flags.contains(TcpFlags::FIN)))
    }

    /// Appends header and payload to `out`, with the checksum over the pseudo-header of
    /// `src` → `dst`.
    pub fn write_segment(&self, src: IpAddr, dst: IpAddr, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let (opts, n) = self.options();
        let hlen = TCP_HEADER_LEN + n;
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        // Lossless: the header is at most 28 bytes, 7 words.
        out.push(((hlen / 4) as u8) << 4);
        out.push(self.flags.bits());
        out.extend_from_slice(&self.window.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.urgent.to_be_bytes());
        out.extend_from_slice(opts.get(..n).unwrap_or(&[]));
        out.extend_from_slice(payload);
        let seg = out.get(start..).unwrap_or(&[]);
        let csum = transport_checksum(src, dst, IPPROTO_TCP, seg, TCP_CHECKSUM_OFFSET);
        if let Some(c) = out.get_mut(start + TCP_CHECKSUM_OFFSET..start + TCP_CHECKSUM_OFFSET + 2) {
            c.copy_from_slice(&csum.to_be_bytes());
        }
    }

    /// Parses a segment received from `src` for `dst`, verifying its checksum; returns the
    /// header and the payload.
    pub fn parse(
        segment: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(TcpHeader, &[u8]), WireError> {
        const T: WireError = WireError::Truncated("TCP header");
        let found = be16(segment, TCP_CHECKSUM_OFFSET).ok_or(T)?;
        let hlen = usize::from(u8_at(segment, 12).ok_or(T)? >> 4) * 4;
        if hlen < TCP_HEADER_LEN {
            return Err(WireError::BadLength("TCP data offset"));
        }
        let opts = segment.get(TCP_HEADER_LEN..hlen).ok_or(T)?;
        let computed = transport_checksum(src, dst, IPPROTO_TCP, segment, TCP_CHECKSUM_OFFSET);
        if computed != found {
            return Err(WireError::BadTcpChecksum { computed, found });
        }
        let mut h = TcpHeader {
            src_port: be16(segment, 0).ok_or(T)?,
            dst_port: be16(segment, 2).ok_or(T)?,
            seq: be32(segment, 4).ok_or(T)?,
            ack: be32(segment, 8).ok_or(T)?,
            flags: TcpFlags::from_bits_retain(u8_at(segment, 13).ok_or(T)?),
            window: be16(segment, 14).ok_or(T)?,
            urgent: be16(segment, 18).ok_or(T)?,
            mss: None,
            wscale: None,
        };
        let mut i = 0;
        while let Some(kind) = u8_at(opts, i) {
            match kind {
                OPT_EOL => break,
                OPT_NOP => i += 1,
                _ => {
                    let len = usize::from(u8_at(opts, i + 1).ok_or(T)?);
                    let body = opts
                        .get(i + 2..i + len.max(2))
                        .ok_or(WireError::BadLength("TCP option"))?;
                    if len < 2 {
                        return Err(WireError::BadLength("TCP option"));
                    }
                    match (kind, body) {
                        (OPT_MSS, &[hi, lo]) => h.mss = Some(u16::from_be_bytes([hi, lo])),
                        (OPT_WSCALE, &[shift]) => h.wscale = Some(shift),
                        _ => {}
                    }
                    i += len;
                }
            }
        }
        let payload = segment.get(hlen..).ok_or(T)?;
        Ok((h, payload))
    }
}

/// A parsed Ethernet / IP / TCP frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFrame<'a> {
    /// Ethernet header.
    pub eth: EthHeader,
    /// IP header.
    pub ip: IpHeader,
    /// TCP header.
    pub tcp: TcpHeader,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// Addressing of a frame the device sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameAddr {
    /// Source MAC (ours).
    pub src_mac: MacAddr,
    /// Destination MAC (the peer's or the next hop's).
    pub dst_mac: MacAddr,
    /// Source IP (ours).
    pub src: IpAddr,
    /// Destination IP.
    pub dst: IpAddr,
}

/// Builds a whole frame (no VLAN tag, §9.1): IPv4 with DF, TTL 64 and identification
/// `ip_id`, or IPv6 with hop limit 64; zero-padded to the Ethernet minimum.
pub fn build_frame(
    addr: &FrameAddr,
    ip_id: u16,
    tcp: &TcpHeader,
    payload: &[u8],
) -> Result<Vec<u8>, WireError> {
    let seg_len = tcp.header_len() + payload.len();
    let mut out = Vec::with_capacity(14 + 40 + seg_len);
    let (ethertype, ip) = match (addr.src, addr.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => (
            ETHERTYPE_IPV4,
            IpHeader::V4(Ipv4Header {
                dscp: 0,
                ecn: 0,
                total_len: u16::try_from(20 + seg_len)
                    .map_err(|_| WireError::TooLong("segment"))?,
                identification: ip_id,
                dont_fragment: true,
                ttl: DEFAULT_HOP_LIMIT,
                protocol: IPPROTO_TCP,
                src,
                dst,
            }),
        ),
        (IpAddr::V6(src), IpAddr::V6(dst)) => (
            ETHERTYPE_IPV6,
            IpHeader::V6(Ipv6Header {
                traffic_class: 0,
                flow_label: 0,
                payload_len: u16::try_from(seg_len).map_err(|_| WireError::TooLong("segment"))?,
                next_header: IPPROTO_TCP,
                hop_limit: DEFAULT_HOP_LIMIT,
                src,
                dst,
            }),
        ),
        _ => return Err(WireError::InvalidField("mixed IPv4 / IPv6 addresses")),
    };
    EthHeader {
        dst: addr.dst_mac,
        src: addr.src_mac,
        vlan: None,
        ethertype,
    }
    .write(&mut out);
    ip.write(&mut out);
    tcp.write_segment(addr.src, addr.dst, payload, &mut out);
    if out.len() < MIN_FRAME_LEN {
        out.resize(MIN_FRAME_LEN, 0);
    }
    Ok(out)
}

/// Parses a whole frame: Ethernet (one optional 802.1Q tag), IPv4 or IPv6 (header checksum
/// verified, Ethernet padding cut), TCP (checksum verified).
pub fn parse_frame(frame: &[u8]) -> Result<TcpFrame<'_>, WireError> {
    let (eth, rest) = EthHeader::parse(frame)?;
    if eth.ethertype != ETHERTYPE_IPV4 && eth.ethertype != ETHERTYPE_IPV6 {
        return Err(WireError::UnsupportedEtherType(eth.ethertype));
    }
    let (ip, segment) = IpHeader::parse(rest)?;
    let version_ok = matches!(
        (eth.ethertype, &ip),
        (ETHERTYPE_IPV4, IpHeader::V4(_)) | (ETHERTYPE_IPV6, IpHeader::V6(_))
    );
    if !version_ok {
        return Err(WireError::Header(fabric::wire::HeaderError::BadIpVersion(
            match ip {
                IpHeader::V4(_) => 4,
                IpHeader::V6(_) => 6,
            },
        )));
    }
    if ip.protocol() != IPPROTO_TCP {
        return Err(WireError::NotTcp(ip.protocol()));
    }
    let (tcp, payload) = TcpHeader::parse(segment, ip.src(), ip.dst())?;
    Ok(TcpFrame {
        eth,
        ip,
        tcp,
        payload,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use std::vec;

    fn addr4() -> FrameAddr {
        FrameAddr {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        }
    }

    #[test]
    fn syn_with_options_known_bytes() {
        let h = TcpHeader {
            src_port: 0xC000,
            dst_port: 4000,
            seq: 0x0102_0304,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 0xFFFF,
            urgent: 0,
            mss: Some(1460),
            wscale: Some(7),
        };
        let a = addr4();
        let mut seg = Vec::new();
        h.write_segment(a.src, a.dst, &[], &mut seg);
        assert_eq!(
            seg,
            [
                0xC0, 0x00, 0x0F, 0xA0, 1, 2, 3, 4, 0, 0, 0, 0, 0x70, 0x02, 0xFF, 0xFF, seg[16],
                seg[17], 0, 0, 2, 4, 0x05, 0xB4, 1, 3, 3, 7
            ]
        );
        // Checksum by hand: pseudo (0a00 0001 0a00 0002 0006 001c) + header words.
        let words: u32 = [
            0x0a00u32, 0x0001, 0x0a00, 0x0002, 0x0006, 0x001c, 0xC000, 0x0FA0, 0x0102, 0x0304, 0,
            0, 0x7002, 0xFFFF, 0, 0x0204, 0x05B4, 0x0103, 0x0307,
        ]
        .iter()
        .sum();
        let folded = (words & 0xFFFF) + (words >> 16);
        let folded = (folded & 0xFFFF) + (folded >> 16);
        assert_eq!(u16::from_be_bytes([seg[16], seg[17]]), !(folded as u16));
        let (p, payload) = TcpHeader::parse(&seg, a.src, a.dst).unwrap();
        assert_eq!(p, h);
        assert!(payload.is_empty());
        assert_eq!(h.seq_len(0), 1);
    }

    #[test]
    fn frame_round_trip_v4_v6_and_checksum_rejects() {
        let h = TcpHeader {
            src_port: 1,
            dst_port: 2,
            seq: u32::MAX,
            ack: 77,
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
            window: 1000,
            ..TcpHeader::default()
        };
        let mut a6 = addr4();
        a6.src = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        a6.dst = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));
        for a in [addr4(), a6] {
            let f = build_frame(&a, 9, &h, b"abc").unwrap();
            assert!(f.len() >= MIN_FRAME_LEN);
            let p = parse_frame(&f).unwrap();
            assert_eq!(p.tcp, h);
            assert_eq!(p.payload, b"abc");
            assert_eq!(p.ip.src(), a.src);
            assert_eq!(h.seq_len(3), 4);
            let mut bad = f.clone();
            let payload_at = 14 + if a.src.is_ipv4() { 20 } else { 40 } + TCP_HEADER_LEN;
            assert_eq!(&f[payload_at..payload_at + 3], b"abc");
            bad[payload_at] ^= 0x01;
            assert!(matches!(
                parse_frame(&bad),
                Err(WireError::BadTcpChecksum { .. })
            ));
        }
        let mut mixed = addr4();
        mixed.dst = a6.dst;
        assert_eq!(
            build_frame(&mixed, 0, &h, &[]),
            Err(WireError::InvalidField("mixed IPv4 / IPv6 addresses"))
        );
    }

    #[test]
    fn options_parse_skips_unknown_and_rejects_bad_lengths() {
        let a = addr4();
        // Header with 12 bytes of options: SACK-permitted (4, 2), timestamps (8, 10) cut to
        // fit, MSS: build the bytes by hand and fix the checksum.
        let mut seg = vec![
            0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0x02, 0x10, 0x00, 0, 0, 0, 0, 4, 2, 1, 1, 8,
            2, 2, 4, 0x02, 0x18, 0, 0,
        ];
        let c = transport_checksum(a.src, a.dst, IPPROTO_TCP, &seg, 16);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        // kind 8 with length 2 is an empty unknown option; MSS 0x0218 follows.
        let (h, _) = TcpHeader::parse(&seg, a.src, a.dst).unwrap();
        assert_eq!(h.mss, Some(0x0218));
        assert_eq!(h.wscale, None);
        seg[25] = 40; // option length past the header
        let c = transport_checksum(a.src, a.dst, IPPROTO_TCP, &seg, 16);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            TcpHeader::parse(&seg, a.src, a.dst),
            Err(WireError::BadLength("TCP option"))
        );
        assert!(TcpHeader::parse(&seg[..19], a.src, a.dst).is_err());
    }
}
