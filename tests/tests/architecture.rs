//! The architecture, read from the sources: the modules of `crates/train` import only their own
//! layer's modules and the layers below it (ARCHITECTURE.md), no crate's modules form a circle,
//! and drawing and progress bars stay in their layers. The checker is a function over
//! `(path, text)` pairs, shown to reject planted violations before it is trusted with the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use linclass_tests::repo_root;

/// The layers of `crates/train`, lowest first. A module may import modules of its own
/// top-level module and of lower ranks; never a higher rank, never another module of its rank.
const TRAIN_LAYERS: &[(&str, u8)] = &[
    ("backend", 0),
    ("config", 0),
    ("logits", 0),
    ("memory", 0),
    ("datasets", 1),
    ("run", 2),
    ("fit", 3),
    ("infer", 3),
    ("inspect", 3),
    ("serve", 4),
    ("cli", 5),
];

/// Outside crates that only one layer uses: progress bars are the face's, charts `inspect`'s.
const ONLY_IN: &[(&str, &str)] = &[
    ("indicatif", "cli"),
    ("plotters", "inspect"),
    ("axum", "serve"),
    ("tower_http", "serve"),
];

/// One `crate::…` path in a source file, resolved to the module it names.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    to: String,
    file: String,
    line: usize,
    path: String,
}

impl Import {
    fn describe(&self) -> String {
        format!("{}:{} imports {}", self.file, self.line, self.path)
    }
}

/// The module a source file holds (`lib.rs` is the root, ""); `None` for a binary's `main.rs`.
fn module_of(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".rs")?;
    if stem == "main" || stem.starts_with("bin/") {
        return None;
    }
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    Some(if stem == "lib" {
        String::new()
    } else {
        stem.replace('/', "::")
    })
}

/// Whether byte `i` of `s` starts a word (not inside an identifier like `foo_crate::`).
fn word_start(s: &[u8], i: usize) -> bool {
    i == 0 || !(s[i - 1].is_ascii_alphanumeric() || s[i - 1] == b'_' || s[i - 1] == b':')
}

/// The text with comments blanked (kept line by line), so that a doc comment naming a path
/// is not taken for an import.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("//") { "" } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `root` (`crate::` or `super::`), grouped imports expanded:
/// `use crate::{a::X, b::{self, Y}}` gives `a::X`, `b`, `b::Y`; with each path's line.
fn paths_after(text: &str, root: &str) -> Vec<(usize, String)> {
    let s = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(root) {
        let start = from + at;
        from = start + root.len();
        if word_start(s, start) {
            let mut i = from;
            tree(s, &mut i, &[], &mut out);
        }
    }
    out
}

fn skip_space(s: &[u8], i: &mut usize) {
    while *i < s.len() && s[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

fn ident(s: &[u8], i: &mut usize) -> Option<String> {
    let start = *i;
    while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
        *i += 1;
    }
    (start < *i).then(|| String::from_utf8_lossy(&s[start..*i]).into_owned())
}

fn line_at(s: &[u8], i: usize) -> usize {
    1 + s[..i.min(s.len())].iter().filter(|&&b| b == b'\n').count()
}

/// One use tree at `i`: `a::b::c`, `a::{…}`, `{…}`, `self`, `*`, `x as y`.
fn tree(s: &[u8], i: &mut usize, prefix: &[String], out: &mut Vec<(usize, String)>) {
    let mut path = prefix.to_vec();
    loop {
        skip_space(s, i);
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            loop {
                skip_space(s, i);
                if *i >= s.len() || s[*i] == b'}' {
                    *i += 1;
                    return;
                }
                tree(s, i, &path, out);
                skip_space(s, i);
                if *i < s.len() && s[*i] == b',' {
                    *i += 1;
                }
            }
        }
        let at = *i;
        match ident(s, i) {
            Some(name) if name != "self" => path.push(name),
            Some(_) => {}
            None => {
                // `*`, or the end of the path.
                if !path.is_empty() {
                    out.push((line_at(s, at), path.join("::")));
                }
                return;
            }
        }
        if s[*i..].starts_with(b"::") {
            *i += 2;
            continue;
        }
        out.push((line_at(s, at), path.join("::")));
        return;
    }
}

