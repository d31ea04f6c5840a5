#include "tokenadm/mail.hpp"

#include "crypto_init.hpp"
#include "dynlib.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/text.hpp"

// Calls go through dlsym pointers (see curl_api), not curl.h's type-checking
// macros.
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <string_view>
#include <type_traits>

namespace tokenadm {

namespace {

// A header value must never carry a line break (or a NUL, which would cut
// the C string libcurl gets): that is how headers and SMTP commands are
// injected.
bool has_line_break(std::string_view s)
{
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

void reject_line_break(std::string_view value, const std::string& what)
{
  if (has_line_break(value)) {
    throw UsageError("mail: " + what + " contains a line break");
  }
}

bool is_ascii(std::string_view s)
{
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string trim(std::string_view s)
{
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return {};
  }
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// A bare address: no line break, no white space, nothing that would end it
// early in a header or an SMTP command.
void check_address(const std::string& addr, const std::string& what)
{
  reject_line_break(addr, what);
  if (addr.empty()) {
    throw UsageError("mail: " + what + " is empty");
  }
  const bool bad = std::any_of(addr.begin(), addr.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == ',' || c == '"';
  });
  if (bad) {
    throw UsageError("mail: " + what + " '" + addr.substr(0, 64) + "' is not a bare address");
  }
}

struct Sender {
  std::string name; // may be empty
  std::string addr;
};

// app_email_from is "addr", "Name <addr>" or "\"Name\" <addr>".
Sender parse_from(const std::string& from)
{
  reject_line_break(from, "email.app_email_from");
  Sender s;
  const auto lt = from.rfind('<');
  if (lt == std::string::npos) {
    s.addr = trim(from);
  } else {
    const auto gt = from.find('>', lt);
    if (gt == std::string::npos || !trim(std::string_view(from).substr(gt + 1)).empty()) {
      throw ConfigError("email.app_email_from '" + from.substr(0, 64)
                        + "' is neither \"addr\" nor \"Name <addr>\"");
    }
    s.addr = trim(std::string_view(from).substr(lt + 1, gt - lt - 1));
    s.name = trim(std::string_view(from).substr(0, lt));
    if (s.name.size() >= 2 && s.name.front() == '"' && s.name.back() == '"') {
      s.name = s.name.substr(1, s.name.size() - 2);
    }
  }
  check_address(s.addr, "email.app_email_from address");
  return s;
}

std::string base64(std::string_view in)
{
  static constexpr char k_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16
                   | static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8
                   | static_cast<unsigned>(static_cast<unsigned char>(in[i + 2]));
    out += k_alphabet[(n >> 18) & 63];
    out += k_alphabet[(n >> 12) & 63];
    out += k_alphabet[(n >> 6) & 63];
    out += k_alphabet[n & 63];
  }
  if (i < in.size()) {
    auto n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) {
      n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
    }
    out += k_alphabet[(n >> 18) & 63];
    out += k_alphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? k_alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// RFC 2047 B encoding. An encoded word may be at most 75 characters and a
// line should stay within 78, so a long text becomes several words, split
// between UTF-8 characters and folded onto continuation lines (the white
// space between two encoded words is not part of the text). `used`: how
// much of the first line the header name already takes.
std::string encode_words(std::string_view text, std::size_t used)
{
  constexpr std::size_t k_framing = 12; // "=?UTF-8?B?" and "?="
  std::string out;
  while (!text.empty()) {
    // Base64 turns 3 bytes into 4 characters; a continuation line starts
    // with one space. At most 45 bytes make a 72-character word.
    const std::size_t room = out.empty() ? 78 - std::min<std::size_t>(used, 60) : 77;
    const std::size_t max_bytes = std::min<std::size_t>(45, (room - k_framing) / 4 * 3);
    std::size_t n = std::min(max_bytes, text.size());
    // Back off to the start of a UTF-8 character (never below one byte).
    while (n < text.size() && n > 1 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) {
      --n;
    }
    if (!out.empty()) {
      out += "\r\n ";
    }
    out += "=?UTF-8?B?" + base64(text.substr(0, n)) + "?=";
    text.remove_prefix(n);
  }
  return out;
}

// A display name as a header phrase: encoded when not ASCII, quoted when it
// holds characters that are special in an address header.
std::string phrase(const std::string& name)
{
  if (!is_ascii(name)) {
    return encode_words(name, std::string_view("From: ").size());
  }
  if (name.find_first_of("()<>[]:;@\\,.\"") == std::string::npos) {
    return name;
  }
  std::string out = "\"";
  for (const char c : name) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

// RFC 5322 date in UTC, independent of the C locale.
std::string rfc5322_date()
{
  static constexpr const char* k_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* k_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                k_days[tm.tm_wday % 7], tm.tm_mday, k_months[tm.tm_mon % 12], tm.tm_year + 1900,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string message_id()
{
  unsigned char buf[16];
  random_bytes(buf, sizeof buf);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out = "<";
  for (const unsigned char b : buf) {
    out += k_hex[b >> 4];
    out += k_hex[b & 15];
  }
  return out + "@tokenadm>";
}

// Every line end (CRLF, lone CR, lone LF) becomes CRLF; the last line is
// terminated.
std::string crlf_body(std::string_view body)
{
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 2);
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\r') {
      if (i + 1 < body.size() && body[i + 1] == '\n') {
        ++i;
      }
      out += "\r\n";
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.empty() && out.back() != '\n') {
    out += "\r\n";
  }
  return out;
}

// --- libcurl ---------------------------------------------------------------

// libcurl (and its ~15 dependencies) is loaded the first time a mail is
// sent; see dynlib.hpp.
struct CurlApi {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

const CurlApi& curl_api()
{
  static CurlApi api{};
  static std::once_flag once;
  std::call_once(once, [] {
    const DynLib lib("libcurl.so.4", "mail", "to send mail", "libcurl4");
    lib.load(api.global_init, "curl_global_init");
    lib.load(api.easy_init, "curl_easy_init");
    lib.load(api.easy_setopt, "curl_easy_setopt");
    lib.load(api.easy_perform, "curl_easy_perform");
    lib.load(api.easy_cleanup, "curl_easy_cleanup");
    lib.load(api.easy_strerror, "curl_easy_strerror");
    lib.load(api.slist_append, "curl_slist_append");
    lib.load(api.slist_free_all, "curl_slist_free_all");
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw Error("mail", "libcurl could not be initialised");
    }
  });
  return api;
}

void curl_init_once()
{
  (void)curl_api();
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_api().easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_api().slist_free_all(l); }
};

struct Upload {
  std::string_view data;
};

size_t read_upload(char* buffer, size_t size, size_t nitems, void* userdata)
{
  auto* up = static_cast<Upload*>(userdata);
  const std::size_t n = std::min(size * nitems, up->data.size());
  std::memcpy(buffer, up->data.data(), n);
  up->data.remove_prefix(n);
  return n;
}

// The first line of a libcurl message, with `secret` replaced by "***" in
// case a server or libcurl ever echoed it.
std::string one_line(std::string text, const std::string& secret)
{
  const auto eol = text.find_first_of("\r\n");
  if (eol != std::string::npos) {
    text.resize(eol);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '.')) {
    text.pop_back();
  }
  if (!secret.empty()) {
    for (auto pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 3)) {
      text.replace(pos, secret.size(), "***");
    }
  }
  return redact_tokens(text);
}

