//! The raw Ethernet queue (§14) as [`hal::EthernetPort`]: descriptors written into host
//! rings, doorbells after a release fence, completions polled by the owner bit. Posting,
//! ringing and polling take no lock and allocate nothing; queue create, flush and destroy
//! wait for their admin commands (PASSIVE_LEVEL).

use core::net::IpAddr;
use core::sync::atomic::{fence, Ordering};

use hal::{
    DmaRegion, EthBuffer, EthCompletion, EthFilter, EthernetPort, HalError, HalResult, LinkState,
    Platform, MAX_ETH_FRAGS,
};
use tock_registers::interfaces::{Readable, Writeable};

use super::cmdq::Action;
use super::RoceNic;
use crate::admin::{CmdFlags, Command, CreateRawq, GidType};
use crate::raw::{
    RawCqe, RawFrag, RawRecvDesc, RawSendDesc, RawStatus, RxFilter, MAX_RAW_FRAGS, MAX_RAW_LOG2,
    RAW_CQE_OWNER_OFFSET, RAW_CQE_SIZE, RAW_RECV_DESC_SIZE, RAW_SEND_DESC_SIZE,
};
use crate::regs::{self, PORT_STATUS, RAW_CQ_ARM, RAW_PI};
use crate::ring;

/// The raw queue number revision 1 has.
const RAWQN: u32 = 0;
/// Rings start on their own page.
const PAGE: usize = 4096;

/// A raw Ethernet queue: send, receive and completion rings in one DMA region, and the
/// driver's counters. Used by one thread at a time (`&mut`), like the other fast-path
/// handles.
#[derive(Debug)]
pub struct EthQueue {
    mem: DmaRegion,
    rq_off: usize,
    cq_off: usize,
    sq_log2: u8,
    rq_log2: u8,
    cq_log2: u8,
    /// Descriptors written, and the values last written to the doorbells.
    sq_pi: u16,
    rq_pi: u16,
    sq_rung: u16,
    rq_rung: u16,
    /// Completions polled per ring (the device completes each ring in order).
    sq_done: u16,
    rq_done: u16,
    /// Raw completions consumed (24 bits).
    cq_ci: u32,
    arm_sn: u8,
    /// `flush_eth` ran: posts fail.
    flushed: bool,
    /// The device did not answer the flush (fatal, removed): the driver returns what is
    /// outstanding itself.
    dead: bool,
}

/// `log2` of the smallest power of two ≥ `n`, for ring depths 1..=2^MAX_RAW_LOG2.
fn depth_log2(n: u32) -> HalResult<u8> {
    if n == 0 {
        return Err(HalError::InvalidParameter);
    }
    let l = n.max(2).next_power_of_two().trailing_zeros();
    let l = u8::try_from(l).map_err(|_| HalError::ImplementationLimit)?;
    if l > MAX_RAW_LOG2 {
        return Err(HalError::ImplementationLimit);
    }
    Ok(l)
}

fn round_page(n: usize) -> Option<usize> {
    n.checked_add(PAGE - 1).map(|v| v & !(PAGE - 1))
}

/// PORT_STATUS.SPEED in bits per second (§3.5).
fn speed_bps(code: u32) -> u64 {
    const G: u64 = 1_000_000_000;
    match code {
        1 => 10 * G,
        2 => 25 * G,
        3 => 40 * G,
        4 => 50 * G,
        5 => 100 * G,
        6 => 200 * G,
        7 => 400 * G,
        _ => 0,
    }
}

impl EthQueue {
    fn sq_slot(&self, counter: u16) -> Option<usize> {
        ring::slot(u32::from(counter), self.sq_log2).checked_mul(RAW_SEND_DESC_SIZE)
    }

    fn rq_slot(&self, counter: u16) -> Option<usize> {
        ring::slot(u32::from(counter), self.rq_log2)
            .checked_mul(RAW_RECV_DESC_SIZE)?
            .checked_add(self.rq_off)
    }

    /// The completion at CI when its owner bit says the device wrote it (§5.1).
    fn next_cqe(&mut self) -> Option<RawCqe> {
        let off = ring::slot(self.cq_ci, self.cq_log2)
            .checked_mul(RAW_CQE_SIZE)?
            .checked_add(self.cq_off)?;
        let mut owner = [0u8; 1];
        if !self
            .mem
            .read(off.checked_add(RAW_CQE_OWNER_OFFSET)?, &mut owner)
        {
            return None;
        }
        if (owner[0] & 1 != 0) != ring::owner_bit(self.cq_ci, self.cq_log2) {
            return None;
        }
        fence(Ordering::Acquire);
        let mut raw = [0u8; RAW_CQE_SIZE];
        if !self.mem.read(off, &mut raw) {
            return None;
        }
        self.cq_ci = ring::advance24(self.cq_ci, 1);
        Some(RawCqe::decode(&raw).0)
    }

