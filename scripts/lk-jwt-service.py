#!/usr/bin/env python3
"""Test stand-in for the MatrixRTC authorisation service (element-hq/lk-jwt-service v0.5.0).

The real service is a Go program whose go.mod names the module `lk-jwt-service`, so the Go module
proxy cannot serve it and `go install` cannot build it; this file re-implements the behaviour of
its v0.5.0 release (main.go) with the Python standard library, for mxcall's tests only:

  POST /get_token  {room_id, slot_id, openid_token: {access_token, token_type, matrix_server_name,
                    expires_in}, member: {id, claimed_user_id, claimed_device_id},
                    delay_id?, delay_timeout?, delay_cs_api_url?}            -> {url, jwt}
  POST /sfu/get    legacy {room, openid_token, device_id} (or the /get_token body)  -> {url, jwt}
  GET  /healthz    200

Both check the OpenID token as the real one does: GET
https://<matrix_server_name>/_matrix/federation/v1/openid/userinfo?access_token=… (server discovery:
IP literal or explicit port -> that address, else .well-known/matrix/server, else port 8448; SRV
records are not looked up), and require the returned `sub` to live on matrix_server_name.
TLS is verified unless LIVEKIT_INSECURE_SKIP_VERIFY_TLS=YES_I_KNOW_WHAT_I_AM_DOING.

The LiveKit JWT (HS256, valid 1 h) carries video: {roomJoin, room, canPublish, canSubscribe}, with
  /get_token:  room = b64(sha256(json([room_id, slot_id]))),
               identity = b64(sha256(json([user_id, claimed_device_id, member.id])))
  /sfu/get:    room = b64(sha256(json([room, "m.call#ROOM"]))), identity = "<user_id>:<device_id>"
(b64 = standard alphabet, unpadded; json as Go's encoding/json writes it). For users of
LIVEKIT_FULL_ACCESS_HOMESERVERS it creates the LiveKit room first (Twirp RoomService/CreateRoom).

Environment (same names as the real service): LIVEKIT_URL, LIVEKIT_KEY / LIVEKIT_KEY_FROM_FILE,
LIVEKIT_SECRET / LIVEKIT_SECRET_FROM_FILE, LIVEKIT_KEY_FILE ("key:secret"), LIVEKIT_JWT_BIND
(host:port, default :8080) or the deprecated LIVEKIT_JWT_PORT, LIVEKIT_FULL_ACCESS_HOMESERVERS
(comma separated, "*" for all; required), LIVEKIT_INSECURE_SKIP_VERIFY_TLS.
"""

import base64
import hashlib
import hmac
import http.client
import http.server
import ipaddress
import json
import os
import socketserver
import ssl
import sys
import time
import urllib.parse

SKIP_VERIFY_VALUE = "YES_I_KNOW_WHAT_I_AM_DOING"


