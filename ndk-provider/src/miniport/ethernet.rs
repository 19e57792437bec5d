//! The adapter's plain Ethernet function: NET_BUFFER_LISTs sent and received through the
//! silicon's raw Ethernet queue. SMB Direct needs TCP/IP on the same interface, so an NDK
//! provider is also a working Ethernet miniport.
//!
//! Send: each NET_BUFFER is copied (its MDL chain walked) into a preallocated DMA transmit
//! slot and posted; an NBL completes when its last NET_BUFFER did. NBLs wait in a software
//! queue, linked through their own `Next` pointers, while the ring is full.
//!
//! Receive: every receive buffer is a slice of one DMA region, preposted, with an NBL and an
//! MDL allocated for it at initialization; a received frame is indicated in its NBL and
//! reposted when NDIS returns it. Nothing on either path allocates.
//!
//! Locking: one spin lock over the queue and the slot tables; NDIS is called (indicate,
//! send complete, pause complete) only after it is released.

use alloc::vec::Vec;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use hal::{DmaRegion, EthBuffer, EthCompletion, EthernetPort, LinkState, NicHal, Platform};

use crate::abi::*;
use crate::device::Lock;

use super::context::{HalArc, HalOf, Handle};
use super::{Ndis, Silicon};

/// Receive buffers preposted on the raw queue.
pub const RECEIVE_RING_DEPTH: u32 = 64;
/// Transmit slots (frames in flight).
pub const SEND_RING_DEPTH: u32 = 64;
/// Below this many posted receive buffers, frames are indicated with
/// `NDIS_RECEIVE_FLAGS_RESOURCES` (NDIS copies them) and reposted at once.
const RECEIVE_LOW_WATER: u32 = RECEIVE_RING_DEPTH / 8;
/// Completions harvested per poll.
const POLL_BATCH: usize = 32;
/// Ethernet header plus one VLAN tag.
const FRAME_OVERHEAD: u32 = 18;
/// Neighbour entries remembered, so a steady flow does not tell the HAL again per frame.
const NEIGHBOUR_CACHE: usize = 8;

/// Ethernet counters for the general statistics OIDs.
#[derive(Default)]
pub struct EthCounters {
    /// Frames sent.
    pub xmit_ok: AtomicU64,
    /// Bytes sent.
    pub xmit_bytes: AtomicU64,
    /// Frames that could not be sent.
    pub xmit_error: AtomicU64,
    /// Frames indicated.
    pub rcv_ok: AtomicU64,
    /// Bytes indicated.
    pub rcv_bytes: AtomicU64,
    /// Frames dropped (paused, or no NBL).
    pub rcv_discards: AtomicU64,
}

/// NBLs waiting for transmit slots, linked through `NET_BUFFER_LIST.Next`.
struct NblQueue {
    head: usize,
    tail: usize,
}

struct EthState<H: EthernetPort> {
    q: Option<H::EthQueue>,
    /// Sends are taken and receives indicated (Running); otherwise sends fail with
    /// `refuse` and received frames are reposted unseen.
    running: bool,
    /// Status of refused sends: `NDIS_STATUS_PAUSED` or, after removal,
    /// `NDIS_STATUS_ADAPTER_REMOVED`.
    refuse: NDIS_STATUS,
    /// The NBL each transmit slot carries a frame of (0 = free).
    tx_owner: Vec<usize>,
    /// Free transmit slots.
    tx_free: Vec<u32>,
    waiting: NblQueue,
    /// Receive NBL and MDL per receive slot.
    rx_nbl: Vec<usize>,
    rx_mdl: Vec<usize>,
    /// Receive buffers on the ring.
    rx_posted: u32,
    neighbours: [Option<(IpAddr, [u8; 6])>; NEIGHBOUR_CACHE],
    next_neighbour: usize,
    /// Link state last reported to NDIS.
    link: LinkState,
}

/// The raw queue of one adapter and the NBLs around it.
pub struct EthPort<S: Silicon<N::Platform>, N: Ndis> {
    handle: Handle,
    hal: HalArc<S, N>,
    slot_len: usize,
    tx_dma: Option<DmaRegion>,
    rx_dma: Option<DmaRegion>,
    pool: Handle,
    st: Lock<HalOf<S, N>, EthState<HalOf<S, N>>>,
    /// Receive NBLs NDIS holds.
    rx_held: AtomicU32,
    /// MiniportPause returned PENDING; NdisMPauseComplete is owed.
    pause_pending: AtomicBool,
    /// Counters.
    pub counters: EthCounters,
    _ndis: PhantomData<fn() -> (S, N)>,
}

// ---------------------------------------------------------------------------------------
// NBL / NET_BUFFER / MDL field access: the only raw accesses of this module.
// ---------------------------------------------------------------------------------------

/// # Safety (all of these)
/// The pointer is a live NBL / NET_BUFFER / MDL the caller owns for the access (given by
/// NDIS to the miniport, or allocated by it).
mod raw {
    use super::*;

