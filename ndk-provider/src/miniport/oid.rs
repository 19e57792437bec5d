//! MiniportOidRequest: the general OIDs an NDIS 6 Ethernet miniport answers, and the
//! dispatch to the NDK OIDs ([`super::ndk`]). Every request completes synchronously.
//!
//! Queries with a short buffer fail with `NDIS_STATUS_BUFFER_TOO_SHORT` and `BytesNeeded`;
//! sets with a short or malformed payload with `NDIS_STATUS_INVALID_LENGTH` /
//! `NDIS_STATUS_INVALID_DATA`. Unknown OIDs: `NDIS_STATUS_NOT_SUPPORTED`.

use core::ffi::c_void;
use core::mem::offset_of;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::sync::atomic::Ordering;

use hal::{EthFilter, EthernetPort};

use crate::abi::*;

use super::context::Miniport;
use super::ndk;
use super::{Ndis, Silicon};

/// Multicast addresses the adapter takes (`OID_802_3_MAXIMUM_LIST_SIZE`).
pub const MAX_MULTICAST: usize = 32;
/// Interface addresses kept from `OID_GEN_NETWORK_LAYER_ADDRESSES`.
pub const MAX_LOCAL_ADDRESSES: usize = 16;

/// Packet filters the adapter implements (`SupportedPacketFilters`).
pub const SUPPORTED_PACKET_FILTERS: u32 = NDIS_PACKET_TYPE_DIRECTED
    | NDIS_PACKET_TYPE_MULTICAST
    | NDIS_PACKET_TYPE_ALL_MULTICAST
    | NDIS_PACKET_TYPE_BROADCAST
    | NDIS_PACKET_TYPE_PROMISCUOUS;

/// `MacOptions` of the general attributes and `OID_GEN_MAC_OPTIONS`.
pub const MAC_OPTIONS: u32 = NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA
    | NDIS_MAC_OPTION_TRANSFERS_NOT_PEND
    | NDIS_MAC_OPTION_NO_LOOPBACK
    | NDIS_MAC_OPTION_FULL_DUPLEX;

/// Statistics `OID_GEN_STATISTICS` reports (`SupportedStatistics`).
pub const SUPPORTED_STATISTICS: u32 = NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS
    | NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR;

/// `OID_GEN_SUPPORTED_LIST` (also `SupportedOidList` of the general attributes).
pub static SUPPORTED_OIDS: [NDIS_OID; 45] = [
    OID_GEN_SUPPORTED_LIST,
    OID_GEN_HARDWARE_STATUS,
    OID_GEN_MEDIA_SUPPORTED,
    OID_GEN_MEDIA_IN_USE,
    OID_GEN_MAXIMUM_LOOKAHEAD,
    OID_GEN_MAXIMUM_FRAME_SIZE,
    OID_GEN_LINK_SPEED,
    OID_GEN_TRANSMIT_BUFFER_SPACE,
    OID_GEN_RECEIVE_BUFFER_SPACE,
    OID_GEN_TRANSMIT_BLOCK_SIZE,
    OID_GEN_RECEIVE_BLOCK_SIZE,
    OID_GEN_VENDOR_ID,
    OID_GEN_VENDOR_DESCRIPTION,
    OID_GEN_VENDOR_DRIVER_VERSION,
    OID_GEN_DRIVER_VERSION,
    OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_CURRENT_LOOKAHEAD,
    OID_GEN_MAXIMUM_TOTAL_SIZE,
    OID_GEN_MAC_OPTIONS,
    OID_GEN_MEDIA_CONNECT_STATUS,
    OID_GEN_MAXIMUM_SEND_PACKETS,
    OID_GEN_NETWORK_LAYER_ADDRESSES,
    OID_GEN_TRANSPORT_HEADER_OFFSET,
    OID_GEN_PHYSICAL_MEDIUM,
    OID_GEN_MAC_ADDRESS,
    OID_GEN_MAX_LINK_SPEED,
    OID_GEN_LINK_STATE,
    OID_GEN_INTERRUPT_MODERATION,
    OID_GEN_XMIT_OK,
    OID_GEN_RCV_OK,
    OID_GEN_XMIT_ERROR,
    OID_GEN_RCV_ERROR,
    OID_GEN_RCV_NO_BUFFER,
    OID_GEN_STATISTICS,
    OID_802_3_PERMANENT_ADDRESS,
    OID_802_3_CURRENT_ADDRESS,
    OID_802_3_MULTICAST_LIST,
    OID_802_3_MAXIMUM_LIST_SIZE,
    OID_802_3_RCV_ERROR_ALIGNMENT,
    OID_802_3_XMIT_ONE_COLLISION,
    OID_802_3_XMIT_MORE_COLLISIONS,
    OID_NDK_SET_STATE,
    OID_NDK_STATISTICS,
    OID_NDK_CONNECTIONS,
    OID_NDK_LOCAL_ENDPOINTS,
];

