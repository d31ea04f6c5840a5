# Executable docs: the README's ```console blocks and the man pages'
# EXAMPLES marked `.\" tested` are extracted by tests/docs/extract into
# cram tests and run, one fresh database per source file, in a shell with
# token on PATH. Volatile values (tokens, ids, times) are matched by pattern.
. "$(dirname "$0")/common.sh"
CRAM=$(command -v cram3 || command -v cram || true)
[ -n "$CRAM" ] || fail "cram is not installed (python3-cram: scripts/install-deps installs it)"
SRC=${TOKENADM_SRC:?}
mkdir -p "$TMP/t" "$TMP/home"
"$SRC/tests/docs/extract" "$TMP/t" "$SRC/README.md" "$SRC"/man/*.1 "$SRC"/man/*.5 >"$TMP/list"
[ -s "$TMP/list" ] || fail "no tested examples found in the docs"
# The extractor takes only marked blocks.
printf '# x\n```\n$ false\nnot run\n```\n```console\n$ echo tka_0123456789_abcdefghijABCDEFGHIJ0123456789abcdefghij\ntka_aaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n```\n' >"$TMP/sample.md"
"$SRC/tests/docs/extract" "$TMP/x" "$TMP/sample.md" >/dev/null
grep -q 'not run' "$TMP/x/sample_md.t" && fail "an unmarked block was extracted"
grep -qF '  $ echo tka_' "$TMP/x/sample_md.t" && grep -qF ' (re)' "$TMP/x/sample_md.t" || fail "token not matched by pattern"
failed=()
while read -r t; do
  db="${DB}_$(basename "$t" .t | tr -c 'a-z0-9\n' _)"
  "$PGBIN/createdb" "$db"
  set +e
  env HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/home/.config" PATH="$(dirname "$TOKEN"):$PATH" \
    TOKENADM_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db" \
    "$CRAM" --shell=/bin/bash -q "$TMP/t/$t" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  check_clean "$TMP/out" "$TMP/err"
  if [ "$rc" != 0 ]; then
    failed+=("$t"); redact <"$TMP/out" >&2
  fi
  "$PGBIN/dropdb" "$db"
done <"$TMP/list"
[ ${#failed[@]} = 0 ] || fail "docs examples that do not hold: ${failed[*]}"
pass
