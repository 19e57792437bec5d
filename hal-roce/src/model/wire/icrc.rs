//! The RoCEv2 invariant CRC (IBA vol 1 §7.8.1, Annex A17 §A17.4.3.1).
//!
//! The ICRC is the Ethernet CRC-32 (polynomial 0x04C11DB7, reflected, initial value and
//! final XOR all ones: `CRC_32_ISO_HDLC`) computed over
//!
//! 1. eight bytes of 0xFF standing for the (absent) LRH with its variant fields masked;
//! 2. the IP header with its variant fields set to all ones — IPv4: TOS (DSCP + ECN), TTL and
//!    header checksum; IPv6: traffic class, flow label and hop limit;
//! 3. the UDP header with its checksum set to all ones;
//! 4. the BTH with its resv8a byte (FECN, BECN, Resv6a: byte 4) set to all ones;
//! 5. the extension headers, payload and pad, unmodified.
//!
//! It is appended as the last four bytes of the UDP payload, least significant byte of the
//! CRC value first — the same byte order as the Ethernet FCS (the CRC register is
//! reflected), which is how Linux rxe, hardware RNICs and Wireshark lay it out.

use crc::{Crc, CRC_32_ISO_HDLC};

use super::bth::BTH_LEN;
use super::bytes::{arr, u8_at};
use super::ip::{IPV4_HEADER_LEN, IPV6_HEADER_LEN};
use super::udp::UDP_HEADER_LEN;
use super::WireError;

/// Length of the ICRC.
pub const ICRC_LEN: usize = 4;

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Longest IP (IPv4 with 40 bytes of options) + UDP + BTH prefix.
const MAX_MASKED: usize = 60 + UDP_HEADER_LEN + BTH_LEN;

/// The ICRC of an IP packet whose UDP payload is BTH + extension headers + payload + pad,
/// *without* the trailing ICRC: `ip_packet` runs from the first byte of the IP header to
/// the last pad byte.
pub fn compute_icrc(ip_packet: &[u8]) -> Result<u32, WireError> {
    let first = u8_at(ip_packet, 0).ok_or(WireError::Truncated("IP header"))?;
    let (ip_len, v6) = match first >> 4 {
        4 => (usize::from(first & 0x0F) * 4, false),
        6 => (IPV6_HEADER_LEN, true),
        v => return Err(WireError::BadIpVersion(v)),
    };
    if ip_len < IPV4_HEADER_LEN {
        return Err(WireError::BadLength("IPv4 header length"));
    }
    let udp = ip_len;
    let bth = udp + UDP_HEADER_LEN;
    let hdr_len = bth + BTH_LEN;
    let mut masked = [0u8; MAX_MASKED];
    let (dst, src) = masked
        .get_mut(..hdr_len)
        .zip(ip_packet.get(..hdr_len))
        .ok_or(WireError::Truncated("RoCEv2 headers"))?;
    dst.copy_from_slice(src);
    let ones = |dst: &mut [u8], range: core::ops::Range<usize>| {
        if let Some(b) = dst.get_mut(range) {
            b.fill(0xFF);
        }
    };
    if v6 {
        // Traffic class and flow label: the low nibble of byte 0 and bytes 1-3.
        if let Some(b) = dst.get_mut(0) {
            *b |= 0x0F;
        }
        ones(dst, 1..4);
        ones(dst, 7..8); // hop limit
    } else {
        ones(dst, 1..2); // TOS: DSCP + ECN
        ones(dst, 8..9); // TTL
        ones(dst, 10..12); // header checksum
    }
    ones(dst, udp + 6..udp + 8); // UDP checksum
    ones(dst, bth + 4..bth + 5); // BTH resv8a (FECN, BECN, Resv6a)

    let rest = ip_packet.get(hdr_len..).unwrap_or(&[]);
    let mut digest = CRC32.digest();
    digest.update(&[0xFF; 8]);
    digest.update(dst);
    digest.update(rest);
    Ok(digest.finalize())
}

/// The four ICRC bytes as they appear on the wire.
pub fn icrc_bytes(icrc: u32) -> [u8; ICRC_LEN] {
    icrc.to_le_bytes()
}

/// Reads an ICRC from its four wire bytes.
pub fn icrc_from_bytes(bytes: [u8; ICRC_LEN]) -> u32 {
    u32::from_le_bytes(bytes)
}

