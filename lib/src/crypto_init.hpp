// Private: OpenSSL initialisation and the random source, shared by token.cpp,
// digest.cpp and mail.cpp.
#pragma once

#include "tokenadm/errors.hpp"

#include <openssl/crypto.h>
#include <sys/random.h>

#include <cerrno>
#include <cstddef>

namespace tokenadm {

// openssl.cnf is not read here: tokenadm itself only fetches SHA-256 by name,
// and reading the file costs a one-shot command ~1.7 M instructions. A TLS
// connection still gets the system's policy: libpq initialises OpenSSL with
// the configuration loaded before its handshake, which comes before any
// digest is computed (the first initialisation's choice stands for the
// process). The legacy name tables for every cipher and digest are skipped
// too; error strings stay loaded: libpq's TLS errors need them.
inline void crypto_init()
{
  static const bool done [[maybe_unused]] = OPENSSL_init_crypto(
    OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS
      | OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
    nullptr);
}

// Fills buf from the kernel's CSPRNG (getrandom(2), which blocks only until
// the pool is first initialised at boot), the source OpenSSL's DRBG seeds
// itself from; setting up that DRBG would cost a one-shot create ~4.7 M
// instructions for 42 bytes. Interrupted and short reads are resumed; any
// other failure throws.
inline void random_bytes(unsigned char* buf, std::size_t n)
{
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(buf + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error("rng", "the random number generator failed (getrandom)");
    }
    got += static_cast<std::size_t>(r);
  }
}

} // namespace tokenadm
