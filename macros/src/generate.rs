//! Writing the code of a checked interface: the trait's additions, the `repr(C)` root module,
//! the host's handle and the plugin's `extern "C"` shims.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::layout::{function_field, Layout, Names, Page};
use crate::parse::{appended_doc, call_through, Function, Interface};

/// Everything `#[xplug::interface]` expands to.
pub(crate) fn interface(mut interface: Interface) -> TokenStream {
    let trait_ident = interface.item.ident.clone();
    let names = Names {
        module: format_ident!("{}Module", trait_ident),
        module_ref: format_ident!("{}Ref", trait_ident),
        module_prefix: format_ident!("{}Module_Prefix", trait_ident),
        shim: format_ident!("__Xplug{}Shim", trait_ident),
        name: match &interface.name {
            Some(lit) => quote!(#lit),
            None => quote!(::core::env!("CARGO_PKG_NAME")),
        },
        host: match &interface.host {
            Some(path) => {
                let mut path = path.clone();
                if let Some(last) = path.segments.last_mut() {
                    last.ident = format_ident!("{}Box", last.ident);
                }
                quote!(#path)
            }
            None => quote!(::xplug::NoHost),
        },
        host_static: format_ident!("__XPLUG_{}_HOST", trait_ident.to_string().to_uppercase()),
        proxy: format_ident!("__Xplug{}Proxy", trait_ident),
        vis: interface.item.vis.clone(),
        trait_ident,
    };
    extend_trait(&mut interface, &names);
    let item = &interface.item;
    let host_static = &names.host_static;
    let host = &names.host;
    let host_slot = interface.host.as_ref().map(|_| {
        quote! {
            /// Where a plugin keeps the services of the host that loaded it (written only by
            /// the load shim).
            static #host_static: ::core::sync::atomic::AtomicPtr<#host> =
                ::core::sync::atomic::AtomicPtr::new(::core::ptr::null_mut());
        }
    });
    let module = root_module(&interface, &names);
    let handle = host_handle(&interface, &names);
    let shims = plugin_shims(&interface, &names);
    let proxy = crate::isolate::proxy(&interface, &names, &Layout::of(&interface, &names));
    let checks = if interface.isolated {
        let signatures = interface
            .functions
            .iter()
            .map(|f| (f.arg_types.as_slice(), &f.ret));
        crate::isolate::crossing_checks(signatures).unwrap_or_else(|e| e.to_compile_error())
    } else {
        quote!()
    };
    quote! {
        #item
        #host_slot
        #module
        #handle
        #shims
        #proxy
        #checks
    }
}

/// The hooks every interface trait provides, with a default body each.
pub(crate) const HOOKS: &[&str] = &["on_load", "save_state", "restore_state", "on_unload"];

/// The hook `name` of [`HOOKS`] with its default body and no documentation: the fallback
/// expansion's, so that an `impl` overriding it compiles while another error is shown.
pub(crate) fn hook(name: &str) -> syn::TraitItem {
    match name {
        "save_state" => syn::parse_quote! {
            fn save_state() -> ::core::option::Option<::std::vec::Vec<u8>> {
                ::core::option::Option::None
            }
        },
        "restore_state" => syn::parse_quote! {
            fn restore_state(state: &[u8]) -> ::core::result::Result<(), ::std::string::String> {
                let _ = state;
                ::core::result::Result::Ok(())
            }
        },
        _ => {
            let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
            syn::parse_quote! {
                fn #ident() -> ::core::result::Result<(), ::std::string::String> {
                    ::core::result::Result::Ok(())
                }
            }
        }
    }
}

/// The trait the plugin implements: the user's functions plus the load hook and the constants
/// that `export_plugin!` reads.
fn extend_trait(interface: &mut Interface, names: &Names) {
    let Names {
        trait_ident,
        module_ref,
        shim,
        host,
        host_static,
        ..
    } = names;
    if interface.host.is_some() {
        interface.item.items.push(syn::parse_quote! {
            /// The services of the host that loaded this plugin, from its `on_load` hook on.
            /// `None` in a process where no host loaded it (an in-process test through
            /// `implemented_by`) or when the host handed none to its loader.
            fn host() -> ::core::option::Option<&'static #host> {
                // SAFETY: only the load shim stores here, a `&'static` handed by the host.
                unsafe { #host_static.load(::core::sync::atomic::Ordering::Acquire).as_ref() }
            }
        });
    }
    let item = &mut interface.item;
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Sized));
    item.supertraits.push(syn::parse_quote!('static));
    let on_load_doc = format!(
        "Runs once when a host has accepted this plugin, before any other function of \
         `{trait_ident}` is called. Return an error to refuse loading; a panic is contained \
         and reported to the host as well. The default does nothing."
    );
    item.items.push(syn::parse_quote! {
        #[doc = #on_load_doc]
        fn on_load() -> ::core::result::Result<(), ::std::string::String> {
            ::core::result::Result::Ok(())
        }
    });
    item.items.push(syn::parse_quote! {
        /// Called on a plugin about to be replaced by a newer version of its file under a
        /// live handle (hot reload): the bytes returned go to the successor's
        /// `restore_state`. The live handle calls it once every call made through it on this
        /// version has returned, and holds new calls until the successor has the state, so
        /// no update of those calls is lost. Not waited for: calls through a plugin handle
        /// cloned from it, methods of objects this version made, and its own threads. The
        /// default hands over nothing.
        fn save_state() -> ::core::option::Option<::std::vec::Vec<u8>> {
            ::core::option::Option::None
        }
    });
    item.items.push(syn::parse_quote! {
        /// Called on a newer version of a plugin after its `on_load`, before a live handle
        /// sends it any call, with the bytes its predecessor's `save_state` returned (they may come from an
        /// older or newer version: check them). An error refuses the new version, and the old
        /// one keeps serving. The default ignores them.
        fn restore_state(state: &[u8]) -> ::core::result::Result<(), ::std::string::String> {
            let _ = state;
            ::core::result::Result::Ok(())
        }
    });
    item.items.push(syn::parse_quote! {
        /// Runs when the host unloads this plugin (its last handle goes, by `Plugin::unload`
        /// or a live handle's `unload_retired`), before its library is closed: stop the
        /// threads it started, give back what it registered, flush what it keeps. Return an
        /// error to refuse (the plugin stays loaded and keeps serving); a panic is contained
        /// and refuses too. It runs on a thread of its own; the host waits for it at most its
        /// unload wait (1 second unless the host sets another), and keeps the library loaded
        /// at least until it returns. After a refusal, a panic or a hook that outlasted the
        /// wait, the plugin stays loaded and may be called again (also while a slow hook still
        /// runs). If the system keeps the library mapped and the host loads it again,
        /// `on_load` runs again first. The default does nothing.
        fn on_unload() -> ::core::result::Result<(), ::std::string::String> {
            ::core::result::Result::Ok(())
        }
    });
    item.items.push(syn::parse_quote! {
        #[doc(hidden)]
        const __XPLUG_INTERFACE_NAME: &'static str =
            <#module_ref as ::xplug::Interface>::INTERFACE_NAME;
    });
    item.items.push(syn::parse_quote! {
        #[doc(hidden)]
        const __XPLUG_INTERFACE_VERSION: &'static str =
            <#module_ref as ::xplug::Interface>::INTERFACE_VERSION;
    });
    item.items.push(syn::parse_quote! {
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
}

/// The `repr(C)` prefix-type root module, its `Interface` and abi_stable `RootModule` impls.
fn root_module(interface: &Interface, names: &Names) -> TokenStream {
    let Names {
        trait_ident,
        module,
        module_ref,
        module_prefix,
        name,
        host,
        ..
    } = names;
    let vis = &interface.item.vis;
    let layout = Layout::of(interface, names);
    let fields = layout.root_fields(interface);
    let isolation = crate::isolate::interface_methods(interface, names, &layout);
    let pages = layout.pages.iter().map(|page| {
        let Page {
            ident,
            ident_ref,
            functions,
            ..
        } = page;
        let ident_prefix = format_ident!("{}_Prefix", ident);
        let doc = format!(
            "Functions {} to {} of the [`{trait_ident}`] interface's root module.",
            functions.start + 1,
            functions.end
        );
        let last_prefix = page.last_prefix(interface);
        let fields = interface.functions[functions.clone()]
            .iter()
            .enumerate()
            .map(|(i, f)| function_field(f, i == last_prefix));
        quote! {
            #[doc = #doc]
            #[doc(hidden)]
            #[repr(C)]
            #[derive(::abi_stable::StableAbi)]
            #[sabi(kind(Prefix(prefix_ref = #ident_ref, prefix_fields = #ident_prefix)))]
            #[sabi(missing_field(option))]
            #[allow(missing_docs, non_camel_case_types)]
            #vis struct #ident {
                #(#fields)*
            }
        }
    });
    let module_doc = format!(
        "The `repr(C)` root module of the [`{trait_ident}`] interface: one `extern \"C\"` \
         function per trait function. Hosts use [`{module_ref}`]."
    );
    let ref_doc = format!(
        "A loaded [`{trait_ident}`] plugin's root module: call its functions through the \
         methods of this handle. Each returns `Err(CallError)` instead of unwinding."
    );
    quote! {
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
            on_load_: extern "C" fn(
                ::xplug::__private::CallContext,
                ::xplug::__private::HostLinkRef,
                ::core::option::Option<&'static #host>,
            ) -> ::xplug::__private::CallResult<::xplug::__private::HookResult>,
            xplug_: ::xplug::__private::PluginEntriesRef,
            context_: ::xplug::__private::CallContext,
            #(#fields)*
        }

        #(#pages)*

        // SAFETY: `INTERFACE_NAME` and `INTERFACE_VERSION` are this interface's; `__on_load`
        // calls the plugin's hook.
        unsafe impl ::xplug::Interface for #module_ref {
            const INTERFACE_NAME: &'static str = #name;
            const INTERFACE_VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");

            type Host = #host;

            unsafe fn __on_load(
                self,
                host: ::core::option::Option<&'static #host>,
            ) -> ::core::result::Result<(), ::xplug::__private::LoadHookError> {
                ::xplug::__private::hook_outcome(
                    (self.on_load_())(self.context_(), ::xplug::__private::host_link(), host),
                    self.__runtime(),
                )
            }

            fn __runtime(self) -> ::xplug::__private::PluginRuntime {
                ::xplug::__private::PluginRuntime::new(self.xplug_(), self.context_())
            }

            unsafe fn __save_state(
                self,
            ) -> ::core::result::Result<
                ::core::option::Option<::std::vec::Vec<u8>>,
                ::xplug::__private::LoadHookError,
            > {
                ::xplug::__private::save_state_outcome(
                    (self.xplug_().save_state())(self.context_()),
                    self.__runtime(),
                )
            }

            unsafe fn __restore_state(
                self,
                state: &[u8],
            ) -> ::core::result::Result<(), ::xplug::__private::LoadHookError> {
                ::xplug::__private::hook_outcome(
                    (self.xplug_().restore_state())(self.context_(), state.into()),
                    self.__runtime(),
                )
            }

            unsafe fn __on_unload(
                self,
            ) -> ::core::result::Result<(), ::xplug::__private::LoadHookError> {
                ::xplug::__private::hook_outcome(
                    (self.xplug_().on_unload())(self.context_()),
                    self.__runtime(),
                )
            }

            #isolation
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

        impl #module_ref {
            /// The layout description of this interface, as `xplug abi-dump` writes it.
            #[doc(hidden)]
            pub fn __xplug_abi_dump(
            ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                ::xplug::__private::describe::describe(
                    <Self as ::xplug::__private::abi_stable::StableAbi>::LAYOUT,
                    <Self as ::xplug::Interface>::INTERFACE_NAME,
                    <Self as ::xplug::Interface>::INTERFACE_VERSION,
                )
            }
        }
    }
}

