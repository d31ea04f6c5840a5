# init, create, list, verify, revoke: the main job, end to end.
. "$(dirname "$0")/common.sh"

# Before init: every command says to run token init (exit 2).
run_token 2 list
expect_one_line_err; expect_err 'run token init'
run_token 2 create --owner alice
expect_err 'run token init'
run_token 2 init --check
expect_err 'missing.*run token init'

run_token 0 init
expect_err 'schema created at version [0-9]+'
run_token 0 init
expect_err 'up to date'
run_token 0 init --check

# Concurrent inits apply the migration once.
sql "drop schema tokenadm cascade"
for i in 1 2 3 4; do "$TOKEN" init 2>"$TMP/init$i" & done
wait
[ "$(sql 'select count(*) from tokenadm.schema_version')" = "$(sql 'select max(version) from tokenadm.schema_version')" ] || fail "migration applied twice"

create_token --owner alice --label ci --role api --role feed
ALICE=$TOK; ALICE_ID=$TOK_ID
[ "${#ALICE}" = 53 ] || fail "token length ${#ALICE}"
[[ "$ALICE" == tka_* ]] || fail "default prefix"
create_token --owner bob --label deploy --expires-in 12h
BOB=$TOK; BOB_ID=$TOK_ID

# The table stores a digest, never the token.
[ "$(sql "select count(*) from tokenadm.tokens where digest = encode(sha256('$ALICE'::bytea), 'hex')")" = 1 ] \
  || fail "digest is not SHA-256 of the token"
[ "$(sql "select roles::text from tokenadm.tokens where id = '$ALICE_ID'")" = '{api,feed}' ] || fail "roles"
[ "$(sql "select (expires_at - created_at)::text from tokenadm.tokens where id = '$BOB_ID'")" = '12:00:00' ] \
  || fail "--expires-in 12h"
[ "$(sql "select (expires_at - created_at)::text from tokenadm.tokens where id = '$ALICE_ID'")" = '90 days' ] \
  || fail "default expiry is 90 days"
[ "$(sql "select count(*) from tokenadm.audit where action = 'create'")" = 2 ] || fail "audit rows"

run_token 0 list
expect_out '^ID +OWNER +LABEL +ROLES +STATE +TTL +CREATED +EXPIRES +LAST-USED$'
expect_out "^$ALICE_ID +alice +ci +api,feed +active "
expect_out "^$BOB_ID +bob +deploy +all +active "
run_token 0 list --owner bob --format tsv
[ "$(wc -l <"$TMP/out")" = 1 ] || fail "--owner filter"
expect_out "^$BOB_ID	bob	deploy	all	active	"
run_token 0 list --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==2 and d[0]["owner"]=="alice" and d[0]["roles"]==["api","feed"] and "token" not in d[0], d' "$TMP/out" \
  || fail "list json"

# verify: the owner on stdout, exit 0.
run_token 0 verify <<<"$ALICE"
expect_out_exactly alice
run_token 0 verify --role api <<<"$ALICE"
printf '%s' "$BOB" >"$TMP/tokfile"
run_token 0 verify --token-file "$TMP/tokfile"
expect_out_exactly bob
TOKENADM_TOKEN=$BOB run_token 0 verify </dev/null
expect_out_exactly bob
run_token 0 verify --header <<<"Authorization: Bearer $ALICE"
expect_out_exactly alice
run_token 0 verify --format json <<<"$ALICE"
expect_out "^\{\"id\":\"$ALICE_ID\",\"owner\":\"alice\",\"valid\":true\}$"

