//! The record search XML of PeerGroupSearchRecords (record-search-query-format.md) and its
//! evaluation against a record's attribute XML:
//!
//! ```text
//! <peersearch> one of: <and>…</and> | <or>…</or> | <clause attrib="N" type="string|date|int"
//!     compare="equal|notequal|less|greater|lessorequal|greaterorequal">value</clause>
//! ```
//!
//! `and` / `or` hold at least one child. In a string value `*` matches any run and `?` one
//! character; `\*`, `\?` and `\\` stand for themselves, any other `\` sequence is E_INVALIDARG.
//! Anything else malformed is PEER_E_INVALID_SEARCH. A clause on an attribute the record does
//! not have, or of another type, is false. Input is bounded ([`MAX_SEARCH_LEN`],
//! [`MAX_SEARCH_DEPTH`], [`MAX_CLAUSES`]) and the parser never panics (fuzzed:
//! `fuzz_targets/parse_group_search.rs`).

use peerdrt_abi::group::hresult::{E_INVALIDARG, PEER_E_INVALID_SEARCH};

/// Longest search XML accepted (bytes).
pub const MAX_SEARCH_LEN: usize = 8 * 1024;
/// Deepest nesting of `and` / `or`.
pub const MAX_SEARCH_DEPTH: usize = 8;
/// Most clauses in one search.
pub const MAX_CLAUSES: usize = 64;

/// Why a search was refused: the HRESULT PeerGroupSearchRecords returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchError(pub u32);

const INVALID: SearchError = SearchError(PEER_E_INVALID_SEARCH);

/// A value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `string`.
    String,
    /// `date`.
    Date,
    /// `int`.
    Int,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `equal`.
    Equal,
    /// `notequal`.
    NotEqual,
    /// `less`.
    Less,
    /// `greater`.
    Greater,
    /// `lessorequal`.
    LessOrEqual,
    /// `greaterorequal`.
    GreaterOrEqual,
}

/// One piece of a string pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A literal character (an escaped `*`, `?` or `\\` included).
    Char(char),
    /// `*`: any run of characters.
    AnyRun,
    /// `?`: one character.
    AnyOne,
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// Every child holds.
    And(Vec<Search>),
    /// Some child holds.
    Or(Vec<Search>),
    /// An attribute compared with a value.
    Clause {
        /// The attribute's name.
        attribute: String,
        /// Its type.
        value_type: ValueType,
        /// The comparison.
        compare: Compare,
        /// The value as written (entities decoded).
        value: String,
        /// A string value as a pattern (wildcards and escapes resolved).
        pattern: Vec<Piece>,
    },
}

/// A tag's `name="value"` pairs, and whether it closed itself (`/>`).
type Tag<'a> = (Vec<(&'a str, String)>, bool);

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }
    fn eat(&mut self, s: &str) -> bool {
        match self.rest.strip_prefix(s) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }
    fn expect(&mut self, s: &str) -> Result<(), SearchError> {
        if self.eat(s) { Ok(()) } else { Err(INVALID) }
    }
    /// `name="value"` pairs up to `>`; returns them and whether the tag closed itself (`/>`).
    fn attributes(&mut self) -> Result<Tag<'a>, SearchError> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.eat("/>") {
                return Ok((out, true));
            }
            if self.eat(">") {
                return Ok((out, false));
            }
            let end = self.rest.find('=').ok_or(INVALID)?;
            let name = self.rest[..end].trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) || out.len() >= 8 {
                return Err(INVALID);
            }
            self.rest = self.rest[end + 1..].trim_start();
            let quote = if self.eat("\"") {
                '"'
            } else if self.eat("'") {
                '\''
            } else {
                return Err(INVALID);
            };
            let close = self.rest.find(quote).ok_or(INVALID)?;
            out.push((name, decode_entities(&self.rest[..close])?));
            self.rest = &self.rest[close + 1..];
        }
    }
}

