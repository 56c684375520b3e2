//! The plugin's process: it checks what the host said, loads the snapshot it was handed
//! through the same pipeline a host runs in-process, and answers calls until the channel
//! closes.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
#[cfg(unix)]
use std::os::unix::io::{AsRawFd, FromRawFd};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi_stable::std_types::{ROption, RResult, RSlice, RString, RVec};
use xplug::__private::isolation::{self, hook, status, Channel, Proxy};
use xplug::__private::LoadHookError;
use xplug::wire::{FromWire, Input, Wire, WireError};
use xplug::{CallErrorKind, Interface};

use super::frame::{self, Conn, Hello, Refusal};
use super::Serves;
use crate::error::{ErrorKind, LoadError};
use crate::process::lock;
use crate::stages::{
    self,
    file::{Named, PluginFile},
    Options,
};
use crate::sys::SealedFile;

/// The largest message a host sends: a call's arguments and its head.
const MAX_FROM_HOST: usize = frame::MAX_CALL + 64;

/// The interfaces this executable serves, as `serve_if_child` was told.
static SERVED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

pub(crate) fn remember(interfaces: &[Serves]) {
    let mut served = lock(&SERVED);
    for serves in interfaces {
        if !served.contains(&serves.name) {
            served.push(serves.name);
        }
    }
}

/// Whether this executable's `main` said it serves `interface`.
pub(crate) fn serves_here(interface: &str) -> bool {
    lock(&SERVED).contains(&interface)
}

/// A process started to serve a plugin: its channel, its snapshot, what the host said.
pub(crate) struct Child {
    channel: Conn,
    /// The sealed snapshot (Unix); on Windows, the hello names a copy.
    image: Option<File>,
    hello: Hello,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child").field("hello", &self.hello).finish()
    }
}

/// Serves the plugin the host hands this process; returns the exit status.
pub(crate) fn run(interfaces: &[Serves], ring: bool) -> i32 {
    let (mut channel, image) = match channel_and_image(ring) {
        Some(found) => found,
        None => return 2,
    };
    let mut buffer = Vec::new();
    match channel.receive(None, MAX_FROM_HOST, &mut buffer) {
        Ok(frame::HELLO) => {}
        _ => return 2,
    }
    let mut refuse = |text: String| {
        let refusal = Refusal {
            kind: "Isolation".to_owned(),
            text,
            help: "host author: build the runner from the host's workspace (the same xplug and \
                   interface versions), and hand the interface to `serve_if_child`"
                .to_owned(),
            notes: Vec::new(),
            message: String::new(),
            location: String::new(),
        };
        let _ = channel.send(frame::REFUSED, &[], &refusal.encode());
        3
    };
    let ours = xplug::__private::build_info::XPLUG_VERSION;
    // The protocol first: the rest of another protocol's hello may not decode.
    let hello = match (Hello::protocol_of(&buffer), Hello::decode(&buffer)) {
        (Some(frame::PROTOCOL), Ok(hello)) if hello.xplug_version == ours => hello,
        (Some(frame::PROTOCOL), Ok(hello)) => {
            return refuse(format!(
                "the runner is xplug {}, the host xplug {}",
                ours, hello.xplug_version
            ))
        }
        (Some(protocol), _) if protocol != frame::PROTOCOL => {
            return refuse(format!(
                "the runner speaks protocol {} of xplug {}, the host protocol {}",
                frame::PROTOCOL,
                ours,
                protocol
            ))
        }
        _ => return 2,
    };
    let serves = match interfaces.iter().find(|s| s.name == hello.interface) {
        Some(serves) => serves,
        None => {
            return refuse(format!(
                "the runner does not serve the `{}` interface",
                hello.interface
            ))
        }
    };
    if serves.version != hello.interface_version {
        return refuse(format!(
            "the runner serves `{}` {}, the host {}",
            hello.interface, serves.version, hello.interface_version
        ));
    }
    // Accepted: the frames after this one cross the shared ring, if the host handed one.
    if channel.ring_ready() {
        if channel.send(frame::RING, &[], &[]).is_err() {
            return 2;
        }
        channel.use_ring();
    }
    channel.set_spin(Duration::from_micros(hello.spin_micros));
    (serves.serve)(Child {
        channel,
        image,
        hello,
    })
}

