//! `KArc`: a reference-counted heap object whose allocation can fail.
//!
//! Kernel code must turn allocation failure into `STATUS_INSUFFICIENT_RESOURCES`, never abort,
//! and stable Rust has no fallible `Arc::try_new`. NDK objects are also handed to the consumer
//! as raw pointers and live until their close completes, so the provider needs an `Arc` that
//! (a) reports allocation failure as an error, (b) can be turned into a raw pointer and back,
//! and (c) keeps the value at offset 0 so the pointer the consumer holds (`NDK_CQ*`, ...) is
//! the allocation itself. Backends use it for state their handles share. All the unsafe code
//! of shared ownership is in this file.

use alloc::alloc::{alloc, dealloc, Layout};
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicUsize, Ordering};

#[repr(C)]
struct Inner<T> {
    value: T,
    refs: AtomicUsize,
}

/// Allocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocError;

/// What happens when the last reference goes: by default the value is dropped; NDK objects
/// run their teardown and close completion instead.
pub trait Finalize: Sized {
    /// Called with unique ownership once the count reached zero.
    fn finalize(last: Last<Self>) {
        drop(last);
    }
}

/// A shared, fallibly allocated, reference-counted `T` at offset 0 of its allocation.
pub struct KArc<T: Finalize> {
    ptr: NonNull<Inner<T>>,
}

// SAFETY: like `Arc<T>`, sharing a `KArc<T>` across threads shares `&T`, so `T` must be
// `Send + Sync`.
unsafe impl<T: Finalize + Send + Sync> Send for KArc<T> {}
// SAFETY: as above.
unsafe impl<T: Finalize + Send + Sync> Sync for KArc<T> {}

impl<T: Finalize> KArc<T> {
    /// Moves `value` to the heap with one reference.
    pub fn try_new(value: T) -> Result<KArc<T>, AllocError> {
        KArc::try_new_or_return(value).map_err(|_| AllocError)
    }

    /// Like [`KArc::try_new`], but hands `value` back when the allocation fails, so a caller
    /// can release what it holds (DMA memory, device numbers) instead of leaking it.
    pub fn try_new_or_return(value: T) -> Result<KArc<T>, T> {
        let layout = Layout::new::<Inner<T>>();
        // SAFETY: `Inner<T>` contains an AtomicUsize, so the layout has a non-zero size.
        let raw = unsafe { alloc(layout) }.cast::<Inner<T>>();
        let Some(ptr) = NonNull::new(raw) else {
            return Err(value);
        };
        // SAFETY: `ptr` is a fresh allocation with the layout of `Inner<T>`.
        unsafe {
            ptr.as_ptr().write(Inner {
                value,
                refs: AtomicUsize::new(1),
            })
        };
        Ok(KArc { ptr })
    }

    /// Takes the value back out when this is the only reference (undoing a create).
    pub fn try_unwrap(this: KArc<T>) -> Result<T, KArc<T>> {
        if this.inner().refs.load(Ordering::Acquire) != 1 {
            return Err(this);
        }
        let ptr = this.ptr;
        core::mem::forget(this);
        // SAFETY: the count was 1 and that reference is ours: move the value out, then free
        // the allocation made in `try_new_or_return` without dropping the moved value.
        unsafe {
            let value = core::ptr::addr_of!((*ptr.as_ptr()).value).read();
            dealloc(ptr.as_ptr().cast(), Layout::new::<Inner<T>>());
            Ok(value)
        }
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the allocation lives while this reference exists.
        unsafe { self.ptr.as_ref() }
    }

    /// The address of the value; stable for the object's life.
    pub fn as_ptr(this: &KArc<T>) -> *mut T {
        this.ptr.as_ptr().cast()
    }

    /// Gives up this reference as a raw address (for a HAL token or a consumer handle).
    pub fn into_raw(this: KArc<T>) -> u64 {
        let p = this.ptr.as_ptr() as usize as u64;
        core::mem::forget(this);
        p
    }

    /// Takes back a reference given up with [`KArc::into_raw`].
    ///
    /// # Safety
    /// `raw` must come from `into_raw` of a `KArc<T>` of this `T`, and be taken back once.
    pub unsafe fn from_raw(raw: u64) -> KArc<T> {
        // SAFETY: the caller guarantees `raw` is a live `Inner<T>` allocation address.
        KArc {
            ptr: unsafe { NonNull::new_unchecked(raw as usize as *mut Inner<T>) },
        }
    }

    /// A new reference to the object at `raw` unless its count already reached zero (it is
    /// being torn down), like `Weak::upgrade`.
    ///
    /// # Safety
    /// `raw` must be the address of a `KArc<T>` allocation of this `T` that is not freed yet.
    pub unsafe fn upgrade_raw(raw: u64) -> Option<KArc<T>> {
        let ptr = NonNull::new(raw as usize as *mut Inner<T>)?;
        // SAFETY: the caller guarantees the allocation is live.
        let refs = unsafe { &ptr.as_ref().refs };
        let mut n = refs.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return None;
            }
            match refs.compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(KArc { ptr }),
                Err(cur) => n = cur,
            }
        }
    }

    /// Drops this reference. When it was the last one, returns the value by ownership
    /// instead of dropping it, so teardown (which may call the consumer) runs outside any
    /// drop glue and can decide when the memory goes.
    pub fn release(this: KArc<T>) -> Option<Last<T>> {
        let ptr = this.ptr;
        core::mem::forget(this);
        // SAFETY: `this` was a live reference until now.
        let refs = unsafe { &ptr.as_ref().refs };
        if refs.fetch_sub(1, Ordering::Release) != 1 {
            return None;
        }
        fence(Ordering::Acquire);
        Some(Last { ptr })
    }

    /// Unique access while this is the only reference (to finish initializing a new object).
    pub fn get_mut(this: &mut KArc<T>) -> Option<&mut T> {
        if this.inner().refs.load(Ordering::Acquire) != 1 {
            return None;
        }
        // SAFETY: the count is 1 and we hold that reference mutably, so no other reference
        // exists (and none can be made from a raw address: none was handed out).
        Some(unsafe { &mut this.ptr.as_mut().value })
    }

    /// Current reference count (diagnostics and tests).
    pub fn count(this: &KArc<T>) -> usize {
        this.inner().refs.load(Ordering::Relaxed)
    }
}

