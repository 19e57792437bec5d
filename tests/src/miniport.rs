//! The miniport glue on a host: a driver crate's `Silicon` and the generic glue loaded into
//! the fake NDIS (`ndk_provider::miniport::fake`), adapters started over bare device models
//! of that silicon on a virtual network. Everything reaches the glue through the function
//! pointers it registered, as NDIS calls it.
//!
//! The rig is generic over the reference NIC ([`Chip`]): RNIC-R2 with `hal_roce::RoceV2` (the
//! default) and RNIC-W1 with `hal_iwarp::Iwarp`.
//!
//! [`Rig::node`] builds the consumer library's [`Node`] around an NDK adapter opened through
//! the NDK provider characteristics; the node's NIC and device handles (used only to pump
//! and to translate addresses) are read from the adapter context.

use std::ffi::c_void;
use std::net::{IpAddr, Ipv4Addr};
use std::ptr::null_mut;
use std::sync::Arc;

use fabric::network::{BareNic, Network, NicModel};
use hal::mock::{HostBuffer, MockPlatform};
use hal_iwarp::model::Rnicw1;
use hal_iwarp::Iwarp;
use hal_roce::model::network::Rnicr2;
use hal_roce::RoceV2;
use ndk_provider::abi::*;
use ndk_provider::karc::{KArc, Plain};
use ndk_provider::miniport::context::Miniport;
use ndk_provider::miniport::fake::{FakeAdapterId, FakeDevice, FakeNdis};
use ndk_provider::miniport::{driver_entry, Silicon};

use crate::{
    make, on_create, on_request, table, wr, Backend, ModelBackend, Node, Recorder, TestMdl,
    Transport,
};

/// A reference NIC: its device model (with the model network's driver) and the driver
/// crate's [`Silicon`], whose HAL is that same driver.
pub trait Chip: Transport {
    /// The driver crate's silicon.
    type Silicon: Silicon<MockPlatform, Hal = <Self as NicModel>::Nic>;
}

impl Chip for Rnicr2 {
    type Silicon = RoceV2;
}

impl Chip for Rnicw1 {
    type Silicon = Iwarp;
}

/// The glue instantiated for the tests.
pub type Glue<C = Rnicr2> = Miniport<<C as Chip>::Silicon, FakeNdis>;

/// DriverEntry of `C`'s miniport over the fake NDIS.
pub unsafe extern "system" fn entry<C: Chip>(
    d: *mut DRIVER_OBJECT,
    r: *mut UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: forwarded from the fake I/O manager.
    unsafe { driver_entry::<C::Silicon, FakeNdis>(d, r) }
}

/// A virtual network of `C`s with their driver loaded into a fresh fake NDIS (this
/// thread's).
pub struct Rig<C: Chip = Rnicr2> {
    /// The network of device models.
    pub net: Network<C>,
}

/// One started adapter.
pub struct Mp<C: Chip = Rnicr2> {
    /// The fake NDIS's name for it.
    pub id: FakeAdapterId,
    /// Its device model.
    pub bare: BareNic<C>,
    /// Its IP address (given with OID_GEN_NETWORK_LAYER_ADDRESSES).
    pub ip: IpAddr,
}

