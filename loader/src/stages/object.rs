//! Stage 2: the file is a shared library for this OS and architecture, parsed with the
//! `object` crate, before any `dlopen`.
//!
//! Only what the later stages need is read: for an ELF library of this host's kind, the file
//! header, the program and section headers and (stage 3) the dynamic symbol table, never the
//! full symbol table (`.symtab`, thousands of entries, megabytes in a debug build). Any other
//! file goes through `object`'s full parse, whose errors say what is wrong with it.

use std::path::Path;

use object::elf::{FileHeader64, ET_DYN};
use object::read::elf::{FileHeader, SectionHeader, SectionTable};
use object::read::ReadRef;
use object::{Architecture, BinaryFormat, Endianness, FileKind, Object, ObjectKind};

use crate::sys::{host_architecture, host_elf_machine, host_format};

use crate::error::{ErrorKind, LoadError};

/// A parsed shared library of this platform's format and architecture.
pub(crate) enum Parsed<'data, R: ReadRef<'data>> {
    /// A 64-bit ELF library for this host's machine: its section headers alone.
    Elf64 {
        endian: Endianness,
        sections: SectionTable<'data, FileHeader64<Endianness>, R>,
    },
    /// Anything else, fully parsed.
    Other {
        file: object::File<'data, R>,
        format: BinaryFormat,
    },
}

/// Parses `data`, the contents of the file at `path`, and checks that it is a shared library
/// this host's dynamic loader can open.
pub(crate) fn parse<'data, R: ReadRef<'data>>(
    path: &Path,
    data: R,
) -> Result<Parsed<'data, R>, LoadError> {
    let error = |kind| LoadError::new(path, kind);
    if data.len() == Ok(0) {
        return Err(error(ErrorKind::NotALibrary {
            reason: String::from("the file is empty"),
        }));
    }
    let kind = FileKind::parse(data).map_err(|_| {
        error(ErrorKind::NotALibrary {
            reason: describe_unknown(data),
        })
    })?;
    let format = match kind {
        FileKind::Elf32 | FileKind::Elf64 => BinaryFormat::Elf,
        FileKind::Pe32 | FileKind::Pe64 => BinaryFormat::Pe,
        FileKind::MachO32 | FileKind::MachO64 | FileKind::MachOFat32 | FileKind::MachOFat64 => {
            BinaryFormat::MachO
        }
        FileKind::Coff | FileKind::CoffBig | FileKind::CoffImport => BinaryFormat::Coff,
        other => {
            return Err(error(ErrorKind::NotALibrary {
                reason: format!("{:?} file", other),
            }))
        }
    };
    if format != host_format() {
        return Err(error(ErrorKind::WrongFormat {
            expected: format_name(host_format()),
            found: format_name(format).to_owned(),
        }));
    }
    let malformed = |reason: String| {
        error(ErrorKind::Malformed {
            format: format_name(format).to_owned(),
            reason,
        })
    };
    if kind == FileKind::Elf64 {
        if let Some((endian, sections)) = elf64(data).map_err(|e| malformed(e.to_string()))? {
            truncated_elf(endian, &sections, data).map_err(malformed)?;
            return Ok(Parsed::Elf64 { endian, sections });
        }
    }
    let file = object::File::parse(data).map_err(|e| malformed(e.to_string()))?;
    let host_arch = host_architecture();
    if host_arch != Architecture::Unknown && file.architecture() != host_arch {
        return Err(error(ErrorKind::WrongArchitecture {
            expected: architecture_name(host_arch),
            found: architecture_name(file.architecture()),
        }));
    }
    if file.kind() != ObjectKind::Dynamic {
        return Err(error(ErrorKind::NotASharedLibrary {
            kind: match file.kind() {
                ObjectKind::Executable => String::from("an executable"),
                ObjectKind::Relocatable => String::from("a relocatable object file"),
                ObjectKind::Core => String::from("a core dump"),
                _ => String::from("an object file of unknown kind"),
            },
        }));
    }
    truncated(&file, data).map_err(malformed)?;
    Ok(Parsed::Other { file, format })
}

