// Email notifications over SMTP (libcurl), with Kallithea's settings.
#pragma once

#include "tokenadm/config.hpp"

#include <string>
#include <vector>

namespace tokenadm {

struct Mail {
  std::vector<std::string> to; // bare addresses
  std::string subject;         // without email_prefix; UTF-8
  std::string body;            // UTF-8 text; never holds a secret
  // created, revoked, rotated or expiring: the X-Tokenadm-Notification-Type
  std::string notification_type;
};

// The whole RFC 5322 message as it would be sent: From (app_email_from, in
// "addr" or "Name <addr>" form), To, Subject (email_prefix + subject,
// RFC 2047-encoded when not ASCII), Date, Message-ID, MIME-Version,
// Content-Type text/plain; charset=utf-8, Content-Transfer-Encoding,
// X-Tokenadm-Notification-Type, then the body with CRLF line ends.
std::string format_mail(const EmailConfig& config, const Mail& mail);

// Sends `mail` through config.smtp_server (smtp_use_ssl: implicit TLS;
// smtp_use_tls: STARTTLS required; smtp_username/smtp_password: AUTH).
// With no smtp_server, writes format_mail() to stderr instead. A connect
// and overall timeout of a few seconds applies. Throws Error("mail") with
// a one-line message (never the password) when sending fails.
void send_mail(const EmailConfig& config, const Mail& mail);

} // namespace tokenadm
