#include "tokenadm/scan.hpp"

#include "tokenadm/errors.hpp"
#include "tokenadm/token.hpp"

#include <cerrno>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <unistd.h>

namespace tokenadm {

namespace {

// After the first '_' at p: id [p+1, p+11), '_' at p+11, secret and check
// [p+12, p+50); the token ends at p+50.
constexpr std::size_t k_after = k_id_len + 1 + k_secret_len + k_check_len + 1;

constexpr auto k_base62 = [] {
  struct Table {
    bool v[256]{};
  } t;
  for (int c = 0; c < 256; ++c) {
    t.v[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  return t;
}();

inline bool base62(char c) { return k_base62.v[static_cast<unsigned char>(c)]; }
inline bool lower(char c) { return c >= 'a' && c <= 'z'; }

// The start of the token whose first '_' is at d[p], or `npos`. The caller
// guarantees d[p + k_after] is readable unless p + k_after == len (the end
// of the input).
std::size_t match_at(const char* d, std::size_t len, std::size_t p)
{
  constexpr auto npos = std::string_view::npos;
  if (p + k_after > len || (p + k_after < len && base62(d[p + k_after]))
      || d[p + 1 + k_id_len] != '_' || p == 0 || !lower(d[p - 1])) {
    return npos;
  }
  for (std::size_t i = p + 1; i < p + 1 + k_id_len; ++i) {
    if (!base62(d[i])) {
      return npos;
    }
  }
  for (std::size_t i = p + 2 + k_id_len; i < p + k_after; ++i) {
    if (!base62(d[i])) {
      return npos;
    }
  }
  // The prefix is 1 to 8 lowercase letters; text before it may be anything,
  // letters included ("mytka_..."), so each length is tried against the check.
  const std::string_view check(d + p + k_after - k_check_len, k_check_len);
  for (std::size_t n = 1; n <= k_max_prefix_len && n <= p && lower(d[p - n]); ++n) {
    const std::string_view body(d + p - n, n + k_after - k_check_len);
    if (check_chars(body) == check) {
      return p - n;
    }
  }
  return npos;
}

std::uint64_t count_newlines(const char* from, const char* to)
{
  std::uint64_t n = 0;
  while (from < to) {
    const auto* nl = static_cast<const char*>(std::memchr(from, '\n', static_cast<std::size_t>(to - from)));
    if (nl == nullptr) {
      break;
    }
    ++n;
    from = nl + 1;
  }
  return n;
}

// Line-counting state over a sliding buffer.
struct Cursor {
  std::size_t counted = 0; // newlines before this offset are in `line`
  std::uint64_t line = 1;
  std::uint64_t found = 0;
};

// Reports every token whose first '_' lies in [from, limit); returns where
// the next block starts (past a token that ends beyond `limit`).
std::size_t scan_block(const char* d, std::size_t len, std::size_t from, std::size_t limit, Cursor& cur,
                const ScanCallback& cb)
{
  std::size_t p = from;
  while (p < limit) {
    const auto* u = static_cast<const char*>(std::memchr(d + p, '_', limit - p));
    if (u == nullptr) {
      return limit;
    }
    p = static_cast<std::size_t>(u - d);
    const auto start = match_at(d, len, p);
    if (start != std::string_view::npos) {
      if (cur.counted < start) {
        cur.line += count_newlines(d + cur.counted, d + start);
        cur.counted = start;
      }
      ScanFinding f;
      f.line = cur.line;
      f.prefix = std::string_view(d + start, p - start);
      f.id = std::string_view(d + p + 1, k_id_len);
      f.token = std::string_view(d + start, p + k_after - start);
      ++cur.found;
      cb(f);
      p += k_after;
    } else {
      ++p;
    }
  }
  return p;
}

} // namespace

std::uint64_t scan_text(std::string_view text, const ScanCallback& on_finding)
{
  Cursor cur;
  scan_block(text.data(), text.size(), 0, text.size(), cur, on_finding);
  return cur.found;
}

std::uint64_t scan_fd(int fd, const ScanCallback& on_finding, const std::string& what)
{
  // 1 MiB: large reads keep the syscall cost per byte small; the few bytes
  // of a token cut by a read's end are carried into the next round.
  constexpr std::size_t k_capacity = std::size_t{1} << 20;
  const auto buf = std::make_unique<char[]>(k_capacity);
  char* d = buf.get();
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Cursor cur;
  std::size_t len = 0;
  std::size_t from = 0;
  for (;;) {
    const auto n = ::read(fd, d + len, k_capacity - len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error("io", "cannot read " + what + ": " + std::strerror(errno));
    }
    len += static_cast<std::size_t>(n);
    const bool eof = n == 0;
    // A '_' closer than k_after to the end may start a token that is not
    // all here yet: it waits for the next read (or the end of input).
    const std::size_t limit = eof ? len : (len > k_after ? len - k_after : 0);
    if (limit > from) {
      from = scan_block(d, len, from, limit, cur, on_finding);
    }
    if (eof) {
      return cur.found;
    }
    // Keep what may still matter: the prefix before `from` and the rest.
    const std::size_t drop = from > k_max_prefix_len ? from - k_max_prefix_len : 0;
    if (drop == 0 && len < k_capacity) {
      continue;
    }
    if (cur.counted < drop) {
      cur.line += count_newlines(d + cur.counted, d + drop);
      cur.counted = drop;
    }
    std::memmove(d, d + drop, len - drop);
    len -= drop;
    from -= drop;
    cur.counted -= drop;
  }
}

} // namespace tokenadm
