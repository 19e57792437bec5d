//! Core NDKPI types (`ndkpi.h`, `ndkinfo.h`) plus the few Windows base types
//! they use (GUID, GROUP_AFFINITY, SOCKADDR*, MDL). See `ndkpi.md` §0, §2, §5.

use core::ffi::c_void;

use super::dispatch::{
    NDK_ADAPTER_DISPATCH, NDK_CONNECTOR_DISPATCH, NDK_CQ_DISPATCH, NDK_LISTENER_DISPATCH,
    NDK_MR_DISPATCH, NDK_MW_DISPATCH, NDK_PD_DISPATCH, NDK_QP_DISPATCH,
    NDK_SHARED_ENDPOINT_DISPATCH, NDK_SRQ_DISPATCH,
};

// ---------------------------------------------------------------------------
// Scalar aliases (ndkpi.md §0)
// ---------------------------------------------------------------------------

/// `NTSTATUS`: negative = error, see [`super::status::nt_success`].
pub type NTSTATUS = i32;

/// `NDK_LOGICAL_ADDRESS` = `PHYSICAL_ADDRESS` (LARGE_INTEGER, 8 bytes, align 8).
pub type NDK_LOGICAL_ADDRESS = i64;

/// Windows `ADDRESS_FAMILY` (USHORT).
pub type ADDRESS_FAMILY = u16;

/// `AF_INET`.
pub const AF_INET: ADDRESS_FAMILY = 2;
/// `AF_INET6` — the **Windows** value (23), not the Linux one.
pub const AF_INET6: ADDRESS_FAMILY = 23;

/// Adapter page size used by LAMs and FastRegister (ndkpi.md §5.6): 4 KiB on x64.
pub const PAGE_SIZE: usize = 4096;
/// log2([`PAGE_SIZE`]).
pub const PAGE_SHIFT: u32 = 12;

// ---------------------------------------------------------------------------
// NDK_VERSION (ndkpi.md §1.1) — passed BY VALUE in some calls.
// ---------------------------------------------------------------------------

/// `NDK_VERSION { USHORT Major; USHORT Minor; }` (4 bytes).
///
/// Field order makes the derived `Ord` compare Major first, then Minor.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NDK_VERSION {
    pub Major: u16,
    pub Minor: u16,
}

impl NDK_VERSION {
    #[must_use]
    pub const fn new(Major: u16, Minor: u16) -> Self {
        Self { Major, Minor }
    }
}

// ---------------------------------------------------------------------------
// NDK_OBJECT_TYPE (ndkpi.md §2.1) — C enum, int-sized.
// ---------------------------------------------------------------------------

pub type NDK_OBJECT_TYPE = i32;
pub const NdkObjectTypeUndefined: NDK_OBJECT_TYPE = 0;
pub const NdkObjectTypeAdapter: NDK_OBJECT_TYPE = 1;
pub const NdkObjectTypeQp: NDK_OBJECT_TYPE = 2;
pub const NdkObjectTypeCq: NDK_OBJECT_TYPE = 3;
pub const NdkObjectTypeMr: NDK_OBJECT_TYPE = 4;
pub const NdkObjectTypeMw: NDK_OBJECT_TYPE = 5;
pub const NdkObjectTypePd: NDK_OBJECT_TYPE = 6;
pub const NdkObjectTypeSharedEndpoint: NDK_OBJECT_TYPE = 7;
pub const NdkObjectTypeConnector: NDK_OBJECT_TYPE = 8;
pub const NdkObjectTypeListener: NDK_OBJECT_TYPE = 9;
pub const NdkObjectTypeSrq: NDK_OBJECT_TYPE = 10;
pub const NdkObjectTypeMax: NDK_OBJECT_TYPE = 11;

// ---------------------------------------------------------------------------
// Object header and objects (ndkpi.md §2.2–§2.5)
// ---------------------------------------------------------------------------

