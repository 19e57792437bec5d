//! What the consumer library needs from a NIC backend to run the same tests and tools on the
//! mock, on a device model of real silicon, and later on other HALs: a network to plug NICs
//! into, a NIC per address, and a way to let the devices run.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use hal::mock::{Fabric, MockNic, MockOp};
use hal::NicHal;

/// Rounds of [`Backend::pump`] a waiting helper ([`wait_for`], [`crate::Side::wait_completions`])
/// tries before it gives up.
pub const WAIT_ROUNDS: usize = 1000;

/// How the wire between the NICs behaves. The mock has no wire and ignores all of it; a
/// backend whose NICs exchange frames (RoCEv2 and iWARP device models over a virtual Ethernet
/// fabric) applies the impairments and writes the capture.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetOptions {
    /// Probability that a frame copy is lost (`0.0..=1.0`).
    pub loss: f64,
    /// Probability that a frame copy is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame copy overtakes the previous one on its path.
    pub reorder: f64,
    /// Inclusive bounds of the one-way delay in nanoseconds, drawn per frame copy.
    pub delay_ns: (u64, u64),
    /// Seed of the wire's random generator, so that a run can be replayed.
    pub seed: u64,
    /// Where to write every frame on the wire as a pcap file (for Wireshark / tshark).
    pub pcap: Option<PathBuf>,
}

impl NetOptions {
    /// True when no impairment is set (a perfect wire), whatever the seed and capture.
    pub fn is_perfect(&self) -> bool {
        self.loss == 0.0 && self.duplicate == 0.0 && self.reorder == 0.0 && self.delay_ns == (0, 0)
    }
}

/// A NIC backend the consumer library, the conformance suite and `ndkperf` run over.
///
/// Implementing it is all a vendor does to run the conformance kit on a new HAL (see
/// `docs/conformance.md`): the suite then opens NDK adapters on the backend's NICs through
/// the generic provider and checks every rule through the dispatch tables.
pub trait Backend: 'static {
    /// The HAL implementation.
    type Nic: NicHal;
    /// The network the NICs are plugged into (cheap to clone: a handle).
    type Net: Clone;

    /// A short name for reports ("mock", "rocev2", ...).
    fn name() -> &'static str;

    /// A new, empty network.
    fn network(opts: &NetOptions) -> Self::Net;

    /// A new NIC on `net` owning address `ip`.
    fn nic(net: &Self::Net, ip: IpAddr) -> Arc<Self::Nic>;

    /// Lets the network run until it is quiescent: every device processes what was rung so
    /// far, the wire delivers what is in flight (moving virtual time over delays and
    /// retransmission timeouts as needed) and the devices' DPCs deliver every callback that
    /// is due. Returns how much work was done (0 when there was nothing to do).
    ///
    /// Callbacks run only from here (never inside a provider call), as from a DPC.
    fn pump(net: &Self::Net) -> usize;

    /// After every NDK object of `nic` was closed and its adapter too: `Err` with a
    /// description when the device still holds an object (a leak). The default cannot tell.
    fn check_idle(nic: &Self::Nic) -> Result<(), String> {
        let _ = nic;
        Ok(())
    }

    /// Send-queue doorbells `nic` has received so far, when the backend can count them (the
    /// mock counts `ring_sq` calls; a device model counts doorbell register writes). Tests of
    /// `NDK_OP_FLAG_DEFER` check the count only when it is known.
    fn doorbells(nic: &Self::Nic) -> Option<u64> {
        let _ = nic;
        None
    }
}

/// The mock NIC of `hal::mock` on its loopback [`Fabric`]: data moves synchronously when a
/// doorbell rings; events go through the shared `MockPlatform`'s deferred queue, which
/// [`Backend::pump`] runs. It has no wire: [`NetOptions`] are ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct MockBackend;

impl Backend for MockBackend {
    type Nic = MockNic;
    type Net = Fabric;

