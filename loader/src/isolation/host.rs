//! The host's side: the checks before anything starts, the plugin's process kept running (or
//! started again), and each call sent over its channel.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use xplug::__private::isolation::{self, Channel, Proxy};
use xplug::wire::WireError;
use xplug::{CallErrorKind, Crash, Interface};

use super::frame::{self, Hello, ReadError, Refusal};
use super::process::{self, Running};
use super::{child, Isolation};
use crate::digest::{LazyDigest, Sha256};
use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::process::lock;
use crate::stages::{self, file, open, LoadMode, Options};
use crate::sys::SealedFile;
use crate::trust::Quarantine;

/// Serves one call of the host's services: method, arguments, answer.
type ServeHost = dyn Fn(u32, &[u8], &mut Vec<u8>) -> Result<(), WireError> + Send + Sync;

/// How long a process that closed its channel has to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How deep calls of the host may nest in calls of a plugin (a host service that calls the
/// plugin, whose call calls the service again, ...).
const MAX_NESTING: usize = 32;
/// The longest backoff between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// An isolated plugin, shared by its handles: when the last goes, its process is stopped.
pub(crate) struct Isolated {
    pub(crate) info: PluginInfo,
    /// Its module's runtime (the proxy's), named after the plugin until it is dropped.
    runtime: xplug::__private::PluginRuntime,
    shared: Arc<Shared>,
    /// The module its handles share (an `M`).
    module: Box<dyn std::any::Any + Send + Sync>,
    /// The thread of an `on_unload` hook that outlasted its wait.
    pub(crate) unload_hook: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The bytes' XXH3-128, the host services' address and the isolation settings: what makes
    /// two loads one plugin.
    identity: (u128, usize, Isolation),
}

impl Isolated {
    /// The process serving the plugin now, if one runs.
    pub(crate) fn process_id(&self) -> Option<u32> {
        // Not from the state: a call in flight holds it.
        match self.shared.pid.load(Ordering::Relaxed) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Stops the plugin's process: it is not served any more.
    pub(crate) fn stop(&self) {
        self.shared.stop("it was unloaded");
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        self.shared.stop("its last handle was dropped");
        xplug::__private::forget_module(self.runtime);
    }
}

/// The isolated plugins of this process, by identity.
static ISOLATED: Mutex<Vec<Weak<Isolated>>> = Mutex::new(Vec::new());

/// What starts a plugin's process, and its state.
struct Shared {
    runner: PathBuf,
    /// The sealed snapshot, until the plugin is stopped.
    image: Mutex<Option<Arc<Image>>>,
    /// Its real path and header, for reports.
    path: PathBuf,
    info: PluginInfo,
    hello: Hello,
    /// What serves the plugin's calls of the host's services, if it has them.
    services: Option<Box<ServeHost>>,
    isolation: Isolation,
    /// Where its restart policy lists it after its last allowed crash, and its digest.
    quarantine: Option<(Quarantine, Sha256)>,
    state: Mutex<State>,
    /// The running process's socket, outside `state`: `stop` shuts it down to end a call in
    /// flight (which holds `state`) before it waits for the lock.
    interrupt: Mutex<Option<frame::Stream>>,
    /// Why the host no longer serves the plugin (unloaded, or its last handle dropped), once
    /// it does: outside `state`, so that a call in flight (which holds `state`) sees it.
    stopped: Mutex<Option<&'static str>>,
    /// The id of the running process (0: none), outside `state` for the same reason.
    pid: AtomicU32,
}

#[derive(Default)]
struct State {
    running: Option<Running>,
    /// Why the last call failed for want of a process: what later calls fail with until a
    /// restart.
    last: Option<CallErrorKind>,
    /// Restarts made, and crashes in a row since the last call answered.
    restarts: u32,
    in_a_row: u32,
    /// No restart before this.
    retry_at: Option<Instant>,
    /// Listed in the quarantine journal.
    quarantined: bool,
    /// The number of the last call sent.
    call: u32,
    /// The number of the running process (each start takes the next).
    process: u64,
}

/// Why a start failed: for a first load, a load error; for a restart, the reason.
enum StartError {
    Refused(LoadError),
    Failed { reason: String, stderr: String },
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn stop(&self, why: &'static str) {
        // Whatever fails from now on fails because of this, not a crash: nothing is counted
        // against the plugin's restarts, nothing listed in its journal.
        *lock(&self.stopped) = Some(why);
        // A call in flight holds `state`: its process's channel closed, it ends now.
        if let Some(socket) = lock(&self.interrupt).take() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        // (From a host service the plugin called, this thread holds the state already; while
        // the plugin loads, its start sees `stopped`.)
        let running = self
            .with_state(|state| {
                self.pid.store(0, Ordering::Relaxed);
                Ok(state.running.take())
            })
            .unwrap_or(None);
        // Its memory goes back: no restart will need it.
        let image = lock(&self.image).take();
        // Closing the channel ends the process's loop; it is killed if it does not exit.
        if let Some(running) = running {
            let _ = running.end(EXIT_GRACE);
        }
        // (A copy on disk goes once no start holds it either.)
        drop(image);
    }

