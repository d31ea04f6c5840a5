# tokenadm.toml: search order, precedence, policy, bad files, secrets.
. "$(dirname "$0")/common.sh"
run_token 0 init
CFG=$TMP/cfg
mkdir -p "$CFG/xdg/tokenadm"
export HOME=$CFG XDG_CONFIG_HOME=$CFG/xdg
unset TOKENADM_CONFIG

# No file at all: defaults.
run_token 0 config show
expect_out '^config +=.*none found'
expect_out '^token.prefix += tka  # default$'
expect_out '^token.max_ttl += 1y  # default$'

# The XDG file is found; its values and lines are reported.
cat >"$CFG/xdg/tokenadm/tokenadm.toml" <<TOML
# comment
[token]
prefix = "acme"
default_ttl = "7d"
max_ttl = "30d"
allow_no_expiry = true
roles = ["api", "feed"]
TOML
run_token 0 config show
expect_out "^token.prefix += acme  # $CFG/xdg/tokenadm/tokenadm.toml:3$"
expect_out "^token.default_ttl += 7d  # .*:4$"
create_token --owner policy --role api
[[ "$TOK" == acme_* ]] || fail "prefix from the config"
[ "$(sql "select (expires_at - created_at)::text from tokenadm.tokens where id = '$TOK_ID'")" = '7 days' ] || fail "default_ttl"
run_token 2 create --role api --expires-in 31d
expect_one_line_err; expect_err 'max_ttl of 30d'
run_token 2 create
expect_one_line_err; expect_err "--role is needed"
run_token 2 create --role vcs
expect_err "policy does not allow the role 'vcs'"
create_token --no-expiry --role feed
[ -z "$(sql "select expires_at from tokenadm.tokens where id = '$TOK_ID'")" ] || fail "--no-expiry allowed by policy"
# A token made under another prefix still verifies.
run_token 0 verify <<<"$TOK"
# Environment beats the file; a flag beats the environment.
TOKENADM_MAX_TTL=60d run_token 0 config show
expect_out '^token.max_ttl += 60d  # env TOKENADM_MAX_TTL$'
TOKENADM_TIMEOUT=5 run_token 0 --timeout 7 config show
expect_out '^timeout += 7  # flag --timeout$'
TOKENADM_TIMEOUT=5 run_token 0 config show
expect_out '^timeout += 5  # env TOKENADM_TIMEOUT$'
TOKENADM_MAX_TTL=soon run_token 2 config show
expect_one_line_err; expect_err 'TOKENADM_MAX_TTL'

# --config beats TOKENADM_CONFIG beats the XDG file.
printf '[token]\nprefix = "envcfg"\n' >"$CFG/env.toml"
printf '[token]\nprefix = "flagcfg"\n' >"$CFG/flag.toml"
TOKENADM_CONFIG=$CFG/env.toml run_token 0 config show
expect_out '^token.prefix += envcfg'
TOKENADM_CONFIG=$CFG/env.toml run_token 0 --config "$CFG/flag.toml" config show
expect_out '^token.prefix += flagcfg'
run_token 0 config show --config "$CFG/flag.toml"
expect_out '^token.prefix += flagcfg'
run_token 2 --config "$CFG/missing.toml" config show
expect_one_line_err; expect_err 'missing.toml: No such file'
# A character from U+00A1..U+0499 where whitespace may stand (bare value,
# quoted key, after an escape): a parse error, not toml++'s unreachable
# switch default (UB; UBSan reports it in scripts/sanitize).
for body in 'prefix = \xc7\x9fx' '"\xc3\xa9" = 1' 'email_prefix = """a\\\xc3\xa9"""' 'read_only = tr\xc3\xa9'; do
  printf "$body\n" >"$CFG/nonascii.toml"
  run_token 2 --config "$CFG/nonascii.toml" config show
  expect_one_line_err; expect_err 'nonascii.toml'
done

