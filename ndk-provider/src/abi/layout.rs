//! Compile-time layout checks of every ABI struct against `ndkpi.md` (x64).
//!
//! One `// ndkpi.md §x.y` group per reference section, in reference order: the
//! size, alignment and the offset of every field / dispatch slot. Any mismatch
//! fails the build. Only compiled for 64-bit targets (the reference values are
//! x64 values).

use core::mem::{align_of, offset_of, size_of};

use super::dispatch::*;
use super::flags::*;
use super::ndis::*;
use super::status::*;
use super::types::*;

// ndkpi.md §0 — GUID, GROUP_AFFINITY, SOCKADDR*, MDL
const _: () = assert!(size_of::<NTSTATUS>() == 4);
const _: () = assert!(size_of::<NDK_LOGICAL_ADDRESS>() == 8);
const _: () = assert!(align_of::<NDK_LOGICAL_ADDRESS>() == 8);
const _: () = assert!(size_of::<ADDRESS_FAMILY>() == 2);
const _: () = assert!(AF_INET == 2);
const _: () = assert!(AF_INET6 == 23);
const _: () = assert!(PAGE_SIZE == 4096);
const _: () = assert!(PAGE_SIZE == 1 << PAGE_SHIFT);
// Option<fn> must stay pointer-sized (NULL niche) for every consumer callback.
const _: () = assert!(size_of::<NDK_FN_CLOSE_COMPLETION>() == 8);
const _: () = assert!(size_of::<NDK_FN_REQUEST_COMPLETION>() == 8);
const _: () = assert!(size_of::<NDK_FN_CREATE_COMPLETION>() == 8);
const _: () = assert!(size_of::<NDK_FN_CQ_NOTIFICATION_CALLBACK>() == 8);
const _: () = assert!(size_of::<NDK_FN_SRQ_NOTIFICATION_CALLBACK>() == 8);
const _: () = assert!(size_of::<NDK_FN_CONNECT_EVENT_CALLBACK>() == 8);
const _: () = assert!(size_of::<NDK_FN_DISCONNECT_EVENT_CALLBACK>() == 8);
const _: () = assert!(size_of::<NDK_FN_DISCONNECT_EVENT_CALLBACK_EX>() == 8);
const _: () = assert!(size_of::<GUID>() == 0x10);
const _: () = assert!(align_of::<GUID>() == 4);
const _: () = assert!(offset_of!(GUID, Data1) == 0x0);
const _: () = assert!(offset_of!(GUID, Data2) == 0x4);
const _: () = assert!(offset_of!(GUID, Data3) == 0x6);
const _: () = assert!(offset_of!(GUID, Data4) == 0x8);
const _: () = assert!(size_of::<GROUP_AFFINITY>() == 0x10);
const _: () = assert!(align_of::<GROUP_AFFINITY>() == 8);
const _: () = assert!(offset_of!(GROUP_AFFINITY, Mask) == 0x0);
const _: () = assert!(offset_of!(GROUP_AFFINITY, Group) == 0x8);
const _: () = assert!(offset_of!(GROUP_AFFINITY, Reserved) == 0xa);
const _: () = assert!(size_of::<SOCKADDR>() == 0x10);
const _: () = assert!(align_of::<SOCKADDR>() == 2);
const _: () = assert!(offset_of!(SOCKADDR, sa_family) == 0x0);
const _: () = assert!(offset_of!(SOCKADDR, sa_data) == 0x2);
const _: () = assert!(size_of::<SOCKADDR_IN>() == 0x10);
const _: () = assert!(align_of::<SOCKADDR_IN>() == 4);
const _: () = assert!(offset_of!(SOCKADDR_IN, sin_family) == 0x0);
const _: () = assert!(offset_of!(SOCKADDR_IN, sin_port) == 0x2);
const _: () = assert!(offset_of!(SOCKADDR_IN, sin_addr) == 0x4);
const _: () = assert!(offset_of!(SOCKADDR_IN, sin_zero) == 0x8);
const _: () = assert!(size_of::<SOCKADDR_IN6>() == 0x1c);
const _: () = assert!(align_of::<SOCKADDR_IN6>() == 4);
const _: () = assert!(offset_of!(SOCKADDR_IN6, sin6_family) == 0x0);
const _: () = assert!(offset_of!(SOCKADDR_IN6, sin6_port) == 0x2);
const _: () = assert!(offset_of!(SOCKADDR_IN6, sin6_flowinfo) == 0x4);
const _: () = assert!(offset_of!(SOCKADDR_IN6, sin6_addr) == 0x8);
const _: () = assert!(offset_of!(SOCKADDR_IN6, sin6_scope_id) == 0x18);
const _: () = assert!(size_of::<SOCKADDR_INET>() == 0x1c);
const _: () = assert!(align_of::<SOCKADDR_INET>() == 4);
const _: () = assert!(offset_of!(SOCKADDR_INET, Ipv4) == 0x0);
const _: () = assert!(offset_of!(SOCKADDR_INET, Ipv6) == 0x0);
const _: () = assert!(offset_of!(SOCKADDR_INET, si_family) == 0x0);
const _: () = assert!(size_of::<MDL>() == 0x30);
const _: () = assert!(align_of::<MDL>() == 8);
const _: () = assert!(offset_of!(MDL, Next) == 0x0);
const _: () = assert!(offset_of!(MDL, Size) == 0x8);
const _: () = assert!(offset_of!(MDL, MdlFlags) == 0xa);
const _: () = assert!(offset_of!(MDL, AllocationProcessorNumber) == 0xc);
const _: () = assert!(offset_of!(MDL, Reserved) == 0xe);
const _: () = assert!(offset_of!(MDL, Process) == 0x10);
const _: () = assert!(offset_of!(MDL, MappedSystemVa) == 0x18);
const _: () = assert!(offset_of!(MDL, StartVa) == 0x20);
const _: () = assert!(offset_of!(MDL, ByteCount) == 0x28);
const _: () = assert!(offset_of!(MDL, ByteOffset) == 0x2c);

