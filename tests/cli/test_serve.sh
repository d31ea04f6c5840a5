# token serve: the forward-auth endpoint answered directly (curl): 200 with
# the owner, 401/403/400 per RFC 6750, 503 without a database, /healthz,
# /metrics, unix sockets, systemd socket activation, SIGHUP reload, SIGTERM
# drain, and the failures of starting it.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve_common.sh"
trap 'stop_serve; rm -rf "$TMP"' EXIT

run_token 0 init
create_token --owner alice --label web --role api --scope repo/x
GOOD=$TOK GOOD_ID=$TOK_ID
create_token --owner bob --label rev
REV=$TOK REV_ID=$TOK_ID
run_token 0 revoke "$REV_ID"
create_token --owner carol --label old
OLD=$TOK OLD_ID=$TOK_ID
sql "update tokenadm.tokens set expires_at = now() - interval '1 minute' where id = '$OLD_ID'"
create_token --owner dave --label spare
SPARE=$TOK SPARE_ID=$TOK_ID

LOG=$TMP/serve.log
start_serve "$LOG" --listen 127.0.0.1:0
U=http://127.0.0.1:$PORT

# --- good token: 200, the owner and id in headers and body
expect_status 200 "$U/verify" -H @"$(bearer "$GOOD")"
expect_header "^X-Token-Owner: alice"
expect_header "^X-Token-Id: $GOOD_ID"
expect_body "\"owner\":\"alice\""
expect_body "\"address\":\"127.0.0.1\""
# role and scope from the query or from the proxy's headers
expect_status 200 "$U/verify?role=api&scope=repo/x" -H @"$(bearer "$GOOD")"
expect_status 200 "$U/verify" -H @"$(bearer "$GOOD")" -H 'X-Tokenadm-Role: api' -H 'X-Tokenadm-Scope: repo/x'
# HEAD and other methods are checked too (nginx passes the client's method)
expect_status 200 "$U/verify" -I -H @"$(bearer "$GOOD")"
expect_status 200 "$U/verify" -X POST --data 'ignored body' -H @"$(bearer "$GOOD")"

# --- 403 insufficient_scope: wrong role, wrong scope
expect_status 403 "$U/verify?role=feed" -H @"$(bearer "$GOOD")"
expect_header '^WWW-Authenticate: Bearer realm="tokenadm", error="insufficient_scope"'
expect_body '"reason":"forbidden"'
no_header '^X-Token-Owner'
expect_status 403 "$U/verify?scope=repo/y" -H @"$(bearer "$GOOD")"
expect_status 403 "$U/verify" -H @"$(bearer "$GOOD")" -H 'X-Tokenadm-Role: vcs'

# --- 400 invalid_request: unknown role, disagreeing or repeated parameters
expect_status 400 "$U/verify?role=admin" -H @"$(bearer "$GOOD")"
expect_header 'error="invalid_request"'
expect_status 400 "$U/verify?role=api" -H @"$(bearer "$GOOD")" -H 'X-Tokenadm-Role: feed'
expect_status 400 "$U/verify?role=api&role=feed" -H @"$(bearer "$GOOD")"
expect_status 400 "$U/verify" -H @"$(bearer "$GOOD")" -H "Authorization: Bearer $SPARE_ID"

# --- 401: missing (no error code, RFC 6750 3.1), another scheme, malformed,
# bad checksum, unknown, revoked, expired
expect_status 401 "$U/verify"
expect_header '^WWW-Authenticate: Bearer realm="tokenadm"'
no_header 'error='
expect_body '"reason":"missing"'
expect_status 401 "$U/verify" -H 'Authorization: Basic YWxpY2U6cHc='
expect_body '"reason":"missing"'
reason401() {
  expect_status 401 "$U/verify" -H @"$(bearer "$1")"
  expect_header '^WWW-Authenticate: Bearer realm="tokenadm", error="invalid_token"'
  expect_body "\"reason\":\"$2\""
  no_header '^X-Token-Owner'
}
reason401 "not-a-token_" malformed
reason401 "${GOOD%?}$([ "${GOOD: -1}" = A ] && echo B || echo A)" checksum
reason401 "${GOOD%%_*}_AAAAAAAAAA_${GOOD##*_}" checksum
reason401 "$REV" revoked
reason401 "$OLD" expired
unknown=$("$TOKEN" create --owner x 2>/dev/null); remember_secret "$unknown"
sql "delete from tokenadm.tokens where owner = 'x'"
reason401 "$unknown" unknown
# the query form is off by default: the token there is not looked at
expect_status 401 "$U/verify?access_token=$SPARE"
expect_body '"reason":"missing"'

