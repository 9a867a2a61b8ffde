//! UTF-8 rules (RFC 6455 §5.6, §8.1): text messages and close reasons must be valid UTF-8,
//! checked across frame boundaries and failing fast on the first invalid byte.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsx_proto::{Message, ProtocolError, Role};

/// Sequences that are invalid wherever they appear.
const INVALID: &[&[u8]] = &[
    b"\xff",             // never valid
    b"\xfe",             // never valid
    b"\x80",             // lone continuation byte
    b"\xc0\xaf",         // overlong '/'
    b"\xe0\x80\xaf",     // overlong '/'
    b"\xed\xa0\x80",     // UTF-16 surrogate U+D800
    b"\xf4\x90\x80\x80", // above U+10FFFF
    b"\xf8\x88\x80\x80\x80",
    b"\xce\x41", // lead byte followed by ASCII
];

#[test]
fn invalid_utf8_in_a_single_text_frame_fails_with_1007() {
    for role in ROLES {
        for bad in INVALID {
            for payload in [bad.to_vec(), [b"Hello ", *bad, b" world"].concat()] {
                let mut c = conn(role);
                let e = assert_fails(&mut c, &Frame::text(&payload).bytes_for(role), 1007);
                assert_eq!(e, ProtocolError::InvalidUtf8, "{role:?} {payload:x?}");
            }
        }
    }
}

#[test]
fn valid_utf8_of_every_width_is_accepted() {
    for role in ROLES {
        let mut c = conn(role);
        for s in [
            "ascii",
            "κόσμε",
            "€ and ₿",
            "😀🚀 supplementary",
            "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
            "\u{fffd}",
            "",
        ] {
            assert_eq!(
                receive_one(&mut c, &Frame::text(s).bytes_for(role)),
                text(s)
            );
        }
    }
}

#[test]
fn binary_messages_and_ping_payloads_are_not_checked_for_utf8() {
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(
            receive_one(&mut c, &Frame::binary(b"\xff\xfe\xc0").bytes_for(role)),
            binary(b"\xff\xfe\xc0")
        );
        assert_eq!(
            receive_one(&mut c, &Frame::ping(b"\xff").bytes_for(role)),
            ping(b"\xff")
        );
        assert_frame_sent(&mut c, op::PONG, b"\xff");
        assert_eq!(
            receive_one(&mut c, &Frame::pong(b"\xed\xa0\x80").bytes_for(role)),
            pong(b"\xed\xa0\x80")
        );
    }
}

#[test]
fn invalid_utf8_split_across_fragments_fails_with_1007() {
    for role in ROLES {
        // A code point begun in one frame and broken in the next.
        for (a, b) in [
            (&b"abc\xce"[..], &b"\x41"[..]),
            (b"\xe2\x82", b"\x41"),
            (b"\xf0\x9f", b"\x98\x41"),
            (b"\xf4", b"\x90\x80\x80"),
            (b"\xed", b"\xa0\x80"),
            (b"\xe0", b"\x80\xaf"),
            (b"ok", b"\xff"),
        ] {
            let mut c = conn(role);
            let wire = stream_for(role, &[Frame::text(a).more(), Frame::cont(b)]);
            let e = assert_fails(&mut c, &wire, 1007);
            assert_eq!(e, ProtocolError::InvalidUtf8, "{a:x?} | {b:x?}");
        }
        // Spread over three frames, with a ping in the middle.
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::text(b"\xf0").more(),
                Frame::cont(b"\x9f").more(),
                Frame::ping("p"),
                Frame::cont(b"\x41"),
            ],
        );
        let o = feed(&mut c, &wire);
        assert_eq!(o.messages, vec![ping("p")]);
        let e = o.error.unwrap();
        assert_eq!(e, ProtocolError::InvalidUtf8);
        assert_failed_with(&mut c, &e, 1007);
    }
}

