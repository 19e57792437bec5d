//! Connection records and events of the TCP offload engine's connection manager
//! (docs/silicon/iwarp.md §5.8, §8).
//!
//! One 1024-byte record layout serves the connection event ring (device-written) and the input
//! mailboxes of `CM_CONNECT`, `CM_ACCEPT` and `CM_REJECT` (driver-written).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hal::{CmEvent, ConnId, HalError, PrivateData};
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::mpa::{RtrType, MAX_ULP_PRIVATE_DATA};

/// Size of a connection record (CMEV slot and mailbox).
pub const CM_RECORD_SIZE: usize = 1024;
/// Offset of PRIVATE_DATA in the record.
pub const PRIVATE_DATA_OFFSET: usize = 0x100;
/// First connection id of passive connections (`0x8000_0000 | n`, §8.2).
pub const PASSIVE_CONN_ID_BASE: u32 = 0x8000_0000;

/// The connection record exactly as in host memory (§5.8), one field per row.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct CmRecordRaw {
    /// 0x000 CONN_ID.
    pub conn_id: U32,
    /// 0x004 EVENT.
    pub event: u8,
    /// 0x005 IP_VERSION.
    pub ip_version: u8,
    /// 0x006 PRIVATE_DATA_LEN.
    pub private_data_len: U16,
    /// 0x008 CONTEXT.
    pub context: U64,
    /// 0x010 LOCAL_IP (network order).
    pub local_ip: [u8; 16],
    /// 0x020 REMOTE_IP (network order).
    pub remote_ip: [u8; 16],
    /// 0x030 LOCAL_PORT.
    pub local_port: U16,
    /// 0x032 REMOTE_PORT.
    pub remote_port: U16,
    /// 0x034 IRD.
    pub ird: U16,
    /// 0x036 ORD.
    pub ord: U16,
    /// 0x038 REASON.
    pub reason: U16,
    /// 0x03A MPA_REVISION.
    pub mpa_revision: u8,
    /// 0x03B RTR.
    pub rtr: u8,
    /// 0x03C LOCAL_QPN (bits 23:0).
    pub local_qpn: U32,
    /// 0x040 REMOTE_MAC.
    pub remote_mac: [u8; 6],
    /// 0x046 MSS.
    pub mss: U16,
    /// 0x048 LISTEN_ID.
    pub listen_id: U32,
    /// 0x04C ISS.
    pub iss: U32,
    /// 0x050 IRS.
    pub irs: U32,
    /// 0x054 reserved.
    pub reserved0: [u8; 172],
    /// 0x100 PRIVATE_DATA.
    pub private_data: [u8; 512],
    /// 0x300 reserved.
    pub reserved1: [u8; 256],
}

const _: () = assert!(core::mem::size_of::<CmRecordRaw>() == CM_RECORD_SIZE);

/// Connection event types (§8.4): the record's EVENT and the CM_EVENT EQE's SUBTYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CmEventType {
    /// Passive: an MPA request arrived on a listen.
    ConnectRequest = 0x01,
    /// Active: the peer's MPA reply accepted; the QP is in RTR.
    ConnectReply = 0x02,
    /// Passive: the RTR arrived; the QP is in RTS.
    Established = 0x03,
    /// Active: MPA reject or RST to the SYN.
    Rejected = 0x04,
    /// Active: timeout, reset or MPA error.
    ConnectFailed = 0x05,
    /// Passive: the handshake ended before ESTABLISHED.
    AcceptFailed = 0x06,
    /// The peer closed or the connection broke.
    Disconnected = 0x07,
    /// A `CM_DISCONNECT` finished.
    DisconnectDone = 0x08,
}

impl CmEventType {
    /// Decodes an EVENT byte.
    pub const fn from_u8(v: u8) -> Option<CmEventType> {
        Some(match v {
            0x01 => CmEventType::ConnectRequest,
            0x02 => CmEventType::ConnectReply,
            0x03 => CmEventType::Established,
            0x04 => CmEventType::Rejected,
            0x05 => CmEventType::ConnectFailed,
            0x06 => CmEventType::AcceptFailed,
            0x07 => CmEventType::Disconnected,
            0x08 => CmEventType::DisconnectDone,
            _ => return None,
        })
    }
}

