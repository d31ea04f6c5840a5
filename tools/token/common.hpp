// What the subcommands share: global options, configuration, connecting,
// the options that describe a new token, and output helpers.
#pragma once

#include <tokenadm/config.hpp>
#include <tokenadm/db.hpp>
#include <tokenadm/notify.hpp>
#include <tokenadm/store.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tokencli {

struct Globals {
  std::string dsn;         // --dsn
  std::string verify_dsn;  // --verify-dsn
  std::string config_path; // --config
  int timeout = 60;        // --timeout (see main for precedence)
  tokenadm::Config cfg;    // loaded after parsing, before a command runs
  // Set by a subcommand's --format json: errors then also go to stdout as
  // {"error": {...}}.
  bool json = false;
};

using Runner = std::function<int()>;

struct Command {
  CLI::App* app;
  Runner run;
};

// Each cmd_<name>.cpp defines one of these.
Command setup_init(CLI::App& app, Globals& g);
Command setup_create(CLI::App& app, Globals& g);
Command setup_ensure(CLI::App& app, Globals& g);
Command setup_list(CLI::App& app, Globals& g);
Command setup_show(CLI::App& app, Globals& g);
Command setup_revoke(CLI::App& app, Globals& g);
Command setup_rotate(CLI::App& app, Globals& g);
Command setup_renew(CLI::App& app, Globals& g);
Command setup_prune(CLI::App& app, Globals& g);
Command setup_import(CLI::App& app, Globals& g);
Command setup_verify(CLI::App& app, Globals& g);
Command setup_config(CLI::App& app, Globals& g);
Command setup_audit(CLI::App& app, Globals& g);
Command setup_notify(CLI::App& app, Globals& g);
Command setup_scan(CLI::App& app, Globals& g);
Command setup_serve(CLI::App& app, Globals& g);
Command setup_suspend(CLI::App& app, Globals& g);
Command setup_resume(CLI::App& app, Globals& g);

// Mails a notice after a committed change; a failure is a warning on
// stderr (and an audit row), never a failed command.
void announce(const Globals& g, tokenadm::Db& db, const tokenadm::Notice& notice);

// The DSN in SPEC order and where it came from.
std::pair<std::string, std::string> effective_dsn(const Globals& g,
                                                  const std::string& positional_dsn = {});

// Closes a connection, first taking it away from the deadline's watchdog.
struct DbCloser {
  void operator()(tokenadm::Db* db) const noexcept;
};
using DbHandle = std::unique_ptr<tokenadm::Db, DbCloser>;

// Connects with the DSN resolved in SPEC order. Only a deadline that
// expires while connecting exits 1; once connected, an expired deadline
// cancels the running statement on the server (its transaction rolls
// back) and the command fails with deadline_fired() set.
DbHandle connect(const Globals& g, const std::string& positional_dsn = {});

// The DSN verification uses (see tokenadm::resolve_verify_dsn) and where it
// came from; connect_verify() connects to it as connect() does.
std::pair<std::string, std::string> verify_dsn(const Globals& g);
DbHandle connect_verify(const Globals& g);

// First thing in main: fds 0-2 open (/dev/null where closed, the wrong way
// round so a write to a closed stdout still fails), SIGPIPE ignored, and
// INT/TERM/HUP/QUIT undo EchoOff and set_cleanup_file before dying.
void init_process();

// Arms the whole-command deadline (0 disables); disarm stops it.
void arm_deadline(int seconds);
void disarm_deadline();
bool deadline_fired();
int deadline_seconds();
// The command's change is committed; a deadline after it says so.
void mark_committed();
// The token a command works on, named by a deadline's "see token show ID".
void set_subject(const std::string& id);
// A file to remove if the process dies (deadline, signal) before it is
// complete.
void set_cleanup_file(const std::string& path);
void clear_cleanup_file();

// Terminal echo off on `fd` (when it is a terminal) for the object's life,
// restored also when the process dies on a deadline or a signal.
class EchoOff {
public:
  explicit EchoOff(int fd);
  ~EchoOff();
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
  bool active() const { return m_active; }

private:
  bool m_active = false;
};

// Flushes stdout and throws Error("output") (Error("epipe") when the
// reader has gone) if anything written to it was lost.
void flush_stdout();
// The same without flushing, for a loop that writes rows: call it right
// after writing, while errno still tells why a write failed.
void check_stdout();

// token revoke --leaked: reads token values from `from` (a file; empty or
// "-": stdin) inside any text, or one a line with `legacy`, and revokes
// those stored. Prints one line each (revoked, already-revoked, unknown),
// never a secret; mails the revoked ones' contacts.
struct LeakedOptions {
  std::string from;
  std::string source;
  bool legacy = false;
  std::string format = "text";
};
int revoke_leaked(const Globals& g, const LeakedOptions& o);

// Adds --format with the given choices, storing into `format` and setting
// g.json when it is json.
CLI::Option* add_format(CLI::App& app, Globals& g, std::string& format,
                        const std::vector<std::string>& choices);

