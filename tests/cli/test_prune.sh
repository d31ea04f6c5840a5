# prune of many rows: deleted in batches in one transaction, each with its
# audit row; rows naming a pruned token in replaced_by keep living, with the
# reference cleared. (No time is asserted: the index migration 6 adds makes
# this fast; without it each deletion scans the table.)
. "$(dirname "$0")/common.sh"

run_token 0 init
run_token 0 create --count 6001 --owner old --label bulk
[ "$(wc -l <"$TMP/out")" = 6001 ] || fail "create --count 6001 printed $(wc -l <"$TMP/out") lines"
# (6,001 secrets are not registered for the output checks: too many to grep for.)
create_token --owner keep
keep_id=$(sql "select id from tokenadm.tokens where owner = 'keep'")
sql "update tokenadm.tokens set revoked_at = now() - interval '100 days' where owner = 'old'"
# The kept token was rotated into a token that is now long revoked.
sql "update tokenadm.tokens set replaced_by = (select min(id) from tokenadm.tokens where owner = 'old') where owner = 'keep'"
sql "update tokenadm.tokens t set replaced_by = o.id from (select id from tokenadm.tokens where owner = 'old' order by id desc limit 1) o where t.owner = 'old' and t.id = (select min(id) from tokenadm.tokens where owner = 'old')"

# The last one prune reaches (its last batch).
last_id=$(sql "select id from tokenadm.tokens where owner = 'old' order by created_at desc, id desc limit 1")
run_token 0 prune --older-than 90d --dry-run
[ "$(wc -l <"$TMP/out")" = 6001 ] || fail "dry run listed $(wc -l <"$TMP/out") ids"
[ "$(sql "select count(*) from tokenadm.tokens")" = 6002 ] || fail "the dry run deleted rows"

# A prune that fails in a later batch deletes nothing (one transaction).
sql "create function tokenadm.test_refuse() returns trigger language plpgsql as \$\$ begin raise exception 'refused by test'; end \$\$"
sql "create trigger test_refuse before delete on tokenadm.tokens for each row when (old.id = '$last_id') execute function tokenadm.test_refuse()"
run_token 2 prune --older-than 90d
expect_one_line_err
expect_no_out
[ "$(sql "select count(*) from tokenadm.tokens")" = 6002 ] || fail "a failed prune deleted rows"
[ "$(sql "select count(*) from tokenadm.audit where action = 'prune'")" = 0 ] || fail "a failed prune left audit rows"
sql "drop trigger test_refuse on tokenadm.tokens"

run_token 0 prune --older-than 90d
expect_err 'deleted 6001 token'
[ "$(wc -l <"$TMP/out")" = 6001 ] || fail "prune printed $(wc -l <"$TMP/out") ids"
[ "$(sql "select count(*) from tokenadm.tokens")" = 1 ] || fail "prune left $(sql "select count(*) from tokenadm.tokens") rows"
[ "$(sql "select count(*) from tokenadm.audit where action = 'prune'")" = 6001 ] || fail "not one audit row per pruned token"
[ "$(sql "select coalesce(replaced_by, 'null') from tokenadm.tokens where id = '$keep_id'")" = null ] \
  || fail "the kept token still names a pruned one"
# The ids printed are those the audit trail records.
sql "select token_id from tokenadm.audit where action = 'prune' order by token_id" >"$TMP/audited"
sort "$TMP/out" | cmp -s - "$TMP/audited" || fail "printed ids differ from the audited ones"

run_token 0 prune --older-than 90d
expect_err 'deleted 0 token'
expect_no_out
pass
