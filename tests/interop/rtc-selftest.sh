#!/usr/bin/env bash
# Self-test of the Element Call engine peer (rtc-peer.mjs) js <-> js, on the MatrixRTC test backend
# (Synapse in RTC mode, livekit-server, the lk-jwt-service stand-in; see
# docs/matrixrtc-test-setup.md). Two users in an unencrypted room:
#   1. call/answer: alice --mode call --tone-hz 440 --expect 880 --hangup-after 6, bob --mode answer
#      --tone-hz 880 --expect 440: both see the other's membership, both hear the other's tone
#      (dominant within 3 Hz, tone_share >= 0.8), alice's hangup ends bob's call ("remote_left");
#   2. decline: bob --mode decline: alice sees decline_received for her ring and ends ("declined");
#   3. join: alice --mode join (a session without a ring), bob --mode join --hangup-after 4: audio
#      both ways, bob's hangup ends alice's call;
#   4. ignore: alice rings with --ring-lifetime 4, bob --mode ignore: the ring times out on both sides.
# The membership, ring and decline events as Synapse serves them (/messages) are kept in
# DIR/wire-*.json and checked for Element Call's shape.
# With RTC_SELFTEST_E2EE=1 (=only: these alone), Element Call's media E2EE (--e2ee, --e2ee-keyless):
#   5. keyless control: in an unencrypted room alice joins (440 Hz), bob's listener (--mode listen
#      --e2ee-keyless, no membership) hears the tone and its frame tap finds no E2EE trailers;
#   6. e2ee: alice --create-dm bob --mode call --e2ee (Rust crypto, an encrypted DM), bob --auto-join
#      --mode answer --e2ee: keys go to-device Olm-encrypted (m.room.encrypted) and arrive with the
#      hash they were sent with, both publish E2EE tracks and hear each other decrypted; then a
#      keyless listener (bob's third device, no membership, no keys) gets frames that all carry the
#      E2EE trailer and hears no tone; then bob's second device joins with --e2ee (hears alice) and
#      leaves: alice rotates her key (a new index for those left, not sent to the leaver) and the
#      call goes on; SIGUSR1 hangs alice up.
#   tests/interop/rtc-selftest.sh [DIR]   (default DIR: a fresh mktemp dir; removed when it passes)
# Needs: scripts/synapse.sh install, scripts/livekit.sh install, scripts/install-interop.sh.
# MXCALL_SELFTEST_VERBOSE=1 prints the peers' events and the wire events as they are checked.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SYN="$REPO/scripts/synapse.sh"
LK="$REPO/scripts/livekit.sh"
OWN_DIR=""
[[ -n "${1:-}" ]] || OWN_DIR=1
DIR="${1:-$(mktemp -d "${TMPDIR:-/tmp}/mxcall-rtc-peer.XXXXXX")}"
mkdir -p "$DIR"
T0=$(date +%s%3N)

lcurl() { curl --noproxy '*' --silent --show-error "$@"; }
ms() { date +%s%3N; }
say() { echo "rtc-peer-selftest: $*" >&2; }
fail() { say "FAIL: $*"; say "logs in $DIR"; OWN_DIR=""; exit 1; }
verbose() { [[ "${MXCALL_SELFTEST_VERBOSE:-}" == 1 ]]; }
jpath() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
urlq() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# api TOKEN METHOD PATH [JSON] -> body on stdout (fails on a non-2xx status)
api() {
    local out code
    out="$(lcurl -X "$2" -H 'Content-Type: application/json' -H "Authorization: Bearer $1" \
        ${4:+--data "$4"} -w '\n%{http_code}' "$HS/_matrix/client/v3$3")"
    code=${out##*$'\n'}
    [[ "$code" == 2* ]] || fail "$2 $3: HTTP $code ${out%$'\n'*}"
    printf '%s\n' "${out%$'\n'*}"
}

"$SYN" install >/dev/null 2>&1 || fail "scripts/synapse.sh install"
[[ -x "$REPO/.tmp/go-bin/livekit-server-v1.13.5" || -n "${MXCALL_GO_BIN:-}" ]] ||
    say "livekit-server is not built yet: scripts/livekit.sh install takes ~5 min the first time"
"$LK" install >/dev/null || fail "scripts/livekit.sh install"
[[ -d "$HERE/node_modules/livekit-client" ]] || fail "tests/interop/node_modules is not current: run scripts/install-interop.sh"
(cd "$HERE" && node build.mjs) || fail "node build.mjs"

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    "$LK" stop "$DIR/lk" >/dev/null 2>&1 || true
    "$SYN" stop "$DIR/hs" >/dev/null 2>&1 || true
}
trap cleanup EXIT