# --- revocation takes effect on the next request (no cache)
expect_status 200 "$U/verify" -H @"$(bearer "$SPARE")"
run_token 0 revoke "$SPARE_ID"
reason401 "$SPARE" revoked

# --- other paths, /healthz, /metrics
expect_status 404 "$U/"
expect_status 404 "$U/verify/x" -H @"$(bearer "$GOOD")"
expect_status 200 "$U/healthz"
expect_body '"status":"ok"'
expect_status 405 "$U/healthz" -X POST
expect_status 200 "$U/metrics"
expect_body '^tokenadm_verify_total\{result="ok"\} [0-9]+$'
expect_body '^tokenadm_verify_total\{result="revoked"\} [0-9]+$'
expect_body '^tokenadm_verify_duration_seconds_bucket\{le="\+Inf"\} [0-9]+$'
expect_body '^tokenadm_db_pool_connections\{state="idle"\} [0-9]+$'
expect_body '^tokenadm_db_reconnects_total [0-9]+$'
expect_body '^tokenadm_http_responses_total\{code="401"\} [0-9]+$'
grep -q '^# TYPE tokenadm_verify_duration_seconds histogram$' "$TMP/body" || fail "no histogram TYPE line"

# --- X-Forwarded-For is ignored from a peer that is not a trusted proxy
expect_status 200 "$U/verify" -H @"$(bearer "$GOOD")" -H 'X-Forwarded-For: 192.0.2.7'
expect_body '"address":"127.0.0.1"'

# --- address ranges are checked against the client address: the peer's
# here (loopback), a trusted proxy's X-Forwarded-For below
create_token --owner erin --label near --allow-from 127.0.0.0/8,::1
NEAR=$TOK
create_token --owner frank --label far --allow-from 192.0.2.0/24
FAR=$TOK
expect_status 200 "$U/verify" -H @"$(bearer "$NEAR")"
expect_header "^X-Token-Owner: erin"
expect_status 403 "$U/verify" -H @"$(bearer "$FAR")"
expect_header 'error="insufficient_scope"'
expect_body '"reason":"address"'
no_header '^X-Token-Owner'
expect_status 403 "$U/verify" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 192.0.2.7'
# a use limit is counted by serve, and then used up
create_token --owner gina --label twice --max-uses 2
TWICE=$TOK TWICE_ID=$TOK_ID
expect_status 200 "$U/verify" -H @"$(bearer "$TWICE")"
expect_status 200 "$U/verify" -H @"$(bearer "$TWICE")"
expect_status 401 "$U/verify" -H @"$(bearer "$TWICE")"
expect_body '"reason":"used-up"'
[ "$(sql "select uses from tokenadm.tokens where id = '$TWICE_ID'")" = 2 ] || fail "serve did not count the uses"

