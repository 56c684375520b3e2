//! Which generations of live handles each thread is calling into, so that a reload can wait
//! for the calls running on the generation it replaces, and an unload can tell that none runs.
//!
//! A call through a live handle records the handle and generation it uses in its thread's slot
//! (plain stores to memory only that thread writes: no lock, no read-modify-write) and clears
//! the record when it is done. A reload raises its handle's hold flag, issues a process-wide
//! barrier ([`sys::process_barrier`]) and reads every slot: a call recorded before the barrier
//! is seen, and a call recorded after it sees the flag (the caller checks it after recording)
//! and waits. This is the read side of userspace RCU's `membarrier` flavour. Where the system
//! has no process-wide barrier, each caller issues a full fence instead.
//!
//! A slot holds [`DEPTH`] nested records (a call through one live handle that reaches another
//! from a host service); deeper ones, and calls from a thread whose slot is already gone (in
//! its thread-local destructors), are counted in one shared counter, and a reload waits for
//! all of those.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use super::lock;
use crate::sys;

/// Nested records a slot holds.
const DEPTH: usize = 8;

/// One thread's records: `depth` entries of (`lives`, `generations`), an entry of 0 being one
/// cleared out of order.
#[repr(align(128))]
struct Slot {
    depth: AtomicUsize,
    lives: [AtomicUsize; DEPTH],
    generations: [AtomicUsize; DEPTH],
    /// A thread owns this slot.
    taken: AtomicBool,
}

/// Every slot ever made: a slot outlives its thread and is taken again by a later one, so
/// there are as many as threads that ever called at once.
static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

/// Calls recorded outside any slot.
static UNTRACKED: AtomicUsize = AtomicUsize::new(0);

/// How callers order their record before reading a hold flag: not yet known, a compiler fence
/// (a reload issues the process-wide barrier), or a full fence.
static ORDERING: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const BARRIER: u8 = 1;
const FENCES: u8 = 2;

/// This thread's slot, given back when the thread ends.
struct Mine(&'static Slot);

impl Drop for Mine {
    fn drop(&mut self) {
        // Later calls on this thread (other thread-locals' destructors) are untracked.
        SLOT.with(|slot| slot.set(std::ptr::null()));
        // A record still open (a `Held` kept in a thread-local destroyed later) is still
        // seen by reloads, and clears its entry when it goes: the slot then stays this
        // thread's for good, never handed to another one.
        if self.0.depth.load(Ordering::Relaxed) == 0 {
            self.0.taken.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    /// This thread's slot, or null before its first record and after it was given back: no
    /// destructor, so that a call reads it with one load.
    static SLOT: Cell<*const Slot> = const { Cell::new(std::ptr::null()) };
    /// Gives the slot back when the thread ends.
    static MINE: Mine = Mine(take_slot());
}

fn take_slot() -> &'static Slot {
    let mut slots = lock(&SLOTS);
    for slot in slots.iter() {
        if slot
            .taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return slot;
        }
    }
    let slot: &'static Slot = Box::leak(Box::new(Slot {
        depth: AtomicUsize::new(0),
        lives: [(); DEPTH].map(|()| AtomicUsize::new(0)),
        generations: [(); DEPTH].map(|()| AtomicUsize::new(0)),
        taken: AtomicBool::new(true),
    }));
    slots.push(slot);
    slot
}

/// Decides, once per process, how callers order their records: asked before the first live
/// handle is made, so that no reload runs before it is known.
pub(crate) fn prepare() {
    if ORDERING.load(Ordering::Acquire) == UNKNOWN {
        let ordering = if sys::register_process_barrier() {
            BARRIER
        } else {
            FENCES
        };
        // Two threads may race here; both find the same answer.
        ORDERING.store(ordering, Ordering::Release);
    }
}

