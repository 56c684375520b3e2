//! Stage 2: the file is a shared library for this OS and architecture, parsed with the
//! `object` crate, before any `dlopen`.
//!
//! Only what the later stages need is read: for an ELF library of this host's kind, the file
//! header, the program and section headers and (stage 3) the dynamic symbol table, never the
//! full symbol table (`.symtab`, thousands of entries, megabytes in a debug build). Any other
//! file goes through `object`'s full parse, whose errors say what is wrong with it.

use std::ops::Range;
use std::path::Path;

use object::elf::{FileHeader64, ET_DYN};
use object::macho::{FatArch32, FatArch64};
use object::read::elf::{FileHeader, SectionHeader, SectionTable};
use object::read::macho::{FatArch, MachOFatFile};
use object::read::ReadRef;
use object::{Architecture, BinaryFormat, Endianness, FileKind, Object, ObjectKind};

use crate::error::{ErrorKind, LoadError};
use crate::sys::Platform;

/// A parsed shared library of this platform's format and architecture.
pub(crate) enum Parsed<'data, R: ReadRef<'data>> {
    /// A 64-bit ELF library for this host's machine: its section headers alone.
    Elf64 {
        endian: Endianness,
        sections: SectionTable<'data, FileHeader64<Endianness>, R>,
    },
    /// Anything else, fully parsed: the whole file, or the image for this host's architecture
    /// in a universal (fat) Mach-O file.
    Other {
        file: Box<object::File<'data, Within<R>>>,
        format: BinaryFormat,
        data: Within<R>,
    },
}

