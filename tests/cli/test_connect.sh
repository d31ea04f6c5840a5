# Finding and using the DSN; every connection failure exits 1 with a
# one-line reason and never shows the password.
. "$(dirname "$0")/common.sh"
export PGPASSFILE=/dev/null
run_token 0 init

# The typo in gs's docs: exit 1 with a hint naming the right scheme.
run_token 1 --dsn "posgres://u:CANARYPW@localhost/db" list
expect_one_line_err; expect_err 'posgres://.*postgresql://'
run_token 1 --dsn "mysql://u:CANARYPW@localhost/db" list
expect_err 'unknown DSN scheme'
# Not a DSN at all: 1, and the text is not echoed.
run_token 1 --dsn "not a dsn at all" list
expect_one_line_err; expect_err 'cannot understand the DSN'
grep -q 'not a dsn' "$TMP/err" && fail "echoed the DSN"
run_token 1 --dsn "host=localhost password=CANARYPW bogus" list
expect_err 'cannot understand the DSN'
# Nothing listening.
run_token 1 --dsn "postgresql://u:CANARYPW@127.0.0.1:1/x" list
expect_one_line_err; expect_err '^token: cannot connect to the database: '
run_token 1 create "postgresql://u:CANARYPW@127.0.0.1:1/x"
# Wrong password over TCP (scram).
run_token 1 --dsn "postgresql://$PGUSER:CANARYPW@127.0.0.1:$PGPORT/$DB" list
expect_one_line_err; expect_err 'password authentication failed'
PGPASSWORD=CANARYPW run_token 1 --dsn "host=127.0.0.1 port=$PGPORT user=$PGUSER dbname=$DB" list
expect_err 'password authentication failed'
# Missing database.
run_token 1 --dsn "host=$PGHOST port=$PGPORT user=$PGUSER dbname=no_such_db" list
expect_err 'database "no_such_db" does not exist'

# The right password works (read from the file, never put in argv here
# beyond this test's own process).
PW=$(cat "$TOKENADM_TEST_PGPASSWORD_FILE")
PGPASSWORD=$PW run_token 0 --dsn "host=127.0.0.1 port=$PGPORT user=$PGUSER dbname=$DB" list
unset PW

# Precedence: --dsn beats the positional DSN beats TOKENADM_DSN beats PG*.
run_token 1 --dsn "postgresql://x@127.0.0.1:1/x" create "$BASE_DSN"
run_token 0 create --owner positional "$BASE_DSN"
remember_secret "$(cat "$TMP/out")"
TOKENADM_DSN="postgresql://x@127.0.0.1:1/x" run_token 0 create --owner pos2 "$BASE_DSN"
remember_secret "$(cat "$TMP/out")"
TOKENADM_DSN="postgresql://x@127.0.0.1:1/x" run_token 0 --dsn "$BASE_DSN" list
# With no DSN at all, libpq's PG* defaults are used.
env -u TOKENADM_DSN PGDATABASE="$DB" "$TOKEN" list --format tsv >"$TMP/out" 2>"$TMP/err" || fail "PG* defaults"
expect_out "positional"

# URI and SQLAlchemy forms (gsconfig.ini's postgresql+psycopg2://).
enc=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PGHOST")
run_token 0 --dsn "postgresql:///$DB?host=$enc&port=$PGPORT&user=$PGUSER" list
run_token 0 --dsn "postgres:///$DB?host=$enc&port=$PGPORT&user=$PGUSER" list
run_token 0 create --owner gs "postgresql+psycopg2:///$DB?host=$enc&port=$PGPORT&user=$PGUSER"
remember_secret "$(cat "$TMP/out")"

# A server that accepts and never answers: connect_timeout ends it with 1.
python3 - >"$TMP/port" <<'PY' &
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
PY
HANG=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
hport=$(cat "$TMP/port")
bounded 60 1 --dsn "postgresql://u:CANARYPW@127.0.0.1:$hport/x?connect_timeout=2" list
expect_one_line_err
# --timeout is a whole deadline too; still connecting, so 1.
bounded 60 1 --timeout 1 --dsn "postgresql://u:CANARYPW@127.0.0.1:$hport/x" list
expect_err 'timed out while connecting'
kill $HANG

pass
