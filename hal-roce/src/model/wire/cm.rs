//! InfiniBand Communication Management messages (IBA vol 1 §12.6) and the RDMA CM IP
//! addressing conventions on top of them (IBA Annex A11, Linux `rdma_cm`).
//!
//! Every message is a CM MAD (class 0x07, version 2, method Send) whose attribute ID names
//! the message. Field offsets below are relative to the MAD data, i.e. byte 24 of the MAD;
//! bit positions are given from the most significant bit of the byte, as in the IBA tables.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use super::bytes::{arr, be16, be24, be24_bytes, be32, be64, put, put_u8, u8_at};
use super::mad::{
    method, MadHeader, BASE_VERSION, CM_CLASS_VERSION, MAD_HEADER_LEN, MAD_LEN, MGMT_CLASS_CM,
};
use super::packet::Gid;
use super::seg::PathMtu;
use super::WireError;

/// CM attribute IDs (§12.6.1, Table 102).
pub mod attr {
    /// ClassPortInfo.
    pub const CLASS_PORT_INFO: u16 = 0x0001;
    /// ConnectRequest.
    pub const REQ: u16 = 0x0010;
    /// MsgRcptAck.
    pub const MRA: u16 = 0x0011;
    /// ConnectReject.
    pub const REJ: u16 = 0x0012;
    /// ConnectReply.
    pub const REP: u16 = 0x0013;
    /// ReadyToUse.
    pub const RTU: u16 = 0x0014;
    /// DisconnectRequest.
    pub const DREQ: u16 = 0x0015;
    /// DisconnectReply.
    pub const DREP: u16 = 0x0016;
    /// ServiceIDResReq.
    pub const SIDR_REQ: u16 = 0x0017;
    /// ServiceIDResReqResp.
    pub const SIDR_REP: u16 = 0x0018;
    /// LoadAlternatePath.
    pub const LAP: u16 = 0x0019;
    /// AlternatePathResponse.
    pub const APR: u16 = 0x001A;
}

/// Private data carried by a REQ.
pub const REQ_PRIVATE_DATA_LEN: usize = 92;
/// Private data carried by an MRA.
pub const MRA_PRIVATE_DATA_LEN: usize = 222;
/// Private data carried by a REJ.
pub const REJ_PRIVATE_DATA_LEN: usize = 148;
/// Additional reject information carried by a REJ.
pub const REJ_ARI_LEN: usize = 72;
/// Private data carried by a REP.
pub const REP_PRIVATE_DATA_LEN: usize = 196;
/// Private data carried by an RTU.
pub const RTU_PRIVATE_DATA_LEN: usize = 224;
/// Private data carried by a DREQ.
pub const DREQ_PRIVATE_DATA_LEN: usize = 220;
/// Private data carried by a DREP.
pub const DREP_PRIVATE_DATA_LEN: usize = 224;

/// Offset of the MAD data in the MAD.
const D: usize = MAD_HEADER_LEN;

/// Transport service type of a REQ (§12.6.5, 2 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TransportType {
    /// Reliable Connected.
    #[default]
    Rc = 0,
    /// Unreliable Connected.
    Uc = 1,
    /// Reliable Datagram.
    Rd = 2,
    /// 3: see the extended transport type field (XRC).
    Extended = 3,
}

impl TransportType {
    const fn from_bits(v: u8) -> TransportType {
        match v & 3 {
            0 => TransportType::Rc,
            1 => TransportType::Uc,
            2 => TransportType::Rd,
            _ => TransportType::Extended,
        }
    }
}

/// A REJ reason code (§12.6.7.2, Table 112).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RejReason(pub u16);

impl RejReason {
    /// No QP available.
    pub const NO_QP: RejReason = RejReason(1);
    /// No EE context available.
    pub const NO_EEC: RejReason = RejReason(2);
    /// No resources available.
    pub const NO_RESOURCES: RejReason = RejReason(3);
    /// Timeout (the REQ or REP timed out).
    pub const TIMEOUT: RejReason = RejReason(4);
    /// Unsupported request.
    pub const UNSUPPORTED_REQUEST: RejReason = RejReason(5);
    /// Invalid communication ID.
    pub const INVALID_COMM_ID: RejReason = RejReason(6);
    /// Invalid communication instance.
    pub const INVALID_COMM_INSTANCE: RejReason = RejReason(7);
    /// Invalid service ID: nobody listens (RDMA CM: connection refused).
    pub const INVALID_SERVICE_ID: RejReason = RejReason(8);
    /// Invalid transport service type.
    pub const INVALID_TRANSPORT_TYPE: RejReason = RejReason(9);
    /// Stale connection.
    pub const STALE_CONNECTION: RejReason = RejReason(10);
    /// RDC does not exist.
    pub const RDC_NOT_EXIST: RejReason = RejReason(11);
    /// Primary remote port GID rejected.
    pub const INVALID_GID: RejReason = RejReason(12);
    /// Primary remote port LID rejected.
    pub const INVALID_LID: RejReason = RejReason(13);
    /// Invalid primary SL.
    pub const INVALID_SL: RejReason = RejReason(14);
    /// Invalid primary traffic class.
    pub const INVALID_TRAFFIC_CLASS: RejReason = RejReason(15);
    /// Invalid primary hop limit.
    pub const INVALID_HOP_LIMIT: RejReason = RejReason(16);
    /// Invalid primary packet rate.
    pub const INVALID_PACKET_RATE: RejReason = RejReason(17);
    /// Port and CM redirection.
    pub const PORT_CM_REDIRECT: RejReason = RejReason(24);
    /// Port redirection not supported.
    pub const PORT_REDIRECT: RejReason = RejReason(25);
    /// Invalid path MTU.
    pub const INVALID_MTU: RejReason = RejReason(26);
    /// Insufficient responder resources.
    pub const INSUFFICIENT_RESP_RESOURCES: RejReason = RejReason(27);
    /// Consumer reject (the application said no; its private data explains).
    pub const CONSUMER_REJECT: RejReason = RejReason(28);
    /// RNR retry count reject.
    pub const RNR_RETRY_COUNT_REJ: RejReason = RejReason(29);
    /// Duplicate local communication ID.
    pub const DUPLICATE_LOCAL_COMM_ID: RejReason = RejReason(30);
    /// Unsupported class version.
    pub const INVALID_CLASS_VERSION: RejReason = RejReason(31);
    /// Invalid primary flow label.
    pub const INVALID_FLOW_LABEL: RejReason = RejReason(32);
    /// Invalid alternate flow label.
    pub const INVALID_ALT_FLOW_LABEL: RejReason = RejReason(33);
}

