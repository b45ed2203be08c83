//! Checks on raw input that every API makes the same way.

/// What every API answers when a body carries a NUL character.
pub const NUL_REFUSED: &str =
    "must not contain the NUL character (\\u0000): PostgreSQL cannot store it";

/// Whether a JSON text holds a NUL character in a string. JSON can carry one only as the
/// escape `\u0000` (a raw control character is invalid), and PostgreSQL stores it neither in
/// `text` nor in `jsonb`: recorded in an event, it would be an event no read model can apply.
pub fn json_holds_nul(body: &[u8]) -> bool {
    memchr::memmem::find_iter(body, br"\u0000").any(|backslash| {
        // An escape when an odd number of backslashes stands right before the `u`: `\\u0000`
        // is a backslash and the text `u0000`.
        let run = body[..=backslash]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        run % 2 == 1
    })
}

#[cfg(test)]
mod tests {
    use super::json_holds_nul;

    #[test]
    fn only_an_escaped_nul_counts() {
        assert!(json_holds_nul(br#"{"name": "a\u0000b"}"#));
        assert!(json_holds_nul(br#"{"name": "\\\u0000"}"#));
        assert!(
            !json_holds_nul(br#"{"name": "a\\u0000b"}"#),
            "a backslash, then text"
        );
        assert!(!json_holds_nul(br#"{"name": "u0000", "n": "\u0001"}"#));
        assert!(!json_holds_nul(b""));
    }
}
