# Shared by tests/cli/test_*.sh. Each script gets its own database in the
# cluster scripts/with-postgres started, and helpers that run the token
# binary and assert its exit status and output.
#
# Secret hygiene: every token a test creates is registered with
# `remember_secret`; `run` fails a test if any of them, or CANARYPW, shows up
# in output where it was not expected, and failure messages are redacted so
# the test log itself never prints a secret.
set -euo pipefail
# The tests' Python helpers use only the standard library. Debian's python3
# starts in ~60 ms; a pyenv shim first on PATH takes ~1 s a call, which
# turns suites with hundreds of calls into timeouts.
: "${TOKEN:?TOKEN must point at the token binary}"
: "${PGHOST:?run under scripts/with-postgres}"
PGBIN=/usr/lib/postgresql/15/bin
TMP=$(mktemp -d)
SECRETS=()
trap 'rm -rf "$TMP"' EXIT
# A command on PATH, not a shell function: `python3 … &` must leave $! the
# Python process itself, so that `kill $!` stops it (a function would run in
# a subshell and its orphan would hold ctest's output pipe open).
if [ -x /usr/bin/python3 ]; then
  mkdir "$TMP/.python" && ln -s /usr/bin/python3 "$TMP/.python/python3"
  PATH=$TMP/.python:$PATH
fi

DB="t_$(basename "$0" .sh)_$$"
"$PGBIN/createdb" "$DB"
export TOKENADM_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
BASE_DSN=$TOKENADM_DSN
unset TOKENADM_TOKEN

redact() { sed -E -e 's/[a-z]{1,8}_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}/<token>/g' -e 's/CANARYPW/<canary>/g'; }

fail() {
  echo "FAIL ($(basename "$0"):${BASH_LINENO[1]:-?}): $*" | redact >&2
  echo "--- stdout:" >&2; redact <"$TMP/out" >&2 || true
  echo "--- stderr:" >&2; redact <"$TMP/err" >&2 || true
  exit 1
}

remember_secret() { [ -z "$1" ] || { SECRETS+=("$1"); printf '%s\n' "$1" >>"$TMP/.secrets"; }; }

# psql against this test's database, quiet, unaligned.
sql() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

# check_clean FILE...: no remembered secret and no CANARYPW in the files.
check_clean() {
  local f
  # One grep for all secrets (hundreds in some suites): not one per secret.
  f=$(grep -lF -e CANARYPW -- "$@" 2>/dev/null | head -1) || true
  [ -z "$f" ] || fail "the canary password leaked into $(basename "$f")"
  [ -s "$TMP/.secrets" ] || return 0
  f=$(grep -lF -f "$TMP/.secrets" -- "$@" 2>/dev/null | head -1) || true
  [ -z "$f" ] || fail "a token secret leaked into $(basename "$f")"
}

# run WANT CMD...: runs CMD (stdin inherited), stdout to $TMP/out, stderr to
# $TMP/err; fails unless the exit status is WANT and both are clean.
run() {
  local want=$1 rc
  shift
  set +e
  "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, wanted $want"
  check_clean "$TMP/out" "$TMP/err"
}

# run_token WANT ARGS...: run, for the token binary.
run_token() { local want=$1; shift; run "$want" "$TOKEN" "$@"; }

# run_reader_gone WANT ARGS...: run_token WANT ARGS with standard output a
# pipe whose reader has already gone (stdin inherited).
run_reader_gone() {
  local want=$1
  shift
  run "$want" python3 -c 'import os, subprocess, sys
r, w = os.pipe()
os.close(r)
sys.exit(subprocess.call(sys.argv[1:], stdout=w))' "$TOKEN" "$@"
}

# bounded SECONDS WANT ARGS...: run_token WANT ARGS under `timeout SECONDS`.
# A hang guard, never a speed test: pick a bound far above any real run.
bounded() {
  local limit=$1 want=$2 rc
  shift 2
  set +e
  timeout -k 5 "$limit" "$TOKEN" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  [ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "'token $*' did not finish within ${limit}s"
  [ "$rc" = "$want" ] || fail "'token $*' exited $rc, wanted $want"
  check_clean "$TMP/out" "$TMP/err"
}

# create_token ARGS...: token create ARGS; sets TOK (the token) and TOK_ID.
create_token() {
  set +e
  "$TOKEN" create "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  set -e
  [ "$rc" = 0 ] || fail "token create $* exited $rc"
  TOK=$(cat "$TMP/out")
  [[ "$TOK" =~ ^[a-z]{1,8}_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}$ ]] || fail "create printed no token"
  TOK_ID=$(cut -d_ -f2 <<<"$TOK")
  check_clean "$TMP/err"
  remember_secret "$TOK"
}

expect_err() { grep -qE -- "$1" "$TMP/err" || fail "stderr does not match /$1/"; }
expect_out() { grep -qE -- "$1" "$TMP/out" || fail "stdout does not match /$1/"; }
expect_out_exactly() { [ "$(cat "$TMP/out")" = "$1" ] || fail "stdout is not '$1'"; }
expect_no_out() { [ ! -s "$TMP/out" ] || fail "stdout is not empty"; }
# Every failure message is one line starting "token: ".
expect_one_line_err() {
  [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "stderr is not one line"
  expect_err '^token: '
}

# start_smtp: a real SMTP server (Debian's aiosmtpd) on a free local port,
# saving each mail as $TMP/mail/NNNN.eml; sets SMTP_PORT and SMTP_PID,
# writes its [email] table (server and port, more keys may be appended) to
# $TMP/smtp.toml, and stops it on exit. mails counts the mails, wait_mails N waits for N,
# newest names the last one.
start_smtp() {
  mkdir -p "$TMP/mail"
  /usr/bin/python3 "$TOKENADM_SRC/tests/mail/smtp_server.py" --port 0 --maildir "$TMP/mail" \
    >"$TMP/smtp.out" 2>"$TMP/smtp.log" &
  SMTP_PID=$!
  trap 'kill $SMTP_PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
  for _ in $(seq 100); do grep -q '^ready ' "$TMP/smtp.out" 2>/dev/null && break; sleep 0.1; done
  SMTP_PORT=$(awk '/^ready /{print $2}' "$TMP/smtp.out")
  [ -n "$SMTP_PORT" ] || fail "smtp server did not start"
  printf '[email]\nsmtp_server = "127.0.0.1"\nsmtp_port = %s\n' "$SMTP_PORT" >"$TMP/smtp.toml"
}
mails() { ls "$TMP/mail" | grep -c '\.eml$' || true; }
wait_mails() { for _ in $(seq 50); do [ "$(mails)" -ge "$1" ] && return 0; sleep 0.1; done; fail "expected $1 mails, got $(mails)"; }
newest() { ls "$TMP/mail"/*.eml | sort | tail -1; }

# expect_peak_rss_below FILE KIB WHAT: FILE holds /usr/bin/time -f '%M'
# output (peak RSS in KiB); fails when it is KIB or more. Under ASan
# (TOKENADM_SANITIZED) shadow memory and quarantine add a constant-ish 64 MB.
expect_peak_rss_below() {
  local rss limit=$2
  rss=$(tail -n 1 "$1")
  [ -z "${TOKENADM_SANITIZED:-}" ] || limit=$((limit + 65536))
  [ "$rss" -lt "$limit" ] || fail "peak RSS for $3 was ${rss} KiB (over $((limit / 1000)) MB)"
  echo "info: $3 with a peak RSS of ${rss} KiB"
}

pass() { echo "ok: $(basename "$0")"; }
