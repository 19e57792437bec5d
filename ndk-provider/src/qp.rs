//! `NDK_QP`: queue pair creation (PD slots) and every work-request post (ndkpi.md §4.2,
//! §4.7, §7.7). Posting takes no waiting lock: the consumer serializes each queue, so the
//! per-queue lock is only tried (a failed try is a consumer bug, answered with an error,
//! never a hang), allocates nothing, and rings one doorbell per non-`DEFER` post.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering};

use hal::{
    Access, Cmd, CmdToken, CmdValue, HalError, NicHal, Payload, QpParams, QpParts, RecvWr, SendOp,
    SendWr, WrFlags, MAX_INLINE_DATA, MAX_SGE,
};

use crate::abi::*;
use crate::adapter::create_cb;
use crate::cq::{Cq, CqBody};
use crate::device::Lock;
use crate::mr::MrBody;
use crate::mw::MwBody;
use crate::object::{borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody, TokenKind};
use crate::pd::{Pd, PdBody};
use crate::pending::{self, HasPending, Pending};
use crate::serial::Serial;
use crate::srq::{Srq, SrqBody};
use crate::{edge, status};

struct SqState<H: NicHal> {
    sq: H::Sq,
    /// WQEs written under `NDK_OP_FLAG_DEFER` whose doorbell is still owed.
    unrung: bool,
}

/// Queue pair state.
pub struct QpBody<H: NicHal> {
    pd: Pd<H>,
    _rcq: Cq<H>,
    _icq: Cq<H>,
    _srq: Option<Srq<H>>,
    hal: Lock<H, Option<H::Qp>>,
    sq: Serial<Option<SqState<H>>>,
    rq: Serial<Option<H::Rq>>,
    max_send_sge: u32,
    max_recv_sge: u32,
    max_read_sge: u32,
    inline: u32,
    connected: AtomicBool,
    pending: Pending<H>,
}

impl<H: NicHal> ObjBody for QpBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeQp;
    /// ndkpi.md §7.1: the close flushes outstanding requests.
    fn on_close(obj: &Obj<Self>) {
        obj.body.flush();
    }
    fn teardown(&mut self, token: CmdToken) -> Cmd<()> {
        let qp = self.hal.get_mut().take();
        let sq = self.sq.get_mut().take();
        match (qp, sq) {
            (Some(qp), Some(sq)) => {
                let rq = self.rq.get_mut().take();
                self.pd
                    .body
                    .adapter
                    .body
                    .dev
                    .hal()
                    .destroy_qp(QpParts { qp, sq: sq.sq, rq }, token)
            }
            _ => Cmd::Done(()),
        }
    }
    fn command_complete(obj: Obj<Self>, kind: TokenKind, result: Result<CmdValue, HalError>) {
        pending::command_complete::<H, Self>(
            obj,
            kind,
            result.map(|_| ()).map_err(status::from_hal),
        );
    }
}

impl<H: NicHal> HasPending<H> for QpBody<H> {
    fn pending(&self) -> &Pending<H> {
        &self.pending
    }
}

/// A reference to a QP.
pub type Qp<H> = Obj<QpBody<H>>;

impl<H: NicHal> QpBody<H> {
    fn hal(&self) -> &H {
        self.pd.body.adapter.body.dev.hal()
    }

    /// True when the QP belongs to `dev` (a connector may only bind QPs of its device).
    pub fn on_device(&self, dev: &crate::karc::KArc<crate::device::Device<H>>) -> bool {
        crate::karc::KArc::ptr_eq(&self.pd.body.adapter.body.dev, dev)
    }

    /// The device handle (connection establishment binds it).
    pub fn with_hal<R>(&self, f: impl FnOnce(&H::Qp) -> R) -> Option<R> {
        self.hal.lock().as_ref().map(f)
    }

    /// Initiator posts need a connection (`STATUS_CONNECTION_INVALID` otherwise).
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    /// `NdkFlush`: every outstanding and later request completes with `STATUS_CANCELLED`.
    pub fn flush(&self) {
        let hal = self.hal();
        if let Some(qp) = self.hal.lock().as_ref() {
            hal.flush_qp(qp);
        }
    }

