// Output: a new token to stdout or --output, and one token's details.
#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/text.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace tokencli {

void TokenOutput::add_options(CLI::App& app, Globals& g)
{
  add_format(app, g, m_format, {"text", "json"});
  app.add_option("--output", m_output, "Write the token to FILE (created 0600), not stdout")
    ->type_name("FILE");
}

void TokenOutput::open(bool tolerate_existing)
{
  if (m_output.empty()) {
    return;
  }
  m_fd = ::open(m_output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (m_fd < 0 && errno == EEXIST && tolerate_existing) {
    m_existing = true;
    return;
  }
  if (m_fd < 0) {
    throw tokenadm::UsageError("--output " + m_output + ": " + std::strerror(errno)
                               + (errno == EEXIST ? " (it is never overwritten)" : ""));
  }
}

TokenOutput::~TokenOutput()
{
  if (m_fd >= 0) {
    ::close(m_fd);
    ::unlink(m_output.c_str());
  }
}

void TokenOutput::write_file(const std::string& text)
{
  write_fully(m_fd, text, "--output " + m_output);
  const bool ok = ::fsync(m_fd) == 0;
  const bool closed = ::close(m_fd) == 0;
  m_fd = -1;
  if (!ok || !closed) {
    throw tokenadm::Error("output", "--output " + m_output + ": " + std::strerror(errno));
  }
}

void TokenOutput::emit(const tokenadm::CreatedToken& created, const nlohmann::json& extra)
{
  if (m_fd >= 0) {
    write_file(created.token + "\n");
  }
  if (m_format == "json") {
    auto j = token_json(created.info);
    if (m_output.empty()) {
      j["token"] = created.token;
    }
    for (const auto& [k, v] : extra.items()) {
      j[k] = v;
    }
    std::cout << j.dump() << '\n' << std::flush;
  } else if (m_output.empty()) {
    std::cout << created.token << '\n' << std::flush;
  }
  if (isatty(STDERR_FILENO)) {
    note("created " + created.info.id + " (owner '" + created.info.owner + "', expires "
         + created.info.expires_at.value_or("never") + ")");
  }
}

void TokenOutput::emit_all(const std::vector<tokenadm::CreatedToken>& created)
{
  std::string text;
  text.reserve(created.size() * 56);
  for (const auto& c : created) {
    text += c.token;
    text += '\n';
  }
  if (m_fd >= 0) {
    write_file(text);
  }
  if (m_format == "json") {
    std::cout << '[';
    bool first = true;
    for (const auto& c : created) {
      auto j = token_json(c.info);
      if (m_output.empty()) {
        j["token"] = c.token;
      }
      std::cout << (first ? "\n" : ",\n") << j.dump();
      first = false;
    }
    std::cout << "\n]\n" << std::flush;
  } else if (m_output.empty()) {
    std::cout << text << std::flush;
  }
  if (isatty(STDERR_FILENO)) {
    note("created " + std::to_string(created.size()) + " tokens");
  }
}

nlohmann::json token_json(const tokenadm::TokenInfo& t)
{
  auto opt = [](const std::optional<std::string>& v) -> nlohmann::json {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : t.meta) {
    meta[k] = v;
  }
  return {
    {"id", t.id},
    {"owner", t.owner},
    {"label", t.label},
    {"roles", t.roles},
    {"scopes", t.scopes},
    {"contact", opt(t.contact)},
    {"meta", meta},
    {"state", t.state},
    {"created_at", t.created_at},
    {"created_by", t.created_by},
    {"expires_at", opt(t.expires_at)},
    {"last_used_at", opt(t.last_used_at)},
    {"revoked_at", opt(t.revoked_at)},
    {"revoked_by", opt(t.revoked_by)},
    {"revoke_reason", opt(t.revoke_reason)},
    {"replaced_by", opt(t.replaced_by)},
  };
}

void print_details(const tokenadm::TokenInfo& t)
{
  auto line = [](const char* key, const std::string& value) {
    std::cout << key << ": " << value << '\n';
  };
  line("id", t.id);
  line("owner", t.owner);
  line("label", t.label);
  line("state", t.state);
  line("roles", tokenadm::join(t.roles, ","));
  line("scopes", tokenadm::join(t.scopes, ","));
  line("contact", t.contact.value_or(""));
  for (const auto& [k, v] : t.meta) {
    line(("meta." + k).c_str(), v);
  }
  line("created_at", t.created_at);
  line("created_by", t.created_by);
  line("expires_at", t.expires_at.value_or("never"));
  line("last_used_at", t.last_used_at.value_or("never"));
  line("revoked_at", t.revoked_at.value_or(""));
  line("revoked_by", t.revoked_by.value_or(""));
  line("revoke_reason", t.revoke_reason.value_or(""));
  line("replaced_by", t.replaced_by.value_or(""));
}

} // namespace tokencli
