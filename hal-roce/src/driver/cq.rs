//! Completion queues: creation (§6.4.5, §11.3) and the fast path — polling CQEs by the owner
//! bit (§5.6, §11.6), the CQ doorbell record, and arming (§5.6.4, §11.7). Polling reads only
//! host memory; arming is one MMIO write.

use core::sync::atomic::{fence, Ordering};

use hal::{Cmd, CmdToken, Completion, CqParts, DmaRegion, HalError, HalResult, Platform};
use tock_registers::interfaces::Writeable;

use super::cmdq::{Action, Release};
use super::RoceNic;
use crate::admin::{CmdFlags, Command, CreateCq};
use crate::cqe::{Cqe, CqeOpcode, CQE_OWNER_OFFSET, CQE_SIZE, MAX_CQ_LOG2};
use crate::record::{CqDoorbellRecord, CQ_DBREC_SIZE};
use crate::regs::{self, DoorbellBlock, CQ_ARM};
use crate::ring;

/// Completion queue control handle.
#[derive(Debug)]
pub struct Cq {
    pub(crate) cqn: u32,
}

/// Completion queue polling side: the ring, the consumer counter and the arm state.
#[derive(Debug)]
pub struct CqPoller {
    /// The create-time memory: the first ring of `2^log2` CQEs, then the 8-byte CQ doorbell
    /// record (which stays here across resizes: RESIZE_CQ names only a new ring).
    mem: Option<DmaRegion>,
    /// The ring in use after a resize (`None`: the ring in `mem`).
    ring: Option<DmaRegion>,
    /// A posted RESIZE_CQ's ring and log2 size, switched to at the RESIZE marker (§5.6.3).
    next: Option<(DmaRegion, u8)>,
    /// A replaced resized ring, freed at the next resize or at destroy (not on the fast path).
    retired: Option<DmaRegion>,
    log2: u8,
    dbrec_offset: usize,
    /// CQEs consumed (24 bits).
    ci: u32,
    /// Ring generation (§5.6.3), toggled at every RESIZE marker.
    generation: bool,
    /// Sequence number of the last arm (§4 CQ_ARM.SN).
    sn: u8,
    pub(crate) db_offset: usize,
}

impl CqPoller {
    /// A poller over `mem` (a zeroed ring of `2^log2` CQEs followed by the doorbell record).
    pub(crate) fn new(cqn: u32, mem: DmaRegion, log2: u8) -> CqPoller {
        CqPoller {
            mem: Some(mem),
            ring: None,
            next: None,
            retired: None,
            log2,
            dbrec_offset: CQE_SIZE.checked_shl(u32::from(log2)).unwrap_or(0),
            ci: 0,
            generation: false,
            sn: 0,
            db_offset: regs::doorbell_block_offset(cqn),
        }
    }

    /// §11.6 steps 1–3: the raw CQE at CI when the device owns it no more.
    fn peek(&self) -> Option<[u8; CQE_SIZE]> {
        let mem = self.ring.as_ref().or(self.mem.as_ref())?;
        let off = ring::slot(self.ci, self.log2).checked_mul(CQE_SIZE)?;
        let mut owner = [0u8; 1];
        if !mem.read(off.checked_add(CQE_OWNER_OFFSET)?, &mut owner) {
            return None;
        }
        if (owner[0] & 1 != 0) != ring::owner_bit(self.ci, self.log2) {
            return None;
        }
        fence(Ordering::Acquire);
        let mut raw = [0u8; CQE_SIZE];
        mem.read(off, &mut raw).then_some(raw)
    }

    /// §5.5: the driver-written consumer index the device reads for room (no MMIO).
    fn write_dbrec(&self) {
        if let Some(mem) = self.mem.as_ref() {
            let rec = CqDoorbellRecord {
                ci: self.ci,
                ring: self.generation,
            };
            mem.write(self.dbrec_offset, &rec.to_u32().to_le_bytes());
        }
    }
}

