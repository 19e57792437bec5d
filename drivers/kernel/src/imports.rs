//! The kernel functions the driver imports, as raw-dylib declarations: rustc writes the
//! import library itself, so the image links on any host with rust-lld and no WDK, and the
//! import table names exactly these DLLs. Signatures follow `wdm.h` / `ndis.h` (x64).
#![allow(non_snake_case, non_camel_case_types, clippy::upper_case_acronyms)]

use core::ffi::c_void;

/// `KSPIN_LOCK` (`ULONG_PTR`).
pub type KSPIN_LOCK = usize;
/// `KIRQL`.
pub type KIRQL = u8;
/// `POOL_FLAGS`.
pub type POOL_FLAGS = u64;
/// `POOL_FLAG_NON_PAGED`: ExAllocatePool2 returns zeroed non-paged memory.
pub const POOL_FLAG_NON_PAGED: POOL_FLAGS = 0x0000_0000_0000_0040;
/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: KIRQL = 0;
/// `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: KIRQL = 2;

/// `KDPC` (x64: 0x40 bytes), opaque: only `KeInitializeDpc` writes it.
#[repr(C, align(8))]
pub struct KDPC {
    _opaque: [u64; 8],
}

impl KDPC {
    /// Storage for `KeInitializeDpc`.
    pub const fn zeroed() -> KDPC {
        KDPC { _opaque: [0; 8] }
    }
}

/// `PKDEFERRED_ROUTINE`.
pub type PKDEFERRED_ROUTINE = unsafe extern "system" fn(
    Dpc: *mut KDPC,
    DeferredContext: *mut c_void,
    SystemArgument1: *mut c_void,
    SystemArgument2: *mut c_void,
);

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn ExAllocatePool2(Flags: POOL_FLAGS, NumberOfBytes: usize, Tag: u32) -> *mut c_void;
    pub fn ExFreePoolWithTag(P: *mut c_void, Tag: u32);
    pub fn KeBugCheckEx(
        BugCheckCode: u32,
        BugCheckParameter1: usize,
        BugCheckParameter2: usize,
        BugCheckParameter3: usize,
        BugCheckParameter4: usize,
    ) -> !;
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: *mut KSPIN_LOCK) -> KIRQL;
    pub fn KeReleaseSpinLock(SpinLock: *mut KSPIN_LOCK, NewIrql: KIRQL);
    pub fn KeTryToAcquireSpinLockAtDpcLevel(SpinLock: *mut KSPIN_LOCK) -> u8;
    pub fn KeQueryInterruptTimePrecise(QpcTimeStamp: *mut u64) -> u64;
    pub fn KeInitializeDpc(
        Dpc: *mut KDPC,
        DeferredRoutine: PKDEFERRED_ROUTINE,
        DeferredContext: *mut c_void,
    );
    pub fn KeInsertQueueDpc(
        Dpc: *mut KDPC,
        SystemArgument1: *mut c_void,
        SystemArgument2: *mut c_void,
    ) -> u8;
    pub fn KeRemoveQueueDpc(Dpc: *mut KDPC) -> u8;
    pub fn KeFlushQueuedDpcs();
    pub fn MmGetPhysicalAddress(BaseAddress: *mut c_void) -> i64;
}

// `core` lowers copies and fills to these (and, without LTO, `strlen`); the kernel exports
// them (the CRT is not linked).
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    pub fn memcpy(dest: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
    pub fn memmove(dest: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
    pub fn memset(dest: *mut c_void, c: i32, n: usize) -> *mut c_void;
    pub fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> i32;
    pub fn strlen(s: *const u8) -> usize;
}

#[link(name = "hal.dll", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn KeStallExecutionProcessor(MicroSeconds: u32);
}

#[link(name = "ndis.sys", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn NdisMAllocateSharedMemory(
        MiniportAdapterHandle: *mut c_void,
        Length: u32,
        Cached: u8,
        VirtualAddress: *mut *mut c_void,
        PhysicalAddress: *mut i64,
    );
    pub fn NdisMFreeSharedMemory(
        MiniportAdapterHandle: *mut c_void,
        Length: u32,
        Cached: u8,
        VirtualAddress: *mut c_void,
        PhysicalAddress: i64,
    );
}

/// `KeGetCurrentIrql` (an inline reading CR8 on x64).
#[inline]
pub fn current_irql() -> KIRQL {
    let irql: u64;
    // SAFETY: reading CR8 has no side effect; kernel code runs at CPL 0.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack, preserves_flags))
    };
    irql as KIRQL
}

/// `KeRaiseIrql` / `KeLowerIrql` (inlines writing CR8 on x64); returns the previous IRQL.
///
/// # Safety
/// Kernel code only; lowering below the level a caller entered at breaks its invariants.
#[inline]
pub unsafe fn swap_irql(new: KIRQL) -> KIRQL {
    let old = current_irql();
    // SAFETY: as the caller promises; this is what the WDK's x64 inlines compile to.
    unsafe {
        core::arch::asm!("mov cr8, {}", in(reg) u64::from(new), options(nostack, preserves_flags))
    };
    old
}