    pub unsafe fn nbl_next(nbl: *mut NET_BUFFER_LIST) -> *mut NET_BUFFER_LIST {
        // SAFETY: see the module contract.
        unsafe { (*nbl).NetBufferListHeader.NetBufferListData.Next }
    }
    pub unsafe fn set_nbl_next(nbl: *mut NET_BUFFER_LIST, next: *mut NET_BUFFER_LIST) {
        // SAFETY: see the module contract.
        unsafe { (*nbl).NetBufferListHeader.NetBufferListData.Next = next };
    }
    pub unsafe fn first_nb(nbl: *mut NET_BUFFER_LIST) -> *mut NET_BUFFER {
        // SAFETY: see the module contract.
        unsafe { (*nbl).NetBufferListHeader.NetBufferListData.FirstNetBuffer }
    }
    pub unsafe fn reserved(nbl: *mut NET_BUFFER_LIST, i: usize) -> usize {
        // SAFETY: see the module contract.
        unsafe { (*nbl).MiniportReserved.get(i).map_or(0, |p| *p as usize) }
    }
    pub unsafe fn set_reserved(nbl: *mut NET_BUFFER_LIST, i: usize, v: usize) {
        // SAFETY: see the module contract.
        if let Some(p) = unsafe { (*nbl).MiniportReserved.get_mut(i) } {
            *p = v as *mut c_void;
        }
    }
    pub unsafe fn status(nbl: *mut NET_BUFFER_LIST) -> NDIS_STATUS {
        // SAFETY: see the module contract.
        unsafe { (*nbl).Status }
    }
    pub unsafe fn set_status(nbl: *mut NET_BUFFER_LIST, s: NDIS_STATUS) {
        // SAFETY: see the module contract.
        unsafe { (*nbl).Status = s };
    }
    pub unsafe fn set_source(nbl: *mut NET_BUFFER_LIST, h: NDIS_HANDLE) {
        // SAFETY: see the module contract.
        unsafe { (*nbl).SourceHandle = h };
    }
    pub unsafe fn nb_next(nb: *mut NET_BUFFER) -> *mut NET_BUFFER {
        // SAFETY: see the module contract.
        unsafe { (*nb).NetBufferHeader.NetBufferData.Next }
    }
    pub unsafe fn nb_length(nb: *mut NET_BUFFER) -> usize {
        // SAFETY: see the module contract.
        unsafe { (*nb).NetBufferHeader.NetBufferData.NbDataLength.DataLength as usize }
    }
    pub unsafe fn set_nb_length(nb: *mut NET_BUFFER, len: u32) {
        // SAFETY: see the module contract.
        unsafe {
            (*nb)
                .NetBufferHeader
                .NetBufferData
                .NbDataLength
                .stDataLength = len as usize
        };
    }
    pub unsafe fn nb_current(nb: *mut NET_BUFFER) -> (*mut MDL, usize) {
        // SAFETY: see the module contract.
        unsafe {
            let d = &(*nb).NetBufferHeader.NetBufferData;
            (d.CurrentMdl, d.CurrentMdlOffset as usize)
        }
    }
    pub unsafe fn mdl_next(mdl: *mut MDL) -> *mut MDL {
        // SAFETY: see the module contract.
        unsafe { (*mdl).Next }
    }
    pub unsafe fn mdl_len(mdl: *mut MDL) -> usize {
        // SAFETY: see the module contract.
        unsafe { (*mdl).ByteCount as usize }
    }
    pub unsafe fn set_mdl_len(mdl: *mut MDL, len: u32) {
        // SAFETY: see the module contract.
        unsafe { (*mdl).ByteCount = len };
    }
}

/// A chain of NBLs being built, to hand to NDIS in one call.
struct Chain {
    head: *mut NET_BUFFER_LIST,
    tail: *mut NET_BUFFER_LIST,
    count: u32,
}

impl Chain {
    fn new() -> Chain {
        Chain {
            head: null_mut(),
            tail: null_mut(),
            count: 0,
        }
    }

    /// # Safety
    /// `nbl` is owned by the miniport and in no other chain.
    unsafe fn push(&mut self, nbl: *mut NET_BUFFER_LIST) {
        // SAFETY: per the contract.
        unsafe {
            raw::set_nbl_next(nbl, null_mut());
            if self.tail.is_null() {
                self.head = nbl;
            } else {
                raw::set_nbl_next(self.tail, nbl);
            }
        }
        self.tail = nbl;
        self.count = self.count.saturating_add(1);
    }
}

/// A frame's length rounded up to the slot granularity.
fn slot_len_for(mtu: u32) -> usize {
    let frame = mtu.saturating_add(FRAME_OVERHEAD) as usize;
    frame.div_ceil(64).saturating_mul(64).max(64)
}

