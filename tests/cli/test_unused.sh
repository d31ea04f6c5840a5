# Unused tokens: revoke --unused-for D revokes active tokens whose last use
# (or creation, if never used) is older than D, reason "unused", mailing
# each contact; list --unused-for shows them, oldest use first.
. "$(dirname "$0")/common.sh"
run_token 0 init
start_smtp
{ cat "$TMP/smtp.toml"; echo 'email_to = "admins@example.org"'; } >"$TMP/cfg.toml"
export TOKENADM_CONFIG=$TMP/cfg.toml
state() { sql "select case when revoked_at is null then 'active' else coalesce(revoke_reason, 'revoked') end from tokenadm.tokens where id = '$1'"; }
ago() { sql "update tokenadm.tokens set $2 = now() - interval '$3' where id = '$1'"; }

# old-never: created 200 days ago, never used; old-used: used 190 days ago;
# recent-use: created long ago, used yesterday; new: created now; gone:
# unused but revoked already; expired: unused but expired.
create_token --owner ann --label old-never --contact ann@example.org
NEVER=$TOK_ID; ago "$NEVER" created_at '200 days'
create_token --owner ann --label old-used
USED=$TOK_ID; ago "$USED" created_at '300 days'; ago "$USED" last_used_at '190 days'
create_token --owner bo --label recent-use
RECENT=$TOK_ID; ago "$RECENT" created_at '400 days'; ago "$RECENT" last_used_at '1 day'
create_token --owner bo --label new
NEW=$TOK_ID
create_token --owner cy --label gone
GONE=$TOK_ID; ago "$GONE" created_at '500 days'
run_token 0 revoke "$GONE"
create_token --owner cy --label expired --expires-in 1d
EXP=$TOK_ID; ago "$EXP" created_at '500 days'; ago "$EXP" expires_at '1 day'

# list: oldest use first; only active tokens.
run_token 0 list --unused-for 180d --format tsv
[ "$(cut -f1 "$TMP/out" | paste -sd' ')" = "$NEVER $USED" ] || fail "list --unused-for 180d: $(cut -f1 "$TMP/out" | paste -sd' ')"
run_token 0 list --unused-for 12h --format tsv
[ "$(cut -f1 "$TMP/out" | paste -sd' ')" = "$NEVER $USED $RECENT" ] || fail "list --unused-for 12h"
run_token 0 list --unused-for 180d --owner bo
expect_out '^ID'; [ "$(wc -l <"$TMP/out")" = 1 ] || fail "--owner with --unused-for"
run_token 2 list --unused-for soon
expect_one_line_err; expect_err 'unused-for'

# revoke: needs --yes; --dry-run lists and changes nothing.
run_token 2 revoke --unused-for 180d
expect_one_line_err; expect_err 'needs --yes'
run_token 0 revoke --unused-for 180d --dry-run
[ "$(sort "$TMP/out" | paste -sd' ')" = "$(printf '%s\n' "$NEVER" "$USED" | sort | paste -sd' ')" ] || fail "dry run lists"
expect_err 'dry run: 2 token\(s\) would be revoked'
[ "$(state "$NEVER")" = active ] || fail "a dry run revoked"
n=$(mails)
run_token 0 revoke --unused-for 180d --yes
expect_err "revoked $NEVER"; expect_err "revoked $USED"
[ "$(state "$NEVER")/$(state "$USED")/$(state "$RECENT")/$(state "$NEW")/$(state "$GONE")/$(state "$EXP")" \
  = "unused/unused/active/active/revoked/active" ] || fail "wrong tokens revoked"
# Each revoked token is mailed (ann's contact and the admins).
wait_mails $((n + 2))
grep -l "($NEVER)" "$TMP"/mail/*.eml | xargs grep -l '^RCPT TO: ann@example.org' >/dev/null || fail "contact not mailed"
grep -h "Reason: unused" "$TMP"/mail/*.eml >/dev/null || fail "mail gives no reason"
run_token 0 revoke --unused-for 180d --yes
expect_err 'no token matches'
# --owner narrows; --reason replaces "unused".
run_token 0 revoke --unused-for 12h --owner bo --yes --reason "cleanup"
[ "$(state "$RECENT")/$(state "$NEW")" = "cleanup/active" ] || fail "--owner with --unused-for"

# Bad input: exit 2, one line, nothing changed.
run_token 2 revoke --unused-for 180 --yes
expect_one_line_err
run_token 2 revoke --unused-for 0d --yes
expect_one_line_err
run_token 2 revoke --unused-for 30d --all-expired --yes
expect_one_line_err; expect_err 'goes alone'
run_token 2 revoke --unused-for 30d "$NEW" --yes
expect_one_line_err; expect_err 'not both'
[ "$(state "$NEW")" = active ] || fail "a failed revoke changed something"
pass