/// Root names re-exported by `lib.rs` (`pub use batch::{A, B};`), with their modules.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for stmt in code_only(lib).split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim().strip_prefix("crate::").unwrap_or(rest.trim());
        for (_, path) in paths_after(&format!("crate::{rest}"), "crate::") {
            let mut segments: Vec<&str> = path.split("::").collect();
            let name = segments.pop().unwrap_or_default();
            let name = name.rsplit(" as ").next().unwrap_or(name);
            names.insert(name.to_string(), segments.join("::"));
        }
    }
    names
}

/// The longest prefix of `path` that is a module; a root name is followed to the module that
/// `lib.rs` re-exports it from. `None` for the root itself (a macro, a root item).
fn resolve(
    path: &str,
    modules: &BTreeSet<String>,
    exports: &BTreeMap<String, String>,
) -> Option<String> {
    let segments: Vec<&str> = path.split("::").collect();
    for n in (1..=segments.len()).rev() {
        let prefix = segments[..n].join("::");
        if modules.contains(&prefix) {
            return Some(prefix);
        }
    }
    exports.get(segments[0]).filter(|m| !m.is_empty()).cloned()
}

/// The imports between modules of one crate's sources (`(path under src/, text)`), and the
/// problems that keep them from being read: `super::` paths other than a test module's
/// `use super::*;` (every import is written from `crate::`, so that every edge is seen).
fn imports(files: &[(String, String)]) -> (Vec<Import>, Vec<String>) {
    let modules: BTreeSet<String> = files.iter().filter_map(|(f, _)| module_of(f)).collect();
    let exports = files
        .iter()
        .find(|(f, _)| f == "lib.rs")
        .map(|(_, t)| root_exports(t))
        .unwrap_or_default();
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    for (file, text) in files {
        let Some(from) = module_of(file).filter(|m| !m.is_empty()) else {
            continue;
        };
        let code = code_only(text);
        for (line, path) in paths_after(&code, "super::") {
            let whole = code.lines().nth(line - 1).unwrap_or("").trim();
            if whole != "use super::*;" {
                problems.push(format!(
                    "{file}:{line}: super::{path}: write the path from crate:: so that the layers can be checked"
                ));
            }
        }
        for (line, path) in paths_after(&code, "crate::") {
            if let Some(to) = resolve(&path, &modules, &exports).filter(|to| *to != from) {
                let path = format!("crate::{path}");
                let file = file.clone();
                found.push(Import {
                    from: from.clone(),
                    to,
                    file,
                    line,
                    path,
                });
            }
        }
    }
    (found, problems)
}

/// Imports against the layer order: a higher rank, or another module of the same rank; and
/// top-level modules the order does not know.
fn layer_violations(imports: &[Import], layers: &[(&str, u8)]) -> Vec<String> {
    let rank = |module: &str| {
        let top = module.split("::").next().unwrap_or(module);
        layers
            .iter()
            .find(|(name, _)| *name == top)
            .map(|&(name, r)| (name, r))
    };
    let mut bad = Vec::new();
    for i in imports {
        match (rank(&i.from), rank(&i.to)) {
            (Some((a, ra)), Some((b, rb))) if a != b && rb >= ra => bad.push(format!(
                "{}: `{a}` may import only the layers below it, and `{b}` is {}",
                i.describe(),
                if rb > ra { "above it" } else { "beside it" }
            )),
            (None, _) => bad.push(format!("{}: `{}` has no layer", i.describe(), i.from)),
            (_, None) => bad.push(format!("{}: `{}` has no layer", i.describe(), i.to)),
            _ => {}
        }
    }
    bad
}

