# token revoke --leaked: token values found in any text are revoked by
# digest (reason "leaked", the source in the audit row), their contacts
# mailed; look-alikes, forged secrets and unknown tokens revoke nothing; the
# input is streamed and looked up a batch at a time.
. "$(dirname "$0")/common.sh"
run_token 0 init
gen() { python3 "$(dirname "$0")/scan_tokens.py" "$@"; }
start_smtp
cp "$TMP/smtp.toml" "$TMP/cfg.toml"
cat >>"$TMP/cfg.toml" <<TOML
app_email_from = "Token Desk <tokens@example.org>"
email_to = "admins@example.org"
TOML
export TOKENADM_CONFIG=$TMP/cfg.toml
state() { sql "select coalesce(revoke_reason, 'active') from tokenadm.tokens where id = '$1'"; }

create_token --owner alice --label ci --contact alice@example.org
A=$TOK A_ID=$TOK_ID
create_token --owner bob
B=$TOK B_ID=$TOK_ID
create_token --owner carol
C=$TOK C_ID=$TOK_ID
run_token 0 revoke "$C_ID" --reason "left"
create_token --owner dave
D=$TOK D_ID=$TOK_ID
wait_mails 5
# An attacker's forgery: dave's ID with another secret and a check that
# verifies. It must not revoke dave's token.
FORGED=$(python3 - "$D_ID" <<'EOP'
import sys, zlib, random
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
body = "tka_" + sys.argv[1] + "_" + "".join(random.SystemRandom().choice(A) for _ in range(32))
v, c = zlib.crc32(body.encode()), ""
for _ in range(6):
    c, v = A[v % 62] + c, v // 62
print(body + c)
EOP
)
STRANGER=$(gen 1)
remember_secret "$FORGED"; remember_secret "$STRANGER"
MANGLED=${A:0:30}$([ "${A:30:1}" = x ] && echo y || echo x)${A:31}
remember_secret "$MANGLED"

# The leaked material: a log, a URL, JSON; alice's token twice, a mangled
# copy (check fails: not reported), a forgery and a stranger (unknown),
# carol's revoked token.
cat >"$TMP/leak.txt" <<EOT
GET /hook HTTP/1.1
Authorization: Bearer $A
{"token": "$C"} GET /feed?token=$B&x=1
again: $A and mangled $MANGLED
forged=$FORGED stranger:$STRANGER
EOT
n=$(mails)
run_token 0 revoke --leaked --source "pastebin.example/abc" <"$TMP/leak.txt"
expect_out_exactly "revoked $A_ID alice
already-revoked $C_ID
revoked $B_ID bob
unknown $D_ID
unknown $(cut -d_ -f2 <<<"$STRANGER")"
expect_one_line_err
expect_err '^token: found 5 token\(s\): 2 revoked, 1 already revoked, 2 unknown$'
[ "$(state "$A_ID")/$(state "$B_ID")/$(state "$C_ID")/$(state "$D_ID")" = "leaked/leaked/left/active" ] \
  || fail "wrong tokens revoked"
[ "$(sql "select count(*) from tokenadm.audit where action = 'revoke' and reason = 'leaked' and details->>'source' = 'pastebin.example/abc'")" = 2 ] \
  || fail "audit rows with the source"
run_token 2 verify <<<"$A"
expect_err revoked

