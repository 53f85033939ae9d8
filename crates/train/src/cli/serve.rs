//! `serve`: runs behind HTTP until Ctrl-C; `bench-serve`: the server under load.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use crate::backend::Backend;
use crate::cli::args::{BenchServeArgs, ServeArgs};
use crate::cli::bench::synthetic_cifar10;
use crate::config::ExperimentConfig;
use crate::fit::reporter::Silent;
use crate::fit::train::train;
use crate::infer::classifier::Classifier;
use crate::logits::top_k;
use crate::serve::load::{Expect, Shot, drive};
use crate::serve::models::{Models, name_of};
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
        use std::io::IsTerminal;
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter("tower_http=info")
            .init();
    }
    let options = Options {
        addr: address(&args.addr)?,
        max_body: args.max_body as usize,
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

/// `--addr`: HOST:PORT (a name such as localhost resolved), or a port on 127.0.0.1.
fn address(text: &str) -> Result<SocketAddr> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(([127, 0, 0, 1], port).into());
    }
    let expected = "expected HOST:PORT such as 127.0.0.1:8080 or 0.0.0.0:8080, or a port";
    text.to_socket_addrs()
        .map_err(|e| anyhow!("--addr {text}: {e}; {expected}"))?
        .next()
        .ok_or_else(|| anyhow!("--addr {text}: the name has no address; {expected}"))
}

/// `bench-serve`: the server and a load generator on 127.0.0.1, in one process: requests per
/// second and latency at each concurrency for each run's PNG predict requests, then the same
/// with one bad request in ten, counting every answer.
pub(crate) fn bench_serve(args: BenchServeArgs, backend: Backend) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let runs = match args.runs.is_empty() {
        true => stand_in_runs(tmp.path(), backend)?,
        false => args.runs.clone(),
    };
    let device = backend.device()?;
    let options = Options {
        addr: ([127, 0, 0, 1], 0).into(),
        max_body: 1 << 20,
        timeout: Duration::from_secs(30),
    };
    let mut cases = Vec::new();
    for run in &runs {
        let classifier = Classifier::load(run, &device)?;
        cases.push((name_of(run)?, shots(&classifier, &name_of(run)?)?));
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound, address) = std::sync::mpsc::channel();
    let models = Models::load(&runs, &device)?;
    let server = std::thread::spawn(move || {
        run_server(
            models,
            &options,
            async {
                let _ = stopped.await;
            },
            |addr| {
                let _ = bound.send(addr);
            },
        )
    });
    let base = format!("http://{}", address.recv()?);
    let seconds = Duration::from_secs_f64(args.seconds);
    for (name, (good, bad, body)) in &cases {
        for &concurrency in &args.concurrency {
            let t = drive(&base, good, concurrency, seconds)?;
            crate::say!(
                "BENCH-SERVE run={name} body={body} concurrency={concurrency} req_s={:.0} p50_ms={:.2} p99_ms={:.2} right={} wrong={} lost={}",
                t.per_second(),
                t.percentile_ms(0.5),
                t.percentile_ms(0.99),
                t.right,
                t.wrong,
                t.lost
            );
        }
        // One bad request in ten among the good ones.
        let mixed: Vec<Shot> = good
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                let extra = (i % 9 == 8).then(|| bad[(i / 9) % bad.len()].clone());
                std::iter::once(s.clone()).chain(extra)
            })
            .collect();
        let concurrency = args.concurrency.iter().copied().max().unwrap_or(64);
        let t = drive(&base, &mixed, concurrency, seconds)?;
        crate::say!(
            "BENCH-SERVE run={name} body={body} concurrency={concurrency} faults=1/10 req_s={:.0} p99_ms={:.2} right={} wrong={} refused={} not_refused={} lost={}",
            t.per_second(),
            t.percentile_ms(0.99),
            t.right,
            t.wrong,
            t.refused,
            t.not_refused,
            t.lost
        );
    }
    let _ = stop.send(());
    server
        .join()
        .map_err(|_| anyhow!("the server's thread failed"))??;
    Ok(())
}

