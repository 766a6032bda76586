//! Generated documentation: shell completions and man pages, rendered from the clap definition.
//!
//! The rendered files are committed under `completions/` and `man/`; `tests/generated.rs` fails
//! when they differ from what this code renders, and rewrites them with `MXCALL_REGENERATE=1`.

use clap_complete::Shell;

/// Every generated file as (path relative to the repository root, contents).
pub fn render() -> Vec<(String, Vec<u8>)> {
    // The committed pages name the version, not the commit (which changes with every commit).
    let mut cmd = crate::cli::command().long_version(None::<&str>);
    cmd.build();
    let mut files = Vec::new();
    for (shell, name) in [
        (Shell::Bash, "mxcall.bash"),
        (Shell::Zsh, "_mxcall"),
        (Shell::Fish, "mxcall.fish"),
        (Shell::Elvish, "mxcall.elv"),
        (Shell::PowerShell, "_mxcall.ps1"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "mxcall", &mut buf);
        files.push((format!("completions/{name}"), buf));
    }
    files.push(("man/mxcall.1".into(), man_page(cmd.clone())));
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("mxcall-{}", sub.get_name());
        let page = man_page(sub.clone().name(name.clone()).display_name(name.clone()));
        files.push((format!("man/{name}.1"), page));
    }
    files
}

fn man_page(cmd: clap::Command) -> Vec<u8> {
    let mut buf = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut buf);
    buf
}

/// The README's exit-code table (Markdown), rendered from `crate::exit::TABLE`;
/// `tests/generated.rs` keeps the README's `## Exit codes` section equal to it.
pub fn readme_exit_codes() -> String {
    let mut text = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in crate::exit::TABLE {
        let meaning = meaning.split_whitespace().collect::<Vec<_>>().join(" ");
        text.push_str(&format!("| {code} | {meaning} |\n"));
    }
    text
}

/// The README's JSON event table (Markdown), from `crate::events::DOCS`.
pub fn readme_events() -> String {
    crate::events::readme_table()
}
