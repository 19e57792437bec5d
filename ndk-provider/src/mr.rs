//! `NDK_MR`: memory regions registered from MDLs or by fast-register work requests, and
//! their tokens (ndkpi.md §4.4, §7.6).

use alloc::vec::Vec;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, Ordering};

use hal::{Access, Cmd, CmdToken, CmdValue, HalError, MrKind, NicHal, Platform, Registration};

use crate::abi::*;
use crate::adapter::request_cb;
use crate::device::Lock;
use crate::object::{borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody, TokenKind};
use crate::pd::{Pd, PdBody};
use crate::pending::{self, HasPending, Pending};
use crate::{edge, status};

#[derive(Clone, Copy, Debug)]
enum MrOp {
    Register { va: u64, len: u64, access: Access },
    Deregister,
    InitFastRegister { pages: u32, remote: bool },
}

#[derive(Default)]
struct MrState {
    /// Range and rights of a completed `NdkRegisterMr`.
    registered: Option<(u64, u64, Access)>,
    /// Limits of a completed `NdkInitializeFastRegisterMr`.
    fast: Option<(u32, bool)>,
    /// The request in flight.
    op: Option<MrOp>,
}

/// Memory region state.
pub struct MrBody<H: NicHal> {
    pd: Pd<H>,
    kind: MrKind,
    hal: Lock<H, Option<H::Mr>>,
    /// `lkey << 32 | rkey`, readable without a lock by the token getters and posts.
    keys: AtomicU64,
    state: Lock<H, MrState>,
    pending: Pending<H>,
}

impl<H: NicHal> ObjBody for MrBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeMr;
    fn teardown(&mut self, _token: CmdToken) -> Cmd<()> {
        if let Some(mr) = self.hal.get_mut().take() {
            self.pd.body.adapter.body.dev.hal().free_mr(mr);
        }
        Cmd::Done(())
    }
    fn command_complete(obj: Obj<Self>, kind: TokenKind, result: Result<CmdValue, HalError>) {
        let op = obj.body.state.lock().op.take();
        if let (Ok(v), Some(op)) = (result, op) {
            obj.body.finish(op, v);
        }
        pending::command_complete::<H, Self>(
            obj,
            kind,
            result.map(|_| ()).map_err(status::from_hal),
        );
    }
}

impl<H: NicHal> HasPending<H> for MrBody<H> {
    fn pending(&self) -> &Pending<H> {
        &self.pending
    }
}

/// A reference to an MR.
pub type Mr<H> = Obj<MrBody<H>>;

impl<H: NicHal> MrBody<H> {
    /// Local token (SGE `MemoryRegionToken`).
    pub fn lkey(&self) -> u32 {
        (self.keys.load(Ordering::Acquire) >> 32) as u32
    }

    /// Remote token.
    pub fn rkey(&self) -> u32 {
        self.keys.load(Ordering::Acquire) as u32
    }

    /// `(virtual address, length, rights)` of a host registration.
    pub fn registered_range(&self) -> Option<(u64, u64, Access)> {
        self.state.lock().registered
    }

    /// `(page count, remote access allowed)` of a fast-register MR ready for FastRegister.
    pub fn fast_register_limits(&self) -> Option<(u32, bool)> {
        self.state.lock().fast
    }

    fn finish(&self, op: MrOp, v: CmdValue) {
        let mut st = self.state.lock();
        match (op, v) {
            (MrOp::Register { va, len, access }, CmdValue::Keys(l, r)) => {
                self.keys
                    .store(u64::from(l) << 32 | u64::from(r), Ordering::Release);
                st.registered = Some((va, len, access));
            }
            (MrOp::InitFastRegister { pages, remote }, CmdValue::Keys(l, r)) => {
                self.keys
                    .store(u64::from(l) << 32 | u64::from(r), Ordering::Release);
                st.fast = Some((pages, remote));
            }
            (MrOp::Deregister, _) => st.registered = None,
            _ => {}
        }
    }

