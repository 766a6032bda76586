#!/usr/bin/env bash
# A real call, end to end, on this machine: installs what is missing, builds mxcall, starts a
# throw-away Synapse on 127.0.0.1, registers alice and bob, has alice call bob (alice sends a
# 440 Hz tone, bob an 880 Hz one), prints what each side heard, and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*" >&2; }

say "installing system packages (if missing)"
scripts/install-deps.sh
say "installing Synapse (if missing)"
scripts/synapse.sh install
say "building mxcall"
cargo build --locked --quiet
mxcall=$PWD/target/debug/mxcall

work=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-demo.XXXXXX")
cleanup() { scripts/synapse.sh stop "$work/hs" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

say "starting a throw-away Synapse"
hs=$(scripts/synapse.sh start "$work/hs")
export MXCALL_HOME=$work/mxcall

say "registering @alice and @bob on $hs and logging in (profiles alice and bob)"
for who in alice bob; do
    password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    scripts/synapse.sh register "$hs" "$who" "$password" >/dev/null
    printf '%s\n' "$password" | "$mxcall" --profile "$who" login "@$who:localhost" --homeserver "$hs" --password-stdin
done

say "bob waits for a call; alice calls @bob:localhost for 5 seconds"
"$mxcall" --profile bob answer --wait 60 --from @alice:localhost --input tone:880 --output null \
    --record "$work/bob-heard.wav" --media-addr 127.0.0.1 &
bob=$!
alice_status=0
"$mxcall" --profile alice call @bob:localhost --duration 5 --input tone:440 --output null \
    --record "$work/alice-heard.wav" --media-addr 127.0.0.1 || alice_status=$?
bob_status=0
wait "$bob" || bob_status=$?

say "what each side heard"
ok=0
printf 'bob   (expects alice'"'"'s 440 Hz): ' >&2
python3 scripts/analyze-wav.py "$work/bob-heard.wav" 440 >&2 || ok=1
printf 'alice (expects bob'"'"'s 880 Hz):   ' >&2
python3 scripts/analyze-wav.py "$work/alice-heard.wav" 880 >&2 || ok=1
echo "exit codes: alice $alice_status, bob $bob_status" >&2
if [ "$ok" -eq 0 ] && [ "$alice_status" -eq 0 ] && [ "$bob_status" -eq 0 ]; then
    echo "demo: the call worked both ways" >&2
else
    echo "demo: FAILED" >&2
    exit 1
fi
