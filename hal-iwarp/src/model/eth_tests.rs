//! Tests of bare NICs (brought up by hand over their BARs, as the NDIS glue does) and of the
//! raw Ethernet queue through the driver's `hal::EthernetPort`: the tests both reference NICs
//! share ([`fabric::testkit::raw_eth`]), run on RNIC-W1.

use super::device::Stats;
use super::network::Rnicw1;

fabric::impl_raw_eth_counters!(Stats);
fabric::raw_eth_tests!(Rnicw1);
