//! Limits: frame size, message size (across fragments), and the control-frame payload limit
//! on the sending side. Exceeding a receive limit fails the connection with 1009.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsx_proto::{Config, Error, ProtocolError, Role};

fn header_len(role: Role, payload: usize) -> usize {
    let len = match payload {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    len + if role == Role::Server { 4 } else { 0 }
}

#[test]
fn a_frame_at_max_frame_size_is_accepted() {
    for role in ROLES {
        let cfg = Config::default().max_frame_size(1000);
        let mut c = conn_with(role, cfg);
        let data = noise(1000, 1);
        assert_eq!(
            receive_one(&mut c, &Frame::binary(&data).bytes_for(role)),
            binary(&data)
        );
        let t = "t".repeat(1000);
        assert_eq!(
            receive_one(&mut c, &Frame::text(&t).bytes_for(role)),
            text(&t)
        );
    }
}

#[test]
fn a_frame_over_max_frame_size_fails_with_1009_on_its_header() {
    for role in ROLES {
        let cfg = Config::default().max_frame_size(1000);
        for f in [Frame::binary(noise(1001, 2)), Frame::text("t".repeat(1001))] {
            let wire = f.bytes_for(role);
            // Only the header is needed: the payload never has to be buffered.
            let mut c = conn_with(role, cfg.clone());
            let e = assert_fails(&mut c, &wire[..header_len(role, 1001)], 1009);
            assert_eq!(
                e,
                ProtocolError::FrameTooBig {
                    size: 1001,
                    max: 1000
                }
            );
        }
    }
}

#[test]
fn the_frame_limit_applies_to_continuation_frames() {
    for role in ROLES {
        let cfg = Config::default().max_frame_size(100);
        let mut c = conn_with(role, cfg);
        let wire = stream_for(
            role,
            &[Frame::binary([1; 100]).more(), Frame::cont([2; 101])],
        );
        let e = assert_fails(&mut c, &wire, 1009);
        assert!(
            matches!(
                e,
                ProtocolError::FrameTooBig {
                    size: 101,
                    max: 100
                }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn a_huge_announced_length_fails_with_1009_without_waiting_for_the_payload() {
    for role in ROLES {
        for n in [1u64 << 32, 1 << 40, (1 << 63) - 1] {
            let wire = Frame::binary("").declared_len(n).bytes_for(role);
            let mut c = conn(role);
            let e = assert_fails(&mut c, &wire, 1009);
            assert!(
                matches!(e, ProtocolError::FrameTooBig { size, .. } if size == n),
                "{e:?}"
            );
        }
    }
}

#[test]
fn a_message_over_max_message_size_in_one_frame_fails_with_1009() {
    for role in ROLES {
        // A frame limit above the message limit, so the message limit is what triggers.
        let cfg = Config::default()
            .max_message_size(500)
            .max_frame_size(10_000);
        let mut c = conn_with(role, cfg);
        let wire = Frame::binary(noise(501, 3)).bytes_for(role);
        let e = assert_fails(&mut c, &wire[..header_len(role, 501)], 1009);
        assert!(
            matches!(e, ProtocolError::MessageTooBig { max: 500, .. }),
            "{e:?}"
        );
    }
}

#[test]
fn max_message_size_is_counted_across_fragments() {
    for role in ROLES {
        let cfg = Config::default().max_message_size(1000);
        let mut c = conn_with(role, cfg);
        let first = stream_for(
            role,
            &[
                Frame::text("a".repeat(400)).more(),
                Frame::cont("b".repeat(400)).more(),
            ],
        );
        assert_eq!(receive(&mut c, &first), vec![]);
        // 800 + 201 > 1000: refused on the third fragment's header.
        let third = Frame::cont("c".repeat(201)).bytes_for(role);
        let e = assert_fails(&mut c, &third[..header_len(role, 201)], 1009);
        assert_eq!(
            e,
            ProtocolError::MessageTooBig {
                size: 1001,
                max: 1000
            }
        );
    }
}

#[test]
fn a_fragmented_message_of_exactly_max_message_size_is_accepted() {
    for role in ROLES {
        let cfg = Config::default().max_message_size(1000);
        let mut c = conn_with(role, cfg);
        let wire = stream_for(
            role,
            &[
                Frame::binary([1; 400]).more(),
                Frame::cont([2; 0]).more(),
                Frame::cont([3; 600]),
            ],
        );
        let expected = [vec![1u8; 400], vec![3u8; 600]].concat();
        assert_eq!(receive(&mut c, &wire), vec![binary(&expected)]);
        // The count starts again with the next message.
        assert_eq!(receive(&mut c, &wire), vec![binary(&expected)]);
        let one = Frame::text("z".repeat(1000)).bytes_for(role);
        assert_eq!(receive(&mut c, &one), vec![text(&"z".repeat(1000))]);
    }
}

#[test]
fn control_frames_between_fragments_do_not_count_towards_the_message_size() {
    for role in ROLES {
        let cfg = Config::default().max_message_size(200);
        let mut c = conn_with(role, cfg);
        let wire = stream_for(
            role,
            &[
                Frame::binary([1; 100]).more(),
                Frame::ping([0; 125]),
                Frame::pong([0; 125]),
                Frame::cont([2; 100]),
            ],
        );
        let m = receive(&mut c, &wire);
        assert_eq!(m.len(), 3);
        assert_eq!(m[2], binary([[1u8; 100], [2u8; 100]].concat()));
    }
}

#[test]
fn setting_max_message_size_lowers_the_frame_limit() {
    let cfg = Config::default().max_message_size(4096);
    assert_eq!(cfg.max_message_size, 4096);
    assert_eq!(cfg.max_frame_size, 4096);
    let cfg = Config::default().max_frame_size(100).max_message_size(4096);
    assert_eq!(cfg.max_frame_size, 100);
}

#[test]
fn a_ping_of_125_bytes_is_sent_and_one_of_126_is_refused() {
    for role in ROLES {
        let mut c = conn(role);
        c.send(ping([7; 125])).unwrap();
        assert_frame_sent(&mut c, op::PING, &[7; 125]);
        c.send(pong([8; 125])).unwrap();
        assert_frame_sent(&mut c, op::PONG, &[8; 125]);
        for m in [ping([7; 126]), pong([8; 126]), ping(vec![0; 70_000])] {
            let r = c.send(m);
            assert!(
                matches!(r, Err(Error::Protocol(ProtocolError::ControlFrameTooLong))),
                "{r:?}"
            );
        }
        assert_nothing_sent(&mut c);
        // Refusing to send is not a failure of the connection.
        assert!(!c.is_failed());
        c.send(text("still open")).unwrap();
        assert_frame_sent(&mut c, op::TEXT, b"still open");
    }
}

#[test]
fn receive_limits_do_not_restrict_what_is_sent() {
    // Receive limits do not restrict what this end sends.
    let (mut client, mut server) = pair(Config::default().max_message_size(10), None);
    client.send(binary([0; 100])).unwrap();
    let bytes = client.output_mut().take_all();
    assert_eq!(parse_frames(&bytes)[0].payload.len(), 100);
    let o = feed(&mut server, &bytes);
    assert!(matches!(o.error, Some(ProtocolError::FrameTooBig { .. })));
}

#[test]
fn a_frame_past_the_memory_room_fails_with_1013_on_its_header() {
    for role in ROLES {
        let mut c = conn(role);
        c.set_memory_room(1000);
        let wire = Frame::binary(noise(1001, 3)).bytes_for(role);
        let e = assert_fails(&mut c, &wire[..header_len(role, 1001)], 1013);
        assert_eq!(e, ProtocolError::OverBudget { size: 1001 });
        // Within the room: delivered.
        let mut c = conn(role);
        c.set_memory_room(1000);
        let data = noise(1000, 4);
        assert_eq!(
            receive_one(&mut c, &Frame::binary(&data).bytes_for(role)),
            binary(&data)
        );
    }
}

#[test]
fn a_fragment_past_the_memory_room_fails_with_1013() {
    for role in ROLES {
        let mut c = conn(role);
        c.set_memory_room(1000);
        let wire = stream_for(
            role,
            &[
                Frame::text("a".repeat(400)).more(),
                Frame::cont("b".repeat(600)),
            ],
        );
        let e = assert_fails(&mut c, &wire, 1013);
        assert_eq!(e, ProtocolError::OverBudget { size: 600 });
    }
}
