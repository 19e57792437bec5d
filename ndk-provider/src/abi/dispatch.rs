//! NDKPI function-pointer typedefs and the ten dispatch tables (`ndkpi.md` §3, §4).
//!
//! Conventions (ndkpi.md §0):
//! * Consumer-implemented callbacks (§3) are `Option<unsafe extern "system" fn>`:
//!   several are optional (`_In_opt_`), and `None` is the C NULL.
//! * Provider-implemented functions (§4) are plain `unsafe extern "system" fn`:
//!   every dispatch slot is mandatory.
//! * Pointer const-ness mirrors the C prototype: `CONST X*` / `CONST PSOCKADDR` /
//!   `CONST PVOID` become `*const`, every other pointer `*mut`.
//! * `BOOLEAN` = `u8`, `ULONG`/`UINT32` = `u32`, `UINT64` = `u64`,
//!   `SIZE_T` = `usize`, `NDK_VERSION` is passed by value.
//! * `"system"` is the Microsoft x64 convention on Windows targets, which is
//!   what NDIS and every NDK consumer use.

use core::ffi::c_void;

use super::types::{
    GROUP_AFFINITY, GUID, MDL, NDK_ADAPTER, NDK_ADAPTER_INFO, NDK_CONNECTOR, NDK_CQ,
    NDK_EXTENSION_INTERFACE, NDK_LISTENER, NDK_LOGICAL_ADDRESS, NDK_LOGICAL_ADDRESS_MAPPING,
    NDK_MR, NDK_MW, NDK_OBJECT_HEADER, NDK_PD, NDK_QP, NDK_RESULT, NDK_RESULT_EX, NDK_SGE,
    NDK_SHARED_ENDPOINT, NDK_SRQ, NDK_VERSION, NTSTATUS, SOCKADDR,
};

// ===========================================================================
// ndkpi.md §3 — consumer-implemented callbacks (all VOID, ≤ DISPATCH_LEVEL)
// ===========================================================================

/// Called only if a close returned `STATUS_PENDING`; the last callback ever
/// made for that object.
pub type NDK_FN_CLOSE_COMPLETION = Option<unsafe extern "system" fn(Context: *mut c_void)>;

/// Called only if a request function returned `STATUS_PENDING`.
pub type NDK_FN_REQUEST_COMPLETION =
    Option<unsafe extern "system" fn(Context: *mut c_void, Status: NTSTATUS)>;

/// Called only if a create function returned `STATUS_PENDING`; delivers the
/// new object's header (the `pp…` out-parameter is then left untouched).
pub type NDK_FN_CREATE_COMPLETION = Option<
    unsafe extern "system" fn(
        Context: *mut c_void,
        Status: NTSTATUS,
        pNdkObject: *mut NDK_OBJECT_HEADER,
    ),
>;

/// `CqStatus`: SUCCESS, BUFFER_OVERFLOW (overrun) or INTERNAL_ERROR.
pub type NDK_FN_CQ_NOTIFICATION_CALLBACK =
    Option<unsafe extern "system" fn(CqNotificationContext: *mut c_void, CqStatus: NTSTATUS)>;

/// `SrqStatus`: SUCCESS (below threshold) or INTERNAL_ERROR.
pub type NDK_FN_SRQ_NOTIFICATION_CALLBACK =
    Option<unsafe extern "system" fn(SrqNotificationContext: *mut c_void, SrqStatus: NTSTATUS)>;

/// One call per incoming connection request; passes a new provider-created
/// connector.
pub type NDK_FN_CONNECT_EVENT_CALLBACK = Option<
    unsafe extern "system" fn(ConnectEventContext: *mut c_void, pNdkConnector: *mut NDK_CONNECTOR),
>;

/// Peer-initiated / detected disconnect, at most once per connection.
pub type NDK_FN_DISCONNECT_EVENT_CALLBACK =
    Option<unsafe extern "system" fn(DisconnectEventContext: *mut c_void)>;

/// NDKPI 2.1 variant; `ProviderDisconnectReason` 0 = no reason / unsupported.
pub type NDK_FN_DISCONNECT_EVENT_CALLBACK_EX = Option<
    unsafe extern "system" fn(DisconnectEventContext: *mut c_void, ProviderDisconnectReason: u32),
>;

// ===========================================================================
// ndkpi.md §4.0 — shared provider function types
// ===========================================================================

