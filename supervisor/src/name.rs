//! What a service or task name may be: the rule `#[supervised(name = "...")]`
//! checks at compile time, for names that arrive at run time.

/// Checks `name` against the attribute's rule: non-empty, no whitespace, no
/// control characters. The `Err` is a short reason that reads after the
/// name, e.g. "the name \"a b\" contains whitespace".
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    // The common case, a printable ASCII name, in one pass over the bytes
    // (every service start checks its name).
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    if name.is_empty() {
        Err("is empty")
    } else if name.chars().any(char::is_whitespace) {
        Err("contains whitespace")
    } else if name.chars().any(char::is_control) {
        Err("contains a control character")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn the_attribute_rule() {
        for good in [
            "ticker",
            "a",
            "payments-eu_west.2",
            "数据库",
            "🚀",
            "e\u{301}",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
        assert_eq!(check_name(""), Err("is empty"));
        for spaced in [
            "a b",
            " a",
            "a\t",
            "line\nbreak",
            "nbsp\u{a0}",
            "ideographic\u{3000}",
        ] {
            assert_eq!(check_name(spaced), Err("contains whitespace"), "{spaced:?}");
        }
        for control in [
            "nul\0",
            "\u{1b}[31mred",
            "bell\u{7}",
            "del\u{7f}",
            "csi\u{9b}",
        ] {
            assert_eq!(
                check_name(control),
                Err("contains a control character"),
                "{control:?}"
            );
        }
    }
}
