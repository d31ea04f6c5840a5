# show, rotate, renew, prune, last_used_at: a token's life after create.
. "$(dirname "$0")/common.sh"
run_token 0 init

create_token --owner alice --label ci --role api --scope repo1 --contact alice@example.org --meta team=ops
OLD=$TOK; OLD_ID=$TOK_ID

# show: details, never the secret; JSON is the list schema.
run_token 0 show "$OLD_ID"
expect_out "^id: $OLD_ID$"; expect_out '^owner: alice$'; expect_out '^meta.team: ops$'
expect_out '^contact: alice@example.org$'; expect_out '^last_used_at: never$'
run_token 0 show "$OLD_ID" --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["scopes"]==["repo1"] and d["meta"]=={"team":"ops"}, d' "$TMP/out" || fail "show json"
run_token 2 show ZZZZZZZZZZ
expect_one_line_err; expect_err 'ZZZZZZZZZZ: no such token'
run_token 2 show "${OLD:0:30}"
expect_err 'not a token ID'
run_token 2 show
expect_one_line_err

# last_used_at: set by verify, at most once a minute; --no-touch writes nothing.
run_token 0 verify --no-touch <<<"$OLD"
[ -z "$(sql "select last_used_at from tokenadm.tokens where id = '$OLD_ID'")" ] || fail "--no-touch wrote"
run_token 0 verify <<<"$OLD"
first=$(sql "select last_used_at from tokenadm.tokens where id = '$OLD_ID'")
[ -n "$first" ] || fail "last_used_at not set"
run_token 0 verify <<<"$OLD"
[ "$(sql "select last_used_at from tokenadm.tokens where id = '$OLD_ID'")" = "$first" ] || fail "touched twice in a minute"
sql "update tokenadm.tokens set last_used_at = now() - interval '2 minutes' where id = '$OLD_ID'"
run_token 0 verify <<<"$OLD"
[ "$(sql "select last_used_at > now() - interval '1 minute' from tokenadm.tokens where id = '$OLD_ID'")" = t ] || fail "not touched after a minute"
# read_only = true in the config: no write at all.
sql "update tokenadm.tokens set last_used_at = null where id = '$OLD_ID'"
TOKENADM_READ_ONLY=true run_token 0 verify <<<"$OLD"
[ -z "$(sql "select last_used_at from tokenadm.tokens where id = '$OLD_ID'")" ] || fail "read_only wrote"

# rotate with overlap: new token printed, same attributes, old one still valid
# until the overlap ends, linked, and its use flagged in the audit trail.
set +e; "$TOKEN" rotate "$OLD_ID" --overlap 1h >"$TMP/out" 2>"$TMP/err"; rc=$?; set -e
[ $rc = 0 ] || fail "rotate exited $rc"
NEW=$(cat "$TMP/out"); NEW_ID=$(cut -d_ -f2 <<<"$NEW"); remember_secret "$NEW"
expect_err "rotated $OLD_ID -> $NEW_ID"
check_clean "$TMP/err"
[ "$(sql "select replaced_by from tokenadm.tokens where id = '$OLD_ID'")" = "$NEW_ID" ] || fail "replaced_by"
[ "$(sql "select owner || label || roles::text || scopes::text || contact || meta::text from tokenadm.tokens where id = '$NEW_ID'")" \
  = "$(sql "select owner || label || roles::text || scopes::text || contact || meta::text from tokenadm.tokens where id = '$OLD_ID'")" ] \
  || fail "rotate did not copy the attributes"
run_token 0 verify <<<"$NEW"
expect_out_exactly alice
run_token 0 verify <<<"$OLD"
expect_out_exactly alice
expect_err "warning: token $OLD_ID was rotated; use $NEW_ID"
[ "$(sql "select count(*) from tokenadm.audit where token_id = '$OLD_ID' and outcome = 'rotated-token-used'")" = 1 ] \
  || fail "use after rotation not recorded"
run_token 0 verify <<<"$OLD"
[ "$(sql "select count(*) from tokenadm.audit where token_id = '$OLD_ID' and outcome = 'rotated-token-used'")" = 1 ] \
  || fail "rotated-token use recorded more than once a minute"
# verify --batch flags it too (the same once a minute), and answers ok.
sql "delete from tokenadm.audit where token_id = '$OLD_ID' and outcome = 'rotated-token-used'"
printf '%s\n' "$OLD" "$OLD" | run_token 0 verify --batch
[ "$(cut -d' ' -f1,2 "$TMP/out" | tr '\n' '|')" = "ok $OLD_ID|ok $OLD_ID|" ] || fail "batch answers for a rotated-out token"
[ "$(sql "select count(*) from tokenadm.audit where token_id = '$OLD_ID' and outcome = 'rotated-token-used'")" = 1 ] \
  || fail "verify --batch did not flag the use of a rotated-out token once"
run_token 0 verify --batch --no-touch <<<"$OLD"
[ "$(sql "select count(*) from tokenadm.audit where token_id = '$OLD_ID' and outcome = 'rotated-token-used'")" = 1 ] \
  || fail "verify --batch --no-touch wrote an audit row"