# Bad files: unknown keys and wrong types name the key and the line.
bad() { printf "$1" >"$CFG/bad.toml"; run_token 2 --config "$CFG/bad.toml" "${@:2}"; expect_one_line_err; }
bad '[token]\nprefix = "x"\nmax_tll = "30d"\n' list
expect_err "bad.toml:3: unknown key 'token.max_tll'"
bad 'connect_timeout = "ten"\n' list
expect_err "bad.toml:1: connect_timeout: expected a number"
bad '[email]\nsmtp_port = "25"\n' list
expect_err "bad.toml:2: email.smtp_port: expected a number"
bad '[token]\nmax_ttl = 365\n' list
expect_err "bad.toml:2: token.max_ttl: expected a string"
bad '[token]\ndefault_ttl = "forever"\n' list
expect_err "bad.toml:2: token.default_ttl: expected a duration"
bad '[token]\nallow_no_expiry = "yes"\n' list
expect_err "allow_no_expiry: expected true or false"
bad '[token]\nroles = ["api", "root"]\n' list
expect_err "unknown role 'root'"
bad '[token]\nprefix = "Bad_Prefix"\n' list
expect_err "token.prefix"
bad '[token]\ndefault_ttl = "400d"\n' list
expect_err "longer than token.max_ttl"
bad 'this is not toml\n' list
expect_err "bad.toml:1: "
bad '[token]\ndigest = "md5"\n' list
expect_err "not sha256 or hmac-sha256"

# A file holding a password must not be readable by others (like .pgpass).
printf 'dsn = "postgresql://u:CANARYPW@127.0.0.1:1/x"\n' >"$CFG/secret.toml"
chmod 644 "$CFG/secret.toml"
run_token 2 --config "$CFG/secret.toml" list
expect_one_line_err; expect_err 'holds a password and has mode 0644: refused'
chmod 600 "$CFG/secret.toml"
# Now read: its DSN is used (and fails to connect: exit 1, no password shown).
env -u TOKENADM_DSN "$TOKEN" --config "$CFG/secret.toml" list >"$TMP/out" 2>"$TMP/err" && fail "connected?"
check_clean "$TMP/out" "$TMP/err"
env -u TOKENADM_DSN "$TOKEN" --config "$CFG/secret.toml" config show >"$TMP/out" 2>"$TMP/err" || fail "config show"
check_clean "$TMP/out" "$TMP/err"
expect_out "^dsn += postgresql://u:\*\*\*@127.0.0.1:1/x  # $CFG/secret.toml:1$"
# The same for a SQLAlchemy URL with a password (gsconfig.ini style).
printf 'dsn = "postgresql+psycopg2://u:CANARYPW@127.0.0.1:1/x"\n' >"$CFG/sqla.toml"
chmod 644 "$CFG/sqla.toml"
run_token 2 --config "$CFG/sqla.toml" list
expect_err 'holds a password and has mode 0644'
# A config without secrets may be world-readable.
chmod 644 "$CFG/flag.toml"
run_token 0 --config "$CFG/flag.toml" config show

# dsn_file: used when nothing else names a DSN, refused if others can read it.
printf '%s\n' "$BASE_DSN" >"$CFG/dsn"
chmod 600 "$CFG/dsn"
printf 'dsn_file = "%s"\n' "$CFG/dsn" >"$CFG/dsnfile.toml"
env -u TOKENADM_DSN "$TOKEN" --config "$CFG/dsnfile.toml" list >"$TMP/out" 2>"$TMP/err" || fail "dsn_file not used"
chmod 640 "$CFG/dsn"
run_token 2 --config "$CFG/dsnfile.toml" list
expect_err 'has mode 0640'

