//! The files of a generated plugin crate: its manifest, `src/lib.rs`, the load test, the
//! README.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::imports::Stub;
use crate::source::{toml_string, Dependency, InterfaceCrate};

/// The minimum Rust version of `xplug` itself: a plugin's default.
const XPLUG_RUST_VERSION: &str = "1.63";

/// The dependencies every plugin has, as manifest lines: the interface crate, `xplug` and
/// `abi_stable` as the interface crate has them, and `xplug-loader` for the test.
pub(super) struct Deps {
    interface: String,
    xplug: String,
    abi_stable: String,
    loader: String,
}

pub(super) fn dependencies(
    krate: &InterfaceCrate,
    dir: &Path,
    xplug: Option<&Path>,
) -> Result<Deps, String> {
    let version = |req: &str| req.trim_start_matches('^').to_owned();
    let interface = format!(
        "{} = {{ path = {}, version = {} }}",
        krate.name,
        toml_string(&relative(dir, krate.dir())),
        toml_string(&krate.version)
    );
    let checkout = |root: &Path, member: &str| -> Result<PathBuf, String> {
        let path = root.join(member);
        if path.join("Cargo.toml").is_file() {
            path.canonicalize()
                .map_err(|e| format!("{}: {e}", path.display()))
        } else {
            Err(format!(
                "{}: no {member}/Cargo.toml: --xplug names a checkout of xplug",
                root.display()
            ))
        }
    };
    // By package: the interface crate may name them otherwise (`stable = { package = .. }`).
    let by_package = |package: &str| krate.dependencies.values().find(|d| d.package == package);
    let own = by_package("xplug").cloned();
    let (xplug_line, loader_line) = match (xplug, &own) {
        (Some(root), own) => {
            let interface_dir = checkout(root, "interface")?;
            let loader_dir = checkout(root, "loader")?;
            // One `xplug` in the build: a second copy's types are other types.
            if let Some(theirs) = own {
                let same = theirs.path.as_ref().and_then(|p| p.canonicalize().ok());
                if same.as_ref() != Some(&interface_dir) {
                    let from = match &theirs.path {
                        Some(path) => path.display().to_string(),
                        None => format!("a registry or git ({})", theirs.req),
                    };
                    return Err(format!(
                        "`{}` takes xplug from {from}, not from --xplug {}: a plugin builds \
                         with the interface crate's xplug (leave out --xplug)",
                        krate.name,
                        root.display()
                    ));
                }
            }
            let key = own.as_ref().map_or("xplug", |d| d.key.as_str()).to_owned();
            (
                format!(
                    "{key} = {{ package = \"xplug\", path = {} }}",
                    toml_string(&relative(dir, &interface_dir))
                ),
                format!(
                    "xplug-loader = {{ path = {} }}",
                    toml_string(&relative(dir, &loader_dir))
                ),
            )
        }
        (None, Some(dep)) => {
            let line = dependency_line(dep, dir);
            // The loader from where the interface crate's `xplug` comes.
            let loader = match (&dep.path, &dep.git) {
                (Some(path), _) => {
                    let loader = path.parent().map(|p| p.join("loader"));
                    match loader.filter(|l| l.join("Cargo.toml").is_file()) {
                        Some(l) => format!(
                            "xplug-loader = {{ path = {}, version = {} }}",
                            toml_string(&relative(dir, &l)),
                            toml_string(&version(&dep.req))
                        ),
                        None => {
                            return Err(format!(
                                "`{}` takes xplug from {}, with no loader/ beside it: name the \
                                 checkout of xplug it is part of with --xplug",
                                krate.name,
                                path.display()
                            ))
                        }
                    }
                }
                (None, Some((repo, rev))) => {
                    let mut line = format!("xplug-loader = {{ git = {}", toml_string(repo));
                    if let Some((k, v)) = rev {
                        let _ = write!(line, ", {k} = {}", toml_string(v));
                    }
                    line.push_str(" }");
                    line
                }
                (None, None) => format!("xplug-loader = {}", toml_string(&version(&dep.req))),
            };
            (line, loader)
        }
        (None, None) => {
            return Err(format!(
                "`{}` does not depend on `xplug` directly: is it an interface crate?",
                krate.name
            ))
        }
    };
    let abi_stable = match by_package("abi_stable") {
        Some(dep) => dependency_line(dep, dir),
        None => String::from("abi_stable = \"0.11.3\""),
    };
    Ok(Deps {
        interface,
        xplug: xplug_line,
        abi_stable,
        loader: loader_line,
    })
}

