//! Memory keys, registrations and windows; translating `(key, va, len)` to host bytes.
//!
//! A key is `(index << 8) | variant`. MRs and MWs share one index space (an rkey may name
//! either), and each slot keeps its 8-bit variant across reuse, so a key of a freed,
//! deregistered or re-registered object stops matching. Index 0 is never allocated: key
//! [`PRIVILEGED_KEY`] (0) marks an SGE address as a logical (= host) address, local only.
//!
//! Every check happens before the engine moves a byte: [`KeyTable::resolve_local`] and
//! [`KeyTable::resolve_remote`] turn each SGE into a [`Span`], and [`KeyTable::copy`] only
//! walks spans that passed.

use alloc::vec::Vec;

use crate::{Access, HalError, HalResult, MrKind, Registration, Sge, MAX_SGE};

use super::dma::{self, PAGE_SIZE};
use super::queue::Id;

/// The privileged local key.
pub(crate) const PRIVILEGED_KEY: u32 = 0;
const PAGE: u64 = PAGE_SIZE as u64;
/// Key indices are 24 bits.
const MAX_INDEX: usize = 1 << 24;

/// Why a memory access was refused; reported as `Completion::vendor_error` so a failing test
/// shows which check fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Fault {
    /// Unknown, stale, invalidated, wrong-kind or other-device key.
    BadKey = 1,
    /// The key belongs to another protection domain.
    WrongPd = 2,
    /// The registration or window lacks a needed right.
    Rights = 3,
    /// The range is outside the registration or window.
    Bounds = 4,
    /// The message exceeds the device's transfer limit or a page list is too long.
    TooLong = 5,
    /// The peer QP is gone, in error, or its NIC left the fabric.
    PeerGone = 6,
    /// The incoming send is larger than the posted receive.
    Overflow = 7,
    /// The key of an invalidate is not a fast-registered MR or a bound window.
    BadInvalidate = 8,
    /// The operation is not enabled in the device's capabilities.
    NotSupported = 9,
}

/// What an access needs from a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Gather for a send or write (local read is always allowed).
    LocalRead,
    /// Scatter of a receive.
    LocalWrite,
    /// Sink of an RDMA read.
    ReadSink,
    /// Target of an RDMA read.
    RemoteRead,
    /// Target of an RDMA write.
    RemoteWrite,
}

impl Need {
    fn rights(self, read_sink_required: bool) -> Access {
        match self {
            Need::LocalRead => Access::empty(),
            Need::LocalWrite => Access::LOCAL_WRITE,
            Need::ReadSink if read_sink_required => Access::LOCAL_WRITE | Access::READ_SINK,
            Need::ReadSink => Access::LOCAL_WRITE,
            Need::RemoteRead => Access::REMOTE_READ,
            Need::RemoteWrite => Access::REMOTE_WRITE,
        }
    }
}

/// A memory region.
pub(crate) struct MrState {
    pub(crate) nic: usize,
    pub(crate) pd: Id,
    pub(crate) kind: MrKind,
    /// Registered (host MR) or fast-registered and not invalidated (FR MR).
    pub(crate) valid: bool,
    pub(crate) pages: Vec<u64>,
    pub(crate) fbo: u64,
    pub(crate) iova: u64,
    pub(crate) length: u64,
    pub(crate) access: Access,
    /// Fast-register MRs: page capacity from `init_fast_register` (0 before).
    pub(crate) max_pages: usize,
    pub(crate) remote_allowed: bool,
    /// Fast-register MRs: page list of a posted, not yet executed fast-register WR.
    pub(crate) staged: Vec<u64>,
}

/// Where a memory window points: `[addr, addr + length)` of the MR named by `mr_key`.
#[derive(Clone, Copy)]
pub(crate) struct Binding {
    pub(crate) mr_key: u32,
    pub(crate) addr: u64,
    pub(crate) length: u64,
    pub(crate) access: Access,
}

/// A memory window.
pub(crate) struct MwState {
    pub(crate) nic: usize,
    pub(crate) pd: Id,
    pub(crate) bound: Option<Binding>,
}

