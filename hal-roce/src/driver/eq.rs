//! Event handling (§3.7–§3.9, §5.7, §11.8): the ISR, EQ polling by the owner bit, and the
//! translation of EQEs into [`HalEvent`]s. Command completions the provider did not ask for
//! (internal commands, e.g. a SILENT flush that failed) are swallowed here.

use alloc::collections::VecDeque;
use core::sync::atomic::{fence, Ordering};

use hal::{CmEvent, CmdToken, CmdValue, DmaRegion, HalError, HalEvent, HalResult, Platform};
use tock_registers::interfaces::{Readable, Writeable};

use super::cmdq::{Action, Release};
use super::RoceNic;
use crate::admin::{CmdStatus, Opcode};
use crate::cm::{CmEventType, CmRecord, CM_RECORD_SIZE};
use crate::eqe::{Eqe, EQE_OWNER_OFFSET, EQE_SIZE};
use crate::regs::{CMEV_CI, EQ_CI, INT, STATUS};
use crate::ring;

/// Which object an event in the software queue belongs to, so `cm_release` and
/// `cm_stop_listen` can take back events the provider must not see any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    None,
    Conn(u32),
    Request { listen: u32, conn: u32 },
}

/// Events waiting for `next_event`. The capacity is reserved at bring-up and never exceeded:
/// when it is full the driver leaves EQEs in the EQ (they are read on the next `next_event`),
/// so queuing never allocates.
pub(crate) struct SoftEvents {
    pub(crate) q: VecDeque<(HalEvent, Tag)>,
    pub(crate) cap: usize,
}

impl SoftEvents {
    pub(crate) fn with_capacity(cap: usize) -> HalResult<SoftEvents> {
        let mut q = VecDeque::new();
        q.try_reserve_exact(cap)
            .map_err(|_| HalError::NoResources)?;
        Ok(SoftEvents { q, cap })
    }

    fn is_full(&self) -> bool {
        self.q.len() >= self.cap
    }

    fn push(&mut self, ev: HalEvent, tag: Tag) {
        if !self.is_full() {
            self.q.push_back((ev, tag));
        }
    }
}

/// EQ and CM event ring consumer state (§3.7, §3.8).
pub(crate) struct EqState {
    pub(crate) ring: Option<DmaRegion>,
    pub(crate) log2: u8,
    /// EQEs consumed (24 bits).
    pub(crate) ci: u32,
    pub(crate) cmev: Option<DmaRegion>,
    pub(crate) cmev_log2: u8,
    /// `DeviceFatal` was queued (from the EQE or from `INT_CAUSE.FATAL`); report it once.
    pub(crate) fatal_reported: bool,
}

impl EqState {
    pub(crate) fn free<P: Platform>(&mut self, p: &P) {
        if let Some(r) = self.ring.take() {
            p.free_dma(r);
        }
        if let Some(r) = self.cmev.take() {
            p.free_dma(r);
        }
    }

    /// §11.8 step 2 / §5.1: the EQE at CI when its owner bit matches, after an acquire fence.
    fn next(&mut self) -> Option<[u8; EQE_SIZE]> {
        let ring = self.ring.as_ref()?;
        let off = ring::slot(self.ci, self.log2).checked_mul(EQE_SIZE)?;
        let mut owner = [0u8; 1];
        if !ring.read(off.checked_add(EQE_OWNER_OFFSET)?, &mut owner) {
            return None;
        }
        if (owner[0] & 1 != 0) != ring::owner_bit(self.ci, self.log2) {
            return None;
        }
        fence(Ordering::Acquire);
        let mut raw = [0u8; EQE_SIZE];
        if !ring.read(off, &mut raw) {
            return None;
        }
        self.ci = ring::advance24(self.ci, 1);
        Some(raw)
    }

    /// The CM record of CMEV producer counter `index` (§5.8, §11.8 step 2).
    fn cm_record(&self, index: u16) -> Option<CmRecord> {
        let ring = self.cmev.as_ref()?;
        let off = ring::slot(u32::from(index), self.cmev_log2).checked_mul(CM_RECORD_SIZE)?;
        let mut raw = [0u8; CM_RECORD_SIZE];
        if !ring.read(off, &mut raw) {
            return None;
        }
        CmRecord::decode(&raw).ok()
    }
}

