//! Building the converters' output strings (keys, URLs, titles) in one allocation of the exact size, without the
//! formatting machinery: these run several times for every converted payload.

/// `parts` joined, in a string allocated once at its final length.
#[inline]
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        joined.push_str(part);
    }
    joined
}

/// The decimal digits of an unsigned integer, on the stack: `Decimal::new(42).as_str() == "42"`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    /// The digits of `value` (at most 20: `u64::MAX` has 20).
    #[inline]
    pub(crate) fn new(mut value: u64) -> Self {
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // `value % 10` is below 10.
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        Self { digits, start }
    }

    /// The digits as text.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits were written from `start` on.
        std::str::from_utf8(&self.digits[self.start..]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits_match_to_string() {
        for value in [0, 7, 10, 99, 100, 583_231, 45_193_146_633, u64::MAX] {
            assert_eq!(Decimal::new(value).as_str(), value.to_string());
        }
    }

    #[test]
    fn concat_joins_in_order() {
        assert_eq!(concat(&["github", ":user:", "1"]), "github:user:1");
        assert_eq!(concat(&[]), "");
    }
}
