//! Memory through the dispatch tables: logical address mappings and the privileged token
//! (ndkpi.md §4.1, §4.2, §5.2, §5.6), MR registration and tokens (§4.4), memory windows
//! and `NdkBind` (§4.5, §4.7, §7.6), fast registration, invalidation, send-and-invalidate
//! and read-with-local-invalidate (§4.7, §5.4, §5.5).

use std::ffi::c_void;

use hal::mock::HostBuffer;
use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

use super::net;

/// A remote write of 16 bytes from A's buffer that is expected to be refused by B: A's
/// request completes with `STATUS_REMOTE_RESOURCES` and B's buffer `target` is unchanged.
fn assert_remote_write_refused<B: Backend>(
    p: &Pair<B>,
    target: &HostBuffer,
    remote: u64,
    rkey: u32,
) {
    let before = target.to_vec();
    p.a.buf.write(0, b"must not arrive!");
    // SAFETY: consumer call on a connected QP with a registered SGE.
    let s = unsafe { (p.a.q().NdkWrite)(p.a.qp, ctx(99), &p.a.sge(0, 16), 1, remote, rkey, 0) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_REMOTE_RESOURCES, 0x100 + 99, NdkOperationTypeWrite)]
    );
    assert_eq!(target.to_vec(), before, "target memory unchanged");
}

/// Binds `mw` over `len` bytes of B's buffer at `offset` with `flags`; returns the status.
fn bind<B: Backend>(
    p: &Pair<B>,
    c: usize,
    mr: *mut NDK_MR,
    mw: *mut NDK_MW,
    va: u64,
    len: usize,
    f: u32,
) -> NTSTATUS {
    // SAFETY: consumer call on B's connected QP with open MR and MW.
    unsafe { (p.b.q().NdkBind)(p.b.qp, ctx(c), mr, mw, va as *mut c_void, len, f) }
}

const RW: u32 = NDK_OP_FLAG_ALLOW_REMOTE_READ | NDK_OP_FLAG_ALLOW_REMOTE_WRITE;

/// Base VA of fast registrations: page-aligned, far from anything registered.
const FR_VA: u64 = 0x7000_0000_0000;

/// `NdkFastRegister` on `side`'s QP.
#[allow(clippy::too_many_arguments)]
fn fast_register<B: Backend>(
    side: &Side<B>,
    c: usize,
    mr: *mut NDK_MR,
    pages: &[i64],
    fbo: u32,
    len: usize,
    va: u64,
    flags: u32,
) -> NTSTATUS {
    // SAFETY: consumer call on a connected QP; `pages` has `pages.len()` entries.
    unsafe {
        (side.q().NdkFastRegister)(
            side.qp,
            ctx(c),
            mr,
            pages.len() as u32,
            pages.as_ptr(),
            fbo,
            len,
            va as *mut c_void,
            flags,
        )
    }
}

pub fn build_lam_with_a_small_buffer_is_buffer_too_small_with_the_required_size<B: Backend>() {
    let net = net::<B>();
    let n = Node::<B>::open(&net, "10.2.0.1");
    let buf = HostBuffer::new(16384);
    // 100 + 8192 bytes span three pages.
    let mut mdl = TestMdl::new(buf.addr() + 100, 8192);
    let need = 0x10 + 8 * 3;
    let (s, lam) = Lam::build(&n, mdl.as_ptr(), 8192, 0);
    assert_eq!((s, lam.size), (STATUS_BUFFER_TOO_SMALL, need));
    let (s, lam) = Lam::build(&n, mdl.as_ptr(), 8192, need - 1);
    assert_eq!((s, lam.size), (STATUS_BUFFER_TOO_SMALL, need));
    assert_eq!(lam.page_count(), 0, "nothing written into a short buffer");
    n.close();
}

