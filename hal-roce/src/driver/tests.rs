//! Unit tests of the driver without the device model: a minimal fake device (reset, enable,
//! admin commands completed through the EQ) stepped from `MockPlatform`'s stall hook, and
//! CQEs / CM events written by hand into the driver's rings. In the mock, bus addresses are
//! host addresses, so the fake device reads and writes DMA memory through raw pointers.

extern crate std;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::boxed::Box;
use std::sync::Mutex;

use hal::fake_bar::{dma_read, dma_write, FakeBar};
use hal::mock::MockPlatform;
use hal::queue::testkit::{
    self, send, CreatedCq, CreatedQp, Doorbell, FakeDevice, SeenSend, SeenWqe,
};
use hal::{
    Access, CmEvent, Cmd, CmdToken, CmdValue, Completion, HalError, HalEvent, HalResult,
    MmioRegion, NicHal, QpParams, RecvWr, Registration, SendOp, SendWr, Sge, WcOpcode, WcStatus,
    WrFlags,
};
use tock_registers::interfaces::{Readable, Writeable};

use super::RoceNic;
use crate::admin::{CmdEntry, CmdFlags, CmdStatus, Command, CreateCq, CreateQp, Opcode};
use crate::caps::DeviceAttrs;
use crate::cm::{CmAddresses, CmEventType, CmRecord, CM_RECORD_SIZE};
use crate::cqe::{Cqe, CqeFlags, CqeOpcode, CqeStatus, CQE_SIZE};
use crate::eqe::{Eqe, EQE_SIZE};
use crate::regs::{self, Bar0, CTRL, STATUS};
use crate::wqe::{RecvWqe, SendWqe, SendWqeOp, WqePayload};

type Bar = FakeBar;

#[derive(Default)]
struct DevState {
    admq_ci: u16,
    eq_pi: u32,
    cmev_pi: u16,
    commands: Vec<CmdEntry>,
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

impl Dev {
    fn new() -> Arc<Dev> {
        let mem0 = Bar::new();
        let mem2 = Bar::new();
        let bar0 = mem0.region();
        let dev = Dev {
            mem0,
            mem2,
            bar0,
            state: Mutex::new(DevState::default()),
        };
        let mut attrs = DeviceAttrs::REFERENCE;
        attrs.db_pages = 16;
        attrs.write(dev.regs());
        dev.regs().status.write(STATUS::READY::SET);
        Arc::new(dev)
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
        let slot = crate::ring::slot(st.eq_pi, log2);
        let raw = e.encode(crate::ring::owner_bit(st.eq_pi, log2));
        dma_write(self.eq_base() + (slot * EQE_SIZE) as u64, &raw);
        st.eq_pi = crate::ring::advance24(st.eq_pi, 1);
        self.regs().int_cause.set(self.regs().int_cause.get() | 1);
    }

    /// Writes a CM record and its CM_EVENT EQE (§8.4).
    fn push_cm(&self, r: &CmRecord) {
        let mut st = self.state.lock().unwrap();
        let base = u64::from(self.regs().cmev_base_lo.get())
            | u64::from(self.regs().cmev_base_hi.get()) << 32;
        let log2 = self.regs().cmev_size.get() as u8;
        let index = st.cmev_pi;
        let slot = crate::ring::slot(u32::from(index), log2);
        dma_write(base + (slot * CM_RECORD_SIZE) as u64, &r.encode());
        st.cmev_pi = st.cmev_pi.wrapping_add(1);
        let e = Eqe::Cm {
            conn_id: r.conn_id,
            context: r.context,
            event: r.event.unwrap(),
            record_index: index,
        };
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
            let slot = crate::ring::slot(u32::from(st.admq_ci), log2);
            let mut raw = [0u8; 64];
            dma_read(base + (slot * 64) as u64, &mut raw);
            let entry = CmdEntry::decode(&raw).expect("the driver writes valid entries");
            let op = entry.command.opcode();
            let status = match st.fail.iter().position(|(o, _)| *o == op) {
                Some(i) => st.fail.remove(i).1,
                None => CmdStatus::Ok,
            };
            let key = entry.command.object();
            if !(entry.flags.contains(CmdFlags::SILENT) && status == CmdStatus::Ok) {
                let e = Eqe::CmdComplete {
                    token: entry.token,
                    opcode: op as u8,
                    status,
                    object: key,
                    output: [key, key],
                    syndrome: 0,
                };
                self.push_eqe(&mut st, &e);
            }
            st.commands.push(entry);
            st.admq_ci = st.admq_ci.wrapping_add(1);
            r.admq_ci.set(u32::from(st.admq_ci));
        }
    }

