//! `xplug new plugin`: a plugin crate for any interface crate, written from its sources.
//!
//! The interface crate is read, not built (`source.rs`): its `#[xplug::interface]` trait, the
//! `#[xplug::object]` traits whose boxes the plugin returns, and where every name their
//! signatures use comes from. The plugin crate gets every function and method as `todo!()`
//! with its documentation, the export line, a manifest that builds a `cdylib` with unwinding
//! and the interface's own sources for `xplug` and `abi_stable`, and a test that loads the
//! built library as a host does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use quote::ToTokens;
use syn::visit_mut::VisitMut;

use crate::source::{doc_lines, toml_string, Declared, Dependency, InterfaceCrate, Kind, Sources};

/// What `xplug new plugin` was asked for.
pub(crate) struct Request<'a> {
    /// The interface crate: its directory or its `Cargo.toml`.
    pub(crate) interface: &'a Path,
    /// The directory to create.
    pub(crate) dir: &'a Path,
    /// The package name; the directory's name by default.
    pub(crate) name: Option<&'a str>,
    /// The interface's handle or trait, where the crate declares several.
    pub(crate) handle: Option<&'a str>,
    /// A checkout of xplug to take `xplug` and `xplug-loader` from.
    pub(crate) xplug: Option<&'a Path>,
}

/// What was written, for the summary.
pub(crate) struct Created {
    pub(crate) dir: PathBuf,
    pub(crate) package: String,
    pub(crate) interface: String,
    pub(crate) interface_crate: String,
    pub(crate) functions: usize,
    pub(crate) objects: Vec<String>,
    /// Why the sources may not be formatted, or a name whose source was guessed.
    pub(crate) warnings: Vec<String>,
}

/// The minimum Rust version of `xplug` itself: a plugin's default.
const XPLUG_RUST_VERSION: &str = "1.63";

pub(crate) fn new_plugin(request: &Request<'_>) -> Result<Created, String> {
    let krate = InterfaceCrate::find(request.interface)?;
    let sources = krate.sources();
    let interface = choose_interface(&krate, &sources, request.handle)?;
    let package = match request.name {
        Some(name) => name.to_owned(),
        None => request
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: name the plugin with --name", request.dir.display()))?,
    };
    check_package_name(&package)?;
    let dir = make_dir(request.dir)?;
    let written = write_crate(&krate, &sources, interface, &package, &dir, request.xplug);
    if written.is_err() {
        // Only if nothing was written: the directory was empty or new.
        let _ = fs::remove_dir(&dir);
    }
    written
}