/// Checks the ICRC at the end of `ip_packet` (IP header through ICRC, no Ethernet padding);
/// returns the ICRC found.
pub fn verify_icrc(ip_packet: &[u8]) -> Result<u32, WireError> {
    let body_len = ip_packet
        .len()
        .checked_sub(ICRC_LEN)
        .ok_or(WireError::Truncated("ICRC"))?;
    let found = icrc_from_bytes(arr(ip_packet, body_len).ok_or(WireError::Truncated("ICRC"))?);
    let body = ip_packet
        .get(..body_len)
        .ok_or(WireError::Truncated("ICRC"))?;
    let computed = compute_icrc(body)?;
    if computed == found {
        Ok(found)
    } else {
        Err(WireError::BadIcrc { computed, found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RoCEv2 CNP captured on a Mellanox ConnectX-4 Lx (published in scapy's
    /// test/contrib/roce.uts): IPv4 with TOS 0xc2, BTH BECN set, DestQP 0x118, 16 reserved
    /// bytes, and the hardware's ICRC `82 fd 00 2a`.
    const CX4_CNP: [u8; 74] = [
        0xe4, 0x1d, 0x2d, 0xab, 0x2b, 0xc2, 0x7c, 0xfe, 0x90, 0x64, 0x3b, 0x32, 0x08, 0x00, 0x45,
        0xc2, 0x00, 0x3c, 0x71, 0x8c, 0x40, 0x00, 0x40, 0x11, 0x91, 0x61, 0x0a, 0x00, 0x11, 0x01,
        0x0a, 0x00, 0x12, 0x01, 0x00, 0x00, 0x12, 0xb7, 0x00, 0x28, 0x00, 0x00, 0x81, 0x00, 0xff,
        0xff, 0x40, 0x00, 0x01, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x82, 0xfd, 0x00, 0x2a,
    ];

    #[test]
    fn known_answer_connectx4_cnp() {
        let ip = &CX4_CNP[14..];
        let icrc = compute_icrc(&ip[..ip.len() - 4]).unwrap();
        assert_eq!(icrc_bytes(icrc), [0x82, 0xfd, 0x00, 0x2a]);
        assert_eq!(verify_icrc(ip), Ok(0x2a00_fd82));
    }

    /// scapy's test/contrib/roce.uts UC SEND ONLY example (IPv4 TOS 1, pad count 2): its
    /// ICRC `78 f3 53 f3` is also covered by the published UDP checksum 0xaca2.
    #[test]
    fn known_answer_scapy_uc_send_only() {
        let mut ip = std::vec![
            0x45, 0x01, 0x00, 0x40, 0x04, 0x78, 0x40, 0x00, 0x40, 0x11, 0xb4, 0xd5, 192, 168, 0, 7,
            192, 168, 0, 7, 0xc0, 0x00, 0x12, 0xb7, 0x00, 0x2c, 0xac, 0xa2, 0x24, 0x60, 0xff, 0xff,
            0x00, 0x00, 0x00, 0xd3, 0x00, 0xcf, 0x17, 0x10,
        ];
        ip.extend_from_slice(b"F0\x81\x8b\xe2\x895\xd9\x0e\x9a\x95PT\x01\xbe\x88^P\x00\x00");
        let icrc = compute_icrc(&ip).unwrap();
        assert_eq!(icrc_bytes(icrc), [0x78, 0xf3, 0x53, 0xf3]);
        ip.extend_from_slice(&icrc_bytes(icrc));
        assert_eq!(verify_icrc(&ip), Ok(icrc));
    }

    #[test]
    fn variant_fields_do_not_matter() {
        let mut ip = CX4_CNP[14..].to_vec();
        // TOS, TTL, IP checksum, UDP checksum, BTH FECN/BECN.
        for (off, v) in [
            (1, 0x00),
            (8, 0x01),
            (10, 0x12),
            (11, 0x34),
            (26, 0xAB),
            (32, 0x80),
        ] {
            ip[off] = v;
        }
        verify_icrc(&ip).unwrap();
        // An invariant field (the P_Key) does.
        ip[30] = 0x7F;
        assert!(matches!(verify_icrc(&ip), Err(WireError::BadIcrc { .. })));
    }

    #[test]
    fn rejects_short_input() {
        assert!(compute_icrc(&[]).is_err());
        assert!(compute_icrc(&CX4_CNP[14..40]).is_err());
        assert!(verify_icrc(&[0x45, 0, 0]).is_err());
        assert!(compute_icrc(&[0x75; 64]).is_err());
        assert!(compute_icrc(&[0x44; 64]).is_err());
    }
}
