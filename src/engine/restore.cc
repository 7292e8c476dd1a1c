// Restore: plan the tree (directories, special files, hard links, symlinks),
// fill regular files in parallel (from a local repository in batches of
// files in tree order, from an object store pack by pack), then make hard
// links, then symlinks (last: nothing is ever written through one), then set
// directory metadata deepest first (writing into a directory changes its
// mtime). Every path is opened beneath the target without following a
// symlink (engine/safe_path.h). A file whose data cannot be read is named,
// removed (or kept as "<name>.cairn-partial"), and the rest goes on.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "cairn/engine.h"
#include "cairn/system.h"
#include "engine/metadata.h"
#include "engine/safe_path.h"
#include "util/fd_io.h"

namespace cairn {
namespace {

constexpr uint64_t kBatchBytes = 16 << 20;
constexpr size_t kBatchFiles = 128;
constexpr uint64_t kWindowBytes = 16 << 20;
constexpr uint64_t kMaxRangeBytes = 8 << 20;
constexpr uint64_t kMaxRemoteGapBytes = 1 << 20;
constexpr char kPartialSuffix[] = ".cairn-partial";

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

std::string Join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

class Restorer {
 public:
  Restorer(Repository& repo, const RestoreOptions& options, SafeRoot& root)
      : repo_(repo), options_(options), root_(root), umask_(static_cast<mode_t>(CurrentUmask())) {}

  Result<RestoreResult> Run(const Snapshot& snapshot) {
    CAIRN_RETURN_IF_ERROR(CheckIncludes(snapshot));
    CAIRN_RETURN_IF_ERROR(PlanTree(snapshot.tree, "", ""));
    CAIRN_RETURN_IF_ERROR(CheckContext(options_.context));
    if (options_.progress) {
      uint64_t bytes = 0;
      for (const auto& f : files_) bytes += f.node->size;
      options_.progress->files_total = files_.size();
      options_.progress->bytes_total = bytes;
      options_.progress->totals_known = true;
    }
    failures_.assign(files_.size(), std::string());
    CAIRN_RETURN_IF_ERROR(FillFiles());
    CAIRN_RETURN_IF_ERROR(MakeHardLinks());
    CAIRN_RETURN_IF_ERROR(MakeSymlinks());
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      auto fd = root_.OpenAt(it->rel, O_RDONLY | O_DIRECTORY);
      if (!fd.ok()) {
        Warn(fd.status().message());
        continue;
      }
      std::string w = ApplyNodeMetadataAt(-1, "", root_.Describe(it->rel), *it->node, fd->get());
      if (!w.empty()) Warn(w);
    }
    return std::move(result_);
  }

 private:
  struct FileTask {
    std::string rel;
    const Node* node;
  };
  struct Entry {  // a directory, a symlink, or a hard link's second name
    std::string rel;
    const Node* node;
    size_t source = 0;  // hard links: index of the file in files_
  };

  void Warn(const std::string& message) {
    std::lock_guard lock(mu_);
    ++result_.warnings;
    if (options_.on_warning) options_.on_warning(message);
  }

  // Records a damaged file once; safe from any thread.
  void Damaged(const std::string& rel, const std::string& reason, const std::string& kept_as = "") {
    std::lock_guard lock(mu_);
    result_.damaged.push_back(DamagedFile{root_.Describe(rel), reason, kept_as});
  }

