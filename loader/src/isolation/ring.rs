//! The shared-memory channel (Linux): two byte rings in a memfd both processes map, one each
//! way, so that a call crosses without a system call while both sides are awake.
//!
//! A side that waits (for bytes to read, or for room to write) first spins for a moment
//! ([`Isolation::spin`](super::Isolation::spin)), then says so in its ring's control words
//! and sleeps in `poll` on the channel's socket; the other side, once it has written or read,
//! sends one byte on the socket to wake it. The socket also carries the end of the channel:
//! the other process gone, or the host's own shutdown (a plugin stopped, the process seen to
//! end), wakes a sleeper with the end of the stream.
//!
//! The region (memfd `xplug:channel`, sealed so that neither side can shrink or grow it):
//!
//! | offset | holds |
//! |---|---|
//! | 0 | ring 0 (host to child): `head` (u64, bytes written), at 64 `tail` (u64, bytes read), at 128 `reader_waiting` (u32), at 192 `writer_waiting` (u32) |
//! | 256 | ring 1 (child to host): the same four words |
//! | 4096 | ring 0's bytes ([`CAPACITY`]) |
//! | 4096 + [`CAPACITY`] | ring 1's bytes |
//!
//! The other side may write anything anywhere in the region at any time. Each side keeps its
//! own count of what it wrote and read, and trusts the other's only as far as it checks: a
//! ring claiming more than its capacity is broken (`InvalidData`). Bytes are copied out of the
//! region once, then read from the copy.

use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// The bytes each ring holds.
pub(crate) const CAPACITY: usize = 128 << 10;
/// Where the rings' bytes begin: the control words fill the first page.
const DATA: usize = 4096;
/// The region's size.
pub(crate) const SIZE: usize = DATA + 2 * CAPACITY;
/// The ring the host writes; the child writes the other.
const TO_CHILD: usize = 0;
const TO_HOST: usize = 1;

/// Where a ring's control words are, from the start of its 256 bytes: each on a cache line
/// of its own.
const HEAD: usize = 0;
const TAIL: usize = 64;
const READER_WAITING: usize = 128;
const WRITER_WAITING: usize = 192;

/// The mapped region.
struct Region {
    base: *mut u8,
    fd: OwnedFd,
}

// SAFETY: the region is plain memory, reached only through atomics (control words) and
// copies (bytes) that tolerate the other side's concurrent writes.
unsafe impl Send for Region {}

impl Region {
    /// Maps `fd`, which must be a region of [`SIZE`] bytes that cannot shrink.
    fn map(fd: OwnedFd) -> io::Result<Region> {
        // SAFETY: a shared read-write mapping of a descriptor this owns, at an address the
        // kernel chooses; checked for failure.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            base: base.cast(),
            fd,
        })
    }

    /// The count `word` (`HEAD`, `TAIL`) of ring `ring`.
    fn count(&self, ring: usize, word: usize) -> &AtomicU64 {
        // SAFETY: rings 0 and 1 have their words at 0 and 256, inside the mapping and aligned
        // (the mapping is page-aligned); every bit pattern is a valid atomic, and the region is
        // only ever reached through atomics and byte copies.
        unsafe { &*(self.base.add(ring * 256 + word) as *const AtomicU64) }
    }

    /// The flag `word` (`READER_WAITING`, `WRITER_WAITING`) of ring `ring`.
    fn flag(&self, ring: usize, word: usize) -> &AtomicU32 {
        // SAFETY: as in `count`.
        unsafe { &*(self.base.add(ring * 256 + word) as *const AtomicU32) }
    }

    fn data(&self, ring: usize) -> *mut u8 {
        // SAFETY: inside the mapping of `SIZE` bytes.
        unsafe { self.base.add(DATA + ring * CAPACITY) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; nothing borrows it past `self`.
        unsafe { libc::munmap(self.base.cast(), SIZE) };
    }
}