fn decode_entities(s: &str) -> Result<String, SearchError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (entity, ch) = [("&lt;", '<'), ("&gt;", '>'), ("&amp;", '&'), ("&quot;", '"'), ("&apos;", '\'')]
            .into_iter()
            .find(|(e, _)| rest.starts_with(e))
            .ok_or(INVALID)?;
        out.push(ch);
        rest = &rest[entity.len()..];
    }
    if rest.contains('<') {
        return Err(INVALID);
    }
    out.push_str(rest);
    Ok(out)
}

fn pattern_of(value: &str) -> Result<Vec<Piece>, SearchError> {
    let mut out = Vec::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Piece::AnyRun,
            '?' => Piece::AnyOne,
            '\\' => match chars.next() {
                Some(e @ ('*' | '?' | '\\')) => Piece::Char(e),
                _ => return Err(SearchError(E_INVALIDARG)),
            },
            c => Piece::Char(c),
        });
    }
    Ok(out)
}

fn node(p: &mut Cursor<'_>, depth: usize, clauses: &mut usize) -> Result<Search, SearchError> {
    p.skip_ws();
    for (tag, is_and) in [("<and", true), ("<or", false)] {
        if p.rest.starts_with(tag) && p.rest[tag.len()..].starts_with(|c: char| c == '>' || c.is_whitespace())
        {
            p.rest = &p.rest[tag.len()..];
            if depth >= MAX_SEARCH_DEPTH {
                return Err(INVALID);
            }
            let (attrs, closed) = p.attributes()?;
            if closed || !attrs.is_empty() {
                return Err(INVALID);
            }
            let close = if is_and { "</and>" } else { "</or>" };
            let mut children = Vec::new();
            loop {
                p.skip_ws();
                if p.eat(close) {
                    break;
                }
                children.push(node(p, depth + 1, clauses)?);
            }
            if children.is_empty() {
                return Err(INVALID);
            }
            return Ok(if is_and { Search::And(children) } else { Search::Or(children) });
        }
    }
    p.expect("<clause")?;
    *clauses += 1;
    if *clauses > MAX_CLAUSES {
        return Err(INVALID);
    }
    let (attrs, closed) = p.attributes()?;
    let get = |n: &str| {
        let mut found = attrs.iter().filter(|(k, _)| *k == n);
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Ok(v.as_str()),
            _ => Err(INVALID),
        }
    };
    if attrs.len() != 3 {
        return Err(INVALID);
    }
    let attribute = get("attrib")?.to_owned();
    let value_type = match get("type")? {
        "string" => ValueType::String,
        "date" => ValueType::Date,
        "int" => ValueType::Int,
        _ => return Err(INVALID),
    };
    let compare = match get("compare")? {
        "equal" => Compare::Equal,
        "notequal" => Compare::NotEqual,
        "less" => Compare::Less,
        "greater" => Compare::Greater,
        "lessorequal" => Compare::LessOrEqual,
        "greaterorequal" => Compare::GreaterOrEqual,
        _ => return Err(INVALID),
    };
    let raw = if closed {
        ""
    } else {
        let end = p.rest.find("</clause>").ok_or(INVALID)?;
        let raw = &p.rest[..end];
        p.rest = &p.rest[end + "</clause>".len()..];
        raw
    };
    let value = decode_entities(raw)?;
    let pattern = if value_type == ValueType::String { pattern_of(&value)? } else { Vec::new() };
    match value_type {
        ValueType::Int if value.trim().parse::<i64>().is_err() => return Err(INVALID),
        ValueType::Date if date_key(value.trim()).is_none() => return Err(INVALID),
        _ => {}
    }
    Ok(Search::Clause { attribute, value_type, compare, value, pattern })
}

