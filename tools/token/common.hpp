// What the subcommands share: global options, connecting, output helpers.
#pragma once

#include <tokenadm/db.hpp>
#include <tokenadm/store.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tokencli {

struct Globals {
  std::string dsn;
  int timeout = 60;
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
Command setup_list(CLI::App& app, Globals& g);
Command setup_revoke(CLI::App& app, Globals& g);
Command setup_verify(CLI::App& app, Globals& g);

// Connects with the DSN resolved in SPEC order. After it returns, a
// deadline expiry exits 2 rather than 1.
std::unique_ptr<tokenadm::Db> connect(const Globals& g, const std::string& positional_dsn = {});

// Arms the whole-command deadline (0 disables).
void arm_deadline(int seconds);

// Adds --format with the given choices, storing into `format` and setting
// g.json when it is json.
CLI::Option* add_format(CLI::App& app, Globals& g, std::string& format,
                        const std::vector<std::string>& choices);

nlohmann::json token_json(const tokenadm::TokenInfo& t);

// One line to stderr: "token: <message>".
void note(const std::string& message);

} // namespace tokencli
