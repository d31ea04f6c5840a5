# Bulk create through COPY and verify --batch, the co-process mode.
. "$(dirname "$0")/common.sh"
run_token 0 init

# create --count: N tokens, one per line, numbered labels, audit rows.
run_token 0 create --count 50 --owner bulk --label ci --role api
[ "$(wc -l <"$TMP/out")" = 50 ] || fail "--count 50 printed $(wc -l <"$TMP/out") lines"
grep -Evq '^tka_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}$' "$TMP/out" && fail "not tokens"
cp "$TMP/out" "$TMP/bulk"
while read -r t; do remember_secret "$t"; done <"$TMP/bulk"
[ "$(sql "select count(distinct label) from tokenadm.tokens where owner = 'bulk' and label like 'ci-%'")" = 50 ] || fail "labels"
# One audit row for the bulk: its 50 ids, count 50 (migration 10); audit
# --token finds it by any of them.
[ "$(sql "select count(*), sum(a.count) from tokenadm.audit a where a.action = 'create' and a.owner = 'bulk' and a.token_id is null")" = "1|50" ] \
  || fail "bulk audit row"
[ "$(sql "select count(*) from tokenadm.tokens t join tokenadm.audit a on a.token_ids @> array[t.id] where t.owner = 'bulk'")" = 50 ] \
  || fail "the bulk audit row does not hold every id"
run_token 0 audit --token "$(sed -n 7p "$TMP/bulk" | cut -d_ -f2)" --format json
expect_out '"action":"create"'
expect_out "\"id\":\"$(sed -n 7p "$TMP/bulk" | cut -d_ -f2)\""
expect_out '"count":50'

[ "$(sql "select count(*) from tokenadm.tokens where owner = 'bulk' and roles = '{api}' and expires_at > now() + interval '89 days'")" = 50 ] \
  || fail "bulk attributes"
printf 'web\nworker\ncron\n' | run_token 0 create --labels-from-stdin --owner named --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [x["label"] for x in d]==["web","worker","cron"] and all(x["token"].startswith("tka_") for x in d)' "$TMP/out" \
  || fail "--labels-from-stdin json"
python3 -c 'import json,sys; [print(x["token"]) for x in json.load(open(sys.argv[1]))]' "$TMP/out" >"$TMP/named"
while read -r t; do remember_secret "$t"; done <"$TMP/named"
printf 'a\nb\n' | run_token 2 create --labels-from-stdin --count 3
expect_one_line_err; expect_err 'but 2 labels'
run_token 2 create --count 0
expect_one_line_err
run_token 2 create --count 5 --expires-in 400d
expect_err 'max_ttl'
[ "$(sql "select count(*) from tokenadm.tokens")" = 53 ] || fail "a failed bulk create stored rows"