impl Search {
    /// Parses a search.
    pub fn parse(xml: &str) -> Result<Search, SearchError> {
        if xml.len() > MAX_SEARCH_LEN {
            return Err(INVALID);
        }
        let mut p = Cursor { rest: xml };
        p.skip_ws();
        if p.rest.starts_with("<?xml") {
            let end = p.rest.find("?>").ok_or(INVALID)?;
            p.rest = &p.rest[end + 2..];
            p.skip_ws();
        }
        p.expect("<peersearch")?;
        let (attrs, closed) = p.attributes()?;
        if closed || !attrs.is_empty() {
            return Err(INVALID);
        }
        let mut clauses = 0;
        let search = node(&mut p, 0, &mut clauses)?;
        p.skip_ws();
        p.expect("</peersearch>")?;
        p.skip_ws();
        if !p.rest.is_empty() {
            return Err(INVALID);
        }
        Ok(search)
    }

    /// Whether a record with these attributes (`(name, type, value)`) matches.
    pub fn matches(&self, attributes: &[(String, String, String)]) -> bool {
        match self {
            Search::And(c) => c.iter().all(|s| s.matches(attributes)),
            Search::Or(c) => c.iter().any(|s| s.matches(attributes)),
            Search::Clause { attribute, value_type, compare, value, pattern } => {
                let type_name = match value_type {
                    ValueType::String => "string",
                    ValueType::Date => "date",
                    ValueType::Int => "int",
                };
                let Some((_, _, have)) =
                    attributes.iter().find(|(n, t, _)| n.eq_ignore_ascii_case(attribute) && t == type_name)
                else {
                    return false;
                };
                let order = match value_type {
                    ValueType::String if matches!(compare, Compare::Equal | Compare::NotEqual) => {
                        let equal = glob(pattern, &have.chars().collect::<Vec<_>>());
                        return equal == (*compare == Compare::Equal);
                    }
                    ValueType::String => {
                        let literal: String = pattern
                            .iter()
                            .map(|p| match p {
                                Piece::Char(c) => *c,
                                Piece::AnyRun => '*',
                                Piece::AnyOne => '?',
                            })
                            .collect();
                        have.as_str().cmp(literal.as_str())
                    }
                    ValueType::Int => match (have.trim().parse::<i64>(), value.trim().parse::<i64>()) {
                        (Ok(a), Ok(b)) => a.cmp(&b),
                        _ => return false,
                    },
                    ValueType::Date => match (date_key(have.trim()), date_key(value.trim())) {
                        (Some(a), Some(b)) => a.cmp(&b),
                        _ => return false,
                    },
                };
                use std::cmp::Ordering::*;
                match compare {
                    Compare::Equal => order == Equal,
                    Compare::NotEqual => order != Equal,
                    Compare::Less => order == Less,
                    Compare::Greater => order == Greater,
                    Compare::LessOrEqual => order != Greater,
                    Compare::GreaterOrEqual => order != Less,
                }
            }
        }
    }
}

/// Whether `text` matches `pattern` (iterative, with one backtrack point: linear-ish, no
/// recursion, so a hostile pattern cannot blow the stack).
fn glob(pattern: &[Piece], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::AnyOne) => (p, t) = (p + 1, t + 1),
            Some(Piece::Char(c)) if *c == text[t] => (p, t) = (p + 1, t + 1),
            Some(Piece::AnyRun) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    (p, t) = (sp + 1, st + 1);
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|x| *x == Piece::AnyRun)
}

