//! Procedural macros of `xplug`. Use them through the `xplug` crate: `#[xplug::interface]`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, Ident, ItemTrait, Lit, LitStr, Meta, NestedMeta, Pat, ReturnType,
    Token, TraitItem, TraitItemMethod, Type,
};

/// Declares a plugin interface. See `xplug`'s crate documentation.
#[proc_macro_attribute]
pub fn interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as InterfaceArgs);
    let input = syn::parse_macro_input!(item as ItemTrait);
    match expand(args, input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// `name = "..."`, optional.
struct InterfaceArgs {
    name: Option<LitStr>,
}

impl Parse for InterfaceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut name = None;
        let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated(input)?;
        for pair in pairs {
            match (&pair.lit, pair.path.get_ident()) {
                (Lit::Str(s), Some(ident)) if ident == "name" => {
                    if s.value().is_empty() || s.value().len() > 64 {
                        return Err(Error::new(
                            s.span(),
                            "the interface name must be 1 to 64 bytes long",
                        ));
                    }
                    name = Some(s.clone());
                }
                _ => {
                    return Err(Error::new(
                        pair.span(),
                        "expected `name = \"...\"`: the interface version is the crate's version",
                    ))
                }
            }
        }
        Ok(InterfaceArgs { name })
    }
}

/// One function of the interface.
struct Function {
    ident: Ident,
    field: Ident,
    docs: Vec<Attribute>,
    arg_names: Vec<Ident>,
    arg_types: Vec<Type>,
    ret: Type,
    since: Option<LitStr>,
}

