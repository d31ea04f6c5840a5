# token list streams through COPY ... TO STDOUT: every format's bytes
# against references made without tokenadm (psql, and nlohmann's own dump as
# `show` prints it), over hostile text, every state, filters, sorts and
# --limit; and what a listing does when the server goes away, the deadline
# passes or the reader leaves in the middle of the stream.
. "$(dirname "$0")/common.sh"

run_token 0 init
create_token --owner alice --label deploy
create_token --owner alice --label label10 --role api --role feed --scope repo1 --scope 'grp "x"'
create_token --owner alice --label label2 --contact a@example.org --meta k=v --meta 'q=a\b"c'
create_token --owner bob --label ci --allow-from 10.0.0.0/8,192.168.1.1 --max-uses 5
create_token --owner bob --label used --max-uses 3
run_token 0 verify --from 10.1.2.3 <<<"$TOK"
run_token 0 verify --from 2001:db8::1 <<<"$TOK"
create_token --owner carol --label revoked
run_token 0 revoke "$TOK_ID"
create_token --owner carol --label susp
run_token 0 suspend "$TOK_ID"
create_token --owner dave --label exp --expires-in 1d
sql "update tokenadm.tokens set expires_at = now() - interval '1 hour' where id = '$TOK_ID'"
TOKENADM_ALLOW_NO_EXPIRY=true create_token --owner dave --label forever --no-expiry
# What COPY escapes (tab, newline, backslash, a literal \N) and what JSON
# escapes (quotes, control characters), beside multi-byte UTF-8.
create_token --owner eve --label weird
sql "update tokenadm.tokens set owner = E'tab\there\nnl\\\\back \\\\N é€😀 \"q\" \x01ctl\r',
       label = E'\\\\N', contact = E'c\\\\d\"e\x07', scopes = array[E'sc\tope', 'ü'],
       meta = jsonb_build_object('n', 5, 'arr', jsonb_build_array(1, 'x'), 'u', E'é\n')
     where id = '$TOK_ID'"
create_token --owner "O'Brien" --label '$1' --scope 'back\slash'
create_token --owner '' --label ''
run_token 0 create --count 150 --owner bulk --label b
sql "update tokenadm.tokens set last_used_at = now() - interval '3 days' where label = 'deploy'"

# The tsv list as psql prints it from the table itself, for a WHERE clause.
iso() { echo "coalesce(to_char($1 at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"; }
state="case when revoked_at <= now() then 'revoked' when expires_at <= now() then 'expired'
             when suspended_at is not null then 'suspended' else 'active' end"
expected_tsv() {  # expected_tsv WHERE [LIMIT]
  "$PGBIN/psql" -X -q -At -F "$(printf '\t')" -v ON_ERROR_STOP=1 -d "$DB" -c "select id,
      translate(owner, E'\\t\\n\\r', '   '), translate(label, E'\\t\\n\\r', '   '),
      array_to_string(roles, ','), $state, $(iso created_at), $(iso expires_at), $(iso last_used_at)
    from tokenadm.tokens where $1 order by created_at, id limit ${2:-all}" >"$TMP/expected"
}
tsv_case() {  # tsv_case WHERE LIMIT ARGS...
  local where=$1 limit=$2
  shift 2
  expected_tsv "$where" "$limit"
  run_token 0 list --format tsv "$@"
  cmp -s "$TMP/expected" "$TMP/out" || { diff "$TMP/expected" "$TMP/out" | head -5 >&2; fail "list --format tsv $*"; }
}
tsv_case true '' --state all
tsv_case true '' # --state all is the default
tsv_case "($state) = 'active'" '' --state active
tsv_case "($state) = 'expired'" '' --state expired
tsv_case "($state) = 'revoked'" '' --state revoked
tsv_case "($state) = 'suspended'" '' --state suspended
tsv_case "owner = 'alice'" '' --owner alice
tsv_case "owner = 'bob' and label = 'used'" '' --owner bob --label used
tsv_case "label = '\$1'" '' --label '$1'
tsv_case "('api' = any(roles) or 'all' = any(roles)) and ($state) = 'active'" '' --role api --state active
tsv_case "owner = 'bulk'" 7 --owner bulk --limit 7
tsv_case true 1 --limit 1
tsv_case "created_at < '2100-01-01 00:00:00+02'" '' --created-before "2100-01-01 00:00:00+02:00"
tsv_case "false" '' --owner nobody