/// Slot 0 of every table except the adapter's. SUCCESS (no callback) or
/// PENDING (then `CloseCompletion(RequestContext)`).
pub type NDK_FN_CLOSE_OBJECT = unsafe extern "system" fn(
    pNdkObject: *mut NDK_OBJECT_HEADER,
    CloseCompletion: NDK_FN_CLOSE_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

/// Slot 1 of every table (slot 0 of the adapter's). `ExtensionInterfaceVersion`
/// is passed by value.
pub type NDK_FN_QUERY_EXTENSION_INTERFACE = unsafe extern "system" fn(
    pNdkObject: *mut NDK_OBJECT_HEADER,
    ExtensionInterfaceID: *mut GUID,
    ExtensionInterfaceVersion: NDK_VERSION,
    pExtensionInterface: *mut NDK_EXTENSION_INTERFACE,
) -> NTSTATUS;

// ===========================================================================
// ndkpi.md §4.1 — adapter functions
// ===========================================================================

/// PASSIVE_LEVEL only; never pends.
pub type NDK_FN_QUERY_ADAPTER_INFO = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    pInfo: *mut NDK_ADAPTER_INFO,
    pBufferSize: *mut u32,
) -> NTSTATUS;

/// In the header copy but in no dispatch table and undocumented (ndkpi.md §4.1).
pub type NDK_FN_QUERY_ADAPTER_INFO_EX = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    Version: NDK_VERSION,
    pInfo: *mut NDK_ADAPTER_INFO,
    pBufferSize: *mut u32,
) -> NTSTATUS;

pub type NDK_FN_CREATE_CQ = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    CqDepth: u32,
    CqNotification: NDK_FN_CQ_NOTIFICATION_CALLBACK,
    CqNotificationContext: *mut c_void,
    Affinity: *mut GROUP_AFFINITY,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkCq: *mut *mut NDK_CQ,
) -> NTSTATUS;

pub type NDK_FN_CREATE_PD = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkPd: *mut *mut NDK_PD,
) -> NTSTATUS;

pub type NDK_FN_CREATE_SHARED_ENDPOINT = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    pAddress: *const SOCKADDR,
    AddressLength: u32,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkSharedEndpoint: *mut *mut NDK_SHARED_ENDPOINT,
) -> NTSTATUS;

pub type NDK_FN_CREATE_CONNECTOR = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkConnector: *mut *mut NDK_CONNECTOR,
) -> NTSTATUS;

pub type NDK_FN_CREATE_LISTENER = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    ConnectEvent: NDK_FN_CONNECT_EVENT_CALLBACK,
    ConnectEventContext: *mut c_void,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkListener: *mut *mut NDK_LISTENER,
) -> NTSTATUS;

/// `RequestCompletion` is `_In_opt_` in the header (ndkpi.md §12 item 5).
pub type NDK_FN_BUILD_LAM = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    Mdl: *mut MDL,
    Length: usize,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
    pNdkLAM: *mut NDK_LOGICAL_ADDRESS_MAPPING,
    pLAMSize: *mut u32,
    pFBO: *mut u32,
) -> NTSTATUS;

pub type NDK_FN_RELEASE_LAM = unsafe extern "system" fn(
    pNdkAdapter: *mut NDK_ADAPTER,
    pNdkLAM: *mut NDK_LOGICAL_ADDRESS_MAPPING,
);

// ===========================================================================
// ndkpi.md §4.2 — PD functions
// ===========================================================================

pub type NDK_FN_CREATE_MR = unsafe extern "system" fn(
    pNdkPd: *mut NDK_PD,
    FastRegister: u8,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkMr: *mut *mut NDK_MR,
) -> NTSTATUS;

pub type NDK_FN_CREATE_MW = unsafe extern "system" fn(
    pNdkPd: *mut NDK_PD,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkMw: *mut *mut NDK_MW,
) -> NTSTATUS;

pub type NDK_FN_CREATE_SRQ = unsafe extern "system" fn(
    pNdkPd: *mut NDK_PD,
    SrqDepth: u32,
    MaxReceiveRequestSge: u32,
    NotifyThreshold: u32,
    SrqNotification: NDK_FN_SRQ_NOTIFICATION_CALLBACK,
    SrqNotificationContext: *mut c_void,
    Affinity: *mut GROUP_AFFINITY,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkSrq: *mut *mut NDK_SRQ,
) -> NTSTATUS;

