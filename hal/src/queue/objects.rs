//! The per-object control flows both reference silicons share, as irdma's ctrl layer shares
//! them between hardware generations: create a CQ (number, ring memory, command, and every
//! step undone on failure), resize it, set its moderation, and destroy CQs, SRQs and QPs
//! (the memory goes with the destroy's completion, or is leaked when the device cannot be
//! told). Only the command encodings differ between the silicons; they reach these flows as
//! an [`ObjectCmd`] the silicon's [`ControlPath`] encodes and posts.

use alloc::vec::Vec;

use super::admin::{Action, Release};
use super::cq::CqRing;
use super::flush::SoftFlush;
use super::qp::{FrPool, QpMem, QpRings, SrqMem};
use crate::karc::KArc;
use crate::{Cmd, CmdToken, DmaRegion, HalError, HalResult, NicHal, Platform};

/// An object command of the flows here; the silicon encodes it (entry layout, OBJECT field,
/// SILENT flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectCmd {
    /// CREATE_CQ on EQ 0 with moderation off.
    CreateCq {
        /// The CQ number.
        cqn: u32,
        /// log2 of the ring's CQE count.
        log2: u8,
        /// Bus address of the ring.
        ring_addr: u64,
        /// Bus address of the doorbell record after the ring.
        dbrec_addr: u64,
        /// The provider's CQ context, reported in CQ events.
        ctx: u64,
    },
    /// RESIZE_CQ to a new ring.
    ResizeCq {
        /// The CQ number.
        cqn: u32,
        /// log2 of the new ring's CQE count.
        log2: u8,
        /// Bus address of the new ring.
        ring_addr: u64,
    },
    /// MODIFY_CQ of the moderation, posted SILENT.
    ModifyCq {
        /// The CQ number.
        cqn: u32,
        /// Completions before an event.
        count: u16,
        /// Microseconds before an event.
        period: u16,
    },
    /// CREATE_SRQ with the limit not armed.
    CreateSrq {
        /// The SRQ number.
        srqn: u32,
        /// Its protection domain.
        pdn: u32,
        /// log2 of the ring's WQE count.
        log2: u8,
        /// log2 of the WQE slot size.
        stride_log2: u8,
        /// Bus address of the ring.
        ring_addr: u64,
        /// Bus address of the SRQ record after the ring.
        record_addr: u64,
        /// The provider's SRQ context, reported in SRQ events.
        ctx: u64,
    },
    /// CREATE_QP: the QP starts in RESET.
    CreateQp {
        /// The QP number.
        qpn: u32,
        /// The objects it names.
        objects: QpObjects,
        /// Its rings' sizes.
        sq_log2: u8,
        /// SQ slot bytes (log2).
        sq_stride_log2: u8,
        /// RQ slots (log2); 0 with an SRQ.
        rq_log2: u8,
        /// RQ slot bytes (log2); 0 with an SRQ.
        rq_stride_log2: u8,
        /// Bus address of the queue buffer.
        buf_addr: u64,
        /// Bus address of the QP record in it.
        record_addr: u64,
    },
    /// MODIFY_SRQ of the limit, posted SILENT.
    ModifySrqLimit {
        /// The SRQ number.
        srqn: u32,
        /// The new limit (0: disarmed).
        limit: u32,
    },
    /// DESTROY_CQ.
    DestroyCq {
        /// The CQ number.
        cqn: u32,
    },
    /// DESTROY_SRQ.
    DestroySrq {
        /// The SRQ number.
        srqn: u32,
    },
    /// DESTROY_QP.
    DestroyQp {
        /// The QP number.
        qpn: u32,
    },
}

/// The objects whose number the flows here allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbered {
    /// A completion queue.
    Cq,
    /// A shared receive queue.
    Srq,
    /// A queue pair.
    Qp,
}

/// The objects a new QP names, and its provider context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QpObjects {
    /// Protection domain.
    pub pdn: u32,
    /// CQ of the send queue.
    pub send_cqn: u32,
    /// CQ of the receive queue (with an SRQ, the SRQ's completions go there too).
    pub recv_cqn: u32,
    /// The SRQ, if the QP has no RQ of its own.
    pub srqn: Option<u32>,
    /// The provider's QP context, reported in QP events and CQEs.
    pub ctx: u64,
}

