//! Stamps the git commit the binary is built from into `mxcall --version`
//! (`MXCALL_GIT_COMMIT`; "unknown" outside a git checkout, e.g. from a source tarball). A
//! packager may set MXCALL_GIT_COMMIT itself.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=MXCALL_GIT_COMMIT");
    let commit = std::env::var("MXCALL_GIT_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MXCALL_GIT_COMMIT={commit}");
    // Built again when HEAD moves (a commit, a checkout).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let head_ref = git(&["symbolic-ref", "-q", "HEAD"]);
        let files = ["HEAD".to_owned(), "packed-refs".to_owned()];
        for file in files.iter().chain(head_ref.as_ref()) {
            // Only files that exist: cargo runs the script every time for a missing one.
            let path = format!("{dir}/{file}");
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
