//! A fake NDIS of the project's own, for host tests of the miniport glue.
//!
//! [`FakeNdis`] implements [`Ndis`] the way `ndis.sys` behaves, and plays the PnP manager
//! and the protocol stack: it loads a driver through its `DriverEntry`, starts adapters
//! through the registered `MiniportInitializeEx`, sends frames, issues OID requests, opens
//! NDK adapters, pauses, restarts, surprise-removes and halts — always through the function
//! pointers the driver registered, never by calling the glue's Rust functions.
//!
//! State is thread-local (a test drives everything from one thread); [`FakeNdis::reset`]
//! starts over. Allocations the miniport makes through NDIS (NBL pools, NBLs, MDLs, work
//! items, configuration handles, I/O mappings, DMA and interrupt registrations) are real
//! and counted ([`FakeNdis::live_allocations`]). Whatever real NDIS would reject or
//! bug-check on (a double free, a send completed twice, `NdisMNetPnPEvent` from inside
//! `MiniportOidRequest`, a halt with resources still held, ...) is recorded in
//! [`FakeNdis::violations`] instead of panicking, because the fake runs below
//! `extern "system"` frames where a panic aborts the test process.
#![allow(non_snake_case)]

extern crate std;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ffi::c_void;
use core::mem::{offset_of, size_of};
use core::ptr::{self, NonNull};

use hal::mock::MockPlatform;
use std::sync::Mutex;

use super::ndis::Ndis;
use crate::abi::*;

// ---------------------------------------------------------------------------
// Public test-facing types
// ---------------------------------------------------------------------------

/// The fake NDIS. All methods are associated functions over thread-local state.
pub struct FakeNdis;

/// A PCI function the fake PnP manager starts.
pub struct FakeDevice {
    /// Memory BARs in resource-list order: the fake reports each as a
    /// `CmResourceTypeMemory` descriptor at a fake physical address that `NdisMMapIoSpace`
    /// maps back to this pointer.
    pub bars: Vec<(NonNull<u8>, usize)>,
    /// MSI-X messages granted (0 = a line-based interrupt).
    pub msix_vectors: u32,
    /// Registry keywords of the adapter instance, e.g. `("*NetworkDirect", 1)`; matched
    /// case-insensitively. A missing keyword reads as `NDIS_STATUS_FAILURE`.
    pub keywords: Vec<(String, u32)>,
    /// What [`Ndis::platform`] returns for this adapter.
    pub platform: MockPlatform,
}

/// An adapter started by [`FakeNdis::add_device`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FakeAdapterId(pub usize);

/// Where an adapter is in the NDIS miniport state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeAdapterState {
    /// Inside MiniportInitializeEx.
    Initializing,
    /// MiniportInitializeEx failed; the adapter is gone.
    InitFailed,
    /// Initialized or paused: no sends expected.
    Paused,
    /// MiniportPause returned NDIS_STATUS_PENDING; NdisMPauseComplete not called yet.
    Pausing,
    /// Restarted.
    Running,
    /// MiniportHaltEx returned.
    Halted,
}

/// What `NdisMSetMiniportAttributes` received for an NDK attributes object, with the
/// pointed-to capabilities and adapter info copied out.
#[derive(Clone, Copy, Debug)]
pub struct FakeNdkAttributes {
    pub enabled: bool,
    /// `NdkCapabilities` (its `NdkInfo` pointer is the miniport's, not necessarily valid
    /// any more).
    pub capabilities: Option<NDIS_NDK_CAPABILITIES>,
    /// `*NdkCapabilities.NdkInfo`.
    pub adapter_info: Option<NDK_ADAPTER_INFO>,
}

/// Copies of what `NdisMSetMiniportAttributes` received for one adapter (last of each kind).
#[derive(Clone, Debug, Default)]
pub struct FakeAttributes {
    pub registration: Option<NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES>,
    /// Pointer members point into the miniport's memory at the time of the call.
    pub general: Option<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES>,
    /// `GeneralAttributes.SupportedOidList`, copied.
    pub supported_oids: Vec<NDIS_OID>,
    pub ndk: Option<FakeNdkAttributes>,
}

/// The outcome of one OID request, as NDIS sees it when the handler returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeOidResult {
    pub status: NDIS_STATUS,
    pub bytes_written: u32,
    pub bytes_read: u32,
    pub bytes_needed: u32,
    /// The information buffer after the call (query: the first `bytes_written` bytes;
    /// method: the first `bytes_written` bytes; set: the input).
    pub data: Vec<u8>,
}

/// How [`FakeNdis::send_with`] lays a frame out in its NET_BUFFER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeSendLayout {
    /// Unused bytes before the frame in the first MDL (`DataOffset` =
    /// `CurrentMdlOffset`).
    pub lead: usize,
    /// Frame bytes per MDL (the first MDL holds `lead` + up to `chunk` bytes); 0 = one MDL.
    pub chunk: usize,
    /// Unused bytes after the frame in the last MDL.
    pub tail: usize,
}

impl FakeSendLayout {
    /// A 14-byte Ethernet-header MDL followed by one payload MDL, as TCP/IP often sends.
    pub const HEADER_SPLIT: FakeSendLayout = FakeSendLayout {
        lead: 0,
        chunk: 14,
        tail: 0,
    };
}

// ---------------------------------------------------------------------------
// Handles
// ---------------------------------------------------------------------------

const KIND_DRIVER: usize = 1;
const KIND_ADAPTER: usize = 2;
const KIND_CONFIG: usize = 3;
const KIND_DMA: usize = 4;
const KIND_INTERRUPT: usize = 5;
const KIND_WORKITEM: usize = 6;
const KIND_POOL: usize = 7;
const TOKEN_BASE: usize = 0x7E00_0000_0000;
const TOKEN_SHIFT: usize = 36;

/// An opaque NDIS handle: never dereferenced, decoded by [`untoken`].
fn token(kind: usize, n: usize) -> NDIS_HANDLE {
    ptr::without_provenance_mut(TOKEN_BASE | (kind << TOKEN_SHIFT) | (n << 4))
}

fn untoken(h: NDIS_HANDLE, kind: usize) -> Option<usize> {
    let a = h.addr();
    let high = TOKEN_BASE | (kind << TOKEN_SHIFT);
    if a & !((1usize << TOKEN_SHIFT) - 1) == high && a & 0xF == 0 {
        Some((a & ((1usize << TOKEN_SHIFT) - 1)) >> 4)
    } else {
        None
    }
}

/// Fake physical address of BAR `bar` of adapter `adapter`.
fn bar_phys(adapter: usize, bar: usize) -> i64 {
    (((adapter as u64) + 1) << 40 | (bar as u64) << 32) as i64
}

// ---------------------------------------------------------------------------
// Interrupt controller (shared, so a device model on another thread can raise lines)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct IrqReg {
    chars: NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    context: NDIS_HANDLE,
    message_based: bool,
}

#[derive(Default)]
struct IrqSlot {
    reg: Option<IrqReg>,
    /// ISRs to run (message ids), in order.
    pending_isr: VecDeque<u32>,
    /// DPCs queued (message ids), deduplicated like KeInsertQueueDpc.
    pending_dpc: VecDeque<u32>,
    /// An ISR or DPC of this adapter is on the stack: new work is queued, not nested.
    running: bool,
    isr_count: u64,
    dpc_count: u64,
    spurious: u64,
}

// SAFETY: the raw pointers in `IrqReg` are the miniport's handler context and function
// pointers; the fake never dereferences them, it only passes them back to the miniport,
// which (like with real NDIS) must cope with being interrupted on any thread.
unsafe impl Send for IrqSlot {}

type IrqShared = Arc<Mutex<IrqSlot>>;

fn irq_lock(slot: &Mutex<IrqSlot>) -> std::sync::MutexGuard<'_, IrqSlot> {
    match slot.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

enum IrqWork {
    Isr(u32),
    Dpc(u32),
}

