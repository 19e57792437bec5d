//! The raw Ethernet queue engine of the NIC models: send descriptors are fetched from the
//! host ring and their frames put on the wire; frames the device's RDMA engine does not keep
//! and the receive filter admits are written into posted receive buffers; every descriptor
//! completes, in ring order, in the raw completion ring.
//!
//! The queue is byte-identical on the RoCEv2 and iWARP reference NICs (formats in
//! [`hal::raw_eth`]), so one engine serves both. What differs stays with the device: where
//! the queue's doorbells are in BAR2 ([`RawDoorbells`]), how CREATE_RAWQ's parameters are
//! encoded ([`RawQueueParams`]), which frames the RDMA engine keeps (the device offers the
//! engine only the others, [`RawQueueEngine::receive`]), and how it answers the engine's
//! requests ([`RawEffects`]: frames to send, a RAW_NOTIFY event, a fatal error, counters).

use std::vec::Vec;

use hal::raw_eth::{
    RawCqe, RawRecvDesc, RawSendDesc, RawStatus, RxFilter, MAX_RAWQ, MAX_RAW_CQ_LOG2, MAX_RAW_LOG2,
    MIN_RAW_FRAME, RAW_CQE_OWNER_OFFSET, RAW_CQE_SIZE, RAW_FRAME_OVERHEAD, RAW_RECV_DESC_SIZE,
    RAW_SEND_DESC_SIZE,
};
use hal::ring;

use crate::{dma, BarMemory};

/// The BAR2 byte offsets of one raw queue's doorbells (its RAW_SQ_PI, RAW_RQ_PI and
/// RAW_CQ_ARM registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawDoorbells {
    /// RAW_SQ_PI: send producer index (16 bits).
    pub sq_pi: usize,
    /// RAW_RQ_PI: receive producer index (16 bits).
    pub rq_pi: usize,
    /// RAW_CQ_ARM: completion consumer index (24 bits) and arm sequence number (bits 25:24).
    pub cq_arm: usize,
}

/// CREATE_RAWQ's parameters, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawQueueParams {
    /// Raw queue number (OBJECT).
    pub rawqn: u32,
    /// The context the queue's RAW_NOTIFY events carry.
    pub context: u64,
    /// Send descriptors, log2.
    pub log2_sq_depth: u8,
    /// Receive descriptors, log2.
    pub log2_rq_depth: u8,
    /// Raw completions, log2.
    pub log2_cq_size: u8,
    /// Send ring, 4 KiB aligned.
    pub sq_addr: u64,
    /// Receive ring, 4 KiB aligned.
    pub rq_addr: u64,
    /// Completion ring, 4 KiB aligned.
    pub cq_addr: u64,
    /// Where the queue's doorbells are.
    pub doorbells: RawDoorbells,
}

/// Why a raw queue command failed (the device maps each to its command status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawCmdError {
    /// No such queue, or a queue number out of range.
    BadObject,
    /// The queue exists already.
    BadState,
    /// Depths, ring size or ring addresses out of range.
    BadParam,
}

/// The device state the engine reads.
#[derive(Clone, Copy)]
pub struct RawPort<'a> {
    /// BAR2, where the doorbells are.
    pub bar2: &'a BarMemory,
    /// Link up: sends fail LINK_DOWN otherwise.
    pub link_up: bool,
    /// The port MTU: the largest frame is MTU plus header and tag.
    pub mtu: u32,
    /// The station address (the filter's DIRECTED).
    pub mac: [u8; 6],
    /// SET_RX_FILTER's value.
    pub filter: RxFilter,
}

/// A RAW_NOTIFY event the device must post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawNotify {
    /// The queue.
    pub rawqn: u32,
    /// Its CREATE_RAWQ context.
    pub context: u64,
    /// The arm's sequence number (2 bits).
    pub arm_sn: u8,
}

