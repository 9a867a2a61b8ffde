//! permessage-deflate (RFC 7692) between a client and a server `Connection`: round trips for
//! every negotiated combination, RSV1 rules, the threshold and per-message opt-out, and what
//! a hostile peer can send (inflate bombs, corrupt streams, invalid UTF-8). Compressed frames
//! are built by hand with flate2, and what `wsx-proto` sends is checked with an independent
//! decoder that measures how far back its references reach.

#![allow(clippy::unwrap_used)]
// A counting global allocator measures the memory an inflate bomb costs (see `alloc_meter`).
#![allow(unsafe_code)]

mod common;

use bytes::BytesMut;
use common::*;
use flate2::{Compress, Compression, FlushCompress, Status};
use wsx_proto::deflate::{DeflateConfig, parse_extensions};
use wsx_proto::{Config, Connection, DeflateParams, Message, ProtocolError, Role};

mod alloc_meter {
    //! Per-thread allocation accounting, to measure the peak memory of one call.

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static CURRENT: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn track(delta: isize) {
        let _ = CURRENT.try_with(|c| {
            let v = c.get() + delta;
            c.set(v);
            let _ = PEAK.try_with(|p| {
                if v > p.get() {
                    p.set(v);
                }
            });
        });
    }

    // SAFETY: every method forwards its arguments unchanged to the system allocator and only
    // adds bookkeeping in const-initialised thread-locals, which never allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract; forwarded as is.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                track(layout.size() as isize);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as for `alloc`.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                track(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation here is).
            unsafe { System.dealloc(ptr, layout) };
            track(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as for `dealloc`, with the caller's guarantees on `new_size`.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                track(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    /// Runs `f` and returns its result and the peak number of bytes it had allocated (on this
    /// thread) above what was allocated when it started.
    pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let start = CURRENT.with(Cell::get);
        PEAK.with(|p| p.set(start));
        let r = f();
        let peak = PEAK.with(Cell::get);
        (r, (peak - start).max(0) as usize)
    }
}

#[global_allocator]
static ALLOC: alloc_meter::Counting = alloc_meter::Counting;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: sbits,
        client_max_window_bits: cbits,
        level: 6,
        threshold: 0,
    }
}

fn default_params() -> DeflateParams {
    params(false, false, 15, 15)
}

/// A raw-deflate compressor like a peer's.
fn compressor(bits: u8) -> Compress {
    Compress::new_with_window_bits(Compression::new(6), false, bits)
}

fn run_compress(c: &mut Compress, data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let before = c.total_in();
        let status = c.compress_vec(&data[consumed..], &mut out, flush).unwrap();
        consumed += (c.total_in() - before) as usize;
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => consumed == data.len() && out.len() < out.capacity(),
        };
        if done {
            return out;
        }
    }
}

/// A message compressed as RFC 7692 §7.2.1 says: sync flush, the final `00 00 ff ff` removed.
fn deflate_message(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = run_compress(c, data, FlushCompress::Sync);
    assert_eq!(out[out.len() - 4..], TAIL);
    out.truncate(out.len() - 4);
    out
}

/// One message compressed by a fresh compressor.
fn deflate_once(data: &[u8]) -> Vec<u8> {
    deflate_message(&mut compressor(15), data)
}

mod window_check {
    //! A small, independent raw-DEFLATE decoder (after Mark Adler's puff.c) that also reports
    //! the longest back-reference distance used. zlib-rs always keeps a 32 KiB window, so it
    //! cannot tell whether a peer stayed within its negotiated `max_window_bits`; this can.