// ndkpi.md §1.1 — NDK_VERSION
const _: () = assert!(size_of::<NDK_VERSION>() == 0x4);
const _: () = assert!(align_of::<NDK_VERSION>() == 2);
const _: () = assert!(offset_of!(NDK_VERSION, Major) == 0x0);
const _: () = assert!(offset_of!(NDK_VERSION, Minor) == 0x2);

// ndkpi.md §2.1 — NDK_OBJECT_TYPE (int-sized enum) values
const _: () = assert!(size_of::<NDK_OBJECT_TYPE>() == 4);
const _: () = assert!(NdkObjectTypeUndefined == 0);
const _: () = assert!(NdkObjectTypeAdapter == 1);
const _: () = assert!(NdkObjectTypeQp == 2);
const _: () = assert!(NdkObjectTypeCq == 3);
const _: () = assert!(NdkObjectTypeMr == 4);
const _: () = assert!(NdkObjectTypeMw == 5);
const _: () = assert!(NdkObjectTypePd == 6);
const _: () = assert!(NdkObjectTypeSharedEndpoint == 7);
const _: () = assert!(NdkObjectTypeConnector == 8);
const _: () = assert!(NdkObjectTypeListener == 9);
const _: () = assert!(NdkObjectTypeSrq == 10);
const _: () = assert!(NdkObjectTypeMax == 11);

// ndkpi.md §2.2 — NDK_OBJECT_HEADER_RESERVED_BLOCK
const _: () = assert!(size_of::<NDK_OBJECT_HEADER_RESERVED_BLOCK>() == 0x20);
const _: () = assert!(align_of::<NDK_OBJECT_HEADER_RESERVED_BLOCK>() == 8);
const _: () = assert!(offset_of!(NDK_OBJECT_HEADER_RESERVED_BLOCK, rf) == 0x0);

// ndkpi.md §2.3 — NDK_OBJECT_HEADER
const _: () = assert!(size_of::<NDK_OBJECT_HEADER>() == 0x28);
const _: () = assert!(align_of::<NDK_OBJECT_HEADER>() == 8);
const _: () = assert!(offset_of!(NDK_OBJECT_HEADER, Version) == 0x0);
const _: () = assert!(offset_of!(NDK_OBJECT_HEADER, ObjectType) == 0x4);
const _: () = assert!(offset_of!(NDK_OBJECT_HEADER, NdkReserved) == 0x8);