    /// Send and Write: gathers the payload (inline or SGL, ndkpi.md §5.2) and posts the
    /// request `op` builds around it.
    fn post_payload<'a>(
        &self,
        sges: &'a [NDK_SGE],
        flags: u32,
        allowed: u32,
        wr_id: u64,
        op: impl for<'p> FnOnce(Payload<'p>) -> SendOp<'p>,
    ) -> NTSTATUS {
        if let Err(e) = check_flags(flags, allowed) {
            return self.settle(e);
        }
        let send = |payload: Result<Payload<'_>, NTSTATUS>| match payload {
            Ok(payload) => {
                let wr = SendWr {
                    wr_id,
                    op: op(payload),
                    flags: wr_flags(flags),
                };
                self.post(&wr, flags & NDK_OP_FLAG_DEFER != 0)
            }
            Err(e) => self.settle(e),
        };
        // Each path builds only its own stack buffer: the fast (SGL) path does not pay for
        // clearing the inline one.
        if flags & NDK_OP_FLAG_INLINE != 0 {
            let mut inline_buf = [0u8; MAX_INLINE_DATA];
            send(inline_data(sges, self.inline, &mut inline_buf).map(Payload::Inline))
        } else {
            let mut sge_buf = edge::sgl_buf();
            let max_len = self.hal().caps().max_transfer_length;
            send(edge::sgl(sges, self.max_send_sge, max_len, &mut sge_buf).map(Payload::Sgl))
        }
    }

    /// Every initiator post ends here: a post that fails inline, whatever the reason, first
    /// submits the deferred requests before it (ndkpi.md §7.7), so none waits forever for a
    /// doorbell the consumer will not ring.
    fn settle(&self, status: NTSTATUS) -> NTSTATUS {
        if status != STATUS_SUCCESS {
            self.sq.try_with(|sq| {
                if let Some(st) = sq.as_mut().filter(|st| st.unrung) {
                    self.hal().ring_sq(&mut st.sq);
                    st.unrung = false;
                }
            });
        }
        status
    }

    /// Writes one initiator WQE and rings unless `DEFER` (ndkpi.md §7.7).
    fn post(&self, wr: &SendWr<'_>, defer: bool) -> NTSTATUS {
        if !self.connected.load(Ordering::Acquire) {
            return STATUS_CONNECTION_INVALID;
        }
        let hal = self.hal();
        let posted = self.sq.try_with(|sq| {
            let Some(st) = sq.as_mut() else {
                return STATUS_INVALID_DEVICE_STATE;
            };
            match hal.post_send(&mut st.sq, wr) {
                Ok(()) if defer => {
                    st.unrung = true;
                    STATUS_SUCCESS
                }
                Ok(()) => {
                    hal.ring_sq(&mut st.sq);
                    st.unrung = false;
                    STATUS_SUCCESS
                }
                Err(e) => {
                    // ndkpi.md §7.7: a failed post first submits the deferred ones before it.
                    if st.unrung {
                        hal.ring_sq(&mut st.sq);
                        st.unrung = false;
                    }
                    status::from_hal(e)
                }
            }
        });
        // A concurrent post on the same queue breaks the consumer's contract (§7.7).
        posted.unwrap_or(STATUS_INVALID_DEVICE_STATE)
    }
}

/// Gathers inline SGE data into `buf` (ndkpi.md §5.2: the token is ignored, the VA is
/// readable until the post returns; the SGE count limit does not apply).
fn inline_data<'a>(
    sges: &[NDK_SGE],
    limit: u32,
    buf: &'a mut [u8; MAX_INLINE_DATA],
) -> Result<&'a [u8], NTSTATUS> {
    let mut n = 0usize;
    for s in sges {
        let va = edge::sge_address(s);
        // SAFETY: NDKPI guarantees inline buffers are resident and readable during the call.
        let src = unsafe { edge::va_bytes(va, s.Length) }.ok_or(STATUS_INVALID_PARAMETER)?;
        let end = n.checked_add(src.len()).ok_or(STATUS_INVALID_PARAMETER)?;
        if end > limit as usize {
            return Err(STATUS_INVALID_PARAMETER);
        }
        buf.get_mut(n..end)
            .ok_or(STATUS_INVALID_PARAMETER)?
            .copy_from_slice(src);
        n = end;
    }
    buf.get(..n).ok_or(STATUS_INVALID_PARAMETER)
}

