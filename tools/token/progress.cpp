// Messages on stderr: notes, --quiet, and the progress line.
#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/text.hpp>

#include <unistd.h>

#include <iostream>

namespace tokencli {

namespace {
bool g_quiet = false;
} // namespace

ProgressLine::ProgressLine(std::string what)
  : m_what(std::move(what)), m_tty(isatty(STDERR_FILENO) != 0)
{
}

ProgressLine::~ProgressLine()
{
  if (m_shown) {
    std::cerr << "\r\033[K" << std::flush;
  }
}

void ProgressLine::update(std::size_t done, std::size_t total)
{
  if (!m_tty || g_quiet) {
    return;
  }
  std::cerr << "\rtoken: " << m_what << ' ' << done << '/' << total << std::flush;
  m_shown = true;
}

void set_quiet(bool quiet)
{
  g_quiet = quiet;
}

void note(const std::string& message)
{
  if (g_quiet && message.rfind("warning", 0) != 0) {
    return;
  }
  std::cerr << "token: " << tokenadm::redact_tokens(message) << '\n';
}

} // namespace tokencli
