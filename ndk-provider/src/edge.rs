//! Reading and writing the consumer's memory at the ABI edge: argument arrays, out
//! parameters, socket addresses and MDL chains. Each helper states the NDKPI guarantee it
//! relies on; the object logic above only sees safe Rust values.

use alloc::vec::Vec;
use core::ffi::c_void;
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::abi::*;

/// A slice of `n` consumer elements at `p`; `None` when `p` is NULL and `n > 0`.
///
/// # Safety
/// When non-null, `p` must point to `n` readable, initialized elements that stay valid for
/// `'a` (NDKPI: input arrays are valid for the duration of the call).
pub unsafe fn slice<'a, T>(p: *const T, n: u32) -> Option<&'a [T]> {
    if n == 0 {
        return Some(&[]);
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    Some(unsafe { core::slice::from_raw_parts(p, n as usize) })
}

/// Writable consumer array of `n` elements.
///
/// # Safety
/// When non-null, `p` must point to `n` writable elements, exclusively ours for `'a`.
pub unsafe fn slice_mut<'a, T>(p: *mut T, n: u32) -> Option<&'a mut [T]> {
    if n == 0 {
        return Some(&mut []);
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    Some(unsafe { core::slice::from_raw_parts_mut(p, n as usize) })
}

/// Consumer bytes (`pPrivateData`, inline SGE data).
///
/// # Safety
/// As for [`slice`].
pub unsafe fn bytes<'a>(p: *const c_void, n: u32) -> Option<&'a [u8]> {
    // SAFETY: forwarded.
    unsafe { slice(p.cast::<u8>(), n) }
}

/// Bytes at a consumer virtual address (inline data of an SGE).
///
/// # Safety
/// The consumer guarantees inline SGE buffers are resident and readable until the post
/// returns (ndkpi.md §5.2).
pub unsafe fn va_bytes<'a>(va: u64, n: u32) -> Option<&'a [u8]> {
    // SAFETY: forwarded.
    unsafe { slice(va as usize as *const u8, n) }
}

/// The address of an SGE: a registered virtual address or, with the privileged token, a
/// logical address (ndkpi.md §5.2); the provider passes it on as a number either way.
pub fn sge_address(s: &NDK_SGE) -> u64 {
    // SAFETY: both members of the union are 8 bytes of plain data (a pointer or an i64);
    // reading the integer view of either is defined.
    (unsafe { s.Address.LogicalAddress }) as u64
}

/// Stack room for one request's SGL, left uninitialized so the post path does not clear it.
pub type SglBuf = [core::mem::MaybeUninit<hal::Sge>; hal::MAX_SGE];

/// An empty [`SglBuf`].
pub const fn sgl_buf() -> SglBuf {
    [core::mem::MaybeUninit::uninit(); hal::MAX_SGE]
}

/// Copies a consumer SGL into `out` for the HAL, checking the SGE count against `max_sge`
/// and the total length against `max_len` (`STATUS_INVALID_PARAMETER`, ndkpi.md §5.1).
pub fn sgl<'a>(
    sges: &[NDK_SGE],
    max_sge: u32,
    max_len: u32,
    out: &'a mut SglBuf,
) -> Result<&'a [hal::Sge], NTSTATUS> {
    if sges.len() > max_sge as usize || sges.len() > hal::MAX_SGE {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let mut total: u64 = 0;
    for (d, s) in out.iter_mut().zip(sges) {
        d.write(hal::Sge {
            addr: sge_address(s),
            length: s.Length,
            lkey: s.MemoryRegionToken,
        });
        total = total.saturating_add(u64::from(s.Length));
    }
    if total > u64::from(max_len) {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let written = out.get(..sges.len()).ok_or(STATUS_INVALID_PARAMETER)?;
    // SAFETY: the loop above wrote every one of the first `sges.len()` elements (the zip
    // stops at the shorter side and `sges.len() <= MAX_SGE` was checked), and
    // `MaybeUninit<T>` has the layout of `T`.
    Ok(unsafe { &*(written as *const [core::mem::MaybeUninit<hal::Sge>] as *const [hal::Sge]) })
}

/// Writes an out parameter; `false` for NULL.
///
/// # Safety
/// When non-null, `p` must be writable for a `T` (an out parameter of the call).
pub unsafe fn out<T>(p: *mut T, v: T) -> bool {
    if p.is_null() {
        return false;
    }
    // SAFETY: guaranteed by the caller; consumer buffers may be unaligned.
    unsafe { p.write_unaligned(v) };
    true
}

/// Reads an in/out parameter.
///
/// # Safety
/// When non-null, `p` must be readable for a `T`.
pub unsafe fn read<T: Copy>(p: *const T) -> Option<T> {
    if p.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    Some(unsafe { p.read_unaligned() })
}

/// Parses a `SOCKADDR_IN` / `SOCKADDR_IN6` of `len` bytes.
///
/// # Safety
/// When non-null, `p` must point to `len` readable bytes.
pub unsafe fn sockaddr(p: *const SOCKADDR, len: u32) -> Option<SocketAddr> {
    // SAFETY: forwarded.
    let b = unsafe { bytes(p.cast(), len) }?;
    let family = u16::from_le_bytes([*b.first()?, *b.get(1)?]);
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family {
        AF_INET if b.len() >= 16 => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port)))
        }
        AF_INET6 if b.len() >= 28 => {
            let flow = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_le_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

/// Encodes an address as the `SOCKADDR_IN` / `SOCKADDR_IN6` bytes Windows uses.
pub fn sockaddr_bytes(a: &SocketAddr) -> ([u8; 28], u32) {
    let mut b = [0u8; 28];
    match a {
        SocketAddr::V4(v4) => {
            b[0..2].copy_from_slice(&AF_INET.to_le_bytes());
            b[2..4].copy_from_slice(&v4.port().to_be_bytes());
            b[4..8].copy_from_slice(&v4.ip().octets());
            (b, 16)
        }
        SocketAddr::V6(v6) => {
            b[0..2].copy_from_slice(&AF_INET6.to_le_bytes());
            b[2..4].copy_from_slice(&v6.port().to_be_bytes());
            b[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
            b[8..24].copy_from_slice(&v6.ip().octets());
            b[24..28].copy_from_slice(&v6.scope_id().to_le_bytes());
            (b, 28)
        }
    }
}

/// `Get*Address` convention: copy when `*pLen` is large enough, else
/// `STATUS_BUFFER_TOO_SMALL`; `*pLen` always gets the required size.
///
/// # Safety
/// `p` NULL or writable for `*len` bytes; `len` NULL or a readable and writable u32.
pub unsafe fn write_sockaddr(p: *mut SOCKADDR, len: *mut u32, a: &SocketAddr) -> NTSTATUS {
    let (b, need) = sockaddr_bytes(a);
    // SAFETY: forwarded.
    let Some(have) = (unsafe { read(len) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: forwarded.
    unsafe { out(len, need) };
    if have < need || p.is_null() {
        return STATUS_BUFFER_TOO_SMALL;
    }
    // SAFETY: `p` has room for `have >= need` bytes.
    let dst = unsafe { slice_mut(p.cast::<u8>(), need) };
    match (dst, b.get(..need as usize)) {
        (Some(d), Some(s)) => {
            d.copy_from_slice(s);
            STATUS_SUCCESS
        }
        _ => STATUS_INVALID_PARAMETER,
    }
}

/// The pages behind the first `length` bytes of an MDL chain.
#[derive(Debug)]
pub struct MdlPages {
    /// Page frame numbers, one per `PAGE_SIZE` page.
    pub pfns: Vec<u64>,
    /// Virtual address of the first byte (`MmGetMdlVirtualAddress`), used only as an index.
    pub va: u64,
    /// Offset of the first byte in the first page.
    pub first_byte_offset: u32,
}

/// Why an MDL chain cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum MdlError {
    /// NULL, too short, or not virtually contiguous (`STATUS_INVALID_PARAMETER`).
    Invalid,
    /// The page array could not be allocated.
    NoMemory,
}

const PAGE: u64 = PAGE_SIZE as u64;

/// Walks an MDL chain: the first `length` bytes must be virtually contiguous (each MDL
/// after the first starts where the previous ended, on a page boundary).
///
/// # Safety
/// `mdl` must be NULL or a locked MDL chain, each MDL followed by its PFN array, that the
/// consumer leaves alone for the call (ndkpi.md §4.1, §4.4).
pub unsafe fn mdl_pages(mdl: *const MDL, length: usize) -> Result<MdlPages, MdlError> {
    if mdl.is_null() || length == 0 {
        return Err(MdlError::Invalid);
    }
    let length = length as u64;
    // Pass 1: check contiguity and count pages, so pass 2 allocates once.
    let mut count: u64 = 0;
    let mut covered: u64 = 0;
    let mut expect_va: Option<u64> = None;
    let mut first: Option<(u64, u32)> = None;
    let mut cur = mdl;
    while covered < length {
        // SAFETY: `cur` is a non-null MDL of the chain (checked below before advancing).
        let m = unsafe { &*cur };
        let va = (m.StartVa as u64)
            .checked_add(u64::from(m.ByteOffset))
            .ok_or(MdlError::Invalid)?;
        if let Some(e) = expect_va {
            if va != e || m.ByteOffset != 0 {
                return Err(MdlError::Invalid);
            }
        } else {
            first = Some((va, m.ByteOffset));
        }
        let take = u64::from(m.ByteCount).min(length - covered);
        let span = (u64::from(m.ByteOffset) + take).div_ceil(PAGE);
        count = count.checked_add(span).ok_or(MdlError::Invalid)?;
        covered += take;
        if covered < length {
            // A following MDL must continue at a page boundary.
            if (u64::from(m.ByteOffset) + u64::from(m.ByteCount)) % PAGE != 0 {
                return Err(MdlError::Invalid);
            }
            expect_va = va.checked_add(u64::from(m.ByteCount));
            cur = m.Next;
            if cur.is_null() {
                return Err(MdlError::Invalid);
            }
        }
    }
    let (va, fbo) = first.ok_or(MdlError::Invalid)?;
    let mut pfns = Vec::new();
    pfns.try_reserve_exact(count as usize)
        .map_err(|_| MdlError::NoMemory)?;
    // Pass 2: copy the PFNs.
    let mut covered: u64 = 0;
    let mut cur = mdl;
    while covered < length && !cur.is_null() {
        // SAFETY: as in pass 1.
        let m = unsafe { &*cur };
        let take = u64::from(m.ByteCount).min(length - covered);
        let span = (u64::from(m.ByteOffset) + take).div_ceil(PAGE);
        // SAFETY: the PFN array follows the MDL header and has one entry per page spanned
        // by ByteOffset + ByteCount, which is at least `span`.
        let arr = unsafe { core::slice::from_raw_parts(cur.add(1).cast::<u64>(), span as usize) };
        pfns.extend_from_slice(arr);
        covered += take;
        cur = m.Next;
    }
    Ok(MdlPages {
        pfns,
        va,
        first_byte_offset: fbo,
    })
}
