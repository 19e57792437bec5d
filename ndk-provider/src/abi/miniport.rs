//! The NDIS 6.30 miniport ABI (x64): what a deserialized Ethernet miniport exchanges with
//! `ndis.sys` — driver characteristics, init parameters, resources, attributes, OID requests,
//! PnP events, interrupts, NBL/NB data path, status indications — plus the `OID_GEN_*` /
//! `OID_802_3_*` / `NDIS_STATUS_*` values the glue answers with.
//!
//! Mirrors `ndis.h` and the headers it includes (`ndis/miniport.h`, `ndis/nbl.h`,
//! `ndis/oidrequest.h`, `ndis/objectheader.h`, `ndis/ndisport.h`, `ndis/status.h`,
//! `ntddndis.h`) and the few `wdm.h` types they use. Names are exactly the WDK's; C enums
//! are `i32` aliases with the enumerators as constants (like the rest of `abi/`).
//! Layout assertions live in `miniport_layout`. Items marked UNCONFIRMED were computed from
//! the declared C types without a binary dump or header text to check against.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use super::ndis::{
    NDIS_HANDLE, NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES, NDIS_NIC_SWITCH_ID,
    NDIS_NIC_SWITCH_VPORT_ID, NDIS_OBJECT_HEADER, NDIS_OID, NDIS_STATUS, NET_PNP_EVENT_CODE,
};
use super::status::STATUS_INVALID_DEVICE_STATE;
use super::types::{GUID, MDL};

// ---------------------------------------------------------------------------
// Base types (wdm.h / ntdef.h)
// ---------------------------------------------------------------------------

/// `DRIVER_OBJECT` (wdm.h); only ever handled by pointer.
#[repr(C)]
pub struct DRIVER_OBJECT {
    _opaque: [u8; 0],
}

/// `DEVICE_OBJECT` (wdm.h); only ever handled by pointer.
#[repr(C)]
pub struct DEVICE_OBJECT {
    _opaque: [u8; 0],
}

/// `UNICODE_STRING` (ntdef.h): counted UTF-16, `Length`/`MaximumLength` in bytes, no
/// terminator required.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UNICODE_STRING {
    pub Length: u16,
    pub MaximumLength: u16,
    pub Buffer: *mut u16,
}

/// `NDIS_STRING` = `UNICODE_STRING` (ndis.h).
pub type NDIS_STRING = UNICODE_STRING;

/// `PHYSICAL_ADDRESS` = `LARGE_INTEGER` (8 bytes, passed by value in a register on x64).
pub type PHYSICAL_ADDRESS = i64;
/// `NDIS_PHYSICAL_ADDRESS` = `PHYSICAL_ADDRESS` (ndis.h).
pub type NDIS_PHYSICAL_ADDRESS = i64;
/// `KAFFINITY` (ULONG_PTR).
pub type KAFFINITY = usize;
/// `NET_IFINDEX` (ifdef.h).
pub type NET_IFINDEX = u32;
/// `NET_IFTYPE` (ifdef.h, USHORT).
pub type NET_IFTYPE = u16;
/// `BOOLEAN` (UCHAR).
pub type BOOLEAN = u8;

/// `NET_LUID` (ifdef.h): a 64-bit union of `Value` and the `Info` bit fields
/// (Reserved:24, NetLuidIndex:24, IfType:16); only `Value` is mirrored.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NET_LUID {
    pub Value: u64,
}

/// `SLIST_HEADER` (x64: 16 bytes, 16-aligned; `Alignment`/`Region` view of the union).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct SLIST_HEADER {
    pub Alignment: u64,
    pub Region: u64,
}

/// `MDL.MdlFlags` bits (wdm.h).
pub const MDL_MAPPED_TO_SYSTEM_VA: i16 = 0x0001;
pub const MDL_PAGES_LOCKED: i16 = 0x0002;
pub const MDL_SOURCE_IS_NONPAGED_POOL: i16 = 0x0004;
pub const MDL_ALLOCATED_FIXED_SIZE: i16 = 0x0008;
pub const MDL_PARTIAL: i16 = 0x0010;
pub const MDL_PARTIAL_HAS_BEEN_MAPPED: i16 = 0x0020;
pub const MDL_IO_PAGE_READ: i16 = 0x0040;
pub const MDL_WRITE_OPERATION: i16 = 0x0080;

/// `STATUS_NDIS_*` NTSTATUS values (ntstatus.h, facility 0x23) that `NDIS_STATUS_*` alias.
pub const STATUS_NDIS_REQUEST_ABORTED: i32 = 0xC023_000Cu32 as i32;
pub const STATUS_NDIS_RESET_IN_PROGRESS: i32 = 0xC023_000Du32 as i32;
pub const STATUS_NDIS_PAUSED: i32 = 0xC023_002Au32 as i32;
pub const STATUS_NDIS_INTERFACE_NOT_FOUND: i32 = 0xC023_002Bu32 as i32;
pub const STATUS_NDIS_UNSUPPORTED_REVISION: i32 = 0xC023_002Cu32 as i32;
pub const STATUS_NDIS_INVALID_PORT: i32 = 0xC023_002Du32 as i32;
pub const STATUS_NDIS_INVALID_PORT_STATE: i32 = 0xC023_002Eu32 as i32;
pub const STATUS_NDIS_LOW_POWER_STATE: i32 = 0xC023_002Fu32 as i32;
pub const STATUS_NDIS_MEDIA_DISCONNECTED: i32 = 0xC023_001Fu32 as i32;

// ---------------------------------------------------------------------------
// NDIS_STATUS values (ndis/status.h, ntddndis.h) not already in `status`
// ---------------------------------------------------------------------------

pub const NDIS_STATUS_NOT_RECOGNIZED: NDIS_STATUS = 0x0001_0001;
pub const NDIS_STATUS_NOT_COPIED: NDIS_STATUS = 0x0001_0002;
pub const NDIS_STATUS_NOT_ACCEPTED: NDIS_STATUS = 0x0001_0003;
pub const NDIS_STATUS_ONLINE: NDIS_STATUS = 0x4001_0003;
pub const NDIS_STATUS_RESET_START: NDIS_STATUS = 0x4001_0004;
pub const NDIS_STATUS_RESET_END: NDIS_STATUS = 0x4001_0005;
pub const NDIS_STATUS_MEDIA_CONNECT: NDIS_STATUS = 0x4001_000B;
pub const NDIS_STATUS_MEDIA_DISCONNECT: NDIS_STATUS = 0x4001_000C;
pub const NDIS_STATUS_LINK_SPEED_CHANGE: NDIS_STATUS = 0x4001_0013;
/// Status indication carrying an [`NDIS_LINK_STATE`].
pub const NDIS_STATUS_LINK_STATE: NDIS_STATUS = 0x4001_0017;
pub const NDIS_STATUS_NETWORK_CHANGE: NDIS_STATUS = 0x4001_0018;
pub const NDIS_STATUS_PORT_STATE: NDIS_STATUS = 0x4001_0022;
pub const NDIS_STATUS_OPER_STATUS: NDIS_STATUS = 0x4001_0023;
pub const NDIS_STATUS_PACKET_FILTER: NDIS_STATUS = 0x4001_0024;
pub const NDIS_STATUS_NOT_RESETTABLE: NDIS_STATUS = 0x8001_0001u32 as i32;
pub const NDIS_STATUS_SOFT_ERRORS: NDIS_STATUS = 0x8001_0003u32 as i32;
pub const NDIS_STATUS_HARD_ERRORS: NDIS_STATUS = 0x8001_0004u32 as i32;
/// = STATUS_BUFFER_OVERFLOW.
pub const NDIS_STATUS_BUFFER_OVERFLOW: NDIS_STATUS = 0x8000_0005u32 as i32;
pub const NDIS_STATUS_CLOSING: NDIS_STATUS = 0xC001_0002u32 as i32;
pub const NDIS_STATUS_BAD_CHARACTERISTICS: NDIS_STATUS = 0xC001_0005u32 as i32;
pub const NDIS_STATUS_ADAPTER_NOT_FOUND: NDIS_STATUS = 0xC001_0006u32 as i32;
pub const NDIS_STATUS_OPEN_FAILED: NDIS_STATUS = 0xC001_0007u32 as i32;
pub const NDIS_STATUS_DEVICE_FAILED: NDIS_STATUS = 0xC001_0008u32 as i32;
pub const NDIS_STATUS_MULTICAST_FULL: NDIS_STATUS = 0xC001_0009u32 as i32;
pub const NDIS_STATUS_MULTICAST_EXISTS: NDIS_STATUS = 0xC001_000Au32 as i32;
pub const NDIS_STATUS_MULTICAST_NOT_FOUND: NDIS_STATUS = 0xC001_000Bu32 as i32;
pub const NDIS_STATUS_REQUEST_ABORTED: NDIS_STATUS = 0xC001_000Cu32 as i32;
pub const NDIS_STATUS_RESET_IN_PROGRESS: NDIS_STATUS = 0xC001_000Du32 as i32;
pub const NDIS_STATUS_INVALID_PACKET: NDIS_STATUS = 0xC001_000Fu32 as i32;
pub const NDIS_STATUS_ADAPTER_NOT_OPEN: NDIS_STATUS = 0xC001_0012u32 as i32;
pub const NDIS_STATUS_INVALID_OID: NDIS_STATUS = 0xC001_0017u32 as i32;
pub const NDIS_STATUS_ADAPTER_REMOVED: NDIS_STATUS = 0xC001_0018u32 as i32;
pub const NDIS_STATUS_UNSUPPORTED_MEDIA: NDIS_STATUS = 0xC001_0019u32 as i32;
pub const NDIS_STATUS_RESOURCE_CONFLICT: NDIS_STATUS = 0xC001_001Eu32 as i32;
pub const NDIS_STATUS_INVALID_DEVICE_REQUEST: NDIS_STATUS = 0xC000_0010u32 as i32;
/// NBL completion status for a send cancelled or dropped (reset, pause, surprise removal).
pub const NDIS_STATUS_SEND_ABORTED: NDIS_STATUS = STATUS_NDIS_REQUEST_ABORTED;
/// NBL completion status for a send while the miniport is paused.
pub const NDIS_STATUS_PAUSED: NDIS_STATUS = STATUS_NDIS_PAUSED;
pub const NDIS_STATUS_INTERFACE_NOT_FOUND: NDIS_STATUS = STATUS_NDIS_INTERFACE_NOT_FOUND;
pub const NDIS_STATUS_UNSUPPORTED_REVISION: NDIS_STATUS = STATUS_NDIS_UNSUPPORTED_REVISION;
pub const NDIS_STATUS_INVALID_PORT: NDIS_STATUS = STATUS_NDIS_INVALID_PORT;
pub const NDIS_STATUS_INVALID_PORT_STATE: NDIS_STATUS = STATUS_NDIS_INVALID_PORT_STATE;
pub const NDIS_STATUS_INVALID_STATE: NDIS_STATUS = STATUS_INVALID_DEVICE_STATE;
pub const NDIS_STATUS_MEDIA_DISCONNECTED: NDIS_STATUS = STATUS_NDIS_MEDIA_DISCONNECTED;
pub const NDIS_STATUS_LOW_POWER_STATE: NDIS_STATUS = STATUS_NDIS_LOW_POWER_STATE;

// ---------------------------------------------------------------------------
// Object types and versions (objectheader.h, ntddndis.h)
// ---------------------------------------------------------------------------

pub const NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS: u8 = 0x81;
pub const NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION: u8 = 0x83;
pub const NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT: u8 = 0x84;
pub const NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES: u8 = 0x85;
pub const NDIS_OBJECT_TYPE_RSS_CAPABILITIES: u8 = 0x88;
pub const NDIS_OBJECT_TYPE_RSS_PARAMETERS: u8 = 0x89;
pub const NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS: u8 = 0x8A;
pub const NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS: u8 = 0x92;
pub const NDIS_OBJECT_TYPE_REQUEST_EX: u8 = 0x96;
pub const NDIS_OBJECT_TYPE_OID_REQUEST: u8 = 0x96;
pub const NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS: u8 = 0x97;
pub const NDIS_OBJECT_TYPE_STATUS_INDICATION: u8 = 0x98;
pub const NDIS_OBJECT_TYPE_PORT_CHARACTERISTICS: u8 = 0x9C;
pub const NDIS_OBJECT_TYPE_PORT_STATE: u8 = 0x9D;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES: u8 = 0x9E;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES: u8 = 0x9F;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES: u8 = 0xA0;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES: u8 = 0xA1;
pub const NDIS_OBJECT_TYPE_RESTART_GENERAL_ATTRIBUTES: u8 = 0xA2;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES: u8 = 0xA4;
pub const NDIS_OBJECT_TYPE_OFFLOAD: u8 = 0xA7;
pub const NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT: u8 = 0xA9;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES: u8 = 0xAF;