/// The channel to the host and the snapshot it hands this process (Unix: descriptors 3 and
/// 4, and the shared ring as 5 if it has one).
#[cfg(unix)]
fn channel_and_image(ring: bool) -> Option<(Conn, Option<File>)> {
    if !is(3, libc::S_IFSOCK) || !is(4, libc::S_IFREG) {
        eprintln!(
            "xplug: {} is set, but descriptors 3 and 4 are not an xplug host's channel and \
             snapshot",
            super::CHILD_ENV
        );
        return None;
    }
    // SAFETY: descriptors 3 and 4 are open, a socket and a file: what a host that sets
    // `CHILD_ENV` starts the process with (`process::start`); nothing else in this process,
    // which has not run anything of its own yet, owns them.
    let (channel, image) = unsafe { (UnixStream::from_raw_fd(3), File::from_raw_fd(4)) };
    for fd in [channel.as_raw_fd(), image.as_raw_fd()] {
        // SAFETY: `fd` is open; `F_SETFD` takes an int. Processes the plugin starts do not
        // inherit them.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    watch_parent();
    Some((connect(channel, ring).ok()?, Some(image)))
}

/// The channel to the host (Windows: a loopback connection to the port in the environment,
/// proved with the token there); the snapshot's copy is named in the hello. This process ends
/// when its host does.
#[cfg(windows)]
fn channel_and_image(_ring: bool) -> Option<(Conn, Option<File>)> {
    use super::process::{CHANNEL_ENV, TOKEN_LEN};
    use std::io::Write;
    #[link(name = "kernel32")]
    extern "system" {
        fn SetErrorMode(mode: u32) -> u32;
    }
    const SEM_FAILCRITICALERRORS: u32 = 0x0001;
    const SEM_NOGPFAULTERRORBOX: u32 = 0x0002;
    // A crash ends this process at once, as on Unix, and the host reports it: no error box
    // waiting for a click (Windows Error Reporting).
    // SAFETY: `SetErrorMode` takes flags and returns the previous ones; it has no other effect
    // than this process's (and its children's) error mode.
    unsafe { SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX) };
    let said = std::env::var(CHANNEL_ENV).ok();
    std::env::remove_var(CHANNEL_ENV);
    let fail = |what: &str| {
        eprintln!("xplug: {} is set, but {what}", super::CHILD_ENV);
        None
    };
    let mut parts = said.as_deref().unwrap_or("").split(' ');
    let parsed = match (parts.next(), parts.next(), parts.next()) {
        (Some(port), Some(token), Some(host)) if token.len() == TOKEN_LEN => port
            .parse::<u16>()
            .ok()
            .zip(host.parse::<u32>().ok())
            .map(|(p, h)| (p, token, h)),
        _ => None,
    };
    let (port, token, host) = match parsed {
        Some(parsed) => parsed,
        None => {
            return fail(&format!(
                "{CHANNEL_ENV} does not name an xplug host's channel"
            ))
        }
    };
    watch_host(host);
    let connected = std::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port)).and_then(
        |mut stream| {
            stream.write_all(token.as_bytes())?;
            stream.set_nodelay(true)?;
            Conn::new(stream)
        },
    );
    match connected {
        Ok(conn) => Some((conn, None)),
        Err(e) => fail(&format!("its host's channel cannot be reached: {e}")),
    }
}

/// Ends this process when the host process `pid` ends (a plugin stuck in a call would never
/// see its channel close) (Windows).
#[cfg(windows)]
fn watch_host(pid: u32) {
    #[link(name = "kernel32")]
    extern "system" {
        fn OpenProcess(access: u32, inherit: i32, pid: u32) -> isize;
        fn WaitForSingleObject(handle: isize, milliseconds: u32) -> u32;
    }
    const SYNCHRONIZE: u32 = 0x0010_0000;
    const INFINITE: u32 = 0xFFFF_FFFF;
    // SAFETY: `OpenProcess` takes plain values and returns a handle or 0.
    let handle = unsafe { OpenProcess(SYNCHRONIZE, 0, pid) };
    if handle == 0 {
        // Gone already (or not ours to watch): the channel tells.
        return;
    }
    let _ = std::thread::Builder::new()
        .name("xplug-parent-watch".to_owned())
        .spawn(move || {
            // SAFETY: `handle` is a process handle this process owns and never closes.
            unsafe { WaitForSingleObject(handle, INFINITE) };
            std::process::exit(1);
        });
}