/// REASON values (§8.4).
pub mod reason {
    /// No reason (graceful).
    pub const NONE: u16 = 0;
    /// A TCP or MPA timer ran out.
    pub const TIMEOUT: u16 = 1;
    /// No route.
    pub const UNREACHABLE: u16 = 2;
    /// The peer closed or reset during the handshake.
    pub const ABORTED: u16 = 3;
    /// The local QP failed.
    pub const BROKEN: u16 = 4;
    /// An RST was received.
    pub const RESET: u16 = 5;
    /// The peer's MPA reply had R = 1.
    pub const MPA_REJECT: u16 = 6;
    /// The SYN was answered with RST.
    pub const TCP_REFUSED: u16 = 7;
    /// The peer's MPA frame is malformed or incompatible.
    pub const MPA_ERROR: u16 = 8;
    /// An RDMAP Terminate was received.
    pub const TERMINATE: u16 = 9;
}

/// Why a record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmRecordError {
    /// The buffer is shorter than [`CM_RECORD_SIZE`].
    Short,
    /// IP_VERSION is neither 4 nor 6.
    BadIpVersion(u8),
    /// PRIVATE_DATA_LEN exceeds [`MAX_ULP_PRIVATE_DATA`].
    BadPrivateDataLen(u16),
    /// RTR is not a known RTR type.
    BadRtr(u8),
}

/// A connection record (§5.8), typed.
#[derive(Clone, Copy, Debug)]
pub struct CmRecord {
    /// CONN_ID.
    pub conn_id: u32,
    /// EVENT byte (0 in mailboxes); see [`CmRecord::event_type`].
    pub event: u8,
    /// LOCAL_IP / LOCAL_PORT.
    pub local: SocketAddr,
    /// REMOTE_IP / REMOTE_PORT.
    pub remote: SocketAddr,
    /// CONTEXT.
    pub context: u64,
    /// IRD (14 bits used).
    pub ird: u16,
    /// ORD (14 bits used).
    pub ord: u16,
    /// REASON ([`reason`]).
    pub reason: u16,
    /// MPA_REVISION (events).
    pub mpa_revision: u8,
    /// RTR (events).
    pub rtr: RtrType,
    /// LOCAL_QPN (24 bits).
    pub local_qpn: u32,
    /// REMOTE_MAC.
    pub remote_mac: [u8; 6],
    /// MSS (events).
    pub mss: u16,
    /// LISTEN_ID (CONNECT_REQUEST).
    pub listen_id: u32,
    /// ISS (events, diagnostic).
    pub iss: u32,
    /// IRS (events, diagnostic).
    pub irs: u32,
    /// PRIVATE_DATA (ULP bytes only, ≤ [`MAX_ULP_PRIVATE_DATA`]).
    pub private_data: PrivateData,
}

/// 16 network-order bytes of an address, IPv4 as IPv4-mapped IPv6 (§5.8).
pub fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address of 16 network-order bytes under IP_VERSION `version`.
pub fn ip_from_bytes(version: u8, b: [u8; 16]) -> Option<IpAddr> {
    let v6 = Ipv6Addr::from(b);
    match version {
        4 => Some(IpAddr::V4(
            v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
        )),
        6 => Some(IpAddr::V6(v6)),
        _ => None,
    }
}

/// IP_VERSION of an address.
pub const fn ip_version(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 6,
    }
}

