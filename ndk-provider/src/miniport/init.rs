//! MiniportInitializeEx (PASSIVE_LEVEL): registration attributes, `*NetworkDirect`,
//! scatter-gather DMA, BARs, the silicon's bring-up, the provider's device, the raw Ethernet
//! queue, interrupts, the NDK work item, then the general and NDK attributes (ndkpi.md §8.1
//! step 3, §8.2). Everything acquired is released if a later step fails ([`Parts`]); the
//! same teardown runs at halt. Every allocation is fallible (HAL, device, raw queue, the
//! interrupt and DPC closures): memory running short fails initialization with
//! `NDIS_STATUS_RESOURCES`.

use alloc::vec::Vec;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::AtomicBool;

use hal::karc::{Finalize, KFn};
use hal::{EthFilter, EthernetPort, HalError, MmioRegion, NicHal, Platform};

use crate::abi::*;
use crate::adapter;
use crate::device::{Device, Lock};
use crate::karc::KArc;

use super::context::{Bars, ContextSlot, HalArc, HalOf, Handle, Miniport, MAX_BARS};
use super::ethernet::EthPort;
use super::ndk::{NdkState, MISSING_COUNTER_MASK};
use super::oid::{
    OidState, MAC_OPTIONS, MAX_MULTICAST, SUPPORTED_OIDS, SUPPORTED_PACKET_FILTERS,
    SUPPORTED_STATISTICS,
};
use super::{interrupt, Ndis, Silicon};

/// Largest DMA transfer NDIS is told about (the glue copies frames; it maps no NBL).
const MAXIMUM_PHYSICAL_MAPPING: u32 = 64 * 1024;
/// `CM_CONNECT` style context of the raw queue (one queue per adapter).
const ETH_QUEUE_CTX: u64 = 1;

impl<S: Silicon<N::Platform>, N: Ndis> Finalize for EthPort<S, N> {}

/// What an adapter holds, released in reverse order of acquisition when dropped: during a
/// failed MiniportInitializeEx, and at MiniportHaltEx.
pub struct Parts<S: Silicon<N::Platform>, N: Ndis> {
    pub(crate) handle: Handle,
    pub(crate) dma: Handle,
    pub(crate) bars: Bars,
    pub(crate) hal: Option<HalArc<S, N>>,
    pub(crate) dev: Option<KArc<Device<HalOf<S, N>>>>,
    pub(crate) eth: Option<KArc<EthPort<S, N>>>,
    pub(crate) interrupt: Handle,
    pub(crate) interrupt_ctx: *const HalOf<S, N>,
    pub(crate) work_item: Handle,
    _ndis: PhantomData<fn() -> (S, N)>,
}

impl<S: Silicon<N::Platform>, N: Ndis> Parts<S, N> {
    fn new(handle: Handle) -> Self {
        Parts {
            handle,
            dma: Handle::NULL,
            bars: Bars::new(),
            hal: None,
            dev: None,
            eth: None,
            interrupt: Handle::NULL,
            interrupt_ctx: core::ptr::null(),
            work_item: Handle::NULL,
            _ndis: PhantomData,
        }
    }
}

impl<S: Silicon<N::Platform>, N: Ndis> Drop for Parts<S, N> {
    fn drop(&mut self) {
        if !self.work_item.is_null() {
            // SAFETY: allocated for this adapter and not queued (halt waited for it).
            unsafe { N::NdisFreeIoWorkItem(self.work_item.0) };
        }
        // The raw queue: no more EthNotify service, wait for one running, then drain it.
        if let Some(dev) = self.dev.as_ref() {
            dev.set_ethernet_handler(None);
        }
        if let Some(eth) = self.eth.take() {
            if let Some(hal) = self.hal.as_ref() {
                while KArc::count(&eth) > 1 {
                    hal.platform().stall_us(10);
                }
            }
            eth.shut_down();
            drop(eth);
        }
        if !self.interrupt.is_null() {
            // SAFETY: registered in `initialize`, deregistered once.
            unsafe { interrupt::deregister::<S, N>(self.interrupt, self.interrupt_ctx) };
        }
        self.dev = None;
        // The HAL quiesces the device when dropped, while the BARs are still mapped. If
        // something still holds it (an NDK adapter NDIS failed to close), the BARs stay
        // mapped rather than pulled from under it.
        let unmap = match self.hal.take() {
            Some(hal) => KArc::try_unwrap(hal).map(drop).is_ok(),
            None => true,
        };
        if !self.dma.is_null() {
            // SAFETY: registered in `initialize`, deregistered once.
            unsafe { N::NdisMDeregisterScatterGatherDma(self.dma.0) };
        }
        if unmap {
            for &(va, len) in self.bars.mapped.iter().take(self.bars.count) {
                // SAFETY: mapped in `map_bars` with this length, unmapped once.
                unsafe { N::NdisMUnmapIoSpace(self.handle.0, va as *mut c_void, len) };
            }
        }
    }
}

