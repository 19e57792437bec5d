//! DDP placement and the RDMAP responder (docs/silicon/iwarp.md §9.4–§9.6, §12.4): every
//! received DDP segment is checked — header, STag (index, state, key byte, PD, right,
//! bounds, wrap), queue number, MSN, MO, receive buffer — **before** any byte of it is
//! written to host memory. A failed check discards the segment, sends one Terminate with the
//! layer, error type and code of §10.3, moves the QP to ERR and closes the connection.

use std::vec::Vec;

use crate::admin::QpState;
use crate::cqe::{syndrome, term, CqeFlags, CqeOpcode, CqeStatus, TermInfo};
use crate::record::SrqRecord;
use crate::stag::AccessFlags;
use crate::wqe::{DataSeg, RecvWqe};

use super::device::{read_runs, write_runs, Device, StagError};
use super::rdmap::{ErrCqe, RecvCur};
use super::tcp::ConnId;
use super::wire::ddp::{DdpHeader, QN_READ_REQUEST, QN_SEND};
use super::wire::rdmap::{Opcode, ReadRequest, Segment, Target, Terminate, READ_REQUEST_LEN};
use fabric::dma;

/// A failed check: the Terminate's (layer, etype, code), and the local receive completion
/// (status syndrome) when the failure consumed a receive WQE.
struct Fail {
    code: (u8, u8, u8),
    recv_syndrome: Option<u32>,
}

impl Fail {
    const fn term(layer: u8, etype: u8, code: u8) -> Fail {
        Fail {
            code: (layer, etype, code),
            recv_syndrome: None,
        }
    }
}

/// A tagged buffer check failure as DDP reports it (§10.3).
fn tagged_fail(e: StagError) -> Fail {
    use term::*;
    match e {
        StagError::Invalid | StagError::Key | StagError::NotValid => {
            Fail::term(LAYER_DDP, DDP_TAGGED, INVALID_STAG)
        }
        StagError::Pd => Fail::term(LAYER_DDP, DDP_TAGGED, DDP_STAG_NOT_ASSOCIATED),
        StagError::Bounds => Fail::term(LAYER_DDP, DDP_TAGGED, BASE_BOUNDS),
        StagError::Wrap => Fail::term(LAYER_DDP, DDP_TAGGED, DDP_TO_WRAP),
        StagError::Access => Fail::term(LAYER_RDMAP, RDMAP_PROTECTION, ACCESS_RIGHTS),
        StagError::Dma => Fail::term(LAYER_RDMAP, RDMAP_CATASTROPHIC, 0),
    }
}

/// A Read Request's data source check failure as RDMAP reports it (§10.3).
fn source_fail(e: StagError) -> Fail {
    use term::*;
    let code = match e {
        StagError::Invalid | StagError::Key | StagError::NotValid => INVALID_STAG,
        StagError::Bounds => BASE_BOUNDS,
        StagError::Access => ACCESS_RIGHTS,
        StagError::Pd => RDMAP_STAG_NOT_ASSOCIATED,
        StagError::Wrap => RDMAP_TO_WRAP,
        StagError::Dma => return Fail::term(LAYER_RDMAP, RDMAP_CATASTROPHIC, 0),
    };
    Fail::term(LAYER_RDMAP, RDMAP_PROTECTION, code)
}

impl Device {
    fn qp_of_tcp(&self, tcp: ConnId) -> Option<u32> {
        self.qps
            .iter()
            .find(|(_, q)| q.tcp == Some(tcp))
            .map(|(n, _)| *n)
    }

