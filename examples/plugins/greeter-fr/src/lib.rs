//! A sample plugin for the `greeter` interface, in French. It also shows the `on_load` hook.

use std::sync::Mutex;

use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use greeter_interface::{Callback, Counter, CounterBox, Greeter};

struct French;

/// The plugin's dictionary (French, English), filled by `on_load`.
static DICTIONARY: Mutex<Vec<(&str, &str)>> = Mutex::new(Vec::new());

impl Greeter for French {
    fn on_load() -> Result<(), String> {
        let mut dictionary = DICTIONARY.lock().map_err(|e| e.to_string())?;
        if !dictionary.is_empty() {
            return Err(String::from("on_load ran twice"));
        }
        dictionary.extend([
            ("bonjour", "hello"),
            ("merci", "thanks"),
            ("au revoir", "goodbye"),
        ]);
        Ok(())
    }

    fn greet(name: RStr<'_>) -> RString {
        assert!(!name.is_empty(), "impossible de saluer un nom vide");
        log::info!("salutation de {}", name);
        format!("Bonjour, {} !", name).into()
    }

    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }

    fn words(text: RStr<'_>) -> RVec<RString> {
        let mut words: Vec<String> = text
            .as_str()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        words.sort_unstable();
        words.dedup();
        words.into_iter().map(RString::from).collect()
    }

    fn map(values: RSlice<'_, i64>, f: Callback) -> RVec<i64> {
        values.iter().map(|&v| (f.0)(v)).collect()
    }

    fn counter(start: u64) -> CounterBox {
        CounterBox::new(Steps { value: start })
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
        let dictionary = DICTIONARY.lock().unwrap_or_else(|e| e.into_inner());
        dictionary
            .iter()
            .find(|(french, _)| *french == word.as_str())
            .map(|(_, english)| RString::from(*english))
            .into()
    }

    fn parse_number(text: RStr<'_>) -> RResult<i64, RString> {
        text.as_str()
            .trim()
            .replace(' ', "")
            .parse::<i64>()
            .map_err(|_| RString::from(format!("« {} » n'est pas un nombre", text)))
            .into()
    }

    fn shout(text: RStr<'_>) -> RString {
        format!("{} !", text.as_str().to_uppercase()).into()
    }
}

struct Steps {
    value: u64,
}

impl Counter for Steps {
    fn next(&mut self) -> u64 {
        self.value += 10;
        self.value
    }

    fn skip(&mut self, steps: u64) -> u64 {
        assert!(steps > 0, "cannot skip zero steps");
        self.value = self.value.wrapping_add(steps);
        self.value
    }

    fn reset(&mut self) -> u64 {
        std::mem::take(&mut self.value)
    }
}

xplug::export_plugin!(French as Greeter);