/// Every circle of modules: one line per group of modules that reach one another, with the
/// shortest circle through its first module (`a → b → a`) and the imports that close it.
fn circles(imports: &[Import]) -> Vec<String> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for i in imports {
        graph.entry(&i.from).or_default().insert(&i.to);
    }
    let reach = |start: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![start];
        while let Some(m) = pending.pop() {
            for &next in graph.get(m).into_iter().flatten() {
                if seen.insert(next) {
                    pending.push(next);
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&str, BTreeSet<&str>> = graph.keys().map(|&m| (m, reach(m))).collect();
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    let mut found = Vec::new();
    for (&start, from_start) in &reaches {
        if reported.contains(start) || !from_start.contains(start) {
            continue;
        }
        let group: BTreeSet<&str> = from_start
            .iter()
            .copied()
            .filter(|m| reaches.get(m).is_some_and(|r| r.contains(start)))
            .collect();
        reported.extend(group.iter().copied());
        let cycle = shortest_cycle(&graph, start);
        let edges: Vec<String> = cycle
            .windows(2)
            .filter_map(|w| imports.iter().find(|i| i.from == w[0] && i.to == w[1]))
            .map(Import::describe)
            .collect();
        let others: Vec<&str> = group
            .iter()
            .copied()
            .filter(|m| !cycle.contains(m))
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!("; {} are in it too", others.join(", "))
        };
        found.push(format!(
            "modules form a circle: {} ({}){also}",
            cycle.join(" → "),
            edges.join("; ")
        ));
    }
    found
}

/// The shortest way from `start` back to itself (breadth first), both ends included.
fn shortest_cycle<'a>(
    graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    start: &'a str,
) -> Vec<&'a str> {
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(m) = queue.pop_front() {
        for &next in graph.get(m).into_iter().flatten() {
            if next == start {
                let mut cycle = vec![start, m];
                while *cycle.last().unwrap() != start {
                    let back = previous[cycle.last().unwrap()];
                    cycle.push(back);
                }
                cycle.reverse();
                return cycle;
            }
            if next != start && !previous.contains_key(next) {
                previous.insert(next, m);
                queue.push_back(next);
            }
        }
    }
    vec![start]
}

/// Uses of an outside crate outside the one layer allowed it.
fn outside_uses(files: &[(String, String)], rules: &[(&str, &str)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, text) in files {
        let top = file.split(['/', '.']).next().unwrap_or("");
        for &(krate, layer) in rules {
            for (line, path) in paths_after(&code_only(text), &format!("{krate}::")) {
                if top != layer {
                    bad.push(format!(
                        "{file}:{line}: {krate}::{path}: only `{layer}` uses {krate}"
                    ));
                }
            }
        }
    }
    bad
}

/// Every `.rs` file under `dir`, as (path relative to it with `/`, text).
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()) {
            if entry.is_dir() {
                pending.push(entry);
            } else if entry.extension().is_some_and(|e| e == "rs") {
                let rel = entry
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push((rel, std::fs::read_to_string(&entry).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// Everything wrong with the layers of a `crates/train`-shaped crate, one line each.
fn check_layers(files: &[(String, String)]) -> Vec<String> {
    let (found, mut problems) = imports(files);
    problems.extend(layer_violations(&found, TRAIN_LAYERS));
    problems.extend(circles(&found));
    problems.extend(outside_uses(files, ONLY_IN));
    problems
}

fn crate_files(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect()
}

/// A small crate laid out in the layers, correct as it is.
fn layered() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "lib.rs",
            "mod cli;\nmod fit;\nmod run;\nmod config;\npub use crate::fit::train::train;\n",
        ),
        ("config.rs", "pub struct Config;\n"),
        ("run/mod.rs", "pub(crate) mod dir;\n"),
        ("run/dir.rs", "use crate::config::Config;\n"),
        (
            "fit/mod.rs",
            "pub(crate) mod train;\npub(crate) mod refit;\n",
        ),
        (
            "fit/train.rs",
            "use crate::{\n    config::Config,\n    fit::refit::{self, Refit},\n    run::dir::RunDir,\n};\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        (
            "fit/refit.rs",
            "use crate::run::dir::RunDir;\n// crate::cli::x in a comment is no import\n",
        ),
        (
            "cli/mod.rs",
            "fn run() { crate::fit::train::train(); crate::say!(\"hi\"); }\nuse indicatif::ProgressBar;\n",
        ),
    ]
}

fn with(
    mut files: Vec<(&'static str, &'static str)>,
    file: &'static str,
    text: &'static str,
) -> Vec<(String, String)> {
    files.retain(|(f, _)| *f != file);
    files.push((file, text));
    crate_files(&files)
}

#[test]
fn the_checker_passes_a_layered_crate_and_reads_every_import_form() {
    let files = crate_files(&layered());
    assert_eq!(check_layers(&files), Vec::<String>::new());
    let (found, _) = imports(&files);
    let edges: BTreeSet<(String, String)> = found
        .iter()
        .map(|i| (i.from.clone(), i.to.clone()))
        .collect();
    for (a, b) in [
        ("fit::train", "config"),
        ("fit::train", "fit::refit"),
        ("fit::train", "run::dir"),
        ("fit::refit", "run::dir"),
        ("cli", "fit::train"),
    ] {
        assert!(
            edges.contains(&(a.into(), b.into())),
            "{a} → {b} not seen in {edges:?}"
        );
    }
    assert!(
        !edges.iter().any(|(_, to)| to == "cli"),
        "a comment was read as an import"
    );
}

#[test]
fn the_checker_names_a_planted_upward_import() {
    let files = with(
        layered(),
        "run/dir.rs",
        "use crate::config::Config;\nuse crate::fit::train::Trained;\n",
    );
    let problems = check_layers(&files);
    assert_eq!(problems.len(), 2, "{problems:?}"); // the upward import, and the circles it makes
    assert!(
        problems[0].starts_with("run/dir.rs:2 imports crate::fit::train::Trained: `run` may import only the layers below it, and `fit` is above it"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("modules form a circle"),
        "{problems:?}"
    );
}

#[test]
fn the_checker_names_a_planted_sibling_import_and_a_root_reexport() {
    // `fit` is beside `infer`; the import goes through lib.rs's re-export of `infer::Classifier`.
    let mut files = with(layered(), "fit/refit.rs", "use crate::Classifier;\n");
    files.push(("infer/mod.rs".into(), "pub struct Classifier;\n".into()));
    files.retain(|(f, _)| f != "lib.rs");
    files.push((
        "lib.rs".into(),
        "mod infer;\npub use crate::infer::Classifier;\npub use crate::fit::train::train;\n".into(),
    ));
    let problems = check_layers(&files);
    assert_eq!(
        problems,
        vec![
            "fit/refit.rs:1 imports crate::Classifier: `fit` may import only the layers below it, and `infer` is beside it"
        ]
    );
}

#[test]
fn the_checker_names_a_planted_circle_with_its_imports() {
    let files = with(
        layered(),
        "fit/refit.rs",
        "use crate::{\n    run::dir::RunDir,\n    fit::train::train,\n};\n",
    );
    let problems = check_layers(&files);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0],
        "modules form a circle: fit::refit → fit::train → fit::refit (fit/refit.rs:3 imports crate::fit::train::train; fit/train.rs:3 imports crate::fit::refit)"
    );
}

