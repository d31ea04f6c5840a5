#include "common.hpp"

#include <iostream>

namespace tokencli {

Command setup_config(CLI::App& app, Globals& g)
{
  struct Options {
    std::string format = "text";
  };
  auto* sub = app.add_subcommand("config", "Show the effective configuration");
  auto* show = sub->add_subcommand("show", "Every setting, its value and where it came from");
  sub->require_subcommand(1, 1);
  auto o = std::make_shared<Options>();
  add_format(*show, g, o->format, {"text", "json"});
  return {sub, [&g, o] {
            const auto [dsn, source] = effective_dsn(g);
            const auto settings = tokenadm::show_config(g.cfg, dsn, source, verify_dsn(g));
            if (o->format == "json") {
              auto j = nlohmann::json::object();
              for (const auto& s : settings) {
                j[s.key] = {{"value", s.value}, {"source", s.source}};
              }
              std::cout << json_text(j) << '\n';
              return 0;
            }
            std::size_t width = 0;
            for (const auto& s : settings) {
              width = std::max(width, s.key.size());
            }
            for (const auto& s : settings) {
              std::cout << s.key << std::string(width - s.key.size() + 1, ' ') << "= " << s.value
                        << "  # " << s.source << '\n';
            }
            return 0;
          }};
}

} // namespace tokencli