/// `OID_GEN_DRIVER_VERSION`: the NDIS version the miniport is written for (major.minor).
pub const DRIVER_NDIS_VERSION: u16 =
    ((NDIS_MINIPORT_MAJOR_VERSION as u16) << 8) | NDIS_MINIPORT_MINOR_VERSION as u16;

/// Settings the protocols made with set OIDs.
#[derive(Clone, Copy, Debug)]
pub struct OidState {
    /// `OID_GEN_CURRENT_PACKET_FILTER`.
    pub packet_filter: u32,
    /// `OID_GEN_CURRENT_LOOKAHEAD`.
    pub lookahead: u32,
    /// `OID_802_3_MULTICAST_LIST`.
    pub multicast: [[u8; 6]; MAX_MULTICAST],
    /// Entries of `multicast` in use.
    pub multicast_count: usize,
}

impl OidState {
    /// Nothing set yet; lookahead `lookahead`.
    pub const fn new(lookahead: u32) -> OidState {
        OidState {
            packet_filter: 0,
            lookahead,
            multicast: [[0; 6]; MAX_MULTICAST],
            multicast_count: 0,
        }
    }

    /// The raw queue's filter for the NDIS packet filter. Without an exact multicast
    /// filter in the silicon, a non-empty multicast list admits every multicast frame (the
    /// protocols filter the rest).
    pub fn eth_filter(&self) -> EthFilter {
        let f = self.packet_filter;
        let mut e = EthFilter::empty();
        if f & NDIS_PACKET_TYPE_DIRECTED != 0 {
            e |= EthFilter::DIRECTED;
        }
        if f & NDIS_PACKET_TYPE_BROADCAST != 0 {
            e |= EthFilter::BROADCAST;
        }
        if f & NDIS_PACKET_TYPE_ALL_MULTICAST != 0
            || (f & NDIS_PACKET_TYPE_MULTICAST != 0 && self.multicast_count > 0)
        {
            e |= EthFilter::ALL_MULTICAST;
        }
        if f & NDIS_PACKET_TYPE_PROMISCUOUS != 0 {
            e |= EthFilter::PROMISCUOUS;
        }
        e
    }
}

/// MiniportOidRequest (PASSIVE_LEVEL in NDIS 6).
pub unsafe extern "system" fn oid_request<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    req: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return NDIS_STATUS_FAILURE;
    };
    // SAFETY: NDIS owns the request and lends it for the call.
    let Some(r) = (unsafe { req.as_mut() }) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    match r.RequestType {
        NdisRequestQueryInformation | NdisRequestQueryStatistics => {
            // SAFETY: query requests carry QUERY_INFORMATION.
            let q = unsafe { &mut r.DATA.QUERY_INFORMATION };
            // SAFETY: NDIS's buffer of `InformationBufferLength` bytes.
            let mut out = unsafe { Out::new(q.InformationBuffer, q.InformationBufferLength) };
            let status = query(mp, q.Oid, &mut out);
            q.BytesWritten = out.written;
            q.BytesNeeded = out.needed;
            status
        }
        NdisRequestSetInformation => {
            // SAFETY: set requests carry SET_INFORMATION.
            let s = unsafe { &mut r.DATA.SET_INFORMATION };
            // SAFETY: NDIS's buffer of `InformationBufferLength` bytes.
            let data = unsafe { input(s.InformationBuffer, s.InformationBufferLength) };
            let (status, read, needed) = set(mp, s.Oid, data);
            s.BytesRead = read;
            s.BytesNeeded = needed;
            status
        }
        _ => NDIS_STATUS_NOT_SUPPORTED,
    }
}

