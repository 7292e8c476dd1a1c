// The thread pool cpp-httplib hands accepted connections to (its TaskQueue).
// cpp-httplib serves a connection on one thread from the first byte to the
// close, so an event-stream client holds a thread for as long as it is
// connected: a fixed pool of N threads stops answering at the N-th
// dashboard. This pool grows a thread per connection up to `max_threads`,
// lets threads beyond `min_threads` exit after `idle_exit` without work (an
// idle daemon keeps its memory small), and when every thread is busy and
// the limit is reached it does not queue (a queued connection would wait
// unanswered, holding its socket): it runs `shed` on the accepting thread,
// which answers 503 and closes.
//
// Thread-safety: enqueue and shutdown are called by cpp-httplib's accepting
// thread; stats from anywhere.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace cairn {

class ConnectionPool final : public httplib::TaskQueue {
 public:
  using Task = std::function<void()>;
  // `shed` runs a task that cannot be given a thread, on the calling thread.
  ConnectionPool(size_t max_threads, size_t min_threads, std::chrono::milliseconds idle_exit,
                 std::function<void(Task)> shed);
  ~ConnectionPool() override;

  void enqueue(Task task) override;
  // Runs the tasks still queued, then joins every thread.
  void shutdown() override;

  size_t threads() const;

 private:
  void Work(std::list<std::thread>::iterator self);
  void JoinFinished();  // with mu_ held

  const size_t max_threads_, min_threads_;
  const std::chrono::milliseconds idle_exit_;
  const std::function<void(Task)> shed_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  std::list<std::thread> running_;
  std::vector<std::thread> finished_;  // exited by themselves, joined later
  size_t idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace cairn