    struct Bits<'a> {
        data: &'a [u8],
        pos: usize,
        buf: u32,
        cnt: u32,
    }

    impl Bits<'_> {
        fn get(&mut self, n: u32) -> Result<u32, String> {
            while self.cnt < n {
                let b = *self.data.get(self.pos).ok_or("truncated")?;
                self.pos += 1;
                self.buf |= (b as u32) << self.cnt;
                self.cnt += 8;
            }
            let v = if n == 32 {
                self.buf
            } else {
                self.buf & ((1u32 << n) - 1)
            };
            self.buf = if n == 32 { 0 } else { self.buf >> n };
            self.cnt -= n;
            Ok(v)
        }
        fn align(&mut self) {
            self.buf = 0;
            self.cnt = 0;
        }
    }

    struct Huffman {
        count: [i32; 16],
        symbol: Vec<u16>,
    }

    impl Huffman {
        fn new(lengths: &[u8]) -> Self {
            let mut count = [0i32; 16];
            for &l in lengths {
                count[l as usize] += 1;
            }
            let mut offs = [0i32; 16];
            for len in 1..15 {
                offs[len + 1] = offs[len] + count[len];
            }
            let mut symbol = vec![0u16; lengths.len()];
            for (sym, &l) in lengths.iter().enumerate() {
                if l != 0 {
                    symbol[offs[l as usize] as usize] = sym as u16;
                    offs[l as usize] += 1;
                }
            }
            count[0] = 0;
            Self { count, symbol }
        }

        fn decode(&self, b: &mut Bits<'_>) -> Result<u16, String> {
            let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
            for len in 1..16 {
                code |= b.get(1)? as i32;
                let count = self.count[len];
                if code - count < first {
                    return Ok(self.symbol[(index + (code - first)) as usize]);
                }
                index += count;
                first += count;
                first <<= 1;
                code <<= 1;
            }
            Err("bad Huffman code".into())
        }
    }

    const LBASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u8; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u8; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];

    /// Inflates `data` (one message's payload with `00 00 ff ff` appended) onto `history`
    /// (the earlier output a back-reference may reach into: empty without context takeover).
    /// Returns this message's output and the longest distance it used.
    pub fn inflate(history: &mut Vec<u8>, data: &[u8]) -> Result<(Vec<u8>, usize), String> {
        let start = history.len();
        let mut b = Bits {
            data,
            pos: 0,
            buf: 0,
            cnt: 0,
        };
        let mut max_dist = 0;
        loop {
            if b.pos == data.len() && b.cnt < 8 && b.buf == 0 {
                break; // every block so far ended where the input does
            }
            let last = b.get(1)? == 1;
            match b.get(2)? {
                0 => {
                    b.align();
                    let len = b.get(16)?;
                    let nlen = b.get(16)?;
                    if len != !nlen & 0xffff {
                        return Err("stored block lengths".into());
                    }
                    for _ in 0..len {
                        history.push(b.get(8)? as u8);
                    }
                }
                t @ (1 | 2) => {
                    let (lit, dist) = if t == 1 {
                        let mut l = [8u8; 288];
                        l[144..256].fill(9);
                        l[256..280].fill(7);
                        (Huffman::new(&l), Huffman::new(&[5u8; 30]))
                    } else {
                        let nlen = b.get(5)? as usize + 257;
                        let ndist = b.get(5)? as usize + 1;
                        let ncode = b.get(4)? as usize + 4;
                        let mut cl = [0u8; 19];
                        for &i in &ORDER[..ncode] {
                            cl[i] = b.get(3)? as u8;
                        }
                        let clh = Huffman::new(&cl);
                        let mut lengths: Vec<u8> = Vec::with_capacity(nlen + ndist);
                        while lengths.len() < nlen + ndist {
                            let sym = clh.decode(&mut b)?;
                            let (val, rep) = match sym {
                                0..=15 => (sym as u8, 1),
                                16 => (*lengths.last().ok_or("repeat of nothing")?, 3 + b.get(2)?),
                                17 => (0, 3 + b.get(3)?),
                                _ => (0, 11 + b.get(7)?),
                            };
                            lengths.extend(std::iter::repeat_n(val, rep as usize));
                        }
                        if lengths.len() != nlen + ndist {
                            return Err("code lengths overrun".into());
                        }
                        (
                            Huffman::new(&lengths[..nlen]),
                            Huffman::new(&lengths[nlen..]),
                        )
                    };
                    loop {
                        let sym = lit.decode(&mut b)? as usize;
                        if sym < 256 {
                            history.push(sym as u8);
                        } else if sym == 256 {
                            break;
                        } else {
                            let i = sym - 257;
                            let len = *LBASE.get(i).ok_or("bad length")? as usize
                                + b.get(LEXT[i] as u32)? as usize;
                            let d = dist.decode(&mut b)? as usize;
                            let d = *DBASE.get(d).ok_or("bad distance")? as usize
                                + b.get(DEXT[d] as u32)? as usize;
                            if d > history.len() {
                                return Err(format!("distance {d} before the start"));
                            }
                            max_dist = max_dist.max(d);
                            for _ in 0..len {
                                history.push(history[history.len() - d]);
                            }
                        }
                    }
                }
                _ => return Err("invalid block type".into()),
            }
            if last {
                break;
            }
        }
        Ok((history[start..].to_vec(), max_dist))
    }
}

/// Data with repeats at distances from 300 bytes up to `max`, so a compressor using a larger
/// window than negotiated emits back-references the window checker sees.
fn window_probe(max: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let dists = [300usize, 700, 1500, 3000, 6000, 12_000, 24_000];
    for (i, d) in dists.into_iter().filter(|&d| d <= max).enumerate() {
        let block = noise(d, 100 + i as u64);
        v.extend_from_slice(&block);
        v.extend_from_slice(&block);
    }
    v
}

fn json_like(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"id\":{i},\"name\":\"user-{}\",\"ok\":true}}", i % 17))
        .collect::<Vec<_>>()
        .join(",")
}

/// The sending side's window bits and context-takeover setting under `p`.
fn sender_side(p: &DeflateParams, sender: Role) -> (u8, bool) {
    match sender {
        Role::Server => (p.server_max_window_bits, p.server_no_context_takeover),
        Role::Client => (p.client_max_window_bits, p.client_no_context_takeover),
    }
}

