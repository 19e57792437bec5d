//! The raw Ethernet queue (through the driver's `hal::EthernetPort`) and bare NICs (brought
//! up by hand over their BARs, as the NDIS glue does): one body per test, run against every
//! model by [`raw_eth_tests!`](crate::raw_eth_tests). The queue is byte-identical on both
//! reference NICs; the tests check what the datasheets require of it, not how a model does it.

use std::sync::Arc;
use std::vec::Vec;

use hal::mock::HostBuffer;
use hal::{
    EthBuffer, EthCompletion, EthFilter, EthernetPort, HalError, HalEvent, LinkState, NicHal,
    SendOp, SendWr, WcOpcode, WcStatus, WrFlags,
};

use super::rdma::{connect_sides, connected, ip, Side};
use super::tshark;
use crate::network::{BareNic, DeviceModel, Network, NicModel};
use crate::Impairments;

/// The device counters the tests read (the models' STAT registers).
pub trait Counters {
    fn tx_frames(&self) -> u64;
    fn rx_frames(&self) -> u64;
    fn rx_discards(&self) -> u64;
    fn raw_tx_frames(&self) -> u64;
    fn raw_rx_frames(&self) -> u64;
    fn raw_rx_no_buffer(&self) -> u64;
    fn raw_rx_filtered(&self) -> u64;
}

/// Implements [`Counters`](crate::testkit::raw_eth::Counters) for a statistics struct with
/// fields of those names.
#[macro_export]
macro_rules! impl_raw_eth_counters {
    ($stats:ty) => {
        impl $crate::testkit::raw_eth::Counters for $stats {
            $crate::impl_raw_eth_counters!(@get tx_frames rx_frames rx_discards raw_tx_frames
                raw_rx_frames raw_rx_no_buffer raw_rx_filtered);
        }
    };
    (@get $($f:ident)*) => {
        $(fn $f(&self) -> u64 {
            self.$f
        })*
    };
}

/// A NIC model whose driver has the raw Ethernet queue and whose counters the tests read.
pub trait RawEthModel: NicModel<Nic: EthernetPort, Device: DeviceModel<Stats: Counters>> {}

impl<M> RawEthModel for M where M: NicModel<Nic: EthernetPort, Device: DeviceModel<Stats: Counters>> {}

/// The tests of this module as `#[test]` functions for model `$model` (a [`RawEthModel`]).
#[macro_export]
macro_rules! raw_eth_tests {
    ($model:ty) => {
        $crate::raw_eth_tests!(@each $model; bare_nic_brought_up_by_hand_connects_and_transfers, bare_nic_without_addresses_learns_them_at_runtime_and_connects_out, raw_frames_exchange_between_normal_and_bare_nics, filter_drops_other_macs_and_delivers_broadcast, raw_frames_and_rdma_traffic_do_not_interfere, flush_completes_everything_once_with_error, flush_on_a_dead_device_returns_outstanding_requests_once, link_down_fails_sends_and_notifies, pcap_of_raw_frames_decodes_in_tshark, bad_sends_fail_and_an_arm_over_a_waiting_completion_fires_at_once, random_frames_reach_the_raw_queue_without_harm);
    };
    (@each $model:ty; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                $crate::testkit::raw_eth::$name::<$model>();
            }
        )*
    };
}

/// Maps the BARs of `bare` from [`BareNic::bars`], as the glue maps a PCI function's.
#[allow(unsafe_code)]
fn map_bars<M: NicModel>(bare: &BareNic<M>) -> (hal::MmioRegion, hal::MmioRegion) {
    let bars = bare.bars();
    assert_eq!(bars.len(), 2);
    // SAFETY: a bare NIC's BAR memory is 4 KiB aligned and lives for the rest of the process.
    let bar0 = unsafe { hal::MmioRegion::from_raw(bars[0].0, bars[0].1) };
    // SAFETY: as above.
    let bar2 = unsafe { hal::MmioRegion::from_raw(bars[1].0, bars[1].1) };
    (bar0, bar2)
}

/// Brings the driver up over the BARs of `bare` and wires its interrupt line, as the glue does.
fn bring_up_bare<M: RawEthModel>(net: &Network<M>, bare: &BareNic<M>) -> Arc<M::Nic> {
    let (bar0, bar2) = map_bars(bare);
    let nic =
        Arc::new(M::bring_up(net.platform().clone(), bar0, bar2, &[bare.ip()]).expect("bring-up"));
    let weak = Arc::downgrade(&nic);
    bare.set_interrupt_line(Arc::new(move || {
        if let Some(n) = weak.upgrade() {
            M::interrupt(&n);
        }
    }));
    nic
}

