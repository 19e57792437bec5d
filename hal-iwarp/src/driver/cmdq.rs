//! The admin command queue (ADMQ, §3.6, §6.1, §11.2): a host ring of 64-byte entries with one
//! 1024-byte mailbox per entry (§11.1 step 7), driver-chosen tokens, and the table of commands
//! whose `CMD_COMPLETE` the driver waits for.

use alloc::vec::Vec;
use core::net::IpAddr;

use hal::queue::admin::{self, AdminRing, Commands};
pub(crate) use hal::queue::admin::{Action, Release};
use hal::queue::objects::{ControlPath, Numbered, ObjectCmd};
use hal::{HalError, HalResult, Platform};
use tock_registers::interfaces::{Readable, Writeable};

use super::cm::CmState;
use super::mem::Ids;
use super::{params, IwarpNic};
use crate::admin::{mailbox, CmdEntry, Command, MailboxParams, CMD_SIZE};
use crate::cm::CM_RECORD_SIZE;
use crate::regs::{Bar0, ADMQ_CI, ADMQ_PI};

/// Bytes of the mailbox that belongs to each ADMQ entry (§11.1 step 7): the largest input is a
/// connection record (§5.8).
pub(crate) const MAILBOX_SIZE: usize = CM_RECORD_SIZE;

/// §6.1: tokens of driver-internal commands set bit 63; the provider's pass through unchanged.
pub(crate) const INTERNAL_TOKEN_BIT: u64 = 1 << 63;

/// How a command is posted: its OBJECT (§6.1) and whether it is SILENT.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Post {
    pub(crate) object: u32,
    pub(crate) silent: bool,
}

impl Post {
    /// A command on `object` that completes through the EQ.
    pub(crate) const fn on(object: u32) -> Post {
        Post {
            object,
            silent: false,
        }
    }

    /// A SILENT command on `object`: an EQE only when it fails.
    pub(crate) const fn silent(object: u32) -> Post {
        Post {
            object,
            silent: true,
        }
    }
}

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
    /// Interface addresses, in local address table order (§6.4.3: one SET_ADDR entry each).
    pub(crate) addrs: Vec<IpAddr>,
    /// Next-hop MAC addresses the glue resolved (§8.1: `CM_CONNECT` carries REMOTE_MAC).
    pub(crate) neighbors: Vec<(IpAddr, [u8; 6])>,
    /// The station MAC address in force (§3.3: the factory one until SET_MAC).
    pub(crate) station_mac: [u8; 6],
    /// Results of completed [`Action::Sync`] commands, by token.
    pub(crate) sync_done: Vec<(u64, HalResult<()>)>,
    /// CQs whose last RESIZE_CQ failed (room reserved when it was posted).
    pub(crate) failed_resizes: Vec<u32>,
}

impl Control {
    pub(crate) fn new(admq: AdminQueue, ids: Ids, station_mac: [u8; 6]) -> Control {
        Control {
            cmds: Commands::new(admq, INTERNAL_TOKEN_BIT),
            ids,
            cm: CmState::default(),
            addrs: Vec::new(),
            neighbors: Vec::new(),
            station_mac,
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
        build: impl FnOnce(MailboxParams) -> Command,
        input: Option<&[u8]>,
        how: Post,
        token: Option<u64>,
        action: Option<Action>,
    ) -> Result<u64, NotPosted> {
        self.cmds.submit(
            || (bar0.admq_ci.read(ADMQ_CI::CI) & 0xFFFF) as u16,
            |pi| bar0.admq_pi.write(ADMQ_PI::PI.val(u32::from(pi))),
            input,
            |addr, len, token| {
                CmdEntry {
                    command: build(mailbox(addr, len)),
                    silent: how.silent,
                    object: how.object,
                    token,
                }
                .encode()
            },
            token,
            action,
        )
    }
}

impl<P: Platform> IwarpNic<P> {
    /// Posts a command; on failure frees what the action holds (the command never reached the
    /// device). While the admin ring is full it waits for room (§11.2 step 1), outside the
    /// lock and bounded by [`ROOM_TIMEOUT_NS`]; a device that runs never makes it wait long.
    pub(crate) fn command(
        &self,
        build: impl Fn(MailboxParams) -> Command,
        input: Option<&[u8]>,
        how: Post,
        token: Option<u64>,
        action: Option<Action>,
    ) -> HalResult<u64> {
        self.submit_waiting(&build, input, how, token, action)
            .map_err(|np| {
                if let Some(a) = np.action {
                    self.discard(a);
                }
                np.error
            })
    }

