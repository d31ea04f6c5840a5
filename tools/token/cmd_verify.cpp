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
  std::string role;
  std::string scope;
  std::string format = "text";
};

// Up to the first newline, reading at most k_max_token_input + 1 bytes so a
// huge input costs nothing and is rejected as too long.
std::string read_first_line(int fd)
{
  std::string buf;
  char chunk[1024];
  while (buf.size() <= tokenadm::k_max_token_input) {
    const auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      throw tokenadm::UsageError(std::string("cannot read the token: ") + std::strerror(errno));
    }
    if (n == 0) {
      break;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    if (const auto nl = buf.find('\n'); nl != std::string::npos) {
      buf.resize(nl);
      break;
    }
  }
  return buf;
}

// From a terminal the token is read without echo.
std::string read_stdin()
{
  if (!isatty(STDIN_FILENO)) {
    return read_first_line(STDIN_FILENO);
  }
  termios old{};
  const bool have = tcgetattr(STDIN_FILENO, &old) == 0;
  if (have) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::cerr << "token: paste the token, then Enter: " << std::flush;
  std::string line;
  try {
    line = read_first_line(STDIN_FILENO);
  } catch (...) {
    if (have) {
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    }
    throw;
  }
  if (have) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  }
  std::cerr << '\n';
  return line;
}

std::string read_token_input(const VerifyOptions& o)
{
  if (!o.token_file.empty()) {
    const int fd = ::open(o.token_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw tokenadm::UsageError("--token-file " + o.token_file + ": " + std::strerror(errno));
    }
    try {
      auto line = read_first_line(fd);
      ::close(fd);
      return line;
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  if (const char* env = std::getenv("TOKENADM_TOKEN"); env != nullptr) {
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
  add_format(*sub, g, o->format, {"text", "json"});

  return {sub, [&g, o] {
            if (!o->args.empty()) {
              throw tokenadm::UsageError(
                "verify does not take the token as an argument (ps and shell history would "
                "show it): pipe it on stdin, or use --token-file or TOKENADM_TOKEN");
            }
            const auto token = tokenadm::token_from_input(read_token_input(*o), o->header);
            // Shape and checksum first: a mistyped token costs no connection.
            tokenadm::parse_token(token);
            tokenadm::VerifyRequest req;
            if (!o->role.empty()) {
              req.role = o->role;
            }
            if (!o->scope.empty()) {
              req.scope = o->scope;
            }
            auto db = connect(g);
            const auto v = tokenadm::verify_token(*db, token, req);
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
