//! Flag constants: `NDK_OP_FLAG_*` (ndkpi.md §5.7), `NDK_MR_FLAG_*` (§5.8) and
//! `NDK_ADAPTER_FLAG_*` (§5.1), as raw `u32` values and as `bitflags` types.
//!
//! The ABI structs and function typedefs keep plain `u32` (`ULONG Flags`);
//! convert with `from_bits_retain` / `.bits()` at the boundary.

use bitflags::bitflags;

// --- NDK_OP_FLAG_* (ULONG Flags of work-request posts), ndkpi.md §5.7 -------

pub const NDK_OP_FLAG_SILENT_SUCCESS: u32 = 0x0000_0001;
pub const NDK_OP_FLAG_READ_FENCE: u32 = 0x0000_0002;
pub const NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT: u32 = 0x0000_0004;
pub const NDK_OP_FLAG_ALLOW_REMOTE_READ: u32 = 0x0000_0008;
pub const NDK_OP_FLAG_ALLOW_LOCAL_WRITE: u32 = 0x0000_0010;
/// 0x20 | ALLOW_LOCAL_WRITE: remote write implies local write.
pub const NDK_OP_FLAG_ALLOW_REMOTE_WRITE: u32 = 0x0000_0030;
pub const NDK_OP_FLAG_INLINE: u32 = 0x0000_0040;
pub const NDK_OP_FLAG_RDMA_READ_SINK: u32 = 0x0000_0080;
/// NDKPI 1.2+. Header value 0x100 (the NdkRead doc page's 0x200 is a doc error).
pub const NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE: u32 = 0x0000_0100;
/// NDKPI 1.2+.
pub const NDK_OP_FLAG_DEFER: u32 = 0x0000_0200;

// --- NDK_MR_FLAG_* (NdkRegisterMr Flags), ndkpi.md §5.8 ----------------------

/// Zero: local read is always implied, so this is not a bit (not in
/// [`NdkMrFlags`]).
pub const NDK_MR_FLAG_ALLOW_LOCAL_READ: u32 = 0x0000_0000;
pub const NDK_MR_FLAG_ALLOW_LOCAL_WRITE: u32 = 0x0000_0001;
pub const NDK_MR_FLAG_ALLOW_REMOTE_READ: u32 = 0x0000_0002;
/// 0x4 | ALLOW_LOCAL_WRITE: remote write implies local write.
pub const NDK_MR_FLAG_ALLOW_REMOTE_WRITE: u32 = 0x0000_0005;
pub const NDK_MR_FLAG_RDMA_READ_SINK: u32 = 0x0000_0008;

// --- NDK_ADAPTER_FLAG_* (NDK_ADAPTER_INFO.AdapterFlags), ndkpi.md §5.1 -------

pub const NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED: u32 = 0x0000_0001;
pub const NDK_ADAPTER_FLAG_RDMA_READ_SINK_NOT_REQUIRED: u32 = 0x0000_0002;
pub const NDK_ADAPTER_FLAG_CQ_INTERRUPT_MODERATION_SUPPORTED: u32 = 0x0000_0004;
pub const NDK_ADAPTER_FLAG_MULTI_ENGINE_SUPPORTED: u32 = 0x0000_0008;
/// NDKPI 1.2+ (missing from mingw-w64's ndkinfo.h).
pub const NDK_ADAPTER_FLAG_RDMA_READ_LOCAL_INVALIDATE_SUPPORTED: u32 = 0x0000_0010;
pub const NDK_ADAPTER_FLAG_CQ_RESIZE_SUPPORTED: u32 = 0x0000_0100;
pub const NDK_ADAPTER_FLAG_LOOPBACK_CONNECTIONS_SUPPORTED: u32 = 0x0001_0000;

bitflags! {
    /// `NDK_OP_FLAG_*` (ndkpi.md §5.7). `ALLOW_REMOTE_WRITE` is multi-bit
    /// (0x30) and therefore contains `ALLOW_LOCAL_WRITE`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct NdkOpFlags: u32 {
        const SILENT_SUCCESS = NDK_OP_FLAG_SILENT_SUCCESS;
        const READ_FENCE = NDK_OP_FLAG_READ_FENCE;
        const SEND_AND_SOLICIT_EVENT = NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT;
        const ALLOW_REMOTE_READ = NDK_OP_FLAG_ALLOW_REMOTE_READ;
        const ALLOW_LOCAL_WRITE = NDK_OP_FLAG_ALLOW_LOCAL_WRITE;
        const ALLOW_REMOTE_WRITE = NDK_OP_FLAG_ALLOW_REMOTE_WRITE;
        const INLINE = NDK_OP_FLAG_INLINE;
        const RDMA_READ_SINK = NDK_OP_FLAG_RDMA_READ_SINK;
        const RDMA_READ_LOCAL_INVALIDATE = NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE;
        const DEFER = NDK_OP_FLAG_DEFER;
    }
}

bitflags! {
    /// `NDK_MR_FLAG_*` (ndkpi.md §5.8). `ALLOW_REMOTE_WRITE` is multi-bit (0x5)
    /// and contains `ALLOW_LOCAL_WRITE`; `ALLOW_LOCAL_READ` (= 0) is the plain
    /// constant [`NDK_MR_FLAG_ALLOW_LOCAL_READ`].
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct NdkMrFlags: u32 {
        const ALLOW_LOCAL_WRITE = NDK_MR_FLAG_ALLOW_LOCAL_WRITE;
        const ALLOW_REMOTE_READ = NDK_MR_FLAG_ALLOW_REMOTE_READ;
        const ALLOW_REMOTE_WRITE = NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
        const RDMA_READ_SINK = NDK_MR_FLAG_RDMA_READ_SINK;
    }
}

bitflags! {
    /// `NDK_ADAPTER_FLAG_*` for `NDK_ADAPTER_INFO.AdapterFlags` (ndkpi.md §5.1).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct NdkAdapterFlags: u32 {
        const IN_ORDER_DMA_SUPPORTED = NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED;
        const RDMA_READ_SINK_NOT_REQUIRED = NDK_ADAPTER_FLAG_RDMA_READ_SINK_NOT_REQUIRED;
        const CQ_INTERRUPT_MODERATION_SUPPORTED =
            NDK_ADAPTER_FLAG_CQ_INTERRUPT_MODERATION_SUPPORTED;
        const MULTI_ENGINE_SUPPORTED = NDK_ADAPTER_FLAG_MULTI_ENGINE_SUPPORTED;
        const RDMA_READ_LOCAL_INVALIDATE_SUPPORTED =
            NDK_ADAPTER_FLAG_RDMA_READ_LOCAL_INVALIDATE_SUPPORTED;
        const CQ_RESIZE_SUPPORTED = NDK_ADAPTER_FLAG_CQ_RESIZE_SUPPORTED;
        const LOOPBACK_CONNECTIONS_SUPPORTED = NDK_ADAPTER_FLAG_LOOPBACK_CONNECTIONS_SUPPORTED;
    }
}
