//! Remote access violations (ndkpi.md §4.7, §6, §7.6, §7.7): an RDMA write or read whose
//! remote token or range the target refuses — a never-allocated token, a stale token (the
//! MR was deregistered and registered again), a range starting before or ending past the
//! region, a right the region lacks (an MR registered or a window bound without it), an MR
//! of another PD than the target QP's, an invalidated fast-registered MR or memory window —
//! completes on the initiator with `STATUS_REMOTE_RESOURCES` (the provider's mapping of a
//! peer's access check failure, `ndk-provider/src/status.rs`), puts the initiator's QP in
//! error (the next request completes `STATUS_CANCELLED`), leaves the target memory (the
//! region and the bytes around it) and a read's local sink byte for byte unchanged, and
//! produces nothing on the target's CQ.
//!
//! Each case runs on a fresh connected pair: the violation ends the connection.
//! `memory.rs` already has the write through a stale token, the write past a window's end
//! and the write through an invalidated window; `data_path.rs` a write past the end of
//! B's buffer (without watching the bytes past it).

use std::ffi::c_void;

use hal::mock::HostBuffer;
use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

use super::net;

/// A token never handed out by B.
const BAD_RKEY: u32 = 0xFFFF_FF00;

/// Base VA of fast registrations: page-aligned, far from anything registered.
const FR_VA: u64 = 0x7000_0000_0000;

const ALL: u32 =
    NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_ALLOW_REMOTE_READ | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Write,
    Read,
}

const BOTH: [Dir; 2] = [Dir::Write, Dir::Read];

/// What a case set up on B: the remote range and token A uses, the memory behind them,
/// and B's objects to close after the check.
struct Violation {
    va: u64,
    rkey: u32,
    len: u32,
    /// The memory the range names; B's side buffer when `None`.
    mem: Option<HostBuffer>,
    mdl: Option<TestMdl>,
    mw: Option<*mut NDK_MW>,
    /// An extra MR of B and whether it is registered with `NdkRegisterMr`.
    mr: Option<(*mut NDK_MR, bool)>,
    pd: Option<*mut NDK_PD>,
}

impl Violation {
    fn on_side_buffer(va: u64, rkey: u32, len: u32) -> Violation {
        Violation {
            va,
            rkey,
            len,
            mem: None,
            mdl: None,
            mw: None,
            mr: None,
            pd: None,
        }
    }

    /// Closes B's extra objects; returns the MDL, which must outlive the pair (it may
    /// describe B's side buffer, registered again).
    fn close<B: Backend>(self, n: &Node<B>) -> Option<TestMdl> {
        if let Some(mw) = self.mw {
            n.close_object(mw);
        }
        if let Some((mr, registered)) = self.mr {
            if registered {
                assert_eq!(deregister(n, mr), STATUS_SUCCESS);
            }
            n.close_object(mr);
        }
        if let Some(pd) = self.pd {
            n.close_object(pd);
        }
        self.mdl
    }
}

/// On a fresh pair, sets up a violation with `setup` (which consumes the completions it
/// causes on B), then checks the refusal of an RDMA `dir` through it.
fn refused<B: Backend>(dir: Dir, what: &str, setup: impl FnOnce(&Pair<B>) -> Violation) {
    let net = net::<B>();
    let p = Pair::<B>::open(&net);
    let v = setup(&p);
    assert!(p.b.poll().is_empty(), "{what}: the setup left B's CQ empty");
    let target = v.mem.as_ref().unwrap_or(&p.b.buf);
    for i in 0..target.len() {
        target.write(i, &[(i as u8) ^ 0x3C]);
    }
    p.a.buf.fill(0xA5);
    let (t_before, b_before, a_before) = (target.to_vec(), p.b.buf.to_vec(), p.a.buf.to_vec());
    let sge = p.a.sge(0, v.len);
    // SAFETY: consumer calls on A's connected QP with a registered SGE.
    let (s, ty) = unsafe {
        let q = p.a.q();
        match dir {
            Dir::Write => (
                (q.NdkWrite)(p.a.qp, ctx(1), &sge, 1, v.va, v.rkey, 0),
                NdkOperationTypeWrite,
            ),
            Dir::Read => (
                (q.NdkRead)(p.a.qp, ctx(1), &sge, 1, v.va, v.rkey, 0),
                NdkOperationTypeRead,
            ),
        }
    };
    assert_eq!(s, STATUS_SUCCESS, "{what} ({dir:?}): posted");
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_REMOTE_RESOURCES, 0x101, ty)],
        "{what} ({dir:?}): refused by the target"
    );
    // The QP is in error: the next request is flushed.
    // SAFETY: as above.
    let s = unsafe { (p.a.q().NdkSend)(p.a.qp, ctx(2), &p.a.sge(0, 8), 1, 0) };
    assert_eq!(s, STATUS_SUCCESS, "{what} ({dir:?}): send after the error");
    assert_eq!(
        summary(&p.a.wait_completions(1)),
        vec![(STATUS_CANCELLED, 0x102, NdkOperationTypeSend)],
        "{what} ({dir:?}): the request after the error"
    );
    assert!(p.a.poll().is_empty(), "{what} ({dir:?}): nothing more on A");
    assert!(
        p.b.poll().is_empty(),
        "{what} ({dir:?}): nothing on the target's CQ"
    );
    assert!(
        target.to_vec() == t_before,
        "{what} ({dir:?}): target memory unchanged"
    );
    assert!(
        p.b.buf.to_vec() == b_before,
        "{what} ({dir:?}): B's buffer unchanged"
    );
    assert!(
        p.a.buf.to_vec() == a_before,
        "{what} ({dir:?}): the initiator's buffer (a read's sink) unchanged"
    );
    let mdl = v.close(&p.b.node);
    p.close();
    drop(mdl);
}

