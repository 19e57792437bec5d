//! Object numbers and memory registration (§1 "object numbers are chosen by the driver",
//! §5.2 STags, §6.4.2 PDs, §6.4.7 MRs and MWs, §11.9).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use hal::queue::numbers::IdPool;
use hal::queue::objects;
use hal::{Cmd, CmdToken, HalError, HalResult, MrKind, Platform, Registration};

use super::cmdq::{Action, Post};
use super::params::{self, MrShape};
use super::IwarpNic;
use crate::admin::Command;
use crate::stag::{AccessFlags, STag, RESERVED_STAG_INDICES};
use crate::wqe::HOST_PAGE_LOG2;

/// Bytes of a host page (`hal::Registration::pages` are 4 KiB pages).
const PAGE: u64 = 1 << HOST_PAGE_LOG2;
/// Page addresses in one 4 KiB leaf of a two-level page list (§6.4.7 PBL_LEVELS 2).
const PBL_LEAF_ENTRIES: usize = 512;
/// ALLOC_MR KIND (§6.4.7).
const KIND_REGISTERED: u32 = 0;
const KIND_FAST_REGISTER: u32 = 1;

/// Every driver-chosen number space.
pub(crate) struct Ids {
    pub(crate) pd: IdPool,
    pub(crate) cq: IdPool,
    pub(crate) srq: IdPool,
    pub(crate) qp: IdPool,
    pub(crate) stag: IdPool,
    pub(crate) listen: IdPool,
    pub(crate) conn: IdPool,
    /// §5.2: one key counter per STag index, kept across free and reuse of the index so an
    /// STag of an earlier registration of the same index stays invalid.
    keys: Vec<u8>,
}

/// Limits of the number spaces (from the capabilities and BAR2's doorbell blocks).
pub(crate) struct IdLimits {
    pub(crate) pd: u32,
    pub(crate) cq: u32,
    pub(crate) srq: u32,
    pub(crate) qp: u32,
    pub(crate) stag: u32,
    pub(crate) listen: u32,
    pub(crate) conn: u32,
}

impl Ids {
    pub(crate) fn new(l: &IdLimits) -> HalResult<Ids> {
        let stag_entries = usize::try_from(l.stag).map_err(|_| HalError::NoResources)?;
        let mut keys = Vec::new();
        keys.try_reserve_exact(stag_entries)
            .map_err(|_| HalError::NoResources)?;
        keys.resize(stag_entries, 0);
        Ok(Ids {
            pd: IdPool::new(0, l.pd)?,
            cq: IdPool::new(0, l.cq)?,
            srq: IdPool::new(0, l.srq)?,
            // §3.4: QPN 0 is reserved.
            qp: IdPool::new(1, l.qp)?,
            // §5.2: STag indices 0 and 1 are reserved (1 is the privileged STag).
            stag: IdPool::new(RESERVED_STAG_INDICES, l.stag)?,
            listen: IdPool::new(0, l.listen)?,
            // §8.2: active connection ids are the driver's, below 0x8000_0000.
            conn: IdPool::new(0, l.conn.min(crate::cm::PASSIVE_CONN_ID_BASE))?,
            keys,
        })
    }

    /// The STag of the next registration of `index` (§5.2: the key byte is incremented for
    /// every REGISTER_MR, INIT_FAST_REG and ALLOC_MW of the index).
    pub(crate) fn next_stag(&mut self, index: u32) -> STag {
        let k = usize::try_from(index)
            .ok()
            .and_then(|i| self.keys.get_mut(i));
        match k {
            Some(k) => {
                *k = k.wrapping_add(1);
                STag::new(index, *k)
            }
            None => STag::new(index, 0),
        }
    }
}

/// A protection domain (its PDN).
#[derive(Debug)]
pub struct Pd {
    pub(crate) pdn: u32,
}

/// A memory region: its STag index; `stag` is the STag of its latest registration.
#[derive(Debug)]
pub struct Mr {
    index: u32,
    kind: MrKind,
    stag: AtomicU32,
}

/// A memory window: its STag.
#[derive(Debug)]
pub struct Mw {
    stag: u32,
}

impl<P: Platform> IwarpNic<P> {
    /// §6.4.2: the driver picks the PDN and posts CREATE_PD SILENT; the command fence (§4)
    /// orders it before anything that names the PD.
    pub(crate) fn pd_create(&self) -> HalResult<Pd> {
        let pdn = self
            .ctl
            .lock()
            .ids
            .pd
            .alloc()
            .ok_or(HalError::NoResources)?;
        match self.command(|_| Command::CreatePd, None, Post::silent(pdn), None, None) {
            Ok(_) => Ok(Pd { pdn }),
            Err(e) => {
                self.ctl.lock().ids.pd.free(pdn);
                Err(e)
            }
        }
    }

    /// DESTROY_PD SILENT. The number is free at once: admin commands run in ring order, so a
    /// later CREATE_PD of the same number runs after this destroy.
    pub(crate) fn pd_destroy(&self, pd: Pd) {
        let pdn = pd.pdn;
        if self
            .command_wait(|_| Command::DestroyPd, Post::silent(pdn), None, None)
            .is_ok()
        {
            self.ctl.lock().ids.pd.free(pdn);
        }
    }

