//! Text from outside (file names, headers, plugins' messages, abi_stable's reports) made fit
//! for a report line.

use std::borrow::Cow;

/// `text` with every control character (ESC, CR, BEL, ...) replaced by its `\u{..}` escape.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `message` on one line: abi_stable's messages span lines; a report line is one.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