/// The silicon's control path as the shared flows use it, besides the driver's platform and
/// capabilities (its [`NicHal`]).
pub trait ControlPath: NicHal {
    /// A free number of a `kind` object, taken under the control lock.
    fn alloc_number(&self, kind: Numbered) -> Option<u32>;
    /// Returns a number no command has made known to the device.
    fn free_number(&self, kind: Numbered, n: u32);
    /// Runs `f` on the CQs whose last RESIZE_CQ failed, under the control lock.
    fn with_failed_resizes<R>(&self, f: impl FnOnce(&mut Vec<u32>) -> R) -> R;
    /// The driver's record of which queues feed which CQ, for the software flush of a dead
    /// device.
    fn soft_flush(&self) -> &SoftFlush<<Self::Platform as Platform>::RawLock>;
    /// Encodes and posts `cmd` with the provider's `token` (`None`: an internal one),
    /// remembering `action` until its completion; waits for room in the admin ring. With
    /// `destroy`, a failure leaks what `action` holds (the object may still be alive in the
    /// device); otherwise the action's memory is freed.
    fn post(
        &self,
        cmd: ObjectCmd,
        token: Option<u64>,
        action: Option<Action>,
        destroy: bool,
    ) -> HalResult<u64>;
}

/// The CQ a [`create_cq`] made: its number, the zeroed ring with the doorbell record after it,
/// and the ring's log2 size.
#[derive(Debug)]
pub struct NewCq {
    /// The CQ number.
    pub cqn: u32,
    /// Ring then doorbell record.
    pub mem: DmaRegion,
    /// log2 of the ring's CQE count.
    pub log2: u8,
}

/// CREATE_CQ (both datasheets' §11.3): check the depth, choose the CQN, allocate and zero the
/// ring of `E`-byte CQEs and the `dbrec_size`-byte doorbell record, post CREATE_CQ reporting
/// to `token`. Nothing stays allocated on failure.
pub fn create_cq<C: ControlPath, const E: usize>(
    c: &C,
    depth: u32,
    ctx: u64,
    token: CmdToken,
    max_log2: u8,
    dbrec_size: usize,
) -> HalResult<NewCq> {
    if depth == 0 || depth > c.caps().max_cq_depth {
        return Err(HalError::InvalidParameter);
    }
    let log2 = super::cq::cq_log2(depth, max_log2).ok_or(HalError::InvalidParameter)?;
    let ring_bytes = E
        .checked_shl(u32::from(log2))
        .ok_or(HalError::InvalidParameter)?;
    let len = ring_bytes
        .checked_add(dbrec_size)
        .ok_or(HalError::NoResources)?;
    let cqn = c.alloc_number(Numbered::Cq).ok_or(HalError::NoResources)?;
    let mem = match c.platform().alloc_dma(len) {
        Ok(m) => m,
        Err(e) => {
            c.free_number(Numbered::Cq, cqn);
            return Err(e);
        }
    };
    let cmd = ObjectCmd::CreateCq {
        cqn,
        log2,
        ring_addr: mem.bus_address(),
        dbrec_addr: mem.bus_address().wrapping_add(ring_bytes as u64),
        ctx,
    };
    let action = Action::Report { token, keys: false };
    if let Err(e) = c.post(cmd, Some(token.0), Some(action), false) {
        c.platform().free_dma(mem);
        c.free_number(Numbered::Cq, cqn);
        return Err(e);
    }
    Ok(NewCq { cqn, mem, log2 })
}

