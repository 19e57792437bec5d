//! Queue pairs: creation, flush and destroy (§6.4.6, §7, §11.4), and the send-queue fast path
//! (§5.3, §11.5): encode the WQE into its slot, advance PI; `ring_sq` = release fence + one
//! doorbell write (irdma / mlx5: WQE, barrier, doorbell).

use hal::karc::KArc;
use hal::queue::flush::Tracks;
use hal::queue::objects::{self, NewQp, ObjectCmd, QpObjects, QueueLimits};
use hal::queue::qp::{FrPool, QpMem, SendRing};

use hal::{Cmd, CmdToken, HalError, HalResult, Platform, QpParams, QpParts, SendOp, SendWr};
use tock_registers::interfaces::Writeable;

use super::cmdq::Release;
use super::rq::Rq;
use super::RoceNic;
use crate::admin::{CmdFlags, Command, QpAttr, QpState, QP_ATTR_SIZE};
use crate::caps::Features;
use crate::record::{QpRecord, QP_RECORD_SIZE};
use crate::regs::{self, DoorbellBlock, SQ_PI};
use crate::wqe::{self, WqeError, MAX_SQ_WQE_SIZE};

/// Queue pair control handle.
#[derive(Debug)]
pub struct Qp {
    pub(crate) qpn: u32,
    mem: KArc<QpMem>,
}

/// Send queue: the producer side of the SQ ring.
#[derive(Debug)]
pub struct Sq {
    ring: SendRing,
    pub(crate) db_offset: usize,
}

fn wqe_error(e: WqeError, fast_reg: bool) -> HalError {
    match e {
        WqeError::SlotTooSmall | WqeError::TooManyPages if fast_reg => {
            HalError::ImplementationLimit
        }
        _ => HalError::InvalidParameter,
    }
}

/// §11.5 steps 1–3: room check against the QP record's SQ_CI, encode into the slot, PI + 1.
/// No doorbell (`NicHal::post_send` batches behind `ring_sq`).
pub(crate) fn post(sq: &mut Sq, wr: &SendWr<'_>, tracks: &Tracks) -> HalResult<()> {
    let fast_reg = matches!(wr.op, SendOp::FastRegister { .. });
    sq.ring.post::<MAX_SQ_WQE_SIZE>(
        tracks,
        QpRecord::SQ_CI_OFFSET,
        wr,
        wqe::fast_reg_inline_capacity,
        |slot, index, pbl| {
            wqe::encode_send_wqe(slot, index, wr, pbl).map_err(|e| wqe_error(e, fast_reg))
        },
    )
}

/// §11.5 step 4: `fence(Release)`, then SQ_PI. Nothing to do when nothing was posted.
pub(crate) fn ring(db: Option<&DoorbellBlock>, sq: &mut Sq) {
    sq.ring.ring(|pi| {
        if let Some(db) = db {
            db.sq_pi.write(SQ_PI::PI.val(u32::from(pi)));
        }
    });
}

impl<P: Platform> RoceNic<P> {
    /// §11.4: choose the QPN, strides and depths; allocate the queue buffer and record; post
    /// CREATE_QP. The QP starts in RESET and owns doorbell block QPN.
    pub(crate) fn qp_create(
        &self,
        p: &QpParams<'_, Self>,
        token: CmdToken,
    ) -> HalResult<(QpParts<Self>, Cmd<()>)> {
        let a = &self.attrs;
        let limits = QueueLimits {
            max_sq_depth: a.max_sq_depth,
            max_rq_depth: a.max_rq_depth,
            max_sq_stride_log2: a.max_sq_stride_log2,
            max_rq_stride_log2: a.max_rq_stride_log2,
        };
        let rings = objects::qp_rings(
            p,
            &limits,
            wqe::sq_stride_log2,
            wqe::rq_stride_log2,
            QP_RECORD_SIZE,
        )?;
        let (sq_log2, sq_stride) = (rings.sq_log2, rings.sq_stride_log2);
        let (rq_log2, rq_stride) = (rings.rq_log2, rings.rq_stride_log2);
        let objects = QpObjects {
            pdn: p.pd.pdn,
            send_cqn: p.send_cq.cqn,
            recv_cqn: p.recv_cq.cqn,
            srqn: p.srq.map(|s| s.srqn),
            ctx: p.context,
        };
        let NewQp { qpn, mem, fr } =
            objects::create_qp(self, &rings, objects, || self.fr_pool(sq_stride), token)?;
        let db_offset = regs::doorbell_block_offset(qpn);
        let rq = p
            .srq
            .is_none()
            .then(|| Rq::new(mem.clone(), rq_log2, rq_stride, db_offset));
        Ok((
            QpParts {
                qp: Qp {
                    qpn,
                    mem: mem.clone(),
                },
                sq: Sq {
                    ring: SendRing::new(mem, sq_log2, sq_stride, fr),
                    db_offset,
                },
                rq,
            },
            Cmd::Pending,
        ))
    }

    /// The fast-register page-list pool of a QP whose slots cannot hold the largest list
    /// inline (`None` without FEATURES.FAST_REG).
    fn fr_pool(&self, sq_stride_log2: u8) -> HalResult<Option<FrPool>> {
        let max_pages = usize::from(self.attrs.frmr_max_pages);
        let stride = 1usize.checked_shl(u32::from(sq_stride_log2)).unwrap_or(0);
        if !self.attrs.features.contains(Features::FAST_REG)
            || max_pages <= wqe::fast_reg_inline_capacity(stride)
        {
            return Ok(None);
        }
        FrPool::allocate(&self.platform, max_pages).map(Some)
    }

    /// MODIFY_QP to ERR, SILENT (§6.4.6 "a driver that only changes state sets ATTR_MASK =
    /// STATE"): the device flushes everything outstanding and everything posted later (§7).
    /// A failure (e.g. the QP is in RESET and holds nothing) is swallowed by the event path.
    pub(crate) fn qp_flush(&self, qp: &Qp) {
        // A dead device answers nothing: its CQ pollers flush in software (`flush`).
        self.check_alive();
        let _ = self.modify_state(qp.qpn, QpState::Err);
    }

    fn modify_state(&self, qpn: u32, state: QpState) -> HalResult<u64> {
        let attr: [u8; QP_ATTR_SIZE] = QpAttr::state_only(state).encode();
        self.command(
            |mb| Command::ModifyQp { qpn, attr: mb },
            Some(&attr),
            CmdFlags::SILENT,
            None,
            None,
        )
    }

    /// `hal`: destroy flushes first. MODIFY_QP → ERR (SILENT), then DESTROY_QP (§6.4.6: in
    /// ERR the device finishes the flush CQEs before it destroys). The queue buffer, held by
    /// the CQs' feeder registry (`flush`), is freed when the destroy completes. On a dead
    /// device the destroy is done at once and the registry keeps the queues, so the CQs
    /// still report their FLUSHED completions.
    pub(crate) fn qp_destroy(&self, parts: QpParts<Self>, token: CmdToken) -> Cmd<()> {
        let QpParts { qp, sq, rq } = parts;
        let qpn = qp.qpn;
        let (sq_mem, fr) = sq.ring.into_parts();
        let fr = fr.map(FrPool::into_region);
        drop(sq_mem);
        drop(rq);
        drop(qp.mem);
        self.check_alive();
        let _ = self.modify_state(qpn, QpState::Err);
        let memory = [fr, None, None, None];
        objects::destroy(
            self,
            ObjectCmd::DestroyQp { qpn },
            token,
            Release::Qp(qpn),
            memory,
        )
    }
}