/// Which message an MRA or REJ refers to (MessageMRAed / MessageREJected, 2 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CmMsgRef {
    /// The REQ.
    #[default]
    Req = 0,
    /// The REP.
    Rep = 1,
    /// MRA: the LAP; REJ: no message identified.
    Other = 2,
    /// Reserved.
    Reserved = 3,
}

impl CmMsgRef {
    const fn from_bits(v: u8) -> CmMsgRef {
        match v & 3 {
            0 => CmMsgRef::Req,
            1 => CmMsgRef::Rep,
            2 => CmMsgRef::Other,
            _ => CmMsgRef::Reserved,
        }
    }
}

/// A path in a REQ (primary or alternate, 44 bytes, §12.6.5 Table 104).
///
/// ```text
/// +0   local port LID (16)      +2  remote port LID (16)
/// +4   local port GID (128)     +20 remote port GID (128)
/// +36  flow label (20) | reserved (6) | packet rate (6)
/// +40  traffic class            +41 hop limit
/// +42  SL (4) | subnet local (1) | reserved (3)
/// +43  local ACK timeout (5) | reserved (3)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CmPath {
    /// Local port LID (RoCE has none: the permissive LID 0xFFFF by convention).
    pub local_lid: u16,
    /// Remote port LID.
    pub remote_lid: u16,
    /// Local port GID.
    pub local_gid: Gid,
    /// Remote port GID.
    pub remote_gid: Gid,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Packet rate (6 bits, IB rate encoding).
    pub packet_rate: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Service level (4 bits).
    pub sl: u8,
    /// Subnet local: the remote port is on the local subnet.
    pub subnet_local: bool,
    /// Local ACK timeout (5 bits: 4.096 µs × 2^value).
    pub local_ack_timeout: u8,
}

/// Length of a REQ path.
const PATH_LEN: usize = 44;

impl CmPath {
    /// A RoCE path between two GIDs: permissive LIDs, hop limit 64, packet rate 0 (not
    /// specified), local ACK timeout 14 (~67 ms).
    pub fn roce(local_gid: Gid, remote_gid: Gid) -> CmPath {
        CmPath {
            local_lid: 0xFFFF,
            remote_lid: 0xFFFF,
            local_gid,
            remote_gid,
            flow_label: 0,
            packet_rate: 0,
            traffic_class: 0,
            hop_limit: 64,
            sl: 0,
            subnet_local: false,
            local_ack_timeout: 14,
        }
    }

    fn write(&self, m: &mut [u8], off: usize) {
        put(m, off, &self.local_lid.to_be_bytes());
        put(m, off + 2, &self.remote_lid.to_be_bytes());
        put(m, off + 4, &self.local_gid.0);
        put(m, off + 20, &self.remote_gid.0);
        let w = ((self.flow_label & 0xF_FFFF) << 12) | u32::from(self.packet_rate & 0x3F);
        put(m, off + 36, &w.to_be_bytes());
        put_u8(m, off + 40, self.traffic_class);
        put_u8(m, off + 41, self.hop_limit);
        put_u8(
            m,
            off + 42,
            ((self.sl & 0x0F) << 4) | (u8::from(self.subnet_local) << 3),
        );
        put_u8(m, off + 43, (self.local_ack_timeout & 0x1F) << 3);
    }

    fn read(m: &[u8], off: usize) -> Option<CmPath> {
        let w = be32(m, off + 36)?;
        let b42 = u8_at(m, off + 42)?;
        Some(CmPath {
            local_lid: be16(m, off)?,
            remote_lid: be16(m, off + 2)?,
            local_gid: Gid(arr(m, off + 4)?),
            remote_gid: Gid(arr(m, off + 20)?),
            flow_label: w >> 12,
            // Lossless: masked to 6 bits.
            packet_rate: (w & 0x3F) as u8,
            traffic_class: u8_at(m, off + 40)?,
            hop_limit: u8_at(m, off + 41)?,
            sl: b42 >> 4,
            subnet_local: b42 & 0x08 != 0,
            local_ack_timeout: u8_at(m, off + 43)? >> 3,
        })
    }
}

/// ConnectRequest (REQ, attribute 0x0010, §12.6.5 Table 103).
///
/// ```text
/// 0   local communication ID         4   reserved (8) | vendor ID (24)
/// 8   service ID                     16  local CA GUID
/// 24  reserved                       28  local Q_Key
/// 32  local QPN (24) | responder resources (8)
/// 36  local EECN (24) | initiator depth (8)
/// 40  remote EECN (24) | remote CM response timeout (5) | transport service type (2) |
///     end-to-end flow control (1)
/// 44  starting PSN (24) | local CM response timeout (5) | retry count (3)
/// 48  P_Key (16) | path MTU (4) | RDC exists (1) | RNR retry count (3) |
///     max CM retries (4) | SRQ (1) | extended transport type (3)
/// 52  primary path (44)              96  alternate path (44)
/// 140 private data (92)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmReq {
    /// Local communication ID (the sender's connection handle).
    pub local_comm_id: u32,
    /// Vendor ID (24 bits).
    pub vendor_id: u32,
    /// Service ID (see [`rdma_cm_service_id`]).
    pub service_id: u64,
    /// Local CA GUID.
    pub local_ca_guid: u64,
    /// Local Q_Key (UD/RD; 0 for RC).
    pub local_qkey: u32,
    /// Local QPN (24 bits).
    pub local_qpn: u32,
    /// Responder resources: RDMA READs / atomics the sender accepts in flight (its IRD).
    pub responder_resources: u8,
    /// Local EECN (RD; 24 bits).
    pub local_eecn: u32,
    /// Initiator depth: READs / atomics the sender issues in flight (its ORD).
    pub initiator_depth: u8,
    /// Remote EECN (RD; 24 bits).
    pub remote_eecn: u32,
    /// Remote CM response timeout (5 bits: 4.096 µs × 2^value).
    pub remote_cm_response_timeout: u8,
    /// Transport service type.
    pub transport: TransportType,
    /// End-to-end flow control.
    pub end_to_end_flow_control: bool,
    /// Starting PSN of the sender's requests (24 bits).
    pub starting_psn: u32,
    /// Local CM response timeout (5 bits).
    pub local_cm_response_timeout: u8,
    /// Transport retry count (3 bits).
    pub retry_count: u8,
    /// Partition key.
    pub pkey: u16,
    /// Path MTU.
    pub path_mtu: PathMtu,
    /// RDC exists.
    pub rdc_exists: bool,
    /// RNR retry count (3 bits; 7 = infinite).
    pub rnr_retry_count: u8,
    /// Max CM retries (4 bits).
    pub max_cm_retries: u8,
    /// The sender uses an SRQ.
    pub srq: bool,
    /// Extended transport type (3 bits; XRC).
    pub extended_transport: u8,
    /// Primary path.
    pub primary_path: CmPath,
    /// Alternate path (all zero on the wire when absent).
    pub alternate_path: Option<CmPath>,
    /// Private data (at most 92 bytes; zero-filled on the wire, so a parsed REQ has all
    /// 92). With RDMA CM it starts with a [`CmaHeader`].
    pub private_data: Vec<u8>,
}

