# Hostile input: NUL bytes, invalid UTF-8, CRLF and 100 MB on stdin; SQL
# metacharacters in free text; control characters; the secret-hygiene sweep
# with statement logging on; file permissions.
. "$(dirname "$0")/common.sh"
run_token 0 init

# The reason on stderr is one clean line: "token: ", printable UTF-8, no
# control characters (so no raw input bytes echoed to a terminal).
clean_reason() {
  expect_one_line_err
  python3 - "$TMP/err" <<'PY' || fail "stderr is not one printable UTF-8 line"
import sys
b = open(sys.argv[1], "rb").read()
s = b.decode("utf-8")                       # raises on invalid UTF-8
assert s.endswith("\n") and not any(ord(c) < 32 or ord(c) == 127 for c in s[:-1]), repr(s[:200])
PY
}
count_tokens() { sql "select count(*) from tokenadm.tokens"; }

create_token --owner hostile
GOOD=$TOK
LEGACY=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')   # Kallithea-style 40 hex
remember_secret "$LEGACY"

# --- 1. verify: NUL bytes, invalid UTF-8, CRLF, 100 MB. ----------------------
# CRLF: trimmed, the token is valid.
printf '%s\r\n' "$GOOD" | run_token 0 verify
expect_out_exactly hostile
printf 'Authorization: Bearer %s\r\n' "$GOOD" | run_token 0 verify --header
expect_out_exactly hostile
printf '%s\r\n%s\r\n' "$GOOD" "$GOOD" | run_token 0 verify --batch --no-touch
[ "$(grep -c '^ok ' "$TMP/out")" = 2 ] || fail "verify --batch with CRLF lines"
# NUL and invalid UTF-8: never truncated at the NUL, never a crash.
bad_inputs=(
  "$GOOD\000"           # the token, then a NUL (C-string truncation would make it valid)
  "$GOOD\000\n"
  "${GOOD:0:20}\000${GOOD:21}\n"
  "\000\000\000\000\n"
  "$GOOD\377\n"          # invalid UTF-8 after the token
  "\377\376\375\n"
  "${GOOD:0:20}\303\251${GOOD:21}\n"   # an e-acute in place of one character
  "\300\257\n"           # overlong "/"
  "\r\n"
)
for b in "${bad_inputs[@]}"; do
  printf "$(sed 's/%/%%/g' <<<"$b")" >"$TMP/in"
  run_token 2 verify <"$TMP/in"
  clean_reason; expect_err '^token: (malformed|checksum): '
  run_token 2 verify --no-touch <"$TMP/in"
  clean_reason
done
# In batch mode the same lines are denied, one answer each, and the stream goes on.
for b in "${bad_inputs[@]}"; do printf "$(sed 's/%/%%/g' <<<"$b")\n"; done >"$TMP/in"
printf '%s\n' "$GOOD" >>"$TMP/in"
run_token 0 verify --batch --no-touch <"$TMP/in"
tail -1 "$TMP/out" | grep -q '^ok ' || fail "verify --batch lost its way after hostile lines"
grep -v '^ok ' "$TMP/out" | grep -Evq '^deny (malformed|checksum)$' && fail "verify --batch: unexpected answers"
python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$TMP/out" || fail "batch output is not UTF-8"
# 100 MB on stdin: refused quickly.
bounded 120 2 verify < <(head -c 100M /dev/zero)
clean_reason
bounded 120 2 verify < <(head -c 100M /dev/zero | tr '\0' a)
clean_reason; expect_err '^token: malformed: '
bounded 120 2 verify < <(head -c 100M /dev/urandom)
clean_reason
bounded 120 2 verify --header < <(printf 'Authorization: Bearer '; head -c 100M /dev/zero | tr '\0' a)
clean_reason
bounded 120 0 verify --batch --no-touch < <(head -c 100M /dev/zero | tr '\0' a; printf '\n%s\n' "$GOOD")
[ "$(cut -d' ' -f1,2 "$TMP/out" | tr '\n' '|')" = "deny malformed|ok $(cut -d_ -f2 <<<"$GOOD")|" ] \
  || fail "verify --batch after a 100 MB line"
bounded 120 0 verify --batch --no-touch < <(head -c 100M /dev/zero)
[ "$(sort -u "$TMP/out")" = "deny malformed" ] || fail "verify --batch of 100 MB of NULs"

# --- 1b. import: the same. ---------------------------------------------------
before=$(count_tokens)
for b in "$LEGACY\000\n" "${LEGACY:0:20}\000${LEGACY:20}\n" "$LEGACY\000" "$LEGACY\377\n" "\377${LEGACY}\n" \
         "${LEGACY:0:20}\303\251${LEGACY:20}\n" "$(printf '%.0s\\000' $(seq 40))\n"; do
  printf "$b" >"$TMP/in"
  run_token 2 import --owner hostile <"$TMP/in"
  clean_reason
