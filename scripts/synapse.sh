#!/usr/bin/env bash
# Throw-away Synapse homeserver for mxcall's integration tests.
#
#   scripts/synapse.sh install                       # venv + pinned matrix-synapse (idempotent)
#   scripts/synapse.sh start DIR [PORT]              # prints base URL (only stdout line)
#   scripts/synapse.sh stop DIR                      # idempotent
#   scripts/synapse.sh register BASE_URL USER PASS   # prints the full user id
#
# Environment:
#   MXCALL_SYNAPSE_VENV    venv path (default: $REPO/.tmp/synapse-venv)
#   MXCALL_SYNAPSE_PYTHON  interpreter used to create the venv (default: python3, needs >= 3.10)
#   MXCALL_HS_DEFAULT_MESSAGE_LIMIT  1: keep Synapse's default rc_message (0.2/s, burst 10)
#                          instead of raising it with the other limits
#   MXCALL_TURN_URIS       optional, comma/space separated TURN URIs (e.g. turn:127.0.0.1:3478?transport=udp)
#   MXCALL_TURN_SECRET     optional, TURN REST shared secret (both must be set to enable TURN)
#   MXCALL_TURN_USER_LIFETIME  optional, default 1h
#   MXCALL_HS_RTC_SERVICE_URL  optional, the MatrixRTC authorisation service (lk-jwt-service) URL,
#                          e.g. http://127.0.0.1:PORT from `scripts/livekit.sh free-port`; turns on
#                          MatrixRTC (see below). Unset: none of it.
#   MXCALL_HS_RTC_DISCOVERY   with the above: "both" (default) or "well-known": only the
#                          .well-known key advertises the service (no MSC4143 endpoint), as many
#                          deployments do.
#
# The server listens on 127.0.0.1 only, serves the client API only (no federation),
# uses SQLite in DIR and has every rate limit raised far out of reach.
#
# With MXCALL_HS_RTC_SERVICE_URL (for scripts/livekit.sh; docs/matrixrtc-test-setup.md):
#   - MSC4143 (GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports) lists the URL as a
#     livekit transport, and /.well-known/matrix/client carries it as org.matrix.msc4143.rtc_foci;
#     MSC4222 is on (MSC4140 delayed events are on in any case);
#   - a second listener, HTTPS with a throw-away self-signed certificate (made with openssl in DIR),
#     serves only /_matrix/federation/v1/openid/userinfo, where the service checks OpenID tokens;
#   - so that the service finds that listener by Matrix server discovery, the server name becomes
#     "localhost:TLSPORT" (user ids @user:localhost:TLSPORT) instead of "localhost".
#   DIR/server_name holds the server name either way; a restart of DIR keeps it (and the TLS port).
# Needs on a fresh Debian machine: python3, python3-venv, curl (and openssl for MatrixRTC).
set -euo pipefail

SYNAPSE_VERSION="1.163.2"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RTC_SERVICE_URL="${MXCALL_HS_RTC_SERVICE_URL:-}"
RTC_TLS_PORT=""     # the MatrixRTC openid listener's port, picked in do_start
VENV="${MXCALL_SYNAPSE_VENV:-$REPO/.tmp/synapse-venv}"
PYTHON="${MXCALL_SYNAPSE_PYTHON:-python3}"
START_TIMEOUT="${MXCALL_SYNAPSE_START_TIMEOUT:-60}"

log() { printf 'synapse.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# curl that never goes through a proxy (we only ever talk to 127.0.0.1).
lcurl() { curl --noproxy '*' --silent --show-error "$@"; }

# YAML single-quoted scalar.
yq() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }

installed_version() {
    [[ -x "$VENV/bin/python" ]] || return 1
    "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as m
print(m.version("matrix-synapse"))
EOF
}

do_install() {
    local have
    have="$(installed_version || true)"
    if [[ "$have" == "$SYNAPSE_VERSION" ]]; then
        log "matrix-synapse $SYNAPSE_VERSION already installed in $VENV"
        return 0
    fi
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (install python3)"
    mkdir -p "$(dirname "$VENV")"
    # Serialise concurrent installs into the same venv (e.g. parallel tests).
    if command -v flock >/dev/null; then
        exec 9>"$VENV.lock"
        flock 9
        have="$(installed_version || true)"
        if [[ "$have" == "$SYNAPSE_VERSION" ]]; then
            log "matrix-synapse $SYNAPSE_VERSION already installed in $VENV"
            return 0
        fi
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating venv $VENV with $("$PYTHON" --version 2>&1)"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" ||
            die "'$PYTHON -m venv' failed (on Debian: apt-get install -y python3-venv)"
    fi
    log "installing matrix-synapse==$SYNAPSE_VERSION into $VENV (was: ${have:-none})"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        "matrix-synapse==$SYNAPSE_VERSION" >&2
    have="$(installed_version || true)"
    [[ "$have" == "$SYNAPSE_VERSION" ]] || die "install check failed (found '${have:-nothing}')"
    log "installed matrix-synapse $SYNAPSE_VERSION"
}

