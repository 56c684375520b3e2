//! Layout descriptions: an interface's type layouts as text (`xplug abi-dump` writes them from
//! the interface crate, no plugin build needed), read back and compared with another
//! description or with a plugin file's layout. Interface authors commit the description of
//! each released version and check every new version against it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use semver::Version;
use serde_json::Value;
use xplug::__private::describe::{object_trait, DESCRIPTION_FORMAT, MAX_TYPES};

use super::change::Change;
use crate::error::LayoutDifference;

/// The largest description file read (a description of the largest interface is a few MB).
pub const MAX_DESCRIPTION_BYTES: u64 = 64 << 20;

/// An interface's layout, as `xplug abi-dump` describes it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Description {
    /// The interface name.
    pub interface: String,
    /// The interface version.
    pub version: Version,
    /// The release of xplug the interface was built with.
    pub xplug: String,
    /// The xplug ABI it speaks.
    pub xplug_abi: u16,
    /// The object trait of its host services, if it has any.
    pub host: Option<String>,
    types: Vec<Type>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Type {
    name: String,
    written: String,
    package: String,
    version: String,
    first_version_fields: Option<u64>,
    size: u64,
    align: u64,
    repr: String,
    kind: String,
    fields: Vec<Field>,
    phantom: Vec<Field>,
    type_params: Vec<usize>,
    lifetimes: u64,
    consts: String,
    variants: Vec<String>,
    variant_fields: Vec<u64>,
    discriminants: String,
    exhaustive: bool,
    extra_checks: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Field {
    name: String,
    ty: usize,
    lifetimes: String,
    functions: Vec<Function>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Function {
    written: String,
    param_names: String,
    params: Vec<usize>,
    returns: Option<usize>,
    lifetimes: String,
    is_unsafe: bool,
}

/// Why a description cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
#[non_exhaustive]
pub struct DescriptionError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl Description {
    /// Reads a description file (at most [`MAX_DESCRIPTION_BYTES`]).
    pub fn read(path: &Path) -> Result<Description, DescriptionError> {
        let error = |reason: String| DescriptionError {
            path: path.to_owned(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
        let mut text = String::new();
        use std::io::Read;
        file.take(MAX_DESCRIPTION_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| error(e.to_string()))?;
        if text.len() as u64 > MAX_DESCRIPTION_BYTES {
            return Err(error(format!(
                "larger than {MAX_DESCRIPTION_BYTES} bytes: not a layout description"
            )));
        }
        Description::parse(&text).map_err(error)
    }

    /// Parses a description from its text.
    pub fn parse(text: &str) -> Result<Description, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not a layout description: {e}"))?;
        match value.get("xplug_abi_dump").and_then(Value::as_u64) {
            Some(format) if format == u64::from(DESCRIPTION_FORMAT) => {}
            Some(format) => {
                return Err(format!(
                    "a layout description of format {format}; this xplug reads format \
                     {DESCRIPTION_FORMAT}"
                ))
            }
            None => {
                return Err(String::from(
                    "not a layout description (no `xplug_abi_dump`)",
                ))
            }
        }
        let text_of =
            |key: &str| bounded(value.get(key), key)?.ok_or_else(|| format!("`{key}` is missing"));
        let version = text_of("version")?;
        let version = Version::parse(&version).map_err(|e| format!("version `{version}`: {e}"))?;
        let xplug_abi = value
            .get("xplug_abi")
            .and_then(Value::as_u64)
            .and_then(|abi| u16::try_from(abi).ok())
            .ok_or("`xplug_abi` is missing")?;
        let types = value
            .get("types")
            .and_then(Value::as_array)
            .ok_or("`types` is missing")?;
        if types.is_empty() || types.len() > MAX_TYPES {
            return Err(format!("{} types: 1 to {MAX_TYPES} expected", types.len()));
        }
        let types = types
            .iter()
            .enumerate()
            .map(|(i, t)| parse_type(t, types.len()).map_err(|e| format!("type {i}: {e}")))
            .collect::<Result<Vec<Type>, String>>()?;
        Ok(Description {
            interface: text_of("interface")?,
            version,
            xplug: text_of("xplug")?,
            xplug_abi,
            host: bounded(value.get("host"), "host")?,
            types,
        })
    }

    /// The description of a root-module layout (a plugin file's, or an interface's).
    pub(crate) fn of_layout(
        root: &'static abi_stable::type_layout::TypeLayout,
        interface: &str,
        version: &Version,
    ) -> Result<Description, String> {
        let text = xplug::__private::describe::describe(root, interface, &version.to_string())?;
        Description::parse(&text)
    }
}

/// The longest text a description holds in one place (a name, a written signature): longer
/// ones are refused, so that comparing two descriptions copies little.
const MAX_TEXT: usize = 4096;

/// The text of `v`, at most [`MAX_TEXT`] bytes; `what` names it in the error.
fn bounded(v: Option<&Value>, what: &str) -> Result<Option<String>, String> {
    bounded_to(v, what, MAX_TEXT)
}

/// The text of `v`, at most `limit` bytes.
fn bounded_to(v: Option<&Value>, what: &str, limit: usize) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= limit => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("`{what}` is longer than {limit} bytes")),
        Some(_) => Err(format!("`{what}` is not text")),
    }
}

