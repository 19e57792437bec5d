//! Driver unit tests both reference silicons share (feature `mock`): each test body is written
//! once against [`FakeDevice`], and each driver crate runs every one on its own fake device
//! (the register block of [`crate::fake_bar`] plus just enough behaviour for the control path)
//! with [`shared_driver_tests!`](crate::shared_driver_tests). What differs between silicons
//! (command, CQE and WQE encodings) stays behind the trait; what the tests check is the shared
//! driver: completions through the EQ with the provider's token, ring and doorbell handling,
//! the admin ring's back-pressure, a dead or FATAL device, and object numbers freed only by a
//! completed destroy.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::SocketAddr;
use std::sync::Mutex;

use crate::fake_bar::{dma_read, dma_write};
use crate::mock::MockPlatform;
use crate::{
    Access, CmEvent, Cmd, CmdToken, CmdValue, Completion, HalError, HalEvent, HalResult, MrKind,
    NicHal, Payload, QpParams, QpParts, RecvWr, Registration, SendOp, SendWr, Sge, WcOpcode,
    WrFlags,
};

/// What the fake device saw of the last CREATE_CQ, in the silicon's own encoding's terms.
#[derive(Clone, Copy, Debug)]
pub struct CreatedCq {
    /// The CQ number (OBJECT).
    pub cqn: u32,
    /// LOG2_SIZE: ring entries.
    pub log2_size: u8,
    /// The provider's CQ context.
    pub context: u64,
    /// Bus address of the CQE ring.
    pub ring_addr: u64,
    /// Bus address of the CQ doorbell record.
    pub dbrec_addr: u64,
}

/// What the fake device saw of the last CREATE_QP.
#[derive(Clone, Copy, Debug)]
pub struct CreatedQp {
    /// The QP number.
    pub qpn: u32,
    /// Bus address of the QP record (SQ_CI in its first word).
    pub record_addr: u64,
    /// Bus address of the queue buffer (the SQ ring first, 128-byte slots).
    pub buf_addr: u64,
    /// Bus address of the RQ ring in the queue buffer.
    pub rq_addr: u64,
    /// Bytes of an RQ slot.
    pub rq_stride: usize,
    /// LOG2 of the SQ's depth.
    pub log2_sq_depth: u8,
    /// LOG2 of the SQ's slot size.
    pub log2_sq_stride: u8,
}

/// A send WQE's control fields and operation, decoded by the silicon's own decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenSend {
    /// WQE_INDEX.
    pub wqe_index: u16,
    /// WR_ID.
    pub wr_id: u64,
    /// The operation.
    pub op: SeenWqe,
}

/// A receive WQE as the shared tests look at it, decoded by the silicon's own decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRecv {
    /// WR_ID.
    pub wr_id: u64,
    /// WQE_INDEX.
    pub wqe_index: u16,
    /// The scatter list: (address, length, key).
    pub sges: Vec<(u64, u32, u32)>,
}

/// A send WQE's operation as the shared tests look at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeenWqe {
    /// SEND.
    Send,
    /// WRITE with inline data.
    WriteInline {
        /// The inline bytes.
        data: Vec<u8>,
        /// The remote key (STag).
        key: u32,
    },
    /// FAST_REG with its page list in host memory.
    FastRegHost {
        /// The key (STag) registered.
        key: u32,
        /// Bus address of the page list.
        addr: u64,
        /// Pages in the list.
        count: u32,
    },
    /// FAST_REG with its page list in the WQE.
    FastRegInline {
        /// The key (STag) registered.
        key: u32,
    },
    /// LOCAL_INV of a key (STag).
    LocalInv(u32),
    /// Any other WQE.
    Other,
}

/// A doorbell register of an object's doorbell block.
#[derive(Clone, Copy, Debug)]
pub enum Doorbell {
    /// The SQ producer index.
    SqPi,
    /// The RQ producer index.
    RqPi,
    /// The CQ arm register.
    CqArm,
    /// The SRQ producer index.
    SrqPi,
}

