# token serve behind the real proxies from Debian, started here on loopback
# ports: nginx (auth_request + auth_request_set) and Caddy (forward_auth +
# copy_headers) in front of a static site. Good token: 200 and the upstream
# sees the owner; bad, revoked, expired: 401; wrong role: 403; a revoke
# counts at once; the database stopped: 5xx, and back by itself when it
# returns. Needs its own PostgreSQL cluster (it stops it).
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve_common.sh"

NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
CADDY=$(command -v caddy || true)
if [ -z "$NGINX" ] && [ -z "$CADDY" ]; then
  echo "skip: neither nginx nor caddy is installed (scripts/install-deps)"
  exit 0
fi

as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
PGD=$(mktemp -d "${TMPDIR:-/tmp}/tokenadm-proxies.XXXXXX")
chmod 755 "$PGD"
[ "$(id -u)" -eq 0 ] && chown postgres: "$PGD"
NGINX_PID= CADDY_PID=
cleanup() {
  stop_serve
  [ -z "$NGINX_PID" ] || { kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }
  [ -z "$CADDY_PID" ] || { kill "$CADDY_PID" 2>/dev/null; wait "$CADDY_PID" 2>/dev/null; }
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PGD" "$TMP"
}
trap cleanup EXIT

"${as[@]}" "$PGBIN/initdb" -D "$PGD/data" -U tokenadm --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$TMP/initdb.log" 2>&1 || { cp "$TMP/initdb.log" "$TMP/err"; fail "initdb"; }
FPORT=$(( 20000 + RANDOM % 30000 ))
start_pg() {
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 30 \
    -o "-c listen_addresses='' -k $PGD -p $FPORT -c fsync=off" start >/dev/null 2>&1 \
    || { tail -5 "$PGD/server.log" >"$TMP/err"; fail "the test cluster did not start"; }
}
stop_pg() { "${as[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -m fast -w stop >/dev/null 2>&1; }
start_pg
"$PGBIN/createdb" -h "$PGD" -p "$FPORT" -U tokenadm proxies
export TOKENADM_DSN="host=$PGD port=$FPORT user=tokenadm dbname=proxies"
run_token 0 init
create_token --owner alice --role http;  GOOD=$TOK
create_token --owner bob --role http;    GOOD2=$TOK GOOD2_ID=$TOK_ID
create_token --owner feeder --role feed; FEED=$TOK
create_token --owner carol --role http;  REV=$TOK
run_token 0 revoke "$TOK_ID"
create_token --owner dave --role http;   OLD=$TOK
"$PGBIN/psql" -X -q -h "$PGD" -p "$FPORT" -U tokenadm -d proxies \
  -c "update tokenadm.tokens set expires_at = now() - interval '1 minute' where id = '$TOK_ID'"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

LOG=$TMP/serve.log
start_serve "$LOG" --listen 127.0.0.1:0
SPORT=$PORT

# The upstream: a static site (nginx) that shows, in a response header, the
# owner the proxy passed on.
SITE=$TMP/site
mkdir -p "$SITE/app"
echo "hello" >"$SITE/app/index.html"
chmod -R a+rX "$SITE"
[ "$(id -u)" -eq 0 ] && chmod 755 "$TMP"

wait_http() { # URL: until it answers at all
  local _
  for _ in $(seq 100); do
    [ "$(hit "$1")" != 000 ] && return 0
    sleep 0.1
  done
  return 1
}

# check_proxy NAME URL: the cases, through one proxy.
check_proxy() {
  local name=$1 url=$2
  expect_status 200 "$url/app/index.html" -H @"$(bearer "$GOOD")"
  expect_header '^X-Seen-Owner: alice'
  expect_body '^hello$'
  expect_status 401 "$url/app/index.html"
  expect_status 401 "$url/app/index.html" -H @"$(bearer "garbage")"
  expect_status 401 "$url/app/index.html" -H @"$(bearer "$REV")"
  expect_status 401 "$url/app/index.html" -H @"$(bearer "$OLD")"
  no_header '^X-Seen-Owner'
  expect_status 403 "$url/app/index.html" -H @"$(bearer "$FEED")"
  # a client cannot pass an owner of its own
  expect_status 401 "$url/app/index.html" -H 'X-Token-Owner: alice' -H 'X-Remote-User: alice'
}

U_NGINX=$(free_port) U_CADDY=$(free_port) NPORT=$(free_port) CPORT=$(free_port)

if [ -n "$NGINX" ]; then
  NGX=$TMP/nginx
  mkdir -p "$NGX"
  user_line=
  [ "$(id -u)" -eq 0 ] && user_line="user root;"
  cat >"$NGX/nginx.conf" <<NGINXCONF
$user_line
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $NGX/body;
  proxy_temp_path $NGX/proxy;
  fastcgi_temp_path $NGX/fastcgi;
  uwsgi_temp_path $NGX/uwsgi;
  scgi_temp_path $NGX/scgi;
  # the proxy
  server {
    listen 127.0.0.1:$NPORT;
    location /app/ {
      auth_request /_tokenadm;
      auth_request_set \$owner \$upstream_http_x_token_owner;
      proxy_set_header X-Remote-User \$owner;
      proxy_pass http://127.0.0.1:$U_NGINX;
    }
    location = /_tokenadm {
      internal;
      proxy_pass http://127.0.0.1:$SPORT/verify?role=http;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
  # the static site behind nginx, and the one behind Caddy
  server {
    listen 127.0.0.1:$U_NGINX;
    root $SITE;
    add_header X-Seen-Owner \$http_x_remote_user;
  }
  server {
    listen 127.0.0.1:$U_CADDY;
    root $SITE;
    add_header X-Seen-Owner \$http_x_token_owner;
  }
}
NGINXCONF
  "$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' 2>"$NGX/stderr" &
  NGINX_PID=$!
  wait_http "http://127.0.0.1:$NPORT/" || { cat "$NGX/stderr" "$NGX/error.log" >"$TMP/err" 2>/dev/null; fail "nginx did not start"; }
  check_proxy nginx "http://127.0.0.1:$NPORT"
else
  echo "skip: nginx is not installed"
fi

if [ -n "$CADDY" ]; then
  CD=$TMP/caddy
  mkdir -p "$CD/home" "$CD/config" "$CD/data"
  cat >"$CD/Caddyfile" <<CADDYFILE
{
  admin off
  auto_https off
  storage file_system $CD/data
}
http://127.0.0.1:$CPORT {
  forward_auth 127.0.0.1:$SPORT {
    uri /verify?role=http
    copy_headers X-Token-Owner
  }
  reverse_proxy 127.0.0.1:$U_CADDY
}
CADDYFILE
  HOME=$CD/home XDG_CONFIG_HOME=$CD/config XDG_DATA_HOME=$CD/data \
    "$CADDY" run --config "$CD/Caddyfile" --adapter caddyfile >"$CD/log" 2>&1 &
  CADDY_PID=$!
  if [ -z "$NGINX" ]; then
    echo "skip: Caddy needs nginx here for the static site behind it"
  else
    wait_http "http://127.0.0.1:$CPORT/" || { cp "$CD/log" "$TMP/err"; fail "caddy did not start"; }
    check_proxy caddy "http://127.0.0.1:$CPORT"
  fi
else
  echo "skip: caddy is not installed"
fi

proxies=()
[ -n "$NGINX" ] && proxies+=("http://127.0.0.1:$NPORT")
[ -n "$CADDY" ] && [ -n "$NGINX" ] && proxies+=("http://127.0.0.1:$CPORT")

# --- a revoke counts on the very next request, through every proxy
for p in "${proxies[@]}"; do
  expect_status 200 "$p/app/index.html" -H @"$(bearer "$GOOD2")"
  expect_header '^X-Seen-Owner: bob'
done
run_token 0 revoke "$GOOD2_ID"
for p in "${proxies[@]}"; do
  expect_status 401 "$p/app/index.html" -H @"$(bearer "$GOOD2")"
done

# --- the database stopped: 5xx (nginx turns the 503 into 500; Caddy passes
# it), never the page; back by itself once the database is
stop_pg
for p in "${proxies[@]}"; do
  code=$(hit "$p/app/index.html" -H @"$(bearer "$GOOD")")
  [[ "$code" =~ ^5[0-9][0-9]$ ]] || fail "$p with the database stopped answered $code, wanted 5xx"
  no_header '^X-Seen-Owner'
done
[ "$(hit "http://127.0.0.1:$SPORT/healthz")" = 503 ] || fail "/healthz is not 503 with the database stopped"
start_pg
for p in "${proxies[@]}"; do
  code=
  for _ in $(seq 50); do
    code=$(hit "$p/app/index.html" -H @"$(bearer "$GOOD")")
    [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || fail "$p did not recover after the database came back (last answer $code)"
done
expect_status 200 "http://127.0.0.1:$SPORT/healthz"
grep -q 'database unavailable' "$LOG" || { cp "$LOG" "$TMP/err"; fail "the outage was not logged"; }
grep -q 'database reachable again' "$LOG" || { cp "$LOG" "$TMP/err"; fail "the recovery was not logged"; }
expect_status 200 "http://127.0.0.1:$SPORT/metrics"
expect_body '^tokenadm_db_reconnects_total [1-9][0-9]*$'
check_clean "$LOG"
[ -z "$NGINX" ] || check_clean "$NGX/error.log"
[ -z "$CADDY" ] || check_clean "$CD/log"
pass
