#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/token.hpp>

#include <iostream>

namespace tokencli {

Command setup_revoke(CLI::App& app, Globals& g)
{
  struct Options {
    std::vector<std::string> ids;
    std::string owner;
    std::string reason;
    bool yes = false;
    bool dry_run = false;
  };
  auto* sub = app.add_subcommand("revoke", "Revoke tokens by ID, or all of an owner's");
  auto o = std::make_shared<Options>();
  sub->add_option("id", o->ids, "Token IDs (the 10 characters after the prefix)")
    ->type_name("ID");
  sub->add_option("--owner", o->owner, "Revoke every active token of this owner (bulk)");
  sub->add_option("--reason", o->reason, "Why; kept with the token and in the audit trail");
  auto* yes = sub->add_flag("--yes", o->yes, "Confirm a bulk revoke");
  auto* dry = sub->add_flag("--dry-run", o->dry_run, "Show what a bulk revoke would revoke");
  yes->excludes(dry);

  return {sub, [&g, o, sub] {
            const bool bulk = sub->count("--owner") > 0;
            if (bulk && !o->ids.empty()) {
              throw tokenadm::UsageError("give token IDs or --owner, not both");
            }
            if (!bulk && o->ids.empty()) {
              throw tokenadm::UsageError("give the IDs of the tokens to revoke, or --owner");
            }
            if (!bulk && (o->yes || o->dry_run)) {
              throw tokenadm::UsageError("--yes and --dry-run go with --owner");
            }
            if (bulk && !o->yes && !o->dry_run) {
              throw tokenadm::UsageError("revoking every token of an owner needs --yes "
                                         "(or --dry-run to see which)");
            }
            // A whole token pasted where its ID belongs is still revoked: it
            // has leaked into argv and shell history, so it should die.
            for (auto& id : o->ids) {
              if (tokenadm::looks_like_token(id)) {
                const auto first = id.find('_');
                id = id.substr(first + 1, tokenadm::k_id_len);
                note("a whole token was given: revoking its ID " + id
                     + "; it is in your shell history now");
              }
            }
            auto db = connect(g);
            const auto reason =
              o->reason.empty() ? std::nullopt : std::optional<std::string>(o->reason);
            const auto actor = tokenadm::current_actor();
            if (bulk && o->dry_run) {
              const auto hit = tokenadm::active_tokens_of(*db, o->owner);
              for (const auto& t : hit) {
                std::cout << t.id << '\n';
              }
              note("dry run: " + std::to_string(hit.size()) + " active token(s) of '" + o->owner
                   + "' would be revoked");
              return 0;
            }
            const auto results = bulk ? tokenadm::revoke_owner(*db, o->owner, reason, actor)
                                      : tokenadm::revoke_tokens(*db, o->ids, reason, actor);
            if (bulk && results.empty()) {
              note("no active tokens of '" + o->owner + "'");
            }
            int status = 0;
            for (const auto& r : results) {
              using S = tokenadm::RevokeOutcome::Status;
              if (r.status == S::revoked) {
                note("revoked " + r.id);
                tokenadm::Notice n{"revoked", r.id, r.owner, r.label, r.contact, std::nullopt,
                                   reason ? "Reason: " + *reason : std::string()};
                announce(g, *db, n);
              } else if (r.status == S::already_revoked) {
                note(r.id + " was already revoked at " + r.revoked_at.value_or("?"));
              } else {
                note(tokenadm::printable_id(r.id) + ": no such token");
                status = 2;
              }
            }
            return status;
          }};
}

} // namespace tokencli
