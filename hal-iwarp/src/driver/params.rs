//! Builders of admin-command parameter blocks (§6.4): each sets the fields its command uses
//! and leaves every reserved byte 0, as §6.1 requires.

use core::net::IpAddr;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::FromZeros;

use super::TcpTimers;
use crate::admin::{
    CqParams, CreateQpParams, CreateRawqParams, CreateSrqParams, DwordParams, ListenParams,
    MemParams, RegisterMrParams, SetAddrParams, SetMacParams, SetTcpParams,
};
use crate::cm::{ip_bytes, ip_version};

/// SET_MTU, SET_RX_FILTER, MODIFY_SRQ: one dword at 0x10.
pub(crate) fn dword(value: u32) -> DwordParams {
    let mut p = DwordParams::new_zeroed();
    p.value = U32::new(value);
    p
}

/// SET_MAC.
pub(crate) fn set_mac(mac: [u8; 6]) -> SetMacParams {
    let mut p = SetMacParams::new_zeroed();
    p.mac = mac;
    p
}

/// SET_ADDR: TYPE 1 (IPv4, stored IPv4-mapped) or 2 (IPv6); `None` clears the entry.
pub(crate) fn set_addr(ip: Option<IpAddr>) -> SetAddrParams {
    let mut p = SetAddrParams::new_zeroed();
    if let Some(ip) = ip {
        p.addr_type = if ip.is_ipv4() { 1 } else { 2 };
        p.addr = ip_bytes(ip);
    }
    p
}

/// SET_TCP_PARAMS (0 keeps a value).
pub(crate) fn set_tcp(t: &TcpTimers) -> SetTcpParams {
    let mut p = SetTcpParams::new_zeroed();
    p.rto_min_us = U32::new(t.rto_min_us);
    p.rto_max_us = U32::new(t.rto_max_us);
    p.rto_init_us = U32::new(t.rto_init_us);
    p.max_retries = t.max_retries;
    p.syn_retries = t.syn_retries;
    p.mpa_timeout_ms = U32::new(t.mpa_timeout_ms);
    p.fin_timeout_ms = U32::new(t.fin_timeout_ms);
    p.time_wait_ms = U32::new(t.time_wait_ms);
    p
}

/// CREATE_CQ.
pub(crate) fn create_cq(log2: u8, ring_addr: u64, dbrec_addr: u64, ctx: u64) -> CqParams {
    let mut p = CqParams::new_zeroed();
    p.log2_size = log2;
    p.ring_addr = U64::new(ring_addr);
    p.dbrec_addr = U64::new(dbrec_addr);
    p.cq_context = U64::new(ctx);
    p
}

/// RESIZE_CQ: LOG2_SIZE and RING_ADDR of the new ring.
pub(crate) fn resize_cq(log2: u8, ring_addr: u64) -> CqParams {
    let mut p = CqParams::new_zeroed();
    p.log2_size = log2;
    p.ring_addr = U64::new(ring_addr);
    p
}

/// MODIFY_CQ: moderation.
pub(crate) fn modify_cq(mod_count: u16, mod_period: u16) -> CqParams {
    let mut p = CqParams::new_zeroed();
    p.mod_count = U16::new(mod_count);
    p.mod_period = U16::new(mod_period);
    p
}

/// CREATE_SRQ.
pub(crate) fn create_srq(
    pdn: u32,
    log2_depth: u8,
    log2_stride: u8,
    ring_addr: u64,
    record_addr: u64,
    ctx: u64,
) -> CreateSrqParams {
    let mut p = CreateSrqParams::new_zeroed();
    p.pdn = U32::new(pdn);
    p.log2_depth = log2_depth;
    p.log2_stride = log2_stride;
    p.ring_addr = U64::new(ring_addr);
    p.record_addr = U64::new(record_addr);
    p.srq_context = U64::new(ctx);
    p
}

