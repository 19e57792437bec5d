//! The reference RoCEv2 NIC as a conformance backend: the real `hal-roce` driver over the
//! device model of its silicon, on a virtual Ethernet that carries genuine RoCEv2 frames.

use std::net::IpAddr;
use std::sync::Arc;

use hal_roce::model::{Network, Nic};

use crate::backend::{Backend, NetOptions};

/// `hal-roce` + its device model.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoceBackend;

impl Backend for RoceBackend {
    type Nic = Nic;
    type Net = Network;

    fn name() -> &'static str {
        "rocev2"
    }

    fn network(opts: &NetOptions) -> Network {
        let impairments = fabric::Impairments {
            loss: opts.loss,
            duplicate: opts.duplicate,
            reorder: opts.reorder,
            delay_ns: opts.delay_ns,
            seed: opts.seed,
        };
        Network::new(impairments, opts.pcap.clone())
    }

    fn nic(net: &Network, ip: IpAddr) -> Arc<Nic> {
        net.add_nic(ip)
    }

    /// The silicon runs until idle, then the provider's DPC, until neither has work.
    fn pump(net: &Network) -> usize {
        let mut total = 0;
        for _ in 0..10_000 {
            let work = net.run_until_idle() + net.platform().run_deferred();
            if work == 0 {
                break;
            }
            total += work;
        }
        total
    }
}
