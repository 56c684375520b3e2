//! Stages 2 and 3 of the load pipeline (object format, then the frozen header) on arbitrary
//! bytes: every input must give a header or a typed error, never a panic, an overflow, an
//! out-of-bounds read or an allocation the input's size does not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match xplug_loader::tools::inspect_bytes("fuzzed.so", bytes) {
        Ok(info) => {
            // Everything a tool prints of a header must render too.
            let _ = info.label();
            let _ = format!("{info:?}");
        }
        Err(error) => {
            let _ = error.report().to_string();
        }
    }
});
