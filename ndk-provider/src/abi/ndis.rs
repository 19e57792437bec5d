//! NDIS integration structures for NDK (`ndisndk.h`, `ndis.h`, `ntddndis.h`),
//! `ndkpi.md` §8.1–§8.4.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use super::types::{GUID, NDK_ADAPTER, NDK_ADAPTER_INFO, NDK_VERSION, SOCKADDR_INET};

/// `NDIS_STATUS` (same value space as NTSTATUS).
pub type NDIS_STATUS = i32;
/// `NDIS_HANDLE` (opaque PVOID).
pub type NDIS_HANDLE = *mut c_void;
/// `NDIS_OID` (ULONG).
pub type NDIS_OID = u32;
/// `NDIS_NIC_SWITCH_ID` (ULONG).
pub type NDIS_NIC_SWITCH_ID = u32;
/// `NDIS_NIC_SWITCH_VPORT_ID` (ULONG).
pub type NDIS_NIC_SWITCH_VPORT_ID = u32;
/// `NET_PNP_EVENT_CODE` (C enum, int-sized).
pub type NET_PNP_EVENT_CODE = i32;

// ---------------------------------------------------------------------------
// NDIS_OBJECT_HEADER and object types
// ---------------------------------------------------------------------------

/// `NDIS_OBJECT_HEADER { UCHAR Type; UCHAR Revision; USHORT Size; }` (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_OBJECT_HEADER {
    pub Type: u8,
    pub Revision: u8,
    pub Size: u16,
}

/// Used when the object type is implied (capabilities, statistics, lists).
pub const NDIS_OBJECT_TYPE_DEFAULT: u8 = 0x80;
pub const NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS: u8 = 0xB2;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NDK_ATTRIBUTES: u8 = 0xB3;

// ---------------------------------------------------------------------------
// ndkpi.md §8.1 — registration
// ---------------------------------------------------------------------------

/// `NDIS_OPEN_NDK_ADAPTER_PARAMETERS`, NDIS 6.50+ form (0xC bytes). Before
/// NDIS 6.50 only `Version` exists (4 bytes). `Version` = requested major and
/// lowest acceptable minor (ndkpi.md §1.2).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_OPEN_NDK_ADAPTER_PARAMETERS {
    pub Version: NDK_VERSION,
    pub SwitchId: NDIS_NIC_SWITCH_ID,
    pub VPortId: NDIS_NIC_SWITCH_VPORT_ID,
}

/// Host-only provider values for `SwitchId` / `VPortId` (ndkpi.md §8.6).
pub const NDIS_DEFAULT_SWITCH_ID: NDIS_NIC_SWITCH_ID = 0;
pub const NDIS_DEFAULT_VPORT_ID: NDIS_NIC_SWITCH_VPORT_ID = 0;

/// PASSIVE_LEVEL. Returns SUCCESS, BAD_VERSION, ADAPTER_NOT_READY or RESOURCES.
/// Provider-implemented, hence non-`Option`.
pub type OPEN_NDK_ADAPTER_HANDLER = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    Parameters: *mut NDIS_OPEN_NDK_ADAPTER_PARAMETERS,
    ppNdkAdapter: *mut *mut NDK_ADAPTER,
) -> NDIS_STATUS;

/// PASSIVE_LEVEL, blocking; called by NDIS (the adapter dispatch has no close
/// slot). Provider-implemented, hence non-`Option`.
pub type CLOSE_NDK_ADAPTER_HANDLER =
    unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, pNdkAdapter: *mut NDK_ADAPTER);

pub const NDIS_NDK_PROVIDER_CHARACTERISTICS_REVISION_1: u8 = 1;

/// `NDIS_NDK_PROVIDER_CHARACTERISTICS` (0x18); passed to
/// `NdisSetOptionalHandlers` from MiniportSetOptions. Header: Type 0xB2,
/// Revision 1, Size 0x18.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_NDK_PROVIDER_CHARACTERISTICS {
    pub Header: NDIS_OBJECT_HEADER,
    /// Reserved, 0.
    pub Flags: u32,
    pub OpenNDKAdapterHandler: OPEN_NDK_ADAPTER_HANDLER,
    pub CloseNDKAdapterHandler: CLOSE_NDK_ADAPTER_HANDLER,
}

/// `RTL_SIZEOF_THROUGH_FIELD(NDIS_NDK_PROVIDER_CHARACTERISTICS, CloseNDKAdapterHandler)`.
pub const NDIS_SIZEOF_NDK_PROVIDER_CHARACTERISTICS_REVISION_1: u16 =
    (offset_of!(NDIS_NDK_PROVIDER_CHARACTERISTICS, CloseNDKAdapterHandler)
        + size_of::<CLOSE_NDK_ADAPTER_HANDLER>()) as u16;

