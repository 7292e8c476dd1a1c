// The SQLite catalog: restore-point cache, drill results, the per-(service,
// target) status rows, the services overview and the metrics snapshot.
#include <zstd.h>

#include <algorithm>
#include <map>
#include <unordered_map>

#include "daemon/catalog_sqlite_impl.h"
#include "daemon/catalog_util.h"

namespace cairn::catalog_internal {
namespace {

// Manifests repeat their keys and hex digests; zstd takes most of them to
// a third. Small ones stay plain text (readable with the sqlite3 shell).
constexpr size_t kCompressManifestFrom = 512;

struct EncodedManifest {
  bool blob = false;
  std::string bytes;
};

EncodedManifest EncodeManifest(const std::string& text) {
  if (text.size() < kCompressManifestFrom) return {false, text};
  std::string out(ZSTD_compressBound(text.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  if (ZSTD_isError(n)) return {false, text};
  out.resize(n);
  return {true, std::move(out)};
}

Result<std::string> DecodeManifest(sql::Db& db, const sql::Stmt& st, int col, const std::string& point) {
  std::string_view raw = st.TextView(col);
  if (!st.IsBlob(col)) return std::string(raw);
  const Status corrupt = Status::Corruption("catalog " + db.path() + ": the cached manifest of point " + point +
                                            " is corrupt");
  unsigned long long size = ZSTD_getFrameContentSize(raw.data(), raw.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (256ull << 20)) return corrupt;
  std::string out(size, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), raw.data(), raw.size());
  if (ZSTD_isError(n) || n != size) return corrupt;
  return out;
}

Status ValidatePoint(const PointWrite& p) {
  if (p.service.empty() || p.id.empty() || p.target.empty())
    return Status::InvalidArgument("a cached restore point needs a service, an id and a target");
  return Status::Ok();
}

std::string PartsJson(const std::vector<PointPart>& parts) {
  Json j = Json::array();
  for (const PointPart& p : parts) {
    Json part = {{"name", p.name}, {"kind", p.kind}, {"bytes", p.bytes}};
    if (p.files) part["files"] = *p.files;
    j.push_back(std::move(part));
  }
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ReasonsJson(const std::vector<std::string>& reasons) {
  return Json(reasons).dump(-1, ' ', false, Json::error_handler_t::replace);
}

constexpr char kPointColumns[] = "pk, point_id, time_ns, kind, status, size, added, duration_s, parts, inexact";
constexpr char kPointColumnsOfP[] =
    "p.pk, p.point_id, p.time_ns, p.kind, p.status, p.size, p.added, p.duration_s, p.parts, p.inexact";

// Reads kPointColumns from `st`, starting at column `c`, into a record
// (without targets and drills).
Result<PointRecord> ReadPointRow(sql::Db& db, const sql::Stmt& st, const std::string& service, int64_t* pk,
                                 int c = 0) {
  PointRecord p;
  *pk = st.Int(c);
  p.service = service;
  p.id = st.Text(c + 1);
  p.time_ns = st.Int(c + 2);
  auto kind = ParsePointKind(st.TextView(c + 3));
  auto status = ParsePointStatus(st.TextView(c + 4));
  if (!kind || !status)
    return Status::Corruption("catalog " + db.path() + ": point " + p.id + " has an unknown kind or status");
  p.kind = *kind;
  p.status = *status;
  p.size = st.UInt(c + 5);
  p.added = st.UInt(c + 6);
  p.duration_s = st.Real(c + 7);
  Json parts = ParseJsonColumn(st.TextView(c + 8));
  if (parts.is_array())
    for (const auto& part : parts) {
      if (!part.is_object()) continue;
      PointPart pp;
      pp.name = part.value("name", "");
      pp.kind = part.value("kind", "stream");
      pp.bytes = part.value("bytes", uint64_t{0});
      if (part.contains("files") && part["files"].is_number_unsigned()) pp.files = part["files"].get<uint64_t>();
      p.parts.push_back(std::move(pp));
    }
  Json reasons = ParseJsonColumn(st.TextView(c + 9));
  if (reasons.is_array())
    for (const auto& r : reasons)
      if (r.is_string()) p.inexact_reasons.push_back(r.get<std::string>());
  return p;
}

constexpr char kDrillColumns[] = "id, target, job_id, verified_ns, duration_s, outcome, details";

// Reads kDrillColumns from `st`, starting at column `c`.
DrillRecord ReadDrillRow(const sql::Stmt& st, const std::string& service, const std::string& point, int c = 0) {
  DrillRecord d;
  d.id = st.Int(c);
  d.service = service;
  d.point_id = point;
  d.target = st.Text(c + 1);
  d.job = st.Int(c + 2);
  d.verified_ns = st.Int(c + 3);
  d.duration_s = st.Real(c + 4);
  d.outcome = ParseDrillOutcome(st.TextView(c + 5)).value_or(DrillOutcome::kFailed);
  d.details = ParseJsonColumn(st.TextView(c + 6));
  return d;
}

Result<int64_t> FindPointPk(sql::Db& db, const std::string& service, const std::string& point_id) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("SELECT pk FROM points WHERE service = ? AND point_id = ?"));
  st.Bind(service, point_id);
  CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("service " + service + " has no cached restore point " + point_id);
  return st.Int(0);
}

}  // namespace

// ------------------------------------------------------------------ writes

Status SqliteCatalog::UpsertPoint(sql::Db& db, const PointWrite& p, int64_t now, SyncStats* stats, int64_t* pk_out) {
  CAIRN_RETURN_IF_ERROR(ValidatePoint(p));
  const std::string parts = PartsJson(p.parts);
  const std::string inexact = ReasonsJson(p.inexact_reasons);
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt find, db.Prepare(
      "SELECT pk, time_ns, kind, status, size, added, duration_s, parts, inexact FROM points "
      "WHERE service = ? AND point_id = ?"));
  find.Bind(p.service, p.id);
  CAIRN_ASSIGN_OR_RETURN(bool exists, find.Step());
  int64_t pk = 0;
  bool point_changed = false, target_new = false, target_changed = false;
  if (exists) {
    pk = find.Int(0);
    point_changed = find.Int(1) != p.time_ns || find.TextView(2) != ToString(p.kind) ||
                    find.TextView(3) != ToString(p.status) || find.UInt(4) != p.size || find.UInt(5) != p.added ||
                    find.Real(6) != p.duration_s || find.TextView(7) != parts || find.TextView(8) != inexact;
  }
  find.Reset();
  if (!exists) {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt insert, db.Prepare(
        "INSERT INTO points (service, point_id, time_ns, kind, status, size, added, duration_s, parts, inexact) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    CAIRN_RETURN_IF_ERROR(insert.Bind(p.service, p.id, p.time_ns, ToString(p.kind), ToString(p.status), p.size,
                                      p.added, p.duration_s, parts, inexact).Run());
    pk = db.LastInsertId();
  } else if (point_changed) {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt update, db.Prepare(
        "UPDATE points SET time_ns = ?, kind = ?, status = ?, size = ?, added = ?, duration_s = ?, parts = ?, "
        "inexact = ? WHERE pk = ?"));
    CAIRN_RETURN_IF_ERROR(update.Bind(p.time_ns, ToString(p.kind), ToString(p.status), p.size, p.added,
                                      p.duration_s, parts, inexact, pk).Run());
  }
  // A point's manifest is written once with the point; it is only rewritten
  // when the point itself changed (a periodic sync compresses nothing).
  if ((!exists || point_changed) && !p.manifest.empty()) {
    EncodedManifest m = EncodeManifest(p.manifest);
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt put, db.Prepare(
        "INSERT INTO point_manifests (point_pk, manifest) VALUES (?, ?) "
        "ON CONFLICT (point_pk) DO UPDATE SET manifest = excluded.manifest"));
    put.BindAt(1, pk);
    if (m.blob)
      put.BindAt(2, sql::BlobRef{m.bytes.data(), m.bytes.size()});
    else
      put.BindAt(2, m.bytes);
    CAIRN_RETURN_IF_ERROR(put.Run());
  }

  CAIRN_ASSIGN_OR_RETURN(sql::Stmt held, db.Prepare(
      "SELECT native_id, added FROM point_targets WHERE point_pk = ? AND target = ?"));
  held.Bind(pk, p.target);
  CAIRN_ASSIGN_OR_RETURN(bool has_target, held.Step());
  target_new = !has_target;
  if (has_target) target_changed = held.TextView(0) != p.native_id || held.UInt(1) != p.added;
  held.Reset();
  if (target_new) {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt add, db.Prepare(
        "INSERT INTO point_targets (point_pk, target, service, native_id, added, cached_ns) "
        "VALUES (?, ?, ?, ?, ?, ?)"));
    CAIRN_RETURN_IF_ERROR(add.Bind(pk, p.target, p.service, p.native_id, p.added, now).Run());
  } else if (target_changed) {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt update, db.Prepare(
        "UPDATE point_targets SET native_id = ?, added = ? WHERE point_pk = ? AND target = ?"));
    CAIRN_RETURN_IF_ERROR(update.Bind(p.native_id, p.added, pk, p.target).Run());
  }
  if (stats) {
    if (target_new)
      ++stats->added;
    else if (point_changed || target_changed)
      ++stats->updated;
    else
      ++stats->unchanged;
  }
  if (pk_out) *pk_out = pk;
  return Status::Ok();
}

