//! Bad input of every kind (the table in `bad_inputs.rs`): each is refused with its own error
//! kind and facts, and the host keeps running.

use std::fs;
use std::path::Path;

use greeter_interface::GreeterRef;
use xplug_loader::{ErrorKind, LoadError, Loader, Stage};
use xtask::Fixture;

use crate::bad_inputs::{bad_inputs, LIBZ};
use crate::support::{assert_good_plugin_works, loader, plugin, scratch};

fn expect_err(loader: &Loader<GreeterRef>, path: &Path) -> LoadError {
    match loader.load(path) {
        Ok(p) => panic!("{} loaded, but must be refused: {:?}", path.display(), p),
        Err(e) => {
            // Every rejection renders a short report that names the file and says who acts.
            let report = e.report().to_string();
            assert!(report.starts_with("error: plugin rejected: "), "{report}");
            assert!(report.contains("help: "), "{report}");
            assert!(report.lines().count() <= 12, "{report}");
            e
        }
    }
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn every_bad_input_is_refused_with_its_kind_and_the_host_keeps_working() {
    let mut stages = Vec::new();
    for input in bad_inputs("rejections") {
        let e = expect_err(&input.loader, &input.path);
        (input.expect)(&e, &input.path);
        // Nothing refused before stage 5 was ever opened: no plugin code ran. (Checked for
        // the files made here: the fixtures' own bytes are loaded by other tests.)
        let crafted = !input.path.starts_with(&crate::support::plugins().dir);
        if e.stage() < Stage::Open
            && crafted
            && input.path != Path::new(LIBZ)
            && input.path.is_file()
        {
            assert!(
                !crate::support::is_mapped(&input.path),
                "{}: {} was mapped into the host",
                input.name,
                input.path.display()
            );
        }
        stages.push(e.stage());
    }
    // Every stage refused something.
    stages.dedup();
    assert_eq!(
        stages,
        [
            Stage::File,
            Stage::Trust,
            Stage::Object,
            Stage::Header,
            Stage::Compatibility,
            Stage::Open,
            Stage::Layout,
            Stage::Init
        ]
    );
    // The same process still loads and calls a good plugin.
    assert_good_plugin_works();
}

#[test]
fn errors_name_their_stage_and_keep_their_source() {
    use std::error::Error as _;
    let dir = scratch("stages");
    let e = loader().load(dir.join("nope.so")).unwrap_err();
    assert_eq!(e.stage(), Stage::File);
    assert!(e.to_string().ends_with("nope.so: no such file"), "{e}");

    let major = loader().load(plugin(Fixture::Major)).unwrap_err();
    assert_eq!(major.stage(), Stage::Compatibility);
    assert_eq!(
        major.plugin().map(|p| p.name.as_str()),
        Some("fixture-major")
    );
    assert_eq!(major.to_string().lines().count(), 1);

    // An unreadable directory passed to load_dir keeps its io::Error as source.
    let e = loader().load_dir(dir.join("missing-dir")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotFound { .. }), "{e:?}");
    let file = dir.join("file");
    fs::write(&file, b"x").unwrap();
    let e = loader().load_dir(&file).unwrap_err();
    match e.kind() {
        ErrorKind::Unreadable { .. } => assert!(e.source().is_some()),
        other => panic!("{other:?}"),
    }
}

