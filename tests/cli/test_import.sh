# import: legacy plaintext tokens become digests that verify accepts.
. "$(dirname "$0")/common.sh"
run_token 0 init

KALLI=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')   # 40 hex, like Kallithea's api_key
GS=$(head -c 1024 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 30; echo x)  # base62, like gs's token
remember_secret "$KALLI"; remember_secret "$GS"

printf '%s\n%s\n' "$KALLI" "$GS" | run_token 0 import --owner legacy --label old-keys --role api
[ "$(wc -l <"$TMP/out")" = 2 ] || fail "import prints one id per token"
expect_err 'imported 2 token'
run_token 0 verify <<<"$KALLI"
expect_out_exactly legacy
run_token 0 verify --role api <<<"$GS"
run_token 2 verify --role vcs <<<"$GS"
expect_err forbidden
# Imported again: duplicates, nothing new.
printf '%s\n' "$KALLI" | run_token 0 import --owner legacy
expect_err 'already present'
[ "$(sql "select count(*) from tokenadm.tokens where source = 'import'")" = 2 ] || fail "duplicate stored"
# The plaintext is nowhere in the database.
"$PGBIN/pg_dump" -d "$DB" >"$TMP/dump.sql"
check_clean "$TMP/dump.sql"
# Revoked like any other.
run_token 0 revoke "$(head -1 <<<"$(sql "select id from tokenadm.tokens order by created_at limit 1")")"

# Bad input: nothing is stored unless every line is a token.
before=$(sql "select count(*) from tokenadm.tokens")
printf 'abcdefghijklmnopqrstuvwxyz\n\nabcdefghijklmnopqrstuvwxy2\n' | run_token 2 import
expect_one_line_err; expect_err 'line 2 is empty'
head -c 10485760 /dev/zero | tr '\0' 'a' | run_token 2 import
expect_one_line_err; expect_err 'line 1 is longer than 256 bytes'
run_token 2 import </dev/null
expect_err 'no tokens'
printf 'short\n' | run_token 2 import
expect_err 'not a legacy token'
printf 'has spaces in it but long enough\n' | run_token 2 import
expect_err 'not a legacy token'
[ "$(sql "select count(*) from tokenadm.tokens")" = "$before" ] || fail "bad import stored something"

# --from-gs: gs's option row, and --remove-plaintext in the same transaction.
run_token 2 import --from-gs
expect_err 'no GroupServer option table'
sql "create table option (component_id text, option_id text, site_id text, group_id text, value text)"
run_token 2 import --from-gs
expect_err 'no gs.auth.token authToken row'
GSTOK=$(head -c 1024 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 24)
remember_secret "$GSTOK"
sql "insert into option values ('gs.auth.token', 'authToken', '', '', '$GSTOK'), ('other', 'x', '', '', 'y')"
run_token 2 import --remove-plaintext
expect_one_line_err
run_token 0 import --from-gs
[ "$(sql "select label || '/' || source from tokenadm.tokens where source = 'gs'")" = "gs.auth.token/gs" ] || fail "gs import"
[ "$(sql "select count(*) from option")" = 2 ] || fail "removed without --remove-plaintext"
run_token 0 verify <<<"$GSTOK"
run_token 0 import --from-gs --remove-plaintext
expect_err 'imported before'
[ "$(sql "select count(*) from option where component_id = 'gs.auth.token'")" = 0 ] || fail "--remove-plaintext"
[ "$(sql "select count(*) from option")" = 1 ] || fail "removed other rows"
run_token 0 verify <<<"$GSTOK"
# Run again (a provisioning script's second run): nothing to do, exit 0.
run_token 0 import --from-gs --remove-plaintext
expect_err 'imported before'
[ "$(sql "select count(*) from tokenadm.tokens where source = 'gs'")" = 1 ] || fail "rerun imported again"
run_token 0 import --from-gs --format json
expect_out '^\{"already_imported":true,"imported":\[\],"removed_plaintext":false\}$'
pass
