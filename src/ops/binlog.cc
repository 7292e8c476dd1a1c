// Continuous archiving of MariaDB binary logs (docs/pitr.md): the streamer
// that uploads them as pieces, the recoverable window they give, and their
// retention. The PostgreSQL side and what both share is ops/wal.cc.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "cairn/system.h"
#include "ops/wal_internal.h"
#include "util/binlog_names.h"
#include "util/process.h"

namespace cairn::walops {
namespace {

namespace fs = std::filesystem;

// A piece is cut at most this big, so no upload holds a whole 1 GiB file.
constexpr uint64_t kMaxPiece = 64ull << 20;

// Per file name: the archived pieces.
using Archive = std::map<std::string, std::vector<binlog::Piece>>;

Archive Pieces(const std::vector<std::string>& names) {
  Archive out;
  for (const std::string& n : names) {
    binlog::Piece p;
    if (binlog::ParsePiece(n, &p)) out[p.file.Name()].push_back(p);
  }
  return out;
}

// Files in binary log order.
std::vector<binlog::FileName> Files(const Archive& archive) {
  std::vector<binlog::FileName> out;
  for (const auto& [name, pieces] : archive) out.push_back(pieces.front().file);
  std::sort(out.begin(), out.end(), binlog::Before);
  return out;
}

// Where a physical point's binary log starts: the file mariadb-backup
// reported, and the position in it.
bool PointStart(const RestorePoint& p, binlog::FileName* file, uint64_t* pos) {
  const Json src = p.manifest.value("source", Json::object());
  if (!src.is_object() || !src.contains("binlog_file")) return false;
  if (!binlog::ParseFile(src.value("binlog_file", ""), file)) return false;
  *pos = src.value("binlog_pos", uint64_t{0});
  return true;
}

}  // namespace

// ---------------------------------------------------------------- streaming

Status StreamBinlog(const ServiceConfig& service, std::vector<std::unique_ptr<Target>>& targets,
                    const std::string& spool, const OpHooks& hooks, const WalStreamOptions& options,
                    SpoolStatus& status) {
  // What each target holds: per file, the end of its gapless prefix.
  std::vector<std::map<std::string, uint64_t>> archived(targets.size());
  std::string resume;
  bool all_have = true;
  for (size_t i = 0; i < targets.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(WalListing listing, targets[i]->ListWal(service.name));
    const Archive archive = Pieces(listing.names);
    for (const auto& [name, pieces] : archive) {
      archived[i][name] = binlog::Chain(pieces).covered;
    }
    const auto files = Files(archive);
    if (files.empty()) {
      all_have = false;
      continue;
    }
    // Resume where the target that is furthest behind stopped.
    binlog::FileName newest = files.back(), current;
    if (resume.empty() || (binlog::ParseFile(resume, &current) && binlog::Before(newest, current)))
      resume = newest.Name();
  }
  if (!all_have) resume.clear();  // a target without any: from the oldest binary log the server has

  CAIRN_ASSIGN_OR_RETURN(auto source, MakeSource(service));
  CAIRN_ASSIGN_OR_RETURN(std::vector<ToolCommand> commands, source->WalStreamCommands(spool, resume));
  if (commands.empty()) return Status::Unsupported("no streaming command for " + service.name);

  int64_t last_upload = 0;
  // One pass over the spool: every file's bytes that a target lacks go to
  // it as one piece of whole events (at most every partial_interval for the
  // file being written, at once for a finished one); a finished file leaves
  // the spool once every target holds all of it.
  auto upload = [&](bool final_pass) -> Result<bool> {
    bool current = true;
    const bool due = final_pass || NowNs() - last_upload >= options.partial_interval_ns;
    if (due) last_upload = NowNs();
    std::vector<binlog::FileName> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(spool, ec)) {
      binlog::FileName f;
      if (binlog::ParseFile(e.path().filename().string(), &f)) files.push_back(f);
    }
    std::sort(files.begin(), files.end(), binlog::Before);
    for (size_t k = 0; k < files.size(); ++k) {
      const std::string name = files[k].Name(), path = spool + "/" + name;
      const bool finished = k + 1 < files.size();
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) continue;
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      bool everywhere = true;
      for (size_t i = 0; i < targets.size(); ++i) {
        uint64_t& end = archived[i][name];
        if (size <= end) continue;
        if (!finished && !due && size - end < kMaxPiece) {
          everywhere = false;
          continue;
        }
        std::ifstream in(path, std::ios::binary);
        in.seekg(static_cast<std::streamoff>(end));
        Bytes data(std::min(size - end, kMaxPiece));
        in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
        data.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
        const size_t whole = binlog::WholeEvents(data.data(), data.size(), end);
        if (whole == 0) {
          everywhere = false;
          continue;
        }
        const std::string piece = binlog::PieceName(name, end, end + whole);
        CAIRN_RETURN_IF_ERROR(targets[i]->PutWal(service.name, piece, ByteView(data.data(), whole)));
        status.Uploaded(piece);
        end += whole;
        if (end < size) everywhere = false;
      }
      current = current && everywhere;
      if (finished && everywhere) {
        if (hooks.log) hooks.log("archived " + name);
        ::unlink(path.c_str());
      }
    }
    return current;
  };

  CAIRN_RETURN_IF_ERROR(upload(true).status().WithContext("archiving what the spool " + spool + " holds"));
  for (size_t i = 0; i + 1 < commands.size(); ++i) {
    ProcessOptions o;
    o.argv = commands[i].argv;
    o.env = commands[i].env;
    o.cwd = "/";
    auto made = RunCapture(std::move(o));
    if (!made.ok()) return made.status().WithContext("preparing to stream the binary logs of " + service.name);
  }
  if (hooks.log)
    hooks.log("streaming the binary logs of " + service.name + (resume.empty() ? "" : " from " + resume) + " into " +
              std::to_string(targets.size()) + " target(s)");
  return RunStreamer(commands.back(), "mariadb-binlog", "binary logs", targets, service, spool, hooks, options, status,
                     upload);
}

