#include "common.hpp"
#include "usage.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>

#include <tokenadm/token.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <iostream>

namespace tokencli {

namespace {

template<typename Options>
int create_bulk(Globals& g, Options& o, const tokenadm::NewToken& spec, bool counted)
{
  std::vector<std::string> labels;
  if (o.labels_from_stdin) {
    LineReader in(STDIN_FILENO, 256);
    std::string line;
    bool too_long = false;
    for (std::size_t n = 1; in.next(line, too_long); ++n) {
      if (too_long) {
        throw tokenadm::UsageError("label on line " + std::to_string(n) + " is longer than 256 bytes");
      }
      // As import: a blank line is a mistake (a stray newline in a
      // generated list), not a token with no label.
      if (line.find_first_not_of(" \t\r") == std::string::npos) {
        throw tokenadm::UsageError("line " + std::to_string(n) + " is empty");
      }
      labels.push_back(line);
      if (labels.size() > 1000000) {
        throw tokenadm::UsageError("more than 1000000 labels: create in batches");
      }
    }
    if (labels.empty()) {
      throw tokenadm::UsageError("--labels-from-stdin: no labels on stdin");
    }
    if (counted && labels.size() != static_cast<std::size_t>(o.count)) {
      throw tokenadm::UsageError("--count " + std::to_string(o.count) + " but "
                                 + std::to_string(labels.size()) + " labels on stdin");
    }
  } else {
    labels.reserve(static_cast<std::size_t>(o.count));
    for (int i = 1; i <= o.count; ++i) {
      labels.push_back(spec.label.empty() ? std::to_string(i)
                                          : spec.label + "-" + std::to_string(i));
    }
  }
  o.out.open();
  auto db = connect(g, o.positional_dsn);
  std::vector<tokenadm::CreatedToken> created;
  {
    ProgressLine progress("creating");
    created = tokenadm::create_tokens_bulk(*db, spec, labels, g.cfg.policy,
                                           tokenadm::Hasher(g.cfg), tokenadm::current_actor(),
                                           progress.callback());
  }
  // Committed: only now do the tokens leave the process.
  o.out.emit_all(*db, created);
  return 0;
}

} // namespace

Command setup_create(CLI::App& app, Globals& g)
{
  struct Options {
    std::string positional_dsn;
    TokenOptions token;
    TokenOutput out;
    int count = 0;
    bool labels_from_stdin = false;
  };
  auto* sub = app.add_subcommand("create", "Create a token and print it on stdout");
  auto o = std::make_shared<Options>();
  sub->add_option("dsn", o->positional_dsn,
                  "DSN, as gs_auth_token_create takes it (--dsn is preferred)")
    ->type_name("DSN");
  add_token_options(*sub, o->token);
  o->out.add_options(*sub, g);
  sub->add_option("--count", o->count,
                  "Create N tokens in one transaction (COPY); labels LABEL-1..LABEL-N")
    ->type_name("N")
    ->check(in_range(1, 1000000));
  sub->add_flag("--labels-from-stdin", o->labels_from_stdin,
                "Bulk: one label per line on stdin, one token per label");

  return {sub, [&g, o, sub] {
            const auto spec = to_spec(o->token, g.cfg);
            if (o->count > 0 || o->labels_from_stdin) {
              return create_bulk(g, *o, spec, sub->count("--count") > 0);
            }
            o->out.open();
            auto db = connect(g, o->positional_dsn);
            const tokenadm::Hasher hasher(g.cfg);
            const auto created =
              tokenadm::create_token(*db, spec, g.cfg.policy, hasher, tokenadm::current_actor());
            // Committed: only now does the token leave the process.
            o->out.emit(*db, created);
            announce(g, *db, tokenadm::notice_of("created", created.info));
            return 0;
          }};
}

namespace {

// The ID of the token in an existing --output file, read without following
// a symlink; a file that holds no token is an error, not an overwrite.
std::string id_in_file(const std::string& path)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw tokenadm::UsageError("--output " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  std::string text;
  char buf[256];
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  try {
    for (std::size_t n = 0; regular && text.size() < 200
                            && (n = read_some(fd, buf, sizeof buf, "--output " + path)) > 0;) {
      text.append(buf, n);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  if (!regular || !tokenadm::looks_like_token(text)) {
    throw tokenadm::UsageError("--output " + path
                               + " exists and holds no token: remove it to have one made");
  }
  return text.substr(text.find('_') + 1, tokenadm::k_id_len);
}

// A temporary file beside --output, made before any database work so that
// a token is only ever created when it can be written; rename()d over the
// file after the commit, removed otherwise.
class Replacement {
public:
  explicit Replacement(const std::string& path) : m_path(path), m_tmp(path + ".XXXXXX")
  {
    m_fd = ::mkstemp(m_tmp.data()); // mode 0600
    if (m_fd < 0) {
      throw tokenadm::UsageError("--output " + path + ": cannot write beside it: "
                                 + std::strerror(errno));
    }
  }
  Replacement(const Replacement&) = delete;
  Replacement& operator=(const Replacement&) = delete;
  ~Replacement()
  {
    if (m_fd >= 0) {
      ::close(m_fd);
      ::unlink(m_tmp.c_str());
    }
  }
  void commit(const std::string& token)
  {
    write_fully(m_fd, token + "\n", "--output " + m_path);
    const bool ok = ::fsync(m_fd) == 0 && ::close(m_fd) == 0;
    m_fd = -1;
    if (!ok || ::rename(m_tmp.c_str(), m_path.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      ::unlink(m_tmp.c_str());
      throw tokenadm::Error("output", "--output " + m_path + ": " + why);
    }
  }

private:
  std::string m_path;
  std::string m_tmp;
  int m_fd = -1;
};

std::string joined(const std::vector<std::string>& v)
{
  std::string s;
  for (const auto& x : v) {
    s += (s.empty() ? "" : ", ") + x;
  }
  return s;
}

} // namespace

Command setup_ensure(CLI::App& app, Globals& g)
{
  struct Options {
    TokenOptions token;
    TokenOutput out;
    std::string output;
    bool converge = false;
    bool dry_run = false;
  };
  auto* sub = app.add_subcommand(
    "ensure", "Create a token for --owner and --label unless an active one exists");
  auto o = std::make_shared<Options>();
  add_token_options(*sub, o->token);
  o->out.add_options(*sub, g);
  auto* conv = sub->add_flag("--converge", o->converge,
                             "Replace an active token whose roles, scopes or expiry differ "
                             "from those asked for (a rotation)");
  auto* dry = sub->add_flag("--dry-run", o->dry_run,
                            "Change nothing; say whether a token would be created or differs");
  conv->excludes(dry);

  return {sub, [&g, o, sub] {
            if (sub->count("--owner") == 0 || sub->count("--label") == 0) {
              throw tokenadm::UsageError("ensure needs --owner and --label: they name the token");
            }
            const auto spec = to_spec(o->token, g.cfg);
            const std::string output =
              sub->count("--output") > 0 ? sub->get_option("--output")->as<std::string>() : "";
            if (o->dry_run && !output.empty()) {
              throw tokenadm::UsageError("--dry-run writes nothing: leave out --output");
            }
            // Run again with the same --output, the file is there: fine as
            // long as its token is the active one; a new one could not be
            // written, so none is made (unless --converge can replace it).
            o->out.open(true);
            std::optional<std::string> held;
            std::unique_ptr<Replacement> replacement;
            if (o->out.existing()) {
              held = id_in_file(output);
              if (o->converge) {
                replacement = std::make_unique<Replacement>(output);
              }
            }
            auto db = connect(g);
            const tokenadm::Hasher hasher(g.cfg);
            tokenadm::EnsureRequest req;
            req.mode = o->dry_run    ? tokenadm::EnsureRequest::Mode::dry_run
                       : o->converge ? tokenadm::EnsureRequest::Mode::converge
                                     : tokenadm::EnsureRequest::Mode::create;
            req.expect_id = held;
            req.compare_expiry = sub->count("--expires-in") > 0 || sub->count("--expires-at") > 0
                                 || sub->count("--no-expiry") > 0;
            const auto r = tokenadm::ensure_token(*db, spec, g.cfg.policy, hasher,
                                                  tokenadm::current_actor(), req);
            nlohmann::json differs = r.differs;
            if (r.created && r.replaced) {
              // Converged: the new token replaces the file's, or is printed.
              if (replacement) {
                try {
                  replacement->commit(r.token->token);
                } catch (const tokenadm::Error& e) {
                  withdraw(*db, {r.token->info.id}, e.what());
                }
                if (o->out.format() == "json") {
                  auto j = token_json(r.token->info);
                  j["created"] = true;
                  j["differs"] = differs;
                  j["replaces"] = *r.replaced;
                  std::cout << json_text(j)
                            << '\n'
                            << std::flush;
                }
              } else {
                o->out.emit(*db, *r.token,
                            {{"created", true}, {"differs", differs}, {"replaces", *r.replaced}});
              }
              note("rotated " + *r.replaced + " -> " + r.token->info.id + " (" + joined(r.differs)
                   + " differed); the old token is revoked");
              announce(g, *db,
                       tokenadm::notice_of("rotated", r.token->info,
                                           "It replaces " + *r.replaced + ", which is revoked."));
              return 0;
            }
            if (!r.created && !output.empty() && !held && !o->dry_run) {
              throw tokenadm::UsageError("--output " + output + ": the active token "
                                         + r.existing.id + " was made before and is not in it: "
                                         "rotate it to have a new one written there");
            }
            if (r.created) {
              o->out.emit(*db, *r.token, {{"created", true}, {"differs", differs}});
              announce(g, *db, tokenadm::notice_of("created", r.token->info));
              return 0;
            }
            // Nothing new: stdout stays empty in text mode, so a script can
            // tell by the output alone.
            if (o->out.format() == "json") {
              nlohmann::json j;
              if (r.existing.id.empty()) {
                j["would_create"] = true;
              } else {
                j = token_json(r.existing);
              }
              j["created"] = false;
              j["differs"] = differs;
              std::cout << json_text(j) << '\n';
            }
            if (!r.differs.empty()) {
              note("warning: the active token " + r.existing.id + " differs in "
                   + joined(r.differs) + " from what was asked"
                   + (o->dry_run ? "" : ": --converge replaces it"));
            } else if (o->dry_run) {
              note(r.existing.id.empty() ? "dry run: a token would be created"
                                         : "dry run: the active token " + r.existing.id
                                             + " is as asked");
            } else if (isatty(STDERR_FILENO)) {
              note("an active token " + r.existing.id + " exists for owner '" + spec.owner
                   + "', label '" + spec.label + "': nothing created");
            }
            return 0;
          }};
}

} // namespace tokencli
