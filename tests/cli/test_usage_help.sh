# Mistakes get help: unknown commands and options named in the order typed,
# with a suggestion when one is close; help without CLI11's leftovers and
# with the global options; enumerations and times checked before use; roles
# stored once; blank labels refused; one prefix on an environment error.
. "$(dirname "$0")/common.sh"

# exact_err MSG: stderr is exactly the one line MSG.
exact_err() { [ "$(cat "$TMP/err")" = "$1" ] || fail "stderr is '$(cat "$TMP/err")', not '$1'"; }

# Unknown commands and options: the first one typed, a suggestion if close.
run_token 2 lst
exact_err "token: unknown command 'lst' (did you mean 'list'?)"
run_token 2 ls
exact_err "token: unknown command 'ls' (did you mean 'list'?)"
run_token 2 frobnicate
exact_err "token: unknown command 'frobnicate' (see token --help)"
run_token 2 --dsn x lsit --owner y
exact_err "token: unknown command 'lsit' (did you mean 'list'?)"
run_token 2 create --ownr x
exact_err "token: unknown option '--ownr' (did you mean '--owner'?)"
run_token 2 create --ownr x --bogus
exact_err "token: unknown option '--ownr' (did you mean '--owner'?)"
run_token 2 create --bogus --ownr x
exact_err "token: unknown option '--bogus' (see token create --help)"
run_token 2 list --stat=active
exact_err "token: unknown option '--stat' (did you mean '--state'?)"
run_token 2 --tiemout 5 list
exact_err "token: unknown option '--tiemout' (did you mean '--timeout'?)"
run_token 2 help lst
exact_err "token: unknown command 'lst' (did you mean 'list'?)"
run_token 2 help nosuch
exact_err "token: unknown command 'nosuch' (see token --help)"
run_token 2 --owner x list
exact_err "token: '--owner' is not a global option: put it after the command's name (see token --help)"
run_token 2 config shw
exact_err "token: unknown command 'shw' (did you mean 'show'?)"
run_token 2
exact_err "token: no command given (see token --help)"
run_token 2 show
exact_err "token: missing ID (see token show --help)"
run_token 2 show AAAAAAAAAA BBBBBBBBBB
exact_err "token: unexpected argument 'BBBBBBBBBB' (see token show --help)"
run_token 2 prune
exact_err "token: --older-than is required (see token prune --help)"
run_token 2 import --remove-plaintext
exact_err "token: --remove-plaintext requires --from-gs (see token import --help)"
run_token 2 rotate
exact_err "token: missing ID (see token rotate --help)"
run_token 2 list --owner
exact_err "token: --owner needs a value (see token list --help)"
run_token 2 create --expires-in 1d --no-expiry
exact_err "token: --expires-in and --no-expiry exclude each other (see token create --help)"
run_token 2 --timeout abc list
exact_err "token: --timeout: 'abc' is not a whole number from 0 to 86400 (see token list --help)"
run_token 2 create --max-uses 0
exact_err "token: --max-uses: '0' is not a whole number from 1 to 2147483647 (see token create --help)"
# The JSON answer to a usage error carries the same message.
run_token 2 lst --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["error"]=={"code":"usage","message":"unknown command '"'lst'"' (did you mean '"'list'"'?)"}, d' "$TMP/out" \
  || fail "usage error as JSON"

# Enumerations: the option, the value and the allowed values.
run_token 2 list --format xml
exact_err "token: --format: 'xml' is not one of table, tsv, json (see token list --help)"
run_token 2 list --state bogus
exact_err "token: --state: 'bogus' is not one of active, suspended, expired, revoked, all (see token list --help)"
run_token 2 list --sort bogus
exact_err "token: --sort: 'bogus' is not one of created, expires, owner, label, last-used (see token list --help)"
run_token 2 audit --action bogus
exact_err "token: --action: 'bogus' is not one of create, ensure, import, revoke, rotate, renew, suspend, resume, prune, verify, verify-failed, mail, notify (see token audit --help)"
run_token 2 audit --action revok
exact_err "token: --action: 'revok' is not one of create, ensure, import, revoke, rotate, renew, suspend, resume, prune, verify, verify-failed, mail, notify (did you mean 'revoke'?)"
run_token 2 show --format xml AAAAAAAAAA
exact_err "token: --format: 'xml' is not one of text, json (see token show --help)"
run_token 2 list --limit 0
exact_err "token: --limit: '0' is not a whole number from 1 to 1000000000 (see token list --help)"

