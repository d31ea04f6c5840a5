#include "tokenadm/schema.hpp"

#include "db_impl.hpp"

#include <array>
#include <optional>

namespace tokenadm {

namespace {

// Migration N (1-based) takes the schema from version N-1 to N. Append only:
// a released migration is never edited.
constexpr std::array<const char*, 11> k_migrations{{
  R"sql(
create table tokenadm.tokens (
  id            text primary key,
  digest        text not null unique,
  hash_alg      text not null default 'sha256',
  key_id        text not null default '',
  owner         text not null default '',
  label         text not null default '',
  roles         text[] not null default '{all}',
  scopes        text[] not null default '{}',
  contact       text,
  meta          jsonb not null default '{}',
  created_at    timestamptz not null default now(),
  created_by    text not null default '',
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  revoked_by    text,
  revoke_reason text,
  replaced_by   text references tokenadm.tokens(id) on delete set null
);
create index tokens_owner_idx on tokenadm.tokens (owner);
create index tokens_expires_idx on tokenadm.tokens (expires_at);
create table tokenadm.audit (
  id        bigserial primary key,
  at        timestamptz not null default now(),
  action    text not null,
  token_id  text,
  owner     text,
  actor     text not null default '',
  sudo_user text,
  host      text not null default '',
  outcome   text not null default 'ok',
  reason    text
);
create index audit_token_idx on tokenadm.audit (token_id);
create index audit_at_idx on tokenadm.audit (at);
)sql",
  // 2: where a token came from (tokenadm, import, gs), and the index ensure
  // and list --label use.
  R"sql(
alter table tokenadm.tokens add column source text not null default 'tokenadm';
create index tokens_owner_label_idx on tokenadm.tokens (owner, label);
)sql",
  // 3: audit details; failed verifications folded into one row per reason,
  // source and minute (bucket) with a count; the expiry a notice was sent for.
  R"sql(
alter table tokenadm.audit add column details jsonb,
  add column count integer not null default 1,
  add column bucket timestamp;
create unique index audit_verify_failed_idx on tokenadm.audit (bucket, reason, actor, host)
  where action = 'verify-failed';
create index audit_owner_idx on tokenadm.audit (owner);
alter table tokenadm.tokens add column notified_expiry timestamptz;
)sql",
  // 4: verify-time policy: address ranges, a use limit and its count,
  // suspension, and the last client addresses ([{"addr", "at"}], newest
  // first, at most 5). Constant defaults: no table rewrite.
  R"sql(
alter table tokenadm.tokens add column allow_from cidr[],
  add column max_uses integer check (max_uses > 0),
  add column uses integer not null default 0,
  add column suspended_at timestamptz,
  add column suspended_by text,
  add column suspend_reason text,
  add column used_from jsonb not null default '[]';
)sql",
  // 5: notices claimed per token, kind (expiring, expired, unused), lead
  // time (seconds) and what they are about (the expiry, or the last use),
  // so notify --at never mails twice.
  R"sql(
create table tokenadm.notices (
  token_id text not null references tokenadm.tokens(id) on delete cascade,
  kind     text not null,
  lead     bigint not null default 0,
  about    timestamptz not null,
  at       timestamptz not null default now(),
  primary key (token_id, kind, lead, about)
);
)sql",
  // 6: prune at scale and cheap last-used updates. Deleting a token looks
  // up the rows naming it in replaced_by (on delete set null): indexed, or
  // each deletion scans the table. Pages keep a fifth free, so that an update
  // of unindexed columns (last_used_at) can stay on its page (HOT), with no
  // index entries to add; pages written before keep their fill.
  R"sql(
create index tokens_replaced_by_idx on tokenadm.tokens (replaced_by)
  where replaced_by is not null;
alter table tokenadm.tokens set (fillfactor = 80);
)sql",
  // 7: statements check the schema version at no cost. They used to read
  // max(version) from schema_version in a subquery, which PostgreSQL plans
  // with every statement (a third of a verify lookup's server time). Now
  // they call tokenadm.schema_version_now(), an immutable SQL function that
  // init (re)defines, in the upgrade's own transaction, to return the
  // version it reached: the planner folds it into a constant, and a cached
  // plan is invalidated when it is redefined. schema_version stays the
  // record of what was applied. Never drop the function or change its
  // signature in a later migration: older binaries name it in every
  // statement, and would take its absence for a schema older than theirs.
  R"sql(
comment on table tokenadm.schema_version is
  'The migrations applied. tokenadm.schema_version_now() returns the latest.';
)sql",
  // 8: a change to what a verify answers from is announced on the channel
  // tokenadm_tokens (NOTIFY, delivered at commit), for caches of accepted
  // tokens (token serve's serve.cache_ttl) to drop what they hold. Fired by
  // any statement that deletes rows or sets one of the columns a verify
  // reads, whoever runs it (revoke, suspend, rotate, ensure, prune, SQL by
  // hand); not by a verify's own update (last_used_at, uses, used_from),
  // nor by an insert (a cache holds no answer for a token not yet there).
  // Once per statement, not per row; NOTIFY folds repeats in a transaction.
  // ENABLE ALWAYS: also fired where session_replication_role is replica (a
  // logical replication subscriber applying changes). The function names
  // pg_notify in pg_catalog, whatever the caller's search_path. A later
  // migration that alters the type of a listed column must drop the trigger
  // first (PostgreSQL refuses, naming it), and create it again. Transactions
  // that change tokens can no longer be PREPAREd (two-phase commit refuses
  // NOTIFY).
  R"sql(