/// `ips` as a `NETWORK_ADDRESS_LIST` payload of OID_GEN_NETWORK_LAYER_ADDRESSES
/// (ntddndis.h's naturally aligned `NETWORK_ADDRESS_IP` / `NETWORK_ADDRESS_IP6`).
pub fn address_list(ips: &[IpAddr]) -> Vec<u8> {
    use std::mem::offset_of;
    let mut d = Vec::new();
    d.extend_from_slice(&(ips.len() as i32).to_le_bytes());
    d.extend_from_slice(&NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
    for ip in ips {
        let (ty, len, at, bytes) = match ip {
            IpAddr::V4(v4) => (
                NDIS_NETWORK_ADDRESS_TYPE_IP,
                NETWORK_ADDRESS_LENGTH_IP,
                offset_of!(NETWORK_ADDRESS_IP, in_addr),
                v4.octets().to_vec(),
            ),
            IpAddr::V6(v6) => (
                NDIS_NETWORK_ADDRESS_TYPE_IP6,
                NETWORK_ADDRESS_LENGTH_IP6,
                offset_of!(NETWORK_ADDRESS_IP6, sin6_addr),
                v6.octets().to_vec(),
            ),
        };
        d.extend_from_slice(&len.to_le_bytes());
        d.extend_from_slice(&ty.to_le_bytes());
        let mut body = vec![0u8; len as usize];
        body[at..at + bytes.len()].copy_from_slice(&bytes);
        d.extend_from_slice(&body);
    }
    d
}

/// An Ethernet frame of `len` bytes from `src` to `dst` with EtherType 0x88B5 (local
/// experimental) and a payload derived from `seed`.
pub fn frame(dst: [u8; 6], src: [u8; 6], len: usize, seed: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xB5]);
    let mut i = 0u32;
    while f.len() < len {
        f.push((i as u8).wrapping_mul(31).wrapping_add(seed));
        i += 1;
    }
    f.truncate(len);
    f
}

/// A broadcast ARP request (RFC 826) from `sender` at `sender_ip` for `target_ip`, padded
/// to the 60-byte minimum frame.
pub fn arp_request(sender: [u8; 6], sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&sender_ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target_ip.octets());
    f.resize(60, 0);
    f
}

impl Rig {
    /// The RoCEv2 rig ([`Rig::load`] of RNIC-R2).
    pub fn new() -> Rig {
        Rig::load()
    }
}

impl<C: Chip> Rig<C> {
    /// A perfect network and `C`'s driver loaded (asserts DriverEntry succeeded).
    pub fn load() -> Rig<C> {
        FakeNdis::reset();
        // SAFETY: `entry` is a DriverEntry.
        assert_eq!(FakeNdis::load(entry::<C>), STATUS_SUCCESS, "DriverEntry");
        Rig {
            net: Network::new(fabric::Impairments::PERFECT, None),
        }
    }

    /// Starts an adapter on a bare device model with address `ip` (`*NetworkDirect` =
    /// `network_direct` when given), restarts it, and binds it as TCP/IP would: its
    /// address and a directed + broadcast packet filter.
    pub fn adapter(&self, ip: &str, network_direct: Option<u32>) -> Mp<C> {
        let mp = self.add(ip, network_direct).expect("MiniportInitializeEx");
        assert_eq!(FakeNdis::restart(mp.id), NDIS_STATUS_SUCCESS, "restart");
        FakeNdis::oid_set(
            mp.id,
            OID_GEN_NETWORK_LAYER_ADDRESSES,
            &address_list(&[mp.ip]),
        )
        .expect("addresses");
        let filter = NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST;
        FakeNdis::oid_set(mp.id, OID_GEN_CURRENT_PACKET_FILTER, &filter.to_le_bytes())
            .expect("packet filter");
        mp
    }

    /// Only MiniportInitializeEx (the adapter stays Paused).
    pub fn add(&self, ip: &str, network_direct: Option<u32>) -> Result<Mp<C>, NDIS_STATUS> {
        let ip: IpAddr = ip.parse().unwrap();
        let bare = self.net.add_bare_nic(ip);
        let keywords = network_direct
            .map(|v| vec![("*NetworkDirect".to_string(), v)])
            .unwrap_or_default();
        let id = FakeNdis::add_device(FakeDevice {
            bars: bare.bars(),
            msix_vectors: 4,
            keywords,
            platform: self.net.platform().clone(),
        })?;
        bare.set_interrupt_line(FakeNdis::interrupt_line(id));
        Ok(Mp { id, bare, ip })
    }