# Help: metavars, choices in the description, the global options, nothing
# of CLI11's own notation, for every command.
run_token 0 list --help
expect_out '^  --owner OWNER '
expect_out '^  --state STATE +active, suspended, expired, revoked or all'
expect_out '^  --format FORMAT +Output format: table\|tsv\|json'
expect_out '^  --sort SORT '
expect_out '^  --limit N '
expect_out '^  --no-headers '
expect_out '^Global options:'
for cmd in $("$TOKEN" --help | awk '/^Subcommands:/ { on = 1; next } on && NF { print $1 }'); do
  run_token 0 "$cmd" --help
  grep -nE '\b(TEXT|INT|UINT|FLOAT|BOOLEAN)\b|:\{|in \[|REQUIRED|Excludes:|Needs:' "$TMP/out" \
    && fail "token $cmd --help shows CLI11's notation"
  if [ "$cmd" != help ]; then
    for opt in '--dsn DSN' '--config FILE' '--timeout SECONDS' '-q,--quiet'; do
      grep -qF -- "$opt" "$TMP/out" || fail "token $cmd --help lacks the global option $opt"
    done
  fi
done
run_token 0 --help
grep -nE '\b(TEXT|INT)\b|in \[' "$TMP/out" && fail "token --help shows CLI11's notation"
expect_out '^  --timeout SECONDS '

run_token 0 init
run_token 2 list --role bogus
exact_err "token: --role: unknown role 'bogus' (use api, feed, vcs, http or all)"
printf 'x\n' | run_token 2 verify --role bogus
exact_err "token: --role: unknown role 'bogus' (use api, feed, vcs, http or all)"

# Times: checked here, named by their option, never PostgreSQL's words.
run_token 2 audit --since notadate
exact_err "token: --since: 'notadate' is not a time (use 2026-12-01, 2026-12-01T15:04:05Z or 2026-12-01 15:04:05+02:00)"
run_token 2 audit --until 2026-02-29
exact_err "token: --until: '2026-02-29' is not a time (use 2026-12-01, 2026-12-01T15:04:05Z or 2026-12-01 15:04:05+02:00)"
run_token 2 list --created-before 'tomorrow'
exact_err "token: --created-before: 'tomorrow' is not a time (use 2026-12-01, 2026-12-01T15:04:05Z or 2026-12-01 15:04:05+02:00)"
run_token 2 create --expires-at 2030-01-01T25:00
exact_err "token: --expires-at: '2030-01-01T25:00' is not a time (use 2026-12-01, 2026-12-01T15:04:05Z or 2026-12-01 15:04:05+02:00)"
for t in 2000-01-01 2000-01-01T00:00 '2000-01-01 00:00:00' 2000-01-01T00:00:00Z 2000-02-29T00:00:00.123456+02:00 2000-01-01T00:00+0530 2000-01-01T00:00-08; do
  run_token 0 audit --since "$t" --format tsv
done
[ "$(sql 'select count(*) from tokenadm.tokens')" = 0 ] || fail "a refused command stored a token"

# Roles and scopes are stored once each, in the order first given.
create_token --owner dup --role api,api --role feed,api --scope r1 --scope r1
[ "$(sql "select array_to_string(roles, ',') || ' ' || array_to_string(scopes, ',') from tokenadm.tokens where id = '$TOK_ID'")" = 'api,feed r1' ] \
  || fail "--role api,api stored twice"
run_token 0 create --owner dupbulk --count 2 --role vcs,vcs
while read -r t; do remember_secret "$t"; done <"$TMP/out"
[ "$(sql "select distinct array_to_string(roles, ',') from tokenadm.tokens where owner = 'dupbulk'")" = vcs ] \
  || fail "create --count stored a role twice"

# Blank lines in --labels-from-stdin are refused as import refuses them.
printf 'one\n\nthree\n' | run_token 2 create --owner blank --labels-from-stdin
exact_err "token: line 2 is empty"
printf 'one\n \t\n' | run_token 2 create --owner blank --labels-from-stdin
exact_err "token: line 2 is empty"
printf '\n' | run_token 2 import --owner blank
exact_err "token: line 1 is empty"
[ "$(sql "select count(*) from tokenadm.tokens where owner = 'blank'")" = 0 ] || fail "a blank label made a token"

# An environment variable's error has one prefix.
TOKENADM_DEFAULT_TTL=90x run_token 2 create --owner x
exact_err "token: env TOKENADM_DEFAULT_TTL: '90x' is not a duration (use a positive number with a unit: 30m, 12h, 90d, 2w, 1y)"
TOKENADM_MAX_TTL=0d run_token 2 create --owner x
exact_err "token: env TOKENADM_MAX_TTL: must be longer than zero"

pass
