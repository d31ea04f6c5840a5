// Finding tokens in arbitrary text: files, logs, pasted material.
//
// A finding is a string with the token's shape, <prefix>_<id>_<secret><check>
// (prefix [a-z]{1,8}, id 10 and secret+check 38 base62 characters, not
// followed by another base62 character), whose check characters verify. A
// random look-alike passes the check with probability 62^-6, so findings
// are real tokens (or real tokens' typos corrected by chance, which is
// negligible). The token may sit anywhere: after "Bearer ", in a URL's
// query, inside JSON quotes, after "KEY=" in a .env file. A token split by
// a line break is not one (no newline can be inside a token).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tokenadm {

struct ScanFinding {
  std::uint64_t line = 0; // 1-based line of the token
  std::string_view prefix;
  std::string_view id;
  // The whole token, secret included: valid only during the callback, for
  // callers that look the token up (revoke --leaked). Never print it.
  std::string_view token;
};

using ScanCallback = std::function<void(const ScanFinding&)>;

// Scans everything readable from `fd` until end of input, calling
// `on_finding` for each token in order. Memory is constant (one fixed
// buffer) whatever the input's size; binary input is scanned as bytes.
// Throws Error("io") naming `what` if a read fails. Returns the number of
// findings.
std::uint64_t scan_fd(int fd, const ScanCallback& on_finding, const std::string& what);

// The same over text in memory.
std::uint64_t scan_text(std::string_view text, const ScanCallback& on_finding);

} // namespace tokenadm
