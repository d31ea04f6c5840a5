// Client addresses and the address ranges a token may be bound to
// (--allow-from, verify --from). Checked here, before any connection, with
// the rules PostgreSQL's inet and cidr types apply, so a value this accepts
// is one the database accepts too.
#pragma once

#include <string>
#include <vector>

namespace tokenadm {

// An IPv4 or IPv6 address without a mask ("192.0.2.7", "2001:db8::1"), in
// its canonical text. Throws UsageError naming `what`.
std::string parse_address(const std::string& text, const std::string& what);

// An address range: "10.0.0.0/8", "2001:db8::/32", or a single address
// (taken as /32 or /128). Bits set beyond the mask are an error, as for
// PostgreSQL's cidr. Returns the canonical "addr/len". Throws UsageError.
std::string parse_cidr(const std::string& text, const std::string& what);

// Each of `items` split at commas, parsed with parse_cidr; duplicates
// dropped, order kept.
std::vector<std::string> parse_cidr_list(const std::vector<std::string>& items,
                                         const std::string& what);

// Whether the canonical address `addr` lies in one of the canonical `ranges`.
// An IPv4 address never matches an IPv6 range, as in PostgreSQL.
bool address_in(const std::string& addr, const std::vector<std::string>& ranges);

} // namespace tokenadm
