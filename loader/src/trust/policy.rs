//! The trust policy, checked on the snapshot's bytes before any of them is parsed or run:
//! SHA-256 pins (one hash, or an allow-list in `sha256sum` format) and detached minisign
//! signatures against the host's trusted keys.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::digest::{LazyDigest, ParseTrustError, Sha256};
use crate::error::{ErrorKind, LoadError};

/// The SHA-256 digests of the plugin files a host accepts.
///
/// `sha256sum plugins/*.so > plugins.sha256` writes one; the file names in it are ignored: a
/// file is accepted for its bytes, wherever it lies.
///
/// ```
/// use xplug_loader::trust::AllowList;
///
/// let list: AllowList = "\
/// 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0  libgreeter_en.so
/// ".parse()?;
/// assert_eq!(list.len(), 1);
/// # Ok::<(), xplug_loader::trust::ParseTrustError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(HashSet<Sha256>);

impl AllowList {
    /// An empty list (which accepts nothing).
    pub fn new() -> Self {
        AllowList::default()
    }

    /// Adds a digest.
    pub fn insert(&mut self, digest: Sha256) {
        self.0.insert(digest);
    }

    /// Whether `digest` is listed.
    pub fn contains(&self, digest: &Sha256) -> bool {
        self.0.contains(digest)
    }

    /// How many digests it lists.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The listed digests, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Sha256> + '_ {
        self.0.iter()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a `sha256sum`-format file (at most 16 MiB). Like a plugin file, it must belong
    /// to this user or root, and no one else may be able to change it or redirect its path
    /// (Unix): whoever writes the list chooses what the host runs.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ParseTrustError> {
        let path = path.as_ref();
        super::permissions::check_anchor(path)
            .map_err(|e| ParseTrustError(format!("{}: {}", path.display(), e)))?;
        let text = read_small(path, 16 << 20)
            .map_err(|e| ParseTrustError(format!("{}: {}", path.display(), e)))?;
        text.parse()
            .map_err(|e: ParseTrustError| ParseTrustError(format!("{}: {}", path.display(), e.0)))
    }
}

impl FromStr for AllowList {
    type Err = ParseTrustError;

    /// Parses `sha256sum` output: per line a digest, a space, a space or `*`, a file name.
    /// Empty lines and lines starting with `#` are skipped.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut list = AllowList::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // `sha256sum` starts the line with `\` when it escaped the file name.
            let line = line.strip_prefix('\\').unwrap_or(line);
            let digest = line.split_whitespace().next().unwrap_or(line);
            let digest = digest.parse().map_err(|e: ParseTrustError| {
                ParseTrustError(format!("line {}: {}", number + 1, e.0))
            })?;
            list.insert(digest);
        }
        Ok(list)
    }
}

impl FromIterator<Sha256> for AllowList {
    fn from_iter<I: IntoIterator<Item = Sha256>>(iter: I) -> Self {
        AllowList(iter.into_iter().collect())
    }
}

/// A minisign public key a host trusts to sign plugins.
#[derive(Clone, Debug)]
pub struct PublicKey(minisign_verify::PublicKey);

impl PublicKey {
    /// A key from its base64 form (the second line of a `minisign.pub` file, or the string
    /// `minisign -G` prints).
    pub fn from_base64(text: &str) -> Result<Self, ParseTrustError> {
        minisign_verify::PublicKey::from_base64(text.trim())
            .map(PublicKey)
            .map_err(|e| ParseTrustError(format!("not a minisign public key: {}", e)))
    }

    /// A key from a `minisign.pub` file's text (an `untrusted comment:` line, then the key),
    /// or from the base64 line alone.
    pub fn decode(text: &str) -> Result<Self, ParseTrustError> {
        if text.trim_start().starts_with("untrusted comment:") {
            minisign_verify::PublicKey::decode(text)
                .map(PublicKey)
                .map_err(|e| ParseTrustError(format!("not a minisign public key: {}", e)))
        } else {
            PublicKey::from_base64(text)
        }
    }

    /// Reads a `minisign.pub` file. Like a plugin file, it must belong to this user or root,
    /// and no one else may be able to change it or redirect its path (Unix): whoever writes
    /// the key chooses what the host runs.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ParseTrustError> {
        let path = path.as_ref();
        super::permissions::check_anchor(path)
            .map_err(|e| ParseTrustError(format!("{}: {}", path.display(), e)))?;
        read_small(path, MAX_SIGNATURE_SIZE)
            .map_err(|e| e.to_string())
            .and_then(|text| PublicKey::decode(&text).map_err(|e| e.0))
            .map_err(|e| ParseTrustError(format!("{}: {}", path.display(), e)))
    }
}

/// A signature or key file is a few hundred bytes; more is not one.
const MAX_SIGNATURE_SIZE: u64 = 64 << 10;

/// Reads a small text file, refusing more than `limit` bytes and anything but a regular file
/// (opened without blocking: a FIFO put there does not hang the host).
fn read_small(path: &Path, limit: u64) -> std::io::Result<String> {
    let file = crate::sys::open_nonblocking(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    file.take(limit.saturating_add(1))
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} bytes", limit),
        ));
    }
    Ok(text)
}

