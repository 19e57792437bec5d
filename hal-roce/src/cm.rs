//! The connection-manager agent's host interface (docs/silicon/rocev2.md §5.8, §8): the 512-byte
//! CM record, CM event types and reasons, the RDMA-CM service ID, and IP ↔ GID conversion.
//!
//! The MAD and CMA-header wire formats the agent speaks are in `model::wire` (device side).
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

use crate::bytes::{get, put, put_u16, put_u32, put_u64, put_u8, u16_at, u32_at, u64_at, u8_at};

/// Size of a CM record (CM event ring entry and CM command mailbox).
pub const CM_RECORD_SIZE: usize = 512;
/// Offset of PRIVATE_DATA in a CM record.
pub const PRIVATE_DATA_OFFSET: usize = 0x80;
/// Capacity of PRIVATE_DATA (the largest IB CM private data, RTU / DREP).
pub const MAX_CM_PRIVATE_DATA: usize = 224;
/// RDMA CM TCP port space (RDMA_PS_TCP).
pub const RDMA_PS_TCP: u16 = 0x0106;
/// Service ID of port 0 in the TCP port space; add the port (§8.1).
pub const SERVICE_ID_TCP_BASE: u64 = (RDMA_PS_TCP as u64) << 16;
/// Size of the CMA header at the start of a REQ's private data (§8.1).
pub const CMA_HEADER_SIZE: usize = 36;
/// Bit set in connection ids the agent assigns to passive connections (§8.2).
pub const PASSIVE_CONN_ID_BIT: u32 = 0x8000_0000;

/// The IB CM service ID of a TCP-space port.
pub const fn service_id(port: u16) -> u64 {
    SERVICE_ID_TCP_BASE | port as u64
}

/// The port of a TCP-space service ID; `None` for other service IDs.
pub const fn port_from_service_id(sid: u64) -> Option<u16> {
    if sid & !0xFFFF == SERVICE_ID_TCP_BASE {
        Some((sid & 0xFFFF) as u16)
    } else {
        None
    }
}

/// True for a connection id the agent assigned (passive side).
pub const fn is_passive_conn_id(conn_id: u32) -> bool {
    conn_id & PASSIVE_CONN_ID_BIT != 0
}

/// An IP address as a 16-byte GID in network order (IPv4 as `::ffff:a.b.c.d`).
pub fn ip_to_gid(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The IP address of a 16-byte GID read as IP version `version` (4: must be IPv4-mapped).
pub fn gid_to_ip(gid: &[u8; 16], version: u8) -> Option<IpAddr> {
    let v6 = Ipv6Addr::from(*gid);
    match version {
        4 => v6.to_ipv4_mapped().map(IpAddr::V4),
        6 => Some(IpAddr::V6(v6)),
        _ => None,
    }
}

/// The IP_VERSION byte of an address (4 or 6).
pub const fn ip_version(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 6,
    }
}

/// The wildcard address of an IP version ("any local address" in `CM_LISTEN`).
pub const fn unspecified(version6: bool) -> IpAddr {
    if version6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// CM event type: EVENT of a CM record, SUBTYPE of a `CM_EVENT` EQE (§8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CmEventType {
    /// Passive: a REQ matched a listen.
    ConnectRequest = 0x01,
    /// Active: REP received; the QP is in RTR.
    ConnectReply = 0x02,
    /// Passive: RTU received; the QP is in RTS.
    Established = 0x03,
    /// Active: REJ received; REASON is the REJ reason.
    Rejected = 0x04,
    /// Active: no answer or no route; REASON is an agent reason.
    ConnectFailed = 0x05,
    /// Passive: no RTU, or REJ after REP.
    AcceptFailed = 0x06,
    /// DREQ received, or the QP failed; the QP is in ERR.
    Disconnected = 0x07,
    /// Our DREQ was answered or timed out.
    DisconnectDone = 0x08,
}

