//! Who else may write a plugin file, or what the host trusts (an allow-list, a public key):
//! whoever can write it, rename another file over it, or redirect a symlink on the way to it
//! runs code in the host. Such a file is refused unless the host allows it, as OpenSSH refuses
//! such keys (`safe_path`): the file must belong to this user or root, and neither it nor any
//! directory on the way to it, through every symlink, may be writable by every user (a
//! directory with the sticky bit, as `/tmp`, protects the entries of this user and root).
//! Where files carry no Unix permissions (Windows: ACLs are the administrator's), nothing is
//! checked.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, LoadError};
use crate::sys::{self, Permissions};

/// The most symlinks followed from the path as given to the file (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Refuses `requested` (the path as given, whose real path is `real` and metadata `file`) if
/// someone other than this user and root could change what it names: the file's owner, its
/// mode, each directory above it, and each symlink on the way from `requested` and the
/// directories above that symlink.
pub(crate) fn check(requested: &Path, real: &Path, file: &fs::Metadata) -> Result<(), LoadError> {
    let (file, me) = match (sys::permissions(file), sys::effective_user()) {
        (Some(file), Some(me)) => (file, me),
        _ => return Ok(()),
    };
    let trusted = |owner: u32| owner == me || owner == 0;
    if !trusted(file.owner) {
        return Err(LoadError::new(
            real,
            ErrorKind::ForeignOwner {
                path: real.to_path_buf(),
                owner: file.owner,
            },
        ));
    }
    if file.mode & Permissions::WRITABLE_BY_ALL != 0 {
        return Err(refused(real, real, "file", file.mode));
    }
    if let Some(dir) = real.parent() {
        directories(real, dir, file.owner, me)?;
    }
    // Each symlink met on the way from the path as given, in any of its components: whoever
    // can replace one, or write the directory it lies in, chooses the file. A path given as
    // its real path met none (every part of a real path is a real directory).
    if requested == real {
        return Ok(());
    }
    symlinks(requested, real, me)
}

/// A component of a path still to resolve.
enum Part {
    /// `/` (or a Windows prefix): resolution starts over there.
    Root(std::ffi::OsString),
    Up,
    Name(std::ffi::OsString),
}

/// `path`'s components, last first (the order they are popped in).
fn parts(path: &Path) -> impl Iterator<Item = Part> + '_ {
    use std::path::Component;
    path.components()
        .rev()
        .filter_map(|component| match component {
            Component::Prefix(_) | Component::RootDir => {
                Some(Part::Root(component.as_os_str().to_owned()))
            }
            Component::CurDir => None,
            Component::ParentDir => Some(Part::Up),
            Component::Normal(name) => Some(Part::Name(name.to_owned())),
        })
}

