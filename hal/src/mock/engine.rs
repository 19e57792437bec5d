//! Executing work requests: posting, doorbells, moving bytes between connected QPs, and
//! the error state.
//!
//! A doorbell runs the rung WQEs of a connected QP in order, synchronously, against the
//! peer QP. A send that finds no receive at the peer stays at the head of the queue (RNR
//! retry forever) and runs again when the peer posts a receive. Nothing here allocates:
//! WQEs are copied to the stack, SGEs resolve into fixed arrays, rings are reserved.

use crate::{
    Completion, HalError, HalEvent, HalResult, RecvWr, SendOp, SendWr, WcOpcode, WcStatus, WrFlags,
};

use super::fabric::{Tag, World};
use super::memory::{Binding, Fault, Need, RegParams, Span, Spans};
use super::queue::{Data, Id, Pushed, QpMode, RecvWqe, SendWqe, SgList, WqeOp};

/// Outcome of running one WQE.
enum Exec {
    Done,
    /// No receive at the peer: stay at the head and retry when one is posted.
    Wait,
    /// Complete with this status; the QP goes to the error state.
    Fail(WcStatus, Fault),
}

fn completion(wr_id: u64, qp_context: u64, status: WcStatus, opcode: WcOpcode) -> Completion {
    Completion {
        wr_id,
        qp_context,
        status,
        opcode,
        byte_len: 0,
        invalidated_rkey: 0,
        vendor_error: 0,
    }
}

/// Status of a failed local check.
fn local_status(f: Fault) -> WcStatus {
    match f {
        Fault::TooLong => WcStatus::LocalLength,
        _ => WcStatus::LocalProtection,
    }
}

/// Builds the WQE the device keeps for `wr` (parameter checks the device makes at post).
fn build_wqe(wr: &SendWr<'_>, max_sge: usize, max_inline: usize) -> HalResult<SendWqe> {
    let data = |p: crate::Payload<'_>| match p {
        crate::Payload::Sgl(sgl) => SgList::new(sgl, max_sge).map(Data::Sgl),
        crate::Payload::Inline(bytes) => Data::inline(bytes, max_inline),
    };
    let op = match wr.op {
        SendOp::Send {
            payload,
            invalidate_rkey,
        } => WqeOp::Send {
            data: data(payload).ok_or(HalError::InvalidParameter)?,
            invalidate: invalidate_rkey,
        },
        SendOp::Write {
            payload,
            remote_addr,
            rkey,
        } => WqeOp::Write {
            data: data(payload).ok_or(HalError::InvalidParameter)?,
            remote_addr,
            rkey,
        },
        SendOp::Read {
            sgl,
            remote_addr,
            rkey,
        } => WqeOp::Read {
            sinks: SgList::new(sgl, max_sge).ok_or(HalError::InvalidParameter)?,
            remote_addr,
            rkey,
        },
        SendOp::FastRegister {
            key,
            pages: _,
            first_byte_offset,
            iova,
            length,
            access,
        } => WqeOp::FastRegister {
            key,
            staged: false,
            fbo: first_byte_offset,
            iova,
            length,
            access,
        },
        SendOp::Bind {
            mw_rkey,
            mr_lkey,
            addr,
            length,
            access,
        } => WqeOp::Bind {
            mw_rkey,
            mr_lkey,
            addr,
            length,
            access,
        },
        SendOp::Invalidate { key } => WqeOp::Invalidate { key },
    };
    Ok(SendWqe {
        wr_id: wr.wr_id,
        flags: wr.flags,
        op,
    })
}

impl World {
    /// Puts a completion into a CQ: arms fire, a full CQ overruns (reported once, then
    /// every further completion of that CQ is dropped).
    pub(crate) fn push_completion(&mut self, cq: Id, c: Completion, solicited: bool) {
        let Some(s) = self.cqs.get_mut(cq) else {
            return;
        };
        let (nic, cq_ctx) = (s.nic, s.ctx);
        match s.push(c, solicited) {
            Pushed::Stored { notify: true } => {
                self.push_event(nic, HalEvent::CqNotify { cq_ctx }, Tag::Cq(cq))
            }
            Pushed::Overrun => {
                let kind = crate::CqErrorKind::Overrun;
                self.push_event(nic, HalEvent::CqError { cq_ctx, kind }, Tag::Cq(cq));
            }
            Pushed::Stored { notify: false } | Pushed::Dropped => {}
        }
    }

