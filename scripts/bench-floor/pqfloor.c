/* The floor for a one-shot command: a minimal libpq client that connects
 * (TOKENADM_DSN, else libpq's defaults), sends one statement with its
 * parameters as an unnamed extended-protocol statement (as token does), prints
 * the first field of the first row and exits. Nothing else: no config file,
 * no OpenSSL set-up of its own, no C++ runtime.
 *   pqfloor SQL [PARAM...]
 * Built by scripts/bench:  cc -O2 pqfloor.c $(pkg-config --cflags --libs libpq) */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: pqfloor SQL [PARAM...]\n");
    return 2;
  }
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