/// Resolves `requested` component by component, as the kernel does, and checks each symlink
/// met: its owner, and the directories that hold it.
fn symlinks(requested: &Path, real: &Path, me: u32) -> Result<(), LoadError> {
    let trusted = |owner: u32| owner == me || owner == 0;
    let mut done = PathBuf::new();
    let mut todo: Vec<Part> = parts(&absolute(requested)).collect();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        let name = match part {
            Part::Root(root) => {
                done.push(root);
                continue;
            }
            Part::Up => {
                done.pop();
                continue;
            }
            Part::Name(name) => name,
        };
        let next = done.join(&name);
        let link = match fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => meta,
            Ok(_) => {
                done = next;
                continue;
            }
            // Gone meanwhile: the file was opened already; nothing more to say.
            Err(_) => return Ok(()),
        };
        links += 1;
        if links > MAX_LINKS {
            return Ok(());
        }
        if let Some(link) = sys::permissions(&link) {
            if !trusted(link.owner) {
                return Err(LoadError::new(
                    real,
                    ErrorKind::ForeignOwner {
                        path: next,
                        owner: link.owner,
                    },
                ));
            }
            directories(real, &done, link.owner, me)?;
        }
        match fs::read_link(&next) {
            Ok(target) => todo.extend(parts(&target)),
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Refuses `path` if `dir` (holding an entry on the way to `path`, owned by `owner`) or a
/// directory above it lets every user rename another file over that entry: world-writable,
/// unless its sticky bit protects an entry of this user or root.
fn directories(path: &Path, dir: &Path, owner: u32, me: u32) -> Result<(), LoadError> {
    let mut entry_owner = owner;
    for dir in dir.ancestors() {
        let meta = match fs::metadata(dir).ok().as_ref().and_then(sys::permissions) {
            Some(meta) => meta,
            // An unreadable directory on the way: nothing to say about who writes it.
            None => break,
        };
        let protected =
            meta.mode & Permissions::STICKY != 0 && (entry_owner == me || entry_owner == 0);
        if meta.mode & Permissions::WRITABLE_BY_ALL != 0 && !protected {
            return Err(refused(path, dir, "directory", meta.mode));
        }
        entry_owner = meta.owner;
    }
    Ok(())
}

/// Refuses `real` (a file to load in place under a trust policy, whose metadata is `file`)
/// unless only this user and root can change it ([`unprotected`]). The trust policy checks the
/// bytes read; the dynamic loader then maps the file by its path, and only such a file is sure
/// to hold the same bytes by then.
pub(crate) fn check_protected(real: &Path, file: &fs::Metadata) -> Result<(), LoadError> {
    match unprotected(real, file) {
        None => Ok(()),
        Some((path, permissions)) => Err(LoadError::new(
            real,
            ErrorKind::InPlaceUnprotected {
                path,
                mode: permissions.mode,
                owner: permissions.owner,
            },
        )),
    }
}

/// The first of `real` (whose metadata is `meta`) and the directories above it that someone
/// other than this user and root could change: one that belongs to another user, or that a
/// group or other users may write (a directory with the sticky bit, as `/tmp`, may: it keeps
/// them from replacing an entry of this user or root). `None` where all are protected, or
/// files carry no Unix permissions.
pub(crate) fn unprotected(real: &Path, meta: &fs::Metadata) -> Option<(PathBuf, Permissions)> {
    const WRITABLE_BY_GROUP_OR_OTHERS: u32 = 0o022;
    let me = sys::effective_user()?;
    let trusted = |owner: u32| owner == me || owner == 0;
    let entries = std::iter::once((real, sys::permissions(meta))).chain(
        real.ancestors().skip(1).map(|dir| {
            (
                dir,
                fs::metadata(dir).ok().as_ref().and_then(sys::permissions),
            )
        }),
    );
    // Whether the entry below (the file, then each directory) belongs to this user or root:
    // a sticky directory keeps others from replacing it.
    let mut entry_trusted = true;
    for (path, permissions) in entries {
        let permissions = match permissions {
            Some(permissions) => permissions,
            // Unreadable, or no permissions here: nothing to say.
            None => continue,
        };
        let sticky_protects =
            path != real && permissions.mode & Permissions::STICKY != 0 && entry_trusted;
        let writable = permissions.mode & WRITABLE_BY_GROUP_OR_OTHERS != 0 && !sticky_protects;
        entry_trusted = trusted(permissions.owner);
        if !entry_trusted || writable {
            return Some((path.to_path_buf(), permissions));
        }
    }
    None
}

/// Refuses the plugin at `path` if a library search path it lists (`DT_RUNPATH`, `DT_RPATH`)
/// lets others choose the libraries it loads: a relative path (resolved against the host's
/// current directory), or a directory that someone other than this user and root could change
/// ([`unprotected`]; for one that does not exist, the nearest directory above that does).
/// `$ORIGIN` is the plugin's directory when it is loaded in place (`origin`); a snapshot's
/// (its memfd, its private directory) is the host's own.
pub(crate) fn check_search_paths(
    path: &Path,
    paths: &[String],
    origin: Option<&Path>,
) -> Result<(), LoadError> {
    let refused = |entry: &str, reason: String| {
        Err(LoadError::new(
            path,
            ErrorKind::UnsafeSearchPath {
                entry: entry.to_owned(),
                reason,
            },
        ))
    };
    for entry in paths {
        // `$ORIGIN` (or `${ORIGIN}`), alone or followed by `/`: another token, or `..` below
        // it, leads where this check does not follow.
        let rest = entry
            .strip_prefix("$ORIGIN")
            .or_else(|| entry.strip_prefix("${ORIGIN}"))
            .filter(|rest| rest.is_empty() || rest.starts_with('/'));
        let climbs = Path::new(entry)
            .components()
            .any(|c| c == std::path::Component::ParentDir);
        if rest.is_some() && climbs {
            return refused(entry, String::from("leaves the plugin's directory (`..`)"));
        }
        if entry.contains('$') && rest.is_none() {
            return refused(
                entry,
                String::from("names a token this check does not expand"),
            );
        }
        let dir = match (rest, origin) {
            (Some(_), None) => continue,
            (Some(rest), Some(origin)) => origin.join(rest.trim_start_matches('/')),
            (None, _) if Path::new(entry).is_absolute() => PathBuf::from(entry),
            (None, _) => {
                return refused(
                    entry,
                    String::from("is relative to the host's current directory"),
                )
            }
        };
        // The nearest directory that exists: whoever may write there may make the rest.
        let existing = dir.ancestors().find_map(|dir| {
            let real = fs::canonicalize(dir).ok()?;
            let meta = fs::metadata(&real).ok()?;
            Some((real, meta))
        });
        if let Some((real, meta)) = existing {
            if let Some((path, permissions)) = unprotected(&real, &meta) {
                return refused(
                    entry,
                    format!(
                        "lies in {} (mode {:04o}, user {}), which others than this host's user \
                         and root can change",
                        path.display(),
                        permissions.mode,
                        permissions.owner
                    ),
                );
            }
        }
    }
    Ok(())
}

/// `path`, relative to the current directory if it is relative.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|dir| dir.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Checks a file the host trusts (an allow-list, a public key), by the rules for plugin
/// files: this user's or root's, and no one else can change it or what its path names.
#[cfg(feature = "trust")]
pub(crate) fn check_anchor(path: &Path) -> Result<(), String> {
    let real = fs::canonicalize(path).map_err(|e| e.to_string())?;
    let meta = fs::metadata(&real).map_err(|e| e.to_string())?;
    check(path, &real, &meta).map_err(|e| e.kind().to_string())
}

fn refused(path: &Path, what: &Path, kind: &'static str, mode: u32) -> LoadError {
    LoadError::new(
        path,
        ErrorKind::WritableByOthers {
            kind,
            path: what.to_path_buf(),
            mode,
        },
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn search_paths_that_others_could_fill_are_refused() {
        let dir = std::env::temp_dir().join(format!("xplug-search-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (safe, open) = (dir.join("safe"), dir.join("open"));
        fs::create_dir_all(safe.join("lib")).unwrap();
        fs::create_dir_all(&open).unwrap();
        for safe in [&dir, &safe, &safe.join("lib")] {
            fs::set_permissions(safe, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let plugin = safe.join("libx.so");
        let check = |paths: &[&str], origin: Option<&Path>| {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            check_search_paths(&plugin, &paths, origin).map_err(|e| e.kind().to_string())
        };
        let safe_text = safe.display().to_string();
        let open_text = open.display().to_string();
        // Directories of this user alone, and `$ORIGIN` of a snapshot, pass.
        assert!(check(&[&safe_text, "$ORIGIN/lib"], None).is_ok());
        assert!(check(&["$ORIGIN/lib", "${ORIGIN}"], Some(&safe)).is_ok());
        // A directory every user can write, also one still to be made there, or `$ORIGIN`
        // in place in such a directory, does not; nor does a relative one.
        let missing = format!("{open_text}/not-yet");
        for (paths, origin) in [
            (vec![open_text.as_str()], None),
            (vec![missing.as_str()], None),
            (vec!["$ORIGIN"], Some(open.as_path())),
            (vec!["lib"], None),
            (vec![""], None),
            (vec!["$ORIGIN/../../tmp"], None),
            (vec!["$ORIGINlib"], Some(safe.as_path())),
            (vec!["/usr/$LIB"], None),
        ] {
            let e = check(&paths, origin).unwrap_err();
            assert!(e.starts_with("its library search path"), "{e}");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
