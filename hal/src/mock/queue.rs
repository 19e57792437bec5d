//! Object tables and queue state: CQ, SQ, RQ, SRQ and QP records.
//!
//! Every ring is a `VecDeque` reserved to its depth when the object is created (with
//! `try_reserve_exact`, so a refusing allocator turns into `NoResources`), and never grows
//! afterwards: the fast path only pushes into and pops from reserved storage.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::{Access, Completion, ConnId, HalError, HalResult, Sge, MAX_INLINE_DATA, MAX_SGE};

/// A generation-checked index into a [`Slab`], so a stale reference to a freed and reused
/// slot (a peer QP that was destroyed, a CQ gone under a QP) is detected instead of aliased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Id {
    idx: u32,
    gen: u32,
}

impl Id {
    /// Packs into a [`ConnId`] (16-bit index and generation; the mock's connection table
    /// never gets that big).
    /// The low half holds `index + 1`, so a `ConnId` is never 0.
    pub(crate) fn to_conn(self) -> Option<ConnId> {
        (self.idx < 0xffff).then_some(ConnId(((self.gen & 0xffff) << 16) | (self.idx + 1)))
    }

    /// The slot and 16-bit generation a [`ConnId`] names (`None` for 0 in the low half).
    fn conn_parts(c: ConnId) -> Option<(u32, u32)> {
        Some(((c.0 & 0xffff).checked_sub(1)?, c.0 >> 16))
    }
}

struct Slot<T> {
    gen: u32,
    val: Option<T>,
}

/// A table of objects with reusable, generation-checked slots.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Stores `val`; `NoResources` when the table cannot grow.
    pub(crate) fn insert(&mut self, val: T) -> HalResult<Id> {
        if let Some(idx) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(idx as usize) {
                slot.gen = slot.gen.wrapping_add(1);
                slot.val = Some(val);
                return Ok(Id { idx, gen: slot.gen });
            }
        }
        let idx = u32::try_from(self.slots.len()).map_err(|_| HalError::NoResources)?;
        self.slots
            .try_reserve(1)
            .map_err(|_| HalError::NoResources)?;
        // Keep room for every index in the free list, so `remove` never allocates.
        let need = (self.slots.len() + 1).saturating_sub(self.free.len());
        self.free
            .try_reserve(need)
            .map_err(|_| HalError::NoResources)?;
        self.slots.push(Slot {
            gen: 0,
            val: Some(val),
        });
        Ok(Id { idx, gen: 0 })
    }

    pub(crate) fn get(&self, id: Id) -> Option<&T> {
        let slot = self.slots.get(id.idx as usize)?;
        if slot.gen == id.gen {
            slot.val.as_ref()
        } else {
            None
        }
    }

    pub(crate) fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.idx as usize)?;
        if slot.gen == id.gen {
            slot.val.as_mut()
        } else {
            None
        }
    }

    pub(crate) fn remove(&mut self, id: Id) -> Option<T> {
        let slot = self.slots.get_mut(id.idx as usize)?;
        if slot.gen != id.gen {
            return None;
        }
        let val = slot.val.take()?;
        self.free.push(id.idx);
        Some(val)
    }

    /// Live objects with their ids, in slot order (deterministic).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Id, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let idx = u32::try_from(i).ok()?;
            s.val.as_ref().map(|v| (Id { idx, gen: s.gen }, v))
        })
    }

    /// The id of the `n`-th slot if it is live: lets callers walk the table by index while
    /// mutating other parts of the world, without collecting ids into a `Vec`.
    pub(crate) fn id_at(&self, n: usize) -> Option<Id> {
        let s = self.slots.get(n)?;
        let idx = u32::try_from(n).ok()?;
        s.val.as_ref().map(|_| Id { idx, gen: s.gen })
    }

    /// The live object a [`ConnId`] from [`Id::to_conn`] names.
    pub(crate) fn conn(&self, c: ConnId) -> Option<Id> {
        let (idx, gen16) = Id::conn_parts(c)?;
        let s = self.slots.get(idx as usize)?;
        (s.val.is_some() && s.gen & 0xffff == gen16).then_some(Id { idx, gen: s.gen })
    }

    pub(crate) fn capacity_slots(&self) -> usize {
        self.slots.len()
    }
}

/// Reserves `depth` entries of a new ring.
pub(crate) fn ring<T>(depth: usize) -> HalResult<VecDeque<T>> {
    let mut q = VecDeque::new();
    q.try_reserve_exact(depth)
        .map_err(|_| HalError::NoResources)?;
    Ok(q)
}

/// A protection domain.
pub(crate) struct PdState {
    pub(crate) nic: usize,
}

