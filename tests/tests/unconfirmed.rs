//! The provider's choices where ndkpi.md marks the rule UNCONFIRMED, one test per choice,
//! each asserted through the dispatch tables (and the NDIS open handler logic for the
//! version). A test here fails when the choice changes; change it together with the code
//! and the comment that documents the choice.

use std::ffi::c_void;
use std::net::SocketAddr;
use std::ptr::null_mut;

use hal::mock::{Fabric, HostBuffer, MockCall, MockNic, MockOp};
use hal::{Completion, WcOpcode, WcStatus};
use ndk_provider::abi::*;
use ndk_provider::adapter;
use ndk_tests::make::{self, close};
use ndk_tests::*;

/// Harvests up to 16 completions with `NdkGetCqResultsEx`.
fn poll_ex(cq: *mut NDK_CQ) -> Vec<NDK_RESULT_EX> {
    let mut out = [NDK_RESULT_EX::EMPTY; 16];
    // SAFETY: consumer call on an open CQ with a 16-entry buffer.
    let n =
        unsafe { (table::<_, NDK_CQ_DISPATCH>(cq).NdkGetCqResultsEx)(cq, out.as_mut_ptr(), 16) };
    out[..n as usize].to_vec()
}

/// `(RequestContext, Status, Type)` of each completion.
fn summary(r: &[NDK_RESULT_EX]) -> Vec<(usize, NTSTATUS, NDK_OPERATION_TYPE)> {
    r.iter()
        .map(|r| (r.RequestContext as usize, r.Status, r.Type))
        .collect()
}

fn completion(wr_id: u64, status: WcStatus, vendor_error: u32) -> Completion {
    Completion {
        wr_id,
        qp_context: 0x77,
        status,
        opcode: WcOpcode::Send,
        byte_len: 0,
        invalidated_rkey: 0,
        vendor_error,
    }
}

fn ctx(v: usize) -> *mut c_void {
    v as *mut c_void
}

/// Two connected sides; `done` closes everything (connectors first, then the listener).
fn pair(fabric: &Fabric, net: u8) -> (Side, Side, *mut NDK_LISTENER) {
    let mut a = Side::new(fabric, &format!("10.{net}.0.1"), 64);
    let mut b = Side::new(fabric, &format!("10.{net}.0.2"), 64);
    let l = connect(&mut a, &mut b, b"");
    (a, b, l)
}

fn done(a: Side, b: Side, l: *mut NDK_LISTENER) {
    let rec = Recorder::new();
    b.node.pump();
    assert_eq!(
        close(l, &rec),
        STATUS_PENDING,
        "the accepted connector holds it"
    );
    a.close();
    b.close();
    assert_eq!(rec.take(), vec![Event::Close]);
}

// ---------------------------------------------------------------------------------------
// §1.2: version negotiation
// ---------------------------------------------------------------------------------------

#[test]
fn version_negotiation_accepts_1_x_up_to_minor_2_and_2_x_up_to_minor_1_at_the_highest_minor() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.50.0.1");
    for (req, want) in [
        ((1, 0), Some((1, 2))),
        ((1, 1), Some((1, 2))),
        ((1, 2), Some((1, 2))),
        ((2, 0), Some((2, 1))),
        ((2, 1), Some((2, 1))),
        ((1, 3), None),
        ((2, 2), None),
        ((0, 0), None),
        ((3, 0), None),
    ] {
        let got = adapter::open(&n.dev, NDK_VERSION::new(req.0, req.1));
        let Some(want) = want else {
            assert_eq!(got.err(), Some(NDIS_STATUS_BAD_VERSION), "request {req:?}");
            continue;
        };
        let a = got.unwrap_or_else(|s| panic!("request {req:?}: {s:#x}"));
        // SAFETY: consumer calls on the adapter just opened.
        unsafe {
            let t: &NDK_ADAPTER_DISPATCH = table(a);
            let mut info = std::mem::zeroed::<NDK_ADAPTER_INFO>();
            let mut size = std::mem::size_of::<NDK_ADAPTER_INFO>() as u32;
            assert_eq!(
                (t.NdkQueryAdapterInfo)(a, &mut info, &mut size),
                STATUS_SUCCESS
            );
            assert_eq!((info.Version.Major, info.Version.Minor), want, "{req:?}");
            let mut pd = null_mut();
            assert_eq!(
                (t.NdkCreatePd)(a, None, null_mut(), &mut pd),
                STATUS_SUCCESS
            );
            let h = (pd as *const NDK_OBJECT_HEADER).read();
            assert_eq!((h.Version.Major, h.Version.Minor), want, "PD of {req:?}");
            assert_eq!(close(pd, &Recorder::new()), STATUS_SUCCESS);
            adapter::close::<MockNic>(a);
        }
    }
}

// ---------------------------------------------------------------------------------------
// §12 item 7: NDK_OP_FLAG_INLINE on NdkWrite
// ---------------------------------------------------------------------------------------

