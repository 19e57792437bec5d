//! The NDIS miniport glue with the iWARP silicon (`hal_iwarp::Iwarp`), host-tested against the fake
//! NDIS over bare RNIC-W1 device models: the glue is generic over the silicon, so the same
//! load, initialize, Ethernet and NDK paths run with `hal_iwarp` behind them (ndkpi.md §8,
//! §9).

use hal::mock::MockPlatform;
use hal::{EthernetPort, NicHal};
use hal_iwarp::model::Rnicw1;
use hal_iwarp::Iwarp;
use ndk_provider::abi::*;
use ndk_provider::miniport::fake::{FakeAdapterState, FakeNdis};
use ndk_provider::miniport::Silicon;
use ndk_tests::miniport::{connect, frame, listen, nic, Endpoint, Rig};
use ndk_tests::Event;

const BROADCAST: [u8; 6] = [0xff; 6];

fn rig() -> Rig<Rnicw1> {
    Rig::load()
}

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

#[test]
fn initialize_reports_iwarp_and_the_hal_caps() {
    let rig = rig();
    assert!(FakeNdis::driver_registered());
    assert!(FakeNdis::ndk_characteristics().is_some(), "NDK provider");
    let mp = rig.adapter("10.0.0.1", None);
    assert_eq!(FakeNdis::state(mp.id), FakeAdapterState::Running);
    let a = FakeNdis::attributes(mp.id);
    let g = a.general.expect("general attributes");
    assert_eq!(g.MediaType, NdisMedium802_3);
    assert_eq!(g.MtuSize, nic(&mp).mtu());
    assert_eq!(g.PermanentMacAddress[..6], mp.bare.mac());
    let ndk = a.ndk.expect("NDK attributes");
    assert!(ndk.enabled, "*NetworkDirect defaults to 1");
    let hal = nic(&mp).caps().clone();
    assert_eq!(hal.transport, hal::RdmaTransport::Iwarp);
    let caps = ndk.capabilities.expect("capabilities");
    assert_eq!(caps.MaxQpCount, hal.max_qp_count);
    assert_eq!(caps.MaxCqCount, hal.max_cq_count);
    assert_eq!(caps.MaxMrCount, hal.max_mr_count);
    let info = ndk.adapter_info.expect("NDK_ADAPTER_INFO");
    assert_eq!(info.RdmaTechnology, NdkiWarp);
    // RNIC-W1 places an RDMA Read Response in one sink segment (iwarp.md §1).
    assert_eq!(hal.max_read_sge, 1);
    assert_eq!(info.MaxReadRequestSge, 1);
    assert_eq!(info.VendorId, hal.vendor_id);
    assert_eq!(info.MaxCqDepth, hal.max_cq_depth);
    // The general OIDs name the iWARP silicon.
    let q = |oid, len| {
        FakeNdis::oid_query(mp.id, oid, len).unwrap_or_else(|s| panic!("{oid:#x}: {s:#x}"))
    };
    let mut desc = <Iwarp as Silicon<MockPlatform>>::VENDOR_DESCRIPTION
        .as_bytes()
        .to_vec();
    desc.push(0);
    assert_eq!(q(OID_GEN_VENDOR_DESCRIPTION, 256), desc);
    assert_eq!(
        u32_at(&q(OID_GEN_VENDOR_ID, 4), 0),
        <Iwarp as Silicon<MockPlatform>>::VENDOR_ID
    );
    assert_eq!(q(OID_802_3_CURRENT_ADDRESS, 6), mp.bare.mac());
    // The NDK adapter opens on it.
    let ad = FakeNdis::open_ndk(mp.id, NDK_VERSION::new(2, 1)).expect("open");
    assert_eq!(FakeNdis::open_ndk_adapters(mp.id), 1);
    FakeNdis::close_ndk(mp.id, ad);
    FakeNdis::halt(mp.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn frames_sent_on_one_iwarp_miniport_are_indicated_on_the_other() {
    let rig = rig();
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
    // And the other way.
    let back = frame(a.bare.mac(), b.bare.mac(), 900, 9);
    FakeNdis::send(b.id, &[&back]);
    rig.pump();
    assert_eq!(FakeNdis::received(a.id), vec![back]);
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

#[test]
fn rdma_send_between_two_iwarp_miniports() {
    let rig = rig();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let aa = FakeNdis::open_ndk(a.id, NDK_VERSION::new(2, 1)).expect("open a");
    let ab = FakeNdis::open_ndk(b.id, NDK_VERSION::new(2, 1)).expect("open b");
    rig.resolve(&a, &b);
    let na = rig.node(&a, aa);
    let nb = rig.node(&b, ab);
    let mut ea = Endpoint::open(&na);
    let mut eb = Endpoint::open(&nb);
    connect(&na, &mut ea, &nb, &mut eb, 445);

    // A send with Ethernet traffic in flight both ways: the offloaded TCP connection and
    // the host's frames share the port.
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
    assert_eq!(ra[0].RequestContext as usize, 2);
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0].Status, STATUS_SUCCESS);
    assert_eq!(rb[0].RequestContext as usize, 1);
    assert_eq!(rb[0].BytesTransferred, 3000);
    let mut got = vec![0u8; 3000];
    eb.buf.read(4096, &mut got);
    assert_eq!(got, msg);
    assert_eq!(FakeNdis::received(b.id), vec![f1]);
    assert_eq!(FakeNdis::received(a.id), vec![f2]);

    // The connection is counted and listed by the NDK OIDs.
    let counters = 8; // Header + Flags
    let s = FakeNdis::oid_query(a.id, OID_NDK_STATISTICS, 0x100).expect("stats a");
    assert_eq!(u64_at(&s, counters), 1, "Connect");
    assert_eq!(u64_at(&s, counters + 32), 1, "ActiveConnection");
    let s = FakeNdis::oid_query(b.id, OID_NDK_STATISTICS, 0x100).expect("stats b");
    assert_eq!(u64_at(&s, counters + 8), 1, "Accept");
    let c = FakeNdis::oid_query(a.id, OID_NDK_CONNECTIONS, 0x100).expect("connections");
    assert_eq!(u32_at(&c, 8), 1, "Count");

    ea.close(&na);
    eb.close(&nb);
    drop((na, nb));
    FakeNdis::close_ndk(a.id, aa);
    FakeNdis::close_ndk(b.id, ab);
    FakeNdis::halt(a.id);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}

/// The default `Silicon::surprise_removed` (one interrupt run) is enough for RNIC-W1: its ISR
/// sees the all-ones function and fails what is outstanding.
#[test]
fn surprise_removal_of_an_iwarp_miniport_flushes_its_requests() {
    let rig = rig();
    let a = rig.adapter("10.0.0.1", None);
    let b = rig.adapter("10.0.0.2", None);
    let aa = FakeNdis::open_ndk(a.id, NDK_VERSION::new(2, 1)).expect("open a");
    let ab = FakeNdis::open_ndk(b.id, NDK_VERSION::new(2, 1)).expect("open b");
    rig.resolve(&a, &b);
    let na = rig.node(&a, aa);
    let nb = rig.node(&b, ab);
    let mut ea = Endpoint::open(&na);
    let mut eb = Endpoint::open(&nb);
    connect(&na, &mut ea, &nb, &mut eb, 445);
    assert_eq!(ea.post_receive(11, 0, 1024), STATUS_SUCCESS);
    assert_eq!(ea.post_receive(12, 1024, 1024), STATUS_SUCCESS);
    let mut el = Endpoint::open(&na);
    assert_eq!(listen(&na, &mut el, 4791), STATUS_SUCCESS);
    ea.arm();
    rig.pump();
    assert!(ea.poll().is_empty());

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
    let notes: Vec<Event> = ea
        .rec
        .take()
        .into_iter()
        .filter(|e| matches!(e, Event::CqNotify(_)))
        .collect();
    assert_eq!(notes, vec![Event::CqNotify(STATUS_INTERNAL_ERROR)]);
    let flushed: Vec<(usize, NTSTATUS)> = ea
        .poll()
        .iter()
        .map(|r| (r.RequestContext as usize, r.Status))
        .collect();
    assert_eq!(
        flushed,
        vec![(11, STATUS_CANCELLED), (12, STATUS_CANCELLED)],
        "each posted receive once, in post order"
    );
    assert_eq!(
        FakeNdis::open_ndk(a.id, NDK_VERSION::new(2, 1)),
        Err(NDIS_STATUS_ADAPTER_NOT_READY)
    );
    let f = frame(b.bare.mac(), a.bare.mac(), 100, 1);
    FakeNdis::send(a.id, &[&f]);
    assert_eq!(FakeNdis::sent(a.id), vec![NDIS_STATUS_ADAPTER_REMOVED]);
    el.close(&na);
    ea.close(&na);
    drop(na);
    FakeNdis::surprise_remove(a.id);
    assert_eq!(FakeNdis::state(a.id), FakeAdapterState::Halted);
    assert_eq!(FakeNdis::open_ndk_adapters(a.id), 0);

    eb.close(&nb);
    drop(nb);
    FakeNdis::close_ndk(b.id, ab);
    FakeNdis::halt(b.id);
    no_violations();
    assert_eq!(FakeNdis::live_allocations(), 0);
}
