//! The raw Ethernet queue of the reference NICs: send and receive descriptors, raw completions
//! and the receive filter, byte for byte the same on RNIC-R2 (`rocev2.md` §14) and RNIC-W1
//! (`iwarp.md` §5.9). A building block for backends: the queue carries every frame the RDMA
//! engine does not consume, so the host's TCP/IP stack runs on the same port
//! ([`crate::EthernetPort`]).
//!
//! Encoders and decoders work on fixed-size arrays, never allocate and never panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use bitflags::bitflags;

use crate::EthFilter;

/// Copies `N` bytes at `off`; zeros when out of bounds (fixed offsets inside fixed-size arrays,
/// covered by the tests, so the fallback is never taken).
fn get<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = off.checked_add(N).and_then(|end| b.get(off..end)) {
        out.iter_mut().zip(src).for_each(|(o, s)| *o = *s);
    }
    out
}

/// Copies `src` to `off`; nothing when out of bounds.
fn put(b: &mut [u8], off: usize, src: &[u8]) {
    if let Some(dst) = off
        .checked_add(src.len())
        .and_then(|end| b.get_mut(off..end))
    {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
    }
}

fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(get(b, off))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(get(b, off))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(get(b, off))
}

fn put_u8(b: &mut [u8], off: usize, v: u8) {
    put(b, off, &[v]);
}

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    put(b, off, &v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    put(b, off, &v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    put(b, off, &v.to_le_bytes());
}

/// Size of a raw send descriptor.
pub const RAW_SEND_DESC_SIZE: usize = 64;
/// Size of a raw receive descriptor.
pub const RAW_RECV_DESC_SIZE: usize = 32;
/// Size of a raw completion.
pub const RAW_CQE_SIZE: usize = 16;
/// Offset of the byte holding the owner bit (and the RECEIVE flag) of a raw completion.
pub const RAW_CQE_OWNER_OFFSET: usize = 0x0F;
/// Gather entries of a raw send descriptor.
pub const MAX_RAW_FRAGS: usize = 4;
/// Raw queues of revision 1 (queue number 0 only).
pub const MAX_RAWQ: u32 = 1;
/// Largest raw send or receive ring, log2 descriptors.
pub const MAX_RAW_LOG2: u8 = 12;
/// Largest raw completion ring, log2 entries.
pub const MAX_RAW_CQ_LOG2: u8 = 13;
/// Smallest frame the device sends: destination, source, EtherType (padding to 60 bytes is
/// the device's).
pub const MIN_RAW_FRAME: u32 = 14;
/// Header bytes a frame may have beyond the MTU: Ethernet header and one VLAN tag.
pub const RAW_FRAME_OVERHEAD: u32 = 18;

bitflags! {
    /// FILTER of SET_RX_FILTER (`rocev2.md` §14.6, `iwarp.md` §5.9): which received frames
    /// the raw queue gets. The bit numbers are those of [`EthFilter`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct RxFilter: u32 {
        /// Unicast frames to the station MAC.
        const DIRECTED = 1 << 0;
        /// Frames to `ff:ff:ff:ff:ff:ff`.
        const BROADCAST = 1 << 1;
        /// Every other frame with the group bit set.
        const ALL_MULTICAST = 1 << 2;
        /// Every frame.
        const PROMISCUOUS = 1 << 3;
    }
}

impl From<EthFilter> for RxFilter {
    fn from(f: EthFilter) -> RxFilter {
        RxFilter::from_bits_truncate(f.bits())
    }
}

impl RxFilter {
    /// Whether a frame to `dst` passes for a port whose station address is `mac`.
    pub fn admits(self, dst: &[u8; 6], mac: &[u8; 6]) -> bool {
        if self.contains(RxFilter::PROMISCUOUS) {
            return true;
        }
        if *dst == [0xFF; 6] {
            return self.contains(RxFilter::BROADCAST);
        }
        if dst[0] & 1 != 0 {
            return self.contains(RxFilter::ALL_MULTICAST);
        }
        dst == mac && self.contains(RxFilter::DIRECTED)
    }
}

/// One gather entry of a raw send descriptor: a bus address and a length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawFrag {
    /// Bus address.
    pub addr: u64,
    /// Bytes.
    pub len: u32,
}

/// A raw send descriptor: one frame gathered from up to four buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawSendDesc {
    /// TOKEN, returned in the completion.
    pub token: u64,
    /// The send ring's producer counter of this descriptor.
    pub index: u16,
    /// NUM_FRAGS: entries of `frags` in use, 1..=4.
    pub num_frags: u8,
    /// Gather list.
    pub frags: [RawFrag; MAX_RAW_FRAGS],
}