/// MsgRcptAck (MRA, attribute 0x0011, §12.6.6): "I got your message, give me time".
///
/// ```text
/// 0 local communication ID    4 remote communication ID
/// 8 message MRAed (2) | reserved (6)    9 service timeout (5) | reserved (3)
/// 10 private data (222)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmMra {
    /// Local communication ID.
    pub local_comm_id: u32,
    /// Remote communication ID.
    pub remote_comm_id: u32,
    /// The message acknowledged.
    pub message_mraed: CmMsgRef,
    /// Service timeout (5 bits: 4.096 µs × 2^value).
    pub service_timeout: u8,
    /// Private data (at most 222 bytes).
    pub private_data: Vec<u8>,
}

/// ConnectReject (REJ, attribute 0x0012, §12.6.7).
///
/// ```text
/// 0 local communication ID    4 remote communication ID
/// 8 message REJected (2) | reserved (6)    9 reject info length (7) | reserved (1)
/// 10 reason (16)              12 ARI (72)              84 private data (148)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmRej {
    /// Local communication ID (0 when rejecting a REQ nobody listened for).
    pub local_comm_id: u32,
    /// Remote communication ID.
    pub remote_comm_id: u32,
    /// The message rejected.
    pub message_rejected: CmMsgRef,
    /// Reason.
    pub reason: RejReason,
    /// Additional reject information (at most 72 bytes; its length is sent as the reject
    /// info length, and parsing returns exactly that many bytes).
    pub ari: Vec<u8>,
    /// Private data (at most 148 bytes).
    pub private_data: Vec<u8>,
}

/// ConnectReply (REP, attribute 0x0013, §12.6.8 Table 114).
///
/// ```text
/// 0  local communication ID      4  remote communication ID
/// 8  local Q_Key                 12 local QPN (24) | reserved (8)
/// 16 local EECN (24) | reserved  20 starting PSN (24) | reserved
/// 24 responder resources         25 initiator depth
/// 26 target ACK delay (5) | failover accepted (2) | end-to-end flow control (1)
/// 27 RNR retry count (3) | SRQ (1) | reserved (4)
/// 28 local CA GUID               36 private data (196)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmRep {
    /// Local communication ID.
    pub local_comm_id: u32,
    /// Remote communication ID (the REQ's local one).
    pub remote_comm_id: u32,
    /// Local Q_Key.
    pub local_qkey: u32,
    /// Local QPN (24 bits).
    pub local_qpn: u32,
    /// Local EECN (24 bits).
    pub local_eecn: u32,
    /// Starting PSN of the sender's requests (24 bits).
    pub starting_psn: u32,
    /// Responder resources (IRD).
    pub responder_resources: u8,
    /// Initiator depth (ORD).
    pub initiator_depth: u8,
    /// Target ACK delay (5 bits).
    pub target_ack_delay: u8,
    /// Failover accepted (2 bits: 0 accepted, 1 not supported, 2 rejected).
    pub failover_accepted: u8,
    /// End-to-end flow control.
    pub end_to_end_flow_control: bool,
    /// RNR retry count (3 bits).
    pub rnr_retry_count: u8,
    /// The sender uses an SRQ.
    pub srq: bool,
    /// Local CA GUID.
    pub local_ca_guid: u64,
    /// Private data (at most 196 bytes).
    pub private_data: Vec<u8>,
}

/// ReadyToUse (RTU, attribute 0x0014, §12.6.9): 0 local comm ID, 4 remote comm ID, 8
/// private data (224).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmRtu {
    /// Local communication ID.
    pub local_comm_id: u32,
    /// Remote communication ID.
    pub remote_comm_id: u32,
    /// Private data (at most 224 bytes).
    pub private_data: Vec<u8>,
}

/// DisconnectRequest (DREQ, attribute 0x0015, §12.6.10): 0 local comm ID, 4 remote comm
/// ID, 8 remote QPN/EECN (24) | reserved, 12 private data (220).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmDreq {
    /// Local communication ID.
    pub local_comm_id: u32,
    /// Remote communication ID.
    pub remote_comm_id: u32,
    /// The receiver's QPN (24 bits).
    pub remote_qpn: u32,
    /// Private data (at most 220 bytes).
    pub private_data: Vec<u8>,
}

/// DisconnectReply (DREP, attribute 0x0016, §12.6.11): 0 local comm ID, 4 remote comm ID,
/// 8 private data (224).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CmDrep {
    /// Local communication ID.
    pub local_comm_id: u32,
    /// Remote communication ID.
    pub remote_comm_id: u32,
    /// Private data (at most 224 bytes).
    pub private_data: Vec<u8>,
}

/// A CM message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CmMessage {
    /// ConnectRequest.
    Req(CmReq),
    /// MsgRcptAck.
    Mra(CmMra),
    /// ConnectReject.
    Rej(CmRej),
    /// ConnectReply.
    Rep(CmRep),
    /// ReadyToUse.
    Rtu(CmRtu),
    /// DisconnectRequest.
    Dreq(CmDreq),
    /// DisconnectReply.
    Drep(CmDrep),
}

