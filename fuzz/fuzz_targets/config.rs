//! The experiment config loader on arbitrary text and `--set` overrides: a config that passes
//! is valid, serializes, and reads back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linclass::ExperimentConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line, if it looks like one, is a --set override; the rest is the file.
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(config) = ExperimentConfig::from_toml(rest, "fuzz.toml") {
        let again = ExperimentConfig::from_toml(&config.to_toml(), "again")
            .expect("a valid config reads back");
        assert_eq!(again, config);
        if let Ok(changed) = config.with_overrides(&[first.to_string()]) {
            changed.validate().expect("overrides keep the config valid");
        }
    }
    let _ = ExperimentConfig::from_toml(text, "fuzz.toml");
});