/// Sends `msgs` from `sender` to the other end of a pair negotiated with `p`, and checks the
/// messages arrive intact, every frame has RSV1, and an independent decoder finds every
/// back-reference within the sender's negotiated window (and within the message itself
/// without context takeover).
fn check_direction(p: DeflateParams, sender: Role, msgs: &[Message]) {
    let (mut client, mut server) = pair(Config::default(), Some(p));
    let (from, to) = match sender {
        Role::Client => (&mut client, &mut server),
        Role::Server => (&mut server, &mut client),
    };
    let (bits, nct) = sender_side(&p, sender);
    let mut history = Vec::new();
    for m in msgs {
        from.send(m.clone()).unwrap();
        let bytes = from.output_mut().take_all();
        let frames = parse_frames(&bytes);
        assert_eq!(frames.len(), 1);
        let f = &frames[0];
        assert!(f.rsv1 && f.fin, "{p:?} {sender:?}: {f:?}");
        if nct {
            history.clear();
        }
        let input = [&f.payload[..], &TAIL[..]].concat();
        let (inflated, max_dist) = window_check::inflate(&mut history, &input)
            .unwrap_or_else(|e| panic!("{p:?} {sender:?}: {e}"));
        assert_eq!(inflated, m.as_payload(), "{p:?} {sender:?}");
        assert!(
            max_dist <= 1 << bits,
            "{p:?} {sender:?}: distance {max_dist} with {bits} window bits"
        );
        assert_eq!(receive(to, &bytes), vec![m.clone()], "{p:?} {sender:?}");
    }
}

#[test]
fn the_window_checker_decodes_like_zlib_and_measures_distances() {
    // The instrument used by the round-trip tests: it agrees with zlib on what a stream
    // means, and sees a 15-bit compressor reach further back than a 9-bit one may.
    let data = window_probe(24_000);
    let wide = deflate_once(&data);
    let (out, dist) =
        window_check::inflate(&mut Vec::new(), &[&wide[..], &TAIL[..]].concat()).unwrap();
    assert_eq!(out, data);
    assert!(dist > 20_000, "{dist}");
    let narrow = deflate_message(
        &mut Compress::new_with_window_bits(Compression::new(6), false, 9),
        &data,
    );
    let (out, dist) =
        window_check::inflate(&mut Vec::new(), &[&narrow[..], &TAIL[..]].concat()).unwrap();
    assert_eq!(out, data);
    assert!(
        dist <= 256,
        "zlib's 9-bit window stays within 256-byte distances: {dist}"
    );
    // Stored, fixed and dynamic blocks, and a final block.
    for level in [0, 1, 9] {
        let mut c = Compress::new_with_window_bits(Compression::new(level), false, 15);
        let text = json_like(100);
        let z = run_compress(&mut c, text.as_bytes(), FlushCompress::Finish);
        let (out, _) = window_check::inflate(&mut Vec::new(), &z).unwrap();
        assert_eq!(out, text.as_bytes());
    }
    let tiny = run_compress(&mut compressor(15), b"a", FlushCompress::Finish);
    let (out, _) = window_check::inflate(&mut Vec::new(), &tiny).unwrap();
    assert_eq!(out, b"a");
}

#[test]
fn round_trips_for_every_context_takeover_and_window_combination() {
    let probe = window_probe(3000);
    let msgs = [
        text("Hello, world"),
        text("Hello, world"),
        text(""),
        binary(&probe),
        text(&json_like(60)),
        binary([0u8; 3000]),
        text("Hello, world"),
    ];
    for snct in [false, true] {
        for cnct in [false, true] {
            for sbits in 8..=15 {
                for cbits in 8..=15 {
                    let p = params(snct, cnct, sbits, cbits);
                    check_direction(p, Role::Server, &msgs);
                    check_direction(p, Role::Client, &msgs);
                }
            }
        }
    }
}

#[test]
fn each_side_compresses_within_its_negotiated_window() {
    // Repeats up to 24 KB apart: only a 15-bit window may reach them.
    let msgs = [binary(window_probe(24_000)), binary(window_probe(24_000))];
    for bits in 8..=15 {
        for nct in [false, true] {
            check_direction(params(nct, nct, bits, 15), Role::Server, &msgs);
            check_direction(params(nct, nct, 15, bits), Role::Client, &msgs);
        }
    }
}

#[test]
fn messages_flow_both_ways_on_one_compressed_connection() {
    for p in [
        default_params(),
        params(true, true, 9, 10),
        params(false, true, 12, 8),
    ] {
        let (mut client, mut server) = pair(Config::default(), Some(p));
        assert!(client.is_compressing() && server.is_compressing());
        for i in 0..20 {
            let m = text(&json_like(i * 3));
            client.send(m.clone()).unwrap();
            server.send(binary(noise(i * 100, i as u64))).unwrap();
            assert_eq!(transfer(&mut client, &mut server), vec![m]);
            assert_eq!(
                transfer(&mut server, &mut client),
                vec![binary(noise(i * 100, i as u64))]
            );
        }
    }
}

fn sent_size(conn: &mut Connection, m: &Message) -> usize {
    conn.send(m.clone()).unwrap();
    let f = sent_frames(conn).pop().unwrap();
    assert!(f.rsv1);
    f.payload.len()
}

