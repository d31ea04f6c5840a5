# token serve --cache-ttl (serve.cache_ttl): accepted answers are reused,
# and dropped as soon as the database says a token changed (revoke, SQL by
# hand), when a token expires, when the listening connection is lost, and
# on reload; use-limited tokens are never cached, nor is an answer for
# another address; a database that cannot be reached gets 503, never a
# cached 200.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve_common.sh"
trap 'stop_serve; sql_admin "alter database \"$DB\" allow_connections true" 2>/dev/null; rm -rf "$TMP"' EXIT

# SQL on another database: for what cannot be done from the one served.
sql_admin() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
# metric NAME: its value in /metrics
metric() { curl -s --max-time 10 "$U/metrics" | sed -n "s/^$1 //p"; }
# eventually WANT ARGS...: hit ARGS until it answers WANT, for up to 5 s
eventually() {
  local want=$1 got
  shift
  for _ in $(seq 50); do
    got=$(hit "$@")
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  cp "$TMP/body" "$TMP/out"
  fail "$1 still answers $got after 5 s, wanted $want"
}
wait_log() {
  for _ in $(seq 100); do
    [ "$(grep -c -- "$1" "$LOG")" -ge "$2" ] && return 0
    sleep 0.1
  done
  cp "$LOG" "$TMP/err"
  fail "the log has not $2 line(s) matching /$1/"
}

run_token 0 init
create_token --owner alice --role api
A=$TOK A_ID=$TOK_ID
create_token --owner bob --role api
B=$TOK B_ID=$TOK_ID
create_token --owner carol --max-uses 2
L=$TOK
create_token --owner dave --allow-from 192.0.2.0/24
FAR=$TOK
create_token --owner erin
E=$TOK E_ID=$TOK_ID

# --- out of range, from the flag and from the file
run_token 2 serve --cache-ttl 3601 --listen 127.0.0.1:0
expect_one_line_err; expect_err '--cache-ttl'; expect_err 'not a whole number from 0 to 3600'
run_token 2 serve --cache-ttl abc --listen 127.0.0.1:0
expect_one_line_err; expect_err "--cache-ttl: 'abc' is not a whole number from 0 to 3600"
CONF=$TMP/tokenadm.toml
printf '[serve]\ncache_ttl = -1\n' >"$CONF"
run_token 2 serve --config "$CONF" --listen 127.0.0.1:0
expect_one_line_err; expect_err 'serve.cache_ttl'
printf '[serve]\ncache_ttl = 300\ntrusted_proxies = ["127.0.0.0/8"]\n' >"$CONF"
run_token 0 config show --config "$CONF"
expect_out '^serve.cache_ttl += 300'

LOG=$TMP/serve.log
start_serve "$LOG" --config "$CONF" --listen 127.0.0.1:0
U=http://127.0.0.1:$PORT
wait_log 'cache: on' 1
[ "$(metric tokenadm_cache_enabled)" = 1 ] || fail "the cache is not enabled"
[ "$(metric tokenadm_cache_listening)" = 1 ] || fail "the cache is not listening"
# the listening connection is named for pg_stat_activity
[ "$(sql "select count(*) from pg_stat_activity where application_name = 'tokenadm serve cache' and datname = current_database()")" = 1 ] \
  || fail "no listening connection named 'tokenadm serve cache'"

# --- the second request is answered from memory: no lookup
expect_status 200 "$U/verify?role=api" -H @"$(bearer "$A")"
LOOKUPS=$(metric tokenadm_db_lookup_requests_total)
expect_status 200 "$U/verify?role=api" -H @"$(bearer "$A")"
expect_header "^X-Token-Owner: alice"
expect_header "^X-Token-Id: $A_ID"
expect_body '"address":"127.0.0.1"'
[ "$(metric tokenadm_db_lookup_requests_total)" = "$LOOKUPS" ] || fail "a cached answer made a lookup"
[ "$(metric tokenadm_cache_hits_total)" = 1 ] || fail "no cache hit counted"
# another role, scope or address is another answer, looked up
expect_status 403 "$U/verify?role=feed" -H @"$(bearer "$A")"
expect_status 200 "$U/verify?role=api&scope=x" -H @"$(bearer "$A")"
[ "$(metric tokenadm_db_lookup_requests_total)" = $((LOOKUPS + 2)) ] || fail "another role or scope was answered from the cache"
# an address-bound token, accepted from a forwarded address, is looked up
# again from another one
expect_status 200 "$U/verify" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 192.0.2.7'
expect_status 200 "$U/verify" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 192.0.2.7'
expect_status 403 "$U/verify" -H @"$(bearer "$FAR")" -H 'X-Forwarded-For: 198.51.100.1'
expect_body '"reason":"address"'
[ "$(metric tokenadm_cache_entries)" -ge 2 ] || fail "no entries kept"

