//! An isolated plugin's process: started with its channel and its snapshot as descriptors 3
//! and 4 (its shared ring, if it has one, as 5; on Windows, connecting to its host over
//! loopback), its standard error read by a thread that passes it on and keeps its last lines, and
//! how it ended told as a [`Crash`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
#[cfg(unix)]
use std::{
    fs::File,
    os::unix::io::{AsRawFd, OwnedFd},
    os::unix::net::UnixStream,
    os::unix::process::{CommandExt, ExitStatusExt},
};

use xplug::Crash;

use super::frame::{self, Conn};
#[cfg(target_os = "linux")]
use super::Transport;
use super::{Isolation, CHILD_ENV};
use crate::process::lock;

/// How many of the last lines of a plugin's standard error are kept.
const TAIL_LINES: usize = 20;
/// The longest line kept (longer ones are cut).
const TAIL_LINE_BYTES: usize = 1024;

/// A running plugin process.
pub(crate) struct Running {
    child: Child,
    pub(crate) conn: Conn,
    /// The `log` level the process has (`log::LevelFilter` as a number).
    pub(crate) log_level: u8,
    tail: Arc<Tail>,
    reader: Option<JoinHandle<()>>,
}

/// The last lines a process wrote to its standard error.
#[derive(Default)]
struct Tail {
    lines: Mutex<VecDeque<String>>,
}

impl Tail {
    fn push(&self, line: &[u8]) {
        let cut = &line[..line.len().min(TAIL_LINE_BYTES)];
        let text = String::from_utf8_lossy(cut).trim_end().to_owned();
        let mut lines = lock(&self.lines);
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(text);
    }