// "PLAIN LOGIN" (or "PLAIN,LOGIN") -> "AUTH=PLAIN;AUTH=LOGIN".
std::string login_options(const std::string& mechs)
{
  std::string out;
  for (const auto& mech : split_words(mechs, " \t,")) {
    const bool ok = std::all_of(mech.begin(), mech.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
             || c == '_' || c == '*';
    });
    if (!ok) {
      throw ConfigError("email.smtp_auth: '" + mech.substr(0, 32)
                        + "' is not a SASL mechanism name (e.g. PLAIN, LOGIN)");
    }
    out += (out.empty() ? "AUTH=" : ";AUTH=") + mech;
  }
  return out;
}

std::string smtp_url(const EmailConfig& config)
{
  const auto& host = config.smtp_server;
  const bool bad = std::any_of(host.begin(), host.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '/' || c == '@' || c == '?' || c == '#' || c == '\\';
  });
  if (bad) {
    throw ConfigError("email.smtp_server '" + host.substr(0, 64) + "' is not a host name");
  }
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return std::string(config.smtp_use_ssl ? "smtps://" : "smtp://") + (ipv6 ? "[" : "") + host
         + (ipv6 ? "]" : "") + ":" + std::to_string(config.smtp_port);
}

} // namespace

std::string format_mail(const EmailConfig& config, const Mail& mail)
{
  const Sender from = parse_from(config.app_email_from);
  if (mail.to.empty()) {
    throw UsageError("mail: no recipient");
  }
  for (const auto& addr : mail.to) {
    check_address(addr, "recipient address");
  }
  reject_line_break(config.email_prefix, "email.email_prefix");
  reject_line_break(mail.subject, "subject");
  reject_line_break(mail.notification_type, "notification type");

  const std::string subject =
    config.email_prefix.empty() ? mail.subject : config.email_prefix + " " + mail.subject;
  std::string out;
  out.reserve(512 + mail.body.size());
  out += "From: " + (from.name.empty() ? from.addr : phrase(from.name) + " <" + from.addr + ">")
         + "\r\n";
  out += "To: " + join(mail.to, ", ") + "\r\n";
  const std::string_view subject_name = "Subject: ";
  out += std::string(subject_name)
         + (is_ascii(subject) ? subject : encode_words(subject, subject_name.size())) + "\r\n";
  out += "Date: " + rfc5322_date() + "\r\n";
  out += "Message-ID: " + message_id() + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "X-Tokenadm-Notification-Type: " + mail.notification_type + "\r\n";
  out += "\r\n";
  out += crlf_body(mail.body);
  return out;
}