    /// As [`IwarpNic::command`], for destroys and frees, whose object may still be alive in
    /// the device when the command cannot be posted: its memory is then leaked rather than
    /// freed under the device's feet.
    pub(crate) fn command_wait(
        &self,
        build: impl Fn(MailboxParams) -> Command,
        how: Post,
        token: Option<u64>,
        action: Option<Action>,
    ) -> HalResult<u64> {
        self.submit_waiting(&build, None, how, token, action)
            .map_err(|np| np.error)
    }

    fn submit_waiting(
        &self,
        build: &impl Fn(MailboxParams) -> Command,
        input: Option<&[u8]>,
        how: Post,
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
            self.ctl.lock().submit(bar0, build, input, how, token, a)
        })
    }

    /// Frees the memory an action holds whose command never reached the device.
    pub(crate) fn discard(&self, action: Action) {
        action.free(&self.platform);
    }
}

/// The control path of `hal::queue::objects`: RNIC-W1's encodings of the object commands
/// (§6.4.4–§6.4.6).
impl<P: Platform> ControlPath for IwarpNic<P> {
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
        let (command, how) = match cmd {
            ObjectCmd::CreateCq {
                cqn,
                log2,
                ring_addr,
                dbrec_addr,
                ctx,
            } => (
                // EQN 0 (revision 1 has one EQ), moderation off.
                Command::CreateCq(params::create_cq(log2, ring_addr, dbrec_addr, ctx)),
                Post::on(cqn),
            ),
            ObjectCmd::ResizeCq {
                cqn,
                log2,
                ring_addr,
            } => (
                Command::ResizeCq(params::resize_cq(log2, ring_addr)),
                Post::on(cqn),
            ),
            ObjectCmd::ModifyCq { cqn, count, period } => (
                Command::ModifyCq(params::modify_cq(count, period)),
                Post::silent(cqn),
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
                // LIMIT 0: not armed (`arm_srq_limit` arms it).
                Command::CreateSrq(params::create_srq(
                    pdn,
                    log2,
                    stride_log2,
                    ring_addr,
                    record_addr,
                    ctx,
                )),
                Post::on(srqn),
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
                Command::CreateQp {
                    use_srq: objects.srqn.is_some(),
                    params: params::create_qp(&params::QpShape {
                        pdn: objects.pdn,
                        send_cqn: objects.send_cqn,
                        recv_cqn: objects.recv_cqn,
                        srqn: objects.srqn,
                        log2_sq_depth: sq_log2,
                        log2_sq_stride: sq_stride_log2,
                        log2_rq_depth: rq_log2,
                        log2_rq_stride: rq_stride_log2,
                        ctx: objects.ctx,
                        buf_addr,
                        record_addr,
                    }),
                },
                Post::on(qpn),
            ),
            ObjectCmd::ModifySrqLimit { srqn, limit } => {
                (Command::ModifySrq(params::dword(limit)), Post::silent(srqn))
            }
            ObjectCmd::DestroyCq { cqn } => (Command::DestroyCq, Post::on(cqn)),
            ObjectCmd::DestroySrq { srqn } => (Command::DestroySrq, Post::on(srqn)),
            ObjectCmd::DestroyQp { qpn } => (Command::DestroyQp, Post::on(qpn)),
        };
        if destroy {
            self.command_wait(|_| command, how, token, action)
        } else {
            self.command(|_| command, None, how, token, action)
        }
    }
}
