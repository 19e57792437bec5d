//! Unit tests of the driver without the device model: a minimal fake device (reset, enable,
//! admin commands completed through the EQ, mailboxes captured) stepped from `MockPlatform`'s
//! stall hook, and CQEs / connection events written by hand into the driver's rings. In the
//! mock, bus addresses are host addresses, so the fake device reads and writes DMA memory
//! through raw pointers.

extern crate std;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::boxed::Box;
use std::sync::Mutex;

use hal::fake_bar::{dma_read, dma_write, FakeBar};
use hal::mock::MockPlatform;
use hal::queue::testkit::{
    self, send, CreatedCq, CreatedQp, Doorbell, FakeDevice, SeenSend, SeenWqe,
};
use hal::raw_eth::{RawCqe, RawSendDesc, RawStatus, RAW_CQE_SIZE};
use hal::ring;
use hal::{
    Access, CmEvent, Cmd, CmdToken, CmdValue, Completion, ConnId, EthBuffer, EthCompletion,
    EthFilter, EthernetPort, HalError, HalEvent, HalResult, MmioRegion, NicHal, QpParams,
    RdmaTransport, RecvWr, Registration, SendOp, SendWr, Sge, WcOpcode, WcStatus, WrFlags,
};
use tock_registers::interfaces::{Readable, Writeable};
use zerocopy::FromBytes;

use super::IwarpNic;
use crate::admin::{
    CmdEntry, CmdStatus, Command, CqParams, CreateQpParams, Opcode, QpAttr, QpState,
};
use crate::caps::{DeviceAttrs, Features};
use crate::cm::{reason, CmEventType, CmRecord, CM_RECORD_SIZE};
use crate::cqe::{Cqe, CqeFlags, CqeOpcode, CqeStatus, CQE_SIZE};
use crate::eqe::{Eqe, EventType, EQE_SIZE};
use crate::regs::{self, Bar0, CTRL, STATUS};
use crate::stag::{STag, PRIVILEGED_STAG};
use crate::wqe::{FastRegPages, RecvWqe, SendOpcode, SendWqe, SendWqeOp, WqePayload};

type Bar = FakeBar;

/// One executed admin entry and the input mailbox it named.
#[derive(Clone)]
struct Executed {
    entry: CmdEntry,
    mailbox: Vec<u8>,
}

#[derive(Default)]
struct DevState {
    admq_ci: u16,
    eq_pi: u32,
    cmev_pi: u16,
    commands: Vec<Executed>,
    /// The next command with this opcode fails with this status.
    fail: Vec<(Opcode, CmdStatus)>,
}

/// The fake device: BAR memory plus just enough behaviour for the driver's control path.
struct Dev {
    mem0: Box<Bar>,
    mem2: Box<Bar>,
    bar0: MmioRegion,
    state: Mutex<DevState>,
}

fn input_mailbox(c: &Command) -> Option<(u64, u32)> {
    match c {
        Command::ModifyQp(m)
        | Command::CmConnect(m)
        | Command::CmAccept(m)
        | Command::CmReject(m) => Some((m.addr.get(), m.len.get())),
        _ => None,
    }
}

impl Dev {
    fn with_attrs(attrs: DeviceAttrs) -> Arc<Dev> {
        let mem0 = Bar::new();
        let mem2 = Bar::new();
        let bar0 = mem0.region();
        let dev = Dev {
            mem0,
            mem2,
            bar0,
            state: Mutex::new(DevState::default()),
        };
        attrs.write(dev.regs());
        dev.regs().status.write(STATUS::READY::SET);
        dev.regs().port_status.set(1 | 5 << 8 | 1500 << 16);
        Arc::new(dev)
    }

    fn new() -> Arc<Dev> {
        let mut attrs = DeviceAttrs::REFERENCE;
        attrs.db_pages = 16;
        Dev::with_attrs(attrs)
    }

    fn regs(&self) -> &Bar0 {
        self.bar0.block::<Bar0>(0).unwrap()
    }

    /// A doorbell register of block `n` (`regs::DB_*` offset).
    fn doorbell(&self, n: u32, reg: usize) -> u32 {
        self.mem2.peek(regs::doorbell_block_offset(n) + reg)
    }

    fn eq_base(&self) -> u64 {
        u64::from(self.regs().eq_base_lo.get()) | u64::from(self.regs().eq_base_hi.get()) << 32
    }

    /// Writes an EQE as the device does (§5.1 owner bit) and raises INT_CAUSE.EQ.
    fn push_eqe(&self, st: &mut DevState, e: &Eqe) {
        let log2 = self.regs().eq_size.get() as u8;
        let slot = ring::slot(st.eq_pi, log2);
        let raw = e.encode(ring::owner_bit(st.eq_pi, log2));
        dma_write(self.eq_base() + (slot * EQE_SIZE) as u64, &raw);
        st.eq_pi = ring::advance24(st.eq_pi, 1);
        self.regs().int_cause.set(self.regs().int_cause.get() | 1);
    }

    fn push(&self, e: Eqe) {
        let mut st = self.state.lock().unwrap();
        self.push_eqe(&mut st, &e);
    }

    /// Writes a connection record and its CM_EVENT EQE (§8.4).
    fn push_cm(&self, r: &CmRecord) {
        let mut st = self.state.lock().unwrap();
        let base = u64::from(self.regs().cmev_base_lo.get())
            | u64::from(self.regs().cmev_base_hi.get()) << 32;
        let log2 = self.regs().cmev_size.get() as u8;
        let index = st.cmev_pi;
        let slot = ring::slot(u32::from(index), log2);
        let mut raw = [0u8; CM_RECORD_SIZE];
        assert!(r.encode_into(&mut raw));
        dma_write(base + (slot * CM_RECORD_SIZE) as u64, &raw);
        st.cmev_pi = st.cmev_pi.wrapping_add(1);
        let e = Eqe::cm_event(r.event_type().unwrap(), r.conn_id, r.context, index);
        self.push_eqe(&mut st, &e);
    }

