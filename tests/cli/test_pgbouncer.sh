# Through pgbouncer in transaction pooling mode: no session state, no named
# prepared statements kept across transactions.
. "$(dirname "$0")/common.sh"
run_token 0 init

PGB=/usr/sbin/pgbouncer
[ -x "$PGB" ] || fail "pgbouncer is not installed (scripts/install-deps)"
dir=$(mktemp -d)
chmod 755 "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$dir/pgbouncer.ini" <<INI
[databases]
$DB = host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
echo "\"$PGUSER\" \"\"" >"$dir/users.txt"
as=()
if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; as=(runuser -u postgres --); fi
"${as[@]}" "$PGB" -d "$dir/pgbouncer.ini"
trap 'kill "$(cat "$dir/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir" "$TMP"' EXIT
for _ in $(seq 50); do [ -s "$dir/pgbouncer.pid" ] && break; sleep 0.1; done

export TOKENADM_DSN="host=127.0.0.1 port=$port dbname=$DB user=$PGUSER"
run_token 0 create --owner bouncer --label one
remember_secret "$(cat "$TMP/out")"
run_token 0 create --count 10000 --owner bouncer --label bulk
cp "$TMP/out" "$TMP/tokens"
run_token 0 list --owner bouncer --format tsv
[ "$(wc -l <"$TMP/out")" = 10001 ] || fail "list through pgbouncer"
run_token 0 revoke "$(sed -n 1p "$TMP/tokens" | cut -d_ -f2)"
run_token 0 ensure --owner bouncer --label ensured
remember_secret "$(cat "$TMP/out")"
run_token 0 rotate "$(sed -n 2p "$TMP/tokens" | cut -d_ -f2)"
remember_secret "$(cat "$TMP/out")"
# 10,000 batch verifies, several clients at once: zero errors.
for i in 1 2 3; do "$TOKEN" verify --batch <"$TMP/tokens" >"$TMP/answers.$i" 2>"$TMP/err.$i" & done
"$TOKEN" verify --batch --no-touch <"$TMP/tokens" >"$TMP/answers.4" 2>"$TMP/err.4"
wait
for i in 1 2 3 4; do
  [ ! -s "$TMP/err.$i" ] || { cp "$TMP/err.$i" "$TMP/err"; fail "batch $i wrote errors"; }
  [ "$(grep -c '^ok ' "$TMP/answers.$i")" = 9998 ] || fail "batch $i: $(grep -vc '^ok ' "$TMP/answers.$i") not ok"
  [ "$(grep -c '^deny revoked$' "$TMP/answers.$i")" = 2 ] || fail "batch $i revoked answers"
done
for t in $(sed -n 3,20p "$TMP/tokens"); do
  run_token 0 verify <<<"$t"
done
run_token 0 audit --limit 5
run_token 0 show "$(sed -n 3p "$TMP/tokens" | cut -d_ -f2)"
grep -qi 'error' "$dir/pgbouncer.log" && { grep -i error "$dir/pgbouncer.log" | head -3 >&2; fail "pgbouncer logged errors"; }
# Batch lookups are prepared only on a direct connection (the server sees
# the address and port connected to): none was left on pgbouncer's server
# connections.
for _ in 1 2 3 4 5 6; do
  n=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$port" -d "$DB" -c "select count(*) from pg_prepared_statements where name like 'tokenadm%'")
  [ "$n" = 0 ] || fail "$n prepared statements left on a server connection behind pgbouncer"
done

# A pooler answering on PostgreSQL's own port number (pgbouncer on
# 127.0.0.2): the server sees another address than the one connected to,
# so nothing is prepared there either, and the answers are the same.
sed -e "s/^listen_addr = .*/listen_addr = 127.0.0.2/" -e "s/^listen_port = .*/listen_port = $PGPORT/" \
    -e "s#^logfile = .*#logfile = $dir/pgbouncer2.log#" -e "s#^pidfile = .*#pidfile = $dir/pgbouncer2.pid#" \
    "$dir/pgbouncer.ini" >"$dir/pgbouncer2.ini"
[ "$(id -u)" != 0 ] || chown postgres: "$dir/pgbouncer2.ini"
"${as[@]}" "$PGB" -d "$dir/pgbouncer2.ini"
trap 'kill "$(cat "$dir/pgbouncer.pid" 2>/dev/null)" "$(cat "$dir/pgbouncer2.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir" "$TMP"' EXIT
for _ in $(seq 50); do [ -s "$dir/pgbouncer2.pid" ] && break; sleep 0.1; done
export TOKENADM_DSN="host=127.0.0.2 port=$PGPORT dbname=$DB user=$PGUSER"
run_token 0 verify --batch --no-touch <"$TMP/tokens"
cmp -s "$TMP/out" "$TMP/answers.4" || fail "answers through a pooler on the server's port differ"
for _ in 1 2 3 4 5 6; do
  n=$("$PGBIN/psql" -X -At -h 127.0.0.2 -p "$PGPORT" -d "$DB" -c "select count(*) from pg_prepared_statements where name like 'tokenadm%'")
  [ "$n" = 0 ] || fail "$n prepared statements left behind a pooler on the server's port"
done
# serve's cache needs notifications, which a pooler cannot pass on: through
# pgbouncer it stays off (said in the log), and every request is looked up.
. "$(dirname "$0")/serve_common.sh"
trap 'stop_serve; kill "$(cat "$dir/pgbouncer.pid" 2>/dev/null)" "$(cat "$dir/pgbouncer2.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir" "$TMP"' EXIT
start_serve "$TMP/serve.log" --cache-ttl 60 --listen 127.0.0.1:0
for _ in $(seq 50); do grep -q 'cache: off' "$TMP/serve.log" && break; sleep 0.1; done
grep -q 'cache: off.*through a pooler or proxy' "$TMP/serve.log" || { cp "$TMP/serve.log" "$TMP/err"; fail "serve's cache did not say it is off through pgbouncer"; }
T3=$(sed -n 3p "$TMP/tokens")
expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$T3")"
expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$T3")"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -qx 'tokenadm_cache_hits_total 0' || fail "answers cached through pgbouncer"
stop_serve
pass
