//! The admin command queue (ADMQ, §3.6, §6.1, §11.2): a host ring of 64-byte entries with one
//! 512-byte mailbox per entry, driver-chosen tokens, and the table of commands whose
//! `CMD_COMPLETE` the driver waits for.

use alloc::vec::Vec;
use core::net::IpAddr;
use core::sync::atomic::{fence, Ordering};

use hal::{CmdToken, DmaRegion, HalError, HalResult, Platform};
use tock_registers::interfaces::{Readable, Writeable};

use super::cm::CmState;
use super::mem::Ids;
use super::RoceNic;
use crate::admin::{CmdEntry, CmdFlags, Command, Mailbox, CMD_SIZE, INTERNAL_TOKEN_BIT};
use crate::regs::{Bar0, ADMQ_CI, ADMQ_PI};
use crate::ring;

/// Bytes of the mailbox that belongs to each ADMQ entry (§11.1 step 7): the largest input is a
/// CM record (§5.8).
pub(crate) const MAILBOX_SIZE: usize = 512;

/// How long a command waits for room in a full admin ring before giving up (§11.2 step 1).
const ROOM_TIMEOUT_NS: u64 = 1_000_000_000;

/// The ADMQ ring and its mailboxes.
pub(crate) struct AdminQueue {
    ring: Option<DmaRegion>,
    mailboxes: Option<DmaRegion>,
    log2: u8,
    /// Entries written (free-running, 16 bits).
    pi: u16,
    /// Last `ADMQ_CI` read; refreshed only when the ring looks full.
    ci: u16,
}

impl AdminQueue {
    /// Allocates a ring of `2^log2` entries and its mailboxes (zeroed by `alloc_dma`).
    pub(crate) fn new<P: Platform>(p: &P, log2: u8) -> HalResult<AdminQueue> {
        let n = 1usize.checked_shl(u32::from(log2)).ok_or(HalError::Fatal)?;
        let ring = p.alloc_dma(n.checked_mul(CMD_SIZE).ok_or(HalError::NoResources)?)?;
        let mailboxes = match n
            .checked_mul(MAILBOX_SIZE)
            .ok_or(HalError::NoResources)
            .and_then(|len| p.alloc_dma(len))
        {
            Ok(m) => m,
            Err(e) => {
                p.free_dma(ring);
                return Err(e);
            }
        };
        Ok(AdminQueue {
            ring: Some(ring),
            mailboxes: Some(mailboxes),
            log2,
            pi: 0,
            ci: 0,
        })
    }

    /// Bus address of the ring (for `ADMQ_BASE_LO/HI`).
    pub(crate) fn bus_address(&self) -> u64 {
        self.ring.as_ref().map_or(0, DmaRegion::bus_address)
    }

    /// log2 of the entry count (for `ADMQ_SIZE`).
    pub(crate) fn log2(&self) -> u8 {
        self.log2
    }

    /// Returns the memory to the platform (after the device was reset).
    pub(crate) fn free<P: Platform>(&mut self, p: &P) {
        if let Some(r) = self.ring.take() {
            p.free_dma(r);
        }
        if let Some(r) = self.mailboxes.take() {
            p.free_dma(r);
        }
    }

    /// §11.2 step 1: room when `PI − CI < N`; `ADMQ_CI` is read only when the cached value
    /// says the ring is full (an MMIO read is slow).
    fn has_room(&mut self, bar0: &Bar0) -> bool {
        let n = 1u32.checked_shl(u32::from(self.log2)).unwrap_or(0);
        if u32::from(self.pi.wrapping_sub(self.ci)) < n {
            return true;
        }
        self.ci = (bar0.admq_ci.read(ADMQ_CI::CI) & 0xFFFF) as u16;
        u32::from(self.pi.wrapping_sub(self.ci)) < n
    }

