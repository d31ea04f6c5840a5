# Verify-time policy: address binding (--allow-from, verify --from, batch
# "TOKEN ADDR"), use limits (--max-uses), suspend/resume, last addresses.
. "$(dirname "$0")/common.sh"
run_token 0 init

# --- bad input: usage errors before any connection (exit 2, one line).
for bad in 10.0.0.1/8 300.1.1.1 10.0.0.0/33 2001:db8::/129 'fe80::1%eth0' '' 'x/8' '10.0.0.0/'; do
  TOKENADM_DSN='host=/nonexistent' run_token 2 create --owner x --allow-from "$bad"
  expect_one_line_err; expect_err '^token: .*--allow-from'
done
TOKENADM_DSN='host=/nonexistent' run_token 2 create --owner x --allow-from 10.0.0.1/8
expect_err 'bits set beyond its /8 mask'
for bad in 0 -1 2147483648 junk; do
  TOKENADM_DSN='host=/nonexistent' run_token 2 create --owner x --max-uses "$bad"
  expect_one_line_err; expect_err 'max-uses'
done
TOKENADM_DSN='host=/nonexistent' run_token 2 verify --from 10.0.0.300 <<<"tka_0000000000_000000000000000000000000000000000000"
expect_one_line_err; expect_err '^token: .*--from'
TOKENADM_DSN='host=/nonexistent' run_token 2 list --used-from 'nonsense'
expect_one_line_err; expect_err '^token: .*--used-from'
[ "$(sql "select count(*) from tokenadm.tokens")" = 0 ] || fail "a usage error stored a token"

# --- address binding.
create_token --owner bound --label web --allow-from 127.0.0.0/8,2001:db8::/32 --allow-from 192.0.2.7
BOUND=$TOK; BOUND_ID=$TOK_ID
run_token 0 show "$BOUND_ID" --format json
expect_out '"allow_from":\["127.0.0.0/8","2001:db8::/32","192.0.2.7/32"\]'
run_token 0 show "$BOUND_ID"
expect_out '^allow_from: 127.0.0.0/8,2001:db8::/32,192.0.2.7/32$'
run_token 0 verify --from 127.0.0.1 <<<"$BOUND"
expect_out_exactly bound
run_token 0 verify --from 2001:DB8::5 <<<"$BOUND"
run_token 0 verify --from 192.0.2.7 <<<"$BOUND"
run_token 2 verify --from 10.1.2.3 <<<"$BOUND"
expect_one_line_err; expect_err '^token: address: .* is not accepted from 10.1.2.3'
run_token 2 verify --from 192.0.2.8 <<<"$BOUND"
expect_err '^token: address'
run_token 2 verify <<<"$BOUND"
expect_one_line_err; expect_err '^token: address: .*no client address'
run_token 2 verify --from ::ffff:127.0.0.1 <<<"$BOUND"
expect_err '^token: address'
# rotate carries the ranges over.
create_token --owner bound --label rot --allow-from 127.0.0.0/8
run_token 0 rotate "$TOK_ID"
ROT=$(cat "$TMP/out"); remember_secret "$ROT"
run_token 0 verify --from 127.0.0.2 <<<"$ROT"
run_token 2 verify --from 10.0.0.1 <<<"$ROT"
expect_err '^token: address'
# ensure and import take it too.
run_token 0 ensure --owner bound --label ens --allow-from 10.0.0.0/8
ENS=$(cat "$TMP/out"); remember_secret "$ENS"
run_token 0 verify --from 10.9.9.9 <<<"$ENS"
run_token 2 verify --from 11.0.0.1 <<<"$ENS"
LEG=legacyTokenForPolicyTest0123456789
remember_secret "$LEG"
run_token 0 import --owner leg --allow-from 198.51.100.0/24 <<<"$LEG"
run_token 0 verify --from 198.51.100.9 <<<"$LEG"
expect_out_exactly leg
run_token 2 verify --from 198.51.101.9 <<<"$LEG"
expect_err '^token: address'

# batch: TOKEN ADDR lines (space or tab), plain lines, bad addresses.
create_token --owner free --label any
FREE=$TOK
printf '%s 127.0.0.1\n%s\t10.1.1.1\n%s\n%s 127.0.0.1\n%s not-an-address\n%s  127.0.0.1\n%s 2001:db8::1\n' \
  "$BOUND" "$BOUND" "$BOUND" "$FREE" "$FREE" "$BOUND" "$BOUND" | run_token 0 verify --batch
cat >"$TMP/want" <<WANT
ok $BOUND_ID bound
deny address
deny address
ok ${FREE:4:10} free
deny malformed
deny malformed
ok $BOUND_ID bound
WANT
diff <(cat "$TMP/want") "$TMP/out" >/dev/null || fail "batch with addresses"
# --from gives lines without an address theirs.
printf '%s\n%s 10.0.0.1\n' "$BOUND" "$BOUND" | run_token 0 verify --batch --from 127.0.0.1
printf 'ok %s bound\ndeny address\n' "$BOUND_ID" | diff - "$TMP/out" >/dev/null || fail "batch --from"