/// An admin command the fake device executed, as far as the shared tests look at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executed {
    /// MODIFY_QP of a QP.
    ModifyQp(u32),
    /// DESTROY_QP of a QP.
    DestroyQp(u32),
    /// REGISTER_MR: PBL_LEVELS and PBL_ADDR.
    RegisterMr {
        /// PBL_LEVELS (0: PBL_ADDR is the one page).
        pbl_levels: u8,
        /// PBL_ADDR.
        pbl_addr: u64,
    },
    /// RESIZE_CQ: the new ring.
    ResizeCq {
        /// LOG2_SIZE of the new ring.
        log2_size: u8,
        /// Bus address of the new ring.
        ring_addr: u64,
    },
    /// CM_CONNECT of a connection.
    CmConnect(u32),
    /// CREATE_SRQ.
    CreateSrq {
        /// The SRQ number.
        srqn: u32,
        /// The provider's SRQ context.
        context: u64,
        /// Bus address of the SRQ record (its consumer counter in the first word).
        record_addr: u64,
    },
    /// MODIFY_SRQ: the new limit.
    ModifySrqLimit(u32),
    /// Any other command.
    Other,
}

/// A fake device of one silicon and its driver, as the shared tests drive them.
pub trait FakeDevice: Clone + Send + Sync + 'static {
    /// The silicon's driver.
    type Nic: NicHal<Platform = MockPlatform>;
    /// The lowest QPN the driver hands out (lower ones are reserved).
    const FIRST_QPN: u32;
    /// A fake device after power-on: READY, reference capabilities, nothing programmed.
    fn fresh() -> Self;
    /// The driver's default bring-up (no addresses: one SET_MTU) on this device.
    fn new_nic(&self, platform: MockPlatform) -> HalResult<Self::Nic>;
    /// The driver brought up on a fresh device whose steps run in the platform's stall hook.
    fn bring_up() -> (Self, Self::Nic);
    /// One device step: reset, enable, and every admin entry published so far.
    fn step(&self);
    /// The driver's interrupt service routine, as when the device raises its line.
    fn interrupt(nic: &Self::Nic);
    /// The last CREATE_CQ the device executed.
    fn last_created_cq(&self) -> CreatedCq;
    /// The last CREATE_QP the device executed.
    fn last_created_qp(&self) -> CreatedQp;
    /// The doorbell register `which` of object `n`.
    fn doorbell(&self, n: u32, which: Doorbell) -> u32;
    /// Every admin command the device executed, oldest first.
    fn executed(&self) -> Vec<Executed>;
    /// Writes the `n`th CQE (counting from 0 across wraps) of `cq`'s ring, with its owner bit:
    /// a successful receive of `n * 10` bytes, WR_ID and WQE index `n`, QP context 0xAA.
    fn write_recv_cqe(&self, cq: &CreatedCq, n: u32);
    /// Decodes the receive WQE in `slot` (`None`: not a valid WQE).
    fn decode_recv_wqe(slot: &[u8]) -> Option<SeenRecv>;
    /// Decodes the send WQE at the start of `slot` (`None`: not a valid WQE).
    fn decode_send_wqe(slot: &[u8]) -> Option<SeenSend>;
    /// A flushed SEND CQE of `wr_id`, encoded with owner bit 1.
    fn flushed_send_cqe(wr_id: u64) -> Vec<u8>;
    /// The resize marker CQE (§5.6.3), encoded with owner bit 1.
    fn resize_marker_cqe() -> Vec<u8>;
    /// The next CM_CONNECT fails with the datasheet's UNREACHABLE status.
    fn fail_next_cm_connect_unreachable(&self);
    /// A local and a remote address a connect can use (the driver told what it needs, such as
    /// the peer's next-hop MAC).
    fn connect_addresses(nic: &Self::Nic) -> (SocketAddr, SocketAddr);
    /// The next CREATE_CQ fails with the datasheet's LIMIT status.
    fn fail_next_create_cq_with_limit(&self);
    /// Writes a DEVICE_FATAL EQE and raises the EQ interrupt cause.
    fn push_device_fatal(&self);
    /// Overwrites the REVISION register (§3.2: IF_MAJOR in bits 31:16).
    fn set_revision(&self, value: u32);
}

