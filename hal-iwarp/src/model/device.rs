//! The silicon: registers, admin queue, event queue, connection event ring, CQs, SRQs and the
//! STag table (docs/silicon/iwarp.md §3, §5, §6, §12). QPs and their transport live in
//! `rdmap.rs` (send queue, requester) and `ddp.rs` (placement, responder), the connection
//! manager in `cm.rs`; all are `impl Device` blocks over one state.
//!
//! Everything driven by driver writes or wire input is checked and never panics: bad values
//! complete commands with an error status, fail WQEs with a syndrome or drop frames.

use core::mem::offset_of;
use core::net::IpAddr;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::vec::Vec;

use hal::ring;

use crate::admin::{CmdEntry, CmdEntryRaw, CmdStatus, Command, QpAttr, CMD_SIZE, QP_ATTR_SIZE};
use crate::caps::DeviceAttrs;
use crate::cm::{ip_from_bytes, CmRecord, CM_RECORD_SIZE};
use crate::cqe::{syndrome, Cqe, CqeFlags, CqeStatus, CQE_OWNER_OFFSET};
use crate::eqe::{Eqe, EventType, EQE_OWNER_OFFSET};
use crate::record::SrqRecord;
use crate::regs::{self, Bar0};
use crate::stag::{AccessFlags, STag, PRIVILEGED_STAG};
use crate::wqe::DataSeg;

use super::cm::Cm;
use super::mpa::MpaEngine;
use super::rdmap::Qp;
use super::tcp::{TcpConfig, TcpEngine};
use fabric::dma;
use fabric::BarMemory;

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
    pub tcp_segs_sent: u64,
    pub tcp_segs_received: u64,
    pub tcp_retransmits: u64,
    pub tcp_timeouts: u64,
    pub tcp_fast_retransmits: u64,
    pub tcp_out_of_order: u64,
    pub tcp_duplicates: u64,
    pub tcp_bad_checksum: u64,
    pub tcp_rsts_sent: u64,
    pub tcp_rsts_received: u64,
    pub tcp_active_opens: u64,
    pub tcp_passive_opens: u64,
    pub tcp_failed_opens: u64,
    pub mpa_crc_errors: u64,
    pub mpa_rejects_sent: u64,
    pub mpa_rejects_received: u64,
    pub ddp_segments_sent: u64,
    pub ddp_segments_received: u64,
    pub terminates_sent: u64,
    pub terminates_received: u64,
    pub rx_discards: u64,
    pub raw_tx_frames: u64,
    pub raw_rx_frames: u64,
    pub raw_rx_no_buffer: u64,
    pub raw_rx_filtered: u64,
    pub tcp_zero_window_probes: u64,
    pub mpa_timeouts: u64,
    pub ddp_placement_errors: u64,
}

impl Stats {
    fn values(&self) -> [u64; 32] {
        [
            self.tx_frames,
            self.tx_octets,
            self.rx_frames,
            self.rx_octets,
            self.tcp_segs_sent,
            self.tcp_segs_received,
            self.tcp_retransmits,
            self.tcp_timeouts,
            self.tcp_fast_retransmits,
            self.tcp_out_of_order,
            self.tcp_duplicates,
            self.tcp_bad_checksum,
            self.tcp_rsts_sent,
            self.tcp_rsts_received,
            self.tcp_active_opens,
            self.tcp_passive_opens,
            self.tcp_failed_opens,
            self.mpa_crc_errors,
            self.mpa_rejects_sent,
            self.mpa_rejects_received,
            self.ddp_segments_sent,
            self.ddp_segments_received,
            self.terminates_sent,
            self.terminates_received,
            self.rx_discards,
            self.raw_tx_frames,
            self.raw_rx_frames,
            self.raw_rx_no_buffer,
            self.raw_rx_filtered,
            self.tcp_zero_window_probes,
            self.mpa_timeouts,
            self.ddp_placement_errors,
        ]
    }
}

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

/// What an STag table entry is (§6.4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StagKind {
    /// ALLOC_MR KIND REGISTERED.
    Registered,
    /// ALLOC_MR KIND FAST_REGISTER.
    FastReg,
    /// ALLOC_MW.
    Window,
}

/// An STag table entry (§5.2, §12.5).
#[derive(Clone, Debug)]
pub(crate) struct StagEntry {
    pub stag: STag,
    pub pdn: u32,
    pub kind: StagKind,
    pub valid: bool,
    pub access: AccessFlags,
    pub iova: u64,
    pub length: u64,
    pub log2_page: u8,
    pub fbo: u32,
    pub pages: Pages,
    /// INIT_FAST_REG: page limit and the remote rights FAST_REG may grant.
    pub fr_init: Option<(u32, AccessFlags)>,
    /// MR: windows bound over it.
    pub binds: u32,
    /// MW: the index of the MR it is bound over.
    pub parent: Option<u32>,
}

