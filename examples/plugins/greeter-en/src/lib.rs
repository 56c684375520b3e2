//! A sample plugin for the `greeter` interface, in English.

use abi_stable::std_types::{RNone, ROption, RResult, RSlice, RSome, RStr, RString, RVec};
use greeter_interface::{Callback, Counter, CounterBox, Counter_TO, Greeter};

struct English;

impl Greeter for English {
    fn greet(name: RStr<'_>) -> RString {
        assert!(!name.is_empty(), "cannot greet an empty name");
        format!("Hello, {}!", name).into()
    }

    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }

    fn words(text: RStr<'_>) -> RVec<RString> {
        let mut words: Vec<&str> = text.as_str().split_whitespace().collect();
        words.sort_unstable();
        words.dedup();
        words.into_iter().map(RString::from).collect()
    }

    fn map(values: RSlice<'_, i64>, f: Callback) -> RVec<i64> {
        values.iter().map(|&v| (f.0)(v)).collect()
    }

    fn counter(start: u64) -> CounterBox {
        Counter_TO::from_value(Count(start), abi_stable::sabi_trait::TD_Opaque)
    }

    fn translate(word: RStr<'_>) -> ROption<RString> {
        match word.as_str() {
            "hello" | "goodbye" | "thanks" => RSome(word.into()),
            _ => RNone,
        }
    }

    fn parse_number(text: RStr<'_>) -> RResult<i64, RString> {
        text.as_str()
            .trim()
            .parse::<i64>()
            .map_err(|e| RString::from(format!("`{}` is not a number: {}", text, e)))
            .into()
    }

    fn shout(text: RStr<'_>) -> RString {
        format!("{}!", text.as_str().to_uppercase()).into()
    }
}

struct Count(u64);

impl Counter for Count {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

xplug::export_plugin!(English as Greeter);
