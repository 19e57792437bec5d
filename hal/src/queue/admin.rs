//! The admin queue protocol shared by the reference NICs (and the shape of irdma's CQP and
//! mlx5's command queue): a host ring of `E`-byte command entries with one input mailbox per
//! entry, a producer doorbell, a consumer counter read only when the ring looks full,
//! driver-chosen tokens (internal ones marked by a high bit), and the table of commands whose
//! completion event the driver waits for. The silicon encodes entries and names its
//! registers; its completion events carry the token back.

use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicBool, Ordering};

use super::events::SoftEvents;
use crate::ring;
use crate::{
    CmEvent, CmdToken, CmdValue, DmaRegion, HalError, HalEvent, HalResult, Platform, PrivateData,
};

/// The admin ring and its mailboxes.
#[derive(Debug)]
pub struct AdminRing<const E: usize> {
    ring: Option<DmaRegion>,
    mailboxes: Option<DmaRegion>,
    log2: u8,
    mailbox_size: usize,
    /// Entries written (free-running, 16 bits).
    pi: u16,
    /// Last consumer counter read; refreshed only when the ring looks full.
    ci: u16,
}

impl<const E: usize> AdminRing<E> {
    /// Allocates a ring of `2^log2` entries and as many mailboxes of `mailbox_size` bytes
    /// (zeroed by `alloc_dma`); nothing stays allocated on failure.
    pub fn new<P: Platform>(p: &P, log2: u8, mailbox_size: usize) -> HalResult<Self> {
        let n = 1usize.checked_shl(u32::from(log2)).ok_or(HalError::Fatal)?;
        let ring = p.alloc_dma(n.checked_mul(E).ok_or(HalError::NoResources)?)?;
        let mailboxes = match n
            .checked_mul(mailbox_size)
            .ok_or(HalError::NoResources)
            .and_then(|len| p.alloc_dma(len))
        {
            Ok(m) => m,
            Err(e) => {
                p.free_dma(ring);
                return Err(e);
            }
        };
        Ok(AdminRing {
            ring: Some(ring),
            mailboxes: Some(mailboxes),
            log2,
            mailbox_size,
            pi: 0,
            ci: 0,
        })
    }

    /// Bus address of the ring (for the ring's base registers).
    pub fn bus_address(&self) -> u64 {
        self.ring.as_ref().map_or(0, DmaRegion::bus_address)
    }

    /// log2 of the entry count (for the ring's size register).
    pub fn log2(&self) -> u8 {
        self.log2
    }

    /// Returns the memory to the platform (after the device was reset).
    pub fn free<P: Platform>(&mut self, p: &P) {
        if let Some(r) = self.ring.take() {
            p.free_dma(r);
        }
        if let Some(r) = self.mailboxes.take() {
            p.free_dma(r);
        }
    }

    /// Room when `PI − CI < N`; `read_ci` (an MMIO read, slow) is called only when the
    /// cached value says the ring is full.
    fn has_room(&mut self, read_ci: impl FnOnce() -> u16) -> bool {
        let n = 1u32.checked_shl(u32::from(self.log2)).unwrap_or(0);
        if u32::from(self.pi.wrapping_sub(self.ci)) < n {
            return true;
        }
        self.ci = read_ci();
        u32::from(self.pi.wrapping_sub(self.ci)) < n
    }

