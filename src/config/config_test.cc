#include "cairn/config.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace cairn {
namespace {

const char kGood[] = R"(
targets:
  local:
    type: repository
    location: repo
    password: secret
    retention: {keep_hourly: 24, keep_daily: 7, keep_within: 2d}
  offsite:
    type: borg
    location: ssh://u@h:22/~/repo
    password: "007"
    ssh_command: ssh -p 22
services:
  app-db:
    type: postgres
    port: 5432
    databases: [app, "007"]
    volumes: [/srv/uploads]
    targets: [local, offsite]
    bandwidth_limit: 10M
    pre_hook: echo pre
  cache:
    type: redis
    targets: local
)";

TEST(ConfigTest, ParsesTargetsServicesAndSettings) {
  auto c = ParseConfig(kGood, "t.yaml", "/etc/cairn");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->targets.size(), 2u);
  EXPECT_EQ(c->targets[0].location, "/etc/cairn/repo");  // relative to the file
  EXPECT_EQ(c->targets[0].retention.keep_hourly, 24);
  EXPECT_EQ(c->targets[0].retention.keep_within.count(), 2 * 86400);
  EXPECT_EQ(c->targets[1].password, "007");  // quoted scalar stays a string
  EXPECT_EQ(c->targets[1].settings.value("ssh_command", ""), "ssh -p 22");
  const ServiceConfig* db = c->FindService("app-db");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->settings["port"], 5432);
  EXPECT_EQ(db->settings["databases"][1], "007");
  EXPECT_EQ(db->targets, (std::vector<std::string>{"local", "offsite"}));
  EXPECT_EQ(db->bandwidth_limit, 10u << 20);
  EXPECT_EQ(db->pre_hook, "echo pre");
  EXPECT_FALSE(db->settings.contains("targets"));
  EXPECT_EQ(c->FindService("cache")->targets, std::vector<std::string>{"local"});
  EXPECT_EQ(c->FindService("nope"), nullptr);
  auto rel = ParseConfig("targets: {t: {location: x, password: p}}\nservices: {s: {type: redis, volumes: [v]}}",
                         "t.yaml", "/etc/cairn");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->services[0].volumes, std::vector<std::string>{"/etc/cairn/v"});
}

TEST(ConfigTest, ErrorsNameTheEntryAndKey) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"targets: [1, 2", "not valid YAML"},
      {"bogus: 1", "unknown top-level key 'bogus'"},
      {"targets: {t: {location: x}}", "target t: password or password_file is required"},
      {"targets: {t: {type: ftp, location: x, password: p}}", "unknown type 'ftp'"},
      {"targets: {t: {password: p}}", "target t: location is required"},
      {"targets: {t: {location: x, password: p, retention: {keep_often: 1}}}", "unknown retention rule 'keep_often'"},
      {"targets: {t: {location: x, password: p}}\nservices: {s: {type: pg}}", "service s: unknown type 'pg'"},
      {"targets: {t: {location: x, password: p}}\nservices: {s: {type: redis, targets: [u]}}", "unknown target 'u'"},
      {"targets: {t: {location: x, password: p}}\nservices: {s: {type: redis, bandwidth_limit: fast}}",
       "not a size"},
      {"targets: {a: {location: x, password: p}, b: {location: y, password: p}}\nservices: {s: {type: redis}}",
       "targets is required"},
      {"targets: {t: {location: x, password: p}}\nservices: {'bad name': {type: redis}}", "names use letters"},
      {"targets: {t: {location: x, password_file: /nonexistent/pw}}", "t.yaml: target t: cannot read password file /nonexistent/pw"},
  };
  for (const auto& tc : cases) {
    auto c = ParseConfig(tc.yaml, "t.yaml", "/tmp");
    ASSERT_FALSE(c.ok()) << tc.yaml;
    EXPECT_NE(c.status().message().find(tc.message), std::string::npos) << c.status().message();
    EXPECT_EQ(c.status().message().find('\n'), std::string::npos);
  }
}