/// RESIZE_CQ: a new zeroed ring; the poller switches to it when it polls the RESIZE marker.
/// A second resize before that marker is `InvalidState`, unless the previous RESIZE_CQ
/// failed (then its ring is freed here).
pub fn resize_cq<C: ControlPath, const E: usize>(
    c: &C,
    cqn: u32,
    ring: &mut CqRing<E>,
    depth: u32,
    token: CmdToken,
    max_log2: u8,
) -> HalResult<Cmd<()>> {
    if !c.caps().cq_resize {
        return Err(HalError::NotSupported);
    }
    if depth == 0 || depth > c.caps().max_cq_depth {
        return Err(HalError::InvalidParameter);
    }
    if ring.resize_pending() {
        c.with_failed_resizes(|failed| {
            let i = failed
                .iter()
                .position(|n| *n == cqn)
                .ok_or(HalError::InvalidState)?;
            failed.swap_remove(i);
            Ok(())
        })?;
        if let Some(r) = ring.take_next() {
            c.platform().free_dma(r);
        }
    }
    if let Some(r) = ring.take_retired() {
        c.platform().free_dma(r);
    }
    let log2 = super::cq::cq_log2(depth, max_log2).ok_or(HalError::InvalidParameter)?;
    let len = E
        .checked_shl(u32::from(log2))
        .ok_or(HalError::InvalidParameter)?;
    c.with_failed_resizes(|failed| failed.try_reserve(1))
        .map_err(|_| HalError::NoResources)?;
    let next = c.platform().alloc_dma(len)?;
    let cmd = ObjectCmd::ResizeCq {
        cqn,
        log2,
        ring_addr: next.bus_address(),
    };
    let action = Action::Resized { token, cqn };
    if let Err(e) = c.post(cmd, Some(token.0), Some(action), false) {
        c.platform().free_dma(next);
        return Err(e);
    }
    ring.set_next(next, log2);
    Ok(Cmd::Pending)
}

/// MODIFY_CQ (SILENT): the values are clamped to the 16-bit fields.
pub fn set_cq_moderation<C: ControlPath>(
    c: &C,
    cqn: u32,
    interval_us: u32,
    count: u32,
) -> HalResult<()> {
    if !c.caps().cq_interrupt_moderation {
        return Err(HalError::NotSupported);
    }
    let cmd = ObjectCmd::ModifyCq {
        cqn,
        count: u16::try_from(count).unwrap_or(u16::MAX),
        period: u16::try_from(interval_us).unwrap_or(u16::MAX),
    };
    c.post(cmd, None, None, false).map(|_| ())
}

/// DESTROY_CQ; the ring is freed when it completes (the device writes no CQE after).
pub fn destroy_cq<C: ControlPath, const E: usize>(
    c: &C,
    cqn: u32,
    ring: &mut CqRing<E>,
    token: CmdToken,
) -> Cmd<()> {
    c.with_failed_resizes(|failed| failed.retain(|n| *n != cqn));
    c.soft_flush().remove_cq_feeders(cqn);
    destroy(
        c,
        ObjectCmd::DestroyCq { cqn },
        token,
        Release::Cq(cqn),
        ring.take_memory(),
    )
}

/// A destroy: posted (waiting for room) with the provider's `token`; when it completes the
/// object number is released and `memory` freed. A device that cannot be reached completes
/// nothing: the destroy is done at once and the memory is leaked.
pub fn destroy<C: ControlPath>(
    c: &C,
    cmd: ObjectCmd,
    token: CmdToken,
    release: Release,
    memory: [Option<DmaRegion>; 4],
) -> Cmd<()> {
    let action = Action::Destroyed {
        token,
        release,
        memory,
    };
    match c.post(cmd, Some(token.0), Some(action), true) {
        Ok(_) => Cmd::Pending,
        Err(_) => Cmd::Done(()),
    }
}

/// CREATE_SRQ (§6.4.4 of both datasheets): choose the SRQN, allocate the ring of `2^log2`
/// slots of `2^stride_log2` bytes (4 KiB aligned, contiguous) and the `record_size`-byte SRQ
/// record after it, post CREATE_SRQ reporting to `token`. The memory is shared by the SRQ's
/// control and posting handles. Nothing stays allocated on failure.
pub fn create_srq<C: ControlPath>(
    c: &C,
    pdn: u32,
    log2: u8,
    stride_log2: u8,
    record_size: usize,
    ctx: u64,
    token: CmdToken,
) -> HalResult<(u32, KArc<SrqMem>)> {
    let (ring_bytes, len) = SrqMem::layout(log2, stride_log2, record_size)?;
    let srqn = c.alloc_number(Numbered::Srq).ok_or(HalError::NoResources)?;
    // Allocated before the device hears of the SRQ.
    let mem = match SrqMem::allocate(c.platform(), ring_bytes, len) {
        Ok(m) => m,
        Err(e) => {
            c.free_number(Numbered::Srq, srqn);
            return Err(e);
        }
    };
    let bus = mem.region.bus_address();
    let cmd = ObjectCmd::CreateSrq {
        srqn,
        pdn,
        log2,
        stride_log2,
        ring_addr: bus,
        record_addr: bus.wrapping_add(ring_bytes as u64),
        ctx,
    };
    let action = Action::Report { token, keys: false };
    if let Err(e) = c.post(cmd, Some(token.0), Some(action), false) {
        SrqMem::release(c.platform(), mem);
        c.free_number(Numbered::Srq, srqn);
        return Err(e);
    }
    Ok((srqn, mem))
}

