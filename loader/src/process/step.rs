//! A step run at most once to success, with no lock held while it runs: the first caller runs
//! it while later ones wait, and a wait that would never end (the running thread waits,
//! directly or through others, for this one) is refused instead.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::{self, ThreadId};

use super::lock;

/// A step run at most once to success: the first caller runs it while later ones wait.
pub(crate) struct Step<T> {
    value: Mutex<Option<T>>,
}

/// Which thread runs which step, and which step each waiting thread waits for: enough to
/// see a wait that would never end.
#[derive(Default)]
struct Steps {
    /// Step (by address) -> the thread running it.
    running: HashMap<usize, ThreadId>,
    /// Thread -> the step (by address) it waits for.
    waiting: HashMap<ThreadId, usize>,
}

static STEPS: Mutex<Option<Steps>> = Mutex::new(None);
static STEP_DONE: Condvar = Condvar::new();

/// The outcome of waiting for a step: a would-be deadlock is refused.
#[derive(Debug)]
pub(crate) struct WouldDeadlock;

impl Steps {
    /// Whether the thread `me`, by waiting for a step that `owner` runs, would wait forever:
    /// `owner` is `me`, or waits (through a chain of others) for a step `me` runs.
    fn cycle(&self, mut owner: ThreadId, me: ThreadId) -> bool {
        // A chain visits each waiting thread at most once.
        for _ in 0..=self.waiting.len() {
            if owner == me {
                return true;
            }
            match self.waiting.get(&owner).and_then(|s| self.running.get(s)) {
                Some(next) => owner = *next,
                None => return false,
            }
        }
        true
    }
}

impl<T: Clone> Step<T> {
    pub(crate) const fn new() -> Self {
        Step {
            value: Mutex::new(None),
        }
    }

    /// The kept outcome, if any.
    pub(crate) fn into_inner(self) -> Option<T> {
        self.value
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an outcome is kept.
    /// Forgets the kept outcome: the next caller runs the step again.
    pub(crate) fn reset(&self) {
        *lock(&self.value) = None;
    }

    /// Whether an outcome is kept.
    pub(crate) fn is_kept(&self) -> bool {
        lock(&self.value).is_some()
    }

    /// The kept value, or `run`'s result when none is kept yet. `keep` says which results
    /// are kept; the others are returned to this caller only, and the next caller runs again.
    /// `run` is called with no lock held. Waiting for another thread's `run` that waits, in
    /// turn, for this thread is refused with [`WouldDeadlock`], as is calling `get_or_run` on
    /// a step from inside its own `run`.
    pub(crate) fn get_or_run(
        &self,
        keep: impl Fn(&T) -> bool,
        run: impl FnOnce() -> T,
    ) -> Result<T, WouldDeadlock> {
        let id = self as *const Self as usize;
        let me = thread::current().id();
        let mut steps = lock(&STEPS);
        loop {
            if let Some(value) = &*lock(&self.value) {
                return Ok(value.clone());
            }
            let table = steps.get_or_insert_with(Steps::default);
            match table.running.get(&id) {
                None => {
                    table.running.insert(id, me);
                    break;
                }
                Some(&owner) => {
                    if table.cycle(owner, me) {
                        return Err(WouldDeadlock);
                    }
                    table.waiting.insert(me, id);
                    steps = STEP_DONE
                        .wait(steps)
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(table) = steps.as_mut() {
                        table.waiting.remove(&me);
                    }
                }
            }
        }
        drop(steps);
        // Whatever happens in `run`, the step is marked not running afterwards.
        let finish = Finish { id };
        let value = run();
        if keep(&value) {
            *lock(&self.value) = Some(value.clone());
        }
        drop(finish);
        Ok(value)
    }
}

/// Marks a step finished and wakes its waiters, also when its `run` unwinds.
struct Finish {
    id: usize,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut steps = lock(&STEPS);
        if let Some(table) = steps.as_mut() {
            table.running.remove(&self.id);
        }
        STEP_DONE.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    #[test]
    fn a_step_runs_once_and_keeps_only_what_it_is_told_to() {
        let step: Step<Result<u32, ()>> = Step::new();
        assert_eq!(step.get_or_run(Result::is_ok, || Err(())).unwrap(), Err(()));
        assert_eq!(step.get_or_run(Result::is_ok, || Ok(1)).unwrap(), Ok(1));
        assert_eq!(step.get_or_run(Result::is_ok, || Ok(2)).unwrap(), Ok(1));
    }

    #[test]
    fn a_step_entered_from_its_own_run_is_refused() {
        let step: Step<u32> = Step::new();
        let inner = step.get_or_run(
            |_| true,
            || match step.get_or_run(|_| true, || 2) {
                Err(WouldDeadlock) => 7,
                Ok(_) => 0,
            },
        );
        assert_eq!(inner.unwrap(), 7);
    }

    #[test]
    fn two_threads_waiting_for_each_other_are_refused_not_hung() {
        static A: Step<&'static str> = Step::new();
        static B: Step<&'static str> = Step::new();
        let barrier = Arc::new(Barrier::new(2));
        let run = |first: &'static Step<&'static str>, second: &'static Step<&'static str>| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                first.get_or_run(
                    |_| true,
                    || {
                        barrier.wait();
                        // Let the other thread start its own step first.
                        thread::sleep(Duration::from_millis(50));
                        match second.get_or_run(|_| true, || "inner") {
                            Ok(_) => "waited",
                            Err(WouldDeadlock) => "refused",
                        }
                    },
                )
            })
        };
        let one = run(&A, &B);
        let two = run(&B, &A);
        let outcomes = [one.join().unwrap().unwrap(), two.join().unwrap().unwrap()];
        // One of them sees the cycle and is refused; the other then gets the kept value.
        assert!(outcomes.contains(&"refused"), "{outcomes:?}");
    }
}