# --- last-used addresses: kept (newest first, distinct), shown, filtered.
sql "update tokenadm.tokens set last_used_at = null, used_from = '[]' where id = '$BOUND_ID'"
run_token 0 verify --from 127.0.0.9 <<<"$BOUND"
run_token 0 show "$BOUND_ID" --format json
expect_out '"used_from":\[\{"addr":"127.0.0.9","at":"[0-9T:Z-]+"\}\]'
# Within the minute: no write (throttled like last_used_at).
run_token 0 verify --from 127.0.0.10 <<<"$BOUND"
[ "$(sql "select jsonb_array_length(used_from) from tokenadm.tokens where id = '$BOUND_ID'")" = 1 ] || fail "not throttled"
for a in 1 2 3 4 5 6 2; do
  sql "update tokenadm.tokens set last_used_at = now() - interval '2 minutes' where id = '$BOUND_ID'"
  run_token 0 verify --from "127.0.1.$a" <<<"$BOUND"
done
[ "$(sql "select string_agg(e->>'addr', ',') from tokenadm.tokens, jsonb_array_elements(used_from) e where id = '$BOUND_ID'")" \
  = "127.0.1.2,127.0.1.6,127.0.1.5,127.0.1.4,127.0.1.3" ] || fail "last 5 distinct addresses"
run_token 0 show "$BOUND_ID"
expect_out '^used_from: 127.0.1.2 '
run_token 0 list --used-from 127.0.1.0/24 --format tsv
[ "$(cut -f1 "$TMP/out")" = "$BOUND_ID" ] || fail "list --used-from"
run_token 0 list --used-from 172.16.0.0/12 --format tsv
expect_no_out
# batch records addresses too.
sql "update tokenadm.tokens set last_used_at = null where id = '$BOUND_ID'"
printf '%s 127.0.2.1\n' "$BOUND" | run_token 0 verify --batch
[ "$(sql "select used_from->0->>'addr' from tokenadm.tokens where id = '$BOUND_ID'")" = 127.0.2.1 ] || fail "batch address not kept"
# The same token twice in a batch: the last address given is the newest.
sql "update tokenadm.tokens set last_used_at = null where id = '$BOUND_ID'"
printf '%s 127.0.2.3\n%s 127.0.2.4\n' "$BOUND" "$BOUND" | run_token 0 verify --batch
[ "$(sql "select string_agg(e->>'addr', ',') from tokenadm.tokens, jsonb_array_elements(used_from) e where id = '$BOUND_ID'")" \
  = "127.0.2.4,127.0.2.1,127.0.1.2,127.0.1.6,127.0.1.5" ] || fail "batch: the last address given"

# --- use limits.
create_token --owner once --role api --max-uses 2
ONCE=$TOK; ONCE_ID=$TOK_ID
run_token 0 show "$ONCE_ID"
expect_out '^uses: 0 of 2 \(2 remaining\)$'
run_token 2 verify --no-touch <<<"$ONCE"
expect_one_line_err; expect_err '^token: forbidden: .*cannot count'
run_token 0 verify <<<"$ONCE"
run_token 2 verify --role feed <<<"$ONCE" # wrong role: not counted
expect_err '^token: forbidden'
run_token 0 verify <<<"$ONCE"
run_token 2 verify <<<"$ONCE"
expect_one_line_err; expect_err '^token: used-up'
run_token 0 show "$ONCE_ID" --format json
expect_out '"max_uses":2'; expect_out '"uses":2'; expect_out '"remaining_uses":0'
# renew does not reset the count.
run_token 0 renew "$ONCE_ID" --expires-in 30d
run_token 2 verify <<<"$ONCE"
expect_err '^token: used-up'
# read_only never accepts a limited token uncounted.
create_token --owner ro --max-uses 5
RO=$TOK
TOKENADM_READ_ONLY=true run_token 2 verify <<<"$RO"
expect_err '^token: forbidden'
printf '%s\n' "$RO" | TOKENADM_READ_ONLY=true run_token 0 verify --batch
expect_out_exactly 'deny forbidden'
# batch: the limit holds within one batch.
create_token --owner three --max-uses 3
THREE=$TOK; THREE_ID=$TOK_ID
printf '%s\n%s\n%s\n%s\n%s\n' "$THREE" "$THREE" "$THREE" "$THREE" "$FREE" | run_token 0 verify --batch
printf 'ok %s three\nok %s three\nok %s three\ndeny used-up\nok %s free\n' "$THREE_ID" "$THREE_ID" "$THREE_ID" "${FREE:4:10}" \
  | diff - "$TMP/out" >/dev/null || fail "batch use limit"