    /// One received ULPDU (a DDP segment with a good CRC) of connection `tcp`.
    pub(crate) fn on_fpdu(&mut self, tcp: ConnId, ulpdu: &[u8]) {
        let Some(qpn) = self.qp_of_tcp(tcp) else {
            return;
        };
        let Some(q) = self.qps.get(&qpn) else { return };
        if q.driver_err {
            // §7: the driver moved the QP to ERR; the first FPDU after it is answered with
            // one Terminate (catastrophic error localized to the stream) and FIN.
            let t = self.terminate_of(
                ulpdu,
                (
                    term::LAYER_RDMAP,
                    term::RDMAP_OPERATION,
                    term::CATASTROPHIC_STREAM,
                ),
            );
            if let Some(q) = self.qps.get_mut(&qpn) {
                q.driver_err = false;
            }
            self.send_terminate(tcp, &t);
            self.cm_qp_broken(qpn, Some(tcp));
            return;
        }
        if !matches!(q.state, QpState::Rtr | QpState::Rts) {
            self.stats.rx_discards += 1;
            return;
        }
        let seg = match Segment::parse(ulpdu) {
            Ok(s) => s,
            Err(e) => {
                use super::wire::WireError as W;
                let tagged = ulpdu.first().is_some_and(|b| b & 0x80 != 0);
                let code = match e {
                    W::BadDdpVersion(_) if tagged => (
                        term::LAYER_DDP,
                        term::DDP_TAGGED,
                        term::DDP_TAGGED_BAD_VERSION,
                    ),
                    W::BadDdpVersion(_) => (
                        term::LAYER_DDP,
                        term::DDP_UNTAGGED,
                        term::DDP_UNTAGGED_BAD_VERSION,
                    ),
                    W::BadRdmapVersion(_) => (
                        term::LAYER_RDMAP,
                        term::RDMAP_OPERATION,
                        term::INVALID_RDMAP_VERSION,
                    ),
                    _ => (
                        term::LAYER_RDMAP,
                        term::RDMAP_OPERATION,
                        term::UNEXPECTED_OPCODE,
                    ),
                };
                self.responder_fail(qpn, tcp, ulpdu, Fail::term(code.0, code.1, code.2), None);
                return;
            }
        };
        let res = match seg.opcode {
            Opcode::Write => self.place_write(qpn, &seg),
            Opcode::ReadResponse => self.place_read_response(qpn, &seg),
            Opcode::Send | Opcode::SendInvalidate | Opcode::SendSe | Opcode::SendSeInvalidate => {
                self.place_send(qpn, &seg)
            }
            Opcode::ReadRequest => self.answer_read(qpn, &seg),
            Opcode::Terminate => {
                self.terminate_received(qpn, tcp, &seg);
                return;
            }
        };
        match res {
            Ok(()) => {
                self.stats.ddp_segments_received += 1;
                self.work += 1;
            }
            Err(f) => {
                self.stats.ddp_placement_errors += 1;
                let rr = (seg.opcode == Opcode::ReadRequest)
                    .then(|| seg.payload.get(..READ_REQUEST_LEN))
                    .flatten();
                self.responder_fail(qpn, tcp, ulpdu, f, rr);
            }
        }
    }

    /// The Terminate for the segment `ulpdu` (its length and DDP header included, §9.6).
    fn terminate_of(&self, ulpdu: &[u8], code: (u8, u8, u8)) -> Terminate {
        let mut t = Terminate::new(code.0, code.1, code.2);
        t.segment_len = u16::try_from(ulpdu.len()).ok();
        let hlen = if ulpdu.first().is_some_and(|b| b & 0x80 != 0) {
            super::wire::ddp::TAGGED_HEADER_LEN
        } else {
            super::wire::ddp::UNTAGGED_HEADER_LEN
        };
        t.ddp_header = ulpdu.get(..hlen).map(<[u8]>::to_vec);
        t
    }

    fn send_terminate(&mut self, tcp: ConnId, t: &Terminate) {
        if self.mpa.terminate(tcp, t, self.now).is_ok() {
            self.stats.terminates_sent += 1;
        }
    }

    /// A check failed: discard, Terminate, QP → ERR (the receive's error CQE, or the oldest
    /// SQ WQE with TERM_SENT), QP_ERROR, FIN; the CM reports DISCONNECTED (BROKEN).
    fn responder_fail(
        &mut self,
        qpn: u32,
        tcp: ConnId,
        ulpdu: &[u8],
        f: Fail,
        rdmap_header: Option<&[u8]>,
    ) {
        let mut t = self.terminate_of(ulpdu, f.code);
        if let Some(h) = rdmap_header.and_then(|h| <[u8; READ_REQUEST_LEN]>::try_from(h).ok()) {
            t.rdmap_header = Some(h);
        }
        self.send_terminate(tcp, &t);
        let info = TermInfo {
            layer: f.code.0,
            etype: f.code.1,
            code: f.code.2,
            received: false,
        };
        let (first, syn) = match (f.recv_syndrome, self.take_recv(qpn)) {
            (Some(s), Some((r, opcode))) => {
                let Some(q) = self.qps.get(&qpn) else { return };
                let mut c = q.cqe(r.wr_id, r.wqe_index, opcode);
                c.syndrome = s;
                c.status = syndrome::status(s).unwrap_or(CqeStatus::Fatal);
                c.term = Some(info);
                if let Some(n) = r.srqn {
                    c.srqn = n;
                    c.flags |= CqeFlags::FROM_SRQ;
                }
                (ErrCqe::Recv(c), s)
            }
            _ => (
                ErrCqe::OldestSq(syndrome::TERM_SENT, Some(info)),
                syndrome::TERM_SENT,
            ),
        };
        self.enter_err(qpn, first, Some((syn, Some(info))));
        self.cm_qp_broken(qpn, Some(tcp));
    }