/// Runs every shared test on a driver crate's fake device: `hal::shared_driver_tests!(Fake);`
/// in its driver test module makes one `#[test]` per test of this kit, so no driver can miss
/// one.
#[macro_export]
macro_rules! shared_driver_tests {
    ($fake:ty) => {
        $crate::shared_driver_tests!(@each $fake;
            post_recv_writes_the_wqe_and_rings_at_once,
            post_send_writes_the_wqe_and_ring_sq_writes_the_doorbell,
            attaching_the_handler_delivers_events_that_came_first,
            device_fatal_fails_pending_commands_and_later_creates,
            a_full_admin_ring_waits_for_the_device_to_make_room,
            a_dead_device_makes_commands_give_up_in_bounded_time,
            failed_create_reports_the_mapped_error,
            destroyed_numbers_are_reused_only_after_the_destroy_completed,
            bring_up_refuses_an_unknown_interface_major,
            bring_up_gives_up_when_reset_never_completes,
            interrupt_calls_the_attached_handler_when_events_are_queued,
            create_cq_completes_through_the_eq_with_the_providers_token,
            arm_cq_writes_ci_sequence_number_and_type,
            post_send_is_queue_full_until_the_device_retires_wqes,
            destroy_qp_flushes_first_and_completes_with_the_token,
            poll_cq_follows_the_owner_bit_across_the_ring_wrap,
            contiguous_registrations_need_no_page_list,
            resize_switches_rings_at_the_resize_marker,
            failed_cm_connect_is_reported_as_connect_failed,
            srq_receives_are_counted_against_the_srq_record,
            fast_register_lists_that_do_not_fit_the_slot_go_to_host_memory,
        );
    };
    (@each $fake:ty; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::queue::testkit::$name::<$fake>();
            }
        )*
    };
}

/// Every event queued in the driver.
pub fn events<N: NicHal>(nic: &N) -> Vec<HalEvent> {
    core::iter::from_fn(|| nic.next_event()).collect()
}

/// Steps the fake device and runs the ISR, as a device raising its line would.
fn run<F: FakeDevice>(dev: &F, nic: &F::Nic) {
    dev.step();
    F::interrupt(nic);
}

/// Events that arrived before there was a handler are delivered when it is attached.
pub fn attaching_the_handler_delivers_events_that_came_first<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let _ = nic.create_cq(1, 1, CmdToken(1)).unwrap();
    dev.step();
    let hits = Arc::new(Mutex::new(0));
    let h = hits.clone();
    nic.attach_interrupt(crate::karc::KFn::try_new(move || *h.lock().unwrap() += 1).unwrap());
    assert_eq!(*hits.lock().unwrap(), 1);
    assert_eq!(events(&nic).len(), 1);
}

/// DEVICE_FATAL fails the pending commands with `Fatal`; creates then fail at once and
/// destroys complete at once.
pub fn device_fatal_fails_pending_commands_and_later_creates<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let (parts, _) = nic.create_cq(1, 1, CmdToken(1)).unwrap();
    dev.push_device_fatal();
    F::interrupt(&nic);
    let ev = events(&nic);
    assert!(matches!(
        ev[..],
        [
            HalEvent::DeviceFatal,
            HalEvent::CommandComplete {
                token: CmdToken(1),
                result: Err(HalError::Fatal)
            }
        ]
    ));
    assert_eq!(nic.create_pd().err(), Some(HalError::Fatal));
    assert!(matches!(nic.destroy_cq(parts, CmdToken(2)), Cmd::Done(())));
}

/// §11.2 step 1: a full admin ring makes the driver wait (stalling) for the device's
/// consumer counter, and no command is lost.
pub fn a_full_admin_ring_waits_for_the_device_to_make_room<F: FakeDevice>() {
    let dev = F::fresh();
    let platform = MockPlatform::new();
    let d = dev.clone();
    let stalls = Arc::new(Mutex::new(0u32));
    let st = stalls.clone();
    platform.set_stall_hook(Some(Arc::new(move |_| {
        *st.lock().unwrap() += 1;
        d.step();
    })));
    let nic = dev.new_nic(platform).unwrap();
    let before = *stalls.lock().unwrap();
    // The device runs only when the driver stalls: 256 entries fill the ring.
    let pds: Vec<_> = (0..256).map(|_| nic.create_pd().unwrap()).collect();
    assert_eq!(*stalls.lock().unwrap(), before, "room: no waiting");
    let extra = nic.create_pd().unwrap();
    assert!(
        *stalls.lock().unwrap() > before,
        "§11.2 step 1: waited for ADMQ_CI"
    );
    for pd in pds {
        nic.destroy_pd(pd);
    }
    nic.destroy_pd(extra);
    dev.step();
    let n = dev.executed().len();
    assert_eq!(n, 1 + 257 * 2, "SET_MTU, then every create and destroy");
}