#[test]
fn context_takeover_makes_a_repeated_message_cheaper_and_no_context_takeover_does_not() {
    let m = binary(noise(2000, 77));
    for sender in ROLES {
        let (mut client, mut server) = pair(Config::default(), Some(default_params()));
        let c = if sender == Role::Client {
            &mut client
        } else {
            &mut server
        };
        let first = sent_size(c, &m);
        let second = sent_size(c, &m);
        assert!(first > 1900, "noise does not compress ({first})");
        assert!(
            second < 100,
            "{sender:?} with takeover: {first} then {second}"
        );

        let (mut client, mut server) = pair(Config::default(), Some(params(true, true, 15, 15)));
        let c = if sender == Role::Client {
            &mut client
        } else {
            &mut server
        };
        let first = sent_size(c, &m);
        let second = sent_size(c, &m);
        assert_eq!(first, second, "{sender:?} without takeover");
    }
}

#[test]
fn only_the_sides_own_no_context_takeover_setting_applies_to_what_it_sends() {
    let m = binary(noise(2000, 78));
    // The server resets its context, the client keeps its own.
    let (mut client, mut server) = pair(Config::default(), Some(params(true, false, 15, 15)));
    assert_eq!(sent_size(&mut server, &m), sent_size(&mut server, &m));
    let first = sent_size(&mut client, &m);
    assert!(sent_size(&mut client, &m) < first / 10);
}

#[test]
fn rsv1_is_set_on_compressed_frames_and_never_on_continuations() {
    for sender in ROLES {
        let (mut client, mut server) = pair(Config::default(), Some(default_params()));
        let c = if sender == Role::Client {
            &mut client
        } else {
            &mut server
        };
        c.send(text(&json_like(10))).unwrap();
        let f = sent_frames(c).pop().unwrap();
        assert!(f.rsv1 && f.fin && f.opcode == op::TEXT);
        // Fragments sent by hand are not compressed, so none of them carries RSV1.
        c.send_fragment(wsx_proto::OpCode::Binary, json_like(5).into(), false)
            .unwrap();
        c.send_fragment(wsx_proto::OpCode::Continuation, json_like(5).into(), true)
            .unwrap();
        for f in sent_frames(c) {
            assert!(!f.rsv1, "{f:?}");
        }
        // Control frames never carry RSV1.
        c.send(ping("p")).unwrap();
        c.close(1000, "bye").unwrap();
        for f in sent_frames(c) {
            assert!(!f.rsv1, "{f:?}");
        }
    }
}

#[test]
fn a_compressed_message_fragmented_with_rsv1_on_the_first_frame_only_is_accepted() {
    for role in ROLES {
        let msg = json_like(200);
        let c = deflate_once(msg.as_bytes());
        let (a, b) = (c.len() / 3, 2 * c.len() / 3);
        let frames = [
            Frame::text(&c[..a]).rsv1().more(),
            Frame::cont(&c[a..b]).more(),
            Frame::ping("between"),
            Frame::cont(&c[b..]),
        ];
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        assert_eq!(
            receive(&mut conn, &stream_for(role, &frames)),
            vec![ping("between"), text(&msg)]
        );
        // Byte by byte too.
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        let o = feed_bytewise(&mut conn, &stream_for(role, &frames));
        assert_eq!(o.error, None);
        assert_eq!(o.messages, vec![ping("between"), text(&msg)]);
    }
}

#[test]
fn a_compressed_message_split_into_two_fragments_anywhere_is_accepted() {
    for role in ROLES {
        let msg = "Hello, compressed world! Hello, compressed world! ünïcödé 😀".repeat(3);
        let c = deflate_once(msg.as_bytes());
        for i in 0..=c.len() {
            let frames = [Frame::text(&c[..i]).rsv1().more(), Frame::cont(&c[i..])];
            let mut conn = Connection::new(role, Config::default(), Some(default_params()));
            assert_eq!(
                receive(&mut conn, &stream_for(role, &frames)),
                vec![text(&msg)],
                "{role:?} split at {i}"
            );
        }
        // Empty fragments around the compressed data as well.
        let frames = [
            Frame::text("").rsv1().more(),
            Frame::cont(&c).more(),
            Frame::cont(""),
        ];
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        assert_eq!(
            receive(&mut conn, &stream_for(role, &frames)),
            vec![text(&msg)]
        );
    }
}

#[test]
fn context_is_carried_between_received_messages_with_takeover() {
    for role in ROLES {
        let mut peer = compressor(15);
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        for i in 0..5 {
            let msg = format!("message number {i}: {}", json_like(20));
            let c = deflate_message(&mut peer, msg.as_bytes());
            let wire = Frame::text(&c).rsv1().bytes_for(role);
            assert_eq!(receive(&mut conn, &wire), vec![text(&msg)]);
        }
        // An uncompressed message in between leaves the context alone.
        assert_eq!(
            receive(&mut conn, &Frame::text("plain").bytes_for(role)),
            vec![text("plain")]
        );
        let c = deflate_message(&mut peer, json_like(20).as_bytes());
        assert_eq!(
            receive(&mut conn, &Frame::text(&c).rsv1().bytes_for(role)),
            vec![text(&json_like(20))]
        );
    }
}

