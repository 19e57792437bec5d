//! `Serial`: state that the consumer already serializes (ndkpi.md §7.7: posts to one queue
//! never run concurrently), guarded by one atomic flag instead of a lock, so the fast path
//! pays a single atomic exchange. A concurrent use, which would be a consumer bug, is refused
//! rather than allowed to race.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A value used by one caller at a time.
pub struct Serial<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `try_with` hands out `&mut T` to one caller at a time (the `busy` flag), so sharing
// a `Serial<T>` across threads only moves `T` between them.
unsafe impl<T: Send> Sync for Serial<T> {}

/// Clears the flag when the caller's closure returns (or unwinds).
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
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
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        let _release = Release(&self.busy);
        // SAFETY: the flag was clear and is now ours: no other `&mut T` exists until
        // `_release` clears it.
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