/// The NDIS version this miniport is written against (`NDIS630_MINIPORT`).
pub const NDIS_MINIPORT_MAJOR_VERSION: u8 = 6;
pub const NDIS_MINIPORT_MINOR_VERSION: u8 = 30;

/// `NDIS_DEFAULT_PORT_NUMBER` (ndisport.h).
pub const NDIS_DEFAULT_PORT_NUMBER: NDIS_PORT_NUMBER = 0;
/// `NDIS_PORT_NUMBER` (ULONG).
pub type NDIS_PORT_NUMBER = u32;

// ---------------------------------------------------------------------------
// Configuration (NdisOpenConfigurationEx / NdisReadConfiguration)
// ---------------------------------------------------------------------------

/// `NDIS_PARAMETER_TYPE` (C enum).
pub type NDIS_PARAMETER_TYPE = i32;
pub const NdisParameterInteger: NDIS_PARAMETER_TYPE = 0;
pub const NdisParameterHexInteger: NDIS_PARAMETER_TYPE = 1;
pub const NdisParameterString: NDIS_PARAMETER_TYPE = 2;
pub const NdisParameterMultiString: NDIS_PARAMETER_TYPE = 3;
pub const NdisParameterBinary: NDIS_PARAMETER_TYPE = 4;

/// `BINARY_DATA { USHORT Length; PVOID Buffer; }` (ndis.h).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BINARY_DATA {
    pub Length: u16,
    pub Buffer: *mut c_void,
}

/// The anonymous `ParameterData` union of [`NDIS_CONFIGURATION_PARAMETER`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_CONFIGURATION_PARAMETER_DATA {
    pub IntegerData: u32,
    pub StringData: NDIS_STRING,
    pub BinaryData: BINARY_DATA,
}

/// `NDIS_CONFIGURATION_PARAMETER` (ndis.h, 0x18): what `NdisReadConfiguration` returns;
/// owned by NDIS until `NdisCloseConfiguration`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_CONFIGURATION_PARAMETER {
    pub ParameterType: NDIS_PARAMETER_TYPE,
    pub ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA,
}

pub const NDIS_CONFIGURATION_OBJECT_REVISION_1: u8 = 1;
/// Open the filter-module instance key instead of the adapter's.
pub const NDIS_CONFIG_FLAG_FILTER_INSTANCE_CONFIGURATION: u32 = 0x0000_0001;

/// `NDIS_CONFIGURATION_OBJECT` (ndis.h, 0x18). Header: Type 0xA9, Rev 1, Size 0x14.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_CONFIGURATION_OBJECT {
    pub Header: NDIS_OBJECT_HEADER,
    /// The miniport adapter handle.
    pub NdisHandle: NDIS_HANDLE,
    pub Flags: u32,
}

pub const NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1: u16 =
    (offset_of!(NDIS_CONFIGURATION_OBJECT, Flags) + size_of::<u32>()) as u16;

// ---------------------------------------------------------------------------
// Hardware resources (wdm.h CM_*; NDIS_RESOURCE_LIST = CM_PARTIAL_RESOURCE_LIST)
// ---------------------------------------------------------------------------

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR.Type` values.
pub const CmResourceTypeNull: u8 = 0;
pub const CmResourceTypePort: u8 = 1;
pub const CmResourceTypeInterrupt: u8 = 2;
pub const CmResourceTypeMemory: u8 = 3;
pub const CmResourceTypeDma: u8 = 4;
pub const CmResourceTypeDeviceSpecific: u8 = 5;
pub const CmResourceTypeBusNumber: u8 = 6;
pub const CmResourceTypeMemoryLarge: u8 = 7;

/// `ShareDisposition` values (`CM_SHARE_DISPOSITION`).
pub const CmResourceShareUndetermined: u8 = 0;
pub const CmResourceShareDeviceExclusive: u8 = 1;
pub const CmResourceShareDriverExclusive: u8 = 2;
pub const CmResourceShareShared: u8 = 3;

/// Interrupt descriptor `Flags`.
pub const CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE: u16 = 0x0000;
pub const CM_RESOURCE_INTERRUPT_LATCHED: u16 = 0x0001;
/// Message-signalled (MSI/MSI-X): read `u.MessageInterrupt`.
pub const CM_RESOURCE_INTERRUPT_MESSAGE: u16 = 0x0002;
pub const CM_RESOURCE_INTERRUPT_POLICY_INCLUDED: u16 = 0x0004;

/// Memory descriptor `Flags`.
pub const CM_RESOURCE_MEMORY_READ_WRITE: u16 = 0x0000;
pub const CM_RESOURCE_MEMORY_READ_ONLY: u16 = 0x0001;
pub const CM_RESOURCE_MEMORY_WRITE_ONLY: u16 = 0x0002;
pub const CM_RESOURCE_MEMORY_PREFETCHABLE: u16 = 0x0004;
pub const CM_RESOURCE_MEMORY_COMBINEDWRITE: u16 = 0x0008;
pub const CM_RESOURCE_MEMORY_24: u16 = 0x0010;
pub const CM_RESOURCE_MEMORY_CACHEABLE: u16 = 0x0020;

/// `u.Generic` / `u.Port` / `u.Memory`: `{ PHYSICAL_ADDRESS Start; ULONG Length; }`
/// (12 bytes; wdm.h declares the CM descriptor under `#pragma pack(4)`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR_MEMORY {
    pub Start: PHYSICAL_ADDRESS,
    pub Length: u32,
}

/// `u.Interrupt` (translated line-based interrupt; NT_PROCESSOR_GROUPS layout).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT {
    pub Level: u16,
    pub Group: u16,
    pub Vector: u32,
    pub Affinity: KAFFINITY,
}

/// `u.MessageInterrupt.Raw`.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR_MESSAGE_INTERRUPT_RAW {
    pub Group: u16,
    pub MessageCount: u16,
    pub Vector: u32,
    pub Affinity: KAFFINITY,
}

/// `u.MessageInterrupt`: `Raw` in the raw list, `Translated` in the translated list
/// (the one NDIS hands the miniport).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union CM_PARTIAL_RESOURCE_DESCRIPTOR_MESSAGE_INTERRUPT {
    pub Raw: CM_PARTIAL_RESOURCE_DESCRIPTOR_MESSAGE_INTERRUPT_RAW,
    pub Translated: CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT,
}

/// `u.DevicePrivate`.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR_DEVICE_PRIVATE {
    pub Data: [u32; 3],
}

/// The `u` union of [`CM_PARTIAL_RESOURCE_DESCRIPTOR`] (16 bytes; the views a PCI NIC
/// sees). Other members (Dma, BusNumber, DeviceSpecificData, Memory40/48/64, Connection)
/// are not mirrored; none is larger.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
    pub Generic: CM_PARTIAL_RESOURCE_DESCRIPTOR_MEMORY,
    pub Port: CM_PARTIAL_RESOURCE_DESCRIPTOR_MEMORY,
    pub Memory: CM_PARTIAL_RESOURCE_DESCRIPTOR_MEMORY,
    pub Interrupt: CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT,
    pub MessageInterrupt: CM_PARTIAL_RESOURCE_DESCRIPTOR_MESSAGE_INTERRUPT,
    pub DevicePrivate: CM_PARTIAL_RESOURCE_DESCRIPTOR_DEVICE_PRIVATE,
}

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR` (wdm.h, `#pragma pack(4)`, 0x14 bytes on x64).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR {
    pub Type: u8,
    pub ShareDisposition: u8,
    pub Flags: u16,
    pub u: CM_PARTIAL_RESOURCE_DESCRIPTOR_U,
}

/// `CM_PARTIAL_RESOURCE_LIST` (wdm.h): `Count` descriptors follow in memory (declared
/// with one).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_LIST {
    pub Version: u16,
    pub Revision: u16,
    pub Count: u32,
    pub PartialDescriptors: [CM_PARTIAL_RESOURCE_DESCRIPTOR; 1],
}

/// `NDIS_RESOURCE_LIST` (ndis.h): the translated resources of the adapter.
pub type NDIS_RESOURCE_LIST = CM_PARTIAL_RESOURCE_LIST;

// ---------------------------------------------------------------------------
// Driver registration (ndis/miniport.h)
// ---------------------------------------------------------------------------

/// `NDIS_HALT_ACTION` (C enum).
pub type NDIS_HALT_ACTION = i32;
pub const NdisHaltDeviceDisabled: NDIS_HALT_ACTION = 0;
pub const NdisHaltDeviceInstanceDeInitialized: NDIS_HALT_ACTION = 1;
pub const NdisHaltDevicePoweredDown: NDIS_HALT_ACTION = 2;
pub const NdisHaltDeviceSurpriseRemoved: NDIS_HALT_ACTION = 3;
pub const NdisHaltDeviceFailed: NDIS_HALT_ACTION = 4;
pub const NdisHaltDeviceInitializationFailed: NDIS_HALT_ACTION = 5;
pub const NdisHaltDeviceStopped: NDIS_HALT_ACTION = 6;

/// `NDIS_SHUTDOWN_ACTION` (C enum).
pub type NDIS_SHUTDOWN_ACTION = i32;
pub const NdisShutdownPowerOff: NDIS_SHUTDOWN_ACTION = 0;
pub const NdisShutdownBugCheck: NDIS_SHUTDOWN_ACTION = 1;

/// `NDIS_DEVICE_PNP_EVENT` (C enum).
pub type NDIS_DEVICE_PNP_EVENT = i32;
pub const NdisDevicePnPEventQueryRemoved: NDIS_DEVICE_PNP_EVENT = 0;
pub const NdisDevicePnPEventRemoved: NDIS_DEVICE_PNP_EVENT = 1;
pub const NdisDevicePnPEventSurpriseRemoved: NDIS_DEVICE_PNP_EVENT = 2;
pub const NdisDevicePnPEventQueryStopped: NDIS_DEVICE_PNP_EVENT = 3;
pub const NdisDevicePnPEventStopped: NDIS_DEVICE_PNP_EVENT = 4;
pub const NdisDevicePnPEventPowerProfileChanged: NDIS_DEVICE_PNP_EVENT = 5;
pub const NdisDevicePnPEventFilterListChanged: NDIS_DEVICE_PNP_EVENT = 6;

/// `SET_OPTIONS_HANDLER`: `MiniportSetOptions` (registers optional handlers, e.g. NDK).
pub type SET_OPTIONS_HANDLER = Option<
    unsafe extern "system" fn(
        NdisDriverHandle: NDIS_HANDLE,
        DriverContext: NDIS_HANDLE,
    ) -> NDIS_STATUS,
>;
/// `MINIPORT_INITIALIZE_HANDLER`: `MiniportInitializeEx` (PASSIVE_LEVEL).
pub type MINIPORT_INITIALIZE_HANDLER = Option<
    unsafe extern "system" fn(
        NdisMiniportHandle: NDIS_HANDLE,
        MiniportDriverContext: NDIS_HANDLE,
        MiniportInitParameters: *mut NDIS_MINIPORT_INIT_PARAMETERS,
    ) -> NDIS_STATUS,
>;
/// `MINIPORT_HALT_HANDLER`: `MiniportHaltEx` (PASSIVE_LEVEL).
pub type MINIPORT_HALT_HANDLER = Option<
    unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, HaltAction: NDIS_HALT_ACTION),
>;
/// `MINIPORT_DRIVER_UNLOAD`: `MiniportDriverUnload` (PASSIVE_LEVEL).
pub type MINIPORT_DRIVER_UNLOAD =
    Option<unsafe extern "system" fn(DriverObject: *mut DRIVER_OBJECT)>;
/// `MINIPORT_PAUSE_HANDLER`: `MiniportPause` (PASSIVE_LEVEL).
pub type MINIPORT_PAUSE_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        PauseParameters: *mut NDIS_MINIPORT_PAUSE_PARAMETERS,
    ) -> NDIS_STATUS,
>;
/// `MINIPORT_RESTART_HANDLER`: `MiniportRestart` (PASSIVE_LEVEL).
pub type MINIPORT_RESTART_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        RestartParameters: *mut NDIS_MINIPORT_RESTART_PARAMETERS,
    ) -> NDIS_STATUS,
