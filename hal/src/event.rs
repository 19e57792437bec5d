//! Asynchronous events and control-command completions.

use crate::{CmEvent, HalError};

/// Names one control command; returned in [`HalEvent::CommandComplete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdToken(pub u64);

/// Outcome of a control command: done now, or later through [`HalEvent::CommandComplete`].
#[derive(Debug)]
pub enum Cmd<T> {
    /// The command finished synchronously.
    Done(T),
    /// The command runs on the device; its result arrives as an event with the token.
    Pending,
}

/// Value a pending command completes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdValue {
    /// The command has no result value (destroy, modify, resize, deregister).
    Unit,
    /// A memory registration's keys `(lkey, rkey)`.
    Keys(u32, u32),
}

/// Why a CQ stopped working.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CqErrorKind {
    /// More completions arrived than the CQ holds.
    Overrun,
    /// The device failed.
    Fatal,
}

/// One entry of the device's event queue.
#[derive(Clone, Copy, Debug)]
// Events carry private data inline so queuing one never allocates.
#[allow(clippy::large_enum_variant)]
pub enum HalEvent {
    /// A control command that returned [`Cmd::Pending`] finished.
    CommandComplete {
        /// Token given with the command.
        token: CmdToken,
        /// Result.
        result: Result<CmdValue, HalError>,
    },
    /// An armed CQ has a completion that satisfies the arm.
    CqNotify {
        /// Context the CQ was created with.
        cq_ctx: u64,
    },
    /// A CQ failed; it and its QPs are unusable.
    CqError {
        /// Context the CQ was created with.
        cq_ctx: u64,
        /// What happened.
        kind: CqErrorKind,
    },
    /// The number of queued SRQ receives fell below the armed limit.
    SrqLimit {
        /// Context the SRQ was created with.
        srq_ctx: u64,
    },
    /// An SRQ failed.
    SrqError {
        /// Context the SRQ was created with.
        srq_ctx: u64,
    },
    /// A QP entered the error state on its own (remote error, retry exhaustion).
    QpError {
        /// Context the QP was created with.
        qp_ctx: u64,
    },
    /// A connection management event.
    Cm(CmEvent),
    /// The raw Ethernet queue created with `ctx` has a completion after
    /// [`crate::EthernetPort::arm_eth`].
    EthNotify {
        /// Context the queue was created with.
        ctx: u64,
    },
    /// The device failed; every object is unusable.
    DeviceFatal,
    /// The device was surprise-removed.
    DeviceRemoved,
}