TEST(ConfigTest, TheWholeFileIsValidatedStrictlyOnLoad) {
  const std::string t = "targets: {t: {location: x, password: p}}\n";
  struct Case {
    std::string yaml;
    const char* message;
  } cases[] = {
      // Misspelt keys passed `service list` and failed only at backup time.
      {t + "services: {db: {type: postgres, prot: 5432}}", "service db: unknown key 'prot' (did you mean 'port'?)"},
      {t + "services: {db: {type: postgres, port: fivefour}}", "port must be a whole number, not 'fivefour'"},
      {t + "services: {db: {type: postgress}}", "did you mean 'postgres'?"},
      {t + "services: {db: {type: mysql, users: maybe}}", "users must be true or false"},
      {t + "services: {db: {type: sqlite}}", "path is required for a sqlite service"},
      {"targets: {t: {location: x, password: p, retension: {keep_last: 1}}}", "did you mean 'retention'?"},
      {"targets: {t: {location: x, password: p, retention: {keep_lst: 1}}}", "did you mean 'keep_last'?"},
      {"targets: {t: {location: x, password: p, retention: {keep_last: -3}}}", "keep-last -3 is not allowed"},
      {"targets: {t: {location: x, password: p, s3_access_key_id: k}}", "go together"},
      {"targets: {t: {type: borg, location: x, password: p, s3_region: eu}}", "unknown key 's3_region'"},
      {"servces: {}", "did you mean 'services'?"},
      // The second of two services with one name silently won.
      {t + "services:\n  db: {type: redis}\n  db: {type: sqlite, path: /x}", "duplicate key 'db'"},
      {"targets:\n  t: {location: x, password: p}\n  t: {location: y, password: p}", "duplicate key 't'"},
      {t + "services: {db: {type: redis, targets: [t, t]}}", "listed twice"},
      {t + "services: {db: {type: redis, targets: [tt]}}", "unknown target 'tt' (did you mean 't'?)"},
      // A self-referencing alias crashed the binary (SIGSEGV).
      {"a: &x [*x]", "a self-referencing alias"},
  };
  for (const auto& tc : cases) {
    auto c = ParseConfig(tc.yaml, "t.yaml", "/tmp");
    ASSERT_FALSE(c.ok()) << tc.yaml;
    EXPECT_NE(c.status().message().find(tc.message), std::string::npos) << tc.yaml << " -> " << c.status().message();
    EXPECT_EQ(c.status().message().find('\n'), std::string::npos);
  }
  // Aliases that expand without end are refused too (a "billion laughs").
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c)
    bomb += std::string(1, c) + ": &" + c + " [*" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" +
            char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + "]\n";
  auto b = ParseConfig(bomb, "t.yaml", "/tmp");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("values in all"), std::string::npos) << b.status().message();
}

TEST(ConfigTest, ADirectoryIsNotAConfigurationFileAndLooseSecretsAreFlagged) {
  char tmpl[] = "/tmp/cairn-config-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto as_dir = LoadConfig(dir);
  ASSERT_FALSE(as_dir.ok()) << "-c DIR read as an empty config";
  EXPECT_NE(as_dir.status().message().find("is a directory"), std::string::npos);
  const std::string file = dir + "/cairn.yaml";
  std::ofstream(file) << "targets: {t: {location: x, password: p}}\n";
  ::chmod(file.c_str(), 0644);
  auto loose = LoadConfig(file);
  ASSERT_TRUE(loose.ok());
  ASSERT_EQ(loose->warnings.size(), 1u);
  EXPECT_NE(loose->warnings[0].find("chmod 600"), std::string::npos);
  ::chmod(file.c_str(), 0600);
  EXPECT_TRUE(LoadConfig(file)->warnings.empty());
  std::ofstream(dir + "/pw") << "p\n";
  std::ofstream(file) << "targets: {t: {location: x, password_file: pw}}\n";
  ::chmod(file.c_str(), 0644);
  EXPECT_TRUE(LoadConfig(file)->warnings.empty()) << "a file naming a password file holds no secret";
  Json described = DescribeConfig(*LoadConfig(file));
  EXPECT_EQ(described["targets"][0]["password"], "(set)");
  EXPECT_EQ(described.dump().find("\"p\""), std::string::npos) << "config check printed a secret";
  std::filesystem::remove_all(dir);
}

// The documented example must stay a valid configuration.
TEST(ConfigTest, ExampleFileParses) {
  std::ifstream in(std::string(CAIRN_SOURCE_DIR) + "/examples/cairn.yaml");
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  // Its secret files do not exist here; inline passwords instead.
  std::string yaml = std::regex_replace(text.str(), std::regex("password_file: /etc/cairn/[a-z0-9]+\\.pass"),
                                        "password: example");
  auto c = ParseConfig(yaml, "examples/cairn.yaml", "/etc/cairn");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->targets.size(), 3u);
  ASSERT_EQ(c->services.size(), 5u);
  EXPECT_EQ(c->services[0].name, "app-db");  // file order is kept
  EXPECT_EQ(c->services[0].targets.size(), 3u);
  for (const auto& s : c->services) EXPECT_FALSE(s.targets.empty()) << s.name;
}

