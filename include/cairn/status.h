// Status and Result<T>: the error currency of every Cairn layer.
//
// A Status is either OK or a code plus a one-line, human-readable message that
// names the cause ("pack data/3f/3fa2... is corrupt: content hash mismatch").
// Messages are written to be shown to an operator as they are.
// Both types are small values; copy and move freely. Not thread-safe to mutate
// one instance from several threads (like any value).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cairn {

enum class StatusCode {
  kOk = 0,
  kNotFound,         // object, snapshot, path or key does not exist
  kAlreadyExists,    // refusing to overwrite (repository already initialised, ...)
  kCorruption,       // stored bytes fail authentication, hashing or decoding
  kInvalidArgument,  // malformed input from the user or a config
  kIOError,          // the operating system or a server refused an operation
  kNoSpace,          // the target is full (ENOSPC, EDQUOT)
  kWrongPassword,    // no key file opens with the given password
  kLocked,           // another process holds a conflicting repository lock
  kUnsupported,      // format version or feature this build does not know
  kAborted,          // interrupted by a signal or by the caller
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status NoSpace(std::string m) { return {StatusCode::kNoSpace, std::move(m)}; }
  static Status WrongPassword(std::string m) { return {StatusCode::kWrongPassword, std::move(m)}; }
  static Status Locked(std::string m) { return {StatusCode::kLocked, std::move(m)}; }
  static Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  // Maps an errno from a failed system call on `what` to the right code.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }

  // Returns a copy whose message is "context: message", keeping the code.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }
  std::string ToString() const { return ok() ? "OK" : message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace cairn

#define CAIRN_CONCAT_INNER(a, b) a##b
#define CAIRN_CONCAT(a, b) CAIRN_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define CAIRN_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::cairn::Status _cairn_st = (expr);          \
    if (!_cairn_st.ok()) return _cairn_st;       \
  } while (0)

// `lhs` = value of `rexpr` (a Result<T>), or return its Status.
#define CAIRN_ASSIGN_OR_RETURN(lhs, rexpr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL(CAIRN_CONCAT(_cairn_res_, __LINE__), lhs, rexpr)
#define CAIRN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
