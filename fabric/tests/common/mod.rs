//! Frame builders shared by the integration tests.
#![allow(dead_code)]

use fabric::Mac;

pub const MAC_A: Mac = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: Mac = [0x02, 0, 0, 0, 0, 0x0b];
pub const MAC_C: Mac = [0x02, 0, 0, 0, 0, 0x0c];
pub const MAC_UNKNOWN: Mac = [0x02, 0, 0, 0, 0, 0xee];

/// An experimental ethertype for test payloads.
pub const ETHERTYPE_TEST: u16 = 0x88b5;

/// dst, src, ethertype, payload.
pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A test frame carrying a sequence number as its payload (padded to the 60-byte minimum).
pub fn numbered(dst: Mac, src: Mac, n: u32) -> Vec<u8> {
    let mut payload = n.to_be_bytes().to_vec();
    payload.resize(46, 0);
    eth(dst, src, ETHERTYPE_TEST, &payload)
}

/// The sequence number of a frame built by [`numbered`].
pub fn number_of(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload[..4].try_into().unwrap())
}

fn ones_complement_sum(data: &[u8], mut sum: u32) -> u32 {
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += u32::from(word);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet/IPv4/UDP frame with valid IPv4 and UDP checksums.
pub fn udp_frame(
    dst_mac: Mac,
    src_mac: Mac,
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let total_len = 20 + udp_len;

    let mut ip = vec![0x45, 0x00];
    ip.extend_from_slice(&total_len.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0]); // id, DF, ttl, UDP, csum
    ip.extend_from_slice(&src_ip);
    ip.extend_from_slice(&dst_ip);
    let csum = fold(ones_complement_sum(&ip, 0));
    ip[10..12].copy_from_slice(&csum.to_be_bytes());

    let mut udp = Vec::new();
    udp.extend_from_slice(&src_port.to_be_bytes());
    udp.extend_from_slice(&dst_port.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src_ip);
    pseudo.extend_from_slice(&dst_ip);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    let mut csum = fold(ones_complement_sum(&udp, ones_complement_sum(&pseudo, 0)));
    if csum == 0 {
        csum = 0xffff;
    }
    udp[6..8].copy_from_slice(&csum.to_be_bytes());

    let mut l3 = ip;
    l3.extend_from_slice(&udp);
    eth(dst_mac, src_mac, 0x0800, &l3)
}

/// A unique path for a test's scratch file.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fabric-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", std::process::id()))
}
