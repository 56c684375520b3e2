//! The names a generated plugin uses, and where it imports each from: a signature's names
//! are looked up as the module of the trait that declares it sees them.

use std::collections::{BTreeMap, BTreeSet};

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::visit_mut::VisitMut;

use crate::source::{doc_lines, Declared, InterfaceCrate, Sources};

/// One function to write: its documentation and its signature, ready to print.
pub(super) struct Stub {
    pub(super) docs: Vec<String>,
    pub(super) signature: String,
}

/// The names the generated code uses, and where each is imported from.
pub(super) struct Plan<'a> {
    krate: &'a InterfaceCrate,
    sources: &'a Sources,
    /// The module of the trait whose signatures are read: its `use` items say what they name.
    module: Vec<String>,
    /// Name in scope -> absolute path (first segment a crate's name).
    imports: BTreeMap<String, Vec<String>>,
    /// Glob imports the names not found otherwise may come from.
    globs: BTreeSet<Vec<String>>,
    /// The names of the types the plugin declares.
    declared: BTreeSet<String>,
    pub(super) warnings: Vec<String>,
}

/// Names every Rust file has in scope.
const PRELUDE: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64", "Self", "Option", "Result", "String", "Vec", "Box", "Some",
    "None", "Ok", "Err", "Send", "Sync", "Sized", "Fn", "FnMut", "FnOnce", "std", "core", "alloc",
];

impl<'a> Plan<'a> {
    pub(super) fn new(
        krate: &'a InterfaceCrate,
        sources: &'a Sources,
        interface: &Declared,
    ) -> Plan<'a> {
        Plan {
            krate,
            sources,
            module: interface.module.clone(),
            imports: BTreeMap::new(),
            globs: BTreeSet::new(),
            declared: BTreeSet::new(),
            warnings: Vec::new(),
        }
    }

    /// The stubs of a trait's functions, importing every name their signatures use (and the
    /// trait itself).
    pub(super) fn functions(&mut self, declared: &Declared) -> Vec<Stub> {
        self.module = declared.module.clone();
        let name = declared.item.ident.to_string();
        let path = self.in_crate(&declared.module, &name);
        self.imports.entry(name).or_insert(path);
        let mut out = Vec::new();
        for trait_item in &declared.item.items {
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
                        // Unused until the body is written: no warning meanwhile. (`r#type`
                        // becomes `_type`.)
                        let plain = pat.ident.unraw().to_string();
                        if !plain.starts_with('_') {
                            pat.ident = syn::Ident::new(&format!("_{plain}"), pat.ident.span());
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
    pub(super) fn import(&mut self, name: &str) {
        if PRELUDE.contains(&name) || self.imports.contains_key(name) {
            return;
        }
        let path = self.resolve(name);
        self.imports.insert(name.to_owned(), path);
    }

    /// Where `name`, as used in the trait's module, comes from: a `use` there, an item
    /// declared there, a public item elsewhere in the crate, a crate, or a glob import there.
    /// An item of a module the plugin cannot reach (a private one) is taken from where the
    /// crate re-exports it.
    fn resolve(&mut self, name: &str) -> Vec<String> {
        let sources = self.sources;
        let module = sources.modules.get(&self.module);
        let public = || {
            sources
                .public
                .get(name)
                .map(|found| self.in_crate(found, name))
        };
        if let Some(path) = module.and_then(|m| m.uses.get(name)) {
            let reachable = match path.split_first() {
                Some((first, rest)) if first == "crate" => rest
                    .split_last()
                    .map_or(true, |(_, modules)| sources.reachable.contains(modules)),
                _ => true,
            };
            return match (reachable, public()) {
                (false, Some(public)) => public,
                _ => self.external(path),
            };
        }
        if module.map_or(false, |m| m.declared.contains(name)) {
            if sources.reachable.contains(&self.module) {
                return self.in_crate(&self.module, name);
            }
            if let Some(public) = public() {
                return public;
            }
        }
        if let Some(public) = public() {
            return public;
        }
        // A crate the interface depends on (`abi_stable::std_types::RVec`): in scope by its
        // name once the plugin depends on it too.
        if self.krate.dependencies.contains_key(name) {
            return vec![name.to_owned()];
        }
        let globs = module.map(|m| m.globs.clone()).unwrap_or_default();
        if !globs.is_empty() {
            for glob in globs {
                let glob = self.external(&glob);
                self.globs.insert(glob);
            }
            return Vec::new();
        }
        self.warnings.push(format!(
            "could not find where `{name}` is declared: src/lib.rs imports it from the \
             module of the trait that names it"
        ));
        self.in_crate(&self.module, name)
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
    pub(super) fn free_name(&mut self, wanted: &str, suffix: &str) -> String {
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
    pub(super) fn external_roots(&self) -> BTreeSet<String> {
        self.imports
            .values()
            .filter_map(|p| p.first())
            .filter(|root| **root != self.krate.lib_name && !root.is_empty())
            .cloned()
            .collect()
    }

    /// The path of `name`, declared beside the trait `declared` (its handle, say).
    pub(super) fn path_beside(&self, declared: &Declared, name: &str) -> String {
        self.in_crate(&declared.module, name).join("::")
    }

    /// `use` lines, one per module, sorted.
    pub(super) fn import_lines(&self) -> Vec<String> {
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
        lines.extend(
            self.globs
                .iter()
                .map(|glob| format!("use {}::*;", glob.join("::"))),
        );
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
                            segments.push(syn::PathSegment::from(ident(part)));
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

/// The identifier `text` names (`r#type` a raw one).
fn ident(text: &str) -> syn::Ident {
    let span = proc_macro2::Span::call_site();
    match text.strip_prefix("r#") {
        Some(raw) => syn::Ident::new_raw(raw, span),
        None => syn::Ident::new(text, span),
    }
}