    /// The token of the outstanding send or receive descriptor at `counter` (for completions
    /// the driver makes itself after the device died).
    fn token_at(&self, receive: bool, counter: u16) -> u64 {
        let off = if receive {
            self.rq_slot(counter)
        } else {
            self.sq_slot(counter)
        };
        off.and_then(|o| self.mem.read_u64(o)).unwrap_or(0)
    }
}

impl<P: Platform> RoceNic<P> {
    /// Posts `command` and waits for its completion (control path, PASSIVE_LEVEL). Events
    /// read from the EQ meanwhile are handed to the handler afterwards.
    fn command_sync(&self, command: Command) -> HalResult<()> {
        if self.fatal.load(Ordering::Acquire) {
            return Err(HalError::Fatal);
        }
        // A surprise-removed function reads all ones: nothing would answer.
        if self.bar0().is_none_or(|b| b.id.get() == u32::MAX) {
            return Err(HalError::DeviceRemoved);
        }
        self.ctl
            .lock()
            .sync_done
            .try_reserve(1)
            .map_err(|_| HalError::NoResources)?;
        let token = self.command(
            |_| command,
            None,
            CmdFlags::empty(),
            None,
            Some(Action::Sync),
        )?;
        let r = self.wait_sync(token);
        // The wait may have moved events from the EQ to the queue without an interrupt.
        self.interrupt();
        r
    }

    /// Posts SET_GID (`ip`) or a clear at `index`, SILENT.
    fn post_gid_entry(&self, index: u32, ip: Option<IpAddr>) -> HalResult<()> {
        match ip {
            Some(ip) => self.post_gid(index, ip, None).map(|_| ()),
            None => self
                .command(
                    |_| Command::SetGid {
                        index,
                        gid_type: GidType::Clear,
                        gid: [0; 16],
                    },
                    None,
                    CmdFlags::SILENT,
                    None,
                    None,
                )
                .map(|_| ()),
        }
    }
}

impl<P: Platform> EthernetPort for RoceNic<P> {
    type EthQueue = EthQueue;

    fn mac_address(&self) -> [u8; 6] {
        self.attrs.factory_mac
    }

    fn link_state(&self) -> LinkState {
        let Some(bar0) = self.bar0() else {
            return LinkState {
                up: false,
                speed_bps: 0,
            };
        };
        let ps = bar0.port_status.extract();
        let up = ps.is_set(PORT_STATUS::LINK_UP) && !self.fatal.load(Ordering::Acquire);
        LinkState {
            up,
            speed_bps: if up {
                speed_bps(ps.read(PORT_STATUS::SPEED))
            } else {
                0
            },
        }
    }

    fn mtu(&self) -> u32 {
        self.bar0()
            .map_or(0, |b| b.port_status.read(PORT_STATUS::MTU))
    }