/// `NDK_OBJECT_HEADER_RESERVED_BLOCK { PVOID rf[4]; }` — owned by NDIS/the
/// consumer; the provider zeroes it at creation and never touches it again
/// (ndkpi.md §2.3).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_OBJECT_HEADER_RESERVED_BLOCK {
    pub rf: [*mut c_void; 4],
}

/// `NDK_OBJECT_HEADER` (0x28 bytes). `ObjectType` must be non-zero.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_OBJECT_HEADER {
    pub Version: NDK_VERSION,
    pub ObjectType: NDK_OBJECT_TYPE,
    pub NdkReserved: NDK_OBJECT_HEADER_RESERVED_BLOCK,
}

/// `NDK_ADAPTER` (0x30). Like every NDK object: the provider sets `Dispatch`
/// once and must never read it back — NDIS may interpose another table
/// (ndkpi.md §2.4); recover private state from the object address instead.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_ADAPTER {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_ADAPTER_DISPATCH,
}

/// `NDK_PD` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_PD {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_PD_DISPATCH,
}

/// `NDK_CQ` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_CQ {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_CQ_DISPATCH,
}

/// `NDK_MR` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_MR {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_MR_DISPATCH,
}

/// `NDK_MW` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_MW {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_MW_DISPATCH,
}

/// `NDK_SRQ` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_SRQ {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_SRQ_DISPATCH,
}

/// `NDK_QP` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_QP {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_QP_DISPATCH,
}

/// `NDK_CONNECTOR` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_CONNECTOR {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_CONNECTOR_DISPATCH,
}

/// `NDK_LISTENER` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_LISTENER {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_LISTENER_DISPATCH,
}

/// `NDK_SHARED_ENDPOINT` (0x30), see [`NDK_ADAPTER`] for the `Dispatch` rule.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_SHARED_ENDPOINT {
    pub Header: NDK_OBJECT_HEADER,
    pub Dispatch: *const NDK_SHARED_ENDPOINT_DISPATCH,
}

/// `NDK_EXTENSION_INTERFACE { CONST VOID* Dispatch; }` — no standard extensions
/// exist (ndkpi.md §2.5).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_EXTENSION_INTERFACE {
    pub Dispatch: *const c_void,
}

// ---------------------------------------------------------------------------
// Windows base types (ndkpi.md §0)
// ---------------------------------------------------------------------------

/// `GUID` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GUID {
    pub Data1: u32,
    pub Data2: u16,
    pub Data3: u16,
    pub Data4: [u8; 8],
}

/// `GROUP_AFFINITY` (16 bytes); `Mask` is a `KAFFINITY` (ULONG_PTR).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GROUP_AFFINITY {
    pub Mask: usize,
    pub Group: u16,
    pub Reserved: [u16; 3],
}

/// Generic `SOCKADDR` (16 bytes, align 2). NDK passes `PSOCKADDR` + a separate
/// byte length; the real family is `AF_INET` or `AF_INET6`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SOCKADDR {
    pub sa_family: ADDRESS_FAMILY,
    pub sa_data: [u8; 14],
}

/// `SOCKADDR_IN` (16 bytes). Port and address are in network byte order.
///
/// `align(4)` because the C `IN_ADDR` is a union containing a ULONG; a pointer
/// received as `*const SOCKADDR` (align 2) should be read with `read_unaligned`.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SOCKADDR_IN {
    pub sin_family: ADDRESS_FAMILY,
    pub sin_port: u16,
    pub sin_addr: [u8; 4],
    pub sin_zero: [u8; 8],
}

/// `SOCKADDR_IN6` (28 bytes, align 4). Port and address in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SOCKADDR_IN6 {
    pub sin6_family: ADDRESS_FAMILY,
    pub sin6_port: u16,
    pub sin6_flowinfo: u32,
    pub sin6_addr: [u8; 16],
    pub sin6_scope_id: u32,
}