    fn name() -> &'static str {
        "mock"
    }

    fn network(_opts: &NetOptions) -> Fabric {
        Fabric::new()
    }

    fn nic(net: &Fabric, ip: IpAddr) -> Arc<MockNic> {
        MockNic::new(net, hal::mock::default_caps(), &[ip])
    }

    fn pump(net: &Fabric) -> usize {
        net.platform().run_deferred()
    }

    fn check_idle(nic: &MockNic) -> Result<(), String> {
        let live = nic.live_objects();
        if live == hal::mock::LiveObjects::default() {
            Ok(())
        } else {
            Err(format!("{live:?}"))
        }
    }

    fn doorbells(nic: &MockNic) -> Option<u64> {
        Some(nic.doorbells())
    }
}

/// The mock NIC made as asynchronous as a real one: every command that may pend does
/// (creates, destroys, resizes, registrations: `MockNic::pend`), and the interrupt fires only
/// when the network is pumped. Data still moves when a doorbell rings. Running the
/// conformance suite over it checks that the suite waits for what a real NIC completes later
/// instead of relying on the mock's synchronous answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncMockBackend;

/// The network of [`AsyncMockBackend`]: a mock [`Fabric`] and its NICs.
#[derive(Clone, Default)]
pub struct AsyncFabric {
    /// The loopback fabric.
    pub fabric: Fabric,
    nics: Arc<Mutex<Vec<Weak<MockNic>>>>,
}

/// Control operations whose commands can complete later (`Cmd::Pending`).
const PENDABLE: [MockOp; 11] = [
    MockOp::CreateCq,
    MockOp::ResizeCq,
    MockOp::DestroyCq,
    MockOp::CreateSrq,
    MockOp::ModifySrq,
    MockOp::DestroySrq,
    MockOp::CreateQp,
    MockOp::DestroyQp,
    MockOp::RegisterMr,
    MockOp::DeregisterMr,
    MockOp::InitFastRegister,
];

impl Backend for AsyncMockBackend {
    type Nic = MockNic;
    type Net = AsyncFabric;

    fn name() -> &'static str {
        "mock-async"
    }

    fn network(_opts: &NetOptions) -> AsyncFabric {
        AsyncFabric::default()
    }

    fn nic(net: &AsyncFabric, ip: IpAddr) -> Arc<MockNic> {
        let nic = MockNic::new(&net.fabric, hal::mock::default_caps(), &[ip]);
        nic.set_auto_interrupt(false);
        for op in PENDABLE {
            nic.pend(op);
        }
        let mut nics = net.nics.lock().unwrap();
        nics.retain(|n| n.strong_count() > 0);
        nics.push(Arc::downgrade(&nic));
        nic
    }

    fn pump(net: &AsyncFabric) -> usize {
        let mut total = 0;
        loop {
            let nics: Vec<Arc<MockNic>> = net
                .nics
                .lock()
                .unwrap()
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
            let mut done = 0;
            for nic in &nics {
                let held = nic.pending_count();
                if held > 0 {
                    nic.complete_pending();
                    done += held;
                }
                if nic.queued_events() > 0 {
                    nic.fire_interrupt();
                    done += 1;
                }
            }
            done += net.fabric.platform().run_deferred();
            if done == 0 {
                return total;
            }
            total += done;
        }
    }

    fn check_idle(nic: &MockNic) -> Result<(), String> {
        MockBackend::check_idle(nic)
    }

    fn doorbells(nic: &MockNic) -> Option<u64> {
        MockBackend::doorbells(nic)
    }
}

/// Pumps `net` until `f` returns something, at most [`WAIT_ROUNDS`] times; panics naming
/// `what` when it never does.
pub fn wait_for<B: Backend, T>(net: &B::Net, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..WAIT_ROUNDS {
        if let Some(t) = f() {
            return t;
        }
        if B::pump(net) == 0 {
            std::thread::yield_now();
        }
    }
    match f() {
        Some(t) => t,
        None => panic!(
            "{} backend: no {what} after {WAIT_ROUNDS} pump rounds",
            B::name()
        ),
    }
}