// ---------------------------------------------------------------- window and retention

void BinlogWindow(const WalListing& listing, const std::vector<RestorePoint>& points, WalTargetStatus* out) {
  const Archive archive = Pieces(listing.names);
  const std::vector<binlog::FileName> files = Files(archive);
  if (files.empty()) return;
  const binlog::FileName& newest = files.back();
  // Per file: the gapless prefix, and whether pieces lie beyond it.
  std::map<std::string, std::pair<uint64_t, bool>> cover;
  for (const auto& [name, pieces] : archive) {
    const binlog::Chained chain = binlog::Chain(pieces);
    cover[name] = {chain.covered, chain.hole};
  }
  // The window opens at the oldest physical point from whose position on
  // every file up to the newest is there without a hole (each file whole
  // but the newest, which ends where the archive ends).
  for (const RestorePoint& p : points) {
    binlog::FileName start;
    uint64_t pos = 0;
    if (!IsPhysical(p) || !PointStart(p, &start, &pos) || start.base != newest.base) continue;
    std::vector<std::string> missing;
    for (uint64_t seq = start.seq; seq <= newest.seq; ++seq) {
      binlog::FileName f = start;
      f.seq = seq;
      char digits[24];
      std::snprintf(digits, sizeof(digits), "%0*llu", static_cast<int>(start.digits.size()),
                    static_cast<unsigned long long>(seq));
      f.digits = digits;
      auto it = cover.find(f.Name());
      if (it == cover.end()) {
        missing.push_back(f.Name());
      } else if (it->second.second || (seq == start.seq && it->second.first < pos)) {
        missing.push_back(f.Name() + " (bytes from " + std::to_string(it->second.first) + ")");
      }
    }
    if (missing.empty()) {
      out->from_point = p.id;
      out->from_ns = p.time_ns;
      return;
    }
    if (out->gaps.empty()) out->gaps = missing;
  }
}

std::vector<std::string> BinlogToForget(const WalListing& listing, const std::vector<RestorePoint>& points) {
  std::optional<binlog::FileName> keep_from;
  for (const RestorePoint& p : points) {
    if (!IsPhysical(p)) continue;
    binlog::FileName f;
    uint64_t pos = 0;
    if (!PointStart(p, &f, &pos)) return {};  // cannot tell what it needs: keep everything
    if (!keep_from || binlog::Before(f, *keep_from)) keep_from = f;
  }
  std::vector<std::string> out;
  if (!keep_from) return out;
  for (const std::string& n : listing.names) {
    binlog::Piece piece;
    if (binlog::ParsePiece(n, &piece) && piece.file.base == keep_from->base && piece.file.seq < keep_from->seq)
      out.push_back(n);
  }
  return out;
}

}  // namespace cairn::walops
