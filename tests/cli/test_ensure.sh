# ensure: idempotent provisioning, exactly one token under concurrency.
. "$(dirname "$0")/common.sh"
run_token 0 init

run_token 0 ensure --owner svc --label deploy --role api
TOK=$(cat "$TMP/out"); remember_secret "$TOK"
[[ "$TOK" =~ ^tka_ ]] || fail "ensure printed no token the first time"
run_token 0 ensure --owner svc --label deploy --role api
expect_no_out
run_token 0 ensure --owner svc --label deploy --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["created"] is False and "token" not in d' "$TMP/out" || fail "json created false"
# A revoked one does not count: a new one is made.
run_token 0 revoke "$(cut -d_ -f2 <<<"$TOK")"
run_token 0 ensure --owner svc --label deploy --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["created"] is True and d["token"].startswith("tka_")' "$TMP/out" || fail "json created true"
remember_secret "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$TMP/out")"
# --output: idempotent too; the file stays as the first run wrote it.
run_token 0 ensure --owner svc2 --label deploy --output "$TMP/svc2.tok"
remember_secret "$(cat "$TMP/svc2.tok")"
[ "$(stat -c %a "$TMP/svc2.tok")" = 600 ] || fail "ensure --output mode"
cp "$TMP/svc2.tok" "$TMP/svc2.before"
run_token 0 ensure --owner svc2 --label deploy --output "$TMP/svc2.tok"
cmp -s "$TMP/svc2.tok" "$TMP/svc2.before" || fail "ensure rewrote --output"
run_token 0 verify --token-file "$TMP/svc2.tok"
run_token 0 revoke "$(cut -d_ -f2 "$TMP/svc2.tok")"
run_token 2 ensure --owner svc2 --label deploy --output "$TMP/svc2.tok"
expect_one_line_err; expect_err 'remove it'
run_token 2 ensure --owner svc
expect_one_line_err; expect_err 'needs --owner and --label'
run_token 2 ensure --owner svc --label x --role root
expect_err 'unknown role'

# 20 at once for the same owner+label: one token, printed by one run.
for i in $(seq 20); do
  "$TOKEN" ensure --owner race --label same >"$TMP/race.$i" 2>"$TMP/race.err.$i" &
done
wait
printed=0
for i in $(seq 20); do
  [ -s "$TMP/race.$i" ] && printed=$((printed + 1))
  remember_secret "$(cat "$TMP/race.$i")"
  [ ! -s "$TMP/race.err.$i" ] || { cp "$TMP/race.err.$i" "$TMP/err"; fail "ensure run $i failed"; }
done
[ "$printed" = 1 ] || fail "$printed runs printed a token"
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'race' and label = 'same'")" = 1 ] || fail "more than one token"
pass
