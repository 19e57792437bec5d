//! The main job: two NICs, connected through NDK listener and connector objects, moving
//! bytes with send / receive, RDMA write and RDMA read — all through the dispatch tables, as
//! SMB Direct would.

use ndk_provider::abi::*;
use ndk_tests::wr::{ctx, Pair};
use ndk_tests::*;

use super::net;

pub fn send_write_and_read_move_bytes_between_two_adapters<B: Backend>() {
    let net = net::<B>();
    let a = Side::<B>::open(&net, "10.0.0.1", 64);
    let b = Side::<B>::open(&net, "10.0.0.2", 64);
    let p = Pair::connect_with(a, b, b"hello");
    let (a, b) = (&p.a, &p.b);
    let (qa, qb) = (a.q(), b.q());
    let name = B::name();
    // SAFETY: consumer calls on connected QPs; SGEs name registered memory.
    unsafe {
        // Send / receive.
        assert_eq!(
            (qb.NdkReceive)(b.qp, ctx(7), &b.sge(0, 4096), 1),
            STATUS_SUCCESS
        );
        a.buf.write(0, b"send payload");
        assert_eq!(
            (qa.NdkSend)(a.qp, ctx(1), &a.sge(0, 12), 1, 0),
            STATUS_SUCCESS
        );
        let ca = a.wait_completions(1);
        assert_eq!(ca.len(), 1);
        assert_eq!(
            (ca[0].Status, ca[0].RequestContext, ca[0].Type),
            (STATUS_SUCCESS, ctx(1), NdkOperationTypeSend)
        );
        assert_eq!(ca[0].QPContext as usize, 0x5150);
        let cb = b.wait_completions(1);
        assert_eq!(cb.len(), 1);
        assert_eq!(
            (
                cb[0].Status,
                cb[0].RequestContext,
                cb[0].BytesTransferred,
                cb[0].Type
            ),
            (STATUS_SUCCESS, ctx(7), 12, NdkOperationTypeReceive)
        );
        let mut back = [0u8; 12];
        b.buf.read(0, &mut back);
        assert_eq!(&back, b"send payload");
        println!(
            "[{name}] send    10.0.0.1 -> 10.0.0.2: {:?} arrived in the posted receive",
            String::from_utf8_lossy(&back)
        );

        // RDMA write into B, then RDMA read it back into A's second page.
        let remote = b.buf.addr() + 5000;
        a.buf.write(100, b"written remotely");
        assert_eq!(
            (qa.NdkWrite)(a.qp, ctx(2), &a.sge(100, 16), 1, remote, b.rkey, 0),
            STATUS_SUCCESS
        );
        let w = a.wait_completions(1);
        assert_eq!(
            (w.len(), w[0].Status, w[0].Type),
            (1, STATUS_SUCCESS, NdkOperationTypeWrite)
        );
        let mut back = [0u8; 16];
        b.buf.read(5000, &mut back);
        assert_eq!(&back, b"written remotely");
        println!(
            "[{name}] write   10.0.0.1 -> 10.0.0.2: {:?} placed at remote offset 5000",
            String::from_utf8_lossy(&back)
        );

        assert_eq!(
            (qa.NdkRead)(a.qp, ctx(3), &a.sge(4096, 16), 1, remote, b.rkey, 0),
            STATUS_SUCCESS
        );
        let r = a.wait_completions(1);
        assert_eq!(
            (r.len(), r[0].Status, r[0].Type),
            (1, STATUS_SUCCESS, NdkOperationTypeRead)
        );
        a.buf.read(4096, &mut back);
        assert_eq!(&back, b"written remotely");
        println!(
            "[{name}] read    10.0.0.2 -> 10.0.0.1: {:?} read back into the local sink",
            String::from_utf8_lossy(&back)
        );

        // A write beyond the remote region fails on the initiator and leaves B untouched.
        let before = b.buf.to_vec();
        let end = b.buf.addr() + u64::from(SIDE_BUF) - 2;
        assert_eq!(
            (qa.NdkWrite)(a.qp, ctx(4), &a.sge(100, 16), 1, end, b.rkey, 0),
            STATUS_SUCCESS
        );
        let e = a.wait_completions(1);
        assert_eq!(
            (e.len(), e[0].Status, e[0].RequestContext),
            (1, STATUS_REMOTE_RESOURCES, ctx(4))
        );
        assert_eq!(b.buf.to_vec(), before, "target memory unchanged");
        println!("[{name}] write beyond the remote region: initiator status {:#x} (STATUS_REMOTE_RESOURCES), target unchanged", e[0].Status);
    }
    p.close();
}

pub fn an_ipv6_connection_carries_a_send_and_reports_ipv6_addresses<B: Backend>() {
    let net = net::<B>();
    let a = Side::<B>::open(&net, "fd00::1", 16);
    let b = Side::<B>::open(&net, "fd00::2", 16);
    let p = Pair::connect_with(a, b, b"v6");
    let (a, b) = (&p.a, &p.b);
    // SAFETY: consumer calls on connected QPs and open connectors.
    unsafe {
        let ct: &NDK_CONNECTOR_DISPATCH = table(a.conn);
        let mut peer = [0u8; 28];
        let mut len = 28u32;
        assert_eq!(
            (ct.NdkGetPeerAddress)(a.conn, peer.as_mut_ptr().cast(), &mut len),
            STATUS_SUCCESS
        );
        assert_eq!(len, 28, "SOCKADDR_IN6");
        assert_eq!(u16::from_le_bytes([peer[0], peer[1]]), AF_INET6);
        assert_eq!(u16::from_be_bytes([peer[2], peer[3]]), 445);
        let want: std::net::Ipv6Addr = "fd00::2".parse().unwrap();
        assert_eq!(&peer[8..24], &want.octets());

        assert_eq!(
            (b.q().NdkReceive)(b.qp, ctx(1), &b.sge(0, 64), 1),
            STATUS_SUCCESS
        );
        a.buf.write(0, b"over IPv6");
        assert_eq!(
            (a.q().NdkSend)(a.qp, ctx(2), &a.sge(0, 9), 1, 0),
            STATUS_SUCCESS
        );
        assert_eq!(a.wait_completions(1)[0].Status, STATUS_SUCCESS);
        let r = b.wait_completions(1);
        assert_eq!((r[0].Status, r[0].BytesTransferred), (STATUS_SUCCESS, 9));
        let mut back = [0u8; 9];
        b.buf.read(0, &mut back);
        assert_eq!(&back, b"over IPv6");
    }
    p.close();
}
