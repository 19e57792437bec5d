//! `NDK_ADAPTER`: opened by NDIS on a device, creates CQs, PDs, connectors, listeners and
//! shared endpoints, builds LAMs (ndkpi.md §4.1, §8.1).

use crate::karc::KArc;
use core::ffi::c_void;

use hal::{NicHal, Platform, RdmaTransport};

use crate::abi::*;
use crate::callback::{Callback, Ctx};
use crate::device::Device;
use crate::edge;
use crate::object::{self, borrow, ndk_query_extension, new_obj, Obj, ObjBody};
use crate::{connector, cq, listener, pd, shared_endpoint};

/// Highest NDKPI minor version implemented per major (ndkpi.md §1.2): 1.2 and 2.1. The
/// tables always carry the 2.1 slots; extra trailing slots are harmless to older consumers.
const SUPPORTED: [NDK_VERSION; 2] = [NDK_VERSION::new(1, 2), NDK_VERSION::new(2, 1)];

/// Picks the version to run at for a consumer's request (major, lowest acceptable minor).
pub fn negotiate(requested: NDK_VERSION) -> Result<NDK_VERSION, NTSTATUS> {
    SUPPORTED
        .iter()
        .find(|v| v.Major == requested.Major && requested.Minor <= v.Minor)
        .copied()
        .ok_or(NDIS_STATUS_BAD_VERSION)
}

/// Adapter state.
pub struct AdapterBody<H: NicHal> {
    /// The device it was opened on.
    pub dev: KArc<Device<H>>,
    /// Negotiated NDKPI version, stamped on every object.
    pub version: NDK_VERSION,
}

impl<H: NicHal> ObjBody for AdapterBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeAdapter;
}

/// A reference to an adapter.
pub type Adapter<H> = Obj<AdapterBody<H>>;

/// `OPEN_NDK_ADAPTER_HANDLER` logic: negotiates the version and creates an adapter.
pub fn open<H: NicHal>(
    dev: &KArc<Device<H>>,
    requested: NDK_VERSION,
) -> Result<*mut NDK_ADAPTER, NTSTATUS> {
    let version = negotiate(requested)?;
    let obj = new_obj(
        version,
        &Table::<H>::DISPATCH,
        AdapterBody {
            dev: dev.clone(),
            version,
        },
    )
    .map_err(|_| NDIS_STATUS_RESOURCES)?;
    Ok(object::publish(obj).cast())
}

/// `CLOSE_NDK_ADAPTER_HANDLER` logic: blocks (PASSIVE_LEVEL) until every object created on
/// the adapter is closed and its callbacks returned, then frees it (ndkpi.md §7.1).
///
/// # Safety
/// `p` must be an adapter returned by [`open`] and not closed yet.
pub unsafe fn close<H: NicHal>(p: *mut NDK_ADAPTER) {
    // SAFETY: forwarded contract.
    let Some(obj) = (unsafe { object::take::<AdapterBody<H>, _>(p) }) else {
        return;
    };
    // Every descendant holds a reference to the adapter, directly or through its parent.
    while KArc::count(&obj) > 1 {
        obj.body.dev.hal().platform().stall_us(10);
    }
    drop(obj);
}

/// `NDK_ADAPTER_INFO` for a device (ndkpi.md §5.1).
pub fn adapter_info(caps: &hal::DeviceCaps, version: NDK_VERSION) -> NDK_ADAPTER_INFO {
    let mut flags = 0;
    let mut set = |on: bool, f: u32| {
        if on {
            flags |= f;
        }
    };
    set(caps.in_order_dma, NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED);
    set(
        caps.read_sink_not_required,
        NDK_ADAPTER_FLAG_RDMA_READ_SINK_NOT_REQUIRED,
    );
    set(
        caps.cq_interrupt_moderation,
        NDK_ADAPTER_FLAG_CQ_INTERRUPT_MODERATION_SUPPORTED,
    );
    set(caps.multi_engine, NDK_ADAPTER_FLAG_MULTI_ENGINE_SUPPORTED);
    set(
        caps.read_local_invalidate,
        NDK_ADAPTER_FLAG_RDMA_READ_LOCAL_INVALIDATE_SUPPORTED,
    );
    set(caps.cq_resize, NDK_ADAPTER_FLAG_CQ_RESIZE_SUPPORTED);
    set(
        caps.loopback_connections,
        NDK_ADAPTER_FLAG_LOOPBACK_CONNECTIONS_SUPPORTED,
    );
    NDK_ADAPTER_INFO {
        Version: version,
        VendorId: caps.vendor_id,
        DeviceId: caps.device_id,
        MaxRegistrationSize: usize::try_from(caps.max_registration_size).unwrap_or(usize::MAX),
        MaxWindowSize: usize::try_from(caps.max_window_size).unwrap_or(usize::MAX),
        FRMRPageCount: caps.frmr_page_count.max(16),
        MaxInitiatorRequestSge: caps.max_initiator_sge.min(hal::MAX_SGE as u32),
        MaxReceiveRequestSge: caps.max_receive_sge.min(hal::MAX_SGE as u32),
        MaxReadRequestSge: caps.max_read_sge.min(hal::MAX_SGE as u32),
        MaxTransferLength: caps.max_transfer_length,
        MaxInlineDataSize: caps.max_inline_data.min(hal::MAX_INLINE_DATA as u32),
        MaxInboundReadLimit: caps.max_inbound_read_limit,
        MaxOutboundReadLimit: caps.max_outbound_read_limit,
        MaxReceiveQueueDepth: caps.max_receive_queue_depth,
        MaxInitiatorQueueDepth: caps.max_initiator_queue_depth,
        MaxSrqDepth: caps.max_srq_depth,
        MaxCqDepth: caps.max_cq_depth,
        LargeRequestThreshold: caps.large_request_threshold,
        MaxCallerData: caps.max_caller_data,
        MaxCalleeData: caps.max_callee_data,
        AdapterFlags: flags,
        RdmaTechnology: match caps.transport {
            RdmaTransport::Iwarp => NdkiWarp,
            RdmaTransport::InfiniBand => NdkInfiniBand,
            RdmaTransport::Roce => NdkRoCE,
            RdmaTransport::RoceV2 => NdkRoCEv2,
        },
    }
}

