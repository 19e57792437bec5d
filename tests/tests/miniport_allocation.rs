//! Allocation failure at every allocation of MiniportInitializeEx (the NDIS glue with the
//! RoCEv2 silicon over the fake NDIS): the HAL's bring-up, the HAL and device, the raw
//! Ethernet queue, the interrupt and DPC closures.
//!
//! For each attempt n = 0, 1, 2, ... a fresh fake NDIS loads the driver, a fresh network
//! gets a device model, and `FakeNdis::add_device` runs MiniportInitializeEx with the n-th
//! allocation of the glue and its HAL failing. Only the miniport's own allocations count:
//! the driver is instantiated over [`CountedNdis`], which forwards every NDIS function to
//! the fake with counting suspended, and over a platform that suspends it while the device
//! model steps (`stall_us`); counting is switched on only inside MiniportInitializeEx (a
//! wrapper around the registered InitializeHandlerEx). The rule:
//!
//! * the injected failure fired ⇒ MiniportInitializeEx returns NDIS_STATUS_RESOURCES, the
//!   fake NDIS holds nothing of the adapter (no mapping, DMA or interrupt registration, work
//!   item, pool, NBL, MDL), no DMA memory is left, and no NDIS contract violation was seen
//!   — or, when the failing allocation was retried (the silicon's admin-queue submission
//!   takes a failed reservation for a full queue and tries again), initialization succeeds
//!   having made more allocations than a clean run;
//! * it did not fire ⇒ initialization succeeded and the sweep ends (every allocation was
//!   failed once); the adapter is halted.
//!
//! After each attempt every allocation counted in MiniportInitializeEx must have been freed
//! (by the failed initialization itself, or by MiniportHaltEx after a successful one).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::ffi::c_void;

use hal::mock::MockPlatform;
use hal::{DmaRegion, HalResult, Platform};
use hal_roce::model::Network;
use hal_roce::RoceV2;
use ndk_provider::abi::*;
use ndk_provider::miniport::fake::{FakeDevice, FakeNdis};
use ndk_provider::miniport::{driver_entry, Ndis};

// ---------------------------------------------------------------------------------------
// An allocator that fails the n-th counted allocation
// ---------------------------------------------------------------------------------------

thread_local! {
    /// Counting is on while positive (inside MiniportInitializeEx, outside NDIS calls).
    static COUNTED: Cell<i32> = const { Cell::new(0) };
    /// Counted allocations left before one fails; negative = never fail.
    static FAIL_IN: Cell<i64> = const { Cell::new(-1) };
    /// Counted allocations made.
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// Counted allocations not freed yet (the device model and the fake keep memory of
    /// their own across an attempt, so only the miniport's allocations are followed).
    static LIVE: RefCell<Live> = const {
        RefCell::new(Live { addrs: [0; MAX_LIVE], len: 0, overflow: false })
    };
}

/// Most counted allocations followed at once.
const MAX_LIVE: usize = 4096;

/// Addresses of the counted allocations not freed yet; fixed-size, so following them does
/// not allocate.
struct Live {
    addrs: [usize; MAX_LIVE],
    len: usize,
    overflow: bool,
}

/// Counted allocations not freed.
fn live_counted() -> usize {
    LIVE.with(|l| {
        let l = l.borrow();
        assert!(!l.overflow, "more than {MAX_LIVE} counted allocations live");
        l.len
    })
}

struct FailingAlloc;

