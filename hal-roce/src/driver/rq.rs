//! The receive-queue fast path (§5.4, §11.5 step 5): encode, advance PI, release fence,
//! RQ_PI at once.

use core::sync::atomic::{fence, Ordering};
use hal::karc::KArc;

use hal::{HalError, HalResult, RecvWr};
use tock_registers::interfaces::Writeable;

use super::sq::QpMem;
use crate::record::QpRecord;
use crate::regs::{DoorbellBlock, RQ_PI};
use crate::ring;
use crate::wqe;

/// Largest receive WQE slot (`MAX_RQ_STRIDE_LOG2`).
const MAX_RQ_SLOT: usize = 1 << wqe::MAX_RQ_STRIDE_LOG2;

/// Receive queue: the producer side of the RQ ring in the QP's queue buffer.
#[derive(Debug)]
pub struct Rq {
    mem: KArc<QpMem>,
    log2_depth: u8,
    log2_stride: u8,
    pi: u16,
    pub(crate) db_offset: usize,
}

impl Rq {
    pub(crate) fn new(mem: KArc<QpMem>, log2_depth: u8, log2_stride: u8, db_offset: usize) -> Rq {
        Rq {
            mem,
            log2_depth,
            log2_stride,
            pi: 0,
            db_offset,
        }
    }
}

/// Encodes a receive WQE into slot `pi` of a ring at `ring_offset` of `region`; shared by the
/// RQ and the SRQ.
pub(crate) fn write_recv(
    region: &hal::DmaRegion,
    ring_offset: usize,
    log2_depth: u8,
    log2_stride: u8,
    pi: u16,
    wr: &RecvWr<'_>,
) -> HalResult<()> {
    let stride = 1usize.checked_shl(u32::from(log2_stride)).unwrap_or(0);
    let mut buf = [0u8; MAX_RQ_SLOT];
    let slot = buf.get_mut(..stride).ok_or(HalError::InvalidParameter)?;
    // Too many SGEs for the slot: the provider checked the limits, so this is a bad request.
    let n = wqe::encode_recv_wqe(slot, pi, wr).map_err(|_| HalError::InvalidParameter)?;
    let off = ring::slot(u32::from(pi), log2_depth)
        .checked_mul(stride)
        .and_then(|o| o.checked_add(ring_offset))
        .ok_or(HalError::Fatal)?;
    let bytes = buf.get(..n).ok_or(HalError::InvalidParameter)?;
    if region.write(off, bytes) {
        Ok(())
    } else {
        Err(HalError::Fatal)
    }
}

/// §11.5 step 5 for the RQ: room against RQ_CI of the QP record, encode, PI + 1, fence, RQ_PI.
pub(crate) fn post(db: Option<&DoorbellBlock>, rq: &mut Rq, wr: &RecvWr<'_>) -> HalResult<()> {
    let depth = 1u32.checked_shl(u32::from(rq.log2_depth)).unwrap_or(0);
    let ci = rq.mem.record_counter(QpRecord::RQ_CI_OFFSET);
    if u32::from(rq.pi.wrapping_sub(ci)) >= depth {
        return Err(HalError::QueueFull);
    }
    write_recv(
        &rq.mem.region,
        rq.mem.rq_offset,
        rq.log2_depth,
        rq.log2_stride,
        rq.pi,
        wr,
    )?;
    rq.pi = rq.pi.wrapping_add(1);
    fence(Ordering::Release);
    if let Some(db) = db {
        db.rq_pi.write(RQ_PI::PI.val(u32::from(rq.pi)));
    }
    Ok(())
}
