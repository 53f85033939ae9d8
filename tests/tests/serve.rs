//! `linclass serve` for real: the server started as a user starts it, on a free port, asked over
//! HTTP about real MNIST test digits (the answers against `predict`'s, the evidence against the
//! logits), every error status, the metrics, graceful stopping; and the page driven in headless
//! Chromium with pointer events and a file.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use linclass_data::mnist::Split;
use linclass_tests::{chromium, describe, linclass, linclass_command, real_mnist, repo_root};
use serde_json::{Value, json};

/// A trained MNIST run, shared by the tests of this file (trained once).
fn mnist_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep().join("mnist");
        let out = linclass(
            &repo_root(),
            &[
                "train",
                "--set",
                "train.epochs=3",
                "--set",
                &format!("output.dir={}", dir.display()),
            ],
        );
        assert!(out.status.success(), "{}", describe(&out));
        dir
    })
}

/// `linclass serve` on a free port of 127.0.0.1, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(runs: &[&Path], options: &[&str]) -> Self {
        let mut args = vec!["serve".to_owned()];
        args.extend(runs.iter().map(|r| r.display().to_string()));
        args.extend(["--addr", "127.0.0.1:0"].map(String::from));
        args.extend(options.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = linclass_command(&repo_root(), &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        let Some(at) = first.find("http://") else {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the server did not start: {first}{err}");
        };
        let url = first[at..].split_whitespace().next().unwrap();
        Self {
            child,
            url: url.trim_end_matches('/').to_owned(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status and JSON body of a request; `body` None is a GET.
fn call(url: &str, content_type: &str, body: Option<&[u8]>) -> (u16, Value) {
    let mut answer = match body {
        None => agent().get(url).call().unwrap(),
        Some(b) => agent()
            .post(url)
            .header("Content-Type", content_type)
            .send(b)
            .unwrap(),
    };
    let status = answer.status().as_u16();
    let text = answer.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

fn post(url: &str, body: &[u8]) -> (u16, Value) {
    call(url, "application/octet-stream", Some(body))
}

fn post_json(url: &str, body: &Value) -> (u16, Value) {
    call(url, "application/json", Some(body.to_string().as_bytes()))
}

fn get(url: &str) -> (u16, Value) {
    call(url, "", None)
}

fn png(pixels: &[u8], side: u32) -> Vec<u8> {
    let img = image::GrayImage::from_raw(side, side, pixels.to_vec()).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The first `n` real MNIST test digits: (pixels, label, PNG file written in `dir`).
fn digits(dir: &Path, n: usize) -> Vec<(Vec<u8>, usize, PathBuf)> {
    let set = real_mnist(Split::Test);
    (0..n)
        .map(|i| {
            let file = dir.join(format!("digit-{i}.png"));
            std::fs::write(&file, png(set.image(i), 28)).unwrap();
            (set.image(i).to_vec(), set.label(i), file)
        })
        .collect()
}

/// `predict --json` of `files`.
fn predict(files: &[&Path]) -> Vec<Value> {
    let mut args = vec!["predict".to_owned(), mnist_run().display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = linclass(&repo_root(), &args);
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1.0)
}

/// The ranked classes of two answers: the same classes in the same order, probabilities to 1e-6.
fn assert_same_top(got: &Value, want: &Value, what: &str) {
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["class"], w["class"], "{what}");
        let (gp, wp) = (
            g["probability"].as_f64().unwrap(),
            w["probability"].as_f64().unwrap(),
        );
        assert!(close(gp, wp, 1e-6), "{what}: {gp} vs {wp}");
    }
}

fn multipart(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "linclass-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn real_digits_get_the_answers_predict_gives_through_every_route() {
    let tmp = tempfile::tempdir().unwrap();
    let digits = digits(tmp.path(), 20);
    let files: Vec<&Path> = digits.iter().map(|d| d.2.as_path()).collect();
    let expected = predict(&files);
    let server = Server::start(&[mnist_run()], &[]);
    let route = format!("{}/v1/models/mnist/predict", server.url);
    for ((_, _, file), want) in digits.iter().zip(&expected) {
        let bytes = std::fs::read(file).unwrap();
        let (status, got) = post(&route, &bytes);
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["file"], "body");
        assert_same_top(&got["top"], &want["top"], &file.display().to_string());
    }
    // A multipart upload, as `curl -F file=@digit.png` sends it: named by its file.
    let (kind, body) = multipart("digit-0.png", &std::fs::read(&digits[0].2).unwrap());
    let (status, got) = call(&route, &kind, Some(&body));
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["file"], "digit-0.png");
    assert_same_top(&got["top"], &expected[0]["top"], "multipart");

    // KServe v2: UINT8 pixels, FP32 in [0, 1] and BYTES (base64 PNGs) give predict's top-1
    // and its probabilities.
    let infer = format!("{}/v2/models/mnist/infer", server.url);
    let pixels: Vec<u8> = digits.iter().flat_map(|d| d.0.clone()).collect();
    let unit: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let encoded: Vec<String> = digits
        .iter()
        .map(|d| base64::engine::general_purpose::STANDARD.encode(std::fs::read(&d.2).unwrap()))
        .collect();
    let n = digits.len();
    let inputs = [
        json!({"name": "image", "datatype": "UINT8", "shape": [n, 1, 28, 28], "data": pixels}),
        json!({"name": "image", "datatype": "FP32", "shape": [n, 1, 28, 28], "data": unit}),
        json!({"name": "image", "datatype": "BYTES", "shape": [n], "data": encoded}),
    ];
    for input in inputs {
        let kind = input["datatype"].clone();
        let (status, got) = post_json(&infer, &json!({"id": "7", "inputs": [input]}));
        assert_eq!(status, 200, "{kind}: {got}");
        assert_eq!(got["id"], "7");
        assert_eq!(got["model_name"], "mnist");
        let output = |name: &str| {
            let outputs = got["outputs"].as_array().unwrap();
            outputs.iter().find(|o| o["name"] == name).unwrap().clone()
        };
        assert_eq!(output("probabilities")["shape"], json!([n, 10]));
        let probabilities = output("probabilities")["data"].as_array().unwrap().clone();
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(
                output("label")["data"][i],
                want["top"][0]["class"],
                "{kind} {i}"
            );
            let best = want["top"][0]["index"].as_u64().unwrap() as usize;
            let p = probabilities[i * 10 + best].as_f64().unwrap();
            let wp = want["top"][0]["probability"].as_f64().unwrap();
            assert!(close(p, wp, 1e-5), "{kind} {i}: {p} vs {wp}");
        }
    }
    // Only the outputs asked for.
    let input =
        json!({"name": "image", "datatype": "UINT8", "shape": [1, 28, 28], "data": digits[0].0});
    let (status, got) = post_json(
        &infer,
        &json!({"inputs": [input], "outputs": [{"name": "label"}]}),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(got["outputs"][0]["data"][0], expected[0]["top"][0]["class"]);
}

#[test]
fn the_evidence_sums_with_the_bias_to_each_score() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[mnist_run()], &[]);
    for (pixels, _, file) in digits(tmp.path(), 5) {
        let url = format!("{}/v1/models/mnist/explain?classes=all", server.url);
        let (status, got) = post(&url, &std::fs::read(&file).unwrap());
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["input"]["shape"], json!([1, 28, 28]));
        assert_eq!(got["input"]["pixels"], json!(pixels));
        // The logits as KServe's route gives them.
        let input =
            json!({"name": "image", "datatype": "UINT8", "shape": [1, 1, 28, 28], "data": pixels});
        let infer = format!("{}/v2/models/mnist/infer", server.url);
        let (_, logits) = post_json(
            &infer,
            &json!({"inputs": [input], "outputs": [{"name": "logits"}]}),
        );
        let logits = logits["outputs"][0]["data"].as_array().unwrap().clone();
        let classes = got["classes"].as_array().unwrap();
        assert_eq!(classes.len(), 10);
        let f = |v: &Value| v.as_f64().unwrap();
        for c in classes {
            let index = c["index"].as_u64().unwrap() as usize;
            let (sum, bias, score) = (f(&c["evidence_sum"]), f(&c["bias"]), f(&c["score"]));
            assert!(
                close(sum + bias, score, 1e-4),
                "class {index}: {sum} + {bias} vs {score}"
            );
            assert!(
                close(score, f(&logits[index]), 1e-5),
                "class {index}: {score} vs the logit"
            );
            // Each value is the template's weight times the input (this run only scales to [0, 1]).
            let (evidence, template) = (
                c["evidence"].as_array().unwrap(),
                c["template"].as_array().unwrap(),
            );
            assert_eq!(evidence.len(), 784);
            for i in (0..784).step_by(37) {
                let x = f64::from(pixels[i]) / 255.0;
                assert!(
                    close(f(&evidence[i]), f(&template[i]) * x, 1e-5),
                    "class {index}, value {i}"
                );
            }
        }
        // Why the best class and not the second: the difference of their evidence and biases
        // is ln(p_a / p_b).
        let (a, b) = (
            &classes[got["top"][0]["index"].as_u64().unwrap() as usize],
            &classes[got["top"][1]["index"].as_u64().unwrap() as usize],
        );
        let diff: f64 = a["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["evidence"].as_array().unwrap())
            .map(|(x, y)| f(x) - f(y))
            .sum();
        let log_ratio = (f(&a["probability"]) / f(&b["probability"])).ln();
        assert!(
            close(diff + f(&a["bias"]) - f(&b["bias"]), log_ratio, 1e-3),
            "{diff} vs {log_ratio}"
        );
    }
    // Classes by name and number, and the ranked ones by default.
    let file = tmp.path().join("digit-0.png");
    let (_, got) = post(
        &format!("{}/v1/models/mnist/explain?classes=3,top", server.url),
        &std::fs::read(&file).unwrap(),
    );
    assert_eq!(got["classes"][0]["class"], "3");
    assert_eq!(
        got["classes"].as_array().unwrap().len(),
        1 + 5
            - usize::from(
                got["top"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["class"] == "3")
            )
    );
}