/// One dependency as the interface crate declares it, as a manifest line for a crate in `dir`.
fn dependency_line(dep: &Dependency, dir: &Path) -> String {
    let mut fields: Vec<String> = Vec::new();
    if dep.key != dep.package {
        fields.push(format!("package = {}", toml_string(&dep.package)));
    }
    let version = dep.req.trim_start_matches('^');
    if let Some(path) = &dep.path {
        fields.push(format!("path = {}", toml_string(&relative(dir, path))));
    } else if let Some((repo, rev)) = &dep.git {
        fields.push(format!("git = {}", toml_string(repo)));
        if let Some((k, v)) = rev {
            fields.push(format!("{k} = {}", toml_string(v)));
        }
    }
    if version != "*" {
        fields.push(format!("version = {}", toml_string(version)));
    }
    if !dep.features.is_empty() {
        let features: Vec<String> = dep.features.iter().map(|f| toml_string(f)).collect();
        fields.push(format!("features = [{}]", features.join(", ")));
    }
    if !dep.default_features {
        fields.push(String::from("default-features = false"));
    }
    match fields.as_slice() {
        [only] if only.starts_with("version = ") => {
            format!("{} = {}", dep.key, toml_string(version))
        }
        _ => format!("{} = {{ {} }}", dep.key, fields.join(", ")),
    }
}

/// `to` from `from` (both absolute), as a relative path where they share a root.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component<'_>> = from.components().collect();
    let to_parts: Vec<Component<'_>> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    // Sharing no more than the root (or nothing, on another drive): absolute.
    let root = matches!(from.first(), Some(Component::RootDir))
        || matches!(from.first(), Some(Component::Prefix(_)));
    if common == 0
        || (root && common == 1)
        || (common == 2 && matches!(from.first(), Some(Component::Prefix(_))))
    {
        return to.display().to_string();
    }
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part.as_os_str());
    }
    if out.as_os_str().is_empty() {
        return String::from(".");
    }
    // Forward slashes: the manifest reads the same on every platform.
    out.to_string_lossy().replace('\\', "/")
}

pub(super) fn manifest(
    package: &str,
    krate: &InterfaceCrate,
    dir: &Path,
    deps: &Deps,
    extra: &BTreeMap<String, Dependency>,
) -> String {
    let rust_version = krate
        .rust_version
        .clone()
        .unwrap_or_else(|| String::from(XPLUG_RUST_VERSION));
    let mut text = format!(
        "[package]\n\
         name = {name}\n\
         version = \"0.1.0\"\n\
         edition = \"2021\"\n\
         # The interface crate's: a plugin builds with the compilers its interface supports.\n\
         rust-version = {rust_version}\n\
         publish = false\n\
         \n\
         [lib]\n\
         # `cdylib` is the plugin a host loads; `rlib` lets tests link the plugin's code.\n\
         crate-type = [\"cdylib\", \"rlib\"]\n\
         # The docs come from the interface crate: its examples are no tests of this one.\n\
         doctest = false\n\
         \n\
         [dependencies]\n\
         {interface}\n\
         {xplug}\n\
         {abi_stable}\n",
        name = toml_string(package),
        rust_version = toml_string(&rust_version),
        interface = deps.interface,
        xplug = deps.xplug,
        abi_stable = deps.abi_stable,
    );
    for dep in extra.values() {
        if dep.package != "xplug" && dep.package != "abi_stable" {
            text.push_str(&dependency_line(dep, dir));
            text.push('\n');
        }
    }
    let _ = write!(
        text,
        "\n[dev-dependencies]\n\
         # The test loads the built plugin as a host does.\n\
         {loader}\n\
         \n\
         # Hosts refuse plugins built with panic = \"abort\": a panic in one would end the host.\n\
         # With unwinding, a panic comes back to the host as an error.\n\
         [profile.dev]\n\
         panic = \"unwind\"\n\
         \n\
         [profile.release]\n\
         panic = \"unwind\"\n\
         \n\
         # A plugin builds on its own, wherever it is.\n\
         [workspace]\n",
        loader = deps.loader
    );
    text
}

pub(super) struct LibSource<'a> {
    pub(super) package: &'a str,
    pub(super) interface_name: &'a str,
    pub(super) krate: &'a InterfaceCrate,
    pub(super) trait_name: &'a str,
    pub(super) host: Option<&'a str>,
    pub(super) imports: &'a [String],
    pub(super) plugin_type: &'a str,
    pub(super) functions: &'a [Stub],
    /// Object trait, the type that implements it, its methods.
    pub(super) objects: &'a [(String, &'a str, &'a Vec<Stub>)],
}

