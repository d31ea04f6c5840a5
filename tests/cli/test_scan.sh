# token scan: finds real tokens (check characters verify) in any text, never
# prints a secret, ignores look-alikes, streams huge input in constant memory.
. "$(dirname "$0")/common.sh"
gen() { python3 "$(dirname "$0")/scan_tokens.py" "$@"; }
id_of() { cut -d_ -f2 <<<"$1"; }
d=$TMP/tree
mkdir -p "$d/sub/deeper" "$d/.git" "$d/logs"

mapfile -t T < <(gen 8)
for t in "${T[@]}"; do remember_secret "$t"; done
P8=$(gen 1 abcdefgh); remember_secret "$P8"

# The contexts a leak turns up in.
printf 'GET /feed?token=%s&x=1 HTTP/1.1\nAuthorization: Bearer %s\n' "${T[0]}" "${T[1]}" >"$d/access.log"
printf '{\n  "api": {"token": "%s"}\n}\n' "${T[2]}" >"$d/sub/config.json"
printf '# env\nAPI_TOKEN=%s\nOTHER=1\nmy_tok=xx%s\n' "${T[3]}" "${T[4]}" >"$d/sub/deeper/.env"
printf 'export T=%s;\n' "$P8" >"$d/sub/prefix8.sh"
printf '%s\n' "${T[5]}" >"$d/.git/config"
printf 'x %s\n' "${T[6]}" >"$d/logs/old.log"

# Look-alikes: one character changed, random check, too long, too short,
# a 9-letter prefix, split across a line break, a bad character inside.
t=${T[7]}
mangled() { printf '%s%s%s\n' "${t:0:$1}" "$2" "${t:$(($1 + 1))}"; }
{
  mangled 30 "$([ "${t:30:1}" = A ] && echo B || echo A)"
  mangled 52 "$([ "${t:52:1}" = A ] && echo B || echo A)"
  printf '%sQ\n' "$t"
  printf '%s\n' "${t:0:52}"
  mangled 52 "$([ "${t:52:1}" = 0 ] && echo 1 || echo 0)"
  printf '%s\n%s\n' "${t:0:25}" "${t:25}"
  mangled 20 '-'
  gen 1 abcdefghi | tee /dev/null
  echo 'snake_case_identifiers_everywhere_ and __dunder__ tka_ _'
} >"$TMP/lookalikes"
remember_secret "$(sed -n 9p "$TMP/lookalikes")"

# A tree: each token at its line, sorted paths; .git excluded on request.
run_token 2 scan "$d"
cat >"$TMP/want" <<EOW
$d/.git/config:1: $(id_of "${T[5]}") (tka)
$d/access.log:1: $(id_of "${T[0]}") (tka)
$d/access.log:2: $(id_of "${T[1]}") (tka)
$d/logs/old.log:1: $(id_of "${T[6]}") (tka)
$d/sub/config.json:2: $(id_of "${T[2]}") (tka)
$d/sub/deeper/.env:2: $(id_of "${T[3]}") (tka)
$d/sub/deeper/.env:4: $(id_of "${T[4]}") (tka)
$d/sub/prefix8.sh:1: $(id_of "$P8") (abcdefgh)
EOW
diff "$TMP/want" "$TMP/out" >/dev/null || fail "scan of the tree reported something else"
expect_err '^token: found 8 token\(s\)$'
expect_one_line_err

run_token 2 scan --exclude .git --exclude '*.log' --exclude "$d/sub/deeper" "$d"
[ "$(wc -l <"$TMP/out")" = 2 ] || fail "--exclude did not skip .git, *.log and sub/deeper"
expect_out "config.json:2: $(id_of "${T[2]}") \(tka\)"
if grep -q access.log "$TMP/out"; then fail "--exclude '*.log' did not skip access.log"; fi

# Look-alikes are not reported; nothing found is exit 0, silent.
run_token 0 scan "$TMP/lookalikes"
expect_no_out
[ ! -s "$TMP/err" ] || fail "a clean scan printed on stderr"

# stdin: no path, or "-".
run_token 2 scan <"$d/access.log"
expect_out_exactly "-:1: $(id_of "${T[0]}") (tka)
-:2: $(id_of "${T[1]}") (tka)"
run_token 2 scan - "$d/logs/old.log" <"$d/sub/config.json"
expect_out_exactly "-:2: $(id_of "${T[2]}") (tka)
$d/logs/old.log:1: $(id_of "${T[6]}") (tka)"
run_token 0 scan </dev/null
expect_no_out

# JSON: one document a line.
run_token 2 scan --format json "$d/access.log"
python3 - "$TMP/out" "$(id_of "${T[0]}")" "$d/access.log" <<'EOP' || fail "--format json output is wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2, rows
assert rows[0] == {"path": sys.argv[3], "line": 1, "id": sys.argv[2], "prefix": "tka"}, rows[0]
EOP

