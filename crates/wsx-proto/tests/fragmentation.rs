//! Fragmentation (RFC 6455 §5.4): reassembly, control frames between fragments, the rules for
//! starting and continuing messages, and the fragment-count limit.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use wsx_proto::{Config, Error, Message, OpCode, ProtocolError, ReadyState, Role};

#[test]
fn fragmented_text_is_reassembled() {
    for role in ROLES {
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::text("Hel").more(),
                Frame::cont("lo, ").more(),
                Frame::cont("world"),
            ],
        );
        assert_eq!(receive(&mut c, &wire), vec![text("Hello, world")]);
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn fragmented_binary_is_reassembled() {
    for role in ROLES {
        let mut c = conn(role);
        let data = noise(10_000, 5);
        let wire = stream_for(
            role,
            &[
                Frame::binary(&data[..1]).more(),
                Frame::cont(&data[1..4000]).more(),
                Frame::cont(&data[4000..9999]).more(),
                Frame::cont(&data[9999..]),
            ],
        );
        assert_eq!(receive(&mut c, &wire), vec![binary(&data)]);
    }
}

#[test]
fn a_message_of_a_thousand_one_byte_fragments_is_reassembled() {
    for role in ROLES {
        let data = noise(1000, 8);
        let mut frames = vec![Frame::binary(&data[..1]).more()];
        for i in 1..999 {
            frames.push(Frame::cont(&data[i..i + 1]).more());
        }
        frames.push(Frame::cont(&data[999..]));
        let mut c = conn(role);
        assert_eq!(
            receive(&mut c, &stream_for(role, &frames)),
            vec![binary(&data)]
        );
    }
}

#[test]
fn messages_after_a_fragmented_one_are_independent() {
    for role in ROLES {
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::binary("ab").more(),
                Frame::cont("cd"),
                Frame::text("single"),
                Frame::text("x").more(),
                Frame::cont("y"),
                Frame::binary("z"),
            ],
        );
        assert_eq!(
            receive(&mut c, &wire),
            vec![binary("abcd"), text("single"), text("xy"), binary("z")]
        );
    }
}

#[test]
fn pings_and_pongs_between_fragments_are_handled_and_the_message_is_intact() {
    for role in ROLES {
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::text("Hel").more(),
                Frame::ping("ping-1"),
                Frame::cont("lo").more(),
                Frame::pong("pong-1"),
                Frame::ping(""),
                Frame::cont("!"),
            ],
        );
        assert_eq!(
            receive(&mut c, &wire),
            vec![ping("ping-1"), pong("pong-1"), ping(""), text("Hello!")]
        );
        // Each ping was answered at once with a pong carrying the same payload.
        let sent = sent_frames(&mut c);
        let sent: Vec<_> = sent.iter().map(|f| (f.opcode, &f.payload[..])).collect();
        assert_eq!(sent, vec![(op::PONG, &b"ping-1"[..]), (op::PONG, &b""[..])]);
    }
}

#[test]
fn a_ping_between_fragments_is_answered_before_the_message_completes() {
    for role in ROLES {
        let mut c = conn(role);
        let first = stream_for(role, &[Frame::binary("part").more(), Frame::ping("now")]);
        assert_eq!(receive(&mut c, &first), vec![ping("now")]);
        assert_frame_sent(&mut c, op::PONG, b"now");
        let rest = Frame::cont("-end").bytes_for(role);
        assert_eq!(receive(&mut c, &rest), vec![binary("part-end")]);
    }
}

#[test]
fn auto_pong_can_be_turned_off() {
    for role in ROLES {
        let mut c = conn_with(role, Config::default().auto_pong(false));
        let wire = stream_for(
            role,
            &[Frame::text("a").more(), Frame::ping("p"), Frame::cont("b")],
        );
        assert_eq!(receive(&mut c, &wire), vec![ping("p"), text("ab")]);
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn a_close_between_fragments_drops_the_unfinished_message() {
    for role in ROLES {
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::text("never").more(),
                Frame::close(1001, "going"),
                Frame::cont(" finished"),
            ],
        );
        let m = receive(&mut c, &wire);
        assert_eq!(m.len(), 1);
        assert!(matches!(&m[0], Message::Close(Some(f)) if f.code.0 == 1001));
        assert_close_sent(&mut c, Some(1001));
        assert_eq!(c.ready_state(), ReadyState::Closed);
    }
}

