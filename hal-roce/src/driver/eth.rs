//! The raw Ethernet queue (§14) as [`hal::EthernetPort`]: descriptors written into host
//! rings, doorbells after a release fence, completions polled by the owner bit. Posting,
//! ringing and polling take no lock and allocate nothing; queue create, flush and destroy
//! wait for their admin commands (PASSIVE_LEVEL).

use core::net::IpAddr;
use core::sync::atomic::Ordering;

use hal::queue::eth::{link_speed_bps, EthLayout, EthRings};
use hal::{
    EthBuffer, EthCompletion, EthFilter, EthernetPort, HalError, HalResult, LinkState, Platform,
};
use tock_registers::interfaces::{Readable, Writeable};

use super::cmdq::Action;
use super::RoceNic;
use crate::admin::{CmdFlags, Command, CreateRawq, GidType};
use crate::raw::RxFilter;
use crate::regs::{self, PORT_STATUS, RAW_CQ_ARM, RAW_PI};

/// The raw queue number revision 1 has.
const RAWQN: u32 = 0;
/// The raw Ethernet queue handle: the shared ring driver of [`hal::queue::eth`].
pub type EthQueue = EthRings;

impl<P: Platform> RoceNic<P> {
    /// Posts `command` and waits for its completion (control path, PASSIVE_LEVEL). Events
    /// read from the EQ meanwhile are handed to the handler afterwards.
    fn command_sync(&self, command: Command) -> HalResult<()> {
        if self.fatal.load(Ordering::Acquire) {
            return Err(HalError::Fatal);
        }
        // A surprise-removed function reads all ones: nothing would answer. The removal is
        // reported (so the RDMA queues are flushed too) if nobody did yet.
        if self.bar0().is_none_or(|b| b.id.get() == u32::MAX) {
            let _ = self.check_alive();
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
                link_speed_bps(ps.read(PORT_STATUS::SPEED))
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
        // The completion ring holds both rings' descriptors.
        let layout = EthLayout::new(send_depth, recv_depth)?;
        if self.eth_live.swap(true, Ordering::AcqRel) {
            // Revision 1 has one raw queue.
            return Err(HalError::NoResources);
        }
        let mem = match self.platform.alloc_dma(layout.total) {
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
            log2_sq_depth: layout.sq_log2,
            log2_rq_depth: layout.rq_log2,
            log2_cq_size: layout.cq_log2,
            sq_addr: bus,
            rq_addr: bus.wrapping_add(layout.rq_off as u64),
            cq_addr: bus.wrapping_add(layout.cq_off as u64),
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
        Ok(EthRings::new(mem, &layout))
    }

    fn flush_eth(&self, q: &mut EthQueue) {
        // Descriptors written but not rung are outstanding too: publish them first.
        self.ring_eth(q);
        let dead = self
            .command_sync(Command::FlushRawq { rawqn: RAWQN })
            .is_err();
        q.mark_flushed(dead);
    }

    fn destroy_eth_queue(&self, q: EthQueue) {
        let done = self
            .command_sync(Command::DestroyRawq { rawqn: RAWQN })
            .is_ok();
        if done {
            self.platform.free_dma(q.into_region());
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
        q.post_send(frags, token)
    }

    fn post_eth_recv(&self, q: &mut EthQueue, buf: EthBuffer, token: u64) -> HalResult<()> {
        q.post_recv(buf, token)
    }

    fn ring_eth(&self, q: &mut EthQueue) {
        q.ring(
            || self.doorbell(regs::doorbell_block_offset(RAWQN)),
            |db, pi| db.raw_rq_pi.write(RAW_PI::PI.val(u32::from(pi))),
            |db, pi| db.raw_sq_pi.write(RAW_PI::PI.val(u32::from(pi))),
        );
    }

    fn poll_eth(&self, q: &mut EthQueue, out: &mut [EthCompletion]) -> usize {
        // A dead device's late completions are ignored; outstanding requests come back once.
        q.poll(out)
    }

    fn arm_eth(&self, q: &mut EthQueue) {
        q.arm(|ci, sn| {
            if let Some(db) = self.doorbell(regs::doorbell_block_offset(RAWQN)) {
                db.raw_cq_arm
                    .write(RAW_CQ_ARM::CI.val(ci) + RAW_CQ_ARM::SN.val(u32::from(sn)));
            }
        });
    }

    fn set_local_addresses(&self, addrs: &[IpAddr]) -> HalResult<()> {
        // §14.8: the GID table follows the interface's addresses, index by index.
        hal::queue::cm::set_local_addresses(
            addrs,
            usize::from(self.attrs.gid_table_size),
            || lock_api::MutexGuard::map(self.ctl.lock(), |c| &mut c.addrs),
            |index, ip| self.post_gid_entry(index, ip),
        )
    }

    fn set_neighbor(&self, ip: IpAddr, mac: [u8; 6]) -> HalResult<()> {
        self.neighbor_set(ip, mac)
    }
}