// ndkpi.md §2.4 — the ten NDK objects
const _: () = assert!(size_of::<NDK_ADAPTER>() == 0x30);
const _: () = assert!(align_of::<NDK_ADAPTER>() == 8);
const _: () = assert!(offset_of!(NDK_ADAPTER, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_ADAPTER, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_PD>() == 0x30);
const _: () = assert!(align_of::<NDK_PD>() == 8);
const _: () = assert!(offset_of!(NDK_PD, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_PD, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_CQ>() == 0x30);
const _: () = assert!(align_of::<NDK_CQ>() == 8);
const _: () = assert!(offset_of!(NDK_CQ, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_CQ, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_MR>() == 0x30);
const _: () = assert!(align_of::<NDK_MR>() == 8);
const _: () = assert!(offset_of!(NDK_MR, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_MR, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_MW>() == 0x30);
const _: () = assert!(align_of::<NDK_MW>() == 8);
const _: () = assert!(offset_of!(NDK_MW, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_MW, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_SRQ>() == 0x30);
const _: () = assert!(align_of::<NDK_SRQ>() == 8);
const _: () = assert!(offset_of!(NDK_SRQ, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_SRQ, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_QP>() == 0x30);
const _: () = assert!(align_of::<NDK_QP>() == 8);
const _: () = assert!(offset_of!(NDK_QP, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_QP, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_CONNECTOR>() == 0x30);
const _: () = assert!(align_of::<NDK_CONNECTOR>() == 8);
const _: () = assert!(offset_of!(NDK_CONNECTOR, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_CONNECTOR, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_LISTENER>() == 0x30);
const _: () = assert!(align_of::<NDK_LISTENER>() == 8);
const _: () = assert!(offset_of!(NDK_LISTENER, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_LISTENER, Dispatch) == 0x28);
const _: () = assert!(size_of::<NDK_SHARED_ENDPOINT>() == 0x30);
const _: () = assert!(align_of::<NDK_SHARED_ENDPOINT>() == 8);
const _: () = assert!(offset_of!(NDK_SHARED_ENDPOINT, Header) == 0x0);
const _: () = assert!(offset_of!(NDK_SHARED_ENDPOINT, Dispatch) == 0x28);

// ndkpi.md §2.5 — NDK_EXTENSION_INTERFACE
const _: () = assert!(size_of::<NDK_EXTENSION_INTERFACE>() == 0x8);
const _: () = assert!(align_of::<NDK_EXTENSION_INTERFACE>() == 8);
const _: () = assert!(offset_of!(NDK_EXTENSION_INTERFACE, Dispatch) == 0x0);

// ndkpi.md §4.1 — NDK_ADAPTER_DISPATCH (9 slots, no close slot)
const _: () = assert!(size_of::<NDK_ADAPTER_DISPATCH>() == 0x48);
const _: () = assert!(align_of::<NDK_ADAPTER_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkQueryExtension) == 0x0);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkQueryAdapterInfo) == 0x8);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkCreateCq) == 0x10);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkCreatePd) == 0x18);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkCreateSharedEndpoint) == 0x20);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkCreateConnector) == 0x28);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkCreateListener) == 0x30);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkBuildLAM) == 0x38);
const _: () = assert!(offset_of!(NDK_ADAPTER_DISPATCH, NdkReleaseLAM) == 0x40);

// ndkpi.md §4.2 — NDK_PD_DISPATCH (8 slots)
const _: () = assert!(size_of::<NDK_PD_DISPATCH>() == 0x40);
const _: () = assert!(align_of::<NDK_PD_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkClosePd) == 0x0);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkCreateMr) == 0x10);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkCreateMw) == 0x18);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkCreateSrq) == 0x20);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkCreateQp) == 0x28);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkCreateQpWithSrq) == 0x30);
const _: () = assert!(offset_of!(NDK_PD_DISPATCH, NdkGetPrivilegedMemoryRegionToken) == 0x38);

// ndkpi.md §4.3 — NDK_CQ_DISPATCH (7 slots)
const _: () = assert!(size_of::<NDK_CQ_DISPATCH>() == 0x38);
const _: () = assert!(align_of::<NDK_CQ_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_CQ_DISPATCH, NdkCloseCq) == 0x0);
const _: () = assert!(offset_of!(NDK_CQ_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_CQ_DISPATCH, NdkResizeCq) == 0x10);
const _: () = assert!(offset_of!(NDK_CQ_DISPATCH, NdkArmCq) == 0x18);
const _: () = assert!(offset_of!(NDK_CQ_DISPATCH, NdkGetCqResults) == 0x20);
const _: () = assert!(offset_of!(NDK_CQ_DISPATCH, NdkControlCqInterruptModeration) == 0x28);
const _: () = assert!(offset_of!(NDK_CQ_DISPATCH, NdkGetCqResultsEx) == 0x30);

