//! The channel between a host and an isolated plugin's process: length-prefixed frames over a
//! socket (Unix; loopback TCP on Windows) or a shared ring (`ring`, Linux), each a tag and
//! what the tag says follows (encoded with `xplug::wire`).
//!
//! | tag | from | holds |
//! |---|---|---|
//! | `HELLO` | host | protocol, xplug version, interface name and version, the loader's rules, the path |
//! | `LOADED` | child | nothing: the plugin passed every check and its `on_load` |
//! | `REFUSED` | child | the load error: kind, text, help, notes |
//! | `CALL` | host | call number, function number, the encoded arguments |
//! | `ANSWER` | child | the call's number, the encoded answer |
//! | `OBJECT` | host | call number, object number, method number, the encoded arguments |
//! | `BACK` | child | call number, object number (1: the host's services), method number, the encoded arguments |
//! | `RETURN` | host | the number of the child's call, the encoded answer |
//! | `LEVEL` | host | the host's new `log` level (not answered) |
//! | `PING` | host | a number the child sends back |
//! | `PONG` | child | that number |
//! | `RING` | child | nothing: the frames after it cross the shared ring (the hello and a refusal of it always cross the socket) |
//!
//! Whatever the child sends is hostile input: a frame longer than the host's bound is refused
//! before any of it is read, and a frame's buffer is reserved for at most 1 MiB of what the
//! frame claims, growing past that only as its bytes arrive.

use std::io::{self, BufReader, Read, Write};
use std::time::{Duration, Instant};

use xplug::wire::{FromWire, Input, Wire, WireError};

/// The socket a channel's frames (and a shared ring's wakes) cross: a Unix socket pair; on
/// Windows, a loopback TCP connection the child makes with a token only its host knows.
#[cfg(unix)]
pub(crate) type Stream = std::os::unix::net::UnixStream;
#[cfg(windows)]
pub(crate) type Stream = std::net::TcpStream;

/// The version of this channel's protocol; host and child must speak the same.
pub(crate) const PROTOCOL: u32 = 4;

/// The largest call a host sends (its encoded arguments): far above any real call. Larger
/// arguments are refused before anything is sent.
pub(crate) const MAX_CALL: usize = 1 << 30;

pub(crate) const HELLO: u8 = 1;
pub(crate) const LOADED: u8 = 2;
pub(crate) const REFUSED: u8 = 3;
pub(crate) const CALL: u8 = 4;
pub(crate) const ANSWER: u8 = 5;
/// The host asks an idle process whether it still serves (a 4-byte number)...
pub(crate) const PING: u8 = 6;
/// ...and it answers with the same number.
pub(crate) const PONG: u8 = 7;
/// A call of a method of an object the child keeps (answered by an `ANSWER`).
pub(crate) const OBJECT: u8 = 8;
/// A call the child makes of an object the host serves it (its services), made while it
/// serves a call of the host; the host may call the child again before it answers.
pub(crate) const BACK: u8 = 9;
/// The host's answer to a `BACK`.
pub(crate) const RETURN: u8 = 10;
/// The host's `log` level changed (one byte, `log::LevelFilter` as a number); not answered.
pub(crate) const LEVEL: u8 = 11;
/// The child accepted the host's hello and found the shared ring the host handed it: from
/// the next frame on, both ends speak through the ring (sent on the socket; nothing follows).
pub(crate) const RING: u8 = 12;

/// Writes one frame: `tag`, `head`, then `body`, in one write for a small frame (one system
/// call, one wake-up on the other side), assembled in `scratch`.
pub(crate) fn write(
    mut to: impl Write,
    tag: u8,
    head: &[u8],
    body: &[u8],
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let len = 1 + head.len() + body.len();
    let len = u32::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a message over 4 GiB"))?;
    scratch.clear();
    scratch.extend_from_slice(&len.to_le_bytes());
    scratch.push(tag);
    scratch.extend_from_slice(head);
    if body.len() <= 64 << 10 {
        scratch.extend_from_slice(body);
        to.write_all(scratch)
    } else {
        to.write_all(scratch)?;
        to.write_all(body)
    }
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The channel failed or closed (`UnexpectedEof` before a frame began: closed).
    Io(io::Error),
    /// The frame claims more than `max` bytes.
    TooLong { claimed: u64, max: usize },
    /// An empty frame (no tag).
    Empty,
}

