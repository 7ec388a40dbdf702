//! The record attribute XML (PEER_RECORD.pwzAttributes) and the schema rules it must follow
//! (record-attribute-schema.md):
//!
//! ```text
//! <attributes><attribute name="N" type="string|date|int">value</attribute>…</attributes>
//! ```
//!
//! Names are alphanumeric (no `-` or `_`), unique, not one of the reserved `peer*` names; an
//! `int` value is a decimal 64-bit integer and a `date` a W3C NOTE-datetime. An empty string means
//! "no attributes". Anything else is PEER_E_INVALID_ATTRIBUTES. The validator allocates nothing.

use super::limits::{MAX_ATTRIBUTE_NAME_LEN, MAX_ATTRIBUTES, MAX_ATTRIBUTES_LEN};

/// Names the platform keeps for itself (compared without regard to case).
pub const RESERVED_NAMES: [&str; 6] = [
    "peerlastmodifiedby",
    "peercreatorid",
    "peerlastmodificationtime",
    "peerrecordid",
    "peerrecordtype",
    "peercreationtime",
];

/// Why an attribute XML is not valid (all map to PEER_E_INVALID_ATTRIBUTES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeError {
    /// More than [`MAX_ATTRIBUTES_LEN`] bytes.
    TooLong,
    /// More than [`MAX_ATTRIBUTES`] attributes.
    TooMany,
    /// Not the `<attributes>` / `<attribute>` structure.
    Malformed,
    /// A name that is empty, too long or not alphanumeric.
    InvalidName,
    /// A reserved name.
    ReservedName,
    /// A name given twice.
    DuplicateName,
    /// A `type` other than string, date or int.
    UnknownType,
    /// An `int` that is not a decimal 64-bit integer.
    InvalidInt,
    /// A `date` that is not a W3C datetime.
    InvalidDate,
    /// An `&` that starts no known entity.
    InvalidEntity,
}

/// The value type of one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    /// `string`.
    String,
    /// `date`.
    Date,
    /// `int`.
    Int,
}

/// Checks `xml` against the attribute schema.
pub fn validate(xml: &str) -> Result<(), AttributeError> {
    if xml.len() > MAX_ATTRIBUTES_LEN {
        return Err(AttributeError::TooLong);
    }
    if xml.trim().is_empty() {
        return Ok(());
    }
    let mut p = Cursor { rest: xml };
    p.skip_ws();
    if p.rest.starts_with("<?xml") {
        let end = p.rest.find("?>").ok_or(AttributeError::Malformed)?;
        p.rest = &p.rest[end + 2..];
        p.skip_ws();
    }
    p.expect("<attributes")?;
    p.skip_ws();
    p.expect(">")?;
    let mut names: [&str; MAX_ATTRIBUTES] = [""; MAX_ATTRIBUTES];
    let mut count = 0;
    loop {
        p.skip_ws();
        if p.rest.starts_with("</attributes") {
            break;
        }
        if count == MAX_ATTRIBUTES {
            return Err(AttributeError::TooMany);
        }
        let name = attribute(&mut p)?;
        if names[..count].iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(AttributeError::DuplicateName);
        }
        names[count] = name;
        count += 1;
    }
    p.expect("</attributes")?;
    p.skip_ws();
    p.expect(">")?;
    p.skip_ws();
    if p.rest.is_empty() { Ok(()) } else { Err(AttributeError::Malformed) }
}

/// One `<attribute name=".." type="..">value</attribute>`; returns its name.
fn attribute<'a>(p: &mut Cursor<'a>) -> Result<&'a str, AttributeError> {
    p.expect("<attribute")?;
    let mut name = None;
    let mut kind = None;
    loop {
        let had_space = p.skip_ws();
        if p.rest.starts_with('>') {
            p.rest = &p.rest[1..];
            break;
        }
        if !had_space {
            return Err(AttributeError::Malformed);
        }
        let (key, value) = p.xml_attribute()?;
        let slot = match key {
            "name" => &mut name,
            "type" => &mut kind,
            _ => return Err(AttributeError::Malformed),
        };
        if slot.replace(value).is_some() {
            return Err(AttributeError::Malformed);
        }
    }
    let name = name.ok_or(AttributeError::Malformed)?;
    check_name(name)?;
    let kind = match kind.ok_or(AttributeError::Malformed)? {
        "string" => AttributeType::String,
        "date" => AttributeType::Date,
        "int" => AttributeType::Int,
        _ => return Err(AttributeError::UnknownType),
    };
    let end = p.rest.find('<').ok_or(AttributeError::Malformed)?;
    let value = &p.rest[..end];
    p.rest = &p.rest[end..];
    check_entities(value)?;
    match kind {
        AttributeType::String => {}
        AttributeType::Int => check_int(value.trim())?,
        AttributeType::Date => check_date(value.trim())?,
    }
    p.expect("</attribute")?;
    p.skip_ws();
    p.expect(">")?;
    Ok(name)
}

