//! Stage 3: the plugin's frozen header, found through its exported symbol and read from the
//! file's bytes (only the dynamic symbols, their names and hash table, and the header itself
//! are read), then parsed.

// The functions below return the bare `ErrorKind`, which `read` wraps with the path into a
// (boxed, small) `LoadError`: a large `Err` is fine on these cold, private paths.
#![allow(clippy::result_large_err)]

use std::path::Path;

use object::elf::{self, FileHeader64};
use object::read::elf::{SectionHeader, SectionTable, Sym};
use object::read::ReadRef;
use object::{BinaryFormat, Endian, Endianness, Object, ObjectSection, ObjectSymbol, SectionIndex};
use xplug::header::{self, PluginHeader, FORMAT_VERSION, HEADER_SIZE, HEADER_SYMBOL};

use crate::error::{ErrorKind, LoadError};
use crate::info::{PanicStrategy, PluginInfo, Profile};
use crate::stages::object::{format_name, Parsed};

/// Finds and parses the header of `library`, the file at `path`; returns it, and its bytes.
pub(crate) fn read<'data, R: ReadRef<'data>>(
    path: &Path,
    data: R,
    library: &Parsed<'data, R>,
) -> Result<(PluginInfo, [u8; HEADER_SIZE]), LoadError> {
    let error = |kind| LoadError::new(path, kind);
    let bytes = find(library, data).map_err(error)?;
    let info = parse(&PluginHeader::from_bytes(bytes)).map_err(error)?;
    Ok((info, *bytes))
}

/// Where a section lies: its address, size and place in the file.
struct Placed {
    address: u64,
    size: u64,
    file_range: Option<(u64, u64)>,
}

/// The first of `sections` that holds the whole header at `address`. Addresses and sizes come
/// from the file: checked arithmetic only.
fn holding(address: u64, mut sections: impl Iterator<Item = Placed>) -> Option<Placed> {
    let end = address.checked_add(HEADER_SIZE as u64)?;
    sections.find(|s| {
        s.address.checked_add(s.size).map_or(false, |section_end| {
            address >= s.address && end <= section_end
        })
    })
}

/// The header's bytes in the file.
fn find<'data, R: ReadRef<'data>>(
    library: &Parsed<'data, R>,
    data: R,
) -> Result<&'data [u8; HEADER_SIZE], ErrorKind> {
    // Mach-O prefixes C symbols with `_`.
    let mangled = format!("_{}", HEADER_SYMBOL);
    let is_header = |name: &[u8]| name == HEADER_SYMBOL.as_bytes() || name == mangled.as_bytes();
    // Where the library's own bytes start in the file (a universal Mach-O file holds several).
    let mut base = 0;
    // The header's address, and the section that holds it (looked for once the address is
    // known, without gathering every section first).
    let (address, holder): (Option<u64>, Option<Placed>) = match library {
        Parsed::Elf64 { endian, sections } => {
            let endian = *endian;
            // The dynamic symbols alone: the exported ones, whatever the size of `.symtab`.
            let address = elf_symbol(
                endian,
                sections,
                data,
                [HEADER_SYMBOL.as_bytes(), mangled.as_bytes()],
            )?;
            let holder = address.and_then(|address| {
                holding(
                    address,
                    sections.iter().map(|s| Placed {
                        address: s.sh_addr(endian),
                        size: s.sh_size(endian),
                        file_range: s.file_range(endian),
                    }),
                )
            });
            (address, holder)
        }
        Parsed::Other { file, format, data } => {
            base = data.base();
            let address = if *format == BinaryFormat::Elf {
                file.dynamic_symbols()
                    .find(|s| s.is_definition() && s.name_bytes().map_or(false, is_header))
                    .map(|s| s.address())
            } else {
                let exports = file.exports().map_err(|e| ErrorKind::Malformed {
                    format: format_name(*format).to_owned(),
                    reason: format!("unreadable export table: {}", e),
                })?;
                exports
                    .iter()
                    .find(|e| is_header(e.name()))
                    .map(|e| e.address())
            };
            let holder = address.and_then(|address| {
                holding(
                    address,
                    file.sections().map(|s| Placed {
                        address: s.address(),
                        size: s.size(),
                        file_range: s.file_range(),
                    }),
                )
            });
            (address, holder)
        }
    };
    let address = address.ok_or(ErrorKind::NotAPlugin {})?;
    let bad = |reason: String| ErrorKind::BadHeader { reason };
    let size = HEADER_SIZE as u64;
    let file_offset = holder
        .and_then(|s| {
            s.file_range?
                .0
                .checked_add(address - s.address)?
                .checked_add(base)
        })
        .ok_or_else(|| {
            bad(format!(
                "the {}-byte header at address {:#x} is not stored in the file",
                HEADER_SIZE, address
            ))
        })?;
    let bytes = data
        .read_bytes_at(file_offset, size)
        .map_err(|_| bad(String::from("the header lies past the end of the file")))?;
    bytes
        .try_into()
        .map_err(|_| bad(String::from("short header")))
}

