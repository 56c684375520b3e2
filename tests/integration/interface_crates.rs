//! Interface crates as their authors write them, built by cargo from scratch.

use std::fs;
use std::process::Command;

/// An interface crate that leaves out `abi_stable` (the derives xplug generates name it as
/// `::abi_stable`, which only a direct dependency provides) gets one error per attribute,
/// saying what to add, instead of one per generated derive.
#[test]
fn an_interface_crate_without_abi_stable_gets_one_error_per_attribute() {
    let repo = xtask::repo_root();
    // Kept between runs, so xplug's dependencies are checked once.
    let work = xtask::target_dir().join("xplug-interface-crates");
    let crate_dir = work.join("no-abi-stable");
    fs::create_dir_all(crate_dir.join("src")).unwrap();
    fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"no-abi-stable\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nxplug = {{ path = {:?} }}\n\n[workspace]\n",
            repo.join("interface")
        ),
    )
    .unwrap();
    fs::write(
        crate_dir.join("src/lib.rs"),
        "use xplug::abi_stable::std_types::{RStr, RString};\n\n\
         #[xplug::interface(name = \"notes\", host = NotesHost)]\n\
         pub trait Notes {\n    fn title(text: RStr<'_>) -> RString;\n    fn count() -> u32;\n}\n\n\
         #[xplug::object]\n\
         pub trait NotesHost: Send + Sync {\n    fn now_ms(&self) -> u64;\n}\n",
    )
    .unwrap();
    // The workspace's lock file: every dependency is in cargo's cache already.
    fs::copy(repo.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "check",
            "--offline",
            "--quiet",
            "--message-format=short",
            "--manifest-path",
        ])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", work.join("target"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("error"))
        .filter(|line| !line.contains("could not compile"))
        .collect();
    assert_eq!(errors.len(), 2, "one error per attribute:\n{stderr}");
    for (error, attribute) in errors
        .iter()
        .zip(["#[xplug::interface]", "#[xplug::object]"])
    {
        assert!(
            error.contains(&format!(
                "`{attribute}` needs `abi_stable` as a dependency of this crate"
            )),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("help: add `abi_stable = \"0.11\"` under `[dependencies]`"),
        "{stderr}"
    );
}
