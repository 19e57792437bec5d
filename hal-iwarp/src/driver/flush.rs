//! Completions the driver makes itself once the device is dead (FATAL, or surprise-removed: its
//! registers read all ones). A dead device writes no FLUSHED CQE (§3.5: only a reset
//! recovers), yet every posted request must complete exactly once (`hal::NicHal`): once the
//! hardware ring yields nothing more, the CQ poller synthesizes FLUSHED completions from the
//! queues themselves, whose slots keep WR_ID, opcode and SIGNALED (§5.3.1, §5.4). The
//! machinery (tracks, feeder registry, windows) is the shared [`hal::queue::flush`]; this file
//! says how RNIC-W1's slots become FLUSHED CQEs.

use core::sync::atomic::Ordering;

use hal::queue::flush::{FlushFormat, Queue, Tracks};
use hal::queue::qp::QpMem;
use hal::{Completion, Platform};

use super::cq::CqPoller;
use super::IwarpNic;
use crate::cqe::{Cqe, CqeFlags, CqeOpcode};
use crate::record::QpRecord;
use crate::wqe::{SendOpcode, WqeFlags};

/// The flush state of the device, under the platform's spin lock.
pub(crate) type SoftFlush<P> = hal::queue::flush::SoftFlush<<P as Platform>::RawLock>;

/// The poller reports the completion of `cqe`: its queue completed through its WQE (SQ WQEs
/// and RQ WQEs complete in order; SRQ receives are not tracked).
pub(crate) fn track(tracks: &Tracks, cqe: &Cqe) {
    if !cqe.opcode.is_receive() {
        tracks.completed(cqe.qpn, Queue::Send, cqe.wqe_index);
    } else if !cqe.flags.contains(CqeFlags::FROM_SRQ) {
        tracks.completed(cqe.qpn, Queue::Recv, cqe.wqe_index);
    }
}

/// The CQE opcode a FLUSHED completion of a send WQE carries (§5.3.7); `None` for NOP, which
/// `hal` never sees.
fn flushed_opcode(op: Option<SendOpcode>) -> Option<CqeOpcode> {
    Some(match op? {
        SendOpcode::Send | SendOpcode::SendInv => CqeOpcode::Send,
        SendOpcode::Write => CqeOpcode::Write,
        SendOpcode::Read => CqeOpcode::Read,
        SendOpcode::FastReg => CqeOpcode::FastReg,
        SendOpcode::Bind => CqeOpcode::Bind,
        SendOpcode::LocalInv => CqeOpcode::LocalInv,
        SendOpcode::Nop => return None,
    })
}

/// RNIC-W1's WQE slots: OPCODE and FLAGS in the first two bytes and WR_ID at 0x10 of a send WQE
/// (§5.3.1), WR_ID first in a receive WQE (§5.4).
pub(crate) struct Format;

impl FlushFormat for Format {
    const SQ_CI_OFFSET: usize = QpRecord::SQ_CI_OFFSET;

    fn flushed_send(mem: &QpMem, off: usize, index: u16, retired: bool) -> Option<Completion> {
        let mut head = [0u8; 2];
        mem.region.read(off, &mut head);
        let [op, flags] = head;
        let signaled = WqeFlags::from_bits_truncate(flags).contains(WqeFlags::SIGNALED);
        if retired && !signaled {
            return None;
        }
        let opcode = flushed_opcode(SendOpcode::from_u8(op))?;
        let wr_id = mem.region.read_u64(off.wrapping_add(0x10)).unwrap_or(0);
        Cqe::flushed(wr_id, mem.qp_context, mem.qpn, index, opcode).completion()
    }

    fn flushed_recv(mem: &QpMem, off: usize, index: u16) -> Option<Completion> {
        let wr_id = mem.region.read_u64(off).unwrap_or(0);
        Cqe::flushed(wr_id, mem.qp_context, mem.qpn, index, CqeOpcode::Recv).completion()
    }
}

impl<P: Platform> IwarpNic<P> {
    /// `poll_cq`: the hardware ring first; once the device is dead and the ring yields nothing
    /// more, the driver's own FLUSHED completions of every queue feeding the CQ. From then on
    /// the hardware ring is not read again (a dead device writes nothing reliable), so every
    /// request is reported once.
    pub(crate) fn poll(&self, p: &mut CqPoller, out: &mut [Completion]) -> usize {
        let n = if p.dead {
            0
        } else {
            super::cq::poll(p, out, self.flush.tracks())
        };
        if n >= out.len() || !self.fatal.load(Ordering::Acquire) {
            return n;
        }
        p.dead = true;
        let rest = out.get_mut(n..).unwrap_or_default();
        n.saturating_add(self.flush.flush_into::<Format>(p.cqn, rest))
    }
}