#[test]
fn inline_flag_is_accepted_on_ndk_write_and_ignores_the_token() {
    let fabric = Fabric::new();
    let (a, b, l) = pair(&fabric, 51);
    // Unregistered stack memory and a garbage token: §5.2 says both are fine when inline.
    let payload = *b"inline write payload";
    let s = sge(payload.as_ptr() as u64, payload.len() as u32, 0xDEAD_BEEF);
    let big = [0x5Au8; 65];
    let too_big = sge(big.as_ptr() as u64, 65, 0);
    // SAFETY: consumer calls on a connected QP.
    unsafe {
        let q = a.q();
        let st = (q.NdkWrite)(
            a.qp,
            ctx(0x71),
            &s,
            1,
            b.buf.addr() + 100,
            b.rkey,
            NDK_OP_FLAG_INLINE,
        );
        assert_eq!(st, STATUS_SUCCESS);
        // More than the QP's InlineDataSize (64): refused inline, no completion.
        let st = (q.NdkWrite)(
            a.qp,
            ctx(0x72),
            &too_big,
            1,
            b.buf.addr() + 200,
            b.rkey,
            NDK_OP_FLAG_INLINE,
        );
        assert_eq!(st, STATUS_INVALID_PARAMETER);
    }
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![(0x71, STATUS_SUCCESS, NdkOperationTypeWrite)]
    );
    let mut back = [0u8; 20];
    b.buf.read(100, &mut back);
    assert_eq!(&back, &payload);
    let mut untouched = [0u8; 65];
    b.buf.read(200, &mut untouched);
    assert_eq!(untouched, [0u8; 65]);
    done(a, b, l);
}

// ---------------------------------------------------------------------------------------
// §12 item 2: RDMA_READ_LOCAL_INVALIDATE is 0x100 (0x200 is DEFER)
// ---------------------------------------------------------------------------------------

#[test]
fn rdma_read_local_invalidate_is_0x100_and_0x200_is_defer() {
    let fabric = Fabric::new();
    let (a, b, l) = pair(&fabric, 52);
    // SAFETY: consumer calls on the open adapter.
    unsafe {
        let mut info = std::mem::zeroed::<NDK_ADAPTER_INFO>();
        let mut size = std::mem::size_of::<NDK_ADAPTER_INFO>() as u32;
        assert_eq!(
            (a.node.a().NdkQueryAdapterInfo)(a.node.adapter, &mut info, &mut size),
            STATUS_SUCCESS
        );
        assert_ne!(
            info.AdapterFlags & 0x10,
            0,
            "READ_LOCAL_INVALIDATE_SUPPORTED"
        );
    }
    // A fast-register MR over two pages of a host buffer, at base VA 0x7_0000_0000.
    let sink = HostBuffer::new(8192);
    let mut mdl = TestMdl::new(sink.addr(), 8192);
    let base: u64 = 0x7_0000_0000;
    let mut mr = null_mut();
    let mut lam = [0u64; 4]; // AdapterContext, AdapterPageCount, 2 pages
    let (mut lam_size, mut fbo) = (std::mem::size_of_val(&lam) as u32, 0u32);
    // SAFETY: consumer calls on open objects.
    let lkey = unsafe {
        let pdt: &NDK_PD_DISPATCH = table(a.pd);
        assert_eq!(
            (pdt.NdkCreateMr)(a.pd, 1, None, null_mut(), &mut mr),
            STATUS_SUCCESS
        );
        let mt: &NDK_MR_DISPATCH = table(mr);
        assert_eq!(
            (mt.NdkInitializeFastRegisterMr)(mr, 4, 0, None, null_mut()),
            STATUS_SUCCESS
        );
        let st = (a.node.a().NdkBuildLAM)(
            a.node.adapter,
            mdl.as_ptr(),
            8192,
            None,
            null_mut(),
            lam.as_mut_ptr().cast(),
            &mut lam_size,
            &mut fbo,
        );
        assert_eq!((st, lam[1], fbo), (STATUS_SUCCESS, 2, 0));
        let pages = [lam[2] as i64, lam[3] as i64];
        let st = (a.q().NdkFastRegister)(
            a.qp,
            ctx(0xF0),
            mr,
            2,
            pages.as_ptr(),
            0,
            8192,
            base as *mut c_void,
            NDK_OP_FLAG_ALLOW_LOCAL_WRITE,
        );
        assert_eq!(st, STATUS_SUCCESS);
        (mt.NdkGetLocalTokenFromMr)(mr)
    };
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![(0xF0, STATUS_SUCCESS, NdkOperationTypeFastRegister)]
    );
    b.buf.write(0, b"sixteen byte src");
    let into = sge(base, 16, lkey);
    let read = |c: usize, flags: u32| {
        // SAFETY: consumer call on a connected QP.
        unsafe { (a.q().NdkRead)(a.qp, ctx(c), &into, 1, b.buf.addr(), b.rkey, flags) }
    };
    // 0x200 defers the doorbell and leaves the token alone.
    assert_eq!(read(1, 0x200), STATUS_SUCCESS);
    assert!(poll_ex(a.cq).is_empty(), "deferred, not submitted yet");
    assert_eq!(read(2, 0), STATUS_SUCCESS);
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![
            (1, STATUS_SUCCESS, NdkOperationTypeRead),
            (2, STATUS_SUCCESS, NdkOperationTypeRead)
        ]
    );
    // 0x100 invalidates the first SGE's token once the read succeeded.
    sink.write(0, &[0u8; 16]);
    assert_eq!(read(3, 0x100), STATUS_SUCCESS);
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![(3, STATUS_SUCCESS, NdkOperationTypeRead)]
    );
    let mut got = [0u8; 16];
    sink.read(0, &mut got);
    assert_eq!(&got, b"sixteen byte src");
    assert_eq!(read(4, 0), STATUS_SUCCESS);
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![(4, STATUS_ACCESS_VIOLATION, NdkOperationTypeRead)],
        "the token was invalidated"
    );
    assert_eq!(close(mr, &Recorder::new()), STATUS_SUCCESS);
    done(a, b, l);
}