/// Registry keyword enabling NDK on the adapter (read as NdisParameterInteger).
pub const NETWORK_DIRECT_KEYWORD: &str = "*NetworkDirect";
pub const NETWORK_DIRECT_GLOBAL_FLAGS_KEYWORD: &str = "*NetworkDirectGlobalFlags";
/// UTF-16 (no terminator) forms of the keywords, for an `NDIS_STRING`.
pub const NETWORK_DIRECT_KEYWORD_W: [u16; NETWORK_DIRECT_KEYWORD.len()] =
    ascii_to_utf16(NETWORK_DIRECT_KEYWORD);
pub const NETWORK_DIRECT_GLOBAL_FLAGS_KEYWORD_W: [u16; NETWORK_DIRECT_GLOBAL_FLAGS_KEYWORD.len()] =
    ascii_to_utf16(NETWORK_DIRECT_GLOBAL_FLAGS_KEYWORD);
/// Semantics undocumented (ndkpi.md §8.1, UNCONFIRMED).
pub const NETWORK_DIRECT_GLOBAL_FLAGS_ALLOW_REMOTE_IP_SUBNET: u32 = 0x1;

/// Widens an ASCII string to UTF-16 code units at compile time. `N` must equal
/// `s.len()`; a mismatch or non-ASCII input is a compile-time error when used
/// in a `const`.
const fn ascii_to_utf16<const N: usize>(s: &str) -> [u16; N] {
    let bytes = s.as_bytes();
    assert!(bytes.len() == N);
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        assert!(bytes[i].is_ascii());
        out[i] = bytes[i] as u16;
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// ndkpi.md §8.2 — adapter attributes and capabilities
// ---------------------------------------------------------------------------

pub const NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1: u8 = 1;

/// `NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES` (0x10); set from
/// MiniportInitializeEx even when NDK is disabled. Header: Type 0xB3, Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    /// Current NDK enable state (BOOLEAN).
    pub Enabled: u8,
    pub NdkCapabilities: *mut NDIS_NDK_CAPABILITIES,
}

/// Presumed `RTL_SIZEOF_THROUGH_FIELD(..., NdkCapabilities)` = 0x10; the macro
/// text is UNCONFIRMED (ndkpi.md §8.2).
pub const NDIS_SIZEOF_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1: u16 =
    (offset_of!(NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES, NdkCapabilities)
        + size_of::<*mut NDIS_NDK_CAPABILITIES>()) as u16;

pub const NDIS_NDK_CAPABILITIES_REVISION_1: u8 = 1;

/// `NDIS_NDK_CAPABILITIES` (0x38). Header: Type DEFAULT (0x80), Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_NDK_CAPABILITIES {
    pub Header: NDIS_OBJECT_HEADER,
    /// Undocumented; 0.
    pub Flags: u32,
    pub MaxQpCount: u32,
    pub MaxCqCount: u32,
    pub MaxMrCount: u32,
    pub MaxPdCount: u32,
    /// Adapter-wide; 0 = no adapter-wide limit.
    pub MaxInboundReadLimit: u32,
    /// Adapter-wide; 0 = no adapter-wide limit.
    pub MaxOutboundReadLimit: u32,
    pub MaxMwCount: u32,
    pub MaxSrqCount: u32,
    /// Bit i set = counter i of [`NDIS_NDK_PERFORMANCE_COUNTERS`] unsupported.
    pub MissingCounterMask: u64,
    /// Per-consumer limits.
    pub NdkInfo: *mut NDK_ADAPTER_INFO,
}

/// `RTL_SIZEOF_THROUGH_FIELD(NDIS_NDK_CAPABILITIES, NdkInfo)` = 0x38.
pub const NDIS_SIZEOF_NDK_CAPABILITIES_REVISION_1: u16 =
    (offset_of!(NDIS_NDK_CAPABILITIES, NdkInfo) + size_of::<*mut NDK_ADAPTER_INFO>()) as u16;

// ---------------------------------------------------------------------------
// ndkpi.md §8.3 — OIDs, WMI GUIDs, PnP events
// ---------------------------------------------------------------------------

/// Set; payload BOOLEAN. Must never return NDIS_STATUS_PENDING.
pub const OID_NDK_SET_STATE: NDIS_OID = 0xFC04_0201;
/// Query; payload [`NDIS_NDK_STATISTICS_INFO`].
pub const OID_NDK_STATISTICS: NDIS_OID = 0xFC04_0202;
/// Query; payload [`NDIS_NDK_CONNECTIONS`] (variable size).
pub const OID_NDK_CONNECTIONS: NDIS_OID = 0xFC04_0203;
/// Query; payload [`NDIS_NDK_LOCAL_ENDPOINTS`] (variable size).
pub const OID_NDK_LOCAL_ENDPOINTS: NDIS_OID = 0xFC04_0204;

