//! The raw Ethernet queue of the device (docs/silicon/rocev2.md §14): the shared
//! [`fabric::raw_queue`] engine over this device's doorbells (§14.3), admin commands and
//! RAW_NOTIFY events (§14.5). What is RoCE's own is which frames the RDMA engine keeps
//! (§14.1): [`Device::is_rdma_frame`].

use fabric::raw_queue::{RawCmdError, RawDoorbells, RawEffects, RawPort, RawQueueParams};

use crate::admin::{CmdStatus, CreateRawq};
use crate::cm::ip_to_gid;
use crate::eqe::Eqe;
use crate::regs;

use super::device::Device;
use super::wire::eth::{EthHeader, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::wire::ip::IpHeader;
use super::wire::udp::{UdpHeader, ROCEV2_UDP_PORT};

/// IP protocol number of UDP.
const IPPROTO_UDP: u8 = 17;

fn status(e: RawCmdError) -> CmdStatus {
    match e {
        RawCmdError::BadObject => CmdStatus::BadObject,
        RawCmdError::BadState => CmdStatus::BadState,
        RawCmdError::BadParam => CmdStatus::BadParam,
    }
}

impl Device {
    fn raw_port(&self) -> RawPort<'static> {
        RawPort {
            bar2: self.bar2,
            link_up: self.link_up,
            mtu: self.mtu,
            mac: self.mac,
            filter: self.rx_filter,
        }
    }

    /// Carries out what the engine asked for.
    fn raw_effects(&mut self, fx: RawEffects) {
        self.work += fx.work;
        self.stats.raw_tx_frames += fx.tx_frames;
        self.stats.raw_rx_frames += fx.rx_frames;
        self.stats.raw_rx_no_buffer += fx.rx_no_buffer;
        self.stats.raw_rx_filtered += fx.rx_filtered;
        self.tx.extend(fx.tx);
        if let Some(n) = fx.notify {
            self.post_eqe(Eqe::RawNotify {
                rawqn: n.rawqn,
                context: n.context,
                arm_sn: n.arm_sn,
            });
        }
        if fx.fatal {
            self.go_fatal(3);
        }
    }

    pub(crate) fn create_rawq(&mut self, c: &CreateRawq) -> Result<(), CmdStatus> {
        let block = regs::doorbell_block_offset(c.rawqn);
        let params = RawQueueParams {
            rawqn: c.rawqn,
            context: c.context,
            log2_sq_depth: c.log2_sq_depth,
            log2_rq_depth: c.log2_rq_depth,
            log2_cq_size: c.log2_cq_size,
            sq_addr: c.sq_addr,
            rq_addr: c.rq_addr,
            cq_addr: c.cq_addr,
            doorbells: RawDoorbells {
                sq_pi: block.wrapping_add(regs::DB_RAW_SQ_PI),
                rq_pi: block.wrapping_add(regs::DB_RAW_RQ_PI),
                cq_arm: block.wrapping_add(regs::DB_RAW_CQ_ARM),
            },
        };
        let port = self.raw_port();
        self.raw.create(&port, &params).map_err(status)
    }

    pub(crate) fn flush_rawq(&mut self, rawqn: u32) -> Result<(), CmdStatus> {
        let port = self.raw_port();
        let mut fx = RawEffects::default();
        let r = self.raw.flush(rawqn, &port, &mut fx);
        self.raw_effects(fx);
        r.map_err(status)
    }

    pub(crate) fn destroy_rawq(&mut self, rawqn: u32) -> Result<(), CmdStatus> {
        self.raw.destroy(rawqn).map_err(status)
    }

    /// Samples the raw doorbells (§14.3).
    pub(crate) fn raw_doorbells(&mut self) {
        let port = self.raw_port();
        let mut fx = RawEffects::default();
        self.raw.doorbells(&port, &mut fx);
        self.raw_effects(fx);
    }

    /// A frame for the raw queue (§14.6).
    pub(crate) fn raw_receive(&mut self, frame: &[u8]) {
        let port = self.raw_port();
        let mut fx = RawEffects::default();
        self.raw.receive(frame, &port, &mut fx);
        self.raw_effects(fx);
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
}