pub fn build_lam_fills_page_count_logical_addresses_and_first_byte_offset<B: Backend>() {
    let net = net::<B>();
    let n = Node::<B>::open(&net, "10.2.0.1");
    let buf = HostBuffer::new(16384);
    let mut mdl = TestMdl::new(buf.addr() + 100, 8192);
    let (s, lam) = Lam::build(&n, mdl.as_ptr(), 8192, 0x28);
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!((lam.page_count(), lam.fbo, lam.size), (3, 100, 0x28));
    let want: Vec<i64> = n.logical_pages(&buf)[..3].to_vec();
    assert_eq!(
        lam.pages(),
        want,
        "logical address = the platform's page_logical_address(pfn)"
    );
    // A larger buffer than needed works too; only the first `Length` bytes are mapped.
    let (s, lam2) = Lam::build(&n, mdl.as_ptr(), 10, 0x100);
    assert_eq!((s, lam2.page_count(), lam2.fbo), (STATUS_SUCCESS, 1, 100));
    assert_eq!(lam2.pages(), want[..1].to_vec());
    lam.release(&n);
    lam2.release(&n);
    // SAFETY: a live test MDL.
    let m = unsafe { &*mdl.as_ptr() };
    assert_eq!(
        (
            m.StartVa as u64,
            m.ByteOffset,
            m.ByteCount,
            m.Next.is_null()
        ),
        (buf.addr(), 100, 8192, true),
        "the MDL is left as it was"
    );
    n.close();
}

pub fn build_lam_of_a_non_contiguous_mdl_chain_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let n = Node::<B>::open(&net, "10.2.0.1");
    let buf = HostBuffer::new(4 * 4096);
    // A gap of one page between the two MDLs.
    let mut m1 = TestMdl::new(buf.addr(), 4096);
    let mut m2 = TestMdl::new(buf.addr() + 8192, 4096);
    // SAFETY: both MDLs are live test MDLs.
    unsafe { (*m1.as_ptr()).Next = m2.as_ptr() };
    let (s, _) = Lam::build(&n, m1.as_ptr(), 8192, 0x100);
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    // The first MDL does not end on a page boundary.
    let mut m3 = TestMdl::new(buf.addr(), 4000);
    let mut m4 = TestMdl::new(buf.addr() + 4000, 4096);
    // SAFETY: as above.
    unsafe { (*m3.as_ptr()).Next = m4.as_ptr() };
    let (s, _) = Lam::build(&n, m3.as_ptr(), 8000, 0x100);
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    // A chain shorter than Length.
    let mut m5 = TestMdl::new(buf.addr(), 4096);
    let (s, _) = Lam::build(&n, m5.as_ptr(), 8192, 0x100);
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    // A virtually contiguous chain maps page after page.
    let mut m6 = TestMdl::new(buf.addr() + 100, 3996);
    let mut m7 = TestMdl::new(buf.addr() + 4096, 4096);
    // SAFETY: as above.
    unsafe { (*m6.as_ptr()).Next = m7.as_ptr() };
    let (s, lam) = Lam::build(&n, m6.as_ptr(), 8092, 0x100);
    assert_eq!((s, lam.page_count(), lam.fbo), (STATUS_SUCCESS, 2, 100));
    let want: Vec<i64> = n.logical_pages(&buf)[..2].to_vec();
    assert_eq!(lam.pages(), want);
    lam.release(&n);
    n.close();
}