impl CmEventType {
    /// Decodes an event type byte.
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

/// Agent reasons: REASON of events other than REJECTED (§8.4).
pub mod reason {
    /// No particular reason (DREQ received, DREP received).
    pub const NONE: u16 = 0;
    /// The peer did not answer in time.
    pub const TIMEOUT: u16 = 1;
    /// No route or neighbour for the remote address.
    pub const UNREACHABLE: u16 = 2;
    /// The peer abandoned the handshake (REJ after REP).
    pub const ABORTED: u16 = 3;
    /// The local QP failed while connected.
    pub const BROKEN: u16 = 4;
}

/// IB CM REJ reasons the agent sends or reports (IBTA vol. 1, 12.6.7.2).
pub mod rej_reason {
    /// No listener for the service ID.
    pub const INVALID_SERVICE_ID: u16 = 8;
    /// The consumer rejected (`CM_REJECT`, `CM_RELEASE`).
    pub const CONSUMER_REJECT: u16 = 28;
}

/// The two addresses of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmAddresses {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
}

/// Why a CM record could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmRecordError {
    /// More private data than the record holds.
    PrivateDataTooLong,
    /// IP_VERSION is not 0, 4 or 6, or an IPv4 address is not IPv4-mapped.
    BadAddress,
    /// EVENT is reserved.
    BadEvent(u8),
}

/// A CM record (§5.8): a CM event (device → driver) or the input of `CM_CONNECT`,
/// `CM_ACCEPT`, `CM_REJECT` (driver → device).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmRecord {
    /// CONN_ID.
    pub conn_id: u32,
    /// EVENT (`None` in mailboxes).
    pub event: Option<CmEventType>,
    /// CONTEXT: listen context (CONNECT_REQUEST) or connection context.
    pub context: u64,
    /// LOCAL/REMOTE IP and port (`None`: IP_VERSION 0, as in accept and reject mailboxes).
    pub addresses: Option<CmAddresses>,
    /// IRD (responder resources).
    pub ird: u8,
    /// ORD (initiator depth).
    pub ord: u8,
    /// REASON: REJ reason (REJECTED) or agent [`reason`].
    pub reason: u16,
    /// LOCAL_QPN.
    pub local_qpn: u32,
    /// REMOTE_QPN.
    pub remote_qpn: u32,
    /// REMOTE_MAC (next hop in `CM_CONNECT`; the peer's source MAC in events).
    pub remote_mac: [u8; 6],
    /// LISTEN_ID (CONNECT_REQUEST).
    pub listen_id: u32,
    private_data_len: u16,
    private_data: [u8; MAX_CM_PRIVATE_DATA],
}

impl CmRecord {
    /// An all-zero record.
    pub const EMPTY: CmRecord = CmRecord {
        conn_id: 0,
        event: None,
        context: 0,
        addresses: None,
        ird: 0,
        ord: 0,
        reason: 0,
        local_qpn: 0,
        remote_qpn: 0,
        remote_mac: [0; 6],
        listen_id: 0,
        private_data_len: 0,
        private_data: [0; MAX_CM_PRIVATE_DATA],
    };

    /// PRIVATE_DATA (its first PRIVATE_DATA_LEN bytes).
    pub fn private_data(&self) -> &[u8] {
        self.private_data
            .get(..usize::from(self.private_data_len))
            .unwrap_or(&[])
    }

    /// Sets PRIVATE_DATA.
    pub fn set_private_data(&mut self, data: &[u8]) -> Result<(), CmRecordError> {
        let dst = self
            .private_data
            .get_mut(..data.len())
            .ok_or(CmRecordError::PrivateDataTooLong)?;
        dst.copy_from_slice(data);
        self.private_data
            .get_mut(data.len()..)
            .unwrap_or(&mut [])
            .fill(0);
        // data.len() ≤ 224.
        self.private_data_len = data.len() as u16;
        Ok(())
    }

