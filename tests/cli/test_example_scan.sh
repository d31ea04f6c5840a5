# scripts/examples: the gitleaks rule and the GitHub secret scanning pattern
# match real tokens wherever they sit and miss mangled ones; the pre-commit
# hook refuses a commit that stages a token, with real git.
. "$(dirname "$0")/common.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)
ex=$src/scripts/examples
gen() { python3 "$(dirname "$0")/scan_tokens.py" "$@"; }

mapfile -t T < <(gen 20; gen 5 z; gen 5 abcdefgh)
for t in "${T[@]}"; do remember_secret "$t"; done
t=${T[0]}
# Real tokens, in the places they leak to, one a line.
{
  for x in "${T[@]}"; do printf '%s\n' "$x"; done
  printf 'Authorization: Bearer %s\n' "${T[1]}"
  printf 'https://h/feed?token=%s&a=b\n' "${T[2]}"
  printf '{"token":"%s"}\n' "${T[3]}"
  printf 'API_TOKEN=%s\n' "${T[4]}"
  printf 'foo_%s\n' "${T[5]}"
} >"$TMP/real"
# Mangled: cut short, one character too many, a bad character inside, an
# upper-case prefix, a missing separator, glued to more letters and digits.
{
  printf '%s\n' "${t:0:52}"
  printf '%sx\n' "$t"
  printf '%s-%s\n' "${t:0:20}" "${t:21}"
  printf 'TKA%s\n' "${t:3}"
  printf 'tka%s\n' "${t:4}"
  printf '%s\n' "${t/_/}"
  printf '9%s9\n' "$t"
} >"$TMP/mangled"

python3 - "$ex" "$TMP/real" "$TMP/mangled" <<'EOP' || fail "a pattern matched a mangled token or missed a real one"
import re, sys, tomllib
ex, real, mangled = sys.argv[1:]
with open(f"{ex}/gitleaks.toml", "rb") as f:
    rule = tomllib.load(f)["rules"][0]
gitleaks = re.compile(rule["regex"])
group = rule["secretGroup"]
gh = {}
for line in open(f"{ex}/github-secret-scanning.yml"):
    m = re.match(r"^(\w+): '(.*)'$", line.rstrip("\n"))
    if m:
        gh[m.group(1)] = m.group(2)
py = lambda s: s.replace(r"\z", r"\Z")  # GitHub (Hyperscan) spells end-of-text \z
github = re.compile(f"(?:{py(gh['before_secret'])})({gh['secret_format']})(?:{py(gh['after_secret'])})")
assert github.search(gh["test_string"]), "the GitHub test string does not match"
tokens = re.compile(r"[a-z]{1,8}_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}")
bad = 0
for line in open(real):
    line = line.rstrip("\n")
    want = tokens.search(line).group(0)
    for name, rx, g in (("gitleaks", gitleaks, group), ("github", github, 1)):
        m = rx.search(line)
        if not m or m.group(g) != want:
            print(f"{name} missed a real token (line {line[:12]}...)", file=sys.stderr); bad += 1
for n, line in enumerate(open(mangled), 1):
    for name, rx in (("gitleaks", gitleaks), ("github", github)):
        if rx.search(line.rstrip("\n")):
            print(f"{name} matched mangled line {n}", file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
EOP
# The gitleaks regex is plain enough for PCRE too (grep -P).
rx=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["rules"][0]["regex"])' "$ex/gitleaks.toml")
[ "$(grep -cP -- "$rx" "$TMP/real")" = "$(wc -l <"$TMP/real")" ] || fail "grep -P missed real tokens"
[ "$(grep -cP -- "$rx" "$TMP/mangled" || true)" = 0 ] || fail "grep -P matched mangled tokens"
# token scan agrees, and also rejects a right-shaped token with a wrong check.
run_token 2 scan "$TMP/real"
[ "$(wc -l <"$TMP/out")" = "$(wc -l <"$TMP/real")" ] || fail "token scan missed real tokens"
run_token 0 scan "$TMP/mangled"
# The examples' own test string is no token.
run_token 0 scan "$ex"

# The pre-commit hook, with real git.
command -v git >/dev/null || { echo "skip: git is not installed"; exit 77; }
[ -x "$ex/pre-commit" ] || fail "$ex/pre-commit is missing or not executable"
mkdir "$TMP/bin" "$TMP/home"
ln -s "$TOKEN" "$TMP/bin/token"
export PATH="$TMP/bin:$PATH" HOME="$TMP/home" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
w=$TMP/work
git init -q "$w"
cp "$ex/pre-commit" "$w/.git/hooks/pre-commit"
echo hello >"$w/README"
git -C "$w" add README
run 0 git -C "$w" commit -q -m clean
mkdir "$w/deploy"
printf 'X=1\nAPI_TOKEN=%s\n' "${T[6]}" >"$w/deploy/ci.env"
git -C "$w" add deploy/ci.env
run 1 git -C "$w" commit -q -m leak
expect_err "^\./deploy/ci.env:2: $(cut -d_ -f2 <<<"${T[6]}") \(tka\)$"
expect_err 'pre-commit: refused'
[ "$(git -C "$w" rev-list --count HEAD)" = 1 ] || fail "the commit with a token was made"
# What counts is the staged content: fixed in the index, the commit passes
# even while the working tree still has the token.
printf 'X=1\n' | git -C "$w" hash-object -w --stdin >"$TMP/blob"
git -C "$w" update-index --add --cacheinfo "100644,$(cat "$TMP/blob"),deploy/ci.env"
run 0 git -C "$w" commit -q -m fixed
[ "$(git -C "$w" rev-list --count HEAD)" = 2 ] || fail "the clean commit was not made"
git -C "$w" add deploy/ci.env
run 1 git -C "$w" commit -q -m leak-again
# Deleting a file that held a token is fine.
git -C "$w" reset -q --hard
run 0 git -C "$w" rm -q deploy/ci.env
run 0 git -C "$w" commit -q -m remove
pass
