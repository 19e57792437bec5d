//! Ring counters and the owner (phase) bit: a building block for backends whose device talks
//! to the host through `2^k`-entry rings addressed by free-running counters (the reference
//! RoCEv2 and iWARP NICs, `rocev2.md` / `iwarp.md` §5.1; mlx5 owner bit, irdma valid bit).
//!
//! Rings have `2^k` entries and are addressed by free-running counters: 16 bits wide for SQ,
//! RQ, SRQ, admin queue and CM event ring, 24 bits for CQ and EQ. A CQE or EQE written as entry
//! number `p` carries `OWNER = 1 XOR ((p >> k) AND 1)`: 1 on the first pass over the zeroed ring,
//! 0 on the second, and so on. The consumer at counter `c` sees a valid entry when the owner
//! bit equals [`owner_bit`]`(c, k)`.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

/// Mask of 16-bit counters (SQ, RQ, SRQ, ADMQ, CMEV, raw send and receive rings).
pub const COUNTER16_MASK: u32 = 0xFFFF;
/// Mask of 24-bit counters (CQ, EQ, raw completion ring).
pub const COUNTER24_MASK: u32 = 0x00FF_FFFF;

/// The owner bit of entry number `counter` in a ring of `2^log2_entries` entries: the value the
/// device writes, and the value the driver expects at that consumer counter.
pub const fn owner_bit(counter: u32, log2_entries: u8) -> bool {
    match counter.checked_shr(log2_entries as u32) {
        Some(lap) => lap & 1 == 0,
        None => true,
    }
}

/// `2^log2_entries − 1`, saturating at `u32::MAX`.
pub const fn mask(log2_entries: u8) -> u32 {
    match 1u32.checked_shl(log2_entries as u32) {
        Some(n) => n.wrapping_sub(1),
        None => u32::MAX,
    }
}

/// The slot of entry number `counter` in a ring of `2^log2_entries` entries.
pub const fn slot(counter: u32, log2_entries: u8) -> usize {
    (counter & mask(log2_entries)) as usize
}

/// Advances a 24-bit counter (CQ, EQ, raw completion ring) by `n`.
pub const fn advance24(counter: u32, n: u32) -> u32 {
    counter.wrapping_add(n) & COUNTER24_MASK
}

/// Entries between a 24-bit consumer and producer counter (`producer − consumer` mod 2^24).
pub const fn used24(producer: u32, consumer: u32) -> u32 {
    producer.wrapping_sub(consumer) & COUNTER24_MASK
}

/// Entries between a 16-bit consumer and producer counter (`producer − consumer` mod 2^16).
pub const fn used16(producer: u16, consumer: u16) -> u16 {
    producer.wrapping_sub(consumer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_bit_is_one_on_the_first_pass_and_flips_at_every_wrap() {
        // Ring of 4 entries.
        for c in 0..4 {
            assert!(owner_bit(c, 2), "first pass, entry {c}");
        }
        for c in 4..8 {
            assert!(!owner_bit(c, 2), "second pass, entry {c}");
        }
        assert!(owner_bit(8, 2));
    }

    #[test]
    fn zeroed_ring_looks_empty_on_the_first_pass() {
        // The driver zeroes the ring: OWNER 0 never matches the expected 1 of lap 0.
        let zeroed_owner = false;
        assert_ne!(zeroed_owner, owner_bit(0, 10));
    }

    #[test]
    fn stale_entry_of_the_previous_pass_is_not_valid() {
        // Entry 1 written on pass 0 (owner 1) is seen again by a consumer on pass 1 (counter 5).
        let written = owner_bit(1, 2);
        assert_ne!(written, owner_bit(5, 2));
        assert_eq!(slot(1, 2), slot(5, 2));
    }

    #[test]
    fn phase_rule_survives_the_24_bit_counter_wrap() {
        // 2^24 is a multiple of 2 * 2^22, so the lap parity continues across the wrap.
        let last = COUNTER24_MASK;
        let next = advance24(last, 1);
        assert_eq!(next, 0);
        assert_eq!(slot(last, 22), (1 << 22) - 1);
        assert_ne!(owner_bit(last, 22), owner_bit(next, 22));
        assert_eq!(slot(next, 22), 0);
    }

    #[test]
    fn used_counts_wrap() {
        assert_eq!(used24(2, COUNTER24_MASK), 3);
        assert_eq!(used16(1, 0xFFFF), 2);
        assert_eq!(mask(0), 0);
        assert_eq!(mask(32), u32::MAX);
        assert!(owner_bit(u32::MAX, 40));
    }
}
