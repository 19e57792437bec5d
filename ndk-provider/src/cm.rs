//! Connection events from the device, routed to listeners and connectors (ndkpi.md §3
//! ConnectEvent / DisconnectEvent, §7.3).
//!
//! Called from the device's serialized event processing, so events of one connection are
//! handled in order and one at a time. Each event names its object by the context the
//! provider gave the HAL (the object's address); the context is looked up in the device's
//! table of live contexts and upgraded under that table's lock, which refuses objects whose
//! memory is going (see `endpoint`). No lock is held while a consumer callback runs.

use hal::{CmEvent, ConnId, NicHal};

use crate::callback;
use crate::connector::{self, ConnectorBody, Incoming};
use crate::device::Device;
use crate::endpoint::CmKind;
use crate::karc::KArc;
use crate::listener::ListenerBody;
use crate::object::{self, NdkObj, Obj};

/// A counted reference to the listener whose listen context is `ctx`, unless it is gone.
fn listener<H: NicHal>(dev: &Device<H>, ctx: u64) -> Option<Obj<ListenerBody<H>>> {
    let t = dev.ports.lock();
    if !t.is_live(ctx, CmKind::Listener) {
        return None;
    }
    // SAFETY: `ctx` is registered as a listener, so it is the address of a listener
    // allocation that is not freed: its teardown unregisters it under this lock before the
    // memory goes. `upgrade_raw` refuses it once its count reached zero.
    let l = unsafe { KArc::<NdkObj<ListenerBody<H>>>::upgrade_raw(ctx) };
    drop(t);
    l
}

/// A counted reference to the connector whose context is `ctx`, unless it is gone.
fn connector<H: NicHal>(dev: &Device<H>, ctx: u64) -> Option<Obj<ConnectorBody<H>>> {
    let t = dev.ports.lock();
    if !t.is_live(ctx, CmKind::Connector) {
        return None;
    }
    // SAFETY: as in `listener`, for a context registered as a connector.
    let c = unsafe { KArc::<NdkObj<ConnectorBody<H>>>::upgrade_raw(ctx) };
    drop(t);
    c
}

/// Routes one connection event (called by the device's event processing).
pub fn on_event<H: NicHal>(dev: &Device<H>, ev: CmEvent) {
    match ev {
        CmEvent::ConnectRequest { listen_ctx, conn, local, remote, ird, ord, private_data } => {
            let req = Incoming { conn, local, remote, ird, ord, private_data };
            connect_request(dev, listen_ctx, &req);
        }
        CmEvent::ConnectReply { ctx, ird, ord, private_data } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_connect_reply(&c, ird, ord, private_data);
            }
        }
        CmEvent::ConnectFailed { ctx, error, private_data } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_connect_failed(&c, error, private_data);
            }
        }
        CmEvent::Established { ctx } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_established(&c);
            }
        }
        CmEvent::AcceptFailed { ctx, error } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_accept_failed(&c, error);
            }
        }
        CmEvent::PeerDisconnected { ctx, reason } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_peer_disconnected(&c, reason);
            }
        }
        CmEvent::DisconnectComplete { ctx, error } => {
            if let Some(c) = connector(dev, ctx) {
                connector::on_disconnect_complete(&c, error);
            }
        }
    }
}

/// Refuses a request as if nobody listened (ndkpi.md §4.9).
fn refuse<H: NicHal>(dev: &Device<H>, conn: ConnId) {
    // Nothing more to do if the peer is already gone.
    let _ = dev.hal().cm_reject(conn, &[]);
}

/// `ConnectRequest` (ndkpi.md §3 ConnectEvent, §7.3 passive 2): a new connector for the
/// request, handed to the listener's ConnectEvent callback; the consumer owns it from then
/// on and closes it. Refused when the listener is gone, closing or paused, or when the
/// connector cannot be allocated.
fn connect_request<H: NicHal>(dev: &Device<H>, listen_ctx: u64, req: &Incoming) {
    let Some(l) = listener(dev, listen_ctx) else {
        refuse(dev, req.conn);
        return;
    };
    // ndkpi.md §7.1: no new connect events once the consumer closed the listener.
    let port = if l.is_closing() { None } else { l.body.admit() };
    let Some(port) = port else {
        refuse(dev, req.conn);
        return;
    };
    let c = match connector::new_passive(&l, req, port) {
        Ok(c) => c,
        Err(_) => {
            refuse(dev, req.conn);
            return;
        }
    };
    dev.hal().cm_attach(req.conn, connector::context(&c));
    let cb = l.body.connect_callback();
    let p = object::publish(c);
    callback::connect_event(cb, p.cast());
    // Our listener reference goes only after the callback returned, so a close issued
    // meanwhile completes after it (ndkpi.md §7.1).
    drop(l);
}
