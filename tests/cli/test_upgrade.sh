# Databases made by schema versions 1 and 3 upgrade in place; their tokens
# stay valid.
. "$(dirname "$0")/common.sh"
fixtures=$(dirname "$0")/fixtures
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$fixtures/schema-v1.sql" >/dev/null
# Stored reversed so that secret scanners do not flag the fixture.
ALIVE=$(sed -n 1p "$fixtures/schema-v1.tokens.rev" | rev)
REVOKED=$(sed -n 2p "$fixtures/schema-v1.tokens.rev" | rev)
remember_secret "$ALIVE"; remember_secret "$REVOKED"

run_token 2 init --check
expect_one_line_err; expect_err 'version 1, this token needs [0-9]+: run token init'
run_token 2 list
expect_err 'run token init'
run_token 2 verify <<<"$ALIVE"
expect_err 'run token init'
run_token 0 init
expect_err 'schema upgraded from version 1 to'
run_token 0 init --check
run_token 0 verify --role api <<<"$ALIVE"
expect_out_exactly legacy-alice
run_token 2 verify <<<"$REVOKED"
expect_err '^token: revoked'
run_token 0 list --format tsv
[ "$(wc -l <"$TMP/out")" = 2 ] || fail "tokens lost in the upgrade"
# Every statement checks the version through tokenadm.schema_version_now(),
# which init defines to the version it reached.
[ "$(sql "select tokenadm.schema_version_now() = max(version) from tokenadm.schema_version")" = t ] \
  || fail "schema_version_now() does not return the version init reached"
# A schema newer than this binary is refused, not guessed at: as a newer
# init leaves it, with its row and the function redefined.
sql "insert into tokenadm.schema_version (version) values (99)"
sql "create or replace function tokenadm.schema_version_now() returns int language sql immutable as 'select 99'"
run_token 2 init --check
expect_err 'newer than this token understands'
run_token 2 create --owner x
expect_err 'newer than this token understands'
run_token 2 verify <<<"$ALIVE"
expect_one_line_err; expect_err 'newer than this token understands'
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'x'")" = 0 ] || fail "create wrote to a newer schema"

# Version 6, before schema_version_now(): every command says to run init
# (the statements name the function), and init adds it.
"$PGBIN/createdb" "${DB}_v6"
export TOKENADM_DSN="$BASE_DSN"_v6
run_token 0 init
create_token --owner v6
V6=$TOK
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "${DB}_v6" \
  -c "drop function tokenadm.schema_version_now()" -c "delete from tokenadm.schema_version where version > 6"
for cmd in verify list "revoke $TOK_ID" "create --owner y"; do
  # shellcheck disable=SC2086 # the command's words
  run_token 2 $cmd <<<"$V6"
  expect_one_line_err; expect_err '^token: the tokenadm schema is older than this token needs: run token init$'
done
run_token 0 init
expect_err 'schema upgraded from version 6 to'
run_token 0 verify <<<"$V6"
expect_out_exactly v6
# Dropped by hand at the current version: init --check (and serve's health
# check, through the same call) says so, and init puts it back.
"$PGBIN/psql" -X -q -d "${DB}_v6" -c "drop function tokenadm.schema_version_now()"
run_token 2 verify <<<"$V6"
expect_err 'run token init$'
run_token 2 init --check
expect_one_line_err; expect_err 'schema_version_now\(\) is missing or disagrees with tokenadm.schema_version: run token init$'
run_token 0 init
expect_err 'schema is up to date'
run_token 0 init --check
run_token 0 verify <<<"$V6"
expect_out_exactly v6
# A batch co-process whose lookup is prepared (and planned generic, after 6
# runs) sees a newer init's function at its next line: it refuses.
mkfifo "$TMP/fifo"
{ for _ in 1 2 3 4 5 6 7; do printf '%s\n' "$V6"; sleep 0.2; done; sleep 2; printf '%s\n' "$V6"; } >"$TMP/fifo" &
"$TOKEN" verify --batch --no-touch <"$TMP/fifo" >"$TMP/out" 2>"$TMP/err" &
vpid=$!
for _ in $(seq 30); do [ "$(wc -l <"$TMP/out")" -ge 7 ] && break; sleep 0.1; done
"$PGBIN/psql" -X -q -d "${DB}_v6" \
  -c "create or replace function tokenadm.schema_version_now() returns int language sql immutable as 'select 99'"
rc=0; wait $vpid || rc=$?
[ "$(sed -n 8p "$TMP/out")" = "error schema" ] || fail "the prepared lookup answered '$(sed -n 8p "$TMP/out")' on a newer schema"
[ "$(sort -u <(head -7 "$TMP/out") | cut -d' ' -f1)" = ok ] || fail "answers before the newer schema"

# Version 3 (before the verify-time policy columns of version 4).
"$PGBIN/createdb" "${DB}_v3"
export TOKENADM_DSN="$BASE_DSN"_v3
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "${DB}_v3" -f "$fixtures/schema-v3.sql" >/dev/null
V3=$(sed -n 1p "$fixtures/schema-v3.tokens.rev" | rev)
remember_secret "$V3"
run_token 2 init --check
expect_err 'version 3, this token needs [0-9]+: run token init'
run_token 2 verify <<<"$V3"
expect_err 'run token init'
run_token 0 init
expect_err 'schema upgraded from version 3 to'
run_token 0 verify --role api <<<"$V3"
expect_out_exactly v3-bob
run_token 0 verify <<<"$ALIVE"
expect_out_exactly legacy-alice
run_token 2 verify <<<"$REVOKED"
expect_err '^token: revoked'
run_token 0 show qwrUAHaShL --format json
expect_out '"allow_from":null'
expect_out '"max_uses":null'
expect_out '"uses":0'
# Version 5's notice claims: notify --at works on the upgraded database.
[ "$(sql "select to_regclass('tokenadm.notices') is not null")" = t ] || fail "no tokenadm.notices after the upgrade"
run_token 0 notify --at 30d,1d --dry-run
# Version 6: replaced_by is indexed (each pruned token looks it up) and the
# tokens' pages keep room for HOT updates.
[ "$(sql "select count(*) from pg_indexes where schemaname = 'tokenadm' and indexname = 'tokens_replaced_by_idx'")" = 1 ] \
  || fail "tokens.replaced_by is not indexed after the upgrade"
