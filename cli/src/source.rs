//! Reading an interface crate without building it: what cargo says of it (`cargo metadata`)
//! and what its sources declare (`syn`), for `abi-dump` and `new plugin`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `$CARGO`, else `cargo` on `PATH`.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The interface crate at `path` (its directory or its `Cargo.toml`), as cargo sees it.
pub(crate) struct InterfaceCrate {
    pub(crate) manifest: PathBuf,
    /// The package name (`greeter-interface`).
    pub(crate) name: String,
    /// The library's crate name, as code names it (`greeter_interface`).
    pub(crate) lib_name: String,
    pub(crate) version: String,
    /// `rust-version`, if the manifest sets one.
    pub(crate) rust_version: Option<String>,
    /// The library's root source file.
    pub(crate) lib: PathBuf,
    pub(crate) target_dir: PathBuf,
    pub(crate) workspace_root: PathBuf,
    /// Its normal dependencies, by the name its code uses (`abi_stable`).
    pub(crate) dependencies: BTreeMap<String, Dependency>,
}

/// Where one dependency comes from, as the interface crate declares it.
#[derive(Clone, Debug)]
pub(crate) struct Dependency {
    /// The dependency's key in the manifest (`abi_stable`, or a rename).
    pub(crate) key: String,
    /// The package name (`abi_stable`, `xplug`).
    pub(crate) package: String,
    /// The version requirement (`^0.11.3`; `*` for a path dependency without one).
    pub(crate) req: String,
    /// A path dependency's directory.
    pub(crate) path: Option<PathBuf>,
    /// A git dependency's repository, with `branch`, `tag` or `rev` if one was named.
    pub(crate) git: Option<(String, Option<(String, String)>)>,
    pub(crate) features: Vec<String>,
    pub(crate) default_features: bool,
}

impl InterfaceCrate {
    pub(crate) fn find(path: &Path) -> Result<InterfaceCrate, String> {
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
        let string = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
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
        let lib_target = package
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
            .ok_or_else(|| format!("{}: the package has no library", manifest.display()))?;
        let lib = text(lib_target, "src_path")
            .ok_or_else(|| format!("{}: the package has no library", manifest.display()))?;
        let dependencies = package
            .get("dependencies")
            .and_then(Value::as_array)
            .map(|deps| deps.iter().filter_map(dependency).collect())
            .unwrap_or_default();
        Ok(InterfaceCrate {
            name: string(package, "name"),
            lib_name: string(lib_target, "name").replace('-', "_"),
            version: string(package, "version"),
            rust_version: package
                .get("rust_version")
                .and_then(Value::as_str)
                .map(str::to_owned),
            lib,
            target_dir: text(&metadata, "target_directory")
                .ok_or("cargo metadata named no target directory")?,
            workspace_root: text(&metadata, "workspace_root")
                .ok_or("cargo metadata named no workspace root")?,
            dependencies,
            manifest,
        })
    }

    /// The crate's directory.
    pub(crate) fn dir(&self) -> &Path {
        self.manifest.parent().unwrap_or(Path::new("."))
    }

    /// What its sources declare.
    pub(crate) fn sources(&self) -> Sources {
        let mut scan = Scan::default();
        let dir = self.lib.parent().unwrap_or(Path::new("."));
        scan.file(&self.lib, dir, &mut Vec::new(), true);
        scan.found
    }
}

/// One normal dependency of `cargo metadata`'s package (dev and build dependencies: `None`),
/// keyed by the name the code uses.
fn dependency(dep: &Value) -> Option<(String, Dependency)> {
    if !dep.get("kind").map_or(true, Value::is_null) {
        return None;
    }
    let package = dep.get("name")?.as_str()?.to_owned();
    let key = dep
        .get("rename")
        .and_then(Value::as_str)
        .unwrap_or(&package)
        .to_owned();
    let git = dep
        .get("source")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("git+"))
        .map(|url| {
            let url = url.split('#').next().unwrap_or(url);
            match url.split_once('?') {
                Some((repo, query)) => (
                    repo.to_owned(),
                    query
                        .split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned())),
                ),
                None => (url.to_owned(), None),
            }
        });
    Some((
        key.replace('-', "_"),
        Dependency {
            key,
            package,
            req: dep
                .get("req")
                .and_then(Value::as_str)
                .unwrap_or("*")
                .to_owned(),
            path: dep.get("path").and_then(Value::as_str).map(PathBuf::from),
            git,
            features: dep
                .get("features")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            default_features: dep
                .get("uses_default_features")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        },
    ))
}

