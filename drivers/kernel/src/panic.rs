//! A panic is a bug check: the kernel cannot unwind a driver. The project's rules keep panics
//! unreachable from NDIS and NDK entry points; this is the backstop.

use core::panic::PanicInfo;

use crate::imports::KeBugCheckEx;

/// The code windows-drivers-rs' `wdk-panic` uses ("RPNC"), so both builds crash alike.
const RUST_PANIC: u32 = 0x5250_4E43;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let line = info.location().map_or(0, |l| l.line() as usize);
    let file = info
        .location()
        .map_or(core::ptr::null(), |l| l.file().as_ptr());
    // SAFETY: KeBugCheckEx never returns and accepts any parameters.
    unsafe { KeBugCheckEx(RUST_PANIC, line, file as usize, 0, 0) }
}