/// Reads one frame into `buffer` (cleared first); returns its tag. The frame is at most `max`
/// bytes: the buffer is reserved for at most 1 MiB of what the peer claims, and grows past
/// that only as bytes arrive.
pub(crate) fn read(mut from: impl Read, max: usize, buffer: &mut Vec<u8>) -> Result<u8, ReadError> {
    let mut start = [0; 5];
    from.read_exact(&mut start[..4]).map_err(ReadError::Io)?;
    let len = u32::from_le_bytes([start[0], start[1], start[2], start[3]]);
    if u64::from(len) > max as u64 {
        return Err(ReadError::TooLong {
            claimed: u64::from(len),
            max,
        });
    }
    if len == 0 {
        return Err(ReadError::Empty);
    }
    from.read_exact(&mut start[4..]).map_err(ReadError::Io)?;
    buffer.clear();
    let body = u64::from(len - 1);
    // Room for what is claimed, up to a bound: more grows as it arrives.
    buffer.reserve(body.min(1 << 20) as usize);
    let got = from.take(body).read_to_end(buffer).map_err(ReadError::Io)?;
    if got as u64 != body {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the channel closed inside a message",
        )));
    }
    Ok(start[4])
}

/// One end of a channel: frames written whole, each read or write waiting at most until the
/// moment a call gives; through the socket alone (read through a buffer: a small frame costs
/// one system call each way) or through a shared ring beside it.
pub(crate) struct Conn {
    way: Way,
    scratch: Vec<u8>,
    /// The shared ring, until both ends switch to it ([`RING`]).
    #[cfg(target_os = "linux")]
    ring: Option<super::ring::Ring>,
}

enum Way {
    Socket {
        writer: Stream,
        reader: BufReader<Timed>,
        /// Whether the socket has a write timeout set.
        write_timeout_set: bool,
    },
    #[cfg(target_os = "linux")]
    Shared(super::ring::Ring),
}

impl Conn {
    /// Frames through `stream` alone.
    pub(crate) fn new(stream: Stream) -> io::Result<Conn> {
        let reader = stream.try_clone()?;
        Ok(Conn {
            way: Way::Socket {
                writer: stream,
                reader: BufReader::with_capacity(
                    64 << 10,
                    Timed {
                        stream: reader,
                        until: None,
                        timeout_set: false,
                    },
                ),
                write_timeout_set: false,
            },
            scratch: Vec::new(),
            #[cfg(target_os = "linux")]
            ring: None,
        })
    }

    /// Frames through `stream` until [`use_ring`](Conn::use_ring), then through `ring`.
    #[cfg(target_os = "linux")]
    pub(crate) fn shared(stream: Stream, ring: super::ring::Ring) -> io::Result<Conn> {
        let mut conn = Conn::new(stream)?;
        conn.ring = Some(ring);
        Ok(conn)
    }

    /// Whether this end has a shared ring it has not switched to yet.
    pub(crate) fn ring_ready(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.ring.is_some();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Switches to the shared ring, if this end has one: whether it did. Both ends switch
    /// after the handshake, which crosses the socket (so that a runner of another protocol
    /// reads the host's hello, and its refusal reaches the host).
    pub(crate) fn use_ring(&mut self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(ring) = self.ring.take() {
            self.way = Way::Shared(ring);
            return true;
        }
        false
    }

    /// Sends one frame.
    pub(crate) fn send(&mut self, tag: u8, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.send_until(None, tag, head, body)
    }

    /// Sends one frame, waiting at most until `until` for the other end to take it (a peer
    /// that stops reading fills the socket's buffer or the ring; a write then fails with
    /// `TimedOut`).
    pub(crate) fn send_until(
        &mut self,
        until: Option<Instant>,
        tag: u8,
        head: &[u8],
        body: &[u8],
    ) -> io::Result<()> {
        if until.map_or(false, |until| until <= Instant::now()) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match &mut self.way {
            Way::Socket {
                writer,
                write_timeout_set,
                ..
            } => {
                let timeout = until.map(|until| until.saturating_duration_since(Instant::now()));
                if timeout.is_some() || *write_timeout_set {
                    // A zero timeout means none to `std`.
                    writer.set_write_timeout(timeout.map(|t| t.max(Duration::from_micros(1))))?;
                    *write_timeout_set = timeout.is_some();
                }
                write(NoSignal(&*writer), tag, head, body, &mut self.scratch)
            }
            #[cfg(target_os = "linux")]
            Way::Shared(ring) => write(RingIo { ring, until }, tag, head, body, &mut self.scratch),
        }
    }

    /// Receives one frame of at most `max` bytes into `buffer`, waiting until `until` at most
    /// (a read past it fails with `TimedOut`).
    pub(crate) fn receive(
        &mut self,
        until: Option<Instant>,
        max: usize,
        buffer: &mut Vec<u8>,
    ) -> Result<u8, ReadError> {
        match &mut self.way {
            Way::Socket { reader, .. } => {
                reader.get_mut().until = until;
                read(reader, max, buffer)
            }
            #[cfg(target_os = "linux")]
            Way::Shared(ring) => read(RingIo { ring, until }, max, buffer),
        }
    }

    /// How long a wait of the shared ring this end switched to spins before it sleeps.
    pub(crate) fn set_spin(&mut self, spin: Duration) {
        #[cfg(target_os = "linux")]
        if let Way::Shared(ring) = &mut self.way {
            ring.set_spin(spin);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = spin;
    }

    /// The descriptor of the shared ring this end has not switched to yet, or -1 (Unix: a
    /// child inherits it).
    #[cfg(unix)]
    pub(crate) fn region(&self) -> i32 {
        #[cfg(target_os = "linux")]
        if let Some(ring) = &self.ring {
            return ring.fd();
        }
        -1
    }

    fn socket(&self) -> &Stream {
        match &self.way {
            Way::Socket { writer, .. } => writer,
            #[cfg(target_os = "linux")]
            Way::Shared(ring) => ring.socket(),
        }
    }

    /// A second handle to the socket, to shut the channel down from elsewhere.
    pub(crate) fn interrupter(&self) -> io::Result<Stream> {
        self.socket().try_clone()
    }

    /// Closes both directions: the other end reads the end of the channel.
    pub(crate) fn shutdown(&self) {
        let _ = self.socket().shutdown(std::net::Shutdown::Both);
    }
}

/// A shared ring's reads and writes, waiting until a moment at most.
#[cfg(target_os = "linux")]
struct RingIo<'a> {
    ring: &'a mut super::ring::Ring,
    until: Option<Instant>,
}

#[cfg(target_os = "linux")]
impl Read for RingIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.ring.read_until(buf, self.until)
    }
}

