//! Framing (RFC 6455 §5.2): opcodes, length encodings, masking rules, RSV bits, control-frame
//! rules, and decoding that does not depend on how the bytes are split.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use common::*;
use wsx_proto::{ProtocolError, ReadyState, Role};

#[test]
fn every_data_and_control_opcode_is_decoded_by_both_roles() {
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(
            receive_one(&mut c, &Frame::text("Hello").bytes_for(role)),
            text("Hello")
        );
        assert_nothing_sent(&mut c);
        assert_eq!(
            receive_one(&mut c, &Frame::binary([0, 1, 0xff]).bytes_for(role)),
            binary([0, 1, 0xff])
        );
        assert_nothing_sent(&mut c);
        assert_eq!(
            receive_one(&mut c, &Frame::ping("are you there").bytes_for(role)),
            ping("are you there")
        );
        assert_frame_sent(&mut c, op::PONG, b"are you there");
        assert_eq!(
            receive_one(&mut c, &Frame::pong("yes").bytes_for(role)),
            pong("yes")
        );
        assert_nothing_sent(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Open);
        let m = receive_one(&mut c, &Frame::close(1000, "bye").bytes_for(role));
        match m {
            wsx_proto::Message::Close(Some(f)) => {
                assert_eq!(f.code.0, 1000);
                assert_eq!(f.reason.as_str(), "bye");
            }
            other => panic!("expected a close, got {other:?}"),
        }
        assert_close_sent(&mut c, Some(1000));
        assert_eq!(c.ready_state(), ReadyState::Closed);
    }
}

