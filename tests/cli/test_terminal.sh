# On a terminal: tables fit its width, long operations show progress; in a
# pipe (cron, scripts): whole values, no progress, no colour.
. "$(dirname "$0")/common.sh"
command -v script >/dev/null || fail "script(1) from util-linux is needed"
run_token 0 init
long=$(printf 'owner-%.0s' $(seq 12))   # 72 characters
create_token --owner "$long" --label "a-rather-long-label-for-a-token-in-a-table"
# In a pipe the whole owner is printed.
run_token 0 list
expect_out "$long"
# On an 80-column terminal every line fits, the owner cut with "~".
TERM=dumb script -qec "stty cols 80 rows 24; '$TOKEN' list" /dev/null >"$TMP/tty.out" 2>&1 || fail "list on a terminal"
tr -d '\r' <"$TMP/tty.out" >"$TMP/out"
awk 'length($0) > 80 { bad = 1 } END { exit bad }' "$TMP/out" || fail "a table line is wider than the terminal"
expect_out 'owner-[a-z-]*~'
grep -q CREATED "$TMP/out" && fail "CREATED kept on a narrow terminal"
grep -q $'\033\\[3[0-9]m' "$TMP/out" && fail "colour on a dumb terminal"
# Progress on a terminal, none in a pipe.
TERM=dumb script -qec "'$TOKEN' create --count 20000 --owner progress >/dev/null" /dev/null >"$TMP/tty.out" 2>&1 || fail "create --count on a terminal"
grep -q 'token: creating [0-9]*/20000' "$TMP/tty.out" || fail "no progress line on a terminal"
run_token 0 create --count 2000 --owner quiet
[ ! -s "$TMP/err" ] || fail "progress printed into a pipe"
pass
