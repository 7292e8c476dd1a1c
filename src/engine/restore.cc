// Restore: plan the tree (directories, special files, hard links), then fill
// regular files in parallel batches, reading each pack region once, then set
// directory metadata deepest first (writing into a directory changes its mtime).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "cairn/engine.h"
#include "engine/metadata.h"
#include "util/fd_io.h"

namespace cairn {
namespace {

constexpr uint64_t kBatchBytes = 16 << 20;
constexpr size_t kBatchFiles = 128;
constexpr uint64_t kWindowBytes = 16 << 20;
constexpr uint64_t kMaxRangeBytes = 8 << 20;
constexpr uint64_t kMaxRemoteGapBytes = 1 << 20;

bool IsAllZero(const Bytes& data) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    if (v) return false;
  }
  for (; n; --n, ++p)
    if (*p) return false;
  return true;
}

uint32_t PlainLength(const BlobLocation& loc) {
  return loc.raw_length ? loc.raw_length : loc.stored_length - static_cast<uint32_t>(crypto::kSealOverhead);
}

Status RemoveIfPresent(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::Ok();
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return Status::IOError("cannot replace " + path + ": " + ec.message());
  } else if (::unlink(path.c_str()) != 0) {
    return Status::FromErrno(errno, "cannot replace " + path);
  }
  return Status::Ok();
}

class Restorer {
 public:
  Restorer(Repository& repo, const RestoreOptions& options) : repo_(repo), options_(options) {}