    /// Starts the plugin's process and waits until it has loaded the plugin.
    fn start(&self) -> Result<Running, StartError> {
        let failed = |reason: String, stderr: String| StartError::Failed { reason, stderr };
        let image = lock(&self.image)
            .clone()
            .ok_or_else(|| failed("it was unloaded".to_owned(), String::new()))?;
        let until = Instant::now().checked_add(self.isolation.start_wait);
        let mut running = process::start(&self.runner, &image.sealed.path, &self.isolation, until)
            .map_err(|(e, stderr)| {
                failed(
                    format!("cannot start the runner {}: {e}", self.runner.display()),
                    stderr,
                )
            })?;
        let mut hello = self.hello.clone();
        hello.log_level = log::max_level() as usize as u8;
        running.log_level = hello.log_level;
        let sent = running
            .conn
            .send_until(until, frame::HELLO, &[], &hello.encode());
        let mut buffer = Vec::new();
        let mut answer = sent.map_err(ReadError::Io).and_then(|()| {
            running
                .conn
                .receive(until, self.isolation.max_message, &mut buffer)
        });
        // It accepted the hello and found the shared ring: the frames after this one cross it
        // (a `RING` with a body, or without a ring to switch to, breaks the rules below).
        if let Ok(frame::RING) = answer {
            if buffer.is_empty() && running.conn.use_ring() {
                answer = running
                    .conn
                    .receive(until, self.isolation.max_message, &mut buffer);
            }
        }
        // Its `on_load` may call the host's services.
        while let Ok(frame::BACK) = answer {
            let returned = match self.serve_back(std::ptr::null_mut(), &buffer) {
                Ok(returned) => returned,
                Err(_) => break,
            };
            answer = running
                .conn
                .send_until(until, frame::RETURN, &[], &returned)
                .map_err(ReadError::Io)
                .and_then(|()| {
                    running
                        .conn
                        .receive(until, self.isolation.max_message, &mut buffer)
                });
        }
        match answer {
            Ok(frame::LOADED) if buffer.is_empty() => {
                *lock(&self.interrupt) = running.conn.interrupter().ok();
                Ok(running)
            }
            Ok(frame::REFUSED) => {
                let _ = running.end(EXIT_GRACE);
                match Refusal::decode(&buffer) {
                    Ok(refusal) => Err(StartError::Refused(refused(
                        &self.path, &self.info, refusal,
                    ))),
                    Err(e) => Err(failed(
                        format!("its refusal was garbled: {e}"),
                        String::new(),
                    )),
                }
            }
            Ok(_) => {
                let stderr = running.kill();
                Err(failed(
                    "its process broke the channel's rules while loading".to_owned(),
                    stderr,
                ))
            }
            Err(ReadError::Io(e)) if timed_out(&e) => {
                let stderr = running.kill();
                Err(failed(
                    format!(
                        "its process did not load it within {:?}",
                        self.isolation.start_wait
                    ),
                    stderr,
                ))
            }
            Err(ReadError::Io(e)) if e.kind() != io::ErrorKind::InvalidData => {
                let (crash, stderr) = running.end(EXIT_GRACE);
                Err(failed(
                    format!("its process {crash} while loading it (does the runner call `serve_if_child`?)"),
                    stderr,
                ))
            }
            Err(_) => {
                let stderr = running.kill();
                Err(failed(
                    "its process broke the channel's rules while loading".to_owned(),
                    stderr,
                ))
            }
        }
    }

