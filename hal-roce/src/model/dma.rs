//! Device access to host memory at bus addresses (docs/silicon/rocev2.md §5). With
//! `MockPlatform` a bus address is the host address of a `Platform::alloc_dma` buffer or of a
//! page named by an MDL (`pfn << 12`), so DMA is a copy. This is the model's only other
//! `unsafe`; every failure is reported (the device turns it into a DMA_ERROR).

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
/// EQE, written last (§5.1).
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
