//! The NDK side of the miniport (ndkpi.md §8): the open / close NDK adapter handlers, the
//! NDK enable state (`*NetworkDirect`, OID_NDK_SET_STATE, NetEventNDKEnable / Disable) and
//! the NDK query OIDs (OID_NDK_STATISTICS, OID_NDK_CONNECTIONS, OID_NDK_LOCAL_ENDPOINTS).

use core::ffi::c_void;
use core::mem::{offset_of, size_of};
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hal::{NicHal, Platform};

use crate::abi::*;
use crate::{adapter, edge};

use super::context::{HalOf, Handle, Miniport};
use super::oid::Out;
use super::{Ndis, Silicon};

/// Counters of `NDIS_NDK_PERFORMANCE_COUNTERS` the provider does not keep (ndkpi.md §8.4
/// bit index = counter index): ConnectionError (3) and the RDMA traffic counters (26–29),
/// which only the silicon could count.
pub const MISSING_COUNTER_MASK: u64 = (1 << 3) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 29);

/// NDK enable state of one adapter.
pub struct NdkState {
    /// `*NetworkDirect` ≠ 0: NDK may be enabled at all (ndkpi.md §9).
    pub keyword: bool,
    /// Opens are accepted.
    pub enabled: AtomicBool,
    /// The state the work item is to indicate.
    wanted: AtomicBool,
    /// The state last indicated (or set in the NDK attributes).
    indicated: AtomicBool,
    /// The work item is queued or running.
    work_busy: AtomicBool,
    /// `NdisAllocateIoWorkItem` handle.
    pub work_item: Handle,
    /// NDK adapters open on the miniport.
    pub open: AtomicUsize,
}

impl NdkState {
    /// `keyword`: `*NetworkDirect`; NDK starts enabled when it allows.
    pub fn new(keyword: bool, work_item: Handle) -> NdkState {
        NdkState {
            keyword,
            enabled: AtomicBool::new(keyword),
            wanted: AtomicBool::new(keyword),
            indicated: AtomicBool::new(keyword),
            work_busy: AtomicBool::new(false),
            work_item,
            open: AtomicUsize::new(0),
        }
    }

    /// The work item is queued or running (halt waits for it).
    pub fn work_pending(&self) -> bool {
        self.work_busy.load(Ordering::Acquire)
    }
}

/// `OPEN_NDK_ADAPTER_HANDLER` (ndkpi.md §8.1, §1.2; PASSIVE_LEVEL). Only
/// `Parameters->Version` is read: callers before NDIS 6.50 pass nothing else.
pub unsafe extern "system" fn open_ndk_adapter<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    params: *mut NDIS_OPEN_NDK_ADAPTER_PARAMETERS,
    pp: *mut *mut NDK_ADAPTER,
) -> NDIS_STATUS {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return NDIS_STATUS_FAILURE;
    };
    if params.is_null() || pp.is_null() {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    if !mp.ndk.enabled.load(Ordering::Acquire) || mp.removed.load(Ordering::Acquire) {
        return NDIS_STATUS_ADAPTER_NOT_READY;
    }
    // SAFETY: `params` is NDIS's parameter block; `Version` is its first field.
    let Some(version) = (unsafe { edge::read(core::ptr::addr_of!((*params).Version)) }) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    match adapter::open(&mp.dev, version) {
        Ok(a) => {
            mp.ndk.open.fetch_add(1, Ordering::AcqRel);
            // SAFETY: `pp` is the non-null out parameter.
            unsafe { edge::out(pp, a) };
            NDIS_STATUS_SUCCESS
        }
        Err(s) => s,
    }
}

/// `CLOSE_NDK_ADAPTER_HANDLER` (ndkpi.md §7.1, §8.1): blocks until every object of the
/// adapter is closed and its callbacks returned.
pub unsafe extern "system" fn close_ndk_adapter<S: Silicon<N::Platform>, N: Ndis>(
    ctx: NDIS_HANDLE,
    p: *mut NDK_ADAPTER,
) {
    // SAFETY: NDIS passes the context of a live adapter.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return;
    };
    if p.is_null() {
        return;
    }
    // SAFETY: NDIS closes each adapter it opened once.
    unsafe { adapter::close::<HalOf<S, N>>(p) };
    mp.ndk.open.fetch_sub(1, Ordering::AcqRel);
}

