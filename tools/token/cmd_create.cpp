#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>

#include <unistd.h>

#include <iostream>

namespace tokencli {

Command setup_create(CLI::App& app, Globals& g)
{
  struct Options {
    std::string positional_dsn;
    TokenOptions token;
    TokenOutput out;
  };
  auto* sub = app.add_subcommand("create", "Create a token and print it on stdout");
  auto o = std::make_shared<Options>();
  sub->add_option("dsn", o->positional_dsn,
                  "DSN, as gs_auth_token_create takes it (--dsn is preferred)")
    ->type_name("DSN");
  add_token_options(*sub, o->token);
  o->out.add_options(*sub, g);

  return {sub, [&g, o] {
            const auto spec = to_spec(o->token, g.cfg);
            o->out.open();
            auto db = connect(g, o->positional_dsn);
            const tokenadm::Hasher hasher(g.cfg);
            const auto created =
              tokenadm::create_token(*db, spec, g.cfg.policy, hasher, tokenadm::current_actor());
            // Committed: only now does the token leave the process.
            o->out.emit(created);
            return 0;
          }};
}

Command setup_ensure(CLI::App& app, Globals& g)
{
  struct Options {
    TokenOptions token;
    TokenOutput out;
  };
  auto* sub = app.add_subcommand(
    "ensure", "Create a token for --owner and --label unless an active one exists");
  auto o = std::make_shared<Options>();
  add_token_options(*sub, o->token);
  o->out.add_options(*sub, g);

  return {sub, [&g, o, sub] {
            if (sub->count("--owner") == 0 || sub->count("--label") == 0) {
              throw tokenadm::UsageError("ensure needs --owner and --label: they name the token");
            }
            const auto spec = to_spec(o->token, g.cfg);
            // Run again with the same --output, the file is there: fine as
            // long as its token is still active; a new one could not be
            // written, so none is made.
            o->out.open(true);
            auto db = connect(g);
            if (o->out.existing()) {
              tokenadm::ListFilter f;
              f.owner = spec.owner;
              f.label = spec.label;
              f.state = "active";
              bool active = false;
              tokenadm::list_tokens(*db, f, [&](const tokenadm::TokenInfo&) { active = true; });
              if (!active) {
                throw tokenadm::UsageError("--output file exists but no active token for this "
                                           "owner and label: remove it to have one made");
              }
            }
            const tokenadm::Hasher hasher(g.cfg);
            const auto r =
              tokenadm::ensure_token(*db, spec, g.cfg.policy, hasher, tokenadm::current_actor());
            if (r.created) {
              o->out.emit(*r.token, {{"created", true}});
              return 0;
            }
            // Nothing new: stdout stays empty in text mode, so a script can
            // tell by the output alone.
            if (o->out.format() == "json") {
              auto j = token_json(r.existing);
              j["created"] = false;
              std::cout << j.dump() << '\n';
            }
            if (isatty(STDERR_FILENO)) {
              note("an active token " + r.existing.id + " exists for owner '" + spec.owner
                   + "', label '" + spec.label + "': nothing created");
            }
            return 0;
          }};
}

} // namespace tokencli
