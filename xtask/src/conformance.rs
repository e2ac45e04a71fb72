//! `cargo xtask conformance`: keeps `docs/conformance/rfc9293.md` honest.
//!
//! The checklist has one table row per RFC 9293 requirement label, MUST-1 … MUST-69:
//!
//! ```text
//! | MUST-n | § | requirement | status | tests, or the reason |
//! ```
//!
//! where the status is `checked`, `n/a` or `NOT MET`, and tests are written in backticks as
//! `crate-relative/path.rs::test_name`. The check fails when a label is missing, listed twice
//! or out of range; when a `checked` row names no test, or a test whose file or function does
//! not exist, whose function does not cite the label (in its name, `must_n`, or in a comment,
//! `MUST-n`), that `cargo test --workspace --all-features -- --list` does not list (not
//! compiled under CI's features), or that is `#[ignore]`d; when an `n/a` row gives no reason
//! or a `NOT MET` row does not say what is missing. `NOT MET` rows may name ignored or failing
//! tests: that is what they are for. It prints how many labels are checked, not applicable
//! and not met.

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The checklist, relative to the workspace root.
pub const DOC: &str = "docs/conformance/rfc9293.md";
/// RFC 9293 Appendix B labels MUST-1 … MUST-69.
pub const LABELS: u32 = 69;

/// A row's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Met, and checked by the tests listed.
    Checked,
    /// Does not apply to this implementation, for the reason given.
    NotApplicable,
    /// Not met (yet): the row says what is missing.
    NotMet,
}

/// A test named in the checklist: a file relative to the workspace root and a function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestRef {
    /// e.g. `stack/core/src/tcp/tests.rs`.
    pub path: String,
    /// The test function's name.
    pub name: String,
}

/// One row of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// n of MUST-n.
    pub label: u32,
    /// Line in the document (1-based).
    pub line: usize,
    /// The verdict.
    pub status: Status,
    /// Tests named in the last column.
    pub tests: Vec<TestRef>,
    /// The last column without the test references: the reason, or what is missing.
    pub note: String,
}

