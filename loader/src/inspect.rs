//! Stages 1 to 3: the file, its object format and its header, read without running any of
//! the file's code.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::read::ReadCache;
use object::{
    Architecture, BinaryFormat, FileKind, Object, ObjectKind, ObjectSection, ObjectSymbol,
};
use xplug::header::{PluginHeader, FORMAT_VERSION, HEADER_SIZE, HEADER_SYMBOL};

use crate::error::LoadError;
use crate::info::PluginInfo;

/// A plugin file whose header was read (stages 1 to 3 passed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspected {
    /// The file's real path, symlinks resolved.
    pub path: PathBuf,
    /// What its header says.
    pub info: PluginInfo,
}

/// Reads a plugin's header from its file without loading it: none of its code runs, not
/// even static constructors. Runs stages 1 to 3 of the load pipeline.
///
/// ```no_run
/// let inspected = xplug_loader::inspect("plugins/libgreeter_en.so")?;
/// println!("{} implements {}", inspected.info.label(), inspected.info.interface_name);
/// # Ok::<(), xplug_loader::LoadError>(())
/// ```
pub fn inspect(path: impl AsRef<Path>) -> Result<Inspected, LoadError> {
    let path = resolve(path.as_ref())?;
    let file = fs::File::open(&path).map_err(|e| unreadable(&path, e))?;
    let len = file.metadata().map_err(|e| unreadable(&path, e))?.len();
    if len == 0 {
        return Err(LoadError::NotALibrary {
            path,
            reason: String::from("the file is empty"),
        });
    }
    let cache = ReadCache::new(file);
    let info = read_header(&path, &cache)?;
    Ok(Inspected { path, info })
}

