//! Consumer-side shorthands shared by the work-request, memory, CQ and SRQ tests: a
//! connected pair with its teardown, MR / MW / LAM helpers and completion summaries. Every
//! call still goes through the dispatch tables.
#![allow(dead_code)]

use std::ffi::c_void;
use std::ptr::null_mut;

use hal::mock::Fabric;
use ndk_provider::abi::*;
use ndk_tests::*;

/// A request context value.
pub fn ctx(n: usize) -> *mut c_void {
    (0x100 + n) as *mut c_void
}

/// Two connected sides (A active at 10.0.0.1, B passive at 10.0.0.2) and B's listener.
pub struct Pair {
    pub a: Side,
    pub b: Side,
    listener: *mut NDK_LISTENER,
}

/// A connected pair whose CQs hold 256 entries.
pub fn pair(fabric: &Fabric) -> Pair {
    let mut a = Side::new(fabric, "10.0.0.1", 256);
    let mut b = Side::new(fabric, "10.0.0.2", 256);
    let listener = connect(&mut a, &mut b, b"");
    Pair { a, b, listener }
}

impl Pair {
    /// Connects `a` to `b` (both already built).
    pub fn connect(mut a: Side, mut b: Side) -> Pair {
        let listener = connect(&mut a, &mut b, b"");
        Pair { a, b, listener }
    }

    /// Closes A's connector, the listener (pending until B's connector closes), B, then A,
    /// asserting that both devices are left empty.
    pub fn close(self) {
        let Pair { mut a, b, listener } = self;
        let rec = Recorder::new();
        assert_eq!(make::close(a.conn, &rec), STATUS_SUCCESS);
        a.conn = null_mut();
        assert_eq!(make::close(listener, &rec), STATUS_PENDING);
        b.close();
        assert_eq!(rec.take(), vec![Event::Close]);
        a.close();
    }
}

/// `(Status, RequestContext, Type)` of each completion.
pub fn summary(r: &[NDK_RESULT_EX]) -> Vec<(NTSTATUS, usize, NDK_OPERATION_TYPE)> {
    r.iter()
        .map(|r| (r.Status, r.RequestContext as usize, r.Type))
        .collect()
}

/// Harvests up to 64 completions with the plain `NdkGetCqResults`.
pub fn poll_plain(cq: *mut NDK_CQ) -> Vec<NDK_RESULT> {
    let mut out: Vec<NDK_RESULT> = Vec::with_capacity(64);
    // SAFETY: consumer call with a 64-entry buffer.
    unsafe {
        let t: &NDK_CQ_DISPATCH = table(cq);
        let n = (t.NdkGetCqResults)(cq, out.as_mut_ptr(), 64);
        out.set_len(n as usize);
    }
    out
}

/// `NdkCreateMr` (asserts success).
pub fn create_mr(pd: *mut NDK_PD, fast_register: bool) -> *mut NDK_MR {
    let mut mr = null_mut();
    // SAFETY: consumer call on an open PD.
    let s = unsafe {
        (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateMr)(
            pd,
            u8::from(fast_register),
            Some(on_create),
            null_mut(),
            &mut mr,
        )
    };
    assert_eq!(s, STATUS_SUCCESS);
    mr
}

/// `NdkCreateMw` (asserts success).
pub fn create_mw(pd: *mut NDK_PD) -> *mut NDK_MW {
    let mut mw = null_mut();
    // SAFETY: consumer call on an open PD.
    let s = unsafe {
        (table::<_, NDK_PD_DISPATCH>(pd).NdkCreateMw)(pd, Some(on_create), null_mut(), &mut mw)
    };
    assert_eq!(s, STATUS_SUCCESS);
    mw
}

/// The MR dispatch table.
pub fn mrt<'a>(mr: *mut NDK_MR) -> &'a NDK_MR_DISPATCH {
    // SAFETY: the MR is open.
    unsafe { table(mr) }
}

