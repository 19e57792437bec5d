//! The one error type of the wire codecs.

use core::fmt;

/// Why a frame, header or MAD could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends inside the named header or field.
    Truncated(&'static str),
    /// An Ethernet type other than IPv4 or IPv6 (after an optional 802.1Q tag).
    UnsupportedEtherType(u16),
    /// The IP version nibble does not match the Ethernet type (or is neither 4 nor 6).
    BadIpVersion(u8),
    /// IPv4 header with options (IHL other than 5); RoCEv2 never sends them.
    UnsupportedIpOptions,
    /// IPv4 fragment (MF set or non-zero fragment offset); RoCEv2 is never fragmented.
    Fragmented,
    /// IPv4 header checksum mismatch.
    BadIpChecksum {
        /// Checksum computed over the header.
        computed: u16,
        /// Checksum found in the header.
        found: u16,
    },
    /// A length field disagrees with the bytes present (IP total/payload length, UDP length,
    /// pad count).
    BadLength(&'static str),
    /// The IP protocol / IPv6 next header is not UDP.
    NotUdp(u8),
    /// The UDP destination port is not 4791.
    NotRoce(u16),
    /// UDP checksum mismatch (a zero checksum is an error over IPv6).
    BadUdpChecksum {
        /// Checksum computed over pseudo-header and datagram.
        computed: u16,
        /// Checksum found in the header.
        found: u16,
    },
    /// A BTH opcode this codec does not know.
    UnknownOpcode(u8),
    /// Invariant CRC mismatch.
    BadIcrc {
        /// ICRC computed over the packet.
        computed: u32,
        /// ICRC found at the end of the UDP payload.
        found: u32,
    },
    /// The extension headers given to a builder do not match the BTH opcode.
    HeaderMismatch(&'static str),
    /// A field value does not fit its wire encoding or is reserved.
    InvalidField(&'static str),
    /// The payload or private data is longer than its field or the frame allows.
    TooLong(&'static str),
    /// A MAD that is not a well-formed CM MAD (version, class or attribute).
    NotCm(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated(what) => write!(f, "truncated {what}"),
            WireError::UnsupportedEtherType(t) => write!(f, "unsupported ethertype {t:#06x}"),
            WireError::BadIpVersion(v) => write!(f, "bad IP version {v}"),
            WireError::UnsupportedIpOptions => f.write_str("IPv4 options not supported"),
            WireError::Fragmented => f.write_str("fragmented IPv4 datagram"),
            WireError::BadIpChecksum { computed, found } => write!(
                f,
                "bad IPv4 header checksum {found:#06x} (computed {computed:#06x})"
            ),
            WireError::BadLength(what) => write!(f, "inconsistent {what}"),
            WireError::NotUdp(p) => write!(f, "IP protocol {p} is not UDP"),
            WireError::NotRoce(port) => write!(f, "UDP destination port {port} is not RoCEv2"),
            WireError::BadUdpChecksum { computed, found } => write!(
                f,
                "bad UDP checksum {found:#06x} (computed {computed:#06x})"
            ),
            WireError::UnknownOpcode(op) => write!(f, "unknown BTH opcode {op:#04x}"),
            WireError::BadIcrc { computed, found } => {
                write!(f, "bad ICRC {found:#010x} (computed {computed:#010x})")
            }
            WireError::HeaderMismatch(what) => write!(f, "extension headers vs opcode: {what}"),
            WireError::InvalidField(what) => write!(f, "invalid {what}"),
            WireError::TooLong(what) => write!(f, "{what} too long"),
            WireError::NotCm(what) => write!(f, "not a CM MAD: {what}"),
        }
    }
}

impl std::error::Error for WireError {}

/// The shared Ethernet / IP codecs report the variants of the same names.
impl From<fabric::wire::HeaderError> for WireError {
    fn from(e: fabric::wire::HeaderError) -> WireError {
        use fabric::wire::HeaderError as H;
        match e {
            H::Truncated(what) => WireError::Truncated(what),
            H::BadIpVersion(v) => WireError::BadIpVersion(v),
            H::UnsupportedIpOptions => WireError::UnsupportedIpOptions,
            H::Fragmented => WireError::Fragmented,
            H::BadIpChecksum { computed, found } => WireError::BadIpChecksum { computed, found },
            H::BadLength(what) => WireError::BadLength(what),
            // HeaderError is non-exhaustive; a future variant is still a malformed header.
            _ => WireError::InvalidField("IP header"),
        }
    }
}
