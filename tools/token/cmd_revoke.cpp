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
    std::string label;
    bool all_expired = false;
    std::string reason;
    bool yes = false;
    bool dry_run = false;
  };
  auto* sub = app.add_subcommand(
    "revoke", "Revoke tokens by ID, or in bulk by --owner/--label or --all-expired");
  auto o = std::make_shared<Options>();
  sub->add_option("id", o->ids, "Token IDs (the 10 characters after the prefix)")
    ->type_name("ID");
  sub->add_option("--owner", o->owner, "Bulk: every active token of this owner");
  sub->add_option("--label", o->label, "Bulk: every active token with this label");
  sub->add_flag("--all-expired", o->all_expired, "Bulk: every expired token not yet revoked");
  sub->add_option("--reason", o->reason, "Why; kept with the token and in the audit trail");
  auto* yes = sub->add_flag("--yes", o->yes, "Confirm a bulk revoke");
  auto* dry = sub->add_flag("--dry-run", o->dry_run, "Show what a bulk revoke would revoke");
  yes->excludes(dry);

  return {sub, [&g, o, sub] {
            tokenadm::RevokeFilter filter;
            if (sub->count("--owner") > 0) {
              filter.owner = o->owner;
            }
            if (sub->count("--label") > 0) {
              filter.label = o->label;
            }
            filter.all_expired = o->all_expired;
            const bool bulk = filter.owner || filter.label || filter.all_expired;
            if (bulk && !o->ids.empty()) {
              throw tokenadm::UsageError("give token IDs or a bulk filter, not both");
            }
            if (!bulk && o->ids.empty()) {
              throw tokenadm::UsageError(
                "give the IDs of the tokens to revoke, or --owner, --label or --all-expired");
            }
            if (!bulk && (o->yes || o->dry_run)) {
              throw tokenadm::UsageError("--yes and --dry-run go with a bulk revoke");
            }
            if (bulk && !o->yes && !o->dry_run) {
              throw tokenadm::UsageError("a bulk revoke needs --yes (or --dry-run to see which)");
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
            if (!o->ids.empty()) {
              set_subject(o->ids.front());
            }
            auto db = connect(g);
            const auto reason =
              o->reason.empty() ? std::nullopt : std::optional<std::string>(o->reason);
            const auto actor = tokenadm::current_actor();
            if (bulk && o->dry_run) {
              const auto hit = tokenadm::tokens_matching(*db, filter);
              for (const auto& t : hit) {
                std::cout << t.id << '\n';
              }
              note("dry run: " + std::to_string(hit.size()) + " token(s) would be revoked");
              return 0;
            }
            const auto results = bulk ? tokenadm::revoke_matching(*db, filter, reason, actor)
                                      : tokenadm::revoke_tokens(*db, o->ids, reason, actor);
            if (bulk && results.empty()) {
              note("no token matches: nothing revoked");
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