JWT_PORT="$("$LK" free-port)"
HS="$(MXCALL_HS_RTC_SERVICE_URL="http://127.0.0.1:$JWT_PORT" "$SYN" start "$DIR/hs" 2>"$DIR/synapse-start.log")" ||
    fail "synapse start: $(cat "$DIR/synapse-start.log")"
ENV="$("$LK" start "$DIR/lk" "$HS" 2>"$DIR/livekit-start.log")" || fail "livekit start: $(cat "$DIR/livekit-start.log")"
LK_JWT_URL="$(printf '%s\n' "$ENV" | sed -n 's/^LK_JWT_URL=//p')"
say "backend up in $(($(ms) - T0)) ms: hs $HS, service $LK_JWT_URL"

ALICE="$("$SYN" register "$HS" alice pw-alice 2>/dev/null)"
BOB="$("$SYN" register "$HS" bob pw-bob 2>/dev/null)"
# login NAME DEVICE -> access token (a fresh device per run of a peer, as peer.mjs wants)
login() {
    local body
    body="$(lcurl -X POST -H 'Content-Type: application/json' --data \
        "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"$1\"},\"password\":\"pw-$1\",\"device_id\":\"$2\"}" \
        "$HS/_matrix/client/v3/login")"
    jpath "$body" 'j["access_token"]'
}
ADMIN_A="$(login alice SETUPA)"
ADMIN_B="$(login bob SETUPB)"

# room NAME -> an unencrypted private room of alice with bob joined, where everyone may send call
# memberships (power level 0), as Element Web creates rooms
room() {
    local r
    r="$(jpath "$(api "$ADMIN_A" POST /createRoom "{\"preset\":\"private_chat\",\"is_direct\":true,\"name\":\"$1\",\"invite\":[\"$BOB\"],\"power_level_content_override\":{\"events\":{\"org.matrix.msc3401.call.member\":0}}}")" 'j["room_id"]')"
    api "$ADMIN_B" POST "/join/$(urlq "$r")" '{}' >/dev/null
    printf '%s\n' "$r"
}