pub(super) fn lib_rs(s: &LibSource<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "//! {package}: a plugin for the `{interface}` interface ({krate} {version}).\n\
         //!\n\
         //! Each function below is one of the interface's, with its documentation, and\n\
         //! `todo!()` until it is written. A `todo!()` a host calls is a contained panic: the\n\
         //! host's call returns an error and the plugin keeps serving. `xplug::export_plugin!`\n\
         //! at the end exports them with the header hosts check before loading anything.\n",
        package = s.package,
        // A comment line: no line breaks.
        interface = s.interface_name.replace(|c: char| c.is_control(), "?"),
        krate = s.krate.name,
        version = s.krate.version,
    );
    for line in s.imports {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "\n/// The plugin. Interface functions take no `self`: state, if any, lives in statics.\n\
         ///\n\
         /// The trait also has hooks with defaults, to write when needed: `on_load` (after the\n\
         /// host's checks, before any call), `save_state` and `restore_state` (hot reload),\n\
         /// `on_unload`."
    );
    if let Some(host) = s.host {
        let _ = writeln!(
            out,
            "///\n/// The host's services (`{host}`) are `{}::host()`, from `on_load` on.",
            s.plugin_type
        );
    }
    let _ = writeln!(out, "pub struct {};\n", s.plugin_type);
    let _ = writeln!(out, "impl {} for {} {{", s.trait_name, s.plugin_type);
    write_stubs(&mut out, s.functions);
    let _ = writeln!(out, "}}\n");
    for (object, ty, stubs) in s.objects {
        let _ = writeln!(
            out,
            "/// A `{object}` object the plugin makes, handed to the host as\n\
             /// `{object}Box::new({ty})`. Its methods and its `Drop` run in the plugin.\n\
             pub struct {ty};\n\n\
             impl {object} for {ty} {{"
        );
        write_stubs(&mut out, stubs);
        let _ = writeln!(out, "}}\n");
    }
    let _ = writeln!(
        out,
        "xplug::export_plugin!({} as {});",
        s.plugin_type, s.trait_name
    );
    out
}

fn write_stubs(out: &mut String, stubs: &[Stub]) {
    for (i, stub) in stubs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for line in &stub.docs {
            let _ = writeln!(out, "    ///{line}");
        }
        let _ = writeln!(out, "    {} {{\n        todo!()\n    }}", stub.signature);
    }
}

pub(super) fn load_test(package: &str, interface: &str, handle: &str, handle_path: &str) -> String {
    let crate_name = package.replace('-', "_");
    format!(
        "//! Loads the plugin the way a host does, with every check. `cargo test` has built the\n\
         //! `cdylib` next to this test binary (in `target/<profile>/deps`).\n\
         \n\
         use std::path::PathBuf;\n\
         \n\
         use {handle_path};\n\
         use xplug_loader::Loader;\n\
         \n\
         /// `target/<profile>/deps/lib{crate_name}.so` (`.dll`, `.dylib`), built with the tests.\n\
         fn plugin_file() -> PathBuf {{\n\
         \x20   let exe = std::env::current_exe().expect(\"the test binary's path\");\n\
         \x20   let deps = exe.parent().expect(\"the test binary's directory\");\n\
         \x20   deps.join(xplug_loader::tools::library_file_name(\"{crate_name}\"))\n\
         }}\n\
         \n\
         #[test]\n\
         fn the_plugin_loads_in_a_host() {{\n\
         \x20   let plugin = match Loader::<{handle}>::new().load(plugin_file()) {{\n\
         \x20       Ok(plugin) => plugin,\n\
         \x20       Err(e) => panic!(\"{{}}\", e.report()),\n\
         \x20   }};\n\
         \x20   assert_eq!(plugin.info().name, \"{package}\");\n\
         \x20   assert_eq!(plugin.info().interface_name, {interface:?});\n\
         \x20   // Call it as a host does: each function returns `Result<_, CallError>`, and a\n\
         \x20   // `todo!()` not yet written is `Err` with the panic's message.\n\
         }}\n"
    )
}

pub(super) fn readme(package: &str, interface: &str, krate: &InterfaceCrate) -> String {
    let crate_name = package.replace('-', "_");
    format!(
        "# {package}\n\
         \n\
         A plugin for the `{interface}` interface ({name} {version}), built with xplug: a host\n\
         loads it at run time, checks its interface, version and type layout before running any\n\
         of its code, and calls it at native speed.\n\
         \n\
         - `src/lib.rs`: every function of the interface, `todo!()` until written.\n\
         - `cargo test`: builds the plugin and loads it as a host does (`tests/load.rs`).\n\
         - `cargo build --release`: the plugin is `target/release/lib{crate_name}.so`\n\
         \x20 (`{crate_name}.dll` on Windows, `lib{crate_name}.dylib` on macOS). Keep\n\
         \x20 `panic = \"unwind\"`: hosts refuse plugins that abort on panic.\n\
         \n\
         Install it into a host's plugin directory by copying it to a temporary name there and\n\
         renaming it into place (`mv`), so that a watching host never sees half a file.\n",
        name = krate.name,
        version = krate.version,
    )
}

/// Formats `files` with `rustfmt` (edition 2021), if it is installed.
pub(super) fn rustfmt(files: &[PathBuf]) -> Result<(), String> {
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let out = Command::new(rustfmt)
        .args(["--edition", "2021"])
        .args(files)
        .output()
        .map_err(|e| format!("cannot run rustfmt ({e})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_between_directories_are_relative() {
        assert_eq!(relative(Path::new("/a/b/c"), Path::new("/a/x")), "../../x");
        assert_eq!(relative(Path::new("/a"), Path::new("/a/x/y")), "x/y");
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), ".");
        assert_eq!(
            relative(Path::new("/tmp/p"), Path::new("/work/x")),
            "/work/x"
        );
    }
}