/// What a reload issues between raising its flag and reading the slots; `false` if the slots
/// cannot be relied on this time (the system refused its barrier after registering it, not
/// expected: callers fence from now on, so the next try can).
#[must_use]
pub(crate) fn barrier() -> bool {
    match ORDERING.load(Ordering::Acquire) {
        BARRIER if sys::process_barrier() => true,
        BARRIER => {
            ORDERING.store(FENCES, Ordering::Release);
            fence(Ordering::SeqCst);
            false
        }
        _ => {
            fence(Ordering::SeqCst);
            true
        }
    }
}

/// A call's record, cleared when dropped, on the thread that made it.
pub(crate) struct Record {
    /// The slot and the index of the entry, or `None` for a call counted in [`UNTRACKED`].
    entry: Option<(&'static Slot, usize)>,
    _not_send: PhantomData<*const ()>,
}

/// Records a call through the live handle `live` on its generation `generation` (both
/// addresses, never 0), then orders the record before the caller's next read.
#[inline]
pub(crate) fn record(live: usize, generation: usize) -> Record {
    let slot = SLOT.with(Cell::get);
    // SAFETY: a non-null `SLOT` is this thread's slot, `'static`, until `Mine` gives it back
    // and nulls `SLOT` first.
    let entry = match unsafe { slot.as_ref() } {
        Some(slot) => {
            let depth = slot.depth.load(Ordering::Relaxed);
            if depth < DEPTH {
                slot.lives[depth].store(live, Ordering::Relaxed);
                slot.generations[depth].store(generation, Ordering::Relaxed);
                slot.depth.store(depth + 1, Ordering::Release);
                Some((slot, depth))
            } else {
                None
            }
        }
        None => first_record(live, generation),
    };
    match entry {
        // A read-modify-write: ordered with everything, as a fence is.
        None => {
            UNTRACKED.fetch_add(1, Ordering::SeqCst);
        }
        Some(_) if ORDERING.load(Ordering::Relaxed) == BARRIER => compiler_fence(Ordering::SeqCst),
        Some(_) => fence(Ordering::SeqCst),
    }
    Record {
        entry,
        _not_send: PhantomData,
    }
}

/// The first record on this thread: takes a slot (out of line, once per thread).
#[cold]
fn first_record(live: usize, generation: usize) -> Option<(&'static Slot, usize)> {
    let slot = MINE.try_with(|mine| mine.0).ok()?;
    SLOT.with(|cell| cell.set(slot));
    slot.lives[0].store(live, Ordering::Relaxed);
    slot.generations[0].store(generation, Ordering::Relaxed);
    slot.depth.store(1, Ordering::Release);
    Some((slot, 0))
}

impl Record {
    /// Whether this thread was already inside the live handle `live` when this was recorded
    /// (a call through it reached it again): such a call must not wait for a reload that
    /// waits for the outer one.
    pub(crate) fn nested_in(&self, live: usize) -> bool {
        match self.entry {
            Some((slot, index)) => slot.lives[..index]
                .iter()
                .any(|l| l.load(Ordering::Relaxed) == live),
            // Untracked: deeper than a slot holds, or in the thread's teardown; only a slot
            // that is still this thread's may be read.
            None => this_thread_in(live),
        }
    }
}

impl Drop for Record {
    #[inline]
    fn drop(&mut self) {
        match self.entry {
            None => {
                UNTRACKED.fetch_sub(1, Ordering::Release);
            }
            Some((slot, index)) => {
                let depth = slot.depth.load(Ordering::Relaxed);
                if depth == index + 1 {
                    // The top entry (records are usually dropped in order): entries from
                    // `depth` on are not read. Release: what the call did happens before a
                    // reload sees it gone.
                    let mut depth = index;
                    // Below it, entries cleared out of order go too.
                    while depth > 0 && slot.generations[depth - 1].load(Ordering::Relaxed) == 0 {
                        depth -= 1;
                    }
                    slot.depth.store(depth, Ordering::Release);
                } else {
                    // Out of order: cleared in place, trimmed when the entries above go.
                    slot.generations[index].store(0, Ordering::Release);
                    slot.lives[index].store(0, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Whether a call recorded on `generation` may still be running (an untracked call counts
/// as one), as of the last [`barrier`].
pub(crate) fn running_on(generation: usize) -> bool {
    if UNTRACKED.load(Ordering::Acquire) > 0 {
        return true;
    }
    lock(&SLOTS).iter().any(|slot| {
        let depth = slot.depth.load(Ordering::Acquire);
        slot.generations[..depth.min(DEPTH)]
            .iter()
            .any(|g| g.load(Ordering::Acquire) == generation)
    })
}

/// Waits until no call recorded on `generation` runs ([`running_on`], after the caller's
/// [`barrier`]), for at most `wait`; `false` if some still ran then.
pub(crate) fn wait_until_idle(generation: usize, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut spins = 0u32;
    while running_on(generation) {
        if Instant::now() >= deadline {
            return false;
        }
        // Calls are usually short: look again at once a few times, then let them run.
        spins += 1;
        match spins {
            0..=16 => std::hint::spin_loop(),
            17..=64 => thread::yield_now(),
            _ => thread::sleep(Duration::from_micros(50)),
        }
    }
    true
}

/// Whether this thread is inside a call through the live handle `live`.
pub(crate) fn this_thread_in(live: usize) -> bool {
    // SAFETY: as in `record`.
    match unsafe { SLOT.with(Cell::get).as_ref() } {
        Some(slot) => {
            let depth = slot.depth.load(Ordering::Relaxed);
            slot.lives[..depth.min(DEPTH)]
                .iter()
                .any(|l| l.load(Ordering::Relaxed) == live)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn callers_use_the_process_wide_barrier_where_linux_offers_it() {
        prepare();
        if sys::register_process_barrier() {
            assert_eq!(ORDERING.load(Ordering::Relaxed), BARRIER);
        } else {
            println!("membarrier: SKIPPED: this kernel or sandbox does not offer it");
            assert_eq!(ORDERING.load(Ordering::Relaxed), FENCES);
        }
    }

    #[test]
    fn a_record_still_open_when_its_thread_gives_up_its_slot_stays_seen() {
        use std::sync::atomic::AtomicU8;
        static SEEN: AtomicU8 = AtomicU8::new(0);
        const GENERATION: usize = 0x6000;
        struct Late(Option<Record>);
        impl Drop for Late {
            fn drop(&mut self) {
                // After `MINE`'s destructor: the record must still count, and its slot must
                // still be this thread's (no other thread may have taken it).
                let seen = running_on(GENERATION);
                SEEN.store(if seen { 1 } else { 2 }, Ordering::SeqCst);
                self.0.take();
            }
        }
        thread_local! {
            // Registered before `MINE` is (by the first record), so destroyed after it.
            static LATE: std::cell::RefCell<Late> = const { std::cell::RefCell::new(Late(None)) };
        }
        prepare();
        std::thread::spawn(|| {
            LATE.with(|late| {
                let record = record(0x5000, GENERATION);
                late.borrow_mut().0 = Some(record);
            })
        })
        .join()
        .unwrap();
        assert_eq!(
            SEEN.load(Ordering::SeqCst),
            1,
            "the record vanished with the slot"
        );
        assert!(!running_on(GENERATION));
    }

    #[test]
    fn a_record_is_seen_until_it_is_dropped_in_any_order() {
        prepare();
        let (live, first, second) = (0x1000, 0x2000, 0x3000);
        let outer = record(live, first);
        let inner = record(live, second);
        assert!(inner.nested_in(live) && !outer.nested_in(live));
        assert!(barrier());
        assert!(running_on(first) && running_on(second));
        drop(outer);
        assert!(!running_on(first) && running_on(second));
        assert!(this_thread_in(live));
        drop(inner);
        assert!(!running_on(second) && !this_thread_in(live));
    }
}