/// A copy of a plugin at `path`, written as installers do (a new file renamed over the path).
fn install(bytes: &[u8], path: &Path) {
    let tmp = path.with_extension("new");
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn a_library_the_dynamic_loader_refused_loads_once_the_file_is_fixed() {
    let dir = scratch("fixed-after-open");
    let path = dir.join(xplug_loader::tools::library_file_name("fixed"));
    let broken = bad_inputs("fixed-after-open-inputs")
        .into_iter()
        .find(|i| i.name == "open")
        .unwrap();
    install(&fs::read(&broken.path).unwrap(), &path);
    let e = loader().load(&path).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Open { .. }), "{e:?}");
    // Nothing was mapped, so the fixed file is simply the next plugin at this path.
    install(&fs::read(plugin(Fixture::GreeterEn)).unwrap(), &path);
    let en = loader()
        .load(&path)
        .unwrap_or_else(|e| panic!("the fixed file must load:\n{}", e.report()));
    assert_eq!(en.add(2, 2).unwrap(), 4);
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn numbers_from_a_crafted_file_never_overflow() {
    use object::{Object, ObjectSection, ObjectSymbol};
    let dir = scratch("overflow");
    let good = fs::read(plugin(Fixture::GreeterEn)).unwrap();
    let (value_at, section_ends) = {
        let file = object::File::parse(&*good).unwrap();
        let dynsym = file.section_by_name(".dynsym").unwrap();
        let (dynsym_offset, _) = dynsym.file_range().unwrap();
        let symbol = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok(xplug::header::HEADER_SYMBOL))
            .unwrap();
        // Elf64_Sym: st_name 4, st_info 1, st_other 1, st_shndx 2, st_value 8, st_size 8.
        let value_at = dynsym_offset as usize + symbol.index().0 * 24 + 8;
        (value_at, file.sections().count())
    };
    assert!(section_ends > 1);
    // The header symbol's address at the top of the address space: `address + size` wraps.
    let mut bytes = good.clone();
    bytes[value_at..value_at + 8].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    let wrapped = dir.join("libwrapped.so");
    fs::write(&wrapped, &bytes).unwrap();
    match loader().load(&wrapped) {
        Err(e) => assert!(matches!(e.kind(), ErrorKind::BadHeader { .. }), "{e:?}"),
        Ok(_) => panic!("a header at an impossible address loaded"),
    }
    assert_good_plugin_works();
}
#[test]
#[cfg(unix)]
fn a_huge_sparse_file_is_refused_before_it_is_read() {
    let dir = scratch("sparse");
    let path = dir.join(xplug_loader::tools::library_file_name("sparse"));
    fs::write(&path, fs::read(plugin(Fixture::GreeterEn)).unwrap()).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(2 << 30).unwrap();
    drop(file);
    let e = loader().load(&path).unwrap_err();
    match e.kind() {
        ErrorKind::TooLarge { size, limit, .. } => {
            assert_eq!(*size, 2 << 30);
            assert!(limit < size);
        }
        other => panic!("{other:?}"),
    }
    // A host may set the limit; a file within it is read (a real plugin, padded with zeros).
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(16 << 20).unwrap();
    drop(file);
    assert!(matches!(
        loader()
            .max_file_size(8 << 20)
            .load(&path)
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge { .. }
    ));
    let padded = loader()
        .max_file_size(32 << 20)
        .load(&path)
        .unwrap_or_else(|e| panic!("{}", e.report()));
    assert_eq!(padded.add(1, 2).unwrap(), 3);
}

/// A change to a GNU hash table's bytes.
type Patch<'a> = &'a dyn Fn(&mut [u8]);

/// Where the `.gnu.hash` section of the ELF file `bytes` lies, and its header's four words:
/// buckets, first hashed symbol, Bloom words, Bloom shift.
fn gnu_hash(bytes: &[u8]) -> (std::ops::Range<usize>, [u32; 4]) {
    use object::{Object, ObjectSection};
    let file = object::File::parse(bytes).unwrap();
    let section = file.section_by_name(".gnu.hash").expect("a GNU hash table");
    let (at, len) = section.file_range().unwrap();
    let range = at as usize..(at + len) as usize;
    let word = |i: usize| u32::from_le_bytes(bytes[range.start + 4 * i..][..4].try_into().unwrap());
    (range.clone(), [word(0), word(1), word(2), word(3)])
}

