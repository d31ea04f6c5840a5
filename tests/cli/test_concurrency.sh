# Concurrency: verify racing revoke, a revoke storm on one token, parallel
# bulk writers, and concurrent `token init` on an empty database.
. "$(dirname "$0")/common.sh"
run_token 0 init

# A fresh database in this cluster; prints its DSN.
fresh_db() {
  "$PGBIN/createdb" "$1"
  echo "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$1"
}
sqlin() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# --- 1. 8 verifiers against 2 revokers over the same 40 tokens. ----------
# A verify that STARTED after a revoke of its token had RETURNED (committed)
# must never answer ok. Timestamps are $EPOCHREALTIME (what `date +%s.%N`
# prints, without the fork between the clock and the command): a verifier
# reads the clock before it starts `token verify`, a revoker after `token
# revoke` has exited, so a recorded "started after" is a real one.
RACE=$TMP/race; mkdir "$RACE"
: >"$RACE/tokens"
for i in $(seq 40); do
  create_token --owner "race$i" --label race
  printf '%s %s\n' "$TOK_ID" "$TOK" >>"$RACE/tokens"
done
mapfile -t RACE_IDS < <(cut -d' ' -f1 "$RACE/tokens")
mapfile -t RACE_TOKS < <(cut -d' ' -f2 "$RACE/tokens")

# Bounded by work, not by the clock (a loaded machine only makes it slower):
# the revokers start once every verifier has answered twice, the verifiers
# run until every revoke has returned, and then verify 3 more times each.
verifier() {
  local n=$1 k t0 rc reason extra=3
  local log=$RACE/v.$n err=$RACE/v.$n.err
  : >"$log"
  while [ ! -e "$RACE/done" ] || (( extra-- > 0 )); do
    k=$(( RANDOM % 40 ))
    # Half the verifiers write last_used_at (the default), half do not.
    t0=$EPOCHREALTIME
    rc=0
    if (( n % 2 )); then
      "$TOKEN" verify --no-touch <<<"${RACE_TOKS[$k]}" >/dev/null 2>"$err" || rc=$?
    else
      "$TOKEN" verify <<<"${RACE_TOKS[$k]}" >/dev/null 2>"$err" || rc=$?
    fi
    reason=$(head -c 200 "$err" | head -1 | cut -d: -f2 | tr -d ' ')
    printf '%s %s %s %s\n' "$t0" "$rc" "${RACE_IDS[$k]}" "${reason:--}" >>"$log"
  done
}
revoker() {
  local n=$1 id rc
  local log=$RACE/r.$n
  : >"$log"
  # Each revoker walks all 40 ids in its own random order, one every 0.15-0.25 s.
  for id in $(printf '%s\n' "${RACE_IDS[@]}" | shuf); do
    sleep 0.$(( 15 + RANDOM % 10 ))
    rc=0
    "$TOKEN" revoke "$id" >/dev/null 2>"$RACE/r.$n.err" || rc=$?
    printf '%s %s %s\n' "$EPOCHREALTIME" "$rc" "$id" >>"$log"
  done
}
vpids=() rpids=()
for n in 1 2 3 4 5 6 7 8; do verifier "$n" & vpids+=($!); done
for n in 1 2 3 4 5 6 7 8; do
  until [ "$(wc -l <"$RACE/v.$n" 2>/dev/null || echo 0)" -ge 2 ]; do
    kill -0 "${vpids[n - 1]}" 2>/dev/null || fail "verifier $n died before its second answer"
    sleep 0.05
  done
done
for n in 1 2; do revoker "$n" & rpids+=($!); done
for p in "${rpids[@]}"; do wait "$p" || fail "a revoker failed"; done
touch "$RACE/done"
for p in "${vpids[@]}"; do wait "$p" || fail "a verifier failed"; done
check_clean "$RACE"/v.*.err "$RACE"/r.*.err

