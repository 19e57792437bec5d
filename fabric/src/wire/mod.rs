//! Codecs of the generic headers every emulated NIC on the fabric speaks: Ethernet II with an
//! optional 802.1Q tag ([`eth`]), IPv4 and IPv6 with the Internet and pseudo-header checksums
//! ([`ip`]), and the bounds-checked big-endian field access they are built on ([`bytes`]).
//!
//! The transport codecs on top (RoCEv2's UDP/BTH, iWARP's TCP/MPA/DDP/RDMAP) live with their
//! device models. Everything here parses untrusted bytes: parsers never index out of bounds,
//! they return [`HeaderError`] instead.

pub mod bytes;
pub mod eth;
pub mod ip;

use core::fmt;

/// Why an Ethernet or IP header could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The buffer ends inside the named header or field.
    Truncated(&'static str),
    /// The IP version nibble is neither 4 nor 6 (or not the one asked for).
    BadIpVersion(u8),
    /// IPv4 header with options (IHL other than 5).
    UnsupportedIpOptions,
    /// IPv4 fragment (MF set or non-zero fragment offset).
    Fragmented,
    /// IPv4 header checksum mismatch.
    BadIpChecksum {
        /// Checksum computed over the header.
        computed: u16,
        /// Checksum found in the header.
        found: u16,
    },
    /// A length field disagrees with the bytes present (IP total or payload length).
    BadLength(&'static str),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Truncated(what) => write!(f, "truncated {what}"),
            HeaderError::BadIpVersion(v) => write!(f, "bad IP version {v}"),
            HeaderError::UnsupportedIpOptions => f.write_str("IPv4 options not supported"),
            HeaderError::Fragmented => f.write_str("fragmented IPv4 datagram"),
            HeaderError::BadIpChecksum { computed, found } => write!(
                f,
                "bad IPv4 header checksum {found:#06x} (computed {computed:#06x})"
            ),
            HeaderError::BadLength(what) => write!(f, "inconsistent {what}"),
        }
    }
}

impl std::error::Error for HeaderError {}