pub fn bare_nic_brought_up_by_hand_connects_and_transfers<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let a = Side::new(&net, ip(1));
    let bare = net.add_bare_nic(ip(2));
    assert_eq!(bare.ip(), ip(2));
    assert_eq!(net.mac(ip(2)), Some(bare.mac()));
    let bars = bare.bars();
    assert_eq!(bars[0].1, M::BAR0_SIZE);
    assert_eq!(bars[1].1, M::BAR2_SIZE);
    let nic = bring_up_bare(&net, &bare);
    assert!(nic.is_local_address(&ip(2)));
    // Interrupts reach the driver through the line: a handler sees events.
    let fired = Arc::new(core::sync::atomic::AtomicUsize::new(0));
    let f = fired.clone();
    nic.attach_interrupt(
        hal::karc::KFn::try_new(move || {
            f.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        })
        .expect("alloc"),
    );
    let b = Side::on_nic(&net, nic, ip(2), false);
    assert!(fired.load(core::sync::atomic::Ordering::Relaxed) > 0);
    // The bare NIC's driver knows no neighbour (the device answers to the source of the
    // request); the normal NIC learnt the bare one's MAC when it was added.
    let (mut a, mut b, _ca, _cb) = connect_sides(&net, a, b);
    let msg: Vec<u8> = (0..5000u32).map(|i| (i * 13 + 1) as u8).collect();
    a.buf.write(0, &msg);
    b.post_recv(7, 0x2000, 8192);
    let sge = [a.sge(0, 5000)];
    a.post(&SendWr {
        wr_id: 9,
        op: SendOp::Send {
            payload: hal::Payload::Sgl(&sge),
            invalidate_rkey: None,
        },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    let ca = a.poll();
    let cb = b.poll();
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0].status, WcStatus::Success);
    assert_eq!(cb.len(), 1);
    assert_eq!(cb[0].status, WcStatus::Success);
    assert_eq!(cb[0].opcode, WcOpcode::Receive);
    assert_eq!(cb[0].byte_len, 5000);
    let mut got = std::vec![0u8; 5000];
    b.buf.read(0x2000, &mut got);
    assert_eq!(got, msg);
}

pub fn bare_nic_without_addresses_learns_them_at_runtime_and_connects_out<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let bare = net.add_bare_nic(ip(1));
    let (bar0, bar2) = map_bars(&bare);
    let nic = Arc::new(M::bring_up(net.platform().clone(), bar0, bar2, &[]).unwrap());
    let weak = Arc::downgrade(&nic);
    bare.set_interrupt_line(Arc::new(move || {
        if let Some(n) = weak.upgrade() {
            M::interrupt(&n);
        }
    }));
    assert!(!nic.is_local_address(&ip(1)));
    // What the glue does from OID_GEN_NETWORK_LAYER_ADDRESSES and from snooped ARP.
    nic.set_local_addresses(&[ip(1)]).unwrap();
    assert!(nic.is_local_address(&ip(1)));
    let b = Side::new(&net, ip(2));
    nic.set_neighbor(ip(2), net.mac(ip(2)).unwrap()).unwrap();
    let a = Side::on_nic(&net, nic, ip(1), false);
    let (mut a, mut b, _ca, _cb) = connect_sides(&net, a, b);
    a.buf.write(0, b"over the bare NIC");
    b.post_recv(1, 0x3000, 64);
    let sge = [a.sge(0, 17)];
    a.post(&SendWr {
        wr_id: 2,
        op: SendOp::Send {
            payload: hal::Payload::Sgl(&sge),
            invalidate_rkey: None,
        },
        flags: WrFlags::SIGNALED,
    });
    net.run_until_idle();
    assert_eq!(a.poll().len(), 1);
    let cb = b.poll();
    assert_eq!(cb.len(), 1);
    assert_eq!(cb[0].byte_len, 17);
    let mut got = [0u8; 17];
    b.buf.read(0x3000, &mut got);
    assert_eq!(&got, b"over the bare NIC");
}

// ---------------------------------------------------------------------------------------
// The raw Ethernet queue through `hal::EthernetPort`
// ---------------------------------------------------------------------------------------

/// Receive buffer size (one frame of MTU 1500 plus header and tag).
pub const RX_BUF: usize = 2048;
/// Receive buffers at the start of the host buffer; send staging after them.
const RX_AREA: usize = 64 * RX_BUF;

