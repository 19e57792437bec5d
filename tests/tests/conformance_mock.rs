//! The conformance suite (`conformance/`) on the mock NIC of `hal::mock`.
//!
//! Run one area or rule with a filter, e.g. the main job, a send / write / read exchange
//! between two emulated NICs through the NDK C ABI:
//!
//! ```sh
//! cargo test -p ndk-tests --test conformance_mock data_path -- --nocapture
//! ```

mod conformance;

use ndk_tests::MockBackend;

conformance::suite!(mock, MockBackend);

// The same suite with every control command of the mock pending and its interrupts delivered
// only when the network is pumped, as a real NIC behaves: the suite must wait, not assume.
use ndk_tests::AsyncMockBackend;

conformance::suite!(mock_async, AsyncMockBackend);
