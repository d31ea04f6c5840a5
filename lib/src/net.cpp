#include "net.hpp"

#include "tokenadm/errors.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tokenadm::net {

namespace {

[[noreturn]] void fail(const std::string& what)
{
  throw Error("listen", what + ": " + std::strerror(errno));
}

Listener listen_unix(const std::string& path, int backlog)
{
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) {
    throw UsageError("--listen unix:" + path.substr(0, 128) + ": not a usable socket path");
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail("socket");
  }
  // A socket file left by a server that is gone is replaced; a live one is
  // not stolen.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0
                      && ::connect(probe, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
    if (probe >= 0) {
      ::close(probe);
    }
    if (live) {
      ::close(fd);
      errno = EADDRINUSE;
      fail("unix:" + path);
    }
    ::unlink(path.c_str());
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0
      || ::listen(fd, backlog) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail("unix:" + path);
  }
  return {fd, "unix:" + path, true};
}

std::string name_of(int fd)
{
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "fd " + std::to_string(fd);
  }
  if (ss.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&ss);
    return std::string("unix:") + un->sun_path;
  }
  const auto host = address_text(reinterpret_cast<const sockaddr*>(&ss));
  const auto port = ss.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port)
                      : ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  const auto h = host.value_or("?");
  return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(port);
}

} // namespace

Listener listen_on(const std::string& spec, int backlog)
{
  if (spec.rfind("unix:", 0) == 0) {
    return listen_unix(spec.substr(5), backlog);
  }
  std::string host;
  std::string port;
  if (!spec.empty() && spec[0] == '[') {
    const auto close = spec.find("]:");
    if (close == std::string::npos) {
      throw UsageError("--listen " + spec.substr(0, 128) + ": expected [IPV6]:PORT");
    }
    host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else {
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos || spec.find(':') != colon) {
      throw UsageError("--listen " + spec.substr(0, 128)
                       + ": expected HOST:PORT, [IPV6]:PORT or unix:/path");
    }
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5
      || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    throw UsageError("--listen " + spec.substr(0, 128) + ": expected HOST:PORT with a port 0-65535");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    throw UsageError("--listen " + spec.substr(0, 128) + ": " + gai_strerror(rc));
  }
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    fail("socket");
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (res->ai_family == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  const bool ok = ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, backlog) == 0;
  const int saved = errno;
  ::freeaddrinfo(res);
  if (!ok) {
    ::close(fd);
    errno = saved;
    fail(spec.substr(0, 128));
  }
  return {fd, name_of(fd), false};
}

Listener adopt(int fd)
{
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const bool unix_socket = ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0
                           && ss.ss_family == AF_UNIX;
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return {fd, name_of(fd) + " (systemd)", unix_socket};
}

std::vector<int> systemd_fds()
{
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  std::vector<int> out;
  if (pid == nullptr || fds == nullptr || std::strtol(pid, nullptr, 10) != ::getpid()) {
    return out;
  }
  const long n = std::strtol(fds, nullptr, 10);
  for (long i = 0; i < n && i < 64; ++i) {
    out.push_back(static_cast<int>(3 + i));
  }
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  return out;
}

std::optional<std::string> address_text(const sockaddr* sa)
{
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa == nullptr) {
    return std::nullopt;
  }
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return std::string(buf);
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf);
    } else {
      ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    }
    return std::string(buf);
  }
  return std::nullopt;
}

std::optional<Parsed> parse_address(const std::string& text)
{
  Parsed p{};
  if (::inet_pton(AF_INET, text.c_str(), p.bytes.data()) == 1) {
    p.family = AF_INET;
    return p;
  }
  in6_addr a6{};
  if (::inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      p.family = AF_INET;
      std::memcpy(p.bytes.data(), &a6.s6_addr[12], 4);
    } else {
      p.family = AF_INET6;
      std::memcpy(p.bytes.data(), &a6, 16);
    }
    return p;
  }
  return std::nullopt;
}

Cidr::Cidr(const std::string& text)
{
  const auto slash = text.find('/');
  const auto addr = parse_address(text.substr(0, slash));
  const int max = addr && addr->family == AF_INET ? 32 : 128;
  int bits = max;
  if (slash != std::string::npos) {
    const auto b = text.substr(slash + 1);
    if (b.empty() || b.size() > 3 || b.find_first_not_of("0123456789") != std::string::npos) {
      bits = -1;
    } else {
      bits = std::stoi(b);
    }
  }
  if (!addr || bits < 0 || bits > max) {
    throw UsageError("'" + text.substr(0, 64) + "' is not an address or a CIDR range");
  }
  m_family = addr->family;
  m_bytes = addr->bytes;
  m_bits = bits;
}

bool Cidr::contains(const std::string& address) const
{
  const auto a = parse_address(address);
  if (!a || a->family != m_family) {
    return false;
  }
  int bits = m_bits;
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    const auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
    if ((a->bytes[i] & mask) != (m_bytes[i] & mask)) {
      return false;
    }
  }
  return true;
}

} // namespace tokenadm::net