impl<P: Platform> RoceNic<P> {
    /// The interrupt service routine (§11.8): reads `INT_CAUSE` and writes it back (W1C),
    /// drains the EQ into the event queue, re-arms the EQ, and calls the handler given to
    /// [`hal::NicHal::attach_interrupt`] when events are waiting.
    ///
    /// Call it from the DPC of the EQ interrupt (MSI-X vector 0 or INTx), or from a device
    /// model when it raises the line. It may be called from any thread and re-entered: the
    /// body runs on one CPU at a time, and a call that arrives while it runs makes it run
    /// once more (like a DPC queued while it executes). It takes no lock while calling the
    /// handler, so the handler may call back into the driver.
    pub fn interrupt(&self) {
        if self.isr_requests.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        loop {
            let seen = self.isr_requests.load(Ordering::Acquire);
            self.isr_body();
            if self.isr_requests.fetch_sub(seen, Ordering::AcqRel) == seen {
                break;
            }
        }
    }

    fn isr_body(&self) {
        if let Some(bar0) = self.bar0() {
            // §3.9: with INTx the ISR claims the interrupt by clearing the causes it saw.
            let cause = bar0.int_cause.extract();
            if cause.get() != 0 {
                bar0.int_cause.set(cause.get());
            }
            if cause.is_set(INT::FATAL) && bar0.status.is_set(STATUS::FATAL) {
                self.report_fatal();
            }
        }
        self.process_eq();
        let handler = if self.events.lock().q.is_empty() {
            None
        } else {
            self.handler.lock().clone()
        };
        if let Some(h) = handler {
            h();
        }
    }

    fn report_fatal(&self) {
        let mut eq = self.eq.lock();
        if !eq.fatal_reported {
            eq.fatal_reported = true;
            self.device_failed();
        }
    }

    /// §3.5 FATAL: only a reset recovers, so nothing pending will complete. Every command
    /// the provider waits for completes now with `Fatal` (after `DeviceFatal`); memory the
    /// device was given stays allocated (a dead device's DMA state is unknown).
    fn device_failed(&self) {
        self.fatal.store(true, Ordering::Release);
        let mut ctl = self.ctl.lock();
        let mut events = self.events.lock();
        // Room for every failure, so none is lost to the queue's bound.
        let extra = ctl.pending.len().saturating_add(1);
        if events.q.try_reserve(extra).is_ok() {
            events.cap = events.cap.max(events.q.len().saturating_add(extra));
        }
        events.push(HalEvent::DeviceFatal, Tag::None);
        let failed = |token: CmdToken| HalEvent::CommandComplete {
            token,
            result: Err(HalError::Fatal),
        };
        for p in ctl.pending.drain(..) {
            match p.action {
                // Memory in the actions is dropped unreturned (leaked) on purpose.
                Action::Report { token, .. }
                | Action::Destroyed { token, .. }
                | Action::Resized { token, .. }
                | Action::Registered { token, .. } => events.push(failed(token), Tag::None),
                _ => {}
            }
        }
    }

    /// `next_event`: the next queued event; when none is queued, reads the EQ first (so a
    /// provider that polls sees events even while the interrupt is late).
    pub(crate) fn take_event(&self) -> Option<HalEvent> {
        if let Some((e, _)) = self.events.lock().q.pop_front() {
            return Some(e);
        }
        self.process_eq();
        self.events.lock().q.pop_front().map(|(e, _)| e)
    }

    /// Reads EQEs while their owner bit matches and room is left in the event queue, then
    /// writes `EQ_CI` = CI | ARM (§3.7: one write, after processing).
    pub(crate) fn process_eq(&self) {
        let Some(bar0) = self.bar0() else {
            return;
        };
        let mut eq = self.eq.lock();
        loop {
            if self.events.lock().is_full() {
                break;
            }
            let Some(raw) = eq.next() else {
                break;
            };
            // A malformed EQE (reserved type) is skipped: nothing can be reported for it.
            if let Ok(e) = Eqe::decode(&raw) {
                self.dispatch(&mut eq, e);
            }
        }
        bar0.eq_ci.write(EQ_CI::CI.val(eq.ci) + EQ_CI::ARM::SET);
    }

