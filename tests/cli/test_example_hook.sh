# scripts/examples/pre-receive: a push succeeds only with a vcs token whose
# scope covers the repository, and the token never shows in any output.
. "$(dirname "$0")/common.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)
hook=$src/scripts/examples/pre-receive
[ -x "$hook" ] || fail "$hook is missing or not executable"
command -v git >/dev/null || { echo "skip: git is not installed"; exit 77; }

run_token 0 init
create_token --owner dev-carol --label push --role vcs --scope repo.git
VCS=$TOK
create_token --owner dev-carol --label other --role vcs --scope other.git
OTHER=$TOK
create_token --owner dev-carol --label reader --role feed
FEED=$TOK

# The hook calls `token` from PATH; git runs it with the pusher's
# environment on a local push.
mkdir "$TMP/bin" "$TMP/home"
ln -s "$TOKEN" "$TMP/bin/token"
export PATH="$TMP/bin:$PATH" HOME="$TMP/home" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
unset HTTP_AUTHORIZATION TOKEN_AUTH

git init -q --bare "$TMP/repo.git"
cp "$hook" "$TMP/repo.git/hooks/pre-receive"
git init -q "$TMP/work"
git -C "$TMP/work" commit -q --allow-empty -m one
git -C "$TMP/work" remote add origin "$TMP/repo.git"

# push WANT [VAR=VALUE...]: push a new commit with VAR set; git's exit
# status must be 0 (WANT=ok) or not (WANT=refused).
n=0
push() {
  local want=$1 rc
  shift
  n=$((n + 1))
  git -C "$TMP/work" commit -q --allow-empty -m "c$n"
  set +e
  env "$@" git -C "$TMP/work" push origin HEAD:refs/heads/main >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  case $want in
    ok) [ "$rc" = 0 ] || fail "push with ${1%%=*} exited $rc" ;;
    refused) [ "$rc" != 0 ] || fail "push with ${1:-nothing}${1:+ (${1%%=*})} was accepted" ;;
  esac
  check_clean "$TMP/out" "$TMP/err"
}
head_of() { git -C "$TMP/repo.git" rev-parse -q --verify refs/heads/main || true; }

push refused
expect_err 'pre-receive: push to repo.git refused: no token'
[ -z "$(head_of)" ] || fail "a refused push updated the repository"
push refused "HTTP_AUTHORIZATION=Bearer $FEED"
expect_err 'refused: the token is not valid'
push refused "HTTP_AUTHORIZATION=Bearer $OTHER"
expect_err 'refused: the token is not valid'
push refused "HTTP_AUTHORIZATION=Bearer garbage"
push refused "HTTP_AUTHORIZATION=Basic dXNlcjpwdw=="
[ -z "$(head_of)" ] || fail "a refused push updated the repository"

push ok "HTTP_AUTHORIZATION=Bearer $VCS"
expect_err 'pre-receive: push to repo.git by dev-carol'
[ "$(head_of)" = "$(git -C "$TMP/work" rev-parse HEAD)" ] || fail "the accepted push did not land"
push ok "TOKEN_AUTH=$VCS"
[ "$(head_of)" = "$(git -C "$TMP/work" rev-parse HEAD)" ] || fail "the TOKEN_AUTH push did not land"

# Revoked: refused again.
run_token 0 revoke "$(cut -d_ -f2 <<<"$VCS")"
push refused "HTTP_AUTHORIZATION=Bearer $VCS"
# No database: refused, and says so.
push refused "HTTP_AUTHORIZATION=Bearer $FEED" "TOKENADM_DSN=host=/nonexistent dbname=x"
expect_err 'unreachable'
pass