impl RawSendDesc {
    /// The gather entries in use (none when NUM_FRAGS is out of range).
    pub fn frags(&self) -> &[RawFrag] {
        self.frags.get(..usize::from(self.num_frags)).unwrap_or(&[])
    }

    /// Total frame length (saturating).
    pub fn frame_len(&self) -> u32 {
        self.frags()
            .iter()
            .fold(0u32, |a, f| a.saturating_add(f.len))
    }

    /// Encodes the descriptor.
    pub fn encode(&self) -> [u8; RAW_SEND_DESC_SIZE] {
        let mut b = [0u8; RAW_SEND_DESC_SIZE];
        put_u64(&mut b, 0x00, self.token);
        put_u16(&mut b, 0x08, self.index);
        put_u8(&mut b, 0x0A, self.num_frags);
        for (i, f) in self.frags.iter().enumerate() {
            let off = 0x10 + i * 12;
            put_u64(&mut b, off, f.addr);
            put_u32(&mut b, off + 8, f.len);
        }
        b
    }

    /// Decodes a descriptor (the device checks NUM_FRAGS and the lengths itself).
    pub fn decode(b: &[u8; RAW_SEND_DESC_SIZE]) -> RawSendDesc {
        let mut frags = [RawFrag::default(); MAX_RAW_FRAGS];
        for (i, f) in frags.iter_mut().enumerate() {
            let off = 0x10 + i * 12;
            *f = RawFrag {
                addr: u64_at(b, off),
                len: u32_at(b, off + 8),
            };
        }
        RawSendDesc {
            token: u64_at(b, 0x00),
            index: u16_at(b, 0x08),
            num_frags: u8_at(b, 0x0A),
            frags,
        }
    }
}

/// A raw receive descriptor: one buffer for one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawRecvDesc {
    /// TOKEN, returned in the completion.
    pub token: u64,
    /// Bus address of the buffer.
    pub addr: u64,
    /// Buffer length.
    pub len: u32,
    /// The receive ring's producer counter of this descriptor.
    pub index: u16,
}

impl RawRecvDesc {
    /// Encodes the descriptor.
    pub fn encode(&self) -> [u8; RAW_RECV_DESC_SIZE] {
        let mut b = [0u8; RAW_RECV_DESC_SIZE];
        put_u64(&mut b, 0x00, self.token);
        put_u64(&mut b, 0x08, self.addr);
        put_u32(&mut b, 0x10, self.len);
        put_u16(&mut b, 0x14, self.index);
        b
    }

    /// Decodes a descriptor.
    pub fn decode(b: &[u8; RAW_RECV_DESC_SIZE]) -> RawRecvDesc {
        RawRecvDesc {
            token: u64_at(b, 0x00),
            addr: u64_at(b, 0x08),
            len: u32_at(b, 0x10),
            index: u16_at(b, 0x14),
        }
    }
}

/// STATUS of a raw completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RawStatus {
    /// Sent, or a frame was received into the buffer.
    Ok = 0,
    /// Returned unused by FLUSH_RAWQ (or posted after it).
    Flushed = 1,
    /// Not sent: the link was down.
    LinkDown = 2,
    /// Not sent: a gather buffer could not be read.
    DmaError = 3,
    /// Not sent: NUM_FRAGS or the frame length out of range.
    BadDescriptor = 4,
}

impl RawStatus {
    /// Decodes a STATUS byte (unknown values read as `DmaError`: not sent).
    pub const fn from_u8(v: u8) -> RawStatus {
        match v {
            0 => RawStatus::Ok,
            1 => RawStatus::Flushed,
            2 => RawStatus::LinkDown,
            4 => RawStatus::BadDescriptor,
            _ => RawStatus::DmaError,
        }
    }
}

/// A raw completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawCqe {
    /// TOKEN of the descriptor.
    pub token: u64,
    /// Receive: frame length without FCS; send: 0.
    pub byte_count: u32,
    /// Index of the descriptor in its ring.
    pub index: u16,
    /// Outcome.
    pub status: RawStatus,
    /// A receive descriptor completed (else a send descriptor).
    pub receive: bool,
}

impl RawCqe {
    /// Encodes the completion with owner bit `owner` (the owner byte is the last byte: write
    /// it last).
    pub fn encode(&self, owner: bool) -> [u8; RAW_CQE_SIZE] {
        let mut b = [0u8; RAW_CQE_SIZE];
        put_u64(&mut b, 0x00, self.token);
        put_u32(&mut b, 0x08, self.byte_count);
        put_u16(&mut b, 0x0C, self.index);
        put_u8(&mut b, 0x0E, self.status as u8);
        put_u8(
            &mut b,
            RAW_CQE_OWNER_OFFSET,
            u8::from(owner) | u8::from(self.receive) << 1,
        );
        b
    }

