//! `KArc`: a reference-counted heap object whose allocation can fail.
//!
//! Kernel code must turn allocation failure into `STATUS_INSUFFICIENT_RESOURCES`, never abort,
//! and stable Rust has no fallible `Arc::try_new`. NDK objects are also handed to the consumer
//! as raw pointers and live until their close completes, so the provider needs an `Arc` that
//! (a) reports allocation failure as an error, (b) can be turned into a raw pointer and back,
//! and (c) keeps the value at offset 0 so the pointer the consumer holds (`NDK_CQ*`, ...) is
//! the allocation itself. Backends use it for state their handles share. All the unsafe code
//! of shared ownership is in this file.
//!
//! Besides `KArc` itself: [`KWeak`] (a reference that does not keep the value alive, for
//! callbacks the value's own members hold), [`Plain`] (shares any type, e.g. a HAL) and
//! [`KFn`] (a shared closure, what `Arc<dyn Fn()>` is, allocated fallibly).

use alloc::alloc::{alloc, dealloc, Layout};
use alloc::boxed::Box;
use core::ops::Deref;
use core::ptr::{addr_of, addr_of_mut, NonNull};
use core::sync::atomic::{fence, AtomicUsize, Ordering};

#[repr(C)]
struct Inner<T> {
    value: T,
    refs: AtomicUsize,
    /// [`KWeak`] references, plus one that all the strong references hold together: the
    /// memory is freed when it reaches zero (the value is dropped when `refs` does).
    /// `usize::MAX` while [`KArc::get_mut`] checks for uniqueness.
    weak: AtomicUsize,
}

/// The strong count of the allocation at `ptr`, reached without a reference to the value
/// (which may be dropped, or borrowed mutably by its last owner).
///
/// # Safety
/// The allocation must not be freed while the returned reference is used.
unsafe fn refs_of<'a, T>(ptr: NonNull<Inner<T>>) -> &'a AtomicUsize {
    // SAFETY: per the contract the allocation is live; only the counter field is borrowed.
    unsafe { &*addr_of!((*ptr.as_ptr()).refs) }
}

/// The weak count of the allocation at `ptr`; see [`refs_of`].
///
/// # Safety
/// As for [`refs_of`].
unsafe fn weak_of<'a, T>(ptr: NonNull<Inner<T>>) -> &'a AtomicUsize {
    // SAFETY: as in `refs_of`.
    unsafe { &*addr_of!((*ptr.as_ptr()).weak) }
}

/// Gives up one weak count; frees the memory when it was the last.
///
/// # Safety
/// The caller owns one weak count of the live allocation at `ptr` (the implicit one only
/// once the value was dropped or moved out), and does not use `ptr` afterwards.
unsafe fn release_weak<T>(ptr: NonNull<Inner<T>>) {
    // SAFETY: the count the caller gives up keeps the allocation live until here.
    if unsafe { weak_of(ptr) }.fetch_sub(1, Ordering::Release) == 1 {
        fence(Ordering::Acquire);
        // SAFETY: no strong or weak reference is left; the value is gone (dropped or moved
        // out), so only the memory of `try_new` remains, with this layout.
        unsafe { dealloc(ptr.as_ptr().cast(), Layout::new::<Inner<T>>()) };
    }
}

