//! The `tracing` bridge: a plugin's events and spans reach the host's subscriber, with their
//! fields (feature `tracing`, on both sides).
//!
//! A plugin has its own copy of `tracing-core`, whose dispatcher is unset: its events would
//! vanish. At load, a plugin built with the feature installs in its copy a subscriber that
//! forwards every event and span (its metadata, its fields as text, its parent) through the
//! host's link; the host (its `xplug` built with the feature) dispatches them to its own
//! subscriber. The plugin's maximum level is the host's at load, so a disabled event costs in
//! the plugin what it costs in the host: one comparison.
//!
//! The link's entries are always there (the ABI does not depend on features); a host built
//! without the feature answers that it has no bridge, and the plugin keeps its dispatcher
//! unset.
//!
//! Values recorded into a span after its creation (`Span::record`) and `follows_from` links
//! cross too, and `Span::current()` in a plugin names the host's current span when it is one
//! of the plugin's (otherwise none). At most 32 fields of an event, a span or a record cross.

use abi_stable::std_types::RSlice;

use crate::abi::{TraceField, TraceMeta, TraceParent};

/// What the host's `trace_max_level` answers when it has no bridge.
pub(crate) const NO_BRIDGE: u8 = u8::MAX;

/// The most fields of one event or span that cross.
#[cfg(feature = "tracing")]
const MAX_FIELDS: usize = 32;

/// The host's entries when its `xplug` has no bridge: nothing is enabled.
#[cfg(not(feature = "tracing"))]
pub(crate) mod host {
    use super::*;

    pub(crate) extern "C" fn max_level() -> u8 {
        NO_BRIDGE
    }
    pub(crate) extern "C" fn enabled(_: &TraceMeta<'_>) -> bool {
        false
    }
    pub(crate) extern "C" fn event(
        _: &TraceMeta<'_>,
        _: RSlice<'_, TraceField<'_>>,
        _: TraceParent,
    ) {
    }
    pub(crate) extern "C" fn new_span(
        _: &TraceMeta<'_>,
        _: RSlice<'_, TraceField<'_>>,
        _: TraceParent,
    ) -> u64 {
        0
    }
    pub(crate) extern "C" fn enter(_: u64) {}
    pub(crate) extern "C" fn exit(_: u64) {}
    pub(crate) extern "C" fn clone_span(span: u64) -> u64 {
        span
    }
    pub(crate) extern "C" fn try_close(_: u64) -> bool {
        false
    }
    pub(crate) extern "C" fn record(_: u64, _: &TraceMeta<'_>, _: RSlice<'_, TraceField<'_>>) {}
    pub(crate) extern "C" fn follows_from(_: u64, _: u64) {}
    pub(crate) extern "C" fn current() -> u64 {
        0
    }
}

/// The host's entries: each dispatches to the host's current subscriber, a panic in it
/// contained (the call then does nothing).
#[cfg(feature = "tracing")]
pub(crate) mod host {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::{Mutex, PoisonError};

    use tracing_core::callsite::{Callsite, Identifier};
    use tracing_core::field::{Field, FieldSet, Value};
    use tracing_core::metadata::Kind;
    use tracing_core::span::{Attributes, Id, Record};
    use tracing_core::{dispatcher, Event, Interest, Level, LevelFilter, Metadata};

    use super::*;
    use crate::unwind::contained;

    /// A plugin's callsite, as the host's subscriber sees it: made once per distinct
    /// metadata and kept for the life of the process (a subscriber may keep `&'static`
    /// references to it).
    struct HostCallsite {
        meta: AtomicPtr<Metadata<'static>>,
    }

    impl Callsite for HostCallsite {
        fn set_interest(&self, _: Interest) {}

        fn metadata(&self) -> &Metadata<'_> {
            // SAFETY: set (to a leaked, never freed `Metadata`) before the callsite is
            // registered or handed out.
            unsafe { &*self.meta.load(Ordering::Acquire) }
        }
    }

    /// The key of a callsite: everything its metadata holds.
    type Key = (String, String, u8, u8, u32, String, String, Vec<String>);

    static CALLSITES: Mutex<Option<HashMap<Key, &'static Metadata<'static>>>> = Mutex::new(None);