    fn commands(&self) -> Vec<CmdEntry> {
        self.state.lock().unwrap().commands.clone()
    }

    fn fail_next(&self, op: Opcode, status: CmdStatus) {
        self.state.lock().unwrap().fail.push((op, status));
    }
}

fn bring_up() -> (Arc<Dev>, RoceNic<MockPlatform>) {
    let dev = Dev::new();
    let platform = MockPlatform::new();
    let d = dev.clone();
    platform.set_stall_hook(Some(Arc::new(move |_| d.step())));
    let bar2 = dev.mem2.region();
    let addrs = [IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1))];
    let cfg = super::BringUpConfig {
        mtu: 4200,
        addresses: &addrs,
    };
    let nic = RoceNic::with_config(platform, dev.mem0.region(), bar2, &cfg).expect("bring-up");
    (dev, nic)
}

/// Steps the fake device and runs the ISR, as a model raising the line would.
fn run(dev: &Dev, nic: &RoceNic<MockPlatform>) {
    dev.step();
    nic.interrupt();
}

fn events(nic: &RoceNic<MockPlatform>) -> Vec<HalEvent> {
    core::iter::from_fn(|| nic.next_event()).collect()
}

fn last_create_cq(dev: &Dev) -> CreateCq {
    dev.commands()
        .iter()
        .rev()
        .find_map(|c| match c.command {
            Command::CreateCq(p) => Some(p),
            _ => None,
        })
        .unwrap()
}

fn last_create_qp(dev: &Dev) -> CreateQp {
    dev.commands()
        .iter()
        .rev()
        .find_map(|c| match c.command {
            Command::CreateQp(p) => Some(p),
            _ => None,
        })
        .unwrap()
}

#[test]
fn bring_up_follows_section_11_1() {
    let (dev, nic) = bring_up();
    let r = dev.regs();
    assert!(r.status.is_set(STATUS::ENABLED));
    assert_eq!(r.int_mask.get(), 0, "step 8: all causes unmasked");
    assert_eq!(r.admq_ctrl.get(), 1);
    assert_eq!(r.eq_ctrl.get(), 1);
    assert_eq!(r.cmev_ctrl.get(), 1);
    assert_ne!(r.eq_ci.get() & 1 << 31, 0, "step 10: the EQ is armed");
    let cmds = dev.commands();
    assert!(matches!(cmds[0].command, Command::SetMtu { mtu: 4200 }));
    assert!(matches!(cmds[1].command, Command::SetGid { index: 0, .. }));
    assert!(nic.is_local_address(&IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1))));
    assert_eq!(
        nic.caps().max_qp_count,
        16 * 64 - 2,
        "QPNs need doorbell blocks"
    );
    assert_eq!(nic.privileged_lkey(), crate::key::PRIVILEGED_LKEY);
    assert!(
        events(&nic).is_empty(),
        "bring-up completions are the driver's"
    );
}