/// A new strong reference to the allocation at `ptr` unless its strong count already
/// reached zero.
///
/// # Safety
/// The allocation at `ptr` must not be freed yet.
unsafe fn try_upgrade<T: Finalize>(ptr: NonNull<Inner<T>>) -> Option<KArc<T>> {
    // SAFETY: per the contract.
    let refs = unsafe { refs_of(ptr) };
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
                weak: AtomicUsize::new(1),
            })
        };
        Ok(KArc { ptr })
    }

    /// Takes the value back out when this is the only reference (undoing a create).
    pub fn try_unwrap(this: KArc<T>) -> Result<T, KArc<T>> {
        // From 1 to 0 at once, so a weak reference cannot upgrade meanwhile.
        if this
            .inner()
            .refs
            .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(this);
        }
        let ptr = this.ptr;
        core::mem::forget(this);
        // SAFETY: the count was 1 and that reference is ours: move the value out, then give
        // up the strong references' weak count (freeing the memory unless a `KWeak` still
        // holds it) without dropping the moved value.
        unsafe {
            let value = addr_of!((*ptr.as_ptr()).value).read();
            release_weak(ptr);
            Ok(value)
        }
    }

    /// A weak reference: it does not keep the value alive, and [`KWeak::upgrade`] fails
    /// once the last strong reference went. Allocates nothing.
    pub fn downgrade(this: &KArc<T>) -> KWeak<T> {
        // SAFETY: `this` keeps the allocation live.
        let weak = unsafe { weak_of(this.ptr) };
        let mut n = weak.load(Ordering::Relaxed);
        loop {
            // `get_mut` is checking uniqueness on another thread; it is over shortly.
            if n == usize::MAX {
                core::hint::spin_loop();
                n = weak.load(Ordering::Relaxed);
                continue;
            }
            match weak.compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return KWeak { ptr: this.ptr },
                Err(cur) => n = cur,
            }
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
        unsafe { try_upgrade(ptr) }
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
        // As `Arc::get_mut`: lock out `downgrade` (weak count 1 means no `KWeak` exists),
        // then check the strong count; with no weak reference and ours the only strong
        // one, none can appear while we hold `&mut`.
        // SAFETY: `this` keeps the allocation live.
        let weak = unsafe { weak_of(this.ptr) };
        if weak
            .compare_exchange(1, usize::MAX, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let unique = this.inner().refs.load(Ordering::Acquire) == 1;
        weak.store(1, Ordering::Release);
        if !unique {
            return None;
        }
        // SAFETY: the count is 1 and we hold that reference mutably, no weak reference
        // exists, so no other reference exists (and none can be made from a raw address:
        // none was handed out).
        Some(unsafe { &mut *addr_of_mut!((*this.ptr.as_ptr()).value) })
    }

    /// Current reference count (diagnostics and tests).
    pub fn count(this: &KArc<T>) -> usize {
        this.inner().refs.load(Ordering::Relaxed)
    }

    /// True when both are references to the same object.
    pub fn ptr_eq(a: &KArc<T>, b: &KArc<T>) -> bool {
        a.ptr == b.ptr
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
        // SAFETY: the count is zero, so no other reference exists; `upgrade_raw` and
        // `KWeak::upgrade` refuse to resurrect it (and touch only the counters, which this
        // borrow leaves out).
        unsafe { &mut *addr_of_mut!((*self.ptr.as_ptr()).value) }
    }

    /// Shared access to the value.
    pub fn get(&self) -> &T {
        // SAFETY: as in `get_mut`.
        unsafe { &*addr_of!((*self.ptr.as_ptr()).value) }
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
        // SAFETY: unique owner of the value: drop it in place, then give up the strong
        // references' weak count, which frees the memory unless a `KWeak` still holds it.
        unsafe {
            core::ptr::drop_in_place(addr_of_mut!((*self.ptr.as_ptr()).value));
            release_weak(self.ptr);
        }
    }
}

/// A reference to a [`KArc`]'s allocation that does not keep the value alive: for a
/// callback that a member of the value holds (an interrupt handler the value registered
/// with its own HAL), which a strong reference would make a cycle.
pub struct KWeak<T: Finalize> {
    ptr: NonNull<Inner<T>>,
}

// SAFETY: a `KWeak` hands out `KArc`s, so it may cross threads exactly when they may.
unsafe impl<T: Finalize + Send + Sync> Send for KWeak<T> {}
// SAFETY: as above.
unsafe impl<T: Finalize + Send + Sync> Sync for KWeak<T> {}

impl<T: Finalize> KWeak<T> {
    /// A strong reference, unless the last one already went (the value is dropped or being
    /// torn down).
    pub fn upgrade(&self) -> Option<KArc<T>> {
        // SAFETY: this weak count keeps the allocation live.
        unsafe { try_upgrade(self.ptr) }
    }
}

