// A three-stage pipeline: one producer, N parallel transformers, one in-order
// consumer. Hand-offs block on condition variables; nothing spins, which
// matters on small machines where an idle spinning thread steals a core from
// the work (oneTBB's parallel_pipeline cost 11% of a 2-core backup that way).
//
// Memory is bounded by `tokens`: the producer waits for a free item.
// Thread-safety: Run is called from one thread; `produce` runs on its own
// thread, `transform` on N threads at once, `consume` on the caller's thread.
// An exception escaping a stage (std::bad_alloc, a bug) stops the pipeline
// and comes back from Run as an error instead of ending the process: Cairn
// is a job boundary for every thread it starts.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn {

template <typename Item>
class OrderedPipeline {
 public:
  // produce(item) fills a reset item and returns false when there is no more.
  // consume(item) returns false to stop the pipeline early; on_stop, if set,
  // is then called before draining, to wake a producer blocked elsewhere.
  static Status Run(size_t tokens, int workers, const std::function<bool(Item*)>& produce,
                    const std::function<void(Item*)>& transform, const std::function<bool(Item*)>& consume,
                    const std::function<void()>& on_stop = {}) {
    OrderedPipeline p;
    for (size_t i = 0; i < tokens; ++i) {
      p.storage_.push_back(std::make_unique<Item>());
      p.free_.push_back(p.storage_.back().get());
    }
    std::thread producer([&] {
      pthread_setname_np(pthread_self(), "cairn-produce");
      p.Produce(produce);
    });
    std::vector<std::thread> pool;
    for (int i = 0; i < workers; ++i)
      pool.emplace_back([&] {
        pthread_setname_np(pthread_self(), "cairn-transform");
        p.Transform(transform);
      });
    p.Consume(consume, on_stop);
    producer.join();
    for (auto& t : pool) t.join();
    std::lock_guard lock(p.mu_);
    return p.error_;
  }

 private:
  // Runs a stage; an exception becomes the pipeline's error. Requires mu_ unlocked.
  template <typename Fn>
  bool Guard(Fn&& fn) {
    try {
      fn();
      return true;
    } catch (const std::exception& e) {
      Fail(std::string("internal error in the backup pipeline: ") + e.what());
    } catch (...) {
      Fail("internal error in the backup pipeline");
    }
    return false;
  }
  void Fail(const std::string& message) {
    std::lock_guard lock(mu_);
    if (error_.ok()) error_ = Status::IOError(message);
    failed_ = true;
  }

  void Produce(const std::function<bool(Item*)>& produce) {
    for (uint64_t seq = 0;; ++seq) {
      Item* item;
      {
        std::unique_lock lock(mu_);
        free_cv_.wait(lock, [&] { return !free_.empty() || stopped_; });
        if (stopped_) return Finish(lock, seq);
        item = free_.back();
        free_.pop_back();
      }
      bool more = false;
      if (!Guard([&] {
            item->Reset();
            more = produce(item);
          }))
        more = false;
      std::unique_lock lock(mu_);
      if (!more) {
        free_.push_back(item);
        return Finish(lock, seq);
      }
      todo_.emplace_back(seq, item);
      todo_cv_.notify_one();
    }
  }

  void Finish(std::unique_lock<std::mutex>&, uint64_t count) {
    produced_ = count;
    producing_done_ = true;
    todo_cv_.notify_all();
    done_cv_.notify_all();
  }

  void Transform(const std::function<void(Item*)>& transform) {
    std::unique_lock lock(mu_);
    for (;;) {
      todo_cv_.wait(lock, [&] { return !todo_.empty() || producing_done_; });
      if (todo_.empty()) return;
      const uint64_t seq = todo_.front().first;
      Item* item = todo_.front().second;
      todo_.pop_front();
      lock.unlock();
      Guard([&] { transform(item); });
      lock.lock();
      done_.emplace(seq, item);
      done_cv_.notify_all();
    }
  }

  void Consume(const std::function<bool(Item*)>& consume, const std::function<void()>& on_stop) {
    for (uint64_t next = 0;; ++next) {
      Item* item;
      bool skip = false;
      {
        std::unique_lock lock(mu_);
        done_cv_.wait(lock, [&] { return done_.count(next) || (producing_done_ && next >= produced_); });
        auto it = done_.find(next);
        if (it == done_.end()) return;
        item = it->second;
        done_.erase(it);
        skip = failed_;  // a stage threw: this item may be half-made
      }
      bool go_on = false;
      if (!skip && !Guard([&] { go_on = consume(item); })) go_on = false;
      std::unique_lock lock(mu_);
      if (failed_) go_on = false;
      free_.push_back(item);
      free_cv_.notify_one();
      if (!go_on) {
        stopped_ = true;
        free_cv_.notify_all();
        if (on_stop) {
          lock.unlock();
          on_stop();
          lock.lock();
        }
        // Drain what is in flight so that the workers and producer can end.
        done_cv_.wait(lock, [&] { return producing_done_; });
        todo_cv_.notify_all();
        return;
      }
    }
  }

  std::mutex mu_;
  std::condition_variable free_cv_, todo_cv_, done_cv_;
  std::vector<std::unique_ptr<Item>> storage_;
  std::vector<Item*> free_;
  std::deque<std::pair<uint64_t, Item*>> todo_;
  std::map<uint64_t, Item*> done_;
  uint64_t produced_ = 0;
  bool producing_done_ = false;
  bool stopped_ = false;
  bool failed_ = false;  // a stage threw; error_ says what
  Status error_;
};

}  // namespace cairn