pub fn lam_addresses_with_the_privileged_token_move_bytes_in_send_and_receive<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let (a, b) = (&p.a, &p.b);
    // B receives into 200 bytes that straddle a page boundary: one SGE per LAM page.
    let b_raw = HostBuffer::new(8192);
    let mut b_mdl = TestMdl::new(b_raw.addr() + 4000, 200);
    let (s, b_lam) = Lam::build(&b.node, b_mdl.as_ptr(), 200, 0x20);
    assert_eq!(
        (s, b_lam.page_count(), b_lam.fbo),
        (STATUS_SUCCESS, 2, 4000)
    );
    let b_priv = privileged_token(b.pd);
    let bp = b_lam.pages();
    let rx = [
        sge(bp[0] as u64 + 4000, 96, b_priv),
        sge(bp[1] as u64, 104, b_priv),
    ];
    // A sends 200 bytes from unregistered memory named by its LAM.
    let a_raw = HostBuffer::new(4096);
    let payload: Vec<u8> = (0..200u8).collect();
    a_raw.write(300, &payload);
    let mut a_mdl = TestMdl::new(a_raw.addr() + 300, 200);
    let (s, a_lam) = Lam::build(&a.node, a_mdl.as_ptr(), 200, 0x18);
    assert_eq!((s, a_lam.page_count(), a_lam.fbo), (STATUS_SUCCESS, 1, 300));
    let a_priv = privileged_token(a.pd);
    let tx = sge(a_lam.pages()[0] as u64 + 300, 200, a_priv);
    // SAFETY: consumer calls on connected QPs.
    unsafe {
        assert_eq!(
            (b.q().NdkReceive)(b.qp, ctx(1), rx.as_ptr(), 2),
            STATUS_SUCCESS
        );
        assert_eq!((a.q().NdkSend)(a.qp, ctx(2), &tx, 1, 0), STATUS_SUCCESS);
    }
    assert_eq!(
        summary(&a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeSend)]
    );
    let r = b.wait_completions(1);
    assert_eq!(
        summary(&r),
        vec![(STATUS_SUCCESS, 0x101, NdkOperationTypeReceive)]
    );
    assert_eq!(r[0].BytesTransferred, 200);
    let mut got = vec![0u8; 200];
    b_raw.read(4000, &mut got);
    assert_eq!(got, payload);
    a_lam.release(&a.node);
    b_lam.release(&b.node);
    p.close();
}

pub fn privileged_token_is_refused_for_remote_access<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let b_raw = HostBuffer::new(4096);
    b_raw.fill(0x5A);
    let mut mdl = TestMdl::new(b_raw.addr(), 4096);
    let (s, lam) = Lam::build(&p.b.node, mdl.as_ptr(), 4096, 0x18);
    assert_eq!(s, STATUS_SUCCESS);
    let b_priv = privileged_token(p.b.pd);
    // The logical address is a valid local address for B, but the token is local-only.
    assert_remote_write_refused(&p, &b_raw, lam.pages()[0] as u64, b_priv);
    lam.release(&p.b.node);
    p.close();
}

pub fn initialize_fast_register_on_a_normal_mr_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let n = Node::<B>::open(&net, "10.2.0.1");
    let pd = make::pd(&n);
    let mr = create_mr(&n, pd, false);
    assert_eq!(
        init_fast_register(&n, mr, 4, true),
        STATUS_INVALID_PARAMETER
    );
    let fr = create_mr(&n, pd, true);
    assert_eq!(
        init_fast_register(&n, fr, 0, true),
        STATUS_IMPLEMENTATION_LIMIT
    );
    assert_eq!(init_fast_register(&n, fr, 4, true), STATUS_SUCCESS);
    // ndkpi.md §4.4: may be called more than once.
    assert_eq!(init_fast_register(&n, fr, 8, false), STATUS_SUCCESS);
    for o in [fr.cast::<c_void>(), mr.cast(), pd.cast()] {
        n.close_object(o);
    }
    n.close();
}

pub fn register_mr_of_a_non_contiguous_mdl_chain_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let n = Node::<B>::open(&net, "10.2.0.1");
    let pd = make::pd(&n);
    let mr = create_mr(&n, pd, false);
    let buf = HostBuffer::new(3 * 4096);
    let mut m1 = TestMdl::new(buf.addr(), 4096);
    let mut m2 = TestMdl::new(buf.addr() + 8192, 4096);
    // SAFETY: both MDLs are live test MDLs.
    unsafe { (*m1.as_ptr()).Next = m2.as_ptr() };
    assert_eq!(
        register(&n, mr, &mut m1, 8192, NDK_MR_FLAG_ALLOW_LOCAL_WRITE),
        STATUS_INVALID_PARAMETER
    );
    for o in [mr.cast::<c_void>(), pd.cast()] {
        n.close_object(o);
    }
    n.close();
}

