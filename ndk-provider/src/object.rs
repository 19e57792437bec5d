//! The NDK object model: every object the consumer holds is an [`NdkObj`] in a [`KArc`],
//! with the public `NDK_xxx` (header + dispatch) at offset 0 so the consumer's pointer is
//! the allocation, and the provider's state recovered from that address, never from
//! `Dispatch` (ndkpi.md §2.4, §7.9).
//!
//! Lifetime (ndkpi.md §7.1): the consumer's handle is one reference; each successor (a QP
//! on its CQ, a connector on its listener ...), each pending command and each callback in
//! flight holds another. Close drops the consumer's reference; the object is torn down when
//! the last reference goes, and only then does the close complete: synchronously
//! (`STATUS_SUCCESS`) when that happened inside the close call, else through the close
//! completion callback. Dropping the body releases its references on antecedents, so an
//! antecedent's close completes after its successors' close callbacks returned.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use hal::{Cmd, CmdToken, CmdValue, HalError};

use crate::abi::*;
use crate::callback::{self, Callback, Ctx};
use crate::karc::{AllocError, Finalize, KArc, Last};

/// A provider object as the consumer sees it (`NDK_CQ`, `NDK_QP`, ...), generic over the
/// dispatch table type.
#[repr(C)]
struct NdkHead {
    header: NDK_OBJECT_HEADER,
    dispatch: *const c_void,
}

/// What each NDK object type implements.
pub trait ObjBody: Sized + Send + Sync + 'static {
    /// `NDK_OBJECT_TYPE` of the object.
    const TYPE: NDK_OBJECT_TYPE;

    /// Side effects of the consumer's close that must happen at once (flush, stop
    /// listening), before its reference is dropped.
    fn on_close(_obj: &Obj<Self>) {}

    /// Releases device resources when no reference is left; `Pending` parks the object
    /// until the device reports the token.
    fn teardown(&mut self, _token: CmdToken) -> Cmd<()> {
        Cmd::Done(())
    }

    /// A command this object started with [`token`] finished.
    fn command_complete(_obj: Obj<Self>, _kind: TokenKind, _result: Result<CmdValue, HalError>) {}
}

/// An NDK object and the provider state behind it.
#[repr(C)]
pub struct NdkObj<B> {
    head: UnsafeCell<NdkHead>,
    /// The close completion, kept as a pointer (not an integer) so it keeps its provenance.
    close_func: AtomicPtr<c_void>,
    close_ctx: AtomicUsize,
    closing: AtomicBool,
    /// The object's own state.
    pub body: B,
}

// SAFETY: `head` is written once before the object is published and afterwards only read
// by the provider at `Header.ObjectType`, which the consumer never writes (it may write
// `Dispatch` and `NdkReserved`, which the provider never reads again). Everything else is
// atomics or `B: Sync`.
unsafe impl<B: Sync> Sync for NdkObj<B> {}
// SAFETY: as above; the raw dispatch pointer refers to a `'static` table.
unsafe impl<B: Send> Send for NdkObj<B> {}

/// A counted reference to an NDK object.
pub type Obj<B> = KArc<NdkObj<B>>;

/// What a command token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A create that returned `STATUS_PENDING`; the token holds a reference.
    Create = 1,
    /// A teardown parked the object (count zero) until its destroy finishes.
    Destroy = 2,
    /// A request (register, resize, ...); the token holds a reference.
    Request = 3,
}

const TOKEN_KIND_MASK: u64 = 7;

impl<B: ObjBody> NdkObj<B> {
    /// The closing flag: set when the consumer called close.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn close_callback(&self) -> Option<Callback<NDK_FN_CLOSE_COMPLETION>> {
        if !self.is_closing() {
            return None;
        }
        let f = self.close_func.load(Ordering::Acquire);
        let func: NDK_FN_CLOSE_COMPLETION = if f.is_null() {
            None
        } else {
            // SAFETY: `f` was stored from a non-null `NDK_FN_CLOSE_COMPLETION` in `close`;
            // function and data pointers have the same size on every Windows target.
            Some(unsafe {
                core::mem::transmute::<*mut c_void, unsafe extern "system" fn(*mut c_void)>(f)
            })
        };
        Some(Callback {
            func,
            ctx: Ctx(self.close_ctx.load(Ordering::Acquire)),
        })
    }
}