/// `NdkRegisterMr` with no completion callback.
pub fn register(mr: *mut NDK_MR, mdl: &mut TestMdl, len: u32, flags: u32) -> NTSTATUS {
    // SAFETY: consumer call; the MDL describes a live buffer.
    unsafe { (mrt(mr).NdkRegisterMr)(mr, mdl.as_ptr(), len as usize, flags, None, null_mut()) }
}

/// `NdkDeregisterMr` with no completion callback.
pub fn deregister(mr: *mut NDK_MR) -> NTSTATUS {
    // SAFETY: consumer call on an open MR.
    unsafe { (mrt(mr).NdkDeregisterMr)(mr, None, null_mut()) }
}

/// `(local, remote)` tokens of an MR.
pub fn tokens(mr: *mut NDK_MR) -> (u32, u32) {
    let t = mrt(mr);
    // SAFETY: consumer calls on an open MR.
    unsafe {
        (
            (t.NdkGetLocalTokenFromMr)(mr),
            (t.NdkGetRemoteTokenFromMr)(mr),
        )
    }
}

/// `NdkInitializeFastRegisterMr` with no completion callback.
pub fn init_fast_register(mr: *mut NDK_MR, pages: u32, remote: bool) -> NTSTATUS {
    // SAFETY: consumer call on an open MR.
    unsafe { (mrt(mr).NdkInitializeFastRegisterMr)(mr, pages, u8::from(remote), None, null_mut()) }
}

/// `NdkGetRemoteTokenFromMw`.
pub fn mw_token(mw: *mut NDK_MW) -> u32 {
    // SAFETY: consumer call on an open MW.
    unsafe { (table::<_, NDK_MW_DISPATCH>(mw).NdkGetRemoteTokenFromMw)(mw) }
}

/// `NdkGetPrivilegedMemoryRegionToken`.
pub fn privileged_token(pd: *mut NDK_PD) -> u32 {
    let mut token = 0xFFFF_FFFF;
    // SAFETY: consumer call on an open PD.
    unsafe { (table::<_, NDK_PD_DISPATCH>(pd).NdkGetPrivilegedMemoryRegionToken)(pd, &mut token) };
    token
}

/// A LAM buffer as a consumer would allocate it (8-byte aligned).
pub struct Lam {
    words: Vec<u64>,
    /// `*pLAMSize` as the provider left it.
    pub size: u32,
    /// `*pFBO` as the provider left it.
    pub fbo: u32,
}

impl Lam {
    /// Calls `NdkBuildLAM` for `len` bytes of `mdl` with a buffer of `size` bytes; returns
    /// the status and the buffer.
    pub fn build(n: &Node, mdl: *mut MDL, len: usize, size: u32) -> (NTSTATUS, Lam) {
        let mut lam = Lam {
            words: vec![0u64; (size as usize).div_ceil(8).max(3)],
            size,
            fbo: 0xFFFF_FFFF,
        };
        let p = if size == 0 {
            null_mut()
        } else {
            lam.words.as_mut_ptr().cast()
        };
        // SAFETY: consumer call; `p` has room for `size` bytes.
        let s = unsafe {
            (n.a().NdkBuildLAM)(
                n.adapter,
                mdl,
                len,
                Some(on_request),
                null_mut(),
                p,
                &mut lam.size,
                &mut lam.fbo,
            )
        };
        (s, lam)
    }

    /// The mapping.
    pub fn as_ptr(&mut self) -> *mut NDK_LOGICAL_ADDRESS_MAPPING {
        self.words.as_mut_ptr().cast()
    }

    /// `AdapterPageCount`.
    pub fn page_count(&self) -> u32 {
        self.words[1] as u32
    }

    /// `AdapterPageArray[..AdapterPageCount]`.
    pub fn pages(&self) -> Vec<NDK_LOGICAL_ADDRESS> {
        self.words[2..2 + self.page_count() as usize]
            .iter()
            .map(|w| *w as i64)
            .collect()
    }

    /// `NdkReleaseLAM`.
    pub fn release(mut self, n: &Node) {
        // SAFETY: consumer call with a LAM the adapter built.
        unsafe { (n.a().NdkReleaseLAM)(n.adapter, self.as_ptr()) };
    }
}