fn parse_type(t: &Value, count: usize) -> Result<Type, String> {
    let text = |key: &str| bounded(t.get(key), key)?.ok_or_else(|| format!("`{key}` is missing"));
    let optional_text = |key: &str| bounded(t.get(key), key).map(Option::unwrap_or_default);
    let number = |key: &str| {
        t.get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("`{key}` is missing"))
    };
    let id = |v: &Value| match v.as_u64().and_then(|id| usize::try_from(id).ok()) {
        Some(id) if id < count => Ok(id),
        _ => Err(format!("{v} is not a type of this description")),
    };
    let ids = |v: Option<&Value>| -> Result<Vec<usize>, String> {
        match v {
            None => Ok(Vec::new()),
            Some(v) => v
                .as_array()
                .ok_or("a list expected")?
                .iter()
                .map(id)
                .collect(),
        }
    };
    let fields = |key: &str| -> Result<Vec<Field>, String> {
        let list = match t.get(key) {
            None => return Ok(Vec::new()),
            Some(list) => list.as_array().ok_or("a list of fields expected")?,
        };
        list.iter()
            .map(|f| {
                let functions = match f.get("functions") {
                    None => Vec::new(),
                    Some(list) => list
                        .as_array()
                        .ok_or("a list of functions expected")?
                        .iter()
                        .map(|f| {
                            Ok(Function {
                                written: bounded(f.get("written"), "written")?.unwrap_or_default(),
                                param_names: bounded(f.get("param_names"), "param_names")?
                                    .unwrap_or_default(),
                                lifetimes: bounded(f.get("lifetimes"), "lifetimes")?
                                    .unwrap_or_default(),
                                is_unsafe: f
                                    .get("unsafe")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                                params: ids(f.get("params"))?,
                                returns: match f.get("returns") {
                                    None | Some(Value::Null) => None,
                                    Some(r) => Some(id(r)?),
                                },
                            })
                        })
                        .collect::<Result<Vec<Function>, String>>()?,
                };
                Ok(Field {
                    name: bounded(f.get("name"), "name")?.ok_or("a field without a name")?,
                    ty: id(f.get("type").ok_or("a field without a type")?)?,
                    lifetimes: bounded(f.get("lifetimes"), "lifetimes")?.unwrap_or_default(),
                    functions,
                })
            })
            .collect()
    };
    let strings = |key: &str| -> Result<Vec<String>, String> {
        match t.get(key).and_then(Value::as_array) {
            None => Ok(Vec::new()),
            Some(list) => list
                .iter()
                .map(|v| bounded(Some(v), key).map(Option::unwrap_or_default))
                .collect(),
        }
    };
    Ok(Type {
        name: text("name")?,
        written: text("written")?,
        package: text("package")?,
        version: text("version")?,
        first_version_fields: t.get("first_version_fields").and_then(Value::as_u64),
        size: number("size")?,
        align: number("align")?,
        repr: text("repr")?,
        kind: text("kind")?,
        fields: fields("fields")?,
        phantom: fields("phantom")?,
        type_params: ids(t.get("type_params"))?,
        lifetimes: t.get("lifetimes").and_then(Value::as_u64).unwrap_or(0),
        consts: optional_text("consts")?,
        variants: strings("variants")?,
        variant_fields: t
            .get("variant_fields")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default(),
        // One value per variant, or a trait object's bounds: longer than a name may be.
        discriminants: bounded_to(t.get("discriminants"), "discriminants", 16 * MAX_TEXT)?
            .unwrap_or_default(),
        exhaustive: t.get("exhaustive").and_then(Value::as_bool).unwrap_or(true),
        extra_checks: bounded_to(t.get("extra_checks"), "extra_checks", 16 * MAX_TEXT)?,
    })
}