// ---------------------------------------------------------------------------------------
// §5.4 / §12 item 3: ProviderErrorCode
// ---------------------------------------------------------------------------------------

#[test]
fn provider_error_code_is_zero_below_2_1_and_on_success_and_the_device_code_on_errors_at_2_1() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.53.0.1");
    let old = adapter::open(&n.dev, NDK_VERSION::new(1, 1)).expect("open at 1.x");
    let rec = Recorder::new();
    let mut cq12 = null_mut();
    // SAFETY: consumer call on the 1.2 adapter.
    let st = unsafe {
        (table::<_, NDK_ADAPTER_DISPATCH>(old).NdkCreateCq)(
            old,
            16,
            None,
            null_mut(),
            null_mut(),
            None,
            null_mut(),
            &mut cq12,
        )
    };
    assert_eq!(st, STATUS_SUCCESS);
    // SAFETY: the CQ is open; its header is its first field.
    let h = unsafe { (cq12 as *const NDK_OBJECT_HEADER).read() };
    assert_eq!((h.Version.Major, h.Version.Minor), (1, 2));
    let cq21 = make::cq(&n, 16, &rec);
    let harvest = |cq: *mut NDK_CQ| {
        let mut out = [NDK_RESULT_EX {
            ProviderErrorCode: 0xFFFF_FFFF,
            ..NDK_RESULT_EX::EMPTY
        }; 4];
        // SAFETY: consumer call with a 4-entry buffer.
        let n =
            unsafe { (table::<_, NDK_CQ_DISPATCH>(cq).NdkGetCqResultsEx)(cq, out.as_mut_ptr(), 4) };
        out[..n as usize]
            .iter()
            .map(|r| (r.Status, r.ProviderErrorCode))
            .collect::<Vec<_>>()
    };
    for cq in [cq12, cq21] {
        // A device that reports a vendor code even on success.
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(1, WcStatus::Success, 7)));
    }
    for cq in [cq12, cq21] {
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(2, WcStatus::LocalProtection, 7)));
    }
    // Below 2.1 the field is padding: always 0 (ndkpi.md §5.4).
    assert_eq!(
        harvest(cq12),
        vec![(STATUS_SUCCESS, 0), (STATUS_ACCESS_VIOLATION, 0)]
    );
    assert_eq!(
        harvest(cq21),
        vec![(STATUS_SUCCESS, 0), (STATUS_ACCESS_VIOLATION, 7)]
    );
    assert_eq!(close(cq12, &rec), STATUS_SUCCESS);
    assert_eq!(close(cq21, &rec), STATUS_SUCCESS);
    // SAFETY: its only object is closed.
    unsafe { adapter::close::<MockNic>(old) };
}

// ---------------------------------------------------------------------------------------
// §6 completion table, status.rs: peer-side failures are STATUS_REMOTE_RESOURCES
// ---------------------------------------------------------------------------------------

#[test]
fn remote_access_errors_on_the_initiator_are_status_remote_resources() {
    let fabric = Fabric::new();
    // A read with a token the peer does not know.
    let (a, b, l) = pair(&fabric, 54);
    let into = a.sge(0, 16);
    // SAFETY: consumer call on a connected QP.
    let st = unsafe { (a.q().NdkRead)(a.qp, ctx(1), &into, 1, b.buf.addr(), b.rkey ^ 0x5500, 0) };
    assert_eq!(st, STATUS_SUCCESS);
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![(1, STATUS_REMOTE_RESOURCES, NdkOperationTypeRead)]
    );
    done(a, b, l);

    // A send larger than the receive the peer posted: the receiver sees BUFFER_OVERFLOW, the
    // sender REMOTE_RESOURCES.
    let (a, b, l) = pair(&fabric, 55);
    let small = b.sge(0, 8);
    let data = a.sge(0, 32);
    // SAFETY: consumer calls on connected QPs.
    unsafe {
        assert_eq!((b.q().NdkReceive)(b.qp, ctx(2), &small, 1), STATUS_SUCCESS);
        assert_eq!((a.q().NdkSend)(a.qp, ctx(3), &data, 1, 0), STATUS_SUCCESS);
    }
    assert_eq!(
        summary(&poll_ex(b.cq)),
        vec![(2, STATUS_BUFFER_OVERFLOW, NdkOperationTypeReceive)]
    );
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![(3, STATUS_REMOTE_RESOURCES, NdkOperationTypeSend)]
    );
    done(a, b, l);

    // Every peer-reported failure kind maps there; a local protection failure does not.
    let n = Node::new(&fabric, "10.56.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    for (i, s) in [
        WcStatus::RemoteAccess,
        WcStatus::RemoteInvalidRequest,
        WcStatus::RemoteOperation,
        WcStatus::LocalProtection,
    ]
    .into_iter()
    .enumerate()
    {
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(i as u64, s, 0)));
    }
    let got: Vec<NTSTATUS> = poll_ex(cq).iter().map(|r| r.Status).collect();
    assert_eq!(
        got,
        vec![
            STATUS_REMOTE_RESOURCES,
            STATUS_REMOTE_RESOURCES,
            STATUS_REMOTE_RESOURCES,
            STATUS_ACCESS_VIOLATION
        ]
    );
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