/// MiniportDirectOidRequest (≤ DISPATCH_LEVEL): NDIS sends OID_NDK_STATISTICS this way.
/// Only queries are served here; every query path takes spin locks and reads counters,
/// nothing that waits. Sets (which may wait for the device) are refused.
pub unsafe extern "system" fn direct_oid_request<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    req: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    // SAFETY: NDIS lends the request for the call.
    let Some(r) = (unsafe { req.as_ref() }) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    match r.RequestType {
        // SAFETY: forwarded.
        NdisRequestQueryInformation | NdisRequestQueryStatistics => unsafe {
            oid_request::<S, N>(ctx, req)
        },
        _ => NDIS_STATUS_NOT_SUPPORTED,
    }
}

/// MiniportCancelOidRequest / MiniportCancelDirectOidRequest: nothing to cancel, every
/// request completes inside MiniportOidRequest.
pub unsafe extern "system" fn cancel_oid_request<S: Silicon<N::Platform>, N: Ndis>(
    _ctx: NDIS_HANDLE,
    _request_id: *mut c_void,
) {
}

/// A query's output buffer.
pub struct Out<'a> {
    buf: Option<&'a mut [u8]>,
    /// `BytesWritten`.
    pub written: u32,
    /// `BytesNeeded`.
    pub needed: u32,
}

impl<'a> Out<'a> {
    /// Wraps NDIS's buffer.
    ///
    /// # Safety
    /// `p` is null or points to `len` writable bytes, unaliased for `'a`.
    pub unsafe fn new(p: *mut c_void, len: u32) -> Out<'a> {
        let buf = if p.is_null() || len == 0 {
            None
        } else {
            // SAFETY: per the contract.
            Some(unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), len as usize) })
        };
        Out {
            buf,
            written: 0,
            needed: 0,
        }
    }

    /// Room in bytes.
    pub fn room(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.len())
    }

    /// Writes `data` whole, or fails with `NDIS_STATUS_BUFFER_TOO_SHORT` and `BytesNeeded`.
    pub fn put(&mut self, data: &[u8]) -> NDIS_STATUS {
        let need = u32::try_from(data.len()).unwrap_or(u32::MAX);
        match self.buf.as_mut().and_then(|b| b.get_mut(..data.len())) {
            Some(dst) => {
                dst.copy_from_slice(data);
                self.written = need;
                self.needed = 0;
                NDIS_STATUS_SUCCESS
            }
            None if data.is_empty() => NDIS_STATUS_SUCCESS,
            None => self.short(need),
        }
    }

    /// Writes a plain `#[repr(C)]` ABI value whole (an untyped copy: padding is copied as
    /// the bytes it is), or fails with `NDIS_STATUS_BUFFER_TOO_SHORT`.
    pub fn put_value<T: Copy>(&mut self, v: &T) -> NDIS_STATUS {
        let size = core::mem::size_of::<T>();
        let need = u32::try_from(size).unwrap_or(u32::MAX);
        match self.buf.as_mut().and_then(|b| b.get_mut(..size)) {
            Some(dst) => {
                // SAFETY: `dst` has `size` writable bytes; `v` is `size` readable bytes;
                // they do not overlap (NDIS's buffer vs. a local value).
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        (v as *const T).cast::<u8>(),
                        dst.as_mut_ptr(),
                        size,
                    )
                };
                self.written = need;
                self.needed = 0;
                NDIS_STATUS_SUCCESS
            }
            None => self.short(need),
        }
    }

    /// Fails with `NDIS_STATUS_BUFFER_TOO_SHORT`, `need` bytes needed.
    pub fn short(&mut self, need: u32) -> NDIS_STATUS {
        self.written = 0;
        self.needed = need;
        NDIS_STATUS_BUFFER_TOO_SHORT
    }

    /// The whole buffer, for variable-size answers written in place.
    pub fn bytes(&mut self) -> &mut [u8] {
        self.buf.as_deref_mut().unwrap_or(&mut [])
    }

    /// Marks `n` bytes written.
    pub fn wrote(&mut self, n: u32) -> NDIS_STATUS {
        self.written = n;
        self.needed = 0;
        NDIS_STATUS_SUCCESS
    }
}

