//! The conformance suite (`conformance/`) on the reference RoCEv2 NIC: the real `hal-roce`
//! driver programming the device model of its silicon, which puts RoCEv2 frames on a virtual
//! Ethernet between the two NICs.
//!
//! ```sh
//! cargo test -p ndk-tests --test conformance_rocev2
//! ```

mod conformance;

use ndk_tests::RoceBackend;

conformance::suite!(rocev2, RoceBackend);