// ---------------------------------------------------------------------------------------
// §4.3: interrupt moderation count 0 or 1 means off
// ---------------------------------------------------------------------------------------

#[test]
fn interrupt_moderation_count_0_or_1_turns_moderation_off() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.57.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    for ((interval, count), programmed) in [
        ((50, 0), (0, 0)),
        ((50, 1), (0, 0)),
        ((50, 2), (50, 2)),
        ((0, 8), (0, 0)),
        ((u32::MAX, 8), (0, 8)),
        ((50, u32::MAX), (50, 0)),
    ] {
        n.nic.clear_calls();
        // SAFETY: consumer call on an open CQ.
        let st = unsafe {
            (table::<_, NDK_CQ_DISPATCH>(cq).NdkControlCqInterruptModeration)(cq, interval, count)
        };
        assert_eq!(st, STATUS_SUCCESS, "({interval}, {count})");
        assert_eq!(
            n.nic.calls(),
            vec![MockCall::SetCqModeration {
                cq_ctx: cq as u64,
                interval_us: programmed.0,
                count: programmed.1
            }],
            "({interval}, {count}) programs the device with {programmed:?}"
        );
    }
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

/// ndkpi.md §4.3: "Count MAXULONG or > CqDepth → interval-only". The provider compares the
/// count with the device's MaxCqDepth instead of the CQ's depth (cq.rs
/// `control_moderation`: `count > hal.caps().max_cq_depth`), so a count above this CQ's
/// depth (16) but below 4096 is programmed as a count the CQ can never reach.
#[test]
fn interrupt_moderation_count_above_the_cq_depth_is_interval_only() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.57.1.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    n.nic.clear_calls();
    // SAFETY: consumer call on an open CQ.
    let st =
        unsafe { (table::<_, NDK_CQ_DISPATCH>(cq).NdkControlCqInterruptModeration)(cq, 50, 17) };
    assert_eq!(st, STATUS_SUCCESS);
    assert_eq!(
        n.nic.calls(),
        vec![MockCall::SetCqModeration {
            cq_ctx: cq as u64,
            interval_us: 50,
            count: 0
        }]
    );
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

// ---------------------------------------------------------------------------------------
// §7.7 / §12 item 6: after the first failure, the rest are cancelled
// ---------------------------------------------------------------------------------------

#[test]
fn after_the_first_failed_request_the_rest_complete_status_cancelled() {
    let fabric = Fabric::new();
    let (a, b, l) = pair(&fabric, 58);
    let src = a.sge(0, 16);
    let recv = a.sge(1024, 64);
    let before = b.buf.to_vec();
    // SAFETY: consumer calls on a connected QP.
    unsafe {
        let q = a.q();
        assert_eq!((q.NdkReceive)(a.qp, ctx(10), &recv, 1), STATUS_SUCCESS);
        let bad = b.buf.addr() + u64::from(SIDE_BUF) - 4;
        let good = b.buf.addr() + 64;
        let d = NDK_OP_FLAG_DEFER;
        assert_eq!(
            (q.NdkWrite)(a.qp, ctx(1), &src, 1, bad, b.rkey, d),
            STATUS_SUCCESS
        );
        assert_eq!(
            (q.NdkWrite)(a.qp, ctx(2), &src, 1, good, b.rkey, d),
            STATUS_SUCCESS
        );
        assert_eq!(
            (q.NdkRead)(
                a.qp,
                ctx(3),
                &src,
                1,
                good,
                b.rkey,
                NDK_OP_FLAG_SILENT_SUCCESS
            ),
            STATUS_SUCCESS
        );
    }
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![
            (1, STATUS_REMOTE_RESOURCES, NdkOperationTypeWrite),
            (2, STATUS_CANCELLED, NdkOperationTypeWrite),
            (3, STATUS_CANCELLED, NdkOperationTypeRead),
            (10, STATUS_CANCELLED, NdkOperationTypeReceive),
        ],
        "a silent request that is cancelled is reported too"
    );
    assert_eq!(b.buf.to_vec(), before, "nothing after the failure ran");
    // Later posts are accepted and cancelled.
    // SAFETY: as above.
    let st = unsafe { (a.q().NdkSend)(a.qp, ctx(4), &src, 1, 0) };
    assert_eq!(st, STATUS_SUCCESS);
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![(4, STATUS_CANCELLED, NdkOperationTypeSend)]
    );
    done(a, b, l);
}

