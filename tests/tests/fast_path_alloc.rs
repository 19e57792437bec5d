//! The fast path allocates nothing: posting sends, receives, writes and reads, ringing
//! doorbells, arming and harvesting completions, through the dispatch tables.

use std::ffi::c_void;

use hal::mock::Fabric;
use ndk_provider::abi::*;
use ndk_tests::alloc::{allocations, CountingAlloc};
use ndk_tests::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn post_doorbell_arm_and_poll_allocate_nothing() {
    let fabric = Fabric::new();
    let mut a = Side::new(&fabric, "10.3.0.1", 256);
    let mut b = Side::new(&fabric, "10.3.0.2", 256);
    let listener = connect(&mut a, &mut b, b"");
    let mut results = [NDK_RESULT_EX::EMPTY; 16];
    let (rsge, ssge, wsge) = (b.sge(0, 64), a.sge(0, 64), a.sge(128, 64));
    let remote = b.buf.addr() + 4096;
    let mut harvested = 0u32;
    let before = allocations();
    // SAFETY: consumer calls on connected QPs and open CQs.
    unsafe {
        let (qa, qb) = (a.q(), b.q());
        let (ca, cb): (&NDK_CQ_DISPATCH, &NDK_CQ_DISPATCH) = (table(a.cq), table(b.cq));
        for i in 0..32usize {
            let ctx = (0x1000 + i) as *mut c_void;
            assert_eq!((qb.NdkReceive)(b.qp, ctx, &rsge, 1), STATUS_SUCCESS);
            assert_eq!(
                (qa.NdkSend)(a.qp, ctx, &ssge, 1, NDK_OP_FLAG_DEFER),
                STATUS_SUCCESS
            );
            assert_eq!(
                (qa.NdkWrite)(a.qp, ctx, &wsge, 1, remote, b.rkey, 0),
                STATUS_SUCCESS
            );
            assert_eq!(
                (qa.NdkRead)(a.qp, ctx, &wsge, 1, remote, b.rkey, 0),
                STATUS_SUCCESS
            );
            (ca.NdkArmCq)(a.cq, NDK_CQ_NOTIFY_ANY);
            harvested += (ca.NdkGetCqResultsEx)(a.cq, results.as_mut_ptr(), 16);
            harvested += (cb.NdkGetCqResultsEx)(b.cq, results.as_mut_ptr(), 16);
        }
    }
    let after = allocations();
    assert_eq!(harvested, 32 * 4, "every request completed");
    assert_eq!(after - before, 0, "the fast path allocated");
    b.node.pump();
    let rec = Recorder::new();
    assert_eq!(make::close(a.conn, &rec), STATUS_SUCCESS);
    a.conn = std::ptr::null_mut();
    // The listener's close waits for the connector it accepted (ndkpi.md §7.2).
    assert_eq!(make::close(listener, &rec), STATUS_PENDING);
    b.close();
    assert_eq!(rec.take(), vec![Event::Close]);
    a.close();
}
