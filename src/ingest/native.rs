//! Reader for native snapshots (JSON Lines, optionally gzip-compressed).
//!
//! Lines are parsed in parallel: the text is read in pieces cut at line ends, each piece
//! parsed by whichever thread is free, and the records handed on in line order, so the
//! outcome is the same for any thread count.

use super::line::Line;
use super::record::*;
use super::Snapshot;
use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::path::Path;

/// What takes records in line order from [`parse_file`] and [`parse_from`]: any
/// `FnMut(&mut Record, K, Origin)`, or a taker that also looks ahead.
pub trait Sink<K> {
    /// Takes one record, with what `prepare` made of it. The record is lent: the taker
    /// moves out what it keeps (`std::mem::take` on a field), and what it leaves is freed
    /// by the thread that parsed it, when that thread fills the record's list again. The
    /// one thread that takes records in line order then neither copies a record (300
    /// bytes) out of its list nor frees strings another thread allocated.
    fn take(&mut self, rec: &mut Record<'_>, prepared: K, origin: Origin);

    /// Told of a record [`AHEAD`] places before it is taken, so that a taker bound by
    /// memory can start loading what it will need for it.
    fn ahead(&self, _prepared: &K) {}

    /// Told of a record again half as many places before it is taken: what was loaded for
    /// it then can lead to what to load next.
    fn near(&self, _prepared: &K) {}
}

impl<K, F: FnMut(&mut Record<'_>, K, Origin)> Sink<K> for F {
    fn take(&mut self, rec: &mut Record<'_>, prepared: K, origin: Origin) {
        self(rec, prepared, origin)
    }
}

/// How many records before it a taker is told of one ([`Sink::ahead`]): far enough ahead
/// for memory to answer, near enough that what it loads is still cached when used.
pub const AHEAD: usize = 8;

/// How strictly to treat malformed lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Turn malformed lines into warnings (the line is skipped, and counted).
    pub keep_going: bool,
}

/// At most this many malformed-line errors are shown before the run stops.
const MAX_ERRORS_SHOWN: usize = 10;

/// Reads a native snapshot file.
pub fn read_file(path: &Path, opts: ReadOptions) -> Result<Snapshot> {
    whole(path.display().to_string(), |each| {
        parse_file(path, opts, false, |_| (), each).map(|(read, _)| read)
    })
}

/// Parses a snapshot file as it is read (gunzipped when the name ends in `.gz`) and hands
/// each record to `each`, as [`parse_from`] does, with what `prepare` made of it on the
/// thread that parsed it. Also gives the file's SHA-256 (when `hash` is set; empty
/// otherwise) and size, hashed on the way, for lineage.
pub fn parse_file<K: Send + Copy>(
    path: &Path,
    opts: ReadOptions,
    hash: bool,
    prepare: impl Fn(&Record) -> K + Sync,
    each: impl Sink<K>,
) -> Result<(Read, (String, u64))> {
    let read_span = tracing::info_span!("read");
    let file = std::fs::File::open(path).map_err(crate::error::read_error(path))?;
    let size = file.metadata().map_or(0, |m| m.len());
    let _parse = tracing::info_span!("parse", bytes = size).entered();
    let name = path.display().to_string();
    let mut raw = crate::lineage::Hashing::new(file, hash);
    let read = if name.ends_with(".gz") {
        let text = flate2::read::MultiGzDecoder::new(&mut raw);
        parse_from(text, size * 8, &name, opts, prepare, each, read_span)
    } else {
        parse_from(&mut raw, size, &name, opts, prepare, each, read_span)
    }?;
    Ok((read, raw.finish()))
}

/// Parses snapshot text; `file` names it in diagnostics.
pub fn parse(bytes: &[u8], file: &str, opts: ReadOptions) -> Result<Snapshot> {
    whole(file.to_string(), |each| {
        let size = bytes.len() as u64;
        parse_from(bytes, size, file, opts, |_| (), each, tracing::Span::none())
    })
}