// ---------------------------------------------------------------------------------------
// §4.4 / §12 item 14: DeregisterMr leaves the MR re-registrable
// ---------------------------------------------------------------------------------------

#[test]
fn deregister_mr_leaves_the_mr_re_registrable_with_new_tokens() {
    let fabric = Fabric::new();
    let (a, b, l) = pair(&fabric, 59);
    let mut mdl = TestMdl::new(b.buf.addr(), SIDE_BUF);
    let flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
    // SAFETY: consumer calls on B's open MR.
    let (lkey, rkey) = unsafe {
        let m: &NDK_MR_DISPATCH = table(b.mr);
        let len = SIDE_BUF as usize;
        assert_eq!(
            (m.NdkRegisterMr)(b.mr, mdl.as_ptr(), len, flags, None, null_mut()),
            STATUS_INVALID_DEVICE_STATE,
            "registering a registered MR"
        );
        assert_eq!((m.NdkDeregisterMr)(b.mr, None, null_mut()), STATUS_SUCCESS);
        assert_eq!(
            (m.NdkDeregisterMr)(b.mr, None, null_mut()),
            STATUS_INVALID_DEVICE_STATE,
            "deregistering an unregistered MR"
        );
        assert_eq!(
            (m.NdkRegisterMr)(b.mr, mdl.as_ptr(), len, flags, None, null_mut()),
            STATUS_SUCCESS,
            "re-registration"
        );
        (
            (m.NdkGetLocalTokenFromMr)(b.mr),
            (m.NdkGetRemoteTokenFromMr)(b.mr),
        )
    };
    assert_ne!(lkey, b.lkey, "a new local token");
    assert_ne!(rkey, b.rkey, "a new remote token");
    a.buf.write(0, b"after re-register");
    let src = a.sge(0, 17);
    let dst = b.buf.addr() + 512;
    // SAFETY: consumer calls on a connected QP.
    unsafe {
        assert_eq!(
            (a.q().NdkWrite)(a.qp, ctx(1), &src, 1, dst, rkey, 0),
            STATUS_SUCCESS
        );
        assert_eq!(
            (a.q().NdkWrite)(a.qp, ctx(2), &src, 1, dst + 100, b.rkey, 0),
            STATUS_SUCCESS
        );
    }
    assert_eq!(
        summary(&poll_ex(a.cq)),
        vec![
            (1, STATUS_SUCCESS, NdkOperationTypeWrite),
            (2, STATUS_REMOTE_RESOURCES, NdkOperationTypeWrite)
        ],
        "the new token works, the old one is dead"
    );
    let mut back = [0u8; 17];
    b.buf.read(512, &mut back);
    assert_eq!(&back, b"after re-register");
    done(a, b, l);
}

// ---------------------------------------------------------------------------------------
// §7.3 / connector.rs: RDS is the number of bytes the peer sent
// ---------------------------------------------------------------------------------------

