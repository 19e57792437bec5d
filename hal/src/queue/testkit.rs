//! Driver unit tests both reference silicons share (feature `mock`): each test body is written
//! once against [`FakeDevice`], and each driver crate runs it on its own fake device (the
//! register block of [`crate::fake_bar`] plus just enough behaviour for the control path), as
//! `#[test] fn name() { hal::queue::testkit::name::<Fake>() }`. What the tests check is the
//! shared control path: completions through the EQ with the provider's token, the admin ring's
//! back-pressure, a dead or FATAL device, and object numbers freed only by a completed destroy.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::Mutex;

use crate::mock::MockPlatform;
use crate::{Cmd, CmdToken, HalError, HalEvent, HalResult, NicHal};

/// A fake device of one silicon and its driver, as the shared tests drive them.
pub trait FakeDevice: Clone + Send + Sync + 'static {
    /// The silicon's driver.
    type Nic: NicHal<Platform = MockPlatform>;
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
    /// Admin commands the device executed.
    fn commands_executed(&self) -> usize;
    /// The object number of the last CREATE_CQ the device executed.
    fn last_created_cqn(&self) -> u32;
    /// The next CREATE_CQ fails with the datasheet's LIMIT status.
    fn fail_next_create_cq_with_limit(&self);
    /// Writes a DEVICE_FATAL EQE and raises the EQ interrupt cause.
    fn push_device_fatal(&self);
    /// Overwrites the REVISION register (§3.2: IF_MAJOR in bits 31:16).
    fn set_revision(&self, value: u32);
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
    let n = dev.commands_executed();
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
    let first = dev.last_created_cqn();
    let _ = nic.destroy_cq(parts, CmdToken(2));
    let (_p2, _) = nic.create_cq(3, 0, CmdToken(3)).unwrap();
    dev.step();
    assert_ne!(dev.last_created_cqn(), first, "destroy not completed yet");
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