# peer NAME USER DEVICE ARGS... : runs rtc-peer.mjs in the background, events in DIR/NAME.jsonl
peer() {
    local name=$1 user=$2 dev=$3 token
    shift 3
    token="$(login "${user%%:*}" "$dev")"
    token_of[$name]=$token
    node "$HERE/rtc-peer.mjs" --hs "$HS" --user "@${user}:$(cat "$DIR/hs/server_name")" --token "$token" \
        --device "$dev" "$@" >"$DIR/$name.jsonl" 2>"$DIR/$name.stderr" &
    pid_of[$name]=$!
    PIDS+=("$!")
}
declare -A token_of pid_of
# wait_event NAME EVENT SECONDS
wait_event() {
    local end=$(($(date +%s) + $3))
    until grep -q "\"event\":\"$2\"" "$DIR/$1.jsonl" 2>/dev/null; do
        [[ $(date +%s) -lt $end ]] || fail "$1: no $2 within $3 s: $(tail -5 "$DIR/$1.jsonl")"
        kill -0 "${pid_of[$1]}" 2>/dev/null || fail "$1 exited before $2: $(tail -5 "$DIR/$1.jsonl") $(tail -5 "$DIR/$1.stderr")"
        sleep 0.2
    done
}
# finish NAME SECONDS: the peer must exit 0 within SECONDS
finish() {
    local end=$(($(date +%s) + $2)) status=0
    while kill -0 "${pid_of[$1]}" 2>/dev/null; do
        [[ $(date +%s) -lt $end ]] || fail "$1 still running after $2 s"
        sleep 0.2
    done
    wait "${pid_of[$1]}" || status=$?
    verbose && sed "s/^/  $1: /" "$DIR/$1.jsonl" >&2
    [[ $status == 0 ]] || fail "$1 exited with $status: $(grep '"error"' "$DIR/$1.jsonl" | head -3) $(tail -3 "$DIR/$1.stderr")"
}
# check NAME PYTHON-EXPR: the expression holds for ev (a dict: event name -> list of events)
check() {
    python3 - "$DIR/$1.jsonl" "$2" "$1" <<'EOF' || fail "$1: $2"
import json, sys
ev = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    ev.setdefault(e["event"], []).append(e)
one = lambda name: ev.get(name, [None])[0]
if not eval(sys.argv[2]):
    print("rtc-peer-selftest: %s: %s does not hold; events: %s" % (sys.argv[3], sys.argv[2],
          sorted((k, len(v)) for k, v in ev.items())), file=sys.stderr)
    sys.exit(1)
EOF
}
# wire ROOM FILE: the room's events as Synapse serves them
wire() {
    api "$ADMIN_A" GET "/rooms/$(urlq "$1")/messages?dir=b&limit=100" >"$2"
}

PASSED=0
if [[ "${RTC_SELFTEST_E2EE:-}" != only ]]; then # scenarios 1-4 (not indented)
# ---- 1. call / answer, audio both ways, hangup ends both -----------------------------------------
t=$(ms)
ROOM1="$(room call-answer)"
peer bob1 bob BOB1 --room "$ROOM1" --mode answer --tone-hz 880 --expect 440 --timeout 90
wait_event bob1 ready 60
peer alice1 alice ALICE1 --room "$ROOM1" --mode call --tone-hz 440 --expect 880 --hangup-after 6 --timeout 90
finish alice1 90
finish bob1 30
say "call/answer: both ended in $(($(ms) - t)) ms"
for who in alice1:bob:440:880 bob1:alice:880:440; do
    IFS=: read -r name other mine theirs <<<"$who"
    check "$name" "any(e['user'].startswith('@$other:') for e in ev['member_joined'])"
    check "$name" "one('sfu_connected') and one('connected')"
    check "$name" "any(e['identity'] and e['identity'].startswith('@$other:') for e in ev['track_subscribed'])"
    check "$name" "abs(one('heard')['dominant_hz'] - $theirs) <= 3 and one('heard')['tone_share'] >= 0.8"
    check "$name" "one('jwt')['endpoint'] == '/sfu/get' and one('rtc_joined')['content']['focus_active']['focus_selection'] == 'multi_sfu'"
    heard="$(grep '"event":"heard"' "$DIR/$name.jsonl")"
    say "  $name heard $(jpath "$heard" '"%s Hz, tone_share %s over %s ms" % (j["dominant_hz"], j["tone_share"], j["heard_ms"])')"
done
check alice1 "one('ring_sent')['content']['notification_type'] == 'ring' and one('ended')['reason'] == 'hangup'"
RING1="$(jpath "$(grep '"event":"ring_sent"' "$DIR/alice1.jsonl")" 'j["notification_id"]')"
check bob1 "one('ring')['sender'].startswith('@alice:') and one('ring')['notification_id'] == '$RING1'"
check bob1 "one('ended')['reason'] == 'remote_left' and one('member_left')['user'].startswith('@alice:')"
check alice1 "one('left')['membership_gone'] and one('delayed_leave')['delay_id']"