pub fn deregister_then_register_again_gives_new_tokens_and_the_old_remote_token_fails<
    B: Backend,
>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let (old_l, old_r) = (p.b.lkey, p.b.rkey);
    assert_eq!(deregister(&p.b.node, p.b.mr), STATUS_SUCCESS);
    let mut mdl = TestMdl::new(p.b.buf.addr(), SIDE_BUF);
    let flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE
        | NDK_MR_FLAG_ALLOW_REMOTE_READ
        | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
    assert_eq!(
        register(&p.b.node, p.b.mr, &mut mdl, SIDE_BUF, flags),
        STATUS_SUCCESS
    );
    let (new_l, new_r) = tokens(p.b.mr);
    assert_ne!(new_l, old_l);
    assert_ne!(new_r, old_r);
    // The new remote token works ...
    let remote = p.b.buf.addr() + 64;
    p.a.buf.write(0, b"through new key!");
    // SAFETY: consumer call on a connected QP.
    let s = unsafe { (p.a.q().NdkWrite)(p.a.qp, ctx(1), &p.a.sge(0, 16), 1, remote, new_r, 0) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x101, NdkOperationTypeWrite)]
    );
    let mut got = [0u8; 16];
    p.b.buf.read(64, &mut got);
    assert_eq!(&got, b"through new key!");
    // ... the old one no longer does.
    assert_remote_write_refused(&p, &p.b.buf, remote, old_r);
    p.close();
}

pub fn bind_then_remote_access_through_the_window_token_moves_bytes_within_the_window<
    B: Backend,
>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let mw = create_mw(&p.b.node, p.b.pd);
    let base = p.b.buf.addr() + 1024;
    assert_eq!(bind(&p, 1, p.b.mr, mw, base, 512, RW), STATUS_SUCCESS);
    let token = mw_token(mw);
    assert_ne!(token, p.b.rkey);
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x101, NdkOperationTypeBind)]
    );
    p.a.buf.write(0, b"through a window");
    // SAFETY: consumer calls on A's connected QP.
    unsafe {
        let q = p.a.q();
        assert_eq!(
            (q.NdkWrite)(p.a.qp, ctx(2), &p.a.sge(0, 16), 1, base + 100, token, 0),
            STATUS_SUCCESS
        );
        assert_eq!(
            (q.NdkRead)(p.a.qp, ctx(3), &p.a.sge(4096, 16), 1, base + 100, token, 0),
            STATUS_SUCCESS
        );
    }
    assert_eq!(
        summary(&p.a.wait_completions(2)),
        vec![
            (STATUS_SUCCESS, 0x102, NdkOperationTypeWrite),
            (STATUS_SUCCESS, 0x103, NdkOperationTypeRead)
        ]
    );
    let mut got = [0u8; 16];
    p.b.buf.read(1024 + 100, &mut got);
    assert_eq!(&got, b"through a window");
    p.a.buf.read(4096, &mut got);
    assert_eq!(&got, b"through a window");
    // Inside the MR but past the window's end: refused.
    assert_remote_write_refused(&p, &p.b.buf, base + 512 - 8, token);
    p.b.node.close_object(mw);
    p.close();
}

pub fn bind_outside_the_mr_range_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let mw = create_mw(&p.b.node, p.b.pd);
    let start = p.b.buf.addr();
    let end = start + u64::from(SIDE_BUF);
    assert_eq!(
        bind(&p, 1, p.b.mr, mw, start - 16, 64, RW),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        bind(&p, 2, p.b.mr, mw, end - 100, 200, RW),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        bind(&p, 3, p.b.mr, mw, end, 1, RW),
        STATUS_INVALID_PARAMETER
    );
    // A flag Bind does not take.
    assert_eq!(
        bind(&p, 4, p.b.mr, mw, start, 64, RW | NDK_OP_FLAG_INLINE),
        STATUS_INVALID_PARAMETER
    );
    assert!(
        p.b.poll().is_empty(),
        "an inline failure makes no completion"
    );
    // The whole MR is a valid range.
    assert_eq!(
        bind(&p, 5, p.b.mr, mw, start, SIDE_BUF as usize, RW),
        STATUS_SUCCESS
    );
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x105, NdkOperationTypeBind)]
    );
    p.b.node.close_object(mw);
    p.close();
}

