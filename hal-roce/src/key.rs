//! Memory keys: 24-bit MPT index and 8-bit variant (docs/silicon/rocev2.md §5.2).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

/// Key indices 0 and 1 are reserved (key 0 is never valid; index 1 is the privileged lkey).
pub const RESERVED_KEY_INDICES: u32 = 2;
/// Largest key index the format can carry.
pub const MAX_KEY_INDEX: u32 = 0x00FF_FFFF;
/// The privileged lkey of RNIC-R2 (`CAP_PRIV_LKEY`): data-segment addresses are bus addresses.
pub const PRIVILEGED_LKEY: u32 = 0x0000_0100;

/// A memory key: `INDEX << 8 | VARIANT`. The driver bumps the variant for every registration of
/// an index, so keys of earlier registrations fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u32);

impl Key {
    /// The key of `index` (taken mod 2^24) with `variant`.
    pub const fn new(index: u32, variant: u8) -> Key {
        Key((index & MAX_KEY_INDEX) << 8 | variant as u32)
    }

    /// The MPT index.
    pub const fn index(self) -> u32 {
        self.0 >> 8
    }

    /// The variant.
    pub const fn variant(self) -> u8 {
        (self.0 & 0xFF) as u8
    }

    /// The same index with the next variant (mod 256): the key of the next registration.
    pub const fn next_variant(self) -> Key {
        Key::new(self.index(), self.variant().wrapping_add(1))
    }

    /// True for an index the driver may allocate (not 0 or 1).
    pub const fn is_allocatable(self) -> bool {
        self.index() >= RESERVED_KEY_INDICES
    }
}

impl From<u32> for Key {
    fn from(v: u32) -> Key {
        Key(v)
    }
}

impl From<Key> for u32 {
    fn from(k: Key) -> u32 {
        k.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_index_shifted_by_eight_with_variant() {
        let k = Key::new(0x12_3456, 0x78);
        assert_eq!(k.0, 0x1234_5678);
        assert_eq!((k.index(), k.variant()), (0x12_3456, 0x78));
        assert_eq!(Key::from(k.0), k);
    }

    #[test]
    fn reregistration_bumps_the_variant_so_the_stale_key_differs() {
        let k = Key::new(7, 0xFF);
        let next = k.next_variant();
        assert_eq!(next.index(), 7);
        assert_eq!(next.variant(), 0);
        assert_ne!(next, k);
    }

    #[test]
    fn reserved_indices() {
        assert!(!Key(0).is_allocatable());
        assert!(!Key(PRIVILEGED_LKEY).is_allocatable());
        assert_eq!(Key(PRIVILEGED_LKEY).index(), 1);
        assert!(Key::new(2, 0).is_allocatable());
    }
}
