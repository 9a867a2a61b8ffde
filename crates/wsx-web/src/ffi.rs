//! The C ABI that `pad.js` calls: handles, an input buffer and an output buffer in linear memory.
//!
//! No pointer from JavaScript is ever dereferenced here. Bytes go in through a buffer that Rust
//! owns: `wsx_input(len)` sizes it and returns its address, the page copies the bytes there
//! (`new Uint8Array(memory.buffer, ptr, len).set(bytes)`), then calls the function that reads
//! it. Results come out the same way: every call that produces something fills the output
//! buffer, which the page reads at `wsx_output_ptr()` for `wsx_output_len()` bytes before its
//! next call. The output is a sequence of records, each `kind: u8, len: u32 (little-endian),
//! len bytes`:
//!
//! | kind | body |
//! |---|---|
//! | 1 | a binary message to send on the WebSocket, in order |
//! | 2 | the view, JSON: `{"text": string or null, "selection": {"anchor","head"} or null, "synced": bool, "peers": [...], "denied": string or null}` |
//! | 3 | an error message, UTF-8 (the call returned a negative status) |
//!
//! Functions taking time take `now` in milliseconds since the epoch (`Date.now()`), and client
//! ids travel as `f64` (exact below 2^53), so the page needs no BigInt. A status is 0 for
//! success, -1 for an error described in the output, -2 for an unknown handle.
//!
//! Every export is `#[unsafe(no_mangle)]`, which the workspace's `unsafe_code = "deny"` flags:
//! that is the whole FFI boundary, and it is why this crate allows `unsafe_code`. No `unsafe`
//! block is needed.

use std::cell::RefCell;

use serde::Serialize;

use crate::pad::{Pad, Peer, Received, Selection};

const SEND: u8 = 1;
const VIEW: u8 = 2;
const ERROR: u8 = 3;

const OK: i32 = 0;
const FAILED: i32 = -1;
const NO_SUCH_PAD: i32 = -2;

/// `u32::MAX` as a selection bound or caret means "none".
const NONE: u32 = u32::MAX;

#[derive(Default)]
struct State {
    input: Vec<u8>,
    output: Vec<u8>,
    pads: Vec<Option<Pad>>,
}

thread_local! {
    // wasm32-unknown-unknown has one thread: this is a plain static there.
    static STATE: RefCell<State> = RefCell::default();
    static PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

#[derive(Serialize)]
struct View<'a> {
    text: Option<&'a str>,
    selection: Option<Selection>,
    synced: bool,
    peers: Vec<Peer>,
    denied: Option<&'a str>,
}

fn push(output: &mut Vec<u8>, kind: u8, body: &[u8]) {
    output.push(kind);
    output.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    output.extend_from_slice(body);
}

fn selection(anchor: u32, head: u32) -> Option<Selection> {
    (anchor != NONE && head != NONE).then_some(Selection { anchor, head })
}

fn view(pad: &Pad, text: Option<(&str, Selection)>, denied: Option<&str>) -> Vec<u8> {
    let v = View {
        text: text.map(|(t, _)| t),
        selection: text.map(|(_, s)| s),
        synced: pad.is_synced(),
        peers: pad.peers(),
        denied,
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Runs `f` on pad `handle` with the input bytes, clearing the output first.
fn with_pad(handle: u32, now: f64, f: impl FnOnce(&mut Pad, &[u8], &mut Vec<u8>) -> i32) -> i32 {
    STATE.with(|state| {
        let mut guard = state.borrow_mut();
        let State {
            input,
            output,
            pads,
            ..
        } = &mut *guard;
        output.clear();
        let Some(Some(pad)) = (handle as usize)
            .checked_sub(1)
            .and_then(|i| pads.get_mut(i))
        else {
            push(output, ERROR, b"no such pad");
            return NO_SUCH_PAD;
        };
        if now.is_finite() && now >= 0.0 {
            pad.set_now(now as u64);
        }
        f(pad, input, output)
    })
}

fn utf8(input: &[u8], output: &mut Vec<u8>) -> Option<String> {
    match std::str::from_utf8(input) {
        Ok(s) => Some(s.to_owned()),
        Err(e) => {
            push(output, ERROR, format!("input is not UTF-8: {e}").as_bytes());
            None
        }
    }
}

/// Makes the input buffer `len` bytes long (zeroed) and returns its address, where the page
/// writes the input of its next call.
///
/// Sound without `unsafe`: the page writes those bytes between two calls into the module,
/// while no Rust reference to the buffer is alive (every borrow of the state ends before its
/// call returns), exactly as memory written by foreign code through a pointer handed out;
/// and nothing reallocates the buffer before the call that reads it.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_input(len: usize) -> usize {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.input.clear();
        s.input.resize(len, 0);
        s.input.as_mut_ptr() as usize
    })
}

