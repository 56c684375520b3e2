//! Writing an interface's two ends of a call to an isolated plugin: the host's *proxy* (a root
//! module whose functions send their call over a channel) and the child's *server* (which
//! answers one call through the plugin's handle). See `xplug::__private::isolation`.

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::Type;

use crate::generate::{Layout, Names, Page};
use crate::parse::{Function, Interface};

/// The path of the isolation runtime in generated code.
fn runtime() -> TokenStream {
    quote!(::xplug::__private::isolation)
}

/// The traits whose methods the probes use, brought into a generated body.
fn probes_in_scope() -> TokenStream {
    let rt = runtime();
    quote! {
        #[allow(unused_imports)]
        use #rt::{ViaFromWire as _, ViaNothing as _, ViaNothingFrom as _, ViaWire as _};
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

/// The proxy struct: an `extern "C"` function per interface function, the `on_load` entry
/// (the child ran the hook already), and the pages of the module.
pub(crate) fn proxy(interface: &Interface, names: &Names, layout: &Layout) -> TokenStream {
    let Names {
        proxy, host, vis, ..
    } = names;
    let rt = runtime();
    let probes = probes_in_scope();
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
                quote!((&#rt::Probe::<#ret>::new()).gap()),
                quote!((&#rt::Probe::<#ret>::new()).get(input)),
            )
        };
        quote! {
            extern "C" fn #ident(
                context: ::xplug::__private::CallContext,
                #(#arg_names: #arg_types),*
            ) -> ::xplug::__private::CallResult<#ret> {
                #probes
                // What cannot cross is refused before anything is sent.
                let gap = ::core::option::Option::None
                    #(.or((&#rt::Probe::<#arg_types>::new()).gap()))*
                    .or(#ret_gap);
                if let ::core::option::Option::Some(type_name) = gap {
                    return #rt::fail(::xplug::CallErrorKind::CannotCross { type_name });
                }
                #rt::call(
                    context,
                    #index,
                    #since,
                    |out| {
                        #( (&#rt::Probe::<#arg_types>::new()).put(&#arg_names, out)?; )*
                        let _ = out;
                        ::core::result::Result::Ok(())
                    },
                    |input| {
                        let _ = &input;
                        #ret_get
                    },
                )
            }
        }
    });
    let pages = layout.pages.iter().map(|page| {
        let Page {
            ident,
            static_ident,
            functions,
            ..
        } = page;
        let inits = interface.functions[functions.clone()].iter().map(|f| {
            let Function { ident, field, .. } = f;
            quote!(#field: Self::#ident,)
        });
        quote! {
            ::xplug::__private::abi_stable::staticref! {
                const #static_ident: ::xplug::__private::abi_stable::prefix_type::WithMetadata<#ident> =
                    ::xplug::__private::abi_stable::prefix_type::WithMetadata::new(#ident {
                        #(#inits)*
                    })
            }
        }
    });
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
    let probes = probes_in_scope();
    let direct = interface.functions[..layout.direct].iter().map(|f| {
        let Function { ident, field, .. } = f;
        quote!(#field: #proxy::#ident,)
    });
    let pages = layout.pages.iter().map(|page| {
        let Page {
            ident_ref,
            field,
            static_ident,
            ..
        } = page;
        quote!(#field: #ident_ref(#proxy::#static_ident.as_prefix()),)
    });
    let arms = interface.functions.iter().enumerate().map(|(i, f)| {
        let Function {
            ident,
            arg_names,
            arg_types,
            ret,
            ..
        } = f;
        let index = i as u32;
        quote! {
            #index => {
                #( let #arg_names: #arg_types = (&#rt::Probe::<#arg_types>::new()).get(&mut input)?; )*
                input.finish()?;
                #rt::serve_result(self.#ident(#(#arg_names),*), out, |value, out| {
                    (&#rt::Probe::<#ret>::new()).put(value, out)
                })
            }
        }
    });
    quote! {
        fn __isolated(proxy: &'static #rt::Proxy) -> Self {
            let module = #module {
                on_load_: #proxy::on_load,
                xplug_: #rt::Proxy::entries(),
                context_: proxy.context(),
                #(#direct)*
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
            function: u32,
            args: &[u8],
            out: &mut ::std::vec::Vec<u8>,
        ) -> ::core::result::Result<(), ::xplug::wire::WireError> {
            #probes
            let mut input = ::xplug::wire::Input::new(args);
            match function {
                #(#arms)*
                _ => {
                    let _ = (&mut input, out);
                    ::core::result::Result::Err(::xplug::wire::WireError::Invalid {
                        what: "function number",
                    })
                }
            }
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
}
