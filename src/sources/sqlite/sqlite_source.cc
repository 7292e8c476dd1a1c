// SQLite source (docs/sources/sqlite.md).
//
// Capture reads the database file's pages in one read transaction. Debian's
// libsqlite3 has no sqlite_dbpage table, so the pages are read through the
// connection's own file handle while the transaction guarantees the file is
// the snapshot:
//  - rollback-journal databases: the shared lock keeps writers out of the file;
//  - WAL databases: a reader that started while the WAL was fully checkpointed
//    holds WAL read-lock 0 ("ignore the WAL"), and SQLite never checkpoints
//    into the file while that lock is held. A shim VFS watches which WAL
//    read-lock our connection got; we checkpoint and retry until it is lock 0.
// When that cannot be had (another connection pins an old snapshot for the
// whole time), the online backup API copies the database into a temporary
// file, which is then streamed: the documented last resort.
#include "sources/sqlite/sqlite_source.h"

#include "cairn/system.h"
#include "util/staging.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "sources/field_hash.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

const char kPartName[] = "db";

// ---------------------------------------------------------------- shim VFS

// Passes everything to the default VFS and remembers, per open main-database
// file, which WAL read-lock slot the connection holds (WAL_READ_LOCK(i) is
// shm lock 3 + i; slot 0 means "reading the database file only").
struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;
  int read_slot;
};

sqlite3_vfs* RootVfs(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }
sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }

int ShimClose(sqlite3_file* f) {
  sqlite3_file* r = Real(f);
  int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
  r->pMethods = nullptr;
  return rc;
}
int ShimRead(sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return Real(f)->pMethods->xRead(Real(f), b, n, o); }
int ShimWrite(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  return Real(f)->pMethods->xWrite(Real(f), b, n, o);
}
int ShimTruncate(sqlite3_file* f, sqlite3_int64 s) { return Real(f)->pMethods->xTruncate(Real(f), s); }
int ShimSync(sqlite3_file* f, int fl) { return Real(f)->pMethods->xSync(Real(f), fl); }
int ShimFileSize(sqlite3_file* f, sqlite3_int64* s) { return Real(f)->pMethods->xFileSize(Real(f), s); }
int ShimLock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int ShimUnlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
int ShimCheckReserved(sqlite3_file* f, int* o) { return Real(f)->pMethods->xCheckReservedLock(Real(f), o); }
int ShimFileControl(sqlite3_file* f, int op, void* a) { return Real(f)->pMethods->xFileControl(Real(f), op, a); }
int ShimSectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int ShimDeviceChar(sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); }
int ShimShmMap(sqlite3_file* f, int pg, int sz, int ext, void volatile** p) {
  sqlite3_file* r = Real(f);
  if (r->pMethods->iVersion < 2 || !r->pMethods->xShmMap) return SQLITE_IOERR_SHMMAP;
  return r->pMethods->xShmMap(r, pg, sz, ext, p);
}
int ShimShmLock(sqlite3_file* f, int offset, int n, int flags) {
  auto* sf = reinterpret_cast<ShimFile*>(f);
  int rc = sf->real->pMethods->xShmLock(sf->real, offset, n, flags);
  constexpr int kFirstReadLock = 3, kReadLocks = 5;
  if (rc == SQLITE_OK && n == 1 && offset >= kFirstReadLock && offset < kFirstReadLock + kReadLocks) {
    if (flags == (SQLITE_SHM_LOCK | SQLITE_SHM_SHARED)) sf->read_slot = offset - kFirstReadLock;
    if ((flags & SQLITE_SHM_UNLOCK) && sf->read_slot == offset - kFirstReadLock) sf->read_slot = -1;
  }
  return rc;
}
void ShimShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShimShmUnmap(sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); }
int ShimFetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
  sqlite3_file* r = Real(f);
  if (r->pMethods->iVersion < 3 || !r->pMethods->xFetch) {
    *p = nullptr;
    return SQLITE_OK;
  }
  return r->pMethods->xFetch(r, o, n, p);
}
int ShimUnfetch(sqlite3_file* f, sqlite3_int64 o, void* p) {
  sqlite3_file* r = Real(f);
  if (r->pMethods->iVersion < 3 || !r->pMethods->xUnfetch) return SQLITE_OK;
  return r->pMethods->xUnfetch(r, o, p);
}

const sqlite3_io_methods kShimMethods = {
    3,           ShimClose,      ShimRead,          ShimWrite,       ShimTruncate,   ShimSync,       ShimFileSize,
    ShimLock,    ShimUnlock,     ShimCheckReserved, ShimFileControl, ShimSectorSize, ShimDeviceChar, ShimShmMap,
    ShimShmLock, ShimShmBarrier, ShimShmUnmap,      ShimFetch,       ShimUnfetch,
};

int ShimOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* sf = reinterpret_cast<ShimFile*>(f);
  sf->real = reinterpret_cast<sqlite3_file*>(sf + 1);
  sf->read_slot = -1;
  sf->base.pMethods = nullptr;
  int rc = RootVfs(vfs)->xOpen(RootVfs(vfs), name, sf->real, flags, out_flags);
  if (sf->real->pMethods) sf->base.pMethods = &kShimMethods;
  return rc;
}
int ShimDelete(sqlite3_vfs* v, const char* n, int s) { return RootVfs(v)->xDelete(RootVfs(v), n, s); }
int ShimAccess(sqlite3_vfs* v, const char* n, int fl, int* o) { return RootVfs(v)->xAccess(RootVfs(v), n, fl, o); }
int ShimFullPathname(sqlite3_vfs* v, const char* n, int sz, char* o) {
  return RootVfs(v)->xFullPathname(RootVfs(v), n, sz, o);
}
void* ShimDlOpen(sqlite3_vfs* v, const char* n) { return RootVfs(v)->xDlOpen(RootVfs(v), n); }
void ShimDlError(sqlite3_vfs* v, int n, char* o) { RootVfs(v)->xDlError(RootVfs(v), n, o); }
void (*ShimDlSym(sqlite3_vfs* v, void* h, const char* s))(void) { return RootVfs(v)->xDlSym(RootVfs(v), h, s); }
void ShimDlClose(sqlite3_vfs* v, void* h) { RootVfs(v)->xDlClose(RootVfs(v), h); }
int ShimRandomness(sqlite3_vfs* v, int n, char* o) { return RootVfs(v)->xRandomness(RootVfs(v), n, o); }
int ShimSleep(sqlite3_vfs* v, int us) { return RootVfs(v)->xSleep(RootVfs(v), us); }
int ShimCurrentTime(sqlite3_vfs* v, double* t) { return RootVfs(v)->xCurrentTime(RootVfs(v), t); }
int ShimGetLastError(sqlite3_vfs* v, int n, char* o) { return RootVfs(v)->xGetLastError(RootVfs(v), n, o); }
int ShimCurrentTimeInt64(sqlite3_vfs* v, sqlite3_int64* t) {
  sqlite3_vfs* r = RootVfs(v);
  if (r->iVersion >= 2 && r->xCurrentTimeInt64) return r->xCurrentTimeInt64(r, t);
  double d = 0;
  int rc = r->xCurrentTime(r, &d);
  *t = static_cast<sqlite3_int64>(d * 86400000.0);
  return rc;
}

const char kShimName[] = "cairn-snapshot";

// Registers the shim once (not as the default VFS); nullptr when SQLite has no default VFS.
const char* ShimVfsName() {
  static std::once_flag once;
  static sqlite3_vfs shim;
  static bool ok = false;
  std::call_once(once, [] {
    sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
    if (!root) return;
    shim = sqlite3_vfs{};
    shim.iVersion = 2;
    shim.szOsFile = static_cast<int>(sizeof(ShimFile)) + root->szOsFile;
    shim.mxPathname = root->mxPathname;
    shim.zName = kShimName;
    shim.pAppData = root;
    shim.xOpen = ShimOpen;
    shim.xDelete = ShimDelete;
    shim.xAccess = ShimAccess;
    shim.xFullPathname = ShimFullPathname;
    shim.xDlOpen = ShimDlOpen;
    shim.xDlError = ShimDlError;
    shim.xDlSym = ShimDlSym;
    shim.xDlClose = ShimDlClose;
    shim.xRandomness = ShimRandomness;
    shim.xSleep = ShimSleep;
    shim.xCurrentTime = ShimCurrentTime;
    shim.xGetLastError = ShimGetLastError;
    shim.xCurrentTimeInt64 = ShimCurrentTimeInt64;
    ok = sqlite3_vfs_register(&shim, 0) == SQLITE_OK;
  });
  return ok ? kShimName : nullptr;
}

// ---------------------------------------------------------------- connections

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

std::string ErrMsg(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

Status SqlError(sqlite3* db, const std::string& context) {
  int code = db ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM;
  std::string message = context + ": " + ErrMsg(db);
  switch (code) {
    case SQLITE_NOTADB:
      return Status::InvalidArgument(message);
    case SQLITE_CORRUPT:
      return Status::Corruption(message);
    case SQLITE_FULL:
      return Status::NoSpace(message);
    case SQLITE_CANTOPEN:
      return Status::NotFound(message);
    default:
      return Status::IOError(message);
  }
}

Result<Stmt> Prepare(sqlite3* db, const std::string& sql, const std::string& what) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return SqlError(db, what);
  return Stmt(s);
}

