# Faults: the server killed mid-create, a server that never answers, a
# read-only database, a hot standby. Needs its own throwaway cluster (it kills
# it), started the way scripts/with-postgres starts one.
. "$(dirname "$0")/common.sh"

as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
PGD=$(mktemp -d "${TMPDIR:-/tmp}/tokenadm-faults.XXXXXX")
chmod 755 "$PGD"
[ "$(id -u)" -eq 0 ] && chown postgres: "$PGD"
LISTENER_PID=
cleanup_faults() {
  [ -z "$LISTENER_PID" ] || kill "$LISTENER_PID" 2>/dev/null || true
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/replica" -m immediate -w stop >/dev/null 2>&1 || true
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PGD" "$TMP"
}
trap cleanup_faults EXIT

"${as[@]}" "$PGBIN/initdb" -D "$PGD/data" -U tokenadm --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$TMP/initdb.log" 2>&1 || { cp "$TMP/initdb.log" "$TMP/err"; fail "initdb"; }
# Unix socket only, in $PGD: any port number is free there. fsync may be off
# (the OS does not crash, only the server); synchronous_commit stays on, or an
# acknowledged commit could be lost by design.
FPORT=$(( 20000 + RANDOM % 30000 ))
RPORT=$(( FPORT + 1 ))
start_primary() {
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 30 \
    -o "-c listen_addresses='' -k $PGD -p $FPORT -c fsync=off -c full_page_writes=off" \
    start >/dev/null 2>&1 || { tail -5 "$PGD/server.log" >"$TMP/err"; fail "the test cluster did not start"; }
}
kill_primary() { "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate -w stop >/dev/null 2>&1; }
# later MSG [FILE]: a failure reported at the end, so the other checks still run.
later() {
  { echo "$1"; [ -z "${2:-}" ] || sed 's/^/    /' "$2"; } | redact >>"$TMP/later"
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
fsql() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGD" -p "$FPORT" -U tokenadm -d "$1" -c "$2"; }
start_primary
"$PGBIN/createdb" -h "$PGD" -p "$FPORT" -U tokenadm faults
F_DSN="host=$PGD port=$FPORT user=tokenadm dbname=faults"
TOKENADM_DSN=$F_DSN run_token 0 init

# --- 1. The server killed (immediate stop) at random points of `token create`.
# Exit 0, 1 or 2, never a signal; a token printed with exit 0 was committed
# and verifies once the server is back; nothing printed on a failure.
ROUNDS=100
# The kill lands anywhere in a create's life: the delay is drawn from 0 to
# 1.2x what one uninterrupted create takes here (longer under ASan or load).
t0=$EPOCHREALTIME
TOKENADM_DSN=$F_DSN "$TOKEN" create --owner calibrate >"$TMP/kc.out" 2>"$TMP/kc.err" || fail "the calibration create failed"
remember_secret "$(cat "$TMP/kc.out")"
span=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1200 }')
[ "$span" -ge 30 ] || span=30
: >"$TMP/kill.tokens"
: >"$TMP/kill.log"
declare -A seen=()
prev=
loop_start=$EPOCHREALTIME
for i in $(seq "$ROUNDS"); do
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" status >/dev/null 2>&1 || start_primary
  if [ -n "$prev" ]; then
    rc=0; TOKENADM_DSN=$F_DSN "$TOKEN" verify --no-touch <<<"$prev" >"$TMP/kv.out" 2>"$TMP/kv.err" || rc=$?
    cat "$TMP/kv.out" "$TMP/kv.err" >>"$TMP/kill.log"
    [ "$rc" = 0 ] || { cp "$TMP/kv.err" "$TMP/err"; fail "round $((i - 1)): create exited 0 but its token does not verify after a restart (exit $rc)"; }
    prev=
  fi
  TOKENADM_DSN=$F_DSN "$TOKEN" create --owner "r$i" >"$TMP/kc.out" 2>"$TMP/kc.err" &
  cpid=$!
  sleep "$(awk -v ms=$(( RANDOM % (span + 1) )) 'BEGIN { printf "%.3f", ms / 1000 }')"
  kill_primary
  rc=0; wait "$cpid" || rc=$?
  cat "$TMP/kc.err" >>"$TMP/kill.log"   # stderr only: stdout holds the token
  seen[$rc]=$(( ${seen[$rc]:-0} + 1 ))
  case $rc in
    0)
      prev=$(cat "$TMP/kc.out")
      [[ "$prev" =~ ^tka_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}$ ]] || { cp "$TMP/kc.err" "$TMP/err"; fail "round $i: create exited 0 without printing a token"; }
      printf '%s\n' "$prev" >>"$TMP/kill.tokens" ;;
    1 | 2)
      [ ! -s "$TMP/kc.out" ] || fail "round $i: create exited $rc but printed something on stdout"
      # When the server goes away during the connection start-up, libpq's
      # default notice processor would print the server's "WARNING:
      # terminating connection due to immediate shutdown command" before the
      # tool's own line (fixed: stderr is parked while connecting).
      { [ "$(wc -l <"$TMP/kc.err")" = 1 ] && grep -q '^token: ' "$TMP/kc.err"; } \
        || later "round $i: create exited $rc without a one-line 'token: ' reason" "$TMP/kc.err" ;;
    *)
      cp "$TMP/kc.err" "$TMP/err"
      fail "round $i: create killed mid-way exited $rc (a signal or crash: only 0, 1 or 2 are allowed)" ;;
  esac
