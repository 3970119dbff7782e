//! The `Link` response header (RFC 8288), parsed far enough to find the `rel="next"` page.
//!
//! GitHub writes `<https://api.github.com/...&page=2>; rel="next", <...&page=5>; rel="last"`, but the grammar allows
//! more: several header fields, spaces around separators, unquoted or quoted parameter values (with `\` escapes),
//! commas inside quotes and URIs, several relation types in one `rel` (`rel="next last"`), and other parameters. This
//! parser reads that grammar instead of splitting on commas.

/// Why a `Link` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The header value is not visible ASCII / UTF-8 text.
    #[error("not UTF-8 text")]
    NotText,
    /// The value does not follow `<uri>; param=value, ...`.
    #[error("malformed at byte {at}: {expected}")]
    Malformed {
        /// Byte offset in the header value where the grammar broke.
        at: usize,
        /// What the parser expected there.
        expected: &'static str,
    },
}

/// Returns the target of the first link with relation type `rel` (compared ASCII case-insensitively) across all the
/// given `Link` header values (RFC 8288), or `None` when there is none: the next page of a paginated API.
///
/// ```
/// use spark_integrations::poll::find_rel;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("link", r#"<https://api.example/events?page=2>; rel="next", <https://api.example/events?page=9>; rel="last""#.parse()?);
/// let next = find_rel(headers.get_all(http::header::LINK), "next")?;
/// assert_eq!(next.as_deref(), Some("https://api.example/events?page=2"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`LinkError`] when a value is not text or does not follow the `Link` grammar.
pub fn find_rel<'h>(
    values: impl IntoIterator<Item = &'h http::HeaderValue>,
    rel: &str,
) -> Result<Option<String>, LinkError> {
    for value in values {
        let text = value.to_str().map_err(|_| LinkError::NotText)?;
        for link in parse(text)? {
            if link.rels.iter().any(|candidate| candidate.eq_ignore_ascii_case(rel)) {
                return Ok(Some(link.target.to_owned()));
            }
        }
    }
    Ok(None)
}

/// One link-value: its target and its relation types.
#[derive(Debug, PartialEq, Eq)]
struct Link<'a> {
    target: &'a str,
    rels: Vec<String>,
}

