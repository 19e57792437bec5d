//! The NIC's plain Ethernet function: the raw frame queue NDIS sends and receives
//! NET_BUFFER_LISTs through, and the host-stack facts (MAC, link, addresses, neighbours) an
//! RDMA NIC needs because SMB Direct runs TCP/IP on the same interface.
//!
//! Same shape as the RDMA fast path: posting, doorbell and polling take the queue by `&mut`
//! (the miniport serializes each queue), allocate nothing and may run at DISPATCH_LEVEL.

use core::net::IpAddr;

use crate::{HalResult, NicHal};

/// A buffer in DMA-able host memory: a device (bus) address and a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthBuffer {
    /// Device logical address of the first byte.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
}

/// Most gather entries one frame may have.
pub const MAX_ETH_FRAGS: usize = 4;

/// One finished raw-queue request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EthCompletion {
    /// A frame posted with [`EthernetPort::post_eth_send`] left the NIC (`ok`) or was
    /// dropped (`!ok`: flushed, link down, device failure).
    Sent {
        /// Token given with the post.
        token: u64,
        /// Whether the frame was transmitted.
        ok: bool,
    },
    /// A buffer posted with [`EthernetPort::post_eth_recv`] holds a received frame of `len`
    /// bytes (`ok`), or was returned unused (`!ok`: flushed).
    Received {
        /// Token given with the post.
        token: u64,
        /// Frame length in bytes, without FCS.
        len: u32,
        /// Whether the buffer holds a frame.
        ok: bool,
    },
}

/// Physical link state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkState {
    /// Carrier present.
    pub up: bool,
    /// Speed in bits per second (0 when down).
    pub speed_bps: u64,
}

bitflags::bitflags! {
    /// Which received frames reach the raw queue (NDIS packet filter).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct EthFilter: u32 {
        /// Unicast frames to the NIC's MAC.
        const DIRECTED = 1 << 0;
        /// Broadcast frames.
        const BROADCAST = 1 << 1;
        /// Every multicast frame.
        const ALL_MULTICAST = 1 << 2;
        /// Every frame.
        const PROMISCUOUS = 1 << 3;
    }
}

/// The Ethernet side of an RDMA NIC. Frames the RDMA engine consumes (RoCEv2 on UDP 4791,
/// offloaded TCP connections for iWARP) never reach the raw queue; everything else the
/// filter admits does.
pub trait EthernetPort: NicHal {
    /// A raw frame queue (one send ring, one receive ring).
    type EthQueue: Send;

    /// Permanent MAC address.
    fn mac_address(&self) -> [u8; 6];
    /// Current link state. A change raises [`crate::HalEvent::EthNotify`] for the raw queue
    /// (armed or not), so its owner re-reads it.
    fn link_state(&self) -> LinkState;
    /// Largest frame payload (MTU) without the 14-byte Ethernet header.
    fn mtu(&self) -> u32;

    /// Creates the raw queue; completions are reported by polling, and a
    /// [`crate::HalEvent::EthNotify`] with `ctx` follows [`EthernetPort::arm_eth`].
    /// Control path: PASSIVE_LEVEL, synchronous.
    fn create_eth_queue(
        &self,
        send_depth: u32,
        recv_depth: u32,
        ctx: u64,
    ) -> HalResult<Self::EthQueue>;
    /// Completes every outstanding send and receive (written, rung or not) with
    /// `ok == false`, exactly once, visible to [`EthernetPort::poll_eth`] when it returns;
    /// the device no longer touches their buffers. Posts fail afterwards with
    /// `InvalidState`. For pause, halt and removal: PASSIVE_LEVEL, may wait for the device
    /// (a dead device's requests are returned by the driver).
    fn flush_eth(&self, q: &mut Self::EthQueue);
    /// Destroys a flushed queue whose completions were all polled. PASSIVE_LEVEL.
    fn destroy_eth_queue(&self, q: Self::EthQueue);
    /// Sets which received frames are delivered.
    fn set_eth_filter(&self, filter: EthFilter) -> HalResult<()>;

    /// Writes a send descriptor for one frame gathered from `frags` (at most
    /// [`MAX_ETH_FRAGS`]) without ringing the doorbell.
    fn post_eth_send(
        &self,
        q: &mut Self::EthQueue,
        frags: &[EthBuffer],
        token: u64,
    ) -> HalResult<()>;
    /// Writes a receive descriptor without ringing the doorbell.
    fn post_eth_recv(&self, q: &mut Self::EthQueue, buf: EthBuffer, token: u64) -> HalResult<()>;
    /// Rings the send and receive doorbells for everything written since the last ring.
    fn ring_eth(&self, q: &mut Self::EthQueue);
    /// Harvests up to `out.len()` completions, sends and receives in the order they finished.
    fn poll_eth(&self, q: &mut Self::EthQueue, out: &mut [EthCompletion]) -> usize;
    /// Requests one [`crate::HalEvent::EthNotify`] for the next completion (at once if one
    /// is waiting).
    fn arm_eth(&self, q: &mut Self::EthQueue);

    /// Replaces the interface's IP addresses (what TCP/IP sets with
    /// OID_GEN_NETWORK_LAYER_ADDRESSES); RDMA connections use them as local addresses.
    fn set_local_addresses(&self, addrs: &[IpAddr]) -> HalResult<()>;
    /// Records the next-hop MAC of a peer address, learnt by the host stack.
    fn set_neighbor(&self, ip: IpAddr, mac: [u8; 6]) -> HalResult<()>;
}
