#!/usr/bin/env bash
# Smoke test for scripts/synapse.sh: install, start, register two users, log in,
# whoami, create a room, send 50 messages (no 429 allowed), stop.
#   scripts/synapse-selftest.sh [DIR]     (default DIR: a fresh mktemp dir)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SYN="$HERE/synapse.sh"
DIR="${1:-$(mktemp -d /tmp/mxcall-synapse.XXXXXX)}"

lcurl() { curl --noproxy '*' --silent --show-error "$@"; }
jget() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ms() { date +%s%3N; }
fail() { echo "selftest: FAIL: $*" >&2; exit 1; }

t=$(ms); "$SYN" install; echo "selftest: install $(($(ms) - t)) ms" >&2
trap '"$SYN" stop "$DIR"' EXIT
t=$(ms); BASE="$("$SYN" start "$DIR")"; echo "selftest: start $(($(ms) - t)) ms -> $BASE" >&2
[[ "$BASE" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "bad base url '$BASE'"

suffix="$RANDOM$RANDOM"
t=$(ms); A="$("$SYN" register "$BASE" "alice$suffix" pw-alice)"; echo "selftest: register $(($(ms) - t)) ms -> $A" >&2
t=$(ms); B="$("$SYN" register "$BASE" "bob$suffix" pw-bob)"; echo "selftest: register $(($(ms) - t)) ms -> $B" >&2
[[ "$A" == "@alice$suffix:localhost" ]] || fail "user id '$A'"

login="$(lcurl -X POST -H 'Content-Type: application/json' \
    --data "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"alice$suffix\"},\"password\":\"pw-alice\"}" \
    "$BASE/_matrix/client/v3/login")"
TOKEN="$(printf '%s' "$login" | jget access_token)"
who="$(lcurl -H "Authorization: Bearer $TOKEN" "$BASE/_matrix/client/v3/account/whoami" | jget user_id)"
[[ "$who" == "$A" ]] || fail "whoami '$who' != '$A'"

ROOM="$(lcurl -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "{\"invite\":[\"$B\"]}" "$BASE/_matrix/client/v3/createRoom" | jget room_id)"
echo "selftest: room $ROOM" >&2

t=$(ms); bad=0
for i in $(seq 1 50); do
    code="$(lcurl -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data "{\"msgtype\":\"m.text\",\"body\":\"msg $i\"}" \
        "$BASE/_matrix/client/v3/rooms/$ROOM/send/m.room.message/txn$suffix-$i")"
    [[ "$code" == 200 ]] || { echo "selftest: message $i -> HTTP $code" >&2; bad=$((bad + 1)); }
done
echo "selftest: 50 messages in $(($(ms) - t)) ms, $bad failed" >&2
((bad == 0)) || fail "$bad messages failed"

t=$(ms); "$SYN" stop "$DIR"; echo "selftest: stop $(($(ms) - t)) ms" >&2
"$SYN" stop "$DIR"
trap - EXIT
echo "selftest: 1 passed, 0 failed"
