#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/schema.hpp>

namespace tokencli {

Command setup_init(CLI::App& app, Globals& g)
{
  auto* sub = app.add_subcommand("init", "Create or upgrade the tokenadm schema");
  auto check = std::make_shared<bool>(false);
  sub->add_flag("--check", *check, "Change nothing; exit 2 when the schema is missing or old");
  return {sub, [&g, check] {
            auto db = connect(g);
            const int want = tokenadm::expected_schema_version();
            if (*check) {
              const int have = tokenadm::schema_version(*db);
              tokenadm::require_schema_version(have);
              note("schema is up to date (version " + std::to_string(have) + ")");
              return 0;
            }
            const auto r = tokenadm::init_schema(*db);
            if (r.from_version == r.to_version) {
              note("schema is up to date (version " + std::to_string(want) + ")");
            } else if (r.from_version == 0) {
              note("schema created at version " + std::to_string(r.to_version));
            } else {
              note("schema upgraded from version " + std::to_string(r.from_version) + " to "
                   + std::to_string(r.to_version));
            }
            return 0;
          }};
}

} // namespace tokencli
