//! Object creation, close ordering, pending creates and CQ notifications, driven through the
//! dispatch tables (ndkpi.md §1.2, §2, §4, §7.1, §7.4).

use std::ffi::c_void;
use std::ptr::null_mut;

use hal::mock::{Fabric, MockOp};
use hal::{Completion, HalError, WcOpcode, WcStatus};
use ndk_provider::abi::*;
use ndk_provider::{adapter, Device};
use ndk_tests::make::{self, close};
use ndk_tests::*;

fn header(p: *mut c_void) -> NDK_OBJECT_HEADER {
    // SAFETY: `p` is a live NDK object; the header is its first field.
    unsafe { (p as *const NDK_OBJECT_HEADER).read() }
}

fn poll_ex(cq: *mut NDK_CQ) -> Vec<NDK_RESULT_EX> {
    let mut out: Vec<NDK_RESULT_EX> = Vec::with_capacity(16);
    // SAFETY: consumer call with a 16-entry buffer.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(cq);
        let n = (t.NdkGetCqResultsEx)(cq, out.as_mut_ptr(), 16);
        out.set_len(n as usize);
    }
    out
}

fn completion(wr_id: u64, status: WcStatus, opcode: WcOpcode) -> Completion {
    Completion {
        wr_id,
        qp_context: 0x77,
        status,
        opcode,
        byte_len: 5,
        invalidated_rkey: 0xABCD,
        vendor_error: 0,
    }
}

#[test]
fn open_adapter_runs_at_the_highest_minor_of_the_requested_major() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    for (req, want) in [
        ((1, 1), Ok((1, 2))),
        ((1, 2), Ok((1, 2))),
        ((2, 0), Ok((2, 1))),
        ((1, 3), Err(())),
        ((3, 0), Err(())),
    ] {
        let got = adapter::open(&n.dev, NDK_VERSION::new(req.0, req.1));
        match (got, want) {
            (Ok(a), Ok(v)) => {
                let h = header(a.cast());
                assert_eq!((h.Version.Major, h.Version.Minor), v);
                assert_eq!(h.ObjectType, NdkObjectTypeAdapter);
                // SAFETY: opened just above, no children.
                unsafe { adapter::close::<hal::mock::MockNic>(a) };
            }
            (Err(s), Err(())) => assert_eq!(s, NDIS_STATUS_BAD_VERSION),
            (g, w) => panic!("request {req:?}: got {g:?}, want {w:?}"),
        }
    }
}

#[test]
fn query_adapter_info_reports_buffer_too_small_then_the_device_limits() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let mut size = 0u32;
    // SAFETY: consumer calls.
    unsafe {
        assert_eq!(
            (n.a().NdkQueryAdapterInfo)(n.adapter, null_mut(), &mut size),
            STATUS_BUFFER_TOO_SMALL
        );
        assert_eq!(size, 0x68);
        let mut info = std::mem::zeroed::<NDK_ADAPTER_INFO>();
        assert_eq!(
            (n.a().NdkQueryAdapterInfo)(n.adapter, &mut info, &mut size),
            STATUS_SUCCESS
        );
        assert_eq!((info.Version.Major, info.Version.Minor), (2, 1));
        assert_eq!(info.MaxCqDepth, 4096);
        assert_eq!(info.MaxInlineDataSize, 128);
        assert_eq!(info.RdmaTechnology, NdkRoCEv2);
        assert!(info.FRMRPageCount >= 16);
        assert_ne!(
            info.AdapterFlags & NDK_ADAPTER_FLAG_RDMA_READ_SINK_NOT_REQUIRED,
            0
        );
    }
}

#[test]
fn created_objects_carry_version_type_and_a_zeroed_reserved_block() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    let pd = make::pd(&n);
    for (p, ty) in [
        (cq.cast::<c_void>(), NdkObjectTypeCq),
        (pd.cast(), NdkObjectTypePd),
    ] {
        let h = header(p);
        assert_eq!((h.Version.Major, h.Version.Minor, h.ObjectType), (2, 1, ty));
        assert!(h.NdkReserved.rf.iter().all(|p| p.is_null()));
    }
    assert_eq!(close(pd, &rec), STATUS_SUCCESS);
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
    assert!(rec.take().is_empty(), "synchronous closes make no callback");
}