pub type NDK_FN_CREATE_QP = unsafe extern "system" fn(
    pNdkPd: *mut NDK_PD,
    pReceiveCq: *mut NDK_CQ,
    pInitiatorCq: *mut NDK_CQ,
    QPContext: *mut c_void,
    ReceiveQueueDepth: u32,
    InitiatorQueueDepth: u32,
    MaxReceiveRequestSge: u32,
    MaxInitiatorRequestSge: u32,
    InlineDataSize: u32,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkQp: *mut *mut NDK_QP,
) -> NTSTATUS;

pub type NDK_FN_CREATE_QP_WITH_SRQ = unsafe extern "system" fn(
    pNdkPd: *mut NDK_PD,
    pReceiveCq: *mut NDK_CQ,
    pInitiatorCq: *mut NDK_CQ,
    pSrq: *mut NDK_SRQ,
    QPContext: *mut c_void,
    InitiatorQueueDepth: u32,
    MaxInitiatorRequestSge: u32,
    InlineDataSize: u32,
    CreateCompletion: NDK_FN_CREATE_COMPLETION,
    RequestContext: *mut c_void,
    ppNdkQp: *mut *mut NDK_QP,
) -> NTSTATUS;

/// Synchronous, cannot fail.
pub type NDK_FN_GET_PRIVILEGED_MEMORY_REGION_TOKEN =
    unsafe extern "system" fn(pNdkPd: *mut NDK_PD, pToken: *mut u32);

// ===========================================================================
// ndkpi.md §4.3 — CQ functions
// ===========================================================================

pub type NDK_FN_RESIZE_CQ = unsafe extern "system" fn(
    pNdkCq: *mut NDK_CQ,
    CqDepth: u32,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

/// `Type` is one of `NDK_CQ_NOTIFY_*`.
pub type NDK_FN_ARM_CQ = unsafe extern "system" fn(pNdkCq: *mut NDK_CQ, Type: u32);

/// Returns the number of results written (0 = empty); never blocks.
pub type NDK_FN_GET_CQ_RESULTS =
    unsafe extern "system" fn(pNdkCq: *mut NDK_CQ, Results: *mut NDK_RESULT, nResults: u32) -> u32;

/// Must not return `STATUS_PENDING`.
pub type NDK_FN_CONTROL_CQ_INTERRUPT_MODERATION = unsafe extern "system" fn(
    pNdkCq: *mut NDK_CQ,
    ModerationInterval: u32,
    ModerationCount: u32,
) -> NTSTATUS;

/// NDKPI 1.2+.
pub type NDK_FN_GET_CQ_RESULTS_EX = unsafe extern "system" fn(
    pNdkCq: *mut NDK_CQ,
    Results: *mut NDK_RESULT_EX,
    nResults: u32,
) -> u32;

// ===========================================================================
// ndkpi.md §4.4 — MR functions
// ===========================================================================

pub type NDK_FN_REGISTER_MR = unsafe extern "system" fn(
    pNdkMr: *mut NDK_MR,
    Mdl: *mut MDL,
    Length: usize,
    Flags: u32,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_DEREGISTER_MR = unsafe extern "system" fn(
    pNdkMr: *mut NDK_MR,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_INITIALIZE_FAST_REGISTER_MR = unsafe extern "system" fn(
    pNdkMr: *mut NDK_MR,
    AdapterPageCount: u32,
    RemoteAccess: u8,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_GET_REMOTE_TOKEN_FROM_MR = unsafe extern "system" fn(pNdkMr: *mut NDK_MR) -> u32;

pub type NDK_FN_GET_LOCAL_TOKEN_FROM_MR = unsafe extern "system" fn(pNdkMr: *mut NDK_MR) -> u32;

// ===========================================================================
// ndkpi.md §4.5 — MW functions
// ===========================================================================

pub type NDK_FN_GET_REMOTE_TOKEN_FROM_MW = unsafe extern "system" fn(pNdkMw: *mut NDK_MW) -> u32;

// ===========================================================================
// ndkpi.md §4.6 — SRQ functions
// ===========================================================================

pub type NDK_FN_MODIFY_SRQ = unsafe extern "system" fn(
    pNdkSrq: *mut NDK_SRQ,
    SrqDepth: u32,
    NotifyThreshold: u32,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_SRQ_RECEIVE = unsafe extern "system" fn(
    pNdkSrq: *mut NDK_SRQ,
    RequestContext: *mut c_void,
    pSgl: *const NDK_SGE,
    nSge: u32,
) -> NTSTATUS;

// ===========================================================================
// ndkpi.md §4.7 — QP functions
// ===========================================================================

pub type NDK_FN_FLUSH = unsafe extern "system" fn(pNdkQp: *mut NDK_QP);

pub type NDK_FN_SEND = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pSgl: *const NDK_SGE,
    nSge: u32,
    Flags: u32,
) -> NTSTATUS;

pub type NDK_FN_RECEIVE = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pSgl: *const NDK_SGE,
    nSge: u32,
) -> NTSTATUS;

/// `VirtualAddress` is an index into the MR's VA space, never dereferenced.
pub type NDK_FN_BIND = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pMr: *mut NDK_MR,
    pMw: *mut NDK_MW,
    VirtualAddress: *mut c_void,
    Length: usize,
    Flags: u32,
) -> NTSTATUS;

pub type NDK_FN_FAST_REGISTER = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pMr: *mut NDK_MR,
    AdapterPageCount: u32,
    AdapterPageArray: *const NDK_LOGICAL_ADDRESS,
    FBO: u32,
    Length: usize,
    BaseVirtualAddress: *mut c_void,
    Flags: u32,
) -> NTSTATUS;

/// `pNdkMrOrMw` is the header of a fast-registered MR or a bound MW.
pub type NDK_FN_INVALIDATE = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pNdkMrOrMw: *mut NDK_OBJECT_HEADER,
    Flags: u32,
) -> NTSTATUS;

