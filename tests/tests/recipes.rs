//! The justfile's recipes respect the user's cargo setup: no recipe sets `CARGO_TARGET_DIR` (every
//! backend builds into the same folder, sharing what it can) or runs a binary from a hard-coded
//! `target/` folder (`cargo run` finds the one its own build produced). Checked on the commands
//! `just --dry-run` prints for every recipe, for each backend, with and without the variable set.
//! Needs `just` (which `just test` itself needs; CI installs it).

use std::process::Command;

use linclass_tests::repo_root;

fn just(args: &[&str], target_dir: Option<&str>) -> String {
    let mut cmd = Command::new("just");
    cmd.current_dir(repo_root()).args(args);
    match target_dir {
        Some(dir) => cmd.env("CARGO_TARGET_DIR", dir),
        None => cmd.env_remove("CARGO_TARGET_DIR"),
    };
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run `just` ({e}): install it with `cargo install --locked just`")
    });
    assert!(
        out.status.success(),
        "just {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --dry-run prints the commands on stderr.
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Every recipe with arguments for its required parameters, once per backend where it has one.
fn invocations() -> Vec<Vec<String>> {
    let summary = just(&["--summary"], None);
    let mut all = Vec::new();
    for recipe in summary.split_whitespace() {
        let args: Vec<Vec<&str>> = match recipe {
            "train" => vec![vec!["cpu"], vec!["ndarray"], vec!["gpu"]],
            "resume" => vec![vec!["runs/x", "cpu"], vec!["runs/x", "gpu"]],
            "install" => vec![vec!["cpu"], vec!["gpu"]],
            "eval" | "templates" | "report" | "export" | "serve" => vec![vec!["runs/x"]],
            "predict" => vec![vec!["runs/x", "a.png"]],
            _ => vec![vec![]],
        };
        for a in args {
            let mut v = vec![recipe.to_string()];
            v.extend(a.iter().map(|s| s.to_string()));
            all.push(v);
        }
    }
    assert!(all.len() >= 14, "{all:?}");
    all
}

#[test]
fn recipes_keep_the_users_cargo_target_dir() {
    for mine in [Some("/tmp/shared-cargo-target"), None] {
        for inv in invocations() {
            let mut args = vec!["--dry-run"];
            args.extend(inv.iter().map(String::as_str));
            let text = just(&args, mine);
            for line in text.lines() {
                let l = line.trim();
                assert!(
                    !l.contains("CARGO_TARGET_DIR"),
                    "{inv:?} sets CARGO_TARGET_DIR: {l}"
                );
                // No binary run from a fixed folder: cargo runs the one it built.
                assert!(
                    !l.contains("target/release") && !l.contains("target/debug"),
                    "{inv:?} runs a binary from a fixed folder: {l}"
                );
            }
        }
    }
}
