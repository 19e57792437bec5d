//! The bounded software queue between the EQ and `NicHal::next_event`: its capacity is
//! reserved at bring-up and never exceeded (a full queue leaves EQEs in the EQ, read on the
//! next `next_event`), so queuing an event never allocates.

use alloc::collections::VecDeque;

use crate::{HalError, HalEvent, HalResult};

/// Events waiting for `next_event`, each with a tag `T` naming the object it belongs to, so a
/// driver can take back events the provider must not see any more (a released connection).
#[derive(Debug)]
pub struct SoftEvents<T> {
    q: VecDeque<(HalEvent, T)>,
    cap: usize,
}

impl<T> SoftEvents<T> {
    /// An empty queue with room for `cap` events (the only allocation).
    pub fn with_capacity(cap: usize) -> HalResult<Self> {
        let mut q = VecDeque::new();
        q.try_reserve_exact(cap)
            .map_err(|_| HalError::NoResources)?;
        Ok(SoftEvents { q, cap })
    }

    /// No room is left: stop reading the EQ.
    pub fn is_full(&self) -> bool {
        self.q.len() >= self.cap
    }

    /// Nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Queues `ev` (dropped when full; callers check [`SoftEvents::is_full`] first).
    pub fn push(&mut self, ev: HalEvent, tag: T) {
        if !self.is_full() {
            self.q.push_back((ev, tag));
        }
    }

    /// The oldest event.
    pub fn pop(&mut self) -> Option<HalEvent> {
        self.q.pop_front().map(|(e, _)| e)
    }

    /// Keeps only the events whose tag `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.q.retain(|(_, t)| keep(t));
    }

    /// Tries to make room for `extra` more events beyond the bound (a dead device fails every
    /// pending command at once, and none of those reports may be lost); off the fast path.
    pub fn grow_for(&mut self, extra: usize) {
        if self.q.try_reserve(extra).is_ok() {
            self.cap = self.cap.max(self.q.len().saturating_add(extra));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_drops_pushes_and_grow_for_raises_it() {
        let mut q = SoftEvents::with_capacity(1).unwrap();
        q.push(HalEvent::DeviceFatal, 1u32);
        assert!(q.is_full());
        q.push(HalEvent::DeviceRemoved, 2);
        q.grow_for(1);
        q.push(HalEvent::DeviceRemoved, 3);
        q.retain(|t| *t != 1);
        assert!(matches!(q.pop(), Some(HalEvent::DeviceRemoved)));
        assert!(q.pop().is_none());
        assert!(q.is_empty());
    }
}