Status Exec(sqlite3* db, const std::string& sql, const std::string& what) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return SqlError(db, what);
  return Status::Ok();
}

// The first column of the first row as text ("" when there is no row).
Result<std::string> QueryText(sqlite3* db, const std::string& sql, const std::string& what) {
  CAIRN_ASSIGN_OR_RETURN(Stmt s, Prepare(db, sql, what));
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(s.get(), 0);
    return std::string(t ? reinterpret_cast<const char*>(t) : "");
  }
  if (rc != SQLITE_DONE) return SqlError(db, what);
  return std::string();
}

Result<int64_t> QueryInt(sqlite3* db, const std::string& sql, const std::string& what) {
  CAIRN_ASSIGN_OR_RETURN(Stmt s, Prepare(db, sql, what));
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return static_cast<int64_t>(sqlite3_column_int64(s.get(), 0));
  if (rc != SQLITE_DONE) return SqlError(db, what);
  return int64_t{0};
}

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// "file:" URI for paths that may contain '?', '#' or '%'.
std::string FileUri(const std::string& path, const std::string& query) {
  std::string out = "file:";
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::strchr("/-._~", c)) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out + "?" + query;
}

// Checks the file before SQLite sees it: SQLite would silently create a
// missing file and reports unreadable ones only as "unable to open".
Status CheckDatabaseFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("SQLite database " + path + " does not exist");
    return Status::FromErrno(errno, "cannot access SQLite database " + path);
  }
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + " is a directory, not an SQLite database");
  if (::access(path.c_str(), R_OK) != 0) return Status::FromErrno(errno, "cannot read SQLite database " + path);
  return Status::Ok();
}

// Opens an existing database read-write (checkpoints need it), falling back
// to read-only when the file or its directory is not writable.
Result<Db> OpenExisting(const std::string& path, const char* vfs) {
  CAIRN_RETURN_IF_ERROR(CheckDatabaseFile(path));
  for (int flags : {SQLITE_OPEN_READWRITE, SQLITE_OPEN_READONLY}) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, vfs);
    Db db(raw);
    if (rc != SQLITE_OK) {
      if (flags == SQLITE_OPEN_READWRITE) continue;
      return SqlError(db.get(), "cannot open SQLite database " + path);
    }
    sqlite3_busy_timeout(db.get(), 10000);
    sqlite3_extended_result_codes(db.get(), 0);
    // SQLite opens lazily: the first read tells a database from any other file.
    Result<int64_t> probe = QueryInt(db.get(), "SELECT count(*) FROM sqlite_schema", "probe");
    if (!probe.ok()) {
      if (sqlite3_errcode(db.get()) == SQLITE_NOTADB)
        return Status::InvalidArgument(path + " is not an SQLite database (" + ErrMsg(db.get()) + ")");
      if (flags == SQLITE_OPEN_READWRITE &&
          (sqlite3_errcode(db.get()) == SQLITE_READONLY || sqlite3_errcode(db.get()) == SQLITE_CANTOPEN))
        continue;
      if (sqlite3_errcode(db.get()) == SQLITE_READONLY)
        return Status::IOError("cannot read SQLite database " + path + ": " + ErrMsg(db.get()) +
                               " (a WAL database needs write access to its -shm file and directory)");
      return SqlError(db.get(), "cannot read SQLite database " + path);
    }
    return db;
  }
  return Status::IOError("cannot open SQLite database " + path);
}

