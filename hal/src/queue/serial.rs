//! Running an interrupt body on one CPU at a time without a lock, as a DPC runs: a call that
//! arrives while the body runs makes it run once more instead of waiting.

use core::sync::atomic::{AtomicU32, Ordering};

/// Requests not yet served; the body runs while any are outstanding.
#[derive(Debug, Default)]
pub struct Serialized {
    requests: AtomicU32,
}

impl Serialized {
    /// No request outstanding.
    pub const fn new() -> Self {
        Serialized {
            requests: AtomicU32::new(0),
        }
    }

    /// Runs `body` now, unless another thread is running it: then that thread runs it once
    /// more after its current pass, and this call returns at once.
    pub fn run(&self, mut body: impl FnMut()) {
        if self.requests.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        loop {
            let seen = self.requests.load(Ordering::Acquire);
            body();
            if self.requests.fetch_sub(seen, Ordering::AcqRel) == seen {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_during_the_body_runs_it_once_more() {
        let s = Serialized::new();
        let mut runs = 0;
        s.run(|| {
            runs += 1;
            if runs == 1 {
                // Re-entered (as from another CPU): served by this pass's loop.
                s.run(|| unreachable!());
            }
        });
        assert_eq!(runs, 2);
    }
}
