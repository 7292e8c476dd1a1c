// Unit tests of the MariaDB source's pure helpers (no server).
#include <gtest/gtest.h>

#include <set>

#include "sources/mysql/mysql_common.h"
#include "sources/mysql/mysql_internal.h"

namespace cairn::mysql {
namespace {

TEST(MysqlQuote, Identifiers) {
  EXPECT_EQ(QuoteIdent("app"), "`app`");
  EXPECT_EQ(QuoteIdent("we`ird"), "`we``ird`");
  EXPECT_EQ(QuoteIdent("Odd Name"), "`Odd Name`");
}

TEST(MysqlQuote, Literals) {
  EXPECT_EQ(QuoteLiteral("app"), "'app'");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(QuoteLiteral("a\\b"), "'a\\\\b'");
  EXPECT_EQ(QuoteLiteral(std::string("n\0l\n", 4)), "'n\\0l\\n'");
}

TEST(MysqlQuote, OptionFileValue) {
  EXPECT_EQ(OptionFileValue("secret"), "\"secret\"");
  EXPECT_EQ(OptionFileValue("with space # and ;"), "\"with space # and ;\"");
  EXPECT_EQ(OptionFileValue("q\"b\\"), "\"q\\\"b\\\\\"");
  EXPECT_EQ(OptionFileValue("tab\there"), "\"tab\\there\"");
}

TEST(MysqlBatch, SplitsAndUnescapes) {
  std::vector<std::string> f = SplitBatchLine("a\\tb\tline1\\nline2\tback\\\\slash\tnul\\0x\t");
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0], "a\tb");
  EXPECT_EQ(f[1], "line1\nline2");
  EXPECT_EQ(f[2], "back\\slash");
  EXPECT_EQ(f[3], std::string("nul\0x", 5));
  EXPECT_EQ(f[4], "");
  auto rows = ParseBatch("1\tx\n2\ty\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][1], "y");
  EXPECT_EQ(SplitLines("a\n\nb"), (std::vector<std::string>{"a", "", "b"}));
}

TEST(MysqlNames, EncodeKeepsSimpleNamesAndSeparatesOthers) {
  EXPECT_EQ(EncodeName("app"), "app");
  EXPECT_EQ(EncodeName("my_db-2"), "my_db-2");
  EXPECT_EQ(EncodeName("App"), ".41pp");
  EXPECT_EQ(EncodeName("a.b"), "a.2eb");
  EXPECT_EQ(EncodeName("caf\xc3\xa9"), "caf.c3.a9");
  std::set<std::string> seen;
  for (const char* n : {"app", "App", "APP", "a.pp", "a.2epp", "a pp"})
    EXPECT_TRUE(seen.insert(EncodeName(n)).second) << n;
  for (const std::string& e : seen)
    for (char c : e) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
}

TEST(MysqlNames, SystemDatabases) {
  EXPECT_TRUE(IsSystemDatabase("mysql"));
  EXPECT_TRUE(IsSystemDatabase("information_schema"));
  EXPECT_TRUE(IsSystemDatabase("performance_schema"));
  EXPECT_TRUE(IsSystemDatabase("sys"));
  EXPECT_FALSE(IsSystemDatabase("app"));
  EXPECT_FALSE(IsSystemDatabase("MySQL_app"));
}

TEST(MysqlNames, BoundedName) {
  EXPECT_EQ(BoundedName("app", "cairn_staging", "restored_20261125_061200"),
            "app_cairn_staging_restored_20261125_061200");
  std::string long_a(60, 'a'), long_b = std::string(59, 'a') + "b";
  std::string a = BoundedName(long_a, "cairn_staging", "restored_20261125_061200");
  std::string b = BoundedName(long_b, "cairn_staging", "restored_20261125_061200");
  EXPECT_LE(IdentLength(a), 64u);
  EXPECT_LE(IdentLength(b), 64u);
  EXPECT_NE(a, b);
  EXPECT_NE(a.find("_cairn_staging_restored_20261125_061200"), std::string::npos);
  std::string huge = BoundedName("app", "cairn_staging", std::string(80, 's'));
  EXPECT_LE(IdentLength(huge), 64u);
  // Truncation never splits a UTF-8 character.
  std::string utf(40, 'x');
  for (int i = 0; i < 20; ++i) utf += "\xc3\xa9";
  std::string u = BoundedName(utf, "cairn_old", "restored_20261125_061200");
  EXPECT_LE(IdentLength(u), 64u);
  EXPECT_EQ(Utf8Prefix("\xc3\xa9\xc3\xa9", 1), "\xc3\xa9");
  EXPECT_EQ(IdentLength("\xc3\xa9t\xc3\xa9"), 3u);
}

TEST(MysqlVersion, MajorMinor) {
  EXPECT_EQ(MajorMinor("10.11.19-MariaDB-0+deb12u1-log"), (std::pair<int, int>{10, 11}));
  EXPECT_EQ(MajorMinor("8.0.36"), (std::pair<int, int>{8, 0}));
  EXPECT_EQ(MajorMinor("5.5.5-10.4.1-MariaDB"), (std::pair<int, int>{10, 4}));
  EXPECT_EQ(MajorMinor("11.4.2-MariaDB debian-linux-gnu (x86_64)"), (std::pair<int, int>{11, 4}));
  EXPECT_EQ(MajorMinor("garbage"), (std::pair<int, int>{0, 0}));
  EXPECT_TRUE(IsMariaDb("10.11.19-MariaDB-0+deb12u1-log"));
  EXPECT_FALSE(IsMariaDb("8.0.36"));
}

TEST(MysqlErrors, ConnectionProblemsNameTheEndpoint) {
  Status refused = ClassifyError("ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)\n", "127.0.0.1:5999",
                                 "app", "probe");
  EXPECT_EQ(refused.message(), "cannot connect to MariaDB at 127.0.0.1:5999: connection refused");
  Status nosock = ClassifyError("ERROR 2002 (HY000): Can't connect to local server through socket '/x.sock' (2)",
                                "socket /x.sock", "root", "probe");
  EXPECT_EQ(nosock.message(), "cannot connect to MariaDB at socket /x.sock: no such file or directory");
  Status dump = ClassifyError(
      "-- Connecting to 127.0.0.1...\nmariadb-dump: Got error: 2002: \"Can't connect to server on '127.0.0.1' (115)\" "
      "when trying to connect\n",
      "127.0.0.1:1", "app", "dump");
  EXPECT_EQ(dump.message(), "cannot connect to MariaDB at 127.0.0.1:1: connection refused");
  Status denied = ClassifyError("ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: YES)",
                                "127.0.0.1:3306", "app", "probe");
  EXPECT_EQ(
      denied.message(),
      "MariaDB at 127.0.0.1:3306 refused user app: access denied (wrong password, or no such user for this host)");
  Status privilege =
      ClassifyError("ERROR 1044 (42000) at line 12: Access denied for user 'x'@'127.0.0.1' to database 'app'", "h:1",
                    "x", "restoring database app failed");
  EXPECT_EQ(privilege.message(),
            "restoring database app failed: Access denied for user 'x'@'127.0.0.1' to database 'app'");
  Status grant =
      ClassifyError("ERROR 1045 (28000) at line 32: Access denied for user 'app'@'127.0.0.1' (using password: YES)",
                    "h:1", "app", "restoring users and grants failed");
  EXPECT_EQ(grant.message(),
            "restoring users and grants failed: Access denied for user 'app'@'127.0.0.1' (using password: YES)");
  Status host =
      ClassifyError("ERROR 2005 (HY000): Unknown server host 'nope.invalid' (-2)", "nope.invalid:3306", "u", "probe");
  EXPECT_EQ(host.message(), "cannot connect to MariaDB at nope.invalid:3306: unknown host");
  Status silent = ClassifyError(
      "ERROR 2013 (HY000): Lost connection to server at 'handshake: reading initial communication packet', system "
      "error: 110",
      "10.0.0.1:3306", "u", "probe");
  EXPECT_EQ(silent.message(), "cannot connect to MariaDB at 10.0.0.1:3306: the server did not answer");
}

TEST(MysqlErrors, OtherFailuresKeepTheCause) {
  Status sql = ClassifyError("ERROR 1064 (42000) at line 3: You have an error in your SQL syntax\n", "h:1", "u",
                             "restoring database app failed");
  EXPECT_EQ(sql.message(), "restoring database app failed: You have an error in your SQL syntax");
  EXPECT_EQ(ErrorLine("[00] 2026-11-25 06:30:44 Connecting to MariaDB server host: localhost\n"
                      "[00] 2026-11-25 06:30:44 Failed to connect to MariaDB server: Too many connections\n"),
            "Failed to connect to MariaDB server: Too many connections");
  EXPECT_EQ(ErrorLine("-- Connecting to localhost...\n-- Starting transaction...\n"), "");
  EXPECT_EQ(ErrorLine("something odd happened\n"), "something odd happened");
  EXPECT_EQ(ClassifyError("", "h:1", "u", "x").message(), "x: the client tool failed without a message");
}

TEST(MysqlFingerprint, TablesAndItems) {
  std::string listing = "app\tt\tInnoDB\tid\napp\tt\tInnoDB\tv\napp\tOdd\\tName\tMyISAM\tk\nshop\tlog\tInnoDB\tn\n";
  std::vector<TableInfo> tables = ParseTables(listing);
  ASSERT_EQ(tables.size(), 3u);
  EXPECT_EQ(tables[0].columns, (std::vector<std::string>{"id", "v"}));
  EXPECT_EQ(tables[1].name, "Odd\tName");
  EXPECT_TRUE(tables[0].transactional());
  EXPECT_FALSE(tables[1].transactional());

  std::string sql = FingerprintSql({"app", "shop"}, tables);
  EXPECT_NE(sql.find("FROM `app`.`t`;"), std::string::npos);
  EXPECT_NE(sql.find("IFNULL(HEX(CAST(`v` AS BINARY)),'N')"), std::string::npos);
  EXPECT_NE(sql.find("SELECT 'O',1,"), std::string::npos);
  EXPECT_NE(ListTablesSql({"app", "it's"}).find("IN ('app','it''s')"), std::string::npos);

  std::vector<std::string> out = {"T\t0\t10\t12345", "T\t1\t2\t0", "T\t2\t5\t999", "O\t0\t1\t2\t3\t4\t5",
                                  "O\t1\t0\t0\t0\t0\t0"};
  Json items = Json::object();
  ASSERT_TRUE(AddFingerprintItems(out, {"app", "shop"}, tables, {{"app", "orig"}}, &items).ok());
  EXPECT_EQ(items["orig.t"], (Json{{"rows", 10}, {"checksum", "12345"}}));
  EXPECT_EQ(items["orig.Odd\tName"]["rows"], 2);
  EXPECT_EQ(items["shop.log"]["checksum"], "999");
  EXPECT_EQ(items["orig"]["tables"], 2);
  EXPECT_EQ(items["orig"]["sequences"], 1);
  EXPECT_EQ(items["orig"]["events"], 5);
  EXPECT_EQ(items["shop"]["tables"], 1);
  EXPECT_FALSE(items.contains("app.t"));

  Json partial = Json::object();
  EXPECT_FALSE(AddFingerprintItems({"T\t0\t10\t1"}, {"app", "shop"}, tables, {}, &partial).ok());
  EXPECT_FALSE(AddFingerprintItems({"T\t7\t10\t1"}, {"app"}, tables, {}, &partial).ok());
  EXPECT_FALSE(AddFingerprintItems({"garbage"}, {"app"}, tables, {}, &partial).ok());
}

TEST(MysqlFingerprint, FloatsAreHashedAndDumpedExactly) {
  std::string listing =
      "app\tm\tInnoDB\tid\tint\tNEVER\tBASE TABLE\napp\tm\tInnoDB\tf\tfloat\tNEVER\tBASE TABLE\n"
      "app\tm\tInnoDB\tg\tfloat\tALWAYS\tBASE TABLE\napp\tm\tInnoDB\tv\tvarchar\tNEVER\tBASE TABLE\n"
      "app\tm\tInnoDB\td\tdatetime\tNEVER\tBASE TABLE\napp\th\tInnoDB\tf\tfloat\tNEVER\tSYSTEM VERSIONED\n"
      "app\tn\tInnoDB\tx\tdouble\tNEVER\tBASE TABLE\n";
  std::vector<TableInfo> tables = ParseTables(listing);
  ASSERT_EQ(tables.size(), 3u);
  EXPECT_TRUE(tables[0].has_float());
  EXPECT_FALSE(tables[1].has_float());  // system-versioned: left to mariadb-dump
  EXPECT_FALSE(tables[2].has_float());
  EXPECT_EQ(FingerprintSql({"app"}, tables, 1).find("AS DOUBLE"), std::string::npos);
  EXPECT_NE(FingerprintSql({"app"}, tables, 2).find("HEX(CAST(CAST(`f` AS DOUBLE) AS BINARY))"), std::string::npos);
  std::string rows = ExactRowsSql(tables[0]);
  EXPECT_NE(rows.find("INSERT INTO `m` (`id`,`f`,`v`,`d`) VALUES ("), std::string::npos) << rows;
  EXPECT_NE(rows.find("CAST(CAST(`f` AS DOUBLE) AS CHAR)"), std::string::npos);
  EXPECT_NE(rows.find("CONCAT('X''',HEX(`v`),'''')"), std::string::npos);
  EXPECT_NE(rows.find("QUOTE(`d`)"), std::string::npos);
  EXPECT_EQ(rows.find("`g`"), std::string::npos);  // generated columns are computed, not inserted
  EXPECT_NE(rows.find("FROM `app`.`m`;"), std::string::npos);
}

TEST(MysqlUsers, LinesOfTheUsersScript) {
  using K = UsersStatement::Kind;
  EXPECT_EQ(ParseUsersLine("-- MariaDB dump").kind, K::kNone);
  EXPECT_EQ(ParseUsersLine("/*!40101 SET NAMES utf8mb4 */;").kind, K::kNone);
  EXPECT_EQ(ParseUsersLine("CREATE ROLE IF NOT EXISTS mariadb_dump_import_role;").kind, K::kHelper);
  EXPECT_EQ(ParseUsersLine("DROP ROLE mariadb_dump_import_role;").kind, K::kHelper);
  EXPECT_EQ(ParseUsersLine("GRANT mariadb_dump_import_role TO CURRENT_USER();").kind, K::kHelper);
  EXPECT_EQ(ParseUsersLine("SET ROLE mariadb_dump_import_role;").kind, K::kHelper);
  EXPECT_EQ(ParseUsersLine("SELECT COALESCE(CURRENT_ROLE(),'NONE') into @current_role;").kind, K::kHelper);
  UsersStatement u = ParseUsersLine("CREATE USER IF NOT EXISTS `app`@`127.0.0.1` IDENTIFIED BY PASSWORD '*D8';");
  EXPECT_EQ(u.kind, K::kAccount);
  EXPECT_TRUE(u.creates);
  EXPECT_EQ(u.account, "app@127.0.0.1");
  UsersStatement r = ParseUsersLine("/*M!100005 CREATE ROLE IF NOT EXISTS 'r1' WITH ADMIN mariadb_dump_import_role */;");
  EXPECT_EQ(r.account, "r1@");
  EXPECT_EQ(r.sql, "CREATE ROLE IF NOT EXISTS 'r1';");
  UsersStatement g = ParseUsersLine("GRANT SELECT, SELECT (`id`) ON `f`.`t` TO `app`@`127.0.0.1`;");
  EXPECT_EQ(g.account, "app@127.0.0.1");
  EXPECT_FALSE(g.creates);
  EXPECT_EQ(ParseUsersLine("GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION;").account, "root@localhost");
  EXPECT_EQ(ParseUsersLine("GRANT INSERT ON `f`.* TO `r1`;").account, "r1@");
  EXPECT_EQ(ParseUsersLine("/*M!100005 SET DEFAULT ROLE 'r1' FOR 'app'@'127.0.0.1' */;").account, "app@127.0.0.1");
  EXPECT_EQ(ParseUsersLine("GRANT `r1` TO `root`@`localhost` WITH ADMIN OPTION;").account, "root@localhost");
}

TEST(MysqlEvents, CopiesCreateTheirEventsDisabled) {
  std::string line =
      "/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `t``ick` ON SCHEDULE EVERY 1 SECOND "
      "STARTS '2026-12-06 00:45:33' ON COMPLETION NOT PRESERVE ENABLE DO insert into shop.ticks values (1)";
  std::string name;
  ASSERT_TRUE(DisableEventLine(&line, &name));
  EXPECT_EQ(name, "t`ick");
  EXPECT_NE(line.find("NOT PRESERVE DISABLE DO insert"), std::string::npos) << line;
  std::string off = "/*!50106 CREATE*/ /*!50106 EVENT `e` ON SCHEDULE AT '2030-01-01' ON COMPLETION PRESERVE DISABLE DO x";
  EXPECT_FALSE(DisableEventLine(&off, &name));
  std::string other = "INSERT INTO `t` VALUES ('/*!50106 CREATE*/ PRESERVE ENABLE ');";
  EXPECT_FALSE(DisableEventLine(&other, &name));
}

ObjectDef View(const std::string& name, const std::string& body) {
  return ObjectDef{"VIEW", name, "CREATE VIEW " + QuoteIdent(name) + " AS " + body, "", "utf8mb4", "utf8mb4_general_ci",
                   ""};
}

TEST(MysqlObjects, ViewsComeAfterTheViewsTheyName) {
  std::vector<ObjectDef> views = {View("v3", "select * from `v2`"), View("v2", "select * from `v1`"),
                                  View("v1", "select * from `t`"), View("w", "select 1")};
  std::vector<ObjectDef> ordered = OrderViews(views);
  ASSERT_EQ(ordered.size(), 4u);
  std::vector<std::string> names;
  for (const ObjectDef& d : ordered) names.push_back(d.name);
  EXPECT_EQ(names, (std::vector<std::string>{"v1", "w", "v2", "v3"}));
  // A cycle (impossible in a server, but never loop forever) keeps all views.
  std::vector<ObjectDef> cycle = {View("a", "select * from `b`"), View("b", "select * from `a`")};
  EXPECT_EQ(OrderViews(cycle).size(), 2u);
}

TEST(MysqlObjects, CreateScriptUsesAnUnusedDelimiter) {
  ObjectDef proc{"PROCEDURE",
                 "p",
                 "CREATE PROCEDURE `p`() BEGIN SELECT '$$cairn1$$'; SELECT 2; END",
                 "STRICT_TRANS_TABLES",
                 "latin1",
                 "latin1_swedish_ci",
                 ""};
  ObjectDef ev{"EVENT", "e",       "CREATE EVENT `e` ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
               "",      "utf8mb4", "utf8mb4_general_ci",
               "+00:00"};
  std::string s = CreateObjectsScript({proc, ev});
  EXPECT_EQ(s.rfind("DELIMITER $$cairn2$$\n", 0), 0u);
  EXPECT_NE(s.find("SET SESSION sql_mode='STRICT_TRANS_TABLES'$$cairn2$$"), std::string::npos);
  EXPECT_NE(s.find("character_set_client='latin1'"), std::string::npos);
  EXPECT_NE(s.find("SET SESSION time_zone='+00:00'$$cairn2$$"), std::string::npos);
  EXPECT_NE(s.find("SELECT 2; END$$cairn2$$\n"), std::string::npos);
  EXPECT_EQ(s.substr(s.size() - 12), "DELIMITER ;\n");
}

}  // namespace
}  // namespace cairn::mysql

