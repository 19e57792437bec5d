//! Little-endian field access on byte buffers that never panics: an access outside the buffer
//! reads zeros or writes nothing. Every format module uses fixed offsets inside fixed-size
//! arrays, which the unit tests cover, so the fallback is never taken in practice.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

/// Copies `N` bytes at `off`; zeros when out of bounds.
pub(crate) fn get<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = off.checked_add(N).and_then(|end| b.get(off..end)) {
        out.iter_mut().zip(src).for_each(|(o, s)| *o = *s);
    }
    out
}

/// Copies `src` to `off`; nothing when out of bounds.
pub(crate) fn put(b: &mut [u8], off: usize, src: &[u8]) {
    if let Some(dst) = off
        .checked_add(src.len())
        .and_then(|end| b.get_mut(off..end))
    {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
    }
}

pub(crate) fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(get(b, off))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(get(b, off))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(get(b, off))
}

pub(crate) fn put_u8(b: &mut [u8], off: usize, v: u8) {
    put(b, off, &[v]);
}

pub(crate) fn put_u16(b: &mut [u8], off: usize, v: u16) {
    put(b, off, &v.to_le_bytes());
}

pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    put(b, off, &v.to_le_bytes());
}

pub(crate) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    put(b, off, &v.to_le_bytes());
}

/// True when every byte of `b[range]` is zero (reserved-field checks); true when out of bounds.
pub(crate) fn zero(b: &[u8], off: usize, len: usize) -> bool {
    off.checked_add(len)
        .and_then(|end| b.get(off..end))
        .is_none_or(|s| s.iter().all(|&x| x == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bounds_reads_zero_and_writes_nothing() {
        let mut b = [0u8; 4];
        put_u32(&mut b, 2, 0xFFFF_FFFF);
        assert_eq!(b, [0; 4]);
        put_u16(&mut b, 2, 0xBEEF);
        assert_eq!(u32_at(&b, 0), 0xBEEF_0000);
        assert_eq!(u64_at(&b, 0), 0);
        assert_eq!(u8_at(&b, 9), 0);
        assert_eq!(get::<2>(&b, usize::MAX), [0, 0]);
    }
}
