#include "common.hpp"

#include <tokenadm/duration.hpp>
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
    std::string unused_for;
    bool yes = false;
    bool dry_run = false;
    bool leaked = false;
    LeakedOptions leak;
    std::string format = "text";
  };
  auto* sub = app.add_subcommand(
    "revoke", "Revoke tokens by ID, in bulk by --owner/--label/--unused-for or --all-expired, or "
              "by value (--leaked)");
  auto o = std::make_shared<Options>();
  sub->add_option("id", o->ids, "Token IDs (the 10 characters after the prefix)")
    ->type_name("ID");
  sub->add_option("--owner", o->owner, "Bulk: every active token of this owner");
  sub->add_option("--label", o->label, "Bulk: every active token with this label");
  sub->add_option("--unused-for", o->unused_for,
                  "Bulk: every active token not used (or, never used, created) for DURATION "
                  "(reason 'unused')")
    ->type_name("DURATION");
  sub->add_flag("--all-expired", o->all_expired, "Bulk: every expired token not yet revoked");
  sub->add_option("--reason", o->reason, "Why; kept with the token and in the audit trail");
  auto* yes = sub->add_flag("--yes", o->yes, "Confirm a bulk revoke");
  auto* dry = sub->add_flag("--dry-run", o->dry_run, "Show what a bulk revoke would revoke");
  yes->excludes(dry);
  auto* leaked = sub->add_flag("--leaked", o->leaked,
                               "Revoke the tokens whose values are in the text on stdin or --from "
                               "(reason 'leaked')");
  sub->add_option("--from", o->leak.from, "With --leaked: read FILE instead of stdin")
    ->type_name("FILE")
    ->needs(leaked);
  sub->add_option("--source", o->leak.source,
                  "With --leaked: where the text was found, kept in the audit trail")
    ->type_name("TEXT")
    ->needs(leaked);
  sub->add_flag("--legacy", o->leak.legacy,
                "With --leaked: each non-empty line is one token (imported tokens have no check "
                "characters to find them by)")
    ->needs(leaked);
  add_format(*sub, g, o->format, {"text", "json"});
  sub->footer("--leaked prints one line a token found: revoked ID OWNER, already-revoked ID or "
              "unknown ID; never the token. --format json prints one document: "
              "{\"dry_run\":…,\"results\":[{\"id\":…,\"status\":…},…]} (with --leaked, one "
              "a line).");

  return {sub, [&g, o, sub] {
            if (o->leaked) {
              if (!o->ids.empty() || sub->count("--owner") + sub->count("--label") > 0
                  || o->all_expired || !o->unused_for.empty() || o->yes || o->dry_run
                  || sub->count("--reason") > 0) {
                throw tokenadm::UsageError(
                  "--leaked reads tokens from stdin or --from and revokes them with the reason "
                  "'leaked': give it no IDs, filters, --reason, --yes or --dry-run");
              }
              o->leak.format = o->format;
              return revoke_leaked(g, o->leak);
            }
            tokenadm::RevokeFilter filter;
            if (sub->count("--owner") > 0) {
              filter.owner = o->owner;
            }
            if (sub->count("--label") > 0) {
              filter.label = o->label;
            }
            if (sub->count("--unused-for") > 0) {
              filter.unused_for = tokenadm::parse_duration(o->unused_for, "--unused-for");
              if (o->reason.empty()) {
                o->reason = "unused";
              }
            }
            filter.all_expired = o->all_expired;
            const bool bulk = filter.owner || filter.label || filter.all_expired || filter.unused_for;
            check_targets(o->ids, bulk, o->yes, o->dry_run, "revoke",
                          "--owner, --label, --unused-for or --all-expired");
            auto db = connect(g);
            const auto reason =
              o->reason.empty() ? std::nullopt : std::optional<std::string>(o->reason);
            const auto actor = tokenadm::current_actor();
            const bool json = o->format == "json";
            auto doc = nlohmann::json{{"dry_run", o->dry_run}, {"results", nlohmann::json::array()}};
            if (bulk && o->dry_run) {
              const auto hit = tokenadm::tokens_matching(*db, filter);
              for (const auto& t : hit) {
                if (json) {
                  doc["results"].push_back(
                    {{"id", t.id}, {"status", "would-revoke"}, {"owner", t.owner}});
                } else {
                  std::cout << t.id << '\n';
                }
              }
              if (json) {
                std::cout << json_text(doc) << '\n';
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
              nlohmann::json item{{"id", tokenadm::printable_id(r.id)}};
              if (r.status == S::revoked) {
                item["status"] = "revoked";
                item["owner"] = r.owner;
                note("revoked " + r.id);
                tokenadm::Notice n{"revoked", r.id, r.owner, r.label, r.contact, std::nullopt,
                                   reason ? "Reason: " + *reason : std::string()};
                announce(g, *db, n);
              } else if (r.status == S::already_revoked) {
                item["status"] = "already-revoked";
                item["owner"] = r.owner;
                item["revoked_at"] = r.revoked_at.value_or("");
                note(r.id + " was already revoked at " + r.revoked_at.value_or("?"));
              } else {
                item["status"] = "unknown";
                note(tokenadm::printable_id(r.id) + ": no such token");
                status = 2;
              }
              doc["results"].push_back(std::move(item));
            }
            if (json) {
              std::cout << json_text(doc) << '\n';
            }
            return status;
          }};
}

} // namespace tokencli
