//! The silicon: registers, admin queue, event queue, CQs, SRQs, memory keys
//! (docs/silicon/rocev2.md §3, §5, §6, §12). QPs and their transport live in `rc.rs`, the
//! embedded CM agent in `cm_agent.rs`; all three are `impl Device` blocks over one state.
//!
//! Everything driven by driver writes or wire input is checked and never panics: bad values
//! complete commands with an error status, fail WQEs with a syndrome or drop frames.

use core::mem::offset_of;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use core::net::IpAddr;

use crate::admin::{CmdEntry, CmdHeader, CmdStatus, Command, MrKind, QpAttr, QpState, CMD_SIZE};
use crate::caps::DeviceAttrs;
use crate::cm::CmRecord;
use crate::cqe::{syndrome, Cqe, CqeFlags, CqeStatus, CQE_OWNER_OFFSET};
use crate::eqe::{CqErrorKind, Eqe, QpErrorKind, EQE_OWNER_OFFSET};
use crate::key::{Key, PRIVILEGED_LKEY};
use crate::record::SrqRecord;
use crate::regs::{self, Bar0};
use crate::ring;
use crate::wqe::{AccessFlags, DataSeg};

use super::bar::BarMemory;
use super::cm_agent::CmAgent;
use super::dma;
use super::rc::Qp;

/// Byte offset of a BAR0 register.
macro_rules! reg {
    ($f:ident) => {
        offset_of!(Bar0, $f)
    };
}

/// Statistics counters (§3.11), in register order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Stats {
    pub tx_frames: u64,
    pub tx_octets: u64,
    pub rx_frames: u64,
    pub rx_octets: u64,
    pub retransmits: u64,
    pub local_ack_timeouts: u64,
    pub naks_sent: u64,
    pub naks_received: u64,
    pub rnr_naks_sent: u64,
    pub rnr_naks_received: u64,
    pub cnps_sent: u64,
    pub cnps_received: u64,
    pub icrc_errors: u64,
    pub out_of_sequence: u64,
    pub duplicate_requests: u64,
    pub rx_discards: u64,
    pub raw_tx_frames: u64,
    pub raw_rx_frames: u64,
    pub raw_rx_no_buffer: u64,
    pub raw_rx_filtered: u64,
}

impl Stats {
    fn values(&self) -> [u64; 20] {
        [
            self.tx_frames,
            self.tx_octets,
            self.rx_frames,
            self.rx_octets,
            self.retransmits,
            self.local_ack_timeouts,
            self.naks_sent,
            self.naks_received,
            self.rnr_naks_sent,
            self.rnr_naks_received,
            self.cnps_sent,
            self.cnps_received,
            self.icrc_errors,
            self.out_of_sequence,
            self.duplicate_requests,
            self.rx_discards,
            self.raw_tx_frames,
            self.raw_rx_frames,
            self.raw_rx_no_buffer,
            self.raw_rx_filtered,
        ]
    }
}

/// IP → MAC table the network fills as NICs are added (the host's ARP / neighbour cache).
pub type Neighbours = Arc<Mutex<HashMap<IpAddr, [u8; 6]>>>;

/// Host rings (EQ, CMEV, ADMQ) and CQs (§5.6): the producer and notify logic RNIC-R2 and
/// RNIC-W1 share.
pub(crate) use fabric::control::{Control, EventPost, Sample};
pub(crate) use fabric::cq::{Cq, CqPost, CqResizeError};

/// A shared receive queue (§6.4.4).
#[derive(Debug)]
pub(crate) struct Srq {
    pub pdn: u32,
    pub log2_depth: u8,
    pub log2_stride: u8,
    pub ring: u64,
    pub record: u64,
    pub ctx: u64,
    pub limit: u32,
    pub pi: u16,
    pub ci: u16,
    pub users: u32,
}

/// Where a registration's pages are, and its translation (§5.2): shared with the other
/// reference NIC.
pub(crate) use fabric::mr::{PageMap, Pages};

/// An MPT entry (§5.2, §12.5).
#[derive(Clone, Debug)]
pub(crate) struct Mpt {
    pub key: Key,
    pub pdn: u32,
    pub is_mw: bool,
    pub kind: MrKind,
    pub valid: bool,
    pub access: AccessFlags,
    pub iova: u64,
    pub length: u64,
    pub log2_page: u8,
    pub fbo: u32,
    pub pages: Pages,
    /// INIT_FAST_REG: page limit and the remote rights FAST_REG may grant.
    pub fr_init: Option<(u32, AccessFlags)>,
    /// MR: windows bound over it. MW: the MR index it is bound over.
    pub binds: u32,
    pub parent: Option<u32>,
}

impl Mpt {
    fn new(key: Key, pdn: u32, is_mw: bool, kind: MrKind) -> Mpt {
        Mpt {
            key,
            pdn,
            is_mw,
            kind,
            valid: false,
            access: AccessFlags::empty(),
            iova: 0,
            length: 0,
            log2_page: 12,
            fbo: 0,
            pages: Pages::Contiguous(0),
            fr_init: None,
            binds: 0,
            parent: None,
        }
    }
}

