// The helpers every store file shares (see store_impl.hpp).
#include "store_impl.hpp"

#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <algorithm>

namespace tokenadm::detail {

std::optional<std::string> opt(const pqxx::field& f)
{
  if (f.is_null()) {
    return std::nullopt;
  }
  return f.c_str();
}

TokenInfo read_info(const pqxx::row& r)
{
  TokenInfo t;
  t.id = r[0].c_str();
  t.owner = r[1].c_str();
  t.label = r[2].c_str();
  t.roles = split_words(r[3].c_str(), ",");
  // Most tokens have no scopes and no metadata: skip the JSON parser then
  // (it is most of a listed row's cost).
  if (std::string_view(r[4].c_str()) != "[]") {
    t.scopes = json::parse(r[4].c_str()).get<std::vector<std::string>>();
  }
  t.contact = opt(r[5]);
  if (std::string_view(r[6].c_str()) != "{}") {
    const auto meta = json::parse(r[6].c_str());
    for (auto it = meta.cbegin(); it != meta.cend(); ++it) {
      t.meta.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
    }
  }
  t.state = r[7].c_str();
  t.created_at = r[8].c_str();
  t.created_by = r[9].c_str();
  t.expires_at = opt(r[10]);
  t.last_used_at = opt(r[11]);
  t.revoked_at = opt(r[12]);
  t.revoked_by = opt(r[13]);
  t.revoke_reason = opt(r[14]);
  t.replaced_by = opt(r[15]);
  t.allow_from = split_words(r[16].c_str(), ",");
  if (!r[17].is_null()) {
    t.max_uses = r[17].as<std::int64_t>();
  }
  t.uses = r[18].as<std::int64_t>();
  t.suspended_at = opt(r[19]);
  t.suspended_by = opt(r[20]);
  t.suspend_reason = opt(r[21]);
  if (std::string_view(r[22].c_str()) != "[]") {
    for (const auto& e : json::parse(r[22].c_str())) {
      t.used_from.emplace_back(e.value("addr", ""), e.value("at", ""));
    }
  }
  return t;
}

const char* nullable(const std::optional<std::string>& s)
{
  return s ? s->c_str() : nullptr;
}

std::optional<std::string> seconds_param(const std::optional<std::int64_t>& s)
{
  return s ? std::optional(std::to_string(*s)) : std::nullopt;
}

int version_of(const pqxx::field& f)
{
  return f.is_null() ? 0 : f.as<int>();
}

// A text[] literal of hex digests (no quoting needed).
std::string hex_array(const std::vector<StoredDigest>& digests)
{
  std::string out = "{";
  for (const auto& d : digests) {
    out += (out.size() > 1 ? "," : "") + d.hex;
  }
  return out + "}";
}

std::string used_from_sql(const std::string& row, const std::string& addr_sql)
{
  return "case when " + addr_sql + " is null then " + row + ".used_from else"
         " (select coalesce(jsonb_agg(x.e order by x.o), '[]'::jsonb) from (select e, o from ("
         " select jsonb_build_object('addr', host(" + addr_sql + "), 'at', " + iso("now()")
         + ") as e, 0::bigint as o union all select e, o from jsonb_array_elements(" + row
         + ".used_from) with ordinality as p(e, o) where p.e->>'addr' <> host(" + addr_sql
         + ")) y order by y.o limit 5) x) end";
}

std::string text_array(const std::vector<std::string>& items)
{
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1) {
      out += ',';
    }
    out += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<TokenInfo> query_infos(pqxx::transaction_base& tx, const std::string& where,
                                   const std::string& param)
{
  std::vector<TokenInfo> out;
  for (const auto& row :
       tx.exec_params("select " + k_info_cols + " from tokenadm.tokens t where " + where
                        + " order by t.created_at, t.id",
                      param)) {
    out.push_back(read_info(row));
  }
  return out;
}

} // namespace tokenadm::detail

namespace tokenadm {

bool looks_like_legacy_token(std::string_view text)
{
  if (text.size() < 16 || text.size() > 256 || looks_like_token(text)) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || std::string_view(".~+/=-").find(c) != std::string_view::npos;
  });
}

} // namespace tokenadm