    /// Writes the mailbox input, the entry `entry` encodes from its mailbox's bus address and
    /// length, then a release fence and `write_pi` with the new producer counter. A full ring
    /// is `NoResources`.
    pub fn post(
        &mut self,
        read_ci: impl FnOnce() -> u16,
        write_pi: impl FnOnce(u16),
        input: Option<&[u8]>,
        entry: impl FnOnce(u64, u32) -> [u8; E],
    ) -> HalResult<()> {
        if !self.has_room(read_ci) {
            return Err(HalError::NoResources);
        }
        let (Some(ring), Some(mailboxes)) = (self.ring.as_ref(), self.mailboxes.as_ref()) else {
            return Err(HalError::Fatal);
        };
        let slot = ring::slot(u32::from(self.pi), self.log2);
        let mb_off = slot.checked_mul(self.mailbox_size).ok_or(HalError::Fatal)?;
        let mb_addr = mailboxes.bus_address().wrapping_add(mb_off as u64);
        // The mailbox of this slot is free: the consumer passed the entry that used it last.
        if let Some(data) = input {
            if data.len() > self.mailbox_size || !mailboxes.write(mb_off, data) {
                return Err(HalError::InvalidParameter);
            }
        }
        let bytes = entry(mb_addr, self.mailbox_size as u32);
        let off = slot.checked_mul(E).ok_or(HalError::Fatal)?;
        if !ring.write(off, &bytes) {
            return Err(HalError::Fatal);
        }
        self.pi = self.pi.wrapping_add(1);
        // The entry and mailbox are visible before the doorbell.
        fence(Ordering::Release);
        write_pi(self.pi);
        Ok(())
    }
}

/// What a driver does when an admin command completes (its completion event carries the
/// token). The follow-ups are the same for every silicon whose control path is an admin
/// queue; the command encodings are not.
#[derive(Debug)]
pub enum Action {
    /// A provider command: queue `CommandComplete`; `keys` when the output dwords are the
    /// keys.
    Report {
        /// The provider's token.
        token: CmdToken,
        /// The output carries keys.
        keys: bool,
    },
    /// A provider destroy: on success free the memory and the object number, then report.
    /// On failure the object still exists and may still DMA: keep both, report the error.
    Destroyed {
        /// The provider's token.
        token: CmdToken,
        /// The object number to free.
        release: Release,
        /// The memory the object used.
        memory: [Option<DmaRegion>; 4],
    },
    /// RESIZE_CQ: report; on failure remember the CQN, so the next resize or destroy frees
    /// the new ring the device never took.
    Resized {
        /// The provider's token.
        token: CmdToken,
        /// The CQ resized.
        cqn: u32,
    },
    /// A registration: report the keys, and free the host page list the device has copied
    /// (it may be freed when the command has completed).
    Registered {
        /// The provider's token.
        token: CmdToken,
        /// The page list.
        pbl: Option<DmaRegion>,
    },
    /// A connect command failed: the driver reports `ConnectFailed` itself (a failed CM
    /// command writes no connection event).
    ConnectFailed {
        /// The connection.
        conn: u32,
        /// Its provider context.
        ctx: u64,
    },
    /// An accept failed: reported as `AcceptFailed`.
    AcceptFailed {
        /// The connection.
        conn: u32,
    },
    /// A complete (RTU) failed: reported as `ConnectFailed`.
    CompleteFailed {
        /// The connection.
        conn: u32,
    },
    /// A disconnect failed: reported as `DisconnectComplete` with the error.
    DisconnectFailed {
        /// The connection.
        conn: u32,
    },
    /// A release executed: the id may be reused, events for it stop being filtered.
    Released {
        /// The connection.
        conn: u32,
    },
    /// A stop-listen executed: the listen id may be reused.
    ListenStopped {
        /// The listener.
        listen_id: u32,
    },
    /// A bring-up or control command the driver itself waits for.
    Sync,
}

/// An object number freed when its destroy completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// A CQ number.
    Cq(u32),
    /// An SRQ number.
    Srq(u32),
    /// A QP number.
    Qp(u32),
}

impl Action {
    /// The provider's token when the provider waits for this command's `CommandComplete`
    /// (to fail it when the device dies).
    pub fn provider_token(&self) -> Option<CmdToken> {
        match self {
            Action::Report { token, .. }
            | Action::Destroyed { token, .. }
            | Action::Resized { token, .. }
            | Action::Registered { token, .. } => Some(*token),
            _ => None,
        }
    }

