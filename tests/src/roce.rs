//! The reference RoCEv2 NIC as a conformance backend: the real `hal-roce` driver over the
//! device model of its silicon, on a virtual Ethernet that carries genuine RoCEv2 frames.

use hal_roce::model::network::Rnicr2;

use crate::model::{ModelBackend, Transport};

impl Transport for Rnicr2 {
    const TRANSPORT: &'static str = "rocev2";
}

/// `hal-roce` + its device model.
pub type RoceBackend = ModelBackend<Rnicr2>;