/// What the device must do after an engine call, in this order: count, send, post the
/// notify, go fatal.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RawEffects {
    /// Work done (the device's step result).
    pub work: usize,
    /// Frames to put on the wire.
    pub tx: Vec<Vec<u8>>,
    /// RAW_NOTIFY to post (an arm is answered once, so at most one per call).
    pub notify: Option<RawNotify>,
    /// A host ring was unreadable or unwritable: the device goes fatal (DMA error).
    pub fatal: bool,
    /// Frames sent from the raw queue.
    pub tx_frames: u64,
    /// Frames delivered to the raw queue.
    pub rx_frames: u64,
    /// Frames dropped for want of a (large enough, writable) receive buffer.
    pub rx_no_buffer: u64,
    /// Frames the receive filter dropped.
    pub rx_filtered: u64,
}

/// A raw queue (CREATE_RAWQ).
#[derive(Debug)]
struct RawQ {
    rawqn: u32,
    ctx: u64,
    db: RawDoorbells,
    sq_log2: u8,
    rq_log2: u8,
    cq_log2: u8,
    sq: u64,
    rq: u64,
    cq: u64,
    /// Doorbell values (16 bits) and the device's consumer counters.
    sq_pi: u16,
    sq_ci: u16,
    rq_pi: u16,
    rq_ci: u16,
    /// Completions written (24 bits).
    cq_pi: u32,
    /// Last RAW_CQ_ARM value, and the armed (CI, SN).
    last_arm: u32,
    arm: Option<(u32, u8)>,
    /// FLUSH_RAWQ executed: every descriptor completes FLUSHED.
    flushed: bool,
}

/// The raw Ethernet queue of one device (at most [`MAX_RAWQ`] queue).
#[derive(Debug, Default)]
pub struct RawQueueEngine {
    q: Option<RawQ>,
}

impl RawQueueEngine {
    /// No queue (power-up and reset).
    pub const fn new() -> RawQueueEngine {
        RawQueueEngine { q: None }
    }

    /// CREATE_RAWQ.
    pub fn create(&mut self, port: &RawPort<'_>, c: &RawQueueParams) -> Result<(), RawCmdError> {
        if c.rawqn >= MAX_RAWQ {
            return Err(RawCmdError::BadObject);
        }
        if self.q.is_some() {
            return Err(RawCmdError::BadState);
        }
        let ok_depth = |l: u8| (1..=MAX_RAW_LOG2).contains(&l);
        if !ok_depth(c.log2_sq_depth) || !ok_depth(c.log2_rq_depth) {
            return Err(RawCmdError::BadParam);
        }
        // The completion ring holds every descriptor of both rings.
        let need = (1u32 << c.log2_sq_depth) + (1u32 << c.log2_rq_depth);
        if c.log2_cq_size > MAX_RAW_CQ_LOG2 || (1u32 << c.log2_cq_size) < need {
            return Err(RawCmdError::BadParam);
        }
        if [c.sq_addr, c.rq_addr, c.cq_addr]
            .iter()
            .any(|a| a & 0xFFF != 0 || *a == 0)
        {
            return Err(RawCmdError::BadParam);
        }
        let db = c.doorbells;
        let sq_pi = (port.bar2.read32(db.sq_pi) & 0xFFFF) as u16;
        let rq_pi = (port.bar2.read32(db.rq_pi) & 0xFFFF) as u16;
        self.q = Some(RawQ {
            rawqn: c.rawqn,
            ctx: c.context,
            db,
            sq_log2: c.log2_sq_depth,
            rq_log2: c.log2_rq_depth,
            cq_log2: c.log2_cq_size,
            sq: c.sq_addr,
            rq: c.rq_addr,
            cq: c.cq_addr,
            // Doorbells written before the create are the ring's starting point.
            sq_pi,
            sq_ci: sq_pi,
            rq_pi,
            rq_ci: rq_pi,
            cq_pi: 0,
            last_arm: port.bar2.read32(db.cq_arm),
            arm: None,
            flushed: false,
        });
        Ok(())
    }