void send_mail(const EmailConfig& config, const Mail& mail)
{
  const std::string message = format_mail(config, mail);
  const std::string rcpts = join(mail.to, ", ");

  if (config.smtp_server.empty()) {
    if (!config.log_unsent) {
      return;
    }
    // A log is read by people: plain LF line ends there.
    std::string text = "token: mail (no smtp_server set):\n";
    for (std::size_t i = 0; i < message.size(); ++i) {
      if (message[i] != '\r' || i + 1 >= message.size() || message[i + 1] != '\n') {
        text += message[i];
      }
    }
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
    return;
  }

  const auto fail = [&](const std::string& why) -> Error {
    return Error("mail",
                 "sending mail to " + rcpts + " failed: " + one_line(why, config.smtp_password));
  };

  if (!config.smtp_username.empty() && !config.smtp_use_ssl && !config.smtp_use_tls
      && !config.smtp_allow_plaintext_auth) {
    throw fail("refusing to send the SMTP password without TLS: set smtp_use_tls or "
               "smtp_use_ssl (or smtp_allow_plaintext_auth = true)");
  }
  const std::string url = smtp_url(config);
  const std::string auth = login_options(config.smtp_auth);
  curl_init_once();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_api().easy_init());
  if (!curl) {
    throw fail("libcurl could not create a handle");
  }
  std::unique_ptr<curl_slist, SlistDeleter> rcpt_list;
  for (const auto& addr : mail.to) {
    // On success the head stays the same (or is new when the list was empty).
    curl_slist* head = curl_api().slist_append(rcpt_list.get(), addr.c_str());
    if (head == nullptr) {
      throw fail("out of memory");
    }
    (void)rcpt_list.release();
    rcpt_list.reset(head);
  }
  const std::string from_addr = parse_from(config.app_email_from).addr;
  Upload upload{message};
  char errbuf[CURL_ERROR_SIZE] = {};

  // Each option is set at its call site so that libcurl's compile-time type
  // checks (typecheck-gcc.h) see the option constant.
  CURL* c = curl.get();
  CURLcode rc = CURLE_OK;
  const auto check = [&rc](CURLcode r) {
    if (rc == CURLE_OK) {
      rc = r;
    }
  };
  check(curl_api().easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf));
  check(curl_api().easy_setopt(c, CURLOPT_NOSIGNAL, 1L));
  check(curl_api().easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps"));
  check(curl_api().easy_setopt(c, CURLOPT_URL, url.c_str()));
  check(curl_api().easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L));
  check(curl_api().easy_setopt(c, CURLOPT_TIMEOUT, 10L));
  if (config.smtp_use_tls) {
    check(curl_api().easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL)));
  }
  // Certificate and host name verification are libcurl's defaults; say so.
  check(curl_api().easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L));
  check(curl_api().easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L));
  if (!config.smtp_ca_file.empty()) {
    check(curl_api().easy_setopt(c, CURLOPT_CAINFO, config.smtp_ca_file.c_str()));
  }
  if (!config.smtp_username.empty()) {
    check(curl_api().easy_setopt(c, CURLOPT_USERNAME, config.smtp_username.c_str()));
    check(curl_api().easy_setopt(c, CURLOPT_PASSWORD, config.smtp_password.c_str()));
  }
  if (!auth.empty()) {
    check(curl_api().easy_setopt(c, CURLOPT_LOGIN_OPTIONS, auth.c_str()));
  }
  check(curl_api().easy_setopt(c, CURLOPT_MAIL_FROM, from_addr.c_str()));
  check(curl_api().easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt_list.get()));
  check(curl_api().easy_setopt(c, CURLOPT_READFUNCTION, &read_upload));
  check(curl_api().easy_setopt(c, CURLOPT_READDATA, static_cast<void*>(&upload)));
  check(curl_api().easy_setopt(c, CURLOPT_UPLOAD, 1L));
  if (rc != CURLE_OK) {
    throw fail(curl_api().easy_strerror(rc));
  }
  rc = curl_api().easy_perform(c);
  if (rc != CURLE_OK) {
    throw fail(errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_api().easy_strerror(rc)));
  }
}

} // namespace tokenadm
