//! Micro-benchmarks of the protocol core: masking against a `memcpy` of the same bytes, UTF-8
//! validation (whole and fed in pieces), frame header parse and encode, a whole client message
//! decoded by a server `Connection`, and deflate/inflate per message size.
//!
//! `cargo bench -p wsx-proto` (criterion prints throughput in bytes/s for the byte loops).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsx_proto::deflate::{Deflater, Inflater};
use wsx_proto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use wsx_proto::mask::{apply_mask, apply_mask_reference};
use wsx_proto::utf8::{Utf8Validator, validate};
use wsx_proto::{Config, Connection, Message, Role};

const SIZES: [usize; 4] = [20, 1024, 16 * 1024, 64 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Chat-like text: mostly ASCII with some two- and three-byte characters.
fn text(len: usize) -> Vec<u8> {
    let unit = "Grüße aus Köln — ok, 12:30 ✓ ".as_bytes();
    let mut v: Vec<u8> = unit.iter().copied().cycle().take(len + 8).collect();
    // Cut on a character boundary.
    while std::str::from_utf8(&v[..len.min(v.len())]).is_err() {
        v.pop();
    }
    v.truncate(len.min(v.len()));
    v
}

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    for size in SIZES {
        let mut buf = vec![0xa5u8; size];
        let src = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("apply_mask", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0))
        });
        g.bench_with_input(BenchmarkId::new("byte_at_a_time", size), &size, |b, _| {
            b.iter(|| apply_mask_reference(black_box(&mut buf), KEY, 0))
        });
        g.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| buf.copy_from_slice(black_box(&src)))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    for size in SIZES {
        let t = text(size);
        g.throughput(Throughput::Bytes(t.len() as u64));
        g.bench_with_input(BenchmarkId::new("validate", size), &t, |b, t| {
            b.iter(|| validate(black_box(t)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("std_from_utf8", size), &t, |b, t| {
            b.iter(|| std::str::from_utf8(black_box(t)).unwrap().len())
        });
        // As fragments arrive: 1 KiB pieces that split characters.
        g.bench_with_input(BenchmarkId::new("incremental_1k", size), &t, |b, t| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                for piece in t.chunks(1021) {
                    v.feed(black_box(piece)).unwrap();
                }
                v.finish().unwrap();
            })
        });
    }
    g.finish();
}

fn header(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_header");
    for len in [20u64, 1024, 70_000] {
        let h = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Binary,
            mask: Some(KEY),
            payload_len: len,
        };
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        g.bench_with_input(BenchmarkId::new("encode", len), &h, |b, h| {
            b.iter(|| black_box(h).encode(&mut out))
        });
        let bytes = out[..n].to_vec();
        g.bench_with_input(BenchmarkId::new("parse", len), &bytes, |b, bytes| {
            b.iter(|| FrameHeader::parse(black_box(bytes)).unwrap().unwrap())
        });
    }
    g.finish();
}

/// A masked client text frame decoded by a server connection: header, unmask, UTF-8, message.
fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_decode_text");
    for size in SIZES {
        let mut client = Connection::new(Role::Client, Config::default(), None);
        let payload = String::from_utf8(text(size)).unwrap();
        client.send(Message::text(payload.clone())).unwrap();
        let wire = client.output_mut().take_all();
        let mut server = Connection::new(Role::Server, Config::default(), None);
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &wire, |b, wire| {
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                black_box(server.decode(&mut buf).unwrap().unwrap())
            })
        });
    }
    g.finish();
}

fn deflate(c: &mut Criterion) {
    let mut g = c.benchmark_group("deflate");
    for size in SIZES {
        let t = text(size);
        g.throughput(Throughput::Bytes(t.len() as u64));
        // Context takeover on (the default): the window carries over between messages.
        let mut d = Deflater::new(false, 15, 6, 0);
        let mut out = Vec::with_capacity(size + 64);
        g.bench_with_input(BenchmarkId::new("compress", size), &t, |b, t| {
            b.iter(|| {
                out.clear();
                d.compress(black_box(t), &mut out).unwrap();
            })
        });
        // Inflate needs messages compressed with no context takeover so each is independent.
        let mut d = Deflater::new(true, 15, 6, 0);
        let mut compressed = Vec::new();
        d.compress(&t, &mut compressed).unwrap();
        let mut inf = Inflater::new(true, 15);
        let mut plain = Vec::with_capacity(size);
        g.bench_with_input(BenchmarkId::new("decompress", size), &compressed, |b, z| {
            b.iter(|| {
                plain.clear();
                inf.decompress(black_box(z), true, &mut plain, usize::MAX)
                    .unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, masking, utf8, header, decode, deflate);
criterion_main!(benches);
