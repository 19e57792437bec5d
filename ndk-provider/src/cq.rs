//! `NDK_CQ`: completion harvesting and the arm / notification state machine (ndkpi.md §4.3,
//! §7.4).

use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, Ordering};

use hal::{Cmd, CmdToken, CmdValue, Completion, CqParts, HalError, NicHal};

use crate::abi::*;
use crate::adapter::{create_cb, request_cb, Adapter, AdapterBody};
use crate::callback::{self, Callback, Ctx};
use crate::device::Lock;
use crate::karc::KArc;
use crate::object::{borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody, TokenKind};
use crate::pending::{self, HasPending, Pending};
use crate::status;

/// What the consumer armed for (ndkpi.md §5.9), ordered so that merging two arms is `max`
/// (§7.4: ANY dominates; ERRORS + SOLICITED is SOLICITED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Arm {
    Errors,
    Solicited,
    Any,
}

#[derive(Default)]
struct NotifyState {
    armed: Option<Arm>,
    /// A CQ error not yet reported because no arm was set.
    error: Option<NTSTATUS>,
}

/// Completion queue state.
pub struct CqBody<H: NicHal> {
    adapter: Adapter<H>,
    hal: Lock<H, Option<H::Cq>>,
    poller: Lock<H, Option<H::CqPoller>>,
    notify_cb: Callback<NDK_FN_CQ_NOTIFICATION_CALLBACK>,
    notify: Lock<H, NotifyState>,
    pending: Pending<H>,
    /// Entries the CQ holds (interrupt moderation compares counts with it).
    depth: AtomicU32,
    /// The depth a resize in flight will give.
    resizing_to: AtomicU32,
    /// The device context (the object's address), registered with the device while live.
    ctx: u64,
}

impl<H: NicHal> ObjBody for CqBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeCq;
    fn teardown(&mut self, token: CmdToken) -> Cmd<()> {
        self.adapter.body.dev.unregister_cq(self.ctx);
        match (self.hal.get_mut().take(), self.poller.get_mut().take()) {
            (Some(cq), Some(poller)) => self
                .adapter
                .body
                .dev
                .hal()
                .destroy_cq(CqParts { cq, poller }, token),
            _ => Cmd::Done(()),
        }
    }
    fn command_complete(obj: Obj<Self>, kind: TokenKind, result: Result<CmdValue, HalError>) {
        if kind == TokenKind::Request && result.is_ok() {
            obj.body.resized();
        }
        pending::command_complete::<H, Self>(
            obj,
            kind,
            result.map(|_| ()).map_err(status::from_hal),
        );
    }
}

impl<H: NicHal> HasPending<H> for CqBody<H> {
    fn pending(&self) -> &Pending<H> {
        &self.pending
    }
}

/// A reference to a CQ.
pub type Cq<H> = Obj<CqBody<H>>;

impl<H: NicHal> CqBody<H> {
    fn resized(&self) {
        self.depth
            .store(self.resizing_to.load(Ordering::Acquire), Ordering::Release);
    }

    /// The device handle, locked, for QP creation.
    pub fn hal_guard(
        &self,
    ) -> lock_api::MutexGuard<'_, <H::Platform as hal::Platform>::RawLock, Option<H::Cq>> {
        self.hal.lock()
    }
}

/// The CQ dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_CQ_DISPATCH` (ndkpi.md §4.3).
    pub const DISPATCH: NDK_CQ_DISPATCH = NDK_CQ_DISPATCH {
        NdkCloseCq: ndk_close::<CqBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkResizeCq: resize_cq::<H>,
        NdkArmCq: arm_cq::<H>,
        NdkGetCqResults: get_cq_results::<H>,
        NdkControlCqInterruptModeration: control_moderation::<H>,
        NdkGetCqResultsEx: get_cq_results_ex::<H>,
    };
}