# Unreadable paths: reported, the rest still scanned, exit 2.
run_token 2 scan "$TMP/missing" "$d/logs/old.log"
expect_err "^token: cannot read $TMP/missing: No such file or directory$"
expect_out_exactly "$d/logs/old.log:1: $(id_of "${T[6]}") (tka)"
run_token 2 scan "$TMP/missing" "$TMP/lookalikes"
expect_no_out
expect_one_line_err
expect_err 'cannot read .*missing'
# A read that fails after the open (EIO).
run_token 2 scan /proc/self/mem
expect_err '^token: cannot read /proc/self/mem: '
run_token 2 scan --format json "$TMP/missing"
expect_out '"error":\{"code":"io"'
if [ "$(id -u)" != 0 ]; then
  printf '%s\n' "${T[0]}" >"$TMP/secret-file"; chmod 000 "$TMP/secret-file"
  run_token 2 scan "$TMP/secret-file"
  expect_err 'Permission denied'
fi

# Symlinks inside a tree are not followed (loops, paths outside it).
mkdir "$TMP/links"; ln -s "$d" "$TMP/links/loop"; ln -s "$d/access.log" "$TMP/links/file"
run_token 0 scan "$TMP/links"
run_token 2 scan "$TMP/links/file"

# Usage errors.
run_token 2 scan --format xml
expect_one_line_err
run_token 2 scan --exclude
expect_one_line_err

# Binary input is scanned as bytes (a token in a database file or a core
# dump is still a leak), lines counted by '\n'.
{ head -c 100000 /dev/urandom | tr -d '\n'; printf '\0\n\0%s\0' "${T[0]}"; head -c 100000 /dev/zero; } >"$TMP/blob"
run_token 2 scan "$TMP/blob"
expect_out_exactly "$TMP/blob:2: $(id_of "${T[0]}") (tka)"

# Many tokens at every offset: those that straddle a read buffer's end are
# found, with the right line, from a file and from a pipe.
# (Not remembered one by one: 300 secrets would make every check slow;
# checked in one grep instead.)
gen 300 >"$TMP/many-tokens"
python3 - "$TMP/many-tokens" "$TMP/many" "$TMP/many-want" <<'EOP'
import random, sys
toks = open(sys.argv[1]).read().split()
r = random.Random(1)
out, want, line = [], [], 1
size = 0
for i in range(20000):
    filler = "x" * r.randrange(0, 400)
    if i % 60 == 0:
        t = toks[(i // 60) % len(toks)]
        s = filler + " " + t + ("\n" if r.random() < 0.5 else " y\n")
        want.append(f"FILE:{line}: {t.split('_')[1]} (tka)")
    else:
        s = filler + "_\n"
    out.append(s)
    line += 1
open(sys.argv[2], "w").write("".join(out))
open(sys.argv[3], "w").write("\n".join(want) + "\n")
EOP
[ "$(stat -c %s "$TMP/many")" -gt 3000000 ] || fail "the generated file is too small to cross buffers"
sed -i "s|^FILE|$TMP/many|" "$TMP/many-want"
run_token 2 scan "$TMP/many"
diff "$TMP/many-want" "$TMP/out" >/dev/null || fail "tokens across read buffers: wrong findings"
sed -i "s|^$TMP/many|-|" "$TMP/many-want"
cat "$TMP/many" | run_token 2 scan
diff "$TMP/many-want" "$TMP/out" >/dev/null || fail "tokens across pipe reads: wrong findings"
if grep -qFf "$TMP/many-tokens" "$TMP/out" "$TMP/err"; then fail "a secret leaked into the output"; fi

# 1 GiB through stdin, in constant memory: the token at the end is found on
# its line; a token split by a line break is not reported. The file is
# sparse (no disk, written in no time) and read through a plain redirect.
line='some log text, with_underscores and tka_ look-alikes: tka_0123456789_abc'
huge=$TMP/huge
printf '%s\n' "$line" >"$huge"
truncate -s $((1 << 30)) "$huge"
{ echo; printf '%s\n' "${T[1]}"; printf '%s\n%s\n' "${T[2]:0:30}" "${T[2]:30}"; } >>"$huge"
set +e
/usr/bin/time -f '%M' -o "$TMP/rss" "$TOKEN" scan <"$huge" >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
rm -f "$huge"
[ "$rc" = 2 ] || fail "scan of 1 GiB exited $rc, wanted 2"
check_clean "$TMP/out" "$TMP/err"
expect_out_exactly "-:3: $(id_of "${T[1]}") (tka)"
expect_peak_rss_below "$TMP/rss" 20000 "scan of 1 GiB"

pass