sql "select array_to_string(reloptions, ',') from pg_class where oid = 'tokenadm.tokens'::regclass" \
  | grep -q 'fillfactor=80' || fail "tokens has no fillfactor after the upgrade"
# Version 8: a change to what a verify reads is announced on tokenadm_tokens
# (serve's cache listens); a verify's own write (last_used_at) is not.
"$PGBIN/psql" -X -q -d "${DB}_v3" -c "listen tokenadm_tokens" \
  -c "update tokenadm.tokens set last_used_at = now()" -c "select 1" >"$TMP/out" 2>&1
! grep -q 'notification' "$TMP/out" || fail "a last_used_at update was announced"
"$PGBIN/psql" -X -q -d "${DB}_v3" -c "listen tokenadm_tokens" \
  -c "update tokenadm.tokens set suspended_at = null" -c "select 1" >"$TMP/out" 2>&1
grep -q 'Asynchronous notification "tokenadm_tokens"' "$TMP/out" || fail "a change to tokens was not announced after the upgrade"
[ "$("$PGBIN/psql" -X -q -At -d "${DB}_v3" -c "select tgenabled from pg_trigger where tgname = 'tokens_changed'")" = A ] \
  || fail "the trigger does not fire always (session_replication_role = replica) after the upgrade"
# Version 10: a bulk creation is one audit row, its tokens' ids in
# token_ids; audit --token finds it by any of them, and a token's own row
# as before.
run_token 0 create --count 3 --owner bulk10 --label b
while read -r t; do remember_secret "$t"; done <"$TMP/out"
second=$(sed -n 2p "$TMP/out" | cut -d_ -f2)
[ "$("$PGBIN/psql" -X -q -At -d "${DB}_v3" -c "select count(*), sum(count), sum(cardinality(token_ids)) from tokenadm.audit where owner = 'bulk10'")" = "1|3|3" ] \
  || fail "a bulk creation is not one audit row after the upgrade"
run_token 0 audit --token "$second" --format json
expect_out "\"id\":\"$second\""
expect_out '"count":3'
create_token --owner one10
run_token 0 audit --token "$TOK_ID" --format json
expect_out "\"id\":\"$TOK_ID\""
# Version 11: only legacy (imported) rows are in the digest's unique index.
# The upgrade marks the imported rows (source not tokenadm's own): the v3
# fixture's imported token verifies, one-shot and in a batch, and
# revoke --leaked --legacy finds it; tokens created before or since are not
# legacy; one imported since is.
sql11() { "$PGBIN/psql" -X -q -At -d "${DB}_v3" -c "$1"; }
[ "$(sql11 "select indexdef from pg_indexes where schemaname = 'tokenadm' and indexname = 'tokens_legacy_digest_idx'")" \
  = "CREATE UNIQUE INDEX tokens_legacy_digest_idx ON tokenadm.tokens USING btree (digest) WHERE legacy" ] \
  || fail "no unique index of legacy digests after the upgrade"
[ "$(sql11 "select count(*) from pg_constraint where conname = 'tokens_digest_key'")" = 0 ] \
  || fail "every digest is still in a unique index after the upgrade"
[ "$(sql11 "select string_agg(owner || '=' || legacy, ' ' order by owner) from tokenadm.tokens where owner in ('imported-v3', 'legacy-alice', 'v3-bob', 'one10')")" \
  = "imported-v3=true legacy-alice=false one10=false v3-bob=false" ] || fail "which rows are legacy after the upgrade"
IMP3=$(sed -n 2p "$fixtures/schema-v3.tokens.rev" | rev)
remember_secret "$IMP3"
run_token 0 verify <<<"$IMP3"
expect_out_exactly imported-v3
run_token 0 verify --batch --no-touch <<<"$IMP3"
expect_out_exactly "ok imp3V3xLeg imported-v3"
# A change to legacy is announced to serve's caches, as one to a column a
# verify reads.
"$PGBIN/psql" -X -q -d "${DB}_v3" -c "listen tokenadm_tokens" \
  -c "update tokenadm.tokens set legacy = legacy where owner = 'imported-v3'" -c "select 1" >"$TMP/out" 2>&1
grep -q 'Asynchronous notification "tokenadm_tokens"' "$TMP/out" || fail "a change to legacy was not announced"
LEG11=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)
remember_secret "$LEG11"
run_token 0 import --owner legacy11 <<<"$LEG11"
[ "$(sql11 "select legacy from tokenadm.tokens where owner = 'legacy11'")" = t ] || fail "an imported token is not legacy"
run_token 0 verify <<<"$LEG11"
expect_out_exactly legacy11
run_token 0 import --owner legacy11 <<<"$LEG11"
expect_err '0 token\(s\), 1 already present'
printf '%s\n%s\n' "$IMP3" "$LEG11" >"$TMP/leak"
run_token 0 revoke --leaked --legacy --from "$TMP/leak"
expect_out '^revoked imp3V3xLeg imported-v3$'
expect_out '^revoked [A-Za-z0-9]{10} legacy11$'
run_token 2 verify <<<"$IMP3"
expect_err '^token: revoked'
pass