    /// One step: reset, enable, and every published admin entry.
    fn step(&self) {
        let r = self.regs();
        if r.ctrl.is_set(CTRL::RESET) {
            r.ctrl.set(0);
            r.status.write(STATUS::READY::SET);
            *self.state.lock().unwrap() = DevState::default();
            return;
        }
        if r.ctrl.is_set(CTRL::ENABLE) {
            r.status.write(STATUS::READY::SET + STATUS::ENABLED::SET);
        }
        if r.admq_ctrl.get() & 1 == 0 || !r.status.is_set(STATUS::ENABLED) {
            return;
        }
        let mut st = self.state.lock().unwrap();
        let pi = r.admq_pi.get() as u16;
        let base = u64::from(r.admq_base_lo.get()) | u64::from(r.admq_base_hi.get()) << 32;
        let log2 = r.admq_size.get() as u8;
        while st.admq_ci != pi {
            let slot = ring::slot(u32::from(st.admq_ci), log2);
            let mut raw = [0u8; 64];
            dma_read(base + (slot * 64) as u64, &mut raw);
            let entry = CmdEntry::decode(&raw).expect("the driver writes valid entries");
            let (op, _, _) = entry.command.parts();
            let mailbox = match input_mailbox(&entry.command) {
                Some((addr, len)) => {
                    let mut m = vec![0u8; len as usize];
                    dma_read(addr, &mut m);
                    m
                }
                None => Vec::new(),
            };
            let status = match st.fail.iter().position(|(o, _)| *o == op) {
                Some(i) => st.fail.remove(i).1,
                None => CmdStatus::Ok,
            };
            let object = entry.object;
            if !(entry.silent && status == CmdStatus::Ok) {
                let e = Eqe::cmd_complete(op as u8, status, object, entry.token, (object, object));
                self.push_eqe(&mut st, &e);
            }
            st.commands.push(Executed { entry, mailbox });
            st.admq_ci = st.admq_ci.wrapping_add(1);
            r.admq_ci.set(u32::from(st.admq_ci));
        }
    }

    fn commands(&self) -> Vec<Executed> {
        self.state.lock().unwrap().commands.clone()
    }

    fn last(&self, op: Opcode) -> Executed {
        self.commands()
            .into_iter()
            .rev()
            .find(|c| c.entry.command.parts().0 == op)
            .unwrap_or_else(|| panic!("no {op:?} executed"))
    }

    fn count(&self, op: Opcode) -> usize {
        self.commands()
            .iter()
            .filter(|c| c.entry.command.parts().0 == op)
            .count()
    }

    fn fail_next(&self, op: Opcode, status: CmdStatus) {
        self.state.lock().unwrap().fail.push((op, status));
    }
}

const LOCAL_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));

fn bring_up() -> (Arc<Dev>, IwarpNic<MockPlatform>) {
    let dev = Dev::new();
    let platform = MockPlatform::new();
    let d = dev.clone();
    platform.set_stall_hook(Some(Arc::new(move |_| d.step())));
    let bar2 = dev.mem2.region();
    let addrs = [LOCAL_IP];
    let cfg = super::BringUpConfig {
        mtu: 4200,
        addresses: &addrs,
    };
    let nic = IwarpNic::with_config(platform, dev.mem0.region(), bar2, &cfg).expect("bring-up");
    (dev, nic)
}

/// Steps the fake device and runs the ISR, as a model raising the line would.
fn run(dev: &Dev, nic: &IwarpNic<MockPlatform>) {
    dev.step();
    nic.interrupt();
}

fn events(nic: &IwarpNic<MockPlatform>) -> Vec<HalEvent> {
    core::iter::from_fn(|| nic.next_event()).collect()
}

fn create_cq_params(dev: &Dev) -> (u32, CqParams) {
    let c = dev.last(Opcode::CreateCq);
    match c.entry.command {
        Command::CreateCq(p) => (c.entry.object, p),
        _ => unreachable!(),
    }
}

fn create_qp_params(dev: &Dev) -> (u32, bool, CreateQpParams) {
    let c = dev.last(Opcode::CreateQp);
    match c.entry.command {
        Command::CreateQp { use_srq, params } => (c.entry.object, use_srq, params),
        _ => unreachable!(),
    }
}

fn mailbox_record(e: &Executed) -> CmRecord {
    CmRecord::decode(&e.mailbox).expect("a connection record")
}

#[test]
fn bring_up_follows_section_11_1() {
    let (dev, nic) = bring_up();
    let r = dev.regs();
    assert!(r.status.is_set(STATUS::ENABLED));
    assert_eq!(r.int_mask.get(), 0, "step 8: all causes unmasked");
    assert_eq!(r.admq_ctrl.get(), 1);
    assert_eq!(r.eq_ctrl.get(), 1);
    assert_eq!(
        r.cmev_ctrl.get(),
        1,
        "step 6: the connection event ring runs"
    );
    assert_ne!(r.eq_ci.get() & 1 << 31, 0, "step 10: the EQ is armed");
    let cmds = dev.commands();
    match cmds[0].entry.command {
        Command::SetMtu(p) => assert_eq!(p.value.get(), 4200),
        ref c => panic!("{c:?}"),
    }
    match cmds[1].entry.command {
        Command::SetAddr(p) => {
            assert_eq!(cmds[1].entry.object, 0, "table entry 0");
            assert_eq!(p.addr_type, 1, "IPv4");
            assert_eq!(p.addr, crate::cm::ip_bytes(LOCAL_IP), "IPv4-mapped");
        }
        ref c => panic!("{c:?}"),
    }
    assert!(nic.is_local_address(&LOCAL_IP));
    let caps = nic.caps();
    assert_eq!(
        caps.max_qp_count,
        16 * 64 - 1,
        "QPNs need doorbell blocks; QPN 0 reserved"
    );
    assert_eq!(caps.max_read_sge, 1, "§5.3.7: one read sink segment");
    assert_eq!(caps.transport, RdmaTransport::Iwarp);
    assert_eq!(caps.max_caller_data, 508);
    assert_eq!(nic.privileged_lkey(), PRIVILEGED_STAG);
    assert!(
        events(&nic).is_empty(),
        "bring-up completions are the driver's"
    );
}

#[test]
fn bring_up_refuses_a_device_without_the_tcp_offload_engine() {
    let mut attrs = DeviceAttrs::REFERENCE;
    attrs.features.remove(Features::TCP_OFFLOAD);
    let dev = Dev::with_attrs(attrs);
    let platform = MockPlatform::new();
    let d = dev.clone();
    platform.set_stall_hook(Some(Arc::new(move |_| d.step())));
    let r = IwarpNic::new(platform, dev.mem0.region(), dev.mem2.region());
    assert_eq!(r.err(), Some(HalError::NotSupported));
    assert_eq!(dev.regs().eq_ctrl.get(), 0, "nothing was programmed");
}