free_port() {
    "$VENV/bin/python" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# pid of the running Synapse for DIR, or failure.
running_pid() {
    local dir=$1 pid
    [[ -f "$dir/pid" ]] || return 1
    pid="$(cat "$dir/pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'synapse.app.homeserver' || return 1
    printf '%s\n' "$pid"
}

# The self-signed certificate of the MatrixRTC openid listener (kept across restarts of DIR).
make_tls_cert() {
    local dir=$1
    [[ -s "$dir/tls.crt" && -s "$dir/tls.key" ]] && return 0
    command -v openssl >/dev/null || die "openssl not found (needed for MXCALL_HS_RTC_SERVICE_URL)"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
        -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>"$dir/openssl.log" ||
        die "openssl could not make a certificate: $(cat "$dir/openssl.log")"
}

write_config() {
    local dir=$1 port=$2 rl name server_name=localhost rtc_listener=''
    rl='{per_second: 100000, burst_count: 100000}'
    if [[ -n "$RTC_SERVICE_URL" ]]; then
        server_name="localhost:$RTC_TLS_PORT"
        rtc_listener=$'\n'"  # MatrixRTC: lk-jwt-service checks OpenID tokens here (Matrix server discovery of
  # \"$server_name\" leads to https://localhost:$RTC_TLS_PORT).
  - port: $RTC_TLS_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: true
    x_forwarded: false
    resources:
      - names: [openid]
        compress: false"
    fi
    printf '%s\n' "$server_name" >"$dir/server_name"
    cat >"$dir/log.yaml" <<EOF
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: $(yq "$dir/homeserver.log")
    mode: a
    encoding: utf8
loggers:
  synapse.storage.SQL:
    level: INFO
  twisted:
    level: WARNING
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
EOF

    {
        cat <<EOF
# Generated by scripts/synapse.sh -- throw-away test homeserver, do not expose.
server_name: $server_name
public_baseurl: $(yq "http://127.0.0.1:$port/")
report_stats: false
pid_file: $(yq "$dir/homeserver.pid")
log_config: $(yq "$dir/log.yaml")
signing_key_path: $(yq "$dir/localhost.signing.key")
registration_shared_secret_path: $(yq "$dir/registration_shared_secret")
media_store_path: $(yq "$dir/media_store")
database:
  name: sqlite3
  args:
    database: $(yq "$dir/homeserver.db")

listeners:
  - port: $port
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false$rtc_listener

# No federation, no outbound contact.
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
serve_server_wellknown: false
url_preview_enabled: false
enable_metrics: false
presence:
  enabled: false

enable_registration: true
enable_registration_without_verification: true
bcrypt_rounds: 4
# MSC4140 delayed events (used by MatrixRTC); harmless otherwise.
max_event_delay_duration: 24h

EOF
        printf '# Rate limits: all raised out of reach (rc_message: Synapse'"'"'s default with MXCALL_HS_DEFAULT_MESSAGE_LIMIT=1).\n'
        if [[ "${MXCALL_HS_DEFAULT_MESSAGE_LIMIT:-}" != 1 ]]; then
            printf 'rc_message: %s\n' "$rl"
        fi
        for name in rc_registration rc_registration_token_validity \
            rc_joins_per_room rc_key_requests rc_3pid_validation rc_third_party_invite \
            rc_media_create rc_delayed_event_mgmt rc_room_creation rc_reports \
            rc_user_directory rc_profile rc_admin_redaction; do
            printf '%s: %s\n' "$name" "$rl"
        done
        printf 'rc_login:\n  address: %s\n  account: %s\n  failed_attempts: %s\n' "$rl" "$rl" "$rl"
        printf 'rc_joins:\n  local: %s\n  remote: %s\n' "$rl" "$rl"
        printf 'rc_invites:\n  per_room: %s\n  per_user: %s\n  per_issuer: %s\n' "$rl" "$rl" "$rl"
        printf 'rc_presence:\n  per_user: %s\n' "$rl"
        printf 'rc_federation: {window_size: 1000, sleep_limit: 100000, sleep_delay: 1, reject_limit: 100000, concurrent: 100000}\n'

        if [[ -n "${MXCALL_TURN_URIS:-}" && -n "${MXCALL_TURN_SECRET:-}" ]]; then
            local uri
            printf '\nturn_uris:\n'
            for uri in ${MXCALL_TURN_URIS//,/ }; do
                printf '  - %s\n' "$(yq "$uri")"
            done
            printf 'turn_shared_secret: %s\n' "$(yq "$MXCALL_TURN_SECRET")"
            printf 'turn_user_lifetime: %s\n' "$(yq "${MXCALL_TURN_USER_LIFETIME:-1h}")"
            printf 'turn_allow_guests: true\n'
        fi

        if [[ -n "$RTC_SERVICE_URL" ]]; then
            local transport
            transport="{type: livekit, livekit_service_url: $(yq "$RTC_SERVICE_URL")}"
            printf '\n# MatrixRTC (MSC4143 transports, MSC4195 LiveKit focus).\n'
            printf 'tls_certificate_path: %s\n' "$(yq "$dir/tls.crt")"
            printf 'tls_private_key_path: %s\n' "$(yq "$dir/tls.key")"
            if [[ "${MXCALL_HS_RTC_DISCOVERY:-both}" == both ]]; then
                printf 'experimental_features:\n  msc4143_enabled: true\n  msc4222_enabled: true\n'
                printf 'matrix_rtc:\n  transports:\n    - %s\n' "$transport"
            else
                printf 'experimental_features:\n  msc4222_enabled: true\n'
            fi
            printf 'extra_well_known_client_content:\n  org.matrix.msc4143.rtc_foci:\n    - %s\n' "$transport"
        fi
    } >"$dir/homeserver.yaml"
}

# Starts Synapse once on $port; returns 0 when ready, 1 if the process died,
# 2 on timeout.
start_once() {
    local dir=$1 port=$2 pid deadline
    write_config "$dir" "$port"
    printf 'http://127.0.0.1:%s\n' "$port" >"$dir/base_url"
    printf -- '---- synapse.sh start %s (port %s)\n' "$(date -Is)" "$port" >>"$dir/homeserver.log"
    # The default mode generates missing files (signing key, shared secret) and runs.
    # setsid: the server must outlive the calling shell; stdout/stderr catch early errors.
    setsid "$VENV/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" \
        </dev/null >>"$dir/homeserver.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$dir/pid"
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if lcurl --fail --max-time 2 -o /dev/null "http://127.0.0.1:$port/_matrix/client/versions" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 2
}

do_start() {
    local dir=${1:-} port=${2:-} pid rc attempt t0
    [[ -n "$dir" ]] || usage
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if pid="$(running_pid "$dir")"; then
        log "already running (pid $pid) in $dir"
        cat "$dir/base_url"
        return 0
    fi
    [[ "$(installed_version || true)" == "$SYNAPSE_VERSION" ]] ||
        die "matrix-synapse $SYNAPSE_VERSION not installed in $VENV; run: $0 install"
    [[ -z "$port" || "$port" =~ ^[0-9]+$ ]] || die "bad port '$port'"
    local tls_port=''
    if [[ -n "$RTC_SERVICE_URL" ]]; then
        [[ "$RTC_SERVICE_URL" =~ ^https?://[^/]+ ]] ||
            die "MXCALL_HS_RTC_SERVICE_URL must be an http(s) URL, not '$RTC_SERVICE_URL'"
        make_tls_cert "$dir"
        # A restart keeps the server name (Synapse refuses to change it under an existing database).
        if [[ -f "$dir/homeserver.db" && "$(cat "$dir/server_name" 2>/dev/null)" =~ ^localhost:([0-9]+)$ ]]; then
            tls_port=${BASH_REMATCH[1]}
        fi
    fi
    t0=$SECONDS
    for attempt in 1 2 3; do
        local p=$port
        [[ -n "$p" ]] || p="$(free_port)"
        # Something already answering there would fool the readiness probe.
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            [[ -z "$port" ]] || die "port $p on 127.0.0.1 is already in use"
            continue
        fi
        if [[ -n "$RTC_SERVICE_URL" ]]; then
            # Neither port may be the one the (not yet started) service is to listen on.
            [[ "$RTC_SERVICE_URL" != *":$p" && "$RTC_SERVICE_URL" != *":$p/"* ]] || continue
            if [[ -n "$tls_port" ]]; then
                RTC_TLS_PORT=$tls_port
                if (exec 3<>"/dev/tcp/127.0.0.1/$tls_port") 2>/dev/null; then
                    die "port $tls_port on 127.0.0.1 (of server name localhost:$tls_port) is already in use"
                fi
            else
                RTC_TLS_PORT="$(free_port)"
            fi
            [[ "$RTC_TLS_PORT" != "$p" && "$RTC_SERVICE_URL" != *":$RTC_TLS_PORT" &&
                "$RTC_SERVICE_URL" != *":$RTC_TLS_PORT/"* ]] || continue
            log "MatrixRTC: service $RTC_SERVICE_URL, openid listener https://localhost:$RTC_TLS_PORT"
        fi
        log "starting Synapse in $dir on 127.0.0.1:$p"
        rc=0
        start_once "$dir" "$p" || rc=$?
        if ((rc == 0)); then
            log "ready after $((SECONDS - t0)) s"
            cat "$dir/base_url"
            return 0
        fi
        if ((rc == 1)) && [[ -z "$port" || -n "$RTC_SERVICE_URL" ]] && tail -n 50 "$dir/homeserver.log" | grep -q 'Address already in use'; then
            log "port $p taken meanwhile, retrying (attempt $attempt)"
            continue
        fi
        break
    done
    if ((rc == 2)); then
        log "Synapse did not answer within ${START_TIMEOUT}s; log tail:"
    else
        log "Synapse exited during startup; log tail:"
    fi
    tail -n 40 "$dir/homeserver.log" >&2 || true
    do_stop "$dir" 2>/dev/null || true
    exit 1
}

do_stop() {
    local dir=${1:-} pid i
    [[ -n "$dir" ]] || usage
    if ! pid="$(running_pid "$dir")"; then
        rm -f "$dir/pid"
        log "not running ($dir)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 10 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$dir/pid"
    log "stopped (pid $pid)"
}

# Minimal JSON helpers in pure bash (no python start-up cost, no jq dependency).
json_str() {
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case "$c" in
            '"') out+='\"' ;;
            "\\") out+="\\\\" ;;
            $'\n') out+='\n' ;;
            $'\t') out+='\t' ;;
            $'\r') out+='\r' ;;
            *) out+=$c ;;
        esac
    done
    printf '"%s"' "$out"
}
# Value of a top-level string field (Matrix ids and session ids contain no quotes).
json_field() { sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1; }

