//! STags: 24-bit index and 8-bit key byte (docs/silicon/iwarp.md §5.2), and access rights.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use bitflags::bitflags;

/// STag indices 0 and 1 are reserved (STag 0 is never valid; index 1 is the privileged STag).
pub const RESERVED_STAG_INDICES: u32 = 2;
/// Largest STag index the format can carry.
pub const MAX_STAG_INDEX: u32 = 0x00FF_FFFF;
/// The privileged STag of RNIC-W1 (`CAP_PRIV_STAG`): data-segment addresses are bus addresses.
/// Never a remote STag (§5.2).
pub const PRIVILEGED_STAG: u32 = 0x0000_0100;

/// An STag: `INDEX << 8 | KEY`. The driver bumps the key byte for every registration of an
/// index, so STags of earlier registrations fail (RFC 5040: the consumer-owned key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct STag(pub u32);

impl STag {
    /// The STag of `index` (taken mod 2^24) with `key`.
    pub const fn new(index: u32, key: u8) -> STag {
        STag((index & MAX_STAG_INDEX) << 8 | key as u32)
    }

    /// The STag table index.
    pub const fn index(self) -> u32 {
        self.0 >> 8
    }

    /// The key byte.
    pub const fn key(self) -> u8 {
        (self.0 & 0xFF) as u8
    }

    /// The same index with the next key (mod 256): the STag of the next registration.
    pub const fn next_key(self) -> STag {
        STag::new(self.index(), self.key().wrapping_add(1))
    }

    /// True for an index the driver may allocate (not 0 or 1).
    pub const fn is_allocatable(self) -> bool {
        self.index() >= RESERVED_STAG_INDICES
    }

    /// True when a peer may name this STag in an RDMA Write or a Read Request: not 0 and not
    /// the privileged STag (the RTR's STag 0 and Read Responses to our own sinks are matched
    /// against the outstanding read before this check, §9.3.3, §9.5).
    pub const fn is_remote_capable(self) -> bool {
        self.index() >= RESERVED_STAG_INDICES
    }

    /// The four bytes that travel on the wire (network order).
    pub const fn to_wire(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// An STag read from the wire (network order).
    pub const fn from_wire(b: [u8; 4]) -> STag {
        STag(u32::from_be_bytes(b))
    }
}

impl From<u32> for STag {
    fn from(v: u32) -> STag {
        STag(v)
    }
}

impl From<STag> for u32 {
    fn from(s: STag) -> u32 {
        s.0
    }
}

bitflags! {
    /// Access rights (§5.2): the `ACCESS` dword of `REGISTER_MR`, `INIT_FAST_REG`, FAST_REG and
    /// BIND segments and the QP attribute `ACCESS`. Bit numbers are those of `hal::Access`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct AccessFlags: u32 {
        /// The device may write the memory for local operations (receives, read sinks).
        const LOCAL_WRITE = 1 << 0;
        /// A peer may RDMA-read the memory.
        const REMOTE_READ = 1 << 1;
        /// A peer may RDMA-write the memory.
        const REMOTE_WRITE = 1 << 2;
        /// May be a read sink; accepted and ignored (`READ_SINK_NOT_REQUIRED`).
        const READ_SINK = 1 << 3;
        /// Windows may be bound over this MR.
        const MW_BIND = 1 << 4;
    }
}

impl AccessFlags {
    /// The rights of a `hal::Access` (same bit numbers).
    pub const fn from_hal(a: hal::Access) -> AccessFlags {
        AccessFlags::from_bits_truncate(a.bits())
    }

    /// The `hal::Access` of these rights.
    pub const fn to_hal(self) -> hal::Access {
        hal::Access::from_bits_truncate(self.bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stag_is_index_shifted_by_eight_with_the_key_byte() {
        let s = STag::new(0x12_3456, 0x78);
        assert_eq!(s.0, 0x1234_5678);
        assert_eq!((s.index(), s.key()), (0x12_3456, 0x78));
        assert_eq!(STag::from(s.0), s);
        assert_eq!(STag::new(0x1FF_FFFF, 0).index(), MAX_STAG_INDEX);
    }

    #[test]
    fn reregistration_bumps_the_key_so_the_stale_stag_differs() {
        let s = STag::new(7, 0xFF);
        let next = s.next_key();
        assert_eq!(next.index(), 7);
        assert_eq!(next.key(), 0);
        assert_ne!(next, s);
    }

    #[test]
    fn reserved_indices_and_the_privileged_stag_are_never_remote() {
        assert!(!STag(0).is_allocatable());
        assert!(!STag(PRIVILEGED_STAG).is_allocatable());
        assert!(!STag(PRIVILEGED_STAG).is_remote_capable());
        assert_eq!(STag(PRIVILEGED_STAG).index(), 1);
        assert!(STag::new(2, 0).is_allocatable());
    }

    #[test]
    fn stags_travel_in_network_order() {
        let s = STag(0x0102_0304);
        assert_eq!(s.to_wire(), [1, 2, 3, 4]);
        assert_eq!(STag::from_wire([1, 2, 3, 4]), s);
    }

    #[test]
    fn access_bits_are_hal_bits() {
        let a = hal::Access::LOCAL_WRITE | hal::Access::REMOTE_WRITE | hal::Access::MW_BIND;
        let f = AccessFlags::from_hal(a);
        assert_eq!(f.bits(), 0b1_0101);
        assert_eq!(f.to_hal(), a);
        assert_eq!(AccessFlags::READ_SINK.bits(), hal::Access::READ_SINK.bits());
    }
}
