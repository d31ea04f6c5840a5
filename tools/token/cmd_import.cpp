#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>

#include <unistd.h>

#include <iostream>

namespace tokencli {

namespace {

// The ids of imported tokens, committed; if they cannot be printed the
// import is withdrawn (revoked, audited) rather than left unreported.
// JSON: one document, {"imported": [ids]} and `extra`.
void print_ids(tokenadm::Db& db, const std::vector<std::string>& ids, bool json,
               nlohmann::json extra)
{
  mark_committed();
  try {
    if (json) {
      extra["imported"] = ids;
      std::cout << json_text(extra) << '\n';
    } else {
      for (const auto& id : ids) {
        std::cout << id << '\n';
      }
    }
    flush_stdout();
  } catch (const tokenadm::Error& e) {
    withdraw(db, ids, e.what());
  }
}

} // namespace

Command setup_import(CLI::App& app, Globals& g)
{
  struct Options {
    TokenOptions token;
    bool from_gs = false;
    bool remove_plaintext = false;
    std::string format = "text";
  };
  auto* sub = app.add_subcommand(
    "import", "Store legacy plaintext tokens (one per line on stdin) as digests");
  auto o = std::make_shared<Options>();
  add_token_options(*sub, o->token, false);
  auto* gs = sub->add_flag("--from-gs", o->from_gs,
                           "Import GroupServer's token from its option table instead of stdin");
  sub->add_flag("--remove-plaintext", o->remove_plaintext,
                "With --from-gs: delete gs's plaintext row in the same transaction")
    ->needs(gs);
  add_format(*sub, g, o->format, {"text", "json"});

  return {sub, [&g, o] {
            const bool json = o->format == "json";
            auto spec = to_spec(o->token, g.cfg);
            const auto actor = tokenadm::current_actor();
            if (o->from_gs) {
              if (spec.label.empty()) {
                spec.label = "gs.auth.token";
              }
              auto db = connect(g);
              const auto r = tokenadm::import_from_gs(*db, spec, g.cfg.policy,
                                                      tokenadm::Hasher(g.cfg), actor,
                                                      o->remove_plaintext);
              print_ids(*db, r.ids, json,
                        {{"already_imported", r.ids.empty()},
                         {"removed_plaintext", o->remove_plaintext}});
              note(r.ids.empty() ? "gs's token was imported before: nothing to do"
                                 : "imported gs's token as " + r.ids.front());
              if (o->remove_plaintext) {
                note("removed the plaintext gs.auth.token row");
              }
              return 0;
            }
            if (isatty(STDIN_FILENO)) {
              note("reading tokens from stdin, one per line; end with Ctrl-D");
            }
            // All lines are read and checked before connecting: nothing is
            // stored unless every line is a token.
            std::vector<std::string> tokens;
            LineReader in(STDIN_FILENO, 256);
            std::string line;
            bool too_long = false;
            for (std::size_t n = 1; in.next(line, too_long); ++n) {
              if (too_long) {
                throw tokenadm::UsageError("line " + std::to_string(n)
                                           + " is longer than 256 bytes: not a token");
              }
              const auto b = line.find_first_not_of(" \t\r");
              if (b == std::string::npos) {
                throw tokenadm::UsageError("line " + std::to_string(n) + " is empty");
              }
              tokens.push_back(line.substr(b, line.find_last_not_of(" \t\r") - b + 1));
              if (tokens.size() > 100000) {
                throw tokenadm::UsageError("more than 100000 tokens: import in batches");
              }
            }
            if (tokens.empty()) {
              throw tokenadm::UsageError("no tokens on stdin");
            }
            auto db = connect(g);
            tokenadm::ImportResult r;
            {
              ProgressLine progress("importing");
              r = tokenadm::import_tokens(*db, tokens, spec, g.cfg.policy, tokenadm::Hasher(g.cfg),
                                          actor, "import", progress.callback());
            }
            print_ids(*db, r.ids, json, {{"duplicates", r.duplicates}});
            note("imported " + std::to_string(r.ids.size()) + " token(s)"
                 + (r.duplicates ? ", " + std::to_string(r.duplicates) + " already present" : ""));
            return 0;
          }};
}

} // namespace tokencli
