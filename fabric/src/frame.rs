//! Frames handed out by [`Port::recv`](crate::Port::recv).

use std::fmt;

use crate::{format_mac, mac_at, Mac, PortId, BROADCAST, ETH_HEADER_LEN};

/// An Ethernet frame delivered to a port: destination MAC, source MAC, ethertype and
/// payload, without FCS, exactly as the sender passed it to [`Port::send`](crate::Port::send).
///
/// A frame is always at least [`ETH_HEADER_LEN`] bytes long.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    data: Vec<u8>,
    from: PortId,
    sent_ns: u64,
    due_ns: u64,
}

impl Frame {
    pub(crate) fn new(data: Vec<u8>, from: PortId, sent_ns: u64, due_ns: u64) -> Frame {
        Frame {
            data,
            from,
            sent_ns,
            due_ns,
        }
    }

    /// The whole frame: header and payload.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The whole frame, by value.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The length of the whole frame in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the frame is empty (never true for a delivered frame).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The destination MAC address.
    pub fn dst(&self) -> Mac {
        mac_at(&self.data, 0)
    }

    /// The source MAC address (as written by the sender; the fabric does not check it).
    pub fn src(&self) -> Mac {
        mac_at(&self.data, 6)
    }

    /// The ethertype (bytes 12..14, big-endian).
    pub fn ethertype(&self) -> u16 {
        match self.data.get(12..14) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }

    /// The payload after the 14-byte Ethernet header.
    pub fn payload(&self) -> &[u8] {
        self.data.get(ETH_HEADER_LEN..).unwrap_or(&[])
    }

    /// Whether the destination is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        self.dst() == BROADCAST
    }

    /// The port that sent the frame.
    pub fn from_port(&self) -> PortId {
        self.from
    }

    /// The virtual time at which the frame was sent.
    pub fn sent_ns(&self) -> u64 {
        self.sent_ns
    }

    /// The virtual time at which the frame became deliverable (`sent_ns` plus the delay).
    pub fn due_ns(&self) -> u64 {
        self.due_ns
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("from", &self.from)
            .field("sent_ns", &self.sent_ns)
            .field("due_ns", &self.due_ns)
            .field("dst", &format_mac(&self.dst()))
            .field("src", &format_mac(&self.src()))
            .field("ethertype", &format_args!("{:#06x}", self.ethertype()))
            .field("len", &self.data.len())
            .finish()
    }
}