#[test]
fn a_continuation_without_a_message_to_continue_fails_with_1002() {
    for role in ROLES {
        for fin in [true, false] {
            for payload in ["", "x"] {
                let mut c = conn(role);
                let e = assert_fails(&mut c, &Frame::cont(payload).fin(fin).bytes_for(role), 1002);
                assert_eq!(e, ProtocolError::UnexpectedContinuation);
            }
        }
        // After a message has completed, there is nothing to continue either.
        let mut c = conn(role);
        let o = feed(
            &mut c,
            &stream_for(
                role,
                &[Frame::text("a").more(), Frame::cont("b"), Frame::cont("c")],
            ),
        );
        assert_eq!(o.messages, vec![text("ab")]);
        let e = o.error.unwrap();
        assert_eq!(e, ProtocolError::UnexpectedContinuation);
        assert_failed_with(&mut c, &e, 1002);
    }
}

#[test]
fn a_new_data_frame_while_a_fragmented_message_is_open_fails_with_1002() {
    for role in ROLES {
        for (first, second) in [
            (Frame::text("a").more(), Frame::text("b")),
            (Frame::text("a").more(), Frame::binary("b")),
            (Frame::binary("a").more(), Frame::text("b")),
            (Frame::binary("a").more(), Frame::binary("b").more()),
            (Frame::text("").more(), Frame::text("")),
        ] {
            let mut c = conn(role);
            let wire = stream_for(role, &[first, second]);
            let e = assert_fails(&mut c, &wire, 1002);
            assert_eq!(e, ProtocolError::ExpectedContinuation);
        }
    }
}

#[test]
fn the_fragment_limit_allows_exactly_max_fragments() {
    for role in ROLES {
        let cfg = Config::default().max_fragments(4);
        let mut c = conn_with(role, cfg.clone());
        let wire = stream_for(
            role,
            &[
                Frame::text("a").more(),
                Frame::cont("b").more(),
                Frame::cont("c").more(),
                Frame::cont("d"),
            ],
        );
        assert_eq!(receive(&mut c, &wire), vec![text("abcd")]);
        // The count starts again with every message.
        assert_eq!(receive(&mut c, &wire), vec![text("abcd")]);
        assert_eq!(
            receive(&mut c, &Frame::binary("x").bytes_for(role)),
            vec![binary("x")]
        );
    }
}

#[test]
fn too_many_fragments_fail_with_1009() {
    for role in ROLES {
        let cfg = Config::default().max_fragments(4);
        let mut frames = vec![Frame::binary("a").more()];
        frames.extend((0..3).map(|_| Frame::cont("b").more()));
        let fifth = Frame::cont("c").bytes_for(role);
        let wire = stream_for(role, &frames);
        let mut c = conn_with(role, cfg);
        assert_eq!(receive(&mut c, &wire), vec![]);
        // The fifth fragment is refused on its header, before its payload.
        let header_len = if role == Role::Server { 6 } else { 2 };
        let e = assert_fails(&mut c, &fifth[..header_len], 1009);
        assert_eq!(e, ProtocolError::TooManyFragments { max: 4 });
    }
}

#[test]
fn a_limit_of_one_fragment_refuses_any_fragmentation() {
    for role in ROLES {
        let cfg = Config::default().max_fragments(1);
        let mut c = conn_with(role, cfg.clone());
        assert_eq!(
            receive(&mut c, &Frame::text("whole").bytes_for(role)),
            vec![text("whole")]
        );
        let mut c = conn_with(role, cfg);
        let wire = stream_for(role, &[Frame::text("a").more(), Frame::cont("b")]);
        let e = assert_fails(&mut c, &wire, 1009);
        assert_eq!(e, ProtocolError::TooManyFragments { max: 1 });
    }
}

#[test]
fn max_fragments_of_zero_is_treated_as_one() {
    assert_eq!(Config::default().max_fragments(0).max_fragments, 1);
}