/// §11.6: harvests up to `out.len()` completions.
pub(crate) fn poll(p: &mut CqPoller, out: &mut [Completion]) -> usize {
    let mut n = 0;
    let mut consumed = false;
    while n < out.len() {
        let Some(raw) = p.peek() else {
            break;
        };
        p.ci = ring::advance24(p.ci, 1);
        consumed = true;
        let Ok(cqe) = Cqe::decode(&raw) else {
            // A malformed CQE carries no trustworthy wr_id; it is consumed and dropped.
            continue;
        };
        if cqe.opcode == CqeOpcode::Resize {
            // §11.6 step 4: the last entry of the old ring; later CQEs are in the new ring
            // from counter 0, in the other generation.
            if let Some((ring, log2)) = p.next.take() {
                let old = p.ring.replace(ring);
                if p.retired.is_none() {
                    p.retired = old;
                }
                p.log2 = log2;
                p.ci = 0;
                p.generation = !p.generation;
            }
            continue;
        }
        if let (Some(c), Some(slot)) = (cqe.completion(), out.get_mut(n)) {
            *slot = c;
            n += 1;
        }
    }
    if consumed {
        p.write_dbrec();
    }
    n
}

/// §11.7: doorbell record, next SN, release fence, CQ_ARM.
pub(crate) fn arm(db: Option<&DoorbellBlock>, p: &mut CqPoller, solicited_only: bool) {
    p.write_dbrec();
    p.sn = p.sn.wrapping_add(1) & 3;
    let kind = if solicited_only {
        CQ_ARM::TYPE::Solicited
    } else {
        CQ_ARM::TYPE::Any
    };
    fence(Ordering::Release);
    if let Some(db) = db {
        db.cq_arm.write(
            CQ_ARM::CI.val(p.ci)
                + CQ_ARM::SN.val(u32::from(p.sn))
                + kind
                + CQ_ARM::RING.val(u32::from(p.generation)),
        );
    }
}

/// `k = ceil_log2(depth + 1)`, at least 1 (§11.3 step 1: one slot is reserved).
pub(crate) fn cq_log2(depth: u32) -> Option<u8> {
    let entries = depth.checked_add(1)?.checked_next_power_of_two()?.max(2);
    let k = u8::try_from(entries.trailing_zeros()).ok()?;
    (k <= MAX_CQ_LOG2).then_some(k)
}

impl<P: Platform> RoceNic<P> {
    /// §11.3: choose the CQN, allocate and zero the ring and record, post CREATE_CQ.
    pub(crate) fn cq_create(
        &self,
        depth: u32,
        ctx: u64,
        token: CmdToken,
    ) -> HalResult<(CqParts<Self>, Cmd<()>)> {
        if depth == 0 || depth > self.caps.max_cq_depth {
            return Err(HalError::InvalidParameter);
        }
        let log2 = cq_log2(depth).ok_or(HalError::InvalidParameter)?;
        let ring_bytes = CQE_SIZE
            .checked_shl(u32::from(log2))
            .ok_or(HalError::InvalidParameter)?;
        let len = ring_bytes
            .checked_add(CQ_DBREC_SIZE)
            .ok_or(HalError::NoResources)?;
        let cqn = self
            .ctl
            .lock()
            .ids
            .cq
            .alloc()
            .ok_or(HalError::NoResources)?;
        let mem = match self.platform.alloc_dma(len) {
            Ok(m) => m,
            Err(e) => {
                self.ctl.lock().ids.cq.free(cqn);
                return Err(e);
            }
        };
        let params = CreateCq {
            cqn,
            log2_size: log2,
            eqn: 0,
            mod_count: 0,
            mod_period: 0,
            ring_addr: mem.bus_address(),
            dbrec_addr: mem.bus_address().wrapping_add(ring_bytes as u64),
            cq_context: ctx,
        };
        if let Err(e) = self.command(
            |_| Command::CreateCq(params),
            None,
            CmdFlags::empty(),
            Some(token.0),
            Some(Action::Report { token, keys: false }),
        ) {
            self.platform.free_dma(mem);
            self.ctl.lock().ids.cq.free(cqn);
            return Err(e);
        }
        Ok((
            CqParts {
                cq: Cq { cqn },
                poller: CqPoller::new(cqn, mem, log2),
            },
            Cmd::Pending,
        ))
    }

