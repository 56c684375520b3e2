//! A plugin's root-module layout tree written out as bytes: everything abi_stable's checker
//! reads of the plugin's side, so that two trees with the same bytes get the same verdict
//! against the same host layout. [`super::check`] runs the full check once per distinct
//! fingerprint and process, and compares bytes after that.
//!
//! What is written, per type (breadth first from the root, each `UTypeId` once):
//! - its name, package and version, size, alignment, non-zeroness, `repr`, kind of data,
//!   number of lifetime and type parameters;
//! - its phantom fields and its data: a primitive's kind; the fields of a struct, union or
//!   enum; an enum's variant names, field counts, discriminants and exhaustiveness; a prefix
//!   type's first suffix field, conditional and accessible fields;
//! - each field's name and lifetime indices, the type it refers to (as the number of that
//!   type in this walk), and each function pointer's name, lifetimes, qualifiers, parameter
//!   names and parameter and return types.
//!
//! Types are told apart as the checker tells them apart, by their `UTypeId`, and are
//! numbered in the order they are first met, so that bytes compare equal only for trees of
//! the same shape. A tree the checker compares through code behind vtables is not written at
//! all ([`Uncacheable`]): extra checks (the plugin's code decides) and const generic
//! parameters (values reached only through their vtables), except the length of an array of
//! sized elements, which its size and element type (both written) determine; and tags. So is
//! a tree that shares a `UTypeId` with the host's (the checker's maps would then mix both
//! sides), and one past the size bounds below. Left alone: a crafted tree giving one
//! `UTypeId` two different layouts is written by the first met.

use std::collections::hash_map::Entry;

use abi_stable::std_types::UTypeId;
use abi_stable::type_layout::{
    DiscriminantRepr, LifetimeArrayOrSlice, ReprAttr, TLData, TLFields, TLFunctionQualifiers,
    TLPrimitive, Tag, TypeLayout,
};
use rustc_hash::{FxHashMap, FxHashSet};

/// The most types a fingerprinted tree may hold; abi_stable's own checker has no bound.
const MAX_TYPES: usize = 20_000;
/// How many types a tree is expected to hold at most, before its tables grow.
const TYPES_EXPECTED: usize = 256;
/// The most bytes a fingerprint may take.
const MAX_BYTES: usize = 4 << 20;

/// A tree that is checked in full at every load: why is not needed by the caller.
#[derive(Debug)]
pub(crate) struct Uncacheable;

/// The `UTypeId`s of a host layout tree, and whether that tree can be fingerprinted at all.
pub(crate) fn host_ids(host: &'static TypeLayout) -> Result<FxHashSet<UTypeId>, Uncacheable> {
    let mut walk = Walk::new(None);
    walk.run(host)?;
    Ok(walk.ids.into_keys().collect())
}

/// The fingerprint of `found`, a plugin's tree, none of whose `UTypeId`s may be in `host`.
///
/// The walk reaches parts of a tree the checker may not (below a first difference), where
/// abi_stable's accessors can panic on a malformed layout: a panic makes the tree
/// uncacheable, and the full check then reports it.
pub(crate) fn fingerprint(
    found: &'static TypeLayout,
    host: &FxHashSet<UTypeId>,
) -> Result<Vec<u8>, Uncacheable> {
    std::panic::catch_unwind(|| {
        let mut walk = Walk::new(Some(host));
        walk.run(found)?;
        Ok(walk.out)
    })
    .unwrap_or(Err(Uncacheable))
}

struct Walk<'h> {
    out: Vec<u8>,
    /// Each type met so far, by `UTypeId`, with its number.
    ids: FxHashMap<UTypeId, u32>,
    /// The number of each layout met so far, by its address: a type is referred to many
    /// times, mostly through the same layout, whose `UTypeId` (a call into the plugin, and a
    /// key of 40 bytes to hash) is then not asked again. In hosts built without
    /// optimisations too, this table was the walk's hot spot.
    by_address: FxHashMap<usize, u32>,
    /// The types in the order they were numbered; `ids.len()` of them.
    order: Vec<&'static TypeLayout>,
    /// `UTypeId`s the tree must not contain.
    forbidden: Option<&'h FxHashSet<UTypeId>>,
}