/// A buffer of `len` bytes registered on B in `pd` with `flags`; A's range is 64 bytes at
/// offset 64.
fn registered<B: Backend>(p: &Pair<B>, pd: *mut NDK_PD, len: u32, flags: u32) -> Violation {
    let mut v = registered_within(p, pd, len, 0, len, flags);
    v.va += 64;
    v
}

/// A buffer of `buf_len` bytes of which `len` bytes at `off` are registered on B in `pd`
/// with `flags` (so that the bytes around the region are watched too); A's range is 64
/// bytes at the start of the region (the caller moves it).
fn registered_within<B: Backend>(
    p: &Pair<B>,
    pd: *mut NDK_PD,
    buf_len: u32,
    off: u32,
    len: u32,
    flags: u32,
) -> Violation {
    let buf = HostBuffer::new(buf_len as usize);
    let va = buf.addr() + u64::from(off);
    let mut mdl = TestMdl::new(va, len);
    let mr = create_mr(&p.b.node, pd, false);
    assert_eq!(
        register(&p.b.node, mr, &mut mdl, len, flags),
        STATUS_SUCCESS
    );
    Violation {
        va,
        rkey: tokens(mr).1,
        len: 64,
        mem: Some(buf),
        mdl: Some(mdl),
        mw: None,
        mr: Some((mr, true)),
        pd: None,
    }
}

/// A window bound with `flags` over 512 bytes at offset 1024 of B's side buffer (whose MR
/// allows everything); A's range is 64 bytes into it.
fn window<B: Backend>(p: &Pair<B>, flags: u32) -> Violation {
    let mw = create_mw(&p.b.node, p.b.pd);
    let base = p.b.buf.addr() + 1024;
    // SAFETY: consumer call on B's connected QP with open MR and MW.
    let s =
        unsafe { (p.b.q().NdkBind)(p.b.qp, ctx(1), p.b.mr, mw, base as *mut c_void, 512, flags) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x101, NdkOperationTypeBind)]
    );
    let mut v = Violation::on_side_buffer(base + 64, mw_token(mw), 64);
    v.mw = Some(mw);
    v
}

/// Posts `NdkInvalidate` of `obj` on B and waits for its successful completion.
fn invalidate<B: Backend>(p: &Pair<B>, c: usize, obj: *mut NDK_OBJECT_HEADER) {
    // SAFETY: consumer call on B's connected QP with an open MR or MW.
    let s = unsafe { (p.b.q().NdkInvalidate)(p.b.qp, ctx(c), obj, 0) };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        summary(&p.b.wait_completions(1)),
        vec![(STATUS_SUCCESS, 0x100 + c, NdkOperationTypeInvalidate)]
    );
}

pub fn a_never_allocated_token_is_refused_for_write_and_read<B: Backend>() {
    for dir in BOTH {
        refused::<B>(dir, "never allocated token", |p| {
            Violation::on_side_buffer(p.b.buf.addr() + 128, BAD_RKEY, 64)
        });
    }
}

