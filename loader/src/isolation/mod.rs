//! Isolated plugins: the same interface served from a process of the plugin's own, so that a
//! crash, a hang or a hostile plugin cannot take the host down.
//!
//! A loader set to isolate ([`Loader::isolate`](crate::Loader::isolate)) checks each file as
//! it always does (stage 1, trust, object format, header, compatibility) without opening it,
//! seals the bytes it checked in a memfd (on Windows: a copy it holds shut, which the runner
//! checks against their SHA-256), and starts a *runner*, a program that serves the
//! interface: by default the host's own executable, started again. The runner receives the
//! sealed snapshot, so it runs exactly the bytes that were checked; it opens them, checks the
//! type layout against its own copy of the interface (the host's), runs the plugin's `on_load`
//! and then answers calls. The host gets the same [`Plugin<M>`](crate::Plugin) it gets
//! in-process: its methods return `Result<_, CallError>`, and code that calls plugins does not
//! change.
//!
//! # What a host adds to its `main`
//!
//! The runner must be able to serve the interface, so the host's `main` hands its interfaces to
//! [`serve_if_child`] before it does anything else. In the host that call returns at once; in
//! a process started to serve a plugin it never returns.
//!
//! ```no_run
//! use greeter_interface::GreeterRef;
//! use xplug_loader::isolation::{serve_if_child, serves, Isolation};
//! use xplug_loader::Loader;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     serve_if_child(&[serves::<GreeterRef>()]);
//!
//!     let loader = Loader::<GreeterRef>::new().isolate(Isolation::new());
//!     let plugin = loader.load("plugins/libuntrusted.so")?;
//!     println!("{}", plugin.add(2, 40)?); // served by another process
//!     Ok(())
//! }
//! ```
//!
//! Why the host's own executable: it holds the host's copy of the interface (the layout the
//! plugin is checked against, and the code that encodes each call), built by the same compiler
//! in the same build, so the two ends of the channel cannot disagree. A host that cannot run
//! its `main` again (a test harness, a library) names another program that calls
//! [`serve_if_child`] with the same interfaces, built from the same workspace
//! ([`Isolation::runner`]); the child checks that it speaks the host's protocol, xplug version
//! and interface version, and refuses otherwise.
//!
//! # What is guaranteed, and what is not
//!
//! - A crash of the plugin (a segfault, an abort, a stack overflow, `exit`, closing or
//!   garbling the channel) ends only its process: the call in flight and the later ones fail
//!   with [`CallErrorKind::Crashed`](crate::CallErrorKind::Crashed) (how it ended, the last
//!   lines it wrote to standard error), until the [`Restart`] policy starts it again.
//! - A call that outlasts the [deadline](Isolation::deadline) fails with
//!   [`CallErrorKind::TimedOut`](crate::CallErrorKind::TimedOut), and the process is killed.
//!   The deadline counts from when the call is sent: a call waiting behind another call to the
//!   same plugin, or for a restart, waits longer. Without a deadline, a hung plugin holds its
//!   callers until it is unloaded or dropped.
//! - Everything the child sends is hostile input: frames are bounded
//!   ([`Isolation::max_message`]), values are decoded without trusting a length (what
//!   decoding an answer allocates is at most 16 times its size, `xplug::wire`), and a child
//!   that breaks the rules is killed. Writes to it never raise `SIGPIPE`.
//! - The plugin runs with this user's rights, in a process of its own: it cannot read or
//!   corrupt the host's memory, but it can do what the user can (files, network), and it
//!   writes to the host's standard output and (through the host) standard error. It inherits
//!   no other descriptor of the host (Linux 5.11 and later; on Windows, no handle the host
//!   did not make inheritable). Memory and CPU time can be limited
//!   ([`Isolation::memory_limit`], [`Isolation::cpu_time_limit`]); a sandbox (namespaces,
//!   seccomp) is the host's to add around the runner.
//! - A crash is noticed when the plugin's process ends (Linux 5.3 and later: its pidfd), even
//!   if a process it forked keeps the channel open; before 5.3, when its channel closes.
//! - A host service the plugin calls may call the plugin again on the same thread (32 deep at
//!   most). A service that waits for another thread calling the same plugin, or two threads
//!   whose services call each other's plugins, wait forever: each call holds its plugin until
//!   it returns, and no deadline ends that wait.
//!
//! # What crosses
//!
//! Values cross by copy: see `xplug::wire` for the types. Objects a plugin returns stay in its
//! process (the host's handle calls them over the channel and its drop drops them there);
//! objects the host lends for a call (`&T`, `&mut T`) and the host's services stay in the host
//! (the plugin's calls of them come back over the channel, and may call the plugin again on
//! the same thread). A plugin reaches them only while it serves a call of the host, on that
//! call's thread. A function whose parameter or return type cannot cross returns
//! [`CallErrorKind::CannotCross`](crate::CallErrorKind) naming the type, without reaching the
//! child. Calls to one isolated plugin are answered one at a time, in its one process; the
//! plugin's `log` records reach the host's logger, with their level, target, module, file and
//! line.
//!
//! # The channel
//!
//! [`Transport::SharedMemory`] (the default on Linux): two byte rings in a sealed memfd both
//! processes map, and a socket beside them that wakes a sleeping side and tells the end of the
//! channel. A waiting side spins for [`Isolation::spin`] first, so that a call made while the
//! other side is awake crosses without a system call (well under a microsecond for a small
//! one). [`Transport::Socket`]: the socket alone, a system call and a wake-up each way.
//!
//! # Platforms
//!
//! Linux: the snapshot is a sealed memfd the child inherits, the channel a socket pair (and
//! the shared ring), a crash a signal or an exit status, seen through the process's pidfd.
//! Windows: the snapshot is a copy in the private snapshot directory, which the child checks
//! against the digest of the bytes the host checked before it loads a copy of its own; the
//! channel a loopback TCP connection the child opens and proves with a token from its
//! environment; a crash an exit status (an `NTSTATUS` such as `0xC0000005`, an access
//! violation), seen when the connection ends; memory and CPU time limits are refused. Other
//! Unixes (macOS) lack the executable memfd: loads there are refused.