// ndkpi.md §4.4 — NDK_MR_DISPATCH (7 slots)
const _: () = assert!(size_of::<NDK_MR_DISPATCH>() == 0x38);
const _: () = assert!(align_of::<NDK_MR_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_MR_DISPATCH, NdkCloseMr) == 0x0);
const _: () = assert!(offset_of!(NDK_MR_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_MR_DISPATCH, NdkRegisterMr) == 0x10);
const _: () = assert!(offset_of!(NDK_MR_DISPATCH, NdkDeregisterMr) == 0x18);
const _: () = assert!(offset_of!(NDK_MR_DISPATCH, NdkInitializeFastRegisterMr) == 0x20);
const _: () = assert!(offset_of!(NDK_MR_DISPATCH, NdkGetRemoteTokenFromMr) == 0x28);
const _: () = assert!(offset_of!(NDK_MR_DISPATCH, NdkGetLocalTokenFromMr) == 0x30);

// ndkpi.md §4.5 — NDK_MW_DISPATCH (3 slots)
const _: () = assert!(size_of::<NDK_MW_DISPATCH>() == 0x18);
const _: () = assert!(align_of::<NDK_MW_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_MW_DISPATCH, NdkCloseMw) == 0x0);
const _: () = assert!(offset_of!(NDK_MW_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_MW_DISPATCH, NdkGetRemoteTokenFromMw) == 0x10);

// ndkpi.md §4.6 — NDK_SRQ_DISPATCH (4 slots)
const _: () = assert!(size_of::<NDK_SRQ_DISPATCH>() == 0x20);
const _: () = assert!(align_of::<NDK_SRQ_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_SRQ_DISPATCH, NdkCloseSrq) == 0x0);
const _: () = assert!(offset_of!(NDK_SRQ_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_SRQ_DISPATCH, NdkModifySrq) == 0x10);
const _: () = assert!(offset_of!(NDK_SRQ_DISPATCH, NdkSrqReceive) == 0x18);

// ndkpi.md §4.7 — NDK_QP_DISPATCH (11 slots)
const _: () = assert!(size_of::<NDK_QP_DISPATCH>() == 0x58);
const _: () = assert!(align_of::<NDK_QP_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkCloseQp) == 0x0);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkFlush) == 0x10);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkSend) == 0x18);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkReceive) == 0x20);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkBind) == 0x28);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkFastRegister) == 0x30);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkInvalidate) == 0x38);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkRead) == 0x40);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkWrite) == 0x48);
const _: () = assert!(offset_of!(NDK_QP_DISPATCH, NdkSendAndInvalidate) == 0x50);

// ndkpi.md §4.8 — NDK_CONNECTOR_DISPATCH (13 slots, 2.1 form)
const _: () = assert!(size_of::<NDK_CONNECTOR_DISPATCH>() == 0x68);
const _: () = assert!(align_of::<NDK_CONNECTOR_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkCloseConnector) == 0x0);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkConnect) == 0x10);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkConnectWithSharedEndpoint) == 0x18);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkCompleteConnect) == 0x20);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkAccept) == 0x28);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkReject) == 0x30);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkGetConnectionData) == 0x38);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkGetLocalAddress) == 0x40);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkGetPeerAddress) == 0x48);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkDisconnect) == 0x50);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkCompleteConnectEx) == 0x58);
const _: () = assert!(offset_of!(NDK_CONNECTOR_DISPATCH, NdkAcceptEx) == 0x60);

// ndkpi.md §4.9 — NDK_LISTENER_DISPATCH (5 slots)
const _: () = assert!(size_of::<NDK_LISTENER_DISPATCH>() == 0x28);
const _: () = assert!(align_of::<NDK_LISTENER_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_LISTENER_DISPATCH, NdkCloseListener) == 0x0);
const _: () = assert!(offset_of!(NDK_LISTENER_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_LISTENER_DISPATCH, NdkListen) == 0x10);
const _: () = assert!(offset_of!(NDK_LISTENER_DISPATCH, NdkGetLocalAddress) == 0x18);
const _: () = assert!(offset_of!(NDK_LISTENER_DISPATCH, NdkControlConnectEvents) == 0x20);

// ndkpi.md §4.10 — NDK_SHARED_ENDPOINT_DISPATCH (3 slots)
const _: () = assert!(size_of::<NDK_SHARED_ENDPOINT_DISPATCH>() == 0x18);
const _: () = assert!(align_of::<NDK_SHARED_ENDPOINT_DISPATCH>() == 8);
const _: () = assert!(offset_of!(NDK_SHARED_ENDPOINT_DISPATCH, NdkCloseSharedEndpoint) == 0x0);
const _: () = assert!(offset_of!(NDK_SHARED_ENDPOINT_DISPATCH, NdkQueryExtension) == 0x8);
const _: () = assert!(offset_of!(NDK_SHARED_ENDPOINT_DISPATCH, NdkGetLocalAddress) == 0x10);