    /// FLUSH_RAWQ: everything doorbelled up to now completes FLUSHED before the command does.
    pub fn flush(
        &mut self,
        rawqn: u32,
        port: &RawPort<'_>,
        fx: &mut RawEffects,
    ) -> Result<(), RawCmdError> {
        match &mut self.q {
            Some(q) if q.rawqn == rawqn => q.flushed = true,
            _ => return Err(RawCmdError::BadObject),
        }
        self.doorbells(port, fx);
        Ok(())
    }

    /// DESTROY_RAWQ.
    pub fn destroy(&mut self, rawqn: u32) -> Result<(), RawCmdError> {
        match &self.q {
            Some(q) if q.rawqn == rawqn => {
                self.q = None;
                Ok(())
            }
            _ => Err(RawCmdError::BadObject),
        }
    }

    /// Samples the raw doorbells: new receive descriptors are noted (a flushed queue returns
    /// them at once), new send descriptors are sent, an arm is latched.
    pub fn doorbells(&mut self, port: &RawPort<'_>, fx: &mut RawEffects) {
        let Some(q) = self.q.as_mut() else { return };
        q.sq_pi = (port.bar2.read32(q.db.sq_pi) & 0xFFFF) as u16;
        q.rq_pi = (port.bar2.read32(q.db.rq_pi) & 0xFFFF) as u16;
        let arm = port.bar2.read32(q.db.cq_arm);
        if arm != q.last_arm {
            q.last_arm = arm;
            q.arm = Some((arm & ring::COUNTER24_MASK, ((arm >> 24) & 3) as u8));
            fx.work += 1;
        }
        if q.flushed {
            self.flush_receives(fx);
        }
        self.sends(port, fx);
        self.check_notify(fx);
    }

    fn flush_receives(&mut self, fx: &mut RawEffects) {
        while let Some(q) = self.q.as_ref() {
            if q.rq_ci == q.rq_pi {
                return;
            }
            let Some(d) = self.recv_desc(q.rq_ci) else {
                return;
            };
            self.complete(true, d.token, d.index, 0, RawStatus::Flushed, fx);
        }
    }

    fn recv_desc(&self, ci: u16) -> Option<RawRecvDesc> {
        let q = self.q.as_ref()?;
        let addr =
            q.rq.wrapping_add((ring::slot(u32::from(ci), q.rq_log2) * RAW_RECV_DESC_SIZE) as u64);
        dma::read_array::<RAW_RECV_DESC_SIZE>(addr).map(|b| RawRecvDesc::decode(&b))
    }

    fn sends(&mut self, port: &RawPort<'_>, fx: &mut RawEffects) {
        loop {
            let Some(q) = self.q.as_ref() else { return };
            if q.sq_ci == q.sq_pi {
                return;
            }
            let addr = q.sq.wrapping_add(
                (ring::slot(u32::from(q.sq_ci), q.sq_log2) * RAW_SEND_DESC_SIZE) as u64,
            );
            let flushed = q.flushed;
            let Some(raw) = dma::read_array::<RAW_SEND_DESC_SIZE>(addr) else {
                // The ring itself is unreadable: the host broke the contract.
                fx.fatal = true;
                return;
            };
            let d = RawSendDesc::decode(&raw);
            let status = if flushed {
                RawStatus::Flushed
            } else {
                transmit(port, &d, fx)
            };
            self.complete(false, d.token, d.index, 0, status, fx);
        }
    }