use std::path::PathBuf;
use std::time::Duration;

use xplug::Interface;

mod child;
pub(crate) mod frame;
mod host;
mod process;
#[cfg(target_os = "linux")]
mod ring;

pub(crate) use host::{load, retire, Isolated};

/// The environment variable that tells a runner it was started to serve a plugin: `1`, or
/// [`CHILD_RING`] when its host handed it a shared ring (descriptor 5).
pub(crate) const CHILD_ENV: &str = "XPLUG_ISOLATED_CHILD";
pub(crate) const CHILD_RING: &str = "ring";

/// How a loader runs plugins in processes of their own ([`Loader::isolate`](crate::Loader::isolate)).
///
/// ```
/// use std::time::Duration;
/// use xplug_loader::isolation::{Isolation, Restart};
///
/// let isolation = Isolation::new()
///     .deadline(Duration::from_secs(2))
///     .restart(Restart::on_next_call().at_most(3))
///     .memory_limit(512 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolation {
    pub(crate) runner: Option<PathBuf>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) restart: Restart,
    pub(crate) start_wait: Duration,
    pub(crate) max_message: usize,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) cpu_time_limit: Option<Duration>,
    pub(crate) liveness: Option<Duration>,
    pub(crate) transport: Transport,
    pub(crate) spin: Duration,
}

/// How calls cross between a host and its isolated plugins' processes
/// ([`Isolation::transport`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Through two rings in memory both processes map (a sealed memfd), beside a socket that
    /// wakes a sleeping side and tells the end of the channel: a call crosses without a system
    /// call while both sides are awake (see [`Isolation::spin`]). Linux, the default there;
    /// elsewhere, or where no memfd can be made, calls cross the socket alone.
    SharedMemory,
    /// Through the socket alone (a Unix socket pair; loopback TCP on Windows): two system
    /// calls and two wake-ups per call; nothing spins.
    Socket,
}

impl Default for Transport {
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            Transport::SharedMemory
        } else {
            Transport::Socket
        }
    }
}

impl Default for Isolation {
    fn default() -> Self {
        Self::new()
    }
}

impl Isolation {
    /// Runs each plugin in a process of its own, started from this executable (its `main`
    /// calls [`serve_if_child`]); no deadline, no restart, no limits; messages up to 64 MiB;
    /// a process has 10 seconds to load its plugin.
    pub fn new() -> Self {
        Isolation {
            runner: None,
            deadline: None,
            restart: Restart::never(),
            start_wait: Duration::from_secs(10),
            max_message: 64 << 20,
            memory_limit: None,
            cpu_time_limit: None,
            liveness: None,
            transport: Transport::default(),
            #[cfg(target_os = "linux")]
            spin: ring::default_spin(),
            #[cfg(not(target_os = "linux"))]
            spin: Duration::ZERO,
        }
    }

    /// How calls cross: [`Transport::SharedMemory`] unless set (on Linux).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// How long a side of a [`Transport::SharedMemory`] channel that waits (the host for an
    /// answer, the plugin's process for the next call) spins before it sleeps until woken.
    /// Spinning is what makes a call cross in about a microsecond: a host that calls again
    /// within it finds the plugin's process awake. It costs that much CPU time after each
    /// call on both sides, which is why it is short: 50 µs unless set, and none on a machine
    /// with one core (where a spinning side would only hold back the other), and at most 1 ms
    /// (past that, sleeping costs less). Zero: never spin.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Starts the plugins' processes from `program` instead of this executable: a program
    /// whose `main` calls [`serve_if_child`] with this host's interfaces, built from the same
    /// workspace (the same versions of xplug and of the interface crates).
    pub fn runner(mut self, program: impl Into<PathBuf>) -> Self {
        self.runner = Some(program.into());
        self
    }