// An immutable, read-only view of a file only Cairn uses (no -wal/-shm files).
Result<Db> OpenPrivateReadOnly(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(FileUri(path, "immutable=1").c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return SqlError(db.get(), "cannot open restored database " + path);
  return db;
}

// ---------------------------------------------------------------- fingerprint

// Items: "table <name>" {"rows", "checksum"} for every ordinary table (the sum
// of a 60-bit hash of each row: independent of row order and storage),
// "schema" (hash of sqlite_schema without root pages) and "user_version".
// Must run inside the read transaction whose data it describes.
Result<Json> FingerprintItems(sqlite3* db) {
  Json items = Json::object();
  CAIRN_ASSIGN_OR_RETURN(int64_t user_version, QueryInt(db, "PRAGMA user_version", "reading user_version"));
  items["user_version"] = user_version;

  CAIRN_ASSIGN_OR_RETURN(Stmt schema, Prepare(db,
                                              "SELECT type, name, tbl_name, sql FROM sqlite_schema "
                                              "ORDER BY type, name",
                                              "reading the schema"));
  FieldHasher schema_hash;
  std::vector<std::string> tables;
  int rc;
  while ((rc = sqlite3_step(schema.get())) == SQLITE_ROW) {
    for (int i = 0; i < 4; ++i) {
      const auto* t = sqlite3_column_text(schema.get(), i);
      std::string v = t ? reinterpret_cast<const char*>(t) : "";
      schema_hash.Field(t ? 't' : 'n', v.data(), v.size());
    }
    std::string type = reinterpret_cast<const char*>(sqlite3_column_text(schema.get(), 0));
    const auto* sql = sqlite3_column_text(schema.get(), 3);
    std::string sql_text = sql ? reinterpret_cast<const char*>(sql) : "";
    std::string head = sql_text.substr(0, 20);
    std::transform(head.begin(), head.end(), head.begin(), ::toupper);
    // Virtual tables are computed from their shadow tables, which are counted.
    if (type == "table" && head.rfind("CREATE VIRTUAL", 0) != 0)
      tables.push_back(reinterpret_cast<const char*>(sqlite3_column_text(schema.get(), 1)));
  }
  if (rc != SQLITE_DONE) return SqlError(db, "reading the schema");
  items["schema"] = Hex64(schema_hash.Digest());

  for (const std::string& table : tables) {
    CAIRN_ASSIGN_OR_RETURN(Stmt s, Prepare(db, "SELECT * FROM " + QuoteIdent(table), "reading table " + table));
    const int columns = sqlite3_column_count(s.get());
    uint64_t rows = 0, sum = 0;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      FieldHasher h;
      for (int i = 0; i < columns; ++i) {
        switch (sqlite3_column_type(s.get(), i)) {
          case SQLITE_INTEGER: {
            int64_t v = sqlite3_column_int64(s.get(), i);
            h.Field('i', &v, sizeof v);
            break;
          }
          case SQLITE_FLOAT: {
            double v = sqlite3_column_double(s.get(), i);
            h.Field('f', &v, sizeof v);
            break;
          }
          case SQLITE_TEXT: {
            const void* p = sqlite3_column_text(s.get(), i);
            h.Field('t', p, static_cast<size_t>(sqlite3_column_bytes(s.get(), i)));
            break;
          }
          case SQLITE_BLOB: {
            const void* p = sqlite3_column_blob(s.get(), i);
            h.Field('b', p, static_cast<size_t>(sqlite3_column_bytes(s.get(), i)));
            break;
          }
          default:
            h.Field('n', "", 0);
        }
      }
      sum += h.Digest() & ((uint64_t{1} << 60) - 1);
      ++rows;
    }
    if (rc != SQLITE_DONE) return SqlError(db, "reading table " + table);
    items["table " + table] = Json{{"rows", rows}, {"checksum", Hex64(sum)}};
  }
  return items;
}

// ---------------------------------------------------------------- streaming

std::string StemWithSuffix(const std::string& path, const std::string& suffix) {
  fs::path p(path);
  std::string ext = p.extension().string();
  if (ext.empty()) return path + "." + suffix + ".db";
  return (p.parent_path() / (p.stem().string() + "." + suffix + ext)).string();
}