impl StagEntry {
    fn new(stag: STag, pdn: u32, kind: StagKind) -> StagEntry {
        StagEntry {
            stag,
            pdn,
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

/// Why an STag check failed (§9.6, §10.2): the local syndrome and the Terminate code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StagError {
    /// Index out of range, free, reserved, or of the wrong kind.
    Invalid,
    /// Key byte differs.
    Key,
    /// Deregistered or invalidated.
    NotValid,
    /// Another PD.
    Pd,
    /// Outside the registration.
    Bounds,
    /// TO + length wraps.
    Wrap,
    /// A right is missing.
    Access,
    /// A DMA access failed.
    Dma,
}

impl StagError {
    /// The local syndrome (§10.2).
    pub(crate) fn syndrome(self) -> u32 {
        match self {
            StagError::Invalid => syndrome::STAG_INVALID,
            StagError::Key => syndrome::STAG_KEY_MISMATCH,
            StagError::NotValid => syndrome::STAG_NOT_VALID,
            StagError::Pd => syndrome::PD_MISMATCH,
            StagError::Bounds | StagError::Wrap => syndrome::BOUNDS,
            StagError::Access => syndrome::ACCESS,
            StagError::Dma => syndrome::DMA_ERROR,
        }
    }
}

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
    /// Local address table (§3.10).
    pub(crate) addrs: Vec<Option<IpAddr>>,
    pub(crate) pds: BTreeMap<u32, u32>,
    pub(crate) cqs: BTreeMap<u32, Cq>,
    pub(crate) srqs: BTreeMap<u32, Srq>,
    pub(crate) qps: BTreeMap<u32, Qp>,
    pub(crate) stags: HashMap<u32, StagEntry>,
    /// The TCP offload engine with MPA on top (§8, §9.2–§9.3).
    pub(crate) mpa: MpaEngine,
    pub(crate) tcp_config: TcpConfig,
    pub(crate) cm: Cm,
    pub(crate) pending_cm: VecDeque<CmRecord>,
    pub(crate) stats: Stats,
    /// Frames to put on the wire.
    pub(crate) tx: Vec<Vec<u8>>,
    /// Frames to ourselves (LOOPBACK, §3.4): handed back to the engine on the next step.
    pub(crate) loopback: Vec<Vec<u8>>,
    /// The raw Ethernet queue (§5.9), and the receive filter (SET_RX_FILTER).
    pub(crate) raw: fabric::raw_queue::RawQueueEngine,
    pub(crate) rx_filter: hal::raw_eth::RxFilter,
    /// Work done since the last step returned.
    pub(crate) work: usize,
}

impl Device {
    /// A device in power-up state with BARs `bar0`, `bar2`, station address `mac`; `seed`
    /// seeds the initial sequence numbers.
    pub fn new(
        bar0: &'static BarMemory,
        bar2: &'static BarMemory,
        mac: [u8; 6],
        seed: u64,
    ) -> Device {
        let mut attrs = DeviceAttrs::REFERENCE;
        attrs.factory_mac = mac;
        let tcp_config = TcpConfig {
            seed,
            ..TcpConfig::default()
        };
        let mut d = Device {
            bar0,
            bar2,
            attrs,
            mac,
            now: 0,
            ctl: Control::new(bar0, fabric::control_regs!(Bar0)),
            link_up: true,
            mtu: 1500,
            addrs: Vec::new(),
            pds: BTreeMap::new(),
            cqs: BTreeMap::new(),
            srqs: BTreeMap::new(),
            qps: BTreeMap::new(),
            stags: HashMap::new(),
            mpa: MpaEngine::new(TcpEngine::new(mac, &[], tcp_config)),
            tcp_config,
            cm: Cm::default(),
            pending_cm: VecDeque::new(),
            stats: Stats::default(),
            tx: Vec::new(),
            loopback: Vec::new(),
            raw: fabric::raw_queue::RawQueueEngine::new(),
            rx_filter: hal::raw_eth::RxFilter::empty(),
            work: 0,
        };
        d.reset();
        d
    }

    /// Statistics (§3.11).
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        let t = self.mpa.tcp().stats();
        s.tcp_segs_sent = t.segments_out;
        s.tcp_segs_received = t.segments_in;
        s.tcp_retransmits = t.retransmits;
        s.tcp_timeouts = t.timeouts;
        s.tcp_fast_retransmits = t.fast_retransmits;
        s.tcp_out_of_order = t.out_of_order;
        s.tcp_duplicates = t.duplicates;
        s.tcp_bad_checksum = t.bad_checksum;
        s.tcp_rsts_sent = t.resets_out;
        s.tcp_rsts_received = t.resets_in;
        s
    }

