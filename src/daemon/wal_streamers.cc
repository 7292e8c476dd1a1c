#include "daemon/wal_streamers.h"

#include <signal.h>

#include <algorithm>

namespace cairn {

WalStreamers::WalStreamers(std::string cairn_binary, std::string config_path, Clock* clock, int64_t restart_delay_ns)
    : binary_(std::move(cairn_binary)),
      config_path_(std::move(config_path)),
      clock_(clock),
      restart_delay_ns_(restart_delay_ns) {}

WalStreamers::~WalStreamers() { StopAll(); }

std::vector<std::string> WalStreamers::Wanted(const Config& config) {
  std::vector<std::string> out;
  for (const ServiceConfig& s : config.services)
    if (ArchivesContinuously(s)) out.push_back(s.name);
  return out;
}

void WalStreamers::Sync(const Config& config) {
  const std::vector<std::string> wanted = Wanted(config);
  std::lock_guard lock(mu_);
  const int64_t now = clock_->NowNs();
  // Reap the ones told to stop.
  std::erase_if(stopping_, [](const std::unique_ptr<Process>& p) {
    if (p->Running()) return false;
    (void)p->Wait();
    return true;
  });
  for (auto it = streamers_.begin(); it != streamers_.end();) {
    if (std::find(wanted.begin(), wanted.end(), it->first) == wanted.end()) {
      if (it->second.process) {
        it->second.process->Signal(SIGTERM);
        stopping_.push_back(std::move(it->second.process));
      }
      it = streamers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const std::string& name : wanted) {
    Streamer& s = streamers_[name];
    s.state.service = name;
    if (s.process && !s.process->Running()) {
      Status exited = s.process->Wait();
      s.state.last_exit = exited.ok() ? "ended" : exited.message();
      s.state.running = false;
      s.process.reset();
      s.restart_at = now + restart_delay_ns_;
    }
    if (s.process || now < s.restart_at) continue;
    ProcessOptions o;
    o.argv = {binary_, "-c", config_path_, "wal", "stream", name};
    o.cwd = "/";
    o.new_process_group = true;
    auto started = Process::Start(std::move(o));
    if (!started.ok()) {
      s.state.last_exit = started.status().message();
      s.restart_at = now + restart_delay_ns_;
      continue;
    }
    if (s.state.started_ns) ++s.state.restarts;
    s.process = std::move(started).value();
    s.state.running = true;
    s.state.started_ns = now;
  }
}

void WalStreamers::StopAll() {
  std::vector<std::unique_ptr<Process>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, s] : streamers_)
      if (s.process) all.push_back(std::move(s.process));
    streamers_.clear();
    for (auto& p : stopping_) all.push_back(std::move(p));
    stopping_.clear();
  }
  for (auto& p : all) p->Signal(SIGTERM);
  for (auto& p : all) (void)p->Wait();
}

std::vector<StreamerState> WalStreamers::States() {
  std::lock_guard lock(mu_);
  std::vector<StreamerState> out;
  for (auto& [name, s] : streamers_) out.push_back(s.state);
  return out;
}

}  // namespace cairn