// SAFETY: forwards to the system allocator; the bookkeeping touches only const-initialized
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for FailingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.with(|c| c.get()) > 0 {
            COUNT.with(|c| c.set(c.get() + 1));
            let fail = FAIL_IN.with(|f| {
                let n = f.get();
                if n > 0 {
                    f.set(n - 1);
                } else if n == 0 {
                    f.set(-1);
                }
                n == 0
            });
            if fail {
                return std::ptr::null_mut();
            }
        }
        // SAFETY: forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTED.with(|c| c.get()) > 0 {
            LIVE.with(|l| {
                let mut l = l.borrow_mut();
                let n = l.len;
                if n == MAX_LIVE {
                    l.overflow = true;
                } else {
                    l.addrs[n] = p as usize;
                    l.len = n + 1;
                }
            });
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|l| {
            let mut l = l.borrow_mut();
            let n = l.len;
            if let Some(i) = l.addrs[..n].iter().position(|a| *a == ptr as usize) {
                l.addrs[i] = l.addrs[n - 1];
                l.len = n - 1;
            }
        });
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: FailingAlloc = FailingAlloc;

/// Suspends counting until dropped (NDIS and the device model are not under test).
struct Uncounted(i32);

fn uncounted() -> Uncounted {
    Uncounted(COUNTED.with(|c| c.replace(0)))
}

impl Drop for Uncounted {
    fn drop(&mut self) {
        COUNTED.with(|c| c.set(self.0));
    }
}

// ---------------------------------------------------------------------------------------
// The fake NDIS and the mock platform, not counted
// ---------------------------------------------------------------------------------------

/// The fake NDIS with allocation counting suspended in every function.
struct CountedNdis;

/// The fake's platform with counting suspended while the device model steps.
#[derive(Clone)]
struct CountedPlatform(MockPlatform);

impl Platform for CountedPlatform {
    type RawLock = <MockPlatform as Platform>::RawLock;
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }
    fn stall_us(&self, us: u32) {
        let _u = uncounted();
        self.0.stall_us(us)
    }
    fn page_logical_address(&self, pfn: u64) -> u64 {
        self.0.page_logical_address(pfn)
    }
    /// Counted: the driver's DMA memory (`NdisMAllocateSharedMemory` in the kernel).
    fn alloc_dma(&self, len: usize) -> HalResult<DmaRegion> {
        self.0.alloc_dma(len)
    }
    fn free_dma(&self, region: DmaRegion) {
        self.0.free_dma(region)
    }
    fn defer(&self, work: &hal::platform::DeferredWork) {
        let _u = uncounted();
        self.0.defer(work)
    }
}

/// The driver's MiniportInitializeEx, as registered.
static REAL_INIT: std::sync::Mutex<MINIPORT_INITIALIZE_HANDLER> = std::sync::Mutex::new(None);

/// The InitializeHandlerEx the fake calls: counts allocations inside the real one.
unsafe extern "system" fn counted_initialize(
    handle: NDIS_HANDLE,
    driver_context: NDIS_HANDLE,
    params: *mut NDIS_MINIPORT_INIT_PARAMETERS,
) -> NDIS_STATUS {
    let real = {
        let _u = uncounted();
        *REAL_INIT.lock().unwrap()
    };
    let Some(real) = real else {
        return NDIS_STATUS_FAILURE;
    };
    COUNTED.with(|c| c.set(c.get() + 1));
    // SAFETY: forwarded from the fake NDIS.
    let s = unsafe { real(handle, driver_context, params) };
    COUNTED.with(|c| c.set(c.get() - 1));
    s
}

// SAFETY: every function forwards to the fake NDIS with the same contract.
unsafe impl Ndis for CountedNdis {
    type Platform = CountedPlatform;

