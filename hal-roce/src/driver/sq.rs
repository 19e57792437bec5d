//! Queue pairs: creation, flush and destroy (§6.4.6, §7, §11.4), and the send-queue fast path
//! (§5.3, §11.5): encode the WQE into its slot, advance PI; `ring_sq` = release fence + one
//! doorbell write (irdma / mlx5: WQE, barrier, doorbell).

use core::sync::atomic::{fence, Ordering};
use hal::karc::{Finalize, KArc};

use hal::{
    Cmd, CmdToken, DmaRegion, HalError, HalResult, Platform, QpParams, QpParts, SendOp, SendWr,
};
use tock_registers::interfaces::Writeable;

use super::cmdq::{Action, Release};
use super::rq::Rq;
use super::RoceNic;
use crate::admin::{CmdFlags, Command, CreateQp, QpAttr, QpState, QP_ATTR_SIZE};
use crate::caps::Features;
use crate::record::{QpRecord, QP_RECORD_SIZE};
use crate::regs::{self, DoorbellBlock, SQ_PI};
use crate::ring;
use crate::wqe::{self, WqeError, MAX_SQ_WQE_SIZE};

/// The queue buffer of a QP: SQ ring, RQ ring, then the 64-byte QP record (§6.4.6, §5.5).
#[derive(Debug)]
pub(crate) struct QpMem {
    pub(crate) region: DmaRegion,
    pub(crate) rq_offset: usize,
    pub(crate) record_offset: usize,
}

impl Finalize for QpMem {}

impl QpMem {
    /// A 16-bit counter of the device-written QP record (SQ_CI at 0, RQ_CI at 4).
    pub(crate) fn record_counter(&self, field: usize) -> u16 {
        let mut b = [0u8; 4];
        self.region
            .read(self.record_offset.wrapping_add(field), &mut b);
        (u32::from_le_bytes(b) & 0xFFFF) as u16
    }
}

/// Queue pair control handle.
#[derive(Debug)]
pub struct Qp {
    pub(crate) qpn: u32,
    mem: KArc<QpMem>,
}

/// Send queue: the producer side of the SQ ring.
#[derive(Debug)]
pub struct Sq {
    mem: KArc<QpMem>,
    log2_depth: u8,
    log2_stride: u8,
    /// WQEs written (16 bits).
    pi: u16,
    /// PI of the last doorbell.
    rung: u16,
    pub(crate) db_offset: usize,
    /// Host page lists of FAST_REG WQEs whose list does not fit the slot.
    fr: Option<FrPool>,
}

/// Entries of a QP's fast-register page-list pool: FAST_REG WQEs with a host list that can be
/// outstanding at once (a further one waits: `QueueFull`).
const FR_ENTRIES: usize = 8;

/// §5.3.5 / §11.9 step 5: page lists of FAST_REG WQEs that do not fit inline, in host memory
/// that stays untouched until the WQE retires (the QP record's SQ_CI passed it). Allocated at
/// create time so posting never allocates.
#[derive(Debug)]
struct FrPool {
    region: DmaRegion,
    entry_bytes: usize,
    /// WQE_INDEX of the WQE using each entry.
    wqe: [u16; FR_ENTRIES],
    /// Bit i: entry i was used (and may still be outstanding).
    used: u8,
    next: usize,
}

impl FrPool {
    /// An entry whose WQE has retired: its index is outside the outstanding window
    /// `[ci, pi)`.
    fn take(&mut self, pi: u16, ci: u16) -> Option<usize> {
        let outstanding = pi.wrapping_sub(ci);
        for step in 0..FR_ENTRIES {
            let i = (self.next + step) % FR_ENTRIES;
            let busy = self.used & (1 << i) != 0
                && self
                    .wqe
                    .get(i)
                    .is_some_and(|w| w.wrapping_sub(ci) < outstanding);
            if !busy {
                self.next = (i + 1) % FR_ENTRIES;
                return Some(i);
            }
        }
        None
    }