/// Writes the plugin crate `package` for `interface` into the empty directory `dir`.
fn write_crate(
    krate: &InterfaceCrate,
    sources: &Sources,
    interface: &Declared,
    package: &str,
    dir: &Path,
    xplug: Option<&Path>,
) -> Result<Created, String> {
    let (name, host) = match &interface.kind {
        Kind::Interface { name, host } => (name.clone(), host.as_ref()),
        Kind::Object => (None, None),
    };
    // Unnamed, an interface is named after its crate.
    let interface_name = name.unwrap_or_else(|| krate.name.clone());
    let host = host
        .and_then(|p| p.segments.last())
        .map(|s| s.ident.to_string());
    let deps = dependencies(krate, dir, xplug)?;

    let objects = plugin_objects(sources, interface, host.as_deref());
    let mut plan = Plan::new(krate, sources, interface);
    let functions = plan.functions(&interface.item);
    let methods: Vec<(&Declared, Vec<Stub>)> = objects
        .iter()
        .map(|object| (*object, plan.functions(&object.item)))
        .collect();
    plan.import(&interface.item.ident.to_string());
    for (object, _) in &methods {
        plan.import(&object.item.ident.to_string());
    }
    let plugin_type = plan.free_name(&upper_camel(package), "Plugin");
    let object_types: Vec<String> = methods
        .iter()
        .map(|(object, _)| plan.free_name(&format!("My{}", object.item.ident), "Impl"))
        .collect();

    let mut extra_deps = BTreeMap::new();
    for root in plan.external_roots() {
        if let Some(dep) = krate.dependencies.get(&root) {
            extra_deps.insert(dep.key.clone(), dep.clone());
        }
    }
    let mut warnings = plan.warnings.clone();

    let lib_rs = lib_rs(&LibSource {
        package,
        interface_name: &interface_name,
        krate,
        trait_name: &interface.item.ident.to_string(),
        host: host.as_deref(),
        imports: &plan.import_lines(),
        plugin_type: &plugin_type,
        functions: &functions,
        objects: &methods
            .iter()
            .zip(&object_types)
            .map(|((object, stubs), ty)| (object.item.ident.to_string(), ty.as_str(), stubs))
            .collect::<Vec<_>>(),
    });
    let handle = format!("{}Ref", interface.item.ident);
    let handle_path = plan.path_of(&handle);
    let manifest = manifest(package, krate, dir, &deps, &extra_deps);
    let test = load_test(package, &interface_name, &handle, &handle_path);
    let readme = readme(package, &interface_name, krate);

    let write = |relative: &str, text: &str| -> Result<(), String> {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("Cargo.toml", &manifest)?;
    write("src/lib.rs", &lib_rs)?;
    write("tests/load.rs", &test)?;
    write("README.md", &readme)?;
    write(".gitignore", "/target\n")?;
    if let Err(why) = rustfmt(&[dir.join("src/lib.rs"), dir.join("tests/load.rs")]) {
        warnings.push(format!("the sources are not formatted: {why}"));
    }
    Ok(Created {
        dir: dir.to_path_buf(),
        package: package.to_owned(),
        interface: interface_name,
        interface_crate: format!("{} {}", krate.name, krate.version),
        functions: functions.len(),
        objects: methods
            .iter()
            .map(|(object, _)| object.item.ident.to_string())
            .collect(),
        warnings,
    })
}

/// The one interface the crate declares, or the one `handle` names (`GreeterRef`,
/// `api::GreeterRef` or the trait's name).
fn choose_interface<'s>(
    krate: &InterfaceCrate,
    sources: &'s Sources,
    handle: Option<&str>,
) -> Result<&'s Declared, String> {
    let interfaces: Vec<&Declared> = sources
        .traits
        .iter()
        .filter(|t| matches!(t.kind, Kind::Interface { .. }))
        .collect();
    let names = || {
        interfaces
            .iter()
            .map(|t| t.handle())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = handle {
        let wanted = wanted.trim_start_matches("crate::");
        return interfaces
            .iter()
            .copied()
            .find(|t| {
                let handle = t.handle();
                let mut path = t.module.clone();
                path.push(t.item.ident.to_string());
                handle == wanted
                    || path.join("::") == wanted
                    || t.item.ident == wanted
                    || handle.rsplit("::").next() == Some(wanted)
            })
            .ok_or_else(|| {
                format!(
                    "`{}` declares no interface `{wanted}`; it declares: {}",
                    krate.name,
                    if interfaces.is_empty() {
                        String::from("none")
                    } else {
                        names()
                    }
                )
            });
    }
    match interfaces.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no public `#[xplug::interface]` trait found in `{}` (from {}): a plugin implements \
             one, declared in the crate's public modules",
            krate.name,
            krate.lib.display()
        )),
        _ => Err(format!(
            "`{}` declares {} interfaces ({}): choose one with --handle",
            krate.name,
            interfaces.len(),
            names()
        )),
    }
}

/// The object traits whose boxes the plugin makes: those named in the return types of the
/// interface's functions, and in turn of those objects' methods. Host services are the host's.
fn plugin_objects<'s>(
    sources: &'s Sources,
    interface: &Declared,
    host: Option<&str>,
) -> Vec<&'s Declared> {
    let objects: Vec<&Declared> = sources
        .traits
        .iter()
        .filter(|t| {
            matches!(t.kind, Kind::Object) && Some(t.item.ident.to_string().as_str()) != host
        })
        .collect();
    let mut chosen: Vec<&Declared> = Vec::new();
    let mut queue: Vec<&syn::ItemTrait> = vec![&interface.item];
    while let Some(item) = queue.pop() {
        let returned: BTreeSet<String> = signatures(item)
            .filter_map(|sig| match &sig.output {
                syn::ReturnType::Type(_, ty) => Some(idents(&ty.to_token_stream())),
                syn::ReturnType::Default => None,
            })
            .flatten()
            .collect();
        for object in &objects {
            let boxed = format!("{}Box", object.item.ident);
            if returned.contains(&boxed) && !chosen.iter().any(|c| std::ptr::eq(*c, *object)) {
                chosen.push(object);
                queue.push(&object.item);
            }
        }
    }
    // In declaration order, as the interface crate lists them.
    chosen.sort_by_key(|c| {
        objects
            .iter()
            .position(|o| std::ptr::eq(*o, *c))
            .unwrap_or(usize::MAX)
    });
    chosen
}