    fn take_recv(&mut self, qpn: u32) -> Option<(RecvCur, CqeOpcode)> {
        let q = self.qps.get_mut(&qpn)?;
        q.recv.take().map(|r| (r, CqeOpcode::Recv))
    }

    /// A Terminate from the peer (§9.6): QP → ERR (REMOTE), the oldest SQ WQE completes with
    /// the requester syndrome of its codes; FIN; DISCONNECTED (TERMINATE).
    fn terminate_received(&mut self, qpn: u32, tcp: ConnId, seg: &Segment<'_>) {
        self.stats.terminates_received += 1;
        let t = Terminate::parse(seg.payload).unwrap_or_default();
        let c = t.control;
        let info = TermInfo {
            layer: c.layer,
            etype: c.etype,
            code: c.ecode,
            received: true,
        };
        let syn = term::requester_syndrome(c.layer, c.etype, c.ecode);
        self.enter_err(
            qpn,
            ErrCqe::OldestSq(syn, Some(info)),
            Some((syn, Some(info))),
        );
        self.cm_terminated(qpn, tcp);
    }

    /// RDMA Write: QP ACCESS, then the STag checks, then placement.
    fn place_write(&mut self, qpn: u32, seg: &Segment<'_>) -> Result<(), Fail> {
        let DdpHeader::Tagged(h) = seg.ddp else {
            return Err(Fail::term(
                term::LAYER_RDMAP,
                term::RDMAP_OPERATION,
                term::UNEXPECTED_OPCODE,
            ));
        };
        let Some(q) = self.qps.get(&qpn) else {
            return Ok(());
        };
        if !q.access.contains(AccessFlags::REMOTE_WRITE) {
            return Err(Fail::term(
                term::LAYER_RDMAP,
                term::RDMAP_PROTECTION,
                term::ACCESS_RIGHTS,
            ));
        }
        let runs = self
            .translate(
                h.stag,
                q.pdn,
                h.to,
                seg.payload.len() as u64,
                AccessFlags::REMOTE_WRITE,
                true,
            )
            .map_err(tagged_fail)?;
        if !write_runs(&runs, seg.payload) {
            return Err(tagged_fail(StagError::Dma));
        }
        Ok(())
    }

    /// RDMA Read Response: only inside the sink of the oldest outstanding read (§9.5).
    fn place_read_response(&mut self, qpn: u32, seg: &Segment<'_>) -> Result<(), Fail> {
        let DdpHeader::Tagged(h) = seg.ddp else {
            return Err(Fail::term(
                term::LAYER_RDMAP,
                term::RDMAP_OPERATION,
                term::UNEXPECTED_OPCODE,
            ));
        };
        let Some(q) = self.qps.get(&qpn) else {
            return Ok(());
        };
        let Some(r) = q.reads.front().copied() else {
            return Err(Fail::term(
                term::LAYER_DDP,
                term::DDP_TAGGED,
                term::INVALID_STAG,
            ));
        };
        if h.stag != r.sink_stag {
            return Err(Fail::term(
                term::LAYER_DDP,
                term::DDP_TAGGED,
                term::INVALID_STAG,
            ));
        }
        let len = seg.payload.len() as u64;
        let end = h.to.checked_add(len).ok_or(Fail::term(
            term::LAYER_DDP,
            term::DDP_TAGGED,
            term::DDP_TO_WRAP,
        ))?;
        if h.to < r.sink_to || end > r.sink_to.saturating_add(u64::from(r.size)) {
            return Err(Fail::term(
                term::LAYER_DDP,
                term::DDP_TAGGED,
                term::BASE_BOUNDS,
            ));
        }
        let runs = self
            .translate(h.stag, q.pdn, h.to, len, AccessFlags::LOCAL_WRITE, false)
            .map_err(tagged_fail)?;
        if !write_runs(&runs, seg.payload) {
            return Err(tagged_fail(StagError::Dma));
        }
        if h.last {
            if let Some(q) = self.qps.get_mut(&qpn) {
                q.reads.pop_front();
                if let Some(e) = q
                    .active
                    .iter_mut()
                    .find(|e| e.opcode == CqeOpcode::Read && !e.done)
                {
                    e.done = true;
                }
            }
            self.try_complete(qpn);
        }
        Ok(())
    }