/// A set's input buffer.
///
/// # Safety
/// `p` is null or points to `len` readable bytes for `'a`.
unsafe fn input<'a>(p: *const c_void, len: u32) -> &'a [u8] {
    if p.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: per the contract.
    unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len as usize) }
}

fn query<S: Silicon<N::Platform>, N: Ndis>(
    mp: &Miniport<S, N>,
    oid: NDIS_OID,
    out: &mut Out<'_>,
) -> NDIS_STATUS {
    let hal = &*mp.hal;
    let eth = &mp.eth.counters;
    let u32v = |v: u32| v.to_le_bytes();
    let frame = hal.mtu();
    let slot = u32::try_from(mp.eth.slot_len()).unwrap_or(u32::MAX);
    let counter = |c: &core::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let link = hal.link_state();
    let small = |v: u64, out: &mut Out<'_>| {
        // Statistics answer in 32 bits when the buffer is that small (NDIS rule for
        // counters), in 64 bits otherwise.
        if out.room() >= 8 {
            out.put(&v.to_le_bytes())
        } else {
            out.put(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes())
        }
    };
    match oid {
        OID_GEN_SUPPORTED_LIST => {
            let mut bytes = [0u8; SUPPORTED_OIDS.len() * 4];
            for (c, o) in bytes.chunks_exact_mut(4).zip(SUPPORTED_OIDS.iter()) {
                c.copy_from_slice(&o.to_le_bytes());
            }
            out.put(&bytes)
        }
        OID_GEN_HARDWARE_STATUS => {
            let s = if mp.removed.load(Ordering::Acquire) {
                NdisHardwareStatusNotReady
            } else {
                NdisHardwareStatusReady
            };
            out.put(&s.to_le_bytes())
        }
        OID_GEN_MEDIA_SUPPORTED | OID_GEN_MEDIA_IN_USE => out.put(&NdisMedium802_3.to_le_bytes()),
        OID_GEN_PHYSICAL_MEDIUM => out.put(&NdisPhysicalMedium802_3.to_le_bytes()),
        OID_GEN_MAXIMUM_LOOKAHEAD | OID_GEN_MAXIMUM_FRAME_SIZE => out.put(&u32v(frame)),
        OID_GEN_CURRENT_LOOKAHEAD => out.put(&u32v(mp.oid.lock().lookahead)),
        OID_GEN_MAXIMUM_TOTAL_SIZE => out.put(&u32v(frame.saturating_add(14))),
        OID_GEN_TRANSMIT_BLOCK_SIZE | OID_GEN_RECEIVE_BLOCK_SIZE => out.put(&u32v(slot)),
        OID_GEN_TRANSMIT_BUFFER_SPACE => {
            out.put(&u32v(slot.saturating_mul(super::ethernet::SEND_RING_DEPTH)))
        }
        OID_GEN_RECEIVE_BUFFER_SPACE => out.put(&u32v(
            slot.saturating_mul(super::ethernet::RECEIVE_RING_DEPTH),
        )),
        OID_GEN_LINK_SPEED => {
            // In units of 100 bit/s.
            out.put(&u32v(
                u32::try_from(link.speed_bps / 100).unwrap_or(u32::MAX),
            ))
        }
        OID_GEN_MAX_LINK_SPEED => {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&link.speed_bps.to_le_bytes());
            b[8..].copy_from_slice(&link.speed_bps.to_le_bytes());
            out.put(&b)
        }
        OID_GEN_LINK_STATE => out.put_value(&link_state(&link)),
        OID_GEN_MEDIA_CONNECT_STATUS => {
            let s = if link.up {
                MediaConnectStateConnected
            } else {
                MediaConnectStateDisconnected
            };
            out.put(&s.to_le_bytes())
        }
        OID_GEN_VENDOR_ID => out.put(&u32v(S::VENDOR_ID)),
        OID_GEN_VENDOR_DESCRIPTION => {
            // ASCII with its NUL.
            let d = S::VENDOR_DESCRIPTION.as_bytes();
            let mut b = [0u8; 128];
            let n = d.len().min(b.len() - 1);
            if let (Some(dst), Some(src)) = (b.get_mut(..n), d.get(..n)) {
                dst.copy_from_slice(src);
            }
            out.put(b.get(..n + 1).unwrap_or(&[]))
        }
        OID_GEN_VENDOR_DRIVER_VERSION => out.put(&u32v(0x0001_0000)),
        OID_GEN_DRIVER_VERSION => out.put(&DRIVER_NDIS_VERSION.to_le_bytes()),
        OID_GEN_CURRENT_PACKET_FILTER => out.put(&u32v(mp.oid.lock().packet_filter)),
        OID_GEN_MAC_OPTIONS => out.put(&u32v(MAC_OPTIONS)),
        OID_GEN_MAXIMUM_SEND_PACKETS => out.put(&u32v(super::ethernet::SEND_RING_DEPTH)),
        OID_GEN_MAC_ADDRESS | OID_802_3_PERMANENT_ADDRESS | OID_802_3_CURRENT_ADDRESS => {
            out.put(&hal.mac_address())
        }
        OID_802_3_MAXIMUM_LIST_SIZE => out.put(&u32v(MAX_MULTICAST as u32)),
        OID_802_3_MULTICAST_LIST => {
            let st = *mp.oid.lock();
            let mut b = [0u8; MAX_MULTICAST * 6];
            for (c, m) in b.chunks_exact_mut(6).zip(st.multicast.iter()) {
                c.copy_from_slice(m);
            }
            out.put(b.get(..st.multicast_count * 6).unwrap_or(&[]))
        }
        OID_GEN_INTERRUPT_MODERATION => {
            let p = NDIS_INTERRUPT_MODERATION_PARAMETERS {
                Header: NDIS_OBJECT_HEADER {
                    Type: NDIS_OBJECT_TYPE_DEFAULT,
                    Revision: NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1,
                    Size: NDIS_SIZEOF_INTERRUPT_MODERATION_PARAMETERS_REVISION_1,
                },
                Flags: 0,
                InterruptModeration: NdisInterruptModerationNotSupported,
            };
            out.put_value(&p)
        }
        OID_GEN_XMIT_OK => small(counter(&eth.xmit_ok), out),
        OID_GEN_RCV_OK => small(counter(&eth.rcv_ok), out),
        OID_GEN_XMIT_ERROR => small(counter(&eth.xmit_error), out),
        OID_GEN_RCV_ERROR | OID_802_3_RCV_ERROR_ALIGNMENT => small(0, out),
        OID_802_3_XMIT_ONE_COLLISION | OID_802_3_XMIT_MORE_COLLISIONS => small(0, out),
        OID_GEN_RCV_NO_BUFFER => small(counter(&eth.rcv_discards), out),
        OID_GEN_STATISTICS => {
            let s = NDIS_STATISTICS_INFO {
                Header: NDIS_OBJECT_HEADER {
                    Type: NDIS_OBJECT_TYPE_DEFAULT,
                    Revision: NDIS_STATISTICS_INFO_REVISION_1,
                    Size: NDIS_SIZEOF_STATISTICS_INFO_REVISION_1,
                },
                SupportedStatistics: SUPPORTED_STATISTICS,
                ifInDiscards: counter(&eth.rcv_discards),
                ifHCInOctets: counter(&eth.rcv_bytes),
                ifHCOutOctets: counter(&eth.xmit_bytes),
                ifOutErrors: counter(&eth.xmit_error),
                ..Default::default()
            };
            out.put_value(&s)
        }
        OID_NDK_STATISTICS | OID_NDK_CONNECTIONS | OID_NDK_LOCAL_ENDPOINTS => {
            ndk::query(mp, oid, out)
        }
        _ => NDIS_STATUS_NOT_SUPPORTED,
    }
}

