#include "usage.hpp"

#include <tokenadm/text.hpp>

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <sstream>

namespace tokencli {

namespace {

// Optimal string alignment distance: a swap of two neighbours is one edit,
// the commonest typo after a missing letter.
std::size_t distance(const std::string& a, const std::string& b)
{
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (std::size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// A user's word, cut and with control characters made visible, to quote.
std::string shown(const std::string& s)
{
  std::string out = s.substr(0, 64);
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = '?';
    }
  }
  return "'" + out + (s.size() > 64 ? "...'" : "'");
}

// CLI11's default type names, which say nothing to a user: the option's own
// name is a better metavar.
bool generic_type(const std::string& t)
{
  static const std::vector<std::string> k_generic{"TEXT", "INT", "UINT", "FLOAT", "BOOLEAN",
                                                  "NUMBER", "ENUM", ""};
  return std::find(k_generic.begin(), k_generic.end(), t) != k_generic.end();
}

// A flag takes no value (CLI11: expected 0 values).
bool takes_value(const CLI::Option* opt)
{
  return opt->get_expected_max() > 0 && opt->get_type_size_max() > 0;
}

std::string metavar(const CLI::Option* opt)
{
  std::string t = opt->get_type_name();
  // Validators append ":<description>"; ours have none, CLI11's must not show.
  t = t.substr(0, t.find(':'));
  if (!generic_type(t)) {
    return t;
  }
  std::string name = opt->get_lnames().empty() ? opt->get_name(true, false) : opt->get_lnames()[0];
  for (auto& c : name) {
    c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

class Formatter : public CLI::Formatter {
public:
  std::string make_option_opts(const CLI::Option* opt) const override
  {
    return takes_value(opt) ? " " + metavar(opt) : std::string();
  }

  std::string make_option_usage(const CLI::Option* opt) const override
  {
    std::string s = metavar(opt);
    if (opt->get_expected_max() > 1) {
      s += "...";
    }
    return opt->get_required() ? s : "[" + s + "]";
  }

  // A command's help lists the global options too, after its own: they work
  // after the command's name as before it.
  std::string make_subcommands(const CLI::App* app, CLI::AppFormatMode mode) const override
  {
    std::string out;
    const CLI::App* root = app->get_parent();
    if (root != nullptr && mode != CLI::AppFormatMode::Sub) {
      while (root->get_parent() != nullptr) {
        root = root->get_parent();
      }
      const auto globals = root->get_options([root](const CLI::Option* opt) {
        return opt->nonpositional() && opt != root->get_help_ptr()
               && opt->get_name() != "--version" && !opt->get_group().empty();
      });
      if (!globals.empty()) {
        out += make_group("Global options", false, globals);
      }
    }
    return out + CLI::Formatter::make_subcommands(app, mode);
  }
};

bool option_like(const std::string& a)
{
  if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
    return true;
  }
  return a.size() > 1 && a[0] == '-' && std::isalpha(static_cast<unsigned char>(a[1])) != 0;
}

const CLI::Option* find_option(const std::vector<const CLI::App*>& chain, const std::string& name)
{
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const auto found = (*it)->get_options([&name](const CLI::Option* o) {
      return o->nonpositional() && o->check_name(name);
    });
    if (!found.empty()) {
      return found.front();
    }
  }
  return nullptr;
}

std::vector<std::string> option_names(const std::vector<const CLI::App*>& chain)
{
  std::vector<std::string> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (const auto* o : (*it)->get_options({})) {
      for (const auto& l : o->get_lnames()) {
        out.push_back("--" + l);
      }
    }
  }
  return out;
}

std::size_t positional_slots(const CLI::App* app)
{
  std::size_t n = 0;
  for (const auto* o : app->get_options([](const CLI::Option* p) { return p->get_positional(); })) {
    const auto m = o->get_items_expected_max();
    n += m > 1000 ? 1000000 : static_cast<std::size_t>(std::max(m, 1));
  }
  return n;
}

struct Walk {
  std::vector<const CLI::App*> chain;
  std::optional<std::string> finding;
};

// Reads argv as CLI11 does, closely enough to find the first word it could
// not place: an unknown command or option, or an argument too many.
Walk walk(const CLI::App& root, int argc, const char* const* argv)
{
  Walk w;
  w.chain.push_back(&root);
  std::size_t taken = 0;
  bool rest_positional = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const CLI::App* cur = w.chain.back();
    if (!rest_positional && a == "--") {
      rest_positional = true;
      continue;
    }
    if (!rest_positional && option_like(a)) {
      const auto name = a.substr(0, a.find('='));
      const auto* opt = find_option(w.chain, name);
      if (opt == nullptr) {
        w.finding = "unknown option " + shown(name) + did_you_mean(name, option_names(w.chain));
        if (w.chain.size() == 1 && w.finding->find("(did you mean") == std::string::npos) {
          // `token --owner x list`: a command's option before the command.
          for (const auto* sub : root.get_subcommands([](const CLI::App*) { return true; })) {
            if (find_option({sub}, name) != nullptr) {
              w.finding = shown(name) + " is not a global option: put it after the command's name";
              break;
            }
          }
        }
        return w;
      }
      if (a.find('=') == std::string::npos && takes_value(opt) && i + 1 < argc
          && !option_like(argv[i + 1])) {
        ++i;
        // A vector option takes every value up to the next option.
        while (opt->get_expected_max() > 1 && i + 1 < argc && !option_like(argv[i + 1])
               && std::string(argv[i + 1]) != "--") {
          ++i;
        }
      }
      continue;
    }
    if (taken < positional_slots(cur)) {
      ++taken;
      continue;
    }
    const auto subs = cur->get_subcommands([](const CLI::App*) { return true; });
    if (!subs.empty() && taken == 0 && !rest_positional) {
      const auto it = std::find_if(subs.begin(), subs.end(),
                                   [&a](const CLI::App* s) { return s->check_name(a); });
      if (it != subs.end()) {
        w.chain.push_back(*it);
        continue;
      }
      std::vector<std::string> names;
      for (const auto* s : subs) {
        names.push_back(s->get_name());
      }
      w.finding = "unknown command " + shown(a) + did_you_mean(a, names);
      return w;
    }
    w.finding = "unexpected argument " + shown(a);
    return w;
  }
  return w;
}

