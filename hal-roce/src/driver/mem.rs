//! Object numbers and memory registration (§1 "object numbers are chosen by the driver",
//! §5.2 keys, §6.4.2 PDs, §6.4.7 MRs and MWs, §11.9).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use hal::queue::numbers::IdPool;
use hal::queue::objects;
use hal::{Cmd, CmdToken, HalError, HalResult, MrKind, Platform, Registration};

use super::cmdq::Action;
use super::RoceNic;
use crate::admin::{self, CmdFlags, Command, RegisterMr, PBL_LEAF_ENTRIES};
use crate::key::{Key, RESERVED_KEY_INDICES};
use crate::wqe::{AccessFlags, HOST_PAGE_LOG2};

/// Bytes of a host page (`hal::Registration::pages` are 4 KiB pages).
const PAGE: u64 = 1 << HOST_PAGE_LOG2;

/// Every driver-chosen number space.
pub(crate) struct Ids {
    pub(crate) pd: IdPool,
    pub(crate) cq: IdPool,
    pub(crate) srq: IdPool,
    pub(crate) qp: IdPool,
    pub(crate) mpt: IdPool,
    pub(crate) listen: IdPool,
    pub(crate) conn: IdPool,
    /// §5.2: one variant counter per key index, kept across free and reuse of the index so a
    /// key of an earlier MR of the same index stays invalid.
    variants: Vec<u8>,
}

/// Limits of the number spaces (from the capabilities and BAR2's doorbell blocks).
pub(crate) struct IdLimits {
    pub(crate) pd: u32,
    pub(crate) cq: u32,
    pub(crate) srq: u32,
    pub(crate) qp: u32,
    pub(crate) mpt: u32,
    pub(crate) listen: u32,
    pub(crate) conn: u32,
}

impl Ids {
    pub(crate) fn new(l: &IdLimits) -> HalResult<Ids> {
        let mpt_entries = usize::try_from(l.mpt).map_err(|_| HalError::NoResources)?;
        let mut variants = Vec::new();
        variants
            .try_reserve_exact(mpt_entries)
            .map_err(|_| HalError::NoResources)?;
        variants.resize(mpt_entries, 0);
        Ok(Ids {
            pd: IdPool::new(0, l.pd)?,
            cq: IdPool::new(0, l.cq)?,
            srq: IdPool::new(0, l.srq)?,
            // §3.4: QPN 0 and 1 are reserved (QP1 is the CM agent's).
            qp: IdPool::new(2, l.qp)?,
            // §5.2: key indices 0 and 1 are reserved.
            mpt: IdPool::new(RESERVED_KEY_INDICES, l.mpt)?,
            listen: IdPool::new(0, l.listen)?,
            // §8.2: active connection ids are the driver's, below 0x8000_0000.
            conn: IdPool::new(0, l.conn.min(0x8000_0000))?,
            variants,
        })
    }

    /// The key of the next registration of `index` (§5.2: a new variant every time).
    pub(crate) fn next_key(&mut self, index: u32) -> Key {
        let v = usize::try_from(index)
            .ok()
            .and_then(|i| self.variants.get_mut(i));
        match v {
            Some(v) => {
                *v = v.wrapping_add(1);
                Key::new(index, *v)
            }
            None => Key::new(index, 0),
        }
    }
}

/// A protection domain (its PDN).
#[derive(Debug)]
pub struct Pd {
    pub(crate) pdn: u32,
}

/// A memory region: its key index; `key` is the key of its latest registration.
#[derive(Debug)]
pub struct Mr {
    index: u32,
    kind: MrKind,
    key: AtomicU32,
}

/// A memory window: its key.
#[derive(Debug)]
pub struct Mw {
    key: u32,
}

impl<P: Platform> RoceNic<P> {
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
        match self.command(
            |_| Command::CreatePd { pdn },
            None,
            CmdFlags::SILENT,
            None,
            None,
        ) {
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
            .command_wait(|_| Command::DestroyPd { pdn }, CmdFlags::SILENT, None, None)
            .is_ok()
        {
            self.ctl.lock().ids.pd.free(pdn);
        }
    }