/// Parses `data`, the contents of the file at `path`, and checks that it is a shared library
/// the dynamic loader of `platform` (this host's, but for tests) can open.
pub(crate) fn parse<'data, R: ReadRef<'data>>(
    path: &Path,
    data: R,
    platform: Platform,
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
    if format != platform.format {
        return Err(error(ErrorKind::WrongFormat {
            expected: format_name(platform.format),
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
        if let Some((endian, sections)) =
            elf64(data, platform).map_err(|e| malformed(e.to_string()))?
        {
            truncated_elf(endian, &sections, data).map_err(malformed)?;
            return Ok(Parsed::Elf64 { endian, sections });
        }
    }
    let image = match kind {
        FileKind::MachOFat32 => fat_image::<FatArch32, R>(data, platform.architecture),
        FileKind::MachOFat64 => fat_image::<FatArch64, R>(data, platform.architecture),
        _ => Within::whole(data).ok_or_else(|| Fat::Malformed(String::from("unreadable size"))),
    };
    let data = match image {
        Ok(data) => data,
        Err(Fat::Malformed(reason)) => return Err(malformed(reason)),
        Err(Fat::Without(found)) => {
            return Err(error(ErrorKind::WrongArchitecture {
                expected: architecture_name(platform.architecture),
                found,
            }))
        }
    };
    let file = object::File::parse(data).map_err(|e| malformed(e.to_string()))?;
    if format == BinaryFormat::MachO && arm64e(data) {
        return Err(error(ErrorKind::WrongArchitecture {
            expected: architecture_name(platform.architecture),
            found: String::from("arm64e"),
        }));
    }
    if platform.architecture != Architecture::Unknown
        && file.architecture() != platform.architecture
    {
        return Err(error(ErrorKind::WrongArchitecture {
            expected: architecture_name(platform.architecture),
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
    Ok(Parsed::Other {
        file: Box::new(file),
        format,
        data,
    })
}

/// Bytes `base..base + len` of a file, read as a file of their own: one architecture's image
/// in a universal (fat) Mach-O file, or the whole file. Every read is checked against `len`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Within<R> {
    data: R,
    base: u64,
    len: u64,
}

impl<'data, R: ReadRef<'data>> Within<R> {
    /// All of `data`.
    fn whole(data: R) -> Option<Within<R>> {
        Some(Within {
            data,
            base: 0,
            len: data.len().ok()?,
        })
    }

    /// Where the bytes start in the file.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// Where the bytes lie in the file: `offset` within them, as an offset in the file.
    fn file_offset(&self, offset: u64) -> Option<u64> {
        self.base.checked_add(offset)
    }
}

impl<'data, R: ReadRef<'data>> ReadRef<'data> for Within<R> {
    fn len(self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'data [u8], ()> {
        match offset.checked_add(size) {
            Some(end) if end <= self.len => self
                .data
                .read_bytes_at(self.file_offset(offset).ok_or(())?, size),
            _ => Err(()),
        }
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'data [u8], ()> {
        let end = range.end.min(self.len);
        if range.start > end {
            return Err(());
        }
        let start = self.file_offset(range.start).ok_or(())?;
        let end = self.file_offset(end).ok_or(())?;
        self.data.read_bytes_at_until(start..end, delimiter)
    }
}

/// Whether `data`, a Mach-O image, is for arm64e (pointer authentication), which an arm64
/// process does not run, though `object` calls it `Aarch64` as it does arm64.
fn arm64e<'data, R: ReadRef<'data>>(data: R) -> bool {
    use object::macho::{CPU_SUBTYPE_ARM64E, CPU_SUBTYPE_MASK, CPU_TYPE_ARM64, MH_MAGIC_64};
    // `mach_header_64`: magic, cputype, cpusubtype; arm64 images are little-endian.
    let word = |at: u64| {
        data.read_bytes_at(at, 4)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    word(0) == Some(MH_MAGIC_64)
        && word(4) == Some(CPU_TYPE_ARM64)
        && word(8).map_or(false, |sub| sub & !CPU_SUBTYPE_MASK == CPU_SUBTYPE_ARM64E)
}

/// The most images a universal file may hold: far more than there are architectures (dyld
/// reads its records from the file's first page).
const MAX_IMAGES: usize = 64;

/// Why a universal (fat) Mach-O file gave no image.
enum Fat {
    /// Its headers are damaged.
    Malformed(String),
    /// It holds none for the architecture wanted: what it holds instead.
    Without(String),
}

/// The image for `architecture` in a universal (fat) Mach-O file. Every image must lie within
/// the file; an arm64e image is not one for an arm64 host (its process cannot run it); and a
/// file with two images for the architecture is refused, since which of them the dynamic
/// loader takes depends on the machine (`x86_64h` on Haswell and later), and the checks must
/// read the one that runs.
fn fat_image<'data, Arch: FatArch, R: ReadRef<'data>>(
    data: R,
    architecture: Architecture,
) -> Result<Within<R>, Fat> {
    let fat = MachOFatFile::<Arch>::parse(data).map_err(|e| Fat::Malformed(e.to_string()))?;
    if fat.arches().len() > MAX_IMAGES {
        return Err(Fat::Malformed(format!(
            "it claims {} images, more than {}",
            fat.arches().len(),
            MAX_IMAGES
        )));
    }
    let len = data
        .len()
        .map_err(|_| Fat::Malformed(String::from("unreadable size")))?;
    let mut found: Option<Within<R>> = None;
    let mut held: Vec<String> = Vec::new();
    for arch in fat.arches() {
        let (base, size) = arch.file_range();
        if base.checked_add(size).map_or(true, |end| end > len) {
            return Err(Fat::Malformed(format!(
                "the {} image lies past the end of the file ({} bytes): truncated",
                architecture_name(arch.architecture()),
                len
            )));
        }
        let arm64e = arch.cputype() == object::macho::CPU_TYPE_ARM64
            && arch.cpusubtype() & !object::macho::CPU_SUBTYPE_MASK
                == object::macho::CPU_SUBTYPE_ARM64E;
        if arch.architecture() == architecture && !arm64e {
            if found.is_some() {
                return Err(Fat::Malformed(format!(
                    "it holds more than one {} image: which one runs depends on the machine",
                    architecture_name(architecture)
                )));
            }
            found = Some(Within {
                data,
                base,
                len: size,
            });
        } else if arm64e {
            held.push(String::from("arm64e"));
        } else {
            held.push(architecture_name(arch.architecture()));
        }
    }
    found.ok_or_else(|| {
        Fat::Without(if held.is_empty() {
            String::from("no architecture (a universal file with no image)")
        } else {
            format!("{} (a universal file)", held.join(" and "))
        })
    })
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
    platform: Platform,
) -> object::read::Result<Option<(Endianness, SectionTable<'data, FileHeader64<Endianness>, R>)>> {
    let machine = match platform.elf64_machine() {
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

#[cfg(test)]
mod macho_tests;
