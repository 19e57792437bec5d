//! Compile-time layout checks of the NDIS miniport ABI (x64), see `miniport`.
//!
//! Sizes and offsets are the x64 values of the WDK structures (public binary dumps of
//! `ndis.sys` for NET_BUFFER / NET_BUFFER_LIST; the declared C types elsewhere). Any
//! mismatch fails the build. Only compiled for 64-bit targets.

use core::mem::{align_of, offset_of, size_of};

use super::miniport::*;
use super::ndis::*;

// Scalars and base types
const _: () = assert!(size_of::<NDIS_PHYSICAL_ADDRESS>() == 8);
const _: () = assert!(size_of::<NDIS_PORT_NUMBER>() == 4);
const _: () = assert!(size_of::<UNICODE_STRING>() == 0x10);
const _: () = assert!(offset_of!(UNICODE_STRING, MaximumLength) == 0x2);
const _: () = assert!(offset_of!(UNICODE_STRING, Buffer) == 0x8);
const _: () = assert!(size_of::<NET_LUID>() == 8);
const _: () = assert!(size_of::<SLIST_HEADER>() == 0x10);
const _: () = assert!(align_of::<SLIST_HEADER>() == 0x10);
const _: () = assert!(size_of::<DRIVER_OBJECT>() == 0);

// Handler typedefs stay pointer-sized (NULL niche).
const _: () = assert!(size_of::<SET_OPTIONS_HANDLER>() == 8);
const _: () = assert!(size_of::<MINIPORT_INITIALIZE_HANDLER>() == 8);
const _: () = assert!(size_of::<MINIPORT_MSI_ISR_HANDLER>() == 8);
const _: () = assert!(size_of::<NDIS_IO_WORKITEM_ROUTINE>() == 8);

// Configuration
const _: () = assert!(size_of::<BINARY_DATA>() == 0x10);
const _: () = assert!(offset_of!(BINARY_DATA, Buffer) == 0x8);
const _: () = assert!(size_of::<NDIS_CONFIGURATION_PARAMETER>() == 0x18);
const _: () = assert!(offset_of!(NDIS_CONFIGURATION_PARAMETER, ParameterData) == 0x8);
const _: () = assert!(size_of::<NDIS_CONFIGURATION_OBJECT>() == 0x18);
const _: () = assert!(offset_of!(NDIS_CONFIGURATION_OBJECT, NdisHandle) == 0x8);
const _: () = assert!(offset_of!(NDIS_CONFIGURATION_OBJECT, Flags) == 0x10);
const _: () = assert!(NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1 == 0x14);

// Resources (pack 4)
const _: () = assert!(size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR_MEMORY>() == 0xC);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR_MEMORY, Length) == 0x8);
const _: () = assert!(size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT>() == 0x10);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT, Group) == 0x2);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT, Vector) == 0x4);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT, Affinity) == 0x8);
const _: () = assert!(
    offset_of!(
        CM_PARTIAL_RESOURCE_DESCRIPTOR_MESSAGE_INTERRUPT_RAW,
        MessageCount
    ) == 0x2
);
const _: () = assert!(size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR_MESSAGE_INTERRUPT>() == 0x10);
const _: () = assert!(size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR_U>() == 0x10);
const _: () = assert!(size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>() == 0x14);
const _: () = assert!(align_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>() == 4);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, Flags) == 0x2);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u) == 0x4);
const _: () = assert!(size_of::<CM_PARTIAL_RESOURCE_LIST>() == 0x1C);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_LIST, Count) == 0x4);
const _: () = assert!(offset_of!(CM_PARTIAL_RESOURCE_LIST, PartialDescriptors) == 0x8);

