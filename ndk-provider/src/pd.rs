//! `NDK_PD`: a protection domain; creates MRs, MWs, SRQs and QPs (ndkpi.md §4.2).

use core::ffi::c_void;

use hal::{Cmd, CmdToken, NicHal};

use crate::abi::*;
use crate::adapter::{Adapter, AdapterBody};
use crate::device::Lock;
use crate::object::{self, borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody};
use crate::{mr, mw, qp, srq, status};

/// Protection domain state.
pub struct PdBody<H: NicHal> {
    /// Parent.
    pub adapter: Adapter<H>,
    /// Device handle; `None` only after teardown.
    pub hal: Lock<H, Option<H::Pd>>,
}

impl<H: NicHal> ObjBody for PdBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypePd;
    fn teardown(&mut self, _token: CmdToken) -> Cmd<()> {
        if let Some(pd) = self.hal.get_mut().take() {
            self.adapter.body.dev.hal().destroy_pd(pd);
        }
        Cmd::Done(())
    }
}

/// A reference to a PD.
pub type Pd<H> = Obj<PdBody<H>>;

/// The PD dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_PD_DISPATCH` (ndkpi.md §4.2).
    pub const DISPATCH: NDK_PD_DISPATCH = NDK_PD_DISPATCH {
        NdkClosePd: ndk_close::<PdBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkCreateMr: mr::ndk_create_mr::<H>,
        NdkCreateMw: mw::ndk_create_mw::<H>,
        NdkCreateSrq: srq::ndk_create_srq::<H>,
        NdkCreateQp: qp::ndk_create_qp::<H>,
        NdkCreateQpWithSrq: qp::ndk_create_qp_with_srq::<H>,
        NdkGetPrivilegedMemoryRegionToken: get_privileged_token::<H>,
    };
}

/// `NdkCreatePd`. PD allocation is a host-side number on every NIC we know, so the HAL call
/// is synchronous and this never pends.
pub unsafe extern "system" fn ndk_create_pd<H: NicHal>(
    p: *mut NDK_ADAPTER,
    _cb: NDK_FN_CREATE_COMPLETION,
    _ctx: *mut c_void,
    pp: *mut *mut NDK_PD,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open adapter.
    let Some(a) = (unsafe { borrow::<AdapterBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if pp.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let body = PdBody {
        adapter: (*a).clone(),
        hal: Lock::<H, _>::new(None),
    };
    let Ok(obj) = new_obj(a.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    match a.body.dev.hal().create_pd() {
        Ok(pd) => *obj.body.hal.lock() = Some(pd),
        Err(e) => return status::from_hal(e),
    }
    // SAFETY: `pp` is the non-null out parameter.
    unsafe { crate::edge::out(pp, object::publish(obj).cast()) };
    STATUS_SUCCESS
}

unsafe extern "system" fn get_privileged_token<H: NicHal>(p: *mut NDK_PD, token: *mut u32) {
    // SAFETY: NDKPI contract: `p` is an open PD.
    if let Some(pd) = unsafe { borrow::<PdBody<H>, _>(p) } {
        // SAFETY: `token` is the out parameter.
        unsafe { crate::edge::out(token, pd.body.adapter.body.dev.hal().privileged_lkey()) };
    }
}
