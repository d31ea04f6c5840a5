// token: thin front end over libtokenadm. Parses, loads the configuration,
// runs one subcommand, and maps every error to the SPEC's exit status
// (0/1/2) in one place.
#include "common.hpp"

#include <tokenadm/errors.hpp>

#include <iostream>
#include <string_view>

namespace {

int report(const tokencli::Globals& g, const std::string& code, const std::string& message,
           int status, nlohmann::json extra = nlohmann::json::object())
{
  auto safe = tokenadm::redact_tokens(message);
  for (auto& c : safe) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  std::cerr << "token: " << safe << '\n' << std::flush;
  if (g.json) {
    extra["error"] = {{"code", code}, {"message", safe}};
    std::cout << extra.dump(
                   -1, ' ', false, nlohmann::json::error_handler_t::replace)
              << '\n';
    std::cout.flush();
  }
  return status;
}

// `token help [COMMAND]`: the text `token [COMMAND] --help` prints.
int print_help(const tokencli::Globals& g, const CLI::App& app, const std::string& topic)
{
  if (topic.empty()) {
    std::cout << app.get_formatter()->make_help(&app, "token", CLI::AppFormatMode::Normal);
    return 0;
  }
  const CLI::App* sub = nullptr;
  try {
    sub = app.get_subcommand(topic);
  } catch (const CLI::OptionNotFound&) {
    return report(g, "usage", "no such command: " + topic.substr(0, 64) + " (see token --help)", 2);
  }
  std::cout << sub->help("token");
  return 0;
}

// --format json anywhere in argv, read by hand: a parse error can come
// before CLI11 has seen the option, and its answer must be JSON too.
bool wants_json(int argc, char** argv)
{
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") {
      break;
    }
    if (a == "--format=json" || (a == "--format" && i + 1 < argc && std::string_view(argv[i + 1]) == "json")) {
      return true;
    }
  }
  return false;
}

} // namespace

int main(int argc, char** argv)
{
  // Output is written through std::cout only: no need to keep it in step
  // with C stdio, and unsynchronised it is buffered.
  std::ios::sync_with_stdio(false);
  tokencli::init_process();
  tokencli::Globals g;
  CLI::App app{"token: create, list, revoke, rotate and verify authentication tokens kept in "
               "PostgreSQL"};
  app.name("token");
  app.set_version_flag("--version", "token (tokenadm) " TOKENADM_VERSION);
  app.require_subcommand(1, 1);
  app.fallthrough();
  app.footer("Exit status: 0 success, 1 no database connection, 2 any other failure.\n"
             "See token(1), token-<command>(1) and tokenadm.toml(5).");
  app.add_option("--dsn", g.dsn, "PostgreSQL DSN (else TOKENADM_DSN, the config, libpq defaults)")
    ->type_name("DSN");
  app.add_option("--verify-dsn", g.verify_dsn,
                 "DSN for verify (else TOKENADM_VERIFY_DSN, the config's verify_dsn, the DSN)")
    ->type_name("DSN");
  app.add_option("--config", g.config_path, "Configuration file (else TOKENADM_CONFIG, ...)")
    ->type_name("FILE");
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "Print only warnings and errors on stderr (for cron)");
  auto* timeout = app.add_option("--timeout", g.timeout,
                                 "Whole-command deadline in seconds, 0 for none (default 60)")
                    ->type_name("SECONDS")
                    ->check(CLI::Range(0, 86400));

  std::vector<tokencli::Command> commands{
    tokencli::setup_init(app, g),   tokencli::setup_create(app, g), tokencli::setup_ensure(app, g),
    tokencli::setup_list(app, g),   tokencli::setup_show(app, g),   tokencli::setup_verify(app, g),
    tokencli::setup_revoke(app, g), tokencli::setup_rotate(app, g), tokencli::setup_renew(app, g),
    tokencli::setup_prune(app, g),  tokencli::setup_import(app, g), tokencli::setup_audit(app, g),
    tokencli::setup_notify(app, g), tokencli::setup_config(app, g),
    tokencli::setup_scan(app, g),
    tokencli::setup_serve(app, g),
    tokencli::setup_suspend(app, g), tokencli::setup_resume(app, g),
  };
  // git-like: `token help create` is `token create --help`.
  std::string help_topic;
  auto* help = app.add_subcommand("help", "Print this help, or a command's (token help COMMAND)");
  help->add_option("command", help_topic, "The command to describe")->type_name("COMMAND");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own codes (100+) never leave: a usage error is 2.
    g.json = g.json || wants_json(argc, argv);
    return report(g, "usage", std::string(e.what()) + " (see token --help)", 2);
  }

  if (help->parsed()) {
    return print_help(g, app, help_topic);
  }

  tokencli::set_quiet(quiet);
  try {
    g.cfg = tokenadm::load_config(g.config_path);
    // flag > environment > file > default
    if (timeout->count() == 0) {
      g.timeout = g.cfg.timeout;
    } else {
      g.cfg.timeout = g.timeout;
      g.cfg.sources["timeout"] = "flag --timeout";
    }
    tokencli::arm_deadline(g.timeout);
    for (const auto& c : commands) {
      if (c.app->parsed()) {
        const int status = c.run();
        tokencli::flush_stdout();
        return status;
      }
    }
    return report(g, "usage", "no subcommand given (see token --help)", 2);
  } catch (const tokenadm::Error& e) {
    if (e.code() == "epipe") {
      // The reader went away (`token list | head -1`): not worth a word.
      return 2;
    }
    if (tokencli::deadline_fired() && e.code() != "output") {
      // The deadline cancelled the statement on the server: its
      // transaction was rolled back (a lost COMMIT says "outcome unknown").
      const std::string what = e.what();
      const bool unknown = what.find("outcome is unknown") != std::string::npos;
      return report(g, "timeout",
                    "timed out: the command did not finish within --timeout ("
                      + std::to_string(tokencli::deadline_seconds()) + "s)"
                      + (unknown ? "; outcome unknown: " + what : "; cancelled, nothing was changed"),
                    2);
    }
    nlohmann::json extra = nlohmann::json::object();
    if (dynamic_cast<const tokenadm::TokenRejected*>(&e) != nullptr) {
      // verify's answer, failed: {"valid": false, "reason": ...}.
      extra = {{"valid", false}, {"reason", e.code()}};
    }
    return report(g, e.code(), e.what(), e.exit_code(), extra);
  } catch (const std::exception& e) {
    return report(g, "internal", std::string("internal error: ") + e.what(), 2);
  }
}