/// MiniportInitializeEx.
pub unsafe extern "system" fn initialize_ex<S: Silicon<N::Platform>, N: Ndis>(
    handle: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
    params: *mut NDIS_MINIPORT_INIT_PARAMETERS,
) -> NDIS_STATUS {
    let Some(slot) = ContextSlot::<Miniport<S, N>>::alloc() else {
        return NDIS_STATUS_RESOURCES;
    };
    // SAFETY: NDIS's handle and parameters for this call.
    match unsafe { initialize::<S, N>(Handle(handle), params, slot.as_handle()) } {
        Ok(mp) => {
            let ctx = slot.fill(mp);
            // SAFETY: just filled.
            if let Some(mp) = unsafe { Miniport::<S, N>::from_context(ctx) } {
                // After MiniportInitializeEx the adapter is Paused until MiniportRestart.
                mp.set_state(super::context::AdapterState::Paused);
            }
            NDIS_STATUS_SUCCESS
        }
        Err(s) => s,
    }
}

/// # Safety
/// `handle` / `params` are NDIS's; `ctx` is the (unfilled) context memory.
unsafe fn initialize<S: Silicon<N::Platform>, N: Ndis>(
    handle: Handle,
    params: *mut NDIS_MINIPORT_INIT_PARAMETERS,
    ctx: NDIS_HANDLE,
) -> Result<Miniport<S, N>, NDIS_STATUS> {
    set_registration_attributes::<N>(handle, ctx)?;
    let keyword = read_network_direct::<N>(handle);
    let mut parts = Parts::<S, N>::new(handle);

    let mut sg = NDIS_SG_DMA_DESCRIPTION {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
            Revision: NDIS_SG_DMA_DESCRIPTION_REVISION_1,
            Size: NDIS_SIZEOF_SG_DMA_DESCRIPTION_REVISION_1,
        },
        Flags: NDIS_SG_DMA_64_BIT_ADDRESS,
        MaximumPhysicalMapping: MAXIMUM_PHYSICAL_MAPPING,
        ProcessSGListHandler: Some(process_sg_list),
        SharedMemAllocateCompleteHandler: None,
        ScatterGatherListSize: 0,
    };
    let mut dma: NDIS_HANDLE = null_mut();
    // SAFETY: the adapter's handle, a filled description and an out handle.
    let s = unsafe { N::NdisMRegisterScatterGatherDma(handle.0, &mut sg, &mut dma) };
    if s != NDIS_STATUS_SUCCESS {
        return Err(s);
    }
    parts.dma = Handle(dma);
    // SAFETY: the adapter's handles.
    let platform = unsafe { N::platform(handle.0, dma) }?;

    // SAFETY: NDIS's parameters.
    let regions = unsafe { map_bars::<S, N>(handle, params, &mut parts.bars) }?;
    let hal = S::start(platform, regions).map_err(|e| match e {
        HalError::NoResources => NDIS_STATUS_RESOURCES,
        _ => NDIS_STATUS_ADAPTER_NOT_FOUND,
    })?;
    // A HAL that cannot be shared is dropped here, which quiesces the device while the BARs
    // are still mapped (`parts` unmaps them).
    let hal: HalArc<S, N> = KArc::try_share(hal).map_err(|_| NDIS_STATUS_RESOURCES)?;
    parts.hal = Some(hal.clone());
    let dev = Device::try_new(hal.clone()).map_err(|_| NDIS_STATUS_RESOURCES)?;
    parts.dev = Some(dev.clone());

    // No frame is indicated before a protocol sets a packet filter.
    hal.set_eth_filter(EthFilter::empty())
        .map_err(|_| NDIS_STATUS_FAILURE)?;
    // A port that cannot be shared is dropped, which frees what it allocated.
    let eth = KArc::try_new(EthPort::<S, N>::new(handle, hal.clone(), ETH_QUEUE_CTX)?)
        .map_err(|_| NDIS_STATUS_RESOURCES)?;
    parts.eth = Some(eth.clone());
    let service = eth.clone();
    let handler = KFn::try_new(move || service.service(true)).map_err(|_| NDIS_STATUS_RESOURCES)?;
    dev.set_ethernet_handler(Some(handler));

    let (ih, ictx) = interrupt::register::<S, N>(handle, &hal)?;
    parts.interrupt = ih;
    parts.interrupt_ctx = ictx;

    // SAFETY: the adapter's handle.
    let work_item = unsafe { N::NdisAllocateIoWorkItem(handle.0) };
    if work_item.is_null() {
        return Err(NDIS_STATUS_RESOURCES);
    }
    parts.work_item = Handle(work_item);

    set_general_attributes::<S, N>(handle, &*hal)?;
    set_ndk_attributes::<N>(handle, hal.caps(), keyword)?;

    let lookahead = hal.mtu();
    // Everything acquired now belongs to the context; `parts` is left empty.
    let mp = Miniport {
        handle,
        dma: core::mem::replace(&mut parts.dma, Handle::NULL),
        bars: core::mem::take(&mut parts.bars),
        interrupt: core::mem::replace(&mut parts.interrupt, Handle::NULL),
        interrupt_ctx: core::mem::replace(&mut parts.interrupt_ctx, core::ptr::null()),
        hal,
        dev,
        eth,
        ndk: NdkState::new(
            keyword,
            core::mem::replace(&mut parts.work_item, Handle::NULL),
        ),
        oid: Lock::<HalOf<S, N>, _>::new(OidState::new(lookahead)),
        state: Miniport::<S, N>::initial_state(),
        removed: AtomicBool::new(false),
        _ndis: PhantomData,
    };
    parts.hal = None;
    parts.dev = None;
    parts.eth = None;
    drop(parts);
    Ok(mp)
}

