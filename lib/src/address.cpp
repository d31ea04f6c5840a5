#include "tokenadm/address.hpp"

#include "tokenadm/errors.hpp"
#include "tokenadm/text.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace tokenadm {

namespace {

struct Bits {
  int family = 0; // AF_INET or AF_INET6
  std::array<unsigned char, 16> bytes{};
  int max_len() const { return family == AF_INET ? 32 : 128; }
};

std::string shown(const std::string& text)
{
  std::string out;
  for (const char c : text.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  return out;
}

bool to_bits(const std::string& text, Bits& out)
{
  if (text.empty() || text.size() > 45) {
    return false;
  }
  if (inet_pton(AF_INET, text.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET6;
    return true;
  }
  return false;
}

std::string to_text(const Bits& b)
{
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(b.family, b.bytes.data(), buf, sizeof buf);
  return buf;
}

// Whether the first `len` bits of a and b agree.
bool same_prefix(const Bits& a, const Bits& b, int len)
{
  for (int i = 0; i < len; ++i) {
    const int byte = i / 8;
    const auto mask = static_cast<unsigned char>(0x80u >> (i % 8));
    if ((a.bytes[static_cast<std::size_t>(byte)] & mask)
        != (b.bytes[static_cast<std::size_t>(byte)] & mask)) {
      return false;
    }
  }
  return true;
}

struct Range {
  Bits net;
  int len = 0;
};

Range read_range(const std::string& text, const std::string& what)
{
  const auto slash = text.find('/');
  Range r;
  const auto addr = text.substr(0, slash);
  if (!to_bits(addr, r.net)) {
    throw UsageError(what + ": '" + shown(text) + "' is not an IPv4 or IPv6 address range");
  }
  r.len = r.net.max_len();
  if (slash != std::string::npos) {
    const auto len = text.substr(slash + 1);
    if (len.empty() || len.size() > 3
        || !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; })
        || std::stoi(len) > r.net.max_len()) {
      throw UsageError(what + ": '" + shown(text) + "' has a bad prefix length (0 to "
                       + std::to_string(r.net.max_len()) + ")");
    }
    r.len = std::stoi(len);
  }
  for (int i = r.len; i < r.net.max_len(); ++i) {
    const auto byte = static_cast<std::size_t>(i / 8);
    if ((r.net.bytes[byte] & (0x80u >> (i % 8))) != 0) {
      throw UsageError(what + ": '" + shown(text) + "' has bits set beyond its /"
                       + std::to_string(r.len) + " mask");
    }
  }
  return r;
}

} // namespace

std::string parse_address(const std::string& text, const std::string& what)
{
  Bits b;
  if (!to_bits(text, b)) {
    throw UsageError(what + ": '" + shown(text) + "' is not an IPv4 or IPv6 address");
  }
  return to_text(b);
}

std::string parse_cidr(const std::string& text, const std::string& what)
{
  const auto r = read_range(text, what);
  return to_text(r.net) + "/" + std::to_string(r.len);
}

std::vector<std::string> parse_cidr_list(const std::vector<std::string>& items,
                                         const std::string& what)
{
  std::vector<std::string> out;
  for (const auto& item : items) {
    if (item.find_first_not_of(", ") == std::string::npos) {
      throw UsageError(what + ": an empty address range");
    }
    for (const auto& word : split_words(item, ", ")) {
      auto c = parse_cidr(word, what);
      if (std::find(out.begin(), out.end(), c) == out.end()) {
        out.push_back(std::move(c));
      }
    }
  }
  if (out.size() > 100) {
    throw UsageError(what + ": more than 100 address ranges");
  }
  return out;
}

bool address_in(const std::string& addr, const std::vector<std::string>& ranges)
{
  Bits a;
  if (!to_bits(addr, a)) {
    return false;
  }
  for (const auto& text : ranges) {
    Range r;
    try {
      r = read_range(text, "range");
    } catch (const UsageError&) {
      continue;
    }
    if (r.net.family == a.family && same_prefix(a, r.net, r.len)) {
      return true;
    }
  }
  return false;
}

} // namespace tokenadm
