//! The raw Ethernet queue of the device (docs/silicon/rocev2.md §14): send descriptors are
//! fetched from the host ring and their frames put on the wire; frames the RDMA engine does
//! not consume and the receive filter admits are written into posted receive buffers; every
//! descriptor completes, in ring order, in the raw completion ring.

use std::vec::Vec;

use crate::admin::{CmdStatus, CreateRawq};
use crate::cm::ip_to_gid;
use crate::eqe::Eqe;
use crate::raw::{
    RawCqe, RawRecvDesc, RawSendDesc, RawStatus, MAX_RAWQ, MAX_RAW_CQ_LOG2, MAX_RAW_LOG2,
    MIN_RAW_FRAME, RAW_CQE_OWNER_OFFSET, RAW_CQE_SIZE, RAW_FRAME_OVERHEAD, RAW_RECV_DESC_SIZE,
    RAW_SEND_DESC_SIZE,
};
use crate::regs;
use crate::ring;

use super::device::Device;
use super::dma;
use super::wire::eth::{EthHeader, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::wire::ip::IpHeader;
use super::wire::udp::{UdpHeader, ROCEV2_UDP_PORT};

/// IP protocol number of UDP.
const IPPROTO_UDP: u8 = 17;

/// A raw queue (CREATE_RAWQ).
#[derive(Debug)]
pub(crate) struct RawQ {
    pub rawqn: u32,
    pub ctx: u64,
    pub sq_log2: u8,
    pub rq_log2: u8,
    pub cq_log2: u8,
    pub sq: u64,
    pub rq: u64,
    pub cq: u64,
    /// Doorbell values (16 bits) and the device's consumer counters.
    pub sq_pi: u16,
    pub sq_ci: u16,
    pub rq_pi: u16,
    pub rq_ci: u16,
    /// Completions written (24 bits).
    pub cq_pi: u32,
    /// Last RAW_CQ_ARM value, and the armed (CI, SN).
    pub last_arm: u32,
    pub arm: Option<(u32, u8)>,
    /// FLUSH_RAWQ executed: every descriptor completes FLUSHED.
    pub flushed: bool,
}

impl Device {
    fn db(&self, rawqn: u32, reg: usize) -> u32 {
        self.bar2
            .read32(regs::doorbell_block_offset(rawqn).wrapping_add(reg))
    }

    pub(crate) fn create_rawq(&mut self, c: &CreateRawq) -> Result<(), CmdStatus> {
        if c.rawqn >= MAX_RAWQ {
            return Err(CmdStatus::BadObject);
        }
        if self.raw.is_some() {
            return Err(CmdStatus::BadState);
        }
        let ok_depth = |l: u8| (1..=MAX_RAW_LOG2).contains(&l);
        if !ok_depth(c.log2_sq_depth) || !ok_depth(c.log2_rq_depth) {
            return Err(CmdStatus::BadParam);
        }
        // §14.5: the completion ring holds every descriptor of both rings.
        let need = (1u32 << c.log2_sq_depth) + (1u32 << c.log2_rq_depth);
        if c.log2_cq_size > MAX_RAW_CQ_LOG2 || (1u32 << c.log2_cq_size) < need {
            return Err(CmdStatus::BadParam);
        }
        if [c.sq_addr, c.rq_addr, c.cq_addr]
            .iter()
            .any(|a| a & 0xFFF != 0 || *a == 0)
        {
            return Err(CmdStatus::BadParam);
        }
        let sq_pi = (self.db(c.rawqn, regs::DB_RAW_SQ_PI) & 0xFFFF) as u16;
        let rq_pi = (self.db(c.rawqn, regs::DB_RAW_RQ_PI) & 0xFFFF) as u16;
        self.raw = Some(RawQ {
            rawqn: c.rawqn,
            ctx: c.context,
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
            last_arm: self.db(c.rawqn, regs::DB_RAW_CQ_ARM),
            arm: None,
            flushed: false,
        });
        Ok(())
    }

    pub(crate) fn flush_rawq(&mut self, rawqn: u32) -> Result<(), CmdStatus> {
        match &mut self.raw {
            Some(q) if q.rawqn == rawqn => q.flushed = true,
            _ => return Err(CmdStatus::BadObject),
        }
        // Everything doorbelled up to now completes FLUSHED before the command does.
        self.raw_doorbells();
        Ok(())
    }

    pub(crate) fn destroy_rawq(&mut self, rawqn: u32) -> Result<(), CmdStatus> {
        match &self.raw {
            Some(q) if q.rawqn == rawqn => {
                self.raw = None;
                Ok(())
            }
            _ => Err(CmdStatus::BadObject),
        }
    }

    /// Samples the raw doorbells (§14.3): new receive descriptors are noted (a flushed queue
    /// returns them at once), new send descriptors are sent, an arm is latched.
    pub(crate) fn raw_doorbells(&mut self) {
        let Some(rawqn) = self.raw.as_ref().map(|q| q.rawqn) else {
            return;
        };
        let sq_pi = (self.db(rawqn, regs::DB_RAW_SQ_PI) & 0xFFFF) as u16;
        let rq_pi = (self.db(rawqn, regs::DB_RAW_RQ_PI) & 0xFFFF) as u16;
        let arm = self.db(rawqn, regs::DB_RAW_CQ_ARM);
        let Some(q) = self.raw.as_mut() else { return };
        q.rq_pi = rq_pi;
        q.sq_pi = sq_pi;
        if arm != q.last_arm {
            q.last_arm = arm;
            q.arm = Some((arm & ring::COUNTER24_MASK, ((arm >> 24) & 3) as u8));
            self.work += 1;
        }
        if self.raw.as_ref().is_some_and(|q| q.flushed) {
            self.raw_flush_receives();
        }
        self.raw_sends();
        self.raw_check_notify();
    }

    fn raw_flush_receives(&mut self) {
        while let Some(q) = self.raw.as_ref() {
            if q.rq_ci == q.rq_pi {
                return;
            }
            let Some(d) = self.raw_recv_desc(q.rq_ci) else {
                return;
            };
            self.raw_complete(true, d.token, d.index, 0, RawStatus::Flushed);
        }
    }

    fn raw_recv_desc(&self, ci: u16) -> Option<RawRecvDesc> {
        let q = self.raw.as_ref()?;
        let addr =
            q.rq.wrapping_add((ring::slot(u32::from(ci), q.rq_log2) * RAW_RECV_DESC_SIZE) as u64);
        dma::read_array::<RAW_RECV_DESC_SIZE>(addr).map(|b| RawRecvDesc::decode(&b))
    }

    fn raw_sends(&mut self) {
        loop {
            let Some(q) = self.raw.as_ref() else { return };
            if q.sq_ci == q.sq_pi {
                return;
            }
            let addr = q.sq.wrapping_add(
                (ring::slot(u32::from(q.sq_ci), q.sq_log2) * RAW_SEND_DESC_SIZE) as u64,
            );
            let flushed = q.flushed;
            let Some(raw) = dma::read_array::<RAW_SEND_DESC_SIZE>(addr) else {
                // The ring itself is unreadable: the host broke the contract.
                self.go_fatal(3);
                return;
            };
            let d = RawSendDesc::decode(&raw);
            let status = if flushed {
                RawStatus::Flushed
            } else {
                self.raw_transmit(&d)
            };
            self.raw_complete(false, d.token, d.index, 0, status);
        }
    }

    /// Gathers and sends one frame; the status of its completion.
    fn raw_transmit(&mut self, d: &RawSendDesc) -> RawStatus {
        let len = d.frame_len();
        if d.frags().is_empty() || !(MIN_RAW_FRAME..=self.mtu + RAW_FRAME_OVERHEAD).contains(&len) {
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
        if !self.link_up {
            return RawStatus::LinkDown;
        }
        // The MAC pads short frames to the Ethernet minimum (the FCS is not modelled).
        if frame.len() < 60 {
            frame.resize(60, 0);
        }
        self.stats.raw_tx_frames += 1;
        self.work += 1;
        self.tx.push(frame);
        RawStatus::Ok
    }

    /// Writes a raw completion (§14.5): body, then the owner byte; retires the descriptor.
    fn raw_complete(&mut self, receive: bool, token: u64, index: u16, len: u32, st: RawStatus) {
        let Some(q) = self.raw.as_mut() else { return };
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
        let ok = raw
            .get(..RAW_CQE_OWNER_OFFSET)
            .is_some_and(|body| dma::write(addr, body))
            && raw.get(RAW_CQE_OWNER_OFFSET).is_some_and(|o| {
                dma::write_owner(addr.wrapping_add(RAW_CQE_OWNER_OFFSET as u64), *o)
            });
        if !ok {
            self.go_fatal(3);
            return;
        }
        self.work += 1;
        self.raw_check_notify();
    }

    /// RAW_NOTIFY when armed and a completion at or after the arm's CI exists (§14.5).
    fn raw_check_notify(&mut self) {
        let Some(q) = self.raw.as_mut() else { return };
        let Some((ci, sn)) = q.arm else { return };
        if ring::used24(q.cq_pi, ci) == 0 {
            return;
        }
        q.arm = None;
        let (rawqn, context) = (q.rawqn, q.ctx);
        self.post_eqe(Eqe::RawNotify {
            rawqn,
            context,
            arm_sn: sn,
        });
    }

    /// True for a frame the RDMA engine owns (§14.1): RoCEv2 (UDP destination port 4791) to
    /// one of the GID table's addresses.
    pub(crate) fn is_rdma_frame(&self, frame: &[u8]) -> bool {
        let Ok((eth, rest)) = EthHeader::parse(frame) else {
            return false;
        };
        if eth.ethertype != ETHERTYPE_IPV4 && eth.ethertype != ETHERTYPE_IPV6 {
            return false;
        }
        let Ok((ip, rest)) = IpHeader::parse(rest) else {
            return false;
        };
        if ip.protocol() != IPPROTO_UDP {
            return false;
        }
        let Ok((udp, _)) = UdpHeader::parse(rest) else {
            return false;
        };
        if udp.dst_port != ROCEV2_UDP_PORT {
            return false;
        }
        let gid = ip_to_gid(ip.dst());
        self.gids.iter().any(|g| g.is_some_and(|(_, x)| x == gid))
    }

    /// A frame for the raw queue (§14.6): filter, then the next receive descriptor.
    pub(crate) fn raw_receive(&mut self, frame: &[u8]) {
        let Some(q) = self.raw.as_ref() else {
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
        if !self.rx_filter.admits(&dst, &self.mac) {
            self.stats.raw_rx_filtered += 1;
            return;
        }
        if q.rq_ci == q.rq_pi {
            self.stats.raw_rx_no_buffer += 1;
            return;
        }
        let Some(d) = self.raw_recv_desc(q.rq_ci) else {
            self.go_fatal(3);
            return;
        };
        let Ok(len) = u32::try_from(frame.len()) else {
            return;
        };
        if len > d.len {
            // The frame is dropped; the buffer stays posted for the next one.
            self.stats.raw_rx_no_buffer += 1;
            return;
        }
        if !dma::write(d.addr, frame) {
            self.stats.raw_rx_no_buffer += 1;
            self.raw_complete(true, d.token, d.index, 0, RawStatus::DmaError);
            return;
        }
        self.stats.raw_rx_frames += 1;
        self.raw_complete(true, d.token, d.index, len, RawStatus::Ok);
    }
}
