// mailtool CONFIG TO SUBJECT BODY TYPE: sends one mail with send_mail(), as
// the [email] table of CONFIG says. Exit 0 when sent, 2 (the error on one
// stderr line) when not. Only for tests/mail/test_smtp.sh; TO may hold
// several addresses separated by commas.
#include "tokenadm/config.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/mail.hpp"

#include <iostream>
#include <string>

int main(int argc, char** argv)
{
  if (argc != 6) {
    std::cerr << "usage: mailtool CONFIG TO SUBJECT BODY TYPE\n";
    return 2;
  }
  try {
    const auto config = tokenadm::load_config(argv[1]);
    tokenadm::Mail mail;
    const std::string to = argv[2];
    for (std::size_t pos = 0; pos <= to.size();) {
      auto comma = to.find(',', pos);
      if (comma == std::string::npos) {
        comma = to.size();
      }
      mail.to.push_back(to.substr(pos, comma - pos));
      pos = comma + 1;
    }
    mail.subject = argv[3];
    mail.body = argv[4];
    mail.notification_type = argv[5];
    tokenadm::send_mail(config.email, mail);
  } catch (const tokenadm::Error& e) {
    std::cerr << "mailtool: " << e.what() << '\n';
    return 2;
  }
  return 0;
}