/// One NIC's raw queue, a host buffer for frames, and the events it saw.
pub struct Eth<N: EthernetPort> {
    pub nic: Arc<N>,
    pub q: Option<N::EthQueue>,
    pub buf: HostBuffer,
    pub events: Vec<HalEvent>,
    next_tx: usize,
}

impl<N: EthernetPort> Eth<N> {
    pub fn new(nic: Arc<N>, depth: u32, ctx: u64) -> Eth<N> {
        let q = nic.create_eth_queue(depth, depth, ctx).expect("raw queue");
        nic.set_eth_filter(EthFilter::DIRECTED | EthFilter::BROADCAST)
            .unwrap();
        Eth {
            nic,
            q: Some(q),
            buf: HostBuffer::new(RX_AREA + (1 << 20)),
            events: Vec::new(),
            next_tx: 0,
        }
    }

    pub fn q(&mut self) -> &mut N::EthQueue {
        self.q.as_mut().unwrap()
    }

    /// Posts receive buffer `slot` (token = slot).
    pub fn post_rx(&mut self, slot: usize) -> Result<(), HalError> {
        let b = EthBuffer {
            addr: self.buf.addr() + (slot * RX_BUF) as u64,
            len: RX_BUF as u32,
        };
        let nic = self.nic.clone();
        nic.post_eth_recv(self.q(), b, slot as u64)
    }

    /// Stages `frame` in the send area and posts it, split into `frags` pieces.
    pub fn post_tx(&mut self, frame: &[u8], frags: usize, token: u64) -> Result<(), HalError> {
        let len = frame.len();
        if self.next_tx + len > (1 << 20) {
            self.next_tx = 0;
        }
        let off = RX_AREA + self.next_tx;
        self.next_tx += len.next_multiple_of(64);
        self.buf.write(off, frame);
        let mut list = Vec::new();
        let mut start = 0;
        for i in 0..frags {
            let end = if i + 1 == frags {
                len
            } else {
                (start + len / frags).min(len)
            };
            list.push(EthBuffer {
                addr: self.buf.addr() + (off + start) as u64,
                len: (end - start) as u32,
            });
            start = end;
        }
        let nic = self.nic.clone();
        nic.post_eth_send(self.q(), &list, token)
    }

    pub fn ring(&mut self) {
        let nic = self.nic.clone();
        nic.ring_eth(self.q());
    }

    pub fn poll(&mut self) -> Vec<EthCompletion> {
        let nic = self.nic.clone();
        let mut out = Vec::new();
        let mut batch = [EthCompletion::Sent {
            token: 0,
            ok: false,
        }; 7];
        loop {
            let n = nic.poll_eth(self.q(), &mut batch);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&batch[..n]);
        }
    }

    pub fn rx_bytes(&self, slot: usize, len: u32) -> Vec<u8> {
        let mut v = std::vec![0u8; len as usize];
        self.buf.read(slot * RX_BUF, &mut v);
        v
    }

    pub fn pump(&mut self) {
        while let Some(e) = self.nic.next_event() {
            self.events.push(e);
        }
    }

    pub fn notifies(&mut self, ctx: u64) -> usize {
        self.pump();
        let n = self
            .events
            .iter()
            .filter(|e| matches!(e, HalEvent::EthNotify { ctx: c } if *c == ctx))
            .count();
        self.events
            .retain(|e| !matches!(e, HalEvent::EthNotify { .. }));
        n
    }

    pub fn teardown(mut self) -> Vec<EthCompletion> {
        let nic = self.nic.clone();
        nic.flush_eth(self.q());
        let rest = self.poll();
        nic.destroy_eth_queue(self.q.take().unwrap());
        rest
    }
}

/// A frame from `src` to `dst` of `len` bytes (≥ 14) whose payload encodes `seq`.
pub fn frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, len: usize, seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    while f.len() < len {
        f.push((f.len() as u32 ^ seq.wrapping_mul(31)) as u8);
    }
    f.truncate(len);
    f
}

/// Local experimental EtherType (IEEE 802): frames nobody else interprets.
pub const EXPERIMENTAL: u16 = 0x88B5;

