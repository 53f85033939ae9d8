//! The wgpu backend for real: training on the first GPU adapter (lavapipe, Mesa's software
//! Vulkan driver, in CI), and records that move between the GPU and the CPU with the same
//! predictions. Built only with the `gpu` feature (`just test-gpu`).

use std::path::Path;

use burn::prelude::*;
use linclass::Backend;
use linclass::RunDir;
use linclass_tests::{describe, linclass, repo_root};

fn train(run: &Path, backend: &str) {
    let out = linclass(
        &repo_root(),
        &[
            "--backend",
            backend,
            "train",
            "--set",
            "data.train_limit=2000",
            "--set",
            "train.epochs=2",
            "--set",
            "train.batch_size=10",
            "--set",
            "optimizer.lr=0.1",
            // The SGD step with momentum and weight decay, on both backends.
            "--set",
            "optimizer.momentum=0.5",
            "--set",
            "optimizer.weight_decay=1e-4",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
}

fn eval(run: &Path, backend: &str) -> serde_json::Value {
    let out = linclass(
        &repo_root(),
        &[
            "--backend",
            backend,
            "eval",
            run.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Logits of the same images from a run's record on the GPU and on the CPU.
fn logits_both_ways(run: &Path) -> (Vec<f32>, Vec<f32>) {
    let dir = RunDir::new(run);
    let info = dir.load_info().unwrap();
    let x: Vec<f32> = (0..64 * 784)
        .map(|i| ((i * 31) % 255) as f32 / 255.0)
        .collect();
    let mut out = Vec::new();
    for backend in [Backend::Gpu, Backend::Cpu] {
        let device = backend.device().unwrap();
        let model = dir.load_model(&info, &device).unwrap();
        let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [64, 784]), &device);
        out.push(
            model
                .forward(t)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap(),
        );
    }
    (out.remove(0), out.remove(0))
}

fn assert_close(a: &[f32], b: &[f32]) {
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "logits differ by up to {worst}");
}

#[test]
fn trains_on_the_gpu_and_predicts_the_same_on_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("gpu");
    train(&run, "gpu");
    let on_gpu = eval(&run, "gpu");
    let on_cpu = eval(&run, "cpu");
    let top1 = on_gpu["top1"].as_f64().unwrap();
    // The CPU reaches about 86% with this config; the GPU starts from other random weights.
    assert!(top1 > 0.8, "top-1 {top1}");
    // Same predictions, image by image, summarised by the confusion matrix.
    assert_eq!(on_gpu["confusion"], on_cpu["confusion"]);
    let (gpu, cpu) = logits_both_ways(&run);
    assert_close(&gpu, &cpu);
}

#[test]
fn a_cpu_record_predicts_the_same_on_the_gpu() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("cpu");
    train(&run, "cpu");
    assert_eq!(
        eval(&run, "cpu")["confusion"],
        eval(&run, "gpu")["confusion"]
    );
    let (gpu, cpu) = logits_both_ways(&run);
    assert_close(&gpu, &cpu);
}

#[test]
fn both_gradient_paths_pass_gradcheck_on_the_gpu() {
    for loss in ["cross_entropy", "squared_error"] {
        let out = linclass(
            &repo_root(),
            &[
                "--backend",
                "gpu",
                "gradcheck",
                "--set",
                &format!("train.loss={loss}"),
                "--set",
                "model.init=normal",
            ],
        );
        assert!(out.status.success(), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        for path in ["analytic", "autodiff"] {
            assert!(
                text.contains(&format!("loss {loss}, {path} gradient:")),
                "{text}"
            );
        }
        assert!(text.contains("largest relative difference"), "{text}");
        assert!(
            text.ends_with("pass: every relative error is under 1e-4\n"),
            "{text}"
        );
    }
}
