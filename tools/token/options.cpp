// Options shared by subcommands: --format and the options that describe a new token.
#include "common.hpp"
#include "usage.hpp"

#include <tokenadm/address.hpp>
#include <tokenadm/duration.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/text.hpp>
#include <tokenadm/token.hpp>

#include <algorithm>

namespace tokencli {

CLI::Option* add_format(CLI::App& app, Globals& g, std::string& format,
                        const std::vector<std::string>& choices)
{
  return app
    .add_option_function<std::string>(
      "--format",
      [&g, &format](const std::string& value) {
        format = value;
        g.json = value == "json";
      },
      "Output format: " + tokenadm::join(choices, "|") + " (default " + format + ")")
    ->check(one_of(choices))
    ->type_name("FORMAT");
}

void add_token_options(CLI::App& app, TokenOptions& o, bool with_details)
{
  app.add_option("--owner", o.owner, "Who the token is for (empty: site-wide)");
  app.add_option("--label", o.label, "What the token is for");
  app.add_option("--role", o.roles, "api, feed, vcs, http or all (default all); repeatable")
    ->delimiter(',')
    ->type_name("ROLE");
  app.add_option("--scope", o.scopes, "Limit to a scope (repo, group...); repeatable")
    ->type_name("SCOPE");
  if (with_details) {
    app.add_option("--contact", o.contact, "Email address to notify about this token")
      ->type_name("EMAIL");
    app.add_option("--meta", o.meta, "Metadata key=value; repeatable")->type_name("KEY=VALUE");
  }
  auto* in = app.add_option("--expires-in", o.expires_in, "Lifetime: 30m, 12h, 90d, 1y")
               ->type_name("DURATION");
  auto* at = app.add_option("--expires-at", o.expires_at, "Expiry time, ISO 8601")
               ->type_name("TIME");
  auto* never = app.add_flag("--no-expiry", o.no_expiry, "Never expire (if the policy allows)");
  in->excludes(at)->excludes(never);
  at->excludes(never);
  app.add_option("--allow-from", o.allow_from,
                 "Accept the token only from these address ranges (10.0.0.0/8, 2001:db8::/32, "
                 "an address); repeatable or comma-separated")
    ->type_name("CIDR");
  app.add_option("--max-uses", o.max_uses, "Accept the token at most N times (1 to 2147483647)")
    ->type_name("N")
    ->check(in_range(1, 2147483647));
}

tokenadm::NewToken to_spec(const TokenOptions& o, const tokenadm::Config& cfg)
{
  tokenadm::NewToken spec;
  spec.prefix = cfg.prefix;
  spec.owner = o.owner;
  spec.label = o.label;
  if (!o.roles.empty()) {
    spec.roles = o.roles;
  } else if (std::find(cfg.policy.roles.begin(), cfg.policy.roles.end(), "all")
             == cfg.policy.roles.end()) {
    throw tokenadm::UsageError("--role is needed: the policy (token.roles) does not allow the "
                               "default role 'all'; choose from "
                               + tokenadm::join(cfg.policy.roles, ", "));
  }
  spec.scopes = o.scopes;
  if (!o.contact.empty()) {
    spec.contact = o.contact;
  }
  for (const auto& kv : o.meta) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) {
      throw tokenadm::UsageError("--meta '" + kv.substr(0, 64) + "': use key=value");
    }
    spec.meta.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!o.expires_in.empty()) {
    spec.expires_in = tokenadm::parse_duration(o.expires_in, "--expires-in");
  }
  if (!o.expires_at.empty()) {
    spec.expires_at = o.expires_at;
  }
  spec.no_expiry = o.no_expiry;
  spec.allow_from = tokenadm::parse_cidr_list(o.allow_from, "--allow-from");
  if (o.max_uses > 0) {
    spec.max_uses = o.max_uses;
  }
  tokenadm::validate_new_token(spec, cfg.policy);
  return spec;
}

void add_write_flags(CLI::App& app, bool& no_touch, bool& no_audit)
{
  app.add_flag("--no-touch", no_touch, "Write nothing: no last_used_at (as read_only = true does)");
  app.add_flag("--no-audit", no_audit,
               "Do not record failed verifications in the audit trail");
}

void take_id(std::string& id, bool revoking)
{
  if (!tokenadm::looks_like_token(id)) {
    return;
  }
  id = id.substr(id.find('_') + 1, tokenadm::k_id_len);
  // Only the ID goes on: the secret never reaches the server (or its
  // statement log). Revoked, the token dies; otherwise it has leaked into
  // argv and shell history and should.
  note(std::string("a whole token was given: ") + (revoking ? "revoking" : "using") + " its ID "
       + id + "; it is in your shell history now" + (revoking ? "" : ": consider revoking it"));
}

void check_targets(std::vector<std::string>& ids, bool bulk, bool yes, bool dry_run,
                   const std::string& verb, const std::string& filters)
{
  if (bulk && !ids.empty()) {
    throw tokenadm::UsageError("give token IDs or a bulk filter, not both");
  }
  if (!bulk && ids.empty()) {
    throw tokenadm::UsageError("give the IDs of the tokens to " + verb + ", or " + filters);
  }
  if (!bulk && (yes || dry_run)) {
    throw tokenadm::UsageError("--yes and --dry-run go with a bulk " + verb);
  }
  if (bulk && !yes && !dry_run) {
    throw tokenadm::UsageError("a bulk " + verb + " needs --yes (or --dry-run to see which)");
  }
  for (auto& id : ids) {
    take_id(id, verb == "revoke");
  }
  if (!ids.empty()) {
    set_subject(ids.front());
  }
}

} // namespace tokencli
