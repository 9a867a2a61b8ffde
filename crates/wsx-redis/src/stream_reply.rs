//! Reading the replies of Redis's stream commands (`XRANGE`, `XREVRANGE`, `XREAD`), which the
//! streams adapter and the Yjs cluster both send: each entry is its id and its fields, which
//! the caller reads as text or as bytes.

use redis::Value;

/// The names and values of one entry's fields, in the reply's order.
pub(crate) type Fields<'a> = [(&'a Value, &'a Value)];

/// The bytes of a string reply (bulk, simple or verbatim).
pub(crate) fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes()),
        _ => None,
    }
}

/// The text of a string reply; `None` if it is not one, or not UTF-8.
pub(crate) fn text(v: &Value) -> Option<String> {
    String::from_utf8(bytes(v)?.to_vec()).ok()
}

/// An entry id or a stream key (ASCII, or the UTF-8 this crate wrote).
fn name(v: &Value) -> Option<String> {
    Some(String::from_utf8_lossy(bytes(v)?).into_owned())
}

/// The entries of an `XRANGE`/`XREVRANGE` reply, or of one stream of an `XREAD` reply
/// (`[[id, [name, value, ...]], ...]`; RESP3 may give the fields as a map), each with its
/// fields as `read` makes them.
pub(crate) fn entries<F>(v: &Value, read: impl Fn(&Fields<'_>) -> F) -> Vec<(String, F)> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = name(pair.first()?)?;
            let fields: Vec<(&Value, &Value)> = match pair.get(1) {
                Some(Value::Array(kv)) => kv
                    .chunks(2)
                    .filter_map(|c| Some((c.first()?, c.get(1)?)))
                    .collect(),
                Some(Value::Map(kv)) => kv.iter().map(|(k, v)| (k, v)).collect(),
                _ => Vec::new(),
            };
            Some((id, read(&fields)))
        })
        .collect()
}

/// The entries of each stream of an `XREAD` reply, by stream key (`[[key, entries], ...]` in
/// RESP2, `{key: entries}` in RESP3; nil, when the read timed out, has none).
pub(crate) fn xread<F>(
    v: &Value,
    read: impl Fn(&Fields<'_>) -> F + Copy,
) -> Vec<(String, Vec<(String, F)>)> {
    match v {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|st| match st {
                Value::Array(pair) => Some((name(pair.first()?)?, entries(pair.get(1)?, read))),
                _ => None,
            })
            .collect(),
        Value::Map(streams) => streams
            .iter()
            .filter_map(|(k, e)| Some((name(k)?, entries(e, read))))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn b(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    fn as_bytes(fields: &Fields<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let read = |v| bytes(v).map(<[u8]>::to_vec).unwrap_or_default();
        fields.iter().map(|&(k, v)| (read(k), read(v))).collect()
    }

    #[test]
    fn string_replies_of_every_kind_are_read() {
        assert_eq!(bytes(&b(&[0, 255])), Some(&[0, 255][..]));
        assert_eq!(
            text(&Value::SimpleString("OK".into())).as_deref(),
            Some("OK")
        );
        let verbatim = Value::VerbatimString {
            format: redis::VerbatimFormat::Text,
            text: "v".into(),
        };
        assert_eq!(text(&verbatim).as_deref(), Some("v"));
        assert_eq!(text(&b(&[0xff])), None);
        assert_eq!(bytes(&Value::Int(1)), None);
    }

    #[test]
    fn entries_of_xrange_and_xread_replies() {
        let entry = Value::Array(vec![
            b(b"1700000000000-3"),
            Value::Array(vec![b(b"k"), b(b"u"), b(b"d"), b(&[0, 255, 1])]),
        ]);
        let e = entries(&Value::Array(vec![entry.clone()]), as_bytes);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "1700000000000-3");
        assert_eq!(
            e[0].1,
            vec![
                (b"k".to_vec(), b"u".to_vec()),
                (b"d".to_vec(), vec![0, 255, 1])
            ]
        );
        let resp2 = Value::Array(vec![Value::Array(vec![
            b(b"s"),
            Value::Array(vec![entry.clone()]),
        ])]);
        let resp3 = Value::Map(vec![(b(b"s"), Value::Array(vec![entry]))]);
        for reply in [resp2, resp3] {
            let x = xread(&reply, as_bytes);
            assert_eq!(x.len(), 1);
            assert_eq!(x[0].0, "s");
            assert_eq!(x[0].1[0].0, "1700000000000-3");
        }
        assert!(xread(&Value::Nil, as_bytes).is_empty());
        assert!(entries(&Value::Nil, as_bytes).is_empty());
    }

    #[test]
    fn fields_may_come_as_a_map() {
        let entry = Value::Array(vec![b(b"1-0"), Value::Map(vec![(b(b"type"), b(b"2"))])]);
        let e = entries(&Value::Array(vec![entry]), as_bytes);
        assert_eq!(e[0].1, vec![(b"type".to_vec(), b"2".to_vec())]);
    }
}
