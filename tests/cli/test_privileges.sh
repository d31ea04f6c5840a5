# A role that can only verify (README, "A role that can only verify"): the
# README's grants, run as written; verify, verify --batch and serve work as
# that role, with touch and audit; create, revoke and rotate are refused
# with PostgreSQL's reason and change nothing.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve_common.sh"
trap 'stop_serve; sql "drop owned by webcheck; drop role webcheck" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

run_token 0 init
create_token --owner alice --label web --role api
GOOD=$TOK GOOD_ID=$TOK_ID
create_token --owner bob --label twice --max-uses 2
TWICE=$TOK
sql "drop role if exists webcheck" >/dev/null 2>&1 || true
# The block, as the README has it.
awk '/^### A role that can only verify/ {on = 1} on && /^```sql/ {code = 1; next} code && /^```/ {exit} code' \
  "$TOKENADM_SRC/README.md" >"$TMP/grants.sql"
grep -q '^create role webcheck login;$' "$TMP/grants.sql" || fail "the README's grants were not found"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$TMP/grants.sql" || fail "the README's grants did not run"
export TOKENADM_DSN="host=$PGHOST port=$PGPORT user=webcheck dbname=$DB"

# Verify, with its writes: last_used_at, a counted use, a failure audited.
run_token 0 verify --role api <<<"$GOOD"
expect_out '^alice$'
[ "$(sql "select last_used_at is not null from tokenadm.tokens where id = '$GOOD_ID'")" = t ] || fail "last_used_at not written as webcheck"
run_token 0 verify <<<"$TWICE"
[ "$(sql "select uses from tokenadm.tokens where owner = 'bob'")" = 1 ] || fail "use not counted as webcheck"
run_token 2 verify --role feed <<<"$GOOD"
expect_err 'forbidden'
[ "$(sql "select count(*) from tokenadm.audit where action = 'verify-failed' and actor like '%'")" -ge 1 ] || fail "failure not audited as webcheck"
run_token 2 verify --role feed <<<"$GOOD"
[ "$(sql "select sum(count) from tokenadm.audit where action = 'verify-failed'")" = 2 ] || fail "failures not folded as webcheck"
printf '%s\n%s\n' "$GOOD" "$TWICE" | run_token 0 verify --batch
[ "$(sed -n 1p "$TMP/out")" = "ok $GOOD_ID alice" ] || fail "batch answer 1"
expect_out '^ok [0-9A-Za-z]{10} bob$'
run_token 0 init --check

# serve: health and verify.
start_serve "$TMP/serve.log" --listen 127.0.0.1:0
expect_status 200 "http://127.0.0.1:$PORT/healthz"
expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
expect_header '^X-Token-Owner: alice'
stop_serve

# What it may not do: refused, exit 2, PostgreSQL's reason, nothing changed.
before=$(sql "select count(*), count(revoked_at), max(created_at) from tokenadm.tokens")
run_token 2 create --owner mallory --label x
expect_err 'database error: .*permission denied for table tokens'
[ ! -s "$TMP/out" ] || fail "a refused create printed a token"
run_token 2 revoke "$GOOD_ID"
expect_err 'permission denied'
run_token 2 rotate "$GOOD_ID"
expect_err 'permission denied'
[ "$(sql "select count(*), count(revoked_at), max(created_at) from tokenadm.tokens")" = "$before" ] || fail "a refused command changed the tokens"
export TOKENADM_DSN=$BASE_DSN
run_token 0 verify <<<"$GOOD"
pass