Status SqliteCatalog::DeleteOrphanPoints(sql::Db& db, const std::vector<int64_t>& pks) {
  // A point no target holds any more is gone; its manifest and drills go
  // with it (ON DELETE CASCADE).
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
      "DELETE FROM points WHERE pk = ?1 AND NOT EXISTS (SELECT 1 FROM point_targets WHERE point_pk = ?1)"));
  for (int64_t pk : pks) {
    CAIRN_RETURN_IF_ERROR(st.Bind(pk).Run());
    st.Reset();
  }
  return Status::Ok();
}

Status SqliteCatalog::PutPoint(const PointWrite& point) {
  return Write([&](sql::Db& db) { return UpsertPoint(db, point, Now(), nullptr, nullptr); });
}

Result<SyncStats> SqliteCatalog::ReplaceTargetPoints(const std::string& target,
                                                     const std::optional<std::string>& service,
                                                     const std::vector<PointWrite>& points) {
  for (const PointWrite& p : points) {
    if (p.target != target)
      return Status::InvalidArgument("point " + p.id + " is on target " + p.target + ", not " + target);
    if (service && p.service != *service)
      return Status::InvalidArgument("point " + p.id + " belongs to service " + p.service + ", not " + *service);
  }
  return Write([&](sql::Db& db) -> Result<SyncStats> {
    SyncStats stats;
    const int64_t now = Now();
    CAIRN_RETURN_IF_ERROR(db.Exec("CREATE TEMP TABLE IF NOT EXISTS sync_keep (pk INTEGER PRIMARY KEY);"
                                  "DELETE FROM sync_keep;"));
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt keep, db.Prepare("INSERT OR IGNORE INTO sync_keep (pk) VALUES (?)"));
    for (const PointWrite& p : points) {
      int64_t pk = 0;
      CAIRN_RETURN_IF_ERROR(UpsertPoint(db, p, now, &stats, &pk));
      CAIRN_RETURN_IF_ERROR(keep.Bind(pk).Run());
      keep.Reset();
    }
    std::vector<int64_t> gone;
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt del, db.Prepare(
          service ? "DELETE FROM point_targets WHERE target = ?1 AND service = ?2 "
                    "AND point_pk NOT IN (SELECT pk FROM sync_keep) RETURNING point_pk"
                  : "DELETE FROM point_targets WHERE target = ?1 "
                    "AND point_pk NOT IN (SELECT pk FROM sync_keep) RETURNING point_pk"));
      del.BindAt(1, target);
      if (service) del.BindAt(2, *service);
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, del.Step());
        if (!row) break;
        gone.push_back(del.Int(0));
      }
    }
    stats.removed = static_cast<int64_t>(gone.size());
    CAIRN_RETURN_IF_ERROR(DeleteOrphanPoints(db, gone));
    CAIRN_RETURN_IF_ERROR(db.Exec("DELETE FROM sync_keep"));
    return stats;
  });
}

