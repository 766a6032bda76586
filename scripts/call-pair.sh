#!/usr/bin/env bash
# One real call between two new accounts, checked as a user would: registers ${PREFIX}alice and
# ${PREFIX}bob (random passwords) on the Synapse at HS, logs both in with MXCALL (profiles under
# WORK), has alice call bob for 5 seconds (alice sends a 440 Hz tone, bob an 880 Hz one), and
# checks that each heard the other's tone and that both exited 0. Used by demo.sh (the debug
# build) and test-package.sh (the installed release build). Exits 1 with what went wrong.
# Usage: call-pair.sh MXCALL HS WORK [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: call-pair.sh MXCALL HS WORK [PREFIX]" >&2; exit 2; }
mxcall=$1 hs=$2 work=$3 prefix=${4:-}
alice=${prefix}alice bob=${prefix}bob
mkdir -p "$work"
export MXCALL_HOME=$work/mxcall

say() { printf '\n== %s\n' "$*" >&2; }

say "registering @$alice and @$bob on $hs and logging in (profiles alice and bob)"
for who in alice bob; do
    user=${prefix}$who
    password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    scripts/synapse.sh register "$hs" "$user" "$password" >/dev/null
    printf '%s\n' "$password" | "$mxcall" --profile "$who" login "@$user:localhost" --homeserver "$hs" --password-stdin
done

say "bob waits for a call; alice calls @$bob:localhost for 5 seconds"
"$mxcall" --profile bob answer --wait 60 --from "@$alice:localhost" --input tone:880 --output null \
    --record "$work/bob-heard.wav" --media-addr 127.0.0.1 &
bob_pid=$!
alice_status=0
"$mxcall" --profile alice call "@$bob:localhost" --duration 5 --input tone:440 --output null \
    --record "$work/alice-heard.wav" --media-addr 127.0.0.1 || alice_status=$?
bob_status=0
wait "$bob_pid" || bob_status=$?

say "what each side heard"
ok=0
printf 'bob   (expects alice'"'"'s 440 Hz): ' >&2
python3 scripts/analyze-wav.py "$work/bob-heard.wav" 440 >&2 || ok=1
printf 'alice (expects bob'"'"'s 880 Hz):   ' >&2
python3 scripts/analyze-wav.py "$work/alice-heard.wav" 880 >&2 || ok=1
echo "exit codes: alice $alice_status, bob $bob_status" >&2
if [ "$ok" -eq 0 ] && [ "$alice_status" -eq 0 ] && [ "$bob_status" -eq 0 ]; then
    echo "call-pair: the call worked both ways" >&2
else
    echo "call-pair: FAILED" >&2
    exit 1
fi
