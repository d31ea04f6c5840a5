# Nothing that leaves the process or sits in the database holds a secret.
. "$(dirname "$0")/common.sh"
run_token 0 init
for i in 1 2 3; do create_token --owner "u$i" --label "l$i"; done
run_token 0 list
run_token 0 list --format json
run_token 0 list --format tsv
"$PGBIN/pg_dump" -d "$DB" >"$TMP/dump.sql"
check_clean "$TMP/dump.sql"
# Not even the secret part alone.
for s in "${SECRETS[@]}"; do
  grep -qF -- "${s:15:32}" "$TMP/dump.sql" && fail "a secret part is in the dump"
done
# The server log (statements with errors) must not hold them either.
check_clean "$TOKENADM_TEST_PGDIR/server.log"
pass
