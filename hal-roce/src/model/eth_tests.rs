//! Tests of bare NICs (brought up by hand over their BARs, as the NDIS glue does) and of the
//! raw Ethernet queue through the driver's `hal::EthernetPort`: the tests both reference NICs
//! share ([`fabric::testkit::raw_eth`]), and RNIC-R2's own (the GID table, §14.1's split of
//! RoCEv2 from other frames).

use core::net::IpAddr;
use std::vec::Vec;

use fabric::testkit::raw_eth::Eth;
use hal::{EthCompletion, EthFilter, EthernetPort, HalError, NicHal};

use super::device::Stats;
use super::network::{Network, Rnicr2};
use super::tests::ip;

fabric::impl_raw_eth_counters!(Stats);
fabric::raw_eth_tests!(Rnicr2);

#[test]
fn local_addresses_replace_the_gid_table() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let nic = net.add_nic(ip(1));
    let v6: IpAddr = "fd00::1".parse().unwrap();
    nic.set_local_addresses(&[ip(9), v6, ip(9)]).unwrap();
    net.run_until_idle();
    assert!(nic.is_local_address(&ip(9)));
    assert!(nic.is_local_address(&v6));
    assert!(!nic.is_local_address(&ip(1)));
    let gids = net
        .with_device(ip(1), |d| d.gids.iter().filter(|g| g.is_some()).count())
        .unwrap();
    assert_eq!(gids, 2);
    nic.set_local_addresses(&[]).unwrap();
    net.run_until_idle();
    let gids = net
        .with_device(ip(1), |d| d.gids.iter().filter(|g| g.is_some()).count())
        .unwrap();
    assert_eq!(gids, 0);
    assert!(!nic.is_local_address(&ip(9)));
    let too_many: Vec<IpAddr> = (0..=64u32)
        .map(|i| {
            IpAddr::V6(core::net::Ipv6Addr::from(
                0xfd00_u128 << 112 | u128::from(i),
            ))
        })
        .collect();
    assert_eq!(
        nic.set_local_addresses(&too_many),
        Err(HalError::ImplementationLimit)
    );
}

/// An IPv4 / UDP frame to `dst:port` with a 32-byte payload (UDP checksum 0).
fn udp_frame(dst_mac: [u8; 6], src_mac: [u8; 6], dst: [u8; 4], port: u16) -> Vec<u8> {
    use super::wire::ip::internet_checksum;
    let mut udp = Vec::new();
    udp.extend_from_slice(&50000u16.to_be_bytes());
    udp.extend_from_slice(&port.to_be_bytes());
    udp.extend_from_slice(&40u16.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&[0x5A; 32]);
    let mut ip = std::vec![0x45u8, 0];
    ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1]);
    ip.extend_from_slice(&dst);
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&udp);
    f
}

#[test]
fn rocev2_to_our_address_stays_with_the_rdma_engine() {
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let a = Eth::new(net.add_nic(ip(1)), 8, 1);
    let mut b = Eth::new(net.add_nic(ip(2)), 8, 2);
    let (amac, bmac) = (a.nic.mac_address(), b.nic.mac_address());
    b.nic.set_eth_filter(EthFilter::PROMISCUOUS).unwrap();
    for s in 0..8 {
        b.post_rx(s).unwrap();
    }
    b.ring();
    // UDP 4791 to B's address: the RDMA engine's (a malformed BTH: counted and dropped).
    net.inject_frame(ip(2), &udp_frame(bmac, amac, [10, 0, 0, 2], 4791));
    net.run_until_idle();
    assert!(b.poll().is_empty());
    let st = net.stats(ip(2)).unwrap();
    assert_eq!(st.rx_frames, 1);
    assert_eq!(st.raw_rx_frames, 0);
    // UDP 4791 to an address not in the GID table, and UDP to another port: ordinary frames.
    let other_ip = udp_frame(bmac, amac, [10, 0, 0, 77], 4791);
    let other_port = udp_frame(bmac, amac, [10, 0, 0, 2], 4792);
    net.inject_frame(ip(2), &other_ip);
    net.inject_frame(ip(2), &other_port);
    net.run_until_idle();
    let got = b.poll();
    assert_eq!(got.len(), 2);
    for (c, want) in got.iter().zip([&other_ip, &other_port]) {
        let EthCompletion::Received { token, len, ok } = *c else {
            panic!()
        };
        assert!(ok);
        assert_eq!(&b.rx_bytes(token as usize, len), want);
    }
    assert_eq!(net.stats(ip(2)).unwrap().rx_frames, 1);
}