pub fn raw_frames_exchange_between_normal_and_bare_nics<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let a_nic = net.add_nic(ip(1));
    let bare = net.add_bare_nic(ip(2));
    let b_nic = bring_up_bare(&net, &bare);
    assert_eq!(b_nic.mac_address(), bare.mac());
    assert_eq!(a_nic.mac_address(), net.mac(ip(1)).unwrap());
    assert_eq!(a_nic.mtu(), 1500);
    let ls = b_nic.link_state();
    assert!(ls.up);
    assert_eq!(ls.speed_bps, 100_000_000_000);
    let depth = 16usize;
    let mut a = Eth::new(a_nic, depth as u32, 0xA);
    let mut b = Eth::new(b_nic, depth as u32, 0xB);
    let (amac, bmac) = (a.nic.mac_address(), b.nic.mac_address());
    for slot in 0..depth {
        b.post_rx(slot).unwrap();
    }
    assert_eq!(b.post_rx(99), Err(HalError::QueueFull));
    b.ring();
    // Far more frames than the rings hold, every size class from 60 to 1514 bytes.
    let total = 300u32;
    let sizes: Vec<usize> = (0..total)
        .map(|i| match i % 5 {
            0 => 60,
            1 => 1514,
            _ => 60 + (i as usize * 97) % (1514 - 60 + 1),
        })
        .collect();
    let expected: Vec<Vec<u8>> = (0..total)
        .map(|i| frame(bmac, amac, EXPERIMENTAL, sizes[i as usize], i))
        .collect();
    let (mut sent, mut sent_ok, mut received) = (0u32, 0u32, 0u32);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut rounds = 0;
    while received < total {
        rounds += 1;
        assert!(rounds < 1000, "stalled at {received} of {total}");
        while sent < total {
            let f = &expected[sent as usize];
            match a.post_tx(f, 1 + sent as usize % 4, 1000 + u64::from(sent)) {
                Ok(()) => sent += 1,
                Err(HalError::QueueFull) => break,
                Err(e) => panic!("post_eth_send: {e:?}"),
            }
        }
        a.ring();
        net.run_until_idle();
        for c in a.poll() {
            match c {
                EthCompletion::Sent { token, ok } => {
                    assert!(ok);
                    assert_eq!(token, 1000 + u64::from(sent_ok), "sends complete in order");
                    sent_ok += 1;
                }
                other => panic!("A received {other:?}"),
            }
        }
        for c in b.poll() {
            let EthCompletion::Received { token, len, ok } = c else {
                panic!("B completed a send: {c:?}");
            };
            assert!(ok);
            got.push(b.rx_bytes(token as usize, len));
            received += 1;
            b.post_rx(token as usize).unwrap();
        }
        b.ring();
    }
    assert_eq!(sent_ok, total);
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "frame {i} ({} bytes) differs", e.len());
    }
    let st = net.stats(ip(1)).unwrap();
    assert_eq!(st.raw_tx_frames(), u64::from(total));
    // The RDMA counters saw none of it.
    assert_eq!(st.tx_frames(), 0);
    let st = net.stats(ip(2)).unwrap();
    assert_eq!(st.raw_rx_frames(), u64::from(total));
    assert_eq!(st.raw_rx_no_buffer(), 0);
    assert_eq!(st.rx_frames(), 0);
    // Every posted receive returns once, unused, at teardown; A had nothing outstanding.
    let rest = b.teardown();
    assert_eq!(rest.len(), depth);
    assert!(rest.iter().all(|c| matches!(
        c,
        EthCompletion::Received {
            ok: false,
            len: 0,
            ..
        }
    )));
    assert!(a.teardown().is_empty());
}

