//! Create and request operations that may complete later (ndkpi.md §4.11): the callbacks
//! waiting for a device command, and the one way every object finishes them.

use hal::{Cmd, CmdToken, HalResult, NicHal};

use crate::abi::*;
use crate::callback::{self, Callback};
use crate::device::Lock;
use crate::object::{self, Obj, ObjBody, TokenKind};
use crate::status;

/// Consumer callbacks waiting for an object's device command.
pub struct Pending<H: NicHal> {
    create: Lock<H, Option<Callback<NDK_FN_CREATE_COMPLETION>>>,
    request: Lock<H, Option<Callback<NDK_FN_REQUEST_COMPLETION>>>,
}

impl<H: NicHal> Pending<H> {
    /// Nothing pending.
    pub fn new() -> Pending<H> {
        Pending {
            create: Lock::<H, _>::new(None),
            request: Lock::<H, _>::new(None),
        }
    }
}

impl<H: NicHal> Default for Pending<H> {
    fn default() -> Self {
        Self::new()
    }
}

/// Objects whose commands go through [`Pending`].
pub trait HasPending<H: NicHal>: ObjBody {
    /// The object's pending callbacks.
    fn pending(&self) -> &Pending<H>;
}

/// Finishes a create whose device command was started with a `Create` token: returns the
/// object through `pp` (`STATUS_SUCCESS`), or parks the callback (`STATUS_PENDING`).
/// `start` runs the HAL command and stores the handles it returns in the body.
pub(crate) fn create<H, B, X>(
    obj: Obj<B>,
    cb: Callback<NDK_FN_CREATE_COMPLETION>,
    pp: *mut *mut X,
    start: impl FnOnce(&Obj<B>, CmdToken) -> HalResult<Cmd<()>>,
) -> NTSTATUS
where
    H: NicHal,
    B: HasPending<H>,
{
    *obj.body.pending().create.lock() = Some(cb);
    let token = object::token(&obj, TokenKind::Create);
    match start(&obj, token) {
        Err(e) => {
            drop(object::reclaim_token::<B>(token));
            status::from_hal(e)
        }
        Ok(Cmd::Done(())) => {
            drop(object::reclaim_token::<B>(token));
            *obj.body.pending().create.lock() = None;
            // SAFETY: `pp` is the create call's out parameter (checked non-null by the caller).
            unsafe { crate::edge::out(pp, object::publish(obj).cast::<X>()) };
            STATUS_SUCCESS
        }
        Ok(Cmd::Pending) => STATUS_PENDING,
    }
}

/// The device finished a pending create.
pub fn create_done<H: NicHal, B: HasPending<H>>(obj: Obj<B>, result: Result<(), NTSTATUS>) {
    let cb = obj.body.pending().create.lock().take();
    let Some(cb) = cb else { return };
    match result {
        Ok(()) => callback::create_complete(cb, STATUS_SUCCESS, object::publish(obj)),
        Err(s) => {
            // The object was never the consumer's: tear it down before telling.
            drop(obj);
            callback::create_complete(cb, s, core::ptr::null_mut());
        }
    }
}

/// Starts a request (register, resize, modify ...) that may pend; `STATUS_DEVICE_BUSY`
/// when one is already in flight on the object.
pub fn request<H, B, T>(
    obj: &Obj<B>,
    cb: Callback<NDK_FN_REQUEST_COMPLETION>,
    start: impl FnOnce(CmdToken) -> HalResult<Cmd<T>>,
    done: impl FnOnce(T),
) -> NTSTATUS
where
    H: NicHal,
    B: HasPending<H>,
{
    {
        let mut slot = obj.body.pending().request.lock();
        if slot.is_some() {
            return STATUS_DEVICE_BUSY;
        }
        *slot = Some(cb);
    }
    let token = object::token(obj, TokenKind::Request);
    match start(token) {
        Err(e) => {
            drop(object::reclaim_token::<B>(token));
            *obj.body.pending().request.lock() = None;
            status::from_hal(e)
        }
        Ok(Cmd::Done(v)) => {
            drop(object::reclaim_token::<B>(token));
            *obj.body.pending().request.lock() = None;
            done(v);
            STATUS_SUCCESS
        }
        Ok(Cmd::Pending) => STATUS_PENDING,
    }
}

/// The device finished a pending request.
pub fn request_done<H: NicHal, B: HasPending<H>>(obj: Obj<B>, status: NTSTATUS) {
    let cb = obj.body.pending().request.lock().take();
    // Drop our reference only after the consumer heard, so a close issued from the callback
    // completes after it returns (ndkpi.md §7.1).
    if let Some(cb) = cb {
        callback::request_complete(cb, status);
    }
    drop(obj);
}

/// Dispatches a finished command of an object using [`Pending`]: creates and requests.
pub fn command_complete<H: NicHal, B: HasPending<H>>(
    obj: Obj<B>,
    kind: TokenKind,
    result: Result<(), NTSTATUS>,
) {
    match kind {
        TokenKind::Create => create_done::<H, B>(obj, result),
        _ => request_done::<H, B>(obj, result.err().unwrap_or(STATUS_SUCCESS)),
    }
}
