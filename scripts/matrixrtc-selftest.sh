#!/usr/bin/env bash
# Smoke test for the MatrixRTC test backend (scripts/livekit.sh + synapse.sh's RTC opt-in), with
# curl and python3 only: Synapse advertises the LiveKit transport (MSC4143 /rtc/transports and
# .well-known rtc_foci), an OpenID token buys a LiveKit JWT from the authorisation service
# (/sfu/get and /get_token), delayed events (MSC4140) work, and livekit-server accepts the JWT on
# its signalling websocket and answers with a SignalResponse{join} for the JWT's room and identity.
#   scripts/matrixrtc-selftest.sh [DIR]     (default DIR: a fresh mktemp dir; removed when it passes)
# MXCALL_SELFTEST_VERBOSE=1 prints each request and response (tokens redacted).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SYN="$HERE/synapse.sh"
LK="$HERE/livekit.sh"
OWN_DIR=""
[[ -n "${1:-}" ]] || OWN_DIR=1
DIR="${1:-$(mktemp -d "${TMPDIR:-/tmp}/mxcall-rtc.XXXXXX")}"
mkdir -p "$DIR"

lcurl() { curl --noproxy '*' --silent --show-error "$@"; }
ms() { date +%s%3N; }
say() { echo "rtc-selftest: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
# jq-like: jpath JSON 'python expression on j'
jpath() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
redact() { sed -E 's/("(access_token|jwt)":")[^"]*/\1<redacted>/g'; }
show() { [[ "${MXCALL_SELFTEST_VERBOSE:-}" != 1 ]] || printf '%s\n' "$*" | redact >&2; }
urlq() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# req METHOD URL [JSON]: sets BODY and CODE (with $TOKEN as the access token when set).
req() {
    local out
    out="$(lcurl -X "$1" -H 'Content-Type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} \
        ${3:+--data "$3"} -w '\n%{http_code}' "$2")"
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
    show "> $1 ${2#http://127.0.0.1:*/} ${3:-}" "< $CODE $BODY"
}

t=$(ms); "$SYN" install; "$LK" install; say "install $(($(ms) - t)) ms"
cleanup() { "$LK" stop "$DIR/lk" || true; "$SYN" stop "$DIR/hs" || true; }
trap cleanup EXIT

# Ports first: the homeserver's config names the service URL, the service needs the homeserver.
JWT_PORT="$("$LK" free-port)"
t=$(ms)
HS="$(MXCALL_HS_RTC_SERVICE_URL="http://127.0.0.1:$JWT_PORT" "$SYN" start "$DIR/hs")"
SERVER_NAME="$(cat "$DIR/hs/server_name")"
say "synapse $(($(ms) - t)) ms -> $HS (server name $SERVER_NAME)"
t=$(ms)
ENV="$("$LK" start "$DIR/lk" "$HS")"
say "livekit $(($(ms) - t)) ms -> $(printf '%s' "$ENV" | grep -v SECRET | tr '\n' ' ')"
LK_JWT_URL="$(printf '%s\n' "$ENV" | sed -n 's/^LK_JWT_URL=//p')"
LIVEKIT_URL="$(printf '%s\n' "$ENV" | sed -n 's/^LIVEKIT_URL=//p')"
[[ "$LK_JWT_URL" == "http://127.0.0.1:$JWT_PORT" ]] || fail "LK_JWT_URL '$LK_JWT_URL'"
[[ "$LIVEKIT_URL" =~ ^ws://127\.0\.0\.1:[0-9]+$ ]] || fail "LIVEKIT_URL '$LIVEKIT_URL'"

USER_ID="$("$SYN" register "$HS" alice pw-alice)"
[[ "$USER_ID" == "@alice:$SERVER_NAME" ]] || fail "user id '$USER_ID'"
TOKEN=""
req POST "$HS/_matrix/client/v3/login" \
    '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"pw-alice","device_id":"DEVA"}'
login="$BODY"
TOKEN="$(jpath "$login" 'j["access_token"]')"

# Discovery of the transport, both ways.
req GET "$HS/_matrix/client/unstable/org.matrix.msc4143/rtc/transports"
transports="$BODY"
[[ "$(jpath "$transports" 'j["rtc_transports"][0]["livekit_service_url"]')" == "$LK_JWT_URL" ]] ||
    fail "rtc/transports: $transports"
req GET "$HS/.well-known/matrix/client"
wk="$BODY"
[[ "$(jpath "$wk" 'j["org.matrix.msc4143.rtc_foci"][0]["livekit_service_url"]')" == "$LK_JWT_URL" ]] ||
    fail ".well-known: $wk"
say "transport advertised: rtc/transports and .well-known rtc_foci -> $LK_JWT_URL"

req POST "$HS/_matrix/client/v3/createRoom" '{}'
ROOM="$(jpath "$BODY" 'j["room_id"]')"

# MSC4140: the call membership plus its delayed leave event, as MatrixRTC clients send them.
STATE_URL="$HS/_matrix/client/v3/rooms/$(urlq "$ROOM")/state/org.matrix.msc3401.call.member/$(urlq "_${USER_ID}_DEVA_m.call")"
member="{\"application\":\"m.call\",\"call_id\":\"\",\"scope\":\"m.room\",\"device_id\":\"DEVA\",\"expires\":14400000,\"focus_active\":{\"type\":\"livekit\",\"focus_selection\":\"oldest_membership\"},\"foci_preferred\":[{\"type\":\"livekit\",\"livekit_service_url\":\"$LK_JWT_URL\",\"livekit_alias\":\"$ROOM\"}]}"
req PUT "$STATE_URL?org.matrix.msc4140.delay=8000" '{}'
delayed="$BODY"
[[ "$CODE" == 200 ]] || fail "delayed state event: HTTP $CODE $delayed"
DELAY_ID="$(jpath "$delayed" 'j["delay_id"]')"
req PUT "$STATE_URL" "$member"
[[ "$CODE" == 200 ]] || fail "membership state event: HTTP $CODE"
req GET "$HS/_matrix/client/unstable/org.matrix.msc4140/delayed_events"
listed="$BODY"
[[ "$(jpath "$listed" '[d["delay_id"] for d in j["delayed_events"]]')" == "['$DELAY_ID']" ]] || fail "delayed_events: $listed"
req POST "$HS/_matrix/client/unstable/org.matrix.msc4140/delayed_events/$DELAY_ID/restart" '{}'
[[ "$CODE" == 200 ]] || fail "restart delayed event: HTTP $CODE"
say "delayed event $DELAY_ID scheduled (8 s), listed, restarted"

# The OpenID token, then a LiveKit JWT from both endpoints.
req POST "$HS/_matrix/client/v3/user/$(urlq "$USER_ID")/openid/request_token" '{}'
openid="$BODY"
[[ "$(jpath "$openid" 'j["matrix_server_name"]')" == "$SERVER_NAME" ]] || fail "openid: $openid"
TOKEN=""
decode_jwt() { python3 -c '
import base64, json, sys
p = sys.argv[1].split(".")[1]
print(json.dumps(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))))' "$1"; }

req POST "$LK_JWT_URL/sfu/get" "{\"room\":\"$ROOM\",\"openid_token\":$openid,\"device_id\":\"DEVA\"}"

legacy="$BODY"
[[ "$CODE" == 200 ]] || fail "/sfu/get: HTTP $CODE $legacy"
[[ "$(jpath "$legacy" 'j["url"]')" == "$LIVEKIT_URL" ]] || fail "/sfu/get url: $legacy"
LEGACY_JWT="$(jpath "$legacy" 'j["jwt"]')"
claims="$(decode_jwt "$LEGACY_JWT")"
show "  /sfu/get JWT payload: $claims"
[[ "$(jpath "$claims" 'j["sub"]')" == "$USER_ID:DEVA" ]] || fail "/sfu/get identity: $claims"
expected_room="$(python3 -c 'import base64,hashlib,json,sys; print(base64.b64encode(hashlib.sha256(json.dumps([sys.argv[1],"m.call#ROOM"],separators=(",",":")).encode()).digest()).decode().rstrip("="))' "$ROOM")"
[[ "$(jpath "$claims" 'j["video"]["room"]')" == "$expected_room" ]] || fail "/sfu/get room: $claims"
say "/sfu/get -> LiveKit room $expected_room, identity $USER_ID:DEVA"

body="{\"room_id\":\"$ROOM\",\"slot_id\":\"m.call#ROOM\",\"openid_token\":$openid,\"member\":{\"id\":\"member-1\",\"claimed_user_id\":\"$USER_ID\",\"claimed_device_id\":\"DEVA\"}}"
req POST "$LK_JWT_URL/get_token" "$body"
modern="$BODY"
[[ "$CODE" == 200 ]] || fail "/get_token: HTTP $CODE $modern"
JWT="$(jpath "$modern" 'j["jwt"]')"
claims="$(decode_jwt "$JWT")"
show "  /get_token JWT payload: $claims"
[[ "$(jpath "$claims" 'j["video"]["room"]')" == "$expected_room" ]] || fail "/get_token room: $claims"
IDENTITY="$(jpath "$claims" 'j["sub"]')"
say "/get_token -> LiveKit room $expected_room, identity $IDENTITY"

req POST "$LK_JWT_URL/get_token" "{\"room_id\":\"$ROOM\",\"slot_id\":\"m.call#ROOM\",\"openid_token\":$openid,\"member\":{\"id\":\"member-1\",\"claimed_user_id\":\"@mallory:$SERVER_NAME\",\"claimed_device_id\":\"DEVA\"}}"

bad="$BODY"
[[ "$CODE" == 401 ]] || fail "/get_token with a foreign claimed_user_id: HTTP $CODE $bad"
req POST "$LK_JWT_URL/sfu/get" "{\"room\":\"$ROOM\",\"openid_token\":{\"access_token\":\"forged\",\"matrix_server_name\":\"$SERVER_NAME\"},\"device_id\":\"D\"}"
bad="$BODY"
[[ "$CODE" == 500 ]] || fail "/sfu/get with a forged token: HTTP $CODE $bad"

# livekit-server: the token validates, and the signalling websocket answers with join.
v="$(lcurl -w ' %{http_code}' "${LIVEKIT_URL/ws:/http:}/rtc/validate?access_token=$JWT")"
[[ "$v" == *" 200" ]] || fail "/rtc/validate: $v"
probe="$(python3 - "$LIVEKIT_URL" "$JWT" <<'EOF'
# A minimal RFC 6455 client: handshake, then the first frame, decoded as a SignalResponse.
import base64, os, socket, sys, urllib.parse
url, jwt = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2]
s = socket.create_connection((url.hostname, url.port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
path = "/rtc?" + urllib.parse.urlencode({"access_token": jwt, "protocol": "16", "sdk": "js",
                                         "version": "2.9.0", "auto_subscribe": "1"})
s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, url.netloc, key)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("connection closed during the handshake: %r" % buf)
    buf += chunk
head, buf = buf.split(b"\r\n\r\n", 1)
status = head.split(b"\r\n")[0].decode()
if " 101 " not in status + " ":
    sys.exit("handshake: %s" % head.decode(errors="replace"))
def need(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("closed")
        buf += chunk
    out, buf = buf[:n], buf[n:]
    return out
b0, b1 = need(2)
opcode, n = b0 & 0x0F, b1 & 0x7F
if n == 126:
    n = int.from_bytes(need(2), "big")
elif n == 127:
    n = int.from_bytes(need(8), "big")
payload = need(n)
def fields(msg):
    """protobuf wire format -> {field number: [raw values]}"""
    out, i = {}, 0
    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = msg[i]; i += 1
            v |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                return v
    while i < len(msg):
        tag = varint(); num, wt = tag >> 3, tag & 7
        if wt == 0: val = varint()
        elif wt == 1: val = msg[i:i + 8]; i += 8
        elif wt == 5: val = msg[i:i + 4]; i += 4
        elif wt == 2:
            ln = varint(); val = msg[i:i + ln]; i += ln
        else: raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out
join = fields(fields(payload)[1][0])            # SignalResponse.join (field 1)
room = fields(join[1][0])                         # JoinResponse.room: Room{sid=1, name=2}
me = fields(join[2][0])                           # JoinResponse.participant: ParticipantInfo{sid=1, identity=2}
server = fields(join[12][0]) if 12 in join else {}  # JoinResponse.server_info: ServerInfo{version=2}
print("opcode=%d bytes=%d room=%s room_sid=%s identity=%s server_version=%s" % (
    opcode, n, room[2][0].decode(), room[1][0].decode(), me[2][0].decode(),
    server.get(2, [b"?"])[0].decode()))
s.sendall(bytes([0x88, 0x80]) + os.urandom(4))      # masked close frame
s.close()
EOF
)" || fail "websocket: $probe"
say "websocket $LIVEKIT_URL/rtc: $probe"
[[ "$probe" == "opcode=2 "* ]] || fail "first frame is not binary: $probe"
[[ "$probe" == *" room=$expected_room "* ]] || fail "join is for another room: $probe"
[[ "$probe" == *" identity=$IDENTITY "* ]] || fail "join has another identity: $probe"

# The delayed leave event fires when nobody restarts it (it was restarted ~now: wait up to 12 s).
TOKEN="$(jpath "$login" 'j["access_token"]')"
t=$(ms)
for _ in $(seq 1 60); do
    MXCALL_SELFTEST_VERBOSE='' req GET "$STATE_URL"
    state="$BODY"
    [[ "$state" == "{}" ]] && break
    sleep 0.2
done
[[ "$state" == "{}" ]] || fail "delayed leave event did not replace the membership: $state"
say "delayed leave event fired (membership now {}) after $(($(ms) - t)) ms of waiting"

"$LK" stop "$DIR/lk"
"$SYN" stop "$DIR/hs"
trap - EXIT
[[ -z "$OWN_DIR" ]] || rm -rf "$DIR"
echo "rtc-selftest: 1 passed, 0 failed"