done
"${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" status >/dev/null 2>&1 || start_primary
if [ -n "$prev" ]; then
  TOKENADM_DSN=$F_DSN run_token 0 verify --no-touch <<<"$prev"
fi
while read -r t; do remember_secret "$t"; done <"$TMP/kill.tokens"
check_clean "$TMP/kill.log"
# Every printed token is in the table (none lost), and each row's audit row too.
[ "$(fsql faults "select count(*) from tokenadm.tokens t where t.id in ($(cut -d_ -f2 "$TMP/kill.tokens" | sed "s/.*/'&'/" | paste -sd, | sed 's/^$/null/'))
                  and exists (select 1 from tokenadm.audit a where a.token_id = t.id and a.action = 'create')")" \
  = "$(wc -l <"$TMP/kill.tokens")" ] || fail "a token printed by create is missing (or its audit row)"
echo "kill loop: $ROUNDS rounds in $(elapsed "$loop_start" "$EPOCHREALTIME") s; exit codes: $(for k in "${!seen[@]}"; do printf '%s:%s ' "$k" "${seen[$k]}"; done)"
# Not vacuous: some creates got through (and, normally, some were cut off).
[ "${seen[0]:-0}" -gt 0 ] || fail "no create survived in $ROUNDS rounds"
[ $(( ${seen[1]:-0} + ${seen[2]:-0} )) -gt 0 ] || echo "note: no create was cut off in $ROUNDS rounds (a slow machine?)"

# --- 2. A server that accepts and never answers: --timeout 2 holds for every
# subcommand that connects (connect_timeout=30 in the DSN notwithstanding):
# each exits 1 saying it timed out, where ignoring --timeout would have been
# killed by the outer `timeout 30` (124). No wall-clock is asserted.
python3 - "$TMP/listener.port" <<'PY' &
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(256)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = s.accept()
    held.append(c)   # never read, never written, never closed
PY
LISTENER_PID=$!
for _ in $(seq 50); do [ -s "$TMP/listener.port" ] && break; sleep 0.1; done
[ -s "$TMP/listener.port" ] || fail "the listener did not start"
HUNG_DSN="postgresql://u@127.0.0.1:$(cat "$TMP/listener.port")/x?connect_timeout=30"
sample=$(fsql faults "select id from tokenadm.tokens limit 1")
TOKENADM_DSN=$F_DSN create_token --owner hung
HUNG_TOK=$TOK
LEGACY=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
remember_secret "$LEGACY"
hung() {  # hung NAME STDIN ARGS...
  local name=$1 input=$2 t0 t1 rc=0
  shift 2
  t0=$EPOCHREALTIME
  printf '%s' "$input" | TOKENADM_DSN=$HUNG_DSN timeout 30 "$TOKEN" --timeout 2 "$@" \
    >"$TMP/hung.$name.out" 2>"$TMP/hung.$name.err" || rc=$?
  t1=$EPOCHREALTIME
  printf '%s %s %s\n' "$name" "$rc" "$(elapsed "$t0" "$t1")" >"$TMP/hung.$name.res"
}
pids=()
hung init     ''              init &                         pids+=($!)
hung create   ''              create &                       pids+=($!)
hung list     ''              list &                         pids+=($!)
hung show     ''              show "$sample" &               pids+=($!)
hung verify   "$HUNG_TOK"$'\n' verify &                      pids+=($!)
hung revoke   ''              revoke "$sample" &             pids+=($!)
hung rotate   ''              rotate "$sample" &             pids+=($!)
hung renew    ''              renew "$sample" &              pids+=($!)
hung prune    ''              prune --older-than 1d &        pids+=($!)
hung audit    ''              audit &                        pids+=($!)
hung notify   ''              notify --dry-run &             pids+=($!)
hung ensure   ''              ensure --owner a --label b &   pids+=($!)
hung import   "$LEGACY"$'\n'  import &                       pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
for name in init create list show verify revoke rotate renew prune audit notify ensure import; do
  read -r _ rc secs <"$TMP/hung.$name.res"
  cp "$TMP/hung.$name.out" "$TMP/out"; cp "$TMP/hung.$name.err" "$TMP/err"
  check_clean "$TMP/out" "$TMP/err"
  [ "$rc" = 1 ] || fail "token --timeout 2 $name against a mute server exited $rc after ${secs}s, wanted 1"
  expect_one_line_err
  expect_err 'timed out while connecting'
