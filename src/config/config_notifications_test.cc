// The `notifications:` and `alerts:` sections of the configuration file.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "cairn/config.h"

namespace cairn {
namespace {

const std::string kBase =
    "targets: {t: {location: x, password: p}}\n"
    "services: {app-db: {type: redis}, cache: {type: redis}}\n";

TEST(NotificationConfigTest, ParsesEveryChannelTypeWithDefaults) {
  auto c = ParseConfig(kBase + R"(
notifications:
  - type: webhook
    url: https://hooks.example.com/cairn
    secret_file: hook.secret
    min_severity: critical
    services: [app-db]
    name: ops-hook
  - type: email
    smtp_url: smtp://mail.example.com:587
    from: cairn@example.com
    to: [ops@example.com, "dba@example.com"]
    password_file: /etc/cairn/smtp.pass
  - type: command
    command: bin/notify-ntfy --topic backups
  - type: command
    command: [/usr/bin/logger, -t, cairn]
alerts:
  small_backup_ratio: 0.25
  disk_full_percent: 95
  stuck_factor: 4
)",
                       "t.yaml", "/etc/cairn");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->notifications.size(), 4u);
  const NotificationConfig& hook = c->notifications[0];
  EXPECT_EQ(hook.type, NotificationType::kWebhook);
  EXPECT_EQ(hook.name, "ops-hook");
  EXPECT_EQ(hook.url, "https://hooks.example.com/cairn");
  EXPECT_EQ(hook.secret_file, "/etc/cairn/hook.secret");  // relative to the file
  EXPECT_EQ(hook.min_severity, "critical");
  EXPECT_EQ(hook.services, std::vector<std::string>{"app-db"});
  const NotificationConfig& mail = c->notifications[1];
  EXPECT_EQ(mail.type, NotificationType::kEmail);
  EXPECT_EQ(mail.name, "email-1");  // "<type>-<index>"
  EXPECT_EQ(mail.min_severity, "warning");
  EXPECT_TRUE(mail.services.empty());
  EXPECT_EQ(mail.to, (std::vector<std::string>{"ops@example.com", "dba@example.com"}));
  EXPECT_EQ(mail.username, "cairn@example.com");  // defaults to from
  EXPECT_EQ(mail.password_file, "/etc/cairn/smtp.pass");
  EXPECT_EQ(c->notifications[2].command,
            (std::vector<std::string>{"/etc/cairn/bin/notify-ntfy", "--topic", "backups"}));
  EXPECT_EQ(c->notifications[3].command, (std::vector<std::string>{"/usr/bin/logger", "-t", "cairn"}));
  EXPECT_EQ(c->notifications[3].name, "command-3");
  EXPECT_EQ(c->FindNotification("email-1"), &c->notifications[1]);
  EXPECT_EQ(c->FindNotification("nope"), nullptr);
  EXPECT_DOUBLE_EQ(c->alerts.small_backup_ratio, 0.25);
  EXPECT_DOUBLE_EQ(c->alerts.disk_full_percent, 95);
  EXPECT_DOUBLE_EQ(c->alerts.stuck_factor, 4);
  // Secrets live in files that are read at send time; config check shows
  // where they are, and not the secret path of a Slack-style URL.
  Json described = DescribeConfig(*c);
  EXPECT_EQ(described["notifications"][0]["url"], "https://hooks.example.com/(set)");
  EXPECT_EQ(described["notifications"][1]["password_file"], "/etc/cairn/smtp.pass");
  EXPECT_EQ(described["alerts"]["stuck_factor"], 4.0);

  auto plain = ParseConfig(kBase, "t.yaml", "/etc/cairn");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->notifications.empty());
  EXPECT_DOUBLE_EQ(plain->alerts.small_backup_ratio, 0.5);
  EXPECT_DOUBLE_EQ(plain->alerts.disk_full_percent, 90);
  EXPECT_DOUBLE_EQ(plain->alerts.stuck_factor, 3);
}