/// Every identifier in `tokens`.
fn idents(tokens: &proc_macro2::TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    for tree in tokens.clone() {
        match tree {
            proc_macro2::TokenTree::Ident(i) => out.push(i.to_string()),
            proc_macro2::TokenTree::Group(g) => out.extend(idents(&g.stream())),
            _ => {}
        }
    }
    out
}

/// The signatures of a trait's required functions (those without a default body).
fn signatures(item: &syn::ItemTrait) -> impl Iterator<Item = &syn::Signature> {
    item.items.iter().filter_map(|i| match i {
        syn::TraitItem::Method(m) if m.default.is_none() => Some(&m.sig),
        _ => None,
    })
}

/// One function to write: its documentation and its signature, ready to print.
struct Stub {
    docs: Vec<String>,
    signature: String,
}

/// The names the generated code uses, and where each is imported from.
struct Plan<'a> {
    krate: &'a InterfaceCrate,
    sources: &'a Sources,
    /// The module of the interface trait: its `use` items say what its signatures name.
    module: Vec<String>,
    /// Name in scope -> absolute path (first segment a crate's name).
    imports: BTreeMap<String, Vec<String>>,
    /// The names of the types the plugin declares.
    declared: BTreeSet<String>,
    warnings: Vec<String>,
}

/// Names every Rust file has in scope.
const PRELUDE: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64", "Self", "Option", "Result", "String", "Vec", "Box", "Some",
    "None", "Ok", "Err", "Send", "Sync", "Sized", "Fn", "FnMut", "FnOnce", "std", "core", "alloc",
];

