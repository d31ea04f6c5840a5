#include "tokenadm/dsn.hpp"

#include "tokenadm/errors.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

namespace tokenadm {

namespace {

struct ConninfoFree {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using Conninfo = std::unique_ptr<PQconninfoOption, ConninfoFree>;

// postgresql+psycopg2://... (SQLAlchemy, as in gsconfig.ini) -> postgresql://...
std::string without_driver(const std::string& dsn)
{
  for (const char* scheme : {"postgresql+", "postgres+"}) {
    if (dsn.rfind(scheme, 0) == 0) {
      const auto end = dsn.find("://");
      if (end != std::string::npos) {
        return "postgresql" + dsn.substr(end);
      }
    }
  }
  return dsn;
}

Conninfo parse(const std::string& dsn)
{
  char* err = nullptr;
  Conninfo opts(PQconninfoParse(without_driver(dsn).c_str(), &err));
  // libpq's parse error quotes pieces of the DSN, which may be a password:
  // it is dropped, never printed.
  PQfreemem(err);
  return opts;
}

std::string scheme_of(const std::string& dsn)
{
  const auto pos = dsn.find("://");
  if (pos == std::string::npos) {
    return {};
  }
  const auto scheme = dsn.substr(0, pos);
  for (char c : scheme) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '+' || c == '-' || c == '.';
    if (!ok) {
      return {}; // "://" inside a key=value string, not a scheme
    }
  }
  return scheme;
}

// Secrets a message about `dsn` could contain.
std::vector<std::string> secrets_of(const std::string& dsn)
{
  std::vector<std::string> out;
  if (const char* env = std::getenv("PGPASSWORD"); env != nullptr && *env != '\0') {
    out.emplace_back(env);
  }
  if (auto opts = parse(dsn)) {
    for (auto* o = opts.get(); o->keyword != nullptr; ++o) {
      const std::string_view key = o->keyword;
      if (o->val != nullptr && *o->val != '\0' && (key == "password" || key == "sslpassword")) {
        out.emplace_back(o->val);
      }
    }
  }
  // The raw (maybe %-encoded) password of a URI: scheme://user:PASSWORD@host,
  // up to the last '@' before the host, since an unencoded '@' in a
  // password makes libpq quote the rest ("PartTwo@host") in its message.
  // Each '@'-separated piece is masked too.
  if (const auto s = dsn.find("://"); s != std::string::npos) {
    const auto end = dsn.find_first_of("?", s + 3);
    const auto authority = dsn.substr(s + 3, end == std::string::npos ? end : end - s - 3);
    const auto at = authority.rfind('@');
    const auto colon = authority.find(':');
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      const auto password = authority.substr(colon + 1, at - colon - 1);
      out.push_back(password);
      for (std::size_t b = 0; b <= password.size();) {
        const auto e = std::min(password.find('@', b), password.size());
        if (e - b >= 3) {
          out.push_back(password.substr(b, e - b));
        }
        b = e + 1;
      }
    }
  }
  std::erase_if(out, [](const std::string& s) { return s.empty(); });
  // Longest first: a whole password is masked as one, not piece by piece.
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

// `text` with every secret of `dsn` replaced by "***".
std::string mask_secrets(std::string text, const std::string& dsn)
{
  for (const auto& secret : secrets_of(dsn)) {
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
      text.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return text;
}

} // namespace

std::string normalise_dsn(const std::string& input, int connect_timeout)
{
  std::string dsn = input;
  const auto scheme = scheme_of(dsn);
  if (!scheme.empty()) {
    dsn = without_driver(dsn);
    if (dsn == input && scheme != "postgresql" && scheme != "postgres") {
      std::string hint = "unknown DSN scheme '";
      hint += scheme.substr(0, 20);
      hint += "://': use postgresql://user@host/dbname or key=value pairs";
      if (scheme == "posgres" || scheme == "posgresql" || scheme == "postgre") {
        hint += " (did you mean postgresql://?)";
      }
      throw ConnectError(hint);
    }
  }
  if (!scheme.empty()) {
    // user:p@ss@host: libpq splits at the first '@' and takes the rest of
    // the password for a host name, which it then prints.
    const auto s = dsn.find("://") + 3;
    const auto authority = dsn.substr(s, dsn.find('?', s) - s);
    if (std::count(authority.begin(), authority.end(), '@') > 1) {
      throw ConnectError("the DSN's user:password part holds an '@': write it as %40 "
                         "(postgresql://user:p%40ss@host/dbname)");
    }
  }
  auto opts = parse(dsn);
  if (!opts) {
    throw ConnectError(
      "cannot understand the DSN: expected postgresql://user@host/dbname or key=value pairs");
  }
  // Rebuilt as key=value pairs: adding a parameter to a URI by string
  // surgery goes wrong on '?' in passwords and trailing separators.
  std::string out;
  bool has_timeout = std::getenv("PGCONNECT_TIMEOUT") != nullptr;
  for (auto* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) {
      continue;
    }
    has_timeout = has_timeout || std::string_view(o->keyword) == "connect_timeout";
    if (!out.empty()) {
      out += ' ';
    }
    out.append(o->keyword).append("='");
    for (const char* c = o->val; *c != '\0'; ++c) {
      if (*c == '\'' || *c == '\\') {
        out += '\\';
      }
      out += *c;
    }
    out += '\'';
  }
  if (!has_timeout) {
    if (!out.empty()) {
      out += ' ';
    }
    out.append("connect_timeout='").append(std::to_string(connect_timeout)).append("'");
  }
  return out;
}

bool dsn_has_password(const std::string& dsn)
{
  if (auto opts = parse(dsn)) {
    for (auto* o = opts.get(); o->keyword != nullptr; ++o) {
      if (std::string_view(o->keyword) == "password" && o->val != nullptr && *o->val != '\0') {
        return true;
      }
    }
  }
  return false;
}

std::string mask_dsn(const std::string& dsn)
{
  // A DSN libpq cannot parse cannot be told apart into secret and not:
  // none of it is shown.
  if (!dsn.empty() && !parse(dsn)) {
    return "*** (not a DSN libpq can parse; not shown)";
  }
  return mask_secrets(dsn, dsn);
}

std::string resolve_dsn(const std::string& flag, const std::string& positional,
                        const std::string& from_config)
{
  if (!flag.empty()) {
    return flag;
  }
  if (!positional.empty()) {
    return positional;
  }
  if (const char* env = std::getenv("TOKENADM_DSN"); env != nullptr && *env != '\0') {
    return env;
  }
  return from_config;
}

std::string scrub_message(const std::string& message, const std::string& dsn)
{
  std::string out = mask_secrets(message.substr(0, message.find('\n')), dsn);
  while (!out.empty() && (out.back() == ' ' || out.back() == '\r')) {
    out.pop_back();
  }
  return redact_tokens(out);
}

} // namespace tokenadm