std::string FallbackSuffix() {
  return "restored_" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// ---------------------------------------------------------------- capture

class SqliteCapture : public Capture {
 public:
  SqliteCapture(std::string path, std::string file_name) : path_(std::move(path)) {
    CapturePart part;
    part.name = kPartName;
    part.kind = CapturePart::Kind::kStream;
    part.file_name = std::move(file_name);
    part.open = [this]() { return Open(); };
    part.finish = [this]() { return FinishPart(); };
    parts_.push_back(std::move(part));
  }

  ~SqliteCapture() override {
    abort_ = true;
    if (db_) sqlite3_interrupt(db_.get());  // a fingerprint query in the producer stops early
    if (producer_.joinable()) producer_.join();
    if (write_fd_ >= 0) ::close(write_fd_);
    if (db_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    db_.reset();
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  }

  // Takes the snapshot: afterwards db_ holds a read transaction on a file
  // whose bytes are exactly the snapshot.
  Status Begin(const std::string& temp_dir) {
    CAIRN_ASSIGN_OR_RETURN(db_, OpenExisting(path_, ShimVfsName()));
    CAIRN_ASSIGN_OR_RETURN(std::string mode, QueryText(db_.get(), "PRAGMA journal_mode", "reading the journal mode"));
    journal_mode_ = mode;
    if (mode != "wal") {
      CAIRN_RETURN_IF_ERROR(BeginRead(db_.get()));
      method_ = "locked-file";
      return Status::Ok();
    }
    constexpr int kQuickAttempts = 3, kAttempts = 8;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
      Db blocker;
      if (attempt >= kQuickAttempts) {
        // A busy writer commits between our checkpoint and our BEGIN; holding
        // the write lock for that moment (milliseconds) keeps it out.
        sqlite3* raw = nullptr;
        int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
        blocker.reset(raw);
        if (rc == SQLITE_OK) {
          sqlite3_busy_timeout(raw, 10000);
          if (sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) blocker.reset();
        } else {
          blocker.reset();
        }
      }
      // With the write lock held the WAL cannot grow, so retrying while another
      // connection's auto-checkpoint runs (SQLITE_BUSY) converges. A reader
      // pinning old frames (OK, but not all frames done) gets a short wait only.
      const auto start = std::chrono::steady_clock::now();
      for (;;) {
        int log_frames = -1, done_frames = -1;
        int rc = sqlite3_wal_checkpoint_v2(db_.get(), "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done_frames);
        if (rc == SQLITE_OK && log_frames == done_frames) break;
        const auto limit = std::chrono::milliseconds(!blocker ? 0 : rc == SQLITE_BUSY ? 2000 : 100);
        if (std::chrono::steady_clock::now() - start >= limit) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      Status st = BeginRead(db_.get());
      if (blocker) sqlite3_exec(blocker.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      blocker.reset();
      CAIRN_RETURN_IF_ERROR(st);
      if (ReadSlot() == 0) {
        method_ = "wal-snapshot";
        return Status::Ok();
      }
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return BeginViaBackupApi(temp_dir);
  }

  std::vector<CapturePart>& parts() override { return parts_; }

  Result<Json> Finish() override {
    if (producer_.joinable()) CAIRN_RETURN_IF_ERROR(FinishPart());
    if (!streamed_) return Status::InvalidArgument("the database part was not read");
    CAIRN_RETURN_IF_ERROR(producer_status_);
    db_.reset();
    Json source = {{"path", path_},
                   {"page_size", page_size_},
                   {"pages", page_count_},
                   {"journal_mode", journal_mode_},
                   {"method", method_}};
    Json fingerprint = {{"exact", true}, {"items", items_}};
    return Json{{"server_version", sqlite3_libversion()}, {"fingerprint", fingerprint}, {"source", source}};
  }

 private:
  static Status BeginRead(sqlite3* db) {
    CAIRN_RETURN_IF_ERROR(Exec(db, "BEGIN", "cannot start a read transaction"));
    Result<int64_t> r = QueryInt(db, "SELECT count(*) FROM sqlite_schema", "cannot start a read transaction");
    if (!r.ok()) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return r.status();
    }
    return Status::Ok();
  }

  int ReadSlot() {
    sqlite3_file* f = nullptr;
    if (sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f) return -1;
    if (f->pMethods != &kShimMethods) return -1;
    return reinterpret_cast<ShimFile*>(f)->read_slot;
  }

  // The last resort: a consistent copy into a private temporary file, made in
  // one backup step (one read transaction on the source).
  Status BeginViaBackupApi(const std::string& temp_dir) {
    std::string tmpl = temp_dir + "/cairn-sqlite-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return Status::FromErrno(errno, "cannot create a temporary file in " + temp_dir);
    ::close(fd);
    temp_path_ = tmpl;
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(temp_path_.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
    Db copy(raw);
    if (rc != SQLITE_OK) return SqlError(copy.get(), "cannot open temporary database " + temp_path_);
    sqlite3_exec(copy.get(), "PRAGMA journal_mode=OFF", nullptr, nullptr, nullptr);
    sqlite3_backup* b = sqlite3_backup_init(copy.get(), "main", db_.get(), "main");
    if (!b) return SqlError(copy.get(), "cannot copy SQLite database " + path_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    do {
      rc = sqlite3_backup_step(b, -1);
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && std::chrono::steady_clock::now() < deadline);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) return Status::IOError("cannot copy SQLite database " + path_ + ": " + sqlite3_errstr(rc));
    db_ = std::move(copy);
    CAIRN_RETURN_IF_ERROR(BeginRead(db_.get()));
    method_ = "backup-api";
    return Status::Ok();
  }

  Result<int> Open() {
    if (producer_.joinable() || streamed_) return Status::InvalidArgument("the database part was already read");
    CAIRN_ASSIGN_OR_RETURN(page_size_, QueryInt(db_.get(), "PRAGMA page_size", "reading the page size"));
    CAIRN_ASSIGN_OR_RETURN(page_count_, QueryInt(db_.get(), "PRAGMA page_count", "reading the page count"));
    sqlite3_file* file = nullptr;
    if (sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || !file ||
        !file->pMethods)
      return Status::IOError("cannot reach the file handle of " + path_);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(errno, "cannot create a pipe");
    ::fcntl(p[1], F_SETFL, O_NONBLOCK);
    write_fd_ = p[1];
    producer_ = std::thread([this, file] { producer_status_ = Produce(file); });
    return p[0];
  }

  // Producer thread: the pages, then (still in the same transaction) the fingerprint.
  Status Produce(sqlite3_file* file) {
    BlockSigpipeInThisThread();
    const int64_t total = page_size_ * page_count_;
    const int64_t chunk = std::max<int64_t>(page_size_, (int64_t{1} << 20) / page_size_ * page_size_);
    std::vector<char> buf(static_cast<size_t>(chunk));
    Status st;
    for (int64_t off = 0; off < total && st.ok(); off += chunk) {
      const int n = static_cast<int>(std::min(chunk, total - off));
      int rc = file->pMethods->xRead(file, buf.data(), n, off);
      if (rc != SQLITE_OK) {
        st = Status::IOError("cannot read " + path_ + " at offset " + std::to_string(off) + ": " +
                             (rc == SQLITE_IOERR_SHORT_READ ? std::string("file is shorter than its page count")
                                                            : std::string(sqlite3_errstr(rc))));
        break;
      }
      st = WriteToPipe(write_fd_, buf.data(), static_cast<size_t>(n), abort_, "database stream");
    }
    ::close(write_fd_);
    write_fd_ = -1;
    if (!st.ok()) return st;
    Result<Json> items = FingerprintItems(db_.get());
    if (!items.ok()) return items.status().WithContext("fingerprint of " + path_);
    items_ = std::move(*items);
    sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr);
    return Status::Ok();
  }

  Status FinishPart() {
    if (!producer_.joinable())
      return streamed_ ? Status::Ok() : Status::InvalidArgument("the database part was not read");
    producer_.join();
    streamed_ = true;
    return producer_status_;
  }

  std::string path_;
  std::vector<CapturePart> parts_;
  Db db_;
  std::string journal_mode_, method_, temp_path_;
  int64_t page_size_ = 0, page_count_ = 0;
  int write_fd_ = -1;
  std::thread producer_;
  Status producer_status_;
  std::atomic<bool> abort_{false};
  bool streamed_ = false;
  Json items_ = Json::object();
};

// ---------------------------------------------------------------- source

class SqliteSource : public Source {
 public:
  SqliteSource(std::string name, std::string path, std::string temp_dir)
      : name_(std::move(name)), path_(std::move(path)), temp_dir_(std::move(temp_dir)) {}

  Result<std::string> Probe() override {
    CAIRN_ASSIGN_OR_RETURN(Db db, OpenExisting(path_, nullptr));
    return std::string(sqlite3_libversion());
  }

  Result<std::unique_ptr<Capture>> StartCapture() override {
    auto capture = std::make_unique<SqliteCapture>(path_, fs::path(path_).filename().string());
    CAIRN_RETURN_IF_ERROR(capture->Begin(temp_dir_));
    return std::unique_ptr<Capture>(std::move(capture));
  }

  Result<RestoreOutcome> Restore(const RestoreRequest& request) override {
    if (!request.reader) return Status::InvalidArgument("restore without a reader");
    std::string file_name = fs::path(path_).filename().string();
    bool found = false;
    for (const Json& part : request.manifest.value("parts", Json::array())) {
      if (part.value("name", "") == kPartName) {
        file_name = part.value("file", file_name);
        found = true;
      }
    }
    if (!found) return Status::Corruption("restore point has no \"" + std::string(kPartName) + "\" part");
    const std::string point = request.manifest.value("point_id", std::string());
    auto log = [&](const std::string& line) {
      if (request.log) request.log(line);
    };

    if (request.mode == RestoreMode::kNewInstance) {
      std::string target = request.new_name.empty()
                               ? StemWithSuffix(path_, request.suffix.empty() ? FallbackSuffix() : request.suffix)
                               : (fs::path(request.new_name).is_absolute()
                                      ? request.new_name
                                      : (fs::path(path_).parent_path() / request.new_name).string());
      target = fs::path(target).lexically_normal().string();
      if (target == fs::path(path_).lexically_normal().string())
        return Status::AlreadyExists(target + " is the service's own database (use --mode overwrite)");
      for (const char* side : {"", "-wal", "-shm", "-journal"}) {
        if (::access((target + side).c_str(), F_OK) == 0)
          return Status::AlreadyExists(target + side + " already exists");
      }
      const std::string dir = fs::path(target).parent_path().string();
      struct stat st;
      if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Status::NotFound("directory " + dir + " does not exist");
      log("writing the database to " + target);
      CAIRN_ASSIGN_OR_RETURN(std::string temp, WriteTemp(request, file_name, dir, fs::path(target).filename()));
      Status st2 = CheckIntegrity(temp);
      if (st2.ok()) st2 = CopyOwnership(temp);
      if (st2.ok() && ::link(temp.c_str(), target.c_str()) != 0)
        st2 = errno == EEXIST ? Status::AlreadyExists(target + " already exists")
                              : Status::FromErrno(errno, "cannot create " + target);
      ::unlink(temp.c_str());
      CAIRN_RETURN_IF_ERROR(st2);
      SyncDir(dir);
      RestoreOutcome out;
      out.summary = "restored " + file_name + (point.empty() ? "" : " (point " + point + ")") + " to " + target;
      out.connection = {{"path", target}};
      out.locator = {{"path", target}};
      return out;
    }

    // Overwrite: the new content goes in through SQLite's backup API, which
    // replaces the live database in one write transaction under SQLite's own
    // locks, so open connections (and their -wal/-shm files) stay valid.
    const std::string dir = fs::path(path_).parent_path().string();
    log("writing the restored database next to " + path_);
    CAIRN_ASSIGN_OR_RETURN(std::string temp, WriteTemp(request, file_name, dir, fs::path(path_).filename().string()));
    Status st = CheckIntegrity(temp);
    if (st.ok()) {
      log("replacing the content of " + path_ + " (SQLite backup API)");
      st = ReplaceLiveContent(temp);
    }
    ::unlink(temp.c_str());
    CAIRN_RETURN_IF_ERROR(st);
    RestoreOutcome out;
    out.summary = "replaced the content of " + path_ + " with " + (point.empty() ? "the backup" : "point " + point);
    out.connection = {{"path", path_}};
    out.locator = Json::object();
    return out;
  }

  // A drill restores a new instance into the scratch directory and runs
  // SQLite's own integrity check on it.
  Result<DrillSandbox> PrepareDrill(const Json&, const std::string& scratch,
                                    const std::function<void(const std::string&)>&) override {
    DrillSandbox sb;
    sb.mode = RestoreMode::kNewInstance;
    sb.new_name = scratch + "/" + fs::path(path_).filename().string();
    sb.volumes_new_name = scratch + "/volumes";
    sb.check = [](const RestoreOutcome& out) -> Result<std::string> {
      const std::string path = out.locator.value("path", std::string());
      if (path.empty()) return Status::Corruption("the restore did not say where the database is");
      CAIRN_RETURN_IF_ERROR(CheckIntegrity(path));
      return std::string("PRAGMA integrity_check: ok");
    };
    return sb;
  }

  // A restore killed half-way leaves its copy beside the database.
  Status CleanLeftovers(const std::function<void(const std::string&)>& log) override {
    const fs::path p(path_);
    return RemoveStaleStaging(p.parent_path().string(), StagingPrefix(p.filename().string()), log);
  }

  Result<Json> Fingerprint(const Json& locator) override {
    std::string path = path_;
    if (locator.is_object() && locator.contains("path") && locator["path"].is_string())
      path = locator["path"].get<std::string>();
    CAIRN_ASSIGN_OR_RETURN(Db db, OpenExisting(path, nullptr));
    CAIRN_RETURN_IF_ERROR(Exec(db.get(), "BEGIN", "cannot start a read transaction on " + path));
    Result<Json> items = FingerprintItems(db.get());
    sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr);
    if (!items.ok()) return items.status().WithContext("fingerprint of " + path);
    return Json{{"exact", true}, {"items", *items}};
  }

 private:
  static std::string StagingPrefix(const std::string& base) { return "." + base + ".cairn-"; }

  // Streams the part into a new private file in `dir` and returns its path.
  Result<std::string> WriteTemp(const RestoreRequest& request, const std::string& file_name, const std::string& dir,
                                const std::string& base) {
    CAIRN_ASSIGN_OR_RETURN(std::string tmpl, MakeStagingFile(dir, StagingPrefix(base)));
    int fd = ::open(tmpl.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      Status st = Status::FromErrno(errno, "cannot write " + tmpl);
      ::unlink(tmpl.c_str());
      return st;
    }
    Status st = request.reader->ReadStream(kPartName, file_name, fd);
    if (st.ok() && ::fsync(fd) != 0) st = Status::FromErrno(errno, "cannot write " + tmpl);
    if (::close(fd) != 0 && st.ok()) st = Status::FromErrno(errno, "cannot write " + tmpl);
    if (!st.ok()) {
      ::unlink(tmpl.c_str());
      return st;
    }
    return tmpl;
  }

  static Status CheckIntegrity(const std::string& path) {
    CAIRN_ASSIGN_OR_RETURN(Db db, OpenPrivateReadOnly(path));
    CAIRN_ASSIGN_OR_RETURN(Stmt s,
                           Prepare(db.get(), "PRAGMA integrity_check", "integrity check of the restored database"));
    std::string first;
    int rc;
    int problems = 0;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s.get(), 0);
      std::string line = t ? reinterpret_cast<const char*>(t) : "";
      if (line != "ok") {
        if (first.empty()) first = line;
        ++problems;
      }
    }
    if (rc != SQLITE_DONE) {
      if (sqlite3_errcode(db.get()) == SQLITE_NOTADB)
        return Status::Corruption("the restored file is not an SQLite database (" + ErrMsg(db.get()) + ")");
      return SqlError(db.get(), "integrity check of the restored database failed");
    }
    if (problems)
      return Status::Corruption("the restored database fails PRAGMA integrity_check (" + std::to_string(problems) +
                                " problems): " + first);
    return Status::Ok();
  }

  // A new file gets the original's mode and owner when the original exists.
  Status CopyOwnership(const std::string& temp) {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) {
      ::chmod(temp.c_str(), 0644 & ~static_cast<mode_t>(CurrentUmask()));
      return Status::Ok();
    }
    ::chmod(temp.c_str(), st.st_mode & 07777);
    if (::geteuid() == 0 && ::chown(temp.c_str(), st.st_uid, st.st_gid) != 0)
      return Status::FromErrno(errno, "cannot set the owner of the restored database");
    return Status::Ok();
  }

  static void SyncDir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }

  Status ReplaceLiveContent(const std::string& restored) {
    CAIRN_ASSIGN_OR_RETURN(Db src, OpenPrivateReadOnly(restored));
    struct stat st;
    const bool existed = ::stat(path_.c_str(), &st) == 0;
    if (existed && S_ISDIR(st.st_mode))
      return Status::InvalidArgument(path_ + " is a directory, not an SQLite database");
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    Db live(raw);
    if (rc != SQLITE_OK) return SqlError(live.get(), "cannot open " + path_ + " for writing");
    sqlite3_busy_timeout(live.get(), 30000);
    const std::string what = "cannot replace the content of " + path_;
    CAIRN_ASSIGN_OR_RETURN(std::string mode, QueryText(live.get(), "PRAGMA journal_mode", what));
    CAIRN_ASSIGN_OR_RETURN(int64_t live_page, QueryInt(live.get(), "PRAGMA page_size", what));
    CAIRN_ASSIGN_OR_RETURN(int64_t src_page, QueryInt(src.get(), "PRAGMA page_size", what));
    // SQLite cannot change a WAL database's page size; a short detour through
    // rollback mode needs every other connection closed.
    bool switched = false;
    if (mode == "wal" && live_page != src_page) {
      CAIRN_ASSIGN_OR_RETURN(std::string now, QueryText(live.get(), "PRAGMA journal_mode=DELETE", what));
      if (now != "delete")
        return Status::IOError(what + ": its page size (" + std::to_string(live_page) +
                               ") differs from the backup's (" + std::to_string(src_page) +
                               ") and it is in use; stop the application and retry");
      switched = true;
    }
    sqlite3_backup* b = sqlite3_backup_init(live.get(), "main", src.get(), "main");
    if (!b) return SqlError(live.get(), what);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    do {
      rc = sqlite3_backup_step(b, -1);
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && std::chrono::steady_clock::now() < deadline);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
      std::string why = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? "the database stayed locked by another connection"
                                                                 : std::string(sqlite3_errstr(rc));
      return Status::IOError(what + ": " + why + " (the database is unchanged)");
    }
    if (switched) sqlite3_exec(live.get(), "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    return Status::Ok();
  }

  std::string name_, path_, temp_dir_;
};

}  // namespace

Result<std::unique_ptr<Source>> MakeSqliteSource(const ServiceConfig& config) {
  CAIRN_ASSIGN_OR_RETURN(std::string path, SettingString(config, "path", ""));
  if (path.empty())
    return Status::InvalidArgument("service " + config.name + ": setting path is required (the database file)");
  path = fs::absolute(fs::path(path)).lexically_normal().string();
  std::string temp_dir = config.temp_dir;
  if (temp_dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    temp_dir = t && *t ? t : "/tmp";
  }
  return std::unique_ptr<Source>(new SqliteSource(config.name, path, temp_dir));
}

}  // namespace cairn