pub fn bind_with_remote_write_over_an_mr_without_local_write_is_access_violation<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let buf = HostBuffer::new(4096);
    buf.write(10, b"readable only");
    let mut mdl = TestMdl::new(buf.addr(), 4096);
    let mr = create_mr(&p.b.node, p.b.pd, false);
    assert_eq!(
        register(&p.b.node, mr, &mut mdl, 4096, NDK_MR_FLAG_ALLOW_REMOTE_READ),
        STATUS_SUCCESS
    );
    let mw = create_mw(&p.b.node, p.b.pd);
    for f in [NDK_OP_FLAG_ALLOW_REMOTE_WRITE, RW] {
        assert_eq!(
            bind(&p, 1, mr, mw, buf.addr(), 4096, f),
            STATUS_ACCESS_VIOLATION
        );
    }
    assert!(
        p.b.poll().is_empty(),
        "an inline failure makes no completion"
    );
    // Remote read alone is fine over that MR.
    assert_eq!(
        bind(
            &p,
            2,
            mr,
            mw,
            buf.addr(),
            4096,
            NDK_OP_FLAG_ALLOW_REMOTE_READ
        ),
        STATUS_SUCCESS
    );
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeBind)]
    );
    // SAFETY: consumer call on A's connected QP.
    let s = unsafe {
        (p.a.q().NdkRead)(
            p.a.qp,
            ctx(3),
            &p.a.sge(0, 13),
            1,
            buf.addr() + 10,
            mw_token(mw),
            0,
        )
    };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x103, NdkOperationTypeRead)]
    );
    let mut got = [0u8; 13];
    p.a.buf.read(0, &mut got);
    assert_eq!(&got, b"readable only");
    p.b.node.close_object(mw);
    assert_eq!(deregister(&p.b.node, mr), STATUS_SUCCESS);
    p.b.node.close_object(mr);
    p.close();
}

pub fn invalidate_of_a_window_makes_its_token_fail_on_the_initiator_and_leaves_the_target_unchanged<
    B: Backend,
>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let mw = create_mw(&p.b.node, p.b.pd);
    let base = p.b.buf.addr() + 2048;
    assert_eq!(bind(&p, 1, p.b.mr, mw, base, 256, RW), STATUS_SUCCESS);
    let token = mw_token(mw);
    // SAFETY: consumer calls on connected QPs.
    unsafe {
        p.a.buf.write(0, b"before invalidate");
        assert_eq!(
            (p.a.q().NdkWrite)(p.a.qp, ctx(2), &p.a.sge(0, 17), 1, base, token, 0),
            STATUS_SUCCESS
        );
        assert_eq!(
            summary(&p.a.wait_completions(1)),
            vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeWrite)]
        );
        let s = (p.b.q().NdkInvalidate)(p.b.qp, ctx(3), mw.cast(), 0);
        assert_eq!(s, STATUS_SUCCESS);
    }
    assert_eq!(
        summary(&p.b.wait_completions(2)),
        vec![
            (STATUS_SUCCESS, 0x101, NdkOperationTypeBind),
            (STATUS_SUCCESS, 0x103, NdkOperationTypeInvalidate)
        ]
    );
    assert_remote_write_refused(&p, &p.b.buf, base, token);
    let mut got = [0u8; 17];
    p.b.buf.read(2048, &mut got);
    assert_eq!(&got, b"before invalidate");
    p.b.node.close_object(mw);
    p.close();
}