/// A device that stops consuming makes a command give up (`NoResources`) in bounded time.
pub fn a_dead_device_makes_commands_give_up_in_bounded_time<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    // The device stops (no steps any more); time moves 1 ms per stall.
    let p = nic.platform().clone();
    nic.platform()
        .set_stall_hook(Some(Arc::new(move |_| p.advance_ns(1_000_000))));
    for _ in 0..256 {
        nic.create_pd().unwrap();
    }
    assert_eq!(nic.create_pd().err(), Some(HalError::NoResources));
    // `nic` is dropped before `dev`, whose memory backs its BARs.
    drop(nic);
    drop(dev);
}

/// A failed CREATE_CQ reaches the provider as its token's completion with the mapped error.
pub fn failed_create_reports_the_mapped_error<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    dev.fail_next_create_cq_with_limit();
    let _ = nic.create_cq(8, 0, CmdToken(3)).unwrap();
    run(&dev, &nic);
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(3),
            result: Err(HalError::ImplementationLimit)
        }]
    ));
}

/// A CQ number comes back to the pool only when its DESTROY_CQ has completed.
pub fn destroyed_numbers_are_reused_only_after_the_destroy_completed<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let (parts, _) = nic.create_cq(3, 0, CmdToken(1)).unwrap();
    run(&dev, &nic);
    let first = dev.last_created_cq().cqn;
    let _ = nic.destroy_cq(parts, CmdToken(2));
    let (_p2, _) = nic.create_cq(3, 0, CmdToken(3)).unwrap();
    dev.step();
    assert_ne!(
        dev.last_created_cq().cqn,
        first,
        "destroy not completed yet"
    );
}

/// §11.1 step 1: an interface major the driver does not know is refused.
pub fn bring_up_refuses_an_unknown_interface_major<F: FakeDevice>() {
    let dev = F::fresh();
    dev.set_revision(0x0002_0001);
    let r = dev.new_nic(MockPlatform::new());
    assert_eq!(r.err(), Some(HalError::NotSupported));
}

/// §11.1 step 3: a reset that never completes fails the bring-up with `Fatal`, in bounded
/// time.
pub fn bring_up_gives_up_when_reset_never_completes<F: FakeDevice>() {
    let dev = F::fresh();
    let platform = MockPlatform::new();
    let p2 = platform.clone();
    // No device steps; time moves 1 ms per stall.
    platform.set_stall_hook(Some(Arc::new(move |_| p2.advance_ns(1_000_000))));
    let r = dev.new_nic(platform);
    assert_eq!(r.err(), Some(HalError::Fatal));
}

/// The ISR calls the attached handler only when it queued events.
pub fn interrupt_calls_the_attached_handler_when_events_are_queued<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let hits = Arc::new(Mutex::new(0));
    let h = hits.clone();
    nic.attach_interrupt(crate::karc::KFn::try_new(move || *h.lock().unwrap() += 1).unwrap());
    F::interrupt(&nic);
    assert_eq!(*hits.lock().unwrap(), 0, "no events, no call");
    let _ = nic.create_pd().unwrap(); // SILENT: no completion
    let _ = nic.create_cq(1, 1, CmdToken(1)).unwrap();
    run(&dev, &nic);
    assert_eq!(*hits.lock().unwrap(), 1);
}

/// A QP on a fresh CQ, created and completed, with what the device saw of it.
pub struct TestQp<N: NicHal> {
    /// The driver's halves of the QP.
    pub parts: QpParts<N>,
    /// What the device saw of its CREATE_QP.
    pub created: CreatedQp,
}

/// Creates a QP (SQ depth `sq_depth`, RQ depth 4) and runs its CREATE_QP.
pub fn qp<F: FakeDevice>(dev: &F, nic: &F::Nic, sq_depth: u32) -> TestQp<F::Nic> {
    let pd = nic.create_pd().unwrap();
    let (cq, _) = nic.create_cq(64, 0, CmdToken(1)).unwrap();
    let params = QpParams {
        pd: &pd,
        send_cq: &cq.cq,
        recv_cq: &cq.cq,
        srq: None,
        sq_depth,
        rq_depth: 4,
        max_send_sge: 2,
        max_recv_sge: 2,
        max_inline: 64,
        context: 0x99,
    };
    let (parts, cmd) = nic.create_qp(&params, CmdToken(2)).unwrap();
    assert!(matches!(cmd, Cmd::Pending));
    run(dev, nic);
    let _ = events(nic);
    TestQp {
        parts,
        created: dev.last_created_qp(),
    }
}