pub fn a_stale_token_of_a_deregistered_then_reregistered_mr_is_refused_for_read<B: Backend>() {
    refused::<B>(Dir::Read, "stale token", |p| {
        let old = p.b.rkey;
        assert_eq!(deregister(&p.b.node, p.b.mr), STATUS_SUCCESS);
        let mut mdl = TestMdl::new(p.b.buf.addr(), p.b.buf_len());
        assert_eq!(
            register(&p.b.node, p.b.mr, &mut mdl, p.b.buf_len(), ALL),
            STATUS_SUCCESS
        );
        assert_ne!(tokens(p.b.mr).1, old);
        let mut v = Violation::on_side_buffer(p.b.buf.addr() + 256, old, 64);
        v.mdl = Some(mdl);
        v
    });
}

pub fn a_range_ending_past_the_region_is_refused_for_write_and_read<B: Backend>() {
    for dir in BOTH {
        refused::<B>(dir, "range ending past the MR", |p| {
            // The region is [1024, 1024 + 4096) of the buffer: the range's last 8 bytes
            // fall on watched memory past it.
            let mut v = registered_within(p, p.b.pd, 8192, 1024, 4096, ALL);
            v.va += 4096 - 56;
            v
        });
    }
}

pub fn a_range_starting_before_the_region_is_refused_for_write_and_read<B: Backend>() {
    for dir in BOTH {
        refused::<B>(dir, "range starting before the MR", |p| {
            let mut v = registered_within(p, p.b.pd, 8192, 1024, 4096, ALL);
            v.va -= 16;
            v
        });
    }
}

pub fn a_write_without_the_remote_write_right_is_refused<B: Backend>() {
    refused::<B>(Dir::Write, "MR without REMOTE_WRITE", |p| {
        let f = NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_ALLOW_REMOTE_READ;
        registered(p, p.b.pd, 4096, f)
    });
    refused::<B>(Dir::Write, "window bound without REMOTE_WRITE", |p| {
        window(p, NDK_OP_FLAG_ALLOW_REMOTE_READ)
    });
}

pub fn a_read_without_the_remote_read_right_is_refused<B: Backend>() {
    refused::<B>(Dir::Read, "MR without REMOTE_READ", |p| {
        let f = NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
        registered(p, p.b.pd, 4096, f)
    });
    refused::<B>(Dir::Read, "window bound without REMOTE_READ", |p| {
        window(p, NDK_OP_FLAG_ALLOW_REMOTE_WRITE)
    });
}

pub fn an_mr_of_another_pd_than_the_target_qp_is_refused_for_write_and_read<B: Backend>() {
    for dir in BOTH {
        refused::<B>(dir, "MR of another PD", |p| {
            let pd = make::pd(&p.b.node);
            let mut v = registered(p, pd, 4096, ALL);
            v.pd = Some(pd);
            v
        });
    }
}

pub fn an_invalidated_fast_register_token_is_refused_for_write_and_read<B: Backend>() {
    for dir in BOTH {
        refused::<B>(dir, "invalidated fast-registered MR", |p| {
            let data = HostBuffer::new(4096);
            let fr = create_mr(&p.b.node, p.b.pd, true);
            assert_eq!(init_fast_register(&p.b.node, fr, 1, true), STATUS_SUCCESS);
            let pages = [p.b.node.logical_pages(&data)[0]];
            let flags = NDK_OP_FLAG_ALLOW_REMOTE_READ
                | NDK_OP_FLAG_ALLOW_REMOTE_WRITE
                | NDK_OP_FLAG_ALLOW_LOCAL_WRITE;
            // SAFETY: consumer call on B's connected QP; `pages` has one entry.
            let s = unsafe {
                (p.b.q().NdkFastRegister)(
                    p.b.qp,
                    ctx(1),
                    fr,
                    1,
                    pages.as_ptr(),
                    0,
                    4096,
                    FR_VA as *mut c_void,
                    flags,
                )
            };
            assert_eq!(s, STATUS_SUCCESS);
            let token = tokens(fr).1;
            assert_eq!(
                summary(&p.b.wait_completions(1)),
                vec![(STATUS_SUCCESS, 0x101, NdkOperationTypeFastRegister)]
            );
            invalidate(p, 2, fr.cast());
            Violation {
                va: FR_VA + 100,
                rkey: token,
                len: 64,
                mem: Some(data),
                mdl: None,
                mw: None,
                mr: Some((fr, false)),
                pd: None,
            }
        });
    }
}

pub fn an_invalidated_window_token_is_refused_for_read<B: Backend>() {
    refused::<B>(Dir::Read, "invalidated window", |p| {
        let rw = NDK_OP_FLAG_ALLOW_REMOTE_READ | NDK_OP_FLAG_ALLOW_REMOTE_WRITE;
        let v = window(p, rw);
        invalidate(p, 2, v.mw.unwrap().cast());
        v
    });
}
