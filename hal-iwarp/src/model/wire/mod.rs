//! iWARP wire formats (docs/silicon/iwarp.md §9).
//!
//! | layer | module | reference |
//! | --- | --- | --- |
//! | Ethernet II, IPv4, IPv6 | [`eth`], [`ip`] (the `fabric` crate's) | IEEE 802.3, RFC 791, RFC 8200 |
//! | TCP segments and whole frames | [`tcp`] | RFC 9293 (RFC 793), RFC 6691 (MSS) |
//! | MPA request / reply, FPDUs with CRC32c | [`mpa`] | RFC 5044, RFC 6581 |
//! | DDP tagged / untagged headers | [`ddp`] | RFC 5041 |
//! | RDMAP control, Read Request, Terminate; whole DDP segments | [`rdmap`] | RFC 5040 |
//!
//! Everything here parses untrusted bytes: parsers never index out of bounds, they return
//! [`WireError`] instead.

pub mod ddp;
pub mod mpa;
pub mod rdmap;
pub mod tcp;

use core::fmt;

use fabric::wire::bytes;
pub use fabric::wire::{eth, ip};

/// Why a frame, segment or PDU could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// An Ethernet or IP header problem (truncated, bad version, options, fragment, checksum).
    Header(fabric::wire::HeaderError),
    /// An Ethernet type other than IPv4 or IPv6.
    UnsupportedEtherType(u16),
    /// The IP protocol / next header is not TCP.
    NotTcp(u8),
    /// The buffer ends inside the named header or field.
    Truncated(&'static str),
    /// A length field disagrees with the bytes present.
    BadLength(&'static str),
    /// TCP checksum mismatch.
    BadTcpChecksum {
        /// Checksum computed over pseudo-header and segment.
        computed: u16,
        /// Checksum found in the header.
        found: u16,
    },
    /// MPA request / reply header not acceptable (key, flags, PD_LENGTH).
    BadMpaFrame(crate::mpa::FrameError),
    /// FPDU CRC32c mismatch.
    BadCrc {
        /// CRC computed over the FPDU.
        computed: u32,
        /// CRC found at its end.
        found: u32,
    },
    /// DDP version (DV) other than 1.
    BadDdpVersion(u8),
    /// RDMAP version (RV) other than 1.
    BadRdmapVersion(u8),
    /// An RDMAP opcode RFC 5040 does not define (8..15).
    UnknownOpcode(u8),
    /// The opcode does not go with the DDP header kind (tagged / untagged).
    OpcodeMismatch(u8),
    /// A field value does not fit its wire encoding.
    InvalidField(&'static str),
    /// The payload is longer than the frame or field allows.
    TooLong(&'static str),
}

impl From<fabric::wire::HeaderError> for WireError {
    fn from(e: fabric::wire::HeaderError) -> WireError {
        WireError::Header(e)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Header(e) => write!(f, "{e}"),
            WireError::UnsupportedEtherType(t) => write!(f, "unsupported ethertype {t:#06x}"),
            WireError::NotTcp(p) => write!(f, "IP protocol {p} is not TCP"),
            WireError::Truncated(what) => write!(f, "truncated {what}"),
            WireError::BadLength(what) => write!(f, "inconsistent {what}"),
            WireError::BadTcpChecksum { computed, found } => write!(
                f,
                "bad TCP checksum {found:#06x} (computed {computed:#06x})"
            ),
            WireError::BadMpaFrame(e) => write!(f, "bad MPA request / reply header: {e:?}"),
            WireError::BadCrc { computed, found } => {
                write!(f, "bad FPDU CRC {found:#010x} (computed {computed:#010x})")
            }
            WireError::BadDdpVersion(v) => write!(f, "DDP version {v}"),
            WireError::BadRdmapVersion(v) => write!(f, "RDMAP version {v}"),
            WireError::UnknownOpcode(op) => write!(f, "unknown RDMAP opcode {op}"),
            WireError::OpcodeMismatch(op) => {
                write!(f, "RDMAP opcode {op} on the wrong DDP header kind")
            }
            WireError::InvalidField(what) => write!(f, "invalid {what}"),
            WireError::TooLong(what) => write!(f, "{what} too long"),
        }
    }
}

impl std::error::Error for WireError {}
