//! `NDK_SHARED_ENDPOINT`: an explicit local address:port that many outbound connections to
//! different remote addresses use (ndkpi.md §4.1, §4.10, §7.2).
//!
//! Each connector connected through it (`NdkConnectWithSharedEndpoint`) holds a reference
//! to the object and one on its port, so the close stays pending, and the port busy, until
//! those connectors are closed (ndkpi.md §7.1, §7.2).

use alloc::vec::Vec;
use core::ffi::c_void;
use core::net::SocketAddr;

use hal::NicHal;

use crate::abi::*;
use crate::adapter::{Adapter, AdapterBody};
use crate::device::Lock;
use crate::edge;
use crate::endpoint::{self, PortRef};
use crate::object::{self, borrow, ndk_close, ndk_query_extension, new_obj, Obj, ObjBody};

/// Shared endpoint state.
pub struct SharedEndpointBody<H: NicHal> {
    adapter: Adapter<H>,
    /// The endpoint's own reference on its address:port; set once right after creation.
    port: Lock<H, Option<PortRef>>,
    /// Remote addresses of the connectors through this endpoint: one connection per
    /// 4-tuple (ndkpi.md §4.8, `STATUS_ADDRESS_ALREADY_EXISTS`).
    peers: Lock<H, Vec<SocketAddr>>,
}

/// A reference to a shared endpoint.
pub type SharedEndpoint<H> = Obj<SharedEndpointBody<H>>;

impl<H: NicHal> ObjBody for SharedEndpointBody<H> {
    const TYPE: NDK_OBJECT_TYPE = NdkObjectTypeSharedEndpoint;

    fn teardown(&mut self, _token: hal::CmdToken) -> hal::Cmd<()> {
        let key = self as *const Self as u64;
        self.adapter.body.dev.activity.endpoint_released(key);
        if let Some(p) = self.port.get_mut().take() {
            p.release(&self.adapter.body.dev.ports);
        }
        hal::Cmd::Done(())
    }
}

fn same_peer(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

impl<H: NicHal> SharedEndpointBody<H> {
    /// The adapter the endpoint was created on.
    pub fn adapter(&self) -> &Adapter<H> {
        &self.adapter
    }

    /// The bound local address (with the port chosen for port 0).
    pub fn local_address(&self) -> Option<SocketAddr> {
        self.port.lock().as_ref().map(PortRef::addr)
    }

    /// A connector through this endpoint to `remote`: a new reference on the port
    /// (ndkpi.md §7.2), or `STATUS_ADDRESS_ALREADY_EXISTS` when another connector through it
    /// already goes to `remote` (the 4-tuple is in use, ndkpi.md §4.8).
    pub fn claim(&self, remote: &SocketAddr) -> Result<PortRef, NTSTATUS> {
        let mut peers = self.peers.lock();
        if peers.iter().any(|p| same_peer(p, remote)) {
            return Err(STATUS_ADDRESS_ALREADY_EXISTS);
        }
        peers
            .try_reserve(1)
            .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        let port = {
            let own = self.port.lock();
            own.as_ref()
                .ok_or(STATUS_INVALID_DEVICE_STATE)?
                .share(&self.adapter.body.dev.ports)?
        };
        peers.push(*remote);
        Ok(port)
    }

    /// Undoes [`SharedEndpointBody::claim`] for `remote` (the caller releases the port
    /// reference it got).
    pub fn forget(&self, remote: &SocketAddr) {
        let mut peers = self.peers.lock();
        if let Some(i) = peers.iter().position(|p| same_peer(p, remote)) {
            peers.swap_remove(i);
        }
    }
}

/// The shared endpoint dispatch table for one HAL type.
pub struct Table<H>(core::marker::PhantomData<H>);

impl<H: NicHal> Table<H> {
    /// `NDK_SHARED_ENDPOINT_DISPATCH` (ndkpi.md §4.10).
    pub const DISPATCH: NDK_SHARED_ENDPOINT_DISPATCH = NDK_SHARED_ENDPOINT_DISPATCH {
        NdkCloseSharedEndpoint: ndk_close::<SharedEndpointBody<H>>,
        NdkQueryExtension: ndk_query_extension,
        NdkGetLocalAddress: get_local_address::<H>,
    };
}

/// `NdkCreateSharedEndpoint` (ndkpi.md §4.1): binds a local address:port (port 0 →
/// ephemeral). Errors: `STATUS_INVALID_ADDRESS` (not this adapter's address, or the
/// unspecified address), `STATUS_SHARING_VIOLATION`, `STATUS_TOO_MANY_ADDRESSES`,
/// `STATUS_INSUFFICIENT_RESOURCES`. Port binding is host bookkeeping, so it never pends.
pub unsafe extern "system" fn ndk_create_shared_endpoint<H: NicHal>(
    p: *mut NDK_ADAPTER,
    addr: *const SOCKADDR,
    len: u32,
    _cb: NDK_FN_CREATE_COMPLETION,
    _ctx: *mut c_void,
    pp: *mut *mut NDK_SHARED_ENDPOINT,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open adapter.
    let Some(a) = (unsafe { borrow::<AdapterBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: NDKPI contract: `addr` points to `len` readable bytes.
    let Some(addr) = (unsafe { edge::sockaddr(addr, len) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    if pp.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let body = SharedEndpointBody {
        adapter: (*a).clone(),
        port: Lock::<H, _>::new(None),
        peers: Lock::<H, _>::new(Vec::new()),
    };
    // The object first, so a failed allocation cannot strand a bound port.
    let Ok(obj) = new_obj(a.body.version, &Table::<H>::DISPATCH, body) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    if let Err(s) = a.body.dev.activity.reserve_endpoint() {
        return s;
    }
    match endpoint::bind(&a.body.dev, addr, false) {
        Ok(port) => {
            // Listed for OID_NDK_LOCAL_ENDPOINTS until teardown (ndkpi.md §8.4).
            let key = &obj.body as *const SharedEndpointBody<H> as u64;
            a.body.dev.activity.endpoint_bound(key, port.addr(), false);
            *obj.body.port.lock() = Some(port);
        }
        Err(s) => return s,
    }
    // SAFETY: `pp` is the non-null out parameter.
    unsafe { edge::out(pp, object::publish(obj).cast()) };
    STATUS_SUCCESS
}

/// `NdkGetLocalAddress` of a shared endpoint (ndkpi.md §4.10).
unsafe extern "system" fn get_local_address<H: NicHal>(
    p: *mut NDK_SHARED_ENDPOINT,
    addr: *mut SOCKADDR,
    len: *mut u32,
) -> NTSTATUS {
    // SAFETY: NDKPI contract: `p` is an open shared endpoint.
    let Some(se) = (unsafe { borrow::<SharedEndpointBody<H>, _>(p) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let Some(a) = se.body.local_address() else {
        return STATUS_INVALID_DEVICE_STATE;
    };
    // SAFETY: NDKPI contract: `addr` has `*len` writable bytes; `len` is in/out.
    unsafe { edge::write_sockaddr(addr, len, &a) }
}
