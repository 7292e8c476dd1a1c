// Helpers for the catalog tests: a scratch directory removed at the end, a
// catalog in it on a fake clock, Status assertions that print the message,
// and small builders for points and outcomes.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "cairn/clock.h"
#include "daemon/catalog.h"
#include "daemon/catalog_sqlite.h"

namespace cairn::catalog_testing {

inline ::testing::AssertionResult IsOk(const Status& st) {
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << st.ToString();
}
template <typename T>
::testing::AssertionResult IsOk(const Result<T>& r) {
  return IsOk(r.status());
}

// 2026-01-01T00:00:00Z, so that times in tests look like times.
constexpr int64_t kT0 = 1767225600LL * 1000000000LL;
constexpr int64_t kSecond = 1000000000LL;

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-catalog-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A fresh catalog in a scratch directory, on a fake clock at kT0.
class CatalogFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.File("catalog.db");
    Reopen();
  }
  void Reopen(SqliteCatalogOptions options = {}) {
    catalog_.reset();
    options.clock = &clock_;
    auto c = OpenSqliteCatalog(path_, options);
    ASSERT_TRUE(IsOk(c));
    catalog_ = std::move(c).value();
  }
  Catalog& cat() { return *catalog_; }

  ScratchDir dir_;
  std::string path_;
  FakeClock clock_{kT0};
  std::unique_ptr<Catalog> catalog_;
};

inline PointWrite MakePoint(const std::string& service, const std::string& id, const std::string& target,
                            int64_t time_ns, uint64_t size = 1000) {
  PointWrite p;
  p.service = service;
  p.id = id;
  p.target = target;
  p.native_id = "snap-" + id;
  p.time_ns = time_ns;
  p.kind = PointKind::kScheduled;
  p.size = size;
  p.added = size / 10;
  p.duration_s = 1.5;
  p.parts = {PointPart{"db", "stream", size, std::nullopt}};
  p.manifest = R"({"point_id":")" + id + R"(","service":")" + service + R"("})";
  return p;
}

// Runs one query on a raw connection; returns the first column of the first row.
inline std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
      if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      else if (sqlite3_errcode(db) != SQLITE_DONE && sqlite3_errcode(db) != SQLITE_ROW)
        out = std::string("error: ") + sqlite3_errmsg(db);
    } else {
      out = std::string("error: ") + sqlite3_errmsg(db);
    }
    sqlite3_finalize(st);
  } else {
    out = "error: cannot open";
  }
  sqlite3_close(db);
  return out;
}

}  // namespace cairn::catalog_testing