# A counted use records its address as a plain one does (the last given).
create_token --owner twice --max-uses 5
printf '%s 127.0.3.1\n%s 127.0.3.2\n' "$TOK" "$TOK" | run_token 0 verify --batch
[ "$(grep -c '^ok ' "$TMP/out")" = 2 ] || fail "batch counted uses"
[ "$(sql "select uses || ' ' || (used_from->0->>'addr') from tokenadm.tokens where id = '$TOK_ID'")" = "2 127.0.3.2" ] \
  || fail "batch: counted uses and their address"
# A limit at the integer's top: the count never overflows.
create_token --owner top --max-uses 2147483647
sql "update tokenadm.tokens set uses = 2147483646 where id = '$TOK_ID'"
printf '%s\n%s\n%s\n' "$TOK" "$TOK" "$TOK" | run_token 0 verify --batch
printf 'ok %s top\ndeny used-up\ndeny used-up\n' "$TOK_ID" | diff - "$TMP/out" >/dev/null || fail "batch at the top of the limit: $(cat "$TMP/out")"
[ "$(sql "select uses from tokenadm.tokens where id = '$TOK_ID'")" = 2147483647 ] || fail "uses at the top"
# Concurrent batches on one --max-uses 100 token: 4 co-processes x 40 lines.
create_token --owner batched --max-uses 100
for i in 1 2 3 4; do
  for j in $(seq 40); do echo "$TOK"; done | "$TOKEN" verify --batch --no-audit >"$TMP/b$i" 2>&1 &
done
wait
[ "$(cat "$TMP"/b[1-4] | grep -c '^ok ')" = 100 ] || fail "$(cat "$TMP"/b[1-4] | grep -c '^ok ') ok of a 100-use token in batches"
[ "$(cat "$TMP"/b[1-4] | grep -c '^deny used-up$')" = 60 ] || fail "batches: used-up answers"
[ "$(sql "select uses from tokenadm.tokens where owner = 'batched'")" = 100 ] || fail "batches: uses count"
# Concurrency: 16 verifiers x 50 attempts on a --max-uses 100 token.
create_token --owner hundred --max-uses 100
HUNDRED=$TOK
for i in $(seq 16); do
  ( for j in $(seq 50); do
      if "$TOKEN" verify --no-audit <<<"$HUNDRED" >/dev/null 2>&1; then echo ok; else echo no; fi
    done >"$TMP/c$i" ) &
done
wait
[ "$(cat "$TMP"/c* | grep -c '^ok$')" = 100 ] || fail "$(cat "$TMP"/c* | grep -c '^ok$') ok of a 100-use token"
[ "$(sql "select uses from tokenadm.tokens where owner = 'hundred'")" = 100 ] || fail "uses count"

# --- suspend / resume.
create_token --owner sus --label s1 --contact sus@example.org
SUS=$TOK; SUS_ID=$TOK_ID
run_token 0 suspend "$SUS_ID" --reason "on leave"
expect_err "suspended $SUS_ID"
expect_err 'X-Tokenadm-Notification-Type: suspended'
run_token 2 verify <<<"$SUS"
expect_one_line_err; expect_err '^token: suspended'
printf '%s\n' "$SUS" | run_token 0 verify --batch
expect_out_exactly 'deny suspended'
run_token 0 suspend "$SUS_ID"
expect_err 'already suspended'
run_token 0 list --state suspended --format tsv
[ "$(cut -f1 "$TMP/out")" = "$SUS_ID" ] || fail "list --state suspended"
run_token 0 show "$SUS_ID"
expect_out '^state: suspended$'; expect_out '^suspend_reason: on leave$'
run_token 0 resume "$SUS_ID"
expect_err "resumed $SUS_ID"
run_token 0 verify <<<"$SUS"
run_token 0 resume "$SUS_ID"
expect_err 'was not suspended'
run_token 2 suspend ZZZZZZZZZZ
expect_err 'ZZZZZZZZZZ: no such token'
run_token 2 suspend
expect_one_line_err
run_token 2 suspend --owner sus
expect_one_line_err; expect_err 'needs --yes'
run_token 0 suspend --owner sus --dry-run
expect_out_exactly "$SUS_ID"
run_token 0 suspend --owner sus --yes
run_token 2 verify <<<"$SUS"
expect_err '^token: suspended'
run_token 0 resume --owner sus --yes
run_token 0 verify <<<"$SUS"
[ "$(sql "select string_agg(action, ',' order by id) from tokenadm.audit where token_id = '$SUS_ID' and action in ('suspend','resume')")" \
  = "suspend,resume,suspend,resume" ] || fail "suspend/resume audit rows"
pass