    /// Moves a QP to the error state, flushing its SQ and RQ in order (SRQ receives belong
    /// to the SRQ and stay). `report`: the QP failed on its own, so `QpError` is queued.
    pub(crate) fn qp_to_error(&mut self, q: Id, report: bool) {
        let Some(qp) = self.qps.get_mut(q) else {
            return;
        };
        if qp.mode == QpMode::Error {
            return;
        }
        qp.mode = QpMode::Error;
        qp.sq.rung = 0;
        let (nic, ctx, send_cq, recv_cq) = (qp.nic, qp.ctx, qp.send_cq, qp.recv_cq);
        while let Some(w) = self.qps.get_mut(q).and_then(|qp| qp.sq.wqes.pop_front()) {
            self.push_completion(
                send_cq,
                completion(w.wr_id, ctx, WcStatus::Flushed, w.opcode()),
                false,
            );
        }
        while let Some(r) = self
            .qps
            .get_mut(q)
            .and_then(|qp| qp.rq.as_mut())
            .and_then(|rq| rq.wqes.pop_front())
        {
            self.push_completion(
                recv_cq,
                completion(r.wr_id, ctx, WcStatus::Flushed, WcOpcode::Receive),
                false,
            );
        }
        if report {
            self.push_event(nic, HalEvent::QpError { qp_ctx: ctx }, Tag::Qp(q));
        }
        // A peer's send waiting here for a receive (RNR) now meets a QP that will never
        // answer: let it run into the dead peer (RetryExceeded), as a real requester's retries
        // would, instead of waiting until its own QP is flushed.
        let waiting_peer = self
            .qps
            .get(q)
            .and_then(|qp| qp.peer)
            .filter(|p| self.qps.get(*p).is_some_and(|pq| !pq.executing));
        if let Some(p) = waiting_peer {
            self.progress(p);
        }
    }

    /// `post_send`: checks, queues (or flushes at once in the error state).
    pub(crate) fn post_send(&mut self, q: Id, wr: &SendWr<'_>) -> HalResult<()> {
        let qp = self.qps.get(q).ok_or(HalError::InvalidState)?;
        let (nic, mode, ctx, send_cq) = (qp.nic, qp.mode, qp.ctx, qp.send_cq);
        let mut wqe = build_wqe(wr, qp.max_send_sge, qp.max_inline)?;
        if mode == QpMode::Error {
            self.push_completion(
                send_cq,
                completion(wr.wr_id, ctx, WcStatus::Flushed, wqe.opcode()),
                false,
            );
            return Ok(());
        }
        if qp.sq.wqes.len() >= qp.sq.depth {
            return Err(HalError::QueueFull);
        }
        if let (SendOp::FastRegister { key, pages, .. }, WqeOp::FastRegister { staged, .. }) =
            (wr.op, &mut wqe.op)
        {
            *staged = self.mem.stage_pages(nic, key, pages);
        }
        if let Some(qp) = self.qps.get_mut(q) {
            qp.sq.wqes.push_back(wqe);
        }
        Ok(())
    }

    /// `ring_sq`: everything posted so far may run.
    pub(crate) fn ring(&mut self, q: Id) {
        if let Some(qp) = self.qps.get_mut(q) {
            qp.sq.rung = qp.sq.wqes.len();
        }
        self.progress(q);
    }

    /// `post_recv`: queues a receive and lets a send waiting for it at the peer run.
    pub(crate) fn post_recv(&mut self, q: Id, wr: &RecvWr<'_>) -> HalResult<()> {
        let qp = self.qps.get_mut(q).ok_or(HalError::InvalidState)?;
        let sgl = SgList::new(wr.sgl, qp.max_recv_sge).ok_or(HalError::InvalidParameter)?;
        let (mode, ctx, recv_cq, peer) = (qp.mode, qp.ctx, qp.recv_cq, qp.peer);
        let rq = qp.rq.as_mut().ok_or(HalError::InvalidState)?;
        if mode == QpMode::Error {
            self.push_completion(
                recv_cq,
                completion(wr.wr_id, ctx, WcStatus::Flushed, WcOpcode::Receive),
                false,
            );
            return Ok(());
        }
        if rq.wqes.len() >= rq.depth {
            return Err(HalError::QueueFull);
        }
        rq.wqes.push_back(RecvWqe {
            wr_id: wr.wr_id,
            sgl,
        });
        if let (QpMode::Connected, Some(p)) = (mode, peer) {
            self.progress(p);
        }
        Ok(())
    }

