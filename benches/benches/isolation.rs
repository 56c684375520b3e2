//! Isolated plugins: a call to a plugin served by a process of its own, against the floors (the
//! raw transports' round trips of the same bytes, with a process on the other end: a Unix
//! socket, and memory both processes map, spun on) and against a go-plugin-style RPC (a JSON
//! request and response over a Unix socket), over both of xplug's transports; the start of an
//! isolated plugin against starting a process that does nothing; crash detection and restart;
//! an object's method and a host service called back, against a plain call.
//!
//! This benchmark's own executable is the runner: its `main` serves the bench interface
//! first, as a host's does (`serve_if_child`), and also the two comparison servers.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abi_stable::std_types::RString;
use bench_interface::{BenchHost, BenchHostBox, BenchRef};
use criterion::{BatchSize, Criterion};
use std::sync::atomic::{AtomicU64, Ordering};
use xplug_benches::{bench_plugins, few_iterations};

use xplug_loader::isolation::{serve_if_child, serves, Isolation, Restart, Transport};
use xplug_loader::Loader;

/// Which comparison server this process is, if it was started as one.
const SERVER_ENV: &str = "XPLUG_BENCH_SERVER";

fn main() {
    serve_if_child(&[serves::<BenchRef>()]);
    match std::env::var(SERVER_ENV).as_deref() {
        Ok("echo") => echo_server(),
        Ok("json") => json_server(),
        Ok("memory") => memory_server(),
        _ => {}
    }
    let mut c = Criterion::default().configure_from_args();
    calls(&mut c);
    lifecycle(&mut c);
    c.final_summary();
}

/// A comparison server: this executable again, its standard input one end of a socket.
struct Server {
    child: Child,
    stream: UnixStream,
}

impl Server {
    fn start(kind: &str) -> Server {
        let (ours, theirs) = UnixStream::pair().expect("socket pair");
        let child = Command::new(std::env::current_exe().expect("this executable"))
            .env(SERVER_ENV, kind)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .spawn()
            .expect("start a server");
        Server {
            child,
            stream: ours,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}

/// The socket a comparison server was started with.
fn server_stream() -> UnixStream {
    // SAFETY: `Server::start` makes descriptor 0 a socket this process owns alone.
    unsafe { UnixStream::from_raw_fd(0) }
}

/// The floor: reads a frame (a length, then that many bytes) and sends it back, with one
/// buffered read and one write, as the isolated channel does.
fn echo_server() -> ! {
    let stream = server_stream();
    let mut reader = BufReader::with_capacity(64 << 10, stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if reader.read_exact(&mut len).is_err() {
            std::process::exit(0);
        }
        frame.clear();
        frame.extend_from_slice(&len);
        let n = u32::from_le_bytes(len) as usize;
        frame.resize(4 + n, 0);
        reader.read_exact(&mut frame[4..]).expect("a whole frame");
        writer.write_all(&frame).expect("answer");
    }
}

/// A go-plugin-style server: one JSON request per line (`{"id", "method", "params"}`), one
/// JSON response per line.
fn json_server() -> ! {
    let stream = server_stream();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            std::process::exit(0);
        }
        let request: serde_json::Value = serde_json::from_str(&line).expect("a request");
        let params = &request["params"];
        let result = match request["method"].as_str() {
            Some("Plugin.Add") => serde_json::json!(params[0]
                .as_u64()
                .unwrap_or(0)
                .wrapping_add(params[1].as_u64().unwrap_or(0))),
            Some("Plugin.Echo") => params[0].clone(),
            _ => serde_json::Value::Null,
        };
        let mut response = serde_json::to_vec(
            &serde_json::json!({"id": request["id"], "result": result, "error": null}),
        )
        .expect("a response");
        response.push(b'\n');
        writer.write_all(&response).expect("answer");
    }
}