/// The value of the first defined dynamic symbol of an ELF library named one of `names`, if
/// there is one. Looked up through the library's GNU hash table where it has one, as the
/// dynamic loader looks up a symbol (a handful of symbols looked at, not all of them): what the
/// table says is what `dlsym` would find, and a table the dynamic loader could not read safely
/// (Bloom words not a power of two in number, a shift past 31, parts past the section's end, a
/// chain outside the symbols) refuses the file. A library without one is searched symbol by
/// symbol. (The dynamic loader reads the table its dynamic segment names, which a crafted file
/// can make another: the header found here is compared with the one `dlsym` finds after
/// `dlopen`.)
fn elf_symbol<'data, R: ReadRef<'data>>(
    endian: Endianness,
    sections: &SectionTable<'data, FileHeader64<Endianness>, R>,
    data: R,
    names: [&[u8]; 2],
) -> Result<Option<u64>, ErrorKind> {
    let malformed = |reason: String| ErrorKind::Malformed {
        format: String::from("ELF"),
        reason,
    };
    // The first section of dynamic symbols, and the first GNU hash table (used only if it is
    // that of those symbols), in one pass.
    let mut dynamic = None;
    let mut hash = None;
    for (index, section) in sections.iter().enumerate() {
        match section.sh_type(endian) {
            elf::SHT_DYNSYM if dynamic.is_none() => dynamic = Some((index, section)),
            elf::SHT_GNU_HASH if hash.is_none() => hash = Some(section),
            _ => {}
        }
    }
    let (index, dynamic) = match dynamic {
        Some(found) => found,
        None => return Ok(None),
    };
    let symbols: &[elf::Sym64<Endianness>] = dynamic
        .data_as_array(endian, data)
        .map_err(|e| malformed(e.to_string()))?;
    // The names, read once as one piece: names looked up one by one through the reads would
    // each be a read (and a kept copy) of their own.
    let names_section = sections
        .section(SectionIndex(dynamic.sh_link(endian) as usize))
        .map_err(|e| malformed(e.to_string()))?;
    if names_section.sh_type(endian) != elf::SHT_STRTAB {
        return Err(malformed(String::from("Invalid ELF string section type")));
    }
    let strings = names_section
        .data(endian, data)
        .map_err(|e| malformed(e.to_string()))?;
    let named = |symbol: &elf::Sym64<Endianness>, name: &[u8]| {
        let at = symbol.st_name(endian) as usize;
        strings.get(at..).map_or(false, |rest| {
            rest.len() > name.len() && rest.starts_with(name) && rest[name.len()] == 0
        })
    };
    match hash.filter(|table| table.sh_link(endian) as usize == index) {
        Some(table) => {
            let table = table
                .data(endian, data)
                .map_err(|e| malformed(e.to_string()))?;
            let damaged = |reason: &str| {
                malformed(format!(
                    "its GNU hash table (`.gnu.hash`) cannot be read safely: {}",
                    reason
                ))
            };
            let table = match GnuHash::parse(endian, table).map_err(damaged)? {
                Some(table) => table,
                // No buckets: the dynamic loader finds no symbol of this library.
                None => return Ok(None),
            };
            for name in names {
                let found = table
                    .find(endian, symbols, name, |symbol| named(symbol, name))
                    .map_err(damaged)?;
                if let Some(symbol) = found {
                    return Ok(Some(symbol.st_value(endian)));
                }
            }
            Ok(None)
        }
        None => Ok(symbols
            .iter()
            .find(|s| s.is_definition(endian) && names.iter().any(|name| named(s, name)))
            .map(|s| s.st_value(endian))),
    }
}

/// A GNU hash table of a 64-bit ELF library's dynamic symbols (`.gnu.hash`), as the dynamic
/// loader reads it: a Bloom filter, then a bucket per hash, then chains of hashes that run
/// alongside the symbols from `symbol_base` on. Every number in it comes from the file.
struct GnuHash<'data> {
    symbol_base: u32,
    bloom_shift: u32,
    bloom: &'data [u8],
    buckets: &'data [u8],
    chains: &'data [u8],
}

