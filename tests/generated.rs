//! The committed completions and man pages must be what the current CLI definition renders.
//! Regenerate with `MXCALL_REGENERATE=1 cargo test --test generated`.

use std::path::Path;

#[test]
fn completions_and_man_pages_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("MXCALL_REGENERATE").is_some();
    let files = mxcall::docs::render();
    let mut stale = Vec::new();
    for (rel, contents) in &files {
        let path = root.join(rel);
        if regenerate {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, contents).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(contents.as_slice()) {
            stale.push(rel.clone());
        }
    }
    // Files left over from a removed subcommand are stale too.
    for dir in ["completions", "man"] {
        for entry in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let rel = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if !files.iter().any(|(f, _)| *f == rel) {
                if regenerate {
                    std::fs::remove_file(entry.path()).unwrap();
                } else {
                    stale.push(rel);
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are stale: {stale:?}; run `MXCALL_REGENERATE=1 cargo test --test generated`"
    );
}

#[test]
fn man_page_lists_every_exit_code() {
    let files = mxcall::docs::render();
    let man = &files.iter().find(|(f, _)| f == "man/mxcall.1").unwrap().1;
    let man = String::from_utf8_lossy(man);
    for (code, _) in mxcall::exit::TABLE {
        assert!(
            man.contains(&format!("  {code}  ")),
            "exit code {code} missing from the man page"
        );
    }
}

/// The README's text between `begin` and `end` must be `want` (rewritten with
/// `MXCALL_REGENERATE=1`).
fn readme_part_is(begin: &str, end: &str, want: &str, source: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(begin)
        .unwrap_or_else(|| panic!("README has {begin:?}"))
        + begin.len();
    let stop = start
        + readme[start..]
            .find(end)
            .unwrap_or_else(|| panic!("{end:?} after it"));
    if std::env::var_os("MXCALL_REGENERATE").is_some() {
        std::fs::write(
            &path,
            format!("{}{want}{}", &readme[..start], &readme[stop..]),
        )
        .unwrap();
    } else {
        assert_eq!(
            &readme[start..stop],
            want,
            "README differs from {source}; run `MXCALL_REGENERATE=1 cargo test --test generated`"
        );
    }
}

#[test]
fn the_readme_exit_code_table_is_the_one_the_code_uses() {
    let want = format!("{}\n", mxcall::docs::readme_exit_codes());
    readme_part_is("## Exit codes\n\n", "## ", &want, "mxcall::exit::TABLE");
}

#[test]
fn the_readme_event_table_is_the_one_the_code_prints() {
    readme_part_is(
        "<!-- json-events -->\n",
        "<!-- /json-events -->",
        &mxcall::docs::readme_events(),
        "mxcall::events::DOCS",
    );
}