/// The host's handle: one method per function, returning `Result<_, CallError>`, and
/// `implemented_by` for in-process use.
fn host_handle(interface: &Interface, names: &Names) -> TokenStream {
    let Names {
        trait_ident,
        module_ref,
        shim,
        ..
    } = names;
    let layout = Layout::of(interface, names);
    let methods = interface
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| host_method(f, layout.accessor(interface, i)));
    let impl_doc = format!(
        "Builds the root module from an implementation of [`{trait_ident}`] linked into this \
         process, without loading a library: for tests and benchmarks."
    );
    quote! {
        #[allow(clippy::needless_lifetimes)]
        impl #module_ref {
            #(#methods)*

            #[doc = #impl_doc]
            pub fn implemented_by<T: #trait_ident>() -> Self {
                ::xplug::__private::install_hook();
                #shim::<T>::MODULE
            }
        }
    }
}

/// One method of the host's handle: the call, and the conversion of a contained panic or an
/// absent appended function into a `CallError`.
fn host_method(f: &Function, get: TokenStream) -> TokenStream {
    let Function {
        ident,
        docs,
        arg_names,
        arg_types,
        ret,
        since,
        ..
    } = f;
    let fn_name = ident.to_string();
    let call = quote! {
        match __xplug_fn(self.context_(), #(#arg_names),*) {
            ::xplug::__private::abi_stable::std_types::RResult::ROk(value) => {
                ::core::result::Result::Ok(value)
            }
            ::xplug::__private::abi_stable::std_types::RResult::RErr(_) => {
                ::core::result::Result::Err(::xplug::__private::panicked_in(
                    #fn_name,
                    self.xplug_(),
                    self.context_(),
                ))
            }
        }
    };
    let body = call_through(
        get,
        &format_ident!("__xplug_fn"),
        call,
        &fn_name,
        since.as_ref(),
    );
    let missing_doc = since
        .as_ref()
        .map(|since| appended_doc(since, "a plugin built against an older version"));
    match &f.output {
        None => quote! {
            #(#docs)*
            #missing_doc
            #[inline]
            pub fn #ident(self, #(#arg_names: #arg_types),*)
                -> ::core::result::Result<#ret, ::xplug::CallError>
            {
                #body
            }
        },
        // The call makes the plugin's future; the host's future polls it.
        Some(output) => {
            let future = output.call_future(quote!('static));
            let make = output.call_future_path();
            quote! {
            #(#docs)*
            #missing_doc
            #[inline]
            pub fn #ident(self, #(#arg_names: #arg_types),*) -> #future {
                let __xplug_call: ::core::result::Result<#ret, ::xplug::CallError> = { #body };
                #make::new(
                    __xplug_call,
                    #fn_name,
                    ::core::option::Option::Some(::xplug::__private::PluginRuntime::new(
                        self.xplug_(),
                        self.context_(),
                    )),
                )
            }
            }
        }
    }
}