    /// Translates one EQE (§5.7 table → `hal`).
    fn dispatch(&self, eq: &mut EqState, e: Eqe) {
        let ev = match e {
            Eqe::CmdComplete {
                token,
                opcode,
                status,
                output,
                ..
            } => {
                self.command_complete(token, opcode, status, output);
                return;
            }
            Eqe::CqNotify { cq_context, .. } => HalEvent::CqNotify { cq_ctx: cq_context },
            Eqe::CqError {
                cq_context, kind, ..
            } => HalEvent::CqError {
                cq_ctx: cq_context,
                kind: kind.into(),
            },
            Eqe::SrqLimit { srq_context, .. } => HalEvent::SrqLimit {
                srq_ctx: srq_context,
            },
            Eqe::SrqError { srq_context, .. } => HalEvent::SrqError {
                srq_ctx: srq_context,
            },
            Eqe::QpError { qp_context, .. } => HalEvent::QpError { qp_ctx: qp_context },
            Eqe::Cm {
                conn_id,
                record_index,
                event,
                ..
            } => {
                let record = eq.cm_record(record_index);
                // §3.8: the record is consumed; the agent may reuse its slot.
                if let Some(bar0) = self.bar0() {
                    bar0.cmev_ci
                        .write(CMEV_CI::CI.val(u32::from(record_index.wrapping_add(1))));
                }
                if let Some(r) = record {
                    self.cm_event(conn_id, event, &r);
                }
                return;
            }
            Eqe::RawNotify { context, .. } => HalEvent::EthNotify { ctx: context },
            // A link change wakes the raw queue's owner, which reads `link_state` (§14.2).
            Eqe::PortChange { .. } => {
                if !self.eth_live.load(Ordering::Acquire) {
                    return;
                }
                HalEvent::EthNotify {
                    ctx: self.eth_ctx.load(Ordering::Acquire),
                }
            }
            Eqe::DeviceFatal { .. } => {
                if !eq.fatal_reported {
                    eq.fatal_reported = true;
                    self.device_failed();
                }
                return;
            }
        };
        self.events.lock().push(ev, Tag::None);
    }

