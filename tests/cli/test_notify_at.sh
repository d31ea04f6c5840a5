# notify --at: one mail per token and lead time crossed (the tightest one,
# when several were crossed since the last run), one "expired" mail, never
# twice however often or in whatever order it runs; notify_at in the config;
# revoke_unused_after: a warning 7 days before, then the revocation.
. "$(dirname "$0")/common.sh"
run_token 0 init
start_smtp
cp "$TMP/smtp.toml" "$TMP/cfg.toml"
export TOKENADM_CONFIG=$TMP/cfg.toml
exp_in() { sql "update tokenadm.tokens set expires_at = now() + interval '$2' where id = '$1'"; }
# sent ID TYPE: how many mails of TYPE were sent about ID.
sent() { grep -l "^X-Tokenadm-Notification-Type: $2" "$TMP"/mail/*.eml 2>/dev/null | xargs -r grep -l "($1)" | wc -l; }

create_token --owner ann --contact ann@example.org --expires-in 20d
A=$TOK_ID
create_token --owner bo --contact bo@example.org --expires-in 90d
B=$TOK_ID
create_token --owner cy --contact cy@example.org --expires-in 5d
C=$TOK_ID
wait_mails 3

# 30d crossed by ann (20d left); cy has crossed 30d and 7d: one mail, for 7d.
run_token 0 notify --at 30d,7d,1d --dry-run
expect_out "^$A	expiring	30d	"; expect_out "^$C	expiring	7d	"
if grep -q "^$B" "$TMP/out"; then fail "bo is not due"; fi
n=$(mails)
run_token 0 notify --at 30d,7d,1d --dry-run
[ "$(mails)" = "$n" ] || fail "a dry run mailed"
run_token 0 notify --at 30d,7d,1d
[ "$(sort "$TMP/out" | paste -sd' ')" = "$(printf '%s\n' "$A" "$C" | sort | paste -sd' ')" ] || fail "notified: $(cat "$TMP/out")"
wait_mails $((n + 2))
[ "$(sent "$A" expiring)/$(sent "$C" expiring)/$(sent "$B" expiring)" = 1/1/0 ] || fail "first run's mails"
grep -l "($C)" "$TMP"/mail/*.eml | xargs grep -l 'within 7d' >/dev/null || fail "cy's mail names the lead time"
# Twice, or with the leads in another order: nothing more.
run_token 0 notify --at 30d,7d,1d
expect_no_out
run_token 0 notify --at 1d,30d,7d
expect_no_out
# ann crosses 7d, then 1d; cy expires.
exp_in "$A" '6 days'
run_token 0 notify --at 30d,7d,1d
expect_out_exactly "$A"
exp_in "$A" '12 hours'
sql "update tokenadm.tokens set expires_at = now() - interval '1 hour' where id = '$C'"
run_token 0 notify --at 30d,7d,1d
[ "$(sort "$TMP/out" | paste -sd' ')" = "$(printf '%s\n' "$A" "$C" | sort | paste -sd' ')" ] || fail "second round: $(cat "$TMP/out")"
run_token 0 notify --at 30d,7d,1d
expect_no_out
sleep 0.3
[ "$(sent "$A" expiring)/$(sent "$C" expiring)/$(sent "$C" expired)" = 3/1/1 ] || fail "mails per lead: $(sent "$A" expiring)/$(sent "$C" expiring)/$(sent "$C" expired)"
# Renewed: the new expiry is announced afresh.
run_token 0 renew "$A" --expires-in 3d
run_token 0 notify --at 30d,7d,1d
expect_out_exactly "$A"
# A revoked token gets no notice.
run_token 0 revoke "$B"
exp_in "$B" '1 day'
run_token 0 notify --at 30d,7d,1d
expect_no_out

# notify_at in the config (default 7d); --within still works and is
# recorded apart (its own once-per-expiry mark).
create_token --owner dee --contact dee@example.org --expires-in 10d
D=$TOK_ID
{ printf 'notify_at = ["14d", "2d"]\n'; cat "$TMP/cfg.toml"; } >"$TMP/at.toml"
TOKENADM_CONFIG=$TMP/at.toml run_token 0 notify
expect_out_exactly "$D"
TOKENADM_CONFIG=$TMP/at.toml run_token 0 notify
expect_no_out
run_token 0 notify --within 30d
expect_out "$D"
run_token 0 config show
expect_out 'notify_at'

# Bad input: exit 2, one line.
run_token 2 notify --at 7d,soon
expect_one_line_err; expect_err 'at'
run_token 2 notify --at ''
expect_one_line_err
run_token 2 notify --at 0d
expect_one_line_err
run_token 2 notify --at 7d --within 7d
expect_one_line_err
printf 'notify_at = "7d"\n' >"$TMP/bad.toml"
TOKENADM_CONFIG=$TMP/bad.toml run_token 2 notify
expect_one_line_err; expect_err 'notify_at'
printf 'notify_at = ["7x"]\n' >"$TMP/bad.toml"
TOKENADM_CONFIG=$TMP/bad.toml run_token 2 notify
expect_one_line_err; expect_err 'notify_at'
printf 'revoke_unused_after = "soon"\n' >"$TMP/bad.toml"
TOKENADM_CONFIG=$TMP/bad.toml run_token 2 notify
expect_one_line_err; expect_err 'revoke_unused_after'

# revoke_unused_after = "90d": warned once 7 days before, revoked after.
create_token --owner eve --contact eve@example.org --expires-in 300d
E=$TOK_ID
create_token --owner fay --contact fay@example.org --expires-in 300d
F=$TOK_ID
create_token --owner gus --contact gus@example.org --expires-in 300d
G=$TOK_ID
sql "update tokenadm.tokens set created_at = now() - interval '85 days' where id = '$E'"
sql "update tokenadm.tokens set created_at = now() - interval '100 days' where id = '$F'"
sql "update tokenadm.tokens set created_at = now() - interval '100 days', last_used_at = now() - interval '1 day' where id = '$G'"
{ printf 'revoke_unused_after = "90d"\nnotify_at = ["1d"]\n'; cat "$TMP/cfg.toml"; } >"$TMP/unused.toml"
TOKENADM_CONFIG=$TMP/unused.toml run_token 0 notify --dry-run
expect_out "^$E	unused	"; expect_out "^$F	revoke	"
[ "$(sql "select count(*) from tokenadm.tokens where revoke_reason = 'unused'")" = 0 ] || fail "dry run revoked"
TOKENADM_CONFIG=$TMP/unused.toml run_token 0 notify
expect_err "revoked $F"
[ "$(sql "select coalesce(revoke_reason, 'active') from tokenadm.tokens where id in ('$E', '$F', '$G') order by owner" | paste -sd/)" = "active/unused/active" ] \
  || fail "revoke_unused_after revoked the wrong tokens"
TOKENADM_CONFIG=$TMP/unused.toml run_token 0 notify
sleep 0.3
[ "$(sent "$E" unused)/$(sent "$F" revoked)/$(sent "$G" unused)" = 1/1/0 ] || fail "unused mails: $(sent "$E" unused)/$(sent "$F" revoked)/$(sent "$G" unused)"
grep -l "($E)" "$TMP"/mail/*.eml | xargs grep -l '^RCPT TO: eve@example.org' >/dev/null || fail "warning not to the contact"
for f in "$TMP"/mail/*.eml; do check_clean "$f"; done
pass
