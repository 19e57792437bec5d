//! Completion queues: creation (§6.4.5, §11.3) and the fast path — polling CQEs by the owner
//! bit (§5.6, §11.6), the CQ doorbell record, and arming (§5.6.4, §11.7). Polling reads only
//! host memory; arming is one MMIO write.

use hal::queue::cq::{CqEntry, CqRing};
use hal::queue::objects::{self, NewCq};
use hal::{Cmd, CmdToken, Completion, CqParts, DmaRegion, HalResult, Platform};
use tock_registers::interfaces::Writeable;

use super::IwarpNic;
use crate::cqe::{Cqe, CqeOpcode, CQE_OWNER_OFFSET, CQE_SIZE, MAX_CQ_LOG2};
use crate::record::{CqDoorbellRecord, CQ_DBREC_SIZE};
use crate::regs::{self, DoorbellBlock, CQ_ARM};
use hal::queue::flush::Tracks;

/// Completion queue control handle.
#[derive(Debug)]
pub struct Cq {
    pub(crate) cqn: u32,
}

/// Completion queue polling side: the shared CQ ring consumer ([`hal::queue::cq`]) plus this
/// CQ's doorbell block and the dead-device state.
#[derive(Debug)]
pub struct CqPoller {
    ring: CqRing<CQE_SIZE>,
    pub(crate) db_offset: usize,
    pub(crate) cqn: u32,
    /// The device is dead and the hardware ring was drained: completions come from the
    /// driver's flush only (`flush`).
    pub(crate) dead: bool,
}

impl CqPoller {
    /// A poller over `mem` (a zeroed ring of `2^log2` CQEs followed by the doorbell record).
    pub(crate) fn new(cqn: u32, mem: DmaRegion, log2: u8) -> CqPoller {
        CqPoller {
            ring: CqRing::new(mem, log2, CQE_OWNER_OFFSET, |ci, ring| {
                CqDoorbellRecord { ci, ring }.to_u32()
            }),
            db_offset: regs::doorbell_block_offset(cqn),
            cqn,
            dead: false,
        }
    }
}

/// §11.6: harvests up to `out.len()` completions, noting in `tracks` how far each queue has
/// completed (for a flush in software should the device die).
pub(crate) fn poll(p: &mut CqPoller, out: &mut [Completion], tracks: &Tracks) -> usize {
    p.ring.poll(out, |raw| {
        let cqe = Cqe::decode(raw).ok()?;
        if cqe.opcode == CqeOpcode::Resize {
            // §11.6 step 4: the last entry of the old ring.
            return Some(CqEntry::Resize);
        }
        super::flush::track(tracks, &cqe);
        Some(CqEntry::Completion(cqe.completion()))
    })
}

/// §11.7: doorbell record, next SN, release fence, CQ_ARM.
pub(crate) fn arm(db: Option<&DoorbellBlock>, p: &mut CqPoller, solicited_only: bool) {
    let kind = if solicited_only {
        CQ_ARM::TYPE::Solicited
    } else {
        CQ_ARM::TYPE::Any
    };
    p.ring.arm(|a| {
        if let Some(db) = db {
            db.cq_arm.write(
                CQ_ARM::CI.val(a.ci)
                    + CQ_ARM::SN.val(u32::from(a.sn))
                    + kind
                    + CQ_ARM::RING.val(u32::from(a.generation)),
            );
        }
    });
}

impl<P: Platform> IwarpNic<P> {
    /// §11.3: choose the CQN, allocate and zero the ring and record, post CREATE_CQ
    /// (`hal::queue::objects`).
    pub(crate) fn cq_create(
        &self,
        depth: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(CqParts<Self>, Cmd<()>)> {
        let NewCq { cqn, mem, log2 } =
            objects::create_cq::<_, CQE_SIZE>(self, depth, ctx, token, MAX_CQ_LOG2, CQ_DBREC_SIZE)?;
        Ok((
            CqParts {
                cq: Cq { cqn },
                poller: CqPoller::new(cqn, mem, log2),
            },
            Cmd::Pending,
        ))
    }

    /// RESIZE_CQ (§6.4.5, §5.6.3): a new zeroed ring; the poller switches to it when it
    /// polls the RESIZE marker (`hal::queue::objects::resize_cq`).
    pub(crate) fn cq_resize(
        &self,
        cq: &Cq,
        poller: &mut CqPoller,
        depth: u32,
        token: CmdToken,
    ) -> HalResult<Cmd<()>> {
        objects::resize_cq(self, cq.cqn, &mut poller.ring, depth, token, MAX_CQ_LOG2)
    }

    /// DESTROY_CQ; the ring is freed when it completes (the device writes no CQE after).
    pub(crate) fn cq_destroy(&self, parts: CqParts<Self>, token: CmdToken) -> Cmd<()> {
        let CqParts { cq, mut poller } = parts;
        objects::destroy_cq(self, cq.cqn, &mut poller.ring, token)
    }

    /// MODIFY_CQ (§6.4.5), SILENT: the values are clamped to the 16-bit fields.
    pub(crate) fn cq_moderation(&self, cq: &Cq, interval_us: u32, count: u32) -> HalResult<()> {
        objects::set_cq_moderation(self, cq.cqn, interval_us, count)
    }
}
