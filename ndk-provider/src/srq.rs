//! `NDK_SRQ`: shared receive queues, their receive posts and the one-shot limit
//! notification (ndkpi.md §4.2 `NdkCreateSrq`, §4.6, §7.5, §7.7).

use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, Ordering};

use hal::{Cmd, CmdToken, CmdValue, HalError, NicHal, RecvWr, MAX_SGE};

use crate::abi::*;
use crate::adapter::{create_cb, request_cb};
use crate::callback::{self, Callback, Ctx};
use crate::device::Lock;
use crate::karc::KArc;
use crate::object::{
    borrow, ndk_close, ndk_query_extension, new_obj, NdkObj, Obj, ObjBody, TokenKind,
};
use crate::pd::{Pd, PdBody};
use crate::pending::{self, HasPending, Pending};
use crate::{edge, status};

/// Limit-notification state (ndkpi.md §7.5).
struct NotifyState {
    /// Current `NotifyThreshold`; 0 until the consumer sets one.
    threshold: u32,
    /// Armed: the next limit event from the device is reported, then this clears.
    armed: bool,
    /// The device has not been given the latest threshold yet (see [`SrqBody::push_arm`]).
    arm_owed: bool,
    /// A fatal error was reported; nothing is reported after it.
    failed: bool,
}

/// Shared receive queue state.
pub struct SrqBody<H: NicHal> {
    /// Parent (ndkpi.md §7.1: the PD's close completes after the SRQ's).
    pd: Pd<H>,
    /// Control handle; `None` before the create and after teardown.
    hal: Lock<H, Option<H::Srq>>,
    /// Posting side. Only tried: the consumer serializes `NdkSrqReceive` (ndkpi.md §7.7).
    poster: Lock<H, Option<H::SrqPoster>>,
    /// Current depth.
    depth: AtomicU32,
    /// Depth of the `NdkModifySrq` in flight, applied when it completes.
    requested_depth: AtomicU32,
    /// SGEs per receive, ≤ `hal::MAX_SGE`.
    max_sge: u32,
    /// The consumer's `SrqNotification` (may be NULL).
    notify_cb: Callback<NDK_FN_SRQ_NOTIFICATION_CALLBACK>,
    notify: Lock<H, NotifyState>,
    pending: Pending<H>,
}

impl<H: NicHal> ObjBody for SrqBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeSrq;
    fn teardown(&mut self, token: CmdToken) -> Cmd<()> {
        let hal = self.pd.body.adapter.body.dev.hal();
        match (self.hal.get_mut().take(), self.poster.get_mut().take()) {
            (Some(srq), Some(poster)) => hal.destroy_srq(srq, poster, token),
            _ => Cmd::Done(()),
        }
    }
    fn command_complete(obj: Obj<Self>, kind: TokenKind, result: Result<CmdValue, HalError>) {
        let result = result.map(|_| ()).map_err(status::from_hal);
        match kind {
            TokenKind::Create if result.is_ok() => {
                // Hand the SRQ to the consumer first, then arm (ndkpi.md §7.5), so a
                // notification never precedes the create completion.
                let keep = obj.clone();
                pending::command_complete::<H, Self>(obj, kind, result);
                arm_created(&keep);
            }
            TokenKind::Request => {
                if result.is_ok() {
                    let depth = obj.body.requested_depth.load(Ordering::Acquire);
                    obj.body.depth.store(depth, Ordering::Release);
                }
                pending::command_complete::<H, Self>(obj, kind, result);
            }
            _ => pending::command_complete::<H, Self>(obj, kind, result),
        }
    }
}

impl<H: NicHal> HasPending<H> for SrqBody<H> {
    fn pending(&self) -> &Pending<H> {
        &self.pending
    }
}

/// A reference to an SRQ.
pub type Srq<H> = Obj<SrqBody<H>>;

impl<H: NicHal> SrqBody<H> {
    fn hal(&self) -> &H {
        self.pd.body.adapter.body.dev.hal()
    }

    /// Runs `f` on the device handle (QP-with-SRQ creation); `None` before the create
    /// completed or after teardown.
    pub fn with_hal<R>(&self, f: impl FnOnce(&H::Srq) -> R) -> Option<R> {
        let r = self.hal.lock().as_ref().map(f);
        self.push_arm();
        r
    }

    /// SGEs per receive request the SRQ was created with.
    pub fn max_sge(&self) -> u32 {
        self.max_sge
    }