/// The shared-memory floor's region: a request's number at 0 and length at 8, the answer's
/// number at 64 and length at 72, the request's bytes at 4096, the answer's after them.
const MEMORY_SLOT: usize = 64 << 10;
const MEMORY_SIZE: usize = 4096 + 2 * MEMORY_SLOT;

/// The floor of a shared-memory round trip: a request copied into memory both processes map,
/// its number written; the other process, spinning on that number, copies the bytes out and
/// back as its answer; this one, spinning, copies the answer out. No framing, no wake-ups.
struct MemoryServer {
    child: Child,
    base: *mut u8,
    call: u64,
}

/// The region at descriptor `fd`, mapped.
fn map_memory(fd: i32) -> *mut u8 {
    // SAFETY: a shared mapping of a descriptor of `MEMORY_SIZE` bytes; checked below.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            MEMORY_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert!(base != libc::MAP_FAILED, "map the floor's memory");
    base.cast()
}

/// The word at `offset` of a mapped region.
fn word(base: *mut u8, offset: usize) -> &'static AtomicU64 {
    // SAFETY: offsets 0, 8, 64, 72 of a page-aligned mapping that lives as long as the
    // process (the host's is unmapped only after the server has exited).
    unsafe { &*(base.add(offset) as *const AtomicU64) }
}

impl MemoryServer {
    fn start() -> MemoryServer {
        // SAFETY: a new memfd sized for the region; the name is NUL-terminated.
        let fd = unsafe {
            let fd = libc::memfd_create(c"xplug-bench-floor".as_ptr(), libc::MFD_CLOEXEC);
            assert!(fd >= 0, "memfd");
            assert_eq!(libc::ftruncate(fd, MEMORY_SIZE as libc::off_t), 0);
            OwnedFd::from_raw_fd(fd)
        };
        let base = map_memory(std::os::fd::AsRawFd::as_raw_fd(&fd));
        let child = Command::new(std::env::current_exe().expect("this executable"))
            .env(SERVER_ENV, "memory")
            .stdin(Stdio::from(fd))
            .spawn()
            .expect("start a server");
        MemoryServer {
            child,
            base,
            call: 0,
        }
    }

    fn round_trip(&mut self, request: &[u8], back: &mut Vec<u8>) {
        self.call += 1;
        // SAFETY: at most `MEMORY_SLOT` bytes into the request's slot.
        unsafe {
            std::ptr::copy_nonoverlapping(request.as_ptr(), self.base.add(4096), request.len())
        };
        word(self.base, 8).store(request.len() as u64, Ordering::Relaxed);
        word(self.base, 0).store(self.call, Ordering::Release);
        while word(self.base, 64).load(Ordering::Acquire) != self.call {
            std::hint::spin_loop();
        }
        let len = word(self.base, 72).load(Ordering::Relaxed) as usize;
        back.resize(len, 0);
        // SAFETY: `len` bytes of the answer's slot, written before its number.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.add(4096 + MEMORY_SLOT), back.as_mut_ptr(), len)
        };
    }
}

impl Drop for MemoryServer {
    fn drop(&mut self) {
        word(self.base, 0).store(u64::MAX, Ordering::Release);
        let _ = self.child.wait();
        // SAFETY: the mapping made in `start`, no longer used.
        unsafe { libc::munmap(self.base.cast(), MEMORY_SIZE) };
    }
}

/// The shared-memory floor's other process: spins for each request, copies it out and back.
fn memory_server() -> ! {
    let base = map_memory(0);
    let mut request = vec![0u8; MEMORY_SLOT];
    let mut last = 0;
    loop {
        let call = loop {
            let call = word(base, 0).load(Ordering::Acquire);
            if call != last {
                break call;
            }
            std::hint::spin_loop();
        };
        if call == u64::MAX {
            std::process::exit(0);
        }
        last = call;
        let len = (word(base, 8).load(Ordering::Relaxed) as usize).min(MEMORY_SLOT);
        // SAFETY: `len` bytes of each slot, inside the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(4096), request.as_mut_ptr(), len);
            std::ptr::copy_nonoverlapping(request.as_ptr(), base.add(4096 + MEMORY_SLOT), len);
        }
        word(base, 72).store(len as u64, Ordering::Relaxed);
        word(base, 64).store(call, Ordering::Release);
    }
}

