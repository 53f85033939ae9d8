//! A model record written to a run directory loads back into a model with identical logits;
//! a record of another shape is refused with a clear error.

use burn::prelude::*;
use linclass::Backend;
use linclass::{RECORD_FILE, RunDir, load_record};
use linclass_model::{Init, LinearClassifierConfig};

#[test]
fn saved_and_loaded_record_gives_identical_logits() {
    let device = Backend::Cpu.device().unwrap();
    device.seed(11);
    let mut config = LinearClassifierConfig::new([3, 4, 4], 5);
    config.init = Init::Normal;
    config.init_std = 0.5;
    let model = config.init(&device);
    let x = Tensor::<2>::random([8, 48], burn::tensor::Distribution::Default, &device);
    let before = model.forward(x.clone()).into_data();

    let tmp = tempfile::tempdir().unwrap();
    let run = RunDir::new(tmp.path());
    run.save_model(model).unwrap();
    let loaded = load_record(&run.file(RECORD_FILE), &config, &device).unwrap();
    let after = loaded.forward(x).into_data();
    assert_eq!(before, after);
    assert_eq!(loaded.input_shape(), [3, 4, 4]);

    let other = LinearClassifierConfig::new([1, 28, 28], 10);
    let e = load_record(&run.file(RECORD_FILE), &other, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not fit a 10-class model of input shape [1, 28, 28]"),
        "{e}"
    );

    let e = load_record(&tmp.path().join("none.bpk"), &config, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no model record"), "{e}");
}
