//! The fabric, its ports and the forwarding engine.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::capture::Capture;
use crate::{format_mac, mac_at, Frame, Impairments, Mac, Stats, ETH_HEADER_LEN};

/// The identity of a port on its fabric: assigned in attach order from 0, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(u32);

impl PortId {
    /// The port's index in attach order (0 for the first port attached).
    pub fn index(self) -> u32 {
        self.0
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port{}", self.0)
    }
}

/// Queue key: due time, then a fabric-wide sequence number (send order).
type Key = (u64, u64);

/// A copy in flight.
struct Entry {
    data: Vec<u8>,
    from: PortId,
    sent_ns: u64,
}

struct PortState {
    mac: Mac,
    link_up: bool,
    /// Copies in flight to this port, in delivery order.
    queue: BTreeMap<Key, Entry>,
    /// The latest due time scheduled to this port from each sender (keeps paths FIFO).
    last_due_from: BTreeMap<PortId, u64>,
}

struct Inner {
    impairments: Impairments,
    rng: Xoshiro256PlusPlus,
    ports: BTreeMap<PortId, PortState>,
    next_port: u32,
    next_seq: u64,
    stats: Stats,
    capture: Option<Capture>,
    capture_error: Option<io::Error>,
}

impl Inner {
    fn new(impairments: Impairments) -> Inner {
        let impairments = impairments.sanitized();
        Inner {
            impairments,
            rng: Xoshiro256PlusPlus::seed_from_u64(impairments.seed),
            ports: BTreeMap::new(),
            next_port: 0,
            next_seq: 0,
            stats: Stats::default(),
            capture: None,
            capture_error: None,
        }
    }

    fn seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn in_flight(&self) -> usize {
        self.ports.values().map(|p| p.queue.len()).sum()
    }

    fn drop_copies(&mut self, n: u64, cause: fn(&mut Stats) -> &mut u64) {
        *cause(&mut self.stats) += n;
        self.stats.dropped += n;
    }

    fn capture(&mut self, frame: &[u8], now_ns: u64) {
        let Some(capture) = self.capture.as_mut() else {
            return;
        };
        match capture.write(frame, now_ns) {
            Ok(()) => self.stats.captured += 1,
            Err(e) => {
                // Stop capturing; the error is reported by flush_capture/stop_capture.
                self.capture = None;
                self.capture_error = Some(e);
            }
        }
    }

    fn send(&mut self, from: PortId, frame: &[u8], now_ns: u64) {
        self.stats.sent += 1;
        self.capture(frame, now_ns);

        if !self.ports.get(&from).is_some_and(|p| p.link_up) {
            self.drop_copies(1, |s| &mut s.link_down);
            return;
        }
        if frame.len() < ETH_HEADER_LEN {
            self.drop_copies(1, |s| &mut s.malformed);
            return;
        }

        let dst = mac_at(frame, 0);
        let flood = dst[0] & 1 == 1; // group bit: broadcast or multicast
        let receivers: Vec<PortId> = self
            .ports
            .iter()
            .filter(|(&id, port)| id != from && (flood || port.mac == dst))
            .map(|(&id, _)| id)
            .collect();
        if receivers.is_empty() {
            self.drop_copies(1, |s| &mut s.unroutable);
            return;
        }
        self.stats.fanout += receivers.len() as u64 - 1;
        for to in receivers {
            self.schedule(from, to, frame, now_ns);
        }
    }