pub fn filter_drops_other_macs_and_delivers_broadcast<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let mut a = Eth::new(net.add_nic(ip(1)), 8, 1);
    let mut b = Eth::new(net.add_nic(ip(2)), 8, 2);
    let mut c = Eth::new(net.add_nic(ip(3)), 8, 3);
    let amac = a.nic.mac_address();
    let bmac = b.nic.mac_address();
    for s in 0..8 {
        b.post_rx(s).unwrap();
        c.post_rx(s).unwrap();
    }
    b.ring();
    c.ring();
    let other = [0x02, 0x55, 0, 0, 0, 9];
    let mcast = [0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB];
    // A frame to another station reaching B's port (as a flooding switch would deliver it):
    // DIRECTED | BROADCAST drops it.
    assert!(net.inject_frame(ip(2), &frame(other, amac, EXPERIMENTAL, 64, 1)));
    net.run_until_idle();
    assert!(b.poll().is_empty());
    assert_eq!(net.stats(ip(2)).unwrap().raw_rx_filtered(), 1);
    // A multicast frame goes to every port; without ALL_MULTICAST nobody takes it.
    a.post_tx(&frame(mcast, amac, EXPERIMENTAL, 80, 2), 1, 2)
        .unwrap();
    // A broadcast reaches both others.
    let bc = frame([0xFF; 6], amac, EXPERIMENTAL, 100, 3);
    a.post_tx(&bc, 2, 3).unwrap();
    a.ring();
    net.run_until_idle();
    assert_eq!(a.poll().len(), 2);
    for side in [&mut b, &mut c] {
        let got = side.poll();
        assert_eq!(got.len(), 1, "{got:?}");
        let EthCompletion::Received { token, len, ok } = got[0] else {
            panic!()
        };
        assert!(ok);
        assert_eq!(side.rx_bytes(token as usize, len), bc);
    }
    assert_eq!(net.stats(ip(2)).unwrap().raw_rx_filtered(), 2);
    // ALL_MULTICAST on B takes the multicast; PROMISCUOUS takes the other station's frame.
    b.nic
        .set_eth_filter(EthFilter::DIRECTED | EthFilter::ALL_MULTICAST)
        .unwrap();
    let m = frame(mcast, amac, EXPERIMENTAL, 90, 4);
    a.post_tx(&m, 1, 4).unwrap();
    a.ring();
    net.run_until_idle();
    let got = b.poll();
    assert_eq!(got.len(), 1);
    assert!(c.poll().is_empty());
    b.nic.set_eth_filter(EthFilter::PROMISCUOUS).unwrap();
    let o = frame(other, amac, EXPERIMENTAL, 70, 5);
    net.inject_frame(ip(2), &o);
    net.run_until_idle();
    let got = b.poll();
    assert_eq!(got.len(), 1);
    let EthCompletion::Received { token, len, .. } = got[0] else {
        panic!()
    };
    assert_eq!(b.rx_bytes(token as usize, len), o);
    // An empty filter admits nothing, not even directed frames.
    b.nic.set_eth_filter(EthFilter::empty()).unwrap();
    a.post_tx(&frame(bmac, amac, EXPERIMENTAL, 60, 6), 1, 6)
        .unwrap();
    a.ring();
    net.run_until_idle();
    assert!(b.poll().is_empty());
}

pub fn raw_frames_and_rdma_traffic_do_not_interfere<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let (mut ra, mut rb, _ca, _cb) = connected(&net);
    let mut a = Eth::new(ra.nic.clone(), 32, 0xA);
    let mut b = Eth::new(rb.nic.clone(), 32, 0xB);
    let (amac, bmac) = (a.nic.mac_address(), b.nic.mac_address());
    for s in 0..32 {
        b.post_rx(s).unwrap();
    }
    b.ring();
    let rounds = 20u32;
    let mut raw_got = 0;
    let mut rdma_got = 0;
    for r in 0..rounds {
        let msg: Vec<u8> = (0..3000u32).map(|i| (i ^ r) as u8).collect();
        let off = (r as usize % 4) * 0x1000;
        ra.buf.write(0x40000 + off, &msg);
        rb.post_recv(u64::from(r), 0x80000 + off * 2, 8192);
        let sge = [ra.sge(0x40000 + off, 3000)];
        ra.post(&SendWr {
            wr_id: u64::from(r),
            op: SendOp::Send {
                payload: hal::Payload::Sgl(&sge),
                invalidate_rkey: None,
            },
            flags: WrFlags::SIGNALED,
        });
        let f = frame(bmac, amac, 0x0800, 1000 + r as usize, r);
        a.post_tx(&f, 2, u64::from(r)).unwrap();
        a.ring();
        net.run_until_idle();
        let cs = ra.poll();
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].status, WcStatus::Success);
        let cr = rb.poll();
        assert_eq!(cr.len(), 1);
        assert_eq!(cr[0].byte_len, 3000);
        let mut got = std::vec![0u8; 3000];
        rb.buf.read(0x80000 + off * 2, &mut got);
        assert_eq!(got, msg);
        rdma_got += 1;
        assert_eq!(
            a.poll(),
            std::vec![EthCompletion::Sent {
                token: u64::from(r),
                ok: true
            }]
        );
        for c in b.poll() {
            let EthCompletion::Received { token, len, ok } = c else {
                panic!()
            };
            assert!(ok);
            assert_eq!(b.rx_bytes(token as usize, len), f);
            b.post_rx(token as usize).unwrap();
            raw_got += 1;
        }
        b.ring();
    }
    assert_eq!((raw_got, rdma_got), (rounds, rounds));
    // The raw queue never saw a frame of the RDMA connection: B's raw receive count is the
    // raw frames only,
    // and the RDMA engine counted its own.
    let st = net.stats(ip(2)).unwrap();
    assert_eq!(st.raw_rx_frames(), u64::from(rounds));
    assert!(st.rx_frames() >= u64::from(rounds) * 3);
    assert_eq!(st.rx_discards(), 0);
}

