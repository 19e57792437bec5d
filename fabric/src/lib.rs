//! A deterministic virtual Ethernet fabric that joins any number of emulated NICs.
//!
//! The fabric behaves like an unmanaged switch with configurable, seeded impairments
//! (loss, duplication, reordering, delay) and optional pcap capture of every frame sent.
//! It is test infrastructure: it owns no threads and never reads the wall clock. Time is
//! *virtual*: every call that needs a time takes `now_ns` from the caller's simulation
//! loop, and [`Fabric::next_due`] tells the loop when the next frame becomes deliverable
//! so it can jump time forward while idle.
//!
//! ```
//! use fabric::{Fabric, Impairments};
//!
//! let fabric = Fabric::new(Impairments { delay_ns: (1_000, 1_000), ..Impairments::default() });
//! let a = fabric.attach([2, 0, 0, 0, 0, 1]);
//! let b = fabric.attach([2, 0, 0, 0, 0, 2]);
//!
//! // dst MAC, src MAC, ethertype, payload (no FCS).
//! let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5];
//! frame.extend_from_slice(b"hello");
//! a.send(&frame, 0);
//!
//! assert!(b.recv(999).is_none()); // not due yet
//! assert_eq!(fabric.next_due(), Some(1_000));
//! let got = b.recv(1_000).expect("due at 1000 ns");
//! assert_eq!(got.payload(), b"hello");
//! assert_eq!(got.src(), [2, 0, 0, 0, 0, 1]);
//! ```
//!
//! # Model
//!
//! * **Ports.** [`Fabric::attach`] adds a port with a MAC address and returns a cheap,
//!   cloneable [`Port`] handle. A port has one receive queue ordered by due time.
//! * **Forwarding.** A frame whose destination MAC has the group bit set (broadcast
//!   `ff:ff:ff:ff:ff:ff` and any multicast address) is flooded to every other attached
//!   port. A unicast frame goes to every *other* port whose MAC equals the destination (the
//!   fabric never hairpins a frame back to its sender). A frame with no receiver is dropped
//!   and counted as [`Stats::unroutable`]. The source MAC inside the frame is not checked.
//! * **Impairments** ([`Impairments`]) are drawn independently for each copy of a frame
//!   (each receiving port), from one seeded generator owned by the fabric, in a fixed
//!   order (ports in attach order). The same seed and the same sequence of calls give the
//!   same result, bit for bit.
//! * **Delay and order.** A copy sent at `now_ns` is due at `now_ns + delay`, with `delay`
//!   drawn uniformly from `delay_ns.0..=delay_ns.1`. Delay jitter never reorders frames on
//!   its own: a copy is never due before the previous copy on the same (sender, receiver)
//!   path, so frames of a path stay in FIFO order unless explicitly reordered. Copies due
//!   at the same time are delivered in send order.
//! * **Reordering** is an explicit swap: a copy picked for reordering (probability
//!   `reorder`) trades places (due time and queue position) in the receiver's queue with
//!   the copy from the same sender just ahead of it, i.e. the last one still in flight on
//!   that path, so the new frame overtakes it and the overtaken frame takes the new frame's
//!   due time. If no such copy is in flight, nothing is reordered and nothing is counted;
//!   with zero delay and a loop that receives after every send, there is never anything to
//!   overtake. Every swap counts once in [`Stats::reordered`], and no other reordering
//!   ever happens (frames of other senders are never overtaken).
//! * **Duplication** adds a second copy right behind the first (same due time).
//! * **Link state.** [`Port::set_link`]`(false)` drops everything to and from the port:
//!   frames it sends, frames sent to it, and frames to or from it that are still in flight
//!   (counted in [`Stats::link_down`]). [`Fabric::detach`] does the same and removes the
//!   port for good.
//! * **Capture.** [`Fabric::capture_to`] and [`Fabric::capture_to_writer`] write a pcap
//!   (`LINKTYPE_ETHERNET`, nanosecond timestamps) with one record for every call to
//!   [`Port::send`], at the send's `now_ns`, before routing, link checks and impairments:
//!   the capture shows what the devices transmitted, not what was delivered (lost frames are
//!   in it, duplicates are not added).
//!
//! # Wire codecs
//!
//! [`wire`] holds the Ethernet, IPv4 and IPv6 header codecs (and the checksum helpers) that
//! the emulated NICs share; their transport codecs build on them.
//!
//! # Device-model plumbing
//!
//! [`BarMemory`] (BAR registers a driver maps and a model samples), [`dma`] (bus-address
//! access to host memory on `hal::mock::MockPlatform`), [`control`] (CTRL, STATUS, interrupt
//! causes and the host ring registers), [`cq`] (completion queue, event and
//! admin ring producer / consumer logic), [`mr`] (memory registration address translation),
//! [`raw_queue`] (the raw Ethernet queue engine both
//! reference NICs implement) and [`network::Network`] (device models and their drivers on a
//! fabric with a virtual clock) are shared by the NIC models; [`testkit`] holds the test
//! bodies they share.
//!
//! # Counters
//!
//! [`Fabric::stats`] returns a [`Stats`] snapshot whose counters always balance:
//! `sent + fanout + duplicated == delivered + dropped + in_flight` (see
//! [`Stats::is_balanced`]).
// Only `mmio` and `dma` (device-model plumbing over host memory) use `unsafe`.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod capture;
pub mod control;
pub mod cq;
pub mod dma;
mod fabric;
mod frame;
mod impairments;
mod mmio;
pub mod mr;
pub mod network;
pub mod raw_queue;
mod stats;
pub mod testkit;
pub mod wire;

pub use fabric::{Fabric, Port, PortId};
pub use frame::Frame;
pub use impairments::Impairments;
pub use mmio::BarMemory;
pub use stats::Stats;

/// A 48-bit Ethernet MAC address, most significant byte first.
pub type Mac = [u8; 6];

/// The broadcast MAC address `ff:ff:ff:ff:ff:ff`.
pub const BROADCAST: Mac = [0xff; 6];

/// The length of an Ethernet header: destination MAC, source MAC, ethertype (no VLAN tag).
///
/// [`Port::send`] drops shorter frames (counted in [`Stats::malformed`]).
pub const ETH_HEADER_LEN: usize = 14;

/// The snapshot length of captures (256 KiB, far above any Ethernet jumbo frame): longer
/// frames are captured truncated to this length, and recorded with this length.
pub const CAPTURE_SNAPLEN: u32 = 262_144;

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

/// Reads the MAC address at `offset` in `data`, or all zeros if `data` is too short.
pub(crate) fn mac_at(data: &[u8], offset: usize) -> Mac {
    let mut mac = [0u8; 6];
    if let Some(bytes) = data.get(offset..offset + 6) {
        mac.copy_from_slice(bytes);
    }
    mac
}
