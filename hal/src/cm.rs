//! Transport-neutral connection establishment: RoCEv2 backends speak IB CM over QP1, iWARP
//! backends TCP + MPA; the provider sees only these requests and events.

use core::net::SocketAddr;

/// Largest private data any connection message carries (IB CM REQ carries 92 bytes after
/// the RDMA CM header, REP 196; MPA allows 512). Fixed so events need no allocation.
pub const MAX_PRIVATE_DATA: usize = 512;

/// A backend's name for one connection attempt or connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// Private data of a connection message, stored inline.
#[derive(Clone, Copy)]
pub struct PrivateData {
    len: u16,
    bytes: [u8; MAX_PRIVATE_DATA],
}

impl PrivateData {
    /// No private data.
    pub const EMPTY: PrivateData = PrivateData {
        len: 0,
        bytes: [0; MAX_PRIVATE_DATA],
    };

    /// Copies `data`; `None` when it is longer than [`MAX_PRIVATE_DATA`].
    pub fn new(data: &[u8]) -> Option<PrivateData> {
        let mut pd = PrivateData::EMPTY;
        pd.bytes.get_mut(..data.len())?.copy_from_slice(data);
        pd.len = u16::try_from(data.len()).ok()?;
        Some(pd)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl core::fmt::Debug for PrivateData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("PrivateData")
            .field(&self.as_slice())
            .finish()
    }
}

/// Connection events, delivered through [`crate::HalEvent::Cm`]. `ctx` is the value the
/// provider attached to the listener or connection.
#[derive(Clone, Copy, Debug)]
// Events carry private data inline so queuing one never allocates.
#[allow(clippy::large_enum_variant)]
pub enum CmEvent {
    /// A peer asks to connect to a listening address.
    ConnectRequest {
        /// Context of the listen.
        listen_ctx: u64,
        /// The new connection; the provider attaches a context with `cm_attach`.
        conn: ConnId,
        /// Local address the request arrived on.
        local: SocketAddr,
        /// Peer address.
        remote: SocketAddr,
        /// Peer's inbound read limit (IRD).
        ird: u32,
        /// Peer's outbound read limit (ORD).
        ord: u32,
        /// Peer's private data.
        private_data: PrivateData,
    },
    /// The peer accepted our connect; waiting for `cm_complete` or `cm_reject`.
    ConnectReply {
        /// Connection context.
        ctx: u64,
        /// Peer's IRD.
        ird: u32,
        /// Peer's ORD.
        ord: u32,
        /// Peer's private data.
        private_data: PrivateData,
    },
    /// Our connect failed: refused, rejected (with private data), unreachable or timed out.
    ConnectFailed {
        /// Connection context.
        ctx: u64,
        /// Why.
        error: crate::HalError,
        /// Private data of a reject.
        private_data: PrivateData,
    },
    /// Passive side: the active side completed the handshake; the QP is ready to send.
    Established {
        /// Connection context.
        ctx: u64,
    },
    /// Passive side: the active side gave up or the handshake timed out.
    AcceptFailed {
        /// Connection context.
        ctx: u64,
        /// Why (`ConnectionAborted` or `Timeout`).
        error: crate::HalError,
    },
    /// The peer disconnected or the connection broke.
    PeerDisconnected {
        /// Connection context.
        ctx: u64,
        /// Backend-specific reason, 0 when none.
        reason: u32,
    },
    /// A local `cm_disconnect` finished: peer answered, or `error` when it timed out.
    DisconnectComplete {
        /// Connection context.
        ctx: u64,
        /// `None` when the peer acknowledged.
        error: Option<crate::HalError>,
    },
}