// NDIS_MINIPORT_DRIVER_CHARACTERISTICS
const _: () = assert!(size_of::<NDIS_MINIPORT_DRIVER_CHARACTERISTICS>() == 0x98);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, MajorNdisVersion) == 0x4);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, Flags) == 0x8);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, SetOptionsHandler) == 0x10);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, InitializeHandlerEx) == 0x18);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, HaltHandlerEx) == 0x20);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, UnloadHandler) == 0x28);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, PauseHandler) == 0x30);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, RestartHandler) == 0x38);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, OidRequestHandler) == 0x40);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        SendNetBufferListsHandler
    ) == 0x48
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        ReturnNetBufferListsHandler
    ) == 0x50
);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, CancelSendHandler) == 0x58);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, CheckForHangHandlerEx) == 0x60);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, ResetHandlerEx) == 0x68);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        DevicePnPEventNotifyHandler
    ) == 0x70
);
const _: () = assert!(offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, ShutdownHandlerEx) == 0x78);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        CancelOidRequestHandler
    ) == 0x80
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        DirectOidRequestHandler
    ) == 0x88
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        CancelDirectOidRequestHandler
    ) == 0x90
);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1 == 0x88);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 == 0x98);
const _: () = assert!(size_of::<NDIS_DRIVER_OPTIONAL_HANDLERS>() == 0x4);

// NDIS_MINIPORT_INIT_PARAMETERS
const _: () = assert!(size_of::<NDIS_MINIPORT_INIT_PARAMETERS>() == 0x40);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, Flags) == 0x4);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, AllocatedResources) == 0x8);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, IMDeviceInstanceContext) == 0x10);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, MiniportAddDeviceContext) == 0x18);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, IfIndex) == 0x20);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, NetLuid) == 0x28);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, DefaultPortAuthStates) == 0x30);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, PciDeviceCustomProperties) == 0x38);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_INIT_PARAMETERS_REVISION_1 == 0x40);

// Pause / restart / PnP
const _: () = assert!(size_of::<NDIS_MINIPORT_PAUSE_PARAMETERS>() == 0xC);
const _: () = assert!(offset_of!(NDIS_MINIPORT_PAUSE_PARAMETERS, PauseReason) == 0x8);
const _: () = assert!(size_of::<NDIS_MINIPORT_RESTART_PARAMETERS>() == 0x18);
const _: () = assert!(offset_of!(NDIS_MINIPORT_RESTART_PARAMETERS, RestartAttributes) == 0x8);
const _: () = assert!(offset_of!(NDIS_MINIPORT_RESTART_PARAMETERS, Flags) == 0x10);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_RESTART_PARAMETERS_REVISION_1 == 0x14);
const _: () = assert!(size_of::<NET_DEVICE_PNP_EVENT>() == 0x30);
const _: () = assert!(offset_of!(NET_DEVICE_PNP_EVENT, DevicePnPEvent) == 0x8);
const _: () = assert!(offset_of!(NET_DEVICE_PNP_EVENT, InformationBuffer) == 0x10);
const _: () = assert!(offset_of!(NET_DEVICE_PNP_EVENT, InformationBufferLength) == 0x18);
const _: () = assert!(offset_of!(NET_DEVICE_PNP_EVENT, NdisReserved) == 0x1C);
const _: () = assert!(size_of::<NET_PNP_EVENT>() == 0x98);
const _: () = assert!(offset_of!(NET_PNP_EVENT, Buffer) == 0x8);
const _: () = assert!(offset_of!(NET_PNP_EVENT, BufferLength) == 0x10);
const _: () = assert!(offset_of!(NET_PNP_EVENT, NdisReserved) == 0x18);
const _: () = assert!(offset_of!(NET_PNP_EVENT, TdiClientReserved) == 0x78);
const _: () = assert!(size_of::<NET_PNP_EVENT_NOTIFICATION>() == 0xA8);
const _: () = assert!(offset_of!(NET_PNP_EVENT_NOTIFICATION, PortNumber) == 0x4);
const _: () = assert!(offset_of!(NET_PNP_EVENT_NOTIFICATION, NetPnPEvent) == 0x8);
const _: () = assert!(offset_of!(NET_PNP_EVENT_NOTIFICATION, Flags) == 0xA0);
const _: () = assert!(NDIS_SIZEOF_NET_PNP_EVENT_NOTIFICATION_REVISION_1 == 0xA4);
const _: () = assert!(NetEventNDKEnable == 13 && NetEventNDKDisable == 14);

