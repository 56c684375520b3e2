//! Generates the wide interfaces of the layout-check benchmark: for each size N, two
//! separately declared but identical interfaces of N functions (`wide_N::a`, `wide_N::b`).

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let signatures = [
        "(a: u64, b: u64) -> u64",
        "(s: RStr<'_>) -> RString",
        "(v: RSlice<'_, u32>) -> RVec<u32>",
        "(x: ROption<u8>) -> RResult<u16, RString>",
    ];
    let imports = "use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};";
    let mut out = String::new();
    // xplug interfaces: 10 functions, and 59, the most an interface can hold.
    for n in [10usize, 59] {
        let _ = writeln!(
            out,
            "/// xplug interfaces of {n} functions.\npub mod wide_{n} {{"
        );
        for side in ["a", "b"] {
            let _ = writeln!(
                out,
                "    /// One declaration.\n    pub mod {side} {{\n        {imports}\n        \
                 /// {n} functions.\n        #[xplug::interface(name = \"wide\")]\n        \
                 pub trait Wide {{"
            );
            for i in 0..n {
                let sig = signatures[i % signatures.len()];
                let _ = writeln!(
                    out,
                    "            /// Function {i}.\n            fn f{i}{sig};"
                );
            }
            let _ = writeln!(out, "        }}\n    }}");
        }
        let _ = writeln!(out, "}}");
    }
    // Beyond 59 functions, plain `repr(C)` structs of function pointers: what the layout
    // checker walks, at 100 and 500 functions.
    for n in [100usize, 500] {
        let _ = writeln!(
            out,
            "/// Plain structs of {n} function pointers.\npub mod wide_{n} {{"
        );
        for side in ["a", "b"] {
            let _ = writeln!(
                out,
                "    /// One declaration.\n    pub mod {side} {{\n        {imports}\n        \
                 /// {n} functions.\n        #[repr(C)]\n        #[derive(abi_stable::StableAbi)]\n        \
                 pub struct Wide {{"
            );
            for i in 0..n {
                let sig = signatures[i % signatures.len()];
                let (params, ret) = sig.split_once(" -> ").unwrap_or((sig, "()"));
                let _ = writeln!(out, "            /// Function {i}.\n            pub f{i}: extern \"C\" fn{params} -> {ret},");
            }
            let _ = writeln!(out, "        }}\n    }}");
        }
        let _ = writeln!(out, "}}");
    }
    let dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(dir.join("wide.rs"), out).expect("write wide.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