fn put_private(
    m: &mut [u8],
    off: usize,
    max: usize,
    data: &[u8],
    what: &'static str,
) -> Result<(), WireError> {
    if data.len() > max {
        return Err(WireError::TooLong(what));
    }
    put(m, off, data);
    Ok(())
}

fn get_private(m: &[u8], off: usize, len: usize) -> Result<Vec<u8>, WireError> {
    m.get(off..off + len)
        .map(<[u8]>::to_vec)
        .ok_or(WireError::Truncated("CM private data"))
}

const T: WireError = WireError::Truncated("CM message");

impl CmMessage {
    /// The message's attribute ID.
    pub fn attr_id(&self) -> u16 {
        match self {
            CmMessage::Req(_) => attr::REQ,
            CmMessage::Mra(_) => attr::MRA,
            CmMessage::Rej(_) => attr::REJ,
            CmMessage::Rep(_) => attr::REP,
            CmMessage::Rtu(_) => attr::RTU,
            CmMessage::Dreq(_) => attr::DREQ,
            CmMessage::Drep(_) => attr::DREP,
        }
    }

    /// The message's name (REQ, REP, …).
    pub fn name(&self) -> &'static str {
        match self {
            CmMessage::Req(_) => "REQ",
            CmMessage::Mra(_) => "MRA",
            CmMessage::Rej(_) => "REJ",
            CmMessage::Rep(_) => "REP",
            CmMessage::Rtu(_) => "RTU",
            CmMessage::Dreq(_) => "DREQ",
            CmMessage::Drep(_) => "DREP",
        }
    }

    /// Encodes the message as a CM MAD with transaction ID `tid` (a REP, RTU or REJ answers
    /// with the TID of the REQ it answers; a DREP with the DREQ's).
    pub fn to_mad(&self, tid: u64) -> Result<[u8; MAD_LEN], WireError> {
        let mut m = [0u8; MAD_LEN];
        put(&mut m, 0, &MadHeader::cm(self.attr_id(), tid).to_bytes());
        match self {
            CmMessage::Req(r) => {
                put(&mut m, D, &r.local_comm_id.to_be_bytes());
                put(&mut m, D + 5, &be24_bytes(r.vendor_id));
                put(&mut m, D + 8, &r.service_id.to_be_bytes());
                put(&mut m, D + 16, &r.local_ca_guid.to_be_bytes());
                put(&mut m, D + 28, &r.local_qkey.to_be_bytes());
                put(&mut m, D + 32, &be24_bytes(r.local_qpn));
                put_u8(&mut m, D + 35, r.responder_resources);
                put(&mut m, D + 36, &be24_bytes(r.local_eecn));
                put_u8(&mut m, D + 39, r.initiator_depth);
                put(&mut m, D + 40, &be24_bytes(r.remote_eecn));
                put_u8(
                    &mut m,
                    D + 43,
                    ((r.remote_cm_response_timeout & 0x1F) << 3)
                        | ((r.transport as u8) << 1)
                        | u8::from(r.end_to_end_flow_control),
                );
                put(&mut m, D + 44, &be24_bytes(r.starting_psn));
                put_u8(
                    &mut m,
                    D + 47,
                    ((r.local_cm_response_timeout & 0x1F) << 3) | (r.retry_count & 7),
                );
                put(&mut m, D + 48, &r.pkey.to_be_bytes());
                put_u8(
                    &mut m,
                    D + 50,
                    (r.path_mtu.to_ib() << 4)
                        | (u8::from(r.rdc_exists) << 3)
                        | (r.rnr_retry_count & 7),
                );
                put_u8(
                    &mut m,
                    D + 51,
                    ((r.max_cm_retries & 0x0F) << 4)
                        | (u8::from(r.srq) << 3)
                        | (r.extended_transport & 7),
                );
                r.primary_path.write(&mut m, D + 52);
                if let Some(alt) = &r.alternate_path {
                    alt.write(&mut m, D + 96);
                }
                put_private(
                    &mut m,
                    D + 140,
                    REQ_PRIVATE_DATA_LEN,
                    &r.private_data,
                    "REQ private data",
                )?;
            }
            CmMessage::Mra(r) => {
                put(&mut m, D, &r.local_comm_id.to_be_bytes());
                put(&mut m, D + 4, &r.remote_comm_id.to_be_bytes());
                put_u8(&mut m, D + 8, (r.message_mraed as u8) << 6);
                put_u8(&mut m, D + 9, (r.service_timeout & 0x1F) << 3);
                put_private(
                    &mut m,
                    D + 10,
                    MRA_PRIVATE_DATA_LEN,
                    &r.private_data,
                    "MRA private data",
                )?;
            }
            CmMessage::Rej(r) => {
                put(&mut m, D, &r.local_comm_id.to_be_bytes());
                put(&mut m, D + 4, &r.remote_comm_id.to_be_bytes());
                put_u8(&mut m, D + 8, (r.message_rejected as u8) << 6);
                if r.ari.len() > REJ_ARI_LEN {
                    return Err(WireError::TooLong("REJ ARI"));
                }
                // Lossless: at most 72.
                put_u8(&mut m, D + 9, (r.ari.len() as u8) << 1);
                put(&mut m, D + 10, &r.reason.0.to_be_bytes());
                put(&mut m, D + 12, &r.ari);
                put_private(
                    &mut m,
                    D + 84,
                    REJ_PRIVATE_DATA_LEN,
                    &r.private_data,
                    "REJ private data",
                )?;
            }
            CmMessage::Rep(r) => {
                put(&mut m, D, &r.local_comm_id.to_be_bytes());
                put(&mut m, D + 4, &r.remote_comm_id.to_be_bytes());
                put(&mut m, D + 8, &r.local_qkey.to_be_bytes());
                put(&mut m, D + 12, &be24_bytes(r.local_qpn));
                put(&mut m, D + 16, &be24_bytes(r.local_eecn));
                put(&mut m, D + 20, &be24_bytes(r.starting_psn));
                put_u8(&mut m, D + 24, r.responder_resources);
                put_u8(&mut m, D + 25, r.initiator_depth);
                put_u8(
                    &mut m,
                    D + 26,
                    ((r.target_ack_delay & 0x1F) << 3)
                        | ((r.failover_accepted & 3) << 1)
                        | u8::from(r.end_to_end_flow_control),
                );
                put_u8(
                    &mut m,
                    D + 27,
                    ((r.rnr_retry_count & 7) << 5) | (u8::from(r.srq) << 4),
                );
                put(&mut m, D + 28, &r.local_ca_guid.to_be_bytes());
                put_private(
                    &mut m,
                    D + 36,
                    REP_PRIVATE_DATA_LEN,
                    &r.private_data,
                    "REP private data",
                )?;
            }
            CmMessage::Rtu(r) => {
                put(&mut m, D, &r.local_comm_id.to_be_bytes());
                put(&mut m, D + 4, &r.remote_comm_id.to_be_bytes());
                put_private(
                    &mut m,
                    D + 8,
                    RTU_PRIVATE_DATA_LEN,
                    &r.private_data,
                    "RTU private data",
                )?;
            }
            CmMessage::Dreq(r) => {
                put(&mut m, D, &r.local_comm_id.to_be_bytes());
                put(&mut m, D + 4, &r.remote_comm_id.to_be_bytes());
                put(&mut m, D + 8, &be24_bytes(r.remote_qpn));
                put_private(
                    &mut m,
                    D + 12,
                    DREQ_PRIVATE_DATA_LEN,
                    &r.private_data,
                    "DREQ private data",
                )?;
            }
            CmMessage::Drep(r) => {
                put(&mut m, D, &r.local_comm_id.to_be_bytes());
                put(&mut m, D + 4, &r.remote_comm_id.to_be_bytes());
                put_private(
                    &mut m,
                    D + 8,
                    DREP_PRIVATE_DATA_LEN,
                    &r.private_data,
                    "DREP private data",
                )?;
            }
        }
        Ok(m)
    }

    /// Decodes a CM MAD (the 256-byte payload of a QP1 packet). Fails on a MAD of another
    /// class, version or method, and on attributes other than REQ, MRA, REJ, REP, RTU, DREQ,
    /// DREP.
    pub fn from_mad(mad: &[u8]) -> Result<(MadHeader, CmMessage), WireError> {
        if mad.len() != MAD_LEN {
            return Err(WireError::BadLength("MAD"));
        }
        let h = MadHeader::parse(mad)?;
        if h.base_version != BASE_VERSION {
            return Err(WireError::NotCm("base version"));
        }
        if h.mgmt_class != MGMT_CLASS_CM {
            return Err(WireError::NotCm("management class"));
        }
        if h.class_version != CM_CLASS_VERSION {
            return Err(WireError::NotCm("class version"));
        }
        if h.method != method::SEND {
            return Err(WireError::NotCm("method"));
        }
        let m = mad;
        let msg = match h.attr_id {
            attr::REQ => {
                let b43 = u8_at(m, D + 43).ok_or(T)?;
                let b47 = u8_at(m, D + 47).ok_or(T)?;
                let b50 = u8_at(m, D + 50).ok_or(T)?;
                let b51 = u8_at(m, D + 51).ok_or(T)?;
                let alt = m.get(D + 96..D + 96 + PATH_LEN).ok_or(T)?;
                CmMessage::Req(CmReq {
                    local_comm_id: be32(m, D).ok_or(T)?,
                    vendor_id: be24(m, D + 5).ok_or(T)?,
                    service_id: be64(m, D + 8).ok_or(T)?,
                    local_ca_guid: be64(m, D + 16).ok_or(T)?,
                    local_qkey: be32(m, D + 28).ok_or(T)?,
                    local_qpn: be24(m, D + 32).ok_or(T)?,
                    responder_resources: u8_at(m, D + 35).ok_or(T)?,
                    local_eecn: be24(m, D + 36).ok_or(T)?,
                    initiator_depth: u8_at(m, D + 39).ok_or(T)?,
                    remote_eecn: be24(m, D + 40).ok_or(T)?,
                    remote_cm_response_timeout: b43 >> 3,
                    transport: TransportType::from_bits(b43 >> 1),
                    end_to_end_flow_control: b43 & 1 != 0,
                    starting_psn: be24(m, D + 44).ok_or(T)?,
                    local_cm_response_timeout: b47 >> 3,
                    retry_count: b47 & 7,
                    pkey: be16(m, D + 48).ok_or(T)?,
                    path_mtu: PathMtu::try_from(b50 >> 4)?,
                    rdc_exists: b50 & 0x08 != 0,
                    rnr_retry_count: b50 & 7,
                    max_cm_retries: b51 >> 4,
                    srq: b51 & 0x08 != 0,
                    extended_transport: b51 & 7,
                    primary_path: CmPath::read(m, D + 52).ok_or(T)?,
                    alternate_path: if alt.iter().any(|&b| b != 0) {
                        Some(CmPath::read(m, D + 96).ok_or(T)?)
                    } else {
                        None
                    },
                    private_data: get_private(m, D + 140, REQ_PRIVATE_DATA_LEN)?,
                })
            }
            attr::MRA => CmMessage::Mra(CmMra {
                local_comm_id: be32(m, D).ok_or(T)?,
                remote_comm_id: be32(m, D + 4).ok_or(T)?,
                message_mraed: CmMsgRef::from_bits(u8_at(m, D + 8).ok_or(T)? >> 6),
                service_timeout: u8_at(m, D + 9).ok_or(T)? >> 3,
                private_data: get_private(m, D + 10, MRA_PRIVATE_DATA_LEN)?,
            }),
            attr::REJ => {
                let ari_len = usize::from(u8_at(m, D + 9).ok_or(T)? >> 1);
                if ari_len > REJ_ARI_LEN {
                    return Err(WireError::BadLength("REJ reject info length"));
                }
                CmMessage::Rej(CmRej {
                    local_comm_id: be32(m, D).ok_or(T)?,
                    remote_comm_id: be32(m, D + 4).ok_or(T)?,
                    message_rejected: CmMsgRef::from_bits(u8_at(m, D + 8).ok_or(T)? >> 6),
                    reason: RejReason(be16(m, D + 10).ok_or(T)?),
                    ari: get_private(m, D + 12, ari_len)?,
                    private_data: get_private(m, D + 84, REJ_PRIVATE_DATA_LEN)?,
                })
            }
            attr::REP => {
                let b26 = u8_at(m, D + 26).ok_or(T)?;
                let b27 = u8_at(m, D + 27).ok_or(T)?;
                CmMessage::Rep(CmRep {
                    local_comm_id: be32(m, D).ok_or(T)?,
                    remote_comm_id: be32(m, D + 4).ok_or(T)?,
                    local_qkey: be32(m, D + 8).ok_or(T)?,
                    local_qpn: be24(m, D + 12).ok_or(T)?,
                    local_eecn: be24(m, D + 16).ok_or(T)?,
                    starting_psn: be24(m, D + 20).ok_or(T)?,
                    responder_resources: u8_at(m, D + 24).ok_or(T)?,
                    initiator_depth: u8_at(m, D + 25).ok_or(T)?,
                    target_ack_delay: b26 >> 3,
                    failover_accepted: (b26 >> 1) & 3,
                    end_to_end_flow_control: b26 & 1 != 0,
                    rnr_retry_count: b27 >> 5,
                    srq: b27 & 0x10 != 0,
                    local_ca_guid: be64(m, D + 28).ok_or(T)?,
                    private_data: get_private(m, D + 36, REP_PRIVATE_DATA_LEN)?,
                })
            }
            attr::RTU => CmMessage::Rtu(CmRtu {
                local_comm_id: be32(m, D).ok_or(T)?,
                remote_comm_id: be32(m, D + 4).ok_or(T)?,
                private_data: get_private(m, D + 8, RTU_PRIVATE_DATA_LEN)?,
            }),
            attr::DREQ => CmMessage::Dreq(CmDreq {
                local_comm_id: be32(m, D).ok_or(T)?,
                remote_comm_id: be32(m, D + 4).ok_or(T)?,
                remote_qpn: be24(m, D + 8).ok_or(T)?,
                private_data: get_private(m, D + 12, DREQ_PRIVATE_DATA_LEN)?,
            }),
            attr::DREP => CmMessage::Drep(CmDrep {
                local_comm_id: be32(m, D).ok_or(T)?,
                remote_comm_id: be32(m, D + 4).ok_or(T)?,
                private_data: get_private(m, D + 8, DREP_PRIVATE_DATA_LEN)?,
            }),
            _ => return Err(WireError::NotCm("attribute")),
        };
        Ok((h, msg))
    }
}