#[test]
fn a_message_ending_with_a_final_deflate_block_is_accepted_and_the_next_starts_afresh() {
    for role in ROLES {
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        let first = run_compress(
            &mut compressor(15),
            b"first, with BFINAL",
            FlushCompress::Finish,
        );
        let second = deflate_once(b"second, a new stream");
        let wire = stream_for(
            role,
            &[Frame::text(&first).rsv1(), Frame::text(&second).rsv1()],
        );
        assert_eq!(
            receive(&mut conn, &wire),
            vec![text("first, with BFINAL"), text("second, a new stream")]
        );
    }
}

#[test]
fn empty_compressed_messages_are_accepted() {
    for role in ROLES {
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        // The single 0x00 byte of RFC 7692 §7.2.3.6, and flate2's own empty message, each
        // followed by a normal message to show the context is still in step.
        let mut peer = compressor(15);
        let wire = stream_for(
            role,
            &[
                Frame::binary([0x00]).rsv1(),
                Frame::text(deflate_message(&mut peer, b"")).rsv1(),
                Frame::text(deflate_message(&mut peer, b"after")).rsv1(),
                Frame::binary([0x00]).rsv1(),
                Frame::text(deflate_message(&mut peer, b"after again")).rsv1(),
            ],
        );
        assert_eq!(
            receive(&mut conn, &wire),
            vec![
                binary(""),
                text(""),
                text("after"),
                binary(""),
                text("after again")
            ]
        );
    }
}

#[test]
fn an_empty_compressed_payload_does_not_corrupt_the_next_message() {
    for role in ROLES {
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        let wire = stream_for(
            role,
            &[
                Frame::text("").rsv1(),
                Frame::binary([0x00]).rsv1(),
                Frame::text(deflate_once(b"next")).rsv1(),
            ],
        );
        let o = feed(&mut conn, &wire);
        match o.error {
            // Refusing the empty payload as invalid compressed data is fine...
            Some(e) => {
                assert!(o.messages.is_empty(), "{:?}", o.messages);
                assert_failed_with(&mut conn, &e, 1007);
            }
            // ...and so is reading it as an empty message, but then what follows must be
            // decoded as sent.
            None => assert_eq!(o.messages, vec![text(""), binary(""), text("next")]),
        }
    }
}

#[test]
fn a_compressed_message_cut_in_the_middle_of_a_block_fails_with_1007() {
    for role in ROLES {
        let msg = json_like(50);
        let full = deflate_once(msg.as_bytes());
        for cut in [full.len() / 2, full.len() - 3] {
            let mut conn = Connection::new(role, Config::default(), Some(default_params()));
            let wire = Frame::text(&full[..cut]).rsv1().bytes_for(role);
            let o = feed(&mut conn, &wire);
            let e = o.error.unwrap_or_else(|| {
                panic!("cut at {cut}/{}: accepted as {:?}", full.len(), o.messages)
            });
            assert_failed_with(&mut conn, &e, 1007);
        }
    }
}

#[test]
fn a_message_below_the_threshold_is_sent_uncompressed() {
    for sender in ROLES {
        let p = DeflateParams {
            threshold: 64,
            ..default_params()
        };
        let (mut client, mut server) = pair(Config::default(), Some(p));
        let (from, to) = match sender {
            Role::Client => (&mut client, &mut server),
            Role::Server => (&mut server, &mut client),
        };
        let small = "s".repeat(63);
        from.send(text(&small)).unwrap();
        let bytes = from.output_mut().take_all();
        let f = &parse_frames(&bytes)[0];
        assert!(!f.rsv1);
        assert_eq!(f.payload, small.as_bytes(), "sent verbatim");
        assert_eq!(receive(to, &bytes), vec![text(&small)]);

        let at = "s".repeat(64);
        from.send(text(&at)).unwrap();
        let bytes = from.output_mut().take_all();
        let f = &parse_frames(&bytes)[0];
        assert!(f.rsv1, "a message of exactly the threshold is compressed");
        assert!(f.payload.len() < 64);
        assert_eq!(receive(to, &bytes), vec![text(&at)]);
    }
}

#[test]
fn a_message_can_opt_out_of_compression() {
    for sender in ROLES {
        let (mut client, mut server) = pair(Config::default(), Some(default_params()));
        let (from, to) = match sender {
            Role::Client => (&mut client, &mut server),
            Role::Server => (&mut server, &mut client),
        };
        let big = json_like(50);
        from.send_with(text(&big), false).unwrap();
        let bytes = from.output_mut().take_all();
        let f = &parse_frames(&bytes)[0];
        assert!(!f.rsv1);
        assert_eq!(f.payload, big.as_bytes());
        assert_eq!(receive(to, &bytes), vec![text(&big)]);
        // Compression continues afterwards, context intact on both sides.
        for _ in 0..2 {
            from.send_with(text(&big), true).unwrap();
            let bytes = from.output_mut().take_all();
            assert!(parse_frames(&bytes)[0].rsv1);
            assert_eq!(receive(to, &bytes), vec![text(&big)]);
        }
    }
}