    fn create_eth_queue(&self, send_depth: u32, recv_depth: u32, ctx: u64) -> HalResult<EthQueue> {
        let sq_log2 = depth_log2(send_depth)?;
        let rq_log2 = depth_log2(recv_depth)?;
        // §14.5: the completion ring holds both rings' descriptors.
        let cq_log2 = sq_log2.max(rq_log2).saturating_add(1);
        let sq_len = RAW_SEND_DESC_SIZE << sq_log2;
        let rq_len = RAW_RECV_DESC_SIZE << rq_log2;
        let cq_len = RAW_CQE_SIZE << cq_log2;
        let rq_off = round_page(sq_len).ok_or(HalError::NoResources)?;
        let cq_off = rq_off
            .checked_add(round_page(rq_len).ok_or(HalError::NoResources)?)
            .ok_or(HalError::NoResources)?;
        let total = cq_off.checked_add(cq_len).ok_or(HalError::NoResources)?;
        if self.eth_live.swap(true, Ordering::AcqRel) {
            // Revision 1 has one raw queue.
            return Err(HalError::NoResources);
        }
        let mem = match self.platform.alloc_dma(total) {
            Ok(m) => m,
            Err(e) => {
                self.eth_live.store(false, Ordering::Release);
                return Err(e);
            }
        };
        let bus = mem.bus_address();
        self.eth_ctx.store(ctx, Ordering::Release);
        let c = CreateRawq {
            rawqn: RAWQN,
            log2_sq_depth: sq_log2,
            log2_rq_depth: rq_log2,
            log2_cq_size: cq_log2,
            sq_addr: bus,
            rq_addr: bus.wrapping_add(rq_off as u64),
            cq_addr: bus.wrapping_add(cq_off as u64),
            context: ctx,
        };
        // The device starts from the doorbells' current values: zero them first (a queue of
        // an earlier incarnation left them where it stopped).
        if let Some(db) = self.doorbell(regs::doorbell_block_offset(RAWQN)) {
            db.raw_sq_pi.write(RAW_PI::PI.val(0));
            db.raw_rq_pi.write(RAW_PI::PI.val(0));
            db.raw_cq_arm.write(RAW_CQ_ARM::CI.val(0));
        }
        if let Err(e) = self.command_sync(Command::CreateRawq(c)) {
            // Without an answer the device may own the rings: leak them.
            if e != HalError::Fatal {
                self.platform.free_dma(mem);
            }
            self.eth_live.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(EthQueue {
            mem,
            rq_off,
            cq_off,
            sq_log2,
            rq_log2,
            cq_log2,
            sq_pi: 0,
            rq_pi: 0,
            sq_rung: 0,
            rq_rung: 0,
            sq_done: 0,
            rq_done: 0,
            cq_ci: 0,
            arm_sn: 0,
            flushed: false,
            dead: false,
        })
    }

    fn flush_eth(&self, q: &mut EthQueue) {
        // Descriptors written but not rung are outstanding too: publish them first.
        self.ring_eth(q);
        q.flushed = true;
        if self
            .command_sync(Command::FlushRawq { rawqn: RAWQN })
            .is_err()
        {
            q.dead = true;
        }
    }

    fn destroy_eth_queue(&self, q: EthQueue) {
        let done = self
            .command_sync(Command::DestroyRawq { rawqn: RAWQN })
            .is_ok();
        if done {
            self.platform.free_dma(q.mem);
        }
        // Otherwise the device may still write the rings: they are leaked.
        self.eth_live.store(false, Ordering::Release);
    }

    fn set_eth_filter(&self, filter: EthFilter) -> HalResult<()> {
        let mut f = RxFilter::empty();
        for (h, r) in [
            (EthFilter::DIRECTED, RxFilter::DIRECTED),
            (EthFilter::BROADCAST, RxFilter::BROADCAST),
            (EthFilter::ALL_MULTICAST, RxFilter::ALL_MULTICAST),
            (EthFilter::PROMISCUOUS, RxFilter::PROMISCUOUS),
        ] {
            if filter.contains(h) {
                f |= r;
            }
        }
        self.command(
            |_| Command::SetRxFilter { filter: f },
            None,
            CmdFlags::SILENT,
            None,
            None,
        )
        .map(|_| ())
    }

    fn post_eth_send(&self, q: &mut EthQueue, frags: &[EthBuffer], token: u64) -> HalResult<()> {
        if q.flushed {
            return Err(HalError::InvalidState);
        }
        if frags.is_empty() || frags.len() > MAX_ETH_FRAGS.min(MAX_RAW_FRAGS) {
            return Err(HalError::InvalidParameter);
        }
        let depth = 1u32.checked_shl(u32::from(q.sq_log2)).unwrap_or(0);
        if u32::from(q.sq_pi.wrapping_sub(q.sq_done)) >= depth {
            return Err(HalError::QueueFull);
        }
        let mut d = RawSendDesc {
            token,
            index: q.sq_pi,
            num_frags: frags.len() as u8,
            frags: [RawFrag::default(); MAX_RAW_FRAGS],
        };
        for (slot, f) in d.frags.iter_mut().zip(frags) {
            *slot = RawFrag {
                addr: f.addr,
                len: f.len,
            };
        }
        let off = q.sq_slot(q.sq_pi).ok_or(HalError::Fatal)?;
        if !q.mem.write(off, &d.encode()) {
            return Err(HalError::Fatal);
        }
        q.sq_pi = q.sq_pi.wrapping_add(1);
        Ok(())
    }

    fn post_eth_recv(&self, q: &mut EthQueue, buf: EthBuffer, token: u64) -> HalResult<()> {
        if q.flushed {
            return Err(HalError::InvalidState);
        }
        if buf.len == 0 {
            return Err(HalError::InvalidParameter);
        }
        let depth = 1u32.checked_shl(u32::from(q.rq_log2)).unwrap_or(0);
        if u32::from(q.rq_pi.wrapping_sub(q.rq_done)) >= depth {
            return Err(HalError::QueueFull);
        }
        let d = RawRecvDesc {
            token,
            addr: buf.addr,
            len: buf.len,
            index: q.rq_pi,
        };
        let off = q.rq_slot(q.rq_pi).ok_or(HalError::Fatal)?;
        if !q.mem.write(off, &d.encode()) {
            return Err(HalError::Fatal);
        }
        q.rq_pi = q.rq_pi.wrapping_add(1);
        Ok(())
    }

    fn ring_eth(&self, q: &mut EthQueue) {
        if q.sq_pi == q.sq_rung && q.rq_pi == q.rq_rung {
            return;
        }
        // §4: descriptors visible before the doorbell.
        fence(Ordering::Release);
        let Some(db) = self.doorbell(regs::doorbell_block_offset(RAWQN)) else {
            return;
        };
        if q.rq_pi != q.rq_rung {
            db.raw_rq_pi.write(RAW_PI::PI.val(u32::from(q.rq_pi)));
            q.rq_rung = q.rq_pi;
        }
        if q.sq_pi != q.sq_rung {
            db.raw_sq_pi.write(RAW_PI::PI.val(u32::from(q.sq_pi)));
            q.sq_rung = q.sq_pi;
        }
    }

    fn poll_eth(&self, q: &mut EthQueue, out: &mut [EthCompletion]) -> usize {
        let mut n = 0;
        for slot in out.iter_mut() {
            // A dead device's late completions are ignored: the driver returns every
            // outstanding request itself, so each is reported exactly once.
            let hw = if q.dead { None } else { q.next_cqe() };
            let c = match hw {
                Some(c) if c.receive => {
                    q.rq_done = q.rq_done.wrapping_add(1);
                    let ok = c.status == RawStatus::Ok;
                    EthCompletion::Received {
                        token: c.token,
                        len: if ok { c.byte_count } else { 0 },
                        ok,
                    }
                }
                Some(c) => {
                    q.sq_done = q.sq_done.wrapping_add(1);
                    EthCompletion::Sent {
                        token: c.token,
                        ok: c.status == RawStatus::Ok,
                    }
                }
                // A dead device completes nothing more: return what is outstanding.
                None if q.dead && q.sq_done != q.sq_pi => {
                    let token = q.token_at(false, q.sq_done);
                    q.sq_done = q.sq_done.wrapping_add(1);
                    EthCompletion::Sent { token, ok: false }
                }
                None if q.dead && q.rq_done != q.rq_pi => {
                    let token = q.token_at(true, q.rq_done);
                    q.rq_done = q.rq_done.wrapping_add(1);
                    EthCompletion::Received {
                        token,
                        len: 0,
                        ok: false,
                    }
                }
                None => break,
            };
            *slot = c;
            n += 1;
        }
        n
    }

    fn arm_eth(&self, q: &mut EthQueue) {
        q.arm_sn = q.arm_sn.wrapping_add(1) & 3;
        if let Some(db) = self.doorbell(regs::doorbell_block_offset(RAWQN)) {
            db.raw_cq_arm.write(
                RAW_CQ_ARM::CI.val(q.cq_ci & ring::COUNTER24_MASK)
                    + RAW_CQ_ARM::SN.val(u32::from(q.arm_sn)),
            );
        }
    }

    fn set_local_addresses(&self, addrs: &[IpAddr]) -> HalResult<()> {
        let table = usize::from(self.attrs.gid_table_size);
        let mut unique = 0usize;
        for (i, a) in addrs.iter().enumerate() {
            if !addrs.get(..i).is_some_and(|p| p.contains(a)) {
                unique = unique.saturating_add(1);
            }
        }
        if unique > table {
            return Err(HalError::ImplementationLimit);
        }
        let old_len = {
            let mut ctl = self.ctl.lock();
            let more = unique.saturating_sub(ctl.addrs.len());
            ctl.addrs
                .try_reserve(more)
                .map_err(|_| HalError::NoResources)?;
            let old = ctl.addrs.len();
            ctl.addrs.clear();
            for a in addrs {
                if !ctl.addrs.contains(a) {
                    ctl.addrs.push(*a);
                }
            }
            old
        };
        // §14.8: the GID table follows the interface's addresses, index by index; entries
        // past the new list are cleared. SILENT, in admin order before any later CM command.
        for (i, a) in addrs
            .iter()
            .enumerate()
            .filter(|(i, a)| !addrs.get(..*i).is_some_and(|p| p.contains(a)))
            .map(|(_, a)| a)
            .enumerate()
        {
            let index = u32::try_from(i).map_err(|_| HalError::ImplementationLimit)?;
            self.post_gid_entry(index, Some(*a))?;
        }
        for i in unique..old_len.min(table) {
            let index = u32::try_from(i).map_err(|_| HalError::ImplementationLimit)?;
            self.post_gid_entry(index, None)?;
        }
        Ok(())
    }

    fn set_neighbor(&self, ip: IpAddr, mac: [u8; 6]) -> HalResult<()> {
        self.neighbor_set(ip, mac)
    }
}
