//! The names and the layout of what `#[xplug::interface]` generates for one trait: the items'
//! names, and where the root module keeps each function (in itself, or in a page).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::parse::{Function, Interface, DIRECT, PAGE};

/// The names of everything generated for one trait.
pub(crate) struct Names {
    /// `Greeter`
    pub(crate) trait_ident: Ident,
    /// `GreeterModule`: the `repr(C)` root module.
    pub(crate) module: Ident,
    /// `GreeterRef`: the host's handle (abi_stable's prefix reference).
    pub(crate) module_ref: Ident,
    /// `GreeterModule_Prefix`
    pub(crate) module_prefix: Ident,
    /// `__XplugGreeterShim`: the plugin's `extern "C"` functions.
    pub(crate) shim: Ident,
    /// The interface name as an expression: the literal given, or the crate's name.
    pub(crate) name: TokenStream,
    /// The type of the host's services: `<HostTrait>Box`, or `NoHost`.
    pub(crate) host: TokenStream,
    /// `__XPLUG_GREETER_HOST`: where a plugin keeps its host's services.
    pub(crate) host_static: Ident,
    /// `__XplugGreeterProxy`: the host's side of an isolated plugin.
    pub(crate) proxy: Ident,
    /// The trait's visibility.
    pub(crate) vis: syn::Visibility,
}

/// Where the root module keeps each function: the first [`DIRECT`] in the module itself (after
/// its three hidden fields), the rest in pages of [`PAGE`], each a prefix type of its own that a
/// field of the module points to. A function's place never changes, since functions are only
/// appended; a page appended in a minor version is absent from an older plugin's module.
pub(crate) struct Layout {
    /// How many functions the module holds itself.
    pub(crate) direct: usize,
    pub(crate) pages: Vec<Page>,
}

/// One page of functions.
pub(crate) struct Page {
    /// `GreeterModulePage1`
    pub(crate) ident: Ident,
    /// `GreeterModulePage1Ref`
    pub(crate) ident_ref: Ident,
    /// The root module's field: `xplug_page1_`.
    pub(crate) field: Ident,
    /// The plugin's static page: `PAGE1`.
    pub(crate) static_ident: Ident,
    /// The interface's functions it holds.
    pub(crate) functions: std::ops::Range<usize>,
}

impl Layout {
    pub(crate) fn of(interface: &Interface, names: &Names) -> Layout {
        let count = interface.functions.len();
        let direct = count.min(DIRECT);
        let pages = (direct..count)
            .step_by(PAGE)
            .enumerate()
            .map(|(k, start)| Page {
                ident: format_ident!("{}Page{}", names.module, k + 1),
                ident_ref: format_ident!("{}Page{}Ref", names.module, k + 1),
                field: format_ident!("xplug_page{}_", k + 1),
                static_ident: format_ident!("PAGE{}", k + 1),
                functions: start..(start + PAGE).min(count),
            })
            .collect();
        Layout { direct, pages }
    }

    /// The module's fields after its hidden ones: the direct functions, then the pages.
    pub(crate) fn root_fields(&self, interface: &Interface) -> Vec<TokenStream> {
        // The first version ends at its last field: a function, or a page whose first function
        // is in it. Later fields may be absent from an older plugin's module.
        let first_version = |i: usize| interface.functions[i].since.is_none();
        let last_direct = (0..self.direct).rev().find(|&i| first_version(i));
        let last_page = self
            .pages
            .iter()
            .rposition(|page| first_version(page.functions.start));
        let mut fields: Vec<TokenStream> = interface.functions[..self.direct]
            .iter()
            .enumerate()
            .map(|(i, f)| function_field(f, last_page.is_none() && Some(i) == last_direct))
            .collect();
        fields.extend(self.pages.iter().enumerate().map(|(k, page)| {
            let Page {
                ident_ref, field, ..
            } = page;
            let last = if Some(k) == last_page {
                quote!(#[sabi(last_prefix_field)])
            } else {
                quote!()
            };
            quote! {
                #last
                #field: #ident_ref,
            }
        }));
        fields
    }

    /// The host's way to function `i`: an accessor chain that yields the function pointer, in
    /// an `Option` exactly if the function was appended (`since`): then its page may be absent,
    /// or the function absent from its page.
    pub(crate) fn accessor(&self, interface: &Interface, i: usize) -> TokenStream {
        let field = &interface.functions[i].field;
        let page = match self.pages.iter().find(|page| page.functions.contains(&i)) {
            None => return quote!(self.#field()),
            Some(page) => page,
        };
        let page_field = &page.field;
        let page_appended = interface.functions[page.functions.start].since.is_some();
        let in_prefix = i - page.functions.start <= page.last_prefix(interface);
        match (page_appended, in_prefix) {
            (false, _) => quote!(self.#page_field().#field()),
            (true, true) => quote!(self.#page_field().map(|page| page.#field())),
            (true, false) => quote!(self.#page_field().and_then(|page| page.#field())),
        }
    }
}

impl Layout {
    /// The module's fields of its direct functions, each set to `owner`'s function of that
    /// name (`Self::greet`, a shim or proxy function).
    pub(crate) fn direct_inits(&self, interface: &Interface, owner: &TokenStream) -> TokenStream {
        let inits = interface.functions[..self.direct].iter().map(|f| {
            let Function { ident, field, .. } = f;
            quote!(#field: #owner::#ident,)
        });
        quote!(#(#inits)*)
    }
}

impl Page {
    /// The page as a static of the type that holds the functions (`PAGE1`), each field set to
    /// that type's function of the same name.
    pub(crate) fn static_item(&self, interface: &Interface) -> TokenStream {
        let Page {
            ident,
            static_ident,
            functions,
            ..
        } = self;
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
    }

    /// The module's field pointing to `owner`'s static of this page.
    pub(crate) fn module_field(&self, owner: &TokenStream) -> TokenStream {
        let Page {
            ident_ref,
            field,
            static_ident,
            ..
        } = self;
        quote!(#field: #ident_ref(#owner::#static_ident.as_prefix()),)
    }

    /// The index in the page of its last field always present: its last function of the
    /// interface's first version, or its first function if the whole page was appended (a page
    /// is present only with its first function).
    pub(crate) fn last_prefix(&self, interface: &Interface) -> usize {
        interface.functions[self.functions.clone()]
            .iter()
            .rposition(|f| f.since.is_none())
            .unwrap_or(0)
    }
}

/// A function's field in the root module or a page.
pub(crate) fn function_field(f: &Function, last_prefix: bool) -> TokenStream {
    let Function {
        ident,
        field,
        docs,
        arg_names,
        arg_types,
        ret,
        ..
    } = f;
    // New functions may only be appended after this field, in later minor versions.
    let last = if last_prefix {
        quote!(#[sabi(last_prefix_field)])
    } else {
        quote!()
    };
    quote! {
        #(#docs)*
        #last
        #[sabi(rename = #ident)]
        #field: extern "C" fn(
            ::xplug::__private::CallContext,
            #(#arg_names: #arg_types),*
        ) -> ::xplug::__private::CallResult<#ret>,
    }
}
