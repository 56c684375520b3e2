//! Shared parts of the benchmarks: the bench plugins (built in release mode on first use),
//! fresh copies of them for load benchmarks, and a resident-memory measurement.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::Throughput;
use xplug_loader::{Interface, Plugin};

/// Interfaces of 10, 100 and 500 functions, each declared twice (`a`, `b`), for the
/// layout-check benchmark.
#[allow(missing_docs, clippy::all)]
pub mod wide {
    include!(concat!(env!("OUT_DIR"), "/wide.rs"));
}

/// The benchmark plugins' files.
#[derive(Clone, Debug)]
pub struct BenchPlugins {
    /// The xplug plugin (also exports the raw `extern "C"` functions).
    pub xplug: PathBuf,
    /// The plain abi_stable plugin.
    pub plain: PathBuf,
    /// The async workloads' plugin.
    pub async_plugin: PathBuf,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is one level below the repository root")
        .to_path_buf()
}

/// Builds `bench-xplug`, `bench-abi-stable` and `bench-async` in release mode (once; later runs reuse the
/// build) and returns their files.
pub fn bench_plugins() -> BenchPlugins {
    let target = build(
        true,
        &[
            "-p",
            "bench-xplug",
            "-p",
            "bench-abi-stable",
            "-p",
            "bench-async",
        ],
    );
    let file = |name: &str| {
        target
            .join("release")
            .join(xplug_loader::tools::library_file_name(name))
    };
    BenchPlugins {
        xplug: file("bench_xplug"),
        plain: file("bench_abi_stable"),
        async_plugin: file("bench_async"),
    }
}

/// Builds `bench-xplug` as `cargo build` does by default, unoptimised and with debug info: a
/// plugin of the size developers load while they work (about 10 MB). Returns its file.
pub fn debug_bench_plugin() -> PathBuf {
    build(false, &["-p", "bench-xplug"])
        .join("debug")
        .join(xplug_loader::tools::library_file_name("bench_xplug"))
}

/// Runs `cargo build` of `packages` (`-p` arguments) into the bench plugins' target directory,
/// which it returns.
fn build(release: bool, packages: &[&str]) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("target"),
    }
    .join("xplug-bench");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo_root())
        .args(["build", "--quiet"])
        .args(if release { &["--release"][..] } else { &[][..] })
        .args(packages)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        // Loops aligned to 64 bytes (every crate of the plugins; `cargo xtask bench` aligns
        // the benchmark crate's): a loop that crosses a line runs a cycle slower per
        // iteration, so two copies of one body (the xplug shim's and the raw export's) could
        // otherwise differ by where they landed.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", "-C llvm-args=-align-loops=64")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the bench plugins failed");
    target
}

/// Makes fresh copies of a library: every copy is a new file, so the dynamic loader really
/// loads it instead of returning the library it has already opened.
pub struct Copies {
    dir: PathBuf,
    source: PathBuf,
    /// The directories [`Copies::fresh_dir`] filled, oldest first.
    filled: std::sync::Mutex<std::collections::VecDeque<PathBuf>>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// How many of the newest copies [`Copies::fresh`] leaves in place.
pub const KEPT_COPIES: usize = 16;

impl Copies {
    /// Copies of `source`, made in a scratch directory (in memory where `/dev/shm` exists).
    pub fn of(source: &Path) -> Copies {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("xplug-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Copies {
            dir,
            source: source.to_owned(),
            filled: Default::default(),
        }
    }

    /// A new copy: the same code, other bytes (a number appended past the end of the
    /// library, which no loader reads), so that loaders that know a plugin by its bytes
    /// load each copy anew, as the dynamic loader loads each new file.
    ///
    /// The copy made [`KEPT_COPIES`] copies before is removed (a library loaded from it
    /// stays mapped; one renamed away is not there to remove): thousands of iterations do not
    /// fill the memory behind the scratch directory, which would slow later ones down.
    pub fn fresh(&self) -> PathBuf {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = n.checked_sub(KEPT_COPIES) {
            let _ = std::fs::remove_file(self.copy_path(old));
        }
        let path = self.copy_path(n);
        write_unique(&self.source, &path, n);
        path
    }

    fn copy_path(&self, n: usize) -> PathBuf {
        self.dir
            .join(xplug_loader::tools::library_file_name(&format!("copy{n}")))
    }

    /// A new directory holding `n` new copies. Of the directories made with copies, only the
    /// two newest are kept (see [`Copies::fresh`]); empty ones (for files a benchmark installs
    /// itself) stay.
    pub fn fresh_dir(&self, n: usize) -> PathBuf {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("dir{k}"));
        if n > 0 {
            let mut filled = self.filled.lock().unwrap_or_else(|e| e.into_inner());
            filled.push_back(dir.clone());
            while filled.len() > 2 {
                if let Some(old) = filled.pop_front() {
                    let _ = std::fs::remove_dir_all(old);
                }
            }
        }
        std::fs::create_dir_all(&dir).expect("dir");
        for i in 0..n {
            let path = dir.join(xplug_loader::tools::library_file_name(&format!("p{i}")));
            write_unique(&self.source, &path, NEXT.fetch_add(1, Ordering::Relaxed));
        }
        dir
    }
}

