//! A test bench: protocol engines on a [`fabric::Fabric`] with a virtual clock.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::prelude::rust_2021::*;

use fabric::{Fabric, Port};

use super::mpa::MpaEngine;
use super::tcp::TcpEngine;

/// What the bench needs from an engine.
pub(crate) trait Node {
    fn pop_frame(&mut self) -> Option<Vec<u8>>;
    fn has_frames(&self) -> bool;
    fn on_frame(&mut self, frame: &[u8], now_ns: u64);
    fn poll_timers(&mut self, now_ns: u64);
    fn next_timer(&self) -> Option<u64>;
}

impl Node for TcpEngine {
    fn pop_frame(&mut self) -> Option<Vec<u8>> {
        TcpEngine::pop_frame(self)
    }
    fn has_frames(&self) -> bool {
        TcpEngine::has_frames(self)
    }
    fn on_frame(&mut self, frame: &[u8], now_ns: u64) {
        TcpEngine::on_frame(self, frame, now_ns);
    }
    fn poll_timers(&mut self, now_ns: u64) {
        TcpEngine::poll_timers(self, now_ns);
    }
    fn next_timer(&self) -> Option<u64> {
        TcpEngine::next_timer(self)
    }
}

pub(crate) struct Sim {
    pub fabric: Fabric,
    pub now: u64,
    /// (node index, time) of every frame sent.
    pub sent: Vec<(usize, u64)>,
    /// (node index, frame) of every frame sent, when `keep_frames` is set.
    pub frames: Vec<(usize, Vec<u8>)>,
    pub keep_frames: bool,
}

impl Sim {
    pub fn new(fabric: Fabric) -> Sim {
        Sim {
            fabric,
            now: 0,
            sent: Vec::new(),
            frames: Vec::new(),
            keep_frames: false,
        }
    }

    /// Moves frames and fires timers, calling `step` (which drains events and may send
    /// more) after every round, until `step` returns true (→ true), nothing is left to do
    /// (→ `step`'s last answer) or virtual time passes `until_ns` (→ false).
    pub fn run<N: Node>(
        &mut self,
        nodes: &mut [(N, Port)],
        until_ns: u64,
        mut step: impl FnMut(&mut [(N, Port)], u64) -> bool,
    ) -> bool {
        loop {
            if step(nodes, self.now) {
                return true;
            }
            let mut moved = false;
            for (i, (n, p)) in nodes.iter_mut().enumerate() {
                while let Some(f) = n.pop_frame() {
                    p.send(&f, self.now);
                    self.sent.push((i, self.now));
                    if self.keep_frames {
                        self.frames.push((i, f));
                    }
                    moved = true;
                }
            }
            for (n, p) in nodes.iter_mut() {
                while let Some(f) = p.recv(self.now) {
                    n.on_frame(f.data(), self.now);
                    moved = true;
                }
            }
            for (n, _) in nodes.iter_mut() {
                n.poll_timers(self.now);
            }
            if moved || nodes.iter().any(|(n, _)| n.has_frames()) {
                continue;
            }
            let next = nodes
                .iter()
                .filter_map(|(n, _)| n.next_timer())
                .chain(self.fabric.next_due())
                .min();
            match next {
                None => return step(nodes, self.now),
                Some(t) if t > until_ns => return false,
                Some(t) => self.now = self.now.max(t),
            }
        }
    }
}

impl Node for MpaEngine {
    fn pop_frame(&mut self) -> Option<Vec<u8>> {
        MpaEngine::pop_frame(self)
    }
    fn has_frames(&self) -> bool {
        MpaEngine::has_frames(self)
    }
    fn on_frame(&mut self, frame: &[u8], now_ns: u64) {
        MpaEngine::on_frame(self, frame, now_ns);
    }
    fn poll_timers(&mut self, now_ns: u64) {
        MpaEngine::poll_timers(self, now_ns);
    }
    fn next_timer(&self) -> Option<u64> {
        MpaEngine::next_timer(self)
    }
}