    /// Starts `op` through `pending::request`, remembering it for a pending completion.
    fn start(
        obj: &Mr<H>,
        op: MrOp,
        cb: Callback,
        cmd: impl FnOnce(&H, &H::Mr, CmdToken) -> hal::HalResult<Cmd<CmdValue>>,
    ) -> NTSTATUS {
        {
            let mut st = obj.body.state.lock();
            if st.op.is_some() {
                return STATUS_DEVICE_BUSY;
            }
            st.op = Some(op);
        }
        let hal = obj.body.pd.body.adapter.body.dev.hal();
        let s = pending::request::<H, _, _>(
            obj,
            cb,
            |token| match obj.body.hal.lock().as_ref() {
                Some(mr) => cmd(hal, mr, token),
                None => Err(HalError::InvalidState),
            },
            |v| obj.body.finish(op, v),
        );
        if s != STATUS_PENDING {
            obj.body.state.lock().op = None;
        }
        s
    }
}

type Callback = crate::callback::Callback<NDK_FN_REQUEST_COMPLETION>;

fn keys(c: Cmd<(u32, u32)>) -> Cmd<CmdValue> {
    match c {
        Cmd::Done((l, r)) => Cmd::Done(CmdValue::Keys(l, r)),
        Cmd::Pending => Cmd::Pending,
    }
}

fn unit(c: Cmd<()>) -> Cmd<CmdValue> {
    match c {
        Cmd::Done(()) => Cmd::Done(CmdValue::Unit),
        Cmd::Pending => Cmd::Pending,
    }
}

/// The MR dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_MR_DISPATCH` (ndkpi.md §4.4).
    pub const DISPATCH: NDK_MR_DISPATCH = NDK_MR_DISPATCH {
        NdkCloseMr: ndk_close::<MrBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkRegisterMr: register_mr::<H>,
        NdkDeregisterMr: deregister_mr::<H>,
        NdkInitializeFastRegisterMr: init_fast_register::<H>,
        NdkGetRemoteTokenFromMr: remote_token::<H>,
        NdkGetLocalTokenFromMr: local_token::<H>,
    };
}