    /// Takes the next receive WQE for the QP (its SRQ or its RQ), §5.4.
    fn consume_recv(&mut self, qpn: u32) -> Option<RecvCur> {
        let q = self.qps.get(&qpn)?;
        match q.srqn {
            Some(srqn) => {
                let s = self.srqs.get(&srqn)?;
                if s.ci == s.pi {
                    return None;
                }
                let addr = s.ring.wrapping_add(
                    (hal::ring::slot(u32::from(s.ci), s.log2_depth) as u64) << s.log2_stride,
                );
                let mut slot = std::vec![0u8; 1usize << s.log2_stride];
                let ok = dma::read(addr, &mut slot);
                let s = self.srqs.get_mut(&srqn)?;
                s.ci = s.ci.wrapping_add(1);
                let (record, ci) = (s.record, s.ci);
                let rec = SrqRecord { srq_ci: ci }.encode();
                let _ = dma::write(record, rec.get(..4).unwrap_or(&[]));
                self.check_srq_limit(srqn);
                if !ok {
                    return None;
                }
                let w = RecvWqe::decode(&slot).ok()?;
                Some(RecvCur {
                    wr_id: w.wr_id,
                    wqe_index: w.wqe_index,
                    segs: w.segments().collect(),
                    srqn: Some(srqn),
                    bytes: 0,
                })
            }
            None => {
                if q.rq_ci == q.rq_pi {
                    return None;
                }
                let counter = q.rq_ci;
                let mut slot = std::vec![0u8; 1usize << q.rq_stride];
                let ok = dma::read(q.rq_slot(counter), &mut slot);
                if let Some(q) = self.qps.get_mut(&qpn) {
                    q.rq_ci = counter.wrapping_add(1);
                }
                self.write_record(qpn);
                if !ok {
                    return None;
                }
                let w = RecvWqe::decode(&slot).ok()?;
                Some(RecvCur {
                    wr_id: w.wr_id,
                    wqe_index: counter,
                    segs: w.segments().collect(),
                    srqn: None,
                    bytes: 0,
                })
            }
        }
    }

    /// A Send segment (any variant): queue, MSN, receive WQE, MO and length, LOCAL_WRITE of
    /// the scatter list, then placement; the receive CQE on the last segment.
    fn place_send(&mut self, qpn: u32, seg: &Segment<'_>) -> Result<(), Fail> {
        use term::*;
        let DdpHeader::Untagged(h) = seg.ddp else {
            return Err(Fail::term(LAYER_RDMAP, RDMAP_OPERATION, UNEXPECTED_OPCODE));
        };
        if h.qn != QN_SEND {
            return Err(Fail::term(LAYER_DDP, DDP_UNTAGGED, INVALID_QN));
        }
        let Some(q) = self.qps.get(&qpn) else {
            return Ok(());
        };
        if h.msn != q.recv_msn {
            return Err(Fail::term(LAYER_DDP, DDP_UNTAGGED, MSN_RANGE));
        }
        let pdn = q.pdn;
        if q.recv.is_none() {
            if h.mo != 0 {
                return Err(Fail::term(LAYER_DDP, DDP_UNTAGGED, INVALID_MO));
            }
            let r = self
                .consume_recv(qpn)
                .ok_or(Fail::term(LAYER_DDP, DDP_UNTAGGED, NO_BUFFER))?;
            if let Some(q) = self.qps.get_mut(&qpn) {
                q.recv = Some(r);
            }
        }
        let Some(r) = self.qps.get(&qpn).and_then(|q| q.recv.clone()) else {
            return Ok(());
        };
        let len = seg.payload.len() as u64;
        let total: u64 = r.segs.iter().map(|s: &DataSeg| u64::from(s.length)).sum();
        if u64::from(h.mo) + len > total {
            return Err(Fail {
                code: (LAYER_DDP, DDP_UNTAGGED, MSG_TOO_LONG),
                recv_syndrome: Some(syndrome::RECV_TOO_SMALL),
            });
        }
        let runs = match self.scatter_runs(pdn, &r.segs, u64::from(h.mo), len) {
            Ok(Some(runs)) => runs,
            Ok(None) => {
                return Err(Fail {
                    code: (LAYER_DDP, DDP_UNTAGGED, MSG_TOO_LONG),
                    recv_syndrome: Some(syndrome::RECV_TOO_SMALL),
                })
            }
            Err(e) => {
                return Err(Fail {
                    code: (LAYER_RDMAP, RDMAP_CATASTROPHIC, 0),
                    recv_syndrome: Some(e.syndrome()),
                })
            }
        };
        if !write_runs(&runs, seg.payload) {
            return Err(Fail {
                code: (LAYER_RDMAP, RDMAP_CATASTROPHIC, 0),
                recv_syndrome: Some(syndrome::DMA_ERROR),
            });
        }
        let placed = u64::from(h.mo) + len;
        if let Some(q) = self.qps.get_mut(&qpn) {
            if let Some(cur) = q.recv.as_mut() {
                cur.bytes = cur.bytes.max(placed);
            }
        }
        if !h.last {
            return Ok(());
        }
        let inv = seg.opcode.invalidates();
        if inv && !self.invalidate(h.ulp_reserved, pdn) {
            return Err(Fail {
                code: (LAYER_RDMAP, RDMAP_OPERATION, CANNOT_INVALIDATE),
                recv_syndrome: Some(syndrome::INVALIDATE_ERROR),
            });
        }
        let Some(q) = self.qps.get_mut(&qpn) else {
            return Ok(());
        };
        let Some(r) = q.recv.take() else {
            return Ok(());
        };
        q.recv_msn = q.recv_msn.wrapping_add(1);
        let mut c = q.cqe(
            r.wr_id,
            r.wqe_index,
            if inv {
                CqeOpcode::RecvInv
            } else {
                CqeOpcode::Recv
            },
        );
        c.byte_count = u32::try_from(r.bytes).unwrap_or(u32::MAX);
        if inv {
            c.invalidated_stag = h.ulp_reserved;
        }
        if seg.opcode.solicited() {
            c.flags |= CqeFlags::SOLICITED;
        }
        if let Some(n) = r.srqn {
            c.srqn = n;
            c.flags |= CqeFlags::FROM_SRQ;
        }
        let cqn = q.recv_cqn;
        self.post_cqe(cqn, c);
        Ok(())
    }

