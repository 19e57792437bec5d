//! The manual and the Rust map are kept in step field by field: these tests read the offset
//! tables of docs/silicon/iwarp.md and compare every named row with the `#[repr(C)]` structs and
//! the register blocks. A row added to, moved in or renamed in either one fails here.

extern crate std;

use core::mem::offset_of;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::admin::{
    CmdEntryRaw, CqParams, CreateQpParams, CreateSrqParams, ListenParams, QpAttr, RegisterMrParams,
    PARAMS_OFFSET,
};
use crate::cm::CmRecordRaw;
use crate::cqe::CqeRaw;
use crate::eqe::EqeRaw;
use crate::mpa::FrameHeaderRaw;
use crate::record::QpRecordRaw;
use crate::regs::{Bar0, DoorbellBlock};
use crate::wqe::{
    BindSegRaw, CtrlSegRaw, DataSegRaw, FastRegSegRaw, RecvHeaderRaw, RemoteAddrSegRaw,
};

const MANUAL: &str = include_str!("../../docs/silicon/iwarp.md");

/// The text from the heading that starts with `heading` to the next heading of the same or a
/// higher level.
fn section(heading: &str) -> &'static str {
    let level = heading.chars().take_while(|&c| c == '#').count();
    let start = MANUAL
        .find(&std::format!("\n{heading}"))
        .unwrap_or_else(|| panic!("no section {heading}"))
        + 1;
    let body = &MANUAL[start..];
    let end = body
        .match_indices("\n#")
        .find(|(i, _)| {
            let l = body[i + 1..].chars().take_while(|&c| c == '#').count();
            l <= level
        })
        .map_or(body.len(), |(i, _)| i);
    &body[..end]
}

/// `(offset, NAME)` of every row of the first table of `text` whose first cell is a plain hex
/// offset and which names a field (reserved rows and ranges are skipped).
fn rows(text: &str) -> Vec<(usize, String)> {
    let is_name = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    text.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let off = usize::from_str_radix(cells.get(1)?.strip_prefix("0x")?, 16).ok()?;
            // Memory tables: offset | size | NAME; register tables: offset | NAME | width.
            let name = [cells.get(3)?, cells.get(2)?]
                .into_iter()
                .find(|c| is_name(c))?;
            Some((off, name.to_string()))
        })
        .collect()
}

macro_rules! fields {
    ($t:ty; $($f:ident),* $(,)?) => {
        std::vec![$((stringify!($f), offset_of!($t, $f))),*]
    };
}

/// Every named row of the manual's table is a field of the Rust struct at the same offset
/// (`base` is added to the Rust offsets), and the table has at least `min_rows` such rows.
fn check(heading: &str, rust: &[(&str, usize)], base: usize, min_rows: usize) {
    let doc = rows(section(heading));
    assert!(
        doc.len() >= min_rows,
        "{heading}: only {} rows parsed",
        doc.len()
    );
    for (off, name) in &doc {
        let field = name.to_ascii_lowercase();
        let found = rust.iter().find(|(n, _)| *n == field);
        assert_eq!(
            found.map(|(_, o)| o + base),
            Some(*off),
            "{heading}: {name} at {off:#x}"
        );
    }
}

#[test]
fn bar0_map_summary_and_statistics() {
    let rust = fields!(Bar0;
        id, revision, subsystem, fw_version, mac_lo, mac_hi, cap_max_qp, cap_max_cq, cap_max_srq,
        cap_max_pd, cap_max_stag, cap_max_mr, cap_max_mw, cap_max_sq_depth, cap_max_rq_depth,
        cap_max_srq_depth, cap_max_cq_depth, cap_sge, cap_inline, cap_rdma, cap_max_msg_size,
        cap_mr, cap_page_sizes, cap_max_pbl_pages, cap_frmr, cap_features, cap_cm, cap_queues,
        cap_addr, cap_large_request, cap_priv_stag, cap_db_pages, cap_max_conn, cap_tcp,
        cap_tcp_window, ctrl, status, fatal_code, port_status, scratch, admq_base_lo,
        admq_base_hi, admq_size, admq_ctrl, admq_pi, admq_ci, admq_status, eq_base_lo,
        eq_base_hi, eq_size, eq_ctrl, eq_ci, eq_pi, eq_status, cmev_base_lo, cmev_base_hi,
        cmev_size, cmev_ctrl, cmev_ci, cmev_pi, int_cause, int_mask, addr_select, addr_attr,
        addr_data0, addr_data1, addr_data2, addr_data3, stat_tx_frames, stat_tx_octets,
        stat_rx_frames, stat_rx_octets, stat_tcp_segs_sent, stat_tcp_segs_received,
        stat_tcp_retransmits, stat_tcp_timeouts, stat_tcp_fast_retransmits,
        stat_tcp_out_of_order, stat_tcp_duplicates, stat_tcp_bad_checksum, stat_tcp_rsts_sent,
        stat_tcp_rsts_received, stat_tcp_active_opens, stat_tcp_passive_opens,
        stat_tcp_failed_opens, stat_mpa_crc_errors, stat_mpa_rejects_sent,
        stat_mpa_rejects_received, stat_ddp_segments_sent, stat_ddp_segments_received,
        stat_terminates_sent, stat_terminates_received, stat_rx_discards, stat_raw_tx_frames,
        stat_raw_rx_frames, stat_raw_rx_no_buffer, stat_raw_rx_filtered,
        stat_tcp_zero_window_probes, stat_mpa_timeouts, stat_ddp_placement_errors,
    );
    check("### 3.2 Map summary", &rust, 0, 68);
    check("### 3.11 Statistics", &rust, 0, 32);
}

