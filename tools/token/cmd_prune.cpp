#include "common.hpp"

#include <tokenadm/duration.hpp>
#include <tokenadm/identity.hpp>

#include <iostream>

namespace tokencli {

Command setup_prune(CLI::App& app, Globals& g)
{
  struct Options {
    std::string older_than;
    bool dry_run = false;
    std::string format = "text";
  };
  auto* sub = app.add_subcommand(
    "prune", "Delete tokens revoked or expired longer ago than --older-than");
  auto o = std::make_shared<Options>();
  sub->add_option("--older-than", o->older_than, "e.g. 90d")->required()->type_name("DURATION");
  sub->add_flag("--dry-run", o->dry_run, "Only list what would be deleted");
  add_format(*sub, g, o->format, {"text", "json"});
  return {sub, [&g, o] {
            const auto older = tokenadm::parse_duration(o->older_than, "--older-than");
            auto db = connect(g);
            std::vector<tokenadm::TokenInfo> gone;
            {
              ProgressLine progress("pruning");
              gone = tokenadm::prune_tokens(*db, older, o->dry_run, tokenadm::current_actor(),
                                            progress.callback());
            }
            if (o->format == "json") {
              auto ids = nlohmann::json::array();
              for (const auto& t : gone) {
                ids.push_back(t.id);
              }
              std::cout << json_text({{"dry_run", o->dry_run},
                                      {"older_than", tokenadm::format_duration(older)},
                                      {o->dry_run ? "would_delete" : "deleted", ids}})
                        << '\n';
            } else {
              for (const auto& t : gone) {
                std::cout << t.id << '\n';
              }
            }
            note(std::string(o->dry_run ? "dry run: would delete " : "deleted ")
                 + std::to_string(gone.size()) + " token(s) revoked or expired over "
                 + tokenadm::format_duration(older) + " ago (the audit trail keeps them)");
            return 0;
          }};
}

} // namespace tokencli