    /// An RDMA Read Request: queue, MSN, IRD, QP ACCESS, size, the data source checks; then
    /// the Read Response to the requester's sink (answered at once, in order).
    fn answer_read(&mut self, qpn: u32, seg: &Segment<'_>) -> Result<(), Fail> {
        use term::*;
        let DdpHeader::Untagged(h) = seg.ddp else {
            return Err(Fail::term(LAYER_RDMAP, RDMAP_OPERATION, UNEXPECTED_OPCODE));
        };
        if h.qn != QN_READ_REQUEST {
            return Err(Fail::term(LAYER_DDP, DDP_UNTAGGED, INVALID_QN));
        }
        let Some(q) = self.qps.get(&qpn) else {
            return Ok(());
        };
        if h.msn != q.rreq_msn {
            return Err(Fail::term(LAYER_DDP, DDP_UNTAGGED, MSN_RANGE));
        }
        let rr = ReadRequest::parse(seg.payload)
            .map_err(|_| Fail::term(LAYER_RDMAP, RDMAP_OPERATION, UNEXPECTED_OPCODE))?;
        if q.ird == 0 {
            return Err(Fail::term(LAYER_DDP, DDP_UNTAGGED, NO_BUFFER));
        }
        if !q.access.contains(AccessFlags::REMOTE_READ) {
            return Err(Fail::term(LAYER_RDMAP, RDMAP_PROTECTION, ACCESS_RIGHTS));
        }
        if rr.size > self.attrs.max_msg_size {
            return Err(Fail::term(LAYER_RDMAP, RDMAP_PROTECTION, BASE_BOUNDS));
        }
        let runs = self
            .translate(
                rr.src_stag,
                q.pdn,
                rr.src_to,
                u64::from(rr.size),
                AccessFlags::REMOTE_READ,
                true,
            )
            .map_err(source_fail)?;
        let tcp = q.tcp;
        let mut data = Vec::new();
        if !read_runs(&runs, &mut data) {
            return Err(source_fail(StagError::Dma));
        }
        if let Some(q) = self.qps.get_mut(&qpn) {
            q.rreq_msn = q.rreq_msn.wrapping_add(1);
        }
        self.send_message(
            tcp,
            Opcode::ReadResponse,
            Target::Tagged {
                stag: rr.sink_stag,
                to: rr.sink_to,
            },
            &data,
        );
        Ok(())
    }
}