/// The adapter dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_ADAPTER_DISPATCH` (ndkpi.md §4.1).
    pub const DISPATCH: NDK_ADAPTER_DISPATCH = NDK_ADAPTER_DISPATCH {
        NdkQueryExtension: ndk_query_extension,
        NdkQueryAdapterInfo: query_adapter_info::<H>,
        NdkCreateCq: cq::ndk_create_cq::<H>,
        NdkCreatePd: pd::ndk_create_pd::<H>,
        NdkCreateSharedEndpoint: shared_endpoint::ndk_create_shared_endpoint::<H>,
        NdkCreateConnector: connector::ndk_create_connector::<H>,
        NdkCreateListener: listener::ndk_create_listener::<H>,
        NdkBuildLAM: build_lam::<H>,
        NdkReleaseLAM: release_lam::<H>,
    };
}

unsafe extern "system" fn query_adapter_info<H: NicHal>(
    p: *mut NDK_ADAPTER,
    info: *mut NDK_ADAPTER_INFO,
    size: *mut u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open adapter.
    let Some(a) = (unsafe { borrow::<AdapterBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: `size` is the in/out buffer size parameter.
    let Some(have) = (unsafe { edge::read(size) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let need = core::mem::size_of::<NDK_ADAPTER_INFO>() as u32;
    // SAFETY: as above.
    unsafe { edge::out(size, need) };
    if have < need || info.is_null() {
        return STATUS_BUFFER_TOO_SMALL;
    }
    // SAFETY: `info` has room for `have >= need` bytes.
    unsafe { edge::out(info, adapter_info(a.body.dev.hal().caps(), a.body.version)) };
    STATUS_SUCCESS
}

/// `NdkBuildLAM`: adapter logical addresses of the pages of an MDL (ndkpi.md §4.1). Our
/// mapping is the platform's page translation, which needs no device command, so it never
/// pends and `NdkReleaseLAM` has nothing to undo.
unsafe extern "system" fn build_lam<H: NicHal>(
    p: *mut NDK_ADAPTER,
    mdl: *mut MDL,
    length: usize,
    _cb: NDK_FN_REQUEST_COMPLETION,
    _ctx: *mut c_void,
    lam: *mut NDK_LOGICAL_ADDRESS_MAPPING,
    lam_size: *mut u32,
    fbo: *mut u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open adapter.
    let Some(a) = (unsafe { borrow::<AdapterBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: the consumer passes a locked MDL it leaves alone for the call.
    let pages = match unsafe { edge::mdl_pages(mdl, length) } {
        Ok(p) => p,
        Err(edge::MdlError::Invalid) => return STATUS_INVALID_PARAMETER,
        Err(edge::MdlError::NoMemory) => return STATUS_INSUFFICIENT_RESOURCES,
    };
    let Ok(count) = u32::try_from(pages.pfns.len()) else {
        return STATUS_INVALID_PARAMETER;
    };
    let need = u32::try_from(ndk_lam_size(count)).unwrap_or(u32::MAX);
    // SAFETY: `lam_size` is the in/out size parameter.
    let Some(have) = (unsafe { edge::read(lam_size) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: as above.
    unsafe { edge::out(lam_size, need) };
    if have < need || lam.is_null() {
        return STATUS_BUFFER_TOO_SMALL;
    }
    let platform = a.body.dev.hal().platform();
    // SAFETY: `lam` has room for `need` bytes: the header and `count` page entries.
    unsafe {
        edge::out(
            core::ptr::addr_of_mut!((*lam).AdapterContext),
            core::ptr::null_mut(),
        );
        edge::out(core::ptr::addr_of_mut!((*lam).AdapterPageCount), count);
        let arr = core::ptr::addr_of_mut!((*lam).AdapterPageArray).cast::<NDK_LOGICAL_ADDRESS>();
        if let Some(dst) = edge::slice_mut(arr, count) {
            for (d, pfn) in dst.iter_mut().zip(pages.pfns.iter()) {
                *d = platform.page_logical_address(*pfn) as i64;
            }
        }
        edge::out(fbo, pages.first_byte_offset);
    }
    STATUS_SUCCESS
}

unsafe extern "system" fn release_lam<H: NicHal>(
    _p: *mut NDK_ADAPTER,
    _lam: *mut NDK_LOGICAL_ADDRESS_MAPPING,
) {
}

/// Reads the create-completion arguments every create takes.
pub fn create_cb(
    cb: NDK_FN_CREATE_COMPLETION,
    ctx: *mut c_void,
) -> Callback<NDK_FN_CREATE_COMPLETION> {
    Callback {
        func: cb,
        ctx: Ctx::from_ptr(ctx),
    }
}

/// Reads the request-completion arguments every pending request takes.
pub fn request_cb(
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> Callback<NDK_FN_REQUEST_COMPLETION> {
    Callback {
        func: cb,
        ctx: Ctx::from_ptr(ctx),
    }
}