    /// `Unavailable`, with the reason, once the host stopped serving the plugin.
    fn not_stopped(&self) -> Result<(), CallErrorKind> {
        match *lock(&self.stopped) {
            Some(why) => Err(CallErrorKind::Unavailable {
                reason: why.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Makes sure a process serves calls: starts a new one if the restart policy allows.
    fn serving<'a>(&self, state: &'a mut State) -> Result<&'a mut Running, CallErrorKind> {
        self.not_stopped()?;
        if state.running.is_none() {
            let restart = self.isolation.restart;
            let last = state.last.clone().unwrap_or(CallErrorKind::Crashed {
                crash: Crash::Closed,
                stderr: String::new(),
            });
            if restart.limit.map_or(false, |limit| state.restarts >= limit) {
                return Err(match restart.limit {
                    Some(0) => last,
                    _ => CallErrorKind::Unavailable {
                        reason: format!(
                            "restarted {} times, the most its restart policy allows; last: {}",
                            state.restarts, last
                        ),
                    },
                });
            }
            if state.retry_at.map_or(false, |at| Instant::now() < at) {
                return Err(last);
            }
            state.restarts = state.restarts.saturating_add(1);
            match self.start() {
                Ok(running) => {
                    if let Err(stopped) = self.not_stopped() {
                        // Stopped while it started (by a host service its `on_load` called).
                        lock(&self.interrupt).take();
                        let _ = running.end(EXIT_GRACE);
                        return Err(stopped);
                    }
                    self.pid.store(running.id(), Ordering::Relaxed);
                    state.running = Some(running);
                    state.process = state.process.wrapping_add(1);
                }
                Err(e) => {
                    let reason = match e {
                        StartError::Refused(error) => error.kind().to_string(),
                        StartError::Failed { reason, .. } => reason,
                    };
                    let kind = CallErrorKind::Unavailable {
                        reason: format!("it could not be started again: {reason}"),
                    };
                    self.crashed(state, kind.clone());
                    return Err(kind);
                }
            }
        }
        state.running.as_mut().ok_or(CallErrorKind::Unavailable {
            reason: "it is not running".to_owned(),
        })
    }

    /// Records why the process is gone: later calls fail so until a restart.
    fn crashed(&self, state: &mut State, kind: CallErrorKind) {
        state.in_a_row = state.in_a_row.saturating_add(1);
        // The first crash restarts at once; crashes in a row wait, twice as long each time.
        let backoff = match state.in_a_row {
            0 | 1 => Duration::ZERO,
            n => self
                .isolation
                .restart
                .backoff
                .checked_mul(1 << (n - 2).min(16))
                .unwrap_or(MAX_BACKOFF)
                .min(MAX_BACKOFF),
        };
        state.retry_at = Some(Instant::now() + backoff);
        state.last = Some(kind);
        // Down for good: later runs of the host refuse it too, if its policy says so.
        let limit = self.isolation.restart.limit;
        if let (Some((journal, sha256)), Some(limit)) = (&self.quarantine, limit) {
            if state.restarts >= limit && !state.quarantined {
                state.quarantined = true;
                let crashes = state.restarts.saturating_add(1);
                if let Err(e) = journal.list_crashes(*sha256, &self.path, crashes) {
                    log::error!(
                        "cannot list {} in the quarantine journal {}: {e}",
                        self.path.display(),
                        journal.path().display()
                    );
                }
            }
        }
    }

    /// Ends the running process after a failed call and says how the call fails.
    fn end(&self, state: &mut State, how: End) -> CallErrorKind {
        lock(&self.interrupt).take();
        self.pid.store(0, Ordering::Relaxed);
        let running = match state.running.take() {
            Some(running) => running,
            None => {
                return state.last.clone().unwrap_or(CallErrorKind::Crashed {
                    crash: Crash::Closed,
                    stderr: String::new(),
                })
            }
        };
        if let Err(stopped) = self.not_stopped() {
            // Stopped by the host: its process ends, not as a crash.
            let _ = running.end(EXIT_GRACE);
            return stopped;
        }
        let kind = match how {
            End::Closed => {
                let (crash, stderr) = running.end(EXIT_GRACE);
                CallErrorKind::Crashed { crash, stderr }
            }
            End::TimedOut(deadline) => {
                running.kill();
                CallErrorKind::TimedOut { deadline }
            }
            End::Misbehaved(what) => {
                let stderr = running.kill();
                CallErrorKind::Crashed {
                    crash: Crash::Misbehaved { what },
                    stderr,
                }
            }
        };
        self.crashed(state, kind.clone());
        kind
    }
}

thread_local! {
    /// The isolated plugins whose calls of the host's services this thread is serving, by the
    /// address of their `Shared`: the state a call further up the stack holds locked (null
    /// while the plugin loads). A service that calls the plugin again uses it, not the lock.
    static HELD: RefCell<Vec<(usize, *mut State)>> = const { RefCell::new(Vec::new()) };
}

impl Shared {
    fn address(&self) -> usize {
        self as *const Shared as usize
    }

    /// Runs `f` on the state: locked here, or held by a call further up this thread's stack
    /// (a host service the plugin called, calling it again).
    fn with_state<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, CallErrorKind>,
    ) -> Result<R, CallErrorKind> {
        let held = HELD
            .try_with(|held| {
                let held = held.borrow();
                held.iter()
                    .rev()
                    .find(|(shared, _)| *shared == self.address())
                    .map(|(_, state)| *state)
            })
            .ok()
            .flatten();
        match held {
            Some(state) if state.is_null() => Err(CallErrorKind::Unavailable {
                reason: "it is still loading (its `on_load` called a host service that called \
                         it back)"
                    .to_owned(),
            }),
            // SAFETY: `state` is the state a call further up this thread's stack holds locked
            // (`serve_back`), which does not touch it until the service returns; this borrow
            // ends before then.
            Some(state) => f(unsafe { &mut *state }),
            None => f(&mut self.state()),
        }
    }

    /// Serves a call the plugin made of the host (a `BACK` message, `request`) while `state` is
    /// held by this thread (null while the plugin loads); returns the answer's head (the call's
    /// number) and body. `Err`: the request broke the rules.
    fn serve_back(&self, state: *mut State, request: &[u8]) -> Result<Vec<u8>, String> {
        if request.len() < 16 {
            return Err("a call of the host without its head".to_owned());
        }
        let mut object = [0; 8];
        object.copy_from_slice(&request[4..12]);
        let method = u32::from_le_bytes([request[12], request[13], request[14], request[15]]);
        // A child that answers each call of the host with another call of its own would
        // take this thread's stack: the nesting is bounded.
        if HELD.try_with(|held| held.borrow().len()).unwrap_or(0) >= MAX_NESTING {
            return Err(format!(
                "calls of the host nested over {MAX_NESTING} deep in calls of the plugin"
            ));
        }
        let mut out = request[..4].to_vec();
        let object = u64::from_le_bytes(object);
        let args = &request[16..];
        // A service, or a lent object, may call the plugin back: that call finds the state
        // this thread holds.
        let _ = HELD.try_with(|held| held.borrow_mut().push((self.address(), state)));
        let served = match &self.services {
            Some(serve) if object == isolation::HOST_SERVICES => serve(method, args, &mut out),
            None if object == isolation::HOST_SERVICES => Err(WireError::Invalid {
                what: "object number (the host offers no services)",
            }),
            _ => isolation::serve_lent(self.address(), object, method, args, &mut out),
        };
        let _ = HELD.try_with(|held| held.borrow_mut().pop());
        match served {
            Ok(()) => Ok(out),
            // The host's answer cannot cross (its service returned an object): the plugin's
            // call fails, as a contained panic does.
            Err(WireError::CannotCross { type_name }) => {
                out.truncate(4);
                let message = format!("the host's answer cannot cross: {type_name}");
                isolation::put_panicked(&message, "", &mut out);
                Ok(out)
            }
            Err(e) => Err(format!("a call of the host it cannot serve: {e}")),
        }
    }

    /// Sends a call (`tag`, `head` after its first 4 bytes, which this fills with the call's
    /// number, then `args`) to the running process and reads its answer into `reply`; returns
    /// the process's number. A process that fails the call is ended.
    fn exchange(
        &self,
        state: &mut State,
        tag: u8,
        head: &mut [u8],
        args: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<u64, CallErrorKind> {
        if args.len() > frame::MAX_CALL {
            return Err(CallErrorKind::CannotCross {
                type_name: "arguments of over 1 GiB",
            });
        }
        state.call = state.call.wrapping_add(1);
        let call = state.call;
        head[..4].copy_from_slice(&call.to_le_bytes());
        let running = match state.running.as_mut() {
            Some(running) => running,
            None => return Err(self.end(state, End::Closed)),
        };
        let deadline = self.isolation.deadline;
        let until = deadline.and_then(|deadline| Instant::now().checked_add(deadline));
        // The host's `log` level, if it changed since the process heard it.
        let level = log::max_level() as usize as u8;
        let sent = if running.log_level == level {
            Ok(())
        } else {
            running.log_level = level;
            running.conn.send_until(until, frame::LEVEL, &[], &[level])
        };
        if let Err(e) = sent.and_then(|()| running.conn.send_until(until, tag, head, args)) {
            return Err(self.end(state, End::of(&e, deadline)));
        }
        let process = state.process;
        let how = loop {
            // A host service may have stopped the plugin.
            self.not_stopped()?;
            let running = match state.running.as_mut() {
                Some(running) if state.process == process => running,
                // A call the host's service made ended or replaced the process.
                _ => {
                    return Err(state.last.clone().unwrap_or(CallErrorKind::Crashed {
                        crash: Crash::Closed,
                        stderr: String::new(),
                    }))
                }
            };
            let read = running
                .conn
                .receive(until, self.isolation.max_message, reply);
            match read {
                Ok(frame::ANSWER) if reply.len() >= 4 && reply[..4] == call.to_le_bytes() => {
                    reply.drain(..4);
                    state.in_a_row = 0;
                    return Ok(state.process);
                }
                Ok(frame::BACK) => {
                    let request = std::mem::take(reply);
                    let answer = self.serve_back(state, &request);
                    *reply = request;
                    let mut answer = match answer {
                        Ok(answer) => answer,
                        Err(what) => break End::Misbehaved(what),
                    };
                    if answer.len() > frame::MAX_CALL {
                        // More than the plugin's process reads: the call fails there instead.
                        answer.truncate(4);
                        let message = "the host's answer is over 1 GiB";
                        isolation::put_panicked(message, "", &mut answer);
                    }
                    if let Some(running) =
                        state.running.as_mut().filter(|_| state.process == process)
                    {
                        if let Err(e) = running.conn.send_until(until, frame::RETURN, &[], &answer)
                        {
                            break End::of(&e, deadline);
                        }
                    }
                }
                Ok(frame::ANSWER) => {
                    break End::Misbehaved("an answer to a call never made".to_owned())
                }
                Ok(tag) => break End::Misbehaved(format!("a message of unknown kind {tag}")),
                Err(ReadError::Io(e)) => break End::of(&e, deadline),
                Err(ReadError::TooLong { claimed, max }) => {
                    break End::Misbehaved(format!(
                        "a message of {claimed} bytes, over the bound of {max}"
                    ))
                }
                Err(ReadError::Empty) => break End::Misbehaved("an empty message".to_owned()),
            }
        };
        Err(self.end(state, how))
    }
}

/// Checks every `interval`, on a thread of its own, that the process of `shared` serves while
/// no call is made; ends when the plugin is dropped or stopped.
fn watch_liveness(shared: &Arc<Shared>, interval: Duration) {
    let weak = Arc::downgrade(shared);
    let spawned = std::thread::Builder::new()
        .name(String::from("xplug-liveness"))
        .spawn(move || loop {
            std::thread::sleep(interval);
            let shared = match weak.upgrade() {
                Some(shared) => shared,
                None => return,
            };
            if !shared.check_liveness(interval) {
                return;
            }
        });
    if let Err(e) = spawned {
        log::error!("isolated plugins: no liveness checks, no thread for them: {e}");
    }
}

impl Shared {
    /// One liveness check, unless a call runs (it holds the state): a ping answered within
    /// `wait`, or the process is ended. Whether checks go on (the plugin is not stopped).
    fn check_liveness(&self, wait: Duration) -> bool {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::WouldBlock) => return true,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };
        let state = &mut *state;
        if self.not_stopped().is_err() {
            return false;
        }
        let running = match state.running.as_mut() {
            Some(running) => running,
            None => return true,
        };
        state.call = state.call.wrapping_add(1);
        let nonce = state.call.to_le_bytes();
        let until = Instant::now().checked_add(wait);
        let mut reply = Vec::new();
        let how = match running.conn.send_until(until, frame::PING, &[], &nonce) {
            Err(e) => End::of(&e, Some(wait)),
            Ok(()) => match running.conn.receive(until, 16, &mut reply) {
                Ok(frame::PONG) if reply == nonce => return true,
                Ok(_) => End::Misbehaved("a wrong answer to a liveness check".to_owned()),
                Err(ReadError::Io(e)) => End::of(&e, Some(wait)),
                Err(_) => End::Misbehaved("a wrong answer to a liveness check".to_owned()),
            },
        };
        let kind = self.end(state, how);
        log::warn!(
            "isolated plugin {} ({}): its process failed a liveness check while idle: {kind}",
            self.info.label(),
            self.path.display()
        );
        true
    }
}

/// Why a call ended the process.
enum End {
    Closed,
    TimedOut(Duration),
    Misbehaved(String),
}

impl End {
    /// How a read or write of the channel failed, waiting for at most `deadline`.
    fn of(e: &io::Error, deadline: Option<Duration>) -> End {
        if timed_out(e) {
            End::TimedOut(deadline.unwrap_or(Duration::ZERO))
        } else if e.kind() == io::ErrorKind::InvalidData {
            // The shared ring's words say what cannot be.
            End::Misbehaved(e.to_string())
        } else {
            End::Closed
        }
    }
}

/// The channel of one isolated plugin, as its proxy uses it.
struct Served {
    shared: Arc<Shared>,
}

impl Channel for Served {
    fn call(&self, function: u32, args: &[u8], reply: &mut Vec<u8>) -> Result<u64, CallErrorKind> {
        let shared = &*self.shared;
        shared.with_state(|state| {
            shared.serving(state)?;
            let mut head = [0u8; 8];
            head[4..].copy_from_slice(&function.to_le_bytes());
            shared.exchange(state, frame::CALL, &mut head, args, reply)
        })
    }

