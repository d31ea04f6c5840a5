// Small text helpers shared by the library and the tool.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tokenadm {

// "a<sep>b<sep>c"; empty for an empty list.
std::string join(const std::vector<std::string>& items, std::string_view sep);

// The non-empty words of `text` between any of the `separators`.
std::vector<std::string> split_words(std::string_view text, std::string_view separators);

// Printable text only: no control characters, valid UTF-8, at most
// `max_len` bytes. Throws UsageError naming `what`.
void check_text(const std::string& value, const std::string& what, std::size_t max_len);

} // namespace tokenadm
