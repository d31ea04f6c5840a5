// token: thin front end over libtokenadm. Parses, loads the configuration,
// runs one subcommand, and maps every error to the SPEC's exit status
// (0/1/2) in one place.
#include "common.hpp"
#include "usage.hpp"

#include <tokenadm/errors.hpp>

#include <iostream>
#include <span>
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
    std::vector<std::string> names;
    for (const auto* c : app.get_subcommands([](const CLI::App*) { return true; })) {
      names.push_back(c->get_name());
    }
    const auto hint = tokencli::did_you_mean(topic, names);
    return report(g, "usage",
                  "unknown command '" + topic.substr(0, 64) + "'"
                    + (hint.empty() ? " (see token --help)" : hint),
                  2);
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

struct SetupEntry {
  const char* name;
  tokencli::Command (*setup)(CLI::App&, tokencli::Globals&);
};

// The command named on the command line: the first argument that is neither
// an option of `app` (the global ones) nor an option's value. Empty when
// there is none or it is not one of `setups`.
std::string_view requested_command(const CLI::App& app, std::span<const SetupEntry> setups,
                                   int argc, char** argv)
{
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      return {};
    }
    if (arg.size() > 1 && arg[0] == '-') {
      const auto* opt = arg.find('=') == std::string_view::npos
                          ? app.get_option_no_throw(std::string(arg))
                          : nullptr;
      if (opt != nullptr && opt->get_type_size_max() > 0) {
        ++i; // its value
      }
      continue;
    }
    for (const auto& s : setups) {
      if (arg == s.name) {
        return arg;
      }
    }
    return {};
  }
  return {};
}

// Sets up only the command asked for: building every command's options costs
// a one-shot command ~1.2 M instructions. All of them when the command line
// does not name one (help, a usage error), so that help and errors are those
// of the whole tool.
std::vector<tokencli::Command> setup_commands(CLI::App& app, tokencli::Globals& g,
                                              std::span<const SetupEntry> setups, int argc,
                                              char** argv)
{
  const auto wanted = requested_command(app, setups, argc, argv);
  std::vector<tokencli::Command> out;
  for (const auto& s : setups) {
    if (wanted.empty() || wanted == s.name) {
      out.push_back(s.setup(app, g));
    }
  }
  return out;
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
  app.formatter(tokencli::make_formatter());
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
                    ->check(tokencli::in_range(0, 86400));

  // Each command's name and set-up function (append new ones here).
  static constexpr SetupEntry k_setups[] = {
    {"init", tokencli::setup_init},     {"create", tokencli::setup_create},
    {"ensure", tokencli::setup_ensure}, {"list", tokencli::setup_list},
    {"show", tokencli::setup_show},     {"verify", tokencli::setup_verify},
    {"revoke", tokencli::setup_revoke}, {"rotate", tokencli::setup_rotate},
    {"renew", tokencli::setup_renew},   {"prune", tokencli::setup_prune},
    {"import", tokencli::setup_import}, {"audit", tokencli::setup_audit},
    {"notify", tokencli::setup_notify}, {"config", tokencli::setup_config},
    {"scan", tokencli::setup_scan},
    {"serve", tokencli::setup_serve},
    {"suspend", tokencli::setup_suspend}, {"resume", tokencli::setup_resume},
  };
  std::vector<tokencli::Command> commands = setup_commands(app, g, k_setups, argc, argv);
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
    return report(g, "usage", tokencli::usage_message(app, e, argc, argv), 2);
  }

  if (help->parsed()) {
    return print_help(g, app, help_topic);
  }

  tokencli::set_quiet(quiet);
  try {
    g.cfg = tokenadm::load_config(g.config_path);
    g.cfg.email.log_unsent = !quiet; // --quiet: no mail bodies on stderr either
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