    /// Writes a raw completion: body, then the owner byte; retires the descriptor.
    fn complete(
        &mut self,
        receive: bool,
        token: u64,
        index: u16,
        len: u32,
        st: RawStatus,
        fx: &mut RawEffects,
    ) {
        let Some(q) = self.q.as_mut() else { return };
        if receive {
            q.rq_ci = q.rq_ci.wrapping_add(1);
        } else {
            q.sq_ci = q.sq_ci.wrapping_add(1);
        }
        let cqe = RawCqe {
            token,
            byte_count: len,
            index,
            status: st,
            receive,
        };
        let raw = cqe.encode(ring::owner_bit(q.cq_pi, q.cq_log2));
        let addr =
            q.cq.wrapping_add((ring::slot(q.cq_pi, q.cq_log2) * RAW_CQE_SIZE) as u64);
        q.cq_pi = ring::advance24(q.cq_pi, 1);
        if !dma::write_entry(addr, &raw, RAW_CQE_OWNER_OFFSET) {
            fx.fatal = true;
            return;
        }
        fx.work += 1;
        self.check_notify(fx);
    }

    /// RAW_NOTIFY when armed and a completion at or after the arm's CI exists.
    fn check_notify(&mut self, fx: &mut RawEffects) {
        let Some(q) = self.q.as_mut() else { return };
        let Some((ci, sn)) = q.arm else { return };
        if ring::used24(q.cq_pi, ci) == 0 {
            return;
        }
        q.arm = None;
        // A fatal device posts no more events: the arm is spent all the same.
        if !fx.fatal {
            fx.notify = Some(RawNotify {
                rawqn: q.rawqn,
                context: q.ctx,
                arm_sn: sn,
            });
        }
    }

    /// A frame the RDMA engine does not keep: filter, then the next receive descriptor.
    pub fn receive(&mut self, frame: &[u8], port: &RawPort<'_>, fx: &mut RawEffects) {
        let Some(q) = self.q.as_ref() else {
            return;
        };
        if q.flushed {
            return;
        }
        let mut dst = [0u8; 6];
        match frame.get(..6) {
            Some(d) => dst.copy_from_slice(d),
            None => return,
        }
        if !port.filter.admits(&dst, &port.mac) {
            fx.rx_filtered += 1;
            return;
        }
        if q.rq_ci == q.rq_pi {
            fx.rx_no_buffer += 1;
            return;
        }
        let Some(d) = self.recv_desc(q.rq_ci) else {
            fx.fatal = true;
            return;
        };
        let Ok(len) = u32::try_from(frame.len()) else {
            return;
        };
        if len > d.len {
            // The frame is dropped; the buffer stays posted for the next one.
            fx.rx_no_buffer += 1;
            return;
        }
        if !dma::write(d.addr, frame) {
            fx.rx_no_buffer += 1;
            self.complete(true, d.token, d.index, 0, RawStatus::DmaError, fx);
            return;
        }
        fx.rx_frames += 1;
        self.complete(true, d.token, d.index, len, RawStatus::Ok, fx);
    }
}

/// Gathers one frame for the wire; the status of its completion.
fn transmit(port: &RawPort<'_>, d: &RawSendDesc, fx: &mut RawEffects) -> RawStatus {
    let len = d.frame_len();
    let max = port.mtu.saturating_add(RAW_FRAME_OVERHEAD);
    if d.frags().is_empty() || !(MIN_RAW_FRAME..=max).contains(&len) {
        return RawStatus::BadDescriptor;
    }
    let mut frame = Vec::with_capacity(len as usize);
    for f in d.frags() {
        let start = frame.len();
        frame.resize(start + f.len as usize, 0);
        let Some(dst) = frame.get_mut(start..) else {
            return RawStatus::DmaError;
        };
        if !dma::read(f.addr, dst) {
            return RawStatus::DmaError;
        }
    }
    if !port.link_up {
        return RawStatus::LinkDown;
    }
    // The MAC pads short frames to the Ethernet minimum (the FCS is not modelled).
    if frame.len() < 60 {
        frame.resize(60, 0);
    }
    fx.tx_frames += 1;
    fx.work += 1;
    fx.tx.push(frame);
    RawStatus::Ok
}