# What went over the wire, as Synapse serves it to alice.
wire "$ROOM1" "$DIR/wire-call.json"
python3 - "$DIR/wire-call.json" "$ALICE" "$(verbose && echo 1)" <<'EOF' || fail "wire format of the call (DIR/wire-call.json)"
import json, sys
events = json.load(open(sys.argv[1]))["chunk"][::-1]
alice, show = sys.argv[2], sys.argv[3] == "1"
member = [e for e in events if e["type"] == "org.matrix.msc3401.call.member" and e["sender"] == alice and e["content"]]
ring = [e for e in events if e["type"] == "org.matrix.msc4075.rtc.notification"]
assert member and len(ring) == 1, (len(member), len(ring))
m, r = member[0], ring[0]
assert m["state_key"] == "_%s_ALICE1_m.call" % alice, m["state_key"]
c = m["content"]
assert c["application"] == "m.call" and c["call_id"] == "" and c["device_id"] == "ALICE1", c
assert c["focus_active"] == {"type": "livekit", "focus_selection": "multi_sfu"}, c
assert c["foci_preferred"][0]["type"] == "livekit" and c["foci_preferred"][0]["livekit_alias"], c
assert c["m.call.intent"] == "audio", c
rc = r["content"]
assert rc["notification_type"] == "ring" and rc["m.call.intent"] == "audio", rc
assert rc["m.relates_to"] == {"rel_type": "m.reference", "event_id": m["event_id"]}, (rc, m["event_id"])
assert isinstance(rc["lifetime"], int) and isinstance(rc["sender_ts"], int) and rc["m.mentions"], rc
left = [e for e in events if e["type"] == "org.matrix.msc3401.call.member" and not e["content"]]
assert len(left) >= 2, "no leave events"
if show:
    for e in (m, r):
        print(json.dumps({k: e[k] for k in ("type", "state_key", "sender", "content", "event_id") if k in e}), file=sys.stderr)
EOF
say "  wire: membership (multi_sfu, audio) and ring (m.reference to it) as Element Call sends them"

# ---- 2. decline -----------------------------------------------------------------------------------
t=$(ms)
ROOM2="$(room decline)"
peer bob2 bob BOB2 --room "$ROOM2" --mode decline --timeout 60
wait_event bob2 ready 60
peer alice2 alice ALICE2 --room "$ROOM2" --mode call --tone-hz 440 --timeout 60
finish alice2 60
finish bob2 30
say "decline: both ended in $(($(ms) - t)) ms"
check bob2 "one('declined_sent')['notification_id'] == one('ring')['notification_id'] and one('ended')['reason'] == 'decline_sent'"
check alice2 "one('decline_received')['notification_id'] == one('ring_sent')['notification_id'] and one('ended')['reason'] == 'declined'"
check alice2 "one('left')['membership_gone']"
wire "$ROOM2" "$DIR/wire-decline.json"
python3 - "$DIR/wire-decline.json" "$(verbose && echo 1)" <<'EOF' || fail "wire format of the decline (DIR/wire-decline.json)"
import json, sys
events = json.load(open(sys.argv[1]))["chunk"][::-1]
ring = [e for e in events if e["type"] == "org.matrix.msc4075.rtc.notification"]
decline = [e for e in events if e["type"] == "org.matrix.msc4310.rtc.decline"]
assert len(ring) == 1 and len(decline) == 1, (len(ring), len(decline))
assert decline[0]["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": ring[0]["event_id"]}, decline[0]
if sys.argv[2] == "1":
    e = decline[0]
    print(json.dumps({k: e[k] for k in ("type", "sender", "content", "event_id")}), file=sys.stderr)
EOF