    /// §11.9 step 1: choose an STag index, ALLOC_MR SILENT (OBJECT: the index with any key;
    /// the key byte is chosen at registration).
    pub(crate) fn mr_alloc(&self, pd: &Pd, kind: MrKind) -> HalResult<Mr> {
        let index = self
            .ctl
            .lock()
            .ids
            .stag
            .alloc()
            .ok_or(HalError::NoResources)?;
        let stag = STag::new(index, 0);
        let kind_code = match kind {
            MrKind::Registered => KIND_REGISTERED,
            MrKind::FastRegister => KIND_FAST_REGISTER,
        };
        let pdn = pd.pdn;
        let r = self.command(
            |_| Command::AllocMr(params::mem(pdn, kind_code)),
            None,
            Post::silent(stag.0),
            None,
            None,
        );
        match r {
            Ok(_) => Ok(Mr {
                index,
                kind,
                stag: AtomicU32::new(stag.0),
            }),
            Err(e) => {
                self.ctl.lock().ids.stag.free(index);
                Err(e)
            }
        }
    }

    /// §11.9 step 2: a new key byte, the page list in DMA memory, REGISTER_MR; the completion
    /// carries the STag (as lkey and rkey: §5.2, an MR's local and remote STag are one value).
    pub(crate) fn mr_register(
        &self,
        mr: &Mr,
        reg: &Registration<'_>,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>> {
        if mr.kind != MrKind::Registered {
            return Err(HalError::InvalidState);
        }
        if reg.pages.is_empty() || reg.length > self.caps.max_registration_size {
            return Err(HalError::InvalidParameter);
        }
        let page_count =
            u32::try_from(reg.pages.len()).map_err(|_| HalError::ImplementationLimit)?;
        if page_count > self.attrs.max_pbl_pages {
            return Err(HalError::ImplementationLimit);
        }
        let (levels, pbl_addr, pbl) =
            objects::build_page_list(&self.platform, reg.pages, PAGE, PBL_LEAF_ENTRIES)?;
        let stag = self.ctl.lock().ids.next_stag(mr.index);
        let cmd = params::register_mr(&MrShape {
            access: AccessFlags::from_hal(reg.access).bits(),
            log2_page_size: HOST_PAGE_LOG2,
            pbl_levels: levels,
            iova: reg.iova,
            length: reg.length,
            page_count,
            first_byte_offset: reg.first_byte_offset,
            pbl_addr,
        });
        self.command(
            |_| Command::RegisterMr(cmd),
            None,
            Post::on(stag.0),
            Some(token.0),
            Some(Action::Registered { token, pbl }),
        )?;
        mr.stag.store(stag.0, Ordering::Relaxed);
        Ok(Cmd::Pending)
    }

    /// DEREGISTER_MR with the provider's token.
    pub(crate) fn mr_deregister(&self, mr: &Mr, token: CmdToken) -> HalResult<Cmd<()>> {
        let stag = mr.stag.load(Ordering::Relaxed);
        self.command(
            |_| Command::DeregisterMr,
            None,
            Post::on(stag),
            Some(token.0),
            Some(Action::Report { token, keys: false }),
        )?;
        Ok(Cmd::Pending)
    }

    /// §11.9 step 3: a new key byte, INIT_FAST_REG; the completion carries the STag.
    pub(crate) fn mr_init_fast_register(
        &self,
        mr: &Mr,
        max_pages: u32,
        remote_access: bool,
        token: CmdToken,
    ) -> HalResult<Cmd<(u32, u32)>> {
        if mr.kind != MrKind::FastRegister {
            return Err(HalError::InvalidState);
        }
        if max_pages == 0 || max_pages > u32::from(self.attrs.frmr_max_pages) {
            return Err(HalError::ImplementationLimit);
        }
        let stag = self.ctl.lock().ids.next_stag(mr.index);
        let access = if remote_access {
            AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE
        } else {
            AccessFlags::empty()
        };
        self.command(
            |_| Command::InitFastReg(params::mem(max_pages, access.bits())),
            None,
            Post::on(stag.0),
            Some(token.0),
            Some(Action::Report { token, keys: true }),
        )?;
        mr.stag.store(stag.0, Ordering::Relaxed);
        Ok(Cmd::Pending)
    }

    /// FREE_MR SILENT (§6.4.7: a registered MR is deregistered first by the device); the
    /// index is free at once (ring order, as for PDs).
    pub(crate) fn mr_free(&self, mr: Mr) {
        let stag = mr.stag.load(Ordering::Relaxed);
        if self
            .command_wait(|_| Command::FreeMr, Post::silent(stag), None, None)
            .is_ok()
        {
            self.ctl.lock().ids.stag.free(mr.index);
        }
    }

    /// §11.9 step 4: index and new key byte, ALLOC_MW SILENT, the STag at once (§4 command
    /// fence: a BIND posted after it finds the window).
    pub(crate) fn mw_alloc(&self, pd: &Pd) -> HalResult<(Mw, u32)> {
        let stag = {
            let mut ctl = self.ctl.lock();
            let index = ctl.ids.stag.alloc().ok_or(HalError::NoResources)?;
            ctl.ids.next_stag(index)
        };
        let pdn = pd.pdn;
        match self.command(
            |_| Command::AllocMw(params::mem(pdn, 0)),
            None,
            Post::silent(stag.0),
            None,
            None,
        ) {
            Ok(_) => Ok((Mw { stag: stag.0 }, stag.0)),
            Err(e) => {
                self.ctl.lock().ids.stag.free(stag.index());
                Err(e)
            }
        }
    }

    /// FREE_MW SILENT.
    pub(crate) fn mw_free(&self, mw: Mw) {
        let stag = STag(mw.stag);
        if self
            .command_wait(|_| Command::FreeMw, Post::silent(stag.0), None, None)
            .is_ok()
        {
            self.ctl.lock().ids.stag.free(stag.index());
        }
    }
}