/// MODIFY_SRQ LIMIT, SILENT: one-shot, written at once when already below (§6.4.4); a
/// failure is the device's to report.
pub fn arm_srq_limit<C: ControlPath>(c: &C, srqn: u32, limit: u32) {
    let _ = c.post(ObjectCmd::ModifySrqLimit { srqn, limit }, None, None, true);
}

/// The page list of a registration (§6.4.7 of both datasheets), for host pages of
/// `page_size` bytes: level 0 when the pages are contiguous (no memory: the address is the
/// first page), level 1 up to `leaf_entries` pages (one array of page addresses), level 2
/// above (a root of leaf addresses, then 4 KiB leaves of `leaf_entries` addresses). Returns
/// the level, the address the command carries and the memory to free once it completed.
pub fn build_page_list<P: Platform>(
    platform: &P,
    pages: &[u64],
    page_size: u64,
    leaf_entries: usize,
) -> HalResult<(u8, u64, Option<DmaRegion>)> {
    let first = pages.first().copied().ok_or(HalError::InvalidParameter)?;
    let contiguous = pages
        .iter()
        .enumerate()
        .all(|(i, p)| *p == first.wrapping_add((i as u64).wrapping_mul(page_size)));
    if contiguous {
        return Ok((0, first, None));
    }
    let bytes = pages.len().checked_mul(8).ok_or(HalError::NoResources)?;
    if pages.len() <= leaf_entries {
        let r = platform.alloc_dma(bytes)?;
        for (i, p) in pages.iter().enumerate() {
            r.write_u64(i.wrapping_mul(8), *p);
        }
        let bus = r.bus_address();
        return Ok((1, bus, Some(r)));
    }
    let leaf_entries = leaf_entries.max(1);
    let leaves = pages.len().div_ceil(leaf_entries);
    let root_pages = leaves
        .checked_mul(8)
        .ok_or(HalError::NoResources)?
        .div_ceil(4096);
    let total = root_pages
        .checked_add(leaves)
        .and_then(|n| n.checked_mul(4096))
        .ok_or(HalError::NoResources)?;
    let r = platform.alloc_dma(total)?;
    let bus = r.bus_address();
    for leaf in 0..leaves {
        let leaf_off = root_pages.wrapping_add(leaf).wrapping_mul(4096);
        r.write_u64(leaf.wrapping_mul(8), bus.wrapping_add(leaf_off as u64));
    }
    for (i, p) in pages.iter().enumerate() {
        let leaf = i / leaf_entries;
        let off = root_pages
            .wrapping_add(leaf)
            .wrapping_mul(4096)
            .wrapping_add((i % leaf_entries).wrapping_mul(8));
        r.write_u64(off, *p);
    }
    Ok((2, bus, Some(r)))
}

/// A QP [`create_qp`] made: its number, its queue buffer (rings then record) and, when its
/// SQ slots cannot hold the largest fast-register page list inline, that list's pool.
#[derive(Debug)]
pub struct NewQp {
    /// The QP number.
    pub qpn: u32,
    /// The queue buffer.
    pub mem: KArc<QpMem>,
    /// The fast-register page-list pool.
    pub fr: Option<FrPool>,
}

