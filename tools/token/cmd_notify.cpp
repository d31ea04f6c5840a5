#include "common.hpp"

#include <tokenadm/duration.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/text.hpp>

#include <iostream>

namespace tokencli {

Command setup_notify(CLI::App& app, Globals& g)
{
  struct Options {
    std::string within = "7d";
    bool dry_run = false;
  };
  auto* sub = app.add_subcommand(
    "notify", "Mail the contacts of tokens expiring soon, once per expiry (for cron)");
  auto o = std::make_shared<Options>();
  sub->add_option("--within", o->within, "Tokens expiring within DURATION (default 7d)")
    ->type_name("DURATION");
  sub->add_flag("--dry-run", o->dry_run, "List who would be told; send and record nothing");
  return {sub, [&g, o] {
            const auto within = tokenadm::parse_duration(o->within, "--within");
            auto db = connect(g);
            const auto actor = tokenadm::current_actor();
            int sent = 0;
            int failed = 0;
            const auto due = tokenadm::expiring_unannounced(*db, within);
            ProgressLine progress("announcing");
            std::size_t done = 0;
            for (const auto& t : due) {
              progress.update(done++, due.size());
              const auto notice = tokenadm::notice_of("expiring", t);
              const auto to = tokenadm::recipients(g.cfg.email, notice);
              if (o->dry_run) {
                std::cout << t.id << '\t' << t.expires_at.value_or("") << '\t'
                          << (to.empty() ? "(no contact, no email_to)" : tokenadm::join(to, ", "))
                          << '\n';
                continue;
              }
              if (to.empty()) {
                continue; // nobody to tell; announced once someone is
              }
              // Claimed first, so concurrent runs never mail twice.
              if (!tokenadm::claim_announcement(*db, t.id, actor)) {
                continue;
              }
              if (const auto warning = tokenadm::send_notice(g.cfg.email, notice, actor, db.get())) {
                note(*warning);
                tokenadm::release_announcement(*db, t.id); // the next run tries again
                ++failed;
                continue;
              }
              std::cout << t.id << '\n';
              ++sent;
            }
            if (!o->dry_run) {
              note("announced " + std::to_string(sent) + " expiring token(s)"
                   + (failed ? ", " + std::to_string(failed) + " mail(s) failed" : ""));
            }
            return 0;
          }};
}

} // namespace tokencli