pub(crate) enum MemObj {
    Mr(MrState),
    Mw(MwState),
}

struct KeySlot {
    variant: u8,
    obj: Option<MemObj>,
}

/// Where the bytes of a validated range live.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// A host (= logical) address: privileged key or a WQE's inline buffer.
    Host(u64),
    /// Byte `offset` from the start of page 0 of the MR in key slot `idx`.
    Pages { idx: u32, offset: u64 },
}

/// A validated, contiguous-in-VA range.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    place: Place,
    len: u64,
}

impl Span {
    /// Bytes at a host address the engine owns (inline data).
    pub(crate) fn host(addr: u64, len: u64) -> Span {
        Span {
            place: Place::Host(addr),
            len,
        }
    }
}

/// Validated ranges of one scatter/gather list, on the stack.
pub(crate) struct Spans {
    items: [Span; MAX_SGE],
    n: usize,
    pub(crate) total: u64,
}

impl Spans {
    pub(crate) fn new() -> Spans {
        Spans {
            items: [Span::host(0, 0); MAX_SGE],
            n: 0,
            total: 0,
        }
    }

    pub(crate) fn one(span: Span) -> Spans {
        let mut s = Spans::new();
        s.push(span);
        s
    }

    fn push(&mut self, span: Span) -> bool {
        let Some(slot) = self.items.get_mut(self.n) else {
            return false;
        };
        *slot = span;
        self.n += 1;
        self.total = self.total.saturating_add(span.len);
        true
    }

    fn as_slice(&self) -> &[Span] {
        self.items.get(..self.n).unwrap_or(&[])
    }
}

/// Walks spans chunk by chunk, where a chunk is host-contiguous.
struct Cursor<'a> {
    spans: &'a [Span],
    i: usize,
    pos: u64,
}

impl Cursor<'_> {
    fn chunk(&mut self, t: &KeyTable) -> Option<(u64, u64)> {
        loop {
            let span = self.spans.get(self.i)?;
            if self.pos >= span.len {
                self.i += 1;
                self.pos = 0;
                continue;
            }
            return t.chunk(span, self.pos);
        }
    }

    fn advance(&mut self, n: u64) {
        self.pos += n;
    }
}

/// Every MR and MW of every NIC on the fabric.
pub(crate) struct KeyTable {
    slots: Vec<KeySlot>,
    free: Vec<u32>,
}

fn key_of(idx: u32, variant: u8) -> u32 {
    (idx << 8) | u32::from(variant)
}

/// `va .. va + len` inside `base .. base + length`: offset of `va` from `base`.
fn inside(va: u64, len: u64, base: u64, length: u64) -> Option<u64> {
    let off = va.checked_sub(base)?;
    (off.checked_add(len)? <= length).then_some(off)
}

impl KeyTable {
    pub(crate) fn new() -> KeyTable {
        // Slot 0 is the privileged key's and never handed out.
        KeyTable {
            slots: alloc::vec![KeySlot {
                variant: 0,
                obj: None
            }],
            free: Vec::new(),
        }
    }