#[test]
fn every_bad_request_gets_its_status_and_a_reason_and_no_other_request_suffers() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[mnist_run()], &["--max-body", "5000"]);
    let good = std::fs::read(&digits(tmp.path(), 1)[0].2).unwrap();
    let predict = format!("{}/v1/models/mnist/predict", server.url);
    let infer = format!("{}/v2/models/mnist/infer", server.url);
    let wrong_shape = json!({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28, 1], "data": vec![0u8; 784]}]});
    let short = json!({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [2, 1, 28, 28], "data": vec![0u8; 784]}]});
    let out_of_range = json!({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": vec![2.0f32; 784]}]});
    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (413, "limit", post(&predict, &vec![7u8; 6000])),
        (
            415,
            "body: is not an image",
            post(&predict, b"these are not the pixels you are looking for"),
        ),
        (
            400,
            "cannot decode",
            post(&predict, &good[..good.len() / 2]),
        ),
        (400, "empty", post(&predict, b"")),
        (400, "[N, 1, 28, 28]", post_json(&infer, &wrong_shape)),
        (
            400,
            "holds 1568 values, and data has 784",
            post_json(&infer, &short),
        ),
        (400, "from 0 to 1", post_json(&infer, &out_of_range)),
        (
            400,
            "JSON",
            call(&infer, "application/json", Some(b"{\"inputs\": [")),
        ),
        (400, "missing field `inputs`", post_json(&infer, &json!({}))),
        (
            413,
            "--max-body",
            call(&infer, "application/json", Some(&vec![b' '; 6000])),
        ),
        (
            404,
            "no model named",
            post_json(
                &format!("{}/v2/models/fashion/infer", server.url),
                &json!({}),
            ),
        ),
        (
            400,
            "output \"scores\" does not exist",
            post_json(
                &infer,
                &json!({"inputs": [], "outputs": [{"name": "scores"}]}),
            ),
        ),
        (
            400,
            "prepare=sideways",
            post(&format!("{predict}?prepare=sideways"), &good),
        ),
        (
            400,
            "top=11: expected 1 to 10",
            post(&format!("{predict}?top=11"), &good),
        ),
        (
            400,
            "unknown field",
            post(&format!("{predict}?colour=1"), &good),
        ),
        (
            400,
            "classes=3 is read by /v1/models/mnist/explain",
            post(&format!("{predict}?classes=3"), &good),
        ),
        (
            404,
            "no model named \"fashion\": this server has mnist",
            post(&format!("{}/v1/models/fashion/predict", server.url), &good),
        ),
        (
            404,
            "no model named",
            get(&format!("{}/v2/models/fashion", server.url)),
        ),
        (404, "no route GET /v3", get(&format!("{}/v3", server.url))),
        (405, "POST", get(&predict)),
    ];
    for (status, words, (got_status, body)) in cases {
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{words}: not a JSON error: {body}"));
        assert_eq!(got_status, status, "{words}: {message}");
        assert!(message.contains(words), "{words}: {message}");
        assert!(!message.contains('\n'), "{message}");
    }
    // Bad requests from four threads while good ones go on: every good one gets its answer.
    let (_, want) = post(&predict, &good);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (predict, good) = (&predict, &good);
            s.spawn(move || {
                for i in 0..25 {
                    let bad = &good[..(i * 7 + t) % good.len()];
                    let (status, _) = post(predict, bad);
                    assert!((400..500).contains(&status));
                }
            });
        }
        for _ in 0..50 {
            let (status, got) = post(&predict, &good);
            assert_eq!((status, &got), (200, &want));
        }
    });
}