impl<'a> Plan<'a> {
    fn new(krate: &'a InterfaceCrate, sources: &'a Sources, interface: &Declared) -> Plan<'a> {
        Plan {
            krate,
            sources,
            module: interface.module.clone(),
            imports: BTreeMap::new(),
            declared: BTreeSet::new(),
            warnings: Vec::new(),
        }
    }

    /// The stubs of a trait's functions, importing every name their signatures use.
    fn functions(&mut self, item: &syn::ItemTrait) -> Vec<Stub> {
        let mut out = Vec::new();
        for trait_item in &item.items {
            let method = match trait_item {
                syn::TraitItem::Method(m) if m.default.is_none() => m,
                _ => continue,
            };
            let mut sig = method.sig.clone();
            let mut names = Names {
                plan: self,
                found: BTreeSet::new(),
            };
            names.visit_signature_mut(&mut sig);
            let found = std::mem::take(&mut names.found);
            for name in found {
                self.import(&name);
            }
            for input in sig.inputs.iter_mut() {
                if let syn::FnArg::Typed(typed) = input {
                    if let syn::Pat::Ident(pat) = &mut *typed.pat {
                        // Unused until the body is written: no warning meanwhile.
                        if !pat.ident.to_string().starts_with('_') {
                            pat.ident =
                                syn::Ident::new(&format!("_{}", pat.ident), pat.ident.span());
                        }
                        pat.mutability = None;
                    }
                }
            }
            out.push(Stub {
                docs: doc_lines(&method.attrs),
                signature: sig.to_token_stream().to_string(),
            });
        }
        out
    }

    /// Imports `name` as the interface trait's module sees it.
    fn import(&mut self, name: &str) {
        if PRELUDE.contains(&name) || self.imports.contains_key(name) {
            return;
        }
        let path = self.resolve(name);
        self.imports.insert(name.to_owned(), path);
    }

    /// Where `name`, as used in the interface trait's module, comes from: a `use` there, an
    /// item declared there, or a public item elsewhere in the crate.
    fn resolve(&mut self, name: &str) -> Vec<String> {
        let module = self.sources.modules.get(&self.module);
        if let Some(path) = module.and_then(|m| m.uses.get(name)) {
            return self.external(path);
        }
        if module.map_or(false, |m| m.declared.contains(name)) {
            return self.in_crate(&self.module.clone(), name);
        }
        if let Some(found) = self.sources.public.get(name) {
            return self.in_crate(&found.clone(), name);
        }
        // A crate the interface depends on (`abi_stable::std_types::RVec`): in scope by its
        // name once the plugin depends on it too.
        if self.krate.dependencies.contains_key(name) {
            return vec![name.to_owned()];
        }
        self.warnings.push(format!(
            "could not find where `{name}` is declared: src/lib.rs imports it from the \
             interface trait's module"
        ));
        self.in_crate(&self.module.clone(), name)
    }

    fn in_crate(&self, module: &[String], name: &str) -> Vec<String> {
        let mut path = vec![self.krate.lib_name.clone()];
        path.extend(module.iter().cloned());
        path.push(name.to_owned());
        path
    }

    /// A path from `source.rs` (`crate` first for the interface's own) as the plugin names it.
    fn external(&self, path: &[String]) -> Vec<String> {
        match path.split_first() {
            Some((first, rest)) if first == "crate" => {
                let mut out = vec![self.krate.lib_name.clone()];
                out.extend(rest.iter().cloned());
                out
            }
            _ => path.to_vec(),
        }
    }

    /// A name not yet in scope: `wanted`, or it with `suffix`.
    fn free_name(&mut self, wanted: &str, suffix: &str) -> String {
        let mut name = wanted.to_owned();
        while self.imports.contains_key(&name)
            || self.declared.contains(&name)
            || PRELUDE.contains(&name.as_str())
        {
            name.push_str(suffix);
        }
        self.declared.insert(name.clone());
        name
    }

    /// The crates other than the interface's that the imports name.
    fn external_roots(&self) -> BTreeSet<String> {
        self.imports
            .values()
            .filter_map(|p| p.first())
            .filter(|root| **root != self.krate.lib_name && !root.is_empty())
            .cloned()
            .collect()
    }

    /// The path to import `name` by (the interface crate's handle, say).
    fn path_of(&mut self, name: &str) -> String {
        self.import(name);
        self.imports
            .get(name)
            .map(|p| p.join("::"))
            .unwrap_or_else(|| name.to_owned())
    }

    /// `use` lines, one per module, sorted.
    fn import_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut by_module: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, path) in &self.imports {
            let (last, module) = match path.split_last() {
                Some(split) => split,
                None => continue,
            };
            let item = if last == name {
                name.clone()
            } else {
                format!("{last} as {name}")
            };
            if module.is_empty() {
                // A crate: in scope by its name, or imported under another
                // (`use abi_stable as stable;`).
                if last != name {
                    lines.push(format!("use {item};"));
                }
                continue;
            }
            by_module.entry(module.join("::")).or_default().push(item);
        }
        lines.extend(by_module.into_iter().map(|(module, mut items)| {
            items.sort();
            match items.as_slice() {
                [one] => format!("use {module}::{one};"),
                _ => format!("use {module}::{{{}}};", items.join(", ")),
            }
        }));
        lines.sort();
        lines
    }
}

/// Rewrites a signature's `crate::`, `self::` and `super::` paths to the interface crate's
/// name, and collects the first segment of every other relative path: the names to import.
struct Names<'p, 'a> {
    plan: &'p Plan<'a>,
    found: BTreeSet<String>,
}