/// Registration attributes: the context, a bus-mastering PCI device that survives surprise
/// removal (ndis.h; must be the first attributes set).
fn set_registration_attributes<N: Ndis>(
    handle: Handle,
    ctx: NDIS_HANDLE,
) -> Result<(), NDIS_STATUS> {
    let mut a = NDIS_MINIPORT_ADAPTER_ATTRIBUTES {
        RegistrationAttributes: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
            Header: NDIS_OBJECT_HEADER {
                Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
                Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
                Size: NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
            },
            MiniportAdapterContext: ctx,
            AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE
                | NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER
                | NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
            CheckForHangTimeInSeconds: 0,
            InterfaceType: NdisInterfacePci,
        },
    };
    // SAFETY: the adapter's handle and filled attributes (NDIS copies them).
    let s = unsafe { N::NdisMSetMiniportAttributes(handle.0, &mut a) };
    if s == NDIS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(s)
    }
}

/// `*NetworkDirect` (ndkpi.md §8.3, §9): 0 keeps NDK disabled; missing or unreadable means
/// the INF default, 1.
fn read_network_direct<N: Ndis>(handle: Handle) -> bool {
    let mut obj = NDIS_CONFIGURATION_OBJECT {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
            Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1,
            Size: NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1,
        },
        NdisHandle: handle.0,
        Flags: 0,
    };
    let mut cfg: NDIS_HANDLE = null_mut();
    // SAFETY: a filled configuration object and an out handle.
    if unsafe { N::NdisOpenConfigurationEx(&mut obj, &mut cfg) } != NDIS_STATUS_SUCCESS
        || cfg.is_null()
    {
        return true;
    }
    let mut name = NETWORK_DIRECT_KEYWORD_W;
    let bytes = (name.len() * 2) as u16;
    let mut keyword = NDIS_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: name.as_mut_ptr(),
    };
    let mut status = NDIS_STATUS_FAILURE;
    let mut value: *mut NDIS_CONFIGURATION_PARAMETER = null_mut();
    // SAFETY: the open configuration handle, a keyword string that outlives the call, and
    // out parameters.
    unsafe {
        N::NdisReadConfiguration(
            &mut status,
            &mut value,
            cfg,
            &mut keyword,
            NdisParameterInteger,
        )
    };
    let enabled = if status == NDIS_STATUS_SUCCESS {
        // SAFETY: on success NDIS returns a parameter it owns until the close below.
        match unsafe { value.as_ref() } {
            Some(p)
                if p.ParameterType == NdisParameterInteger
                    || p.ParameterType == NdisParameterHexInteger =>
            {
                // SAFETY: an integer parameter carries IntegerData.
                unsafe { p.ParameterData.IntegerData != 0 }
            }
            _ => true,
        }
    } else {
        true
    };
    // SAFETY: opened above, closed once.
    unsafe { N::NdisCloseConfiguration(cfg) };
    enabled
}

