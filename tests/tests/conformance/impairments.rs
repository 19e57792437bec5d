//! Reliable delivery over an impaired wire (ndkpi.md §7.7): with 1 %, 3 % and 5 % of frame
//! copies lost, duplicated and reordered (seeded, a few seeds each), a connected pair moves
//! sends of distinct patterns and lengths, multi-MTU RDMA writes and reads; every request
//! completes `STATUS_SUCCESS` exactly once and in post order, every receive gets exactly its
//! message (bytes and length) in order, and written and read memory holds exactly the
//! expected bytes. The mock has no wire and ignores the impairments.

use ndk_provider::abi::*;
use ndk_tests::wr::*;
use ndk_tests::*;

/// Rounds of a run.
const ROUNDS: usize = 8;
/// Sends, writes and reads per round (`ROUNDS * PER_ROUND` = 200 of each).
const PER_ROUND: usize = 25;
/// Bytes of a receive slot (the largest send).
const MSG_SLOT: usize = 4096;
/// Bytes of a write / read slot (the largest write).
const RDMA_SLOT: usize = 9 * 1024;
/// Layout of both buffers: receive / send slots, then write slots, then read sinks (A).
const WRITE_AT: usize = PER_ROUND * MSG_SLOT;
const READ_AT: usize = WRITE_AT + PER_ROUND * RDMA_SLOT;
const BUF: usize = READ_AT + PER_ROUND * RDMA_SLOT;

const SEEDS: [u64; 3] = [0x5EED_0001, 0x5EED_0002, 0x5EED_0003];