/// Parses the checklist's table rows. Rows are the lines starting with `| MUST-`; every
/// problem found is returned (a row that cannot be read, a status not in the set, a label out
/// of range, listed twice or missing).
pub fn parse_doc(text: &str) -> Result<Vec<Row>, Vec<String>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let t = line.trim();
        if !t.starts_with("| MUST-") {
            continue;
        }
        let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
        let [label, _section, _requirement, status, last] = cells.as_slice() else {
            errors.push(format!(
                "line {line_no}: a row needs 5 cells (label, section, requirement, status, \
                 tests or reason), found {}",
                cells.len()
            ));
            continue;
        };
        let Some(n) = label
            .strip_prefix("MUST-")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            errors.push(format!("line {line_no}: bad label {label:?}"));
            continue;
        };
        if !(1..=LABELS).contains(&n) {
            errors.push(format!(
                "line {line_no}: MUST-{n} is not one of MUST-1..MUST-{LABELS}"
            ));
            continue;
        }
        if let Some(first) = seen.insert(n, line_no) {
            errors.push(format!(
                "line {line_no}: MUST-{n} is listed twice (first on line {first})"
            ));
            continue;
        }
        let status = match *status {
            "checked" => Status::Checked,
            "n/a" => Status::NotApplicable,
            "NOT MET" => Status::NotMet,
            other => {
                errors.push(format!(
                    "line {line_no}: MUST-{n}: status {other:?} is not `checked`, `n/a` or `NOT MET`"
                ));
                continue;
            }
        };
        let (tests, note) = split_tests(last);
        rows.push(Row {
            label: n,
            line: line_no,
            status,
            tests,
            note,
        });
    }
    for n in 1..=LABELS {
        if !seen.contains_key(&n) {
            errors.push(format!("MUST-{n} is missing from the checklist"));
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The test references (backticked `path.rs::name`) of a cell, and the rest of its text.
fn split_tests(cell: &str) -> (Vec<TestRef>, String) {
    let mut tests = Vec::new();
    let mut note = String::new();
    let mut parts = cell.split('`');
    if let Some(first) = parts.next() {
        note.push_str(first);
    }
    let mut inside = true;
    for p in parts {
        if inside {
            match parse_test_ref(p) {
                Some(t) => tests.push(t),
                None => {
                    note.push('`');
                    note.push_str(p);
                    note.push('`');
                }
            }
        } else {
            note.push_str(p);
        }
        inside = !inside;
    }
    let note = note
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .to_string();
    (tests, note)
}

fn parse_test_ref(s: &str) -> Option<TestRef> {
    let (path, name) = s.rsplit_once("::")?;
    let ident = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    (path.ends_with(".rs") && !path.contains(' ') && ident).then(|| TestRef {
        path: path.to_string(),
        name: name.to_string(),
    })
}

/// The test names in `cargo test -- --list` output (`name: test` lines).
pub fn parse_list(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// What `cargo test --workspace --all-features -- --list` (and `--ignored`) printed.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every test compiled.
    pub all: BTreeSet<String>,
    /// The `#[ignore]`d ones.
    pub ignored: BTreeSet<String>,
}

/// The result of checking the rows against the sources and the listing.
#[derive(Debug, Default)]
pub struct Report {
    /// Problems that fail the check.
    pub errors: Vec<String>,
    /// Labels by status.
    pub checked: Vec<u32>,
    /// Labels that do not apply.
    pub not_applicable: Vec<u32>,
    /// Labels not met.
    pub not_met: Vec<u32>,
    /// Distinct tests named by `checked` rows.
    pub tests: BTreeSet<TestRef>,
}

/// The module path of a file under a crate's `src/` (`tcp/tests.rs` → `tcp::tests`), or
/// `None` for an integration test file (its tests are at the top of their own binary).
fn module_path(path: &str) -> Option<String> {
    let (_, rest) = path
        .rsplit_once("/src/")
        .or_else(|| path.strip_prefix("src/").map(|r| ("", r)))?;
    let rest = rest.strip_suffix(".rs")?;
    let rest = rest.strip_suffix("/mod").unwrap_or(rest);
    if rest == "lib" || rest == "main" {
        return Some(String::new());
    }
    Some(rest.replace('/', "::"))
}

/// The text of function `name` in `source`: the comments and attributes just above it and
/// its body (to the closing brace at the `fn`'s indentation).
fn function_text<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("fn {name}(");
    let at = source.match_indices(&pat).map(|(i, _)| i).find(|&i| {
        // A whole identifier: not `fn other_name(`.
        source[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_')
    })?;
    let line_start = source[..at].rfind('\n').map_or(0, |p| p + 1);
    let indent: String = source[line_start..]
        .chars()
        .take_while(|c| *c == ' ')
        .collect();
    // Back over attributes, comments and blank lines.
    let mut start = line_start;
    while start > 0 {
        let prev_start = source[..start - 1].rfind('\n').map_or(0, |p| p + 1);
        let prev = source[prev_start..start - 1].trim();
        if prev.starts_with("#[") || prev.starts_with("//") || prev.ends_with(")]") {
            start = prev_start;
        } else {
            break;
        }
    }
    let close = format!("\n{indent}}}");
    let end = source[at..]
        .find(&close)
        .map_or(source.len(), |p| at + p + close.len());
    Some(&source[start..end])
}

/// The labels a test cites: `must_n` (and `must_n_m`, `must_n_to_m`) in its name, `MUST-n`
/// (and `MUST-n/m`, `MUST-n..m`) in its text.
fn cited_labels(name: &str, text: &str) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let tokens: Vec<&str> = name.split('_').collect();
    if let Some(p) = tokens.iter().position(|t| *t == "must") {
        let mut last = None;
        let mut range = false;
        for t in tokens.iter().skip(p + 1) {
            if *t == "to" {
                range = true;
            } else if let Ok(n) = t.parse::<u32>() {
                match (range, last) {
                    (true, Some(l)) => out.extend(l..=n),
                    _ => {
                        out.insert(n);
                    }
                }
                last = Some(n);
                range = false;
            } else {
                break;
            }
        }
    }
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(p) = text[i..].find("MUST-") {
        let mut j = i + p + 5;
        let num = |j: &mut usize| {
            let s = *j;
            while b.get(*j).is_some_and(u8::is_ascii_digit) {
                *j += 1;
            }
            text[s..*j].parse::<u32>().ok()
        };
        if let Some(first) = num(&mut j) {
            out.insert(first);
            let mut last = first;
            loop {
                if text[j..].starts_with('/') || text[j..].starts_with(", MUST-") {
                    j += if text[j..].starts_with('/') { 1 } else { 7 };
                } else if text[j..].starts_with("..") {
                    j += 2;
                    if text[j..].starts_with("MUST-") {
                        j += 5;
                    }
                    match num(&mut j) {
                        Some(n) => {
                            out.extend(last..=n);
                            last = n;
                        }
                        None => break,
                    }
                    continue;
                } else {
                    break;
                }
                match num(&mut j) {
                    Some(n) => {
                        out.insert(n);
                        last = n;
                    }
                    None => break,
                }
            }
        }
        i = j.max(i + p + 5);
    }
    out
}

/// Checks rows against the sources (`read` gives a workspace file's text) and the listing.
pub fn check(rows: &[Row], listing: &Listing, read: &dyn Fn(&str) -> Option<String>) -> Report {
    let mut r = Report::default();
    for row in rows {
        let label = row.label;
        match row.status {
            Status::NotApplicable => {
                r.not_applicable.push(label);
                if row.note.len() < 20 {
                    r.errors.push(format!(
                        "line {}: MUST-{label} is n/a without a reason a reviewer could judge",
                        row.line
                    ));
                }
                continue;
            }
            Status::NotMet => {
                r.not_met.push(label);
                if row.note.len() < 20 {
                    r.errors.push(format!(
                        "line {}: MUST-{label} is NOT MET without saying what is missing",
                        row.line
                    ));
                }
                continue;
            }
            Status::Checked => r.checked.push(label),
        }
        if row.tests.is_empty() {
            r.errors.push(format!(
                "line {}: MUST-{label} is `checked` but names no test",
                row.line
            ));
        }
        for t in &row.tests {
            let at = format!("line {}: MUST-{label}: {}::{}", row.line, t.path, t.name);
            let Some(source) = read(&t.path) else {
                r.errors.push(format!("{at}: no such file"));
                continue;
            };
            let Some(text) = function_text(&source, &t.name) else {
                r.errors
                    .push(format!("{at}: no `fn {}` in the file", t.name));
                continue;
            };
            if !cited_labels(&t.name, text).contains(&label) {
                r.errors.push(format!(
                    "{at}: the test does not cite MUST-{label} (in its name or a comment)"
                ));
            }
            let suffix = match module_path(&t.path) {
                Some(m) if !m.is_empty() => format!("{m}::{}", t.name),
                _ => t.name.clone(),
            };
            let listed: Vec<&String> = listing
                .all
                .iter()
                .filter(|n| *n == &suffix || n.ends_with(&format!("::{suffix}")))
                .collect();
            if listed.is_empty() {
                r.errors.push(format!(
                    "{at}: not in `cargo test --workspace --all-features -- --list` \
                     (not a test, or not compiled under CI's features)"
                ));
            } else if listed.iter().all(|n| listing.ignored.contains(*n)) {
                r.errors.push(format!(
                    "{at}: the test is #[ignore]d, so it does not run; a row whose test is \
                     ignored says NOT MET"
                ));
            }
            r.tests.insert(t.clone());
        }
    }
    r
}

fn list_tests(root: &Path, ignored: bool) -> Result<BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--workspace", "--all-features", "--", "--list"])
        .current_dir(root);
    if ignored {
        cmd.arg("--ignored");
    }
    let out = cmd
        .output()
        .context("running cargo test --workspace --all-features -- --list")?;
    if !out.status.success() {
        bail!(
            "cargo test --workspace --all-features -- --list failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse_list(&String::from_utf8_lossy(&out.stdout)))
}

fn labels(v: &[u32]) -> String {
    v.iter()
        .map(|n| format!("MUST-{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(root: &Path) -> Result<()> {
    let doc = root.join(DOC);
    let text = std::fs::read_to_string(&doc).with_context(|| format!("reading {DOC}"))?;
    let rows = match parse_doc(&text) {
        Ok(rows) => rows,
        Err(errors) => {
            for e in &errors {
                eprintln!("{DOC}: {e}");
            }
            bail!("{DOC}: {} problem(s) in the table", errors.len());
        }
    };
    eprintln!("listing the workspace's tests (cargo test --workspace --all-features -- --list)");
    let listing = Listing {
        all: list_tests(root, false)?,
        ignored: list_tests(root, true)?,
    };
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    let report = check(&rows, &listing, &read);
    println!("RFC 9293 conformance ({DOC}): {LABELS} labels");
    println!(
        "  checked:        {:2} ({} tests)",
        report.checked.len(),
        report.tests.len()
    );
    println!(
        "  not applicable: {:2} ({})",
        report.not_applicable.len(),
        labels(&report.not_applicable)
    );
    println!(
        "  not met:        {:2} ({})",
        report.not_met.len(),
        labels(&report.not_met)
    );
    if !report.errors.is_empty() {
        for e in &report.errors {
            eprintln!("{DOC}: {e}");
        }
        bail!("{DOC}: {} problem(s)", report.errors.len());
    }
    println!("conformance checklist OK");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "stack/core/src/tcp/tests.rs";
    const IT: &str = "stack/core/tests/tcp.rs";

    /// A complete, valid table: MUST-1 checked by two tests, MUST-2 n/a, MUST-3 not met,
    /// every other label checked by a generic test citing it in a comment.
    fn good_doc() -> String {
        let mut s = String::from(
            "# Checklist\n\n| Label | § | Requirement | Status | Tests or reason |\n|---|---|---|---|---|\n",
        );
        s.push_str(&format!(
            "| MUST-1 | 3.1 | Window unsigned | checked | `{SRC}::tcp_window_must_1`, `{IT}::stack_window_must_1` |\n"
        ));
        s.push_str("| MUST-2 | 3.9.2.1 | Source route | n/a | the IP layer implements no source routing |\n");
        s.push_str(&format!(
            "| MUST-3 | 3.1 | Checksum | NOT MET | nothing checks checksums yet; `{SRC}::tcp_checksum_must_3` is ignored |\n"
        ));
        for n in 4..=LABELS {
            s.push_str(&format!(
                "| MUST-{n} | 3 | Something | checked | `{SRC}::tcp_generic` |\n"
            ));
        }
        s
    }

    fn sources(p: &str) -> Option<String> {
        match p {
            SRC => Some(
                "#[test]\nfn tcp_window_must_1() {\n    x();\n}\n\n#[test]\n#[ignore = \"MUST-3\"]\nfn tcp_checksum_must_3() {\n}\n\n/// Checks MUST-4..69 at once.\n#[test]\nfn tcp_generic() {\n    // MUST-1/2\n}\n"
                    .to_string(),
            ),
            IT => Some("#[test]\nfn stack_window_must_1() {\n    // MUST-1\n}\n".to_string()),
            _ => None,
        }
    }

    fn listing() -> Listing {
        let all = parse_list(
            "tcp::tests::tcp_window_must_1: test\ntcp::tests::tcp_checksum_must_3: test\n\
             tcp::tests::tcp_generic: test\nstack_window_must_1: test\n\n4 tests, 0 benchmarks\n",
        );
        let ignored = parse_list("tcp::tests::tcp_checksum_must_3: test\n");
        Listing { all, ignored }
    }

    #[test]
    fn conformance_good_doc_passes() {
        let rows = parse_doc(&good_doc()).unwrap();
        assert_eq!(rows.len(), LABELS as usize);
        assert_eq!(rows[0].tests.len(), 2);
        assert_eq!(rows[1].status, Status::NotApplicable);
        assert_eq!(rows[1].note, "the IP layer implements no source routing");
        let r = check(&rows, &listing(), &sources);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(
            (r.checked.len(), r.not_applicable.len(), r.not_met.len()),
            (67, 1, 1)
        );
        assert_eq!(r.tests.len(), 3);
    }

    #[test]
    fn conformance_missing_and_duplicate_labels_fail() {
        let doc = good_doc().replace("| MUST-5 |", "| MUST-6 |");
        let errors = parse_doc(&doc).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("MUST-5 is missing")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("MUST-6 is listed twice")),
            "{errors:?}"
        );
        let doc = good_doc().replace("| MUST-69 |", "| MUST-70 |");
        let errors = parse_doc(&doc).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("MUST-70 is not one of")));
        assert!(errors.iter().any(|e| e.contains("MUST-69 is missing")));
        let doc = good_doc().replace(
            "| MUST-7 | 3 | Something | checked |",
            "| MUST-7 | 3 | Something | done |",
        );
        assert!(parse_doc(&doc).unwrap_err()[0].contains("status \"done\""));
    }

    #[test]
    fn conformance_nonexistent_test_fails() {
        let doc = good_doc().replace(
            &format!("| MUST-9 | 3 | Something | checked | `{SRC}::tcp_generic` |"),
            &format!("| MUST-9 | 3 | Something | checked | `{SRC}::tcp_no_such_test_must_9` |"),
        );
        let rows = parse_doc(&doc).unwrap();
        let r = check(&rows, &listing(), &sources);
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(r.errors[0].contains("no `fn tcp_no_such_test_must_9`"));
        let doc = good_doc().replace(
            &format!("| MUST-9 | 3 | Something | checked | `{SRC}::tcp_generic` |"),
            "| MUST-9 | 3 | Something | checked | `stack/core/src/nowhere.rs::tcp_generic` |",
        );
        let r = check(&parse_doc(&doc).unwrap(), &listing(), &sources);
        assert!(r.errors[0].contains("no such file"));
    }

    #[test]
    fn conformance_unlisted_ignored_or_uncited_tests_fail() {
        // Compiled out (not in the listing).
        let mut l = listing();
        l.all.remove("stack_window_must_1");
        let rows = parse_doc(&good_doc()).unwrap();
        let r = check(&rows, &l, &sources);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].contains("not in `cargo test"), "{:?}", r.errors);
        // Ignored but claimed as checked.
        let doc = good_doc().replace(
            &format!("| MUST-3 | 3.1 | Checksum | NOT MET | nothing checks checksums yet; `{SRC}::tcp_checksum_must_3` is ignored |"),
            &format!("| MUST-3 | 3.1 | Checksum | checked | `{SRC}::tcp_checksum_must_3` |"),
        );
        let r = check(&parse_doc(&doc).unwrap(), &listing(), &sources);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].contains("#[ignore]d"), "{:?}", r.errors);
        // A test that does not cite the label it is listed for.
        let doc = good_doc().replace(
            "| MUST-2 | 3.9.2.1 | Source route | n/a | the IP layer implements no source routing |",
            &format!("| MUST-2 | 3.1 | x | checked | `{SRC}::tcp_window_must_1` |"),
        );
        let r = check(&parse_doc(&doc).unwrap(), &listing(), &sources);
        assert_eq!(r.errors.len(), 1);
        assert!(
            r.errors[0].contains("does not cite MUST-2"),
            "{:?}",
            r.errors
        );
    }

    #[test]
    fn conformance_rows_without_tests_or_reasons_fail() {
        let doc = good_doc()
            .replace(
                "| MUST-2 | 3.9.2.1 | Source route | n/a | the IP layer implements no source routing |",
                "| MUST-2 | 3.9.2.1 | Source route | n/a | |",
            )
            .replace(
                &format!("| MUST-4 | 3 | Something | checked | `{SRC}::tcp_generic` |"),
                "| MUST-4 | 3 | Something | checked | trust me |",
            )
            .replace(
                &format!("| MUST-3 | 3.1 | Checksum | NOT MET | nothing checks checksums yet; `{SRC}::tcp_checksum_must_3` is ignored |"),
                "| MUST-3 | 3.1 | Checksum | NOT MET | no |",
            );
        let r = check(&parse_doc(&doc).unwrap(), &listing(), &sources);
        assert_eq!(r.errors.len(), 3, "{:?}", r.errors);
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains("MUST-2 is n/a without a reason"))
        );
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains("MUST-4 is `checked` but names no test"))
        );
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains("MUST-3 is NOT MET without"))
        );
        let errors = parse_doc("| MUST-1 | 3.1 | only three |\n").unwrap_err();
        assert!(errors[0].contains("needs 5 cells"));
    }

    #[test]
    fn conformance_citations_and_module_paths() {
        assert_eq!(
            cited_labels("tcp_keepalive_must_24_to_29", ""),
            (24..=29).collect()
        );
        assert_eq!(cited_labels("tcp_x_must_58_59", ""), [58, 59].into());
        assert_eq!(
            cited_labels("x", "// MUST-26/28 and MUST-51..53, MUST-7"),
            [7, 26, 28, 51, 52, 53].into()
        );
        assert!(cited_labels("tcp_x_must_10", "").contains(&10));
        assert!(!cited_labels("tcp_x_must_10", "").contains(&1));
        assert_eq!(
            module_path("stack/core/src/tcp/tests.rs").as_deref(),
            Some("tcp::tests")
        );
        assert_eq!(module_path("xtask/src/main.rs").as_deref(), Some(""));
        assert_eq!(
            module_path("stack/core/src/tcp/mod.rs").as_deref(),
            Some("tcp")
        );
        assert_eq!(module_path("stack/core/tests/tcp.rs"), None);
        let src =
            "fn a_must_1_more() {}\n\n// MUST-2\n#[test]\nfn a_must_1() {\n    let x = 1;\n}\n";
        let f = function_text(src, "a_must_1").unwrap();
        assert!(f.starts_with("// MUST-2") && f.ends_with("\n}"), "{f:?}");
        assert!(function_text(src, "nope").is_none());
    }
}
