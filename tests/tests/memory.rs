//! Memory through the dispatch tables, the rules that need the mock NIC's scripting or its
//! particular capabilities (ndkpi.md §4.4): MR and MW creation failures, refusals before the
//! device, pending registration and the read-sink flag. LAMs, the privileged token, MR
//! tokens, windows, fast registration and invalidation are in the conformance suite
//! (`conformance/memory.rs`).

use std::ffi::c_void;
use std::ptr::null_mut;

use hal::mock::{Fabric, HostBuffer, MockCall, MockOp};
use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

// --- NdkCreateMr / NdkCreateMw / NdkRegisterMr / NdkDeregisterMr / FR init ---------------

#[test]
fn create_mr_and_mw_return_typed_objects_and_refuse_a_null_out_parameter() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.2.0.1");
    let rec = Recorder::new();
    let pd = make::pd(&n);
    let mr = create_mr(&n, pd, false);
    let fr = create_mr(&n, pd, true);
    let mw = create_mw(&n, pd);
    for (o, ty) in [
        (mr.cast::<c_void>(), NdkObjectTypeMr),
        (fr.cast(), NdkObjectTypeMr),
        (mw.cast(), NdkObjectTypeMw),
    ] {
        // SAFETY: the object is live; its header is its first field.
        let h = unsafe { (o as *const NDK_OBJECT_HEADER).read() };
        assert_eq!(h.ObjectType, ty);
    }
    let live = n.nic.live_objects();
    assert_eq!((live.mr, live.mw), (2, 1));
    // SAFETY: consumer calls on an open PD.
    unsafe {
        let t: &NDK_PD_DISPATCH = table(pd);
        assert_eq!(
            (t.NdkCreateMr)(pd, 0, None, null_mut(), null_mut()),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (t.NdkCreateMw)(pd, None, null_mut(), null_mut()),
            STATUS_INVALID_PARAMETER
        );
        n.nic.fail_next(MockOp::AllocMr, hal::HalError::NoResources);
        let mut m = null_mut();
        assert_eq!(
            (t.NdkCreateMr)(pd, 0, None, null_mut(), &mut m),
            STATUS_INSUFFICIENT_RESOURCES
        );
        assert!(m.is_null());
        n.nic.fail_next(MockOp::AllocMw, hal::HalError::NoResources);
        let mut w = null_mut();
        assert_eq!(
            (t.NdkCreateMw)(pd, None, null_mut(), &mut w),
            STATUS_INSUFFICIENT_RESOURCES
        );
        assert!(w.is_null());
    }
    for o in [mw.cast::<c_void>(), fr.cast(), mr.cast(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
    assert!(rec.take().is_empty());
    assert_eq!(n.nic.live_objects(), hal::mock::LiveObjects::default());
}

#[test]
fn register_mr_on_a_fast_register_mr_is_invalid_parameter() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.2.0.1");
    let rec = Recorder::new();
    let pd = make::pd(&n);
    let fr = create_mr(&n, pd, true);
    let buf = HostBuffer::new(4096);
    let mut mdl = TestMdl::new(buf.addr(), 4096);
    assert_eq!(
        register(&n, fr, &mut mdl, 4096, NDK_MR_FLAG_ALLOW_LOCAL_WRITE),
        STATUS_INVALID_PARAMETER
    );
    assert!(
        !n.nic
            .calls()
            .iter()
            .any(|c| matches!(c, MockCall::RegisterMr { .. })),
        "refused before reaching the device"
    );
    for o in [fr.cast::<c_void>(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
}

#[test]
fn pending_register_mr_completes_once_through_the_callback_with_valid_tokens() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.2.0.1");
    let rec = Recorder::new();
    let pd = make::pd(&n);
    let mr = create_mr(&n, pd, false);
    let buf = HostBuffer::new(4096);
    let mut mdl = TestMdl::new(buf.addr(), 4096);
    n.nic.pend(MockOp::RegisterMr);
    // SAFETY: consumer calls on an open MR.
    unsafe {
        let t = mrt(mr);
        let s = (t.NdkRegisterMr)(
            mr,
            mdl.as_ptr(),
            4096,
            NDK_MR_FLAG_ALLOW_LOCAL_WRITE,
            Some(on_request),
            rec.ctx(),
        );
        assert_eq!(s, STATUS_PENDING);
        // One request at a time on an MR.
        let s = (t.NdkDeregisterMr)(mr, Some(on_request), rec.ctx());
        assert_ne!(s, STATUS_SUCCESS);
        assert_ne!(s, STATUS_PENDING);
    }
    n.pump();
    assert!(rec.take().is_empty(), "not before the device completes");
    n.nic.complete_pending();
    n.pump();
    assert_eq!(rec.take(), vec![Event::Request(STATUS_SUCCESS)]);
    n.pump();
    assert!(rec.take().is_empty(), "exactly one completion");
    let (l, r) = tokens(mr);
    assert_ne!((l, r), (0, 0));
    n.nic.unpend(MockOp::RegisterMr);
    assert_eq!(deregister(&n, mr), STATUS_SUCCESS);
    for o in [mr.cast::<c_void>(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
}

#[test]
fn register_mr_accepts_the_read_sink_flag_when_the_adapter_does_not_require_it() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.2.0.1");
    let rec = Recorder::new();
    let mut size = 0x68u32;
    // SAFETY: consumer call with a buffer of the size given.
    let info = unsafe {
        let mut info = std::mem::zeroed::<NDK_ADAPTER_INFO>();
        let s = (n.a().NdkQueryAdapterInfo)(n.adapter, &mut info, &mut size);
        assert_eq!(s, STATUS_SUCCESS);
        info
    };
    assert_ne!(
        info.AdapterFlags & NDK_ADAPTER_FLAG_RDMA_READ_SINK_NOT_REQUIRED,
        0
    );
    let pd = make::pd(&n);
    let mr = create_mr(&n, pd, false);
    let buf = HostBuffer::new(4096);
    let mut mdl = TestMdl::new(buf.addr(), 4096);
    let flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_RDMA_READ_SINK;
    assert_eq!(register(&n, mr, &mut mdl, 4096, flags), STATUS_SUCCESS);
    assert_eq!(deregister(&n, mr), STATUS_SUCCESS);
    for o in [mr.cast::<c_void>(), pd.cast()] {
        assert_eq!(make::close(o, &rec), STATUS_SUCCESS);
    }
}