impl<S: Silicon<N::Platform>, N: Ndis> EthPort<S, N> {
    /// Allocates the rings, the receive NBLs and MDLs, creates the raw queue (completions
    /// reported with `ctx`) and preposts every receive buffer (MiniportInitializeEx,
    /// PASSIVE_LEVEL). On failure everything allocated is released.
    pub fn new(handle: Handle, hal: HalArc<S, N>, ctx: u64) -> Result<Self, NDIS_STATUS> {
        let slot_len = slot_len_for(hal.mtu());
        let st = EthState::<HalOf<S, N>> {
            q: None,
            running: false,
            refuse: NDIS_STATUS_PAUSED,
            tx_owner: Vec::new(),
            tx_free: Vec::new(),
            waiting: NblQueue { head: 0, tail: 0 },
            rx_nbl: Vec::new(),
            rx_mdl: Vec::new(),
            rx_posted: 0,
            neighbours: [None; NEIGHBOUR_CACHE],
            next_neighbour: 0,
            link: hal.link_state(),
        };
        let mut port = EthPort {
            handle,
            hal,
            slot_len,
            tx_dma: None,
            rx_dma: None,
            pool: Handle::NULL,
            st: Lock::<HalOf<S, N>, _>::new(st),
            rx_held: AtomicU32::new(0),
            pause_pending: AtomicBool::new(false),
            counters: EthCounters::default(),
            _ndis: PhantomData,
        };
        // From here on, `port`'s Drop releases whatever was set up.
        port.setup(ctx)?;
        Ok(port)
    }

    fn setup(&mut self, ctx: u64) -> Result<(), NDIS_STATUS> {
        let tx_n = SEND_RING_DEPTH as usize;
        let rx_n = RECEIVE_RING_DEPTH as usize;
        let platform = self.hal.platform();
        let bytes = |n: usize| n.checked_mul(self.slot_len).ok_or(NDIS_STATUS_RESOURCES);
        self.tx_dma = Some(
            platform
                .alloc_dma(bytes(tx_n)?)
                .map_err(|_| NDIS_STATUS_RESOURCES)?,
        );
        self.rx_dma = Some(
            platform
                .alloc_dma(bytes(rx_n)?)
                .map_err(|_| NDIS_STATUS_RESOURCES)?,
        );
        let st = self.st.get_mut();
        let room = st.tx_owner.try_reserve_exact(tx_n).is_ok()
            && st.tx_free.try_reserve_exact(tx_n).is_ok()
            && st.rx_nbl.try_reserve_exact(rx_n).is_ok()
            && st.rx_mdl.try_reserve_exact(rx_n).is_ok();
        if !room {
            return Err(NDIS_STATUS_RESOURCES);
        }
        st.tx_owner.resize(tx_n, 0);
        // Popped from the end: slot 0 first.
        st.tx_free.extend((0..SEND_RING_DEPTH).rev());

        let mut params = NET_BUFFER_LIST_POOL_PARAMETERS {
            Header: NDIS_OBJECT_HEADER {
                Type: NDIS_OBJECT_TYPE_DEFAULT,
                Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                Size: NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            },
            ProtocolId: NDIS_PROTOCOL_ID_DEFAULT,
            fAllocateNetBuffer: 1,
            ContextSize: 0,
            PoolTag: POOL_TAG,
            DataSize: 0,
        };
        // SAFETY: `params` is a valid pool description for the adapter's handle.
        let pool = unsafe { N::NdisAllocateNetBufferListPool(self.handle.0, &mut params) };
        if pool.is_null() {
            return Err(NDIS_STATUS_RESOURCES);
        }
        self.pool = Handle(pool);
        let Some(rx) = self.rx_dma.as_ref() else {
            return Err(NDIS_STATUS_RESOURCES);
        };
        let base = rx.cpu_ptr().as_ptr();
        let slot_len = u32::try_from(self.slot_len).map_err(|_| NDIS_STATUS_RESOURCES)?;
        for i in 0..rx_n {
            let off = i.saturating_mul(self.slot_len);
            // SAFETY: `off + slot_len` is inside the receive region (rx_n slots).
            let va = unsafe { base.add(off) }.cast::<c_void>();
            // SAFETY: `va` is `slot_len` bytes of nonpaged memory the adapter owns.
            let mdl = unsafe { N::NdisAllocateMdl(self.handle.0, va, slot_len) };
            if mdl.is_null() {
                return Err(NDIS_STATUS_RESOURCES);
            }
            st.rx_mdl.push(mdl as usize);
            // SAFETY: `pool` and `mdl` were just allocated for this adapter.
            let nbl = unsafe {
                N::NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, mdl, 0, self.slot_len)
            };
            if nbl.is_null() {
                return Err(NDIS_STATUS_RESOURCES);
            }
            // SAFETY: a fresh NBL the miniport owns.
            unsafe {
                raw::set_reserved(nbl, 0, i);
                raw::set_source(nbl, self.handle.0);
            }
            st.rx_nbl.push(nbl as usize);
        }

