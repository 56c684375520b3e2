//! The one dependency generated code needs in the user's crate: `abi_stable`, whose
//! `#[derive(StableAbi)]` names itself by the absolute path `::abi_stable`, which only a direct
//! dependency provides (a re-export through `xplug` cannot).

use proc_macro2::Span;
use syn::Error;

/// `Err` with the way out if the crate being compiled does not depend on `abi_stable`, so that
/// the mistake is one error instead of one per generated derive. Where the manifest cannot be
/// read, the code is generated as usual.
pub(crate) fn abi_stable(attribute: &str) -> syn::Result<()> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|dir| std::path::Path::new(&dir).join("Cargo.toml"))
        .and_then(|path| std::fs::read_to_string(path).ok());
    match manifest {
        Some(manifest) if !mentions_abi_stable(&manifest) => Err(Error::new(
            Span::call_site(),
            format!(
                "`{attribute}` needs `abi_stable` as a dependency of this crate: the \
                 `#[derive(StableAbi)]` it generates names it as `::abi_stable`\n\
                 help: add `abi_stable = \"0.11\"` under `[dependencies]` in this crate's \
                 Cargo.toml"
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether a manifest names `abi_stable` (or `abi-stable`) in a dependency table, outside
/// comments: as a dependency, a renamed one, or one inherited from the workspace. A false "yes"
/// costs only the errors this check exists to replace.
fn mentions_abi_stable(manifest: &str) -> bool {
    let mut in_dependencies = false;
    manifest.lines().any(|line| {
        let code = line.split('#').next().unwrap_or("").trim();
        if code.starts_with('[') {
            in_dependencies = code.contains("dependencies");
        }
        // A table header, or a dotted key outside one (`dependencies.abi_stable = "0.11"`).
        (in_dependencies || code.contains("dependencies"))
            && (code.contains("abi_stable") || code.contains("abi-stable"))
    })
}

#[cfg(test)]
mod tests {
    use super::mentions_abi_stable;

    #[test]
    fn a_manifest_without_abi_stable_is_told_apart() {
        let without = "[package]\nname = \"abi-stable-notes\"\n\n[dependencies]\nxplug = \"0.1\"\n\
                       # abi_stable = \"0.11\"\n";
        assert!(!mentions_abi_stable(without));
        for with in [
            "[dependencies]\nabi_stable = \"0.11\"\n",
            "[dependencies]\nabi_stable.workspace = true\n",
            "[dependencies.abi_stable]\nversion = \"0.11\"\n",
            "[target.'cfg(unix)'.dependencies]\nabi_stable = \"0.11\"\n",
            "[package]\nname = \"x\"\ndependencies.abi_stable = \"0.11\"\n",
            "[dependencies]\nabi-stable = { package = \"abi_stable\", version = \"0.11\" }\n",
        ] {
            assert!(mentions_abi_stable(with), "{with}");
        }
    }
}
