//! Stages 2 and 3 on Mach-O libraries, as a macOS host reads them: thin and universal (fat)
//! files written here with `object`'s writer, read for a platform that is not this host.

use std::path::Path;

use object::macho::{CPU_SUBTYPE_ARM64E, CPU_TYPE_ARM64, CPU_TYPE_X86_64, FAT_MAGIC, MH_DYLIB};
use object::write::{Object as Writer, StandardSection, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};
use xplug::__private::{plugin_header, HeaderFields};
use xplug::header::HEADER_SYMBOL;

use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::stages::file::{self, FileRules, Reads};
use crate::stages::header;
use crate::stages::object::parse;
use crate::sys::Platform;

const MAC_X86_64: Platform = Platform {
    format: BinaryFormat::MachO,
    architecture: Architecture::X86_64,
};
const MAC_ARM64: Platform = Platform {
    format: BinaryFormat::MachO,
    architecture: Architecture::Aarch64,
};
const LINUX_X86_64: Platform = Platform {
    format: BinaryFormat::Elf,
    architecture: Architecture::X86_64,
};

/// A Mach-O object for `arch` that defines the plugin header of `plugin` (`None`: no
/// header), written as `ld` would a dylib (file type `MH_DYLIB`) when `dylib`.
fn macho(arch: Architecture, plugin: Option<&str>, dylib: bool) -> Vec<u8> {
    let mut writer = Writer::new(BinaryFormat::MachO, arch, Endianness::Little);
    let section = writer.section_id(StandardSection::ReadOnlyData);
    // Code before the header, so that it does not sit at the section's start.
    writer.append_section_data(section, &[0x90; 40], 8);
    if let Some(plugin) = plugin {
        let header = plugin_header(HeaderFields {
            interface_name: "greeter",
            interface_version: "1.1.0",
            plugin_name: plugin,
            plugin_version: "0.3.0",
            panic_unwind: true,
            debug: false,
        });
        let offset = writer.append_section_data(section, header.as_bytes(), 8);
        writer.add_symbol(Symbol {
            // Written as `_xplug_...`: Mach-O prefixes C symbols with `_`.
            name: HEADER_SYMBOL.as_bytes().to_vec(),
            value: offset,
            size: header.as_bytes().len() as u64,
            kind: SymbolKind::Data,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
    }
    let mut bytes = writer.write().expect("write a Mach-O object");
    if dylib {
        // `mach_header_64.filetype`, after `magic`, `cputype` and `cpusubtype`.
        bytes[12..16].copy_from_slice(&MH_DYLIB.to_le_bytes());
    }
    bytes
}

/// A universal file holding `images` (CPU type and subtype, bytes), each 4 KiB-aligned, as
/// `lipo` writes them (big-endian `fat_header` and `fat_arch` records).
fn universal(images: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&FAT_MAGIC.to_be_bytes());
    out.extend_from_slice(&(images.len() as u32).to_be_bytes());
    let mut offset = 4096u32;
    let mut placed = Vec::new();
    for (cpu, subtype, image) in images {
        for field in [*cpu, *subtype, offset, image.len() as u32, 12] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        placed.push(offset);
        offset += (image.len() as u32 + 4095) / 4096 * 4096;
    }
    for ((_, _, image), at) in images.iter().zip(placed) {
        out.resize(at as usize, 0);
        out.extend_from_slice(image);
    }
    out
}

/// Stages 2 and 3 on `bytes`, as a host of `platform` runs them.
fn read(bytes: &[u8], platform: Platform) -> Result<PluginInfo, LoadError> {
    let path = Path::new("libgreeter.dylib");
    let parsed = parse(path, bytes, platform)?;
    header::read(path, bytes, &parsed).map(|(info, _)| info)
}

fn refusal(bytes: &[u8], platform: Platform) -> (ErrorKind, String) {
    let e = read(bytes, platform).expect_err("refused");
    (e.kind().clone(), e.to_string())
}

#[test]
fn a_mach_o_plugin_is_read_by_a_mac_host_of_its_architecture_only() {
    let dylib = macho(Architecture::X86_64, Some("greeter-mac"), true);
    let info = read(&dylib, MAC_X86_64).expect("read as macOS x86_64");
    assert_eq!(info.name, "greeter-mac");
    assert_eq!(info.interface_name, "greeter");
    assert_eq!(info.interface_version, semver::Version::new(1, 1, 0));

    let (kind, text) = refusal(&dylib, MAC_ARM64);
    assert!(
        matches!(kind, ErrorKind::WrongArchitecture { .. }),
        "{text}"
    );
    assert!(text.contains("x86_64"), "{text}");

    // An ELF host refuses it before reading anything else.
    let (kind, text) = refusal(&dylib, LINUX_X86_64);
    assert!(matches!(kind, ErrorKind::WrongFormat { .. }), "{text}");
    assert!(text.contains("Mach-O"), "{text}");
}

#[test]
fn a_universal_file_gives_each_host_the_image_for_its_architecture() {
    let x86 = macho(Architecture::X86_64, Some("greeter-intel"), true);
    let arm = macho(Architecture::Aarch64, Some("greeter-apple-silicon"), true);
    let fat = universal(&[(CPU_TYPE_X86_64, 3, &x86), (CPU_TYPE_ARM64, 0, &arm)]);
    assert_eq!(read(&fat, MAC_X86_64).unwrap().name, "greeter-intel");
    assert_eq!(read(&fat, MAC_ARM64).unwrap().name, "greeter-apple-silicon");

    // The same bytes, through the reads `inspect` makes of the file stage 1 opened.
    let dir = std::env::temp_dir().join(format!("xplug-macho-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("libgreeter.dylib");
    std::fs::write(&path, &fat).unwrap();
    let opened = file::open(&path, FileRules::READING).unwrap();
    let reads = Reads::of(&opened);
    for (platform, name) in [
        (MAC_ARM64, "greeter-apple-silicon"),
        (MAC_X86_64, "greeter-intel"),
    ] {
        let parsed = parse(&path, &reads, platform).unwrap();
        let (info, _) = header::read(&path, &reads, &parsed).unwrap();
        assert_eq!(info.name, name);
    }
    drop(reads);
    drop(opened);
    std::fs::remove_dir_all(&dir).unwrap();

    // A host of a third architecture is told which ones the file holds.
    let riscv = Platform {
        format: BinaryFormat::MachO,
        architecture: Architecture::Riscv64,
    };
    let (kind, text) = refusal(&fat, riscv);
    assert!(
        matches!(kind, ErrorKind::WrongArchitecture { .. }),
        "{text}"
    );
    assert!(
        text.contains("x86_64 and aarch64 (a universal file)"),
        "{text}"
    );

    // An image that a universal file places in it, but for which the file is too short:
    // refused as truncated, whatever the size its header claims, and whichever image a host
    // reads.
    let mut cut = fat.clone();
    cut.truncate(fat.len() - 100);
    for platform in [MAC_ARM64, MAC_X86_64] {
        let (kind, text) = refusal(&cut, platform);
        assert!(matches!(kind, ErrorKind::Malformed { .. }), "{text}");
        assert!(text.contains("truncated"), "{text}");
    }
    let mut huge = fat.clone();
    // The second record's size (`fat_arch.size`, after cputype, cpusubtype and offset).
    huge[8 + 20 + 12..8 + 20 + 16].copy_from_slice(&u32::MAX.to_be_bytes());
    let (kind, text) = refusal(&huge, MAC_ARM64);
    assert!(matches!(kind, ErrorKind::Malformed { .. }), "{text}");
}

#[test]
fn mach_o_files_that_are_not_plugins_are_refused_at_the_stage_that_sees_it() {
    // An object file, not a library.
    let object = macho(Architecture::X86_64, Some("greeter-mac"), false);
    let (kind, text) = refusal(&object, MAC_X86_64);
    assert!(
        matches!(kind, ErrorKind::NotASharedLibrary { .. }),
        "{text}"
    );
    assert!(text.contains("relocatable"), "{text}");

    // A library without a header.
    let plain = macho(Architecture::X86_64, None, true);
    let (kind, text) = refusal(&plain, MAC_X86_64);
    assert!(matches!(kind, ErrorKind::NotAPlugin { .. }), "{text}");

    // A library cut short: every length from its load commands down.
    let dylib = macho(Architecture::X86_64, Some("greeter-mac"), true);
    for len in (1..dylib.len()).step_by(7) {
        match read(&dylib[..len], MAC_X86_64) {
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Malformed { .. }
                        | ErrorKind::NotALibrary { .. }
                        | ErrorKind::BadHeader { .. }
                        | ErrorKind::NotAPlugin { .. }
                ),
                "{len} bytes: {e}"
            ),
            Ok(info) => panic!("{len} of {} bytes read as {info:?}", dylib.len()),
        }
    }
}

#[test]
fn a_universal_file_is_read_only_where_the_image_that_runs_is_known() {
    let x86 = macho(Architecture::X86_64, Some("greeter-intel"), true);
    let arm = macho(Architecture::Aarch64, Some("greeter-apple-silicon"), true);
    // Two images for one architecture (x86_64 and x86_64h): the machine picks; refused.
    let two = universal(&[(CPU_TYPE_X86_64, 3, &x86), (CPU_TYPE_X86_64, 8, &x86)]);
    let (kind, text) = refusal(&two, MAC_X86_64);
    assert!(matches!(kind, ErrorKind::Malformed { .. }), "{text}");
    assert!(text.contains("more than one x86_64 image"), "{text}");
    // An arm64e image is not one an arm64 process runs.
    let arm64e = universal(&[
        (CPU_TYPE_X86_64, 3, &x86),
        (CPU_TYPE_ARM64, CPU_SUBTYPE_ARM64E, &arm),
    ]);
    let (kind, text) = refusal(&arm64e, MAC_ARM64);
    assert!(
        matches!(kind, ErrorKind::WrongArchitecture { .. }),
        "{text}"
    );
    assert!(
        text.contains("x86_64 and arm64e (a universal file)"),
        "{text}"
    );
    // Nor is a thin one.
    let mut thin = arm.clone();
    thin[8..12].copy_from_slice(&CPU_SUBTYPE_ARM64E.to_le_bytes());
    let (kind, text) = refusal(&thin, MAC_ARM64);
    assert!(
        matches!(kind, ErrorKind::WrongArchitecture { .. }),
        "{text}"
    );
    assert!(text.contains("arm64e"), "{text}");
    // A file that claims more images than there are architectures.
    let mut many = universal(&[(CPU_TYPE_X86_64, 3, &x86)]);
    many[4..8].copy_from_slice(&65u32.to_be_bytes());
    many.resize(many.len().max(8 + 65 * 20), 0);
    let (kind, text) = refusal(&many, MAC_X86_64);
    assert!(matches!(kind, ErrorKind::Malformed { .. }), "{text}");
    assert!(text.contains("65 images"), "{text}");
    // Beside an arm64 image, the arm64 one is read.
    let both = universal(&[
        (CPU_TYPE_ARM64, CPU_SUBTYPE_ARM64E, &x86),
        (CPU_TYPE_ARM64, 0, &arm),
    ]);
    assert_eq!(
        read(&both, MAC_ARM64).unwrap().name,
        "greeter-apple-silicon"
    );
}