    /// Current depth (ndkpi.md §4.6).
    pub fn depth(&self) -> u32 {
        self.depth.load(Ordering::Acquire)
    }

    /// Sets the threshold and arms the one-shot notification (ndkpi.md §7.5). The device
    /// notifies at once when fewer receives are already queued.
    fn arm(&self, threshold: u32) {
        {
            let mut st = self.notify.lock();
            st.threshold = threshold;
            st.armed = true;
            st.arm_owed = true;
        }
        self.push_arm();
    }

    /// Gives the device the owed threshold. Never waits for the handle lock: its holder
    /// may be the very call whose HAL request raised the notification this arm comes from
    /// (a re-arm inside the callback). Whoever holds the lock calls this after letting go,
    /// so an arm that found it busy is pushed by the holder.
    fn push_arm(&self) {
        let hal = self.hal();
        loop {
            {
                let Some(guard) = self.hal.try_lock() else {
                    return;
                };
                let limit = {
                    let mut st = self.notify.lock();
                    let owed = st.arm_owed;
                    st.arm_owed = false;
                    owed.then_some(st.threshold)
                };
                if let (Some(limit), Some(srq)) = (limit, guard.as_ref()) {
                    hal.arm_srq_limit(srq, limit);
                }
            }
            // Checked after the lock is released: an arm owed meanwhile found it busy.
            if !self.notify.lock().arm_owed {
                return;
            }
        }
    }

    /// `NdkSrqReceive` (ndkpi.md §4.6, §7.7): validates and posts without allocating or
    /// waiting for a lock.
    fn receive(&self, wr_id: u64, sges: &[NDK_SGE]) -> NTSTATUS {
        let hal = self.hal();
        let mut buf = edge::sgl_buf();
        let sgl = match edge::sgl(sges, self.max_sge, hal.caps().max_transfer_length, &mut buf) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let Some(mut guard) = self.poster.try_lock() else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        let Some(poster) = guard.as_mut() else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        match hal.post_srq_recv(poster, &RecvWr { wr_id, sgl }) {
            Ok(()) => STATUS_SUCCESS,
            Err(e) => status::from_hal(e),
        }
    }
}

/// Arms the creation threshold once the consumer has the SRQ, unless it closed it already.
fn arm_created<H: NicHal>(srq: &Srq<H>) {
    if srq.is_closing() {
        return;
    }
    let threshold = srq.body.notify.lock().threshold;
    if threshold > 0 {
        srq.body.arm(threshold);
    }
}

/// The SRQ dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_SRQ_DISPATCH` (ndkpi.md §4.6).
    pub const DISPATCH: NDK_SRQ_DISPATCH = NDK_SRQ_DISPATCH {
        NdkCloseSrq: ndk_close::<SrqBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkModifySrq: modify_srq::<H>,
        NdkSrqReceive: srq_receive::<H>,
    };
}