/// `NdkGetConnectionData` with a buffer of `cap` bytes (NULL when 0): (status, length, bytes).
fn connection_data(c: *mut NDK_CONNECTOR, cap: u32) -> (NTSTATUS, u32, Vec<u8>, (u32, u32)) {
    let mut buf = vec![0xEEu8; cap as usize];
    let mut len = cap;
    let (mut ird, mut ord) = (0u32, 0u32);
    let p = if cap == 0 {
        null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    // SAFETY: consumer call on an open connector with a `cap`-byte buffer.
    let st = unsafe {
        (table::<_, NDK_CONNECTOR_DISPATCH>(c).NdkGetConnectionData)(
            c, &mut ird, &mut ord, p, &mut len,
        )
    };
    (st, len, buf, (ird, ord))
}

#[test]
fn get_connection_data_rds_is_the_number_of_bytes_the_peer_sent() {
    let fabric = Fabric::new();
    let mut a = Side::new(&fabric, "10.60.0.1", 64);
    let mut b = Side::new(&fabric, "10.60.0.2", 64);
    let (dst, dlen) = sockaddr(SocketAddr::new(b.node.ip, 445));
    let (src, slen) = sockaddr(SocketAddr::new(a.node.ip, 0));
    let mut listener = null_mut();
    let request = b"hello-req";
    let reply = b"ok!!!";
    // SAFETY: consumer calls through the dispatch tables, recorders outlive the objects.
    unsafe {
        assert_eq!(
            (b.node.a().NdkCreateListener)(
                b.node.adapter,
                Some(on_connect),
                b.rec.ctx(),
                None,
                null_mut(),
                &mut listener
            ),
            STATUS_SUCCESS
        );
        let lt: &NDK_LISTENER_DISPATCH = table(listener);
        assert_eq!(
            (lt.NdkListen)(listener, dst.as_ptr().cast(), dlen, None, null_mut()),
            STATUS_SUCCESS
        );
        assert_eq!(
            (a.node.a().NdkCreateConnector)(a.node.adapter, None, null_mut(), &mut a.conn),
            STATUS_SUCCESS
        );
        let ct: &NDK_CONNECTOR_DISPATCH = table(a.conn);
        let st = (ct.NdkConnect)(
            a.conn,
            a.qp,
            src.as_ptr().cast(),
            slen,
            dst.as_ptr().cast(),
            dlen,
            3,
            5,
            request.as_ptr().cast(),
            request.len() as u32,
            Some(on_request),
            a.rec.ctx(),
        );
        assert_eq!(st, STATUS_PENDING);
    }
    b.node.pump();
    let ev = b.rec.take();
    let [Event::Connect(cb)] = ev[..] else {
        panic!("{ev:?}")
    };
    b.conn = cb as *mut NDK_CONNECTOR;

    // Passive side: RDS = 9 (what the connect carried), not MaxCallerData (56).
    let (st, len, _, (ird, ord)) = connection_data(b.conn, 0);
    assert_eq!((st, len), (STATUS_SUCCESS, 9), "NULL buffer, length 0");
    assert_eq!(
        (ird, ord),
        (5, 3),
        "the peer's ORD and IRD, as ours to accept with"
    );
    let (st, len, buf, _) = connection_data(b.conn, 4);
    assert_eq!((st, len), (STATUS_BUFFER_TOO_SMALL, 9));
    assert_eq!(&buf, b"hell", "min(len, RDS) bytes copied");
    let (st, len, buf, _) = connection_data(b.conn, 64);
    assert_eq!((st, len), (STATUS_SUCCESS, 9));
    assert_eq!(&buf[..9], request);
    assert!(
        buf[9..].iter().all(|&x| x == 0xEE),
        "nothing past RDS written"
    );

    // SAFETY: consumer calls on the passive and active connectors.
    unsafe {
        let ct: &NDK_CONNECTOR_DISPATCH = table(b.conn);
        let st = (ct.NdkAcceptEx)(
            b.conn,
            b.qp,
            4,
            4,
            reply.as_ptr().cast(),
            reply.len() as u32,
            None,
            null_mut(),
            Some(on_request),
            b.rec.ctx(),
        );
        assert_eq!(st, STATUS_PENDING);
        a.node.pump();
        assert_eq!(a.rec.take(), vec![Event::Request(STATUS_SUCCESS)]);

        // Active side: RDS = 5 (what the accept carried).
        let (st, len, buf, _) = connection_data(a.conn, 0);
        assert_eq!((st, len), (STATUS_SUCCESS, 5));
        assert!(buf.is_empty());
        let (st, len, buf, _) = connection_data(a.conn, 5);
        assert_eq!((st, len), (STATUS_SUCCESS, 5));
        assert_eq!(&buf, reply);

        let st = (ct.NdkCompleteConnectEx)(a.conn, None, null_mut(), None, null_mut());
        assert_eq!(st, STATUS_SUCCESS);
        b.node.pump();
        assert_eq!(b.rec.take(), vec![Event::Request(STATUS_SUCCESS)]);
    }
    done(a, b, listener);
}

// ---------------------------------------------------------------------------------------
// Further choices documented in the provider as UNCONFIRMED
// ---------------------------------------------------------------------------------------

/// connector.rs `on_close`: a pending Connect completes STATUS_CANCELLED, once, before
/// the close completes; the device's later answer is not reported again.
#[test]
fn closing_a_connector_with_a_pending_connect_completes_it_with_status_cancelled_once() {
    let fabric = Fabric::new();
    let a = Side::new(&fabric, "10.61.0.1", 16);
    let _b = Node::new(&fabric, "10.61.0.2"); // nobody listens: the connect is refused later
    let (dst, dlen) = sockaddr("10.61.0.2:445".parse().unwrap());
    let (src, slen) = sockaddr("10.61.0.1:0".parse().unwrap());
    let mut conn = null_mut();
    let rec = Recorder::new();
    // SAFETY: consumer calls through the dispatch tables.
    unsafe {
        assert_eq!(
            (a.node.a().NdkCreateConnector)(a.node.adapter, None, null_mut(), &mut conn),
            STATUS_SUCCESS
        );
        let st = (table::<_, NDK_CONNECTOR_DISPATCH>(conn).NdkConnect)(
            conn,
            a.qp,
            src.as_ptr().cast(),
            slen,
            dst.as_ptr().cast(),
            dlen,
            1,
            1,
            null_mut(),
            0,
            Some(on_request),
            rec.ctx(),
        );
        assert_eq!(st, STATUS_PENDING);
    }
    let st = close(conn, &rec);
    assert!(st == STATUS_SUCCESS || st == STATUS_PENDING, "{st:#x}");
    a.node.pump();
    let want_close = if st == STATUS_PENDING {
        vec![Event::Close]
    } else {
        vec![]
    };
    let mut want = vec![Event::Request(STATUS_CANCELLED)];
    want.extend(want_close);
    assert_eq!(rec.take(), want, "cancelled once, then (only) the close");
    a.close();
}

/// ndkpi.md §12 item 14 (NDSPI rule): shrinking a CQ below its occupancy fails
/// (STATUS_INVALID_PARAMETER, inline) and loses nothing.
#[test]
fn resizing_a_cq_below_its_occupancy_fails_and_keeps_every_completion() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.62.0.1");
    let rec = Recorder::new();
    let cq = make::cq(&n, 16, &rec);
    for i in 0..3 {
        assert!(n
            .nic
            .inject_completion(cq as u64, completion(i, WcStatus::Success, 0)));
    }
    // SAFETY: consumer calls on an open CQ.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(cq);
        assert_eq!(
            (t.NdkResizeCq)(cq, 2, Some(on_request), rec.ctx()),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (t.NdkResizeCq)(cq, 3, Some(on_request), rec.ctx()),
            STATUS_SUCCESS
        );
    }
    n.pump();
    assert!(rec.take().is_empty(), "no callback for inline results");
    let got: Vec<usize> = poll_ex(cq)
        .iter()
        .map(|r| r.RequestContext as usize)
        .collect();
    assert_eq!(got, vec![0, 1, 2]);
    assert_eq!(close(cq, &rec), STATUS_SUCCESS);
}