/// What an interface crate's sources declare: its `#[xplug::interface]` and `#[xplug::object]`
/// traits in modules reachable from outside, and where each public name is, so that generated
/// code can import what a signature names. `mod` items are followed to their files (`#[path]`
/// included, each file once, at most `MAX_FILES`; `#[cfg(test)]` modules and files that do not
/// parse are passed over); items made by macros or `include!` are not seen.
#[derive(Default)]
pub(crate) struct Sources {
    /// The traits, in source order.
    pub(crate) traits: Vec<Declared>,
    /// Each public name a module declares or re-exports, with that module's path (the first
    /// found), including the names the attributes generate (`GreeterRef`, `CounterBox`).
    pub(crate) public: BTreeMap<String, Vec<String>>,
    /// Per module: the names its `use` items bring in, as absolute paths (`crate` as the
    /// first segment for the crate's own), and the names it declares.
    pub(crate) modules: BTreeMap<Vec<String>, Module>,
    /// The modules reachable from outside the crate (every module on their path is `pub`).
    pub(crate) reachable: BTreeSet<Vec<String>>,
}

/// The names one module can use.
#[derive(Default)]
pub(crate) struct Module {
    /// `use` items: the name in scope, and the path it names.
    pub(crate) uses: BTreeMap<String, Vec<String>>,
    /// Items declared here, public or not.
    pub(crate) declared: BTreeSet<String>,
    /// The paths of its glob imports (`use abi_stable::std_types::*;`).
    pub(crate) globs: Vec<Vec<String>>,
}

/// A trait an xplug attribute marks.
pub(crate) struct Declared {
    /// The module path from the crate root.
    pub(crate) module: Vec<String>,
    pub(crate) kind: Kind,
    pub(crate) item: syn::ItemTrait,
}

pub(crate) enum Kind {
    /// `#[xplug::interface]`: its `name = "..."` and `host = Trait`, if given.
    Interface {
        name: Option<String>,
        host: Option<syn::Path>,
    },
    /// `#[xplug::object]`.
    Object,
}

impl Declared {
    /// The handle's path from the crate root (`GreeterRef`, `api::GreeterRef`).
    pub(crate) fn handle(&self) -> String {
        let mut path = self.module.clone();
        path.push(format!("{}Ref", self.item.ident));
        path.join("::")
    }
}

impl Sources {
    /// The handles (`<Trait>Ref`, as paths from the crate root) of the public
    /// `#[xplug::interface]` traits.
    pub(crate) fn handles(&self) -> Vec<String> {
        self.traits
            .iter()
            .filter(|t| matches!(t.kind, Kind::Interface { .. }))
            .map(Declared::handle)
            .collect()
    }
}

/// The most source files read: `#[path]` attributes may name one file many times.
const MAX_FILES: usize = 4096;

/// A walk through a crate's modules.
#[derive(Default)]
struct Scan {
    found: Sources,
    /// Every file read, so that each is read once.
    read: BTreeSet<PathBuf>,
}

impl Scan {
    fn file(&mut self, file: &Path, dir: &Path, module: &mut Vec<String>, reachable: bool) {
        let key = file.canonicalize().unwrap_or_else(|_| file.to_owned());
        if self.read.len() >= MAX_FILES || !self.read.insert(key) {
            return;
        }
        let parsed = fs::read_to_string(file)
            .ok()
            .and_then(|text| syn::parse_file(&text).ok());
        if let Some(parsed) = parsed {
            self.items(&parsed.items, dir, module, reachable);
        }
    }