/// `NdkCreateCq`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "system" fn ndk_create_cq<H: NicHal>(
    p: *mut NDK_ADAPTER,
    depth: u32,
    notify: NDK_FN_CQ_NOTIFICATION_CALLBACK,
    notify_ctx: *mut c_void,
    _affinity: *mut GROUP_AFFINITY,
    cb: NDK_FN_CREATE_COMPLETION,
    ctx: *mut c_void,
    pp: *mut *mut NDK_CQ,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open adapter.
    let Some(a) = (unsafe { borrow::<AdapterBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let hal = a.body.dev.hal();
    if pp.is_null() || depth == 0 || depth > hal.caps().max_cq_depth {
        return STATUS_INVALID_PARAMETER;
    }
    let body = CqBody {
        adapter: (*a).clone(),
        hal: Lock::<H, _>::new(None),
        poller: Lock::<H, _>::new(None),
        notify_cb: Callback {
            func: notify,
            ctx: Ctx::from_ptr(notify_ctx),
        },
        notify: Lock::<H, _>::new(NotifyState::default()),
        pending: Pending::new(),
        depth: AtomicU32::new(depth),
        resizing_to: AtomicU32::new(depth),
        ctx: 0,
    };
    let Ok(mut obj) = new_obj(a.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    let cq_ctx = KArc::as_ptr(&obj) as u64;
    match KArc::get_mut(&mut obj) {
        Some(o) => o.body.ctx = cq_ctx,
        None => return STATUS_INSUFFICIENT_RESOURCES,
    }
    if let Err(s) = a.body.dev.register_cq(cq_ctx) {
        return s;
    }
    pending::create::<H, _, _>(obj, create_cb(cb, ctx), pp, |obj, token| {
        let (parts, cmd) = hal.create_cq(depth, cq_ctx, token)?;
        *obj.body.hal.lock() = Some(parts.cq);
        *obj.body.poller.lock() = Some(parts.poller);
        Ok(cmd)
    })
}

/// Harvests into `out` with `fill(slot, completion)`; returns how many were written.
/// Consumers serialize polling and arming on a CQ (ndkpi.md §7.4), so the poller lock is
/// only tried: a busy lock (resize in progress) reads as an empty CQ.
fn harvest<H: NicHal, R>(cq: &CqBody<H>, out: &mut [R], fill: impl Fn(&mut R, &Completion)) -> u32 {
    let Some(mut guard) = cq.poller.try_lock() else {
        return 0;
    };
    let Some(poller) = guard.as_mut() else {
        return 0;
    };
    let hal = cq.adapter.body.dev.hal();
    let mut buf = [Completion::EMPTY; 16];
    let mut n = 0usize;
    while let Some(rest) = out.get_mut(n..) {
        if rest.is_empty() {
            break;
        }
        let want = rest.len().min(buf.len());
        let got = hal.poll_cq(poller, buf.get_mut(..want).unwrap_or(&mut []));
        for (slot, c) in rest.iter_mut().zip(buf.iter().take(got)) {
            fill(slot, c);
        }
        n += got;
        if got < want {
            break;
        }
    }
    n as u32
}

fn result(c: &Completion) -> NDK_RESULT {
    NDK_RESULT {
        Status: status::from_wc(c.status),
        BytesTransferred: c.byte_len,
        QPContext: c.qp_context as usize as *mut c_void,
        RequestContext: c.wr_id as usize as *mut c_void,
    }
}

unsafe extern "system" fn get_cq_results<H: NicHal>(
    p: *mut NDK_CQ,
    results: *mut NDK_RESULT,
    n: u32,
) -> u32 {
    // SAFETY: NDKPI contract: `p` is an open CQ; `results` has room for `n` entries.
    let (Some(cq), Some(out)) = (unsafe { borrow::<CqBody<H>, _>(p) }, unsafe {
        crate::edge::slice_mut(results, n)
    }) else {
        return 0;
    };
    harvest(&cq.body, out, |r, c| *r = result(c))
}

unsafe extern "system" fn get_cq_results_ex<H: NicHal>(
    p: *mut NDK_CQ,
    results: *mut NDK_RESULT_EX,
    n: u32,
) -> u32 {
    // SAFETY: as in `get_cq_results`.
    let (Some(cq), Some(out)) = (unsafe { borrow::<CqBody<H>, _>(p) }, unsafe {
        crate::edge::slice_mut(results, n)
    }) else {
        return 0;
    };
    let provider_error_codes = cq.body.adapter.body.version >= NDK_VERSION::new(2, 1);
    harvest(&cq.body, out, |r, c| {
        let base = result(c);
        *r = NDK_RESULT_EX {
            Status: base.Status,
            BytesTransferred: base.BytesTransferred,
            QPContext: base.QPContext,
            RequestContext: base.RequestContext,
            Type: status::op_type(c.opcode),
            // ndkpi.md §5.4: 0 on success, and always 0 below NDKPI 2.1, where the field is
            // padding the consumer does not expect us to fill.
            ProviderErrorCode: if base.Status == STATUS_SUCCESS || !provider_error_codes {
                0
            } else {
                c.vendor_error
            },
            TypeSpecificCompletionOutput: c.invalidated_rkey as usize,
        }
    })
}

unsafe extern "system" fn arm_cq<H: NicHal>(p: *mut NDK_CQ, ty: u32) {
    // SAFETY: NDKPI contract: `p` is an open CQ.
    let Some(cq) = (unsafe { borrow::<CqBody<H>, _>(p) }) else {
        return;
    };
    let arm = match ty {
        NDK_CQ_NOTIFY_ERRORS => Arm::Errors,
        NDK_CQ_NOTIFY_SOLICITED => Arm::Solicited,
        _ => Arm::Any,
    };
    let (merged, error) = {
        let mut st = cq.body.notify.lock();
        let merged = st.armed.map_or(arm, |a| a.max(arm));
        st.armed = Some(merged);
        (merged, st.error.is_some())
    };
    if error {
        // An unreported CQ error satisfies any arm at once.
        on_notify::<H>(KArc::as_ptr(&cq) as u64, STATUS_SUCCESS);
        return;
    }
    if merged != Arm::Errors {
        if let Some(mut g) = cq.body.poller.try_lock() {
            if let Some(poller) = g.as_mut() {
                cq.body
                    .adapter
                    .body
                    .dev
                    .hal()
                    .arm_cq(poller, merged == Arm::Solicited);
            }
        }
    }
}

/// A device notification or error for the CQ whose context is `cq_ctx`: one callback per
/// arm, none once the consumer closed the CQ (ndkpi.md §7.4). Callbacks are serialized by
/// the device's event processing.
pub fn on_notify<H: NicHal>(cq_ctx: u64, event: NTSTATUS) {
    // SAFETY: `cq_ctx` is the address of a CQ the device still holds (its destroy has not
    // completed, NicHal contract); the upgrade fails if it is being torn down.
    if let Some(cq) = unsafe { KArc::<crate::object::NdkObj<CqBody<H>>>::upgrade_raw(cq_ctx) } {
        notify(cq, event);
    }
}

/// Delivers a notification or error to the CQ's consumer if it is armed (see `on_notify`).
pub fn notify<H: NicHal>(cq: Cq<H>, event: NTSTATUS) {
    if cq.is_closing() {
        return;
    }
    let fire = {
        let mut st = cq.body.notify.lock();
        if event != STATUS_SUCCESS {
            st.error = Some(event);
        }
        match (st.armed, st.error) {
            (Some(_), Some(e)) => {
                st.armed = None;
                Some(e)
            }
            (Some(Arm::Any | Arm::Solicited), None) => {
                st.armed = None;
                Some(STATUS_SUCCESS)
            }
            _ => None,
        }
    };
    if let Some(s) = fire {
        callback::cq_notify(cq.body.notify_cb, s);
    }
    drop(cq);
}

unsafe extern "system" fn resize_cq<H: NicHal>(
    p: *mut NDK_CQ,
    depth: u32,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open CQ.
    let Some(cq) = (unsafe { borrow::<CqBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let hal = cq.body.adapter.body.dev.hal();
    if !hal.caps().cq_resize {
        return STATUS_NOT_SUPPORTED;
    }
    if depth == 0 || depth > hal.caps().max_cq_depth {
        return STATUS_INVALID_PARAMETER;
    }
    cq.body.resizing_to.store(depth, Ordering::Release);
    pending::request::<H, _, _>(
        &cq,
        request_cb(cb, ctx),
        |token| {
            let ctl = cq.body.hal.lock();
            let mut poll = cq.body.poller.lock();
            match (ctl.as_ref(), poll.as_mut()) {
                (Some(c), Some(pl)) => hal.resize_cq(c, pl, depth, token),
                _ => Err(HalError::InvalidState),
            }
        },
        |()| cq.body.resized(),
    )
}

/// `NdkControlCqInterruptModeration` (ndkpi.md §4.3). Never pends.
unsafe extern "system" fn control_moderation<H: NicHal>(
    p: *mut NDK_CQ,
    interval: u32,
    count: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open CQ.
    let Some(cq) = (unsafe { borrow::<CqBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let hal = cq.body.adapter.body.dev.hal();
    if !hal.caps().cq_interrupt_moderation {
        return STATUS_NOT_SUPPORTED;
    }
    // ndkpi.md §4.3: a count above this CQ's depth can never be reached: interval only.
    let count_off = count == u32::MAX || count > cq.body.depth.load(Ordering::Acquire);
    if interval == u32::MAX && count_off {
        return STATUS_INVALID_PARAMETER_MIX;
    }
    // UNCONFIRMED (ndkpi.md §4.3): count 0 or 1 means "no moderation", like interval 0.
    let (i, c) = if interval == 0 || count <= 1 {
        (0, 0)
    } else if interval == u32::MAX {
        (0, count)
    } else if count_off {
        (interval, 0)
    } else {
        (interval, count)
    };
    let ctl = cq.body.hal.lock();
    match ctl.as_ref() {
        Some(c_) => hal
            .set_cq_moderation(c_, i, c)
            .map_or_else(status::from_hal, |()| STATUS_SUCCESS),
        None => STATUS_INVALID_DEVICE_STATE,
    }
}