/// Stage 1: the path exists and is a regular file; returns its real path.
pub(crate) fn resolve(path: &Path) -> Result<PathBuf, LoadError> {
    let real = match fs::canonicalize(path) {
        #[cfg(windows)]
        Ok(real) => dunce::simplified(&real).to_path_buf(),
        #[cfg(not(windows))]
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(LoadError::NotFound {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(unreadable(path, e)),
    };
    let meta = fs::metadata(&real).map_err(|e| unreadable(&real, e))?;
    if meta.is_dir() {
        return Err(LoadError::NotAFile {
            path: real,
            kind: "directory",
        });
    }
    if !meta.is_file() {
        return Err(LoadError::NotAFile {
            path: real,
            kind: "special file",
        });
    }
    Ok(real)
}

fn unreadable(path: &Path, e: io::Error) -> LoadError {
    LoadError::Unreadable {
        path: path.to_owned(),
        source: Arc::new(e),
    }
}

/// The object format this platform's dynamic loader opens.
pub(crate) fn host_format() -> BinaryFormat {
    if cfg!(windows) {
        BinaryFormat::Pe
    } else if cfg!(target_vendor = "apple") {
        BinaryFormat::MachO
    } else {
        BinaryFormat::Elf
    }
}

/// The architecture this host runs on, in `object`'s terms.
pub(crate) fn host_architecture() -> Architecture {
    match std::env::consts::ARCH {
        "x86_64" if cfg!(target_pointer_width = "32") => Architecture::X86_64_X32,
        "x86_64" => Architecture::X86_64,
        "x86" => Architecture::I386,
        "aarch64" if cfg!(target_pointer_width = "32") => Architecture::Aarch64_Ilp32,
        "aarch64" => Architecture::Aarch64,
        "arm" => Architecture::Arm,
        "riscv64" => Architecture::Riscv64,
        "riscv32" => Architecture::Riscv32,
        "powerpc64" => Architecture::PowerPc64,
        "powerpc" => Architecture::PowerPc,
        "s390x" => Architecture::S390x,
        "loongarch64" => Architecture::LoongArch64,
        "mips64" => Architecture::Mips64,
        "mips" => Architecture::Mips,
        "sparc64" => Architecture::Sparc64,
        _ => Architecture::Unknown,
    }
}

fn format_name(format: BinaryFormat) -> &'static str {
    match format {
        BinaryFormat::Elf => "ELF",
        BinaryFormat::Pe => "PE",
        BinaryFormat::MachO => "Mach-O",
        BinaryFormat::Coff => "COFF",
        BinaryFormat::Wasm => "WebAssembly",
        BinaryFormat::Xcoff => "XCOFF",
        _ => "unknown",
    }
}

fn architecture_name(arch: Architecture) -> String {
    match arch {
        Architecture::X86_64 => String::from("x86_64"),
        Architecture::I386 => String::from("x86"),
        Architecture::Aarch64 => String::from("aarch64"),
        Architecture::Arm => String::from("arm"),
        other => format!("{:?}", other).to_lowercase(),
    }
}

/// Stages 2 and 3 on an open file.
fn read_header(path: &Path, data: &ReadCache<fs::File>) -> Result<PluginInfo, LoadError> {
    let kind = match FileKind::parse(data) {
        Ok(kind) => kind,
        Err(_) => {
            return Err(LoadError::NotALibrary {
                path: path.to_owned(),
                reason: describe_unknown(data),
            })
        }
    };
    let claimed = match kind {
        FileKind::Elf32 | FileKind::Elf64 => BinaryFormat::Elf,
        FileKind::Pe32 | FileKind::Pe64 => BinaryFormat::Pe,
        FileKind::MachO32 | FileKind::MachO64 | FileKind::MachOFat32 | FileKind::MachOFat64 => {
            BinaryFormat::MachO
        }
        FileKind::Coff | FileKind::CoffBig | FileKind::CoffImport => BinaryFormat::Coff,
        other => {
            return Err(LoadError::NotALibrary {
                path: path.to_owned(),
                reason: format!("{:?} file", other),
            })
        }
    };
    if claimed != host_format() {
        return Err(LoadError::WrongFormat {
            path: path.to_owned(),
            expected: format_name(host_format()),
            found: format_name(claimed).to_owned(),
        });
    }
    let obj = object::File::parse(data).map_err(|e| LoadError::Malformed {
        path: path.to_owned(),
        format: format_name(claimed).to_owned(),
        reason: e.to_string(),
    })?;
    let host_arch = host_architecture();
    if host_arch != Architecture::Unknown && obj.architecture() != host_arch {
        return Err(LoadError::WrongArchitecture {
            path: path.to_owned(),
            expected: architecture_name(host_arch),
            found: architecture_name(obj.architecture()),
        });
    }
    if obj.kind() != ObjectKind::Dynamic {
        return Err(LoadError::NotASharedLibrary {
            path: path.to_owned(),
            kind: match obj.kind() {
                ObjectKind::Executable => String::from("an executable"),
                ObjectKind::Relocatable => String::from("a relocatable object file"),
                ObjectKind::Core => String::from("a core dump"),
                _ => String::from("an object file of unknown kind"),
            },
        });
    }

    // Stage 3: the header symbol, read from the file at its section's offset. Only the
    // symbol table and the header's bytes are read, never whole sections.
    let mangled = format!("_{}", HEADER_SYMBOL);
    let is_header = |name: &[u8]| name == HEADER_SYMBOL.as_bytes() || name == mangled.as_bytes();
    let address = if claimed == BinaryFormat::Elf {
        obj.dynamic_symbols()
            .find(|s| s.is_definition() && s.name_bytes().map_or(false, is_header))
            .map(|s| s.address())
    } else {
        let exports = obj.exports().map_err(|e| LoadError::Malformed {
            path: path.to_owned(),
            format: format_name(claimed).to_owned(),
            reason: format!("unreadable export table: {}", e),
        })?;
        exports
            .iter()
            .find(|e| is_header(e.name()))
            .map(|e| e.address())
    };
    let address = match address {
        Some(address) => address,
        None => {
            return Err(LoadError::NotAPlugin {
                path: path.to_owned(),
            })
        }
    };
    let bad = |reason: String| LoadError::BadHeader {
        path: path.to_owned(),
        reason,
    };
    let size = HEADER_SIZE as u64;
    let file_offset = obj
        .sections()
        .find(|s| address >= s.address() && address + size <= s.address() + s.size())
        .and_then(|s| Some(s.file_range()?.0 + (address - s.address())))
        .ok_or_else(|| {
            bad(format!(
                "the {}-byte header at address {:#x} is not stored in the file",
                HEADER_SIZE, address
            ))
        })?;
    let bytes = object::ReadRef::read_bytes_at(data, file_offset, size)
        .map_err(|_| bad(String::from("the header lies past the end of the file")))?;
    let bytes: &[u8; HEADER_SIZE] = bytes
        .try_into()
        .map_err(|_| bad(String::from("short header")))?;
    match PluginInfo::from_header(&PluginHeader::from_bytes(bytes)) {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(found)) => Err(LoadError::UnsupportedHeader {
            path: path.to_owned(),
            found,
            supported: FORMAT_VERSION,
        }),
        Err(reason) => Err(bad(reason)),
    }
}

/// Says what a file of unknown format looks like.
fn describe_unknown(data: &ReadCache<fs::File>) -> String {
    use object::ReadRef;
    let head = data.read_bytes_at(0, 64).or_else(|_| {
        let len = data.len().unwrap_or(0).min(64);
        data.read_bytes_at(0, len)
    });
    match head {
        Ok(head)
            if head
                .iter()
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            String::from("it is a text file")
        }
        Ok(head) if head.starts_with(b"!<arch>") => String::from("it is a static library archive"),
        _ => String::from("unknown file format"),
    }
}