#[test]
fn error_cqes_report_status_syndrome_and_terminate() {
    let (dev, nic) = bring_up();
    let (mut parts, _) = nic.create_cq(7, 0, CmdToken(1)).unwrap();
    run(&dev, &nic);
    let (_, p) = create_cq_params(&dev);
    let cqe = Cqe::flushed(9, 0xAB, 2, 0, CqeOpcode::Send);
    dma_write(p.ring_addr.get(), &cqe.encode(true));
    let remote = Cqe {
        wr_id: 10,
        status: CqeStatus::RemoteAccess,
        syndrome: crate::cqe::syndrome::TERM_REMOTE_ACCESS,
        opcode: CqeOpcode::Read,
        ..cqe
    };
    dma_write(p.ring_addr.get() + 64, &remote.encode(true));
    let mut out = [Completion::EMPTY; 2];
    assert_eq!(nic.poll_cq(&mut parts.poller, &mut out), 2);
    assert_eq!(out[0].status, WcStatus::Flushed);
    assert_eq!(out[0].vendor_error, crate::cqe::syndrome::FLUSH);
    assert_eq!(out[0].qp_context, 0xAB);
    assert_eq!(out[1].status, WcStatus::RemoteAccess);
    assert_eq!(out[1].opcode, WcOpcode::Read);
    assert_eq!(
        out[1].vendor_error,
        crate::cqe::syndrome::TERM_REMOTE_ACCESS
    );
}

struct Qp {
    parts: hal::QpParts<IwarpNic<MockPlatform>>,
    qpn: u32,
    create: CreateQpParams,
}

fn qp(dev: &Arc<Dev>, nic: &IwarpNic<MockPlatform>, sq_depth: u32) -> Qp {
    let parts = testkit::qp(&Fake(dev.clone()), nic, sq_depth).parts;
    let (qpn, use_srq, create) = create_qp_params(dev);
    assert!(!use_srq);
    Qp { parts, qpn, create }
}

#[test]
fn read_wqe_carries_exactly_one_sink_and_longer_sink_lists_are_refused() {
    let (dev, nic) = bring_up();
    let mut q = qp(&dev, &nic, 4);
    let sinks = [
        Sge {
            addr: 0x10,
            length: 8,
            lkey: 0x500,
        },
        Sge {
            addr: 0x20,
            length: 8,
            lkey: 0x500,
        },
    ];
    let read = |sgl| SendWr {
        wr_id: 5,
        op: SendOp::Read {
            sgl,
            remote_addr: 0x9000,
            rkey: 0x601,
        },
        flags: WrFlags::SIGNALED | WrFlags::READ_FENCE,
    };
    assert_eq!(
        nic.post_send(&mut q.parts.sq, &read(&sinks)),
        Err(HalError::InvalidParameter),
        "§5.3.7: MAX_READ_SGE = 1"
    );
    nic.ring_sq(&mut q.parts.sq);
    assert_eq!(
        dev.doorbell(q.qpn, regs::DB_SQ_PI),
        0,
        "the refused READ took no slot"
    );
    nic.post_send(&mut q.parts.sq, &read(&sinks[..1])).unwrap();
    let mut slot = [0u8; 128];
    dma_read(q.create.buf_addr.get(), &mut slot);
    let w = SendWqe::decode(&slot).unwrap();
    assert_eq!(w.ctrl.opcode, SendOpcode::Read);
    assert_eq!(w.ctrl.ds_count, 4);
    match w.op {
        SendWqeOp::Read { remote, sink } => {
            assert_eq!(remote.remote_to, 0x9000);
            assert_eq!((sink.addr, sink.length, sink.stag), (0x10, 8, 0x500));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn flush_is_a_silent_modify_to_err_and_its_failure_is_swallowed() {
    let (dev, nic) = bring_up();
    let q = qp(&dev, &nic, 4);
    dev.fail_next(Opcode::ModifyQp, CmdStatus::BadState);
    nic.flush_qp(&q.parts.qp);
    run(&dev, &nic);
    assert!(events(&nic).is_empty(), "nobody asked for this completion");
    let last = dev.commands().pop().unwrap();
    assert!(matches!(last.entry.command, Command::ModifyQp(_)));
    assert_eq!(last.entry.object, q.qpn);
    assert!(last.entry.silent);
    assert_ne!(
        last.entry.token & 1 << 63,
        0,
        "§6.1: internal tokens set bit 63"
    );
    let attr = QpAttr::read_from_prefix(&last.mailbox).unwrap().0;
    assert_eq!(attr, QpAttr::state_only(QpState::Err));
}

#[test]
fn register_mr_builds_a_page_list_and_completes_with_a_new_stag() {
    let (dev, nic) = bring_up();
    let pd = nic.create_pd().unwrap();
    let mr = nic.alloc_mr(&pd, hal::MrKind::Registered).unwrap();
    let pages = [0x10_0000, 0x30_0000, 0x20_0000];
    let reg = Registration {
        pages: &pages,
        first_byte_offset: 16,
        iova: 0x7000_0010,
        length: 3 * 4096 - 16,
        access: Access::LOCAL_WRITE | Access::REMOTE_READ,
    };
    assert!(matches!(
        nic.register_mr(&mr, &reg, CmdToken(9)).unwrap(),
        Cmd::Pending
    ));
    // The device copies the list while it executes the command.
    dev.step();
    let e = dev.last(Opcode::RegisterMr);
    let Command::RegisterMr(r) = e.entry.command else {
        unreachable!()
    };
    assert_eq!(r.pbl_levels, 1);
    assert_eq!(r.page_count.get(), 3);
    assert_eq!(r.log2_page_size, 12);
    assert_eq!(r.access.get(), 0b011, "LOCAL_WRITE | REMOTE_READ");
    let mut list = [0u8; 24];
    dma_read(r.pbl_addr.get(), &mut list);
    assert_eq!(
        u64::from_le_bytes(list[8..16].try_into().unwrap()),
        0x30_0000
    );
    nic.interrupt();
    let stag = e.entry.object;
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(9),
            result: Ok(CmdValue::Keys(a, b))
        }] if a == stag && b == stag
    ));
    let alloc = STag(dev.last(Opcode::AllocMr).entry.object);
    assert_eq!(alloc.index(), STag(stag).index());
    assert!(alloc.is_allocatable(), "§5.2: indices 0 and 1 are reserved");
    assert_ne!(
        STag(stag).key(),
        0,
        "§5.2: every registration takes a new key byte"
    );
    // A second registration of the same MR gets the next key.
    let _ = nic.deregister_mr(&mr, CmdToken(10)).unwrap();
    let _ = nic.register_mr(&mr, &reg, CmdToken(11)).unwrap();
    dev.step();
    let again = STag(dev.last(Opcode::RegisterMr).entry.object);
    assert_eq!(again, STag(stag).next_key());
}

