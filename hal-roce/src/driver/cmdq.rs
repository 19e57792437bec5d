//! The admin command queue (ADMQ, §3.6, §6.1, §11.2): a host ring of 64-byte entries with one
//! 512-byte mailbox per entry, driver-chosen tokens, and the table of commands whose
//! `CMD_COMPLETE` the driver waits for.

use alloc::vec::Vec;
use core::net::IpAddr;

use hal::queue::admin::{self, AdminRing, Commands};
pub(crate) use hal::queue::admin::{Action, Release};
use hal::queue::objects::{ControlPath, Numbered, ObjectCmd};
use hal::{HalError, HalResult, Platform};
use tock_registers::interfaces::{Readable, Writeable};

use super::cm::CmState;
use super::mem::Ids;
use super::RoceNic;
use crate::admin::{
    CmdEntry, CmdFlags, Command, CreateCq, CreateQp, CreateSrq, Mailbox, CMD_SIZE,
    INTERNAL_TOKEN_BIT,
};
use crate::regs::{Bar0, ADMQ_CI, ADMQ_PI};

/// Bytes of the mailbox that belongs to each ADMQ entry (§11.1 step 7): the largest input is a
/// CM record (§5.8).
pub(crate) const MAILBOX_SIZE: usize = 512;

/// How long a command waits for room in a full admin ring before giving up (§11.2 step 1).
const ROOM_TIMEOUT_NS: u64 = 1_000_000_000;

/// The ADMQ ring of 64-byte entries and its mailboxes ([`hal::queue::admin`]).
pub(crate) type AdminQueue = AdminRing<CMD_SIZE>;

/// A command that could not be posted; the action comes back so its memory is not lost.
pub(crate) type NotPosted = hal::queue::admin::NotPosted<Action>;

/// Control-path state under the `ctl` lock.
pub(crate) struct Control {
    /// The ADMQ and the commands waiting for their `CMD_COMPLETE`.
    pub(crate) cmds: Commands<CMD_SIZE, Action>,
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
            cmds: Commands::new(admq, INTERNAL_TOKEN_BIT),
            ids,
            cm: CmState::default(),
            addrs: Vec::new(),
            neighbors: Vec::new(),
            sync_done: Vec::new(),
            failed_resizes: Vec::new(),
        }
    }

    /// Posts one command (§11.2). `token` `None` = an internal token (bit 63, §6.1). With
    /// an `action` the command is remembered until its `CMD_COMPLETE`; without one it should
    /// be SILENT (a failure of an internal command without an action is dropped by the event
    /// path).
    pub(crate) fn submit(
        &mut self,
        bar0: &Bar0,
        build: impl FnOnce(Mailbox) -> Command,
        input: Option<&[u8]>,
        flags: CmdFlags,
        token: Option<u64>,
        action: Option<Action>,
    ) -> Result<u64, NotPosted> {
        self.cmds.submit(
            || (bar0.admq_ci.read(ADMQ_CI::CI) & 0xFFFF) as u16,
            |pi| bar0.admq_pi.write(ADMQ_PI::PI.val(u32::from(pi))),
            input,
            |addr, len, token| {
                CmdEntry {
                    command: build(Mailbox { addr, len }),
                    flags,
                    token,
                }
                .encode()
            },
            token,
            action,
        )
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
        admin::submit_waiting(&self.platform, &self.fatal, ROOM_TIMEOUT_NS, action, |a| {
            self.ctl.lock().submit(bar0, build, input, flags, token, a)
        })
    }

    /// Frees the memory an action holds whose command never reached the device.
    pub(crate) fn discard(&self, action: Action) {
        action.free(&self.platform);
    }
}

/// The control path of `hal::queue::objects`: RNIC-R2's encodings of the object commands
/// (§6.4.4–§6.4.6).
impl<P: Platform> ControlPath for RoceNic<P> {
    fn alloc_number(&self, kind: Numbered) -> Option<u32> {
        let mut ctl = self.ctl.lock();
        match kind {
            Numbered::Cq => ctl.ids.cq.alloc(),
            Numbered::Srq => ctl.ids.srq.alloc(),
            Numbered::Qp => ctl.ids.qp.alloc(),
        }
    }