/// Maps the first `S::BAR_COUNT` memory BARs of the translated resource list.
///
/// # Safety
/// `params` is NDIS's initialization parameter block.
unsafe fn map_bars<S: Silicon<N::Platform>, N: Ndis>(
    handle: Handle,
    params: *mut NDIS_MINIPORT_INIT_PARAMETERS,
    bars: &mut Bars,
) -> Result<Vec<MmioRegion>, NDIS_STATUS> {
    let want = S::BAR_COUNT.min(MAX_BARS);
    let mut regions = Vec::new();
    regions
        .try_reserve_exact(want)
        .map_err(|_| NDIS_STATUS_RESOURCES)?;
    // SAFETY: per the contract.
    let list = unsafe { params.as_ref() }
        .map(|p| p.AllocatedResources)
        .unwrap_or(null_mut());
    if list.is_null() {
        return Err(NDIS_STATUS_RESOURCE_CONFLICT);
    }
    // SAFETY: NDIS's resource list: a header and `Count` descriptors (packed(4)).
    let count = unsafe { core::ptr::addr_of!((*list).Count).read_unaligned() } as usize;
    // SAFETY: as above.
    let first = unsafe { core::ptr::addr_of!((*list).PartialDescriptors) }
        .cast::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
    for i in 0..count {
        if regions.len() == want {
            break;
        }
        // SAFETY: `i < Count`, inside the list.
        let d = unsafe { first.add(i).read_unaligned() };
        if d.Type != CmResourceTypeMemory {
            continue;
        }
        // SAFETY: a memory descriptor carries `u.Memory`.
        let mem = unsafe { d.u.Memory };
        let (start, len) = (mem.Start, mem.Length);
        let mut va: *mut c_void = null_mut();
        // SAFETY: the adapter's handle and one of its memory BARs.
        let s = unsafe { N::NdisMMapIoSpace(&mut va, handle.0, start, len) };
        let Some(base) = NonNull::new(va.cast::<u8>()) else {
            return Err(if s == NDIS_STATUS_SUCCESS {
                NDIS_STATUS_RESOURCES
            } else {
                s
            });
        };
        if s != NDIS_STATUS_SUCCESS {
            return Err(s);
        }
        if let Some(m) = bars.mapped.get_mut(bars.count) {
            *m = (va as usize, len);
            bars.count += 1;
        }
        // SAFETY: NdisMMapIoSpace mapped `len` bytes of device registers, page-aligned,
        // unmapped only at halt after the HAL is gone.
        regions.push(unsafe { MmioRegion::from_raw(base, len as usize) });
    }
    if regions.len() < want {
        return Err(NDIS_STATUS_RESOURCE_CONFLICT);
    }
    Ok(regions)
}

/// General attributes of an 802.3 adapter (ndis.h).
fn set_general_attributes<S: Silicon<N::Platform>, N: Ndis>(
    handle: Handle,
    hal: &HalOf<S, N>,
) -> Result<(), NDIS_STATUS> {
    let link = hal.link_state();
    let mac = hal.mac_address();
    let mut addr = [0u8; NDIS_MAX_PHYS_ADDRESS_LENGTH];
    if let Some(d) = addr.get_mut(..6) {
        d.copy_from_slice(&mac);
    }
    let speed = if link.up {
        link.speed_bps
    } else {
        NDIS_LINK_SPEED_UNKNOWN
    };
    let mut a = NDIS_MINIPORT_ADAPTER_ATTRIBUTES {
        GeneralAttributes: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
            Header: NDIS_OBJECT_HEADER {
                Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
                Size: NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
            },
            Flags: 0,
            MediaType: NdisMedium802_3,
            PhysicalMediumType: NdisPhysicalMedium802_3,
            MtuSize: hal.mtu(),
            MaxXmitLinkSpeed: speed,
            XmitLinkSpeed: speed,
            MaxRcvLinkSpeed: speed,
            RcvLinkSpeed: speed,
            MediaConnectState: if link.up {
                MediaConnectStateConnected
            } else {
                MediaConnectStateDisconnected
            },
            MediaDuplexState: MediaDuplexStateFull,
            LookaheadSize: hal.mtu(),
            PowerManagementCapabilities: null_mut(),
            MacOptions: MAC_OPTIONS,
            SupportedPacketFilters: SUPPORTED_PACKET_FILTERS,
            MaxMulticastListSize: MAX_MULTICAST as u32,
            MacAddressLength: 6,
            PermanentMacAddress: addr,
            CurrentMacAddress: addr,
            RecvScaleCapabilities: null_mut(),
            AccessType: NET_IF_ACCESS_BROADCAST,
            DirectionType: NET_IF_DIRECTION_SENDRECEIVE,
            ConnectionType: NET_IF_CONNECTION_DEDICATED,
            IfType: IF_TYPE_ETHERNET_CSMACD,
            IfConnectorPresent: 1,
            SupportedStatistics: SUPPORTED_STATISTICS,
            SupportedPauseFunctions: NdisPauseFunctionsUnsupported as u32,
            DataBackFillSize: 0,
            ContextBackFillSize: 0,
            SupportedOidList: SUPPORTED_OIDS.as_ptr().cast_mut(),
            SupportedOidListLength: core::mem::size_of_val(&SUPPORTED_OIDS) as u32,
            AutoNegotiationFlags: 0,
            PowerManagementCapabilitiesEx: null_mut(),
        },
    };
    // SAFETY: the adapter's handle and filled attributes; NDIS copies them and the OID
    // list (a static) during the call.
    let s = unsafe { N::NdisMSetMiniportAttributes(handle.0, &mut a) };
    if s == NDIS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(s)
    }
}