#[test]
fn error_cqes_report_status_and_syndrome() {
    let (dev, nic) = bring_up();
    let (mut parts, _) = nic.create_cq(7, 0, CmdToken(1)).unwrap();
    run(&dev, &nic);
    let p = last_create_cq(&dev);
    let cqe = Cqe::flushed(9, 0xAB, 2, 0, CqeOpcode::Send);
    dma_write(p.ring_addr, &cqe.encode(true));
    let mut out = [Completion::EMPTY; 2];
    assert_eq!(nic.poll_cq(&mut parts.poller, &mut out), 1);
    assert_eq!(out[0].status, WcStatus::Flushed);
    assert_eq!(out[0].vendor_error, crate::cqe::syndrome::FLUSH);
    assert_eq!(out[0].qp_context, 0xAB);
}

struct Qp {
    parts: hal::QpParts<RoceNic<MockPlatform>>,
    create: CreateQp,
}

fn qp(dev: &Arc<Dev>, nic: &RoceNic<MockPlatform>, sq_depth: u32) -> Qp {
    let parts = testkit::qp(&Fake(dev.clone()), nic, sq_depth).parts;
    Qp {
        parts,
        create: last_create_qp(dev),
    }
}

#[test]
fn read_wqe_carries_the_sinks_and_remote_address() {
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
    let wr = SendWr {
        wr_id: 5,
        op: SendOp::Read {
            sgl: &sinks,
            remote_addr: 0x9000,
            rkey: 0x601,
        },
        flags: WrFlags::SIGNALED | WrFlags::READ_FENCE,
    };
    nic.post_send(&mut q.parts.sq, &wr).unwrap();
    let mut slot = [0u8; 128];
    dma_read(q.create.buf_addr, &mut slot);
    match SendWqe::decode(&slot).unwrap().op {
        SendWqeOp::Read { remote, sinks } => {
            assert_eq!(remote.remote_addr, 0x9000);
            assert_eq!(sinks.len(), 2);
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
    assert!(matches!(last.command, Command::ModifyQp { .. }));
    assert!(last.flags.contains(CmdFlags::SILENT));
    assert_ne!(last.token & crate::admin::INTERNAL_TOKEN_BIT, 0);
}

#[test]
fn register_mr_builds_a_page_list_and_completes_with_the_keys() {
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
    let r = dev
        .commands()
        .iter()
        .find_map(|c| match c.command {
            Command::RegisterMr(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(r.pbl_levels, 1);
    assert_eq!(r.page_count, 3);
    let mut list = [0u8; 24];
    dma_read(r.pbl_addr, &mut list);
    assert_eq!(
        u64::from_le_bytes(list[8..16].try_into().unwrap()),
        0x30_0000
    );
    nic.interrupt();
    let k = r.key.0;
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(9),
            result: Ok(CmdValue::Keys(a, b))
        }] if a == k && b == k
    ));
    let alloc_key = dev
        .commands()
        .iter()
        .find_map(|c| match c.command {
            Command::AllocMr { key, .. } => Some(key),
            _ => None,
        })
        .unwrap();
    assert_eq!(alloc_key.index(), r.key.index());
    assert_ne!(
        alloc_key, r.key,
        "§5.2: every registration takes a new variant"
    );
}

#[test]
fn cm_events_become_hal_events_with_the_attached_context() {
    let (dev, nic) = bring_up();
    let local: SocketAddr = "192.168.1.1:445".parse().unwrap();
    let remote: SocketAddr = "192.168.1.2:5000".parse().unwrap();
    let _listen = nic.cm_listen(local, 0x11).unwrap();
    assert_eq!(
        nic.cm_listen(local, 0x12).err(),
        Some(HalError::AddressInUse)
    );
    run(&dev, &nic);
    let mut req = CmRecord::EMPTY;
    req.conn_id = 0x8000_0001;
    req.event = Some(CmEventType::ConnectRequest);
    req.context = 0x11;
    req.addresses = Some(CmAddresses { local, remote });
    req.ird = 4;
    req.ord = 2;
    req.set_private_data(b"pd").unwrap();
    dev.push_cm(&req);
    nic.interrupt();
    let ev = events(&nic);
    let conn = match ev[..] {
        [HalEvent::Cm(CmEvent::ConnectRequest {
            listen_ctx: 0x11,
            conn,
            ird: 4,
            ord: 2,
            private_data,
            ..
        })] => {
            assert_eq!(private_data.as_slice(), b"pd");
            conn
        }
        ref other => panic!("{other:?}"),
    };
    nic.cm_attach(conn, 0x22);
    // An ACCEPT_FAILED before CM_ACCEPT carries the listen context; the driver maps it.
    let mut failed = CmRecord::EMPTY;
    failed.conn_id = conn.0;
    failed.event = Some(CmEventType::AcceptFailed);
    failed.context = 0x11;
    failed.reason = crate::cm::reason::ABORTED;
    dev.push_cm(&failed);
    nic.interrupt();
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::Cm(CmEvent::AcceptFailed {
            ctx: 0x22,
            error: HalError::ConnectionAborted
        })]
    ));
    assert_eq!(dev.regs().cmev_ci.get(), 2, "§3.8: records consumed");
}

