// Child processes for the service sources: dump tools, database servers, hooks.
//
// A Process is started with fork/exec; its stderr is always captured (the
// last few KiB are kept) so a failed tool is reported by its own last line,
// never by an exit code alone. stdout is either captured, handed to the caller
// as a pipe (dump streams), or sent to a given fd / /dev/null.
//
// Thread-safety: one Process is used by one thread at a time.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cairn/status.h"

namespace cairn {

// Whether an environment variable holds one of Cairn's own secrets (the
// repository password, S3 secret keys). Children never inherit these.
bool IsCairnSecret(const std::string& name);

struct ProcessOptions {
  std::vector<std::string> argv;        // argv[0] is looked up on PATH unless it has a '/'
  // Extra KEY=VALUE entries, over the inherited environment minus Cairn's
  // secrets (IsCairnSecret); a child that needs a secret gets it here.
  std::vector<std::string> env;
  // false: the child's environment is `env` alone (programs an operator
  // configures, such as notification commands, see nothing of the daemon's).
  bool inherit_env = true;
  std::string cwd;                      // empty: inherit
  std::optional<std::string> run_as;    // user name to switch to before exec (needs root)
  bool low_priority = false;            // nice 10 and ionice idle-ish (best-effort class, level 7)
  // Where stdin comes from: -1 = /dev/null, else this fd (dup'ed into the child).
  int stdin_fd = -1;
  enum class Output { kDiscard, kCapture, kPipe, kFd };
  Output stdout_mode = Output::kDiscard;
  int stdout_fd = -1;                   // for kFd
  bool stdin_pipe = false;              // create a pipe the caller writes to (stdin_fd ignored)
  bool new_process_group = false;       // servers we start: killable as a group
};

class Process {
 public:
  // Starts the program. Fails with NotFound naming the program when it is not installed.
  static Result<std::unique_ptr<Process>> Start(ProcessOptions options);
  ~Process();  // kills (SIGKILL) and reaps a child that is still running

  pid_t pid() const { return pid_; }
  // kPipe: the read end of the child's stdout; the Process keeps ownership
  // until ReleaseStdout() hands it over.
  int stdout_fd() const { return stdout_read_; }
  int ReleaseStdout();
  int stdin_fd() const { return stdin_write_; }
  void CloseStdin();

  // Waits for exit. OK only for exit code 0; otherwise IOError
  // "<program> failed (exit N): <last stderr line>".
  Status Wait();
  // Whether the child already exited (does not reap it for Wait's report).
  bool Running();
  void Signal(int sig);
  // Captured stdout (kCapture) and stderr, valid after Wait.
  const std::string& captured_stdout() const { return stdout_text_; }
  const std::string& captured_stderr() const { return stderr_text_; }
  // The last non-empty line of stderr, or "" (for error messages).
  std::string LastErrorLine() const;

 private:
  Process() = default;
  std::string program_;
  pid_t pid_ = -1;
  int stdout_read_ = -1, stdin_write_ = -1, stderr_read_ = -1;
  bool capture_stdout_ = false;
  std::thread stderr_reader_, stdout_reader_;
  std::string stderr_text_, stdout_text_;
  std::optional<int> exit_status_;
};

// Runs a program to completion and returns its stdout; errors as Process::Wait.
Result<std::string> RunCapture(ProcessOptions options);
// Runs a program with stdout discarded; errors as Process::Wait.
Status RunQuiet(ProcessOptions options);
// `sh -c command` (hooks).
ProcessOptions ShellCommand(const std::string& command);

// A Process fed through its stdin by `write_input` (SIGPIPE blocked while
// it writes), then waited for. `exit` is the Wait status; `input` what
// write_input returned; `process` keeps the captured stderr.
struct FedRun {
  std::unique_ptr<Process> process;
  Status exit, input;
};
Result<FedRun> RunWithInput(ProcessOptions options, const std::function<Status(int fd)>& write_input);

// Blocks SIGPIPE in the calling thread while alive, so that writing to a
// child that exited gives EPIPE instead of killing Cairn; a SIGPIPE raised
// meanwhile is consumed before the old mask is restored.
class SigpipeGuard {
 public:
  SigpipeGuard();
  ~SigpipeGuard();

 private:
  sigset_t old_;
};
// For producer threads that only ever write into pipes: for their lifetime.
void BlockSigpipeInThisThread();

// Finds a program on PATH (or checks an absolute path); "" when missing.
std::string FindProgram(const std::string& name);

}  // namespace cairn
