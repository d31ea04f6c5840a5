#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/schema.hpp>

#include <iostream>

namespace tokencli {

Command setup_init(CLI::App& app, Globals& g)
{
  auto* sub = app.add_subcommand("init", "Create or upgrade the tokenadm schema");
  struct Options {
    bool check = false;
    std::string format = "text";
  };
  auto o = std::make_shared<Options>();
  sub->add_flag("--check", o->check, "Change nothing; exit 2 when the schema is missing or old");
  add_format(*sub, g, o->format, {"text", "json"});
  return {sub, [&g, o] {
            auto db = connect(g);
            const int want = tokenadm::expected_schema_version();
            const bool json = o->format == "json";
            if (o->check) {
              const int have = tokenadm::schema_version(*db);
              tokenadm::require_schema_version(have);
              if (json) {
                std::cout << json_text({{"version", have}, {"status", "current"}}) << '\n';
              }
              note("schema is up to date (version " + std::to_string(have) + ")");
              return 0;
            }
            const auto r = tokenadm::init_schema(*db);
            if (json) {
              const char* status = r.from_version == r.to_version ? "current"
                                   : r.from_version == 0         ? "created"
                                                                 : "upgraded";
              std::cout << json_text({{"version", r.to_version},
                                      {"from_version", r.from_version},
                                      {"status", status}})
                        << '\n';
            }
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