>;
/// `MINIPORT_OID_REQUEST_HANDLER`: `MiniportOidRequest` (<= DISPATCH_LEVEL).
pub type MINIPORT_OID_REQUEST_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        OidRequest: *mut NDIS_OID_REQUEST,
    ) -> NDIS_STATUS,
>;
/// `MINIPORT_SEND_NET_BUFFER_LISTS_HANDLER`: `MiniportSendNetBufferLists`.
pub type MINIPORT_SEND_NET_BUFFER_LISTS_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        NetBufferList: *mut NET_BUFFER_LIST,
        PortNumber: NDIS_PORT_NUMBER,
        SendFlags: u32,
    ),
>;
/// `MINIPORT_RETURN_NET_BUFFER_LISTS_HANDLER`: `MiniportReturnNetBufferLists`.
pub type MINIPORT_RETURN_NET_BUFFER_LISTS_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        NetBufferLists: *mut NET_BUFFER_LIST,
        ReturnFlags: u32,
    ),
>;
/// `MINIPORT_CANCEL_SEND_HANDLER`: `MiniportCancelSend`.
pub type MINIPORT_CANCEL_SEND_HANDLER =
    Option<unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, CancelId: *mut c_void)>;
/// `MINIPORT_CHECK_FOR_HANG_HANDLER`: `MiniportCheckForHangEx` (returns BOOLEAN).
pub type MINIPORT_CHECK_FOR_HANG_HANDLER =
    Option<unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE) -> BOOLEAN>;
/// `MINIPORT_RESET_HANDLER`: `MiniportResetEx`.
pub type MINIPORT_RESET_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        AddressingReset: *mut BOOLEAN,
    ) -> NDIS_STATUS,
>;
/// `MINIPORT_DEVICE_PNP_EVENT_NOTIFY_HANDLER`: `MiniportDevicePnPEventNotify`.
pub type MINIPORT_DEVICE_PNP_EVENT_NOTIFY_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        NetDevicePnPEvent: *mut NET_DEVICE_PNP_EVENT,
    ),
>;
/// `MINIPORT_SHUTDOWN_HANDLER`: `MiniportShutdownEx`.
pub type MINIPORT_SHUTDOWN_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        ShutdownAction: NDIS_SHUTDOWN_ACTION,
    ),
>;
/// `MINIPORT_CANCEL_OID_REQUEST_HANDLER`: `MiniportCancelOidRequest`.
pub type MINIPORT_CANCEL_OID_REQUEST_HANDLER =
    Option<unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, RequestId: *mut c_void)>;
/// `MINIPORT_DIRECT_OID_REQUEST_HANDLER`: `MiniportDirectOidRequest` (NDIS 6.1+).
pub type MINIPORT_DIRECT_OID_REQUEST_HANDLER = MINIPORT_OID_REQUEST_HANDLER;
/// `MINIPORT_CANCEL_DIRECT_OID_REQUEST_HANDLER`: `MiniportCancelDirectOidRequest`.
pub type MINIPORT_CANCEL_DIRECT_OID_REQUEST_HANDLER = MINIPORT_CANCEL_OID_REQUEST_HANDLER;
/// `MINIPORT_SYNCHRONOUS_OID_REQUEST_HANDLER` (NDIS 6.80+, revision 3 only).
pub type MINIPORT_SYNCHRONOUS_OID_REQUEST_HANDLER = MINIPORT_OID_REQUEST_HANDLER;

pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1: u8 = 1;
/// NDIS 6.1+ (adds the direct-OID handlers); the revision an NDIS 6.30 miniport uses.
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: u8 = 2;
/// NDIS 6.80+ (adds `SynchronousOidRequestHandler`, not mirrored).
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3: u8 = 3;