Status SqliteCatalog::RemovePoint(const std::string& service, const std::string& point_id,
                                  const std::string& target) {
  return Write([&](sql::Db& db) -> Status {
    auto pk = FindPointPk(db, service, point_id);
    if (!pk.ok()) return pk.status().IsNotFound() ? Status::Ok() : pk.status();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt del, db.Prepare(
        target.empty() ? "DELETE FROM point_targets WHERE point_pk = ?1"
                       : "DELETE FROM point_targets WHERE point_pk = ?1 AND target = ?2"));
    del.BindAt(1, *pk);
    if (!target.empty()) del.BindAt(2, target);
    CAIRN_RETURN_IF_ERROR(del.Run());
    return DeleteOrphanPoints(db, {*pk});
  });
}

Result<int64_t> SqliteCatalog::InsertDrill(sql::Db& db, const DrillRecord& d) {
  CAIRN_ASSIGN_OR_RETURN(int64_t pk, FindPointPk(db, d.service, d.point_id));
  const int64_t verified = d.verified_ns ? d.verified_ns : Now();
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt insert, db.Prepare(
      "INSERT INTO point_drills (point_pk, target, job_id, verified_ns, duration_s, outcome, details) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  CAIRN_RETURN_IF_ERROR(insert.Bind(pk, d.target, d.job, verified, d.duration_s, ToString(d.outcome),
                                    JsonColumn(d.details)).Run());
  const int64_t id = db.LastInsertId();
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt last, db.Prepare(
      "INSERT INTO drill_status (service, last_ns, last_outcome, last_point) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (service) DO UPDATE SET last_ns = ?2, last_outcome = ?3, last_point = ?4 WHERE ?2 >= last_ns"));
  CAIRN_RETURN_IF_ERROR(last.Bind(d.service, verified, ToString(d.outcome), d.point_id).Run());
  if (d.outcome == DrillOutcome::kPassed) {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt ok, db.Prepare(
        "UPDATE drill_status SET success_ns = ?2, success_duration_s = ?3 WHERE service = ?1 AND ?2 >= success_ns"));
    CAIRN_RETURN_IF_ERROR(ok.Bind(d.service, verified, d.duration_s).Run());
  }
  return id;
}