// Attributes
const _: () = assert!(size_of::<NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES>() == 0x20);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        MiniportAdapterContext
    ) == 0x8
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        AttributeFlags
    ) == 0x10
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        CheckForHangTimeInSeconds
    ) == 0x14
);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, InterfaceType) == 0x18);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1 == 0x1C);
const _: () = assert!(size_of::<NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES>() == 0x18);
const _: () = assert!(size_of::<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES>() == 0xE0);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, MediaType) == 0x8);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, MtuSize) == 0x10);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, MaxXmitLinkSpeed) == 0x18);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, RcvLinkSpeed) == 0x30);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, MediaConnectState) == 0x38);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, LookaheadSize) == 0x40);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        PowerManagementCapabilities
    ) == 0x48
);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, MacOptions) == 0x50);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, MacAddressLength) == 0x5C);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        PermanentMacAddress
    ) == 0x5E
);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, CurrentMacAddress) == 0x7E);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        RecvScaleCapabilities
    ) == 0xA0
);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, AccessType) == 0xA8);
const _: () = assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, IfType) == 0xB4);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, IfConnectorPresent) == 0xB6);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        SupportedStatistics
    ) == 0xB8
);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, SupportedOidList) == 0xC8);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        SupportedOidListLength
    ) == 0xD0
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        AutoNegotiationFlags
    ) == 0xD4
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        PowerManagementCapabilitiesEx
    ) == 0xD8
);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_1 == 0xD8);
const _: () = assert!(NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2 == 0xE0);
const _: () = assert!(size_of::<NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES>() == 0x28);
const _: () = assert!(size_of::<NDIS_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES>() == 0x40);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES,
        NumSupportedPhys
    ) == 0x14
);
const _: () = assert!(size_of::<NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES>() == 0x50);
const _: () = assert!(size_of::<NDIS_MINIPORT_ADAPTER_ATTRIBUTES>() == 0xE0);

// OID requests
const _: () = assert!(size_of::<NDIS_OID_REQUEST_QUERY_INFORMATION>() == 0x20);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST_QUERY_INFORMATION, InformationBuffer) == 0x8);
const _: () =
    assert!(offset_of!(NDIS_OID_REQUEST_QUERY_INFORMATION, InformationBufferLength) == 0x10);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST_QUERY_INFORMATION, BytesWritten) == 0x14);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST_QUERY_INFORMATION, BytesNeeded) == 0x18);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST_SET_INFORMATION, BytesRead) == 0x14);
const _: () = assert!(size_of::<NDIS_OID_REQUEST_METHOD_INFORMATION>() == 0x28);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST_METHOD_INFORMATION, OutputBufferLength) == 0x14);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST_METHOD_INFORMATION, MethodId) == 0x18);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST_METHOD_INFORMATION, BytesNeeded) == 0x24);
const _: () = assert!(size_of::<NDIS_OID_REQUEST_DATA>() == 0x28);
const _: () = assert!(size_of::<NDIS_OID_REQUEST>() == 0xF8);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, RequestType) == 0x4);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, PortNumber) == 0x8);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, Timeout) == 0xC);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, RequestId) == 0x10);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, RequestHandle) == 0x18);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, DATA) == 0x20);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, NdisReserved) == 0x48);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, MiniportReserved) == 0xC8);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, SourceReserved) == 0xD8);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, SupportedRevision) == 0xE8);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, SwitchId) == 0xEC);
const _: () = assert!(offset_of!(NDIS_OID_REQUEST, Flags) == 0xF4);
const _: () = assert!(NDIS_SIZEOF_OID_REQUEST_REVISION_1 == 0xEC);
const _: () = assert!(NDIS_SIZEOF_OID_REQUEST_REVISION_2 == 0xF8);