impl<T: Finalize> Clone for KWeak<T> {
    fn clone(&self) -> KWeak<T> {
        // SAFETY: this weak count keeps the allocation live; at least 2 now, so `get_mut`
        // cannot be holding it at `usize::MAX`.
        unsafe { weak_of(self.ptr) }.fetch_add(1, Ordering::Relaxed);
        KWeak { ptr: self.ptr }
    }
}

impl<T: Finalize> Drop for KWeak<T> {
    fn drop(&mut self) {
        // SAFETY: this reference owns one weak count, given up once here.
        unsafe { release_weak(self.ptr) };
    }
}

/// A value with no teardown of its own, dropped with its last reference: lets any type (a
/// HAL) be shared through a [`KArc`]. Transparent, so a `KArc<Plain<T>>` address is the
/// address of the `T`.
#[repr(transparent)]
#[derive(Debug)]
pub struct Plain<T>(pub T);

impl<T> Finalize for Plain<T> {}

impl<T> Deref for Plain<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> KArc<Plain<T>> {
    /// Shares `value`; hands it back when the allocation fails.
    pub fn try_share(value: T) -> Result<KArc<Plain<T>>, T> {
        KArc::try_new_or_return(Plain(value)).map_err(|p| p.0)
    }
}

/// Moves `value` into a `Box` unless the allocation fails (stable Rust has no
/// `Box::try_new`); the box can then be coerced to a trait object.
pub fn try_box<T>(value: T) -> Result<Box<T>, T> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        // A box of a zero-sized value allocates nothing.
        return Ok(Box::new(value));
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let raw = unsafe { alloc(layout) }.cast::<T>();
    if raw.is_null() {
        return Err(value);
    }
    // SAFETY: `raw` is a fresh allocation of the global allocator with the layout of `T`,
    // which is what `Box<T>` owns and frees.
    unsafe {
        raw.write(value);
        Ok(Box::from_raw(raw))
    }
}

/// A shared closure: what `Arc<dyn Fn() + Send + Sync>` is, allocated fallibly, for
/// interrupt handlers and deferred work set up at miniport initialization. Cloning and
/// calling allocate nothing; it is called like a function (`work()`).
#[derive(Clone)]
pub struct KFn(KArc<FnBox>);

/// The closure behind a [`KFn`].
struct FnBox(Box<dyn Fn() + Send + Sync>);

impl Finalize for FnBox {}

impl KFn {
    /// Moves `f` to the heap; fails when memory is short (nothing is leaked, `f` is dropped).
    pub fn try_new<F: Fn() + Send + Sync + 'static>(f: F) -> Result<KFn, AllocError> {
        let b: Box<dyn Fn() + Send + Sync> = try_box(f).map_err(|_| AllocError)?;
        KArc::try_new(FnBox(b)).map(KFn)
    }

    /// True when both are the same closure (clones of one `KFn`).
    pub fn ptr_eq(a: &KFn, b: &KFn) -> bool {
        core::ptr::eq(KArc::as_ptr(&a.0), KArc::as_ptr(&b.0))
    }
}

impl Deref for KFn {
    type Target = dyn Fn() + Send + Sync;
    fn deref(&self) -> &Self::Target {
        &*self.0 .0
    }
}