#[cfg(target_os = "linux")]
impl Write for RingIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.ring.write_until(buf, self.until)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes to a socket without `SIGPIPE`: a peer gone is an error, not the end of a host that
/// does not ignore the signal.
struct NoSignal<'a>(&'a Stream);

impl Write for NoSignal<'_> {
    #[cfg(unix)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::os::unix::io::AsRawFd;
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        let flags = libc::MSG_NOSIGNAL;
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        let flags = 0;
        // SAFETY: `send` reads `buf.len()` bytes of a live buffer, on a descriptor the
        // stream keeps open.
        let sent = unsafe { libc::send(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    }

    /// (Windows raises no signal.)
    #[cfg(windows)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut &*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads that wait at most until a moment.
struct Timed {
    stream: Stream,
    until: Option<Instant>,
    /// Whether the socket has a read timeout set.
    timeout_set: bool,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.until {
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                self.stream.set_read_timeout(Some(left))?;
                self.timeout_set = true;
            }
            None if self.timeout_set => {
                self.stream.set_read_timeout(None)?;
                self.timeout_set = false;
            }
            None => {}
        }
        self.stream.read(buf)
    }
}

/// How a line of an isolated plugin's standard error that carries a `log` record begins: the
/// host hands such lines to its logger, and passes every other line on as it is.
pub(crate) const LOG_LINE: &[u8] = b"\x1explug-log\x1f";

/// The longest log line read as a record (a longer one is passed on as text).
pub(crate) const MAX_LOG_LINE: usize = 64 << 10;

/// A `log` record as it crosses in a line: level, line, target, module path, file, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub(crate) level: log::Level,
    pub(crate) line: Option<u32>,
    pub(crate) target: String,
    pub(crate) module_path: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) message: String,
}

impl LogLine {
    /// The line for `record`, its newline included.
    pub(crate) fn write(record: &log::Record<'_>) -> Vec<u8> {
        fn field(text: &str, out: &mut Vec<u8>) {
            for &byte in text.as_bytes() {
                match byte {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    0x1f => out.extend_from_slice(b"\\u"),
                    byte => out.push(byte),
                }
            }
            out.push(0x1f);
        }
        let mut out = LOG_LINE.to_vec();
        field(&(record.level() as usize).to_string(), &mut out);
        field(&record.line().unwrap_or(0).to_string(), &mut out);
        field(record.target(), &mut out);
        field(record.module_path().unwrap_or(""), &mut out);
        field(record.file().unwrap_or(""), &mut out);
        field(&record.args().to_string(), &mut out);
        out.push(b'\n');
        out
    }