    unsafe fn platform(
        adapter: NDIS_HANDLE,
        dma: NDIS_HANDLE,
    ) -> Result<CountedPlatform, NDIS_STATUS> {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { <FakeNdis as Ndis>::platform(adapter, dma) }.map(CountedPlatform)
    }
    unsafe fn NdisMRegisterMiniportDriver(
        driver_object: *mut DRIVER_OBJECT,
        registry_path: *mut UNICODE_STRING,
        driver_context: NDIS_HANDLE,
        characteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        driver_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: the driver's characteristics, valid for the call.
        let mut chars = unsafe { *characteristics };
        *REAL_INIT.lock().unwrap() = chars.InitializeHandlerEx;
        chars.InitializeHandlerEx = Some(counted_initialize);
        // SAFETY: forwarded, with the wrapped InitializeHandlerEx (NDIS copies them).
        unsafe {
            FakeNdis::NdisMRegisterMiniportDriver(
                driver_object,
                registry_path,
                driver_context,
                &chars,
                driver_handle,
            )
        }
    }
    unsafe fn NdisMDeregisterMiniportDriver(driver_handle: NDIS_HANDLE) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMDeregisterMiniportDriver(driver_handle) }
    }
    unsafe fn NdisSetOptionalHandlers(
        ndis_handle: NDIS_HANDLE,
        handlers: *mut NDIS_DRIVER_OPTIONAL_HANDLERS,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisSetOptionalHandlers(ndis_handle, handlers) }
    }
    unsafe fn NdisMSetMiniportAttributes(
        adapter: NDIS_HANDLE,
        attributes: *mut NDIS_MINIPORT_ADAPTER_ATTRIBUTES,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMSetMiniportAttributes(adapter, attributes) }
    }
    unsafe fn NdisOpenConfigurationEx(
        config_object: *mut NDIS_CONFIGURATION_OBJECT,
        config_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisOpenConfigurationEx(config_object, config_handle) }
    }
    unsafe fn NdisReadConfiguration(
        status: *mut NDIS_STATUS,
        value: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        config_handle: NDIS_HANDLE,
        keyword: *mut NDIS_STRING,
        parameter_type: NDIS_PARAMETER_TYPE,
    ) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe {
            FakeNdis::NdisReadConfiguration(status, value, config_handle, keyword, parameter_type)
        }
    }
    unsafe fn NdisCloseConfiguration(config_handle: NDIS_HANDLE) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisCloseConfiguration(config_handle) }
    }
    unsafe fn NdisMMapIoSpace(
        virtual_address: *mut *mut c_void,
        adapter: NDIS_HANDLE,
        physical_address: NDIS_PHYSICAL_ADDRESS,
        length: u32,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMMapIoSpace(virtual_address, adapter, physical_address, length) }
    }
    unsafe fn NdisMUnmapIoSpace(adapter: NDIS_HANDLE, virtual_address: *mut c_void, length: u32) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMUnmapIoSpace(adapter, virtual_address, length) }
    }
    unsafe fn NdisMRegisterScatterGatherDma(
        adapter: NDIS_HANDLE,
        description: *mut NDIS_SG_DMA_DESCRIPTION,
        dma_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMRegisterScatterGatherDma(adapter, description, dma_handle) }
    }
    unsafe fn NdisMDeregisterScatterGatherDma(dma_handle: NDIS_HANDLE) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMDeregisterScatterGatherDma(dma_handle) }
    }
    unsafe fn NdisMRegisterInterruptEx(
        adapter: NDIS_HANDLE,
        interrupt_context: NDIS_HANDLE,
        characteristics: *mut NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        interrupt_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe {
            FakeNdis::NdisMRegisterInterruptEx(
                adapter,
                interrupt_context,
                characteristics,
                interrupt_handle,
            )
        }
    }
    unsafe fn NdisMDeregisterInterruptEx(interrupt_handle: NDIS_HANDLE) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMDeregisterInterruptEx(interrupt_handle) }
    }
    unsafe fn NdisAllocateIoWorkItem(ndis_object: NDIS_HANDLE) -> NDIS_HANDLE {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisAllocateIoWorkItem(ndis_object) }
    }
    unsafe fn NdisQueueIoWorkItem(
        work_item: NDIS_HANDLE,
        routine: NDIS_IO_WORKITEM_ROUTINE,
        context: *mut c_void,
    ) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisQueueIoWorkItem(work_item, routine, context) }
    }
    unsafe fn NdisFreeIoWorkItem(work_item: NDIS_HANDLE) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisFreeIoWorkItem(work_item) }
    }
    unsafe fn NdisMNetPnPEvent(
        adapter: NDIS_HANDLE,
        notification: *mut NET_PNP_EVENT_NOTIFICATION,
    ) -> NDIS_STATUS {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMNetPnPEvent(adapter, notification) }
    }
    unsafe fn NdisMPauseComplete(adapter: NDIS_HANDLE) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMPauseComplete(adapter) }
    }
    unsafe fn NdisMIndicateStatusEx(adapter: NDIS_HANDLE, indication: *mut NDIS_STATUS_INDICATION) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMIndicateStatusEx(adapter, indication) }
    }
    unsafe fn NdisAllocateNetBufferListPool(
        ndis_handle: NDIS_HANDLE,
        parameters: *mut NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisAllocateNetBufferListPool(ndis_handle, parameters) }
    }
    unsafe fn NdisFreeNetBufferListPool(pool: NDIS_HANDLE) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisFreeNetBufferListPool(pool) }
    }
    unsafe fn NdisAllocateNetBufferAndNetBufferList(
        pool: NDIS_HANDLE,
        context_size: u16,
        context_backfill: u16,
        mdl_chain: *mut MDL,
        data_offset: u32,
        data_length: usize,
    ) -> *mut NET_BUFFER_LIST {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe {
            FakeNdis::NdisAllocateNetBufferAndNetBufferList(
                pool,
                context_size,
                context_backfill,
                mdl_chain,
                data_offset,
                data_length,
            )
        }
    }
    unsafe fn NdisFreeNetBufferList(nbl: *mut NET_BUFFER_LIST) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisFreeNetBufferList(nbl) }
    }
    unsafe fn NdisAllocateMdl(ndis_handle: NDIS_HANDLE, va: *mut c_void, length: u32) -> *mut MDL {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisAllocateMdl(ndis_handle, va, length) }
    }
    unsafe fn NdisFreeMdl(mdl: *mut MDL) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisFreeMdl(mdl) }
    }
    unsafe fn MmGetSystemAddressForMdlSafe(mdl: *mut MDL) -> *mut c_void {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::MmGetSystemAddressForMdlSafe(mdl) }
    }
    unsafe fn NdisMIndicateReceiveNetBufferLists(
        adapter: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        port: NDIS_PORT_NUMBER,
        count: u32,
        flags: u32,
    ) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMIndicateReceiveNetBufferLists(adapter, nbls, port, count, flags) }
    }
    unsafe fn NdisMSendNetBufferListsComplete(
        adapter: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        flags: u32,
    ) {
        let _u = uncounted();
        // SAFETY: forwarded.
        unsafe { FakeNdis::NdisMSendNetBufferListsComplete(adapter, nbls, flags) }
    }
}

