# verify's failure paths: each exits 2 with its reason, leaks nothing.
. "$(dirname "$0")/common.sh"
run_token 0 init

create_token --owner alice --role feed
GOOD=$TOK; GOOD_ID=$TOK_ID

# malformed: empty input, whitespace only, a 1 MB line, wrong shape.
run_token 2 verify </dev/null
expect_one_line_err; expect_err '^token: malformed: '
run_token 2 verify <<<"   "
expect_err '^token: malformed: '
head -c 1048576 /dev/zero | tr '\0' 'a' >"$TMP/big"
run_token 2 verify <"$TMP/big"
expect_one_line_err; expect_err '^token: malformed: .*longer than 4096'
run_token 2 verify <<<"tka_short_oops"
expect_err '^token: malformed: '
run_token 2 verify --header <<<"Authorization: Basic $GOOD"
expect_err '^token: malformed: '

# checksum: one character changed, rejected with no database at all.
c=${GOOD:20:1}; [ "$c" = A ] && r=B || r=A
BAD="${GOOD:0:20}$r${GOOD:21}"
TOKENADM_DSN="postgresql://nobody@127.0.0.1:1/nothing" run_token 2 verify <<<"$BAD"
expect_one_line_err; expect_err '^token: checksum: '
grep -qF "$BAD" "$TMP/err" && fail "the mistyped token was echoed"

# A truncated or lengthened token is malformed, offline too (never taken
# for a legacy token).
TOKENADM_DSN="postgresql://nobody@127.0.0.1:1/nothing" run_token 2 verify <<<"${GOOD:0:40}"
expect_err '^token: malformed: '
TOKENADM_DSN="postgresql://nobody@127.0.0.1:1/nothing" run_token 2 verify <<<"${GOOD}abc"
expect_err '^token: malformed: '
# An empty TOKENADM_TOKEN is as good as unset: stdin is read.
TOKENADM_TOKEN= run_token 0 verify <<<"$GOOD"

# unknown: well-formed, right checksum, not in the database.
"$TOKEN" --dsn "$BASE_DSN" create --owner ghost >"$TMP/ghost" 2>/dev/null
GHOST=$(cat "$TMP/ghost"); remember_secret "$GHOST"
sql "delete from tokenadm.tokens where id = '$(cut -d_ -f2 <<<"$GHOST")'"
run_token 2 verify <<<"$GHOST"
expect_one_line_err; expect_err '^token: unknown: '
# A known ID with a different (valid-checksum) secret is unknown too.
body="tka_${GOOD_ID}_$(head -c 200 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32)"
FORGED=$(python3 - "$body" <<'PY'
import sys, zlib
b = sys.argv[1]; v = zlib.crc32(b.encode()); a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"; s = ""
for _ in range(6): s = a[v % 62] + s; v //= 62
print(b + s)
PY
)
remember_secret "$FORGED"
run_token 2 verify <<<"$FORGED"
expect_err '^token: unknown: '

# forbidden: the wrong role; a scope the token is not limited to is fine.
run_token 2 verify --role vcs <<<"$GOOD"
expect_one_line_err; expect_err '^token: forbidden: .*vcs'
run_token 0 verify --role feed <<<"$GOOD"
create_token --owner scoped --scope repo-a
SCOPED=$TOK
run_token 0 verify --scope repo-a <<<"$SCOPED"
run_token 2 verify --scope repo-b <<<"$SCOPED"
expect_err '^token: forbidden: .*repo-b'
run_token 0 verify --scope anything <<<"$GOOD"

# expired.
create_token --owner old --expires-in 1h
sql "update tokenadm.tokens set expires_at = now() - interval '1 second' where id = '$TOK_ID'"
run_token 2 verify <<<"$TOK"
expect_one_line_err; expect_err '^token: expired: '

# revoked.
run_token 0 revoke "$GOOD_ID"
run_token 2 verify <<<"$GOOD"
expect_err '^token: revoked: '

# JSON failure: one document with an error object on stdout.
run_token 2 verify --format json <<<"$GOOD"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["error"]["code"]=="revoked", d' "$TMP/out" \
  || fail "json error"

# A token as an argument is refused with a hint, and not echoed.
run_token 2 verify "$SCOPED"
expect_one_line_err; expect_err 'stdin'
grep -qF "$SCOPED" "$TMP/err" && fail "argv token echoed"
# Nor may CLI11's own messages echo it (unknown option carrying it).
run_token 2 verify --bogus="$SCOPED"
grep -qF "$SCOPED" "$TMP/err" && fail "option token echoed"

# Multiple lines: only the first line is read.
run_token 0 verify <<<"$SCOPED
second line"
expect_out_exactly scoped

# Standard output closed: verify fails (2) before it counts a use, as the
# owner cannot be printed.
create_token --owner closedout --max-uses 5
run 2 sh -c '"$0" verify >&-' "$TOKEN" <<<"$TOK"
expect_one_line_err; expect_err '^token: cannot write to stdout: Bad file descriptor$'
[ "$(sql "select uses || ' ' || (last_used_at is null) from tokenadm.tokens where id = '$TOK_ID'")" = "0 true" ] \
  || fail "a use was counted by a verify that could not answer"
# The same when the pipe's reader is gone.
run_reader_gone 2 verify <<<"$TOK"
expect_one_line_err; expect_err '^token: cannot write to stdout: the reader has gone$'
[ "$(sql "select uses from tokenadm.tokens where id = '$TOK_ID'")" = 0 ] \
  || fail "a use was counted by a verify whose reader was gone"

pass