// OID payloads
const _: () = assert!(size_of::<NDIS_LINK_STATE>() == 0x28);
const _: () = assert!(offset_of!(NDIS_LINK_STATE, XmitLinkSpeed) == 0x10);
const _: () = assert!(offset_of!(NDIS_LINK_STATE, PauseFunctions) == 0x20);
const _: () = assert!(NDIS_SIZEOF_LINK_STATE_REVISION_1 == 0x28);
const _: () = assert!(size_of::<NDIS_LINK_PARAMETERS>() == 0x20);
const _: () = assert!(offset_of!(NDIS_LINK_PARAMETERS, XmitLinkSpeed) == 0x8);
const _: () = assert!(size_of::<NDIS_STATISTICS_INFO>() == 0x98);
const _: () = assert!(offset_of!(NDIS_STATISTICS_INFO, ifInDiscards) == 0x8);
const _: () = assert!(offset_of!(NDIS_STATISTICS_INFO, ifOutDiscards) == 0x60);
const _: () = assert!(offset_of!(NDIS_STATISTICS_INFO, ifHCOutBroadcastOctets) == 0x90);
const _: () = assert!(size_of::<NDIS_INTERRUPT_MODERATION_PARAMETERS>() == 0xC);
const _: () = assert!(size_of::<NETWORK_ADDRESS>() == 0x6);
const _: () = assert!(offset_of!(NETWORK_ADDRESS, Address) == 0x4);
const _: () = assert!(size_of::<NETWORK_ADDRESS_LIST>() == 0xC);
const _: () = assert!(offset_of!(NETWORK_ADDRESS_LIST, AddressType) == 0x4);
const _: () = assert!(offset_of!(NETWORK_ADDRESS_LIST, Address) == 0x6);
const _: () = assert!(NETWORK_ADDRESS_LENGTH_IP == 16);
const _: () = assert!(offset_of!(NETWORK_ADDRESS_IP, in_addr) == 0x4);
const _: () = assert!(offset_of!(NETWORK_ADDRESS_IP, sin_zero) == 0x8);
const _: () = assert!(NETWORK_ADDRESS_LENGTH_IP6 == 28);
const _: () = assert!(offset_of!(NETWORK_ADDRESS_IP6, sin6_addr) == 0x8);
const _: () = assert!(offset_of!(NETWORK_ADDRESS_IP6, sin6_scope_id) == 0x18);

// Status indication
const _: () = assert!(size_of::<NDIS_STATUS_INDICATION>() == 0x70);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, SourceHandle) == 0x8);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, PortNumber) == 0x10);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, StatusCode) == 0x14);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, DestinationHandle) == 0x20);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, StatusBuffer) == 0x30);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, StatusBufferSize) == 0x38);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, Guid) == 0x3C);
const _: () = assert!(offset_of!(NDIS_STATUS_INDICATION, NdisReserved) == 0x50);
const _: () = assert!(NDIS_SIZEOF_STATUS_INDICATION_REVISION_1 == 0x70);

// Interrupts
const _: () = assert!(size_of::<NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS>() == 0x60);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, InterruptHandler) == 0x8);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        EnableInterruptHandler
    ) == 0x20
);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, MsiSupported) == 0x28);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        MsiSyncWithAllMessages
    ) == 0x29
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        MessageInterruptHandler
    ) == 0x30
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        MessageInterruptDpcHandler
    ) == 0x38
);
const _: () = assert!(
    offset_of!(
        NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        EnableMessageInterruptHandler
    ) == 0x48
);
const _: () = assert!(offset_of!(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, InterruptType) == 0x50);
const _: () =
    assert!(offset_of!(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, MessageInfoTable) == 0x58);
const _: () = assert!(size_of::<IO_INTERRUPT_MESSAGE_INFO_ENTRY>() == 0x30);
const _: () = assert!(offset_of!(IO_INTERRUPT_MESSAGE_INFO, MessageCount) == 0x4);
const _: () = assert!(offset_of!(IO_INTERRUPT_MESSAGE_INFO, MessageInfo) == 0x8);