/// `NDIS_LINK_STATE` for a HAL link state.
pub fn link_state(link: &hal::LinkState) -> NDIS_LINK_STATE {
    NDIS_LINK_STATE {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: NDIS_LINK_STATE_REVISION_1,
            Size: NDIS_SIZEOF_LINK_STATE_REVISION_1,
        },
        MediaConnectState: if link.up {
            MediaConnectStateConnected
        } else {
            MediaConnectStateDisconnected
        },
        MediaDuplexState: MediaDuplexStateFull,
        XmitLinkSpeed: link.speed_bps,
        RcvLinkSpeed: link.speed_bps,
        PauseFunctions: NdisPauseFunctionsUnsupported,
        AutoNegotiationFlags: 0,
    }
}

fn read_u32(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(..4)?.try_into().ok()?))
}

/// Returns (status, BytesRead, BytesNeeded).
fn set<S: Silicon<N::Platform>, N: Ndis>(
    mp: &Miniport<S, N>,
    oid: NDIS_OID,
    data: &[u8],
) -> (NDIS_STATUS, u32, u32) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    match oid {
        OID_GEN_CURRENT_PACKET_FILTER => {
            let Some(f) = read_u32(data) else {
                return (NDIS_STATUS_INVALID_LENGTH, 0, 4);
            };
            if f & !SUPPORTED_PACKET_FILTERS != 0 {
                return (NDIS_STATUS_NOT_SUPPORTED, 0, 0);
            }
            let filter = {
                let mut st = mp.oid.lock();
                st.packet_filter = f;
                st.eth_filter()
            };
            (apply_filter(mp, filter), 4, 0)
        }
        OID_GEN_CURRENT_LOOKAHEAD => {
            let Some(v) = read_u32(data) else {
                return (NDIS_STATUS_INVALID_LENGTH, 0, 4);
            };
            if v > mp.hal.mtu() {
                return (NDIS_STATUS_INVALID_DATA, 0, 0);
            }
            mp.oid.lock().lookahead = v;
            (NDIS_STATUS_SUCCESS, 4, 0)
        }
        OID_802_3_MULTICAST_LIST => {
            if data.len() % 6 != 0 {
                return (NDIS_STATUS_INVALID_LENGTH, 0, 0);
            }
            if data.len() / 6 > MAX_MULTICAST {
                return (NDIS_STATUS_MULTICAST_FULL, 0, 0);
            }
            let filter = {
                let mut st = mp.oid.lock();
                st.multicast_count = 0;
                for (dst, src) in st.multicast.iter_mut().zip(data.chunks_exact(6)) {
                    dst.copy_from_slice(src);
                }
                st.multicast_count = data.len() / 6;
                st.eth_filter()
            };
            (apply_filter(mp, filter), len, 0)
        }
        OID_GEN_NETWORK_LAYER_ADDRESSES => match parse_addresses(data) {
            Some((addrs, n)) => {
                let list = addrs.get(..n).unwrap_or(&[]);
                let s = if mp.removed.load(Ordering::Acquire) {
                    NDIS_STATUS_SUCCESS
                } else {
                    match mp.hal.set_local_addresses(list) {
                        Ok(()) => NDIS_STATUS_SUCCESS,
                        Err(_) => NDIS_STATUS_RESOURCES,
                    }
                };
                (s, len, 0)
            }
            None => (NDIS_STATUS_INVALID_DATA, 0, 0),
        },
        // The miniport sends whole frames; where the transport header starts is of no use.
        OID_GEN_TRANSPORT_HEADER_OFFSET => (NDIS_STATUS_SUCCESS, len, 0),
        OID_NDK_SET_STATE => ndk::set_state(mp, data),
        _ => (NDIS_STATUS_NOT_SUPPORTED, 0, 0),
    }
}