/// A scatter/gather list stored inline in a WQE.
#[derive(Clone, Copy)]
pub(crate) struct SgList {
    sges: [Sge; MAX_SGE],
    n: u8,
}

impl SgList {
    /// `None` when `sges` has more than `max` entries.
    pub(crate) fn new(sges: &[Sge], max: usize) -> Option<SgList> {
        if sges.len() > max.min(MAX_SGE) {
            return None;
        }
        let mut list = SgList {
            sges: [Sge::default(); MAX_SGE],
            n: u8::try_from(sges.len()).ok()?,
        };
        list.sges.get_mut(..sges.len())?.copy_from_slice(sges);
        Some(list)
    }

    pub(crate) fn as_slice(&self) -> &[Sge] {
        self.sges.get(..usize::from(self.n)).unwrap_or(&[])
    }
}

/// Send or write payload as the WQE holds it.
#[derive(Clone, Copy)]
pub(crate) enum Data {
    Sgl(SgList),
    Inline {
        bytes: [u8; MAX_INLINE_DATA],
        len: u16,
    },
}

impl Data {
    pub(crate) fn inline(src: &[u8], max: usize) -> Option<Data> {
        if src.len() > max.min(MAX_INLINE_DATA) {
            return None;
        }
        let mut bytes = [0u8; MAX_INLINE_DATA];
        bytes.get_mut(..src.len())?.copy_from_slice(src);
        Some(Data::Inline {
            bytes,
            len: u16::try_from(src.len()).ok()?,
        })
    }
}

/// The operation of a queued initiator WQE.
#[derive(Clone, Copy)]
pub(crate) enum WqeOp {
    Send {
        data: Data,
        invalidate: Option<u32>,
    },
    Write {
        data: Data,
        remote_addr: u64,
        rkey: u32,
    },
    Read {
        sinks: SgList,
        remote_addr: u64,
        rkey: u32,
    },
    /// The page list went to the MR's staging buffer at post time (`staged` says whether it
    /// fit); the rest of the registration travels in the WQE.
    FastRegister {
        key: u32,
        staged: bool,
        fbo: u32,
        iova: u64,
        length: u64,
        access: Access,
    },
    Bind {
        mw_rkey: u32,
        mr_lkey: u32,
        addr: u64,
        length: u64,
        access: Access,
    },
    Invalidate {
        key: u32,
    },
}

/// An initiator WQE.
#[derive(Clone, Copy)]
pub(crate) struct SendWqe {
    pub(crate) wr_id: u64,
    pub(crate) flags: crate::WrFlags,
    pub(crate) op: WqeOp,
}

impl SendWqe {
    pub(crate) fn opcode(&self) -> crate::WcOpcode {
        use crate::WcOpcode as O;
        match self.op {
            WqeOp::Send { .. } => O::Send,
            WqeOp::Write { .. } => O::Write,
            WqeOp::Read { .. } => O::Read,
            WqeOp::FastRegister { .. } => O::FastRegister,
            WqeOp::Bind { .. } => O::Bind,
            WqeOp::Invalidate { .. } => O::Invalidate,
        }
    }
}

/// A receive WQE (QP receive queue or SRQ).
#[derive(Clone, Copy)]
pub(crate) struct RecvWqe {
    pub(crate) wr_id: u64,
    pub(crate) sgl: SgList,
}

/// Initiator queue: WQEs in post order; the first `rung` of them were doorbelled.
pub(crate) struct SqState {
    pub(crate) depth: usize,
    pub(crate) wqes: VecDeque<SendWqe>,
    pub(crate) rung: usize,
}

/// Receive queue of a QP without an SRQ.
pub(crate) struct RqState {
    pub(crate) depth: usize,
    pub(crate) wqes: VecDeque<RecvWqe>,
}

/// Connection state of a QP as the data path sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QpMode {
    /// Created, not connected yet: receives and sends queue up, nothing executes.
    Reset,
    /// Connected to `QpState::peer`: doorbells execute WQEs.
    Connected,
    /// Everything outstanding was flushed; every later post is flushed at once.
    Error,
}

/// A queue pair.
pub(crate) struct QpState {
    pub(crate) nic: usize,
    pub(crate) pd: Id,
    pub(crate) send_cq: Id,
    pub(crate) recv_cq: Id,
    pub(crate) srq: Option<Id>,
    pub(crate) ctx: u64,
    pub(crate) max_send_sge: usize,
    pub(crate) max_recv_sge: usize,
    pub(crate) max_inline: usize,
    pub(crate) mode: QpMode,
    pub(crate) peer: Option<Id>,
    pub(crate) conn: Option<ConnId>,
    /// Set once the QP was connected; a QP may only be connected once.
    pub(crate) connected_once: bool,
    pub(crate) sq: SqState,
    pub(crate) rq: Option<RqState>,
    /// The SQ head is executing now (so a peer failing meanwhile does not re-run it).
    pub(crate) executing: bool,
}

