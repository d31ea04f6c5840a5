// Private: OpenSSL initialisation shared by token.cpp and digest.cpp.
#pragma once

#include <openssl/crypto.h>

namespace tokenadm {

// The system's openssl.cnf is still loaded (it may set FIPS or other
// policy); only the legacy name tables for every cipher and digest are
// skipped: tokenadm fetches SHA-256 and the DRBG by name, and the tables
// cost a one-shot command more than its whole database round trip. Error
// strings stay loaded: libpq's TLS errors need them.
inline void crypto_init()
{
  static const bool done [[maybe_unused]] = OPENSSL_init_crypto(
    OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS, nullptr);
}

} // namespace tokenadm