    /// What the host stacks of `a` and `b` do before an RDMA connection between them: each
    /// sends an ARP request for the other, so each miniport has seen the other's address and
    /// MAC (the glue tells them to the HAL, which needs the next hop of an RDMA peer).
    /// Asserts both requests arrived; leaves no received frame behind.
    pub fn resolve(&self, a: &Mp<C>, b: &Mp<C>) {
        for (from, to) in [(a, b), (b, a)] {
            let (IpAddr::V4(sender), IpAddr::V4(target)) = (from.ip, to.ip) else {
                panic!("ARP is IPv4 only");
            };
            let req = arp_request(from.bare.mac(), sender, target);
            FakeNdis::send(from.id, &[&req]);
            self.pump();
            assert_eq!(
                FakeNdis::sent(from.id),
                vec![NDIS_STATUS_SUCCESS],
                "ARP sent"
            );
            assert_eq!(FakeNdis::received(to.id), vec![req], "ARP received");
        }
    }

    /// Lets the devices run and the provider's DPCs deliver what is due, until quiet.
    pub fn pump(&self) -> usize {
        let mut total = 0;
        for _ in 0..10_000 {
            let work = self.net.run_until_idle() + self.net.platform().run_deferred();
            if work == 0 {
                break;
            }
            total += work;
        }
        total
    }

    /// The consumer library's node for an NDK adapter opened on `mp` through the NDK
    /// provider characteristics.
    pub fn node(&self, mp: &Mp<C>, adapter: *mut NDK_ADAPTER) -> Node<ModelBackend<C>> {
        let g = glue(mp);
        Node {
            nic: g.hal.clone().into(),
            dev: g.dev.clone(),
            adapter,
            ip: mp.ip,
            net: self.net.clone(),
        }
    }
}

impl<C: Chip> Drop for Rig<C> {
    /// Unloads the driver (MiniportDriverUnload) unless the test did, or failed.
    fn drop(&mut self) {
        if !std::thread::panicking() && FakeNdis::driver_registered() {
            FakeNdis::unload();
        }
    }
}

impl Default for Rig {
    fn default() -> Self {
        Self::new()
    }
}

/// The adapter context of `mp` (the glue's own state, for handles the consumer library
/// needs and for assertions on the HAL).
pub fn glue<C: Chip>(mp: &Mp<C>) -> &'static Glue<C> {
    let ctx = FakeNdis::adapter_context(mp.id);
    // SAFETY: the context of a started, not halted, adapter; tests drop the reference
    // before halting it.
    unsafe { Glue::<C>::from_context(ctx) }.expect("adapter context")
}

/// The model NIC's driver handle of `mp`.
pub fn nic<C: Chip>(mp: &Mp<C>) -> KArc<Plain<<C as NicModel>::Nic>> {
    glue(mp).hal.clone()
}

/// CQ, PD, QP and a registered buffer on a node, as an NDK consumer sets them up.
pub struct Endpoint {
    /// Notifications and request completions.
    pub rec: Arc<Recorder>,
    /// One CQ for both queues.
    pub cq: *mut NDK_CQ,
    /// Protection domain.
    pub pd: *mut NDK_PD,
    /// The QP.
    pub qp: *mut NDK_QP,
    /// The buffer's MR.
    pub mr: *mut NDK_MR,
    /// Local token.
    pub lkey: u32,
    /// Remote token.
    pub rkey: u32,
    /// The buffer.
    pub buf: HostBuffer,
    /// The connector (once connected).
    pub conn: *mut NDK_CONNECTOR,
    /// The listener (passive side).
    pub listener: *mut NDK_LISTENER,
    _mdl: TestMdl,
}

/// Bytes of an [`Endpoint`]'s buffer.
pub const ENDPOINT_BUF: u32 = 8192;

