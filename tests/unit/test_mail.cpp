// Unit tests for format_mail() in tokenadm/mail.hpp (no SMTP server; sending
// is tested by tests/mail/test_smtp.sh).
#include <doctest/doctest.h>

#include "tokenadm/errors.hpp"
#include "tokenadm/mail.hpp"

#include <string>
#include <vector>

using namespace tokenadm;

namespace {

EmailConfig config_from(const std::string& from)
{
  EmailConfig c;
  c.app_email_from = from;
  c.email_prefix = "[tokenadm]";
  return c;
}

Mail sample()
{
  Mail m;
  m.to = {"alice@example.org"};
  m.subject = "token created";
  m.body = "line one\nline two\r\nline three\rend";
  m.notification_type = "created";
  return m;
}

// The header block (up to the blank line), unfolded, without CRLFs.
std::vector<std::string> headers(const std::string& message)
{
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    const auto eol = message.find("\r\n", pos);
    REQUIRE(eol != std::string::npos);
    const auto line = message.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) {
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !out.empty()) {
      out.back() += line; // folded continuation
    } else {
      out.push_back(line);
    }
  }
  return out;
}

std::string header(const std::string& message, const std::string& name)
{
  for (const auto& h : headers(message)) {
    if (h.rfind(name + ": ", 0) == 0) {
      return h.substr(name.size() + 2);
    }
  }
  return "<missing>";
}

std::string unbase64(const std::string& in)
{
  static const std::string k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (const char c : in) {
    const auto v = k_alphabet.find(c);
    if (v == std::string::npos) {
      break; // '=' padding
    }
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

std::string body_of(const std::string& message)
{
  const auto sep = message.find("\r\n\r\n");
  REQUIRE(sep != std::string::npos);
  return message.substr(sep + 4);
}

// what() of the UsageError that format_mail throws, or a marker.
std::string usage_message(const EmailConfig& c, const Mail& m)
{
  try {
    (void)format_mail(c, m);
  } catch (const UsageError& e) {
    CHECK(e.exit_code() == 2);
    return e.what();
  } catch (...) {
    return "<other exception>";
  }
  return "<accepted>";
}

} // namespace

TEST_CASE("format_mail: every header is there")
{
  const auto msg = format_mail(config_from("tokenadm <tokenadm@example.org>"), sample());
  CHECK(header(msg, "From") == "tokenadm <tokenadm@example.org>");
  CHECK(header(msg, "To") == "alice@example.org");
  CHECK(header(msg, "Subject") == "[tokenadm] token created");
  CHECK(header(msg, "MIME-Version") == "1.0");
  CHECK(header(msg, "Content-Type") == "text/plain; charset=utf-8");
  CHECK(header(msg, "Content-Transfer-Encoding") == "8bit");
  CHECK(header(msg, "X-Tokenadm-Notification-Type") == "created");
  const auto id = header(msg, "Message-ID");
  CHECK(id.size() == std::string("<@tokenadm>").size() + 32);
  CHECK(id.front() == '<');
  CHECK(id.find("@tokenadm>") == 33);
  CHECK(id.find_first_not_of("0123456789abcdef", 1) == 33);
  // "Wed, 25 Nov 2026 12:00:00 +0000"
  const auto date = header(msg, "Date");
  CHECK(date.size() == 31);
  CHECK(date.substr(3, 2) == ", ");
  CHECK(date.substr(25) == " +0000");
}

TEST_CASE("format_mail: Message-ID differs between mails")
{
  const auto c = config_from("a@example.org");
  CHECK(header(format_mail(c, sample()), "Message-ID")
        != header(format_mail(c, sample()), "Message-ID"));
}

TEST_CASE("format_mail: prefix")
{
  auto c = config_from("a@example.org");
  c.email_prefix = "[Kallithea]";
  CHECK(header(format_mail(c, sample()), "Subject") == "[Kallithea] token created");
  c.email_prefix = "";
  CHECK(header(format_mail(c, sample()), "Subject") == "token created");
}

TEST_CASE("format_mail: several recipients")
{
  auto m = sample();
  m.to = {"a@example.org", "b@example.org"};
  CHECK(header(format_mail(config_from("x@example.org"), m), "To")
        == "a@example.org, b@example.org");
}

TEST_CASE("format_mail: a non-ASCII subject is RFC 2047 encoded")
{
  auto m = sample();
  m.subject = "jeton créé";
  const auto subject = header(format_mail(config_from("x@example.org"), m), "Subject");
  // base64("[tokenadm] jeton créé")
  CHECK(subject == "=?UTF-8?B?W3Rva2VuYWRtXSBqZXRvbiBjcsOpw6k=?=");
}

TEST_CASE("format_mail: a long non-ASCII subject is split into short encoded words")
{
  auto m = sample();
  m.subject.clear();
  for (int i = 0; i < 40; ++i) {
    m.subject += "é"; // two bytes each
  }
  const auto msg = format_mail(config_from("x@example.org"), m);
  // Physical lines of the header block stay short.
  const auto block = msg.substr(0, msg.find("\r\n\r\n"));
  std::size_t pos = 0;
  while (pos < block.size()) {
    auto eol = block.find("\r\n", pos);
    if (eol == std::string::npos) {
      eol = block.size();
    }
    CHECK(eol - pos <= 78);
    pos = eol + 2;
  }
  // The words decode to the subject, and none starts inside a UTF-8
  // character.
  const auto subject = header(msg, "Subject");
  std::string decoded;
  std::size_t words = 0;
  for (auto p = subject.find("=?UTF-8?B?"); p != std::string::npos;
       p = subject.find("=?UTF-8?B?", p + 1)) {
    const auto end = subject.find("?=", p + 10);
    REQUIRE(end != std::string::npos);
    CHECK(end - p + 2 <= 75);
    const auto part = unbase64(subject.substr(p + 10, end - p - 10));
    REQUIRE(!part.empty());
    CHECK((static_cast<unsigned char>(part[0]) & 0xC0) != 0x80);
    decoded += part;
    ++words;
  }
  CHECK(decoded == "[tokenadm] " + m.subject);
  CHECK(words >= 2);
}

TEST_CASE("format_mail: From forms")
{
  const auto m = sample();
  CHECK(header(format_mail(config_from("tokenadm@example.org"), m), "From")
        == "tokenadm@example.org");
  CHECK(header(format_mail(config_from("Token Admin <ta@example.org>"), m), "From")
        == "Token Admin <ta@example.org>");
  CHECK(header(format_mail(config_from("\"Token Admin\" <ta@example.org>"), m), "From")
        == "Token Admin <ta@example.org>");
  // Specials are quoted.
  CHECK(header(format_mail(config_from("Admin, Token <ta@example.org>"), m), "From")
        == "\"Admin, Token\" <ta@example.org>");
  // A non-ASCII display name is encoded; base64("Jérôme").
  CHECK(header(format_mail(config_from("Jérôme <j@example.org>"), m), "From")
        == "=?UTF-8?B?SsOpcsO0bWU=?= <j@example.org>");
}

TEST_CASE("format_mail: a malformed From is a config error")
{
  CHECK_THROWS_AS(format_mail(config_from("Name <a@example.org"), sample()), ConfigError);
  CHECK_THROWS_AS(format_mail(config_from(""), sample()), UsageError);
}

TEST_CASE("format_mail: body line ends become CRLF")
{
  const auto msg = format_mail(config_from("x@example.org"), sample());
  CHECK(body_of(msg) == "line one\r\nline two\r\nline three\r\nend\r\n");
  // No bare LF or CR anywhere in the message.
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      REQUIRE(i > 0);
      CHECK(msg[i - 1] == '\r');
    }
    if (msg[i] == '\r') {
      REQUIRE(i + 1 < msg.size());
      CHECK(msg[i + 1] == '\n');
    }
  }
}