TEST(NotificationConfigTest, ErrorsNameTheChannelAndKey) {
  const std::string hook = "notifications:\n  - {type: webhook, url: 'https://h.example/x', ";
  struct Case {
    std::string yaml;
    const char* message;
  } cases[] = {
      {"notifications: {type: webhook}", "notifications must be a list"},
      {"notifications: [webhook]", "notification 0: expected a mapping"},
      {"notifications: [{url: 'https://x'}]", "notification 0: type is required"},
      {"notifications: [{type: webhok, url: 'https://x'}]", "unknown type 'webhok' (webhook, email or command); did you mean 'webhook'?"},
      {hook + "name: ops, urll: x}", "notification ops: unknown key 'urll' (did you mean 'url'?)"},
      {hook + "smtp_url: 'smtp://x'}", "notification webhook-0: unknown key 'smtp_url'"},
      {hook + "min_severity: error}", "min_severity must be warning or critical, not 'error'"},
      {hook + "services: [app-bd]}", "unknown service 'app-bd' (did you mean 'app-db'?)"},
      {hook + "name: a b}", "names use letters"},
      {hook + "name: x}\n  - {type: command, command: y, name: x}", "notification x: the name is used twice"},
      {"notifications: [{type: webhook}]", "url is required"},
      {"notifications: [{type: webhook, url: 'ftp://h/x'}]", "an http:// or https:// URL"},
      {"notifications: [{type: webhook, url: 'https://'}]", "an http:// or https:// URL"},
      {"notifications: [{type: email, from: a@b.c, to: d@e.f}]", "smtp_url is required"},
      {"notifications: [{type: email, smtp_url: 'http://m', from: a@b.c, to: d@e.f}]", "smtp://host:587"},
      {"notifications: [{type: email, smtp_url: 'smtp://u:pw@m', from: a@b.c, to: d@e.f}]", "smtp://host:587"},
      {"notifications: [{type: email, smtp_url: 'smtp://m', from: nobody, to: d@e.f}]", "from must be a mail address"},
      {"notifications: [{type: email, smtp_url: 'smtp://m', from: a@b.c}]", "to is required"},
      {"notifications: [{type: email, smtp_url: 'smtp://m', from: a@b.c, to: ['d@e.f>, <x@y.z']}]",
       "is not a mail address"},
      {"notifications: [{type: email, smtp_url: 'smtp://m', from: a@b.c, to: d@e.f, port: 25}]", "unknown key 'port'"},
      {"notifications: [{type: command}]", "command is required"},
      {"notifications: [{type: command, command: '   '}]", "command is required"},
      {"notifications: [{type: command, command: [x, 1]}]", "command must be a list of strings"},
      {"alerts: {small_backup_ratio: 1.5}", "alerts: small_backup_ratio must be between 0 and 1"},
      {"alerts: {small_backup_ratio: half}", "small_backup_ratio must be a number, not 'half'"},
      {"alerts: {disk_full_percent: 0}", "disk_full_percent must be between 1 and 100"},
      {"alerts: {stuck_factor: 0.5}", "stuck_factor must be between 1 and 1000"},
      {"alerts: {stuck_facter: 3}", "alerts: unknown key 'stuck_facter' (did you mean 'stuck_factor'?)"},
      {"alerts: [1]", "alerts: expected a mapping"},
      {"alert: {}", "unknown top-level key 'alert' (did you mean 'alerts'?)"},
  };
  for (const auto& tc : cases) {
    auto c = ParseConfig(kBase + tc.yaml, "t.yaml", "/tmp");
    ASSERT_FALSE(c.ok()) << tc.yaml;
    EXPECT_NE(c.status().message().find(tc.message), std::string::npos) << tc.yaml << " -> " << c.status().message();
    EXPECT_EQ(c.status().message().rfind("t.yaml: ", 0), 0u) << c.status().message();
  }
}

TEST(NotificationConfigTest, SecretFilesThatOthersCanReadOrThatAreMissingAreFlagged) {
  char tmpl[] = "/tmp/cairn-config-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/hook.secret") << "s3cret\n";
  std::ofstream(dir + "/smtp.pass") << "pw\n";
  std::ofstream(dir + "/repo.pass") << "pw\n";
  ::chmod((dir + "/repo.pass").c_str(), 0600);
  ::chmod((dir + "/hook.secret").c_str(), 0640);
  ::chmod((dir + "/smtp.pass").c_str(), 0600);
  const std::string file = dir + "/cairn.yaml";
  std::ofstream(file) << "targets: {t: {location: x, password_file: repo.pass}}\n"
                      << "notifications:\n"
                         "  - {type: webhook, url: 'https://h.example/x', secret_file: hook.secret}\n"
                         "  - {type: email, smtp_url: 'smtps://m.example', from: a@b.c, to: d@e.f, "
                         "password_file: smtp.pass}\n"
                         "  - {type: webhook, url: 'https://h.example/y', secret_file: missing.secret, name: y}\n";
  ::chmod(file.c_str(), 0644);  // it names secret files; it holds none
  auto c = LoadConfig(file);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->warnings.size(), 2u) << ::testing::PrintToString(c->warnings);
  EXPECT_NE(c->warnings[0].find("notification webhook-0: secret_file " + dir + "/hook.secret is readable by its group"),
            std::string::npos)
      << c->warnings[0];
  EXPECT_NE(c->warnings[0].find("chmod 600"), std::string::npos);
  EXPECT_NE(c->warnings[1].find("notification y: secret_file " + dir + "/missing.secret cannot be read"),
            std::string::npos)
      << c->warnings[1];
  for (const std::string& w : c->warnings) EXPECT_EQ(w.find("s3cret"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cairn
