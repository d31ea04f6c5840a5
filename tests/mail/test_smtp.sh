#!/usr/bin/env bash
# send_mail() against a real SMTP server (tests/mail/smtp_server.py on
# Debian's aiosmtpd): plain, STARTTLS, implicit TLS, AUTH, failures, and no
# smtp_server at all. Driven through tests/mail/mailtool ($MAILTOOL).
set -euo pipefail

: "${MAILTOOL:?MAILTOOL must point at the mailtool binary}"
: "${TOKENADM_SRC:?TOKENADM_SRC must point at the source tree}"
SERVER=$TOKENADM_SRC/tests/mail/smtp_server.py
PY=/usr/bin/python3 # Debian's, which sees python3-aiosmtpd

if ! "$PY" -c 'import aiosmtpd' 2>/dev/null || ! command -v openssl >/dev/null; then
  echo "SKIP: needs python3-aiosmtpd and openssl" >&2
  exit 77
fi

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL ($(basename "$0"):${BASH_LINENO[${#BASH_LINENO[@]} - 2]:-?}): $*" >&2
  echo "--- stdout:" >&2; cat "$TMP/out" >&2 2>/dev/null || true
  echo "--- stderr:" >&2; cat "$TMP/err" >&2 2>/dev/null || true
  exit 1
}

# start_server NAME ARGS...: starts smtp_server.py with its maildir in
# $TMP/NAME; sets PORT and LAST_PID.
start_server() {
  local name=$1 i
  shift
  "$PY" "$SERVER" --port 0 --maildir "$TMP/$name" "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  for i in $(seq 100); do
    if grep -q '^ready ' "$TMP/$name.out" 2>/dev/null; then
      PORT=$(awk '/^ready /{print $2}' "$TMP/$name.out")
      return 0
    fi
    kill -0 "$LAST_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/$name.log" >&2
  fail "smtp_server.py $name did not start"
}

stop_server() {
  kill "$1"
  wait "$1" 2>/dev/null || true
}

# config FILE: the TOML on stdin, mode 0600 (it may hold a password).
config() {
  cat >"$1"
  chmod 600 "$1"
}

# send WANT CONFIG TO SUBJECT BODY TYPE: runs mailtool, stdout to
# $TMP/out, stderr to $TMP/err; fails unless it exits WANT.
send() {
  local want=$1 rc
  shift
  set +e
  "$MAILTOOL" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  [ "$rc" = "$want" ] || fail "mailtool $2 ... exited $rc, wanted $want"
}

# received NAME: the one message NAME's server saved, CRs removed, in
# $TMP/msg (and raw in $TMP/raw).
received() {
  local files=("$TMP/$1"/*.eml)
  [ -e "${files[0]}" ] || fail "$1: no message received"
  [ "${#files[@]}" = 1 ] || fail "$1: ${#files[@]} messages received, wanted 1"
  cp "${files[0]}" "$TMP/raw"
  tr -d '\r' <"$TMP/raw" >"$TMP/msg"
}

has() { grep -qxF -- "$1" "$TMP/msg" || fail "no line '$1' in the message: $(cat "$TMP/msg")"; }

# one_line_error WORD: stderr is one line holding WORD, and no password.
one_line_error() {
  [ "$(wc -l <"$TMP/err")" = 1 ] || fail "the error is not one line"
  grep -q -- "$1" "$TMP/err" || fail "the error does not say '$1'"
  if grep -q CANARYPW "$TMP/err"; then fail "the password leaked into the error"; fi
}

# A certificate for localhost, trusted through smtp_ca_file.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  -days 1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

body=$'Your token was created.\nA line with a dot:\n.\n.hidden\nlast line'

# --- plain SMTP --------------------------------------------------------------
start_server plain
config "$TMP/plain.toml" <<EOF
[email]
smtp_server = "127.0.0.1"
smtp_port = $PORT
app_email_from = "Token Admin <tokenadm@example.org>"
email_prefix = "[tka-test]"
EOF
send 0 "$TMP/plain.toml" alice@example.org,bob@example.org "token created" "$body" created
[ ! -s "$TMP/err" ] || fail "a successful send printed something"
received plain
has "MAIL FROM: tokenadm@example.org"
has "RCPT TO: alice@example.org"
has "RCPT TO: bob@example.org"
has "TLS: no"
has "From: Token Admin <tokenadm@example.org>"
has "To: alice@example.org, bob@example.org"
has "Subject: [tka-test] token created"
has "X-Tokenadm-Notification-Type: created"
has "Content-Type: text/plain; charset=utf-8"
has "MIME-Version: 1.0"
date_re='^Date: [A-Z][a-z][a-z], [0-9][0-9] [A-Z][a-z][a-z] 20[0-9][0-9] [0-9:]* +0000$'
grep -q "$date_re" "$TMP/msg" || fail "no RFC 5322 Date"
grep -q '^Message-ID: <[0-9a-f]\{32\}@tokenadm>$' "$TMP/msg" || fail "no Message-ID"
# The body arrives intact: libcurl dot-stuffs, the server undoes it.
[ "$(sed '1,/^$/d' "$TMP/msg" | sed '1,/^$/d')" = "$body" ] || fail "the body differs"
# Every line of the message ends in CRLF.
[ "$(grep -c $'\r$' "$TMP/raw")" -gt 10 ] || fail "no CRLF line ends"

# A line break in the subject is refused before anything is sent.
send 2 "$TMP/plain.toml" alice@example.org $'x\r\nBcc: eve@example.org' "$body" created
one_line_error "line break"
[ "$(ls "$TMP/plain" | wc -l)" = 1 ] || fail "an injected mail was sent"

# A stopped server: a quick one-line failure.
stop_server "$LAST_PID"
start=$(date +%s)
send 2 "$TMP/plain.toml" alice@example.org "token created" "$body" created
[ $(($(date +%s) - start)) -le 5 ] || fail "a stopped server took more than 5 s"
one_line_error "sending mail to alice@example.org failed: "

# A server that accepts the connection but never greets: the overall
# timeout ends the wait.
"$PY" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(5)
print(s.getsockname()[1], flush=True)
time.sleep(120)
' >"$TMP/silent.out" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$TMP/silent.out" ] && break; sleep 0.1; done
sed -i "s/^smtp_port = .*/smtp_port = $(cat "$TMP/silent.out")/" "$TMP/plain.toml"
start=$(date +%s)
send 2 "$TMP/plain.toml" alice@example.org "token created" "$body" created
[ $(($(date +%s) - start)) -le 15 ] || fail "a silent server was waited for more than 15 s"
one_line_error "failed: "

# --- STARTTLS ------------------------------------------------------------------
start_server starttls --mode starttls --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
config "$TMP/starttls.toml" <<EOF
[email]
smtp_server = "localhost"
smtp_port = $PORT
smtp_use_tls = true
smtp_ca_file = "$TMP/cert.pem"
app_email_from = "tokenadm@example.org"
EOF
send 0 "$TMP/starttls.toml" carol@example.org "token revoked" "$body" revoked
received starttls
has "TLS: yes"
has "From: tokenadm@example.org"
has "Subject: [tokenadm] token revoked"
has "X-Tokenadm-Notification-Type: revoked"

# Verification stays on: without the CA the self-signed certificate fails.
grep -v smtp_ca_file "$TMP/starttls.toml" >"$TMP/noca.toml"
chmod 600 "$TMP/noca.toml"
send 2 "$TMP/noca.toml" carol@example.org "token revoked" "$body" revoked
one_line_error "failed: "
# And so does a host name the certificate does not name.
sed 's/^smtp_server = .*/smtp_server = "127.0.0.1"/' "$TMP/starttls.toml" >"$TMP/badname.toml"
chmod 600 "$TMP/badname.toml"
send 2 "$TMP/badname.toml" carol@example.org "token revoked" "$body" revoked
one_line_error "failed: "
# The server requires STARTTLS: a client that skips it is refused.
grep -v smtp_use_tls "$TMP/starttls.toml" >"$TMP/notls.toml"
chmod 600 "$TMP/notls.toml"
send 2 "$TMP/notls.toml" carol@example.org "token revoked" "$body" revoked
one_line_error "failed: "
[ "$(ls "$TMP/starttls" | wc -l)" = 1 ] || fail "a mail got through without TLS"

# A server that does not offer STARTTLS: no fallback to plain text.
start_server downgrade
sed "s/^smtp_port = .*/smtp_port = $PORT/" "$TMP/starttls.toml" >"$TMP/downgrade.toml"
chmod 600 "$TMP/downgrade.toml"
send 2 "$TMP/downgrade.toml" carol@example.org "token revoked" "$body" revoked
one_line_error "failed: "
[ -z "$(ls "$TMP/downgrade")" ] || fail "smtp_use_tls fell back to plain text"

# --- implicit TLS ------------------------------------------------------------
start_server implicit --mode implicit --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
config "$TMP/implicit.toml" <<EOF
[email]
smtp_server = "localhost"
smtp_port = $PORT
smtp_use_ssl = true
smtp_ca_file = "$TMP/cert.pem"
email_prefix = "[Kallithea]"
EOF
send 0 "$TMP/implicit.toml" dave@example.org "token rotated" "$body" rotated
received implicit
has "TLS: yes"
has "From: tokenadm <tokenadm@localhost>"
has "Subject: [Kallithea] token rotated"
has "X-Tokenadm-Notification-Type: rotated"

# --- AUTH over STARTTLS, password from a file --------------------------------
start_server auth --mode starttls --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" \
  --auth-user mailer --auth-pass CANARYPW-right
printf 'CANARYPW-right\n' >"$TMP/pw"
printf 'CANARYPW-wrong\n' >"$TMP/badpw"
chmod 600 "$TMP/pw" "$TMP/badpw"
auth_config() { # FILE PASSWORD_FILE [EXTRA TOML LINE]
  config "$1" <<EOF
[email]
smtp_server = "localhost"
smtp_port = $PORT
smtp_use_tls = true
smtp_ca_file = "$TMP/cert.pem"
smtp_username = "mailer"
smtp_password_file = "$2"
${3:-}
EOF
}
auth_config "$TMP/auth.toml" "$TMP/pw"
send 0 "$TMP/auth.toml" erin@example.org "token expiring" "$body" expiring
received auth
has "AUTH: mailer"
has "X-Tokenadm-Notification-Type: expiring"

for mech in PLAIN LOGIN; do
  auth_config "$TMP/auth-$mech.toml" "$TMP/pw" "smtp_auth = \"$mech\""
  send 0 "$TMP/auth-$mech.toml" erin@example.org "token expiring" "$body" expiring
done
[ "$(ls "$TMP/auth" | wc -l)" = 3 ] || fail "AUTH PLAIN and LOGIN did not both deliver"

auth_config "$TMP/badauth.toml" "$TMP/badpw"
send 2 "$TMP/badauth.toml" erin@example.org "token expiring" "$body" expiring
one_line_error "sending mail to erin@example.org failed: "
auth_config "$TMP/badauth-login.toml" "$TMP/badpw" 'smtp_auth = "LOGIN"'
send 2 "$TMP/badauth-login.toml" erin@example.org "token expiring" "$body" expiring
one_line_error "failed: "

# The password may also sit in the (mode 0600) config file itself.
config "$TMP/inline.toml" <<EOF
[email]
smtp_server = "localhost"
smtp_port = $PORT
smtp_use_tls = true
smtp_ca_file = "$TMP/cert.pem"
smtp_username = "mailer"
smtp_password = "CANARYPW-wrong"
EOF
send 2 "$TMP/inline.toml" erin@example.org "token expiring" "$body" expiring
one_line_error "failed: "

# --- AUTH without TLS: refused unless smtp_allow_plaintext_auth says so -------
start_server plainauth --auth-user mailer --auth-pass CANARYPW-right
auth_config "$TMP/plainauth.toml" "$TMP/pw"
sed -i -e "s/^smtp_port = .*/smtp_port = $PORT/" -e '/smtp_use_tls/d' -e '/smtp_ca_file/d' \
  "$TMP/plainauth.toml"
send 2 "$TMP/plainauth.toml" frank@example.org "token created" "$body" created
one_line_error "refusing to send the SMTP password without TLS: set smtp_use_tls or smtp_use_ssl (or smtp_allow_plaintext_auth = true)"
[ -z "$(ls "$TMP/mail-plainauth" 2>/dev/null)" ] || fail "a mail went out over plaintext AUTH"
printf 'smtp_allow_plaintext_auth = true\n' >>"$TMP/plainauth.toml"
send 0 "$TMP/plainauth.toml" frank@example.org "token created" "$body" created
received plainauth
has "AUTH: mailer"
has "TLS: no"

# --- no smtp_server: the mail goes to stderr ------------------------------------
config "$TMP/nosmtp.toml" <<EOF
[email]
app_email_from = "Jérôme <tokenadm@example.org>"
EOF
send 0 "$TMP/nosmtp.toml" grace@example.org "jeton créé" "$body" created
[ ! -s "$TMP/out" ] || fail "the mail went to stdout"
[ "$(head -n1 "$TMP/err")" = "token: mail (no smtp_server set):" ] || fail "no log line"
grep -qxF "To: grace@example.org" "$TMP/err" || fail "no To in the logged mail"
grep -qxF "From: =?UTF-8?B?SsOpcsO0bWU=?= <tokenadm@example.org>" "$TMP/err" \
  || fail "no encoded From in the logged mail"
# base64 of "[tokenadm] jeton créé"
grep -qxF "Subject: =?UTF-8?B?W3Rva2VuYWRtXSBqZXRvbiBjcsOpw6k=?=" "$TMP/err" \
  || fail "no encoded Subject in the logged mail"
grep -qxF "X-Tokenadm-Notification-Type: created" "$TMP/err" || fail "no type in the logged mail"
grep -qxF ".hidden" "$TMP/err" || fail "no body in the logged mail"

echo "ok: $(basename "$0")"
