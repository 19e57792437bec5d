//! The NDIS miniport glue with the RoCEv2 silicon, host-tested against the fake NDIS: every
//! call goes through the function pointers the driver registered (ndkpi.md §8, §9).

use std::net::{IpAddr, SocketAddr};

use ndk_provider::abi::*;
use ndk_provider::miniport::ethernet::RECEIVE_RING_DEPTH;
use ndk_provider::miniport::fake::{FakeAdapterState, FakeNdis};
use ndk_provider::miniport::ndk::MISSING_COUNTER_MASK;
use ndk_tests::miniport::{connect, frame, listen, nic, start_connect, Endpoint, Rig};
use ndk_tests::Event;

use hal::{EthernetPort, NicHal};

fn no_violations() {
    let v = FakeNdis::violations();
    assert!(v.is_empty(), "NDIS contract violations: {v:#?}");
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

// ---------------------------------------------------------------------------------------
// §8.1 registration
// ---------------------------------------------------------------------------------------

#[test]
fn driver_entry_registers_the_miniport_and_set_options_the_ndk_characteristics() {
    let _rig = Rig::new();
    assert!(FakeNdis::driver_registered());
    let c = FakeNdis::driver_characteristics().expect("characteristics");
    assert_eq!(
        c.Header.Type,
        NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS
    );
    assert_eq!(c.MajorNdisVersion, 6);
    assert!(c.MinorNdisVersion >= 30, "NDK needs NDIS 6.30+");
    assert!(c.SetOptionsHandler.is_some() && c.OidRequestHandler.is_some());
    let ndk = FakeNdis::ndk_characteristics().expect("NdisSetOptionalHandlers from SetOptions");
    assert_eq!(
        ndk.Header.Type,
        NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS
    );
    assert_eq!(
        ndk.Header.Revision,
        NDIS_NDK_PROVIDER_CHARACTERISTICS_REVISION_1
    );
    assert_eq!(ndk.Header.Size, 0x18);
    assert_eq!(ndk.Flags, 0);
    let calls = FakeNdis::calls();
    let reg = calls
        .iter()
        .position(|c| *c == "NdisMRegisterMiniportDriver")
        .unwrap();
    let opt = calls
        .iter()
        .position(|c| *c == "NdisSetOptionalHandlers")
        .unwrap();
    assert!(reg < opt, "SetOptions runs inside the registration");
    FakeNdis::unload();
    assert!(!FakeNdis::driver_registered(), "unload deregisters");
    no_violations();
}

// ---------------------------------------------------------------------------------------
// §8.2 attributes
// ---------------------------------------------------------------------------------------

#[test]
fn initialize_sets_general_and_ndk_attributes_from_the_hal() {
    let rig = Rig::new();
    let mp = rig.adapter("10.0.0.1", None);
    let a = FakeNdis::attributes(mp.id);
    let reg = a.registration.expect("registration attributes");
    assert_eq!(reg.MiniportAdapterContext, FakeNdis::adapter_context(mp.id));
    assert_ne!(reg.AttributeFlags & NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER, 0);
    let g = a.general.expect("general attributes");
    assert_eq!(g.MediaType, NdisMedium802_3);
    assert_eq!(g.MtuSize, nic(&mp).mtu());
    assert_eq!(g.PermanentMacAddress[..6], mp.bare.mac());
    assert_eq!(g.CurrentMacAddress[..6], mp.bare.mac());
    for oid in [
        OID_NDK_SET_STATE,
        OID_NDK_STATISTICS,
        OID_NDK_CONNECTIONS,
        OID_NDK_LOCAL_ENDPOINTS,
    ] {
        assert!(
            a.supported_oids.contains(&oid),
            "{oid:#x} in SupportedOidList"
        );
    }
    let ndk = a.ndk.expect("NDK attributes");
    assert!(ndk.enabled, "*NetworkDirect defaults to 1");
    let caps = ndk.capabilities.expect("capabilities");
    let hal = nic(&mp).caps().clone();
    assert_eq!(caps.Header.Size, NDIS_SIZEOF_NDK_CAPABILITIES_REVISION_1);
    assert_eq!(caps.MaxQpCount, hal.max_qp_count);
    assert_eq!(caps.MaxCqCount, hal.max_cq_count);
    assert_eq!(caps.MaxMrCount, hal.max_mr_count);
    assert_eq!(caps.MaxPdCount, hal.max_pd_count);
    assert_eq!(caps.MaxMwCount, hal.max_mw_count);
    assert_eq!(caps.MaxSrqCount, hal.max_srq_count);
    assert_eq!(caps.MissingCounterMask, MISSING_COUNTER_MASK);
    let info = ndk.adapter_info.expect("NDK_ADAPTER_INFO");
    assert_eq!(info.RdmaTechnology, NdkRoCEv2);
    assert_eq!(info.VendorId, hal.vendor_id);
    assert_eq!(info.MaxCqDepth, hal.max_cq_depth);
    FakeNdis::halt(mp.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn network_direct_0_reports_ndk_disabled_and_refuses_opens() {
    let rig = Rig::new();
    let mp = rig.adapter("10.0.0.1", Some(0));
    let ndk = FakeNdis::attributes(mp.id)
        .ndk
        .expect("NDK attributes even when disabled");
    assert!(!ndk.enabled);
    assert!(ndk.capabilities.is_some());
    assert_eq!(
        FakeNdis::open_ndk(mp.id, NDK_VERSION::new(2, 1)),
        Err(NDIS_STATUS_ADAPTER_NOT_READY)
    );
    // OID_NDK_SET_STATE(TRUE) cannot enable what the keyword forbids.
    assert_eq!(FakeNdis::oid_set(mp.id, OID_NDK_SET_STATE, &[1]), Ok(()));
    FakeNdis::run_work_items();
    assert!(FakeNdis::pnp_events(mp.id).is_empty());
    assert_eq!(
        FakeNdis::open_ndk(mp.id, NDK_VERSION::new(2, 1)),
        Err(NDIS_STATUS_ADAPTER_NOT_READY)
    );
    FakeNdis::halt(mp.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

// ---------------------------------------------------------------------------------------
// General OIDs
// ---------------------------------------------------------------------------------------

#[test]
fn mandatory_general_oids_answer_with_the_device_values() {
    let rig = Rig::new();
    let mp = rig.adapter("10.0.0.1", None);
    let mtu = nic(&mp).mtu();
    let q = |oid, len| {
        FakeNdis::oid_query(mp.id, oid, len).unwrap_or_else(|s| panic!("{oid:#x}: {s:#x}"))
    };
    assert_eq!(q(OID_802_3_PERMANENT_ADDRESS, 6), mp.bare.mac());
    assert_eq!(q(OID_802_3_CURRENT_ADDRESS, 6), mp.bare.mac());
    assert_eq!(
        u32_at(&q(OID_GEN_MEDIA_SUPPORTED, 4), 0),
        NdisMedium802_3 as u32
    );
    assert_eq!(
        u32_at(&q(OID_GEN_MEDIA_IN_USE, 4), 0),
        NdisMedium802_3 as u32
    );
    assert_eq!(u32_at(&q(OID_GEN_MAXIMUM_FRAME_SIZE, 4), 0), mtu);
    assert_eq!(u32_at(&q(OID_GEN_MAXIMUM_TOTAL_SIZE, 4), 0), mtu + 14);
    assert_eq!(
        u32_at(&q(OID_GEN_HARDWARE_STATUS, 4), 0),
        NdisHardwareStatusReady as u32
    );
    assert_eq!(
        u32_at(&q(OID_GEN_CURRENT_PACKET_FILTER, 4), 0),
        NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST
    );
    let desc = q(OID_GEN_VENDOR_DESCRIPTION, 256);
    assert_eq!(desc.last(), Some(&0), "NUL-terminated");
    assert!(!desc.is_empty());
    let list = q(OID_GEN_SUPPORTED_LIST, 4096);
    let oids: Vec<u32> = list.chunks_exact(4).map(|c| u32_at(c, 0)).collect();
    for oid in [
        OID_GEN_SUPPORTED_LIST,
        OID_802_3_CURRENT_ADDRESS,
        OID_GEN_MAXIMUM_FRAME_SIZE,
        OID_NDK_SET_STATE,
        OID_NDK_STATISTICS,
        OID_NDK_CONNECTIONS,
        OID_NDK_LOCAL_ENDPOINTS,
    ] {
        assert!(oids.contains(&oid), "{oid:#x} in OID_GEN_SUPPORTED_LIST");
    }
    let stats = q(OID_GEN_STATISTICS, 512);
    assert_eq!(stats.len(), std::mem::size_of::<NDIS_STATISTICS_INFO>());
    // Too short: BUFFER_TOO_SHORT with BytesNeeded, nothing written.
    let mut short = [0u8; 3];
    let r = FakeNdis::oid_request(
        mp.id,
        NdisRequestQueryInformation,
        OID_802_3_CURRENT_ADDRESS,
        0,
        &mut short,
        0,
        false,
    );
    assert_eq!(r.status, NDIS_STATUS_BUFFER_TOO_SHORT);
    assert_eq!(r.bytes_needed, 6);
    assert_eq!(r.bytes_written, 0);
    let mut short = [0u8; 8];
    let r = FakeNdis::oid_request(
        mp.id,
        NdisRequestQueryInformation,
        OID_GEN_SUPPORTED_LIST,
        0,
        &mut short,
        0,
        false,
    );
    assert_eq!(r.status, NDIS_STATUS_BUFFER_TOO_SHORT);
    assert_eq!(r.bytes_needed as usize, oids.len() * 4);
    assert_eq!(
        FakeNdis::oid_query(mp.id, 0x0DEA_DBEE, 64),
        Err(NDIS_STATUS_NOT_SUPPORTED)
    );
    // The direct OID path (≤ DISPATCH_LEVEL) answers queries and refuses sets.
    assert_eq!(
        FakeNdis::oid_query_direct(mp.id, OID_802_3_CURRENT_ADDRESS, 6),
        Ok(mp.bare.mac().to_vec())
    );
    let r = FakeNdis::oid_request(
        mp.id,
        NdisRequestSetInformation,
        OID_GEN_CURRENT_LOOKAHEAD,
        0,
        &mut 100u32.to_le_bytes(),
        0,
        true,
    );
    assert_eq!(r.status, NDIS_STATUS_NOT_SUPPORTED);
    assert_eq!(
        FakeNdis::oid_set(mp.id, OID_GEN_CURRENT_PACKET_FILTER, &[1, 0]),
        Err(NDIS_STATUS_INVALID_LENGTH)
    );
    FakeNdis::halt(mp.id);
    no_violations();
}

#[test]
fn network_layer_addresses_become_the_hal_local_addresses() {
    let rig = Rig::new();
    let mp = rig.adapter("10.0.0.1", None);
    let v6: IpAddr = "fd00::1".parse().unwrap();
    assert!(nic(&mp).is_local_address(&mp.ip));
    assert!(!nic(&mp).is_local_address(&v6));
    FakeNdis::oid_set(
        mp.id,
        OID_GEN_NETWORK_LAYER_ADDRESSES,
        &ndk_tests::miniport::address_list(&[mp.ip, v6]),
    )
    .unwrap();
    assert!(nic(&mp).is_local_address(&v6));
    FakeNdis::halt(mp.id);
    no_violations();
}

// ---------------------------------------------------------------------------------------
// §8.3 NDK enable state, §1.2 version negotiation
// ---------------------------------------------------------------------------------------

#[test]
fn ndk_set_state_false_disables_from_a_work_item_and_closes_open_adapters() {
    let rig = Rig::new();
    let mp = rig.adapter("10.0.0.1", None);
    let a1 = FakeNdis::open_ndk(mp.id, NDK_VERSION::new(2, 1)).expect("open");
    let a2 = FakeNdis::open_ndk(mp.id, NDK_VERSION::new(1, 2)).expect("open");
    assert!(!a1.is_null() && !a2.is_null() && a1 != a2);
    let r = FakeNdis::oid_request(
        mp.id,
        NdisRequestSetInformation,
        OID_NDK_SET_STATE,
        0,
        &mut [0u8],
        0,
        false,
    );
    assert_eq!(
        r.status, NDIS_STATUS_SUCCESS,
        "synchronous success, never PENDING"
    );
    assert_eq!(r.bytes_read, 1);
    assert!(
        !FakeNdis::calls().contains(&"NdisMNetPnPEvent"),
        "no PnP event from inside the OID"
    );
    assert_eq!(FakeNdis::queued_work_items(), 1);
    assert_eq!(
        FakeNdis::open_ndk_adapters(mp.id),
        2,
        "closed by NDIS, later"
    );
    assert!(FakeNdis::run_work_items() >= 1);
    assert_eq!(FakeNdis::pnp_events(mp.id), vec![NetEventNDKDisable]);
    assert_eq!(FakeNdis::open_ndk_adapters(mp.id), 0, "NDIS closed them");
    assert_eq!(
        FakeNdis::open_ndk(mp.id, NDK_VERSION::new(2, 1)),
        Err(NDIS_STATUS_ADAPTER_NOT_READY)
    );
    // TRUE: enabled again, announced, opens work.
    FakeNdis::oid_set(mp.id, OID_NDK_SET_STATE, &[1]).unwrap();
    FakeNdis::run_work_items();
    assert_eq!(FakeNdis::pnp_events(mp.id), vec![NetEventNDKEnable]);
    let a = FakeNdis::open_ndk(mp.id, NDK_VERSION::new(2, 1)).expect("open after enable");
    FakeNdis::close_ndk(mp.id, a);
    // A state already indicated queues nothing.
    FakeNdis::oid_set(mp.id, OID_NDK_SET_STATE, &[1]).unwrap();
    assert_eq!(FakeNdis::run_work_items(), 0);
    assert!(FakeNdis::pnp_events(mp.id).is_empty());
    assert_eq!(
        FakeNdis::oid_set(mp.id, OID_NDK_SET_STATE, &[]),
        Err(NDIS_STATUS_INVALID_LENGTH)
    );
    FakeNdis::halt(mp.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn open_handler_negotiates_the_version() {
    let rig = Rig::new();
    let mp = rig.adapter("10.0.0.1", None);
    for (asked, got) in [
        ((1, 1), (1, 2)),
        ((1, 2), (1, 2)),
        ((2, 0), (2, 1)),
        ((2, 1), (2, 1)),
    ] {
        let a = FakeNdis::open_ndk(mp.id, NDK_VERSION::new(asked.0, asked.1))
            .unwrap_or_else(|s| panic!("{asked:?}: {s:#x}"));
        // SAFETY: an open adapter; its header is the provider's.
        let v = unsafe { (*a).Header.Version };
        assert_eq!((v.Major, v.Minor), got, "asked {asked:?}");
        FakeNdis::close_ndk(mp.id, a);
    }
    for bad in [(3, 0), (0, 1), (1, 3), (2, 2)] {
        assert_eq!(
            FakeNdis::open_ndk(mp.id, NDK_VERSION::new(bad.0, bad.1)),
            Err(NDIS_STATUS_BAD_VERSION),
            "{bad:?}"
        );
    }
    FakeNdis::halt(mp.id);
    no_violations();
}

// ---------------------------------------------------------------------------------------
// Ethernet
// ---------------------------------------------------------------------------------------

const BROADCAST: [u8; 6] = [0xff; 6];

#[test]
fn frames_sent_on_one_miniport_are_indicated_on_the_other() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let sizes = [60usize, 61, 64, 128, 333, 1000, 1513, 1514];
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| frame(b.bare.mac(), a.bare.mac(), n, i as u8))
        .collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    FakeNdis::send(a.id, &refs);
    rig.pump();
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_SUCCESS; sizes.len()]);
    assert_eq!(FakeNdis::outstanding_sends(a.id), 0);
    assert_eq!(
        FakeNdis::received(b.id),
        frames,
        "identical bytes, in order"
    );
    // Broadcast reaches too; a frame for another MAC does not (directed filter).
    let bc = frame(BROADCAST, a.bare.mac(), 100, 7);
    let other = frame([2, 0, 0, 0, 0, 0x77], a.bare.mac(), 100, 8);
    FakeNdis::send(a.id, &[&bc, &other]);
    rig.pump();
    assert_eq!(FakeNdis::received(b.id), vec![bc]);
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn receive_buffers_are_returned_and_reposted_over_three_ring_depths() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let total = 3 * RECEIVE_RING_DEPTH as usize;
    let mut got = Vec::new();
    let mut want = Vec::new();
    // Bursts of 16: the ring never overflows while the consumer keeps up.
    for burst in 0..total / 16 {
        let frames: Vec<Vec<u8>> = (0..16)
            .map(|i| {
                frame(
                    b.bare.mac(),
                    a.bare.mac(),
                    60 + (burst * 16 + i) * 7,
                    i as u8,
                )
            })
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        FakeNdis::send(a.id, &refs);
        rig.pump();
        want.extend(frames);
        got.extend(FakeNdis::received(b.id));
        assert!(FakeNdis::sent(a.id)
            .iter()
            .all(|s| *s == NDIS_STATUS_SUCCESS));
    }
    assert_eq!(got.len(), total);
    assert_eq!(got, want);
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn packet_filter_and_multicast_list_select_what_is_indicated() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let other = frame([2, 0, 0, 0, 0, 0x77], a.bare.mac(), 100, 1);
    let mcast_addr = [0x01, 0x00, 0x5e, 0, 0, 1];
    let mcast = frame(mcast_addr, a.bare.mac(), 100, 2);
    FakeNdis::send(a.id, &[&other, &mcast]);
    rig.pump();
    assert!(
        FakeNdis::received(b.id).is_empty(),
        "directed + broadcast only"
    );
    // A multicast list with the MULTICAST filter admits multicast.
    FakeNdis::oid_set(b.id, OID_802_3_MULTICAST_LIST, &mcast_addr).unwrap();
    assert_eq!(
        FakeNdis::oid_query(b.id, OID_802_3_MULTICAST_LIST, 64),
        Ok(mcast_addr.to_vec())
    );
    let f = NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_MULTICAST;
    FakeNdis::oid_set(b.id, OID_GEN_CURRENT_PACKET_FILTER, &f.to_le_bytes()).unwrap();
    rig.net.inject_frame(b.ip, &other);
    FakeNdis::send(a.id, &[&mcast]);
    rig.pump();
    assert_eq!(FakeNdis::received(b.id), vec![mcast.clone()]);
    // Promiscuous admits everything.
    FakeNdis::oid_set(
        b.id,
        OID_GEN_CURRENT_PACKET_FILTER,
        &NDIS_PACKET_TYPE_PROMISCUOUS.to_le_bytes(),
    )
    .unwrap();
    rig.net.inject_frame(b.ip, &other);
    rig.pump();
    assert_eq!(FakeNdis::received(b.id), vec![other]);
    assert_eq!(
        FakeNdis::oid_set(
            b.id,
            OID_GEN_CURRENT_PACKET_FILTER,
            &0x8000u32.to_le_bytes()
        ),
        Err(NDIS_STATUS_NOT_SUPPORTED),
        "source routing / MAC frames"
    );
    assert_eq!(
        FakeNdis::oid_set(b.id, OID_802_3_MULTICAST_LIST, &[1, 2, 3]),
        Err(NDIS_STATUS_INVALID_LENGTH)
    );
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
}

#[test]
fn link_changes_are_indicated_as_ndis_status_link_state() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    assert!(rig.net.set_link(a.ip, false));
    rig.pump();
    let s = FakeNdis::link_state(a.id).expect("NDIS_STATUS_LINK_STATE");
    assert_eq!(s.MediaConnectState, MediaConnectStateDisconnected);
    assert_eq!(
        u32_at(
            &FakeNdis::oid_query(a.id, OID_GEN_MEDIA_CONNECT_STATUS, 4).unwrap(),
            0
        ),
        MediaConnectStateDisconnected as u32
    );
    assert!(rig.net.set_link(a.ip, true));
    rig.pump();
    let s = FakeNdis::link_state(a.id).expect("NDIS_STATUS_LINK_STATE");
    assert_eq!(s.MediaConnectState, MediaConnectStateConnected);
    assert!(s.XmitLinkSpeed > 0);
    FakeNdis::halt(a.id);
    no_violations();
}

#[test]
fn arp_from_a_peer_teaches_the_hal_its_neighbour() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let mut arp = Vec::new();
    arp.extend_from_slice(&BROADCAST);
    arp.extend_from_slice(&a.bare.mac());
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&a.bare.mac());
    arp.extend_from_slice(&[10, 0, 0, 1]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 0, 0, 2]);
    arp.resize(60, 0);
    FakeNdis::send(a.id, &[&arp]);
    rig.pump();
    assert_eq!(FakeNdis::received(b.id), vec![arp]);
    // The RDMA side of B now knows A's next hop: a connect from B to A resolves.
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
}