    /// Ends each call that has not answered `deadline` after it was sent: it fails with
    /// [`CallErrorKind::TimedOut`](crate::CallErrorKind::TimedOut) and the plugin's process is
    /// killed (the [`Restart`] policy says whether it starts again).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Checks every `interval` that the process of an idle plugin still serves: it must answer
    /// a message within `interval`. A process that died or hangs while no call is made is
    /// found then, not at the next call: it is ended (a hung one killed) and reported to the
    /// host's logger, and its crash is what later calls fail with, or what the restart policy
    /// restarts from (and counts). No check runs while a call does (its deadline covers it).
    /// Costs a thread per plugin, asleep between checks, and a message round trip per check.
    pub fn liveness(mut self, interval: Duration) -> Self {
        self.liveness = Some(interval);
        self
    }

    /// What happens after a plugin's process crashed, hung or was killed.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How long a plugin's process may take to start, check and load its plugin (its
    /// `on_load` included) before it is killed and the load refused: 10 seconds unless set.
    pub fn start_wait(mut self, wait: Duration) -> Self {
        self.start_wait = wait;
        self
    }

    /// The largest message a plugin's process may send (an answer, with the values it
    /// returns): 64 MiB unless set. A longer one is refused before it is read, and the
    /// process killed.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Limits the address space of each plugin's process to `bytes` (`RLIMIT_AS`): an
    /// allocation past it fails in the plugin (Rust code aborts, and the host sees a crash).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Limits the CPU time of each plugin's process (`RLIMIT_CPU`, whole seconds, at least
    /// one): past it, the system kills the process (`SIGXCPU`).
    pub fn cpu_time_limit(mut self, limit: Duration) -> Self {
        self.cpu_time_limit = Some(limit);
        self
    }
}

/// What happens after an isolated plugin's process crashed, hung or was killed.
///
/// [`never`](Restart::never) (the default): every later call fails as the call in flight did.
/// [`on_next_call`](Restart::on_next_call): the next call starts a new process (its statics
/// fresh, its `on_load` run again) and is served by it. A process that crashes again before
/// it answered a call is a crash loop: the next start waits for the backoff, which doubles
/// with each crash in a row (up to a minute), and calls meanwhile fail without trying.
/// [`at_most`](Restart::at_most) bounds the restarts, after which calls fail with
/// [`CallErrorKind::Unavailable`](crate::CallErrorKind::Unavailable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restart {
    pub(crate) limit: Option<u32>,
    pub(crate) backoff: Duration,
    pub(crate) quarantine: bool,
}

impl Restart {
    /// No restart.
    pub fn never() -> Restart {
        Restart {
            limit: Some(0),
            backoff: Duration::ZERO,
            quarantine: false,
        }
    }

    /// A new process on the next call; after two crashes in a row, not before 10 ms
    /// (doubling with each further crash in a row); without limit unless
    /// [`at_most`](Restart::at_most).
    pub fn on_next_call() -> Restart {
        Restart {
            limit: None,
            backoff: Duration::from_millis(10),
            quarantine: false,
        }
    }

    /// At most `times` restarts over the plugin's life.
    pub fn at_most(mut self, times: u32) -> Restart {
        self.limit = Some(times);
        self
    }

    /// Once the plugin's process has crashed (or hung past its deadline) as often as this
    /// policy allows (once for [`never`](Restart::never), `times + 1` for
    /// [`at_most(times)`](Restart::at_most)), lists its bytes in the loader's quarantine
    /// journal ([`Loader::quarantine`](crate::Loader::quarantine), which this needs): loads of
    /// them, in this run and later ones, in-process or isolated, are then refused with
    /// [`ErrorKind::CrashedTooOften`](crate::ErrorKind) until the file changes or the entry
    /// is cleared (`xplug quarantine clear`). Without a limit, nothing is ever listed.
    pub fn then_quarantine(mut self) -> Restart {
        self.quarantine = true;
        self
    }

    /// Waits at least `backoff` before restarting a process that crashed again before it
    /// answered a call (doubling with each further crash in a row).
    pub fn backoff(mut self, backoff: Duration) -> Restart {
        self.backoff = backoff;
        self
    }
}

/// An interface a runner serves: made by [`serves`], handed to [`serve_if_child`].
#[derive(Clone, Copy)]
pub struct Serves {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) serve: fn(child::Child) -> i32,
}

impl std::fmt::Debug for Serves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serves")
            .field("interface", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

/// The interface `M`, served to isolated plugins.
pub fn serves<M: Interface>() -> Serves {
    Serves {
        name: M::INTERFACE_NAME,
        version: M::INTERFACE_VERSION,
        serve: child::serve::<M>,
    }
}

/// Serves an isolated plugin if this process was started to, and never returns then;
/// returns at once otherwise. Call it first thing in `main` of a host that isolates plugins
/// (or of the runner it names), with every interface it isolates.
///
/// In the host, it records which interfaces this executable serves: a loader isolating
/// another interface, with this executable as its runner, refuses before starting anything.
pub fn serve_if_child(interfaces: &[Serves]) {
    child::remember(interfaces);
    let said = match std::env::var_os(CHILD_ENV) {
        Some(said) => said,
        None => return,
    };
    // Not for the processes the plugin starts.
    std::env::remove_var(CHILD_ENV);
    std::process::exit(child::run(interfaces, said == CHILD_RING));
}