pub fn invalidate_of_an_mr_registered_with_register_mr_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    // SAFETY: consumer calls on a connected QP.
    unsafe {
        let q = p.b.q();
        assert_eq!(
            (q.NdkInvalidate)(p.b.qp, ctx(1), p.b.mr.cast(), 0),
            STATUS_INVALID_PARAMETER
        );
        let mw = create_mw(&p.b.node, p.b.pd);
        assert_eq!(
            (q.NdkInvalidate)(p.b.qp, ctx(2), mw.cast(), NDK_OP_FLAG_INLINE),
            STATUS_INVALID_PARAMETER
        );
        p.b.node.close_object(mw);
    }
    assert!(p.b.poll().is_empty());
    p.close();
}

pub fn fast_register_of_lam_pages_then_remote_read_through_its_token_and_invalidate<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let data = HostBuffer::new(3 * 4096);
    let pattern: Vec<u8> = (0..8000u32).map(|i| (i * 7) as u8).collect();
    data.write(0x80, &pattern);
    let mut mdl = TestMdl::new(data.addr() + 0x80, 8000);
    let (s, lam) = Lam::build(&p.b.node, mdl.as_ptr(), 8000, 0x20);
    assert_eq!((s, lam.page_count(), lam.fbo), (STATUS_SUCCESS, 2, 0x80));
    let fr = create_mr(&p.b.node, p.b.pd, true);
    assert_eq!(init_fast_register(&p.b.node, fr, 4, true), STATUS_SUCCESS);
    let va = FR_VA + 0x80;
    let s = fast_register(
        &p.b,
        1,
        fr,
        &lam.pages(),
        0x80,
        8000,
        va,
        NDK_OP_FLAG_ALLOW_REMOTE_READ,
    );
    assert_eq!(s, STATUS_SUCCESS);
    let token = tokens(fr).1;
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x101, NdkOperationTypeFastRegister)]
    );
    // A read across the page boundary of the registration.
    // SAFETY: consumer call on a connected QP.
    let s = unsafe { (p.a.q().NdkRead)(p.a.qp, ctx(2), &p.a.sge(0, 64), 1, va + 4000, token, 0) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeRead)]
    );
    let mut got = [0u8; 64];
    p.a.buf.read(0, &mut got);
    assert_eq!(&got[..], &pattern[4000..4064]);
    // Invalidate the FR MR: the token stops working.
    // SAFETY: consumer call on a connected QP.
    let s = unsafe { (p.b.q().NdkInvalidate)(p.b.qp, ctx(3), fr.cast(), 0) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x103, NdkOperationTypeInvalidate)]
    );
    let before = p.a.buf.to_vec();
    // SAFETY: consumer call on a connected QP.
    let s = unsafe { (p.a.q().NdkRead)(p.a.qp, ctx(4), &p.a.sge(0, 64), 1, va, token, 0) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_REMOTE_RESOURCES, 0x104, NdkOperationTypeRead)]
    );
    assert_eq!(
        p.a.buf.to_vec(),
        before,
        "no byte read through an invalidated token"
    );
    lam.release(&p.b.node);
    p.b.node.close_object(fr);
    p.close();
}

pub fn fast_register_with_remote_flags_on_an_mr_initialized_without_remote_access_is_access_violation<
    B: Backend,
>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let data = HostBuffer::new(4096);
    let fr = create_mr(&p.b.node, p.b.pd, true);
    assert_eq!(init_fast_register(&p.b.node, fr, 1, false), STATUS_SUCCESS);
    let pages = [p.b.node.logical_pages(&data)[0]];
    for f in [
        NDK_OP_FLAG_ALLOW_REMOTE_READ,
        NDK_OP_FLAG_ALLOW_REMOTE_WRITE,
        NDK_OP_FLAG_ALLOW_REMOTE_READ | NDK_OP_FLAG_ALLOW_LOCAL_WRITE,
    ] {
        assert_eq!(
            fast_register(&p.b, 1, fr, &pages, 0, 4096, FR_VA, f),
            STATUS_ACCESS_VIOLATION
        );
    }
    assert!(
        p.b.poll().is_empty(),
        "an inline failure makes no completion"
    );
    // Local access alone is allowed.
    let s = fast_register(
        &p.b,
        2,
        fr,
        &pages,
        0,
        4096,
        FR_VA,
        NDK_OP_FLAG_ALLOW_LOCAL_WRITE,
    );
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeFastRegister)]
    );
    p.b.node.close_object(fr);
    p.close();
}

