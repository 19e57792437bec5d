//! Device access to host memory at bus addresses, for device models on `hal::mock`'s
//! `MockPlatform`: a bus address is the host address of a `Platform::alloc_dma` buffer or of
//! a page named by an MDL (`pfn << 12`), so DMA is a copy. Every failure is reported (a device
//! turns it into its DMA error).
#![allow(unsafe_code)]

/// Addresses below this are never valid DMA targets (catches null and small garbage).
const MIN_BUS_ADDRESS: u64 = 0x1000;

fn check(addr: u64, len: usize) -> Option<*mut u8> {
    let end = addr.checked_add(u64::try_from(len).ok()?)?;
    if addr < MIN_BUS_ADDRESS || end > isize::MAX as u64 {
        return None;
    }
    Some(addr as usize as *mut u8)
}

/// Reads `dst.len()` bytes of host memory at bus address `addr`.
pub fn read(addr: u64, dst: &mut [u8]) -> bool {
    if dst.is_empty() {
        return true;
    }
    let Some(p) = check(addr, dst.len()) else {
        return false;
    };
    // SAFETY: bus address = host address (MockPlatform); the driver named this memory to the
    // device (ring, record, mailbox or registered buffer) and keeps it allocated while the
    // device may use it, as the datasheet requires of a host. `dst` is model memory, disjoint.
    unsafe { core::ptr::copy_nonoverlapping(p.cast_const(), dst.as_mut_ptr(), dst.len()) };
    true
}

/// Writes `src` to host memory at bus address `addr`.
pub fn write(addr: u64, src: &[u8]) -> bool {
    if src.is_empty() {
        return true;
    }
    let Some(p) = check(addr, src.len()) else {
        return false;
    };
    // SAFETY: as in `read`; the target is device-writable memory the driver named.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), p, src.len()) };
    true
}

/// Writes one byte with a volatile store after a release fence: the owner byte of a CQE or
/// EQE, written last so the driver never sees a valid owner before the body.
pub fn write_owner(addr: u64, v: u8) -> bool {
    let Some(p) = check(addr, 1) else {
        return false;
    };
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    // SAFETY: as in `write`.
    unsafe { p.write_volatile(v) };
    true
}

/// Reads an array.
pub fn read_array<const N: usize>(addr: u64) -> Option<[u8; N]> {
    let mut b = [0u8; N];
    read(addr, &mut b).then_some(b)
}

/// Reads a little-endian u64.
pub fn read_u64(addr: u64) -> Option<u64> {
    read_array::<8>(addr).map(u64::from_le_bytes)
}

/// Writes a little-endian u32.
pub fn write_u32(addr: u64, v: u32) -> bool {
    write(addr, &v.to_le_bytes())
}

/// Writes a ring entry whose owner (phase) byte is at `owner_offset`: the bytes before it,
/// then the owner byte with [`write_owner`], so the driver never sees a valid owner before
/// the body. False (nothing more written) when either write fails or `entry` is too short.
pub fn write_entry(addr: u64, entry: &[u8], owner_offset: usize) -> bool {
    let (Some(body), Some(owner)) = (entry.get(..owner_offset), entry.get(owner_offset)) else {
        return false;
    };
    write(addr, body) && write_owner(addr.wrapping_add(owner_offset as u64), *owner)
}

/// Writes `data` across bus runs `(address, length)` in order (a scatter list); false when a
/// run fails or `data` is shorter than the runs.
pub fn write_runs(runs: &[(u64, usize)], data: &[u8]) -> bool {
    let mut pos = 0usize;
    for &(bus, n) in runs {
        let Some(src) = pos.checked_add(n).and_then(|end| data.get(pos..end)) else {
            return false;
        };
        if !write(bus, src) {
            return false;
        }
        pos += n;
    }
    true
}

/// Appends the bytes of bus runs `(address, length)` to `out` in order (a gather list).
pub fn read_runs(runs: &[(u64, usize)], out: &mut Vec<u8>) -> bool {
    for &(bus, n) in runs {
        let start = out.len();
        out.resize(start + n, 0);
        let Some(dst) = out.get_mut(start..) else {
            return false;
        };
        if !read(bus, dst) {
            return false;
        }
    }
    true
}

/// Reads `n` little-endian u64s (a page list).
pub fn read_u64s(addr: u64, n: usize) -> Option<Vec<u64>> {
    let mut raw = std::vec![0u8; n.checked_mul(8)?];
    if !read(addr, &mut raw) {
        return None;
    }
    Some(
        raw.chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect(),
    )
}
