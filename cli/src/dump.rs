//! `xplug abi-dump`: an interface crate's layout description, with no plugin built.
//!
//! The description is written by the interface crate itself: `#[xplug::interface]` gives the
//! host's handle a hidden `__xplug_abi_dump()`. A small program that calls it is generated
//! next to the crate's target directory and run with cargo, using the crate's own lock file,
//! so the description is the layout of exactly the dependencies the crate builds with.

use std::fs;
use std::path::{Path, PathBuf};

use crate::source::{cargo, toml_string, InterfaceCrate};

/// The layout description (JSON) of the interface declared in the crate at `path`: the one
/// `#[xplug::interface]` trait its sources declare, or the handle named by `handle` (a path
/// from the crate root, e.g. `GreeterRef` or `api::GreeterRef`).
pub(crate) fn dump(path: &Path, handle: Option<&str>) -> Result<String, String> {
    Program::write(path, handle)?.run()
}

/// [`dump`] of the crate's one interface, also written to a file in the crate's target
/// directory (`xplug-abi-dump/descriptions/`): its path and the text.
pub(crate) fn dump_to_file(path: &Path) -> Result<(PathBuf, String), String> {
    let program = Program::write(path, None)?;
    let text = program.run()?;
    let dir = program.root.join("descriptions");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(format!("{}.json", program.name));
    fs::write(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((file, text))
}

/// The program that prints one interface's description, written next to the crate's target
/// directory.
struct Program {
    /// `TARGET/xplug-abi-dump`.
    root: PathBuf,
    /// Its package name, one per crate and handle: programs never share a binary.
    name: String,
    dir: PathBuf,
    krate: InterfaceCrate,
    handle: String,
}

impl Program {
    fn write(path: &Path, handle: Option<&str>) -> Result<Program, String> {
        let krate = InterfaceCrate::find(path)?;
        let handle = match handle {
            Some(handle) => handle.to_owned(),
            None => only_handle(&krate)?,
        };
        if !handle
            .split("::")
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            return Err(format!("`{handle}` is not a path to a type"));
        }
        let root = krate.target_dir.join("xplug-abi-dump");
        let key = format!("{}\n{handle}", krate.manifest.display());
        let digest = xplug_loader::trust::Sha256::of(key.as_bytes());
        let short: String = digest.as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = format!("xplug-abi-dump-{short}");
        let dir = root.join("programs").join(&name);
        fs::create_dir_all(dir.join("src")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let crate_dir = krate.manifest.parent().unwrap_or(Path::new("."));
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\ninterface = {{ package = {}, path = {} }}\n\n\
             [workspace]\n",
            toml_string(&krate.name),
            toml_string(&crate_dir.to_string_lossy())
        );
        let main = format!(
            "fn main() {{\n    match interface::{handle}::__xplug_abi_dump() {{\n        \
             Ok(description) => print!(\"{{description}}\"),\n        \
             Err(e) => {{\n            eprintln!(\"{{e}}\");\n            std::process::exit(1)\n        }}\n    }}\n}}\n"
        );
        let write = |path: PathBuf, text: &str| {
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        };
        write(dir.join("Cargo.toml"), &manifest)?;
        write(dir.join("src/main.rs"), &main)?;
        // The crate's own lock file: the layout of the dependency versions it builds with.
        let lock = krate.workspace_root.join("Cargo.lock");
        if lock.is_file() {
            fs::copy(&lock, dir.join("Cargo.lock"))
                .map_err(|e| format!("{}: {e}", lock.display()))?;
        } else {
            let _ = fs::remove_file(dir.join("Cargo.lock"));
        }
        Ok(Program {
            root,
            name,
            dir,
            krate,
            handle,
        })
    }

    /// Builds and runs the program in the crate's directory (so that its cargo configuration
    /// applies); its output is the description.
    fn run(&self) -> Result<String, String> {
        let out = cargo()
            .args(["run", "--quiet", "--manifest-path"])
            .arg(self.dir.join("Cargo.toml"))
            .current_dir(self.krate.manifest.parent().unwrap_or(Path::new(".")))
            .env("CARGO_TARGET_DIR", self.root.join("target"))
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building and running the program that describes `{}` failed (is `{}` the \
                 handle of an `#[xplug::interface]` trait, public at that path?):\n{}",
                self.krate.name,
                self.handle,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        String::from_utf8(out.stdout).map_err(|_| String::from("the description is not UTF-8"))
    }
}

/// The handle of the crate's one interface, found in its sources.
fn only_handle(krate: &InterfaceCrate) -> Result<String, String> {
    let found = krate.sources().handles();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "no `#[xplug::interface]` trait found in the public modules of `{}` from {}: name \
             its handle with `xplug abi-dump --handle` (e.g. --handle GreeterRef), then \
             compare the description",
            krate.name,
            krate.lib.display()
        )),
        many => Err(format!(
            "`{}` declares {} interfaces ({}): choose one with `xplug abi-dump --handle`, then \
             compare the description",
            krate.name,
            many.len(),
            many.join(", ")
        )),
    }
}
