//! Event handling (§3.7–§3.9, §5.7, §11.8): the ISR, EQ polling by the owner bit, and the
//! translation of EQEs (and the connection records `CM_EVENT`s name) into [`HalEvent`]s. Command completions the provider did not ask for
//! (internal commands, e.g. a SILENT flush that failed) are swallowed here.

use core::sync::atomic::Ordering;

use hal::queue::admin::{self, CmdOutcome, Followup};
use hal::queue::eq::EventRings;
use hal::{CmEvent, CqErrorKind, HalError, HalEvent, Platform};
use tock_registers::interfaces::{Readable, Writeable};

use super::cmdq::{Post, Release};
use super::IwarpNic;
use crate::admin::{CmdStatus, Command};
use crate::cm::{CmEventType, CmRecord, CM_RECORD_SIZE};
use crate::eqe::{Eqe, EventType, CQ_ERROR_OVERRUN, EQE_SIZE};
use crate::regs::{CMEV_CI, EQ_CI, INT, STATUS};

/// Which object an event in the software queue belongs to, so `cm_release` and
/// `cm_stop_listen` can take back events the provider must not see any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    None,
    Conn(u32),
    Request { listen: u32, conn: u32 },
}

/// Events waiting for `next_event` (bounded, never allocating: [`hal::queue::events`]).
pub(crate) type SoftEvents = hal::queue::events::SoftEvents<Tag>;

/// EQ and CM event ring consumer state (§3.7, §3.8; [`hal::queue::eq`]).
pub(crate) type EqState = EventRings<EQE_SIZE, CM_RECORD_SIZE>;

/// The CM record of CMEV producer counter `index` (§5.8, §11.8 step 2).
fn cm_record(eq: &EqState, index: u16) -> Option<CmRecord> {
    CmRecord::decode(&eq.record(index)?).ok()
}

