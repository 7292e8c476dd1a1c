// `cairn __job`: one daemon job in a process of its own (docs/daemon.md,
// "Jobs run in processes of their own"; daemon/job_protocol.h). Hidden from
// --help: only the daemon starts it. Everything process-wide lives here: the
// job's priority, its signal handling (SIGTERM cancels), its death with the
// daemon (PR_SET_PDEATHSIG), and the one writer of its stdout.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <iterator>
#include <mutex>
#include <thread>

#include "cli/common.h"
#include "daemon/job_exec.h"
#include "util/fd_io.h"

namespace cairn {
namespace {

class EventWriter {
 public:
  void Emit(const Json& event) {
    std::string line = event.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    std::lock_guard lock(mu_);
    (void)WriteFully(STDOUT_FILENO, AsBytes(line), -1, "job events");
  }

 private:
  std::mutex mu_;
};

Json ProgressEvent(const ProgressSnapshot& s) {
  return {{"event", "progress"},
          {"phase", std::string(ToString(s.phase))},
          {"part", s.part},
          {"target", s.target},
          {"bytes_done", s.bytes_done},
          {"bytes_total", s.bytes_total ? Json(*s.bytes_total) : Json(nullptr)},
          {"files_done", s.files_done},
          {"files_total", s.files_total ? Json(*s.files_total) : Json(nullptr)}};
}

}  // namespace

void AddJobCommand(CLI::App& app, int& exit_code) {
  auto* job = app.add_subcommand("__job", "Run one daemon job (internal)");
  job->group("");  // not listed in --help
  job->callback([&exit_code] {
    // The daemon's death ends its jobs: they would write into a repository
    // nobody watches any more, and a restarted daemon marks them interrupted.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() == 1) throw CommandError{Status::Aborted("the daemon is gone")};
    const std::string input(std::istreambuf_iterator<char>(std::cin), {});
    Json parsed = Json::parse(input, nullptr, /*allow_exceptions=*/false);
    JobSpec spec = ValueOrThrow(JobSpec::FromJson(parsed));

    // Low priority for the job and the tools it starts (they inherit it).
    ::setpriority(PRIO_PROCESS, 0, 10);
    constexpr int kIoprioWhoProcess = 1, kClassBestEffort = 2, kClassShift = 13;
    ::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, (kClassBestEffort << kClassShift) | 7);

    // SIGTERM and SIGINT cancel: blocked in every thread, taken by one that
    // turns them into a cancelled context (nothing async-signal-unsafe runs
    // in a handler).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    OpContext context;
    std::thread signals([&] {
      int sig = 0;
      if (sigwait(&set, &sig) == 0 && sig != 0) context.Cancel("cancelled");
    });

    EventWriter writer;
    JobProgress progress;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread reporter([&] {
      std::unique_lock lock(mu);
      Json last;
      while (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return done; })) {
        Json event = ProgressEvent(progress.Snapshot());
        if (event != last) writer.Emit(event);
        last = std::move(event);
      }
    });
    exit_code = RunJobProcess(spec, context, progress, [&](const Json& e) { writer.Emit(e); });
    {
      std::lock_guard lock(mu);
      done = true;
    }
    cv.notify_all();
    reporter.join();
    // Wake the signal thread so that it ends (a signal to ourselves, taken by sigwait).
    ::kill(::getpid(), SIGTERM);
    signals.join();
  });
}

}  // namespace cairn