# verify --batch: one answer per line, in order.
run_token 0 revoke "$(sed -n 2p "$TMP/bulk" | cut -d_ -f2)"
{
  sed -n 1p "$TMP/bulk"
  echo garbage
  sed -n 2p "$TMP/bulk"
  sed -n 3p "$TMP/bulk" | sed 's/.$/!/'
  # one character changed (to Q, or to R when it is Q: never no change)
  t4=$(sed -n 4p "$TMP/bulk")
  printf '%s%s%s\n' "${t4:0:20}" "$([ "${t4:20:1}" = Q ] && echo R || echo Q)" "${t4:21}"
  echo
  sed -n 5p "$TMP/bulk"
} >"$TMP/in"
run_token 0 verify --batch <"$TMP/in"
[ "$(wc -l <"$TMP/out")" = 7 ] || fail "one answer per line"
[ "$(sed -n 1p "$TMP/out")" = "ok $(sed -n 1p "$TMP/bulk" | cut -d_ -f2) bulk" ] || fail "answer 1"
[ "$(sed -n 2p "$TMP/out")" = "deny malformed" ] || fail "answer 2"
[ "$(sed -n 3p "$TMP/out")" = "deny revoked" ] || fail "answer 3"
[ "$(sed -n 4p "$TMP/out")" = "deny malformed" ] || fail "answer 4"
sed -n 5p "$TMP/out" | grep -Eq '^deny (checksum|malformed)$' || fail "answer 5"
[ "$(sed -n 6p "$TMP/out")" = "deny malformed" ] || fail "answer 6 (empty line)"
[ "$(sed -n 7p "$TMP/out")" = "ok $(sed -n 5p "$TMP/bulk" | cut -d_ -f2) bulk" ] || fail "answer 7"
# --role applies to every line; --header to every line.
sed -n 1,3p "$TMP/bulk" | run_token 0 verify --batch --role vcs
[ "$(sort -u "$TMP/out" | tr '\n' '|')" = "deny forbidden|deny revoked|" ] || fail "--role in batch"
sed -n 1p "$TMP/bulk" | sed 's/^/Authorization: Bearer /' | run_token 0 verify --batch --header
expect_out '^ok '
# Answers come as soon as a line arrives (co-process): one line in, one out,
# while the input stays open.
mkfifo "$TMP/fifo"
( sed -n 1p "$TMP/bulk"; sleep 3; sed -n 5p "$TMP/bulk" ) >"$TMP/fifo" &
"$TOKEN" verify --batch <"$TMP/fifo" >"$TMP/live" 2>"$TMP/err" &
vpid=$!
for _ in $(seq 20); do [ -s "$TMP/live" ] && break; sleep 0.1; done
[ "$(wc -l <"$TMP/live")" = 1 ] || fail "first answer not flushed while input was open"
wait $vpid || fail "verify --batch exited non-zero"
[ "$(wc -l <"$TMP/live")" = 2 ] || fail "second answer"

# On a direct connection the lookup is prepared once a session, then
# executed: the backend's last statement is the EXECUTE.
mkfifo "$TMP/fifo3"
( sed -n 1p "$TMP/bulk"; sleep 2; sed -n 5p "$TMP/bulk" ) >"$TMP/fifo3" &
"$TOKEN" verify --batch --no-touch <"$TMP/fifo3" >"$TMP/live" 2>"$TMP/err" &
vpid=$!
for _ in $(seq 20); do [ -s "$TMP/live" ] && break; sleep 0.1; done
[ "$(sql "select count(*) from pg_stat_activity where datname = current_database() and query like 'execute tokenadm\_%'")" = 1 ] \
  || fail "the batch lookup is not a prepared statement on a direct connection"
wait $vpid || fail "verify --batch exited non-zero"
[ "$(cut -d' ' -f1 "$TMP/live" | tr '\n' ' ')" = "ok ok " ] || fail "answers of the prepared lookup"
# The lookup's result changes shape under the prepared statement (a column's
# type altered between two lines): the session goes back to unprepared
# statements, and the answers go on.
mkfifo "$TMP/fifo4"
( sed -n 1p "$TMP/bulk"; sleep 2; sed -n 5p "$TMP/bulk" ) >"$TMP/fifo4" &
"$TOKEN" verify --batch --no-touch <"$TMP/fifo4" >"$TMP/live" 2>"$TMP/err" &
vpid=$!
for _ in $(seq 20); do [ -s "$TMP/live" ] && break; sleep 0.1; done
sql "alter table tokenadm.tokens alter column uses type bigint"
wait $vpid || fail "verify --batch exited non-zero after the prepared lookup changed shape"
[ "$(cut -d' ' -f1 "$TMP/live" | tr '\n' ' ')" = "ok ok " ] || { cp "$TMP/live" "$TMP/out"; fail "answers after the prepared lookup changed shape"; }
[ ! -s "$TMP/err" ] || fail "verify --batch wrote errors after the prepared lookup changed shape"
sql "alter table tokenadm.tokens alter column uses type integer"

# The connection dropped between lines: one reconnect, answers go on.
mkfifo "$TMP/fifo2"
( sed -n 1p "$TMP/bulk"; sleep 1.5
  sql "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()" >/dev/null
  sleep 0.5; sed -n 5p "$TMP/bulk" ) >"$TMP/fifo2" &