    /// Copies `pages` into entry `i` for WQE `wqe_index`; returns the list's bus address.
    fn fill(&mut self, i: usize, wqe_index: u16, pages: &[u64]) -> HalResult<u64> {
        let off = i.checked_mul(self.entry_bytes).ok_or(HalError::Fatal)?;
        if pages.len().saturating_mul(8) > self.entry_bytes {
            return Err(HalError::ImplementationLimit);
        }
        for (k, p) in pages.iter().enumerate() {
            if !self
                .region
                .write_u64(off.wrapping_add(k.wrapping_mul(8)), *p)
            {
                return Err(HalError::Fatal);
            }
        }
        if let Some(w) = self.wqe.get_mut(i) {
            *w = wqe_index;
        }
        self.used |= 1 << i;
        Ok(self.region.bus_address().wrapping_add(off as u64))
    }
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
pub(crate) fn post(sq: &mut Sq, wr: &SendWr<'_>) -> HalResult<()> {
    let depth = 1u32.checked_shl(u32::from(sq.log2_depth)).unwrap_or(0);
    let ci = sq.mem.record_counter(QpRecord::SQ_CI_OFFSET);
    if u32::from(sq.pi.wrapping_sub(ci)) >= depth {
        return Err(HalError::QueueFull);
    }
    let stride = 1usize.checked_shl(u32::from(sq.log2_stride)).unwrap_or(0);
    let mut buf = [0u8; MAX_SQ_WQE_SIZE];
    let slot = buf.get_mut(..stride).ok_or(HalError::InvalidParameter)?;
    let mut fast_reg = false;
    let mut pbl = None;
    if let SendOp::FastRegister { pages, .. } = wr.op {
        fast_reg = true;
        if pages.len() > wqe::fast_reg_inline_capacity(stride) {
            let pool = sq.fr.as_mut().ok_or(HalError::NotSupported)?;
            let i = pool.take(sq.pi, ci).ok_or(HalError::QueueFull)?;
            pbl = Some(pool.fill(i, sq.pi, pages)?);
        }
    }
    let n = wqe::encode_send_wqe(slot, sq.pi, wr, pbl).map_err(|e| wqe_error(e, fast_reg))?;
    let off = ring::slot(u32::from(sq.pi), sq.log2_depth)
        .checked_mul(stride)
        .ok_or(HalError::Fatal)?;
    let bytes = buf.get(..n).ok_or(HalError::InvalidParameter)?;
    if !sq.mem.region.write(off, bytes) {
        return Err(HalError::Fatal);
    }
    sq.pi = sq.pi.wrapping_add(1);
    Ok(())
}

/// §11.5 step 4: `fence(Release)`, then SQ_PI. Nothing to do when nothing was posted.
pub(crate) fn ring(db: Option<&DoorbellBlock>, sq: &mut Sq) {
    if sq.pi == sq.rung {
        return;
    }
    fence(Ordering::Release);
    if let Some(db) = db {
        db.sq_pi.write(SQ_PI::PI.val(u32::from(sq.pi)));
    }
    sq.rung = sq.pi;
}

/// log2 of a queue depth rounded up to a power of two, at least 2 entries (LOG2 ≥ 1).
pub(crate) fn depth_log2(depth: u32, max: u32) -> HalResult<u8> {
    let n = depth
        .max(2)
        .checked_next_power_of_two()
        .ok_or(HalError::InvalidParameter)?;
    if n > max.max(2) {
        return Err(HalError::InvalidParameter);
    }
    u8::try_from(n.trailing_zeros()).map_err(|_| HalError::InvalidParameter)
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
        let max_send_sge =
            usize::try_from(p.max_send_sge).map_err(|_| HalError::InvalidParameter)?;
        let max_recv_sge =
            usize::try_from(p.max_recv_sge).map_err(|_| HalError::InvalidParameter)?;
        let max_inline = usize::try_from(p.max_inline).map_err(|_| HalError::InvalidParameter)?;
        let sq_stride =
            wqe::sq_stride_log2(max_send_sge, max_inline).ok_or(HalError::InvalidParameter)?;
        if sq_stride > a.max_sq_stride_log2 {
            return Err(HalError::InvalidParameter);
        }
        let sq_log2 = depth_log2(p.sq_depth, a.max_sq_depth)?;
        let (rq_log2, rq_stride) = match p.srq {
            Some(_) => (0, 0),
            None => {
                let s = wqe::rq_stride_log2(max_recv_sge).ok_or(HalError::InvalidParameter)?;
                if s > a.max_rq_stride_log2 {
                    return Err(HalError::InvalidParameter);
                }
                (depth_log2(p.rq_depth, a.max_rq_depth)?, s)
            }
        };
        let sq_bytes = 1usize
            .checked_shl(u32::from(sq_log2) + u32::from(sq_stride))
            .ok_or(HalError::InvalidParameter)?;
        let rq_bytes = if p.srq.is_some() {
            0
        } else {
            1usize
                .checked_shl(u32::from(rq_log2) + u32::from(rq_stride))
                .ok_or(HalError::InvalidParameter)?
        };
        // Both rings are powers of two ≥ 64 bytes, so the record after them is 64-aligned.
        let record_offset = sq_bytes
            .checked_add(rq_bytes)
            .ok_or(HalError::NoResources)?;
        let len = record_offset
            .checked_add(QP_RECORD_SIZE)
            .ok_or(HalError::NoResources)?;
        let qpn = self
            .ctl
            .lock()
            .ids
            .qp
            .alloc()
            .ok_or(HalError::NoResources)?;
        let region = match self.platform.alloc_dma(len) {
            Ok(r) => r,
            Err(e) => {
                self.ctl.lock().ids.qp.free(qpn);
                return Err(e);
            }
        };
        // Shared by the SQ, RQ and control handles; allocated fallibly before the device
        // hears of the QP, so a failure here leaves nothing behind.
        let mem = match KArc::try_new_or_return(QpMem {
            region,
            rq_offset: sq_bytes,
            record_offset,
        }) {
            Ok(m) => m,
            Err(m) => {
                self.platform.free_dma(m.region);
                self.ctl.lock().ids.qp.free(qpn);
                return Err(HalError::NoResources);
            }
        };
        let undo = |mem: KArc<QpMem>| {
            if let Ok(m) = KArc::try_unwrap(mem) {
                self.platform.free_dma(m.region);
            }
            self.ctl.lock().ids.qp.free(qpn);
        };
        let fr = match self.fr_pool(sq_stride) {
            Ok(fr) => fr,
            Err(e) => {
                undo(mem);
                return Err(e);
            }
        };
        let bus = mem.region.bus_address();
        let params = CreateQp {
            qpn,
            pdn: p.pd.pdn,
            send_cqn: p.send_cq.cqn,
            recv_cqn: p.recv_cq.cqn,
            srqn: p.srq.map(|s| s.srqn),
            log2_sq_depth: sq_log2,
            log2_sq_stride: sq_stride,
            log2_rq_depth: rq_log2,
            log2_rq_stride: rq_stride,
            qp_context: p.context,
            buf_addr: bus,
            record_addr: bus.wrapping_add(record_offset as u64),
        };
        if let Err(e) = self.command(
            |_| Command::CreateQp(params),
            None,
            CmdFlags::empty(),
            Some(token.0),
            Some(Action::Report { token, keys: false }),
        ) {
            if let Some(p) = fr {
                self.platform.free_dma(p.region);
            }
            undo(mem);
            return Err(e);
        }
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
                    mem,
                    log2_depth: sq_log2,
                    log2_stride: sq_stride,
                    pi: 0,
                    rung: 0,
                    db_offset,
                    fr,
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
        let entry_bytes = max_pages.checked_mul(8).ok_or(HalError::NoResources)?;
        let len = entry_bytes
            .checked_mul(FR_ENTRIES)
            .ok_or(HalError::NoResources)?;
        let region = self.platform.alloc_dma(len)?;
        Ok(Some(FrPool {
            region,
            entry_bytes,
            wqe: [0; FR_ENTRIES],
            used: 0,
            next: 0,
        }))
    }

