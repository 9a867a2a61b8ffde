//! The closing handshake (RFC 6455 §5.5.1, §7): close codes allowed on the wire, close
//! payload rules, who echoes what, the ready states, and what may be sent or received after.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use wsx_proto::{CloseCode, CloseFrame, Error, Message, OpCode, ProtocolError, ReadyState};

const VALID: &[u16] = &[
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3001, 3999, 4000,
    4321, 4999,
];

const INVALID: &[u16] = &[
    0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 6000, 65535,
];

fn close_frame(m: &Message) -> &CloseFrame {
    match m {
        Message::Close(Some(f)) => f,
        other => panic!("expected a close with a code, got {other:?}"),
    }
}

#[test]
fn close_codes_allowed_on_the_wire_are_accepted_and_echoed() {
    for role in ROLES {
        for &code in VALID {
            let mut c = conn(role);
            let m = receive_one(&mut c, &Frame::close(code, "reason").bytes_for(role));
            let f = close_frame(&m);
            assert_eq!(f.code, CloseCode(code));
            assert_eq!(f.reason.as_str(), "reason");
            assert_close_sent(&mut c, Some(code));
            assert_eq!(c.ready_state(), ReadyState::Closed);
            assert!(!c.is_failed());
        }
    }
}

#[test]
fn close_codes_not_allowed_on_the_wire_fail_with_1002() {
    for role in ROLES {
        for &code in INVALID {
            for reason in ["", "why"] {
                let mut c = conn(role);
                let e = assert_fails(&mut c, &Frame::close(code, reason).bytes_for(role), 1002);
                assert_eq!(e, ProtocolError::InvalidCloseCode(code));
            }
        }
    }
}

#[test]
fn the_wire_validity_rule_matches_rfc_6455_for_every_code() {
    for code in 0..=u16::MAX {
        let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        assert_eq!(CloseCode(code).is_valid_on_wire(), expected, "{code}");
    }
}

#[test]
fn a_one_byte_close_payload_fails_with_1002() {
    for role in ROLES {
        for b in [0x03u8, 0xe8, 0x00] {
            let mut c = conn(role);
            let e = assert_fails(&mut c, &Frame::new(op::CLOSE, [b]).bytes_for(role), 1002);
            assert_eq!(e, ProtocolError::InvalidClosePayload);
        }
    }
}

#[test]
fn a_close_reason_of_123_bytes_is_accepted() {
    for role in ROLES {
        let reason = "é".repeat(61) + "x"; // 123 bytes, multi-byte
        assert_eq!(reason.len(), 123);
        let mut c = conn(role);
        let m = receive_one(&mut c, &Frame::close(1000, &reason).bytes_for(role));
        assert_eq!(close_frame(&m).reason.as_str(), reason);
        assert_close_sent(&mut c, Some(1000));
    }
}

#[test]
fn a_close_payload_of_126_bytes_fails_with_1002() {
    for role in ROLES {
        let mut c = conn(role);
        let e = assert_fails(
            &mut c,
            &Frame::close(1000, "r".repeat(124)).bytes_for(role),
            1002,
        );
        assert_eq!(e, ProtocolError::ControlFrameTooLong);
    }
}