/// {7969ba4d-dd80-4bc7-b3e6-68043997e519}
pub const GUID_NDIS_NDK_CAPABILITIES: GUID = GUID {
    Data1: 0x7969_ba4d,
    Data2: 0xdd80,
    Data3: 0x4bc7,
    Data4: [0xb3, 0xe6, 0x68, 0x04, 0x39, 0x97, 0xe5, 0x19],
};
/// {530c69c9-2f51-49de-a1af-088d54ffa474}
pub const GUID_NDIS_NDK_STATE: GUID = GUID {
    Data1: 0x530c_69c9,
    Data2: 0x2f51,
    Data3: 0x49de,
    Data4: [0xa1, 0xaf, 0x08, 0x8d, 0x54, 0xff, 0xa4, 0x74],
};

/// `NET_PNP_EVENT.NetEvent` values for `NdisMNetPnPEvent` (never issue from
/// inside MiniportOidRequest: queue a work item).
pub const NetEventNDKEnable: NET_PNP_EVENT_CODE = 13;
pub const NetEventNDKDisable: NET_PNP_EVENT_CODE = 14;

pub const NDIS_NDK_STATISTICS_INFO_REVISION_1: u8 = 1;
pub const NDIS_NDK_CONNECTIONS_REVISION_1: u8 = 1;
pub const NDIS_NDK_LOCAL_ENDPOINTS_REVISION_1: u8 = 1;

// ---------------------------------------------------------------------------
// ndkpi.md §8.4 — statistics, connections, local endpoints
// ---------------------------------------------------------------------------

/// `NDIS_NDK_PERFORMANCE_COUNTERS` (30 × u64 = 0xF0). The bit index used in
/// `MissingCounterMask` is the u64 index of the counter (Connect = 0 …
/// RDMAOutFrames = 29). `Reserved` stands for `Reserved01..Reserved20` and
/// must be 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_NDK_PERFORMANCE_COUNTERS {
    pub Connect: u64,
    pub Accept: u64,
    pub ConnectFailure: u64,
    pub ConnectionError: u64,
    pub ActiveConnection: u64,
    pub Reserved: [u64; 20],
    pub CQError: u64,
    pub RDMAInOctets: u64,
    pub RDMAOutOctets: u64,
    pub RDMAInFrames: u64,
    pub RDMAOutFrames: u64,
}

/// `NDIS_NDK_STATISTICS_INFO` (0xF8). Header: Type DEFAULT (0x80), Rev 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_NDK_STATISTICS_INFO {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub CounterSet: NDIS_NDK_PERFORMANCE_COUNTERS,
}

/// `RTL_SIZEOF_THROUGH_FIELD(NDIS_NDK_STATISTICS_INFO, CounterSet)` = 0xF8.
pub const NDIS_SIZEOF_NDK_STATISTICS_INFO_REVISION_1: u16 =
    (offset_of!(NDIS_NDK_STATISTICS_INFO, CounterSet) + size_of::<NDIS_NDK_PERFORMANCE_COUNTERS>())
        as u16;

/// `NDIS_NDK_CONNECTION_ENTRY` (0x40). Offsets computed from the declared types
/// (ndkpi.md §8.4, UNCONFIRMED by a binary dump).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_NDK_CONNECTION_ENTRY {
    pub Local: SOCKADDR_INET,
    pub Remote: SOCKADDR_INET,
    /// TRUE = user-mode (NDSPI) connection.
    pub UserModeOwner: u8,
    pub OwnerPid: u32,
}

/// `NDIS_NDK_CONNECTIONS` (variable size; declared with one entry = 0x50).
/// Header: Type DEFAULT (0x80), Rev 1,
/// Size = min(u16::MAX, offset of `Connections` + n · entry).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_NDK_CONNECTIONS {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub Count: u32,
    /// iWARP: entries come in (ND, TCP) pairs when TRUE.
    pub NDConnectionsMappedtoTCPConnections: u8,
    pub Connections: [NDIS_NDK_CONNECTION_ENTRY; 1],
}

/// `NDIS_NDK_LOCAL_ENDPOINT_ENTRY` (0x24). Offsets computed from the declared
/// types (UNCONFIRMED by a binary dump).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_NDK_LOCAL_ENDPOINT_ENTRY {
    pub Local: SOCKADDR_INET,
    pub UserModeOwner: u8,
    /// TRUE = listener, FALSE = shared endpoint.
    pub Listener: u8,
    pub OwnerPid: u32,
}

/// `NDIS_NDK_LOCAL_ENDPOINTS` (variable size; declared with one entry = 0x34).
/// Header: Type DEFAULT (0x80), Rev 1.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_NDK_LOCAL_ENDPOINTS {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub Count: u32,
    pub NDLocalEndpointsMappedtoTCPLocalEndpoints: u8,
    pub LocalEndpoints: [NDIS_NDK_LOCAL_ENDPOINT_ENTRY; 1],
}