fn wr_flags(flags: u32) -> WrFlags {
    let mut f = WrFlags::empty();
    f.set(WrFlags::SIGNALED, flags & NDK_OP_FLAG_SILENT_SUCCESS == 0);
    f.set(WrFlags::READ_FENCE, flags & NDK_OP_FLAG_READ_FENCE != 0);
    f.set(
        WrFlags::SOLICITED,
        flags & NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT != 0,
    );
    f
}

const COMMON: u32 = NDK_OP_FLAG_SILENT_SUCCESS | NDK_OP_FLAG_READ_FENCE | NDK_OP_FLAG_DEFER;
const SEND_FLAGS: u32 = COMMON | NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT | NDK_OP_FLAG_INLINE;
// UNCONFIRMED (ndkpi.md §12 item 7): inline writes are accepted, as NDSPI and the QP's
// InlineDataSize wording allow.
const WRITE_FLAGS: u32 = COMMON | NDK_OP_FLAG_INLINE;
const READ_FLAGS: u32 = COMMON | NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE;
const BIND_FLAGS: u32 = COMMON | NDK_OP_FLAG_ALLOW_REMOTE_READ | NDK_OP_FLAG_ALLOW_REMOTE_WRITE;
const FR_FLAGS: u32 = COMMON
    | NDK_OP_FLAG_ALLOW_REMOTE_READ
    | NDK_OP_FLAG_ALLOW_LOCAL_WRITE
    | NDK_OP_FLAG_ALLOW_REMOTE_WRITE
    | NDK_OP_FLAG_RDMA_READ_SINK;

fn check_flags(flags: u32, allowed: u32) -> Result<(), NTSTATUS> {
    if flags & !allowed == 0 {
        Ok(())
    } else {
        Err(STATUS_INVALID_PARAMETER)
    }
}

/// Access rights named by `NDK_OP_FLAG_ALLOW_*` (Bind, FastRegister).
pub fn op_access(flags: u32) -> Access {
    let mut a = Access::empty();
    a.set(
        Access::REMOTE_READ,
        flags & NDK_OP_FLAG_ALLOW_REMOTE_READ != 0,
    );
    a.set(
        Access::LOCAL_WRITE,
        flags & NDK_OP_FLAG_ALLOW_LOCAL_WRITE != 0,
    );
    a.set(
        Access::REMOTE_WRITE,
        flags & NDK_OP_FLAG_ALLOW_REMOTE_WRITE == NDK_OP_FLAG_ALLOW_REMOTE_WRITE,
    );
    a.set(Access::READ_SINK, flags & NDK_OP_FLAG_RDMA_READ_SINK != 0);
    a
}

fn into_status(r: Result<NTSTATUS, NTSTATUS>) -> NTSTATUS {
    r.unwrap_or_else(|e| e)
}

/// The QP dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_QP_DISPATCH` (ndkpi.md §4.7).
    pub const DISPATCH: NDK_QP_DISPATCH = NDK_QP_DISPATCH {
        NdkCloseQp: ndk_close::<QpBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkFlush: flush::<H>,
        NdkSend: send::<H>,
        NdkReceive: receive::<H>,
        NdkBind: bind::<H>,
        NdkFastRegister: fast_register::<H>,
        NdkInvalidate: invalidate::<H>,
        NdkRead: read::<H>,
        NdkWrite: write::<H>,
        NdkSendAndInvalidate: send_and_invalidate::<H>,
    };
}

