//! The porting contract of the NDK provider.
//!
//! `ndk-provider` owns every NDKPI rule (object lifetimes, validation, completion semantics,
//! connection state). A NIC vendor ports it by implementing [`NicHal`] for their silicon:
//! queue creation, WQE posting and doorbells, completion polling, memory registration,
//! events and connection establishment. The backend never sees an NDK type.
//!
//! The contract is split the way irdma splits its driver: a fast path (post, doorbell, poll)
//! on per-queue handles that the provider calls without locks, and a control path whose
//! commands may complete later through [`HalEvent::CommandComplete`], like a firmware
//! command queue.
//!
//! Platform services a driver needs (DMA memory, locks, time, deferred work) are behind
//! [`Platform`], so a backend runs unchanged in the kernel and in a test process.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod caps;
mod cm;
mod error;
mod ethernet;
mod event;
pub mod karc;
mod nic;
pub mod platform;
pub mod queue;
pub mod raw_eth;
pub mod ring;
pub mod silicon;
mod wr;

#[cfg(feature = "mock")]
pub mod fake_bar;
#[cfg(feature = "mock")]
pub mod mock;

pub use caps::{DeviceCaps, RdmaTransport};
pub use cm::{CmEvent, ConnId, PrivateData, MAX_PRIVATE_DATA};
pub use error::{HalError, HalResult};
pub use ethernet::{EthBuffer, EthCompletion, EthFilter, EthernetPort, LinkState, MAX_ETH_FRAGS};
pub use event::{Cmd, CmdToken, CmdValue, CqErrorKind, HalEvent};
pub use nic::{CqParts, MrKind, NicHal, QpParams, QpParts, Registration};
pub use platform::{DmaRegion, MmioRegion, Platform};
pub use wr::{
    Access, Completion, Payload, RecvWr, SendOp, SendWr, Sge, WcOpcode, WcStatus, WrFlags,
    MAX_INLINE_DATA, MAX_SGE,
};