/// Address of the output of the last call.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_output_ptr() -> usize {
    STATE.with(|s| s.borrow_mut().output.as_mut_ptr() as usize)
}

/// Length in bytes of the output of the last call.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_output_len() -> usize {
    STATE.with(|s| s.borrow().output.len())
}

/// After a trap (a panic aborts on wasm32), copies the panic message into the output buffer
/// and returns its length. The instance must then be dropped: its state is not to be trusted.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_panic_message() -> usize {
    let message = PANIC.with(|p| p.try_borrow().map(|p| p.clone()).unwrap_or_default());
    STATE.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => {
            s.output.clear();
            s.output.extend_from_slice(message.as_bytes());
            s.output.len()
        }
        Err(_) => 0,
    })
}

/// Installs the panic hook that keeps the message for [`wsx_panic_message`] (on wasm32 only:
/// natively the default hook prints, which tests need).
#[cfg(target_arch = "wasm32")]
fn keep_panic_messages() {
    std::panic::set_hook(Box::new(|info| {
        let _ = PANIC.with(|p| p.try_borrow_mut().map(|mut p| *p = info.to_string()));
    }));
}

/// Creates a pad for client `client_id` (an integer below 2^53) and returns its handle, or 0
/// (with the error in the output) if the id is out of range.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_new(client_id: f64) -> u32 {
    #[cfg(target_arch = "wasm32")]
    {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(keep_panic_messages);
    }
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        state.output.clear();
        let id = if client_id.is_finite() && client_id >= 0.0 && client_id.fract() == 0.0 {
            client_id as u64
        } else {
            u64::MAX
        };
        match Pad::new(id) {
            Ok(pad) => {
                state.pads.push(Some(pad));
                u32::try_from(state.pads.len()).unwrap_or(0)
            }
            Err(e) => {
                push(&mut state.output, ERROR, e.to_string().as_bytes());
                0
            }
        }
    })
}

/// Drops pad `handle`.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_free(handle: u32) {
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        if let Some(slot) = (handle as usize)
            .checked_sub(1)
            .and_then(|i| state.pads.get_mut(i))
        {
            *slot = None;
        }
    })
}

/// The WebSocket opened: outputs SyncStep1 and our awareness state (kind 1 records).
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_connect(handle: u32, now: f64) -> i32 {
    with_pad(handle, now, |pad, _, output| {
        for m in pad.connect() {
            push(output, SEND, &m);
        }
        OK
    })
}

/// The WebSocket closed: forgets the others (they are sent again on the next connection) and
/// outputs the view if anyone was forgotten.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_disconnect(handle: u32, now: f64) -> i32 {
    with_pad(handle, now, |pad, _, output| {
        if pad.disconnect() {
            push(output, VIEW, &view(pad, None, None));
        }
        OK
    })
}

/// A binary message arrived (in the input buffer); `anchor`/`head` is the local selection.
/// Outputs the replies and, if anything visible changed, the view (with the new text and the
/// selection mapped through the change when the text changed).
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_receive(handle: u32, now: f64, anchor: u32, head: u32) -> i32 {
    with_pad(handle, now, |pad, input, output| {
        let sel = selection(anchor, head).unwrap_or(Selection::caret(0));
        match pad.receive(input, sel) {
            Ok(Received {
                replies,
                text,
                awareness_changed,
                synced,
                denied,
            }) => {
                for m in replies {
                    push(output, SEND, &m);
                }
                if text.is_some() || awareness_changed || synced || denied.is_some() {
                    let text = text.as_ref().map(|(t, s)| (t.as_str(), *s));
                    push(output, VIEW, &view(pad, text, denied.as_deref()));
                }
                OK
            }
            Err(e) => {
                push(output, ERROR, e.to_string().as_bytes());
                FAILED
            }
        }
    })
}

/// The textarea's value is now the input buffer (UTF-8); `caret` is its `selectionEnd`, or
/// `u32::MAX`. Outputs the Update message and the view (others' cursors move with the text).
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_edit(handle: u32, now: f64, caret: u32) -> i32 {
    with_pad(handle, now, |pad, input, output| {
        let Some(text) = utf8(input, output) else {
            return FAILED;
        };
        if let Some(m) = pad.edit(&text, (caret != NONE).then_some(caret)) {
            push(output, SEND, &m);
            push(output, VIEW, &view(pad, None, None));
        }
        OK
    })
}

/// Sets the local user from the input buffer, JSON `{"name": ..., "color": "#rrggbb"}`, and
/// outputs the awareness message.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_set_user(handle: u32, now: f64) -> i32 {
    with_pad(handle, now, |pad, input, output| {
        let Some(json) = utf8(input, output) else {
            return FAILED;
        };
        match pad.set_user(&json) {
            Ok(m) => {
                push(output, SEND, &m);
                push(output, VIEW, &view(pad, None, None));
                OK
            }
            Err(e) => {
                push(output, ERROR, e.to_string().as_bytes());
                FAILED
            }
        }
    })
}