#[test]
fn create_cq_deeper_than_max_cq_depth_is_invalid_parameter() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let mut cq = null_mut();
    // SAFETY: consumer call.
    let s = unsafe {
        (n.a().NdkCreateCq)(
            n.adapter,
            4097,
            None,
            null_mut(),
            null_mut(),
            None,
            null_mut(),
            &mut cq,
        )
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    assert!(cq.is_null());
    assert_eq!(n.nic.live_objects().cq, 0);
}

#[test]
fn pending_create_completes_through_the_callback_and_leaves_the_out_parameter_alone() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    n.nic.pend(MockOp::CreateCq);
    let mut cq = null_mut();
    // SAFETY: consumer call.
    let s = unsafe {
        (n.a().NdkCreateCq)(
            n.adapter,
            16,
            Some(on_cq),
            rec.ctx(),
            null_mut(),
            Some(on_create),
            rec.ctx(),
            &mut cq,
        )
    };
    assert_eq!(s, STATUS_PENDING);
    assert!(cq.is_null());
    assert!(rec.take().is_empty());
    n.nic.complete_pending();
    n.pump();
    let ev = rec.take();
    let [Event::Create(STATUS_SUCCESS, obj)] = ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(header(obj as *mut c_void).ObjectType, NdkObjectTypeCq);
    assert_eq!(close(obj as *mut NDK_CQ, &rec), STATUS_SUCCESS);
}

#[test]
fn pending_create_that_fails_reports_the_status_and_leaves_nothing_behind() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    n.nic.pend(MockOp::CreateCq);
    let mut cq = null_mut();
    // SAFETY: consumer call.
    let s = unsafe {
        (n.a().NdkCreateCq)(
            n.adapter,
            16,
            None,
            null_mut(),
            null_mut(),
            Some(on_create),
            rec.ctx(),
            &mut cq,
        )
    };
    assert_eq!(s, STATUS_PENDING);
    n.nic.complete_pending_with(HalError::NoResources);
    n.pump();
    assert_eq!(
        rec.take(),
        vec![Event::Create(STATUS_INSUFFICIENT_RESOURCES, 0)]
    );
    assert_eq!(n.nic.live_objects().cq, 0);
}

#[test]
fn create_failing_inline_returns_the_status_and_no_callback() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    n.nic.fail_next(MockOp::CreatePd, HalError::NoResources);
    let mut pd = null_mut();
    // SAFETY: consumer call.
    let s = unsafe { (n.a().NdkCreatePd)(n.adapter, Some(on_create), rec.ctx(), &mut pd) };
    assert_eq!(s, STATUS_INSUFFICIENT_RESOURCES);
    assert!(pd.is_null());
    assert!(rec.take().is_empty());
}

#[test]
fn close_of_cq_with_live_qp_pends_until_qp_closes() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let (rcq, rqp) = (Recorder::new(), Recorder::new());
    let cq = make::cq(&n, 16, &rcq);
    let pd = make::pd(&n);
    let qp = make::qp(pd, cq, 1);
    assert_eq!(close(cq, &rcq), STATUS_PENDING);
    assert_eq!(close(pd, &rcq), STATUS_PENDING);
    assert!(
        rcq.take().is_empty(),
        "antecedents wait for their successor"
    );
    assert_eq!(n.nic.live_objects().cq, 1);
    assert_eq!(close(qp, &rqp), STATUS_SUCCESS);
    assert_eq!(rcq.take(), vec![Event::Close, Event::Close]);
    assert_eq!(n.nic.live_objects(), hal::mock::LiveObjects::default());
}

#[test]
fn posts_on_an_unconnected_qp_fail_inline_and_produce_no_completion() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    let pd = make::pd(&n);
    let qp = make::qp(pd, cq, 1);
    let s = sge(0x1000, 8, 0);
    // SAFETY: consumer calls.
    unsafe {
        let t: &NDK_QP_DISPATCH = table(qp);
        assert_eq!(
            (t.NdkSend)(qp, null_mut(), &s, 1, 0),
            STATUS_CONNECTION_INVALID
        );
        assert_eq!(
            (t.NdkWrite)(qp, null_mut(), &s, 1, 0x2000, 5, 0),
            STATUS_CONNECTION_INVALID
        );
        assert_eq!(
            (t.NdkRead)(qp, null_mut(), &s, 1, 0x2000, 5, 0),
            STATUS_CONNECTION_INVALID
        );
    }
    assert!(poll_ex(cq).is_empty());
    for o in [qp.cast::<c_void>(), pd.cast(), cq.cast()] {
        assert_eq!(close(o, &rec), STATUS_SUCCESS);
    }
}

