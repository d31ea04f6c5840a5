#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/token.hpp>

#include <iostream>

namespace tokencli {

namespace {

// suspend and resume: the same options and flow as revoke, without
// --all-expired; the token can come back.
Command setup_switch(CLI::App& app, Globals& g, bool suspend)
{
  struct Options {
    std::vector<std::string> ids;
    std::string owner;
    std::string label;
    std::string reason;
    bool yes = false;
    bool dry_run = false;
  };
  const std::string verb = suspend ? "suspend" : "resume";
  auto* sub = app.add_subcommand(
    verb, suspend ? "Switch tokens off without revoking them (token resume switches them on)"
                  : "Switch suspended tokens on again");
  auto o = std::make_shared<Options>();
  sub->add_option("id", o->ids, "Token IDs (the 10 characters after the prefix)")
    ->type_name("ID");
  sub->add_option("--owner", o->owner, "Bulk: every active token of this owner");
  sub->add_option("--label", o->label, "Bulk: every active token with this label");
  sub->add_option("--reason", o->reason, "Why; kept in the audit trail");
  auto* yes = sub->add_flag("--yes", o->yes, "Confirm a bulk " + verb);
  auto* dry = sub->add_flag("--dry-run", o->dry_run, "Show which tokens a bulk " + verb + " would change");
  yes->excludes(dry);

  return {sub, [&g, o, sub, suspend, verb] {
            tokenadm::RevokeFilter filter;
            if (sub->count("--owner") > 0) {
              filter.owner = o->owner;
            }
            if (sub->count("--label") > 0) {
              filter.label = o->label;
            }
            const bool bulk = filter.owner || filter.label;
            check_targets(o->ids, bulk, o->yes, o->dry_run, verb, "--owner or --label");
            const auto reason =
              o->reason.empty() ? std::nullopt : std::optional<std::string>(o->reason);
            auto db = connect(g);
            const auto actor = tokenadm::current_actor();
            if (bulk && o->dry_run) {
              const auto hit = tokenadm::tokens_matching(*db, filter);
              std::size_t n = 0;
              for (const auto& t : hit) {
                if (t.suspended_at.has_value() != suspend) {
                  std::cout << t.id << '\n';
                  ++n;
                }
              }
              note("dry run: " + std::to_string(n) + " token(s) would be "
                   + (suspend ? "suspended" : "resumed"));
              return 0;
            }
            const auto results =
              bulk ? tokenadm::suspend_matching(*db, filter, suspend, reason, actor)
                   : tokenadm::suspend_tokens(*db, o->ids, suspend, reason, actor);
            int status = 0;
            std::size_t changed = 0;
            for (const auto& r : results) {
              using S = tokenadm::SuspendOutcome::Status;
              if (r.status == S::changed) {
                ++changed;
                note(std::string(suspend ? "suspended " : "resumed ") + r.id);
                tokenadm::Notice n{suspend ? "suspended" : "resumed", r.id, r.owner, r.label,
                                   r.contact, std::nullopt,
                                   reason ? "Reason: " + *reason : std::string()};
                announce(g, *db, n);
              } else if (r.status == S::unchanged) {
                if (!bulk) {
                  note(r.id + (suspend ? " was already suspended (or is revoked)"
                                       : " was not suspended"));
                }
              } else {
                note(tokenadm::printable_id(r.id) + ": no such token");
                status = 2;
              }
            }
            if (bulk && changed == 0) {
              note(std::string("no token matches: nothing ") + (suspend ? "suspended" : "resumed"));
            }
            return status;
          }};
}

} // namespace

Command setup_suspend(CLI::App& app, Globals& g)
{
  return setup_switch(app, g, true);
}

Command setup_resume(CLI::App& app, Globals& g)
{
  return setup_switch(app, g, false);
}

} // namespace tokencli