impl CmRecord {
    /// A mailbox record for `CM_CONNECT`, `CM_ACCEPT` or `CM_REJECT` (fields a command does
    /// not use are ignored by it). `None` when the private data is longer than MPA allows.
    #[allow(clippy::too_many_arguments)]
    pub fn mailbox(
        conn_id: u32,
        context: u64,
        local: SocketAddr,
        remote: SocketAddr,
        ird: u16,
        ord: u16,
        local_qpn: u32,
        remote_mac: [u8; 6],
        private_data: &[u8],
    ) -> Option<CmRecord> {
        if private_data.len() > MAX_ULP_PRIVATE_DATA {
            return None;
        }
        Some(CmRecord {
            conn_id,
            event: 0,
            local,
            remote,
            context,
            ird,
            ord,
            reason: 0,
            mpa_revision: 0,
            rtr: RtrType::None,
            local_qpn,
            remote_mac,
            mss: 0,
            listen_id: 0,
            iss: 0,
            irs: 0,
            private_data: PrivateData::new(private_data)?,
        })
    }

    /// The event type (`None` in mailboxes or for a reserved byte).
    pub const fn event_type(&self) -> Option<CmEventType> {
        CmEventType::from_u8(self.event)
    }

    /// The raw record.
    pub fn to_raw(&self) -> CmRecordRaw {
        let mut pd = [0u8; 512];
        let src = self.private_data.as_slice();
        pd.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
        CmRecordRaw {
            conn_id: U32::new(self.conn_id),
            event: self.event,
            ip_version: ip_version(&self.remote.ip()),
            private_data_len: U16::new(u16::try_from(src.len()).unwrap_or(0)),
            context: U64::new(self.context),
            local_ip: ip_bytes(self.local.ip()),
            remote_ip: ip_bytes(self.remote.ip()),
            local_port: U16::new(self.local.port()),
            remote_port: U16::new(self.remote.port()),
            ird: U16::new(self.ird & crate::mpa::IRD_ORD_MASK),
            ord: U16::new(self.ord & crate::mpa::IRD_ORD_MASK),
            reason: U16::new(self.reason),
            mpa_revision: self.mpa_revision,
            rtr: self.rtr as u8,
            local_qpn: U32::new(self.local_qpn & 0x00FF_FFFF),
            remote_mac: self.remote_mac,
            mss: U16::new(self.mss),
            listen_id: U32::new(self.listen_id),
            iss: U32::new(self.iss),
            irs: U32::new(self.irs),
            reserved0: [0; 172],
            private_data: pd,
            reserved1: [0; 256],
        }
    }

    /// Writes the record into the first [`CM_RECORD_SIZE`] bytes of `out` (a mailbox or a
    /// CMEV slot); `false` when `out` is too short.
    pub fn encode_into(&self, out: &mut [u8]) -> bool {
        self.to_raw().write_to_prefix(out).is_ok()
    }

