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

# Drift: an active token whose roles, scopes or asked-for expiry differ is
# reported (JSON "differs", a warning on stderr), and --converge replaces it.
jq_() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/out" "$1"; }
run_token 0 ensure --owner drift --label web --role api --scope repo/a --expires-in 30d
DTOK=$(cat "$TMP/out"); remember_secret "$DTOK"; DID=$(cut -d_ -f2 <<<"$DTOK")
run_token 0 ensure --owner drift --label web --role api --scope repo/a --expires-in 30d --format json
[ "$(jq_ 'd["created"], d["differs"], d["id"]')" = "(False, [], '$DID')" ] || fail "no drift expected"
run_token 0 ensure --owner drift --label web --scope repo/a --role api --role api
expect_no_out; [ ! -s "$TMP/err" ] || fail "a repeated role is no drift"
run_token 0 ensure --owner drift --label web --role api --role feed --scope repo/b --expires-in 90d --format json
[ "$(jq_ 'd["created"], d["differs"], d["id"], "token" in d')" = "(False, ['roles', 'scopes', 'expiry'], '$DID', False)" ] \
  || fail "drift not reported in json"
run_token 0 ensure --owner drift --label web --role vcs --scope repo/a
expect_no_out; expect_one_line_err; expect_err "^token: warning: the active token $DID differs in roles from what was asked: --converge replaces it$"
run_token 0 ensure --owner drift --label web --role api --scope repo/a --expires-in 12h --format json
[ "$(jq_ 'd["differs"]')" = "['expiry']" ] || fail "expiry drift"
run_token 2 ensure --owner drift --label web --role api --scope repo/a --no-expiry
expect_one_line_err; expect_err 'not allowed by the policy' 
# Address ranges (as normalised sets) and the use limit are part of the check.
run_token 0 ensure --owner bound --label web --allow-from 10.0.0.0/8,192.0.2.7 --max-uses 5
BTOK=$(cat "$TMP/out"); remember_secret "$BTOK"
run_token 0 ensure --owner bound --label web --allow-from 192.0.2.7/32 --allow-from 10.0.0.0/8 --max-uses 5 --format json
[ "$(jq_ 'd["created"], d["differs"]')" = "(False, [])" ] || fail "the same ranges in another order or form are drift"
run_token 0 ensure --owner bound --label web --allow-from 10.0.0.0/8 --format json
[ "$(jq_ 'd["differs"]')" = "['allow_from', 'max_uses']" ] || fail "allow_from/max_uses drift not reported"
run_token 0 ensure --owner bound --label web --allow-from 10.0.0.0/8,192.0.2.7 --max-uses 6 --dry-run
expect_no_out; expect_one_line_err; expect_err 'differs in max_uses from what was asked$'
# --dry-run changes nothing, says what would happen.
run_token 0 ensure --owner drift --label web --role vcs --scope repo/a --dry-run --format json
[ "$(jq_ 'd["created"], d["differs"]')" = "(False, ['roles'])" ] || fail "dry-run drift"
run_token 0 ensure --owner nobody --label web --dry-run --format json
[ "$(jq_ 'd["created"], d["would_create"], d["differs"]')" = "(False, True, [])" ] || fail "dry-run would_create"
run_token 0 ensure --owner nobody --label web --dry-run
expect_no_out; expect_err '^token: dry run: a token would be created$'
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'nobody'")" = 0 ] || fail "dry run created a token"
run_token 2 ensure --owner drift --label web --dry-run --converge
expect_one_line_err
run_token 2 ensure --owner drift --label web --dry-run --output "$TMP/dry.tok"
expect_one_line_err; expect_err 'writes nothing'
# --converge rotates: printed, the old one revoked and pointing to it, audited.
run_token 0 ensure --owner drift --label web --role vcs --scope repo/a --converge
NTOK=$(cat "$TMP/out"); remember_secret "$NTOK"; NID=$(cut -d_ -f2 <<<"$NTOK")
[[ "$NTOK" =~ ^tka_ ]] && [ "$NID" != "$DID" ] || fail "converge printed no new token"
expect_err "rotated $DID -> $NID \(roles differed\)"
[ "$(sql "select revoke_reason, replaced_by from tokenadm.tokens where id = '$DID'")" = "rotated|$NID" ] || fail "old token not replaced"
[ "$(sql "select array_to_string(roles, ',') from tokenadm.tokens where id = '$NID'")" = vcs ] || fail "new token's roles"
sql "select reason from tokenadm.audit where action = 'rotate' and token_id = '$DID'" | grep -q "ensure --converge: roles differed" || fail "converge not audited"
run_token 2 verify <<<"$DTOK"; expect_err revoked
run_token 0 verify --role vcs <<<"$NTOK"
run_token 0 ensure --owner drift --label web --role vcs --scope repo/a --converge --format json
[ "$(jq_ 'd["created"], d["differs"], d["id"]')" = "(False, [], '$NID')" ] || fail "converge is idempotent"

