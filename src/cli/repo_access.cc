// Opening a repository from the command line: location, password sources.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/common.h"

namespace cairn {

std::string ReadSecretFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) throw CommandError{Status::NotFound(std::string("cannot read ") + what + " file " + path)};
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string PromptSecret(const std::string& prompt) {
  std::fprintf(stderr, "%s", prompt.c_str());
  termios old{};
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::fprintf(stderr, "\n");
  return line;
}

std::string Password(const Globals& g, bool stdin_is_data) {
  if (!g.password_file.empty()) return ReadSecretFile(g.password_file, "password");
  if (const char* env = std::getenv("CAIRN_PASSWORD")) return env;
  if (!stdin_is_data && isatty(STDIN_FILENO)) return PromptSecret("repository password: ");
  throw CommandError{Status::InvalidArgument("no password given: set CAIRN_PASSWORD or use --password-file")};
}

// Step messages of check and prune. They go to stdout so that a failing
// command leaves exactly one line, the error, on stderr.
std::function<void(const std::string&)> StepLog(const Globals& g) {
  return [&g](const std::string& m) {
    if (!g.json && !g.quiet) std::printf("%s\n", m.c_str());
  };
}

std::string NewPassword(const std::string& new_password_file) {
  if (!new_password_file.empty()) return ReadSecretFile(new_password_file, "new password");
  if (const char* env = std::getenv("CAIRN_NEW_PASSWORD")) return env;
  if (isatty(STDIN_FILENO)) {
    std::string a = PromptSecret("new password: ");
    if (a != PromptSecret("repeat new password: ")) throw CommandError{Status::InvalidArgument("passwords do not match")};
    return a;
  }
  throw CommandError{Status::InvalidArgument("no new password given: set CAIRN_NEW_PASSWORD or use --new-password-file")};
}

std::string RepoLocation(const Globals& g) {
  if (!g.repo.empty()) return g.repo;
  if (const char* env = std::getenv("CAIRN_REPOSITORY")) return env;
  throw CommandError{Status::InvalidArgument("no repository given: use --repo or set CAIRN_REPOSITORY")};
}

std::unique_ptr<Repository> OpenRepo(const Globals& g, bool stdin_is_data) {
  auto storage = ValueOrThrow(OpenStorage(RepoLocation(g), /*create=*/false));
  return ValueOrThrow(Repository::Open(std::move(storage), Password(g, stdin_is_data)));
}

}  // namespace cairn