/// The channel to the host: the socket, and the shared ring the host handed this process as
/// descriptor 5 if it did (used once the hello is accepted; spinning as the host says).
#[cfg(unix)]
fn connect(socket: UnixStream, ring: bool) -> io::Result<Conn> {
    #[cfg(target_os = "linux")]
    {
        use super::ring::{self, Ring, Side};
        use std::os::unix::io::OwnedFd;
        if ring && ring::is_region(5) {
            // SAFETY: descriptor 5 is open and is a ring's region, which the host starts this
            // process with; nothing else here owns it.
            let region = unsafe { OwnedFd::from_raw_fd(5) };
            // SAFETY: `region` is open; processes the plugin starts do not inherit it.
            unsafe { libc::fcntl(region.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
            // The ring keeps descriptor 3 (the handshake's copy is closed once it is done).
            let handshake = socket.try_clone()?;
            let ring = Ring::new(region, socket, Side::Child, Duration::ZERO).map_err(|e| {
                eprintln!("xplug: cannot map the host's shared ring: {e}");
                e
            })?;
            return Conn::shared(handshake, ring);
        }
    }
    // Only Linux's children map a shared ring.
    let _ = ring;
    Conn::new(socket)
}

/// Whether descriptor `fd` is open and of the file type `kind` (`S_IFSOCK`, `S_IFREG`).
#[cfg(unix)]
fn is(fd: i32, kind: libc::mode_t) -> bool {
    // SAFETY: `fstat` writes the zeroed struct it is given, and fails on a closed descriptor.
    unsafe {
        let mut stat = std::mem::zeroed::<libc::stat>();
        libc::fstat(fd, &mut stat) == 0 && stat.st_mode & libc::S_IFMT == kind
    }
}

/// Ends this process if the host that started it is gone (a plugin stuck in a call would
/// never see its channel close).
#[cfg(unix)]
fn watch_parent() {
    // SAFETY: `getppid` has no preconditions.
    let parent = unsafe { libc::getppid() };
    let _ = std::thread::Builder::new()
        .name("xplug-parent-watch".to_owned())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                std::process::exit(1);
            }
        });
}

thread_local! {
    /// The channel to the host, on the thread that serves it: a plugin's call of the host's
    /// services, made while it serves a call, goes through it (and the host's calls made
    /// meanwhile are served from there).
    static CHANNEL: RefCell<Option<Conn>> = const { RefCell::new(None) };
    /// What serves one call of the host, on that thread.
    // (Not `const`: rustc 1.63 refuses a reference to a trait object in a const block.)
    #[allow(clippy::missing_const_for_thread_local)]
    static SERVER: Cell<Option<&'static Server>> = Cell::new(None);
    /// The number of the last call this process made of the host.
    static CALLS: Cell<u32> = const { Cell::new(0) };
    /// The buffer of the answer to the host's call, between calls.
    static ANSWER_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// The way to the host's objects: its services, and what its calls lend.
    static TO_HOST: Cell<Option<&'static Proxy>> = const { Cell::new(None) };
}

/// Runs `f`, which serves a call of the host: the objects the call lends are reached through
/// the channel.
fn lent_through_channel<R>(f: impl FnOnce() -> R) -> R {
    match TO_HOST.with(Cell::get) {
        Some(proxy) => isolation::answering_through(proxy, f),
        None => f(),
    }
}

/// Serves one call of the host: the function's number, the arguments, the answer.
type Server = dyn Fn(u32, &[u8], &mut Vec<u8>) -> Result<(), WireError>;

/// A request of the host this process has read: what to do next.
enum Next {
    /// Served; go on.
    Served,
    /// Stop serving, with this exit status.
    Exit(i32),
}

