//! [`Sha256`]: the digest that names a plugin's bytes to hosts and operators (pins,
//! allow-lists, the quarantine journal, `xplug inspect`).

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use sha2::Digest;

/// A SHA-256 digest, shown as 64 lowercase hex digits (as `sha256sum` prints it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{:02x}", b))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Text that is not a SHA-256 digest or not a `sha256sum` list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseTrustError(pub(crate) String);

impl FromStr for Sha256 {
    type Err = ParseTrustError;

    /// Parses 64 hex digits, either case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ParseTrustError(format!(
                "`{}` is not a SHA-256 digest (64 hex digits)",
                text
            ))
        };
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut digest = [0; 32];
        for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Sha256(digest))
    }
}

/// Bytes whose SHA-256 is computed the first time it is asked for, at most once.
pub(crate) struct LazyDigest<'a> {
    bytes: &'a [u8],
    known: Cell<Option<Sha256>>,
}

impl<'a> LazyDigest<'a> {
    /// `bytes`, their digest not computed yet.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        LazyDigest {
            bytes,
            known: Cell::new(None),
        }
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Their SHA-256.
    pub(crate) fn get(&self) -> Sha256 {
        match self.known.get() {
            Some(known) => known,
            None => {
                let computed = Sha256::of(self.bytes);
                self.known.set(Some(computed));
                computed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_print_and_parse_as_sha256sum_does() {
        let digest = Sha256::of(b"abc");
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.to_string(), hex);
        assert_eq!(hex.parse::<Sha256>().unwrap(), digest);
        assert_eq!(hex.to_uppercase().parse::<Sha256>().unwrap(), digest);
        assert!("abc".parse::<Sha256>().is_err());
        assert!(format!("{}é", &hex[..62]).parse::<Sha256>().is_err());
        assert!(format!("+f{}", &hex[2..]).parse::<Sha256>().is_err());
    }
}
