# cmake --install to a fresh prefix gives a working token (its RUNPATH finds
# the installed library), man pages, completion, and a library that a
# consumer builds against both with find_package(tokenadm) and with
# pkg-config, and that verifies a token the installed token created.
. "$(dirname "$0")/common.sh"
: "${TOKENADM_BUILD:?}"

P=$TMP/prefix
run 0 cmake --install "$TOKENADM_BUILD" --prefix "$P"

# What gets installed.
for f in bin/token include/tokenadm/verifier.hpp share/man/man1/token.1 \
  share/man/man1/token-help.1 share/man/man5/tokenadm.toml.5 \
  share/bash-completion/completions/token; do
  [ -f "$P/$f" ] || fail "not installed: $f"
done
pc=$(find "$P" -name tokenadm.pc)
[ -n "$pc" ] || fail "no tokenadm.pc installed"
libdir=$(dirname "$(dirname "$pc")")
[ -e "$libdir/libtokenadm.so" ] || fail "no libtokenadm.so in $libdir"
[ -f "$libdir/cmake/tokenadm/tokenadmConfig.cmake" ] || fail "no tokenadmConfig.cmake"
[ -f "$libdir/cmake/tokenadm/tokenadmConfigVersion.cmake" ] || fail "no tokenadmConfigVersion.cmake"

# The public headers need nothing but the standard library.
if grep -nE '^#include [<"](pqxx|toml\+\+|nlohmann|curl|CLI|openssl)' "$P"/include/tokenadm/*.hpp >"$TMP/out"; then
  fail "a public header includes a dependency"
fi

# The installed token runs on its own RUNPATH, and it leads to the
# installed library, not the build tree.
readelf -d "$P/bin/token" >"$TMP/out"
grep -q "$TOKENADM_BUILD" "$TMP/out" && fail "RUNPATH points into the build tree"
run 0 env -u LD_LIBRARY_PATH "$P/bin/token" --version
expect_out '^token \(tokenadm\) '
found=$(env -u LD_LIBRARY_PATH ldd "$P/bin/token" | awk '/libtokenadm/ {print $3}')
if [ -z "$found" ] || [ "$(dirname "$(realpath "$found")")" != "$(realpath "$libdir")" ]; then
  fail "the installed token loads libtokenadm from '$found', not $libdir"
fi

# A consumer: reads a token on stdin, prints its owner.
mkdir -p "$TMP/consumer"
cat >"$TMP/consumer/main.cpp" <<'EOF'
#include <tokenadm/verifier.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

int main()
{
  const char* dsn = std::getenv("TOKENADM_DSN");
  tokenadm::Verifier verifier(dsn != nullptr ? dsn : "");
  std::string token;
  std::getline(std::cin, token);
  const auto r = verifier.verify(token, "api");
  if (!r.ok) {
    std::cerr << "denied: " << r.reason << '\n';
    return 2;
  }
  std::cout << r.owner << '\n';
  return 0;
}
EOF
cat >"$TMP/consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(consumer LANGUAGES CXX)
find_package(tokenadm 0.1 REQUIRED)
add_executable(consumer main.cpp)
target_compile_options(consumer PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Werror)
target_link_libraries(consumer PRIVATE tokenadm::tokenadm)
EOF
# Nothing of the build tree may leak in: only the prefix is given.
run 0 cmake -S "$TMP/consumer" -B "$TMP/consumer/build" -DCMAKE_PREFIX_PATH="$P"
run 0 cmake --build "$TMP/consumer/build"
grep -rq "$TOKENADM_BUILD\|$TOKENADM_SRC" "$TMP/consumer/build/CMakeCache.txt" \
  && fail "the CMake consumer saw the build or source tree"

export PKG_CONFIG_PATH=$libdir/pkgconfig
run 0 pkg-config --cflags --libs tokenadm
expect_out "-I$P/include"
expect_out "-ltokenadm"
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
run 0 g++ -std=c++17 -Wall -Wextra -Wpedantic -Wconversion -Werror \
  -o "$TMP/consumer/consumer-pc" "$TMP/consumer/main.cpp" \
  $(pkg-config --cflags --libs tokenadm) -Wl,-rpath,"$(pkg-config --variable=libdir tokenadm)"

# A token from the installed token, checked by both consumers.
# shellcheck disable=SC2034 # read by run_token and create_token
TOKEN=$P/bin/token
run_token 0 init
create_token --owner alice-install --role api
for consumer in "$TMP/consumer/build/consumer" "$TMP/consumer/consumer-pc"; do
  run 0 env -u LD_LIBRARY_PATH "$consumer" <<<"$TOK"
  expect_out_exactly alice-install
done
run_token 0 revoke "$TOK_ID"
for consumer in "$TMP/consumer/build/consumer" "$TMP/consumer/consumer-pc"; do
  run 2 env -u LD_LIBRARY_PATH "$consumer" <<<"$TOK"
  expect_err '^denied: revoked$'
done
pass