// ---------------------------------------------------------------------------------------
// RDMA CM over IB CM: IP addressing (IBA Annex A11 "RDMA IP CM Service", Linux cma.c).
// ---------------------------------------------------------------------------------------

/// Port space of RDMA CM's TCP-like connections (`RDMA_PS_TCP`).
pub const RDMA_PS_TCP: u16 = 0x0106;
/// Port space of RDMA CM's UDP-like datagrams (`RDMA_PS_UDP`).
pub const RDMA_PS_UDP: u16 = 0x0111;
/// Service ID prefix of the RDMA IP CM service: 0x0000000001 (Annex A11), then the IP
/// protocol (0x06 for TCP) and the destination port.
pub const RDMA_IP_SERVICE_PREFIX: u64 = 0x0000_0000_0100_0000;

/// The service ID an RDMA CM connect to TCP port `port` carries:
/// `0x0000000001060000 | port`.
pub const fn rdma_cm_service_id(port: u16) -> u64 {
    ((RDMA_PS_TCP as u64) << 16) | port as u64
}

/// The port of an RDMA CM (`RDMA_PS_TCP`) service ID, `None` for other service IDs.
pub const fn rdma_cm_port(service_id: u64) -> Option<u16> {
    if service_id >> 16 == RDMA_PS_TCP as u64 {
        // Lossless: the low 16 bits.
        Some((service_id & 0xFFFF) as u16)
    } else {
        None
    }
}

