//! Writing records back as a native snapshot (JSON Lines), field by field into one buffer:
//! imports of a large export folder write hundreds of thousands of lines, and `props` are
//! kept as the raw JSON text they were read as rather than parsed again.

use super::{DefType, FindingClass, PortRange, Record, Snapshot, Tags, Text};

/// A JSON object being written.
struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut String, ty: &str) -> Self {
        out.push('{');
        let mut o = Obj { out, first: true };
        o.str("type", ty);
        o
    }
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        json_str(self.out, v);
    }
    fn opt(&mut self, k: &str, v: &Option<impl AsRef<str>>) {
        if let Some(v) = v {
            self.str(k, v.as_ref());
        }
    }
    fn raw(&mut self, k: &str, json: &str) {
        self.key(k);
        self.out.push_str(json);
    }
    /// `k` with the items written by `each` between `open` and `close`, comma-separated.
    fn seq<T>(
        &mut self,
        k: &str,
        open: char,
        close: char,
        items: &[T],
        each: impl Fn(&mut String, &T),
    ) {
        self.key(k);
        self.out.push(open);
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            each(self.out, x);
        }
        self.out.push(close);
    }
    fn list(&mut self, k: &str, v: &[String]) {
        self.seq(k, '[', ']', v, |out, s| json_str(out, s));
    }
    fn tags(&mut self, k: &str, tags: &Tags<'_>) {
        self.seq(k, '{', '}', tags, |out, (tk, tv)| {
            json_str(out, tk);
            out.push(':');
            json_str(out, tv);
        });
    }
    /// The optional network fields of `exposure` and `reach` records.
    fn net(
        &mut self,
        ports: &Option<Vec<PortRange>>,
        protocol: &Option<Text<'_>>,
        via: &Option<Text<'_>>,
    ) {
        self.ports(ports);
        self.opt("protocol", protocol);
        self.opt("via", via);
    }
    fn ports(&mut self, ports: &Option<Vec<PortRange>>) {
        use std::fmt::Write;
        let Some(ps) = ports else { return };
        // A single port as a number, a range as a string.
        self.seq("ports", '[', ']', ps, |out, r| {
            let _ = if r.lo == r.hi {
                write!(out, "{r}")
            } else {
                write!(out, "\"{r}\"")
            };
        });
    }
    fn end(self) {
        self.out.push_str("}\n");
    }
}

/// A JSON string. Ids, names and titles rarely need escaping: they are copied as they are.
fn json_str(out: &mut String, v: &str) {
    crate::text::json_quoted(v, |piece| out.push_str(piece));
}

/// Writes the snapshot as native JSON Lines: the header, then every record, in bounded
/// memory (see [`crate::stream`]).
pub fn write_jsonl(snap: &Snapshot, out: &mut (dyn std::io::Write + Send)) -> std::io::Result<()> {
    let mut head = String::new();
    let m = &snap.meta;
    let mut h = Obj::new(&mut head, "snapshot");
    h.str("taken_at", &m.taken_at);
    h.opt("label", &m.label);
    h.opt("tenant", &m.tenant);
    h.opt("source", &m.source);
    h.end();
    out.write_all(head.as_bytes())?;
    crate::stream::write_batched(&snap.records, 4096, out, &|rs, buf| {
        // The buffer comes empty, so it is text; taken as a string and given back whole.
        let mut text = String::from_utf8(std::mem::take(buf)).unwrap_or_default();
        // Records run to a few hundred bytes; room reserved and never touched costs
        // nothing, growing and copying the piece does.
        text.reserve(rs.len() * 1024);
        for r in rs {
            record(&mut text, r);
        }
        *buf = text.into_bytes();
    })
}