    /// Decodes a completion; also returns its owner bit.
    pub fn decode(b: &[u8; RAW_CQE_SIZE]) -> (RawCqe, bool) {
        let flags = u8_at(b, RAW_CQE_OWNER_OFFSET);
        (
            RawCqe {
                token: u64_at(b, 0x00),
                byte_count: u32_at(b, 0x08),
                index: u16_at(b, 0x0C),
                status: RawStatus::from_u8(u8_at(b, 0x0E)),
                receive: flags & 2 != 0,
            },
            flags & 1 != 0,
        )
    }
}

impl RawCqe {
    /// The [`crate::EthCompletion`] a driver reports for this completion: only STATUS OK
    /// counts as sent / received, and only a received frame has a length.
    pub fn eth_completion(&self) -> crate::EthCompletion {
        let ok = self.status == RawStatus::Ok;
        if self.receive {
            crate::EthCompletion::Received {
                token: self.token,
                len: if ok { self.byte_count } else { 0 },
                ok,
            }
        } else {
            crate::EthCompletion::Sent {
                token: self.token,
                ok,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_desc_round_trips_at_documented_offsets() {
        let d = RawSendDesc {
            token: 0x1122_3344_5566_7788,
            index: 0xBEEF,
            num_frags: 2,
            frags: [
                RawFrag {
                    addr: 0x1000,
                    len: 14,
                },
                RawFrag {
                    addr: 0x2000,
                    len: 1500,
                },
                RawFrag::default(),
                RawFrag::default(),
            ],
        };
        let b = d.encode();
        assert_eq!(&b[0..8], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(u16_at(&b, 0x08), 0xBEEF);
        assert_eq!(b[0x0A], 2);
        assert_eq!(u64_at(&b, 0x1C), 0x2000);
        assert_eq!(u32_at(&b, 0x24), 1500);
        assert_eq!(RawSendDesc::decode(&b), d);
        assert_eq!(d.frame_len(), 1514);
        assert_eq!(d.frags().len(), 2);
        let bad = RawSendDesc { num_frags: 9, ..d };
        assert!(bad.frags().is_empty());
    }

    #[test]
    fn recv_desc_and_cqe_round_trip() {
        let r = RawRecvDesc {
            token: 7,
            addr: 0xABC000,
            len: 2048,
            index: 3,
        };
        assert_eq!(RawRecvDesc::decode(&r.encode()), r);
        let c = RawCqe {
            token: 9,
            byte_count: 60,
            index: 4,
            status: RawStatus::Flushed,
            receive: true,
        };
        let b = c.encode(true);
        assert_eq!(b[RAW_CQE_OWNER_OFFSET], 3);
        assert_eq!(b[0x0E], 1);
        assert_eq!(RawCqe::decode(&b), (c, true));
        assert!(!RawCqe::decode(&c.encode(false)).1);
        assert_eq!(
            c.eth_completion(),
            crate::EthCompletion::Received {
                token: 9,
                len: 0,
                ok: false
            }
        );
        let ok = RawCqe {
            status: RawStatus::Ok,
            ..c
        };
        assert_eq!(
            ok.eth_completion(),
            crate::EthCompletion::Received {
                token: 9,
                len: 60,
                ok: true
            }
        );
        let sent = RawCqe {
            receive: false,
            byte_count: 0,
            ..ok
        };
        assert_eq!(
            sent.eth_completion(),
            crate::EthCompletion::Sent { token: 9, ok: true }
        );
    }

    #[test]
    fn filter_admits_by_class() {
        let mac = [2, 0, 0, 0, 0, 1];
        let other = [2, 0, 0, 0, 0, 2];
        let bcast = [0xFF; 6];
        let mcast = [0x01, 0x00, 0x5E, 0, 0, 1];
        let f = RxFilter::DIRECTED;
        assert!(f.admits(&mac, &mac));
        assert!(!f.admits(&other, &mac));
        assert!(!f.admits(&bcast, &mac));
        assert!(!f.admits(&mcast, &mac));
        let f = RxFilter::DIRECTED | RxFilter::BROADCAST;
        assert!(f.admits(&bcast, &mac));
        assert!(!f.admits(&mcast, &mac));
        assert!((f | RxFilter::ALL_MULTICAST).admits(&mcast, &mac));
        assert!(RxFilter::PROMISCUOUS.admits(&other, &mac));
        assert!(!RxFilter::empty().admits(&mac, &mac));
        assert_eq!(
            RxFilter::from(EthFilter::BROADCAST | EthFilter::PROMISCUOUS),
            RxFilter::BROADCAST | RxFilter::PROMISCUOUS
        );
        assert_eq!(RxFilter::from(EthFilter::all()), RxFilter::all());
    }
}