/// `RemoteAddress` is in host byte order.
pub type NDK_FN_READ = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pSgl: *const NDK_SGE,
    nSge: u32,
    RemoteAddress: u64,
    RemoteToken: u32,
    Flags: u32,
) -> NTSTATUS;

pub type NDK_FN_WRITE = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pSgl: *const NDK_SGE,
    nSge: u32,
    RemoteAddress: u64,
    RemoteToken: u32,
    Flags: u32,
) -> NTSTATUS;

/// NDKPI 1.2+. Note: `Flags` comes **before** `RemoteToken` here, unlike
/// Read/Write.
pub type NDK_FN_SEND_AND_INVALIDATE = unsafe extern "system" fn(
    pNdkQp: *mut NDK_QP,
    RequestContext: *mut c_void,
    pSgl: *const NDK_SGE,
    nSge: u32,
    Flags: u32,
    RemoteToken: u32,
) -> NTSTATUS;

// ===========================================================================
// ndkpi.md §4.8 — connector functions
// ===========================================================================

pub type NDK_FN_CONNECT = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pNdkQp: *mut NDK_QP,
    pSrcAddress: *const SOCKADDR,
    SrcAddressLength: u32,
    pDestAddress: *const SOCKADDR,
    DestAddressLength: u32,
    InboundReadLimit: u32,
    OutboundReadLimit: u32,
    pPrivateData: *const c_void,
    PrivateDataLength: u32,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_CONNECT_WITH_SHARED_ENDPOINT = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pNdkQp: *mut NDK_QP,
    pNdkSharedEndpoint: *mut NDK_SHARED_ENDPOINT,
    pDestAddress: *const SOCKADDR,
    DestAddressLength: u32,
    InboundReadLimit: u32,
    OutboundReadLimit: u32,
    pPrivateData: *const c_void,
    PrivateDataLength: u32,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_COMPLETE_CONNECT = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    DisconnectEvent: NDK_FN_DISCONNECT_EVENT_CALLBACK,
    DisconnectEventContext: *mut c_void,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_ACCEPT = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pNdkQp: *mut NDK_QP,
    InboundReadLimit: u32,
    OutboundReadLimit: u32,
    pPrivateData: *const c_void,
    PrivateDataLength: u32,
    DisconnectEvent: NDK_FN_DISCONNECT_EVENT_CALLBACK,
    DisconnectEventContext: *mut c_void,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

/// Synchronous, no callback.
pub type NDK_FN_REJECT = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pPrivateData: *const c_void,
    PrivateDataLength: u32,
) -> NTSTATUS;

pub type NDK_FN_GET_CONNECTION_DATA = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pInboundReadLimit: *mut u32,
    pOutboundReadLimit: *mut u32,
    pPrivateData: *mut c_void,
    pPrivateDataLength: *mut u32,
) -> NTSTATUS;

pub type NDK_FN_GET_LOCAL_ADDRESS = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pAddress: *mut SOCKADDR,
    pAddressLength: *mut u32,
) -> NTSTATUS;

pub type NDK_FN_GET_PEER_ADDRESS = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pAddress: *mut SOCKADDR,
    pAddressLength: *mut u32,
) -> NTSTATUS;

