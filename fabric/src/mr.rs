//! Address translation of a memory registration (an MR or a bound window), shared by the NIC
//! models: both datasheets map a registration's bytes from its I/O virtual address through a
//! first-byte offset onto contiguous memory or a list of pages.

use std::vec::Vec;

/// Where a registration's pages are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pages {
    /// Contiguous from this bus address.
    Contiguous(u64),
    /// One bus address per page.
    List(Vec<u64>),
}

/// A registration's translation: `iova` is the address of its first byte, which lies `fbo`
/// bytes into the first page; pages are `1 << log2_page` bytes.
#[derive(Clone, Copy, Debug)]
pub struct PageMap<'a> {
    /// The pages.
    pub pages: &'a Pages,
    /// I/O virtual address of the first byte.
    pub iova: u64,
    /// First byte offset into the first page.
    pub fbo: u32,
    /// Page size, log2.
    pub log2_page: u8,
}

impl PageMap<'_> {
    /// Bus address of the byte at `addr` (inside the registration).
    pub fn bus(&self, addr: u64) -> Option<u64> {
        let off = addr
            .checked_sub(self.iova)?
            .checked_add(u64::from(self.fbo))?;
        match self.pages {
            Pages::Contiguous(b) => b.checked_add(off),
            Pages::List(l) => {
                let page = usize::try_from(off >> self.log2_page).ok()?;
                let within = off & ((1u64 << self.log2_page) - 1);
                l.get(page)?.checked_add(within)
            }
        }
    }

    /// Splits `[addr, addr + len)` into bus runs that do not cross pages, appended to `out`;
    /// false when a byte does not translate.
    pub fn runs(&self, addr: u64, len: u64, out: &mut Vec<(u64, usize)>) -> bool {
        let page = 1u64 << self.log2_page;
        let mut a = addr;
        let mut left = len;
        while left > 0 {
            let Some(b) = self.bus(a) else { return false };
            let Some(off) = (a - self.iova).checked_add(u64::from(self.fbo)) else {
                return false;
            };
            let n = match self.pages {
                Pages::Contiguous(_) => left,
                Pages::List(_) => (page - (off & (page - 1))).min(left),
            };
            let Ok(nn) = usize::try_from(n) else {
                return false;
            };
            out.push((b, nn));
            a += n;
            left -= n;
        }
        true
    }
}
