# Promises under failure: a deadline cancels the running statement on the
# server (the database stays as it was), only connecting times out with 1,
# a token that cannot be written is revoked again rather than left active,
# a closed pipe is not a death by signal, closed fds 0-2 stay harmless.
. "$(dirname "$0")/common.sh"

run_token 0 init

# hold_lock: another session holds an exclusive lock on tokenadm.tokens
# until release_lock, so every statement on it waits.
hold_lock() {
  rm -f "$TMP/fifo"
  mkfifo "$TMP/fifo"
  "$PGBIN/psql" -X -q -d "$DB" <"$TMP/fifo" >/dev/null 2>&1 &
  LOCKPID=$!
  exec 7>"$TMP/fifo"
  echo "begin; lock table tokenadm.tokens in access exclusive mode;" >&7
  for _ in $(seq 100); do
    [ "$(sql "select count(*) from pg_locks where relation = 'tokenadm.tokens'::regclass and mode = 'AccessExclusiveLock' and granted")" = 1 ] && return
    sleep 0.1
  done
  fail "the lock was not taken"
}
release_lock() {
  echo "commit;" >&7
  exec 7>&-
  wait "$LOCKPID"
}
state() { sql "select count(*), count(revoked_at) from tokenadm.tokens"; }
audits() { sql "select count(*) from tokenadm.audit"; }

# --- deadline: create, rotate, revoke against a locked table
create_token --owner alice --label ci
ALICE=$TOK_ID
before=$(state); abefore=$(audits)
hold_lock
run_token 2 --timeout 2 create --owner bob --output "$TMP/bob.tok"
expect_one_line_err
expect_err 'timed out.*nothing was changed'
[ ! -e "$TMP/bob.tok" ] || fail "the --output file of a timed-out create was left behind"
run_token 2 --timeout 2 rotate "$ALICE"
expect_err 'timed out.*nothing was changed'
run_token 2 --timeout 2 revoke "$ALICE"
expect_err 'timed out.*nothing was changed'
run_token 2 --timeout 2 create --owner carol --format json
expect_out '"code":"timeout"'
release_lock
# Give a statement that was not cancelled the time to commit anyway.
sleep 3
[ "$(state)" = "$before" ] || fail "a timed-out command changed tokens: $(state) (was $before)"
[ "$(audits)" = "$abefore" ] || fail "a timed-out command wrote audit rows"
[ -z "$(sql "select revoked_at from tokenadm.tokens where id = '$ALICE'")" ] \
  || fail "a timed-out revoke or rotate revoked the token"

# --- waiting for stdin is not connecting: exit 2
set +e
sleep 4 | "$TOKEN" --timeout 1 verify >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "a deadline while reading stdin exited $rc, wanted 2"
expect_one_line_err
expect_err 'timed out'

# --- a signal removes the --output file the command created
hold_lock
"$TOKEN" create --owner dave --output "$TMP/dave.tok" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -e "$TMP/dave.tok" ] && break; sleep 0.1; done
[ -e "$TMP/dave.tok" ] || fail "create did not open its --output file"
sleep 0.5
kill -TERM "$pid"
set +e; wait "$pid"; set -e
release_lock
[ ! -e "$TMP/dave.tok" ] || fail "a killed create left its --output file"

# --- output that cannot be written: the token is revoked again, audited
undelivered() { # COMMAND-LABEL: the one token made is revoked, reason 'output failed'
  expect_one_line_err
  expect_err 'revoked [0-9A-Za-z]{10}.* again'
  local id
  id=$(grep -oE 'revoked [0-9A-Za-z]{10}' "$TMP/err" | head -1 | cut -d' ' -f2)
  [ "$(sql "select revoke_reason from tokenadm.tokens where id = '$id'")" = "output failed" ] \
    || fail "$1: token $id was not revoked with reason 'output failed'"
  [ "$(sql "select count(*) from tokenadm.audit where token_id = '$id' and action = 'revoke'")" -ge 1 ] \
    || fail "$1: the revoke of $id is not audited"
}
active() { sql "select count(*) from tokenadm.tokens where revoked_at is null"; }
a0=$(active)
run 2 sh -c '"$0" create --owner full >/dev/full' "$TOKEN"
undelivered "create >/dev/full"
run 2 sh -c '"$0" create --owner closed >&-' "$TOKEN"
undelivered "create >&-"
run 2 sh -c '"$0" create --owner full --format json >/dev/full' "$TOKEN"
undelivered "create --format json >/dev/full"
run 2 sh -c '"$0" create --owner bulk --count 3 >/dev/full' "$TOKEN"
expect_err 'and 2 more'
undelivered "create --count"
run 2 sh -c '"$0" ensure --owner ens --label x >/dev/full' "$TOKEN"
undelivered "ensure"
[ "$(active)" = "$a0" ] || fail "a token nobody received is still active"
run 2 sh -c '"$0" rotate "$1" >/dev/full' "$TOKEN" "$ALICE"
undelivered "rotate"
printf 'legacyTokenValue0123456789abcdefXYZ\n' >"$TMP/legacy"
run 2 sh -c '"$0" import --owner legacy <"$1" >/dev/full' "$TOKEN" "$TMP/legacy"
undelivered "import"

# --- a closed pipe: no death by SIGPIPE, nothing on stderr
run_token 0 create --owner many --count 3000 --label many
set +e
"$TOKEN" list --format tsv 2>"$TMP/err" | head -1 >/dev/null
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || [ "$rc" = 2 ] || fail "token list | head -1 exited $rc"
[ ! -s "$TMP/err" ] || fail "token list | head -1 wrote to stderr"

# --- closed fds 0-2: the database socket never becomes fd 2
create_token --owner erin
run 0 sh -c '"$0" revoke "$1" 2>&-' "$TOKEN" "$TOK_ID"
[ -n "$(sql "select revoked_at from tokenadm.tokens where id = '$TOK_ID'")" ] \
  || fail "revoke with stderr closed did not revoke"
run 2 sh -c '"$0" verify <&-' "$TOKEN"

pass