    /// Returns the memory the action holds to the platform (its command never reached the
    /// device, or the device was reset).
    pub fn free<P: Platform>(self, platform: &P) {
        match self {
            Action::Destroyed { memory, .. } => {
                for m in memory.into_iter().flatten() {
                    platform.free_dma(m);
                }
            }
            Action::Registered { pbl: Some(m), .. } => platform.free_dma(m),
            _ => {}
        }
    }
}

/// A command waiting for its completion, with what to do then.
#[derive(Debug)]
pub struct Pending<A> {
    /// The token the completion carries.
    pub token: u64,
    /// The silicon's follow-up.
    pub action: A,
}

/// A command that could not be posted; the action comes back so its memory is not lost.
#[derive(Debug)]
pub struct NotPosted<A> {
    /// Why.
    pub error: HalError,
    /// The action that was to run at completion.
    pub action: Option<A>,
}

/// The admin ring plus the table of commands waiting for their completion.
#[derive(Debug)]
pub struct Commands<const E: usize, A> {
    /// The ring.
    pub ring: AdminRing<E>,
    pending: Vec<Pending<A>>,
    next_internal: u64,
    internal_bit: u64,
}

impl<const E: usize, A> Commands<E, A> {
    /// No command pending; internal tokens carry `internal_bit`, which provider tokens do not.
    pub fn new(ring: AdminRing<E>, internal_bit: u64) -> Self {
        Commands {
            ring,
            pending: Vec::new(),
            next_internal: 0,
            internal_bit,
        }
    }

    /// A token for a driver-internal command.
    pub fn internal_token(&mut self) -> u64 {
        self.next_internal = self.next_internal.wrapping_add(1) & !self.internal_bit;
        self.internal_bit | self.next_internal
    }

    /// Posts one command (see [`AdminRing::post`]; `entry` also gets the token). `token`
    /// `None` = an internal token. With an `action` the command is remembered until its
    /// completion (room reserved before posting, so a posted command is never forgotten).
    pub fn submit(
        &mut self,
        read_ci: impl FnOnce() -> u16,
        write_pi: impl FnOnce(u16),
        input: Option<&[u8]>,
        entry: impl FnOnce(u64, u32, u64) -> [u8; E],
        token: Option<u64>,
        action: Option<A>,
    ) -> Result<u64, NotPosted<A>> {
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
        let posted = self.ring.post(read_ci, write_pi, input, |addr, len| {
            entry(addr, len, token)
        });
        if let Err(error) = posted {
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
    pub fn take_pending(&mut self, token: u64) -> Option<A> {
        let i = self.pending.iter().position(|p| p.token == token)?;
        Some(self.pending.remove(i).action)
    }

    /// How many commands wait for their completion.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Takes every pending command (the device died, or was reset).
    pub fn drain_pending(&mut self) -> alloc::vec::Drain<'_, Pending<A>> {
        self.pending.drain(..)
    }
}

/// Retries `attempt` while the admin ring is full (`NoResources`), stalling 10 µs between
/// tries (the device, or a model, which steps in `stall_us`, makes room), for at most
/// `timeout_ns`; stops at once when `fatal` is set. Call it holding no lock.
pub fn submit_waiting<P: Platform, A>(
    platform: &P,
    fatal: &AtomicBool,
    timeout_ns: u64,
    action: Option<A>,
    mut attempt: impl FnMut(Option<A>) -> Result<u64, NotPosted<A>>,
) -> Result<u64, NotPosted<A>> {
    let start = platform.now_ns();
    let mut action = action;
    loop {
        if fatal.load(Ordering::Acquire) {
            return Err(NotPosted {
                error: HalError::Fatal,
                action,
            });
        }
        match attempt(action) {
            Ok(t) => return Ok(t),
            Err(NotPosted {
                error: HalError::NoResources,
                action: a,
            }) if platform.now_ns().wrapping_sub(start) < timeout_ns => {
                action = a;
                platform.stall_us(super::wait::POLL_US);
            }
            Err(np) => return Err(np),
        }
    }
}

impl<const E: usize> Commands<E, Action> {
    /// A dead device (FATAL or surprise-removed) completes nothing more: queues
    /// `DeviceRemoved` or `DeviceFatal`, then a `Fatal` completion for every command the
    /// provider waits for, each tagged `tag`. The event buffer grows for them first, so none
    /// is lost to its bound. Memory in the actions is dropped unreturned (leaked) on purpose:
    /// a dead device's DMA state is unknown.
    pub fn fail_all<T: Copy>(&mut self, events: &mut SoftEvents<T>, removed: bool, tag: T) {
        events.grow_for(self.pending_len().saturating_add(1));
        let ev = if removed {
            HalEvent::DeviceRemoved
        } else {
            HalEvent::DeviceFatal
        };
        events.push(ev, tag);
        for p in self.drain_pending() {
            if let Some(token) = p.action.provider_token() {
                let failed = HalEvent::CommandComplete {
                    token,
                    result: Err(HalError::Fatal),
                };
                events.push(failed, tag);
            }
        }
    }
}

/// How a command completed, as the silicon's `CMD_COMPLETE` event tells it.
#[derive(Clone, Copy, Debug)]
pub struct CmdOutcome {
    /// The command's result.
    pub result: HalResult<()>,
    /// The device no longer has the object (status OK or BAD_OBJECT): a destroy is done
    /// and its memory may go, as nothing can DMA into it any more.
    pub object_gone: bool,
    /// The event's two output dwords (the keys of a registration).
    pub output: [u32; 2],
    /// The output dwords belong to a command the silicon knows (else a `keys` report
    /// carries no keys).
    pub output_valid: bool,
}

/// What a completed command leaves for the silicon's control state to do, under its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Followup {
    /// Nothing.
    None,
    /// A destroy completed: free the object number (for a QP, also its flush feeders).
    Release(Release),
    /// RESIZE_CQ of this CQ failed: remember it (room was reserved when it was posted).
    ResizeFailed(u32),
    /// CM_RELEASE executed for this connection.
    Released(u32),
    /// STOP_LISTEN executed for this listener.
    ListenStopped(u32),
    /// A command the driver waits for itself completed with this result.
    Sync(HalResult<()>),
}