impl<B: ObjBody> Finalize for NdkObj<B> {
    fn finalize(mut last: Last<Self>) {
        let raw = last.get() as *const NdkObj<B> as u64;
        let token = CmdToken(raw | TokenKind::Destroy as u64);
        match last.get_mut().body.teardown(token) {
            Cmd::Done(()) => finish_close(last),
            Cmd::Pending => {
                last.into_raw();
            }
        }
    }
}

/// Completes a close whose teardown finished: the close callback (when the consumer closed
/// the object), then the memory, whose drop releases the antecedents.
fn finish_close<B: ObjBody>(last: Last<NdkObj<B>>) {
    let cb = last.get().close_callback();
    if let Some(cb) = cb {
        callback::close_complete(cb);
    }
    drop(last);
}

/// Allocates an object with its public header filled in (ndkpi.md §2.3: version, type,
/// zeroed `NdkReserved`) and `Dispatch` set.
pub fn new_obj<B: ObjBody, D>(
    version: NDK_VERSION,
    dispatch: &'static D,
    body: B,
) -> Result<Obj<B>, AllocError> {
    KArc::try_new(NdkObj {
        head: UnsafeCell::new(NdkHead {
            header: NDK_OBJECT_HEADER {
                Version: version,
                ObjectType: B::TYPE,
                NdkReserved: NDK_OBJECT_HEADER_RESERVED_BLOCK {
                    rf: [core::ptr::null_mut(); 4],
                },
            },
            dispatch: dispatch as *const D as *const c_void,
        }),
        close_func: AtomicPtr::new(core::ptr::null_mut()),
        close_ctx: AtomicUsize::new(0),
        closing: AtomicBool::new(false),
        body,
    })
}

/// The consumer's pointer to an object.
pub fn header_ptr<B: ObjBody>(obj: &Obj<B>) -> *mut NDK_OBJECT_HEADER {
    KArc::as_ptr(obj).cast()
}

/// Hands a reference to the consumer and returns the pointer it will use.
pub fn publish<B: ObjBody>(obj: Obj<B>) -> *mut NDK_OBJECT_HEADER {
    KArc::into_raw(obj) as usize as *mut NDK_OBJECT_HEADER
}

/// A token for a command of `obj`: holds a reference until [`dispatch_token`] takes it.
pub fn token<B: ObjBody>(obj: &Obj<B>, kind: TokenKind) -> CmdToken {
    CmdToken(KArc::into_raw(obj.clone()) | kind as u64)
}

/// Takes back the reference a token held when the command did not pend after all.
pub fn reclaim_token<B: ObjBody>(token: CmdToken) -> Obj<B> {
    // SAFETY: tokens of kind Create/Request are made by `token` from a live `Obj<B>`, and the
    // caller reclaims it exactly once (the command failed or finished synchronously, so the
    // device will never report it).
    unsafe { KArc::from_raw(token.0 & !TOKEN_KIND_MASK) }
}

/// The NDK object type behind a token, to pick the Rust type to complete it with.
///
/// # Safety
/// `token` must have been made by [`token`] or a parked teardown and not completed yet.
pub unsafe fn token_object_type(token: CmdToken) -> NDK_OBJECT_TYPE {
    // SAFETY: the object is alive (the token holds it) and starts with NDK_OBJECT_HEADER,
    // whose ObjectType is at offset 4.
    unsafe { crate::karc::peek_i32(token.0 & !TOKEN_KIND_MASK, 4) }
}

/// Completes a device command for an object of type `B`.
///
/// # Safety
/// `token` must name an object of type `B` (checked by the caller with
/// [`token_object_type`]) and be reported by the device exactly once.
pub unsafe fn dispatch_token<B: ObjBody>(token: CmdToken, result: Result<CmdValue, HalError>) {
    let raw = token.0 & !TOKEN_KIND_MASK;
    match token.0 & TOKEN_KIND_MASK {
        2 => {
            // SAFETY: Destroy tokens come from `Last::into_raw` in `finalize`.
            let last = unsafe { Last::<NdkObj<B>>::from_raw(raw) };
            finish_close(last);
        }
        k => {
            let kind = if k == 1 {
                TokenKind::Create
            } else {
                TokenKind::Request
            };
            // SAFETY: Create/Request tokens hold a reference made by `token`.
            let obj = unsafe { KArc::<NdkObj<B>>::from_raw(raw) };
            B::command_complete(obj, kind, result);
        }
    }
}