/// A signaled SEND of `sge`.
pub fn send(wr_id: u64, sge: &[Sge]) -> SendWr<'_> {
    SendWr {
        wr_id,
        op: SendOp::Send {
            payload: Payload::Sgl(sge),
            invalidate_rkey: None,
        },
        flags: WrFlags::SIGNALED,
    }
}

/// §11.3: CREATE_CQ completes through the EQ with the provider's token; the ring holds
/// 2^ceil_log2(depth + 1) entries and the doorbell record follows it.
pub fn create_cq_completes_through_the_eq_with_the_providers_token<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let (_parts, cmd) = nic.create_cq(100, 0xC0, CmdToken(7)).unwrap();
    assert!(matches!(cmd, Cmd::Pending));
    run(&dev, &nic);
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(7),
            result: Ok(CmdValue::Unit)
        }]
    ));
    let p = dev.last_created_cq();
    assert_eq!(p.log2_size, 7, "§11.3: k = ceil_log2(depth + 1)");
    assert_eq!(p.context, 0xC0);
    assert_eq!(p.dbrec_addr, p.ring_addr + 64 * 128);
}

/// Arming writes the CI, a sequence number and the arm type to the CQ's doorbell.
pub fn arm_cq_writes_ci_sequence_number_and_type<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let (mut parts, _) = nic.create_cq(3, 0, CmdToken(1)).unwrap();
    run(&dev, &nic);
    let cqn = dev.last_created_cq().cqn;
    nic.arm_cq(&mut parts.poller, false);
    assert_eq!(dev.doorbell(cqn, Doorbell::CqArm), 1 << 24 | 1 << 26);
    nic.arm_cq(&mut parts.poller, true);
    assert_eq!(dev.doorbell(cqn, Doorbell::CqArm), 2 << 24 | 2 << 26);
}

/// A full SQ refuses WQEs (`QueueFull`) until the device's SQ_CI retires one.
pub fn post_send_is_queue_full_until_the_device_retires_wqes<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let mut q = qp(&dev, &nic, 2);
    let sge = [];
    nic.post_send(&mut q.parts.sq, &send(1, &sge)).unwrap();
    nic.post_send(&mut q.parts.sq, &send(2, &sge)).unwrap();
    assert_eq!(
        nic.post_send(&mut q.parts.sq, &send(3, &sge)),
        Err(HalError::QueueFull)
    );
    // The device retires one WQE: SQ_CI in the QP record.
    dma_write(q.created.record_addr, &1u32.to_le_bytes());
    nic.post_send(&mut q.parts.sq, &send(3, &sge)).unwrap();
    nic.ring_sq(&mut q.parts.sq);
    assert_eq!(dev.doorbell(q.created.qpn, Doorbell::SqPi), 3);
}

/// DESTROY_QP is preceded by a flush (MODIFY_QP to ERR) and completes with the token.
pub fn destroy_qp_flushes_first_and_completes_with_the_token<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let q = qp(&dev, &nic, 4);
    let qpn = q.created.qpn;
    assert!(matches!(
        nic.destroy_qp(q.parts, CmdToken(40)),
        Cmd::Pending
    ));
    run(&dev, &nic);
    let cmds = dev.executed();
    assert_eq!(
        cmds[cmds.len() - 2..],
        [Executed::ModifyQp(qpn), Executed::DestroyQp(qpn)]
    );
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(40),
            result: Ok(CmdValue::Unit)
        }]
    ));
}

