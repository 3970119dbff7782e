//! Building the converters' output strings (keys, URLs, titles) in one allocation of the exact size, without the
//! formatting machinery: these run several times for every converted payload. Numbers are written with `itoa`.

/// `parts` joined, in a string allocated once at its final length.
#[inline]
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        joined.push_str(part);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_joins_in_order() {
        assert_eq!(concat(&["github", ":user:", "1"]), "github:user:1");
        assert_eq!(concat(&[]), "");
    }
}
