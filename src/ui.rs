//! What the user sees besides results: progress bars on stderr (only when
//! stdout and stderr are both terminals, never with `--quiet` or `--json`)
//! and one-line notes on stderr (silenced by `--quiet`).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Output settings of one `hap` invocation.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    /// Draw progress bars.
    bars: bool,
    /// Print notes on stderr.
    notes: bool,
}

impl Ui {
    /// Settings from the global `--quiet` and `--json` flags and the terminal.
    pub fn new(quiet: bool, json: bool) -> Ui {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Ui {
            bars: terminal && !quiet && !json,
            notes: !quiet,
        }
    }

    /// Print a note on stderr unless `--quiet`.
    pub fn note(&self, text: std::fmt::Arguments<'_>) {
        if self.notes {
            eprintln!("{text}");
        }
    }

    /// A spinner with `message` for a step of unknown length; cleared on drop.
    pub fn step(&self, message: impl Into<String>) -> Bar {
        let bar = self.bar(None);
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("template"));
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar { bar, poll: None }
    }

    /// A bar counting `total` items (e.g. batch members).
    pub fn items(&self, message: impl Into<String>, total: u64) -> Bar {
        let bar = self.bar(Some(total));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed} eta {eta}")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        Bar { bar, poll: None }
    }

    /// A bar following the bytes a reader counts into `progress`.
    pub fn bytes(&self, message: impl Into<String>, progress: &ingest::progress::Progress) -> Bar {
        let bar = self.bar(Some(0));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_message(message.into());
        let poll = self.bars.then(|| {
            let (bar, progress) = (bar.clone(), progress.clone());
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            let handle = std::thread::spawn(move || {
                loop {
                    let stopping = flag.load(std::sync::atomic::Ordering::Relaxed);
                    let (done, total) = progress.get();
                    bar.set_length(total.max(done).max(1));
                    bar.set_position(done);
                    if stopping {
                        // The counts at the end, drawn even when the work
                        // took less than one poll.
                        bar.tick();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            (stop, handle)
        });
        Bar { bar, poll }
    }

    fn bar(&self, len: Option<u64>) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        bar
    }

    /// A progress counter for the readers: enabled only when it will be drawn.
    pub fn progress(&self) -> ingest::progress::Progress {
        if self.bars {
            ingest::progress::Progress::new()
        } else {
            ingest::progress::Progress::default()
        }
    }
}

/// A drawn (or hidden) progress indicator; cleared from the terminal on drop.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
    poll: Option<PollThread>,
}

type PollThread = (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
);

impl Bar {
    /// One more item done.
    pub fn inc(&self) {
        self.bar.inc(1);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.poll.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = handle.join();
        }
        self.bar.finish_and_clear();
    }
}