/// Runs `f` with the channel to the host, if this thread serves it.
fn with_channel<R>(f: impl FnOnce(&mut Conn) -> R) -> Option<R> {
    CHANNEL.with(|channel| channel.borrow_mut().as_mut().map(f))
}

/// Reads the host's next message into `request`: its tag, or the exit status if the channel
/// ended (or this thread does not serve it).
fn receive(request: &mut Vec<u8>) -> Result<u8, i32> {
    match with_channel(|channel| channel.receive(None, MAX_FROM_HOST, request)) {
        Some(Ok(tag)) => Ok(tag),
        // The host closed the channel: unloaded, or gone.
        Some(Err(frame::ReadError::Io(e))) if e.kind() == io::ErrorKind::UnexpectedEof => Err(0),
        Some(Err(_)) | None => Err(2),
    }
}

/// Sends one message to the host; the exit status if the channel ended.
fn send(tag: u8, head: &[u8], body: &[u8]) -> Result<(), i32> {
    match with_channel(|channel| channel.send(tag, head, body)) {
        Some(Ok(())) => Ok(()),
        _ => Err(0),
    }
}

/// Serves one request of the host (`tag`, `request`): a call of a function or hook, of a
/// method of an object this process keeps, or a liveness check.
fn handle(tag: u8, request: &[u8]) -> Next {
    // The answer's buffer, kept between calls (a nested call, served while this one waits for
    // the host, gets a fresh one).
    let mut out = ANSWER_BUFFER.with(Cell::take);
    out.clear();
    let next = answer_into(tag, request, &mut out);
    if out.capacity() <= isolation::KEPT_BUFFER {
        ANSWER_BUFFER.with(|kept| kept.set(out));
    }
    next
}

/// [`handle`] with its answer written into `out`.
fn answer_into(tag: u8, request: &[u8], out: &mut Vec<u8>) -> Next {
    let served = match tag {
        frame::CALL if request.len() >= 8 => {
            let function = u32::from_le_bytes([request[4], request[5], request[6], request[7]]);
            match SERVER.with(Cell::get) {
                Some(server) => lent_through_channel(|| server(function, &request[8..], out)),
                None => return Next::Exit(2),
            }
        }
        frame::OBJECT if request.len() >= 16 => {
            let mut object = [0; 8];
            object.copy_from_slice(&request[4..12]);
            let method = u32::from_le_bytes([request[12], request[13], request[14], request[15]]);
            lent_through_channel(|| {
                isolation::serve_object(u64::from_le_bytes(object), method, &request[16..], out)
            })
        }
        frame::LEVEL if request.len() == 1 => {
            // This process's level, and its plugin's (which has a `log` of its own).
            let level = xplug::__private::filter_of(request[0]);
            log::set_max_level(level);
            crate::process::registry::set_log_level(level);
            return Next::Served;
        }
        frame::PING if request.len() == 4 => {
            return match send(frame::PONG, &[], request) {
                Ok(()) => Next::Served,
                Err(status) => Next::Exit(status),
            };
        }
        _ => return Next::Exit(2),
    };
    if let Err(e) = served {
        // A call this runner cannot read (the host is not the one it was built with), or of
        // an object it no longer keeps.
        out.clear();
        isolation::put_panicked(
            &format!("the isolated plugin's process could not serve the call: {e}"),
            "",
            out,
        );
    }
    match send(frame::ANSWER, &request[..4], out) {
        Ok(()) => Next::Served,
        Err(status) => Next::Exit(status),
    }
}

/// The plugin's way to its host's services: each call is sent to the host, which may call the
/// plugin again before it answers (those calls are served here meanwhile).
struct ToHost;

impl Channel for ToHost {
    fn call(&self, _: u32, _: &[u8], _: &mut Vec<u8>) -> Result<u64, CallErrorKind> {
        Err(CallErrorKind::Unavailable {
            reason: "a plugin calls no host functions, only its services".to_owned(),
        })
    }