/// Writes `source`'s bytes with `n` appended to `path`.
fn write_unique(source: &Path, path: &Path, n: usize) {
    let mut bytes = std::fs::read(source).expect("read plugin");
    bytes.extend_from_slice(&(n as u64).to_le_bytes());
    std::fs::write(path, bytes).expect("copy plugin");
}

impl Drop for Copies {
    fn drop(&mut self) {
        // Loaded libraries stay mapped; their files can go.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Opens a library with a bare `dlopen`: the baseline of the load benchmarks. Dropping it
/// closes it.
pub fn dlopen(path: &Path) -> libloading::Library {
    // SAFETY: the benchmarks only open copies of this repository's bench plugin, whose static
    // constructors are Rust's (none).
    unsafe { libloading::Library::new(path) }.expect("dlopen")
}

/// The floor of a snapshot load on Linux: the kernel copies the file into a new memfd
/// (`sendfile`), which a bare `dlopen` then opens. Both are returned, to be dropped (closed)
/// outside the timed part.
#[cfg(target_os = "linux")]
pub fn memfd_dlopen(path: &Path) -> (libloading::Library, std::fs::File) {
    use std::os::unix::io::{AsRawFd, FromRawFd};
    let file = std::fs::File::open(path).expect("open the plugin");
    // `MFD_EXEC` where the kernel knows it (memfds may be made non-executable by default).
    let exec = if Path::new("/proc/sys/vm/memfd_noexec").exists() {
        0x0010
    } else {
        0
    };
    // SAFETY: a NUL-terminated name; the call has no other inputs.
    let fd = unsafe { libc::memfd_create(c"floor".as_ptr(), libc::MFD_CLOEXEC | exec) };
    assert!(fd >= 0, "memfd_create");
    // SAFETY: a new descriptor that nothing else owns.
    let memfd = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut offset: libc::off_t = 0;
    loop {
        // SAFETY: both descriptors are open; `offset` is a live `off_t` the kernel advances.
        let sent =
            unsafe { libc::sendfile(memfd.as_raw_fd(), file.as_raw_fd(), &mut offset, 1 << 30) };
        assert!(sent >= 0, "sendfile");
        if sent == 0 {
            break;
        }
    }
    (dlopen(Path::new(&format!("/proc/self/fd/{fd}"))), memfd)
}

/// Opens a library with a bare `dlopen` and keeps it loaded.
pub fn dlopen_and_keep(path: &Path) {
    std::mem::forget(dlopen(path));
}

/// A plugin loaded by a benchmark iteration, unloaded when dropped (criterion drops an
/// iteration's output outside the timed part): no iteration finds the libraries of earlier
/// ones in the process.
pub struct Unloading<M: Interface>(Option<Plugin<M>>);

impl<M: Interface> Unloading<M> {
    /// Unloads `plugin` when dropped.
    pub fn new(plugin: Plugin<M>) -> Self {
        Unloading(Some(plugin))
    }
}

impl<M: Interface> Drop for Unloading<M> {
    fn drop(&mut self) {
        if let Some(plugin) = self.0.take() {
            // SAFETY: the benchmarks call nothing of the plugin after loading it and keep no
            // value it made; this is its only handle.
            let _ = unsafe { plugin.unload() };
        }
    }
}

/// A benchmark group's name, marked `_debug_host` when this benchmark was built without
/// optimisations (`--profile dev`, as `cargo run` builds hosts), so that the figures of both
/// builds of the host stay side by side in `target/criterion`.
pub fn host_group(name: &str) -> String {
    if cfg!(debug_assertions) {
        format!("{name}_debug_host")
    } else {
        name.to_owned()
    }
}

/// Short runs for benchmarks whose every iteration loads a new library.
pub fn few_iterations<M: Measurement>(group: &mut criterion::BenchmarkGroup<'_, M>) {
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(500))
        .sampling_mode(criterion::SamplingMode::Flat);
}

/// Raises this process's limit of open descriptors to the most it may have: every snapshot
/// loaded keeps one, and the scaling benchmarks keep a thousand plugins loaded.
pub fn raise_descriptor_limit() {
    #[cfg(unix)]
    // SAFETY: `getrlimit`/`setrlimit` read and write the struct passed, nothing else.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// This process's resident memory in bytes (Linux: `/proc/self/statm`).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A criterion measurement of resident memory added, in bytes.
pub struct ResidentMemory;

impl Measurement for ResidentMemory {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        resident_bytes()
    }
    fn end(&self, start: u64) -> u64 {
        resident_bytes().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &BytesFormatter
    }
}

struct BytesFormatter;

impl ValueFormatter for BytesFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical >= 1024.0 * 1024.0 {
            (1.0 / (1024.0 * 1024.0), "MiB")
        } else if typical >= 1024.0 {
            (1.0 / 1024.0, "KiB")
        } else {
            (1.0, "B")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(&self, _: f64, _: &Throughput, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v = 0.0);
        "-"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "B"
    }
}
