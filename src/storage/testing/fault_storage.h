// A storage that forwards to another one and injects the failures real
// backends produce (a full disk, a failing device or server, bit rot), so the
// layers above can have their error paths tested without broken hardware.
// The same seam as LevelDB's fault-injection Env.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cairn/forwarding_storage.h"

namespace cairn::storage_testing {

class FaultInjectingStorage : public ForwardingStorage {
 public:
  enum class Op { kPut, kGet, kGetRange, kList, kDelete, kStat };

  // `target` is not owned and must outlive this storage.
  explicit FaultInjectingStorage(Storage* target) : ForwardingStorage(target), target_(target) {}

  // Lets the next `successful_puts` Puts succeed, then fails every later one
  // with NoSpace before it reaches the target, like a disk filling up. Puts
  // that fail for another reason do not use up the allowance.
  void FailPutsAfter(int successful_puts);
  // Fails every operation on a key starting with `prefix` with IOError. A List
  // fails when its prefix starts with `prefix` or when it reaches such a key.
  void FailKeysWithPrefix(std::string prefix);
  // Flips one byte of what Get and GetRange return for keys starting with
  // `prefix`; the stored object stays intact.
  void CorruptReadsOfKeysWithPrefix(std::string prefix);
  // Removes every fault; the call counts stay.
  void ClearFaults();

  // Calls of `op` so far, including failed ones.
  int64_t calls(Op op) const;

  Status Put(std::string_view key, ByteView data) override;
  Result<Bytes> Get(std::string_view key) override;
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Delete(std::string_view key) override;
  Result<ObjectInfo> Stat(std::string_view key) override;

 private:
  // Counts the call; non-OK when `key` is under a failing prefix.
  Status Enter(Op op, std::string_view key);
  bool IsFailing(std::string_view key) const;
  Result<Bytes> MaybeCorrupt(std::string_view key, Result<Bytes> read) const;
  bool TakePutAllowance();
  void ReturnPutAllowance();

  Storage* const target_;
  mutable std::mutex mutex_;
  std::array<int64_t, static_cast<size_t>(Op::kStat) + 1> calls_{};
  std::optional<int64_t> puts_allowed_;  // unlimited when empty
  std::vector<std::string> failing_prefixes_;
  std::vector<std::string> corrupting_prefixes_;
};

}  // namespace cairn::storage_testing
