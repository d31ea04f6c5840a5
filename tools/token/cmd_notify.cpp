#include "common.hpp"

#include <tokenadm/duration.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/notices.hpp>
#include <tokenadm/text.hpp>

#include <iostream>

namespace tokencli {

namespace {

std::string to_list(const std::vector<std::string>& to)
{
  return to.empty() ? "(no contact, no email_to)" : tokenadm::join(to, ", ");
}

// --within: once per expiry (tokens.notified_expiry), as before --at.
int notify_within(const Globals& g, tokenadm::Db& db, std::int64_t within, bool dry_run)
{
  const auto actor = tokenadm::current_actor();
  int sent = 0;
  int failed = 0;
  const auto due = tokenadm::expiring_unannounced(db, within);
  ProgressLine progress("announcing");
  std::size_t done = 0;
  for (const auto& t : due) {
    progress.update(done++, due.size());
    const auto notice = tokenadm::notice_of("expiring", t);
    const auto to = tokenadm::recipients(g.cfg.email, notice);
    if (dry_run) {
      std::cout << t.id << '\t' << t.expires_at.value_or("") << '\t' << to_list(to) << '\n';
      continue;
    }
    if (to.empty()) {
      continue; // nobody to tell; announced once someone is
    }
    // Claimed first, so concurrent runs never mail twice.
    if (!tokenadm::claim_announcement(db, t.id, actor)) {
      continue;
    }
    if (const auto warning = tokenadm::send_notice(g.cfg.email, notice, actor, &db)) {
      note(*warning);
      tokenadm::release_announcement(db, t.id); // the next run tries again
      ++failed;
      continue;
    }
    std::cout << t.id << '\n';
    ++sent;
  }
  if (!dry_run) {
    note("announced " + std::to_string(sent) + " expiring token(s)"
         + (failed ? ", " + std::to_string(failed) + " mail(s) failed" : ""));
  }
  return 0;
}

// revoke_unused_after: tokens unused that long are revoked (reason
// "unused") and their contacts mailed.
void revoke_unused(const Globals& g, tokenadm::Db& db, std::int64_t after, bool dry_run)
{
  tokenadm::RevokeFilter filter;
  filter.unused_for = after;
  if (dry_run) {
    for (const auto& t : tokenadm::tokens_matching(db, filter)) {
      const auto to = tokenadm::recipients(g.cfg.email, tokenadm::notice_of("revoked", t));
      std::cout << t.id << "\trevoke\t" << tokenadm::format_duration(after) << '\t' << to_list(to)
                << '\n';
    }
    return;
  }
  const std::string reason = "unused";
  for (const auto& r : tokenadm::revoke_matching(db, filter, reason, tokenadm::current_actor())) {
    if (r.status == tokenadm::RevokeOutcome::Status::revoked) {
      note("revoked " + r.id + ": not used for " + tokenadm::format_duration(after));
      announce(g, db,
               tokenadm::Notice{"revoked", r.id, r.owner, r.label, r.contact, std::nullopt,
                                "Reason: unused (not used for " + tokenadm::format_duration(after)
                                  + ", revoke_unused_after)"});
    }
  }
}

// --at: once per token and lead time crossed, once when expired, and the
// unused warnings; claims in tokenadm.notices.
int notify_at(const Globals& g, tokenadm::Db& db, const std::vector<std::int64_t>& leads,
              bool dry_run)
{
  const auto actor = tokenadm::current_actor();
  const auto unused_after = g.cfg.revoke_unused_after;
  if (unused_after) {
    revoke_unused(g, db, *unused_after, dry_run);
  }
  int sent = 0;
  int failed = 0;
  const auto due = tokenadm::notices_due(db, leads, unused_after);
  ProgressLine progress("announcing");
  std::size_t done = 0;
  for (const auto& d : due) {
    progress.update(done++, due.size());
    const auto lead = tokenadm::format_duration(d.lead);
    const std::string detail =
      d.kind == "expiring" ? "It expires within " + lead + "."
      : d.kind == "unused"
        ? "It has not been used since " + d.token.last_used_at.value_or(d.token.created_at)
            + "; tokens unused for " + lead + " are revoked (revoke_unused_after)."
        : std::string("It can no longer be used: create a new one if it is still needed.");
    const auto notice = tokenadm::notice_of(d.kind, d.token, detail);
    const auto to = tokenadm::recipients(g.cfg.email, notice);
    if (dry_run) {
      std::cout << d.token.id << '\t' << d.kind << '\t' << (d.kind == "expired" ? "-" : lead)
                << '\t' << to_list(to) << '\n';
      continue;
    }
    if (to.empty()) {
      continue;
    }
    if (!tokenadm::claim_notice(db, d, actor)) {
      continue;
    }
    if (const auto warning = tokenadm::send_notice(g.cfg.email, notice, actor, &db)) {
      note(*warning);
      tokenadm::release_notice(db, d);
      ++failed;
      continue;
    }
    std::cout << d.token.id << '\n';
    ++sent;
  }
  if (!dry_run) {
    note("sent " + std::to_string(sent) + " notice(s)"
         + (failed ? ", " + std::to_string(failed) + " mail(s) failed" : ""));
  }
  return 0;
}

} // namespace

Command setup_notify(CLI::App& app, Globals& g)
{
  struct Options {
    std::string within;
    std::string at;
    bool dry_run = false;
  };
  auto* sub = app.add_subcommand(
    "notify", "Mail the contacts of tokens expiring soon, once per lead time (for cron)");
  auto o = std::make_shared<Options>();
  auto* within = sub->add_option("--within", o->within,
                                 "Tokens expiring within DURATION, once per expiry")
                   ->type_name("DURATION");
  sub->add_option("--at", o->at,
                  "Lead times, such as 30d,7d,1d: a mail as each is crossed, and one at expiry "
                  "(default: notify_at in the config, else 7d)")
    ->type_name("LIST")
    ->excludes(within);
  sub->add_flag("--dry-run", o->dry_run, "List who would be told; send, revoke and record nothing");
  return {sub, [&g, o, sub] {
            if (sub->count("--within") > 0) {
              const auto d = tokenadm::parse_duration(o->within, "--within");
              auto db = connect(g);
              return notify_within(g, *db, d, o->dry_run);
            }
            auto leads = g.cfg.notify_at;
            if (sub->count("--at") > 0) {
              leads.clear();
              for (const auto& w : tokenadm::split_words(o->at, ",")) {
                leads.push_back(tokenadm::parse_duration(w, "--at"));
              }
              if (leads.empty()) {
                throw tokenadm::UsageError("--at: give lead times such as 30d,7d,1d");
              }
            }
            for (const auto l : leads) {
              if (l <= 0) {
                throw tokenadm::UsageError("--at: a lead time must be longer than 0");
              }
            }
            auto db = connect(g);
            return notify_at(g, *db, leads, o->dry_run);
          }};
}

} // namespace tokencli