    /// Encodes the record.
    pub fn encode(&self) -> [u8; CM_RECORD_SIZE] {
        let mut b = [0u8; CM_RECORD_SIZE];
        put_u32(&mut b, 0x00, self.conn_id);
        put_u8(&mut b, 0x04, self.event.map_or(0, |e| e as u8));
        put_u16(&mut b, 0x06, self.private_data_len);
        put_u64(&mut b, 0x08, self.context);
        if let Some(a) = &self.addresses {
            put_u8(&mut b, 0x05, ip_version(&a.local.ip()));
            put(&mut b, 0x10, &ip_to_gid(a.local.ip()));
            put(&mut b, 0x20, &ip_to_gid(a.remote.ip()));
            put_u16(&mut b, 0x30, a.local.port());
            put_u16(&mut b, 0x32, a.remote.port());
        }
        put_u8(&mut b, 0x34, self.ird);
        put_u8(&mut b, 0x35, self.ord);
        put_u16(&mut b, 0x36, self.reason);
        put_u32(&mut b, 0x38, self.local_qpn & 0x00FF_FFFF);
        put_u32(&mut b, 0x3C, self.remote_qpn & 0x00FF_FFFF);
        put(&mut b, 0x40, &self.remote_mac);
        put_u32(&mut b, 0x48, self.listen_id);
        put(&mut b, PRIVATE_DATA_OFFSET, self.private_data());
        b
    }

    /// Decodes a record.
    pub fn decode(b: &[u8; CM_RECORD_SIZE]) -> Result<CmRecord, CmRecordError> {
        let ev = u8_at(b, 0x04);
        let event = match ev {
            0 => None,
            v => Some(CmEventType::from_u8(v).ok_or(CmRecordError::BadEvent(v))?),
        };
        let version = u8_at(b, 0x05);
        let addresses = match version {
            0 => None,
            4 | 6 => {
                let local =
                    gid_to_ip(&get::<16>(b, 0x10), version).ok_or(CmRecordError::BadAddress)?;
                let remote =
                    gid_to_ip(&get::<16>(b, 0x20), version).ok_or(CmRecordError::BadAddress)?;
                Some(CmAddresses {
                    local: SocketAddr::new(local, u16_at(b, 0x30)),
                    remote: SocketAddr::new(remote, u16_at(b, 0x32)),
                })
            }
            _ => return Err(CmRecordError::BadAddress),
        };
        let len = u16_at(b, 0x06);
        if usize::from(len) > MAX_CM_PRIVATE_DATA {
            return Err(CmRecordError::PrivateDataTooLong);
        }
        let mut r = CmRecord {
            conn_id: u32_at(b, 0x00),
            event,
            context: u64_at(b, 0x08),
            addresses,
            ird: u8_at(b, 0x34),
            ord: u8_at(b, 0x35),
            reason: u16_at(b, 0x36),
            local_qpn: u32_at(b, 0x38) & 0x00FF_FFFF,
            remote_qpn: u32_at(b, 0x3C) & 0x00FF_FFFF,
            remote_mac: get::<6>(b, 0x40),
            listen_id: u32_at(b, 0x48),
            ..CmRecord::EMPTY
        };
        r.private_data = get::<MAX_CM_PRIVATE_DATA>(b, PRIVATE_DATA_OFFSET);
        r.private_data_len = len;
        // Bytes past PRIVATE_DATA_LEN are not part of the record's value.
        r.private_data
            .get_mut(usize::from(len)..)
            .unwrap_or(&mut [])
            .fill(0);
        Ok(r)
    }

    /// The `hal` event of a CM event record (§8.4); `None` for a mailbox record, or a
    /// CONNECT_REQUEST without addresses.
    pub fn hal_event(&self) -> Option<CmEvent> {
        let ctx = self.context;
        let pd = || PrivateData::new(self.private_data()).unwrap_or(PrivateData::EMPTY);
        Some(match self.event? {
            CmEventType::ConnectRequest => {
                let a = self.addresses?;
                CmEvent::ConnectRequest {
                    listen_ctx: ctx,
                    conn: ConnId(self.conn_id),
                    local: a.local,
                    remote: a.remote,
                    ird: u32::from(self.ird),
                    ord: u32::from(self.ord),
                    private_data: pd(),
                }
            }
            CmEventType::ConnectReply => CmEvent::ConnectReply {
                ctx,
                ird: u32::from(self.ird),
                ord: u32::from(self.ord),
                private_data: pd(),
            },
            CmEventType::Established => CmEvent::Established { ctx },
            CmEventType::Rejected => CmEvent::ConnectFailed {
                ctx,
                error: HalError::ConnectionRefused,
                private_data: pd(),
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
                error: match self.reason {
                    reason::TIMEOUT => HalError::Timeout,
                    _ => HalError::ConnectionAborted,
                },
            },
            CmEventType::Disconnected => CmEvent::PeerDisconnected {
                ctx,
                reason: u32::from(self.reason),
            },
            CmEventType::DisconnectDone => CmEvent::DisconnectComplete {
                ctx,
                error: (self.reason == reason::TIMEOUT).then_some(HalError::Timeout),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, SocketAddrV4};

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port))
    }

