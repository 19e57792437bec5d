//! Two emulated NICs, connected through NDK listener and connector objects, moving bytes with
//! send / receive, RDMA write and RDMA read — all through the dispatch tables.

use std::ffi::c_void;
use std::ptr::null_mut;

use hal::mock::{Fabric, HostBuffer};
use ndk_provider::abi::*;
use ndk_tests::*;

struct Qp {
    cq: *mut NDK_CQ,
    pd: *mut NDK_PD,
    qp: *mut NDK_QP,
    mr: *mut NDK_MR,
    buf: HostBuffer,
    _mdl: TestMdl,
}

unsafe fn setup(n: &Node, rec: &Recorder) -> Qp {
    let a = n.a();
    let mut cq = null_mut();
    let s = (a.NdkCreateCq)(
        n.adapter,
        64,
        Some(on_cq),
        rec.ctx(),
        null_mut(),
        Some(on_create),
        rec.ctx(),
        &mut cq,
    );
    assert_eq!(s, STATUS_SUCCESS);
    let mut pd = null_mut();
    assert_eq!(
        (a.NdkCreatePd)(n.adapter, Some(on_create), rec.ctx(), &mut pd),
        STATUS_SUCCESS
    );
    let pdt: &NDK_PD_DISPATCH = table(pd);
    let mut qp = null_mut();
    let s = (pdt.NdkCreateQp)(
        pd,
        cq,
        cq,
        0x5150 as *mut c_void,
        16,
        16,
        2,
        2,
        64,
        Some(on_create),
        rec.ctx(),
        &mut qp,
    );
    assert_eq!(s, STATUS_SUCCESS);
    let mut mr = null_mut();
    assert_eq!(
        (pdt.NdkCreateMr)(pd, 0, Some(on_create), rec.ctx(), &mut mr),
        STATUS_SUCCESS
    );
    let buf = HostBuffer::new(8192);
    let mut mdl = TestMdl::new(buf.addr(), 8192);
    let mrt: &NDK_MR_DISPATCH = table(mr);
    let flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE
        | NDK_MR_FLAG_ALLOW_REMOTE_READ
        | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
    let s = (mrt.NdkRegisterMr)(mr, mdl.as_ptr(), 8192, flags, Some(on_request), rec.ctx());
    assert_eq!(s, STATUS_SUCCESS);
    Qp {
        cq,
        pd,
        qp,
        mr,
        buf,
        _mdl: mdl,
    }
}

unsafe fn poll(cq: *mut NDK_CQ) -> Vec<NDK_RESULT_EX> {
    let t: &NDK_CQ_DISPATCH = table(cq);
    let mut out = [NDK_RESULT_EX {
        Status: 0,
        BytesTransferred: 0,
        QPContext: null_mut(),
        RequestContext: null_mut(),
        Type: 0,
        ProviderErrorCode: 0,
        TypeSpecificCompletionOutput: 0,
    }; 8];
    let n = (t.NdkGetCqResultsEx)(cq, out.as_mut_ptr(), 8);
    out[..n as usize].to_vec()
}

unsafe fn close<O>(obj: *mut O) {
    let d = *(obj
        .cast::<u8>()
        .add(0x28)
        .cast::<*const NDK_FN_CLOSE_OBJECT>());
    let close: NDK_FN_CLOSE_OBJECT = *d;
    assert_eq!(
        close(obj.cast(), Some(on_close), null_mut()),
        STATUS_SUCCESS
    );
}