impl<T: Finalize> Clone for KArc<T> {
    fn clone(&self) -> KArc<T> {
        self.inner().refs.fetch_add(1, Ordering::Relaxed);
        KArc { ptr: self.ptr }
    }
}

impl<T: Finalize + core::fmt::Debug> core::fmt::Debug for KArc<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Finalize> Deref for KArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: Finalize> Drop for KArc<T> {
    fn drop(&mut self) {
        // SAFETY: this reference is live; the count is decremented exactly once here.
        let refs = unsafe { &self.ptr.as_ref().refs };
        if refs.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            T::finalize(Last { ptr: self.ptr });
        }
    }
}

/// The last reference of a `KArc` whose count reached zero: unique access, then freed on
/// drop (or parked as a raw address while the device finishes a destroy command).
pub struct Last<T> {
    ptr: NonNull<Inner<T>>,
}

// SAFETY: `Last` is the unique owner of the value.
unsafe impl<T: Send> Send for Last<T> {}

impl<T> Last<T> {
    /// Unique access to the value.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: the count is zero, so no other reference exists; `upgrade_raw` refuses
        // to resurrect it.
        unsafe { &mut self.ptr.as_mut().value }
    }

    /// Shared access to the value.
    pub fn get(&self) -> &T {
        // SAFETY: as in `get_mut`.
        unsafe { &self.ptr.as_ref().value }
    }

    /// Parks the object as a raw address (e.g. a pending destroy command's token).
    pub fn into_raw(self) -> u64 {
        let p = self.ptr.as_ptr() as usize as u64;
        core::mem::forget(self);
        p
    }

    /// Takes back an object parked with [`Last::into_raw`].
    ///
    /// # Safety
    /// `raw` must come from `Last::<T>::into_raw` and be taken back once.
    pub unsafe fn from_raw(raw: u64) -> Last<T> {
        // SAFETY: the caller guarantees `raw` is a parked `Inner<T>` allocation.
        Last {
            ptr: unsafe { NonNull::new_unchecked(raw as usize as *mut Inner<T>) },
        }
    }
}

impl<T> Drop for Last<T> {
    fn drop(&mut self) {
        let layout = Layout::new::<Inner<T>>();
        // SAFETY: unique owner; drop the value in place, then free the allocation made in
        // `try_new` with the same layout.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            dealloc(self.ptr.as_ptr().cast(), layout);
        }
    }
}

/// Reads the `i32` at `offset` of the object at `raw`: lets the provider read the NDK
/// object type from a token before it knows the Rust type.
///
/// # Safety
/// `raw` must be the address of a live `KArc` allocation whose value starts with at least
/// `offset + 4` readable bytes.
pub unsafe fn peek_i32(raw: u64, offset: usize) -> i32 {
    // SAFETY: guaranteed by the caller.
    unsafe { ((raw as usize + offset) as *const i32).read() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicBool;

    struct Flag<'a>(&'a AtomicBool);
    impl Finalize for Flag<'_> {}
    impl Finalize for u32 {}
    impl Finalize for u8 {}
    impl Drop for Flag<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn last_release_hands_back_ownership_and_frees_on_drop() {
        let dropped = AtomicBool::new(false);
        let a = KArc::try_new(Flag(&dropped)).expect("alloc");
        let b = a.clone();
        assert_eq!(KArc::count(&a), 2);
        assert!(KArc::release(a).is_none());
        let last = KArc::release(b).expect("last");
        assert!(!dropped.load(Ordering::SeqCst));
        drop(last);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn upgrade_refuses_an_object_being_torn_down() {
        let a = KArc::try_new(5u32).expect("alloc");
        let raw = KArc::as_ptr(&a) as u64;
        // SAFETY: `a` is live.
        let b = unsafe { KArc::<u32>::upgrade_raw(raw) }.expect("live");
        drop(b);
        let last = KArc::release(a).expect("last");
        // SAFETY: the allocation is parked in `last`, not freed.
        assert!(unsafe { KArc::<u32>::upgrade_raw(raw) }.is_none());
        let parked = last.into_raw();
        // SAFETY: parked just above.
        let back = unsafe { Last::<u32>::from_raw(parked) };
        assert_eq!(*back.get(), 5);
    }

    #[test]
    fn try_unwrap_gives_the_value_back_only_to_the_last_holder() {
        let a = KArc::try_new(9u8).expect("alloc");
        let b = a.clone();
        let a = KArc::try_unwrap(a).expect_err("shared");
        drop(b);
        assert_eq!(KArc::try_unwrap(a).ok(), Some(9));
    }

    #[test]
    fn raw_round_trip_keeps_the_count() {
        let a = KArc::try_new(7u8).expect("alloc");
        let raw = KArc::into_raw(a.clone());
        assert_eq!(KArc::count(&a), 2);
        // SAFETY: from into_raw above, taken back once.
        let b = unsafe { KArc::<u8>::from_raw(raw) };
        assert_eq!(*b, 7);
        drop(b);
        assert_eq!(KArc::count(&a), 1);
    }
}