#[test]
fn empty_fragments_are_allowed_anywhere_in_a_message() {
    for role in ROLES {
        let cases: Vec<(Vec<Frame>, Message)> = vec![
            (vec![Frame::text("").more(), Frame::cont("")], text("")),
            (vec![Frame::binary("").more(), Frame::cont("")], binary("")),
            (
                vec![
                    Frame::text("").more(),
                    Frame::cont("").more(),
                    Frame::cont("abc"),
                ],
                text("abc"),
            ),
            (
                vec![
                    Frame::text("abc").more(),
                    Frame::cont("").more(),
                    Frame::cont(""),
                ],
                text("abc"),
            ),
            (
                vec![
                    Frame::binary("").more(),
                    Frame::cont("a").more(),
                    Frame::cont("").more(),
                    Frame::cont("b").more(),
                    Frame::cont(""),
                ],
                binary("ab"),
            ),
            (
                vec![
                    Frame::text("").more(),
                    Frame::ping(""),
                    Frame::cont("").more(),
                    Frame::cont(""),
                ],
                text(""),
            ),
        ];
        for (frames, expected) in cases {
            let mut c = conn(role);
            let got = receive(&mut c, &stream_for(role, &frames));
            let data: Vec<_> = got.into_iter().filter(Message::is_data).collect();
            assert_eq!(data, vec![expected.clone()], "{role:?} {frames:?}");
            // Byte by byte as well.
            let mut c = conn(role);
            let o = feed_bytewise(&mut c, &stream_for(role, &frames));
            assert_eq!(o.error, None);
            let data: Vec<_> = o.messages.into_iter().filter(Message::is_data).collect();
            assert_eq!(data, vec![expected]);
        }
    }
}

#[test]
fn send_fragment_produces_a_fragmented_message_the_peer_reassembles() {
    for sender in ROLES {
        let (mut client, mut server) = pair(Config::default(), None);
        let (from, to) = match sender {
            Role::Client => (&mut client, &mut server),
            Role::Server => (&mut server, &mut client),
        };
        from.send_fragment(OpCode::Text, Bytes::from_static(b"frag"), false)
            .unwrap();
        from.send_fragment(OpCode::Continuation, Bytes::from_static(b"men"), false)
            .unwrap();
        from.send_fragment(OpCode::Continuation, Bytes::from_static(b"ted"), true)
            .unwrap();
        let bytes = from.output_mut().take_all();
        let frames = parse_frames(&bytes);
        let shape: Vec<_> = frames.iter().map(|f| (f.opcode, f.fin, f.rsv1)).collect();
        assert_eq!(
            shape,
            vec![
                (op::TEXT, false, false),
                (op::CONT, false, false),
                (op::CONT, true, false)
            ]
        );
        assert_eq!(receive(to, &bytes), vec![text("fragmented")]);
    }
}

#[test]
fn send_fragment_refuses_control_opcodes() {
    for role in ROLES {
        let mut c = conn(role);
        for opcode in [OpCode::Ping, OpCode::Pong, OpCode::Close] {
            let r = c.send_fragment(opcode, Bytes::new(), false);
            assert!(
                matches!(
                    r,
                    Err(Error::Protocol(ProtocolError::FragmentedControlFrame))
                ),
                "{r:?}"
            );
        }
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn a_ping_may_be_sent_between_fragments_of_an_outgoing_message() {
    let (mut client, mut server) = pair(Config::default(), None);
    client
        .send_fragment(OpCode::Binary, Bytes::from_static(b"12"), false)
        .unwrap();
    client.send(ping("mid")).unwrap();
    client
        .send_fragment(OpCode::Continuation, Bytes::from_static(b"34"), true)
        .unwrap();
    assert_eq!(
        transfer(&mut client, &mut server),
        vec![ping("mid"), binary("1234")]
    );
    assert_eq!(transfer(&mut server, &mut client), vec![pong("mid")]);
}

#[test]
fn outgoing_fragments_follow_the_fragmentation_rules() {
    for role in ROLES {
        // A continuation with no message started.
        let mut c = conn(role);
        assert!(
            c.send_fragment(OpCode::Continuation, Bytes::from_static(b"x"), true)
                .is_err()
        );
        assert_nothing_sent(&mut c);

        // A new message, by fragment or whole, while one is unfinished.
        let mut c = conn(role);
        c.send_fragment(OpCode::Text, Bytes::from_static(b"open"), false)
            .unwrap();
        let _ = sent_frames(&mut c);
        assert!(
            c.send_fragment(OpCode::Binary, Bytes::from_static(b"x"), true)
                .is_err()
        );
        assert!(c.send(text("interleaved")).is_err());
        assert_nothing_sent(&mut c);
        // Control frames are still allowed in between, and the message can be finished.
        c.send(ping("p")).unwrap();
        c.send_fragment(OpCode::Continuation, Bytes::from_static(b"ed"), true)
            .unwrap();
        c.send(text("next")).unwrap();
        let shape: Vec<_> = sent_frames(&mut c)
            .iter()
            .map(|f| (f.opcode, f.fin))
            .collect();
        assert_eq!(
            shape,
            vec![(op::PING, true), (op::CONT, true), (op::TEXT, true)]
        );
    }
}
