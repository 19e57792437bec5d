//! Initiator and receive posts through `NDK_QP_DISPATCH` (ndkpi.md §4.7, §5.2, §5.7,
//! §7.7): SILENT_SUCCESS, DEFER doorbell batching, INLINE data, SGE and flag checks, and
//! the error state after a failed request.

use std::ffi::c_void;

use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

use super::net;

/// An RDMA write of `len` bytes of A's buffer at `off` to the same offset of B's buffer.
fn write<B: Backend>(p: &Pair<B>, c: usize, off: u64, len: u32, flags: u32) -> NTSTATUS {
    let remote = p.b.buf.addr() + off;
    // SAFETY: consumer call on A's QP with a registered SGE.
    unsafe {
        (p.a.q().NdkWrite)(
            p.a.qp,
            ctx(c),
            &p.a.sge(off, len),
            1,
            remote,
            p.b.rkey,
            flags,
        )
    }
}

fn b_bytes<B: Backend>(p: &Pair<B>, off: usize, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    p.b.buf.read(off, &mut v);
    v
}

/// Posts a receive of 4 KiB at `off` of B's buffer.
fn b_receive<B: Backend>(p: &Pair<B>, c: usize, off: u64) {
    // SAFETY: consumer call on B's QP with a registered SGE.
    let s = unsafe { (p.b.q().NdkReceive)(p.b.qp, ctx(c), &p.b.sge(off, 4096), 1) };
    assert_eq!(s, STATUS_SUCCESS);
}

/// An unknown rkey on B.
const BAD_RKEY: u32 = 0xFFFF_FF00;

pub fn silent_success_produces_no_completion_on_success_but_one_on_failure<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    p.a.buf.write(0, b"silently written");
    assert_eq!(
        write(&p, 1, 0, 16, NDK_OP_FLAG_SILENT_SUCCESS),
        STATUS_SUCCESS
    );
    assert!(p.a.poll().is_empty(), "no completion for a silent success");
    assert_eq!(b_bytes(&p, 0, 16), b"silently written");
    // A silent send: the receiver still gets its completion, the sender none.
    b_receive(&p, 2, 4096);
    // SAFETY: consumer call on a connected QP.
    let s = unsafe {
        (p.a.q().NdkSend)(
            p.a.qp,
            ctx(3),
            &p.a.sge(0, 8),
            1,
            NDK_OP_FLAG_SILENT_SUCCESS,
        )
    };
    assert_eq!(s, STATUS_SUCCESS);
    assert!(p.a.poll().is_empty());
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeReceive)]
    );
    // A signaled request after silent ones completes alone.
    assert_eq!(write(&p, 4, 32, 8, 0), STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x104, NdkOperationTypeWrite)]
    );
    // A silent request that fails still completes.
    let remote = p.b.buf.addr();
    // SAFETY: consumer call on a connected QP.
    let s = unsafe {
        let f = NDK_OP_FLAG_SILENT_SUCCESS;
        (p.a.q().NdkWrite)(p.a.qp, ctx(5), &p.a.sge(0, 8), 1, remote, BAD_RKEY, f)
    };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_REMOTE_RESOURCES, 0x105, NdkOperationTypeWrite)]
    );
    p.close();
}

