#include "storage/testing/fault_storage.h"

#include <algorithm>

namespace cairn::storage_testing {
namespace {

bool StartsWithAny(std::string_view key, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [key](const std::string& prefix) { return key.starts_with(prefix); });
}

Status InjectedIOError(std::string_view key) {
  return Status::IOError("injected I/O error on " + std::string(key));
}

}  // namespace

void FaultInjectingStorage::FailPutsAfter(int successful_puts) {
  std::lock_guard lock(mutex_);
  puts_allowed_ = successful_puts;
}

void FaultInjectingStorage::FailKeysWithPrefix(std::string prefix) {
  std::lock_guard lock(mutex_);
  failing_prefixes_.push_back(std::move(prefix));
}

void FaultInjectingStorage::CorruptReadsOfKeysWithPrefix(std::string prefix) {
  std::lock_guard lock(mutex_);
  corrupting_prefixes_.push_back(std::move(prefix));
}

void FaultInjectingStorage::ClearFaults() {
  std::lock_guard lock(mutex_);
  puts_allowed_.reset();
  failing_prefixes_.clear();
  corrupting_prefixes_.clear();
}

int64_t FaultInjectingStorage::calls(Op op) const {
  std::lock_guard lock(mutex_);
  return calls_[static_cast<size_t>(op)];
}

Status FaultInjectingStorage::Enter(Op op, std::string_view key) {
  std::lock_guard lock(mutex_);
  ++calls_[static_cast<size_t>(op)];
  return StartsWithAny(key, failing_prefixes_) ? InjectedIOError(key) : Status::Ok();
}

bool FaultInjectingStorage::IsFailing(std::string_view key) const {
  std::lock_guard lock(mutex_);
  return StartsWithAny(key, failing_prefixes_);
}

Result<Bytes> FaultInjectingStorage::MaybeCorrupt(std::string_view key, Result<Bytes> read) const {
  {
    std::lock_guard lock(mutex_);
    if (!read.ok() || read->empty() || !StartsWithAny(key, corrupting_prefixes_)) return read;
  }
  Bytes& data = *read;
  data[data.size() / 2] ^= 0xff;
  return read;
}

// Reserved before the Put runs so that concurrent Puts cannot overshoot the
// allowance, and handed back if the Put fails on its own.
bool FaultInjectingStorage::TakePutAllowance() {
  std::lock_guard lock(mutex_);
  if (!puts_allowed_) return true;
  if (*puts_allowed_ == 0) return false;
  --*puts_allowed_;
  return true;
}

void FaultInjectingStorage::ReturnPutAllowance() {
  std::lock_guard lock(mutex_);
  if (puts_allowed_) ++*puts_allowed_;
}

Status FaultInjectingStorage::Put(std::string_view key, ByteView data) {
  CAIRN_RETURN_IF_ERROR(Enter(Op::kPut, key));
  if (!TakePutAllowance()) return Status::NoSpace("disk full: injected: no space left to store " + std::string(key));
  Status status = target_->Put(key, data);
  if (!status.ok()) ReturnPutAllowance();
  return status;
}

Result<Bytes> FaultInjectingStorage::Get(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(Enter(Op::kGet, key));
  return MaybeCorrupt(key, target_->Get(key));
}

Result<Bytes> FaultInjectingStorage::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  CAIRN_RETURN_IF_ERROR(Enter(Op::kGetRange, key));
  return MaybeCorrupt(key, target_->GetRange(key, offset, length));
}

Status FaultInjectingStorage::List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) {
  CAIRN_RETURN_IF_ERROR(Enter(Op::kList, prefix));
  return target_->List(prefix, [&](const ObjectInfo& info) {
    if (IsFailing(info.key)) return InjectedIOError(info.key);
    return fn(info);
  });
}

Status FaultInjectingStorage::Delete(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(Enter(Op::kDelete, key));
  return target_->Delete(key);
}

Result<ObjectInfo> FaultInjectingStorage::Stat(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(Enter(Op::kStat, key));
  return target_->Stat(key);
}

}  // namespace cairn::storage_testing