    /// Applies the impairments to one copy and queues it at the receiver.
    fn schedule(&mut self, from: PortId, to: PortId, frame: &[u8], now_ns: u64) {
        if !self.ports.get(&to).is_some_and(|p| p.link_up) {
            self.drop_copies(1, |s| &mut s.link_down);
            return;
        }

        // Draws, in a fixed order, only for the impairments that are enabled.
        let imp = self.impairments;
        if imp.loss > 0.0 && self.rng.random_bool(imp.loss) {
            self.drop_copies(1, |s| &mut s.lost);
            return;
        }
        let (lo, hi) = imp.delay_ns;
        let delay = if lo == hi {
            lo
        } else {
            self.rng.random_range(lo..=hi)
        };
        let duplicate = imp.duplicate > 0.0 && self.rng.random_bool(imp.duplicate);
        let reorder = imp.reorder > 0.0 && self.rng.random_bool(imp.reorder);
        let seq = self.seq();
        let dup_seq = if duplicate { Some(self.seq()) } else { None };

        let Some(port) = self.ports.get_mut(&to) else {
            return; // checked above
        };
        let floor = port.last_due_from.get(&from).copied().unwrap_or(0);
        let due = now_ns.saturating_add(delay).max(floor);
        port.last_due_from.insert(from, due);

        let key = (due, seq);
        let mut entry = Entry {
            data: frame.to_vec(),
            from,
            sent_ns: now_ns,
        };
        if let Some((dup_seq, data)) = dup_seq.map(|s| (s, entry.data.clone())) {
            port.queue.insert(
                (due, dup_seq),
                Entry {
                    data,
                    from,
                    sent_ns: now_ns,
                },
            );
            self.stats.duplicated += 1;
        }
        if reorder {
            // Overtake the latest earlier copy from the same sender still in flight.
            let victim = port
                .queue
                .range(..key)
                .rev()
                .find(|(_, e)| e.from == from)
                .map(|(&k, _)| k);
            if let Some(victim_key) = victim {
                if let Some(overtaken) = port.queue.insert(victim_key, entry) {
                    entry = overtaken;
                    self.stats.reordered += 1;
                } else {
                    // Unreachable: the victim key was just found in the queue.
                    return;
                }
            }
        }
        port.queue.insert(key, entry);
    }

    fn recv(&mut self, port: PortId, now_ns: u64) -> Option<Frame> {
        let state = self.ports.get_mut(&port)?;
        let (&(due, _), _) = state.queue.first_key_value()?;
        if due > now_ns {
            return None;
        }
        let ((due, _), entry) = state.queue.pop_first()?;
        self.stats.delivered += 1;
        Some(Frame::new(entry.data, entry.from, entry.sent_ns, due))
    }

    /// Drops every copy in flight to or from `port`.
    fn purge(&mut self, port: PortId) {
        let mut purged = 0u64;
        for (&id, state) in self.ports.iter_mut() {
            if id == port {
                purged += state.queue.len() as u64;
                state.queue.clear();
                state.last_due_from.clear();
            } else {
                let before = state.queue.len();
                state.queue.retain(|_, e| e.from != port);
                purged += (before - state.queue.len()) as u64;
            }
        }
        self.drop_copies(purged, |s| &mut s.link_down);
    }

    fn set_link(&mut self, port: PortId, up: bool) {
        let Some(state) = self.ports.get_mut(&port) else {
            return;
        };
        let was_up = state.link_up;
        state.link_up = up;
        if was_up && !up {
            self.purge(port);
        }
    }

    fn detach(&mut self, port: PortId) -> bool {
        if !self.ports.contains_key(&port) {
            return false;
        }
        self.purge(port);
        self.ports.remove(&port);
        for state in self.ports.values_mut() {
            state.last_due_from.remove(&port);
        }
        true
    }

    fn finish_capture(&mut self) -> io::Result<()> {
        let flushed = match self.capture.take() {
            Some(mut capture) => capture.flush(),
            None => Ok(()),
        };
        match self.capture_error.take() {
            Some(e) => Err(e),
            None => flushed,
        }
    }
}