/// One round trip of the floor: `frame` out, the same back.
fn echo(server: &mut Server, reader: &mut BufReader<UnixStream>, frame: &[u8], back: &mut Vec<u8>) {
    server.stream.write_all(frame).expect("send");
    back.resize(frame.len(), 0);
    reader.read_exact(back).expect("receive");
}

/// A frame of `payload` bytes, as the floor sends it.
fn frame_of(payload: usize) -> Vec<u8> {
    let mut frame = (payload as u32).to_le_bytes().to_vec();
    frame.resize(4 + payload, 7);
    frame
}

/// One go-plugin-style call.
fn json_call(
    server: &mut Server,
    reader: &mut BufReader<UnixStream>,
    id: u64,
    method: &str,
    params: serde_json::Value,
    line: &mut String,
) -> serde_json::Value {
    let mut request =
        serde_json::to_vec(&serde_json::json!({"id": id, "method": method, "params": params}))
            .expect("a request");
    request.push(b'\n');
    server.stream.write_all(&request).expect("send");
    line.clear();
    reader.read_line(line).expect("receive");
    let mut response: serde_json::Value = serde_json::from_str(line).expect("a response");
    response["result"].take()
}

/// The bench host's service.
struct Pinger;

impl BenchHost for Pinger {
    fn ping(&self, x: u64) -> u64 {
        x + 1
    }
}

fn calls(c: &mut Criterion) {
    let files = bench_plugins();
    let plugin = Loader::<BenchRef>::new()
        .host_services(BenchHostBox::new(Pinger))
        .isolate(Isolation::new())
        .load(&files.xplug)
        .expect("the bench plugin loads isolated");
    let over_socket = Loader::<BenchRef>::new()
        .host_services(BenchHostBox::new(Pinger))
        .isolate(Isolation::new().transport(Transport::Socket))
        .load(&files.xplug)
        .expect("the bench plugin loads isolated over a socket");
    let in_process = Loader::<BenchRef>::new()
        .load(&files.xplug)
        .expect("the bench plugin loads");

    let mut echo_server = Server::start("echo");
    let mut echo_reader =
        BufReader::with_capacity(64 << 10, echo_server.stream.try_clone().expect("clone"));
    let mut json_server = Server::start("json");
    let mut json_reader = BufReader::new(json_server.stream.try_clone().expect("clone"));
    let mut back = Vec::new();
    let mut line = String::new();

    // `add(u64, u64)`: a call frame is 4 + 1 + 8 + 16 bytes, its answer 4 + 1 + 4 + 1 + 8.
    let mut g = c.benchmark_group("isolated_add");
    let small = frame_of(25);
    g.bench_function("in_process", |b| {
        b.iter(|| in_process.add(black_box(2), black_box(40)).unwrap())
    });
    g.bench_function("transport_floor", |b| {
        b.iter(|| {
            echo(
                &mut echo_server,
                &mut echo_reader,
                black_box(&small),
                &mut back,
            )
        })
    });
    // Started for its measurement only: it spins without pause.
    g.bench_function("shared_memory_floor", |b| {
        let mut floor = MemoryServer::start();
        b.iter(|| floor.round_trip(black_box(&small), &mut back))
    });
    g.bench_function("isolated", |b| {
        b.iter(|| plugin.add(black_box(2), black_box(40)).unwrap())
    });
    g.bench_function("isolated_socket", |b| {
        b.iter(|| over_socket.add(black_box(2), black_box(40)).unwrap())
    });
    let mut id = 0;
    g.bench_function("go_plugin_style_json_rpc", |b| {
        b.iter(|| {
            id += 1;
            let params = serde_json::json!([black_box(2u64), black_box(40u64)]);
            json_call(
                &mut json_server,
                &mut json_reader,
                id,
                "Plugin.Add",
                params,
                &mut line,
            )
        })
    });
    g.finish();

    // An object the plugin made, called from the host; the host's service called by the
    // plugin during a call (two round trips): against a plain call.
    let mut tally = plugin.tally(0).expect("a tally object");
    let mut g = c.benchmark_group("isolated_object_and_service");
    g.bench_function("add", |b| {
        b.iter(|| plugin.add(black_box(2), black_box(40)).unwrap())
    });
    g.bench_function("object_method", |b| b.iter(|| tally.next().unwrap()));
    g.bench_function("host_service_once", |b| {
        b.iter(|| plugin.ping_host(black_box(1)).unwrap())
    });
    g.finish();

    // A 64 KiB string in and out.
    let text: RString = "x".repeat(64 << 10).into();
    let big = frame_of(64 << 10);
    let mut g = c.benchmark_group("isolated_echo_64k");
    g.bench_function("transport_floor", |b| {
        b.iter(|| {
            echo(
                &mut echo_server,
                &mut echo_reader,
                black_box(&big),
                &mut back,
            )
        })
    });
    g.bench_function("shared_memory_floor", |b| {
        let mut floor = MemoryServer::start();
        b.iter(|| floor.round_trip(black_box(&big), &mut back))
    });
    g.bench_function("isolated", |b| {
        b.iter(|| plugin.echo(text.as_rstr()).unwrap())
    });
    g.bench_function("isolated_socket", |b| {
        b.iter(|| over_socket.echo(text.as_rstr()).unwrap())
    });
    g.finish();
}