// ndkpi.md §5.1 — NDK_ADAPTER_INFO
const _: () = assert!(size_of::<NDK_ADAPTER_INFO>() == 0x68);
const _: () = assert!(align_of::<NDK_ADAPTER_INFO>() == 8);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, Version) == 0x0);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, VendorId) == 0x4);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, DeviceId) == 0x8);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxRegistrationSize) == 0x10);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxWindowSize) == 0x18);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, FRMRPageCount) == 0x20);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxInitiatorRequestSge) == 0x24);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxReceiveRequestSge) == 0x28);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxReadRequestSge) == 0x2c);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxTransferLength) == 0x30);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxInlineDataSize) == 0x34);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxInboundReadLimit) == 0x38);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxOutboundReadLimit) == 0x3c);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxReceiveQueueDepth) == 0x40);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxInitiatorQueueDepth) == 0x44);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxSrqDepth) == 0x48);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxCqDepth) == 0x4c);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, LargeRequestThreshold) == 0x50);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxCallerData) == 0x54);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, MaxCalleeData) == 0x58);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, AdapterFlags) == 0x5c);
const _: () = assert!(offset_of!(NDK_ADAPTER_INFO, RdmaTechnology) == 0x60);
const _: () = assert!(size_of::<NDK_RDMA_TECHNOLOGY>() == 4);
const _: () = assert!(NdkUndefined == 0);
const _: () = assert!(NdkiWarp == 1);
const _: () = assert!(NdkInfiniBand == 2);
const _: () = assert!(NdkRoCE == 3);
const _: () = assert!(NdkRoCEv2 == 4);
const _: () = assert!(NdkMaxTechnology == 5);
const _: () = assert!(NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED == 0x1);
const _: () = assert!(NDK_ADAPTER_FLAG_RDMA_READ_SINK_NOT_REQUIRED == 0x2);
const _: () = assert!(NDK_ADAPTER_FLAG_CQ_INTERRUPT_MODERATION_SUPPORTED == 0x4);
const _: () = assert!(NDK_ADAPTER_FLAG_MULTI_ENGINE_SUPPORTED == 0x8);
const _: () = assert!(NDK_ADAPTER_FLAG_RDMA_READ_LOCAL_INVALIDATE_SUPPORTED == 0x10);
const _: () = assert!(NDK_ADAPTER_FLAG_CQ_RESIZE_SUPPORTED == 0x100);
const _: () = assert!(NDK_ADAPTER_FLAG_LOOPBACK_CONNECTIONS_SUPPORTED == 0x1_0000);
const _: () = assert!(size_of::<NdkAdapterFlags>() == 4);
const _: () = assert!(NdkAdapterFlags::all().bits() == 0x1_011F);

// ndkpi.md §5.2 — NDK_SGE
const _: () = assert!(size_of::<NDK_SGE_ADDRESS>() == 0x8);
const _: () = assert!(align_of::<NDK_SGE_ADDRESS>() == 8);
const _: () = assert!(offset_of!(NDK_SGE_ADDRESS, VirtualAddress) == 0x0);
const _: () = assert!(offset_of!(NDK_SGE_ADDRESS, LogicalAddress) == 0x0);
const _: () = assert!(size_of::<NDK_SGE>() == 0x10);
const _: () = assert!(align_of::<NDK_SGE>() == 8);
const _: () = assert!(offset_of!(NDK_SGE, Address) == 0x0);
const _: () = assert!(offset_of!(NDK_SGE, Length) == 0x8);
const _: () = assert!(offset_of!(NDK_SGE, MemoryRegionToken) == 0xc);

// ndkpi.md §5.3 — NDK_RESULT
const _: () = assert!(size_of::<NDK_RESULT>() == 0x18);
const _: () = assert!(align_of::<NDK_RESULT>() == 8);
const _: () = assert!(offset_of!(NDK_RESULT, Status) == 0x0);
const _: () = assert!(offset_of!(NDK_RESULT, BytesTransferred) == 0x4);
const _: () = assert!(offset_of!(NDK_RESULT, QPContext) == 0x8);
const _: () = assert!(offset_of!(NDK_RESULT, RequestContext) == 0x10);

