// A thin layer over libsqlite3 for the catalog: a connection that caches its
// prepared statements, statements bound and read with plain C++ values, and
// transactions that roll back unless committed. Result codes become
// one-line Status messages naming the database file ("disk full: cannot
// write catalog /var/lib/cairn/catalog.db").
//
// Thread-safety: a Db and the statements it hands out belong to one thread
// at a time (connections are opened SQLITE_OPEN_NOMUTEX); the catalog gives
// each thread its own connection (catalog_sqlite.cc).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "cairn/status.h"

namespace cairn::sql {

struct BlobRef {
  const void* data = nullptr;
  size_t size = 0;
};

class Db;

// A prepared statement borrowed from its connection's cache. Destroying it
// resets the statement and clears its bindings, ready for the next use.
class Stmt {
 public:
  Stmt(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_), bind_rc_(other.bind_rc_) { other.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  // Binds the values to parameters 1, 2, ... in order (values are copied).
  template <typename... Args>
  Stmt& Bind(const Args&... args) {
    int i = 0;
    (BindOne(++i, args), ...);
    return *this;
  }
  template <typename T>
  Stmt& BindAt(int index, const T& value) {
    BindOne(index, value);
    return *this;
  }
  // One step: true when a row is ready to read.
  Result<bool> Step();
  // Steps to the end (statements without result rows).
  Status Run();
  // Resets to run again with new bindings (the cache does this on destruction).
  void Reset();

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  uint64_t UInt(int col) const { return static_cast<uint64_t>(sqlite3_column_int64(stmt_, col)); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;
  std::string_view TextView(int col) const;  // valid until the next step
  bool IsBlob(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_BLOB; }

 private:
  template <typename T>
  struct IsOptional : std::false_type {};
  template <typename T>
  struct IsOptional<std::optional<T>> : std::true_type {};

  template <typename T>
  void BindOne(int i, const T& v) {
    int rc;
    if constexpr (std::is_same_v<T, std::nullptr_t>) {
      rc = sqlite3_bind_null(stmt_, i);
    } else if constexpr (std::is_same_v<T, bool>) {
      rc = sqlite3_bind_int(stmt_, i, v ? 1 : 0);
    } else if constexpr (std::is_integral_v<T>) {
      rc = sqlite3_bind_int64(stmt_, i, static_cast<int64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
      rc = sqlite3_bind_double(stmt_, i, static_cast<double>(v));
    } else if constexpr (IsOptional<T>::value) {
      if (v) return BindOne(i, *v);
      rc = sqlite3_bind_null(stmt_, i);
    } else if constexpr (std::is_same_v<T, BlobRef>) {
      rc = sqlite3_bind_blob64(stmt_, i, v.data, v.size, SQLITE_TRANSIENT);
    } else {
      std::string_view s(v);
      rc = sqlite3_bind_text64(stmt_, i, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  Db* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

class Db {
 public:
  // Opens an existing database file read-write (never creates one: the
  // catalog creates its file itself, with mode 0600).
  static Result<std::unique_ptr<Db>> Open(const std::string& path, int busy_timeout_ms);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // A cached prepared statement for `sql` (one statement).
  Result<Stmt> Prepare(std::string_view sql);
  // Runs SQL text without results (pragmas, DDL; several statements allowed).
  Status Exec(const std::string& sql);
  // The first column of the first row of a one-row query, as an integer.
  Result<int64_t> QueryInt(std::string_view sql);

  // The Status for a failed call that returned `rc` (one line, names the file).
  Status Error(int rc) const;
  int64_t Changes() const { return sqlite3_changes64(db_); }
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  bool InTransaction() const { return !sqlite3_get_autocommit(db_); }
  const std::string& path() const { return path_; }
  int busy_timeout_ms() const { return busy_timeout_ms_; }
  sqlite3* raw() { return db_; }

 private:
  Db(sqlite3* db, std::string path, int busy_timeout_ms)
      : db_(db), path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {}

  sqlite3* db_;
  std::string path_;
  int busy_timeout_ms_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// BEGIN (IMMEDIATE for writes, so that the write lock is taken up front and
// a busy database is waited for at the start, never half-way); ROLLBACK on
// destruction unless committed.
class Txn {
 public:
  explicit Txn(Db& db) : db_(db) {}
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();
  Status Begin(bool write);
  Status Commit();

 private:
  Db& db_;
  bool open_ = false;
};

}  // namespace cairn::sql