    /// The items of `module` (reachable from outside the crate, or not).
    fn items(
        &mut self,
        items: &[syn::Item],
        dir: &Path,
        module: &mut Vec<String>,
        reachable: bool,
    ) {
        if module.len() > 32 {
            return;
        }
        if reachable {
            self.found.reachable.insert(module.clone());
        }
        let public = |vis: &syn::Visibility| matches!(vis, syn::Visibility::Public(_));
        let mut names: Vec<(String, bool)> = Vec::new();
        let children = child_modules(items);
        for item in items {
            match item {
                syn::Item::Trait(t) => {
                    let kind = xplug_attribute(&t.attrs);
                    if let (true, Some(kind)) = (reachable && public(&t.vis), kind) {
                        let generated = match kind {
                            Kind::Interface { .. } => ["Ref", "Module"],
                            Kind::Object => ["Box", "VTable"],
                        };
                        for suffix in generated {
                            names.push((format!("{}{suffix}", t.ident), true));
                        }
                        self.found.traits.push(Declared {
                            module: module.clone(),
                            kind,
                            item: t.clone(),
                        });
                    }
                    names.push((t.ident.to_string(), public(&t.vis)));
                }
                syn::Item::Struct(s) => names.push((s.ident.to_string(), public(&s.vis))),
                syn::Item::Enum(e) => names.push((e.ident.to_string(), public(&e.vis))),
                syn::Item::Union(u) => names.push((u.ident.to_string(), public(&u.vis))),
                syn::Item::Type(t) => names.push((t.ident.to_string(), public(&t.vis))),
                syn::Item::Use(u) => {
                    let mut prefix = Vec::new();
                    let mut uses = Vec::new();
                    let mut globs = Vec::new();
                    use_tree(&u.tree, &mut prefix, &mut uses, &mut globs);
                    let leading = u.leading_colon.is_some();
                    let here = self.found.modules.entry(module.clone()).or_default();
                    for mut path in globs {
                        if leading {
                            path.insert(0, String::new());
                        }
                        here.globs.push(absolute(&path, module, &children));
                    }
                    for (name, mut path) in uses {
                        if leading {
                            path.insert(0, String::new());
                        }
                        names.push((name.clone(), public(&u.vis)));
                        here.uses.insert(name, absolute(&path, module, &children));
                    }
                }
                syn::Item::Mod(m) if !m.attrs.iter().any(is_cfg_test) => {
                    let name = m.ident.to_string();
                    let inner_reachable = reachable && public(&m.vis);
                    module.push(name.clone());
                    let sub = dir.join(&name);
                    match &m.content {
                        Some((_, items)) => self.items(items, &sub, module, inner_reachable),
                        None => {
                            let file = match path_attribute(&m.attrs) {
                                Some(path) => Some(dir.join(path)),
                                None => [dir.join(format!("{name}.rs")), sub.join("mod.rs")]
                                    .into_iter()
                                    .find(|f| f.is_file()),
                            };
                            if let Some(file) = file {
                                let inner = if file.ends_with("mod.rs") {
                                    file.parent().map(Path::to_path_buf)
                                } else {
                                    file.parent().map(|p| p.join(&name))
                                };
                                let inner = inner.unwrap_or(sub);
                                self.file(&file, &inner, module, inner_reachable);
                            }
                        }
                    }
                    module.pop();
                }
                _ => {}
            }
        }
        let here = self.found.modules.entry(module.clone()).or_default();
        for (name, _) in &names {
            here.declared.insert(name.clone());
        }
        if reachable {
            for (name, is_public) in names {
                if is_public {
                    self.found
                        .public
                        .entry(name)
                        .or_insert_with(|| module.clone());
                }
            }
        }
    }
}

/// The modules `items` declare: a `use` path may start with one of them (2018 paths).
fn child_modules(items: &[syn::Item]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// The names a `use` tree brings in, each with the path it names, and the paths it imports
/// every name of (globs).
fn use_tree(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(String, Vec<String>)>,
    globs: &mut Vec<Vec<String>>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_tree(&p.tree, prefix, out, globs);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut path = prefix.clone();
            if name == "self" {
                if let Some(last) = prefix.last() {
                    out.push((last.clone(), path));
                }
                return;
            }
            path.push(name.clone());
            out.push((name, path));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push((r.rename.to_string(), path));
        }
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_tree(tree, prefix, out, globs);
            }
        }
        syn::UseTree::Glob(_) => globs.push(prefix.clone()),
    }
}

