// Sockets and addresses for the HTTP server: listening on "HOST:PORT" or
// "unix:/path", printing a peer's address, and address ranges (CIDR).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tokenadm::net {

struct Listener {
  int fd = -1;
  std::string name; // what was bound: "127.0.0.1:8099" (the real port), "unix:/path"
  bool unix_socket = false;
};

// Binds and listens on `spec`: "HOST:PORT" (HOST a name or an IPv4
// address), "[IPV6]:PORT", or "unix:/path" (a stale socket file nobody
// listens on is replaced). Port 0 picks a free port. Throws UsageError for
// a spec that cannot be understood, Error("listen") when binding fails.
Listener listen_on(const std::string& spec, int backlog);

// A socket inherited from systemd (LISTEN_FDS); its name is read from it.
Listener adopt(int fd);

// The sockets systemd passed (LISTEN_PID is this process, LISTEN_FDS=n:
// fds 3..3+n-1); the variables are then removed from the environment so
// children do not take them too. Empty when there are none.
std::vector<int> systemd_fds();

// An address in canonical text form ("192.0.2.1", "2001:db8::1"; an
// IPv4-mapped IPv6 address as IPv4); nullopt for other families.
std::optional<std::string> address_text(const sockaddr* sa);

// An address range: "192.0.2.0/24", "2001:db8::/32", or one address.
class Cidr {
public:
  // Throws UsageError naming `text` when it is not a range.
  explicit Cidr(const std::string& text);
  bool contains(const std::string& address) const;

private:
  int m_family = 0;
  std::array<std::uint8_t, 16> m_bytes{};
  int m_bits = 0;
};

// Parses `text` as an address: family (AF_INET/AF_INET6) and bytes, an
// IPv4-mapped IPv6 address as IPv4. nullopt when it is none.
struct Parsed {
  int family;
  std::array<std::uint8_t, 16> bytes;
};
std::optional<Parsed> parse_address(const std::string& text);

} // namespace tokenadm::net
