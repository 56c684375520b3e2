//! `#[xplug::object]`: a trait of `&self` / `&mut self` methods as an FFI-safe, layout-checked
//! object whose methods and drop run under the panic guard of the side that implemented it.
//!
//! For `trait Counter` it keeps the trait and adds `CounterVTable` (the `repr(C)` table of
//! `extern "C"` shims, part of every layout that mentions the object), `CounterBox` (the owned
//! handle: one method per trait method, each returning `Result<_, CallError>`) and the shims.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, Ident, ItemTrait, LitStr, TraitItemMethod, Type, TypeParamBound,
};

use crate::parse::{
    appended_doc, call_through, check_appended, check_crossing, check_plain, each_method,
    plain_args, return_type, take_attributes, AsyncOutput,
};

/// abi_stable's prefix types hold at most 64 fields: three are the table's own (`header_`,
/// `send_`, `sync_`), two are kept for later releases of the table.
const MAX_METHODS: usize = 59;

/// A checked object trait.
pub(crate) struct Object {
    item: ItemTrait,
    methods: Vec<Method>,
    send: bool,
    sync: bool,
    /// Whether every method must cross to an isolated plugin (`#[xplug::object(isolated)]`).
    isolated: bool,
}

/// One method.
struct Method {
    ident: Ident,
    /// The table's field for it: the method's name (the table's own fields end in `_`).
    field: Ident,
    docs: Vec<Attribute>,
    mutable: bool,
    arg_names: Vec<Ident>,
    arg_types: Vec<Type>,
    /// What the table's function returns: the declared type, or for an `async fn` the
    /// `FfiFuture` of it.
    ret: Type,
    /// For an `async fn`, its future's output and whether it is `Send`.
    output: Option<AsyncOutput>,
    /// The interface version that appended it, from `#[xplug(since = "..")]`.
    since: Option<LitStr>,
}

/// Parses the trait and checks the rules an object trait follows.
pub(crate) fn parse(attr: TokenStream, mut item: ItemTrait) -> syn::Result<Object> {
    let isolated = match syn::parse2::<Option<Ident>>(attr.clone()) {
        Ok(None) => false,
        Ok(Some(word)) if word == "isolated" => true,
        _ => {
            return Err(Error::new(
                attr.span(),
                "`#[xplug::object]` takes no arguments but `isolated`",
            ))
        }
    };
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(Error::new(
            item.generics.span(),
            "an xplug object trait cannot be generic",
        ));
    }
    let (mut send, mut sync) = (false, false);
    for bound in &item.supertraits {
        let name = match bound {
            TypeParamBound::Trait(t) => t.path.segments.last().map(|s| s.ident.to_string()),
            TypeParamBound::Lifetime(l) if l.ident == "static" => continue,
            TypeParamBound::Lifetime(_) => None,
        };
        match name.as_deref() {
            Some("Send") => send = true,
            Some("Sync") => sync = true,
            _ => {
                return Err(Error::new(
                    bound.span(),
                    "an xplug object trait may only require `Send` and `Sync`",
                ))
            }
        }
    }
    let methods = each_method(
        &mut item,
        "an xplug object trait holds only methods",
        method_of,
    )?;
    if methods.len() > MAX_METHODS {
        return Err(Error::new(
            item.ident.span(),
            format!(
                "an xplug object trait holds at most {} methods",
                MAX_METHODS
            ),
        ));
    }
    let items: Vec<(&Ident, bool)> = methods
        .iter()
        .map(|m| (&m.ident, m.since.is_some()))
        .collect();
    check_appended(
        &items,
        "the first version of an object trait cannot be appended: at least its first method \
         has no `#[xplug(since = \"..\")]`",
        "methods appended in a minor version (`#[xplug(since = \"..\")]`) must come after all \
         others: move this method before them",
    )?;
    if isolated {
        crate::parse::all_at_once(methods.iter().filter(|m| m.output.is_some()).map(|m| {
            Error::new(
                m.ident.span(),
                "an `async fn` cannot be served by an isolated plugin yet (the trait is \
                 `isolated`): make it a plain method",
            )
        }))?;
    }
    if let Some(m) = methods
        .iter()
        .find(|m| m.ident == "close" || m.ident == "new")
    {
        return Err(Error::new(
            m.ident.span(),
            "`new` and `close` are reserved: the object's handle provides them",
        ));
    }
    Ok(Object {
        item,
        methods,
        send,
        sync,
        isolated,
    })
}

