//! A sample plugin for the `greeter` interface, in English.

use abi_stable::std_types::{RNone, ROption, RResult, RSlice, RSome, RStr, RString, RVec};
use greeter_interface::{Callback, Counter, CounterBox, Greeter};

struct English;

impl Greeter for English {
    fn greet(name: RStr<'_>) -> RString {
        assert!(!name.is_empty(), "cannot greet an empty name");
        // Goes to the host's logger, if the host's level lets it through.
        log::info!("greeting {}", name);
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
        CounterBox::new(Count(start))
    }

    fn drive(counter: &mut CounterBox, times: u32) -> u64 {
        let mut last = 0;
        for _ in 0..times {
            // A panic in the host's counter comes back as an error: this plugin panics in
            // turn, contained too, and the host's call of `drive` fails.
            last = counter.next().expect("the host's counter failed");
        }
        last
    }

    fn translate(word: RStr<'_>) -> ROption<RString> {
        // The host's word wins; a panic in the host's service comes back as an error.
        if let Some(host) = Self::host() {
            if let RSome(word) = host
                .setting(word)
                .expect("the host's setting service failed")
            {
                return RSome(word);
            }
        }
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

    fn skip(&mut self, steps: u64) -> u64 {
        assert!(steps > 0, "cannot skip zero steps");
        self.0 = self.0.wrapping_add(steps);
        self.0
    }
    fn reset(&mut self) -> u64 {
        std::mem::take(&mut self.0)
    }
}

xplug::export_plugin!(English as Greeter);