pub type NDK_FN_DISCONNECT = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

/// In the header copy but in no dispatch table and undocumented (ndkpi.md §4.8).
pub type NDK_FN_DISCONNECT_EX = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    Abortive: u8,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

/// NDKPI 2.1: as [`NDK_FN_COMPLETE_CONNECT`] with the `_EX` disconnect callback.
pub type NDK_FN_COMPLETE_CONNECT_EX = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    DisconnectEvent: NDK_FN_DISCONNECT_EVENT_CALLBACK_EX,
    DisconnectEventContext: *mut c_void,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

/// NDKPI 2.1: as [`NDK_FN_ACCEPT`] with the `_EX` disconnect callback.
pub type NDK_FN_ACCEPT_EX = unsafe extern "system" fn(
    pNdkConnector: *mut NDK_CONNECTOR,
    pNdkQp: *mut NDK_QP,
    InboundReadLimit: u32,
    OutboundReadLimit: u32,
    pPrivateData: *const c_void,
    PrivateDataLength: u32,
    DisconnectEvent: NDK_FN_DISCONNECT_EVENT_CALLBACK_EX,
    DisconnectEventContext: *mut c_void,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

// ===========================================================================
// ndkpi.md §4.9 — listener functions
// ===========================================================================

pub type NDK_FN_LISTEN = unsafe extern "system" fn(
    pNdkListener: *mut NDK_LISTENER,
    pAddress: *const SOCKADDR,
    AddressLength: u32,
    RequestCompletion: NDK_FN_REQUEST_COMPLETION,
    RequestContext: *mut c_void,
) -> NTSTATUS;

pub type NDK_FN_GET_LISTENER_LOCAL_ADDRESS = unsafe extern "system" fn(
    pNdkListener: *mut NDK_LISTENER,
    pAddress: *mut SOCKADDR,
    pAddressLength: *mut u32,
) -> NTSTATUS;

/// `Pause` TRUE: refuse incoming requests as if no listener existed.
pub type NDK_FN_CONTROL_CONNECT_EVENTS =
    unsafe extern "system" fn(pNdkListener: *mut NDK_LISTENER, Pause: u8);

// ===========================================================================
// ndkpi.md §4.10 — shared endpoint functions
// ===========================================================================

pub type NDK_FN_GET_SHARED_ENDPOINT_LOCAL_ADDRESS = unsafe extern "system" fn(
    pNdkSharedEndpoint: *mut NDK_SHARED_ENDPOINT,
    pAddress: *mut SOCKADDR,
    pAddressLength: *mut u32,
) -> NTSTATUS;

// ===========================================================================
// Dispatch tables, exact slot order of ndkpi.md §4.1–§4.10
// ===========================================================================

/// ndkpi.md §4.1 (9 slots, 0x48). No close slot: the adapter is closed through
/// `CLOSE_NDK_ADAPTER_HANDLER` (ndkpi.md §8.1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_ADAPTER_DISPATCH {
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkQueryAdapterInfo: NDK_FN_QUERY_ADAPTER_INFO,
    pub NdkCreateCq: NDK_FN_CREATE_CQ,
    pub NdkCreatePd: NDK_FN_CREATE_PD,
    pub NdkCreateSharedEndpoint: NDK_FN_CREATE_SHARED_ENDPOINT,
    pub NdkCreateConnector: NDK_FN_CREATE_CONNECTOR,
    pub NdkCreateListener: NDK_FN_CREATE_LISTENER,
    pub NdkBuildLAM: NDK_FN_BUILD_LAM,
    pub NdkReleaseLAM: NDK_FN_RELEASE_LAM,
}

/// ndkpi.md §4.2 (8 slots, 0x40).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_PD_DISPATCH {
    pub NdkClosePd: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkCreateMr: NDK_FN_CREATE_MR,
    pub NdkCreateMw: NDK_FN_CREATE_MW,
    pub NdkCreateSrq: NDK_FN_CREATE_SRQ,
    pub NdkCreateQp: NDK_FN_CREATE_QP,
    pub NdkCreateQpWithSrq: NDK_FN_CREATE_QP_WITH_SRQ,
    pub NdkGetPrivilegedMemoryRegionToken: NDK_FN_GET_PRIVILEGED_MEMORY_REGION_TOKEN,
}

