//! One line of a native snapshot, as its fields.
//!
//! Nearly every line a tool writes is compact JSON with plain strings, and serde_json's
//! general path spends three times as long on such a line as on checking that it is JSON
//! at all. [`Line::read`] therefore first tries a scanner that knows the fields and
//! accepts only that plain form; whatever it does not accept (escapes, numbers other
//! than small ports, unknown or repeated fields, tabs, anything malformed) goes to
//! serde_json, which then gives either the same fields or the error the user sees. The
//! scanner never decides that a line is bad, so every message comes from serde_json.

use super::native::parse_port_range;
use super::record::{PortRange, Tags};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Every field of any record type, each optional: which are required depends on `type`.
/// Texts are borrowed from the line where the scanner reads them (serde_json, which
/// unescapes, gives them owned), so that a field the record does not keep, such as `type`,
/// is never copied.
#[derive(Deserialize, Default, Debug)]
pub(crate) struct Line<'a> {
    #[serde(rename = "type")]
    pub ty: Option<Cow<'a, str>>,
    pub id: Option<Cow<'a, str>>,
    pub kind: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub parent: Option<Cow<'a, str>>,
    /// In the order keys first appear; a later value of a key replaces the earlier in its
    /// place, as a map would have it.
    #[serde(default, deserialize_with = "tag_map")]
    pub tags: Option<Tags<'a>>,
    #[serde(borrow)]
    pub props: Option<&'a RawValue>,
    pub attached_to: Option<Vec<String>>,
    pub group: Option<Cow<'a, str>>,
    pub member: Option<Cow<'a, str>>,
    pub privileged: Option<bool>,
    pub actions: Option<Vec<String>>,
    pub principal: Option<Cow<'a, str>>,
    pub role: Option<Cow<'a, str>>,
    pub scope: Option<Cow<'a, str>>,
    pub condition: Option<Cow<'a, str>>,
    pub resource: Option<Cow<'a, str>>,
    pub from: Option<Cow<'a, str>>,
    pub to: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "ports")]
    pub ports: Option<Vec<PortRange>>,
    pub protocol: Option<Cow<'a, str>>,
    pub via: Option<Cow<'a, str>>,
    pub class: Option<Cow<'a, str>>,
    pub title: Option<Cow<'a, str>>,
    pub severity: Option<Cow<'a, str>>,
    pub state: Option<Cow<'a, str>>,
    pub category: Option<Cow<'a, str>>,
    pub techniques: Option<Vec<String>>,
    pub first_seen: Option<Cow<'a, str>>,
    pub last_seen: Option<Cow<'a, str>>,
    pub source_id: Option<Cow<'a, str>>,
    pub taken_at: Option<Cow<'a, str>>,
    pub label: Option<Cow<'a, str>>,
    pub tenant: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
}

impl<'a> Line<'a> {
    /// Reads the fields of one line of text (without its line end) into `self`, whatever
    /// it held: one `Line` serves a whole piece, written in place rather than returned
    /// and moved (it is 840 bytes, and moving it was a tenth of parsing a line).
    pub fn read_into(&mut self, text: &'a str) -> serde_json::Result<()> {
        *self = Line::default();
        if plain(text, self).is_none() {
            // What the scanner read before it gave up goes, whether serde_json reads the
            // line or fails on it.
            *self = Line::default();
            *self = serde_json::from_str(text)?;
        }
        Ok(())
    }

    /// The fields of one line of text.
    #[cfg(test)]
    pub fn read(text: &'a str) -> serde_json::Result<Line<'a>> {
        let mut line = Line::default();
        line.read_into(text)?;
        Ok(line)
    }
}

/// More tags than this on one line are read by serde_json, whose map finds a repeated key
/// without comparing it with every other.
const MANY_TAGS: usize = 64;

/// `tags`, as serde reads a map of strings.
fn tag_map<'de, 'a, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Tags<'a>>, D::Error> {
    let map = Option::<indexmap::IndexMap<String, String>>::deserialize(d)?;
    Ok(map.map(super::record::owned_tags))
}