    /// §11.2 step 6: a `CMD_COMPLETE` with its token.
    fn command_complete(&self, token: u64, opcode: u8, status: CmdStatus, output: [u32; 2]) {
        let result: Result<(), HalError> = match status.hal_error() {
            None => Ok(()),
            Some(e) => Err(e),
        };
        let mut ctl = self.ctl.lock();
        // No entry: an internal SILENT command that failed (e.g. the MODIFY_QP of a flush of
        // a QP already in ERR). Nobody asked; swallow it.
        let Some(action) = ctl.take_pending(token) else {
            return;
        };
        let report = |token: CmdToken, value: CmdValue| HalEvent::CommandComplete {
            token,
            result: result.map(|()| value),
        };
        let mut events = self.events.lock();
        match action {
            Action::Report { token, keys } => {
                let value = if keys && Opcode::from_u8(opcode).is_some() {
                    CmdValue::Keys(output[0], output[1])
                } else {
                    CmdValue::Unit
                };
                events.push(report(token, value), Tag::None);
            }
            Action::Resized { token, cqn } => {
                if result.is_err() && ctl.failed_resizes.len() < ctl.failed_resizes.capacity() {
                    ctl.failed_resizes.push(cqn);
                }
                events.push(report(token, CmdValue::Unit), Tag::None);
            }
            Action::Registered { token, pbl } => {
                if let Some(m) = pbl {
                    self.platform.free_dma(m);
                }
                events.push(
                    report(token, CmdValue::Keys(output[0], output[1])),
                    Tag::None,
                );
            }
            Action::Destroyed {
                token,
                release,
                memory,
            } => {
                // BAD_OBJECT: the device has no such object (its create failed), so nothing
                // can DMA into the memory any more and the destroy has nothing left to do.
                let gone = status == CmdStatus::Ok || status == CmdStatus::BadObject;
                let result = if gone { Ok(()) } else { result };
                if gone {
                    for m in memory.into_iter().flatten() {
                        self.platform.free_dma(m);
                    }
                    match release {
                        Release::Cq(n) => ctl.ids.cq.free(n),
                        Release::Srq(n) => ctl.ids.srq.free(n),
                        Release::Qp(n) => ctl.ids.qp.free(n),
                    }
                }
                let ev = HalEvent::CommandComplete {
                    token,
                    result: result.map(|()| CmdValue::Unit),
                };
                events.push(ev, Tag::None);
            }
            Action::ConnectFailed { conn, ctx } => {
                if let Err(error) = result {
                    let ev = CmEvent::ConnectFailed {
                        ctx,
                        error,
                        private_data: hal::PrivateData::EMPTY,
                    };
                    events.push(HalEvent::Cm(ev), Tag::Conn(conn));
                }
            }
            Action::AcceptFailed { conn } => {
                if let Err(error) = result {
                    let ctx = ctl.cm.ctx_of(conn).unwrap_or(0);
                    let ev = CmEvent::AcceptFailed { ctx, error };
                    events.push(HalEvent::Cm(ev), Tag::Conn(conn));
                }
            }
            Action::CompleteFailed { conn } => {
                if let Err(error) = result {
                    let ctx = ctl.cm.ctx_of(conn).unwrap_or(0);
                    let ev = CmEvent::ConnectFailed {
                        ctx,
                        error,
                        private_data: hal::PrivateData::EMPTY,
                    };
                    events.push(HalEvent::Cm(ev), Tag::Conn(conn));
                }
            }
            Action::DisconnectFailed { conn } => {
                if let Err(error) = result {
                    let ctx = ctl.cm.ctx_of(conn).unwrap_or(0);
                    let ev = CmEvent::DisconnectComplete {
                        ctx,
                        error: Some(error),
                    };
                    events.push(HalEvent::Cm(ev), Tag::Conn(conn));
                }
            }
            Action::Released { conn } => ctl.cm_released(conn),
            Action::ListenStopped { listen_id } => ctl.listen_stopped(listen_id),
            Action::Sync => {
                // Bounded by the number of bring-up commands; reserved before posting.
                if ctl.sync_done.len() < ctl.sync_done.capacity() {
                    ctl.sync_done.push((token, result));
                }
            }
        }
    }

    /// A CM event (§8.4): filtered when its connection was released or its listen stopped;
    /// its context replaced by the one `cm_attach` gave.
    fn cm_event(&self, conn_id: u32, event: CmEventType, record: &CmRecord) {
        let mut ctl = self.ctl.lock();
        if ctl.cm.is_released(conn_id) {
            return;
        }
        if event == CmEventType::ConnectRequest && ctl.cm.is_stopped(record.listen_id) {
            // Nobody will answer this request: let the agent forget it (it sends a REJ).
            if let Some(bar0) = self.bar0() {
                let _ = ctl.submit(
                    bar0,
                    |_| crate::admin::Command::CmRelease { conn_id },
                    None,
                    crate::admin::CmdFlags::SILENT,
                    None,
                    None,
                );
            }
            return;
        }
        let Some(mut ev) = record.hal_event() else {
            return;
        };
        let tag = if event == CmEventType::ConnectRequest {
            Tag::Request {
                listen: record.listen_id,
                conn: conn_id,
            }
        } else {
            if let Some(ctx) = ctl.cm.ctx_of(conn_id) {
                set_ctx(&mut ev, ctx);
            }
            Tag::Conn(conn_id)
        };
        self.events.lock().push(HalEvent::Cm(ev), tag);
    }
}

/// Replaces the connection context of a CM event (not of a request, whose is the listen's).
fn set_ctx(ev: &mut CmEvent, new: u64) {
    match ev {
        CmEvent::ConnectRequest { .. } => {}
        CmEvent::ConnectReply { ctx, .. }
        | CmEvent::ConnectFailed { ctx, .. }
        | CmEvent::Established { ctx }
        | CmEvent::AcceptFailed { ctx, .. }
        | CmEvent::PeerDisconnected { ctx, .. }
        | CmEvent::DisconnectComplete { ctx, .. } => *ctx = new,
    }
}