    #[test]
    fn service_id_is_port_space_and_port() {
        assert_eq!(service_id(445), 0x0000_0000_0106_01BD);
        assert_eq!(port_from_service_id(service_id(5445)), Some(5445));
        assert_eq!(port_from_service_id(0x0000_0000_0111_0001), None);
    }

    #[test]
    fn ipv4_is_carried_ipv4_mapped() {
        let ip = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2));
        let gid = ip_to_gid(ip);
        assert_eq!(
            gid,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 168, 1, 2]
        );
        assert_eq!(gid_to_ip(&gid, 4), Some(ip));
        assert_eq!(gid_to_ip(&[0; 16], 4), None);
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(gid_to_ip(&ip_to_gid(v6), 6), Some(v6));
    }

    #[test]
    fn cm_record_round_trips() {
        let mut r = CmRecord {
            conn_id: PASSIVE_CONN_ID_BIT | 3,
            event: Some(CmEventType::ConnectRequest),
            context: 0xC0FFEE,
            addresses: Some(CmAddresses {
                local: v4([10, 0, 0, 1], 445),
                remote: v4([10, 0, 0, 2], 50000),
            }),
            ird: 8,
            ord: 4,
            reason: 0,
            local_qpn: 0,
            remote_qpn: 0x12_3456,
            remote_mac: [2, 0, 0, 0, 0, 9],
            listen_id: 7,
            ..CmRecord::EMPTY
        };
        r.set_private_data(&[1, 2, 3]).unwrap();
        let b = r.encode();
        assert_eq!(b[0x05], 4);
        assert_eq!(&b[0x30..0x32], &445u16.to_le_bytes());
        assert_eq!(&b[0x80..0x83], &[1, 2, 3]);
        assert_eq!(CmRecord::decode(&b), Ok(r));
        assert!(is_passive_conn_id(r.conn_id));
    }

    #[test]
    fn cm_record_limits() {
        let mut r = CmRecord::EMPTY;
        assert_eq!(
            r.set_private_data(&[0; MAX_CM_PRIVATE_DATA + 1]),
            Err(CmRecordError::PrivateDataTooLong)
        );
        r.set_private_data(&[7; MAX_CM_PRIVATE_DATA]).unwrap();
        assert_eq!(CmRecord::decode(&r.encode()), Ok(r));
        let mut b = CmRecord::EMPTY.encode();
        b[0x05] = 5;
        assert_eq!(CmRecord::decode(&b), Err(CmRecordError::BadAddress));
        b[0x05] = 0;
        b[0x04] = 9;
        assert_eq!(CmRecord::decode(&b), Err(CmRecordError::BadEvent(9)));
    }

    #[test]
    fn events_map_to_hal() {
        let mut r = CmRecord {
            event: Some(CmEventType::Rejected),
            context: 5,
            reason: rej_reason::CONSUMER_REJECT,
            ..CmRecord::EMPTY
        };
        r.set_private_data(b"no").unwrap();
        match r.hal_event() {
            Some(CmEvent::ConnectFailed {
                ctx: 5,
                error: HalError::ConnectionRefused,
                private_data,
            }) => assert_eq!(private_data.as_slice(), b"no"),
            e => panic!("{e:?}"),
        }
        r.event = Some(CmEventType::DisconnectDone);
        r.reason = reason::TIMEOUT;
        assert!(matches!(
            r.hal_event(),
            Some(CmEvent::DisconnectComplete {
                ctx: 5,
                error: Some(HalError::Timeout)
            })
        ));
        r.event = Some(CmEventType::ConnectRequest);
        assert!(r.hal_event().is_none(), "a request needs addresses");
        r.event = None;
        assert!(r.hal_event().is_none());
    }
}