fn expand(args: InterfaceArgs, mut input: ItemTrait) -> syn::Result<TokenStream2> {
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(Error::new(
            input.generics.span(),
            "an xplug interface cannot be generic",
        ));
    }
    let mut functions = Vec::new();
    for item in &mut input.items {
        match item {
            TraitItem::Method(method) => functions.push(parse_function(method)?),
            other => {
                return Err(Error::new(
                    other.span(),
                    "an xplug interface holds only functions",
                ))
            }
        }
    }
    if functions.is_empty() {
        return Err(Error::new(
            input.ident.span(),
            "an xplug interface needs at least one function",
        ));
    }
    // abi_stable's prefix types hold at most 64 fields; two are hidden (`on_load`, `take_panic`).
    if functions.len() > 62 {
        return Err(Error::new(
            input.ident.span(),
            format!(
                "an xplug interface holds at most 62 functions, this one has {}: split it into \
                 several interfaces",
                functions.len()
            ),
        ));
    }
    if let Some(pos) = functions.iter().position(|f| f.since.is_some()) {
        if let Some(f) = functions[pos..].iter().find(|f| f.since.is_none()) {
            return Err(Error::new(
                f.ident.span(),
                "functions appended in a minor version (`#[xplug(since = \"..\")]`) must come \
                 after all others: move this function before them",
            ));
        }
    }
    for f in &functions {
        if f.ident == "on_load" {
            return Err(Error::new(
                f.ident.span(),
                "`on_load` is reserved: every interface trait provides it as the plugin's load hook",
            ));
        }
    }

    let trait_ident = &input.ident;
    let vis = &input.vis;
    let module = format_ident!("{}Module", trait_ident);
    let module_ref = format_ident!("{}Ref", trait_ident);
    let module_prefix = format_ident!("{}Module_Prefix", trait_ident);
    let shim = format_ident!("__Xplug{}Shim", trait_ident);
    let name = match &args.name {
        Some(lit) => quote!(#lit),
        None => quote!(::core::env!("CARGO_PKG_NAME")),
    };
    let trait_name_str = trait_ident.to_string();

    // The trait the plugin implements: the user's functions plus the load hook and the
    // constants that `export_plugin!` reads.
    input
        .supertraits
        .push(syn::parse_quote!(::core::marker::Sized));
    input.supertraits.push(syn::parse_quote!('static));
    let on_load_doc = format!(
        "Runs once when a host has accepted this plugin, before any other function of \
         `{trait_name_str}` is called. Return an error to refuse loading; a panic is \
         contained and reported to the host as well. The default does nothing."
    );
    input.items.push(syn::parse_quote! {
        #[doc = #on_load_doc]
        fn on_load() -> ::core::result::Result<(), ::std::string::String> {
            ::core::result::Result::Ok(())
        }
    });
    input.items.push(syn::parse_quote! {
        #[doc(hidden)]
        const __XPLUG_INTERFACE_NAME: &'static str =
            <#module_ref as ::xplug::Interface>::INTERFACE_NAME;
    });
    input.items.push(syn::parse_quote! {
        #[doc(hidden)]
        const __XPLUG_INTERFACE_VERSION: &'static str =
            <#module_ref as ::xplug::Interface>::INTERFACE_VERSION;
    });
    input.items.push(syn::parse_quote! {
        #[doc(hidden)]
        const __XPLUG_LIB_HEADER: ::xplug::__private::abi_stable::library::LibHeader =
            // SAFETY: the constructor returns a module of type `#module_ref`, the type passed
            // as `M`, and the layout is checked (`CheckTypeLayout::Yes`).
            unsafe {
                ::xplug::__private::abi_stable::library::LibHeader::from_constructor::<#module_ref>(
                    #shim::<Self>::root_module_loader,
                    ::xplug::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            };
    });

    let last_prefix = functions
        .iter()
        .rposition(|f| f.since.is_none())
        .unwrap_or(0);
    let fields = functions.iter().enumerate().map(|(i, f)| {
        let Function {
            ident,
            field,
            docs,
            arg_names,
            arg_types,
            ret,
            ..
        } = f;
        let last = if i == last_prefix {
            quote!(#[sabi(last_prefix_field)])
        } else {
            quote!()
        };
        quote! {
            #(#docs)*
            #last
            #[sabi(rename = #ident)]
            #field: extern "C" fn(#(#arg_names: #arg_types),*) -> ::xplug::CallResult<#ret>,
        }
    });
    let shim_fns = functions.iter().map(|f| {
        let Function {
            ident,
            arg_names,
            arg_types,
            ret,
            ..
        } = f;
        quote! {
            extern "C" fn #ident(#(#arg_names: #arg_types),*) -> ::xplug::CallResult<#ret> {
                ::xplug::__private::guard(move || <T as #trait_ident>::#ident(#(#arg_names),*))
            }
        }
    });
    let shim_inits = functions.iter().map(|f| {
        let Function { ident, field, .. } = f;
        quote!(#field: Self::#ident,)
    });
    let wrappers = functions.iter().map(|f| {
        let Function {
            ident,
            field,
            docs,
            arg_names,
            arg_types,
            ret,
            since,
        } = f;
        let fn_name = ident.to_string();
        let call = quote! {
            match __xplug_fn(#(#arg_names),*) {
                ::xplug::__private::abi_stable::std_types::RResult::ROk(value) => {
                    ::core::result::Result::Ok(value)
                }
                ::xplug::__private::abi_stable::std_types::RResult::RErr(_) => {
                    ::core::result::Result::Err(::xplug::CallError::panicked(
                        #fn_name,
                        (self.take_panic_())(),
                    ))
                }
            }
        };
        let body = match since {
            None => quote! { let __xplug_fn = self.#field(); #call },
            Some(since) => quote! {
                match self.#field() {
                    ::core::option::Option::Some(__xplug_fn) => #call,
                    ::core::option::Option::None => ::core::result::Result::Err(
                        ::xplug::CallError::Missing { function: #fn_name, since: #since },
                    ),
                }
            },
        };
        let missing_doc = since.as_ref().map(|since| {
            let text = format!(
                " Appended in version {}: returns [`CallError::Missing`](::xplug::CallError::Missing) \
                 for a plugin built against an older version.",
                since.value()
            );
            quote!(#[doc = ""] #[doc = #text])
        });
        quote! {
            #(#docs)*
            #missing_doc
            #[inline]
            pub fn #ident(self, #(#arg_names: #arg_types),*)
                -> ::core::result::Result<#ret, ::xplug::CallError>
            {
                #body
            }
        }
    });

    let module_doc = format!(
        "The `repr(C)` root module of the [`{trait_name_str}`] interface: one `extern \"C\"` \
         function per trait function. Hosts use [`{module_ref}`]."
    );
    let ref_doc = format!(
        "A loaded [`{trait_name_str}`] plugin's root module: call its functions through the \
         methods of this handle. Each returns `Err(CallError)` instead of unwinding."
    );
    let impl_doc = format!(
        "Builds the root module from an implementation of [`{trait_name_str}`] linked into this \
         process, without loading a library: for tests and benchmarks."
    );

    Ok(quote! {
        #input

        #[doc = #module_doc]
        #[repr(C)]
        #[derive(::abi_stable::StableAbi)]
        #[sabi(kind(Prefix(
            prefix_ref = #module_ref,
            prefix_fields = #module_prefix,
            prefix_ref_docs = #ref_doc,
        )))]
        #[sabi(missing_field(option))]
        #[allow(missing_docs, non_camel_case_types)]
        #vis struct #module {
            on_load_: extern "C" fn() -> ::xplug::CallResult<
                ::xplug::__private::abi_stable::std_types::RResult<
                    (),
                    ::xplug::__private::abi_stable::std_types::RString,
                >,
            >,
            take_panic_: extern "C" fn() -> ::xplug::PluginPanic,
            #(#fields)*
        }

        #[allow(clippy::needless_lifetimes)]
        impl #module_ref {
            #(#wrappers)*

            #[doc = #impl_doc]
            pub fn implemented_by<T: #trait_ident>() -> Self {
                ::xplug::__private::install_hook();
                #shim::<T>::MODULE
            }
        }

        // SAFETY: `INTERFACE_NAME` and `INTERFACE_VERSION` are this interface's; `on_load` calls the plugin's hook.
        unsafe impl ::xplug::Interface for #module_ref {
            const INTERFACE_NAME: &'static str = #name;
            const INTERFACE_VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");

            fn on_load(self) -> ::core::result::Result<(), ::xplug::LoadHookError> {
                ::xplug::__private::on_load_outcome((self.on_load_())(), self.take_panic_())
            }
        }

        impl ::xplug::__private::abi_stable::library::RootModule for #module_ref {
            ::xplug::__private::abi_stable::declare_root_module_statics! {#module_ref}
            const BASE_NAME: &'static str = #name;
            const NAME: &'static str = #name;
            const VERSION_STRINGS: ::xplug::__private::abi_stable::sabi_types::VersionStrings =
                ::xplug::__private::abi_stable::sabi_types::VersionStrings::new(
                    ::core::env!("CARGO_PKG_VERSION"),
                );
        }

        /// The `extern "C"` shims a plugin exports: each runs the plugin's function and
        /// contains its panics.
        #[doc(hidden)]
        #vis struct #shim<T>(::core::marker::PhantomData<fn() -> T>);

        #[allow(clippy::needless_lifetimes)]
        impl<T: #trait_ident> #shim<T> {
            extern "C" fn on_load() -> ::xplug::CallResult<
                ::xplug::__private::abi_stable::std_types::RResult<
                    (),
                    ::xplug::__private::abi_stable::std_types::RString,
                >,
            > {
                ::xplug::__private::install_hook();
                ::xplug::__private::guard(|| {
                    ::xplug::__private::on_load_result(<T as #trait_ident>::on_load())
                })
            }

            extern "C" fn take_panic() -> ::xplug::PluginPanic {
                ::xplug::__private::take_panic()
            }

            #(#shim_fns)*

            ::xplug::__private::abi_stable::staticref! {
                const WM: ::xplug::__private::abi_stable::prefix_type::WithMetadata<#module> =
                    ::xplug::__private::abi_stable::prefix_type::WithMetadata::new(#module {
                        on_load_: Self::on_load,
                        take_panic_: Self::take_panic,
                        #(#shim_inits)*
                    })
            }

            const MODULE: #module_ref = #module_ref(Self::WM.as_prefix());

            fn module() -> #module_ref {
                Self::MODULE
            }

            extern "C" fn root_module_loader() -> ::xplug::__private::abi_stable::library::RootModuleResult {
                ::xplug::__private::abi_stable::library::__call_root_module_loader(Self::module)
            }
        }
    })
}

