//! `serve`: runs behind HTTP until Ctrl-C.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::backend::Backend;
use crate::cli::args::ServeArgs;
use crate::serve::models::Models;
use crate::serve::server::{Options, interrupted, serve as run_server};

pub(crate) fn serve(args: ServeArgs, backend: Backend) -> Result<()> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        bail!(
            "--timeout {}: expected a number of seconds above 0",
            args.timeout
        );
    }
    let device = backend.device()?;
    let models = Models::load(&args.runs, &device)?;
    if args.log {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("tower_http=debug")
            .init();
    }
    let options = Options {
        addr: args.addr,
        max_body: args.max_body,
        timeout: Duration::from_secs_f64(args.timeout),
    };
    let names: Vec<String> = models.all().map(|s| s.name.clone()).collect();
    run_server(models, &options, interrupted(), |addr| {
        crate::say!("serving at http://{addr}/ (Ctrl-C stops)");
        for name in &names {
            crate::say!("  {name}: http://{addr}/v2/models/{name}");
        }
    })?;
    crate::say!("stopped: every request in flight was answered");
    Ok(())
}