#[test]
fn memory_windows_get_their_stag_at_once_and_fast_register_mrs_are_prepared() {
    let (dev, nic) = bring_up();
    let pd = nic.create_pd().unwrap();
    let (mw, rkey) = nic.alloc_mw(&pd).unwrap();
    dev.step();
    let e = dev.last(Opcode::AllocMw);
    assert_eq!(e.entry.object, rkey, "§11.9 step 4: OBJECT is the new STag");
    assert!(e.entry.silent);
    let mr = nic.alloc_mr(&pd, hal::MrKind::FastRegister).unwrap();
    let _ = nic.init_fast_register(&mr, 64, true, CmdToken(4)).unwrap();
    run(&dev, &nic);
    let Command::AllocMr(a) = dev.last(Opcode::AllocMr).entry.command else {
        unreachable!()
    };
    assert_eq!(a.dword1.get(), 1, "KIND FAST_REGISTER");
    let init = dev.last(Opcode::InitFastReg);
    let Command::InitFastReg(p) = init.entry.command else {
        unreachable!()
    };
    assert_eq!(p.dword0.get(), 64, "MAX_PAGES");
    assert_eq!(p.dword1.get(), 0b110, "REMOTE_READ | REMOTE_WRITE");
    let stag = init.entry.object;
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(4),
            result: Ok(CmdValue::Keys(a, b))
        }] if a == stag && b == stag
    ));
    assert_eq!(
        nic.init_fast_register(&mr, 2000, false, CmdToken(5)).err(),
        Some(HalError::ImplementationLimit),
        "CAP_FRMR.MAX_PAGES"
    );
    nic.free_mw(mw);
    nic.free_mr(mr);
    dev.step();
    assert_eq!(dev.last(Opcode::FreeMw).entry.object, rkey);
}

fn eqe(event_type: EventType, subtype: u8, object: u32, context: u64) -> Eqe {
    Eqe {
        event_type,
        subtype,
        status: 0,
        object,
        context,
        data0: 0,
        data1: 0,
        syndrome: 0,
    }
}

#[test]
fn cq_qp_and_srq_events_carry_their_contexts() {
    let (dev, nic) = bring_up();
    dev.push(eqe(EventType::CqNotify, 0, 0, 0xCC));
    dev.push(Eqe::qp_error(
        2,
        0xDD,
        crate::cqe::syndrome::TERM_REMOTE_ACCESS,
        None,
    ));
    dev.push(eqe(
        EventType::CqError,
        crate::eqe::CQ_ERROR_OVERRUN,
        1,
        0xCE,
    ));
    dev.push(eqe(EventType::SrqLimit, 0, 3, 0x5A));
    nic.interrupt();
    assert!(matches!(
        events(&nic)[..],
        [
            HalEvent::CqNotify { cq_ctx: 0xCC },
            HalEvent::QpError { qp_ctx: 0xDD },
            HalEvent::CqError {
                cq_ctx: 0xCE,
                kind: hal::CqErrorKind::Overrun
            },
            HalEvent::SrqLimit { srq_ctx: 0x5A },
        ]
    ));
}

#[test]
fn object_counts_are_scaled_to_the_eq_sizing_rule() {
    let attrs = DeviceAttrs::REFERENCE;
    let (caps, limits) = super::bringup::derive_caps(&attrs, 1 << 20, 1 << 14, 337);
    let need = 2 * u64::from(limits.cq) + 2 * u64::from(limits.srq) + u64::from(limits.qp);
    assert!(need + 337 <= 1 << 14, "§5.7: the EQ never overflows");
    assert_eq!(caps.max_qp_count, limits.qp - 1);
    assert!(caps.max_cq_count > 0 && caps.max_srq_count > 0);
}

// --- Connections (§8, §11.10) ---

const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2));
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x22];

fn local(port: u16) -> SocketAddr {
    SocketAddr::new(LOCAL_IP, port)
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::new(PEER_IP, port)
}

/// A record as the connection manager writes it into the event ring.
fn event_record(ty: CmEventType, conn_id: u32, context: u64) -> CmRecord {
    let mut r = CmRecord::mailbox(
        conn_id,
        context,
        local(445),
        peer(5000),
        0,
        0,
        0,
        PEER_MAC,
        b"",
    )
    .unwrap();
    r.event = ty as u8;
    r.mpa_revision = 2;
    r
}

#[test]
fn cm_connect_sends_the_record_with_the_next_hop_mac_and_the_qp() {
    let (dev, nic) = bring_up();
    let q = qp(&dev, &nic, 4);
    assert_eq!(
        nic.cm_connect(&q.parts.qp, local(0), peer(445), 8, 8, b"hi", 0x55)
            .err(),
        Some(HalError::HostUnreachable),
        "§8.1: no next hop resolved"
    );
    dev.step();
    assert_eq!(dev.count(Opcode::CmConnect), 0, "nothing was posted");
    nic.set_neighbor(PEER_IP, PEER_MAC).unwrap();
    let conn = nic
        .cm_connect(&q.parts.qp, local(0), peer(445), 100, 3, b"hi", 0x55)
        .unwrap();
    assert!(
        conn.0 < crate::cm::PASSIVE_CONN_ID_BASE,
        "§8.2: active ids are the driver's"
    );
    run(&dev, &nic);
    assert!(
        events(&nic).is_empty(),
        "accepted: the outcome comes as an event"
    );
    let e = dev.last(Opcode::CmConnect);
    assert_eq!(e.entry.object, conn.0);
    assert!(!e.entry.silent);
    let r = mailbox_record(&e);
    assert_eq!(r.remote_mac, PEER_MAC);
    assert_eq!(r.local_qpn, q.qpn);
    assert_eq!((r.local, r.remote), (local(0), peer(445)));
    assert_eq!((r.ird, r.ord), (16, 3), "IRD clamped to CAP_RDMA.MAX_IRD");
    assert_eq!(r.context, 0x55);
    assert_eq!(r.private_data.as_slice(), b"hi");
    // The reply arrives: CONNECT_REPLY with the peer's IRD / ORD and private data.
    let mut reply = event_record(CmEventType::ConnectReply, conn.0, 0x55);
    reply.ird = 4;
    reply.ord = 2;
    reply.private_data = hal::PrivateData::new(b"ok").unwrap();
    dev.push_cm(&reply);
    nic.interrupt();
    match events(&nic)[..] {
        [HalEvent::Cm(CmEvent::ConnectReply {
            ctx: 0x55,
            ird: 4,
            ord: 2,
            private_data,
        })] => assert_eq!(private_data.as_slice(), b"ok"),
        ref other => panic!("{other:?}"),
    }
    nic.cm_complete(conn).unwrap();
    nic.cm_disconnect(conn).unwrap();
    dev.step();
    assert_eq!(dev.last(Opcode::CmComplete).entry.object, conn.0);
    assert_eq!(dev.last(Opcode::CmDisconnect).entry.object, conn.0);
    let mut done = event_record(CmEventType::DisconnectDone, conn.0, 0x55);
    done.reason = reason::TIMEOUT;
    dev.push_cm(&done);
    nic.interrupt();
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::Cm(CmEvent::DisconnectComplete {
            ctx: 0x55,
            error: Some(HalError::Timeout)
        })]
    ));
}

