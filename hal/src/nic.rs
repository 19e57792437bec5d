//! The `NicHal` trait: everything the generic provider asks of a NIC backend.

use core::net::{IpAddr, SocketAddr};

use crate::karc::KFn;
use crate::{Access, Cmd, CmdToken, Completion, ConnId, DeviceCaps, HalEvent, HalResult};
use crate::{Platform, RecvWr, SendWr};

/// Parameters of a queue pair. Limits were checked against [`DeviceCaps`] by the provider.
pub struct QpParams<'a, H: NicHal + ?Sized> {
    /// Protection domain.
    pub pd: &'a H::Pd,
    /// CQ for initiator completions.
    pub send_cq: &'a H::Cq,
    /// CQ for receive completions (may be the same CQ).
    pub recv_cq: &'a H::Cq,
    /// Shared receive queue, instead of a receive queue of its own.
    pub srq: Option<&'a H::Srq>,
    /// Initiator queue depth.
    pub sq_depth: u32,
    /// Receive queue depth (ignored with an SRQ).
    pub rq_depth: u32,
    /// SGEs per initiator request.
    pub max_send_sge: u32,
    /// SGEs per receive request.
    pub max_recv_sge: u32,
    /// Inline bytes per initiator request.
    pub max_inline: u32,
    /// Reported in every completion of this QP as [`Completion::qp_context`].
    pub context: u64,
}

/// A created queue pair: a control handle and the two fast-path queues, split so the
/// provider can post sends and receives concurrently without a shared lock.
pub struct QpParts<H: NicHal + ?Sized> {
    /// Control handle (state changes, connection binding, destroy).
    pub qp: H::Qp,
    /// Send (initiator) queue.
    pub sq: H::Sq,
    /// Receive queue; `None` when the QP takes receives from an SRQ.
    pub rq: Option<H::Rq>,
}

/// A created completion queue: control handle and the polling side.
pub struct CqParts<H: NicHal + ?Sized> {
    /// Control handle (resize, moderation, destroy).
    pub cq: H::Cq,
    /// Polling and arming; the consumer serializes these.
    pub poller: H::CqPoller,
}

/// What an MR is for (`NdkCreateMr`'s `FastRegister` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MrKind {
    /// Registered from the host with [`NicHal::register_mr`].
    Registered,
    /// Registered by fast-register work requests on a QP.
    FastRegister,
}

/// A memory registration from a page list.
#[derive(Clone, Copy, Debug)]
pub struct Registration<'a> {
    /// Device logical addresses of consecutive `PAGE_SIZE` pages.
    pub pages: &'a [u64],
    /// Offset of the first byte inside the first page.
    pub first_byte_offset: u32,
    /// Virtual address of the first byte (an index; the device never dereferences it).
    pub iova: u64,
    /// Length in bytes.
    pub length: u64,
    /// Rights.
    pub access: Access,
}