    /// The record a line (without its newline) carries, if it is one.
    pub(crate) fn read(line: &[u8]) -> Option<LogLine> {
        let rest = line.strip_prefix(LOG_LINE)?;
        let mut fields = Vec::with_capacity(6);
        let mut field = Vec::new();
        let mut escaped = false;
        for &byte in rest {
            match (escaped, byte) {
                (true, b'n') => field.push(b'\n'),
                (true, b'r') => field.push(b'\r'),
                (true, b'u') => field.push(0x1f),
                (true, b'\\') => field.push(b'\\'),
                (true, _) => return None,
                (false, b'\\') => {
                    escaped = true;
                    continue;
                }
                (false, 0x1f) => fields.push(String::from_utf8(std::mem::take(&mut field)).ok()?),
                (false, byte) => field.push(byte),
            }
            escaped = false;
        }
        if fields.len() != 6 || !field.is_empty() || escaped {
            return None;
        }
        let mut fields = fields.into_iter();
        let mut next = || fields.next().unwrap_or_default();
        let level = xplug::__private::level_of(next().parse().ok()?)?;
        let line = next().parse::<u32>().ok().filter(|&line| line > 0);
        let known = |text: String| if text.is_empty() { None } else { Some(text) };
        Some(LogLine {
            level,
            line,
            target: next(),
            module_path: known(next()),
            file: known(next()),
            message: next(),
        })
    }

    /// Hands the record to this process's logger. The child let it through at its level, the
    /// host's when it was made: not this process's level now, which may have changed since (a
    /// record arrives on its own thread, after the call that made it may have returned).
    pub(crate) fn log(&self) {
        let logger = log::logger();
        let metadata = log::Metadata::builder()
            .level(self.level)
            .target(&self.target)
            .build();
        if !logger.enabled(&metadata) {
            return;
        }
        logger.log(
            &log::Record::builder()
                .level(self.level)
                .target(&self.target)
                .module_path(self.module_path.as_deref())
                .file(self.file.as_deref())
                .line(self.line)
                .args(format_args!("{}", self.message))
                .build(),
        );
    }
}

/// What a host says first: who it is and what the child is to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) protocol: u32,
    pub(crate) xplug_version: String,
    pub(crate) interface: String,
    pub(crate) interface_version: String,
    pub(crate) version_requirement: String,
    pub(crate) allow_panic_abort: bool,
    pub(crate) max_file_size: u64,
    /// The host's `log` level, as `log::LevelFilter` numbers it.
    pub(crate) log_level: u8,
    /// The plugin's real path, for reports.
    pub(crate) path: String,
    /// Whether the host serves its services to the plugin.
    pub(crate) services: bool,
    /// How long a waiting side of a shared ring spins before it sleeps, in microseconds.
    pub(crate) spin_micros: u64,
    /// Where no sealed snapshot can be inherited (Windows): the snapshot's copy in a private
    /// directory, and the SHA-256 of the bytes the host checked, which the copy must hold.
    /// Empty otherwise.
    pub(crate) image: String,
    pub(crate) image_digest: String,
    /// The host's snapshot directory, where the child makes its own copy (empty: the default).
    pub(crate) snapshot_dir: String,
}

fn string(input: &mut Input<'_>) -> Result<String, WireError> {
    abi_stable::std_types::RString::decode(input).map(|s| s.into_string())
}

fn put_string(text: &str, out: &mut Vec<u8>) {
    abi_stable::std_types::RStr::from(text).encode(out)
}

impl Hello {
    /// The protocol a hello speaks (its first field, in every protocol): read before the rest,
    /// which another protocol may lay out otherwise.
    pub(crate) fn protocol_of(bytes: &[u8]) -> Option<u32> {
        u32::decode(&mut Input::new(bytes)).ok()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.protocol.encode(&mut out);
        for text in [
            &self.xplug_version,
            &self.interface,
            &self.interface_version,
            &self.version_requirement,
        ] {
            put_string(text, &mut out);
        }
        self.allow_panic_abort.encode(&mut out);
        self.max_file_size.encode(&mut out);
        self.log_level.encode(&mut out);
        put_string(&self.path, &mut out);
        self.services.encode(&mut out);
        self.spin_micros.encode(&mut out);
        put_string(&self.image, &mut out);
        put_string(&self.image_digest, &mut out);
        put_string(&self.snapshot_dir, &mut out);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Hello, WireError> {
        let input = &mut Input::new(bytes);
        let hello = Hello {
            protocol: u32::decode(input)?,
            xplug_version: string(input)?,
            interface: string(input)?,
            interface_version: string(input)?,
            version_requirement: string(input)?,
            allow_panic_abort: bool::decode(input)?,
            max_file_size: u64::decode(input)?,
            log_level: u8::decode(input)?,
            path: string(input)?,
            services: bool::decode(input)?,
            spin_micros: u64::decode(input)?,
            image: string(input)?,
            image_digest: string(input)?,
            snapshot_dir: string(input)?,
        };
        input.finish()?;
        Ok(hello)
    }
}

/// A load the child refused, as it crosses: enough to rebuild the typed error where it has
/// one, and the report's lines otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The `ErrorKind` variant's name, e.g. `LayoutMismatch`.
    pub(crate) kind: String,
    /// The one-line text.
    pub(crate) text: String,
    /// The `help:` line.
    pub(crate) help: String,
    /// The report's other lines.
    pub(crate) notes: Vec<String>,
    /// The message of an `on_load` that refused or panicked, and the panic's location.
    pub(crate) message: String,
    pub(crate) location: String,
}

