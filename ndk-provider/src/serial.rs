//! `Serial`: state that the consumer already serializes (ndkpi.md §7.7: posts to one queue
//! never run concurrently, and the consumer orders them itself), so the fast path takes no
//! lock: a plain in-use flag refuses the one misuse that can happen without breaking that
//! contract — re-entering the queue from inside a call on it (e.g. from a callback) — at the
//! cost of two ordinary stores. The ordering between posts on different CPUs is the
//! consumer's own serialization, as NDKPI requires.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A value used by one caller at a time.
pub struct Serial<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `try_with` hands out `&mut T` to one caller at a time: the consumer serializes the
// callers (NDKPI §7.7) and the flag refuses re-entry, so sharing a `Serial<T>` across threads
// only moves `T` between them, ordered by the consumer's own synchronization.
unsafe impl<T: Send> Sync for Serial<T> {}

/// Clears the flag when the caller's closure returns (or unwinds).
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl<T> Serial<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Serial<T> {
        Serial {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access, or returns `None` when another caller is inside.
    pub fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if self.busy.load(Ordering::Relaxed) {
            return None;
        }
        self.busy.store(true, Ordering::Relaxed);
        let _release = Release(&self.busy);
        // SAFETY: NDKPI §7.7: the consumer never runs two calls on this queue at once, so the
        // only other holder there can be is a re-entrant call on this thread, which finds the
        // flag set and is refused above; no other `&mut T` exists until `_release` clears it.
        Some(f(unsafe { &mut *self.value.get() }))
    }

    /// Exclusive access through a unique reference (teardown).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_user_inside_is_refused_and_the_first_gets_the_value() {
        let s = Serial::new(1u32);
        let inner = s.try_with(|v| {
            *v += 1;
            s.try_with(|_| ())
        });
        assert_eq!(inner, Some(None), "nested use refused");
        assert_eq!(s.try_with(|v| *v), Some(2), "free again afterwards");
    }
}
