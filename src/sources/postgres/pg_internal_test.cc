#include "sources/postgres/pg_internal.h"

#include <gtest/gtest.h>

namespace cairn::pg {
namespace {

TEST(PgQuote, IdentifiersLiteralsConnStrings) {
  EXPECT_EQ(QuoteIdent("app"), "\"app\"");
  EXPECT_EQ(QuoteIdent("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(ConnString("my db"), "dbname='my db'");
  EXPECT_EQ(ConnString("a'b\\c"), "dbname='a\\'b\\\\c'");
  EXPECT_EQ(ConnString("postgresql://x"), "dbname='postgresql://x'");
  EXPECT_EQ(ShellQuote("a b'c"), "'a b'\\''c'");
}

TEST(PgVersion, MajorsOfServersAndTools) {
  EXPECT_EQ(MajorOf(150018), 15);
  EXPECT_EQ(MajorOf(90624), 906);
  EXPECT_EQ(MajorName(15), "15");
  EXPECT_EQ(MajorName(906), "9.6");
  EXPECT_EQ(ToolMajor("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"), 15);
  EXPECT_EQ(ToolMajor("pg_dump (PostgreSQL) 13.11"), 13);
  EXPECT_EQ(ToolMajor("pg_dump (PostgreSQL) 9.6.24"), 906);
  EXPECT_EQ(ToolMajor("pg_dump (PostgreSQL) 17beta1"), 17);
  EXPECT_EQ(ToolMajor("something else"), 0);
}

TEST(PgErrors, ConnectionProblemsAreNamed) {
  const std::string refused =
      "psql: error: connection to server at \"127.0.0.1\", port 5999 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n";
  Status st = ClassifyError(refused, "127.0.0.1:5999", "postgres", "query failed");
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_EQ(st.message(), "cannot connect to PostgreSQL at 127.0.0.1:5999: connection refused");

  st = ClassifyError(
      "psql: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed "
      "for user \"postgres\"\n",
      "127.0.0.1:5432", "postgres", "x");
  EXPECT_EQ(st.code(), StatusCode::kWrongPassword);
  EXPECT_EQ(st.message(), "PostgreSQL at 127.0.0.1:5432 rejected the password for user postgres");

  st = ClassifyError("psql: error: connection to server at \"h\", port 1 failed: fe_sendauth: no password supplied\n",
                     "h:1", "u", "x");
  EXPECT_EQ(st.code(), StatusCode::kWrongPassword);
  EXPECT_NE(st.message().find("requires a password"), std::string::npos);

  st = ClassifyError(
      "psql: error: connection to server on socket \"/tmp/s/.s.PGSQL.5432\" failed: No such file or directory\n"
      "\tIs the server running locally and accepting connections on that socket?\n",
      "socket /tmp/s/.s.PGSQL.5432", "postgres", "x");
  EXPECT_EQ(st.message(), "cannot connect to PostgreSQL at socket /tmp/s/.s.PGSQL.5432: no server socket there (is "
                          "the server running?)");

  st = ClassifyError("pg_dump: error: connection to server on socket \"/s/.s.PGSQL.1\" failed: FATAL:  database "
                     "\"nope\" does not exist\n",
                     "w", "u", "x");
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "PostgreSQL at w: database \"nope\" does not exist");
}

TEST(PgErrors, QueryErrorsUseTheServerText) {
  const std::string restore =
      "pg_restore: error: could not execute query: ERROR:  relation \"t\" already exists\n"
      "Command was: CREATE TABLE public.t (\n    x integer\n);\n";
  EXPECT_EQ(ErrorText(restore), "relation \"t\" already exists");
  Status st = ClassifyError(restore, "w", "u", "pg_restore into database x failed");
  EXPECT_EQ(st.message(), "pg_restore into database x failed: relation \"t\" already exists");
  EXPECT_EQ(ErrorText("pg_dump: error: query failed: something\n"), "query failed: something");
  EXPECT_EQ(ErrorText("just a line\n\n"), "just a line");
  EXPECT_EQ(ErrorText(""), "no error message");
}

TEST(PgParts, NamesAreSafeAndUnique) {
  EXPECT_EQ(PartBaseName("app"), "app");
  EXPECT_EQ(PartBaseName("my_db-2.x"), "my_db-2.x");
  const std::string upper = PartBaseName("App"), lower = PartBaseName("app");
  EXPECT_NE(upper, lower);
  EXPECT_EQ(upper.rfind("app-", 0), 0u);
  const std::string spaced = PartBaseName("my db/ü");
  EXPECT_EQ(spaced.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-"), std::string::npos);
  EXPECT_EQ(PartBaseName("my db/ü"), spaced);  // stable
}

TEST(PgFingerprint, ScriptAndOutput) {
  const std::string script = FingerprintScript("columns", 1000);
  EXPECT_NE(script.find("\\gexec"), std::string::npos);
  EXPECT_NE(script.find("hashint4extended"), std::string::npos);
  EXPECT_NE(script.find("NOT attisdropped"), std::string::npos);
  EXPECT_NE(script.find("> 1000"), std::string::npos);
  EXPECT_NE(script.find(kFingerprintDone), std::string::npos);
  const std::string md5 = FingerprintScript("md5", 5);
  EXPECT_EQ(md5.find("hashint4extended"), std::string::npos);
  EXPECT_NE(md5.find("md5("), std::string::npos);
  EXPECT_EQ(DefaultFingerprintHash(150000), "columns");
  EXPECT_EQ(DefaultFingerprintHash(110000), "columns");
  EXPECT_EQ(DefaultFingerprintHash(100000), "md5");

  Json items = Json::object();
  ASSERT_TRUE(AddFingerprintItems({"\"public.t\"|3|-12345", "\"app.Odd|Name\"|0|0", "\"public.big\"|7|", ""}, "db",
                                  &items)
                  .ok());
  EXPECT_EQ(items["db"], (Json{{"tables", 3}}));
  EXPECT_EQ(items["db.public.t"], (Json{{"rows", 3}, {"checksum", "-12345"}}));
  EXPECT_EQ(items["db.app.Odd|Name"], (Json{{"rows", 0}, {"checksum", "0"}}));
  EXPECT_EQ(items["db.public.big"], (Json{{"rows", 7}}));
  Json unlogged = Json::object();
  ASSERT_TRUE(AddFingerprintItems({"\"public.u\"|unlogged|"}, "db", &unlogged).ok());
  EXPECT_EQ(unlogged["db.public.u"], Json({{"persistence", "unlogged"}}));
  EXPECT_EQ(unlogged["db"]["tables"], 1);
  EXPECT_NE(FingerprintScript("columns", 5, true).find("relpersistence = 'u'"), std::string::npos);
  EXPECT_EQ(FingerprintScript("columns", 5).find("relpersistence"), std::string::npos);
  EXPECT_FALSE(AddFingerprintItems({"garbage"}, "db", &items).ok());
  EXPECT_FALSE(AddFingerprintItems({"\"t\"|x|1"}, "db", &items).ok());

  Json empty = Json::object();
  ASSERT_TRUE(AddFingerprintItems({}, "e", &empty).ok());
  EXPECT_EQ(empty, (Json{{"e", {{"tables", 0}}}}));
}

TEST(PgGlobals, OnlyMissingRolesAndTablespaces) {
  const std::string dump =
      "SET default_transaction_read_only = off;\n"
      "CREATE ROLE postgres;\n"
      "ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'x';\n"
      "CREATE ROLE appuser;\n"
      "ALTER ROLE appuser WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc';\n"
      "CREATE ROLE \"Odd \"\"Role\";\n"
      "ALTER ROLE \"Odd \"\"Role\" WITH NOLOGIN;\n"
      "COMMENT ON ROLE postgres IS 'admin';\n"
      "GRANT appuser TO postgres GRANTED BY postgres;\n"
      "GRANT \"Odd \"\"Role\" TO appuser GRANTED BY postgres;\n"
      "CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';\n"
      "GRANT ALL ON TABLESPACE fast TO appuser;\n"
      "CREATE TABLESPACE slow OWNER postgres LOCATION '/srv/slow';\n";
  const std::string out = FilterGlobals(dump, {"postgres", "appuser"}, {"fast"});
  EXPECT_EQ(out,
            "SET default_transaction_read_only = off;\n"
            "CREATE ROLE \"Odd \"\"Role\";\n"
            "ALTER ROLE \"Odd \"\"Role\" WITH NOLOGIN;\n"
            "GRANT \"Odd \"\"Role\" TO appuser GRANTED BY postgres;\n"
            "CREATE TABLESPACE slow OWNER postgres LOCATION '/srv/slow';\n");
  EXPECT_EQ(FilterGlobals(dump, {}, {}), dump);
}

TEST(PgSettings, AlterDatabaseClauses) {
  EXPECT_EQ(SettingClause("work_mem=64MB"), "\"work_mem\" TO '64MB'");
  EXPECT_EQ(SettingClause("search_path=app, \"$user\", public"), "\"search_path\" TO 'app', '$user', 'public'");
  EXPECT_EQ(SettingClause("search_path=\"a,b\", c"), "\"search_path\" TO 'a,b', 'c'");
  EXPECT_EQ(SettingClause("app.note=it's"), "\"app.note\" TO 'it''s'");
}

TEST(PgServer, PostmasterOptsAndSnapshots) {
  std::string dir;
  EXPECT_EQ(ParsePostmasterOpts("/usr/lib/postgresql/15/bin/postgres \"-D\" \"/tmp/x/data\"\n", &dir),
            std::vector<std::string>{});
  EXPECT_EQ(dir, "/tmp/x/data");
  EXPECT_EQ(ParsePostmasterOpts("/usr/lib/postgresql/15/bin/postgres \"-D\" \"/etc/postgresql/15/main\" \"-c\" "
                                "\"config_file=/etc/postgresql/15/main/postgresql.conf\"\n",
                                &dir),
            (std::vector<std::string>{"-c", "config_file=/etc/postgresql/15/main/postgresql.conf"}));
  EXPECT_EQ(dir, "/etc/postgresql/15/main");
  EXPECT_TRUE(ParsePostmasterOpts("", &dir).empty());
  EXPECT_EQ(dir, "");
  uint64_t xmax = 0;
  bool idle = false;
  ASSERT_TRUE(ParseTxidSnapshot("736:736:\n", &xmax, &idle));
  EXPECT_EQ(xmax, 736u);
  EXPECT_TRUE(idle);
  ASSERT_TRUE(ParseTxidSnapshot("730:740:731,735", &xmax, &idle));
  EXPECT_EQ(xmax, 740u);
  EXPECT_FALSE(idle);
  EXPECT_FALSE(ParseTxidSnapshot("nonsense", &xmax, &idle));
}

TEST(PgNames, NewInstanceAndWorkNames) {
  EXPECT_EQ(NewInstanceName("app", "", "restored_1", 2), "app_restored_1");
  EXPECT_EQ(NewInstanceName("app", "copy", "restored_1", 1), "copy");
  EXPECT_EQ(NewInstanceName("app", "copy", "restored_1", 2), "app_copy");
  EXPECT_EQ(WorkName("app", "staging", "restored_20261125_061200"), "app_cairn_staging_restored_20261125_061200");
  const std::string long_db(60, 'x');
  const std::string a = WorkName(long_db, "staging", "s1"), b = WorkName(long_db, "staging", "s2");
  EXPECT_LE(a.size(), kMaxNameBytes);
  EXPECT_NE(a, b);
  EXPECT_NE(a.find("_cairn_staging_"), std::string::npos);
  // Never cuts a UTF-8 sequence in half.
  std::string umlauts;
  for (int i = 0; i < 40; ++i) umlauts += "\xc3\xbc";
  const std::string u = WorkName(umlauts, "old", "s");
  EXPECT_LE(u.size(), kMaxNameBytes);
  const size_t cut = u.find("_cairn_old_");
  EXPECT_EQ(cut % 2, 0u);
}

}  // namespace
}  // namespace cairn::pg

namespace cairn::pg {
namespace {

TEST(PgInternalTest, BaseBackupWalEndNamesTheSegmentOfTheEndPoint) {
  const std::string out =
      "pg_basebackup: initiating base backup, waiting for checkpoint to complete\n"
      "pg_basebackup: checkpoint completed\n"
      "pg_basebackup: write-ahead log start point: 0/2000028 on timeline 2\n"
      "pg_basebackup: write-ahead log end point: 1/5000138\n"
      "pg_basebackup: base backup completed\n";
  EXPECT_EQ(BaseBackupWalEnd(out), "000000020000000100000005");
  EXPECT_EQ(BaseBackupWalEnd("pg_basebackup: base backup completed\n"), "");
  EXPECT_EQ(BaseBackupWalEnd("write-ahead log start point: 0/2000028 on timeline 1\n"), "");  // no end
  EXPECT_EQ(BaseBackupWalEnd("write-ahead log start point: zz on timeline 1\nwrite-ahead log end point: 0/1\n"), "");
}

}  // namespace
}  // namespace cairn::pg