/// The close protocol shared by every `NdkCloseXxx` (ndkpi.md §4.0, §7.1).
pub fn close<B: ObjBody>(obj: Obj<B>, cb: Callback<NDK_FN_CLOSE_COMPLETION>) -> NTSTATUS {
    obj.close_func.store(
        cb.func.map_or(core::ptr::null_mut(), |f| f as *mut c_void),
        Ordering::Release,
    );
    obj.close_ctx.store(cb.ctx.0, Ordering::Release);
    obj.closing.store(true, Ordering::Release);
    B::on_close(&obj);
    let Some(mut last) = KArc::release(obj) else {
        return STATUS_PENDING;
    };
    let raw = last.get() as *const NdkObj<B> as u64;
    match last
        .get_mut()
        .body
        .teardown(CmdToken(raw | TokenKind::Destroy as u64))
    {
        Cmd::Done(()) => {
            // Closed inside the call: no callback (ndkpi.md §3).
            drop(last);
            STATUS_SUCCESS
        }
        Cmd::Pending => {
            last.into_raw();
            STATUS_PENDING
        }
    }
}

/// A reference the consumer lent for the duration of one call: no count change, so the
/// fast path pays nothing. Clone it to keep the object beyond the call.
pub struct Borrowed<B: ObjBody>(ManuallyDrop<Obj<B>>);

impl<B: ObjBody> Deref for Borrowed<B> {
    type Target = Obj<B>;
    fn deref(&self) -> &Obj<B> {
        &self.0
    }
}

/// Recovers the object behind a consumer pointer; `None` for NULL or a pointer to another
/// object type.
///
/// # Safety
/// `p` must be NULL or a pointer this provider published (`NDK_xxx*` or its header) that
/// the consumer has not closed; the consumer keeps it open for the call (ndkpi.md §7.1).
pub unsafe fn borrow<B: ObjBody, P>(p: *mut P) -> Option<Borrowed<B>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a published object starts with NDK_OBJECT_HEADER (ObjectType at +4).
    let ty = unsafe { p.cast::<u8>().add(4).cast::<i32>().read() };
    if ty != B::TYPE {
        return None;
    }
    // SAFETY: `p` is the address of a live `KArc<NdkObj<B>>` allocation (type checked above);
    // ManuallyDrop keeps the count unchanged.
    Some(Borrowed(ManuallyDrop::new(unsafe {
        KArc::from_raw(p as usize as u64)
    })))
}

/// Takes over the consumer's reference (for close).
///
/// # Safety
/// As for [`borrow`]; the consumer gives up the pointer with this call.
pub unsafe fn take<B: ObjBody, P>(p: *mut P) -> Option<Obj<B>> {
    // SAFETY: forwarded contract.
    let b = unsafe { borrow::<B, P>(p) }?;
    Some(ManuallyDrop::into_inner(b.0))
}

/// `NdkCloseXxx` (slot 0 of every table but the adapter's).
///
/// # Safety
/// Called by the consumer through a dispatch table with an object it owns.
pub unsafe extern "system" fn ndk_close<B: ObjBody>(
    p: *mut NDK_OBJECT_HEADER,
    cb: NDK_FN_CLOSE_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open object of this table's type, given up here.
    match unsafe { take::<B, _>(p) } {
        Some(obj) => close(
            obj,
            Callback {
                func: cb,
                ctx: Ctx::from_ptr(ctx),
            },
        ),
        None => STATUS_INVALID_PARAMETER,
    }
}

/// `NdkQueryExtension`: no standard extensions exist (ndkpi.md §2.5).
///
/// # Safety
/// Called by the consumer through a dispatch table.
pub unsafe extern "system" fn ndk_query_extension(
    _p: *mut NDK_OBJECT_HEADER,
    _id: *mut GUID,
    _version: NDK_VERSION,
    _out: *mut NDK_EXTENSION_INTERFACE,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}