Result<int64_t> SqliteCatalog::RecordDrill(const DrillRecord& drill) {
  return Write([&](sql::Db& db) { return InsertDrill(db, drill); });
}

// ------------------------------------------------------------------ reads

Status SqliteCatalog::LoadPointDetails(sql::Db& db, std::vector<PointRecord>* points,
                                       const std::vector<int64_t>& pks) {
  if (pks.empty()) return Status::Ok();
  // One statement each for the targets and the drills of all the points (a
  // page, the newest point of every service), not three per point.
  std::unordered_map<int64_t, size_t> at;
  for (size_t i = 0; i < pks.size(); ++i) at[pks[i]] = i;
  const std::string list = Json(pks).dump();
  {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT point_pk, target, native_id, added, cached_ns FROM point_targets "
        "WHERE point_pk IN (SELECT value FROM json_each(?)) ORDER BY point_pk, target"));
    st.Bind(list);
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      (*points)[at[st.Int(0)]].targets.push_back({st.Text(1), st.Text(2), st.UInt(3), st.Int(4)});
    }
  }
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
      std::string("SELECT point_pk, ") + kDrillColumns + " FROM point_drills "
      "WHERE point_pk IN (SELECT value FROM json_each(?)) ORDER BY point_pk, verified_ns DESC, id DESC"));
  st.Bind(list);
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    PointRecord& p = (*points)[at[st.Int(0)]];
    const bool passed = st.TextView(6) == ToString(DrillOutcome::kPassed);
    if (p.last_drill && (!passed || p.last_passed)) continue;  // only the newest of each matter
    DrillRecord d = ReadDrillRow(st, p.service, p.id, 1);
    if (passed && !p.last_passed) p.last_passed = d;
    if (!p.last_drill) p.last_drill = std::move(d);
  }
  return Status::Ok();
}