/// Length of the RDMA CM header at the start of REQ private data.
pub const CMA_HEADER_LEN: usize = 36;
/// REQ private data left for the consumer after the RDMA CM header: 92 − 36 = 56.
pub const REQ_CONSUMER_PRIVATE_DATA_LEN: usize = REQ_PRIVATE_DATA_LEN - CMA_HEADER_LEN;

/// The RDMA CM private-data header (`struct cma_hdr`; Annex A11 "IP addressing CM REQ
/// message private data format").
///
/// ```text
/// 0     MajV (4) | MinV (4)        — 0x00
/// 1     IP version (4) | reserved   — 0x40 or 0x60
/// 2-3   source port
/// 4-19  source IP (IPv4: last 4 bytes, first 12 zero)
/// 20-35 destination IP
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CmaHeader {
    /// The connecting side's port.
    pub src_port: u16,
    /// The connecting side's address.
    pub src: IpAddr,
    /// The address connected to (its port is in the service ID).
    pub dst: IpAddr,
}

fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[12..].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl CmaHeader {
    /// The header's 36 bytes; both addresses must be of one family.
    pub fn to_bytes(&self) -> Result<[u8; CMA_HEADER_LEN], WireError> {
        let ipv = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => 4u8,
            (IpAddr::V6(_), IpAddr::V6(_)) => 6u8,
            _ => return Err(WireError::InvalidField("CMA header address families")),
        };
        let mut b = [0u8; CMA_HEADER_LEN];
        b[1] = ipv << 4;
        b[2..4].copy_from_slice(&self.src_port.to_be_bytes());
        b[4..20].copy_from_slice(&ip16(self.src));
        b[20..36].copy_from_slice(&ip16(self.dst));
        Ok(b)
    }

    /// Parses the header from the start of REQ private data (version 0.0, IP version 4 or
    /// 6).
    pub fn parse(buf: &[u8]) -> Result<CmaHeader, WireError> {
        const TR: WireError = WireError::Truncated("CMA header");
        if u8_at(buf, 0).ok_or(TR)? != 0 {
            return Err(WireError::InvalidField("CMA header version"));
        }
        let src: [u8; 16] = arr(buf, 4).ok_or(TR)?;
        let dst: [u8; 16] = arr(buf, 20).ok_or(TR)?;
        let v4 = |a: [u8; 16]| {
            let [.., w, x, y, z] = a;
            IpAddr::V4(Ipv4Addr::new(w, x, y, z))
        };
        let (src, dst) = match u8_at(buf, 1).ok_or(TR)? >> 4 {
            4 => (v4(src), v4(dst)),
            6 => (
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
            ),
            _ => return Err(WireError::InvalidField("CMA header IP version")),
        };
        Ok(CmaHeader {
            src_port: be16(buf, 2).ok_or(TR)?,
            src,
            dst,
        })
    }
}