# After the overlap the old token is revoked.
sql "update tokenadm.tokens set revoked_at = now() - interval '1 second' where id = '$OLD_ID'"
run_token 2 verify <<<"$OLD"
expect_err '^token: revoked: '
# Rotating again, a revoked token, or an unknown one: 2.
run_token 2 rotate "$OLD_ID"
expect_one_line_err; expect_err 'already rotated'
run_token 2 rotate ZZZZZZZZZZ
expect_err 'no such token'

# rotate without overlap revokes at once; JSON names what it replaced.
run_token 0 rotate "$NEW_ID" --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["replaces"]==sys.argv[2] and d["token"].startswith("tka_")' "$TMP/out" "$NEW_ID" \
  || fail "rotate json"
NEWER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$TMP/out"); remember_secret "$NEWER"
run_token 2 verify <<<"$NEW"
expect_err '^token: revoked: '
run_token 2 rotate "$NEW_ID"
expect_err 'already rotated'
create_token --owner bob
BOB_ID=$TOK_ID
run_token 0 revoke "$BOB_ID"
run_token 2 rotate "$BOB_ID"
expect_one_line_err; expect_err "revoked"
run_token 2 rotate "$(cut -d_ -f2 <<<"$NEWER")" --overlap 5x
expect_err 'not a duration'

# renew: moves the expiry within max_ttl.
NEWER_ID=$(cut -d_ -f2 <<<"$NEWER")
run_token 0 renew "$NEWER_ID" --expires-in 10d
[ "$(sql "select (expires_at - now()) between interval '9 days 23 hours' and interval '10 days' from tokenadm.tokens where id = '$NEWER_ID'")" = t ] \
  || fail "renew did not move the expiry"
expect_out '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'
run_token 2 renew "$NEWER_ID" --expires-in 400d
expect_one_line_err; expect_err 'max_ttl'
run_token 2 renew "$BOB_ID" --expires-in 1d
expect_one_line_err; expect_err 'revoked'
run_token 2 renew ZZZZZZZZZZ --expires-in 1d
expect_err 'no such token'
run_token 2 renew "$NEWER_ID" --expires-in 0
expect_err 'not a duration|longer than zero'
# An expired token can be renewed back to life.
sql "update tokenadm.tokens set expires_at = now() - interval '1 day' where id = '$NEWER_ID'"
run_token 2 verify <<<"$NEWER"
expect_err '^token: expired'
run_token 0 renew "$NEWER_ID" --expires-in 1d
run_token 0 verify <<<"$NEWER"
[ "$(sql "select count(*) from tokenadm.audit where action = 'renew'")" = 2 ] || fail "renew audit"

# prune: long-revoked and long-expired rows go, the audit trail stays.
create_token --owner gone1; G1=$TOK_ID
create_token --owner gone2; G2=$TOK_ID
create_token --owner recent; R=$TOK_ID
sql "update tokenadm.tokens set revoked_at = now() - interval '100 days' where id = '$G1'"
sql "update tokenadm.tokens set expires_at = now() - interval '100 days' where id = '$G2'"
sql "update tokenadm.tokens set revoked_at = now() - interval '10 days' where id = '$R'"
run_token 0 prune --older-than 90d --dry-run
[ "$(sort "$TMP/out" | tr '\n' ' ')" = "$(printf '%s\n' "$G1" "$G2" | sort | tr '\n' ' ')" ] || fail "prune dry run"
[ "$(sql "select count(*) from tokenadm.tokens where id in ('$G1', '$G2')")" = 2 ] || fail "dry run deleted"
run_token 0 prune --older-than 90d
expect_err 'deleted 2 token'
[ "$(sql "select count(*) from tokenadm.tokens where id in ('$G1', '$G2')")" = 0 ] || fail "prune kept rows"
[ "$(sql "select count(*) from tokenadm.tokens where id = '$R'")" = 1 ] || fail "prune took a recent one"
[ "$(sql "select count(*) from tokenadm.audit where action = 'prune'")" = 2 ] || fail "prune audit"
[ "$(sql "select count(*) from tokenadm.audit where token_id = '$G1' and action = 'create'")" = 1 ] || fail "audit lost"
# --quiet (cron): nothing on stderr when all is well.
run_token 0 --quiet prune --older-than 90d
[ ! -s "$TMP/err" ] || fail "--quiet printed"
run_token 2 prune
expect_one_line_err
run_token 2 prune --older-than -5d
expect_one_line_err

# Renewing a token whose revocation is scheduled (rotated with --overlap)
# says it will be revoked, not that it was.
create_token --owner tense --label t
run_token 0 rotate "$TOK_ID" --overlap 1h
remember_secret "$(cat "$TMP/out")"
run_token 2 renew "$TOK_ID"
expect_one_line_err; expect_err "token $TOK_ID will be revoked at .*; create a new one"
create_token --owner tense --label u
run_token 0 revoke "$TOK_ID"
run_token 2 renew "$TOK_ID"
expect_one_line_err; expect_err "token $TOK_ID was revoked at "

pass
