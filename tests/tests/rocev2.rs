//! Tests only the reference RoCEv2 NIC can run: they use the device model's network
//! ([`hal_roce::model::Network`]) to take a link down, count what the wire did, and capture
//! the frames for tshark (the generic bodies are in `wire/`, shared with `iwarp.rs`).
//! Everything else is driven through the NDK dispatch tables.
//!
//! ```sh
//! cargo test -p ndk-tests --test rocev2
//! ```

mod wire;

use std::collections::BTreeSet;

use hal_roce::model::network::Rnicr2;
use wire::num;

#[test]
fn a_peer_whose_link_goes_down_gives_io_timeout_then_cancelled_and_one_disconnect_event() {
    wire::link_down_gives_io_timeout_then_cancelled_and_one_disconnect_event::<Rnicr2>();
}

#[test]
fn a_peer_removed_from_the_network_gives_io_timeout_then_cancelled_and_one_disconnect_event() {
    wire::peer_removed_gives_io_timeout_then_cancelled_and_one_disconnect_event::<Rnicr2>();
}

#[test]
fn loss_duplication_and_reordering_really_happen_on_the_wire_and_every_byte_arrives_once() {
    wire::impairments_really_happen_on_the_wire::<Rnicr2>();
}

#[test]
fn a_capture_of_connect_send_write_read_and_disconnect_dissects_as_rocev2() {
    if wire::tshark().is_none() {
        println!("tshark not found: skipped");
        return;
    }
    let file = std::env::temp_dir().join(format!("ndk-rocev2-{}.pcap", std::process::id()));
    wire::capture_connect_send_write_read_disconnect::<Rnicr2>(&file);

    let frames = wire::tshark_fields(
        &file,
        &[],
        &[
            "frame.protocols",
            "infiniband.bth.opcode",
            "infiniband.mad.attributeid",
        ],
    );
    assert!(!frames.is_empty(), "frames captured");
    let mut opcodes = BTreeSet::new();
    let mut attrs = BTreeSet::new();
    for f in &frames {
        assert!(
            f[0].starts_with("eth:ethertype:ip:udp:infiniband"),
            "a RoCEv2 frame: {}",
            f[0]
        );
        opcodes.extend(f[1].split(',').filter_map(num));
        attrs.extend(f[2].split(',').filter_map(num));
    }
    println!(
        "{} frames, BTH opcodes {opcodes:?}, CM attributes {attrs:x?}",
        frames.len()
    );
    // RC SEND_ONLY, RDMA_WRITE_ONLY, RDMA_READ_REQUEST, RDMA_READ_RESPONSE_ONLY, ACKNOWLEDGE,
    // UD SEND_ONLY (the CM MADs on QP1).
    for o in [0x04, 0x0A, 0x0C, 0x10, 0x11, 0x64] {
        assert!(opcodes.contains(&o), "BTH opcode {o:#x} in {opcodes:x?}");
    }
    // ConnectRequest, ConnectReply, ReadyToUse, DisconnectRequest, DisconnectReply.
    for id in [0x10, 0x13, 0x14, 0x15, 0x16] {
        assert!(attrs.contains(&id), "CM attribute {id:#06x} in {attrs:x?}");
    }
    wire::assert_nothing_malformed(&file, &[]);
    let _ = std::fs::remove_file(&file);
}