/// `path`, as written in `module`, from the crate root (first segment `crate`) or from an
/// external crate (first segment its name). A leading empty segment is a `::` path.
pub(crate) fn absolute(
    path: &[String],
    module: &[String],
    children: &BTreeSet<String>,
) -> Vec<String> {
    let first = match path.first() {
        Some(first) => first.as_str(),
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    let rest: &[String] = match first {
        "" => &path[1..],
        "crate" => {
            out.push(String::from("crate"));
            &path[1..]
        }
        "self" | "super" => {
            out.push(String::from("crate"));
            let mut here = module.to_vec();
            let mut i = 0;
            while i < path.len() && (path[i] == "self" || path[i] == "super") {
                if path[i] == "super" {
                    here.pop();
                }
                i += 1;
            }
            out.extend(here);
            &path[i..]
        }
        name if children.contains(name) => {
            out.push(String::from("crate"));
            out.extend(module.iter().cloned());
            path
        }
        _ => path,
    };
    out.extend(rest.iter().cloned());
    out
}

/// `#[xplug::interface(..)]` (or `#[interface(..)]` where it was imported) and
/// `#[xplug::object]`, with the interface's arguments.
fn xplug_attribute(attributes: &[syn::Attribute]) -> Option<Kind> {
    attributes.iter().find_map(|attribute| {
        let segments: Vec<String> = attribute
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["xplug", "interface"] | ["interface"] => Some(interface_arguments(attribute)),
            ["xplug", "object"] | ["object"] => Some(Kind::Object),
            _ => None,
        }
    })
}

/// `name = "..."` and `host = Trait` of an interface attribute (unreadable ones: none).
fn interface_arguments(attribute: &syn::Attribute) -> Kind {
    use syn::punctuated::Punctuated;
    let mut name = None;
    let mut host = None;
    let parsed = attribute
        .parse_args_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated)
        .unwrap_or_default();
    for argument in parsed {
        if let syn::Expr::Assign(assign) = argument {
            let key = match &*assign.left {
                syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
                _ => None,
            };
            match (key.as_deref(), &*assign.right) {
                (
                    Some("name"),
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                ) => name = Some(s.value()),
                (Some("host"), syn::Expr::Path(p)) => host = Some(p.path.clone()),
                _ => {}
            }
        }
    }
    Kind::Interface { name, host }
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

/// `s` as a TOML basic string.
pub(crate) fn toml_string(s: &str) -> String {
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

/// The doc comment of `attributes`, one string per line (`///` and `#[doc = ".."]`).
pub(crate) fn doc_lines(attributes: &[syn::Attribute]) -> Vec<String> {
    let mut lines = Vec::new();
    for attribute in attributes {
        if let Ok(syn::Meta::NameValue(nv)) = attribute.parse_meta() {
            if nv.path.is_ident("doc") {
                if let syn::Lit::Str(s) = nv.lit {
                    lines.extend(s.value().lines().map(str::to_owned));
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_that_include_their_own_file_are_read_once() {
        let dir = std::env::temp_dir().join(format!("xplug-source-cycle-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let lib = dir.join("lib.rs");
        // Each level would read the file twice more: 2^32 reads without the bound.
        fs::write(
            &lib,
            "#[path = \"lib.rs\"] pub mod a;\n#[path = \"lib.rs\"] pub mod b;\n\
             #[xplug::object] pub trait Thing { fn get(&self) -> u32; }\n",
        )
        .unwrap();
        let mut scan = Scan::default();
        scan.file(&lib, &dir, &mut Vec::new(), true);
        assert_eq!(scan.read.len(), 1);
        assert_eq!(scan.found.traits.len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn use_paths_are_made_absolute() {
        let children: BTreeSet<String> = ["types".to_owned()].into_iter().collect();
        let path = |p: &str| p.split("::").map(str::to_owned).collect::<Vec<_>>();
        let module = path("api");
        assert_eq!(
            absolute(&path("super::types::Record"), &module, &children),
            path("crate::types::Record")
        );
        assert_eq!(
            absolute(&path("self::Filter"), &module, &children),
            path("crate::api::Filter")
        );
        assert_eq!(
            absolute(&path("types::Level"), &module, &children),
            path("crate::api::types::Level")
        );
        assert_eq!(
            absolute(&path("abi_stable::std_types::RVec"), &module, &children),
            path("abi_stable::std_types::RVec")
        );
    }
}