/// DriverEntry of the RoCEv2 miniport over [`CountedNdis`].
unsafe extern "system" fn entry(d: *mut DRIVER_OBJECT, r: *mut UNICODE_STRING) -> NTSTATUS {
    // SAFETY: forwarded from the fake I/O manager.
    unsafe { driver_entry::<RoceV2, CountedNdis>(d, r) }
}

// ---------------------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------------------

/// What one attempt saw.
struct Attempt {
    /// The failure was injected (an allocation of MiniportInitializeEx returned NULL).
    fired: bool,
    /// Counted allocations MiniportInitializeEx made.
    counted: u64,
    /// Initialization succeeded.
    ok: bool,
}

/// Loads the driver, adds a device with the `fail`-th counted allocation failing (none when
/// `None`), checks the outcome, and tears everything down; asserts that every allocation
/// counted was freed.
fn attempt(fail: Option<u64>) -> Attempt {
    FakeNdis::reset();
    // SAFETY: `entry` is a DriverEntry.
    assert_eq!(FakeNdis::load(entry), STATUS_SUCCESS, "DriverEntry");
    let net = Network::new(fabric::Impairments::PERFECT, None);
    let bare = net.add_bare_nic("10.0.0.1".parse().unwrap());
    let platform = net.platform().clone();
    let dma_before = platform.live_dma();
    let fake_before = FakeNdis::live_allocations();

    COUNT.with(|c| c.set(0));
    FAIL_IN.with(|f| f.set(fail.map_or(-1, |n| n as i64)));
    let r = FakeNdis::add_device(FakeDevice {
        bars: bare.bars(),
        msix_vectors: 4,
        keywords: vec![("*NetworkDirect".to_string(), 1)],
        platform: platform.clone(),
    });
    let fired = fail.is_some() && FAIL_IN.with(|f| f.replace(-1)) < 0;
    FAIL_IN.with(|f| f.set(-1));
    let counted = COUNT.with(|c| c.get());
    let ok = r.is_ok();
    if !fired {
        assert!(
            live_counted() > 0,
            "a started adapter holds what it allocated"
        );
    }

    let v = FakeNdis::violations();
    assert!(
        v.is_empty(),
        "attempt {fail:?}: NDIS contract violations: {v:#?}"
    );
    if fired && !ok {
        assert_eq!(
            r.err(),
            Some(NDIS_STATUS_RESOURCES),
            "attempt {fail:?}: MiniportInitializeEx with an allocation failing"
        );
        assert_eq!(
            FakeNdis::live_allocations(),
            fake_before,
            "attempt {fail:?}: NDIS resources left after a failed MiniportInitializeEx"
        );
        assert_eq!(
            platform.live_dma(),
            dma_before,
            "attempt {fail:?}: DMA memory left after a failed MiniportInitializeEx"
        );
    } else {
        let id = r.unwrap_or_else(|s| panic!("attempt {fail:?}: MiniportInitializeEx {s:#x}"));
        FakeNdis::halt(id);
        assert_eq!(FakeNdis::live_allocations(), fake_before, "after halt");
        assert_eq!(platform.live_dma(), dma_before, "DMA after halt");
        let v = FakeNdis::violations();
        assert!(v.is_empty(), "halt: NDIS contract violations: {v:#?}");
    }
    FakeNdis::unload();
    FakeNdis::reset();
    // The mock platform is the network's and outlives the adapter: run what the adapter
    // queued (the device's event DPC, which finds the device gone), as the kernel platform
    // removes and flushes its DPCs when the adapter's HAL goes.
    platform.run_deferred();
    drop((bare, platform, net));
    let leaked = live_counted();
    assert_eq!(leaked, 0, "attempt {fail:?}: {leaked} allocations leaked");
    Attempt { fired, counted, ok }
}

#[test]
fn initialize_fails_with_resources_and_leaks_nothing_at_every_allocation() {
    let clean = attempt(None);
    assert!(!clean.fired);
    assert_eq!(
        attempt(None).counted,
        clean.counted,
        "initialization allocates alike each time"
    );
    // The glue and the HAL allocate during initialization (the silicon's tables, DMA rings,
    // HAL, device, raw queue, closures): there is something to fail.
    assert!(
        clean.counted >= 8,
        "only {} counted allocations",
        clean.counted
    );
    let (mut n, mut failed, mut retried) = (0, 0, 0);
    loop {
        let a = attempt(Some(n));
        if !a.fired {
            assert_eq!(n, clean.counted, "the sweep ends after the last allocation");
            break;
        }
        if a.ok {
            // Only a retry may absorb a failure: the silicon's command submission takes a
            // failed reservation for a full queue and tries again, once more.
            assert!(
                a.counted > clean.counted,
                "attempt {n}: initialization succeeded without retrying the failed allocation"
            );
            retried += 1;
        } else {
            failed += 1;
        }
        n += 1;
        assert!(n <= clean.counted, "more failures than allocations");
    }
    assert!(
        failed > retried,
        "{failed} failures reported, {retried} retried"
    );
}