    fn call_object(
        &self,
        process: u64,
        object: u64,
        method: u32,
        args: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<u64, CallErrorKind> {
        let shared = &*self.shared;
        shared.with_state(|state| {
            shared.not_stopped()?;
            if state.process != process {
                return Err(CallErrorKind::Unavailable {
                    reason: "the object lived in a process of the plugin that has ended (it \
                             crashed, hung or was restarted since)"
                        .to_owned(),
                });
            }
            if state.running.is_none() {
                // Its process crashed: the object's calls fail as the crash did.
                return Err(state.last.clone().unwrap_or(CallErrorKind::Crashed {
                    crash: Crash::Closed,
                    stderr: String::new(),
                }));
            }
            let mut head = [0u8; 16];
            head[4..12].copy_from_slice(&object.to_le_bytes());
            head[12..].copy_from_slice(&method.to_le_bytes());
            shared.exchange(state, frame::OBJECT, &mut head, args, reply)
        })
    }

    fn key(&self) -> usize {
        self.shared.address()
    }

    fn misbehaved(&self, process: u64, what: String) -> CallErrorKind {
        let shared = &*self.shared;
        let ended = shared.with_state(move |state| {
            Ok(if state.process == process && state.running.is_some() {
                shared.end(state, End::Misbehaved(what))
            } else {
                // That process is gone already; the one running now did nothing wrong.
                CallErrorKind::Crashed {
                    crash: Crash::Misbehaved { what },
                    stderr: String::new(),
                }
            })
        });
        ended.unwrap_or_else(|kind| kind)
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A load error the plugin's process sent: typed where the kind is one the host can rebuild.
fn refused(path: &Path, info: &PluginInfo, refusal: Refusal) -> LoadError {
    let kind = match refusal.kind.as_str() {
        "InitFailed" => ErrorKind::InitFailed {
            message: refusal.message,
        },
        "InitPanicked" => ErrorKind::InitPanicked {
            message: refusal.message,
            location: refusal.location,
        },
        _ => ErrorKind::RefusedIsolated {
            kind: refusal.kind,
            text: refusal.text,
            help: refusal.help,
            notes: refusal.notes,
        },
    };
    LoadError::new(path, kind).with_plugin(info)
}

/// Why `path` cannot be loaded isolated.
fn refuse(path: &Path, reason: String) -> LoadError {
    LoadError::new(
        path,
        ErrorKind::Isolation {
            reason,
            stderr: String::new(),
        },
    )
}

/// Loads the file at `requested` as an isolated plugin: every check that reads the file here,
/// then its process started on the sealed bytes.
pub(crate) fn load<M: Interface>(
    options: &Options,
    isolation: &Isolation,
    requested: &Path,
    services: Option<&'static M::Host>,
) -> Result<Loaded<M>, LoadError> {
    if options.mode == LoadMode::InPlace {
        return Err(refuse(
            requested,
            "an isolated plugin runs a sealed snapshot of its file: it cannot be loaded in \
             place"
                .to_owned(),
        ));
    }
    let runner = match &isolation.runner {
        Some(runner) => runner.clone(),
        None if child::serves_here(M::INTERFACE_NAME) => std::env::current_exe()
            .map_err(|e| refuse(requested, format!("cannot find this executable: {e}")))?,
        None => {
            return Err(refuse(
                requested,
                format!(
                    "this executable does not serve the `{}` interface to isolated plugins: \
                     call `xplug_loader::isolation::serve_if_child` first thing in `main`, or \
                     name a runner (`Isolation::runner`)",
                    M::INTERFACE_NAME
                ),
            ))
        }
    };
    // 1. The file, read once; trust; 2 and 3; 4. Nothing of it runs here.
    let plugin = file::open(requested, options.file)?;
    let named = plugin.named.clone();
    load_file(options, isolation, requested, runner, plugin, services).map_err(|e| named.error(e))
}

/// [`load`] once stage 1 opened the file: every other check, then its process started.
fn load_file<M: Interface>(
    options: &Options,
    isolation: &Isolation,
    requested: &Path,
    runner: PathBuf,
    plugin: file::PluginFile,
    services: Option<&'static M::Host>,
) -> Result<Loaded<M>, LoadError> {
    // As in-process: a file refused at stages 2 to 4 is refused from what they read of it,
    // then who may change it is checked, then it is read whole.
    if options.trust.is_empty() {
        let (info, _) = stages::read_header_from_file(&plugin)?;
        options.requirements.check(&plugin.path, &info)?;
    }
    file::check_permissions(&plugin, requested, options.file)?;
    let bytes = file::read(&plugin, options.file.max_size)?;
    let digest = LazyDigest::new(&bytes);
    options.trust.check(requested, &plugin.path, &digest)?;
    let (info, _) = stages::read_header(&plugin.path, bytes.as_slice())?;
    options.requirements.check(&plugin.path, &info)?;
    // Bytes the journal lists are refused as in-process; the process that runs them cannot
    // take the host down, so its load is not listed while it runs.
    if let Some(journal) = &options.quarantine {
        journal
            .check(&digest.get(), &plugin.path)
            .map_err(|e| e.with_plugin(&info))?;
    }
    let quarantine = match (isolation.restart.quarantine, &options.quarantine) {
        (false, _) => None,
        (true, Some(journal)) => Some((journal.clone(), digest.get())),
        (true, None) => {
            return Err(refuse(
                &plugin.path,
                "its restart policy lists it in the quarantine journal after its last crash \
                 (`Restart::then_quarantine`), but the loader keeps no journal \
                 (`Loader::quarantine`)"
                    .to_owned(),
            )
            .with_plugin(&info))
        }
    };
    if !options.trust.is_empty() {
        let paths = stages::search_paths(&plugin.path, bytes.as_slice())?;
        crate::trust::permissions::check_search_paths(&plugin.path, &paths, None)
            .map_err(|e| e.with_plugin(&info))?;
    }
    let identity = (
        // A bucket: a plugin found under it is compared byte for byte below.
        crate::process::library::content_hash(&bytes, crate::process::seed()),
        stages::services_address::<M>(services),
        isolation.clone(),
    );
    {
        let mut loaded = lock(&ISOLATED);
        loaded.retain(|isolated| isolated.strong_count() > 0);
        let alive: Vec<Arc<Isolated>> = loaded.iter().filter_map(Weak::upgrade).collect();
        // Compared unlocked: a bucket's images are read whole, and other loads wait for none
        // of that.
        drop(loaded);
        // A plugin down for good (stopped, restarts used up) is not reused: this load starts
        // a process of its own.
        let found = alive
            .iter()
            .find(|isolated| {
                isolated.identity == identity
                    && isolated.shared.serviceable()
                    && isolated.shared.image_holds(&bytes)
            })
            .cloned();
        // Dropped after the lock: a last handle's drop stops its process, which may wait.
        drop(alive);
        if let Some(isolated) = found {
            let module = match isolated.module.downcast_ref::<M>() {
                Some(module) => *module,
                None => M::__isolated(proxy_of(&isolated.shared)),
            };
            return Ok(Loaded {
                module,
                isolated,
                path: plugin.path,
            });
        }
    }
    if cfg!(windows) && (isolation.memory_limit.is_some() || isolation.cpu_time_limit.is_some()) {
        return Err(refuse(
            &plugin.path,
            "memory and CPU time limits of isolated plugins are not built on Windows yet"
                .to_owned(),
        )
        .with_plugin(&info));
    }
    let image = snapshot(options, &plugin.path, &bytes).map_err(|e| e.with_plugin(&info))?;
    let hello = Hello {
        protocol: frame::PROTOCOL,
        xplug_version: xplug::__private::build_info::XPLUG_VERSION.to_owned(),
        interface: M::INTERFACE_NAME.to_owned(),
        interface_version: M::INTERFACE_VERSION.to_owned(),
        version_requirement: options.requirements.versions().to_string(),
        allow_panic_abort: options.requirements.allows_panic_abort(),
        max_file_size: options.file.max_size,
        log_level: log::max_level() as u8,
        path: plugin.path.display().to_string(),
        services: services.is_some(),
        spin_micros: u64::try_from(isolation.spin.as_micros()).unwrap_or(u64::MAX),
        image: if cfg!(windows) {
            image.sealed.path.display().to_string()
        } else {
            String::new()
        },
        snapshot_dir: options
            .snapshot_dir
            .as_ref()
            .map(|dir| dir.display().to_string())
            .unwrap_or_default(),
        image_digest: if cfg!(windows) {
            digest.get().to_string()
        } else {
            String::new()
        },
    };
    let shared = Arc::new(Shared {
        runner,
        image: Mutex::new(Some(image)),
        path: plugin.path.clone(),
        info: info.clone(),
        hello,
        services: services.map(|host| -> Box<ServeHost> {
            Box::new(move |method: u32, args: &[u8], out: &mut Vec<u8>| {
                M::__serve_host(host, method, args, out)
            })
        }),
        isolation: isolation.clone(),
        quarantine,
        state: Mutex::new(State::default()),
        interrupt: Mutex::new(None),
        stopped: Mutex::new(None),
        pid: AtomicU32::new(0),
    });
    let running = shared.start().map_err(|e| match e {
        StartError::Refused(error) => error,
        StartError::Failed { reason, stderr } => {
            LoadError::new(&plugin.path, ErrorKind::Isolation { reason, stderr }).with_plugin(&info)
        }
    })?;
    {
        let mut state = shared.state();
        shared.pid.store(running.id(), Ordering::Relaxed);
        state.running = Some(running);
        state.process = 1;
    }
    let module = M::__isolated(proxy_of(&shared));
    // The errors of its calls name it.
    xplug::__private::name_module(module.__runtime(), &info.label());
    let isolated = Arc::new(Isolated {
        runtime: module.__runtime(),
        info,
        shared,
        module: Box::new(module),
        unload_hook: Mutex::new(None),
        identity,
    });
    lock(&ISOLATED).push(Arc::downgrade(&isolated));
    if let Some(interval) = isolation.liveness {
        watch_liveness(&isolated.shared, interval);
    }
    Ok(Loaded {
        module,
        isolated,
        path: plugin.path,
    })
}

/// The checked bytes its processes start from: a sealed memfd, or on Windows a copy on disk,
/// which the host holds open so that no one may change or delete it (its leftover sweeps
/// included), and removes once the last holder (the plugin, or a start in flight) lets go.
struct Image {
    sealed: Arc<SealedFile>,
    /// Dropped after `sealed` (fields drop in order): a copy is removed once closed.
    _copy: Removed,
}

/// Removes the file at its path, if any, when dropped.
struct Removed(Option<PathBuf>);

impl Drop for Removed {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The checked `bytes`, where the plugin's processes will load them from: a sealed memfd they
/// inherit (Linux); on Windows, a copy in the private snapshot directory, which a process
/// checks against the bytes' SHA-256 before it loads a copy of its own.
fn snapshot(options: &Options, path: &Path, bytes: &[u8]) -> Result<Arc<Image>, LoadError> {
    let refused = |reason: &str| {
        refuse(
            path,
            format!("isolated plugins need {reason} (Linux, with executable memfds, or Windows)"),
        )
    };
    if cfg!(windows) {
        // Held from its creation: no one may change or delete it (on Windows, the handle
        // shares reading only), not even in the moment before it is held.
        let (copy, file) = crate::sys::private_dir::write_held(
            options.snapshot_dir.as_deref(),
            bytes,
            &crate::process::library::label(bytes),
            crate::process::next_copy_number,
            None,
        )
        .map_err(|e| refused(&format!("a snapshot copy: {e}")))?;
        let removed = Removed(Some(copy.clone()));
        return Ok(Arc::new(Image {
            sealed: Arc::new(SealedFile { file, path: copy }),
            _copy: removed,
        }));
    }
    match open::seal(bytes) {
        Ok(Some(sealed)) => Ok(Arc::new(Image {
            sealed,
            _copy: Removed(None),
        })),
        Ok(None) => Err(refused("a sealed memfd the child can inherit")),
        Err(kind) => Err(LoadError::new(path, kind)),
    }
}

/// An isolated plugin loaded: its module, what its handles share, its real path.
pub(crate) struct Loaded<M> {
    pub(crate) module: M,
    pub(crate) isolated: Arc<Isolated>,
    pub(crate) path: PathBuf,
}

impl Shared {
    /// Whether a call could be served: not stopped, and running or allowed to restart.
    fn serviceable(&self) -> bool {
        let state = match self.state.try_lock() {
            Ok(state) => state,
            // A call runs (perhaps on this thread, in a host service that loads again).
            Err(std::sync::TryLockError::WouldBlock) => return true,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };
        self.not_stopped().is_ok()
            && (state.running.is_some()
                || self
                    .isolation
                    .restart
                    .limit
                    .map_or(true, |limit| state.restarts < limit))
    }

    /// Whether the snapshot holds exactly `bytes`.
    fn image_holds(&self, bytes: &[u8]) -> bool {
        lock(&self.image).as_ref().map_or(false, |image| {
            crate::sys::sealed_holds(&image.sealed, bytes)
        })
    }
}

/// A new proxy of a plugin's process, kept for the life of the process: the module that points
/// to it may be copied anywhere. Made once per plugin (its handles share its module).
fn proxy_of(shared: &Arc<Shared>) -> &'static Proxy {
    Box::leak(Box::new(Proxy::new(Box::new(Served {
        shared: Arc::clone(shared),
    }))))
}

/// Unloads `isolated` if `handles` are all its handles: out of the registry (no load can find
/// it meanwhile), then its process stopped. `false` if another handle exists.
pub(crate) fn retire(isolated: &Arc<Isolated>, handles: usize) -> bool {
    let mut loaded = lock(&ISOLATED);
    if Arc::strong_count(isolated) > handles {
        return false;
    }
    loaded.retain(|entry| !std::ptr::eq(entry.as_ptr(), Arc::as_ptr(isolated)));
    drop(loaded);
    isolated.stop();
    true
}
