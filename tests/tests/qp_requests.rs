//! Initiator posts through `NDK_QP_DISPATCH` that depend on the mock NIC's exact queue
//! sizes (ndkpi.md §7.7). The backend-independent rules of QP requests (SILENT_SUCCESS,
//! DEFER doorbell batching, INLINE data, SGE and flag checks, the error state after a failed
//! request) are in the conformance suite (`conformance/qp_requests.rs`).

use hal::mock::Fabric;
use ndk_provider::abi::*;
use ndk_tests::wr::*;

/// An RDMA write of `len` bytes of A's buffer at `off` to the same offset of B's buffer.
fn write(p: &Pair, c: usize, off: u64, len: u32, flags: u32) -> NTSTATUS {
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

fn b_bytes(p: &Pair, off: usize, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    p.b.buf.read(off, &mut v);
    v
}

/// The mock's initiator queue holds exactly the depth asked for (a device may round its
/// rings up, so the 65th post need not fail there): this stays a mock test.
#[test]
fn a_post_failing_inline_after_deferred_ones_rings_them_first() {
    let fabric = Fabric::new();
    let p = pair(&fabric);
    let nic = &p.a.node.nic;
    let bells = nic.doorbells();
    p.a.buf.fill(0x33);
    // The side's initiator queue holds 64 requests: 64 deferred writes fill it.
    for i in 0..64u64 {
        assert_eq!(
            write(&p, i as usize, i * 16, 16, NDK_OP_FLAG_DEFER),
            STATUS_SUCCESS
        );
    }
    assert_eq!(nic.doorbells(), bells);
    assert!(p.a.poll().is_empty());
    // The 65th post fails inline (queue full) and must submit the 64 first.
    assert_eq!(write(&p, 64, 0, 16, 0), STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(nic.doorbells(), bells + 1);
    let c = p.a.poll();
    assert_eq!(
        c.len(),
        64,
        "the deferred requests ran; the failed one made no completion"
    );
    assert!(c.iter().all(|r| r.Status == STATUS_SUCCESS));
    let order: Vec<usize> = c
        .iter()
        .map(|r| r.RequestContext as usize - 0x100)
        .collect();
    assert_eq!(order, (0..64).collect::<Vec<_>>());
    assert_eq!(b_bytes(&p, 0, 1024), vec![0x33u8; 1024]);
    // The queue drained: posting works again.
    assert_eq!(write(&p, 65, 0, 16, 0), STATUS_SUCCESS);
    assert_eq!(p.a.poll().len(), 1);
    p.close();
}
