//! The edit that turns one text into another, in UTF-16 code units (a JS string's indices).

/// One contiguous replacement: remove `delete` code units at `index`, then insert `insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// Where the change starts, in UTF-16 code units.
    pub index: u32,
    /// How many UTF-16 code units of the old text are removed there.
    pub delete: u32,
    /// What is inserted there.
    pub insert: String,
}

fn is_high_surrogate(u: u16) -> bool {
    (0xD800..0xDC00).contains(&u)
}

fn is_low_surrogate(u: u16) -> bool {
    (0xDC00..0xE000).contains(&u)
}

/// The smallest single replacement turning `old` into `new` (common prefix and suffix kept).
///
/// `cursor` is where the caret is in `new` after the edit (a textarea's `selectionEnd`), if
/// known: when the change is ambiguous (typing `a` into `aa`), the changed range is placed so
/// that it ends at the caret, which is where the user really typed. Boundaries never split a
/// surrogate pair. Returns `None` when the texts are equal.
pub fn splice(old: &str, new: &str, cursor: Option<u32>) -> Option<Splice> {
    if old == new {
        return None;
    }
    let a: Vec<u16> = old.encode_utf16().collect();
    let b: Vec<u16> = new.encode_utf16().collect();
    let max_common = a.len().min(b.len());
    let common_prefix = a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
    let common_suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mut prefix, mut suffix) = match cursor {
        // The change ends at or after the caret; then as much common prefix as fits.
        Some(c) => {
            let suffix = common_suffix.min(b.len() - (c as usize).min(b.len()));
            (common_prefix.min(max_common - suffix), suffix)
        }
        // Otherwise the longest common prefix, then what is left of the common suffix.
        None => (common_prefix, common_suffix.min(max_common - common_prefix)),
    };
    if prefix > 0 && is_high_surrogate(a[prefix - 1]) {
        prefix -= 1;
    }
    if suffix > 0 && is_low_surrogate(a[a.len() - suffix]) {
        suffix -= 1;
    }
    let inserted = String::from_utf16_lossy(&b[prefix..b.len() - suffix]);
    Some(Splice {
        index: u32::try_from(prefix).unwrap_or(u32::MAX),
        delete: u32::try_from(a.len() - suffix - prefix).unwrap_or(u32::MAX),
        insert: inserted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, s: &Splice) -> String {
        let a: Vec<u16> = old.encode_utf16().collect();
        let i = s.index as usize;
        let mut out: Vec<u16> = a[..i].to_vec();
        out.extend(s.insert.encode_utf16());
        out.extend_from_slice(&a[i + s.delete as usize..]);
        String::from_utf16(&out).unwrap()
    }

    #[test]
    fn insert_delete_replace() {
        let s = splice("hello", "hello world", None).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (5, 0, " world"));
        let s = splice("hello world", "hello", None).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (5, 6, ""));
        let s = splice("abcdef", "abXYef", None).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (2, 2, "XY"));
        assert!(splice("same", "same", Some(2)).is_none());
        let s = splice("", "x", Some(1)).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (0, 0, "x"));
    }

    #[test]
    fn the_caret_disambiguates_repeated_characters() {
        // Typing "a" at index 1 of "aa": the caret ends at 2.
        let s = splice("aa", "aaa", Some(2)).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (1, 0, "a"));
        // Without a caret, the change goes at the end.
        let s = splice("aa", "aaa", None).unwrap();
        assert_eq!((s.index, s.delete), (2, 0));
        // Backspace at index 2 of "aaa" leaves the caret at 1.
        let s = splice("aaa", "aa", Some(1)).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (1, 1, ""));
        // A caret past the end is clamped.
        let s = splice("ab", "abc", Some(99)).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (2, 0, "c"));
    }

    #[test]
    fn surrogate_pairs_are_never_split() {
        // U+1F600 and U+1F601 share their high surrogate.
        let s = splice("x\u{1F600}y", "x\u{1F601}y", None).unwrap();
        assert_eq!((s.index, s.delete, s.insert.as_str()), (1, 2, "\u{1F601}"));
        // U+1F600 and U+1F700 share nothing but U+1F600 and U+2F600 share the low one.
        let s = splice("\u{1F600}", "\u{2F600}", None).unwrap();
        assert_eq!(s.delete, 2);
        assert_eq!(apply("\u{1F600}", &s), "\u{2F600}");
        for (old, new, c) in [
            ("a\u{1F600}\u{1F600}b", "a\u{1F600}b", Some(3)),
            ("é\u{1F600}", "é\u{1F600}\u{1F600}", Some(5)),
            ("\u{1F600}\u{1F600}", "\u{1F600}\u{1F600}\u{1F600}", Some(2)),
        ] {
            let s = splice(old, new, c).unwrap();
            assert_eq!(apply(old, &s), new, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn result_always_rebuilds_the_new_text() {
        let words = [
            "",
            "a",
            "aa",
            "ab",
            "ba",
            "héllo",
            "\u{1F600}",
            "x\u{1F600}x",
            "aaa",
        ];
        for old in words {
            for new in words {
                for c in [None, Some(0), Some(1), Some(2), Some(3), Some(7)] {
                    if let Some(s) = splice(old, new, c) {
                        assert_eq!(apply(old, &s), new, "{old:?} -> {new:?} caret {c:?}");
                    }
                }
            }
        }
    }
}
