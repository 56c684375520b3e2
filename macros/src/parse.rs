//! Reading an interface trait and checking the rules an interface follows.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, Ident, ItemTrait, Lit, LitStr, Meta, NestedMeta, Pat, ReturnType,
    Signature, Token, TraitItem, TraitItemMethod, Type,
};

/// abi_stable's prefix types hold at most 64 fields. A root module has three hidden ones
/// (`on_load_`, `xplug_`, `context_`), then the first `DIRECT` functions, then up to `PAGES`
/// fields pointing to pages of `PAGE` functions each.
pub(crate) const DIRECT: usize = 48;
/// Functions per page.
pub(crate) const PAGE: usize = 64;
/// Pages a root module can point to.
const PAGES: usize = 64 - 3 - DIRECT;
/// The most functions an interface holds.
const MAX_FUNCTIONS: usize = DIRECT + PAGES * PAGE;

/// The attribute's arguments, all optional: `name = "..."`, `host = ObjectTrait`, `isolated`.
pub(crate) struct InterfaceArgs {
    name: Option<LitStr>,
    host: Option<syn::Path>,
    isolated: bool,
}

impl Parse for InterfaceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = InterfaceArgs {
            name: None,
            host: None,
            isolated: false,
        };
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "isolated" {
                args.isolated = true;
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
                continue;
            }
            input.parse::<Token![=]>()?;
            if key == "name" {
                let s: LitStr = input.parse()?;
                if s.value().is_empty() || s.value().len() > 64 {
                    return Err(Error::new(
                        s.span(),
                        "the interface name must be 1 to 64 bytes long",
                    ));
                }
                args.name = Some(s);
            } else if key == "host" {
                args.host = Some(input.parse()?);
            } else {
                return Err(Error::new(
                    key.span(),
                    "expected `name = \"...\"`, `host = ObjectTrait` or `isolated`: the \
                     interface version is the crate's version",
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// A checked interface: the trait as written (minus xplug's own attributes) and its functions.
pub(crate) struct Interface {
    /// The interface name, if given; the crate's package name otherwise.
    pub(crate) name: Option<LitStr>,
    /// The object trait of the services the host offers, if any (`host = ..`).
    pub(crate) host: Option<syn::Path>,
    /// Whether every function must cross to an isolated plugin (`isolated`): checked at
    /// compile time.
    pub(crate) isolated: bool,
    /// The trait, with `#[xplug(..)]` attributes removed from its functions.
    pub(crate) item: ItemTrait,
    /// Its functions, in declaration order.
    pub(crate) functions: Vec<Function>,
}

/// One function of the interface.
pub(crate) struct Function {
    pub(crate) ident: Ident,
    /// The root module's field for it: the name with a trailing `_`.
    pub(crate) field: Ident,
    pub(crate) docs: Vec<Attribute>,
    pub(crate) arg_names: Vec<Ident>,
    pub(crate) arg_types: Vec<Type>,
    /// The type the root module's function returns: the declared type, or for an `async fn`
    /// the `FfiFuture` of it.
    pub(crate) ret: Type,
    /// For an `async fn`, its future's output and whether it is `Send`.
    pub(crate) output: Option<AsyncOutput>,
    /// The minor version that appended it, from `#[xplug(since = "..")]`.
    pub(crate) since: Option<LitStr>,
}

/// What an `async fn` (of an interface or an object) returns: a future of `ty`, `Send` unless
/// the function is marked `#[xplug(local)]`.
pub(crate) struct AsyncOutput {
    /// The declared output.
    pub(crate) ty: Type,
    /// `#[xplug(local)]`: the future need not be `Send` (nor the host's).
    pub(crate) local: bool,
}

impl AsyncOutput {
    /// The future as it crosses: `FfiFuture<T>`, or `LocalFfiFuture<T>`.
    pub(crate) fn ffi_type(&self) -> Type {
        let (path, ty) = (self.ffi_path(), &self.ty);
        syn::parse_quote!(#path<#ty>)
    }

    /// `xplug::future::FfiFuture` or `LocalFfiFuture`, whose `new` and `borrowing` make it.
    pub(crate) fn ffi_path(&self) -> TokenStream {
        if self.local {
            quote::quote!(::xplug::future::LocalFfiFuture)
        } else {
            quote::quote!(::xplug::future::FfiFuture)
        }
    }

    /// The host's future of the call, borrowing for `lifetime`.
    pub(crate) fn call_future(&self, lifetime: TokenStream) -> TokenStream {
        let ty = &self.ty;
        if self.local {
            quote::quote!(::xplug::future::LocalCallFuture<#lifetime, #ty>)
        } else {
            quote::quote!(::xplug::future::CallFuture<#lifetime, #ty>)
        }
    }

    /// The path whose `new` and `borrowing` make [`call_future`](Self::call_future).
    pub(crate) fn call_future_path(&self) -> TokenStream {
        if self.local {
            quote::quote!(::xplug::future::LocalCallFuture)
        } else {
            quote::quote!(::xplug::future::CallFuture)
        }
    }
}

/// Parses the trait and checks it as a whole.
pub(crate) fn interface(args: InterfaceArgs, mut item: ItemTrait) -> syn::Result<Interface> {
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(Error::new(
            item.generics.span(),
            "an xplug interface cannot be generic",
        ));
    }
    let functions = each_method(
        &mut item,
        "an xplug interface holds only functions",
        function,
    )?;
    check_functions(&item.ident, &functions)?;
    if args.isolated {
        all_at_once(functions.iter().filter(|f| f.output.is_some()).map(|f| {
            Error::new(
                f.ident.span(),
                "an `async fn` cannot be served by an isolated plugin yet (the interface is \
                 `isolated`): make it a plain function",
            )
        }))?;
    }
    Ok(Interface {
        name: args.name,
        host: args.host,
        isolated: args.isolated,
        item,
        functions,
    })
}

/// `parse` applied to every method of `item`, with every item's errors at once: one for each
/// method `parse` refuses and one (`not_a_method`) for each item that is no method.
pub(crate) fn each_method<T>(
    item: &mut ItemTrait,
    not_a_method: &str,
    mut parse: impl FnMut(&mut TraitItemMethod) -> syn::Result<T>,
) -> syn::Result<Vec<T>> {
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    for member in &mut item.items {
        match member {
            TraitItem::Method(method) => match parse(method) {
                Ok(one) => parsed.push(one),
                Err(e) => errors.push(e),
            },
            other => errors.push(Error::new(other.span(), not_a_method)),
        }
    }
    all_at_once(errors).map(|()| parsed)
}

/// The rules on the set of functions: how many, their order, reserved names.
fn check_functions(trait_ident: &Ident, functions: &[Function]) -> syn::Result<()> {
    if functions.is_empty() {
        return Err(Error::new(
            trait_ident.span(),
            "an xplug interface needs at least one function",
        ));
    }
    if functions.len() > MAX_FUNCTIONS {
        return Err(Error::new(
            trait_ident.span(),
            format!(
                "an xplug interface holds at most {} functions, this one has {}: split it into \
                 several interfaces",
                MAX_FUNCTIONS,
                functions.len()
            ),
        ));
    }
    let items: Vec<(&Ident, bool)> = functions
        .iter()
        .map(|f| (&f.ident, f.since.is_some()))
        .collect();
    check_appended(
        &items,
        "the first version of an interface cannot be appended: at least the first function \
         has no `#[xplug(since = \"..\")]`",
        "functions appended in a minor version (`#[xplug(since = \"..\")]`) must come after \
         all others: move this function before them",
    )?;
    all_at_once(
        functions.iter().filter_map(|f| {
            reserved(&f.ident.to_string()).map(|why| Error::new(f.ident.span(), why))
        }),
    )
}

/// Why `name` cannot name an interface function, if it cannot: every name the expansion gives
/// its own items (the trait's hooks, the plugin's shim, the host's handle, the root module's
/// fields and abi_stable's accessors beside them) is reserved, so that a clash is an error at
/// the function, not rustc's error at the attribute.
fn reserved(name: &str) -> Option<String> {
    let why = match name {
        "on_load" | "save_state" | "restore_state" | "on_unload" => {
            "every interface trait provides it as a hook of the plugin's lifetime"
        }
        "host" => "every interface trait with host services provides it",
        "module" | "root_module_loader" => "the plugin's generated module provides it",
        "implemented_by" => "the host's handle provides it",
        "xplug" | "context" => "the root module's own fields take its name",
        _ if name.starts_with("xplug_") => "names starting `xplug_` belong to the root module",
        _ if name.starts_with('_') || name.ends_with('_') => {
            "names starting or ending with `_` belong to the generated code and abi_stable's \
             (the root module's fields are the functions' names and a `_`)"
        }
        _ if !name.chars().any(|c| c.is_lowercase()) => {
            "names without a lower-case letter belong to the generated code's constants"
        }
        _ => return None,
    };
    Some(format!("`{}` is reserved: {}", name, why))
}

/// The rules of appended items (`(name, appended)` in declaration order): the first version
/// has the first item, and appended items come after all the others.
pub(crate) fn check_appended(
    items: &[(&Ident, bool)],
    first_appended: &str,
    appended_before_plain: &str,
) -> syn::Result<()> {
    if let Some((first, _)) = items.first().filter(|(_, appended)| *appended) {
        return Err(Error::new(first.span(), first_appended));
    }
    if let Some(pos) = items.iter().position(|(_, appended)| *appended) {
        if let Some((plain, _)) = items[pos..].iter().find(|(_, appended)| !*appended) {
            return Err(Error::new(plain.span(), appended_before_plain));
        }
    }
    Ok(())
}

/// The body of a generated method that gets its function through `get` (an accessor of a
/// prefix type) into `function`, then runs `call`: for an item appended in version `since`,
/// the accessor returns an `Option`, and `None` is `CallError::missing(name, since)`.
pub(crate) fn call_through(
    get: TokenStream,
    function: &Ident,
    call: TokenStream,
    name: &str,
    since: Option<&LitStr>,
) -> TokenStream {
    match since {
        None => quote::quote! {
            let #function = #get;
            #call
        },
        Some(since) => quote::quote! {
            match #get {
                ::core::option::Option::Some(#function) => #call,
                ::core::option::Option::None => ::core::result::Result::Err(
                    ::xplug::CallError::missing(#name, #since),
                ),
            }
        },
    }
}

/// The doc lines of a generated method appended in version `since`: what it returns where the
/// other side was built before it (`older`, e.g. "a plugin built against an older version").
pub(crate) fn appended_doc(since: &LitStr, older: &str) -> TokenStream {
    let text = format!(
        " Appended in version {}: returns a `CallError` of kind \
         [`Missing`](::xplug::CallErrorKind::Missing) for {}.",
        since.value(),
        older
    );
    quote::quote!(#[doc = ""] #[doc = #text])
}

/// Reads one function: a plain `fn name(args) -> T` without receiver or default body.
fn function(method: &mut TraitItemMethod) -> syn::Result<Function> {
    let sig = &method.sig;
    if method.default.is_some() {
        return Err(Error::new(
            method.span(),
            "interface functions have no default body: each plugin implements them",
        ));
    }
    let asynchronous = sig.asyncness.is_some();
    let mut plain = sig.clone();
    plain.asyncness = None;
    check_plain(
        &plain,
        "interface functions are plain `fn name(args) -> T` or `async fn name(args) -> T`: no \
         unsafe, extern, const or generics",
    )?;
    let (arg_names, arg_types) = plain_args(
        sig.inputs.iter(),
        "interface functions take no `self`: a plugin's state lives in the plugin",
        "interface function arguments must be plain names",
    )?;
    let declared = return_type(sig);
    check_crossing(arg_types.iter().chain(Some(&declared)))?;
    let attrs = take_attributes(method, asynchronous)?;
    let (ret, output) = returned(asynchronous.then_some(attrs.local), &arg_types, declared)?;
    let ident = method.sig.ident.clone();
    if ident.to_string().starts_with("r#") {
        return Err(Error::new(
            ident.span(),
            "interface function names are plain identifiers, not raw ones: a plugin's \
             function is found by its name",
        ));
    }
    if let Some(output) = &output {
        async_signature(method, output, quote::quote!('static));
    }
    Ok(Function {
        field: Ident::new(&format!("{}_", ident), Span::call_site()),
        ident,
        docs: attrs.docs,
        arg_names,
        arg_types,
        ret,
        output,
        since: attrs.since,
    })
}

/// What a function or method declaring `declared` returns across the boundary: `declared`
/// itself, or for an `async fn` (`local`: whether it is marked `#[xplug(local)]`) the future of
/// it, with its output; an `async fn`'s arguments checked against `arg_types`.
pub(crate) fn returned(
    local: Option<bool>,
    arg_types: &[Type],
    declared: Type,
) -> syn::Result<(Type, Option<AsyncOutput>)> {
    match local {
        None => Ok((declared, None)),
        Some(local) => {
            check_async(arg_types, &declared)?;
            let output = AsyncOutput {
                ty: declared,
                local,
            };
            Ok((output.ffi_type(), Some(output)))
        }
    }
}

/// The rules of an `async fn`'s signature: owned arguments and an owned result, since its
/// future may run after the call returns.
fn check_async(arg_types: &[Type], output: &Type) -> syn::Result<()> {
    all_at_once(arg_types.iter().filter(|ty| borrows(ty)).map(|ty| {
        Error::new(
            ty.span(),
            "the arguments of an `async fn` are owned (`RString`, not `RStr<'_>`): its \
             future may run after the call returns",
        )
    }))?;
    if borrows(output) {
        return Err(Error::new(
            output.span(),
            "an `async fn` returns an owned value: its future outlives every borrow",
        ));
    }
    Ok(())
}

/// Whether `ty` borrows: a reference, or a type that names a lifetime.
fn borrows(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Punct(p) => p.as_char() == '&' || p.as_char() == '\'',
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(quote::ToTokens::to_token_stream(ty))
}

/// The trait's signature of an `async fn` returning `output`, as the compiler building the
/// interface crate can declare it: from Rust 1.75 a function returning `impl Future + Send`
/// (a plugin implements it with an `async fn`, or with any such future); before, one returning
/// `xplug::future::BoxFuture` (a plugin returns `Box::pin(async move { .. })`). Without `Send`
/// (and `LocalBoxFuture`) for a `#[xplug(local)]` function. The future lives for `lifetime`:
/// `'static` for an interface function, `'_` (the receiver's) for an object's method.
pub(crate) fn async_signature(
    method: &mut TraitItemMethod,
    output: &AsyncOutput,
    lifetime: TokenStream,
) {
    let ty = &output.ty;
    method.sig.asyncness = None;
    method.sig.output = match (async_fn_in_traits(), output.local) {
        (true, false) => syn::parse_quote! {
            -> impl ::core::future::Future<Output = #ty> + ::core::marker::Send + #lifetime
        },
        (true, true) => syn::parse_quote! {
            -> impl ::core::future::Future<Output = #ty> + #lifetime
        },
        (false, false) => syn::parse_quote!(-> ::xplug::future::BoxFuture<#lifetime, #ty>),
        (false, true) => syn::parse_quote!(-> ::xplug::future::LocalBoxFuture<#lifetime, #ty>),
    };
}

/// Whether the compiler running this macro (the one building the interface crate) has
/// `impl Trait` in trait functions, and so `async fn` in their implementations.
#[rustversion::since(1.75)]
fn async_fn_in_traits() -> bool {
    true
}

/// See above.
#[rustversion::before(1.75)]
fn async_fn_in_traits() -> bool {
    false
}

/// What a function's or method's attributes say: `#[xplug(since = "..")]`,
/// `#[xplug(local)]` (or both in one: `#[xplug(since = "..", local)]`), and its doc comments.
pub(crate) struct Attributes {
    /// The minor version that appended it.
    pub(crate) since: Option<LitStr>,
    /// An `async fn` whose future is not `Send`.
    pub(crate) local: bool,
    /// The doc comments, for the generated methods.
    pub(crate) docs: Vec<Attribute>,
}

/// Removes the `#[xplug(..)]` attributes from a function or method and returns what they say,
/// with the doc comments; `local` is only for an `asynchronous` one.
pub(crate) fn take_attributes(
    method: &mut TraitItemMethod,
    asynchronous: bool,
) -> syn::Result<Attributes> {
    let mut attrs = Attributes {
        since: None,
        local: false,
        docs: Vec::new(),
    };
    let mut kept = Vec::new();
    for attr in method.attrs.drain(..) {
        if attr.path.is_ident("xplug") {
            parse_xplug(&attr, asynchronous, &mut attrs)?;
        } else {
            if attr.path.is_ident("doc") {
                attrs.docs.push(attr.clone());
            }
            kept.push(attr);
        }
    }
    method.attrs = kept;
    Ok(attrs)
}

/// Parses one `#[xplug(since = "1.1")]`, `#[xplug(local)]` or `#[xplug(since = "1.1", local)]`
/// into `attrs`.
fn parse_xplug(attr: &Attribute, asynchronous: bool, attrs: &mut Attributes) -> syn::Result<()> {
    let err = |span: Span| {
        Error::new(
            span,
            "expected `#[xplug(since = \"MAJOR.MINOR\")]` on a function appended in a minor \
             version, or `#[xplug(local)]` on an `async fn` whose future is not `Send`",
        )
    };
    let list = match attr.parse_meta()? {
        Meta::List(list) if !list.nested.is_empty() => list,
        _ => return Err(err(attr.span())),
    };
    for nested in &list.nested {
        match nested {
            NestedMeta::Meta(Meta::NameValue(nv)) if nv.path.is_ident("since") => {
                if attrs.since.is_some() {
                    return Err(Error::new(
                        nv.span(),
                        "a second `since`: a function or method is appended once",
                    ));
                }
                attrs.since = Some(parse_since(&nv.lit).ok_or_else(|| err(nv.span()))??);
            }
            NestedMeta::Meta(Meta::Path(path)) if path.is_ident("local") => {
                if !asynchronous {
                    return Err(Error::new(
                        path.span(),
                        "`local` is for an `async fn`: its future need not be `Send`",
                    ));
                }
                if attrs.local {
                    return Err(Error::new(path.span(), "a second `local`: say it once"));
                }
                attrs.local = true;
            }
            other => return Err(err(other.span())),
        }
    }
    Ok(())
}

/// Parses the version of `since = "1.1"`: `None` if it is not a string.
fn parse_since(lit: &Lit) -> Option<syn::Result<LitStr>> {
    match lit {
        Lit::Str(s) if is_major_minor(&s.value()) => Some(Ok(s.clone())),
        Lit::Str(s) => Some(Err(Error::new(
            s.span(),
            format!(
                "`since` names the interface version that appended it, as `MAJOR.MINOR` \
                 (e.g. \"1.2\"), not `{}`",
                s.value()
            ),
        ))),
        _ => None,
    }
}

/// Whether `text` is `MAJOR.MINOR`: two numbers, without leading zeros.
fn is_major_minor(text: &str) -> bool {
    let number = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    matches!(text.split_once('.'), Some((major, minor)) if number(major) && number(minor))
}

/// Refuses what an `extern "C"` shim cannot be: async, unsafe, extern, const or generic.
pub(crate) fn check_plain(sig: &Signature, message: &str) -> syn::Result<()> {
    if sig.asyncness.is_some()
        || sig.unsafety.is_some()
        || sig.abi.is_some()
        || sig.constness.is_some()
        || sig.variadic.is_some()
        || !sig.generics.params.is_empty()
    {
        return Err(Error::new(sig.span(), message));
    }
    Ok(())
}

/// The names and types of `args`, each a plain name with a type: a receiver among them is
/// `receiver`'s error, any other pattern `pattern`'s.
pub(crate) fn plain_args<'a>(
    args: impl Iterator<Item = &'a FnArg>,
    receiver: &str,
    pattern: &str,
) -> syn::Result<(Vec<Ident>, Vec<Type>)> {
    let mut names = Vec::new();
    let mut types = Vec::new();
    for arg in args {
        match arg {
            FnArg::Receiver(r) => return Err(Error::new(r.span(), receiver)),
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    names.push(pi.ident.clone());
                    types.push((*pt.ty).clone());
                }
                other => return Err(Error::new(other.span(), pattern)),
            },
        }
    }
    Ok((names, types))
}

/// The standard types that cannot cross the boundary, and the abi_stable type to use instead.
const NOT_CROSSING: [(&str, &str); 7] = [
    ("String", "RString"),
    ("Vec", "RVec"),
    ("Box", "RBox"),
    ("Arc", "RArc"),
    ("HashMap", "RHashMap"),
    ("Cow", "RCow"),
    ("Option", "ROption"),
];

/// Types `Option` of which is no `StableAbi` type: plain numbers, `bool`, `char` and the
/// types above. (abi_stable accepts an `Option` of references, function pointers, `NonNull`,
/// non-zero numbers and prefix references, whose `None` is a null or a zero.)
fn option_does_not_cross(ty: &Type) -> bool {
    match ty {
        Type::Group(g) => option_does_not_cross(&g.elem),
        Type::Paren(p) => option_does_not_cross(&p.elem),
        Type::Path(p) => {
            const PLAIN: [&str; 16] = [
                "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128",
                "isize", "bool", "char", "f32", "f64",
            ];
            let plain = p
                .path
                .get_ident()
                .map_or(false, |n| PLAIN.iter().any(|t| n == t));
            plain || std_type(p).is_some()
        }
        _ => false,
    }
}

/// The abi_stable counterpart of `ty`, if it is one of the standard types above written as
/// itself (`String`) or through the standard library (`std::string::String`): a type of the
/// user's own of the same name is written through its own path (`crate::Vec`).
fn std_type(ty: &syn::TypePath) -> Option<&'static str> {
    if ty.qself.is_some() {
        return None;
    }
    let segments = &ty.path.segments;
    let first = segments.first()?.ident.to_string();
    let through_std = ["std", "core", "alloc"].contains(&first.as_str());
    if segments.len() > 1 && !through_std {
        return None;
    }
    let last = segments.last()?;
    let name = last.ident.to_string();
    let (_, instead) = NOT_CROSSING.iter().find(|(std, _)| *std == name)?;
    if name == "Option" {
        // Only an `Option` of a type whose `None` has no spare bit pattern.
        let inner = match &last.arguments {
            syn::PathArguments::AngleBracketed(args) => match args.args.first() {
                Some(syn::GenericArgument::Type(inner)) => inner,
                _ => return None,
            },
            _ => return None,
        };
        if !option_does_not_cross(inner) {
            return None;
        }
    }
    Some(instead)
}

/// Checks that no standard type that cannot cross the boundary appears in `types`, however
/// deep: each is an error at that type naming abi_stable's counterpart (rustc's own error
/// says only that `StableAbi` is not implemented, at the attribute).
pub(crate) fn check_crossing<'a>(types: impl IntoIterator<Item = &'a Type>) -> syn::Result<()> {
    struct Finder(Vec<Error>);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_path(&mut self, ty: &'ast syn::TypePath) {
            if let (Some(instead), Some(last)) = (std_type(ty), ty.path.segments.last()) {
                self.0.push(Error::new(
                    last.ident.span(),
                    format!(
                        "`{}` cannot cross the plugin boundary: use \
                         `abi_stable::std_types::{}` (`.into()` converts)",
                        last.ident, instead
                    ),
                ));
            }
            syn::visit::visit_type_path(self, ty);
        }
        fn visit_type_reference(&mut self, ty: &'ast syn::TypeReference) {
            if let Type::Path(p) = &*ty.elem {
                if p.path.is_ident("str") {
                    self.0.push(Error::new(
                        ty.span(),
                        "`&str` cannot cross the plugin boundary: use \
                         `abi_stable::std_types::RStr<'_>` (`.into()` converts)",
                    ));
                }
            }
            if let Type::Slice(_) = &*ty.elem {
                self.0.push(Error::new(
                    ty.span(),
                    "a slice reference cannot cross the plugin boundary: use \
                     `abi_stable::std_types::RSlice<'_, T>` (`.into()` converts)",
                ));
            }
            syn::visit::visit_type_reference(self, ty);
        }
    }
    let mut finder = Finder(Vec::new());
    for ty in types {
        syn::visit::Visit::visit_type(&mut finder, ty);
    }
    all_at_once(finder.0)
}

/// Every error of `errors` at once, if there is any.
pub(crate) fn all_at_once(errors: impl IntoIterator<Item = Error>) -> syn::Result<()> {
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            errors.for_each(|e| first.combine(e));
            Err(first)
        }
    }
}

/// The declared return type, `()` if none.
pub(crate) fn return_type(sig: &Signature) -> Type {
    match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    }
}