// The options that describe a new token (create, ensure, import).
struct TokenOptions {
  std::string owner;
  std::string label;
  std::vector<std::string> roles;
  std::vector<std::string> scopes;
  std::string contact;
  std::vector<std::string> meta;
  std::string expires_in;
  std::string expires_at;
  bool no_expiry = false;
  std::vector<std::string> allow_from;
  std::int64_t max_uses = 0; // 0: no limit
};
void add_token_options(CLI::App& app, TokenOptions& o, bool with_details = true);
tokenadm::NewToken to_spec(const TokenOptions& o, const tokenadm::Config& cfg);

// --no-touch and --no-audit, the writes a verification may skip (verify,
// serve).
void add_write_flags(CLI::App& app, bool& no_touch, bool& no_audit);

// A whole pasted token where an ID is expected: replaced by its ID, with a
// note that it has leaked into the shell history.
void take_id(std::string& id, bool revoking = false);

// What revoke, suspend and resume act on: token IDs, or a bulk filter.
// Throws UsageError unless exactly one of them is given, and --yes or
// --dry-run comes with (and only with) a bulk one. A whole token given as
// an ID is cut to its ID, with a note. `verb` names the action, `filters`
// the bulk options, in messages.
void check_targets(std::vector<std::string>& ids, bool bulk, bool yes, bool dry_run,
                   const std::string& verb, const std::string& filters);

// Prints a new token after its commit: alone on stdout (text), as JSON
// with a "token" field, or into a new 0600 --output file. `extra` fields are
// added to the JSON document.
class TokenOutput {
public:
  TokenOutput() = default;
  TokenOutput(const TokenOutput&) = delete;
  TokenOutput& operator=(const TokenOutput&) = delete;
  ~TokenOutput();

  void add_options(CLI::App& app, Globals& g);
  // Creates the --output file before any database work, so a bad path
  // fails early; it is removed again if no token is written. With
  // `tolerate_existing` (ensure), an existing file is left alone and
  // existing() says so.
  void open(bool tolerate_existing = false);
  bool existing() const { return m_existing; }
  // A token that cannot be delivered (a full disk, a closed stdout or
  // pipe) is revoked again in a new transaction (reason "output failed",
  // audited) and Error("output") names its id: no active token is left
  // that nobody received.
  void emit(tokenadm::Db& db, const tokenadm::CreatedToken& created,
            const nlohmann::json& extra = {});
  // Bulk: one token per line (text), one JSON array, or all into --output.
  void emit_all(tokenadm::Db& db, const std::vector<tokenadm::CreatedToken>& created);
  const std::string& format() const { return m_format; }

private:
  void write_file(const std::string& text);
  void write_all(const std::vector<tokenadm::CreatedToken>& created, const nlohmann::json& extra);
  void write_stdout(const std::vector<tokenadm::CreatedToken>& created,
                    const nlohmann::json& extra, const std::string& text);

  std::string m_format = "text";
  std::string m_output;
  int m_fd = -1;
  bool m_existing = false;
};

nlohmann::json token_json(const tokenadm::TokenInfo& t);

// One JSON document on one line, without a newline; bytes that are not
// UTF-8 are replaced (U+FFFD), never thrown over.
std::string json_text(const nlohmann::json& j);

// After a committed change whose output failed: revokes `ids` in a new
// transaction (reason "output failed") and throws Error("output") naming
// them and `cause`.
[[noreturn]] void withdraw(tokenadm::Db& db, const std::vector<std::string>& ids,
                           const std::string& cause);

// Prints one token's details as "key: value" lines.
void print_details(const tokenadm::TokenInfo& t);

// A progress line on stderr for long operations, only when stderr is a
// terminal (cron and scripts see nothing); cleared when done.
class ProgressLine {
public:
  explicit ProgressLine(std::string what);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  void update(std::size_t done, std::size_t total);
  tokenadm::Progress callback()
  {
    return [this](std::size_t done, std::size_t total) { update(done, total); };
  }

private:
  std::string m_what;
  bool m_tty;
  bool m_shown = false;
};

// One line to stderr: "token: <message>". With --quiet only warnings
// ("warning: ...") are printed; errors go through main's report().
void note(const std::string& message);
void set_quiet(bool quiet);

// read(2) and write(2) that retry on EINTR and throw Error("io") with
// `what` named on failure; write_fully writes all of `text`.
std::size_t read_some(int fd, char* buf, std::size_t size, const std::string& what);
void write_fully(int fd, const std::string& text, const std::string& what);
// Throws Error("output") when `fd` can already be seen to take no more: a
// pipe whose reader is gone, a socket shut down both ways, a hung-up
// terminal, a descriptor open only for reading (a closed stdout, see
// init_process). A full disk is not seen, nor a TCP peer that has closed
// (until a write draws its reset).
void require_writable(int fd, const std::string& what);

// Buffered lines from a file descriptor, each at most `limit` bytes: a
// longer line is drained (never held in memory) and reported too long.
class LineReader {
public:
  LineReader(int fd, std::size_t limit) : m_fd(fd), m_limit(limit) {}
  // False at the end of input. `line` has no newline.
  bool next(std::string& line, bool& too_long);

private:
  int m_fd;
  std::size_t m_limit;
  char m_buf[65536];
  std::size_t m_pos = 0;
  std::size_t m_len = 0;
  bool m_eof = false;
};

} // namespace tokencli