python3 - "$RACE" <<'PY' >"$TMP/out" 2>"$TMP/err" || fail "verify/revoke race: $(head -5 "$TMP/err")"
import glob, os, sys
d = sys.argv[1]
revoked = {}            # id -> earliest time a revoke of it had returned
for f in glob.glob(os.path.join(d, "r.[0-9]*")):
    if f.endswith(".err"):
        continue
    for line in open(f):
        t, rc, i = line.split()
        if rc != "0":
            sys.exit(f"token revoke {i} exited {rc}")
        revoked[i] = min(float(t), revoked.get(i, float("inf")))
if len(revoked) != 40:
    sys.exit(f"only {len(revoked)} of 40 tokens were revoked")
total = after = ok = bad = 0
for f in glob.glob(os.path.join(d, "v.[0-9]*")):
    if f.endswith(".err"):
        continue
    for line in open(f):
        t, rc, i, reason = line.split()
        total += 1
        t = float(t)
        if rc == "0":
            ok += 1
        elif rc != "2" or reason != "revoked":
            sys.exit(f"a verify of {i} exited {rc} ({reason}): only ok or revoked are possible")
        if t > revoked[i]:
            after += 1
            if rc == "0":
                bad += 1
                print(f"verify of {i} started {t - revoked[i]:.6f} s after its revoke returned, answered ok",
                      file=sys.stderr)
if bad:
    sys.exit(f"{bad} of {after} verifies that started after the revoke answered ok")
# Not vacuous: both sides of the race were exercised (by construction at
# least 16 ok before any revoke and 24 verifies after the last one).
if total < 40 or ok < 10 or after < 10:
    sys.exit(f"too little happened: {total} verifies, {ok} ok, {after} after a revoke")
print(f"{total} verifies, {ok} ok, {after} started after their revoke")
PY
echo "race: $(cat "$TMP/out")"

# --- 2. 32 concurrent revokes of one token. ---------------------------------
create_token --owner storm --label storm
STORM_ID=$TOK_ID
pids=()
for n in $(seq 32); do
  "$TOKEN" revoke --reason storm "$STORM_ID" >"$TMP/storm.$n.out" 2>"$TMP/storm.$n.err" &
  pids+=($!)
done
n=0
for p in "${pids[@]}"; do
  n=$((n + 1))
  rc=0; wait "$p" || rc=$?
  [ "$rc" = 0 ] || { cp "$TMP/storm.$n.err" "$TMP/err"; fail "concurrent revoke $n of 32 exited $rc"; }
done
check_clean "$TMP"/storm.*
# One of them revoked it; the other 31 say it was already revoked.
[ "$(cat "$TMP"/storm.*.err | grep -c "^token: revoked $STORM_ID\$")" = 1 ] \
  || fail "not exactly one concurrent revoke reported revoking it"
[ "$(cat "$TMP"/storm.*.err | grep -c "^token: $STORM_ID was already revoked at ")" = 31 ] \
  || fail "not 31 concurrent revokes reported 'already revoked'"
[ "$(sql "select count(*) from tokenadm.audit where action = 'revoke' and token_id = '$STORM_ID'")" = 1 ] \
  || fail "32 concurrent revokes wrote $(sql "select count(*) from tokenadm.audit where action = 'revoke' and token_id = '$STORM_ID'") audit rows"
# revoked_at was set once: by the transaction that wrote that audit row.
[ "$(sql "select count(*) from tokenadm.tokens t join tokenadm.audit a on a.token_id = t.id
          where t.id = '$STORM_ID' and a.action = 'revoke' and t.revoked_at is not null
            and a.at = t.revoked_at and t.revoke_reason = 'storm'")" = 1 ] \
  || fail "revoked_at is not the one revoke's: $(sql "select revoked_at from tokenadm.tokens where id = '$STORM_ID'")"

# --- 3. 4 parallel bulk writers, 50,000 tokens. ------------------------------
BULK_DSN=$(fresh_db "${DB}_bulk")
TOKENADM_DSN=$BULK_DSN run_token 0 init
pids=()
for w in 1 2 3 4; do
  TOKENADM_DSN=$BULK_DSN "$TOKEN" create --count 12500 --owner "writer$w" --label bulk \
    >"$TMP/bulk.$w" 2>"$TMP/bulk.$w.err" &
  pids+=($!)