// ndkpi.md §5.4 — NDK_RESULT_EX
const _: () = assert!(size_of::<NDK_RESULT_EX>() == 0x28);
const _: () = assert!(align_of::<NDK_RESULT_EX>() == 8);
const _: () = assert!(offset_of!(NDK_RESULT_EX, Status) == 0x0);
const _: () = assert!(offset_of!(NDK_RESULT_EX, BytesTransferred) == 0x4);
const _: () = assert!(offset_of!(NDK_RESULT_EX, QPContext) == 0x8);
const _: () = assert!(offset_of!(NDK_RESULT_EX, RequestContext) == 0x10);
const _: () = assert!(offset_of!(NDK_RESULT_EX, Type) == 0x18);
const _: () = assert!(offset_of!(NDK_RESULT_EX, ProviderErrorCode) == 0x1c);
const _: () = assert!(offset_of!(NDK_RESULT_EX, TypeSpecificCompletionOutput) == 0x20);
// ndkpi.md §5.5 — NDK_OPERATION_TYPE values
const _: () = assert!(size_of::<NDK_OPERATION_TYPE>() == 4);
const _: () = assert!(NdkOperationTypeReceive == 1);
const _: () = assert!(NdkOperationTypeReceiveAndInvalidate == 0x8001);
const _: () = assert!(NdkOperationTypeSend == 2);
const _: () = assert!(NdkOperationTypeFastRegister == 4);
const _: () = assert!(NdkOperationTypeBind == 8);
const _: () = assert!(NdkOperationTypeInvalidate == 0x10);
const _: () = assert!(NdkOperationTypeRead == 0x20);
const _: () = assert!(NdkOperationTypeWrite == 0x40);

// ndkpi.md §5.6 — NDK_LOGICAL_ADDRESS_MAPPING (declared with [1])
const _: () = assert!(size_of::<NDK_LOGICAL_ADDRESS_MAPPING>() == 0x18);
const _: () = assert!(align_of::<NDK_LOGICAL_ADDRESS_MAPPING>() == 8);
const _: () = assert!(offset_of!(NDK_LOGICAL_ADDRESS_MAPPING, AdapterContext) == 0x0);
const _: () = assert!(offset_of!(NDK_LOGICAL_ADDRESS_MAPPING, AdapterPageCount) == 0x8);
const _: () = assert!(offset_of!(NDK_LOGICAL_ADDRESS_MAPPING, AdapterPageArray) == 0x10);
const _: () = assert!(ndk_lam_size(0) == 0x10);
const _: () = assert!(ndk_lam_size(1) == 0x18);
const _: () = assert!(ndk_lam_size(16) == 0x90);
const _: () = assert!(ndk_lam_size(u32::MAX) == 0x10 + 8 * (u32::MAX as usize));

// ndkpi.md §5.7 — NDK_OP_FLAG_*
const _: () = assert!(NDK_OP_FLAG_SILENT_SUCCESS == 0x1);
const _: () = assert!(NDK_OP_FLAG_READ_FENCE == 0x2);
const _: () = assert!(NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT == 0x4);
const _: () = assert!(NDK_OP_FLAG_ALLOW_REMOTE_READ == 0x8);
const _: () = assert!(NDK_OP_FLAG_ALLOW_LOCAL_WRITE == 0x10);
const _: () = assert!(NDK_OP_FLAG_ALLOW_REMOTE_WRITE == 0x30);
const _: () = assert!(NDK_OP_FLAG_ALLOW_REMOTE_WRITE & NDK_OP_FLAG_ALLOW_LOCAL_WRITE != 0);
const _: () = assert!(NDK_OP_FLAG_INLINE == 0x40);
const _: () = assert!(NDK_OP_FLAG_RDMA_READ_SINK == 0x80);
const _: () = assert!(NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE == 0x100);
const _: () = assert!(NDK_OP_FLAG_DEFER == 0x200);
const _: () = assert!(size_of::<NdkOpFlags>() == 4);
const _: () = assert!(NdkOpFlags::all().bits() == 0x3FF);

// ndkpi.md §5.8 — NDK_MR_FLAG_*
const _: () = assert!(NDK_MR_FLAG_ALLOW_LOCAL_READ == 0);
const _: () = assert!(NDK_MR_FLAG_ALLOW_LOCAL_WRITE == 0x1);
const _: () = assert!(NDK_MR_FLAG_ALLOW_REMOTE_READ == 0x2);
const _: () = assert!(NDK_MR_FLAG_ALLOW_REMOTE_WRITE == 0x5);
const _: () = assert!(NDK_MR_FLAG_ALLOW_REMOTE_WRITE & NDK_MR_FLAG_ALLOW_LOCAL_WRITE != 0);
const _: () = assert!(NDK_MR_FLAG_RDMA_READ_SINK == 0x8);
const _: () = assert!(size_of::<NdkMrFlags>() == 4);
const _: () = assert!(NdkMrFlags::all().bits() == 0xF);