/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS`, revision 2 (0x98). Header: Type 0x8A, Rev 2,
/// Size [`NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2`]. NDIS copies it during
/// `NdisMRegisterMiniportDriver`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    pub Header: NDIS_OBJECT_HEADER,
    pub MajorNdisVersion: u8,
    pub MinorNdisVersion: u8,
    pub MajorDriverVersion: u8,
    pub MinorDriverVersion: u8,
    pub Flags: u32,
    pub SetOptionsHandler: SET_OPTIONS_HANDLER,
    pub InitializeHandlerEx: MINIPORT_INITIALIZE_HANDLER,
    pub HaltHandlerEx: MINIPORT_HALT_HANDLER,
    pub UnloadHandler: MINIPORT_DRIVER_UNLOAD,
    pub PauseHandler: MINIPORT_PAUSE_HANDLER,
    pub RestartHandler: MINIPORT_RESTART_HANDLER,
    pub OidRequestHandler: MINIPORT_OID_REQUEST_HANDLER,
    pub SendNetBufferListsHandler: MINIPORT_SEND_NET_BUFFER_LISTS_HANDLER,
    pub ReturnNetBufferListsHandler: MINIPORT_RETURN_NET_BUFFER_LISTS_HANDLER,
    pub CancelSendHandler: MINIPORT_CANCEL_SEND_HANDLER,
    pub CheckForHangHandlerEx: MINIPORT_CHECK_FOR_HANG_HANDLER,
    pub ResetHandlerEx: MINIPORT_RESET_HANDLER,
    pub DevicePnPEventNotifyHandler: MINIPORT_DEVICE_PNP_EVENT_NOTIFY_HANDLER,
    pub ShutdownHandlerEx: MINIPORT_SHUTDOWN_HANDLER,
    pub CancelOidRequestHandler: MINIPORT_CANCEL_OID_REQUEST_HANDLER,
    pub DirectOidRequestHandler: MINIPORT_DIRECT_OID_REQUEST_HANDLER,
    pub CancelDirectOidRequestHandler: MINIPORT_CANCEL_DIRECT_OID_REQUEST_HANDLER,
}

pub const NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1: u16 =
    (offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        CancelOidRequestHandler
    ) + size_of::<MINIPORT_CANCEL_OID_REQUEST_HANDLER>()) as u16;
pub const NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: u16 =
    (offset_of!(
        NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        CancelDirectOidRequestHandler
    ) + size_of::<MINIPORT_CANCEL_DIRECT_OID_REQUEST_HANDLER>()) as u16;

/// `NDIS_DRIVER_OPTIONAL_HANDLERS` (ndis.h): the header-only view `NdisSetOptionalHandlers`
/// takes; the real object (e.g. `NDIS_NDK_PROVIDER_CHARACTERISTICS`) is told by
/// `Header.Type`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NDIS_DRIVER_OPTIONAL_HANDLERS {
    pub Header: NDIS_OBJECT_HEADER,
}

// ---------------------------------------------------------------------------
// MiniportInitializeEx parameters
// ---------------------------------------------------------------------------

/// `NDIS_PORT_AUTHENTICATION_PARAMETERS`; only handled by pointer here.
#[repr(C)]
pub struct NDIS_PORT_AUTHENTICATION_PARAMETERS {
    _opaque: [u8; 0],
}
/// `NDIS_PCI_DEVICE_CUSTOM_PROPERTIES`; only handled by pointer here.
#[repr(C)]
pub struct NDIS_PCI_DEVICE_CUSTOM_PROPERTIES {
    _opaque: [u8; 0],
}

pub const NDIS_MINIPORT_INIT_PARAMETERS_REVISION_1: u8 = 1;

/// `NDIS_MINIPORT_INIT_PARAMETERS` (0x40). Header: Type 0x81, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_INIT_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    /// Translated hardware resources (memory BARs, interrupts).
    pub AllocatedResources: *mut NDIS_RESOURCE_LIST,
    pub IMDeviceInstanceContext: NDIS_HANDLE,
    pub MiniportAddDeviceContext: NDIS_HANDLE,
    pub IfIndex: NET_IFINDEX,
    pub NetLuid: NET_LUID,
    pub DefaultPortAuthStates: *mut NDIS_PORT_AUTHENTICATION_PARAMETERS,
    pub PciDeviceCustomProperties: *mut NDIS_PCI_DEVICE_CUSTOM_PROPERTIES,
}

pub const NDIS_SIZEOF_MINIPORT_INIT_PARAMETERS_REVISION_1: u16 =
    (offset_of!(NDIS_MINIPORT_INIT_PARAMETERS, PciDeviceCustomProperties)
        + size_of::<*mut c_void>()) as u16;

// ---------------------------------------------------------------------------
// Pause / restart / PnP
// ---------------------------------------------------------------------------

pub const NDIS_MINIPORT_PAUSE_PARAMETERS_REVISION_1: u8 = 1;

/// `NDIS_PAUSE_*` reasons (`PauseReason`).
pub const NDIS_PAUSE_NDIS_INTERNAL: u32 = 0x0000_0001;
pub const NDIS_PAUSE_LOW_POWER: u32 = 0x0000_0002;
pub const NDIS_PAUSE_BIND_PROTOCOL: u32 = 0x0000_0004;
pub const NDIS_PAUSE_UNBIND_PROTOCOL: u32 = 0x0000_0008;
pub const NDIS_PAUSE_ATTACH_FILTER: u32 = 0x0000_0010;
pub const NDIS_PAUSE_DETACH_FILTER: u32 = 0x0000_0020;
pub const NDIS_PAUSE_FILTER_RESTART_STACK: u32 = 0x0000_0040;
pub const NDIS_PAUSE_MINIPORT_DEVICE_REMOVE: u32 = 0x0000_0080;

/// `NDIS_MINIPORT_PAUSE_PARAMETERS` (0xC). Header: Type DEFAULT, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NDIS_MINIPORT_PAUSE_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub PauseReason: u32,
}

pub const NDIS_SIZEOF_MINIPORT_PAUSE_PARAMETERS_REVISION_1: u16 =
    size_of::<NDIS_MINIPORT_PAUSE_PARAMETERS>() as u16;

/// `NDIS_RESTART_ATTRIBUTES`; only handled by pointer here.
#[repr(C)]
pub struct NDIS_RESTART_ATTRIBUTES {
    _opaque: [u8; 0],
}

pub const NDIS_MINIPORT_RESTART_PARAMETERS_REVISION_1: u8 = 1;

/// `NDIS_MINIPORT_RESTART_PARAMETERS` (0x18). Header Type: UNCONFIRMED (the fake uses
/// DEFAULT); the miniport does not need to inspect it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_RESTART_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub RestartAttributes: *mut NDIS_RESTART_ATTRIBUTES,
    pub Flags: u32,
}

pub const NDIS_SIZEOF_MINIPORT_RESTART_PARAMETERS_REVISION_1: u16 =
    (offset_of!(NDIS_MINIPORT_RESTART_PARAMETERS, Flags) + size_of::<u32>()) as u16;

pub const NET_DEVICE_PNP_EVENT_REVISION_1: u8 = 1;

/// `NET_DEVICE_PNP_EVENT` (0x30). Header: Type DEFAULT, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NET_DEVICE_PNP_EVENT {
    pub Header: NDIS_OBJECT_HEADER,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub DevicePnPEvent: NDIS_DEVICE_PNP_EVENT,
    pub InformationBuffer: *mut c_void,
    pub InformationBufferLength: u32,
    pub NdisReserved: [u8; 2 * size_of::<*mut c_void>()],
}

pub const NDIS_SIZEOF_NET_DEVICE_PNP_EVENT_REVISION_1: u16 =
    (offset_of!(NET_DEVICE_PNP_EVENT, NdisReserved) + 2 * size_of::<*mut c_void>()) as u16;

/// `NET_PNP_EVENT_CODE` values (ndis.h enum order). `NetEventNDKEnable` (13) and
/// `NetEventNDKDisable` (14) live in [`super::ndis`].
pub const NetEventSetPower: NET_PNP_EVENT_CODE = 0;
pub const NetEventQueryPower: NET_PNP_EVENT_CODE = 1;
pub const NetEventQueryRemoveDevice: NET_PNP_EVENT_CODE = 2;
pub const NetEventCancelRemoveDevice: NET_PNP_EVENT_CODE = 3;
pub const NetEventReconfigure: NET_PNP_EVENT_CODE = 4;
pub const NetEventBindList: NET_PNP_EVENT_CODE = 5;
pub const NetEventBindsComplete: NET_PNP_EVENT_CODE = 6;
pub const NetEventPnPCapabilities: NET_PNP_EVENT_CODE = 7;
pub const NetEventPause: NET_PNP_EVENT_CODE = 8;
pub const NetEventRestart: NET_PNP_EVENT_CODE = 9;
pub const NetEventPortActivation: NET_PNP_EVENT_CODE = 10;
pub const NetEventPortDeactivation: NET_PNP_EVENT_CODE = 11;
pub const NetEventIMReEnableDevice: NET_PNP_EVENT_CODE = 12;
pub const NetEventFilterPreDetach: NET_PNP_EVENT_CODE = 15;
pub const NetEventBindFailed: NET_PNP_EVENT_CODE = 16;

/// `NET_PNP_EVENT` (0x98).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NET_PNP_EVENT {
    pub NetEvent: NET_PNP_EVENT_CODE,
    pub Buffer: *mut c_void,
    pub BufferLength: u32,
    pub NdisReserved: [usize; 4],
    pub TransportReserved: [usize; 4],
    pub TdiReserved: [usize; 4],
    pub TdiClientReserved: [usize; 4],
}

pub const NET_PNP_EVENT_NOTIFICATION_REVISION_1: u8 = 1;

/// `NET_PNP_EVENT_NOTIFICATION`, revision-1 form (0xA8), given to `NdisMNetPnPEvent`.
/// Header: Type DEFAULT, Rev 1, Size [`NDIS_SIZEOF_NET_PNP_EVENT_NOTIFICATION_REVISION_1`].
/// NDIS 6.50 headers append `SwitchId` and `VPortId` (revision 2, 0xB0); a 6.30 miniport
/// sends revision 1, so they are not mirrored.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NET_PNP_EVENT_NOTIFICATION {
    pub Header: NDIS_OBJECT_HEADER,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub NetPnPEvent: NET_PNP_EVENT,
    pub Flags: u32,
}

pub const NDIS_SIZEOF_NET_PNP_EVENT_NOTIFICATION_REVISION_1: u16 =
    (offset_of!(NET_PNP_EVENT_NOTIFICATION, Flags) + size_of::<u32>()) as u16;

// ---------------------------------------------------------------------------
// Adapter attributes (NdisMSetMiniportAttributes)
// ---------------------------------------------------------------------------

/// `NDIS_INTERFACE_TYPE` (= `INTERFACE_TYPE`, C enum).
pub type NDIS_INTERFACE_TYPE = i32;
pub const NdisInterfaceInternal: NDIS_INTERFACE_TYPE = 0;
pub const NdisInterfaceIsa: NDIS_INTERFACE_TYPE = 1;
pub const NdisInterfaceEisa: NDIS_INTERFACE_TYPE = 2;
pub const NdisInterfaceMca: NDIS_INTERFACE_TYPE = 3;
pub const NdisInterfaceTurboChannel: NDIS_INTERFACE_TYPE = 4;
pub const NdisInterfacePci: NDIS_INTERFACE_TYPE = 5;
pub const NdisInterfacePcMcia: NDIS_INTERFACE_TYPE = 8;
pub const NdisInterfaceCBus: NDIS_INTERFACE_TYPE = 9;
pub const NdisInterfaceMPIBus: NDIS_INTERFACE_TYPE = 10;
pub const NdisInterfaceMPSABus: NDIS_INTERFACE_TYPE = 11;
pub const NdisInterfaceProcessorInternal: NDIS_INTERFACE_TYPE = 12;
pub const NdisInterfaceInternalPowerBus: NDIS_INTERFACE_TYPE = 13;
pub const NdisInterfacePNPISABus: NDIS_INTERFACE_TYPE = 14;
pub const NdisInterfacePNPBus: NDIS_INTERFACE_TYPE = 15;
pub const NdisInterfaceUSB: NDIS_INTERFACE_TYPE = 16;
pub const NdisInterfaceIrda: NDIS_INTERFACE_TYPE = 17;
pub const NdisInterface1394: NDIS_INTERFACE_TYPE = 18;

/// `AttributeFlags` of the registration attributes.
pub const NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE: u32 = 0x0000_0001;
pub const NDIS_MINIPORT_ATTRIBUTES_NDIS_WDM: u32 = 0x0000_0002;
pub const NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK: u32 = 0x0000_0004;
pub const NDIS_MINIPORT_ATTRIBUTES_NOT_CO_NDIS: u32 = 0x0000_0008;
pub const NDIS_MINIPORT_ATTRIBUTES_DO_NOT_BIND_TO_ALL_CO: u32 = 0x0000_0010;
pub const NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND: u32 = 0x0000_0020;
pub const NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER: u32 = 0x0000_0040;
pub const NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT: u32 = 0x0000_0080;
/// NDIS 6.30+ (registration attributes revision 2).
pub const NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND: u32 = 0x0000_0100;

pub const NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1: u8 = 1;
/// NDIS 6.30+.
pub const NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2: u8 = 2;

/// `NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES` (0x20). Header: Type 0x9E, Rev 1/2,
/// Size 0x1C. Must be the first attributes set from MiniportInitializeEx.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub MiniportAdapterContext: NDIS_HANDLE,
    pub AttributeFlags: u32,
    /// 0 = NDIS default (2 s).
    pub CheckForHangTimeInSeconds: u32,
    pub InterfaceType: NDIS_INTERFACE_TYPE,
}

pub const NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1: u16 =
    (offset_of!(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, InterfaceType)
        + size_of::<NDIS_INTERFACE_TYPE>()) as u16;
pub const NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2: u16 =
    NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1;

/// `NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES` (0x18). Header: Type 0xA4, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub MiniportAddDeviceContext: NDIS_HANDLE,
    pub Flags: u32,
}

/// `NDIS_MEDIUM` (C enum).
pub type NDIS_MEDIUM = i32;
pub const NdisMedium802_3: NDIS_MEDIUM = 0;
pub const NdisMedium802_5: NDIS_MEDIUM = 1;
pub const NdisMediumFddi: NDIS_MEDIUM = 2;
pub const NdisMediumWan: NDIS_MEDIUM = 3;
pub const NdisMediumLocalTalk: NDIS_MEDIUM = 4;
pub const NdisMediumDix: NDIS_MEDIUM = 5;
pub const NdisMediumArcnetRaw: NDIS_MEDIUM = 6;
pub const NdisMediumArcnet878_2: NDIS_MEDIUM = 7;
pub const NdisMediumAtm: NDIS_MEDIUM = 8;
pub const NdisMediumWirelessWan: NDIS_MEDIUM = 9;
pub const NdisMediumIrda: NDIS_MEDIUM = 10;
pub const NdisMediumBpc: NDIS_MEDIUM = 11;
pub const NdisMediumCoWan: NDIS_MEDIUM = 12;
pub const NdisMedium1394: NDIS_MEDIUM = 13;
pub const NdisMediumInfiniBand: NDIS_MEDIUM = 14;
pub const NdisMediumTunnel: NDIS_MEDIUM = 15;
pub const NdisMediumNative802_11: NDIS_MEDIUM = 16;
pub const NdisMediumLoopback: NDIS_MEDIUM = 17;
pub const NdisMediumWiMAX: NDIS_MEDIUM = 18;
pub const NdisMediumIP: NDIS_MEDIUM = 19;

/// `NDIS_PHYSICAL_MEDIUM` (C enum).
pub type NDIS_PHYSICAL_MEDIUM = i32;
pub const NdisPhysicalMediumUnspecified: NDIS_PHYSICAL_MEDIUM = 0;
pub const NdisPhysicalMediumWirelessLan: NDIS_PHYSICAL_MEDIUM = 1;
pub const NdisPhysicalMediumCableModem: NDIS_PHYSICAL_MEDIUM = 2;
pub const NdisPhysicalMediumPhoneLine: NDIS_PHYSICAL_MEDIUM = 3;
pub const NdisPhysicalMediumPowerLine: NDIS_PHYSICAL_MEDIUM = 4;
pub const NdisPhysicalMediumDSL: NDIS_PHYSICAL_MEDIUM = 5;
pub const NdisPhysicalMediumFibreChannel: NDIS_PHYSICAL_MEDIUM = 6;
pub const NdisPhysicalMedium1394: NDIS_PHYSICAL_MEDIUM = 7;
pub const NdisPhysicalMediumWirelessWan: NDIS_PHYSICAL_MEDIUM = 8;
pub const NdisPhysicalMediumNative802_11: NDIS_PHYSICAL_MEDIUM = 9;
pub const NdisPhysicalMediumBluetooth: NDIS_PHYSICAL_MEDIUM = 10;
pub const NdisPhysicalMediumInfiniband: NDIS_PHYSICAL_MEDIUM = 11;
pub const NdisPhysicalMediumWiMax: NDIS_PHYSICAL_MEDIUM = 12;
pub const NdisPhysicalMediumUWB: NDIS_PHYSICAL_MEDIUM = 13;
pub const NdisPhysicalMedium802_3: NDIS_PHYSICAL_MEDIUM = 14;
pub const NdisPhysicalMedium802_5: NDIS_PHYSICAL_MEDIUM = 15;
pub const NdisPhysicalMediumIrda: NDIS_PHYSICAL_MEDIUM = 16;
pub const NdisPhysicalMediumWiredWAN: NDIS_PHYSICAL_MEDIUM = 17;
pub const NdisPhysicalMediumWiredCoWan: NDIS_PHYSICAL_MEDIUM = 18;
pub const NdisPhysicalMediumOther: NDIS_PHYSICAL_MEDIUM = 19;

/// `NDIS_MEDIA_CONNECT_STATE` (C enum).
pub type NDIS_MEDIA_CONNECT_STATE = i32;
pub const MediaConnectStateUnknown: NDIS_MEDIA_CONNECT_STATE = 0;
pub const MediaConnectStateConnected: NDIS_MEDIA_CONNECT_STATE = 1;
pub const MediaConnectStateDisconnected: NDIS_MEDIA_CONNECT_STATE = 2;

/// `NDIS_MEDIA_DUPLEX_STATE` (C enum).
pub type NDIS_MEDIA_DUPLEX_STATE = i32;
pub const MediaDuplexStateUnknown: NDIS_MEDIA_DUPLEX_STATE = 0;
pub const MediaDuplexStateHalf: NDIS_MEDIA_DUPLEX_STATE = 1;
pub const MediaDuplexStateFull: NDIS_MEDIA_DUPLEX_STATE = 2;

/// `NDIS_SUPPORTED_PAUSE_FUNCTIONS` (C enum).
pub type NDIS_SUPPORTED_PAUSE_FUNCTIONS = i32;
pub const NdisPauseFunctionsUnsupported: NDIS_SUPPORTED_PAUSE_FUNCTIONS = 0;
pub const NdisPauseFunctionsSendOnly: NDIS_SUPPORTED_PAUSE_FUNCTIONS = 1;
pub const NdisPauseFunctionsReceiveOnly: NDIS_SUPPORTED_PAUSE_FUNCTIONS = 2;
pub const NdisPauseFunctionsSendAndReceive: NDIS_SUPPORTED_PAUSE_FUNCTIONS = 3;
pub const NdisPauseFunctionsUnknown: NDIS_SUPPORTED_PAUSE_FUNCTIONS = 4;

/// `NDIS_HARDWARE_STATUS` (C enum; OID_GEN_HARDWARE_STATUS).
pub type NDIS_HARDWARE_STATUS = i32;
pub const NdisHardwareStatusReady: NDIS_HARDWARE_STATUS = 0;
pub const NdisHardwareStatusInitializing: NDIS_HARDWARE_STATUS = 1;
pub const NdisHardwareStatusReset: NDIS_HARDWARE_STATUS = 2;
pub const NdisHardwareStatusClosing: NDIS_HARDWARE_STATUS = 3;
pub const NdisHardwareStatusNotReady: NDIS_HARDWARE_STATUS = 4;

/// `NET_IF_ACCESS_TYPE` (C enum, ifdef.h).
pub type NET_IF_ACCESS_TYPE = i32;
pub const NET_IF_ACCESS_LOOPBACK: NET_IF_ACCESS_TYPE = 1;
pub const NET_IF_ACCESS_BROADCAST: NET_IF_ACCESS_TYPE = 2;
pub const NET_IF_ACCESS_POINT_TO_POINT: NET_IF_ACCESS_TYPE = 3;
pub const NET_IF_ACCESS_POINT_TO_MULTI_POINT: NET_IF_ACCESS_TYPE = 4;

/// `NET_IF_DIRECTION_TYPE` (C enum, ifdef.h).
pub type NET_IF_DIRECTION_TYPE = i32;
pub const NET_IF_DIRECTION_SENDRECEIVE: NET_IF_DIRECTION_TYPE = 0;
pub const NET_IF_DIRECTION_SENDONLY: NET_IF_DIRECTION_TYPE = 1;
pub const NET_IF_DIRECTION_RECEIVEONLY: NET_IF_DIRECTION_TYPE = 2;

/// `NET_IF_CONNECTION_TYPE` (C enum, ifdef.h).
pub type NET_IF_CONNECTION_TYPE = i32;
pub const NET_IF_CONNECTION_DEDICATED: NET_IF_CONNECTION_TYPE = 1;
pub const NET_IF_CONNECTION_PASSIVE: NET_IF_CONNECTION_TYPE = 2;
pub const NET_IF_CONNECTION_DEMAND: NET_IF_CONNECTION_TYPE = 3;

/// `IF_TYPE_ETHERNET_CSMACD` (ipifcons.h).
pub const IF_TYPE_ETHERNET_CSMACD: NET_IFTYPE = 6;

/// `NDIS_MAX_PHYS_ADDRESS_LENGTH` (= `IF_MAX_PHYS_ADDRESS_LENGTH`).
pub const NDIS_MAX_PHYS_ADDRESS_LENGTH: usize = 32;

/// `NET_IF_LINK_SPEED_UNKNOWN` / `NDIS_LINK_SPEED_UNKNOWN`.
pub const NDIS_LINK_SPEED_UNKNOWN: u64 = u64::MAX;

/// `NDIS_PNP_CAPABILITIES`; the glue passes NULL.
#[repr(C)]
pub struct NDIS_PNP_CAPABILITIES {
    _opaque: [u8; 0],
}
/// `NDIS_PM_CAPABILITIES`; the glue passes NULL.
#[repr(C)]
pub struct NDIS_PM_CAPABILITIES {
    _opaque: [u8; 0],
}
/// `NDIS_RECEIVE_SCALE_CAPABILITIES`; the glue passes NULL (no RSS).
#[repr(C)]
pub struct NDIS_RECEIVE_SCALE_CAPABILITIES {
    _opaque: [u8; 0],
}

/// `NDIS_STATISTICS_FLAGS_VALID_*` (`SupportedStatistics`, `NDIS_STATISTICS_INFO`).
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV: u32 = 0x0000_0001;
pub const NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_RCV: u32 = 0x0000_0002;
pub const NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_RCV: u32 = 0x0000_0004;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV: u32 = 0x0000_0008;
pub const NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS: u32 = 0x0000_0010;
pub const NDIS_STATISTICS_FLAGS_VALID_RCV_ERROR: u32 = 0x0000_0020;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT: u32 = 0x0000_0040;
pub const NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_XMIT: u32 = 0x0000_0080;
pub const NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_XMIT: u32 = 0x0000_0100;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT: u32 = 0x0000_0200;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR: u32 = 0x0000_0400;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS: u32 = 0x0000_8000;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_BYTES_RCV: u32 = 0x0001_0000;
pub const NDIS_STATISTICS_FLAGS_VALID_MULTICAST_BYTES_RCV: u32 = 0x0002_0000;
pub const NDIS_STATISTICS_FLAGS_VALID_BROADCAST_BYTES_RCV: u32 = 0x0004_0000;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_BYTES_XMIT: u32 = 0x0008_0000;
pub const NDIS_STATISTICS_FLAGS_VALID_MULTICAST_BYTES_XMIT: u32 = 0x0010_0000;
pub const NDIS_STATISTICS_FLAGS_VALID_BROADCAST_BYTES_XMIT: u32 = 0x0020_0000;

pub const NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_1: u8 = 1;
/// NDIS 6.20+ (adds `PowerManagementCapabilitiesEx`).
pub const NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2: u8 = 2;

/// `NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES` (0xE0). Header: Type 0x9F, Rev 2,
/// Size [`NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2`]. NDIS copies the
/// pointed-to OID list during the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub MediaType: NDIS_MEDIUM,
    pub PhysicalMediumType: NDIS_PHYSICAL_MEDIUM,
    pub MtuSize: u32,
    pub MaxXmitLinkSpeed: u64,
    pub XmitLinkSpeed: u64,
    pub MaxRcvLinkSpeed: u64,
    pub RcvLinkSpeed: u64,
    pub MediaConnectState: NDIS_MEDIA_CONNECT_STATE,
    pub MediaDuplexState: NDIS_MEDIA_DUPLEX_STATE,
    pub LookaheadSize: u32,
    pub PowerManagementCapabilities: *mut NDIS_PNP_CAPABILITIES,
    pub MacOptions: u32,
    pub SupportedPacketFilters: u32,
    pub MaxMulticastListSize: u32,
    pub MacAddressLength: u16,
    pub PermanentMacAddress: [u8; NDIS_MAX_PHYS_ADDRESS_LENGTH],
    pub CurrentMacAddress: [u8; NDIS_MAX_PHYS_ADDRESS_LENGTH],
    pub RecvScaleCapabilities: *mut NDIS_RECEIVE_SCALE_CAPABILITIES,
    pub AccessType: NET_IF_ACCESS_TYPE,
    pub DirectionType: NET_IF_DIRECTION_TYPE,
    pub ConnectionType: NET_IF_CONNECTION_TYPE,
    pub IfType: NET_IFTYPE,
    pub IfConnectorPresent: BOOLEAN,
    pub SupportedStatistics: u32,
    pub SupportedPauseFunctions: u32,
    pub DataBackFillSize: u32,
    pub ContextBackFillSize: u32,
    pub SupportedOidList: *mut NDIS_OID,
    /// In bytes.
    pub SupportedOidListLength: u32,
    pub AutoNegotiationFlags: u32,
    pub PowerManagementCapabilitiesEx: *mut NDIS_PM_CAPABILITIES,
}

pub const NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_1: u16 = (offset_of!(
    NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
    AutoNegotiationFlags
) + size_of::<u32>())
    as u16;
pub const NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2: u16 =
    (offset_of!(
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        PowerManagementCapabilitiesEx
    ) + size_of::<*mut c_void>()) as u16;

/// `AutoNegotiationFlags` bits.
pub const NDIS_LINK_STATE_XMIT_LINK_SPEED_AUTO_NEGOTIATED: u32 = 0x0000_0001;
pub const NDIS_LINK_STATE_RCV_LINK_SPEED_AUTO_NEGOTIATED: u32 = 0x0000_0002;
pub const NDIS_LINK_STATE_DUPLEX_AUTO_NEGOTIATED: u32 = 0x0000_0004;
pub const NDIS_LINK_STATE_PAUSE_FUNCTIONS_AUTO_NEGOTIATED: u32 = 0x0000_0008;

/// `NDIS_OFFLOAD`; only handled by pointer here.
#[repr(C)]
pub struct NDIS_OFFLOAD {
    _opaque: [u8; 0],
}
/// `NDIS_TCP_CONNECTION_OFFLOAD`; only handled by pointer here.
#[repr(C)]
pub struct NDIS_TCP_CONNECTION_OFFLOAD {
    _opaque: [u8; 0],
}

/// `NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES` (0x28). Header: Type 0xA0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub DefaultOffloadConfiguration: *mut NDIS_OFFLOAD,
    pub HardwareOffloadCapabilities: *mut NDIS_OFFLOAD,
    pub DefaultTcpConnectionOffloadConfiguration: *mut NDIS_TCP_CONNECTION_OFFLOAD,
    pub TcpConnectionOffloadHardwareCapabilities: *mut NDIS_TCP_CONNECTION_OFFLOAD,
}

/// `NDIS_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES` (0x40). Header: Type 0xA1. The
/// `DOT11_*` attribute pointers are untyped here.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub OpModeCapability: u32,
    pub NumOfTXBuffers: u32,
    pub NumOfRXBuffers: u32,
    pub MultiDomainCapabilityImplemented: BOOLEAN,
    pub NumSupportedPhys: u32,
    pub SupportedPhyAttributes: *mut c_void,
    pub ExtSTAAttributes: *mut c_void,
    pub VWiFiAttributes: *mut c_void,
    pub ExtAPAttributes: *mut c_void,
    pub WFDAttributes: *mut c_void,
}

/// `NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES` (0x50). Header: Type 0xAF. The
/// capability pointers (HD split, receive filter, NIC switch, SR-IOV, QoS) are untyped.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub HDSplitAttributes: *mut c_void,
    pub HardwareReceiveFilterCapabilities: *mut c_void,
    pub CurrentReceiveFilterCapabilities: *mut c_void,
    pub HardwareNicSwitchCapabilities: *mut c_void,
    pub CurrentNicSwitchCapabilities: *mut c_void,
    pub HardwareSriovCapabilities: *mut c_void,
    pub CurrentSriovCapabilities: *mut c_void,
    pub HardwareQosCapabilities: *mut c_void,
    pub CurrentQosCapabilities: *mut c_void,
}

/// `NDIS_MINIPORT_ADAPTER_ATTRIBUTES` (ndis.h, 0xE0): a union of attribute-struct
/// *values*; the miniport fills one member and NDIS dispatches on `Header.Type`. (A
/// miniport may also pass a pointer to a lone member struct, cast — NDIS reads only that
/// member.) Members as in the x64 `ndis.sys` type dump; later WDKs add
/// `PacketDirectAttributes` (not mirrored, not larger).
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_MINIPORT_ADAPTER_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub AddDeviceRegistrationAttributes: NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    pub RegistrationAttributes: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
    pub GeneralAttributes: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
    pub OffloadAttributes: NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES,
    pub Native_802_11_Attributes: NDIS_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES,
    pub HardwareAssistAttributes: NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
    pub NDKAttributes: NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES,
}

// ---------------------------------------------------------------------------
// OID requests (ndis/oidrequest.h)
// ---------------------------------------------------------------------------

/// `NDIS_REQUEST_TYPE` (C enum).
pub type NDIS_REQUEST_TYPE = i32;
pub const NdisRequestQueryInformation: NDIS_REQUEST_TYPE = 0;
pub const NdisRequestSetInformation: NDIS_REQUEST_TYPE = 1;
pub const NdisRequestQueryStatistics: NDIS_REQUEST_TYPE = 2;
pub const NdisRequestOpen: NDIS_REQUEST_TYPE = 3;
pub const NdisRequestClose: NDIS_REQUEST_TYPE = 4;
pub const NdisRequestSend: NDIS_REQUEST_TYPE = 5;
pub const NdisRequestTransferData: NDIS_REQUEST_TYPE = 6;
pub const NdisRequestReset: NDIS_REQUEST_TYPE = 7;
pub const NdisRequestGeneric1: NDIS_REQUEST_TYPE = 8;
pub const NdisRequestGeneric2: NDIS_REQUEST_TYPE = 9;
pub const NdisRequestGeneric3: NDIS_REQUEST_TYPE = 10;
pub const NdisRequestGeneric4: NDIS_REQUEST_TYPE = 11;
pub const NdisRequestMethod: NDIS_REQUEST_TYPE = 12;

/// `DATA.QUERY_INFORMATION` (query and query-statistics requests).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_OID_REQUEST_QUERY_INFORMATION {
    pub Oid: NDIS_OID,
    pub InformationBuffer: *mut c_void,
    pub InformationBufferLength: u32,
    pub BytesWritten: u32,
    pub BytesNeeded: u32,
}

/// `DATA.SET_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_OID_REQUEST_SET_INFORMATION {
    pub Oid: NDIS_OID,
    pub InformationBuffer: *mut c_void,
    pub InformationBufferLength: u32,
    pub BytesRead: u32,
    pub BytesNeeded: u32,
}