/// A new region for a channel: the host's descriptor (the child inherits a copy).
pub(crate) fn create() -> io::Result<OwnedFd> {
    let name = b"xplug:channel\0";
    // SAFETY: the name is NUL-terminated; the call has no other inputs.
    let fd = unsafe {
        libc::memfd_create(
            name.as_ptr().cast(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain calls on a descriptor this owns. A region the plugin's process could
    // shrink would end the host with `SIGBUS` on its next access: it is sealed first.
    unsafe {
        if libc::ftruncate(fd.as_raw_fd(), SIZE as libc::off_t) < 0 {
            return Err(io::Error::last_os_error());
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        if libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(fd)
}

/// Whether descriptor `fd` is a region a host made: [`SIZE`] bytes, sealed against shrinking.
pub(crate) fn is_region(fd: RawFd) -> bool {
    // SAFETY: `fstat` writes the zeroed struct it is given; `F_GET_SEALS` takes no argument.
    unsafe {
        let mut stat = std::mem::zeroed::<libc::stat>();
        libc::fstat(fd, &mut stat) == 0
            && stat.st_mode & libc::S_IFMT == libc::S_IFREG
            && stat.st_size == SIZE as libc::off_t
            && {
                let seals = libc::fcntl(fd, libc::F_GET_SEALS);
                seals >= 0 && seals & libc::F_SEAL_SHRINK != 0
            }
    }
}

/// Which end of the channel this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Host,
    Child,
}

/// One end of a shared-memory channel.
pub(crate) struct Ring {
    region: Region,
    /// Wakes, and the end of the channel.
    socket: UnixStream,
    /// The ring this end writes, and the one it reads.
    out: usize,
    inn: usize,
    /// What this end wrote to `out` and read from `inn`: its own counts, never the other's.
    written: u64,
    read: u64,
    /// The other end's count of what it read of `out`, as last seen (and checked): while it
    /// leaves room enough, a write does not look again (the word is on a line the other side
    /// writes).
    seen_tail: std::cell::Cell<u64>,
    spin: Duration,
}

/// What a wait is for.
#[derive(Clone, Copy)]
enum Wait {
    Bytes,
    Room,
}

impl Ring {
    /// One end of the channel in the region `fd` (made by [`create`]), waking the other end
    /// through `socket`; a waiting side spins for `spin` before it sleeps.
    pub(crate) fn new(
        fd: OwnedFd,
        socket: UnixStream,
        side: Side,
        spin: Duration,
    ) -> io::Result<Ring> {
        let (out, inn) = match side {
            Side::Host => (TO_CHILD, TO_HOST),
            Side::Child => (TO_HOST, TO_CHILD),
        };
        let mut ring = Ring {
            region: Region::map(fd)?,
            socket,
            out,
            inn,
            written: 0,
            read: 0,
            seen_tail: std::cell::Cell::new(0),
            spin: Duration::ZERO,
        };
        ring.set_spin(spin);
        Ok(ring)
    }

    /// How long a wait spins before it sleeps: `spin`, at most [`MAX_SPIN`].
    pub(crate) fn set_spin(&mut self, spin: Duration) {
        self.spin = spin.min(MAX_SPIN);
    }

    /// The region's descriptor.
    pub(crate) fn fd(&self) -> RawFd {
        self.region.fd.as_raw_fd()
    }

    /// The socket that wakes the other end.
    pub(crate) fn socket(&self) -> &UnixStream {
        &self.socket
    }

    fn broken(what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the shared ring {what}"),
        )
    }

    /// Bytes ready to read.
    fn readable(&self) -> io::Result<usize> {
        let head = self.region.count(self.inn, HEAD).load(SeqCst);
        match head.wrapping_sub(self.read) {
            ready if ready <= CAPACITY as u64 => Ok(ready as usize),
            _ => Err(Self::broken("claims more bytes than it holds")),
        }
    }

    /// Room to write, looked up afresh.
    fn writable(&self) -> io::Result<usize> {
        let tail = self.region.count(self.out, TAIL).load(SeqCst);
        match self.written.wrapping_sub(tail) {
            used if used <= CAPACITY as u64 => {
                self.seen_tail.set(tail);
                Ok(CAPACITY - used as usize)
            }
            _ => Err(Self::broken("was read past what was written")),
        }
    }

    /// Room to write, as last seen: at most what there is (the other end only ever frees
    /// room, and a count that went back is checked when looked up).
    fn room_seen(&self) -> usize {
        // `seen_tail` was checked against an earlier `written`, which only grew since.
        let used = self.written.wrapping_sub(self.seen_tail.get());
        CAPACITY.saturating_sub(usize::try_from(used).unwrap_or(usize::MAX))
    }

    /// Wakes the other end if it sleeps: one byte on the socket (a full socket already holds
    /// wakes; a closed one is seen at the next wait).
    fn wake(&self) {
        // SAFETY: `send` reads one byte of a live buffer, on a descriptor the stream owns.
        unsafe {
            libc::send(
                self.socket.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
    }

    /// Waits until `ready` gives a non-zero count, or until `until`: spinning first, then
    /// asleep on the socket.
    fn wait(
        &self,
        until: Option<Instant>,
        wait: Wait,
        ready: impl Fn(&Self) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let n = ready(self)?;
        if n > 0 {
            return Ok(n);
        }
        if !self.spin.is_zero() {
            let started = Instant::now();
            // A look after each pause (a `pause` can take 140 cycles); the clock every 16.
            'spin: loop {
                for _ in 0..16 {
                    std::hint::spin_loop();
                    let n = ready(self)?;
                    if n > 0 {
                        return Ok(n);
                    }
                }
                let now = Instant::now();
                if now.duration_since(started) >= self.spin || until.map_or(false, |u| now >= u) {
                    break 'spin;
                }
            }
        }
        let flag = match wait {
            Wait::Bytes => self.region.flag(self.inn, READER_WAITING),
            Wait::Room => self.region.flag(self.out, WRITER_WAITING),
        };
        // Wakes that brought nothing: an honest peer sends one with each step it makes while
        // this side sleeps, so a few at most; a peer that floods the socket would keep this
        // thread busy until the deadline, or for good without one.
        let mut idle_wakes = 0u32;
        let result = loop {
            // Said before the last look, so that a write after the look sees it and wakes.
            flag.store(1, SeqCst);
            match ready(self) {
                Ok(0) => {}
                other => break other,
            }
            let timeout = match until {
                None => -1,
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break Err(io::ErrorKind::TimedOut.into());
                    }
                    // Rounded up: a wait never ends before its moment.
                    let ms = left.as_micros().saturating_add(999) / 1000;
                    i32::try_from(ms).unwrap_or(i32::MAX)
                }
            };
            let mut poll = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `poll` reads and writes one live entry.
            let polled = unsafe { libc::poll(&mut poll, 1, timeout) };
            if polled < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break Err(error);
            }
            if polled > 0 {
                if let Err(e) = self.drain_wakes() {
                    break Err(e);
                }
                idle_wakes += 1;
                if idle_wakes > MAX_IDLE_WAKES {
                    break Err(Self::broken("is woken without cause, without end"));
                }
            }
        };
        flag.store(0, SeqCst);
        result
    }

    /// Reads the wakes waiting on the socket; the end of the channel is `UnexpectedEof`.
    fn drain_wakes(&self) -> io::Result<()> {
        let mut wakes = [0u8; 512];
        // SAFETY: `recv` writes at most `wakes.len()` bytes of a live buffer.
        let got = unsafe {
            libc::recv(
                self.socket.as_raw_fd(),
                wakes.as_mut_ptr().cast(),
                wakes.len(),
                libc::MSG_DONTWAIT,
            )
        };
        match got {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the channel closed",
            )),
            n if n > 0 => Ok(()),
            _ => match io::Error::last_os_error() {
                e if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
                {
                    Ok(())
                }
                e => Err(e),
            },
        }
    }

    /// Reads what is ready into `buf` (at least one byte), waiting until `until` at most.
    pub(crate) fn read_until(
        &mut self,
        buf: &mut [u8],
        until: Option<Instant>,
    ) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let ready = self.wait(until, Wait::Bytes, Ring::readable)?;
        let n = ready.min(buf.len());
        let at = (self.read % CAPACITY as u64) as usize;
        let first = n.min(CAPACITY - at);
        let data = self.region.data(self.inn);
        // SAFETY: `at + first <= CAPACITY` and `n - first <= CAPACITY` bytes of the ring, into
        // `buf`, which holds `n`. The other side, a process of its own (the language's rules on
        // races do not reach into it), may write those bytes meanwhile: that changes which bytes
        // are copied (every pattern is a valid `u8`), and they are only read from the copy.
        unsafe {
            std::ptr::copy_nonoverlapping(data.add(at), buf.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(data, buf.as_mut_ptr().add(first), n - first);
        }
        self.read = self.read.wrapping_add(n as u64);
        // Published, then the flag read (both `SeqCst`, as the waiting side's store of its
        // flag and look at the count): one of the two sides sees the other's store.
        self.region.count(self.inn, TAIL).store(self.read, SeqCst);
        if self.region.flag(self.inn, WRITER_WAITING).load(SeqCst) != 0 {
            self.wake();
        }
        Ok(n)
    }

    /// Writes what fits of `buf` (at least one byte), waiting until `until` at most.
    pub(crate) fn write_until(&mut self, buf: &[u8], until: Option<Instant>) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let room = match self.room_seen() {
            room if room >= buf.len() => room,
            _ => self.wait(until, Wait::Room, Ring::writable)?,
        };
        let n = room.min(buf.len());
        let at = (self.written % CAPACITY as u64) as usize;
        let first = n.min(CAPACITY - at);
        let data = self.region.data(self.out);
        // SAFETY: as in `read_until`, the other way.
        unsafe {
            std::ptr::copy_nonoverlapping(buf.as_ptr(), data.add(at), first);
            std::ptr::copy_nonoverlapping(buf.as_ptr().add(first), data, n - first);
        }
        self.written = self.written.wrapping_add(n as u64);
        // As in `read_until`.
        self.region
            .count(self.out, HEAD)
            .store(self.written, SeqCst);
        if self.region.flag(self.out, READER_WAITING).load(SeqCst) != 0 {
            self.wake();
        }
        Ok(n)
    }
}

