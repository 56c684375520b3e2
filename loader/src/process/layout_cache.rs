//! Root-module layouts that passed the full check in this process, by fingerprint (see
//! `stages::layout`), and each host layout's type ids.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use abi_stable::std_types::UTypeId;
use rustc_hash::FxHashSet;

use super::lock;

/// The most layouts remembered as passed: one per interface version a host meets, in
/// practice; the bound keeps a stream of distinct layouts from growing the process.
const MAX_REMEMBERED: usize = 256;
/// The most bytes of fingerprints remembered (one takes tens of kilobytes for an interface
/// of a few dozen functions).
const MAX_REMEMBERED_BYTES: usize = 16 << 20;

/// The type ids of a host layout's tree, or `None` if it cannot be fingerprinted.
pub(crate) type HostIds = Option<Arc<FxHashSet<UTypeId>>>;

/// Layouts checked in this process.
#[derive(Default)]
struct Checked {
    /// Per host layout (by address): its tree's `UTypeId`s.
    hosts: HashMap<usize, HostIds>,
    /// The key of each fingerprint that passed (its bytes, followed by its host layout's
    /// address and how the versions compared), kept whole and compared with `memcmp`: no
    /// per-byte loop of ours runs on it, which a host built without optimisations would run
    /// slowly.
    passed: Vec<Box<[u8]>>,
    /// The bytes of `passed`.
    passed_bytes: usize,
}

static CHECKED: Mutex<Option<Checked>> = Mutex::new(None);

fn with_checked<R>(f: impl FnOnce(&mut Checked) -> R) -> R {
    // Plain data: a panic while it was held cannot leave it half-written in a way that
    // matters (at worst an entry is missing and its layout is checked again).
    f(lock(&CHECKED).get_or_insert_with(Checked::default))
}

/// Whether a layout with this key passed before.
pub(crate) fn passed(key: &[u8]) -> bool {
    with_checked(|checked| checked.passed.iter().any(|known| **known == *key))
}

/// Remembers that a layout with this key passed (up to a bound).
pub(crate) fn remember_pass(key: Vec<u8>) {
    with_checked(|checked| {
        let bytes = checked.passed_bytes.saturating_add(key.len());
        if checked.passed.len() < MAX_REMEMBERED && bytes <= MAX_REMEMBERED_BYTES {
            checked.passed_bytes = bytes;
            // Boxed: the bound counts what is held, not what the walk reserved.
            checked.passed.push(key.into_boxed_slice());
        }
    });
}

/// The type ids of the host layout at `address`, from `walk` the first time (outside the
/// lock: two threads may both walk it then).
pub(crate) fn host_ids(address: usize, walk: impl FnOnce() -> HostIds) -> HostIds {
    if let Some(known) = with_checked(|checked| checked.hosts.get(&address).cloned()) {
        return known;
    }
    let ids = walk();
    with_checked(|checked| checked.hosts.insert(address, ids.clone()));
    ids
}
