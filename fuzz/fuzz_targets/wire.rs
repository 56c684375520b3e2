//! What an isolated plugin's process sends, decoded as the host decodes it (`xplug::wire`): every
//! input must give a value or a typed error, never a panic, an overflow or an allocation past
//! the message's budget.
#![no_main]

use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use libfuzzer_sys::fuzz_target;
use xplug::wire::{FromWire, Input};

fn decode<'de, T: FromWire<'de>>(bytes: &'de [u8]) {
    let mut input = Input::new(bytes);
    if T::decode(&mut input).is_ok() {
        let _ = input.finish();
    }
}

fuzz_target!(|bytes: &[u8]| {
    decode::<RVec<ROption<RString>>>(bytes);
    decode::<RResult<RVec<u64>, RString>>(bytes);
    decode::<RVec<RVec<RVec<u8>>>>(bytes);
    decode::<RSlice<'_, u8>>(bytes);
    decode::<RStr<'_>>(bytes);
    decode::<char>(bytes);
    decode::<bool>(bytes);
    decode::<f64>(bytes);
    decode::<u128>(bytes);
    decode::<isize>(bytes);
});