    /// `post_srq_recv`: queues a receive and lets sends waiting at peers of the SRQ's QPs run.
    pub(crate) fn post_srq_recv(&mut self, s: Id, wr: &RecvWr<'_>) -> HalResult<()> {
        let srq = self.srqs.get_mut(s).ok_or(HalError::InvalidState)?;
        let sgl = SgList::new(wr.sgl, srq.max_sge).ok_or(HalError::InvalidParameter)?;
        if srq.wqes.len() >= srq.depth {
            return Err(HalError::QueueFull);
        }
        srq.wqes.push_back(RecvWqe {
            wr_id: wr.wr_id,
            sgl,
        });
        let mut i = 0;
        while let Some(q) = self
            .srqs
            .get(s)
            .filter(|srq| !srq.wqes.is_empty())
            .and_then(|srq| srq.qps.get(i).copied())
        {
            i += 1;
            let peer = self
                .qps
                .get(q)
                .filter(|qp| qp.mode == QpMode::Connected)
                .and_then(|qp| qp.peer);
            if let Some(p) = peer {
                self.progress(p);
            }
        }
        Ok(())
    }

    /// Runs the rung WQEs of a connected QP until one waits or fails.
    pub(crate) fn progress(&mut self, q: Id) {
        loop {
            let Some(qp) = self.qps.get(q) else { return };
            if qp.mode != QpMode::Connected || qp.sq.rung == 0 {
                return;
            }
            let Some(w) = qp.sq.wqes.front().copied() else {
                return;
            };
            let (ctx, send_cq) = (qp.ctx, qp.send_cq);
            if let Some(qp) = self.qps.get_mut(q) {
                qp.executing = true;
            }
            let outcome = self.execute(q, &w);
            if let Some(qp) = self.qps.get_mut(q) {
                qp.executing = false;
            }
            if matches!(outcome, Exec::Wait) {
                return;
            }
            if let Some(qp) = self.qps.get_mut(q) {
                qp.sq.wqes.pop_front();
                qp.sq.rung = qp.sq.rung.saturating_sub(1);
            }
            match outcome {
                Exec::Done => {
                    if w.flags.contains(WrFlags::SIGNALED) {
                        self.push_completion(
                            send_cq,
                            completion(w.wr_id, ctx, WcStatus::Success, w.opcode()),
                            false,
                        );
                    }
                }
                Exec::Fail(status, fault) => {
                    let mut c = completion(w.wr_id, ctx, status, w.opcode());
                    c.vendor_error = fault as u32;
                    self.push_completion(send_cq, c, false);
                    self.qp_to_error(q, true);
                    return;
                }
                Exec::Wait => return,
            }
        }
    }

    /// The peer of `q`, when it is alive, connected back to `q`, and on the fabric.
    fn live_peer(&self, q: Id) -> Option<Id> {
        let p = self.qps.get(q)?.peer?;
        let pq = self.qps.get(p)?;
        let plugged = self.nics.get(pq.nic)?.plugged;
        (pq.mode == QpMode::Connected && pq.peer == Some(q) && plugged).then_some(p)
    }

    fn execute(&mut self, q: Id, w: &SendWqe) -> Exec {
        let Some((nic, pd)) = self.qps.get(q).map(|qp| (qp.nic, qp.pd)) else {
            return Exec::Wait;
        };
        let Some(lim) = self.limits(nic) else {
            return Exec::Wait;
        };
        match &w.op {
            WqeOp::Send { data, invalidate } => self.exec_send(q, w.flags, data, *invalidate),
            WqeOp::Write {
                data,
                remote_addr,
                rkey,
            } => self.exec_write(q, data, *remote_addr, *rkey),
            WqeOp::Read {
                sinks,
                remote_addr,
                rkey,
            } => self.exec_read(q, w.flags, sinks, *remote_addr, *rkey),
            WqeOp::FastRegister {
                key,
                staged,
                fbo,
                iova,
                length,
                access,
            } => {
                let reg = RegParams {
                    fbo: u64::from(*fbo),
                    iova: *iova,
                    length: *length,
                    access: *access,
                };
                match self
                    .mem
                    .fast_register(nic, pd, *key, *staged, &reg, lim.max_registration)
                {
                    Ok(()) => Exec::Done,
                    Err(f @ (Fault::TooLong | Fault::Bounds)) => {
                        Exec::Fail(WcStatus::LocalLength, f)
                    }
                    Err(f) => Exec::Fail(WcStatus::LocalProtection, f),
                }
            }
            WqeOp::Bind {
                mw_rkey,
                mr_lkey,
                addr,
                length,
                access,
            } => {
                let b = Binding {
                    mr_key: *mr_lkey,
                    addr: *addr,
                    length: *length,
                    access: *access,
                };
                match self.mem.bind(nic, pd, *mw_rkey, b) {
                    Ok(()) => Exec::Done,
                    Err(f) => Exec::Fail(WcStatus::LocalProtection, f),
                }
            }
            WqeOp::Invalidate { key } => match self.mem.invalidate(nic, pd, *key) {
                Ok(()) => Exec::Done,
                Err(f) => Exec::Fail(WcStatus::BadRequest, f),
            },
        }
    }