done
kill "$LISTENER_PID" 2>/dev/null || true; LISTENER_PID=

# --- 3. A read-only database (default_transaction_read_only = on). --------
"$PGBIN/createdb" "${DB}_ro"
RO_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=${DB}_ro"
export TOKENADM_DSN=$RO_DSN
run_token 0 init
create_token --owner ro
RO_TOK=$TOK; RO_ID=$TOK_ID
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "${DB}_ro" -c "alter database \"${DB}_ro\" set default_transaction_read_only = on"
run_token 2 create --owner ro2
expect_one_line_err; expect_err 'read-only'
run_token 2 revoke "$RO_ID"
expect_one_line_err; expect_err 'read-only'
run_token 0 verify --no-touch <<<"$RO_TOK"
expect_out_exactly ro
run_token 0 list
expect_out "$RO_ID"
[ "$("$PGBIN/psql" -X -At -d "${DB}_ro" -c "select count(*) from tokenadm.tokens where revoked_at is null")" = 1 ] \
  || fail "the read-only database changed"
export TOKENADM_DSN=$BASE_DSN

# --- 4. A hot standby of the test cluster. ---------------------------------
"${as[@]}" "$PGBIN/pg_basebackup" -h "$PGD" -p "$FPORT" -U tokenadm -D "$PGD/replica" -R -X stream \
  >"$TMP/err" 2>&1 || fail "pg_basebackup"
"${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/replica" -l "$PGD/replica.log" -w -t 60 \
  -o "-c listen_addresses='' -k $PGD -p $RPORT -c fsync=off -c hot_standby=on -c log_statement=all" \
  start >/dev/null 2>&1 || { tail -5 "$PGD/replica.log" >"$TMP/err"; fail "the replica did not start"; }
R_DSN="host=$PGD port=$RPORT user=tokenadm dbname=faults"
rsql() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGD" -p "$RPORT" -U tokenadm -d faults -c "$1"; }
[ "$(rsql "select pg_is_in_recovery()")" = t ] || fail "the replica is not in recovery"
TOKENADM_DSN=$F_DSN create_token --owner primary-made
REP_TOK=$TOK; REP_ID=$TOK_ID
TOKENADM_DSN=$F_DSN create_token --owner primary-limited --max-uses 3
LIM_TOK=$TOK; LIM_ID=$TOK_ID
TOKENADM_DSN=$F_DSN create_token --owner primary-revoked
REV_TOK=$TOK
TOKENADM_DSN=$F_DSN run_token 0 revoke "$TOK_ID"
want=$(fsql faults "select count(*) from tokenadm.tokens where revoked_at is not null")
for _ in $(seq 100); do
  [ "$(rsql "select count(*) from tokenadm.tokens where revoked_at is not null")" = "$want" ] && break
  sleep 0.1
done
[ "$(rsql "select count(*) from tokenadm.tokens where id = '$REP_ID'")" = 1 ] || fail "the token did not replicate"
[ "$(rsql "select count(*) from tokenadm.tokens where revoked_at is not null")" = "$want" ] || fail "the revoke did not replicate"