#[test]
fn a_connection_to_a_local_address_goes_to_the_station_mac() {
    let (dev, nic) = bring_up();
    let q = qp(&dev, &nic, 4);
    nic.cm_connect(&q.parts.qp, local(0), local(445), 1, 1, b"", 1)
        .unwrap();
    dev.step();
    let r = mailbox_record(&dev.last(Opcode::CmConnect));
    assert_eq!(r.remote_mac, nic.mac_address(), "LOOPBACK");
}

#[test]
fn a_rejected_connect_reports_the_peers_private_data() {
    let (dev, nic) = bring_up();
    let q = qp(&dev, &nic, 4);
    nic.set_neighbor(PEER_IP, PEER_MAC).unwrap();
    let conn = nic
        .cm_connect(&q.parts.qp, local(0), peer(445), 8, 8, b"", 0x77)
        .unwrap();
    dev.step();
    let mut rej = event_record(CmEventType::Rejected, conn.0, 0x77);
    rej.reason = reason::MPA_REJECT;
    rej.private_data = hal::PrivateData::new(b"go away").unwrap();
    dev.push_cm(&rej);
    nic.interrupt();
    match events(&nic)[..] {
        [HalEvent::Cm(CmEvent::ConnectFailed {
            ctx: 0x77,
            error: HalError::ConnectionRefused,
            private_data,
        })] => assert_eq!(private_data.as_slice(), b"go away"),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn listen_request_accept_and_reject_follow_section_8() {
    let (dev, nic) = bring_up();
    let q = qp(&dev, &nic, 4);
    let listen = nic.cm_listen(local(445), 0x11).unwrap();
    assert_eq!(
        nic.cm_listen(local(445), 0x12).err(),
        Some(HalError::AddressInUse)
    );
    assert_eq!(
        nic.cm_listen(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 445),
            0x13
        )
        .err(),
        Some(HalError::AddressInUse),
        "§6.4.8: the wildcard covers the address"
    );
    run(&dev, &nic);
    let l = dev.last(Opcode::CmListen);
    let Command::CmListen(p) = l.entry.command else {
        unreachable!()
    };
    assert_eq!((p.ip_version, p.port.get()), (4, 445));
    assert_eq!(p.listen_context.get(), 0x11);
    assert_eq!(p.ip, crate::cm::ip_bytes(LOCAL_IP));

    // Two requests: one accepted, one rejected with private data.
    let mut req = event_record(CmEventType::ConnectRequest, 0x8000_0001, 0x11);
    req.listen_id = l.entry.object;
    req.ird = 4;
    req.ord = 2;
    req.private_data = hal::PrivateData::new(b"pd").unwrap();
    dev.push_cm(&req);
    let mut req2 = req;
    req2.conn_id = 0x8000_0002;
    dev.push_cm(&req2);
    nic.interrupt();
    let ev = events(&nic);
    let conn = match ev[..] {
        [HalEvent::Cm(CmEvent::ConnectRequest {
            listen_ctx: 0x11,
            conn,
            local: l,
            remote: r,
            ird: 4,
            ord: 2,
            private_data,
        }), HalEvent::Cm(CmEvent::ConnectRequest { conn: conn2, .. })] => {
            assert_eq!((l, r), (local(445), peer(5000)));
            assert_eq!(private_data.as_slice(), b"pd");
            assert_eq!(conn2, ConnId(0x8000_0002));
            conn
        }
        ref other => panic!("{other:?}"),
    };
    nic.cm_attach(conn, 0x22);
    nic.cm_accept(conn, &q.parts.qp, 2, 2, b"welcome").unwrap();
    nic.cm_reject(ConnId(0x8000_0002), b"busy").unwrap();
    dev.step();
    let a = dev.last(Opcode::CmAccept);
    assert_eq!(a.entry.object, conn.0);
    let r = mailbox_record(&a);
    assert_eq!((r.local_qpn, r.ird, r.ord, r.context), (q.qpn, 2, 2, 0x22));
    assert_eq!(r.private_data.as_slice(), b"welcome");
    let j = dev.last(Opcode::CmReject);
    assert_eq!(j.entry.object, 0x8000_0002);
    assert_eq!(mailbox_record(&j).private_data.as_slice(), b"busy");
    assert_eq!(
        nic.cm_reject(ConnId(0x8000_0002), &[0; 509]).err(),
        Some(HalError::InvalidParameter),
        "CAP_CM.MAX_PRIVATE_DATA = 508"
    );

    // Events before CM_ACCEPT's context carry the listen's; the driver maps them.
    dev.push_cm(&event_record(CmEventType::Established, conn.0, 0x11));
    let mut gone = event_record(CmEventType::Disconnected, conn.0, 0x11);
    gone.reason = reason::RESET;
    dev.push_cm(&gone);
    nic.interrupt();
    assert!(matches!(
        events(&nic)[..],
        [
            HalEvent::Cm(CmEvent::Established { ctx: 0x22 }),
            HalEvent::Cm(CmEvent::PeerDisconnected {
                ctx: 0x22,
                reason: 5
            })
        ]
    ));
    assert_eq!(dev.regs().cmev_ci.get(), 4, "§3.8: records consumed");
    nic.cm_stop_listen(listen);
    dev.step();
    assert_eq!(dev.last(Opcode::CmStopListen).entry.object, l.entry.object);
}

#[test]
fn requests_of_a_stopped_listen_are_withdrawn_and_released() {
    let (dev, nic) = bring_up();
    let listen = nic.cm_listen(local(445), 0x11).unwrap();
    dev.step();
    let id = dev.last(Opcode::CmListen).entry.object;
    let mut req = event_record(CmEventType::ConnectRequest, 0x8000_0007, 0x11);
    req.listen_id = id;
    dev.push_cm(&req);
    nic.interrupt();
    nic.cm_stop_listen(listen);
    assert!(events(&nic).is_empty(), "the queued request was withdrawn");
    dev.step();
    let rel = dev.last(Opcode::CmRelease);
    assert_eq!(rel.entry.object, 0x8000_0007);
}

#[test]
fn released_and_aborted_connections_report_nothing_more() {
    let (dev, nic) = bring_up();
    dev.push_cm(&event_record(CmEventType::Disconnected, 3, 1));
    nic.cm_release(ConnId(3));
    nic.interrupt();
    run(&dev, &nic);
    assert!(events(&nic).is_empty());
    assert_eq!(dev.last(Opcode::CmRelease).entry.object, 3);

    let q = qp(&dev, &nic, 4);
    nic.set_neighbor(PEER_IP, PEER_MAC).unwrap();
    let conn = nic
        .cm_connect(&q.parts.qp, local(0), peer(445), 1, 1, b"", 9)
        .unwrap();
    dev.push_cm(&event_record(CmEventType::ConnectReply, conn.0, 9));
    nic.interrupt();
    nic.cm_abort(conn).unwrap();
    dev.push_cm(&event_record(CmEventType::Disconnected, conn.0, 9));
    run(&dev, &nic);
    assert!(events(&nic).is_empty(), "§8.3: no event after CM_ABORT");
    let a = dev.last(Opcode::CmAbort);
    assert_eq!(a.entry.object, conn.0);
    assert_eq!(
        nic.cm_abort(ConnId(0x1234)).err(),
        Some(HalError::InvalidParameter)
    );
}

// --- Raw Ethernet queue and addresses (§5.9, §11.11) ---

#[test]
fn raw_queue_posts_rings_polls_and_arms() {
    let (dev, nic) = bring_up();
    let mut q = nic.create_eth_queue(4, 4, 0xE7).unwrap();
    let e = dev.last(Opcode::CreateRawq);
    assert_eq!(e.entry.object, 0, "revision 1: raw queue 0");
    let Command::CreateRawq(p) = e.entry.command else {
        unreachable!()
    };
    assert_eq!(
        (p.log2_sq_depth, p.log2_rq_depth, p.log2_cq_size),
        (2, 2, 3)
    );
    assert_eq!(p.rawq_context.get(), 0xE7);
    assert_eq!(
        nic.create_eth_queue(4, 4, 1).err(),
        Some(HalError::NoResources),
        "one raw queue"
    );
    let frags = [
        EthBuffer {
            addr: 0x1000,
            len: 14,
        },
        EthBuffer {
            addr: 0x2000,
            len: 46,
        },
    ];
    nic.post_eth_send(&mut q, &frags, 0x51).unwrap();
    nic.post_eth_recv(
        &mut q,
        EthBuffer {
            addr: 0x3000,
            len: 1518,
        },
        0x52,
    )
    .unwrap();
    assert_eq!(dev.doorbell(0, regs::DB_RAW_SQ_PI), 0, "not rung yet");
    nic.ring_eth(&mut q);
    assert_eq!(dev.doorbell(0, regs::DB_RAW_SQ_PI), 1);
    assert_eq!(dev.doorbell(0, regs::DB_RAW_RQ_PI), 1);
    let mut d = [0u8; 64];
    dma_read(p.sq_addr.get(), &mut d);
    let desc = RawSendDesc::decode(&d);
    assert_eq!(
        (desc.token, desc.num_frags, desc.frame_len()),
        (0x51, 2, 60)
    );
    // The device completes the receive, then the send.
    let cq = p.cq_addr.get();
    let rx = RawCqe {
        token: 0x52,
        byte_count: 60,
        index: 0,
        status: RawStatus::Ok,
        receive: true,
    };
    let tx = RawCqe {
        token: 0x51,
        byte_count: 0,
        index: 0,
        status: RawStatus::LinkDown,
        receive: false,
    };
    dma_write(cq, &rx.encode(true));
    dma_write(cq + RAW_CQE_SIZE as u64, &tx.encode(true));
    let mut out = [EthCompletion::Sent { token: 0, ok: true }; 4];
    assert_eq!(nic.poll_eth(&mut q, &mut out), 2);
    assert_eq!(
        out[..2],
        [
            EthCompletion::Received {
                token: 0x52,
                len: 60,
                ok: true
            },
            EthCompletion::Sent {
                token: 0x51,
                ok: false
            }
        ]
    );
    nic.arm_eth(&mut q);
    assert_eq!(dev.doorbell(0, regs::DB_RAW_CQ_ARM), 2 | 1 << 24);
    dev.push(eqe(EventType::RawNotify, 0, 0, 0xE7));
    dev.push(eqe(EventType::PortChange, 0, 0, 0));
    nic.interrupt();
    assert!(matches!(
        events(&nic)[..],
        [
            HalEvent::EthNotify { ctx: 0xE7 },
            HalEvent::EthNotify { ctx: 0xE7 }
        ]
    ));
    nic.set_eth_filter(EthFilter::DIRECTED | EthFilter::BROADCAST)
        .unwrap();
    nic.flush_eth(&mut q);
    assert_eq!(
        nic.post_eth_recv(&mut q, EthBuffer { addr: 0, len: 64 }, 1),
        Err(HalError::InvalidState)
    );
    nic.destroy_eth_queue(q);
    let Command::SetRxFilter(f) = dev.last(Opcode::SetRxFilter).entry.command else {
        unreachable!()
    };
    assert_eq!(f.value.get(), 0b11);
    assert_eq!(dev.count(Opcode::FlushRawq), 1);
    assert_eq!(dev.count(Opcode::DestroyRawq), 1);
    let link = nic.link_state();
    assert!(link.up);
    assert_eq!(link.speed_bps, 100_000_000_000);
    assert_eq!(nic.mtu(), 1500);
}

#[test]
fn local_addresses_follow_the_interface_and_clear_the_rest() {
    let (dev, nic) = bring_up();
    let v6: IpAddr = "fe80::1".parse().unwrap();
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    nic.set_local_addresses(&[other, v6, other]).unwrap();
    nic.set_local_addresses(&[v6]).unwrap();
    dev.step();
    let sets: Vec<_> = dev
        .commands()
        .into_iter()
        .filter_map(|c| match c.entry.command {
            Command::SetAddr(p) => Some((c.entry.object, p.addr_type, p.addr)),
            _ => None,
        })
        .collect();
    // Bring-up's entry 0, then [other, v6], then [v6] and a clear of entry 1.
    assert_eq!(sets.len(), 5);
    assert_eq!(sets[1], (0, 1, crate::cm::ip_bytes(other)));
    assert_eq!(sets[2], (1, 2, crate::cm::ip_bytes(v6)));
    assert_eq!(sets[3], (0, 2, crate::cm::ip_bytes(v6)));
    assert_eq!(sets[4], (1, 0, [0; 16]), "entry 1 cleared");
    assert!(nic.is_local_address(&v6));
    assert!(!nic.is_local_address(&other));
    assert!(!nic.is_local_address(&LOCAL_IP));
}

// --- A dead device (§3.5 FATAL, surprise removal): the driver flushes in software ---

/// A QP on a CQ whose polling side the test keeps.
fn qp_on_cq(
    dev: &Dev,
    nic: &IwarpNic<MockPlatform>,
) -> (Qp, hal::CqParts<IwarpNic<MockPlatform>>, CqParams) {
    let pd = nic.create_pd().unwrap();
    let (cq, _) = nic.create_cq(64, 0, CmdToken(1)).unwrap();
    run(dev, nic);
    let (_, cq_params) = create_cq_params(dev);
    let params = QpParams {
        pd: &pd,
        send_cq: &cq.cq,
        recv_cq: &cq.cq,
        srq: None,
        sq_depth: 4,
        rq_depth: 4,
        max_send_sge: 1,
        max_recv_sge: 1,
        max_inline: 0,
        context: 0x99,
    };
    let (parts, _) = nic.create_qp(&params, CmdToken(2)).unwrap();
    run(dev, nic);
    let _ = events(nic);
    let (qpn, _, create) = create_qp_params(dev);
    (Qp { parts, qpn, create }, cq, cq_params)
}

#[test]
fn a_fatal_device_completes_every_outstanding_request_once_as_flushed() {
    let (dev, nic) = bring_up();
    let (mut q, mut cq, cq_params) = qp_on_cq(&dev, &nic);
    let sge = [];
    nic.post_send(&mut q.parts.sq, &send(1, &sge)).unwrap();
    let mut quiet = send(2, &sge);
    quiet.flags = WrFlags::empty();
    nic.post_send(&mut q.parts.sq, &quiet).unwrap();
    nic.post_send(&mut q.parts.sq, &send(3, &sge)).unwrap();
    nic.ring_sq(&mut q.parts.sq);
    for wr_id in [10, 11] {
        let rq = q.parts.rq.as_mut().unwrap();
        nic.post_recv(rq, &RecvWr { wr_id, sgl: &[] }).unwrap();
    }
    // The device completes WQE 0, then dies.
    let done = Cqe {
        status: CqeStatus::Success,
        syndrome: 0,
        ..Cqe::flushed(1, 0x99, q.qpn, 0, CqeOpcode::Send)
    };
    dma_write(cq_params.ring_addr.get(), &done.encode(true));
    dev.regs()
        .status
        .write(STATUS::READY::SET + STATUS::ENABLED::SET + STATUS::FATAL::SET);
    dev.regs().int_cause.set(1 << 3);
    nic.interrupt();
    assert!(matches!(events(&nic)[..], [HalEvent::DeviceFatal, ..]));
    // A request posted after the death completes too.
    nic.post_send(&mut q.parts.sq, &send(4, &sge)).unwrap();
    let mut out = [Completion::EMPTY; 16];
    let n = nic.poll_cq(&mut cq.poller, &mut out);
    let got: Vec<_> = out[..n].iter().map(|c| (c.wr_id, c.status)).collect();
    assert_eq!(
        got,
        [
            (1, WcStatus::Success),
            (2, WcStatus::Flushed),
            (3, WcStatus::Flushed),
            (4, WcStatus::Flushed),
            (10, WcStatus::Flushed),
            (11, WcStatus::Flushed),
        ],
        "the hardware's CQE, then every other request once, in post order per queue"
    );
    assert_eq!(out[4].opcode, WcOpcode::Receive);
    assert_eq!(out[1].qp_context, 0x99);
    assert_eq!(nic.poll_cq(&mut cq.poller, &mut out), 0, "exactly once");
    // Slots are free again without the device: the SQ takes a full depth of new WQEs.
    for i in 0..4 {
        nic.post_send(&mut q.parts.sq, &send(20 + i, &sge)).unwrap();
    }
    assert_eq!(nic.poll_cq(&mut cq.poller, &mut out), 4);
    // Destroys complete at once on a dead device.
    assert!(matches!(
        nic.destroy_qp(q.parts, CmdToken(5)),
        Cmd::Done(())
    ));
}

#[test]
fn a_surprise_removed_device_reports_device_removed_and_flushes() {
    let (dev, nic) = bring_up();
    let (mut q, mut cq, _) = qp_on_cq(&dev, &nic);
    let rq = q.parts.rq.as_mut().unwrap();
    nic.post_recv(rq, &RecvWr { wr_id: 7, sgl: &[] }).unwrap();
    // The function is gone: its registers read all ones.
    dev.regs().status.set(u32::MAX);
    nic.flush_qp(&q.parts.qp);
    assert!(matches!(events(&nic)[..], [HalEvent::DeviceRemoved, ..]));
    let mut out = [Completion::EMPTY; 4];
    assert_eq!(nic.poll_cq(&mut cq.poller, &mut out), 1);
    assert_eq!((out[0].wr_id, out[0].status), (7, WcStatus::Flushed));
    assert_eq!(nic.create_pd().err(), Some(HalError::Fatal));
}

#[test]
fn tcp_timers_are_set_with_a_waited_for_set_tcp_params() {
    let (dev, nic) = bring_up();
    let t = super::TcpTimers {
        rto_min_us: 1_000,
        rto_init_us: 5_000,
        syn_retries: 2,
        mpa_timeout_ms: 50,
        ..Default::default()
    };
    nic.set_tcp_params(&t).unwrap();
    let e = dev.last(Opcode::SetTcpParams);
    let Command::SetTcpParams(p) = e.entry.command else {
        unreachable!()
    };
    assert_eq!(
        (p.rto_min_us.get(), p.rto_max_us.get()),
        (1_000, 0),
        "0 keeps"
    );
    assert_eq!((p.rto_init_us.get(), p.syn_retries), (5_000, 2));
    assert_eq!((p.mpa_timeout_ms.get(), p.time_wait_ms.get()), (50, 0));
    assert!(!e.entry.silent, "the driver waits for its completion");
    dev.fail_next(Opcode::SetTcpParams, CmdStatus::BadParam);
    assert_eq!(
        nic.set_tcp_params(&t).err(),
        Some(HalError::InvalidParameter)
    );
    assert!(events(&nic).is_empty(), "the driver's own completions");
}

// --- The control-path tests both silicons share (`hal::queue::testkit`) ---

/// The register of a doorbell block the shared tests name.
fn doorbell_reg(which: Doorbell) -> usize {
    match which {
        Doorbell::SqPi => regs::DB_SQ_PI,
        Doorbell::RqPi => regs::DB_RQ_PI,
        Doorbell::CqArm => regs::DB_CQ_ARM,
        Doorbell::SrqPi => regs::DB_SRQ_PI,
    }
}

/// This silicon's fake device for the shared tests.
#[derive(Clone)]
struct Fake(Arc<Dev>);

impl FakeDevice for Fake {
    const FIRST_QPN: u32 = 1;

    type Nic = IwarpNic<MockPlatform>;

    fn fresh() -> Self {
        Fake(Dev::new())
    }

    fn new_nic(&self, platform: MockPlatform) -> HalResult<IwarpNic<MockPlatform>> {
        IwarpNic::new(platform, self.0.mem0.region(), self.0.mem2.region())
    }

    fn bring_up() -> (Self, IwarpNic<MockPlatform>) {
        let (dev, nic) = bring_up();
        (Fake(dev), nic)
    }

    fn step(&self) {
        self.0.step();
    }

    fn interrupt(nic: &IwarpNic<MockPlatform>) {
        nic.interrupt();
    }

    fn last_created_cq(&self) -> CreatedCq {
        let (cqn, p) = create_cq_params(&self.0);
        CreatedCq {
            cqn,
            log2_size: p.log2_size,
            context: p.cq_context.get(),
            ring_addr: p.ring_addr.get(),
            dbrec_addr: p.dbrec_addr.get(),
        }
    }

    fn last_created_qp(&self) -> CreatedQp {
        let (qpn, _, p) = create_qp_params(&self.0);
        CreatedQp {
            qpn,
            record_addr: p.record_addr.get(),
            buf_addr: p.buf_addr.get(),
            // §6.4.6: the RQ ring follows the SQ ring in the queue buffer.
            rq_addr: p.buf_addr.get() + (1u64 << (p.log2_sq_depth + p.log2_sq_stride)),
            rq_stride: 1 << p.log2_rq_stride,
            log2_sq_depth: p.log2_sq_depth,
            log2_sq_stride: p.log2_sq_stride,
        }
    }

    fn write_recv_cqe(&self, cq: &CreatedCq, n: u32) {
        let cqe = Cqe {
            wr_id: u64::from(n),
            qp_context: 0xAA,
            byte_count: n * 10,
            invalidated_stag: 0,
            qpn: 2,
            srqn: 0,
            syndrome: 0,
            wqe_index: n as u16,
            term: None,
            status: CqeStatus::Success,
            opcode: CqeOpcode::Recv,
            flags: CqeFlags::empty(),
        };
        let slot = ring::slot(n, cq.log2_size);
        let raw = cqe.encode(ring::owner_bit(n, cq.log2_size));
        dma_write(cq.ring_addr + (slot * CQE_SIZE) as u64, &raw);
    }

    fn decode_recv_wqe(slot: &[u8]) -> Option<testkit::SeenRecv> {
        let w = RecvWqe::decode(slot).ok()?;
        Some(testkit::SeenRecv {
            wr_id: w.wr_id,
            wqe_index: w.wqe_index,
            sges: w.segments().map(|d| (d.addr, d.length, d.stag)).collect(),
        })
    }

    fn decode_send_wqe(slot: &[u8]) -> Option<SeenSend> {
        let w = SendWqe::decode(slot).ok()?;
        let op = match w.op {
            SendWqeOp::Send { .. } => SeenWqe::Send,
            SendWqeOp::Write {
                remote,
                payload: WqePayload::Inline(d),
            } => SeenWqe::WriteInline {
                data: d.to_vec(),
                key: remote.remote_stag,
            },
            SendWqeOp::FastReg {
                seg,
                pages: FastRegPages::Host { addr, count },
            } => SeenWqe::FastRegHost {
                key: seg.stag,
                addr,
                count,
            },
            SendWqeOp::FastReg {
                seg,
                pages: FastRegPages::Inline(_),
            } => SeenWqe::FastRegInline { key: seg.stag },
            SendWqeOp::LocalInv => SeenWqe::LocalInv(w.ctrl.inv_stag),
            _ => SeenWqe::Other,
        };
        Some(SeenSend {
            wqe_index: w.ctrl.wqe_index,
            wr_id: w.ctrl.wr_id,
            op,
        })
    }

    fn flushed_send_cqe(wr_id: u64) -> Vec<u8> {
        Cqe::flushed(wr_id, 0, 2, 0, CqeOpcode::Send)
            .encode(true)
            .to_vec()
    }

    fn resize_marker_cqe() -> Vec<u8> {
        Cqe::RESIZE_MARKER.encode(true).to_vec()
    }

    fn fail_next_cm_connect_unreachable(&self) {
        self.0.fail_next(Opcode::CmConnect, CmdStatus::Unreachable);
    }

    fn connect_addresses(nic: &IwarpNic<MockPlatform>) -> (SocketAddr, SocketAddr) {
        nic.set_neighbor(PEER_IP, PEER_MAC).unwrap();
        (local(0), peer(445))
    }

    fn doorbell(&self, n: u32, which: Doorbell) -> u32 {
        self.0.doorbell(n, doorbell_reg(which))
    }

    fn executed(&self) -> Vec<testkit::Executed> {
        let kind = |c: &Executed| match c.entry.command {
            Command::ModifyQp(_) => testkit::Executed::ModifyQp(c.entry.object),
            Command::DestroyQp => testkit::Executed::DestroyQp(c.entry.object),
            Command::RegisterMr(r) => testkit::Executed::RegisterMr {
                pbl_levels: r.pbl_levels,
                pbl_addr: r.pbl_addr.get(),
            },
            Command::ResizeCq(r) => testkit::Executed::ResizeCq {
                log2_size: r.log2_size,
                ring_addr: r.ring_addr.get(),
            },
            Command::CmConnect(_) => testkit::Executed::CmConnect(c.entry.object),
            Command::CreateSrq(p) => testkit::Executed::CreateSrq {
                srqn: c.entry.object,
                context: p.srq_context.get(),
                record_addr: p.record_addr.get(),
            },
            Command::ModifySrq(p) => testkit::Executed::ModifySrqLimit(p.value.get()),
            _ => testkit::Executed::Other,
        };
        self.0.commands().iter().map(kind).collect()
    }

    fn fail_next_create_cq_with_limit(&self) {
        self.0.fail_next(Opcode::CreateCq, CmdStatus::Limit);
    }

    fn set_revision(&self, value: u32) {
        self.0.regs().revision.set(value);
    }

    fn push_device_fatal(&self) {
        let mut fatal = eqe(EventType::DeviceFatal, 0, 0, 0);
        fatal.syndrome = 1;
        self.0.push(fatal);
    }
}

hal::shared_driver_tests!(Fake);