#[test]
fn rsv1_on_a_continuation_frame_fails_with_1002() {
    for role in ROLES {
        let c = deflate_once(json_like(10).as_bytes());
        let (a, b) = c.split_at(c.len() / 2);
        for first in [Frame::text(a).rsv1().more(), Frame::text("plain").more()] {
            let frames = [first, Frame::cont(b).rsv1()];
            let mut conn = Connection::new(role, Config::default(), Some(default_params()));
            let e = assert_fails(&mut conn, &stream_for(role, &frames), 1002);
            assert_eq!(e, ProtocolError::CompressedControlOrContinuation);
        }
    }
}

#[test]
fn rsv1_on_a_control_frame_fails_with_1002() {
    for role in ROLES {
        for f in [
            Frame::ping("p"),
            Frame::pong("p"),
            Frame::close(1000, ""),
            Frame::ping(""),
        ] {
            let mut conn = Connection::new(role, Config::default(), Some(default_params()));
            let e = assert_fails(&mut conn, &f.rsv1().bytes_for(role), 1002);
            assert_eq!(e, ProtocolError::CompressedControlOrContinuation);
        }
    }
}

#[test]
fn rsv2_and_rsv3_still_fail_with_1002_when_compression_is_negotiated() {
    for role in ROLES {
        for f in [
            Frame::text("x").rsv2(),
            Frame::binary("x").rsv3(),
            Frame::text("x").rsv1().rsv2(),
        ] {
            let mut conn = Connection::new(role, Config::default(), Some(default_params()));
            let e = assert_fails(&mut conn, &f.bytes_for(role), 1002);
            assert_eq!(e, ProtocolError::ReservedBits);
        }
    }
}

#[test]
fn rsv1_without_negotiated_compression_fails_with_1002() {
    for role in ROLES {
        let c = deflate_once(b"compressed but not negotiated");
        let mut conn = conn(role);
        let e = assert_fails(&mut conn, &Frame::text(&c).rsv1().bytes_for(role), 1002);
        assert_eq!(e, ProtocolError::ReservedBits);
    }
}

#[test]
fn an_inflate_bomb_fails_with_1009_and_memory_stays_bounded() {
    let zeros = vec![0u8; 10 << 20];
    let mut c = Compress::new_with_window_bits(Compression::best(), false, 15);
    let bomb = deflate_message(&mut c, &zeros);
    drop(zeros);
    assert!(
        bomb.len() < 64 * 1024,
        "the bomb is small on the wire: {}",
        bomb.len()
    );
    for role in ROLES {
        let wire = Frame::binary(&bomb).rsv1().bytes_for(role);
        let cfg = Config::default().max_message_size(1 << 20);
        let mut conn = Connection::new(role, cfg, Some(default_params()));
        let mut buf = BytesMut::from(&wire[..]);
        let (r, peak) = alloc_meter::peak_during(|| conn.decode(&mut buf));
        let e = r.unwrap_err();
        assert!(
            matches!(e, ProtocolError::MessageTooBig { max, .. } if max == 1 << 20),
            "{e:?}"
        );
        assert_failed_with(&mut conn, &e, 1009);
        assert!(
            peak < (1 << 20) + (1 << 20) / 2,
            "{role:?}: decoding the bomb allocated up to {peak} bytes"
        );
    }
}

#[test]
fn the_memory_meter_sees_a_large_inflated_message() {
    // Without a tight limit the same bomb inflates to 10 MiB, and the meter must show it;
    // otherwise the bound checked above would prove nothing.
    let zeros = vec![0u8; 10 << 20];
    let bomb = deflate_once(&zeros);
    drop(zeros);
    let mut conn = Connection::new(Role::Client, Config::default(), Some(default_params()));
    let mut buf = BytesMut::from(&Frame::binary(&bomb).rsv1().encode()[..]);
    let (r, peak) = alloc_meter::peak_during(|| conn.decode(&mut buf));
    let m = r.unwrap().unwrap();
    assert_eq!(m.as_payload().len(), 10 << 20);
    assert!(peak >= 10 << 20, "meter saw only {peak} bytes");
}

#[test]
fn an_inflate_bomb_spread_over_fragments_fails_with_1009() {
    let zeros = vec![0u8; 4 << 20];
    let bomb = deflate_once(&zeros);
    drop(zeros);
    for role in ROLES {
        let step = bomb.len().div_ceil(8);
        let mut frames: Vec<Frame> = bomb
            .chunks(step)
            .enumerate()
            .map(|(i, ch)| {
                if i == 0 {
                    Frame::binary(ch).rsv1().more()
                } else {
                    Frame::cont(ch).more()
                }
            })
            .collect();
        frames.push(Frame::cont(""));
        let cfg = Config::default().max_message_size(1 << 20);
        let mut conn = Connection::new(role, cfg, Some(default_params()));
        let wire = stream_for(role, &frames);
        let mut buf = BytesMut::from(&wire[..]);
        let mut out = Outcome {
            messages: vec![],
            error: None,
            error_after: None,
        };
        let ((), peak) = alloc_meter::peak_during(|| drain(&mut conn, &mut buf, &mut out, 0));
        let e = out.error.unwrap();
        assert!(matches!(e, ProtocolError::MessageTooBig { .. }), "{e:?}");
        assert_failed_with(&mut conn, &e, 1009);
        assert!(peak < (1 << 20) + (1 << 20) / 2, "peak {peak}");
    }
}