# ---- 3. join: an active session without a ring, the joiner hangs up ---------------------------------
t=$(ms)
ROOM3="$(room join)"
peer alice3 alice ALICE3 --room "$ROOM3" --mode join --tone-hz 440 --expect 880 --timeout 60
wait_event alice3 rtc_joined 60
peer bob3 bob BOB3 --room "$ROOM3" --mode join --tone-hz 880 --expect 440 --hangup-after 4 --timeout 60
finish bob3 60
finish alice3 30
say "join: both ended in $(($(ms) - t)) ms"
check alice3 "'ring_sent' not in ev and one('ended')['reason'] == 'remote_left'"
check bob3 "any(m['user'].startswith('@alice:') for m in one('ready')['members']) and one('ended')['reason'] == 'hangup'"
check alice3 "abs(one('heard')['dominant_hz'] - 880) <= 3 and one('heard')['tone_share'] >= 0.8"
check bob3 "abs(one('heard')['dominant_hz'] - 440) <= 3 and one('heard')['tone_share'] >= 0.8"

# ---- 4. ignore: the ring times out on both sides ----------------------------------------------------
t=$(ms)
ROOM4="$(room ignore)"
peer bob4 bob BOB4 --room "$ROOM4" --mode ignore --timeout 60
wait_event bob4 ready 60
peer alice4 alice ALICE4 --room "$ROOM4" --mode call --ring-lifetime 4 --timeout 60
finish alice4 60
finish bob4 30
say "ignore: both ended in $(($(ms) - t)) ms"
check alice4 "one('ring_sent')['content']['lifetime'] == 4000 and one('ended')['reason'] == 'ring_timeout'"
check bob4 "one('ring')['lifetime'] == 4000 and one('ended')['reason'] in ('ring_timeout', 'caller_left') and 'rtc_join' not in ev"

PASSED=4
fi # scenarios 1-4

if [[ -n "${RTC_SELFTEST_E2EE:-}" ]]; then
# ---- 5. keyless control: a listener on an unencrypted call hears it, its frames have no trailer ----
t=$(ms)
ROOM5="$(room keyless-control)"
peer alice5 alice ALICE5 --room "$ROOM5" --mode join --tone-hz 440 --timeout 90
wait_event alice5 published 60
peer bobL5 bob BOBL5 --room "$ROOM5" --mode listen --e2ee-keyless --expect 440 --hangup-after 4 --timeout 60
finish bobL5 60
kill -USR1 "${pid_of[alice5]}"
finish alice5 30
say "keyless control: both ended in $(($(ms) - t)) ms"
check bobL5 "'rtc_join' not in ev and 'published' not in ev and one('connected')['user'].startswith('@alice:')"
check bobL5 "one('track_subscribed')['encrypted'] is False and one('ended')['reason'] == 'hangup'"
check bobL5 "abs(one('heard')['dominant_hz'] - 440) <= 3 and one('heard')['tone_share'] >= 0.8"
check bobL5 "one('heard')['frames'] >= 100 and one('heard')['e2ee_trailer_share'] < 0.05"
check alice5 "one('ended')['reason'] == 'hangup'"
heard="$(grep '"event":"heard"' "$DIR/bobL5.jsonl")"
say "  bobL5 heard $(jpath "$heard" '"%s Hz, tone_share %s, %s frames, e2ee_trailer_share %s" % (j["dominant_hz"], j["tone_share"], j["frames"], j["e2ee_trailer_share"])')"