    /// Validates the gather side of a send or write.
    fn gather(&self, q: Id, data: &Data) -> Result<Spans, Fault> {
        let (nic, pd) = self
            .qps
            .get(q)
            .map(|qp| (qp.nic, qp.pd))
            .ok_or(Fault::PeerGone)?;
        let lim = self.limits(nic).ok_or(Fault::PeerGone)?;
        match data {
            Data::Sgl(sgl) => self.mem.resolve_sgl(
                nic,
                pd,
                sgl.as_slice(),
                Need::LocalRead,
                lim.sink_right,
                lim.max_transfer,
            ),
            // The WQE is a copy on the stack of `progress`; its inline bytes outlive the copy.
            Data::Inline { bytes, len } => Ok(Spans::one(Span::host(
                bytes.as_ptr().expose_provenance() as u64,
                u64::from(*len),
            ))),
        }
    }

    /// The oldest receive the peer has for an incoming send (its RQ or its SRQ), and the
    /// PD its SGEs are checked against (the SRQ's own PD for SRQ receives).
    fn recv_head(&self, p: Id) -> Option<(RecvWqe, Id)> {
        let pq = self.qps.get(p)?;
        match pq.srq {
            Some(s) => {
                let srq = self.srqs.get(s)?;
                Some((*srq.wqes.front()?, srq.pd))
            }
            None => Some((*pq.rq.as_ref()?.wqes.front()?, pq.pd)),
        }
    }

    fn pop_recv(&mut self, p: Id) {
        let Some(pq) = self.qps.get_mut(p) else {
            return;
        };
        match pq.srq {
            Some(s) => {
                let Some(srq) = self.srqs.get_mut(s) else {
                    return;
                };
                srq.wqes.pop_front();
                if srq.check_limit() {
                    let (nic, srq_ctx) = (srq.nic, srq.ctx);
                    self.push_event(nic, HalEvent::SrqLimit { srq_ctx }, Tag::Srq(s));
                }
            }
            None => {
                if let Some(rq) = pq.rq.as_mut() {
                    rq.wqes.pop_front();
                }
            }
        }
    }

    fn exec_send(&mut self, q: Id, flags: WrFlags, data: &Data, invalidate: Option<u32>) -> Exec {
        let src = match self.gather(q, data) {
            Ok(s) => s,
            Err(f) => return Exec::Fail(local_status(f), f),
        };
        let Some(p) = self.live_peer(q) else {
            return Exec::Fail(WcStatus::RetryExceeded, Fault::PeerGone);
        };
        let Some((recv, rpd)) = self.recv_head(p) else {
            return Exec::Wait;
        };
        let Some((pnic, ppd, pctx, pcq)) = self.qps.get(p).map(|x| (x.nic, x.pd, x.ctx, x.recv_cq))
        else {
            return Exec::Fail(WcStatus::RetryExceeded, Fault::PeerGone);
        };
        let Some(plim) = self.limits(pnic) else {
            return Exec::Fail(WcStatus::RetryExceeded, Fault::PeerGone);
        };
        let opcode = if invalidate.is_some() {
            WcOpcode::ReceiveInvalidate
        } else {
            WcOpcode::Receive
        };

        // Receiver checks, before a byte moves: (receiver status, fault, sender status).
        let dst = self.mem.resolve_sgl(
            pnic,
            rpd,
            recv.sgl.as_slice(),
            Need::LocalWrite,
            plim.sink_right,
            u64::MAX,
        );
        let failure = match &dst {
            Err(f) => Some((WcStatus::LocalProtection, *f, WcStatus::RemoteOperation)),
            Ok(d) if d.total < src.total => Some((
                WcStatus::ReceiveOverflow,
                Fault::Overflow,
                WcStatus::RemoteInvalidRequest,
            )),
            Ok(_) => match invalidate {
                Some(k) if !self.mem.can_invalidate(pnic, ppd, k) => Some((
                    WcStatus::LocalProtection,
                    Fault::BadInvalidate,
                    WcStatus::RemoteInvalidRequest,
                )),
                _ => None,
            },
        };
        self.pop_recv(p);
        let mut rc = completion(recv.wr_id, pctx, WcStatus::Success, opcode);
        let solicited = flags.contains(WrFlags::SOLICITED);
        match (failure, dst) {
            (None, Ok(dst)) => {
                let moved = self.mem.copy(&src, &dst);
                rc.byte_len = u32::try_from(moved).unwrap_or(u32::MAX);
                if let Some(k) = invalidate {
                    // Checked above; cannot fail.
                    let _ = self.mem.invalidate(pnic, ppd, k);
                    rc.invalidated_rkey = k;
                }
                self.push_completion(pcq, rc, solicited);
                Exec::Done
            }
            (failure, _) => {
                let (rstatus, fault, sstatus) = failure.unwrap_or((
                    WcStatus::LocalProtection,
                    Fault::BadKey,
                    WcStatus::RemoteOperation,
                ));
                rc.status = rstatus;
                rc.vendor_error = fault as u32;
                self.push_completion(pcq, rc, solicited);
                self.qp_to_error(p, true);
                Exec::Fail(sstatus, fault)
            }
        }
    }

