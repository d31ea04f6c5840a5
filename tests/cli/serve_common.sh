# Shared by the test_serve*.sh suites: start `token serve` on a free
# loopback port (it reports the port it got), and ask it things with curl.
# Tokens go to curl in a 0600 header file, never in its argv.

SERVE_PID=
stop_serve() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=
  fi
}

# start_serve LOG ARGS...: token serve ARGS in the background, stderr to
# LOG; waits for it to listen and sets PORT (for a 127.0.0.1:0 listener).
start_serve() {
  local log=$1
  shift
  : >"$log"
  "$TOKEN" serve "$@" 2>"$log" &
  SERVE_PID=$!
  local _
  for _ in $(seq 100); do
    grep -q 'listening on' "$log" && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cp "$log" "$TMP/err"; SERVE_PID=; fail "token serve $* did not start"; }
    sleep 0.1
  done
  grep -q 'listening on' "$log" || { cp "$log" "$TMP/err"; fail "token serve $* is not listening"; }
  PORT=$(sed -n 's/^token: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
}

# bearer TOKEN: the header file for curl -H @FILE
bearer() {
  umask 077
  printf 'Authorization: Bearer %s\n' "$1" >"$TMP/auth.hdr"
  echo "$TMP/auth.hdr"
}

# hit URL [CURL ARGS...]: the status code on stdout; headers in $TMP/hdr,
# body in $TMP/body.
hit() {
  local url=$1
  shift
  curl -s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' --max-time 20 "$@" "$url" || true
}

# expect_status WANT URL [CURL ARGS...]
expect_status() {
  local want=$1 got
  shift
  got=$(hit "$@")
  [ "$got" = "$want" ] || { cp "$TMP/body" "$TMP/out"; cp "$TMP/hdr" "$TMP/err"; fail "$1 answered $got, wanted $want"; }
  check_clean "$TMP/body" "$TMP/hdr"
}
expect_header() { grep -qiE -- "$1" "$TMP/hdr" || { cp "$TMP/hdr" "$TMP/err"; fail "no header matching /$1/"; }; }
no_header() { ! grep -qiE -- "$1" "$TMP/hdr" || { cp "$TMP/hdr" "$TMP/err"; fail "a header matches /$1/"; }; }
expect_body() { grep -qE -- "$1" "$TMP/body" || { cp "$TMP/body" "$TMP/out"; fail "body does not match /$1/"; }; }
