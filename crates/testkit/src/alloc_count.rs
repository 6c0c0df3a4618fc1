//! A global allocator that counts allocations per thread, for tests that
//! check a hot path allocates nothing. A test binary installs it with
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: testkit::alloc_count::CountingAllocator =
//!     testkit::alloc_count::CountingAllocator;
//! # fn main() {}
//! ```
//!
//! and compares [`allocations_on_this_thread`] before and after the code
//! under test; counting per thread keeps other tests of the binary, which
//! run in parallel, out of the figure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator and counts on the calling thread.
pub struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (and reallocations) made on this thread so far, when
/// [`CountingAllocator`] is the binary's global allocator (0 otherwise).
pub fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.with(Cell::get)
}