# JSON: each row is what nlohmann writes for that token (`show --format
# json` builds the document and dumps it), and its values are the table's.
run_token 0 list --format json
cp "$TMP/out" "$TMP/all.json"
python3 - "$TMP/all.json" >"$TMP/ids" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
rows = json.loads(text)
# One line, compact, keys in order: nothing but the rows' own bytes between them.
assert text == "[" + ",".join(json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for r in rows) + "]\n", "layout"
for r in rows:
    print(r["id"])
PY
[ "$(wc -l <"$TMP/ids")" = "$(sql 'select count(*) from tokenadm.tokens')" ] || fail "list --format json: row count"
python3 - "$TMP/all.json" >"$TMP/rows" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1], encoding="utf-8")):
    print(r["id"], json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
PY
for id in $(sql "select id from tokenadm.tokens where owner <> 'bulk' or label = 'b-1'"); do
  run_token 0 show "$id" --format json
  [ "$(grep "^$id " "$TMP/rows" | cut -d' ' -f2-)" = "$(cat "$TMP/out")" ] || fail "list json row of $id differs from show's"
  python3 - "$TMP/all.json" "$id" >"$TMP/listed" <<'PY'
import json, sys
sys.stdout.write(next(json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                      for r in json.load(open(sys.argv[1], encoding="utf-8")) if r["id"] == sys.argv[2]) + "\n")
PY
  cmp -s "$TMP/listed" "$TMP/out" || fail "list json row of $id is not show's bytes"
done
"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "select json_agg(json_build_object('id', id, 'owner', owner,
    'label', label, 'contact', contact, 'scopes', scopes, 'meta', meta, 'max_uses', max_uses, 'uses', uses,
    'used_from', (select coalesce(json_agg(e->>'addr'), '[]') from jsonb_array_elements(used_from) e)))
  from tokenadm.tokens" >"$TMP/db.json"
python3 - "$TMP/all.json" "$TMP/db.json" <<'PY' || fail "list json values differ from the table's"
import json, sys
listed = {r["id"]: r for r in json.load(open(sys.argv[1], encoding="utf-8"))}
for d in json.load(open(sys.argv[2], encoding="utf-8")):
    r = listed[d["id"]]
    meta = {k: (v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))) for k, v in d["meta"].items()}
    got = (r["owner"], r["label"], r["contact"], r["scopes"], r["meta"], r["max_uses"], r["uses"],
           [u["addr"] for u in r["used_from"]])
    want = (d["owner"], d["label"], d["contact"], d["scopes"], meta, d["max_uses"], d["uses"], d["used_from"])
    assert got == want, (got, want)
PY

# Sorts, filters and --limit: the same rows in the same order in every format.
order_of() {  # order_of FORMAT ARGS...: the ids listed, one line
  local f=$1
  shift
  run_token 0 list --format "$f" "$@"
  case $f in
    json) python3 -c 'import json, sys; print(" ".join(r["id"] for r in json.load(open(sys.argv[1]))))' "$TMP/out" ;;
    *) awk -F'\t' '{ print substr($1, 1, 10) }' "$TMP/out" | paste -sd' ' - ;;
  esac
}
for args in "--sort owner" "--sort label" "--sort expires" "--sort last-used" "--sort created" \
            "--sort label --limit 9" "--unused-for 1d" "--used-from 10.0.0.0/8" "--expiring-within 100d" \
            "--state active --sort owner --limit 3"; do
  # shellcheck disable=SC2086
  tsv=$(order_of tsv $args)
  [ -n "$tsv" ] || fail "list $args listed nothing"
  # shellcheck disable=SC2086
  [ "$(order_of json $args)" = "$tsv" ] || fail "list --format json $args: not tsv's rows"
  # shellcheck disable=SC2086
  [ "$(order_of table --no-headers $args)" = "$tsv" ] || fail "list (table) $args: not tsv's rows"
done
[ "$(order_of tsv --used-from 10.0.0.0/8)" = "$(sql "select id from tokenadm.tokens where owner = 'bob' and label = 'used'")" ] \
  || fail "--used-from"
