# bash completion (scripts/completion/token.bash): what it offers, and that
# its hard-coded lists match what `token [SUB] --help` prints.
set -euo pipefail
src=${TOKENADM_SRC:?}
: "${TOKEN:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=/dev/null
. "$src/scripts/completion/token.bash"
# (Defined by token.bash.)
: "${_token_commands:?}" "${_token_global_options:?}"
[ "$(complete -p token)" = "complete -F _token token" ] || fail "complete -p token: $(complete -p token)"

# words WORD...: what completing the last WORD offers, sorted, one line.
words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="${COMP_WORDS[*]}"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _token token "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]+"${COMPREPLY[@]}"}" | sed '/^$/d' | sort | paste -sd' ' -
}
# expect WANT WORD...: completing WORD... offers exactly WANT (sorted).
expect() {
  local want=$1 got
  shift
  got=$(words "$@")
  [ "$got" = "$want" ] || fail "'$*' offers '$got', wanted '$want'"
}

all_cmds="audit config create ensure help import init list notify prune renew resume revoke rotate scan serve show suspend verify"
expect "$all_cmds" token ""
expect "list" token li
expect "scan serve show suspend" token s
expect "--listen" token serve --li
expect "renew resume revoke rotate" token r
expect "$all_cmds" token --dsn "host=x" ""
expect "$all_cmds" token --timeout 5 --quiet ""
expect "--config --dsn --help --quiet --timeout --verify-dsn --version" token --
expect "json table tsv" token list --format ""
expect "json table tsv" token audit --format ""
expect "json text" token show --format ""
expect "json text" token create --owner bob --format ""
expect "json" token verify --format j
expect "json table tsv" token list --format = ""
expect "all api feed http vcs" token create --role ""
expect "all api" token verify --role a
expect "all api feed http vcs" token list --role ""
expect "active all expired revoked suspended" token list --state ""
expect "created expires label last-used owner" token list --sort ""
expect "--no-headers" token list --no
expect "" token list --owner ""
expect "--state" token list --st
expect "--dry-run" token revoke 0123456789 --dr
expect "--dsn" token show 0123456789 --ds
expect "show" token config ""
expect "--format" token config show --f
expect "create" token help cr
expect "" token --dsn x list --owner bob ""
touch "$tmp/keys.toml" "$tmp/keys.out" "$tmp/other"
expect "$tmp/keys.out $tmp/keys.toml" token --config "$tmp/ke"
expect "$tmp/keys.out $tmp/keys.toml" token create --output "$tmp/ke"
expect "$tmp/keys.out $tmp/keys.toml" token verify --token-file "$tmp/ke"
expect "$tmp/keys.out $tmp/keys.toml" token scan --exclude .git "$tmp/ke"
expect "--exclude" token scan --ex
expect "$tmp/keys.out $tmp/keys.toml" token revoke --leaked --from "$tmp/ke"
expect "" token verify --from "$tmp/ke"
expect "--leaked --legacy" token revoke --le
expect "json text" token revoke --leaked --format ""
expect "json text" token scan --format ""
expect "" token scan --exclude ""

# Drift: every long option `token SUB --help` prints is in the script's list
# for SUB, and the script lists nothing the command does not have.
long_options() { sed -nE 's/^  (-[[:alnum:]],)?(--[[:alnum:]][[:alnum:]-]*).*/\2/p' | sort -u; }
subcommands() { awk '/^Subcommands:/ {on = 1; next} on && !NF {exit} on {print $1}'; }
same_set() { # NAME HELP-LIST SCRIPT-LIST
  local missing extra
  missing=$(comm -23 <(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort -u) <(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort -u) | paste -sd' ' -)
  extra=$(comm -13 <(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort -u) <(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort -u) | paste -sd' ' -)
  [ -z "$missing" ] || fail "$1: not in token.bash: $missing"
  [ -z "$extra" ] || fail "$1: in token.bash but not in --help: $extra"
}
cmds=$("$TOKEN" --help | subcommands)
same_set "subcommands" "$cmds" "$_token_commands"
same_set "global options" "$("$TOKEN" --help | long_options)" "$_token_global_options"
# A command's help ends with the global options: those are checked above.
own() { sed '/^Global options:/,$d'; }
for sub in $cmds; do
  help=$("$TOKEN" "$sub" --help | own)
  same_set "token $sub" "$(long_options <<<"$help")" "$(_token_options "$sub")"
  for nested in $(subcommands <<<"$help"); do
    same_set "token $sub $nested" "$("$TOKEN" "$sub" "$nested" --help | own | long_options)" \
      "$(_token_options "$sub $nested")"
  done
done
echo "ok: test_completion"
