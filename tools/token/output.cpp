// Output: a new token to stdout or --output, and one token's details.
#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/text.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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
  set_cleanup_file(m_output);
}

TokenOutput::~TokenOutput()
{
  if (m_fd >= 0) {
    ::close(m_fd);
    ::unlink(m_output.c_str());
    clear_cleanup_file();
  }
}

void TokenOutput::write_file(const std::string& text)
{
  write_fully(m_fd, text, "--output " + m_output);
  const bool ok = ::fsync(m_fd) == 0;
  const bool closed = ::close(m_fd) == 0;
  m_fd = -1;
  if (!ok || !closed) {
    const int e = errno;
    ::unlink(m_output.c_str());
    throw tokenadm::Error("output", "--output " + m_output + ": " + std::strerror(e));
  }
}

void TokenOutput::write_all(const std::vector<tokenadm::CreatedToken>& created,
                            const nlohmann::json& extra)
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
  try {
    write_stdout(created, extra, text);
  } catch (...) {
    if (!m_output.empty() && !m_existing) {
      ::unlink(m_output.c_str()); // the token in it is withdrawn
    }
    throw;
  }
  // Delivered: a signal from now on leaves the file alone.
  clear_cleanup_file();
}

void TokenOutput::write_stdout(const std::vector<tokenadm::CreatedToken>& created,
                               const nlohmann::json& extra, const std::string& text)
{
  const bool bulk = extra.is_null() || !extra.is_object();
  if (m_format == "json") {
    auto one = [&](const tokenadm::CreatedToken& c) {
      auto j = token_json(c.info);
      if (m_output.empty()) {
        j["token"] = c.token;
      }
      if (!bulk) {
        for (const auto& [k, v] : extra.items()) {
          j[k] = v;
        }
      }
      return json_text(j);
    };
    if (bulk) {
      std::cout << '[';
      bool first = true;
      for (const auto& c : created) {
        std::cout << (first ? "" : ",") << one(c);
        first = false;
      }
      std::cout << "]\n";
    } else {
      std::cout << one(created.front()) << '\n';
    }
  } else if (m_output.empty()) {
    std::cout << text;
  }
  flush_stdout();
}

void TokenOutput::emit(tokenadm::Db& db, const tokenadm::CreatedToken& created,
                       const nlohmann::json& extra)
{
  mark_committed();
  set_subject(created.info.id);
  try {
    write_all({created}, extra.is_object() ? extra : nlohmann::json::object());
  } catch (const tokenadm::Error& e) {
    withdraw(db, {created.info.id}, e.what());
  }
  if (isatty(STDERR_FILENO)) {
    note("created " + created.info.id + " (owner '" + created.info.owner + "', expires "
         + created.info.expires_at.value_or("never") + ")");
  }
}

void TokenOutput::emit_all(tokenadm::Db& db, const std::vector<tokenadm::CreatedToken>& created)
{
  mark_committed();
  try {
    write_all(created, nullptr);
  } catch (const tokenadm::Error& e) {
    std::vector<std::string> ids;
    ids.reserve(created.size());
    for (const auto& c : created) {
      ids.push_back(c.info.id);
    }
    withdraw(db, ids, e.what());
  }
  if (isatty(STDERR_FILENO)) {
    note("created " + std::to_string(created.size()) + " tokens");
  }
}

void withdraw(tokenadm::Db& db, const std::vector<std::string>& ids, const std::string& cause)
{
  std::string named = ids.empty() ? std::string() : ids.front();
  if (ids.size() > 1) {
    named += " and " + std::to_string(ids.size() - 1) + " more";
  }
  try {
    tokenadm::revoke_tokens(db, ids, std::string("output failed"), tokenadm::current_actor());
  } catch (const tokenadm::Error& e) {
    throw tokenadm::Error("output", cause + "; revoking " + named
                                      + " again failed too, revoke it by hand: " + e.what());
  }
  throw tokenadm::Error("output", cause + ": revoked " + named
                                    + " again (reason 'output failed'), nobody received it");
}

std::string json_text(const nlohmann::json& j)
{
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
  nlohmann::json used_from = nlohmann::json::array();
  for (const auto& [addr, at] : t.used_from) {
    used_from.push_back({{"addr", addr}, {"at", at}});
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
    {"allow_from", t.allow_from.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.allow_from)},
    {"max_uses", t.max_uses ? nlohmann::json(*t.max_uses) : nlohmann::json(nullptr)},
    {"uses", t.uses},
    {"remaining_uses",
     t.max_uses ? nlohmann::json(std::max<std::int64_t>(0, *t.max_uses - t.uses))
                : nlohmann::json(nullptr)},
    {"suspended_at", opt(t.suspended_at)},
    {"suspended_by", opt(t.suspended_by)},
    {"suspend_reason", opt(t.suspend_reason)},
    {"used_from", used_from},
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
  line("allow_from", t.allow_from.empty() ? "any" : tokenadm::join(t.allow_from, ","));
  if (t.max_uses) {
    line("uses", std::to_string(t.uses) + " of " + std::to_string(*t.max_uses) + " ("
                   + std::to_string(std::max<std::int64_t>(0, *t.max_uses - t.uses))
                   + " remaining)");
  } else {
    line("uses", "unlimited");
  }
  line("suspended_at", t.suspended_at.value_or(""));
  line("suspended_by", t.suspended_by.value_or(""));
  line("suspend_reason", t.suspend_reason.value_or(""));
  for (const auto& [addr, at] : t.used_from) {
    line("used_from", addr + " " + at);
  }
}

} // namespace tokencli

namespace tokencli {

void flush_stdout()
{
  errno = 0;
  std::cout.flush();
  check_stdout();
}

void check_stdout()
{
  if (std::cout) {
    return;
  }
  const int e = errno;
  if (e == EPIPE) {
    throw tokenadm::Error("epipe", "cannot write to stdout: the reader has gone");
  }
  throw tokenadm::Error("output", std::string("cannot write to stdout: ")
                                    + (e != 0 ? std::strerror(e) : "write error"));
}

} // namespace tokencli
