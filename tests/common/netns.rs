//! Tests that change the network (iptables rules on `lo`) run in a network namespace of their
//! own: the outer test re-runs its own binary inside `unshare -n` (only `lo`, brought up) with
//! one inner test selected and a variable set, and the inner test does the work there.

use std::process::Command;

/// Whether a namespace with `lo` up and `iptables` can be made here; prints why not.
pub fn available() -> bool {
    let probe = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && iptables -L OUTPUT -n",
        ])
        .output();
    let ok = probe.as_ref().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: no network namespace with iptables here ({probe:?})");
    }
    ok
}

/// Runs test `inner` of this binary inside a fresh namespace with `var=value`; returns its
/// stdout and stderr together once it passed (a failure fails the caller with the whole text).
pub fn rerun_inside(inner: &str, var: &str, value: &str) -> String {
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", inner, "--nocapture"])
        .env(var, value)
        // The shared homeserver is not reachable from inside.
        .env_remove("MXCALL_TEST_HS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{inner} with {var}={value}:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
    text
}

/// Adds (`-A`) or deletes (`-D`) an iptables OUTPUT rule inside the namespace.
pub fn iptables(action: &str, rule: &[&str]) {
    let ok = Command::new("iptables")
        .args([action, "OUTPUT"])
        .args(rule)
        .status()
        .unwrap()
        .success();
    assert!(ok, "iptables {action} OUTPUT {rule:?}");
}
