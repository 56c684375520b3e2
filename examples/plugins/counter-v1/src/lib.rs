//! Sample counter plugin, first release: counts in a static and hands the count to its
//! successor when a live handle replaces it.

use std::sync::atomic::{AtomicU64, Ordering};

use abi_stable::std_types::RString;
use counter_interface::Counter;

static COUNT: AtomicU64 = AtomicU64::new(0);

struct ByOne;

impl Counter for ByOne {
    fn next() -> u64 {
        COUNT.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn version() -> RString {
        counter_interface::label(&XPLUG_PLUGIN_HEADER)
    }

    fn save_state() -> Option<Vec<u8>> {
        Some(counter_interface::encode_count(
            COUNT.load(Ordering::SeqCst),
        ))
    }

    fn restore_state(state: &[u8]) -> Result<(), String> {
        COUNT.store(counter_interface::decode_count(state)?, Ordering::SeqCst);
        Ok(())
    }
}

xplug::export_plugin!(ByOne as Counter);