    /// Decodes the record at the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<CmRecord, CmRecordError> {
        let (r, _) = CmRecordRaw::ref_from_prefix(buf).map_err(|_| CmRecordError::Short)?;
        let version = r.ip_version;
        let local_ip =
            ip_from_bytes(version, r.local_ip).ok_or(CmRecordError::BadIpVersion(version))?;
        let remote_ip =
            ip_from_bytes(version, r.remote_ip).ok_or(CmRecordError::BadIpVersion(version))?;
        let len = r.private_data_len.get();
        let pd = r
            .private_data
            .get(..usize::from(len))
            .filter(|s| s.len() <= MAX_ULP_PRIVATE_DATA)
            .and_then(PrivateData::new)
            .ok_or(CmRecordError::BadPrivateDataLen(len))?;
        Ok(CmRecord {
            conn_id: r.conn_id.get(),
            event: r.event,
            local: SocketAddr::new(local_ip, r.local_port.get()),
            remote: SocketAddr::new(remote_ip, r.remote_port.get()),
            context: r.context.get(),
            ird: r.ird.get() & crate::mpa::IRD_ORD_MASK,
            ord: r.ord.get() & crate::mpa::IRD_ORD_MASK,
            reason: r.reason.get(),
            mpa_revision: r.mpa_revision,
            rtr: RtrType::from_u8(r.rtr).ok_or(CmRecordError::BadRtr(r.rtr))?,
            local_qpn: r.local_qpn.get() & 0x00FF_FFFF,
            remote_mac: r.remote_mac,
            mss: r.mss.get(),
            listen_id: r.listen_id.get(),
            iss: r.iss.get(),
            irs: r.irs.get(),
            private_data: pd,
        })
    }

    /// The `hal` event of an event-ring record (§8.4, last column); `None` for a mailbox or a
    /// reserved EVENT.
    pub fn hal_event(&self) -> Option<CmEvent> {
        let ctx = self.context;
        let ird = u32::from(self.ird);
        let ord = u32::from(self.ord);
        Some(match self.event_type()? {
            CmEventType::ConnectRequest => CmEvent::ConnectRequest {
                listen_ctx: ctx,
                conn: ConnId(self.conn_id),
                local: self.local,
                remote: self.remote,
                ird,
                ord,
                private_data: self.private_data,
            },
            CmEventType::ConnectReply => CmEvent::ConnectReply {
                ctx,
                ird,
                ord,
                private_data: self.private_data,
            },
            CmEventType::Established => CmEvent::Established { ctx },
            CmEventType::Rejected => CmEvent::ConnectFailed {
                ctx,
                error: HalError::ConnectionRefused,
                private_data: if self.reason == reason::MPA_REJECT {
                    self.private_data
                } else {
                    PrivateData::EMPTY
                },
            },
            CmEventType::ConnectFailed => CmEvent::ConnectFailed {
                ctx,
                error: match self.reason {
                    reason::TIMEOUT => HalError::Timeout,
                    reason::UNREACHABLE => HalError::HostUnreachable,
                    _ => HalError::ConnectionAborted,
                },
                private_data: PrivateData::EMPTY,
            },
            CmEventType::AcceptFailed => CmEvent::AcceptFailed {
                ctx,
                error: if self.reason == reason::TIMEOUT {
                    HalError::Timeout
                } else {
                    HalError::ConnectionAborted
                },
            },
            CmEventType::Disconnected => CmEvent::PeerDisconnected {
                ctx,
                reason: u32::from(self.reason),
            },
            CmEventType::DisconnectDone => CmEvent::DisconnectComplete {
                ctx,
                error: match self.reason {
                    reason::NONE => None,
                    reason::TIMEOUT => Some(HalError::Timeout),
                    _ => Some(HalError::ConnectionAborted),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use core::mem::offset_of;

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port)
    }

    fn event(ty: CmEventType, reason: u16, pd: &[u8]) -> CmRecord {
        let mut r = CmRecord::mailbox(
            0x8000_0001,
            55,
            v4([10, 0, 0, 1], 445),
            v4([10, 0, 0, 2], 50000),
            8,
            4,
            0,
            [2, 0, 0, 0, 0, 9],
            pd,
        )
        .unwrap();
        r.event = ty as u8;
        r.reason = reason;
        r.rtr = RtrType::Read;
        r.mpa_revision = 2;
        r
    }

    #[test]
    fn raw_offsets_match_the_manual() {
        assert_eq!(offset_of!(CmRecordRaw, conn_id), 0x000);
        assert_eq!(offset_of!(CmRecordRaw, event), 0x004);
        assert_eq!(offset_of!(CmRecordRaw, ip_version), 0x005);
        assert_eq!(offset_of!(CmRecordRaw, private_data_len), 0x006);
        assert_eq!(offset_of!(CmRecordRaw, context), 0x008);
        assert_eq!(offset_of!(CmRecordRaw, local_ip), 0x010);
        assert_eq!(offset_of!(CmRecordRaw, remote_ip), 0x020);
        assert_eq!(offset_of!(CmRecordRaw, local_port), 0x030);
        assert_eq!(offset_of!(CmRecordRaw, remote_port), 0x032);
        assert_eq!(offset_of!(CmRecordRaw, ird), 0x034);
        assert_eq!(offset_of!(CmRecordRaw, ord), 0x036);
        assert_eq!(offset_of!(CmRecordRaw, reason), 0x038);
        assert_eq!(offset_of!(CmRecordRaw, mpa_revision), 0x03A);
        assert_eq!(offset_of!(CmRecordRaw, rtr), 0x03B);
        assert_eq!(offset_of!(CmRecordRaw, local_qpn), 0x03C);
        assert_eq!(offset_of!(CmRecordRaw, remote_mac), 0x040);
        assert_eq!(offset_of!(CmRecordRaw, mss), 0x046);
        assert_eq!(offset_of!(CmRecordRaw, listen_id), 0x048);
        assert_eq!(offset_of!(CmRecordRaw, iss), 0x04C);
        assert_eq!(offset_of!(CmRecordRaw, irs), 0x050);
        assert_eq!(offset_of!(CmRecordRaw, private_data), PRIVATE_DATA_OFFSET);
    }

    #[test]
    fn a_connect_request_image_built_from_the_manual_decodes() {
        let mut b = vec![0u8; CM_RECORD_SIZE];
        b[0x000..0x004].copy_from_slice(&0x8000_0007u32.to_le_bytes());
        b[0x004] = 0x01;
        b[0x005] = 4;
        b[0x006..0x008].copy_from_slice(&3u16.to_le_bytes());
        b[0x008..0x010].copy_from_slice(&99u64.to_le_bytes());
        b[0x010..0x020]
            .copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 168, 1, 1]);
        b[0x020..0x030]
            .copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 168, 1, 2]);
        b[0x030..0x032].copy_from_slice(&445u16.to_le_bytes());
        b[0x032..0x034].copy_from_slice(&49152u16.to_le_bytes());
        b[0x034..0x036].copy_from_slice(&16u16.to_le_bytes());
        b[0x036..0x038].copy_from_slice(&8u16.to_le_bytes());
        b[0x03A] = 2;
        b[0x03B] = 3;
        b[0x048..0x04C].copy_from_slice(&5u32.to_le_bytes());
        b[0x100..0x103].copy_from_slice(b"abc");
        let r = CmRecord::decode(&b).unwrap();
        assert_eq!(r.event_type(), Some(CmEventType::ConnectRequest));
        assert_eq!(r.local, v4([192, 168, 1, 1], 445));
        assert_eq!(r.remote, v4([192, 168, 1, 2], 49152));
        assert_eq!(
            (r.ird, r.ord, r.listen_id, r.rtr),
            (16, 8, 5, RtrType::Read)
        );
        match r.hal_event().unwrap() {
            CmEvent::ConnectRequest {
                listen_ctx,
                conn,
                ird,
                ord,
                private_data,
                ..
            } => {
                assert_eq!(
                    (listen_ctx, conn, ird, ord),
                    (99, ConnId(0x8000_0007), 16, 8)
                );
                assert_eq!(private_data.as_slice(), b"abc");
            }
            e => panic!("{e:?}"),
        }
        // Re-encoding gives the same image.
        let mut out = vec![0u8; CM_RECORD_SIZE];
        assert!(r.encode_into(&mut out));
        assert_eq!(out, b);
    }

    #[test]
    fn records_round_trip_with_ipv6_and_full_private_data() {
        let pd = [0x5Au8; MAX_ULP_PRIVATE_DATA];
        let local = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1);
        let remote = SocketAddr::new("fe80::1".parse().unwrap(), 65535);
        let r = CmRecord::mailbox(3, 4, local, remote, 0x3FFF, 1, 0xAB_CDEF, [1; 6], &pd).unwrap();
        let mut out = vec![0u8; CM_RECORD_SIZE + 8];
        assert!(r.encode_into(&mut out));
        let d = CmRecord::decode(&out).unwrap();
        assert_eq!(
            (d.local, d.remote, d.ird, d.ord),
            (local, remote, 0x3FFF, 1)
        );
        assert_eq!(d.local_qpn, 0xAB_CDEF);
        assert_eq!(d.private_data.as_slice(), &pd[..]);
        assert!(CmRecord::mailbox(3, 4, local, remote, 0, 0, 0, [0; 6], &[0; 509]).is_none());
    }

    #[test]
    fn malformed_records_are_refused() {
        let mut b = vec![0u8; CM_RECORD_SIZE];
        assert_eq!(
            CmRecord::decode(&b[..100]).unwrap_err(),
            CmRecordError::Short
        );
        assert_eq!(
            CmRecord::decode(&b).unwrap_err(),
            CmRecordError::BadIpVersion(0)
        );
        b[0x005] = 4;
        b[0x006..0x008].copy_from_slice(&509u16.to_le_bytes());
        assert_eq!(
            CmRecord::decode(&b).unwrap_err(),
            CmRecordError::BadPrivateDataLen(509)
        );
        b[0x006] = 0;
        b[0x007] = 0;
        b[0x03B] = 4;
        assert_eq!(CmRecord::decode(&b).unwrap_err(), CmRecordError::BadRtr(4));
        let mut short = [0u8; 16];
        assert!(!event(CmEventType::Established, 0, &[]).encode_into(&mut short));
    }

    #[test]
    fn events_map_to_hal_as_the_manual_says() {
        let rej = event(CmEventType::Rejected, reason::MPA_REJECT, b"no");
        match rej.hal_event().unwrap() {
            CmEvent::ConnectFailed {
                error,
                private_data,
                ..
            } => {
                assert_eq!(error, HalError::ConnectionRefused);
                assert_eq!(private_data.as_slice(), b"no");
            }
            e => panic!("{e:?}"),
        }
        let refused = event(CmEventType::Rejected, reason::TCP_REFUSED, b"x");
        assert!(matches!(
            refused.hal_event(),
            Some(CmEvent::ConnectFailed { error: HalError::ConnectionRefused, private_data, .. })
                if private_data.as_slice().is_empty()
        ));
        let failed = |r| match event(CmEventType::ConnectFailed, r, &[]).hal_event() {
            Some(CmEvent::ConnectFailed { error, .. }) => error,
            e => panic!("{e:?}"),
        };
        assert_eq!(failed(reason::TIMEOUT), HalError::Timeout);
        assert_eq!(failed(reason::UNREACHABLE), HalError::HostUnreachable);
        assert_eq!(failed(reason::RESET), HalError::ConnectionAborted);
        assert_eq!(failed(reason::MPA_ERROR), HalError::ConnectionAborted);
        assert!(matches!(
            event(CmEventType::AcceptFailed, reason::TIMEOUT, &[]).hal_event(),
            Some(CmEvent::AcceptFailed {
                error: HalError::Timeout,
                ..
            })
        ));
        assert!(matches!(
            event(CmEventType::AcceptFailed, reason::ABORTED, &[]).hal_event(),
            Some(CmEvent::AcceptFailed {
                error: HalError::ConnectionAborted,
                ..
            })
        ));
        assert!(matches!(
            event(CmEventType::Disconnected, reason::TERMINATE, &[]).hal_event(),
            Some(CmEvent::PeerDisconnected { ctx: 55, reason: 9 })
        ));
        assert!(matches!(
            event(CmEventType::DisconnectDone, reason::NONE, &[]).hal_event(),
            Some(CmEvent::DisconnectComplete { error: None, .. })
        ));
        assert!(matches!(
            event(CmEventType::DisconnectDone, reason::TIMEOUT, &[]).hal_event(),
            Some(CmEvent::DisconnectComplete {
                error: Some(HalError::Timeout),
                ..
            })
        ));
        assert!(matches!(
            event(CmEventType::ConnectReply, 0, b"r").hal_event(),
            Some(CmEvent::ConnectReply { ird: 8, ord: 4, .. })
        ));
        let mut mailbox = event(CmEventType::Established, 0, &[]);
        mailbox.event = 0;
        assert!(mailbox.hal_event().is_none());
    }
}