    /// RESIZE_CQ (§6.4.5, §5.6.3): a new zeroed ring; the poller switches to it when it
    /// polls the RESIZE marker. A second resize before that marker is `InvalidState`, unless
    /// the previous RESIZE_CQ failed (then its ring is freed here).
    pub(crate) fn cq_resize(
        &self,
        cq: &Cq,
        poller: &mut CqPoller,
        depth: u32,
        token: CmdToken,
    ) -> HalResult<Cmd<()>> {
        if !self.caps.cq_resize {
            return Err(HalError::NotSupported);
        }
        if depth == 0 || depth > self.caps.max_cq_depth {
            return Err(HalError::InvalidParameter);
        }
        let cqn = cq.cqn;
        {
            let mut ctl = self.ctl.lock();
            if poller.next.is_some() {
                let i = ctl
                    .failed_resizes
                    .iter()
                    .position(|c| *c == cqn)
                    .ok_or(HalError::InvalidState)?;
                ctl.failed_resizes.swap_remove(i);
                drop(ctl);
                if let Some((r, _)) = poller.next.take() {
                    self.platform.free_dma(r);
                }
            } else {
                drop(ctl);
            }
        }
        if let Some(r) = poller.retired.take() {
            self.platform.free_dma(r);
        }
        let log2 = cq_log2(depth).ok_or(HalError::InvalidParameter)?;
        let len = CQE_SIZE
            .checked_shl(u32::from(log2))
            .ok_or(HalError::InvalidParameter)?;
        self.ctl
            .lock()
            .failed_resizes
            .try_reserve(1)
            .map_err(|_| HalError::NoResources)?;
        let ring = self.platform.alloc_dma(len)?;
        let ring_addr = ring.bus_address();
        if let Err(e) = self.command(
            |_| Command::ResizeCq {
                cqn,
                log2_size: log2,
                ring_addr,
            },
            None,
            CmdFlags::empty(),
            Some(token.0),
            Some(Action::Resized { token, cqn }),
        ) {
            self.platform.free_dma(ring);
            return Err(e);
        }
        poller.next = Some((ring, log2));
        Ok(Cmd::Pending)
    }

    /// DESTROY_CQ; the ring is freed when it completes (the device writes no CQE after).
    pub(crate) fn cq_destroy(&self, parts: CqParts<Self>, token: CmdToken) -> Cmd<()> {
        let CqParts { cq, mut poller } = parts;
        let cqn = cq.cqn;
        self.ctl.lock().failed_resizes.retain(|c| *c != cqn);
        let action = Action::Destroyed {
            token,
            release: Release::Cq(cqn),
            memory: [
                poller.mem.take(),
                poller.ring.take(),
                poller.next.take().map(|(r, _)| r),
                poller.retired.take(),
            ],
        };
        match self.command_wait(
            |_| Command::DestroyCq { cqn },
            CmdFlags::empty(),
            Some(token.0),
            Some(action),
        ) {
            Ok(_) => Cmd::Pending,
            // The device is unreachable: nothing will complete; the memory is leaked.
            Err(_) => Cmd::Done(()),
        }
    }

    /// MODIFY_CQ (§6.4.5), SILENT: the values are clamped to the 16-bit fields.
    pub(crate) fn cq_moderation(&self, cq: &Cq, interval_us: u32, count: u32) -> HalResult<()> {
        if !self.caps.cq_interrupt_moderation {
            return Err(HalError::NotSupported);
        }
        let cqn = cq.cqn;
        let mod_count = u16::try_from(count).unwrap_or(u16::MAX);
        let mod_period = u16::try_from(interval_us).unwrap_or(u16::MAX);
        self.command(
            |_| Command::ModifyCq {
                cqn,
                mod_count,
                mod_period,
            },
            None,
            CmdFlags::SILENT,
            None,
            None,
        )
        .map(|_| ())
    }
}
