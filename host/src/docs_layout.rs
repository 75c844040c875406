//! The documentation's layout, checked: README.md is short enough to read in five minutes,
//! every page in docs/ is linked from it, and every relative link in README.md, docs/ and
//! BENCHMARKS.md points at a file that exists (and, for `page.md#heading`, at a heading that
//! page has).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The most lines README.md may have.
const README_MAX_LINES: usize = 350;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The lines of a Markdown text outside fenced code blocks and HTML comments.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut in_fence = false;
    let mut in_comment = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if in_comment || trimmed.starts_with("<!--") {
            in_comment = !line.contains("-->");
            continue;
        }
        lines.push(line);
    }
    lines
}

/// A line with its inline code spans (`...`) removed.
fn without_code_spans(line: &str) -> String {
    line.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, part)| part)
        .collect()
}

/// The targets of the inline links `[text](target)` and reference definitions `[x]: target`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        let definition = line
            .trim_start()
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(label, rest)| rest.strip_prefix(':').filter(|_| !label.contains('[')));
        if let Some(target) = definition.and_then(|d| d.split_whitespace().next()) {
            targets.push(target.to_string());
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// The anchors GitHub makes for a page's headings: lower case, punctuation dropped, spaces as
/// hyphens, and `-1`, `-2`, ... after a repeated one.
fn heading_anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for line in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            slug
        } else {
            format!("{slug}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// README.md, BENCHMARKS.md and every Markdown page in docs/.
fn markdown_files() -> Vec<PathBuf> {
    let root = repo();
    let mut files = vec![root.join("README.md"), root.join("BENCHMARKS.md")];
    files.extend(
        files_under(&root.join("docs"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    files
}

/// Where a relative link in `from` points, and its `#fragment` if it has one; `None` for a
/// link that leaves the repository (a URL, `mailto:`).
fn resolve(from: &Path, target: &str) -> Option<(PathBuf, Option<String>)> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment.to_string())),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_path_buf()
    } else {
        normalize(&from.parent().unwrap().join(path))
    };
    Some((file, fragment))
}

#[test]
fn the_readme_is_at_most_350_lines() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move the detail to a page in docs/ and link it"
    );
}

#[test]
fn every_page_in_docs_is_linked_from_the_readme() {
    let root = repo();
    let readme_path = root.join("README.md");
    let readme = fs::read_to_string(&readme_path).unwrap();
    let linked: BTreeSet<PathBuf> = link_targets(&readme)
        .iter()
        .filter_map(|t| resolve(&readme_path, t))
        .map(|(file, _)| file)
        .collect();
    let pages = files_under(&root.join("docs"));
    assert!(!pages.is_empty(), "docs/ has no pages");
    let unlinked: Vec<_> = pages
        .iter()
        .map(|p| normalize(p))
        .filter(|p| !linked.contains(p))
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert!(
        unlinked.is_empty(),
        "pages in docs/ that README.md does not link: {unlinked:?}"
    );
}

#[test]
fn every_relative_link_points_at_a_file_and_heading_that_exist() {
    let root = repo();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        for target in link_targets(&text) {
            let Some((to, fragment)) = resolve(&file, &target) else {
                continue;
            };
            checked += 1;
            let from = file.strip_prefix(&root).unwrap().display();
            if !to.exists() {
                broken.push(format!("{from}: ({target}): no such file"));
                continue;
            }
            let Some(fragment) = fragment else { continue };
            if to.extension().is_some_and(|e| e == "md") {
                let anchors = heading_anchors(&fs::read_to_string(&to).unwrap());
                if !anchors.contains(&fragment) {
                    broken.push(format!("{from}: ({target}): no such heading"));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "too few links were found ({checked}): is the parser broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checks_see_what_they_must() {
    assert_eq!(
        link_targets(
            "see [a](docs/a.md#x) and `[b](not-a-link)`\n```\n[c](in-code)\n```\n[d]: e.md"
        ),
        vec!["docs/a.md#x".to_string(), "e.md".to_string()]
    );
    let anchors = heading_anchors(
        "# Any WASI host (stock `wasmtime`)\n## Limits, honestly\n## Limits, honestly\n```\n# not a heading\n```",
    );
    assert_eq!(
        anchors.into_iter().collect::<Vec<_>>(),
        [
            "any-wasi-host-stock-wasmtime",
            "limits-honestly",
            "limits-honestly-1"
        ]
    );
    assert_eq!(
        resolve(Path::new("/r/docs/a.md"), "../host/src/lib.rs#L3"),
        Some((PathBuf::from("/r/host/src/lib.rs"), Some("L3".to_string())))
    );
    assert_eq!(
        resolve(Path::new("/r/README.md"), "https://example.com/x"),
        None
    );
}
