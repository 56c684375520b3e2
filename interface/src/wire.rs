//! How values cross to an isolated plugin: by copy, encoded into bytes on one side and decoded
//! on the other.
//!
//! A host may run a plugin in a child process (`xplug-loader`'s isolation). The host's handle
//! is then served by a module whose functions encode their arguments, send them over a channel
//! to the child, and decode its answer; the child decodes the arguments, calls the plugin and
//! encodes what it returned. Both ends are the same program (the host's executable, or a runner
//! built with it), so the encoding is private to one build and need not be stable across
//! releases. It must survive a hostile child, though: [`FromWire::decode`] reads only what is
//! there, never panics, and fails with a [`WireError`] instead; what decoding one message
//! allocates is bounded by the message's size (see [`Input::charge`]).
//!
//! xplug encodes the integers, floats, `bool`, `char`, `()`, and abi_stable's `RString`,
//! `RStr`, `RVec`, `RSlice<u8>`, `ROption` and `RResult` of such types. An interface's own
//! types cross once they implement [`Wire`] and [`FromWire`]. Objects (`#[xplug::object]`
//! boxes) cross as handles: one a plugin returns stays in its process, one the host lends for
//! a call stays in the host, and calls of it go back over the channel. A function whose
//! parameter or return type cannot cross (callbacks, raw pointers, borrowed slices of other
//! than bytes, an object moved to the plugin, a type without these traits) is still callable
//! in-process; called on an isolated plugin it returns a `CallError` of kind `CannotCross`
//! naming the type, without reaching the child.

use std::fmt;

use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};

/// A value that can be encoded for an isolated plugin.
pub trait Wire {
    /// Appends the value's encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
}

/// A value that can be decoded from what [`Wire::encode`] wrote, borrowing from the input for
/// `'de` where it can (`RStr<'de>`, `RSlice<'de, u8>`).
pub trait FromWire<'de>: Sized {
    /// Reads one value from `input`. Never allocates more than the input's remaining bytes
    /// could fill, never panics: malformed input is a [`WireError`].
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError>;
}

/// Bytes being decoded: what is left of a message, and what decoding it may still allocate.
#[derive(Debug)]
pub struct Input<'de> {
    bytes: &'de [u8],
    budget: usize,
}

impl<'de> Input<'de> {
    /// How many times its own size decoding a message may allocate (plus [`SLACK`]): a
    /// value's memory may be larger than its encoding (an `RVec` of `RNone`s takes a byte
    /// each on the wire, 40 in memory), but not without bound.
    pub const AMPLIFICATION: usize = 16;

    /// The input `bytes`.
    pub fn new(bytes: &'de [u8]) -> Self {
        Input {
            bytes,
            budget: bytes
                .len()
                .saturating_mul(Self::AMPLIFICATION)
                .saturating_add(SLACK),
        }
    }

    /// Counts `bytes` about to be allocated for a decoded value against the message's budget
    /// ([`AMPLIFICATION`](Input::AMPLIFICATION) times its size): fails with
    /// [`WireError::TooLong`] past it.
    pub fn charge(&mut self, bytes: usize) -> Result<(), WireError> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(WireError::TooLong),
        }
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'de [u8], WireError> {
        if n > self.bytes.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    /// A length written by [`put_len`], checked against the bytes left: a length can never
    /// promise more items than the input still holds bytes (each item takes one at least, or
    /// is refused), so nothing is allocated for a claim the input cannot back.
    pub fn length(&mut self) -> Result<usize, WireError> {
        let len = u32::from_le_bytes(self.array()?);
        let len = usize::try_from(len).map_err(|_| WireError::TooLong)?;
        if len > self.bytes.len() {
            return Err(WireError::TooLong);
        }
        Ok(len)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing {
                bytes: self.bytes.len(),
            })
        }
    }
}

/// What decoding a message may allocate beyond [`Input::AMPLIFICATION`] times its size.
pub const SLACK: usize = 64 << 10;

/// Writes a length for [`Input::length`]: lengths above `u32::MAX` cannot cross.
pub fn put_len(len: usize, out: &mut Vec<u8>) {
    // A message is far below 4 GiB (its channel bounds it); a longer one fails at the frame.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended inside a value.
    Truncated,
    /// A length claims more than the input holds.
    TooLong,
    /// Bytes are left after the last value.
    Trailing {
        /// How many.
        bytes: usize,
    },
    /// A value is not one its type can hold (`what` says which).
    Invalid {
        /// E.g. `bool`, `UTF-8`.
        what: &'static str,
    },
    /// The type cannot cross to another process.
    CannotCross {
        /// The type, as Rust names it.
        type_name: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("the message ends inside a value"),
            WireError::TooLong => f.write_str("a length claims more than the message holds"),
            WireError::Trailing { bytes } => {
                write!(f, "{} bytes are left after the last value", bytes)
            }
            WireError::Invalid { what } => write!(f, "not a valid {}", what),
            WireError::CannotCross { type_name } => {
                write!(f, "`{}` cannot cross to another process", type_name)
            }
        }
    }
}

impl std::error::Error for WireError {}

macro_rules! numbers {
    ($($ty:ty),*) => {$(
        impl Wire for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }

        impl<'de> FromWire<'de> for $ty {
            fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
                Ok(<$ty>::from_le_bytes(input.array()?))
            }
        }
    )*};
}

numbers!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

impl Wire for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out)
    }
}

impl<'de> FromWire<'de> for usize {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        usize::try_from(u64::decode(input)?).map_err(|_| WireError::Invalid { what: "usize" })
    }
}

impl Wire for isize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as i64).encode(out)
    }
}

impl<'de> FromWire<'de> for isize {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        isize::try_from(i64::decode(input)?).map_err(|_| WireError::Invalid { what: "isize" })
    }
}

