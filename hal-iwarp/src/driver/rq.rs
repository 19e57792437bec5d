//! The receive-queue fast path (§5.4, §11.5 step 5): encode, advance PI, release fence,
//! RQ_PI at once.

use hal::karc::KArc;
use hal::queue::flush::Tracks;
use hal::queue::qp::{QpMem, RecvRing};
use hal::{HalError, HalResult, RecvWr};
use tock_registers::interfaces::Writeable;

use crate::record::QpRecord;
use crate::regs::{DoorbellBlock, RQ_PI};
use crate::wqe;

/// Largest receive WQE slot (`MAX_RQ_STRIDE_LOG2`).
pub(crate) const MAX_RQ_SLOT: usize = 1 << wqe::MAX_RQ_STRIDE_LOG2;

/// Receive queue: the producer side of the RQ ring in the QP's queue buffer.
#[derive(Debug)]
pub struct Rq {
    ring: RecvRing,
    pub(crate) db_offset: usize,
}

impl Rq {
    pub(crate) fn new(mem: KArc<QpMem>, log2_depth: u8, log2_stride: u8, db_offset: usize) -> Rq {
        Rq {
            ring: RecvRing::new(mem, log2_depth, log2_stride),
            db_offset,
        }
    }
}

/// Encodes a receive WQE into `slot`; shared by the RQ and the SRQ. Too many SGEs for the
/// slot is a bad request: the provider checked the limits.
pub(crate) fn encode(slot: &mut [u8], index: u16, wr: &RecvWr<'_>) -> HalResult<usize> {
    wqe::encode_recv_wqe(slot, index, wr).map_err(|_| HalError::InvalidParameter)
}

/// §11.5 step 5 for the RQ: room against RQ_CI of the QP record (a dead device's slots are
/// freed by the driver's flush), encode, PI + 1, fence, RQ_PI.
pub(crate) fn post(
    db: Option<&DoorbellBlock>,
    rq: &mut Rq,
    wr: &RecvWr<'_>,
    tracks: &Tracks,
) -> HalResult<()> {
    rq.ring.post::<MAX_RQ_SLOT>(
        tracks,
        QpRecord::RQ_CI_OFFSET,
        |slot, index| encode(slot, index, wr),
        |pi| {
            if let Some(db) = db {
                db.rq_pi.write(RQ_PI::PI.val(u32::from(pi)));
            }
        },
    )
}