fn apply_filter<S: Silicon<N::Platform>, N: Ndis>(
    mp: &Miniport<S, N>,
    filter: EthFilter,
) -> NDIS_STATUS {
    if mp.removed.load(Ordering::Acquire) {
        return NDIS_STATUS_SUCCESS;
    }
    match mp.hal.set_eth_filter(filter) {
        Ok(()) => NDIS_STATUS_SUCCESS,
        Err(_) => NDIS_STATUS_FAILURE,
    }
}

/// Where the address starts in a `NETWORK_ADDRESS` body of `len` bytes: ntddndis.h's
/// naturally aligned `NETWORK_ADDRESS_IP` / `NETWORK_ADDRESS_IP6` (16 / 28 bytes) or the
/// packed `TDI_ADDRESS_IP` / `TDI_ADDRESS_IP6` layouts (14 / 26 bytes) the same OID has
/// carried; `None` when too short for either.
fn address_offset(ty: u16, len: usize) -> Option<(usize, usize)> {
    const IP4_PACKED: usize = 14;
    const IP6_PACKED: usize = 26;
    match ty {
        NDIS_NETWORK_ADDRESS_TYPE_IP if len >= NETWORK_ADDRESS_LENGTH_IP as usize => {
            Some((offset_of!(NETWORK_ADDRESS_IP, in_addr), 4))
        }
        NDIS_NETWORK_ADDRESS_TYPE_IP if len == IP4_PACKED => Some((2, 4)),
        NDIS_NETWORK_ADDRESS_TYPE_IP6 if len >= NETWORK_ADDRESS_LENGTH_IP6 as usize => {
            Some((offset_of!(NETWORK_ADDRESS_IP6, sin6_addr), 16))
        }
        NDIS_NETWORK_ADDRESS_TYPE_IP6 if len == IP6_PACKED => Some((6, 16)),
        _ => None,
    }
}

