//! `xplug new plugin`: a plugin crate for any interface crate, written from its sources.
//!
//! The interface crate is read, not built (`source.rs`): its `#[xplug::interface]` trait, the
//! `#[xplug::object]` traits whose boxes the plugin returns, and where every name their
//! signatures use comes from. The plugin crate gets every function and method as `todo!()`
//! with its documentation, the export line, a manifest that builds a `cdylib` with unwinding
//! and the interface's own sources for `xplug` and `abi_stable`, and a test that loads the
//! built library as a host does.

mod files;
mod imports;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use quote::ToTokens;

use crate::source::{Declared, InterfaceCrate, Kind, Sources};
use files::{dependencies, lib_rs, load_test, manifest, readme, rustfmt, LibSource};
use imports::{Plan, Stub};

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
    let place = Place::new(request.dir)?;
    // Written beside it, then renamed into place: a failure leaves nothing behind.
    let written = write_crate(
        &krate,
        &sources,
        interface,
        &package,
        &place.dir,
        &place.staging,
        request.xplug,
    )
    .and_then(|created| place.commit().map(|()| created));
    if written.is_err() {
        let _ = fs::remove_dir_all(&place.staging);
    }
    written
}

/// Where a crate is written: `dir` (new, or empty), through a staging directory beside it.
struct Place {
    /// The crate's directory, absolute.
    dir: PathBuf,
    /// Whether `dir` is there already (empty).
    existed: bool,
    staging: PathBuf,
}

impl Place {
    fn new(dir: &Path) -> Result<Place, String> {
        let shown = |e: std::io::Error| format!("{}: {e}", dir.display());
        let existed = dir.exists();
        if existed && fs::read_dir(dir).map_err(shown)?.next().is_some() {
            return Err(format!(
                "{}: the directory exists and is not empty: choose a new one",
                dir.display()
            ));
        }
        let name = dir
            .file_name()
            .ok_or_else(|| format!("{}: not a directory name", dir.display()))?;
        let parent = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(shown)?;
        let parent = parent.canonicalize().map_err(shown)?;
        let mut staging_name = std::ffi::OsString::from(".");
        staging_name.push(name);
        staging_name.push(format!(".xplug-new-{}", std::process::id()));
        let staging = parent.join(staging_name);
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
        Ok(Place {
            dir: parent.join(name),
            existed,
            staging,
        })
    }

    /// Moves the written crate into place.
    fn commit(&self) -> Result<(), String> {
        let failed = |e: std::io::Error| format!("{}: {e}", self.dir.display());
        if self.existed {
            // Still empty: only then does it go.
            fs::remove_dir(&self.dir).map_err(failed)?;
        }
        fs::rename(&self.staging, &self.dir).map_err(failed)
    }
}

/// Writes the plugin crate `package` for `interface`, to be found at `dir`, into `into`.
fn write_crate(
    krate: &InterfaceCrate,
    sources: &Sources,
    interface: &Declared,
    package: &str,
    dir: &Path,
    into: &Path,
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
    let functions = plan.functions(interface);
    let methods: Vec<(&Declared, Vec<Stub>)> = objects
        .iter()
        .map(|object| (*object, plan.functions(object)))
        .collect();
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
    let handle_path = plan.path_beside(interface, &handle);
    let manifest = manifest(package, krate, dir, &deps, &extra_deps);
    let test = load_test(package, &interface_name, &handle, &handle_path);
    let readme = readme(package, &interface_name, krate);

    let write = |relative: &str, text: &str| -> Result<(), String> {
        let path = into.join(relative);
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
    if let Err(why) = rustfmt(&[into.join("src/lib.rs"), into.join("tests/load.rs")]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_become_type_names() {
        assert_eq!(upper_camel("my-greeter"), "MyGreeter");
        assert_eq!(upper_camel("log_filter-2"), "LogFilter2");
        assert!(check_package_name("my-greeter").is_ok());
        assert!(check_package_name("2x").is_err());
        assert!(check_package_name("a b").is_err());
    }
}