/// `ports`: numbers, `"n"`, `"a-b"` or `"*"`.
fn ports<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<PortRange>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum P {
        N(u64),
        S(String),
    }
    let Some(items) = Option::<Vec<P>>::deserialize(d)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for p in items {
        out.push(match p {
            P::N(n) => {
                let n = u16::try_from(n).map_err(|_| de::Error::custom(format!("port {n} is out of range 0-65535")))?;
                PortRange { lo: n, hi: n }
            }
            P::S(s) => parse_port_range(&s).ok_or_else(|| {
                de::Error::custom(format!("invalid port range `{s}`, expected a port number, \"a-b\" with a <= b, or \"*\""))
            })?,
        });
    }
    Ok(Some(out))
}

/// The fields of a line in the plain form, or `None` for serde_json to read it.
fn plain<'a>(text: &'a str, line: &mut Line<'a>) -> Option<()> {
    let mut c = Cursor { text, at: 0 };
    let mut seen = 0u64;
    c.token(b'{')?;
    if !c.eat(b'}') {
        loop {
            let key = c.string()?;
            c.token(b':')?;
            let field = field(key)?;
            if seen & 1 << field != 0 {
                return None;
            }
            seen |= 1 << field;
            c.value(line, field)?;
            if c.eat(b'}') {
                break;
            }
            c.token(b',')?;
        }
    }
    c.space();
    (c.at == text.len()).then_some(())
}

/// Where field `key` goes in [`Cursor::value`]'s numbering.
fn field(key: &str) -> Option<usize> {
    Some(match key {
        "type" => 0,
        "id" => 1,
        "kind" => 2,
        "name" => 3,
        "parent" => 4,
        "tags" => 5,
        "props" => 6,
        "attached_to" => 7,
        "group" => 8,
        "member" => 9,
        "privileged" => 10,
        "actions" => 11,
        "principal" => 12,
        "role" => 13,
        "scope" => 14,
        "condition" => 15,
        "resource" => 16,
        "from" => 17,
        "to" => 18,
        "ports" => 19,
        "protocol" => 20,
        "via" => 21,
        "class" => 22,
        "title" => 23,
        "severity" => 24,
        "state" => 25,
        "category" => 26,
        "techniques" => 27,
        "first_seen" => 28,
        "last_seen" => 29,
        "source_id" => 30,
        "taken_at" => 31,
        "label" => 32,
        "tenant" => 33,
        "source" => 34,
        _ => return None,
    })
}

/// This many opening brackets in what is left of a line leave its `props` to serde_json,
/// well short of the nesting it refuses (128).
const DEEP_ENOUGH: usize = 64;

/// How many bytes of `rest` come before its closing quote, or `None` if a backslash or a
/// control character comes first (or no quote does).
fn string_len(rest: &[u8]) -> Option<usize> {
    let at = crate::text::json_special_at(rest);
    (rest.get(at) == Some(&b'"')).then_some(at)
}