# Mail: type leaked, to the contact and email_to; none for carol; no secret.
wait_mails $((n + 2))
sleep 0.3
[ "$(mails)" = $((n + 2)) ] || fail "wrong number of leak mails"
ma=$(grep -l "^Subject: .*($A_ID)" "$TMP"/mail/*.eml | tail -1)
grep -q '^X-Tokenadm-Notification-Type: leaked' "$ma" || fail "type header"
grep -q '^RCPT TO: alice@example.org' "$ma" && grep -q '^RCPT TO: admins@example.org' "$ma" || fail "alice's mail recipients"
grep -q 'pastebin.example/abc' "$ma" || fail "mail names the source"
mb=$(grep -l "^Subject: .*($B_ID)" "$TMP"/mail/*.eml | tail -1)
grep -q '^RCPT TO: admins@example.org' "$mb" || fail "bob's mail to email_to"
for f in "$TMP"/mail/*.eml; do check_clean "$f"; done

# Again: already revoked, nothing mailed twice.
n=$(mails)
run_token 0 revoke --leaked --from "$TMP/leak.txt"
expect_out "^already-revoked $A_ID$"
expect_out "^already-revoked $B_ID$"
sleep 0.3
[ "$(mails)" = "$n" ] || fail "a second run mailed again"

# JSON: one document a line.
run_token 0 revoke --leaked --format json --from "$TMP/leak.txt"
python3 - "$TMP/out" "$A_ID" "$D_ID" <<'EOP' || fail "--format json output is wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 5, rows
assert rows[0]["status"] == "already-revoked" and rows[0]["id"] == sys.argv[2] and rows[0]["line"] == 2, rows[0]
assert rows[0]["owner"] == "alice" and rows[0]["revoked_at"], rows[0]
assert rows[3] == {"status": "unknown", "id": sys.argv[3], "line": 5}, rows[3]
EOP

# Nothing found: exit 0, nothing to connect for; a hint about scan's output.
run_token 0 revoke --leaked </dev/null
expect_no_out
expect_one_line_err; expect_err 'no token found in the input: nothing revoked'
printf 'x %s\n' "$MANGLED" >"$TMP/mangled"
TOKENADM_DSN="host=/nonexistent dbname=x" run_token 0 revoke --leaked --from "$TMP/mangled"
expect_no_out; expect_err 'no token found'

# Binary input: scanned as bytes.
create_token --owner erin
{ head -c 50000 /dev/urandom; printf '\0%s\0' "$TOK"; head -c 50000 /dev/zero; } >"$TMP/core"
run_token 0 revoke --leaked --from "$TMP/core"
expect_out "^revoked $TOK_ID erin$"

# Unreadable input: exit 2, one line, before any change.
run_token 2 revoke --leaked --from "$TMP/missing"
expect_one_line_err; expect_err "^token: cannot read $TMP/missing: No such file or directory$"
run_token 2 revoke --leaked --from "$TMP"
expect_one_line_err; expect_err "cannot read $TMP: Is a directory"
if [ "$(id -u)" != 0 ]; then
  create_token --owner frank
  printf '%s\n' "$TOK" >"$TMP/locked"; chmod 000 "$TMP/locked"
  run_token 2 revoke --leaked --from "$TMP/locked"
  expect_err 'Permission denied'
  [ "$(state "$TOK_ID")" = active ] || fail "revoked from an unreadable file"
fi

# Legacy (imported) tokens: one a line, by digest.
LEG=legacyKey0123456789abcdefABCDEF
remember_secret "$LEG"
printf '%s\n' "$LEG" | run_token 0 import --owner gina
LEG_ID=$(cat "$TMP/out")
create_token --owner hank
printf '\n  %s  \nnot a token at all\nunknownLegacyKey0123456789\n%s\n%s\n' "$LEG" "$TOK" "$MANGLED" \
  | run_token 0 revoke --leaked --legacy
expect_out_exactly "revoked $LEG_ID gina
unknown (line 4)
revoked $TOK_ID hank"
expect_err 'skipped 2 line\(s\) that are not tokens'
[ "$(state "$LEG_ID")" = leaked ] || fail "legacy token not revoked"

# Usage errors: one line, exit 2, nothing read or changed.
run_token 2 revoke --leaked "$D_ID" </dev/null
expect_one_line_err; expect_err 'give it no IDs'
run_token 2 revoke --leaked --owner dave --yes </dev/null
expect_one_line_err
run_token 2 revoke --leaked --reason x </dev/null
expect_one_line_err
run_token 2 revoke --from "$TMP/leak.txt" "$D_ID"
expect_one_line_err; expect_err 'requires --leaked'
run_token 2 revoke --legacy "$D_ID"
expect_one_line_err
run_token 2 revoke --format yaml "$D_ID"
expect_one_line_err
run_token 2 revoke --leaked --source "$(printf 'a\tb')" <"$TMP/leak.txt"
expect_one_line_err; expect_err 'source contains a control character'
[ "$(state "$D_ID")" = active ] || fail "a usage error revoked something"
run_token 0 revoke --help
expect_out '--leaked'; expect_out '--source'; expect_out '--legacy'

# Many tokens: one statement a batch of 1000 (each batch's revoked_at is
# its transaction's now()), every one revoked, no mail without recipients.
printf '[email]\n' >"$TMP/nomail.toml"
TOKENADM_CONFIG=$TMP/nomail.toml run_token 0 create --owner bulk --count 1500
cp "$TMP/out" "$TMP/bulk-tokens"
sed 's/^/line with /' "$TMP/bulk-tokens" >"$TMP/bulk-leak"
TOKENADM_CONFIG=$TMP/nomail.toml run_token 0 revoke --leaked --from "$TMP/bulk-leak"
[ "$(grep -c '^revoked .* bulk$' "$TMP/out")" = 1500 ] || fail "not all 1500 revoked"
[ "$(sql "select count(distinct revoked_at) from tokenadm.tokens where owner = 'bulk'")" = 2 ] \
  || fail "1500 tokens were not revoked in 2 statements"
if grep -qFf "$TMP/bulk-tokens" "$TMP/out" "$TMP/err"; then fail "a secret leaked into the output"; fi

# 1 GiB on stdin in constant memory: the token at the end is revoked; one
# split by a line break is not. (A sparse file: no disk, no time to write.)
create_token --owner ivan
I=$TOK I_ID=$TOK_ID
create_token --owner jane
J=$TOK J_ID=$TOK_ID
huge=$TMP/huge
printf 'log text with_underscores and tka_ look-alikes\n' >"$huge"
truncate -s $((1 << 30)) "$huge"
printf '\n%s\n%s\n%s\n' "$I" "${J:0:30}" "${J:30}" >>"$huge"
set +e
TOKENADM_CONFIG=$TMP/nomail.toml /usr/bin/time -f '%M' -o "$TMP/rss" "$TOKEN" revoke --leaked <"$huge" >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
rm -f "$huge"
[ "$rc" = 0 ] || fail "revoke --leaked of 1 GiB exited $rc"
check_clean "$TMP/out" "$TMP/err"
expect_out_exactly "revoked $I_ID ivan"
[ "$(state "$J_ID")" = active ] || fail "a token split by a line break was revoked"
expect_peak_rss_below "$TMP/rss" 30000 "revoke --leaked of 1 GiB"
pass