# --output: an existing file must hold the active token; --converge
# replaces the file's token through a file made before the commit.
run_token 0 ensure --owner out --label f --role api --output "$TMP/o.tok"
OTOK=$(cat "$TMP/o.tok"); remember_secret "$OTOK"; OID=$(cut -d_ -f2 <<<"$OTOK")
run_token 0 ensure --owner out --label f --role feed --output "$TMP/o.tok"
expect_err "differs in roles"; cmp -s <(echo "$OTOK") "$TMP/o.tok" || fail "file changed without --converge"
run_token 0 ensure --owner out --label f --role feed --output "$TMP/o.tok" --converge --format json
NOTOK=$(cat "$TMP/o.tok"); remember_secret "$NOTOK"
[ "$(jq_ 'd["created"], d["replaces"], "token" in d, d["id"]')" = "(True, '$OID', False, '$(cut -d_ -f2 <<<"$NOTOK")')" ] || fail "converge into --output"
[ "$(stat -c %a "$TMP/o.tok")" = 600 ] || fail "converged --output mode"
[ -z "$(ls "$TMP" | grep 'o.tok.')" ] || fail "a temporary file was left behind"
run_token 0 verify --role feed --token-file "$TMP/o.tok"
# The file holds another token than the active one: refused, nothing made.
echo "$OTOK" >"$TMP/stale.tok"; chmod 600 "$TMP/stale.tok"
run_token 2 ensure --owner out --label f --role feed --output "$TMP/stale.tok"
expect_one_line_err; expect_err "holds token $OID, but the active one is $(cut -d_ -f2 <<<"$NOTOK")"
echo "not a token" >"$TMP/junk.tok"
run_token 2 ensure --owner out --label f --role feed --output "$TMP/junk.tok"
expect_one_line_err; expect_err 'holds no token'
ln -s "$TMP/o.tok" "$TMP/link.tok"
run_token 2 ensure --owner out --label f --role feed --output "$TMP/link.tok"
expect_one_line_err
# No file, but an active token made before: it cannot be written, so say so.
run_token 2 ensure --owner out --label f --role feed --output "$TMP/new.tok"
expect_one_line_err; expect_err 'was made before and is not in it'; [ ! -e "$TMP/new.tok" ] || fail "file left"
# A file that cannot be replaced (directory not writable) makes nothing.
if [ "$(id -u)" != 0 ]; then
  mkdir "$TMP/ro"; cp "$TMP/o.tok" "$TMP/ro/t.tok"; chmod 500 "$TMP/ro"
  before=$(sql "select count(*) from tokenadm.tokens")
  run_token 2 ensure --owner out --label f --role api --output "$TMP/ro/t.tok" --converge
  expect_one_line_err; expect_err 'cannot write beside it'
  [ "$(sql "select count(*) from tokenadm.tokens")" = "$before" ] || fail "a token was made that the file cannot receive"
  chmod 700 "$TMP/ro"
fi
# A directory that cannot take a new file: nothing made either.
before=$(sql "select count(*) from tokenadm.tokens")
run_token 2 ensure --owner out2 --label f --output "$TMP/nodir/t.tok"
expect_one_line_err
[ "$(sql "select count(*) from tokenadm.tokens")" = "$before" ] || fail "a token was made without a file"

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