done
w=0
for p in "${pids[@]}"; do
  w=$((w + 1))
  rc=0; wait "$p" || rc=$?
  [ "$rc" = 0 ] || { cp "$TMP/bulk.$w.err" "$TMP/err"; fail "writer $w exited $rc"; }
  [ "$(wc -l <"$TMP/bulk.$w")" = 12500 ] || fail "writer $w printed $(wc -l <"$TMP/bulk.$w") lines"
done
cat "$TMP"/bulk.[1-4] >"$TMP/bulk.all"
grep -Evq '^tka_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}$' "$TMP/bulk.all" && fail "a writer printed something not a token"
[ "$(sort -u "$TMP/bulk.all" | wc -l)" = 50000 ] || fail "printed tokens are not 50,000 distinct ones"
bsql() { sqlin "${DB}_bulk" "$1"; }
[ "$(bsql "select count(*) from tokenadm.tokens")" = 50000 ] || fail "$(bsql "select count(*) from tokenadm.tokens") rows, not 50000"
[ "$(bsql "select count(distinct id) || ' ' || count(distinct digest) from tokenadm.tokens")" = "50000 50000" ] \
  || fail "duplicate id or digest"
[ "$(bsql "select count(*) from (select owner from tokenadm.tokens group by owner having count(*) = 12500) o")" = 4 ] \
  || fail "not 12,500 rows per writer"
# The printed ids are exactly the stored ones.
cut -d_ -f2 "$TMP/bulk.all" | sort >"$TMP/bulk.ids"
bsql "select id from tokenadm.tokens" | sort >"$TMP/bulk.dbids"
cmp -s "$TMP/bulk.ids" "$TMP/bulk.dbids" || fail "printed ids differ from the stored ids"
# Every printed token verifies, in order.
TOKENADM_DSN=$BULK_DSN "$TOKEN" verify --batch --no-touch <"$TMP/bulk.all" >"$TMP/bulk.verify" 2>"$TMP/err" \
  || fail "verify --batch of the 50,000 exited non-zero"
check_clean "$TMP/err"
[ "$(grep -c '^ok ' "$TMP/bulk.verify")" = 50000 ] \
  || fail "$(grep -c '^ok ' "$TMP/bulk.verify") of 50,000 verified: $(grep -v '^ok ' "$TMP/bulk.verify" | sort | uniq -c | head -3)"
cut -d' ' -f2 "$TMP/bulk.verify" | cmp -s - <(cut -d_ -f2 "$TMP/bulk.all") || fail "batch answers out of order"
rm -f "$TMP"/bulk.*

# --- 4. 8 concurrent `token init` on an empty database (three times). --------
want_versions=$(sql "select string_agg(version::text, ',' order by version) from tokenadm.schema_version")
for round in 1 2 3; do
  INIT_DSN=$(fresh_db "${DB}_init$round")
  pids=()
  for n in $(seq 8); do
    TOKENADM_DSN=$INIT_DSN "$TOKEN" init >"$TMP/init.$n.out" 2>"$TMP/init.$n.err" &
    pids+=($!)
  done
  n=0
  for p in "${pids[@]}"; do
    n=$((n + 1))
    rc=0; wait "$p" || rc=$?
    [ "$rc" = 0 ] || { cp "$TMP/init.$n.err" "$TMP/err"; fail "round $round: concurrent init $n of 8 exited $rc"; }
  done
  got=$(sqlin "${DB}_init$round" "select string_agg(version::text, ',' order by version) from tokenadm.schema_version")
  [ "$got" = "$want_versions" ] || fail "round $round: schema_version holds $got, not $want_versions once each"
  TOKENADM_DSN=$INIT_DSN run_token 0 init --check
  # And the schema works.
  TOKENADM_DSN=$INIT_DSN create_token --owner after-init
  TOKENADM_DSN=$INIT_DSN run_token 0 verify --no-touch <<<"$TOK"
done

pass