#[test]
fn invalid_utf8_fails_fast_in_the_middle_of_a_large_frame() {
    for role in ROLES {
        let mut payload = b"a".repeat(64 * 1024);
        payload[100] = 0xff;
        let wire = Frame::text(&payload).bytes_for(role);
        let header = if role == Role::Server { 8 } else { 4 };
        // Only the header and the first 200 payload bytes arrive: the error is already known.
        let mut c = conn(role);
        let e = assert_fails(&mut c, &wire[..header + 200], 1007);
        assert_eq!(e, ProtocolError::InvalidUtf8);
        // Fed in 64-byte pieces, decoding stops at the piece holding the bad byte.
        let mut c = conn(role);
        let o = feed_chunks(&mut c, wire.chunks(64));
        assert_eq!(o.error, Some(ProtocolError::InvalidUtf8));
        let at = o.error_after.unwrap();
        assert!(at <= header + 101 + 64, "error only after {at} bytes");
        assert!(
            at > header + 100,
            "error before the bad byte arrived ({at})"
        );
    }
}

#[test]
fn invalid_utf8_fails_fast_byte_by_byte_at_the_exact_byte() {
    for role in ROLES {
        for (good_prefix, bad) in [
            (&b"hello "[..], &b"\xff"[..]),
            (b"x\xf4", b"\x90"),
            (b"x\xe0", b"\x80"),
            (b"x\xed", b"\xa0"),
            (b"x\xce", b"A"),
        ] {
            let mut payload = good_prefix.to_vec();
            payload.extend_from_slice(bad);
            payload.extend_from_slice(&b"z".repeat(1000));
            let wire = Frame::text(&payload).bytes_for(role);
            let header = wire.len() - payload.len();
            let mut c = conn(role);
            let o = feed_bytewise(&mut c, &wire);
            assert_eq!(o.error, Some(ProtocolError::InvalidUtf8));
            assert_eq!(
                o.error_after,
                Some(header + good_prefix.len() + 1),
                "{role:?} {payload:x?} failed at the first impossible byte"
            );
        }
    }
}

#[test]
fn invalid_utf8_fails_fast_in_a_continuation_frame() {
    for role in ROLES {
        let mut cont = b"b".repeat(10_000);
        cont[10] = 0x80;
        let first = Frame::text("a".repeat(50)).more().bytes_for(role);
        let second = Frame::cont(&cont).bytes_for(role);
        let header = if role == Role::Server { 8 } else { 4 };
        let mut wire = first.clone();
        wire.extend_from_slice(&second[..header + 20]);
        let mut c = conn(role);
        let e = assert_fails(&mut c, &wire, 1007);
        assert_eq!(e, ProtocolError::InvalidUtf8);
    }
}

#[test]
fn a_code_point_split_across_fragments_at_every_position_is_accepted() {
    let s = "aé€😀z";
    let bytes = s.as_bytes();
    for role in ROLES {
        for i in 0..=bytes.len() {
            let mut c = conn(role);
            let wire = stream_for(
                role,
                &[Frame::text(&bytes[..i]).more(), Frame::cont(&bytes[i..])],
            );
            assert_eq!(
                receive(&mut c, &wire),
                vec![text(s)],
                "{role:?} split at {i}"
            );
            for j in i..=bytes.len() {
                let mut c = conn(role);
                let wire = stream_for(
                    role,
                    &[
                        Frame::text(&bytes[..i]).more(),
                        Frame::ping("p"),
                        Frame::cont(&bytes[i..j]).more(),
                        Frame::cont(&bytes[j..]),
                    ],
                );
                assert_eq!(
                    receive(&mut c, &wire),
                    vec![ping("p"), text(s)],
                    "{role:?} split at {i}, {j}"
                );
            }
        }
    }
}

#[test]
fn a_four_byte_code_point_over_four_fragments_is_accepted() {
    for role in ROLES {
        let b = "😀".as_bytes();
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::text(&b[..1]).more(),
                Frame::cont(&b[1..2]).more(),
                Frame::cont(&b[2..3]).more(),
                Frame::cont(&b[3..]),
            ],
        );
        assert_eq!(receive(&mut c, &wire), vec![text("😀")]);
    }
}