/// adapter.rs `build_lam` (ndkpi.md §12 item 5: RequestCompletion may be NULL): BuildLAM
/// never pends; the size query follows the BUFFER_TOO_SMALL convention.
#[test]
fn build_lam_completes_inline_even_without_a_request_completion() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.63.0.1");
    let buf = HostBuffer::new(3 * 4096);
    let mut mdl = TestMdl::new(buf.addr() + 0x80, 2 * 4096);
    let mut lam = [0u64; 5];
    let (mut size, mut fbo) = (0u32, 0u32);
    // SAFETY: consumer calls on the open adapter with a locked (test) MDL.
    unsafe {
        let build = n.a().NdkBuildLAM;
        let st = build(
            n.adapter,
            mdl.as_ptr(),
            2 * 4096,
            None,
            null_mut(),
            null_mut(),
            &mut size,
            &mut fbo,
        );
        assert_eq!((st, size), (STATUS_BUFFER_TOO_SMALL, 16 + 3 * 8));
        let st = build(
            n.adapter,
            mdl.as_ptr(),
            2 * 4096,
            None,
            null_mut(),
            lam.as_mut_ptr().cast(),
            &mut size,
            &mut fbo,
        );
        assert_eq!(st, STATUS_SUCCESS);
        (n.a().NdkReleaseLAM)(n.adapter, lam.as_mut_ptr().cast());
    }
    assert_eq!((lam[1], fbo), (3, 0x80));
    let first = buf.addr() & !0xFFF;
    assert_eq!(&lam[2..], &[first, first + 4096, first + 8192]);
}

/// connector.rs: GetConnectionData before anything was received is
/// STATUS_CONNECTION_INVALID; the addresses of an unconnected connector are
/// STATUS_INVALID_DEVICE_STATE, and so is a listener's before Listen.
#[test]
fn queries_before_a_connection_exists_fail_with_the_documented_statuses() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.64.0.1");
    let (mut conn, mut listener) = (null_mut(), null_mut());
    let mut addr = [0u8; 28];
    let mut len = 28u32;
    let rec = Recorder::new();
    // SAFETY: consumer calls on objects just created.
    unsafe {
        assert_eq!(
            (n.a().NdkCreateConnector)(n.adapter, None, null_mut(), &mut conn),
            STATUS_SUCCESS
        );
        assert_eq!(
            (n.a().NdkCreateListener)(
                n.adapter,
                Some(on_connect),
                rec.ctx(),
                None,
                null_mut(),
                &mut listener
            ),
            STATUS_SUCCESS
        );
        let (st, ..) = connection_data(conn, 0);
        assert_eq!(st, STATUS_CONNECTION_INVALID);
        let ct: &NDK_CONNECTOR_DISPATCH = table(conn);
        assert_eq!(
            (ct.NdkGetLocalAddress)(conn, addr.as_mut_ptr().cast(), &mut len),
            STATUS_INVALID_DEVICE_STATE
        );
        assert_eq!(
            (ct.NdkGetPeerAddress)(conn, addr.as_mut_ptr().cast(), &mut len),
            STATUS_INVALID_DEVICE_STATE
        );
        let lt: &NDK_LISTENER_DISPATCH = table(listener);
        assert_eq!(
            (lt.NdkGetLocalAddress)(listener, addr.as_mut_ptr().cast(), &mut len),
            STATUS_INVALID_DEVICE_STATE
        );
    }
    assert_eq!(close(conn, &rec), STATUS_SUCCESS);
    assert_eq!(close(listener, &rec), STATUS_SUCCESS);
    assert!(rec.take().is_empty());
}

