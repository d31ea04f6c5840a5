# The audit trail: every change in its own transaction, failures folded,
# never a token in it.
. "$(dirname "$0")/common.sh"
run_token 0 init

create_token --owner alice --label ci --role feed
A=$TOK; A_ID=$TOK_ID
row() { sql "select count(*) from tokenadm.audit where $1"; }
[ "$(row "action = 'create' and token_id = '$A_ID' and owner = 'alice' and outcome = 'ok'")" = 1 ] || fail "create row"
[ "$(sql "select details->>'label' from tokenadm.audit where action = 'create'")" = ci ] || fail "details"
[ "$(sql "select actor <> '' and host <> '' and at <= now() from tokenadm.audit where action = 'create'")" = t ] || fail "who/where"
SUDO_USER=alice-admin run_token 0 renew "$A_ID" --expires-in 1d
[ "$(row "action = 'renew' and sudo_user = 'alice-admin'")" = 1 ] || fail "SUDO_USER"

# Failed verifications: reason and id, folded per minute with a count.
for i in 1 2 3; do run_token 2 verify --role api <<<"$A"; done
[ "$(sql "select count || ' ' || reason || ' ' || token_id from tokenadm.audit where action = 'verify-failed'")" = "3 forbidden $A_ID" ] \
  || fail "verify failures not folded"
run_token 2 verify --role api --no-audit <<<"$A"
TOKENADM_READ_ONLY=1 run_token 2 verify --role api <<<"$A"
[ "$(sql "select sum(count) from tokenadm.audit where action = 'verify-failed'")" = 3 ] || fail "--no-audit/read_only wrote"
# Bad-checksum tokens never reach the database, so are not recorded.
run_token 2 verify <<<"${A:0:52}$([ "${A:52:1}" = x ] && echo y || echo x)"
[ "$(row "action = 'verify-failed' and reason = 'checksum'")" = 0 ] || fail "checksum recorded"

# token audit: newest first, filters, formats.
run_token 0 audit
expect_out '^AT +ACTION'
[ "$(sed -n 2p "$TMP/out" | awk '{print $2}')" = verify-failed ] || fail "newest first"
run_token 0 audit --action create --format tsv
[ "$(wc -l <"$TMP/out")" = 1 ] || fail "--action"
run_token 0 audit --token "$A_ID" --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert {e["action"] for e in d} == {"create","renew","verify-failed"}, d' "$TMP/out" \
  || fail "audit json"
run_token 0 audit --limit 1 --format tsv
[ "$(wc -l <"$TMP/out")" = 1 ] || fail "--limit"
run_token 0 audit --since 2000-01-01 --until 2000-01-02 --format tsv
expect_no_out
run_token 2 audit --since yesterday-ish
expect_one_line_err
run_token 2 audit --limit 0
expect_one_line_err

# A change that rolls back leaves no audit row.
sql "create function tokenadm_test_boom() returns trigger language plpgsql as
     \$\$ begin if new.owner = 'boom' then raise exception 'boom'; end if; return new; end \$\$"
sql "create trigger boom before insert on tokenadm.tokens for each row execute function tokenadm_test_boom()"
before=$(row "true")
run_token 2 create --owner boom
expect_one_line_err; expect_err 'database error: boom'
[ "$(row "true")" = "$before" ] || fail "a failed create left an audit row"

# 32 concurrent revokes of one token: one change, one row, all exit 0.
create_token --owner target
for i in $(seq 32); do ("$TOKEN" revoke "$TOK_ID" >/dev/null 2>&1; echo $? >"$TMP/rev.$i") & done
wait
for i in $(seq 32); do [ "$(cat "$TMP/rev.$i")" = 0 ] || fail "revoke $i exited $(cat "$TMP/rev.$i")"; done
[ "$(row "action = 'revoke' and token_id = '$TOK_ID'")" = 1 ] || fail "32 revokes, not one audit row"

# No token or secret anywhere in the trail.
sql "select * from tokenadm.audit" >"$TMP/audit.txt"
check_clean "$TMP/audit.txt"
pass
