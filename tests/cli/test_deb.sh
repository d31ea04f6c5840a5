# cpack -G DEB: the package holds the command, the library, its headers
# and CMake/pkg-config files, the man pages and the completion, all under
# /usr; it declares its Depends; and the token it holds runs, with no
# RUNPATH (in /usr the library is on the default search path).
set -euo pipefail
: "${TOKEN:?}" "${TOKENADM_BUILD:?}"
fail() { echo "FAIL (test_deb): $*" >&2; exit 1; }
for tool in cpack dpkg-deb dpkg readelf; do
  command -v "$tool" >/dev/null || { echo "skip: test_deb needs $tool"; exit 0; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Staged and written under $tmp: nothing is copied or left in the build tree.
cpack --config "$TOKENADM_BUILD/CPackConfig.cmake" -G DEB -B "$tmp" >"$tmp/cpack.log" 2>&1 \
  || { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB failed"; }
debs=("$tmp"/*.deb)
if [ "${#debs[@]}" != 1 ] || [ ! -f "${debs[0]}" ]; then
  fail "cpack made no single .deb: ${debs[*]}"
fi
deb=${debs[0]}

# Contents.
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
has() { grep -qxE -- "$1" "$tmp/contents" || fail "the package has no $1"; }
has /usr/bin/token
has '/usr/lib(/[a-z0-9_-]+)?/libtokenadm\.so\.0'
has '/usr/lib(/[a-z0-9_-]+)?/libtokenadm\.so'
has /usr/include/tokenadm/verifier.hpp
has /usr/include/tokenadm/store.hpp
has '/usr/lib(/[a-z0-9_-]+)?/pkgconfig/tokenadm\.pc'
has '/usr/lib(/[a-z0-9_-]+)?/cmake/tokenadm/tokenadmConfig\.cmake'
has /usr/share/man/man1/token.1
has /usr/share/man/man1/token-help.1
has /usr/share/man/man1/token-verify.1
has /usr/share/man/man5/tokenadm.toml.5
has /usr/share/bash-completion/completions/token
if grep -vE '^/usr(/|$)' "$tmp/contents" >"$tmp/stray"; then
  fail "files outside /usr: $(head -3 "$tmp/stray" | paste -sd' ' -)"
fi
grep -q '^/usr/local' "$tmp/contents" && fail "files under /usr/local"

# Control fields.
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = tokenadm ] || fail "Package is '$(field Package)'"
version=$("$TOKEN" --version | awk '{print $NF}')
[ "$(field Version)" = "$version" ] || fail "Version '$(field Version)' is not '$version'"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
depends=$(field Depends)
names=$(tr ',' '\n' <<<"$depends" | sed -E 's/^ +//; s/[ (].*//')
for pkg in libpqxx-6.4 libpq5 libssl3 libstdc++6 libc6; do
  grep -qxF "$pkg" <<<"$names" || fail "Depends lacks $pkg: $depends"
done
# toml++ is compiled in (header-only): no run-time dependency on it.
! grep -qxF libtomlplusplus3 <<<"$names" || fail "Depends names libtomlplusplus3: $depends"
grep -q libcurl4 <<<"$(field Recommends) $(field Suggests)" || fail "libcurl4 is not recommended"
dpkg-deb -I "$deb" >"$tmp/info"
grep -qF " Depends: $depends" "$tmp/info" || fail "dpkg-deb -I shows no Depends"

# Unpacked: the token runs against the packaged library.
dpkg -x "$deb" "$tmp/root"
readelf -d "$tmp/root/usr/bin/token" >"$tmp/dynamic"
if grep -E 'RUNPATH|RPATH' "$tmp/dynamic"; then
  fail "the packaged token has a RUNPATH"
fi
lib=$(find "$tmp/root/usr/lib" -name 'libtokenadm.so.0' | head -1)
libdir=$(dirname "$lib")
out=$(LD_LIBRARY_PATH=$libdir "$tmp/root/usr/bin/token" --version) || fail "the packaged token does not run"
[ "$out" = "token (tokenadm) $version" ] || fail "--version printed '$out'"
loaded=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/root/usr/bin/token" | awk '/libtokenadm/ {print $3}')
[ "$loaded" = "$lib" ] || fail "the packaged token loads '$loaded', not $lib"
grep -qx 'prefix=/usr' "$(find "$tmp/root/usr/lib" -name tokenadm.pc)" || fail "tokenadm.pc's prefix is not /usr"
echo "ok: test_deb"
