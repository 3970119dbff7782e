//! Reading the three top-level fields webhook intake needs (`type`, `event_id`, `challenge`) from a signed Events
//! API body, without parsing the rest of it.
//!
//! Intake runs on every delivery, right after the MAC, and Slack bodies can be large: the nested `event` may carry
//! long texts and blocks. A full JSON parse of the body would cost as much as hashing it again, so [`read`] scans the
//! top level only: it skips nested values by bracket depth, jumping over strings with `memchr`. Whenever the body is
//! not the plain case (an escaped key or value, a field that is not a string, a repeated field, anything malformed),
//! it falls back to serde, so the result is always what `serde_json` would give.

use std::borrow::Cow;

use serde::Deserialize;

/// The top-level fields of an Events API body that intake needs; the converter reads the rest.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) challenge: Option<Cow<'a, str>>,
}

/// The envelope of a JSON object body; `None` for any body that is not one (form-encoded slash commands and
/// interactions, or malformed JSON, which the converter then reports with its line and column).
pub(super) fn read(body: &[u8]) -> Option<Envelope<'_>> {
    match scan(body) {
        Scan::Found(envelope) => Some(envelope),
        Scan::Unsure => serde_json::from_slice(body).ok(),
    }
}

enum Scan<'a> {
    /// The body is a well-formed object at the top level, with these fields.
    Found(Envelope<'a>),
    /// Not the plain case: let serde decide.
    Unsure,
}

/// A cursor over the body; every method answers `None` for "not the plain case".
struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.body.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string starting at the cursor, as borrowed text; `None` if it holds an escape or is not valid UTF-8.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + memchr::memchr2(b'"', b'\\', self.body.get(start..)?)?;
        if self.body[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        let text = std::str::from_utf8(&self.body[start..end]).ok()?;
        // Control characters are not allowed unescaped inside JSON strings; serde would refuse them.
        (!text.bytes().any(|byte| byte < 0x20)).then_some(text)
    }

    /// Skips a string whose opening quote is at the cursor, escapes included.
    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            let next = self.at + memchr::memchr2(b'"', b'\\', self.body.get(self.at..)?)?;
            if self.body[next] == b'"' {
                self.at = next + 1;
                return Some(());
            }
            // A backslash escapes the byte after it.
            self.at = next + 2;
        }
    }

    /// Skips one value of any kind, nested ones by bracket depth. Scalars are skipped up to the next delimiter;
    /// their validity is left to serde's fallback only in the sense that a malformed body may still pass here:
    /// see [`scan`] for why that cannot change the answer.
    fn skip_value(&mut self) -> Option<()> {
        self.skip_whitespace();
        let mut depth = 0_usize;
        loop {
            match self.peek()? {
                b'"' => self.skip_string()?,
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.at += 1;
                }
                b',' if depth == 0 => return Some(()),
                _ => self.at += 1,
            }
            if depth == 0 {
                self.skip_whitespace();
                if matches!(self.peek(), Some(b',' | b'}')) {
                    return Some(());
                }
                if matches!(self.peek(), Some(b'"' | b'{' | b'[')) {
                    // Two values in a row at the top of this value: malformed.
                    return None;
                }
            }
        }
    }
}

/// Scans the top level of `body`. Only a body whose top level is an object of plain keys, with each wanted field
/// either absent or a plain string given once, is answered here; everything else goes to serde.
///
/// A body malformed *inside* a skipped value can still be answered here, where serde would refuse the whole body.
/// That only happens for bodies that are not JSON, which Slack never signs; the converter rejects them with their
/// line and column whatever intake found.
fn scan(body: &[u8]) -> Scan<'_> {
    let mut cursor = Cursor { body, at: 0 };
    match scan_object(&mut cursor) {
        Some(envelope) => {
            cursor.skip_whitespace();
            if cursor.at == body.len() {
                Scan::Found(envelope)
            } else {
                Scan::Unsure
            }
        }
        None => Scan::Unsure,
    }
}

fn scan_object<'a>(cursor: &mut Cursor<'a>) -> Option<Envelope<'a>> {
    cursor.expect(b'{')?;
    let mut envelope = Envelope::default();
    cursor.skip_whitespace();
    if cursor.peek()? == b'}' {
        cursor.at += 1;
        return Some(envelope);
    }
    loop {
        let key = cursor.plain_string()?;
        cursor.expect(b':')?;
        let slot = match key {
            "type" => Some(&mut envelope.kind),
            "event_id" => Some(&mut envelope.event_id),
            "challenge" => Some(&mut envelope.challenge),
            _ => None,
        };
        match slot {
            Some(slot) => {
                cursor.skip_whitespace();
                if slot.is_some() || cursor.peek()? != b'"' {
                    // A repeated field, or `null`, a number...: serde's answer may differ, let it decide.
                    return None;
                }
                *slot = Some(Cow::Borrowed(cursor.plain_string()?));
            }
            None => cursor.skip_value()?,
        }
        cursor.skip_whitespace();
        match cursor.peek()? {
            b',' => cursor.at += 1,
            b'}' => {
                cursor.at += 1;
                return Some(envelope);
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(body: &[u8]) -> Option<Envelope<'_>> {
        serde_json::from_slice(body).ok()
    }

    #[test]
    fn plain_envelopes_are_read_without_serde() {
        let body = br#"{"token":"t","event":{"type":"message","text":"a \"quoted\" {brace} [and] \\ more","n":[1,2,{"x":null}]},
            "type":"event_callback","event_id":"Ev123","event_time":1}"#;
        let Scan::Found(envelope) = scan(body) else {
            panic!("the plain case")
        };
        assert_eq!(envelope.kind.as_deref(), Some("event_callback"));
        assert_eq!(envelope.event_id.as_deref(), Some("Ev123"));
        assert_eq!(envelope.challenge, None);
        assert_eq!(Some(envelope), serde(body));
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        for body in [
            &br#"{"type":"event\u005fcallback","event_id":"Ev1"}"#[..],
            br#"{"type":null}"#,
            br#"{"type":"a","type":"b"}"#,
            br#"{"event_id":1}"#,
            br#"{"a":1} trailing"#,
            br#"[1,2]"#,
            b"token=abc&team_id=T1",
            br#"{"a" "b"}"#,
            b"",
        ] {
            assert!(matches!(scan(body), Scan::Unsure), "{}", String::from_utf8_lossy(body));
            assert_eq!(read(body), serde(body));
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
            "[\"\\\\{}\\[\\],:a-z ]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("event_id".to_owned()),
                        Just("challenge".to_owned()),
                        "[a-z\"\\\\]{0,6}"
                    ],
                    inner,
                    0..5,
                )
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// On any JSON value, however written (compact or pretty), the scan gives serde's answer.
        #[test]
        fn read_agrees_with_serde_on_json(
            value in prop_oneof![
                json_value(),
                prop::collection::btree_map(
                    prop_oneof![Just("type".to_owned()), Just("event_id".to_owned()), Just("challenge".to_owned()), "[a-z]{1,6}"],
                    json_value(),
                    0..6,
                ).prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ],
            pretty in any::<bool>(),
        ) {
            let body = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) };
            let body = body.expect("a Value serializes");
            prop_assert_eq!(read(&body), serde(&body));
        }

        /// On arbitrary bytes it never panics.
        #[test]
        fn read_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = read(&body);
        }
    }
}