TEST(ConfigTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("512k"), 512u << 10);
  EXPECT_EQ(*ParseByteSize("1.5M"), 3u << 19);
  EXPECT_EQ(*ParseByteSize("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseByteSize("100"), 100u);
  EXPECT_FALSE(ParseByteSize("lots").ok());
  EXPECT_FALSE(ParseByteSize("5X").ok());
}

TEST(FingerprintTest, ExactComparesValuesStructureOnlyComparesNames) {
  Json backup = {{"exact", true}, {"items", {{"a.t1", {{"rows", 3}}}, {"a.t2", {{"rows", 1}}}}}};
  Json same = backup;
  EXPECT_TRUE(CompareFingerprints(backup, same).ok());
  Json changed = backup;
  changed["items"]["a.t1"]["rows"] = 4;
  auto d = CompareFingerprints(backup, changed);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_NE(d.differences[0].find("a.t1"), std::string::npos);
  Json missing = backup;
  missing["items"].erase("a.t2");
  missing["items"]["a.t3"] = 1;
  EXPECT_EQ(CompareFingerprints(backup, missing).differences.size(), 2u);
  backup["exact"] = false;  // taken while the service was written to
  EXPECT_TRUE(CompareFingerprints(backup, changed).ok());
  EXPECT_FALSE(CompareFingerprints(backup, missing).ok());
  EXPECT_FALSE(CompareFingerprints(Json::object(), same).ok());  // nothing to validate against
}

TEST(FingerprintTest, ScopedReasonMakesOnlyThatDatabaseStructureOnly) {
  Json backup = {{"exact", true},
                 {"items", {{"a", {{"tables", 1}}}, {"a.t", {{"rows", 3}}}, {"ab.t", {{"rows", 1}}}}},
                 {"inexact_reasons", {{{"scope", "a"}, {"reason", "table a.t is MyISAM"}}}}};
  Json changed = backup;
  changed.erase("inexact_reasons");
  changed["items"]["a.t"]["rows"] = 4;  // in scope a: names only
  auto d = CompareFingerprints(backup, changed);
  EXPECT_TRUE(d.ok());
  EXPECT_TRUE(d.exact);
  ASSERT_EQ(d.structure_only.size(), 1u);
  EXPECT_EQ(d.structure_only[0], "a");
  changed["items"]["ab.t"]["rows"] = 2;  // "ab" is not "a": still compared by value
  EXPECT_FALSE(CompareFingerprints(backup, changed).ok());
  ASSERT_EQ(InexactReasons(backup).size(), 1u);
  EXPECT_EQ(InexactReasons(backup)[0], "a: table a.t is MyISAM");
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

TEST(ConfigTest, ArchiveModesAreCheckedOnLoadAndReadAsAnEnum) {
  auto load = [](const std::string& type, const std::string& extra) {
    return ParseConfig("targets: {t: {location: /r, password: p}}\nservices: {s: {type: " + type + ", " + extra + "}}",
                       "t.yaml", "/tmp");
  };
  auto command = load("postgres", "method: physical, archive: command");
  ASSERT_TRUE(command.ok()) << command.status().message();
  EXPECT_EQ(ArchiveModeOf(command->services[0]), ArchiveMode::kCommand);
  EXPECT_TRUE(ArchivesContinuously(command->services[0]));
  auto stream = load("mysql", "method: physical, archive: stream");
  ASSERT_TRUE(stream.ok()) << stream.status().message();
  EXPECT_EQ(ArchiveModeOf(stream->services[0]), ArchiveMode::kStream);
  auto off = load("postgres", "method: physical");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(ArchiveModeOf(off->services[0]), ArchiveMode::kOff);
  EXPECT_FALSE(ArchivesContinuously(off->services[0]));

  auto logical = load("postgres", "archive: command");
  ASSERT_FALSE(logical.ok());
  EXPECT_NE(logical.status().message().find("archive: command needs method: physical"), std::string::npos)
      << logical.status().message();
  auto mysql = load("mysql", "method: physical, archive: command");
  ASSERT_FALSE(mysql.ok());
  EXPECT_NE(mysql.status().message().find("archive: command is PostgreSQL's archive_command"), std::string::npos)
      << mysql.status().message();
  auto unknown = load("postgres", "method: physical, archive: push");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("archive must be off, stream or command"), std::string::npos);
}

}  // namespace
}  // namespace cairn
