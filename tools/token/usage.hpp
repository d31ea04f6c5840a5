// Help and usage errors in the tool's own words: clean metavars, the global
// options in every command's help, and parse errors that name what the user
// typed, in the order typed, with a suggestion when one is close.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tokencli {

// The formatter every command's --help uses (set on the app before the
// subcommands are added: they inherit it).
std::shared_ptr<CLI::FormatterBase> make_formatter();

// A validator that accepts one of `choices`, else fails with
// "'VALUE' is not one of a, b, c" (and a suggestion when one is close);
// CLI11 prefixes the option's name.
CLI::Validator one_of(std::vector<std::string> choices);

// A whole number from `lo` to `hi`.
CLI::Validator in_range(std::int64_t lo, std::int64_t hi);

// " (did you mean 'X'?)" for the candidate closest to `word` when it is
// close enough (a typo, not another word), else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// The one-line message for a parse error, ending in "(see token [COMMAND]
// --help)": an unknown command or option is named first, in the order
// typed; CLI11's own wording is replaced.
std::string usage_message(const CLI::App& app, const CLI::ParseError& e, int argc,
                          const char* const* argv);

} // namespace tokencli
