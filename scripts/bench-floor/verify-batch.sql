-- The server's own rate for verify --batch's lookup (scripts/bench): each
-- transaction looks up 1,000 token ids in one statement, the ids drawn from
-- a pre-built table of arrays (bench_ids, made by the bench) so that the
-- lookup is all the transaction costs. Needs -M extended (array variable)
-- and -D nk=<number of arrays>.
\set k random(1, :nk)
select ids from bench_ids where k = :k \gset
select t.id, t.digest, t.owner, array_to_string(t.roles, ','), array_to_json(t.scopes)::text,
  t.revoked_at is not null and t.revoked_at <= now(),
  t.expires_at is not null and t.expires_at <= now(),
  t.revoked_at, t.expires_at, t.hash_alg, t.key_id, t.replaced_by
  from tokenadm.tokens t where t.id = any(:ids::text[]);