#[test]
fn a_compressed_message_inflating_to_exactly_the_limit_is_accepted() {
    for role in ROLES {
        let limit = 100_000;
        let cfg = Config::default().max_message_size(limit);
        let exact = deflate_once(&vec![b'a'; limit]);
        let mut conn = Connection::new(role, cfg.clone(), Some(default_params()));
        let m = receive_one(&mut conn, &Frame::text(&exact).rsv1().bytes_for(role));
        assert_eq!(m.as_payload().len(), limit);
        let over = deflate_once(&vec![b'a'; limit + 1]);
        let mut conn = Connection::new(role, cfg, Some(default_params()));
        let e = assert_fails(&mut conn, &Frame::text(&over).rsv1().bytes_for(role), 1009);
        assert!(matches!(e, ProtocolError::MessageTooBig { .. }), "{e:?}");
    }
}

#[test]
fn corrupted_deflate_data_fails_with_1007() {
    let good = deflate_once(json_like(20).as_bytes());
    let mut after_final = run_compress(&mut compressor(15), b"done", FlushCompress::Finish);
    after_final.extend_from_slice(b"trailing garbage");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid block type", vec![0xff, 0xff, 0xff]),
        (
            "bad stored block length",
            vec![0x00, 0x05, 0x00, 0x00, 0x00],
        ),
        ("garbage", b"this is not deflate at all \xff\xfe".to_vec()),
        ("data after the final block", after_final),
        (
            "good stream then junk",
            [&good[..], &[0xff; 8][..]].concat(),
        ),
    ];
    for role in ROLES {
        for (name, payload) in &cases {
            for opcode in [op::TEXT, op::BINARY] {
                let mut conn = Connection::new(role, Config::default(), Some(default_params()));
                let o = feed(
                    &mut conn,
                    &Frame::new(opcode, payload).rsv1().bytes_for(role),
                );
                let e = o
                    .error
                    .unwrap_or_else(|| panic!("{name}: accepted as {:?}", o.messages));
                assert!(matches!(e, ProtocolError::Inflate(_)), "{name}: {e:?}");
                assert_failed_with(&mut conn, &e, 1007);
            }
        }
    }
}

#[test]
fn invalid_utf8_inside_a_compressed_text_message_fails_with_1007() {
    for role in ROLES {
        for bad in [&b"abc\xff"[..], b"\xed\xa0\x80", b"ok \xe2\x82"] {
            let c = deflate_once(bad);
            let mut conn = Connection::new(role, Config::default(), Some(default_params()));
            let e = assert_fails(&mut conn, &Frame::text(&c).rsv1().bytes_for(role), 1007);
            assert_eq!(e, ProtocolError::InvalidUtf8);
        }
        // The same bytes in a compressed binary message are fine.
        let c = deflate_once(b"abc\xff");
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        assert_eq!(
            receive_one(&mut conn, &Frame::binary(&c).rsv1().bytes_for(role)),
            binary(b"abc\xff")
        );
    }
}

#[test]
fn invalid_utf8_split_across_compressed_fragments_fails_with_1007() {
    for role in ROLES {
        let mut peer = compressor(15);
        // Each fragment's compressed data is flushed on its own, so the split is exact.
        let a = run_compress(&mut peer, b"valid start \xf0\x9f", FlushCompress::Sync);
        let b = deflate_message(&mut peer, b"\x41 broken");
        let frames = [Frame::text(&a).rsv1().more(), Frame::cont(&b)];
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        let e = assert_fails(&mut conn, &stream_for(role, &frames), 1007);
        assert_eq!(e, ProtocolError::InvalidUtf8);
        // And a valid code point split the same way is accepted.
        let mut peer = compressor(15);
        let a = run_compress(&mut peer, b"valid start \xf0\x9f", FlushCompress::Sync);
        let b = deflate_message(&mut peer, b"\x98\x80 end");
        let frames = [Frame::text(&a).rsv1().more(), Frame::cont(&b)];
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        assert_eq!(
            receive(&mut conn, &stream_for(role, &frames)),
            vec![text("valid start 😀 end")]
        );
    }
}

#[test]
fn invalid_utf8_in_a_compressed_fragment_fails_before_the_message_ends() {
    for role in ROLES {
        let mut peer = compressor(15);
        let a = run_compress(&mut peer, b"bad \xff here", FlushCompress::Sync);
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        let e = assert_fails(
            &mut conn,
            &Frame::text(&a).rsv1().more().bytes_for(role),
            1007,
        );
        assert_eq!(e, ProtocolError::InvalidUtf8);
    }
}

