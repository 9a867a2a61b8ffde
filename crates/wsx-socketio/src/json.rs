//! JSON output byte-identical to JavaScript's `JSON.stringify`: no spaces, the same string
//! escapes, the same number formatting (`1` not `1.0`, `1e+21`, `0.000001`) and the same
//! object key order (array-index keys ascending first, then the others in insertion order).

use std::fmt::{self, Write as _};

use bytes::{BufMut, BytesMut};
use serde_json::{Map, Number, Value};

/// Appends `value` as `JSON.stringify(value)` would write it.
pub(crate) fn write_value(buf: &mut BytesMut, value: &Value) {
    match value {
        Value::Null => buf.put_slice(b"null"),
        Value::Bool(true) => buf.put_slice(b"true"),
        Value::Bool(false) => buf.put_slice(b"false"),
        Value::Number(n) => write_number(buf, n),
        Value::String(s) => write_str(buf, s),
        Value::Array(items) => write_array(buf, items),
        Value::Object(map) => write_object(buf, map),
    }
}

/// Appends a JSON array of `items`.
pub(crate) fn write_array(buf: &mut BytesMut, items: &[Value]) {
    buf.put_u8(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        write_value(buf, item);
    }
    buf.put_u8(b']');
}

/// Appends a JSON object, keys in JavaScript property order.
pub(crate) fn write_object(buf: &mut BytesMut, map: &Map<String, Value>) {
    buf.put_u8(b'{');
    let mut first = true;
    let mut entry = |buf: &mut BytesMut, key: &str, value: &Value| {
        if !first {
            buf.put_u8(b',');
        }
        first = false;
        write_str(buf, key);
        buf.put_u8(b':');
        write_value(buf, value);
    };
    if map.keys().any(|k| array_index(k).is_some()) {
        // A JS object lists integer-like keys first, ascending, whatever the insertion order.
        let mut indexed: Vec<(u32, &str, &Value)> = map
            .iter()
            .filter_map(|(k, v)| array_index(k).map(|i| (i, k.as_str(), v)))
            .collect();
        indexed.sort_unstable_by_key(|&(i, _, _)| i);
        for (_, k, v) in indexed {
            entry(buf, k, v);
        }
        for (k, v) in map.iter().filter(|(k, _)| array_index(k).is_none()) {
            entry(buf, k, v);
        }
    } else {
        for (k, v) in map {
            entry(buf, k, v);
        }
    }
    buf.put_u8(b'}');
}

/// The array index a key denotes in JavaScript: a canonical decimal below 2³² − 1.
fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    key.parse::<u32>().ok().filter(|&i| i != u32::MAX)
}

/// Appends a JSON string literal with `JSON.stringify`'s escapes.
pub(crate) fn write_str(buf: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.reserve(s.len() + 2);
    buf.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1f => 0,
            _ => continue,
        };
        buf.put_slice(&bytes[start..i]);
        start = i + 1;
        if short == 0 {
            buf.put_slice(b"\\u00");
            buf.put_u8(HEX[usize::from(b >> 4)]);
            buf.put_u8(HEX[usize::from(b & 0xf)]);
        } else {
            buf.put_u8(b'\\');
            buf.put_u8(short);
        }
    }
    buf.put_slice(&bytes[start..]);
    buf.put_u8(b'"');
}

