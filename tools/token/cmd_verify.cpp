#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/token.hpp>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace tokencli {

namespace {

struct VerifyOptions {
  std::vector<std::string> args;
  std::string token_file;
  bool header = false;
  bool no_touch = false;
  bool no_audit = false;
  std::string role;
  std::string scope;
  std::string format = "text";
};

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
  termios old{};
  const bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  if (!tty) {
    return first_line(STDIN_FILENO);
  }
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::cerr << "token: paste the token, then Enter: " << std::flush;
  std::string line;
  try {
    line = first_line(STDIN_FILENO);
  } catch (...) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    throw;
  }
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
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
  sub->add_option("--role", o->role, "The token must have this role (or all)")
    ->type_name("ROLE");
  sub->add_option("--scope", o->scope, "The token must be valid for this scope")
    ->type_name("SCOPE");
  sub->add_flag("--no-touch", o->no_touch,
                "Write nothing: no last_used_at (as read_only = true does)");
  sub->add_flag("--no-audit", o->no_audit,
                "Do not record a failed verification in the audit trail");
  add_format(*sub, g, o->format, {"text", "json"});

  return {sub, [&g, o] {
            if (!o->args.empty()) {
              throw tokenadm::UsageError(
                "verify does not take the token as an argument (ps and shell history would "
                "show it): pipe it on stdin, or use --token-file or TOKENADM_TOKEN");
            }
            const auto token = tokenadm::token_from_input(read_token_input(*o), o->header);
            // Shape and checksum first: a mistyped token costs no connection.
            tokenadm::precheck_token(token);
            tokenadm::VerifyRequest req;
            if (!o->role.empty()) {
              req.role = o->role;
            }
            if (!o->scope.empty()) {
              req.scope = o->scope;
            }
            // --no-touch and read_only: no write of any kind (hot standby).
            req.touch = !o->no_touch && !g.cfg.read_only;
            req.audit = req.touch && !o->no_audit;
            auto db = connect(g);
            const auto v = tokenadm::verify_token(*db, token, req, tokenadm::Hasher(g.cfg));
            if (v.replaced_by) {
              note("warning: token " + v.id + " was rotated; use " + *v.replaced_by
                   + " instead: this one stops working at " + v.stops_at.value_or("?"));
            }
            if (o->format == "json") {
              std::cout << nlohmann::json{{"valid", true}, {"id", v.id}, {"owner", v.owner}}.dump()
                        << '\n';
            } else {
              std::cout << v.owner << '\n';
            }
            std::cout << std::flush;
            return 0;
          }};
}

} // namespace tokencli