#[test]
fn a_peer_initiated_close_is_echoed_and_closes_the_connection() {
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(c.ready_state(), ReadyState::Open);
        let m = receive_one(
            &mut c,
            &Frame::close(1001, "server going down").bytes_for(role),
        );
        assert_eq!(close_frame(&m).code, CloseCode::GOING_AWAY);
        // The reply echoes the status code.
        let reply = assert_close_sent(&mut c, Some(1001));
        assert!(reply.fin);
        assert!(c.close_sent() && c.close_received());
        assert_eq!(c.ready_state(), ReadyState::Closed);
        // Nothing more may be sent.
        assert!(matches!(c.send(text("late")), Err(Error::Closed)));
        assert!(matches!(c.close(1000, ""), Err(Error::Closed)));
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn an_empty_close_payload_is_answered_with_an_empty_close() {
    for role in ROLES {
        let mut c = conn(role);
        let m = receive_one(&mut c, &Frame::close_empty().bytes_for(role));
        assert_eq!(m, Message::Close(None));
        let reply = assert_close_sent(&mut c, None);
        assert!(reply.payload.is_empty());
        assert_eq!(c.ready_state(), ReadyState::Closed);
    }
}

#[test]
fn a_locally_initiated_close_is_closing_until_the_peer_answers() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(CloseCode::NORMAL, "done").unwrap();
        let sent = assert_close_sent(&mut c, Some(1000));
        assert_eq!(sent.close_reason(), "done");
        assert_eq!(c.ready_state(), ReadyState::Closing);
        assert!(c.close_sent() && !c.close_received());
        // The peer's answer completes the handshake, and is not answered again.
        let m = receive_one(&mut c, &Frame::close(1000, "").bytes_for(role));
        assert_eq!(close_frame(&m).code, CloseCode::NORMAL);
        assert_eq!(c.ready_state(), ReadyState::Closed);
        assert!(!c.is_failed());
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn the_peer_may_answer_a_close_with_another_code_or_an_empty_close() {
    for role in ROLES {
        for answer in [Frame::close(1001, "bye"), Frame::close_empty()] {
            let mut c = conn(role);
            c.close(4000, "").unwrap();
            let _ = sent_frames(&mut c);
            let m = receive_one(&mut c, &answer.bytes_for(role));
            assert!(matches!(m, Message::Close(_)));
            assert_eq!(c.ready_state(), ReadyState::Closed);
            assert_nothing_sent(&mut c);
        }
    }
}

#[test]
fn data_still_arrives_while_closing() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(1000, "").unwrap();
        let _ = sent_frames(&mut c);
        let wire = stream_for(
            role,
            &[
                Frame::text("in flight"),
                Frame::binary("also").more(),
                Frame::cont(" this"),
                Frame::close(1000, ""),
            ],
        );
        let m = receive(&mut c, &wire);
        assert_eq!(m[..2], [text("in flight"), binary("also this")]);
        assert!(matches!(m[2], Message::Close(_)));
        assert_eq!(c.ready_state(), ReadyState::Closed);
    }
}

#[test]
fn pings_received_after_sending_a_close_are_surfaced_but_not_answered() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(1000, "").unwrap();
        let _ = sent_frames(&mut c);
        assert_eq!(
            receive_one(&mut c, &Frame::ping("p").bytes_for(role)),
            ping("p")
        );
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn after_a_close_is_sent_nothing_else_can_be_sent() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(1000, "").unwrap();
        let _ = sent_frames(&mut c);
        assert!(matches!(c.send(text("x")), Err(Error::Closed)));
        assert!(matches!(c.send(binary("x")), Err(Error::Closed)));
        assert!(matches!(c.send(ping("x")), Err(Error::Closed)));
        assert!(matches!(c.send(pong("x")), Err(Error::Closed)));
        assert!(matches!(c.send_with(text("x"), false), Err(Error::Closed)));
        assert!(matches!(c.send(Message::Close(None)), Err(Error::Closed)));
        assert!(matches!(c.close(1000, ""), Err(Error::Closed)));
        assert!(matches!(
            c.send_fragment(OpCode::Text, Bytes::from_static(b"x"), true),
            Err(Error::Closed)
        ));
        assert_nothing_sent(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Closing);
    }
}

#[test]
fn close_validates_its_code() {
    for role in ROLES {
        let mut c = conn(role);
        for &code in INVALID {
            let r = c.close(code, "");
            assert!(
                matches!(r, Err(Error::Protocol(ProtocolError::InvalidCloseCode(x))) if x == code),
                "{code}: {r:?}"
            );
        }
        // Nothing was sent and the connection is still open: a valid close still works.
        assert_nothing_sent(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Open);
        c.close(CloseCode::TRY_AGAIN_LATER, "later").unwrap();
        let f = assert_close_sent(&mut c, Some(1013));
        assert_eq!(f.close_reason(), "later");
    }
}

#[test]
fn close_validates_the_length_of_its_reason() {
    for role in ROLES {
        let mut c = conn(role);
        let r = c.close(1000, &"x".repeat(124));
        assert!(
            matches!(
                r,
                Err(Error::Protocol(ProtocolError::CloseReasonTooLong(124)))
            ),
            "{r:?}"
        );
        let r = c.close(1000, &"€".repeat(42)); // 126 bytes, 42 characters
        assert!(matches!(
            r,
            Err(Error::Protocol(ProtocolError::CloseReasonTooLong(126)))
        ));
        assert_nothing_sent(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Open);
        let reason = "y".repeat(123);
        c.close(3000, &reason).unwrap();
        let f = assert_close_sent(&mut c, Some(3000));
        assert_eq!(f.close_reason(), reason);
        assert_eq!(f.payload.len(), 125);
    }
}