run_token 0 verify --batch <"$TMP/fifo2"
[ "$(cut -d' ' -f1 "$TMP/out" | tr '\n' ' ')" = "ok ok " ] || fail "no reconnect after the backend was terminated"

# Malformed and bad-checksum lines never reach the database: 10,000 of them
# with no server at all still get their answers.
python3 - "$(sed -n 1p "$TMP/bulk")" >"$TMP/badsum" <<'PY'
import random, sys
tok = sys.argv[1]
a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
rnd = random.Random(7)
for _ in range(10000):
    body = "tka_" + "".join(rnd.choice(a) for _ in range(10)) + "_" + "".join(rnd.choice(a) for _ in range(32))
    print(body + "".join(rnd.choice(a) for _ in range(6)))
PY
TOKENADM_DSN="postgresql://nobody:CANARYPW@127.0.0.1:1/nothing" run_token 0 verify --batch <"$TMP/badsum"
[ "$(grep -c '^deny checksum$' "$TMP/out")" = 10000 ] || fail "bad-checksum lines: $(sort "$TMP/out" | uniq -c | head -3)"
# A line longer than 4096 bytes is malformed and not held in memory.
{ head -c 5000000 /dev/zero | tr '\0' a; echo; sed -n 1p "$TMP/bulk"; } | run_token 0 verify --batch
[ "$(cat "$TMP/out" | cut -d' ' -f1,2 | tr '\n' '|')" = "deny malformed|ok $(sed -n 1p "$TMP/bulk" | cut -d_ -f2)|" ] || fail "long line"
# No server at all: the lines that need it are answered 'error unavailable',
# the others at once; it reads to the end and exits 0.
{ sed -n 1p "$TMP/bulk"; echo garbage; sed -n 5p "$TMP/bulk"; } \
  | TOKENADM_DSN="postgresql://nobody:CANARYPW@127.0.0.1:1/nothing" run_token 0 verify --batch
[ "$(tr '\n' '|' <"$TMP/out")" = "error unavailable|deny malformed|error unavailable|" ] || fail "answers with no server"
expect_one_line_err; expect_err 'unavailable'
# A DSN that can never work is a mistake, not an outage: exit 1 before reading.
echo garbage | TOKENADM_DSN="posgres://u@h/db" run_token 1 verify --batch
expect_one_line_err; expect_no_out
# The schema missing: 'error schema' for the lines that need the database.
"$PGBIN/createdb" "${DB}_empty"
{ sed -n 1p "$TMP/bulk"; echo garbage; } \
  | TOKENADM_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=${DB}_empty" run_token 0 verify --batch
