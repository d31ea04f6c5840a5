// Private: the random source, shared by token.cpp and mail.cpp. (tokenadm
// itself never initialises OpenSSL: see digest.cpp.)
#pragma once

#include "tokenadm/errors.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstddef>

namespace tokenadm {

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