    fn call_object(
        &self,
        _: u64,
        object: u64,
        method: u32,
        args: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<u64, CallErrorKind> {
        let call = CALLS.with(|calls| {
            let call = calls.get().wrapping_add(1);
            calls.set(call);
            call
        });
        let mut head = [0u8; 16];
        head[..4].copy_from_slice(&call.to_le_bytes());
        head[4..12].copy_from_slice(&object.to_le_bytes());
        head[12..].copy_from_slice(&method.to_le_bytes());
        match with_channel(|channel| channel.send(frame::BACK, &head, args)) {
            Some(Ok(())) => {}
            Some(Err(_)) => std::process::exit(0),
            None => {
                return Err(CallErrorKind::Unavailable {
                    reason: "an isolated plugin reaches its host's services only while it \
                             serves a call of the host, on the thread that serves it"
                        .to_owned(),
                })
            }
        }
        let mut request = Vec::new();
        loop {
            match receive(&mut request) {
                Ok(frame::RETURN) if request.len() >= 4 && request[..4] == call.to_le_bytes() => {
                    reply.clear();
                    reply.extend_from_slice(&request[4..]);
                    return Ok(0);
                }
                Ok(frame::RETURN) => std::process::exit(2),
                // The host's calls made while it serves this one.
                Ok(tag) => match handle(tag, &request) {
                    Next::Served => {}
                    Next::Exit(status) => std::process::exit(status),
                },
                Err(status) => std::process::exit(status),
            }
        }
    }

    fn key(&self) -> usize {
        0
    }

    fn misbehaved(&self, _: u64, what: String) -> CallErrorKind {
        // The host is this process's own build: an answer it cannot read ends the process.
        eprintln!("xplug: the host's answer broke the channel's rules: {what}");
        std::process::exit(2)
    }
}

/// Loads the plugin for interface `M` and answers calls; returns the exit status.
pub(crate) fn serve<M: Interface>(child: Child) -> i32 {
    let Child {
        channel,
        image,
        hello,
    } = child;
    log_to_stderr(hello.log_level);
    CHANNEL.with(|slot| *slot.borrow_mut() = Some(channel));
    isolation::keep_objects_here();
    // The host's rules, but for what it checked itself (the file's permissions, its trust
    // policy, its journal).
    let mut options = Options::for_interface::<M>();
    options.requirements = options
        .requirements
        .allow_panic_abort(hello.allow_panic_abort);
    if let Ok(versions) = hello.version_requirement.parse() {
        options.requirements = options.requirements.with_versions(versions);
    }
    options.file.max_size = hello.max_file_size;
    // Where this process makes its own copy of the host's (Windows).
    if cfg!(windows) && !hello.snapshot_dir.is_empty() {
        options.snapshot_dir = Some(std::path::PathBuf::from(&hello.snapshot_dir));
    }
    // The host's services, if it offers them, and the objects its calls lend: their calls go
    // back over the channel.
    let to_host: &'static Proxy = Box::leak(Box::new(Proxy::new(Box::new(ToHost))));
    TO_HOST.with(|slot| slot.set(Some(to_host)));
    let host: Option<&'static M::Host> = if hello.services {
        M::__remote_host(to_host).map(|host| &*Box::leak(Box::new(host)))
    } else {
        None
    };
    let path = Path::new(&hello.path);
    let loaded = load::<M>(&options, path, image, &hello, host);
    let module = match loaded {
        Ok(checked) => {
            drop(checked.journaled);
            checked.module
        }
        Err(error) => {
            let _ = send(frame::REFUSED, &[], &refusal(&error).encode());
            return 3;
        }
    };
    let server: &'static Server = Box::leak(Box::new(
        move |function: u32, args: &[u8], out: &mut Vec<u8>| answer(module, function, args, out),
    ));
    SERVER.with(|slot| slot.set(Some(server)));
    if let Err(status) = send(frame::LOADED, &[], &[]) {
        return status;
    }
    let mut request = Vec::new();
    loop {
        match receive(&mut request) {
            Ok(tag) => match handle(tag, &request) {
                Next::Served => {}
                Next::Exit(status) => return status,
            },
            Err(status) => return status,
        }
    }
}