/// The directories where the dynamic loader looks for the libraries `parsed` needs, as its
/// dynamic section lists them (`DT_RPATH` and `DT_RUNPATH`, each split at `:`). Read for
/// 64-bit ELF libraries of this host's kind; other formats list none here.
pub(crate) fn search_paths<'data, R: ReadRef<'data>>(
    parsed: &Parsed<'data, R>,
    data: R,
) -> Result<Vec<String>, String> {
    const DT_RPATH: u64 = 15;
    const DT_RUNPATH: u64 = 29;
    let (endian, sections) = match parsed {
        Parsed::Elf64 { endian, sections } => (*endian, sections),
        Parsed::Other { .. } => return Ok(Vec::new()),
    };
    let (entries, link) = match sections.dynamic(endian, data).map_err(|e| e.to_string())? {
        Some(dynamic) => dynamic,
        None => return Ok(Vec::new()),
    };
    let strings = sections
        .strings(endian, data, link)
        .map_err(|e| e.to_string())?;
    let mut paths = Vec::new();
    for entry in entries {
        let tag = entry.d_tag.get(endian);
        if tag != DT_RPATH && tag != DT_RUNPATH {
            continue;
        }
        let offset = u32::try_from(entry.d_val.get(endian))
            .map_err(|_| String::from("a library search path beyond its string table"))?;
        let text = strings
            .get(offset)
            .map_err(|_| String::from("a library search path beyond its string table"))?;
        let text = String::from_utf8_lossy(text);
        // An empty entry is the current directory to the dynamic loader: it is kept.
        paths.extend(text.split(':').map(str::to_owned));
    }
    Ok(paths)
}

/// A 64-bit ELF shared library for this host's machine, from its headers alone; `None` for
/// any other ELF file (the full parse then says what it is).
#[allow(clippy::type_complexity)]
fn elf64<'data, R: ReadRef<'data>>(
    data: R,
) -> object::read::Result<Option<(Endianness, SectionTable<'data, FileHeader64<Endianness>, R>)>> {
    let machine = match host_elf_machine() {
        Some(machine) => machine,
        None => return Ok(None),
    };
    let header = FileHeader64::<Endianness>::parse(data)?;
    let endian = header.endian()?;
    if header.e_machine(endian) != machine || header.e_type(endian) != ET_DYN {
        return Ok(None);
    }
    // Read as the full parse would, so that a damaged file is refused here, not by `dlopen`.
    header.program_headers(endian, data)?;
    let sections = header.sections(endian, data)?;
    Ok(Some((endian, sections)))
}

/// [`truncated`], from the section headers of a 64-bit ELF file.
fn truncated_elf<'data, R: ReadRef<'data>>(
    endian: Endianness,
    sections: &SectionTable<'data, FileHeader64<Endianness>, R>,
    data: R,
) -> Result<(), String> {
    let len = data.len().unwrap_or(0);
    for section in sections.iter() {
        if let Some((offset, size)) = section.file_range(endian) {
            if offset.checked_add(size).map_or(true, |end| end > len) {
                let name = sections
                    .section_name(endian, section)
                    .ok()
                    .and_then(|n| std::str::from_utf8(n).ok())
                    .unwrap_or("?");
                return Err(truncation(name, len));
            }
        }
    }
    Ok(())
}

fn truncation(section: &str, len: u64) -> String {
    format!(
        "section `{}` lies past the end of the file ({} bytes): truncated",
        section, len
    )
}

/// Why `file` is cut short: a section whose contents lie past the end of `data` (a file
/// still being written, or truncated). The dynamic loader would refuse it, or map zeros.
fn truncated<'data, R: ReadRef<'data>>(
    file: &object::File<'data, R>,
    data: R,
) -> Result<(), String> {
    use object::ObjectSection;
    let len = data.len().unwrap_or(0);
    for section in file.sections() {
        if let Some((offset, size)) = section.file_range() {
            if offset.checked_add(size).map_or(true, |end| end > len) {
                return Err(truncation(section.name().unwrap_or("?"), len));
            }
        }
    }
    Ok(())
}

pub(crate) fn format_name(format: BinaryFormat) -> &'static str {
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

/// Says what a file of unknown format looks like, from its first bytes.
fn describe_unknown<'data, R: ReadRef<'data>>(data: R) -> String {
    let len = data.len().unwrap_or(0).min(64);
    match data.read_bytes_at(0, len) {
        Ok(head) if head.starts_with(b"!<arch>") => String::from("it is a static library archive"),
        Ok(head)
            if head
                .iter()
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            String::from("it is a text file")
        }
        _ => String::from("unknown file format"),
    }
}