fn check_name(name: &str) -> Result<(), AttributeError> {
    if name.is_empty()
        || name.chars().count() > MAX_ATTRIBUTE_NAME_LEN
        || !name.chars().all(char::is_alphanumeric)
    {
        return Err(AttributeError::InvalidName);
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(AttributeError::ReservedName);
    }
    Ok(())
}

/// Every `&` must start `&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;` or a character reference.
fn check_entities(text: &str) -> Result<(), AttributeError> {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        rest = &rest[at + 1..];
        let end = rest.find(';').ok_or(AttributeError::InvalidEntity)?;
        let entity = &rest[..end];
        let known = matches!(entity, "lt" | "gt" | "amp" | "quot" | "apos")
            || entity
                .strip_prefix("#x")
                .map(|hex| !hex.is_empty() && hex.len() <= 6 && hex.chars().all(|c| c.is_ascii_hexdigit()))
                .unwrap_or(false)
            || entity
                .strip_prefix('#')
                .map(|dec| !dec.is_empty() && dec.len() <= 7 && dec.chars().all(|c| c.is_ascii_digit()))
                .unwrap_or(false);
        if !known {
            return Err(AttributeError::InvalidEntity);
        }
        rest = &rest[end + 1..];
    }
    Ok(())
}

fn check_int(value: &str) -> Result<(), AttributeError> {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || value.parse::<i64>().is_err() {
        return Err(AttributeError::InvalidInt);
    }
    Ok(())
}

