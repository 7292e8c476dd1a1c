// The daemon's WAL streamers (docs/pitr.md): one `cairn wal stream SERVICE`
// process per PostgreSQL service with `archive: stream`, started when the
// daemon starts or the configuration gains one, restarted (after a pause)
// when it ends, stopped with SIGTERM when the service goes or the daemon
// stops. A process of its own, like a job: pg_receivewal and its uploads
// never share the daemon's memory or signals.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/clock.h"
#include "cairn/config.h"
#include "util/process.h"

namespace cairn {

struct StreamerState {
  std::string service;
  bool running = false;
  int64_t started_ns = 0;
  int64_t restarts = 0;
  std::string last_exit;  // why it last ended ("" = never)
};

class WalStreamers {
 public:
  WalStreamers(std::string cairn_binary, std::string config_path, Clock* clock, int64_t restart_delay_ns);
  ~WalStreamers();  // StopAll

  // Starts what `config` wants and is not running (or ended and waited out
  // its restart delay); stops what it no longer wants. Never waits for a
  // process to end.
  void Sync(const Config& config);
  // SIGTERM to every streamer, then waits for them (they upload what they hold).
  void StopAll();
  std::vector<StreamerState> States();

  // The services `config` wants streamed.
  static std::vector<std::string> Wanted(const Config& config);

 private:
  struct Streamer {
    std::unique_ptr<Process> process;
    StreamerState state;
    int64_t restart_at = 0;
  };
  std::string binary_, config_path_;
  Clock* clock_;
  int64_t restart_delay_ns_;
  std::mutex mu_;
  std::map<std::string, Streamer> streamers_;
  std::vector<std::unique_ptr<Process>> stopping_;  // SIGTERM sent, reaped on a later Sync
};

}  // namespace cairn