Result<Page<PointRecord>> SqliteCatalog::ListPoints(const std::string& service, const PageRequest& page) {
  const int limit = PageLimit(page);
  std::optional<std::pair<int64_t, std::string>> after;
  if (!page.cursor.empty()) {
    CAIRN_ASSIGN_OR_RETURN(auto fields, DecodeCursor(page.cursor, 'p', 2));
    CAIRN_ASSIGN_OR_RETURN(int64_t time, CursorInt(fields[0]));
    after.emplace(time, fields[1]);
  }
  return Read([&](sql::Db& db) -> Result<Page<PointRecord>> {
    const std::string query = std::string("SELECT ") + kPointColumns + " FROM points WHERE service = ?1" +
                              (after ? " AND (time_ns, point_id) < (?2, ?3)" : "") +
                              " ORDER BY time_ns DESC, point_id DESC LIMIT ?4";
    Page<PointRecord> out;
    std::vector<int64_t> pks;
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(query));
      st.BindAt(1, service).BindAt(4, limit + 1);
      if (after) st.BindAt(2, after->first).BindAt(3, after->second);
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        if (static_cast<int>(out.items.size()) == limit) {
          const PointRecord& last = out.items.back();
          out.next_cursor = EncodeCursor('p', {std::to_string(last.time_ns), last.id});
          break;
        }
        int64_t pk = 0;
        CAIRN_ASSIGN_OR_RETURN(PointRecord p, ReadPointRow(db, st, service, &pk));
        out.items.push_back(std::move(p));
        pks.push_back(pk);
      }
    }
    CAIRN_RETURN_IF_ERROR(LoadPointDetails(db, &out.items, pks));
    return out;
  });
}

Result<PointRecord> SqliteCatalog::GetPoint(const std::string& service, const std::string& point_id) {
  return Read([&](sql::Db& db) -> Result<PointRecord> {
    int64_t pk = 0;
    std::vector<PointRecord> p;
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(std::string("SELECT ") + kPointColumns +
                                                      " FROM points WHERE service = ? AND point_id = ?"));
      st.Bind(service, point_id);
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::NotFound("service " + service + " has no cached restore point " + point_id);
      CAIRN_ASSIGN_OR_RETURN(PointRecord one, ReadPointRow(db, st, service, &pk));
      p.push_back(std::move(one));
    }
    CAIRN_RETURN_IF_ERROR(LoadPointDetails(db, &p, {pk}));
    return std::move(p[0]);
  });
}

Result<PointStamps> SqliteCatalog::PointStampsSince(const std::string& service, int64_t since_ns) {
  return Read([&](sql::Db& db) -> Result<PointStamps> {
    PointStamps out;
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          "SELECT time_ns, kind, status FROM points WHERE service = ? AND time_ns >= ? "
          "ORDER BY time_ns DESC, point_id DESC"));
      st.Bind(service, since_ns);
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        auto kind = ParsePointKind(st.TextView(1));
        auto status = ParsePointStatus(st.TextView(2));
        if (!kind || !status)
          return Status::Corruption("catalog " + db.path() + ": a point of " + service + " has an unknown kind or status");
        out.points.push_back({st.Int(0), *kind, *status});
      }
    }
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("SELECT 1 FROM points WHERE service = ? AND time_ns < ? LIMIT 1"));
    st.Bind(service, since_ns);
    CAIRN_ASSIGN_OR_RETURN(bool older, st.Step());
    out.older = older;
    return out;
  });
}