pub fn fast_register_with_a_bad_page_count_fbo_length_or_base_is_invalid_parameter<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let data = HostBuffer::new(3 * 4096);
    let pages: Vec<i64> = p.b.node.logical_pages(&data);
    let fr = create_mr(&p.b.node, p.b.pd, true);
    let lw = NDK_OP_FLAG_ALLOW_LOCAL_WRITE;
    // Before NdkInitializeFastRegisterMr.
    assert_eq!(
        fast_register(&p.b, 1, fr, &pages[..1], 0, 4096, FR_VA, lw),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(init_fast_register(&p.b.node, fr, 2, true), STATUS_SUCCESS);
    let two = &pages[..2];
    for (what, pages, fbo, len, va) in [
        ("FBO of a whole page", two, 4096, 100, FR_VA + 4096),
        ("length beyond the pages", two, 0, 8193, FR_VA),
        (
            "length + FBO beyond the pages",
            two,
            16,
            8192 - 15,
            FR_VA + 16,
        ),
        ("base VA not FBO within a page", two, 16, 100, FR_VA),
        (
            "more pages than initialized for",
            &pages[..3],
            0,
            100,
            FR_VA,
        ),
        ("no page", &pages[..0], 0, 0, FR_VA),
    ] {
        assert_eq!(
            fast_register(&p.b, 2, fr, pages, fbo, len, va, lw),
            STATUS_INVALID_PARAMETER,
            "{what}"
        );
    }
    // On an MR registered with NdkRegisterMr.
    assert_eq!(
        fast_register(&p.b, 3, p.b.mr, two, 0, 100, FR_VA, lw),
        STATUS_INVALID_PARAMETER
    );
    assert!(
        p.b.poll().is_empty(),
        "an inline failure makes no completion"
    );
    // The largest valid registration.
    assert_eq!(
        fast_register(&p.b, 4, fr, two, 16, 8192 - 16, FR_VA + 16, lw),
        STATUS_SUCCESS
    );
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x104, NdkOperationTypeFastRegister)]
    );
    p.b.node.close_object(fr);
    p.close();
}

pub fn send_and_invalidate_reports_receive_and_invalidate_with_the_token_and_the_token_dies<
    B: Backend,
>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let data = HostBuffer::new(4096);
    let fr = create_mr(&p.b.node, p.b.pd, true);
    assert_eq!(init_fast_register(&p.b.node, fr, 1, true), STATUS_SUCCESS);
    let pages = [p.b.node.logical_pages(&data)[0]];
    let flags = NDK_OP_FLAG_ALLOW_REMOTE_READ | NDK_OP_FLAG_ALLOW_REMOTE_WRITE;
    assert_eq!(
        fast_register(&p.b, 1, fr, &pages, 0, 4096, FR_VA, flags),
        STATUS_SUCCESS
    );
    let token = tokens(fr).1;
    assert_eq!(p.b.wait_completions(1).len(), 1);
    p.a.buf.write(0, b"done, invalidate");
    // SAFETY: consumer calls on connected QPs.
    unsafe {
        assert_eq!(
            (p.b.q().NdkReceive)(p.b.qp, ctx(2), &p.b.sge(0, 64), 1),
            STATUS_SUCCESS
        );
        let s = (p.a.q().NdkSendAndInvalidate)(p.a.qp, ctx(3), &p.a.sge(0, 16), 1, 0, token);
        assert_eq!(s, STATUS_SUCCESS);
    }
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x103, NdkOperationTypeSend)],
        "the sender's completion is a Send"
    );
    let r = p.b.wait_completions(1);
    assert_eq!(
        summary(&r),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeReceiveAndInvalidate)]
    );
    assert_eq!(r[0].TypeSpecificCompletionOutput as u32, token);
    assert_eq!(r[0].BytesTransferred, 16);
    let mut got = [0u8; 16];
    p.b.buf.read(0, &mut got);
    assert_eq!(&got, b"done, invalidate");
    assert_remote_write_refused(&p, &data, FR_VA, token);
    p.b.node.close_object(fr);
    p.close();
}

