//! The bring-up poll loop: wait for a register condition through [`Platform::stall_us`], where
//! a device model steps, with a time-out on [`Platform::now_ns`].

use crate::{HalError, HalResult, Platform};

/// How often a bring-up or reset wait looks (both datasheets' §11.1 step 3: every 10 µs).
pub const POLL_US: u32 = 10;

/// Polls `done` every [`POLL_US`] until it holds (`Ok`) or `timeout_ns` passed (`Fatal`: the
/// device did not do what its datasheet promises). Never call it holding a lock.
pub fn wait_for<P: Platform>(
    p: &P,
    timeout_ns: u64,
    mut done: impl FnMut() -> bool,
) -> HalResult<()> {
    let start = p.now_ns();
    loop {
        if done() {
            return Ok(());
        }
        if p.now_ns().wrapping_sub(start) >= timeout_ns {
            return Err(HalError::Fatal);
        }
        p.stall_us(POLL_US);
    }
}

/// Waits, polling through `poll` (the EQ, before there is an interrupt handler), until `take`
/// yields the result of a command the driver waits for itself; `Fatal` after `timeout_ns`.
/// Never call it holding a lock.
pub fn wait_result<P: Platform>(
    p: &P,
    timeout_ns: u64,
    mut poll: impl FnMut(),
    mut take: impl FnMut() -> Option<HalResult<()>>,
) -> HalResult<()> {
    let mut result = None;
    wait_for(p, timeout_ns, || {
        poll();
        result = take();
        result.is_some()
    })?;
    result.unwrap_or(Err(HalError::Fatal))
}

/// Takes the result of the command with `token` from the completed ones a driver waits for
/// itself (`admin::Followup::Sync`), if it completed.
pub fn take_result(
    done: &mut alloc::vec::Vec<(u64, HalResult<()>)>,
    token: u64,
) -> Option<HalResult<()>> {
    let i = done.iter().position(|(t, _)| *t == token)?;
    Some(done.swap_remove(i).1)
}
