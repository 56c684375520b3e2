//! Repository tasks and the test suite's builds: the compilers of the compatibility matrix
//! ([`toolchains`]), the test fixtures ([`fixtures`]: real crates under `tests/fixtures/`),
//! and building them with one toolchain in one cargo run ([`plugins`]).

pub mod fixtures;
pub mod plugins;
pub mod toolchains;

use std::path::{Path, PathBuf};

pub use fixtures::Fixture;
pub use plugins::{build, host_built, scratch, BuiltPlugins};
pub use toolchains::{Compiler, Toolchain};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("target"),
    }
}