/// A CM event waiting for room in the CMEV ring.
pub(crate) type PendingCm = CmRecord;

/// The device state. One per NIC, behind the network's lock.
pub struct Device {
    pub(crate) bar0: &'static BarMemory,
    pub(crate) bar2: &'static BarMemory,
    pub(crate) attrs: DeviceAttrs,
    pub(crate) mac: [u8; 6],
    pub(crate) now: u64,
    /// CTRL, STATUS, the host rings and interrupt causes (the block both NICs share).
    pub(crate) ctl: Control,
    pub(crate) link_up: bool,
    pub(crate) mtu: u32,
    pub(crate) gids: Vec<Option<(u8, [u8; 16])>>,
    pub(crate) pds: BTreeMap<u32, u32>,
    pub(crate) cqs: BTreeMap<u32, Cq>,
    pub(crate) srqs: BTreeMap<u32, Srq>,
    pub(crate) qps: BTreeMap<u32, Qp>,
    pub(crate) mpt: HashMap<u32, Mpt>,
    pub(crate) cm: CmAgent,
    pub(crate) pending_cm: VecDeque<PendingCm>,
    pub(crate) stats: Stats,
    /// Frames to put on the wire.
    pub(crate) tx: Vec<Vec<u8>>,
    /// Frames to our own station address (LOOPBACK): the NIC hands them back to its receive
    /// path on the next step instead of the wire, which never returns a frame to its sender.
    pub(crate) loopback: Vec<Vec<u8>>,
    pub(crate) neighbours: Neighbours,
    /// The raw Ethernet queue (§14), and the receive filter (SET_RX_FILTER).
    pub(crate) raw: fabric::raw_queue::RawQueueEngine,
    pub(crate) rx_filter: crate::raw::RxFilter,
    pub(crate) rng: u64,
    /// Work done since the last `take_work`.
    pub(crate) work: usize,
}

impl Device {
    /// A device in power-up state with BARs `bar0`, `bar2`, station address `mac`.
    pub fn new(
        bar0: &'static BarMemory,
        bar2: &'static BarMemory,
        mac: [u8; 6],
        neighbours: Neighbours,
        seed: u64,
    ) -> Device {
        let mut attrs = DeviceAttrs::REFERENCE;
        attrs.factory_mac = mac;
        let mut d = Device {
            bar0,
            bar2,
            attrs,
            mac,
            now: 0,
            ctl: Control::new(bar0, fabric::control_regs!(Bar0)),
            link_up: true,
            mtu: 1500,
            gids: Vec::new(),
            pds: BTreeMap::new(),
            cqs: BTreeMap::new(),
            srqs: BTreeMap::new(),
            qps: BTreeMap::new(),
            mpt: HashMap::new(),
            cm: CmAgent::default(),
            pending_cm: VecDeque::new(),
            stats: Stats::default(),
            tx: Vec::new(),
            loopback: Vec::new(),
            neighbours,
            raw: fabric::raw_queue::RawQueueEngine::new(),
            rx_filter: crate::raw::RxFilter::empty(),
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            work: 0,
        };
        d.reset();
        d
    }