        let q = self
            .hal
            .create_eth_queue(SEND_RING_DEPTH, RECEIVE_RING_DEPTH, ctx)
            .map_err(|_| NDIS_STATUS_RESOURCES)?;
        let st = self.st.get_mut();
        let q = st.q.insert(q);
        let rx_bus = rx.bus_address();
        for i in 0..RECEIVE_RING_DEPTH {
            let buf = EthBuffer {
                addr: rx_bus.saturating_add(u64::from(i).saturating_mul(u64::from(slot_len))),
                len: slot_len,
            };
            if self.hal.post_eth_recv(q, buf, u64::from(i)).is_ok() {
                st.rx_posted = st.rx_posted.saturating_add(1);
            }
        }
        self.hal.ring_eth(q);
        self.hal.arm_eth(q);
        Ok(())
    }

    /// Bytes per DMA slot (largest frame the adapter sends or receives).
    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// Lets sends and receive indications flow (MiniportRestart).
    pub fn restart(&self) {
        let mut st = self.st.lock();
        if st.q.is_some() {
            st.running = true;
        }
    }

    /// MiniportPause: refuses new sends with `NDIS_STATUS_PAUSED`, completes the waiting
    /// ones so, stops indicating receives. True when nothing is outstanding; otherwise
    /// `NdisMPauseComplete` follows when the last posted send completes and the last
    /// indicated receive returns.
    pub fn pause(&self) -> bool {
        let refused = {
            let mut st = self.st.lock();
            st.running = false;
            take_waiting(&mut st, NDIS_STATUS_PAUSED)
        };
        self.complete_sends(refused, NDIS_STATUS_PAUSED, false);
        self.pause_pending.store(true, Ordering::Release);
        self.try_finish_pause(false)
    }

    /// Finishes a pending pause when nothing is outstanding; true when this call finished
    /// it. `notify`: tell NDIS with NdisMPauseComplete (false from MiniportPause itself,
    /// which returns SUCCESS instead; when another processor finished the pause first,
    /// MiniportPause returns PENDING, NdisMPauseComplete having been called).
    fn try_finish_pause(&self, notify: bool) -> bool {
        if !self.pause_pending.load(Ordering::Acquire) {
            return false;
        }
        let idle = {
            let st = self.st.lock();
            st.tx_free.len() == st.tx_owner.len()
        } && self.rx_held.load(Ordering::Acquire) == 0;
        if !idle
            || self
                .pause_pending
                .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        if notify {
            // SAFETY: the adapter's handle; a pause returned PENDING and is finished now.
            unsafe { N::NdisMPauseComplete(self.handle.0) };
        }
        true
    }

    /// Surprise removal: the device will complete nothing any more; every outstanding send
    /// completes now (flushed), new ones fail with `NDIS_STATUS_ADAPTER_REMOVED`.
    pub fn removed(&self) {
        {
            let mut st = self.st.lock();
            st.running = false;
            st.refuse = NDIS_STATUS_ADAPTER_REMOVED;
            let st = &mut *st;
            if let Some(q) = st.q.as_mut() {
                self.hal.flush_eth(q);
            }
        }
        self.service(false);
        let refused = {
            let mut st = self.st.lock();
            take_waiting(&mut st, NDIS_STATUS_ADAPTER_REMOVED)
        };
        self.complete_sends(refused, NDIS_STATUS_ADAPTER_REMOVED, false);
    }

    /// MiniportSendNetBufferLists.
    ///
    /// # Safety
    /// `nbls` is a chain NDIS hands to the miniport.
    pub unsafe fn send(&self, nbls: *mut NET_BUFFER_LIST, dispatch: bool) {
        let mut done = Chain::new();
        let refused = {
            let mut st = self.st.lock();
            if !st.running || st.q.is_none() {
                Some(st.refuse)
            } else {
                let mut nbl = nbls;
                while !nbl.is_null() {
                    // SAFETY: NDIS's chain; the miniport owns each NBL until it completes it.
                    unsafe {
                        let next = raw::nbl_next(nbl);
                        raw::set_status(nbl, NDIS_STATUS_SUCCESS);
                        raw::set_reserved(nbl, 0, 0);
                        raw::set_reserved(nbl, 1, raw::first_nb(nbl) as usize);
                        raw::set_nbl_next(nbl, null_mut());
                        if st.waiting.tail == 0 {
                            st.waiting.head = nbl as usize;
                        } else {
                            raw::set_nbl_next(st.waiting.tail as *mut NET_BUFFER_LIST, nbl);
                        }
                        st.waiting.tail = nbl as usize;
                        nbl = next;
                    }
                }
                self.pump(&mut st, &mut done);
                None
            }
        };
        match refused {
            Some(status) => self.complete_sends(nbls, status, dispatch),
            None => self.send_complete(done, dispatch),
        }
    }

    /// Copies waiting NET_BUFFERs into free slots and posts them; NBLs with nothing left in
    /// flight go to `done`.
    fn pump(&self, st: &mut EthState<HalOf<S, N>>, done: &mut Chain) {
        let Some(tx) = self.tx_dma.as_ref() else {
            return;
        };
        let mut posted = false;
        loop {
            let nbl = st.waiting.head as *mut NET_BUFFER_LIST;
            if nbl.is_null() {
                break;
            }
            // SAFETY: NBLs in the waiting queue are owned by the miniport.
            let cursor = unsafe { raw::reserved(nbl, 1) } as *mut NET_BUFFER;
            if cursor.is_null() {
                // Every NET_BUFFER posted: off the queue.
                // SAFETY: as above.
                let next = unsafe { raw::nbl_next(nbl) };
                st.waiting.head = next as usize;
                if next.is_null() {
                    st.waiting.tail = 0;
                }
                // SAFETY: as above.
                if unsafe { raw::reserved(nbl, 0) } == 0 {
                    // SAFETY: off the waiting queue, so in no other chain.
                    unsafe { done.push(nbl) };
                }
                continue;
            }
            let Some(&slot) = st.tx_free.last() else {
                break;
            };
            let off = (slot as usize).saturating_mul(self.slot_len);
            // SAFETY: `cursor` is a NET_BUFFER of an NBL the miniport owns.
            let copied = unsafe { copy_net_buffer::<N>(cursor, tx, off, self.slot_len) };
            let result = match (copied, st.q.as_mut()) {
                (Ok(len), Some(q)) => {
                    let frag = EthBuffer {
                        addr: tx.bus_address().saturating_add(off as u64),
                        len,
                    };
                    self.hal
                        .post_eth_send(q, &[frag], u64::from(slot))
                        .map(|_| len)
                        .map_err(|_| NDIS_STATUS_FAILURE)
                }
                (Ok(_), None) => Err(NDIS_STATUS_FAILURE),
                (Err(s), _) => Err(s),
            };
            match result {
                Ok(len) => {
                    st.tx_free.pop();
                    if let Some(o) = st.tx_owner.get_mut(slot as usize) {
                        *o = nbl as usize;
                    }
                    // SAFETY: as above.
                    unsafe { raw::set_reserved(nbl, 0, raw::reserved(nbl, 0).saturating_add(1)) };
                    self.counters
                        .xmit_bytes
                        .fetch_add(u64::from(len), Ordering::Relaxed);
                    posted = true;
                }
                Err(s) => {
                    self.counters.xmit_error.fetch_add(1, Ordering::Relaxed);
                    // SAFETY: as above.
                    unsafe { raw::set_status(nbl, s) };
                }
            }
            // SAFETY: as above.
            unsafe { raw::set_reserved(nbl, 1, raw::nb_next(cursor) as usize) };
        }
        if posted {
            if let Some(q) = st.q.as_mut() {
                self.hal.ring_eth(q);
            }
        }
    }

    /// The raw queue's completion service: run on `HalEvent::EthNotify` in the device's
    /// event DPC (DISPATCH_LEVEL), and by pause / removal / halt to drain.
    pub fn service(&self, dispatch: bool) {
        let mut comps = [EthCompletion::Sent {
            token: 0,
            ok: false,
        }; POLL_BATCH];
        loop {
            let mut sent = Chain::new();
            let mut rcvd = Chain::new();
            let mut repost_after = false;
            let n = {
                let mut guard = self.st.lock();
                let st = &mut *guard;
                let Some(q) = st.q.as_mut() else {
                    return;
                };
                let n = self.hal.poll_eth(q, &mut comps).min(POLL_BATCH);
                for c in comps.iter().take(n) {
                    match *c {
                        EthCompletion::Sent { token, ok } => self.on_sent(st, token, ok, &mut sent),
                        EthCompletion::Received { token, len, ok } => {
                            self.on_received(st, token, len, ok, &mut rcvd)
                        }
                    }
                }
                self.pump(st, &mut sent);
                if rcvd.count > 0 && st.rx_posted < RECEIVE_LOW_WATER {
                    repost_after = true;
                }
                if n < POLL_BATCH {
                    if let Some(q) = st.q.as_mut() {
                        self.hal.ring_eth(q);
                        self.hal.arm_eth(q);
                    }
                }
                n
            };
            self.send_complete(sent, dispatch);
            if rcvd.count > 0 {
                self.indicate(rcvd, repost_after, dispatch);
            }
            if n < POLL_BATCH {
                break;
            }
        }
        self.report_link();
        self.try_finish_pause(true);
    }

    /// A link change raises EthNotify too: tells NDIS (`NDIS_STATUS_LINK_STATE`).
    fn report_link(&self) {
        let now = self.hal.link_state();
        {
            let mut st = self.st.lock();
            if st.link == now || st.q.is_none() {
                return;
            }
            st.link = now;
        }
        let mut state = super::oid::link_state(&now);
        let mut ind = NDIS_STATUS_INDICATION {
            Header: NDIS_OBJECT_HEADER {
                Type: NDIS_OBJECT_TYPE_STATUS_INDICATION,
                Revision: NDIS_STATUS_INDICATION_REVISION_1,
                Size: NDIS_SIZEOF_STATUS_INDICATION_REVISION_1,
            },
            SourceHandle: self.handle.0,
            PortNumber: NDIS_DEFAULT_PORT_NUMBER,
            StatusCode: NDIS_STATUS_LINK_STATE,
            Flags: 0,
            DestinationHandle: null_mut(),
            RequestId: null_mut(),
            StatusBuffer: (&mut state as *mut NDIS_LINK_STATE).cast::<c_void>(),
            StatusBufferSize: core::mem::size_of::<NDIS_LINK_STATE>() as u32,
            Guid: GUID::default(),
            NdisReserved: [null_mut(); 4],
        };
        // SAFETY: the adapter's handle and a filled indication whose buffer outlives the
        // call; no lock is held.
        unsafe { N::NdisMIndicateStatusEx(self.handle.0, &mut ind) };
    }

    fn on_sent(&self, st: &mut EthState<HalOf<S, N>>, token: u64, ok: bool, done: &mut Chain) {
        let Ok(slot) = usize::try_from(token) else {
            return;
        };
        let Some(owner) = st.tx_owner.get_mut(slot) else {
            return;
        };
        let nbl = core::mem::take(owner) as *mut NET_BUFFER_LIST;
        if nbl.is_null() {
            return;
        }
        st.tx_free.push(slot as u32);
        if ok {
            self.counters.xmit_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.xmit_error.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: an NBL in flight is owned by the miniport until completed here.
        unsafe {
            if !ok && raw::status(nbl) == NDIS_STATUS_SUCCESS {
                // Flushed by a pause or removal, or dropped by the device.
                let fail = if st.running {
                    NDIS_STATUS_FAILURE
                } else {
                    st.refuse
                };
                raw::set_status(nbl, fail);
            }
            let left = raw::reserved(nbl, 0).saturating_sub(1);
            raw::set_reserved(nbl, 0, left);
            // With NET_BUFFERs left to post it is still queued: the pump completes it.
            if left == 0 && raw::reserved(nbl, 1) == 0 {
                done.push(nbl);
            }
        }
    }

    fn on_received(
        &self,
        st: &mut EthState<HalOf<S, N>>,
        token: u64,
        len: u32,
        ok: bool,
        out: &mut Chain,
    ) {
        let Ok(slot) = usize::try_from(token) else {
            return;
        };
        let (Some(&nbl), Some(&mdl)) = (st.rx_nbl.get(slot), st.rx_mdl.get(slot)) else {
            return;
        };
        st.rx_posted = st.rx_posted.saturating_sub(1);
        if !ok {
            // Flushed: the buffer stays off the ring.
            return;
        }
        let len = len.min(self.slot_len as u32);
        if !st.running {
            self.counters.rcv_discards.fetch_add(1, Ordering::Relaxed);
            self.repost(st, slot);
            return;
        }
        self.snoop(st, slot, len);
        let nbl = nbl as *mut NET_BUFFER_LIST;
        // SAFETY: the slot's NBL and MDL are the miniport's while the buffer was posted.
        unsafe {
            raw::set_mdl_len(mdl as *mut MDL, len);
            raw::set_nb_length(raw::first_nb(nbl), len);
            raw::set_status(nbl, NDIS_STATUS_SUCCESS);
            out.push(nbl);
        }
        self.counters.rcv_ok.fetch_add(1, Ordering::Relaxed);
        self.counters
            .rcv_bytes
            .fetch_add(u64::from(len), Ordering::Relaxed);
    }

    /// Puts receive slot `slot` back on the ring (no doorbell).
    fn repost(&self, st: &mut EthState<HalOf<S, N>>, slot: usize) {
        let (Some(rx), Some(q)) = (self.rx_dma.as_ref(), st.q.as_mut()) else {
            return;
        };
        let off = slot.saturating_mul(self.slot_len);
        let buf = EthBuffer {
            addr: rx.bus_address().saturating_add(off as u64),
            len: self.slot_len as u32,
        };
        if self.hal.post_eth_recv(q, buf, slot as u64).is_ok() {
            st.rx_posted = st.rx_posted.saturating_add(1);
        }
    }

    /// The host stack's neighbour cache, stood in for: the source IPv4 / IPv6 address (or
    /// the ARP sender) of a received frame and its source MAC are told to the HAL, which
    /// needs the next hop of RDMA peers (`EthernetPort::set_neighbor`). A real host stack
    /// resolves neighbours itself; this keeps an RDMA connection possible to any peer that
    /// talked to us over plain Ethernet.
    fn snoop(&self, st: &mut EthState<HalOf<S, N>>, slot: usize, len: u32) {
        let Some(rx) = self.rx_dma.as_ref() else {
            return;
        };
        let mut hdr = [0u8; 54];
        let n = (len as usize).min(hdr.len());
        let Some(h) = hdr.get_mut(..n) else {
            return;
        };
        if !rx.read(slot.saturating_mul(self.slot_len), h) {
            return;
        }
        let Some((ip, mac)) = neighbour_of(h) else {
            return;
        };
        if st.neighbours.iter().flatten().any(|e| *e == (ip, mac)) {
            return;
        }
        if self.hal.set_neighbor(ip, mac).is_ok() {
            let i = st.next_neighbour % NEIGHBOUR_CACHE;
            if let Some(e) = st.neighbours.get_mut(i) {
                *e = Some((ip, mac));
            }
            st.next_neighbour = i.wrapping_add(1);
        }
    }

    fn indicate(&self, chain: Chain, resources: bool, dispatch: bool) {
        let mut flags = 0;
        if dispatch {
            flags |= NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL;
        }
        if resources {
            flags |= NDIS_RECEIVE_FLAGS_RESOURCES;
        } else {
            self.rx_held.fetch_add(chain.count, Ordering::AcqRel);
        }
        // SAFETY: a chain of the adapter's receive NBLs, each filled for one frame.
        unsafe {
            N::NdisMIndicateReceiveNetBufferLists(
                self.handle.0,
                chain.head,
                NDIS_DEFAULT_PORT_NUMBER,
                chain.count,
                flags,
            )
        };
        if resources {
            // NDIS copied the frames: the NBLs are ours again at once.
            // SAFETY: with NDIS_RECEIVE_FLAGS_RESOURCES ownership returns on return.
            unsafe { self.take_back(chain.head) };
        }
    }

    /// MiniportReturnNetBufferLists.
    ///
    /// # Safety
    /// `nbls` is a chain of receive NBLs this adapter indicated.
    pub unsafe fn return_nbls(&self, nbls: *mut NET_BUFFER_LIST) {
        // SAFETY: forwarded.
        let n = unsafe { self.take_back(nbls) };
        self.rx_held.fetch_sub(n, Ordering::AcqRel);
        self.try_finish_pause(true);
    }

    /// Reposts the buffers of a chain of receive NBLs; returns how many.
    ///
    /// # Safety
    /// `nbls` is a chain of this adapter's receive NBLs it owns again.
    unsafe fn take_back(&self, nbls: *mut NET_BUFFER_LIST) -> u32 {
        let mut n = 0u32;
        let mut st = self.st.lock();
        let mut nbl = nbls;
        while !nbl.is_null() {
            // SAFETY: per the contract.
            let (next, slot) = unsafe { (raw::nbl_next(nbl), raw::reserved(nbl, 0)) };
            // SAFETY: as above.
            unsafe { raw::set_nbl_next(nbl, null_mut()) };
            if st.rx_nbl.get(slot) == Some(&(nbl as usize)) {
                if let Some(&mdl) = st.rx_mdl.get(slot) {
                    // SAFETY: the slot's MDL, back with the miniport.
                    unsafe { raw::set_mdl_len(mdl as *mut MDL, self.slot_len as u32) };
                }
                self.repost(&mut st, slot);
            }
            n = n.saturating_add(1);
            nbl = next;
        }
        if let Some(q) = st.q.as_mut() {
            self.hal.ring_eth(q);
        }
        n
    }

    /// Completes every NBL of `chain` with `status`.
    fn complete_sends(&self, chain: *mut NET_BUFFER_LIST, status: NDIS_STATUS, dispatch: bool) {
        if chain.is_null() {
            return;
        }
        let mut c = Chain::new();
        let mut nbl = chain;
        while !nbl.is_null() {
            // SAFETY: NBLs handed to the miniport and not completed yet.
            unsafe {
                let next = raw::nbl_next(nbl);
                raw::set_status(nbl, status);
                c.push(nbl);
                nbl = next;
            }
        }
        self.send_complete(c, dispatch);
    }

    fn send_complete(&self, c: Chain, dispatch: bool) {
        if c.head.is_null() {
            return;
        }
        let flags = if dispatch {
            NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL
        } else {
            0
        };
        // SAFETY: NBLs the miniport owned, each with its final status.
        unsafe { N::NdisMSendNetBufferListsComplete(self.handle.0, c.head, flags) };
    }

    /// MiniportHaltEx: flushes and destroys the raw queue. Outstanding sends (none, after
    /// the pause NDIS makes before halt) complete with `NDIS_STATUS_ADAPTER_REMOVED`.
    pub fn shut_down(&self) {
        self.removed();
        let q = {
            let mut st = self.st.lock();
            st.q.take()
        };
        if let Some(q) = q {
            self.hal.destroy_eth_queue(q);
        }
    }
}