[ "$(tr '\n' '|' <"$TMP/out")" = "error schema|deny malformed|" ] || fail "answers without a schema"
expect_err 'token init'
# Failures are folded into the audit trail per batch.
before=$(sql "select coalesce(sum(count), 0) from tokenadm.audit where action = 'verify-failed' and reason = 'revoked'")
sed -n 2p "$TMP/bulk" | sed 'p;p' | run_token 0 verify --batch
after=$(sql "select coalesce(sum(count), 0) from tokenadm.audit where action = 'verify-failed' and reason = 'revoked'")
[ $((after - before)) = 3 ] || fail "batch failures audited $((after - before)) times"
# Each folded row carries an id that belongs to its reason: a revoked
# token's for 'revoked', an unknown id's for 'unknown'.
sql "delete from tokenadm.audit where action = 'verify-failed'"
revoked_id=$(sed -n 2p "$TMP/bulk" | cut -d_ -f2)
unknown=$(python3 -c '
import sys, zlib
a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
body = "tka_ZZZZZZZZZZ_" + "A" * 32
c = zlib.crc32(body.encode()); s = ""
for _ in range(6):
    s = a[c % 62] + s; c //= 62
print(body + s)')
{ sed -n 2p "$TMP/bulk"; printf '%s\n' "$unknown"; } | run_token 0 verify --batch
[ "$(sql "select reason || '=' || coalesce(token_id, '') from tokenadm.audit where action = 'verify-failed' order by reason" | tr '\n' ' ')" \
  = "revoked=$revoked_id unknown=ZZZZZZZZZZ " ] || fail "folded rows carry the wrong ids: $(sql "select reason, token_id from tokenadm.audit where action = 'verify-failed'" | tr '\n' ' ')"
run_token 2 verify --batch --format json </dev/null
expect_one_line_err

# A large batch (over 4,000 lines, whose lookup goes to the server as
# statements of 2,000 tokens sent back to back): one answer per line, in
# order, with revoked, unknown and repeated tokens in different statements.
"$TOKEN" create --count 6000 --owner big --label big >"$TMP/big" 2>"$TMP/err" || fail "create --count 6000: $(cat "$TMP/err")"
cat "$TMP/big" >>"$TMP/.secrets"
big_id() { sed -n "$1p" "$TMP/big" | cut -d_ -f2; }
run_token 0 revoke "$(big_id 10)" "$(big_id 4500)"
{
  cat "$TMP/big"
  printf '%s\n' "$unknown" garbage
  sed -n '1p;4500p;5999p' "$TMP/big" # again, after 6,000 lines
} >"$TMP/bigin"
run_token 0 verify --batch --no-touch <"$TMP/bigin"
python3 - "$TMP/big" "$TMP/out" "$(big_id 10)" "$(big_id 4500)" <<'PY' || fail "the answers to a large batch"
import sys
ids = [l.split("_")[1] for l in open(sys.argv[1])]
got = open(sys.argv[2]).read().split("\n")[:-1]
revoked = set(sys.argv[3:5])
want = ["deny revoked" if i in revoked else f"ok {i} big" for i in ids]
want += ["deny unknown", "deny malformed", want[0], want[4499], want[5998]]
assert got == want, next((n, g, w) for n, (g, w) in enumerate(zip(got + [None] * 9, want)) if g != w)
PY
# ... and with its writes: last_used_at recorded on every row found live.
run_token 0 verify --batch <"$TMP/big"
[ "$(grep -c '^ok ' "$TMP/out")" = 5998 ] || fail "a large batch with writes: $(grep -vc '^ok ' "$TMP/out") not ok"
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'big' and last_used_at is not null")" = 5998 ] \
  || fail "a large batch recorded the use of $(sql "select count(*) from tokenadm.tokens where owner = 'big' and last_used_at is not null") tokens"