/// The result of [`complete`]: the event for the provider (with the connection it concerns,
/// so a release can take it back) and the follow-up for the control state.
#[derive(Debug)]
pub struct Completed {
    /// The event to queue, if any.
    pub event: Option<(HalEvent, Option<u32>)>,
    /// What the control state does.
    pub followup: Followup,
}

/// The command-completion dispatch both reference silicons share (§11.2 step 6): turns the
/// pending `action` of a completed command into the provider's event, frees the DMA memory
/// the action held once the device is done with it, and says what the control state must
/// update. `cm` gives the provider context of a connection. Allocates nothing.
pub fn complete<P: Platform>(
    platform: &P,
    cm: &super::cm::CmBook,
    action: Action,
    outcome: CmdOutcome,
) -> Completed {
    let CmdOutcome {
        result,
        object_gone,
        output: [d0, d1],
        output_valid,
    } = outcome;
    let report = |token: CmdToken, value: CmdValue| HalEvent::CommandComplete {
        token,
        result: result.map(|()| value),
    };
    let event = |ev: HalEvent| Completed {
        event: Some((ev, None)),
        followup: Followup::None,
    };
    let conn_event = |conn: u32, ev: CmEvent| Completed {
        event: Some((HalEvent::Cm(ev), Some(conn))),
        followup: Followup::None,
    };
    let nothing = |followup: Followup| Completed {
        event: None,
        followup,
    };
    let ctx_of = |conn: u32| cm.ctx_of(conn).unwrap_or(0);
    match action {
        Action::Report { token, keys } => {
            let value = if keys && output_valid {
                CmdValue::Keys(d0, d1)
            } else {
                CmdValue::Unit
            };
            event(report(token, value))
        }
        Action::Resized { token, cqn } => Completed {
            event: Some((report(token, CmdValue::Unit), None)),
            followup: if result.is_err() {
                Followup::ResizeFailed(cqn)
            } else {
                Followup::None
            },
        },
        Action::Registered { token, pbl } => {
            if let Some(m) = pbl {
                platform.free_dma(m);
            }
            event(report(token, CmdValue::Keys(d0, d1)))
        }
        Action::Destroyed {
            token,
            release,
            memory,
        } => {
            let mut followup = Followup::None;
            if object_gone {
                for m in memory.into_iter().flatten() {
                    platform.free_dma(m);
                }
                followup = Followup::Release(release);
            }
            let result = if object_gone { Ok(()) } else { result };
            Completed {
                event: Some((
                    HalEvent::CommandComplete {
                        token,
                        result: result.map(|()| CmdValue::Unit),
                    },
                    None,
                )),
                followup,
            }
        }
        Action::ConnectFailed { conn, ctx } => match result {
            Err(error) => conn_event(
                conn,
                CmEvent::ConnectFailed {
                    ctx,
                    error,
                    private_data: PrivateData::EMPTY,
                },
            ),
            Ok(()) => nothing(Followup::None),
        },
        Action::AcceptFailed { conn } => match result {
            Err(error) => conn_event(
                conn,
                CmEvent::AcceptFailed {
                    ctx: ctx_of(conn),
                    error,
                },
            ),
            Ok(()) => nothing(Followup::None),
        },
        Action::CompleteFailed { conn } => match result {
            Err(error) => conn_event(
                conn,
                CmEvent::ConnectFailed {
                    ctx: ctx_of(conn),
                    error,
                    private_data: PrivateData::EMPTY,
                },
            ),
            Ok(()) => nothing(Followup::None),
        },
        Action::DisconnectFailed { conn } => match result {
            Err(error) => conn_event(
                conn,
                CmEvent::DisconnectComplete {
                    ctx: ctx_of(conn),
                    error: Some(error),
                },
            ),
            Ok(()) => nothing(Followup::None),
        },
        Action::Released { conn } => nothing(Followup::Released(conn)),
        Action::ListenStopped { listen_id } => nothing(Followup::ListenStopped(listen_id)),
        Action::Sync => nothing(Followup::Sync(result)),
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn a_full_ring_reads_the_consumer_counter_and_refuses_without_room() {
        let p = crate::mock::MockPlatform::new();
        let ring = AdminRing::<8>::new(&p, 1, 16).unwrap();
        let mut cmds: Commands<8, u8> = Commands::new(ring, 1 << 63);
        let reads = Cell::new(0);
        let read_ci = || {
            reads.set(reads.get() + 1);
            0
        };
        let rung = Cell::new(0u16);
        let entry = |addr: u64, len: u32, token: u64| {
            assert_eq!(len, 16);
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&(addr as u32).to_le_bytes());
            e[4] = token as u8;
            e
        };
        let t1 = cmds
            .submit(
                read_ci,
                |pi| rung.set(pi),
                Some(&[1, 2]),
                entry,
                Some(7),
                Some(1),
            )
            .unwrap();
        let t2 = cmds
            .submit(read_ci, |pi| rung.set(pi), None, entry, None, None)
            .unwrap();
        assert_eq!(
            (t1, rung.get(), reads.get()),
            (7, 2, 0),
            "room: no MMIO read"
        );
        assert_eq!(t2, 1 << 63 | 1, "an internal token");
        let full = cmds.submit(read_ci, |pi| rung.set(pi), None, entry, None, Some(2));
        assert!(matches!(
            full,
            Err(NotPosted {
                error: HalError::NoResources,
                action: Some(2)
            })
        ));
        assert_eq!(reads.get(), 1, "CI read once the ring looked full");
        assert_eq!(cmds.pending_len(), 1);
        assert_eq!(cmds.take_pending(7), Some(1));
        assert_eq!(cmds.take_pending(7), None);
        cmds.ring.free(&p);
    }
}