/// `DATA.METHOD_INFORMATION` (one buffer: input in, output back).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_OID_REQUEST_METHOD_INFORMATION {
    pub Oid: NDIS_OID,
    pub InformationBuffer: *mut c_void,
    pub InputBufferLength: u32,
    pub OutputBufferLength: u32,
    pub MethodId: u32,
    pub BytesWritten: u32,
    pub BytesRead: u32,
    pub BytesNeeded: u32,
}

/// `NDIS_OID_REQUEST.DATA` (the C union `_REQUEST_DATA`); `Oid` is at offset 0 of every
/// view.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_OID_REQUEST_DATA {
    pub QUERY_INFORMATION: NDIS_OID_REQUEST_QUERY_INFORMATION,
    pub SET_INFORMATION: NDIS_OID_REQUEST_SET_INFORMATION,
    pub METHOD_INFORMATION: NDIS_OID_REQUEST_METHOD_INFORMATION,
}

/// `NDIS_OID_REQUEST_NDIS_RESERVED_SIZE` (in pointers).
pub const NDIS_OID_REQUEST_NDIS_RESERVED_SIZE: usize = 16;

pub const NDIS_OID_REQUEST_REVISION_1: u8 = 1;
/// NDIS 6.50+ (adds `SwitchId`, `VPortId`, `Flags`).
pub const NDIS_OID_REQUEST_REVISION_2: u8 = 2;

