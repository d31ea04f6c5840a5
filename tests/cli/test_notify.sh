# Notification mails through a real SMTP server (aiosmtpd on localhost).
. "$(dirname "$0")/common.sh"
run_token 0 init
start_smtp
cp "$TMP/smtp.toml" "$TMP/cfg.toml"
cat >>"$TMP/cfg.toml" <<TOML
app_email_from = "Token Desk <tokens@example.org>"
email_prefix = "[acme]"
email_to = "admins@example.org"
TOML
export TOKENADM_CONFIG=$TMP/cfg.toml

# create: to the contact, with From, subject prefix and the type header.
create_token --owner alice --label ci --contact alice@example.org
A_ID=$TOK_ID
wait_mails 1
m=$(newest)
grep -q '^RCPT TO: alice@example.org' "$m" || fail "To"
grep -q '^From: Token Desk <tokens@example.org>' "$m" || fail "From"
grep -q "^Subject: \[acme\] new token of alice ($A_ID)" "$m" || fail "Subject"
grep -q '^X-Tokenadm-Notification-Type: created' "$m" || fail "type header"
grep -q '^Message-ID: <' "$m" && grep -q '^Date: ' "$m" || fail "Date/Message-ID"
check_clean "$m"
# No contact: email_to.
create_token --owner bob
wait_mails 2
grep -q '^RCPT TO: admins@example.org' "$(newest)" || fail "email_to fallback"
# revoke and rotate.
run_token 0 revoke "$A_ID" --reason "left"
wait_mails 3
grep -q '^X-Tokenadm-Notification-Type: revoked' "$(newest)" || fail "revoked mail"
run_token 0 rotate "$TOK_ID"
remember_secret "$(cat "$TMP/out")"
wait_mails 4
grep -q '^X-Tokenadm-Notification-Type: rotated' "$(newest)" || fail "rotated mail"
for f in "$TMP"/mail/*.eml; do check_clean "$f"; done

# notify: once per expiry, however often cron runs it.
create_token --owner carol --contact carol@example.org --expires-in 3d
C_ID=$TOK_ID
wait_mails 5
run_token 0 notify --within 7d --dry-run
expect_out "^$C_ID	.*	carol@example.org, admins@example.org$"
n=$(mails)
run_token 0 notify --within 7d
expect_out "^$C_ID$"
wait_mails $((n + 1))
grep -q '^X-Tokenadm-Notification-Type: expiring' "$(newest)" || fail "expiring mail"
grep -q '^RCPT TO: carol@example.org' "$(newest)" || fail "expiring To"
run_token 0 notify --within 7d
expect_no_out
sleep 0.5
[ "$(mails)" = $((n + 1)) ] || fail "notify sent twice"
# Renewed, the token is announced again when its new expiry nears.
run_token 0 renew "$C_ID" --expires-in 2d
run_token 0 notify --within 7d
expect_out "^$C_ID$"
run_token 2 notify --within soon
expect_one_line_err
# The example crontab's lines run as written (user column dropped).
grep -E '^[0-9*]' "$TOKENADM_SRC/scripts/examples/crontab" | awk '{ $1=$2=$3=$4=$5=$6=""; print }' >"$TMP/cron"
while read -r line; do
  eval "${line/token /"\$TOKEN" }" 2>"$TMP/err" || fail "crontab line failed: $line"
  [ ! -s "$TMP/err" ] || fail "crontab line printed on stderr: $line"
done <"$TMP/cron"
# Also with no smtp_server, where mails go to stderr: --quiet keeps them off.
: >"$TMP/nosmtp.toml"
TOKENADM_CONFIG=$TMP/nosmtp.toml create_token --owner quinn --contact quinn@example.org --expires-in 2d
grep -q '^token: mail (no smtp_server set):' "$TMP/err" || fail "no mail on stderr without --quiet"
TOKENADM_CONFIG=$TMP/nosmtp.toml run_token 0 --quiet notify --within 7d
expect_out_exactly "$TOK_ID"
[ ! -s "$TMP/err" ] || fail "--quiet notify wrote a mail body on stderr"

# Server down: the command still succeeds, with one warning and an audit row.
kill $SMTP_PID; wait $SMTP_PID 2>/dev/null || true
create_token --owner dave --contact dave@example.org
grep -c 'warning: could not mail' "$TMP/err" | grep -qx 1 || fail "no single warning"
[ "$(sql "select count(*) from tokenadm.audit where action = 'mail' and outcome = 'failed' and token_id = '$TOK_ID'")" = 1 ] \
  || fail "mail failure not audited"
# notify keeps it for the next run.
sql "update tokenadm.tokens set expires_at = now() + interval '1 day' where id = '$TOK_ID'"
run_token 0 notify --within 7d
expect_err 'mail\(s\) failed'
[ -z "$(sql "select notified_expiry from tokenadm.tokens where id = '$TOK_ID'")" ] || fail "failed notice marked sent"

# No smtp_server: the mail goes to stderr, never the token.
printf '[email]\nemail_to = "ops@example.org"\n' >"$TMP/nosmtp.toml"
TOKENADM_CONFIG=$TMP/nosmtp.toml create_token --owner erin
grep -q 'X-Tokenadm-Notification-Type: created' "$TMP/err" || fail "mail not logged to stderr"
check_clean "$TMP/err"
# No contact and no email_to: no mail at all.
printf '[email]\n' >"$TMP/none.toml"
TOKENADM_CONFIG=$TMP/none.toml create_token --owner frank
[ ! -s "$TMP/err" ] || fail "mail logged without a recipient"
pass
