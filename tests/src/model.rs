//! A reference NIC's device model as a conformance backend: the real driver programming the
//! model of its silicon on the shared virtual Ethernet ([`fabric::network::Network`]), which
//! carries the transport's genuine frames. RoCEv2 ([`crate::RoceBackend`]) and iWARP
//! ([`crate::IwarpBackend`]) are this one backend with their [`NicModel`].

use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;

use fabric::network::{Network, NicModel};
use hal::NicHal;

use crate::backend::{Backend, NetOptions};

/// A NIC model whose driver is a HAL, named for reports.
pub trait Transport: NicModel<Nic: NicHal> {
    /// The transport's short name ("rocev2", "iwarp").
    const TRANSPORT: &'static str;
}

/// The driver of `M` over its device model on a [`Network`] of them. Only a type: it is
/// never constructed.
pub struct ModelBackend<M>(PhantomData<fn() -> M>);

impl<M: Transport> Backend for ModelBackend<M> {
    type Nic = M::Nic;
    type Net = Network<M>;

    fn name() -> &'static str {
        M::TRANSPORT
    }

    fn network(opts: &NetOptions) -> Network<M> {
        let impairments = fabric::Impairments {
            loss: opts.loss,
            duplicate: opts.duplicate,
            reorder: opts.reorder,
            delay_ns: opts.delay_ns,
            seed: opts.seed,
        };
        Network::new(impairments, opts.pcap.clone())
    }

    fn nic(net: &Network<M>, ip: IpAddr) -> Arc<M::Nic> {
        net.add_nic(ip)
    }

    /// The silicon runs until idle, then the provider's DPC, until neither has work.
    fn pump(net: &Network<M>) -> usize {
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