/// OID_NDK_SET_STATE (ndkpi.md §8.3): records the state and queues the work item that
/// indicates it; never pends and never calls NdisMNetPnPEvent itself (that would deadlock
/// NDIS). Returns (status, BytesRead, BytesNeeded).
///
/// With `*NetworkDirect` = 0, TRUE succeeds and leaves NDK disabled (UNCONFIRMED: NDIS is
/// not expected to send it then).
pub fn set_state<S: Silicon<N::Platform>, N: Ndis>(
    mp: &Miniport<S, N>,
    data: &[u8],
) -> (NDIS_STATUS, u32, u32) {
    let Some(&b) = data.first() else {
        return (NDIS_STATUS_INVALID_LENGTH, 0, 1);
    };
    let on = b != 0 && mp.ndk.keyword;
    // Disabling refuses new opens at once; NDIS closes the open ones on NetEventNDKDisable.
    mp.ndk.enabled.store(on, Ordering::Release);
    mp.ndk.wanted.store(on, Ordering::Release);
    schedule(mp);
    (NDIS_STATUS_SUCCESS, 1, 0)
}

/// Queues the state work item unless it is queued or running (it rechecks before it ends).
pub fn schedule<S: Silicon<N::Platform>, N: Ndis>(mp: &Miniport<S, N>) {
    if mp.ndk.wanted.load(Ordering::Acquire) == mp.ndk.indicated.load(Ordering::Acquire) {
        return;
    }
    if mp
        .ndk
        .work_busy
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let ctx = (mp as *const Miniport<S, N>).cast_mut().cast::<c_void>();
    // SAFETY: the adapter's work item, not queued (work_busy was false); the context
    // outlives it (halt waits for `work_busy` to clear).
    unsafe { N::NdisQueueIoWorkItem(mp.ndk.work_item.0, state_work::<S, N>, ctx) };
}

/// The work item (PASSIVE_LEVEL): indicates NetEventNDKEnable / NetEventNDKDisable until
/// the indicated state is the wanted one. NdisMNetPnPEvent(Disable) returns once NDIS
/// closed every NDK adapter (ndkpi.md §8.3).
unsafe extern "system" fn state_work<S: Silicon<N::Platform>, N: Ndis>(
    ctx: *mut c_void,
    _work_item: NDIS_HANDLE,
) {
    // SAFETY: the context given in `schedule`; alive until `work_busy` clears.
    let Some(mp) = (unsafe { Miniport::<S, N>::from_context(ctx) }) else {
        return;
    };
    loop {
        let want = mp.ndk.wanted.load(Ordering::Acquire);
        if want != mp.ndk.indicated.load(Ordering::Acquire) {
            indicate::<N>(mp.handle, want);
            mp.ndk.indicated.store(want, Ordering::Release);
            continue;
        }
        mp.ndk.work_busy.store(false, Ordering::Release);
        // A set that came after the check above but saw `work_busy` still set.
        let again =
            mp.ndk.wanted.load(Ordering::Acquire) != mp.ndk.indicated.load(Ordering::Acquire);
        if !again
            || mp
                .ndk
                .work_busy
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
    }
}

fn indicate<N: Ndis>(handle: Handle, enable: bool) {
    let mut n = NET_PNP_EVENT_NOTIFICATION {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1,
            Size: NDIS_SIZEOF_NET_PNP_EVENT_NOTIFICATION_REVISION_1,
        },
        PortNumber: NDIS_DEFAULT_PORT_NUMBER,
        NetPnPEvent: NET_PNP_EVENT {
            NetEvent: if enable {
                NetEventNDKEnable
            } else {
                NetEventNDKDisable
            },
            Buffer: core::ptr::null_mut(),
            BufferLength: 0,
            NdisReserved: [0; 4],
            TransportReserved: [0; 4],
            TdiReserved: [0; 4],
            TdiClientReserved: [0; 4],
        },
        Flags: 0,
    };
    // SAFETY: the adapter's handle and a filled notification, at PASSIVE_LEVEL (a work
    // item). The status only says whether NDIS had consumers to tell.
    let _ = unsafe { N::NdisMNetPnPEvent(handle.0, &mut n) };
}

/// Waits (PASSIVE_LEVEL, halt) until the state work item has finished.
pub fn wait_for_work<S: Silicon<N::Platform>, N: Ndis>(mp: &Miniport<S, N>) {
    while mp.ndk.work_pending() {
        mp.hal.platform().stall_us(10);
    }
}