#[test]
fn sending_a_close_message_is_validated_like_close() {
    for role in ROLES {
        let mut c = conn(role);
        // Built by hand, bypassing CloseFrame::new.
        let bad = CloseFrame {
            code: CloseCode::NO_STATUS,
            reason: "".into(),
        };
        assert!(c.send(Message::Close(Some(bad))).is_err());
        let long = CloseFrame {
            code: CloseCode::NORMAL,
            reason: "z".repeat(124).into(),
        };
        assert!(c.send(Message::Close(Some(long))).is_err());
        assert_nothing_sent(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Open);
        let ok = CloseFrame::new(CloseCode::POLICY, "policy").unwrap();
        c.send(Message::Close(Some(ok))).unwrap();
        let f = assert_close_sent(&mut c, Some(1008));
        assert_eq!(f.close_reason(), "policy");
        assert_eq!(c.ready_state(), ReadyState::Closing);
    }
}

#[test]
fn sending_an_empty_close_message_sends_an_empty_close_frame() {
    for role in ROLES {
        let mut c = conn(role);
        c.send(Message::Close(None)).unwrap();
        assert_close_sent(&mut c, None);
        assert_eq!(c.ready_state(), ReadyState::Closing);
    }
}

#[test]
fn close_frame_new_rejects_codes_that_cannot_be_sent() {
    for &code in INVALID {
        assert_eq!(
            CloseFrame::new(code, ""),
            Err(ProtocolError::InvalidCloseCode(code))
        );
    }
    for &code in VALID {
        assert!(CloseFrame::new(code, "").is_ok());
    }
}

#[test]
fn data_after_a_received_close_is_ignored() {
    for role in ROLES {
        let mut c = conn(role);
        let wire = stream_for(
            role,
            &[
                Frame::close(1000, ""),
                Frame::text("ignored"),
                Frame::ping("ignored"),
                Frame::new(0x3, "even garbage"),
            ],
        );
        let o = feed(&mut c, &wire);
        assert_eq!(o.error, None);
        assert_eq!(o.messages.len(), 1);
        assert!(matches!(o.messages[0], Message::Close(_)));
        // Only the echo was sent: no pong, no second close, no failure.
        assert_close_sent(&mut c, Some(1000));
        assert!(!c.is_failed());
        let o = feed(&mut c, &Frame::text("later still").bytes_for(role));
        assert_eq!(o.messages, vec![]);
        assert_eq!(o.error, None);
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn the_close_handshake_between_two_connections() {
    let (mut client, mut server) = pair(Default::default(), None);
    server.close(CloseCode::GOING_AWAY, "restart").unwrap();
    assert_eq!(server.ready_state(), ReadyState::Closing);
    let got = transfer(&mut server, &mut client);
    assert_eq!(close_frame(&got[0]).reason.as_str(), "restart");
    assert_eq!(client.ready_state(), ReadyState::Closed);
    let got = transfer(&mut client, &mut server);
    assert_eq!(close_frame(&got[0]).code, CloseCode::GOING_AWAY);
    assert_eq!(server.ready_state(), ReadyState::Closed);
    assert!(!client.is_failed() && !server.is_failed());
    assert!(client.output().is_empty() && server.output().is_empty());
}

#[test]
fn every_protocol_error_sends_its_close_code_with_a_short_utf8_reason() {
    for role in ROLES {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (Frame::new(0xb, "").bytes_for(role), 1002),
            (Frame::text(b"\xff").bytes_for(role), 1007),
            (Frame::cont("x").bytes_for(role), 1002),
            (Frame::close(1005, "").bytes_for(role), 1002),
            (Frame::new(op::CLOSE, [3]).bytes_for(role), 1002),
            (Frame::close(1000, b"\xff").bytes_for(role), 1007),
            (Frame::ping("x").more().bytes_for(role), 1002),
            (Frame::text("x").rsv3().bytes_for(role), 1002),
            (Frame::text("x").to(peer_of(role)).encode(), 1002),
        ];
        for (wire, code) in cases {
            let mut c = conn(role);
            let e = assert_fails(&mut c, &wire, code);
            assert_eq!(e.close_code().0, code);
        }
    }
}

#[test]
fn a_protocol_error_after_sending_a_close_sends_no_second_close() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(1000, "").unwrap();
        let _ = sent_frames(&mut c);
        let o = feed(&mut c, &Frame::text(b"\xff").bytes_for(role));
        assert_eq!(o.error, Some(ProtocolError::InvalidUtf8));
        assert!(c.is_failed());
        assert_eq!(c.ready_state(), ReadyState::Closed);
        assert_nothing_sent(&mut c);
    }
}

#[test]
fn an_invalid_close_from_the_peer_while_closing_fails_without_a_second_close() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(1000, "").unwrap();
        let _ = sent_frames(&mut c);
        let o = feed(&mut c, &Frame::close(999, "").bytes_for(role));
        assert_eq!(o.error, Some(ProtocolError::InvalidCloseCode(999)));
        assert_eq!(c.ready_state(), ReadyState::Closed);
        assert_nothing_sent(&mut c);
    }
}