pub fn deferred_posts_ring_one_doorbell_with_the_next_normal_post<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let node = &p.a.node;
    b_receive(&p, 9, 4096);
    p.a.buf.write(0, b"first...second..third...");
    p.b.buf.write(8000, b"remote");
    let bells = node.doorbells();
    let defer = NDK_OP_FLAG_DEFER;
    assert_eq!(write(&p, 1, 0, 8, defer), STATUS_SUCCESS);
    // SAFETY: consumer calls on a connected QP.
    unsafe {
        let q = p.a.q();
        let remote = p.b.buf.addr() + 8000;
        let s = (q.NdkRead)(
            p.a.qp,
            ctx(2),
            &p.a.sge(2048, 6),
            1,
            remote,
            p.b.rkey,
            defer,
        );
        assert_eq!(s, STATUS_SUCCESS);
        assert_eq!(
            (q.NdkSend)(p.a.qp, ctx(3), &p.a.sge(8, 8), 1, defer),
            STATUS_SUCCESS
        );
    }
    assert_eq!(node.doorbells(), bells, "DEFER posts ring no doorbell");
    assert!(p.a.poll().is_empty());
    assert!(p.b.poll().is_empty());
    assert_eq!(b_bytes(&p, 0, 8), [0u8; 8], "not submitted yet");
    assert_eq!(write(&p, 4, 16, 8, 0), STATUS_SUCCESS);
    assert_eq!(
        node.doorbells(),
        bells.map(|b| b + 1),
        "one doorbell for the whole chain"
    );
    assert_eq!(
        summary(&p.a.wait_completions(4)),
        vec![
            (STATUS_SUCCESS, 0x101, NdkOperationTypeWrite),
            (STATUS_SUCCESS, 0x102, NdkOperationTypeRead),
            (STATUS_SUCCESS, 0x103, NdkOperationTypeSend),
            (STATUS_SUCCESS, 0x104, NdkOperationTypeWrite),
        ]
    );
    assert_eq!(b_bytes(&p, 0, 8), b"first...");
    assert_eq!(b_bytes(&p, 16, 8), b"third...");
    assert_eq!(b_bytes(&p, 4096, 8), b"second..");
    let mut got = [0u8; 6];
    p.a.buf.read(2048, &mut got);
    assert_eq!(&got, b"remote");
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x109, NdkOperationTypeReceive)]
    );
    p.close();
}

pub fn a_post_failing_validation_after_deferred_ones_rings_them_first<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let node = &p.a.node;
    let bells = node.doorbells();
    p.a.buf.fill(0x44);
    for i in 0..3u64 {
        assert_eq!(
            write(&p, i as usize, i * 16, 16, NDK_OP_FLAG_DEFER),
            STATUS_SUCCESS
        );
    }
    assert_eq!(node.doorbells(), bells);
    // SEND_AND_SOLICIT_EVENT is not a Write flag: the post fails before reaching the device,
    // and must still submit the three deferred writes (ndkpi.md §7.7).
    assert_eq!(
        write(&p, 3, 0, 16, NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(node.doorbells(), bells.map(|b| b + 1));
    let c = p.a.wait_completions(3);
    assert_eq!(
        c.len(),
        3,
        "the deferred writes ran; the failed one made no completion"
    );
    assert!(c.iter().all(|r| r.Status == STATUS_SUCCESS));
    assert_eq!(b_bytes(&p, 0, 48), vec![0x44u8; 48]);
    p.close();
}

pub fn inline_send_copies_the_data_at_post_time_and_ignores_the_token<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    b_receive(&p, 1, 0);
    // Unregistered memory, and a garbage token.
    let mut data = *b"inline payload, three sges";
    let s = [
        sge(data.as_ptr() as u64, 7, 0xDEAD_BEEF),
        sge(data.as_ptr() as u64 + 7, 9, 0x1234_5678),
        sge(data.as_ptr() as u64 + 16, 10, 0),
    ];
    let flags = NDK_OP_FLAG_INLINE | NDK_OP_FLAG_DEFER;
    // SAFETY: consumer call; inline SGEs name memory readable during the call. Three SGEs
    // exceed the QP's two initiator SGEs, which inline posts need not respect (ndkpi.md §5.2).
    let st = unsafe { (p.a.q().NdkSend)(p.a.qp, ctx(2), s.as_ptr(), 3, flags) };
    assert_eq!(st, STATUS_SUCCESS);
    // The deferred send has not run yet; the consumer may reuse its buffer already.
    data.fill(b'#');
    std::hint::black_box(&data);
    assert_eq!(write(&p, 3, 0, 0, 0), STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(2)),
        vec![
            (STATUS_SUCCESS, 0x102, NdkOperationTypeSend),
            (STATUS_SUCCESS, 0x103, NdkOperationTypeWrite)
        ]
    );
    let r = p.b.wait_completions(1);
    assert_eq!(
        summary(&r),
        vec![(STATUS_SUCCESS, 0x101, NdkOperationTypeReceive)]
    );
    assert_eq!(r[0].BytesTransferred, 26);
    assert_eq!(b_bytes(&p, 0, 26), b"inline payload, three sges");
    p.close();
}