/// The good requests of a run (64 PNG images in its shape: real MNIST test digits for a
/// 1 × 28 × 28 run, patterned pictures otherwise, each with the answer `predict` gives), its
/// bad ones, and the name of its bodies.
fn shots(classifier: &Classifier, name: &str) -> Result<(Vec<Shot>, Vec<Shot>, String)> {
    let [c, h, w] = classifier.input_shape();
    let path = format!("/v1/models/{name}/predict");
    let digits = (c, h, w) == (1, 28, 28);
    let mnist = match digits {
        true => Some(linclass_data::mnist::read_split(
            Path::new(linclass_data::mnist::EMBEDDED_DIR),
            linclass_data::mnist::Split::Test,
            &linclass_data::mnist::DIGITS,
            &linclass_data::official::Expect::default(),
            &linclass_data::mnist::MNIST_SUMS,
            &mut Vec::new(),
        )?),
        false => None,
    };
    let mut good = Vec::new();
    for i in 0..64 {
        let pixels: Vec<u8> = match &mnist {
            Some(set) => set.image(i).to_vec(),
            None => (0..h * w * c)
                .map(|v| ((v * 7 + i * 13 + v / w * 3) % 256) as u8)
                .collect(),
        };
        let png = png_of(&pixels, [c, h, w])?;
        let input = classifier.input_bytes(&png, Path::new("body"))?;
        let mut top = classifier.classify_pixels(&input.pixels)?.remove(0);
        top.truncate(top_k(classifier.classes().len()));
        let expect = Expect::Top(serde_json::to_value(top)?);
        good.push(Shot {
            path: path.clone(),
            body: png.into(),
            expect,
        });
    }
    let png = good[0].body.clone();
    let bad = [
        (path.clone(), b"not an image at all".to_vec()),
        (path.clone(), png[..png.len() / 2].to_vec()),
        (path.clone(), Vec::new()),
        (path.clone(), vec![0u8; (1 << 20) + 1]),
        (format!("{path}?prepare=sideways"), png.to_vec()),
        ("/v1/models/no-such-model/predict".to_owned(), png.to_vec()),
    ]
    .into_iter()
    .map(|(path, body)| Shot {
        path,
        body: body.into(),
        expect: Expect::Refused,
    })
    .collect();
    Ok((good, bad, format!("{h}x{w}x{c}-png")))
}

/// A PNG of channel-major pixels of `shape`.
fn png_of(pixels: &[u8], [c, h, w]: [usize; 3]) -> Result<Vec<u8>> {
    let plane = h * w;
    let image: image::DynamicImage = match c {
        1 => image::GrayImage::from_raw(w as u32, h as u32, pixels.to_vec()).map(Into::into),
        _ => {
            let interleaved = (0..plane * 3)
                .map(|i| pixels[(i % 3) * plane + i / 3])
                .collect();
            image::RgbImage::from_raw(w as u32, h as u32, interleaved).map(Into::into)
        }
    }
    .ok_or_else(|| anyhow!("pixels do not fill {c}×{h}×{w}"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Runs to load when none are given: MNIST (shipped) and CIFAR-10 on random pixels in the
/// official layout, two epochs each, trained into `dir`.
fn stand_in_runs(dir: &Path, backend: Backend) -> Result<Vec<PathBuf>> {
    synthetic_cifar10(dir)?;
    let tree = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs"));
    let mut runs = Vec::new();
    for (name, sets) in [
        ("mnist", vec![]),
        ("cifar10", vec![format!("data.dir={}", dir.display())]),
    ] {
        let mut config = ExperimentConfig::load(&tree.join(format!("{name}.toml")), &sets)?;
        config.train.epochs = 2;
        config.train.refit = false;
        config.output.dir = dir.join("runs").join(name);
        train(&config, backend, Arc::new(Silent))?;
        runs.push(config.output.dir);
    }
    Ok(runs)
}