fn write_number(buf: &mut BytesMut, n: &Number) {
    if let Some(u) = n.as_u64() {
        let _ = write!(buf, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(buf, "{i}");
    } else if let Some(f) = n.as_f64() {
        write_f64(buf, f);
    }
}

/// A fixed buffer for `{:e}` output (at most 24 bytes for an `f64`).
struct Stack {
    buf: [u8; 40],
    len: usize,
}

impl fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `f` as JavaScript's `Number.prototype.toString` writes it (ECMA-262 Number::toString).
pub(crate) fn write_f64(buf: &mut BytesMut, f: f64) {
    if !f.is_finite() {
        buf.put_slice(b"null"); // what JSON.stringify writes for NaN and ±Infinity
        return;
    }
    if f == 0.0 {
        buf.put_u8(b'0'); // -0 too
        return;
    }
    // Rust's `{:e}` is the shortest round-trip representation, as JS requires: d[.ddd]e[-]x.
    let mut stack = Stack {
        buf: [0; 40],
        len: 0,
    };
    if write!(stack, "{:e}", f.abs()).is_err() {
        let _ = write!(buf, "{f}");
        return;
    }
    let text = &stack.buf[..stack.len];
    let Some(e_at) = text.iter().position(|&b| b == b'e') else {
        buf.put_slice(text);
        return;
    };
    let (mantissa, exponent) = (&text[..e_at], &text[e_at + 1..]);
    let exponent: i32 = std::str::from_utf8(exponent)
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut k = 0;
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        if k < digits.len() {
            digits[k] = b;
            k += 1;
        }
    }
    let digits = &digits[..k];
    let k = k as i32;
    let n = exponent + 1;
    if f < 0.0 {
        buf.put_u8(b'-');
    }
    if k <= n && n <= 21 {
        buf.put_slice(digits);
        for _ in 0..(n - k) {
            buf.put_u8(b'0');
        }
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        buf.put_slice(int);
        buf.put_u8(b'.');
        buf.put_slice(frac);
    } else if -6 < n && n <= 0 {
        buf.put_slice(b"0.");
        for _ in 0..(-n) {
            buf.put_u8(b'0');
        }
        buf.put_slice(digits);
    } else {
        buf.put_slice(&digits[..1]);
        if k > 1 {
            buf.put_u8(b'.');
            buf.put_slice(&digits[1..]);
        }
        let _ = write!(buf, "e{}{}", if n > 0 { '+' } else { '-' }, (n - 1).abs());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn stringify(v: &Value) -> String {
        let mut buf = BytesMut::new();
        write_value(&mut buf, v);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    fn f(x: f64) -> String {
        let mut buf = BytesMut::new();
        write_f64(&mut buf, x);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn numbers_as_javascript_prints_them() {
        // Expected strings are what node prints for String(x).
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.0, "-1"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (100.0, "100"),
            (123.456, "123.456"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e-6, "0.000001"),
            (1.5e-6, "0.0000015"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (123e-20, "1.23e-18"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (-2.5e-10, "-2.5e-10"),
            (9007199254740993.0, "9007199254740992"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
        ];
        for &(x, want) in cases {
            assert_eq!(f(x), want, "{x:e}");
        }
    }

    #[test]
    fn parsed_floats_print_like_json_stringify() {
        let v: Value = serde_json::from_str("[1.0, 2e2, -0.0, 1E-7, 12.50]").unwrap();
        assert_eq!(stringify(&v), "[1,200,0,1e-7,12.5]");
    }

    #[test]
    fn integers_exact() {
        let v: Value =
            serde_json::from_str("[0,-1,18446744073709551615,-9223372036854775808]").unwrap();
        assert_eq!(
            stringify(&v),
            "[0,-1,18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn string_escapes() {
        let v = Value::String("a\"b\\c\u{8}\u{c}\n\r\t\u{0}\u{1e}\u{1f}\u{7f}/é\u{2028}😀".into());
        assert_eq!(
            stringify(&v),
            "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0000\\u001e\\u001f\u{7f}/é\u{2028}😀\""
        );
        assert_eq!(stringify(&Value::String(String::new())), "\"\"");
    }

    #[test]
    fn object_key_order_as_javascript() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":2,"10":3,"2":4,"01":5,"4294967295":6,"4294967294":7}"#,
        )
        .unwrap();
        assert_eq!(
            stringify(&v),
            r#"{"2":4,"10":3,"4294967294":7,"b":1,"a":2,"01":5,"4294967295":6}"#
        );
        let v: Value = serde_json::from_str(r#"{"z":{"y":[null,true,false]},"a":{}}"#).unwrap();
        assert_eq!(stringify(&v), r#"{"z":{"y":[null,true,false]},"a":{}}"#);
        assert_eq!(stringify(&Value::Array(vec![])), "[]");
    }
}
