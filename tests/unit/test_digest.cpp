// Unit tests for tokenadm/digest.hpp.
#include <doctest/doctest.h>

#include "tokenadm/digest.hpp"
#include "tokenadm/token.hpp"

#include <string>

using namespace tokenadm;

TEST_CASE("sha256_hex known answers")
{
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a'))
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // embedded NUL bytes are hashed, not treated as a terminator
  CHECK(sha256_hex(std::string("a\0b", 3)) != sha256_hex("a"));
}

TEST_CASE("sha256_hex is 64 lower-case hex characters")
{
  for (int i = 0; i < 20; ++i) {
    const auto t = generate_token("tka");
    const auto d = sha256_hex(t);
    CHECK(d.size() == 64);
    CHECK(d.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(d == sha256_hex(t));
    CHECK(d != sha256_hex(t + "x"));
  }
  CHECK(k_hash_sha256 == std::string("sha256"));
}

TEST_CASE("digest_equal")
{
  const auto a = sha256_hex("abc");
  const auto b = sha256_hex("abd");
  CHECK(digest_equal(a, a));
  CHECK(digest_equal(a, std::string(a)));
  CHECK_FALSE(digest_equal(a, b));
  CHECK(digest_equal("", ""));
  // different lengths are never equal, even if one is a prefix of the other
  CHECK_FALSE(digest_equal(a, a.substr(0, 63)));
  CHECK_FALSE(digest_equal(a.substr(0, 63), a));
  CHECK_FALSE(digest_equal(a, a + "0"));
  CHECK_FALSE(digest_equal(a, ""));
  CHECK_FALSE(digest_equal("", a));
  // last character differs
  std::string c = a;
  c.back() = (c.back() == '0') ? '1' : '0';
  CHECK_FALSE(digest_equal(a, c));
  // first character differs
  std::string f = a;
  f.front() = (f.front() == '0') ? '1' : '0';
  CHECK_FALSE(digest_equal(a, f));
}

// RFC 4231's test cases for HMAC-SHA-256 (4.2-4.4, 4.7-4.8): short keys, a
// key longer than the block (hashed first), data longer than the block.
TEST_CASE("hmac_sha256_hex known answers (RFC 4231)")
{
  CHECK(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There")
        == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_sha256_hex(std::string(20, '\xaa'), std::string(50, '\xdd'))
        == "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  CHECK(hmac_sha256_hex(std::string(131, '\xaa'),
                        "Test Using Larger Than Block-Size Key - Hash Key First")
        == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hmac_sha256_hex(std::string(131, '\xaa'),
                        "This is a test using a larger than block-size key and a larger than "
                        "block-size data. The key needs to be hashed before being used by the "
                        "HMAC algorithm.")
        == "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}