    fn leak(text: &str) -> &'static str {
        Box::leak(text.to_owned().into_boxed_str())
    }

    fn level_of(level: u8) -> Option<Level> {
        Some(match level {
            1 => Level::ERROR,
            2 => Level::WARN,
            3 => Level::INFO,
            4 => Level::DEBUG,
            5 => Level::TRACE,
            _ => return None,
        })
    }

    /// The host's metadata for `meta`, made (and registered) at its first sight.
    fn metadata(meta: &TraceMeta<'_>) -> Option<&'static Metadata<'static>> {
        let level = level_of(meta.level)?;
        let key: Key = (
            meta.name.as_str().to_owned(),
            meta.target.as_str().to_owned(),
            meta.level,
            meta.kind,
            meta.line,
            meta.module_path.as_str().to_owned(),
            meta.file.as_str().to_owned(),
            meta.fields
                .iter()
                .take(MAX_FIELDS)
                .map(|f| f.as_str().to_owned())
                .collect(),
        );
        let mut guard = CALLSITES.lock().unwrap_or_else(PoisonError::into_inner);
        let callsites = guard.get_or_insert_with(HashMap::new);
        if let Some(found) = callsites.get(&key) {
            return Some(found);
        }
        let callsite: &'static HostCallsite = Box::leak(Box::new(HostCallsite {
            meta: AtomicPtr::new(std::ptr::null_mut()),
        }));
        let names: &'static [&'static str] = Box::leak(
            key.7
                .iter()
                .map(|n| leak(n))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let text = |s: &str| if s.is_empty() { None } else { Some(leak(s)) };
        let made: &'static Metadata<'static> = Box::leak(Box::new(Metadata::new(
            leak(&key.0),
            leak(&key.1),
            level,
            text(&key.6),
            if key.4 == 0 { None } else { Some(key.4) },
            text(&key.5),
            FieldSet::new(names, Identifier(callsite)),
            if meta.kind == 1 {
                Kind::SPAN
            } else {
                Kind::EVENT
            },
        )));
        callsite.meta.store(
            made as *const Metadata<'static> as *mut _,
            Ordering::Release,
        );
        callsites.insert(key, made);
        // Registered unlocked: registering calls every subscriber, whose code may trace (and
        // come back here) or take long.
        drop(guard);
        tracing_core::callsite::register(callsite);
        Some(made)
    }

    /// Runs `f` with the value set of `fields` for `meta` (at most [`MAX_FIELDS`]; fields
    /// the callsite does not name are dropped).
    fn with_values<R>(
        meta: &'static Metadata<'static>,
        fields: RSlice<'_, TraceField<'_>>,
        f: impl FnOnce(&tracing_core::field::ValueSet<'_>) -> R,
    ) -> R {
        let set = meta.fields();
        let values: Vec<(Field, &str)> = fields
            .iter()
            .take(MAX_FIELDS)
            .filter_map(|field| Some((set.field(field.name.as_str())?, field.value.as_str())))
            .collect();
        let shown: Vec<tracing_core::field::DisplayValue<&str>> = values
            .iter()
            .map(|(_, value)| tracing_core::field::display(*value))
            .collect();
        match set.iter().next() {
            None => {
                let none: [(&Field, Option<&dyn Value>); 0] = [];
                f(&set.value_set(&none))
            }
            Some(first) => {
                // A fixed array (what `value_set` takes), the fields past the values unset.
                let mut pairs: [(&Field, Option<&dyn Value>); MAX_FIELDS] =
                    [(&first, None); MAX_FIELDS];
                for (pair, ((field, _), value)) in pairs.iter_mut().zip(values.iter().zip(&shown)) {
                    *pair = (field, Some(value as &dyn Value));
                }
                f(&set.value_set(&pairs))
            }
        }
    }

    /// A span id the plugin names (0 names none).
    fn span(id: u64) -> Option<Id> {
        if id == 0 {
            None
        } else {
            Some(Id::from_u64(id))
        }
    }

    pub(crate) extern "C" fn max_level() -> u8 {
        contained(
            || match LevelFilter::current().into_level() {
                None => 0,
                Some(Level::ERROR) => 1,
                Some(Level::WARN) => 2,
                Some(Level::INFO) => 3,
                Some(Level::DEBUG) => 4,
                Some(_) => 5,
            },
            0,
        )
    }

    pub(crate) extern "C" fn enabled(meta: &TraceMeta<'_>) -> bool {
        contained(
            || match metadata(meta) {
                Some(meta) => dispatcher::get_default(|d| d.enabled(meta)),
                None => false,
            },
            false,
        )
    }

    /// Runs `f` with the host's metadata for `meta` and the values of `fields`, under a guard
    /// (a panic in the host's subscriber stops here); `otherwise` without such metadata.
    fn dispatch<R: Copy>(
        meta: &TraceMeta<'_>,
        fields: RSlice<'_, TraceField<'_>>,
        otherwise: R,
        f: impl FnOnce(&'static Metadata<'static>, &tracing_core::field::ValueSet<'_>) -> R,
    ) -> R {
        contained(
            || match metadata(meta) {
                Some(meta) => with_values(meta, fields, |values| f(meta, values)),
                None => otherwise,
            },
            otherwise,
        )
    }

    pub(crate) extern "C" fn event(
        meta: &TraceMeta<'_>,
        fields: RSlice<'_, TraceField<'_>>,
        parent: TraceParent,
    ) {
        dispatch(meta, fields, (), |meta, values| {
            let event = match parent.mode {
                TraceParent::ROOT => Event::new_child_of(None, meta, values),
                TraceParent::EXPLICIT => Event::new_child_of(span(parent.id), meta, values),
                _ => Event::new(meta, values),
            };
            dispatcher::get_default(|d| d.event(&event));
        })
    }

    pub(crate) extern "C" fn new_span(
        meta: &TraceMeta<'_>,
        fields: RSlice<'_, TraceField<'_>>,
        parent: TraceParent,
    ) -> u64 {
        dispatch(meta, fields, 0, |meta, values| {
            let attributes = match (parent.mode, span(parent.id)) {
                (TraceParent::ROOT, _) => Attributes::new_root(meta, values),
                (TraceParent::EXPLICIT, Some(id)) => Attributes::child_of(id, meta, values),
                _ => Attributes::new(meta, values),
            };
            dispatcher::get_default(|d| d.new_span(&attributes)).into_u64()
        })
    }

    pub(crate) extern "C" fn enter(id: u64) {
        if let Some(id) = span(id) {
            contained(|| dispatcher::get_default(|d| d.enter(&id)), ())
        }
    }

    pub(crate) extern "C" fn exit(id: u64) {
        if let Some(id) = span(id) {
            contained(|| dispatcher::get_default(|d| d.exit(&id)), ())
        }
    }

    pub(crate) extern "C" fn clone_span(raw: u64) -> u64 {
        match span(raw) {
            Some(id) => contained(
                || dispatcher::get_default(|d| d.clone_span(&id)).into_u64(),
                raw,
            ),
            None => 0,
        }
    }

    pub(crate) extern "C" fn try_close(id: u64) -> bool {
        match span(id) {
            Some(id) => contained(
                || dispatcher::get_default(|d| d.try_close(id.clone())),
                false,
            ),
            None => false,
        }
    }

    pub(crate) extern "C" fn record(
        id: u64,
        meta: &TraceMeta<'_>,
        fields: RSlice<'_, TraceField<'_>>,
    ) {
        let id = match span(id) {
            Some(id) => id,
            None => return,
        };
        // The span's own callsite: the same metadata its `new_span` made.
        dispatch(meta, fields, (), |_, values| {
            let record = Record::new(values);
            dispatcher::get_default(|d| d.record(&id, &record));
        })
    }

    pub(crate) extern "C" fn current() -> u64 {
        contained(
            || dispatcher::get_default(|d| d.current_span().id().map_or(0, Id::into_u64)),
            0,
        )
    }

    pub(crate) extern "C" fn follows_from(id: u64, follows: u64) {
        if let (Some(id), Some(follows)) = (span(id), span(follows)) {
            contained(
                || dispatcher::get_default(|d| d.record_follows_from(&id, &follows)),
                (),
            )
        }
    }
}

/// The plugin's side: the subscriber installed in the plugin's copy of `tracing-core`.
#[cfg(feature = "tracing")]
pub(crate) mod plugin {
    use std::collections::HashMap;
    use std::fmt::{self, Write as _};
    use std::sync::{Mutex, PoisonError};

    use abi_stable::std_types::RStr;

    use tracing_core::callsite::Identifier;
    use tracing_core::field::{Field, Visit};
    use tracing_core::span::{Attributes, Current, Id, Record};
    use tracing_core::subscriber::{Interest, Subscriber};
    use tracing_core::{dispatcher, Event, Level, LevelFilter, Metadata};

    use super::*;
    use crate::host_link::HostLinkRef;

    /// The id of a span the host did not make.
    const NO_SPAN: u64 = u64::MAX;

    /// The host's id of `span`, if the host made it.
    fn host_id(span: &Id) -> Option<u64> {
        Some(span.into_u64()).filter(|&id| id != NO_SPAN)
    }

    /// How an event or span names its parent.
    fn parent_of(root: bool, parent: Option<&Id>) -> TraceParent {
        let (mode, id) = match (root, parent.and_then(host_id)) {
            (true, _) => (TraceParent::ROOT, 0),
            (false, Some(id)) => (TraceParent::EXPLICIT, id),
            // Contextual, or a parent the host did not make.
            (false, None) => (TraceParent::CONTEXTUAL, 0),
        };
        TraceParent { mode, id }
    }

    /// Forwards to the host through its link.
    struct Bridge {
        link: HostLinkRef,
        max_level: LevelFilter,
    }

    fn level_number(level: &Level) -> u8 {
        match *level {
            Level::ERROR => 1,
            Level::WARN => 2,
            Level::INFO => 3,
            Level::DEBUG => 4,
            _ => 5,
        }
    }

    /// Runs `f` with `meta` as it crosses.
    fn with_meta<R>(meta: &Metadata<'_>, f: impl FnOnce(&TraceMeta<'_>) -> R) -> R {
        let names: Vec<RStr<'_>> = meta
            .fields()
            .iter()
            .take(MAX_FIELDS)
            .map(|f| RStr::from(f.name()))
            .collect();
        f(&TraceMeta {
            name: meta.name().into(),
            target: meta.target().into(),
            level: level_number(meta.level()),
            kind: if meta.is_span() { 1 } else { 0 },
            line: meta.line().unwrap_or(0),
            module_path: meta.module_path().unwrap_or("").into(),
            file: meta.file().unwrap_or("").into(),
            fields: RSlice::from_slice(&names),
        })
    }

    /// A record's fields, as text, and the callsite they belong to.
    #[derive(Default)]
    struct Fields(Vec<(&'static str, String)>, Option<Identifier>);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            if self.0.len() < MAX_FIELDS {
                self.0.push((field.name(), value.to_owned()));
                self.1.get_or_insert_with(|| field.callsite());
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if self.0.len() < MAX_FIELDS {
                let mut text = String::new();
                let _ = write!(text, "{:?}", value);
                self.0.push((field.name(), text));
                self.1.get_or_insert_with(|| field.callsite());
            }
        }
    }

    /// The metadata of this plugin's span callsites, by callsite: a record names its fields,
    /// whose callsite is the span's, but not the span's metadata, which the host needs to find
    /// its own. Bounded by the plugin's callsites; filled as they register.
    static SPAN_CALLSITES: Mutex<Option<HashMap<Identifier, &'static Metadata<'static>>>> =
        Mutex::new(None);

    /// The metadata of the spans this plugin made that are open, by the host's id: what
    /// `Span::current()` needs besides the id the host names. At most `MAX_OPEN` (a span whose
    /// last handle the host closed, not the plugin, is never removed: the oldest such go first).
    static OPEN_SPANS: Mutex<Option<HashMap<u64, &'static Metadata<'static>>>> = Mutex::new(None);

    /// The most spans `OPEN_SPANS` holds.
    const MAX_OPEN: usize = 4096;

    fn opened(id: u64, meta: &'static Metadata<'static>) {
        let mut guard = OPEN_SPANS.lock().unwrap_or_else(PoisonError::into_inner);
        let open = guard.get_or_insert_with(HashMap::new);
        if open.len() >= MAX_OPEN && !open.contains_key(&id) {
            // Any one: the map is only a cache of what `current_span` can name.
            if let Some(&evicted) = open.keys().next() {
                open.remove(&evicted);
            }
        }
        open.insert(id, meta);
    }

    fn closed(id: u64) {
        let mut guard = OPEN_SPANS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = guard.as_mut() {
            open.remove(&id);
        }
    }

    fn open_span(id: u64) -> Option<&'static Metadata<'static>> {
        let guard = OPEN_SPANS.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref()?.get(&id).copied()
    }

    fn span_callsite(callsite: &Identifier) -> Option<&'static Metadata<'static>> {
        let guard = SPAN_CALLSITES
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.as_ref()?.get(callsite).copied()
    }

    impl Fields {
        fn with<R>(&self, f: impl FnOnce(RSlice<'_, TraceField<'_>>) -> R) -> R {
            let fields: Vec<TraceField<'_>> = self
                .0
                .iter()
                .map(|(name, value)| TraceField {
                    name: (*name).into(),
                    value: value.as_str().into(),
                })
                .collect();
            f(RSlice::from_slice(&fields))
        }
    }

    impl Subscriber for Bridge {
        fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
            if meta.is_span() {
                SPAN_CALLSITES
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(HashMap::new)
                    .insert(meta.callsite(), meta);
            }
            // Asked at each use: the host's subscriber decides, and may change its mind.
            Interest::sometimes()
        }

        fn max_level_hint(&self) -> Option<LevelFilter> {
            Some(self.max_level)
        }

        fn enabled(&self, meta: &Metadata<'_>) -> bool {
            match self.link.trace_enabled() {
                Some(enabled) => with_meta(meta, |meta| enabled(meta)),
                None => false,
            }
        }

        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut fields = Fields::default();
            span.record(&mut fields);
            let parent = parent_of(span.is_root(), span.parent());
            let id = match self.link.trace_new_span() {
                Some(new_span) => with_meta(span.metadata(), |meta| {
                    fields.with(|f| new_span(meta, f, parent))
                }),
                None => 0,
            };
            // An id is never 0: a host that made no span gets one that names none (and is
            // never sent back).
            if id == 0 {
                return Id::from_u64(NO_SPAN);
            }
            opened(id, span.metadata());
            Id::from_u64(id)
        }

        fn record(&self, span: &Id, values: &Record<'_>) {
            let (send, id) = match (self.link.trace_record(), host_id(span)) {
                (Some(send), Some(id)) => (send, id),
                _ => return,
            };
            let mut fields = Fields::default();
            values.record(&mut fields);
            let meta = match fields.1.as_ref().and_then(span_callsite) {
                Some(meta) => meta,
                None => return,
            };
            with_meta(meta, |meta| fields.with(|f| send(id, meta, f)))
        }

        fn record_follows_from(&self, span: &Id, follows: &Id) {
            if let (Some(send), Some(id), Some(follows)) = (
                self.link.trace_follows_from(),
                host_id(span),
                host_id(follows),
            ) {
                send(id, follows)
            }
        }

        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let parent = parent_of(event.is_root(), event.parent());
            if let Some(send) = self.link.trace_event() {
                with_meta(event.metadata(), |meta| {
                    fields.with(|f| send(meta, f, parent))
                })
            }
        }

        fn enter(&self, span: &Id) {
            if let (Some(enter), Some(id)) = (self.link.trace_enter(), host_id(span)) {
                enter(id)
            }
        }

        fn exit(&self, span: &Id) {
            if let (Some(exit), Some(id)) = (self.link.trace_exit(), host_id(span)) {
                exit(id)
            }
        }

        fn clone_span(&self, span: &Id) -> Id {
            match (self.link.trace_clone_span(), host_id(span)) {
                (Some(clone), Some(id)) => match clone(id) {
                    0 => span.clone(),
                    id => Id::from_u64(id),
                },
                _ => span.clone(),
            }
        }

        fn try_close(&self, span: Id) -> bool {
            match (self.link.trace_close(), host_id(&span)) {
                (Some(close), Some(id)) => {
                    let closed_now = close(id);
                    if closed_now {
                        closed(id);
                    }
                    closed_now
                }
                _ => false,
            }
        }

        fn current_span(&self) -> Current {
            // The host's current span on this thread, if it is one of this plugin's.
            let id = match self.link.trace_current() {
                Some(current) => current(),
                None => 0,
            };
            match open_span(id) {
                Some(meta) if id != 0 => Current::new(Id::from_u64(id), meta),
                _ => Current::none(),
            }
        }
    }

    /// Installs the bridge in this plugin's copy of `tracing-core`, if its host has one and
    /// the plugin set no dispatcher of its own.
    pub(crate) fn connect(link: HostLinkRef) {
        let max_level = match link.trace_max_level() {
            Some(max_level) => max_level(),
            None => return,
        };
        let max_level = match max_level {
            NO_BRIDGE => return,
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        };
        // A dispatcher the plugin's static constructors set stays (this then fails). A panic
        // here would abort the load shim: contained.
        crate::unwind::contained(
            || {
                let _ = dispatcher::set_global_default(dispatcher::Dispatch::new(Bridge {
                    link,
                    max_level,
                }));
            },
            (),
        );
    }
}
