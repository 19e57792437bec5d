//! Runtime symbols the compiler expects and the CRT would supply. They are defined in
//! `global_asm!` so rustc does not add them to the image's export table.

// `_fltused`: referenced by any object using floating point (core::fmt does).
core::arch::global_asm!(
    ".section .rdata,\"dr\"",
    ".globl _fltused",
    "_fltused:",
    ".long 0",
    ".text",
);

// `__chkstk`: called before a frame larger than a page is allocated (RAX = frame size). The
// CRT's version reads the user-mode TEB through GS, which is the KPCR in the kernel; this one
// touches each page of the new frame from the top down, as a kernel stack guard requires.
// Clobbers only R10, R11 and flags; does not move RSP.
core::arch::global_asm!(
    ".globl __chkstk",
    "__chkstk:",
    "    lea r10, [rsp + 8]",
    "    mov r11, rax",
    "2:",
    "    cmp r11, 0x1000",
    "    jb 3f",
    "    sub r10, 0x1000",
    "    test byte ptr [r10], 0",
    "    sub r11, 0x1000",
    "    jmp 2b",
    "3:",
    "    ret",
);

// `__CxxFrameHandler3`: the precompiled `core` names it in its unwind tables; without LTO the
// link keeps them. With panic=abort nothing unwinds through Rust frames, so the handler
// only ever answers ExceptionContinueSearch (1): this frame handles no exception.
core::arch::global_asm!(
    ".globl __CxxFrameHandler3",
    "__CxxFrameHandler3:",
    "    mov eax, 1",
    "    ret",
);
