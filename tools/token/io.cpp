// Input and raw output: read/write loops that retry on EINTR, and a bounded line reader.
#include "common.hpp"

#include <tokenadm/errors.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tokencli {

std::size_t read_some(int fd, char* buf, std::size_t size, const std::string& what)
{
  for (;;) {
    const auto n = ::read(fd, buf, size);
    if (n >= 0) {
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) {
      throw tokenadm::UsageError("cannot read " + what + ": " + std::strerror(errno));
    }
  }
}

void write_fully(int fd, const std::string& text, const std::string& what)
{
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw tokenadm::Error("output", "cannot write " + what + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

void require_writable(int fd, const std::string& what)
{
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
    throw tokenadm::Error("output", "cannot write " + what + ": " + std::strerror(EBADF));
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
    throw tokenadm::Error("output", "cannot write " + what + ": the reader has gone");
  }
}

bool LineReader::next(std::string& line, bool& too_long)
{
  line.clear();
  too_long = false;
  bool any = false;
  for (;;) {
    if (m_pos == m_len) {
      if (m_eof) {
        return any;
      }
      const auto n = read_some(m_fd, m_buf, sizeof m_buf, "input");
      if (n == 0) {
        m_eof = true;
        continue;
      }
      m_pos = 0;
      m_len = n;
    }
    any = true;
    const char* start = m_buf + m_pos;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', m_len - m_pos));
    const std::size_t take = nl != nullptr ? static_cast<std::size_t>(nl - start) : m_len - m_pos;
    if (!too_long) {
      if (line.size() + take > m_limit) {
        too_long = true;
        line.clear();
      } else {
        line.append(start, take);
      }
    }
    m_pos += take;
    if (nl != nullptr) {
      ++m_pos;
      return true;
    }
  }
}

} // namespace tokencli
