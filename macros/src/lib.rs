//! Procedural macros of `xplug`. Use them through the `xplug` crate: `#[xplug::interface]`.
//!
//! The attribute runs in two steps: `parse.rs` reads the trait and checks every rule an
//! interface must follow (each broken rule is a compile error pointing at the offending
//! item), then `generate.rs` writes the root module, the host's handle and the plugin's shims.

use proc_macro::TokenStream;

mod dependency;
mod generate;
mod isolate;
mod layout;
mod object;
mod parse;

/// Declares a plugin interface. See `xplug`'s crate documentation.
#[proc_macro_attribute]
pub fn interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as parse::InterfaceArgs);
    let input = syn::parse_macro_input!(item as syn::ItemTrait);
    let dependency = dependency::abi_stable("#[xplug::interface]");
    match (dependency, parse::interface(args, input.clone())) {
        (Ok(()), Ok(interface)) => generate::interface(interface).into(),
        (dependency, parsed) => fallback(
            dependency.err().into_iter().chain(parsed.err()),
            input,
            generate::HOOKS,
        ),
    }
}

/// Declares an object trait. See `xplug`'s crate documentation.
#[proc_macro_attribute]
pub fn object(attr: TokenStream, item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::ItemTrait);
    let dependency = dependency::abi_stable("#[xplug::object]");
    match (dependency, object::parse(attr.into(), input.clone())) {
        (Ok(()), Ok(object)) => object::generate(object).into(),
        (dependency, parsed) => {
            fallback(dependency.err().into_iter().chain(parsed.err()), input, &[])
        }
    }
}

/// On an error, the errors (a missing dependency, the trait's) and the trait as written
/// (without xplug's own attributes) with the provided `hooks` it does not declare itself, so
/// that one mistake is one error, not one more at every `impl` of the trait.
fn fallback(
    errors: impl Iterator<Item = syn::Error>,
    mut item: syn::ItemTrait,
    hooks: &[&str],
) -> TokenStream {
    let mut declared = Vec::new();
    for item in item.items.iter_mut() {
        if let syn::TraitItem::Method(method) = item {
            method.attrs.retain(|a| !a.path.is_ident("xplug"));
            declared.push(method.sig.ident.to_string());
        }
    }
    for hook in hooks {
        if !declared.iter().any(|d| d == hook) {
            item.items.push(generate::hook(hook));
        }
    }
    let mut out: proc_macro2::TokenStream = errors.map(|e| e.to_compile_error()).collect();
    quote::ToTokens::to_tokens(&item, &mut out);
    out.into()
}
