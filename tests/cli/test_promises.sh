# JSON on every path, and secrets that never show (issue 11).
. "$(dirname "$0")/common.sh"
run_token 0 init

# one_json: stdout is exactly one line holding one JSON document.
one_json() {
  [ "$(wc -l <"$TMP/out")" = 1 ] || fail "stdout is not one line"
  python3 -c 'import json,sys; json.loads(sys.stdin.read())' <"$TMP/out" || fail "stdout is not JSON"
}

# --- usage errors, CLI11's own included, answer in JSON too
run_token 2 list --format json --state bogus
one_json; expect_out '"code":"usage"'
run_token 2 list --state bogus --format=json
one_json
# invalid UTF-8 is replaced, never an abort
run_token 2 create --format json --meta $'\xff' --expires-in $'9\xff'
one_json
# a failed verify says so in its own terms
run_token 2 verify --format json <<<'tka_notatoken'
one_json; expect_out '"valid":false'; expect_out '"reason":"'
create_token --owner jo
run_token 0 list --format json
one_json
run_token 0 config show --format json
one_json

# --- a config file others can write is refused, whatever it holds
CFG=$TMP/cfg; mkdir -p "$CFG"
printf '[token]\nprefix = "abc"\n' >"$CFG/w.toml"
chmod 664 "$CFG/w.toml"
run_token 2 --config "$CFG/w.toml" config show
expect_one_line_err; expect_err 'may write it'
chmod 644 "$CFG/w.toml"
run_token 0 --config "$CFG/w.toml" config show
printf 'host=nowhere\n' >"$CFG/dsn"; chmod 622 "$CFG/dsn"
printf 'dsn_file = "%s"\n' "$CFG/dsn" >"$CFG/d.toml"; chmod 600 "$CFG/d.toml"
run_token 2 --config "$CFG/d.toml" config show
expect_one_line_err; expect_err 'may write it'

# --- DSN secrets: sslpassword, a password with '@', a DSN that does not parse
run_token 0 --dsn "host=/nonexistent dbname=x sslpassword=CANARYPW" config show
run_token 0 --dsn "host=/nonexistent password=CANARYPW 'oops" config show
# user:pass@word@host: libpq would take "CANARYPW@127.0.0.1" for a host and
# print it; the DSN is refused with a hint, and config show masks it whole.
run_token 1 --dsn 'postgresql://app:Secr3t@CANARYPW@127.0.0.1:1/db' list
expect_one_line_err; expect_err "holds an '@': write it as %40"
run_token 0 --dsn 'postgresql://app:Secr3t@CANARYPW@127.0.0.1:1/db' config show
expect_out '^dsn += postgresql://app:\*\*\*@127'

# --- JSON on every path: one document on one line
create_token --owner jo --label j2; J2=$TOK_ID
run_token 2 revoke --format json "$J2" ZZZZZZZZZZ
one_json
expect_out_exactly '{"dry_run":false,"results":[{"id":"'"$J2"'","owner":"jo","status":"revoked"},{"id":"ZZZZZZZZZZ","status":"unknown"}]}'
run_token 0 revoke --format json --owner jo --dry-run
one_json; expect_out '"status":"would-revoke"'
run_token 0 revoke --format json --owner nobody --yes
expect_out_exactly '{"dry_run":false,"results":[]}'
run_token 0 prune --older-than 1d --format json
expect_out_exactly '{"deleted":[],"dry_run":false,"older_than":"1d"}'
run_token 0 prune --older-than 1d --dry-run --format json
expect_out_exactly '{"dry_run":true,"older_than":"1d","would_delete":[]}'
run_token 0 init --format json
expect_out_exactly '{"from_version":'"$(sql 'select max(version) from tokenadm.schema_version')"',"status":"current","version":'"$(sql 'select max(version) from tokenadm.schema_version')"'}'
run_token 0 init --check --format json
one_json; expect_out '"status":"current"'
run_token 0 notify --format json --dry-run
one_json; expect_out '^\{"dry_run":true,"notices":\[.*\],"would_revoke":\[\]\}$'
run_token 0 notify --format json
one_json; expect_out '"dry_run":false'
# import: the ids in one document (and the usual withdraw if it cannot be written)
LEG=$(head -c 600 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32); remember_secret "$LEG"
run_token 0 import --owner legacy --format json <<<"$LEG"
one_json; expect_out '^\{"duplicates":0,"imported":\["[A-Za-z0-9]{10}"\]\}$'
run_token 0 import --owner legacy --format json <<<"$LEG"
expect_out_exactly '{"duplicates":1,"imported":[]}'
# audit: the token's id is "id", as in list and show; the row's own is event_id
run_token 0 audit --token "$J2" --format json
expect_out '"event_id":[0-9]+,'; expect_out '"id":"'"$J2"'"'
run_token 0 audit --token "$J2"
expect_out '^AT +ACTION +ID +OWNER'

# --- a whole token where an ID is expected: only its ID leaves the machine
create_token --owner paste --label p; P=$TOK; P_ID=$TOK_ID
sql "alter database \"$DB\" set log_statement = 'all'"
for cmd in show renew "audit --token"; do
  run_token 0 $cmd "$P"
  expect_err "a whole token was given: using its ID $P_ID; it is in your shell history now: consider revoking it"
done
run_token 0 rotate "$P"
expect_err "using its ID $P_ID"
sql "alter database \"$DB\" reset log_statement"
sleep 0.5   # let the server write its log
grep -qF "$P_ID" "$TOKENADM_TEST_PGDIR/server.log" || fail "log_statement=all did not log the lookups"
! grep -qF -- "${P:15:32}" "$TOKENADM_TEST_PGDIR/server.log" || fail "the pasted token's secret reached the server log"

# --- notify: one run at a time (an overlapping cron run does nothing)
"$PGBIN/psql" -X -q -d "$DB" -c "select pg_advisory_lock(hashtextextended('tokenadm notify', 7107))" \
  -c "select pg_sleep(120)" >/dev/null 2>&1 &
HOLDER=$!
# This test's database only: other tests take advisory locks at once (init, create).
this_db="(select oid from pg_database where datname = current_database())"
for _ in $(seq 100); do
  [ "$(sql "select count(*) from pg_locks where locktype = 'advisory' and granted and database = $this_db")" = 1 ] && break
  sleep 0.1
done
run_token 0 notify
expect_err 'another token notify is running: this one does nothing'; expect_no_out
run_token 0 notify --format json
expect_out_exactly '{"dry_run":false,"notices":[],"revoked":[]}'
sql "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and database = $this_db" >/dev/null
wait "$HOLDER" 2>/dev/null || true
run_token 0 notify
expect_err '^token: sent 0 notice'

pass