impl<P: Platform> IwarpNic<P> {
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
        self.isr.run(|| self.isr_body());
    }

    fn isr_body(&self) {
        if let Some(bar0) = self.bar0() {
            // §3.9: with INTx the ISR claims the interrupt by clearing the causes it saw.
            let cause = bar0.int_cause.extract();
            if cause.get() != 0 {
                bar0.int_cause.set(cause.get());
            }
            // A surprise-removed function reads all ones (every cause, FATAL included).
            let removed = bar0.status.get() == u32::MAX;
            if removed || (cause.is_set(INT::FATAL) && bar0.status.is_set(STATUS::FATAL)) {
                self.report_fatal(removed);
            }
        }
        self.process_eq();
        let handler = if self.events.lock().is_empty() {
            None
        } else {
            self.handler.lock().clone()
        };
        if let Some(h) = handler {
            h();
        }
    }

    fn report_fatal(&self, removed: bool) {
        let mut eq = self.eq.lock();
        if !eq.fatal_reported {
            eq.fatal_reported = true;
            self.device_failed(removed);
        }
    }

    /// Control paths that wait for the device (flush, destroy) look first: a FATAL or
    /// removed device is reported as from the interrupt, so its queues are flushed in
    /// software and its commands fail at once. Returns whether the device still runs.
    pub(crate) fn check_alive(&self) -> bool {
        if self.fatal.load(Ordering::Acquire) {
            return false;
        }
        let Some(bar0) = self.bar0() else {
            return false;
        };
        let status = bar0.status.get();
        let removed = status == u32::MAX;
        if removed || bar0.status.is_set(STATUS::FATAL) {
            self.report_fatal(removed);
            // Queued events (DeviceFatal / DeviceRemoved, failed commands) reach the provider.
            self.interrupt();
            return false;
        }
        true
    }

    /// §3.5 FATAL (or a surprise removal): only a reset recovers, so nothing pending will
    /// complete. Every command the provider waits for completes now with `Fatal` (after
    /// `DeviceFatal` or `DeviceRemoved`); memory the device was given stays allocated (a
    /// dead device's DMA state is unknown). From now on the CQ pollers flush every queue in
    /// software (`flush`).
    fn device_failed(&self, removed: bool) {
        self.fatal.store(true, Ordering::Release);
        let mut ctl = self.ctl.lock();
        ctl.cmds
            .fail_all(&mut self.events.lock(), removed, Tag::None);
    }

    /// `next_event`: the next queued event; when none is queued, reads the EQ first (so a
    /// provider that polls sees events even while the interrupt is late).
    pub(crate) fn take_event(&self) -> Option<HalEvent> {
        if let Some(e) = self.events.lock().pop() {
            return Some(e);
        }
        self.process_eq();
        self.events.lock().pop()
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
            let Some(raw) = eq.next_eqe() else {
                break;
            };
            // A malformed EQE (reserved type) is skipped: nothing can be reported for it.
            if let Ok(e) = Eqe::decode(&raw) {
                self.dispatch(&mut eq, e);
            }
        }
        bar0.eq_ci.write(EQ_CI::CI.val(eq.ci()) + EQ_CI::ARM::SET);
    }

    /// Translates one EQE (§5.7 table → `hal`).
    fn dispatch(&self, eq: &mut EqState, e: Eqe) {
        let ev = match e.event_type {
            EventType::CmdComplete => {
                // A reserved STATUS byte is the device's failure: report it as Fatal.
                let result = e
                    .cmd_status()
                    .map_or(Err(HalError::Fatal), CmdStatus::result);
                self.command_complete(
                    e.context,
                    CmdOutcome {
                        result,
                        object_gone: matches!(
                            e.cmd_status(),
                            Some(CmdStatus::Ok | CmdStatus::BadObject)
                        ),
                        output: [e.data0, e.data1],
                        output_valid: true,
                    },
                );
                return;
            }
            EventType::CqNotify => HalEvent::CqNotify { cq_ctx: e.context },
            EventType::CqError => HalEvent::CqError {
                cq_ctx: e.context,
                kind: if e.subtype == CQ_ERROR_OVERRUN {
                    CqErrorKind::Overrun
                } else {
                    CqErrorKind::Fatal
                },
            },
            EventType::SrqLimit => HalEvent::SrqLimit { srq_ctx: e.context },
            EventType::SrqError => HalEvent::SrqError { srq_ctx: e.context },
            EventType::QpError => HalEvent::QpError { qp_ctx: e.context },
            EventType::CmEvent => {
                let index = e.cmev_index();
                let record = cm_record(eq, index);
                // §3.8: the record is consumed; the connection manager may reuse its slot.
                if let Some(bar0) = self.bar0() {
                    bar0.cmev_ci
                        .write(CMEV_CI::CI.val(u32::from(index.wrapping_add(1))));
                }
                if let (Some(r), Some(event)) = (record, e.cm_event_type()) {
                    self.cm_event(e.object, event, &r);
                }
                return;
            }
            EventType::RawNotify => HalEvent::EthNotify { ctx: e.context },
            // A link change wakes the raw queue's owner, which reads `link_state` (§11.11
            // step 5).
            EventType::PortChange => {
                if !self.eth_live.load(Ordering::Acquire) {
                    return;
                }
                HalEvent::EthNotify {
                    ctx: self.eth_ctx.load(Ordering::Acquire),
                }
            }
            EventType::DeviceFatal => {
                if !eq.fatal_reported {
                    eq.fatal_reported = true;
                    self.device_failed(false);
                }
                return;
            }
        };
        self.events.lock().push(ev, Tag::None);
    }

    /// §11.2 step 6: a `CMD_COMPLETE` with its token; the dispatch is `hal::queue::admin`'s.
    fn command_complete(&self, token: u64, outcome: CmdOutcome) {
        let mut ctl = self.ctl.lock();
        // No entry: an internal SILENT command that failed (e.g. the MODIFY_QP of a flush of
        // a QP already in ERR). Nobody asked; swallow it.
        let Some(action) = ctl.cmds.take_pending(token) else {
            return;
        };
        let done = admin::complete(&self.platform, &ctl.cm, action, outcome);
        match done.followup {
            Followup::None => {}
            Followup::Release(Release::Cq(n)) => ctl.ids.cq.free(n),
            Followup::Release(Release::Srq(n)) => ctl.ids.srq.free(n),
            Followup::Release(Release::Qp(n)) => {
                ctl.ids.qp.free(n);
                // The device wrote every CQE of the QP: its queues feed no CQ any more, and
                // their buffer goes.
                self.flush.remove_feeders(n, Some(&self.platform));
            }
            Followup::ResizeFailed(cqn) => {
                if ctl.failed_resizes.len() < ctl.failed_resizes.capacity() {
                    ctl.failed_resizes.push(cqn);
                }
            }
            Followup::Released(conn) => ctl.cm_released(conn),
            Followup::ListenStopped(listen_id) => ctl.listen_stopped(listen_id),
            Followup::Sync(result) => {
                // Bounded by the number of bring-up commands; reserved before posting.
                if ctl.sync_done.len() < ctl.sync_done.capacity() {
                    ctl.sync_done.push((token, result));
                }
            }
        }
        if let Some((ev, conn)) = done.event {
            self.events
                .lock()
                .push(ev, conn.map_or(Tag::None, Tag::Conn));
        }
    }

    /// A connection event (§8.4): filtered when its connection was released or its listen
    /// stopped; its context replaced by the one `cm_attach` gave (§8.4: events of a passive
    /// connection before CM_ACCEPT carry the listen context).
    fn cm_event(&self, conn_id: u32, event: CmEventType, record: &CmRecord) {
        let mut ctl = self.ctl.lock();
        if ctl.cm.is_released(conn_id) {
            return;
        }
        if event == CmEventType::ConnectRequest && ctl.cm.is_stopped(record.listen_id) {
            // Nobody will answer this request: let the connection manager forget it (it
            // resets the connection, §8.3 CM_RELEASE).
            if let Some(bar0) = self.bar0() {
                let _ = ctl.submit(
                    bar0,
                    |_| Command::CmRelease,
                    None,
                    Post::silent(conn_id),
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
