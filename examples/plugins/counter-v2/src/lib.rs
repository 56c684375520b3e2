//! Sample counter plugin, second release: what a live handle swaps in for the first. It takes
//! over the first release's count (the same state format) and keeps counting from there.

use std::sync::atomic::{AtomicU64, Ordering};

use abi_stable::std_types::RString;
use counter_interface::{decode_count, encode_count, Counter};

/// Counted so far, by this release and those before it.
static TOTAL: AtomicU64 = AtomicU64::new(0);

struct Continued;

impl Counter for Continued {
    fn next() -> u64 {
        1 + TOTAL.fetch_add(1, Ordering::SeqCst)
    }

    fn version() -> RString {
        counter_interface::label(&XPLUG_PLUGIN_HEADER)
    }

    fn save_state() -> Option<Vec<u8>> {
        let total = TOTAL.load(Ordering::SeqCst);
        Some(encode_count(total))
    }

    fn restore_state(state: &[u8]) -> Result<(), String> {
        let total = decode_count(state)?;
        TOTAL.store(total, Ordering::SeqCst);
        Ok(())
    }
}

xplug::export_plugin!(Continued as Counter);