create or replace function tokenadm.tokens_changed() returns trigger language plpgsql
  set search_path = pg_catalog as $$
begin
  perform pg_catalog.pg_notify('tokenadm_tokens', '');
  return null;
end
$$;
drop trigger if exists tokens_changed on tokenadm.tokens;
create trigger tokens_changed
  after update of id, digest, hash_alg, key_id, owner, roles, scopes, expires_at, revoked_at,
    replaced_by, allow_from, max_uses, suspended_at or delete or truncate
  on tokenadm.tokens for each statement execute function tokenadm.tokens_changed();
alter table tokenadm.tokens enable always trigger tokens_changed;
)sql",
  // 9: what a verify records in the audit trail, through two functions that
  // run with their owner's rights (SECURITY DEFINER): add to the count of
  // failed verifications for one reason, actor and host this minute, and
  // flag the use of rotated-out tokens in their overlap (once a minute
  // each). A role that only verifies then needs no privilege on
  // tokenadm.audit: it cannot read the audit trail, and can add to it only
  // what these write, each row naming the database user that called them
  // (details.db_user). Fixed search_path, every name qualified; dropped
  // first (a function of that name made beforehand by someone else goes, or
  // the migration fails), and owned by the audit table's owner, not by
  // whoever runs init (perhaps a superuser).
  R"sql(
drop function if exists tokenadm.record_verify_failure(text, text, text, text, text, integer);
create function tokenadm.record_verify_failure(p_token_id text, p_actor text,
    p_sudo_user text, p_host text, p_reason text, p_count integer)
  returns void language sql security definer set search_path = pg_catalog, pg_temp as $$
insert into tokenadm.audit as a (at, action, token_id, owner, actor, sudo_user, host, outcome,
    reason, bucket, count, details)
  select now(), 'verify-failed', p_token_id,
    (select t.owner from tokenadm.tokens t where t.id = p_token_id),
    p_actor, nullif(p_sudo_user, ''), p_host, 'denied', p_reason,
    date_trunc('minute', now() at time zone 'UTC'), p_count,
    jsonb_build_object('db_user', session_user)
  where p_count between 1 and 1000000 and p_reason ~ '^[a-z-]{1,32}$'
    and length(p_actor) <= 512 and length(p_host) <= 256
    and coalesce(length(p_sudo_user), 0) <= 256 and coalesce(length(p_token_id), 0) <= 64
  on conflict (bucket, reason, actor, host) where action = 'verify-failed'
  do update set count = least(a.count::bigint + excluded.count, 2147483647)::integer,
    at = excluded.at,
    token_id = coalesce(excluded.token_id, a.token_id),
    owner = case when excluded.token_id is null then a.owner else excluded.owner end
$$;
drop function if exists tokenadm.record_rotated_use(text[], text, text, text);
create function tokenadm.record_rotated_use(p_ids text[], p_actor text,
    p_sudo_user text, p_host text)
  returns void language sql security definer set search_path = pg_catalog, pg_temp as $$
insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user, host, outcome, reason,
    details)
  select now(), 'verify', t.id, t.owner, p_actor, nullif(p_sudo_user, ''), p_host,
    'rotated-token-used', 'replaced by ' || t.replaced_by,
    jsonb_build_object('db_user', session_user)
  from tokenadm.tokens t
  where t.id = any(p_ids) and t.replaced_by is not null and t.revoked_at > now()
    and length(p_actor) <= 512 and length(p_host) <= 256
    and coalesce(length(p_sudo_user), 0) <= 256
    and not exists (select 1 from tokenadm.audit a where a.token_id = t.id
      and a.outcome = 'rotated-token-used' and a.at > now() - interval '1 minute')
$$;
do $$
declare
  owner name := (select pg_catalog.pg_get_userbyid(c.relowner) from pg_catalog.pg_class c
                 where c.oid = 'tokenadm.audit'::regclass);
begin
  execute format('alter function tokenadm.record_verify_failure(text, text, text, text, text,'
                 ' integer) owner to %I', owner);
  execute format('alter function tokenadm.record_rotated_use(text[], text, text, text)'
                 ' owner to %I', owner);
end
$$;
)sql",
  // 10: a bulk creation (create --count, --labels-from-stdin) is one audit
  // row, not one a token: its tokens' ids in token_ids, how many in count.
  // One row a token was a quarter of a bulk creation's time. audit --token
  // finds the row by any of its ids (the GIN index).
  R"sql(