impl<S: Silicon<N::Platform>, N: Ndis> Drop for EthPort<S, N> {
    /// Frees the NBLs, MDLs, pool and rings (after [`EthPort::shut_down`], or when
    /// initialization failed part way).
    fn drop(&mut self) {
        let st = self.st.get_mut();
        if let Some(mut q) = st.q.take() {
            self.hal.flush_eth(&mut q);
            self.hal.destroy_eth_queue(q);
        }
        for nbl in st.rx_nbl.drain(..) {
            // SAFETY: allocated from our pool in `setup`; NDIS holds none (halt comes after
            // every indicated NBL returned).
            unsafe { N::NdisFreeNetBufferList(nbl as *mut NET_BUFFER_LIST) };
        }
        for mdl in st.rx_mdl.drain(..) {
            // SAFETY: allocated with NdisAllocateMdl in `setup`, its NBL freed above.
            unsafe { N::NdisFreeMdl(mdl as *mut MDL) };
        }
        if !self.pool.is_null() {
            // SAFETY: the pool of `setup`, every NBL of it freed.
            unsafe { N::NdisFreeNetBufferListPool(self.pool.0) };
        }
        let platform = self.hal.platform();
        if let Some(r) = self.tx_dma.take() {
            platform.free_dma(r);
        }
        if let Some(r) = self.rx_dma.take() {
            platform.free_dma(r);
        }
    }
}