done
bounded 120 2 import --owner hostile < <(head -c 100M /dev/zero)
clean_reason
bounded 120 2 import --owner hostile < <(head -c 100M /dev/zero | tr '\0' a)
clean_reason
bounded 120 2 import --owner hostile < <(head -c 100M /dev/urandom)
clean_reason
# 100 MB of short lines that are not tokens.
bounded 120 2 import --owner hostile < <(yes 'not a token' | head -c 100M)
clean_reason
[ "$(count_tokens)" = "$before" ] || fail "a refused import stored something"
# CRLF: the token is imported without its \r, and verifies as typed.
printf '%s\r\n' "$LEGACY" | run_token 0 import --owner crlf-legacy
run_token 0 verify <<<"$LEGACY"
expect_out_exactly crlf-legacy
printf '%s\r\n' "$LEGACY" | run_token 0 verify --no-touch
expect_out_exactly crlf-legacy

# --- 2. SQL metacharacters in --owner and --label: verbatim or refused. -----
nasty=(
  "O'Brien"
  'say "hi"'
  'back\slash'
  '\\double\\'
  "'; drop table tokenadm.tokens; --"
  "\"; drop table tokenadm.audit; --"
  "x' or '1'='1"
  '%'
  '_'
  '$1'
  '{a,b}'
  '\x41'
)
json_field() {  # json_field ID FIELD: the field of token ID in `token list --format json`
  python3 - "$TMP/out" "$1" "$2" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["id"] == sys.argv[2]]
assert len(rows) == 1, rows
sys.stdout.write(rows[0][sys.argv[3]])
PY
}
for v in "${nasty[@]}"; do
  set +e; "$TOKEN" create --owner "$v" --label "$v" >"$TMP/out" 2>"$TMP/err"; rc=$?; set -e
  if [ "$rc" = 2 ]; then
    clean_reason
    echo "note: create refused --owner/--label $(printf '%q' "$v")"
    continue
  fi
  [ "$rc" = 0 ] || fail "create --owner $(printf '%q' "$v") exited $rc"
  T=$(cat "$TMP/out"); remember_secret "$T"; ID=$(cut -d_ -f2 <<<"$T")
  [ "$(sql "select owner from tokenadm.tokens where id = '$ID'")" = "$v" ] || fail "owner $(printf '%q' "$v") not stored verbatim"
  [ "$(sql "select label from tokenadm.tokens where id = '$ID'")" = "$v" ] || fail "label $(printf '%q' "$v") not stored verbatim"
  [ "$(sql "select owner from tokenadm.audit where token_id = '$ID' and action = 'create'")" = "$v" ] || fail "audit owner $(printf '%q' "$v")"
  run_token 0 list --format json
  [ "$(json_field "$ID" owner)" = "$v" ] || fail "list json owner $(printf '%q' "$v")"
  [ "$(json_field "$ID" label)" = "$v" ] || fail "list json label $(printf '%q' "$v")"
  # Filters match the value literally: '%' and '_' are no wildcards.
  run_token 0 list --owner "$v" --format json
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d and all(r["owner"]==sys.argv[2] for r in d), d' "$TMP/out" "$v" \
    || fail "list --owner $(printf '%q' "$v") matched other owners"
  run_token 0 list --label "$v" --format json
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d and all(r["label"]==sys.argv[2] for r in d), d' "$TMP/out" "$v" \
    || fail "list --label $(printf '%q' "$v") matched other labels"
  run_token 0 verify --no-touch <<<"$T"
  expect_out_exactly "$v"
  run_token 0 ensure --owner "$v" --label "$v"
  expect_no_out
  run_token 0 audit --owner "$v" --format json
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d and all(r["owner"]==sys.argv[2] for r in d), d' "$TMP/out" "$v" \
    || fail "audit --owner $(printf '%q' "$v")"
  run_token 0 revoke --reason "$v" "$ID"
  [ "$(sql "select revoke_reason from tokenadm.tokens where id = '$ID'")" = "$v" ] || fail "revoke --reason $(printf '%q' "$v")"
done
# Bulk revoke by a wildcard-looking owner touches that owner only.
create_token --owner bystander
BYSTANDER=$TOK
create_token --owner '%'
run_token 0 revoke --owner '%' --yes
run_token 0 verify --no-touch <<<"$BYSTANDER"
[ "$(sql "select to_regclass('tokenadm.tokens') is not null and to_regclass('tokenadm.audit') is not null")" = t ] \
  || fail "a table is gone"