fn parse_function(method: &mut TraitItemMethod) -> syn::Result<Function> {
    let sig = &method.sig;
    if method.default.is_some() {
        return Err(Error::new(
            method.span(),
            "interface functions have no default body: each plugin implements them",
        ));
    }
    if sig.asyncness.is_some()
        || sig.unsafety.is_some()
        || sig.abi.is_some()
        || sig.constness.is_some()
        || sig.variadic.is_some()
        || !sig.generics.params.is_empty()
    {
        return Err(Error::new(
            sig.span(),
            "interface functions are plain `fn name(args) -> T`: no async, unsafe, extern, \
             const or generics",
        ));
    }
    let mut arg_names = Vec::new();
    let mut arg_types = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                return Err(Error::new(
                    r.span(),
                    "interface functions take no `self`: a plugin's state lives in the plugin",
                ))
            }
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    arg_names.push(pi.ident.clone());
                    arg_types.push((*pt.ty).clone());
                }
                other => {
                    return Err(Error::new(
                        other.span(),
                        "interface function arguments must be plain names",
                    ))
                }
            },
        }
    }
    let ret = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let mut since = None;
    let mut docs = Vec::new();
    let mut kept = Vec::new();
    for attr in method.attrs.drain(..) {
        if attr.path.is_ident("xplug") {
            since = Some(parse_since(&attr)?);
        } else {
            if attr.path.is_ident("doc") {
                docs.push(attr.clone());
            }
            kept.push(attr);
        }
    }
    method.attrs = kept;
    let ident = sig.ident.clone();
    Ok(Function {
        field: Ident::new(&format!("{}_", ident), Span::call_site()),
        ident,
        docs,
        arg_names,
        arg_types,
        ret,
        since,
    })
}

/// Parses `#[xplug(since = "1.1")]`.
fn parse_since(attr: &Attribute) -> syn::Result<LitStr> {
    let err = || {
        Error::new(
            attr.span(),
            "expected `#[xplug(since = \"MAJOR.MINOR\")]` on a function appended in a minor version",
        )
    };
    match attr.parse_meta()? {
        Meta::List(list) if list.nested.len() == 1 => match list.nested.first() {
            Some(NestedMeta::Meta(Meta::NameValue(nv))) if nv.path.is_ident("since") => {
                match &nv.lit {
                    Lit::Str(s) if !s.value().is_empty() => Ok(s.clone()),
                    _ => Err(err()),
                }
            }
            _ => Err(err()),
        },
        _ => Err(err()),
    }
}
