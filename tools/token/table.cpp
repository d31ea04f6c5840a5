#include "table.hpp"

#include "common.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

namespace tokencli {

namespace {

// The terminal's width when stdout is one; 0 (no limit) otherwise.
std::size_t terminal_width()
{
  if (!isatty(STDOUT_FILENO)) {
    return 0;
  }
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 0;
}

} // namespace

Table::Table(std::vector<std::string> header, std::vector<std::size_t> shrinkable,
             std::vector<std::size_t> droppable, bool headers, std::size_t sample)
  : m_width(header.size(), 0), m_shrinkable(std::move(shrinkable)),
    m_droppable(std::move(droppable)), m_headers(headers), m_sample(sample)
{
  if (m_headers) {
    m_held.push_back(std::move(header));
  }
}

void Table::add(std::vector<std::string> row)
{
  if (m_settled) {
    print(row);
    return;
  }
  m_held.push_back(std::move(row));
  if (m_held.size() >= m_sample + (m_headers ? 1 : 0)) {
    settle();
  }
}

void Table::finish()
{
  if (!m_settled) {
    settle();
  }
}

// Widths from the rows held; on a terminal, columns dropped and cut until
// the table fits. Then the held rows are printed and let go.
void Table::settle()
{
  m_settled = true;
  for (const auto& r : m_held) {
    for (std::size_t i = 0; i < r.size() && i < m_width.size(); ++i) {
      m_width[i] = std::max(m_width[i], r[i].size());
    }
  }
  if (const auto limit = terminal_width(); limit > 0) {
    auto total = [&] {
      std::size_t t = 0;
      for (auto w : m_width) {
        t += w + 2;
      }
      return t - 2;
    };
    for (auto i : m_droppable) {
      if (total() <= limit) {
        break;
      }
      m_dropped.push_back(i);
      m_width[i] = 0;
    }
    while (total() > limit) {
      std::size_t* widest = nullptr;
      for (auto i : m_shrinkable) {
        if (m_width[i] > 8 && (widest == nullptr || m_width[i] > *widest)) {
          widest = &m_width[i];
        }
      }
      if (widest == nullptr) {
        break; // nothing left to cut: let the terminal wrap
      }
      --*widest;
    }
    // Highest index first, so the others stay valid when erased.
    std::sort(m_dropped.rbegin(), m_dropped.rend());
    for (auto i : m_dropped) {
      m_width.erase(m_width.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  for (auto& r : m_held) {
    print(r);
  }
  m_held.clear();
  m_held.shrink_to_fit();
}

void Table::print(std::vector<std::string>& r)
{
  for (auto i : m_dropped) {
    if (i < r.size()) {
      r.erase(r.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  std::string line;
  for (std::size_t i = 0; i < r.size(); ++i) {
    const bool last = i + 1 == r.size();
    const std::size_t w = i < m_width.size() ? m_width[i] : r[i].size();
    if (r[i].size() > w && !last && w > 0) {
      line += r[i].substr(0, w - 1) + "~";
    } else {
      line += r[i];
    }
    if (!last) {
      line += std::string(w - std::min(w, r[i].size()) + 2, ' ');
    }
  }
  // An empty last cell leaves no trailing blanks.
  line.erase(line.find_last_not_of(' ') + 1);
  std::cout << line << '\n';
  check_stdout();
}

} // namespace tokencli
