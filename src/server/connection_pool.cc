#include "server/connection_pool.h"

#include "util/process.h"

namespace cairn {

ConnectionPool::ConnectionPool(size_t max_threads, size_t min_threads, std::chrono::milliseconds idle_exit,
                               std::function<void(Task)> shed)
    : max_threads_(max_threads), min_threads_(min_threads), idle_exit_(idle_exit), shed_(std::move(shed)) {}

ConnectionPool::~ConnectionPool() { shutdown(); }

size_t ConnectionPool::threads() const {
  std::lock_guard lock(mu_);
  return running_.size();
}

void ConnectionPool::JoinFinished() {
  for (std::thread& t : finished_) t.join();
  finished_.clear();
}

void ConnectionPool::enqueue(Task task) {
  std::unique_lock lock(mu_);
  JoinFinished();
  if (!shutdown_ && idle_ > tasks_.size()) {
    tasks_.push_back(std::move(task));
    lock.unlock();
    cv_.notify_one();
    return;
  }
  if (!shutdown_ && running_.size() < max_threads_) {
    tasks_.push_back(std::move(task));
    running_.emplace_back();
    auto self = std::prev(running_.end());
    *self = std::thread([this, self] { Work(self); });
    return;
  }
  lock.unlock();
  shed_(std::move(task));
}

void ConnectionPool::Work(std::list<std::thread>::iterator self) {
  // Writes to a socket the client closed must fail with EPIPE, not kill the
  // process; the mask is this thread's, so no process-wide state changes.
  BlockSigpipeInThisThread();
  std::unique_lock lock(mu_);
  for (;;) {
    if (tasks_.empty()) {
      if (shutdown_) break;
      ++idle_;
      const bool woken = cv_.wait_for(lock, idle_exit_, [&] { return !tasks_.empty() || shutdown_; });
      --idle_;
      if (!woken && running_.size() > min_threads_) break;
      continue;
    }
    Task task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // closes the connection's captures before the thread waits again
    lock.lock();
  }
  finished_.push_back(std::move(*self));
  running_.erase(self);
  if (shutdown_) cv_.notify_all();
}

void ConnectionPool::shutdown() {
  std::unique_lock lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
  // Threads leave running_ as they exit, after the queued tasks ran.
  cv_.wait(lock, [&] { return running_.empty(); });
  JoinFinished();
}

}  // namespace cairn
