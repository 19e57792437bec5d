//! Transport-neutral work requests and completions: what the provider hands a backend to
//! encode as a WQE, and what a backend decodes from a CQE.

use bitflags::bitflags;

/// Upper bound on scatter/gather entries in one work request; backends advertise at most this.
/// Lets the provider build a work request on the stack, so posting never allocates.
pub const MAX_SGE: usize = 16;
/// Upper bound on inline payload bytes; backends advertise at most this.
pub const MAX_INLINE_DATA: usize = 256;

/// One scatter/gather entry: an address in the space named by `lkey`.
///
/// With a key from a memory registration the address is a registered virtual address
/// (an index into the registration, never dereferenced by the host). With the device's
/// privileged key it is a device logical (bus) address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sge {
    /// Registered virtual address or logical address.
    pub addr: u64,
    /// Byte count.
    pub length: u32,
    /// Local key of the registration, or the privileged key.
    pub lkey: u32,
}

bitflags! {
    /// Access rights of a memory registration, memory window or fast registration.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Access: u32 {
        /// The device may write into the memory for local operations (receives, read sinks).
        const LOCAL_WRITE = 1 << 0;
        /// A peer may read the memory with RDMA read.
        const REMOTE_READ = 1 << 1;
        /// A peer may write the memory with RDMA write.
        const REMOTE_WRITE = 1 << 2;
        /// The memory may be the sink of an RDMA read.
        const READ_SINK = 1 << 3;
        /// Memory windows may be bound over this registration.
        const MW_BIND = 1 << 4;
    }
}

bitflags! {
    /// Per-request flags a WQE carries.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct WrFlags: u32 {
        /// Generate a completion on success (failures always complete).
        const SIGNALED = 1 << 0;
        /// Wait for earlier RDMA reads to finish before this request runs.
        const READ_FENCE = 1 << 1;
        /// Ask the peer to raise a solicited event with the matching receive.
        const SOLICITED = 1 << 2;
        /// RDMA read: invalidate the local key of the first sink SGE on success.
        const LOCAL_INVALIDATE = 1 << 3;
    }
}

/// Where a send's payload comes from.
#[derive(Clone, Copy, Debug)]
pub enum Payload<'a> {
    /// Gathered by the device from registered memory.
    Sgl(&'a [Sge]),
    /// Copied into the WQE now; the caller's buffer may be reused when the post returns.
    Inline(&'a [u8]),
}

/// The operation of an initiator (send queue) work request.
#[derive(Clone, Copy, Debug)]
pub enum SendOp<'a> {
    /// Send to the peer's next receive.
    Send {
        /// Data to send.
        payload: Payload<'a>,
        /// With `Some(rkey)` the peer invalidates that key before completing the receive.
        invalidate_rkey: Option<u32>,
    },
    /// RDMA write into peer memory.
    Write {
        /// Data to write.
        payload: Payload<'a>,
        /// Peer virtual address.
        remote_addr: u64,
        /// Peer remote key.
        rkey: u32,
    },
    /// RDMA read from peer memory into local sinks.
    Read {
        /// Local sink buffers.
        sgl: &'a [Sge],
        /// Peer virtual address.
        remote_addr: u64,
        /// Peer remote key.
        rkey: u32,
    },
    /// Register a page list on a fast-register MR.
    FastRegister {
        /// Key the MR was allocated with (both its lkey and rkey share the index).
        key: u32,
        /// Logical addresses of `PAGE_SIZE` pages.
        pages: &'a [u64],
        /// Offset of the first byte in the first page.
        first_byte_offset: u32,
        /// Virtual address the registration starts at.
        iova: u64,
        /// Byte length of the registration.
        length: u64,
        /// Rights of the registration.
        access: Access,
    },
    /// Bind a memory window to a range of a registered MR.
    Bind {
        /// Remote key of the window.
        mw_rkey: u32,
        /// Local key of the MR it is bound over.
        mr_lkey: u32,
        /// First virtual address of the window.
        addr: u64,
        /// Byte length of the window.
        length: u64,
        /// Remote rights of the window.
        access: Access,
    },
    /// Invalidate a fast-registered MR or a bound memory window.
    Invalidate {
        /// Key to invalidate.
        key: u32,
    },
}

/// An initiator work request.
#[derive(Clone, Copy, Debug)]
pub struct SendWr<'a> {
    /// Returned unchanged in the completion.
    pub wr_id: u64,
    /// What to do.
    pub op: SendOp<'a>,
    /// Completion and ordering flags.
    pub flags: WrFlags,
}

/// A receive work request (QP receive queue or SRQ).
#[derive(Clone, Copy, Debug)]
pub struct RecvWr<'a> {
    /// Returned unchanged in the completion.
    pub wr_id: u64,
    /// Buffers an incoming send scatters into.
    pub sgl: &'a [Sge],
}

/// What operation a completion reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WcOpcode {
    /// Send (with or without invalidate) on the initiator.
    Send,
    /// RDMA write on the initiator.
    Write,
    /// RDMA read on the initiator.
    Read,
    /// Fast register.
    FastRegister,
    /// Memory window bind.
    Bind,
    /// Local invalidate.
    Invalidate,
    /// Receive.
    Receive,
    /// Receive of a send-with-invalidate: `invalidated_rkey` names the key.
    ReceiveInvalidate,
}

/// Completion status, in the vocabulary of RC hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WcStatus {
    /// The request completed.
    Success,
    /// The request was flushed: the QP went to the error state before it ran.
    Flushed,
    /// SGEs add up to more than the device can move, or the message exceeds the sink.
    LocalLength,
    /// A local key, bound or access right check failed.
    LocalProtection,
    /// The incoming send did not fit the posted receive buffers.
    ReceiveOverflow,
    /// The peer rejected the access (bad key, bounds or rights).
    RemoteAccess,
    /// The peer found the request invalid.
    RemoteInvalidRequest,
    /// The peer's QP failed while processing it.
    RemoteOperation,
    /// Transport retries ran out (peer gone).
    RetryExceeded,
    /// The request was malformed (e.g. invalidate of an unbound window).
    BadRequest,
    /// The device failed internally.
    Fatal,
}

/// One harvested completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The `wr_id` of the request.
    pub wr_id: u64,
    /// The context the QP was created with.
    pub qp_context: u64,
    /// Outcome.
    pub status: WcStatus,
    /// Operation.
    pub opcode: WcOpcode,
    /// Bytes received (receives only).
    pub byte_len: u32,
    /// Key invalidated by a send-with-invalidate (`ReceiveInvalidate` only).
    pub invalidated_rkey: u32,
    /// Device-specific error detail; 0 on success.
    pub vendor_error: u32,
}

impl Completion {
    /// An all-zero record, for initializing completion arrays on the stack.
    pub const EMPTY: Completion = Completion {
        wr_id: 0,
        qp_context: 0,
        status: WcStatus::Success,
        opcode: WcOpcode::Send,
        byte_len: 0,
        invalidated_rkey: 0,
        vendor_error: 0,
    };
}