/// `NDIS_OID_REQUEST` (0xF8 with the NDIS 6.50 tail). Header: Type 0x96, Rev 1 (Size
/// 0xEC) or 2 (Size 0xF8). The miniport must only read the tail when `Header.Revision`
/// ≥ 2.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_OID_REQUEST {
    pub Header: NDIS_OBJECT_HEADER,
    pub RequestType: NDIS_REQUEST_TYPE,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub Timeout: u32,
    pub RequestId: *mut c_void,
    pub RequestHandle: NDIS_HANDLE,
    pub DATA: NDIS_OID_REQUEST_DATA,
    pub NdisReserved: [u8; NDIS_OID_REQUEST_NDIS_RESERVED_SIZE * size_of::<*mut c_void>()],
    pub MiniportReserved: [u8; 2 * size_of::<*mut c_void>()],
    pub SourceReserved: [u8; 2 * size_of::<*mut c_void>()],
    pub SupportedRevision: u8,
    pub Reserved1: u8,
    pub Reserved2: u16,
    pub SwitchId: NDIS_NIC_SWITCH_ID,
    pub VPortId: NDIS_NIC_SWITCH_VPORT_ID,
    pub Flags: u32,
}

pub const NDIS_SIZEOF_OID_REQUEST_REVISION_1: u16 =
    (offset_of!(NDIS_OID_REQUEST, Reserved2) + size_of::<u16>()) as u16;
pub const NDIS_SIZEOF_OID_REQUEST_REVISION_2: u16 =
    (offset_of!(NDIS_OID_REQUEST, Flags) + size_of::<u32>()) as u16;

// ---------------------------------------------------------------------------
// OIDs (ntddndis.h)
// ---------------------------------------------------------------------------

pub const OID_GEN_SUPPORTED_LIST: NDIS_OID = 0x0001_0101;
pub const OID_GEN_HARDWARE_STATUS: NDIS_OID = 0x0001_0102;
pub const OID_GEN_MEDIA_SUPPORTED: NDIS_OID = 0x0001_0103;
pub const OID_GEN_MEDIA_IN_USE: NDIS_OID = 0x0001_0104;
pub const OID_GEN_MAXIMUM_LOOKAHEAD: NDIS_OID = 0x0001_0105;
pub const OID_GEN_MAXIMUM_FRAME_SIZE: NDIS_OID = 0x0001_0106;
pub const OID_GEN_LINK_SPEED: NDIS_OID = 0x0001_0107;
pub const OID_GEN_TRANSMIT_BUFFER_SPACE: NDIS_OID = 0x0001_0108;
pub const OID_GEN_RECEIVE_BUFFER_SPACE: NDIS_OID = 0x0001_0109;
pub const OID_GEN_TRANSMIT_BLOCK_SIZE: NDIS_OID = 0x0001_010A;
pub const OID_GEN_RECEIVE_BLOCK_SIZE: NDIS_OID = 0x0001_010B;
pub const OID_GEN_VENDOR_ID: NDIS_OID = 0x0001_010C;
pub const OID_GEN_VENDOR_DESCRIPTION: NDIS_OID = 0x0001_010D;
pub const OID_GEN_CURRENT_PACKET_FILTER: NDIS_OID = 0x0001_010E;
pub const OID_GEN_CURRENT_LOOKAHEAD: NDIS_OID = 0x0001_010F;
pub const OID_GEN_DRIVER_VERSION: NDIS_OID = 0x0001_0110;
pub const OID_GEN_MAXIMUM_TOTAL_SIZE: NDIS_OID = 0x0001_0111;
pub const OID_GEN_PROTOCOL_OPTIONS: NDIS_OID = 0x0001_0112;
pub const OID_GEN_MAC_OPTIONS: NDIS_OID = 0x0001_0113;
pub const OID_GEN_MEDIA_CONNECT_STATUS: NDIS_OID = 0x0001_0114;
pub const OID_GEN_MAXIMUM_SEND_PACKETS: NDIS_OID = 0x0001_0115;
pub const OID_GEN_VENDOR_DRIVER_VERSION: NDIS_OID = 0x0001_0116;
pub const OID_GEN_SUPPORTED_GUIDS: NDIS_OID = 0x0001_0117;
pub const OID_GEN_NETWORK_LAYER_ADDRESSES: NDIS_OID = 0x0001_0118;
pub const OID_GEN_TRANSPORT_HEADER_OFFSET: NDIS_OID = 0x0001_0119;
pub const OID_GEN_MEDIA_CAPABILITIES: NDIS_OID = 0x0001_0201;
pub const OID_GEN_PHYSICAL_MEDIUM: NDIS_OID = 0x0001_0202;
pub const OID_GEN_RECEIVE_SCALE_CAPABILITIES: NDIS_OID = 0x0001_0203;
pub const OID_GEN_RECEIVE_SCALE_PARAMETERS: NDIS_OID = 0x0001_0204;
pub const OID_GEN_MAC_ADDRESS: NDIS_OID = 0x0001_0205;
pub const OID_GEN_MAX_LINK_SPEED: NDIS_OID = 0x0001_0206;
pub const OID_GEN_LINK_STATE: NDIS_OID = 0x0001_0207;
pub const OID_GEN_LINK_PARAMETERS: NDIS_OID = 0x0001_0208;
pub const OID_GEN_INTERRUPT_MODERATION: NDIS_OID = 0x0001_0209;
pub const OID_GEN_XMIT_OK: NDIS_OID = 0x0002_0101;
pub const OID_GEN_RCV_OK: NDIS_OID = 0x0002_0102;
pub const OID_GEN_XMIT_ERROR: NDIS_OID = 0x0002_0103;
pub const OID_GEN_RCV_ERROR: NDIS_OID = 0x0002_0104;
pub const OID_GEN_RCV_NO_BUFFER: NDIS_OID = 0x0002_0105;
pub const OID_GEN_STATISTICS: NDIS_OID = 0x0002_0106;
pub const OID_802_3_PERMANENT_ADDRESS: NDIS_OID = 0x0101_0101;
pub const OID_802_3_CURRENT_ADDRESS: NDIS_OID = 0x0101_0102;
pub const OID_802_3_MULTICAST_LIST: NDIS_OID = 0x0101_0103;
pub const OID_802_3_MAXIMUM_LIST_SIZE: NDIS_OID = 0x0101_0104;
pub const OID_802_3_MAC_OPTIONS: NDIS_OID = 0x0101_0105;
pub const OID_802_3_RCV_ERROR_ALIGNMENT: NDIS_OID = 0x0102_0101;
pub const OID_802_3_XMIT_ONE_COLLISION: NDIS_OID = 0x0102_0102;
pub const OID_802_3_XMIT_MORE_COLLISIONS: NDIS_OID = 0x0102_0103;

/// `NDIS_PACKET_TYPE_*` (OID_GEN_CURRENT_PACKET_FILTER bits).
pub const NDIS_PACKET_TYPE_DIRECTED: u32 = 0x0000_0001;
pub const NDIS_PACKET_TYPE_MULTICAST: u32 = 0x0000_0002;
pub const NDIS_PACKET_TYPE_ALL_MULTICAST: u32 = 0x0000_0004;
pub const NDIS_PACKET_TYPE_BROADCAST: u32 = 0x0000_0008;
pub const NDIS_PACKET_TYPE_SOURCE_ROUTING: u32 = 0x0000_0010;
pub const NDIS_PACKET_TYPE_PROMISCUOUS: u32 = 0x0000_0020;
pub const NDIS_PACKET_TYPE_SMT: u32 = 0x0000_0040;
pub const NDIS_PACKET_TYPE_ALL_LOCAL: u32 = 0x0000_0080;
pub const NDIS_PACKET_TYPE_GROUP: u32 = 0x0000_1000;
pub const NDIS_PACKET_TYPE_ALL_FUNCTIONAL: u32 = 0x0000_2000;
pub const NDIS_PACKET_TYPE_FUNCTIONAL: u32 = 0x0000_4000;
pub const NDIS_PACKET_TYPE_MAC_FRAME: u32 = 0x0000_8000;
pub const NDIS_PACKET_TYPE_NO_LOCAL: u32 = 0x0001_0000;

/// `NDIS_MAC_OPTION_*` (OID_GEN_MAC_OPTIONS / `MacOptions`).
pub const NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA: u32 = 0x0000_0001;
pub const NDIS_MAC_OPTION_RECEIVE_SERIALIZED: u32 = 0x0000_0002;
pub const NDIS_MAC_OPTION_TRANSFERS_NOT_PEND: u32 = 0x0000_0004;
pub const NDIS_MAC_OPTION_NO_LOOPBACK: u32 = 0x0000_0008;
pub const NDIS_MAC_OPTION_FULL_DUPLEX: u32 = 0x0000_0010;
pub const NDIS_MAC_OPTION_EOTX_INDICATION: u32 = 0x0000_0020;
pub const NDIS_MAC_OPTION_8021P_PRIORITY: u32 = 0x0000_0040;
pub const NDIS_MAC_OPTION_SUPPORTS_MAC_ADDRESS_OVERWRITE: u32 = 0x0000_0080;
pub const NDIS_MAC_OPTION_RECEIVE_AT_DPC: u32 = 0x0000_0100;
pub const NDIS_MAC_OPTION_8021Q_VLAN: u32 = 0x0000_0200;
pub const NDIS_MAC_OPTION_RESERVED: u32 = 0x8000_0000;

// ---------------------------------------------------------------------------
// OID payloads (ntddndis.h)
// ---------------------------------------------------------------------------

pub const NDIS_LINK_STATE_REVISION_1: u8 = 1;

/// `NDIS_LINK_STATE` (0x28): OID_GEN_LINK_STATE and the NDIS_STATUS_LINK_STATE
/// indication. Header: Type DEFAULT, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_LINK_STATE {
    pub Header: NDIS_OBJECT_HEADER,
    pub MediaConnectState: NDIS_MEDIA_CONNECT_STATE,
    pub MediaDuplexState: NDIS_MEDIA_DUPLEX_STATE,
    pub XmitLinkSpeed: u64,
    pub RcvLinkSpeed: u64,
    pub PauseFunctions: NDIS_SUPPORTED_PAUSE_FUNCTIONS,
    pub AutoNegotiationFlags: u32,
}

pub const NDIS_SIZEOF_LINK_STATE_REVISION_1: u16 =
    (offset_of!(NDIS_LINK_STATE, AutoNegotiationFlags) + size_of::<u32>()) as u16;

pub const NDIS_LINK_PARAMETERS_REVISION_1: u8 = 1;

/// `NDIS_LINK_PARAMETERS` (0x20): OID_GEN_LINK_PARAMETERS (set). Header: DEFAULT, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_LINK_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub MediaDuplexState: NDIS_MEDIA_DUPLEX_STATE,
    pub XmitLinkSpeed: u64,
    pub RcvLinkSpeed: u64,
    pub PauseFunctions: NDIS_SUPPORTED_PAUSE_FUNCTIONS,
    pub AutoNegotiationFlags: u32,
}

pub const NDIS_SIZEOF_LINK_PARAMETERS_REVISION_1: u16 =
    (offset_of!(NDIS_LINK_PARAMETERS, AutoNegotiationFlags) + size_of::<u32>()) as u16;

pub const NDIS_STATISTICS_INFO_REVISION_1: u8 = 1;

/// `NDIS_STATISTICS_INFO` (0x98): OID_GEN_STATISTICS. Header: DEFAULT, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_STATISTICS_INFO {
    pub Header: NDIS_OBJECT_HEADER,
    pub SupportedStatistics: u32,
    pub ifInDiscards: u64,
    pub ifInErrors: u64,
    pub ifHCInOctets: u64,
    pub ifHCInUcastPkts: u64,
    pub ifHCInMulticastPkts: u64,
    pub ifHCInBroadcastPkts: u64,
    pub ifHCOutOctets: u64,
    pub ifHCOutUcastPkts: u64,
    pub ifHCOutMulticastPkts: u64,
    pub ifHCOutBroadcastPkts: u64,
    pub ifOutErrors: u64,
    pub ifOutDiscards: u64,
    pub ifHCInUcastOctets: u64,
    pub ifHCInMulticastOctets: u64,
    pub ifHCInBroadcastOctets: u64,
    pub ifHCOutUcastOctets: u64,
    pub ifHCOutMulticastOctets: u64,
    pub ifHCOutBroadcastOctets: u64,
}

