# A role that can only verify (README, "A role that can only verify"): the
# README's grant block, run as written. verify, verify --batch and serve
# work as that role and write what they should (last_used_at, use counts,
# failures recorded and folded through tokenadm.record_verify_failure, a
# rotated-out token's use flagged), with no privilege on the audit table:
# it cannot read it or change it. create, revoke and rotate are refused
# with PostgreSQL's reason and change nothing.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve_common.sh"
trap 'stop_serve; sql "drop owned by webcheck; drop role webcheck" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

run_token 0 init
create_token --owner alice --label web --role api
GOOD=$TOK GOOD_ID=$TOK_ID
create_token --owner bob --label twice --max-uses 2
TWICE=$TOK
create_token --owner carol --label rotated
run_token 0 rotate "$TOK_ID" --overlap 1h
ROTATED=$TOK ROTATED_ID=$TOK_ID
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
[ "$(awk '/^### A role that can only verify/ {on = 1} /^### High availability/ {on = 0} on && /^```sql/ {n++} END {print n}' \
  "$TOKENADM_SRC/README.md")" = 1 ] || fail "the README's section has more than one grants block: test each"
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

# Failures recorded without any privilege on the audit table, folded into
# one row a minute; a rotated-out token's use flagged.
run_token 2 verify --role feed <<<"$GOOD"
expect_err 'forbidden'
run_token 2 verify --role feed <<<"$GOOD"
[ "$(sql "select count(*) || ' ' || sum(count) from tokenadm.audit where action = 'verify-failed'")" = "1 2" ] \
  || fail "failures not recorded and folded as webcheck: $(sql "select count(*), sum(count) from tokenadm.audit where action = 'verify-failed'")"
[ "$(sql "select details->>'db_user' from tokenadm.audit where action = 'verify-failed'")" = webcheck ] || fail "the database user was not recorded"
run_token 0 verify <<<"$ROTATED"
[ "$(sql "select count(*) from tokenadm.audit where token_id = '$ROTATED_ID' and outcome = 'rotated-token-used'")" = 1 ] \
  || fail "a rotated-out token's use was not flagged as webcheck"
# ... and the audit trail can be neither read nor changed by that role
as_webcheck() { "$PGBIN/psql" -X -q -At -d "host=$PGHOST port=$PGPORT user=webcheck dbname=$DB" -c "$1" 2>&1 || true; }
as_webcheck "select count(*) from tokenadm.audit" | grep -q 'permission denied for table audit' || fail "webcheck can read the audit trail"
as_webcheck "update tokenadm.audit set count = 0" | grep -q 'permission denied for table audit' || fail "webcheck can change the audit trail"
as_webcheck "delete from tokenadm.audit" | grep -q 'permission denied for table audit' || fail "webcheck can delete from the audit trail"
# the functions add only what a verify would: junk is ignored
as_webcheck "select tokenadm.record_verify_failure(null, 'x', '', 'h', 'no such reason!', 1)" >/dev/null
as_webcheck "select tokenadm.record_verify_failure(null, 'x', '', 'h', 'unknown', 0)" >/dev/null
as_webcheck "select tokenadm.record_rotated_use(array['$GOOD_ID'], 'x', '', 'h')" >/dev/null
[ "$(sql "select count(*) from tokenadm.audit where actor = 'x'")" = 0 ] || fail "the audit functions took junk"
# a count cannot be pushed past an integer (which would make every later
# failure this minute fail to record, and its verify with it)
as_webcheck "select tokenadm.record_verify_failure(null, 'y', '', 'h', 'forbidden', 1000000) from generate_series(1, 2200)" >/dev/null
[ "$(sql "select count from tokenadm.audit where actor = 'y'")" = 2147483647 ] || fail "a failure count overflowed: $(sql "select count from tokenadm.audit where actor = 'y'")"
# the functions belong to the audit table's owner, not to whoever ran init
[ "$(sql "select count(distinct proowner) from pg_proc where proname in ('record_verify_failure', 'record_rotated_use') and proowner = (select relowner from pg_class where oid = 'tokenadm.audit'::regclass)")" = 1 ] \
  || fail "the audit functions are not owned by the audit table's owner"

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
