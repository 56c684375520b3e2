//! What stages 1 to 3 read of a plugin file: the pieces they need, never the whole file.
//! Counted with this thread's I/O accounting (`rchar` in `/proc/thread-self/io`: bytes this
//! thread read through system calls), so tests running in parallel do not disturb it.

use std::fs;

use xplug_loader::LoadMode;
use xtask::Fixture;

use crate::support::{loader, plugin, scratch};

/// Far above the headers, dynamic symbols and plugin header of any fixture; far below the
/// size of a plugin file (a debug build is megabytes).
const FEW_PIECES: u64 = 64 << 10;

fn bytes_read_by_this_thread() -> u64 {
    let io = fs::read_to_string("/proc/thread-self/io").expect("per-thread I/O accounting");
    io.lines()
        .find_map(|line| line.strip_prefix("rchar:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("an rchar line")
}

#[test]
fn inspect_reads_a_few_kilobytes_whatever_the_size_of_the_file() {
    let file = plugin(Fixture::GreeterEn);
    let size = fs::metadata(&file).unwrap().len();
    assert!(size > 4 * FEW_PIECES, "the fixture is {size} bytes");
    let before = bytes_read_by_this_thread();
    let inspected = xplug_loader::tools::inspect(&file).expect("inspect");
    let read = bytes_read_by_this_thread() - before;
    assert_eq!(inspected.info.name, "greeter-en");
    assert!(
        read <= FEW_PIECES,
        "inspect read {read} bytes of a {size}-byte file"
    );
}

#[test]
fn an_in_place_load_without_a_trust_policy_reads_the_headers_alone() {
    let dir = scratch("reads-in-place");
    let copy = dir.join(xplug_loader::tools::library_file_name("greeter_en"));
    fs::copy(plugin(Fixture::GreeterEn), &copy).unwrap();
    let size = fs::metadata(&copy).unwrap().len();
    let before = bytes_read_by_this_thread();
    let loaded = loader().mode(LoadMode::InPlace).load(&copy).expect("loads");
    let read = bytes_read_by_this_thread() - before;
    assert_eq!(loaded.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert!(
        read <= FEW_PIECES,
        "an in-place load read {read} bytes of a {size}-byte file"
    );
}