/// A whole snapshot, from a parse that hands its records over one at a time.
fn whole(
    file: String,
    parse: impl FnOnce(&mut dyn FnMut(&mut Record<'_>, (), Origin)) -> Result<Read>,
) -> Result<Snapshot> {
    let mut records = Vec::new();
    let mut origins = Vec::new();
    let read = parse(&mut |r, (), o| {
        records.push(r.take().into_owned());
        origins.push(o);
    })?;
    Ok(Snapshot {
        meta: read.meta,
        records,
        origins,
        files: vec![file],
        warnings: read.warnings,
        unknown_types: read.unknown_types,
    })
}

/// What a snapshot says besides its records.
#[derive(Debug, Default)]
pub struct Read {
    pub meta: Meta,
    /// Problems that did not stop the read (unknown types, skipped lines).
    pub warnings: Vec<Diagnostic>,
    pub unknown_types: usize,
}

/// Bytes per parsed piece, about. A piece's text, its parsed items and their strings (about
/// three times the piece in all) should stay in a core's own cache until the records are
/// taken, on one thread just after the piece is parsed: at 2 MB they did not, and a
/// one-thread parse phase at a million resources took 3.7-5.2 s against 2.8-2.9 s now.
/// Handing a piece over still costs nothing beside parsing it (about 380 lines).
const PIECE_BYTES: usize = 1 << 17;

/// Parses snapshot text as it is read from `reader` and hands each record to `each`, in
/// line order, while later lines are still being read and parsed on the other threads: the
/// caller can build from the records as they come, and neither the file nor its records
/// are ever all in memory. `size` (the reader's length, if known) is for progress only;
/// `read_span` is closed once the last byte has been read. Any error is returned once the
/// whole text has been read, so every malformed line is reported, not only the first.
/// `prepare` runs on each record on the thread that parsed it; `each` gets what it gave.
pub fn parse_from<K: Send + Copy>(
    reader: impl std::io::Read + Send,
    size: u64,
    file: &str,
    opts: ReadOptions,
    prepare: impl Fn(&Record) -> K + Sync,
    mut each: impl Sink<K>,
    read_span: tracing::Span,
) -> Result<Read> {
    let threads = rayon::current_num_threads();
    let pieces = std::sync::Mutex::new(Pieces {
        reader,
        carry: Vec::new(),
        next: 0,
        end: false,
        failed: None,
        span: Some(read_span),
    });
    // Chunks come back once taken, to be filled again: fresh ones each time would be
    // faulted in afresh (a fifth of a scan's page faults at a million resources). Each
    // thread fills again only the chunks it filled before: the strings its records own
    // are then freed by the thread that allocated them, which the allocator does at a
    // fraction of the cost of a free from another thread (that one is queued, and
    // collected by the owner when it next allocates).
    let spare: Vec<_> = (0..threads.max(1))
        .map(|_| std::sync::Mutex::new(Vec::<Chunk<K>>::new()))
        .collect();
    // The next piece read into one of `worker`'s chunks and parsed, with its number, or
    // `None` at the end (or after a read error).
    let claim = |worker: usize| {
        let mut chunk = spare[worker]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| Chunk::new(worker));
        let i = pieces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_piece(chunk.text_mut())?;
        chunk.parse(file, &prepare);
        Some((i, chunk))
    };
    let mut taker = Taker::new(file, opts);
    let mut take = |mut chunk: Chunk<K>| {
        taker.take(&mut chunk, &mut each);
        spare[chunk.worker]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(chunk);
        tracing::trace!(target: crate::phases::PROGRESS, done = taker.bytes as u64, of = size);
    };
    if threads <= 1 {
        while let Some((_, chunk)) = claim(0) {
            take(chunk);
        }
    } else {
        // Threads beside this one read and parse the next piece in turn; this thread takes
        // them in line order, and reads and parses one itself whenever the next is not
        // ready.
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Chunk<K>)>(threads * 2);
            for worker in 1..threads {
                let tx = tx.clone();
                let claim = &claim;
                scope.spawn(move || {
                    while let Some(parsed) = claim(worker) {
                        if tx.send(parsed).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut ready = std::collections::BTreeMap::new();
            let mut want = 0;
            loop {
                if let Some(out) = ready.remove(&want) {
                    take(out);
                    want += 1;
                    continue;
                }
                if let Ok((i, out)) = rx.try_recv() {
                    ready.insert(i, out);
                } else if let Some((i, out)) = claim(0) {
                    ready.insert(i, out);
                } else if let Ok((i, out)) = rx.recv() {
                    ready.insert(i, out);
                } else {
                    // Every piece has been read and every other thread is done.
                    break;
                }
            }
        });
    }
    let failed = pieces
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .failed;
    if let Some(source) = failed {
        return Err(Error::Read {
            path: file.into(),
            source,
        });
    }
    taker.finish()
}

/// Cuts what a reader gives into pieces that end just after a newline (or at the end).
struct Pieces<R> {
    reader: R,
    /// The start of a line that the previous piece cut off.
    carry: Vec<u8>,
    next: usize,
    end: bool,
    failed: Option<std::io::Error>,
    span: Option<tracing::Span>,
}

impl<R: std::io::Read> Pieces<R> {
    /// Reads the next piece into `buf`, and gives its number.
    fn next_piece(&mut self, buf: &mut Vec<u8>) -> Option<usize> {
        if self.failed.is_some() || (self.end && self.carry.is_empty()) {
            return None;
        }
        // Read into bytes the buffer already holds: a buffer comes back as long as the
        // piece it held, so reading into it never zeroes memory first, as growing a
        // vector to read into does (a twentieth of the parsing thread's instructions).
        let mut len = self.carry.len();
        fit(buf, len);
        buf[..len].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut scanned = 0;
        loop {
            if !self.end {
                let want = (PIECE_BYTES.saturating_sub(len)).max(1 << 16);
                let to = len + want;
                fit(buf, to);
                let from = len;
                while len < to {
                    match self.reader.read(&mut buf[len..to]) {
                        Ok(0) => break,
                        Ok(n) => len += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.failed = Some(e);
                            return None;
                        }
                    }
                }
                self.end = len == from;
            }
            if self.end {
                break;
            }
            // Cut after the last newline, once the piece is big enough; a line longer than
            // a piece makes the piece longer.
            if len >= PIECE_BYTES {
                if let Some(nl) = buf[scanned..len].iter().rposition(|&b| b == b'\n') {
                    self.carry.extend_from_slice(&buf[scanned + nl + 1..len]);
                    len = scanned + nl + 1;
                    break;
                }
                scanned = len;
            }
        }
        buf.truncate(len);
        if self.end {
            // Closes the `read` phase: the last byte is in.
            self.span = None;
        }
        if buf.is_empty() {
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }
}

/// Makes `buf` at least `len` bytes long, zeroing only what it never held.
fn fit(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

/// Starts loading the strings of `rec` that the graph looks up.
fn prefetch_strings(rec: &Record<'_>) {
    use crate::prefetch::prefetch_text as text;
    match rec {
        Record::Define(d) => text(d.id.as_bytes()),
        Record::Finding(f) => {
            text(f.id.as_bytes());
            text(f.resource.as_bytes());
            text(f.title.as_bytes());
        }
        Record::Role { name, .. } => text(name.as_bytes()),
        Record::Membership {
            group: a,
            member: b,
        }
        | Record::RoleAssignment {
            principal: a,
            scope: b,
            ..
        }
        | Record::Exposure {
            resource: a,
            from: b,
            ..
        }
        | Record::Reach { from: a, to: b, .. } => {
            text(a.as_bytes());
            text(b.as_bytes());
        }
    }
}

/// Takes parsed pieces in line order: numbers their lines, checks the header, and collects
/// malformed lines as errors (or warnings, with `keep_going`).
struct Taker<'a> {
    file: &'a str,
    opts: ReadOptions,
    read: Read,
    errors: Vec<Diagnostic>,
    error_count: usize,
    line_base: u32,
    seen_header: bool,
    first_content_line: bool,
    records: usize,
    /// Bytes of the pieces taken so far, for progress.
    bytes: usize,
}

impl<'a> Taker<'a> {
    fn new(file: &'a str, opts: ReadOptions) -> Self {
        Taker {
            file,
            opts,
            read: Read::default(),
            errors: Vec::new(),
            error_count: 0,
            line_base: 0,
            seen_header: false,
            first_content_line: true,
            records: 0,
            bytes: 0,
        }
    }

    fn error(&mut self, d: Diagnostic) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERRORS_SHOWN {
            self.errors.push(d);
        }
    }

    /// Takes a chunk's items: its records are lent to `each`, and what it leaves is
    /// freed when the chunk is filled again by the thread that parsed it.
    fn take<K: Copy>(&mut self, chunk: &mut Chunk<K>, each: &mut impl Sink<K>) {
        let file = self.file;
        for item in chunk.items.iter().take(AHEAD) {
            tell_ahead(item, each);
        }
        for k in chunk.items.iter().take(AHEAD / 2).filter_map(prepared) {
            each.near(k);
        }
        let items = &mut chunk.items;
        for at in 0..items.len() {
            let next = &items[at + 1..];
            // Items and their strings were written by the thread that parsed them, so
            // each is asked for ahead of its turn: the item itself twice as far ahead as
            // the taker is told of it, then, from the item, its strings.
            if let Some(later) = next.get(2 * AHEAD - 1) {
                crate::prefetch::prefetch_all(later);
            }
            if let Some(later) = next.get(AHEAD - 1) {
                tell_ahead(later, each);
            }
            if let Some(k) = next.get(AHEAD / 2 - 1).and_then(prepared) {
                each.near(k);
            }
            let item = &mut items[at];
            let line = self.line_base + item.line;
            if let Outcome::Record(rec, keys) = &mut item.outcome {
                self.first_content_line = false;
                self.records += 1;
                each.take(rec, *keys, Origin { file: 0, line });
                continue;
            }
            match std::mem::replace(&mut item.outcome, Outcome::Taken) {
                Outcome::Bad(mut d) => {
                    d.line = line as usize;
                    self.first_content_line = false;
                    if self.opts.keep_going {
                        d.message = format!("skipped malformed line: {}", d.message);
                        self.read.warnings.push(d.warning());
                    } else {
                        self.error(d);
                    }
                }
                Outcome::Header(meta, text) => {
                    if self.seen_header || !self.first_content_line {
                        let what = if self.seen_header {
                            "a second `snapshot` record"
                        } else {
                            "a `snapshot` record after other records"
                        };
                        let d = Diagnostic::error(
                            file,
                            format!("{what}: the header must be the first line and appear once"),
                        )
                        .at_line(line as usize, 1, &text)
                        .expected("exactly one `snapshot` record, on the first non-blank line");
                        self.error(d);
                    } else {
                        self.read.meta = meta;
                        self.seen_header = true;
                    }
                    self.first_content_line = false;
                }
                Outcome::Unknown(ty, text) => {
                    self.first_content_line = false;
                    self.read.unknown_types += 1;
                    self.read.warnings.push(
                        Diagnostic::error(
                            file,
                            format!("unknown record type `{ty}`, line ignored"),
                        )
                        .at_line(line as usize, 1, &text)
                        .warning(),
                    );
                }
                Outcome::Record(..) | Outcome::Taken => {}
            }
        }
        self.line_base += chunk.lines;
        self.bytes += chunk.text.len();
    }

    fn finish(mut self) -> Result<Read> {
        let file = self.file;
        if !self.seen_header && self.errors.is_empty() {
            let msg = if self.records == 0 && self.read.unknown_types == 0 {
                "the snapshot is empty"
            } else {
                "the snapshot has no `snapshot` header record"
            };
            self.error(
                Diagnostic::error(file, msg)
                    .expected(r#"a first line like {"type":"snapshot","taken_at":"2026-09-30T00:00:00Z","label":"2026-Q3"}"#),
            );
        }
        if !self.errors.is_empty() {
            if self.error_count > self.errors.len() {
                let more = self.error_count - self.errors.len();
                self.errors.push(Diagnostic::error(
                    file,
                    format!(
                        "{more} more malformed lines not shown (use --keep-going to skip them)"
                    ),
                ));
            }
            return Err(Error::Invalid(self.errors));
        }
        Ok(self.read)
    }
}

/// A piece of the text and what was parsed from it. The records borrow their strings
/// from the piece (see [`Text`]), so the two travel together: from the thread that parses
/// the piece to the one that takes its records, and back to be filled again.
struct Chunk<K> {
    /// The items of `text`, their borrows of it stretched to `'static`: emptied before
    /// `text` changes ([`Chunk::text_mut`]), dropped before it (fields drop in order), and
    /// only lent out for less than the chunk's life (a [`Sink`] takes any `Record<'_>`,
    /// so it can keep no borrow).
    items: Vec<Item<'static, K>>,
    text: Vec<u8>,
    /// Number of lines in `text` (newlines, plus a final unterminated line).
    lines: u32,
    /// The thread that parses it (0 is the one that takes), which fills it again.
    worker: usize,
}

impl<K> Chunk<K> {
    fn new(worker: usize) -> Self {
        Chunk {
            items: Vec::new(),
            text: Vec::new(),
            lines: 0,
            worker,
        }
    }

    /// The text, to fill with the next piece: the items of the last one go first.
    fn text_mut(&mut self) -> &mut Vec<u8> {
        self.items.clear();
        &mut self.text
    }

    /// Parses the lines of the text into the items.
    fn parse(&mut self, file: &str, prepare: &impl Fn(&Record) -> K) {
        let (items, lines) =
            parse_chunk(&self.text, file, prepare, std::mem::take(&mut self.items));
        // SAFETY: the items borrow nothing but `self.text`, which `Chunk`'s fields'
        // documentation keeps alive and unchanged while they are held.
        self.items = unsafe { stretch(items) };
        self.lines = lines;
    }
}

/// `items` with their borrows taken as `'static`.
///
/// # Safety
/// What the items borrow must outlive the list, or the list be emptied first.
unsafe fn stretch<K>(items: Vec<Item<'_, K>>) -> Vec<Item<'static, K>> {
    let mut items = std::mem::ManuallyDrop::new(items);
    let (ptr, len, cap) = (items.as_mut_ptr(), items.len(), items.capacity());
    // SAFETY: the two types differ in a lifetime only, so they are laid out alike, and
    // the allocation is handed over whole; the caller answers for the lifetime.
    unsafe { Vec::from_raw_parts(ptr.cast::<Item<'static, K>>(), len, cap) }
}

/// Tells `each` of an item's record [`AHEAD`] places before its turn, and starts loading
/// the record's strings, which the thread that parsed it wrote.
fn tell_ahead<K>(item: &Item<'_, K>, each: &impl Sink<K>) {
    if let Outcome::Record(rec, k) = &item.outcome {
        prefetch_strings(rec);
        each.ahead(k);
    }
}

/// What `prepare` made of an item's record, if it holds one.
fn prepared<'i, K>(item: &'i Item<'_, K>) -> Option<&'i K> {
    match &item.outcome {
        Outcome::Record(_, k) => Some(k),
        _ => None,
    }
}

struct Item<'a, K> {
    /// 1-based line within the chunk.
    line: u32,
    outcome: Outcome<'a, K>,
}

enum Outcome<'a, K> {
    Header(Meta, String),
    Unknown(String, String),
    /// A record, with what `prepare` made of it.
    Record(Record<'a>, K),
    Bad(Diagnostic),
    /// What is left once the taker has moved out a header, an unknown type or an error.
    Taken,
}

/// Bytes per line, about, in a typical snapshot: the items of a piece are sized by it, so
/// that they are rarely moved as they grow.
const LINE_BYTES: usize = 256;

/// Parses the lines of `chunk` into `items` (emptied first); gives them, and the number
/// of lines.
fn parse_chunk<'t, K>(
    chunk: &'t [u8],
    file: &str,
    prepare: &impl Fn(&Record) -> K,
    mut items: Vec<Item<'t, K>>,
) -> (Vec<Item<'t, K>>, u32) {
    items.clear();
    items.reserve(chunk.len() / LINE_BYTES + 1);
    let mut lines = 0u32;
    let mut line = Line::default();
    // The piece is checked as UTF-8 once, whole: each of its lines is then UTF-8 too,
    // since a line ends at a newline, which no other character's encoding holds. A piece
    // that is not has its lines checked one by one, to name the line and column at fault.
    let whole = std::str::from_utf8(chunk).ok();
    let mut start = 0;
    while start < chunk.len() {
        let end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |i| start + i + 1);
        lines += 1;
        let text = match whole {
            Some(whole) => Ok(&whole[start..end]),
            None => std::str::from_utf8(&chunk[start..end]).map_err(|e| (e, &chunk[start..end])),
        };
        parse_line(text, file, prepare, &mut line, lines, &mut items);
        start = end;
    }
    (items, lines)
}

/// Adds line `at` to `items`, unless it is blank: `text` is the line, or why it is not
/// UTF-8 and its bytes. `line` is where its fields are read; what it held before is
/// dropped. A record is pushed where it is made: an item is 300 bytes, and returned
/// through two calls it was copied three times.
fn parse_line<'a, K>(
    text: Result<&'a str, (std::str::Utf8Error, &[u8])>,
    file: &str,
    prepare: &impl Fn(&Record) -> K,
    line: &mut Line<'a>,
    at: u32,
    items: &mut Vec<Item<'a, K>>,
) {
    let bad = |d: Diagnostic| Item {
        line: at,
        outcome: Outcome::Bad(d),
    };
    let text = match text {
        Ok(t) => t,
        Err((e, raw)) => {
            let shown = String::from_utf8_lossy(raw);
            items.push(bad(Diagnostic::error(file, "the line is not valid UTF-8")
                .at_line(0, e.valid_up_to() + 1, &shown)
                .expected("UTF-8 text")));
            return;
        }
    };
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if crate::text::is_blank(trimmed) {
        return;
    }
    if let Err(e) = line.read_into(trimmed) {
        items.push(bad(json_error(file, trimmed, &e)));
        return;
    }
    if let Err((msg, field, expected)) = to_record(line, trimmed, prepare, at, items) {
        let (col, width) = field
            .and_then(|f| locate_value(trimmed, f))
            .map_or((1, 1), |(s, e)| (s + 1, e - s));
        let mut d = Diagnostic::error(file, msg).at_line(0, col, trimmed);
        d.width = width;
        items.push(bad(d.expected(expected)));
    }
}

/// Turns a serde_json error into a diagnostic with the column it reports.
fn json_error(file: &str, line: &str, e: &serde_json::Error) -> Diagnostic {
    let msg = crate::diag::json_message(e);
    let (message, expected) = match e.classify() {
        serde_json::error::Category::Eof => (
            format!("the line ends before its JSON value does ({msg}); is the file truncated?"),
            "a complete JSON object on one line",
        ),
        serde_json::error::Category::Syntax => (format!("invalid JSON: {msg}"), "a JSON object"),
        _ => (msg, "a value of the type the format gives for this field"),
    };
    let col = e.column().max(1).min(line.len().max(1));
    Diagnostic::error(file, message)
        .at_line(0, col, line)
        .expected(expected)
}

/// Finds the byte span of the value of `"key"` in a JSON line (first occurrence), so
/// semantic errors can put a caret under the offending value.
fn locate_value(line: &str, key: &str) -> Option<(usize, usize)> {
    let needle = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = line[from..].find(&needle) {
        let after = from + i + needle.len();
        let rest = &line[after..];
        let colon = rest.len() - rest.trim_start().len();
        if rest[colon..].starts_with(':') {
            let vstart = after + colon + 1;
            let v = &line[vstart..];
            let skip = v.len() - v.trim_start().len();
            let s = vstart + skip;
            let e = value_end(line, s);
            return Some((s, e.max(s + 1)));
        }
        from = after;
    }
    None
}

fn value_end(line: &str, start: usize) -> usize {
    let b = line.as_bytes();
    if b.get(start) == Some(&b'"') {
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        return b.len();
    }
    line[start..]
        .find([',', '}', ']'])
        .map_or(line.len(), |i| start + i)
}

/// (message, field to point at, what was expected)
type Problem = (String, Option<&'static str>, String);

fn missing(ty: &str, field: &'static str) -> Problem {
    (
        format!("`{ty}` record is missing required field `{field}`"),
        None,
        format!("a non-empty `{field}` field"),
    )
}

/// A required field's text, as written.
fn req<'a>(v: Option<Text<'a>>, ty: &str, field: &'static str) -> Result<Text<'a>, Problem> {
    match v {
        Some(s) if !crate::text::is_blank(&s) => Ok(s),
        _ => Err(missing(ty, field)),
    }
}

/// An enumerated value, trimmed and lowercased: still borrowed where it was written so.
fn lowercased(v: Text<'_>) -> Text<'_> {
    match v {
        Cow::Borrowed(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Borrowed(s.trim()),
        v => Cow::Owned(v.trim().to_ascii_lowercase()),
    }
}

/// An empty string counts as absent, as the format says of `kind`.
fn non_empty(v: Option<Text<'_>>) -> Option<Text<'_>> {
    v.filter(|s| !crate::text::is_blank(s))
}

/// A header field, kept as written.
fn header(v: Option<Text<'_>>) -> Option<String> {
    v.map(Cow::into_owned)
}

/// Adds to `items`, as line `at`, the record a line holds (with what `prepare` makes of
/// it), or what else it is. Takes the fields it uses out of `l`.
fn to_record<'a, K>(
    l: &mut Line<'a>,
    text: &str,
    prepare: &impl Fn(&Record) -> K,
    at: u32,
    items: &mut Vec<Item<'a, K>>,
) -> Result<(), Problem> {
    let mut push = |outcome| {
        items.push(Item { line: at, outcome });
        Ok(())
    };
    let Some(ty) = l.ty.take() else {
        return Err((
            "record has no `type` field".into(),
            None,
            "a `type` field: snapshot, scope, resource, identity, membership, role, role_assignment, exposure, reach or finding".into(),
        ));
    };
    let rec = match &*ty {
        "snapshot" => {
            let taken_at = req(l.taken_at.take(), "snapshot", "taken_at")?.into_owned();
            if !is_rfc3339(&taken_at) {
                return Err((
                    format!("`taken_at` is not an RFC 3339 timestamp: `{taken_at}`"),
                    Some("taken_at"),
                    "a timestamp like 2026-09-30T00:00:00Z".into(),
                ));
            }
            return push(Outcome::Header(
                Meta {
                    taken_at,
                    label: header(l.label.take()),
                    tenant: header(l.tenant.take()),
                    source: header(l.source.take()),
                },
                text.to_string(),
            ));
        }
        "scope" => Record::Define(Definition {
            def_type: DefType::Scope,
            id: req(l.id.take(), "scope", "id")?,
            kind: non_empty(l.kind.take()).map(lowercased),
            name: l.name.take(),
            parent: non_empty(l.parent.take()),
            tags: l.tags.take(),
            props: None,
            attached_to: None,
        }),
        "resource" => Record::Define(Definition {
            def_type: DefType::Resource,
            id: req(l.id.take(), "resource", "id")?,
            kind: Some(req(l.kind.take(), "resource", "kind")?),
            name: l.name.take(),
            parent: non_empty(l.parent.take()),
            tags: l.tags.take(),
            props: match l.props.take() {
                Some(p) if !p.get().trim_start().starts_with('{') => {
                    if p.get().trim() == "null" {
                        None
                    } else {
                        return Err((
                            "`props` must be a JSON object".into(),
                            Some("props"),
                            "an object like {\"sensitivity\": \"high\"}".into(),
                        ));
                    }
                }
                p => p.map(Cow::Borrowed),
            },
            attached_to: None,
        }),
        "identity" => {
            let id = req(l.id.take(), "identity", "id")?;
            let kind = lowercased(req(l.kind.take(), "identity", "kind")?);
            const KINDS: [&str; 4] = ["user", "group", "service_principal", "managed_identity"];
            if !KINDS.contains(&&*kind) {
                return Err((
                    format!("unknown identity kind `{kind}`"),
                    Some("kind"),
                    "one of user, group, service_principal, managed_identity".into(),
                ));
            }
            Record::Define(Definition {
                def_type: DefType::Identity,
                id,
                kind: Some(kind),
                name: l.name.take(),
                parent: None,
                tags: None,
                props: None,
                attached_to: l.attached_to.take(),
            })
        }
        "membership" => Record::Membership {
            group: req(l.group.take(), "membership", "group")?,
            member: req(l.member.take(), "membership", "member")?,
        },
        "role" => Record::Role {
            name: req(l.name.take(), "role", "name")?,
            id: non_empty(l.id.take()),
            privileged: l.privileged,
            actions: l.actions.take(),
        },
        "role_assignment" => Record::RoleAssignment {
            principal: req(l.principal.take(), "role_assignment", "principal")?,
            role: req(l.role.take(), "role_assignment", "role")?,
            scope: req(l.scope.take(), "role_assignment", "scope")?,
            condition: l.condition.take(),
        },
        "exposure" => Record::Exposure {
            resource: req(l.resource.take(), "exposure", "resource")?,
            from: req(l.from.take(), "exposure", "from")?,
            ports: l.ports.take(),
            protocol: l.protocol.take(),
            via: l.via.take(),
        },
        "reach" => Record::Reach {
            from: req(l.from.take(), "reach", "from")?,
            to: req(l.to.take(), "reach", "to")?,
            ports: l.ports.take(),
            protocol: l.protocol.take(),
            via: l.via.take(),
        },
        "finding" => {
            let id = req(l.id.take(), "finding", "id")?;
            let resource = req(l.resource.take(), "finding", "resource")?;
            let class_s = req(l.class.take(), "finding", "class")?;
            let class = match class_s.trim() {
                c if c.eq_ignore_ascii_case("recommendation") => FindingClass::Recommendation,
                c if c.eq_ignore_ascii_case("alert") => FindingClass::Alert,
                other => {
                    return Err((
                        format!("unknown finding class `{}`", other.to_ascii_lowercase()),
                        Some("class"),
                        "recommendation or alert".into(),
                    ))
                }
            };
            let title = req(l.title.take(), "finding", "title")?;
            let sev_s = req(l.severity.take(), "finding", "severity")?;
            let severity = Level::parse(&sev_s).ok_or_else(|| {
                (
                    format!("unknown severity `{sev_s}`"),
                    Some("severity"),
                    format!("one of {}", Level::NAMES),
                )
            })?;
            let state = match non_empty(l.state.take()) {
                None => Cow::Borrowed(match class {
                    FindingClass::Recommendation => "unhealthy",
                    FindingClass::Alert => "active",
                }),
                Some(s) => {
                    let s = lowercased(s);
                    let allowed: &[&str] = match class {
                        FindingClass::Recommendation => &["unhealthy", "healthy", "notapplicable"],
                        FindingClass::Alert => &["active", "resolved", "dismissed"],
                    };
                    if !allowed.contains(&&*s) {
                        return Err((
                            format!(
                                "unknown state `{s}` for a finding of class `{}`",
                                class_s.trim().to_ascii_lowercase()
                            ),
                            Some("state"),
                            format!("one of {}", allowed.join(", ")),
                        ));
                    }
                    s
                }
            };
            Record::Finding(Finding {
                id,
                resource,
                class,
                title,
                severity,
                state,
                category: non_empty(l.category.take()),
                techniques: l.techniques.take().unwrap_or_default(),
                first_seen: l.first_seen.take(),
                last_seen: l.last_seen.take(),
                source_id: l.source_id.take(),
                props: l.props.take().map(|p| Cow::Borrowed(p.get())),
            })
        }
        other => return push(Outcome::Unknown(other.to_owned(), text.to_owned())),
    };
    let prepared = prepare(&rec);
    push(Outcome::Record(rec, prepared))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, with `t`/`z`/space accepted as RFC 3339 allows.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == st {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Parses `"22"`, `"5985-5986"` or `"*"`.
pub fn parse_port_range(s: &str) -> Option<PortRange> {
    let s = s.trim();
    if s == "*" {
        return Some(PortRange::ALL);
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let lo: u16 = a.trim().parse().ok()?;
    let hi: u16 = b.trim().parse().ok()?;
    (lo <= hi).then_some(PortRange { lo, hi })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Snapshot> {
        parse(s.as_bytes(), "t.jsonl", ReadOptions::default())
    }

    const HEAD: &str = r#"{"type":"snapshot","taken_at":"2026-09-30T00:00:00Z","label":"2026-Q3"}"#;

    #[test]
    fn reads_records_and_skips_blank_lines() {
        let s = format!("{HEAD}\n\n{{\"type\":\"resource\",\"id\":\"a\",\"kind\":\"vm\"}}\n  \n{{\"type\":\"membership\",\"group\":\"g\",\"member\":\"m\"}}");
        let snap = parse_str(&s).unwrap();
        assert_eq!(snap.meta.label.as_deref(), Some("2026-Q3"));
        assert_eq!(snap.records.len(), 2);
        assert_eq!(snap.origins[0].line, 3);
        assert_eq!(snap.origins[1].line, 5);
    }

    #[test]
    fn malformed_line_names_line_and_column() {
        let s = format!("{HEAD}\n{{\"type\":\"resource\",\"id\":\"a\",\"kind\":}}\n");
        let Err(Error::Invalid(d)) = parse_str(&s) else {
            panic!()
        };
        assert_eq!(d[0].line, 2);
        assert!(d[0].col > 20, "{:?}", d[0]);
        assert!(d[0].message.contains("invalid JSON"), "{}", d[0]);
    }

    #[test]
    fn a_line_not_utf8_is_named_and_the_lines_around_it_still_read() {
        // The piece is not UTF-8 as a whole, so each line is checked on its own.
        let mut bytes = format!("{HEAD}\n{{\"type\":\"resource\",\"id\":\"a\",\"kind\":\"vm\"}}\n")
            .into_bytes();
        bytes.extend_from_slice(b"{\"type\":\"resource\",\"id\":\"\xff\",\"kind\":\"vm\"}\n");
        bytes.extend_from_slice(b"{\"type\":\"resource\",\"id\":\"\xc3\xa9\",\"kind\":\"vm\"}\n");
        let Err(Error::Invalid(d)) = parse(&bytes, "t", ReadOptions::default()) else {
            panic!()
        };
        assert_eq!((d.len(), d[0].line, d[0].col), (1, 3, 26), "{:?}", d[0]);
        assert!(d[0].message.contains("not valid UTF-8"), "{}", d[0]);
        let snap = parse(&bytes, "t", ReadOptions { keep_going: true }).unwrap();
        let ids: Vec<&str> = snap
            .records
            .iter()
            .map(|r| match r {
                Record::Define(d) => &*d.id,
                _ => "",
            })
            .collect();
        assert_eq!(ids, ["a", "é"]);
        assert_eq!((snap.origins[0].line, snap.origins[1].line), (2, 4));
    }

    #[test]
    fn bad_enum_points_at_value() {
        let s = format!("{HEAD}\n{{\"type\":\"finding\",\"id\":\"f\",\"resource\":\"r\",\"class\":\"alert\",\"title\":\"t\",\"severity\":\"hgih\"}}\n");
        let Err(Error::Invalid(d)) = parse_str(&s) else {
            panic!()
        };
        let text = d[0].to_string();
        assert!(text.contains("unknown severity `hgih`"), "{text}");
        assert!(
            text.contains("expected one of low, medium, high, critical"),
            "{text}"
        );
        assert_eq!(
            d[0].col,
            s.lines().nth(1).unwrap().find("\"hgih\"").unwrap() + 1
        );
    }

    #[test]
    fn chunks_preserve_line_numbers() {
        let mut s = String::from(HEAD);
        s.push('\n');
        for i in 0..50_000 {
            s.push_str(&format!(
                "{{\"type\":\"resource\",\"id\":\"r{i}\",\"kind\":\"vm\"}}\n"
            ));
        }
        let snap = parse_str(&s).unwrap();
        assert_eq!(snap.records.len(), 50_000);
        assert!(snap
            .origins
            .iter()
            .enumerate()
            .all(|(i, o)| o.line as usize == i + 2));
    }

    #[test]
    fn pieces_end_at_newlines_and_hold_every_byte_however_the_reader_gives_them() {
        /// Gives a few bytes a call, and is interrupted now and then.
        struct Trickle<'a> {
            text: &'a [u8],
            calls: usize,
        }
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.calls += 1;
                if self.calls % 5 == 1 {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                let n = buf
                    .len()
                    .min(self.text.len())
                    .min(1 + self.calls * 977 % 40_000);
                buf[..n].copy_from_slice(&self.text[..n]);
                self.text = &self.text[n..];
                Ok(n)
            }
        }
        let mut text = Vec::new();
        for i in 0..20_000 {
            text.extend_from_slice(format!("line {i} {}\n", "y".repeat(i % 97)).as_bytes());
        }
        text.extend_from_slice(&[b'z'; PIECE_BYTES + 5]);
        text.extend_from_slice(b"\nlast, unterminated");
        let mut pieces = Pieces {
            reader: Trickle {
                text: &text,
                calls: 0,
            },
            carry: Vec::new(),
            next: 0,
            end: false,
            failed: None,
            span: None,
        };
        let mut joined = Vec::new();
        let mut count = 0;
        // Filled again dirty, as the parsing threads fill their chunks again.
        let mut piece = Vec::new();
        while let Some(i) = pieces.next_piece(&mut piece) {
            assert_eq!(i, count);
            count += 1;
            joined.extend_from_slice(&piece);
            if joined.len() < text.len() {
                assert_eq!(piece.last(), Some(&b'\n'), "piece {i}");
            }
        }
        assert!(pieces.failed.is_none());
        assert!(count > 10, "{count}");
        assert!(joined == text);
    }

    #[test]
    fn a_line_longer_than_a_piece_is_read_whole() {
        let long = "x".repeat(PIECE_BYTES * 2 + 7);
        let s = format!(
            "{HEAD}\n{{\"type\":\"resource\",\"id\":\"a\",\"kind\":\"vm\",\"props\":{{\"note\":\"{long}\"}}}}\n{{\"type\":\"resource\",\"id\":\"b\",\"kind\":\"vm\"}}\n"
        );
        let snap = parse_str(&s).unwrap();
        assert_eq!(snap.records.len(), 2);
        let Record::Define(d) = &snap.records[0] else {
            panic!()
        };
        assert_eq!(d.props.as_ref().unwrap().get().len(), long.len() + 11);
        assert_eq!((snap.origins[0].line, snap.origins[1].line), (2, 3));
    }

    #[test]
    fn escaped_strings_and_any_case_read_as_plain_ones() {
        // A line that spells its strings with escapes, and its enumerations in other cases,
        // gives the same record as the plain line.
        let plain = r#"{"type":"resource","id":"/s/r","kind":"vm","name":"né","tags":{"owner":"a"},"props":{"k":1}}"#;
        let escaped = r#"{"type":"re\u0073ource","id":"\/s\/r","kind":"v\u006d","name":"n\u00e9","tags":{"\u006fwner":"\u0061"},"props":{"k":1}}"#;
        let one = |l: &str| parse_str(&format!("{HEAD}\n{l}\n")).unwrap().records;
        assert_eq!(one(plain), one(escaped));
        let Record::Define(d) = &one(escaped)[0] else {
            panic!()
        };
        assert_eq!(d.id, "/s/r");
        assert_eq!(d.name.as_deref(), Some("né"));
        assert_eq!(d.tags, Some(vec![("owner".into(), "a".into())]));
        let f = r#"{"type":"finding","id":"f","resource":"\/s\/r","class":"Alert","title":"t\"q\"","severity":" HIGH ","state":"Active","techniques":["T\u0031"]}"#;
        let Record::Finding(f) = &one(f)[0] else {
            panic!()
        };
        assert_eq!((&*f.resource, &*f.title), ("/s/r", "t\"q\""));
        assert_eq!((f.class, f.severity), (FindingClass::Alert, Level::High));
        assert_eq!(
            (&*f.state, &f.techniques[..]),
            ("active", &["T1".to_string()][..])
        );
    }

    #[test]
    fn a_taker_is_told_of_each_record_ahead_then_near_then_takes_it() {
        #[derive(Default)]
        struct Events(std::cell::RefCell<Vec<(char, u32)>>);
        impl Sink<u32> for &Events {
            fn take(&mut self, _: &mut Record, k: u32, _: Origin) {
                self.0.borrow_mut().push(('t', k));
            }
            fn ahead(&self, k: &u32) {
                self.0.borrow_mut().push(('a', *k));
            }
            fn near(&self, k: &u32) {
                self.0.borrow_mut().push(('n', *k));
            }
        }
        let mut s = format!("{HEAD}\n");
        for i in 0..50 {
            s.push_str(&format!(
                "{{\"type\":\"resource\",\"id\":\"r{i}\",\"kind\":\"vm\"}}\n"
            ));
        }
        let events = Events::default();
        let number = |r: &Record| match r {
            Record::Define(d) => d.id[1..].parse().unwrap_or(u32::MAX),
            _ => u32::MAX,
        };
        let opts = ReadOptions::default();
        parse_from(
            s.as_bytes(),
            0,
            "t",
            opts,
            number,
            &events,
            tracing::Span::none(),
        )
        .unwrap();
        let events = events.0.into_inner();
        let at = |e: (char, u32)| events.iter().position(|&x| x == e);
        for i in 0..50 {
            let (a, n, t) = (at(('a', i)), at(('n', i)), at(('t', i)));
            assert!(a < n && n < t, "record {i}: {a:?} {n:?} {t:?}");
            // Taken in order, and told of far enough ahead.
            let taken_before = events[..a.unwrap()].iter().filter(|e| e.0 == 't').count();
            assert_eq!(
                taken_before,
                (i as usize).saturating_sub(AHEAD),
                "record {i}"
            );
        }
        let takes: Vec<u32> = events.iter().filter(|e| e.0 == 't').map(|e| e.1).collect();
        assert_eq!(takes, (0..50).collect::<Vec<_>>());
        assert_eq!(events.len(), 150);
    }

    #[test]
    fn records_borrow_plain_texts_from_their_piece_and_own_escaped_ones() {
        // Several pieces, parsed on two threads: every record is taken in order, and what
        // a plain line spells is lent from the piece rather than copied.
        let mut s = format!("{HEAD}\n");
        let n = 4 * PIECE_BYTES / 100;
        for i in 0..n {
            s.push_str(&format!(
                "{{\"type\":\"resource\",\"id\":\"/s/1/r{i:06}\",\"kind\":\"vm\",\"tags\":{{\"owner\":\"o{i}\"}}}}\n"
            ));
        }
        // serde_json reads a line with an escape, and owns every text of it.
        s.push_str(r#"{"type":"resource","id":"\/s\/1\/e","kind":"vm"}"#);
        let mut seen = Vec::new();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let sink = |r: &mut Record<'_>, (), _: Origin| {
                let Record::Define(d) = r else { panic!() };
                let lent = |t: &Text<'_>| matches!(t, Cow::Borrowed(_));
                let tags = d.tags.as_deref().unwrap_or_default();
                seen.push((
                    d.id.to_string(),
                    lent(&d.id),
                    d.kind.as_ref().is_some_and(lent),
                    tags.iter().all(|(k, v)| lent(k) && lent(v)),
                ));
            };
            parse_from(
                s.as_bytes(),
                0,
                "t",
                ReadOptions::default(),
                |_| (),
                sink,
                tracing::Span::none(),
            )
            .unwrap();
        });
        assert_eq!(seen.len(), n + 1);
        for (i, (id, id_lent, kind_lent, tags_lent)) in seen[..n].iter().enumerate() {
            assert_eq!(id, &format!("/s/1/r{i:06}"));
            assert!(*id_lent && *kind_lent && *tags_lent, "line {}", i + 2);
        }
        assert_eq!(seen[n], ("/s/1/e".to_string(), false, false, true));
    }

    #[test]
    fn rfc3339() {
        assert!(is_rfc3339("2026-09-30T00:00:00Z"));
        assert!(is_rfc3339("2026-09-30T00:00:00.123+02:00"));
        assert!(!is_rfc3339("2026-09-30"));
        assert!(!is_rfc3339("2026-13-30T00:00:00Z"));
    }
}