#[test]
fn every_split_of_an_invalid_text_into_two_fragments_fails_with_1007() {
    let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
    for role in ROLES {
        for i in 0..=payload.len() {
            let mut c = conn(role);
            let wire = stream_for(
                role,
                &[
                    Frame::text(&payload[..i]).more(),
                    Frame::cont(&payload[i..]),
                ],
            );
            let e = assert_fails(&mut c, &wire, 1007);
            assert_eq!(e, ProtocolError::InvalidUtf8, "split at {i}");
        }
    }
}

#[test]
fn text_ending_in_the_middle_of_a_code_point_fails_with_1007() {
    for role in ROLES {
        for tail in [&b"\xe2\x82"[..], b"\xc3", b"\xf0\x9f\x98", b"\xf4"] {
            // In a single frame.
            let payload = [b"abc", tail].concat();
            let mut c = conn(role);
            let e = assert_fails(&mut c, &Frame::text(&payload).bytes_for(role), 1007);
            assert_eq!(e, ProtocolError::InvalidUtf8);
            // At the end of the last fragment.
            let mut c = conn(role);
            let wire = stream_for(role, &[Frame::text("abc").more(), Frame::cont(tail)]);
            let e = assert_fails(&mut c, &wire, 1007);
            assert_eq!(e, ProtocolError::InvalidUtf8);
            // With an empty final fragment after the incomplete one.
            let mut c = conn(role);
            let wire = stream_for(role, &[Frame::text(&payload).more(), Frame::cont("")]);
            let e = assert_fails(&mut c, &wire, 1007);
            assert_eq!(e, ProtocolError::InvalidUtf8);
        }
    }
}

#[test]
fn an_incomplete_code_point_is_not_an_error_until_the_message_ends() {
    for role in ROLES {
        let mut c = conn(role);
        let wire = Frame::text(b"ab\xe2\x82").more().bytes_for(role);
        assert_eq!(receive(&mut c, &wire), vec![]);
        assert!(!c.is_failed());
        assert_nothing_sent(&mut c);
        let rest = Frame::cont(b"\xac!").bytes_for(role);
        assert_eq!(receive(&mut c, &rest), vec![text("ab€!")]);
    }
}

#[test]
fn a_close_reason_with_invalid_utf8_fails_with_1007() {
    for role in ROLES {
        for bad in INVALID {
            let mut c = conn(role);
            let e = assert_fails(&mut c, &Frame::close(1000, bad).bytes_for(role), 1007);
            assert_eq!(e, ProtocolError::InvalidUtf8);
        }
        // A reason cut in the middle of a code point.
        let mut c = conn(role);
        let e = assert_fails(
            &mut c,
            &Frame::close(1000, b"bye \xe2\x82").bytes_for(role),
            1007,
        );
        assert_eq!(e, ProtocolError::InvalidUtf8);
    }
}

#[test]
fn a_close_reason_with_multibyte_utf8_is_accepted() {
    for role in ROLES {
        let mut c = conn(role);
        let m = receive_one(
            &mut c,
            &Frame::close(4000, "au revoir, κόσμε 😀").bytes_for(role),
        );
        match m {
            Message::Close(Some(f)) => {
                assert_eq!(f.code.0, 4000);
                assert_eq!(f.reason.as_str(), "au revoir, κόσμε 😀");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn utf8_state_does_not_leak_between_messages() {
    for role in ROLES {
        // A binary message ending mid-"code point" must not affect the next text message.
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::binary(b"\xe2\x82").more(),
                Frame::cont(b"\xf0"),
                Frame::text("\u{20ac}"),
                Frame::text(b"\xac"),
            ],
        );
        let o = feed(&mut c, &wire);
        assert_eq!(o.messages, vec![binary(b"\xe2\x82\xf0"), text("€")]);
        assert_eq!(o.error, Some(ProtocolError::InvalidUtf8));
    }
}