# --- SIGHUP reloads: allow the query token, trust loopback as a proxy, move
# the auth path; a broken file keeps the old configuration
CONF=$TMP/tokenadm.toml
cat >"$CONF" <<TOML
[serve]
auth_path = "/auth"
allow_query_token = true
trusted_proxies = ["127.0.0.0/8", "::1"]
TOML
stop_serve
start_serve "$LOG" --config "$CONF" --listen 127.0.0.1:0
U=http://127.0.0.1:$PORT
expect_status 404 "$U/verify" -H @"$(bearer "$GOOD")"
expect_status 200 "$U/auth?access_token=$GOOD"
expect_status 400 "$U/auth?access_token=$GOOD" -H @"$(bearer "$GOOD")"
expect_status 200 "$U/auth" -H @"$(bearer "$GOOD")" -H 'X-Forwarded-For: 198.51.100.9, 192.0.2.7, 127.0.0.5'
expect_body '"address":"192.0.2.7"'
expect_status 200 "$U/auth" -H @"$(bearer "$GOOD")" -H 'X-Real-IP: 192.0.2.8'
expect_body '"address":"192.0.2.8"'
expect_status 200 "$U/auth" -H @"$(bearer "$GOOD")" -H 'X-Forwarded-For: garbage'
expect_body '"address":null'
expect_status 200 "$U/auth" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 192.0.2.7'
expect_header "^X-Token-Owner: frank"
expect_status 403 "$U/auth" -H @"$(bearer "$FAR")" -H 'X-Real-IP: 198.51.100.1'
expect_body '"reason":"address"'
expect_status 403 "$U/auth" -H @"$(bearer "$NEAR")" -H 'X-Forwarded-For: garbage'
expect_body '"reason":"address"'
# a second X-Forwarded-For line (a proxy that adds its own) is read too
expect_status 403 "$U/auth" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 192.0.2.7' -H 'X-Forwarded-For: 198.51.100.1'
expect_body '"reason":"address"'
expect_status 200 "$U/auth" -H @"$(bearer "$GOOD")" -H 'X-Forwarded-For: 192.0.2.7' -H 'X-Forwarded-For: 198.51.100.1'
expect_body '"address":"198.51.100.1"'
# X-Forwarded-For and X-Real-IP must name the same client, else none
expect_status 403 "$U/auth" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 192.0.2.7' -H 'X-Real-IP: 198.51.100.1'
expect_body '"reason":"address"'
expect_status 200 "$U/auth" -H @"$(bearer "$GOOD")" -H 'X-Forwarded-For: 192.0.2.7' -H 'X-Real-IP: 198.51.100.1'
expect_body '"address":null'
expect_status 200 "$U/auth" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 203.0.113.5, 192.0.2.7' -H 'X-Real-IP: 192.0.2.7'
expect_body '"address":"192.0.2.7"'
printf '[serve]\nauth_path = "/v2"\n' >"$CONF"
kill -HUP "$SERVE_PID"
for _ in $(seq 50); do grep -q 'reloaded' "$LOG" && break; sleep 0.1; done
grep -q 'reloaded the configuration' "$LOG" || { cp "$LOG" "$TMP/err"; fail "SIGHUP did not reload"; }
expect_status 200 "$U/v2" -H @"$(bearer "$GOOD")"
expect_status 404 "$U/auth" -H @"$(bearer "$GOOD")"
expect_status 401 "$U/v2?access_token=$GOOD"
printf '[serve]\nauth_path = "no-slash"\n' >"$CONF"
kill -HUP "$SERVE_PID"
for _ in $(seq 50); do grep -q 'reload failed' "$LOG" && break; sleep 0.1; done
grep -q 'reload failed, the old configuration stays: .*serve.auth_path' "$LOG" || { cp "$LOG" "$TMP/err"; fail "a bad config on SIGHUP was not reported"; }
expect_status 200 "$U/v2" -H @"$(bearer "$GOOD")"
kill -0 "$SERVE_PID" || fail "a bad config on SIGHUP stopped the server"
stop_serve

# --- unix socket, and two listeners at once
SOCK=$TMP/serve.sock
start_serve "$LOG" --listen "unix:$SOCK" --listen 127.0.0.1:0
expect_status 200 "http://localhost/verify" --unix-socket "$SOCK" -H @"$(bearer "$GOOD")"
expect_body '"address":null'
expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
# a second server cannot take a live socket
run_token 2 serve --listen "unix:$SOCK"
expect_one_line_err
expect_err "unix:$SOCK: Address already in use"
# SIGTERM: exit 0, the socket file removed
kill -TERM "$SERVE_PID"
rc=0; wait "$SERVE_PID" || rc=$?
SERVE_PID=
[ "$rc" = 0 ] || { cp "$LOG" "$TMP/err"; fail "SIGTERM: exit $rc, wanted 0"; }
[ ! -e "$SOCK" ] || fail "the unix socket file is left behind"
grep -q '^token: stopped$' "$LOG" || { cp "$LOG" "$TMP/err"; fail "no 'stopped' line"; }

# --- systemd socket activation: the inherited socket is served
if command -v systemd-socket-activate >/dev/null; then
  : >"$LOG"
  SA_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  systemd-socket-activate -E TOKENADM_DSN -l "127.0.0.1:$SA_PORT" "$TOKEN" serve 2>"$LOG" >/dev/null &
  SERVE_PID=$!
  # it starts token serve on the first connection
  for _ in $(seq 50); do grep -q 'Listening on' "$LOG" && break; sleep 0.1; done
  PORT=$SA_PORT
  expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
  grep -q "listening on 127.0.0.1:$SA_PORT (systemd)" "$LOG" || { cp "$LOG" "$TMP/err"; fail "socket activation: no systemd listener"; }
  expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
  stop_serve
else
  echo "skip: systemd-socket-activate is not installed"
fi