alter table tokenadm.audit add column if not exists token_ids text[];
create index if not exists audit_token_ids_idx on tokenadm.audit using gin (token_ids);
)sql",
  // 11: only the tokens found by their digest alone, imported legacy ones
  // (legacy), are in the digest's unique index: every other token is found
  // by the id in its text. The index was as large as the table's rows and
  // every insert went to a random page of it: over half of a create --count
  // into a table of 1,000,000 tokens. Imported rows are those whose source
  // is not tokenadm's own (import came with version 2, as did source).
  // verify reads legacy, so a change to it is announced (version 8).
  R"sql(
alter table tokenadm.tokens add column if not exists legacy boolean not null default false;
update tokenadm.tokens set legacy = true where source not in ('tokenadm', 'bulk') and not legacy;
create unique index if not exists tokens_legacy_digest_idx on tokenadm.tokens (digest) where legacy;
alter table tokenadm.tokens drop constraint if exists tokens_digest_key;
drop trigger if exists tokens_changed on tokenadm.tokens;
create trigger tokens_changed
  after update of id, digest, hash_alg, key_id, owner, roles, scopes, expires_at, revoked_at,
    replaced_by, allow_from, max_uses, suspended_at, legacy or delete or truncate
  on tokenadm.tokens for each statement execute function tokenadm.tokens_changed();
alter table tokenadm.tokens enable always trigger tokens_changed;
)sql",
}};

// pg_advisory_xact_lock key: "tokenadm" as a number, shared by every init.
constexpr long long k_lock_key = 0x746f6b656e61646dLL;

int read_version(pqxx::transaction_base& tx)
{
  // Two statements: a query naming a missing table fails at parse time,
  // whatever guards it.
  if (tx.exec("select to_regclass('tokenadm.schema_version') is null")[0][0].as<bool>()) {
    return 0;
  }
  return tx.exec("select coalesce(max(version), 0) from tokenadm.schema_version")[0][0].as<int>();
}

// What tokenadm.schema_version_now() returns; nullopt when it is missing.
std::optional<int> function_version(pqxx::transaction_base& tx)
{
  if (tx.exec("select to_regprocedure('" + k_version_sql + "') is null")[0][0]
        .as<bool>()) {
    return std::nullopt;
  }
  return tx.exec("select " + k_version_sql)[0][0].as<int>();
}

// The first version whose statements read the version from
// tokenadm.schema_version_now().
constexpr int k_function_since = 7;

} // namespace

int expected_schema_version()
{
  return static_cast<int>(k_migrations.size());
}

int schema_version(Db& db)
{
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const int v = read_version(tx);
    // What the statements read must be there and agree with the record
    // (init --check and serve's health check must see what they would).
    if (v >= k_function_since && function_version(tx) != v) {
      throw DbError(std::string("the tokenadm schema's ") + k_version_sql
                      + " is missing or disagrees with tokenadm.schema_version: run token init",
                    "schema");
    }
    return v;
  });
}

void require_schema_version(int found)
{
  const int want = expected_schema_version();
  if (found == want) {
    return;
  }
  if (found == 0) {
    throw DbError("the tokenadm schema is missing from this database: run token init", "schema");
  }
  if (found < want) {
    throw DbError("the tokenadm schema is at version " + std::to_string(found)
                    + ", this token needs " + std::to_string(want) + ": run token init",
                  "schema");
  }
  throw DbError("the tokenadm schema is at version " + std::to_string(found)
                  + ", newer than this token understands (" + std::to_string(want)
                  + "): upgrade tokenadm",
                "schema");
}

InitResult init_schema(Db& db)
{
  return guarded(db, [&] {
    pqxx::work tx(db.impl().conn);
    tx.exec_params("select pg_advisory_xact_lock($1)", k_lock_key);
    tx.exec("create schema if not exists tokenadm");
    tx.exec("create table if not exists tokenadm.schema_version ("
            " version int primary key,"
            " applied_at timestamptz not null default now())");
    const int from = read_version(tx);
    const int want = expected_schema_version();
    if (from > want) {
      require_schema_version(from);
    }
    if (from > 0 && from < want) {
      // Statements in flight end first, and the ones after are planned
      // after the upgrade: each takes its tables' locks before the planner
      // folds in the version (see migration 7), so none acts on a schema
      // other than the one whose version it read.
      const auto tables =
        tx.exec("select string_agg(format('%I.%I', schemaname, tablename), ', ')"
                " from pg_tables where schemaname = 'tokenadm' and tablename <> 'schema_version'")[0][0];
      if (!tables.is_null()) {
        tx.exec("lock table " + std::string(tables.c_str()) + " in access exclusive mode");
      }
    }
    for (int v = from + 1; v <= want; ++v) {
      tx.exec(k_migrations[static_cast<std::size_t>(v - 1)]);
      tx.exec_params("insert into tokenadm.schema_version (version) values ($1)", v);
    }
    // The version every statement checks (see migration 7): redefined with
    // each upgrade, and restored if it has gone missing.
    if (function_version(tx) != want) {
      tx.exec("create or replace function " + k_version_sql
              + " returns int language sql immutable parallel safe as 'select "
              + std::to_string(want) + "'");
    }
    tx.commit();
    return InitResult{from, want};
  });
}

} // namespace tokenadm