impl VisitMut for Names<'_, '_> {
    fn visit_path_mut(&mut self, path: &mut syn::Path) {
        if path.leading_colon.is_none() {
            if let Some(first) = path.segments.first() {
                let first = first.ident.to_string();
                match first.as_str() {
                    "crate" | "self" | "super" => {
                        let written: Vec<String> =
                            path.segments.iter().map(|s| s.ident.to_string()).collect();
                        let absolute =
                            crate::source::absolute(&written, &self.plan.module, &BTreeSet::new());
                        let absolute = self.plan.external(&absolute);
                        let skip = written
                            .iter()
                            .take_while(|s| *s == "crate" || *s == "self" || *s == "super")
                            .count();
                        let kept: Vec<syn::PathSegment> =
                            path.segments.iter().skip(skip).cloned().collect();
                        let prefix = absolute.len().saturating_sub(kept.len());
                        let mut segments = syn::punctuated::Punctuated::new();
                        for part in &absolute[..prefix] {
                            segments.push(syn::PathSegment::from(syn::Ident::new(
                                part,
                                proc_macro2::Span::call_site(),
                            )));
                        }
                        for segment in kept {
                            segments.push(segment);
                        }
                        path.segments = segments;
                    }
                    _ => {
                        self.found.insert(first);
                    }
                }
            }
        }
        syn::visit_mut::visit_path_mut(self, path);
    }
}

/// `my-greeter` -> `MyGreeter`.
fn upper_camel(package: &str) -> String {
    package
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// A name cargo accepts for a package that builds a library.
fn check_package_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .map_or(false, |c| c.is_ascii_alphabetic());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a package name: letters, digits, `-` and `_`, starting with a \
             letter (name it with --name)"
        ))
    }
}

/// Creates `dir` (or takes it if it is empty), as an absolute path.
fn make_dir(dir: &Path) -> Result<PathBuf, String> {
    if dir.exists() {
        let empty = fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            return Err(format!(
                "{}: the directory exists and is not empty: choose a new one",
                dir.display()
            ));
        }
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    dir.canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// The dependencies every plugin has, as manifest lines: the interface crate, `xplug` and
/// `abi_stable` as the interface crate has them, and `xplug-loader` for the test.
struct Deps {
    interface: String,
    xplug: String,
    abi_stable: String,
    loader: String,
}

fn dependencies(krate: &InterfaceCrate, dir: &Path, xplug: Option<&Path>) -> Result<Deps, String> {
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
    let own = krate.dependencies.get("xplug").cloned();
    let (xplug_line, loader_line) = match (xplug, &own) {
        (Some(root), _) => {
            let interface_dir = checkout(root, "interface")?;
            let loader_dir = checkout(root, "loader")?;
            (
                format!(
                    "xplug = {{ path = {} }}",
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
            // The loader beside the interface crate's `xplug`, from the same place.
            let loader = match (&dep.path, &dep.git) {
                (Some(path), _) => {
                    let loader = path.parent().map(|p| p.join("loader"));
                    match loader.filter(|l| l.join("Cargo.toml").is_file()) {
                        Some(l) => format!(
                            "xplug-loader = {{ path = {}, version = {} }}",
                            toml_string(&relative(dir, &l)),
                            toml_string(&version(&dep.req))
                        ),
                        None => format!("xplug-loader = {}", toml_string(&version(&dep.req))),
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
    let abi_stable = match krate.dependencies.get("abi_stable") {
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

fn manifest(
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

struct LibSource<'a> {
    package: &'a str,
    interface_name: &'a str,
    krate: &'a InterfaceCrate,
    trait_name: &'a str,
    host: Option<&'a str>,
    imports: &'a [String],
    plugin_type: &'a str,
    functions: &'a [Stub],
    /// Object trait, the type that implements it, its methods.
    objects: &'a [(String, &'a str, &'a Vec<Stub>)],
}

fn lib_rs(s: &LibSource<'_>) -> String {
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
        interface = s.interface_name,
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

fn load_test(package: &str, interface: &str, handle: &str, handle_path: &str) -> String {
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
         \x20   assert_eq!(plugin.info().interface_name, \"{interface}\");\n\
         \x20   // Call it as a host does: each function returns `Result<_, CallError>`, and a\n\
         \x20   // `todo!()` not yet written is `Err` with the panic's message.\n\
         }}\n"
    )
}

fn readme(package: &str, interface: &str, krate: &InterfaceCrate) -> String {
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
fn rustfmt(files: &[PathBuf]) -> Result<(), String> {
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

    #[test]
    fn package_names_become_type_names() {
        assert_eq!(upper_camel("my-greeter"), "MyGreeter");
        assert_eq!(upper_camel("log_filter-2"), "LogFilter2");
        assert!(check_package_name("my-greeter").is_ok());
        assert!(check_package_name("2x").is_err());
        assert!(check_package_name("a b").is_err());
    }
}