# ... and with the table locked past --timeout: each of its 5,000 lines
# 'error unavailable', said once on stderr; the connection is fine for the
# next line. (All 5,000 are in the pipe before token starts, so they are
# one batch; the lock is let go once they are answered.)
python3 - "$TOKEN" "$TMP/big" "$PGBIN/psql" "$DB" >"$TMP/out" 2>"$TMP/err" <<'PY' || fail "a large batch past --timeout: $(head -3 "$TMP/out" "$TMP/err")"
import fcntl, os, subprocess, sys, time
token, big, psql, db = sys.argv[1:]
lines = open(big).read().splitlines(keepends=True)
locker = subprocess.Popen([psql, "-X", "-q", "-d", db], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
locker.stdin.write("begin; lock table tokenadm.tokens;\n")
locker.stdin.flush()
q = "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'tokens' and l.mode = 'AccessExclusiveLock' and l.granted"
while subprocess.run([psql, "-X", "-Atc", q, "-d", db], capture_output=True, text=True).stdout.strip() != "1":
    time.sleep(0.1)
r, w = os.pipe()
fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: room for all 5,000 lines
os.write(w, "".join(lines[:5000]).encode())
p = subprocess.Popen([token, "--timeout", "2", "verify", "--batch", "--no-touch"], stdin=r, stdout=subprocess.PIPE, text=True)
os.close(r)
first = [p.stdout.readline() for _ in range(5000)]
locker.stdin.write("commit;\n")
locker.stdin.close()
locker.wait()
os.write(w, lines[0].encode())
os.close(w)
rest = p.stdout.read()
sys.stdout.write("".join(first) + rest)
sys.exit(p.wait())
PY
[ "$(head -5000 "$TMP/out" | sort | uniq -c | awk '{print $1 "x " $2, $3}')" = "5000x error unavailable" ] \
  || fail "a large batch past --timeout: $(head -5000 "$TMP/out" | sort | uniq -c | head -5)"
[ "$(sed -n '5001,$p' "$TMP/out")" = "ok $(big_id 1) big" ] || fail "the line after a timed-out batch: $(sed -n '5001,$p' "$TMP/out")"
expect_one_line_err; expect_err '^token: timed out: a batch query did not finish within --timeout'
# ... and without the schema: 'error schema' for each line.
head -4500 "$TMP/big" >"$TMP/big4500" # from a file: all 4,500 lines are one batch
TOKENADM_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=${DB}_empty" run_token 0 verify --batch <"$TMP/big4500"
[ "$(sort "$TMP/out" | uniq -c | awk '{print $1 "x " $2, $3}')" = "4500x error schema" ] || fail "a large batch without the schema"
expect_one_line_err; expect_err 'token init'

# A co-process whose pipelined batches fail (a schema newer than this
# token; the backend terminated between two batches) answers every line of
# the next ones, and then 'ok' once the database is right again: what a
# failed batch left on the connection is not read by the next one.
# coproc_batches STEP...: runs `token verify --batch --no-touch` and, in
# turn, for each STEP "lines" sends 5,000 lines (all in the pipe at once)
# and prints the counts of their answers, "sql:STATEMENT" runs the
# statement with psql; exits with token's status.
coproc_batches() {
  python3 - "$TOKEN" "$TMP/big" "$PGBIN/psql" "$DB" "$@" <<'PY'
import collections, fcntl, os, subprocess, sys
token, big, psql, db, *steps = sys.argv[1:]
lines = open(big).read().splitlines(keepends=True)[:5000]
r, w = os.pipe()
fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: room for all 5,000 lines
p = None
for step in steps:
    if step.startswith("sql:"):
        subprocess.run([psql, "-X", "-q", "-d", db, "-c", step[4:]], check=True, stdout=subprocess.DEVNULL)
        continue
    os.write(w, "".join(lines).encode())
    if p is None:
        p = subprocess.Popen([token, "verify", "--batch", "--no-touch"], stdin=r, stdout=subprocess.PIPE, text=True)
        os.close(r)
    got = collections.Counter()
    for _ in range(5000):
        line = p.stdout.readline().strip()
        got["ok" if line.startswith("ok ") else line] += 1
    print(",".join(f"{n}x {a}" for a, n in sorted(got.items())))
os.close(w)
rest = p.stdout.read()
sys.exit(p.wait() or (1 if rest else 0))
PY
}
version_fn=$(sql "select pg_get_functiondef('tokenadm.schema_version_now'::regproc)")
coproc_batches "sql:create or replace function tokenadm.schema_version_now() returns int language sql immutable as 'select 999'" \
  lines lines "sql:$version_fn" lines >"$TMP/out" 2>"$TMP/err" || fail "the co-process ended ($?): $(cat "$TMP/err")"
expect_out_exactly "5000x error schema
5000x error schema
2x deny revoked,4998x ok"
expect_err 'schema'
grep -q 'internal error' "$TMP/err" && fail "internal error after a failed pipelined batch"
coproc_batches lines \
  "sql:select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()" \
  lines >"$TMP/out" 2>"$TMP/err" || fail "the co-process ended ($?): $(cat "$TMP/err")"
expect_out_exactly "2x deny revoked,4998x ok
2x deny revoked,4998x ok"
check_clean "$TMP/out" "$TMP/err"

# A use-limited token revoked while its use is being counted: the lookup
# saw it live, the count waits for the revoke's row lock, then sees the row
# revoked: refused, and no use counted on the revoked row.
create_token --owner racer --label r --max-uses 5
RACE=$TOK RACE_ID=$TOK_ID
# hold_revoke ID: a transaction revoking ID, holding the row for 2 s (its
# pid in $locker); returns once it holds it.
hold_revoke() {
  "$PGBIN/psql" -X -q -d "$DB" -c "begin; update tokenadm.tokens set revoked_at = now() where id = '$1'; select pg_sleep(2); commit;" >/dev/null &
  locker=$!
  for _ in $(seq 50); do
    [ "$(sql "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'tokens' and l.mode = 'RowExclusiveLock' and l.pid <> pg_backend_pid()")" != 0 ] && break
    sleep 0.1
  done
}
hold_revoke "$RACE_ID"
run_token 0 verify --batch <<<"$RACE"
wait "$locker"
grep -q '^ok ' "$TMP/out" && fail "a token revoked during its counted use was accepted"
expect_out_exactly "deny revoked"
[ "$(sql "select uses from tokenadm.tokens where id = '$RACE_ID'")" = 0 ] || fail "a use was counted on a revoked row"
# The same with one-shot verify: refused as revoked (not "used up").
create_token --owner racer --label r1 --max-uses 5
RACE=$TOK RACE_ID=$TOK_ID
hold_revoke "$RACE_ID"
run_token 2 verify <<<"$RACE"
wait "$locker"
expect_one_line_err
expect_err "^token: revoked: token $RACE_ID changed while its use was being counted \\(revoked\\)$"
[ "$(sql "select uses from tokenadm.tokens where id = '$RACE_ID'")" = 0 ] || fail "a use was counted on a revoked row"
# The audit trail refusing writes (a trigger that raises): a verify's write
# and its audit rows are one transaction, so a verify that answers error
# (exit 2) has counted no use, and flagged nothing.
create_token --owner audfail --label limited --max-uses 3
AF=$TOK AF_ID=$TOK_ID
create_token --owner audfail --label revoked
AFR=$TOK
run_token 0 revoke "$TOK_ID"
create_token --owner audfail --label rotated --max-uses 3
AFO=$TOK AFO_ID=$TOK_ID
run_token 0 rotate "$AFO_ID" --overlap 1h
remember_secret "$(cat "$TMP/out")"
sql "create function tokenadm.test_refuse() returns trigger language plpgsql as \$\$begin raise exception 'audit refused'; end\$\$;
     create trigger test_refuse before insert or update on tokenadm.audit for each row execute function tokenadm.test_refuse()"
# A counted use and a failure to record.
printf '%s\n%s\n' "$AF" "$AFR" | run_token 0 verify --batch
expect_out_exactly "error database
error database"
# A rotated-out token's counted use, whose use must be flagged.
run_token 0 verify --batch <<<"$AFO"
expect_out_exactly "error database"
run_token 2 verify <<<"$AFO"
expect_one_line_err
expect_err '^token: database error: .*audit refused'
[ "$(sql "select string_agg(uses::text, ',' order by label) from tokenadm.tokens where id in ('$AF_ID', '$AFO_ID')")" = "0,0" ] \
  || fail "a verify that failed to write its audit rows counted a use: $(sql "select label, uses from tokenadm.tokens where owner = 'audfail'" | tr '\n' ' ')"
sql "drop trigger test_refuse on tokenadm.audit; drop function tokenadm.test_refuse()"
printf '%s\n%s\n' "$AF" "$AFR" | run_token 0 verify --batch
expect_out "^ok $AF_ID audfail"
run_token 0 verify <<<"$AFO"
[ "$(sql "select string_agg(uses::text, ',' order by label) from tokenadm.tokens where id in ('$AF_ID', '$AFO_ID')")" = "1,1" ] \
  || fail "uses after the audit came back"
[ "$(sql "select count(*) from tokenadm.audit where token_id = '$AFO_ID' and outcome = 'rotated-token-used'")" = 1 ] \
  || fail "the rotated-out token's use was not flagged once"
# The connection lost during the commit that counts a use: its outcome is
# unknown, so the line is answered "error unavailable", not tried again on
# a new connection (which would count the use a second time had the first
# commit been applied). A deferred trigger holds the commit open while the
# session is terminated.
# terminate_sleeper: once a session of this test's database sleeps in a test
# trigger, terminates it (other tests run on the same server at once).
terminate_sleeper() {
  for _ in $(seq 50); do
    [ "$(sql "select count(*) from pg_stat_activity where wait_event = 'PgSleep' and datname = current_database()")" = 1 ] && break
    sleep 0.1
  done
  sql "select pg_terminate_backend(pid) from pg_stat_activity where wait_event = 'PgSleep' and datname = current_database()" >/dev/null
}
create_token --owner indoubt --label warm
WARM=$TOK
create_token --owner indoubt --label counted --max-uses 5
IND=$TOK IND_ID=$TOK_ID
sql "create function tokenadm.test_slow() returns trigger language plpgsql as \$\$begin perform pg_sleep(3); return null; end\$\$;
     create constraint trigger test_slow after update on tokenadm.tokens deferrable initially deferred
       for each row when (new.owner = 'indoubt' and new.max_uses is not null) execute function tokenadm.test_slow()"
{
  echo "$WARM"
  sleep 1 # answered first: the connection is then one that was used
  echo "$IND"
} | "$TOKEN" verify --batch >"$TMP/out" 2>"$TMP/err" &
batcher=$!
terminate_sleeper
wait "$batcher" || fail "verify --batch exited $? after an in-doubt commit"
sql "drop trigger test_slow on tokenadm.tokens; drop function tokenadm.test_slow()"
[ "$(sed -n 2p "$TMP/out")" = "error unavailable" ] || fail "an in-doubt commit was answered '$(sed -n 2p "$TMP/out")'"
expect_err 'outcome is unknown'
[ "$(sql "select uses from tokenadm.tokens where id = '$IND_ID'")" = 0 ] || fail "the in-doubt use was counted again"
# The same for one-shot verify, whose counting statement commits by itself:
# lost with the connection, its outcome is unknown, and said so.
create_token --owner indoubt --label counted1 --max-uses 5
IND1=$TOK
sql "create function tokenadm.test_slow() returns trigger language plpgsql as \$\$begin perform pg_sleep(3); return new; end\$\$;
     create trigger test_slow before update on tokenadm.tokens
       for each row when (new.owner = 'indoubt' and new.max_uses is not null) execute function tokenadm.test_slow()"
"$TOKEN" verify <<<"$IND1" >"$TMP/out" 2>"$TMP/err" &
verifier=$!
terminate_sleeper
rc=0
wait "$verifier" || rc=$?
sql "drop trigger test_slow on tokenadm.tokens; drop function tokenadm.test_slow()"
[ "$rc" = 2 ] || fail "one-shot verify exited $rc after losing its counting statement"
expect_one_line_err
expect_err '^token: lost the connection while a use was being counted; the outcome is unknown'

# Nobody left to read the answers (the reader of the pipe is gone, or stdout
# is closed): verify --batch fails before the check, so no use is counted
# and no last use recorded for answers nobody can read.
create_token --owner noreader --max-uses 5
run_reader_gone 2 verify --batch <<<"$TOK"
expect_one_line_err; expect_err '^token: cannot write answers: the reader has gone$'
run 2 sh -c '"$0" verify --batch >&-' "$TOKEN" <<<"$TOK"
expect_one_line_err; expect_err '^token: cannot write answers: Bad file descriptor$'
[ "$(sql "select uses || ' ' || (last_used_at is null) from tokenadm.tokens where id = '$TOK_ID'")" = "0 true" ] \
  || fail "a use was counted for an answer nobody could read"
run_token 0 verify --batch <<<"$TOK"
expect_out_exactly "ok $TOK_ID noreader"
[ "$(sql "select uses from tokenadm.tokens where id = '$TOK_ID'")" = 1 ] || fail "the use was not counted"
pass