/// `SOCKADDR_INET` (28 bytes, align 4): union of v4 / v6, discriminated by
/// `si_family`. Used in the NDIS connection / endpoint lists (ndkpi.md §8.4).
#[repr(C)]
#[derive(Clone, Copy)]
pub union SOCKADDR_INET {
    pub Ipv4: SOCKADDR_IN,
    pub Ipv6: SOCKADDR_IN6,
    pub si_family: ADDRESS_FAMILY,
}

/// x64 `_MDL` header (0x30 bytes). The PFN array (`PFN_NUMBER` = u64, one per
/// page spanned by `StartVa + ByteOffset .. + ByteCount`) follows the struct in
/// memory. `Size` / `MdlFlags` are `CSHORT`.
#[repr(C)]
#[derive(Debug)]
pub struct MDL {
    pub Next: *mut MDL,
    pub Size: i16,
    pub MdlFlags: i16,
    pub AllocationProcessorNumber: u16,
    pub Reserved: u16,
    pub Process: *mut c_void,
    pub MappedSystemVa: *mut c_void,
    pub StartVa: *mut c_void,
    pub ByteCount: u32,
    pub ByteOffset: u32,
}

// ---------------------------------------------------------------------------
// Work-request / completion structures (ndkpi.md §5.2–§5.6)
// ---------------------------------------------------------------------------

/// Anonymous union of `NDK_SGE`: a virtual address inside a registered MR, or
/// an adapter logical address when the SGE uses the PD's privileged token
/// (ndkpi.md §5.2).
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDK_SGE_ADDRESS {
    pub VirtualAddress: *mut c_void,
    pub LogicalAddress: NDK_LOGICAL_ADDRESS,
}

/// `NDK_SGE` (0x10 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDK_SGE {
    pub Address: NDK_SGE_ADDRESS,
    pub Length: u32,
    pub MemoryRegionToken: u32,
}

/// `NDK_RESULT` (0x18). `BytesTransferred` is only meaningful for receives.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_RESULT {
    pub Status: NTSTATUS,
    pub BytesTransferred: u32,
    pub QPContext: *mut c_void,
    pub RequestContext: *mut c_void,
}

/// `NDK_RESULT_EX` (0x28, NDKPI 1.2+). `ProviderErrorCode` (2.1+) sits in what
/// was padding in older layouts; always write it (0 on success), ndkpi.md §5.4.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_RESULT_EX {
    pub Status: NTSTATUS,
    pub BytesTransferred: u32,
    pub QPContext: *mut c_void,
    pub RequestContext: *mut c_void,
    pub Type: NDK_OPERATION_TYPE,
    pub ProviderErrorCode: u32,
    pub TypeSpecificCompletionOutput: usize,
}

impl NDK_RESULT_EX {
    /// An all-zero entry, for the result arrays a consumer hands to `NdkGetCqResultsEx`.
    pub const EMPTY: NDK_RESULT_EX = NDK_RESULT_EX {
        Status: 0,
        BytesTransferred: 0,
        QPContext: core::ptr::null_mut(),
        RequestContext: core::ptr::null_mut(),
        Type: 0,
        ProviderErrorCode: 0,
        TypeSpecificCompletionOutput: 0,
    };
}

/// `NDK_OPERATION_TYPE` (C enum, int-sized), ndkpi.md §5.5.
pub type NDK_OPERATION_TYPE = i32;
pub const NdkOperationTypeReceive: NDK_OPERATION_TYPE = 1;
/// 0x8001: the receive bit plus 0x8000.
pub const NdkOperationTypeReceiveAndInvalidate: NDK_OPERATION_TYPE = 0x8001;
pub const NdkOperationTypeSend: NDK_OPERATION_TYPE = 2;
pub const NdkOperationTypeFastRegister: NDK_OPERATION_TYPE = 4;
pub const NdkOperationTypeBind: NDK_OPERATION_TYPE = 8;
pub const NdkOperationTypeInvalidate: NDK_OPERATION_TYPE = 0x10;
pub const NdkOperationTypeRead: NDK_OPERATION_TYPE = 0x20;
pub const NdkOperationTypeWrite: NDK_OPERATION_TYPE = 0x40;