pub const NDIS_SIZEOF_STATISTICS_INFO_REVISION_1: u16 = size_of::<NDIS_STATISTICS_INFO>() as u16;

/// `NDIS_INTERRUPT_MODERATION` (C enum).
pub type NDIS_INTERRUPT_MODERATION = i32;
pub const NdisInterruptModerationUnknown: NDIS_INTERRUPT_MODERATION = 0;
pub const NdisInterruptModerationNotSupported: NDIS_INTERRUPT_MODERATION = 1;
pub const NdisInterruptModerationEnabled: NDIS_INTERRUPT_MODERATION = 2;
pub const NdisInterruptModerationDisabled: NDIS_INTERRUPT_MODERATION = 3;

pub const NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1: u8 = 1;
pub const NDIS_INTERRUPT_MODERATION_CHANGE_NEEDS_RESET: u32 = 0x0000_0001;
pub const NDIS_INTERRUPT_MODERATION_CHANGE_NEEDS_REINITIALIZE: u32 = 0x0000_0002;

/// `NDIS_INTERRUPT_MODERATION_PARAMETERS` (0xC): OID_GEN_INTERRUPT_MODERATION.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_INTERRUPT_MODERATION_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub InterruptModeration: NDIS_INTERRUPT_MODERATION,
}

pub const NDIS_SIZEOF_INTERRUPT_MODERATION_PARAMETERS_REVISION_1: u16 =
    size_of::<NDIS_INTERRUPT_MODERATION_PARAMETERS>() as u16;

/// `NDIS_PROTOCOL_ID_*` (ntddndis.h): `NETWORK_ADDRESS.AddressType` of each entry
/// (TCP/IP fills IPv4 entries with `NDIS_PROTOCOL_ID_TCP_IP`), and
/// `NETWORK_ADDRESS_LIST.AddressType` when `AddressCount` is 0. USHORT-typed here for
/// those fields; the pool's `ProtocolId` uses the UCHAR [`NDIS_PROTOCOL_ID_DEFAULT`].
pub const NDIS_PROTOCOL_ID_TCP_IP: u16 = 0x02;
pub const NDIS_PROTOCOL_ID_IP6: u16 = 0x03;
pub const NDIS_PROTOCOL_ID_IPX: u16 = 0x06;
pub const NDIS_PROTOCOL_ID_NBF: u16 = 0x07;
pub const NDIS_PROTOCOL_ID_MASK: u16 = 0x0F;
/// Not a WDK name: transitional alias of [`NDIS_PROTOCOL_ID_TCP_IP`] for existing callers.
#[doc(hidden)]
pub const NDIS_NETWORK_ADDRESS_TYPE_IP: u16 = NDIS_PROTOCOL_ID_TCP_IP;
/// Not a WDK name: transitional alias of [`NDIS_PROTOCOL_ID_IP6`] for existing callers.
#[doc(hidden)]
pub const NDIS_NETWORK_ADDRESS_TYPE_IP6: u16 = NDIS_PROTOCOL_ID_IP6;

/// `NETWORK_ADDRESS` (ntddndis.h): `AddressLength` bytes of `Address` follow (declared
/// with one).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NETWORK_ADDRESS {
    pub AddressLength: u16,
    pub AddressType: u16,
    pub Address: [u8; 1],
}

/// `NETWORK_ADDRESS_LIST` (OID_GEN_NETWORK_LAYER_ADDRESSES, set): `AddressCount`
/// variable-size [`NETWORK_ADDRESS`] entries, each 4 + `AddressLength` bytes, packed
/// back to back from `Address` (offset 6).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NETWORK_ADDRESS_LIST {
    pub AddressCount: i32,
    pub AddressType: u16,
    pub Address: [NETWORK_ADDRESS; 1],
}

/// `NETWORK_ADDRESS_IP` (16 bytes, natural alignment: `in_addr`, network order, at
/// offset 4). ntddndis.h declares it without a pack pragma (as Microsoft's Win32
/// metadata records it), unlike the packed `TDI_ADDRESS_IP` its comment mentions.
/// Entries arrive unaligned: read them with `read_unaligned` or by offset.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NETWORK_ADDRESS_IP {
    pub sin_port: u16,
    pub in_addr: u32,
    pub sin_zero: [u8; 8],
}

/// `NETWORK_ADDRESS_LENGTH_IP` = `sizeof(NETWORK_ADDRESS_IP)`.
pub const NETWORK_ADDRESS_LENGTH_IP: u16 = size_of::<NETWORK_ADDRESS_IP>() as u16;

/// `NETWORK_ADDRESS_IP6` (28 bytes, natural alignment: `sin6_addr` at offset 8).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NETWORK_ADDRESS_IP6 {
    pub sin6_port: u16,
    pub sin6_flowinfo: u32,
    pub sin6_addr: [u16; 8],
    pub sin6_scope_id: u32,
}

/// `NETWORK_ADDRESS_LENGTH_IP6` = `sizeof(NETWORK_ADDRESS_IP6)`.
pub const NETWORK_ADDRESS_LENGTH_IP6: u16 = size_of::<NETWORK_ADDRESS_IP6>() as u16;

// ---------------------------------------------------------------------------
// Status indications (NdisMIndicateStatusEx)
// ---------------------------------------------------------------------------

pub const NDIS_STATUS_INDICATION_REVISION_1: u8 = 1;

/// `NDIS_STATUS_INDICATION` (0x70). Header: Type 0x98, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_STATUS_INDICATION {
    pub Header: NDIS_OBJECT_HEADER,
    /// The miniport adapter handle.
    pub SourceHandle: NDIS_HANDLE,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub StatusCode: NDIS_STATUS,
    pub Flags: u32,
    pub DestinationHandle: NDIS_HANDLE,
    pub RequestId: *mut c_void,
    pub StatusBuffer: *mut c_void,
    pub StatusBufferSize: u32,
    pub Guid: GUID,
    pub NdisReserved: [*mut c_void; 4],
}

pub const NDIS_SIZEOF_STATUS_INDICATION_REVISION_1: u16 =
    (offset_of!(NDIS_STATUS_INDICATION, NdisReserved) + 4 * size_of::<*mut c_void>()) as u16;

// ---------------------------------------------------------------------------
// Interrupts (NdisMRegisterInterruptEx)
// ---------------------------------------------------------------------------

/// `NDIS_INTERRUPT_TYPE` (C enum).
pub type NDIS_INTERRUPT_TYPE = i32;
pub const NDIS_CONNECT_LINE_BASED: NDIS_INTERRUPT_TYPE = 1;
pub const NDIS_CONNECT_MESSAGE_BASED: NDIS_INTERRUPT_TYPE = 2;

/// `KINTERRUPT_MODE` (C enum).
pub type KINTERRUPT_MODE = i32;
pub const LevelSensitive: KINTERRUPT_MODE = 0;
pub const Latched: KINTERRUPT_MODE = 1;

/// `KINTERRUPT_POLARITY` (C enum).
pub type KINTERRUPT_POLARITY = i32;
pub const InterruptPolarityUnknown: KINTERRUPT_POLARITY = 0;

/// `IO_INTERRUPT_MESSAGE_INFO_ENTRY` (wdm.h, 0x30).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_INTERRUPT_MESSAGE_INFO_ENTRY {
    pub MessageAddress: PHYSICAL_ADDRESS,
    pub TargetProcessorSet: KAFFINITY,
    /// `PKINTERRUPT`.
    pub InterruptObject: *mut c_void,
    pub MessageData: u32,
    pub Vector: u32,
    /// `KIRQL`.
    pub Irql: u8,
    pub Mode: KINTERRUPT_MODE,
    pub Polarity: KINTERRUPT_POLARITY,
}

/// `IO_INTERRUPT_MESSAGE_INFO` (wdm.h): `MessageCount` entries follow (declared with one).
/// NDIS fills it for message-based registrations.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_INTERRUPT_MESSAGE_INFO {
    /// `KIRQL`.
    pub UnifiedIrql: u8,
    pub MessageCount: u32,
    pub MessageInfo: [IO_INTERRUPT_MESSAGE_INFO_ENTRY; 1],
}

/// `NDIS_RECEIVE_THROTTLE_PARAMETERS` (NDIS 6.20+): what the DPC handlers get as
/// `ReceiveThrottleParameters`. `MoreNblsPending` is bit 0 of the second ULONG.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NDIS_RECEIVE_THROTTLE_PARAMETERS {
    pub MaxNblsToIndicate: u32,
    /// Bit field `MoreNblsPending:1`.
    pub MoreNblsPending: u32,
}

/// `NDIS_INDICATE_ALL_NBLS`: no throttle in `MaxNblsToIndicate`.
pub const NDIS_INDICATE_ALL_NBLS: u32 = u32::MAX;

/// `MINIPORT_ISR_HANDLER`: line-based ISR (DIRQL). Returns TRUE if the interrupt was ours.
pub type MINIPORT_ISR_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportInterruptContext: NDIS_HANDLE,
        QueueDefaultInterruptDpc: *mut BOOLEAN,
        TargetProcessors: *mut u32,
    ) -> BOOLEAN,
>;
/// `MINIPORT_INTERRUPT_DPC_HANDLER`: line-based DPC (DISPATCH_LEVEL).
pub type MINIPORT_INTERRUPT_DPC_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportInterruptContext: NDIS_HANDLE,
        MiniportDpcContext: *mut c_void,
        ReceiveThrottleParameters: *mut c_void,
        NdisReserved2: *mut c_void,
    ),
>;
/// `MINIPORT_DISABLE_INTERRUPT_HANDLER`.
pub type MINIPORT_DISABLE_INTERRUPT_HANDLER =
    Option<unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE)>;
/// `MINIPORT_ENABLE_INTERRUPT_HANDLER`.
pub type MINIPORT_ENABLE_INTERRUPT_HANDLER =
    Option<unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE)>;
/// `MINIPORT_MSI_ISR_HANDLER` (function type `MINIPORT_MESSAGE_INTERRUPT`): per-message
/// ISR (DIRQL).
pub type MINIPORT_MSI_ISR_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportInterruptContext: NDIS_HANDLE,
        MessageId: u32,
        QueueDefaultInterruptDpc: *mut BOOLEAN,
        TargetProcessors: *mut u32,
    ) -> BOOLEAN,
>;
/// `MINIPORT_MSI_INTERRUPT_DPC_HANDLER` (function type `MINIPORT_MESSAGE_INTERRUPT_DPC`).
pub type MINIPORT_MSI_INTERRUPT_DPC_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportInterruptContext: NDIS_HANDLE,
        MessageId: u32,
        MiniportDpcContext: *mut c_void,
        ReceiveThrottleParameters: *mut c_void,
        NdisReserved2: *mut c_void,
    ),
>;
/// `MINIPORT_DISABLE_MSI_INTERRUPT_HANDLER` (`MINIPORT_DISABLE_MESSAGE_INTERRUPT`).
pub type MINIPORT_DISABLE_MSI_INTERRUPT_HANDLER =
    Option<unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE, MessageId: u32)>;
/// `MINIPORT_ENABLE_MSI_INTERRUPT_HANDLER` (`MINIPORT_ENABLE_MESSAGE_INTERRUPT`).
pub type MINIPORT_ENABLE_MSI_INTERRUPT_HANDLER =
    Option<unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE, MessageId: u32)>;

pub const NDIS_MINIPORT_INTERRUPT_REVISION_1: u8 = 1;

/// `NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS` (0x60). Header: Type 0x84, Rev 1. On return
/// NDIS sets `InterruptType` and, for message-based, `MessageInfoTable`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
    pub Header: NDIS_OBJECT_HEADER,
    pub InterruptHandler: MINIPORT_ISR_HANDLER,
    pub InterruptDpcHandler: MINIPORT_INTERRUPT_DPC_HANDLER,
    pub DisableInterruptHandler: MINIPORT_DISABLE_INTERRUPT_HANDLER,
    pub EnableInterruptHandler: MINIPORT_ENABLE_INTERRUPT_HANDLER,
    pub MsiSupported: BOOLEAN,
    pub MsiSyncWithAllMessages: BOOLEAN,
    pub MessageInterruptHandler: MINIPORT_MSI_ISR_HANDLER,
    pub MessageInterruptDpcHandler: MINIPORT_MSI_INTERRUPT_DPC_HANDLER,
    pub DisableMessageInterruptHandler: MINIPORT_DISABLE_MSI_INTERRUPT_HANDLER,
    pub EnableMessageInterruptHandler: MINIPORT_ENABLE_MSI_INTERRUPT_HANDLER,
    pub InterruptType: NDIS_INTERRUPT_TYPE,
    pub MessageInfoTable: *mut IO_INTERRUPT_MESSAGE_INFO,
}

