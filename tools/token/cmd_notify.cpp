#include "common.hpp"

#include <tokenadm/duration.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/notices.hpp>
#include <tokenadm/text.hpp>

#include <iostream>
#include <optional>

namespace tokencli {

namespace {

std::string to_list(const std::vector<std::string>& to)
{
  return to.empty() ? "(no contact, no email_to)" : tokenadm::join(to, ", ");
}

// What a run did, a line at a time in text (the ids mailed; with
// --dry-run, the tab-separated `fields` of each, then its recipients), or
// one JSON document at the end.
class Report {
public:
  Report(bool json, bool dry_run) : m_json(json), m_dry_run(dry_run) {}

  void add(const std::string& id, const std::string& kind, const std::string& lead,
           const std::vector<std::string>& to, const char* status,
           const std::vector<std::string>& fields)
  {
    if (m_json) {
      m_notices.push_back(
        {{"id", id}, {"kind", kind}, {"lead", lead}, {"to", to}, {"status", status}});
    } else if (m_dry_run) {
      for (const auto& f : fields) {
        std::cout << f << '\t';
      }
      std::cout << to_list(to) << '\n';
    } else if (std::string_view(status) == "sent") {
      std::cout << id << '\n';
    }
  }

  void revoked(const std::string& id) { m_revoked.push_back(id); }

  void finish() const
  {
    if (m_json) {
      std::cout << json_text({{"dry_run", m_dry_run},
                              {"notices", m_notices},
                              {m_dry_run ? "would_revoke" : "revoked", m_revoked}})
                << '\n';
    }
  }

private:
  bool m_json;
  bool m_dry_run;
  nlohmann::json m_notices = nlohmann::json::array();
  std::vector<std::string> m_revoked;
};

// --within: once per expiry (tokens.notified_expiry), as before --at.
int notify_within(const Globals& g, tokenadm::Db& db, std::int64_t within, bool dry_run,
                  Report& report)
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
    const auto lead = tokenadm::format_duration(within);
    if (dry_run) {
      report.add(t.id, "expiring", lead, to, "would-send", {t.id, t.expires_at.value_or("")});
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
      report.add(t.id, "expiring", lead, to, "failed", {});
      ++failed;
      continue;
    }
    report.add(t.id, "expiring", lead, to, "sent", {});
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
void revoke_unused(const Globals& g, tokenadm::Db& db, std::int64_t after, bool dry_run,
                   Report& report)
{
  tokenadm::RevokeFilter filter;
  filter.unused_for = after;
  if (dry_run) {
    for (const auto& t : tokenadm::tokens_matching(db, filter)) {
      const auto to = tokenadm::recipients(g.cfg.email, tokenadm::notice_of("revoked", t));
      const auto lead = tokenadm::format_duration(after);
      report.add(t.id, "revoke", lead, to, "would-send", {t.id, "revoke", lead});
      report.revoked(t.id);
    }
    return;
  }
  const std::string reason = "unused";
  for (const auto& r : tokenadm::revoke_matching(db, filter, reason, tokenadm::current_actor())) {
    if (r.status == tokenadm::RevokeOutcome::Status::revoked) {
      report.revoked(r.id);
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
              bool dry_run, Report& report)
{
  const auto actor = tokenadm::current_actor();
  const auto unused_after = g.cfg.revoke_unused_after;
  if (unused_after) {
    revoke_unused(g, db, *unused_after, dry_run, report);
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
    const auto shown_lead = d.kind == "expired" ? std::string("-") : lead;
    if (dry_run) {
      report.add(d.token.id, d.kind, shown_lead, to, "would-send", {d.token.id, d.kind, shown_lead});
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
      report.add(d.token.id, d.kind, shown_lead, to, "failed", {});
      ++failed;
      continue;
    }
    report.add(d.token.id, d.kind, shown_lead, to, "sent", {});
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
    std::string format = "text";
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
  add_format(*sub, g, o->format, {"text", "json"});
  return {sub, [&g, o, sub] {
            Report report(o->format == "json", o->dry_run);
            // One run at a time: an overlapping cron run does nothing.
            auto run = [&](auto&& body) {
              // The lock's connection first: the deadline watches the last
              // one connected, which runs the work.
              DbHandle lock_db;
              std::optional<tokenadm::RunLock> lock;
              if (!o->dry_run) {
                lock_db = connect(g);
                lock.emplace(*lock_db);
                if (!lock->held()) {
                  note("another token notify is running: this one does nothing");
                  report.finish();
                  return 0;
                }
              }
              auto db = connect(g);
              const int status = body(*db);
              report.finish();
              return status;
            };
            if (sub->count("--within") > 0) {
              const auto d = tokenadm::parse_duration(o->within, "--within");
              return run([&](tokenadm::Db& db) { return notify_within(g, db, d, o->dry_run, report); });
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
            return run([&](tokenadm::Db& db) { return notify_at(g, db, leads, o->dry_run, report); });
          }};
}

} // namespace tokencli
