#include "tokenadm/notify.hpp"

#include "tokenadm/audit.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/mail.hpp"
#include "tokenadm/text.hpp"

#include <algorithm>

namespace tokenadm {

namespace {


std::string subject_of(const Notice& n)
{
  const std::string who = n.owner.empty() ? std::string("site-wide token") : "token of " + n.owner;
  if (n.type == "created") {
    return "new " + who + " (" + n.id + ")";
  }
  if (n.type == "revoked") {
    return who + " revoked (" + n.id + ")";
  }
  if (n.type == "rotated") {
    return who + " rotated (" + n.id + ")";
  }
  if (n.type == "expired") {
    return who + " expired (" + n.id + ")";
  }
  if (n.type == "unused") {
    return who + " unused: it will be revoked (" + n.id + ")";
  }
  if (n.type == "leaked") {
    return who + " revoked: it leaked (" + n.id + ")";
  }
  if (n.type == "suspended" || n.type == "resumed") {
    return who + " " + n.type + " (" + n.id + ")";
  }
  return who + " expires " + n.expires_at.value_or("soon") + " (" + n.id + ")";
}

} // namespace

std::vector<std::string> recipients(const EmailConfig& email, const Notice& n)
{
  std::vector<std::string> out;
  if (n.contact) {
    out.push_back(*n.contact);
  }
  for (auto& a : split_words(email.email_to, " ,")) {
    if (std::find(out.begin(), out.end(), a) == out.end()) {
      out.push_back(std::move(a));
    }
  }
  return out;
}

Notice notice_of(const std::string& type, const TokenInfo& t, const std::string& detail)
{
  return Notice{type, t.id, t.owner, t.label, t.contact, t.expires_at, detail};
}

std::optional<std::string> send_notice(const EmailConfig& email, const Notice& n,
                                       const Actor& actor, Db* db)
{
  const auto to = recipients(email, n);
  if (to.empty()) {
    return std::nullopt;
  }
  Mail mail;
  mail.to = to;
  mail.notification_type = n.type;
  mail.subject = subject_of(n);
  mail.body = "Token " + n.id + " was "
              + (n.type == "expiring" ? "announced as expiring"
                 : n.type == "leaked" ? "revoked: its value was found in leaked text"
                 : n.type == "unused" ? "not used for a long time and will be revoked"
                                      : n.type)
              + ".\n\n"
                "  ID:       " + n.id + "\n"
                "  Owner:    " + (n.owner.empty() ? "(site-wide)" : n.owner) + "\n"
                "  Label:    " + n.label + "\n"
              + (n.type == "revoked" || n.type == "leaked" || n.type == "suspended"
                     || n.type == "resumed"
                   ? std::string()
                                     : "  Expires:  " + n.expires_at.value_or("never") + "\n")
              + "  By:       " + actor.describe() + " on " + actor.host + "\n"
              + (n.detail.empty() ? "" : "\n" + n.detail + "\n")
              + "\nThe token itself is never sent by mail. Details: token show " + n.id
              + "\n";
  try {
    send_mail(email, mail);
    return std::nullopt;
  } catch (const Error& e) {
    std::string warning = std::string("warning: could not mail the ") + n.type + " notice for "
                          + n.id + ": " + e.what();
    if (db != nullptr) {
      try {
        record_event(*db, "mail", n.id, n.owner, "failed", e.what(), actor);
      } catch (const Error&) {
        // The warning already says the mail failed; the command stands.
      }
    }
    return warning;
  }
}

} // namespace tokenadm