    /// §11.9 step 1: choose a key index, ALLOC_MR SILENT.
    pub(crate) fn mr_alloc(&self, pd: &Pd, kind: MrKind) -> HalResult<Mr> {
        let (index, key) = {
            let mut ctl = self.ctl.lock();
            let index = ctl.ids.mpt.alloc().ok_or(HalError::NoResources)?;
            (index, ctl.ids.next_key(index))
        };
        let pdn = pd.pdn;
        let r = self.command(
            |_| Command::AllocMr {
                key,
                pdn,
                kind: admin::MrKind::from(kind),
            },
            None,
            CmdFlags::SILENT,
            None,
            None,
        );
        match r {
            Ok(_) => Ok(Mr {
                index,
                kind,
                key: AtomicU32::new(key.0),
            }),
            Err(e) => {
                self.ctl.lock().ids.mpt.free(index);
                Err(e)
            }
        }
    }

    /// §11.9 step 2: a new variant, the page list in DMA memory, REGISTER_MR; the completion
    /// carries the keys.
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
        let key = self.ctl.lock().ids.next_key(mr.index);
        let cmd = RegisterMr {
            key,
            access: AccessFlags::from(reg.access),
            log2_page_size: HOST_PAGE_LOG2,
            pbl_levels: levels,
            iova: reg.iova,
            length: reg.length,
            page_count,
            first_byte_offset: reg.first_byte_offset,
            pbl_addr,
        };
        self.command(
            |_| Command::RegisterMr(cmd),
            None,
            CmdFlags::empty(),
            Some(token.0),
            Some(Action::Registered { token, pbl }),
        )?;
        mr.key.store(key.0, Ordering::Relaxed);
        Ok(Cmd::Pending)
    }

    /// DEREGISTER_MR with the provider's token.
    pub(crate) fn mr_deregister(&self, mr: &Mr, token: CmdToken) -> HalResult<Cmd<()>> {
        let key = Key(mr.key.load(Ordering::Relaxed));
        self.command(
            |_| Command::DeregisterMr { key },
            None,
            CmdFlags::empty(),
            Some(token.0),
            Some(Action::Report { token, keys: false }),
        )?;
        Ok(Cmd::Pending)
    }

    /// §11.9 step 3: a new variant, INIT_FAST_REG; the completion carries the keys.
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
        let key = self.ctl.lock().ids.next_key(mr.index);
        let access = if remote_access {
            AccessFlags::REMOTE_READ | AccessFlags::REMOTE_WRITE
        } else {
            AccessFlags::empty()
        };
        self.command(
            |_| Command::InitFastReg {
                key,
                max_pages,
                access,
            },
            None,
            CmdFlags::empty(),
            Some(token.0),
            Some(Action::Report { token, keys: true }),
        )?;
        mr.key.store(key.0, Ordering::Relaxed);
        Ok(Cmd::Pending)
    }

    /// FREE_MR SILENT (§6.4.7: a registered MR is deregistered first by the device); the
    /// index is free at once (ring order, as for PDs).
    pub(crate) fn mr_free(&self, mr: Mr) {
        let key = Key(mr.key.load(Ordering::Relaxed));
        if self
            .command_wait(|_| Command::FreeMr { key }, CmdFlags::SILENT, None, None)
            .is_ok()
        {
            self.ctl.lock().ids.mpt.free(mr.index);
        }
    }

    /// §11.9 step 4: index and new variant, ALLOC_MW SILENT, the key at once (§4 command
    /// fence: a BIND posted after it finds the window).
    pub(crate) fn mw_alloc(&self, pd: &Pd) -> HalResult<(Mw, u32)> {
        let (index, key) = {
            let mut ctl = self.ctl.lock();
            let index = ctl.ids.mpt.alloc().ok_or(HalError::NoResources)?;
            (index, ctl.ids.next_key(index))
        };
        let pdn = pd.pdn;
        match self.command(
            |_| Command::AllocMw { key, pdn },
            None,
            CmdFlags::SILENT,
            None,
            None,
        ) {
            Ok(_) => Ok((Mw { key: key.0 }, key.0)),
            Err(e) => {
                self.ctl.lock().ids.mpt.free(index);
                Err(e)
            }
        }
    }

    /// FREE_MW SILENT.
    pub(crate) fn mw_free(&self, mw: Mw) {
        let key = Key(mw.key);
        if self
            .command_wait(|_| Command::FreeMw { key }, CmdFlags::SILENT, None, None)
            .is_ok()
        {
            self.ctl.lock().ids.mpt.free(key.index());
        }
    }
}