/// A W3C NOTE-datetime (`YYYY[-MM[-DD[Thh:mm[:ss[.s…]]TZD]]]`) as seconds-and-nanoseconds since
/// 0000-03-01 UTC, for ordering; None if it is not one.
pub fn date_key(s: &str) -> Option<(i64, u32)> {
    let num = |t: &str, n: usize| -> Option<i64> {
        let digits = t.as_bytes().get(..n)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        t.get(..n)?.parse().ok()
    };
    let year = num(s, 4)?;
    let mut rest = &s[4..];
    let (mut month, mut day, mut seconds, mut nanos) = (1, 1, 0i64, 0u32);
    if let Some(r) = rest.strip_prefix('-') {
        month = num(r, 2)?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('-') {
            day = num(r, 2)?;
            rest = &r[2..];
            if let Some(r) = rest.strip_prefix('T') {
                let (h, m) = (num(r, 2)?, num(r.get(3..)?, 2)?);
                if r.as_bytes().get(2) != Some(&b':') || h > 23 || m > 59 {
                    return None;
                }
                seconds = h * 3600 + m * 60;
                rest = &r[5..];
                if let Some(r) = rest.strip_prefix(':') {
                    let sec = num(r, 2)?;
                    if sec > 60 {
                        return None;
                    }
                    seconds += sec;
                    rest = &r[2..];
                    if let Some(r) = rest.strip_prefix('.') {
                        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                        if digits == 0 {
                            return None;
                        }
                        let frac = &r[..digits.min(9)];
                        nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
                        rest = &r[digits..];
                    }
                }
                if let Some(r) = rest.strip_prefix('Z') {
                    rest = r;
                } else {
                    let sign = match rest.as_bytes().first()? {
                        b'+' => 1,
                        b'-' => -1,
                        _ => return None,
                    };
                    let (oh, om) = (num(&rest[1..], 2)?, num(rest.get(4..)?, 2)?);
                    if rest.as_bytes().get(3) != Some(&b':') || oh > 23 || om > 59 {
                        return None;
                    }
                    seconds -= sign * (oh * 3600 + om * 60);
                    rest = &rest[6..];
                }
            }
        }
    }
    if !rest.is_empty() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 0000-03-01 (civil calendar, March-based years).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let days =
        365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400) + (153 * m + 2) / 5 + day - 1;
    Some((days * 86_400 + seconds, nanos))
}