/// Takes the NBLs waiting for a slot off the queue (not yet posted at all, or partly):
/// those with nothing in flight, as a chain to complete.
/// Those with frames in flight get `status` and complete with their last frame.
fn take_waiting<H: EthernetPort>(
    st: &mut EthState<H>,
    status: NDIS_STATUS,
) -> *mut NET_BUFFER_LIST {
    let mut out = Chain::new();
    let mut nbl = st.waiting.head as *mut NET_BUFFER_LIST;
    st.waiting = NblQueue { head: 0, tail: 0 };
    while !nbl.is_null() {
        // SAFETY: NBLs of the waiting queue are the miniport's.
        unsafe {
            let next = raw::nbl_next(nbl);
            // Nothing more of it will be posted.
            raw::set_reserved(nbl, 1, 0);
            if raw::reserved(nbl, 0) == 0 {
                out.push(nbl);
            } else {
                raw::set_status(nbl, status);
            }
            nbl = next;
        }
    }
    out.head
}

/// Copies the bytes of a NET_BUFFER (from its current MDL and offset, across the MDL
/// chain) to `dst` at `off`; returns the frame length.
///
/// # Safety
/// `nb` is a NET_BUFFER of an NBL the miniport owns.
unsafe fn copy_net_buffer<N: Ndis>(
    nb: *mut NET_BUFFER,
    dst: &DmaRegion,
    off: usize,
    cap: usize,
) -> Result<u32, NDIS_STATUS> {
    // SAFETY: per the contract.
    let len = unsafe { raw::nb_length(nb) };
    if len == 0 || len > cap {
        return Err(NDIS_STATUS_INVALID_LENGTH);
    }
    // SAFETY: as above.
    let (mut mdl, mut skip) = unsafe { raw::nb_current(nb) };
    let mut done = 0usize;
    while done < len {
        if mdl.is_null() {
            return Err(NDIS_STATUS_INVALID_LENGTH);
        }
        // SAFETY: an MDL of the NET_BUFFER's chain.
        let (count, next) = unsafe { (raw::mdl_len(mdl), raw::mdl_next(mdl)) };
        if skip >= count {
            skip -= count;
            mdl = next;
            continue;
        }
        // SAFETY: as above; NDIS locked the pages for the send.
        let va = unsafe { N::MmGetSystemAddressForMdlSafe(mdl) };
        if va.is_null() {
            return Err(NDIS_STATUS_RESOURCES);
        }
        let n = (count - skip).min(len - done);
        // SAFETY: the MDL maps `count` bytes at `va`; `skip + n <= count`.
        let src = unsafe { core::slice::from_raw_parts(va.cast::<u8>().add(skip), n) };
        if !dst.write(off.saturating_add(done), src) {
            return Err(NDIS_STATUS_INVALID_LENGTH);
        }
        done += n;
        skip = 0;
        mdl = next;
    }
    u32::try_from(len).map_err(|_| NDIS_STATUS_INVALID_LENGTH)
}