pub fn flush_completes_everything_once_with_error<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let mut a = Eth::new(net.add_nic(ip(1)), 8, 0xA);
    let _peer = Eth::new(net.add_nic(ip(2)), 8, 0xB);
    let amac = a.nic.mac_address();
    let peer_mac = net.mac(ip(2)).unwrap();
    for s in 0..8 {
        a.post_rx(s).unwrap();
    }
    // Four sends rung but not yet processed by the device, three written and never rung.
    for t in 0..4u64 {
        a.post_tx(
            &frame(peer_mac, amac, EXPERIMENTAL, 60, t as u32),
            1,
            100 + t,
        )
        .unwrap();
    }
    a.ring();
    for t in 4..7u64 {
        a.post_tx(
            &frame(peer_mac, amac, EXPERIMENTAL, 60, t as u32),
            1,
            100 + t,
        )
        .unwrap();
    }
    let nic = a.nic.clone();
    nic.arm_eth(a.q());
    nic.flush_eth(a.q());
    let done = a.poll();
    let mut sends: Vec<u64> = Vec::new();
    let mut recvs: Vec<u64> = Vec::new();
    for c in &done {
        match *c {
            EthCompletion::Sent { token, ok } => {
                assert!(!ok, "{c:?}");
                sends.push(token);
            }
            EthCompletion::Received { token, len, ok } => {
                assert!(!ok && len == 0, "{c:?}");
                recvs.push(token);
            }
        }
    }
    sends.sort_unstable();
    recvs.sort_unstable();
    assert_eq!(sends, (100..107).collect::<Vec<u64>>());
    assert_eq!(recvs, (0..8).collect::<Vec<u64>>());
    // Nothing went on the wire, nothing more completes, posts fail.
    assert_eq!(net.stats(ip(1)).unwrap().raw_tx_frames(), 0);
    net.run_until_idle();
    assert!(a.poll().is_empty());
    assert_eq!(a.post_rx(0), Err(HalError::InvalidState));
    assert_eq!(
        a.post_tx(&frame(peer_mac, amac, EXPERIMENTAL, 60, 9), 1, 9),
        Err(HalError::InvalidState)
    );
    // The arm before the flush was answered.
    assert_eq!(a.notifies(0xA), 1);
    let nic = a.nic.clone();
    nic.destroy_eth_queue(a.q.take().unwrap());
    // The queue can be created again after destroy, and works.
    let mut again = Eth::new(nic, 4, 0xC);
    again
        .post_tx(&frame(peer_mac, amac, EXPERIMENTAL, 60, 1), 1, 1)
        .unwrap();
    again.ring();
    net.run_until_idle();
    assert_eq!(
        again.poll(),
        std::vec![EthCompletion::Sent { token: 1, ok: true }]
    );
}

pub fn flush_on_a_dead_device_returns_outstanding_requests_once<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let mut a = Eth::new(net.add_nic(ip(1)), 8, 0xA);
    let amac = a.nic.mac_address();
    for s in 0..3 {
        a.post_rx(s).unwrap();
    }
    a.post_tx(&frame([0xFF; 6], amac, EXPERIMENTAL, 60, 0), 1, 50)
        .unwrap();
    // The device vanishes: nothing answers the flush.
    assert!(net.remove_nic(ip(1)));
    let nic = a.nic.clone();
    nic.flush_eth(a.q());
    let mut done = a.poll();
    done.sort_by_key(|c| match c {
        EthCompletion::Sent { token, .. } | EthCompletion::Received { token, .. } => *token,
    });
    assert_eq!(
        done,
        std::vec![
            EthCompletion::Received {
                token: 0,
                len: 0,
                ok: false
            },
            EthCompletion::Received {
                token: 1,
                len: 0,
                ok: false
            },
            EthCompletion::Received {
                token: 2,
                len: 0,
                ok: false
            },
            EthCompletion::Sent {
                token: 50,
                ok: false
            },
        ]
    );
    assert!(a.poll().is_empty());
}

