# Usage errors exit 2 (never CLI11's 100+ codes); help and version exit 0.
. "$(dirname "$0")/common.sh"

run_token 0 --help
expect_out 'Subcommands:'
run_token 0 --version
expect_out '^token \(tokenadm\) [0-9]+\.[0-9]+\.[0-9]+$'
for sub in init create list revoke verify; do
  run_token 0 "$sub" --help
  expect_out "token $sub"
done
run_token 2
expect_one_line_err
run_token 2 frobnicate
expect_one_line_err; expect_err 'see token --help'
run_token 2 list --bogus
expect_one_line_err
run_token 2 list --format xml
expect_one_line_err
run_token 2 --timeout abc list
expect_one_line_err
# Only the command named is set up: a global option's value that is also a
# command's name is still a value, and help and errors stay the whole tool's.
run_token 2 --config list list
expect_one_line_err; expect_err 'list'
run_token 2 --config=verify list
expect_one_line_err; expect_err 'verify'
run_token 2 -q frobnicate list
expect_one_line_err; expect_err 'see token --help'
run_token 0 help
expect_out 'verify' ; expect_out 'prune'
run_token 0 help verify
expect_out 'token verify'
run_token 2 list verify
expect_one_line_err

run_token 0 init
run_token 2 create --role admin
expect_one_line_err; expect_err "unknown role 'admin'"
for bad in 0 -5d 1x 5 d 0d; do
  run_token 2 create --expires-in "$bad"
  expect_one_line_err; expect_err '^token: (--expires-in|.*expires-in)'
done
run_token 2 create --expires-in 400d
expect_err 'max_ttl of 1y'
run_token 2 create --expires-in 1d --no-expiry
expect_one_line_err
run_token 2 create --no-expiry
expect_err 'not allowed by the policy'
run_token 2 create --expires-at yesterday-ish
expect_one_line_err
run_token 2 create --expires-at 2001-01-01T00:00:00Z
expect_err 'not in the future'
run_token 2 create --expires-at 2999-01-01T00:00:00Z
expect_err 'max_ttl'
run_token 0 create --expires-at "$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)"
remember_secret "$(cat "$TMP/out")"
run_token 2 create --meta novalue
expect_err 'key=value'
run_token 2 create --contact not-an-email
expect_err 'not an email'
run_token 2 create --owner "$(printf 'a\tb')"
expect_err 'control character'
run_token 2 create --owner "$(head -c 300 /dev/zero | tr '\0' a)"
expect_err 'longer than'
# A failing --format json command prints one JSON document, nothing else.
run_token 2 list --format json --created-before garbage
expect_one_line_err; expect_err "^token: --created-before: 'garbage' is not a time"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["error"]["code"]=="usage", d' "$TMP/out" || fail "list json error"
run_token 2 revoke
expect_err 'give the IDs'
run_token 2 revoke --owner x --yes --dry-run
expect_one_line_err
run_token 2 revoke ABCDEFGHIJ --yes
expect_err 'go with a bulk revoke'
[ "$(sql 'select count(*) from tokenadm.tokens')" = 1 ] || fail "a failed create stored a row"

pass