/// Parses a `NETWORK_ADDRESS_LIST` (IPv4 and IPv6 entries; others are skipped). The list
/// replaces the interface's addresses (a count of 0 clears them); at most
/// [`MAX_LOCAL_ADDRESSES`] are kept.
pub fn parse_addresses(data: &[u8]) -> Option<([IpAddr; MAX_LOCAL_ADDRESSES], usize)> {
    let mut out = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); MAX_LOCAL_ADDRESSES];
    let count = i32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    let mut off = offset_of!(NETWORK_ADDRESS_LIST, Address);
    let mut n = 0usize;
    for _ in 0..count {
        let alen = usize::from(u16::from_le_bytes(data.get(off..off + 2)?.try_into().ok()?));
        let atype = u16::from_le_bytes(data.get(off + 2..off + 4)?.try_into().ok()?);
        let start = off.checked_add(4)?;
        let body = data.get(start..start.checked_add(alen)?)?;
        let ip = address_offset(atype, alen).and_then(|(at, len)| {
            let b = body.get(at..at + len)?;
            match len {
                4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
                _ => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
            }
        });
        if let (Some(ip), Some(slot)) = (ip, out.get_mut(n)) {
            *slot = ip;
            n += 1;
        }
        off = start.checked_add(alen)?;
    }
    Some((out, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_address_list_parses_ipv4_and_ipv6() {
        let mut d = alloc::vec::Vec::new();
        d.extend_from_slice(&3i32.to_le_bytes());
        d.extend_from_slice(&NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
        // ntddndis.h layout: in_addr at 4.
        d.extend_from_slice(&NETWORK_ADDRESS_LENGTH_IP.to_le_bytes());
        d.extend_from_slice(&NDIS_NETWORK_ADDRESS_TYPE_IP.to_le_bytes());
        d.extend_from_slice(&[0, 0, 0, 0, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        // Packed TDI layout: in_addr at 2.
        d.extend_from_slice(&14u16.to_le_bytes());
        d.extend_from_slice(&NDIS_NETWORK_ADDRESS_TYPE_IP.to_le_bytes());
        d.extend_from_slice(&[0, 0, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
        d.extend_from_slice(&NETWORK_ADDRESS_LENGTH_IP6.to_le_bytes());
        d.extend_from_slice(&NDIS_NETWORK_ADDRESS_TYPE_IP6.to_le_bytes());
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        d.extend_from_slice(&[0; 4]);
        let (a, n) = parse_addresses(&d).unwrap();
        assert_eq!(n, 3);
        assert_eq!(a[0], IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(a[1], IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(a[2], IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(parse_addresses(&d[..d.len() - 1]).is_none(), "truncated");
    }
}