    /// Validates the target of a read or write; a violation puts the target QP in error
    /// too (it NAKs and fails) and leaves its memory untouched.
    fn target(&mut self, p: Id, rkey: u32, va: u64, len: u64, need: Need) -> Result<Span, Exec> {
        let Some((pnic, ppd)) = self.qps.get(p).map(|x| (x.nic, x.pd)) else {
            return Err(Exec::Fail(WcStatus::RetryExceeded, Fault::PeerGone));
        };
        self.mem
            .resolve_remote(pnic, ppd, rkey, va, len, need)
            .map_err(|f| {
                self.qp_to_error(p, true);
                Exec::Fail(WcStatus::RemoteAccess, f)
            })
    }

    fn exec_write(&mut self, q: Id, data: &Data, remote_addr: u64, rkey: u32) -> Exec {
        let src = match self.gather(q, data) {
            Ok(s) => s,
            Err(f) => return Exec::Fail(local_status(f), f),
        };
        let Some(p) = self.live_peer(q) else {
            return Exec::Fail(WcStatus::RetryExceeded, Fault::PeerGone);
        };
        if src.total > 0 {
            let dst = match self.target(p, rkey, remote_addr, src.total, Need::RemoteWrite) {
                Ok(d) => d,
                Err(e) => return e,
            };
            self.mem.copy(&src, &Spans::one(dst));
        }
        Exec::Done
    }

    fn exec_read(
        &mut self,
        q: Id,
        flags: WrFlags,
        sinks: &SgList,
        remote_addr: u64,
        rkey: u32,
    ) -> Exec {
        let Some((nic, pd)) = self.qps.get(q).map(|qp| (qp.nic, qp.pd)) else {
            return Exec::Wait;
        };
        let Some(lim) = self.limits(nic) else {
            return Exec::Wait;
        };
        let dst = match self.mem.resolve_sgl(
            nic,
            pd,
            sinks.as_slice(),
            Need::ReadSink,
            lim.sink_right,
            lim.max_transfer,
        ) {
            Ok(d) => d,
            Err(f) => return Exec::Fail(local_status(f), f),
        };
        let invalidate = if flags.contains(WrFlags::LOCAL_INVALIDATE) {
            if !lim.read_local_invalidate {
                return Exec::Fail(WcStatus::BadRequest, Fault::NotSupported);
            }
            match sinks.as_slice().first() {
                Some(s) if self.mem.can_invalidate(nic, pd, s.lkey) => Some(s.lkey),
                _ => return Exec::Fail(WcStatus::BadRequest, Fault::BadInvalidate),
            }
        } else {
            None
        };
        let Some(p) = self.live_peer(q) else {
            return Exec::Fail(WcStatus::RetryExceeded, Fault::PeerGone);
        };
        if dst.total > 0 {
            let src = match self.target(p, rkey, remote_addr, dst.total, Need::RemoteRead) {
                Ok(s) => s,
                Err(e) => return e,
            };
            self.mem.copy(&Spans::one(src), &dst);
        }
        if let Some(k) = invalidate {
            // Checked above; cannot fail.
            let _ = self.mem.invalidate(nic, pd, k);
        }
        Exec::Done
    }
}