    fn free_number(&self, kind: Numbered, n: u32) {
        let mut ctl = self.ctl.lock();
        match kind {
            Numbered::Cq => ctl.ids.cq.free(n),
            Numbered::Srq => ctl.ids.srq.free(n),
            Numbered::Qp => ctl.ids.qp.free(n),
        }
    }

    fn with_failed_resizes<R>(&self, f: impl FnOnce(&mut Vec<u32>) -> R) -> R {
        f(&mut self.ctl.lock().failed_resizes)
    }

    fn soft_flush(&self) -> &super::flush::SoftFlush<P> {
        &self.flush
    }

    fn post(
        &self,
        cmd: ObjectCmd,
        token: Option<u64>,
        action: Option<Action>,
        destroy: bool,
    ) -> HalResult<u64> {
        let (command, flags) = match cmd {
            ObjectCmd::CreateCq {
                cqn,
                log2,
                ring_addr,
                dbrec_addr,
                ctx,
            } => (
                Command::CreateCq(CreateCq {
                    cqn,
                    log2_size: log2,
                    eqn: 0,
                    mod_count: 0,
                    mod_period: 0,
                    ring_addr,
                    dbrec_addr,
                    cq_context: ctx,
                }),
                CmdFlags::empty(),
            ),
            ObjectCmd::ResizeCq {
                cqn,
                log2,
                ring_addr,
            } => (
                Command::ResizeCq {
                    cqn,
                    log2_size: log2,
                    ring_addr,
                },
                CmdFlags::empty(),
            ),
            ObjectCmd::ModifyCq { cqn, count, period } => (
                Command::ModifyCq {
                    cqn,
                    mod_count: count,
                    mod_period: period,
                },
                CmdFlags::SILENT,
            ),
            ObjectCmd::CreateSrq {
                srqn,
                pdn,
                log2,
                stride_log2,
                ring_addr,
                record_addr,
                ctx,
            } => (
                Command::CreateSrq(CreateSrq {
                    srqn,
                    pdn,
                    log2_depth: log2,
                    log2_stride: stride_log2,
                    limit: 0,
                    ring_addr,
                    record_addr,
                    srq_context: ctx,
                }),
                CmdFlags::empty(),
            ),
            ObjectCmd::CreateQp {
                qpn,
                objects,
                sq_log2,
                sq_stride_log2,
                rq_log2,
                rq_stride_log2,
                buf_addr,
                record_addr,
            } => (
                Command::CreateQp(CreateQp {
                    qpn,
                    pdn: objects.pdn,
                    send_cqn: objects.send_cqn,
                    recv_cqn: objects.recv_cqn,
                    srqn: objects.srqn,
                    log2_sq_depth: sq_log2,
                    log2_sq_stride: sq_stride_log2,
                    log2_rq_depth: rq_log2,
                    log2_rq_stride: rq_stride_log2,
                    qp_context: objects.ctx,
                    buf_addr,
                    record_addr,
                }),
                CmdFlags::empty(),
            ),
            ObjectCmd::ModifySrqLimit { srqn, limit } => {
                (Command::ModifySrq { srqn, limit }, CmdFlags::SILENT)
            }
            ObjectCmd::DestroyCq { cqn } => (Command::DestroyCq { cqn }, CmdFlags::empty()),
            ObjectCmd::DestroySrq { srqn } => (Command::DestroySrq { srqn }, CmdFlags::empty()),
            ObjectCmd::DestroyQp { qpn } => (Command::DestroyQp { qpn }, CmdFlags::empty()),
        };
        if destroy {
            self.command_wait(|_| command, flags, token, action)
        } else {
            self.command(|_| command, None, flags, token, action)
        }
    }
}