impl CmReq {
    /// Sets the private data to an RDMA CM header followed by `consumer` (at most 56
    /// bytes).
    pub fn set_rdma_cm_private_data(
        &mut self,
        hdr: &CmaHeader,
        consumer: &[u8],
    ) -> Result<(), WireError> {
        if consumer.len() > REQ_CONSUMER_PRIVATE_DATA_LEN {
            return Err(WireError::TooLong("REQ consumer private data"));
        }
        let mut pd = Vec::with_capacity(CMA_HEADER_LEN + consumer.len());
        pd.extend_from_slice(&hdr.to_bytes()?);
        pd.extend_from_slice(consumer);
        self.private_data = pd;
        Ok(())
    }

    /// The RDMA CM header at the start of the private data.
    pub fn rdma_cm_header(&self) -> Result<CmaHeader, WireError> {
        CmaHeader::parse(&self.private_data)
    }

    /// The consumer's private data after the RDMA CM header (56 bytes in a parsed REQ).
    pub fn rdma_cm_consumer_data(&self) -> &[u8] {
        self.private_data.get(CMA_HEADER_LEN..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    pub(crate) fn sample_req() -> CmReq {
        let local = Gid::from_ipv4(Ipv4Addr::new(192, 168, 1, 1));
        let remote = Gid::from_ipv4(Ipv4Addr::new(192, 168, 1, 2));
        let mut req = CmReq {
            local_comm_id: 0x1122_3344,
            vendor_id: 0x00_02C9,
            service_id: rdma_cm_service_id(18515),
            local_ca_guid: 0x0002_c903_00aa_bbcc,
            local_qkey: 0,
            local_qpn: 0x00_0123,
            responder_resources: 16,
            local_eecn: 0,
            initiator_depth: 8,
            remote_eecn: 0,
            remote_cm_response_timeout: 20,
            transport: TransportType::Rc,
            end_to_end_flow_control: true,
            starting_psn: 0x00AB_CDEF,
            local_cm_response_timeout: 20,
            retry_count: 7,
            pkey: 0xFFFF,
            path_mtu: PathMtu::Mtu1024,
            rdc_exists: false,
            rnr_retry_count: 7,
            max_cm_retries: 15,
            srq: false,
            extended_transport: 0,
            primary_path: CmPath {
                flow_label: 0xABCDE,
                packet_rate: 0x12,
                traffic_class: 0x68,
                sl: 3,
                subnet_local: true,
                ..CmPath::roce(local, remote)
            },
            alternate_path: None,
            private_data: Vec::new(),
        };
        req.set_rdma_cm_private_data(
            &CmaHeader {
                src_port: 40000,
                src: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
                dst: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)),
            },
            b"hello from the consumer",
        )
        .unwrap();
        req
    }

    fn full(mut v: Vec<u8>, len: usize) -> Vec<u8> {
        v.resize(len, 0);
        v
    }

    fn round_trip(msg: &CmMessage) -> (MadHeader, CmMessage, [u8; MAD_LEN]) {
        let mad = msg.to_mad(0xFEED_0000_0000_0001).unwrap();
        let (h, back) = CmMessage::from_mad(&mad).unwrap();
        assert_eq!(h, MadHeader::cm(msg.attr_id(), 0xFEED_0000_0000_0001));
        (h, back, mad)
    }

    #[test]
    fn req_layout_and_round_trip() {
        let req = sample_req();
        let (_, back, mad) = round_trip(&CmMessage::Req(req.clone()));
        // Spot-check absolute MAD offsets against IBA Table 103 (data starts at 24).
        assert_eq!(&mad[..4], &[1, 7, 2, 3]);
        assert_eq!(&mad[16..18], &[0x00, 0x10]);
        assert_eq!(&mad[24..28], &[0x11, 0x22, 0x33, 0x44]);
        assert_eq!(&mad[29..32], &[0x00, 0x02, 0xC9]);
        assert_eq!(&mad[32..40], &[0, 0, 0, 0, 0x01, 0x06, 0x48, 0x53]);
        assert_eq!(&mad[56..59], &[0x00, 0x01, 0x23]); // local QPN
        assert_eq!(mad[59], 16); // responder resources
        assert_eq!(mad[63], 8); // initiator depth
        assert_eq!(mad[67], (20 << 3) | 1); // remote CM timeout | RC | e2e
        assert_eq!(&mad[68..71], &[0xAB, 0xCD, 0xEF]);
        assert_eq!(mad[71], (20 << 3) | 7);
        assert_eq!(&mad[72..74], &[0xFF, 0xFF]);
        assert_eq!(mad[74], (3 << 4) | 7); // MTU 1024 | RNR retry 7
        assert_eq!(mad[75], 15 << 4);
        assert_eq!(&mad[76..80], &[0xFF, 0xFF, 0xFF, 0xFF]); // LIDs
        assert_eq!(
            &mad[80..96],
            &Gid::from_ipv4(Ipv4Addr::new(192, 168, 1, 1)).0
        );
        assert_eq!(&mad[112..116], &[0xAB, 0xCD, 0xE0, 0x12]); // flow label | rate
        assert_eq!(&mad[116..120], &[0x68, 64, 0x38, 14 << 3]);
        assert_eq!(&mad[164..166], &[0x00, 0x40]); // CMA header: v0, IPv4
        assert_eq!(&mad[166..168], &40000u16.to_be_bytes());
        assert_eq!(&mad[180..184], &[192, 168, 1, 1]);
        assert_eq!(&mad[196..200], &[192, 168, 1, 2]);
        assert_eq!(&mad[200..223], b"hello from the consumer");

        let CmMessage::Req(back) = back else {
            panic!("not a REQ")
        };
        assert_eq!(
            back,
            CmReq {
                private_data: full(req.private_data.clone(), REQ_PRIVATE_DATA_LEN),
                ..req.clone()
            }
        );
        assert_eq!(back.rdma_cm_header(), req.rdma_cm_header());
        assert_eq!(back.rdma_cm_consumer_data().len(), 56);
        assert!(back
            .rdma_cm_consumer_data()
            .starts_with(b"hello from the consumer"));
        assert_eq!(rdma_cm_port(back.service_id), Some(18515));

        let mut with_alt = req.clone();
        with_alt.alternate_path = Some(CmPath::roce(Gid([1; 16]), Gid([2; 16])));
        with_alt.private_data = vec![0xAB; REQ_PRIVATE_DATA_LEN];
        let (_, back, _) = round_trip(&CmMessage::Req(with_alt.clone()));
        assert_eq!(back, CmMessage::Req(with_alt));

        let mut too_long = req;
        too_long.private_data = vec![0; 93];
        assert!(CmMessage::Req(too_long).to_mad(0).is_err());
    }

