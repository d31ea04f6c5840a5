// The tokenadm schema and its migrations.
#pragma once

namespace tokenadm {

class Db;

// The schema version this build reads and writes.
int expected_schema_version();

// The version the database is at; 0 when the schema does not exist.
int schema_version(Db& db);

struct InitResult {
  int from_version;
  int to_version;
};

// Creates or upgrades the schema in one transaction under an advisory lock,
// so concurrent runs apply each migration once. Throws DbError if the
// database is newer than this build.
InitResult init_schema(Db& db);

// Throws DbError("schema") unless `found` is the expected version, with
// a message telling the admin what to run.
void require_schema_version(int found);

} // namespace tokenadm