TEST_CASE("format_mail: an empty body")
{
  auto m = sample();
  m.body = "";
  CHECK(body_of(format_mail(config_from("x@example.org"), m)) == "");
}

TEST_CASE("format_mail: header injection is refused")
{
  const auto c = config_from("x@example.org");
  for (const char* evil : {"\r\nBcc: eve@example.org", "\nBcc: eve@example.org", "a\rb"}) {
    CAPTURE(evil);
    auto m = sample();
    m.subject = std::string("hello") + evil;
    CHECK(usage_message(c, m).find("subject contains a line break") != std::string::npos);

    m = sample();
    m.to = {std::string("a@example.org") + evil};
    CHECK(usage_message(c, m).find("line break") != std::string::npos);

    m = sample();
    m.notification_type = std::string("created") + evil;
    CHECK(usage_message(c, m).find("line break") != std::string::npos);

    CHECK(usage_message(config_from(std::string("Name") + evil + " <x@example.org>"), sample())
            .find("line break")
          != std::string::npos);
    CHECK(usage_message(config_from(std::string("x@example.org") + evil), sample())
            .find("line break")
          != std::string::npos);

    auto p = c;
    p.email_prefix = std::string("[t]") + evil;
    CHECK(usage_message(p, sample()).find("line break") != std::string::npos);
  }
  // A NUL would cut the address libcurl sees.
  auto m = sample();
  m.to = {std::string("a@example.org\0b", 15)};
  CHECK(usage_message(c, m) != "<accepted>");
}

TEST_CASE("format_mail: recipients must be bare addresses")
{
  const auto c = config_from("x@example.org");
  auto m = sample();
  m.to = {};
  CHECK(usage_message(c, m).find("no recipient") != std::string::npos);
  for (const char* bad : {"", "a b@example.org", "<a@example.org>", "a@example.org, b@x"}) {
    CAPTURE(bad);
    m.to = {bad};
    CHECK(usage_message(c, m) != "<accepted>");
  }
}
