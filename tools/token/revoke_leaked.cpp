// token revoke --leaked: revokes the tokens whose values turn up in leaked
// text, streamed (constant memory whatever the input's size) and looked up
// a batch at a time.
#include "common.hpp"

#include <tokenadm/digest.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/scan.hpp>
#include <tokenadm/store.hpp>
#include <tokenadm/text.hpp>
#include <tokenadm/token.hpp>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>

namespace tokencli {

namespace {

// Tokens a statement: a few hundred KB of parameters, one round trip.
constexpr std::size_t k_batch = 1000;
// Repeats of a token are reported once; the memory for telling them apart
// is bounded (a crafted input of more distinct tokens than this may see a
// later repeat reported again, as already revoked).
constexpr std::size_t k_max_seen = 100000;

class LeakRun {
public:
  LeakRun(const Globals& g, const LeakedOptions& o)
    : m_g(g), m_o(o), m_hasher(g.cfg), m_json(o.format == "json")
  {
  }

  // One token found on `line`; `id` is the one in its text (empty for a
  // legacy token).
  void add(std::string id, std::uint64_t line, std::string_view token)
  {
    const auto key = m_hasher.candidates(token).front().hex;
    if (m_seen.count(key) > 0) {
      return;
    }
    if (m_seen.size() < k_max_seen) {
      m_seen.insert(key);
    }
    m_leaked.emplace_back(token);
    m_found.push_back({std::move(id), line});
    if (m_found.size() >= k_batch) {
      flush();
    }
  }

  void flush()
  {
    if (m_found.empty()) {
      return;
    }
    // The deadline bounds each batch's connect and statement, not the
    // reading of the input.
    arm_deadline(m_g.timeout);
    if (!m_db) {
      m_db = connect(m_g);
    }
    const auto out = tokenadm::revoke_leaked(*m_db, m_leaked, m_hasher, m_o.source, m_actor);
    disarm_deadline();
    mark_committed();
    for (std::size_t i = 0; i < out.size(); ++i) {
      report(m_found[i], out[i]);
    }
    flush_stdout();
    for (const auto& r : out) {
      if (r.status == tokenadm::RevokeOutcome::Status::revoked) {
        announce(m_g, *m_db,
                 tokenadm::Notice{"leaked", r.id, r.owner, r.label, r.contact, std::nullopt,
                                  m_o.source.empty() ? std::string()
                                                     : "Where it was found: " + m_o.source});
      }
    }
    m_found.clear();
    m_leaked.clear();
  }

  std::size_t total() const { return m_revoked + m_already + m_unknown; }

  std::string summary() const
  {
    return "found " + std::to_string(total()) + " token(s): " + std::to_string(m_revoked)
           + " revoked, " + std::to_string(m_already) + " already revoked, "
           + std::to_string(m_unknown) + " unknown";
  }

private:
  struct Found {
    std::string id;
    std::uint64_t line;
  };

  void report(const Found& f, const tokenadm::RevokeOutcome& r)
  {
    using S = tokenadm::RevokeOutcome::Status;
    const char* status = r.status == S::revoked           ? "revoked"
                         : r.status == S::already_revoked ? "already-revoked"
                                                          : "unknown";
    (r.status == S::revoked ? m_revoked : r.status == S::already_revoked ? m_already : m_unknown)++;
    // A legacy token that matches nothing has no id to show: its line
    // stands for it.
    const auto id = r.status == S::unknown ? f.id : r.id;
    if (m_json) {
      nlohmann::json j{{"status", status},
                       {"id", id.empty() ? nlohmann::json(nullptr) : nlohmann::json(id)},
                       {"line", f.line}};
      if (r.status != S::unknown) {
        j["owner"] = r.owner;
      }
      if (r.status == S::already_revoked) {
        j["revoked_at"] = r.revoked_at.value_or("");
      }
      std::cout << json_text(j) << '\n';
    } else if (r.status == S::revoked) {
      std::cout << status << ' ' << id << (r.owner.empty() ? "" : " " + r.owner) << '\n';
    } else {
      std::cout << status << ' ' << (id.empty() ? "(line " + std::to_string(f.line) + ")" : id)
                << '\n';
    }
    check_stdout();
  }

  const Globals& m_g;
  const LeakedOptions& m_o;
  const tokenadm::Hasher m_hasher;
  const bool m_json;
  const tokenadm::Actor m_actor = tokenadm::current_actor();
  DbHandle m_db;
  std::vector<Found> m_found;
  std::vector<std::string> m_leaked;
  std::unordered_set<std::string> m_seen;
  std::size_t m_revoked = 0;
  std::size_t m_already = 0;
  std::size_t m_unknown = 0;
};

// --legacy: each non-empty line (blanks around it trimmed) is one token,
// imported (no check characters) or tokenadm's (whose check must verify).
// Returns the number of lines that are neither, skipped.
std::size_t read_legacy(int fd, LeakRun& run)
{
  LineReader in(fd, tokenadm::k_max_token_input);
  std::string line;
  bool too_long = false;
  std::size_t skipped = 0;
  for (std::uint64_t n = 1; in.next(line, too_long); ++n) {
    const auto b = line.find_first_not_of(" \t\r");
    if (too_long || b == std::string::npos) {
      skipped += too_long ? 1 : 0;
      continue;
    }
    const auto token = std::string_view(line).substr(b, line.find_last_not_of(" \t\r") - b + 1);
    if (tokenadm::looks_like_token(token)) {
      try {
        run.add(tokenadm::parse_token(token).id, n, token);
      } catch (const tokenadm::TokenRejected&) {
        ++skipped; // a bad check: not a token of ours
      }
    } else if (tokenadm::looks_like_legacy_token(token)) {
      run.add({}, n, token);
    } else {
      ++skipped;
    }
  }
  return skipped;
}

} // namespace

int revoke_leaked(const Globals& g, const LeakedOptions& o)
{
  tokenadm::check_text(o.source, "--source", 1024);
  int fd = STDIN_FILENO;
  std::string what = "stdin";
  if (!o.from.empty() && o.from != "-") {
    fd = ::open(o.from.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      throw tokenadm::Error("io", "cannot read " + tokenadm::redact_tokens(o.from) + ": "
                                    + std::strerror(errno));
    }
    what = tokenadm::redact_tokens(o.from);
  } else if (::isatty(STDIN_FILENO) != 0) {
    note("reading the leaked text from stdin; end with Ctrl-D");
  }
  struct Closer {
    int fd;
    ~Closer()
    {
      if (fd != STDIN_FILENO) {
        ::close(fd);
      }
    }
  } closer{fd};
  // Reading may take long (a huge file, a slow pipe): the deadline applies
  // to each batch's work on the database instead.
  disarm_deadline();
  LeakRun run(g, o);
  std::size_t skipped = 0;
  if (o.legacy) {
    skipped = read_legacy(fd, run);
  } else {
    tokenadm::scan_fd(
      fd,
      [&run](const tokenadm::ScanFinding& f) { run.add(std::string(f.id), f.line, f.token); },
      what);
  }
  run.flush();
  if (skipped > 0) {
    note("skipped " + std::to_string(skipped) + " line(s) that are not tokens");
  }
  if (run.total() == 0) {
    note(o.legacy ? "no token found in the input: nothing revoked"
                  : "no token found in the input: nothing revoked (give the leaked text itself; "
                    "token scan prints only IDs)");
  } else {
    note(run.summary());
  }
  return 0;
}

} // namespace tokencli