#[test]
fn pause_completes_sends_with_paused_and_restart_resumes() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    assert_eq!(FakeNdis::pause(a.id), NDIS_STATUS_SUCCESS);
    assert_eq!(FakeNdis::state(a.id), FakeAdapterState::Paused);
    let f = frame(b.bare.mac(), a.bare.mac(), 200, 1);
    FakeNdis::send(a.id, &[&f, &f]);
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_PAUSED; 2]);
    rig.pump();
    assert!(FakeNdis::received(b.id).is_empty());
    // A paused receiver indicates nothing.
    assert_eq!(FakeNdis::pause(b.id), NDIS_STATUS_SUCCESS);
    assert_eq!(FakeNdis::restart(a.id), NDIS_STATUS_SUCCESS);
    FakeNdis::send(a.id, &[&f]);
    rig.pump();
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_SUCCESS]);
    assert!(FakeNdis::received(b.id).is_empty(), "paused: not indicated");
    assert_eq!(FakeNdis::restart(b.id), NDIS_STATUS_SUCCESS);
    FakeNdis::send(a.id, &[&f]);
    rig.pump();
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_SUCCESS]);
    assert_eq!(FakeNdis::received(b.id), vec![f.clone()]);
    // Frames on the ring when the pause comes: it pends until they complete, then
    // NdisMPauseComplete (once).
    FakeNdis::send(a.id, &[&f, &f, &f]);
    assert_eq!(FakeNdis::outstanding_sends(a.id), 3);
    assert_eq!(FakeNdis::pause(a.id), NDIS_STATUS_PENDING);
    assert_eq!(FakeNdis::state(a.id), FakeAdapterState::Pausing);
    rig.pump();
    assert_eq!(FakeNdis::state(a.id), FakeAdapterState::Paused);
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_SUCCESS; 3]);
    assert_eq!(
        FakeNdis::calls()
            .iter()
            .filter(|c| **c == "NdisMPauseComplete")
            .count(),
        1
    );
    assert_eq!(FakeNdis::restart(a.id), NDIS_STATUS_SUCCESS);
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn initialize_failure_releases_everything_it_took() {
    let rig = Rig::new();
    let bare = rig.net.add_bare_nic("10.0.0.1".parse().unwrap());
    // Only BAR0: the silicon needs two memory BARs.
    let r = FakeNdis::add_device(ndk_provider::miniport::fake::FakeDevice {
        bars: bare.bars()[..1].to_vec(),
        msix_vectors: 4,
        keywords: Vec::new(),
        platform: rig.net.platform().clone(),
    });
    assert_eq!(r, Err(NDIS_STATUS_RESOURCE_CONFLICT));
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn halt_of_an_idle_adapter_frees_everything() {
    let rig = Rig::new();
    let before = rig.net.platform().live_dma();
    let mp = rig.adapter("10.0.0.1", None);
    assert!(FakeNdis::live_allocations() > 0);
    FakeNdis::halt(mp.id);
    assert_eq!(FakeNdis::state(mp.id), FakeAdapterState::Halted);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
    assert_eq!(
        rig.net.platform().live_dma(),
        before,
        "every DMA region returned"
    );
    FakeNdis::unload();
    no_violations();
}

// ---------------------------------------------------------------------------------------
// NDK through the miniport: RDMA, statistics, connections, endpoints
// ---------------------------------------------------------------------------------------

#[test]
fn rdma_between_two_miniports_and_the_ndk_oids_report_it() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let aa = FakeNdis::open_ndk(a.id, NDK_VERSION::new(2, 1)).expect("open a");
    let ab = FakeNdis::open_ndk(b.id, NDK_VERSION::new(2, 1)).expect("open b");
    let na = rig.node(&a, aa);
    let nb = rig.node(&b, ab);
    let mut ea = Endpoint::open(&na);
    let mut eb = Endpoint::open(&nb);
    connect(&na, &mut ea, &nb, &mut eb, 445);

    // A send with Ethernet traffic in flight both ways.
    let msg: Vec<u8> = (0..3000u32).map(|i| (i * 7 + 3) as u8).collect();
    ea.buf.write(0, &msg);
    assert_eq!(eb.post_receive(1, 4096, 4096), STATUS_SUCCESS);
    let f1 = frame(b.bare.mac(), a.bare.mac(), 1514, 1);
    let f2 = frame(a.bare.mac(), b.bare.mac(), 900, 2);
    FakeNdis::send(a.id, &[&f1]);
    assert_eq!(ea.post_send(2, 0, 3000), STATUS_SUCCESS);
    FakeNdis::send(b.id, &[&f2]);
    rig.pump();
    let ra = ea.poll();
    let rb = eb.poll();
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].Status, STATUS_SUCCESS);
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0].Status, STATUS_SUCCESS);
    assert_eq!(rb[0].BytesTransferred, 3000);
    let mut got = vec![0u8; 3000];
    eb.buf.read(4096, &mut got);
    assert_eq!(got, msg);
    assert_eq!(FakeNdis::received(b.id), vec![f1]);
    assert_eq!(FakeNdis::received(a.id), vec![f2]);
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_SUCCESS]);
    assert_eq!(FakeNdis::sent(b.id), vec![NDIS_STATUS_SUCCESS]);

    // Bulk Ethernet both ways (3 receive rings' worth) interleaved with RDMA sends: both
    // flows arrive whole.
    for round in 0..(3 * RECEIVE_RING_DEPTH as usize / 16) {
        let frames: Vec<Vec<u8>> = (0..16)
            .map(|i| frame(b.bare.mac(), a.bare.mac(), 60 + 91 * i, round as u8))
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let tag = (round as u8).wrapping_mul(17);
        ea.buf.write(0, &[tag; 512]);
        assert_eq!(eb.post_receive(100 + round, 4096, 512), STATUS_SUCCESS);
        FakeNdis::send(a.id, &refs);
        assert_eq!(ea.post_send(200 + round, 0, 512), STATUS_SUCCESS);
        rig.pump();
        assert_eq!(FakeNdis::received(b.id), frames, "round {round}");
        assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_SUCCESS; 16]);
        let (ra, rb) = (ea.poll(), eb.poll());
        assert_eq!((ra.len(), rb.len()), (1, 1), "round {round}");
        assert_eq!(
            (ra[0].Status, rb[0].Status),
            (STATUS_SUCCESS, STATUS_SUCCESS)
        );
        let mut got = [0u8; 512];
        eb.buf.read(4096, &mut got);
        assert_eq!(got, [tag; 512]);
    }

    // OID_NDK_STATISTICS (also through the direct OID path).
    let s = FakeNdis::oid_query_direct(a.id, OID_NDK_STATISTICS, 0x100).expect("stats a");
    assert_eq!(s.len(), 0xF8);
    let counters = 8; // Header + Flags
    assert_eq!(u64_at(&s, counters), 1, "Connect");
    assert_eq!(u64_at(&s, counters + 8), 0, "Accept");
    assert_eq!(u64_at(&s, counters + 32), 1, "ActiveConnection");
    let s = FakeNdis::oid_query(b.id, OID_NDK_STATISTICS, 0x100).expect("stats b");
    assert_eq!(u64_at(&s, counters), 0, "Connect");
    assert_eq!(u64_at(&s, counters + 8), 1, "Accept");
    assert_eq!(u64_at(&s, counters + 32), 1, "ActiveConnection");

    // OID_NDK_CONNECTIONS: short buffer first.
    let mut short = [0u8; 0x20];
    let r = FakeNdis::oid_request(
        a.id,
        NdisRequestQueryInformation,
        OID_NDK_CONNECTIONS,
        0,
        &mut short,
        0,
        false,
    );
    assert_eq!(r.status, NDIS_STATUS_BUFFER_TOO_SHORT);
    assert_eq!(r.bytes_needed, 0x10 + 0x40);
    let c = FakeNdis::oid_query(a.id, OID_NDK_CONNECTIONS, 0x100).expect("connections");
    assert_eq!(c.len(), 0x50);
    assert_eq!(c[0], NDIS_OBJECT_TYPE_DEFAULT);
    assert_eq!(c[1], NDIS_NDK_CONNECTIONS_REVISION_1);
    assert_eq!(u32_at(&c, 8), 1, "Count");
    let local = sockaddr_at(&c[0x10..]);
    let remote = sockaddr_at(&c[0x10 + 0x1C..]);
    assert_eq!(local.ip(), a.ip);
    assert_eq!(remote, SocketAddr::new(b.ip, 445));
    let c = FakeNdis::oid_query(b.id, OID_NDK_CONNECTIONS, 0x100).expect("connections b");
    assert_eq!(u32_at(&c, 8), 1);
    assert_eq!(sockaddr_at(&c[0x10..]), SocketAddr::new(b.ip, 445));
    assert_eq!(sockaddr_at(&c[0x10 + 0x1C..]).ip(), a.ip);

    // OID_NDK_LOCAL_ENDPOINTS: B's listener.
    let e = FakeNdis::oid_query(b.id, OID_NDK_LOCAL_ENDPOINTS, 0x100).expect("endpoints");
    assert_eq!(u32_at(&e, 8), 1, "Count");
    assert_eq!(e.len(), 0x10 + 0x24);
    assert_eq!(sockaddr_at(&e[0x10..]), SocketAddr::new(b.ip, 445));
    assert_eq!(e[0x10 + 0x1D], 1, "Listener");
    let e = FakeNdis::oid_query(a.id, OID_NDK_LOCAL_ENDPOINTS, 0x100).expect("endpoints a");
    assert_eq!(u32_at(&e, 8), 0);

    // A refused connect counts as ConnectFailure.
    let mut ef = Endpoint::open(&na);
    assert_eq!(start_connect(&na, &mut ef, b.ip, 9), STATUS_PENDING);
    let ev = na.wait_event(&ef.rec, "refused connect", |e| {
        matches!(e, Event::Request(_))
    });
    assert_ne!(ev, Event::Request(STATUS_SUCCESS));
    let s = FakeNdis::oid_query(a.id, OID_NDK_STATISTICS, 0x100).unwrap();
    assert_eq!(u64_at(&s, counters + 16), 1, "ConnectFailure");
    assert_eq!(u64_at(&s, counters), 1, "Connect unchanged");
    ef.close(&na);

    ea.close(&na);
    eb.close(&nb);
    // The consumer's handles on the NICs go before NDIS halts them.
    drop((na, nb));
    let c = FakeNdis::oid_query(a.id, OID_NDK_CONNECTIONS, 0x100).unwrap();
    assert_eq!(u32_at(&c, 8), 0, "closed connections are not listed");
    let e = FakeNdis::oid_query(b.id, OID_NDK_LOCAL_ENDPOINTS, 0x100).unwrap();
    assert_eq!(u32_at(&e, 8), 0, "closed listener is not listed");
    FakeNdis::close_ndk(a.id, aa);
    FakeNdis::close_ndk(b.id, ab);
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

