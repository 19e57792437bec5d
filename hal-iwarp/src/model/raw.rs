//! The raw Ethernet queue of the device (docs/silicon/iwarp.md §5.9): the shared
//! [`fabric::raw_queue`] engine (the formats and semantics are RNIC-R2's, `hal::raw_eth`)
//! over this device's doorbells, admin commands and RAW_NOTIFY events. The engine sees only
//! the frames the TCP offload engine does not own (§8.7).

use fabric::raw_queue::{RawCmdError, RawDoorbells, RawEffects, RawPort, RawQueueParams};

use crate::admin::{CmdStatus, CreateRawqParams};
use crate::eqe::{Eqe, EventType};
use crate::regs;

use super::device::Device;

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
            self.post_eqe(Eqe {
                event_type: EventType::RawNotify,
                subtype: 0,
                status: 0,
                object: n.rawqn,
                context: n.context,
                data0: u32::from(n.arm_sn & 3),
                data1: 0,
                syndrome: 0,
            });
        }
        if fx.fatal {
            self.go_fatal(3);
        }
    }

    pub(crate) fn create_rawq(
        &mut self,
        rawqn: u32,
        c: &CreateRawqParams,
    ) -> Result<(), CmdStatus> {
        let block = regs::doorbell_block_offset(rawqn);
        let params = RawQueueParams {
            rawqn,
            context: c.rawq_context.get(),
            log2_sq_depth: c.log2_sq_depth,
            log2_rq_depth: c.log2_rq_depth,
            log2_cq_size: c.log2_cq_size,
            sq_addr: c.sq_addr.get(),
            rq_addr: c.rq_addr.get(),
            cq_addr: c.cq_addr.get(),
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

    /// Samples the raw doorbells (§5.9).
    pub(crate) fn raw_doorbells(&mut self) {
        let port = self.raw_port();
        let mut fx = RawEffects::default();
        self.raw.doorbells(&port, &mut fx);
        self.raw_effects(fx);
    }

    /// A frame for the raw queue (§5.9).
    pub(crate) fn raw_receive(&mut self, frame: &[u8]) {
        let port = self.raw_port();
        let mut fx = RawEffects::default();
        self.raw.receive(frame, &port, &mut fx);
        self.raw_effects(fx);
    }
}