/// listener.rs: a NULL ConnectEvent is accepted and such a listener refuses every request
/// (the active side's Connect completes STATUS_CONNECTION_REFUSED).
#[test]
fn a_listener_without_a_connect_event_callback_refuses_every_request() {
    let fabric = Fabric::new();
    let a = Side::new(&fabric, "10.65.0.1", 16);
    let b = Node::new(&fabric, "10.65.0.2");
    let (dst, dlen) = sockaddr("10.65.0.2:445".parse().unwrap());
    let (src, slen) = sockaddr("10.65.0.1:0".parse().unwrap());
    let (mut listener, mut conn) = (null_mut(), null_mut());
    let rec = Recorder::new();
    // SAFETY: consumer calls through the dispatch tables.
    unsafe {
        assert_eq!(
            (b.a().NdkCreateListener)(b.adapter, None, null_mut(), None, null_mut(), &mut listener),
            STATUS_SUCCESS
        );
        let lt: &NDK_LISTENER_DISPATCH = table(listener);
        assert_eq!(
            (lt.NdkListen)(listener, dst.as_ptr().cast(), dlen, None, null_mut()),
            STATUS_SUCCESS
        );
        assert_eq!(
            (a.node.a().NdkCreateConnector)(a.node.adapter, None, null_mut(), &mut conn),
            STATUS_SUCCESS
        );
        let st = (table::<_, NDK_CONNECTOR_DISPATCH>(conn).NdkConnect)(
            conn,
            a.qp,
            src.as_ptr().cast(),
            slen,
            dst.as_ptr().cast(),
            dlen,
            1,
            1,
            null_mut(),
            0,
            Some(on_request),
            rec.ctx(),
        );
        assert_eq!(st, STATUS_PENDING);
    }
    b.pump();
    assert_eq!(rec.take(), vec![Event::Request(STATUS_CONNECTION_REFUSED)]);
    assert_eq!(close(conn, &rec), STATUS_SUCCESS);
    assert_eq!(close(listener, &rec), STATUS_SUCCESS);
    assert!(rec.take().is_empty());
    a.close();
}

/// NicHal contract (hal/src/nic.rs `cm_release`): every `ConnId` the provider is given,
/// including the one of a `ConnectRequest` it refuses, is released (cm.rs `refuse`).
#[test]
fn a_refused_connect_request_releases_its_connection() {
    let fabric = Fabric::new();
    let a = Side::new(&fabric, "10.67.0.1", 16);
    let b = Node::new(&fabric, "10.67.0.2");
    let (dst, dlen) = sockaddr("10.67.0.2:445".parse().unwrap());
    let (src, slen) = sockaddr("10.67.0.1:0".parse().unwrap());
    let (mut listener, mut conn) = (null_mut(), null_mut());
    let rec = Recorder::new();
    // SAFETY: consumer calls through the dispatch tables.
    unsafe {
        assert_eq!(
            (b.a().NdkCreateListener)(b.adapter, None, null_mut(), None, null_mut(), &mut listener),
            STATUS_SUCCESS
        );
        let lt: &NDK_LISTENER_DISPATCH = table(listener);
        assert_eq!(
            (lt.NdkListen)(listener, dst.as_ptr().cast(), dlen, None, null_mut()),
            STATUS_SUCCESS
        );
        assert_eq!(
            (a.node.a().NdkCreateConnector)(a.node.adapter, None, null_mut(), &mut conn),
            STATUS_SUCCESS
        );
        let st = (table::<_, NDK_CONNECTOR_DISPATCH>(conn).NdkConnect)(
            conn,
            a.qp,
            src.as_ptr().cast(),
            slen,
            dst.as_ptr().cast(),
            dlen,
            1,
            1,
            null_mut(),
            0,
            Some(on_request),
            rec.ctx(),
        );
        assert_eq!(st, STATUS_PENDING);
    }
    b.pump();
    assert_eq!(rec.take(), vec![Event::Request(STATUS_CONNECTION_REFUSED)]);
    assert_eq!(close(conn, &rec), STATUS_SUCCESS);
    assert_eq!(close(listener, &rec), STATUS_SUCCESS);
    a.close();
    assert_eq!(
        b.nic.live_objects().conn,
        0,
        "the refused request's connection was released"
    );
}

/// mr.rs / pending.rs: a second request on an MR while one is pending is
/// STATUS_DEVICE_BUSY (inline, no callback); the first completes once.
#[test]
fn a_second_request_while_one_is_pending_is_device_busy() {
    let fabric = Fabric::new();
    let n = Node::new(&fabric, "10.66.0.1");
    let pd = make::pd(&n);
    let buf = HostBuffer::new(4096);
    let mut mdl = TestMdl::new(buf.addr(), 4096);
    let rec = Recorder::new();
    let mut mr = null_mut();
    n.nic.pend(MockOp::RegisterMr);
    // SAFETY: consumer calls on open objects.
    unsafe {
        assert_eq!(
            (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateMr)(pd, 0, None, null_mut(), &mut mr),
            STATUS_SUCCESS
        );
        let m: &NDK_MR_DISPATCH = table(mr);
        let reg = m.NdkRegisterMr;
        assert_eq!(
            reg(mr, mdl.as_ptr(), 4096, 0, Some(on_request), rec.ctx()),
            STATUS_PENDING
        );
        assert_eq!(
            reg(mr, mdl.as_ptr(), 4096, 0, Some(on_request), rec.ctx()),
            STATUS_DEVICE_BUSY
        );
        n.pump();
        assert!(rec.take().is_empty());
        n.nic.complete_pending();
        n.pump();
        assert_eq!(rec.take(), vec![Event::Request(STATUS_SUCCESS)]);
        assert_ne!((m.NdkGetLocalTokenFromMr)(mr), 0, "registered");
        assert_eq!((m.NdkDeregisterMr)(mr, None, null_mut()), STATUS_SUCCESS);
    }
    assert_eq!(close(mr, &rec), STATUS_SUCCESS);
    assert_eq!(close(pd, &rec), STATUS_SUCCESS);
    assert!(rec.take().is_empty());
}