#[test]
fn send_write_and_read_move_bytes_between_two_adapters() {
    let fabric = Fabric::new();
    let a = Node::new(&fabric, "10.0.0.1");
    let b = Node::new(&fabric, "10.0.0.2");
    let (ra, rb) = (Recorder::new(), Recorder::new());
    unsafe {
        let qa = setup(&a, &ra);
        let qb = setup(&b, &rb);

        // Passive side listens.
        let mut listener = null_mut();
        let s = (b.a().NdkCreateListener)(
            b.adapter,
            Some(on_connect),
            rb.ctx(),
            Some(on_create),
            rb.ctx(),
            &mut listener,
        );
        assert_eq!(s, STATUS_SUCCESS);
        let lt: &NDK_LISTENER_DISPATCH = table(listener);
        let (addr, len) = sockaddr("10.0.0.2:445".parse().unwrap());
        let s = (lt.NdkListen)(
            listener,
            addr.as_ptr().cast(),
            len,
            Some(on_request),
            rb.ctx(),
        );
        assert!(s == STATUS_SUCCESS || s == STATUS_PENDING, "listen: {s:#x}");
        rb.take();

        // Active side connects.
        let mut conn_a = null_mut();
        assert_eq!(
            (a.a().NdkCreateConnector)(a.adapter, Some(on_create), ra.ctx(), &mut conn_a),
            STATUS_SUCCESS
        );
        let ct: &NDK_CONNECTOR_DISPATCH = table(conn_a);
        let (src, slen) = sockaddr("10.0.0.1:0".parse().unwrap());
        let pdata = *b"hello-req";
        let s = (ct.NdkConnect)(
            conn_a,
            qa.qp,
            src.as_ptr().cast(),
            slen,
            addr.as_ptr().cast(),
            len,
            4,
            4,
            pdata.as_ptr().cast(),
            pdata.len() as u32,
            Some(on_request),
            ra.ctx(),
        );
        assert_eq!(s, STATUS_PENDING);
        assert!(rb.take().is_empty(), "no callback before the DPC runs");
        b.pump();
        let ev = rb.take();
        let Some(Event::Connect(conn_b)) = ev.first().copied() else {
            panic!("no connect event: {ev:?}")
        };
        let conn_b = conn_b as *mut NDK_CONNECTOR;
        let mut got = [0u8; 64];
        let mut glen = 64u32;
        let (mut ird, mut ord) = (0u32, 0u32);
        let s = (ct.NdkGetConnectionData)(
            conn_b,
            &mut ird,
            &mut ord,
            got.as_mut_ptr().cast(),
            &mut glen,
        );
        assert_eq!(s, STATUS_SUCCESS);
        assert_eq!(&got[..glen as usize], b"hello-req");

        let s = (ct.NdkAcceptEx)(
            conn_b,
            qb.qp,
            4,
            4,
            null_mut(),
            0,
            None,
            null_mut(),
            Some(on_request),
            rb.ctx(),
        );
        assert!(s == STATUS_PENDING || s == STATUS_SUCCESS, "accept: {s:#x}");
        a.pump();
        assert_eq!(
            ra.take(),
            vec![Event::Request(STATUS_SUCCESS)],
            "connect completes when the peer accepted"
        );
        let s = (ct.NdkCompleteConnectEx)(conn_a, None, null_mut(), Some(on_request), ra.ctx());
        assert!(
            s == STATUS_SUCCESS || s == STATUS_PENDING,
            "complete: {s:#x}"
        );
        b.pump();
        assert_eq!(
            rb.take(),
            vec![Event::Request(STATUS_SUCCESS)],
            "accept completes on RTU"
        );

        // Send / receive.
        let qpt: &NDK_QP_DISPATCH = table(qa.qp);
        let lkey_b = (table::<_, NDK_MR_DISPATCH>(qb.mr).NdkGetLocalTokenFromMr)(qb.mr);
        let rsge = sge(qb.buf.addr(), 4096, lkey_b);
        assert_eq!(
            (qpt.NdkReceive)(qb.qp, 0x107 as *mut c_void, &rsge, 1),
            STATUS_SUCCESS
        );
        qa.buf.write(0, b"send payload");
        let lkey_a = (table::<_, NDK_MR_DISPATCH>(qa.mr).NdkGetLocalTokenFromMr)(qa.mr);
        let ssge = sge(qa.buf.addr(), 12, lkey_a);
        assert_eq!(
            (qpt.NdkSend)(qa.qp, 0x101 as *mut c_void, &ssge, 1, 0),
            STATUS_SUCCESS
        );
        let ca = poll(qa.cq);
        assert_eq!(ca.len(), 1);
        assert_eq!(
            (ca[0].Status, ca[0].RequestContext as usize, ca[0].Type),
            (STATUS_SUCCESS, 0x101, NdkOperationTypeSend)
        );
        assert_eq!(ca[0].QPContext as usize, 0x5150);
        let cb = poll(qb.cq);
        assert_eq!(cb.len(), 1);
        assert_eq!(
            (cb[0].Status, cb[0].BytesTransferred, cb[0].Type),
            (STATUS_SUCCESS, 12, NdkOperationTypeReceive)
        );
        let mut back = [0u8; 12];
        qb.buf.read(0, &mut back);
        assert_eq!(&back, b"send payload");

        // RDMA write into B, then RDMA read it back into A's second page.
        let rkey_b = (table::<_, NDK_MR_DISPATCH>(qb.mr).NdkGetRemoteTokenFromMr)(qb.mr);
        qa.buf.write(100, b"written remotely");
        let wsge = sge(qa.buf.addr() + 100, 16, lkey_a);
        let s = (qpt.NdkWrite)(
            qa.qp,
            0x102 as *mut c_void,
            &wsge,
            1,
            qb.buf.addr() + 5000,
            rkey_b,
            0,
        );
        assert_eq!(s, STATUS_SUCCESS);
        let w = poll(qa.cq);
        assert_eq!(
            (w.len(), w[0].Status, w[0].Type),
            (1, STATUS_SUCCESS, NdkOperationTypeWrite)
        );
        let mut back = [0u8; 16];
        qb.buf.read(5000, &mut back);
        assert_eq!(&back, b"written remotely");

        let dsge = sge(qa.buf.addr() + 4096, 16, lkey_a);
        let s = (qpt.NdkRead)(
            qa.qp,
            0x103 as *mut c_void,
            &dsge,
            1,
            qb.buf.addr() + 5000,
            rkey_b,
            0,
        );
        assert_eq!(s, STATUS_SUCCESS);
        let r = poll(qa.cq);
        assert_eq!(
            (r.len(), r[0].Status, r[0].Type),
            (1, STATUS_SUCCESS, NdkOperationTypeRead)
        );
        qa.buf.read(4096, &mut back);
        assert_eq!(&back, b"written remotely");

        // A write beyond the remote region fails on the initiator and leaves B untouched.
        let before = qb.buf.to_vec();
        let s = (qpt.NdkWrite)(
            qa.qp,
            0x104 as *mut c_void,
            &wsge,
            1,
            qb.buf.addr() + 8190,
            rkey_b,
            0,
        );
        assert_eq!(s, STATUS_SUCCESS);
        let e = poll(qa.cq);
        assert_eq!((e.len(), e[0].Status), (1, STATUS_REMOTE_RESOURCES));
        assert_eq!(qb.buf.to_vec(), before, "target memory unchanged");

        // Tear down: connectors, QPs, MRs, PDs, CQs, listener, then the adapters.
        close(conn_a);
        close(conn_b);
        close(listener);
        for q in [&qa, &qb] {
            close(q.qp);
            let mrt: &NDK_MR_DISPATCH = table(q.mr);
            assert_eq!(
                (mrt.NdkDeregisterMr)(q.mr, Some(on_request), null_mut()),
                STATUS_SUCCESS
            );
            close(q.mr);
            close(q.pd);
            close(q.cq);
        }
        ndk_provider::adapter::close::<hal::mock::MockNic>(a.adapter);
        ndk_provider::adapter::close::<hal::mock::MockNic>(b.adapter);
    }
}