namespace cairn::mysql {
namespace {

TEST(MysqlBinlogTest, BackupOutputNamesWhereTheBinaryLogContinues) {
  const std::string out =
      "[00] 2026-12-06 07:16:06 Streaming xtrabackup_binlog_info\n"
      "[00] 2026-12-06 07:16:06 MySQL binlog position: filename 'mysql-bin.000001', position '1043', "
      "GTID of the last change '0-1-4'\n[00] 2026-12-06 07:16:07 completed OK!\n";
  std::string file;
  uint64_t pos = 0;
  ASSERT_TRUE(ParseBackupBinlogPosition(out, &file, &pos));
  EXPECT_EQ(file, "mysql-bin.000001");
  EXPECT_EQ(pos, 1043u);
  // Binary logging off: no such line; a malformed one is not guessed at.
  EXPECT_FALSE(ParseBackupBinlogPosition("[00] completed OK!\n", &file, &pos));
  // A logical dump's snapshot: SHOW STATUS in its transaction.
  ASSERT_TRUE(ParseSnapshotBinlogPosition({"Binlog_snapshot_file\tmysql-bin.000002", "Binlog_snapshot_gtid\t0-1-9",
                                           "Binlog_snapshot_position\t2210"},
                                          &file, &pos));
  EXPECT_EQ(file, "mysql-bin.000002");
  EXPECT_EQ(pos, 2210u);
  EXPECT_FALSE(ParseSnapshotBinlogPosition({"Binlog_snapshot_file\t", "Binlog_snapshot_position\t0"}, &file, &pos));
  EXPECT_FALSE(ParseSnapshotBinlogPosition({"Binlog_snapshot_file\tb.000001", "Binlog_snapshot_position\t12x"}, &file,
                                           &pos));
  EXPECT_FALSE(ParseBackupBinlogPosition("MySQL binlog position: filename '../x', position '4'", &file, &pos));
  EXPECT_FALSE(ParseBackupBinlogPosition("MySQL binlog position: filename 'b.000001', position ''", &file, &pos));
}

}  // namespace
}  // namespace cairn::mysql