/// How many wakes in a row may bring no bytes and no room before the other side is taken for
/// broken.
const MAX_IDLE_WAKES: u32 = 1000;

/// The longest spin: past it, sleeping and being woken costs less than spinning.
const MAX_SPIN: Duration = Duration::from_millis(1);

/// How long a waiting side spins before it sleeps, unless set: long enough to catch the next
/// call of a host calling without pause, where there is a core to spin on.
pub(crate) fn default_spin() -> Duration {
    match std::thread::available_parallelism() {
        Ok(cores) if cores.get() > 1 => Duration::from_micros(50),
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair(spin: Duration) -> (Ring, Ring) {
        let fd = create().unwrap();
        assert!(is_region(fd.as_raw_fd()));
        let child_fd = fd.try_clone().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        (
            Ring::new(fd, a, Side::Host, spin).unwrap(),
            Ring::new(child_fd, b, Side::Child, spin).unwrap(),
        )
    }

    #[test]
    fn bytes_cross_both_ways_around_the_ring_asleep_or_spinning() {
        for spin in [Duration::ZERO, Duration::from_micros(50)] {
            let (mut host, mut child) = pair(spin);
            let echo = std::thread::spawn(move || {
                let mut buf = vec![0u8; 50_000];
                let mut total = 0;
                while total < 3 * CAPACITY + 17 {
                    let n = child.read_until(&mut buf, None).unwrap();
                    let mut sent = 0;
                    while sent < n {
                        sent += child.write_until(&buf[sent..n], None).unwrap();
                    }
                    total += n;
                }
            });
            let message: Vec<u8> = (0..3 * CAPACITY + 17).map(|i| (i % 251) as u8).collect();
            let mut back = vec![0u8; message.len()];
            let (mut sent, mut got) = (0, 0);
            while got < message.len() {
                if sent < message.len() {
                    let end = (sent + 70_000).min(message.len());
                    sent += host.write_until(&message[sent..end], None).unwrap();
                }
                let until = Some(Instant::now() + Duration::from_secs(10));
                got += host.read_until(&mut back[got..], until).unwrap();
            }
            echo.join().unwrap();
            assert!(back == message);
        }
    }

    #[test]
    fn a_ring_the_other_side_broke_is_an_error_not_a_read() {
        let (mut host, child) = pair(Duration::ZERO);
        // The child claims to have written more than the ring holds.
        child
            .region
            .count(TO_HOST, HEAD)
            .store(CAPACITY as u64 + 1, SeqCst);
        let error = host.read_until(&mut [0; 8], None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // ... or to have read what was never written: seen once the host needs more room
        // than it knew of (until then its writes stay where its own counts say).
        child.region.count(TO_CHILD, TAIL).store(5, SeqCst);
        assert_eq!(host.write_until(b"x", None).unwrap(), 1);
        let error = host.write_until(&[0; CAPACITY], None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_peer_that_only_wakes_is_broken() {
        let (mut host, child) = pair(Duration::ZERO);
        let flood = std::thread::spawn(move || {
            let socket = child.socket();
            let bytes = [1u8; 256];
            let until = Instant::now() + Duration::from_secs(10);
            // Until the host gives up (its end closes) or the test's own bound.
            while Instant::now() < until && (&*socket).write(&bytes).is_ok() {}
        });
        let started = Instant::now();
        let until = Some(started + Duration::from_secs(5));
        let error = host.read_until(&mut [0; 8], until).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        drop(host);
        flood.join().unwrap();
    }

    #[test]
    fn a_wait_ends_at_its_moment_or_when_the_other_end_closes() {
        let (mut host, child) = pair(Duration::from_micros(50));
        let started = Instant::now();
        let until = Some(started + Duration::from_millis(30));
        let error = host.read_until(&mut [0; 8], until).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(30));
        drop(child);
        let error = host.read_until(&mut [0; 8], None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