/// §11.6: the poller follows the owner bit across the ring's wrap, treats stale entries as
/// empty and writes its CI to the doorbell record.
pub fn poll_cq_follows_the_owner_bit_across_the_ring_wrap<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let (mut parts, _) = nic.create_cq(3, 0, CmdToken(1)).unwrap();
    run(&dev, &nic);
    let p = dev.last_created_cq();
    assert_eq!(p.log2_size, 2);
    let mut out = [Completion::EMPTY; 8];
    assert_eq!(
        nic.poll_cq(&mut parts.poller, &mut out),
        0,
        "a zeroed ring is empty"
    );
    for n in 0..3 {
        dev.write_recv_cqe(&p, n);
    }
    assert_eq!(nic.poll_cq(&mut parts.poller, &mut out[..2]), 2);
    assert_eq!(nic.poll_cq(&mut parts.poller, &mut out), 1);
    assert_eq!(out[0].wr_id, 2);
    assert_eq!(out[0].opcode, WcOpcode::Receive);
    assert_eq!(out[0].byte_len, 20);
    // Entries 3..6 wrap: slot 0 is rewritten with owner 0 on the second pass.
    for n in 3..6 {
        dev.write_recv_cqe(&p, n);
    }
    assert_eq!(nic.poll_cq(&mut parts.poller, &mut out), 3);
    assert_eq!(
        out.iter().take(3).map(|c| c.wr_id).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(
        nic.poll_cq(&mut parts.poller, &mut out),
        0,
        "stale entries are not valid"
    );
    let mut rec = [0u8; 4];
    dma_read(p.dbrec_addr, &mut rec);
    assert_eq!(
        u32::from_le_bytes(rec),
        6,
        "§11.6 step 7: CI in the doorbell record"
    );
}

/// Physically contiguous pages are registered without a page list: PBL_ADDR is the first page.
pub fn contiguous_registrations_need_no_page_list<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let pd = nic.create_pd().unwrap();
    let mr = nic.alloc_mr(&pd, MrKind::Registered).unwrap();
    let pages = [0x10_0000, 0x10_1000];
    let reg = Registration {
        pages: &pages,
        first_byte_offset: 0,
        iova: 0,
        length: 8192,
        access: Access::LOCAL_WRITE,
    };
    let _ = nic.register_mr(&mr, &reg, CmdToken(9)).unwrap();
    dev.step();
    let r = dev
        .executed()
        .into_iter()
        .find(|c| matches!(c, Executed::RegisterMr { .. }));
    assert_eq!(
        r,
        Some(Executed::RegisterMr {
            pbl_levels: 0,
            pbl_addr: 0x10_0000
        })
    );
}

/// §5.6.3: a resize runs one at a time; the poller reads the old ring up to the resize marker,
/// then the new ring, and starts a new CI generation.
pub fn resize_switches_rings_at_the_resize_marker<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let (mut parts, _) = nic.create_cq(3, 0, CmdToken(1)).unwrap();
    run(&dev, &nic);
    let _ = events(&nic);
    let old = dev.last_created_cq();
    dma_write(old.ring_addr, &F::flushed_send_cqe(1));
    let cmd = nic
        .resize_cq(&parts.cq, &mut parts.poller, 20, CmdToken(5))
        .unwrap();
    assert!(matches!(cmd, Cmd::Pending));
    assert_eq!(
        nic.resize_cq(&parts.cq, &mut parts.poller, 20, CmdToken(6))
            .err(),
        Some(HalError::InvalidState),
        "§5.6.3: one resize at a time"
    );
    run(&dev, &nic);
    let new_ring = dev.executed().into_iter().find_map(|c| match c {
        Executed::ResizeCq {
            log2_size,
            ring_addr,
        } => Some((log2_size, ring_addr)),
        _ => None,
    });
    let (log2, new_ring) = new_ring.expect("a RESIZE_CQ");
    assert_eq!(log2, 5);
    // The device: the marker as the old ring's last entry, then CQEs in the new ring.
    dma_write(old.ring_addr + 64, &F::resize_marker_cqe());
    dma_write(new_ring, &F::flushed_send_cqe(2));
    let mut out = [Completion::EMPTY; 4];
    assert_eq!(nic.poll_cq(&mut parts.poller, &mut out), 2);
    assert_eq!((out[0].wr_id, out[1].wr_id), (1, 2));
    let mut rec = [0u8; 4];
    dma_read(old.dbrec_addr, &mut rec);
    assert_eq!(u32::from_le_bytes(rec), 1 | 1 << 31, "new generation, CI 1");
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(5),
            result: Ok(CmdValue::Unit)
        }]
    ));
}