/// The plugin side: a generic struct whose associated `extern "C"` functions run an
/// implementation of the trait under the panic guard, and the static module built from them.
fn plugin_shims(interface: &Interface, names: &Names) -> TokenStream {
    let Names {
        trait_ident,
        module,
        module_ref,
        shim,
        host,
        host_static,
        ..
    } = names;
    let vis = &interface.item.vis;
    let keep_host = interface.host.as_ref().map(|_| {
        quote! {
            if let ::core::option::Option::Some(host) = host {
                #host_static.store(
                    host as *const #host as *mut #host,
                    ::core::sync::atomic::Ordering::Release,
                );
            }
        }
    });
    let shim_fns = interface.functions.iter().map(|f| {
        let Function {
            ident,
            arg_names,
            arg_types,
            ret,
            ..
        } = f;
        let call = quote!(<T as #trait_ident>::#ident(#(#arg_names),*));
        let value = match &f.output {
            None => call,
            Some(output) => {
                let ffi = output.ffi_path();
                quote!(#ffi::new(#call))
            }
        };
        quote! {
            extern "C" fn #ident(_: ::xplug::__private::CallContext, #(#arg_names: #arg_types),*)
                -> ::xplug::__private::CallResult<#ret>
            {
                ::xplug::__private::guard(move || #value)
            }
        }
    });
    let layout = Layout::of(interface, names);
    let owner = quote!(Self);
    let shim_inits = layout.direct_inits(interface, &owner);
    let page_statics = layout.pages.iter().map(|page| page.static_item(interface));
    let page_fields = layout.pages.iter().map(|page| page.module_field(&owner));
    quote! {
        /// The `extern "C"` shims a plugin exports: each runs the plugin's function and
        /// contains its panics.
        #[doc(hidden)]
        #vis struct #shim<T>(::core::marker::PhantomData<fn() -> T>);

        #[allow(clippy::needless_lifetimes)]
        impl<T: #trait_ident> #shim<T> {
            extern "C" fn on_load(
                _: ::xplug::__private::CallContext,
                link: ::xplug::__private::HostLinkRef,
                host: ::core::option::Option<&'static #host>,
            ) -> ::xplug::__private::CallResult<::xplug::__private::HookResult> {
                ::xplug::__private::install_hook();
                ::xplug::__private::connect(link);
                let _ = host;
                #keep_host
                ::xplug::__private::guard(|| {
                    ::xplug::__private::hook_result(<T as #trait_ident>::on_load())
                })
            }

            extern "C" fn save_state(
                _: ::xplug::__private::CallContext,
            ) -> ::xplug::__private::CallResult<::xplug::__private::SavedState> {
                ::xplug::__private::guard(|| {
                    ::xplug::__private::save_state_result(<T as #trait_ident>::save_state())
                })
            }

            extern "C" fn restore_state(
                _: ::xplug::__private::CallContext,
                state: ::xplug::__private::abi_stable::std_types::RSlice<'_, u8>,
            ) -> ::xplug::__private::CallResult<::xplug::__private::HookResult> {
                ::xplug::__private::guard(move || {
                    ::xplug::__private::hook_result(
                        <T as #trait_ident>::restore_state(state.as_slice()),
                    )
                })
            }

            extern "C" fn on_unload(
                _: ::xplug::__private::CallContext,
            ) -> ::xplug::__private::CallResult<::xplug::__private::HookResult> {
                ::xplug::__private::guard(|| {
                    ::xplug::__private::hook_result(<T as #trait_ident>::on_unload())
                })
            }

            #(#shim_fns)*

            ::xplug::__private::abi_stable::staticref! {
                const ENTRIES: ::xplug::__private::abi_stable::prefix_type::WithMetadata<
                    ::xplug::__private::PluginEntries,
                > = ::xplug::__private::abi_stable::prefix_type::WithMetadata::new(
                    ::xplug::__private::PluginEntries {
                        take_panic: ::xplug::__private::take_panic_entry,
                        live_objects: ::xplug::__private::live_objects_entry,
                        set_log_level: ::xplug::__private::set_log_level_entry,
                        save_state: Self::save_state,
                        restore_state: Self::restore_state,
                        on_unload: Self::on_unload,
                    },
                )
            }

            #(#page_statics)*

            ::xplug::__private::abi_stable::staticref! {
                const WM: ::xplug::__private::abi_stable::prefix_type::WithMetadata<#module> =
                    ::xplug::__private::abi_stable::prefix_type::WithMetadata::new(#module {
                        on_load_: Self::on_load,
                        xplug_: ::xplug::__private::PluginEntriesRef(Self::ENTRIES.as_prefix()),
                        context_: ::xplug::__private::CallContext::NONE,
                        #shim_inits
                        #(#page_fields)*
                    })
            }

            const MODULE: #module_ref = #module_ref(Self::WM.as_prefix());

            fn module() -> #module_ref {
                Self::MODULE
            }

            extern "C" fn root_module_loader()
                -> ::xplug::__private::abi_stable::library::RootModuleResult
            {
                ::xplug::__private::abi_stable::library::__call_root_module_loader(Self::module)
            }
        }
    }
}
