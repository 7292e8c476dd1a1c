#include "daemon/sqlite_db.h"

#include <cerrno>
#include <cstring>

namespace cairn::sql {

Stmt::~Stmt() {
  if (stmt_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

Result<bool> Stmt::Step() {
  if (bind_rc_ != SQLITE_OK) return db_->Error(bind_rc_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc);
}

Status Stmt::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

std::string Stmt::Text(int col) const { return std::string(TextView(col)); }

std::string_view Stmt::TextView(int col) const {
  // Blob first: asking for the text of a blob would convert it in place.
  const void* p = IsBlob(col) ? sqlite3_column_blob(stmt_, col) : sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string_view();
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Db> db(new Db(raw, path, busy_timeout_ms));
  if (rc != SQLITE_OK) {
    if (!raw) return Status::IOError("cannot open catalog " + path + ": out of memory");
    return db->Error(rc);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return db;
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  if (db_) sqlite3_close(db_);
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) return Stmt(this, it->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                              nullptr);
  if (rc != SQLITE_OK) return Error(rc);
  cache_.emplace(std::string(sql), stmt);
  return Stmt(this, stmt);
}

Status Db::Exec(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc);
}

Result<int64_t> Db::QueryInt(std::string_view sql) {
  CAIRN_ASSIGN_OR_RETURN(Stmt st, Prepare(sql));
  CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("catalog " + path_ + ": no row for " + std::string(sql));
  return st.Int(0);
}

Status Db::Error(int rc) const {
  const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  const int sys = db_ ? sqlite3_system_errno(db_) : 0;
  const std::string where = "catalog " + path_;
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status::NoSpace("disk full: cannot write " + where + " (" + msg + ")");
    case SQLITE_IOERR:
      if (sys == ENOSPC || sys == EDQUOT) return Status::NoSpace("disk full: cannot write " + where);
      return Status::IOError("I/O error on " + where + ": " + (sys ? std::strerror(sys) : msg));
    case SQLITE_READONLY:
      return Status::IOError(where + " is read-only: " + msg);
    case SQLITE_CANTOPEN:
      return Status::IOError("cannot open " + where + ": " + (sys ? std::strerror(sys) : msg));
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::IOError(where + ": permission denied (" + msg + ")");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(where + " is corrupt or not a catalog: " + msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Locked(where + " is busy: another process held its lock for more than " +
                            std::to_string(busy_timeout_ms_) + " ms");
    case SQLITE_NOMEM:
      return Status::IOError(where + ": out of memory");
    case SQLITE_INTERRUPT:
      return Status::Aborted(where + ": interrupted");
    case SQLITE_CONSTRAINT:
      return Status::InvalidArgument(where + ": " + msg);
    default:
      return Status::IOError(where + ": " + msg);
  }
}

Txn::~Txn() {
  // SQLite rolls back by itself after some errors (full disk, I/O); only an
  // open transaction is rolled back here.
  if (open_ && db_.InTransaction()) {
    if (auto st = db_.Prepare("ROLLBACK"); st.ok()) (void)st->Run();
  }
}

Status Txn::Begin(bool write) {
  CAIRN_ASSIGN_OR_RETURN(Stmt st, db_.Prepare(write ? "BEGIN IMMEDIATE" : "BEGIN"));
  CAIRN_RETURN_IF_ERROR(st.Run());
  open_ = true;
  return Status::Ok();
}

Status Txn::Commit() {
  CAIRN_ASSIGN_OR_RETURN(Stmt st, db_.Prepare("COMMIT"));
  Status s = st.Run();
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace cairn::sql