/// The local selection moved (`u32::MAX` for none): outputs the awareness message, if any.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_set_selection(handle: u32, now: f64, anchor: u32, head: u32) -> i32 {
    with_pad(handle, now, |pad, _, output| {
        if let Some(m) = pad.set_selection(selection(anchor, head)) {
            push(output, SEND, &m);
        }
        OK
    })
}

/// Housekeeping every few seconds: outputs the renewed awareness state when due, and the view
/// when peers timed out.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_tick(handle: u32, now: f64) -> i32 {
    with_pad(handle, now, |pad, _, output| {
        let (message, changed) = pad.tick();
        if let Some(m) = message {
            push(output, SEND, &m);
        }
        if changed {
            push(output, VIEW, &view(pad, None, None));
        }
        OK
    })
}

/// The page is going away: outputs the awareness message that removes us.
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_leave(handle: u32, now: f64) -> i32 {
    with_pad(handle, now, |pad, _, output| {
        push(output, SEND, &pad.leave());
        OK
    })
}

/// Outputs the view with the whole text (the selection in it is `{0, 0}`).
#[unsafe(no_mangle)]
pub extern "C" fn wsx_pad_view(handle: u32) -> i32 {
    with_pad(handle, f64::NAN, |pad, _, output| {
        let text = pad.text();
        push(
            output,
            VIEW,
            &view(pad, Some((&text, Selection::caret(0))), None),
        );
        OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits the output buffer into its records.
    fn records() -> Vec<(u8, Vec<u8>)> {
        let out = STATE.with(|s| s.borrow().output.clone());
        let mut i = 0;
        let mut recs = Vec::new();
        while i < out.len() {
            let kind = out[i];
            let len = u32::from_le_bytes(out[i + 1..i + 5].try_into().unwrap()) as usize;
            recs.push((kind, out[i + 5..i + 5 + len].to_vec()));
            i += 5 + len;
        }
        assert_eq!(i, out.len());
        recs
    }

    fn input(bytes: &[u8]) {
        let _ = wsx_input(bytes.len());
        STATE.with(|s| s.borrow_mut().input.copy_from_slice(bytes));
    }

    #[test]
    fn two_pads_sync_through_the_c_abi() {
        let a = wsx_pad_new(11.0);
        let b = wsx_pad_new(22.0);
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!(wsx_pad_new(-1.0), 0);
        assert_eq!(records()[0].0, ERROR);
        assert_eq!(wsx_pad_new(9.1e15), 0);

        input(br##"{"name":"ann","color":"#ff0000"}"##);
        assert_eq!(wsx_pad_set_user(a, 1000.0), OK);
        let recs = records();
        assert_eq!(recs[0].0, SEND);
        let awareness = recs[0].1.clone();

        input("héllo \u{1F600}".as_bytes());
        assert_eq!(wsx_pad_edit(a, 1000.0, NONE), OK);
        let update = records()[0].1.clone();
        assert_eq!(records()[0].0, SEND);

        // b has its caret at 0: it stays before the inserted text.
        input(&update);
        assert_eq!(wsx_pad_receive(b, 1000.0, 0, 0), OK);
        let recs = records();
        assert_eq!(recs.len(), 1);
        let v: serde_json::Value = serde_json::from_slice(&recs[0].1).unwrap();
        assert_eq!(v["text"], "héllo \u{1F600}");
        assert_eq!(v["selection"]["anchor"], 8);

        input(&awareness);
        assert_eq!(wsx_pad_receive(b, 1000.0, NONE, NONE), OK);
        let v: serde_json::Value = serde_json::from_slice(&records()[0].1).unwrap();
        assert_eq!(v["peers"][0]["name"], "ann");
        assert_eq!(v["peers"][0]["color"], "#ff0000");
        assert_eq!(v["text"], serde_json::Value::Null);

        // Errors are reported, not panicked on.
        input(&[0, 9, 9, 9]);
        assert_eq!(wsx_pad_receive(b, 1000.0, 0, 0), FAILED);
        assert_eq!(records()[0].0, ERROR);
        input(&[0xff, 0xfe]);
        assert_eq!(wsx_pad_edit(b, 1000.0, 0), FAILED);
        assert_eq!(wsx_pad_connect(999, 0.0), NO_SUCH_PAD);

        assert_eq!(wsx_pad_view(b), OK);
        let v: serde_json::Value = serde_json::from_slice(&records()[0].1).unwrap();
        assert_eq!(v["text"], "héllo \u{1F600}");
        wsx_pad_free(b);
        assert_eq!(wsx_pad_view(b), NO_SUCH_PAD);
        assert_eq!(wsx_panic_message(), 0);
    }
}
