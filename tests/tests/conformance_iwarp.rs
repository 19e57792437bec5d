//! The conformance suite (`conformance/`) on the reference iWARP NIC: the real `hal-iwarp`
//! driver programming the device model of its silicon, which runs TCP, MPA, DDP and RDMAP on
//! a virtual Ethernet between the two NICs.
//!
//! ```sh
//! cargo test -p ndk-tests --test conformance_iwarp
//! ```

mod conformance;

use ndk_tests::IwarpBackend;

conformance::suite!(iwarp, IwarpBackend);