# revoke: once changes state, twice says so, both exit 0.
run_token 0 revoke "$ALICE_ID" --reason "left the company"
expect_err "revoked $ALICE_ID"
run_token 0 revoke "$ALICE_ID"
expect_err "$ALICE_ID was already revoked at"
[ "$(sql "select count(*) from tokenadm.audit where action = 'revoke'")" = 1 ] || fail "one state change"
[ "$(sql "select revoke_reason from tokenadm.tokens where id = '$ALICE_ID'")" = "left the company" ] || fail "reason"
run_token 2 verify <<<"$ALICE"
expect_one_line_err; expect_err '^token: revoked: '
expect_no_out
run_token 0 list --state revoked --format tsv
expect_out "^$ALICE_ID	alice	ci	api,feed	revoked	"
run_token 0 list --state active --format tsv
[ "$(wc -l <"$TMP/out")" = 1 ] || fail "--state active"

# Bulk revoke by owner needs --yes; --dry-run shows and changes nothing.
create_token --owner carol
create_token --owner carol
run_token 2 revoke --owner carol
expect_err 'needs --yes'
run_token 0 revoke --owner carol --dry-run
[ "$(wc -l <"$TMP/out")" = 2 ] || fail "dry run lists two"
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'carol' and revoked_at is null")" = 2 ] || fail "dry run changed"
run_token 0 revoke --owner carol --yes
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'carol' and revoked_at is null")" = 0 ] || fail "bulk"

# Bulk by label, and every expired token at once.
create_token --owner gina --label nightly
create_token --owner hank --label nightly
run_token 0 revoke --label nightly --dry-run
[ "$(wc -l <"$TMP/out")" = 2 ] || fail "--label dry run"
run_token 0 revoke --label nightly --yes --reason "job retired"
[ "$(sql "select count(*) from tokenadm.tokens where label = 'nightly' and revoke_reason = 'job retired'")" = 2 ] || fail "--label bulk"
create_token --owner ivy --expires-in 1h
sql "update tokenadm.tokens set expires_at = now() - interval '1 minute' where id = '$TOK_ID'"
run_token 0 revoke --all-expired --yes
expect_err "revoked $TOK_ID"
run_token 2 revoke --all-expired --owner ivy --yes
expect_one_line_err; expect_err 'goes alone'

# Unknown IDs exit 2; known ones in the same call are still revoked.
run_token 2 revoke ZZZZZZZZZZ "$BOB_ID" not-an-id
expect_err 'ZZZZZZZZZZ: no such token'
expect_err "revoked $BOB_ID"
expect_err 'not-an-id: no such token'

# A whole token given to revoke is revoked (it has leaked) and not echoed.
create_token --owner dave
DAVE_ID=$TOK_ID
set +e; "$TOKEN" revoke "$TOK" >"$TMP/out" 2>"$TMP/err"; rc=$?; set -e
[ $rc = 0 ] || fail "revoke of a whole token exited $rc"
grep -qF "$TOK" "$TMP/err" && fail "revoke echoed the whole token"
expect_err "revoked $DAVE_ID"

# JSON create, and --output to a 0600 file.
run_token 0 create --owner erin --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["owner"]=="erin" and d["token"].startswith("tka_") and d["state"]=="active"' "$TMP/out" \
  || fail "create json"
remember_secret "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$TMP/out")"
run_token 0 create --owner frank --output "$TMP/frank.tok"
expect_no_out
[ "$(stat -c %a "$TMP/frank.tok")" = 600 ] || fail "--output mode"
remember_secret "$(cat "$TMP/frank.tok")"
run_token 0 verify --token-file "$TMP/frank.tok"
expect_out_exactly frank
run_token 2 create --owner frank --output "$TMP/frank.tok"
expect_err 'never overwritten'
ln -s "$TMP/elsewhere" "$TMP/link.tok"
run_token 2 create --owner frank --output "$TMP/link.tok"
[ ! -e "$TMP/elsewhere" ] || fail "--output followed a symlink"
# A failed create leaves no --output file behind.
run_token 2 create --owner frank --role nope --output "$TMP/none.tok"
[ ! -e "$TMP/none.tok" ] || fail "--output left after failure"
TOKENADM_DSN="host=$PGHOST port=$PGPORT dbname=no_such_db_x" run_token 1 create --output "$TMP/none.tok"
[ ! -e "$TMP/none.tok" ] || fail "--output left after failed connect"

pass