def log(msg):
    sys.stderr.write(time.strftime("%Y/%m/%d %H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


class MatrixError(Exception):
    def __init__(self, status, errcode, error):
        super().__init__(error)
        self.status, self.errcode, self.error = status, errcode, error


# ---- Go compatibility helpers -------------------------------------------------------------------


def go_json(value):
    """json.Marshal of a []string as Go writes it (compact, HTML-safe escapes)."""
    s = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(ch, esc)
    return s


def b64_sha256(value):
    digest = hashlib.sha256(go_json(value).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii").rstrip("=")


def b64url(data):
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


# Struct shapes of main.go; decoding is strict like json.Decoder.DisallowUnknownFields.
OPENID = {"access_token": str, "token_type": str, "matrix_server_name": str, "expires_in": int}
MEMBER = {"id": str, "claimed_user_id": str, "claimed_device_id": str}
LEGACY_REQUEST = {"room": str, "openid_token": OPENID, "device_id": str}
SFU_REQUEST = {"room_id": str, "slot_id": str, "openid_token": OPENID, "member": MEMBER,
               "delay_id": str, "delay_timeout": int, "delay_cs_api_url": str}


def decode_struct(value, shape):
    """Go-like strict decode: unknown fields and wrong types fail, missing fields and null are zero."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError("not an object")
    out = {}
    for key, typ in shape.items():
        v = value.get(key)
        if isinstance(typ, dict):
            out[key] = decode_struct(v, typ)
        elif v is None:
            out[key] = typ()
        elif typ is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise ValueError("field %s: not an integer" % key)
        elif typ is str and not isinstance(v, str):
            raise ValueError("field %s: not a string" % key)
        else:
            out[key] = v
    unknown = set(value) - set(shape)
    if unknown:
        raise ValueError("unknown field %s" % sorted(unknown)[0])
    return out


def validate_sfu(req):
    if not req["room_id"] or not req["slot_id"]:
        raise MatrixError(400, "M_BAD_JSON", "The request body is missing `room_id` or `slot_id`")
    m = req["member"]
    if not m["id"] or not m["claimed_user_id"] or not m["claimed_device_id"]:
        raise MatrixError(400, "M_BAD_JSON",
                          "The request body `member` is missing a `id`, `claimed_user_id` or `claimed_device_id`")
    if not req["openid_token"]["access_token"] or not req["openid_token"]["matrix_server_name"]:
        raise MatrixError(400, "M_BAD_JSON",
                          "The request body `openid_token` is missing a `access_token` or `matrix_server_name`")


def validate_legacy(req):
    if not req["room"]:
        raise MatrixError(400, "M_BAD_JSON", "Missing room parameter")
    if not req["openid_token"]["access_token"] or not req["openid_token"]["matrix_server_name"]:
        raise MatrixError(400, "M_BAD_JSON", "Missing OpenID token parameters")


# ---- Matrix server discovery and the OpenID check ----------------------------------------------


def split_host_port(server_name):
    """(host, port or None) of a Matrix server name; host without IPv6 brackets."""
    if server_name.startswith("["):
        end = server_name.find("]")
        if end < 0:
            raise ValueError("bad server name")
        host, rest = server_name[1:end], server_name[end + 1:]
        return host, (int(rest[1:]) if rest.startswith(":") else None)
    if ":" in server_name:
        host, port = server_name.rsplit(":", 1)
        return host, int(port)
    return server_name, None


def is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class Config:
    def __init__(self):
        self.skip_verify = os.environ.get("LIVEKIT_INSECURE_SKIP_VERIFY_TLS") == SKIP_VERIFY_VALUE
        key, secret = os.environ.get("LIVEKIT_KEY", ""), os.environ.get("LIVEKIT_SECRET", "")
        key_file = os.environ.get("LIVEKIT_KEY_FILE", "")
        if key_file:
            parts = open(key_file).read().split(":")
            if len(parts) != 2:
                sys.exit("invalid key secret file format!")
            key, secret = parts
        else:
            if os.environ.get("LIVEKIT_KEY_FROM_FILE"):
                key = open(os.environ["LIVEKIT_KEY_FROM_FILE"]).read()
            if os.environ.get("LIVEKIT_SECRET_FROM_FILE"):
                secret = open(os.environ["LIVEKIT_SECRET_FROM_FILE"]).read()
        self.key, self.secret = key.strip(" \r\n"), secret.strip(" \r\n")
        self.lk_url = os.environ.get("LIVEKIT_URL", "")
        if not self.key or not self.secret or not self.lk_url:
            sys.exit("LIVEKIT_KEY[_FILE], LIVEKIT_SECRET[_FILE] and LIVEKIT_URL environment variables must be set")
        full = os.environ.get("LIVEKIT_FULL_ACCESS_HOMESERVERS", "")
        if not full:
            sys.exit("LIVEKIT_FULL_ACCESS_HOMESERVERS environment variable must be set")
        self.full_access = full.replace(",", " ").split()
        bind, port = os.environ.get("LIVEKIT_JWT_BIND", ""), os.environ.get("LIVEKIT_JWT_PORT", "")
        if bind and port:
            sys.exit("LIVEKIT_JWT_BIND and LIVEKIT_JWT_PORT environment variables MUST NOT be set together")
        bind = bind or ":" + (port or "8080")
        host, _, p = bind.rpartition(":")
        self.bind = (host.strip("[]") or "0.0.0.0", int(p))

    def is_full_access(self, server_name):
        if self.full_access == ["*"]:
            return True
        return server_name in self.full_access


def tls_context(config):
    ctx = ssl.create_default_context()
    if config.skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def resolve_server(config, server_name):
    """[(connect_host, port, tls_server_name, host_header)] per the Matrix server discovery rules."""
    host, port = split_host_port(server_name)
    if is_ip(host) or port is not None:
        return [(host, port or 8448, host, server_name)]
    try:
        conn = http.client.HTTPSConnection(host, 443, timeout=10, context=tls_context(config))
        conn.request("GET", "/.well-known/matrix/server")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 200:
            delegated = json.loads(body)["m.server"]
            dhost, dport = split_host_port(delegated)
            return [(dhost, dport or 8448, dhost, delegated)]
    except Exception as e:  # noqa: BLE001 - any failure falls through to the default port
        log("well-known lookup for %s failed: %s" % (server_name, e))
    return [(host, 8448, host, server_name)]


def lookup_user_info(config, token):
    server_name = token["matrix_server_name"]
    if config.skip_verify:
        log("!!! WARNING !!! Skipping TLS verification for matrix client connection to %s" % server_name)
    path = "/_matrix/federation/v1/openid/userinfo?" + urllib.parse.urlencode(
        {"access_token": token["access_token"]})
    last = None
    for chost, cport, sni, host_header in resolve_server(config, server_name):
        try:
            ctx = tls_context(config)
            conn = http.client.HTTPSConnection(chost, cport, timeout=10, context=ctx)
            # SNI is the host connected to (none for an IP literal); Host: is the server name.
            conn.request("GET", path, headers={"Host": host_header})
            resp = conn.getresponse()
            body = resp.read()
        except Exception as e:  # noqa: BLE001
            last = e
            continue
        if not 200 <= resp.status < 300:
            raise RuntimeError("HTTP %d : %s" % (resp.status, body.decode("utf-8", "replace")))
        sub = json.loads(body).get("sub", "")
        parts = sub.split(":", 1)
        if len(parts) != 2 or parts[1] != server_name:
            raise RuntimeError("userID doesn't match server name '%s' != '%s'" % (sub, server_name))
        return sub
    raise RuntimeError("no address reachable for %s: %s" % (server_name, last))


# ---- LiveKit ------------------------------------------------------------------------------------


def sign_jwt(config, claims):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = (header + "." + payload).encode("ascii")
    sig = hmac.new(config.secret.encode(), signing_input, hashlib.sha256).digest()
    return header + "." + payload + "." + b64url(sig)


def join_token(config, room, identity):
    now = int(time.time())
    return sign_jwt(config, {
        "iss": config.key, "sub": identity, "exp": now + 3600, "nbf": now, "iat": now,
        "identity": identity,
        "video": {"roomJoin": True, "room": room, "canPublish": True, "canSubscribe": True},
    })


def create_livekit_room(config, room, matrix_user, lk_identity):
    now = int(time.time())
    auth = sign_jwt(config, {"iss": config.key, "exp": now + 600, "nbf": now, "iat": now,
                             "video": {"roomCreate": True}})
    url = urllib.parse.urlsplit(config.lk_url)
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(url.hostname, url.port or (443 if scheme == "https" else 80), timeout=10)
    body = json.dumps({"name": room, "empty_timeout": 5 * 60, "departure_timeout": 20,
                       "max_participants": 0})
    conn.request("POST", url.path.rstrip("/") + "/twirp/livekit.RoomService/CreateRoom", body=body,
                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + auth})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError("unable to create room %s: HTTP %d %s" % (room, resp.status, data[:200]))
    info = json.loads(data)
    created = int(info.get("creation_time") or 0)
    log("%s LiveKit room sid: %s (alias: %s) for full-access Matrix user %s (LiveKit identity: %s)" % (
        "Created" if now <= created <= int(time.time()) else "Using", info.get("sid"), room,
        matrix_user, lk_identity))


def process(config, req, legacy):
    try:
        sub = lookup_user_info(config, req["openid_token"])
    except Exception as e:  # noqa: BLE001
        log("Failed to look up user info: %s" % e)
        if legacy:
            raise MatrixError(500, "M_LOOKUP_FAILED", "Failed to look up user info from homeserver")
        raise MatrixError(401, "M_UNAUTHORIZED", "The request could not be authorised.")
    if legacy:
        identity = sub + ":" + req["device_id"]
        room = b64_sha256([req["room"], "m.call#ROOM"])
    else:
        if req["member"]["claimed_user_id"] != sub:
            log("Claimed user ID %s does not match token subject %s" % (req["member"]["claimed_user_id"], sub))
            raise MatrixError(401, "M_UNAUTHORIZED", "The request could not be authorised.")
        identity = b64_sha256([sub, req["member"]["claimed_device_id"], req["member"]["id"]])
        room = b64_sha256([req["room_id"], req["slot_id"]])
    full = config.is_full_access(req["openid_token"]["matrix_server_name"])
    log("Got Matrix user info for %s (%s)" % (sub, "full access" if full else "restricted access"))
    token = join_token(config, room, identity)
    if full:
        try:
            create_livekit_room(config, room, sub, identity)
        except Exception as e:  # noqa: BLE001
            log("Error creating LiveKit room: %s" % e)
            raise MatrixError(500, "M_UNKNOWN", "Unable to create room on SFU")
    return {"url": config.lk_url, "jwt": token}


def map_sfu_request(body):
    """/sfu/get: the legacy body first, then the /get_token body (as main.go's mapSFURequest)."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    for shape, validate, legacy in ((LEGACY_REQUEST, validate_legacy, True),
                                    (SFU_REQUEST, validate_sfu, False)):
        try:
            req = decode_struct(value, shape) if isinstance(value, dict) else None
        except ValueError:
            req = None
        if req is not None:
            validate(req)
            return req, legacy
    raise MatrixError(400, "M_BAD_JSON",
                      "The request body was malformed, missing required fields, or contained invalid "
                      "values (e.g. missing `room_id`, `slot_id`, or `openid_token`).")


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "lk-jwt-service-standin"
    protocol_version = "HTTP/1.1"
    config = None

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def send_json(self, status, obj, cors=True):
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if cors:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST")
            self.send_header("Access-Control-Allow-Headers",
                             "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_empty(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route(self):
        return urllib.parse.urlsplit(self.path).path

    def do_GET(self):
        path = self.route()
        if path == "/healthz":
            self.send_empty(200)
        elif path in ("/sfu/get", "/get_token"):
            self.send_empty(405)
        else:
            self.send_empty(404)

    do_HEAD = do_GET

    def do_OPTIONS(self):  # CORS preflight
        if self.route() in ("/sfu/get", "/get_token"):
            self.send_empty_cors()
        else:
            self.send_empty(405 if self.route() == "/healthz" else 404)

    def send_empty_cors(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Allow-Headers",
                         "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        path = self.route()
        if path not in ("/sfu/get", "/get_token"):
            self.send_empty(405 if path == "/healthz" else 404)
            return
        log('Request from %s at "%s"' % (self.client_address[0], self.headers.get("Origin", "")))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if path == "/sfu/get":
                req, legacy = map_sfu_request(body)
                log("Processing %sSFU request" % ("legacy " if legacy else ""))
            else:
                try:
                    req = decode_struct(json.loads(body), SFU_REQUEST)
                except ValueError as e:
                    log("Error reading request body: %s" % e)
                    raise MatrixError(400, "M_NOT_JSON", "Error reading request")
                validate_sfu(req)
                legacy = False
                log("Processing SFU request")
            self.send_json(200, process(self.config, req, legacy))
        except MatrixError as e:
            log("Error processing request: %s" % e.error)
            self.send_json(e.status, {"errcode": e.errcode, "error": e.error})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    config = Config()
    if config.skip_verify:
        log("!!! WARNING !!!  LIVEKIT_INSECURE_SKIP_VERIFY_TLS: TLS certificates are not checked")
    log("LIVEKIT_URL: %s, LIVEKIT_JWT_BIND: %s:%d" % (config.lk_url, *config.bind))
    log("LIVEKIT_FULL_ACCESS_HOMESERVERS: %s" % config.full_access)
    Handler.config = config
    Server(config.bind, Handler).serve_forever()


if __name__ == "__main__":
    main()