export TOKENADM_DSN=$R_DSN
log_from=$(stat -c %s "$PGD/replica.log")
run_token 0 verify --no-touch <<<"$REP_TOK"
expect_out_exactly primary-made
run_token 2 verify --no-touch <<<"$REV_TOK"
expect_one_line_err; expect_err '^token: revoked: '
run_token 0 list
expect_out "$REP_ID"
run_token 0 list --format json
# read_only = true (here from the environment) makes plain verify write-free.
TOKENADM_READ_ONLY=true run_token 0 verify <<<"$REP_TOK"
TOKENADM_READ_ONLY=true run_token 2 verify <<<"$REV_TOK"
expect_err '^token: revoked: '
sleep 0.2   # the log is written by the server, asynchronously to us
tail -c +"$((log_from + 1))" "$PGD/replica.log" >"$TMP/replica.seg"
grep -Eq 'statement: |execute ' "$TMP/replica.seg" || fail "log_statement=all logged nothing on the replica"
if grep -Eiw 'insert|update|delete' "$TMP/replica.seg" >"$TMP/err"; then
  fail "verify --no-touch / list / read_only verify attempted a write on the replica"
fi
grep -Eiq 'read-only|recovery' "$TMP/replica.seg" && { cp "$TMP/replica.seg" "$TMP/err"; fail "the replica logged a refused write"; }
check_clean "$PGD/replica.log"
run_token 2 create --owner on-replica
expect_one_line_err; expect_err 'read-only'
run_token 2 revoke "$REP_ID"
expect_one_line_err; expect_err 'read-only'
# Without read_only or --no-touch, a verify on the standby finds out from the
# refused write and checks again without it: same answers, nothing written.
run_token 0 verify <<<"$REP_TOK"
expect_out_exactly primary-made
run_token 2 verify <<<"$REV_TOK"
expect_one_line_err; expect_err '^token: revoked: '
printf '%s\n' "$REP_TOK" "$REV_TOK" garbage "$REP_TOK" | run_token 0 verify --batch
[ "$(cut -d' ' -f1,2 "$TMP/out" | tr '\n' '|')" = "ok $REP_ID|deny revoked|deny malformed|ok $REP_ID|" ] || fail "verify --batch on the standby"
# A use-limited token is refused there: its use cannot be counted.
run_token 2 verify <<<"$LIM_TOK"
expect_one_line_err; expect_err '^token: forbidden: .*cannot count'
printf '%s\n' "$REP_TOK" "$LIM_TOK" | run_token 0 verify --batch
[ "$(cut -d' ' -f1,2 "$TMP/out" | tr '\n' '|')" = "ok $REP_ID|deny forbidden|" ] || fail "verify --batch of a use-limited token on the standby"
[ "$(fsql faults "select uses from tokenadm.tokens where id = '$LIM_ID'")" = 0 ] \
  || fail "a verify on the standby counted a use"
[ "$(fsql faults "select count(*) from tokenadm.tokens where id = '$REP_ID' and last_used_at is not null")" = 0 ] \
  || fail "a verify on the standby moved last_used_at"
export TOKENADM_DSN=$BASE_DSN

# --- Connection roles and multi-host DSNs, on the primary + standby. -------
# --verify-dsn (and TOKENADM_VERIFY_DSN) send verify to the standby; the
# other commands keep the main DSN.
log_from=$(stat -c %s "$PGD/replica.log")
TOKENADM_DSN=$F_DSN run_token 0 --verify-dsn "$R_DSN" verify --no-touch <<<"$REP_TOK"
expect_out_exactly primary-made
TOKENADM_DSN=$F_DSN TOKENADM_VERIFY_DSN=$R_DSN run_token 0 verify --batch --no-touch <<<"$REP_TOK"
expect_out "^ok $REP_ID "
TOKENADM_DSN=$F_DSN TOKENADM_VERIFY_DSN=$R_DSN create_token --owner made-on-primary
sleep 0.2
[ "$(grep -Ec '(statement|execute [^:]*): .*tokenadm.tokens' <(tail -c +"$((log_from + 1))" "$PGD/replica.log"))" -ge 2 ] \
  || fail "--verify-dsn / TOKENADM_VERIFY_DSN did not reach the standby"
