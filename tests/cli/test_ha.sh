# High availability (label ha): a pg_auto_failover formation (monitor + two
# data nodes, synchronous replication) on loopback. While `token create`
# runs in a loop and `verify --batch` co-processes keep verifying, the
# primary's postmaster is killed (kill -9): first alone (its keeper
# restarts it, or the monitor fails over: either will do), then with its
# keeper, as a lost host, so that the monitor fails over. Asserts: no token
# printed with exit 0 is lost, a create that fails prints nothing and one
# line, the co-processes answer every line and never exit; then the old
# primary comes back as a standby and verifies reach it. Prints the figures
# as "ha: ..." lines; asserts no time.
if [ -z "${HA_DSN:-}" ]; then
  command -v pg_autoctl >/dev/null || { echo "skip: pg_autoctl is not installed (scripts/install-deps)"; exit 77; }
  exec "$(dirname "$0")/../../scripts/with-ha" bash "$0" "$@"
fi
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve_common.sh"
export TOKENADM_DSN=$HA_DSN
PSQL=$PGBIN/psql
node_port() { local p=HA_PORT$1; echo "${!p}"; }
# nsql N SQL: psql on node N (bounded: a hung node fails the test, not ctest).
nsql() {
  timeout 30 "$PSQL" -X -q -At -v ON_ERROR_STOP=1 \
    -d "postgresql://postgres@127.0.0.1:$(node_port "$1")/tokenadm?connect_timeout=5" -c "$2"
}
# nodes_in STATE: the nodes (1, 2) whose reported and assigned states are
# both STATE, from the monitor. Whole fields: "wait_primary" is not
# "primary", nor "join_secondary" "secondary".
nodes_in() {
  ha_autoctl show state --pgdata "$HA_MONITOR" 2>/dev/null \
    | awk -F'|' -v s="$1" '{ for (i = 1; i <= NF; i++) gsub(/^ +| +$/, "", $i) }
                          $6 == s && $7 == s { print $2 }'
}
# The node pg_auto_failover has as primary (1 or 2).
primary_node() { nodes_in primary; }
# The node promoted after a failover: wait_primary while it has no standby.
promoted_node() { nodes_in primary; nodes_in wait_primary; }
state() { ha_autoctl show state --pgdata "$HA_MONITOR" 2>&1 | sed 's/^/    /'; tail -n 15 "$HA_DIR"/*.log 2>/dev/null; }
now() { printf '%s' "$EPOCHREALTIME"; }

run_token 0 init
P=$(primary_node)
[ "$P" = 1 ] || [ "$P" = 2 ] || { state >"$TMP/err"; fail "no primary in the formation"; }
S=$(( 3 - P ))
# Synchronous: a commit on the primary waits for the standby.
sync=$(nsql "$P" "show synchronous_standby_names")
[ -n "$sync" ] || fail "synchronous_standby_names is empty on the primary"
[ "$(nsql "$P" "show synchronous_commit")" = on ] || fail "synchronous_commit is not on"
echo "formation: primary node$P, standby node$S, synchronous_standby_names = $sync"

# Tokens known before the failover, for the co-processes to verify.
: >"$TMP/known"
for i in 1 2 3; do
  create_token --owner "before-$i"
  printf '%s\n' "$TOK" >>"$TMP/known"
done
create_token --owner limited --max-uses 3
LIM_TOK=$TOK; LIM_ID=$TOK_ID

# Two co-processes: one on the verify DSN (every node, prefer-standby), one
# on the write DSN (the primary only), to see the gap each one has. Each
# talks through two FIFOs (bash has one coproc at a time).
# start_batch NAME TOKEN-ARGS...: sets NAME_pid, NAME_in, NAME_out.
start_batch() {
  local name=$1 fd_in fd_out
  shift
  mkfifo "$TMP/$name.in" "$TMP/$name.out"
  "$TOKEN" "$@" verify --batch <"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  printf -v "${name}_pid" %s "$!"
  exec {fd_in}>"$TMP/$name.in" {fd_out}<"$TMP/$name.out"
  printf -v "${name}_in" %s "$fd_in"
  printf -v "${name}_out" %s "$fd_out"
}
# token serve with its cache, on the write DSN, through the failovers: its
# listening connection is lost with the primary, and listens again on the
# new one (checked at the end). Started before the co-processes' FIFOs are
# opened: it must not hold their write ends (they would never see EOF).
start_serve "$TMP/serve.log" --cache-ttl 300 --listen 127.0.0.1:0
trap 'rc=$?; stop_serve; rm -rf "$TMP"; exit $rc' EXIT
SERVE_URL=http://127.0.0.1:$PORT/verify
start_batch vs --verify-dsn "$HA_VERIFY_DSN"
start_batch vp
: >"$TMP/vs.log"; : >"$TMP/vp.log"
# ask IN OUT LOG TOKEN: one line in, one answer out within 20 s, logged as
# "TIME ANSWER".
ask() {
  local ans=
  printf '%s\n' "$4" >&"$1" || fail "a co-process stopped reading"
  read -r -t 20 ans <&"$2" || fail "a co-process gave no answer within 20 s"
  printf '%s %s\n' "$(now)" "$ans" >>"$3"
}

# The create loop, in the background: each create's exit status and output.
mkdir "$TMP/creates"
create_loop() {
  local i=0 rc
  while [ ! -e "$TMP/stop" ]; do
    i=$(( i + 1 ))
    rc=0
    "$TOKEN" --timeout 20 create --owner "loop-$i" >"$TMP/creates/$i.out" 2>"$TMP/creates/$i.err" || rc=$?
    printf '%s %s\n' "$(now)" "$rc" >"$TMP/creates/$i.rc"
    sleep 0.05
  done
}
create_loop &
loop_pid=$!
# On any exit, a failure too: stop the loop before common.sh removes $TMP
# (else it runs on, holding ctest's output pipe open until the timeout).
stop_loop() {
  touch "$TMP/stop"
  kill "$loop_pid" 2>/dev/null || true
  wait "$loop_pid" 2>/dev/null || true
}
trap 'rc=$?; stop_loop; stop_serve; rm -rf "$TMP"; exit $rc' EXIT
verify_round() {
  local t
  t=$(shuf -n 1 "$TMP/known")
  ask "$vs_in" "$vs_out" "$TMP/vs.log" "$t"
  ask "$vp_in" "$vp_out" "$TMP/vp.log" "$t"
}
for _ in $(seq 10); do verify_round; sleep 0.1; done
grep -q ' ok ' <(sed 's/^[^ ]* / /' "$TMP/vs.log") || { cp "$TMP/vs.log" "$TMP/out"; fail "the verify co-process answered no ok before the failover"; }

# answered_ok: both co-processes' last answers are ok.
answered_ok() {
  [ "$(tail -1 "$TMP/vs.log" | cut -d' ' -f2)" = ok ] && [ "$(tail -1 "$TMP/vp.log" | cut -d' ' -f2)" = ok ]
}
# created_since TIME: a create started after TIME exited 0.
created_since() { awk -v k="$1" '$1 > k && $2 == 0 { f = 1 } END { exit !f }' "$TMP"/creates/*.rc; }
# settled: the monitor has one primary and one secondary, both as assigned
# (a node still reporting wait_primary is not yet one the monitor fails
# over from).
settled() { [ "$(nodes_in primary | wc -l)" = 1 ] && [ "$(nodes_in secondary | wc -l)" = 1 ]; }

# 1. Kill -9 the primary's postmaster alone. Its keeper (pg_autoctl)
# restarts it, often before the monitor notices; or the monitor fails over.
# Either outcome will do: writes and verifies come back (and nothing is
# lost: checked below with the rest).
first_node=$P
pm=$(head -1 "$HA_DIR/node$P/postmaster.pid")
first_at=$(now)
kill -9 "$pm"
deadline=$(( SECONDS + 120 ))
while :; do
  verify_round
  answered_ok && created_since "$first_at" && break
  [ "$SECONDS" -lt "$deadline" ] || { state >"$TMP/err"; fail "writes did not come back within 120 s of killing node$P's postmaster"; }
  sleep 0.2
done
first_back=$(awk -v a="$first_at" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
deadline=$(( SECONDS + 150 ))
until settled; do
  [ "$SECONDS" -lt "$deadline" ] || { state >"$TMP/err"; fail "the formation did not settle within 150 s of the first kill"; }
  sleep 1
done
if [ "$(primary_node)" = "$P" ]; then
  first_outcome="restarted by its keeper"
else
  first_outcome="failed over to node$S"
  P=$S; S=$(( 3 - P ))
fi
echo "killed node$first_node's postmaster alone: $first_outcome; writes and verifies back after ${first_back}s"

# 2. Kill -9 the primary's postmaster with its keeper, as a whole host
# going down would, so that the monitor fails over.
pm=$(head -1 "$HA_DIR/node$P/postmaster.pid")
keeper=$(ha_node_pgid "$P")
kill -STOP -- "-$keeper" 2>/dev/null || true
kill_at=$(now)
kill -9 "$pm"
kill -9 -- "-$keeper" 2>/dev/null || true
echo "killed node$P: postmaster $pm (kill -9) and its keeper"

# Until the old standby is the primary and both co-processes answer ok
# again, and a create went through after the kill: at most 120 s.
deadline=$(( SECONDS + 120 ))
promoted=
while :; do
  verify_round
  [ -n "$promoted" ] || { [ "$(promoted_node)" = "$S" ] && promoted=$(now); }
  if [ -n "$promoted" ] && answered_ok && created_since "$kill_at"; then
    break
  fi
  [ "$SECONDS" -lt "$deadline" ] || { state >"$TMP/err"; fail "no failover within 120 s"; }
  sleep 0.2
done
for _ in $(seq 5); do verify_round; sleep 0.1; done
touch "$TMP/stop"
wait "$loop_pid"   # ends by itself: its last create's status is kept

# The creates: 0, or 1/2 with one line and nothing on stdout.
created=0; refused=0
: >"$TMP/printed"
for f in "$TMP"/creates/*.rc; do
  n=$(basename "$f" .rc)
  read -r _ rc <"$f"
  case $rc in
    0)
      t=$(cat "$TMP/creates/$n.out")
      [[ "$t" =~ ^tka_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}$ ]] || fail "create $n exited 0 without a token"
      remember_secret "$t"
      printf '%s\n' "$t" >>"$TMP/printed"
      created=$(( created + 1 )) ;;
    1 | 2)
      cp "$TMP/creates/$n.err" "$TMP/err"; cp "$TMP/creates/$n.out" "$TMP/out"
      [ ! -s "$TMP/creates/$n.out" ] || fail "create $n exited $rc but printed something"
      expect_one_line_err
      refused=$(( refused + 1 )) ;;
    *) cp "$TMP/creates/$n.err" "$TMP/err"; fail "create $n exited $rc" ;;
  esac
done
check_clean "$TMP"/creates/*.err
[ "$refused" -gt 0 ] || echo "note: no create was refused (the failover fell between two creates)"

# Zero lost: every printed token verifies on the new primary.
cat "$TMP/known" >>"$TMP/printed"
run_token 0 verify --batch --no-touch <"$TMP/printed"
total=$(wc -l <"$TMP/printed")
oks=$(grep -c '^ok ' "$TMP/out" || true)
lost=$(( total - oks ))
[ "$lost" = 0 ] || fail "$lost of $total tokens printed with exit 0 do not verify on the new primary"

# The co-processes: alive, every line answered, ok or error unavailable only.
kill -0 "$vs_pid" 2>/dev/null || fail "the verify-DSN co-process exited"
kill -0 "$vp_pid" 2>/dev/null || fail "the main-DSN co-process exited"
for log in vs vp; do
  if grep -Ev '^[0-9.]+ (ok [0-9A-Za-z]{10} before-[0-9]|error unavailable$)' "$TMP/$log.log" >"$TMP/err"; then
    fail "unexpected answers from the $log co-process"
  fi
done
# gap LOG: seconds from the kill to the first ok after the last error (0
# when there was none).
gap() {
  awk -v k="$kill_at" '$1 >= k && $2 == "error" { last = $1 } END { print last == "" ? "" : last }' "$1" >"$TMP/last_err"
  local last
  last=$(cat "$TMP/last_err")
  if [ -z "$last" ]; then echo 0; return; fi
  awk -v k="$kill_at" -v l="$last" '$1 > l && $2 == "ok" { printf "%.1f", $1 - k; exit }' "$1"
}
vs_gap=$(gap "$TMP/vs.log"); vp_gap=$(gap "$TMP/vp.log")
vs_err=$(grep -c ' error unavailable$' "$TMP/vs.log" || true)
vp_err=$(grep -c ' error unavailable$' "$TMP/vp.log" || true)
promo=$(awk -v a="$kill_at" -v b="$promoted" 'BEGIN { printf "%.1f", b - a }')
exec {vs_in}>&- {vp_in}>&-
rc=0; wait "$vs_pid" || rc=$?
[ "$rc" = 0 ] || fail "the verify-DSN co-process exited $rc at the end of its input"
rc=0; wait "$vp_pid" || rc=$?
[ "$rc" = 0 ] || fail "the main-DSN co-process exited $rc at the end of its input"

# The old primary comes back as a standby (pg_autoctl rewinds it), and
# verifies on the verify DSN reach it.
ha_start_node "$P"
deadline=$(( SECONDS + 150 ))
until nodes_in secondary | grep -qx "$P"; do
  [ "$SECONDS" -lt "$deadline" ] || { state >"$TMP/err"; fail "node$P did not come back as a standby within 150 s"; }
  sleep 1
done
[ "$(nsql "$P" "select pg_is_in_recovery()")" = t ] || fail "node$P is back but not in recovery"
# A new co-process on the verify DSN (prefer-standby) lands on node$P, the
# only standby: every printed token verifies there, and node$P shows its
# connection.
start_batch vr --verify-dsn "$HA_VERIFY_DSN&application_name=tokenadm_ha_verify"
while read -r t; do
  ask "$vr_in" "$vr_out" "$TMP/vr.log" "$t"
done <"$TMP/printed"
[ "$(grep -c ' ok ' "$TMP/vr.log")" = "$total" ] || { cp "$TMP/vr.log" "$TMP/out"; cp "$TMP/vr.err" "$TMP/err"; fail "verifies through the returned standby failed"; }
[ "$(nsql "$P" "select count(*) from pg_stat_activity where application_name = 'tokenadm_ha_verify'")" = 1 ] \
  || fail "the verify DSN's connection is not on the returned standby node$P"
exec {vr_in}>&-
rc=0; wait "$vr_pid" || rc=$?
[ "$rc" = 0 ] || fail "the co-process on the returned standby exited $rc"
# On the standby a use-limited token is refused (its use cannot be counted),
# and nothing is written there.
run_token 2 --verify-dsn "postgresql://postgres@127.0.0.1:$(node_port "$P")/tokenadm" verify <<<"$LIM_TOK"
expect_one_line_err; expect_err '^token: forbidden: .*cannot count'
run_token 0 verify <<<"$LIM_TOK"   # on the primary: counted
[ "$(nsql "$S" "select uses from tokenadm.tokens where id = '$LIM_ID'")" = 1 ] || fail "the use on the primary was not counted once"
# Writes still go to the primary, through the multi-host DSN.
create_token --owner after
[ "$(nsql "$S" "select count(*) from tokenadm.tokens where id = '$TOK_ID'")" = 1 ] || fail "the create after the failover is not on the new primary"

# serve's cache: off when its primary went, on again on the new one, where
# a revoke empties it at once.
grep -q 'cache: off' "$TMP/serve.log" || { cp "$TMP/serve.log" "$TMP/err"; fail "serve's cache did not notice the lost primary"; }
for _ in $(seq 300); do [ "$(grep -c 'cache: on' "$TMP/serve.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c 'cache: on' "$TMP/serve.log")" -ge 2 ] || { cp "$TMP/serve.log" "$TMP/err"; fail "serve's cache did not listen again on the new primary"; }
create_token --owner cached
expect_status 200 "$SERVE_URL" -H @"$(bearer "$TOK")"
expect_status 200 "$SERVE_URL" -H @"$(bearer "$TOK")"
curl -s "${SERVE_URL%/verify}/metrics" | grep -q '^tokenadm_cache_hits_total [1-9]' || fail "serve's cache answered nothing after the failover"
run_token 0 revoke "$TOK_ID"
for _ in $(seq 50); do [ "$(hit "$SERVE_URL" -H @"$(bearer "$TOK")")" = 401 ] && break; sleep 0.1; done
expect_status 401 "$SERVE_URL" -H @"$(bearer "$TOK")"
stop_serve
# On the verify DSN, which prefers the standby: a standby cannot LISTEN, so
# the cache stays off and says so; answers come from the standby.
start_serve "$TMP/serve.log" --verify-dsn "$HA_VERIFY_DSN" --cache-ttl 300 --listen 127.0.0.1:0
for _ in $(seq 100); do grep -q 'cache: off' "$TMP/serve.log" && break; sleep 0.1; done
grep -q 'cache: off.*LISTEN during recovery' "$TMP/serve.log" || { cp "$TMP/serve.log" "$TMP/err"; fail "serve's cache on a standby did not say it is off"; }
expect_status 200 "http://127.0.0.1:$PORT/verify" -H @"$(bearer "$(sed -n 1p "$TMP/known")")"
stop_serve

echo "ha: tokens created $created, lost $lost (of $total printed or known, verified on the new primary)"
echo "ha: creates refused during the failover $refused (exit 1 or 2, one line, nothing printed)"
echo "ha: postmaster alone killed: $first_outcome, writes and verifies back after ${first_back}s"
echo "ha: postmaster and keeper killed: promotion ${promo}s after the kill"
echo "ha: verify gap ${vs_gap}s on the verify DSN (prefer-standby, $vs_err error unavailable), ${vp_gap}s on the main DSN ($vp_err error unavailable)"
pass