impl<'data> GnuHash<'data> {
    /// The table in `data`; `None` if it has no buckets (the dynamic loader then finds no
    /// symbol in it); an error if the dynamic loader could not read it safely.
    fn parse(
        endian: Endianness,
        data: &'data [u8],
    ) -> Result<Option<GnuHash<'data>>, &'static str> {
        let word = |at: usize| {
            data.get(at..at + 4)
                .map(|w| endian.read_u32_bytes([w[0], w[1], w[2], w[3]]))
        };
        let header = (word(0), word(4), word(8), word(12));
        let (buckets, symbol_base, bloom_words, bloom_shift) = match header {
            (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
            _ => return Err("its header is cut short"),
        };
        if buckets == 0 {
            return Ok(None);
        }
        // The dynamic loader asserts this when it maps the library, ending the process.
        if !bloom_words.is_power_of_two() {
            return Err("a number of Bloom filter words that is not a power of two");
        }
        if bloom_shift >= 32 {
            return Err("a Bloom shift of 32 or more");
        }
        let past = "its parts run past its end";
        let bloom_end = (bloom_words as usize)
            .checked_mul(8)
            .and_then(|len| len.checked_add(16))
            .ok_or(past)?;
        let buckets_end = (buckets as usize)
            .checked_mul(4)
            .and_then(|len| len.checked_add(bloom_end))
            .ok_or(past)?;
        Ok(Some(GnuHash {
            symbol_base,
            bloom_shift,
            bloom: data.get(16..bloom_end).ok_or(past)?,
            buckets: data.get(bloom_end..buckets_end).ok_or(past)?,
            chains: data.get(buckets_end..).ok_or(past)?,
        }))
    }

    /// The defined symbol of `symbols` with this `name` (`is_named` tells) that the table
    /// leads to, if any; an error if the chain it follows runs outside the table or the
    /// symbols.
    fn find<'s>(
        &self,
        endian: Endianness,
        symbols: &'s [elf::Sym64<Endianness>],
        name: &[u8],
        is_named: impl Fn(&elf::Sym64<Endianness>) -> bool,
    ) -> Result<Option<&'s elf::Sym64<Endianness>>, &'static str> {
        let outside = "a chain runs outside the table or the symbols";
        let hash = elf::gnu_hash(name);
        let u32_at = |bytes: &[u8], i: usize| {
            let at = i.checked_mul(4)?;
            let w = bytes.get(at..at.checked_add(4)?)?;
            Some(endian.read_u32_bytes([w[0], w[1], w[2], w[3]]))
        };
        // The Bloom filter: one 64-bit word (their number is a power of two, and the mask keeps
        // the index below it, as the dynamic loader's does), two bits of it.
        let words = self.bloom.len() / 8;
        let at = (hash as usize / 64) & (words - 1);
        let word = match self.bloom.get(at * 8..at * 8 + 8) {
            Some(w) => endian.read_u64_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
            None => return Err(outside),
        };
        let bits = (1u64 << (hash % 64)) | (1u64 << ((hash >> self.bloom_shift) % 64));
        if word & bits != bits {
            return Ok(None);
        }
        let buckets = self.buckets.len() / 4;
        let mut index = u32_at(self.buckets, hash as usize % buckets).ok_or(outside)? as usize;
        if index == 0 {
            return Ok(None);
        }
        // The chain: hashes, the last one's low bit set, each beside its symbol.
        loop {
            let chained = index
                .checked_sub(self.symbol_base as usize)
                .and_then(|i| u32_at(self.chains, i))
                .ok_or(outside)?;
            let symbol = symbols.get(index).ok_or(outside)?;
            if chained | 1 == hash | 1 && symbol.is_definition(endian) && is_named(symbol) {
                return Ok(Some(symbol));
            }
            if chained & 1 != 0 {
                return Ok(None);
            }
            index += 1;
        }
    }
}