impl Endpoint {
    /// Creates the objects on `n`.
    pub fn open<B: Backend>(n: &Node<B>) -> Endpoint {
        let rec = Recorder::new();
        let cq = make::cq(n, 64, &rec);
        let pd = make::pd(n);
        let buf = HostBuffer::new(ENDPOINT_BUF as usize);
        let mut mdl = TestMdl::new(buf.addr(), ENDPOINT_BUF);
        let done = Recorder::new();
        // SAFETY: consumer calls on objects just created; `done` outlives the awaited
        // completions.
        let qp = unsafe {
            let t: &NDK_PD_DISPATCH = table(pd);
            let mut qp = null_mut();
            let s = (t.NdkCreateQp)(
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
                done.ctx(),
                &mut qp,
            );
            n.created("NdkCreateQp", &done, s, qp)
        };
        let mr = wr::create_mr(n, pd, false);
        let flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE
            | NDK_MR_FLAG_ALLOW_REMOTE_READ
            | NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
        assert_eq!(
            wr::register(n, mr, &mut mdl, ENDPOINT_BUF, flags),
            STATUS_SUCCESS
        );
        let (lkey, rkey) = wr::tokens(mr);
        Endpoint {
            rec,
            cq,
            pd,
            qp,
            mr,
            lkey,
            rkey,
            buf,
            conn: null_mut(),
            listener: null_mut(),
            _mdl: mdl,
        }
    }

    /// An SGE over the buffer.
    pub fn sge(&self, offset: u64, len: u32) -> NDK_SGE {
        crate::sge(self.buf.addr() + offset, len, self.lkey)
    }

    /// Posts a receive of `len` bytes at `offset` with request context `ctx`.
    pub fn post_receive(&self, ctx: usize, offset: u64, len: u32) -> NTSTATUS {
        let sge = [self.sge(offset, len)];
        // SAFETY: consumer call on the open QP with a live SGE.
        unsafe {
            let t: &NDK_QP_DISPATCH = table(self.qp);
            (t.NdkReceive)(self.qp, ctx as *mut c_void, sge.as_ptr(), 1)
        }
    }

    /// Posts a send of `len` bytes at `offset` with request context `ctx`.
    pub fn post_send(&self, ctx: usize, offset: u64, len: u32) -> NTSTATUS {
        let sge = [self.sge(offset, len)];
        // SAFETY: consumer call on the open QP with a live SGE.
        unsafe {
            let t: &NDK_QP_DISPATCH = table(self.qp);
            (t.NdkSend)(self.qp, ctx as *mut c_void, sge.as_ptr(), 1, 0)
        }
    }

    /// Harvests up to 64 completions.
    pub fn poll(&self) -> Vec<NDK_RESULT_EX> {
        let mut out: Vec<NDK_RESULT_EX> = Vec::with_capacity(64);
        // SAFETY: consumer call with a 64-entry buffer.
        unsafe {
            let t: &NDK_CQ_DISPATCH = table(self.cq);
            let n = (t.NdkGetCqResultsEx)(self.cq, out.as_mut_ptr(), 64);
            out.set_len(n as usize);
        }
        out
    }

    /// Arms the CQ for any completion.
    pub fn arm(&self) {
        // SAFETY: consumer call on the open CQ.
        unsafe {
            let t: &NDK_CQ_DISPATCH = table(self.cq);
            (t.NdkArmCq)(self.cq, NDK_CQ_NOTIFY_ANY);
        }
    }

    /// Closes every object (connector, listener, QP, MR, PD, CQ), waiting for pending
    /// closes.
    pub fn close<B: Backend>(self, n: &Node<B>) {
        if !self.conn.is_null() {
            n.close_object(self.conn);
        }
        if !self.listener.is_null() {
            n.close_object(self.listener);
        }
        n.close_object(self.qp);
        let _ = wr::deregister(n, self.mr);
        n.close_object(self.mr);
        n.close_object(self.pd);
        n.close_object(self.cq);
    }
}

/// Creates a listener on `n` listening on `port` of its address.
pub fn listen<B: Backend>(n: &Node<B>, ep: &mut Endpoint, port: u16) -> NTSTATUS {
    let (addr, len) = crate::sockaddr(std::net::SocketAddr::new(n.ip, port));
    let done = Recorder::new();
    // SAFETY: consumer calls; recorders outlive the (awaited) completions.
    unsafe {
        let mut l = null_mut();
        let s = (n.a().NdkCreateListener)(
            n.adapter,
            Some(crate::on_connect),
            ep.rec.ctx(),
            Some(on_create),
            done.ctx(),
            &mut l,
        );
        ep.listener = n.created("NdkCreateListener", &done, s, l);
        let lt: &NDK_LISTENER_DISPATCH = table(ep.listener);
        let s = (lt.NdkListen)(
            ep.listener,
            addr.as_ptr().cast(),
            len,
            Some(on_request),
            done.ctx(),
        );
        n.settle(s, &done)
    }
}