    fn text(&self) -> String {
        let lines = lock(&self.lines);
        let mut text = String::new();
        for line in lines.iter() {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// Starts `runner` to serve the plugin whose sealed snapshot is at `image`. On Unix, the
/// process starts with its end of a socket pair as descriptor 3, the snapshot (opened
/// read-only) as 4, and the shared ring, for [`Transport::SharedMemory`], as 5.
#[cfg(unix)]
pub(crate) fn start(
    runner: &Path,
    image: &Path,
    isolation: &Isolation,
    _until: Option<Instant>,
) -> Result<Running, (io::Error, String)> {
    start_unix(runner, image, isolation).map_err(|e| (e, String::new()))
}

#[cfg(unix)]
fn start_unix(runner: &Path, image: &Path, isolation: &Isolation) -> io::Result<Running> {
    let (channel, child_end) = UnixStream::pair()?;
    // A description of its own, read-only: the child reads it from the start.
    let image = File::open(image)?;
    let mut command = command(runner);
    let conn = match isolation.transport {
        #[cfg(target_os = "linux")]
        Transport::SharedMemory => {
            use super::ring::{self, Ring, Side};
            let socket = channel.try_clone()?;
            // Without a memfd (a seccomp filter, an old kernel), the socket alone.
            match ring::create().and_then(|fd| Ring::new(fd, socket, Side::Host, isolation.spin)) {
                Ok(ring) => {
                    command.env(super::CHILD_ENV, super::CHILD_RING);
                    Conn::shared(channel, ring)?
                }
                Err(e) => {
                    log::debug!("isolated plugins: no shared ring ({e}); the socket alone");
                    Conn::new(channel)?
                }
            }
        }
        _ => Conn::new(channel)?,
    };
    let descriptors = [child_end.as_raw_fd(), image.as_raw_fd(), conn.region()];
    let memory = isolation.memory_limit;
    let cpu = isolation.cpu_time_limit.map(|limit| limit.as_secs().max(1));
    // SAFETY: the closure runs in the new process between `fork` and `exec`, and makes only
    // async-signal-safe calls (`fcntl`, `dup2`, `close`, `setrlimit`) on descriptors this
    // process holds open until `spawn` returns (`conn` holds the ring's); it allocates
    // nothing and takes no lock.
    unsafe {
        command.pre_exec(move || descriptors_and_limits(descriptors, memory, cpu));
    }
    let child = command.spawn()?;
    drop((child_end, image));
    // The process's end closes the host's end of its channel, even if a process it started
    // holds the other end open.
    let exit = pidfd(child.id()).and_then(|pidfd| Some((pidfd, conn.interrupter().ok()?)));
    Ok(Running::new(child, conn, exit))
}

/// Starts `runner` to serve the plugin whose snapshot copy the hello names. On Windows, the
/// process connects to a loopback port this process listens on, and proves it is the one
/// started with the token in its environment; a process that does not by `until` is killed
/// (and what it wrote to standard error is the error's).
#[cfg(windows)]
pub(crate) fn start(
    runner: &Path,
    _image: &Path,
    _isolation: &Isolation,
    until: Option<Instant>,
) -> Result<Running, (io::Error, String)> {
    use std::net::{Ipv4Addr, TcpListener};
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| (e, String::new()))?;
    let port = listener
        .local_addr()
        .map_err(|e| (e, String::new()))?
        .port();
    let token = token();
    let mut command = command(runner);
    command.env(
        CHANNEL_ENV,
        format!("{} {} {}", port, token, std::process::id()),
    );
    let mut child = command.spawn().map_err(|e| (e, String::new()))?;
    // Read from the start: a runner that writes much before it connects is not held up.
    let (tail, reader) = read_stderr(&mut child, None);
    match accept(&listener, &token, &mut child, until).and_then(Conn::new) {
        Ok(conn) => Ok(Running {
            child,
            conn,
            log_level: 0,
            tail,
            reader,
        }),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            let mut reader = reader;
            Err((e, tail_text(&mut reader, &tail)))
        }
    }
}

/// Where a Windows runner finds its host: `PORT TOKEN HOST-PID`.
#[cfg(windows)]
pub(crate) const CHANNEL_ENV: &str = "XPLUG_ISOLATED_CHANNEL";

/// The length of a token, in hex digits.
#[cfg(windows)]
pub(crate) const TOKEN_LEN: usize = 32;

/// 128 bits no other process can guess, in hex: two SipHash values keyed by std's hash keys,
/// which come from the operating system's random generator.
#[cfg(windows)]
fn token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let half = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// The connection of `child` that sends `token` first, until `until`.
#[cfg(windows)]
fn accept(
    listener: &std::net::TcpListener,
    token: &str,
    child: &mut Child,
    until: Option<Instant>,
) -> io::Result<frame::Stream> {
    listener.set_nonblocking(true)?;
    loop {
        let left = match until {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the runner did not connect in time (does it call `serve_if_child`?)",
            ));
        }
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("the runner ended before it connected: {status}"),
            ));
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(e) => return Err(e),
        };
        stream.set_nonblocking(false)?;
        // Another process that connected and says nothing is dropped soon: the runner's
        // connection waits behind it.
        let wait = left
            .min(Duration::from_millis(200))
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(wait))?;
        let mut said = [0u8; TOKEN_LEN];
        let read = (&stream).read_exact(&mut said);
        // Compared in full whatever differs.
        let differs = said
            .iter()
            .zip(token.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if read.is_ok() && differs == 0 && token.len() == TOKEN_LEN {
            stream.set_read_timeout(None)?;
            stream.set_nodelay(true)?;
            return Ok(stream);
        }
    }
}

/// The runner's command: told it serves a plugin, its standard error piped to the host.
fn command(runner: &Path) -> Command {
    let mut command = Command::new(runner);
    command
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    command
}

/// What tells the stderr reader that a process ended: its pidfd, and the host's end of its
/// channel to shut down then (Unix).
#[cfg(unix)]
type Exit = (OwnedFd, UnixStream);
#[cfg(not(unix))]
type Exit = ();

/// Starts the thread that reads `child`'s standard error, keeping its tail.
fn read_stderr(child: &mut Child, exit: Option<Exit>) -> (Arc<Tail>, Option<JoinHandle<()>>) {
    let tail = Arc::new(Tail::default());
    let reader = child.stderr.take().and_then(|stderr| {
        let tail = Arc::clone(&tail);
        thread::Builder::new()
            .name("xplug-isolated-stderr".to_owned())
            .spawn(move || pass_on(stderr, &tail, exit))
            .ok()
    });
    (tail, reader)
}

impl Running {
    #[cfg(unix)]
    fn new(mut child: Child, conn: Conn, exit: Option<Exit>) -> Running {
        let (tail, reader) = read_stderr(&mut child, exit);
        Running {
            child,
            conn,
            log_level: 0,
            tail,
            reader,
        }
    }
}