fn record(out: &mut String, r: &Record<'_>) {
    match r {
        Record::Define(d) => {
            let ty = match d.def_type {
                DefType::Scope => "scope",
                DefType::Resource => "resource",
                DefType::Identity => "identity",
            };
            let mut o = Obj::new(out, ty);
            o.str("id", &d.id);
            o.opt("kind", &d.kind);
            o.opt("name", &d.name);
            o.opt("parent", &d.parent);
            if let Some(t) = &d.tags {
                o.tags("tags", t);
            }
            if let Some(p) = &d.props {
                o.raw("props", p.get());
            }
            if let Some(a) = &d.attached_to {
                o.list("attached_to", a);
            }
            o.end();
        }
        Record::Membership { group, member } => {
            let mut o = Obj::new(out, "membership");
            o.str("group", group);
            o.str("member", member);
            o.end();
        }
        Record::Role {
            name,
            id,
            privileged,
            actions,
        } => {
            let mut o = Obj::new(out, "role");
            o.str("name", name);
            o.opt("id", id);
            if let Some(p) = privileged {
                o.raw("privileged", if *p { "true" } else { "false" });
            }
            if let Some(a) = actions {
                o.list("actions", a);
            }
            o.end();
        }
        Record::RoleAssignment {
            principal,
            role,
            scope,
            condition,
        } => {
            let mut o = Obj::new(out, "role_assignment");
            o.str("principal", principal);
            o.str("role", role);
            o.str("scope", scope);
            o.opt("condition", condition);
            o.end();
        }
        Record::Exposure {
            resource,
            from,
            ports,
            protocol,
            via,
        } => {
            let mut o = Obj::new(out, "exposure");
            o.str("resource", resource);
            o.str("from", from);
            o.net(ports, protocol, via);
            o.end();
        }
        Record::Reach {
            from,
            to,
            ports,
            protocol,
            via,
        } => {
            let mut o = Obj::new(out, "reach");
            o.str("from", from);
            o.str("to", to);
            o.net(ports, protocol, via);
            o.end();
        }
        Record::Finding(f) => {
            let mut o = Obj::new(out, "finding");
            o.str("id", &f.id);
            o.str("resource", &f.resource);
            o.str(
                "class",
                match f.class {
                    FindingClass::Recommendation => "recommendation",
                    FindingClass::Alert => "alert",
                },
            );
            o.str("title", &f.title);
            o.str("severity", f.severity.as_str());
            o.str("state", &f.state);
            o.opt("category", &f.category);
            if !f.techniques.is_empty() {
                o.list("techniques", &f.techniques);
            }
            o.opt("first_seen", &f.first_seen);
            o.opt("last_seen", &f.last_seen);
            o.opt("source_id", &f.source_id);
            if let Some(p) = &f.props {
                o.raw("props", p);
            }
            o.end();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_through_the_reader() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/demo/estate.jsonl"
        ))
        .unwrap();
        let snap =
            crate::ingest::native::parse(text.as_bytes(), "demo", Default::default()).unwrap();
        let mut again = Vec::new();
        super::write_jsonl(&snap, &mut again).unwrap();
        let snap2 = crate::ingest::native::parse(&again, "again", Default::default()).unwrap();
        assert_eq!(snap.records, snap2.records);
        assert_eq!(snap.meta, snap2.meta);
    }

    /// Records are formatted in batches sized by the thread count; the text must not
    /// depend on it, nor on where a batch ends.
    #[test]
    fn batches_and_threads_do_not_change_the_text() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/demo/estate.jsonl"
        ))
        .unwrap();
        let mut snap =
            crate::ingest::native::parse(text.as_bytes(), "demo", Default::default()).unwrap();
        let one = snap.records.clone();
        // More records than one batch holds at any thread count used here.
        while snap.records.len() < 100_000 {
            snap.records.extend(one.iter().cloned());
        }
        let mut expected = String::new();
        for r in &snap.records {
            super::record(&mut expected, r);
        }
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = Vec::new();
            pool.install(|| super::write_jsonl(&snap, &mut out))
                .unwrap();
            let out = String::from_utf8(out).unwrap();
            let (head, body) = out.split_once('\n').unwrap();
            assert!(head.starts_with(r#"{"type":"snapshot""#), "{head}");
            assert!(
                body == expected,
                "{threads} threads changed the records' text"
            );
        }
    }
}