fn method_of(method: &mut TraitItemMethod) -> syn::Result<Method> {
    let sig = &method.sig;
    if method.default.is_some() {
        return Err(Error::new(
            method.span(),
            "object methods have no default body: each implementation writes them",
        ));
    }
    let asynchronous = sig.asyncness.is_some();
    let mut plain = sig.clone();
    plain.asyncness = None;
    check_plain(
        &plain,
        "object methods are plain `fn name(&self, args) -> T` or `async fn name(&self, args) -> \
         T`: no unsafe, extern, const or generics",
    )?;
    let mut inputs = sig.inputs.iter();
    let mutable = match inputs.next() {
        // No lifetime on the receiver: a `&'static self` would outlive the object.
        Some(FnArg::Receiver(r)) if matches!(&r.reference, Some((_, None))) => {
            r.mutability.is_some()
        }
        _ => {
            return Err(Error::new(
                sig.span(),
                "object methods take `&self` or `&mut self` (without a lifetime)",
            ))
        }
    };
    let (arg_names, arg_types) = plain_args(
        inputs,
        "one receiver only",
        "object method arguments must be plain names",
    )?;
    let declared = return_type(sig);
    check_crossing(arg_types.iter().chain(Some(&declared)))?;
    let attrs = take_attributes(method, asynchronous)?;
    let (ret, output) =
        crate::parse::returned(asynchronous.then_some(attrs.local), &arg_types, declared)?;
    let ident = method.sig.ident.clone();
    let name = ident.to_string();
    if let Some(this) = arg_names.iter().find(|a| *a == "this") {
        return Err(Error::new(
            this.span(),
            "`this` is reserved: the method table's functions name their receiver so",
        ));
    }
    if !name.chars().any(|c| c.is_lowercase()) {
        return Err(Error::new(
            ident.span(),
            "object method names need a lower-case letter: names without one belong to the \
             generated code's constants",
        ));
    }
    if name.starts_with("r#") || name.starts_with('_') || name.ends_with('_') {
        return Err(Error::new(
            ident.span(),
            "object method names are plain identifiers that neither start nor end with `_` \
             (the method table's own entries and abi_stable's end or start with one)",
        ));
    }
    if let Some(output) = &output {
        // The future borrows the object: `'_` is the receiver's lifetime.
        crate::parse::async_signature(method, output, quote!('_));
    }
    Ok(Method {
        field: ident.clone(),
        ident,
        docs: attrs.docs,
        mutable,
        arg_names,
        arg_types,
        ret,
        output,
        since: attrs.since,
    })
}

/// Everything `#[xplug::object]` expands to.
pub(crate) fn generate(object: Object) -> TokenStream {
    let Object {
        mut item,
        methods,
        send,
        sync,
        isolated,
    } = object;
    let checks = if isolated {
        let signatures = methods.iter().map(|m| (m.arg_types.as_slice(), &m.ret));
        crate::isolate::crossing_checks(signatures).unwrap_or_else(|e| e.to_compile_error())
    } else {
        quote!()
    };
    item.supertraits.push(syn::parse_quote!('static));
    let vis = &item.vis;
    let trait_ident = &item.ident;
    let vtable = format_ident!("{}VTable", trait_ident);
    let vtable_ref = format_ident!("{}VTableRef", trait_ident);
    let vtable_prefix = format_ident!("{}VTable_Prefix", trait_ident);
    let boxed = format_ident!("{}Box", trait_ident);
    let shim = format_ident!("__Xplug{}ObjectShim", trait_ident);
    let p = quote!(::xplug::__private);
    let send_marker = if send {
        quote!(#p::IsSend)
    } else {
        quote!(#p::NotSend)
    };
    let sync_marker = if sync {
        quote!(#p::IsSync)
    } else {
        quote!(#p::NotSync)
    };

    // The `unsafe impl Send/Sync` below rely on these, whatever `Send` and `Sync` named.
    let send_bound = if send {
        quote!(+ ::core::marker::Send)
    } else {
        quote!()
    };
    let sync_bound = if sync {
        quote!(+ ::core::marker::Sync)
    } else {
        quote!()
    };
    let receiver = |mutable: bool| {
        if mutable {
            quote!(*mut ::core::ffi::c_void)
        } else {
            quote!(*const ::core::ffi::c_void)
        }
    };
    // The table is a prefix type: methods appended in a minor version may be absent from a
    // table made by an older build (its accessor then returns `None`), and a newer build's
    // table may have more. The first version ends at the last method without `since`.
    let last_prefix = methods.iter().rposition(|m| m.since.is_none());
    let last_marker = quote!(#[sabi(last_prefix_field)]);
    let sync_last = if last_prefix.is_none() {
        last_marker.clone()
    } else {
        quote!()
    };
    let fields = methods.iter().enumerate().map(|(i, m)| {
        let Method {
            field,
            mutable,
            arg_types,
            ret,
            ..
        } = m;
        let this = receiver(*mutable);
        let last = if Some(i) == last_prefix {
            last_marker.clone()
        } else {
            quote!()
        };
        quote! {
            #last
            #field: unsafe extern "C" fn(#this, #(#arg_types),*) -> #p::CallResult<#ret>,
        }
    });
    let shims = methods.iter().map(|m| {
        let Method {
            ident,
            mutable,
            arg_names,
            arg_types,
            ret,
            output,
            ..
        } = m;
        let this = receiver(*mutable);
        let object = if *mutable {
            quote!(&mut *(this as *mut T))
        } else {
            quote!(&*(this as *const T))
        };
        let call = quote!(<T as #trait_ident>::#ident(#object, #(#arg_names),*));
        // An async method's future borrows the object: the handle's future that holds it
        // borrows the handle as long (see the box's method).
        let value = match output {
            None => call,
            Some(output) => {
                let ffi = output.ffi_path();
                quote!(#ffi::borrowing(#call))
            }
        };
        quote! {
            /// # Safety
            /// `this` points to a live `T` that this table's `new` boxed, borrowed as the
            /// method's receiver for the call (for an async method, as long as its future).
            unsafe extern "C" fn #ident<const __XPLUG_PLUGIN: bool>(
                this: #this, #(#arg_names: #arg_types),*
            ) -> #p::CallResult<#ret> {
                #p::guard_in::<__XPLUG_PLUGIN, _, _>(move || #value)
            }
        }
    });
    let shim_inits = methods.iter().map(|m| {
        let Method { ident, field, .. } = m;
        quote!(#field: Self::#ident::<__XPLUG_PLUGIN>,)
    });
    let box_methods = methods.iter().map(|m| {
        let Method {
            ident,
            field,
            docs,
            mutable,
            arg_names,
            arg_types,
            ret,
            output,
            since,
        } = m;
        let name = format!("{}.{}", trait_ident, ident);
        let (this, pointer) = if *mutable {
            (quote!(&mut self), quote!(self.object.as_ptr()))
        } else {
            (
                quote!(&self),
                quote!(self.object.as_ptr() as *const ::core::ffi::c_void),
            )
        };
        let call = quote! {
            // SAFETY: `object` is the live object `vtable` was made for (see `new`), and
            // the receiver's borrow of this handle is the method's borrow of the object.
            match unsafe { __xplug_method(#pointer, #(#arg_names),*) } {
                #p::abi_stable::std_types::RResult::ROk(value) => {
                    ::core::result::Result::Ok(value)
                }
                #p::abi_stable::std_types::RResult::RErr(contained) => ::core::result::Result::Err(
                    #p::isolation::object_failed(#name, contained, self.vtable.header_().take_panic()),
                ),
            }
        };
        let body = call_through(
            quote!(self.vtable.#field()),
            &format_ident!("__xplug_method"),
            call,
            &name,
            since.as_ref(),
        );
        let missing_doc = since
            .as_ref()
            .map(|since| appended_doc(since, "an object made by a build against an older version"));
        match output {
            None => quote! {
                #(#docs)*
                #missing_doc
                #[inline]
                pub fn #ident(#this, #(#arg_names: #arg_types),*)
                    -> ::core::result::Result<#ret, ::xplug::CallError>
                {
                    #body
                }
            },
            Some(output) => {
                let future = output.call_future(quote!('__xplug));
                let make = output.call_future_path();
                let this = if *mutable {
                    quote!(&'__xplug mut self)
                } else {
                    quote!(&'__xplug self)
                };
                quote! {
                    #(#docs)*
                    #missing_doc
                    #[inline]
                    pub fn #ident<'__xplug>(#this, #(#arg_names: #arg_types),*)
                        -> #future
                    {
                        let __xplug_call: ::core::result::Result<#ret, ::xplug::CallError> =
                            { #body };
                        // SAFETY: the object's future borrows the object (owned arguments),
                        // which this handle's borrow keeps for `'__xplug`.
                        unsafe {
                            #make::borrowing(
                                __xplug_call,
                                #name,
                                ::core::option::Option::None,
                            )
                        }
                    }
                }
            }
        }
    });
    let drop_name = format!("{}.drop", trait_ident);
    let remote = format_ident!("__Xplug{}Remote", trait_ident);
    let rt = quote!(#p::isolation);
    let remote_shims = methods.iter().enumerate().map(|(i, m)| {
        let Method {
            ident,
            mutable,
            arg_names,
            arg_types,
            ret,
            since,
            ..
        } = m;
        let this = receiver(*mutable);
        let index = i as u32;
        let since = since
            .as_ref()
            .map_or_else(|| quote!(""), |since| quote!(#since));
        let body = if m.output.is_some() {
            crate::isolate::refuse_async(arg_names, quote!(this))
        } else {
            crate::isolate::forward(
                arg_names,
                arg_types,
                ret,
                quote!(#rt::object_call),
                quote!(this as *const ::core::ffi::c_void, #index, #since,),
            )
        };
        quote! {
            /// # Safety
            /// `this` is a remote object `remote_object` made, not yet dropped.
            unsafe extern "C" fn #ident(
                this: #this, #(#arg_names: #arg_types),*
            ) -> #p::CallResult<#ret> {
                // SAFETY: the caller's promise.
                unsafe { #body }
            }
        }
    });
    let remote_inits = methods.iter().map(|m| {
        let Method { ident, field, .. } = m;
        quote!(#field: Self::#ident,)
    });
    let arm = |(i, m): (usize, &Method)| {
        let Method {
            ident,
            arg_names,
            arg_types,
            ret,
            output,
            ..
        } = m;
        match output {
            None => {
                crate::isolate::serve_arm(i as u32, arg_names, arg_types, ret, quote!(self.#ident))
            }
            Some(_) => crate::isolate::refuse_arm(i as u32),
        }
    };
    let serve_arms = methods.iter().enumerate().map(arm);
    let shared_arms = methods
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.mutable)
        .map(arm);
    let serve_body = crate::isolate::dispatch(serve_arms, "method number");
    let shared_body = crate::isolate::dispatch(
        shared_arms,
        "method number (or a `&mut self` method of a shared object)",
    );
    let thread_impls = {
        let send_impl = send.then(|| {
            quote! {
                // SAFETY: every implementation is `Send` (a supertrait), checked at compile time
                // by `new` and, across the boundary, by the table's layout.
                unsafe impl ::core::marker::Send for #boxed {}
            }
        });
        let sync_impl = sync.then(|| {
            quote! {
                // SAFETY: every implementation is `Sync` (a supertrait), checked as above.
                unsafe impl ::core::marker::Sync for #boxed {}
            }
        });
        quote!(#send_impl #sync_impl)
    };
    let vtable_doc = format!(
        "The `repr(C)` method table of [`{trait_ident}`] objects: one `extern \"C\"` shim per \
         method, the drop and the panic details. Part of the layout of every interface that \
         passes a [`{boxed}`]."
    );
    let vtable_ref_doc = format!(
        "A reference to a [`{trait_ident}`] object's method table ([`{vtable}`]), which may \
         have more or fewer appended methods than this build knows."
    );
    let box_doc = format!(
        "An owned [`{trait_ident}`] object, made on either side of a plugin boundary and \
         usable on both: each method runs in the code that made the object, under its panic \
         guard, and returns `Err(CallError)` instead of unwinding. Dropping it drops the \
         object there (a panic in its `Drop` is contained; [`close`]({boxed}::close) reports \
         it).\n\nAn object made by a plugin keeps that plugin's library from being unloaded \
         while it lives."
    );
    quote! {
        #item

        #checks

        #[doc = #vtable_doc]
        #[doc(hidden)]
        #[repr(C)]
        #[derive(::abi_stable::StableAbi)]
        #[sabi(kind(Prefix(
            prefix_ref = #vtable_ref,
            prefix_fields = #vtable_prefix,
            prefix_ref_docs = #vtable_ref_doc,
        )))]
        #[sabi(missing_field(option))]
        #[allow(missing_docs, non_camel_case_types)]
        #vis struct #vtable {
            /// How to drop the object, and the runtime of the code that made it.
            header_: #p::ObjectHeaderRef,
            send_: ::core::marker::PhantomData<#send_marker>,
            #sync_last
            sync_: ::core::marker::PhantomData<#sync_marker>,
            #(#fields)*
        }

        #[doc = #box_doc]
        #[repr(C)]
        #[derive(::abi_stable::StableAbi)]
        #vis struct #boxed {
            object: ::core::ptr::NonNull<::core::ffi::c_void>,
            vtable: #vtable_ref,
        }

        #thread_impls

        impl #boxed {
            /// Moves `value` to the heap as an object of this type. (Installs xplug's panic
            /// hook in this process, once: it stays silent for panics its guards contain and
            /// passes every other panic to the hook installed before.)
            pub fn new<T: #trait_ident #send_bound #sync_bound>(value: T) -> Self {
                #p::install_hook();
                #p::object_made();
                let object = ::std::boxed::Box::into_raw(::std::boxed::Box::new(value));
                #boxed {
                    // SAFETY: `Box::into_raw` never returns null.
                    object: unsafe { ::core::ptr::NonNull::new_unchecked(object.cast()) },
                    // A plugin's objects get shims that read no mode at each call.
                    vtable: if #p::plugin_mode() {
                        #shim::<T>::PLUGIN_VTABLE
                    } else {
                        #shim::<T>::VTABLE
                    },
                }
            }

            /// Drops the object, and says whether its `Drop` panicked (contained).
            pub fn close(self) -> ::core::result::Result<(), ::xplug::CallError> {
                let this = ::core::mem::ManuallyDrop::new(self);
                let header = this.vtable.header_();
                let live = (header.live())();
                // SAFETY: the object is live and owned by this handle, which is forgotten:
                // it is dropped exactly once.
                let result = unsafe { (header.drop())(this.object.as_ptr()) };
                let result = match result {
                    #p::abi_stable::std_types::RResult::ROk(()) => ::core::result::Result::Ok(()),
                    #p::abi_stable::std_types::RResult::RErr(contained) => ::core::result::Result::Err(
                        #p::isolation::object_failed(#drop_name, contained, header.take_panic()),
                    ),
                };
                // Gone once its drop shim returned and its panic's details were taken: no
                // code of the object runs any more.
                #p::object_gone(live);
                result
            }

            #(#box_methods)*
        }

        impl ::core::ops::Drop for #boxed {
            fn drop(&mut self) {
                let header = self.vtable.header_();
                let live = (header.live())();
                // SAFETY: the object is live and owned by this handle, dropped once here.
                let result = unsafe { (header.drop())(self.object.as_ptr()) };
                if result.is_err() {
                    // A panic in the object's `Drop` was contained; its details are dropped.
                    let _ = (header.take_panic())();
                }
                // Gone once its drop shim returned (and its panic's details were taken): no
                // code of the object runs any more.
                #p::object_gone(live);
            }
        }

        impl ::core::fmt::Debug for #boxed {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#boxed)).finish_non_exhaustive()
            }
        }

        // An object a plugin's process keeps for the host (isolated plugins).
        impl<'de> #rt::ReturnsFromIsolatedPlugin<'de> for #boxed {}
        impl<'de> #rt::LentToIsolatedPlugin<'de> for #boxed {}
        impl #rt::LentMutToIsolatedPlugin for #boxed {}

        impl #rt::Remote for #boxed {
            fn keep(
                self,
                out: &mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<(), ::xplug::wire::WireError> {
                #rt::keep_boxed(::std::boxed::Box::new(self), out)
            }

            fn remote(
                input: &mut ::xplug::wire::Input<'_>,
            ) -> ::core::result::Result<Self, ::xplug::wire::WireError> {
                ::core::result::Result::Ok(#boxed {
                    object: #rt::remote_object(input)?,
                    vtable: #remote::VTABLE,
                })
            }
        }

        #[allow(unused_mut, clippy::let_unit_value)]
        impl #rt::ServedObject for #boxed {
            fn serve(
                &mut self,
                __xplug_number: u32,
                __xplug_args: &[u8],
                __xplug_out: &mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<(), ::xplug::wire::WireError> {
                #serve_body
            }

            fn serve_shared(
                &self,
                __xplug_number: u32,
                __xplug_args: &[u8],
                __xplug_out: &mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<(), ::xplug::wire::WireError> {
                #shared_body
            }

            fn close(self: ::std::boxed::Box<Self>) -> ::core::result::Result<(), ::xplug::CallError> {
                #boxed::close(*self)
            }
        }

        /// The host's method table of objects an isolated plugin's process keeps: each method
        /// sends its call there.
        #[doc(hidden)]
        #vis struct #remote;

        #[allow(clippy::needless_lifetimes, clippy::let_unit_value)]
        impl #remote {
            #p::abi_stable::staticref! {
                const HEADER: #p::abi_stable::prefix_type::WithMetadata<#p::ObjectHeader> =
                    #p::abi_stable::prefix_type::WithMetadata::new(#p::ObjectHeader {
                        drop: #rt::drop_remote,
                        take_panic: #rt::remote_take_panic,
                        live: #rt::remote_live,
                    })
            }
            #p::abi_stable::staticref! {
                const TABLE: #p::abi_stable::prefix_type::WithMetadata<#vtable> =
                    #p::abi_stable::prefix_type::WithMetadata::new(#vtable {
                        header_: #p::ObjectHeaderRef(Self::HEADER.as_prefix()),
                        send_: ::core::marker::PhantomData,
                        sync_: ::core::marker::PhantomData,
                        #(#remote_inits)*
                    })
            }
            const VTABLE: #vtable_ref = #vtable_ref(Self::TABLE.as_prefix());

            #(#remote_shims)*
        }

        /// The `extern "C"` shims of one implementation of the object trait.
        #[doc(hidden)]
        #vis struct #shim<T>(::core::marker::PhantomData<fn() -> T>);

        #[allow(clippy::needless_lifetimes)]
        impl<T: #trait_ident> #shim<T> {
            #p::abi_stable::staticref! {
                const HOST_TABLE: #p::abi_stable::prefix_type::WithMetadata<#vtable> =
                    #p::abi_stable::prefix_type::WithMetadata::new(Self::__xplug_table::<false>())
            }
            #p::abi_stable::staticref! {
                const PLUGIN_TABLE: #p::abi_stable::prefix_type::WithMetadata<#vtable> =
                    #p::abi_stable::prefix_type::WithMetadata::new(Self::__xplug_table::<true>())
            }
            const VTABLE: #vtable_ref = #vtable_ref(Self::HOST_TABLE.as_prefix());
            const PLUGIN_VTABLE: #vtable_ref = #vtable_ref(Self::PLUGIN_TABLE.as_prefix());

            #p::abi_stable::staticref! {
                const HOST_HEADER: #p::abi_stable::prefix_type::WithMetadata<#p::ObjectHeader> =
                    #p::abi_stable::prefix_type::WithMetadata::new(Self::__xplug_header::<false>())
            }
            #p::abi_stable::staticref! {
                const PLUGIN_HEADER: #p::abi_stable::prefix_type::WithMetadata<#p::ObjectHeader> =
                    #p::abi_stable::prefix_type::WithMetadata::new(Self::__xplug_header::<true>())
            }

            const fn __xplug_header<const __XPLUG_PLUGIN: bool>() -> #p::ObjectHeader {
                #p::ObjectHeader {
                    drop: Self::drop_::<__XPLUG_PLUGIN>,
                    take_panic: #p::take_panic_ffi,
                    live: #p::live_counter,
                }
            }

            const fn __xplug_table<const __XPLUG_PLUGIN: bool>() -> #vtable {
                #vtable {
                    header_: #p::ObjectHeaderRef(if __XPLUG_PLUGIN {
                        Self::PLUGIN_HEADER.as_prefix()
                    } else {
                        Self::HOST_HEADER.as_prefix()
                    }),
                    send_: ::core::marker::PhantomData,
                    sync_: ::core::marker::PhantomData,
                    #(#shim_inits)*
                }
            }

            /// # Safety
            /// `this` is the pointer `new` made from a `Box<T>`, dropped at most once.
            unsafe extern "C" fn drop_<const __XPLUG_PLUGIN: bool>(
                this: *mut ::core::ffi::c_void,
            ) -> #p::CallResult<()> {
                // Counted gone by the handle, once this has returned.
                #p::guard_in::<__XPLUG_PLUGIN, _, _>(move || {
                    ::core::mem::drop(::std::boxed::Box::from_raw(this as *mut T));
                })
            }

            #(#shims)*
        }
    }
}