Result<std::string> SqliteCatalog::ResolvePointId(const std::string& service, const std::string& prefix) {
  if (prefix != "latest" && prefix.size() < 4)
    return Status::InvalidArgument("restore point id '" + prefix + "' is too short (give at least 4 digits)");
  return Read([&](sql::Db& db) -> Result<std::string> {
    if (prefix == "latest") {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          "SELECT point_id FROM points WHERE service = ? AND status = 'complete' AND kind != 'safety' "
          "ORDER BY time_ns DESC, point_id DESC LIMIT 1"));
      st.Bind(service);
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::NotFound("service " + service + " has no complete restore point");
      return st.Text(0);
    }
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT point_id FROM points WHERE service = ? AND point_id >= ? AND point_id < ? ORDER BY point_id LIMIT 2"));
    st.Bind(service, prefix, prefix + "\x7f");
    std::vector<std::string> found;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      found.push_back(st.Text(0));
    }
    if (found.empty()) return Status::NotFound("service " + service + " has no restore point " + prefix);
    if (found.size() > 1)
      return Status::InvalidArgument("restore point id " + prefix + " is ambiguous (" + found[0] + ", " + found[1] +
                                     "...): give more digits");
    return found[0];
  });
}

Result<std::optional<PointRecord>> SqliteCatalog::ReadNewestPoint(sql::Db& db, const std::string& service) {
  int64_t pk = 0;
  std::vector<PointRecord> p;
  {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(std::string("SELECT ") + kPointColumns +
                                                    " FROM points WHERE service = ? AND status = 'complete' "
                                                    "ORDER BY time_ns DESC, point_id DESC LIMIT 1"));
    st.Bind(service);
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<PointRecord>();
    CAIRN_ASSIGN_OR_RETURN(PointRecord one, ReadPointRow(db, st, service, &pk));
    p.push_back(std::move(one));
  }
  CAIRN_RETURN_IF_ERROR(LoadPointDetails(db, &p, {pk}));
  return std::optional<PointRecord>(std::move(p[0]));
}

Result<std::optional<PointRecord>> SqliteCatalog::NewestPoint(const std::string& service) {
  return Read([&](sql::Db& db) { return ReadNewestPoint(db, service); });
}

Result<std::string> SqliteCatalog::GetManifest(const std::string& service, const std::string& point_id) {
  return Read([&](sql::Db& db) -> Result<std::string> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT m.manifest FROM points p JOIN point_manifests m ON m.point_pk = p.pk "
        "WHERE p.service = ? AND p.point_id = ?"));
    st.Bind(service, point_id);
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("service " + service + " has no cached manifest for point " + point_id);
    return DecodeManifest(db, st, 0, point_id);
  });
}

Result<int64_t> SqliteCatalog::CountPoints(const std::string& service, const std::string& target) {
  return Read([&](sql::Db& db) -> Result<int64_t> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT points FROM service_targets WHERE service = ? AND target = ?"));
    st.Bind(service, target);
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? st.Int(0) : int64_t{0};
  });
}

Result<std::vector<DrillRecord>> SqliteCatalog::ListDrills(const std::string& service, const std::string& point_id) {
  return Read([&](sql::Db& db) -> Result<std::vector<DrillRecord>> {
    CAIRN_ASSIGN_OR_RETURN(int64_t pk, FindPointPk(db, service, point_id));
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        std::string("SELECT ") + kDrillColumns + " FROM point_drills WHERE point_pk = ? "
        "ORDER BY verified_ns DESC, id DESC"));
    st.Bind(pk);
    std::vector<DrillRecord> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadDrillRow(st, service, point_id));
    }
    return out;
  });
}

// ---------------------------------------------------- status and metrics

