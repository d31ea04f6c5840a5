#include "tokenadm/text.hpp"

#include "tokenadm/errors.hpp"

#include <nlohmann/json.hpp>

namespace tokenadm {

std::string join(const std::vector<std::string>& items, std::string_view sep)
{
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += sep;
    }
    out += item;
  }
  return out;
}

std::vector<std::string> split_words(std::string_view text, std::string_view separators)
{
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = text.find_first_not_of(separators, i);
    if (b == std::string_view::npos) {
      break;
    }
    auto e = text.find_first_of(separators, b);
    if (e == std::string_view::npos) {
      e = text.size();
    }
    out.emplace_back(text.substr(b, e - b));
    i = e;
  }
  return out;
}

void check_text(const std::string& value, const std::string& what, std::size_t max_len)
{
  if (value.size() > max_len) {
    throw UsageError(what + " is longer than " + std::to_string(max_len) + " bytes");
  }
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      throw UsageError(what + " contains a control character");
    }
  }
  try {
    (void)nlohmann::json(value).dump();
  } catch (const nlohmann::json::exception&) {
    throw UsageError(what + " is not valid UTF-8");
  }
}

} // namespace tokenadm