    fn alloc(&mut self, obj: MemObj) -> HalResult<u32> {
        if let Some(idx) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(idx as usize) {
                slot.variant = slot.variant.wrapping_add(1);
                slot.obj = Some(obj);
                return Ok(idx);
            }
        }
        if self.slots.len() >= MAX_INDEX {
            return Err(HalError::NoResources);
        }
        let idx = u32::try_from(self.slots.len()).map_err(|_| HalError::NoResources)?;
        self.slots
            .try_reserve(1)
            .map_err(|_| HalError::NoResources)?;
        let need = (self.slots.len() + 1).saturating_sub(self.free.len());
        self.free
            .try_reserve(need)
            .map_err(|_| HalError::NoResources)?;
        self.slots.push(KeySlot {
            variant: 0,
            obj: Some(obj),
        });
        Ok(idx)
    }

    /// Frees a slot; its variant moves on so the last key cannot match a later object.
    pub(crate) fn free(&mut self, idx: u32) -> Option<MemObj> {
        if idx == 0 {
            return None;
        }
        let slot = self.slots.get_mut(idx as usize)?;
        let obj = slot.obj.take()?;
        slot.variant = slot.variant.wrapping_add(1);
        self.free.push(idx);
        Some(obj)
    }

    pub(crate) fn alloc_mr(&mut self, nic: usize, pd: Id, kind: MrKind) -> HalResult<u32> {
        self.alloc(MemObj::Mr(MrState {
            nic,
            pd,
            kind,
            valid: false,
            pages: Vec::new(),
            fbo: 0,
            iova: 0,
            length: 0,
            access: Access::empty(),
            max_pages: 0,
            remote_allowed: false,
            staged: Vec::new(),
        }))
    }

    /// Allocates a window; returns its slot and key.
    pub(crate) fn alloc_mw(&mut self, nic: usize, pd: Id) -> HalResult<(u32, u32)> {
        let idx = self.alloc(MemObj::Mw(MwState {
            nic,
            pd,
            bound: None,
        }))?;
        Ok((idx, self.key(idx)))
    }

    pub(crate) fn key(&self, idx: u32) -> u32 {
        key_of(idx, self.slots.get(idx as usize).map_or(0, |s| s.variant))
    }

    /// Moves the variant on: every key given out for this slot so far stops working.
    fn bump(&mut self, idx: u32) -> u32 {
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.variant = s.variant.wrapping_add(1);
        }
        self.key(idx)
    }

    pub(crate) fn mr(&self, idx: u32) -> Option<&MrState> {
        match self.slots.get(idx as usize)?.obj.as_ref()? {
            MemObj::Mr(m) => Some(m),
            MemObj::Mw(_) => None,
        }
    }

    fn mr_mut(&mut self, idx: u32) -> Option<&mut MrState> {
        match self.slots.get_mut(idx as usize)?.obj.as_mut()? {
            MemObj::Mr(m) => Some(m),
            MemObj::Mw(_) => None,
        }
    }

    /// The object a key names, when its variant is current.
    fn lookup(&self, key: u32) -> Option<(u32, &MemObj)> {
        let idx = key >> 8;
        let slot = self.slots.get(idx as usize)?;
        if idx == 0 || key_of(idx, slot.variant) != key {
            return None;
        }
        slot.obj.as_ref().map(|o| (idx, o))
    }

    fn lookup_mut(&mut self, key: u32) -> Option<&mut MemObj> {
        let idx = key >> 8;
        let slot = self.slots.get_mut(idx as usize)?;
        if idx == 0 || key_of(idx, slot.variant) != key {
            return None;
        }
        slot.obj.as_mut()
    }

    /// Counts of live `(mrs, mws)` of one NIC.
    pub(crate) fn count(&self, nic: usize) -> (usize, usize) {
        let mut n = (0, 0);
        for s in &self.slots {
            match &s.obj {
                Some(MemObj::Mr(m)) if m.nic == nic => n.0 += 1,
                Some(MemObj::Mw(w)) if w.nic == nic => n.1 += 1,
                _ => {}
            }
        }
        n
    }

    // --- control path -------------------------------------------------------------------

    /// Checks a host registration before anything is copied or a command is held.
    pub(crate) fn check_registration(reg: &Registration<'_>, max_size: u64) -> HalResult<()> {
        if reg.length > max_size {
            return Err(HalError::ImplementationLimit);
        }
        let fbo = u64::from(reg.first_byte_offset);
        let span = (reg.pages.len() as u64)
            .checked_mul(PAGE)
            .ok_or(HalError::InvalidParameter)?;
        if fbo >= PAGE
            || fbo.saturating_add(reg.length) > span
            || reg.pages.iter().any(|p| p % PAGE != 0)
        {
            return Err(HalError::InvalidParameter);
        }
        Ok(())
    }

    /// State check of `register_mr`: a host MR that is not registered.
    pub(crate) fn can_register(&self, idx: u32) -> HalResult<()> {
        match self.mr(idx) {
            Some(m) if m.kind == MrKind::Registered && !m.valid => Ok(()),
            _ => Err(HalError::InvalidState),
        }
    }

    /// Registers `pages` (copied by the caller); returns the new key.
    pub(crate) fn register(
        &mut self,
        idx: u32,
        pages: Vec<u64>,
        reg: &RegParams,
    ) -> HalResult<u32> {
        self.can_register(idx)?;
        let m = self.mr_mut(idx).ok_or(HalError::InvalidState)?;
        m.pages = pages;
        m.fbo = reg.fbo;
        m.iova = reg.iova;
        m.length = reg.length;
        m.access = reg.access;
        m.valid = true;
        Ok(self.bump(idx))
    }

    pub(crate) fn can_deregister(&self, idx: u32) -> HalResult<()> {
        match self.mr(idx) {
            Some(m) if m.kind == MrKind::Registered && m.valid => Ok(()),
            _ => Err(HalError::InvalidState),
        }
    }

    pub(crate) fn deregister(&mut self, idx: u32) -> HalResult<()> {
        self.can_deregister(idx)?;
        let m = self.mr_mut(idx).ok_or(HalError::InvalidState)?;
        m.valid = false;
        m.pages = Vec::new();
        self.bump(idx);
        Ok(())
    }

    pub(crate) fn can_init_fast_register(&self, idx: u32) -> HalResult<()> {
        match self.mr(idx) {
            Some(m) if m.kind == MrKind::FastRegister => Ok(()),
            _ => Err(HalError::InvalidState),
        }
    }

    /// Reserves the page lists fast-register WRs will fill, so they never allocate.
    pub(crate) fn init_fast_register(
        &mut self,
        idx: u32,
        max_pages: usize,
        remote: bool,
    ) -> HalResult<u32> {
        self.can_init_fast_register(idx)?;
        let mut pages = Vec::new();
        pages
            .try_reserve_exact(max_pages)
            .map_err(|_| HalError::NoResources)?;
        let mut staged = Vec::new();
        staged
            .try_reserve_exact(max_pages)
            .map_err(|_| HalError::NoResources)?;
        let m = self.mr_mut(idx).ok_or(HalError::InvalidState)?;
        m.pages = pages;
        m.staged = staged;
        m.max_pages = max_pages;
        m.remote_allowed = remote;
        m.valid = false;
        Ok(self.bump(idx))
    }

    // --- data path ----------------------------------------------------------------------

    fn mr_span(idx: u32, m: &MrState, va: u64, len: u64) -> Result<Span, Fault> {
        let off = inside(va, len, m.iova, m.length).ok_or(Fault::Bounds)?;
        Ok(Span {
            place: Place::Pages {
                idx,
                offset: m.fbo + off,
            },
            len,
        })
    }

    /// Validates a local SGE (key, device, PD, rights, bounds).
    pub(crate) fn resolve_local(
        &self,
        nic: usize,
        pd: Id,
        sge: &Sge,
        need: Need,
        sink_right: bool,
    ) -> Result<Span, Fault> {
        let len = u64::from(sge.length);
        if len == 0 {
            return Ok(Span::host(0, 0));
        }
        if sge.lkey == PRIVILEGED_KEY {
            return Ok(Span::host(sge.addr, len));
        }
        let Some((idx, MemObj::Mr(m))) = self.lookup(sge.lkey) else {
            return Err(Fault::BadKey);
        };
        if m.nic != nic || !m.valid {
            return Err(Fault::BadKey);
        }
        if m.pd != pd {
            return Err(Fault::WrongPd);
        }
        if !m.access.contains(need.rights(sink_right)) {
            return Err(Fault::Rights);
        }
        KeyTable::mr_span(idx, m, sge.addr, len)
    }

    /// Validates a local scatter/gather list and its total length.
    pub(crate) fn resolve_sgl(
        &self,
        nic: usize,
        pd: Id,
        sgl: &[Sge],
        need: Need,
        sink_right: bool,
        max_len: u64,
    ) -> Result<Spans, Fault> {
        let mut spans = Spans::new();
        for sge in sgl {
            let span = self.resolve_local(nic, pd, sge, need, sink_right)?;
            if !spans.push(span) {
                return Err(Fault::TooLong);
            }
        }
        if spans.total > max_len {
            return Err(Fault::TooLong);
        }
        Ok(spans)
    }

    /// Validates a remote access on the target device: the rkey names an MR with the
    /// remote right, or a bound window with it, in the target QP's PD, and covers the range.
    pub(crate) fn resolve_remote(
        &self,
        nic: usize,
        pd: Id,
        rkey: u32,
        va: u64,
        len: u64,
        need: Need,
    ) -> Result<Span, Fault> {
        if rkey == PRIVILEGED_KEY {
            return Err(Fault::BadKey);
        }
        let rights = need.rights(false);
        match self.lookup(rkey) {
            Some((idx, MemObj::Mr(m))) => {
                if m.nic != nic || !m.valid {
                    return Err(Fault::BadKey);
                }
                if m.pd != pd {
                    return Err(Fault::WrongPd);
                }
                if !m.access.contains(rights) {
                    return Err(Fault::Rights);
                }
                KeyTable::mr_span(idx, m, va, len)
            }
            Some((_, MemObj::Mw(w))) => {
                let b = w.bound.ok_or(Fault::BadKey)?;
                if w.nic != nic {
                    return Err(Fault::BadKey);
                }
                if w.pd != pd {
                    return Err(Fault::WrongPd);
                }
                if !b.access.contains(rights) {
                    return Err(Fault::Rights);
                }
                inside(va, len, b.addr, b.length).ok_or(Fault::Bounds)?;
                // The window is only as good as the MR under it.
                let Some((idx, MemObj::Mr(m))) = self.lookup(b.mr_key) else {
                    return Err(Fault::BadKey);
                };
                if !m.valid {
                    return Err(Fault::BadKey);
                }
                KeyTable::mr_span(idx, m, va, len)
            }
            None => Err(Fault::BadKey),
        }
    }

    /// Host address and contiguous length at `pos` of a span.
    fn chunk(&self, span: &Span, pos: u64) -> Option<(u64, u64)> {
        let left = span.len.checked_sub(pos)?;
        match span.place {
            Place::Host(a) => Some((a.checked_add(pos)?, left)),
            Place::Pages { idx, offset } => {
                let off = offset.checked_add(pos)?;
                let page = *self.mr(idx)?.pages.get(usize::try_from(off / PAGE).ok()?)?;
                let within = off % PAGE;
                Some((page + within, left.min(PAGE - within)))
            }
        }
    }

    /// Moves `min(src.total, dst.total)` bytes; returns how many moved.
    pub(crate) fn copy(&self, src: &Spans, dst: &Spans) -> u64 {
        let mut s = Cursor {
            spans: src.as_slice(),
            i: 0,
            pos: 0,
        };
        let mut d = Cursor {
            spans: dst.as_slice(),
            i: 0,
            pos: 0,
        };
        let mut moved = 0u64;
        while let Some((sa, sn)) = s.chunk(self) {
            let Some((da, dn)) = d.chunk(self) else { break };
            let n = sn.min(dn);
            let Ok(n_usize) = usize::try_from(n) else {
                break;
            };
            dma::copy(sa, da, n_usize);
            s.advance(n);
            d.advance(n);
            moved += n;
        }
        moved
    }

    /// Post time of a fast-register WR: copies its page list into the MR's reserved staging
    /// list (like hardware reading the consumer's page list buffer). `false` when the key
    /// is not a fast-register MR of this device or the list is longer than it was
    /// initialized for; the WR then fails when it executes.
    pub(crate) fn stage_pages(&mut self, nic: usize, key: u32, pages: &[u64]) -> bool {
        match self.lookup_mut(key) {
            Some(MemObj::Mr(m))
                if m.nic == nic && m.kind == MrKind::FastRegister && pages.len() <= m.max_pages =>
            {
                m.staged.clear();
                m.staged.extend_from_slice(pages);
                true
            }
            _ => false,
        }
    }

    /// Executes a fast-register WR. The key does not change (see the module docs of
    /// [`super`]: the contract has no way to report a new key from a WR).
    pub(crate) fn fast_register(
        &mut self,
        nic: usize,
        pd: Id,
        key: u32,
        staged: bool,
        reg: &RegParams,
        max_size: u64,
    ) -> Result<(), Fault> {
        let Some(MemObj::Mr(m)) = self.lookup_mut(key) else {
            return Err(Fault::BadKey);
        };
        if m.nic != nic || m.kind != MrKind::FastRegister || m.max_pages == 0 {
            return Err(Fault::BadKey);
        }
        if m.pd != pd {
            return Err(Fault::WrongPd);
        }
        if !staged || reg.length > max_size {
            return Err(Fault::TooLong);
        }
        let span = (m.staged.len() as u64).saturating_mul(PAGE);
        if reg.fbo >= PAGE || reg.fbo.saturating_add(reg.length) > span {
            return Err(Fault::Bounds);
        }
        if reg
            .access
            .intersects(Access::REMOTE_READ | Access::REMOTE_WRITE)
            && !m.remote_allowed
        {
            return Err(Fault::Rights);
        }
        core::mem::swap(&mut m.pages, &mut m.staged);
        m.staged.clear();
        m.fbo = reg.fbo;
        m.iova = reg.iova;
        m.length = reg.length;
        m.access = reg.access;
        m.valid = true;
        Ok(())
    }

    /// Binds window `mw_rkey` as `b` says: the MR must be valid, in the PD, cover the range,
    /// and allow local write when the window allows remote write.
    pub(crate) fn bind(
        &mut self,
        nic: usize,
        pd: Id,
        mw_rkey: u32,
        b: Binding,
    ) -> Result<(), Fault> {
        let Binding {
            mr_key,
            addr,
            length,
            access,
        } = b;
        let Some((_, MemObj::Mr(m))) = self.lookup(mr_key) else {
            return Err(Fault::BadKey);
        };
        if m.nic != nic || !m.valid {
            return Err(Fault::BadKey);
        }
        if m.pd != pd {
            return Err(Fault::WrongPd);
        }
        inside(addr, length, m.iova, m.length).ok_or(Fault::Bounds)?;
        if access.contains(Access::REMOTE_WRITE) && !m.access.contains(Access::LOCAL_WRITE) {
            return Err(Fault::Rights);
        }
        let Some(MemObj::Mw(w)) = self.lookup_mut(mw_rkey) else {
            return Err(Fault::BadKey);
        };
        if w.nic != nic {
            return Err(Fault::BadKey);
        }
        if w.pd != pd {
            return Err(Fault::WrongPd);
        }
        w.bound = Some(b);
        Ok(())
    }

    /// Whether `key` could be invalidated by a QP of `nic` in `pd` (checked before a read
    /// with local invalidate moves data).
    pub(crate) fn can_invalidate(&self, nic: usize, pd: Id, key: u32) -> bool {
        match self.lookup(key) {
            Some((_, MemObj::Mr(m))) => {
                m.nic == nic && m.pd == pd && m.kind == MrKind::FastRegister && m.valid
            }
            Some((_, MemObj::Mw(w))) => w.nic == nic && w.pd == pd && w.bound.is_some(),
            None => false,
        }
    }

    /// Invalidates a fast-registered MR or unbinds a window.
    pub(crate) fn invalidate(&mut self, nic: usize, pd: Id, key: u32) -> Result<(), Fault> {
        if !self.can_invalidate(nic, pd, key) {
            return Err(Fault::BadInvalidate);
        }
        match self.lookup_mut(key) {
            Some(MemObj::Mr(m)) => m.valid = false,
            Some(MemObj::Mw(w)) => w.bound = None,
            None => return Err(Fault::BadInvalidate),
        }
        Ok(())
    }
}

/// The scalar part of a registration (the page list travels separately).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RegParams {
    pub(crate) fbo: u64,
    pub(crate) iova: u64,
    pub(crate) length: u64,
    pub(crate) access: Access,
}

impl RegParams {
    pub(crate) fn of(reg: &Registration<'_>) -> RegParams {
        RegParams {
            fbo: u64::from(reg.first_byte_offset),
            iova: reg.iova,
            length: reg.length,
            access: reg.access,
        }
    }
}
