//! The terminal as a training [`Reporter`]: lines on stdout, a progress bar per pass over the
//! images and per download when the stream is a terminal, nothing of either when it is not.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use linclass_data::fetch::FetchProgress;

use crate::fit::reporter::Reporter;
use crate::inspect::output::write_curves;
use crate::run::dir::RunDir;
use crate::run::info::RunInfo;

/// Prints a training's lines (none when `quiet`) and shows its passes as progress bars.
pub(crate) struct Terminal {
    quiet: bool,
    /// Whether passes get a progress bar: stdout is a terminal and the run is not quiet.
    interactive: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Put before every line (a sweep's runs are indented under their combination).
    indent: &'static str,
}

impl Terminal {
    /// The reporter of a command; `quiet` keeps only what the command itself says at the end.
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            quiet,
            interactive: !quiet && std::io::stdout().is_terminal(),
            bar: Mutex::new(None),
            indent: "",
        }
    }

    /// The reporter of the runs of a sweep: their lines indented under the combination's.
    pub(crate) fn indented() -> Self {
        Self {
            indent: "    ",
            ..Self::new(false)
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Reporter for Terminal {
    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        // A bar still drawn (the pass's last update) is cleared first, and drawn again after.
        let indent = self.indent;
        match self.bar().as_ref() {
            Some(bar) => bar.suspend(|| crate::say!("{indent}{text}")),
            None => crate::say!("{indent}{text}"),
        }
    }

    fn pass_started(&self, label: &str, images: usize) {
        if !self.interactive {
            return;
        }
        let bar = ProgressBar::new(images as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} images  eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        *self.bar() = Some(bar);
    }

    fn pass_progress(&self, done: usize) {
        if let Some(bar) = self.bar().as_ref() {
            bar.set_position(done as u64);
        }
    }

    fn pass_ended(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }

    fn download(&self) -> Box<dyn FetchProgress> {
        Box::new(DownloadBar::default())
    }

    fn first_fit_recorded(&self, run: &RunDir, info: &RunInfo) {
        if let Err(e) = write_curves(run, info) {
            eprintln!("warning: {e:#}");
        }
    }
}

/// Download progress: a byte bar in a terminal, one line per file otherwise.
#[derive(Default)]
pub(crate) struct DownloadBar {
    bar: Option<ProgressBar>,
}

impl linclass_data::fetch::FetchProgress for DownloadBar {
    fn start(&mut self, url: &str, total: Option<u64>) {
        if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(url.to_string());
            self.bar = Some(bar);
        } else {
            eprintln!("downloading {url}");
        }
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
