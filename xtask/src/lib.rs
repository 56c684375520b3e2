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
    // What cargo runs (a test, a bench, `cargo xtask`) learns its package's directory at run
    // time first: the path compiled in can name another checkout, when checkouts share a
    // target directory (cargo takes the same sources at another path for the same build).
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let found = Path::new(&dir).ancestors().find(|dir| {
            dir.join("xtask").join("Cargo.toml").is_file()
                && dir
                    .join("tests")
                    .join("fixtures")
                    .join("Cargo.toml")
                    .is_file()
        });
        if let Some(root) = found {
            return root.to_path_buf();
        }
    }
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
