//! Random ids of nodes and requests, in the forms Node's adapters use.

use rand::Rng;

/// 6 random URL-safe characters (Node's `uid2(6)`): the classic adapter's and the relay's.
pub(crate) fn random_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// 16 random hex characters (Node's `randomBytes(8).toString("hex")`): the ids of
/// socket.io-adapter's `ClusterAdapter`, which the sharded and the streams adapters speak.
pub(crate) fn random_hex() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
