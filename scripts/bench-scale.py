#!/usr/bin/env python3
"""Many concurrent mxcall↔mxcall calls through one Synapse (run through scripts/bench-scale.sh).

    bench-scale.py --hs URL --hs-pid PID --mxcall BIN [--calls 1,10,25,50] [--duration S] [--json]

For each K: K callee processes (`answer`) start and settle, then K caller processes (`call`) start
at once, each pair in an encrypted direct room of its own and each side sending its own tone
(callers 300 + 25·i Hz, callees 1600 + 25·i Hz) for S seconds connected, recorded as WAV. Per K:
setup (caller process start → its "connected", median and p95), share of calls connected,
frames intact (20 ms frames of the recording after the first loud one that carry the right tone,
less the frames the receiver concealed: worst call and mean over both directions of all calls),
CPU seconds per call-minute of both processes of a call (from the caller's "connected" to the
processes' exit), the sum of every process's peak RSS (each its own VmHWM, read from /proc while
it runs), and Synapse's CPU meanwhile (in cores). For the setup stretch (the first caller's start
to the last caller's "connected") also: how busy the machine was (all CPUs, from /proc/stat, in
cores), the share of it that was Synapse's, and the callers' own CPU to "connected" (median per
process) — where the cores went while calls were being set up.
Before the first K every pair makes one short call, so each K measures calls between
accounts that have called before (sessions, room keys and the first sync in place), as a person's
second call is. Standard library only. Not a test: it asserts nothing.
"""
import argparse
import json
import math
import os
import secrets
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave

CLK = os.sysconf("SC_CLK_TCK")
LIVE = []  # every mxcall process started, killed on the way out


def note(msg):
    print(f"bench-scale: {msg}", file=sys.stderr, flush=True)


def api(hs, method, path, token=None, body=None):
    req = urllib.request.Request(f"{hs}/_matrix/client/v3{path}", method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    data = json.dumps(body if body is not None else {}).encode()
    with urllib.request.urlopen(req, data=data, timeout=60) as r:
        return json.load(r)


def machine_busy_seconds():
    """CPU time of the whole machine (every CPU, not idle or iowait), in seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK


def cpu_seconds(pid):
    """utime + stime of a live process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except OSError:
        return 0.0


class Proc:
    """An mxcall process whose JSON events are read (with arrival times) by a thread."""

    def __init__(self, argv, env):
        self.started = time.time()
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.events = []
        self.cond = threading.Condition()
        self.err = []
        self.rusage = None
        self.code = None
        self.hwm_kb = 0
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.p.stderr), daemon=True).start()
        threading.Thread(target=self._sample_hwm, daemon=True).start()

    def note_hwm(self):
        """Reads the process's own peak RSS (VmHWM of /proc/PID/status, in kB; monotonic)."""
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass

    def _sample_hwm(self):
        while self.code is None:
            self.note_hwm()
            time.sleep(0.5)

    def _read(self):
        for line in self.p.stdout:
            self.note_hwm()
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()
        _, status, self.rusage = os.wait4(self.p.pid, 0)
        self.code = os.waitstatus_to_exitcode(status)
        with self.cond:
            self.cond.notify_all()

    def event(self, name):
        return next((e for e in self.events if e.get("event") == name), None)

    def wait_event(self, name, timeout):
        end = time.time() + timeout
        with self.cond:
            while self.event(name) is None and self.code is None and time.time() < end:
                self.cond.wait(max(0.0, end - time.time()))
            return self.event(name)

    def wait_exit(self, timeout):
        end = time.time() + timeout
        with self.cond:
            while self.code is None and time.time() < end:
                self.cond.wait(max(0.0, end - time.time()))
        if self.code is None:
            self.p.kill()
            self.wait_exit(10)

    def cpu_total(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else 0.0

    def peak_rss_mb(self):
        # Not wait4's ru_maxrss: Linux carries the parent's peak RSS into an exec'ed child's
        # (the mm that exec replaces is the forked copy of this harness), so every mxcall would
        # report at least this Python process's peak — 147 MB per process once it had grown.
        # VmHWM belongs to the process's own mm, read until its last event (just before exit).
        return self.hwm_kb / 1024


def goertzel_power(x, rate, freq):
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def tone_frames(path, freq):
    """(frames carrying `freq`, frames counted): 20 ms frames after the first loud one, but the
    last 5 (the hangup), analysed at a quarter of the sample rate."""
    try:
        with wave.open(path) as w:
            rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error):
        return 0, 0
    if width != 2 or not raw:
        return 0, 0
    data = struct.unpack(f"<{len(raw) // 2}h", raw)[::ch * 4]
    rate //= 4
    step = rate // 50
    frames = [data[i:i + step] for i in range(0, len(data) - step + 1, step)]
    energy = [sum(v * v for v in f) for f in frames]
    loud = [e > step * 300.0 ** 2 for e in energy]  # rms above ≈ 1% of full scale
    if True not in loud:
        return 0, max(len(frames) - 5, 0)
    first = loud.index(True)
    body = range(first, max(first, len(frames) - 5))
    # A pure tone at `freq` has Goertzel power ≈ N·E/2 (E its energy): ≥ 60% of that counts.
    good = sum(1 for i in body if loud[i]
               and 2 * goertzel_power(frames[i], rate, freq) >= 0.6 * step * energy[i])
    return good, len(body)


