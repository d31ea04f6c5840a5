#include "common.hpp"

#include <tokenadm/address.hpp>
#include <tokenadm/dsn.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/token.hpp>

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace tokencli {

namespace {

struct VerifyOptions {
  bool batch = false;
  std::vector<std::string> args;
  std::string token_file;
  bool header = false;
  bool no_touch = false;
  bool no_audit = false;
  std::string role;
  std::string scope;
  std::string from;
  std::string format = "text";
};

// A batch line "TOKEN" or "TOKEN ADDR" (one space or tab between): the
// address part, cut off `line`; "" when there is none. Throws
// TokenRejected("malformed") for a bad address.
std::string split_address(std::string& line)
{
  auto end = line.find_last_not_of(" \t\r");
  line.erase(end == std::string::npos ? 0 : end + 1);
  const auto start = line.find_first_not_of(" \t");
  const auto sep = line.find_first_of(" \t", start == std::string::npos ? 0 : start);
  if (sep == std::string::npos) {
    return {};
  }
  std::string addr = line.substr(sep + 1);
  line.erase(sep);
  try {
    return tokenadm::parse_address(addr, "address");
  } catch (const tokenadm::UsageError&) {
    throw tokenadm::TokenRejected("malformed", "the address after the token is not one");
  }
}

std::string first_line(int fd)
{
  LineReader in(fd, tokenadm::k_max_token_input);
  std::string line;
  bool too_long = false;
  in.next(line, too_long);
  if (too_long) {
    throw tokenadm::TokenRejected("malformed", "input is longer than "
                                                 + std::to_string(tokenadm::k_max_token_input)
                                                 + " bytes");
  }
  return line;
}

// From a terminal the token is read without echo.
std::string read_stdin()
{
  const EchoOff quiet(STDIN_FILENO);
  if (!quiet.active()) {
    return first_line(STDIN_FILENO);
  }
  std::cerr << "token: paste the token, then Enter: " << std::flush;
  auto line = first_line(STDIN_FILENO);
  std::cerr << '\n';
  return line;
}

// --token-file, else $TOKENADM_TOKEN, else stdin.
std::string read_token_input(const VerifyOptions& o)
{
  if (!o.token_file.empty()) {
    const int fd = ::open(o.token_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw tokenadm::UsageError("--token-file " + o.token_file + ": " + std::strerror(errno));
    }
    try {
      auto line = first_line(fd);
      ::close(fd);
      return line;
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  if (const char* env = std::getenv("TOKENADM_TOKEN"); env != nullptr && *env != '\0') {
    return std::string(env).substr(0, tokenadm::k_max_token_input + 1);
  }
  return read_stdin();
}

// The co-process's database connection. While the database cannot be
// reached, lines that need it are answered "error unavailable" at once and a
// new connection is tried at most once a second (backing off to every
// k_max_backoff), only when a line needs it.
class BatchLink {
public:
  explicit BatchLink(const Globals& g) : m_g(g) {}

  // A connection, or null while the database is unavailable (then `why`
  // says why). Connects, or reconnects once the backoff has passed.
  tokenadm::Db* get()
  {
    if (m_db) {
      return m_db.get();
    }
    const auto now = Clock::now();
    if (now < m_next_attempt) {
      return nullptr;
    }
    try {
      m_db = connect_verify(m_g);
      m_fresh = true;
      if (m_down) {
        note("connected to the database again");
      }
      m_down = false;
      m_backoff = std::chrono::seconds(1);
      return m_db.get();
    } catch (const tokenadm::ConnectError& e) {
      failed(e.what());
      return nullptr;
    }
  }

  // The connection in use was lost (or a connect failed): closed, and no new
  // attempt before the backoff has passed. Said on stderr once per outage.
  void failed(const std::string& why)
  {
    m_db.reset();
    if (!m_down) {
      note("the database is unavailable (answering 'error unavailable' until it is back): "
           + why);
    }
    m_down = true;
    m_next_attempt = Clock::now() + m_backoff;
    m_backoff = std::min(m_backoff * 2, k_max_backoff);
  }

  // Closes the connection; the next get() connects at once.
  void drop() { m_db.reset(); }

  // The connection was opened for this batch (a failure on it is not a
  // stale connection, so it is not retried at once).
  bool fresh() const { return m_fresh; }
  void used() { m_fresh = false; }

private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds k_max_backoff{2};
  const Globals& m_g;
  DbHandle m_db;
  bool m_fresh = false;
  bool m_down = false;
  Clock::time_point m_next_attempt{};
  std::chrono::seconds m_backoff{1};
};

// Answers for `tokens` (all well-formed; `addresses` as verify_batch takes
// them): checked on the database, or
// "error unavailable" / "error schema" / "error database" for each when it
// cannot answer. Never throws for a database failure.
std::vector<std::string> batch_answers(BatchLink& link, const Globals& g,
                                       const std::vector<std::string>& tokens,
                                       const tokenadm::VerifyRequest& req,
                                       const tokenadm::Hasher& hasher,
                                       const std::vector<std::string>& addresses)
{
  std::string error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto* db = link.get();
    if (db == nullptr) {
      error = "error unavailable";
      break;
    }
    try {
      arm_deadline(g.timeout);
      const auto results = tokenadm::verify_batch(*db, tokens, req, hasher, addresses);
      disarm_deadline();
      link.used();
      std::vector<std::string> out;
      out.reserve(results.size());
      for (const auto& r : results) {
        out.push_back(r.ok ? "ok " + r.id + " " + r.owner : "deny " + r.reason);
      }
      return out;
    } catch (const tokenadm::DbError& e) {
      const bool timed_out = deadline_fired();
      disarm_deadline();
      if (dynamic_cast<const tokenadm::InDoubtError*>(&e) != nullptr) {
        // A commit that may have counted uses: not tried again. The
        // connection is gone; the next lines get a new one at once.
        note(e.what());
        link.drop();
        error = "error unavailable";
        break;
      }
      if (timed_out) {
        // The deadline cancelled the query on the server (rolled back):
        // no answer in time, but the connection is fine.
        note("timed out: a batch query did not finish within --timeout ("
             + std::to_string(deadline_seconds()) + "s), cancelled");
        link.used();
        error = "error unavailable";
        break;
      }
      if (e.code() != "unavailable") {
        // The server answered: the connection is fine, this batch is not.
        note(e.what());
        link.used();
        error = e.code() == "schema" ? "error schema" : "error database";
        break;
      }
      // A connection that was idle may have died long ago (the server
      // restarted): one more try at once, on a new one. A new one that
      // fails says the server is gone.
      if (!link.fresh() && attempt == 0) {
        link.drop();
        continue;
      }
      link.failed(e.what());
      error = "error unavailable";
      break;
    }
  }
  return std::vector<std::string>(tokens.size(), error);
}

// Co-process mode: one token per line in, one answer per line out, in
// order, flushed whenever the input pauses. Lines that arrive together are
// checked together, in one query. It answers every line whatever happens to
// the database, and ends only at the end of its input (or when its output
// cannot be written).
int run_batch(const Globals& g, const VerifyOptions& o, const tokenadm::VerifyRequest& req)
{
  const tokenadm::Hasher hasher(g.cfg);
  // A DSN that can never work is a mistake to report now (exit 1), not an
  // outage to wait out.
  (void)tokenadm::normalise_dsn(verify_dsn(g).first, g.cfg.connect_timeout);
  // Connected when the first well-formed token needs the database, so a
  // stream of malformed ones never touches it.
  BatchLink link(g);
  disarm_deadline(); // the deadline applies per batch, not to the whole stream
  constexpr std::size_t k_max_batch = 10000;
  std::vector<std::string> lines; // complete lines waiting for an answer
  std::vector<bool> too_long;
  std::string current;
  bool discarding = false;
  char buf[65536];
  bool eof = false;
  while (!eof) {
    // Block for some input, then take whatever else is already there.
    do {
      const auto n = read_some(STDIN_FILENO, buf, sizeof buf, "input");
      if (n == 0) {
        eof = true;
        if (!current.empty() || discarding) {
          lines.push_back(current);
          too_long.push_back(discarding);
          current.clear();
        }
        break;
      }
      for (const char* p = buf; p < buf + n; ++p) {
        if (*p == '\n') {
          lines.push_back(current);
          too_long.push_back(discarding);
          current.clear();
          discarding = false;
        } else if (!discarding) {
          current += *p;
          if (current.size() > tokenadm::k_max_token_input) {
            current.clear();
            discarding = true; // the rest of this line is dropped, not held
          }
        }
      }
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      if (lines.size() >= k_max_batch || ::poll(&pfd, 1, 0) <= 0) {
        break;
      }
    } while (true);

    for (std::size_t start = 0; start < lines.size(); start += k_max_batch) {
      const std::size_t end = std::min(lines.size(), start + k_max_batch);
      // Nobody left to read the answers (the web server died): stop before
      // the check counts a use or records a last use for them. One that
      // goes while a batch is checked still sees its uses counted (the
      // safe way: an answer is never given for a use not counted).
      require_writable(STDOUT_FILENO, "answers");
      std::vector<std::string> tokens;
      std::vector<std::string> addresses;
      bool any_address = false;
      std::vector<std::string> answers(end - start);
      std::vector<std::size_t> slot;
      for (std::size_t i = start; i < end; ++i) {
        if (too_long[i]) {
          answers[i - start] = "deny malformed";
          continue;
        }
        try {
          // With --header the line is a whole header: no address on it.
          auto address = o.header ? std::string() : split_address(lines[i]);
          auto token = tokenadm::token_from_input(lines[i], o.header);
          // Decided offline, answered whatever the database's state.
          tokenadm::precheck_token(token);
          tokens.push_back(std::move(token));
          any_address = any_address || !address.empty();
          addresses.push_back(address.empty() && req.address ? *req.address : address);
          slot.push_back(i - start);
        } catch (const tokenadm::TokenRejected& e) {
          answers[i - start] = "deny " + e.reason();
        }
      }
      if (!tokens.empty()) {
        auto results =
          batch_answers(link, g, tokens, req, hasher,
                        any_address ? addresses : std::vector<std::string>{});
        for (std::size_t k = 0; k < results.size(); ++k) {
          answers[slot[k]] = std::move(results[k]);
        }
      }
      std::string out;
      for (const auto& a : answers) {
        out += a;
        out += '\n';
      }
      write_fully(STDOUT_FILENO, out, "answers");
    }
    lines.clear();
    too_long.clear();
  }
  return 0;
}

} // namespace

Command setup_verify(CLI::App& app, Globals& g)
{
  auto* sub = app.add_subcommand("verify", "Check a token read from stdin; print its owner");
  auto o = std::make_shared<VerifyOptions>();
  // Collected only to refuse them: a token in argv is visible to every user
  // through ps and stays in shell history.
  sub->add_option("token", o->args)->group("");
  sub->add_option("--token-file", o->token_file, "Read the token from FILE, not stdin")
    ->type_name("FILE");
  sub->add_flag("--header", o->header, "Input is an 'Authorization: Bearer <token>' line");
  sub->add_flag("--batch", o->batch,
                "Co-process: a token per input line, 'ok ID OWNER' or 'deny REASON' per line");
  sub->add_option("--role", o->role, "The token must have this role (or all)")
    ->type_name("ROLE");
  sub->add_option("--scope", o->scope, "The token must be valid for this scope")
    ->type_name("SCOPE");
  sub->add_option("--from", o->from,
                  "The client's address (for tokens bound with --allow-from; kept as the "
                  "token's last addresses); --batch lines may also be 'TOKEN ADDR'")
    ->type_name("ADDR");
  add_write_flags(*sub, o->no_touch, o->no_audit);
  add_format(*sub, g, o->format, {"text", "json"});

  return {sub, [&g, o] {
            if (!o->args.empty()) {
              throw tokenadm::UsageError(
                "verify does not take the token as an argument (ps and shell history would "
                "show it): pipe it on stdin, or use --token-file or TOKENADM_TOKEN");
            }
            tokenadm::VerifyRequest req;
            if (!o->role.empty()) {
              req.role = o->role;
            }
            if (!o->scope.empty()) {
              req.scope = o->scope;
            }
            if (!o->from.empty()) {
              req.address = tokenadm::parse_address(o->from, "--from");
            }
            // --no-touch and read_only: no write of any kind (hot standby).
            req.touch = !o->no_touch && !g.cfg.read_only;
            req.audit = req.touch && !o->no_audit;
            // Before any input is read or connection made.
            tokenadm::validate_verify_request(req);
            if (o->batch) {
              if (!o->token_file.empty() || o->format != "text") {
                throw tokenadm::UsageError("--batch reads stdin and answers in text");
              }
              return run_batch(g, *o, req);
            }
            const auto token = tokenadm::token_from_input(read_token_input(*o), o->header);
            // Shape and checksum first: a mistyped token costs no connection.
            tokenadm::precheck_token(token);
            // Standard output closed: the owner could not be printed, and
            // a failure must not have counted a use or recorded a last use.
            require_writable(STDOUT_FILENO, "to stdout");
            auto db = connect_verify(g);
            const auto v = tokenadm::verify_token(*db, token, req, tokenadm::Hasher(g.cfg));
            if (v.replaced_by) {
              note("warning: token " + v.id + " was rotated; use " + *v.replaced_by
                   + " instead: this one stops working at " + v.stops_at.value_or("?"));
            }
            if (o->format == "json") {
              std::cout << json_text(nlohmann::json{{"valid", true}, {"id", v.id}, {"owner", v.owner}})
                        << '\n';
            } else {
              std::cout << v.owner << '\n';
            }
            std::cout << std::flush;
            return 0;
          }};
}

} // namespace tokencli