#[test]
fn released_connections_report_nothing_more() {
    let (dev, nic) = bring_up();
    let mut r = CmRecord::EMPTY;
    r.conn_id = 3;
    r.event = Some(CmEventType::Disconnected);
    r.context = 1;
    dev.push_cm(&r);
    nic.cm_release(hal::ConnId(3));
    nic.interrupt();
    run(&dev, &nic);
    assert!(events(&nic).is_empty());
}

#[test]
fn cq_events_carry_the_cq_context() {
    let (dev, nic) = bring_up();
    let mut st = dev.state.lock().unwrap();
    dev.push_eqe(
        &mut st,
        &Eqe::CqNotify {
            cqn: 0,
            cq_context: 0xCC,
            arm_sn: 1,
        },
    );
    dev.push_eqe(
        &mut st,
        &Eqe::QpError {
            qpn: 2,
            qp_context: 0xDD,
            kind: crate::eqe::QpErrorKind::Remote,
            syndrome: crate::cqe::syndrome::NAK_REMOTE_ACCESS,
        },
    );
    drop(st);
    nic.interrupt();
    assert!(matches!(
        events(&nic)[..],
        [
            HalEvent::CqNotify { cq_ctx: 0xCC },
            HalEvent::QpError { qp_ctx: 0xDD }
        ]
    ));
}

#[test]
fn object_counts_are_scaled_to_the_eq_sizing_rule() {
    let attrs = DeviceAttrs::REFERENCE;
    let (caps, limits) = super::bringup::derive_caps(&attrs, 1 << 20, 1 << 14, 336);
    let need = 2 * u64::from(limits.cq) + 2 * u64::from(limits.srq) + u64::from(limits.qp);
    assert!(need + 336 <= 1 << 14, "§5.7: the EQ never overflows");
    assert_eq!(caps.max_qp_count, limits.qp - 2);
    assert!(caps.max_cq_count > 0 && caps.max_srq_count > 0);
}