[ "$(order_of tsv --sort last-used --limit 1 --state active --owner alice)" \
  = "$(sql "select id from tokenadm.tokens where owner = 'alice' order by last_used_at nulls first, created_at, id limit 1")" ] \
  || fail "--sort last-used"

# Values reach the COPY quoted, whatever quoting they need.
run_token 0 list --owner "x'); drop table tokenadm.tokens; --" --format tsv
expect_no_out
run_token 0 list --owner 'a\b' --label "\$1'\\" --format json
expect_out_exactly '[]'
[ "$(sql 'select count(*) > 0 from tokenadm.tokens')" = t ] || fail "the table is gone"

# --- Mid-stream. A listing big enough that the server is still sending when
# the reader stops for a while.
run_token 0 create --count 20000 --owner many --label m
backend() { sql "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
                 and backend_type = 'client backend' and query like 'copy (select%'"; }
slow_reader() {  # reads a little (whole lines of tsv), stops for 3 s, reads the rest
  local line
  if [ "${1:-}" = tsv ]; then
    for _ in 1 2 3; do IFS= read -r line || break; done
  else
    head -c 1000 >/dev/null
  fi
  sleep 3
  cat >"$TMP/rest"
}
for f in tsv json table; do
  rc=0
  { "$TOKEN" list --format "$f" 2>"$TMP/err" || echo $? >"$TMP/rc"; } | slow_reader "$f" &
  reader=$!
  pid=
  for _ in $(seq 50); do pid=$(backend); [ -n "$pid" ] && break; sleep 0.05; done
  [ -n "$pid" ] || fail "list --format $f: no COPY seen on the server"
  sql "select pg_terminate_backend($pid)" >/dev/null
  wait "$reader"
  rc=$(cat "$TMP/rc" 2>/dev/null || echo 0); rm -f "$TMP/rc"
  [ "$rc" = 2 ] || fail "list --format $f, server gone mid-stream: exit $rc"
  expect_one_line_err; expect_err '^token: lost the connection to the database: '
  if [ "$f" = tsv ]; then
    # Only whole rows were written before the error.
    awk -F'\t' 'NF != 8 { exit 1 }' "$TMP/rest" || fail "a torn row after the server went away"
  fi
done
check_clean "$TMP/err"

# The deadline cancels the COPY, whether it waits for a lock or streams to
# a reader that stopped.
"$PGBIN/psql" -X -q -d "$DB" -c "begin; lock table tokenadm.tokens in access exclusive mode; select pg_sleep(4); commit" >/dev/null &
locker=$!
for _ in $(seq 50); do [ "$(sql "select count(*) from pg_locks where relation = 'tokenadm.tokens'::regclass and mode = 'AccessExclusiveLock'")" = 1 ] && break; sleep 0.05; done
bounded 20 2 --timeout 1 list --format tsv
expect_one_line_err; expect_err '^token: timed out: the command did not finish within --timeout \(1s\); cancelled, nothing was changed$'
wait "$locker"
for f in tsv json; do
  { "$TOKEN" --timeout 1 list --format "$f" 2>"$TMP/err" || echo $? >"$TMP/rc"; } | slow_reader
  rc=$(cat "$TMP/rc" 2>/dev/null || echo 0); rm -f "$TMP/rc"
  [ "$rc" = 2 ] || fail "list --format $f past its deadline with a stalled reader: exit $rc"
  expect_one_line_err; expect_err '^token: timed out: .*cancelled, nothing was changed$'
done

# A reader that leaves: no word, exit 0 or 2, and the connection is left
# clean (the next command on the server works at once).
for f in tsv json table; do
  rc=0
  "$TOKEN" list --format "$f" 2>"$TMP/err" | head -1 >/dev/null || rc=$?
  { [ "$rc" = 0 ] || [ "$rc" = 2 ]; } || fail "list --format $f | head -1 exited $rc"
  [ ! -s "$TMP/err" ] || fail "list --format $f | head -1 wrote to stderr"
done
run_token 0 list --owner alice --format tsv
[ "$(wc -l <"$TMP/out")" = 3 ] || fail "alice's tokens after the readers left"

pass