/// W3C NOTE-datetime: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, then optionally `Thh:mm`, `:ss`, `.s+`,
/// which require a zone designator `Z` or `±hh:mm`.
fn check_date(value: &str) -> Result<(), AttributeError> {
    let bad = AttributeError::InvalidDate;
    let b = value.as_bytes();
    let num = |at: usize, len: usize| -> Result<u32, AttributeError> {
        let digits = b.get(at..at + len).ok_or(bad)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad);
        }
        Ok(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let sep = |at: usize, c: u8| if b.get(at) == Some(&c) { Ok(()) } else { Err(bad) };
    num(0, 4)?;
    if b.len() == 4 {
        return Ok(());
    }
    sep(4, b'-')?;
    let month = num(5, 2)?;
    if !(1..=12).contains(&month) {
        return Err(bad);
    }
    if b.len() == 7 {
        return Ok(());
    }
    sep(7, b'-')?;
    let day = num(8, 2)?;
    if !(1..=31).contains(&day) {
        return Err(bad);
    }
    if b.len() == 10 {
        return Ok(());
    }
    sep(10, b'T')?;
    if num(11, 2)? > 23 {
        return Err(bad);
    }
    sep(13, b':')?;
    if num(14, 2)? > 59 {
        return Err(bad);
    }
    let mut at = 16;
    if b.get(at) == Some(&b':') {
        if num(at + 1, 2)? > 59 {
            return Err(bad);
        }
        at += 3;
        if b.get(at) == Some(&b'.') {
            at += 1;
            let start = at;
            while b.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return Err(bad);
            }
        }
    }
    match b.get(at) {
        Some(b'Z') if b.len() == at + 1 => Ok(()),
        Some(b'+' | b'-') if b.len() == at + 6 => {
            if num(at + 1, 2)? > 23 {
                return Err(bad);
            }
            sep(at + 3, b':')?;
            if num(at + 4, 2)? > 59 {
                return Err(bad);
            }
            Ok(())
        }
        _ => Err(bad),
    }
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    /// Skips XML white space; whether there was any.
    fn skip_ws(&mut self) -> bool {
        let before = self.rest.len();
        self.rest = self.rest.trim_start_matches([' ', '\t', '\r', '\n']);
        self.rest.len() != before
    }

    fn expect(&mut self, token: &str) -> Result<(), AttributeError> {
        self.rest = self.rest.strip_prefix(token).ok_or(AttributeError::Malformed)?;
        Ok(())
    }

    /// `key = "value"` (or single quotes).
    fn xml_attribute(&mut self) -> Result<(&'a str, &'a str), AttributeError> {
        let eq = self.rest.find('=').ok_or(AttributeError::Malformed)?;
        let key = self.rest[..eq].trim_end_matches([' ', '\t', '\r', '\n']);
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(AttributeError::Malformed);
        }
        self.rest = &self.rest[eq + 1..];
        self.skip_ws();
        let quote = match self.rest.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err(AttributeError::Malformed),
        };
        self.rest = &self.rest[1..];
        let end = self.rest.find(quote).ok_or(AttributeError::Malformed)?;
        let value = &self.rest[..end];
        if value.contains(['<', '&']) {
            return Err(AttributeError::Malformed);
        }
        self.rest = &self.rest[end + 1..];
        Ok((key, value))
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;

    use super::*;

    fn one(name: &str, kind: &str, value: &str) -> String {
        format!(r#"<attributes><attribute name="{name}" type="{kind}">{value}</attribute></attributes>"#)
    }

    #[test]
    fn the_documented_forms_are_accepted() {
        assert_eq!(validate(""), Ok(()));
        assert_eq!(validate("<attributes></attributes>"), Ok(()));
        let xml = "<?xml version=\"1.0\"?>\n<attributes>\n  <attribute name='Topic' type='string'>a &amp; b</attribute>\n  \
                   <attribute type=\"int\" name=\"Count\">-42</attribute>\n  \
                   <attribute name=\"When\" type=\"date\">1997-07-16T19:20:30.45+01:00</attribute>\n</attributes>\n";
        assert_eq!(validate(xml), Ok(()));
        for date in ["1997", "1997-07", "1997-07-16", "1997-07-16T19:20Z", "1997-07-16T19:20:30-05:00"] {
            assert_eq!(validate(&one("d", "date", date)), Ok(()), "{date}");
        }
    }

    #[test]
    fn names_must_be_alphanumeric_unique_and_not_reserved() {
        assert_eq!(validate(&one("my-name", "string", "x")), Err(AttributeError::InvalidName));
        assert_eq!(validate(&one("my_name", "string", "x")), Err(AttributeError::InvalidName));
        assert_eq!(validate(&one("", "string", "x")), Err(AttributeError::InvalidName));
        assert_eq!(validate(&one("PeerRecordId", "string", "x")), Err(AttributeError::ReservedName));
        let twice = r#"<attributes><attribute name="a" type="int">1</attribute><attribute name="A" type="int">2</attribute></attributes>"#;
        assert_eq!(validate(twice), Err(AttributeError::DuplicateName));
    }

    #[test]
    fn values_must_match_their_type() {
        assert_eq!(validate(&one("n", "int", "12x")), Err(AttributeError::InvalidInt));
        assert_eq!(validate(&one("n", "int", "99999999999999999999")), Err(AttributeError::InvalidInt));
        assert_eq!(validate(&one("d", "date", "1997-13-01")), Err(AttributeError::InvalidDate));
        assert_eq!(validate(&one("d", "date", "1997-07-16T19:20")), Err(AttributeError::InvalidDate));
        assert_eq!(validate(&one("s", "float", "1.5")), Err(AttributeError::UnknownType));
        assert_eq!(validate(&one("s", "string", "a & b")), Err(AttributeError::InvalidEntity));
    }

    #[test]
    fn structure_is_enforced() {
        for xml in [
            "<attribute name=\"a\" type=\"int\">1</attribute>",
            "<attributes><attribute name=\"a\">1</attribute></attributes>",
            "<attributes><attribute name=\"a\" type=\"int\" extra=\"1\">1</attribute></attributes>",
            "<attributes><attribute name=\"a\" type=\"int\">1</attributes>",
            "<attributes></attributes>trailing",
            "<attributes><attributename=\"a\" type=\"int\">1</attribute></attributes>",
        ] {
            assert_eq!(validate(xml), Err(AttributeError::Malformed), "{xml}");
        }
    }

    #[test]
    fn length_and_count_limits_hold_at_their_edges() {
        let attr = |i: usize| format!("<attribute name=\"a{i}\" type=\"int\">{i}</attribute>");
        let many = |n: usize| format!("<attributes>{}</attributes>", (0..n).map(attr).collect::<String>());
        assert_eq!(validate(&many(MAX_ATTRIBUTES)), Ok(()));
        assert_eq!(validate(&many(MAX_ATTRIBUTES + 1)), Err(AttributeError::TooMany));

        let frame = one("s", "string", "").len();
        let at_limit = one("s", "string", &"x".repeat(MAX_ATTRIBUTES_LEN - frame));
        assert_eq!(at_limit.len(), MAX_ATTRIBUTES_LEN);
        assert_eq!(validate(&at_limit), Ok(()));
        let past = one("s", "string", &"x".repeat(MAX_ATTRIBUTES_LEN - frame + 1));
        assert_eq!(validate(&past), Err(AttributeError::TooLong));

        let name_at = "n".repeat(MAX_ATTRIBUTE_NAME_LEN);
        assert_eq!(validate(&one(&name_at, "int", "1")), Ok(()));
        let name_past = "n".repeat(MAX_ATTRIBUTE_NAME_LEN + 1);
        assert_eq!(validate(&one(&name_past, "int", "1")), Err(AttributeError::InvalidName));
    }
}