/// The (IP, MAC) a received frame reveals: the ARP sender, or the IPv4 / IPv6 source and
/// the frame's source MAC. Broadcast / multicast sources and unspecified addresses are
/// ignored.
pub fn neighbour_of(frame: &[u8]) -> Option<(IpAddr, [u8; 6])> {
    let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    if src[0] & 1 != 0 {
        return None;
    }
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    let (ip, mac) = match ethertype {
        0x0806 => {
            let arp = frame.get(14..42)?;
            // Ethernet / IPv4, hardware length 6, protocol length 4.
            if arp.get(0..6)? != [0, 1, 8, 0, 6, 4] {
                return None;
            }
            let sha: [u8; 6] = arp.get(8..14)?.try_into().ok()?;
            let spa: [u8; 4] = arp.get(14..18)?.try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(spa)), sha)
        }
        0x0800 => {
            let ip = frame.get(14..34)?;
            if ip.first()? >> 4 != 4 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(s)), src)
        }
        0x86DD => {
            let ip = frame.get(14..54)?;
            if ip.first()? >> 4 != 6 {
                return None;
            }
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(s)), src)
        }
        _ => return None,
    };
    if ip.is_unspecified() || ip.is_multicast() || mac[0] & 1 != 0 {
        return None;
    }
    if let IpAddr::V4(v4) = ip {
        if v4.is_broadcast() {
            return None;
        }
    }
    Some((ip, mac))
}

/// `PoolTag` of the receive NBL pool ("NdkE").
const POOL_TAG: u32 = u32::from_le_bytes(*b"NdkE");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_sender_is_a_neighbour() {
        let mut f = [0u8; 42];
        f[0..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        f[14..20].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
        f[22..28].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        f[28..32].copy_from_slice(&[10, 0, 0, 9]);
        assert_eq!(
            neighbour_of(&f),
            Some((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), [2, 0, 0, 0, 0, 9]))
        );
    }

    #[test]
    fn ipv6_source_is_a_neighbour_and_junk_is_not() {
        let mut f = [0u8; 54];
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 7]);
        f[12..14].copy_from_slice(&[0x86, 0xDD]);
        f[14] = 0x60;
        f[22..38].copy_from_slice(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 7).octets());
        assert_eq!(
            neighbour_of(&f),
            Some((
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 7)),
                [2, 0, 0, 0, 0, 7]
            ))
        );
        assert_eq!(neighbour_of(&f[..20]), None);
        f[6] = 1;
        assert_eq!(neighbour_of(&f), None, "multicast source MAC");
    }
}
