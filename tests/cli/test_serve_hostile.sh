# token serve against hostile HTTP: oversized headers, garbage request
# lines, a slowloris (a byte a second), 10,000 connections opened and
# dropped, more connections than allowed. After each, the server is up and
# answers the next good request. Loopback only; every step is bounded.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve_common.sh"
trap 'stop_serve; rm -rf "$TMP"' EXIT

run_token 0 init
create_token --owner alice --role api
GOOD=$TOK
CONF=$TMP/tokenadm.toml
cat >"$CONF" <<'TOML'
[serve]
max_header_size = 4096
request_timeout = 2
connection_timeout = 5
max_connections = 200
threads = 2
TOML
LOG=$TMP/serve.log
start_serve "$LOG" --config "$CONF" --listen 127.0.0.1:0
U=http://127.0.0.1:$PORT
still_up() {
  kill -0 "$SERVE_PID" 2>/dev/null || { cp "$LOG" "$TMP/err"; fail "token serve died after $1"; }
  expect_status 200 "$U/verify" -H @"$(bearer "$GOOD")"
  expect_header '^X-Token-Owner: alice'
}
still_up "starting"

# --- oversized headers: refused (4xx or the connection closed), never served
big=$(head -c 100000 /dev/zero | tr '\0' a)
printf 'X-Big: %s\n' "$big" >"$TMP/big.hdr"
code=$(hit "$U/verify" -H @"$(bearer "$GOOD")" -H @"$TMP/big.hdr")
[[ "$code" =~ ^(4[0-9][0-9]|000)$ ]] || fail "a 100 kB header was answered $code"
# a realistic header still fits
printf 'X-Medium: %s\n' "${big:0:2000}" >"$TMP/medium.hdr"
expect_status 200 "$U/verify" -H @"$(bearer "$GOOD")" -H @"$TMP/medium.hdr"
# many small headers adding up
for i in $(seq 400); do printf 'X-H%d: %s\n' "$i" "${big:0:40}"; done >"$TMP/many.hdr"
code=$(hit "$U/verify" -H @"$(bearer "$GOOD")" -H @"$TMP/many.hdr")
[[ "$code" =~ ^(4[0-9][0-9]|000)$ ]] || fail "16 kB of headers were answered $code"
still_up "oversized headers"

# --- garbage request lines and broken framing, each on its own connection
python3 - "$PORT" >"$TMP/garbage.out" 2>&1 <<'PY' || { cp "$TMP/garbage.out" "$TMP/err"; fail "the garbage client failed"; }
import socket, sys
port = int(sys.argv[1])
cases = [
    b"GARBAGE\r\n\r\n",
    b"\x00\xff\xfe\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /verify HTTP/9.9\r\n\r\n",
    b"GET /verify HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    b"GET /verify HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzzzzz\r\n",
    b"POST /verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00\x01\r\n\r\n",
    b"GET /verify?role=%00%ff HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n\r\n",
    b"\r\n" * 2000,
]
for i, c in enumerate(cases):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        print("case %d: no answer and no close in 10 s" % i)
        sys.exit(1)
    except OSError:     # reset, broken pipe, or closed before our shutdown
        data = b""
    finally:
        s.close()
    status = data.split(b"\r\n", 1)[0]
    if status.startswith(b"HTTP/1.1 200"):
        print("case %d was answered 200: %r" % (i, status))
        sys.exit(1)
PY
still_up "garbage requests"

# --- slowloris: a byte a second is closed after request_timeout, and a good
# request is answered meanwhile
python3 - "$PORT" >"$TMP/slow.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
head = b"GET /verify HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
closed = False
for i in range(len(head)):          # at most ~100 s, but closed long before
    try:
        s.send(head[i:i + 1])
    except OSError:
        closed = True
        break
    time.sleep(1)
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed = True
            break
    except BlockingIOError:
        pass
    except OSError:
        closed = True
        break
    s.setblocking(True)
print("closed" if closed else "held", i)
PY
SLOW_PID=$!
sleep 1
still_up "a slowloris connected"
wait "$SLOW_PID" || true
grep -q '^closed' "$TMP/slow.out" || { cp "$TMP/slow.out" "$TMP/err"; fail "the slowloris connection was held"; }
expect_status 200 "$U/metrics"
expect_body '^tokenadm_http_request_timeouts_total [1-9][0-9]*$'
still_up "a slowloris"

# --- 10,000 connections opened and dropped (some with half a request, some
# reset), then more connections at once than max_connections
python3 - "$PORT" >"$TMP/flood.out" 2>&1 <<'PY' || { cp "$TMP/flood.out" "$TMP/err"; fail "the flood client failed"; }
import socket, struct, sys
port = int(sys.argv[1])
n = 0
for batch in range(50):
    socks = []
    for i in range(200):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue
        if i % 3 == 1:
            try:
                s.send(b"GET /verify HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                pass
        if i % 3 == 2:   # close with RST
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        socks.append(s)
        n += 1
    for s in socks:
        s.close()
held = []
for i in range(400):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        pass
for s in held:
    s.close()
print(n, len(held))
PY
sleep 0.5
still_up "10,000 connections dropped"
expect_status 200 "$U/healthz"
check_clean "$LOG"
pass
