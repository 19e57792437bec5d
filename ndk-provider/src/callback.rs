//! Calls into the consumer. Every consumer callback goes through here, so the rule "never
//! hold a lock across a callback" has one place to audit, and the raw pointers the
//! consumer gave us travel through the provider as plain `Ctx` values.

use core::ffi::c_void;

use crate::abi::*;

/// An opaque consumer context pointer (`RequestContext`, `CqNotificationContext`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ctx(pub usize);

impl Ctx {
    /// From the pointer the consumer passed.
    pub fn from_ptr(p: *mut c_void) -> Ctx {
        Ctx(p as usize)
    }
    fn ptr(self) -> *mut c_void {
        self.0 as *mut c_void
    }
}

/// A stored consumer callback: its function pointer and context.
#[derive(Clone, Copy, Debug)]
pub struct Callback<F> {
    /// The consumer's function, `None` when it passed NULL.
    pub func: F,
    /// Its context.
    pub ctx: Ctx,
}

/// `NDK_FN_REQUEST_COMPLETION`.
pub fn request_complete(cb: Callback<NDK_FN_REQUEST_COMPLETION>, status: NTSTATUS) {
    if let Some(f) = cb.func {
        // SAFETY: the consumer gave this function for exactly this completion (ndkpi.md §3);
        // it may be called at ≤ DISPATCH_LEVEL with its own context.
        unsafe { f(cb.ctx.ptr(), status) }
    }
}

/// `NDK_FN_CREATE_COMPLETION`.
pub(crate) fn create_complete(
    cb: Callback<NDK_FN_CREATE_COMPLETION>,
    status: NTSTATUS,
    object: *mut NDK_OBJECT_HEADER,
) {
    if let Some(f) = cb.func {
        // SAFETY: as in `request_complete`; `object` is null or a live object we created.
        unsafe { f(cb.ctx.ptr(), status, object) }
    }
}

/// `NDK_FN_CLOSE_COMPLETION`.
pub fn close_complete(cb: Callback<NDK_FN_CLOSE_COMPLETION>) {
    if let Some(f) = cb.func {
        // SAFETY: as in `request_complete`.
        unsafe { f(cb.ctx.ptr()) }
    }
}

/// `NDK_FN_CQ_NOTIFICATION_CALLBACK`.
pub fn cq_notify(cb: Callback<NDK_FN_CQ_NOTIFICATION_CALLBACK>, status: NTSTATUS) {
    if let Some(f) = cb.func {
        // SAFETY: as in `request_complete`.
        unsafe { f(cb.ctx.ptr(), status) }
    }
}

/// `NDK_FN_SRQ_NOTIFICATION_CALLBACK`.
pub fn srq_notify(cb: Callback<NDK_FN_SRQ_NOTIFICATION_CALLBACK>, status: NTSTATUS) {
    if let Some(f) = cb.func {
        // SAFETY: as in `request_complete`.
        unsafe { f(cb.ctx.ptr(), status) }
    }
}

/// `NDK_FN_CONNECT_EVENT_CALLBACK`.
pub(crate) fn connect_event(
    cb: Callback<NDK_FN_CONNECT_EVENT_CALLBACK>,
    connector: *mut NDK_CONNECTOR,
) {
    if let Some(f) = cb.func {
        // SAFETY: as in `request_complete`; `connector` is a live connector we created.
        unsafe { f(cb.ctx.ptr(), connector) }
    }
}

/// Either flavour of disconnect callback (`NdkCompleteConnect`/`NdkAccept` or their 2.1
/// `Ex` forms that add a reason).
#[derive(Clone, Copy, Debug)]
pub enum DisconnectCallback {
    /// `NDK_FN_DISCONNECT_EVENT_CALLBACK`.
    Plain(Callback<NDK_FN_DISCONNECT_EVENT_CALLBACK>),
    /// `NDK_FN_DISCONNECT_EVENT_CALLBACK_EX`.
    Ex(Callback<NDK_FN_DISCONNECT_EVENT_CALLBACK_EX>),
}

/// Indicates a peer disconnect.
pub fn disconnect_event(cb: DisconnectCallback, reason: u32) {
    match cb {
        DisconnectCallback::Plain(Callback { func: Some(f), ctx }) => {
            // SAFETY: as in `request_complete`.
            unsafe { f(ctx.ptr()) }
        }
        DisconnectCallback::Ex(Callback { func: Some(f), ctx }) => {
            // SAFETY: as in `request_complete`.
            unsafe { f(ctx.ptr(), reason) }
        }
        _ => {}
    }
}
