#include "util/process.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace cairn {
namespace {

TEST(ProcessTest, CapturesStdoutAndReportsFailuresByTheirLastStderrLine) {
  auto out = RunCapture(ShellCommand("echo hello; echo warn >&2"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "hello\n");
  Status st = RunQuiet(ShellCommand("echo first >&2; echo 'the real cause' >&2; exit 3"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exit 3"), std::string::npos);
  EXPECT_NE(st.message().find("the real cause"), std::string::npos);
}

TEST(ProcessTest, MissingProgramIsNamed) {
  ProcessOptions o;
  o.argv = {"cairn-no-such-tool", "--x"};
  Status st = RunQuiet(o);
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_NE(st.message().find("cairn-no-such-tool is not installed"), std::string::npos);
}

TEST(ProcessTest, PipesEnvironmentAndPriority) {
  ProcessOptions o = ShellCommand("printf %s \"$CAIRN_T\"; cat; nice");
  o.env = {"CAIRN_T=abc"};
  o.stdin_pipe = true;
  o.low_priority = true;
  o.stdout_mode = ProcessOptions::Output::kPipe;
  auto p = Process::Start(o);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(::write((*p)->stdin_fd(), "xyz", 3), 3);
  (*p)->CloseStdin();
  std::string got;
  char buf[64];
  ssize_t n;
  while ((n = ::read((*p)->stdout_fd(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ASSERT_TRUE((*p)->Wait().ok());
  EXPECT_EQ(got, "abcxyz10\n");  // nice prints the niceness it runs at
}

TEST(ProcessTest, ChildrenNeverInheritCairnsSecrets) {
  // The repository password reached hooks and dump tools through their environment.
  ::setenv("CAIRN_PASSWORD", "repo-secret", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "s3-secret", 1);
  ::setenv("CAIRN_HARMLESS", "kept", 1);
  auto out = RunCapture(ShellCommand("printf '%s|%s|%s' \"${CAIRN_PASSWORD:-none}\" \"${AWS_SECRET_ACCESS_KEY:-none}\" "
                                     "\"$CAIRN_HARMLESS\""));
  ::unsetenv("CAIRN_PASSWORD");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("CAIRN_HARMLESS");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "none|none|kept");
  // Given explicitly, a child gets what it needs.
  ProcessOptions o = ShellCommand("printf %s \"$CAIRN_PASSWORD\"");
  o.env = {"CAIRN_PASSWORD=explicit"};
  auto given = RunCapture(o);
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(*given, "explicit");
}

TEST(ProcessTest, KilledChildIsReported) {
  auto p = Process::Start(ShellCommand("sleep 30"));
  ASSERT_TRUE(p.ok());
  (*p)->Signal(9);
  Status st = (*p)->Wait();
  EXPECT_NE(st.message().find("killed by signal 9"), std::string::npos);
}

}  // namespace
}  // namespace cairn