#[test]
fn flush_completes_posted_receives_with_status_cancelled_exactly_once() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    let pd = make::pd(&n);
    let qp = make::qp(pd, cq, 0x99);
    let s = sge(0x1000, 8, 0);
    // SAFETY: consumer calls.
    unsafe {
        let t: &NDK_QP_DISPATCH = table(qp);
        for ctx in 1..=3usize {
            assert_eq!(
                (t.NdkReceive)(qp, ctx as *mut c_void, &s, 1),
                STATUS_SUCCESS
            );
        }
        (t.NdkFlush)(qp);
    }
    let r = poll_ex(cq);
    let got: Vec<(NTSTATUS, usize, usize)> = r
        .iter()
        .map(|r| (r.Status, r.RequestContext as usize, r.QPContext as usize))
        .collect();
    assert_eq!(
        got,
        vec![
            (STATUS_CANCELLED, 1, 0x99),
            (STATUS_CANCELLED, 2, 0x99),
            (STATUS_CANCELLED, 3, 0x99)
        ]
    );
    assert!(poll_ex(cq).is_empty());
    for o in [qp.cast::<c_void>(), pd.cast(), cq.cast()] {
        assert_eq!(close(o, &rec), STATUS_SUCCESS);
    }
}

#[test]
fn an_arm_gives_at_most_one_notification() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    // SAFETY: consumer calls; the CQ's device context is its address.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(cq);
        (t.NdkArmCq)(cq, NDK_CQ_NOTIFY_ANY);
        n.pump();
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(1, WcStatus::Success, WcOpcode::Send)));
        n.pump();
        assert_eq!(rec.take(), vec![Event::CqNotify(STATUS_SUCCESS)]);
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(2, WcStatus::Success, WcOpcode::Send)));
        n.pump();
        assert!(
            rec.take().is_empty(),
            "no second notification without a new arm"
        );
        // Completions that arrived since the last notification fire a new arm at once.
        (t.NdkArmCq)(cq, NDK_CQ_NOTIFY_ANY);
        n.pump();
        assert_eq!(rec.take(), vec![Event::CqNotify(STATUS_SUCCESS)]);
    }
    assert_eq!(poll_ex(cq).len(), 2);
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn errors_arm_ignores_successes_and_reports_an_overrun_as_buffer_overflow() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    // SAFETY: consumer calls.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(cq);
        (t.NdkArmCq)(cq, NDK_CQ_NOTIFY_ERRORS);
        n.pump();
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(1, WcStatus::Success, WcOpcode::Send)));
        n.pump();
        assert!(
            rec.take().is_empty(),
            "an ERRORS arm ignores successful completions"
        );
        assert!(n.nic.overrun_cq(cq as u64));
        n.pump();
        assert_eq!(rec.take(), vec![Event::CqNotify(STATUS_BUFFER_OVERFLOW)]);
    }
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn get_cq_results_ex_reports_receive_and_invalidate_with_the_token() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    assert!(n.nic.inject_completion(
        cq as u64,
        completion(9, WcStatus::Success, WcOpcode::ReceiveInvalidate)
    ));
    let r = poll_ex(cq);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].Type, NdkOperationTypeReceiveAndInvalidate);
    assert_eq!(r[0].TypeSpecificCompletionOutput, 0xABCD);
    assert_eq!(
        (
            r[0].BytesTransferred,
            r[0].QPContext as usize,
            r[0].RequestContext as usize
        ),
        (5, 0x77, 9)
    );
    assert_eq!(r[0].ProviderErrorCode, 0);
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn interrupt_moderation_rejects_the_maxulong_pair() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    // SAFETY: consumer calls.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(cq);
        assert_eq!(
            (t.NdkControlCqInterruptModeration)(cq, u32::MAX, u32::MAX),
            STATUS_INVALID_PARAMETER_MIX
        );
        assert_eq!(
            (t.NdkControlCqInterruptModeration)(cq, 50, 8),
            STATUS_SUCCESS
        );
        assert_eq!(
            (t.NdkControlCqInterruptModeration)(cq, 0, 0),
            STATUS_SUCCESS
        );
    }
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn query_extension_is_not_supported_on_every_object() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    let mut guid = GUID {
        Data1: 1,
        Data2: 2,
        Data3: 3,
        Data4: [0; 8],
    };
    let mut ext = NDK_EXTENSION_INTERFACE {
        Dispatch: std::ptr::null(),
    };
    // SAFETY: consumer calls.
    unsafe {
        let s = (n.a().NdkQueryExtension)(
            n.adapter.cast(),
            &mut guid,
            NDK_VERSION::new(1, 0),
            &mut ext,
        );
        assert_eq!(s, STATUS_NOT_SUPPORTED);
        let t: &NDK_CQ_DISPATCH = table(cq);
        assert_eq!(
            (t.NdkQueryExtension)(cq.cast(), &mut guid, NDK_VERSION::new(1, 0), &mut ext),
            STATUS_NOT_SUPPORTED
        );
    }
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

