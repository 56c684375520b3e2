//! `xplug abi-dump`: an interface crate's layout description, with no plugin built.
//!
//! The description is written by the interface crate itself: `#[xplug::interface]` gives the
//! host's handle a hidden `__xplug_abi_dump()`. A small program that calls it is generated
//! next to the crate's target directory and run with cargo, using the crate's own lock file,
//! so the description is the layout of exactly the dependencies the crate builds with.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The interface crate at `path` (its directory or its `Cargo.toml`), as cargo sees it.
struct InterfaceCrate {
    manifest: PathBuf,
    name: String,
    lib: PathBuf,
    target_dir: PathBuf,
    workspace_root: PathBuf,
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

impl InterfaceCrate {
    fn find(path: &Path) -> Result<InterfaceCrate, String> {
        let manifest = if path.is_dir() {
            path.join("Cargo.toml")
        } else {
            path.to_owned()
        };
        let manifest = manifest
            .canonicalize()
            .map_err(|e| format!("{}: {e}", manifest.display()))?;
        let out = cargo()
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--manifest-path",
            ])
            .arg(&manifest)
            .current_dir(manifest.parent().unwrap_or(Path::new(".")))
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo metadata failed for {}:\n{}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        let metadata: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(PathBuf::from);
        let package = metadata
            .get("packages")
            .and_then(Value::as_array)
            .and_then(|packages| {
                packages.iter().find(|p| {
                    text(p, "manifest_path").and_then(|m| m.canonicalize().ok())
                        == Some(manifest.clone())
                })
            })
            .ok_or_else(|| format!("{}: no package in this manifest", manifest.display()))?;
        let lib = package
            .get("targets")
            .and_then(Value::as_array)
            .and_then(|targets| {
                targets.iter().find(|t| {
                    t.get("kind")
                        .and_then(Value::as_array)
                        .map_or(false, |kinds| {
                            kinds.iter().any(|k| k == "lib" || k == "rlib")
                        })
                })
            })
            .and_then(|t| text(t, "src_path"))
            .ok_or_else(|| format!("{}: the package has no library", manifest.display()))?;
        Ok(InterfaceCrate {
            name: package
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            lib,
            target_dir: text(&metadata, "target_directory")
                .ok_or("cargo metadata named no target directory")?,
            workspace_root: text(&metadata, "workspace_root")
                .ok_or("cargo metadata named no workspace root")?,
            manifest,
        })
    }
}

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
    let found = handles(&krate.lib);
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

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The handles (`<Trait>Ref`, as paths from the crate root) of the public
/// `#[xplug::interface]` traits declared in the crate whose root source is `lib`, following
/// public `mod` items to their files (`#[path]` included; `#[cfg(test)]` modules and files
/// that do not parse are passed over). Traits in macros or `include!`d files are not seen
/// (`--handle` names those).
fn handles(lib: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let dir = lib.parent().unwrap_or(Path::new("."));
    scan_file(lib, dir, &mut Vec::new(), &mut found, 0);
    found
}

fn scan_file(
    file: &Path,
    dir: &Path,
    module: &mut Vec<String>,
    found: &mut Vec<String>,
    depth: usize,
) {
    let parsed = fs::read_to_string(file)
        .ok()
        .and_then(|text| syn::parse_file(&text).ok());
    if let Some(parsed) = parsed {
        scan_items(&parsed.items, dir, module, found, depth);
    }
}

fn scan_items(
    items: &[syn::Item],
    dir: &Path,
    module: &mut Vec<String>,
    found: &mut Vec<String>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    let public = |vis: &syn::Visibility| matches!(vis, syn::Visibility::Public(_));
    for item in items {
        match item {
            syn::Item::Trait(t) if public(&t.vis) && t.attrs.iter().any(is_interface_attribute) => {
                let mut path = module.clone();
                path.push(format!("{}Ref", t.ident));
                found.push(path.join("::"));
            }
            syn::Item::Mod(m) if public(&m.vis) && !m.attrs.iter().any(is_cfg_test) => {
                let name = m.ident.to_string();
                module.push(name.clone());
                let sub = dir.join(&name);
                match &m.content {
                    Some((_, items)) => scan_items(items, &sub, module, found, depth + 1),
                    None => {
                        let file = match path_attribute(&m.attrs) {
                            Some(path) => Some(dir.join(path)),
                            None => [dir.join(format!("{name}.rs")), sub.join("mod.rs")]
                                .into_iter()
                                .find(|f| f.is_file()),
                        };
                        if let Some(file) = file {
                            let inner = file.parent().map(|p| p.join(&name));
                            let inner = if file.ends_with("mod.rs") {
                                file.parent().map(Path::to_path_buf)
                            } else {
                                inner
                            };
                            scan_file(&file, &inner.unwrap_or(sub), module, found, depth + 1);
                        }
                    }
                }
                module.pop();
            }
            _ => {}
        }
    }
}

/// `#[cfg(test)]`.
fn is_cfg_test(attribute: &syn::Attribute) -> bool {
    attribute.path.is_ident("cfg")
        && matches!(
            attribute.parse_meta(),
            Ok(syn::Meta::List(list)) if list.nested.iter().any(|n| matches!(
                n,
                syn::NestedMeta::Meta(syn::Meta::Path(p)) if p.is_ident("test")
            ))
        )
}

/// The file a `#[path = "..."]` attribute names.
fn path_attribute(attributes: &[syn::Attribute]) -> Option<String> {
    attributes.iter().find_map(|a| match a.parse_meta() {
        Ok(syn::Meta::NameValue(nv)) if nv.path.is_ident("path") => match nv.lit {
            syn::Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// `#[xplug::interface(..)]`, or `#[interface(..)]` where it was imported.
fn is_interface_attribute(attribute: &syn::Attribute) -> bool {
    let segments: Vec<String> = attribute
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    matches!(
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["xplug", "interface"] | ["interface"]
    )
}