/// Parses one header field value into its link-values.
fn parse(text: &str) -> Result<Vec<Link<'_>>, LinkError> {
    let mut cursor = ResourceCursor { text, at: 0 };
    let mut links = Vec::new();
    loop {
        // Empty list elements (`, ,`) are allowed by the list syntax of RFC 9110.
        cursor.skip_while(|c| c == ',' || is_space(c));
        if cursor.is_done() {
            return Ok(links);
        }
        cursor.expect('<', "`<` opening a link target")?;
        let target = cursor.take_until('>', "`>` closing the link target")?;
        let mut rels = Vec::new();
        loop {
            cursor.skip_while(is_space);
            match cursor.peek() {
                None => break,
                Some(',') => break,
                Some(';') => {
                    cursor.bump();
                    cursor.skip_while(is_space);
                    let name = cursor.take_token();
                    if name.is_empty() {
                        return Err(cursor.malformed("a parameter name"));
                    }
                    cursor.skip_while(is_space);
                    let value = if cursor.peek() == Some('=') {
                        cursor.bump();
                        cursor.skip_while(is_space);
                        if cursor.peek() == Some('"') {
                            cursor.take_quoted()?
                        } else {
                            cursor.take_token().to_owned()
                        }
                    } else {
                        String::new()
                    };
                    // RFC 8288 3.3: a `rel` parameter after the first is ignored.
                    if name.eq_ignore_ascii_case("rel") && rels.is_empty() {
                        rels = value.split_ascii_whitespace().map(str::to_owned).collect();
                    }
                }
                Some(_) => return Err(cursor.malformed("`;` or `,` after a link")),
            }
        }
        links.push(Link { target, rels });
    }
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A position in the header value.
struct ResourceCursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> ResourceCursor<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn is_done(&self) -> bool {
        self.rest().is_empty()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.at += c.len_utf8();
        }
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
    }

    fn malformed(&self, expected: &'static str) -> LinkError {
        LinkError::Malformed { at: self.at, expected }
    }

    fn expect(&mut self, wanted: char, expected: &'static str) -> Result<(), LinkError> {
        if self.peek() == Some(wanted) {
            self.bump();
            Ok(())
        } else {
            Err(self.malformed(expected))
        }
    }

    /// Takes everything up to `end` and steps past `end`.
    fn take_until(&mut self, end: char, expected: &'static str) -> Result<&'a str, LinkError> {
        let rest = self.rest();
        let Some(length) = rest.find(end) else {
            return Err(LinkError::Malformed {
                at: self.text.len(),
                expected,
            });
        };
        self.at += length + end.len_utf8();
        Ok(rest.get(..length).unwrap_or_default())
    }

    /// Takes an RFC 9110 token (or anything up to the next delimiter, to be lenient with odd servers).
    fn take_token(&mut self) -> &'a str {
        let start = self.at;
        self.skip_while(|c| !matches!(c, ';' | ',' | '=' | '"') && !is_space(c));
        self.text.get(start..self.at).unwrap_or_default()
    }

    /// Takes a quoted string starting at `"`, resolving `\` escapes.
    fn take_quoted(&mut self) -> Result<String, LinkError> {
        self.expect('"', "`\"` opening a quoted string")?;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.malformed("`\"` closing a quoted string"));
                }
                Some('"') => {
                    self.bump();
                    return Ok(value);
                }
                Some('\\') => {
                    self.bump();
                    let Some(escaped) = self.peek() else {
                        return Err(self.malformed("a character after `\\`"));
                    };
                    value.push(escaped);
                    self.bump();
                }
                Some(c) => {
                    value.push(c);
                    self.bump();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn next(values: &[&str]) -> Result<Option<String>, LinkError> {
        let values: Vec<HeaderValue> = values.iter().map(|v| HeaderValue::from_str(v).unwrap()).collect();
        find_rel(&values, "next")
    }

    #[test]
    fn github_style_header() {
        let header = "<https://api.github.com/repositories/1/events?per_page=100&page=2>; rel=\"next\", \
                      <https://api.github.com/repositories/1/events?per_page=100&page=3>; rel=\"last\"";
        assert_eq!(
            next(&[header]).unwrap().as_deref(),
            Some("https://api.github.com/repositories/1/events?per_page=100&page=2")
        );
    }

    #[test]
    fn next_not_first_with_spaces_and_unquoted_rel() {
        let header = " <https://x/?page=1> ;rel=prev , <https://x/?page=3>  ;  rel = next ";
        assert_eq!(next(&[header]).unwrap().as_deref(), Some("https://x/?page=3"));
    }

    #[test]
    fn commas_and_semicolons_inside_quotes_and_targets() {
        let header = r#"<https://x/a,b;c>; title="a, b; rel=\"next\""; rel="prev", <https://x/n>; rel="NEXT""#;
        assert_eq!(next(&[header]).unwrap().as_deref(), Some("https://x/n"));
    }

    #[test]
    fn several_relation_types_and_several_fields() {
        assert_eq!(
            next(&["<https://x/1>; rel=\"prev\"", "<https://x/2>; rel=\"last next\""])
                .unwrap()
                .as_deref(),
            Some("https://x/2")
        );
    }

    #[test]
    fn only_the_first_rel_counts() {
        assert_eq!(next(&["<https://x/1>; rel=\"last\"; rel=\"next\""]).unwrap(), None);
    }

    #[test]
    fn no_next() {
        assert_eq!(
            next(&["<https://x/1>; rel=\"prev\", <https://x/1>; rel=\"first\""]).unwrap(),
            None
        );
        assert_eq!(next(&[""]).unwrap(), None);
        assert_eq!(next(&[]).unwrap(), None);
    }

    #[test]
    fn malformed() {
        assert_eq!(
            next(&["https://x/1; rel=\"next\""]),
            Err(LinkError::Malformed {
                at: 0,
                expected: "`<` opening a link target"
            })
        );
        assert!(next(&["<https://x/1; rel=\"next\""]).is_err());
        assert!(next(&["<https://x/1>; rel=\"next"]).is_err());
        assert!(next(&["<https://x/1> rel=next"]).is_err());
        assert!(next(&["<https://x/1>; =next"]).is_err());
    }

    #[test]
    fn not_text() {
        let value = HeaderValue::from_bytes(b"<https://x/\xff>; rel=next").unwrap();
        assert_eq!(find_rel([&value], "next"), Err(LinkError::NotText));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn never_panics(text in "[<>;,=\" a-z\\\\\t]{0,40}") {
            let _ = parse(&text);
        }
    }
}
