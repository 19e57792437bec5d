//! Device capabilities as data, the way irdma keeps per-generation limits in `hw_attrs`.

/// The RDMA transport a device speaks on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdmaTransport {
    /// iWARP (RDMAP / DDP / MPA over TCP).
    Iwarp,
    /// InfiniBand.
    InfiniBand,
    /// RoCE v1 (Ethernet).
    Roce,
    /// RoCE v2 (UDP/IP).
    RoceV2,
}

/// What the silicon supports. The provider derives `NDK_ADAPTER_INFO` from it and enforces
/// every limit before a request reaches the backend.
#[derive(Clone, Debug)]
pub struct DeviceCaps {
    /// PCI vendor id (reported as `VendorId`).
    pub vendor_id: u32,
    /// PCI device id.
    pub device_id: u32,
    /// Largest single memory registration in bytes.
    pub max_registration_size: u64,
    /// Largest memory window in bytes.
    pub max_window_size: u64,
    /// Fast-register page count that gives the most fast-register MRs (≥ 16).
    pub frmr_page_count: u32,
    /// Largest page count one fast-register MR can be initialized for.
    pub max_frmr_page_count: u32,
    /// Scatter/gather entries per initiator (send queue) request.
    pub max_initiator_sge: u32,
    /// Scatter/gather entries per receive request.
    pub max_receive_sge: u32,
    /// Scatter/gather entries per RDMA read request (iWARP sinks may allow only one).
    pub max_read_sge: u32,
    /// Largest total byte count of one send, receive, read or write.
    pub max_transfer_length: u32,
    /// Largest inline payload.
    pub max_inline_data: u32,
    /// Largest inbound RDMA read depth (IRD) per QP.
    pub max_inbound_read_limit: u32,
    /// Largest outbound RDMA read depth (ORD) per QP.
    pub max_outbound_read_limit: u32,
    /// Largest receive queue.
    pub max_receive_queue_depth: u32,
    /// Largest send (initiator) queue.
    pub max_initiator_queue_depth: u32,
    /// Largest shared receive queue; 0 when the device has none.
    pub max_srq_depth: u32,
    /// Largest completion queue.
    pub max_cq_depth: u32,
    /// Message size above which RDMA read/write beats send/receive.
    pub large_request_threshold: u32,
    /// Private data bytes a connect request carries.
    pub max_caller_data: u32,
    /// Private data bytes an accept or reject carries.
    pub max_callee_data: u32,
    /// Completion queues the device can hold.
    pub max_cq_count: u32,
    /// Queue pairs the device can hold.
    pub max_qp_count: u32,
    /// Shared receive queues the device can hold.
    pub max_srq_count: u32,
    /// Memory regions the device can hold.
    pub max_mr_count: u32,
    /// Memory windows the device can hold.
    pub max_mw_count: u32,
    /// Protection domains the device can hold.
    pub max_pd_count: u32,
    /// Wire transport.
    pub transport: RdmaTransport,
    /// Incoming data is placed in order (`NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED`).
    pub in_order_dma: bool,
    /// RDMA read sinks need no special rights.
    pub read_sink_not_required: bool,
    /// Completion interrupt moderation is implemented.
    pub cq_interrupt_moderation: bool,
    /// Completion queues can be resized.
    pub cq_resize: bool,
    /// Several engines process connections concurrently.
    pub multi_engine: bool,
    /// RDMA read can invalidate the local key of its first sink SGE.
    pub read_local_invalidate: bool,
    /// Connections to an address of the same device work.
    pub loopback_connections: bool,
}