    /// §11.2 steps 2–4: writes the mailbox input, the entry, then `fence(Release)` and
    /// `ADMQ_PI`. `build` gets the entry's mailbox.
    fn post(
        &mut self,
        bar0: &Bar0,
        build: impl FnOnce(Mailbox) -> Command,
        input: Option<&[u8]>,
        flags: CmdFlags,
        token: u64,
    ) -> HalResult<()> {
        if !self.has_room(bar0) {
            return Err(HalError::NoResources);
        }
        let (Some(ring), Some(mailboxes)) = (self.ring.as_ref(), self.mailboxes.as_ref()) else {
            return Err(HalError::Fatal);
        };
        let slot = ring::slot(u32::from(self.pi), self.log2);
        let mb_off = slot.checked_mul(MAILBOX_SIZE).ok_or(HalError::Fatal)?;
        let mailbox = Mailbox {
            addr: mailboxes.bus_address().wrapping_add(mb_off as u64),
            len: MAILBOX_SIZE as u32,
        };
        // The mailbox of this slot is free: ADMQ_CI passed the entry that used it last.
        if let Some(data) = input {
            if data.len() > MAILBOX_SIZE || !mailboxes.write(mb_off, data) {
                return Err(HalError::InvalidParameter);
            }
        }
        let entry = CmdEntry {
            command: build(mailbox),
            flags,
            token,
        };
        let off = slot.checked_mul(CMD_SIZE).ok_or(HalError::Fatal)?;
        if !ring.write(off, &entry.encode()) {
            return Err(HalError::Fatal);
        }
        self.pi = self.pi.wrapping_add(1);
        // §4 ordering: the entry and mailbox are visible before the doorbell.
        fence(Ordering::Release);
        bar0.admq_pi.write(ADMQ_PI::PI.val(u32::from(self.pi)));
        Ok(())
    }
}

/// What the driver does when a command completes (a `CMD_COMPLETE` EQE with its token).
pub(crate) enum Action {
    /// A provider command: queue `CommandComplete`; `keys` when DATA0/DATA1 are the keys.
    Report { token: CmdToken, keys: bool },
    /// A provider destroy: on success free the memory and the object number, then report.
    /// On failure the object still exists and may still DMA: keep both, report the error.
    Destroyed {
        token: CmdToken,
        release: Release,
        memory: [Option<DmaRegion>; 4],
    },
    /// RESIZE_CQ: report; on failure remember the CQN, so the next resize or destroy frees
    /// the new ring the device never took (§5.6.3).
    Resized { token: CmdToken, cqn: u32 },
    /// A registration: report the keys, and free the host page list the device has copied
    /// (§6.4.7: "the host list may be freed when the command has completed").
    Registered {
        token: CmdToken,
        pbl: Option<DmaRegion>,
    },
    /// `CM_CONNECT` failed: the driver reports `ConnectFailed` itself (§8.3).
    ConnectFailed { conn: u32, ctx: u64 },
    /// `CM_ACCEPT` failed: reported as `AcceptFailed`.
    AcceptFailed { conn: u32 },
    /// `CM_COMPLETE` failed: reported as `ConnectFailed`.
    CompleteFailed { conn: u32 },
    /// `CM_DISCONNECT` failed: reported as `DisconnectComplete` with the error.
    DisconnectFailed { conn: u32 },
    /// `CM_RELEASE` executed: the id may be reused, events for it stop being filtered.
    Released { conn: u32 },
    /// `CM_STOP_LISTEN` executed: the listen id may be reused.
    ListenStopped { listen_id: u32 },
    /// A bring-up command the constructor waits for.
    Sync,
}

/// An object number freed when its destroy completes.
#[derive(Clone, Copy)]
pub(crate) enum Release {
    Cq(u32),
    Srq(u32),
    Qp(u32),
}

/// A command waiting for its `CMD_COMPLETE`.
pub(crate) struct Pending {
    pub(crate) token: u64,
    pub(crate) action: Action,
}

/// A command that could not be posted; the action comes back so its memory is not lost.
pub(crate) struct NotPosted {
    pub(crate) error: HalError,
    pub(crate) action: Option<Action>,
}

/// Control-path state under the `ctl` lock.
pub(crate) struct Control {
    pub(crate) admq: AdminQueue,
    pub(crate) pending: Vec<Pending>,
    next_internal: u64,
    pub(crate) ids: Ids,
    pub(crate) cm: CmState,
    /// Interface addresses, in GID table order (§6.4.3: one SET_GID entry each).
    pub(crate) addrs: Vec<IpAddr>,
    /// Next-hop MAC addresses the glue resolved (§8.1: the driver passes the MAC).
    pub(crate) neighbors: Vec<(IpAddr, [u8; 6])>,
    /// Results of completed [`Action::Sync`] commands, by token.
    pub(crate) sync_done: Vec<(u64, HalResult<()>)>,
    /// CQs whose last RESIZE_CQ failed (room reserved when it was posted).
    pub(crate) failed_resizes: Vec<u32>,
}

impl Control {
    pub(crate) fn new(admq: AdminQueue, ids: Ids) -> Control {
        Control {
            admq,
            pending: Vec::new(),
            next_internal: 0,
            ids,
            cm: CmState::default(),
            addrs: Vec::new(),
            neighbors: Vec::new(),
            sync_done: Vec::new(),
            failed_resizes: Vec::new(),
        }
    }