#[test]
fn health_metadata_metrics_two_runs_and_a_graceful_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("digits-again");
    copy_dir(mnist_run(), &other);
    let server = Server::start(&[mnist_run(), &other], &[]);
    assert_eq!(get(&format!("{}/v2/health/live", server.url)).0, 200);
    assert_eq!(
        get(&format!("{}/v2/health/ready", server.url)),
        (200, json!({"ready": true}))
    );
    let (status, meta) = get(&format!("{}/v2/models/digits-again", server.url));
    assert_eq!(status, 200);
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 1, 28, 28]));
    assert_eq!(meta["inputs"][0]["datatype"], "UINT8");
    assert_eq!(
        meta["classes"],
        json!(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    );
    let (_, listed) = get(&format!("{}/v1/models", server.url));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["digits-again", "mnist"]);
    assert_eq!(listed[1]["digits"], true);
    // The page and its assets are in the binary.
    let page = get(&format!("{}/", server.url)).1;
    assert!(page.as_str().unwrap().contains("template matching"));
    assert_eq!(get(&format!("{}/app.js", server.url)).0, 200);

    let good = std::fs::read(&digits(tmp.path(), 1)[0].2).unwrap();
    for _ in 0..3 {
        post(
            &format!("{}/v1/models/digits-again/predict", server.url),
            &good,
        );
    }
    post(
        &format!("{}/v1/models/digits-again/predict", server.url),
        b"junk",
    );
    let metrics = get(&format!("{}/metrics", server.url)).1;
    let metrics = metrics.as_str().unwrap();
    for line in [
        "linclass_http_requests_total{route=\"/v1/models/{name}/predict\",status=\"200\"} 3",
        "linclass_http_requests_total{route=\"/v1/models/{name}/predict\",status=\"415\"} 1",
        "linclass_http_errors_total{route=\"/v1/models/{name}/predict\"} 1",
        "linclass_http_request_duration_seconds_count{route=\"/v1/models/{name}/predict\"} 4",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
    assert!(metrics.contains("linclass_http_request_duration_seconds_bucket{le=\"0.0001\",route=\"/v1/models/{name}/predict\"}"), "{metrics}");

    // Ctrl-C: the server says it stopped and exits 0.
    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut said = String::new();
    server
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert!(status.success(), "{status}: {said}");
    assert!(said.contains("stopped"), "{said}");

    // Two runs of one name cannot be told apart in URLs.
    let twin = tmp.path().join("twin").join("mnist");
    copy_dir(mnist_run(), &twin);
    let out = linclass(
        &repo_root(),
        &[
            "serve",
            &mnist_run().display().to_string(),
            &twin.display().to_string(),
            "--addr",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("are both named \"mnist\""),
        "{}",
        describe(&out)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

mod page {
    use super::*;
    use headless_chrome::protocol::cdp::Input;
    use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
    use headless_chrome::{Browser, LaunchOptions, Tab};

    fn mouse(tab: &Tab, kind: Input::DispatchMouseEventTypeOption, x: f64, y: f64) {
        let pressed = !matches!(kind, Input::DispatchMouseEventTypeOption::MouseReleased);
        tab.call_method(Input::DispatchMouseEvent {
            Type: kind,
            x,
            y,
            modifiers: None,
            timestamp: None,
            button: Some(Input::MouseButton::Left),
            buttons: Some(if pressed { 1 } else { 0 }),
            click_count: Some(1),
            force: None,
            tangential_pressure: None,
            tilt_x: None,
            tilt_y: None,
            twist: None,
            delta_x: None,
            delta_y: None,
            pointer_Type: None,
        })
        .unwrap();
    }

    /// Draws a 28 × 28 digit on the pad as a hand would trace it, stroke by stroke: each row's
    /// runs of ink become one press, drag and release, 10 CSS pixels per MNIST pixel.
    fn draw(tab: &Tab, pixels: &[u8]) {
        use Input::DispatchMouseEventTypeOption::{MouseMoved, MousePressed, MouseReleased};
        let rect = eval(
            tab,
            "JSON.stringify(document.getElementById('pad').getBoundingClientRect())",
        );
        let rect: Value = serde_json::from_str(rect.as_str().unwrap()).unwrap();
        let (left, top) = (
            rect["left"].as_f64().unwrap(),
            rect["top"].as_f64().unwrap(),
        );
        let scale = rect["width"].as_f64().unwrap() / 28.0;
        for row in 0..28 {
            let ink: Vec<bool> = (0..28).map(|x| pixels[row * 28 + x] >= 128).collect();
            let mut x = 0;
            while x < 28 {
                if !ink[x] {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < 28 && ink[x] {
                    x += 1;
                }
                let y = top + (row as f64 + 0.5) * scale;
                let at = |c: f64| left + (c + 0.5) * scale;
                mouse(tab, MousePressed, at(start as f64), y);
                mouse(tab, MouseMoved, at((x - 1) as f64), y);
                mouse(tab, MouseReleased, at((x - 1) as f64), y);
            }
        }
    }

    fn eval(tab: &Tab, js: &str) -> Value {
        tab.evaluate(js, true).unwrap().value.unwrap_or(Value::Null)
    }

    /// Waits until the page has answered and has nothing more to ask.
    fn settled(tab: &Tab) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while eval(tab, "!state.busy && !state.again && state.result !== null") != Value::Bool(true)
        {
            assert!(
                Instant::now() < deadline,
                "the page did not show an answer; error: {}",
                eval(tab, "document.getElementById('error').textContent")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page's top-1 class and the first card's sum, bias and score.
    fn shown(tab: &Tab) -> (String, [f64; 3]) {
        let top1 = eval(tab, "document.querySelector('#top li .class').textContent");
        let numbers = eval(
            tab,
            "JSON.stringify(['sum', 'bias', 'score'].map((r) => Number(document.querySelector(`#cards .card [data-role=${r}]`).dataset.value)))",
        );
        let n: Vec<f64> = serde_json::from_str(numbers.as_str().unwrap()).unwrap();
        (top1.as_str().unwrap().to_owned(), [n[0], n[1], n[2]])
    }

    #[test]
    fn the_page_reads_drawn_digits_and_a_chosen_png_as_the_api_does() {
        let Some(chromium) = chromium() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(&[mnist_run()], &[]);
        let browser = Browser::new(LaunchOptions {
            path: Some(chromium),
            headless: true,
            sandbox: false,
            window_size: Some((1100, 1750)),
            user_data_dir: Some(tmp.path().join("profile")),
            ..LaunchOptions::default()
        })
        .unwrap();
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&format!("{}/", server.url))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        tab.wait_for_element("#model option").unwrap();

        // A PNG chosen in the file picker: the answer `predict` gives for the file.
        let file = &digits(tmp.path(), 8)[7].2;
        let want = predict(&[file.as_path()]);
        let input = tab.wait_for_element("#file").unwrap();
        eval(&tab, "state.result = null");
        input.set_input_files(&[file.to_str().unwrap()]).unwrap();
        settled(&tab);
        let (top1, _) = shown(&tab);
        assert_eq!(top1, want[0]["top"][0]["class"].as_str().unwrap());
        let shown_p = eval(
            &tab,
            "Number(document.querySelector('#top li').dataset.probability)",
        );
        assert!(close(
            shown_p.as_f64().unwrap(),
            want[0]["top"][0]["probability"].as_f64().unwrap(),
            1e-6
        ));

        // Real test digits, drawn with pointer events: the page's top-1 is the digit's label,
        // and is what the API says of the very drawing the page sent.
        let set = real_mnist(Split::Test);
        let mut right = 0;
        let picks = [0, 1, 2, 3, 4];
        for &i in &picks {
            eval(&tab, "document.getElementById('clear').click()");
            draw(&tab, set.image(i));
            settled(&tab);
            let (top1, [sum, bias, score]) = shown(&tab);
            assert!(
                close(sum + bias, score, 1e-4),
                "digit {i}: {sum} + {bias} vs {score}"
            );
            let drawing = eval(
                &tab,
                "document.getElementById('pad').toDataURL('image/png').split(',')[1]",
            );
            let drawing = base64::engine::general_purpose::STANDARD
                .decode(drawing.as_str().unwrap())
                .unwrap();
            let (_, api) = post(
                &format!("{}/v1/models/mnist/predict?prepare=digit", server.url),
                &drawing,
            );
            assert_eq!(
                api["top"][0]["class"],
                top1.as_str(),
                "digit {i}: the page and the API differ"
            );
            right += usize::from(top1 == set.label(i).to_string());
        }
        assert!(
            right >= 4,
            "{right} of {} drawn digits read right",
            picks.len()
        );

        // The page as it looks, for the README (LINCLASS_SCREENSHOT names where to keep it).
        let shot = tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .unwrap();
        let img = image::load_from_memory(&shot).unwrap();
        assert!(img.width() >= 1000, "{}", img.width());
        if let Some(keep) = std::env::var_os("LINCLASS_SCREENSHOT") {
            std::fs::write(keep, &shot).unwrap();
        }
    }
}