/// CREATE_QP (both datasheets' §11.4): choose the QPN, allocate the queue buffer of `rings`
/// (and the fast-register pool `fr_pool` says the QP needs), register its queues with their
/// CQs for the software flush, post CREATE_QP reporting to `token`. Everything is undone on
/// failure.
pub fn create_qp<C: ControlPath>(
    c: &C,
    rings: &QpRings,
    objects: QpObjects,
    fr_pool: impl FnOnce() -> HalResult<Option<FrPool>>,
    token: CmdToken,
) -> HalResult<NewQp> {
    let layout = rings.layout()?;
    let qpn = c.alloc_number(Numbered::Qp).ok_or(HalError::NoResources)?;
    let mem = match QpMem::allocate(c.platform(), rings, &layout, qpn, objects.ctx) {
        Ok(m) => m,
        Err(e) => {
            c.free_number(Numbered::Qp, qpn);
            return Err(e);
        }
    };
    let undo = |mem: KArc<QpMem>, fr: Option<FrPool>| {
        if let Some(p) = fr {
            c.platform().free_dma(p.into_region());
        }
        QpMem::release(c.platform(), mem);
        c.free_number(Numbered::Qp, qpn);
    };
    let fr = match fr_pool() {
        Ok(fr) => fr,
        Err(e) => {
            undo(mem, None);
            return Err(e);
        }
    };
    let recv_cqn = objects.srqn.is_none().then_some(objects.recv_cqn);
    if let Err(e) = c.soft_flush().add_feeders(&mem, objects.send_cqn, recv_cqn) {
        undo(mem, fr);
        return Err(e);
    }
    let bus = mem.region.bus_address();
    let cmd = ObjectCmd::CreateQp {
        qpn,
        objects,
        sq_log2: rings.sq_log2,
        sq_stride_log2: rings.sq_stride_log2,
        rq_log2: rings.rq_log2,
        rq_stride_log2: rings.rq_stride_log2,
        buf_addr: bus,
        record_addr: bus.wrapping_add(layout.record_offset as u64),
    };
    let action = Action::Report { token, keys: false };
    if let Err(e) = c.post(cmd, Some(token.0), Some(action), false) {
        c.soft_flush().remove_feeders::<C::Platform>(qpn, None);
        undo(mem, fr);
        return Err(e);
    }
    Ok(NewQp { qpn, mem, fr })
}

/// What a silicon allows of a work queue's shape (§3.4 of both datasheets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Deepest SQ.
    pub max_sq_depth: u32,
    /// Deepest RQ.
    pub max_rq_depth: u32,
    /// Largest SQ slot (log2 bytes).
    pub max_sq_stride_log2: u8,
    /// Largest RQ slot (log2 bytes).
    pub max_rq_stride_log2: u8,
}

/// The rings of a new QP (§11.4 step 1): slot sizes from the silicon's WQE layout
/// (`sq_stride_log2(max SGEs, max inline bytes)`, `rq_stride_log2(max SGEs)`), depths rounded
/// up to powers of two, all within `limits` (`InvalidParameter` otherwise); no RQ with an
/// SRQ. `record_size` is the silicon's QP record.
pub fn qp_rings<N: NicHal>(
    p: &crate::QpParams<'_, N>,
    limits: &QueueLimits,
    sq_stride_log2: impl FnOnce(usize, usize) -> Option<u8>,
    rq_stride_log2: impl FnOnce(usize) -> Option<u8>,
    record_size: usize,
) -> HalResult<QpRings> {
    let bad = |_| HalError::InvalidParameter;
    let max_send_sge = usize::try_from(p.max_send_sge).map_err(bad)?;
    let max_recv_sge = usize::try_from(p.max_recv_sge).map_err(bad)?;
    let max_inline = usize::try_from(p.max_inline).map_err(bad)?;
    let sq_stride = sq_stride_log2(max_send_sge, max_inline).ok_or(HalError::InvalidParameter)?;
    if sq_stride > limits.max_sq_stride_log2 {
        return Err(HalError::InvalidParameter);
    }
    let sq_log2 = super::qp::depth_log2(p.sq_depth, limits.max_sq_depth)?;
    let (rq_log2, rq_stride) = match p.srq {
        Some(_) => (0, 0),
        None => {
            let s = rq_stride_log2(max_recv_sge).ok_or(HalError::InvalidParameter)?;
            if s > limits.max_rq_stride_log2 {
                return Err(HalError::InvalidParameter);
            }
            (super::qp::depth_log2(p.rq_depth, limits.max_rq_depth)?, s)
        }
    };
    Ok(QpRings {
        sq_log2,
        sq_stride_log2: sq_stride,
        rq_log2,
        rq_stride_log2: rq_stride,
        has_rq: p.srq.is_none(),
        record_size,
    })
}