    /// Station MAC.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    pub(crate) fn w(&self, off: usize, v: u32) {
        self.bar0.write32(off, v);
    }

    pub(crate) fn r(&self, off: usize) -> u32 {
        self.bar0.read32(off)
    }

    /// CTRL.RESET (§3.5, §12.1): forget everything (connections vanish without RST),
    /// registers to reset values, READY.
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
        self.addrs = std::vec![None; usize::from(self.attrs.addr_table_size)];
        self.pds.clear();
        self.cqs.clear();
        self.srqs.clear();
        self.qps.clear();
        self.stags.clear();
        self.tcp_config.mss = 1460;
        let mut tcp = TcpEngine::new(self.mac, &[], self.tcp_config);
        tcp.set_deferred_acks(true);
        self.mpa = MpaEngine::new(tcp);
        self.cm = Cm::default();
        self.pending_cm.clear();
        self.raw = fabric::raw_queue::RawQueueEngine::new();
        self.rx_filter = hal::raw_eth::RxFilter::empty();
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
        self.post_eqe(Eqe {
            event_type: EventType::PortChange,
            subtype: 0,
            status: 0,
            object: 0,
            context: 0,
            data0: ps,
            data1: 0,
            syndrome: 0,
        });
        self.ctl.set_cause(1 << 2);
    }

    pub(crate) fn go_fatal(&mut self, code: u32) {
        if !self.ctl.go_fatal(code) {
            return;
        }
        let eqe = Eqe {
            event_type: EventType::DeviceFatal,
            subtype: 0,
            status: 0,
            object: 0,
            context: 0,
            data0: 0,
            data1: 0,
            syndrome: code,
        };
        // The fatal EQE is the last one written, if the EQ has room: a full EQ (or a DMA
        // error) is what made the device fatal, and must not make it fatal again.
        self.ctl.fatal = false;
        if let EventPost::Written = self
            .ctl
            .post_event(|owner| eqe.encode(owner), EQE_OWNER_OFFSET)
        {
            self.work += 1;
        }
        self.ctl.fatal = true;
    }

    /// Samples the control registers (§3.5–§3.10): reset, enable, ring enables, EQ arm,
    /// INT_CAUSE write-1-to-clear, the address table view.
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
        let sel = (self.r(reg!(addr_select)) & 0xFFFF) as usize;
        let (attr, bytes) = match self.addrs.get(sel).copied().flatten() {
            Some(ip) => (
                1 | (if ip.is_ipv4() { 1 } else { 2 }) << 1,
                crate::cm::ip_bytes(ip),
            ),
            None => (0, [0; 16]),
        };
        self.w(reg!(addr_attr), attr);
        for (i, c) in bytes.chunks_exact(4).enumerate() {
            let mut b = [0u8; 4];
            b.copy_from_slice(c);
            self.w(reg!(addr_data0) + i * 4, u32::from_le_bytes(b));
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

    /// Writes pending connection records and their EQEs while the CMEV ring has room (§3.8).
    pub(crate) fn flush_cm_events(&mut self) {
        while let Some(rec) = self.pending_cm.front() {
            if !self.ctl.cm_room() {
                return;
            }
            let rec = *rec;
            self.pending_cm.pop_front();
            let mut buf = [0u8; CM_RECORD_SIZE];
            let pushed = rec
                .encode_into(&mut buf)
                .then(|| self.ctl.cm_push(&buf))
                .flatten();
            let Some(idx) = pushed else {
                self.go_fatal(3);
                return;
            };
            if let Some(ty) = rec.event_type() {
                self.post_eqe(Eqe::cm_event(ty, rec.conn_id, rec.context, idx));
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
                self.post_eqe(Eqe {
                    event_type: EventType::CqError,
                    subtype: 1,
                    status: 0,
                    object: cqn,
                    context: ctx,
                    data0: 0,
                    data1: 0,
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
        self.post_eqe(Eqe {
            event_type: EventType::CqNotify,
            subtype: 0,
            status: 0,
            object: cqn,
            context: ctx,
            data0: u32::from(sn & 3),
            data1: 0,
            syndrome: 0,
        });
    }

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

    /// A CQ overran: every QP using it goes to ERR and its connection is closed (§5.6.2).
    fn cq_failed(&mut self, cqn: u32) {
        let qpns: Vec<u32> = self
            .qps
            .iter()
            .filter(|(_, q)| q.send_cqn == cqn || q.recv_cqn == cqn)
            .map(|(n, _)| *n)
            .collect();
        for qpn in qpns {
            self.qp_failed(qpn, syndrome::CQ_ERROR, None, true);
            // §8.3: the connection of a QP that failed on its own is closed (BROKEN).
            self.cm_qp_broken(qpn, None);
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
    /// doorbells, received frames, the engines and timers. Returns work done.
    pub fn step(&mut self, now: u64, rx: Vec<Vec<u8>>) -> usize {
        self.now = now;
        self.sample_registers();
        if self.ctl.enabled && !self.ctl.fatal && self.ctl.ready {
            self.run_admin();
            self.sample_doorbells();
            self.run_sqs();
            self.raw_doorbells();
            let mut frames = core::mem::take(&mut self.loopback);
            frames.extend(rx);
            for f in frames {
                self.receive_frame(&f);
            }
            self.cm_snapshot();
            self.mpa.poll_timers(now);
            self.cm_events();
            self.cm_timers();
            self.run_sqs();
            self.cq_moderation_timers();
            self.flush_cm_events();
            self.drain_engine();
        } else {
            self.stats.rx_discards += rx.len() as u64;
        }
        self.write_stats();
        core::mem::take(&mut self.work)
    }

    /// A frame from the wire: the TOE's when it belongs to a connection or matches a listen
    /// (§8.7), else the raw queue's.
    fn receive_frame(&mut self, f: &[u8]) {
        if !self.cm_enabled() {
            self.raw_receive(f);
            return;
        }
        self.cm_snapshot();
        match self.mpa.on_frame(f, self.now) {
            super::tcp::Disposition::Consumed => {
                self.stats.rx_frames += 1;
                self.stats.rx_octets += f.len() as u64 + 4;
                self.work += 1;
            }
            // A damaged frame (IP header, TCP checksum) cannot be shown to be the TOE's: the
            // engine counted it (STAT_TCP_BAD_CHECKSUM) and the host stack gets it to drop.
            super::tcp::Disposition::Dropped(_) | super::tcp::Disposition::NotMine => {
                self.raw_receive(f)
            }
        }
        self.cm_events();
        // Received data is acknowledged after it was checked and placed (§9.6).
        self.mpa.tcp_mut().flush_acks(self.now);
    }

    /// Frames the TOE queued go on the wire (or back to us).
    pub(crate) fn drain_engine(&mut self) {
        while let Some(f) = self.mpa.pop_frame() {
            self.stats.tx_frames += 1;
            self.stats.tx_octets += f.len() as u64 + 4;
            self.work += 1;
            if f.get(..6) == Some(&self.mac[..]) {
                self.loopback.push(f);
            } else if self.link_up {
                self.tx.push(f);
            }
        }
    }

    fn write_stats(&self) {
        for (i, v) in self.stats().values().iter().enumerate() {
            self.bar0.write64(reg!(stat_tx_frames) + i * 8, *v);
        }
    }

    /// Earliest timer (TCP, MPA, FIN, CQ moderation), if any.
    pub fn next_deadline(&self) -> Option<u64> {
        let t = match (self.mpa.next_timer(), self.cm.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let m = self.cqs.values().filter_map(Cq::moderation_deadline).min();
        match (t, m) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True while a connection waits for its driver to answer an event (§8.3).
    pub fn cm_waits_for_host(&self) -> bool {
        self.cm.waits_for_host() || !self.pending_cm.is_empty()
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
            let hdr: CmdEntryRaw = zerocopy::transmute!(raw);
            let silent = hdr.flags & crate::admin::FLAG_SILENT != 0;
            let (status, out) = match CmdEntry::decode(&raw) {
                Ok(e) => match self.execute(&e) {
                    Ok(o) => (CmdStatus::Ok, o),
                    Err(s) => (s, (0, 0)),
                },
                Err(e) => (e, (0, 0)),
            };
            self.ctl.admin_consumed();
            self.work += 1;
            if !(silent && status == CmdStatus::Ok) {
                self.post_eqe(Eqe::cmd_complete(
                    hdr.opcode,
                    status,
                    hdr.object.get(),
                    hdr.token.get(),
                    out,
                ));
            }
            // Connection events a command produced come after its completion.
            self.cm_events();
            self.flush_cm_events();
            self.drain_engine();
        }
    }

    fn execute(&mut self, e: &CmdEntry) -> Result<(u32, u32), CmdStatus> {
        use CmdStatus as S;
        let a = self.attrs;
        let obj = e.object;
        match e.command {
            Command::Nop => Ok((0, 0)),
            Command::QueryDevice(mb) => {
                if mb.len.get() < 512 {
                    return Err(S::BadParam);
                }
                let mut img = [0u8; 512];
                for (i, c) in img.chunks_exact_mut(4).enumerate() {
                    c.copy_from_slice(&self.r(i * 4).to_le_bytes());
                }
                dma::write(mb.addr.get(), &img)
                    .then_some((0, 0))
                    .ok_or(S::DmaError)
            }
            Command::SetMac(p) => {
                if p.reserved.iter().any(|b| *b != 0) {
                    return Err(S::BadParam);
                }
                self.mac = p.mac;
                self.mpa.tcp_mut().set_mac(p.mac);
                Ok((0, 0))
            }
            Command::SetMtu(p) => {
                let mtu = p.value.get();
                if !(1280..=9000).contains(&mtu) {
                    return Err(S::BadParam);
                }
                self.mtu = mtu;
                // New connections use MSS = MTU − 40 (§6.4.3); the engine's MSS applies to
                // connections opened afterwards.
                self.tcp_config.mss = (mtu - 40) as u16;
                self.mpa.tcp_mut().set_mss(self.tcp_config.mss);
                self.write_port_status();
                Ok((0, 0))
            }
            Command::SetAddr(p) => {
                let slot = self.addrs.get_mut(obj as usize).ok_or(S::BadObject)?;
                *slot = match p.addr_type {
                    0 => None,
                    1 => Some(ip_from_bytes(4, p.addr).ok_or(S::BadParam)?),
                    2 => Some(ip_from_bytes(6, p.addr).ok_or(S::BadParam)?),
                    _ => return Err(S::BadParam),
                };
                let list: Vec<IpAddr> = self.addrs.iter().flatten().copied().collect();
                self.mpa.tcp_mut().set_addresses(&list);
                Ok((0, 0))
            }
            Command::SetRxFilter(p) => {
                let f = hal::raw_eth::RxFilter::from_bits(p.value.get()).ok_or(S::BadParam)?;
                self.rx_filter = f;
                Ok((0, 0))
            }
            Command::SetTcpParams(p) => {
                // The MPA and FIN timers are the CM's; the TCP timers stay the engine's
                // (scaled for virtual time), their values are accepted.
                if p.reserved != [0; 2] || p.reserved1 != [0; 20] {
                    return Err(S::BadParam);
                }
                if p.mpa_timeout_ms.get() != 0 {
                    self.cm.mpa_timeout_ns = u64::from(p.mpa_timeout_ms.get()) * 1_000_000;
                }
                if p.fin_timeout_ms.get() != 0 {
                    self.cm.fin_timeout_ns = u64::from(p.fin_timeout_ms.get()) * 1_000_000;
                }
                Ok((0, 0))
            }
            Command::CreatePd => {
                if obj >= a.max_pd {
                    return Err(S::BadObject);
                }
                if self.pds.contains_key(&obj) {
                    return Err(S::BadState);
                }
                self.pds.insert(obj, 0);
                Ok((0, 0))
            }
            Command::DestroyPd => {
                match self.pds.get(&obj) {
                    None => return Err(S::BadObject),
                    Some(&n) if n > 0 => return Err(S::InUse),
                    _ => {}
                }
                self.pds.remove(&obj);
                Ok((0, 0))
            }
            Command::CreateCq(c) => {
                if obj >= a.max_cq {
                    return Err(S::BadObject);
                }
                if self.cqs.contains_key(&obj) {
                    return Err(S::BadState);
                }
                if !(1..=22).contains(&c.log2_size) || c.eqn != 0 {
                    return Err(S::BadParam);
                }
                let last_arm = self
                    .bar2
                    .read32(regs::doorbell_block_offset(obj) + regs::DB_CQ_ARM);
                self.cqs.insert(
                    obj,
                    Cq {
                        log2: c.log2_size,
                        ring: c.ring_addr.get(),
                        dbrec: c.dbrec_addr.get(),
                        ctx: c.cq_context.get(),
                        pi: 0,
                        generation: false,
                        arm: None,
                        last_arm,
                        last_sol: None,
                        error: false,
                        users: 0,
                        mod_count: c.mod_count.get(),
                        mod_period: c.mod_period.get(),
                        mod_pending: None,
                    },
                );
                Ok((0, 0))
            }
            Command::ResizeCq(c) => {
                let cq = self.cqs.get_mut(&obj).ok_or(S::BadObject)?;
                let log2_size = c.log2_size;
                if !(1..=22).contains(&log2_size) {
                    return Err(S::BadParam);
                }
                // The marker goes into the old ring's reserved slot (§5.6.3).
                let marker = |owner| Cqe::RESIZE_MARKER.encode(owner);
                cq.resize(log2_size, c.ring_addr.get(), marker, CQE_OWNER_OFFSET)
                    .map_err(|e| match e {
                        CqResizeError::Limit => S::Limit,
                        CqResizeError::DmaError => S::DmaError,
                    })?;
                Ok((0, 0))
            }
            Command::ModifyCq(c) => {
                let cq = self.cqs.get_mut(&obj).ok_or(S::BadObject)?;
                cq.mod_count = c.mod_count.get();
                cq.mod_period = c.mod_period.get();
                Ok((0, 0))
            }
            Command::DestroyCq => {
                let cq = self.cqs.get(&obj).ok_or(S::BadObject)?;
                if cq.users > 0 {
                    return Err(S::InUse);
                }
                self.cqs.remove(&obj);
                Ok((0, 0))
            }
            Command::CreateSrq(c) => {
                if obj >= a.max_srq {
                    return Err(S::BadObject);
                }
                if self.srqs.contains_key(&obj) {
                    return Err(S::BadState);
                }
                let pdn = c.pdn.get();
                if !self.pds.contains_key(&pdn) {
                    return Err(S::BadObject);
                }
                if !(1..=15).contains(&c.log2_depth) || !(5..=9).contains(&c.log2_stride) {
                    return Err(S::BadParam);
                }
                let pi = (self
                    .bar2
                    .read32(regs::doorbell_block_offset(obj) + regs::DB_SRQ_PI)
                    & 0xFFFF) as u16;
                self.srqs.insert(
                    obj,
                    Srq {
                        pdn,
                        log2_depth: c.log2_depth,
                        log2_stride: c.log2_stride,
                        ring: c.ring_addr.get(),
                        record: c.record_addr.get(),
                        ctx: c.srq_context.get(),
                        limit: c.limit.get(),
                        pi,
                        ci: pi,
                        users: 0,
                    },
                );
                self.pd_ref(pdn, true);
                let rec = SrqRecord { srq_ci: pi }.encode();
                let _ = dma::write(c.record_addr.get(), rec.get(..4).unwrap_or(&[]));
                Ok((0, 0))
            }
            Command::ModifySrq(p) => {
                let s = self.srqs.get_mut(&obj).ok_or(S::BadObject)?;
                s.limit = p.value.get();
                self.check_srq_limit(obj);
                Ok((0, 0))
            }
            Command::DestroySrq => {
                let s = self.srqs.get(&obj).ok_or(S::BadObject)?;
                if s.users > 0 {
                    return Err(S::InUse);
                }
                let pdn = s.pdn;
                self.srqs.remove(&obj);
                self.pd_ref(pdn, false);
                Ok((0, 0))
            }
            Command::CreateQp { use_srq, params } => {
                self.create_qp(obj, use_srq, &params).map(|()| (0, 0))
            }
            Command::ModifyQp(mb) => {
                if (mb.len.get() as usize) < QP_ATTR_SIZE {
                    return Err(S::BadParam);
                }
                let raw = dma::read_array::<QP_ATTR_SIZE>(mb.addr.get()).ok_or(S::DmaError)?;
                let attr = <QpAttr as zerocopy::FromBytes>::read_from_bytes(&raw[..])
                    .map_err(|_| S::BadParam)?;
                self.modify_qp(obj, &attr).map(|()| (0, 0))
            }
            Command::QueryQp(mb) => {
                if (mb.len.get() as usize) < QP_ATTR_SIZE {
                    return Err(S::BadParam);
                }
                let attr = self.query_qp(obj).ok_or(S::BadObject)?;
                dma::write(mb.addr.get(), zerocopy::IntoBytes::as_bytes(&attr))
                    .then_some((0, 0))
                    .ok_or(S::DmaError)
            }
            Command::DestroyQp => self.destroy_qp(obj).map(|()| (0, 0)),
            Command::AllocMr(p) => {
                let kind = match p.dword1.get() {
                    0 => StagKind::Registered,
                    1 => StagKind::FastReg,
                    _ => return Err(S::BadParam),
                };
                self.alloc_stag(STag(obj), p.dword0.get(), kind)?;
                Ok((0, 0))
            }
            Command::FreeMr => self.free_stag(STag(obj), false).map(|()| (0, 0)),
            Command::RegisterMr(r) => self.register_mr(STag(obj), &r).map(|()| (obj, obj)),
            Command::DeregisterMr => {
                let m = self.stags.get_mut(&STag(obj).index()).ok_or(S::BadObject)?;
                if m.kind == StagKind::Window {
                    return Err(S::BadObject);
                }
                if m.binds > 0 {
                    return Err(S::InUse);
                }
                m.valid = false;
                Ok((0, 0))
            }
            Command::InitFastReg(p) => {
                let stag = STag(obj);
                let m = self.stags.get_mut(&stag.index()).ok_or(S::BadObject)?;
                if m.kind != StagKind::FastReg {
                    return Err(S::BadState);
                }
                let max_pages = p.dword0.get();
                if max_pages > u32::from(a.frmr_max_pages) {
                    return Err(S::Limit);
                }
                let access = AccessFlags::from_bits(p.dword1.get()).ok_or(S::BadParam)?;
                m.stag = stag;
                m.valid = false;
                m.fr_init = Some((max_pages, access));
                Ok((obj, obj))
            }
            Command::AllocMw(p) => {
                self.alloc_stag(STag(obj), p.dword0.get(), StagKind::Window)?;
                Ok((obj, 0))
            }
            Command::FreeMw => self.free_stag(STag(obj), true).map(|()| (0, 0)),
            Command::CmListen(l) => self.cm_listen(obj, &l).map(|()| (0, 0)),
            Command::CmStopListen => self.cm_stop_listen(obj).map(|()| (0, 0)),
            Command::CmConnect(mb) => {
                let rec = read_cm_mailbox(&mb)?;
                self.cm_connect(obj, &rec).map(|port| (u32::from(port), 0))
            }
            Command::CmAccept(mb) => {
                let rec = read_cm_mailbox(&mb)?;
                self.cm_accept(obj, &rec).map(|()| (0, 0))
            }
            Command::CmReject(mb) => {
                let rec = read_cm_mailbox(&mb)?;
                self.cm_reject(obj, &rec).map(|()| (0, 0))
            }
            Command::CmComplete => self.cm_complete(obj).map(|()| (0, 0)),
            Command::CmDisconnect => self.cm_disconnect(obj).map(|()| (0, 0)),
            Command::CmAbort => self.cm_abort(obj).map(|()| (0, 0)),
            Command::CmRelease => self.cm_release(obj).map(|()| (0, 0)),
            Command::CreateRawq(c) => self.create_rawq(obj, &c).map(|()| (0, 0)),
            Command::FlushRawq => self.flush_rawq(obj).map(|()| (0, 0)),
            Command::DestroyRawq => self.destroy_rawq(obj).map(|()| (0, 0)),
        }
    }

    pub(crate) fn pd_ref(&mut self, pdn: u32, add: bool) {
        if let Some(n) = self.pds.get_mut(&pdn) {
            *n = if add { *n + 1 } else { n.saturating_sub(1) };
        }
    }

    pub(crate) fn check_srq_limit(&mut self, srqn: u32) {
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
            self.post_eqe(Eqe {
                event_type: EventType::SrqLimit,
                subtype: 0,
                status: 0,
                object: srqn,
                context: ctx,
                data0: queued,
                data1: 0,
                syndrome: 0,
            });
        }
    }

    // ---------------------------------------------------------------------------------
    // STags (§5.2, §6.4.7, §12.5)
    // ---------------------------------------------------------------------------------

    fn alloc_stag(&mut self, stag: STag, pdn: u32, kind: StagKind) -> Result<(), CmdStatus> {
        if !stag.is_allocatable() || stag.index() >= self.attrs.max_stag {
            return Err(CmdStatus::BadObject);
        }
        if !self.pds.contains_key(&pdn) {
            return Err(CmdStatus::BadObject);
        }
        if self.stags.contains_key(&stag.index()) {
            return Err(CmdStatus::BadState);
        }
        self.stags
            .insert(stag.index(), StagEntry::new(stag, pdn, kind));
        self.pd_ref(pdn, true);
        Ok(())
    }

    fn free_stag(&mut self, stag: STag, is_mw: bool) -> Result<(), CmdStatus> {
        let m = self.stags.get(&stag.index()).ok_or(CmdStatus::BadObject)?;
        if (m.kind == StagKind::Window) != is_mw {
            return Err(CmdStatus::BadObject);
        }
        if !is_mw && m.binds > 0 {
            return Err(CmdStatus::InUse);
        }
        let (pdn, parent, valid) = (m.pdn, m.parent, m.valid);
        if is_mw && valid {
            if let Some(p) = parent.and_then(|p| self.stags.get_mut(&p)) {
                p.binds = p.binds.saturating_sub(1);
            }
        }
        self.stags.remove(&stag.index());
        self.pd_ref(pdn, false);
        Ok(())
    }

    fn register_mr(
        &mut self,
        stag: STag,
        r: &crate::admin::RegisterMrParams,
    ) -> Result<(), CmdStatus> {
        use CmdStatus as S;
        let m = self.stags.get(&stag.index()).ok_or(S::BadObject)?;
        if m.kind != StagKind::Registered {
            return Err(S::BadState);
        }
        let access = AccessFlags::from_bits(r.access.get()).ok_or(S::BadParam)?;
        let log2 = r.log2_page_size;
        if self.attrs.page_sizes & 1u32.checked_shl(u32::from(log2)).unwrap_or(0) == 0 {
            return Err(S::BadParam);
        }
        let length = r.length.get();
        let page_count = r.page_count.get();
        if length > 1u64 << self.attrs.max_mr_size_log2 || page_count > self.attrs.max_pbl_pages {
            return Err(S::Limit);
        }
        let fbo = r.first_byte_offset.get();
        let psize = 1u64 << log2;
        let need = (u64::from(fbo) + length).div_ceil(psize);
        if u64::from(page_count) < need {
            return Err(S::BadParam);
        }
        let pbl = r.pbl_addr.get();
        let pages = match r.pbl_levels {
            0 => Pages::Contiguous(pbl),
            1 => Pages::List(read_u64s(pbl, page_count as usize).ok_or(S::DmaError)?),
            2 => {
                let leaves = (page_count as usize).div_ceil(512);
                let dir = read_u64s(pbl, leaves).ok_or(S::DmaError)?;
                let mut list = Vec::new();
                let mut left = page_count as usize;
                for leaf in dir {
                    let n = left.min(512);
                    list.extend(read_u64s(leaf, n).ok_or(S::DmaError)?);
                    left -= n;
                }
                Pages::List(list)
            }
            _ => return Err(S::BadParam),
        };
        if let Some(m) = self.stags.get_mut(&stag.index()) {
            m.stag = stag;
            m.valid = true;
            m.access = access;
            m.iova = r.iova.get();
            m.length = length;
            m.log2_page = log2;
            m.fbo = fbo;
            m.pages = pages;
        }
        Ok(())
    }

    /// Checks `stag` for `[addr, addr+len)` in PD `pdn` with rights `need` and returns the bus
    /// runs (§5.2, §9.6, §12.5). `remote`: an STag from the wire (no privileged STag).
    pub(crate) fn translate(
        &self,
        stag: u32,
        pdn: u32,
        addr: u64,
        len: u64,
        need: AccessFlags,
        remote: bool,
    ) -> Result<Vec<(u64, usize)>, StagError> {
        let mut out = Vec::new();
        if stag == PRIVILEGED_STAG && !remote {
            let n = usize::try_from(len).map_err(|_| StagError::Bounds)?;
            addr.checked_add(len).ok_or(StagError::Wrap)?;
            if n > 0 {
                out.push((addr, n));
            }
            return Ok(out);
        }
        let k = STag(stag);
        if k.index() < crate::stag::RESERVED_STAG_INDICES {
            return Err(StagError::Invalid);
        }
        let m = self.stags.get(&k.index()).ok_or(StagError::Invalid)?;
        if m.kind == StagKind::Window && !remote {
            return Err(StagError::Invalid);
        }
        if m.stag != k {
            return Err(StagError::Key);
        }
        if !m.valid {
            return Err(StagError::NotValid);
        }
        if m.pdn != pdn {
            return Err(StagError::Pd);
        }
        let end = addr.checked_add(len).ok_or(StagError::Wrap)?;
        if addr < m.iova || end > m.iova.saturating_add(m.length) {
            return Err(StagError::Bounds);
        }
        if !m.access.contains(need) {
            return Err(StagError::Access);
        }
        let mr = if m.kind == StagKind::Window {
            let p = m
                .parent
                .and_then(|p| self.stags.get(&p))
                .ok_or(StagError::NotValid)?;
            if !p.valid {
                return Err(StagError::NotValid);
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
            return Err(StagError::Bounds);
        }
        Ok(out)
    }

    /// Gathers the bytes of local data segments (no right needed to read local memory).
    pub(crate) fn gather(&self, pdn: u32, segs: &[DataSeg]) -> Result<Vec<u8>, u32> {
        let total: u64 = segs.iter().map(|s| u64::from(s.length)).sum();
        if total > u64::from(self.attrs.max_msg_size) {
            return Err(syndrome::MSG_TOO_LONG);
        }
        let mut out = Vec::new();
        for s in segs {
            let runs = self
                .translate(
                    s.stag,
                    pdn,
                    s.addr,
                    u64::from(s.length),
                    AccessFlags::empty(),
                    false,
                )
                .map_err(StagError::syndrome)?;
            if !read_runs(&runs, &mut out) {
                return Err(syndrome::DMA_ERROR);
            }
        }
        Ok(out)
    }

    /// Checks that `len` bytes at message offset `off` fit the scatter list with LOCAL_WRITE
    /// and returns the bus runs; `Ok(None)` when they do not fit.
    pub(crate) fn scatter_runs(
        &self,
        pdn: u32,
        segs: &[DataSeg],
        off: u64,
        len: u64,
    ) -> Result<Option<Vec<(u64, usize)>>, StagError> {
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
                s.stag,
                pdn,
                s.addr.checked_add(skip).ok_or(StagError::Wrap)?,
                n,
                AccessFlags::LOCAL_WRITE,
                false,
            )?);
            skip = 0;
            left -= n;
        }
        if left > 0 {
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// Sends a QP_ERROR EQE (§5.7) for a QP that entered ERR on its own.
    pub(crate) fn post_qp_error(
        &mut self,
        qpn: u32,
        ctx: u64,
        syn: u32,
        term: Option<crate::cqe::TermInfo>,
    ) {
        self.post_eqe(Eqe::qp_error(qpn, ctx, syn, term));
    }

    /// QP state, for tests.
    pub fn qp_state(&self, qpn: u32) -> Option<crate::admin::QpState> {
        self.qps.get(&qpn).map(|q| q.state)
    }
}

fn read_cm_mailbox(mb: &crate::admin::MailboxParams) -> Result<CmRecord, CmdStatus> {
    if (mb.len.get() as usize) < CM_RECORD_SIZE {
        return Err(CmdStatus::BadParam);
    }
    let raw = dma::read_array::<CM_RECORD_SIZE>(mb.addr.get()).ok_or(CmdStatus::DmaError)?;
    CmRecord::decode(&raw).map_err(|_| CmdStatus::BadParam)
}

/// Scatter / gather over bus runs and page lists: the shared device DMA helpers.
pub(crate) use fabric::dma::{read_runs, read_u64s, write_runs};