  // An --include that names nothing (a typo, a relative path, a path under a
  // symlink) must fail loudly instead of restoring zero files.
  Status CheckIncludes(const Snapshot& snapshot) {
    for (const std::string& include : options_.includes) {
      if (include.empty() || include[0] != '/')
        return Status::InvalidArgument("--include " + include + " must be an absolute path inside the snapshot");
      auto node = FindNode(repo_, snapshot, include);
      if (!node.ok()) {
        if (node.status().IsNotFound())
          return Status::NotFound("--include " + include + " matches nothing in snapshot " + snapshot.id.ShortHex());
        return node.status();
      }
    }
    return Status::Ok();
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

  // `lost` (when given) is set when the directory's own listing cannot be read.
  Status PlanTree(const Id& tree_id, const std::string& snapshot_dir, const std::string& rel_dir, bool full = false,
                  bool* lost = nullptr) {
    auto tree = repo_.LoadTree(tree_id);
    if (!tree.ok()) {
      // A damaged directory listing loses that directory, not the restore.
      Damaged(rel_dir.empty() ? "." : rel_dir, "its directory listing (tree " + tree_id.ShortHex() +
                                                   ") cannot be read: " + tree.status().message());
      if (lost) *lost = true;
      return Status::Ok();
    }
    trees_.push_back(std::move(tree).value());
    const Tree& tree_ref = trees_.back();
    for (const Node& node : tree_ref.nodes) {
      // DecodeTree already refused such names; restore does not rely on it.
      if (node.name.empty() || node.name == "." || node.name == ".." || node.name.find('/') != std::string::npos ||
          node.name.find('\0') != std::string::npos)
        return Status::Corruption("tree " + tree_id.Hex() + " holds an invalid name");
      const std::string snapshot_path = snapshot_dir + "/" + node.name;
      const Selection sel = full ? Selection::kFull : Select(snapshot_path);
      if (sel == Selection::kNone) continue;
      if (sel == Selection::kAncestor && node.type != NodeType::kDir) continue;
      CAIRN_RETURN_IF_ERROR(PlanNode(node, Join(rel_dir, node.name), snapshot_path, sel == Selection::kFull));
    }
    return Status::Ok();
  }

  Status MakeDirectory(const std::string& rel) {
    CAIRN_ASSIGN_OR_RETURN(auto parent, root_.OpenParent(rel));
    const int dirfd = parent.first.get();
    const char* name = parent.second.c_str();
    // 0700 while restoring: nobody else can reach into it before its
    // recorded mode is applied at the end.
    if (::mkdirat(dirfd, name, 0700) == 0) return Status::Ok();
    if (errno != EEXIST) return Status::FromErrno(errno, "cannot create directory " + root_.Describe(rel));
    struct stat st;
    if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
    CAIRN_RETURN_IF_ERROR(RemoveAt(dirfd, name, root_.Describe(rel)));
    if (::mkdirat(dirfd, name, 0700) != 0) return Status::FromErrno(errno, "cannot create directory " + root_.Describe(rel));
    return Status::Ok();
  }

  Status PlanNode(const Node& node, const std::string& rel, const std::string& snapshot_path, bool full) {
    switch (node.type) {
      case NodeType::kDir: {
        CAIRN_RETURN_IF_ERROR(MakeDirectory(rel));
        dirs_.push_back(Entry{rel, &node});
        const size_t slot = dirs_.size() - 1;
        ++result_.dirs;
        bool lost = false;
        if (node.subtree) CAIRN_RETURN_IF_ERROR(PlanTree(*node.subtree, snapshot_path, rel, full, &lost));
        if (lost) {
          // An empty directory must not pass for the restored one.
          CAIRN_RETURN_IF_ERROR(root_.Remove(rel));
          dirs_.erase(dirs_.begin() + static_cast<std::ptrdiff_t>(slot));
          --result_.dirs;
        }
        return Status::Ok();
      }
      case NodeType::kFile:
        if (node.nlink > 1) {
          auto [it, first] = hardlinks_.try_emplace({node.device, node.inode}, files_.size());
          if (!first) {
            links_.push_back(Entry{rel, &node, it->second});
            return Status::Ok();
          }
        }
        files_.push_back(FileTask{rel, &node});
        return Status::Ok();
      case NodeType::kSymlink:
        symlinks_.push_back(Entry{rel, &node});
        return Status::Ok();
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice:
      case NodeType::kFifo: {
        CAIRN_ASSIGN_OR_RETURN(auto parent, root_.OpenParent(rel));
        const int dirfd = parent.first.get();
        const char* name = parent.second.c_str();
        CAIRN_RETURN_IF_ERROR(RemoveAt(dirfd, name, root_.Describe(rel)));
        if (::mknodat(dirfd, name, (node.mode & S_IFMT) | (node.mode & 0777), static_cast<dev_t>(node.rdev)) != 0) {
          Warn(Status::FromErrno(errno, "cannot create special file " + root_.Describe(rel)).message());
          return Status::Ok();
        }
        ++result_.files;
        std::string w = ApplyNodeMetadataAt(dirfd, name, root_.Describe(rel), node);
        if (!w.empty()) Warn(w);
        return Status::Ok();
      }
      case NodeType::kSocket: return Status::Ok();  // a socket is recreated by its server, not by a restore
    }
    return Status::Ok();
  }

  // Second names of hard-linked files; a link to a file that failed fails too.
  Status MakeHardLinks() {
    for (const Entry& link : links_) {
      const FileTask& source = files_[link.source];
      if (!failures_[link.source].empty()) {
        Damaged(link.rel, "hard link to " + root_.Describe(source.rel) + ", which could not be restored");
        continue;
      }
      CAIRN_ASSIGN_OR_RETURN(auto from, root_.OpenParent(source.rel));
      CAIRN_ASSIGN_OR_RETURN(auto to, root_.OpenParent(link.rel));
      CAIRN_RETURN_IF_ERROR(RemoveAt(to.first.get(), to.second, root_.Describe(link.rel)));
      if (::linkat(from.first.get(), from.second.c_str(), to.first.get(), to.second.c_str(), 0) != 0)
        Warn(Status::FromErrno(errno, "cannot link " + root_.Describe(link.rel)).message());
      else
        ++result_.files;
    }
    return Status::Ok();
  }

  // Last, so that no file or directory of this restore is ever reached through one.
  Status MakeSymlinks() {
    for (const Entry& link : symlinks_) {
      CAIRN_ASSIGN_OR_RETURN(auto parent, root_.OpenParent(link.rel));
      const int dirfd = parent.first.get();
      const char* name = parent.second.c_str();
      CAIRN_RETURN_IF_ERROR(RemoveAt(dirfd, name, root_.Describe(link.rel)));
      if (::symlinkat(link.node->link_target.c_str(), dirfd, name) != 0)
        return Status::FromErrno(errno, "cannot create symlink " + root_.Describe(link.rel));
      ++result_.files;
      std::string w = ApplyNodeMetadataAt(dirfd, name, root_.Describe(link.rel), *link.node);
      if (!w.empty()) Warn(w);
    }
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

  // Runs job(i) for i in [0, n) on Threads() threads; stops at the first
  // error. An exception in a job becomes the error: the threads Cairn starts
  // are job boundaries, never a reason to end the process.
  template <typename Job>
  Status RunParallel(size_t n, Job job) {
    std::atomic<size_t> next{0};
    std::mutex status_mu;
    Status first_error;
    std::atomic<bool> failed{false};
    auto worker = [&] {
      for (size_t i; !failed && (i = next++) < n;) {
        Status st = CheckContext(options_.context);
        try {
          if (st.ok()) st = job(i);
        } catch (const std::exception& e) {
          st = Status::IOError(std::string("internal error during restore: ") + e.what());
        }
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

  // Opens a regular file of the plan for writing, beneath the target and
  // never through a symlink. The first open creates it (replacing whatever
  // is in the way) with its permission bits minus set-id bits; `exact` says
  // the umask left them as recorded, so no chmod is needed. Later opens (a
  // file closed between pieces) only reopen it.
  Result<int> OpenRestored(const FileTask& task, bool first, bool* exact) {
    if (!first) {
      CAIRN_ASSIGN_OR_RETURN(UniqueFd fd, root_.OpenAt(task.rel, O_WRONLY));
      return fd.release();
    }
    const mode_t mode = task.node->mode & 0777;
    int err = 0;
    auto fd = root_.OpenAt(task.rel, O_WRONLY | O_CREAT | O_EXCL, mode, &err);
    bool created = fd.ok();
    if (!fd.ok() && err == EEXIST) fd = root_.OpenAt(task.rel, O_WRONLY | O_TRUNC, 0, &err);
    if (!fd.ok() && (err == ELOOP || err == EISDIR || err == EXDEV)) {
      // Something else is in the way (a directory, a symlink): replace it. A
      // symlink in a parent component is not replaced; OpenAt refuses it.
      CAIRN_ASSIGN_OR_RETURN(auto parent, root_.OpenParent(task.rel));
      CAIRN_RETURN_IF_ERROR(RemoveAt(parent.first.get(), parent.second, root_.Describe(task.rel)));
      fd = root_.OpenAt(task.rel, O_WRONLY | O_CREAT | O_EXCL, mode, &err);
      created = fd.ok();
    }
    if (!fd.ok()) return fd.status();
    *exact = created && (mode & ~umask_) == (task.node->mode & 07777);
    return fd->release();
  }

  // After a file's last piece: size, metadata, close, count. A file that
  // lacks data is removed (or kept under a name that says so).
  Status FinishFile(size_t index, int fd, bool exact, uint64_t written_end) {
    const FileTask& task = files_[index];
    std::string failure;
    {
      std::lock_guard lock(mu_);
      failure = failures_[index];
    }
    if (!failure.empty()) {
      ::close(fd);
      CAIRN_ASSIGN_OR_RETURN(auto parent, root_.OpenParent(task.rel));
      std::string kept;
      if (options_.keep_partial) {
        const std::string partial = parent.second + kPartialSuffix;
        if (::renameat(parent.first.get(), parent.second.c_str(), parent.first.get(), partial.c_str()) == 0)
          kept = root_.Describe(task.rel + kPartialSuffix);
      }
      if (kept.empty()) (void)::unlinkat(parent.first.get(), parent.second.c_str(), 0);
      Damaged(task.rel, failure, kept);
      return Status::Ok();
    }
    Status st;
    // Trailing holes (skipped zero chunks) and old longer content need a truncate.
    if ((written_end != task.node->size || !exact) && ::ftruncate(fd, static_cast<off_t>(task.node->size)) != 0)
      st = Status::FromErrno(errno, "cannot write " + root_.Describe(task.rel));
    std::string w = ApplyNodeMetadataAt(-1, "", root_.Describe(task.rel), *task.node, fd, exact);
    if (!w.empty()) Warn(w);
    ::close(fd);
    std::lock_guard lock(mu_);
    ++result_.files;
    result_.bytes += task.node->size;
    if (options_.progress) ++options_.progress->files_done;
    return st;
  }

  void Fail(size_t file, const std::string& reason) {
    std::lock_guard lock(mu_);
    if (failures_[file].empty()) failures_[file] = reason;
  }
  bool Failed(size_t file) {
    std::lock_guard lock(mu_);
    return !failures_[file].empty();
  }

  // Appends the pieces of one file (its content blobs) to `pieces`; returns
  // how many. A file with a blob the index lacks gets none and is failed.
  size_t AddPieces(size_t file, std::vector<Piece>* pieces) {
    const FileTask& task = files_[file];
    const size_t start = pieces->size();
    uint64_t offset = 0;
    for (const Id& id : task.node->content) {
      auto loc = repo_.Lookup(id);
      if (!loc) {
        pieces->resize(start);
        auto lost = repo_.LostPackOf(id);
        Fail(file, "blob " + id.Hex() +
                       (lost ? " is in pack " + PackKey(*lost) + ", which is missing or truncated"
                             : " is missing from the repository (in no index)"));
        return 0;
      }
      pieces->push_back(Piece{file, offset, id, *loc});
      offset += PlainLength(*loc);
    }
    return task.node->content.size();
  }

  // Reads `pieces` (sorted by pack, then offset): neighbours in one pack, and
  // those at most `max_gap` bytes apart, in one range read; each distinct blob
  // is decoded once, and deliver(piece, plaintext, all_zero) called for every
  // piece in order. A piece whose pack cannot be read or whose blob does not
  // decode fails its file and is delivered with null plaintext.
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
      const Id* decoded = nullptr;
      bool zero = false, good = false;
      for (size_t k = i; k < j; ++k) {
        const Piece& piece = pieces[k];
        if (!range.ok()) {
          Fail(piece.file, "pack " + pack_key + " cannot be read: " + range.status().message());
        } else if (!decoded || *decoded != piece.blob) {
          ByteView stored(range->data() + (piece.loc.offset - first.offset), piece.loc.stored_length);
          Status st = repo_.DecodeAndVerify(piece.blob, stored, piece.loc.raw_length, &plain);
          decoded = &piece.blob;
          good = st.ok();
          if (good) zero = IsAllZero(plain);
          else Fail(piece.file, st.message() + " (pack " + pack_key + ")");
        } else if (!good) {
          Fail(piece.file, "blob " + piece.blob.Hex() + " is damaged (pack " + pack_key + ")");
        }
        const bool ok = range.ok() && good;
        CAIRN_RETURN_IF_ERROR(deliver(piece, ok ? &plain : nullptr, zero));
        if (ok && options_.progress) options_.progress->bytes_done += plain.size();
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
    std::vector<char> exact(n, 0);
    std::vector<uint64_t> written_end(n, 0);
    std::vector<Piece> pieces;
    auto finish = [&](size_t i) {
      Status st = FinishFile(begin + i, fds[i], exact[i], written_end[i]);
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
      exact[i] = created;
      if ((remaining[i] = AddPieces(begin + i, &pieces)) == 0) status = finish(i);
    }
    for (size_t w = 0; status.ok() && w < pieces.size();) {
      size_t w_end = w;
      uint64_t bytes = 0;
      while (w_end < pieces.size() && (w_end == w || bytes < kWindowBytes)) bytes += PlainLength(pieces[w_end++].loc);
      std::span<Piece> window = std::span(pieces).subspan(w, w_end - w);
      std::sort(window.begin(), window.end(), PackOrder);
      status = ReadPieces(window, /*max_gap=*/0, [&](const Piece& piece, const Bytes* plain, bool zero) -> Status {
        const size_t i = piece.file - begin;
        if (plain && !zero && !Failed(piece.file)) {  // all-zero chunks stay holes; ftruncate sets the size
          CAIRN_RETURN_IF_ERROR(WriteFully(fds[i], *plain, static_cast<int64_t>(piece.offset),
                                           "cannot write " + root_.Describe(files_[piece.file].rel)));
          written_end[i] = std::max(written_end[i], piece.offset + plain->size());
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
    bool opened = false, exact = false;
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
      state[f].remaining = AddPieces(f, &pieces);
      for (const Piece& piece : pieces) {
        auto [it, added] = pack_slot.try_emplace(piece.loc.pack, packs.size());
        if (added) packs.emplace_back();
        packs[it->second].push_back(piece);
      }
      if (state[f].remaining == 0) {
        CAIRN_ASSIGN_OR_RETURN(int fd, OpenRestored(files_[f], /*first=*/true, &state[f].exact));
        CAIRN_RETURN_IF_ERROR(FinishFile(f, fd, state[f].exact, 0));
      }
    }
    std::atomic<size_t> open_files{0};
    Status status = RunParallel(packs.size(), [&](size_t p) {
      std::sort(packs[p].begin(), packs[p].end(), PackOrder);
      Status st = ReadPieces(packs[p], kMaxRemoteGapBytes, [&](const Piece& piece, const Bytes* plain, bool zero) -> Status {
        OpenFile& file = state[piece.file];
        const FileTask& task = files_[piece.file];
        std::lock_guard lock(file.mu);
        if (file.fd < 0) {
          bool exact = false;
          CAIRN_ASSIGN_OR_RETURN(file.fd, OpenRestored(task, !file.opened, &exact));
          if (!file.opened) file.exact = exact;
          file.opened = true;
          ++open_files;
        }
        if (plain && !zero && !Failed(piece.file)) {
          CAIRN_RETURN_IF_ERROR(
              WriteFully(file.fd, *plain, static_cast<int64_t>(piece.offset), "cannot write " + root_.Describe(task.rel)));
          file.written_end = std::max(file.written_end, piece.offset + plain->size());
        }
        if (--file.remaining == 0) {
          --open_files;
          const int fd = std::exchange(file.fd, -1);
          return FinishFile(piece.file, fd, file.exact, file.written_end);
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
  SafeRoot& root_;
  const mode_t umask_;
  std::deque<Tree> trees_;  // keeps nodes alive for the plan
  std::vector<FileTask> files_;
  std::vector<Entry> dirs_, links_, symlinks_;
  std::map<std::pair<uint64_t, uint64_t>, size_t> hardlinks_;
  std::mutex mu_;                       // guards result_ and failures_
  std::vector<std::string> failures_;  // per file: why it cannot be restored whole
  RestoreResult result_;
};

}  // namespace

Result<RestoreResult> RunRestore(Repository& repo, const Snapshot& snapshot, const RestoreOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.LockForReading(options.lock, options.on_warning));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  for (const auto& damaged : repo.damaged_index_files())
    if (options.on_warning) options.on_warning(damaged + " (files whose data it lists cannot be restored)");
  CAIRN_ASSIGN_OR_RETURN(SafeRoot root, SafeRoot::Open(options.target, /*create=*/true));
  Restorer restorer(repo, options, root);
  return restorer.Run(snapshot);
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