/// `NdkCreateSrq` (a PD slot, ndkpi.md §4.2); may pend. A `NotifyThreshold` > 0 is armed
/// once the SRQ exists (ndkpi.md §7.5).
#[allow(clippy::too_many_arguments)]
pub unsafe extern "system" fn ndk_create_srq<H: NicHal>(
    p: *mut NDK_PD,
    depth: u32,
    max_sge: u32,
    threshold: u32,
    notify: NDK_FN_SRQ_NOTIFICATION_CALLBACK,
    notify_ctx: *mut c_void,
    _affinity: *mut GROUP_AFFINITY,
    cb: NDK_FN_CREATE_COMPLETION,
    ctx: *mut c_void,
    pp: *mut *mut NDK_SRQ,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open PD.
    let Some(pd) = (unsafe { borrow::<PdBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let hal = pd.body.adapter.body.dev.hal();
    let caps = hal.caps();
    // ndkpi.md §5.1: MaxSrqDepth 0 = no SRQ support.
    if caps.max_srq_depth == 0 {
        return STATUS_NOT_SUPPORTED;
    }
    if pp.is_null()
        || depth == 0
        || depth > caps.max_srq_depth
        || max_sge > caps.max_receive_sge.min(MAX_SGE as u32)
    {
        return STATUS_INVALID_PARAMETER;
    }
    let body = SrqBody {
        pd: (*pd).clone(),
        hal: Lock::<H, _>::new(None),
        poster: Lock::<H, _>::new(None),
        depth: AtomicU32::new(depth),
        requested_depth: AtomicU32::new(depth),
        max_sge,
        notify_cb: Callback {
            func: notify,
            ctx: Ctx::from_ptr(notify_ctx),
        },
        notify: Lock::<H, _>::new(NotifyState {
            threshold,
            armed: false,
            arm_owed: false,
            failed: false,
        }),
        pending: Pending::new(),
    };
    let Ok(obj) = new_obj(pd.body.adapter.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    let keep = obj.clone();
    let status = pending::create::<H, _, _>(obj, create_cb(cb, ctx), pp, |obj, token| {
        let srq_ctx = KArc::as_ptr(obj) as u64;
        let created = match pd.body.hal.lock().as_ref() {
            Some(pd_h) => hal.create_srq(pd_h, depth, max_sge, srq_ctx, token),
            None => Err(HalError::InvalidState),
        };
        let (srq, poster, cmd) = created?;
        *obj.body.hal.lock() = Some(srq);
        *obj.body.poster.lock() = Some(poster);
        Ok(cmd)
    });
    // A pending create arms in `command_complete`.
    if status == STATUS_SUCCESS {
        arm_created(&keep);
    }
    drop(keep);
    status
}

unsafe extern "system" fn modify_srq<H: NicHal>(
    p: *mut NDK_SRQ,
    depth: u32,
    threshold: u32,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open SRQ.
    let Some(srq) = (unsafe { borrow::<SrqBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    modify(&srq, depth, threshold, request_cb(cb, ctx))
}

/// `NdkModifySrq` (ndkpi.md §4.6, §7.5): depth 0 keeps the depth; threshold 0 keeps the
/// threshold and the arm state, > 0 sets it and (re)arms. Only a depth change reaches the
/// device as a command, and only it may pend.
fn modify<H: NicHal>(
    srq: &Srq<H>,
    depth: u32,
    threshold: u32,
    cb: Callback<NDK_FN_REQUEST_COMPLETION>,
) -> NTSTATUS {
    let hal = srq.body.hal();
    if depth > hal.caps().max_srq_depth {
        return STATUS_INVALID_PARAMETER;
    }
    let status = if depth == 0 {
        STATUS_SUCCESS
    } else {
        let status = pending::request::<H, _, _>(
            srq,
            cb,
            |token| {
                srq.body.requested_depth.store(depth, Ordering::Release);
                match srq.body.hal.lock().as_ref() {
                    Some(s) => hal.modify_srq(s, depth, token),
                    None => Err(HalError::InvalidState),
                }
            },
            |()| srq.body.depth.store(depth, Ordering::Release),
        );
        srq.body.push_arm();
        status
    };
    if threshold > 0 && (status == STATUS_SUCCESS || status == STATUS_PENDING) {
        srq.body.arm(threshold);
    }
    status
}

unsafe extern "system" fn srq_receive<H: NicHal>(
    p: *mut NDK_SRQ,
    ctx: *mut c_void,
    sgl: *const NDK_SGE,
    n: u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open SRQ.
    let Some(srq) = (unsafe { borrow::<SrqBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: NDKPI contract: `sgl` holds `n` readable SGEs for the duration of the call.
    let Some(sges) = (unsafe { edge::slice(sgl, n) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    srq.body.receive(ctx as usize as u64, sges)
}

/// A device limit event (`STATUS_SUCCESS`) or fatal error (`STATUS_INTERNAL_ERROR`) for
/// the SRQ whose context is `srq_ctx` (ndkpi.md §3, §7.5). A limit is reported once per
/// arm, an error once ever; nothing after the consumer closed the SRQ or after an error.
pub fn on_notify<H: NicHal>(srq_ctx: u64, status: NTSTATUS) {
    // SAFETY: `srq_ctx` is the address of an SRQ the device still holds (its destroy has
    // not completed, NicHal contract); the upgrade fails if it is being torn down.
    let Some(srq) = (unsafe { KArc::<NdkObj<SrqBody<H>>>::upgrade_raw(srq_ctx) }) else {
        return;
    };
    if srq.is_closing() {
        return;
    }
    let fire = {
        let mut st = srq.body.notify.lock();
        if st.failed {
            false
        } else if status != STATUS_SUCCESS {
            st.failed = true;
            st.armed = false;
            true
        } else {
            core::mem::replace(&mut st.armed, false)
        }
    };
    // No lock held: the consumer may re-arm, post or close from the callback (ndkpi.md §7.9).
    if fire {
        callback::srq_notify(srq.body.notify_cb, status);
    }
    drop(srq);
}
