#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>

#include <unistd.h>

#include <iostream>

namespace tokencli {

namespace {

template<typename Options>
int create_bulk(Globals& g, Options& o, const tokenadm::NewToken& spec, bool counted)
{
  std::vector<std::string> labels;
  if (o.labels_from_stdin) {
    LineReader in(STDIN_FILENO, 256);
    std::string line;
    bool too_long = false;
    for (std::size_t n = 1; in.next(line, too_long); ++n) {
      if (too_long) {
        throw tokenadm::UsageError("label on line " + std::to_string(n) + " is longer than 256 bytes");
      }
      labels.push_back(line);
      if (labels.size() > 1000000) {
        throw tokenadm::UsageError("more than 1000000 labels: create in batches");
      }
    }
    if (labels.empty()) {
      throw tokenadm::UsageError("--labels-from-stdin: no labels on stdin");
    }
    if (counted && labels.size() != static_cast<std::size_t>(o.count)) {
      throw tokenadm::UsageError("--count " + std::to_string(o.count) + " but "
                                 + std::to_string(labels.size()) + " labels on stdin");
    }
  } else {
    labels.reserve(static_cast<std::size_t>(o.count));
    for (int i = 1; i <= o.count; ++i) {
      labels.push_back(spec.label.empty() ? std::to_string(i)
                                          : spec.label + "-" + std::to_string(i));
    }
  }
  o.out.open();
  auto db = connect(g, o.positional_dsn);
  std::vector<tokenadm::CreatedToken> created;
  {
    ProgressLine progress("creating");
    created = tokenadm::create_tokens_bulk(*db, spec, labels, g.cfg.policy,
                                           tokenadm::Hasher(g.cfg), tokenadm::current_actor(),
                                           progress.callback());
  }
  // Committed: only now do the tokens leave the process.
  o.out.emit_all(*db, created);
  return 0;
}

} // namespace

Command setup_create(CLI::App& app, Globals& g)
{
  struct Options {
    std::string positional_dsn;
    TokenOptions token;
    TokenOutput out;
    int count = 0;
    bool labels_from_stdin = false;
  };
  auto* sub = app.add_subcommand("create", "Create a token and print it on stdout");
  auto o = std::make_shared<Options>();
  sub->add_option("dsn", o->positional_dsn,
                  "DSN, as gs_auth_token_create takes it (--dsn is preferred)")
    ->type_name("DSN");
  add_token_options(*sub, o->token);
  o->out.add_options(*sub, g);
  sub->add_option("--count", o->count,
                  "Create N tokens in one transaction (COPY); labels LABEL-1..LABEL-N")
    ->type_name("N")
    ->check(CLI::Range(1, 1000000));
  sub->add_flag("--labels-from-stdin", o->labels_from_stdin,
                "Bulk: one label per line on stdin, one token per label");

  return {sub, [&g, o, sub] {
            const auto spec = to_spec(o->token, g.cfg);
            if (o->count > 0 || o->labels_from_stdin) {
              return create_bulk(g, *o, spec, sub->count("--count") > 0);
            }
            o->out.open();
            auto db = connect(g, o->positional_dsn);
            const tokenadm::Hasher hasher(g.cfg);
            const auto created =
              tokenadm::create_token(*db, spec, g.cfg.policy, hasher, tokenadm::current_actor());
            // Committed: only now does the token leave the process.
            o->out.emit(*db, created);
            announce(g, *db, tokenadm::notice_of("created", created.info));
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
              o->out.emit(*db, *r.token, {{"created", true}});
              announce(g, *db, tokenadm::notice_of("created", r.token->info));
              return 0;
            }
            // Nothing new: stdout stays empty in text mode, so a script can
            // tell by the output alone.
            if (o->out.format() == "json") {
              auto j = token_json(r.existing);
              j["created"] = false;
              std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
            }
            if (isatty(STDERR_FILENO)) {
              note("an active token " + r.existing.id + " exists for owner '" + spec.owner
                   + "', label '" + spec.label + "': nothing created");
            }
            return 0;
          }};
}

} // namespace tokencli
