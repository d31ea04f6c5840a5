#include "common.hpp"

#include <tokenadm/duration.hpp>
#include <tokenadm/identity.hpp>

#include <iostream>

namespace tokencli {

Command setup_rotate(CLI::App& app, Globals& g)
{
  struct Options {
    std::string id;
    std::string overlap;
    std::string expires_in;
    TokenOutput out;
  };
  auto* sub = app.add_subcommand(
    "rotate", "Replace a token with a new one (same owner, label, roles, scopes)");
  auto o = std::make_shared<Options>();
  sub->add_option("id", o->id, "ID of the token to replace")->required()->type_name("ID");
  sub->add_option("--overlap", o->overlap,
                  "Keep the old token valid this long (default: revoke it now)")
    ->type_name("DURATION");
  sub->add_option("--expires-in", o->expires_in, "Lifetime of the new token (default_ttl)")
    ->type_name("DURATION");
  o->out.add_options(*sub, g);

  return {sub, [&g, o] {
            const std::int64_t overlap =
              o->overlap.empty() ? 0 : tokenadm::parse_duration(o->overlap, "--overlap");
            std::optional<std::int64_t> expires_in;
            if (!o->expires_in.empty()) {
              expires_in = tokenadm::parse_duration(o->expires_in, "--expires-in");
            }
            take_id(o->id);
            set_subject(o->id);
            o->out.open();
            auto db = connect(g);
            const auto r = tokenadm::rotate_token(*db, o->id, overlap, expires_in, g.cfg.policy,
                                                  tokenadm::Hasher(g.cfg), g.cfg.prefix,
                                                  tokenadm::current_actor());
            o->out.emit(*db, r.token, {{"replaces", r.old_id}, {"old_revoked_at", r.old_revoked_at}});
            const std::string what =
              "It replaces " + r.old_id + ", which "
              + (overlap == 0 ? std::string("is revoked") : "stays valid until " + r.old_revoked_at)
              + ".";
            note("rotated " + r.old_id + " -> " + r.token.info.id + "; the old token "
                 + (overlap == 0 ? "is revoked" : "stays valid until " + r.old_revoked_at));
            announce(g, *db, tokenadm::notice_of("rotated", r.token.info, what));
            return 0;
          }};
}

Command setup_renew(CLI::App& app, Globals& g)
{
  struct Options {
    std::string id;
    std::string expires_in;
    std::string format = "text";
  };
  auto* sub = app.add_subcommand("renew", "Move a token's expiry to now + --expires-in");
  auto o = std::make_shared<Options>();
  sub->add_option("id", o->id, "Token ID")->required()->type_name("ID");
  sub->add_option("--expires-in", o->expires_in, "New lifetime from now (default default_ttl)")
    ->type_name("DURATION");
  add_format(*sub, g, o->format, {"text", "json"});

  return {sub, [&g, o] {
            const auto expires_in = o->expires_in.empty()
                                      ? g.cfg.policy.default_ttl
                                      : tokenadm::parse_duration(o->expires_in, "--expires-in");
            take_id(o->id);
            set_subject(o->id);
            auto db = connect(g);
            const auto t = tokenadm::renew_token(*db, o->id, expires_in, g.cfg.policy,
                                                 tokenadm::current_actor());
            if (o->format == "json") {
              std::cout << json_text(token_json(t)) << '\n';
            } else {
              std::cout << t.expires_at.value_or("never") << '\n';
            }
            note("renewed " + t.id + " until " + t.expires_at.value_or("never"));
            return 0;
          }};
}

} // namespace tokencli