pub fn receive_and_invalidate_is_also_retrievable_with_plain_get_cq_results<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let data = HostBuffer::new(4096);
    let fr = create_mr(&p.b.node, p.b.pd, true);
    assert_eq!(init_fast_register(&p.b.node, fr, 1, true), STATUS_SUCCESS);
    let pages = [p.b.node.logical_pages(&data)[0]];
    let flags = NDK_OP_FLAG_ALLOW_REMOTE_WRITE;
    assert_eq!(
        fast_register(
            &p.b,
            1,
            fr,
            &pages,
            0,
            4096,
            FR_VA,
            flags | NDK_OP_FLAG_SILENT_SUCCESS
        ),
        STATUS_SUCCESS
    );
    let token = tokens(fr).1;
    // SAFETY: consumer calls on connected QPs.
    unsafe {
        assert_eq!(
            (p.b.q().NdkReceive)(p.b.qp, ctx(2), &p.b.sge(0, 64), 1),
            STATUS_SUCCESS
        );
        let s = (p.a.q().NdkSendAndInvalidate)(p.a.qp, ctx(3), &p.a.sge(0, 5), 1, 0, token);
        assert_eq!(s, STATUS_SUCCESS);
    }
    let r = p.b.poll_plain();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0].Status,
            r[0].BytesTransferred,
            r[0].RequestContext as usize,
            r[0].QPContext as usize
        ),
        (STATUS_SUCCESS, 5, 0x102, 0x5150)
    );
    assert_eq!(p.a.wait_completions(1).len(), 1);
    assert_remote_write_refused(&p, &data, FR_VA, token);
    p.b.node.close_object(fr);
    p.close();
}

pub fn read_with_local_invalidate_invalidates_the_first_sge_token<B: Backend>() {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let sink = HostBuffer::new(4096);
    let fr = create_mr(&p.a.node, p.a.pd, true);
    assert_eq!(init_fast_register(&p.a.node, fr, 1, false), STATUS_SUCCESS);
    let pages = [p.a.node.logical_pages(&sink)[0]];
    assert_eq!(
        fast_register(
            &p.a,
            1,
            fr,
            &pages,
            0,
            4096,
            FR_VA,
            NDK_OP_FLAG_ALLOW_LOCAL_WRITE
        ),
        STATUS_SUCCESS
    );
    let lkey = tokens(fr).0;
    assert_eq!(p.a.wait_completions(1).len(), 1);
    p.b.buf.write(200, b"read me, then forget the key");
    let remote = p.b.buf.addr() + 200;
    let flag = NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE;
    // SAFETY: consumer calls on a connected QP; the SGE names the fast-registered MR.
    unsafe {
        let s = (p.a.q().NdkRead)(
            p.a.qp,
            ctx(2),
            &sge(FR_VA, 28, lkey),
            1,
            remote,
            p.b.rkey,
            flag,
        );
        assert_eq!(s, STATUS_SUCCESS);
    }
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x102, NdkOperationTypeRead)]
    );
    let mut got = [0u8; 28];
    sink.read(0, &mut got);
    assert_eq!(&got, b"read me, then forget the key");
    // The local token is gone: the same sink SGE now fails locally.
    p.b.buf.write(200, b"XXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    // SAFETY: as above.
    unsafe {
        let s = (p.a.q().NdkRead)(
            p.a.qp,
            ctx(3),
            &sge(FR_VA, 28, lkey),
            1,
            remote,
            p.b.rkey,
            0,
        );
        assert_eq!(s, STATUS_SUCCESS);
    }
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_ACCESS_VIOLATION, 0x103, NdkOperationTypeRead)]
    );
    sink.read(0, &mut got);
    assert_eq!(&got, b"read me, then forget the key", "sink unchanged");
    p.a.node.close_object(fr);
    p.close();
}