/// How `new` relates to `old`, two descriptions of one interface and one xplug ABI (which
/// [`compare`](super::compare) checks first): functions, object methods and host services
/// appended after the old ones (a minor change), or every difference (breaking); and, apart,
/// the entries appended to xplug's own tables.
pub(crate) fn compare_descriptions(old: &Description, new: &Description) -> (Change, Vec<String>) {
    let mut walk = Walk {
        old: &old.types,
        new: &new.types,
        seen: HashSet::new(),
        appended: Vec::new(),
        xplug_appended: Vec::new(),
        differences: Vec::new(),
        reported: HashSet::new(),
    };
    walk.run();
    let change = if !walk.differences.is_empty() {
        Change::Breaking {
            differences: walk.differences,
        }
    } else if walk.appended.is_empty() {
        Change::NoChange
    } else {
        Change::Minor {
            appended: walk.appended,
        }
    };
    (change, walk.xplug_appended)
}

/// The most type pairs one comparison visits, and the most differences it reports: a
/// description of the largest interface stays far below both; a hostile one stops there.
const MAX_STEPS: usize = 1_000_000;
const MAX_DIFFERENCES: usize = 100;
/// The longest path written into a report; a longer one is cut.
const MAX_PATH: usize = 300;

/// The pairwise walk of two type trees from their roots.
struct Walk<'a> {
    old: &'a [Type],
    new: &'a [Type],
    seen: HashSet<(usize, usize)>,
    appended: Vec<String>,
    xplug_appended: Vec<String>,
    differences: Vec<LayoutDifference>,
    reported: HashSet<LayoutDifference>,
}