/// (RequestContext, Type) of completions that must all be flushed (STATUS_CANCELLED) on the
/// Endpoint QP.
fn flushed(results: &[NDK_RESULT_EX]) -> Vec<(usize, NDK_OPERATION_TYPE)> {
    results
        .iter()
        .map(|r| {
            assert_eq!(
                r.Status, STATUS_CANCELLED,
                "RequestContext {:?}",
                r.RequestContext
            );
            assert_eq!(r.QPContext as usize, 0x5150);
            assert_eq!(r.BytesTransferred, 0);
            (r.RequestContext as usize, r.Type)
        })
        .collect()
}

fn sockaddr_at(b: &[u8]) -> SocketAddr {
    // SAFETY: `b` holds at least a SOCKADDR_INET's 28 bytes.
    assert!(b.len() >= 28);
    unsafe { ndk_provider::edge::sockaddr(b.as_ptr().cast(), 28) }.expect("sockaddr")
}

// ---------------------------------------------------------------------------------------
// Surprise removal
// ---------------------------------------------------------------------------------------

#[test]
fn surprise_removal_completes_outstanding_ndk_requests_then_halt_frees_everything() {
    let rig = Rig::new();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let aa = FakeNdis::open_ndk(a.id, NDK_VERSION::new(2, 1)).expect("open a");
    let ab = FakeNdis::open_ndk(b.id, NDK_VERSION::new(2, 1)).expect("open b");
    let na = rig.node(&a, aa);
    let nb = rig.node(&b, ab);
    let mut ea = Endpoint::open(&na);
    let mut eb = Endpoint::open(&nb);
    connect(&na, &mut ea, &nb, &mut eb, 445);
    // Outstanding on A: two posted receives, a listener, a pending connect to nowhere.
    assert_eq!(ea.post_receive(11, 0, 1024), STATUS_SUCCESS);
    assert_eq!(ea.post_receive(12, 1024, 1024), STATUS_SUCCESS);
    let mut el = Endpoint::open(&na);
    assert_eq!(listen(&na, &mut el, 4791), STATUS_SUCCESS);
    let mut ec = Endpoint::open(&na);
    ea.arm();
    ec.arm();
    rig.pump();
    // A connect to a host that never answers: pending when the device goes (nothing runs
    // the network in between, so it cannot time out first).
    let nowhere: IpAddr = "10.0.0.99".parse().unwrap();
    assert_eq!(start_connect(&na, &mut ec, nowhere, 445), STATUS_PENDING);
    assert!(ec.rec.take().is_empty(), "connect pending");

    // The function is gone: reads return all ones, the device no longer runs.
    assert!(rig.net.surprise_remove(a.ip));
    let notify = FakeNdis::driver_characteristics()
        .and_then(|c| c.DevicePnPEventNotifyHandler)
        .expect("DevicePnPEventNotifyHandler");
    let mut ev = NET_DEVICE_PNP_EVENT {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: NET_DEVICE_PNP_EVENT_REVISION_1,
            Size: NDIS_SIZEOF_NET_DEVICE_PNP_EVENT_REVISION_1,
        },
        PortNumber: 0,
        DevicePnPEvent: NdisDevicePnPEventSurpriseRemoved,
        InformationBuffer: std::ptr::null_mut(),
        InformationBufferLength: 0,
        NdisReserved: [0; 16],
    };
    // SAFETY: the miniport's handler with its context, as NDIS calls it.
    unsafe { notify(FakeNdis::adapter_context(a.id), &mut ev) };
    rig.pump();
    // Armed CQs are told (STATUS_INTERNAL_ERROR: device failed), exactly once.
    let notes: Vec<Event> = ea
        .rec
        .take()
        .into_iter()
        .filter(|e| matches!(e, Event::CqNotify(_)))
        .collect();
    assert_eq!(notes, vec![Event::CqNotify(STATUS_INTERNAL_ERROR)]);
    // The two posted receives complete once each, flushed (STATUS_CANCELLED), in post order:
    // the dead device writes no CQE, its driver flushes in software.
    assert_eq!(
        flushed(&ea.poll()),
        vec![(11, NdkOperationTypeReceive), (12, NdkOperationTypeReceive)]
    );
    // Requests posted after the removal are taken and flushed too, each once.
    assert_eq!(ea.post_send(21, 0, 64), STATUS_SUCCESS);
    assert_eq!(ea.post_receive(22, 2048, 1024), STATUS_SUCCESS);
    assert_eq!(ea.post_send(23, 64, 64), STATUS_SUCCESS);
    let later = flushed(&ea.poll());
    let of = |ty| -> Vec<usize> {
        later
            .iter()
            .filter(|(_, t)| *t == ty)
            .map(|(c, _)| *c)
            .collect()
    };
    assert_eq!(of(NdkOperationTypeSend), vec![21, 23], "post order");
    assert_eq!(of(NdkOperationTypeReceive), vec![22]);
    assert_eq!(later.len(), 3);
    assert!(ea.poll().is_empty(), "nothing twice");
    // A consumer that re-arms for requests posted after the removal is told at once (the
    // CQ error stays latched; the dead device raises nothing more).
    ea.arm();
    rig.pump();
    let notes: Vec<Event> = ea
        .rec
        .take()
        .into_iter()
        .filter(|e| matches!(e, Event::CqNotify(_)))
        .collect();
    assert_eq!(notes, vec![Event::CqNotify(STATUS_INTERNAL_ERROR)]);
    // New opens are refused; sends fail with ADAPTER_REMOVED.
    assert_eq!(
        FakeNdis::open_ndk(a.id, NDK_VERSION::new(2, 1)),
        Err(NDIS_STATUS_ADAPTER_NOT_READY)
    );
    let f = frame(b.bare.mac(), a.bare.mac(), 100, 1);
    FakeNdis::send(a.id, &[&f]);
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_ADAPTER_REMOVED]);

    // The consumer closes everything; the pending connect completes once, cancelled.
    let (ec_rec, el_rec, ea_rec) = (ec.rec.clone(), el.rec.clone(), ea.rec.clone());
    ec.close(&na);
    let connect_done: Vec<Event> = ec_rec
        .take()
        .into_iter()
        .filter(|e| matches!(e, Event::Request(_)))
        .collect();
    assert_eq!(connect_done.len(), 1, "{connect_done:?}");
    assert_ne!(connect_done[0], Event::Request(STATUS_SUCCESS));
    el.close(&na);
    ea.close(&na);
    rig.pump();
    assert!(
        ea_rec
            .take()
            .iter()
            .all(|e| !matches!(e, Event::CqNotify(_))),
        "no notification after close"
    );
    drop(na);
    FakeNdis::surprise_remove(a.id);
    assert_eq!(FakeNdis::state(a.id), FakeAdapterState::Halted);
    assert_eq!(FakeNdis::open_ndk_adapters(a.id), 0);
    rig.pump();
    assert!(ec_rec.take().is_empty() && el_rec.take().is_empty() && ea_rec.take().is_empty());

    eb.close(&nb);
    drop(nb);
    FakeNdis::close_ndk(b.id, ab);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}