  Result<RestoreResult> Run(const Snapshot& snapshot) {
    std::error_code ec;
    std::filesystem::create_directories(options_.target, ec);
    if (ec) return Status::IOError("cannot create restore target " + options_.target + ": " + ec.message());
    CAIRN_RETURN_IF_ERROR(PlanTree(snapshot.tree, "", options_.target));
    if (options_.progress) {
      uint64_t bytes = 0;
      for (const auto& f : files_) bytes += f.node->size;
      options_.progress->files_total = files_.size();
      options_.progress->bytes_total = bytes;
      options_.progress->totals_known = true;
    }
    CAIRN_RETURN_IF_ERROR(FillFiles());
    for (const auto& [existing, link] : links_) {
      CAIRN_RETURN_IF_ERROR(RemoveIfPresent(link));
      if (::link(existing.c_str(), link.c_str()) != 0) Warn(Status::FromErrno(errno, "cannot link " + link).message());
      else ++result_.files;
    }
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      std::string w = ApplyNodeMetadata(it->first, *it->second);
      if (!w.empty()) Warn(w);
    }
    return result_;
  }

 private:
  struct FileTask {
    std::string path;
    const Node* node;
  };

  void Warn(const std::string& message) {
    std::lock_guard lock(warn_mu_);
    ++result_.warnings;
    if (options_.on_warning) options_.on_warning(message);
  }

  // Whether a snapshot path is selected (fully) or lies above a selected path.
  enum class Selection { kNone, kAncestor, kFull };
  Selection Select(const std::string& path) const {
    if (options_.includes.empty()) return Selection::kFull;
    Selection best = Selection::kNone;
    for (std::string include : options_.includes) {
      while (include.size() > 1 && include.back() == '/') include.pop_back();
      if (path == include || path.starts_with(include + "/") || include == "/") return Selection::kFull;
      if (include.starts_with(path + "/")) best = Selection::kAncestor;
    }
    return best;
  }

  Status PlanTree(const Id& tree_id, const std::string& snapshot_dir, const std::string& target_dir, bool full = false) {
    auto tree = repo_.LoadTree(tree_id);
    if (!tree.ok()) return tree.status();
    trees_.push_back(std::move(tree).value());
    const Tree& tree_ref = trees_.back();
    for (const Node& node : tree_ref.nodes) {
      if (node.name.empty() || node.name == "." || node.name == ".." || node.name.find('/') != std::string::npos)
        return Status::Corruption("tree " + tree_id.Hex() + " holds an invalid name");
      const std::string snapshot_path = snapshot_dir + "/" + node.name;
      const Selection sel = full ? Selection::kFull : Select(snapshot_path);
      if (sel == Selection::kNone) continue;
      const std::string path = target_dir + "/" + node.name;
      if (sel == Selection::kAncestor && node.type != NodeType::kDir) continue;
      CAIRN_RETURN_IF_ERROR(PlanNode(node, path, snapshot_path, sel == Selection::kFull));
    }
    return Status::Ok();
  }

  Status PlanNode(const Node& node, const std::string& path, const std::string& snapshot_path, bool full) {
    switch (node.type) {
      case NodeType::kDir: {
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) CAIRN_RETURN_IF_ERROR(RemoveIfPresent(path));
        if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
          return Status::FromErrno(errno, "cannot create directory " + path);
        dirs_.emplace_back(path, &node);
        ++result_.dirs;
        if (node.subtree) CAIRN_RETURN_IF_ERROR(PlanTree(*node.subtree, snapshot_path, path, full));
        return Status::Ok();
      }
      case NodeType::kFile: {
        if (node.nlink > 1) {
          auto [it, first] = hardlinks_.try_emplace({node.device, node.inode}, path);
          if (!first) {
            links_.emplace_back(it->second, path);
            return Status::Ok();
          }
        }
        files_.push_back(FileTask{path, &node});
        return Status::Ok();
      }
      case NodeType::kSymlink:
        CAIRN_RETURN_IF_ERROR(RemoveIfPresent(path));
        if (::symlink(node.link_target.c_str(), path.c_str()) != 0)
          return Status::FromErrno(errno, "cannot create symlink " + path);
        break;
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice:
      case NodeType::kFifo:
        CAIRN_RETURN_IF_ERROR(RemoveIfPresent(path));
        if (::mknod(path.c_str(), node.mode, static_cast<dev_t>(node.rdev)) != 0) {
          Warn(Status::FromErrno(errno, "cannot create special file " + path).message());
          return Status::Ok();
        }
        break;
      case NodeType::kSocket: return Status::Ok();  // a socket is recreated by its server, not by a restore
    }
    ++result_.files;
    std::string w = ApplyNodeMetadata(path, node);
    if (!w.empty()) Warn(w);
    return Status::Ok();
  }

  Status FillFiles() {
    // On object stores every request is a round trip: bigger batches let the
    // range reads below span more neighbouring blobs.
    const bool remote = !repo_.storage().capabilities().cheap_range_reads;
    const size_t batch_files = remote ? 16 * kBatchFiles : kBatchFiles;
    const uint64_t batch_bytes = remote ? 4 * kBatchBytes : kBatchBytes;
    std::vector<std::pair<size_t, size_t>> batches;
    for (size_t begin = 0; begin < files_.size();) {
      size_t end = begin;
      uint64_t bytes = 0;
      while (end < files_.size() && end - begin < batch_files && (end == begin || bytes < batch_bytes))
        bytes += files_[end++].node->size;
      batches.emplace_back(begin, end);
      begin = end;
    }
    std::atomic<size_t> next{0};
    std::mutex status_mu;
    Status first_error;
    std::atomic<bool> failed{false};
    auto worker = [&] {
      for (size_t b; !failed && (b = next++) < batches.size();) {
        Status st = FillBatch(batches[b].first, batches[b].second);
        if (!st.ok()) {
          std::lock_guard lock(status_mu);
          if (first_error.ok()) first_error = st;
          failed = true;
        }
      }
    };
    const int threads = options_.threads > 0 ? options_.threads
                                             : std::max({2, repo_.storage().capabilities().preferred_concurrency,
                                                         static_cast<int>(std::thread::hardware_concurrency())});
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    return first_error;
  }

  struct Piece {
    size_t file;
    uint64_t offset;
    Id blob;
    BlobLocation loc;
  };

  Status FillBatch(size_t begin, size_t end) {
    std::vector<int> fds(end - begin, -1);
    std::vector<size_t> remaining(end - begin, 0);
    std::vector<char> fresh(end - begin, 0);
    std::vector<uint64_t> written_end(end - begin, 0);
    std::vector<Piece> pieces;
    Status status;
    auto finalize = [&](size_t i) {
      const FileTask& task = files_[begin + i];
      // Trailing holes (skipped zero chunks) and old longer content need a truncate.
      if ((written_end[i] != task.node->size || !fresh[i]) &&
          ::ftruncate(fds[i], static_cast<off_t>(task.node->size)) != 0 && status.ok())
        status = Status::FromErrno(errno, "cannot write " + task.path);
      std::string w = ApplyNodeMetadata(task.path, *task.node, fds[i], fresh[i]);
      if (!w.empty()) Warn(w);
      ::close(fds[i]);
      fds[i] = -1;
      std::lock_guard lock(warn_mu_);
      ++result_.files;
      result_.bytes += task.node->size;
      if (options_.progress) ++options_.progress->files_done;
    };
    for (size_t i = 0; i < fds.size(); ++i) {
      const FileTask& task = files_[begin + i];
      // A new file is created with its final permission bits (umask is 0
      // during a restore), which saves a chmod per file.
      int fd = ::open(task.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, task.node->mode & 07777);
      fresh[i] = fd >= 0;
      if (fd < 0 && errno == EEXIST)
        fd = ::open(task.path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0 && (errno == ELOOP || errno == EISDIR)) {
        CAIRN_RETURN_IF_ERROR(RemoveIfPresent(task.path));
        fd = ::open(task.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, task.node->mode & 07777);
        fresh[i] = fd >= 0;
      }
      if (fd < 0) {
        status = Status::FromErrno(errno, "cannot create " + task.path);
        break;
      }
      fds[i] = fd;
      uint64_t offset = 0;
      for (const Id& id : task.node->content) {
        auto loc = repo_.Lookup(id);
        if (!loc) {
          status = Status::NotFound("data blob " + id.Hex() + " of " + task.path +
                                    " is missing from the index (run check)");
          break;
        }
        pieces.push_back(Piece{i, offset, id, *loc});
        offset += PlainLength(*loc);
        ++remaining[i];
      }
      if (!status.ok()) break;
      if (remaining[i] == 0) finalize(i);
    }
    for (size_t w = 0; status.ok() && w < pieces.size();) {
      size_t w_end = w;
      uint64_t bytes = 0;
      while (w_end < pieces.size() && (w_end == w || bytes < kWindowBytes)) bytes += PlainLength(pieces[w_end++].loc);
      status = FillWindow(begin, std::span(pieces).subspan(w, w_end - w), fds, remaining, written_end, finalize);
      w = w_end;
    }
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    return status;
  }

  template <typename Finalize>
  Status FillWindow(size_t begin, std::span<Piece> pieces, std::vector<int>& fds, std::vector<size_t>& remaining,
                    std::vector<uint64_t>& written_end, Finalize& finalize) {
    // Each distinct blob is fetched and decoded once; blobs are read in pack
    // order and neighbours in one pack are fetched with one range read.
    std::vector<size_t> order(pieces.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const auto& x = pieces[a].loc;
      const auto& y = pieces[b].loc;
      return x.pack != y.pack ? x.pack < y.pack : x.offset < y.offset;
    });
    Bytes plain;
    // Reading over a small gap costs less than a second request on an object store.
    const uint64_t max_gap = repo_.storage().capabilities().cheap_range_reads ? 0 : kMaxRemoteGapBytes;
    for (size_t i = 0; i < order.size();) {
      const BlobLocation& first = pieces[order[i]].loc;
      size_t j = i + 1;
      uint64_t range_end = first.offset + first.stored_length;
      while (j < order.size()) {
        const BlobLocation& next = pieces[order[j]].loc;
        if (next.pack != first.pack || next.offset > range_end + max_gap ||
            next.offset + next.stored_length - first.offset > kMaxRangeBytes)
          break;
        range_end = std::max<uint64_t>(range_end, next.offset + next.stored_length);
        ++j;
      }
      const std::string pack_key = PackKey(first.pack);
      auto range = repo_.storage().GetRange(pack_key, first.offset, range_end - first.offset);
      if (!range.ok()) return range.status().WithContext("restore failed reading " + pack_key);
      const Id* decoded = nullptr;
      bool zero = false;
      for (size_t k = i; k < j; ++k) {
        Piece& piece = pieces[order[k]];
        if (!decoded || *decoded != piece.blob) {
          ByteView stored(range->data() + (piece.loc.offset - first.offset), piece.loc.stored_length);
          CAIRN_RETURN_IF_ERROR(repo_.DecodeAndVerify(piece.blob, stored, piece.loc.raw_length, &plain)
                                    .WithContext("restore failed: pack " + pack_key));
          decoded = &piece.blob;
          zero = IsAllZero(plain);
        }
        const FileTask& task = files_[begin + piece.file];
        if (!zero) {  // all-zero chunks stay holes; ftruncate sets the size
          CAIRN_RETURN_IF_ERROR(WriteFully(fds[piece.file], plain, static_cast<int64_t>(piece.offset),
                                           "cannot write " + task.path));
          written_end[piece.file] = std::max(written_end[piece.file], piece.offset + plain.size());
        }
        if (options_.progress) options_.progress->bytes_done += plain.size();
        if (--remaining[piece.file] == 0) finalize(piece.file);
      }
      i = j;
    }
    return Status::Ok();
  }

  Repository& repo_;
  const RestoreOptions& options_;
  std::deque<Tree> trees_;  // keeps nodes alive for the plan
  std::vector<FileTask> files_;
  std::vector<std::pair<std::string, const Node*>> dirs_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> hardlinks_;
  std::vector<std::pair<std::string, std::string>> links_;
  std::mutex warn_mu_;
  RestoreResult result_;
};

}  // namespace