/// A CM_CONNECT the device fails reaches the consumer as `ConnectFailed` with the mapped error.
pub fn failed_cm_connect_is_reported_as_connect_failed<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let q = qp(&dev, &nic, 4);
    dev.fail_next_cm_connect_unreachable();
    let (local, remote) = F::connect_addresses(&nic);
    let conn = nic
        .cm_connect(&q.parts.qp, local, remote, 8, 8, b"hi", 0x55)
        .unwrap();
    run(&dev, &nic);
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::Cm(CmEvent::ConnectFailed {
            ctx: 0x55,
            error: HalError::NetworkUnreachable,
            ..
        })]
    ));
    assert_eq!(dev.executed().pop(), Some(Executed::CmConnect(conn.0)));
}

/// SRQ receives are counted against the SRQ record's consumer counter; arming the limit is a
/// MODIFY_SRQ; a destroy completes with its token.
pub fn srq_receives_are_counted_against_the_srq_record<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let pd = nic.create_pd().unwrap();
    let (srq, mut poster, cmd) = nic.create_srq(&pd, 4, 1, 0x5, CmdToken(3)).unwrap();
    assert!(matches!(cmd, Cmd::Pending));
    run(&dev, &nic);
    let _ = events(&nic);
    let created = dev.executed().into_iter().find_map(|c| match c {
        Executed::CreateSrq {
            srqn,
            context,
            record_addr,
        } => Some((srqn, context, record_addr)),
        _ => None,
    });
    let (srqn, context, record_addr) = created.expect("a CREATE_SRQ");
    assert_eq!(context, 0x5);
    let sge = [Sge {
        addr: 0,
        length: 8,
        lkey: 0x300,
    }];
    for i in 0..4 {
        nic.post_srq_recv(
            &mut poster,
            &RecvWr {
                wr_id: i,
                sgl: &sge,
            },
        )
        .unwrap();
    }
    assert_eq!(
        nic.post_srq_recv(
            &mut poster,
            &RecvWr {
                wr_id: 9,
                sgl: &sge
            }
        ),
        Err(HalError::QueueFull)
    );
    assert_eq!(dev.doorbell(srqn, Doorbell::SrqPi), 4);
    assert_eq!(nic.srq_queued(&srq), 4);
    dma_write(record_addr, &3u32.to_le_bytes());
    assert_eq!(nic.srq_queued(&srq), 1);
    nic.arm_srq_limit(&srq, 2);
    dev.step();
    assert_eq!(dev.executed().pop(), Some(Executed::ModifySrqLimit(2)));
    assert!(matches!(
        nic.destroy_srq(srq, poster, CmdToken(8)),
        Cmd::Pending
    ));
    run(&dev, &nic);
    assert!(matches!(
        events(&nic)[..],
        [HalEvent::CommandComplete {
            token: CmdToken(8),
            result: Ok(CmdValue::Unit)
        }]
    ));
}

/// A FAST_REG whose page list does not fit its SQ slot puts the list in host memory; a small
/// list stays inline; bind and invalidate are plain WQEs.
pub fn fast_register_lists_that_do_not_fit_the_slot_go_to_host_memory<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let mut q = qp(&dev, &nic, 4);
    let buf = q.created.buf_addr;
    let pages: Vec<u64> = (0..100).map(|i| 0x100_0000 + i * 0x1000).collect();
    let mut fr = |wr_id, pages: &[u64]| {
        let wr = SendWr {
            wr_id,
            op: SendOp::FastRegister {
                key: 0x1234,
                pages,
                first_byte_offset: 0,
                iova: 0x5000_0000,
                length: pages.len() as u64 * 4096,
                access: Access::LOCAL_WRITE | Access::REMOTE_WRITE,
            },
            flags: WrFlags::SIGNALED,
        };
        nic.post_send(&mut q.parts.sq, &wr)
    };
    fr(1, &pages).unwrap();
    let mut slot = [0u8; 128];
    dma_read(buf, &mut slot);
    let addr = match F::decode_send_wqe(&slot).map(|w| w.op) {
        Some(SeenWqe::FastRegHost {
            key: 0x1234,
            addr,
            count: 100,
        }) => addr,
        other => panic!("{other:?}"),
    };
    let mut list = [0u8; 8];
    dma_read(addr + 99 * 8, &mut list);
    assert_eq!(u64::from_le_bytes(list), pages[99]);
    // Small lists stay inline (6 pages fit a 128-byte slot).
    fr(2, &pages[..6]).unwrap();
    dma_read(buf + 128, &mut slot);
    assert_eq!(
        F::decode_send_wqe(&slot).map(|w| w.op),
        Some(SeenWqe::FastRegInline { key: 0x1234 })
    );
    // Bind and invalidate are plain WQEs.
    let bind = SendWr {
        wr_id: 3,
        op: SendOp::Bind {
            mw_rkey: 0x801,
            mr_lkey: 0x1234,
            addr: 0x5000_0000,
            length: 4096,
            access: Access::REMOTE_READ,
        },
        flags: WrFlags::empty(),
    };
    nic.post_send(&mut q.parts.sq, &bind).unwrap();
    let inv = SendWr {
        wr_id: 4,
        op: SendOp::Invalidate { key: 0x801 },
        flags: WrFlags::SIGNALED,
    };
    nic.post_send(&mut q.parts.sq, &inv).unwrap();
    nic.ring_sq(&mut q.parts.sq);
    assert_eq!(dev.doorbell(q.created.qpn, Doorbell::SqPi), 4);
    dma_read(buf + 3 * 128, &mut slot);
    assert_eq!(
        F::decode_send_wqe(&slot).map(|w| w.op),
        Some(SeenWqe::LocalInv(0x801))
    );
}