fn lifecycle(c: &mut Criterion) {
    let files = bench_plugins();
    let mut g = c.benchmark_group("isolated_lifecycle");
    few_iterations(&mut g);
    // Starting a process that does nothing: the floor of a start.
    g.bench_function("spawn_true", |b| {
        b.iter(|| Command::new("true").status().expect("true"))
    });
    // Spawn, the checks (here and in the child), `on_load`, the first call answered.
    g.bench_function("start_to_first_answer", |b| {
        b.iter_batched(
            || Loader::<BenchRef>::new().isolate(Isolation::new()),
            |loader| {
                let plugin = loader.load(&files.xplug).expect("load");
                plugin.add(1, 2).expect("first call");
                plugin
            },
            BatchSize::PerIteration,
        )
    });
    // A crash (the process killed) noticed by the next call, then the call after it
    // answered by a new process.
    let restarting = Loader::<BenchRef>::new()
        .isolate(Isolation::new().restart(Restart::on_next_call().backoff(Duration::ZERO)))
        .load(&files.xplug)
        .expect("load");
    g.bench_function("crash_to_error", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                restarting.add(1, 2).expect("served");
                kill(restarting.process_id().expect("a process"));
                let started = Instant::now();
                restarting.add(1, 2).expect_err("the crash");
                total += started.elapsed();
            }
            total
        })
    });
    g.bench_function("restart_to_answer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                restarting.add(1, 2).expect("served");
                kill(restarting.process_id().expect("a process"));
                restarting.add(1, 2).expect_err("the crash");
                let started = Instant::now();
                restarting.add(1, 2).expect("served again");
                total += started.elapsed();
            }
            total
        })
    });
    g.finish();
    if let Some(pid) = restarting.process_id() {
        eprintln!(
            "isolated plugin, idle: its process's resident memory is {} KiB",
            resident_kib(pid)
        );
    }
}

/// Kills a process and waits until it is gone.
fn kill(pid: u32) {
    // SAFETY: a signal to a process this benchmark started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let status = format!("/proc/{pid}/status");
    while std::fs::read_to_string(&status)
        .map(|s| !s.contains("State:\tZ"))
        .unwrap_or(false)
    {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// A process's resident memory (`VmRSS`), in KiB.
fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
