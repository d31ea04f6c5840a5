#include "common.hpp"

#include <tokenadm/duration.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace tokencli {

namespace {

struct CreateOptions {
  std::string positional_dsn;
  std::string owner;
  std::string label;
  std::vector<std::string> roles;
  std::vector<std::string> scopes;
  std::string contact;
  std::vector<std::string> meta;
  std::string expires_in;
  std::string expires_at;
  bool no_expiry = false;
  std::string format = "text";
  std::string output;
};

// The --output file: created 0600, never over an existing file or through
// a symlink; removed again if the token is not created.
class SecretFile {
public:
  explicit SecretFile(const std::string& path) : m_path(path)
  {
    m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (m_fd < 0) {
      throw tokenadm::UsageError("--output " + path + ": " + std::strerror(errno)
                                 + (errno == EEXIST ? " (it is never overwritten)" : ""));
    }
  }
  ~SecretFile()
  {
    if (m_fd >= 0) {
      ::close(m_fd);
      ::unlink(m_path.c_str());
    }
  }
  void write_and_close(const std::string& text)
  {
    std::size_t done = 0;
    while (done < text.size()) {
      const auto n = ::write(m_fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        throw tokenadm::Error("output", "--output " + m_path + ": " + std::strerror(errno));
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(m_fd) != 0 || ::close(m_fd) != 0) {
      m_fd = -1;
      throw tokenadm::Error("output", "--output " + m_path + ": " + std::strerror(errno));
    }
    m_fd = -1;
  }

private:
  std::string m_path;
  int m_fd = -1;
};

tokenadm::NewToken to_spec(const CreateOptions& o)
{
  tokenadm::NewToken spec;
  spec.owner = o.owner;
  spec.label = o.label;
  if (!o.roles.empty()) {
    spec.roles = o.roles;
  }
  spec.scopes = o.scopes;
  if (!o.contact.empty()) {
    spec.contact = o.contact;
  }
  for (const auto& kv : o.meta) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) {
      throw tokenadm::UsageError("--meta '" + kv.substr(0, 64) + "': use key=value");
    }
    spec.meta.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!o.expires_in.empty()) {
    spec.expires_in = tokenadm::parse_duration(o.expires_in, "--expires-in");
  }
  if (!o.expires_at.empty()) {
    spec.expires_at = o.expires_at;
  }
  spec.no_expiry = o.no_expiry;
  return spec;
}

} // namespace

Command setup_create(CLI::App& app, Globals& g)
{
  auto* sub = app.add_subcommand("create", "Create a token and print it on stdout");
  auto o = std::make_shared<CreateOptions>();
  sub->add_option("dsn", o->positional_dsn,
                  "DSN, as gs_auth_token_create takes it (--dsn is preferred)")
    ->type_name("DSN");
  sub->add_option("--owner", o->owner, "Who the token is for (empty: site-wide)");
  sub->add_option("--label", o->label, "What the token is for");
  sub->add_option("--role", o->roles, "api, feed, vcs, http or all (default all); repeatable")
    ->delimiter(',')
    ->type_name("ROLE");
  sub->add_option("--scope", o->scopes, "Limit to a scope (repo, group...); repeatable")
    ->type_name("SCOPE");
  sub->add_option("--contact", o->contact, "Email address to notify about this token")
    ->type_name("EMAIL");
  sub->add_option("--meta", o->meta, "Metadata key=value; repeatable")->type_name("KEY=VALUE");
  auto* in = sub->add_option("--expires-in", o->expires_in, "Lifetime: 30m, 12h, 90d, 1y")
               ->type_name("DURATION");
  auto* at = sub->add_option("--expires-at", o->expires_at, "Expiry time, ISO 8601")
               ->type_name("TIME");
  auto* never = sub->add_flag("--no-expiry", o->no_expiry, "Never expire (if the policy allows)");
  in->excludes(at)->excludes(never);
  at->excludes(never);
  add_format(*sub, g, o->format, {"text", "json"});
  sub->add_option("--output", o->output, "Write the token to FILE (created 0600) not stdout")
    ->type_name("FILE");

  return {sub, [&g, o] {
            const auto spec = to_spec(*o);
            const tokenadm::ExpiryPolicy policy;
            tokenadm::validate_new_token(spec, policy);
            std::unique_ptr<SecretFile> file;
            if (!o->output.empty()) {
              file = std::make_unique<SecretFile>(o->output);
            }
            auto db = connect(g, o->positional_dsn);
            const auto created =
              tokenadm::create_token(*db, spec, policy, tokenadm::current_actor());
            // Committed: only now does the token leave the process.
            std::string text;
            if (o->format == "json") {
              auto j = token_json(created.info);
              if (!file) {
                j["token"] = created.token;
              }
              text = j.dump() + "\n";
              if (file) {
                file->write_and_close(created.token + "\n");
              }
              std::cout << text << std::flush;
            } else if (file) {
              file->write_and_close(created.token + "\n");
            } else {
              std::cout << created.token << '\n' << std::flush;
            }
            if (isatty(STDERR_FILENO)) {
              note("created " + created.info.id + " (owner '" + created.info.owner
                   + "', expires " + created.info.expires_at.value_or("never") + ")");
            }
            return 0;
          }};
}

} // namespace tokencli
