//! The prompt of the interactive mode: a rustyline editor on its own thread (line editing,
//! in-memory history, Ctrl-R search), whose external printer puts received messages above the
//! prompt.
//!
//! rustyline cannot be interrupted while it waits for a key, so when the server ends the
//! session the thread is left blocked and the process exits around it: [`Prompt::release`]
//! puts the terminal back the way it was first (cooked mode, no bracketed paste, prompt line
//! cleared).

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;

use rustyline::error::ReadlineError;
use tokio::sync::mpsc;

/// What the prompt hands to the session.
#[derive(Debug)]
pub(crate) enum Input {
    /// A line; answer `true` on the sender to get the next prompt, `false` to stop.
    Line(String, std_mpsc::SyncSender<bool>),
    /// Ctrl-D or Ctrl-C at the prompt.
    Quit,
    /// The terminal failed.
    Failed(String),
}

/// The running prompt.
pub(crate) struct Prompt {
    /// Lines and key events from the prompt thread.
    pub(crate) input: mpsc::Receiver<Input>,
    reading: Arc<AtomicBool>,
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
}

/// The prompt string.
const PROMPT: &str = "> ";

impl Prompt {
    /// Starts the prompt thread; the printer writes above the prompt.
    pub(crate) fn start() -> io::Result<(Self, Printer)> {
        #[cfg(unix)]
        let saved = nix::sys::termios::tcgetattr(io::stdin()).ok();
        let (tx, input) = mpsc::channel(1);
        let (printer_tx, printer_rx) = std_mpsc::channel();
        let reading = Arc::new(AtomicBool::new(false));
        let flag = reading.clone();
        std::thread::Builder::new()
            .name("wsx-prompt".into())
            .spawn(move || prompt_thread(tx, printer_tx, flag))?;
        let printer = printer_rx
            .recv()
            .map_err(|_| io::Error::other("the prompt thread stopped"))?
            .map_err(io::Error::other)?;
        let prompt = Self {
            input,
            reading,
            #[cfg(unix)]
            saved,
        };
        Ok((prompt, printer))
    }

    /// Whether the prompt thread is waiting for a key (the terminal is in raw mode).
    pub(crate) fn is_reading(&self) -> bool {
        self.reading.load(Ordering::SeqCst)
    }

    /// Puts the terminal back in the mode it had before the prompt, when the prompt thread is
    /// still waiting for a key (the session ended under it).
    pub(crate) fn release(&self) {
        if !self.is_reading() {
            return;
        }
        #[cfg(unix)]
        if let Some(t) = &self.saved {
            use nix::sys::termios::{SetArg, tcsetattr};
            if let Err(e) = tcsetattr(io::stdin(), SetArg::TCSANOW, t) {
                tracing::debug!("cannot restore the terminal mode: {e}");
            }
        }
        // Bracketed paste off, then clear the prompt line rustyline drew last.
        let mut out = io::stdout().lock();
        let _ = out.write_all(b"\x1b[?2004l\r\x1b[2K");
        let _ = out.flush();
    }
}

/// rustyline's printer, whatever its type on this platform.
pub(crate) type Printer = Box<dyn rustyline::ExternalPrinter + Send>;

type PrinterResult = Result<Printer, String>;

fn prompt_thread(
    tx: mpsc::Sender<Input>,
    printer_tx: std_mpsc::Sender<PrinterResult>,
    reading: Arc<AtomicBool>,
) {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)
        .and_then(|b| b.max_history_size(1000))
        .map(|b| b.build());
    let editor = config.and_then(rustyline::DefaultEditor::with_config);
    let mut rl = match editor {
        Ok(rl) => rl,
        Err(e) => {
            let _ = printer_tx.send(Err(format!("cannot start the prompt: {e}")));
            return;
        }
    };
    match rl.create_external_printer() {
        Ok(p) => {
            if printer_tx.send(Ok(Box::new(p))).is_err() {
                return;
            }
        }
        Err(e) => {
            let _ = printer_tx.send(Err(format!("cannot start the prompt: {e}")));
            return;
        }
    }
    loop {
        reading.store(true, Ordering::SeqCst);
        let r = rl.readline(PROMPT);
        reading.store(false, Ordering::SeqCst);
        match r {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                let (ack_tx, ack_rx) = std_mpsc::sync_channel(1);
                if tx.blocking_send(Input::Line(line, ack_tx)).is_err() {
                    return;
                }
                // Wait for the session to act on the line, so its output comes before the
                // next prompt and /quit stops here.
                if !matches!(ack_rx.recv(), Ok(true)) {
                    return;
                }
            }
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => {
                let _ = tx.blocking_send(Input::Quit);
                return;
            }
            Err(e) => {
                let _ = tx.blocking_send(Input::Failed(e.to_string()));
                return;
            }
        }
    }
}
