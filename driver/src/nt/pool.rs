//! The driver's global allocator (the build without `wdk`; with it, wdk-alloc is the allocator).
//!
//! Non-paged pool (`NonPagedPoolNx`) from `ExAllocatePoolWithTag` under the tag `'tDrP'` (shown as
//! `PrDt` by pool tools), so every `Box`/`Vec` of the engine is attributable in `!poolused`,
//! poolmon and Driver Verifier's pool tracking. Usable at IRQL <= DISPATCH_LEVEL: the receive
//! path never allocates, but completion routines free.
//!
//! Pool blocks are 16-byte aligned on x64; a layout that wants more is served from a larger block
//! with the block's address stored just before the aligned pointer.
//!
//! The allocator counts live allocations. DriverUnload prints the count after it has freed
//! everything (`peerdrt: live allocations at unload: N`); the Wine lane fails unless N is 0.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::{AtomicIsize, Ordering};

use super::sys;

/// `'tDrP'` as the C compiler spells a multi-character constant.
pub const POOL_TAG: u32 = u32::from_be_bytes(*b"tDrP");

/// `NonPagedPoolNx` (POOL_TYPE 512): non-paged, not executable.
const NON_PAGED_POOL_NX: sys::POOL_TYPE = 512;

/// What pool blocks are aligned to on x64.
const POOL_ALIGN: usize = 16;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Allocations not yet freed.
pub fn live_allocations() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// The allocator.
pub struct PoolAllocator;

unsafe fn pool_alloc(size: usize) -> *mut u8 {
    // SAFETY: plain pool allocation; a null return is handled by the caller.
    unsafe { sys::ExAllocatePoolWithTag(NON_PAGED_POOL_NX, size as sys::SIZE_T, POOL_TAG) as *mut u8 }
}

unsafe fn pool_free(block: *mut u8) {
    // SAFETY: `block` came from `pool_alloc` with the same tag.
    unsafe { sys::ExFreePoolWithTag(block as sys::PVOID, POOL_TAG) }
}

unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= POOL_ALIGN {
            // SAFETY: size is non-zero (GlobalAlloc contract).
            unsafe { pool_alloc(layout.size()) }
        } else {
            let Some(total) = layout.size().checked_add(layout.align()) else { return ptr::null_mut() };
            // SAFETY: as above.
            let block = unsafe { pool_alloc(total) };
            if block.is_null() {
                return ptr::null_mut();
            }
            // At least POOL_ALIGN (>= 8) bytes lie between the block and the aligned pointer,
            // room for the block address.
            let offset = layout.align() - (block as usize & (layout.align() - 1));
            // SAFETY: offset <= align, so aligned + size <= block + total.
            let aligned = unsafe { block.add(offset) };
            // SAFETY: aligned - 8 >= block, in the block and 8-aligned.
            unsafe { (aligned as *mut *mut u8).sub(1).write(block) };
            aligned
        };
        if !p.is_null() {
            LIVE.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        if layout.align() <= POOL_ALIGN {
            // SAFETY: `p` came from `alloc` with this layout.
            unsafe { pool_free(p) }
        } else {
            // SAFETY: `alloc` stored the block address just before `p`.
            unsafe { pool_free((p as *mut *mut u8).sub(1).read()) }
        }
    }
}

#[global_allocator]
static GLOBAL: PoolAllocator = PoolAllocator;