#[test]
fn doorbell_block() {
    let rust =
        fields!(DoorbellBlock; sq_pi, rq_pi, srq_pi, cq_arm, raw_sq_pi, raw_rq_pi, raw_cq_arm);
    check("## 4. BAR2 doorbells", &rust, 0, 7);
}

#[test]
fn send_and_receive_wqe_segments() {
    check(
        "#### 5.3.1 Control segment",
        &fields!(CtrlSegRaw; opcode, flags, wqe_index, ds_count, inv_stag, wr_id),
        0,
        6,
    );
    check(
        "#### 5.3.2 Remote address segment",
        &fields!(RemoteAddrSegRaw; remote_to, remote_stag),
        0,
        2,
    );
    check(
        "#### 5.3.3 Data segment",
        &fields!(DataSegRaw; length, stag, addr),
        0,
        3,
    );
    check(
        "#### 5.3.5 Fast-register segment",
        &fields!(FastRegSegRaw; stag, access, page_count, log2_page_size, fr_flags, iova, length,
            pbl_addr, first_byte_offset),
        0,
        9,
    );
    check(
        "#### 5.3.6 Bind segment",
        &fields!(BindSegRaw; mw_stag, mr_stag, access, addr, length),
        0,
        5,
    );
    check(
        "### 5.4 Receive WQE",
        &fields!(RecvHeaderRaw; wr_id, wqe_index, num_sge),
        0,
        3,
    );
}

#[test]
fn records_cqe_eqe_and_connection_record() {
    check(
        "### 5.5 Queue records",
        &fields!(QpRecordRaw; sq_ci, rq_ci, state, syndrome),
        0,
        4,
    );
    check(
        "#### 5.6.1 Format",
        &fields!(CqeRaw; wr_id, qp_context, byte_count, invalidated_stag, qpn, srqn, syndrome,
            wqe_index, term, status, opcode, flags, owner),
        0,
        13,
    );
    check(
        "### 5.7 Event queue entry",
        &fields!(EqeRaw; event_type, subtype, status, object, context, data0, data1, syndrome,
            owner),
        0,
        9,
    );
    check(
        "### 5.8 Connection record",
        &fields!(CmRecordRaw; conn_id, event, ip_version, private_data_len, context, local_ip,
            remote_ip, local_port, remote_port, ird, ord, reason, mpa_revision, rtr, local_qpn,
            remote_mac, mss, listen_id, iss, irs, private_data),
        0,
        21,
    );
}

#[test]
fn admin_entry_parameters_and_qp_attributes() {
    check(
        "### 6.1 Entry format",
        &fields!(CmdEntryRaw; opcode, flags, modifier, object, token, params),
        0,
        6,
    );
    check(
        "#### 6.4.4 CREATE_SRQ",
        &fields!(CreateSrqParams; pdn, log2_depth, log2_stride, limit, ring_addr, record_addr,
            srq_context),
        PARAMS_OFFSET,
        7,
    );
    check(
        "#### 6.4.5 CREATE_CQ",
        &fields!(CqParams; log2_size, eqn, mod_count, mod_period, ring_addr, dbrec_addr,
            cq_context),
        PARAMS_OFFSET,
        7,
    );
    check(
        "#### 6.4.6 CREATE_QP",
        &fields!(CreateQpParams; pdn, send_cqn, recv_cqn, srqn, log2_sq_depth, log2_sq_stride,
            log2_rq_depth, log2_rq_stride, qp_context, buf_addr, record_addr),
        PARAMS_OFFSET,
        11,
    );
    check(
        "#### 6.4.7 Memory regions",
        &fields!(RegisterMrParams; access, log2_page_size, pbl_levels, iova, length, page_count,
            first_byte_offset, pbl_addr),
        PARAMS_OFFSET,
        8,
    );
    check(
        "#### 6.4.8 Connection manager",
        &fields!(ListenParams; ip_version, port, backlog, listen_context, ip),
        PARAMS_OFFSET,
        5,
    );
    check(
        "### 6.5 QP attribute block",
        &fields!(QpAttr; attr_mask, state, ird, ord, access, conn_id, tcp_state, rtr, mss,
            snd_una, snd_nxt, rcv_nxt, snd_wnd, cwnd, srtt_us, rto_us, send_msn, recv_msn, term,
            sq_pi, sq_ci, rq_pi, rq_ci, syndrome),
        0,
        24,
    );
}

#[test]
fn mpa_frame_header() {
    let mut rust = fields!(FrameHeaderRaw; key, flags, rev, pd_length);
    // PRIVATE_DATA follows the header; it is not part of the fixed struct.
    rust.push(("private_data", core::mem::size_of::<FrameHeaderRaw>()));
    check("#### 9.3.1 Request and reply frames", &rust, 0, 5);
}