/// A place in a line being scanned; each step gives `None` where the plain form ends.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    fn space(&mut self) {
        while self.rest().first() == Some(&b' ') {
            self.at += 1;
        }
    }

    /// Skips spaces, then takes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let next = self.rest().first() == Some(&byte);
        self.at += usize::from(next);
        next
    }

    fn token(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// A string without escapes (or control characters, which JSON refuses in one).
    fn string(&mut self) -> Option<&'a str> {
        self.token(b'"')?;
        let len = string_len(self.rest())?;
        let s = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(s)
    }

    /// `literal` as a whole word: what follows must end the value. Always inlined, so that
    /// the comparison is with a constant rather than a call to `memcmp`.
    #[inline(always)]
    fn literal(&mut self, literal: &str) -> bool {
        self.space();
        let rest = self.rest();
        let found = rest.starts_with(literal.as_bytes())
            && rest
                .get(literal.len())
                .is_none_or(|b| matches!(b, b' ' | b',' | b'}' | b']'));
        if found {
            self.at += literal.len();
        }
        found
    }

    /// `null` as `None`, or what `read` makes of the value.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.literal("null") {
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    /// A string or `null`, borrowed from the line.
    fn text(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.nullable(|c| c.string().map(Cow::Borrowed))
    }

    /// A list of strings or `null`.
    fn strings(&mut self) -> Option<Option<Vec<String>>> {
        self.nullable(|c| c.list(|c| c.string().map(str::to_owned)))
    }

    /// `true`, `false` or `null`.
    fn boolean(&mut self) -> Option<Option<bool>> {
        self.nullable(|c| {
            if c.literal("true") {
                Some(true)
            } else {
                c.literal("false").then_some(false)
            }
        })
    }

    /// `open item, ... close`, each item read by `item`.
    fn items(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.token(open)?;
        if self.eat(close) {
            return Some(());
        }
        loop {
            item(self)?;
            if self.eat(close) {
                return Some(());
            }
            self.token(b',')?;
        }
    }

    /// `[item, ...]`, each read by `item`.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        self.items(b'[', b']', |c| {
            out.push(item(c)?);
            Some(())
        })?;
        Some(out)
    }

    /// A port as a plain number up to 65535 or a string [`parse_port_range`] reads: other
    /// numbers and strings are errors, and those are serde_json's to report.
    fn port(&mut self) -> Option<PortRange> {
        self.space();
        if self.rest().first() == Some(&b'"') {
            return parse_port_range(self.string()?);
        }
        let digits = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let after = self.rest().get(digits);
        if digits == 0
            || digits > 5
            || (digits > 1 && self.rest()[0] == b'0')
            || after.is_some_and(|b| !matches!(b, b' ' | b',' | b']'))
        {
            return None;
        }
        let n: u16 = self.text[self.at..self.at + digits].parse().ok()?;
        self.at += digits;
        Some(PortRange { lo: n, hi: n })
    }

    /// `{"key": "value", ...}`, borrowed, a later value of a key replacing an earlier in
    /// its place, as serde does with a map. Tags are few, so a key is looked for among
    /// the earlier ones in turn; a line with more than [`MANY_TAGS`] is left to serde.
    fn tags(&mut self) -> Option<Tags<'a>> {
        let mut out = Tags::new();
        self.items(b'{', b'}', |c| {
            let key = c.string()?;
            c.token(b':')?;
            let value = Cow::Borrowed(c.string()?);
            if out.len() >= MANY_TAGS {
                return None;
            }
            match out.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => out.push((Cow::Borrowed(key), value)),
            }
            Some(())
        })?;
        Some(out)
    }

    /// Any JSON value, kept as its text: serde_json reads it, so `props` holds exactly what
    /// it would.
    fn raw(&mut self) -> Option<&'a RawValue> {
        self.space();
        // serde_json stops at a depth of nesting that counts the line's own object, and a
        // value read on its own would go one deeper: a value that could be nested that
        // deep is left to it.
        if memchr::memchr2_iter(b'{', b'[', self.rest()).count() >= DEEP_ENOUGH {
            return None;
        }
        let mut values =
            serde_json::Deserializer::from_str(&self.text[self.at..]).into_iter::<&RawValue>();
        let raw = values.next()?.ok()?;
        self.at += values.byte_offset();
        Some(raw)
    }

    /// The value of field number `field` (as [`field`] gives it) into `line`.
    fn value(&mut self, l: &mut Line<'a>, field: usize) -> Option<()> {
        match field {
            0 => l.ty = self.text()?,
            1 => l.id = self.text()?,
            2 => l.kind = self.text()?,
            3 => l.name = self.text()?,
            4 => l.parent = self.text()?,
            5 => l.tags = self.nullable(Self::tags)?,
            6 => l.props = self.nullable(Self::raw)?,
            7 => l.attached_to = self.strings()?,
            8 => l.group = self.text()?,
            9 => l.member = self.text()?,
            10 => l.privileged = self.boolean()?,
            11 => l.actions = self.strings()?,
            12 => l.principal = self.text()?,
            13 => l.role = self.text()?,
            14 => l.scope = self.text()?,
            15 => l.condition = self.text()?,
            16 => l.resource = self.text()?,
            17 => l.from = self.text()?,
            18 => l.to = self.text()?,
            19 => l.ports = self.nullable(|c| c.list(Self::port))?,
            20 => l.protocol = self.text()?,
            21 => l.via = self.text()?,
            22 => l.class = self.text()?,
            23 => l.title = self.text()?,
            24 => l.severity = self.text()?,
            25 => l.state = self.text()?,
            26 => l.category = self.text()?,
            27 => l.techniques = self.strings()?,
            28 => l.first_seen = self.text()?,
            29 => l.last_seen = self.text()?,
            30 => l.source_id = self.text()?,
            31 => l.taken_at = self.text()?,
            32 => l.label = self.text()?,
            33 => l.tenant = self.text()?,
            _ => l.source = self.text()?,
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scanner's fields, if it reads `text`, checked against serde_json's.
    fn plain_agrees(text: &str) -> Option<Line<'_>> {
        let mut line = Line::default();
        plain(text, &mut line)?;
        let Ok(want) = serde_json::from_str::<Line>(text) else {
            panic!("the scanner read a line serde_json refuses: {text}");
        };
        assert_eq!(format!("{line:?}"), format!("{want:?}"), "{text}");
        Some(line)
    }

    /// `Line::read` and serde_json on `text`, as comparable text: fields or the error.
    fn read_and_serde_json(text: &str) -> (Result<String, String>, Result<String, String>) {
        let show =
            |r: serde_json::Result<Line>| r.map(|l| format!("{l:?}")).map_err(|e| e.to_string());
        (
            show(Line::read(text)),
            show(serde_json::from_str::<Line>(text)),
        )
    }

    fn shipped_lines() -> Vec<String> {
        let mut files = vec![std::path::PathBuf::from("fixtures/demo/estate.jsonl")];
        for rule in std::fs::read_dir("fixtures/rules").unwrap() {
            for f in std::fs::read_dir(rule.unwrap().path()).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "jsonl") {
                    files.push(f);
                }
            }
        }
        let lines: Vec<String> = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(lines.len() > 500, "{} lines", lines.len());
        lines
    }

    #[test]
    fn the_shipped_estates_are_read_by_the_scanner_as_serde_json_reads_them() {
        let lines = shipped_lines();
        let plain = lines.iter().filter(|l| plain_agrees(l).is_some()).count();
        // Only lines with escapes or fields the format does not have are left over.
        assert!(
            plain * 100 >= lines.len() * 99,
            "{plain} of {}",
            lines.len()
        );
    }

    #[test]
    fn every_kind_of_field_is_read_in_the_plain_form() {
        let text = r#"{"type":"resource","id":"/s/1/é","kind":"k","name":null,"tags":{"a":"1","b":"2","a":"3"},"props":{"x":[1,{"y":"\"z"}],"n":-1.5e3},"attached_to":["a","b"],"privileged":true,"actions":[],"ports":[22,"80","5985-5986","*",0],"techniques":null,"title":"","source":"s"}"#;
        let line = plain_agrees(text).unwrap();
        assert_eq!(
            line.props.unwrap().get(),
            r#"{"x":[1,{"y":"\"z"}],"n":-1.5e3}"#
        );
        assert_eq!(
            line.tags.unwrap().into_iter().collect::<Vec<_>>(),
            [("a".into(), "3".into()), ("b".into(), "2".into())]
        );
        assert_eq!(line.ports.unwrap().len(), 5);
        let spaced = r#" { "type" : "reach" , "from" : "a" , "to" : "b" , "ports" : [ 443 , 8443 ] , "privileged" : false } "#;
        assert_eq!(plain_agrees(spaced).unwrap().privileged, Some(false));
        assert!(plain_agrees("{}").is_some());
    }

    #[test]
    fn what_the_scanner_leaves_goes_to_serde_json() {
        let nest = |k: usize| format!("{}{}", "[".repeat(k), "]".repeat(k));
        let deep = format!(r#"{{"type":"resource","props":{}}}"#, nest(130));
        // More tags than the scanner compares keys for; one key given twice.
        let tags: Vec<String> = (0..=MANY_TAGS)
            .map(|i| format!(r#""k{}":"v{i}""#, i % MANY_TAGS))
            .collect();
        let many_tags = format!(r#"{{"type":"resource","tags":{{{}}}}}"#, tags.join(","));
        for text in [
            r#"{"type":"resource","id":"a\"b"}"#,
            r#"{"type":"resource","id":"a","id":"b"}"#,
            r#"{"type":"resource","unknown":1}"#,
            "{\"type\":\"resource\",\t\"id\":\"a\"}",
            "{\"type\":\"resource\",\"id\":\"a\u{1}\"}",
            r#"{"type":"resource","id":5}"#,
            r#"{"type":"resource","id":"a",}"#,
            r#"{"type":"resource","id":"a"} x"#,
            r#"{"type":"resource","id":nullx}"#,
            r#"{"type":"reach","ports":[70000]}"#,
            r#"{"type":"reach","ports":[65536]}"#,
            r#"{"type":"reach","ports":[022]}"#,
            r#"{"type":"reach","ports":[22.0]}"#,
            r#"{"type":"reach","ports":[-1]}"#,
            r#"{"type":"reach","ports":["5-3"]}"#,
            r#"{"type":"reach","ports":[22,]}"#,
            r#"{"type":"identity","attached_to":["a",null]}"#,
            r#"{"type":"resource","tags":{"a":null}}"#,
            r#"{"type":"role","privileged":"yes"}"#,
            r#"{"type":"resource","id":"a""#,
            r#"{"type":"resource","props":{"a":}}"#,
            deep.as_str(),
            many_tags.as_str(),
        ] {
            assert!(plain(text, &mut Line::default()).is_none(), "{text}");
            let (read, want) = read_and_serde_json(text);
            assert_eq!(read, want, "{text}");
        }
    }

    #[test]
    fn props_nested_to_serde_jsons_limit_read_as_it_reads_them() {
        // The limit counts the line's own object, and the nesting starts after the first
        // thousand bytes of the value.
        for k in 100..140 {
            let nest = format!("{}{}", "[".repeat(k), "]".repeat(k));
            let text = format!(
                r#"{{"type":"resource","props":{{"a":"{}","b":{nest}}}}}"#,
                "x".repeat(1000)
            );
            let (read, want) = read_and_serde_json(&text);
            assert_eq!(read, want, "nested {k} deep");
        }
    }

    /// A value for any field: plain strings and the rest, escapes, control characters and
    /// malformed text among them.
    fn value() -> impl Strategy<Value = String> {
        let text = "[a-z/ \"\\\\\té\u{1}-]{0,6}";
        let leaf = prop_oneof![
            text.prop_map(|s| format!("\"{s}\"")),
            text.prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            "-?[0-9]{1,6}(\\.[0-9])?".prop_map(|s| s),
            Just("\"5985-5986\"".to_string()),
            Just("\"*\"".to_string()),
        ];
        leaf.prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(("[a-c]{1,2}", inner), 0..4).prop_map(|v| {
                    let pairs: Vec<String> =
                        v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", pairs.join(","))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the scanner reads, serde_json reads too, to the same fields.
        #[test]
        fn the_scanner_reads_only_what_serde_json_reads_and_alike(
            fields in proptest::collection::vec((0usize..37, value(), "[ \t]{0,1}"), 0..7),
            cut in proptest::option::weighted(0.1, 0usize..200),
        ) {
            let names = ["type", "id", "kind", "name", "parent", "tags", "props", "attached_to",
                "group", "member", "privileged", "actions", "principal", "role", "scope", "condition",
                "resource", "from", "to", "ports", "protocol", "via", "class", "title", "severity",
                "state", "category", "techniques", "first_seen", "last_seen", "source_id",
                "taken_at", "label", "tenant", "source", "Type", "other"];
            let body: Vec<String> = fields
                .iter()
                .map(|(f, v, space)| format!("{space}\"{}\"{space}:{space}{v}", names[*f]))
                .collect();
            let mut text = format!("{{{}}}", body.join(","));
            if let Some(cut) = cut {
                let mut at = cut.min(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            plain_agrees(&text);
        }
    }
}