pub fn link_down_fails_sends_and_notifies<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let mut a = Eth::new(net.add_nic(ip(1)), 8, 0xA);
    let mut b = Eth::new(net.add_nic(ip(2)), 8, 0xB);
    let (amac, bmac) = (a.nic.mac_address(), b.nic.mac_address());
    for s in 0..8 {
        b.post_rx(s).unwrap();
    }
    b.ring();
    a.notifies(0xA);
    assert!(net.set_link(ip(1), false));
    net.run_until_idle();
    // The link change wakes the queue's owner without an arm; link_state tells why.
    assert_eq!(a.notifies(0xA), 1);
    assert_eq!(
        a.nic.link_state(),
        LinkState {
            up: false,
            speed_bps: 0
        }
    );
    let f = frame(bmac, amac, EXPERIMENTAL, 200, 1);
    a.post_tx(&f, 1, 1).unwrap();
    a.ring();
    net.run_until_idle();
    assert_eq!(
        a.poll(),
        std::vec![EthCompletion::Sent {
            token: 1,
            ok: false
        }]
    );
    assert!(b.poll().is_empty());
    assert!(net.set_link(ip(1), true));
    net.run_until_idle();
    assert_eq!(a.notifies(0xA), 1);
    assert!(a.nic.link_state().up);
    a.post_tx(&f, 1, 2).unwrap();
    a.ring();
    // Armed: the completion raises exactly one EthNotify.
    let nic = a.nic.clone();
    nic.arm_eth(a.q());
    net.run_until_idle();
    assert_eq!(a.notifies(0xA), 1);
    assert_eq!(
        a.poll(),
        std::vec![EthCompletion::Sent { token: 2, ok: true }]
    );
    let got = b.poll();
    assert_eq!(got.len(), 1);
    // Not armed: no notify for the next one.
    a.post_tx(&f, 1, 3).unwrap();
    a.ring();
    net.run_until_idle();
    assert_eq!(a.notifies(0xA), 0);
    assert_eq!(a.poll().len(), 1);
}

/// An ARP request for `target` (42 bytes: the device pads it to the Ethernet minimum).
fn arp_request(src_mac: [u8; 6], src: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xFF; 6]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