struct QpArgs<H: NicHal> {
    rcq: Cq<H>,
    icq: Cq<H>,
    srq: Option<Srq<H>>,
    context: u64,
    rq_depth: u32,
    sq_depth: u32,
    max_recv_sge: u32,
    max_send_sge: u32,
    inline: u32,
}

fn create_qp<H: NicHal>(
    pd: &Pd<H>,
    a: QpArgs<H>,
    cb: NDK_FN_CREATE_COMPLETION,
    ctx: *mut c_void,
    pp: *mut *mut NDK_QP,
) -> NTSTATUS {
    let hal = pd.body.adapter.body.dev.hal();
    let caps = hal.caps();
    let rq_ok = a.srq.is_some() || (a.rq_depth >= 1 && a.rq_depth <= caps.max_receive_queue_depth);
    let recv_sge_ok = a.srq.is_some() || a.max_recv_sge <= caps.max_receive_sge.min(MAX_SGE as u32);
    if pp.is_null()
        || !rq_ok
        || !recv_sge_ok
        || a.sq_depth == 0
        || a.sq_depth > caps.max_initiator_queue_depth
        || a.max_send_sge > caps.max_initiator_sge.min(MAX_SGE as u32)
        || a.inline > caps.max_inline_data.min(MAX_INLINE_DATA as u32)
    {
        return STATUS_INVALID_PARAMETER;
    }
    let body = QpBody {
        pd: pd.clone(),
        _rcq: a.rcq.clone(),
        _icq: a.icq.clone(),
        _srq: a.srq.clone(),
        hal: Lock::<H, _>::new(None),
        sq: Serial::new(None),
        rq: Serial::new(None),
        max_send_sge: a.max_send_sge,
        max_recv_sge: a.max_recv_sge,
        max_read_sge: a.max_send_sge.min(caps.max_read_sge),
        inline: a.inline,
        connected: AtomicBool::new(false),
        pending: Pending::new(),
    };
    let Ok(obj) = new_obj(pd.body.adapter.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    pending::create::<H, _, _>(obj, create_cb(cb, ctx), pp, |obj, token| {
        let with_srq = |srq: Option<&H::Srq>| -> hal::HalResult<Cmd<()>> {
            let pd_h = pd.body.hal.lock();
            let rcq_h = a.rcq.body.hal_guard();
            // One CQ may serve both queues; its lock is taken once.
            let same = core::ptr::eq(&*a.rcq, &*a.icq);
            let icq_h = if same {
                None
            } else {
                Some(a.icq.body.hal_guard())
            };
            let ic = match &icq_h {
                Some(g) => g.as_ref(),
                None => rcq_h.as_ref(),
            };
            let (Some(pdh), Some(rc), Some(ic)) = (pd_h.as_ref(), rcq_h.as_ref(), ic) else {
                return Err(HalError::InvalidState);
            };
            let params = QpParams {
                pd: pdh,
                send_cq: ic,
                recv_cq: rc,
                srq,
                sq_depth: a.sq_depth,
                rq_depth: a.rq_depth,
                max_send_sge: a.max_send_sge,
                max_recv_sge: a.max_recv_sge,
                max_inline: a.inline,
                context: a.context,
            };
            let (parts, cmd) = hal.create_qp(&params, token)?;
            *obj.body.hal.lock() = Some(parts.qp);
            let sq = Some(SqState {
                sq: parts.sq,
                unrung: false,
            });
            // Nobody else holds the new QP yet, so both cells are free.
            let stored = obj.body.sq.try_with(|slot| *slot = sq).is_some()
                && obj.body.rq.try_with(|slot| *slot = parts.rq).is_some();
            if !stored {
                return Err(HalError::InvalidState);
            }
            Ok(cmd)
        };
        match &a.srq {
            Some(srq) => srq
                .body
                .with_hal(|s| with_srq(Some(s)))
                .unwrap_or(Err(HalError::InvalidState)),
            None => with_srq(None),
        }
    })
}

/// `NdkCreateQp` (a PD slot).
#[allow(clippy::too_many_arguments)]
pub unsafe extern "system" fn ndk_create_qp<H: NicHal>(
    p: *mut NDK_PD,
    rcq: *mut NDK_CQ,
    icq: *mut NDK_CQ,
    qp_context: *mut c_void,
    rq_depth: u32,
    sq_depth: u32,
    max_recv_sge: u32,
    max_send_sge: u32,
    inline: u32,
    cb: NDK_FN_CREATE_COMPLETION,
    ctx: *mut c_void,
    pp: *mut *mut NDK_QP,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open PD and CQs of this adapter.
    let objs = unsafe {
        (
            borrow::<PdBody<H>, _>(p),
            borrow::<CqBody<H>, _>(rcq),
            borrow::<CqBody<H>, _>(icq),
        )
    };
    let (Some(pd), Some(rcq), Some(icq)) = objs else {
        return STATUS_INVALID_PARAMETER;
    };
    let args = QpArgs {
        rcq: (*rcq).clone(),
        icq: (*icq).clone(),
        srq: None,
        context: qp_context as u64,
        rq_depth,
        sq_depth,
        max_recv_sge,
        max_send_sge,
        inline,
    };
    create_qp(&pd, args, cb, ctx, pp)
}

/// `NdkCreateQpWithSrq` (a PD slot).
#[allow(clippy::too_many_arguments)]
pub unsafe extern "system" fn ndk_create_qp_with_srq<H: NicHal>(
    p: *mut NDK_PD,
    rcq: *mut NDK_CQ,
    icq: *mut NDK_CQ,
    srq: *mut NDK_SRQ,
    qp_context: *mut c_void,
    sq_depth: u32,
    max_send_sge: u32,
    inline: u32,
    cb: NDK_FN_CREATE_COMPLETION,
    ctx: *mut c_void,
    pp: *mut *mut NDK_QP,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open PD, CQs and SRQ of this adapter.
    let objs = unsafe {
        (
            borrow::<PdBody<H>, _>(p),
            borrow::<CqBody<H>, _>(rcq),
            borrow::<CqBody<H>, _>(icq),
            borrow::<SrqBody<H>, _>(srq),
        )
    };
    let (Some(pd), Some(rcq), Some(icq), Some(srq)) = objs else {
        return STATUS_INVALID_PARAMETER;
    };
    let args = QpArgs {
        rcq: (*rcq).clone(),
        icq: (*icq).clone(),
        srq: Some((*srq).clone()),
        context: qp_context as u64,
        rq_depth: 0,
        sq_depth,
        max_recv_sge: 0,
        max_send_sge,
        inline,
    };
    create_qp(&pd, args, cb, ctx, pp)
}

unsafe extern "system" fn flush<H: NicHal>(p: *mut NDK_QP) {
    // SAFETY: NDKPI contract: `p` is an open QP.
    if let Some(qp) = unsafe { borrow::<QpBody<H>, _>(p) } {
        qp.body.flush();
    }
}

/// Shared body of Send and SendAndInvalidate.
unsafe fn send_common<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    sgl_p: *const NDK_SGE,
    n: u32,
    flags: u32,
    invalidate_rkey: Option<u32>,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open QP and `n` SGEs.
    let (Some(qp), Some(sges)) = (unsafe { borrow::<QpBody<H>, _>(p) }, unsafe {
        edge::slice(sgl_p, n)
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    qp.body
        .post_payload(sges, flags, SEND_FLAGS, ctx as u64, |payload| {
            SendOp::Send {
                payload,
                invalidate_rkey,
            }
        })
}

unsafe extern "system" fn send<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    s: *const NDK_SGE,
    n: u32,
    flags: u32,
) -> NTSTATUS {
    // SAFETY: forwarded NDKPI contract.
    unsafe { send_common::<H>(p, ctx, s, n, flags, None) }
}

unsafe extern "system" fn send_and_invalidate<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    s: *const NDK_SGE,
    n: u32,
    flags: u32,
    rkey: u32,
) -> NTSTATUS {
    // SAFETY: forwarded NDKPI contract.
    unsafe { send_common::<H>(p, ctx, s, n, flags, Some(rkey)) }
}

