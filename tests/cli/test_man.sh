# Every subcommand has a man page, and every page renders without warnings.
set -euo pipefail
src=${TOKENADM_SRC:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
for sub in $("$TOKEN" --help | awk '/^Subcommands:/{on=1; next} on && !NF {exit} on {print $1}'); do
  [ -f "$src/man/token-$sub.1" ] || fail "no man page for token $sub"
done
for page in "$src"/man/*.[15]; do
  out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || fail "man failed on $page"
  [ -z "$out" ] || fail "$page: $out"
done
# Every page has the usual sections, as roff .SH headers.
has_section() { grep -qxE "\.SH \"?$2\"?" "$1"; }
for page in "$src"/man/*.1; do
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
    [ "$s" = OPTIONS ] && [ "$(basename "$page")" = token-help.1 ] && continue
    has_section "$page" "$s" || fail "$(basename "$page") has no $s section"
  done
done
for page in "$src"/man/*.5; do
  for s in NAME DESCRIPTION FILES EXAMPLES "SEE ALSO"; do
    has_section "$page" "$s" || fail "$(basename "$page") has no $s section"
  done
done
echo "ok: test_man"