register_post() { # base body -> sets REG_CODE, REG_BODY
    local resp
    resp="$(lcurl -X POST -H 'Content-Type: application/json' --data "$2" \
        -w '\n%{http_code}' "$1/_matrix/client/v3/register")"
    REG_CODE=${resp##*$'\n'}
    REG_BODY=${resp%$'\n'*}
}

do_register() {
    local base=${1:-} user=${2:-} pass=${3:-} creds session uid
    [[ -n "$base" && -n "$user" && -n "$pass" ]] || usage
    base=${base%/}
    creds="\"username\":$(json_str "$user"),\"password\":$(json_str "$pass"),\"inhibit_login\":true"
    register_post "$base" "{$creds,\"auth\":{\"type\":\"m.login.dummy\"}}"
    if [[ "$REG_CODE" == 401 ]]; then
        # User-interactive auth: complete the dummy stage within the offered session.
        session="$(printf '%s' "$REG_BODY" | json_field session)"
        [[ -n "$session" ]] || die "register $user: 401 without session: $REG_BODY"
        register_post "$base" "{$creds,\"auth\":{\"type\":\"m.login.dummy\",\"session\":$(json_str "$session")}}"
    fi
    [[ "$REG_CODE" == 200 ]] || die "register $user failed: HTTP $REG_CODE $REG_BODY"
    uid="$(printf '%s' "$REG_BODY" | json_field user_id)"
    [[ -n "$uid" ]] || die "register $user: no user_id in $REG_BODY"
    printf '%s\n' "$uid"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
    install) do_install ;;
    start) do_start "$@" ;;
    stop) do_stop "$@" ;;
    register) do_register "$@" ;;
    *) usage ;;
esac