/// Negotiates through the header API, as a real handshake does, and returns (client, server)
/// parameters.
fn negotiate(client: &DeflateConfig, server: &DeflateConfig) -> (DeflateParams, DeflateParams) {
    let offer = client.offer();
    let offers = parse_extensions([offer.as_str()]).unwrap();
    let (server_params, header) = server.accept(&offers).expect("offer accepted");
    let response = parse_extensions([header.as_str()]).unwrap();
    assert_eq!(response.len(), 1);
    let client_params = client.confirm(&response[0]).unwrap();
    (client_params, server_params)
}

#[test]
fn parameters_negotiated_through_headers_agree_and_work() {
    let cases = [
        (DeflateConfig::default(), DeflateConfig::default()),
        (
            DeflateConfig::default()
                .server_no_context_takeover(true)
                .server_max_window_bits(10),
            DeflateConfig::default(),
        ),
        (
            DeflateConfig::default().client_max_window_bits(12),
            DeflateConfig::default().client_no_context_takeover(true),
        ),
        (
            DeflateConfig::default()
                .client_no_context_takeover(true)
                .client_max_window_bits(9),
            DeflateConfig::default()
                .server_max_window_bits(11)
                .client_max_window_bits(10),
        ),
        (
            DeflateConfig::default(),
            DeflateConfig::default()
                .client_max_window_bits(8)
                .server_max_window_bits(8)
                .server_no_context_takeover(true),
        ),
    ];
    for (cc, sc) in cases {
        let (cp, sp) = negotiate(&cc, &sc);
        let shape = |p: &DeflateParams| {
            (
                p.server_no_context_takeover,
                p.client_no_context_takeover,
                p.server_max_window_bits,
                p.client_max_window_bits,
            )
        };
        assert_eq!(shape(&cp), shape(&sp), "{cc:?} / {sc:?}");
        // The client's requests are honoured.
        if cc.server_no_context_takeover {
            assert!(sp.server_no_context_takeover);
        }
        assert!(sp.server_max_window_bits <= cc.server_max_window_bits);
        assert!(cp.client_max_window_bits <= cc.client_max_window_bits);
        // And the result works, checked strictly in both directions.
        let mut p = sp;
        p.threshold = 0;
        let msgs = [
            text(&json_like(30)),
            binary(window_probe(6000)),
            text(&json_like(30)),
        ];
        check_direction(p, Role::Server, &msgs);
        check_direction(p, Role::Client, &msgs);
        // Each side uses its own local level and threshold with the shared parameters.
        let mut client = Connection::new(Role::Client, Config::default(), Some(cp));
        let mut server = Connection::new(Role::Server, Config::default(), Some(sp));
        for m in msgs {
            client.send(m.clone()).unwrap();
            server.send(m.clone()).unwrap();
            assert_eq!(transfer(&mut client, &mut server), vec![m.clone()]);
            assert_eq!(transfer(&mut server, &mut client), vec![m]);
        }
    }
}

#[test]
fn an_inflate_bomb_past_the_memory_room_fails_with_1013_before_allocating_more() {
    let zeros = vec![0u8; 10 << 20];
    let bomb = deflate_once(&zeros);
    drop(zeros);
    for role in ROLES {
        let wire = Frame::binary(&bomb).rsv1().bytes_for(role);
        // The configured limit would allow it; the memory budget's room does not.
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        conn.set_memory_room(256 << 10);
        let mut buf = BytesMut::from(&wire[..]);
        let (r, peak) = alloc_meter::peak_during(|| conn.decode(&mut buf));
        let e = r.unwrap_err();
        assert!(matches!(e, ProtocolError::OverBudget { .. }), "{e:?}");
        assert_failed_with(&mut conn, &e, 1013);
        assert!(
            peak < 768 << 10,
            "{role:?}: decoding allocated up to {peak} bytes with 256 KiB of room"
        );
    }
}

#[test]
fn a_compressed_message_within_the_memory_room_is_delivered_and_held_while_assembled() {
    let data = noise(100 << 10, 9);
    let compressed = deflate_once(&data);
    for role in ROLES {
        let half = compressed.len() / 2;
        let wire = stream_for(
            role,
            &[
                Frame::binary(&compressed[..half]).rsv1().more(),
                Frame::cont(&compressed[half..]),
            ],
        );
        let mut conn = Connection::new(role, Config::default(), Some(default_params()));
        conn.set_memory_room(1 << 20);
        let first = stream_for(role, &[Frame::binary(&compressed[..half]).rsv1().more()]);
        let mut buf = BytesMut::from(&first[..]);
        assert_eq!(conn.decode(&mut buf).unwrap(), None);
        assert!(
            conn.assembly_bytes() > 0,
            "the inflated half is held while the message is assembled"
        );
        let mut buf = BytesMut::from(&wire[first.len()..]);
        assert_eq!(conn.decode(&mut buf).unwrap(), Some(binary(&data)));
        assert_eq!(conn.assembly_bytes(), 0);
    }
}