impl Walk<'_> {
    fn run(&mut self) {
        // (old type, new type, the path to them); explicit, so that no depth overflows. Each
        // type's children are pushed in reverse, so that they are compared in order.
        let mut stack = vec![(0, 0, String::new())];
        // Each pair compared, and each child pushed, costs a step.
        let mut steps = 0;
        while let Some((o, n, at)) = stack.pop() {
            steps += 1;
            if !self.seen.insert((o, n)) {
                continue;
            }
            let mut children = Vec::new();
            self.pair(o, n, at, &mut children);
            children.retain(|(o, n, _)| !self.seen.contains(&(*o, *n)));
            steps += children.len();
            if steps > MAX_STEPS || self.differences.len() >= MAX_DIFFERENCES {
                self.too_much();
                return;
            }
            stack.extend(children.into_iter().rev());
        }
    }

    /// The last difference when a comparison stops at its bounds.
    fn too_much(&mut self) {
        self.differences.push(LayoutDifference {
            at: String::from("(the layouts)"),
            what: String::from("too many types or differences to compare"),
            expected: format!("at most {MAX_STEPS} types and {MAX_DIFFERENCES} differences"),
            found: String::from("more"),
        });
    }

    fn differ(&mut self, at: &str, what: &str, expected: String, found: String) {
        if self.differences.len() >= MAX_DIFFERENCES {
            return;
        }
        let difference = LayoutDifference {
            at: at.to_owned(),
            what: what.to_owned(),
            expected,
            found,
        };
        if self.reported.insert(difference.clone()) {
            self.differences.push(difference);
        }
    }

    /// Something appended, once (a hostile description may reach one table many times).
    fn appended(&mut self, name: String, xplug: bool) {
        let list = if xplug {
            &mut self.xplug_appended
        } else {
            &mut self.appended
        };
        if list.len() < MAX_DIFFERENCES * 100 && !list.contains(&name) {
            list.push(name);
        }
    }

    fn pair(&mut self, o: usize, n: usize, at: String, children: &mut Vec<(usize, usize, String)>) {
        let (old, new) = (self.old, self.new);
        let (a, b) = (&old[o], &new[n]);
        let mut at = if a.kind == "prefix" {
            table_name(a)
        } else if at.is_empty() {
            a.name.clone()
        } else {
            at
        };
        if at.len() > MAX_PATH {
            let mut cut = MAX_PATH;
            while !at.is_char_boundary(cut) {
                cut -= 1;
            }
            at.truncate(cut);
            at.push_str("..");
        }
        if a.name != b.name || a.package != b.package {
            return self.differ(&at, "type differs", a.written.clone(), b.written.clone());
        }
        if a.kind != b.kind {
            return self.differ(&at, "kind of type differs", a.kind.clone(), b.kind.clone());
        }
        if a.repr != b.repr {
            self.differ(&at, "`#[repr]` differs", a.repr.clone(), b.repr.clone());
        }
        // A prefix type's size grows with its appended fields; its alignment does not.
        if (a.kind != "prefix" && a.size != b.size) || a.align != b.align {
            self.differ(
                &at,
                "size differs",
                format!("{} bytes, aligned to {}", a.size, a.align),
                format!("{} bytes, aligned to {}", b.size, b.align),
            );
        }
        if a.extra_checks != b.extra_checks {
            self.differ(
                &at,
                "trait bounds differ",
                a.extra_checks
                    .clone()
                    .unwrap_or_else(|| String::from("none")),
                b.extra_checks
                    .clone()
                    .unwrap_or_else(|| String::from("none")),
            );
        }
        if a.type_params.len() != b.type_params.len()
            || a.lifetimes != b.lifetimes
            || a.consts != b.consts
        {
            return self.differ(&at, "type differs", a.written.clone(), b.written.clone());
        }
        for (&x, &y) in a.type_params.iter().zip(&b.type_params) {
            children.push((x, y, format!("{at}<{}>", old[x].written)));
        }
        if a.package != "xplug" && !loosely_compatible(&a.version, &b.version) {
            self.differ(
                &at,
                "incompatible crate versions",
                format!("{} {}", a.package, a.version),
                format!("{} {}", b.package, b.version),
            );
        }
        if a.first_version_fields != b.first_version_fields {
            let fields = |n: Option<u64>| match n {
                Some(n) => format!("{n} entries before the first appended one"),
                None => String::from("none"),
            };
            self.differ(
                &at,
                "first version differs (entries added without `#[xplug(since)]`?)",
                fields(a.first_version_fields),
                fields(b.first_version_fields),
            );
        }
        if a.kind == "enum" {
            // Hosts check both ways: a variant more, even of a non-exhaustive enum, is refused.
            if a.variants != b.variants {
                return self.differ(
                    &at,
                    "variants differ",
                    a.variants.join(", "),
                    b.variants.join(", "),
                );
            }
            if a.variant_fields != b.variant_fields {
                let counts = |t: &Type| {
                    let counts: Vec<String> =
                        t.variant_fields.iter().map(|n| n.to_string()).collect();
                    format!("{} fields per variant", counts.join("/"))
                };
                return self.differ(&at, "variants' fields differ", counts(a), counts(b));
            }
            if a.exhaustive != b.exhaustive {
                let word = |e: bool| String::from(if e { "exhaustive" } else { "non-exhaustive" });
                return self.differ(
                    &at,
                    "exhaustiveness differs",
                    word(a.exhaustive),
                    word(b.exhaustive),
                );
            }
            if a.discriminants != b.discriminants {
                self.differ(
                    &at,
                    "discriminants differ",
                    a.discriminants.clone(),
                    b.discriminants.clone(),
                );
            }
        }
        self.fields(&at, a, b, children);
    }

    fn fields(&mut self, at: &str, a: &Type, b: &Type, children: &mut Vec<(usize, usize, String)>) {
        let (old, new) = (self.old, self.new);
        let names = |fields: &[Field]| fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        if names(&a.phantom) != names(&b.phantom) {
            return self.differ(
                at,
                "phantom fields differ",
                names(&a.phantom).join(", "),
                names(&b.phantom).join(", "),
            );
        }
        for (x, y) in a.phantom.iter().zip(&b.phantom) {
            children.push((x.ty, y.ty, at.to_owned()));
        }
        let prefix = a.kind == "prefix";
        let common = a.fields.len().min(b.fields.len());
        for i in 0..common {
            let (x, y) = (&a.fields[i], &b.fields[i]);
            if x.name != y.name {
                let next = |fields: &[Field]| fields.get(i + 1).map(|f| f.name.clone());
                if prefix && next(&a.fields).as_deref() == Some(y.name.as_str()) {
                    self.differ(
                        at,
                        &format!("{} removed", entry_kind(a)),
                        format!("{} `{}`", entry_kind(a), x.name),
                        format!("none: `{}` comes next", y.name),
                    );
                } else if prefix && next(&b.fields).as_deref() == Some(x.name.as_str()) {
                    self.differ(
                        at,
                        &format!("{} inserted", entry_kind(a)),
                        format!("none: `{}` comes next", x.name),
                        format!("{} `{}`", entry_kind(a), y.name),
                    );
                } else {
                    self.differ(
                        at,
                        "field differs",
                        format!("`{}`", x.name),
                        format!("`{}`", y.name),
                    );
                }
                // The fields after it are shifted: comparing them says nothing more.
                return;
            }
            let place = format!("{at}.{}", x.name);
            if x.lifetimes != y.lifetimes {
                self.differ(
                    &place,
                    "lifetimes differ",
                    old[x.ty].written.clone(),
                    new[y.ty].written.clone(),
                );
                continue;
            }
            if x.functions.len() != y.functions.len() {
                self.differ(
                    &place,
                    "type differs",
                    old[x.ty].written.clone(),
                    new[y.ty].written.clone(),
                );
                continue;
            }
            // The field's own type, whether or not it holds functions (an `Option` of one).
            children.push((x.ty, y.ty, place.clone()));
            for (f, g) in x.functions.iter().zip(&y.functions) {
                // Decided by the types themselves; the written signatures (which a later
                // release may write better) only show it.
                let same_type = |p: usize, q: usize| {
                    (&old[p].name, &old[p].package) == (&new[q].name, &new[q].package)
                };
                let returns_match = match (f.returns, g.returns) {
                    (Some(r), Some(s)) => same_type(r, s),
                    (None, None) => true,
                    _ => false,
                };
                if f.params.len() != g.params.len()
                    || !returns_match
                    || f.params
                        .iter()
                        .zip(&g.params)
                        .any(|(&p, &q)| !same_type(p, q))
                {
                    self.differ(
                        &place,
                        "function signature differs",
                        f.written.clone(),
                        g.written.clone(),
                    );
                    continue;
                }
                if f.lifetimes != g.lifetimes || f.is_unsafe != g.is_unsafe {
                    let unsafety = |f: &Function| {
                        format!("{}{}", if f.is_unsafe { "unsafe " } else { "" }, f.written)
                    };
                    self.differ(
                        &place,
                        "lifetimes or `unsafe` differ",
                        unsafety(f),
                        unsafety(g),
                    );
                    continue;
                }
                if f.param_names != g.param_names {
                    // abi_stable records the names of a function pointer's parameters.
                    let names = |s: &str| {
                        let names: Vec<&str> = s.split(',').filter(|n| !n.is_empty()).collect();
                        names.join(", ")
                    };
                    self.differ(
                        &place,
                        "parameter names differ",
                        names(&f.param_names),
                        names(&g.param_names),
                    );
                    continue;
                }
                for (&p, &q) in f.params.iter().zip(&g.params) {
                    children.push((p, q, format!("{place}({})", old[p].written)));
                }
                if let (Some(r), Some(s)) = (f.returns, g.returns) {
                    children.push((r, s, format!("{place} -> {}", old[r].written)));
                }
            }
        }
        if a.fields.len() > b.fields.len() && prefix && a.package == "xplug" {
            // xplug's own tables may be shorter on either side, whatever the interface's
            // versions: the old build's xplug was the later release.
            for x in &a.fields[common..] {
                self.appended(format!("{}.{} (in the old build)", a.name, x.name), true);
            }
        } else if a.fields.len() > b.fields.len() {
            for x in &a.fields[common..] {
                self.differ(
                    at,
                    &format!("{} removed", entry_kind(a)),
                    format!("{} `{}`", entry_kind(a), x.name),
                    String::from("none"),
                );
            }
        } else if b.fields.len() > a.fields.len() {
            if !prefix {
                for y in &b.fields[common..] {
                    self.differ(
                        at,
                        "field added",
                        String::from("none"),
                        format!("`{}`", y.name),
                    );
                }
                return;
            }
            for y in &b.fields[common..] {
                self.append(b, y);
            }
        }
    }

    /// `field`, appended to the prefix type `table` of the new side: a function, an object
    /// method or host service, one of xplug's own entries, or a page of functions.
    fn append(&mut self, table: &Type, field: &Field) {
        let new = self.new;
        if field.name.starts_with("xplug_page") {
            // The page's functions: a `PrefixRef` whose phantom field is the page.
            let page = new[field.ty].phantom.first().map(|p| &new[p.ty]);
            if let Some(page) = page {
                for f in &page.fields {
                    self.appended(f.name.clone(), false);
                }
            }
            return;
        }
        if table.package == "xplug" {
            self.appended(format!("{}.{}", table.name, field.name), true);
        } else if let Some(object) = object_table(table) {
            self.appended(format!("{object}.{}", field.name), false);
        } else {
            self.appended(field.name.clone(), false);
        }
    }
}