# ---- 6. e2ee: an encrypted DM, keys to-device, audio both ways, a keyless listener, rotation -------
t=$(ms)
peer bob6 bob BOB6 --auto-join --mode answer --e2ee --tone-hz 880 --expect 440 --timeout 180
peer alice6 alice ALICE6 --create-dm "$BOB" --mode call --e2ee --tone-hz 440 --expect 880 --timeout 180
wait_event alice6 connected 90
wait_event bob6 connected 60
ROOM6="$(jpath "$(grep -m1 '"event":"room"' "$DIR/alice6.jsonl")" 'j["room_id"]')"
say "e2ee: connected in $(($(ms) - t)) ms (room $ROOM6)"
# The SFU's view: bob's third device, no membership, no keys.
peer bobL6 bob BOBL6 --room "$ROOM6" --mode listen --e2ee-keyless --expect 440 --hangup-after 5 --timeout 60
finish bobL6 60
# A third member with keys: bob's second device joins, hears alice, leaves: the others rotate.
peer bob6b bob BOB6B --room "$ROOM6" --mode join --e2ee --tone-hz 660 --expect 440 --hangup-after 5 --timeout 90
finish bob6b 90
# Alice's new key is used 1 s after it went out (js-sdk's useKeyDelay): some audio under it.
sleep 5
kill -USR1 "${pid_of[alice6]}"
finish alice6 30
finish bob6 30
say "e2ee: all ended in $(($(ms) - t)) ms"
for who in alice6:bob:880 bob6:alice:440; do
    IFS=: read -r name other theirs <<<"$who"
    check "$name" "one('e2ee_enabled') and one('published')['encrypted'] is True"
    check "$name" "any(e['identity'].startswith('@$other:') and e['encrypted'] for e in ev['track_subscribed'])"
    check "$name" "[h for h in ev['heard'] if (h['user'] or '').startswith('@$other:') and h['device'] in ('ALICE6', 'BOB6') and abs(h['dominant_hz'] - $theirs) <= 3 and h['tone_share'] >= 0.7 and h['encrypted'] and h['decrypted']]"
    heard="$(grep '"event":"heard"' "$DIR/$name.jsonl" | grep -E "\"device\":\"(ALICE6|BOB6)\"" | head -1)"
    say "  $name heard $(jpath "$heard" '"%s Hz, tone_share %s, decrypted %s, key indexes %s, %s decryption errors" % (j["dominant_hz"], j["tone_share"], j["decrypted"], j["key_indexes"], j["decryption_errors"])')"
done
check bob6 "one('ended')['reason'] == 'remote_left' and one('joined')['room_id'] == '$ROOM6'"
check alice6 "one('ended')['reason'] == 'hangup' and one('room')['room_id'] == '$ROOM6'"
check bob6b "any((h['user'] or '').startswith('@alice:') and abs(h['dominant_hz'] - 440) <= 3 and h['tone_share'] >= 0.5 and h['decrypted'] for h in ev['heard'])"
check bob6b "one('ended')['reason'] == 'hangup'"
check bobL6 "'e2ee_key_received' not in ev and 'rtc_join' not in ev and one('ended')['reason'] == 'hangup'"
# What went where: keys Olm-encrypted, received as sent, rotated when bob's second device left.
python3 - "$DIR" "$(verbose && echo 1)" <<'EOF' || fail "e2ee keys and the keyless listener (DIR/*6*.jsonl)"
import json, sys
d, show = sys.argv[1], sys.argv[2] == "1"
def load(name):
    out = []
    for line in open("%s/%s.jsonl" % (d, name)):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
def evs(events, name):
    return [e for e in events if e["event"] == name]
alice, bob, bob2, listener = load("alice6"), load("bob6"), load("bob6b"), load("bobL6")
peers = (("alice", alice), ("bob", bob), ("bob2", bob2))
sent = {name: evs(e, "e2ee_key_sent") for name, e in peers}
recv = {name: evs(e, "e2ee_key_received") for name, e in peers}
for who, s in sent.items():
    assert s, "%s sent no key" % who
    for e in s:
        assert e["wire_type"] == "m.room.encrypted" and e["algorithm"] == "m.olm.v1.curve25519-aes-sha2", e
        assert e["key_len"] == 16 and sorted(map(str, e["to"])) == sorted(map(str, e["encrypted_for"])), e
        c = e["content"]
        assert c["session"] == {"call_id": "", "application": "m.call", "scope": "m.room"} and c["member"]["claimed_device_id"], c