# key=value multi-host: read-write finds the primary behind the standby;
# prefer-standby finds the standby.
MH_RW="host=$PGD,$PGD port=$RPORT,$FPORT user=tokenadm dbname=faults target_session_attrs=read-write"
MH_PS="host=$PGD,$PGD port=$FPORT,$RPORT user=tokenadm dbname=faults target_session_attrs=prefer-standby"
TOKENADM_DSN=$MH_RW create_token --owner multi-host
MH_TOK=$TOK
[ "$(fsql faults "select count(*) from tokenadm.tokens where owner = 'multi-host'")" = 1 ] || fail "multi-host create"
for _ in $(seq 100); do [ "$(rsql "select count(*) from tokenadm.tokens where owner = 'multi-host'")" = 1 ] && break; sleep 0.1; done
log_from=$(stat -c %s "$PGD/replica.log")
TOKENADM_DSN=$MH_RW run_token 0 --verify-dsn "$MH_PS" verify <<<"$MH_TOK"
expect_out_exactly multi-host
sleep 0.2
tail -c +"$((log_from + 1))" "$PGD/replica.log" | grep -Eq 'statement: |execute ' || fail "prefer-standby did not pick the standby"
# The URI form of a multi-host DSN (socket directories %-encoded).
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PGD")
MH_URI="postgresql://tokenadm@$enc:$RPORT,$enc:$FPORT/faults?target_session_attrs=read-write"
TOKENADM_DSN=$MH_URI run_token 0 verify <<<"$MH_TOK"
expect_out_exactly multi-host
TOKENADM_DSN=$MH_URI create_token --owner multi-host-uri
# Exit 1 only when no host at all will do: none listening, or none writable
# for read-write.
TOKENADM_DSN="host=$PGD,$PGD port=1,2 user=tokenadm dbname=faults" run_token 1 list
expect_one_line_err
TOKENADM_DSN="host=$PGD port=$RPORT user=tokenadm dbname=faults target_session_attrs=read-write" run_token 1 create --owner nowhere
expect_one_line_err
export TOKENADM_DSN=$BASE_DSN
check_clean "$PGD/server.log" "$PGD/replica.log"

# --- 5. verify --batch through outages: the server down at start, killed
# mid-stream, then back. Every line is answered, in order; the co-process
# never exits before the end of its input.
kill_primary
coproc BATCH { TOKENADM_DSN=$F_DSN exec "$TOKEN" verify --batch 2>"$TMP/co.err"; }
co_in=${BATCH[1]}; co_out=${BATCH[0]}; co_pid=$BATCH_PID
# ask LINE: one answer, within 15 s, in $ans.
ask() {
  printf '%s\n' "$1" >&"$co_in" || fail "the co-process stopped reading (exited?)"
  ans=
  read -r -t 15 ans <&"$co_out" || { cp "$TMP/co.err" "$TMP/err"; fail "no answer to a line within 15 s"; }
}
# ask_until WANT LINE: asks until the answer matches (the reconnect backs off).
ask_until() {
  local i
  for i in $(seq 40); do
    ask "$2"; [[ "$ans" =~ $1 ]] && return 0
    [ "$ans" = "error unavailable" ] || { cp "$TMP/co.err" "$TMP/err"; fail "answer '$ans' while waiting for /$1/"; }
    sleep 0.25
  done
  fail "no answer matching /$1/ after 40 tries"
}
ask "$REP_TOK"
[ "$ans" = "error unavailable" ] || fail "server down at start: answer '$ans', wanted 'error unavailable'"
ask garbage
[ "$ans" = "deny malformed" ] || fail "offline-decided line with the server down: '$ans'"
ask "$REP_TOK"
[ "$ans" = "error unavailable" ] || fail "second line with the server down: '$ans'"
kill -0 "$co_pid" 2>/dev/null || fail "the co-process exited while the server was down at start"
start_primary
ask_until "^ok $REP_ID primary-made\$" "$REP_TOK"
kill_primary
ask "$REP_TOK"
[ "$ans" = "error unavailable" ] || fail "server killed mid-stream: answer '$ans'"
ask "$REP_TOK"
[ "$ans" = "error unavailable" ] || fail "server still down: answer '$ans'"
kill -0 "$co_pid" 2>/dev/null || fail "the co-process exited when the server was killed mid-stream"
start_primary
ask_until "^ok $REP_ID primary-made\$" "$REP_TOK"
exec {co_in}>&-
rc=0; wait "$co_pid" || rc=$?
cp "$TMP/co.err" "$TMP/err"; : >"$TMP/out"
[ "$rc" = 0 ] || fail "verify --batch exited $rc at the end of its input, wanted 0"
check_clean "$TMP/err"
grep -q 'unavailable' "$TMP/err" || fail "the outage was not reported on stderr"
# Said once per outage, not once per line: two outages, two lines (and two
# "again" lines).
[ "$(grep -c '^token: ' "$TMP/err")" -le 4 ] || fail "stderr has a line per answer"

if [ -s "$TMP/later" ]; then
  : >"$TMP/out"; head -30 "$TMP/later" >"$TMP/err"
  fail "$(grep -c '^[^ ]' "$TMP/later") deferred failure(s), see stderr"
fi
pass