/// A receive WQE is written to the RQ ring and its doorbell rung at once.
pub fn post_recv_writes_the_wqe_and_rings_at_once<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let mut q = qp(&dev, &nic, 4);
    let c = q.created;
    let sge = [Sge {
        addr: 0x4000,
        length: 256,
        lkey: 0x700,
    }];
    let rq = q.parts.rq.as_mut().unwrap();
    nic.post_recv(
        rq,
        &RecvWr {
            wr_id: 77,
            sgl: &sge,
        },
    )
    .unwrap();
    assert_eq!(dev.doorbell(c.qpn, Doorbell::RqPi), 1);
    let mut slot = alloc::vec![0u8; c.rq_stride];
    dma_read(c.rq_addr, &mut slot);
    let w = F::decode_recv_wqe(&slot).expect("a receive WQE");
    assert_eq!((w.wr_id, w.wqe_index), (77, 0));
    assert_eq!(w.sges, [(0x4000, 256, 0x700)]);
}

/// WQEs are written at post time with consecutive WQE indexes; only `ring_sq` writes the SQ
/// doorbell.
pub fn post_send_writes_the_wqe_and_ring_sq_writes_the_doorbell<F: FakeDevice>() {
    let (dev, nic) = F::bring_up();
    let mut q = qp(&dev, &nic, 4);
    let c = q.created;
    assert!(c.qpn >= F::FIRST_QPN, "lower QPNs are reserved");
    assert_eq!(c.log2_sq_depth, 2);
    assert_eq!(
        c.log2_sq_stride, 7,
        "128-byte stride: 2 SGEs, 64 inline, FAST_REG"
    );
    let sge = [Sge {
        addr: 0x1000,
        length: 64,
        lkey: 0x300,
    }];
    nic.post_send(&mut q.parts.sq, &send(11, &sge)).unwrap();
    let write = SendWr {
        wr_id: 12,
        op: SendOp::Write {
            payload: Payload::Inline(b"hello"),
            remote_addr: 0x2000,
            rkey: 0x401,
        },
        flags: WrFlags::empty(),
    };
    nic.post_send(&mut q.parts.sq, &write).unwrap();
    assert_eq!(
        dev.doorbell(c.qpn, Doorbell::SqPi),
        0,
        "post_send does not ring"
    );
    nic.ring_sq(&mut q.parts.sq);
    assert_eq!(dev.doorbell(c.qpn, Doorbell::SqPi), 2);

    let mut slot = [0u8; 128];
    dma_read(c.buf_addr, &mut slot);
    let w = F::decode_send_wqe(&slot).expect("a send WQE");
    assert_eq!((w.wqe_index, w.wr_id, w.op), (0, 11, SeenWqe::Send));
    dma_read(c.buf_addr + 128, &mut slot);
    let w = F::decode_send_wqe(&slot).expect("a send WQE");
    assert_eq!(w.wqe_index, 1);
    assert_eq!(
        w.op,
        SeenWqe::WriteInline {
            data: b"hello".to_vec(),
            key: 0x401
        }
    );
}