/// Raises `message` (line-based: 0): runs the ISR, then the DPC if the ISR asked for one,
/// as NDIS does. Work raised while a handler of this adapter runs is queued and run after
/// it returns (the fake cannot preempt).
fn fire(slot: &Mutex<IrqSlot>, message: u32) {
    {
        let mut s = irq_lock(slot);
        if s.reg.is_none() {
            s.spurious += 1;
            return;
        }
        s.pending_isr.push_back(message);
        if s.running {
            return;
        }
        s.running = true;
    }
    loop {
        let (work, reg) = {
            let mut s = irq_lock(slot);
            let Some(reg) = s.reg else {
                s.pending_isr.clear();
                s.pending_dpc.clear();
                s.running = false;
                return;
            };
            if let Some(m) = s.pending_isr.pop_front() {
                s.isr_count += 1;
                (IrqWork::Isr(m), reg)
            } else if let Some(m) = s.pending_dpc.pop_front() {
                s.dpc_count += 1;
                (IrqWork::Dpc(m), reg)
            } else {
                s.running = false;
                return;
            }
        };
        match work {
            IrqWork::Isr(m) => {
                let mut queue_dpc: BOOLEAN = 0;
                let mut targets: u32 = 0;
                // SAFETY: the handlers and context are what the miniport registered with
                // NdisMRegisterInterruptEx and has not deregistered (checked under the lock
                // just above); the out-pointers are live locals.
                unsafe {
                    if reg.message_based {
                        if let Some(isr) = reg.chars.MessageInterruptHandler {
                            isr(reg.context, m, &mut queue_dpc, &mut targets);
                        }
                    } else if let Some(isr) = reg.chars.InterruptHandler {
                        isr(reg.context, &mut queue_dpc, &mut targets);
                    }
                }
                if queue_dpc != 0 {
                    let mut s = irq_lock(slot);
                    if !s.pending_dpc.contains(&m) {
                        s.pending_dpc.push_back(m);
                    }
                }
            }
            IrqWork::Dpc(m) => {
                let mut throttle = NDIS_RECEIVE_THROTTLE_PARAMETERS {
                    MaxNblsToIndicate: NDIS_INDICATE_ALL_NBLS,
                    MoreNblsPending: 0,
                };
                let throttle_ptr: *mut c_void = (&raw mut throttle).cast();
                // SAFETY: as for the ISR; the throttle parameters are a live local.
                unsafe {
                    if reg.message_based {
                        if let Some(dpc) = reg.chars.MessageInterruptDpcHandler {
                            dpc(
                                reg.context,
                                m,
                                ptr::null_mut(),
                                throttle_ptr,
                                ptr::null_mut(),
                            );
                        }
                    } else if let Some(dpc) = reg.chars.InterruptDpcHandler {
                        dpc(reg.context, ptr::null_mut(), throttle_ptr, ptr::null_mut());
                    }
                }
                if throttle.MoreNblsPending & 1 != 0 {
                    let mut s = irq_lock(slot);
                    if !s.pending_dpc.contains(&m) {
                        s.pending_dpc.push_back(m);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Thread-local state
// ---------------------------------------------------------------------------

struct DriverRec {
    chars: NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    context: NDIS_HANDLE,
    ndk: Option<NDIS_NDK_PROVIDER_CHARACTERISTICS>,
    registered: bool,
}

struct Bar {
    phys: i64,
    va: NonNull<u8>,
    len: usize,
}

/// A NBL the fake sent (owns its NB, MDLs and buffers until completed). MDLs are boxed so
/// their addresses (linked by `Next`) never move.
#[repr(C)]
#[allow(clippy::vec_box)]
struct FakeSendNbl {
    nbl: NET_BUFFER_LIST,
    nb: NET_BUFFER,
    mdls: Vec<Box<MDL>>,
    buffers: Vec<Box<[u8]>>,
}

/// A NBL + NB from `NdisAllocateNetBufferAndNetBufferList`.
#[repr(C)]
struct FakePoolNbl {
    nbl: NET_BUFFER_LIST,
    nb: NET_BUFFER,
    context: Option<Box<[u64]>>,
}

struct AdapterRec {
    handle: NDIS_HANDLE,
    state: FakeAdapterState,
    context: NDIS_HANDLE,
    platform: MockPlatform,
    bars: Vec<Bar>,
    msix_vectors: u32,
    keywords: Vec<(String, u32)>,
    attributes: FakeAttributes,
    irq: IrqShared,
    interrupt_registered: bool,
    /// A `Vec`, not a `Box`: moving a `Box` would invalidate the table pointer NDIS handed
    /// out (Stacked Borrows), moving a `Vec` does not.
    message_table: Option<Vec<u64>>,
    dma_registered: bool,
    mappings: Vec<(usize, u32)>,
    ndk_open: Vec<*mut NDK_ADAPTER>,
    pnp_events: Vec<NET_PNP_EVENT_CODE>,
    sends: BTreeMap<usize, Box<FakeSendNbl>>,
    sent: Vec<NDIS_STATUS>,
    received: Vec<Vec<u8>>,
    status: Vec<(NDIS_STATUS, Vec<u8>)>,
    link_state: Option<NDIS_LINK_STATE>,
}

/// Parameters are boxed: the miniport holds pointers to them while more are added.
#[allow(clippy::vec_box)]
struct ConfigRec {
    adapter: usize,
    params: Vec<Box<NDIS_CONFIGURATION_PARAMETER>>,
    strings: Vec<Box<[u16]>>,
}

struct PoolRec {
    params: NET_BUFFER_LIST_POOL_PARAMETERS,
    live: usize,
}

#[derive(Default)]
struct State {
    calls: Vec<&'static str>,
    violations: Vec<String>,
    driver: Option<DriverRec>,
    driver_object: Option<Box<[u64; 8]>>,
    in_set_options: bool,
    oid_depth: usize,
    adapters: Vec<AdapterRec>,
    configs: BTreeMap<usize, ConfigRec>,
    next_config: usize,
    work_items: BTreeMap<usize, bool>,
    next_work_item: usize,
    work_queue: VecDeque<(usize, NDIS_IO_WORKITEM_ROUTINE, usize)>,
    pools: BTreeMap<usize, PoolRec>,
    next_pool: usize,
    nbls: BTreeMap<usize, usize>,
    mdls: BTreeMap<usize, ()>,
}

impl Drop for State {
    fn drop(&mut self) {
        for (&addr, _) in self.nbls.iter() {
            // SAFETY: every key was produced by `Box::into_raw` of a `FakePoolNbl` and is
            // removed when freed; the miniport is gone (reset / thread exit).
            drop(unsafe { Box::from_raw(ptr::with_exposed_provenance_mut::<FakePoolNbl>(addr)) });
        }
        for (&addr, _) in self.mdls.iter() {
            // SAFETY: as above, for `Box<MDL>` from NdisAllocateMdl.
            drop(unsafe { Box::from_raw(ptr::with_exposed_provenance_mut::<MDL>(addr)) });
        }
    }
}

std::thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Runs `f` on the state. Never call into the miniport inside `f`.
fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

fn log(name: &'static str) {
    with(|s| s.calls.push(name));
}

fn violation(msg: String) {
    std::eprintln!("fake NDIS: violation: {msg}");
    with(|s| s.violations.push(msg));
}

impl State {
    /// The adapter a miniport adapter handle names; a handle of a halted (or failed)
    /// adapter is no longer valid (a violation).
    fn adapter_by_handle(&mut self, h: NDIS_HANDLE) -> Option<usize> {
        let n = untoken(h, KIND_ADAPTER)?;
        let i = n.checked_sub(1)?;
        let state = self.adapters.get(i)?.state;
        if matches!(
            state,
            FakeAdapterState::Halted | FakeAdapterState::InitFailed
        ) {
            let msg = format!("adapter handle used after the adapter was {state:?}");
            std::eprintln!("fake NDIS: violation: {msg}");
            self.violations.push(msg);
            return None;
        }
        Some(i)
    }
}

fn adapter_index(h: NDIS_HANDLE) -> Option<usize> {
    with(|s| s.adapter_by_handle(h))
}

fn adapter_mut<R>(id: FakeAdapterId, f: impl FnOnce(&mut AdapterRec) -> R) -> R {
    with(|s| match s.adapters.get_mut(id.0) {
        Some(a) => f(a),
        None => panic!("fake NDIS: unknown adapter {id:?}"),
    })
}

/// Test-API misuse: NDIS never calls into a halted or failed adapter.
fn assert_live(a: &AdapterRec) {
    assert!(
        !matches!(
            a.state,
            FakeAdapterState::Halted | FakeAdapterState::InitFailed
        ),
        "fake NDIS: the adapter is {:?}",
        a.state
    );
}

fn driver_chars() -> NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    with(|s| match &s.driver {
        Some(d) => d.chars,
        None => panic!("fake NDIS: no miniport driver registered"),
    })
}

fn ascii_eq_ignore_case(a: &[u16], b: &str) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.bytes())
            .all(|(&x, y)| u8::try_from(x).is_ok_and(|x| x.eq_ignore_ascii_case(&y)))
}

/// The system address of an MDL's buffer, as MmGetSystemAddressForMdlSafe returns it.
///
/// # Safety
/// `mdl` is a valid MDL.
unsafe fn mdl_va(mdl: *const MDL) -> *mut u8 {
    // SAFETY: caller.
    let m = unsafe { &*mdl };
    if m.MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        m.MappedSystemVa.cast()
    } else {
        ptr::null_mut()
    }
}

/// An MDL describing `len` bytes of nonpaged memory at `va` (MmBuildMdlForNonPagedPool).
fn build_mdl(va: *mut u8, len: u32) -> MDL {
    let addr = va.addr();
    MDL {
        Next: ptr::null_mut(),
        Size: size_of::<MDL>() as i16,
        MdlFlags: MDL_SOURCE_IS_NONPAGED_POOL,
        AllocationProcessorNumber: 0,
        Reserved: 0,
        Process: ptr::null_mut(),
        MappedSystemVa: va.cast(),
        StartVa: va.wrapping_sub(addr & (PAGE_SIZE - 1)).cast(),
        ByteCount: len,
        ByteOffset: (addr & (PAGE_SIZE - 1)) as u32,
    }
}

/// Walks `DataOffset` bytes into an MDL chain: the (MDL, offset) holding the first byte.
///
/// # Safety
/// `chain` is a valid MDL chain.
unsafe fn seek_mdl(chain: *mut MDL, data_offset: u32) -> (*mut MDL, u32) {
    let mut mdl = chain;
    let mut off = data_offset;
    // SAFETY: caller; every `Next` of a valid chain is valid or null.
    unsafe {
        while !mdl.is_null() && off >= (*mdl).ByteCount && !(*mdl).Next.is_null() {
            off -= (*mdl).ByteCount;
            mdl = (*mdl).Next;
        }
    }
    (mdl, off)
}

/// Copies the used bytes of a NET_BUFFER out, walking its MDLs from `CurrentMdl` /
/// `CurrentMdlOffset`; inconsistencies are reported as violations.
///
/// # Safety
/// `nb` is a valid NET_BUFFER with a valid MDL chain.
unsafe fn nb_bytes(nb: *const NET_BUFFER) -> Vec<u8> {
    // SAFETY: caller; NET_BUFFER_DATA is the only view NDIS writes.
    let d = unsafe { (*nb).NetBufferHeader.NetBufferData };
    // SAFETY: the `DataLength` view is the ULONG NDIS reads (NET_BUFFER_DATA_LENGTH).
    let len = unsafe { d.NbDataLength.DataLength } as usize;
    // SAFETY: caller.
    let (exp_mdl, exp_off) = unsafe { seek_mdl(d.MdlChain, d.DataOffset) };
    if len > 0 && (exp_mdl != d.CurrentMdl || exp_off != d.CurrentMdlOffset) {
        violation(format!(
            "NET_BUFFER CurrentMdl/CurrentMdlOffset ({:p}, {}) disagree with MdlChain + DataOffset {} ({:p}, {})",
            d.CurrentMdl, d.CurrentMdlOffset, d.DataOffset, exp_mdl, exp_off
        ));
    }
    let mut out = Vec::with_capacity(len);
    let mut mdl = d.CurrentMdl;
    let mut off = d.CurrentMdlOffset as usize;
    while out.len() < len {
        if mdl.is_null() {
            violation(format!(
                "NET_BUFFER DataLength {len} exceeds its MDL chain ({} bytes)",
                out.len()
            ));
            break;
        }
        // SAFETY: `mdl` is a valid MDL of the chain (caller).
        let (va, count, next) = unsafe { (mdl_va(mdl), (*mdl).ByteCount as usize, (*mdl).Next) };
        if va.is_null() {
            violation("NET_BUFFER MDL has no system address".to_string());
            break;
        }
        if off > count {
            violation(format!("MDL offset {off} beyond ByteCount {count}"));
            break;
        }
        let take = (count - off).min(len - out.len());
        // SAFETY: the MDL describes `count` readable bytes at `va`; `off + take <= count`.
        out.extend_from_slice(unsafe { core::slice::from_raw_parts(va.add(off), take) });
        off = 0;
        mdl = next;
    }
    out
}

// ---------------------------------------------------------------------------
// The NDIS side
// ---------------------------------------------------------------------------

// SAFETY: every function behaves as its NDIS namesake documents for the arguments the
// miniport may legally pass; handles are tokens the fake decodes and validates, memory it
// hands out stays valid until the matching free.
unsafe impl Ndis for FakeNdis {
    type Platform = MockPlatform;

    unsafe fn platform(
        adapter: NDIS_HANDLE,
        dma: NDIS_HANDLE,
    ) -> Result<MockPlatform, NDIS_STATUS> {
        log("platform");
        with(|s| {
            let i = s
                .adapter_by_handle(adapter)
                .ok_or(NDIS_STATUS_INVALID_PARAMETER)?;
            let a = &s.adapters[i];
            if !a.dma_registered || untoken(dma, KIND_DMA) != Some(i + 1) {
                return Err(NDIS_STATUS_INVALID_PARAMETER);
            }
            Ok(a.platform.clone())
        })
    }

    unsafe fn NdisMRegisterMiniportDriver(
        _driver_object: *mut DRIVER_OBJECT,
        _registry_path: *mut UNICODE_STRING,
        driver_context: NDIS_HANDLE,
        characteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        driver_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        log("NdisMRegisterMiniportDriver");
        if characteristics.is_null() || driver_handle.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NDIS contract: a valid characteristics object of at least Header.Size
        // bytes; the fake reads the revision-1 part first.
        let header = unsafe { (*characteristics).Header };
        if header.Type != NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS
            || header.Revision < NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1
            || header.Size < NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1
        {
            return NDIS_STATUS_BAD_CHARACTERISTICS;
        }
        // SAFETY: as above; revision ≥ 2 with Size ≥ REVISION_2 makes the whole struct
        // readable, otherwise only through CancelOidRequestHandler.
        let mut chars = unsafe {
            if header.Revision >= NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2
                && header.Size >= NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2
            {
                *characteristics
            } else {
                let mut c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS = core::mem::zeroed();
                ptr::copy_nonoverlapping(
                    characteristics.cast::<u8>(),
                    (&raw mut c).cast::<u8>(),
                    NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1 as usize,
                );
                c
            }
        };
        if chars.MajorNdisVersion != 6 {
            return NDIS_STATUS_BAD_VERSION;
        }
        if chars.InitializeHandlerEx.is_none()
            || chars.HaltHandlerEx.is_none()
            || chars.PauseHandler.is_none()
            || chars.RestartHandler.is_none()
            || chars.OidRequestHandler.is_none()
            || chars.SendNetBufferListsHandler.is_none()
            || chars.ReturnNetBufferListsHandler.is_none()
            || chars.CancelSendHandler.is_none()
            || chars.DevicePnPEventNotifyHandler.is_none()
            || chars.ShutdownHandlerEx.is_none()
            || chars.CancelOidRequestHandler.is_none()
        {
            return NDIS_STATUS_BAD_CHARACTERISTICS;
        }
        if header.Revision < NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 {
            chars.DirectOidRequestHandler = None;
            chars.CancelDirectOidRequestHandler = None;
        }
        let handle = token(KIND_DRIVER, 1);
        let dup = with(|s| {
            if s.driver.as_ref().is_some_and(|d| d.registered) {
                return true;
            }
            s.driver = Some(DriverRec {
                chars,
                context: driver_context,
                ndk: None,
                registered: true,
            });
            s.in_set_options = true;
            false
        });
        if dup {
            violation("NdisMRegisterMiniportDriver called twice".to_string());
            return NDIS_STATUS_FAILURE;
        }
        // SAFETY: checked non-null; the caller's out-parameter.
        unsafe { *driver_handle = handle };
        let status = match chars.SetOptionsHandler {
            // SAFETY: the miniport's MiniportSetOptions, called as NDIS does, inside
            // registration with the driver handle and context.
            Some(set_options) => unsafe { set_options(handle, driver_context) },
            None => NDIS_STATUS_SUCCESS,
        };
        with(|s| {
            s.in_set_options = false;
            if status != NDIS_STATUS_SUCCESS {
                s.driver = None;
            }
        });
        status
    }

    unsafe fn NdisMDeregisterMiniportDriver(driver_handle: NDIS_HANDLE) {
        log("NdisMDeregisterMiniportDriver");
        if untoken(driver_handle, KIND_DRIVER) != Some(1) {
            violation("NdisMDeregisterMiniportDriver with a bad handle".to_string());
            return;
        }
        let running = with(|s| {
            if let Some(d) = s.driver.as_mut() {
                d.registered = false;
            }
            s.adapters
                .iter()
                .filter(|a| {
                    !matches!(
                        a.state,
                        FakeAdapterState::Halted | FakeAdapterState::InitFailed
                    )
                })
                .count()
        });
        if running != 0 {
            violation(format!(
                "NdisMDeregisterMiniportDriver with {running} adapter(s) not halted"
            ));
        }
    }

    unsafe fn NdisSetOptionalHandlers(
        ndis_handle: NDIS_HANDLE,
        handlers: *mut NDIS_DRIVER_OPTIONAL_HANDLERS,
    ) -> NDIS_STATUS {
        log("NdisSetOptionalHandlers");
        if untoken(ndis_handle, KIND_DRIVER) != Some(1) || handlers.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NDIS contract: an object starting with an NDIS_OBJECT_HEADER.
        let header = unsafe { (*handlers).Header };
        if header.Type != NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS
            || header.Revision != NDIS_NDK_PROVIDER_CHARACTERISTICS_REVISION_1
            || header.Size != NDIS_SIZEOF_NDK_PROVIDER_CHARACTERISTICS_REVISION_1
        {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: the header says this is an NDIS_NDK_PROVIDER_CHARACTERISTICS of full size.
        let ndk = unsafe { *handlers.cast::<NDIS_NDK_PROVIDER_CHARACTERISTICS>() };
        let in_set_options = with(|s| {
            if let Some(d) = s.driver.as_mut() {
                d.ndk = Some(ndk);
            }
            s.in_set_options
        });
        if !in_set_options {
            violation("NdisSetOptionalHandlers outside MiniportSetOptions".to_string());
        }
        NDIS_STATUS_SUCCESS
    }

    unsafe fn NdisMSetMiniportAttributes(
        adapter: NDIS_HANDLE,
        attributes: *mut NDIS_MINIPORT_ADAPTER_ATTRIBUTES,
    ) -> NDIS_STATUS {
        log("NdisMSetMiniportAttributes");
        let Some(i) = adapter_index(adapter) else {
            violation("NdisMSetMiniportAttributes with a bad adapter handle".to_string());
            return NDIS_STATUS_INVALID_PARAMETER;
        };
        if attributes.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: every attributes object starts with an NDIS_OBJECT_HEADER; the miniport
        // passes a pointer to one member-sized object, so only that much is read.
        let header = unsafe { attributes.cast::<NDIS_OBJECT_HEADER>().read() };
        match header.Type {
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES => {
                if header.Revision < 1
                    || header.Size < NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1
                {
                    return NDIS_STATUS_INVALID_PARAMETER;
                }
                // SAFETY: header checked: a full registration attributes object.
                let reg = unsafe {
                    attributes
                        .cast::<NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES>()
                        .read()
                };
                let ok = with(|s| {
                    let a = &mut s.adapters[i];
                    a.context = reg.MiniportAdapterContext;
                    a.attributes.registration = Some(reg);
                    a.state == FakeAdapterState::Initializing
                });
                if !ok {
                    violation(
                        "registration attributes set outside MiniportInitializeEx".to_string(),
                    );
                }
                NDIS_STATUS_SUCCESS
            }
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES => {
                if header.Revision < 1
                    || header.Size < NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_1
                {
                    return NDIS_STATUS_INVALID_PARAMETER;
                }
                // SAFETY: header checked: a general attributes object of at least
                // revision-1 size; the revision-2 tail is only read when present.
                let gen = unsafe {
                    if header.Revision >= 2
                        && header.Size >= NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2
                    {
                        attributes
                            .cast::<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES>()
                            .read()
                    } else {
                        let mut g: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES = core::mem::zeroed();
                        ptr::copy_nonoverlapping(
                            attributes.cast::<u8>(),
                            (&raw mut g).cast::<u8>(),
                            usize::from(NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_1),
                        );
                        g
                    }
                };
                let n = gen.SupportedOidListLength as usize / size_of::<NDIS_OID>();
                let oids = if gen.SupportedOidList.is_null() || n == 0 {
                    Vec::new()
                } else {
                    // SAFETY: NDIS contract: `SupportedOidListLength` bytes of OIDs.
                    unsafe { core::slice::from_raw_parts(gen.SupportedOidList, n) }.to_vec()
                };
                let has_reg = with(|s| {
                    let a = &mut s.adapters[i];
                    if a.attributes.registration.is_none() {
                        return false;
                    }
                    a.attributes.general = Some(gen);
                    a.attributes.supported_oids = oids;
                    true
                });
                if !has_reg {
                    violation("general attributes before registration attributes".to_string());
                    return NDIS_STATUS_FAILURE;
                }
                NDIS_STATUS_SUCCESS
            }
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NDK_ATTRIBUTES => {
                if header.Revision < NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1
                    || header.Size < NDIS_SIZEOF_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1
                {
                    return NDIS_STATUS_INVALID_PARAMETER;
                }
                // SAFETY: header checked.
                let ndk = unsafe {
                    attributes
                        .cast::<NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES>()
                        .read()
                };
                let mut capabilities = None;
                let mut adapter_info = None;
                if !ndk.NdkCapabilities.is_null() {
                    // SAFETY: NDIS contract: a valid NDIS_NDK_CAPABILITIES.
                    let caps = unsafe { *ndk.NdkCapabilities };
                    if caps.Header.Type != NDIS_OBJECT_TYPE_DEFAULT
                        || caps.Header.Revision < NDIS_NDK_CAPABILITIES_REVISION_1
                        || caps.Header.Size < NDIS_SIZEOF_NDK_CAPABILITIES_REVISION_1
                    {
                        return NDIS_STATUS_INVALID_PARAMETER;
                    }
                    if !caps.NdkInfo.is_null() {
                        // SAFETY: NDIS contract: a valid NDK_ADAPTER_INFO.
                        adapter_info = Some(unsafe { *caps.NdkInfo });
                    }
                    capabilities = Some(caps);
                }
                with(|s| {
                    s.adapters[i].attributes.ndk = Some(FakeNdkAttributes {
                        enabled: ndk.Enabled != 0,
                        capabilities,
                        adapter_info,
                    })
                });
                NDIS_STATUS_SUCCESS
            }
            _ => NDIS_STATUS_INVALID_PARAMETER,
        }
    }

    unsafe fn NdisOpenConfigurationEx(
        config_object: *mut NDIS_CONFIGURATION_OBJECT,
        config_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        log("NdisOpenConfigurationEx");
        if config_object.is_null() || config_handle.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NDIS contract: a valid configuration object.
        let obj = unsafe { *config_object };
        if obj.Header.Type != NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT
            || obj.Header.Revision < NDIS_CONFIGURATION_OBJECT_REVISION_1
            || obj.Header.Size < NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1
        {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        let handle = with(|s| {
            let i = s.adapter_by_handle(obj.NdisHandle)?;
            s.next_config += 1;
            let n = s.next_config;
            s.configs.insert(
                n,
                ConfigRec {
                    adapter: i,
                    params: Vec::new(),
                    strings: Vec::new(),
                },
            );
            Some(token(KIND_CONFIG, n))
        });
        match handle {
            Some(h) => {
                // SAFETY: checked non-null; the caller's out-parameter.
                unsafe { *config_handle = h };
                NDIS_STATUS_SUCCESS
            }
            None => NDIS_STATUS_FAILURE,
        }
    }

    unsafe fn NdisReadConfiguration(
        status: *mut NDIS_STATUS,
        value: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        config_handle: NDIS_HANDLE,
        keyword: *mut NDIS_STRING,
        parameter_type: NDIS_PARAMETER_TYPE,
    ) {
        log("NdisReadConfiguration");
        if status.is_null() || value.is_null() || keyword.is_null() {
            violation("NdisReadConfiguration with a null argument".to_string());
            return;
        }
        // SAFETY: NDIS contract: a valid counted string of `Length` bytes.
        let key: Vec<u16> = unsafe {
            let k = *keyword;
            if k.Buffer.is_null() {
                Vec::new()
            } else {
                core::slice::from_raw_parts(k.Buffer, usize::from(k.Length) / 2).to_vec()
            }
        };
        let result = with(|s| {
            let n = untoken(config_handle, KIND_CONFIG)?;
            let adapter = s.configs.get(&n)?.adapter;
            let v = s.adapters[adapter]
                .keywords
                .iter()
                .find(|(name, _)| ascii_eq_ignore_case(&key, name))
                .map(|&(_, v)| v)?;
            let rec = s.configs.get_mut(&n)?;
            let mut p = Box::new(NDIS_CONFIGURATION_PARAMETER {
                ParameterType: parameter_type,
                ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA { IntegerData: v },
            });
            match parameter_type {
                NdisParameterInteger | NdisParameterHexInteger => {}
                NdisParameterString => {
                    let mut text: Box<[u16]> = v.to_string().encode_utf16().collect();
                    let bytes = (text.len() * 2) as u16;
                    p.ParameterData = NDIS_CONFIGURATION_PARAMETER_DATA {
                        StringData: UNICODE_STRING {
                            Length: bytes,
                            MaximumLength: bytes,
                            Buffer: text.as_mut_ptr(),
                        },
                    };
                    rec.strings.push(text);
                }
                _ => return None,
            }
            let raw: *mut NDIS_CONFIGURATION_PARAMETER = &mut *p;
            rec.params.push(p);
            Some(raw)
        });
        // SAFETY: checked non-null; the caller's out-parameters.
        unsafe {
            match result {
                Some(p) => {
                    *value = p;
                    *status = NDIS_STATUS_SUCCESS;
                }
                None => {
                    *value = ptr::null_mut();
                    *status = NDIS_STATUS_FAILURE;
                }
            }
        }
    }

    unsafe fn NdisCloseConfiguration(config_handle: NDIS_HANDLE) {
        log("NdisCloseConfiguration");
        let removed =
            with(|s| untoken(config_handle, KIND_CONFIG).and_then(|n| s.configs.remove(&n)));
        if removed.is_none() {
            violation("NdisCloseConfiguration of an unknown handle".to_string());
        }
    }

    unsafe fn NdisMMapIoSpace(
        virtual_address: *mut *mut c_void,
        adapter: NDIS_HANDLE,
        physical_address: NDIS_PHYSICAL_ADDRESS,
        length: u32,
    ) -> NDIS_STATUS {
        log("NdisMMapIoSpace");
        if virtual_address.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        let va = with(|s| {
            let i = s.adapter_by_handle(adapter)?;
            let a = &mut s.adapters[i];
            let b = a.bars.iter().find(|b| {
                physical_address >= b.phys
                    && (physical_address - b.phys) as u64 + u64::from(length) <= b.len as u64
            })?;
            let va =
                b.va.as_ptr()
                    .wrapping_add((physical_address - b.phys) as usize);
            a.mappings.push((va.expose_provenance(), length));
            Some(va)
        });
        // SAFETY: checked non-null; the caller's out-parameter.
        unsafe {
            match va {
                Some(va) => {
                    *virtual_address = va.cast();
                    NDIS_STATUS_SUCCESS
                }
                None => {
                    *virtual_address = ptr::null_mut();
                    NDIS_STATUS_RESOURCE_CONFLICT
                }
            }
        }
    }

    unsafe fn NdisMUnmapIoSpace(adapter: NDIS_HANDLE, virtual_address: *mut c_void, length: u32) {
        log("NdisMUnmapIoSpace");
        let ok = with(|s| {
            let Some(i) = s.adapter_by_handle(adapter) else {
                return false;
            };
            let m = &mut s.adapters[i].mappings;
            match m
                .iter()
                .position(|&(va, len)| va == virtual_address.addr() && len == length)
            {
                Some(p) => {
                    m.remove(p);
                    true
                }
                None => false,
            }
        });
        if !ok {
            violation(format!(
                "NdisMUnmapIoSpace of {virtual_address:p} len {length}: not a mapping of this adapter"
            ));
        }
    }

    unsafe fn NdisMRegisterScatterGatherDma(
        adapter: NDIS_HANDLE,
        description: *mut NDIS_SG_DMA_DESCRIPTION,
        dma_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        log("NdisMRegisterScatterGatherDma");
        if description.is_null() || dma_handle.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NDIS contract: a valid description; NDIS writes ScatterGatherListSize.
        let header = unsafe { (*description).Header };
        if header.Type != NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION
            || header.Revision < NDIS_SG_DMA_DESCRIPTION_REVISION_1
            || header.Size < NDIS_SIZEOF_SG_DMA_DESCRIPTION_REVISION_1
        {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        let r = with(|s| {
            let i = s.adapter_by_handle(adapter)?;
            let a = &mut s.adapters[i];
            if a.dma_registered {
                return Some(Err(()));
            }
            a.dma_registered = true;
            Some(Ok(token(KIND_DMA, i + 1)))
        });
        match r {
            Some(Ok(h)) => {
                // SAFETY: checked non-null.
                unsafe {
                    (*description).ScatterGatherListSize = 0x1000;
                    *dma_handle = h;
                }
                NDIS_STATUS_SUCCESS
            }
            Some(Err(())) => {
                violation("NdisMRegisterScatterGatherDma twice".to_string());
                NDIS_STATUS_FAILURE
            }
            None => NDIS_STATUS_INVALID_PARAMETER,
        }
    }

    unsafe fn NdisMDeregisterScatterGatherDma(dma_handle: NDIS_HANDLE) {
        log("NdisMDeregisterScatterGatherDma");
        let ok = with(|s| {
            let Some(i) = untoken(dma_handle, KIND_DMA).and_then(|n| n.checked_sub(1)) else {
                return false;
            };
            match s.adapters.get_mut(i) {
                Some(a) if a.dma_registered => {
                    a.dma_registered = false;
                    true
                }
                _ => false,
            }
        });
        if !ok {
            violation("NdisMDeregisterScatterGatherDma of an unknown handle".to_string());
        }
    }

    unsafe fn NdisMRegisterInterruptEx(
        adapter: NDIS_HANDLE,
        interrupt_context: NDIS_HANDLE,
        characteristics: *mut NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        interrupt_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        log("NdisMRegisterInterruptEx");
        if characteristics.is_null() || interrupt_handle.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NDIS contract: valid characteristics; NDIS writes InterruptType and
        // MessageInfoTable back.
        let chars = unsafe { *characteristics };
        if chars.Header.Type != NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT
            || chars.Header.Revision < NDIS_MINIPORT_INTERRUPT_REVISION_1
            || chars.Header.Size < NDIS_SIZEOF_MINIPORT_INTERRUPT_CHARACTERISTICS_REVISION_1
        {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        let Some(i) = adapter_index(adapter) else {
            return NDIS_STATUS_INVALID_PARAMETER;
        };
        let (vectors, already) = with(|s| {
            (
                s.adapters[i].msix_vectors,
                s.adapters[i].interrupt_registered,
            )
        });
        if already {
            violation("NdisMRegisterInterruptEx twice".to_string());
            return NDIS_STATUS_FAILURE;
        }
        let message_based = vectors > 0
            && chars.MsiSupported != 0
            && chars.MessageInterruptHandler.is_some()
            && chars.MessageInterruptDpcHandler.is_some();
        if !message_based
            && (chars.InterruptHandler.is_none() || chars.InterruptDpcHandler.is_none())
        {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        let mut table = None;
        if message_based {
            let entries = vectors as usize;
            let bytes = offset_of!(IO_INTERRUPT_MESSAGE_INFO, MessageInfo)
                + entries * size_of::<IO_INTERRUPT_MESSAGE_INFO_ENTRY>();
            let mut buf = vec![0u64; bytes.div_ceil(8)];
            let info = buf.as_mut_ptr().cast::<IO_INTERRUPT_MESSAGE_INFO>();
            // SAFETY: `buf` is 8-aligned and large enough for the header and `entries`
            // entries (computed above); it is zeroed, a valid bit pattern.
            unsafe {
                (*info).UnifiedIrql = 5;
                (*info).MessageCount = vectors;
                let first =
                    (&raw mut (*info).MessageInfo).cast::<IO_INTERRUPT_MESSAGE_INFO_ENTRY>();
                for m in 0..entries {
                    let e = &mut *first.add(m);
                    e.MessageAddress = 0xFEE0_0000;
                    e.TargetProcessorSet = 1;
                    e.MessageData = 0x40 + m as u32;
                    e.Vector = 0x40 + m as u32;
                    e.Irql = 5;
                    e.Mode = Latched;
                }
                (*characteristics).InterruptType = NDIS_CONNECT_MESSAGE_BASED;
                (*characteristics).MessageInfoTable = info;
            }
            table = Some(buf);
        } else {
            // SAFETY: checked non-null.
            unsafe {
                (*characteristics).InterruptType = NDIS_CONNECT_LINE_BASED;
                (*characteristics).MessageInfoTable = ptr::null_mut();
            }
        }
        let slot = with(|s| {
            let a = &mut s.adapters[i];
            a.interrupt_registered = true;
            a.message_table = table;
            a.irq.clone()
        });
        irq_lock(&slot).reg = Some(IrqReg {
            chars,
            context: interrupt_context,
            message_based,
        });
        // SAFETY: checked non-null.
        unsafe { *interrupt_handle = token(KIND_INTERRUPT, i + 1) };
        NDIS_STATUS_SUCCESS
    }

    unsafe fn NdisMDeregisterInterruptEx(interrupt_handle: NDIS_HANDLE) {
        log("NdisMDeregisterInterruptEx");
        let slot = with(|s| {
            let i = untoken(interrupt_handle, KIND_INTERRUPT)?.checked_sub(1)?;
            let a = s.adapters.get_mut(i)?;
            if !a.interrupt_registered {
                return None;
            }
            a.interrupt_registered = false;
            a.message_table = None;
            Some(a.irq.clone())
        });
        match slot {
            Some(slot) => irq_lock(&slot).reg = None,
            None => violation("NdisMDeregisterInterruptEx of an unknown handle".to_string()),
        }
    }

    unsafe fn NdisAllocateIoWorkItem(ndis_object: NDIS_HANDLE) -> NDIS_HANDLE {
        log("NdisAllocateIoWorkItem");
        with(|s| {
            if s.adapter_by_handle(ndis_object).is_none()
                && untoken(ndis_object, KIND_DRIVER).is_none()
            {
                return ptr::null_mut();
            }
            s.next_work_item += 1;
            let n = s.next_work_item;
            s.work_items.insert(n, false);
            token(KIND_WORKITEM, n)
        })
    }

    unsafe fn NdisQueueIoWorkItem(
        work_item: NDIS_HANDLE,
        routine: NDIS_IO_WORKITEM_ROUTINE,
        context: *mut c_void,
    ) {
        log("NdisQueueIoWorkItem");
        let err = with(|s| {
            let Some(n) = untoken(work_item, KIND_WORKITEM) else {
                return Some("NdisQueueIoWorkItem of an unknown work item");
            };
            match s.work_items.get_mut(&n) {
                None => Some("NdisQueueIoWorkItem of an unknown work item"),
                Some(true) => Some("NdisQueueIoWorkItem of a work item already queued"),
                Some(queued) => {
                    *queued = true;
                    s.work_queue
                        .push_back((n, routine, context.expose_provenance()));
                    None
                }
            }
        });
        if let Some(e) = err {
            violation(e.to_string());
        }
    }

    unsafe fn NdisFreeIoWorkItem(work_item: NDIS_HANDLE) {
        log("NdisFreeIoWorkItem");
        let err = with(|s| {
            let Some(n) = untoken(work_item, KIND_WORKITEM) else {
                return Some("NdisFreeIoWorkItem of an unknown work item");
            };
            match s.work_items.remove(&n) {
                None => Some("NdisFreeIoWorkItem of an unknown work item"),
                Some(true) => Some("NdisFreeIoWorkItem of a queued work item"),
                Some(false) => None,
            }
        });
        if let Some(e) = err {
            violation(e.to_string());
        }
    }

    unsafe fn NdisMNetPnPEvent(
        adapter: NDIS_HANDLE,
        notification: *mut NET_PNP_EVENT_NOTIFICATION,
    ) -> NDIS_STATUS {
        log("NdisMNetPnPEvent");
        let Some(i) = adapter_index(adapter) else {
            return NDIS_STATUS_INVALID_PARAMETER;
        };
        if notification.is_null() {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NDIS contract: a valid notification.
        let n = unsafe { *notification };
        if n.Header.Type != NDIS_OBJECT_TYPE_DEFAULT
            || n.Header.Revision < NET_PNP_EVENT_NOTIFICATION_REVISION_1
            || n.Header.Size < NDIS_SIZEOF_NET_PNP_EVENT_NOTIFICATION_REVISION_1
        {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        let event = n.NetPnPEvent.NetEvent;
        let in_oid = with(|s| {
            s.adapters[i].pnp_events.push(event);
            s.oid_depth > 0
        });
        if in_oid {
            violation(
                "NdisMNetPnPEvent called from inside MiniportOidRequest (deadlocks NDIS)"
                    .to_string(),
            );
        }
        if event == NetEventNDKDisable {
            // NDIS closes every NDK adapter of the miniport before the event completes.
            close_all_ndk(FakeAdapterId(i));
        }
        NDIS_STATUS_SUCCESS
    }

    unsafe fn NdisMPauseComplete(adapter: NDIS_HANDLE) {
        log("NdisMPauseComplete");
        let Some(i) = adapter_index(adapter) else {
            violation("NdisMPauseComplete with a bad adapter handle".to_string());
            return;
        };
        let (state, outstanding) = with(|s| {
            let a = &mut s.adapters[i];
            let state = a.state;
            if state == FakeAdapterState::Pausing {
                a.state = FakeAdapterState::Paused;
            }
            (state, a.sends.len())
        });
        if state != FakeAdapterState::Pausing {
            violation(format!("NdisMPauseComplete on a {state:?} adapter"));
        } else if outstanding != 0 {
            violation(format!(
                "NdisMPauseComplete with {outstanding} send(s) outstanding"
            ));
        }
    }

    unsafe fn NdisMIndicateStatusEx(adapter: NDIS_HANDLE, indication: *mut NDIS_STATUS_INDICATION) {
        log("NdisMIndicateStatusEx");
        let Some(i) = adapter_index(adapter) else {
            violation("NdisMIndicateStatusEx with a bad adapter handle".to_string());
            return;
        };
        if indication.is_null() {
            violation("NdisMIndicateStatusEx with a null indication".to_string());
            return;
        }
        // SAFETY: NDIS contract: a valid indication with `StatusBufferSize` bytes at
        // `StatusBuffer`.
        let ind = unsafe { *indication };
        if ind.Header.Type != NDIS_OBJECT_TYPE_STATUS_INDICATION
            || ind.Header.Revision < NDIS_STATUS_INDICATION_REVISION_1
            || ind.Header.Size < NDIS_SIZEOF_STATUS_INDICATION_REVISION_1
        {
            violation("NdisMIndicateStatusEx with a bad header".to_string());
            return;
        }
        if ind.SourceHandle != adapter {
            violation("NdisMIndicateStatusEx: SourceHandle is not the adapter handle".to_string());
        }
        let bytes = if ind.StatusBuffer.is_null() || ind.StatusBufferSize == 0 {
            Vec::new()
        } else {
            // SAFETY: as above.
            unsafe {
                core::slice::from_raw_parts(
                    ind.StatusBuffer.cast::<u8>(),
                    ind.StatusBufferSize as usize,
                )
            }
            .to_vec()
        };
        let mut link = None;
        if ind.StatusCode == NDIS_STATUS_LINK_STATE {
            if bytes.len() >= size_of::<NDIS_LINK_STATE>() {
                // SAFETY: at least size_of::<NDIS_LINK_STATE>() bytes of plain data.
                link =
                    Some(unsafe { ptr::read_unaligned(bytes.as_ptr().cast::<NDIS_LINK_STATE>()) });
            } else {
                violation("NDIS_STATUS_LINK_STATE with a short NDIS_LINK_STATE".to_string());
            }
        }
        with(|s| {
            let a = &mut s.adapters[i];
            if link.is_some() {
                a.link_state = link;
            }
            a.status.push((ind.StatusCode, bytes));
        });
    }

    unsafe fn NdisAllocateNetBufferListPool(
        ndis_handle: NDIS_HANDLE,
        parameters: *mut NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE {
        log("NdisAllocateNetBufferListPool");
        if parameters.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: NDIS contract: valid parameters.
        let p = unsafe { *parameters };
        if p.Header.Type != NDIS_OBJECT_TYPE_DEFAULT
            || p.Header.Revision < NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1
            || p.Header.Size < NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1
        {
            return ptr::null_mut();
        }
        with(|s| {
            if s.adapter_by_handle(ndis_handle).is_none()
                && untoken(ndis_handle, KIND_DRIVER).is_none()
            {
                return ptr::null_mut();
            }
            s.next_pool += 1;
            let n = s.next_pool;
            s.pools.insert(n, PoolRec { params: p, live: 0 });
            token(KIND_POOL, n)
        })
    }

    unsafe fn NdisFreeNetBufferListPool(pool: NDIS_HANDLE) {
        log("NdisFreeNetBufferListPool");
        let err = with(|s| {
            let Some(n) = untoken(pool, KIND_POOL) else {
                return Some("NdisFreeNetBufferListPool of an unknown pool".to_string());
            };
            match s.pools.remove(&n) {
                None => Some("NdisFreeNetBufferListPool of an unknown pool".to_string()),
                Some(p) if p.live != 0 => Some(format!(
                    "NdisFreeNetBufferListPool with {} NBL(s) still allocated",
                    p.live
                )),
                Some(_) => None,
            }
        });
        if let Some(e) = err {
            violation(e);
        }
    }

    unsafe fn NdisAllocateNetBufferAndNetBufferList(
        pool: NDIS_HANDLE,
        context_size: u16,
        context_backfill: u16,
        mdl_chain: *mut MDL,
        data_offset: u32,
        data_length: usize,
    ) -> *mut NET_BUFFER_LIST {
        log("NdisAllocateNetBufferAndNetBufferList");
        let ok = with(|s| {
            let n = untoken(pool, KIND_POOL)?;
            let p = s.pools.get_mut(&n)?;
            if p.params.fAllocateNetBuffer == 0 {
                return Some(false);
            }
            p.live += 1;
            Some(true)
        });
        match ok {
            None => {
                violation("NdisAllocateNetBufferAndNetBufferList from an unknown pool".to_string());
                return ptr::null_mut();
            }
            Some(false) => {
                violation(
                    "NdisAllocateNetBufferAndNetBufferList from a pool without fAllocateNetBuffer"
                        .to_string(),
                );
                return ptr::null_mut();
            }
            Some(true) => {}
        }
        // SAFETY: all-zero is a valid NET_BUFFER_LIST / NET_BUFFER (pointers, integers
        // and unions of them).
        let mut b: Box<FakePoolNbl> = Box::new(FakePoolNbl {
            nbl: unsafe { core::mem::zeroed() },
            nb: unsafe { core::mem::zeroed() },
            context: None,
        });
        if context_size != 0 || context_backfill != 0 {
            let total = usize::from(context_size) + usize::from(context_backfill);
            let words = (size_of::<NET_BUFFER_LIST_CONTEXT>() + total).div_ceil(8);
            let mut ctx = vec![0u64; words].into_boxed_slice();
            let c = ctx.as_mut_ptr().cast::<NET_BUFFER_LIST_CONTEXT>();
            // SAFETY: `ctx` is 8-aligned, zeroed and holds the context header.
            unsafe {
                (*c).Size = total as u16;
                (*c).Offset = context_backfill;
            }
            b.nbl.Context = c;
            b.context = Some(ctx);
        }
        // SAFETY: NDIS contract: `mdl_chain` is null or a valid MDL chain.
        let (cur, cur_off) = unsafe { seek_mdl(mdl_chain, data_offset) };
        b.nbl.NdisPoolHandle = pool;
        let nb: *mut NET_BUFFER = &mut b.nb;
        b.nbl.NetBufferListHeader.NetBufferListData = NET_BUFFER_LIST_DATA {
            Next: ptr::null_mut(),
            FirstNetBuffer: nb,
        };
        b.nb.NdisPoolHandle = pool;
        b.nb.NetBufferHeader.NetBufferData = NET_BUFFER_DATA {
            Next: ptr::null_mut(),
            CurrentMdl: cur,
            CurrentMdlOffset: cur_off,
            NbDataLength: NET_BUFFER_DATA_LENGTH {
                stDataLength: data_length,
            },
            MdlChain: mdl_chain,
            DataOffset: data_offset,
        };
        let raw = Box::into_raw(b);
        with(|s| s.nbls.insert(raw.expose_provenance(), 0));
        raw.cast()
    }

    unsafe fn NdisFreeNetBufferList(nbl: *mut NET_BUFFER_LIST) {
        log("NdisFreeNetBufferList");
        let addr = nbl.addr();
        let known = with(|s| s.nbls.remove(&addr).is_some());
        if !known {
            violation(format!(
                "NdisFreeNetBufferList of {nbl:p}: not allocated by NDIS"
            ));
            return;
        }
        // SAFETY: the address was produced by `Box::into_raw` of a `FakePoolNbl` and was
        // live (just removed from the set).
        let b = unsafe { Box::from_raw(ptr::with_exposed_provenance_mut::<FakePoolNbl>(addr)) };
        let pool = b.nbl.NdisPoolHandle;
        with(|s| {
            if let Some(p) = untoken(pool, KIND_POOL).and_then(|n| s.pools.get_mut(&n)) {
                p.live = p.live.saturating_sub(1);
            }
        });
        drop(b);
    }

    unsafe fn NdisAllocateMdl(ndis_handle: NDIS_HANDLE, va: *mut c_void, length: u32) -> *mut MDL {
        log("NdisAllocateMdl");
        let ok = with(|s| {
            s.adapter_by_handle(ndis_handle).is_some()
                || untoken(ndis_handle, KIND_DRIVER).is_some()
        });
        if !ok || va.is_null() {
            return ptr::null_mut();
        }
        let raw = Box::into_raw(Box::new(build_mdl(va.cast(), length)));
        with(|s| s.mdls.insert(raw.expose_provenance(), ()));
        raw
    }

    unsafe fn NdisFreeMdl(mdl: *mut MDL) {
        log("NdisFreeMdl");
        let addr = mdl.addr();
        if with(|s| s.mdls.remove(&addr).is_none()) {
            violation(format!(
                "NdisFreeMdl of {mdl:p}: not allocated by NdisAllocateMdl"
            ));
            return;
        }
        // SAFETY: produced by `Box::into_raw` in NdisAllocateMdl and live until now.
        drop(unsafe { Box::from_raw(ptr::with_exposed_provenance_mut::<MDL>(addr)) });
    }

    unsafe fn MmGetSystemAddressForMdlSafe(mdl: *mut MDL) -> *mut c_void {
        log("MmGetSystemAddressForMdlSafe");
        if mdl.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: caller's contract: a valid MDL.
        unsafe { mdl_va(mdl) }.cast()
    }

    unsafe fn NdisMIndicateReceiveNetBufferLists(
        adapter: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        _port: NDIS_PORT_NUMBER,
        count: u32,
        flags: u32,
    ) {
        log("NdisMIndicateReceiveNetBufferLists");
        let Some(i) = adapter_index(adapter) else {
            violation("NdisMIndicateReceiveNetBufferLists with a bad adapter handle".to_string());
            return;
        };
        let state = with(|s| s.adapters[i].state);
        if matches!(
            state,
            FakeAdapterState::Initializing | FakeAdapterState::Paused
        ) {
            violation(format!("receive indicated while the adapter is {state:?}"));
        }
        let mut frames = Vec::new();
        let mut n = 0u32;
        let mut p = nbls;
        while !p.is_null() {
            n += 1;
            // SAFETY: NDIS contract: a valid NBL chain, each with a valid NB chain.
            unsafe {
                if (*p).SourceHandle != adapter {
                    violation("received NBL SourceHandle is not the adapter handle".to_string());
                }
                let data = (*p).NetBufferListHeader.NetBufferListData;
                let mut nb = data.FirstNetBuffer;
                if nb.is_null() {
                    violation("received NBL without a NET_BUFFER".to_string());
                }
                while !nb.is_null() {
                    frames.push(nb_bytes(nb));
                    nb = (*nb).NetBufferHeader.NetBufferData.Next;
                }
                p = data.Next;
            }
        }
        if n != count {
            violation(format!(
                "NdisMIndicateReceiveNetBufferLists: NumberOfNetBufferLists {count}, chain has {n}"
            ));
        }
        let (ctx, ret) = with(|s| {
            s.adapters[i].received.extend(frames);
            (
                s.adapters[i].context,
                s.driver
                    .as_ref()
                    .and_then(|d| d.chars.ReturnNetBufferListsHandler),
            )
        });
        if flags & NDIS_RECEIVE_FLAGS_RESOURCES == 0 && !nbls.is_null() {
            let return_flags = if flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL != 0 {
                NDIS_RETURN_FLAGS_DISPATCH_LEVEL
            } else {
                0
            };
            if let Some(ret) = ret {
                // SAFETY: the miniport's MiniportReturnNetBufferLists with the chain it
                // indicated, as NDIS returns it.
                unsafe { ret(ctx, nbls, return_flags) };
            }
        }
    }

    unsafe fn NdisMSendNetBufferListsComplete(
        adapter: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        _flags: u32,
    ) {
        log("NdisMSendNetBufferListsComplete");
        let Some(i) = adapter_index(adapter) else {
            violation("NdisMSendNetBufferListsComplete with a bad adapter handle".to_string());
            return;
        };
        let mut p = nbls;
        while !p.is_null() {
            // SAFETY: NDIS contract: a chain of NBLs NDIS sent to this miniport.
            let (next, status) =
                unsafe { ((*p).NetBufferListHeader.NetBufferListData.Next, (*p).Status) };
            let addr = p.addr();
            let found = with(|s| {
                let a = &mut s.adapters[i];
                let b = a.sends.remove(&addr)?;
                a.sent.push(status);
                Some(b)
            });
            match found {
                Some(b) => drop(b),
                None => {
                    violation(format!(
                        "NdisMSendNetBufferListsComplete of {p:p}: not an outstanding send"
                    ));
                    break;
                }
            }
            p = next;
        }
    }
}

/// Closes every NDK adapter the fake opened on `id`, through CloseNDKAdapterHandler.
fn close_all_ndk(id: FakeAdapterId) {
    let (open, ctx, ndk) = with(|s| {
        let ndk = s.driver.as_ref().and_then(|d| d.ndk);
        let a = &mut s.adapters[id.0];
        (core::mem::take(&mut a.ndk_open), a.context, ndk)
    });
    if let Some(ndk) = ndk {
        for p in open {
            log("CloseNDKAdapterHandler");
            // SAFETY: the miniport's close handler, with an adapter its open handler
            // returned and nobody closed yet.
            unsafe { (ndk.CloseNDKAdapterHandler)(ctx, p) };
        }
    }
}

fn default_header(t: u8, revision: u8, size: u16) -> NDIS_OBJECT_HEADER {
    NDIS_OBJECT_HEADER {
        Type: t,
        Revision: revision,
        Size: size,
    }
}

// ---------------------------------------------------------------------------
// The PnP manager / protocol side (test API)
// ---------------------------------------------------------------------------

impl FakeNdis {
    /// Forgets everything (drivers, adapters, allocations, records) on this thread.
    pub fn reset() {
        let old = with(core::mem::take);
        drop(old);
    }

    /// Every NDIS function the miniport called, in order (plus the NDK close calls NDIS
    /// made, as `"CloseNDKAdapterHandler"`).
    pub fn calls() -> Vec<&'static str> {
        with(|s| s.calls.clone())
    }

    /// Everything real NDIS would have rejected or bug-checked on (empty = clean).
    pub fn violations() -> Vec<String> {
        with(|s| s.violations.clone())
    }

    /// NBL pools, NBLs, MDLs, work items, configuration handles, I/O mappings and DMA /
    /// interrupt registrations the miniport holds.
    pub fn live_allocations() -> usize {
        with(|s| {
            s.pools.len()
                + s.nbls.len()
                + s.mdls.len()
                + s.work_items.len()
                + s.configs.len()
                + s.adapters
                    .iter()
                    .map(|a| {
                        a.mappings.len()
                            + usize::from(a.dma_registered)
                            + usize::from(a.interrupt_registered)
                    })
                    .sum::<usize>()
        })
    }

    /// The driver characteristics NdisMRegisterMiniportDriver copied.
    pub fn driver_characteristics() -> Option<NDIS_MINIPORT_DRIVER_CHARACTERISTICS> {
        with(|s| s.driver.as_ref().map(|d| d.chars))
    }

    /// The NDK provider characteristics NdisSetOptionalHandlers stored.
    pub fn ndk_characteristics() -> Option<NDIS_NDK_PROVIDER_CHARACTERISTICS> {
        with(|s| s.driver.as_ref().and_then(|d| d.ndk))
    }

    /// True while the driver is registered (between NdisMRegisterMiniportDriver and
    /// NdisMDeregisterMiniportDriver).
    pub fn driver_registered() -> bool {
        with(|s| s.driver.as_ref().is_some_and(|d| d.registered))
    }

    /// Loads the driver: calls `driver_entry` with a driver object and registry path.
    pub fn load(
        driver_entry: unsafe extern "system" fn(
            *mut DRIVER_OBJECT,
            *mut UNICODE_STRING,
        ) -> NTSTATUS,
    ) -> NTSTATUS {
        let mut obj = Box::new([0u64; 8]);
        let obj_ptr: *mut DRIVER_OBJECT = obj.as_mut_ptr().cast();
        with(|s| s.driver_object = Some(obj));
        let mut path: Vec<u16> = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\fake"
            .encode_utf16()
            .collect();
        let bytes = (path.len() * 2) as u16;
        let mut reg = UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes,
            Buffer: path.as_mut_ptr(),
        };
        // SAFETY: a DriverEntry called as the I/O manager does: a driver object that
        // lives until unload and a registry path valid for the call.
        unsafe { driver_entry(obj_ptr, &mut reg) }
    }

    /// Unloads the driver: calls MiniportDriverUnload, which must call
    /// NdisMDeregisterMiniportDriver (a violation otherwise).
    pub fn unload() {
        let (unload, obj) = with(|s| {
            (
                s.driver.as_ref().and_then(|d| d.chars.UnloadHandler),
                s.driver_object
                    .as_mut()
                    .map(|o| o.as_mut_ptr().cast::<DRIVER_OBJECT>()),
            )
        });
        let Some(obj) = obj else {
            panic!("fake NDIS: unload without load");
        };
        if let Some(unload) = unload {
            // SAFETY: the miniport's MiniportDriverUnload with its driver object.
            unsafe { unload(obj) };
        }
        if Self::driver_registered() {
            violation(
                "MiniportDriverUnload did not call NdisMDeregisterMiniportDriver".to_string(),
            );
        }
        with(|s| s.driver_object = None);
    }

    /// Starts a device: builds the translated resource list (memory BARs, then one
    /// message-interrupt descriptor per MSI-X vector) and calls MiniportInitializeEx.
    /// On success the adapter is Paused, as after initialization; NDIS then restarts it —
    /// call [`FakeNdis::restart`] (or use [`FakeNdis::start_device`]).
    pub fn add_device(device: FakeDevice) -> Result<FakeAdapterId, NDIS_STATUS> {
        let chars = driver_chars();
        let driver_context = with(|s| s.driver.as_ref().map_or(ptr::null_mut(), |d| d.context));
        let Some(init) = chars.InitializeHandlerEx else {
            panic!("fake NDIS: no InitializeHandlerEx");
        };
        let (id, handle, bars) = with(|s| {
            let i = s.adapters.len();
            let bars: Vec<Bar> = device
                .bars
                .iter()
                .enumerate()
                .map(|(b, &(va, len))| Bar {
                    phys: bar_phys(i, b),
                    va,
                    len,
                })
                .collect();
            let descs: Vec<(i64, usize)> = bars.iter().map(|b| (b.phys, b.len)).collect();
            let handle = token(KIND_ADAPTER, i + 1);
            s.adapters.push(AdapterRec {
                handle,
                state: FakeAdapterState::Initializing,
                context: ptr::null_mut(),
                platform: device.platform,
                bars,
                msix_vectors: device.msix_vectors,
                keywords: device.keywords,
                attributes: FakeAttributes::default(),
                irq: Arc::new(Mutex::new(IrqSlot::default())),
                interrupt_registered: false,
                message_table: None,
                dma_registered: false,
                mappings: Vec::new(),
                ndk_open: Vec::new(),
                pnp_events: Vec::new(),
                sends: BTreeMap::new(),
                sent: Vec::new(),
                received: Vec::new(),
                status: Vec::new(),
                link_state: None,
            });
            (FakeAdapterId(i), handle, descs)
        });

        // Translated resource list: header, then `count` packed(4) descriptors.
        let count = bars.len() + device.msix_vectors as usize;
        let desc_size = size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
        let bytes =
            offset_of!(CM_PARTIAL_RESOURCE_LIST, PartialDescriptors) + count.max(1) * desc_size;
        let mut buf = vec![0u32; bytes.div_ceil(4)].into_boxed_slice();
        let list = buf.as_mut_ptr().cast::<CM_PARTIAL_RESOURCE_LIST>();
        // SAFETY: `buf` is 4-aligned (the list's alignment) and holds the header plus
        // `count` descriptors; descriptors are written with unaligned-safe writes.
        unsafe {
            (*list).Version = 1;
            (*list).Revision = 1;
            (*list).Count = count as u32;
            let first =
                (&raw mut (*list).PartialDescriptors).cast::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
            for (k, &(phys, len)) in bars.iter().enumerate() {
                first
                    .add(k)
                    .write_unaligned(CM_PARTIAL_RESOURCE_DESCRIPTOR {
                        Type: CmResourceTypeMemory,
                        ShareDisposition: CmResourceShareDeviceExclusive,
                        Flags: CM_RESOURCE_MEMORY_READ_WRITE,
                        u: CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
                            Memory: CM_PARTIAL_RESOURCE_DESCRIPTOR_MEMORY {
                                Start: phys,
                                Length: len as u32,
                            },
                        },
                    });
            }
            for m in 0..device.msix_vectors as usize {
                first
                    .add(bars.len() + m)
                    .write_unaligned(CM_PARTIAL_RESOURCE_DESCRIPTOR {
                        Type: CmResourceTypeInterrupt,
                        ShareDisposition: CmResourceShareDeviceExclusive,
                        Flags: CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE,
                        u: CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
                            MessageInterrupt: CM_PARTIAL_RESOURCE_DESCRIPTOR_MESSAGE_INTERRUPT {
                                Translated: CM_PARTIAL_RESOURCE_DESCRIPTOR_INTERRUPT {
                                    Level: 5,
                                    Group: 0,
                                    Vector: 0x40 + m as u32,
                                    Affinity: 1,
                                },
                            },
                        },
                    });
            }
        }
        let mut params = NDIS_MINIPORT_INIT_PARAMETERS {
            Header: default_header(
                NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS,
                NDIS_MINIPORT_INIT_PARAMETERS_REVISION_1,
                NDIS_SIZEOF_MINIPORT_INIT_PARAMETERS_REVISION_1,
            ),
            Flags: 0,
            AllocatedResources: list,
            IMDeviceInstanceContext: ptr::null_mut(),
            MiniportAddDeviceContext: ptr::null_mut(),
            IfIndex: id.0 as u32 + 1,
            NetLuid: NET_LUID {
                Value: (u64::from(IF_TYPE_ETHERNET_CSMACD) << 48) | ((id.0 as u64 + 1) << 24),
            },
            DefaultPortAuthStates: ptr::null_mut(),
            PciDeviceCustomProperties: ptr::null_mut(),
        };
        // SAFETY: the miniport's MiniportInitializeEx, called as NDIS does with the
        // adapter handle, driver context and parameters valid for the call.
        let status = unsafe { init(handle, driver_context, &mut params) };
        drop(buf);
        let registered = with(|s| s.adapters[id.0].attributes.registration.is_some());
        if status == NDIS_STATUS_SUCCESS {
            if !registered {
                violation(
                    "MiniportInitializeEx succeeded without registration attributes".to_string(),
                );
            }
            adapter_mut(id, |a| a.state = FakeAdapterState::Paused);
            Ok(id)
        } else {
            if status == NDIS_STATUS_PENDING {
                violation("MiniportInitializeEx returned NDIS_STATUS_PENDING".to_string());
            }
            adapter_mut(id, |a| a.state = FakeAdapterState::InitFailed);
            Self::check_released(id, "failed MiniportInitializeEx");
            Err(status)
        }
    }

    /// [`FakeNdis::add_device`] then [`FakeNdis::restart`], as NDIS starts an adapter.
    pub fn start_device(device: FakeDevice) -> Result<FakeAdapterId, NDIS_STATUS> {
        let id = Self::add_device(device)?;
        match Self::restart(id) {
            NDIS_STATUS_SUCCESS => Ok(id),
            status => Err(status),
        }
    }

    /// The adapter's state.
    pub fn state(id: FakeAdapterId) -> FakeAdapterState {
        adapter_mut(id, |a| a.state)
    }

    /// The miniport adapter handle NDIS gave the adapter.
    pub fn adapter_handle(id: FakeAdapterId) -> NDIS_HANDLE {
        adapter_mut(id, |a| a.handle)
    }

    /// The MiniportAdapterContext from the registration attributes.
    pub fn adapter_context(id: FakeAdapterId) -> NDIS_HANDLE {
        adapter_mut(id, |a| a.context)
    }

    /// The device's platform (what [`Ndis::platform`] hands the miniport).
    pub fn device_platform(id: FakeAdapterId) -> MockPlatform {
        adapter_mut(id, |a| a.platform.clone())
    }

    /// Copies of the attributes NdisMSetMiniportAttributes received.
    pub fn attributes(id: FakeAdapterId) -> FakeAttributes {
        adapter_mut(id, |a| a.attributes.clone())
    }

    /// The device's interrupt (MSI-X message 0, or the line): calls the registered ISR
    /// and, if it asked for one, the DPC, as NDIS does. Safe to hand to a device model;
    /// raising it before registration or after deregistration is counted as spurious.
    /// The handlers run on the raising thread and the fake's state is per thread, so
    /// raise it from the test's thread (a device model the test steps).
    pub fn interrupt_line(id: FakeAdapterId) -> Arc<dyn Fn() + Send + Sync> {
        Self::interrupt_message(id, 0)
    }

    /// Like [`FakeNdis::interrupt_line`], for MSI-X message `message`.
    pub fn interrupt_message(id: FakeAdapterId, message: u32) -> Arc<dyn Fn() + Send + Sync> {
        let slot = adapter_mut(id, |a| a.irq.clone());
        Arc::new(move || fire(&slot, message))
    }

    /// ISRs and DPCs run and spurious interrupts (no handler registered) on the adapter.
    pub fn interrupt_counts(id: FakeAdapterId) -> (u64, u64, u64) {
        let slot = adapter_mut(id, |a| a.irq.clone());
        let s = irq_lock(&slot);
        (s.isr_count, s.dpc_count, s.spurious)
    }

    /// Issues an OID request through OidRequestHandler (or DirectOidRequestHandler when
    /// `direct`), as NDIS builds it. `buffer` is the information buffer (its length is
    /// `InformationBufferLength`); for a method request `input_len` bytes of it are input.
    pub fn oid_request(
        id: FakeAdapterId,
        request_type: NDIS_REQUEST_TYPE,
        oid: NDIS_OID,
        method_id: u32,
        buffer: &mut [u8],
        input_len: u32,
        direct: bool,
    ) -> FakeOidResult {
        let chars = driver_chars();
        let handler = if direct {
            chars.DirectOidRequestHandler
        } else {
            chars.OidRequestHandler
        };
        let Some(handler) = handler else {
            panic!("fake NDIS: no OID request handler (direct: {direct})");
        };
        let ctx = adapter_mut(id, |a| {
            assert_live(a);
            a.context
        });
        // SAFETY: all-zero is a valid NDIS_OID_REQUEST (integers, pointers, byte arrays).
        let mut req: NDIS_OID_REQUEST = unsafe { core::mem::zeroed() };
        req.Header = default_header(
            NDIS_OBJECT_TYPE_OID_REQUEST,
            NDIS_OID_REQUEST_REVISION_1,
            NDIS_SIZEOF_OID_REQUEST_REVISION_1,
        );
        req.RequestType = request_type;
        req.PortNumber = NDIS_DEFAULT_PORT_NUMBER;
        req.RequestId = ptr::without_provenance_mut(0x1D);
        let len = buffer.len() as u32;
        let buf_ptr: *mut c_void = if buffer.is_empty() {
            ptr::null_mut()
        } else {
            buffer.as_mut_ptr().cast()
        };
        req.DATA = match request_type {
            NdisRequestSetInformation => NDIS_OID_REQUEST_DATA {
                SET_INFORMATION: NDIS_OID_REQUEST_SET_INFORMATION {
                    Oid: oid,
                    InformationBuffer: buf_ptr,
                    InformationBufferLength: len,
                    BytesRead: 0,
                    BytesNeeded: 0,
                },
            },
            NdisRequestMethod => NDIS_OID_REQUEST_DATA {
                METHOD_INFORMATION: NDIS_OID_REQUEST_METHOD_INFORMATION {
                    Oid: oid,
                    InformationBuffer: buf_ptr,
                    InputBufferLength: input_len,
                    OutputBufferLength: len,
                    MethodId: method_id,
                    BytesWritten: 0,
                    BytesRead: 0,
                    BytesNeeded: 0,
                },
            },
            _ => NDIS_OID_REQUEST_DATA {
                QUERY_INFORMATION: NDIS_OID_REQUEST_QUERY_INFORMATION {
                    Oid: oid,
                    InformationBuffer: buf_ptr,
                    InformationBufferLength: len,
                    BytesWritten: 0,
                    BytesNeeded: 0,
                },
            },
        };
        with(|s| s.oid_depth += 1);
        // SAFETY: the miniport's OID handler with a request and buffer valid for the call
        // (the fake treats PENDING as a violation, so nothing outlives it).
        let status = unsafe { handler(ctx, &mut req) };
        with(|s| s.oid_depth -= 1);
        if status == NDIS_STATUS_PENDING {
            violation(format!(
                "OID {oid:#x} returned NDIS_STATUS_PENDING (fake cannot complete it)"
            ));
        }
        // SAFETY: reading back the view NDIS built (same request type).
        let (written, read, needed) = unsafe {
            match request_type {
                NdisRequestSetInformation => {
                    let d = req.DATA.SET_INFORMATION;
                    (0, d.BytesRead, d.BytesNeeded)
                }
                NdisRequestMethod => {
                    let d = req.DATA.METHOD_INFORMATION;
                    (d.BytesWritten, d.BytesRead, d.BytesNeeded)
                }
                _ => {
                    let d = req.DATA.QUERY_INFORMATION;
                    (d.BytesWritten, 0, d.BytesNeeded)
                }
            }
        };
        if written as usize > buffer.len() {
            violation(format!(
                "OID {oid:#x}: BytesWritten {written} > buffer {}",
                buffer.len()
            ));
        }
        let data = if request_type == NdisRequestSetInformation {
            buffer.to_vec()
        } else {
            buffer[..(written as usize).min(buffer.len())].to_vec()
        };
        FakeOidResult {
            status,
            bytes_written: written,
            bytes_read: read,
            bytes_needed: needed,
            data,
        }
    }

    /// Queries `oid` with an `out_len`-byte buffer; `Ok` = the bytes written.
    pub fn oid_query(
        id: FakeAdapterId,
        oid: NDIS_OID,
        out_len: usize,
    ) -> Result<Vec<u8>, NDIS_STATUS> {
        let mut buf = vec![0u8; out_len];
        let r = Self::oid_request(id, NdisRequestQueryInformation, oid, 0, &mut buf, 0, false);
        if r.status == NDIS_STATUS_SUCCESS {
            Ok(r.data)
        } else {
            Err(r.status)
        }
    }

    /// Queries `oid` through DirectOidRequestHandler (NDIS uses it for OID_NDK_STATISTICS).
    pub fn oid_query_direct(
        id: FakeAdapterId,
        oid: NDIS_OID,
        out_len: usize,
    ) -> Result<Vec<u8>, NDIS_STATUS> {
        let mut buf = vec![0u8; out_len];
        let r = Self::oid_request(id, NdisRequestQueryInformation, oid, 0, &mut buf, 0, true);
        if r.status == NDIS_STATUS_SUCCESS {
            Ok(r.data)
        } else {
            Err(r.status)
        }
    }

    /// Sets `oid` to `data`.
    pub fn oid_set(id: FakeAdapterId, oid: NDIS_OID, data: &[u8]) -> Result<(), NDIS_STATUS> {
        let mut buf = data.to_vec();
        let r = Self::oid_request(id, NdisRequestSetInformation, oid, 0, &mut buf, 0, false);
        if r.status == NDIS_STATUS_SUCCESS {
            Ok(())
        } else {
            Err(r.status)
        }
    }

    /// A method request: `input` in a buffer of `max(input.len(), out_len)` bytes; `Ok` =
    /// the bytes written.
    pub fn oid_method(
        id: FakeAdapterId,
        oid: NDIS_OID,
        method_id: u32,
        input: &[u8],
        out_len: usize,
    ) -> Result<Vec<u8>, NDIS_STATUS> {
        let mut buf = vec![0u8; out_len.max(input.len())];
        buf[..input.len()].copy_from_slice(input);
        let r = Self::oid_request(
            id,
            NdisRequestMethod,
            oid,
            method_id,
            &mut buf,
            input.len() as u32,
            false,
        );
        if r.status == NDIS_STATUS_SUCCESS {
            Ok(r.data)
        } else {
            Err(r.status)
        }
    }

    /// The `NETWORK_ADDRESS_LIST` TCP/IP sets with OID_GEN_NETWORK_LAYER_ADDRESSES:
    /// IPv4 entries as `NETWORK_ADDRESS_IP` (type `NDIS_PROTOCOL_ID_TCP_IP`, 16 bytes,
    /// `in_addr` at offset 4), IPv6 entries as `NETWORK_ADDRESS_IP6` (type
    /// `NDIS_PROTOCOL_ID_IP6`, 28 bytes, `sin6_addr` at offset 8), back to back.
    pub fn network_address_list(ips: &[core::net::IpAddr]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&(ips.len() as i32).to_le_bytes());
        d.extend_from_slice(&NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
        for ip in ips {
            match ip {
                core::net::IpAddr::V4(v4) => {
                    d.extend_from_slice(&NETWORK_ADDRESS_LENGTH_IP.to_le_bytes());
                    d.extend_from_slice(&NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
                    let mut a = [0u8; size_of::<NETWORK_ADDRESS_IP>()];
                    let at = offset_of!(NETWORK_ADDRESS_IP, in_addr);
                    a[at..at + 4].copy_from_slice(&v4.octets());
                    d.extend_from_slice(&a);
                }
                core::net::IpAddr::V6(v6) => {
                    d.extend_from_slice(&NETWORK_ADDRESS_LENGTH_IP6.to_le_bytes());
                    d.extend_from_slice(&NDIS_PROTOCOL_ID_IP6.to_le_bytes());
                    let mut a = [0u8; size_of::<NETWORK_ADDRESS_IP6>()];
                    let at = offset_of!(NETWORK_ADDRESS_IP6, sin6_addr);
                    a[at..at + 16].copy_from_slice(&v6.octets());
                    d.extend_from_slice(&a);
                }
            }
        }
        d
    }

    /// Sets OID_GEN_NETWORK_LAYER_ADDRESSES to `ips`, as TCP/IP does after binding.
    pub fn set_network_layer_addresses(
        id: FakeAdapterId,
        ips: &[core::net::IpAddr],
    ) -> Result<(), NDIS_STATUS> {
        Self::oid_set(
            id,
            OID_GEN_NETWORK_LAYER_ADDRESSES,
            &Self::network_address_list(ips),
        )
    }

    /// Opens an NDK adapter through OpenNDKAdapterHandler (SwitchId / VPortId 0).
    pub fn open_ndk(
        id: FakeAdapterId,
        version: NDK_VERSION,
    ) -> Result<*mut NDK_ADAPTER, NDIS_STATUS> {
        let Some(ndk) = Self::ndk_characteristics() else {
            panic!("fake NDIS: the miniport registered no NDK provider characteristics");
        };
        let ctx = adapter_mut(id, |a| {
            assert_live(a);
            a.context
        });
        let mut params = NDIS_OPEN_NDK_ADAPTER_PARAMETERS {
            Version: version,
            SwitchId: NDIS_DEFAULT_SWITCH_ID,
            VPortId: NDIS_DEFAULT_VPORT_ID,
        };
        let mut out: *mut NDK_ADAPTER = ptr::null_mut();
        // SAFETY: the miniport's open handler with parameters and out-pointer valid for
        // the call.
        let status = unsafe { (ndk.OpenNDKAdapterHandler)(ctx, &mut params, &mut out) };
        if status != NDIS_STATUS_SUCCESS {
            return Err(status);
        }
        if out.is_null() {
            violation("OpenNDKAdapterHandler succeeded with a null adapter".to_string());
            return Err(NDIS_STATUS_FAILURE);
        }
        adapter_mut(id, |a| a.ndk_open.push(out));
        Ok(out)
    }

    /// Closes an NDK adapter [`FakeNdis::open_ndk`] returned, through
    /// CloseNDKAdapterHandler.
    pub fn close_ndk(id: FakeAdapterId, adapter: *mut NDK_ADAPTER) {
        let Some(ndk) = Self::ndk_characteristics() else {
            panic!("fake NDIS: the miniport registered no NDK provider characteristics");
        };
        let (open, ctx) = adapter_mut(id, |a| {
            let open = a
                .ndk_open
                .iter()
                .position(|&p| p == adapter)
                .map(|p| a.ndk_open.remove(p));
            (open, a.context)
        });
        let Some(open) = open else {
            panic!("fake NDIS: close_ndk of an NDK adapter not open");
        };
        log("CloseNDKAdapterHandler");
        // SAFETY: the miniport's close handler with an adapter its open handler returned
        // and nobody closed yet (taken from the fake's open list).
        unsafe { (ndk.CloseNDKAdapterHandler)(ctx, open) };
    }

    /// NDK adapters open on the adapter.
    pub fn open_ndk_adapters(id: FakeAdapterId) -> usize {
        adapter_mut(id, |a| a.ndk_open.len())
    }

    /// NET_PNP_EVENT codes NdisMNetPnPEvent received (drains).
    pub fn pnp_events(id: FakeAdapterId) -> Vec<NET_PNP_EVENT_CODE> {
        adapter_mut(id, |a| core::mem::take(&mut a.pnp_events))
    }

    /// Runs queued work items (and any they queue) until none is left; returns how many ran.
    pub fn run_work_items() -> usize {
        let mut ran = 0;
        loop {
            let next = with(|s| {
                let (n, routine, ctx) = s.work_queue.pop_front()?;
                if let Some(q) = s.work_items.get_mut(&n) {
                    *q = false;
                }
                Some((n, routine, ctx))
            });
            let Some((n, routine, ctx)) = next else {
                return ran;
            };
            // SAFETY: the routine and context the miniport queued, with its work item
            // handle, at PASSIVE_LEVEL as NDIS runs it.
            unsafe {
                routine(
                    ptr::with_exposed_provenance_mut(ctx),
                    token(KIND_WORKITEM, n),
                )
            };
            ran += 1;
        }
    }

    /// Work items queued and not yet run.
    pub fn queued_work_items() -> usize {
        with(|s| s.work_queue.len())
    }

    /// Sends `frames` as one NBL chain (one NB per NBL, Ethernet header in its own MDL).
    pub fn send(id: FakeAdapterId, frames: &[&[u8]]) {
        Self::send_with(id, frames, FakeSendLayout::HEADER_SPLIT);
    }

    /// Sends `frames` as one NBL chain laid out as `layout` says, through
    /// SendNetBufferListsHandler. Completions are collected by [`FakeNdis::sent`].
    pub fn send_with(id: FakeAdapterId, frames: &[&[u8]], layout: FakeSendLayout) {
        let chars = driver_chars();
        let Some(send) = chars.SendNetBufferListsHandler else {
            panic!("fake NDIS: no SendNetBufferListsHandler");
        };
        let (ctx, handle) = adapter_mut(id, |a| {
            assert_live(a);
            (a.context, a.handle)
        });
        let mut built: Vec<Box<FakeSendNbl>> = Vec::with_capacity(frames.len());
        for frame in frames {
            // SAFETY: all-zero is a valid NET_BUFFER_LIST / NET_BUFFER.
            let mut b = Box::new(FakeSendNbl {
                nbl: unsafe { core::mem::zeroed() },
                nb: unsafe { core::mem::zeroed() },
                mdls: Vec::new(),
                buffers: Vec::new(),
            });
            let chunk = if layout.chunk == 0 {
                frame.len().max(1)
            } else {
                layout.chunk
            };
            let mut pieces: Vec<Vec<u8>> = frame.chunks(chunk).map(<[u8]>::to_vec).collect();
            if pieces.is_empty() {
                pieces.push(Vec::new());
            }
            let last = pieces.len() - 1;
            pieces[0].splice(0..0, core::iter::repeat_n(0xA5, layout.lead));
            pieces[last].extend(core::iter::repeat_n(0x5A, layout.tail));
            for piece in pieces {
                let mut buf = piece.into_boxed_slice();
                let mdl = Box::new(build_mdl(buf.as_mut_ptr(), buf.len() as u32));
                b.buffers.push(buf);
                b.mdls.push(mdl);
            }
            for k in 1..b.mdls.len() {
                let next: *mut MDL = &mut *b.mdls[k];
                b.mdls[k - 1].Next = next;
            }
            let first: *mut MDL = &mut *b.mdls[0];
            let nb: *mut NET_BUFFER = &mut b.nb;
            b.nb.NetBufferHeader.NetBufferData = NET_BUFFER_DATA {
                Next: ptr::null_mut(),
                CurrentMdl: first,
                CurrentMdlOffset: layout.lead as u32,
                NbDataLength: NET_BUFFER_DATA_LENGTH {
                    stDataLength: frame.len(),
                },
                MdlChain: first,
                DataOffset: layout.lead as u32,
            };
            b.nbl.NetBufferListHeader.NetBufferListData = NET_BUFFER_LIST_DATA {
                Next: ptr::null_mut(),
                FirstNetBuffer: nb,
            };
            b.nbl.SourceHandle = handle;
            built.push(b);
        }
        for k in 1..built.len() {
            let next: *mut NET_BUFFER_LIST = &mut built[k].nbl;
            built[k - 1].nbl.NetBufferListHeader.NetBufferListData.Next = next;
        }
        let Some(head) = built
            .first_mut()
            .map(|b| -> *mut NET_BUFFER_LIST { &mut b.nbl })
        else {
            return;
        };
        adapter_mut(id, |a| {
            for b in built {
                let addr = (&raw const b.nbl).addr();
                a.sends.insert(addr, b);
            }
        });
        // SAFETY: the miniport's MiniportSendNetBufferLists with an NBL chain the fake
        // owns until NdisMSendNetBufferListsComplete returns each NBL.
        unsafe { send(ctx, head, NDIS_DEFAULT_PORT_NUMBER, 0) };
    }

    /// Completion statuses of sent NBLs, in completion order (drains).
    pub fn sent(id: FakeAdapterId) -> Vec<NDIS_STATUS> {
        adapter_mut(id, |a| core::mem::take(&mut a.sent))
    }

    /// Sent NBLs not completed yet.
    pub fn outstanding_sends(id: FakeAdapterId) -> usize {
        adapter_mut(id, |a| a.sends.len())
    }

    /// Frames indicated by NdisMIndicateReceiveNetBufferLists, one per NET_BUFFER (drains).
    pub fn received(id: FakeAdapterId) -> Vec<Vec<u8>> {
        adapter_mut(id, |a| core::mem::take(&mut a.received))
    }

    /// Status codes indicated by NdisMIndicateStatusEx (drains).
    pub fn status_indications(id: FakeAdapterId) -> Vec<NDIS_STATUS> {
        adapter_mut(id, |a| {
            core::mem::take(&mut a.status)
                .into_iter()
                .map(|(c, _)| c)
                .collect()
        })
    }

    /// Status codes with their status buffers (drains, like [`FakeNdis::status_indications`]).
    pub fn status_indication_buffers(id: FakeAdapterId) -> Vec<(NDIS_STATUS, Vec<u8>)> {
        adapter_mut(id, |a| core::mem::take(&mut a.status))
    }

    /// The last NDIS_LINK_STATE indicated with NDIS_STATUS_LINK_STATE.
    pub fn link_state(id: FakeAdapterId) -> Option<NDIS_LINK_STATE> {
        adapter_mut(id, |a| a.link_state)
    }

    /// MiniportPause (reason NDIS_PAUSE_NDIS_INTERNAL). The adapter must be Running.
    /// SUCCESS → Paused; PENDING → Pausing until the miniport calls NdisMPauseComplete.
    /// When the pause completes no send may be outstanding (NDIS waits for them).
    pub fn pause(id: FakeAdapterId) -> NDIS_STATUS {
        let state = Self::state(id);
        assert_eq!(
            state,
            FakeAdapterState::Running,
            "fake NDIS: pause of a {state:?} adapter"
        );
        let Some(pause) = driver_chars().PauseHandler else {
            panic!("fake NDIS: no PauseHandler");
        };
        let ctx = adapter_mut(id, |a| {
            a.state = FakeAdapterState::Pausing;
            a.context
        });
        let mut params = NDIS_MINIPORT_PAUSE_PARAMETERS {
            Header: default_header(
                NDIS_OBJECT_TYPE_DEFAULT,
                NDIS_MINIPORT_PAUSE_PARAMETERS_REVISION_1,
                NDIS_SIZEOF_MINIPORT_PAUSE_PARAMETERS_REVISION_1,
            ),
            Flags: 0,
            PauseReason: NDIS_PAUSE_NDIS_INTERNAL,
        };
        // SAFETY: the miniport's MiniportPause with parameters valid for the call.
        let status = unsafe { pause(ctx, &mut params) };
        let now = Self::state(id);
        match status {
            NDIS_STATUS_SUCCESS => {
                if now != FakeAdapterState::Pausing {
                    violation("NdisMPauseComplete for a pause that returned SUCCESS".to_string());
                }
                let outstanding = Self::outstanding_sends(id);
                if outstanding != 0 {
                    violation(format!(
                        "MiniportPause completed with {outstanding} send(s) outstanding"
                    ));
                }
                adapter_mut(id, |a| a.state = FakeAdapterState::Paused);
            }
            NDIS_STATUS_PENDING => {}
            _ => {
                violation(format!("MiniportPause returned {status:#x}"));
                adapter_mut(id, |a| a.state = FakeAdapterState::Running);
            }
        }
        status
    }

    /// MiniportRestart. The adapter must be Paused.
    pub fn restart(id: FakeAdapterId) -> NDIS_STATUS {
        let state = Self::state(id);
        assert_eq!(
            state,
            FakeAdapterState::Paused,
            "fake NDIS: restart of a {state:?} adapter"
        );
        let Some(restart) = driver_chars().RestartHandler else {
            panic!("fake NDIS: no RestartHandler");
        };
        let ctx = adapter_mut(id, |a| a.context);
        let mut params = NDIS_MINIPORT_RESTART_PARAMETERS {
            Header: default_header(
                NDIS_OBJECT_TYPE_DEFAULT,
                NDIS_MINIPORT_RESTART_PARAMETERS_REVISION_1,
                NDIS_SIZEOF_MINIPORT_RESTART_PARAMETERS_REVISION_1,
            ),
            RestartAttributes: ptr::null_mut(),
            Flags: 0,
        };
        // SAFETY: the miniport's MiniportRestart with parameters valid for the call.
        let status = unsafe { restart(ctx, &mut params) };
        if status == NDIS_STATUS_SUCCESS {
            adapter_mut(id, |a| a.state = FakeAdapterState::Running);
        }
        status
    }

    /// Surprise removal: MiniportDevicePnPEventNotify(NdisDevicePnPEventSurpriseRemoved),
    /// then (like NDIS) pause if running, close open NDK adapters, and
    /// MiniportHaltEx(NdisHaltDeviceSurpriseRemoved).
    pub fn surprise_remove(id: FakeAdapterId) {
        let Some(notify) = driver_chars().DevicePnPEventNotifyHandler else {
            panic!("fake NDIS: no DevicePnPEventNotifyHandler");
        };
        let ctx = adapter_mut(id, |a| a.context);
        let mut ev = NET_DEVICE_PNP_EVENT {
            Header: default_header(
                NDIS_OBJECT_TYPE_DEFAULT,
                NET_DEVICE_PNP_EVENT_REVISION_1,
                NDIS_SIZEOF_NET_DEVICE_PNP_EVENT_REVISION_1,
            ),
            PortNumber: NDIS_DEFAULT_PORT_NUMBER,
            DevicePnPEvent: NdisDevicePnPEventSurpriseRemoved,
            InformationBuffer: ptr::null_mut(),
            InformationBufferLength: 0,
            NdisReserved: [0; 16],
        };
        // SAFETY: the miniport's MiniportDevicePnPEventNotify with an event valid for the
        // call.
        unsafe { notify(ctx, &mut ev) };
        Self::halt_with(id, NdisHaltDeviceSurpriseRemoved);
    }

    /// Halt as for a disabled device: pause if running, close open NDK adapters,
    /// MiniportHaltEx(NdisHaltDeviceDisabled); then checks the adapter released what it
    /// held.
    pub fn halt(id: FakeAdapterId) {
        Self::halt_with(id, NdisHaltDeviceDisabled);
    }

    fn halt_with(id: FakeAdapterId, action: NDIS_HALT_ACTION) {
        if Self::state(id) == FakeAdapterState::Running {
            Self::pause(id);
        }
        let state = Self::state(id);
        if state == FakeAdapterState::Pausing {
            violation("halt: MiniportPause pended and never completed".to_string());
            return;
        }
        assert_eq!(
            state,
            FakeAdapterState::Paused,
            "fake NDIS: halt of a {state:?} adapter"
        );
        close_all_ndk(id);
        let Some(halt) = driver_chars().HaltHandlerEx else {
            panic!("fake NDIS: no HaltHandlerEx");
        };
        let ctx = adapter_mut(id, |a| a.context);
        // SAFETY: the miniport's MiniportHaltEx, once, on a paused adapter.
        unsafe { halt(ctx, action) };
        adapter_mut(id, |a| a.state = FakeAdapterState::Halted);
        Self::check_released(id, "MiniportHaltEx");
    }

    /// Violations for resources an adapter still holds after `when`.
    fn check_released(id: FakeAdapterId, when: &str) {
        let (maps, dma, irq, sends, ndk) = adapter_mut(id, |a| {
            (
                a.mappings.len(),
                a.dma_registered,
                a.interrupt_registered,
                a.sends.len(),
                a.ndk_open.len(),
            )
        });
        if maps != 0 {
            violation(format!("{when}: {maps} I/O mapping(s) not unmapped"));
        }
        if dma {
            violation(format!("{when}: scatter-gather DMA not deregistered"));
        }
        if irq {
            violation(format!("{when}: interrupt not deregistered"));
        }
        if sends != 0 {
            violation(format!("{when}: {sends} send(s) never completed"));
        }
        if ndk != 0 {
            violation(format!("{when}: {ndk} NDK adapter(s) open"));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The fake itself, driven through a trivial miniport written here (loopback sends,
    //! MSI-X ISR/DPC indicating link state, a few OIDs, NDK open/close, NDK enable state
    //! through a work item).

    use super::*;
    use core::cell::Cell;

    std::thread_local! {
        static DRIVER_HANDLE: Cell<NDIS_HANDLE> = const { Cell::new(ptr::null_mut()) };
        static BAD_NDK_HEADER: Cell<bool> = const { Cell::new(false) };
        static PNP_INSIDE_OID: Cell<bool> = const { Cell::new(false) };
        static LOOPBACK_RESOURCES: Cell<bool> = const { Cell::new(true) };
        static HALT_ACTION: Cell<NDIS_HALT_ACTION> = const { Cell::new(-1) };
        static DEVICE_EVENT: Cell<NDIS_DEVICE_PNP_EVENT> = const { Cell::new(-1) };
        static NDK_CLOSED: Cell<u32> = const { Cell::new(0) };
    }

    const VENDOR_ID: u32 = 0x00AA_BBCC;
    const OIDS: [NDIS_OID; 3] = [
        OID_GEN_VENDOR_ID,
        OID_GEN_CURRENT_PACKET_FILTER,
        OID_NDK_SET_STATE,
    ];

    struct TestAdapter {
        handle: NDIS_HANDLE,
        network_direct: Option<u32>,
        bar: *mut c_void,
        bar_len: u32,
        dma: NDIS_HANDLE,
        interrupt: NDIS_HANDLE,
        pool: NDIS_HANDLE,
        work_item: NDIS_HANDLE,
        dpcs: u32,
        returned: u32,
        packet_filter: u32,
        ndk_enabled: bool,
        ndk_open: Vec<*mut NDK_ADAPTER>,
        oids: [NDIS_OID; 3],
        info: NDK_ADAPTER_INFO,
        caps: NDIS_NDK_CAPABILITIES,
        link: NDIS_LINK_STATE,
    }

    fn hdr(t: u8, r: u8, s: u16) -> NDIS_OBJECT_HEADER {
        NDIS_OBJECT_HEADER {
            Type: t,
            Revision: r,
            Size: s,
        }
    }

    /// # Safety
    /// `ctx` is a `TestAdapter` created by `init` and not halted.
    unsafe fn ad<'a>(ctx: NDIS_HANDLE) -> &'a mut TestAdapter {
        // SAFETY: caller.
        unsafe { &mut *ctx.cast::<TestAdapter>() }
    }

    unsafe extern "system" fn driver_entry(
        obj: *mut DRIVER_OBJECT,
        path: *mut UNICODE_STRING,
    ) -> NTSTATUS {
        let chars = NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
            Header: hdr(
                NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
                NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
                NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            ),
            MajorNdisVersion: NDIS_MINIPORT_MAJOR_VERSION,
            MinorNdisVersion: NDIS_MINIPORT_MINOR_VERSION,
            MajorDriverVersion: 1,
            MinorDriverVersion: 0,
            Flags: 0,
            SetOptionsHandler: Some(set_options),
            InitializeHandlerEx: Some(init),
            HaltHandlerEx: Some(halt),
            UnloadHandler: Some(unload),
            PauseHandler: Some(pause),
            RestartHandler: Some(restart),
            OidRequestHandler: Some(oid),
            SendNetBufferListsHandler: Some(send),
            ReturnNetBufferListsHandler: Some(return_nbls),
            CancelSendHandler: Some(cancel),
            CheckForHangHandlerEx: None,
            ResetHandlerEx: None,
            DevicePnPEventNotifyHandler: Some(device_pnp),
            ShutdownHandlerEx: Some(shutdown),
            CancelOidRequestHandler: Some(cancel),
            DirectOidRequestHandler: Some(oid),
            CancelDirectOidRequestHandler: Some(cancel),
        };
        let mut h = ptr::null_mut();
        // SAFETY: valid characteristics and out-pointer.
        let st = unsafe {
            FakeNdis::NdisMRegisterMiniportDriver(obj, path, ptr::null_mut(), &chars, &mut h)
        };
        DRIVER_HANDLE.set(h);
        st
    }

    unsafe extern "system" fn set_options(driver: NDIS_HANDLE, _ctx: NDIS_HANDLE) -> NDIS_STATUS {
        let size = if BAD_NDK_HEADER.get() {
            0x10
        } else {
            NDIS_SIZEOF_NDK_PROVIDER_CHARACTERISTICS_REVISION_1
        };
        let mut chars = NDIS_NDK_PROVIDER_CHARACTERISTICS {
            Header: hdr(NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS, 1, size),
            Flags: 0,
            OpenNDKAdapterHandler: open_ndk,
            CloseNDKAdapterHandler: close_ndk,
        };
        // SAFETY: a valid characteristics object.
        unsafe { FakeNdis::NdisSetOptionalHandlers(driver, (&raw mut chars).cast()) }
    }

    unsafe extern "system" fn init(
        handle: NDIS_HANDLE,
        _driver_ctx: NDIS_HANDLE,
        params: *mut NDIS_MINIPORT_INIT_PARAMETERS,
    ) -> NDIS_STATUS {
        // SAFETY: NDIS's parameters, valid for the call; all-zero is valid for the structs.
        unsafe {
            let a = Box::into_raw(Box::new(TestAdapter {
                handle,
                network_direct: None,
                bar: ptr::null_mut(),
                bar_len: 0,
                dma: ptr::null_mut(),
                interrupt: ptr::null_mut(),
                pool: ptr::null_mut(),
                work_item: ptr::null_mut(),
                dpcs: 0,
                returned: 0,
                packet_filter: 0,
                ndk_enabled: false,
                ndk_open: Vec::new(),
                oids: OIDS,
                info: core::mem::zeroed(),
                caps: core::mem::zeroed(),
                link: NDIS_LINK_STATE::default(),
            }));
            let ta = &mut *a;
            let mut reg = NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
                Header: hdr(
                    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
                    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
                    NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
                ),
                MiniportAdapterContext: a.cast(),
                AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE
                    | NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
                CheckForHangTimeInSeconds: 0,
                InterfaceType: NdisInterfacePci,
            };
            assert_eq!(
                FakeNdis::NdisMSetMiniportAttributes(handle, (&raw mut reg).cast()),
                0
            );

            let mut cfg_obj = NDIS_CONFIGURATION_OBJECT {
                Header: hdr(
                    NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
                    NDIS_CONFIGURATION_OBJECT_REVISION_1,
                    NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1,
                ),
                NdisHandle: handle,
                Flags: 0,
            };
            let mut cfg = ptr::null_mut();
            assert_eq!(FakeNdis::NdisOpenConfigurationEx(&mut cfg_obj, &mut cfg), 0);
            let mut key = NETWORK_DIRECT_KEYWORD_W;
            let mut name = UNICODE_STRING {
                Length: (key.len() * 2) as u16,
                MaximumLength: (key.len() * 2) as u16,
                Buffer: key.as_mut_ptr(),
            };
            let mut st = NDIS_STATUS_PENDING;
            let mut val = ptr::null_mut();
            FakeNdis::NdisReadConfiguration(
                &mut st,
                &mut val,
                cfg,
                &mut name,
                NdisParameterInteger,
            );
            if st == NDIS_STATUS_SUCCESS {
                ta.network_direct = Some((*val).ParameterData.IntegerData);
            }
            FakeNdis::NdisCloseConfiguration(cfg);

            let res = (*params).AllocatedResources;
            let first =
                (&raw const (*res).PartialDescriptors).cast::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
            for k in 0..(*res).Count as usize {
                let d = first.add(k).read_unaligned();
                if d.Type == CmResourceTypeMemory && ta.bar.is_null() {
                    let m = d.u.Memory;
                    ta.bar_len = m.Length;
                    assert_eq!(
                        FakeNdis::NdisMMapIoSpace(&mut ta.bar, handle, m.Start, m.Length),
                        0
                    );
                }
            }

            let mut dma = NDIS_SG_DMA_DESCRIPTION {
                Header: hdr(
                    NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
                    NDIS_SG_DMA_DESCRIPTION_REVISION_1,
                    NDIS_SIZEOF_SG_DMA_DESCRIPTION_REVISION_1,
                ),
                Flags: NDIS_SG_DMA_64_BIT_ADDRESS,
                MaximumPhysicalMapping: 0x1_0000,
                ProcessSGListHandler: None,
                SharedMemAllocateCompleteHandler: None,
                ScatterGatherListSize: 0,
            };
            assert_eq!(
                FakeNdis::NdisMRegisterScatterGatherDma(handle, &mut dma, &mut ta.dma),
                0
            );

            let mut irq = NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
                Header: hdr(
                    NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
                    NDIS_MINIPORT_INTERRUPT_REVISION_1,
                    NDIS_SIZEOF_MINIPORT_INTERRUPT_CHARACTERISTICS_REVISION_1,
                ),
                InterruptHandler: None,
                InterruptDpcHandler: None,
                DisableInterruptHandler: None,
                EnableInterruptHandler: None,
                MsiSupported: 1,
                MsiSyncWithAllMessages: 0,
                MessageInterruptHandler: Some(isr),
                MessageInterruptDpcHandler: Some(dpc),
                DisableMessageInterruptHandler: None,
                EnableMessageInterruptHandler: None,
                InterruptType: 0,
                MessageInfoTable: ptr::null_mut(),
            };
            assert_eq!(
                FakeNdis::NdisMRegisterInterruptEx(handle, a.cast(), &mut irq, &mut ta.interrupt),
                0
            );
            assert_eq!(irq.InterruptType, NDIS_CONNECT_MESSAGE_BASED);
            assert_eq!((*irq.MessageInfoTable).MessageCount, 2);

            let mut pool = NET_BUFFER_LIST_POOL_PARAMETERS {
                Header: hdr(
                    NDIS_OBJECT_TYPE_DEFAULT,
                    NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                    NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                ),
                ProtocolId: NDIS_PROTOCOL_ID_DEFAULT,
                fAllocateNetBuffer: 1,
                ContextSize: 0,
                PoolTag: 0x7473_6554,
                DataSize: 0,
            };
            ta.pool = FakeNdis::NdisAllocateNetBufferListPool(handle, &mut pool);
            ta.work_item = FakeNdis::NdisAllocateIoWorkItem(handle);

            let mut gen: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES = core::mem::zeroed();
            gen.Header = hdr(
                NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
                NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
            );
            gen.MediaType = NdisMedium802_3;
            gen.PhysicalMediumType = NdisPhysicalMedium802_3;
            gen.MtuSize = 1500;
            gen.MacAddressLength = 6;
            gen.SupportedOidList = ta.oids.as_mut_ptr();
            gen.SupportedOidListLength = (ta.oids.len() * 4) as u32;
            assert_eq!(
                FakeNdis::NdisMSetMiniportAttributes(handle, (&raw mut gen).cast()),
                0
            );

            ta.ndk_enabled = ta.network_direct == Some(1);
            ta.info.FRMRPageCount = 16;
            ta.caps.Header = hdr(
                NDIS_OBJECT_TYPE_DEFAULT,
                NDIS_NDK_CAPABILITIES_REVISION_1,
                NDIS_SIZEOF_NDK_CAPABILITIES_REVISION_1,
            );
            ta.caps.MaxQpCount = 7;
            ta.caps.NdkInfo = &mut ta.info;
            let mut ndk = NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES {
                Header: hdr(
                    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NDK_ATTRIBUTES,
                    NDIS_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1,
                    NDIS_SIZEOF_MINIPORT_ADAPTER_NDK_ATTRIBUTES_REVISION_1,
                ),
                Enabled: u8::from(ta.ndk_enabled),
                NdkCapabilities: &mut ta.caps,
            };
            assert_eq!(
                FakeNdis::NdisMSetMiniportAttributes(handle, (&raw mut ndk).cast()),
                0
            );
        }
        NDIS_STATUS_SUCCESS
    }

    unsafe extern "system" fn halt(ctx: NDIS_HANDLE, action: NDIS_HALT_ACTION) {
        HALT_ACTION.set(action);
        // SAFETY: the context `init` created; freed here, once.
        unsafe {
            let a = Box::from_raw(ctx.cast::<TestAdapter>());
            FakeNdis::NdisFreeIoWorkItem(a.work_item);
            FakeNdis::NdisFreeNetBufferListPool(a.pool);
            FakeNdis::NdisMDeregisterInterruptEx(a.interrupt);
            FakeNdis::NdisMDeregisterScatterGatherDma(a.dma);
            FakeNdis::NdisMUnmapIoSpace(a.handle, a.bar, a.bar_len);
        }
    }

    unsafe extern "system" fn unload(_obj: *mut DRIVER_OBJECT) {
        // SAFETY: the handle registration returned.
        unsafe { FakeNdis::NdisMDeregisterMiniportDriver(DRIVER_HANDLE.get()) };
    }

    unsafe extern "system" fn pause(
        _ctx: NDIS_HANDLE,
        _p: *mut NDIS_MINIPORT_PAUSE_PARAMETERS,
    ) -> NDIS_STATUS {
        NDIS_STATUS_SUCCESS
    }

    unsafe extern "system" fn restart(
        _ctx: NDIS_HANDLE,
        _p: *mut NDIS_MINIPORT_RESTART_PARAMETERS,
    ) -> NDIS_STATUS {
        NDIS_STATUS_SUCCESS
    }

    unsafe extern "system" fn cancel(_ctx: NDIS_HANDLE, _id: *mut c_void) {}

    unsafe extern "system" fn shutdown(_ctx: NDIS_HANDLE, _a: NDIS_SHUTDOWN_ACTION) {}

    unsafe extern "system" fn device_pnp(_ctx: NDIS_HANDLE, ev: *mut NET_DEVICE_PNP_EVENT) {
        // SAFETY: NDIS's event, valid for the call.
        DEVICE_EVENT.set(unsafe { (*ev).DevicePnPEvent });
    }

    unsafe extern "system" fn ndk_state_work(ctx: *mut c_void, _wi: NDIS_HANDLE) {
        // SAFETY: the adapter context queued with the work item.
        unsafe { notify_ndk(ad(ctx)) };
    }

    /// # Safety
    /// `a` is a live adapter.
    unsafe fn notify_ndk(a: &mut TestAdapter) {
        let mut n = NET_PNP_EVENT_NOTIFICATION {
            Header: hdr(
                NDIS_OBJECT_TYPE_DEFAULT,
                NET_PNP_EVENT_NOTIFICATION_REVISION_1,
                NDIS_SIZEOF_NET_PNP_EVENT_NOTIFICATION_REVISION_1,
            ),
            PortNumber: 0,
            NetPnPEvent: NET_PNP_EVENT {
                NetEvent: if a.ndk_enabled {
                    NetEventNDKEnable
                } else {
                    NetEventNDKDisable
                },
                Buffer: ptr::null_mut(),
                BufferLength: 0,
                NdisReserved: [0; 4],
                TransportReserved: [0; 4],
                TdiReserved: [0; 4],
                TdiClientReserved: [0; 4],
            },
            Flags: 0,
        };
        // SAFETY: a valid notification for this adapter.
        assert_eq!(unsafe { FakeNdis::NdisMNetPnPEvent(a.handle, &mut n) }, 0);
    }

    unsafe extern "system" fn oid(ctx: NDIS_HANDLE, req: *mut NDIS_OID_REQUEST) -> NDIS_STATUS {
        // SAFETY: NDIS's request and buffers, valid for the call.
        unsafe {
            let a = ad(ctx);
            let r = &mut *req;
            match r.RequestType {
                NdisRequestQueryInformation => {
                    let q = &mut r.DATA.QUERY_INFORMATION;
                    match q.Oid {
                        OID_GEN_VENDOR_ID => {
                            if q.InformationBufferLength < 4 {
                                q.BytesNeeded = 4;
                                return NDIS_STATUS_BUFFER_TOO_SHORT;
                            }
                            q.InformationBuffer.cast::<u32>().write_unaligned(VENDOR_ID);
                            q.BytesWritten = 4;
                            NDIS_STATUS_SUCCESS
                        }
                        OID_NDK_STATISTICS => {
                            let n = size_of::<NDIS_NDK_STATISTICS_INFO>();
                            if (q.InformationBufferLength as usize) < n {
                                q.BytesNeeded = n as u32;
                                return NDIS_STATUS_BUFFER_TOO_SHORT;
                            }
                            let mut info = NDIS_NDK_STATISTICS_INFO {
                                Header: hdr(NDIS_OBJECT_TYPE_DEFAULT, 1, n as u16),
                                ..Default::default()
                            };
                            info.CounterSet.Connect = 3;
                            q.InformationBuffer
                                .cast::<NDIS_NDK_STATISTICS_INFO>()
                                .write_unaligned(info);
                            q.BytesWritten = n as u32;
                            NDIS_STATUS_SUCCESS
                        }
                        _ => NDIS_STATUS_NOT_SUPPORTED,
                    }
                }
                NdisRequestSetInformation => {
                    let set = &mut r.DATA.SET_INFORMATION;
                    match set.Oid {
                        OID_GEN_CURRENT_PACKET_FILTER => {
                            if set.InformationBufferLength < 4 {
                                set.BytesNeeded = 4;
                                return NDIS_STATUS_INVALID_LENGTH;
                            }
                            a.packet_filter = set.InformationBuffer.cast::<u32>().read_unaligned();
                            set.BytesRead = 4;
                            NDIS_STATUS_SUCCESS
                        }
                        OID_NDK_SET_STATE => {
                            if set.InformationBufferLength < 1 {
                                set.BytesNeeded = 1;
                                return NDIS_STATUS_INVALID_LENGTH;
                            }
                            a.ndk_enabled = *set.InformationBuffer.cast::<u8>() != 0;
                            set.BytesRead = 1;
                            if PNP_INSIDE_OID.get() {
                                notify_ndk(a);
                            } else {
                                FakeNdis::NdisQueueIoWorkItem(a.work_item, ndk_state_work, ctx);
                            }
                            NDIS_STATUS_SUCCESS
                        }
                        _ => NDIS_STATUS_NOT_SUPPORTED,
                    }
                }
                _ => NDIS_STATUS_NOT_SUPPORTED,
            }
        }
    }

    /// Loops every sent frame back as a receive over the same MDL chain, then completes
    /// the send.
    unsafe extern "system" fn send(
        ctx: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        _port: u32,
        _flags: u32,
    ) {
        // SAFETY: NDIS's NBL chain, owned by the miniport until completed.
        unsafe {
            let a = ad(ctx);
            let resources = LOOPBACK_RESOURCES.get();
            let mut p = nbls;
            while !p.is_null() {
                let nb = (*p).NetBufferListHeader.NetBufferListData.FirstNetBuffer;
                let d = (*nb).NetBufferHeader.NetBufferData;
                let rx = FakeNdis::NdisAllocateNetBufferAndNetBufferList(
                    a.pool,
                    0,
                    0,
                    d.MdlChain,
                    d.DataOffset,
                    d.NbDataLength.DataLength as usize,
                );
                assert!(!rx.is_null());
                (*rx).SourceHandle = a.handle;
                let flags = if resources {
                    NDIS_RECEIVE_FLAGS_RESOURCES
                } else {
                    0
                };
                FakeNdis::NdisMIndicateReceiveNetBufferLists(a.handle, rx, 0, 1, flags);
                if resources {
                    FakeNdis::NdisFreeNetBufferList(rx);
                }
                (*p).Status = NDIS_STATUS_SUCCESS;
                p = (*p).NetBufferListHeader.NetBufferListData.Next;
            }
            FakeNdis::NdisMSendNetBufferListsComplete(a.handle, nbls, 0);
        }
    }

    unsafe extern "system" fn return_nbls(
        ctx: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        _flags: u32,
    ) {
        // SAFETY: NBLs this miniport indicated, returned by NDIS.
        unsafe {
            let a = ad(ctx);
            let mut p = nbls;
            while !p.is_null() {
                let next = (*p).NetBufferListHeader.NetBufferListData.Next;
                FakeNdis::NdisFreeNetBufferList(p);
                a.returned += 1;
                p = next;
            }
        }
    }

    unsafe extern "system" fn isr(
        _ctx: NDIS_HANDLE,
        _msg: u32,
        queue_dpc: *mut BOOLEAN,
        _targets: *mut u32,
    ) -> BOOLEAN {
        // SAFETY: NDIS's out-parameter.
        unsafe { *queue_dpc = 1 };
        1
    }

    unsafe extern "system" fn dpc(
        ctx: NDIS_HANDLE,
        _msg: u32,
        _dpc_ctx: *mut c_void,
        _throttle: *mut c_void,
        _r: *mut c_void,
    ) {
        // SAFETY: the interrupt context is the adapter; all-zero is a valid indication.
        unsafe {
            let a = ad(ctx);
            a.dpcs += 1;
            a.link = NDIS_LINK_STATE {
                Header: hdr(
                    NDIS_OBJECT_TYPE_DEFAULT,
                    NDIS_LINK_STATE_REVISION_1,
                    NDIS_SIZEOF_LINK_STATE_REVISION_1,
                ),
                MediaConnectState: MediaConnectStateConnected,
                MediaDuplexState: MediaDuplexStateFull,
                XmitLinkSpeed: 100_000_000_000,
                RcvLinkSpeed: 100_000_000_000,
                PauseFunctions: NdisPauseFunctionsUnsupported,
                AutoNegotiationFlags: 0,
            };
            let mut ind: NDIS_STATUS_INDICATION = core::mem::zeroed();
            ind.Header = hdr(
                NDIS_OBJECT_TYPE_STATUS_INDICATION,
                NDIS_STATUS_INDICATION_REVISION_1,
                NDIS_SIZEOF_STATUS_INDICATION_REVISION_1,
            );
            ind.SourceHandle = a.handle;
            ind.StatusCode = NDIS_STATUS_LINK_STATE;
            ind.StatusBuffer = (&raw mut a.link).cast();
            ind.StatusBufferSize = size_of::<NDIS_LINK_STATE>() as u32;
            FakeNdis::NdisMIndicateStatusEx(a.handle, &mut ind);
        }
    }

    unsafe extern "system" fn open_ndk(
        ctx: NDIS_HANDLE,
        _p: *mut NDIS_OPEN_NDK_ADAPTER_PARAMETERS,
        out: *mut *mut NDK_ADAPTER,
    ) -> NDIS_STATUS {
        // SAFETY: the adapter context and NDIS's out-parameter.
        unsafe {
            let a = ad(ctx);
            if !a.ndk_enabled {
                return NDIS_STATUS_ADAPTER_NOT_READY;
            }
            let p = Box::into_raw(Box::new([0u64; 8])).cast::<NDK_ADAPTER>();
            a.ndk_open.push(p);
            *out = p;
        }
        NDIS_STATUS_SUCCESS
    }

    unsafe extern "system" fn close_ndk(ctx: NDIS_HANDLE, p: *mut NDK_ADAPTER) {
        // SAFETY: the adapter context; `p` came from `open_ndk`.
        unsafe {
            let a = ad(ctx);
            if let Some(i) = a.ndk_open.iter().position(|&q| q == p) {
                a.ndk_open.remove(i);
                drop(Box::from_raw(p.cast::<[u64; 8]>()));
                NDK_CLOSED.set(NDK_CLOSED.get() + 1);
            }
        }
    }

    /// Device memory for one BAR.
    struct Bar(Vec<u8>);

    impl Bar {
        fn new() -> Bar {
            Bar(vec![0u8; 4096])
        }

        fn device(&mut self, keywords: &[(&str, u32)]) -> FakeDevice {
            FakeDevice {
                bars: vec![(
                    NonNull::new(self.0.as_mut_ptr()).expect("BAR"),
                    self.0.len(),
                )],
                msix_vectors: 2,
                keywords: keywords.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
                platform: MockPlatform::new(),
            }
        }
    }

    fn fresh() {
        FakeNdis::reset();
        BAD_NDK_HEADER.set(false);
        PNP_INSIDE_OID.set(false);
        LOOPBACK_RESOURCES.set(true);
        HALT_ACTION.set(-1);
        DEVICE_EVENT.set(-1);
        NDK_CLOSED.set(0);
        assert_eq!(FakeNdis::load(driver_entry), NDIS_STATUS_SUCCESS);
    }

    fn test_adapter<'a>(id: FakeAdapterId) -> &'a mut TestAdapter {
        // SAFETY: the context of a started, not halted adapter of this thread's test.
        unsafe { ad(FakeNdis::adapter_context(id)) }
    }

    /// Adapter resources the test miniport holds while started: BAR mapping, DMA,
    /// interrupt, NBL pool, work item.
    const HELD: usize = 5;

    fn assert_clean() {
        let v = FakeNdis::violations();
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn load_registers_driver_and_stores_ndk_characteristics() {
        fresh();
        assert!(FakeNdis::driver_registered());
        assert!(FakeNdis::ndk_characteristics().is_some());
        let c = FakeNdis::driver_characteristics().expect("registered");
        assert_eq!(c.MinorNdisVersion, 30);
        assert_eq!(
            FakeNdis::calls(),
            ["NdisMRegisterMiniportDriver", "NdisSetOptionalHandlers"]
        );
        FakeNdis::unload();
        assert!(!FakeNdis::driver_registered());
        assert_clean();
    }

    #[test]
    fn bad_ndk_header_fails_registration() {
        FakeNdis::reset();
        BAD_NDK_HEADER.set(true);
        assert_eq!(FakeNdis::load(driver_entry), NDIS_STATUS_INVALID_PARAMETER);
        assert!(!FakeNdis::driver_registered());
        assert!(FakeNdis::ndk_characteristics().is_none());
    }

    #[test]
    fn init_gets_resources_keywords_and_attributes() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::add_device(bar.device(&[("*networkdirect", 1)])).expect("init");
        assert_eq!(FakeNdis::state(id), FakeAdapterState::Paused);
        let a = test_adapter(id);
        assert_eq!(a.network_direct, Some(1), "keyword read case-insensitively");
        assert_eq!(
            a.bar.cast::<u8>(),
            bar.0.as_mut_ptr(),
            "BAR maps back to device memory"
        );
        assert_eq!(a.bar_len, 4096);
        let attrs = FakeNdis::attributes(id);
        let reg = attrs.registration.expect("registration attributes");
        assert_eq!(reg.InterfaceType, NdisInterfacePci);
        assert_eq!(attrs.supported_oids, OIDS);
        assert_eq!(attrs.general.expect("general").MtuSize, 1500);
        let ndk = attrs.ndk.expect("NDK attributes");
        assert!(ndk.enabled);
        assert_eq!(ndk.capabilities.expect("caps").MaxQpCount, 7);
        assert_eq!(ndk.adapter_info.expect("info").FRMRPageCount, 16);
        // SAFETY: the handles this adapter registered.
        assert!(unsafe { FakeNdis::platform(a.handle, a.dma) }.is_ok());
        // SAFETY: as above; a null DMA handle is rejected.
        assert!(unsafe { FakeNdis::platform(a.handle, ptr::null_mut()) }.is_err());
        assert_eq!(FakeNdis::live_allocations(), HELD);

        // A second adapter without the keyword: the read fails, NDK reported disabled.
        let mut bar2 = Bar::new();
        let id2 = FakeNdis::add_device(bar2.device(&[])).expect("init");
        assert_eq!(test_adapter(id2).network_direct, None);
        assert!(
            !FakeNdis::attributes(id2)
                .ndk
                .expect("NDK attributes")
                .enabled
        );
        FakeNdis::halt(id);
        FakeNdis::halt(id2);
        assert_eq!(FakeNdis::live_allocations(), 0);
        assert_clean();
    }

    #[test]
    fn sends_build_mdl_chains_that_receives_walk() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[])).expect("start");
        let frames: Vec<Vec<u8>> = (0..4u8)
            .map(|k| (0..60 + k).map(|b| b ^ k).collect())
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        FakeNdis::send(id, &refs);
        assert_eq!(FakeNdis::sent(id), vec![NDIS_STATUS_SUCCESS; 4]);
        assert_eq!(FakeNdis::received(id), frames);
        let odd = FakeSendLayout {
            lead: 3,
            chunk: 5,
            tail: 7,
        };
        FakeNdis::send_with(id, &refs, odd);
        assert_eq!(
            FakeNdis::received(id),
            frames,
            "DataOffset and many MDLs honoured"
        );
        assert_eq!(test_adapter(id).returned, 0, "RESOURCES: never returned");
        LOOPBACK_RESOURCES.set(false);
        FakeNdis::send_with(id, &refs[..2], odd);
        assert_eq!(FakeNdis::received(id), frames[..2]);
        assert_eq!(
            test_adapter(id).returned,
            2,
            "returned through MiniportReturnNetBufferLists"
        );
        assert_eq!(FakeNdis::sent(id).len(), 6);
        assert_eq!(FakeNdis::outstanding_sends(id), 0);
        assert_eq!(
            FakeNdis::live_allocations(),
            HELD,
            "every loopback NBL freed"
        );
        assert_clean();
    }

    #[test]
    fn interrupt_line_runs_isr_then_dpc() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[])).expect("start");
        let line = FakeNdis::interrupt_line(id);
        line();
        FakeNdis::interrupt_message(id, 1)();
        assert_eq!(FakeNdis::interrupt_counts(id), (2, 2, 0));
        assert_eq!(test_adapter(id).dpcs, 2);
        assert_eq!(
            FakeNdis::status_indications(id),
            [NDIS_STATUS_LINK_STATE, NDIS_STATUS_LINK_STATE]
        );
        let link = FakeNdis::link_state(id).expect("link state");
        assert_eq!(link.MediaConnectState, MediaConnectStateConnected);
        FakeNdis::halt(id);
        line();
        assert_eq!(
            FakeNdis::interrupt_counts(id),
            (2, 2, 1),
            "spurious after deregistration"
        );
        assert_clean();
    }

    #[test]
    fn oid_requests_report_lengths_and_status() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[])).expect("start");
        assert_eq!(
            FakeNdis::oid_query(id, OID_GEN_VENDOR_ID, 2),
            Err(NDIS_STATUS_BUFFER_TOO_SHORT)
        );
        let mut small = [0u8; 2];
        let r = FakeNdis::oid_request(
            id,
            NdisRequestQueryInformation,
            OID_GEN_VENDOR_ID,
            0,
            &mut small,
            0,
            false,
        );
        assert_eq!(
            (r.status, r.bytes_needed),
            (NDIS_STATUS_BUFFER_TOO_SHORT, 4)
        );
        assert_eq!(
            FakeNdis::oid_query(id, OID_GEN_VENDOR_ID, 8),
            Ok(VENDOR_ID.to_le_bytes().to_vec())
        );
        assert_eq!(
            FakeNdis::oid_set(id, OID_GEN_CURRENT_PACKET_FILTER, &[1, 0, 0, 0]),
            Ok(())
        );
        assert_eq!(test_adapter(id).packet_filter, NDIS_PACKET_TYPE_DIRECTED);
        assert_eq!(
            FakeNdis::oid_set(id, OID_GEN_CURRENT_PACKET_FILTER, &[1]),
            Err(NDIS_STATUS_INVALID_LENGTH)
        );
        assert_eq!(
            FakeNdis::oid_query(id, OID_GEN_LINK_SPEED, 8),
            Err(NDIS_STATUS_NOT_SUPPORTED)
        );
        assert_eq!(
            FakeNdis::oid_method(id, OID_GEN_VENDOR_ID, 1, &[], 4),
            Err(NDIS_STATUS_NOT_SUPPORTED)
        );
        let stats = FakeNdis::oid_query_direct(id, OID_NDK_STATISTICS, 0x100).expect("stats");
        assert_eq!(stats.len(), size_of::<NDIS_NDK_STATISTICS_INFO>());
        assert_eq!(stats[8..16], 3u64.to_le_bytes(), "CounterSet.Connect");
        FakeNdis::halt(id);
        assert_clean();
    }

    #[test]
    fn ndk_disable_event_closes_open_ndk_adapters() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[("*NetworkDirect", 1)])).expect("start");
        let v = NDK_VERSION::new(2, 0);
        let a1 = FakeNdis::open_ndk(id, v).expect("open");
        let _a2 = FakeNdis::open_ndk(id, v).expect("open");
        assert_eq!(FakeNdis::open_ndk_adapters(id), 2);
        FakeNdis::close_ndk(id, a1);
        assert_eq!(NDK_CLOSED.get(), 1);
        assert_eq!(FakeNdis::oid_set(id, OID_NDK_SET_STATE, &[0]), Ok(()));
        assert_eq!(FakeNdis::queued_work_items(), 1);
        assert!(
            FakeNdis::pnp_events(id).is_empty(),
            "not from inside the OID"
        );
        assert_eq!(FakeNdis::run_work_items(), 1);
        assert_eq!(FakeNdis::pnp_events(id), [NetEventNDKDisable]);
        assert_eq!(FakeNdis::open_ndk_adapters(id), 0);
        assert_eq!(NDK_CLOSED.get(), 2, "NDIS closed the remaining adapter");
        assert_eq!(
            FakeNdis::open_ndk(id, v),
            Err(NDIS_STATUS_ADAPTER_NOT_READY)
        );
        FakeNdis::halt(id);
        assert_clean();
    }

    #[test]
    fn pnp_event_from_inside_an_oid_is_a_violation() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[("*NetworkDirect", 1)])).expect("start");
        PNP_INSIDE_OID.set(true);
        assert_eq!(FakeNdis::oid_set(id, OID_NDK_SET_STATE, &[0]), Ok(()));
        let v = FakeNdis::violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("inside MiniportOidRequest"), "{v:?}");
    }

    #[test]
    fn surprise_removal_notifies_then_halts() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[("*NetworkDirect", 1)])).expect("start");
        FakeNdis::open_ndk(id, NDK_VERSION::new(1, 2)).expect("open");
        FakeNdis::surprise_remove(id);
        assert_eq!(DEVICE_EVENT.get(), NdisDevicePnPEventSurpriseRemoved);
        assert_eq!(HALT_ACTION.get(), NdisHaltDeviceSurpriseRemoved);
        assert_eq!(NDK_CLOSED.get(), 1, "open NDK adapters closed before halt");
        assert_eq!(FakeNdis::state(id), FakeAdapterState::Halted);
        assert_eq!(FakeNdis::live_allocations(), 0);
        FakeNdis::unload();
        assert!(!FakeNdis::driver_registered());
        assert_clean();
    }

    #[test]
    fn allocations_are_counted_and_misuse_recorded() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[])).expect("start");
        let h = FakeNdis::adapter_handle(id);
        let mut buf = [7u8; 32];
        // SAFETY: fake NDIS calls with a live buffer and this adapter's handle.
        unsafe {
            let mdl = FakeNdis::NdisAllocateMdl(h, buf.as_mut_ptr().cast(), 32);
            assert!(!mdl.is_null());
            assert_eq!(
                (*mdl).MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL,
                MDL_SOURCE_IS_NONPAGED_POOL
            );
            assert_eq!(
                FakeNdis::MmGetSystemAddressForMdlSafe(mdl),
                buf.as_mut_ptr().cast()
            );
            assert_eq!(FakeNdis::live_allocations(), HELD + 1);
            FakeNdis::NdisFreeMdl(mdl);
            assert_eq!(FakeNdis::live_allocations(), HELD);
            assert_clean();
            FakeNdis::NdisFreeMdl(mdl);
            let mut va = ptr::null_mut();
            assert_eq!(
                FakeNdis::NdisMMapIoSpace(&mut va, h, 0x1234_0000, 16),
                NDIS_STATUS_RESOURCE_CONFLICT
            );
            assert!(va.is_null());
        }
        let v = FakeNdis::violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("NdisFreeMdl"), "{v:?}");
    }

    #[test]
    fn network_address_list_is_laid_out_as_ntddndis_declares() {
        let v4 = core::net::Ipv4Addr::new(10, 0, 0, 1);
        let v6 = core::net::Ipv6Addr::LOCALHOST;
        let d = FakeNdis::network_address_list(&[v4.into(), v6.into()]);
        assert_eq!(d[..4], 2i32.to_le_bytes());
        assert_eq!(d[4..6], NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
        // Entry 0 at offset 6: length 16, type TCP_IP, in_addr at 6 + 4 + 4.
        assert_eq!(d[6..8], 16u16.to_le_bytes());
        assert_eq!(d[8..10], NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
        assert_eq!(d[14..18], v4.octets());
        // Entry 1 at offset 6 + 4 + 16: length 28, type IP6, sin6_addr at + 4 + 8.
        assert_eq!(d[26..28], 28u16.to_le_bytes());
        assert_eq!(d[28..30], NDIS_PROTOCOL_ID_IP6.to_le_bytes());
        assert_eq!(d[38..54], v6.octets());
        assert_eq!(d.len(), 26 + 4 + 28);
    }

    #[test]
    fn receive_while_paused_and_handles_after_halt_are_violations() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[])).expect("start");
        assert_eq!(FakeNdis::pause(id), NDIS_STATUS_SUCCESS);
        FakeNdis::send(id, &[&[1u8; 60]]);
        let v = FakeNdis::violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("while the adapter is Paused"), "{v:?}");
        let h = FakeNdis::adapter_handle(id);
        FakeNdis::halt(id);
        // SAFETY: a fake NDIS call with a stale handle; the fake only decodes it.
        let wi = unsafe { FakeNdis::NdisAllocateIoWorkItem(h) };
        assert!(wi.is_null());
        let v = FakeNdis::violations();
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[1].contains("after the adapter was Halted"), "{v:?}");
    }

    #[test]
    fn halt_with_resources_held_is_reported() {
        fresh();
        let mut bar = Bar::new();
        let id = FakeNdis::start_device(bar.device(&[])).expect("start");
        let h = FakeNdis::adapter_handle(id);
        let mut va = ptr::null_mut();
        // SAFETY: fake NDIS call for 16 bytes inside this adapter's BAR.
        let st = unsafe { FakeNdis::NdisMMapIoSpace(&mut va, h, bar_phys(id.0, 0) + 16, 16) };
        assert_eq!(st, NDIS_STATUS_SUCCESS);
        assert_eq!(va.cast::<u8>(), bar.0.as_mut_ptr().wrapping_add(16));
        FakeNdis::halt(id);
        let v = FakeNdis::violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("I/O mapping"), "{v:?}");
    }
}
