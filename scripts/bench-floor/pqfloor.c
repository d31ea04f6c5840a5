/* The floor for a one-shot command: a minimal libpq client that connects
 * (TOKENADM_DSN, else libpq's defaults), sends one statement with its
 * parameters as an unnamed extended-protocol statement (as token does), prints
 * the first field of the first row and exits. Nothing else: no config file,
 * no OpenSSL set-up of its own, no C++ runtime.
 *   pqfloor SQL [PARAM...]
 * Built by scripts/bench:  cc -O2 pqfloor.c $(pkg-config --cflags --libs libpq)
 *
 * Built as C++ with -DFLOOR_STACK, it also pays what any client on token's
 * required stack pays before its own code: the iostreams' start-up (CLI11
 * and toml++ include <iostream>) and OpenSSL initialised without its config
 * and asked for SHA-256 through EVP (STYLE.md), the digest of its last
 * parameter taken once. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef FLOOR_STACK
#include <iostream>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

int main(int argc, char** argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: pqfloor SQL [PARAM...]\n");
    return 2;
  }
#ifdef FLOOR_STACK
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
  EVP_MD* md = EVP_MD_fetch(NULL, "SHA256", NULL);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  const char* last = argv[argc - 1];
  if (md == NULL || EVP_Digest(last, strlen(last), out, &out_len, md, NULL) != 1) {
    fprintf(stderr, "pqfloor: SHA-256 failed\n");
    return 1;
  }
#endif
  const char* dsn = getenv("TOKENADM_DSN");
  PGconn* conn = PQconnectdb(dsn ? dsn : "");
  if (PQstatus(conn) != CONNECTION_OK) {
    fprintf(stderr, "pqfloor: cannot connect\n");
    return 1;
  }
  PGresult* res = PQexecParams(conn, argv[1], argc - 2, NULL, (const char* const*)(argv + 2),
                               NULL, NULL, 0);
  const ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    fprintf(stderr, "pqfloor: %s", PQerrorMessage(conn));
    return 2;
  }
  if (st == PGRES_TUPLES_OK && PQntuples(res) > 0) {
    puts(PQgetvalue(res, 0, 0));
  }
  PQclear(res);
  PQfinish(conn);
  return 0;
}