/// The header is looked for through the library's GNU hash table, as the dynamic loader looks
/// up a symbol: a table that says the header symbol is not there is believed, and a table the
/// dynamic loader could not read safely (it asserts on a number of Bloom words that is not a
/// power of two, ending the process) refuses the file, both before `dlopen`, without a panic in
/// this debug build (a shift of 32 would overflow in a lookup that trusted it). A table that is
/// not that of the dynamic symbols is passed over for the symbols themselves.
#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn the_header_symbol_is_looked_up_through_the_gnu_hash_table_and_a_damaged_one_is_refused() {
    let original = fs::read(plugin(Fixture::GreeterEn)).unwrap();
    let (table, [_, _, bloom_words, _]) = gnu_hash(&original);
    let dir = scratch("gnu-hash");
    let refusals = |name: &str, patch: Patch<'_>| {
        let mut bytes = original.clone();
        patch(&mut bytes[table.clone()]);
        let path = dir.join(xplug_loader::tools::library_file_name(name));
        fs::write(&path, &bytes).unwrap();
        let inspected = xplug_loader::tools::inspect(&path).expect_err(name);
        let loaded = expect_err(&loader(), &path);
        [inspected.kind().clone(), loaded.kind().clone()]
    };
    let set = |table: &mut [u8], word: usize, value: u32| {
        table[4 * word..4 * word + 4].copy_from_slice(&value.to_le_bytes());
    };

    // The Bloom filter says there is no symbol of that hash; no buckets, no symbol at all.
    let absent: [(&str, Patch<'_>); 2] = [
        ("bloom-empty", &|t| {
            t[16..16 + 8 * bloom_words as usize].fill(0)
        }),
        ("no-buckets", &|t| set(t, 0, 0)),
    ];
    for (name, patch) in absent {
        for kind in refusals(name, patch) {
            assert!(
                matches!(kind, ErrorKind::NotAPlugin { .. }),
                "{name}: {kind:?}"
            );
        }
    }
    // Tables the dynamic loader could not read safely.
    let damaged: [(&str, Patch<'_>, &str); 5] = [
        ("three-bloom-words", &|t| set(t, 2, 3), "not a power of two"),
        (
            "shift-32",
            &|t| set(t, 3, 32),
            "a Bloom shift of 32 or more",
        ),
        ("no-bloom-words", &|t| set(t, 2, 0), "not a power of two"),
        (
            "bloom-past-the-end",
            &|t| set(t, 2, 1 << 30),
            "its parts run past its end",
        ),
        (
            "chains-outside",
            &|t| set(t, 1, u32::MAX),
            "a chain runs outside",
        ),
    ];
    for (name, patch, reason) in damaged {
        for kind in refusals(name, patch) {
            match kind {
                ErrorKind::Malformed { reason: said, .. } => assert!(
                    said.contains("GNU hash table (`.gnu.hash`) cannot be read safely")
                        && said.contains(reason),
                    "{name}: {said}"
                ),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    // A table linked to no symbol table is not used: the dynamic symbols are searched one by
    // one, and the header found (by `inspect` with the table's Bloom filter emptied too, which
    // the table would have believed; by a load with the table as it was, which the dynamic
    // loader reads through the dynamic segment).
    let mut bytes = original.clone();
    let sh_link = section_header(&bytes, ".gnu.hash") + 40;
    bytes[sh_link..sh_link + 4].copy_from_slice(&0u32.to_le_bytes());
    let path = dir.join(xplug_loader::tools::library_file_name("unlinked"));
    fs::write(&path, &bytes).unwrap();
    let plugin = loader()
        .load(&path)
        .expect("found by searching the dynamic symbols");
    assert_eq!(plugin.info().name, "greeter-en");
    bytes[table.start + 16..table.start + 16 + 8 * bloom_words as usize].fill(0);
    let path = dir.join(xplug_loader::tools::library_file_name(
        "unlinked-bloom-empty",
    ));
    fs::write(&path, &bytes).unwrap();
    let info = xplug_loader::tools::inspect(&path).expect("found by searching the dynamic symbols");
    assert_eq!(info.info.name, "greeter-en");
    assert_good_plugin_works();
}

/// Where the section header of the section `name` of the 64-bit little-endian ELF file
/// `bytes` starts.
fn section_header(bytes: &[u8], name: &str) -> usize {
    use object::{Object, ObjectSection};
    let file = object::File::parse(bytes).unwrap();
    let index = file.section_by_name(name).unwrap().index().0;
    let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize;
    let shentsize = u16::from_le_bytes(bytes[0x3a..0x3c].try_into().unwrap()) as usize;
    shoff + index * shentsize
}