#[cfg(unix)]
/// In the new process: the channel to descriptor 3, the snapshot to 4 and the ring (if not
/// -1) to 5, none closed on `exec`; the limits.
fn descriptors_and_limits(
    descriptors: [i32; 3],
    memory: Option<u64>,
    cpu: Option<u64>,
) -> io::Result<()> {
    fn check(result: i32) -> io::Result<i32> {
        if result < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }
    // SAFETY: plain system calls on descriptors that are open in this process.
    unsafe {
        // All above 9 first: any may be 3, 4 or 5 now.
        let mut above = [-1; 3];
        for (from, to) in descriptors.iter().zip(above.iter_mut()) {
            if *from >= 0 {
                *to = check(libc::fcntl(*from, libc::F_DUPFD, 10))?;
            }
        }
        let mut next = 3;
        for fd in above {
            if fd >= 0 {
                check(libc::dup2(fd, next))?;
                libc::close(fd);
                next += 1;
            }
        }
        // Whatever else the host has open (descriptors C libraries opened without
        // close-on-exec) stays out of the plugin's process. Before Linux 5.11 this fails,
        // and those leak.
        #[cfg(target_os = "linux")]
        {
            // `unsigned int` arguments (`u32` on Linux).
            const CLOSE_RANGE_CLOEXEC: u32 = 4;
            libc::syscall(
                libc::SYS_close_range,
                next as u32,
                u32::MAX,
                CLOSE_RANGE_CLOEXEC,
            );
        }
        if let Some(bytes) = memory {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            check(libc::setrlimit(libc::RLIMIT_AS, &limit))?;
        }
        if let Some(seconds) = cpu {
            let limit = libc::rlimit {
                rlim_cur: seconds as libc::rlim_t,
                rlim_max: seconds.saturating_add(1) as libc::rlim_t,
            };
            check(libc::setrlimit(libc::RLIMIT_CPU, &limit))?;
        }
    }
    Ok(())
}

/// A descriptor that becomes readable when process `pid` exits (Linux 5.3 and later).
#[cfg(target_os = "linux")]
fn pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: `pidfd_open` takes a pid and flags; it returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: `fd` was just opened and nothing else owns it.
    Some(unsafe { std::os::unix::io::FromRawFd::from_raw_fd(fd) })
}

#[cfg(all(unix, not(target_os = "linux")))]
fn pidfd(_: u32) -> Option<OwnedFd> {
    None
}