/// Loads the plugin for `M` from what the host handed this process: the sealed snapshot
/// `image`, loaded as it is (Unix), or the copy the hello names, which must hold the bytes the
/// host checked (Windows).
fn load<M: Interface>(
    options: &Options,
    path: &Path,
    image: Option<File>,
    hello: &Hello,
    host: Option<&'static M::Host>,
) -> Result<stages::Checked<M>, LoadError> {
    let image = match image {
        Some(image) => image,
        None => {
            return stages::run_copy::<M>(
                options,
                Path::new(&hello.image),
                &hello.image_digest,
                host,
            )
        }
    };
    let (meta, copy) = image
        .metadata()
        .and_then(|meta| Ok((meta, image.try_clone()?)))
        .map_err(|e| crate::stages::file::io_error(path, e))?;
    // The host's sealed snapshot, loaded as it is: no copy of its own.
    #[cfg(unix)]
    let sealed = SealedFile {
        path: format!("/proc/self/fd/{}", copy.as_raw_fd()).into(),
        file: copy,
    };
    #[cfg(not(unix))]
    let sealed = SealedFile {
        path: path.to_owned(),
        file: copy,
    };
    let plugin = PluginFile {
        path: path.to_owned(),
        named: Named::real(path),
        file: image,
        meta,
        direct: false,
    };
    stages::run_sealed::<M>(options, path, plugin, Arc::new(sealed), host)
}

/// Answers one call: an interface function, or a hook.
fn answer<M: Interface>(
    module: M,
    function: u32,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let input = &mut Input::new(args);
    match function {
        hook::SAVE_STATE => {
            input.finish()?;
            // SAFETY: `module` loaded and its `on_load` succeeded.
            let saved = unsafe { module.__save_state() };
            hook_answer(saved.map(|state| ROption::from(state.map(RVec::from))), out);
        }
        hook::RESTORE_STATE => {
            let state = RSlice::<u8>::decode(input)?;
            input.finish()?;
            // SAFETY: as above.
            let restored = unsafe { module.__restore_state(state.as_slice()) };
            hook_answer(refusable(restored), out);
        }
        hook::ON_UNLOAD => {
            input.finish()?;
            // SAFETY: as above; the host sends nothing after it but, if the hook refused, more
            // calls, as it does in-process.
            let unloaded = unsafe { module.__on_unload() };
            hook_answer(refusable(unloaded), out);
        }
        function => module.__serve(function, args, out)?,
    }
    Ok(())
}

/// A hook's refusal is a value (`RErr`), its panic a panic.
fn refusable(result: Result<(), LoadHookError>) -> Result<RResult<(), RString>, LoadHookError> {
    match result {
        Ok(()) => Ok(RResult::ROk(())),
        Err(LoadHookError::Failed(message)) => Ok(RResult::RErr(message.into())),
        Err(panicked) => Err(panicked),
    }
}

fn hook_answer<T: Wire>(result: Result<T, LoadHookError>, out: &mut Vec<u8>) {
    match result {
        Ok(value) => {
            out.push(status::RETURNED);
            value.encode(out);
        }
        Err(LoadHookError::Failed(message)) => isolation::put_panicked(&message, "", out),
        Err(LoadHookError::Panicked { message, location }) => {
            isolation::put_panicked(&message, &location, out)
        }
    }
}

/// A load error as it crosses to the host.
fn refusal(error: &LoadError) -> Refusal {
    let kind = format!("{:?}", error.kind());
    let kind = kind
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_owned();
    let (message, location) = match error.kind() {
        ErrorKind::InitFailed { message, .. } => (message.clone(), String::new()),
        ErrorKind::InitPanicked {
            message, location, ..
        } => (message.clone(), location.clone()),
        _ => (String::new(), String::new()),
    };
    Refusal {
        kind,
        text: error.kind().to_string(),
        help: error.help(),
        notes: error.kind().notes(),
        message,
        location,
    }
}

/// Writes the plugin's `log` records to standard error, one line each, which the host hands to
/// its logger.
fn log_to_stderr(level: u8) {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            use std::io::Write;
            // One write: lines of several threads do not interleave.
            let _ = io::stderr()
                .lock()
                .write_all(&frame::LogLine::write(record));
        }
        fn flush(&self) {}
    }
    static STDERR: Stderr = Stderr;
    if log::set_logger(&STDERR).is_ok() {
        log::set_max_level(xplug::__private::filter_of(level));
    }
}
