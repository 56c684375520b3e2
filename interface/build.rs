//! Records the compiler and target that build this crate. A plugin is compiled by the same
//! `rustc` invocation chain as its copy of `xplug`, so these values describe the plugin.

use std::env;
use std::process::Command;

fn main() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| String::from("rustc"));
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| String::from("rustc (unknown version)"));
    let target = env::var("TARGET").unwrap_or_else(|_| String::from("unknown"));
    println!("cargo:rustc-env=XPLUG_BUILD_RUSTC={}", version);
    println!("cargo:rustc-env=XPLUG_BUILD_TARGET={}", target);
    println!("cargo:rerun-if-env-changed=RUSTC");
    println!("cargo:rerun-if-changed=build.rs");
}