#[cfg(unix)]
/// Waits `wait` milliseconds at most (-1: without end) until `stderr` can be read or the
/// process whose pidfd is `exit` has ended; says which: `(readable, ended)`.
fn readable(stderr: i32, exit: Option<i32>, wait: i32) -> (bool, bool) {
    let mut fds = [
        libc::pollfd {
            fd: stderr,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: exit.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `poll` reads and writes the two entries of a live array; a negative descriptor
    // is ignored.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait) };
    if ready < 0 {
        return match io::Error::last_os_error().kind() {
            // Asked again.
            io::ErrorKind::Interrupted => (false, false),
            // Failing: read (and block) as without a watch.
            _ => (true, false),
        };
    }
    (fds[0].revents != 0, fds[1].revents != 0)
}

#[cfg(unix)]
/// Waits until the process whose pidfd is `pidfd` has ended; `false` if that cannot be told.
fn ended(pidfd: &OwnedFd) -> bool {
    loop {
        match readable(-1, Some(pidfd.as_raw_fd()), -1) {
            (_, true) => return true,
            (false, false) => continue,
            (true, false) => return false,
        }
    }
}

/// Copies a process's standard error to the host's, keeping its last lines; lines that carry
/// the plugin's `log` records go to the host's logger instead. With `exit` (the process's
/// pidfd and the host's end of its channel), the channel is shut down once the process exits,
/// and what is left to read is read without waiting for more.
fn pass_on(mut stderr: ChildStderr, tail: &Tail, exit: Option<Exit>) {
    #[cfg(unix)]
    let mut exit = exit;
    #[cfg(not(unix))]
    let _ = exit;
    #[cfg(unix)]
    let mut exited = false;
    let mut chunk = [0u8; 8192];
    // The line so far, while it may be a log record; once it cannot, it is passed on as it
    // comes (`raw`).
    let mut line = Vec::new();
    let mut raw = false;
    // The line as the tail keeps it.
    let mut kept = Vec::new();
    loop {
        #[cfg(unix)]
        if exited {
            // Whatever the process wrote before it ended; a process it started may hold the
            // pipe open, so no more is awaited.
            if !readable(stderr.as_raw_fd(), None, 0).0 {
                break;
            }
        } else if let Some((pidfd, channel)) = &exit {
            let (can_read, ended) = readable(stderr.as_raw_fd(), Some(pidfd.as_raw_fd()), -1);
            if ended {
                let _ = channel.shutdown(std::net::Shutdown::Both);
                exit = None;
                exited = true;
            }
            if !can_read {
                continue;
            }
        }
        let n = match stderr.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => {
                // Standard error closed, the process may live on: its end is still awaited.
                #[cfg(unix)]
                if let Some((pidfd, channel)) = exit.take() {
                    if ended(&pidfd) {
                        let _ = channel.shutdown(std::net::Shutdown::Both);
                    }
                }
                break;
            }
            Ok(n) => n,
        };
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            let (part, ends) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            rest = &rest[(part.len() + usize::from(ends)).min(rest.len())..];
            let room = TAIL_LINE_BYTES.saturating_sub(kept.len());
            kept.extend_from_slice(&part[..part.len().min(room)]);
            if raw {
                let _ = io::stderr().write_all(part);
            } else {
                line.extend_from_slice(part);
                let may_be_record = line.len() <= frame::MAX_LOG_LINE
                    && line[..line.len().min(frame::LOG_LINE.len())]
                        == frame::LOG_LINE[..line.len().min(frame::LOG_LINE.len())];
                if !may_be_record {
                    let _ = io::stderr().write_all(&line);
                    line.clear();
                    raw = true;
                }
            }
            if ends {
                match frame::LogLine::read(&line).filter(|_| !raw) {
                    Some(record) => {
                        record.log();
                        tail.push(
                            format!("[{} {}] {}", record.level, record.target, record.message)
                                .as_bytes(),
                        );
                    }
                    None => {
                        let _ = io::stderr().write_all(&line);
                        let _ = io::stderr().write_all(b"\n");
                        tail.push(&kept);
                    }
                }
                line.clear();
                kept.clear();
                raw = false;
            }
        }
    }
    if !line.is_empty() {
        let _ = io::stderr().write_all(&line);
    }
    if !kept.is_empty() {
        tail.push(&kept);
    }
}

impl Running {
    /// The process's id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Ends the process (killed unless it has exited within `grace`) and says how it ended,
    /// with the last lines of its standard error.
    pub(crate) fn end(mut self, grace: Duration) -> (Crash, String) {
        self.conn.shutdown();
        let crash = match wait_for(&mut self.child, grace) {
            Some(status) => crash_of(status),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Crash::Closed
            }
        };
        (crash, self.tail_text())
    }

    /// Kills the process and reaps it; returns the last lines of its standard error.
    pub(crate) fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.tail_text()
    }

    /// The last lines of standard error, once it closed (waiting a moment for the reader).
    fn tail_text(&mut self) -> String {
        tail_text(&mut self.reader, &self.tail)
    }
}

/// The last lines of a standard error `reader` keeps in `tail`, once it closed (waiting a
/// moment for the reader).
fn tail_text(reader: &mut Option<JoinHandle<()>>, tail: &Tail) -> String {
    if let Some(reader) = reader.take() {
        let until = Instant::now() + Duration::from_millis(200);
        while !reader.is_finished() && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
        // A reader still running (a process the plugin started holds the pipe open) ends on
        // its own later.
        if reader.is_finished() {
            let _ = reader.join();
        }
    }
    tail.text()
}

/// The process's exit status if it exits within `wait`.
fn wait_for(child: &mut Child, wait: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + wait;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_micros(200)),
            _ => return None,
        }
    }
}

fn crash_of(status: ExitStatus) -> Crash {
    #[cfg(unix)]
    let signal = status.signal();
    // (On Windows, a crash is an exit code: an `NTSTATUS` such as 0xC0000005.)
    #[cfg(not(unix))]
    let signal = None;
    match (signal, status.code()) {
        (Some(number), _) => Crash::Signal { number },
        (None, Some(code)) => Crash::Exited { code },
        (None, None) => Crash::Closed,
    }
}
