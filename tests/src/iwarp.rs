//! The reference iWARP NIC as a conformance backend: the real `hal-iwarp` driver over the
//! device model of its silicon (TCP offload, MPA, DDP / RDMAP), on a virtual Ethernet that
//! carries genuine iWARP segments.

use hal_iwarp::model::Rnicw1;

use crate::model::{ModelBackend, Transport};

impl Transport for Rnicw1 {
    const TRANSPORT: &'static str = "iwarp";
}

/// `hal-iwarp` + its device model.
pub type IwarpBackend = ModelBackend<Rnicw1>;