// Scatter-gather DMA
const _: () = assert!(size_of::<SCATTER_GATHER_ELEMENT>() == 0x18);
const _: () = assert!(size_of::<SCATTER_GATHER_LIST>() == 0x10);
const _: () = assert!(size_of::<NDIS_SG_DMA_DESCRIPTION>() == 0x28);
const _: () = assert!(offset_of!(NDIS_SG_DMA_DESCRIPTION, MaximumPhysicalMapping) == 0x8);
const _: () = assert!(offset_of!(NDIS_SG_DMA_DESCRIPTION, ProcessSGListHandler) == 0x10);
const _: () =
    assert!(offset_of!(NDIS_SG_DMA_DESCRIPTION, SharedMemAllocateCompleteHandler) == 0x18);
const _: () = assert!(offset_of!(NDIS_SG_DMA_DESCRIPTION, ScatterGatherListSize) == 0x20);
const _: () = assert!(NDIS_SIZEOF_SG_DMA_DESCRIPTION_REVISION_1 == 0x24);

// NET_BUFFER (x64 ndis.sys dump)
const _: () = assert!(size_of::<NET_BUFFER_DATA_LENGTH>() == 0x8);
const _: () = assert!(size_of::<NET_BUFFER_DATA>() == 0x30);
const _: () = assert!(offset_of!(NET_BUFFER_DATA, CurrentMdl) == 0x8);
const _: () = assert!(offset_of!(NET_BUFFER_DATA, CurrentMdlOffset) == 0x10);
const _: () = assert!(offset_of!(NET_BUFFER_DATA, NbDataLength) == 0x18);
const _: () = assert!(offset_of!(NET_BUFFER_DATA, MdlChain) == 0x20);
const _: () = assert!(offset_of!(NET_BUFFER_DATA, DataOffset) == 0x28);
const _: () = assert!(size_of::<NET_BUFFER_HEADER>() == 0x30);
const _: () = assert!(size_of::<NET_BUFFER>() == 0xB0);
const _: () = assert!(offset_of!(NET_BUFFER, ChecksumBias) == 0x30);
const _: () = assert!(offset_of!(NET_BUFFER, NdisPoolHandle) == 0x38);
const _: () = assert!(offset_of!(NET_BUFFER, NdisReserved) == 0x40);
const _: () = assert!(offset_of!(NET_BUFFER, ProtocolReserved) == 0x50);
const _: () = assert!(offset_of!(NET_BUFFER, MiniportReserved) == 0x80);
const _: () = assert!(offset_of!(NET_BUFFER, DataPhysicalAddress) == 0xA0);
const _: () = assert!(offset_of!(NET_BUFFER, u) == 0xA8);

// NET_BUFFER_LIST (x64 ndis.sys dump)
const _: () = assert!(size_of::<NET_BUFFER_LIST_HEADER>() == 0x10);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, Context) == 0x10);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, ParentNetBufferList) == 0x18);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, NdisPoolHandle) == 0x20);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, NdisReserved) == 0x30);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, ProtocolReserved) == 0x40);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, MiniportReserved) == 0x60);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, Scratch) == 0x70);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, SourceHandle) == 0x78);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, NblFlags) == 0x80);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, ChildRefCount) == 0x84);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, Flags) == 0x88);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, Status) == 0x8C);
const _: () = assert!(offset_of!(NET_BUFFER_LIST, NetBufferListInfo) == 0x90);
const _: () = assert!(size_of::<NET_BUFFER_LIST>() == 0x90 + 8 * MaxNetBufferListInfo);
const _: () = assert!(align_of::<NET_BUFFER_LIST>() == 0x10);
const _: () = assert!(size_of::<NET_BUFFER_LIST_CONTEXT>() == 0x10);
const _: () = assert!(size_of::<NET_BUFFER_LIST_POOL_PARAMETERS>() == 0x10);
const _: () = assert!(offset_of!(NET_BUFFER_LIST_POOL_PARAMETERS, ContextSize) == 0x6);
const _: () = assert!(offset_of!(NET_BUFFER_LIST_POOL_PARAMETERS, PoolTag) == 0x8);
const _: () = assert!(offset_of!(NET_BUFFER_LIST_POOL_PARAMETERS, DataSize) == 0xC);