# --- a revoke is heard at once (NOTIFY at its commit)
FLUSHES=$(metric tokenadm_cache_flushes_total)
run_token 0 revoke "$A_ID"
eventually 401 "$U/verify?role=api" -H @"$(bearer "$A")"
expect_body '"reason":"revoked"'
[ "$(metric tokenadm_cache_flushes_total)" -gt "$FLUSHES" ] || fail "the revoke did not empty the cache"

# --- so is SQL by hand: a role taken away
expect_status 200 "$U/verify?role=api" -H @"$(bearer "$B")"
expect_status 200 "$U/verify?role=api" -H @"$(bearer "$B")"
sql "update tokenadm.tokens set roles = '{feed}' where id = '$B_ID'"
eventually 403 "$U/verify?role=api" -H @"$(bearer "$B")"
# ... but not a verify's own write (last_used_at, uses)
HITS=$(metric tokenadm_cache_hits_total)
expect_status 200 "$U/verify?role=feed" -H @"$(bearer "$B")"
sql "update tokenadm.tokens set last_used_at = now(), uses = uses where id = '$B_ID'"
expect_status 200 "$U/verify?role=feed" -H @"$(bearer "$B")"
[ "$(metric tokenadm_cache_hits_total)" = $((HITS + 1)) ] || fail "a last_used_at update emptied the cache"

# --- a use-limited token is never cached: each use is counted
expect_status 200 "$U/verify" -H @"$(bearer "$L")"
expect_status 200 "$U/verify" -H @"$(bearer "$L")"
expect_status 401 "$U/verify" -H @"$(bearer "$L")"
expect_body '"reason":"used-up"'

# --- nor is a rotated-out token in its overlap: each use is flagged
create_token --owner gus
run_token 0 rotate "$TOK_ID" --overlap 1h
HITS=$(metric tokenadm_cache_hits_total)
expect_status 200 "$U/verify" -H @"$(bearer "$TOK")"
expect_status 200 "$U/verify" -H @"$(bearer "$TOK")"
[ "$(metric tokenadm_cache_hits_total)" = "$HITS" ] || fail "a rotated-out token was answered from the cache"

# --- an entry ends when its token expires, long before cache_ttl
sql "update tokenadm.tokens set expires_at = now() + interval '2 seconds' where id = '$E_ID'"
HITS=$(metric tokenadm_cache_hits_total)
expect_status 200 "$U/verify" -H @"$(bearer "$E")"
expect_status 200 "$U/verify" -H @"$(bearer "$E")"
[ "$(metric tokenadm_cache_hits_total)" = $((HITS + 1)) ] || fail "the expiring token was not cached"
sleep 2.2
expect_status 401 "$U/verify" -H @"$(bearer "$E")"
expect_body '"reason":"expired"'

# --- the trigger disabled by hand (changes would go unheard): off at the
# next check (every 5 s), saying why; on again once it fires always
sql "alter table tokenadm.tokens disable trigger tokens_changed"
wait_log 'cache: off.*tokens_changed on tokenadm.tokens is disabled or not ENABLE ALWAYS' 1
[ "$(metric tokenadm_cache_entries)" = 0 ] || fail "entries kept with the trigger disabled"
sql "alter table tokenadm.tokens enable always trigger tokens_changed"
wait_log 'cache: on' 2

# --- the listening connection lost: everything dropped, nothing kept
# until it is back (then kept again)
create_token --owner frank
F=$TOK
expect_status 200 "$U/verify" -H @"$(bearer "$F")"
sql "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'tokenadm serve cache' and datname = current_database()" >/dev/null
wait_log 'cache: off.*lost the listening connection' 1
[ "$(metric tokenadm_cache_entries)" = 0 ] || fail "entries kept after the listening connection was lost"
wait_log 'cache: on' 3
[ "$(metric tokenadm_cache_listening)" = 1 ] || fail "not listening again"
expect_status 200 "$U/verify" -H @"$(bearer "$F")"
HITS=$(metric tokenadm_cache_hits_total)
expect_status 200 "$U/verify" -H @"$(bearer "$F")"
[ "$(metric tokenadm_cache_hits_total)" = $((HITS + 1)) ] || fail "nothing cached after listening again"

# --- the database out of reach: 503, never the cached 200; back by itself
sql_admin "alter database \"$DB\" allow_connections false"
sql_admin "select pg_terminate_backend(pid) from pg_stat_activity where datname = '$DB' and pid <> pg_backend_pid()" >/dev/null
eventually 503 "$U/verify" -H @"$(bearer "$F")"
expect_body '"reason":"unavailable"'
[ "$(metric tokenadm_cache_listening)" = 0 ] || fail "listening without a database"
sql_admin "alter database \"$DB\" allow_connections true"
eventually 200 "$U/verify" -H @"$(bearer "$F")"
wait_log 'cache: on' 4

# --- SIGHUP: the cache starts again, empty
kill -HUP "$SERVE_PID"
wait_log 'reloaded the configuration' 1
wait_log 'cache: on' 5
[ "$(metric tokenadm_cache_entries)" = 0 ] || fail "entries kept across a reload"
expect_status 200 "$U/verify" -H @"$(bearer "$F")"
check_clean "$LOG"
stop_serve
pass
