# libtokenadm exports its public API (namespace tokenadm) and nothing else:
# fewer symbols for the dynamic loader on every command. toml++ is compiled
# in, so it is not a run-time dependency.
. "$(dirname "$0")/common.sh"

for tool in nm c++filt readelf ldd; do
  command -v "$tool" >/dev/null || { echo "skip: test_exports needs $tool"; exit 0; }
done
lib=$(ldd "$TOKEN" | awk '$1 ~ /^libtokenadm\.so/ {print $3}')
[ -f "$lib" ] || fail "token is not linked with libtokenadm.so"
nm -D --defined-only "$lib" | awk '{print $3}' | c++filt >"$TMP/exports"
[ -s "$TMP/exports" ] || fail "libtokenadm exports nothing"
if grep -vE '^((typeinfo|typeinfo name|vtable|VTT|guard variable) for )?tokenadm::' "$TMP/exports" >"$TMP/stray"; then
  fail "exported outside namespace tokenadm: $(head -5 "$TMP/stray" | tr '\n' ' ')"
fi
grep -q '^tokenadm::parse_token' "$TMP/exports" || fail "tokenadm::parse_token is not exported"
grep -q '^typeinfo for tokenadm::TokenRejected' "$TMP/exports" || fail "the exceptions' typeinfo is not exported"
# An inline variable shared with the consumer needs its guard shared too,
# or both sides construct it and both destroy it (a crash at exit).
grep -q '^guard variable for tokenadm::k_roles' "$TMP/exports" || fail "k_roles' guard variable is not exported"
run_token 0 --version
readelf -d "$lib" >"$TMP/dynamic"
! grep -q 'libtomlplusplus' "$TMP/dynamic" || fail "libtokenadm needs libtomlplusplus at run time"
# libmicrohttpd (serve) and libcurl (mail) are loaded by the command that
# needs them, not by every command; every MHD_ function server.cpp calls has
# its forwarder in mhd_shim.cpp.
! grep -qE 'libmicrohttpd|libcurl' "$TMP/dynamic" || fail "libtokenadm links libmicrohttpd or libcurl: $(grep -E 'micro|curl' "$TMP/dynamic")"
! ldd "$TOKEN" | grep -qE 'libmicrohttpd|libcurl' || fail "token loads libmicrohttpd or libcurl at start"
nm -D --undefined-only "$lib" | awk '{print $2}' >"$TMP/undefined"
! grep -E '^(MHD_|curl_)' "$TMP/undefined" || fail "libtokenadm leaves MHD_/curl_ functions undefined (add them to lib/src/mhd_shim.cpp)"
# When the library cannot be loaded, the command that needs it says which
# package to install (a bogus libmicrohttpd.so.12 first on the search path).
mkdir "$TMP/badlib"
echo 'not ELF' >"$TMP/badlib/libmicrohttpd.so.12"
LD_LIBRARY_PATH=$TMP/badlib:${LD_LIBRARY_PATH:-} run_token 2 serve --listen 127.0.0.1:0 --dsn 'host=/nonexistent'
expect_one_line_err
expect_err '^token: cannot load libmicrohttpd\.so\.12 to serve HTTP \(install libmicrohttpd12\)$'
# Code layout (CMakeLists.txt, tokenadm_code_layout): token and libtokenadm
# are linked by lld with lib/oneshot.order, the functions one-shot commands
# run, placed first and together. Checked on the normal (GCC) build; a
# sanitizer build (clang) has other names.
if [ "${TOKENADM_SANITIZED:-}" != 1 ]; then
  order=$TOKENADM_SRC/lib/oneshot.order
  for f in "$TOKEN" "$lib"; do
    readelf -p .comment "$f" | grep -q 'LLD' || fail "$f was not linked by lld (scripts/install-deps installs it): one-shot code is not laid out together"
  done
  { nm --defined-only "$TOKEN"; nm --defined-only "$lib"; } | awk '{print $3}' | sort -u >"$TMP/syms"
  have=$(grep -cxFf "$TMP/syms" "$order")
  total=$(wc -l <"$order")
  [ $((have * 100)) -ge $((total * 80)) ] \
    || fail "lib/oneshot.order is stale: $have of its $total functions are in this build (run scripts/orderfile)"
  # Together: the listed functions of each file lie within 256 KB.
  for f in "$TOKEN" "$lib"; do
    # (nm's addresses are fixed-width hex: they sort as text)
    nm --defined-only "$f" | awk 'NR == FNR { want[$1]; next } ($3 in want) { print $1 }' "$order" - \
      | sort >"$TMP/addrs"
    span=$(( 16#$(tail -1 "$TMP/addrs") - 16#$(head -1 "$TMP/addrs") ))
    [ "$span" -lt 262144 ] || fail "the one-shot functions of $f span $span bytes: not laid out together"
  done
fi
pass
