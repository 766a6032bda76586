#!/usr/bin/env bash
# Throw-away MatrixRTC backend (LiveKit SFU + MatrixRTC authorisation service) for tests.
#
#   scripts/livekit.sh install               # build the pinned livekit-server into .tmp/go-bin (idempotent)
#   scripts/livekit.sh start DIR HS_URL      # start both on free 127.0.0.1 ports; stdout: KEY=VALUE lines
#   scripts/livekit.sh stop DIR              # idempotent
#   scripts/livekit.sh free-port             # a free 127.0.0.1 port, for the service URL given to synapse.sh
#
# Environment:
#   MXCALL_GO_DIR           Go state: GOPATH, GOMODCACHE, GOCACHE (default: $REPO/.tmp/go)
#   MXCALL_GO_BIN           where built binaries go, named by version (default: $REPO/.tmp/go-bin)
#   MXCALL_LK_JWT_PORT      port for the authorisation service (default: the one in the service URL
#                           that HS_URL advertises in /.well-known/matrix/client)
#   MXCALL_LK_FULL_ACCESS_HOMESERVERS  server names allowed to create LiveKit rooms (default: *)
#   MXCALL_PYTHON           interpreter for the service (default: python3; standard library only)
#   MXCALL_LIVEKIT_START_TIMEOUT  seconds (default 60)
#
# `start` prints:
#   LK_JWT_URL=http://127.0.0.1:P       the authorisation service (lk-jwt-service API: /sfu/get, /get_token, /healthz)
#   LIVEKIT_URL=ws://127.0.0.1:P        the SFU's signalling URL (what the service hands out with each JWT)
#   LIVEKIT_KEY=… LIVEKIT_SECRET=…      the API key pair both share (random per start)
#
# livekit-server is built with the machine's Go from the Go module proxy. The authorisation
# service is scripts/lk-jwt-service.py, a stand-in for element-hq/lk-jwt-service (whose Go module
# the proxy does not serve, see docs/matrixrtc-test-setup.md) that speaks the same API, checks the
# OpenID token the same way (federation /openid/userinfo over HTTPS) and mints the same JWTs.
# Everything listens on 127.0.0.1 only; media uses one UDP port on 127.0.0.1; no TURN.
set -euo pipefail

# v1.13.6 and later replace pion's webrtc/dtls/ice with forks (github.com/livekit/webrtc-pion/v4
# v4.2.18-warp.N, ...) that the Go module proxy refuses to serve ("403 This module version is not
# available"), so they cannot be built from the proxy; v1.13.5 (2026-07-31) is the newest without.
LIVEKIT_VERSION="v1.13.5"
LIVEKIT_MODULE="github.com/livekit/livekit-server"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GODIR="${MXCALL_GO_DIR:-$REPO/.tmp/go}"
BIN_DIR="${MXCALL_GO_BIN:-$REPO/.tmp/go-bin}"
LIVEKIT_BIN="$BIN_DIR/livekit-server-$LIVEKIT_VERSION"
JWT_SERVICE="$REPO/scripts/lk-jwt-service.py"
START_TIMEOUT="${MXCALL_LIVEKIT_START_TIMEOUT:-60}"
PY="${MXCALL_PYTHON:-python3}"