pub const NDIS_SIZEOF_MINIPORT_INTERRUPT_CHARACTERISTICS_REVISION_1: u16 =
    size_of::<NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS>() as u16;

// ---------------------------------------------------------------------------
// Scatter-gather DMA (NdisMRegisterScatterGatherDma)
// ---------------------------------------------------------------------------

/// `SCATTER_GATHER_ELEMENT` (wdm.h, 0x18).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SCATTER_GATHER_ELEMENT {
    pub Address: PHYSICAL_ADDRESS,
    pub Length: u32,
    pub Reserved: usize,
}

/// `SCATTER_GATHER_LIST` (wdm.h): `NumberOfElements` elements follow.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SCATTER_GATHER_LIST {
    pub NumberOfElements: u32,
    pub Reserved: usize,
    pub Elements: [SCATTER_GATHER_ELEMENT; 0],
}

/// `MINIPORT_PROCESS_SG_LIST_HANDLER`.
pub type MINIPORT_PROCESS_SG_LIST_HANDLER = Option<
    unsafe extern "system" fn(
        pDO: *mut DEVICE_OBJECT,
        Reserved: *mut c_void,
        pSGL: *mut SCATTER_GATHER_LIST,
        Context: *mut c_void,
    ),
>;
/// `MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER`.
pub type MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER = Option<
    unsafe extern "system" fn(
        MiniportAdapterContext: NDIS_HANDLE,
        VirtualAddress: *mut c_void,
        PhysicalAddress: *mut NDIS_PHYSICAL_ADDRESS,
        Length: u32,
        Context: *mut c_void,
    ),
>;

pub const NDIS_SG_DMA_DESCRIPTION_REVISION_1: u8 = 1;
/// `Flags`: the device does 64-bit DMA.
pub const NDIS_SG_DMA_64_BIT_ADDRESS: u32 = 0x0000_0001;

/// `NDIS_SG_DMA_DESCRIPTION` (0x28). Header: Type 0x83, Rev 1, Size 0x24. On return NDIS
/// sets `ScatterGatherListSize`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_SG_DMA_DESCRIPTION {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub MaximumPhysicalMapping: u32,
    pub ProcessSGListHandler: MINIPORT_PROCESS_SG_LIST_HANDLER,
    pub SharedMemAllocateCompleteHandler: MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER,
    pub ScatterGatherListSize: u32,
}

pub const NDIS_SIZEOF_SG_DMA_DESCRIPTION_REVISION_1: u16 =
    (offset_of!(NDIS_SG_DMA_DESCRIPTION, ScatterGatherListSize) + size_of::<u32>()) as u16;

// ---------------------------------------------------------------------------
// Work items (NdisQueueIoWorkItem)
// ---------------------------------------------------------------------------

/// `NDIS_IO_WORKITEM_ROUTINE` (PASSIVE_LEVEL; function type `NDIS_IO_WORKITEM_FUNCTION`).
pub type NDIS_IO_WORKITEM_ROUTINE =
    unsafe extern "system" fn(WorkItemContext: *mut c_void, NdisIoWorkItemHandle: NDIS_HANDLE);

// ---------------------------------------------------------------------------
// NET_BUFFER / NET_BUFFER_LIST (ndis/nbl.h)
// ---------------------------------------------------------------------------

/// `NET_BUFFER_DATA_LENGTH` (union `{ ULONG DataLength; SIZE_T stDataLength; }`).
#[repr(C)]
#[derive(Clone, Copy)]
pub union NET_BUFFER_DATA_LENGTH {
    pub DataLength: u32,
    pub stDataLength: usize,
}

/// `NET_BUFFER_DATA` (0x30): the data description of a NET_BUFFER.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NET_BUFFER_DATA {
    pub Next: *mut NET_BUFFER,
    /// The MDL holding the first used byte.
    pub CurrentMdl: *mut MDL,
    /// Offset of the first used byte in `CurrentMdl`.
    pub CurrentMdlOffset: u32,
    pub NbDataLength: NET_BUFFER_DATA_LENGTH,
    pub MdlChain: *mut MDL,
    /// Offset of the first used byte from the start of `MdlChain`.
    pub DataOffset: u32,
}

/// `NET_BUFFER_HEADER` (union `{ NET_BUFFER_DATA NetBufferData; SLIST_HEADER Link; }`).
#[repr(C)]
#[derive(Clone, Copy)]
pub union NET_BUFFER_HEADER {
    pub NetBufferData: NET_BUFFER_DATA,
    pub Link: SLIST_HEADER,
}

/// `NET_BUFFER_SHARED_MEMORY`; only handled by pointer here.
#[repr(C)]
pub struct NET_BUFFER_SHARED_MEMORY {
    _opaque: [u8; 0],
}

/// The trailing `{ SharedMemoryInfo; ScatterGatherList; }` union of a NET_BUFFER.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NET_BUFFER_SHARED_MEMORY_OR_SGL {
    pub SharedMemoryInfo: *mut NET_BUFFER_SHARED_MEMORY,
    pub ScatterGatherList: *mut SCATTER_GATHER_LIST,
}

/// `NET_BUFFER` (0xB0). The C anonymous union of `{Next, CurrentMdl, ...}`, `Link` and
/// `NetBufferHeader` is mirrored by its named member `NetBufferHeader`
/// (`nb.NetBufferHeader.NetBufferData.DataOffset` = C `nb->DataOffset`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NET_BUFFER {
    pub NetBufferHeader: NET_BUFFER_HEADER,
    pub ChecksumBias: u16,
    pub Reserved: u16,
    pub NdisPoolHandle: NDIS_HANDLE,
    pub NdisReserved: [*mut c_void; 2],
    pub ProtocolReserved: [*mut c_void; 6],
    pub MiniportReserved: [*mut c_void; 4],
    pub DataPhysicalAddress: NDIS_PHYSICAL_ADDRESS,
    pub u: NET_BUFFER_SHARED_MEMORY_OR_SGL,
}

/// `NET_BUFFER_LIST_CONTEXT` (nbl.h): `Size` bytes of context data follow.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NET_BUFFER_LIST_CONTEXT {
    pub Next: *mut NET_BUFFER_LIST_CONTEXT,
    pub Size: u16,
    pub Offset: u16,
    pub ContextData: [u8; 0],
}

/// `NET_BUFFER_LIST_DATA`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NET_BUFFER_LIST_DATA {
    pub Next: *mut NET_BUFFER_LIST,
    pub FirstNetBuffer: *mut NET_BUFFER,
}

/// `NET_BUFFER_LIST_HEADER` (union `{ NET_BUFFER_LIST_DATA NetBufferListData;
/// SLIST_HEADER Link; }`).
#[repr(C)]
#[derive(Clone, Copy)]
pub union NET_BUFFER_LIST_HEADER {
    pub NetBufferListData: NET_BUFFER_LIST_DATA,
    pub Link: SLIST_HEADER,
}

/// `NDIS_NET_BUFFER_LIST_INFO` indices into `NetBufferListInfo` (stable since NDIS 6.1).
pub type NDIS_NET_BUFFER_LIST_INFO = i32;
pub const TcpIpChecksumNetBufferListInfo: NDIS_NET_BUFFER_LIST_INFO = 0;
pub const IPsecOffloadV1NetBufferListInfo: NDIS_NET_BUFFER_LIST_INFO = 1;
pub const TcpLargeSendNetBufferListInfo: NDIS_NET_BUFFER_LIST_INFO = 2;
pub const ClassificationHandleNetBufferListInfo: NDIS_NET_BUFFER_LIST_INFO = 3;
pub const Ieee8021QNetBufferListInfo: NDIS_NET_BUFFER_LIST_INFO = 4;
pub const NetBufferListCancelId: NDIS_NET_BUFFER_LIST_INFO = 5;
pub const MediaSpecificInformation: NDIS_NET_BUFFER_LIST_INFO = 6;
pub const NetBufferListFrameType: NDIS_NET_BUFFER_LIST_INFO = 7;
pub const NetBufferListHashValue: NDIS_NET_BUFFER_LIST_INFO = 8;
pub const NetBufferListHashInfo: NDIS_NET_BUFFER_LIST_INFO = 9;
pub const WfpNetBufferListInfo: NDIS_NET_BUFFER_LIST_INFO = 10;
/// Length of `NetBufferListInfo`. Depends on the NDIS version the header is compiled
/// for; 26 is the count of a Windows 10 x64 `ndis.sys` (UNCONFIRMED for the 6.30 header).
/// NBLs are allocated by NDIS, so only the indices above are relied upon.
pub const MaxNetBufferListInfo: usize = 26;

/// `NET_BUFFER_LIST` (0x160 with [`MaxNetBufferListInfo`] = 26). The C anonymous union of
/// `{Next, FirstNetBuffer}`, `Link` and `NetBufferListHeader` is mirrored by
/// `NetBufferListHeader`. `NdisReserved`, `ProtocolReserved` and `MiniportReserved` are
/// `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)`; `_Align0` is the resulting padding.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NET_BUFFER_LIST {
    pub NetBufferListHeader: NET_BUFFER_LIST_HEADER,
    pub Context: *mut NET_BUFFER_LIST_CONTEXT,
    pub ParentNetBufferList: *mut NET_BUFFER_LIST,
    pub NdisPoolHandle: NDIS_HANDLE,
    pub _Align0: usize,
    pub NdisReserved: [*mut c_void; 2],
    pub ProtocolReserved: [*mut c_void; 4],
    pub MiniportReserved: [*mut c_void; 2],
    pub Scratch: *mut c_void,
    pub SourceHandle: NDIS_HANDLE,
    pub NblFlags: u32,
    pub ChildRefCount: i32,
    pub Flags: u32,
    /// `NET_BUFFER_LIST_STATUS()`: the completion status of a send.
    pub Status: NDIS_STATUS,
    pub NetBufferListInfo: [*mut c_void; MaxNetBufferListInfo],
}

pub const NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: u8 = 1;
pub const NDIS_PROTOCOL_ID_DEFAULT: u8 = 0x00;

/// `NET_BUFFER_LIST_POOL_PARAMETERS` (0x10). Header: Type DEFAULT, Rev 1, Size 0x10.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NET_BUFFER_LIST_POOL_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub ProtocolId: u8,
    /// TRUE: each NBL comes with one NET_BUFFER (`NdisAllocateNetBufferAndNetBufferList`).
    pub fAllocateNetBuffer: BOOLEAN,
    pub ContextSize: u16,
    pub PoolTag: u32,
    pub DataSize: u32,
}

pub const NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: u16 =
    size_of::<NET_BUFFER_LIST_POOL_PARAMETERS>() as u16;

/// `NDIS_RECEIVE_FLAGS_*` (NdisMIndicateReceiveNetBufferLists `ReceiveFlags`).
pub const NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
/// NDIS must copy and return the NBLs before the call returns (no MiniportReturn).
pub const NDIS_RECEIVE_FLAGS_RESOURCES: u32 = 0x0000_0002;
pub const NDIS_RECEIVE_FLAGS_SINGLE_ETHER_TYPE: u32 = 0x0000_0100;
pub const NDIS_RECEIVE_FLAGS_SINGLE_VLAN: u32 = 0x0000_0200;
pub const NDIS_RECEIVE_FLAGS_PERFECT_FILTERED: u32 = 0x0000_0400;
pub const NDIS_RECEIVE_FLAGS_SINGLE_QUEUE: u32 = 0x0000_0800;
pub const NDIS_RECEIVE_FLAGS_SHARED_MEMORY_INFO_VALID: u32 = 0x0000_1000;
pub const NDIS_RECEIVE_FLAGS_MORE_NBLS: u32 = 0x0000_2000;

/// `NDIS_SEND_FLAGS_*` (MiniportSendNetBufferLists `SendFlags`).
pub const NDIS_SEND_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK: u32 = 0x0000_0002;
pub const NDIS_SEND_FLAGS_SINGLE_QUEUE: u32 = 0x0000_0004;

/// `NDIS_SEND_COMPLETE_FLAGS_*` (NdisMSendNetBufferListsComplete).
pub const NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_SEND_COMPLETE_FLAGS_SINGLE_QUEUE: u32 = 0x0000_0002;

/// `NDIS_RETURN_FLAGS_*` (MiniportReturnNetBufferLists `ReturnFlags`).
pub const NDIS_RETURN_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_RETURN_FLAGS_SINGLE_QUEUE: u32 = 0x0000_0002;