/// The `(name, type, value)` of each attribute of a record's attribute XML (already valid: the
/// engine checked it against the schema); an unreadable one yields what was read before it.
pub fn attributes_of(xml: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut p = Cursor { rest: xml };
    while let Some(i) = p.rest.find("<attribute") {
        p.rest = &p.rest[i + "<attribute".len()..];
        if p.rest.starts_with('s') {
            continue; // the <attributes> root
        }
        let Ok((attrs, closed)) = p.attributes() else { break };
        let get = |n: &str| attrs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        let (Some(name), Some(kind)) = (get("name"), get("type")) else { break };
        let value = if closed {
            String::new()
        } else {
            let Some(end) = p.rest.find("</attribute>") else { break };
            let Ok(v) = decode_entities(&p.rest[..end]) else { break };
            p.rest = &p.rest[end..];
            v
        };
        out.push((name, kind, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(xml: &str) -> Vec<(String, String, String)> {
        attributes_of(xml)
    }

    const RECORD: &str = r#"<attributes><attribute name="title" type="string">Hello *world*</attribute><attribute name="size" type="int">42</attribute><attribute name="when" type="date">2024-05-01T10:00:00Z</attribute></attributes>"#;

    fn find(search: &str) -> bool {
        Search::parse(search).unwrap().matches(&attrs(RECORD))
    }

    #[test]
    fn attributes_are_read_from_the_record_xml() {
        assert_eq!(attrs(RECORD)[1], ("size".into(), "int".into(), "42".into()));
        assert_eq!(attrs(RECORD).len(), 3);
    }

    #[test]
    fn clauses_compare_strings_ints_and_dates() {
        let clause = |a: &str, t: &str, c: &str, v: &str| {
            format!(r#"<peersearch><clause attrib="{a}" type="{t}" compare="{c}">{v}</clause></peersearch>"#)
        };
        assert!(find(&clause("title", "string", "equal", "Hello*")));
        assert!(find(&clause("title", "string", "equal", "Hello \\*world\\*")));
        assert!(!find(&clause("title", "string", "equal", "Hello \\*w")));
        assert!(find(&clause("title", "string", "equal", "H?llo*")));
        assert!(find(&clause("title", "string", "notequal", "Bye")));
        assert!(find(&clause("size", "int", "greater", "41")) && !find(&clause("size", "int", "less", "42")));
        assert!(find(&clause("size", "int", "lessorequal", "42")));
        assert!(find(&clause("when", "date", "equal", "2024-05-01T12:00:00+02:00")));
        assert!(find(&clause("when", "date", "greater", "2024-05-01")));
        assert!(!find(&clause("missing", "string", "equal", "*")), "an absent attribute");
        assert_eq!(date_key("20\u{118}4"), None, "a non-ASCII character inside a date (found by fuzzing)");
        assert_eq!(date_key("2024-05-01T10:0\u{118}"), None);
        assert!(!find(&clause("size", "string", "equal", "42")), "another type");
    }

    #[test]
    fn and_or_combine_clauses() {
        let s = r#"<?xml version="1.0"?><peersearch><or><clause attrib="size" type="int" compare="equal">1</clause>
            <and><clause attrib="size" type="int" compare="equal">42</clause><clause attrib="title" type="string" compare="equal">Hello*</clause></and></or></peersearch>"#;
        assert!(find(s));
        let s = r#"<peersearch><and><clause attrib="size" type="int" compare="equal">42</clause><clause attrib="title" type="string" compare="equal">x</clause></and></peersearch>"#;
        assert!(!find(s));
    }

    #[test]
    fn malformed_searches_are_refused() {
        for bad in [
            "",
            "<peersearch></peersearch>",
            "<peersearch><and></and></peersearch>",
            r#"<peersearch><clause attrib="a" type="float" compare="equal">1</clause></peersearch>"#,
            r#"<peersearch><clause attrib="a" type="int" compare="like">1</clause></peersearch>"#,
            r#"<peersearch><clause attrib="a" type="int" compare="equal">x</clause></peersearch>"#,
            r#"<peersearch><clause attrib="a" type="date" compare="equal">2024-13-01</clause></peersearch>"#,
            r#"<peersearch><clause attrib="a" type="string" compare="equal">1</clause><clause attrib="a" type="string" compare="equal">1</clause></peersearch>"#,
            r#"<peersearch><clause attrib="a" attrib="b" type="string" compare="equal">1</clause></peersearch>"#,
            r#"<peersearch><clause attrib="a" type="string" compare="equal">&bogus;</clause></peersearch>"#,
        ] {
            assert_eq!(Search::parse(bad), Err(SearchError(PEER_E_INVALID_SEARCH)), "{bad}");
        }
        let bad_escape =
            r#"<peersearch><clause attrib="a" type="string" compare="equal">a\b</clause></peersearch>"#;
        assert_eq!(Search::parse(bad_escape), Err(SearchError(E_INVALIDARG)));
    }

    fn nested(depth: usize) -> String {
        let clause = r#"<clause attrib="a" type="int" compare="equal">1</clause>"#;
        format!("<peersearch>{}{clause}{}</peersearch>", "<and>".repeat(depth), "</and>".repeat(depth))
    }

    fn clauses(n: usize) -> String {
        let clause = r#"<clause attrib="a" type="int" compare="equal">1</clause>"#;
        format!("<peersearch><or>{}</or></peersearch>", clause.repeat(n))
    }

    #[test]
    fn limits_hold_at_and_past_their_edges() {
        assert!(Search::parse(&nested(MAX_SEARCH_DEPTH)).is_ok());
        assert_eq!(Search::parse(&nested(MAX_SEARCH_DEPTH + 1)), Err(INVALID));
        assert!(Search::parse(&clauses(MAX_CLAUSES)).is_ok());
        assert_eq!(Search::parse(&clauses(MAX_CLAUSES + 1)), Err(INVALID));
        let base = clauses(1);
        let padded = |n: usize| base.replace("<or>", &format!("<or>{}", " ".repeat(n - base.len())));
        assert!(Search::parse(&padded(MAX_SEARCH_LEN)).is_ok());
        assert_eq!(Search::parse(&padded(MAX_SEARCH_LEN + 1)), Err(INVALID));
    }
}
