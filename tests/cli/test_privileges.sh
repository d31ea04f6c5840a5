# A role that can only verify (README, "A role that can only verify"): the
# README's two grant blocks, run as written. With the first (and --no-audit),
# verify, verify --batch and serve work as that role and write what they
# should (last_used_at, use counts); without the audit grant a failure that
# would be recorded is refused with PostgreSQL's reason; with the second,
# failures are recorded and folded. create, revoke and rotate are refused
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
# grants N: the README's Nth sql block in its section, run as written.
grants() {
  awk -v want="$1" '/^### A role that can only verify/ {on = 1} /^### High availability/ {on = 0}
    on && /^```sql/ {n++; code = (n == want); next} code && /^```/ {code = 0} code' \
    "$TOKENADM_SRC/README.md" >"$TMP/grants.sql"
  [ -s "$TMP/grants.sql" ] || fail "the README's grants block $1 was not found"
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$TMP/grants.sql" || fail "the README's grants block $1 did not run"
}
grants 1
grep -q '^create role webcheck login;$' "$TMP/grants.sql" || fail "block 1 does not create the role"
export TOKENADM_DSN="host=$PGHOST port=$PGPORT user=webcheck dbname=$DB"

# With the first block and --no-audit: verify with its writes (last_used_at,
# a counted use), a refusal, --batch, init --check, serve.
run_token 0 verify --role api --no-audit <<<"$GOOD"
expect_out '^alice$'
[ "$(sql "select last_used_at is not null from tokenadm.tokens where id = '$GOOD_ID'")" = t ] || fail "last_used_at not written as webcheck"
run_token 0 verify --no-audit <<<"$TWICE"
[ "$(sql "select uses from tokenadm.tokens where owner = 'bob'")" = 1 ] || fail "use not counted as webcheck"
run_token 2 verify --role feed --no-audit <<<"$GOOD"
expect_err 'forbidden'
printf '%s\n%s\n' "$GOOD" "$TWICE" | run_token 0 verify --batch --no-audit
[ "$(sed -n 1p "$TMP/out")" = "ok $GOOD_ID alice" ] || fail "batch answer 1"
expect_out '^ok [0-9A-Za-z]{10} bob$'
[ "$(sql "select uses from tokenadm.tokens where owner = 'bob'")" = 2 ] || fail "batch use not counted as webcheck"
run_token 0 init --check
start_serve "$TMP/serve.log" --no-audit --listen 127.0.0.1:0
expect_status 200 "http://127.0.0.1:$PORT/healthz"
expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$GOOD")"
expect_header '^X-Token-Owner: alice'
# a use counted by serve, as webcheck
expect_status 401 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$TWICE")"
expect_body '"reason":"used-up"'
expect_status 403 "http://127.0.0.1:$PORT/verify?role=feed" -H @"$(bearer "$GOOD")"
stop_serve
[ "$(sql "select count(*) from tokenadm.audit where action = 'verify-failed'")" = 0 ] || fail "--no-audit recorded"
# Without the audit grant, a verify that would record a failure is refused
# with PostgreSQL's reason, not answered wrongly.
run_token 2 verify --role feed <<<"$GOOD"
expect_err 'permission denied for table audit'

# The second block: failures recorded, folded into one row a minute.
grants 2
run_token 2 verify --role feed <<<"$GOOD"
expect_err 'forbidden'
run_token 2 verify --role feed <<<"$GOOD"
[ "$(sql "select count(*) || ' ' || sum(count) from tokenadm.audit where action = 'verify-failed'")" = "1 2" ] \
  || fail "failures not recorded and folded as webcheck: $(sql "select count(*), sum(count) from tokenadm.audit where action = 'verify-failed'")"

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