impl core::fmt::Debug for KFn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("KFn").field(&KArc::as_ptr(&self.0)).finish()
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
    extern crate std;

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
    fn weak_upgrades_while_the_value_lives_and_keeps_only_the_memory() {
        let dropped = AtomicBool::new(false);
        let a = KArc::try_new(Flag(&dropped)).expect("alloc");
        let w = KArc::downgrade(&a);
        let w2 = w.clone();
        let b = w.upgrade().expect("live");
        assert_eq!(KArc::count(&a), 2);
        drop(b);
        drop(a);
        // The value went with its last strong reference; the weak ones still hold memory.
        assert!(dropped.load(Ordering::SeqCst));
        assert!(w.upgrade().is_none());
        drop(w);
        assert!(w2.upgrade().is_none());
        drop(w2);
    }

    #[test]
    fn weak_outliving_a_parked_last_reference_frees_after_both() {
        let a = KArc::try_new(3u32).expect("alloc");
        let w = KArc::downgrade(&a);
        let last = KArc::release(a).expect("last");
        assert!(w.upgrade().is_none());
        let parked = last.into_raw();
        drop(w);
        // SAFETY: parked just above; the implicit weak count kept the memory.
        let back = unsafe { Last::<u32>::from_raw(parked) };
        assert_eq!(*back.get(), 3);
    }

    #[test]
    fn get_mut_and_try_unwrap_refuse_while_a_weak_reference_exists() {
        let mut a = KArc::try_new(4u8).expect("alloc");
        let w = KArc::downgrade(&a);
        assert!(KArc::get_mut(&mut a).is_none());
        drop(w);
        assert_eq!(KArc::get_mut(&mut a).map(|v| *v), Some(4));
        let w = KArc::downgrade(&a);
        // The value moves out to its only strong holder; the weak one keeps the memory.
        assert_eq!(KArc::try_unwrap(a).ok(), Some(4));
        assert!(w.upgrade().is_none());
    }

    #[test]
    fn weak_upgrade_races_the_last_release() {
        for _ in 0..20 {
            let a = KArc::try_new(Plain(alloc::vec![1u8, 2, 3])).expect("alloc");
            let w = KArc::downgrade(&a);
            let t = std::thread::spawn(move || w.upgrade().map(|s| s.len()));
            drop(a);
            let seen = t.join().expect("thread");
            assert!(seen.is_none() || seen == Some(3));
        }
    }

    #[test]
    fn a_self_referencing_weak_in_the_value_is_freed_with_it() {
        // The pattern of the provider's device: a member holds a weak reference back.
        struct Node {
            back: core::cell::OnceCell<KWeak<Node>>,
        }
        impl Finalize for Node {}
        let mut a = KArc::try_new(Node {
            back: core::cell::OnceCell::new(),
        })
        .expect("alloc");
        let w = KArc::downgrade(&a);
        assert!(KArc::get_mut(&mut a).is_none());
        let _ = a.back.set(w);
        let up = a.back.get().and_then(KWeak::upgrade).expect("live");
        assert_eq!(KArc::count(&up), 2);
        drop(up);
        drop(a);
    }

    #[test]
    fn plain_shares_any_type_at_its_address() {
        let a = KArc::try_share(alloc::string::String::from("hal")).expect("alloc");
        let raw = KArc::into_raw(a.clone());
        // SAFETY: `Plain` is transparent and the value is at offset 0 of the allocation.
        assert_eq!(
            unsafe { &*(raw as usize as *const alloc::string::String) },
            "hal"
        );
        // SAFETY: from into_raw above, taken back once.
        drop(unsafe { KArc::<Plain<alloc::string::String>>::from_raw(raw) });
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn kfn_calls_shares_and_compares_by_identity() {
        let n = std::sync::Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        let f = KFn::try_new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .expect("alloc");
        let g = f.clone();
        f();
        g();
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert!(KFn::ptr_eq(&f, &g));
        assert!(KArc::ptr_eq(&f.0, &g.0));
        let h = KFn::try_new(|| {}).expect("alloc");
        assert!(!KFn::ptr_eq(&f, &h));
        h();
        drop((f, g));
        // The closure (and the count it captured) is dropped with the last clone.
        assert_eq!(std::sync::Arc::strong_count(&n), 1);
    }

    #[test]
    fn try_box_moves_sized_and_zero_sized_values() {
        let b = try_box([7u64; 4]).expect("alloc");
        assert_eq!(b[3], 7);
        let z = try_box(()).expect("zst");
        let d: Box<dyn core::fmt::Debug> = try_box(5u16).expect("alloc");
        assert_eq!(alloc::format!("{d:?}{z:?}"), "5()");
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