pub fn inline_data_larger_than_the_qp_inline_size_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    // The side's QP was created with InlineDataSize 64.
    let data = [0x42u8; 80];
    let at = data.as_ptr() as u64;
    let q = p.a.q();
    // SAFETY: consumer calls; inline SGEs name readable memory.
    unsafe {
        let one = sge(at, 65, 0);
        assert_eq!(
            (q.NdkSend)(p.a.qp, ctx(1), &one, 1, NDK_OP_FLAG_INLINE),
            STATUS_INVALID_PARAMETER
        );
        let two = [sge(at, 40, 0), sge(at + 40, 25, 0)];
        assert_eq!(
            (q.NdkSend)(p.a.qp, ctx(2), two.as_ptr(), 2, NDK_OP_FLAG_INLINE),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (q.NdkSendAndInvalidate)(p.a.qp, ctx(3), &one, 1, NDK_OP_FLAG_INLINE, 5),
            STATUS_INVALID_PARAMETER
        );
    }
    assert!(
        p.a.poll().is_empty(),
        "an inline failure makes no completion"
    );
    // Exactly InlineDataSize is fine.
    b_receive(&p, 4, 0);
    // SAFETY: as above.
    let s = unsafe { (q.NdkSend)(p.a.qp, ctx(5), &sge(at, 64, 0), 1, NDK_OP_FLAG_INLINE) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(p.a.wait_completions(1).len(), 1);
    assert_eq!(b_bytes(&p, 0, 64), vec![0x42u8; 64]);
    p.close();
}

pub fn more_sges_than_the_qp_allows_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    // The side's QP takes 2 SGEs per initiator and per receive request.
    let three = [p.a.sge(0, 8), p.a.sge(8, 8), p.a.sge(16, 8)];
    let rthree = [p.b.sge(0, 8), p.b.sge(8, 8), p.b.sge(16, 8)];
    let remote = p.b.buf.addr();
    let bells = p.a.node.doorbells();
    // SAFETY: consumer calls on connected QPs with registered SGEs.
    unsafe {
        let q = p.a.q();
        let l = three.as_ptr();
        assert_eq!(
            (q.NdkSend)(p.a.qp, ctx(1), l, 3, 0),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (q.NdkSendAndInvalidate)(p.a.qp, ctx(2), l, 3, 0, 7),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (q.NdkWrite)(p.a.qp, ctx(3), l, 3, remote, p.b.rkey, 0),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (q.NdkRead)(p.a.qp, ctx(4), l, 3, remote, p.b.rkey, 0),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (p.b.q().NdkReceive)(p.b.qp, ctx(5), rthree.as_ptr(), 3),
            STATUS_INVALID_PARAMETER
        );
    }
    assert_eq!(p.a.node.doorbells(), bells);
    assert!(p.a.poll().is_empty());
    assert!(p.b.poll().is_empty());
    // Two SGEs gather in order.
    p.a.buf.write(0, b"head");
    p.a.buf.write(100, b"tail");
    let two = [p.a.sge(0, 4), p.a.sge(100, 4)];
    // SAFETY: as above.
    let s =
        unsafe { (p.a.q().NdkWrite)(p.a.qp, ctx(6), two.as_ptr(), 2, remote + 500, p.b.rkey, 0) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(p.a.wait_completions(1).len(), 1);
    assert_eq!(b_bytes(&p, 500, 8), b"headtail");
    p.close();
}