#[test]
fn closing_everything_leaves_no_device_object() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.1.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    let pd = make::pd(&n);
    let qp = make::qp(pd, cq, 1);
    let mut mr = null_mut();
    let mut mw = null_mut();
    // SAFETY: consumer calls.
    unsafe {
        let t: &NDK_PD_DISPATCH = table(pd);
        assert_eq!(
            (t.NdkCreateMr)(pd, 1, None, null_mut(), &mut mr),
            STATUS_SUCCESS
        );
        assert_eq!(
            (t.NdkCreateMw)(pd, None, null_mut(), &mut mw),
            STATUS_SUCCESS
        );
        let m: &NDK_MR_DISPATCH = table(mr);
        assert_eq!(
            (m.NdkInitializeFastRegisterMr)(mr, 100_000, 1, None, null_mut()),
            STATUS_IMPLEMENTATION_LIMIT
        );
        assert_eq!(
            (m.NdkInitializeFastRegisterMr)(mr, 64, 1, None, null_mut()),
            STATUS_SUCCESS
        );
    }
    let live = n.nic.live_objects();
    assert_eq!(
        (live.cq, live.pd, live.qp, live.mr, live.mw),
        (1, 1, 1, 1, 1)
    );
    for o in [
        mw.cast::<c_void>(),
        mr.cast(),
        qp.cast(),
        pd.cast(),
        cq.cast(),
    ] {
        assert_eq!(close(o, &rec), STATUS_SUCCESS);
    }
    assert_eq!(n.nic.live_objects(), hal::mock::LiveObjects::default());
    let _: &Device<hal::mock::MockNic> = &n.dev;
}

#[test]
fn a_device_failure_reaches_every_armed_cq_as_internal_error() {
    for remove in [false, true] {
        let fabric = Fabric::new();
        let n = Node::new(&fabric, "10.1.0.1");
        let (r1, r2, r3) = (Recorder::new(), Recorder::new(), Recorder::new());
        let (armed, unarmed, closed) = (
            make::cq(&n, 16, &r1),
            make::cq(&n, 16, &r2),
            make::cq(&n, 16, &r3),
        );
        // SAFETY: consumer calls on open CQs.
        unsafe {
            (table::<_, NDK_CQ_DISPATCH>(armed).NdkArmCq)(armed, NDK_CQ_NOTIFY_ERRORS);
            (table::<_, NDK_CQ_DISPATCH>(closed).NdkArmCq)(closed, NDK_CQ_NOTIFY_ANY);
        }
        assert_eq!(close(closed, &r3), STATUS_SUCCESS);
        if remove {
            n.nic.remove();
        } else {
            n.nic.fatal();
        }
        n.pump();
        assert_eq!(r1.take(), vec![Event::CqNotify(STATUS_INTERNAL_ERROR)]);
        assert!(r2.take().is_empty(), "an unarmed CQ hears at its next arm");
        // SAFETY: consumer call on an open CQ.
        unsafe { (table::<_, NDK_CQ_DISPATCH>(unarmed).NdkArmCq)(unarmed, NDK_CQ_NOTIFY_ANY) };
        n.pump();
        assert_eq!(r2.take(), vec![Event::CqNotify(STATUS_INTERNAL_ERROR)]);
        assert!(r3.take().is_empty(), "no callback after close");
        assert_eq!(close(armed, &r1), STATUS_SUCCESS);
        assert_eq!(close(unarmed, &r2), STATUS_SUCCESS);
    }
}