/// NDK attributes with `NDIS_NDK_CAPABILITIES` and `NDK_ADAPTER_INFO` (ndkpi.md §8.2), set
/// even when NDK is disabled. Adapter-wide read limits are 0 (none beyond the per-QP
/// limits of `NDK_ADAPTER_INFO`).
fn set_ndk_attributes<N: Ndis>(
    handle: Handle,
    caps: &hal::DeviceCaps,
    enabled: bool,
) -> Result<(), NDIS_STATUS> {
    let mut info = adapter::adapter_info(caps, NDK_VERSION::new(2, 1));
    let mut ndk_caps = NDIS_NDK_CAPABILITIES {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: NDIS_NDK_CAPABILITIES_REVISION_1,
            Size: NDIS_SIZEOF_NDK_CAPABILITIES_REVISION_1,
        },
        Flags: 0,
        MaxQpCount: caps.max_qp_count,
        MaxCqCount: caps.max_cq_count,
        MaxMrCount: caps.max_mr_count,
        MaxPdCount: caps.max_pd_count,
        MaxInboundReadLimit: 0,
        MaxOutboundReadLimit: 0,
        MaxMwCount: caps.max_mw_count,
        MaxSrqCount: caps.max_srq_count,
        MissingCounterMask: MISSING_COUNTER_MASK,
        NdkInfo: &mut info,
    };
    let mut a = NDIS_MINIPORT_ADAPTER_ATTRIBUTES {
        NDKAttributes: NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES {
            Header: NDIS_OBJECT_HEADER {
                Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NDK_ATTRIBUTES,
                Revision: NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1,
                Size: NDIS_SIZEOF_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1,
            },
            Enabled: u8::from(enabled),
            NdkCapabilities: &mut ndk_caps,
        },
    };
    // SAFETY: the adapter's handle and filled attributes whose pointers (capabilities,
    // adapter info) outlive the call; NDIS copies them.
    let s = unsafe { N::NdisMSetMiniportAttributes(handle.0, &mut a) };
    if s == NDIS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(s)
    }
}

/// MiniportProcessSGList: required by NdisMRegisterScatterGatherDma, never invoked — the
/// glue copies frames into its own DMA memory and asks NDIS for no scatter-gather list.
unsafe extern "system" fn process_sg_list(
    _device: *mut DEVICE_OBJECT,
    _reserved: *mut c_void,
    _sgl: *mut SCATTER_GATHER_LIST,
    _context: *mut c_void,
) {
}

/// The adapter's resources as [`Parts`], for MiniportHaltEx to release in order once the
/// context dropped its own references.
pub fn take_parts<S: Silicon<N::Platform>, N: Ndis>(mp: &Miniport<S, N>) -> Parts<S, N> {
    let mut p = Parts::<S, N>::new(mp.handle);
    p.dma = mp.dma;
    p.bars = mp.bars;
    p.hal = Some(mp.hal.clone());
    p.dev = Some(mp.dev.clone());
    p.eth = Some(mp.eth.clone());
    p.interrupt = mp.interrupt;
    p.interrupt_ctx = mp.interrupt_ctx;
    p.work_item = mp.ndk.work_item;
    p
}