/// The queues and memory of a CREATE_QP.
pub(crate) struct QpShape {
    pub(crate) pdn: u32,
    pub(crate) send_cqn: u32,
    pub(crate) recv_cqn: u32,
    pub(crate) srqn: Option<u32>,
    pub(crate) log2_sq_depth: u8,
    pub(crate) log2_sq_stride: u8,
    pub(crate) log2_rq_depth: u8,
    pub(crate) log2_rq_stride: u8,
    pub(crate) ctx: u64,
    pub(crate) buf_addr: u64,
    pub(crate) record_addr: u64,
}

/// CREATE_QP (with an SRQ: SRQN set, RQ sizes 0).
pub(crate) fn create_qp(s: &QpShape) -> CreateQpParams {
    let mut p = CreateQpParams::new_zeroed();
    p.pdn = U32::new(s.pdn);
    p.send_cqn = U32::new(s.send_cqn);
    p.recv_cqn = U32::new(s.recv_cqn);
    p.srqn = U32::new(s.srqn.unwrap_or(0));
    p.log2_sq_depth = s.log2_sq_depth;
    p.log2_sq_stride = s.log2_sq_stride;
    if s.srqn.is_none() {
        p.log2_rq_depth = s.log2_rq_depth;
        p.log2_rq_stride = s.log2_rq_stride;
    }
    p.qp_context = U64::new(s.ctx);
    p.buf_addr = U64::new(s.buf_addr);
    p.record_addr = U64::new(s.record_addr);
    p
}

/// ALLOC_MR (PDN, KIND), ALLOC_MW (PDN, 0), INIT_FAST_REG (MAX_PAGES, ACCESS).
pub(crate) fn mem(dword0: u32, dword1: u32) -> MemParams {
    let mut p = MemParams::new_zeroed();
    p.dword0 = U32::new(dword0);
    p.dword1 = U32::new(dword1);
    p
}

/// A registration's page list and range (REGISTER_MR).
pub(crate) struct MrShape {
    pub(crate) access: u32,
    pub(crate) log2_page_size: u8,
    pub(crate) pbl_levels: u8,
    pub(crate) iova: u64,
    pub(crate) length: u64,
    pub(crate) page_count: u32,
    pub(crate) first_byte_offset: u32,
    pub(crate) pbl_addr: u64,
}

/// REGISTER_MR.
pub(crate) fn register_mr(s: &MrShape) -> RegisterMrParams {
    let mut p = RegisterMrParams::new_zeroed();
    p.access = U32::new(s.access);
    p.log2_page_size = s.log2_page_size;
    p.pbl_levels = s.pbl_levels;
    p.iova = U64::new(s.iova);
    p.length = U64::new(s.length);
    p.page_count = U32::new(s.page_count);
    p.first_byte_offset = U32::new(s.first_byte_offset);
    p.pbl_addr = U64::new(s.pbl_addr);
    p
}

/// CM_LISTEN on `ip`:`port` (the unspecified address listens on every local address).
pub(crate) fn listen(ip: IpAddr, port: u16, ctx: u64) -> ListenParams {
    let mut p = ListenParams::new_zeroed();
    p.ip_version = ip_version(&ip);
    p.port = U16::new(port);
    p.listen_context = U64::new(ctx);
    p.ip = ip_bytes(ip);
    p
}

/// The rings of a CREATE_RAWQ.
pub(crate) struct RawqShape {
    pub(crate) log2_sq_depth: u8,
    pub(crate) log2_rq_depth: u8,
    pub(crate) log2_cq_size: u8,
    pub(crate) sq_addr: u64,
    pub(crate) rq_addr: u64,
    pub(crate) cq_addr: u64,
    pub(crate) ctx: u64,
}

/// CREATE_RAWQ.
pub(crate) fn create_rawq(s: &RawqShape) -> CreateRawqParams {
    let mut p = CreateRawqParams::new_zeroed();
    p.log2_sq_depth = s.log2_sq_depth;
    p.log2_rq_depth = s.log2_rq_depth;
    p.log2_cq_size = s.log2_cq_size;
    p.sq_addr = U64::new(s.sq_addr);
    p.rq_addr = U64::new(s.rq_addr);
    p.cq_addr = U64::new(s.cq_addr);
    p.rawq_context = U64::new(s.ctx);
    p
}