bool starts_with(const std::string& s, const std::string& p)
{
  return s.rfind(p, 0) == 0;
}

// CLI11's messages for the errors the walk does not find, in our words.
std::string reword(const CLI::ParseError& e, const std::vector<const CLI::App*>& chain)
{
  const std::string m = e.what();
  const auto colon = m.find(": ");
  const std::string name = colon == std::string::npos ? std::string() : m.substr(0, colon);
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr
      && m.find(" required ") != std::string::npos && !name.empty()) {
    return name + " needs a value";
  }
  if (dynamic_cast<const CLI::ConversionError*>(&e) != nullptr) {
    if (starts_with(m, "Could not convert: ")) {
      const auto rest = m.substr(19);
      const auto eq = rest.find(" = ");
      if (eq != std::string::npos) {
        return rest.substr(0, eq) + ": " + shown(rest.substr(eq + 3)) + " is not a valid value";
      }
    }
    if (m.find("too many inputs for a flag") != std::string::npos
        || m.find("Should be true/false") != std::string::npos) {
      return name + " takes no value";
    }
  }
  if (const auto* ex = dynamic_cast<const CLI::ExcludesError*>(&e); ex != nullptr) {
    const auto at = m.find(" excludes ");
    if (at != std::string::npos) {
      return m.substr(0, at) + " and " + m.substr(at + 10) + " exclude each other";
    }
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
    if (starts_with(m, "A subcommand")) {
      return "no command given";
    }
    const auto at = m.find(" is required");
    if (at != std::string::npos) {
      const std::string what = m.substr(0, at);
      for (const auto* o : chain.back()->get_options({})) {
        if (o->get_positional() && o->check_name(what)) {
          return "missing " + metavar(o);
        }
      }
      return what + " is required";
    }
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    // CLI11 lists them last first: the user's first is its last word.
    const auto last = m.find_last_of(' ');
    return "unexpected argument " + shown(m.substr(last + 1));
  }
  return m;
}

} // namespace

std::shared_ptr<CLI::FormatterBase> make_formatter()
{
  return std::make_shared<Formatter>();
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates)
{
  const std::string* best = nullptr;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  const auto bare = [](const std::string& s) { return s.substr(s.find_first_not_of('-') == std::string::npos ? s.size() : s.find_first_not_of('-')); };
  for (const auto& c : candidates) {
    const auto d = distance(bare(word), bare(c));
    if (d < best_d) {
      best_d = d;
      best = &c;
    }
  }
  // Close means a typo or two, and not most of the word.
  if (best == nullptr || best_d == 0 || best_d > 2 || best_d * 2 > bare(*best).size()) {
    return {};
  }
  return " (did you mean '" + *best + "'?)";
}

CLI::Validator one_of(std::vector<std::string> choices)
{
  return CLI::Validator(
    [choices](std::string& value) -> std::string {
      if (std::find(choices.begin(), choices.end(), value) != choices.end()) {
        return {};
      }
      return shown(value) + " is not one of " + tokenadm::join(choices, ", ")
             + did_you_mean(value, choices);
    },
    "");
}

CLI::Validator in_range(std::int64_t lo, std::int64_t hi)
{
  return CLI::Validator(
    [lo, hi](std::string& value) -> std::string {
      const std::string bad = shown(value) + " is not a whole number from " + std::to_string(lo)
                              + " to " + std::to_string(hi);
      if (value.empty() || value.size() > 19
          || value.find_first_not_of("0123456789", value[0] == '-' ? 1 : 0) != std::string::npos
          || value == "-") {
        return bad;
      }
      const auto n = std::stoll(value);
      return n < lo || n > hi ? bad : std::string();
    },
    "");
}

std::string usage_message(const CLI::App& app, const CLI::ParseError& e, int argc,
                          const char* const* argv)
{
  const auto w = walk(app, argc, argv);
  std::string see = "token";
  for (std::size_t i = 1; i < w.chain.size(); ++i) {
    see += " " + w.chain[i]->get_name();
  }
  const std::string message = w.finding ? *w.finding : reword(e, w.chain);
  if (message.find("(did you mean '") != std::string::npos) {
    return message; // the suggestion is the help
  }
  return message + " (see " + see + " --help)";
}

} // namespace tokencli