log() { printf 'livekit.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

go_env() {
    export GOPATH="$GODIR" GOMODCACHE="$GODIR/pkg/mod" GOCACHE="$GODIR/cache"
    # The machine's Go, never a downloaded toolchain; modules only through the proxy, checked
    # against the checksum database.
    export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false -p=${MXCALL_GO_JOBS:-1}"
}

do_install() {
    if [[ -x "$LIVEKIT_BIN" ]]; then
        log "livekit-server $LIVEKIT_VERSION already built ($LIVEKIT_BIN)"
        return 0
    fi
    command -v go >/dev/null || die "go not found (needs Go >= 1.26)"
    go_env
    mkdir -p "$BIN_DIR"
    if command -v flock >/dev/null; then
        exec 9>"$BIN_DIR/.install.lock"
        flock 9
        [[ -x "$LIVEKIT_BIN" ]] && { log "livekit-server $LIVEKIT_VERSION already built"; return 0; }
    fi
    local t0=$SECONDS dir
    log "downloading $LIVEKIT_MODULE@$LIVEKIT_VERSION ($(go version))"
    dir="$(go mod download -json "$LIVEKIT_MODULE@$LIVEKIT_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [[ -n "$dir" && -f "$dir/go.mod" ]] || die "go mod download $LIVEKIT_MODULE@$LIVEKIT_VERSION failed"
    # Build inside the downloaded (read-only) module: it is then the main module, so its own go.mod
    # and go.sum pin every dependency exactly as upstream tested it (`go install mod@version` does
    # the same, but refuses a go.mod with replace directives, which later versions have).
    log "building livekit-server (nice -n 19, GOFLAGS=$GOFLAGS; a cold build takes minutes)"
    (cd "$dir" && nice -n 19 go build -trimpath -ldflags='-s -w' -o "$LIVEKIT_BIN.part" ./cmd/server) >&2 ||
        die "building livekit-server failed"
    mv -f "$LIVEKIT_BIN.part" "$LIVEKIT_BIN"
    log "built $LIVEKIT_BIN in $((SECONDS - t0)) s"
}

# curl that never goes through a proxy (we only ever talk to 127.0.0.1).
lcurl() { curl --noproxy '*' --silent --show-error "$@"; }

free_port() { # [udp]
    "$PY" - "${1:-tcp}" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PYEOF
}

# pid in FILE if that process still runs with PATTERN in its command line, or failure.
running_pid() {
    local file=$1 pattern=$2 pid
    [[ -f "$file" ]] || return 1
    pid="$(cat "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
    printf '%s\n' "$pid"
}

# The lk-jwt-service URL the homeserver advertises (/.well-known/matrix/client rtc_foci).
advertised_service_url() {
    lcurl --fail --max-time 5 "$1/.well-known/matrix/client" 2>/dev/null | "$PY" -c '
import json, sys
try:
    foci = json.load(sys.stdin).get("org.matrix.msc4143.rtc_foci") or []
except ValueError:
    foci = []
for f in foci:
    if isinstance(f, dict) and f.get("type") == "livekit" and f.get("livekit_service_url"):
        print(f["livekit_service_url"])
        break
'
}

write_livekit_config() {
    local dir=$1 port=$2 udp=$3 key=$4 secret=$5
    (
        umask 077
        cat >"$dir/livekit.yaml" <<EOF
# Generated by scripts/livekit.sh -- throw-away test SFU, do not expose.
port: $port
bind_addresses: ["127.0.0.1"]
keys:
  "$key": "$secret"
rtc:
  # ICE on one UDP port of 127.0.0.1 only: no TCP, no STUN, no external address, no TURN.
  udp_port: $udp
  tcp_port: 0
  use_external_ip: false
  node_ip: 127.0.0.1
  enable_loopback_candidate: true
  ips:
    includes: [127.0.0.1/32]
room:
  # Rooms are made by the authorisation service for full-access users (as in production).
  auto_create: false
turn:
  enabled: false
logging:
  level: info
EOF
    )
}

# Starts both once; returns 0 when both answer, 1 if one died, 2 on timeout.
start_once() {
    local dir=$1 hs=$2 jwt_port=$3 lk_port=$4 udp=$5 key=$6 secret=$7 lk_pid jwt_pid deadline lk_ok='' jwt_ok=''
    write_livekit_config "$dir" "$lk_port" "$udp" "$key" "$secret"
    (
        umask 077
        printf '%s' "$secret" >"$dir/livekit.secret"
    )
    printf -- '---- livekit.sh start %s (port %s, udp %s)\n' "$(date -Is)" "$lk_port" "$udp" >>"$dir/livekit.log"
    # setsid: both must outlive the calling shell.
    setsid "$LIVEKIT_BIN" --config "$dir/livekit.yaml" </dev/null >>"$dir/livekit.log" 2>&1 &
    lk_pid=$!
    printf '%s\n' "$lk_pid" >"$dir/livekit.pid"
    printf -- '---- livekit.sh start %s (port %s, homeserver %s)\n' "$(date -Is)" "$jwt_port" "$hs" >>"$dir/lk-jwt-service.log"
    LIVEKIT_URL="ws://127.0.0.1:$lk_port" LIVEKIT_KEY="$key" LIVEKIT_SECRET_FROM_FILE="$dir/livekit.secret" \
        LIVEKIT_JWT_BIND="127.0.0.1:$jwt_port" \
        LIVEKIT_FULL_ACCESS_HOMESERVERS="${MXCALL_LK_FULL_ACCESS_HOMESERVERS:-*}" \
        LIVEKIT_INSECURE_SKIP_VERIFY_TLS=YES_I_KNOW_WHAT_I_AM_DOING \
        setsid "$PY" "$JWT_SERVICE" </dev/null >>"$dir/lk-jwt-service.log" 2>&1 &
    jwt_pid=$!
    printf '%s\n' "$jwt_pid" >"$dir/lk-jwt-service.pid"
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        kill -0 "$lk_pid" 2>/dev/null || return 1
        kill -0 "$jwt_pid" 2>/dev/null || return 1
        [[ -n "$lk_ok" ]] || { lcurl --fail --max-time 2 -o /dev/null "http://127.0.0.1:$lk_port/" 2>/dev/null && lk_ok=1; }
        [[ -n "$jwt_ok" ]] || { lcurl --fail --max-time 2 -o /dev/null "http://127.0.0.1:$jwt_port/healthz" 2>/dev/null && jwt_ok=1; }
        [[ -n "$lk_ok" && -n "$jwt_ok" ]] && return 0
        sleep 0.2
    done
    return 2
}

do_start() {
    local dir=${1:-} hs=${2:-} url jwt_port lk_port udp key secret rc=0 attempt t0
    [[ -n "$dir" && -n "$hs" ]] || usage
    hs=${hs%/}
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if running_pid "$dir/livekit.pid" "$LIVEKIT_BIN" >/dev/null &&
        running_pid "$dir/lk-jwt-service.pid" "$JWT_SERVICE" >/dev/null; then
        log "already running in $dir"
        cat "$dir/env"
        return 0
    fi
    do_stop "$dir" 2>/dev/null || true
    [[ -x "$LIVEKIT_BIN" ]] || die "livekit-server $LIVEKIT_VERSION not built; run: $0 install"
    lcurl --fail --max-time 5 -o /dev/null "$hs/_matrix/client/versions" 2>/dev/null ||
        die "no homeserver answers at $hs"
    # The homeserver's configuration names the service URL (synapse.sh with
    # MXCALL_HS_RTC_SERVICE_URL), so the service's port is taken from there.
    jwt_port="${MXCALL_LK_JWT_PORT:-}"
    if [[ -z "$jwt_port" ]]; then
        url="$(advertised_service_url "$hs")"
        [[ -n "$url" ]] ||
            die "$hs advertises no livekit rtc_foci in /.well-known/matrix/client; start it with MXCALL_HS_RTC_SERVICE_URL=http://127.0.0.1:PORT (PORT from '$0 free-port'), or set MXCALL_LK_JWT_PORT"
        [[ "$url" =~ ^http://(127\.0\.0\.1|localhost):([0-9]+)/?$ ]] ||
            die "the advertised service URL $url is not http://127.0.0.1:PORT"
        jwt_port=${BASH_REMATCH[2]}
    fi
    [[ "$jwt_port" =~ ^[0-9]+$ ]] || die "bad service port '$jwt_port'"
    if (exec 3<>"/dev/tcp/127.0.0.1/$jwt_port") 2>/dev/null; then
        die "port $jwt_port on 127.0.0.1 (the service's) is already in use"
    fi
    key="mxcall-test"
    secret="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" # 48 characters (livekit wants >= 32)
    t0=$SECONDS
    for attempt in 1 2 3; do
        lk_port="$(free_port)"
        udp="$(free_port udp)"
        [[ "$lk_port" != "$jwt_port" ]] || continue
        log "starting livekit-server $LIVEKIT_VERSION on 127.0.0.1:$lk_port (udp $udp), the service on 127.0.0.1:$jwt_port"
        rc=0
        start_once "$dir" "$hs" "$jwt_port" "$lk_port" "$udp" "$key" "$secret" || rc=$?
        if ((rc == 0)); then
            (
                umask 077 # the file holds the secret
                printf 'LK_JWT_URL=http://127.0.0.1:%s\nLIVEKIT_URL=ws://127.0.0.1:%s\nLIVEKIT_KEY=%s\nLIVEKIT_SECRET=%s\n' \
                    "$jwt_port" "$lk_port" "$key" "$secret" >"$dir/env"
            )
            log "ready after $((SECONDS - t0)) s (logs: $dir/livekit.log, $dir/lk-jwt-service.log)"
            cat "$dir/env"
            return 0
        fi
        do_stop "$dir" 2>/dev/null || true
        if ((rc == 1)) && tail -n 30 "$dir/livekit.log" | grep -qi 'address already in use'; then
            log "a port was taken meanwhile, retrying (attempt $attempt)"
            continue
        fi
        break
    done
    if ((rc == 2)); then
        log "no answer within ${START_TIMEOUT}s; log tails:"
    else
        log "a process exited during startup; log tails:"
    fi
    tail -n 20 "$dir/livekit.log" "$dir/lk-jwt-service.log" >&2 || true
    do_stop "$dir" 2>/dev/null || true
    exit 1
}

stop_one() {
    local file=$1 pattern=$2 name=$3 pid i
    if ! pid="$(running_pid "$file" "$pattern")"; then
        rm -f "$file"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    log "stopped $name (pid $pid)"
}

do_stop() {
    local dir=${1:-}
    [[ -n "$dir" ]] || usage
    if [[ ! -d "$dir" ]]; then
        log "not running ($dir)"
        return 0
    fi
    stop_one "$dir/lk-jwt-service.pid" "$JWT_SERVICE" lk-jwt-service
    stop_one "$dir/livekit.pid" "$LIVEKIT_BIN" livekit-server
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
    install) do_install ;;
    start) do_start "$@" ;;
    stop) do_stop "$@" ;;
    free-port) free_port ;;
    *) usage ;;
esac
