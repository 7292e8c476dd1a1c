// Restore: plan the tree (directories, special files, hard links), then fill
// regular files in parallel (from a local repository in batches of files in
// tree order, from an object store pack by pack), then set directory metadata
// deepest first (writing into a directory changes its mtime).
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
#include <utility>

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
    return repo_.storage().capabilities().cheap_range_reads ? FillFilesInBatches() : FillFilesByPack();
  }

  int Threads() const {
    return options_.threads > 0 ? options_.threads
                                : std::max({2, repo_.storage().capabilities().preferred_concurrency,
                                            static_cast<int>(std::thread::hardware_concurrency())});
  }

  // Runs job(i) for i in [0, n) on Threads() threads; stops at the first error.
  template <typename Job>
  Status RunParallel(size_t n, Job job) {
    std::atomic<size_t> next{0};
    std::mutex status_mu;
    Status first_error;
    std::atomic<bool> failed{false};
    auto worker = [&] {
      for (size_t i; !failed && (i = next++) < n;) {
        Status st = job(i);
        if (!st.ok()) {
          std::lock_guard lock(status_mu);
          if (first_error.ok()) first_error = st;
          failed = true;
        }
      }
    };
    std::vector<std::thread> pool;
    for (int i = 0; i < Threads(); ++i) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    return first_error;
  }

  // Local repositories: files in tree order, in batches; within a batch every
  // pack region is read once. Creating files in tree order keeps the file
  // system's allocation local.
  Status FillFilesInBatches() {
    std::vector<std::pair<size_t, size_t>> batches;
    for (size_t begin = 0; begin < files_.size();) {
      size_t end = begin;
      uint64_t bytes = 0;
      while (end < files_.size() && end - begin < kBatchFiles && (end == begin || bytes < kBatchBytes))
        bytes += files_[end++].node->size;
      batches.emplace_back(begin, end);
      begin = end;
    }
    return RunParallel(batches.size(), [&](size_t b) { return FillBatch(batches[b].first, batches[b].second); });
  }

  struct Piece {
    size_t file;
    uint64_t offset;
    Id blob;
    BlobLocation loc;
  };

  // Opens a regular file of the plan for writing. The first open creates it
  // with its final permission bits (umask is 0 during a restore, which saves
  // a chmod per file) or truncates what is there; `fresh` says it was created.
  // Later opens (a file closed between pieces) only reopen it.
  Result<int> OpenRestored(const FileTask& task, bool first, bool* fresh) {
    if (!first) {
      int fd = ::open(task.path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) return Status::FromErrno(errno, "cannot reopen " + task.path);
      return fd;
    }
    int fd = ::open(task.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, task.node->mode & 07777);
    *fresh = fd >= 0;
    if (fd < 0 && errno == EEXIST) fd = ::open(task.path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && (errno == ELOOP || errno == EISDIR)) {
      CAIRN_RETURN_IF_ERROR(RemoveIfPresent(task.path));
      fd = ::open(task.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, task.node->mode & 07777);
      *fresh = fd >= 0;
    }
    if (fd < 0) return Status::FromErrno(errno, "cannot create " + task.path);
    return fd;
  }

  // After a file's last piece: size, metadata, close, count.
  Status FinishFile(const FileTask& task, int fd, bool fresh, uint64_t written_end) {
    Status st;
    // Trailing holes (skipped zero chunks) and old longer content need a truncate.
    if ((written_end != task.node->size || !fresh) && ::ftruncate(fd, static_cast<off_t>(task.node->size)) != 0)
      st = Status::FromErrno(errno, "cannot write " + task.path);
    std::string w = ApplyNodeMetadata(task.path, *task.node, fd, fresh);
    if (!w.empty()) Warn(w);
    ::close(fd);
    std::lock_guard lock(warn_mu_);
    ++result_.files;
    result_.bytes += task.node->size;
    if (options_.progress) ++options_.progress->files_done;
    return st;
  }

  // Appends the pieces of one file (its content blobs, where the index has
  // them) to `pieces`; returns how many.
  Result<size_t> AddPieces(size_t file, std::vector<Piece>* pieces) const {
    const FileTask& task = files_[file];
    uint64_t offset = 0;
    for (const Id& id : task.node->content) {
      auto loc = repo_.Lookup(id);
      if (!loc) return Status::NotFound("data blob " + id.Hex() + " of " + task.path + " is missing from the index (run check)");
      pieces->push_back(Piece{file, offset, id, *loc});
      offset += PlainLength(*loc);
    }
    return task.node->content.size();
  }

  // Reads `pieces` (sorted by pack, then offset): neighbours in one pack, and
  // those at most `max_gap` bytes apart, in one range read; each distinct blob
  // is decoded once, and deliver(piece, plaintext, all_zero) called for every
  // piece in order.
  template <typename Deliver>
  Status ReadPieces(std::span<const Piece> pieces, uint64_t max_gap, Deliver deliver) {
    Bytes plain;
    for (size_t i = 0; i < pieces.size();) {
      const BlobLocation& first = pieces[i].loc;
      size_t j = i + 1;
      uint64_t range_end = first.offset + first.stored_length;
      while (j < pieces.size()) {
        const BlobLocation& next = pieces[j].loc;
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
        const Piece& piece = pieces[k];
        if (!decoded || *decoded != piece.blob) {
          ByteView stored(range->data() + (piece.loc.offset - first.offset), piece.loc.stored_length);
          CAIRN_RETURN_IF_ERROR(repo_.DecodeAndVerify(piece.blob, stored, piece.loc.raw_length, &plain)
                                    .WithContext("restore failed: pack " + pack_key));
          decoded = &piece.blob;
          zero = IsAllZero(plain);
        }
        CAIRN_RETURN_IF_ERROR(deliver(piece, plain, zero));
        if (options_.progress) options_.progress->bytes_done += plain.size();
      }
      i = j;
    }
    return Status::Ok();
  }

  static bool PackOrder(const Piece& a, const Piece& b) {
    return a.loc.pack != b.loc.pack ? a.loc.pack < b.loc.pack : a.loc.offset < b.loc.offset;
  }

  Status FillBatch(size_t begin, size_t end) {
    const size_t n = end - begin;
    std::vector<int> fds(n, -1);
    std::vector<size_t> remaining(n, 0);
    std::vector<char> fresh(n, 0);
    std::vector<uint64_t> written_end(n, 0);
    std::vector<Piece> pieces;
    auto finish = [&](size_t i) {
      Status st = FinishFile(files_[begin + i], fds[i], fresh[i], written_end[i]);
      fds[i] = -1;
      return st;
    };
    Status status;
    for (size_t i = 0; status.ok() && i < n; ++i) {
      bool created = false;
      auto fd = OpenRestored(files_[begin + i], /*first=*/true, &created);
      if (!fd.ok()) {
        status = fd.status();
        break;
      }
      fds[i] = *fd;
      fresh[i] = created;
      auto added = AddPieces(begin + i, &pieces);
      if (!added.ok()) status = added.status();
      else if ((remaining[i] = *added) == 0) status = finish(i);
    }
    for (size_t w = 0; status.ok() && w < pieces.size();) {
      size_t w_end = w;
      uint64_t bytes = 0;
      while (w_end < pieces.size() && (w_end == w || bytes < kWindowBytes)) bytes += PlainLength(pieces[w_end++].loc);
      std::span<Piece> window = std::span(pieces).subspan(w, w_end - w);
      std::sort(window.begin(), window.end(), PackOrder);
      status = ReadPieces(window, /*max_gap=*/0, [&](const Piece& piece, const Bytes& plain, bool zero) -> Status {
        const size_t i = piece.file - begin;
        if (!zero) {  // all-zero chunks stay holes; ftruncate sets the size
          CAIRN_RETURN_IF_ERROR(WriteFully(fds[i], plain, static_cast<int64_t>(piece.offset),
                                           "cannot write " + files_[piece.file].path));
          written_end[i] = std::max(written_end[i], piece.offset + plain.size());
        }
        return --remaining[i] == 0 ? finish(i) : Status::Ok();
      });
      w = w_end;
    }
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    return status;
  }

  // Object stores: every request is a round trip the server also pays for,
  // so the restore is planned per pack, as restic does: every pack the
  // snapshot needs is fetched once (one range from its first to its last
  // needed blob, gaps up to kMaxRemoteGapBytes included), in the order files
  // first need them, and each blob is written into every file that holds it.
  // A file stays open between its first and its last piece, up to
  // options_.max_open_files; past that, files are closed between pieces.
  struct OpenFile {
    std::mutex mu;
    int fd = -1;
    bool opened = false, fresh = false;
    uint64_t written_end = 0;
    size_t remaining = 0;
  };

  Status FillFilesByPack() {
    std::vector<OpenFile> state(files_.size());
    std::vector<std::vector<Piece>> packs;  // in the order files first need them
    std::unordered_map<Id, size_t, IdHash> pack_slot;
    std::vector<Piece> pieces;
    for (size_t f = 0; f < files_.size(); ++f) {
      pieces.clear();
      CAIRN_ASSIGN_OR_RETURN(state[f].remaining, AddPieces(f, &pieces));
      for (const Piece& piece : pieces) {
        auto [it, added] = pack_slot.try_emplace(piece.loc.pack, packs.size());
        if (added) packs.emplace_back();
        packs[it->second].push_back(piece);
      }
      if (state[f].remaining == 0) {
        CAIRN_ASSIGN_OR_RETURN(int fd, OpenRestored(files_[f], /*first=*/true, &state[f].fresh));
        CAIRN_RETURN_IF_ERROR(FinishFile(files_[f], fd, state[f].fresh, 0));
      }
    }
    std::atomic<size_t> open_files{0};
    Status status = RunParallel(packs.size(), [&](size_t p) {
      std::sort(packs[p].begin(), packs[p].end(), PackOrder);
      Status st = ReadPieces(packs[p], kMaxRemoteGapBytes, [&](const Piece& piece, const Bytes& plain, bool zero) -> Status {
        OpenFile& file = state[piece.file];
        const FileTask& task = files_[piece.file];
        std::lock_guard lock(file.mu);
        if (file.fd < 0) {
          CAIRN_ASSIGN_OR_RETURN(file.fd, OpenRestored(task, !file.opened, &file.fresh));
          file.opened = true;
          ++open_files;
        }
        if (!zero) {
          CAIRN_RETURN_IF_ERROR(WriteFully(file.fd, plain, static_cast<int64_t>(piece.offset), "cannot write " + task.path));
          file.written_end = std::max(file.written_end, piece.offset + plain.size());
        }
        if (--file.remaining == 0) {
          --open_files;
          const int fd = std::exchange(file.fd, -1);
          return FinishFile(task, fd, file.fresh, file.written_end);
        }
        if (open_files > options_.max_open_files) {
          --open_files;
          ::close(std::exchange(file.fd, -1));
        }
        return Status::Ok();
      });
      std::vector<Piece>().swap(packs[p]);  // the plan shrinks as packs are done
      return st;
    });
    for (OpenFile& file : state)
      if (file.fd >= 0) ::close(file.fd);
    return status;
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