# --- SIGTERM drains: a request waiting on the database is answered, then exit 0
start_serve "$LOG" --listen 127.0.0.1:0
U=http://127.0.0.1:$PORT
expect_status 200 "$U/verify" -H @"$(bearer "$GOOD")"   # a pooled connection
"$PGBIN/psql" -X -q -d "$DB" -c "begin; lock table tokenadm.tokens; select pg_sleep(2); commit;" >/dev/null 2>&1 &
LOCK_PID=$!
sleep 0.5
curl -s -o "$TMP/drain.body" -w '%{http_code}' --max-time 20 -H @"$(bearer "$GOOD")" "$U/verify" >"$TMP/drain.code" &
CURL_PID=$!
sleep 0.5
kill -TERM "$SERVE_PID"
sleep 0.3
[ "$(hit "$U/healthz")" = 000 ] || fail "a new connection was accepted after SIGTERM"
wait "$CURL_PID" || true
wait "$LOCK_PID" || true
rc=0; wait "$SERVE_PID" || rc=$?
SERVE_PID=
[ "$(cat "$TMP/drain.code")" = 200 ] || { cp "$LOG" "$TMP/err"; fail "the request in flight at SIGTERM got $(cat "$TMP/drain.code"), wanted 200"; }
[ "$rc" = 0 ] || { cp "$LOG" "$TMP/err"; fail "SIGTERM with a request in flight: exit $rc"; }

# --- no database: 503 (never 200), /healthz 503; schema missing: 503 too
start_serve "$LOG" --dsn "host=$TMP/nowhere port=1 user=x dbname=x" --listen 127.0.0.1:0
U=http://127.0.0.1:$PORT
expect_status 503 "$U/verify" -H @"$(bearer "$GOOD")"
expect_body '"reason":"unavailable"'
expect_header '^Retry-After: 1'
expect_status 503 "$U/healthz"
expect_body '"status":"unavailable"'
# a malformed token needs no database
expect_status 401 "$U/verify" -H @"$(bearer "junk")"
grep -q 'database unavailable' "$LOG" || { cp "$LOG" "$TMP/err"; fail "the lost database was not logged"; }
stop_serve
# --- serve verifies on the verify DSN (--verify-dsn, TOKENADM_VERIFY_DSN,
# verify_dsn) when there is one, not on the main DSN
start_serve "$LOG" --dsn "host=$TMP/nowhere port=1 user=x dbname=x" --verify-dsn "$TOKENADM_DSN" --listen 127.0.0.1:0
expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
expect_header "^X-Token-Owner: alice"
stop_serve
TOKENADM_VERIFY_DSN="host=$TMP/nowhere port=1 user=x dbname=x" start_serve "$LOG" --listen 127.0.0.1:0
expect_status 503 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
expect_body '"reason":"unavailable"'
stop_serve
"$PGBIN/createdb" "${DB}_empty"
start_serve "$LOG" --dsn "host=$PGHOST port=$PGPORT user=$PGUSER dbname=${DB}_empty" --listen 127.0.0.1:0
expect_status 503 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
expect_body '"reason":"schema"'
expect_status 503 "http://127.0.0.1:$PORT/healthz"
expect_body '"status":"schema"'
stop_serve
"$PGBIN/dropdb" "${DB}_empty"

# --- failures to start: exit 2 with one line
run_token 2 serve --listen nonsense
expect_one_line_err
expect_err 'expected HOST:PORT'
run_token 2 serve --listen 127.0.0.1:99999
expect_one_line_err
run_token 2 serve --listen "127.0.0.1:$(( PORT ))" --listen "127.0.0.1:$(( PORT ))"
expect_one_line_err
expect_err 'Address already in use'
printf '[serve]\ntrusted_proxies = ["10.0.0.0/33"]\n' >"$CONF"
run_token 2 --config "$CONF" serve --listen 127.0.0.1:0
expect_one_line_err
expect_err "serve.trusted_proxies: '10.0.0.0/33' is not an address or a CIDR range"
printf '[serve]\nthreads = 0\n' >"$CONF"
run_token 2 --config "$CONF" serve
expect_err 'serve.threads: must be between 1 and 256'
printf '[serve]\nlisten = "x"\n' >"$CONF"
run_token 2 --config "$CONF" serve
expect_err 'serve.listen: expected an array of strings'

# --- the hardened systemd units in scripts/examples parse cleanly
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$TMP/units"
  sed "s|/usr/bin/token|$TOKEN|" "$TOKENADM_SRC/scripts/examples/tokenadm-serve.service" >"$TMP/units/tokenadm-serve.service"
  cp "$TOKENADM_SRC/scripts/examples/tokenadm-serve.socket" "$TMP/units/"
  for key in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes; do
    grep -qx "$key" "$TMP/units/tokenadm-serve.service" || fail "the unit lacks $key"
  done
  (cd "$TMP/units" && systemd-analyze verify --man=no ./tokenadm-serve.socket ./tokenadm-serve.service) >"$TMP/out" 2>"$TMP/err" \
    || fail "systemd-analyze verify failed"
  [ ! -s "$TMP/err" ] || fail "systemd-analyze verify warned"
else
  echo "skip: systemd-analyze is not installed"
fi

# the log never held a token
check_clean "$LOG"
pass
