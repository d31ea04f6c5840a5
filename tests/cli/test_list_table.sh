# token list: --sort (natural for labels), --limit, --no-headers, the TTL
# column, and a table that streams (widths from the first 100 rows, later
# values cut, memory flat); audit's table sized to its contents.
. "$(dirname "$0")/common.sh"

run_token 0 init
create_token --owner nat --label label10 --expires-in 30d
L10=$TOK_ID
create_token --owner nat --label label2 --expires-in 6h
L2=$TOK_ID
create_token --owner nat --label label1 --expires-in 30m
L1=$TOK_ID
TOKENADM_ALLOW_NO_EXPIRY=true create_token --owner nat --label label3 --no-expiry
L3=$TOK_ID
create_token --owner nat --label gone --expires-in 1d
GONE=$TOK_ID
create_token --owner nat --label old --expires-in 1d
OLD=$TOK_ID
sql "update tokenadm.tokens set expires_at = now() - interval '1 hour' where id = '$OLD'"
run_token 0 revoke "$GONE"

# ids NAME...: the first column of stdout, one line.
ids() { awk '{ print $1 }' "$TMP/out" | paste -sd' ' -; }

run_token 0 list --owner nat
expect_out '^ID +OWNER +LABEL +ROLES +STATE +TTL +CREATED +EXPIRES +LAST-USED$'
expect_out "^$L10 +nat +label10 +all +active +29d +"
expect_out "^$L2 +nat +label2 +all +active +5h +"
expect_out "^$L1 +nat +label1 +all +active +29m +"
expect_out "^$L3 +nat +label3 +all +active +never +.* never +-$"
expect_out "^$GONE +nat +gone +all +revoked +- +"
expect_out "^$OLD +nat +old +all +expired +expired +"
[ "$(ids)" = "ID $L10 $L2 $L1 $L3 $GONE $OLD" ] || fail "default order is not by creation: $(ids)"

run_token 0 list --owner nat --sort label --no-headers
[ "$(ids)" = "$GONE $L1 $L2 $L3 $L10 $OLD" ] || fail "--sort label is not natural: $(ids)"
run_token 0 list --owner nat --sort expires --format tsv
[ "$(ids)" = "$OLD $L1 $L2 $GONE $L10 $L3" ] || fail "--sort expires: $(ids)"
run_token 0 list --owner nat --sort label --limit 2 --no-headers
[ "$(ids)" = "$GONE $L1" ] || fail "--limit after --sort: $(ids)"
run_token 0 list --owner nat --state active --limit 1 --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [t["id"] for t in d]==[sys.argv[2]], d' "$TMP/out" "$L10" \
  || fail "--limit with --state and json"
run_token 0 list --owner nat --no-headers --format tsv
[ "$(wc -l <"$TMP/out")" = 6 ] || fail "tsv with --no-headers"
run_token 0 list --owner nobody
expect_out_exactly "ID  OWNER  LABEL  ROLES  STATE  TTL  CREATED  EXPIRES  LAST-USED"
run_token 0 list --owner nobody --no-headers
expect_no_out
sql "update tokenadm.tokens set last_used_at = now() - interval '1 day' where id = '$L2'"
sql "update tokenadm.tokens set last_used_at = now() where id = '$L10'"
run_token 0 list --owner nat --sort last-used --no-headers
[ "$(ids)" = "$L1 $L3 $GONE $OLD $L2 $L10" ] || fail "--sort last-used: $(ids)"
create_token --owner item2 --label a
create_token --owner item10 --label a
create_token --owner item1 --label a
run_token 0 list --label a --sort owner --format tsv
[ "$(cut -f2 "$TMP/out" | paste -sd' ' -)" = "item1 item2 item10" ] || fail "--sort owner: $(cut -f2 "$TMP/out" | paste -sd' ' -)"

# Widths come from the first 100 rows: a longer owner later is cut with "~",
# and the columns after it stay aligned.
sql "delete from tokenadm.tokens"
run_token 0 create --count 100 --owner short
while read -r t; do remember_secret "$t"; done <"$TMP/out"
create_token --owner "a-much-longer-owner-name" --label later
run_token 0 list
[ "$(wc -l <"$TMP/out")" = 102 ] || fail "not one line per token"
expect_out "^$TOK_ID  a-mu~  later "
[ "$(awk '{ print index($0, "active") }' "$TMP/out" | sed 1d | sort -u | wc -l)" = 1 ] || fail "rows not aligned"
# Within the first 100 rows, a long value widens its column.
run_token 0 list --sort owner
expect_out "^$TOK_ID  a-much-longer-owner-name  later "

# 100,000 rows stream: peak memory stays flat.
sql "delete from tokenadm.tokens"
"$TOKEN" create --count 100000 --owner bulk >/dev/null 2>"$TMP/err" || fail "create --count 100000: $(cat "$TMP/err")"
set +e
# Under ASan, freed memory waits in its 256 MB quarantine: off here, so the
# figure is what the list holds, plus ASan's shadow.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
  /usr/bin/time -f '%M' -o "$TMP/rss" "$TOKEN" list >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
[ "$rc" = 0 ] || fail "list of 100000 exited $rc"
[ "$(wc -l <"$TMP/out")" = 100001 ] || fail "list of 100000 printed $(wc -l <"$TMP/out") lines"
expect_peak_rss_below "$TMP/rss" 20000 "listing 100000 tokens as a table"

# audit's table: each column as wide as its contents.
create_token --owner "owner-with-a-long-name@example.org" --label x
run_token 0 audit --owner "owner-with-a-long-name@example.org"
expect_out '^AT +ACTION +ID +OWNER +OUTCOME +ACTOR +REASON$'
expect_out "^[0-9TZ:-]+  create  $TOK_ID  owner-with-a-long-name@example.org  ok  "
[ "$(awk 'NR == 1 { print index($0, "OUTCOME") }' "$TMP/out")" = "$(awk 'NR == 2 { print index($0, "  ok  ") + 2 }' "$TMP/out")" ] \
  || fail "audit columns not aligned"
run_token 0 audit --owner nobody
expect_out_exactly "AT  ACTION  ID  OWNER  OUTCOME  ACTOR  REASON"

pass
