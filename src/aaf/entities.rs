//! Entity references that real extracts carry although no DTD declares them.
//!
//! Some files contain HTML named entities (`&eacute;`) and values escaped
//! twice (`D&amp;apos;ETABLISSEMENT`, i.e. `D&apos;ETABLISSEMENT` after XML
//! decoding). Both are resolved here, from a fixed table: nothing is ever
//! fetched and no declared entity is expanded.

/// Resolves an entity name (without `&` and `;`): the five XML entities, the
/// HTML 4 Latin-1 and special entities, and numeric references.
pub fn resolve(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    let code = match name {
        "amp" => 38,
        "lt" => 60,
        "gt" => 62,
        "quot" => 34,
        "apos" => 39,
        "OElig" => 338,
        "oelig" => 339,
        "Scaron" => 352,
        "scaron" => 353,
        "Yuml" => 376,
        "Zcaron" => 381,
        "zcaron" => 382,
        "circ" => 710,
        "tilde" => 732,
        "ensp" => 8194,
        "emsp" => 8195,
        "thinsp" => 8201,
        "ndash" => 8211,
        "mdash" => 8212,
        "lsquo" => 8216,
        "rsquo" => 8217,
        "sbquo" => 8218,
        "ldquo" => 8220,
        "rdquo" => 8221,
        "bdquo" => 8222,
        "hellip" => 8230,
        "euro" => 8364,
        _ => return latin1(name),
    };
    char::from_u32(code)
}

/// HTML 4 Latin-1 entities (U+00A0 to U+00FF), in code point order.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

fn latin1(name: &str) -> Option<char> {
    let i = LATIN1.iter().position(|n| *n == name)?;
    char::from_u32(0xA0 + i as u32)
}

/// Decodes, once, every known entity reference left in an already decoded
/// value. Unknown or malformed references are kept as they are.
pub fn unescape_once(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after.find(';').filter(|e| *e > 0 && *e <= 10);
        match end.and_then(|e| resolve(&after[..e]).map(|c| (e, c))) {
            Some((e, c)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_named_and_numeric() {
        assert_eq!(resolve("eacute"), Some('é'));
        assert_eq!(resolve("Eacute"), Some('É'));
        assert_eq!(resolve("nbsp"), Some('\u{a0}'));
        assert_eq!(resolve("yuml"), Some('ÿ'));
        assert_eq!(resolve("OElig"), Some('Œ'));
        assert_eq!(resolve("euro"), Some('€'));
        assert_eq!(resolve("#233"), Some('é'));
        assert_eq!(resolve("#x152"), Some('Œ'));
        assert_eq!(resolve("#0"), None);
        assert_eq!(resolve("bogus"), None);
    }

    #[test]
    fn unescapes_once_only() {
        assert_eq!(unescape_once("D&apos;ETABLISSEMENT"), "D'ETABLISSEMENT");
        assert_eq!(unescape_once("A &amp;amp; B"), "A &amp; B");
        assert_eq!(unescape_once("R&D & co; &zzz; &"), "R&D & co; &zzz; &");
        assert_eq!(unescape_once("Ren&eacute;e"), "Renée");
    }
}