/// ndkpi.md §4.3 (7 slots, 0x38; `NdkGetCqResultsEx` is NDKPI 1.2).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_CQ_DISPATCH {
    pub NdkCloseCq: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkResizeCq: NDK_FN_RESIZE_CQ,
    pub NdkArmCq: NDK_FN_ARM_CQ,
    pub NdkGetCqResults: NDK_FN_GET_CQ_RESULTS,
    pub NdkControlCqInterruptModeration: NDK_FN_CONTROL_CQ_INTERRUPT_MODERATION,
    pub NdkGetCqResultsEx: NDK_FN_GET_CQ_RESULTS_EX,
}

/// ndkpi.md §4.4 (7 slots, 0x38).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_MR_DISPATCH {
    pub NdkCloseMr: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkRegisterMr: NDK_FN_REGISTER_MR,
    pub NdkDeregisterMr: NDK_FN_DEREGISTER_MR,
    pub NdkInitializeFastRegisterMr: NDK_FN_INITIALIZE_FAST_REGISTER_MR,
    pub NdkGetRemoteTokenFromMr: NDK_FN_GET_REMOTE_TOKEN_FROM_MR,
    pub NdkGetLocalTokenFromMr: NDK_FN_GET_LOCAL_TOKEN_FROM_MR,
}

/// ndkpi.md §4.5 (3 slots, 0x18).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_MW_DISPATCH {
    pub NdkCloseMw: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkGetRemoteTokenFromMw: NDK_FN_GET_REMOTE_TOKEN_FROM_MW,
}

/// ndkpi.md §4.6 (4 slots, 0x20).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_SRQ_DISPATCH {
    pub NdkCloseSrq: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkModifySrq: NDK_FN_MODIFY_SRQ,
    pub NdkSrqReceive: NDK_FN_SRQ_RECEIVE,
}

/// ndkpi.md §4.7 (11 slots, 0x58; `NdkSendAndInvalidate` is NDKPI 1.2).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_QP_DISPATCH {
    pub NdkCloseQp: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkFlush: NDK_FN_FLUSH,
    pub NdkSend: NDK_FN_SEND,
    pub NdkReceive: NDK_FN_RECEIVE,
    pub NdkBind: NDK_FN_BIND,
    pub NdkFastRegister: NDK_FN_FAST_REGISTER,
    pub NdkInvalidate: NDK_FN_INVALIDATE,
    pub NdkRead: NDK_FN_READ,
    pub NdkWrite: NDK_FN_WRITE,
    pub NdkSendAndInvalidate: NDK_FN_SEND_AND_INVALIDATE,
}

/// ndkpi.md §4.8 (13 slots, 0x68 — the NDKPI 2.1 form; the two trailing `Ex`
/// slots are harmless to older consumers, which only read the first 11).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_CONNECTOR_DISPATCH {
    pub NdkCloseConnector: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkConnect: NDK_FN_CONNECT,
    pub NdkConnectWithSharedEndpoint: NDK_FN_CONNECT_WITH_SHARED_ENDPOINT,
    pub NdkCompleteConnect: NDK_FN_COMPLETE_CONNECT,
    pub NdkAccept: NDK_FN_ACCEPT,
    pub NdkReject: NDK_FN_REJECT,
    pub NdkGetConnectionData: NDK_FN_GET_CONNECTION_DATA,
    pub NdkGetLocalAddress: NDK_FN_GET_LOCAL_ADDRESS,
    pub NdkGetPeerAddress: NDK_FN_GET_PEER_ADDRESS,
    pub NdkDisconnect: NDK_FN_DISCONNECT,
    pub NdkCompleteConnectEx: NDK_FN_COMPLETE_CONNECT_EX,
    pub NdkAcceptEx: NDK_FN_ACCEPT_EX,
}

/// ndkpi.md §4.9 (5 slots, 0x28).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_LISTENER_DISPATCH {
    pub NdkCloseListener: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkListen: NDK_FN_LISTEN,
    pub NdkGetLocalAddress: NDK_FN_GET_LISTENER_LOCAL_ADDRESS,
    pub NdkControlConnectEvents: NDK_FN_CONTROL_CONNECT_EVENTS,
}

/// ndkpi.md §4.10 (3 slots, 0x18).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDK_SHARED_ENDPOINT_DISPATCH {
    pub NdkCloseSharedEndpoint: NDK_FN_CLOSE_OBJECT,
    pub NdkQueryExtension: NDK_FN_QUERY_EXTENSION_INTERFACE,
    pub NdkGetLocalAddress: NDK_FN_GET_SHARED_ENDPOINT_LOCAL_ADDRESS,
}