/// An IPv4 ICMP echo request of `data_len` payload bytes with correct checksums.
fn icmp_echo(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    seq: u16,
    data_len: usize,
) -> Vec<u8> {
    use crate::wire::ip::internet_checksum;
    let mut icmp = std::vec![8u8, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend((0..data_len).map(|i| i as u8));
    let c = internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = std::vec![0x45u8, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&seq.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&icmp);
    f
}

pub fn pcap_of_raw_frames_decodes_in_tshark<M: RawEthModel>() {
    let Some(path) = tshark::capture_path(&std::format!("{}-raw", M::NAME.to_lowercase())) else {
        return;
    };
    let net = Network::<M>::new(Impairments::PERFECT, Some(path.clone()));
    let mut a = Eth::new(net.add_nic(ip(1)), 16, 1);
    let mut b = Eth::new(net.add_nic(ip(2)), 16, 2);
    let (amac, bmac) = (a.nic.mac_address(), b.nic.mac_address());
    for s in 0..16 {
        b.post_rx(s).unwrap();
    }
    b.ring();
    let arp = arp_request(amac, [10, 0, 0, 1], [10, 0, 0, 2]);
    a.post_tx(&arp, 1, 0).unwrap();
    for seq in 1..=4u16 {
        let f = icmp_echo(
            bmac,
            amac,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            seq,
            18 + 300 * usize::from(seq),
        );
        a.post_tx(&f, 2, u64::from(seq)).unwrap();
    }
    a.ring();
    net.run_until_idle();
    assert_eq!(a.poll().len(), 5);
    let got = b.poll();
    assert_eq!(got.len(), 5);
    // The short ARP request arrives padded to 60 bytes, its first 42 unchanged.
    let EthCompletion::Received { token, len, ok } = got[0] else {
        panic!()
    };
    assert!(ok);
    assert_eq!(len, 60);
    assert_eq!(&b.rx_bytes(token as usize, len)[..42], &arp[..]);
    net.fabric().stop_capture().unwrap();
    let text = tshark::fields(
        &path,
        &["-o", "ip.check_checksum:TRUE"],
        &[
            "frame.protocols",
            "arp.opcode",
            "icmp.type",
            "icmp.checksum.status",
            "ip.checksum.status",
            "_ws.malformed",
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let f: Vec<&str> = lines[0].split(';').collect();
    assert_eq!(f[0], "eth:ethertype:arp", "{}", lines[0]);
    assert_eq!(f[1], "1");
    for l in &lines[1..] {
        let f: Vec<&str> = l.split(';').collect();
        assert!(f[0].starts_with("eth:ethertype:ip:icmp"), "{l}");
        assert_eq!(f[2], "8", "{l}");
        assert_eq!(f[3], "1", "ICMP checksum not good: {l}");
        assert_eq!(f[4], "1", "IP checksum not good: {l}");
    }
    for l in &lines {
        assert!(
            l.split(';').nth(5).is_none_or(|m| m.is_empty()),
            "malformed: {l}"
        );
    }
}

pub fn bad_sends_fail_and_an_arm_over_a_waiting_completion_fires_at_once<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let mut a = Eth::new(net.add_nic(ip(1)), 4, 0x77);
    let amac = a.nic.mac_address();
    // Too long for MTU 1500 (1514 + tag is the limit), and shorter than a header.
    a.post_tx(&frame([0xFF; 6], amac, EXPERIMENTAL, 1533, 0), 3, 1)
        .unwrap();
    a.post_tx(&frame([0xFF; 6], amac, EXPERIMENTAL, 14, 0)[..10], 1, 2)
        .unwrap();
    // The largest tagged frame is fine.
    a.post_tx(&frame([0xFF; 6], amac, EXPERIMENTAL, 1518, 0), 4, 3)
        .unwrap();
    assert_eq!(
        a.post_tx(&frame([0xFF; 6], amac, EXPERIMENTAL, 60, 0), 5, 4),
        Err(HalError::InvalidParameter)
    );
    a.ring();
    net.run_until_idle();
    assert_eq!(a.notifies(0x77), 0);
    // Completions are waiting: the arm fires without a new one.
    let nic = a.nic.clone();
    nic.arm_eth(a.q());
    net.run_until_idle();
    assert_eq!(a.notifies(0x77), 1);
    assert_eq!(
        a.poll(),
        std::vec![
            EthCompletion::Sent {
                token: 1,
                ok: false
            },
            EthCompletion::Sent {
                token: 2,
                ok: false
            },
            EthCompletion::Sent { token: 3, ok: true },
        ]
    );
    assert_eq!(net.stats(ip(1)).unwrap().raw_tx_frames(), 1);
    // A gather buffer the device cannot read fails the send, nothing else.
    let nic = a.nic.clone();
    let bogus = [EthBuffer {
        addr: 0x10,
        len: 64,
    }];
    nic.post_eth_send(a.q(), &bogus, 9).unwrap();
    a.ring();
    net.run_until_idle();
    assert_eq!(
        a.poll(),
        std::vec![EthCompletion::Sent {
            token: 9,
            ok: false
        }]
    );
    assert_eq!(net.stats(ip(1)).unwrap().raw_tx_frames(), 1);
    assert!(a.nic.link_state().up);
}

pub fn random_frames_reach_the_raw_queue_without_harm<M: RawEthModel>() {
    let net = Network::<M>::new(Impairments::PERFECT, None);
    let mut b = Eth::new(net.add_nic(ip(2)), 64, 2);
    b.nic.set_eth_filter(EthFilter::PROMISCUOUS).unwrap();
    for s in 0..64 {
        b.post_rx(s).unwrap();
    }
    b.ring();
    let mut x = 0x1234_5678_9ABC_DEF0u64;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut fits = 0u64;
    let mut delivered = 0u64;
    for _ in 0..40 {
        for _ in 0..20 {
            let len = (rand() % 3000) as usize;
            let f: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
            if (6..=RX_BUF).contains(&len) {
                fits += 1;
            }
            net.inject_frame(ip(2), &f);
        }
        net.run_until_idle();
        for c in b.poll() {
            let EthCompletion::Received { token, len, ok } = c else {
                panic!()
            };
            assert!(ok && len as usize <= RX_BUF);
            delivered += 1;
            b.post_rx(token as usize).unwrap();
        }
        b.ring();
    }
    let st = net.stats(ip(2)).unwrap();
    // Every frame that fits a buffer (and has a destination address) was delivered; the
    // rest were dropped and counted. A random frame is never one the RDMA engine keeps.
    assert_eq!(delivered, fits);
    assert_eq!(st.raw_rx_frames(), fits);
    assert_eq!(st.rx_frames(), 0);
    assert!(st.raw_rx_no_buffer() > 0);
}
