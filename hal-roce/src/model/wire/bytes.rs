//! Bounds-checked big-endian field access shared by the codecs.

/// `N` bytes at `off`, or `None` past the end of `buf`.
pub(crate) fn arr<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The byte at `off`.
pub(crate) fn u8_at(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

/// Big-endian `u16` at `off`.
pub(crate) fn be16(buf: &[u8], off: usize) -> Option<u16> {
    arr::<2>(buf, off).map(u16::from_be_bytes)
}

/// Big-endian 24-bit value at `off`.
pub(crate) fn be24(buf: &[u8], off: usize) -> Option<u32> {
    let [a, b, c] = arr::<3>(buf, off)?;
    Some(u32::from_be_bytes([0, a, b, c]))
}

/// Big-endian `u32` at `off`.
pub(crate) fn be32(buf: &[u8], off: usize) -> Option<u32> {
    arr::<4>(buf, off).map(u32::from_be_bytes)
}

/// Big-endian `u64` at `off`.
pub(crate) fn be64(buf: &[u8], off: usize) -> Option<u64> {
    arr::<8>(buf, off).map(u64::from_be_bytes)
}

/// The low 24 bits of `v`, big-endian.
pub(crate) fn be24_bytes(v: u32) -> [u8; 3] {
    let [_, a, b, c] = v.to_be_bytes();
    [a, b, c]
}

/// Copies `src` to `buf[off..]`; a write past the end is dropped (callers write fixed
/// layouts into buffers of the right size, so this never happens).
pub(crate) fn put(buf: &mut [u8], off: usize, src: &[u8]) {
    let Some(end) = off.checked_add(src.len()) else {
        return;
    };
    if let Some(dst) = buf.get_mut(off..end) {
        dst.copy_from_slice(src);
    }
}

/// Sets the byte at `off` (dropped past the end, as [`put`]).
pub(crate) fn put_u8(buf: &mut [u8], off: usize, v: u8) {
    if let Some(b) = buf.get_mut(off) {
        *b = v;
    }
}