impl Refusal {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for text in [&self.kind, &self.text, &self.help] {
            put_string(text, &mut out);
        }
        xplug::wire::put_len(self.notes.len(), &mut out);
        for note in &self.notes {
            put_string(note, &mut out);
        }
        put_string(&self.message, &mut out);
        put_string(&self.location, &mut out);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Refusal, WireError> {
        let input = &mut Input::new(bytes);
        let kind = string(input)?;
        let text = string(input)?;
        let help = string(input)?;
        let count = input.length()?;
        let mut notes = Vec::new();
        for _ in 0..count.min(64) {
            notes.push(string(input)?);
        }
        let refusal = Refusal {
            kind,
            text,
            help,
            notes,
            message: string(input)?,
            location: string(input)?,
        };
        input.finish()?;
        Ok(refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_bounded_by_the_reader() {
        let mut bytes = Vec::new();
        write(&mut bytes, CALL, &[1, 2], &[3], &mut Vec::new()).unwrap();
        let mut buffer = Vec::new();
        assert_eq!(read(&bytes[..], 16, &mut buffer).unwrap(), CALL);
        assert_eq!(buffer, [1, 2, 3]);
        // A claim of 4 GiB is refused before anything is read or reserved.
        let claim = [0xff, 0xff, 0xff, 0xff, ANSWER];
        assert!(matches!(
            read(&claim[..], 1 << 20, &mut buffer),
            Err(ReadError::TooLong { .. })
        ));
        assert!(buffer.capacity() < 1 << 20);
        // A frame that ends early.
        let short = [10, 0, 0, 0, ANSWER, 1];
        assert!(matches!(
            read(&short[..], 1 << 20, &mut buffer),
            Err(ReadError::Io(_))
        ));
    }

    #[test]
    fn log_records_cross_in_a_line() {
        let line = LogLine::write(
            &log::Record::builder()
                .level(log::Level::Warn)
                .target("plug\x1fin")
                .module_path(Some("plugin::m"))
                .line(Some(7))
                .args(format_args!("two\nlines \\ and\r more"))
                .build(),
        );
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let read = LogLine::read(&line[..line.len() - 1]).unwrap();
        assert_eq!(
            read,
            LogLine {
                level: log::Level::Warn,
                line: Some(7),
                target: "plug\x1fin".into(),
                module_path: Some("plugin::m".into()),
                file: None,
                message: "two\nlines \\ and\r more".into(),
            }
        );
        // Anything else is text.
        assert_eq!(LogLine::read(b"hello"), None);
        assert_eq!(LogLine::read(&line[..line.len() - 3]), None);
        let mut bad = line[..line.len() - 1].to_vec();
        bad[LOG_LINE.len()] = b'9';
        assert_eq!(LogLine::read(&bad), None);
    }

    #[test]
    fn messages_cross() {
        let hello = Hello {
            protocol: PROTOCOL,
            xplug_version: "0.1.0".into(),
            interface: "greeter".into(),
            interface_version: "1.1.0".into(),
            version_requirement: "^1".into(),
            allow_panic_abort: false,
            max_file_size: 7,
            log_level: 3,
            path: "/p/libx.so".into(),
            services: true,
            spin_micros: 50,
            image: "C:\\x\\copy.dll".into(),
            image_digest: "00ff".into(),
            snapshot_dir: String::new(),
        };
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
        let refusal = Refusal {
            kind: "LayoutMismatch".into(),
            text: "t".into(),
            help: "h".into(),
            notes: vec!["a".into(), "b".into()],
            message: String::new(),
            location: String::new(),
        };
        assert_eq!(Refusal::decode(&refusal.encode()), Ok(refusal));
    }
}
