# scripts/examples/apache-rewritemap.conf: a private Apache 2.4 runs the
# snippet's RewriteMap rules against `token verify --batch`, and curl checks
# that only a valid Bearer token gets through.
. "$(dirname "$0")/common.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)
example=$src/scripts/examples/apache-rewritemap.conf
[ -f "$example" ] || fail "no $example"

if ! command -v apache2 >/dev/null && [ ! -x /usr/sbin/apache2 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "skip: apache2 is not installed and we are not root"; exit 77; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q apache2 >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q apache2 >/dev/null 2>&1; } \
    || { echo "skip: apache2 cannot be installed (apt-get failed)"; exit 77; }
fi
APACHE=$(command -v apache2 || echo /usr/sbin/apache2)
MODS=/usr/lib/apache2/modules
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }

run_token 0 init
create_token --owner web-alice --label site --role http
GOOD=$TOK
create_token --owner web-bob --label old --role http
BAD=$TOK
run_token 0 revoke "$TOK_ID"

# The server's own directory: world-readable, since a root-started Apache
# serves requests as another user.
AP=$(mktemp -d)
chmod 755 "$AP"
mkdir "$AP/htdocs" "$AP/htdocs/private" "$AP/logs"
echo "secret page" >"$AP/htdocs/private/index.txt"
echo "public page" >"$AP/htdocs/public.txt"
chmod -R a+rX "$AP/htdocs"
stop_apache() {
  if [ -s "$AP/httpd.pid" ]; then
    local pid; pid=$(cat "$AP/httpd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$AP" "$TMP"
}
trap stop_apache EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user_lines=
if [ "$(id -u)" -eq 0 ]; then user_lines=$'User postgres\nGroup postgres'; fi

# The rules between the markers are copied from the example, with the
# program path replaced by the binary under test.
rules=$(sed -n '/^ *RewriteEngine On/,/^ *RewriteRule \^ - \[F\]/p' "$example" \
  | sed -e "s#prg:/usr/bin/token #prg:$TOKEN #" -e "s#/etc/tokenadm/tokenadm.toml#$AP/tokenadm.toml#")
grep -q "prg:$TOKEN --config $AP/tokenadm.toml verify --batch --no-touch\"" <<<"$rules" \
  || fail "the example has no RewriteMap line"
# mod_rewrite gives the program an empty environment: the DSN comes from
# the file the example names with --config.
printf 'dsn = "%s"\n' "$BASE_DSN" >"$AP/tokenadm.toml"
chmod 644 "$AP/tokenadm.toml"
cat >"$AP/httpd.conf" <<CONF
ServerRoot "$AP"
ServerName 127.0.0.1
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule rewrite_module $MODS/mod_rewrite.so
LoadModule headers_module $MODS/mod_headers.so
$user_lines
Listen 127.0.0.1:$PORT
PidFile "$AP/httpd.pid"
DefaultRuntimeDir "$AP"
Mutex file:$AP default
ErrorLog "$AP/logs/error.log"
LogLevel warn
DocumentRoot "$AP/htdocs"
<Directory "$AP/htdocs">
    Require all granted
</Directory>
<VirtualHost 127.0.0.1:$PORT>
$rules
    Header always set X-Token-Owner "%{TOKEN_OWNER}e"
</VirtualHost>
CONF

# TOKENADM_DSN is still exported here: the map must work without it.
"$APACHE" -t -f "$AP/httpd.conf" >"$TMP/out" 2>"$TMP/err" || fail "apache2 -t rejected the config"
"$APACHE" -f "$AP/httpd.conf" -k start >"$TMP/out" 2>"$TMP/err" || fail "apache2 did not start"
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/public.txt" && break
  sleep 0.1
done

# get WANT [HEADER]: GET /private/index.txt; the status must be WANT.
get() {
  local want=$1 code
  shift
  code=$(curl -s -o "$TMP/out" -D "$TMP/err" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT/private/index.txt") || true
  [ "$code" = "$want" ] || fail "GET with '$*' gave $code, wanted $want"
  check_clean "$TMP/out" "$TMP/err"
}

run 0 curl -sf "http://127.0.0.1:$PORT/public.txt"
expect_out_exactly "public page"
get 403
get 403 -H "Authorization: Bearer $BAD"
get 403 -H "Authorization: Bearer garbage"
get 403 -H "Authorization: Basic dXNlcjpwdw=="
get 403 -H "Authorization: Bearer ${GOOD%?}X"
get 200 -H "Authorization: Bearer $GOOD"
expect_out_exactly "secret page"
grep -qi '^X-Token-Owner: web-alice' "$TMP/err" || fail "TOKEN_OWNER was not set from the map's answer"
# The map program is still in step after the denials: a deny, then an ok.
get 403 -H "Authorization: Bearer $BAD"
get 200 -H "Authorization: bearer $GOOD"
# The key carries %{REMOTE_ADDR}: a token bound to 127.0.0.0/8 is accepted
# from curl on 127.0.0.1, one bound to another range is denied.
create_token --owner web-local --allow-from 127.0.0.0/8
get 200 -H "Authorization: Bearer $TOK"
create_token --owner web-far --allow-from 10.0.0.0/8,2001:db8::/32
get 403 -H "Authorization: Bearer $TOK"
# A client cannot smuggle an address of its own after the token.
get 403 -H "Authorization: Bearer $GOOD 10.1.2.3"
get 200 -H "Authorization: Bearer $GOOD"
# --no-touch: the lookups wrote nothing.
[ "$(sql "select count(*) from tokenadm.tokens where last_used_at is not null")" = 0 ] || fail "--no-touch was not honoured"

[ -f "$AP/logs/error.log" ] || fail "no error log"
check_clean "$AP/logs/error.log"
pass