def intact_share(path, freq, stats):
    good, counted = tone_frames(path, freq)
    if counted == 0:
        return 0.0
    concealed = (stats or {}).get("concealed_frames", 0)
    return max(0.0, min(good, counted - concealed) / counted)


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] if s else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hs", required=True)
    ap.add_argument("--hs-pid", type=int, required=True)
    ap.add_argument("--mxcall", required=True)
    ap.add_argument("--calls", default="1,10,25,50")
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ks = [int(k) for k in a.calls.split(",")]
    n = max(ks)
    work = tempfile.mkdtemp(prefix="mxcall-scale-")
    env = {**os.environ, "MXCALL_HOME": os.path.join(work, "home")}
    mx = lambda *args: [a.mxcall, "--json", *args]

    note(f"registering and logging in {2 * n} accounts")
    tag = secrets.token_hex(3)
    accounts = []
    for i in range(2 * n):
        name, pw = f"s{tag}x{i}", secrets.token_hex(12)
        v = api(a.hs, "POST", "/register", body={"username": name, "password": pw,
                                                 "auth": {"type": "m.login.dummy"}})
        accounts.append((f"p{i}", v["user_id"], v["access_token"], pw))
    for batch in range(0, len(accounts), 4):
        logins = []
        for profile, user, _, pw in accounts[batch:batch + 4]:
            p = subprocess.Popen([a.mxcall, "--profile", profile, "login", user, "--homeserver", a.hs,
                                  "--password-stdin"], env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            p.stdin.write(pw + "\n")
            p.stdin.close()
            logins.append(p)
        for p in logins:
            if p.wait() != 0:
                sys.exit(f"bench-scale: login failed: {p.stderr.read().strip()}")
    pairs = []
    for i in range(n):
        (cp, cu, ct, _), (ep, eu, et, _) = accounts[2 * i], accounts[2 * i + 1]
        room = api(a.hs, "POST", "/createRoom", ct, {
            "preset": "trusted_private_chat", "invite": [eu], "is_direct": True,
            "initial_state": [{"type": "m.room.encryption", "state_key": "",
                               "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]})["room_id"]
        api(a.hs, "POST", f"/join/{urllib.request.quote(room)}", et)
        pairs.append({"caller": cp, "callee": ep, "room": room,
                      "f_caller": 300 + 25 * i, "f_callee": 1600 + 25 * i})

    def round_of(chosen, duration, record):
        k = len(chosen)
        callees = []
        for i, pr in enumerate(chosen):
            args = ["--profile", pr["callee"], "answer", "--wait", str(duration + 120),
                    "--input", f"tone:{pr['f_callee']}", "--output", "null",
                    "--media-addr", "127.0.0.1"]
            if record:
                args += ["--record", os.path.join(work, f"k{k}-callee{i}.wav")]
            callees.append(Proc(mx(*args), env))
            LIVE.extend(callees[-1:])
        time.sleep(3 + 0.1 * k)  # every callee restored and syncing
        hs0, t0, busy0 = cpu_seconds(a.hs_pid), time.time(), machine_busy_seconds()
        callers = []
        for i, pr in enumerate(chosen):
            args = ["--profile", pr["caller"], "call", pr["room"], "--protocol", "legacy",
                    "--duration", str(duration), "--input", f"tone:{pr['f_caller']}",
                    "--output", "null", "--media-addr", "127.0.0.1"]
            if record:
                args += ["--record", os.path.join(work, f"k{k}-caller{i}.wav")]
            callers.append(Proc(mx(*args), env))
            LIVE.extend(callers[-1:])
        cpu_at_connect, caller_setup_cpu = [], []
        for c, e in zip(callers, callees):
            ev = c.wait_event("connected", 60)
            cpu_at_connect.append(cpu_seconds(c.p.pid) + cpu_seconds(e.p.pid) if ev else None)
            if ev:
                caller_setup_cpu.append(cpu_seconds(c.p.pid))
        # The setup stretch: from the first caller's start until every caller connected.
        hs_s, t_s, busy_s = cpu_seconds(a.hs_pid), time.time(), machine_busy_seconds()
        setup = {
            "seconds": t_s - t0,
            "machine_cores": (busy_s - busy0) / max(t_s - t0, 1e-3),
            "synapse_cores": (hs_s - hs0) / max(t_s - t0, 1e-3),
            "caller_cpu_ms": 1000 * statistics.median(caller_setup_cpu) if caller_setup_cpu else float("nan"),
        }
        for p in callers + callees:
            p.wait_exit(duration + 120)
        hs1, t1 = cpu_seconds(a.hs_pid), time.time()
        return chosen, callers, callees, cpu_at_connect, (hs1 - hs0) / (t1 - t0), setup

    note(f"warm-up: one short call per pair ({n} pairs, 10 at a time)")
    for start in range(0, n, 10):
        round_of(pairs[start:start + 10], 2, False)

    rows = []
    for k in ks:
        note(f"K={k}: {k} concurrent calls, {a.duration} s each")
        chosen, callers, callees, cpu0, hs_cores, setup = round_of(pairs[:k], a.duration, True)
        setups, intact, cpu_per_min, connected = [], [], [], 0
        for i, (pr, c, e) in enumerate(zip(chosen, callers, callees)):
            conn = c.event("connected")
            ended_c, ended_e = c.event("ended") or {}, e.event("ended") or {}
            if conn and c.code == 0 and e.code == 0:
                connected += 1
                setups.append(conn["ts"] - c.started * 1000)
                call_ms = max(ended_c.get("duration_ms", 0), 1)
                cpu_per_min.append((c.cpu_total() + e.cpu_total() - cpu0[i]) / (call_ms / 60000))
            else:
                note(f"K={k} call {i}: caller exit {c.code}, callee exit {e.code}; "
                     f"{''.join(c.err[-3:]).strip()} {''.join(e.err[-3:]).strip()}")
            # The caller hears the callee's tone and the other way round.
            intact.append(intact_share(os.path.join(work, f"k{k}-caller{i}.wav"), pr["f_callee"],
                                       ended_c.get("stats")))
            intact.append(intact_share(os.path.join(work, f"k{k}-callee{i}.wav"), pr["f_caller"],
                                       ended_e.get("stats")))
        row = {
            "k": k,
            "connected_share": connected / k,
            "setup_median_ms": statistics.median(setups) if setups else float("nan"),
            "setup_p95_ms": pct(setups, 0.95),
            "intact_worst": min(intact),
            "intact_mean": statistics.mean(intact),
            "cpu_s_per_call_minute": statistics.median(cpu_per_min) if cpu_per_min else float("nan"),
            "cpu_cores_all_calls": sum(cpu_per_min) / 60 if cpu_per_min else float("nan"),
            "rss_total_mb": sum(p.peak_rss_mb() for p in callers + callees),
            "rss_max_process_mb": max(p.peak_rss_mb() for p in callers + callees),
            "synapse_cores": hs_cores,
            "setup_stretch_s": setup["seconds"],
            "setup_machine_cores": setup["machine_cores"],
            "setup_synapse_cores": setup["synapse_cores"],
            "setup_caller_cpu_ms": setup["caller_cpu_ms"],
        }
        rows.append(row)
        note(json.dumps(row))
        for f in os.listdir(work):
            if f.startswith(f"k{k}-"):
                os.remove(os.path.join(work, f))

    subprocess.run(["rm", "-rf", work])
    if a.json:
        print(json.dumps({"duration_s": a.duration, "rows": rows}))
        return
    first_drop = next((r["k"] for r in rows if r["intact_worst"] < 0.99 or r["connected_share"] < 1), None)
    print(f"{os.cpu_count()} cores; each call {a.duration} s connected, mxcall↔mxcall legacy calls in "
          f"encrypted DMs through one local Synapse; intact = 20 ms frames with the right tone, "
          f"less concealed ones (both directions of every call)")
    head = ["K calls", "connected", "setup median", "setup p95", "intact (worst call)",
            "intact (mean)", "CPU s/call-min", "CPU cores, all calls", "RSS total",
            "RSS max/process", "Synapse cores"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['k']} | {r['connected_share']:.0%} | {r['setup_median_ms']:.0f} ms | "
              f"{r['setup_p95_ms']:.0f} ms | {r['intact_worst']:.1%} | {r['intact_mean']:.1%} | "
              f"{r['cpu_s_per_call_minute']:.2f} | {r['cpu_cores_all_calls']:.2f} | "
              f"{r['rss_total_mb']:.0f} MB | {r['rss_max_process_mb']:.0f} MB | {r['synapse_cores']:.2f} |")
    print()
    print("While calls were set up (the first caller's start → the last caller's connected):")
    head = ["K calls", "stretch", "machine busy (cores)", "Synapse (cores)",
            "caller CPU to connected (median)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['k']} | {r['setup_stretch_s']:.1f} s | {r['setup_machine_cores']:.2f} | "
              f"{r['setup_synapse_cores']:.2f} | {r['setup_caller_cpu_ms']:.0f} ms |")
    print("quality first below 99%: " + (f"K = {first_drop}" if first_drop else "at none of these K"))


if __name__ == "__main__":
    try:
        main()
    finally:
        for proc in LIVE:
            if proc.code is None:
                proc.p.kill()