    #[test]
    fn rep_layout_and_round_trip() {
        let rep = CmRep {
            local_comm_id: 0xAAAA_0001,
            remote_comm_id: 0x1122_3344,
            local_qkey: 0,
            local_qpn: 0x00_0456,
            local_eecn: 0,
            starting_psn: 0x12_3456,
            responder_resources: 4,
            initiator_depth: 2,
            target_ack_delay: 15,
            failover_accepted: 1,
            end_to_end_flow_control: true,
            rnr_retry_count: 7,
            srq: true,
            local_ca_guid: 0x0102_0304_0506_0708,
            private_data: b"accepted".to_vec(),
        };
        let (_, back, mad) = round_trip(&CmMessage::Rep(rep.clone()));
        assert_eq!(&mad[36..40], &[0, 0x04, 0x56, 0]); // local QPN | reserved
        assert_eq!(&mad[44..47], &[0x12, 0x34, 0x56]);
        assert_eq!(&mad[48..52], &[4, 2, (15 << 3) | 2 | 1, (7 << 5) | 0x10]);
        assert_eq!(&mad[52..60], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&mad[60..68], b"accepted");
        assert_eq!(
            back,
            CmMessage::Rep(CmRep {
                private_data: full(rep.private_data.clone(), REP_PRIVATE_DATA_LEN),
                ..rep
            })
        );
    }

    #[test]
    fn rej_mra_rtu_dreq_drep_round_trip() {
        let rej = CmRej {
            local_comm_id: 0,
            remote_comm_id: 0x1122_3344,
            message_rejected: CmMsgRef::Req,
            reason: RejReason::INVALID_SERVICE_ID,
            ari: vec![9, 8, 7],
            private_data: b"no listener".to_vec(),
        };
        let (_, back, mad) = round_trip(&CmMessage::Rej(rej.clone()));
        assert_eq!(&mad[32..36], &[0, 3 << 1, 0, 8]);
        assert_eq!(&mad[36..39], &[9, 8, 7]);
        assert_eq!(&mad[108..119], b"no listener");
        assert_eq!(
            back,
            CmMessage::Rej(CmRej {
                private_data: full(rej.private_data.clone(), REJ_PRIVATE_DATA_LEN),
                ..rej
            })
        );

        let mra = CmMra {
            local_comm_id: 1,
            remote_comm_id: 2,
            message_mraed: CmMsgRef::Rep,
            service_timeout: 17,
            private_data: vec![1; MRA_PRIVATE_DATA_LEN],
        };
        let (_, back, mad) = round_trip(&CmMessage::Mra(mra.clone()));
        assert_eq!(&mad[32..34], &[0x40, 17 << 3]);
        assert_eq!(back, CmMessage::Mra(mra));

        let rtu = CmRtu {
            local_comm_id: 3,
            remote_comm_id: 4,
            private_data: vec![2; RTU_PRIVATE_DATA_LEN],
        };
        let (_, back, mad) = round_trip(&CmMessage::Rtu(rtu.clone()));
        assert_eq!(mad[32], 2);
        assert_eq!(mad[255], 2);
        assert_eq!(back, CmMessage::Rtu(rtu));

        let dreq = CmDreq {
            local_comm_id: 5,
            remote_comm_id: 6,
            remote_qpn: 0x00AB_CDEF,
            private_data: vec![3; DREQ_PRIVATE_DATA_LEN],
        };
        let (_, back, mad) = round_trip(&CmMessage::Dreq(dreq.clone()));
        assert_eq!(&mad[32..36], &[0xAB, 0xCD, 0xEF, 0]);
        assert_eq!(mad[36], 3);
        assert_eq!(back, CmMessage::Dreq(dreq));

        let drep = CmDrep {
            local_comm_id: 7,
            remote_comm_id: 8,
            private_data: Vec::new(),
        };
        let (_, back, _) = round_trip(&CmMessage::Drep(drep.clone()));
        assert_eq!(
            back,
            CmMessage::Drep(CmDrep {
                private_data: vec![0; DREP_PRIVATE_DATA_LEN],
                ..drep
            })
        );
    }

    #[test]
    fn rejects_non_cm_mads() {
        let mut mad = CmMessage::Rtu(CmRtu {
            local_comm_id: 1,
            remote_comm_id: 2,
            private_data: Vec::new(),
        })
        .to_mad(1)
        .unwrap();
        assert!(CmMessage::from_mad(&mad[..255]).is_err());
        mad[17] = 0x19; // LAP: not decoded
        assert_eq!(
            CmMessage::from_mad(&mad).unwrap_err(),
            WireError::NotCm("attribute")
        );
        mad[1] = 0x03; // SA
        assert!(CmMessage::from_mad(&mad).is_err());
    }

    #[test]
    fn cma_header_ipv6_and_service_ids() {
        let h = CmaHeader {
            src_port: 1,
            src: "fe80::1".parse().unwrap(),
            dst: "2001:db8::7".parse().unwrap(),
        };
        let b = h.to_bytes().unwrap();
        assert_eq!(b[1], 0x60);
        assert_eq!(CmaHeader::parse(&b), Ok(h));
        assert!(CmaHeader {
            src_port: 1,
            src: IpAddr::V4(Ipv4Addr::LOCALHOST),
            dst: "::1".parse().unwrap()
        }
        .to_bytes()
        .is_err());
        assert!(CmaHeader::parse(&b[..35]).is_err());
        assert_eq!(rdma_cm_service_id(0x1234), 0x0000_0000_0106_1234);
        assert_eq!(rdma_cm_port(0x0000_0000_0111_1234), None);
        assert_eq!(RDMA_IP_SERVICE_PREFIX >> 24, 1);
        let mut req = sample_req();
        assert!(req
            .set_rdma_cm_private_data(&CmaHeader::parse(&b).unwrap(), &[0; 57])
            .is_err());
        req.set_rdma_cm_private_data(&h, &[0xCC; 56]).unwrap();
        assert_eq!(req.private_data.len(), 92);
    }
}