pub fn a_flag_not_allowed_for_the_operation_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let remote = p.b.buf.addr();
    let s = p.a.sge(0, 8);
    let mw = create_mw(&p.a.node, p.a.pd);
    let bells = p.a.node.doorbells();
    // SAFETY: consumer calls on a connected QP with open objects.
    unsafe {
        let q = p.a.q();
        let (qp, rk) = (p.a.qp, p.b.rkey);
        for f in [
            NDK_OP_FLAG_INLINE,
            NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT,
            NDK_OP_FLAG_ALLOW_REMOTE_READ,
            NDK_OP_FLAG_RDMA_READ_SINK,
        ] {
            assert_eq!(
                (q.NdkRead)(qp, ctx(1), &s, 1, remote, rk, f),
                STATUS_INVALID_PARAMETER
            );
        }
        for f in [
            NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT,
            NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE,
            NDK_OP_FLAG_ALLOW_REMOTE_WRITE,
        ] {
            assert_eq!(
                (q.NdkWrite)(qp, ctx(2), &s, 1, remote, rk, f),
                STATUS_INVALID_PARAMETER
            );
        }
        for f in [
            NDK_OP_FLAG_ALLOW_REMOTE_READ,
            NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE,
            NDK_OP_FLAG_ALLOW_LOCAL_WRITE,
        ] {
            assert_eq!((q.NdkSend)(qp, ctx(3), &s, 1, f), STATUS_INVALID_PARAMETER);
            assert_eq!(
                (q.NdkSendAndInvalidate)(qp, ctx(4), &s, 1, f, 9),
                STATUS_INVALID_PARAMETER
            );
        }
        let va = p.a.buf.addr() as *mut c_void;
        for f in [
            NDK_OP_FLAG_INLINE,
            NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT,
            NDK_OP_FLAG_RDMA_READ_SINK,
            NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE,
        ] {
            assert_eq!(
                (q.NdkBind)(
                    qp,
                    ctx(5),
                    p.a.mr,
                    mw,
                    va,
                    64,
                    f | NDK_OP_FLAG_ALLOW_REMOTE_READ
                ),
                STATUS_INVALID_PARAMETER
            );
        }
        for f in [NDK_OP_FLAG_INLINE, NDK_OP_FLAG_ALLOW_REMOTE_READ] {
            assert_eq!(
                (q.NdkInvalidate)(qp, ctx(6), mw.cast(), f),
                STATUS_INVALID_PARAMETER
            );
        }
        let fr = create_mr(&p.a.node, p.a.pd, true);
        assert_eq!(init_fast_register(&p.a.node, fr, 1, true), STATUS_SUCCESS);
        let page = [p.a.node.logical_pages(&p.a.buf)[0]];
        for f in [NDK_OP_FLAG_INLINE, NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT] {
            let st = (q.NdkFastRegister)(
                qp,
                ctx(7),
                fr,
                1,
                page.as_ptr(),
                0,
                4096,
                0x7000_0000_0000usize as *mut c_void,
                f,
            );
            assert_eq!(st, STATUS_INVALID_PARAMETER);
        }
        p.a.node.close_object(fr);
    }
    assert_eq!(p.a.node.doorbells(), bells, "nothing reached the device");
    assert!(
        p.a.poll().is_empty(),
        "an inline failure makes no completion"
    );
    p.a.node.close_object(mw);
    p.close();
}

pub fn after_an_error_completion_the_following_requests_complete_cancelled<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let remote = p.b.buf.addr();
    let before = p.b.buf.to_vec();
    let defer = NDK_OP_FLAG_DEFER;
    // SAFETY: consumer calls on A's QP with registered SGEs.
    unsafe {
        let q = p.a.q();
        let s = p.a.sge(0, 16);
        // A chain: a failing write, then requests queued behind it.
        assert_eq!(
            (q.NdkWrite)(p.a.qp, ctx(1), &s, 1, remote, BAD_RKEY, defer),
            STATUS_SUCCESS
        );
        assert_eq!((q.NdkSend)(p.a.qp, ctx(2), &s, 1, defer), STATUS_SUCCESS);
        assert_eq!(
            (q.NdkRead)(p.a.qp, ctx(3), &s, 1, remote, p.b.rkey, 0),
            STATUS_SUCCESS
        );
    }
    assert_eq!(
        summary(&p.a.wait_completions(3)),
        vec![
            (STATUS_REMOTE_RESOURCES, 0x101, NdkOperationTypeWrite),
            (STATUS_CANCELLED, 0x102, NdkOperationTypeSend),
            (STATUS_CANCELLED, 0x103, NdkOperationTypeRead),
        ]
    );
    // Requests posted later complete cancelled too, receives included.
    // SAFETY: as above.
    unsafe {
        let q = p.a.q();
        assert_eq!(
            (q.NdkWrite)(p.a.qp, ctx(4), &p.a.sge(0, 16), 1, remote, p.b.rkey, 0),
            STATUS_SUCCESS
        );
        assert_eq!(
            (q.NdkReceive)(p.a.qp, ctx(5), &p.a.sge(0, 64), 1),
            STATUS_SUCCESS
        );
    }
    assert_eq!(
        summary(&p.a.wait_completions(2)),
        vec![
            (STATUS_CANCELLED, 0x104, NdkOperationTypeWrite),
            (STATUS_CANCELLED, 0x105, NdkOperationTypeReceive),
        ]
    );
    assert_eq!(p.b.buf.to_vec(), before, "nothing reached B");
    p.close();
}