/// Checks a header's fields and converts them.
pub(crate) fn parse(h: &PluginHeader) -> Result<PluginInfo, ErrorKind> {
    let bad = |reason: String| ErrorKind::BadHeader { reason };
    if h.magic != header::MAGIC {
        return Err(bad(String::from("bad magic bytes")));
    }
    let format = u32::from_le_bytes(h.format_version);
    if format > FORMAT_VERSION {
        return Err(ErrorKind::UnsupportedHeader {
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    if format == 0 {
        return Err(bad(String::from("format version 0")));
    }
    let text = |field: &[u8], what: &str| -> Result<String, ErrorKind> {
        match header::field_str(field) {
            Some(s) if has_control(s) => Err(bad(format!("{} contains control characters", what))),
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            Some(_) => Err(bad(format!("empty {}", what))),
            None => Err(bad(format!("{} is not UTF-8", what))),
        }
    };
    let version = |field: &[u8], what: &str| -> Result<semver::Version, ErrorKind> {
        let s = text(field, what)?;
        semver::Version::parse(&s).map_err(|e| bad(format!("{} `{}`: {}", what, s, e)))
    };
    let panic_strategy = match h.panic_strategy {
        header::PANIC_UNWIND => PanicStrategy::Unwind,
        header::PANIC_ABORT => PanicStrategy::Abort,
        other => return Err(bad(format!("unknown panic strategy {}", other))),
    };
    let profile = match h.profile {
        header::PROFILE_DEBUG => Profile::Debug,
        header::PROFILE_RELEASE => Profile::Release,
        other => return Err(bad(format!("unknown build profile {}", other))),
    };
    Ok(PluginInfo {
        name: text(&h.plugin_name, "plugin name")?,
        version: version(&h.plugin_version, "plugin version")?,
        interface_name: text(&h.interface_name, "interface name")?,
        interface_version: version(&h.interface_version, "interface version")?,
        rustc: text(&h.rustc_version, "rustc version")?,
        target: text(&h.target, "target")?,
        xplug_version: text(&h.xplug_version, "xplug version")?,
        panic_strategy,
        profile,
        header_format: format,
        xplug_abi: if format >= 2 {
            u16::from_le_bytes(h.abi_version)
        } else {
            0
        },
    })
}

/// Whether `s` holds a control character (`char::is_control`: U+0000-U+001F, U+007F-U+009F),
/// from its bytes: the C1 controls are `C2 80`-`C2 9F` in UTF-8. (Decoding characters one by
/// one costs several times more in a host built without optimisations.)
fn has_control(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x20 || b == 0x7f {
            return true;
        }
        if b == 0xc2 && i + 1 < bytes.len() && (0x80..=0x9f).contains(&bytes[i + 1]) {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use xplug::__private::{plugin_header, HeaderFields};

    fn good() -> PluginHeader {
        plugin_header(HeaderFields {
            interface_name: "greeter",
            interface_version: "1.2.3",
            plugin_name: "greeter-en",
            plugin_version: "0.4.1",
            panic_unwind: true,
            debug: false,
        })
    }

    fn reason(h: &PluginHeader) -> String {
        match parse(h) {
            Err(ErrorKind::BadHeader { reason }) => reason,
            other => panic!("expected BadHeader, got {other:?}"),
        }
    }

    fn set(field: &mut [u8], text: &[u8]) {
        field.fill(0);
        field[..text.len()].copy_from_slice(text);
    }

    #[test]
    fn a_written_header_parses_back() {
        let info = parse(&good()).unwrap();
        assert_eq!(info.name, "greeter-en");
        assert_eq!(info.version, semver::Version::new(0, 4, 1));
        assert_eq!(info.interface_name, "greeter");
        assert_eq!(info.interface_version, semver::Version::new(1, 2, 3));
        assert_eq!(info.panic_strategy, PanicStrategy::Unwind);
        assert_eq!(info.profile, Profile::Release);
        assert_eq!(info.header_format, FORMAT_VERSION);
        assert!(info.rustc.starts_with("rustc "), "{}", info.rustc);
        assert_eq!(info.target, crate::host::host_target());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut h = good();
        h.magic[0] = b'Y';
        assert_eq!(reason(&h), "bad magic bytes");

        let mut h = good();
        h.format_version = 0u32.to_le_bytes();
        assert_eq!(reason(&h), "format version 0");

        let mut h = good();
        set(&mut h.interface_version, b"1.x");
        assert!(reason(&h).starts_with("interface version `1.x`: "));

        let mut h = good();
        set(&mut h.plugin_name, b"");
        assert_eq!(reason(&h), "empty plugin name");

        let mut h = good();
        set(&mut h.plugin_name, b"\xff\xfe");
        assert_eq!(reason(&h), "plugin name is not UTF-8");

        let mut h = good();
        set(&mut h.plugin_name, b"\x1b]0;owned\x07");
        assert_eq!(reason(&h), "plugin name contains control characters");

        let mut h = good();
        h.panic_strategy = 7;
        assert_eq!(reason(&h), "unknown panic strategy 7");

        let mut h = good();
        h.profile = 0;
        assert_eq!(reason(&h), "unknown build profile 0");
    }

    #[test]
    fn a_newer_format_is_unsupported_not_bad() {
        let mut h = good();
        h.format_version = 99u32.to_le_bytes();
        match parse(&h) {
            Err(ErrorKind::UnsupportedHeader { found, supported }) => {
                assert_eq!((found, supported), (99, FORMAT_VERSION));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn control_characters_are_found_as_char_is_control_finds_them() {
        for c in (0..=0x2ffu32).filter_map(char::from_u32) {
            let s = format!("a{}b", c);
            assert_eq!(has_control(&s), c.is_control(), "U+{:04X}", c as u32);
        }
        assert!(!has_control("é ü ©"));
    }

    #[test]
    fn a_field_filling_its_whole_width_needs_no_terminator() {
        let mut h = good();
        h.plugin_name = [b'a'; 64];
        assert_eq!(parse(&h).unwrap().name, "a".repeat(64));
    }
}