/// Starts a connect from `a` to `b`'s `port`; returns the connect call's status.
pub fn start_connect<B: Backend>(
    a: &Node<B>,
    ea: &mut Endpoint,
    to: IpAddr,
    port: u16,
) -> NTSTATUS {
    let (dst, dlen) = crate::sockaddr(std::net::SocketAddr::new(to, port));
    let (src, slen) = crate::sockaddr(std::net::SocketAddr::new(a.ip, 0));
    let done = Recorder::new();
    // SAFETY: consumer calls; recorders outlive the (awaited) completions.
    unsafe {
        let mut c = null_mut();
        let s = (a.a().NdkCreateConnector)(a.adapter, Some(on_create), done.ctx(), &mut c);
        ea.conn = a.created("NdkCreateConnector", &done, s, c);
        let ct: &NDK_CONNECTOR_DISPATCH = table(ea.conn);
        (ct.NdkConnect)(
            ea.conn,
            ea.qp,
            src.as_ptr().cast(),
            slen,
            dst.as_ptr().cast(),
            dlen,
            4,
            4,
            null_mut(),
            0,
            Some(on_request),
            ea.rec.ctx(),
        )
    }
}

/// Connects `ea` on `a` to `eb` listening on `b` (port `port`), both sides completing.
pub fn connect<B: Backend>(
    a: &Node<B>,
    ea: &mut Endpoint,
    b: &Node<B>,
    eb: &mut Endpoint,
    port: u16,
) {
    assert_eq!(listen(b, eb, port), STATUS_SUCCESS, "NdkListen");
    assert_eq!(
        start_connect(a, ea, b.ip, port),
        STATUS_PENDING,
        "NdkConnect"
    );
    let ev = b.wait_event(&eb.rec, "connect event", |e| {
        matches!(e, crate::Event::Connect(_))
    });
    let crate::Event::Connect(cb) = ev else {
        unreachable!("{ev:?}")
    };
    eb.conn = cb as *mut NDK_CONNECTOR;
    // SAFETY: consumer calls on open connectors and QPs.
    unsafe {
        let ct: &NDK_CONNECTOR_DISPATCH = table(eb.conn);
        let accept = (ct.NdkAcceptEx)(
            eb.conn,
            eb.qp,
            4,
            4,
            null_mut(),
            0,
            None,
            null_mut(),
            Some(on_request),
            eb.rec.ctx(),
        );
        assert!(accept == STATUS_PENDING || accept == STATUS_SUCCESS);
        let ev = a.wait_event(&ea.rec, "connect completion", |e| {
            matches!(e, crate::Event::Request(_))
        });
        assert_eq!(ev, crate::Event::Request(STATUS_SUCCESS), "connect");
        let complete =
            (ct.NdkCompleteConnectEx)(ea.conn, None, null_mut(), Some(on_request), ea.rec.ctx());
        assert!(complete == STATUS_SUCCESS || complete == STATUS_PENDING);
        if complete == STATUS_PENDING {
            let ev = a.wait_event(&ea.rec, "complete", |e| {
                matches!(e, crate::Event::Request(_))
            });
            assert_eq!(ev, crate::Event::Request(STATUS_SUCCESS));
        }
        if accept == STATUS_PENDING {
            let ev = b.wait_event(&eb.rec, "accept", |e| matches!(e, crate::Event::Request(_)));
            assert_eq!(ev, crate::Event::Request(STATUS_SUCCESS));
        }
    }
    a.pump();
    ea.rec.take();
    eb.rec.take();
}