    /// Statistics (§3.11).
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Station MAC.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    pub(crate) fn rand(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn w(&self, off: usize, v: u32) {
        self.bar0.write32(off, v);
    }

    fn r(&self, off: usize) -> u32 {
        self.bar0.read32(off)
    }

    /// CTRL.RESET (§3.5, §12.1): forget everything, registers to reset values, READY.
    pub(crate) fn reset(&mut self) {
        for off in (0..0x1000).step_by(4) {
            self.w(off, 0);
        }
        for off in (0..self.bar2.len()).step_by(4) {
            self.bar2.write32(off, 0);
        }
        let img = self.attrs.to_image();
        for (i, c) in img.chunks_exact(4).enumerate() {
            let mut b = [0u8; 4];
            b.copy_from_slice(c);
            self.w(i * 4, u32::from_le_bytes(b));
        }
        self.ctl.reset();
        self.mtu = 1500;
        self.gids = std::vec![None; usize::from(self.attrs.gid_table_size)];
        self.pds.clear();
        self.cqs.clear();
        self.srqs.clear();
        self.qps.clear();
        self.mpt.clear();
        self.cm = CmAgent::default();
        self.pending_cm.clear();
        self.raw = fabric::raw_queue::RawQueueEngine::new();
        self.rx_filter = crate::raw::RxFilter::empty();
        self.stats = Stats::default();
        self.loopback.clear();
        self.ctl.write_reset_values();
        self.write_port_status();
    }

    fn write_port_status(&self) {
        let v =
            u32::from(self.link_up) | (if self.link_up { 5 << 8 } else { 0 }) | (self.mtu << 16);
        self.w(reg!(port_status), v);
    }

    /// Link state change (§3.9 LINK, PORT_CHANGE EQE).
    pub fn set_link(&mut self, up: bool) {
        if self.link_up == up {
            return;
        }
        self.link_up = up;
        self.write_port_status();
        let ps = self.r(reg!(port_status));
        self.post_eqe(Eqe::PortChange { port_status: ps });
        self.ctl.set_cause(1 << 2);
    }

    pub(crate) fn go_fatal(&mut self, code: u32) {
        self.ctl.go_fatal(code);
    }

    /// Samples the control registers (§3.5–§3.10): reset, enable, ring enables, EQ arm,
    /// CMEV consumer, INT_CAUSE write-1-to-clear, GID view.
    fn sample_registers(&mut self) {
        match self.ctl.sample() {
            Sample::Reset { ctrl } => {
                self.reset();
                self.ctl.ack_reset(ctrl);
                self.work += 1;
                return;
            }
            Sample::Sampled { work } => self.work += work,
        }
        // GID view (§3.10).
        let sel = (self.r(reg!(gid_select)) & 0xFFFF) as usize;
        let (attr, gid) = match self.gids.get(sel).copied().flatten() {
            Some((t, g)) => (1 | u32::from(t) << 1, g),
            None => (0, [0; 16]),
        };
        self.w(reg!(gid_attr), attr);
        for i in 0..4 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&gid[i * 4..i * 4 + 4]);
            self.w(reg!(gid_data0) + i * 4, u32::from_le_bytes(b));
        }
    }

    /// Writes an EQE (§5.7): body, then owner byte; interrupt when armed (§3.7).
    pub(crate) fn post_eqe(&mut self, e: Eqe) {
        match self
            .ctl
            .post_event(|owner| e.encode(owner), EQE_OWNER_OFFSET)
        {
            EventPost::Skipped => {}
            EventPost::Full => self.go_fatal(2),
            EventPost::DmaError => self.go_fatal(3),
            EventPost::Written => self.work += 1,
        }
    }

    /// Writes pending CM records and their EQEs while the CMEV ring has room (§3.8, §8.4).
    pub(crate) fn flush_cm_events(&mut self) {
        while let Some(rec) = self.pending_cm.front() {
            if !self.ctl.cm_room() {
                return;
            }
            let rec = *rec;
            self.pending_cm.pop_front();
            let Some(idx) = self.ctl.cm_push(&rec.encode()) else {
                self.go_fatal(3);
                return;
            };
            if let Some(event) = rec.event {
                self.post_eqe(Eqe::Cm {
                    conn_id: rec.conn_id,
                    context: rec.context,
                    event,
                    record_index: idx,
                });
            }
        }
    }

    /// Writes a CQE to CQ `cqn` (§5.6): overrun check against the doorbell record, body then
    /// owner, notify when armed. Returns false when the CQ is missing or in error.
    pub(crate) fn post_cqe(&mut self, cqn: u32, cqe: Cqe) -> bool {
        let Some(cq) = self.cqs.get_mut(&cqn) else {
            return false;
        };
        let notable = cqe.flags.contains(CqeFlags::SOLICITED) || cqe.status != CqeStatus::Success;
        match cq.post(|owner| cqe.encode(owner), CQE_OWNER_OFFSET, notable) {
            CqPost::InError => false,
            CqPost::Overrun => {
                let ctx = cq.ctx;
                self.post_eqe(Eqe::CqError {
                    cqn,
                    cq_context: ctx,
                    kind: CqErrorKind::Overrun,
                    syndrome: 0,
                });
                self.cq_failed(cqn);
                false
            }
            CqPost::DmaError => {
                self.go_fatal(3);
                false
            }
            CqPost::Written => {
                self.work += 1;
                self.check_cq_notify(cqn, Some(notable));
                true
            }
        }
    }

    /// Writes CQ_NOTIFY if the arm is satisfied (§5.6.4). `new`: the CQE just written, or
    /// `None` when an arm arrived (then unconsumed CQEs count).
    fn check_cq_notify(&mut self, cqn: u32, new: Option<bool>) {
        let now = self.now;
        let Some(sn) = self
            .cqs
            .get_mut(&cqn)
            .and_then(|cq| cq.notify_due(new, now))
        else {
            return;
        };
        self.fire_cq_notify(cqn, sn);
    }

    fn fire_cq_notify(&mut self, cqn: u32, sn: u8) {
        let Some(cq) = self.cqs.get_mut(&cqn) else {
            return;
        };
        cq.notified();
        let ctx = cq.ctx;
        self.post_eqe(Eqe::CqNotify {
            cqn,
            cq_context: ctx,
            arm_sn: sn,
        });
    }

    /// Moderated notifies whose period ran out.
    fn cq_moderation_timers(&mut self) {
        let now = self.now;
        let due: Vec<(u32, u8)> = self
            .cqs
            .iter()
            .filter_map(|(n, c)| c.moderation_due(now).map(|sn| (*n, sn)))
            .collect();
        for (cqn, sn) in due {
            self.fire_cq_notify(cqn, sn);
        }
    }

    /// A CQ overran: every QP using it goes to ERR (§5.6.2).
    fn cq_failed(&mut self, cqn: u32) {
        let qpns: Vec<u32> = self
            .qps
            .iter()
            .filter(|(_, q)| q.send_cqn == cqn || q.recv_cqn == cqn)
            .map(|(n, _)| *n)
            .collect();
        for qpn in qpns {
            self.enter_err(qpn, Some(syndrome::CQ_ERROR));
        }
    }

    /// Reads the doorbell blocks of existing objects (§4, §12.2).
    fn sample_doorbells(&mut self) {
        let cqns: Vec<u32> = self.cqs.keys().copied().collect();
        for cqn in cqns {
            let v = self
                .bar2
                .read32(regs::doorbell_block_offset(cqn) + regs::DB_CQ_ARM);
            if !self.cqs.get_mut(&cqn).is_some_and(|cq| cq.sample_arm(v)) {
                continue;
            }
            self.work += 1;
            self.check_cq_notify(cqn, None);
        }
        let srqns: Vec<u32> = self.srqs.keys().copied().collect();
        for srqn in srqns {
            let v = self
                .bar2
                .read32(regs::doorbell_block_offset(srqn) + regs::DB_SRQ_PI);
            if let Some(s) = self.srqs.get_mut(&srqn) {
                let pi = (v & 0xFFFF) as u16;
                if pi != s.pi {
                    s.pi = pi;
                    self.work += 1;
                }
            }
        }
        let qpns: Vec<u32> = self.qps.keys().copied().collect();
        for qpn in qpns {
            let base = regs::doorbell_block_offset(qpn);
            let sq = (self.bar2.read32(base + regs::DB_SQ_PI) & 0xFFFF) as u16;
            let rq = (self.bar2.read32(base + regs::DB_RQ_PI) & 0xFFFF) as u16;
            self.qp_doorbells(qpn, sq, rq);
        }
    }

    /// One step at time `now`: registers, admin queue (command fence: before doorbells),
    /// doorbells, received frames, transport engines and timers. Returns work done.
    pub fn step(&mut self, now: u64, rx: Vec<Vec<u8>>) -> usize {
        self.now = now;
        self.sample_registers();
        if self.ctl.enabled && !self.ctl.fatal && self.ctl.ready {
            self.run_admin();
            self.sample_doorbells();
            self.start_sqs();
            self.raw_doorbells();
            // §14.1: RoCEv2 to our addresses is the RDMA engine's, the rest the raw queue's.
            let mut frames = core::mem::take(&mut self.loopback);
            frames.extend(rx);
            for f in frames {
                if self.is_rdma_frame(&f) {
                    self.receive_frame(&f);
                } else {
                    self.raw_receive(&f);
                }
            }
            self.run_engines();
            self.cq_moderation_timers();
            self.cm_timers();
            self.flush_cm_events();
        } else {
            self.stats.rx_discards += rx.len() as u64;
        }
        self.write_stats();
        core::mem::take(&mut self.work)
    }

    fn write_stats(&self) {
        for (i, v) in self.stats.values().iter().enumerate() {
            self.bar0.write64(reg!(stat_tx_frames) + i * 8, *v);
        }
    }

    /// Earliest timer (ACK timeout, RNR wait, CM retransmission), if any.
    pub fn next_deadline(&self) -> Option<u64> {
        let q = self.qps.values().filter_map(Qp::next_deadline).min();
        let m = self.cqs.values().filter_map(Cq::moderation_deadline).min();
        let q = match (q, m) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let c = self.cm.next_deadline();
        match (q, c) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True while a CM handshake waits for the driver to answer an event (§8.3).
    pub fn cm_waits_for_host(&self) -> bool {
        self.cm.waits_for_host() || !self.pending_cm.is_empty()
    }

    /// Queues a frame for the wire (§3.11 TX counters), or for our own receive path when it
    /// is addressed to our station address (loopback connections do not need the link).
    pub(crate) fn transmit(&mut self, frame: Vec<u8>) {
        let to_self = frame.get(..6) == Some(&self.mac[..]);
        if !self.link_up && !to_self {
            return;
        }
        self.stats.tx_frames += 1;
        self.stats.tx_octets += frame.len() as u64 + 4;
        self.work += 1;
        if to_self {
            self.loopback.push(frame);
        } else {
            self.tx.push(frame);
        }
    }

    /// Takes the frames queued for the wire.
    pub fn take_tx(&mut self) -> Vec<Vec<u8>> {
        core::mem::take(&mut self.tx)
    }

    /// The interrupt line must be raised (taken: raised once).
    pub fn take_irq(&mut self) -> bool {
        core::mem::take(&mut self.ctl.irq_pending)
    }

    // ---------------------------------------------------------------------------------
    // Admin queue (§6)
    // ---------------------------------------------------------------------------------

    fn run_admin(&mut self) {
        let Some(pi) = self.ctl.admin_pi() else {
            return;
        };
        while let Some(raw) = self.ctl.admin_next::<CMD_SIZE>(pi) {
            let hdr = CmdHeader::decode(&raw);
            let (status, out) = match CmdEntry::decode(&raw) {
                Ok(e) => match self.execute(&e) {
                    Ok(o) => (CmdStatus::Ok, o),
                    Err(s) => (s, [0, 0]),
                },
                Err(e) => (e.status(), [0, 0]),
            };
            self.ctl.admin_consumed();
            self.work += 1;
            if !(hdr.silent() && status == CmdStatus::Ok) {
                self.post_eqe(Eqe::CmdComplete {
                    token: hdr.token,
                    opcode: hdr.opcode,
                    status,
                    object: hdr.object,
                    output: out,
                    syndrome: 0,
                });
            }
            // CM events a command produced come after its completion.
            self.flush_cm_events();
        }
    }

    fn execute(&mut self, e: &CmdEntry) -> Result<[u32; 2], CmdStatus> {
        use CmdStatus as S;
        let a = self.attrs;
        match e.command {
            Command::Nop => Ok([0, 0]),
            Command::QueryDevice { out } => {
                if !out.fits(512) {
                    return Err(S::BadParam);
                }
                let mut img = [0u8; 512];
                for (i, c) in img.chunks_exact_mut(4).enumerate() {
                    c.copy_from_slice(&self.r(i * 4).to_le_bytes());
                }
                dma::write(out.addr, &img)
                    .then_some([0, 0])
                    .ok_or(S::DmaError)
            }
            Command::SetMac { mac } => {
                self.mac = mac;
                Ok([0, 0])
            }
            Command::SetMtu { mtu } => {
                if !(1280..=9000).contains(&mtu) {
                    return Err(S::BadParam);
                }
                self.mtu = mtu;
                self.write_port_status();
                Ok([0, 0])
            }
            Command::SetGid {
                index,
                gid_type,
                gid,
            } => {
                let slot = self.gids.get_mut(index as usize).ok_or(S::BadObject)?;
                let t = gid_type as u8;
                *slot = (t != 0).then_some((t, gid));
                Ok([0, 0])
            }
            Command::CreatePd { pdn } => {
                if pdn >= a.max_pd {
                    return Err(S::BadObject);
                }
                if self.pds.contains_key(&pdn) {
                    return Err(S::BadState);
                }
                self.pds.insert(pdn, 0);
                Ok([0, 0])
            }
            Command::DestroyPd { pdn } => {
                match self.pds.get(&pdn) {
                    None => return Err(S::BadObject),
                    Some(&n) if n > 0 => return Err(S::InUse),
                    _ => {}
                }
                self.pds.remove(&pdn);
                Ok([0, 0])
            }
            Command::CreateCq(c) => {
                if c.cqn >= a.max_cq {
                    return Err(S::BadObject);
                }
                if self.cqs.contains_key(&c.cqn) {
                    return Err(S::BadState);
                }
                if !(1..=22).contains(&c.log2_size) || c.eqn != 0 {
                    return Err(S::BadParam);
                }
                self.cqs.insert(
                    c.cqn,
                    Cq {
                        log2: c.log2_size,
                        ring: c.ring_addr,
                        dbrec: c.dbrec_addr,
                        ctx: c.cq_context,
                        pi: 0,
                        generation: false,
                        arm: None,
                        last_arm: self
                            .bar2
                            .read32(regs::doorbell_block_offset(c.cqn) + regs::DB_CQ_ARM),
                        last_sol: None,
                        error: false,
                        users: 0,
                        mod_count: c.mod_count,
                        mod_period: c.mod_period,
                        mod_pending: None,
                    },
                );
                Ok([0, 0])
            }
            Command::ResizeCq {
                cqn,
                log2_size,
                ring_addr,
            } => {
                let cq = self.cqs.get_mut(&cqn).ok_or(S::BadObject)?;
                if !(1..=22).contains(&log2_size) {
                    return Err(S::BadParam);
                }
                // The marker goes into the old ring's reserved slot (§5.6.3).
                let marker = |owner| Cqe::RESIZE_MARKER.encode(owner);
                cq.resize(log2_size, ring_addr, marker, CQE_OWNER_OFFSET)
                    .map_err(|e| match e {
                        CqResizeError::Limit => S::Limit,
                        CqResizeError::DmaError => S::DmaError,
                    })?;
                Ok([0, 0])
            }
            Command::ModifyCq {
                cqn,
                mod_count,
                mod_period,
            } => {
                let cq = self.cqs.get_mut(&cqn).ok_or(S::BadObject)?;
                cq.mod_count = mod_count;
                cq.mod_period = mod_period;
                Ok([0, 0])
            }
            Command::DestroyCq { cqn } => {
                let cq = self.cqs.get(&cqn).ok_or(S::BadObject)?;
                if cq.users > 0 {
                    return Err(S::InUse);
                }
                self.cqs.remove(&cqn);
                Ok([0, 0])
            }
            Command::CreateSrq(c) => {
                if c.srqn >= a.max_srq {
                    return Err(S::BadObject);
                }
                if self.srqs.contains_key(&c.srqn) {
                    return Err(S::BadState);
                }
                if !self.pds.contains_key(&c.pdn) {
                    return Err(S::BadObject);
                }
                if !(1..=15).contains(&c.log2_depth) || !(5..=9).contains(&c.log2_stride) {
                    return Err(S::BadParam);
                }
                let pi = (self
                    .bar2
                    .read32(regs::doorbell_block_offset(c.srqn) + regs::DB_SRQ_PI)
                    & 0xFFFF) as u16;
                self.srqs.insert(
                    c.srqn,
                    Srq {
                        pdn: c.pdn,
                        log2_depth: c.log2_depth,
                        log2_stride: c.log2_stride,
                        ring: c.ring_addr,
                        record: c.record_addr,
                        ctx: c.srq_context,
                        limit: c.limit,
                        pi,
                        ci: pi,
                        users: 0,
                    },
                );
                self.pd_ref(c.pdn, true);
                let _ = dma::write(c.record_addr, &SrqRecord { srq_ci: pi }.encode()[..4]);
                Ok([0, 0])
            }
            Command::ModifySrq { srqn, limit } => {
                let s = self.srqs.get_mut(&srqn).ok_or(S::BadObject)?;
                s.limit = limit;
                self.check_srq_limit(srqn);
                Ok([0, 0])
            }
            Command::DestroySrq { srqn } => {
                let s = self.srqs.get(&srqn).ok_or(S::BadObject)?;
                if s.users > 0 {
                    return Err(S::InUse);
                }
                let pdn = s.pdn;
                self.srqs.remove(&srqn);
                self.pd_ref(pdn, false);
                Ok([0, 0])
            }
            Command::CreateQp(c) => self.create_qp(&c).map(|()| [0, 0]),
            Command::ModifyQp { qpn, attr } => {
                if !attr.fits(crate::admin::QP_ATTR_SIZE) {
                    return Err(S::BadParam);
                }
                let raw = dma::read_array::<{ crate::admin::QP_ATTR_SIZE }>(attr.addr)
                    .ok_or(S::DmaError)?;
                let attr = QpAttr::decode(&raw).map_err(|_| S::BadParam)?;
                self.modify_qp(qpn, &attr).map(|()| [0, 0])
            }
            Command::QueryQp { qpn, out } => {
                if !out.fits(crate::admin::QP_ATTR_SIZE) {
                    return Err(S::BadParam);
                }
                let attr = self.query_qp(qpn).ok_or(S::BadObject)?;
                dma::write(out.addr, &attr.encode())
                    .then_some([0, 0])
                    .ok_or(S::DmaError)
            }
            Command::DestroyQp { qpn } => self.destroy_qp(qpn).map(|()| [0, 0]),
            Command::AllocMr { key, pdn, kind } => {
                self.alloc_mpt(key, pdn, false, kind)?;
                Ok([0, 0])
            }
            Command::FreeMr { key } => self.free_mpt(key, false).map(|()| [0, 0]),
            Command::RegisterMr(r) => self.register_mr(&r).map(|()| [r.key.0, r.key.0]),
            Command::DeregisterMr { key } => {
                let m = self.mpt.get_mut(&key.index()).ok_or(S::BadObject)?;
                if m.is_mw {
                    return Err(S::BadObject);
                }
                if m.binds > 0 {
                    return Err(S::InUse);
                }
                m.valid = false;
                Ok([0, 0])
            }
            Command::InitFastReg {
                key,
                max_pages,
                access,
            } => {
                let m = self.mpt.get_mut(&key.index()).ok_or(S::BadObject)?;
                if m.is_mw || m.kind != MrKind::FastRegister {
                    return Err(S::BadState);
                }
                if max_pages > u32::from(a.frmr_max_pages) {
                    return Err(S::Limit);
                }
                m.key = key;
                m.valid = false;
                m.fr_init = Some((max_pages, access));
                Ok([key.0, key.0])
            }
            Command::AllocMw { key, pdn } => {
                self.alloc_mpt(key, pdn, true, MrKind::Registered)?;
                Ok([key.0, 0])
            }
            Command::FreeMw { key } => self.free_mpt(key, true).map(|()| [0, 0]),
            Command::CmListen(l) => self.cm_listen(&l).map(|()| [0, 0]),
            Command::CmStopListen { listen_id } => self.cm_stop_listen(listen_id).map(|()| [0, 0]),
            Command::CmConnect { conn_id, record } => {
                let rec = self.read_cm_mailbox(record)?;
                self.cm_connect(conn_id, &rec).map(|()| [0, 0])
            }
            Command::CmAccept { conn_id, record } => {
                let rec = self.read_cm_mailbox(record)?;
                self.cm_accept(conn_id, &rec).map(|()| [0, 0])
            }
            Command::CmReject { conn_id, record } => {
                let rec = self.read_cm_mailbox(record)?;
                self.cm_reject(conn_id, &rec).map(|()| [0, 0])
            }
            Command::CmComplete { conn_id } => self.cm_complete(conn_id).map(|()| [0, 0]),
            Command::CmDisconnect { conn_id } => self.cm_disconnect(conn_id).map(|()| [0, 0]),
            Command::CmRelease { conn_id } => self.cm_release(conn_id).map(|()| [0, 0]),
            Command::SetRxFilter { filter } => {
                self.rx_filter = filter;
                Ok([0, 0])
            }
            Command::CreateRawq(c) => self.create_rawq(&c).map(|()| [0, 0]),
            Command::FlushRawq { rawqn } => self.flush_rawq(rawqn).map(|()| [0, 0]),
            Command::DestroyRawq { rawqn } => self.destroy_rawq(rawqn).map(|()| [0, 0]),
        }
    }

    fn read_cm_mailbox(&self, mb: crate::admin::Mailbox) -> Result<CmRecord, CmdStatus> {
        if !mb.fits(crate::cm::CM_RECORD_SIZE) {
            return Err(CmdStatus::BadParam);
        }
        let raw =
            dma::read_array::<{ crate::cm::CM_RECORD_SIZE }>(mb.addr).ok_or(CmdStatus::DmaError)?;
        CmRecord::decode(&raw).map_err(|_| CmdStatus::BadParam)
    }

    pub(crate) fn pd_ref(&mut self, pdn: u32, add: bool) {
        if let Some(n) = self.pds.get_mut(&pdn) {
            *n = if add { *n + 1 } else { n.saturating_sub(1) };
        }
    }

    pub(crate) fn check_srq_limit(&mut self, srqn: u32) {
        // SRQ_PI is cumulative: its latest value is always valid, and receives posted before
        // this point (e.g. before a MODIFY_SRQ) must count (§4).
        let pi = (self
            .bar2
            .read32(regs::doorbell_block_offset(srqn) + regs::DB_SRQ_PI)
            & 0xFFFF) as u16;
        let Some(s) = self.srqs.get_mut(&srqn) else {
            return;
        };
        s.pi = pi;
        if s.limit == 0 {
            return;
        }
        let queued = u32::from(ring::used16(s.pi, s.ci));
        if queued < s.limit {
            s.limit = 0;
            let ctx = s.ctx;
            self.post_eqe(Eqe::SrqLimit {
                srqn,
                srq_context: ctx,
                queued,
            });
        }
    }

    // ---------------------------------------------------------------------------------
    // Memory (§5.2, §6.4.7, §12.5)
    // ---------------------------------------------------------------------------------

    fn alloc_mpt(
        &mut self,
        key: Key,
        pdn: u32,
        is_mw: bool,
        kind: MrKind,
    ) -> Result<(), CmdStatus> {
        if !key.is_allocatable() || key.index() >= self.attrs.max_mpt {
            return Err(CmdStatus::BadObject);
        }
        if !self.pds.contains_key(&pdn) {
            return Err(CmdStatus::BadObject);
        }
        if self.mpt.contains_key(&key.index()) {
            return Err(CmdStatus::BadState);
        }
        self.mpt
            .insert(key.index(), Mpt::new(key, pdn, is_mw, kind));
        self.pd_ref(pdn, true);
        Ok(())
    }

    fn free_mpt(&mut self, key: Key, is_mw: bool) -> Result<(), CmdStatus> {
        let m = self.mpt.get(&key.index()).ok_or(CmdStatus::BadObject)?;
        if m.is_mw != is_mw {
            return Err(CmdStatus::BadObject);
        }
        if !is_mw && m.binds > 0 {
            return Err(CmdStatus::InUse);
        }
        let (pdn, parent, valid) = (m.pdn, m.parent, m.valid);
        if is_mw && valid {
            if let Some(p) = parent.and_then(|p| self.mpt.get_mut(&p)) {
                p.binds = p.binds.saturating_sub(1);
            }
        }
        self.mpt.remove(&key.index());
        self.pd_ref(pdn, false);
        Ok(())
    }

    fn register_mr(&mut self, r: &crate::admin::RegisterMr) -> Result<(), CmdStatus> {
        use CmdStatus as S;
        let m = self.mpt.get(&r.key.index()).ok_or(S::BadObject)?;
        if m.is_mw || m.kind != MrKind::Registered {
            return Err(S::BadState);
        }
        if self.attrs.page_sizes & (1u32.checked_shl(u32::from(r.log2_page_size)).unwrap_or(0)) == 0
        {
            return Err(S::BadParam);
        }
        if r.length > 1u64 << self.attrs.max_mr_size_log2 || r.page_count > self.attrs.max_pbl_pages
        {
            return Err(S::Limit);
        }
        let psize = 1u64 << r.log2_page_size;
        let need = (u64::from(r.first_byte_offset) + r.length).div_ceil(psize);
        if u64::from(r.page_count) < need {
            return Err(S::BadParam);
        }
        let pages = match r.pbl_levels {
            0 => Pages::Contiguous(r.pbl_addr),
            1 => Pages::List(read_u64s(r.pbl_addr, r.page_count as usize).ok_or(S::DmaError)?),
            2 => {
                let leaves = (r.page_count as usize).div_ceil(crate::admin::PBL_LEAF_ENTRIES);
                let dir = read_u64s(r.pbl_addr, leaves).ok_or(S::DmaError)?;
                let mut list = Vec::with_capacity(r.page_count as usize);
                let mut left = r.page_count as usize;
                for leaf in dir {
                    let n = left.min(crate::admin::PBL_LEAF_ENTRIES);
                    list.extend(read_u64s(leaf, n).ok_or(S::DmaError)?);
                    left -= n;
                }
                Pages::List(list)
            }
            _ => return Err(S::BadParam),
        };
        if let Some(m) = self.mpt.get_mut(&r.key.index()) {
            m.key = r.key;
            m.valid = true;
            m.access = r.access;
            m.iova = r.iova;
            m.length = r.length;
            m.log2_page = r.log2_page_size;
            m.fbo = r.first_byte_offset;
            m.pages = pages;
        }
        Ok(())
    }

    /// Checks `key` for `[addr, addr+len)` in PD `pdn` with rights `need` and returns the bus
    /// runs (§5.2, §9.4, §9.5). `remote`: an rkey from the wire (no privileged key).
    pub(crate) fn translate(
        &self,
        key: u32,
        pdn: u32,
        addr: u64,
        len: u64,
        need: AccessFlags,
        remote: bool,
    ) -> Result<Vec<(u64, usize)>, u32> {
        let mut out = Vec::new();
        if key == PRIVILEGED_LKEY && !remote {
            let n = usize::try_from(len).map_err(|_| syndrome::BOUNDS)?;
            addr.checked_add(len).ok_or(syndrome::BOUNDS)?;
            if n > 0 {
                out.push((addr, n));
            }
            return Ok(out);
        }
        let k = Key(key);
        let m = self.mpt.get(&k.index()).ok_or(syndrome::LKEY_INVALID)?;
        if (m.is_mw && !remote) || k.index() < 2 {
            return Err(syndrome::LKEY_INVALID);
        }
        if m.key != k {
            return Err(syndrome::LKEY_STALE);
        }
        if !m.valid {
            return Err(syndrome::LKEY_NOT_VALID);
        }
        if m.pdn != pdn {
            return Err(syndrome::PD_MISMATCH);
        }
        let end = addr.checked_add(len).ok_or(syndrome::BOUNDS)?;
        if addr < m.iova || end > m.iova.saturating_add(m.length) {
            return Err(syndrome::BOUNDS);
        }
        if !m.access.contains(need) {
            return Err(syndrome::ACCESS);
        }
        let mr = if m.is_mw {
            let p = m
                .parent
                .and_then(|p| self.mpt.get(&p))
                .ok_or(syndrome::LKEY_NOT_VALID)?;
            if !p.valid {
                return Err(syndrome::LKEY_NOT_VALID);
            }
            p
        } else {
            m
        };
        let map = PageMap {
            pages: &mr.pages,
            iova: mr.iova,
            fbo: mr.fbo,
            log2_page: mr.log2_page,
        };
        if len > 0 && !map.runs(addr, len, &mut out) {
            return Err(syndrome::BOUNDS);
        }
        Ok(out)
    }

    /// Gathers the bytes of local data segments (§9.5 lkey checks).
    pub(crate) fn gather(&self, pdn: u32, segs: &[DataSeg]) -> Result<Vec<u8>, u32> {
        let total: u64 = segs.iter().map(|s| u64::from(s.length)).sum();
        if total > u64::from(self.attrs.max_msg_size) {
            return Err(syndrome::MSG_TOO_LONG);
        }
        let mut out = std::vec![0u8; total as usize];
        let mut pos = 0usize;
        for s in segs {
            let runs = self.translate(
                s.lkey,
                pdn,
                s.addr,
                u64::from(s.length),
                AccessFlags::empty(),
                false,
            )?;
            for (bus, n) in runs {
                let dst = out.get_mut(pos..pos + n).ok_or(syndrome::INTERNAL)?;
                if !dma::read(bus, dst) {
                    return Err(syndrome::DMA_ERROR);
                }
                pos += n;
            }
        }
        Ok(out)
    }

    /// Checks that `len` bytes at message offset `off` fit the scatter list and have
    /// LOCAL_WRITE, and returns the bus runs. `Err(RECV_TOO_SMALL)` when they do not fit.
    pub(crate) fn scatter_runs(
        &self,
        pdn: u32,
        segs: &[DataSeg],
        off: u64,
        len: u64,
    ) -> Result<Vec<(u64, usize)>, u32> {
        let mut out = Vec::new();
        let mut skip = off;
        let mut left = len;
        for s in segs {
            if left == 0 {
                break;
            }
            let sl = u64::from(s.length);
            if skip >= sl {
                skip -= sl;
                continue;
            }
            let n = (sl - skip).min(left);
            out.extend(self.translate(
                s.lkey,
                pdn,
                s.addr.checked_add(skip).ok_or(syndrome::BOUNDS)?,
                n,
                AccessFlags::LOCAL_WRITE,
                false,
            )?);
            skip = 0;
            left -= n;
        }
        if left > 0 {
            return Err(syndrome::RECV_TOO_SMALL);
        }
        Ok(out)
    }

    /// Sends a QP_ERROR EQE (§5.7) for a QP that entered ERR on its own.
    pub(crate) fn post_qp_error(&mut self, qpn: u32, ctx: u64, syn: u32) {
        self.post_eqe(Eqe::QpError {
            qpn,
            qp_context: ctx,
            kind: QpErrorKind::of_syndrome(syn),
            syndrome: syn,
        });
    }

    /// QP state, for tests.
    pub fn qp_state(&self, qpn: u32) -> Option<QpState> {
        self.qps.get(&qpn).map(|q| q.state)
    }
}

/// Scatter / gather over bus runs and page lists: the shared device DMA helpers.
pub(crate) use fabric::dma::{read_runs, read_u64s, write_runs};