/// A byte of message `tag` at position `i`: distinct per message.
fn pattern(tag: u64, len: usize) -> Vec<u8> {
    let mut x = tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn run<B: Backend>(rate: f64) {
    for seed in SEEDS {
        let opts = impaired(rate, seed);
        exchange::<B>(&B::network(&opts), &format!("{} {opts:?}", B::name()));
    }
}

/// Loss, duplication and reordering at `rate`, with a small random one-way delay so that
/// frames are in flight together (reordering needs a copy to overtake).
pub fn impaired(rate: f64, seed: u64) -> NetOptions {
    NetOptions {
        loss: rate,
        duplicate: rate,
        reorder: rate,
        delay_ns: (500, 5_000),
        seed,
        pcap: None,
    }
}

/// The exchange on a connected pair of `net` (checks named `what`).
pub fn exchange<B: Backend>(net: &B::Net, what: &str) {
    let net = net.clone();
    let o = SideOptions::new(256).buffer(BUF as u32);
    let a = Side::<B>::open_with(&net, "10.0.0.1", o);
    let b = Side::<B>::open_with(&net, "10.0.0.2", o);
    let p = Pair::connect(a, b);
    let (a, b) = (&p.a, &p.b);
    for round in 0..ROUNDS {
        let tag = |kind: u64, i: usize| ((round * PER_ROUND + i) as u64) << 2 | kind;
        let send_len = |i: usize| 1 + (round * 977 + i * 1237) % MSG_SLOT;
        let rdma_len = |i: usize| 3 * 1024 + (round * 1543 + i * 2311) % (6 * 1024 + 1);
        // SAFETY: consumer calls on connected QPs; every SGE is in a registered buffer.
        unsafe {
            for i in 0..PER_ROUND {
                let s = (b.q().NdkReceive)(
                    b.qp,
                    ctx(1000 + i),
                    &b.sge((i * MSG_SLOT) as u64, MSG_SLOT as u32),
                    1,
                );
                assert_eq!(s, STATUS_SUCCESS);
            }
            for i in 0..PER_ROUND {
                let (off, len) = (i * MSG_SLOT, send_len(i));
                a.buf.write(off, &pattern(tag(0, i), len));
                let s = (a.q().NdkSend)(a.qp, ctx(2 * i), &a.sge(off as u64, len as u32), 1, 0);
                assert_eq!(s, STATUS_SUCCESS);
                let (off, len) = (WRITE_AT + i * RDMA_SLOT, rdma_len(i));
                a.buf.write(off, &pattern(tag(1, i), len));
                let s = (a.q().NdkWrite)(
                    a.qp,
                    ctx(2 * i + 1),
                    &a.sge(off as u64, len as u32),
                    1,
                    b.buf.addr() + off as u64,
                    b.rkey,
                    0,
                );
                assert_eq!(s, STATUS_SUCCESS);
            }
        }
        let want: Vec<_> = (0..PER_ROUND)
            .flat_map(|i| {
                [
                    (STATUS_SUCCESS, 0x100 + 2 * i, NdkOperationTypeSend),
                    (STATUS_SUCCESS, 0x100 + 2 * i + 1, NdkOperationTypeWrite),
                ]
            })
            .collect();
        let got = a.wait_completions(2 * PER_ROUND);
        assert_eq!(summary(&got), want, "{what} round {round}: A's completions");
        let got = b.wait_completions(PER_ROUND);
        let want: Vec<_> = (0..PER_ROUND)
            .map(|i| (STATUS_SUCCESS, 0x100 + 1000 + i, NdkOperationTypeReceive))
            .collect();
        assert_eq!(summary(&got), want, "{what} round {round}: B's completions");
        for (i, r) in got.iter().enumerate() {
            let len = send_len(i);
            assert_eq!(
                r.BytesTransferred as usize, len,
                "{what} round {round} receive {i}"
            );
            let mut m = vec![0u8; MSG_SLOT];
            b.buf.read(i * MSG_SLOT, &mut m);
            assert!(
                m[..len] == pattern(tag(0, i), len)[..],
                "{what} round {round}: receive {i} holds its message"
            );
            assert!(
                m[len..].iter().all(|&x| x == 0),
                "{what} round {round}: nothing past message {i}"
            );
        }
        for i in 0..PER_ROUND {
            let len = rdma_len(i);
            let mut m = vec![0u8; RDMA_SLOT];
            b.buf.read(WRITE_AT + i * RDMA_SLOT, &mut m);
            assert!(
                m[..len] == pattern(tag(1, i), len)[..],
                "{what} round {round}: write {i} placed its bytes"
            );
            assert!(
                m[len..].iter().all(|&x| x == 0),
                "{what} round {round}: nothing past write {i}"
            );
        }
        // Read every write slot back into A's sinks.
        a.buf.write(READ_AT, &vec![0u8; PER_ROUND * RDMA_SLOT]);
        for i in 0..PER_ROUND {
            let off = READ_AT + i * RDMA_SLOT;
            let remote = b.buf.addr() + (WRITE_AT + i * RDMA_SLOT) as u64;
            // SAFETY: as above.
            let s = unsafe {
                (a.q().NdkRead)(
                    a.qp,
                    ctx(500 + i),
                    &a.sge(off as u64, rdma_len(i) as u32),
                    1,
                    remote,
                    b.rkey,
                    0,
                )
            };
            assert_eq!(s, STATUS_SUCCESS);
        }
        let want: Vec<_> = (0..PER_ROUND)
            .map(|i| (STATUS_SUCCESS, 0x100 + 500 + i, NdkOperationTypeRead))
            .collect();
        let got = a.wait_completions(PER_ROUND);
        assert_eq!(summary(&got), want, "{what} round {round}: reads");
        for i in 0..PER_ROUND {
            let len = rdma_len(i);
            let mut m = vec![0u8; RDMA_SLOT];
            a.buf.read(READ_AT + i * RDMA_SLOT, &mut m);
            assert!(
                m[..len] == pattern(tag(1, i), len)[..],
                "{what} round {round}: read {i} brought the written bytes"
            );
            assert!(
                m[len..].iter().all(|&x| x == 0),
                "{what} round {round}: nothing past read {i}"
            );
        }
        // Wipe B's slots for the next round.
        b.buf.write(0, &vec![0u8; READ_AT]);
    }
    assert!(a.poll().is_empty(), "{what}: no late duplicate on A");
    assert!(b.poll().is_empty(), "{what}: no late duplicate on B");
    p.close();
}

pub fn one_percent_loss_duplication_and_reordering_deliver_every_byte_once_in_order<B: Backend>() {
    run::<B>(0.01);
}

pub fn three_percent_loss_duplication_and_reordering_deliver_every_byte_once_in_order<
    B: Backend,
>() {
    run::<B>(0.03);
}

pub fn five_percent_loss_duplication_and_reordering_deliver_every_byte_once_in_order<B: Backend>() {
    run::<B>(0.05);
}
