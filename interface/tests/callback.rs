//! A `Callback` in an interface: lent by the host to a plugin's function, its panic contained
//! on the host's side and seen by the plugin as an error; its argument and return types in the
//! interface's layout.

use abi_stable::std_types::{RResult, RSlice, RString, RVec};
use abi_stable::StableAbi;
use xplug::Callback;

/// Maps values through a function the host lends.
#[xplug::interface(name = "mapper")]
pub trait Mapper {
    /// `f` applied to each value, or the first error `f` returned.
    fn map(values: RSlice<'_, i64>, f: Callback<'_, i64, i64>) -> RResult<RVec<i64>, RString>;
}

struct Plugin;

impl Mapper for Plugin {
    fn map(values: RSlice<'_, i64>, f: Callback<'_, i64, i64>) -> RResult<RVec<i64>, RString> {
        let mut out = RVec::new();
        for &v in values.iter() {
            match f.call(v) {
                Ok(mapped) => out.push(mapped),
                Err(e) => return RResult::RErr(e.to_string().into()),
            }
        }
        RResult::ROk(out)
    }
}

#[test]
fn a_lent_function_answers_and_its_panic_comes_back_as_an_error() {
    let module = MapperRef::implemented_by::<Plugin>();
    let double = |x: i64| x * 2;
    let mapped = module
        .map(RSlice::from_slice(&[1, 2, 3]), Callback::new(&double))
        .unwrap();
    assert_eq!(mapped, RResult::ROk(RVec::from(vec![2, 4, 6])));

    let picky = |x: i64| -> i64 {
        assert!(x != 2, "the host's function cannot take {}", x);
        x
    };
    let refused = module
        .map(RSlice::from_slice(&[1, 2, 3]), Callback::new(&picky))
        .unwrap();
    match refused {
        RResult::RErr(message) => assert!(
            message.contains("`callback` panicked: the host's function cannot take 2"),
            "{message}"
        ),
        RResult::ROk(values) => panic!("{values:?}"),
    }
}

#[test]
fn a_callback_of_other_types_is_another_layout() {
    use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
    check_layout_compatibility(
        <Callback<'static, i64, i64> as StableAbi>::LAYOUT,
        <Callback<'static, i64, i64> as StableAbi>::LAYOUT,
    )
    .expect("the same types");
    check_layout_compatibility(
        <Callback<'static, i64, i64> as StableAbi>::LAYOUT,
        <Callback<'static, i32, i64> as StableAbi>::LAYOUT,
    )
    .expect_err("another argument type");
}