// ndkpi.md §5.9 — CQ notification types
const _: () = assert!(NDK_CQ_NOTIFY_ERRORS == 0);
const _: () = assert!(NDK_CQ_NOTIFY_ANY == 1);
const _: () = assert!(NDK_CQ_NOTIFY_SOLICITED == 2);

// ndkpi.md §6 — status helpers (the hex values are written once, in status.rs)
const _: () = assert!(size_of::<NDIS_STATUS>() == 4);
const _: () = assert!(nt_success(STATUS_SUCCESS));
const _: () = assert!(nt_success(STATUS_PENDING));
const _: () = assert!(nt_success(STATUS_TIMEOUT));
const _: () = assert!(!nt_success(STATUS_BUFFER_OVERFLOW));
const _: () = assert!(!nt_success(STATUS_INSUFFICIENT_RESOURCES));
const _: () = assert!(NDIS_STATUS_RESOURCES == STATUS_INSUFFICIENT_RESOURCES);

// ndkpi.md §8.1 — NDIS_OBJECT_HEADER, open parameters, provider characteristics
const _: () = assert!(size_of::<NDIS_OBJECT_HEADER>() == 0x4);
const _: () = assert!(align_of::<NDIS_OBJECT_HEADER>() == 2);
const _: () = assert!(offset_of!(NDIS_OBJECT_HEADER, Type) == 0x0);
const _: () = assert!(offset_of!(NDIS_OBJECT_HEADER, Revision) == 0x1);
const _: () = assert!(offset_of!(NDIS_OBJECT_HEADER, Size) == 0x2);
const _: () = assert!(size_of::<NDIS_OPEN_NDK_ADAPTER_PARAMETERS>() == 0xc);
const _: () = assert!(align_of::<NDIS_OPEN_NDK_ADAPTER_PARAMETERS>() == 4);
const _: () = assert!(offset_of!(NDIS_OPEN_NDK_ADAPTER_PARAMETERS, Version) == 0x0);
const _: () = assert!(offset_of!(NDIS_OPEN_NDK_ADAPTER_PARAMETERS, SwitchId) == 0x4);
const _: () = assert!(offset_of!(NDIS_OPEN_NDK_ADAPTER_PARAMETERS, VPortId) == 0x8);
const _: () = assert!(size_of::<NDIS_NDK_PROVIDER_CHARACTERISTICS>() == 0x18);
const _: () = assert!(align_of::<NDIS_NDK_PROVIDER_CHARACTERISTICS>() == 8);
const _: () = assert!(offset_of!(NDIS_NDK_PROVIDER_CHARACTERISTICS, Header) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_PROVIDER_CHARACTERISTICS, Flags) == 0x4);
const _: () = assert!(offset_of!(NDIS_NDK_PROVIDER_CHARACTERISTICS, OpenNDKAdapterHandler) == 0x8);
const _: () =
    assert!(offset_of!(NDIS_NDK_PROVIDER_CHARACTERISTICS, CloseNDKAdapterHandler) == 0x10);
const _: () = assert!(size_of::<NDIS_HANDLE>() == 8);
const _: () = assert!(size_of::<OPEN_NDK_ADAPTER_HANDLER>() == 8);
const _: () = assert!(size_of::<CLOSE_NDK_ADAPTER_HANDLER>() == 8);
const _: () = assert!(NDIS_OBJECT_TYPE_DEFAULT == 0x80);
const _: () = assert!(NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS == 0xB2);
const _: () = assert!(NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NDK_ATTRIBUTES == 0xB3);
const _: () = assert!(NDIS_NDK_PROVIDER_CHARACTERISTICS_REVISION_1 == 1);
const _: () = assert!(NDIS_SIZEOF_NDK_PROVIDER_CHARACTERISTICS_REVISION_1 == 0x18);
const _: () = assert!(NETWORK_DIRECT_KEYWORD_W.len() == 14);
const _: () = assert!(NETWORK_DIRECT_KEYWORD_W[0] == b'*' as u16);
const _: () = assert!(NETWORK_DIRECT_GLOBAL_FLAGS_KEYWORD_W.len() == 25);

// ndkpi.md §8.2 — adapter NDK attributes and capabilities
const _: () = assert!(size_of::<NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES>() == 0x10);
const _: () = assert!(align_of::<NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES>() == 8);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES, Header) == 0x0);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES, Enabled) == 0x4);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES, NdkCapabilities) == 0x8);
const _: () = assert!(size_of::<NDIS_NDK_CAPABILITIES>() == 0x38);
const _: () = assert!(align_of::<NDIS_NDK_CAPABILITIES>() == 8);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, Header) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, Flags) == 0x4);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxQpCount) == 0x8);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxCqCount) == 0xc);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxMrCount) == 0x10);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxPdCount) == 0x14);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxInboundReadLimit) == 0x18);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxOutboundReadLimit) == 0x1c);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxMwCount) == 0x20);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MaxSrqCount) == 0x24);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, MissingCounterMask) == 0x28);
const _: () = assert!(offset_of!(NDIS_NDK_CAPABILITIES, NdkInfo) == 0x30);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1 == 0x10);
const _: () = assert!(NDIS_SIZEOF_NDK_CAPABILITIES_REVISION_1 == 0x38);

