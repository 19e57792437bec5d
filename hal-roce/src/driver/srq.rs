//! Shared receive queues (§6.4.4, §5.5 SRQ record): creation, limit arming, destroy, and the
//! posting fast path (the RQ's, §11.5 step 5, with SRQ_PI).

use core::sync::atomic::{fence, AtomicU32, Ordering};
use hal::karc::{Finalize, KArc};

use hal::{Cmd, CmdToken, DmaRegion, HalError, HalResult, Platform, RecvWr};
use tock_registers::interfaces::Writeable;

use super::cmdq::{Action, Release};
use super::rq::write_recv;
use super::sq::depth_log2;
use super::RoceNic;
use crate::admin::{CmdFlags, Command, CreateSrq};
use crate::record::SRQ_RECORD_SIZE;
use crate::regs::{self, DoorbellBlock, SRQ_PI};
use crate::wqe;

/// The SRQ ring and record, shared by the control handle (for `srq_queued`) and the poster.
#[derive(Debug)]
struct SrqMem {
    region: DmaRegion,
    record_offset: usize,
    /// The poster's PI, published for `srq_queued` (a store, not a lock).
    pi: AtomicU32,
}

impl Finalize for SrqMem {}

impl SrqMem {
    fn srq_ci(&self) -> u16 {
        let mut b = [0u8; 4];
        self.region.read(self.record_offset, &mut b);
        (u32::from_le_bytes(b) & 0xFFFF) as u16
    }
}

/// Shared receive queue control handle.
#[derive(Debug)]
pub struct Srq {
    pub(crate) srqn: u32,
    mem: KArc<SrqMem>,
}

/// Shared receive queue posting side.
#[derive(Debug)]
pub struct SrqPoster {
    mem: KArc<SrqMem>,
    log2_depth: u8,
    log2_stride: u8,
    pi: u16,
    pub(crate) db_offset: usize,
}

/// `PI − SRQ_CI` (§5.5).
pub(crate) fn queued(srq: &Srq) -> u32 {
    let pi = (srq.mem.pi.load(Ordering::Acquire) & 0xFFFF) as u16;
    u32::from(pi.wrapping_sub(srq.mem.srq_ci()))
}

/// Posts a receive to the SRQ and rings SRQ_PI.
pub(crate) fn post(
    db: Option<&DoorbellBlock>,
    s: &mut SrqPoster,
    wr: &RecvWr<'_>,
) -> HalResult<()> {
    let depth = 1u32.checked_shl(u32::from(s.log2_depth)).unwrap_or(0);
    if u32::from(s.pi.wrapping_sub(s.mem.srq_ci())) >= depth {
        return Err(HalError::QueueFull);
    }
    write_recv(&s.mem.region, 0, s.log2_depth, s.log2_stride, s.pi, wr)?;
    s.pi = s.pi.wrapping_add(1);
    s.mem.pi.store(u32::from(s.pi), Ordering::Release);
    fence(Ordering::Release);
    if let Some(db) = db {
        db.srq_pi.write(SRQ_PI::PI.val(u32::from(s.pi)));
    }
    Ok(())
}

impl<P: Platform> RoceNic<P> {
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
        let ring_bytes = 1usize
            .checked_shl(u32::from(log2) + u32::from(stride))
            .ok_or(HalError::InvalidParameter)?;
        let len = ring_bytes
            .checked_add(SRQ_RECORD_SIZE)
            .ok_or(HalError::NoResources)?;
        let srqn = self
            .ctl
            .lock()
            .ids
            .srq
            .alloc()
            .ok_or(HalError::NoResources)?;
        let region = match self.platform.alloc_dma(len) {
            Ok(r) => r,
            Err(e) => {
                self.ctl.lock().ids.srq.free(srqn);
                return Err(e);
            }
        };
        // Shared by the control and posting handles; allocated fallibly before the device
        // hears of the SRQ.
        let mem = match KArc::try_new_or_return(SrqMem {
            region,
            record_offset: ring_bytes,
            pi: AtomicU32::new(0),
        }) {
            Ok(m) => m,
            Err(m) => {
                self.platform.free_dma(m.region);
                self.ctl.lock().ids.srq.free(srqn);
                return Err(HalError::NoResources);
            }
        };
        let bus = mem.region.bus_address();
        let params = CreateSrq {
            srqn,
            pdn: pd.pdn,
            log2_depth: log2,
            log2_stride: stride,
            limit: 0,
            ring_addr: bus,
            record_addr: bus.wrapping_add(ring_bytes as u64),
            srq_context: ctx,
        };
        if let Err(e) = self.command(
            |_| Command::CreateSrq(params),
            None,
            CmdFlags::empty(),
            Some(token.0),
            Some(Action::Report { token, keys: false }),
        ) {
            if let Ok(m) = KArc::try_unwrap(mem) {
                self.platform.free_dma(m.region);
            }
            self.ctl.lock().ids.srq.free(srqn);
            return Err(e);
        }
        Ok((
            Srq {
                srqn,
                mem: mem.clone(),
            },
            SrqPoster {
                mem,
                log2_depth: log2,
                log2_stride: stride,
                pi: 0,
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
        let srqn = srq.srqn;
        let _ = self.command_wait(
            |_| Command::ModifySrq { srqn, limit },
            CmdFlags::SILENT,
            None,
            None,
        );
    }

    /// DESTROY_SRQ; the ring is freed when it completes.
    pub(crate) fn srq_destroy(&self, srq: Srq, poster: SrqPoster, token: CmdToken) -> Cmd<()> {
        let srqn = srq.srqn;
        drop(poster);
        let memory = [
            KArc::try_unwrap(srq.mem).ok().map(|m| m.region),
            None,
            None,
            None,
        ];
        let action = Action::Destroyed {
            token,
            release: Release::Srq(srqn),
            memory,
        };
        match self.command_wait(
            |_| Command::DestroySrq { srqn },
            CmdFlags::empty(),
            Some(token.0),
            Some(action),
        ) {
            Ok(_) => Cmd::Pending,
            Err(_) => Cmd::Done(()),
        }
    }
}