/// Locks the fabric state; a poisoned lock (a panic in another thread) is recovered, since
/// the state is consistent between calls.
fn lock(shared: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A virtual Ethernet fabric: a switch joining any number of [`Port`]s, with seeded
/// impairments and optional pcap capture. See the [crate documentation](crate) for the
/// forwarding, time and reordering model.
///
/// `Fabric` is a cheap handle: clones refer to the same fabric, and it is `Send + Sync`
/// (the state is behind a mutex, so device models may run on different threads, though
/// determinism then depends on the order of their calls).
#[derive(Clone)]
pub struct Fabric {
    shared: Arc<Mutex<Inner>>,
}

impl Default for Fabric {
    /// A fabric with a perfect wire ([`Impairments::PERFECT`]).
    fn default() -> Fabric {
        Fabric::new(Impairments::PERFECT)
    }
}

impl Fabric {
    /// Creates a fabric with no ports, applying `impairments` (sanitized, see
    /// [`Impairments::sanitized`]) with a generator seeded from `impairments.seed`.
    pub fn new(impairments: Impairments) -> Fabric {
        Fabric {
            shared: Arc::new(Mutex::new(Inner::new(impairments))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }

    /// Attaches a new port with address `mac` (link up) and returns its handle.
    ///
    /// Several ports may share a MAC address; a unicast frame to it reaches all of them
    /// except the sender.
    pub fn attach(&self, mac: Mac) -> Port {
        let mut inner = self.lock();
        let id = PortId(inner.next_port);
        inner.next_port += 1;
        inner.ports.insert(
            id,
            PortState {
                mac,
                link_up: true,
                queue: BTreeMap::new(),
                last_due_from: BTreeMap::new(),
            },
        );
        Port {
            id,
            mac,
            shared: Arc::clone(&self.shared),
        }
    }

    /// Removes `port` from the fabric: every copy in flight to or from it is dropped
    /// (counted in [`Stats::link_down`]). Afterwards every clone of the handle behaves
    /// like a port whose link is down, for good. Returns whether the port was attached.
    pub fn detach(&self, port: &Port) -> bool {
        if !Arc::ptr_eq(&self.shared, &port.shared) {
            return false;
        }
        self.lock().detach(port.id)
    }

    /// The earliest due time of any frame in flight, or `None` if nothing is in flight.
    ///
    /// A simulation loop that has nothing else to do can jump its clock to this time; the
    /// due time may be earlier than the loop's current time (a frame that is due but not
    /// yet received).
    pub fn next_due(&self) -> Option<u64> {
        let inner = self.lock();
        inner
            .ports
            .values()
            .filter_map(|p| p.queue.first_key_value().map(|(&(due, _), _)| due))
            .min()
    }

    /// The number of copies in flight (scheduled at some port, not yet received), due or not.
    pub fn pending(&self) -> usize {
        self.lock().in_flight()
    }

    /// A snapshot of the counters, with `in_flight` filled in.
    pub fn stats(&self) -> Stats {
        let inner = self.lock();
        Stats {
            in_flight: inner.in_flight() as u64,
            ..inner.stats
        }
    }

    /// The impairments in force (sanitized).
    pub fn impairments(&self) -> Impairments {
        self.lock().impairments
    }

    /// Replaces the impairments for frames sent from now on, and re-seeds the generator from
    /// `impairments.seed`. Frames already in flight keep their due times.
    pub fn set_impairments(&self, impairments: Impairments) {
        let mut inner = self.lock();
        inner.impairments = impairments.sanitized();
        inner.rng = Xoshiro256PlusPlus::seed_from_u64(inner.impairments.seed);
    }

    /// Starts capturing every frame sent to a new pcap file at `path` (buffered; see
    /// [`Fabric::flush_capture`]). An active capture is finished first, as by
    /// [`Fabric::stop_capture`].
    ///
    /// # Errors
    /// The previous capture failed, or the file cannot be created or written.
    pub fn capture_to(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let file = File::create(path)?;
        self.capture_to_writer(BufWriter::new(file))
    }

    /// Starts capturing every frame sent to `writer` as a pcap stream (`LINKTYPE_ETHERNET`,
    /// nanosecond timestamps holding the virtual send time, snaplen [`CAPTURE_SNAPLEN`]).
    /// The global header is written at once. An active capture is finished first, as by
    /// [`Fabric::stop_capture`].
    ///
    /// One record is written per call to [`Port::send`], before routing, link checks and
    /// impairments: lost frames appear, duplicates do not. If a write fails, capturing
    /// stops and the error is returned by the next [`Fabric::flush_capture`] or
    /// [`Fabric::stop_capture`]; sending is not affected.
    ///
    /// # Errors
    /// The previous capture failed, or the header cannot be written.
    ///
    /// [`CAPTURE_SNAPLEN`]: crate::CAPTURE_SNAPLEN
    pub fn capture_to_writer(&self, writer: impl Write + Send + 'static) -> io::Result<()> {
        let mut inner = self.lock();
        inner.finish_capture()?;
        inner.capture = Some(Capture::start(Box::new(writer))?);
        Ok(())
    }

    /// Whether a capture is active.
    pub fn is_capturing(&self) -> bool {
        self.lock().capture.is_some()
    }

    /// Flushes the active capture so that the file is complete up to the last frame sent.
    ///
    /// # Errors
    /// A write failed since the capture started (capturing has then stopped), or the
    /// flush fails.
    pub fn flush_capture(&self) -> io::Result<()> {
        let mut inner = self.lock();
        if let Some(e) = inner.capture_error.take() {
            return Err(e);
        }
        match inner.capture.as_mut() {
            Some(capture) => capture.flush(),
            None => Ok(()),
        }
    }

    /// Flushes and closes the active capture, if any. (Dropping the last handle to the
    /// fabric also closes it, but silently.)
    ///
    /// # Errors
    /// A write failed since the capture started, or the final flush fails.
    pub fn stop_capture(&self) -> io::Result<()> {
        self.lock().finish_capture()
    }
}

impl fmt::Debug for Fabric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        let ports: Vec<PortDebug<'_>> = inner
            .ports
            .iter()
            .map(|(&id, state)| PortDebug { id, state })
            .collect();
        f.debug_struct("Fabric")
            .field("impairments", &inner.impairments)
            .field("ports", &ports)
            .field(
                "next_due",
                &inner
                    .ports
                    .values()
                    .filter_map(|p| p.queue.first_key_value().map(|(&(due, _), _)| due))
                    .min(),
            )
            .field("capturing", &inner.capture.is_some())
            .field(
                "stats",
                &Stats {
                    in_flight: inner.in_flight() as u64,
                    ..inner.stats
                },
            )
            .finish()
    }
}

struct PortDebug<'a> {
    id: PortId,
    state: &'a PortState,
}

