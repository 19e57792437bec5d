//! Fabric counters.

use std::fmt;

/// A snapshot of a fabric's counters, from [`Fabric::stats`](crate::Fabric::stats).
///
/// A *copy* is one (frame, receiving port) pair. Every call to
/// [`Port::send`](crate::Port::send) counts once in `sent`; a frame that reaches `k > 1`
/// ports adds `k - 1` to `fanout`; each duplicate adds one to `duplicated`. Every copy then
/// ends up exactly once in `delivered` or `dropped`, or is still `in_flight`, so the
/// counters always balance (see [`Stats::is_balanced`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Calls to [`Port::send`](crate::Port::send), whatever became of the frame.
    pub sent: u64,
    /// Extra copies made because a frame had more than one receiver (broadcast, multicast,
    /// or a MAC attached twice): `k - 1` for `k` receivers.
    pub fanout: u64,
    /// Duplicate copies added by the `duplicate` impairment.
    pub duplicated: u64,
    /// Copies handed out by [`Port::recv`](crate::Port::recv).
    pub delivered: u64,
    /// Copies dropped for any reason: `lost + link_down + unroutable + malformed`.
    pub dropped: u64,
    /// Copies dropped by the `loss` impairment.
    pub lost: u64,
    /// Copies dropped because the sending or receiving port was down or detached (at send
    /// time, or later while the copy was in flight).
    pub link_down: u64,
    /// Frames dropped because no other attached port had the destination MAC.
    pub unroutable: u64,
    /// Frames dropped because they were shorter than an Ethernet header.
    pub malformed: u64,
    /// Copies that overtook an earlier copy on the same path (explicit swaps by the
    /// `reorder` impairment; nothing else reorders).
    pub reordered: u64,
    /// Records written to the capture (one per send while a capture is active).
    pub captured: u64,
    /// Copies scheduled but not yet received, dropped or purged at the time of the snapshot.
    pub in_flight: u64,
}

impl Stats {
    /// Whether `sent + fanout + duplicated == delivered + dropped + in_flight` and
    /// `dropped` is the sum of its causes. Always true for a snapshot from
    /// [`Fabric::stats`](crate::Fabric::stats).
    pub fn is_balanced(&self) -> bool {
        let produced = self.sent + self.fanout + self.duplicated;
        let accounted = self.delivered + self.dropped + self.in_flight;
        let causes = self.lost + self.link_down + self.unroutable + self.malformed;
        produced == accounted && causes == self.dropped
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} (+{} fanout, +{} dup) delivered {} dropped {} (lost {}, link {}, \
             unroutable {}, malformed {}) reordered {} in flight {} captured {}",
            self.sent,
            self.fanout,
            self.duplicated,
            self.delivered,
            self.dropped,
            self.lost,
            self.link_down,
            self.unroutable,
            self.malformed,
            self.reordered,
            self.in_flight,
            self.captured
        )
    }
}