#[test]
fn rfc_6455_section_5_7_examples_decode() {
    // A single-frame unmasked text message, as a client receives it.
    let mut c = conn(Role::Client);
    let m = receive_one(&mut c, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(m, text("Hello"));
    // A single-frame masked text message, as a server receives it.
    let mut s = conn(Role::Server);
    let m = receive_one(
        &mut s,
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
    );
    assert_eq!(m, text("Hello"));
    // A fragmented unmasked text message.
    let mut c = conn(Role::Client);
    let m = receive(
        &mut c,
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
    );
    assert_eq!(m, vec![text("Hello")]);
    // Unmasked ping, then masked pong.
    let mut c = conn(Role::Client);
    let m = receive_one(&mut c, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(m, ping("Hello"));
    let mut s = conn(Role::Server);
    let m = receive_one(
        &mut s,
        &[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
    );
    assert_eq!(m, pong("Hello"));
    // 256 bytes and 64 KiB binary messages in a single unmasked frame.
    let mut c = conn(Role::Client);
    let mut wire = vec![0x82, 0x7e, 0x01, 0x00];
    wire.extend_from_slice(&[7; 256]);
    assert_eq!(receive_one(&mut c, &wire), binary([7; 256]));
    let mut wire = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    wire.extend_from_slice(&[9; 65536]);
    assert_eq!(receive_one(&mut c, &wire), binary(vec![9; 65536]));
}

#[test]
fn payload_lengths_around_every_length_form_boundary() {
    for role in ROLES {
        let mut c = conn(role);
        for len in [0usize, 1, 125, 126, 127, 128, 65535, 65536, 65537, 200_000] {
            let payload = noise(len, len as u64);
            let m = receive_one(&mut c, &Frame::binary(&payload).bytes_for(role));
            assert_eq!(m, binary(&payload), "{role:?} length {len}");
        }
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn non_minimal_length_encodings_are_accepted_for_data_frames() {
    for role in ROLES {
        for form in [Len::U16, Len::U64] {
            for len in [0usize, 1, 5, 125, 126, 1000, 65535] {
                let mut c = conn(role);
                let payload = noise(len, 3);
                let f = Frame::binary(&payload).len(form);
                let wire = f.bytes_for(role);
                let header = if form == Len::U16 { 4 } else { 10 };
                let mask = if role == Role::Server { 4 } else { 0 };
                assert_eq!(
                    wire.len(),
                    header + mask + len,
                    "the form is the one asked for"
                );
                assert_eq!(
                    receive_one(&mut c, &wire),
                    binary(&payload),
                    "{form:?} {len}"
                );
                let t = Frame::text("non-minimal").len(form).bytes_for(role);
                assert_eq!(receive_one(&mut c, &t), text("non-minimal"));
            }
        }
    }
}

#[test]
fn a_64_bit_length_with_its_most_significant_bit_set_fails_with_1002() {
    for role in ROLES {
        for n in [1u64 << 63, u64::MAX, (1 << 63) | 5] {
            let wire = Frame::binary("abc")
                .len(Len::U64)
                .declared_len(n)
                .bytes_for(role);
            let mut c = conn(role);
            // The length alone is enough to judge: feed only the 10 header bytes.
            let e = assert_fails(&mut c, &wire[..10], 1002);
            assert_eq!(e, ProtocolError::InvalidLength);
        }
    }
}

#[test]
fn reserved_opcodes_fail_with_1002_on_the_first_byte() {
    for role in ROLES {
        for opcode in [0x3u8, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            for fin in [true, false] {
                let wire = Frame::new(opcode, "x").fin(fin).bytes_for(role);
                let mut c = conn(role);
                let e = assert_fails(&mut c, &wire[..1], 1002);
                assert_eq!(e, ProtocolError::ReservedOpCode(opcode));
                // And the same with the whole frame.
                let mut c = conn(role);
                assert_fails(&mut c, &wire, 1002);
            }
        }
    }
}

#[test]
fn reserved_opcode_after_a_good_frame_fails_after_delivering_the_good_one() {
    for role in ROLES {
        let mut wire = Frame::text("ok").bytes_for(role);
        wire.push(0x83);
        let mut c = conn(role);
        let o = feed(&mut c, &wire);
        assert_eq!(o.messages, vec![text("ok")]);
        let e = o.error.unwrap();
        assert_eq!(e, ProtocolError::ReservedOpCode(3));
        assert_failed_with(&mut c, &e, 1002);
    }
}

#[test]
fn rsv_bits_without_a_negotiated_extension_fail_with_1002() {
    type SetBit = fn(Frame) -> Frame;
    let bits: [(&str, SetBit); 3] = [
        ("rsv1", Frame::rsv1),
        ("rsv2", Frame::rsv2),
        ("rsv3", Frame::rsv3),
    ];
    for role in ROLES {
        for (name, set) in bits {
            for f in [
                Frame::text("x"),
                Frame::binary("x"),
                Frame::ping("x"),
                Frame::pong("x"),
                Frame::close(1000, ""),
                Frame::text(""),
            ] {
                let wire = set(f.clone()).bytes_for(role);
                let mut c = conn(role);
                let e = assert_fails(&mut c, &wire, 1002);
                assert_eq!(e, ProtocolError::ReservedBits, "{role:?} {name} on {f:?}");
            }
            // On a continuation frame of an open message too.
            let mut wire = Frame::text("a").more().bytes_for(role);
            wire.extend(set(Frame::cont("b")).bytes_for(role));
            let mut c = conn(role);
            let e = assert_fails(&mut c, &wire, 1002);
            assert!(
                matches!(
                    e,
                    ProtocolError::ReservedBits | ProtocolError::CompressedControlOrContinuation
                ),
                "{e:?}"
            );
        }
    }
}

#[test]
fn server_receiving_an_unmasked_frame_fails_with_1002() {
    for f in [
        Frame::text("hi"),
        Frame::binary("hi"),
        Frame::ping(""),
        Frame::pong("x"),
        Frame::close(1000, ""),
        Frame::text(""),
    ] {
        let mut s = conn(Role::Server);
        let e = assert_fails(&mut s, &f.unmasked().encode(), 1002);
        assert_eq!(e, ProtocolError::UnmaskedFrame);
    }
}

#[test]
fn client_receiving_a_masked_frame_fails_with_1002() {
    for f in [
        Frame::text("hi"),
        Frame::binary("hi"),
        Frame::ping(""),
        Frame::pong("x"),
        Frame::close(1000, ""),
        Frame::text(""),
    ] {
        let mut c = conn(Role::Client);
        let e = assert_fails(&mut c, &f.masked(KEY).encode(), 1002);
        assert_eq!(e, ProtocolError::MaskedFrame);
    }
    // Even a zero masking key counts as masked.
    let mut c = conn(Role::Client);
    let e = assert_fails(&mut c, &Frame::text("x").masked([0; 4]).encode(), 1002);
    assert_eq!(e, ProtocolError::MaskedFrame);
}

#[test]
fn masking_keys_are_applied_from_the_start_of_each_payload() {
    let mut s = conn(Role::Server);
    for (i, key) in [[0u8; 4], [0xff; 4], [1, 2, 3, 4], [0x80, 0, 0, 0x7f]]
        .into_iter()
        .enumerate()
    {
        for len in [1usize, 3, 4, 5, 31, 32, 33, 1000] {
            let payload = noise(len, (i * 1000 + len) as u64);
            let wire = Frame::binary(&payload).masked(key).encode();
            assert_eq!(receive_one(&mut s, &wire), binary(&payload));
        }
    }
}

#[test]
fn control_frames_over_125_bytes_fail_with_1002() {
    for role in ROLES {
        for opcode in [op::PING, op::PONG, op::CLOSE] {
            for (len, form) in [(126usize, Len::Minimal), (200, Len::U16), (126, Len::U64)] {
                let mut payload = vec![b'a'; len];
                if opcode == op::CLOSE {
                    payload[..2].copy_from_slice(&1000u16.to_be_bytes());
                }
                let wire = Frame::new(opcode, &payload).len(form).bytes_for(role);
                // Judged from the second byte (the 7-bit length), before the extended length.
                let mut c = conn(role);
                let e = assert_fails(&mut c, &wire[..2], 1002);
                assert_eq!(e, ProtocolError::ControlFrameTooLong);
                let mut c = conn(role);
                assert_fails(&mut c, &wire, 1002);
            }
        }
    }
}

#[test]
fn control_frames_of_exactly_125_bytes_are_accepted() {
    for role in ROLES {
        let mut c = conn(role);
        let p = vec![b'p'; 125];
        assert_eq!(
            receive_one(&mut c, &Frame::ping(&p).bytes_for(role)),
            ping(&p)
        );
        assert_frame_sent(&mut c, op::PONG, &p);
        assert_eq!(
            receive_one(&mut c, &Frame::pong(&p).bytes_for(role)),
            pong(&p)
        );
        let reason = "r".repeat(123);
        let m = receive_one(&mut c, &Frame::close(1000, &reason).bytes_for(role));
        assert_eq!(m.as_payload(), reason.as_bytes());
    }
}

#[test]
fn control_frame_with_an_extended_length_field_is_rejected_even_when_short() {
    // Like Node `ws`: a control frame's 7-bit length must itself be ≤ 125, so the 16- and
    // 64-bit forms are refused whatever length they carry.
    for role in ROLES {
        for form in [Len::U16, Len::U64] {
            let wire = Frame::ping("x").len(form).bytes_for(role);
            let mut c = conn(role);
            let e = assert_fails(&mut c, &wire, 1002);
            assert_eq!(e, ProtocolError::ControlFrameTooLong);
        }
    }
}

#[test]
fn fragmented_control_frames_fail_with_1002_on_the_first_byte() {
    for role in ROLES {
        for opcode in [op::PING, op::PONG, op::CLOSE] {
            let payload: &[u8] = if opcode == op::CLOSE {
                b"\x03\xe8"
            } else {
                b"x"
            };
            let wire = Frame::new(opcode, payload).more().bytes_for(role);
            let mut c = conn(role);
            let e = assert_fails(&mut c, &wire[..1], 1002);
            assert_eq!(e, ProtocolError::FragmentedControlFrame);
            // Also inside an open fragmented message.
            let mut wire2 = Frame::text("a").more().bytes_for(role);
            wire2.extend(wire);
            let mut c = conn(role);
            let e = assert_fails(&mut c, &wire2, 1002);
            assert_eq!(e, ProtocolError::FragmentedControlFrame);
        }
    }
}

#[test]
fn empty_frames_of_every_kind_are_decoded() {
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(
            receive_one(&mut c, &Frame::text("").bytes_for(role)),
            text("")
        );
        assert_eq!(
            receive_one(&mut c, &Frame::binary("").bytes_for(role)),
            binary("")
        );
        assert_eq!(
            receive_one(&mut c, &Frame::ping("").bytes_for(role)),
            ping("")
        );
        assert_frame_sent(&mut c, op::PONG, b"");
        assert_eq!(
            receive_one(&mut c, &Frame::pong("").bytes_for(role)),
            pong("")
        );
        assert_eq!(
            receive_one(&mut c, &Frame::close_empty().bytes_for(role)),
            wsx_proto::Message::Close(None)
        );
        assert_close_sent(&mut c, None);
    }
}

#[test]
fn several_frames_in_one_buffer_come_out_one_message_per_decode_call() {
    for role in ROLES {
        let frames = [
            Frame::text("one"),
            Frame::ping("p"),
            Frame::binary("two"),
            Frame::pong("q"),
        ];
        let mut buf = BytesMut::from(&stream_for(role, &frames)[..]);
        let mut c = conn(role);
        let expected = [text("one"), ping("p"), binary("two"), pong("q")];
        for m in expected {
            assert_eq!(c.decode(&mut buf).unwrap(), Some(m));
        }
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
        assert_frame_sent(&mut c, op::PONG, b"p");
    }
}

#[test]
fn an_incomplete_frame_is_kept_until_the_rest_arrives() {
    for role in ROLES {
        let wire = Frame::text("Hello, world").bytes_for(role);
        let mut c = conn(role);
        let mut buf = BytesMut::from(&wire[..5]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            None,
            "decoding again changes nothing"
        );
        buf.extend_from_slice(&wire[5..]);
        assert_eq!(c.decode(&mut buf).unwrap(), Some(text("Hello, world")));
        assert!(buf.is_empty());
    }
}

/// Streams used to compare feeding strategies: good ones and ones that fail part-way.
fn streams(role: Role) -> Vec<(&'static str, Vec<u8>)> {
    let big = noise(70_000, 9);
    let mut v = vec![
        ("text", stream_for(role, &[Frame::text("Hello")])),
        ("empty text", stream_for(role, &[Frame::text("")])),
        (
            "binary 16-bit",
            stream_for(role, &[Frame::binary(noise(300, 1))]),
        ),
        ("binary 64-bit", stream_for(role, &[Frame::binary(&big)])),
        (
            "non-minimal",
            stream_for(
                role,
                &[
                    Frame::binary("a").len(Len::U64),
                    Frame::text("b").len(Len::U16),
                ],
            ),
        ),
        (
            "control frames",
            stream_for(
                role,
                &[
                    Frame::ping("1"),
                    Frame::pong("2"),
                    Frame::ping(""),
                    Frame::close(1001, "away"),
                ],
            ),
        ),
        (
            "fragments with pings",
            stream_for(
                role,
                &[
                    Frame::text("κό").more(),
                    Frame::ping("x"),
                    Frame::cont("σ").more(),
                    Frame::cont("").more(),
                    Frame::pong("y"),
                    Frame::cont("με"),
                    Frame::binary("after"),
                ],
            ),
        ),
        (
            "multi-byte split across fragments",
            stream_for(
                role,
                &[
                    Frame::text(&"€".as_bytes()[..1]).more(),
                    Frame::cont(&"€".as_bytes()[1..2]).more(),
                    Frame::cont([&"€".as_bytes()[2..], "😀".as_bytes()].concat()),
                ],
            ),
        ),
        (
            "invalid UTF-8",
            stream_for(role, &[Frame::text("ok"), Frame::text(b"ab\xffcd")]),
        ),
        (
            "reserved opcode",
            stream_for(role, &[Frame::text("ok"), Frame::new(0x5, "x")]),
        ),
        (
            "unexpected continuation",
            stream_for(role, &[Frame::cont("x")]),
        ),
        (
            "bad close code",
            stream_for(role, &[Frame::close(1005, "")]),
        ),
        (
            "rsv2",
            stream_for(role, &[Frame::binary("a"), Frame::binary("b").rsv2()]),
        ),
        (
            "data after close",
            stream_for(role, &[Frame::close(1000, ""), Frame::text("ignored")]),
        ),
    ];
    // Wrong masking for the role.
    let wrong = Frame::text("wrong mask").to(peer_of(role)).encode();
    v.push(("wrong masking", wrong));
    v
}

/// Compares outcomes and what was sent in reply (masks differ, payloads must not).
fn run(role: Role, chunks: &[&[u8]]) -> (Outcome, Vec<(u8, Vec<u8>)>) {
    let mut c = conn(role);
    let mut o = feed_chunks(&mut c, chunks.iter().copied());
    o.error_after = None;
    let sent = sent_frames(&mut c)
        .into_iter()
        .map(|f| (f.opcode, f.payload))
        .collect();
    (o, sent)
}

#[test]
fn bytes_fed_one_at_a_time_give_the_same_result_as_fed_at_once() {
    for role in ROLES {
        for (name, wire) in streams(role) {
            let whole = run(role, &[&wire]);
            let bytewise: Vec<&[u8]> = wire.chunks(1).collect();
            assert_eq!(run(role, &bytewise), whole, "{role:?} {name}");
            for size in [2, 3, 7, 13, 1000, 4096] {
                let chunks: Vec<&[u8]> = wire.chunks(size).collect();
                assert_eq!(
                    run(role, &chunks),
                    whole,
                    "{role:?} {name} chunks of {size}"
                );
            }
        }
    }
}

#[test]
fn frames_split_at_every_byte_boundary_decode_the_same() {
    for role in ROLES {
        for (name, wire) in streams(role) {
            if wire.len() > 2000 {
                continue; // covered by the chunked test above
            }
            let whole = run(role, &[&wire]);
            for i in 0..=wire.len() {
                assert_eq!(
                    run(role, &[&wire[..i], &wire[i..]]),
                    whole,
                    "{role:?} {name} split at {i}"
                );
            }
            if wire.len() <= 64 {
                for i in 0..=wire.len() {
                    for j in i..=wire.len() {
                        assert_eq!(
                            run(role, &[&wire[..i], &wire[i..j], &wire[j..]]),
                            whole,
                            "{role:?} {name} split at {i} and {j}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_large_masked_frame_fed_in_odd_pieces_is_unmasked_correctly() {
    // Exercises unmasking that resumes at every offset modulo 4 and across word boundaries.
    let payload = noise(10_007, 42);
    let wire = Frame::binary(&payload)
        .masked([0xa1, 0xb2, 0xc3, 0xd4])
        .encode();
    for sizes in [
        &[1usize, 2, 3, 5, 7][..],
        &[31, 33],
        &[4096, 1],
        &[6, 6, 6, 17],
    ] {
        let mut s = conn(Role::Server);
        let mut chunks = Vec::new();
        let mut rest = &wire[..];
        let mut k = 0;
        while !rest.is_empty() {
            let n = sizes[k % sizes.len()].min(rest.len());
            chunks.push(&rest[..n]);
            rest = &rest[n..];
            k += 1;
        }
        let o = feed_chunks(&mut s, chunks);
        assert_eq!(o.error, None);
        assert_eq!(o.messages, vec![binary(&payload)], "pieces {sizes:?}");
    }
}

#[test]
fn frames_sent_are_masked_by_clients_only_and_use_minimal_lengths() {
    for role in ROLES {
        let mut c = conn(role);
        for len in [0usize, 125, 126, 65535, 65536] {
            c.send(binary(vec![1u8; len])).unwrap();
            let bytes = c.output_mut().take_all();
            let masked = role == Role::Client;
            assert_eq!(bytes[0], 0x82);
            assert_eq!(bytes[1] & 0x80 != 0, masked);
            let (len7, header) = match len {
                0..=125 => (len as u8, 2),
                126..=65535 => (126, 4),
                _ => (127, 10),
            };
            assert_eq!(bytes[1] & 0x7f, len7, "minimal length form for {len}");
            assert_eq!(bytes.len(), header + if masked { 4 } else { 0 } + len);
            let f = &parse_frames(&bytes)[0];
            assert_eq!(f.payload, vec![1u8; len]);
        }
    }
}

#[test]
fn a_connection_that_failed_ignores_later_input() {
    for role in ROLES {
        let mut c = conn(role);
        assert_fails(&mut c, &Frame::new(0x3, "").bytes_for(role), 1002);
        for f in [Frame::text("a"), Frame::ping("b"), Frame::close(1000, "")] {
            let o = feed(&mut c, &f.bytes_for(role));
            assert_eq!(o.messages, vec![]);
            assert_eq!(o.error, None);
        }
        assert_nothing_sent(&mut c);
    }
}
