# JSON on every path, and secrets that never show (issue 11).
. "$(dirname "$0")/common.sh"
run_token 0 init

# one_json: stdout is exactly one line holding one JSON document.
one_json() {
  [ "$(wc -l <"$TMP/out")" = 1 ] || fail "stdout is not one line"
  python3 -c 'import json,sys; json.loads(sys.stdin.read())' <"$TMP/out" || fail "stdout is not JSON"
}

# --- usage errors, CLI11's own included, answer in JSON too
run_token 2 list --format json --state bogus
one_json; expect_out '"code":"usage"'
run_token 2 list --state bogus --format=json
one_json
# invalid UTF-8 is replaced, never an abort
run_token 2 create --format json --meta $'\xff' --expires-in $'9\xff'
one_json
# a failed verify says so in its own terms
run_token 2 verify --format json <<<'tka_notatoken'
one_json; expect_out '"valid":false'; expect_out '"reason":"'
create_token --owner jo
run_token 0 list --format json
one_json
run_token 0 config show --format json
one_json

# --- a config file others can write is refused, whatever it holds
CFG=$TMP/cfg; mkdir -p "$CFG"
printf '[token]\nprefix = "abc"\n' >"$CFG/w.toml"
chmod 664 "$CFG/w.toml"
run_token 2 --config "$CFG/w.toml" config show
expect_one_line_err; expect_err 'may write it'
chmod 644 "$CFG/w.toml"
run_token 0 --config "$CFG/w.toml" config show
printf 'host=nowhere\n' >"$CFG/dsn"; chmod 622 "$CFG/dsn"
printf 'dsn_file = "%s"\n' "$CFG/dsn" >"$CFG/d.toml"; chmod 600 "$CFG/d.toml"
run_token 2 --config "$CFG/d.toml" config show
expect_one_line_err; expect_err 'may write it'

# --- DSN secrets: sslpassword, a password with '@', a DSN that does not parse
run_token 0 --dsn "host=/nonexistent dbname=x sslpassword=CANARYPW" config show
run_token 0 --dsn "host=/nonexistent password=CANARYPW 'oops" config show

pass
