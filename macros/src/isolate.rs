//! Writing an interface's two ends of a call to an isolated plugin: the host's *proxy* (a root
//! module whose functions send their call over a channel) and the child's *server* (which
//! answers one call through the plugin's handle). See `xplug::__private::isolation`.

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::Type;

use crate::layout::{Layout, Names};
use crate::parse::{Function, Interface};

/// What an isolated plugin cannot serve yet: an `async fn`'s future.
const ASYNC: &str = "the future of an `async fn`";

/// The path of the isolation runtime in generated code.
fn runtime() -> TokenStream {
    quote!(::xplug::__private::isolation)
}

/// The traits whose methods the probes use, brought into a generated body.
fn probes_in_scope() -> TokenStream {
    let rt = runtime();
    quote! {
        #[allow(unused_imports)]
        use #rt::{
            ViaFromWire as _, ViaNothing as _, ViaNothingFrom as _, ViaObject as _, ViaWire as _,
        };
    }
}

/// Whether a return type borrows (a reference or a lifetime): a value decoded in the host
/// cannot borrow from the message it came in, so such a type does not cross.
fn borrows(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            // `&`, or the quote that starts a lifetime.
            TokenTree::Punct(p) => p.as_char() == '&' || p.as_char() == '\'',
            TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// Whether a parameter type names a lifetime (`RStr<'static>`): the child decodes it from a
/// message that lives for the call only, so it cannot cross. (`'_` and elided lifetimes are
/// the call's own.)
fn names_lifetime(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        let mut quote = false;
        for token in tokens {
            match token {
                TokenTree::Punct(p) if p.as_char() == '\'' => quote = true,
                TokenTree::Ident(i) if quote && i != "_" => return true,
                TokenTree::Group(g) if walk(g.stream()) => return true,
                _ => quote = false,
            }
        }
        false
    }
    walk(ty.to_token_stream())
}

/// A parameter's type as it crosses: a value, or a borrow (`&T`, `&mut T` without a named
/// lifetime) lent for the call.
enum Param<'a> {
    Value,
    Lent { inner: &'a Type, mutable: bool },
}

fn param(ty: &Type) -> Param<'_> {
    match ty {
        Type::Reference(r) if r.lifetime.as_ref().map_or(true, |l| l.ident == "_") => Param::Lent {
            inner: &r.elem,
            mutable: r.mutability.is_some(),
        },
        _ => Param::Value,
    }
}