// ndkpi.md §8.3 — OIDs and PnP events
const _: () = assert!(OID_NDK_SET_STATE == 0xFC04_0201);
const _: () = assert!(OID_NDK_STATISTICS == 0xFC04_0202);
const _: () = assert!(OID_NDK_CONNECTIONS == 0xFC04_0203);
const _: () = assert!(OID_NDK_LOCAL_ENDPOINTS == 0xFC04_0204);
const _: () = assert!(NetEventNDKEnable == 13);
const _: () = assert!(NetEventNDKDisable == 14);

// ndkpi.md §8.4 — statistics, connections, local endpoints
const _: () = assert!(size_of::<NDIS_NDK_PERFORMANCE_COUNTERS>() == 0xf0);
const _: () = assert!(align_of::<NDIS_NDK_PERFORMANCE_COUNTERS>() == 8);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, Connect) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, Accept) == 0x8);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, ConnectFailure) == 0x10);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, ConnectionError) == 0x18);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, ActiveConnection) == 0x20);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, Reserved) == 0x28);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, CQError) == 0xc8);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, RDMAInOctets) == 0xd0);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, RDMAOutOctets) == 0xd8);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, RDMAInFrames) == 0xe0);
const _: () = assert!(offset_of!(NDIS_NDK_PERFORMANCE_COUNTERS, RDMAOutFrames) == 0xe8);
const _: () = assert!(size_of::<NDIS_NDK_STATISTICS_INFO>() == 0xf8);
const _: () = assert!(align_of::<NDIS_NDK_STATISTICS_INFO>() == 8);
const _: () = assert!(offset_of!(NDIS_NDK_STATISTICS_INFO, Header) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_STATISTICS_INFO, Flags) == 0x4);
const _: () = assert!(offset_of!(NDIS_NDK_STATISTICS_INFO, CounterSet) == 0x8);
const _: () = assert!(size_of::<NDIS_NDK_CONNECTION_ENTRY>() == 0x40);
const _: () = assert!(align_of::<NDIS_NDK_CONNECTION_ENTRY>() == 4);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTION_ENTRY, Local) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTION_ENTRY, Remote) == 0x1c);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTION_ENTRY, UserModeOwner) == 0x38);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTION_ENTRY, OwnerPid) == 0x3c);
const _: () = assert!(size_of::<NDIS_NDK_CONNECTIONS>() == 0x50);
const _: () = assert!(align_of::<NDIS_NDK_CONNECTIONS>() == 4);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTIONS, Header) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTIONS, Flags) == 0x4);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTIONS, Count) == 0x8);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTIONS, NDConnectionsMappedtoTCPConnections) == 0xc);
const _: () = assert!(offset_of!(NDIS_NDK_CONNECTIONS, Connections) == 0x10);
const _: () = assert!(size_of::<NDIS_NDK_LOCAL_ENDPOINT_ENTRY>() == 0x24);
const _: () = assert!(align_of::<NDIS_NDK_LOCAL_ENDPOINT_ENTRY>() == 4);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINT_ENTRY, Local) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINT_ENTRY, UserModeOwner) == 0x1c);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINT_ENTRY, Listener) == 0x1d);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINT_ENTRY, OwnerPid) == 0x20);
const _: () = assert!(size_of::<NDIS_NDK_LOCAL_ENDPOINTS>() == 0x34);
const _: () = assert!(align_of::<NDIS_NDK_LOCAL_ENDPOINTS>() == 4);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINTS, Header) == 0x0);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINTS, Flags) == 0x4);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINTS, Count) == 0x8);
const _: () = assert!(
    offset_of!(
        NDIS_NDK_LOCAL_ENDPOINTS,
        NDLocalEndpointsMappedtoTCPLocalEndpoints
    ) == 0xc
);
const _: () = assert!(offset_of!(NDIS_NDK_LOCAL_ENDPOINTS, LocalEndpoints) == 0x10);
const _: () = assert!(NDIS_SIZEOF_NDK_STATISTICS_INFO_REVISION_1 == 0xF8);