#[test]
fn the_checker_refuses_super_paths_and_bars_below_the_face() {
    let files = with(
        layered(),
        "fit/refit.rs",
        "use super::train::train;\nuse indicatif::ProgressBar;\n",
    );
    let problems = check_layers(&files);
    assert_eq!(
        problems,
        vec![
            "fit/refit.rs:1: super::train::train: write the path from crate:: so that the layers can be checked",
            "fit/refit.rs:2: indicatif::ProgressBar: only `cli` uses indicatif",
        ]
    );
}

#[test]
fn the_train_crate_imports_only_downward() {
    let files = sources(&repo_root().join("crates/train/src"));
    assert_eq!(check_layers(&files), Vec::<String>::new());
    // The scan saw the edges that must exist, so a broken reader cannot pass silently.
    let (found, _) = imports(&files);
    let tops: BTreeSet<(&str, &str)> = found
        .iter()
        .map(|i| {
            (
                i.from.split("::").next().unwrap(),
                i.to.split("::").next().unwrap(),
            )
        })
        .collect();
    for edge in [
        ("cli", "fit"),
        ("cli", "inspect"),
        ("cli", "infer"),
        ("fit", "run"),
        ("fit", "datasets"),
        ("inspect", "run"),
        ("infer", "run"),
        ("run", "config"),
    ] {
        assert!(
            tops.contains(&edge),
            "{edge:?} not seen: the import reader is broken"
        );
    }
    assert!(found.len() > 100, "only {} imports seen", found.len());
}

#[test]
fn no_crate_of_the_workspace_has_a_module_circle() {
    for krate in [
        "crates/data/src",
        "crates/model/src",
        "crates/train/src",
        "tests/src",
    ] {
        let files = sources(&repo_root().join(krate));
        let (found, problems) = imports(&files);
        assert_eq!(problems, Vec::<String>::new(), "{krate}");
        assert_eq!(circles(&found), Vec::<String>::new(), "{krate}");
        if krate == "crates/data/src" {
            assert!(
                found.iter().any(|i| i.from == "mnist" && i.to == "idx"),
                "{found:?}"
            );
        }
    }
}