/// A dead device's queues are flushed by the poller from their rings, after the CQEs the
/// device did write: a signaled WQE the device retired (SQ_CI passed it) without writing its
/// CQE completes FLUSHED; an unsignaled one it retired succeeded silently and completes never;
/// a CQE written after the flush began is not reported again.
#[test]
fn a_dead_device_is_flushed_from_the_rings_after_the_cqes_it_wrote() {
    let (dev, nic) = bring_up();
    let pd = nic.create_pd().unwrap();
    let (mut cq, _) = nic.create_cq(64, 0, CmdToken(1)).unwrap();
    run(&dev, &nic);
    let ring = last_create_cq(&dev).ring_addr;
    let params = QpParams {
        pd: &pd,
        send_cq: &cq.cq,
        recv_cq: &cq.cq,
        srq: None,
        sq_depth: 8,
        rq_depth: 4,
        max_send_sge: 2,
        max_recv_sge: 2,
        max_inline: 64,
        context: 0x99,
    };
    let (mut parts, _) = nic.create_qp(&params, CmdToken(2)).unwrap();
    run(&dev, &nic);
    let _ = events(&nic);
    let c = last_create_qp(&dev);
    let sge = [];
    for (i, signaled) in [true, false, true, false, false, true]
        .into_iter()
        .enumerate()
    {
        let mut wr = send(100 + i as u64, &sge);
        if !signaled {
            wr.flags = WrFlags::empty();
        }
        nic.post_send(&mut parts.sq, &wr).unwrap();
    }
    nic.ring_sq(&mut parts.sq);
    let rq = parts.rq.as_mut().unwrap();
    for id in [200, 201] {
        nic.post_recv(
            rq,
            &RecvWr {
                wr_id: id,
                sgl: &sge,
            },
        )
        .unwrap();
    }
    // The device completed SQ WQE 0 and RQ WQE 0, retired SQ WQEs 0–3, consumed both
    // receives, then died.
    let cqe = |n: u32, wr_id: u64, wqe_index: u16, opcode: CqeOpcode| {
        let e = Cqe {
            wr_id,
            qp_context: 0x99,
            byte_count: 0,
            invalidated_rkey: 0,
            qpn: c.qpn,
            srqn: 0,
            syndrome: 0,
            wqe_index,
            status: CqeStatus::Success,
            opcode,
            flags: CqeFlags::empty(),
        };
        let raw = e.encode(crate::ring::owner_bit(n, 7));
        dma_write(ring + (crate::ring::slot(n, 7) * CQE_SIZE) as u64, &raw);
    };
    cqe(0, 100, 0, CqeOpcode::Send);
    cqe(1, 200, 0, CqeOpcode::Recv);
    dma_write(c.record_addr, &4u32.to_le_bytes());
    dma_write(c.record_addr + 4, &2u32.to_le_bytes());
    let mut st = dev.state.lock().unwrap();
    dev.push_eqe(&mut st, &Eqe::DeviceFatal { fatal_code: 1 });
    drop(st);
    nic.interrupt();
    assert!(events(&nic)
        .iter()
        .any(|e| matches!(e, HalEvent::DeviceFatal)));

    let mut out = [Completion::EMPTY; 16];
    let n = nic.poll_cq(&mut cq.poller, &mut out);
    let got: Vec<(u64, WcStatus)> = out[..n].iter().map(|c| (c.wr_id, c.status)).collect();
    assert_eq!(
        got,
        [
            (100, WcStatus::Success),
            (200, WcStatus::Success),
            (102, WcStatus::Flushed),
            (104, WcStatus::Flushed),
            (105, WcStatus::Flushed),
            (201, WcStatus::Flushed),
        ]
    );
    assert!(out[..n].iter().all(|c| c.qp_context == 0x99));
    assert_eq!(out[4].opcode, WcOpcode::Send);
    assert_eq!(out[5].opcode, WcOpcode::Receive);
    // A late CQE of the dying device is not reported a second time.
    cqe(2, 105, 5, CqeOpcode::Send);
    assert_eq!(nic.poll_cq(&mut cq.poller, &mut out), 0);
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
    const FIRST_QPN: u32 = 2;

    type Nic = RoceNic<MockPlatform>;

    fn fresh() -> Self {
        Fake(Dev::new())
    }

    fn new_nic(&self, platform: MockPlatform) -> HalResult<RoceNic<MockPlatform>> {
        RoceNic::new(platform, self.0.mem0.region(), self.0.mem2.region())
    }

    fn bring_up() -> (Self, RoceNic<MockPlatform>) {
        let (dev, nic) = bring_up();
        (Fake(dev), nic)
    }

    fn step(&self) {
        self.0.step();
    }

    fn interrupt(nic: &RoceNic<MockPlatform>) {
        nic.interrupt();
    }

    fn last_created_cq(&self) -> CreatedCq {
        let p = last_create_cq(&self.0);
        CreatedCq {
            cqn: p.cqn,
            log2_size: p.log2_size,
            context: p.cq_context,
            ring_addr: p.ring_addr,
            dbrec_addr: p.dbrec_addr,
        }
    }

    fn last_created_qp(&self) -> CreatedQp {
        let p = last_create_qp(&self.0);
        CreatedQp {
            qpn: p.qpn,
            record_addr: p.record_addr,
            buf_addr: p.buf_addr,
            rq_addr: p.buf_addr + p.rq_offset().unwrap(),
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
            invalidated_rkey: 0,
            qpn: 2,
            srqn: 0,
            syndrome: 0,
            wqe_index: n as u16,
            status: CqeStatus::Success,
            opcode: CqeOpcode::Recv,
            flags: CqeFlags::empty(),
        };
        let slot = crate::ring::slot(n, cq.log2_size);
        let raw = cqe.encode(crate::ring::owner_bit(n, cq.log2_size));
        dma_write(cq.ring_addr + (slot * CQE_SIZE) as u64, &raw);
    }

    fn decode_recv_wqe(slot: &[u8]) -> Option<testkit::SeenRecv> {
        let w = RecvWqe::decode(slot).ok()?;
        let sges = (0..w.sges.len()).filter_map(|i| w.sges.get(i));
        Some(testkit::SeenRecv {
            wr_id: w.header.wr_id,
            wqe_index: w.header.wqe_index,
            sges: sges.map(|d| (d.addr, d.length, d.lkey)).collect(),
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
                key: remote.rkey,
            },
            SendWqeOp::FastReg {
                seg,
                pages: crate::wqe::FastRegPages::Host { addr, count },
            } => SeenWqe::FastRegHost {
                key: seg.key,
                addr,
                count,
            },
            SendWqeOp::FastReg {
                seg,
                pages: crate::wqe::FastRegPages::Inline(_),
            } => SeenWqe::FastRegInline { key: seg.key },
            SendWqeOp::LocalInv => SeenWqe::LocalInv(w.ctrl.inv_key),
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

    fn connect_addresses(_: &RoceNic<MockPlatform>) -> (SocketAddr, SocketAddr) {
        let local = "192.168.1.1:0".parse().unwrap();
        (local, "10.0.0.9:445".parse().unwrap())
    }

    fn doorbell(&self, n: u32, which: Doorbell) -> u32 {
        self.0.doorbell(n, doorbell_reg(which))
    }

    fn executed(&self) -> Vec<testkit::Executed> {
        let kind = |c: &CmdEntry| match c.command {
            Command::ModifyQp { qpn, .. } => testkit::Executed::ModifyQp(qpn),
            Command::DestroyQp { qpn } => testkit::Executed::DestroyQp(qpn),
            Command::RegisterMr(r) => testkit::Executed::RegisterMr {
                pbl_levels: r.pbl_levels,
                pbl_addr: r.pbl_addr,
            },
            Command::ResizeCq {
                log2_size,
                ring_addr,
                ..
            } => testkit::Executed::ResizeCq {
                log2_size,
                ring_addr,
            },
            Command::CmConnect { conn_id, .. } => testkit::Executed::CmConnect(conn_id),
            Command::CreateSrq(p) => testkit::Executed::CreateSrq {
                srqn: p.srqn,
                context: p.srq_context,
                record_addr: p.record_addr,
            },
            Command::ModifySrq { limit, .. } => testkit::Executed::ModifySrqLimit(limit),
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
        let mut st = self.0.state.lock().unwrap();
        self.0
            .push_eqe(&mut st, &Eqe::DeviceFatal { fatal_code: 1 });
    }
}

hal::shared_driver_tests!(Fake);