for who, r in recv.items():
    assert r, "%s received no key" % who
    for e in r:
        assert e["olm"] and e["key_len"] == 16 and e["used"], e
        assert e["sender_device"] == e["device"], e
# Every key that arrived is one that was sent (same sender device, index and hash).
sent_keys = {(e["content"]["member"]["claimed_device_id"], e["index"], e["key_hash"]) for s in sent.values() for e in s}
for who, r in recv.items():
    for e in r:
        assert (e["device"], e["index"], e["key_hash"]) in sent_keys, ("received a key nobody sent", who, e)
# The listener: every frame of every track E2EE, no tone.
heard = evs(listener, "heard")
assert len(heard) >= 2, heard
for h in heard:
    assert h["encrypted"] is True and h["decrypted"] is False, h
    assert h["frames"] >= 100 and h["e2ee_trailer_share"] >= 0.98, h
    assert h["tone_share"] <= 0.1, h
    assert h["dominant_hz"] is None or min(abs(h["dominant_hz"] - f) for f in (440, 880)) > 5, h
# Rotation: alice's key went to bob's second device, and when it left a new key (a new index and
# hash) went to those left (BOB6), not to it. (js-sdk also rotates as a member itself leaves: alice
# sends one more key to BOB6 as she hangs up, bob6b sent one to the others as it left.)
a = sent["alice"]
to_b2 = [e for e in a if any(t["device"] == "BOB6B" for t in e["to"])]
assert to_b2, ("alice never sent her key to BOB6B", a)
last_b2 = max(a.index(e) for e in to_b2)
after = a[last_b2 + 1:]
assert after and [t["device"] for t in after[0]["to"]] == ["BOB6"], ("no rotation after BOB6B left", a)
rotated = after[0]
assert rotated["index"] not in {e["index"] for e in to_b2}, ("the key after the leave has an index BOB6B had", a)
assert rotated["key_hash"] not in {e["key_hash"] for e in to_b2}, ("the key after the leave is one BOB6B had", a)
# Bob got it and gave it to livekit for alice's identity; alice took it for her own media.
alice_keys = [e for e in evs(bob, "e2ee_key_set") if e["user"].startswith("@alice:")]
assert (rotated["index"], rotated["key_hash"]) in {(e["index"], e["key_hash"]) for e in alice_keys}, (
    "bob never used alice's rotated key", alice_keys)
own = [e for e in evs(alice, "e2ee_key_set") if e["own"]]
assert (rotated["index"], rotated["key_hash"]) in {(e["index"], e["key_hash"]) for e in own}, ("alice never used it", own)
print("rtc-peer-selftest:   alice's keys sent (index, to): %s; BOB6B had %s; bob6 set alice's %s" % (
    [(e["index"], [t["device"] for t in e["to"]]) for e in a], sorted({e["index"] for e in to_b2}),
    sorted({e["index"] for e in alice_keys})), file=sys.stderr)
for h in heard:
    print("rtc-peer-selftest:   listener heard %s: %s frames, trailer share %s, key indexes %s, %s Hz, tone_share %s, loud_share %s" % (
        h["identity"], h["frames"], h["e2ee_trailer_share"], h["key_indexes_seen"], h["dominant_hz"], h["tone_share"],
        h["loud_share"]), file=sys.stderr)
if show:
    print(json.dumps(recv["bob"][0]), file=sys.stderr)
    print(json.dumps(sent["alice"][0]), file=sys.stderr)
EOF
say "  e2ee: keys to-device as m.room.encrypted (Olm), received as sent, rotated on leave; the keyless listener got E2EE frames only and no tone"
PASSED=$((PASSED + 2))
fi

"$LK" stop "$DIR/lk" >/dev/null
"$SYN" stop "$DIR/hs" >/dev/null
trap - EXIT
[[ -z "$OWN_DIR" ]] || rm -rf "$DIR"
say "$PASSED passed, 0 failed in $(($(ms) - T0)) ms"