# --- 3. Control characters and invalid UTF-8 in --owner: refused. -----------
before=$(count_tokens)
for v in $'a\nb' $'a\rb' $'a\tb' $'\e[31mred' $'a\x01b' $'a\x7fb' $'\xff\xfe' $'caf\xc3' $'a\xc0\xafb'; do
  for args in "create --owner" "ensure --label x --owner"; do
    # (not run_token: its failure message would print the raw bytes)
    rc=0
    # shellcheck disable=SC2086
    "$TOKEN" $args "$v" >"$TMP/out" 2>"$TMP/err" || rc=$?
    [ "$rc" = 2 ] || fail "token $args $(printf '%q' "$v") exited $rc, wanted 2"
    check_clean "$TMP/out" "$TMP/err"
    clean_reason
  done
done
[ "$(count_tokens)" = "$before" ] || fail "an owner with control characters or bad UTF-8 was stored"

# --- 4. The secret-hygiene sweep, with every statement logged. ---------------
sql "alter database \"$DB\" set log_statement = 'all'"
CANARY_DSN="$BASE_DSN password=CANARYPW"     # trust auth: the password is carried, never needed
DEAD_URI="postgresql://u:CANARYPW@127.0.0.1:1/x"
DEAD_KV="host=127.0.0.1 port=1 user=u password=CANARYPW dbname=x"
SW=$TMP/sweep; mkdir "$SW"
n=0
# sw WANT ARGS...: one command of the sweep, its stdout and stderr kept.
sw() {
  local want=$1 rc=0; shift
  n=$((n + 1))
  "$TOKEN" "$@" >"$SW/$n.out" 2>"$SW/$n.err" || rc=$?
  [ "$rc" = "$want" ] || { cp "$SW/$n.out" "$TMP/out"; cp "$SW/$n.err" "$TMP/err"; fail "sweep: 'token $*' exited $rc, wanted $want"; }
}
sw_tok() {  # reads a token written by --output FILE
  local t; t=$(cat "$1"); remember_secret "$t"; rm -f "$1"; printf '%s' "$t"
}
export TOKENADM_DSN=$CANARY_DSN
sw 0 create --owner sweep --label a --role api --contact sweep@example.org --expires-in 2d --output "$SW/t1"
S1=$(sw_tok "$SW/t1"); S1_ID=$(cut -d_ -f2 <<<"$S1")
sw 0 create --owner sweep --label j --format json --output "$SW/t2"
S2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$SW/t2" 2>/dev/null || cat "$SW/t2")
remember_secret "$S2"; rm -f "$SW/t2"; S2_ID=$(cut -d_ -f2 <<<"$S2")
sw 2 create --owner sweep --role nope
sw 2 create --owner sweep --expires-in 999y
sw 0 ensure --owner sweep --label e --output "$SW/t3"
S3=$(sw_tok "$SW/t3")
sw 0 verify --no-touch <<<"$S3"
sw 0 ensure --owner sweep --label e
sw 2 ensure --owner sweep --label e2 --role nope
sw 0 list; sw 0 list --format json; sw 0 list --format tsv; sw 2 list --state bogus
sw 0 show "$S1_ID"; sw 0 show "$S1_ID" --format json; sw 2 show 0000000000
sw 0 verify <<<"$S1"; sw 0 verify --format json <<<"$S1"; sw 0 verify --token-file <(echo "$S1")
printf 'Authorization: Bearer %s\n' "$S1" | sw 0 verify --header
TOKENADM_TOKEN=$S1 sw 0 verify
sw 0 verify --batch <<<"$S1"
sw 2 verify --role vcs <<<"$S1"
sw 0 revoke --reason sweep "$S2_ID"
sw 0 revoke "$S2_ID"
sw 2 verify <<<"$S2"; sw 2 verify --format json <<<"$S2"
sw 0 verify --batch <<<"$S2"
sw 2 revoke 0000000000
# unknown: a well-formed token with a valid checksum that is not stored.
GHOST=$(python3 - <<'PY'
import random, zlib
a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
b = "tka_" + "".join(random.choice(a) for _ in range(10)) + "_" + "".join(random.choice(a) for _ in range(32))
v = zlib.crc32(b.encode()); s = ""
for _ in range(6): s = a[v % 62] + s; v //= 62
print(b + s)
PY
)
remember_secret "$GHOST"
sw 2 verify <<<"$GHOST"; sw 0 verify --batch <<<"$GHOST"
# checksum: the last character changed (to x, or to y when it is x: the
# same token would verify, once in 62 runs)
if [ "${S1: -1}" = x ]; then bad=${S1:0:-1}y; else bad=${S1:0:-1}x; fi
sw 2 verify <<<"$bad"
sw 0 rotate "$S1_ID" --overlap 1h --output "$SW/t4"
S4=$(sw_tok "$SW/t4"); S4_ID=$(cut -d_ -f2 <<<"$S4")
sw 0 verify <<<"$S1"             # rotated-out, still in its overlap: flagged
sw 2 rotate "$S1_ID"
sw 0 rotate "$S4_ID" --format json --output "$SW/t5"
S5=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$SW/t5" 2>/dev/null || cat "$SW/t5")
remember_secret "$S5"; rm -f "$SW/t5"
sw 0 renew "$(cut -d_ -f2 <<<"$S5")" --expires-in 3d
sw 2 renew "$S2_ID"
sw 2 renew 0000000000
sw 0 prune --older-than 1d --dry-run; sw 0 prune --older-than 1d; sw 2 prune --older-than soon
SLEG=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n'); remember_secret "$SLEG"
sw 0 import --owner sweep <<<"$SLEG"
sw 0 import --owner sweep <<<"$SLEG"
sw 0 verify <<<"$SLEG"
sw 2 import --owner sweep <<<"short"
sw 0 audit; sw 0 audit --format json; sw 0 audit --token "$S1_ID"; sw 2 audit --since yesterdayish
sw 0 notify --dry-run --within 7d; sw 2 notify --within never
sw 0 config show; sw 0 --dsn "$CANARY_DSN" config show
sw 2 --config "$SW/missing.toml" config show
# Connection failures: the password is in the DSN, never in the output.
for dsn in "$DEAD_URI" "$DEAD_KV" "postgresql://u:CANARYPW@[::1" "posgres://u:CANARYPW@127.0.0.1:1/x" \
           "postgresql+psycopg2://u:CANARYPW@127.0.0.1:1/x"; do
  for cmd in init create list "show 0000000000" "revoke 0000000000" "rotate 0000000000" "renew 0000000000" \
             "prune --older-than 1d" audit "notify --dry-run" "ensure --owner a --label b"; do
    # shellcheck disable=SC2086
    TOKENADM_DSN=$dsn sw 1 $cmd
  done
  TOKENADM_DSN=$dsn sw 1 verify <<<"$S5"
  # A batch co-process outlives an outage, even one at its start: it answers
  # every line 'error unavailable' and exits 0 at EOF. A DSN that cannot be
  # parsed is no outage: 1 at once.
  case $dsn in
    *'[::1' | posgres://*) TOKENADM_DSN=$dsn sw 1 verify --batch <<<"$S5" ;;
    *) TOKENADM_DSN=$dsn sw 0 verify --batch <<<"$S5"
       [ "$(cat "$SW/$n.out")" = "error unavailable" ] || fail "sweep: batch during an outage did not answer 'error unavailable'" ;;
  esac
  TOKENADM_DSN=$dsn sw 1 import <<<"$SLEG"
  sw 1 --dsn "$dsn" list