Result<std::vector<ServiceTargetStatus>> SqliteCatalog::ReadServiceStatus(sql::Db& db) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
      "SELECT service, target, last_job, last_status, last_started_ns, last_ended_ns, last_error, success_job, "
      "success_ended_ns, success_duration_s, success_size, success_added, success_point, points "
      "FROM service_targets ORDER BY service, target"));
  std::vector<ServiceTargetStatus> out;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    ServiceTargetStatus s;
    s.service = st.Text(0);
    s.target = st.Text(1);
    s.last_job = st.Int(2);
    s.last_status = ParseJobStatus(st.TextView(3));
    s.last_started_ns = st.Int(4);
    s.last_ended_ns = st.Int(5);
    s.last_error = st.Text(6);
    s.success_job = st.Int(7);
    s.success_ended_ns = st.Int(8);
    s.success_duration_s = st.Real(9);
    s.success_size = st.UInt(10);
    s.success_added = st.UInt(11);
    s.success_point = st.Text(12);
    s.points = st.Int(13);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<DrillStatus>> SqliteCatalog::ReadDrillStatus(sql::Db& db) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
      "SELECT service, last_ns, last_outcome, last_point, success_ns, success_duration_s FROM drill_status "
      "ORDER BY service"));
  std::vector<DrillStatus> out;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Int(1), ParseDrillOutcome(st.TextView(2)), st.Text(3), st.Int(4), st.Real(5)});
  }
  return out;
}

Result<std::vector<ServiceTargetStatus>> SqliteCatalog::ListServiceStatus() {
  return Read([&](sql::Db& db) { return ReadServiceStatus(db); });
}

Result<std::vector<ServiceOverview>> SqliteCatalog::ServicesOverview() {
  return Read([&](sql::Db& db) -> Result<std::vector<ServiceOverview>> {
    CAIRN_ASSIGN_OR_RETURN(auto statuses, ReadServiceStatus(db));
    CAIRN_ASSIGN_OR_RETURN(auto drills, ReadDrillStatus(db));
    std::map<std::string, ServiceOverview> by_service;
    for (auto& s : statuses) {
      ServiceOverview& o = by_service[s.service];
      o.service = s.service;
      o.targets.push_back(std::move(s));
    }
    for (auto& d : drills) {
      ServiceOverview& o = by_service[d.service];
      o.service = d.service;
      o.drill = std::move(d);
    }
    // The newest complete point of every service in one statement (one
    // index seek each), then their targets and drills in two more.
    std::vector<PointRecord> newest;
    std::vector<int64_t> pks;
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          std::string("SELECT s.service, ") + kPointColumnsOfP +
          " FROM (SELECT DISTINCT service FROM service_targets) AS s JOIN points AS p ON p.pk = "
          "(SELECT pk FROM points WHERE service = s.service AND status = 'complete' "
          "ORDER BY time_ns DESC, point_id DESC LIMIT 1)"));
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        int64_t pk = 0;
        CAIRN_ASSIGN_OR_RETURN(PointRecord p, ReadPointRow(db, st, st.Text(0), &pk, 1));
        newest.push_back(std::move(p));
        pks.push_back(pk);
      }
    }
    CAIRN_RETURN_IF_ERROR(LoadPointDetails(db, &newest, pks));
    for (PointRecord& p : newest) by_service[p.service].newest_point = std::move(p);
    std::vector<ServiceOverview> out;
    out.reserve(by_service.size());
    for (auto& [name, o] : by_service) out.push_back(std::move(o));
    return out;
  });
}

Result<MetricsSnapshot> SqliteCatalog::Metrics() {
  return Read([&](sql::Db& db) -> Result<MetricsSnapshot> {
    MetricsSnapshot m;
    CAIRN_ASSIGN_OR_RETURN(m.backups, ReadServiceStatus(db));
    CAIRN_ASSIGN_OR_RETURN(m.drills, ReadDrillStatus(db));
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          "SELECT status, count(*) FROM jobs WHERE status IN ('queued', 'running') GROUP BY status"));
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        (st.TextView(0) == "running" ? m.jobs_running : m.jobs_queued) = st.Int(1);
      }
    }
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("SELECT kind, status, n FROM job_counts"));
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        auto kind = ParseJobKind(st.TextView(0));
        auto status = ParseJobStatus(st.TextView(1));
        if (kind && status) m.job_totals.push_back({*kind, *status, st.Int(2)});
      }
    }
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT severity, count(*) FROM alerts WHERE resolved_ns = 0 GROUP BY severity"));
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      (st.TextView(0) == "critical" ? m.alerts_open_critical : m.alerts_open_warning) += st.Int(1);
    }
    return m;
  });
}

}  // namespace cairn::catalog_internal
