# The tokenadm_token Ansible module (tools/ansible) with Debian's
# ansible-core against localhost: idempotence, drift, absent, check mode,
# and no token in Ansible's output.
. "$(dirname "$0")/common.sh"
PLAYBOOK=/usr/bin/ansible-playbook
[ -x "$PLAYBOOK" ] || { echo "skip: ansible-playbook not installed (scripts/install-deps)"; exit 0; }
run_token 0 init

export HOME="$TMP/home" ANSIBLE_LOCAL_TEMP="$TMP/home/tmp" ANSIBLE_REMOTE_TEMP="$TMP/home/rtmp"
export ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_HOST_KEY_CHECKING=0
export ANSIBLE_LIBRARY="$TOKENADM_SRC/tools/ansible/library" ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
export ANSIBLE_STDOUT_CALLBACK=json ANSIBLE_FORCE_COLOR=0 ANSIBLE_LOCALHOST_WARNING=0
export ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_DEPRECATION_WARNINGS=0
mkdir -p "$HOME"
echo 'localhost ansible_connection=local' >"$TMP/inventory"
DSN=$TOKENADM_DSN
unset TOKENADM_DSN # the module must pass it on itself

# play ROLES STATE [EXTRA ANSIBLE ARGS]: one task, verbose output in $TMP/out.
play() {
  local roles=$1 state=$2
  shift 2
  cat >"$TMP/play.yml" <<YML
- hosts: localhost
  gather_facts: false
  tasks:
    - tokenadm_token:
        owner: ansible
        label: deploy
        roles: [$roles]
        expires_in: 30d
        state: $state
        dest: $TMP/deploy.token
        dsn: "$DSN"
        token_path: $TOKEN
YML
  run "${WANT:-0}" "$PLAYBOOK" -i "$TMP/inventory" "$TMP/play.yml" "$@"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); json.dump(d["plays"][0]["tasks"][0]["hosts"]["localhost"], open(sys.argv[2], "w"))' "$TMP/out" "$TMP/result.json"
  [ -s "$TMP/deploy.token" ] && remember_secret "$(cat "$TMP/deploy.token")"
  check_clean "$TMP/out" "$TMP/err" "$TMP/result.json"
  if grep -qE '[a-z]{1,8}_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}' "$TMP/out" "$TMP/err" "$TMP/result.json"; then
    fail "a token appears in ansible's output"
  fi
  if grep -qF "$DSN" "$TMP/out" "$TMP/err"; then fail "the DSN appears in ansible's output"; fi
}
result() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/result.json" "$1"; }
recap() { [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stats"]["localhost"]["changed"])' "$TMP/out")" = "$1" ] || fail "not changed=$1"; }
active() { sql "select id || ' ' || array_to_string(roles, ',') from tokenadm.tokens where owner = 'ansible' and revoked_at is null"; }

# Check mode on nothing: would create, creates nothing.
play api present --check --diff
recap 1; [ "$(result 'r["changed"], r["diff"]["before"]')" = "(True, {})" ] || fail "check mode diff"
[ -z "$(active)" ] && [ ! -e "$TMP/deploy.token" ] || fail "check mode made something"

# Run twice: changed, then ok; the file holds the active token, 0600.
play api present
recap 1; [ "$(result 'r["created"]')" = True ] || fail "not created"
[ "$(stat -c %a "$TMP/deploy.token")" = 600 ] || fail "dest mode"
ID1=$(cut -d_ -f2 "$TMP/deploy.token")
[ "$(active)" = "$ID1 api" ] || fail "active token is not the file's"
"$TOKEN" verify --dsn "$DSN" --token-file "$TMP/deploy.token" >/dev/null 2>&1 || fail "dest does not verify"
play api present
recap 0; [ "$(result 'r["changed"], r["id"]')" = "(False, '$ID1')" ] || fail "second run changed"

# A changed role: check mode reports it and changes nothing, then a run converges.
play feed present --check --diff
recap 1; [ "$(result 'r["differs"]')" = "['roles']" ] || fail "drift not reported in check mode"
[ "$(result 'r["diff"]["before"]["roles"], r["diff"]["after"]["roles"]')" = "(['api'], ['feed'])" ] || fail "diff does not show the role change"
[ "$(active)" = "$ID1 api" ] || fail "check mode changed the token"
play feed present --diff
recap 1; [ "$(result 'r["differs"], r["created"]')" = "(['roles'], True)" ] || fail "drift not converged"
ID2=$(cut -d_ -f2 "$TMP/deploy.token")
[ "$ID2" != "$ID1" ] && [ "$(active)" = "$ID2 feed" ] || fail "file or database not converged"
play feed present
recap 0

# state: absent (check mode first), then again: ok.
play feed absent --check
recap 1; [ "$(active)" = "$ID2 feed" ] || fail "check mode revoked"
play feed absent
recap 1; [ -z "$(active)" ] || fail "not revoked"
[ "$(result 'r["revoked"]')" = "['$ID2']" ] || fail "revoked ids"
play feed absent
recap 0

# A database that cannot be reached: a failed task, still no secret.
DSN="host=127.0.0.1 port=1 dbname=x password=CANARYPW connect_timeout=2" WANT=2 play api present
[ "$(result 'r["failed"], r["rc"]')" = "(True, 1)" ] || fail "connect failure not reported"
pass