/// The porting contract. One value per NIC function; every method may be called at
/// DISPATCH_LEVEL and must not block.
///
/// **Fast path**: `post_*`, `ring_sq`, `poll_cq` and `arm_cq` take the queue's own handle
/// by `&mut`; the provider serializes each queue as NDKPI lets consumers do, so a backend
/// needs no locks there and must not allocate.
///
/// **Control path**: creates, destroys and registrations return a handle at once and a
/// [`Cmd`]: `Done` when the device finished, or `Pending` when the device finishes later and
/// reports [`HalEvent::CommandComplete`] with the token. A pending object is not used for
/// anything but destroy until its command completes.
///
/// **Completions** are self-describing: the `wr_id` of the request and the context of its
/// QP, so completions of a destroyed QP that are still in a CQ can be reported.
///
/// **Ordering and exactly-once**: per queue, requests complete in post order. Each request
/// completes exactly once, with [`crate::WcStatus::Flushed`] when the QP went to the error
/// state first; unsignaled requests complete only on error. After [`NicHal::flush_qp`],
/// every outstanding and every later request is flushed.
///
/// **Events**: the backend queues [`HalEvent`]s and calls the interrupt handler given to
/// [`NicHal::attach_interrupt`] (from its DPC, or inline in a model); the provider then
/// drains [`NicHal::next_event`]. No event names an object after its destroy completed.
pub trait NicHal: Send + Sync + 'static {
    /// Host services.
    type Platform: Platform;
    /// Protection domain.
    type Pd: Send + Sync;
    /// Completion queue control handle.
    type Cq: Send + Sync;
    /// Completion queue polling side.
    type CqPoller: Send;
    /// Queue pair control handle.
    type Qp: Send + Sync;
    /// Send queue.
    type Sq: Send;
    /// Receive queue.
    type Rq: Send;
    /// Shared receive queue control handle.
    type Srq: Send + Sync;
    /// Shared receive queue posting side.
    type SrqPoster: Send;
    /// Memory region.
    type Mr: Send + Sync;
    /// Memory window.
    type Mw: Send + Sync;
    /// A listening address.
    type Listen: Send + Sync;

    /// Host services.
    fn platform(&self) -> &Self::Platform;
    /// Limits and features.
    fn caps(&self) -> &DeviceCaps;
    /// True when `addr` is an address of this device's network interface.
    fn is_local_address(&self, addr: &IpAddr) -> bool;
    /// Registers the function the backend calls when events are queued.
    /// The handler is a [`KFn`], allocated fallibly by the provider at initialization.
    fn attach_interrupt(&self, handler: KFn);
    /// Takes the next event off the device's event queue.
    fn next_event(&self) -> Option<HalEvent>;

    /// Allocates a protection domain.
    fn create_pd(&self) -> HalResult<Self::Pd>;
    /// Frees a protection domain with no objects left in it.
    fn destroy_pd(&self, pd: Self::Pd);

    /// Creates a CQ of at least `depth` entries; `ctx` is reported in its events.
    fn create_cq(
        &self,
        depth: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(CqParts<Self>, Cmd<()>)>;
    /// Resizes a CQ without losing completions; fails when they would not fit.
    fn resize_cq(
        &self,
        cq: &Self::Cq,
        poller: &mut Self::CqPoller,
        depth: u32,
        token: CmdToken,
    ) -> HalResult<Cmd<()>>;
    /// Destroys a CQ no QP uses any more.
    fn destroy_cq(&self, cq: CqParts<Self>, token: CmdToken) -> Cmd<()>;
    /// Harvests up to `out.len()` completions; returns how many.
    fn poll_cq(&self, poller: &mut Self::CqPoller, out: &mut [Completion]) -> usize;
    /// Requests one [`HalEvent::CqNotify`] for the next completion (`solicited_only`: the next
    /// solicited receive or error completion). Notifies at once if completions are waiting.
    fn arm_cq(&self, poller: &mut Self::CqPoller, solicited_only: bool);
    /// Interrupt moderation: at most one interrupt per `interval_us` or per `count`
    /// completions; `(0, 0)` turns it off.
    fn set_cq_moderation(&self, cq: &Self::Cq, interval_us: u32, count: u32) -> HalResult<()>;

    /// Creates an SRQ; `ctx` is reported in its events.
    fn create_srq(
        &self,
        pd: &Self::Pd,
        depth: u32,
        max_sge: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(Self::Srq, Self::SrqPoster, Cmd<()>)>;
    /// Changes the depth of an SRQ (0 keeps it).
    fn modify_srq(&self, srq: &Self::Srq, depth: u32, token: CmdToken) -> HalResult<Cmd<()>>;
    /// Arms a one-shot [`HalEvent::SrqLimit`] for when queued receives fall below `limit`;
    /// raised at once when they already are (ndkpi.md §7.5).
    fn arm_srq_limit(&self, srq: &Self::Srq, limit: u32);
    /// Number of receives queued on the SRQ.
    fn srq_queued(&self, srq: &Self::Srq) -> u32;
    /// Destroys an SRQ no QP uses any more.
    fn destroy_srq(&self, srq: Self::Srq, poster: Self::SrqPoster, token: CmdToken) -> Cmd<()>;
    /// Posts a receive to an SRQ and rings its doorbell.
    fn post_srq_recv(&self, srq: &mut Self::SrqPoster, wr: &RecvWr<'_>) -> HalResult<()>;

    /// Creates a QP in the reset state.
    fn create_qp(
        &self,
        params: &QpParams<'_, Self>,
        token: CmdToken,
    ) -> HalResult<(QpParts<Self>, Cmd<()>)>;
    /// Moves the QP to the error state: everything outstanding or posted later is flushed.
    fn flush_qp(&self, qp: &Self::Qp);
    /// Destroys a QP. Flushes first; completions already in CQs stay there.
    fn destroy_qp(&self, qp: QpParts<Self>, token: CmdToken) -> Cmd<()>;
    /// Writes an initiator WQE without ringing the doorbell.
    fn post_send(&self, sq: &mut Self::Sq, wr: &SendWr<'_>) -> HalResult<()>;
    /// Rings the send doorbell for every WQE written since the last ring.
    fn ring_sq(&self, sq: &mut Self::Sq);
    /// Posts a receive and rings the receive doorbell.
    fn post_recv(&self, rq: &mut Self::Rq, wr: &RecvWr<'_>) -> HalResult<()>;

    /// Allocates an MR and its keys.
    fn alloc_mr(&self, pd: &Self::Pd, kind: MrKind) -> HalResult<Self::Mr>;
    /// Registers a page list; completes with [`crate::CmdValue::Keys`]. The backend copies
    /// what it needs of `reg` before returning.
    fn register_mr(
        &self,
        mr: &Self::Mr,
        reg: &Registration<'_>,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>>;
    /// Undoes [`NicHal::register_mr`]; the MR may be registered again.
    fn deregister_mr(&self, mr: &Self::Mr, token: CmdToken) -> HalResult<Cmd<()>>;
    /// Prepares a fast-register MR for up to `max_pages` pages; completes with its keys.
    fn init_fast_register(
        &self,
        mr: &Self::Mr,
        max_pages: u32,
        remote_access: bool,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>>;
    /// Frees an MR (deregistered, or fast-register).
    fn free_mr(&self, mr: Self::Mr);
    /// Allocates a memory window and its remote key.
    fn alloc_mw(&self, pd: &Self::Pd) -> HalResult<(Self::Mw, u32)>;
    /// Frees a memory window.
    fn free_mw(&self, mw: Self::Mw);
    /// The key that marks an SGE address as a device logical address (the PD privileged token).
    fn privileged_lkey(&self) -> u32;

    /// Starts accepting connection requests on `addr`; `ctx` is reported in requests.
    fn cm_listen(&self, addr: SocketAddr, ctx: u64) -> HalResult<Self::Listen>;
    /// Stops listening; no request for it is reported afterwards.
    fn cm_stop_listen(&self, listen: Self::Listen);
    /// Starts a connection from `local` to `remote` for `qp`; `ctx` is reported in its events.
    #[allow(clippy::too_many_arguments)]
    fn cm_connect(
        &self,
        qp: &Self::Qp,
        local: SocketAddr,
        remote: SocketAddr,
        ird: u32,
        ord: u32,
        private_data: &[u8],
        ctx: u64,
    ) -> HalResult<ConnId>;
    /// Sets the context reported in events of a connection from a request.
    fn cm_attach(&self, conn: ConnId, ctx: u64);
    /// Passive side: accepts a request with `qp`.
    fn cm_accept(
        &self,
        conn: ConnId,
        qp: &Self::Qp,
        ird: u32,
        ord: u32,
        private_data: &[u8],
    ) -> HalResult<()>;
    /// Rejects a request (passive) or a reply (active).
    fn cm_reject(&self, conn: ConnId, private_data: &[u8]) -> HalResult<()>;
    /// Active side: completes the handshake after a reply; the QP becomes ready to send.
    fn cm_complete(&self, conn: ConnId) -> HalResult<()>;
    /// Starts a graceful disconnect; [`crate::CmEvent::DisconnectComplete`] follows.
    fn cm_disconnect(&self, conn: ConnId) -> HalResult<()>;
    /// Forgets a connection (aborting it if still up); no event for it follows.
    fn cm_release(&self, conn: ConnId);
}