    /// A token for a driver-internal command: bit 63 set (§6.1 recommendation).
    pub(crate) fn internal_token(&mut self) -> u64 {
        self.next_internal = self.next_internal.wrapping_add(1) & !INTERNAL_TOKEN_BIT;
        INTERNAL_TOKEN_BIT | self.next_internal
    }

    /// Posts one command. `token` `None` = an internal token. With an `action` the command
    /// is remembered until its `CMD_COMPLETE`; without one it should be SILENT (a failure of
    /// an internal command without an action is dropped by the event path).
    pub(crate) fn submit(
        &mut self,
        bar0: &Bar0,
        build: impl FnOnce(Mailbox) -> Command,
        input: Option<&[u8]>,
        flags: CmdFlags,
        token: Option<u64>,
        action: Option<Action>,
    ) -> Result<u64, NotPosted> {
        if action.is_some() && self.pending.try_reserve(1).is_err() {
            return Err(NotPosted {
                error: HalError::NoResources,
                action,
            });
        }
        let token = match token {
            Some(t) => t,
            None => self.internal_token(),
        };
        if let Err(error) = self.admq.post(bar0, build, input, flags, token) {
            return Err(NotPosted { error, action });
        }
        if let Some(action) = action {
            // Room reserved above: no allocation here.
            self.pending.push(Pending { token, action });
        }
        Ok(token)
    }

    /// Takes the oldest pending command with `token` (completions arrive in ring order, so a
    /// token the provider reused completes its commands in the order they were posted).
    pub(crate) fn take_pending(&mut self, token: u64) -> Option<Action> {
        let i = self.pending.iter().position(|p| p.token == token)?;
        Some(self.pending.remove(i).action)
    }
}

impl<P: Platform> RoceNic<P> {
    /// Posts a command; on failure frees what the action holds (the command never reached the
    /// device). While the admin ring is full it waits for room (§11.2 step 1), outside the
    /// lock and bounded by [`ROOM_TIMEOUT_NS`]; a device that runs never makes it wait long.
    pub(crate) fn command(
        &self,
        build: impl Fn(Mailbox) -> Command,
        input: Option<&[u8]>,
        flags: CmdFlags,
        token: Option<u64>,
        action: Option<Action>,
    ) -> HalResult<u64> {
        self.submit_waiting(&build, input, flags, token, action)
            .map_err(|np| {
                if let Some(a) = np.action {
                    self.discard(a);
                }
                np.error
            })
    }

    /// As [`RoceNic::command`], for destroys and frees, whose object may still be alive in
    /// the device when the command cannot be posted: its memory is then leaked rather than
    /// freed under the device's feet.
    pub(crate) fn command_wait(
        &self,
        build: impl Fn(Mailbox) -> Command,
        flags: CmdFlags,
        token: Option<u64>,
        action: Option<Action>,
    ) -> HalResult<u64> {
        self.submit_waiting(&build, None, flags, token, action)
            .map_err(|np| np.error)
    }

    fn submit_waiting(
        &self,
        build: &impl Fn(Mailbox) -> Command,
        input: Option<&[u8]>,
        flags: CmdFlags,
        token: Option<u64>,
        action: Option<Action>,
    ) -> Result<u64, NotPosted> {
        let Some(bar0) = self.bar0() else {
            return Err(NotPosted {
                error: HalError::Fatal,
                action,
            });
        };
        let start = self.platform.now_ns();
        let mut action = action;
        loop {
            if self.fatal.load(Ordering::Acquire) {
                return Err(NotPosted {
                    error: HalError::Fatal,
                    action,
                });
            }
            let r = self
                .ctl
                .lock()
                .submit(bar0, build, input, flags, token, action);
            match r {
                Ok(t) => return Ok(t),
                Err(NotPosted {
                    error: HalError::NoResources,
                    action: a,
                }) if self.platform.now_ns().wrapping_sub(start) < ROOM_TIMEOUT_NS => {
                    action = a;
                    // The device (or a model, which steps here) makes room.
                    self.platform.stall_us(10);
                }
                Err(np) => return Err(np),
            }
        }
    }

    /// Frees the memory an action holds whose command never reached the device.
    pub(crate) fn discard(&self, action: Action) {
        free_action(&self.platform, action);
    }
}

/// Returns the memory an action holds to the platform.
pub(crate) fn free_action<P: Platform>(platform: &P, action: Action) {
    match action {
        Action::Destroyed { memory, .. } => {
            for m in memory.into_iter().flatten() {
                platform.free_dma(m);
            }
        }
        Action::Registered { pbl: Some(m), .. } => platform.free_dma(m),
        _ => {}
    }
}
