//! An interface's type layouts in words: the layout description `xplug abi-dump` writes (JSON,
//! one entry per type), and the way types and signatures are written in reports (`ROption<RString>`,
//! `fn(&self, u64) -> u64`). The host's handle carries it (`<Trait>Ref::__xplug_abi_dump()`);
//! `xplug-loader` reads plugin files' layouts with the same code, so that a description and a
//! plugin compare alike.

use std::collections::HashMap;
use std::fmt::Write;

use abi_stable::type_layout::{TLData, TLField, TLFunction, TLPrimitive, TypeLayout};

/// The format of a layout description: the `xplug_abi_dump` field. A reader refuses others.
pub const DESCRIPTION_FORMAT: u32 = 1;

/// The most types a description holds: a tree with more is refused (a hostile layout).
pub const MAX_TYPES: usize = 100_000;

/// The layout description of an interface's root module `root`: JSON, every type of the tree
/// once, the root first. `Err` if the tree holds more than [`MAX_TYPES`] types.
pub fn describe(
    root: &'static TypeLayout,
    interface: &str,
    version: &str,
) -> Result<String, String> {
    let mut types = Types::default();
    types.id(root)?;
    let mut next = 0;
    let mut entries = Vec::new();
    while next < types.order.len() {
        let layout = types.order[next];
        entries.push(types.entry(layout)?);
        next += 1;
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\n  \"xplug_abi_dump\": {},\n  \"interface\": {},\n  \"version\": {},\n  \
         \"xplug\": {},\n  \"xplug_abi\": {},\n  \"host\": {},\n  \"types\": [\n",
        DESCRIPTION_FORMAT,
        json(interface),
        json(version),
        json(super::build_info::XPLUG_VERSION),
        crate::abi::ABI_VERSION,
        match host_trait(root) {
            Some(host) => json(&host),
            None => String::from("null"),
        },
    );
    for (i, entry) in entries.iter().enumerate() {
        out.push_str("    ");
        out.push_str(entry);
        out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    Ok(out)
}

/// The types of a tree, numbered in the order they are first met.
#[derive(Default)]
struct Types {
    ids: HashMap<abi_stable::std_types::utypeid::UTypeId, usize>,
    order: Vec<&'static TypeLayout>,
}

impl Types {
    fn id(&mut self, layout: &'static TypeLayout) -> Result<usize, String> {
        let key = layout.get_utypeid();
        if let Some(&id) = self.ids.get(&key) {
            return Ok(id);
        }
        if self.order.len() >= MAX_TYPES {
            return Err(format!("the layout holds more than {MAX_TYPES} types"));
        }
        let id = self.order.len();
        self.ids.insert(key, id);
        self.order.push(layout);
        Ok(id)
    }

    /// One type as a JSON object.
    fn entry(&mut self, layout: &'static TypeLayout) -> Result<String, String> {
        let mut out = String::new();
        let (package, version) = layout.package_and_version();
        let _ = write!(
            out,
            "{{\"name\": {}, \"written\": {}, \"package\": {}, \"version\": {}, \"size\": {}, \
             \"align\": {}, \"repr\": {}",
            json(layout.name()),
            json(&type_name(layout)),
            json(package.as_str()),
            json(&version.to_string()),
            layout.size(),
            layout.alignment(),
            json(&format!("{:?}", layout.repr_attr())),
        );
        let method = is_object_table(layout);
        let (kind, fields) = match layout.data() {
            TLData::Primitive(p) => (format!("primitive {p:?}"), None),
            TLData::Opaque => (String::from("opaque"), None),
            TLData::Struct { fields } => (String::from("struct"), Some(fields)),
            TLData::Union { fields } => (String::from("union"), Some(fields)),
            TLData::Enum(e) => {
                let counts: Vec<String> = e.field_count.iter().map(|n| n.to_string()).collect();
                let names: Vec<String> = e.variant_names_iter().map(json).collect();
                let _ = write!(
                    out,
                    ", \"variants\": [{}], \"variant_fields\": [{}], \"discriminants\": {}, \
                     \"exhaustive\": {}",
                    names.join(", "),
                    counts.join(", "),
                    json(&format!("{:?}", e.discriminants)),
                    e.exhaustiveness.is_exhaustive(),
                );
                (String::from("enum"), Some(e.fields))
            }
            TLData::PrefixType(p) => {
                let _ = write!(out, ", \"first_version_fields\": {}", p.first_suffix_field);
                (String::from("prefix"), Some(p.fields))
            }
        };
        let _ = write!(out, ", \"kind\": {}", json(&kind));
        if let Some(fields) = fields {
            let fields: Vec<TLField> = fields.iter().collect();
            let _ = write!(out, ", \"fields\": {}", self.fields(&fields, method)?);
        }
        let phantom: Vec<TLField> = layout.phantom_fields().iter().collect();
        if !phantom.is_empty() {
            let _ = write!(out, ", \"phantom\": {}", self.fields(&phantom, false)?);
        }
        let params: Vec<&'static TypeLayout> = layout
            .generics()
            .type_params()
            .iter()
            .map(|p| p())
            .collect();
        if !params.is_empty() {
            let ids = params
                .into_iter()
                .map(|p| self.id(p).map(|id| id.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let _ = write!(out, ", \"type_params\": [{}]", ids.join(", "));
        }
        // What else abi_stable compares: the lifetime count and the const parameters.
        let generics = layout.generics();
        let _ = write!(
            out,
            ", \"lifetimes\": {}, \"consts\": {}",
            generics.lifetime_count(),
            json(&format!("{:?}", generics.const_params()))
        );
        if let Some(checks) = layout.extra_checks() {
            let _ = write!(
                out,
                ", \"extra_checks\": {}",
                json(&format!("{:?}", checks))
            );
        }
        out.push('}');
        Ok(out)
    }

    fn fields(&mut self, fields: &[TLField], method: bool) -> Result<String, String> {
        let mut all = Vec::new();
        for field in fields {
            let mut one = format!(
                "{{\"name\": {}, \"type\": {}, \"lifetimes\": {}",
                json(field.name()),
                self.id(field.layout())?,
                json(&format!("{:?}", field.lifetime_indices()))
            );
            let functions: Vec<TLFunction> = field.function_range().iter().collect();
            if !functions.is_empty() {
                let mut written = Vec::new();
                for f in &functions {
                    let params = f
                        .param_type_layouts
                        .iter()
                        .map(|p| self.id(p()).map(|id| id.to_string()))
                        .collect::<Result<Vec<_>, _>>()?;
                    let returns = match f.return_type_layout() {
                        Some(r) => self.id(r())?.to_string(),
                        None => String::from("null"),
                    };
                    written.push(format!(
                        "{{\"written\": {}, \"param_names\": {}, \"params\": [{}], \
                         \"returns\": {}, \"lifetimes\": {}, \"unsafe\": {}}}",
                        json(&signature(f, method)),
                        json(f.param_names.as_str()),
                        params.join(", "),
                        returns,
                        json(&format!(
                            "{};{:?}",
                            f.bound_lifetimes, f.paramret_lifetime_indices
                        )),
                        f.fn_qualifs.is_unsafe()
                    ));
                }
                let _ = write!(one, ", \"functions\": [{}]", written.join(", "));
            }
            one.push('}');
            all.push(one);
        }
        Ok(format!("[{}]", all.join(", ")))
    }
}

/// Whether `layout` is an `#[xplug::object]` trait's method table: its functions are methods.
fn is_object_table(layout: &'static TypeLayout) -> bool {
    object_of(layout).is_some()
}

/// The `#[xplug::object]` trait whose method table `layout` is (`Counter` for
/// `CounterVTable`), if it is one.
pub fn object_of(layout: &'static TypeLayout) -> Option<&'static str> {
    match layout.data() {
        TLData::PrefixType(prefix) => {
            let first = prefix.fields.iter().next();
            object_trait(layout.name(), first.as_ref().map(TLField::name))
        }
        _ => None,
    }
}

/// The trait whose method table a prefix type named `name`, whose first field is
/// `first_field`, is: an `#[xplug::object]` table is `<Trait>VTable` and starts with its
/// header (`header_`), which abi_stable's own tables (`VecVTable`) and `#[sabi_trait]` ones
/// (`VTable`) do not.
pub fn object_trait<'a>(name: &'a str, first_field: Option<&str>) -> Option<&'a str> {
    if first_field != Some("header_") {
        return None;
    }
    name.strip_suffix("VTable")
        .filter(|object| !object.is_empty())
}

/// The trait of the host services an interface's root module takes (`on_load_`'s third
/// parameter, an `Option<&<Trait>Box>`), if it takes any.
fn host_trait(root: &'static TypeLayout) -> Option<String> {
    let module = root.phantom_fields().iter().next()?.layout();
    let on_load = module
        .get_fields()?
        .iter()
        .find(|f| f.name() == "on_load_")?;
    let function = on_load.function_range().iter().next()?;
    let option = (function.param_type_layouts.iter().nth(2)?)();
    let reference = (option.generics().type_params().first()?)();
    let boxed = (reference.generics().type_params().first()?)();
    let name = boxed.name();
    if boxed.package().as_str() == "xplug" {
        return None;
    }
    name.strip_suffix("Box").map(String::from)
}

/// How many types [`type_name`] writes at most; later ones are written `..` (a recursive or
/// hostile layout stays cheap).
const TYPE_NAME_NODES: usize = 64;
/// And how long a name it writes before the rest is `..`.
const TYPE_NAME_BYTES: usize = 1024;

/// A type as its source writes it, from its layout: `ROption<RString>`, `&'a mut Counter`,
/// `[u8; 4]`. abi_stable's own display leaves out the type parameters its standard types do
/// not record (`ROption`, `RVec`) and pads references with spaces.
pub fn type_name(layout: &'static TypeLayout) -> String {
    let mut out = String::new();
    let mut budget = TYPE_NAME_NODES;
    write_type(layout, &mut budget, &mut out);
    out
}

fn write_type(layout: &'static TypeLayout, budget: &mut usize, out: &mut String) {
    if out.len() > TYPE_NAME_BYTES {
        *budget = 0;
    }
    if *budget == 0 {
        out.push_str("..");
        return;
    }
    *budget -= 1;
    let generics = layout.generics();
    let mut params: Vec<&'static TypeLayout> =
        generics.type_params().iter().map(|param| param()).collect();
    if params.is_empty() {
        params = unrecorded_params(layout);
    }
    let param = |i: usize, budget: &mut usize, out: &mut String| match params.get(i) {
        Some(p) => write_type(p, budget, out),
        None => out.push_str(".."),
    };
    let lifetime = generics.lifetimes().next().map(|l| format!("{l} "));
    match layout.data() {
        TLData::Primitive(TLPrimitive::SharedRef) => {
            out.push('&');
            out.push_str(lifetime.as_deref().unwrap_or(""));
            param(0, budget, out);
        }
        TLData::Primitive(TLPrimitive::MutRef) => {
            out.push('&');
            out.push_str(lifetime.as_deref().unwrap_or(""));
            out.push_str("mut ");
            param(0, budget, out);
        }
        TLData::Primitive(TLPrimitive::ConstPtr) => {
            out.push_str("*const ");
            param(0, budget, out);
        }
        TLData::Primitive(TLPrimitive::MutPtr) => {
            out.push_str("*mut ");
            param(0, budget, out);
        }
        TLData::Primitive(TLPrimitive::Array) => {
            out.push('[');
            param(0, budget, out);
            if let Some(len) = generics.const_params().first() {
                let _ = write!(out, "; {len:?}");
            }
            out.push(']');
        }
        _ => {
            out.push_str(layout.name());
            let lifetimes: Vec<&str> = generics.lifetimes().collect();
            let consts = generics.const_params();
            if lifetimes.is_empty() && params.is_empty() && consts.is_empty() {
                return;
            }
            out.push('<');
            let mut first = true;
            let mut separate = |out: &mut String| {
                if !std::mem::replace(&mut first, false) {
                    out.push_str(", ");
                }
            };
            for l in lifetimes {
                separate(out);
                out.push_str(l);
            }
            for i in 0..params.len() {
                separate(out);
                if *budget == 0 {
                    out.push_str("..");
                    break;
                }
                param(i, budget, out);
            }
            for c in consts {
                separate(out);
                let _ = write!(out, "{c:?}");
            }
            out.push('>');
        }
    }
}

/// The type parameters of abi_stable's standard types and xplug's futures and streams, which
/// their layouts do not record: `ROption<T>` and `RResult<T, E>` hold them as their variants'
/// fields, the pointer types (`RVec`, `RSlice`, `RSliceMut`, `RBox`, `RArc`) as the pointee of
/// their first field, `FfiFuture<T>` and `FfiStream<T>` as the parameter of a `PhantomData<T>`.
fn unrecorded_params(layout: &'static TypeLayout) -> Vec<&'static TypeLayout> {
    let fields = match layout.get_fields() {
        Some(fields) => fields,
        None => return Vec::new(),
    };
    // An `async fn`'s `FfiFuture<T>` (or `LocalFfiFuture<T>`): `T` is the parameter of its
    // `_output: PhantomData<T>`; a stream's `FfiStream<T>`, of its `_item`.
    let phantom = match layout.name() {
        "FfiFuture" | "LocalFfiFuture" => "_output",
        "FfiStream" => "_item",
        _ => "",
    };
    if layout.package().as_str() == "xplug" && !phantom.is_empty() {
        return match fields.iter().find(|f| f.name() == phantom) {
            Some(output) => match output.layout().generics().type_params() {
                [t] => vec![t()],
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
    }
    if layout.package().as_str() != "abi_stable" {
        return Vec::new();
    }
    match layout.name() {
        "ROption" | "RResult" => fields.iter().map(|f| f.layout()).collect(),
        "RVec" | "RSlice" | "RSliceMut" | "RBox" | "RArc" => {
            let pointer = match fields.iter().next() {
                Some(first) => first.layout(),
                None => return Vec::new(),
            };
            let is_pointer = matches!(
                pointer.data(),
                TLData::Primitive(TLPrimitive::ConstPtr | TLPrimitive::MutPtr)
            ) || pointer.name() == "NonNull";
            match pointer.generics().type_params() {
                [pointee] if is_pointer => vec![pointee()],
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// A function's signature as the interface declares it: without the call context, with the
/// declared return type rather than its `CallResult`, and an object method's receiver as
/// `&self` or `&mut self` (`method`): `extern "C" fn(u32, u32) -> u32`, `fn(&self) -> u64`.
pub fn signature(f: &TLFunction, method: bool) -> String {
    let mut params: Vec<String> = f
        .param_type_layouts
        .iter()
        .map(|layout| layout())
        .filter(|layout| !(layout.name() == "CallContext" && layout.package() == "xplug"))
        .map(type_name)
        .collect();
    if method {
        // `#[xplug::object]` methods take the object as a pointer, `#[sabi_trait]` methods
        // as abi_stable's `RRef`/`RMut` of it.
        if let Some(receiver) = params.first_mut() {
            let shared = receiver.starts_with("*const") || receiver.starts_with("RRef<");
            let exclusive = receiver.starts_with("*mut") || receiver.starts_with("RMut<");
            if receiver.ends_with("c_void")
                || receiver.starts_with("RRef<")
                || receiver.starts_with("RMut<")
            {
                if shared {
                    *receiver = String::from("&self");
                } else if exclusive {
                    *receiver = String::from("&mut self");
                }
            }
        }
    }
    let ret = match f.return_type_layout() {
        Some(layout) => call_result_value(layout()).unwrap_or_else(|| type_name(layout())),
        None => String::from("()"),
    };
    let fn_ = if method { "fn" } else { "extern \"C\" fn" };
    format!("{}({}) -> {}", fn_, params.join(", "), ret)
}

/// `T` for a `CallResult<T>` (`RResult<T, Contained>`), the return type the interface
/// declared.
pub fn call_result_value(layout: &'static TypeLayout) -> Option<String> {
    if layout.name() != "RResult" {
        return None;
    }
    let fields = layout.get_fields()?;
    let mut fields = fields.iter();
    let (ok, err) = (fields.next()?, fields.next()?);
    if err.full_type().name() == "Contained" {
        Some(type_name(ok.layout()))
    } else {
        None
    }
}

/// `s` as a JSON string.
fn json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