/// `NdkCreateMr` (a PD slot). Key allocation is host-side bookkeeping in the HAL, so this
/// never pends.
pub unsafe extern "system" fn ndk_create_mr<H: NicHal>(
    p: *mut NDK_PD,
    fast_register: u8,
    _cb: NDK_FN_CREATE_COMPLETION,
    _ctx: *mut c_void,
    pp: *mut *mut NDK_MR,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open PD.
    let Some(pd) = (unsafe { borrow::<PdBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if pp.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let kind = if fast_register != 0 {
        MrKind::FastRegister
    } else {
        MrKind::Registered
    };
    let body = MrBody {
        pd: (*pd).clone(),
        kind,
        hal: Lock::<H, _>::new(None),
        keys: AtomicU64::new(0),
        state: Lock::<H, _>::new(MrState::default()),
        pending: Pending::new(),
    };
    let Ok(obj) = new_obj(pd.body.adapter.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    let hal = pd.body.adapter.body.dev.hal();
    let mr = match pd.body.hal.lock().as_ref() {
        Some(pd_h) => hal.alloc_mr(pd_h, kind),
        None => Err(HalError::InvalidState),
    };
    match mr {
        Ok(mr) => *obj.body.hal.lock() = Some(mr),
        Err(e) => return status::from_hal(e),
    }
    // SAFETY: `pp` is the non-null out parameter.
    unsafe { edge::out(pp, crate::object::publish(obj).cast()) };
    STATUS_SUCCESS
}

/// Rights named by `NDK_MR_FLAG_*`.
fn mr_access(flags: u32) -> Access {
    let mut a = Access::MW_BIND;
    a.set(
        Access::LOCAL_WRITE,
        flags & NDK_MR_FLAG_ALLOW_LOCAL_WRITE != 0,
    );
    a.set(
        Access::REMOTE_READ,
        flags & NDK_MR_FLAG_ALLOW_REMOTE_READ != 0,
    );
    a.set(
        Access::REMOTE_WRITE,
        flags & NDK_MR_FLAG_ALLOW_REMOTE_WRITE == NDK_MR_FLAG_ALLOW_REMOTE_WRITE,
    );
    a.set(Access::READ_SINK, flags & NDK_MR_FLAG_RDMA_READ_SINK != 0);
    a
}

unsafe extern "system" fn register_mr<H: NicHal>(
    p: *mut NDK_MR,
    mdl: *mut MDL,
    length: usize,
    flags: u32,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open MR.
    let Some(mr) = (unsafe { borrow::<MrBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let hal = mr.body.pd.body.adapter.body.dev.hal();
    if mr.body.kind != MrKind::Registered
        || flags
            & !(NDK_MR_FLAG_ALLOW_REMOTE_WRITE
                | NDK_MR_FLAG_ALLOW_REMOTE_READ
                | NDK_MR_FLAG_RDMA_READ_SINK)
            != 0
        || length as u64 > hal.caps().max_registration_size
    {
        return STATUS_INVALID_PARAMETER;
    }
    if mr.body.state.lock().registered.is_some() {
        return STATUS_INVALID_DEVICE_STATE;
    }
    // SAFETY: NDKPI contract: a locked MDL the consumer leaves alone while we use it.
    let mut pages = match unsafe { edge::mdl_pages(mdl, length) } {
        Ok(p) => p,
        Err(edge::MdlError::Invalid) => return STATUS_INVALID_PARAMETER,
        Err(edge::MdlError::NoMemory) => return STATUS_INSUFFICIENT_RESOURCES,
    };
    // ndkpi.md §7.6: zero-based virtual addresses are not supported.
    if pages.va == 0 {
        return STATUS_INVALID_PARAMETER;
    }
    let platform = hal.platform();
    for pfn in pages.pfns.iter_mut() {
        *pfn = platform.page_logical_address(*pfn);
    }
    let logical: Vec<u64> = pages.pfns;
    let access = mr_access(flags);
    let op = MrOp::Register {
        va: pages.va,
        len: length as u64,
        access,
    };
    let reg = Registration {
        pages: &logical,
        first_byte_offset: pages.first_byte_offset,
        iova: pages.va,
        length: length as u64,
        access,
    };
    MrBody::start(&mr, op, request_cb(cb, ctx), |hal, m, token| {
        hal.register_mr(m, &reg, token).map(keys)
    })
}

unsafe extern "system" fn deregister_mr<H: NicHal>(
    p: *mut NDK_MR,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open MR.
    let Some(mr) = (unsafe { borrow::<MrBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if mr.body.state.lock().registered.is_none() {
        return STATUS_INVALID_DEVICE_STATE;
    }
    MrBody::start(
        &mr,
        MrOp::Deregister,
        request_cb(cb, ctx),
        |hal, m, token| hal.deregister_mr(m, token).map(unit),
    )
}

unsafe extern "system" fn init_fast_register<H: NicHal>(
    p: *mut NDK_MR,
    page_count: u32,
    remote: u8,
    cb: NDK_FN_REQUEST_COMPLETION,
    ctx: *mut c_void,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open MR.
    let Some(mr) = (unsafe { borrow::<MrBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if mr.body.kind != MrKind::FastRegister {
        return STATUS_INVALID_PARAMETER;
    }
    let max = mr
        .body
        .pd
        .body
        .adapter
        .body
        .dev
        .hal()
        .caps()
        .max_frmr_page_count;
    if page_count == 0 || page_count > max {
        return STATUS_IMPLEMENTATION_LIMIT;
    }
    let remote = remote != 0;
    let op = MrOp::InitFastRegister {
        pages: page_count,
        remote,
    };
    MrBody::start(&mr, op, request_cb(cb, ctx), |hal, m, token| {
        hal.init_fast_register(m, page_count, remote, token)
            .map(keys)
    })
}

unsafe extern "system" fn remote_token<H: NicHal>(p: *mut NDK_MR) -> u32 {
    // SAFETY: NDKPI contract: `p` is an open MR.
    unsafe { borrow::<MrBody<H>, _>(p) }.map_or(0, |m| m.body.rkey())
}

unsafe extern "system" fn local_token<H: NicHal>(p: *mut NDK_MR) -> u32 {
    // SAFETY: NDKPI contract: `p` is an open MR.
    unsafe { borrow::<MrBody<H>, _>(p) }.map_or(0, |m| m.body.lkey())
}