    /// MODIFY_QP to ERR, SILENT (§6.4.6 "a driver that only changes state sets ATTR_MASK =
    /// STATE"): the device flushes everything outstanding and everything posted later (§7).
    /// A failure (e.g. the QP is in RESET and holds nothing) is swallowed by the event path.
    pub(crate) fn qp_flush(&self, qp: &Qp) {
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
    /// ERR the device finishes the flush CQEs before it destroys). The queue buffer is freed
    /// when the destroy completes.
    pub(crate) fn qp_destroy(&self, parts: QpParts<Self>, token: CmdToken) -> Cmd<()> {
        let QpParts { qp, sq, rq } = parts;
        let qpn = qp.qpn;
        let fr = sq.fr.map(|p| p.region);
        drop(sq.mem);
        drop(rq);
        let _ = self.modify_state(qpn, QpState::Err);
        let memory = [
            KArc::try_unwrap(qp.mem).ok().map(|m| m.region),
            fr,
            None,
            None,
        ];
        let action = Action::Destroyed {
            token,
            release: Release::Qp(qpn),
            memory,
        };
        match self.command_wait(
            |_| Command::DestroyQp { qpn },
            CmdFlags::empty(),
            Some(token.0),
            Some(action),
        ) {
            Ok(_) => Cmd::Pending,
            Err(_) => Cmd::Done(()),
        }
    }
}