/// One CQ entry: the completion plus whether it satisfies a solicited-only arm.
#[derive(Clone, Copy)]
pub(crate) struct CqEntry {
    pub(crate) c: Completion,
    pub(crate) solicited: bool,
}

/// What pushing a completion did.
pub(crate) enum Pushed {
    /// Stored; `notify` when an arm fired.
    Stored { notify: bool },
    /// The CQ was full: this completion is lost and the CQ is overrun from now on.
    Overrun,
    /// The CQ is already overrun; the completion is dropped.
    Dropped,
}

/// A completion queue.
pub(crate) struct CqState {
    pub(crate) nic: usize,
    pub(crate) ctx: u64,
    pub(crate) depth: usize,
    pub(crate) entries: VecDeque<CqEntry>,
    /// `Some(solicited_only)` while armed.
    pub(crate) arm: Option<bool>,
    pub(crate) overrun: bool,
    pub(crate) moderation: (u32, u32),
}

impl CqState {
    pub(crate) fn new(nic: usize, ctx: u64, depth: usize) -> HalResult<CqState> {
        Ok(CqState {
            nic,
            ctx,
            depth,
            entries: ring(depth)?,
            arm: None,
            overrun: false,
            moderation: (0, 0),
        })
    }

    fn qualifies(e: &CqEntry, solicited_only: bool) -> bool {
        !solicited_only || e.solicited || e.c.status != crate::WcStatus::Success
    }

    pub(crate) fn push(&mut self, c: Completion, solicited: bool) -> Pushed {
        if self.overrun {
            return Pushed::Dropped;
        }
        if self.entries.len() >= self.depth {
            self.overrun = true;
            self.arm = None;
            return Pushed::Overrun;
        }
        let e = CqEntry { c, solicited };
        self.entries.push_back(e);
        let notify = match self.arm {
            Some(so) => CqState::qualifies(&e, so),
            None => false,
        };
        if notify {
            self.arm = None;
        }
        Pushed::Stored { notify }
    }

    pub(crate) fn poll(&mut self, out: &mut [Completion]) -> usize {
        let mut n = 0;
        for slot in out.iter_mut() {
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            *slot = e.c;
            n += 1;
        }
        n
    }

    /// Arms; `true` when a waiting completion satisfies the arm at once (then not armed).
    pub(crate) fn arm(&mut self, solicited_only: bool) -> bool {
        if self.overrun {
            return false;
        }
        if self
            .entries
            .iter()
            .any(|e| CqState::qualifies(e, solicited_only))
        {
            self.arm = None;
            return true;
        }
        self.arm = Some(solicited_only);
        false
    }

    /// Moves the entries into a ring of `depth`; fails when they would not fit.
    pub(crate) fn resize(&mut self, depth: usize) -> HalResult<()> {
        if depth == 0 || depth < self.entries.len() {
            return Err(HalError::InvalidParameter);
        }
        let mut next = ring(depth)?;
        next.extend(self.entries.drain(..));
        self.entries = next;
        self.depth = depth;
        Ok(())
    }
}

/// A shared receive queue.
pub(crate) struct SrqState {
    pub(crate) nic: usize,
    pub(crate) pd: Id,
    pub(crate) ctx: u64,
    pub(crate) depth: usize,
    pub(crate) max_sge: usize,
    pub(crate) wqes: VecDeque<RecvWqe>,
    /// Armed limit of the one-shot `SrqLimit` event.
    pub(crate) limit: Option<u32>,
    /// QPs taking receives from this SRQ, to resume their peers' waiting sends.
    pub(crate) qps: Vec<Id>,
}

impl SrqState {
    pub(crate) fn queued(&self) -> u32 {
        u32::try_from(self.wqes.len()).unwrap_or(u32::MAX)
    }

    /// `true` when the armed limit fired (it disarms).
    pub(crate) fn check_limit(&mut self) -> bool {
        match self.limit {
            Some(l) if self.queued() < l => {
                self.limit = None;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn resize(&mut self, depth: usize) -> HalResult<()> {
        if depth < self.wqes.len() {
            return Err(HalError::InvalidParameter);
        }
        let mut next = ring(depth)?;
        next.extend(self.wqes.drain(..));
        self.wqes = next;
        self.depth = depth;
        Ok(())
    }
}
