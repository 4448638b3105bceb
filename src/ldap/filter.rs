//! Search filters: a value written into a filter is escaped (RFC 4515),
//! so that an id, a login or a DN taken from an extraction or a command
//! line can only ever be a value, never a wildcard or a sub-filter.

/// `v` as an assertion value of a filter: `*`, `(`, `)`, `\` and NUL as
/// `\2a`, `\28`, `\29`, `\5c`, `\00` (RFC 4515); every other character,
/// non-ASCII included, as is (UTF-8 is valid in a filter string). ldap3's
/// own escaping, so that the crate that sends the filter also decides its
/// grammar.
pub fn escape_filter(v: &str) -> String {
    ldap3::ldap_escape(v).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_only_values() {
        assert_eq!(escape_filter("*"), "\\2a");
        assert_eq!(
            escape_filter("x)(uid=*))(|(a=\\"),
            "x\\29\\28uid=\\2a\\29\\29\\28|\\28a=\\5c"
        );
        assert_eq!(escape_filter("a\0b"), "a\\00b");
        // non-ASCII stays as is
        assert_eq!(escape_filter("Éloïse Cœur"), "Éloïse Cœur");
        assert_eq!(escape_filter(""), "");
    }

    #[test]
    fn escapes_the_five_rfc4515_characters_and_nothing_else() {
        // the rule the hand-written escaping it replaced followed
        let reference = |v: &str| -> String {
            v.chars()
                .map(|c| match c {
                    '*' => "\\2a".to_string(),
                    '(' => "\\28".to_string(),
                    ')' => "\\29".to_string(),
                    '\\' => "\\5c".to_string(),
                    '\0' => "\\00".to_string(),
                    c => c.to_string(),
                })
                .collect()
        };
        for v in [
            "",
            "plain",
            "*",
            "(",
            ")",
            "\\",
            "\0",
            "x)(uid=*))(|(a=\\",
            "uid=AC-X-1,ou=people,dc=example,dc=org",
            "AC-GRENOBLE$1234*",
            "Éloïse*(Cœur)\\\0 ñ 日本",
            "\\2a already escaped",
            " # leading, trailing ",
        ] {
            assert_eq!(escape_filter(v), reference(v), "{v:?}");
        }
    }
}