/// How generated code asks whether a parameter's type crosses: `None`, or its name.
fn arg_gap(ty: &Type) -> TokenStream {
    let rt = runtime();
    if let Param::Lent { inner, mutable } = param(ty) {
        if !names_lifetime(inner) {
            // Lent, the child decodes what it borrows.
            return if mutable {
                quote! {
                    (&#rt::Probe::<#inner>::new())
                        .lend_mut_gap()
                        .or((&#rt::Probe::<#inner>::new()).decode_gap())
                }
            } else {
                quote! {
                    (&#rt::Probe::<#inner>::new())
                        .lend_gap()
                        .or((&#rt::Probe::<#inner>::new()).decode_gap())
                }
            };
        }
    }
    if names_lifetime(ty) {
        let name = ty.to_token_stream().to_string();
        quote!(::core::option::Option::Some(#name))
    } else {
        quote! {
            (&#rt::Probe::<#ty>::new())
                .arg_gap()
                .or((&#rt::Probe::<#ty>::new()).decode_gap())
        }
    }
}

/// The body of a function that forwards a call over the channel: refuses what cannot cross,
/// then hands `call` (a path to `isolation::call` or `object_call`) its first arguments
/// `target`, the encoder of the arguments and the decoder of the answer.
pub(crate) fn forward(
    arg_names: &[syn::Ident],
    arg_types: &[Type],
    ret: &Type,
    call: TokenStream,
    target: TokenStream,
) -> TokenStream {
    let rt = runtime();
    let probes = probes_in_scope();
    let (ret_gap, ret_get) = if borrows(ret) {
        let name = ret.to_token_stream().to_string();
        (
            quote!(::core::option::Option::Some(#name)),
            quote!(::core::result::Result::Err(::xplug::wire::WireError::CannotCross {
                type_name: #name,
            })),
        )
    } else {
        (
            quote! {
                (&#rt::Probe::<#ret>::new())
                    .gap()
                    .or((&#rt::Probe::<#ret>::new()).decode_gap())
            },
            quote!((&#rt::Probe::<#ret>::new()).get(__xplug_input)),
        )
    };
    let arg_gaps = arg_types.iter().map(arg_gap);
    let puts = arg_names
        .iter()
        .zip(arg_types)
        .map(|(name, ty)| match param(ty) {
            Param::Lent {
                inner,
                mutable: true,
            } => quote!((&#rt::Probe::<#inner>::new()).lend_mut(#name, __xplug_out)?;),
            Param::Lent {
                inner,
                mutable: false,
            } => quote!((&#rt::Probe::<#inner>::new()).lend(#name, __xplug_out)?;),
            Param::Value => quote!((&#rt::Probe::<#ty>::new()).put(&#name, __xplug_out)?;),
        });
    quote! {
        #probes
        // What cannot cross is refused before anything is sent.
        let __xplug_gap = ::core::option::Option::None
            #(.or(#arg_gaps))*
            .or(#ret_gap);
        if let ::core::option::Option::Some(type_name) = __xplug_gap {
            return #rt::fail(::xplug::CallErrorKind::CannotCross { type_name });
        }
        #call(
            #target
            |__xplug_out| {
                #(#puts)*
                let _ = __xplug_out;
                ::core::result::Result::Ok(())
            },
            |__xplug_input| {
                let _ = &__xplug_input;
                #ret_get
            },
        )
    }
}

/// The body of a proxy's function for an `async fn`, which an isolated plugin cannot serve
/// yet: the call fails with `CannotCross`, its arguments (and `first`, the context or the
/// object) dropped.
pub(crate) fn refuse_async(arg_names: &[syn::Ident], first: TokenStream) -> TokenStream {
    let rt = runtime();
    quote! {
        let _ = (#first, #(#arg_names),*);
        #rt::fail(::xplug::CallErrorKind::CannotCross { type_name: #ASYNC })
    }
}

/// The arm of a server's `match` for an `async fn` (the host refuses such a call before
/// sending it).
pub(crate) fn refuse_arm(index: u32) -> TokenStream {
    quote! {
        #index => ::core::result::Result::Err(::xplug::wire::WireError::CannotCross {
            type_name: #ASYNC,
        }),
    }
}

/// The body of a server's function: `__xplug_args` decoded by the arm of `arms` that
/// `__xplug_number` chooses, its answer written to `__xplug_out`; `what` names the number in
/// the error for one no arm serves.
pub(crate) fn dispatch(arms: impl Iterator<Item = TokenStream>, what: &str) -> TokenStream {
    let probes = probes_in_scope();
    quote! {
        #probes
        let mut __xplug_input = ::xplug::wire::Input::new(__xplug_args);
        match __xplug_number {
            #(#arms)*
            _ => {
                let _ = (&mut __xplug_input, __xplug_out);
                ::core::result::Result::Err(::xplug::wire::WireError::Invalid { what: #what })
            }
        }
    }
}

/// The arm of a server's `match` that serves call number `index`: decodes the arguments,
/// calls `method` (an expression of `self`) with them and encodes its result.
pub(crate) fn serve_arm(
    index: u32,
    arg_names: &[syn::Ident],
    arg_types: &[Type],
    ret: &Type,
    method: TokenStream,
) -> TokenStream {
    let rt = runtime();
    if let Some(ty) = arg_types.iter().find(|ty| names_lifetime(ty)) {
        // The host refuses such a call before sending it.
        let name = ty.to_token_stream().to_string();
        return quote! {
            #index => ::core::result::Result::Err(::xplug::wire::WireError::CannotCross {
                type_name: #name,
            }),
        };
    }
    let gets = arg_names.iter().zip(arg_types).map(|(name, ty)| {
        let get = |ty: &Type| quote!((&#rt::Probe::<#ty>::new()).get(&mut __xplug_input)?);
        match param(ty) {
            // A borrow decoded as what it borrows: a copy, or the handle of a lent object.
            Param::Lent { inner, mutable } => {
                let held = quote::format_ident!("__xplug_held_{}", name);
                let value = get(inner);
                if mutable {
                    quote!(let mut #held: #inner = #value; let #name: #ty = &mut #held;)
                } else {
                    quote!(let #held: #inner = #value; let #name: #ty = &#held;)
                }
            }
            Param::Value => {
                let value = get(ty);
                quote!(let #name: #ty = #value;)
            }
        }
    });
    quote! {
        #index => {
            #(#gets)*
            __xplug_input.finish()?;
            #rt::serve_result(#method(#(#arg_names),*), __xplug_out, |__xplug_value, __xplug_out| {
                (&#rt::Probe::<#ret>::new()).put_owned(__xplug_value, __xplug_out)
            })
        }
    }
}

/// The compile-time checks of an interface or object trait marked `isolated`: every parameter
/// and result of `signatures` must cross to an isolated plugin. What the attribute can tell
/// from the tokens (raw and function pointers, `impl` and `dyn` types, a parameter that names a
/// lifetime, a borrowed result) is an error here; every other type must implement the trait
/// that says it crosses, which the compiler checks at the type (`CrossesToIsolatedPlugin` and
/// its kin in `xplug::__private::isolation`).
pub(crate) fn crossing_checks<'a>(
    signatures: impl Iterator<Item = (&'a [Type], &'a Type)>,
) -> syn::Result<TokenStream> {
    struct Finder(Vec<syn::Error>);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type(&mut self, ty: &'ast Type) {
            let what = match ty {
                Type::Ptr(_) => Some("a raw pointer"),
                Type::BareFn(_) => Some("a function pointer"),
                Type::ImplTrait(_) => Some("an `impl` type"),
                Type::TraitObject(_) => Some("a `dyn` type"),
                _ => None,
            };
            match what {
                Some(what) => self.0.push(syn::Error::new_spanned(
                    ty,
                    format!(
                        "{what} cannot cross to an isolated plugin (the trait is `isolated`): \
                         values cross by copy, objects as handles"
                    ),
                )),
                None => syn::visit::visit_type(self, ty),
            }
        }
    }
    let rt = runtime();
    let mut finder = Finder(Vec::new());
    let mut checks = Vec::new();
    for (arg_types, ret) in signatures {
        for ty in arg_types.iter().chain(Some(ret)) {
            syn::visit::Visit::visit_type(&mut finder, ty);
        }
        for ty in arg_types {
            let span = syn::spanned::Spanned::span(ty);
            match param(ty) {
                Param::Lent { inner, .. } if names_lifetime(inner) => {
                    finder.0.push(syn::Error::new_spanned(
                        ty,
                        "a borrow that names a lifetime cannot cross to an isolated plugin (the \
                         trait is `isolated`): it would outlive the call",
                    ))
                }
                Param::Lent {
                    inner,
                    mutable: true,
                } => checks.push(quote::quote_spanned!(span=> #rt::lent_mut::<#inner>();)),
                Param::Lent { inner, .. } => {
                    checks.push(quote::quote_spanned!(span=> #rt::lent::<#inner>();))
                }
                Param::Value if names_lifetime(ty) => finder.0.push(syn::Error::new_spanned(
                    ty,
                    "a parameter that names a lifetime cannot cross to an isolated plugin (the \
                     trait is `isolated`): it would outlive the call; use `'_`",
                )),
                Param::Value => checks.push(quote::quote_spanned!(span=> #rt::crosses::<#ty>();)),
            }
        }
        let span = syn::spanned::Spanned::span(ret);
        if borrows(ret) {
            finder.0.push(syn::Error::new_spanned(
                ret,
                "a borrowed result cannot cross to an isolated plugin (the trait is \
                 `isolated`): return an owned value",
            ));
        } else {
            checks.push(quote::quote_spanned!(span=> #rt::returns::<#ret>();));
        }
    }
    let mut errors = finder.0.into_iter();
    if let Some(mut first) = errors.next() {
        for error in errors {
            first.combine(error);
        }
        return Err(first);
    }
    Ok(quote! {
        const _: () = {
            #[allow(dead_code)]
            fn __xplug_crosses_to_isolated_plugins() {
                #(#checks)*
            }
        };
    })
}

/// The proxy struct: an `extern "C"` function per interface function, the `on_load` entry
/// (the child ran the hook already), and the pages of the module.
pub(crate) fn proxy(interface: &Interface, names: &Names, layout: &Layout) -> TokenStream {
    let Names {
        proxy, host, vis, ..
    } = names;
    let rt = runtime();
    let functions = interface.functions.iter().enumerate().map(|(i, f)| {
        let Function {
            ident,
            arg_names,
            arg_types,
            ret,
            since,
            ..
        } = f;
        let index = i as u32;
        let since = since
            .as_ref()
            .map_or_else(|| quote!(""), |since| quote!(#since));
        let body = match &f.output {
            None => forward(
                arg_names,
                arg_types,
                ret,
                quote!(#rt::call),
                quote!(__xplug_context, #index, #since,),
            ),
            Some(_) => {
                let _ = since;
                refuse_async(arg_names, quote!(__xplug_context))
            }
        };
        quote! {
            extern "C" fn #ident(
                __xplug_context: ::xplug::__private::CallContext,
                #(#arg_names: #arg_types),*
            ) -> ::xplug::__private::CallResult<#ret> {
                // SAFETY: this function is only in modules `__isolated` made, whose context is
                // their proxy's.
                unsafe { #body }
            }
        }
    });
    let pages = layout.pages.iter().map(|page| page.static_item(interface));
    quote! {
        /// The host's side of an isolated plugin: each function sends its call to the
        /// plugin's process.
        #[doc(hidden)]
        #vis struct #proxy;

        #[allow(clippy::needless_lifetimes, clippy::let_unit_value)]
        impl #proxy {
            extern "C" fn on_load(
                _: ::xplug::__private::CallContext,
                _: ::xplug::__private::HostLinkRef,
                _: ::core::option::Option<&'static #host>,
            ) -> ::xplug::__private::CallResult<::xplug::__private::HookResult> {
                // The plugin's process ran the hook when it loaded the plugin.
                ::xplug::__private::abi_stable::std_types::RResult::ROk(
                    ::xplug::__private::abi_stable::std_types::RResult::ROk(()),
                )
            }

            #(#functions)*

            #(#pages)*
        }
    }
}

/// The `Interface` methods that make an isolated plugin's module and serve a call.
pub(crate) fn interface_methods(
    interface: &Interface,
    names: &Names,
    layout: &Layout,
) -> TokenStream {
    let Names {
        module,
        module_ref,
        proxy,
        ..
    } = names;
    let rt = runtime();
    let owner = quote!(#proxy);
    let direct = layout.direct_inits(interface, &owner);
    let pages = layout.pages.iter().map(|page| page.module_field(&owner));
    let arms = interface.functions.iter().enumerate().map(|(i, f)| {
        let Function {
            ident,
            arg_names,
            arg_types,
            ret,
            ..
        } = f;
        let index = i as u32;
        match &f.output {
            None => serve_arm(index, arg_names, arg_types, ret, quote!(self.#ident)),
            Some(_) => refuse_arm(index),
        }
    });
    let host_methods = match &interface.host {
        Some(_) => {
            let host = &names.host;
            quote! {
                fn __remote_host(
                    __xplug_proxy: &'static #rt::Proxy,
                ) -> ::core::option::Option<#host> {
                    #rt::remote_host::<#host>(__xplug_proxy)
                }

                fn __serve_host(
                    host: &#host,
                    method: u32,
                    args: &[u8],
                    out: &mut ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), ::xplug::wire::WireError> {
                    #rt::ServedObject::serve_shared(host, method, args, out)
                }
            }
        }
        None => quote! {
            fn __remote_host(
                _: &'static #rt::Proxy,
            ) -> ::core::option::Option<::xplug::NoHost> {
                ::core::option::Option::None
            }

            fn __serve_host(
                _: &::xplug::NoHost,
                _: u32,
                _: &[u8],
                _: &mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<(), ::xplug::wire::WireError> {
                ::core::result::Result::Err(::xplug::wire::WireError::Invalid {
                    what: "host services (the interface has none)",
                })
            }
        },
    };
    let body = dispatch(arms, "function number");
    quote! {
        #host_methods

        fn __isolated(__xplug_proxy: &'static #rt::Proxy) -> Self {
            let module = #module {
                on_load_: #proxy::on_load,
                xplug_: #rt::Proxy::entries(),
                context_: __xplug_proxy.context(),
                #direct
                #(#pages)*
            };
            // Kept for the life of the process, as the proxy is: copies of the handle may
            // outlive every `Plugin` (calls through them then fail, they do not dangle).
            let module: &'static _ = ::std::boxed::Box::leak(::std::boxed::Box::new(
                ::xplug::__private::abi_stable::prefix_type::WithMetadata::new(module),
            ));
            #module_ref(::xplug::__private::abi_stable::prefix_type::PrefixRef::from_ref(module))
        }

        #[allow(unused_mut, clippy::let_unit_value)]
        fn __serve(
            self,
            __xplug_number: u32,
            __xplug_args: &[u8],
            __xplug_out: &mut ::std::vec::Vec<u8>,
        ) -> ::core::result::Result<(), ::xplug::wire::WireError> {
            #body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::borrows;

    #[test]
    fn borrowed_return_types_are_told() {
        let ty = |s: &str| syn::parse_str::<syn::Type>(s).unwrap();
        assert!(borrows(&ty("RStr<'static>")));
        assert!(borrows(&ty("&'static str")));
        assert!(borrows(&ty("ROption<RStr<'a>>")));
        assert!(!borrows(&ty("RString")));
        assert!(!borrows(&ty("RVec<ROption<u64>>")));
    }

    #[test]
    fn named_lifetimes_in_parameters_are_told() {
        let ty = |s: &str| syn::parse_str::<syn::Type>(s).unwrap();
        assert!(super::names_lifetime(&ty("RStr<'static>")));
        assert!(super::names_lifetime(&ty("RSlice<'a, u8>")));
        assert!(!super::names_lifetime(&ty("RStr<'_>")));
        assert!(!super::names_lifetime(&ty("&mut CounterBox")));
        assert!(!super::names_lifetime(&ty("RVec<u8>")));
    }
}