/// The NDK query OIDs (ndkpi.md §8.3, §8.4).
pub fn query<S: Silicon<N::Platform>, N: Ndis>(
    mp: &Miniport<S, N>,
    oid: NDIS_OID,
    out: &mut Out<'_>,
) -> NDIS_STATUS {
    let act = &mp.dev.activity;
    match oid {
        OID_NDK_STATISTICS => {
            let c = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            let info = NDIS_NDK_STATISTICS_INFO {
                Header: NDIS_OBJECT_HEADER {
                    Type: NDIS_OBJECT_TYPE_DEFAULT,
                    Revision: NDIS_NDK_STATISTICS_INFO_REVISION_1,
                    Size: NDIS_SIZEOF_NDK_STATISTICS_INFO_REVISION_1,
                },
                Flags: 0,
                CounterSet: NDIS_NDK_PERFORMANCE_COUNTERS {
                    Connect: c(&act.connect),
                    Accept: c(&act.accept),
                    ConnectFailure: c(&act.connect_failure),
                    ActiveConnection: act.active_connections(),
                    CQError: c(&act.cq_error),
                    ..Default::default()
                },
            };
            out.put_value(&info)
        }
        OID_NDK_CONNECTIONS => {
            const HDR: usize = offset_of!(NDIS_NDK_CONNECTIONS, Connections);
            const ENTRY: usize = size_of::<NDIS_NDK_CONNECTION_ENTRY>();
            const LOCAL: usize = offset_of!(NDIS_NDK_CONNECTION_ENTRY, Local);
            const REMOTE: usize = offset_of!(NDIS_NDK_CONNECTION_ENTRY, Remote);
            let buf = out.bytes();
            let mut n = 0usize;
            act.for_each_connection(|l, r| {
                let at = HDR.saturating_add(n.saturating_mul(ENTRY));
                if let Some(e) = buf.get_mut(at..at.saturating_add(ENTRY)) {
                    e.fill(0);
                    put_sockaddr(e, LOCAL, l);
                    put_sockaddr(e, REMOTE, r);
                }
                n = n.saturating_add(1);
            });
            list_header(
                out,
                HDR,
                ENTRY,
                n,
                NDIS_NDK_CONNECTIONS_REVISION_1,
                offset_of!(NDIS_NDK_CONNECTIONS, Count),
            )
        }
        OID_NDK_LOCAL_ENDPOINTS => {
            const HDR: usize = offset_of!(NDIS_NDK_LOCAL_ENDPOINTS, LocalEndpoints);
            const ENTRY: usize = size_of::<NDIS_NDK_LOCAL_ENDPOINT_ENTRY>();
            const LOCAL: usize = offset_of!(NDIS_NDK_LOCAL_ENDPOINT_ENTRY, Local);
            const LISTENER: usize = offset_of!(NDIS_NDK_LOCAL_ENDPOINT_ENTRY, Listener);
            let buf = out.bytes();
            let mut n = 0usize;
            act.for_each_endpoint(|a, listener| {
                let at = HDR.saturating_add(n.saturating_mul(ENTRY));
                if let Some(e) = buf.get_mut(at..at.saturating_add(ENTRY)) {
                    e.fill(0);
                    put_sockaddr(e, LOCAL, a);
                    if let Some(b) = e.get_mut(LISTENER) {
                        *b = u8::from(listener);
                    }
                }
                n = n.saturating_add(1);
            });
            list_header(
                out,
                HDR,
                ENTRY,
                n,
                NDIS_NDK_LOCAL_ENDPOINTS_REVISION_1,
                offset_of!(NDIS_NDK_LOCAL_ENDPOINTS, Count),
            )
        }
        _ => NDIS_STATUS_NOT_SUPPORTED,
    }
}

/// `SOCKADDR_INET` bytes of `a` into `entry` at `at`.
fn put_sockaddr(entry: &mut [u8], at: usize, a: &SocketAddr) {
    let (b, _) = edge::sockaddr_bytes(a);
    if let Some(dst) = entry.get_mut(at..at.saturating_add(b.len())) {
        dst.copy_from_slice(&b);
    }
}

/// Finishes a variable-size NDK list of `n` entries written after a `hdr`-byte header:
/// fills the header (Type DEFAULT, `revision`, Size, Flags 0, Count, MappedtoTCP FALSE) or,
/// when the buffer is short, fails with `NDIS_STATUS_BUFFER_TOO_SHORT` and the size needed.
fn list_header(
    out: &mut Out<'_>,
    hdr: usize,
    entry: usize,
    n: usize,
    revision: u8,
    count_at: usize,
) -> NDIS_STATUS {
    let need = hdr.saturating_add(n.saturating_mul(entry));
    let Ok(need32) = u32::try_from(need) else {
        return out.short(u32::MAX);
    };
    if out.room() < need {
        return out.short(need32);
    }
    let buf = out.bytes();
    if let Some(h) = buf.get_mut(..hdr) {
        h.fill(0);
        let header = NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: revision,
            Size: u16::try_from(need).unwrap_or(u16::MAX),
        };
        let [s0, s1] = header.Size.to_le_bytes();
        if let Some(dst) = h.get_mut(..4) {
            dst.copy_from_slice(&[header.Type, header.Revision, s0, s1]);
        }
        let count = u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        if let Some(c) = h.get_mut(count_at..count_at.saturating_add(4)) {
            c.copy_from_slice(&count);
        }
    }
    out.wrote(need32)
}