done
# A running verify --batch: its command line holds no secret.
mkfifo "$SW/fifo"
"$TOKEN" verify --batch <"$SW/fifo" >"$SW/batch.out" 2>"$SW/batch.err" &
bpid=$!
exec 7>"$SW/fifo"
printf '%s\n' "$S5" >&7
for _ in $(seq 50); do [ -s "$SW/batch.out" ] && break; sleep 0.1; done
tr '\0' ' ' <"/proc/$bpid/cmdline" >"$SW/cmdline"
exec 7>&-
rm -f "$SW/fifo"
wait "$bpid" || fail "verify --batch exited non-zero"
grep -q '^ok ' "$SW/batch.out" || fail "verify --batch did not answer"
grep -q 'verify' "$SW/cmdline" || fail "could not read the cmdline"
# With the DSN (and its password) given by --dsn, what does ps show?
exec 7> >("$TOKEN" --dsn "$CANARY_DSN" verify --batch >/dev/null 2>&1)
bpid2=$!
sleep 0.3
if grep -q CANARYPW "/proc/$bpid2/cmdline" 2>/dev/null; then
  echo "note: a password passed with --dsn is visible in /proc/PID/cmdline (use TOKENADM_DSN or a dsn_file)"
fi
exec 7>&-
export TOKENADM_DSN=$BASE_DSN
sleep 0.5   # let the server write its log
"$PGBIN/pg_dump" -d "$DB" >"$SW/dump.sql"
sql "select * from tokenadm.audit" >"$SW/audit.txt"
sql "select * from tokenadm.tokens" >"$SW/tokens.txt"
grep -q "log_statement\|statement: " "$TOKENADM_TEST_PGDIR/server.log" || fail "log_statement=all logged nothing"
grep -q "$S1_ID" "$TOKENADM_TEST_PGDIR/server.log" || fail "the server log does not show the sweep's statements"
check_clean "$SW"/* "$TOKENADM_TEST_PGDIR/server.log"
# Not even a token's secret part (chars 16-47), anywhere.
for s in "${SECRETS[@]}"; do
  [[ "$s" == *_*_* ]] || continue
  if grep -rqF -- "${s:15:32}" "$SW" "$TOKENADM_TEST_PGDIR/server.log"; then
    fail "a token's secret part leaked"
  fi
done
echo "sweep: $n commands, $(wc -l <"$SW/audit.txt") audit rows checked"
sql "alter database \"$DB\" reset log_statement"

# --- 5. Permissions. ---------------------------------------------------------
# (test_config.sh covers more of the config file and test_lifecycle.sh more
# of create --output; this is the matrix in one place.)
P=$TMP/perm; mkdir "$P"
printf 'dsn = "%s password=CANARYPW"\n' "$BASE_DSN" >"$P/pw.toml"
chmod 644 "$P/pw.toml"
env -u TOKENADM_DSN "$TOKEN" --config "$P/pw.toml" list >"$TMP/out" 2>"$TMP/err" && fail "a 0644 config with a password was accepted"
check_clean "$TMP/out" "$TMP/err"; clean_reason; expect_err '0644'
chmod 600 "$P/pw.toml"
env -u TOKENADM_DSN "$TOKEN" --config "$P/pw.toml" list >"$TMP/out" 2>"$TMP/err" || fail "a 0600 config with a password was refused"
check_clean "$TMP/out" "$TMP/err"
printf '%s\n' "$BASE_DSN" >"$P/dsn"
printf 'dsn_file = "%s"\n' "$P/dsn" >"$P/dsnfile.toml"
chmod 640 "$P/dsn"
env -u TOKENADM_DSN "$TOKEN" --config "$P/dsnfile.toml" list >"$TMP/out" 2>"$TMP/err" && fail "a 0640 dsn_file was accepted"
clean_reason; expect_err '0640'
chmod 600 "$P/dsn"
env -u TOKENADM_DSN "$TOKEN" --config "$P/dsnfile.toml" list >"$TMP/out" 2>"$TMP/err" || fail "a 0600 dsn_file was refused"
head -c 32 /dev/urandom | base64 >"$P/pepper"
printf '[token]\ndigest = "hmac-sha256"\npepper_file = "%s"\n' "$P/pepper" >"$P/hmac.toml"
chmod 644 "$P/pepper"
run_token 2 --config "$P/hmac.toml" create --owner pep
clean_reason; expect_err '0644'
chmod 600 "$P/pepper"
create_token --config "$P/hmac.toml" --owner pep
# --token-file: a token file is read whatever its mode (observed and asserted:
# it holds a secret, but verify only reads it; the mode is the writer's job).
printf '%s\n' "$TOK" >"$P/tok"
for m in 600 640 644 666; do
  chmod "$m" "$P/tok"
  run_token 0 --config "$P/hmac.toml" verify --token-file "$P/tok"
  expect_out_exactly pep
done
# --output: 0600 whatever the umask; never overwrites; never follows a symlink.
(umask 000; "$TOKEN" create --owner out --output "$P/o1" >"$TMP/out" 2>"$TMP/err") || fail "create --output under umask 000"
[ "$(stat -c %a "$P/o1")" = 600 ] || fail "--output under umask 000 is $(stat -c %a "$P/o1")"
remember_secret "$(cat "$P/o1")"
O1_ID=$(cut -d_ -f2 "$P/o1")
echo precious >"$P/existing"
run_token 2 rotate "$O1_ID" --output "$P/existing"
clean_reason
[ "$(cat "$P/existing")" = precious ] || fail "rotate --output overwrote a file"
run_token 0 verify --token-file "$P/o1"    # the failed rotate changed nothing
ln -s "$P/existing" "$P/link"
run_token 2 rotate "$O1_ID" --output "$P/link"
clean_reason
[ "$(cat "$P/existing")" = precious ] || fail "rotate --output wrote through a symlink"
run_token 2 ensure --owner out2 --label l --output "$P/link"
[ "$(cat "$P/existing")" = precious ] || fail "ensure --output wrote through a symlink"
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'out2'")" = 0 ] || fail "ensure stored a token it could not write out"
run_token 0 verify --token-file "$P/o1"

pass