/// What a host requires of a plugin file's bytes before any of them is parsed or run: a
/// listed SHA-256, a minisign signature by a trusted key, or both. The empty policy (the
/// default) requires nothing.
///
/// [`Loader`](crate::Loader) checks its policy on every load; [`TrustPolicy::check_file`] checks
/// a file alone, as `xplug verify` does.
///
/// ```no_run
/// use xplug_loader::trust::{PublicKey, TrustPolicy};
///
/// let policy = TrustPolicy::new().trust_key(PublicKey::read("plugins.pub")?);
/// let digest = policy.check_file("plugins/libgreeter_en.so")?;
/// println!("signed, sha256 {digest}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustPolicy {
    /// When set, only files with a listed digest pass.
    allowed: Option<AllowList>,
    /// When not empty, every file needs a `.minisig` signature by one of these keys.
    keys: Vec<PublicKey>,
}

/// The detached signature's path for a plugin file: `plugin.so.minisig`.
pub fn signature_path(path: &Path) -> PathBuf {
    super::signature_file(path)
}

impl TrustPolicy {
    /// The empty policy: every file passes.
    pub fn new() -> Self {
        TrustPolicy::default()
    }

    /// Accepts files with this SHA-256 (and those of earlier calls): files with any other
    /// digest are refused.
    pub fn require_sha256(mut self, digest: Sha256) -> Self {
        self.allowed
            .get_or_insert_with(AllowList::new)
            .insert(digest);
        self
    }

    /// Accepts files whose SHA-256 is listed (and those of earlier calls).
    pub fn allow_list(mut self, list: AllowList) -> Self {
        let allowed = self.allowed.get_or_insert_with(AllowList::new);
        for digest in list.iter() {
            allowed.insert(*digest);
        }
        self
    }

    /// Requires a minisign signature by `key` (or by the key of an earlier call) in
    /// `FILE.minisig`. A signature covers the bytes alone, not the plugin's name or version,
    /// and does not expire: every build ever signed with the key passes; pin digests
    /// ([`allow_list`](TrustPolicy::allow_list)) or rotate keys to retire old builds.
    pub fn trust_key(mut self, key: PublicKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Whether the policy requires nothing.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_none() && self.keys.is_empty()
    }

    /// Checks `bytes`, the snapshot of the file the host asked for by `requested` (its
    /// signature lies beside that name) and found at `real`.
    pub(crate) fn check(
        &self,
        requested: &Path,
        real: &Path,
        bytes: &LazyDigest<'_>,
    ) -> Result<(), LoadError> {
        let error = |kind| LoadError::new(real, kind);
        if let Some(allowed) = &self.allowed {
            let digest = bytes.get();
            if !allowed.contains(&digest) {
                return Err(error(ErrorKind::NotAllowed { sha256: digest }));
            }
        }
        if !self.keys.is_empty() {
            verify_signature(requested, real, bytes.bytes(), &self.keys).map_err(error)?;
        }
        Ok(())
    }
}

/// Verifies the `.minisig` beside `requested` (or beside `real`, the file a symlink points
/// to) against `keys`. (The caller wraps the bare `ErrorKind` into a small `LoadError`.)
#[allow(clippy::result_large_err)]
fn verify_signature(
    requested: &Path,
    real: &Path,
    bytes: &[u8],
    keys: &[PublicKey],
) -> Result<(), ErrorKind> {
    let mut sig_path = signature_path(requested);
    if !sig_path.exists() && requested != real {
        sig_path = signature_path(real);
    }
    let text = match read_small(&sig_path, MAX_SIGNATURE_SIZE) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ErrorKind::SignatureMissing {
                signature: sig_path,
            })
        }
        Err(e) => {
            return Err(ErrorKind::BadSignature {
                signature: sig_path,
                reason: e.to_string(),
            })
        }
    };
    let signature =
        minisign_verify::Signature::decode(&text).map_err(|e| ErrorKind::BadSignature {
            signature: sig_path.clone(),
            reason: format!("not a minisign signature: {}", e),
        })?;
    let mut last = None;
    for key in keys {
        match key.0.verify(bytes, &signature, false) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    let reason = match last {
        Some(minisign_verify::Error::UnexpectedKeyId) => {
            String::from("signed by a key this host does not trust")
        }
        Some(minisign_verify::Error::InvalidSignature) => {
            String::from("the signature does not match the file's bytes")
        }
        Some(minisign_verify::Error::UnexpectedAlgorithm) => {
            String::from("a legacy (non-prehashed) signature; sign with a current minisign")
        }
        Some(other) => other.to_string(),
        None => String::from("no trusted key"),
    };
    Err(ErrorKind::BadSignature {
        signature: sig_path,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_read_sha256sum_output() {
        let a = Sha256::of(b"a");
        let b = Sha256::of(b"b");
        let list: AllowList = format!("{a}  liba.so\n\n# comment\n\\{b} *lib\\nb.so\n")
            .parse()
            .unwrap();
        assert!(list.contains(&a) && list.contains(&b));
        assert_eq!(list.len(), 2);
        let error = format!("{a}  liba.so\nnot-a-digest  x.so\n")
            .parse::<AllowList>()
            .unwrap_err();
        assert!(error.to_string().starts_with("line 2: "), "{error}");
    }
}