Result<RestoreResult> RunRestore(Repository& repo, const Snapshot& snapshot, const RestoreOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/false));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  Restorer restorer(repo, options);
  // Files are created with their recorded permission bits; the umask must not
  // change them. Restored for the rest of the process afterwards.
  const mode_t old_umask = ::umask(0);
  auto result = restorer.Run(snapshot);
  ::umask(old_umask);
  return result;
}

Result<Node> FindNode(Repository& repo, const Snapshot& snapshot, const std::string& path) {
  Node current;
  current.type = NodeType::kDir;
  current.subtree = snapshot.tree;
  for (const auto& part : std::filesystem::path(path).relative_path()) {
    const std::string name = part.string();
    if (name.empty()) continue;
    if (current.type != NodeType::kDir || !current.subtree)
      return Status::NotFound(path + " is not in snapshot " + snapshot.id.ShortHex());
    auto tree = repo.LoadTree(*current.subtree);
    if (!tree.ok()) return tree.status();
    const Node* child = tree->Find(name);
    if (!child) return Status::NotFound(path + " is not in snapshot " + snapshot.id.ShortHex());
    current = *child;
  }
  return current;
}

Status DumpFile(Repository& repo, const Snapshot& snapshot, const std::string& path, int fd) {
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  auto node = FindNode(repo, snapshot, path.starts_with("/") ? path : "/" + path);
  if (!node.ok()) return node.status();
  if (node->type != NodeType::kFile) return Status::InvalidArgument(path + " is not a regular file in the snapshot");
  Bytes plain;
  for (const Id& id : node->content) {
    CAIRN_RETURN_IF_ERROR(repo.ReadBlob(id, &plain));
    CAIRN_RETURN_IF_ERROR(WriteFully(fd, plain, -1, "cannot write output"));
  }
  return Status::Ok();
}

}  // namespace cairn