impl<'h> Walk<'h> {
    fn new(forbidden: Option<&'h FxHashSet<UTypeId>>) -> Self {
        Self {
            out: Vec::with_capacity(16 << 10),
            // Sized for interfaces of a few hundred types, so that the tables are not
            // rebuilt as they grow (a tenth of the walk before).
            ids: FxHashMap::with_capacity_and_hasher(TYPES_EXPECTED, Default::default()),
            by_address: FxHashMap::with_capacity_and_hasher(2 * TYPES_EXPECTED, Default::default()),
            order: Vec::with_capacity(TYPES_EXPECTED),
            forbidden,
        }
    }

    /// Writes every type reachable from `root`, breadth first.
    fn run(&mut self, root: &'static TypeLayout) -> Result<(), Uncacheable> {
        self.reference(root)?;
        let mut next = 0;
        while let Some(&layout) = self.order.get(next) {
            self.layout(layout)?;
            if self.out.len() > MAX_BYTES {
                return Err(Uncacheable);
            }
            next += 1;
        }
        Ok(())
    }

    /// Writes the number of `layout`, numbering it if it is new.
    fn reference(&mut self, layout: &'static TypeLayout) -> Result<(), Uncacheable> {
        let address = layout as *const TypeLayout as usize;
        if let Some(&number) = self.by_address.get(&address) {
            self.u64(u64::from(number));
            return Ok(());
        }
        let id = layout.get_utypeid();
        let next = self.order.len();
        let number = match self.ids.entry(id) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                // Each type is looked for among the forbidden once, when it is first met.
                if next >= MAX_TYPES || self.forbidden.map_or(false, |f| f.contains(e.key())) {
                    return Err(Uncacheable);
                }
                self.order.push(layout);
                // `next` < MAX_TYPES, which fits in a u32.
                *e.insert(next as u32)
            }
        };
        self.by_address.insert(address, number);
        self.u64(u64::from(number));
        Ok(())
    }

    fn layout(&mut self, layout: &'static TypeLayout) -> Result<(), Uncacheable> {
        if layout.extra_checks().is_some() {
            return Err(Uncacheable);
        }
        let generics = layout.generics();
        let data = layout.data();
        // An array's one const parameter, its length, is compared by code behind a vtable;
        // what it changes in memory, the array's size, is written with its element type.
        let array = matches!(data, TLData::Primitive(TLPrimitive::Array));
        match generics.const_params().len() {
            0 => {}
            // Arrays of zero-sized elements have size 0 whatever their length.
            1 if array && layout.size() != 0 => {}
            _ => return Err(Uncacheable),
        }
        // Tags (abi_stable's `#[sabi(tag = ...)]`) are nested data of any depth, even cyclic
        // through `Ignored`: trees with one are checked in full.
        if *layout.tag() != Tag::null() {
            return Err(Uncacheable);
        }
        self.str(layout.name());
        let (package, version) = layout.item_info().package_and_version();
        self.str(package);
        self.str(version);
        self.u64(layout.size() as u64);
        self.u64(layout.alignment() as u64);
        self.out.push(u8::from(layout.is_nonzero()));
        self.repr(layout.repr_attr());
        self.out.push(layout.data_discriminant() as u8);
        self.u64(generics.lifetime_count() as u64);
        self.u64(generics.type_params().len() as u64);
        self.fields(layout.phantom_fields())?;
        match data {
            TLData::Primitive(primitive) => self.out.push(primitive_number(primitive)),
            TLData::Opaque => {}
            TLData::Struct { fields } | TLData::Union { fields } => self.fields(fields)?,
            TLData::Enum(e) => {
                self.bytes(e.field_count.as_slice());
                self.str(e.variant_names.as_str());
                self.debug(&e.discriminants.discriminant_repr());
                self.debug(&e.discriminants);
                self.debug(&e.exhaustiveness.as_nonexhaustive());
                self.fields(e.fields)?;
            }
            TLData::PrefixType(prefix) => {
                self.u64(u64::from(prefix.first_suffix_field));
                self.u64(prefix.conditional_prefix_fields.bits());
                self.u64(prefix.accessible_fields.bits());
                self.fields(prefix.fields)?;
            }
        }
        Ok(())
    }

    fn fields(&mut self, fields: TLFields) -> Result<(), Uncacheable> {
        self.u64(fields.len() as u64);
        for field in fields.iter() {
            if self.out.len() > MAX_BYTES {
                return Err(Uncacheable);
            }
            self.str(field.name());
            self.lifetimes(field.lifetime_indices())?;
            self.reference(field.layout())?;
            self.out.push(u8::from(field.is_function()));
            let functions = field.function_range();
            self.u64(functions.len() as u64);
            for function in functions.iter() {
                self.str(function.name.as_str());
                self.str(function.bound_lifetimes.as_str());
                self.str(function.param_names.as_str());
                self.lifetimes(function.paramret_lifetime_indices)?;
                self.u64(u64::from(qualifiers(function.fn_qualifs)));
                self.u64(function.param_type_layouts.len() as u64);
                for parameter in function.param_type_layouts.iter() {
                    self.reference(parameter())?;
                }
                match function.return_type_layout() {
                    Some(returns) => {
                        self.out.push(1);
                        self.reference(returns())?;
                    }
                    None => self.out.push(0),
                }
            }
        }
        Ok(())
    }

    fn lifetimes(&mut self, indices: LifetimeArrayOrSlice<'static>) -> Result<(), Uncacheable> {
        match indices {
            LifetimeArrayOrSlice::Array(array) => {
                // The checker compares the first `len` pairs; more than the array holds is
                // a malformed layout, left to the full check to refuse.
                let pairs = array.array.get(..array.len()).ok_or(Uncacheable)?;
                self.out.push(0);
                self.u64(pairs.len() as u64);
                self.out.extend(pairs.iter().map(|pair| pair.to_u8()));
            }
            LifetimeArrayOrSlice::Slice(slice) => {
                self.out.push(1);
                self.u64(slice.len() as u64);
                self.out.extend(slice.iter().map(|pair| pair.to_u8()));
            }
        }
        Ok(())
    }

    fn u64(&mut self, n: u64) {
        self.out.extend_from_slice(&n.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// A `repr` attribute, as the checker compares it (every variant and field).
    fn repr(&mut self, repr: ReprAttr) {
        let (kind, detail) = match repr {
            ReprAttr::OptionNonZero => (0, 0),
            ReprAttr::Primitive => (1, 0),
            ReprAttr::C => (2, 0),
            ReprAttr::CAndInt(int) => (3, discriminant_repr(int)),
            ReprAttr::Transparent => (4, 0),
            ReprAttr::Int(int) => (5, discriminant_repr(int)),
            ReprAttr::Packed {
                alignment_power_of_two,
            } => (6, alignment_power_of_two),
        };
        self.out.extend_from_slice(&[kind, detail]);
    }

    /// For small plain-data values whose `Debug` output names every field.
    fn debug(&mut self, value: &dyn std::fmt::Debug) {
        use std::io::Write;
        let start = self.out.len();
        self.u64(0);
        // Writing to a `Vec` fails only if a `Debug` impl reports an error, which those used
        // here never do; the length written below covers whatever was written.
        let _ = write!(self.out, "{value:?}");
        let len = (self.out.len() - start - 8) as u64;
        self.out[start..start + 8].copy_from_slice(&len.to_le_bytes());
    }
}

/// A discriminant's representation as a number (a field-less enum).
fn discriminant_repr(int: DiscriminantRepr) -> u8 {
    int as u8
}

/// A primitive's kind as a number (a field-less enum).
fn primitive_number(primitive: TLPrimitive) -> u8 {
    primitive as u8
}

/// A function's qualifiers: every bit the checker compares.
fn qualifiers(qualifiers: TLFunctionQualifiers) -> u16 {
    // SAFETY: `TLFunctionQualifiers` is a `repr(transparent)` wrapper of the `u16` of qualifier
    // bits that its `PartialEq` compares (`transmute` checks the sizes when it compiles).
    unsafe { std::mem::transmute::<TLFunctionQualifiers, u16>(qualifiers) }
}
