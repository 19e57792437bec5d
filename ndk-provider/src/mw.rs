//! `NDK_MW`: memory windows, bound over an MR with `NdkBind` (ndkpi.md §4.5, §7.6).

use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, Ordering};

use hal::{Cmd, CmdToken, HalError, NicHal};

use crate::abi::*;
use crate::device::Lock;
use crate::mr::Mr;
use crate::object::{borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody};
use crate::pd::{Pd, PdBody};
use crate::{edge, status};

/// Memory window state.
pub struct MwBody<H: NicHal> {
    pd: Pd<H>,
    hal: Lock<H, Option<H::Mw>>,
    /// Remote token, fixed at allocation; valid once a bind call returned.
    rkey: AtomicU32,
    /// The MR the window is bound over: an antecedent while bound (ndkpi.md §7.1).
    bound: Lock<H, Option<Mr<H>>>,
}

impl<H: NicHal> ObjBody for MwBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeMw;
    fn teardown(&mut self, _token: CmdToken) -> Cmd<()> {
        if let Some(mw) = self.hal.get_mut().take() {
            self.pd.body.adapter.body.dev.hal().free_mw(mw);
        }
        Cmd::Done(())
    }
}

impl<H: NicHal> MwBody<H> {
    /// The window's remote token.
    pub fn rkey(&self) -> u32 {
        self.rkey.load(Ordering::Acquire)
    }

    /// Records the MR a bind or invalidate left the window on.
    pub fn set_bound(&self, mr: Option<Mr<H>>) {
        let old = core::mem::replace(&mut *self.bound.lock(), mr);
        // Dropped outside the lock: it may be the MR's last reference.
        drop(old);
    }
}

/// A reference to an MW.
pub type Mw<H> = Obj<MwBody<H>>;

/// The MW dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_MW_DISPATCH` (ndkpi.md §4.5).
    pub const DISPATCH: NDK_MW_DISPATCH = NDK_MW_DISPATCH {
        NdkCloseMw: ndk_close::<MwBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkGetRemoteTokenFromMw: remote_token::<H>,
    };
}

/// `NdkCreateMw` (a PD slot); never pends.
pub unsafe extern "system" fn ndk_create_mw<H: NicHal>(
    p: *mut NDK_PD,
    _cb: NDK_FN_CREATE_COMPLETION,
    _ctx: *mut c_void,
    pp: *mut *mut NDK_MW,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open PD.
    let Some(pd) = (unsafe { borrow::<PdBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if pp.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // The object first, so a device window never outlives a failed allocation.
    let body = MwBody {
        pd: (*pd).clone(),
        hal: Lock::<H, _>::new(None),
        rkey: AtomicU32::new(0),
        bound: Lock::<H, _>::new(None),
    };
    let Ok(obj) = new_obj(pd.body.adapter.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    let hal = pd.body.adapter.body.dev.hal();
    let allocated = match pd.body.hal.lock().as_ref() {
        Some(pd_h) => hal.alloc_mw(pd_h),
        None => Err(HalError::InvalidState),
    };
    match allocated {
        Ok((mw, rkey)) => {
            *obj.body.hal.lock() = Some(mw);
            obj.body.rkey.store(rkey, Ordering::Release);
        }
        Err(e) => return status::from_hal(e),
    }
    // SAFETY: `pp` is the non-null out parameter.
    unsafe { edge::out(pp, crate::object::publish(obj).cast()) };
    STATUS_SUCCESS
}

unsafe extern "system" fn remote_token<H: NicHal>(p: *mut NDK_MW) -> u32 {
    // SAFETY: NDKPI contract: `p` is an open MW.
    unsafe { borrow::<MwBody<H>, _>(p) }.map_or(0, |m| m.body.rkey())
}