/// How a prefix type is named in paths: an object's method table by its trait (`Counter`),
/// any other by its name (`GreeterModule`).
fn table_name(t: &Type) -> String {
    object_table(t).unwrap_or(&t.name).to_owned()
}

/// The `#[xplug::object]` trait whose method table `t` is, if it is one.
fn object_table(t: &Type) -> Option<&str> {
    if t.kind != "prefix" {
        return None;
    }
    object_trait(&t.name, t.fields.first().map(|f| f.name.as_str()))
}

/// What a prefix type's fields are, for reports.
fn entry_kind(t: &Type) -> &'static str {
    if t.kind != "prefix" {
        "field"
    } else if t.package == "xplug" {
        "entry"
    } else if object_table(t).is_some() {
        "method"
    } else {
        "function"
    }
}

/// abi_stable's rule for a crate's versions: the same major version, or the same minor one
/// under 0.x. Versions that do not parse are compared as text.
fn loosely_compatible(a: &str, b: &str) -> bool {
    let parse = |v: &str| {
        let mut parts = v.split(['.', '-', '+']);
        let major = parts.next()?.parse::<u64>().ok()?;
        let minor = parts.next()?.parse::<u64>().ok()?;
        Some((major, minor))
    };
    match (parse(a), parse(b)) {
        (Some((0, a_minor)), Some((0, b_minor))) => a_minor == b_minor,
        (Some((a_major, _)), Some((b_major, _))) => a_major == b_major,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_stable::StableAbi;

    fn greeter() -> Description {
        Description::of_layout(
            greeter_interface::GreeterRef::LAYOUT,
            "greeter",
            &Version::new(1, 1, 0),
        )
        .expect("the demo interface is described")
    }

    /// The type named `name` in `d`.
    fn type_named<'a>(d: &'a mut Description, name: &str) -> &'a mut Type {
        d.types
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no type `{name}`"))
    }

    #[test]
    fn a_description_reads_back_and_equals_itself() {
        let text = xplug::__private::describe::describe(
            greeter_interface::GreeterRef::LAYOUT,
            "greeter",
            "1.1.0",
        )
        .unwrap();
        let d = Description::parse(&text).unwrap();
        assert_eq!(d.interface, "greeter");
        assert_eq!(d.host.as_deref(), Some("GreeterHost"));
        assert_eq!(d.xplug_abi, xplug::__private::ABI_VERSION);
        assert_eq!(
            compare_descriptions(&d, &greeter()),
            (Change::NoChange, Vec::new())
        );
    }

    #[test]
    fn entries_appended_to_xplug_tables_objects_and_the_module_are_named() {
        let old = greeter();
        let mut new = greeter();
        let u64_type = new.types.iter().position(|t| t.name == "u64").unwrap();
        for table in ["PluginEntries", "CounterVTable", "GreeterModule"] {
            type_named(&mut new, table).fields.push(Field {
                name: String::from("later"),
                ty: u64_type,
                lifetimes: String::new(),
                functions: Vec::new(),
            });
        }
        // xplug's own entries are apart: not the interface's change.
        let (change, xplug_appended) = compare_descriptions(&old, &new);
        assert_eq!(
            change,
            Change::Minor {
                appended: vec![String::from("later"), String::from("Counter.later")]
            }
        );
        assert_eq!(xplug_appended, ["PluginEntries.later"]);
        // The other way round, the interface's are removed (breaking); xplug's own table was
        // the old build's later release, listed apart.
        let (change, xplug_appended) = compare_descriptions(&new, &old);
        let differences = match change {
            Change::Breaking { differences } => differences,
            other => panic!("{other:?}"),
        };
        let whats: Vec<&str> = differences.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(
            whats,
            ["function removed", "method removed"],
            "{differences:?}"
        );
        assert_eq!(xplug_appended, ["PluginEntries.later (in the old build)"]);
    }

    #[test]
    fn a_changed_object_method_reads_as_its_trait_writes_it() {
        let old = greeter();
        let mut new = greeter();
        fn skip(d: &mut Description) -> &mut Function {
            let counter = type_named(d, "CounterVTable");
            let skip = counter.fields.iter_mut().find(|f| f.name == "skip");
            &mut skip.unwrap().functions[0]
        }
        // Only how it is written: a later release may write signatures better.
        skip(&mut new).written = String::from("fn(&mut self, steps: u64) -> u64");
        assert_eq!(compare_descriptions(&old, &new).0, Change::NoChange);
        // Its parameter's type.
        let u32_type = new.types.iter().position(|t| t.name == "u32").unwrap();
        let last = skip(&mut new).params.len() - 1;
        skip(&mut new).params[last] = u32_type;
        skip(&mut new).written = String::from("fn(&mut self, u32) -> u64");
        match compare_descriptions(&old, &new).0 {
            Change::Breaking { differences } => assert_eq!(
                differences[0].to_string(),
                "function signature differs at `Counter.skip`: expected fn(&mut self, u64) -> \
                 u64, found fn(&mut self, u32) -> u64"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// The first difference `edit` makes to the demo interface's description.
    fn difference_made_by(edit: impl FnOnce(&mut Description)) -> LayoutDifference {
        let old = greeter();
        let mut new = greeter();
        edit(&mut new);
        match compare_descriptions(&old, &new).0 {
            Change::Breaking { differences } => differences[0].clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_the_load_check_refuses_a_description_calls_breaking() {
        // A function added to the first version (without `since`).
        let d = difference_made_by(|d| {
            type_named(d, "GreeterModule").first_version_fields = Some(12);
        });
        assert!(d.what.starts_with("first version differs"), "{d:?}");
        // A renamed parameter: abi_stable records parameter names.
        let d = difference_made_by(|d| {
            let module = type_named(d, "GreeterModule");
            let add = module.fields.iter_mut().find(|f| f.name == "add").unwrap();
            add.functions[0].param_names = String::from("x;b;");
        });
        assert_eq!(
            (d.at.as_str(), d.what.as_str()),
            ("GreeterModule.add", "parameter names differ")
        );
        // A dependency's new major version.
        let d = difference_made_by(|d| {
            type_named(d, "RString").version = String::from("0.12.0");
        });
        assert_eq!(d.what, "incompatible crate versions");
        assert_eq!(
            (d.expected.as_str(), d.found.as_str()),
            ("abi_stable 0.11.3", "abi_stable 0.12.0")
        );
        // An enum's variants, and their fields.
        let d = difference_made_by(|d| {
            let option = d.types.iter_mut().find(|t| t.kind == "enum").unwrap();
            option.variants.push(String::from("Later"));
        });
        assert_eq!(d.what, "variants differ");
    }

    /// A description of a root struct with `n` fields, each of its own type of `size` bytes.
    fn wide(n: usize, size: u64) -> Description {
        let field = |i: usize| format!("{{\"name\": \"f{i}\", \"type\": {}}}", i + 1);
        let fields: Vec<String> = (0..n).map(field).collect();
        let mut types = vec![format!(
            "{{\"name\": \"Root\", \"written\": \"Root\", \"package\": \"p\", \
             \"version\": \"1.0.0\", \"size\": 8, \"align\": 8, \"repr\": \"C\", \
             \"kind\": \"struct\", \"fields\": [{}]}}",
            fields.join(", ")
        )];
        for i in 0..n {
            types.push(format!(
                "{{\"name\": \"T{i}\", \"written\": \"T{i}\", \"package\": \"p\", \
                 \"version\": \"1.0.0\", \"size\": {size}, \"align\": 1, \"repr\": \"C\", \
                 \"kind\": \"opaque\"}}"
            ));
        }
        Description::parse(&format!(
            "{{\"xplug_abi_dump\": 1, \"interface\": \"w\", \"version\": \"1.0.0\", \
             \"xplug\": \"0.1.0\", \"xplug_abi\": 1, \"types\": [{}]}}",
            types.join(", ")
        ))
        .unwrap()
    }

    #[test]
    fn a_comparison_stops_at_its_bounds_and_says_so() {
        let differences = match compare_descriptions(&wide(500, 1), &wide(500, 2)).0 {
            Change::Breaking { differences } => differences,
            other => panic!("{other:?}"),
        };
        assert_eq!(differences.len(), MAX_DIFFERENCES + 1);
        assert_eq!(differences[0].at, "Root.f0");
        assert_eq!(
            differences[MAX_DIFFERENCES].what,
            "too many types or differences to compare"
        );
        // Within the bounds, every difference is reported.
        match compare_descriptions(&wide(50, 1), &wide(50, 2)).0 {
            Change::Breaking { differences } => assert_eq!(differences.len(), 50),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn texts_longer_than_a_name_can_be_are_refused() {
        let long = "x".repeat(MAX_TEXT + 1);
        let text = format!(
            "{{\"xplug_abi_dump\": 1, \"interface\": \"w\", \"version\": \"1.0.0\", \
             \"xplug\": \"0.1.0\", \"xplug_abi\": 1, \"types\": [{{\"name\": \"{long}\", \
             \"written\": \"T\", \"package\": \"p\", \"version\": \"1.0.0\", \"size\": 1, \
             \"align\": 1, \"repr\": \"C\", \"kind\": \"opaque\"}}]}}"
        );
        let e = Description::parse(&text).unwrap_err();
        assert!(e.contains("longer than"), "{e}");
    }

    #[test]
    fn hostile_descriptions_are_refused_with_a_reason() {
        let good = xplug::__private::describe::describe(
            greeter_interface::GreeterRef::LAYOUT,
            "greeter",
            "1.1.0",
        )
        .unwrap();
        let cases = [
            (String::from("\x7fELF"), "not a layout description"),
            (String::from("{}"), "no `xplug_abi_dump`"),
            (
                good.replace("\"xplug_abi_dump\": 1", "\"xplug_abi_dump\": 9"),
                "format 9",
            ),
            (
                good.replace("\"type\": 1,", "\"type\": 4000000000,"),
                "not a type",
            ),
            (
                good.replace("\"version\": \"1.1.0\"", "\"version\": \"x\""),
                "version `x`",
            ),
            (
                good.replace("\"types\": [", "\"types\": 3, \"t\": ["),
                "`types` is missing",
            ),
            (
                good[..good.len() / 2].to_owned(),
                "not a layout description",
            ),
        ];
        for (text, reason) in cases {
            match Description::parse(&text) {
                Ok(_) => panic!("accepted: {reason}"),
                Err(e) => assert!(e.contains(reason), "{e} does not say {reason}"),
            }
        }
    }
}
