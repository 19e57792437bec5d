//! Shared receive queues (§6.4.4, §5.5 SRQ record): creation, limit arming, destroy, and the
//! posting fast path (the RQ's, §11.5 step 5, with SRQ_PI).

use hal::karc::KArc;

use hal::{Cmd, CmdToken, HalError, HalResult, Platform, RecvWr};
use tock_registers::interfaces::Writeable;

use super::cmdq::Release;
use super::rq::MAX_RQ_SLOT;
use super::IwarpNic;
use crate::record::SRQ_RECORD_SIZE;
use crate::regs::{self, DoorbellBlock, SRQ_PI};
use crate::wqe;
use hal::queue::objects::{self, ObjectCmd};
use hal::queue::qp::{depth_log2, SrqMem, SrqRing};

/// Shared receive queue control handle.
#[derive(Debug)]
pub struct Srq {
    pub(crate) srqn: u32,
    mem: KArc<SrqMem>,
}

/// Shared receive queue posting side.
#[derive(Debug)]
pub struct SrqPoster {
    ring: SrqRing,
    pub(crate) db_offset: usize,
}

/// `PI − SRQ_CI` (§5.5).
pub(crate) fn queued(srq: &Srq) -> u32 {
    srq.mem.queued()
}

/// Posts a receive to the SRQ and rings SRQ_PI.
pub(crate) fn post(
    db: Option<&DoorbellBlock>,
    s: &mut SrqPoster,
    wr: &RecvWr<'_>,
) -> HalResult<()> {
    s.ring.post::<MAX_RQ_SLOT>(
        |slot, index| super::rq::encode(slot, index, wr),
        |pi| {
            if let Some(db) = db {
                db.srq_pi.write(SRQ_PI::PI.val(u32::from(pi)));
            }
        },
    )
}

impl<P: Platform> IwarpNic<P> {
    /// CREATE_SRQ (§6.4.4): the ring (4 KiB aligned, contiguous) then the SRQ record.
    pub(crate) fn srq_create(
        &self,
        pd: &super::Pd,
        depth: u32,
        max_sge: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(Srq, SrqPoster, Cmd<()>)> {
        if self.caps.max_srq_depth == 0 {
            return Err(HalError::NotSupported);
        }
        let a = &self.attrs;
        let sge = usize::try_from(max_sge).map_err(|_| HalError::InvalidParameter)?;
        if max_sge > u32::from(a.max_srq_sge) {
            return Err(HalError::InvalidParameter);
        }
        let stride = wqe::rq_stride_log2(sge).ok_or(HalError::InvalidParameter)?;
        let log2 = depth_log2(depth, a.max_srq_depth)?;
        let (srqn, mem) =
            objects::create_srq(self, pd.pdn, log2, stride, SRQ_RECORD_SIZE, ctx, token)?;
        Ok((
            Srq {
                srqn,
                mem: mem.clone(),
            },
            SrqPoster {
                ring: SrqRing::new(mem, log2, stride),
                db_offset: regs::doorbell_block_offset(srqn),
            },
            Cmd::Pending,
        ))
    }

    /// §6.4.4: an SRQ ring is not resizable in revision 1 silicon, so a depth change is
    /// `NotSupported` (the provider reports STATUS_NOT_SUPPORTED); depth 0 keeps it. Resizing
    /// in the driver would need a second SRQ and a way to move queued receives, which
    /// revision 1 does not offer.
    pub(crate) fn srq_modify(
        &self,
        _srq: &Srq,
        depth: u32,
        _token: CmdToken,
    ) -> HalResult<Cmd<()>> {
        if depth == 0 {
            Ok(Cmd::Done(()))
        } else {
            Err(HalError::NotSupported)
        }
    }

    /// MODIFY_SRQ LIMIT, SILENT: one-shot, written at once when already below (§6.4.4).
    pub(crate) fn srq_arm_limit(&self, srq: &Srq, limit: u32) {
        objects::arm_srq_limit(self, srq.srqn, limit);
    }

    /// DESTROY_SRQ; the ring is freed when it completes.
    pub(crate) fn srq_destroy(&self, srq: Srq, poster: SrqPoster, token: CmdToken) -> Cmd<()> {
        let srqn = srq.srqn;
        drop(poster);
        let memory = [SrqMem::into_region(srq.mem), None, None, None];
        objects::destroy(
            self,
            ObjectCmd::DestroySrq { srqn },
            token,
            Release::Srq(srqn),
            memory,
        )
    }
}