impl fmt::Debug for PortDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.id.0)
            .field("mac", &format_mac(&self.state.mac))
            .field("link_up", &self.state.link_up)
            .field("in_flight", &self.state.queue.len())
            .finish()
    }
}

/// A handle to one port of a [`Fabric`]: cheap to clone, `Send + Sync`.
///
/// All clones refer to the same port. Time is the caller's virtual time in nanoseconds.
#[derive(Clone)]
pub struct Port {
    id: PortId,
    mac: Mac,
    shared: Arc<Mutex<Inner>>,
}

impl Port {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }

    /// The port's identity on its fabric.
    pub fn id(&self) -> PortId {
        self.id
    }

    /// The MAC address the port was attached with.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// A handle to the fabric the port belongs to.
    pub fn fabric(&self) -> Fabric {
        Fabric {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Sends a full Ethernet frame (destination MAC, source MAC, ethertype, payload; no FCS)
    /// at virtual time `now_ns`.
    ///
    /// The frame is captured (if a capture is active), then forwarded by destination MAC,
    /// and each copy is impaired and scheduled for delivery at `now_ns + delay` (never
    /// before an earlier copy on the same path). Nothing is reported back: like a real
    /// wire, the sender does not learn whether the frame arrived. Frames from a port that
    /// is down or detached, frames shorter than [`ETH_HEADER_LEN`] and frames with no
    /// receiver are dropped and counted. `now_ns` need not be monotonic across calls.
    pub fn send(&self, frame: &[u8], now_ns: u64) {
        self.lock().send(self.id, frame, now_ns);
    }

    /// Receives the next frame for this port that is due at `now_ns` (due time `<= now_ns`),
    /// in due-time order (ties in send order), or `None` if none is due yet.
    #[must_use = "a received frame is consumed; dropping it loses it"]
    pub fn recv(&self, now_ns: u64) -> Option<Frame> {
        self.lock().recv(self.id, now_ns)
    }

    /// The earliest due time of a frame in flight to this port, or `None`.
    pub fn next_due(&self) -> Option<u64> {
        let inner = self.lock();
        let state = inner.ports.get(&self.id)?;
        state.queue.first_key_value().map(|(&(due, _), _)| due)
    }

    /// The number of frames in flight to this port, due or not.
    pub fn pending(&self) -> usize {
        self.lock()
            .ports
            .get(&self.id)
            .map_or(0, |state| state.queue.len())
    }

    /// Brings the link up or down. Going down drops every frame in flight to or from the
    /// port; while down, frames the port sends and frames sent to it are dropped (counted
    /// in [`Stats::link_down`]). Bringing it up again restores forwarding for frames sent
    /// from then on. No effect on a detached port.
    pub fn set_link(&self, up: bool) {
        self.lock().set_link(self.id, up);
    }

    /// Whether the link is up (`false` once detached).
    pub fn link_up(&self) -> bool {
        self.lock().ports.get(&self.id).is_some_and(|p| p.link_up)
    }

    /// Whether the port is still attached to its fabric.
    pub fn is_attached(&self) -> bool {
        self.lock().ports.contains_key(&self.id)
    }
}

impl PartialEq for Port {
    /// Two handles are equal if they refer to the same port of the same fabric.
    fn eq(&self, other: &Port) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Port {}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        let state = inner.ports.get(&self.id);
        f.debug_struct("Port")
            .field("id", &self.id.0)
            .field("mac", &format_mac(&self.mac))
            .field("attached", &state.is_some())
            .field("link_up", &state.is_some_and(|s| s.link_up))
            .field("in_flight", &state.map_or(0, |s| s.queue.len()))
            .finish()
    }
}