/// `NDK_LOGICAL_ADDRESS_MAPPING` (LAM). Variable-sized: the C declaration has
/// `AdapterPageArray[1]` but the real array has `AdapterPageCount` entries; use
/// [`ndk_lam_size`] for the byte size (ndkpi.md §5.6).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_LOGICAL_ADDRESS_MAPPING {
    /// Provider-private; the consumer must not modify it.
    pub AdapterContext: *mut c_void,
    pub AdapterPageCount: u32,
    pub AdapterPageArray: [NDK_LOGICAL_ADDRESS; 1],
}

/// Byte size of a LAM holding `pages` adapter pages:
/// `FIELD_OFFSET(AdapterPageArray) + pages * sizeof(NDK_LOGICAL_ADDRESS)`
/// (= 0x10 + 8·pages on x64). Saturates at `usize::MAX` instead of wrapping.
#[must_use]
pub const fn ndk_lam_size(pages: u32) -> usize {
    let array = (pages as usize).saturating_mul(core::mem::size_of::<NDK_LOGICAL_ADDRESS>());
    core::mem::offset_of!(NDK_LOGICAL_ADDRESS_MAPPING, AdapterPageArray).saturating_add(array)
}

// ---------------------------------------------------------------------------
// NDK_ADAPTER_INFO (ndkpi.md §5.1)
// ---------------------------------------------------------------------------

/// `NDK_RDMA_TECHNOLOGY` (C enum); same numbering as `*NetworkDirectTechnology`.
pub type NDK_RDMA_TECHNOLOGY = i32;
pub const NdkUndefined: NDK_RDMA_TECHNOLOGY = 0;
pub const NdkiWarp: NDK_RDMA_TECHNOLOGY = 1;
pub const NdkInfiniBand: NDK_RDMA_TECHNOLOGY = 2;
pub const NdkRoCE: NDK_RDMA_TECHNOLOGY = 3;
pub const NdkRoCEv2: NDK_RDMA_TECHNOLOGY = 4;
pub const NdkMaxTechnology: NDK_RDMA_TECHNOLOGY = 5;

/// `NDK_ADAPTER_INFO` (0x68 on x64; implicit padding at 0x0C and 0x64).
/// `AdapterFlags` holds `NDK_ADAPTER_FLAG_*` (see [`super::flags`]).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_ADAPTER_INFO {
    pub Version: NDK_VERSION,
    pub VendorId: u32,
    pub DeviceId: u32,
    pub MaxRegistrationSize: usize,
    pub MaxWindowSize: usize,
    /// Must be ≥ 16 (ndkpi.md §5.1).
    pub FRMRPageCount: u32,
    pub MaxInitiatorRequestSge: u32,
    pub MaxReceiveRequestSge: u32,
    pub MaxReadRequestSge: u32,
    pub MaxTransferLength: u32,
    pub MaxInlineDataSize: u32,
    pub MaxInboundReadLimit: u32,
    pub MaxOutboundReadLimit: u32,
    pub MaxReceiveQueueDepth: u32,
    pub MaxInitiatorQueueDepth: u32,
    /// 0 = no SRQ support.
    pub MaxSrqDepth: u32,
    pub MaxCqDepth: u32,
    pub LargeRequestThreshold: u32,
    pub MaxCallerData: u32,
    pub MaxCalleeData: u32,
    pub AdapterFlags: u32,
    pub RdmaTechnology: NDK_RDMA_TECHNOLOGY,
}

// ---------------------------------------------------------------------------
// CQ notification types (ndkpi.md §5.9) — plain #defines, ULONG parameter.
// ---------------------------------------------------------------------------

pub const NDK_CQ_NOTIFY_ERRORS: u32 = 0;
pub const NDK_CQ_NOTIFY_ANY: u32 = 1;
pub const NDK_CQ_NOTIFY_SOLICITED: u32 = 2;