/// `NdkReceive`: allowed before the QP is connected (ndkpi.md §4.7).
unsafe extern "system" fn receive<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    s: *const NDK_SGE,
    n: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open QP and `n` SGEs.
    let (Some(qp), Some(sges)) = (unsafe { borrow::<QpBody<H>, _>(p) }, unsafe {
        edge::slice(s, n)
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let q = &qp.body;
    let mut buf = edge::sgl_buf();
    let list = match edge::sgl(
        sges,
        q.max_recv_sge,
        q.hal().caps().max_transfer_length,
        &mut buf,
    ) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let hal = q.hal();
    let wr = RecvWr {
        wr_id: ctx as u64,
        sgl: list,
    };
    let posted = q.rq.try_with(|rq| match rq.as_mut() {
        Some(rq) => hal
            .post_recv(rq, &wr)
            .map_or_else(status::from_hal, |()| STATUS_SUCCESS),
        // A QP on an SRQ has no receive queue of its own.
        None => STATUS_INVALID_DEVICE_REQUEST,
    });
    posted.unwrap_or(STATUS_INVALID_DEVICE_STATE)
}

unsafe extern "system" fn write<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    s: *const NDK_SGE,
    n: u32,
    remote_addr: u64,
    rkey: u32,
    flags: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open QP and `n` SGEs.
    let (Some(qp), Some(sges)) = (unsafe { borrow::<QpBody<H>, _>(p) }, unsafe {
        edge::slice(s, n)
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    qp.body
        .post_payload(sges, flags, WRITE_FLAGS, ctx as u64, |payload| {
            SendOp::Write {
                payload,
                remote_addr,
                rkey,
            }
        })
}

unsafe extern "system" fn read<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    s: *const NDK_SGE,
    n: u32,
    remote_addr: u64,
    rkey: u32,
    flags: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open QP and `n` SGEs.
    let (Some(qp), Some(sges)) = (unsafe { borrow::<QpBody<H>, _>(p) }, unsafe {
        edge::slice(s, n)
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let q = &qp.body;
    qp.body.settle(into_status((|| {
        check_flags(flags, READ_FLAGS)?;
        let mut sge_buf = edge::sgl_buf();
        let list = edge::sgl(
            sges,
            q.max_read_sge,
            q.hal().caps().max_transfer_length,
            &mut sge_buf,
        )?;
        let mut f = wr_flags(flags);
        // ndkpi.md §4.7: honoured only when the adapter advertises it, otherwise ignored.
        f.set(
            WrFlags::LOCAL_INVALIDATE,
            flags & NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE != 0
                && q.hal().caps().read_local_invalidate,
        );
        let wr = SendWr {
            wr_id: ctx as u64,
            op: SendOp::Read {
                sgl: list,
                remote_addr,
                rkey,
            },
            flags: f,
        };
        Ok(q.post(&wr, flags & NDK_OP_FLAG_DEFER != 0))
    })()))
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn bind<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    mr: *mut NDK_MR,
    mw: *mut NDK_MW,
    va: *mut c_void,
    length: usize,
    flags: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open QP, MR and MW.
    let (Some(qp), Some(mr), Some(mw)) = (unsafe {
        (
            borrow::<QpBody<H>, _>(p),
            borrow::<MrBody<H>, _>(mr),
            borrow::<MwBody<H>, _>(mw),
        )
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    qp.body.settle(into_status((|| {
        check_flags(flags, BIND_FLAGS)?;
        let access = op_access(flags) & (Access::REMOTE_READ | Access::REMOTE_WRITE);
        let (mr_va, mr_len, mr_access) =
            mr.body.registered_range().ok_or(STATUS_INVALID_PARAMETER)?;
        let start = va as u64;
        let end = start
            .checked_add(length as u64)
            .ok_or(STATUS_INVALID_PARAMETER)?;
        if start < mr_va || end > mr_va.saturating_add(mr_len) {
            return Err(STATUS_INVALID_PARAMETER);
        }
        // ndkpi.md §7.6: a window with remote write needs an MR with local write.
        if access.contains(Access::REMOTE_WRITE) && !mr_access.contains(Access::LOCAL_WRITE) {
            return Err(STATUS_ACCESS_VIOLATION);
        }
        let wr = SendWr {
            wr_id: ctx as u64,
            op: SendOp::Bind {
                mw_rkey: mw.body.rkey(),
                mr_lkey: mr.body.lkey(),
                addr: start,
                length: length as u64,
                access,
            },
            flags: wr_flags(flags),
        };
        let s = qp.body.post(&wr, flags & NDK_OP_FLAG_DEFER != 0);
        if s == STATUS_SUCCESS {
            // MR → MW dependency (ndkpi.md §7.1) while bound.
            mw.body.set_bound(Some((*mr).clone()));
        }
        Ok(s)
    })()))
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn fast_register<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    mr: *mut NDK_MR,
    page_count: u32,
    pages: *const NDK_LOGICAL_ADDRESS,
    fbo: u32,
    length: usize,
    base_va: *mut c_void,
    flags: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open QP and MR; `pages` has `page_count` entries. Logical
    // addresses are 8-byte integers, read as unsigned.
    let (Some(qp), Some(mr), Some(pages)) = (unsafe {
        (
            borrow::<QpBody<H>, _>(p),
            borrow::<MrBody<H>, _>(mr),
            edge::slice(pages.cast::<u64>(), page_count),
        )
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    qp.body.settle(into_status((|| {
        check_flags(flags, FR_FLAGS)?;
        let (max_pages, remote_ok) = mr
            .body
            .fast_register_limits()
            .ok_or(STATUS_INVALID_PARAMETER)?;
        let access = op_access(flags);
        if access.intersects(Access::REMOTE_READ | Access::REMOTE_WRITE) && !remote_ok {
            return Err(STATUS_ACCESS_VIOLATION);
        }
        let page = PAGE_SIZE as u64;
        let span = u64::from(page_count)
            .checked_mul(page)
            .ok_or(STATUS_INVALID_PARAMETER)?;
        let va = base_va as u64;
        if page_count == 0
            || page_count > max_pages
            || u64::from(fbo) >= page
            || (length as u64).saturating_add(u64::from(fbo)) > span
            || va % page != u64::from(fbo)
        {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let wr = SendWr {
            wr_id: ctx as u64,
            op: SendOp::FastRegister {
                key: mr.body.lkey(),
                pages,
                first_byte_offset: fbo,
                iova: va,
                length: length as u64,
                access,
            },
            flags: wr_flags(flags),
        };
        Ok(qp.body.post(&wr, flags & NDK_OP_FLAG_DEFER != 0))
    })()))
}

unsafe extern "system" fn invalidate<H: NicHal>(
    p: *mut NDK_QP,
    ctx: *mut c_void,
    target: *mut NDK_OBJECT_HEADER,
    flags: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: open QP.
    let Some(qp) = (unsafe { borrow::<QpBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if check_flags(flags, COMMON).is_err() {
        return qp.body.settle(STATUS_INVALID_PARAMETER);
    }
    // ndkpi.md §7.9: the header's ObjectType (ours) tells an MR from an MW.
    // SAFETY: NDKPI contract: `target` is an open MR or MW; `borrow` checks which.
    let (key, mw) = match unsafe {
        (
            borrow::<MrBody<H>, _>(target),
            borrow::<MwBody<H>, _>(target),
        )
    } {
        (Some(mr), _) if mr.body.fast_register_limits().is_some() => (mr.body.lkey(), None),
        (_, Some(mw)) => (mw.body.rkey(), Some(mw)),
        _ => return qp.body.settle(STATUS_INVALID_PARAMETER),
    };
    let wr = SendWr {
        wr_id: ctx as u64,
        op: SendOp::Invalidate { key },
        flags: wr_flags(flags),
    };
    let s = qp.body.post(&wr, flags & NDK_OP_FLAG_DEFER != 0);
    if let (STATUS_SUCCESS, Some(mw)) = (s, mw) {
        mw.body.set_bound(None);
    }
    s
}