impl Wire for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<'de> FromWire<'de> for bool {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        match u8::decode(input)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Invalid { what: "bool" }),
        }
    }
}

impl Wire for char {
    fn encode(&self, out: &mut Vec<u8>) {
        u32::from(*self).encode(out)
    }
}

impl<'de> FromWire<'de> for char {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        char::from_u32(u32::decode(input)?).ok_or(WireError::Invalid { what: "char" })
    }
}

impl Wire for () {
    fn encode(&self, _: &mut Vec<u8>) {}
}

impl<'de> FromWire<'de> for () {
    fn decode(_: &mut Input<'de>) -> Result<Self, WireError> {
        Ok(())
    }
}

/// `len` then the bytes.
fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    put_len(bytes.len(), out);
    out.extend_from_slice(bytes);
}

fn str_of<'de>(input: &mut Input<'de>) -> Result<&'de str, WireError> {
    let len = input.length()?;
    std::str::from_utf8(input.take(len)?).map_err(|_| WireError::Invalid { what: "UTF-8" })
}

impl<'a> Wire for RStr<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(self.as_str().as_bytes(), out)
    }
}

impl<'de> FromWire<'de> for RStr<'de> {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        str_of(input).map(RStr::from_str)
    }
}

impl Wire for RString {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(self.as_str().as_bytes(), out)
    }
}

impl<'de> FromWire<'de> for RString {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        let text = str_of(input)?;
        input.charge(text.len())?;
        Ok(RString::from(text))
    }
}

impl<'a> Wire for RSlice<'a, u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(self.as_slice(), out)
    }
}

impl<'de> FromWire<'de> for RSlice<'de, u8> {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        let len = input.length()?;
        input.take(len).map(RSlice::from_slice)
    }
}

impl<T: Wire> Wire for RVec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_len(self.len(), out);
        for item in self.iter() {
            item.encode(out);
        }
    }
}

impl<'de, T: FromWire<'de>> FromWire<'de> for RVec<T> {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        // `len` is at most the bytes left, and its memory is charged to the message's budget.
        let len = input.length()?;
        input.charge(len.saturating_mul(std::mem::size_of::<T>()))?;
        let mut items = RVec::with_capacity(len);
        for _ in 0..len {
            items.push(T::decode(input)?);
        }
        Ok(items)
    }
}

impl<T: Wire> Wire for ROption<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ROption::RNone => out.push(0),
            ROption::RSome(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
}

impl<'de, T: FromWire<'de>> FromWire<'de> for ROption<T> {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        match u8::decode(input)? {
            0 => Ok(ROption::RNone),
            1 => T::decode(input).map(ROption::RSome),
            _ => Err(WireError::Invalid { what: "ROption" }),
        }
    }
}

impl<T: Wire, E: Wire> Wire for RResult<T, E> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RResult::ROk(value) => {
                out.push(0);
                value.encode(out);
            }
            RResult::RErr(error) => {
                out.push(1);
                error.encode(out);
            }
        }
    }
}

impl<'de, T: FromWire<'de>, E: FromWire<'de>> FromWire<'de> for RResult<T, E> {
    fn decode(input: &mut Input<'de>) -> Result<Self, WireError> {
        match u8::decode(input)? {
            0 => T::decode(input).map(RResult::ROk),
            1 => E::decode(input).map(RResult::RErr),
            _ => Err(WireError::Invalid { what: "RResult" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Wire + for<'de> FromWire<'de> + PartialEq + fmt::Debug>(value: T) {
        let mut out = Vec::new();
        value.encode(&mut out);
        let mut input = Input::new(&out);
        assert_eq!(T::decode(&mut input).as_ref(), Ok(&value));
        assert_eq!(input.finish(), Ok(()));
    }

    #[test]
    fn values_cross_unchanged() {
        round_trip(7u32);
        round_trip(-3i64);
        round_trip(1.5f64);
        round_trip(true);
        round_trip('é');
        round_trip(RString::from("héllo"));
        round_trip(RVec::from(vec![RString::from("a"), RString::from("")]));
        round_trip(ROption::RSome(RResult::<i64, RString>::RErr("no".into())));
        let mut out = Vec::new();
        RStr::from("borrowed").encode(&mut out);
        let decoded = RStr::decode(&mut Input::new(&out)).map(|s| s.as_str().to_owned());
        assert_eq!(decoded.as_deref(), Ok("borrowed"));
    }

    #[test]
    fn hostile_bytes_are_errors_without_large_allocations() {
        // A vector claiming four billion items in eight bytes.
        let claim = [0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
        assert_eq!(
            RVec::<u64>::decode(&mut Input::new(&claim)),
            Err(WireError::TooLong)
        );
        assert_eq!(
            RString::decode(&mut Input::new(&[2, 0, 0, 0, 0xff, 0xfe])),
            Err(WireError::Invalid { what: "UTF-8" })
        );
        assert_eq!(
            bool::decode(&mut Input::new(&[2])),
            Err(WireError::Invalid { what: "bool" })
        );
        assert_eq!(
            u64::decode(&mut Input::new(&[1, 2])),
            Err(WireError::Truncated)
        );
        // Small on the wire, large in memory: past the budget.
        let mut nones = vec![0xff, 0xff, 0x0f, 0];
        nones.resize(4 + 0x000f_ffff, 0);
        assert_eq!(
            RVec::<ROption<RString>>::decode(&mut Input::new(&nones)),
            Err(WireError::TooLong)
        );
        // Items that claim to be there but are not.
        assert_eq!(
            RVec::<u64>::decode(&mut Input::new(&[4, 0, 0, 0, 1, 2, 3, 4])),
            Err(WireError::Truncated)
        );
    }
}