# verify_dsn and verify_dsn_file: verification's own DSN, shown by config
# show with its source beside the main one; unset, it is the main DSN.
run_token 0 config show
expect_out "^verify_dsn += .*  # dsn \(env TOKENADM_DSN\)$"
printf 'verify_dsn = "postgresql://u:CANARYPW@127.0.0.1:1/x"\n' >"$CFG/vdsn.toml"
chmod 644 "$CFG/vdsn.toml"
run_token 2 --config "$CFG/vdsn.toml" config show
expect_one_line_err; expect_err 'holds a password and has mode 0644: refused'
chmod 600 "$CFG/vdsn.toml"
run_token 0 --config "$CFG/vdsn.toml" config show
expect_out "^verify_dsn += postgresql://u:\*\*\*@127.0.0.1:1/x  # $CFG/vdsn.toml:1$"
expect_out "^dsn += .*  # env TOKENADM_DSN$"
# It is what verify uses (here: nothing listens, exit 1), not the others.
create_token --owner roles --role api
run_token 1 --config "$CFG/vdsn.toml" verify <<<"$TOK"
expect_one_line_err
run_token 0 --config "$CFG/vdsn.toml" show "$TOK_ID"
# --verify-dsn and TOKENADM_VERIFY_DSN come first.
TOKENADM_VERIFY_DSN=$BASE_DSN run_token 0 --config "$CFG/vdsn.toml" verify <<<"$TOK"
expect_out_exactly roles
run_token 0 --config "$CFG/vdsn.toml" --verify-dsn "$BASE_DSN" verify <<<"$TOK"
TOKENADM_VERIFY_DSN=$BASE_DSN run_token 0 --config "$CFG/vdsn.toml" --verify-dsn "host=/nonexistent" config show
expect_out "^verify_dsn += host=/nonexistent  # flag --verify-dsn$"
TOKENADM_VERIFY_DSN=$BASE_DSN run_token 0 --config "$CFG/vdsn.toml" config show
expect_out "^verify_dsn += .*  # env TOKENADM_VERIFY_DSN$"
# verify_dsn_file, refused as dsn_file is when others can read it.
printf '%s\n' "$BASE_DSN" >"$CFG/vdsn"
chmod 600 "$CFG/vdsn"
printf 'verify_dsn_file = "%s"\n' "$CFG/vdsn" >"$CFG/vdsnfile.toml"
run_token 0 --config "$CFG/vdsnfile.toml" --dsn "host=/nonexistent" verify <<<"$TOK"
expect_out_exactly roles
run_token 0 --config "$CFG/vdsnfile.toml" config show
expect_out "^verify_dsn += .*  # verify_dsn_file$"
chmod 604 "$CFG/vdsn"
run_token 2 --config "$CFG/vdsnfile.toml" verify <<<"$TOK"
expect_one_line_err; expect_err 'has mode 0604'

# A symlink to another user's file is refused (owner check).
if [ "$(id -u)" = 0 ]; then
  other=$(mktemp -d); chmod 755 "$other"
  printf '[token]\nprefix = "evil"\n' >"$other/evil.toml"
  chown nobody "$other/evil.toml"
  ln -s "$other/evil.toml" "$CFG/link.toml"
  run_token 2 --config "$CFG/link.toml" config show
  expect_one_line_err; expect_err 'is owned by uid [0-9]+, not by you or root: refused'
  rm -rf "$other"
else
  echo "skip: owner check needs a file of another user (not root); running as $(id -un)"
fi

# HMAC pepper: tokens made under an old key still verify after a new one.
head -c 32 /dev/urandom | base64 >"$CFG/pepper1"; chmod 600 "$CFG/pepper1"
head -c 32 /dev/urandom | base64 >"$CFG/pepper2"; chmod 600 "$CFG/pepper2"
printf '[token]\ndigest = "hmac-sha256"\npepper_file = "%s"\n' "$CFG/pepper1" >"$CFG/h1.toml"
printf '[token]\ndigest = "hmac-sha256"\npepper_file = "%s"\nprevious_pepper_files = ["%s"]\n' "$CFG/pepper2" "$CFG/pepper1" >"$CFG/h2.toml"
create_token --config "$CFG/h1.toml" --owner peppered
P1=$TOK; P1_ID=$TOK_ID
[ "$(sql "select hash_alg from tokenadm.tokens where id = '$P1_ID'")" = hmac-sha256 ] || fail "hash_alg"
[ "$(sql "select count(*) from tokenadm.tokens where id = '$P1_ID' and digest = encode(sha256('$P1'::bytea), 'hex')")" = 0 ] \
  || fail "hmac stored a plain sha256"
run_token 0 --config "$CFG/h1.toml" verify <<<"$P1"
create_token --config "$CFG/h2.toml" --owner peppered2
P2=$TOK
run_token 0 --config "$CFG/h2.toml" verify <<<"$P1"
expect_out_exactly peppered
run_token 0 --config "$CFG/h2.toml" verify <<<"$P2"
# Without the key the token cannot verify.
run_token 2 --config "$CFG/flag.toml" verify <<<"$P1"
expect_err '^token: unknown'
# SHA-256 tokens made before the pepper still verify under it.
create_token --config "$CFG/flag.toml" --owner plain
run_token 0 --config "$CFG/h2.toml" verify <<<"$TOK"
chmod 644 "$CFG/pepper1"
run_token 2 --config "$CFG/h2.toml" verify <<<"$P1"
expect_one_line_err; expect_err 'pepper1 has mode 0644'
printf '[token]\ndigest = "hmac-sha256"\n' >"$CFG/h3.toml"
run_token 2 --config "$CFG/h3.toml" list
expect_err 'needs token.pepper_file'
pass
