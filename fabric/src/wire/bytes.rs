//! Bounds-checked big-endian field access for wire codecs: reads return `None` past the end
//! instead of panicking, writes past the end are dropped.

/// `N` bytes at `off`, or `None` past the end of `buf`.
pub fn arr<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The byte at `off`.
pub fn u8_at(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

/// Big-endian `u16` at `off`.
pub fn be16(buf: &[u8], off: usize) -> Option<u16> {
    arr::<2>(buf, off).map(u16::from_be_bytes)
}

/// Big-endian 24-bit value at `off`.
pub fn be24(buf: &[u8], off: usize) -> Option<u32> {
    let [a, b, c] = arr::<3>(buf, off)?;
    Some(u32::from_be_bytes([0, a, b, c]))
}

/// Big-endian `u32` at `off`.
pub fn be32(buf: &[u8], off: usize) -> Option<u32> {
    arr::<4>(buf, off).map(u32::from_be_bytes)
}

/// Big-endian `u64` at `off`.
pub fn be64(buf: &[u8], off: usize) -> Option<u64> {
    arr::<8>(buf, off).map(u64::from_be_bytes)
}

/// The low 24 bits of `v`, big-endian.
pub fn be24_bytes(v: u32) -> [u8; 3] {
    let [_, a, b, c] = v.to_be_bytes();
    [a, b, c]
}

/// Copies `src` to `buf[off..]`; a write past the end is dropped (callers write fixed
/// layouts into buffers of the right size, so this never happens).
pub fn put(buf: &mut [u8], off: usize, src: &[u8]) {
    let Some(end) = off.checked_add(src.len()) else {
        return;
    };
    if let Some(dst) = buf.get_mut(off..end) {
        dst.copy_from_slice(src);
    }
}

/// Sets the byte at `off` (dropped past the end, as [`put`]).
pub fn put_u8(buf: &mut [u8], off: usize, v: u8) {
    if let Some(b) = buf.get_mut(off) {
        *b = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end_and_writes_past_it_are_dropped() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(be16(&b, 7), Some(0x0809));
        assert_eq!(be16(&b, 8), None);
        assert_eq!(be24(&b, 0), Some(0x010203));
        assert_eq!(be32(&b, 5), Some(0x06070809));
        assert_eq!(be64(&b, 1), Some(0x0203040506070809));
        assert_eq!(be64(&b, 2), None);
        assert_eq!(u8_at(&b, usize::MAX), None);
        assert_eq!(arr::<2>(&b, usize::MAX), None);
        assert_eq!(be24_bytes(0xAABBCCDD), [0xBB, 0xCC, 0xDD]);
        let mut w = [0u8; 4];
        put(&mut w, 2, &[7, 8]);
        put(&mut w, 3, &[9, 9]);
        put_u8(&mut w, 0, 1);
        put_u8(&mut w, 4, 1);
        assert_eq!(w, [1, 0, 7, 8]);
    }
}
