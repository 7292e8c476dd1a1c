// The backup pipeline: walk and chunk (serial, in order) -> hash, compress,
// encrypt (parallel) -> assemble trees and store blobs (serial, in order).
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "cairn/engine.h"
#include "engine/metadata.h"
#include "engine/ordered_pipeline.h"
#include "util/json_text.h"

namespace cairn {
namespace {

enum class FileState { kNew, kChanged, kUnmodified };

// A file smaller than the minimum chunk size is a single chunk, so it needs
// no chunker: a worker opens, reads, hashes and seals it. Many go in one token,
// which keeps hand-offs between threads rare for trees of small files.
struct SmallFile {
  std::string path;
  uint64_t expected_size = 0;
  Bytes data;
  Id id;
  bool encoded = false;
  Bytes stored;
  uint32_t raw_length = 0;
  std::string error;  // why reading failed
};

struct Event {
  enum Type { kEnter, kLeave, kNode, kOpenFile, kCloseFile, kAbortFile, kSmallFile } type;
  Node node;
  FileState state = FileState::kNew;
  std::unique_ptr<SmallFile> small;  // kSmallFile
};

// One pipeline token: metadata events, then at most one chunk.
struct Work {
  std::vector<Event> events;
  bool has_chunk = false;
  bool zero_run = false;  // a hole the walker skipped; `data` is not filled
  size_t length = 0;
  Bytes data;
  uint64_t small_bytes = 0;  // bytes of the small files among the events
  Id id;
  bool encoded = false;
  Bytes stored;
  uint32_t raw_length = 0;
  Status error;  // sealing failed (crypto); fails the backup

  // A token keeps its buffers for the next small file, not for the next
  // large chunk: 32 tokens each holding a max-size chunk would be 512 MiB.
  void ReleaseLargeBuffers() {
    constexpr size_t kKeep = 128 << 10;
    if (data.capacity() > kKeep) Bytes().swap(data);
    if (stored.capacity() > kKeep) Bytes().swap(stored);
  }

  void Reset() {
    events.clear();
    has_chunk = zero_run = encoded = false;
    length = small_bytes = 0;
    stored.clear();
    error = Status::Ok();
  }
};

// Chunk bytes allowed between the walker and the assembler.
constexpr uint64_t kInFlightBytes = 4 << 20;

// Bounds the bytes in flight in the pipeline; the producer waits when full
// (a single chunk larger than the budget still passes alone). Cancel wakes a
// waiting producer when the consumer stops early (a failed upload), so that
// the pipeline can wind down instead of waiting for releases that never come.
class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}
  // False once cancelled.
  bool Acquire(uint64_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || used_ == 0 || used_ + n <= limit_; });
    if (cancelled_) return false;
    used_ += n;
    return true;
  }
  void Cancel() {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }
  void Release(uint64_t n) {
    {
      std::lock_guard lock(mu_);
      used_ -= n;
    }
    cv_.notify_all();
  }

 private:
  const uint64_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t used_ = 0;
  bool cancelled_ = false;
};

// Collects source problems that do not stop a backup; used by the walker,
// the workers and the assembler.
class WarningSink {
 public:
  WarningSink(const BackupOptions& options, std::vector<std::string>* out) : options_(options), out_(out) {}
  void Warn(const std::string& message) {
    std::lock_guard lock(mu_);
    out_->push_back(message);
    ++count_;
    if (options_.progress) ++options_.progress->errors;
    if (options_.on_warning) options_.on_warning(message);
  }
  uint64_t count() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::string last() const {
    std::lock_guard lock(mu_);
    return out_->empty() ? "" : out_->back();
  }

 private:
  const BackupOptions& options_;
  mutable std::mutex mu_;
  std::vector<std::string>* out_;
  uint64_t count_ = 0;
};

// The set of paths to back up, as a tree of path components. Components
// above a backed-up path become directories in the snapshot (with their real
// metadata) that list only the way down.
struct PathTrie {
  std::map<std::string, PathTrie> children;
  bool backed_up = false;
};

std::string NormalizePath(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool IsExcluded(const std::vector<std::string>& patterns, const std::string& path, const std::string& name) {
  for (const auto& pattern : patterns)
    if (fnmatch(pattern.c_str(), path.c_str(), 0) == 0 || fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

// A byte range of a file that holds data (everything else is a hole).
struct Extent {
  uint64_t begin, end;
};

std::vector<Extent> DataExtents(int fd, uint64_t size) {
  std::vector<Extent> out;
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole remains
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    out.push_back({static_cast<uint64_t>(data), static_cast<uint64_t>(hole)});
    pos = hole;
  }
  return out;
}

// Opens without updating the access time where the file's owner allows it.
int OpenForReading(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  return fd;
}

// Reads a whole small file into `out` (at most `limit` bytes).
Status ReadSmallFile(const std::string& path, size_t expected, size_t limit, Bytes* out) {
  int fd = OpenForReading(path);
  if (fd < 0) return Status::FromErrno(errno, "cannot read " + path);
  out->resize(std::min(expected + 1, limit));
  size_t done = 0;
  Status st;
  for (;;) {
    if (done == out->size()) {
      if (out->size() == limit) break;
      out->resize(std::min(out->size() * 2, limit));  // the file grew since it was listed
    }
    ssize_t n = ::read(fd, out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Status::FromErrno(errno, "cannot read " + path);
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out->resize(done);
  return st;
}

class SourceWalker {
 public:
  SourceWalker(Repository& repo, const BackupOptions& options, const PathTrie& trie, std::optional<Tree> parent_root,
               WarningSink* warnings)
      : repo_(repo), options_(options), chunker_(repo.chunker()), warnings_(warnings) {
    const uint32_t max = chunker_.params().max_size;
    buffer_.resize(static_cast<size_t>(max) + kReadBlock);
    zero_chunk_length_ = chunker_.NextBoundary(Bytes(max, 0));
    Frame root;
    root.trie = &trie;
    for (const auto& [name, child] : trie.children) root.names.push_back(name);
    root.parent = std::move(parent_root);
    stack_.push_back(std::move(root));
  }

  size_t zero_chunk_length() const { return zero_chunk_length_; }

  // Fills `work` with the next events and at most one chunk; false at the end.
  bool Next(Work* work) {
    for (;;) {
      if (close_pending_) {
        close_pending_ = false;
        work->events.push_back(Event{Event::kCloseFile, {}, {}});
      }
      if (file_fd_ >= 0) {
        if (ReadChunk(work)) return true;
        continue;
      }
      if (work->events.size() >= kEventsPerToken || work->small_bytes >= kSmallBytesPerToken) return true;
      if (stack_.empty()) return !work->events.empty();
      Frame& frame = stack_.back();
      if (frame.next == frame.names.size()) {
        if (stack_.size() > 1) work->events.push_back(Event{Event::kLeave, {}, {}});
        stack_.pop_back();
        continue;
      }
      const std::string name = frame.names[frame.next++];
      VisitEntry(frame, name, work);
      if (work->has_chunk) return true;
    }
  }

 private:
  static constexpr size_t kReadBlock = 1 << 20;
  static constexpr int kStreamPipeBytes = 1 << 20;
  static constexpr size_t kEventsPerToken = 256;
  static constexpr uint64_t kSmallBytesPerToken = 256 << 10;

  struct Frame {
    std::string path;  // "" for the snapshot root
    std::vector<std::string> names;
    size_t next = 0;
    const PathTrie* trie = nullptr;  // set while walking the path components above a backed-up path
    std::optional<Tree> parent;      // this directory in the parent snapshot
  };

  void Warn(const std::string& message) { warnings_->Warn(message); }

  // An unchanged file may reuse its parent snapshot's content only while the
  // repository still holds that content (the index was loaded with its
  // packs verified): after a lost pack, the file is read and stored again.
  bool AllIndexed(const std::vector<Id>& content) const {
    for (const Id& id : content)
      if (!repo_.Lookup(id)) return false;
    return true;
  }

  std::optional<Tree> ParentSubtree(const Frame& frame, const std::string& name) {
    if (!frame.parent) return std::nullopt;
    const Node* old = frame.parent->Find(name);
    if (!old || old->type != NodeType::kDir || !old->subtree) return std::nullopt;
    auto tree = repo_.LoadTree(*old->subtree);
    if (!tree.ok()) return std::nullopt;  // a damaged parent only costs re-reading
    return std::move(tree).value();
  }

  void VisitEntry(Frame& frame, const std::string& name, Work* work) {
    const std::string path = frame.path + "/" + name;
    const PathTrie* child_trie = frame.trie ? &frame.trie->children.at(name) : nullptr;
    if (!child_trie && IsExcluded(options_.excludes, path, name)) return;

    Node node;
    node.name = name;
    Status st = ReadNodeMetadata(path, &node);
    if (!st.ok()) {
      Warn(st.message());
      return;
    }
    if (child_trie && !child_trie->backed_up) {
      if (node.type != NodeType::kDir) {
        Warn("cannot back up below " + path + ": not a directory");
        return;
      }
      Frame next;
      next.path = path;
      next.trie = child_trie;
      for (const auto& [child, unused] : child_trie->children) next.names.push_back(child);
      next.parent = ParentSubtree(frame, name);
      work->events.push_back(Event{Event::kEnter, std::move(node), {}});
      stack_.push_back(std::move(next));
      return;
    }
    switch (node.type) {
      case NodeType::kDir: EnterDirectory(frame, path, std::move(node), work); return;
      case NodeType::kFile: StartFile(frame, path, std::move(node), work); return;
      default: work->events.push_back(Event{Event::kNode, std::move(node), {}}); return;
    }
  }

  void EnterDirectory(Frame& frame, const std::string& path, Node node, Work* work) {
    Frame next;
    next.path = path;
    DIR* dir = ::opendir(path.c_str());
    if (!dir) {
      Warn(Status::FromErrno(errno, "cannot read directory " + path).message());
    } else {
      while (dirent* e = ::readdir(dir)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        next.names.emplace_back(e->d_name);
      }
      ::closedir(dir);
      std::sort(next.names.begin(), next.names.end());
    }
    next.parent = ParentSubtree(frame, node.name);
    work->events.push_back(Event{Event::kEnter, std::move(node), {}});
    stack_.push_back(std::move(next));
  }

  void StartFile(Frame& frame, const std::string& path, Node node, Work* work) {
    FileState state = FileState::kNew;
    if (frame.parent) {
      if (const Node* old = frame.parent->Find(node.name); old && old->type == NodeType::kFile) {
        state = FileState::kChanged;  // in the parent snapshot: re-read files count as changed
        if (!options_.force_reread && old->size == node.size && old->mtime_ns == node.mtime_ns &&
            old->ctime_ns == node.ctime_ns && old->inode == node.inode && AllIndexed(old->content)) {
          node.content = old->content;
          work->events.push_back(Event{Event::kNode, std::move(node), FileState::kUnmodified});
          return;
        }
      }
    }
    if (node.size == 0) {  // nothing to read
      work->events.push_back(Event{Event::kOpenFile, std::move(node), state});
      close_pending_ = true;
      return;
    }
    if (node.size < chunker_.params().min_size) {
      auto small = std::make_unique<SmallFile>();
      small->path = path;
      small->expected_size = node.size;
      work->small_bytes += node.size;
      work->events.push_back(Event{Event::kSmallFile, std::move(node), state, std::move(small)});
      return;
    }
    int fd = OpenForReading(path);
    if (fd < 0) {
      Warn(Status::FromErrno(errno, "cannot read " + path).message());
      return;
    }
    BeginReading(fd, path, node.size);
    const bool sparse = node.size > 0 && [&] {
      struct stat st;
      return ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_blocks) * 512 < node.size;
    }();
    if (sparse) extents_ = DataExtents(fd, node.size);
    work->events.push_back(Event{Event::kOpenFile, std::move(node), state});
  }

 public:
  void StartStream(const std::string& name, int fd, Work* work) {
    Node node;
    node.name = name;
    node.type = NodeType::kFile;
    node.mode = S_IFREG | 0644;
    node.uid = ::geteuid();
    node.gid = ::getegid();
    node.mtime_ns = node.ctime_ns = node.atime_ns = NowNs();
    node.user = Username();
    // With the default 64 KiB pipe the producer (a dump tool) stalls each
    // time this thread stops reading to cut a chunk; a 1 MiB pipe (the
    // unprivileged maximum) lets it keep writing meanwhile. Not a pipe, or
    // over the per-user pipe quota: the default size is only slower.
    (void)::fcntl(fd, F_SETPIPE_SZ, kStreamPipeBytes);
    BeginReading(fd, "stream " + name, UINT64_MAX);
    owns_fd_ = false;
    stack_.back().names.clear();  // the stream is the tree's only entry
    work->events.push_back(Event{Event::kOpenFile, std::move(node), FileState::kNew});
  }

 private:
  void BeginReading(int fd, const std::string& path, uint64_t size) {
    file_fd_ = fd;
    owns_fd_ = true;
    file_path_ = path;
    file_size_ = size;
    file_pos_ = 0;
    file_eof_ = false;
    buffer_begin_ = buffer_end_ = 0;
    extents_.reset();
  }

  void EndReading() {
    if (owns_fd_) ::close(file_fd_);
    file_fd_ = -1;
    extents_.reset();
  }

  // Whether [pos, pos+len) is entirely a hole of the current sparse file.
  bool IsHole(uint64_t pos, uint64_t len) const {
    if (!extents_) return false;
    for (const Extent& e : *extents_)
      if (e.begin < pos + len && e.end > pos) return false;
    return true;
  }

  // Reads more of the file into the buffer; holes are filled with zeros
  // without reading them.
  Status Fill() {
    if (buffer_begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + buffer_begin_, buffer_end_ - buffer_begin_);
      buffer_end_ -= buffer_begin_;
      buffer_begin_ = 0;
    }
    while (buffer_end_ < buffer_.size() && !file_eof_) {
      size_t want = buffer_.size() - buffer_end_;
      if (extents_) {
        if (file_pos_ >= file_size_) {
          file_eof_ = true;
          break;
        }
        uint64_t next_data = file_size_, data_end = file_size_;
        for (const Extent& e : *extents_) {
          if (e.end > file_pos_) {
            next_data = std::max(e.begin, file_pos_);
            data_end = e.end;
            break;
          }
        }
        if (next_data > file_pos_) {  // in a hole
          size_t zeros = static_cast<size_t>(std::min<uint64_t>(want, next_data - file_pos_));
          std::memset(buffer_.data() + buffer_end_, 0, zeros);
          buffer_end_ += zeros;
          file_pos_ += zeros;
          continue;
        }
        want = static_cast<size_t>(std::min<uint64_t>(want, data_end - file_pos_));
      }
      ssize_t n = ::pread(file_fd_, buffer_.data() + buffer_end_, want, static_cast<off_t>(file_pos_));
      if (n < 0 && errno == ESPIPE) n = ::read(file_fd_, buffer_.data() + buffer_end_, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "cannot read " + file_path_);
      }
      if (n == 0) file_eof_ = true;
      buffer_end_ += static_cast<size_t>(n);
      file_pos_ += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  bool ReadChunk(Work* work) {
    const size_t max = chunker_.params().max_size;
    const uint64_t chunk_start = file_pos_ - (buffer_end_ - buffer_begin_);
    // A long hole becomes the known all-zero chunk without reading or hashing it.
    if (extents_ && chunk_start + max <= file_size_ && IsHole(chunk_start, zero_chunk_length_)) {
      buffer_begin_ = buffer_end_ = 0;
      file_pos_ = chunk_start + zero_chunk_length_;
      work->has_chunk = work->zero_run = true;
      work->length = zero_chunk_length_;
      return true;
    }
    // A boundary depends only on the bytes before it, so one found in what is
    // buffered is final even with less than max_size bytes at hand. Refilling
    // only when none is found keeps Fill's move of the unread rest small (a
    // partial chunk) instead of most of the buffer once per chunk.
    size_t cut = 0;
    const size_t buffered = buffer_end_ - buffer_begin_;
    if (buffered < max && !file_eof_) {
      // NextBoundary returns the whole input when it finds no boundary in it.
      if (buffered > 0) cut = chunker_.NextBoundary(ByteView(buffer_.data() + buffer_begin_, buffered));
      if (cut == buffered) {
        cut = 0;
        Status st = Fill();
        if (!st.ok()) {
          Warn(st.message());
          EndReading();
          work->events.push_back(Event{Event::kAbortFile, {}, {}});
          return false;
        }
      }
    }
    if (buffer_end_ == buffer_begin_) {
      EndReading();
      work->events.push_back(Event{Event::kCloseFile, {}, {}});
      return false;
    }
    ByteView available(buffer_.data() + buffer_begin_, buffer_end_ - buffer_begin_);
    if (cut == 0) cut = chunker_.NextBoundary(available);
    work->data.assign(available.begin(), available.begin() + cut);
    work->length = cut;
    work->has_chunk = true;
    buffer_begin_ += cut;
    if (buffer_begin_ == buffer_end_ && file_eof_) {
      EndReading();
      close_pending_ = true;
    }
    return true;
  }

  Repository& repo_;
  const BackupOptions& options_;
  const Chunker& chunker_;
  WarningSink* warnings_;
  std::vector<Frame> stack_;
  size_t zero_chunk_length_ = 0;

  int file_fd_ = -1;
  bool owns_fd_ = true;
  std::string file_path_;
  uint64_t file_size_ = 0, file_pos_ = 0;
  bool file_eof_ = false, close_pending_ = false;
  std::optional<std::vector<Extent>> extents_;  // set for sparse files
  Bytes buffer_;
  size_t buffer_begin_ = 0, buffer_end_ = 0;
};

// Builds trees from the event stream, in order, and stores new blobs.
class TreeAssembler {
 public:
  TreeAssembler(RepositoryWriter& writer, SnapshotSummary* summary, JobProgress* progress, WarningSink* warnings)
      : writer_(writer), summary_(summary), progress_(progress), warnings_(warnings) {
    frames_.emplace_back();
  }

  void Apply(Work* work) {
    for (Event& e : work->events) ApplyEvent(e);
    if (!work->has_chunk) return;
    if (work->encoded && writer_.AddEncoded(BlobType::kData, work->id, work->stored, work->raw_length))
      summary_->bytes_added += work->length;
    open_file_.content.push_back(work->id);
    open_bytes_ += work->length;
    summary_->bytes_read += work->zero_run ? 0 : work->length;
    if (progress_) progress_->bytes_done += work->length;
  }

  Result<Id> FinishRoot() {
    Tree tree{std::move(frames_.front().nodes)};
    return writer_.Add(BlobType::kTree, EncodeTree(tree));
  }
  // The first error storing a tree; the backup fails with it.
  const Status& status() const { return status_; }

 private:
  struct Frame {
    Node dir;
    std::vector<Node> nodes;
  };

  void CountFile(FileState state, uint64_t size) {
    switch (state) {
      case FileState::kNew: ++summary_->files_new; break;
      case FileState::kChanged: ++summary_->files_changed; break;
      case FileState::kUnmodified: ++summary_->files_unmodified; break;
    }
    summary_->total_bytes += size;
    if (progress_) ++progress_->files_done;
  }

  void ApplyEvent(Event& e) {
    switch (e.type) {
      case Event::kEnter: frames_.push_back(Frame{std::move(e.node), {}}); break;
      case Event::kLeave: {
        Frame frame = std::move(frames_.back());
        frames_.pop_back();
        auto tree = writer_.Add(BlobType::kTree, EncodeTree(Tree{std::move(frame.nodes)}));
        if (!tree.ok() && status_.ok()) status_ = tree.status();
        if (tree.ok()) frame.dir.subtree = *tree;
        frames_.back().nodes.push_back(std::move(frame.dir));
        ++summary_->dirs;
        break;
      }
      case Event::kNode:
        if (e.node.type == NodeType::kFile) {
          CountFile(FileState::kUnmodified, e.node.size);
          if (progress_) progress_->bytes_done += e.node.size;
        }
        frames_.back().nodes.push_back(std::move(e.node));
        break;
      case Event::kOpenFile:
        open_file_ = std::move(e.node);
        open_file_.content.clear();
        open_state_ = e.state;
        open_bytes_ = 0;
        break;
      case Event::kSmallFile: {
        SmallFile& small = *e.small;
        if (!small.error.empty()) {  // unreadable: left out of the snapshot, reported
          warnings_->Warn(small.error);
          break;
        }
        const uint64_t size = small.data.size();
        e.node.content.clear();
        if (size > 0) {
          if (small.encoded && writer_.AddEncoded(BlobType::kData, small.id, small.stored, small.raw_length))
            summary_->bytes_added += size;
          e.node.content.push_back(small.id);
        }
        e.node.size = size;
        summary_->bytes_read += size;
        if (progress_) progress_->bytes_done += size;
        CountFile(e.state, size);
        frames_.back().nodes.push_back(std::move(e.node));
        break;
      }
      case Event::kCloseFile:
        open_file_.size = open_bytes_;  // what was read, even if the file changed meanwhile
        CountFile(open_state_, open_bytes_);
        frames_.back().nodes.push_back(std::move(open_file_));
        break;
      case Event::kAbortFile: break;
    }
  }

  RepositoryWriter& writer_;
  SnapshotSummary* summary_;
  JobProgress* progress_;
  Status status_;
  std::vector<Frame> frames_;
  WarningSink* warnings_;
  Node open_file_;
  FileState open_state_ = FileState::kNew;
  uint64_t open_bytes_ = 0;
};

// Counts files and bytes ahead of the backup so progress can show an ETA.
void ScanTotals(const PathTrie& trie, const std::string& prefix, const BackupOptions& options, JobProgress* progress,
                const std::atomic<bool>& stop) {
  std::vector<std::string> pending;
  std::function<void(const PathTrie&, const std::string&)> roots = [&](const PathTrie& t, const std::string& p) {
    for (const auto& [name, child] : t.children) {
      if (child.backed_up) pending.push_back(p + "/" + name);
      else roots(child, p + "/" + name);
    }
  };
  roots(trie, prefix);
  while (!pending.empty() && !stop) {
    std::string path = std::move(pending.back());
    pending.pop_back();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      ++progress->files_total;
      progress->bytes_total += static_cast<uint64_t>(st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      if (DIR* d = ::opendir(path.c_str())) {
        while (dirent* e = ::readdir(d)) {
          if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
          std::string child = path + "/" + e->d_name;
          if (!IsExcluded(options.excludes, child, e->d_name)) pending.push_back(std::move(child));
        }
        ::closedir(d);
      }
    }
  }
  progress->totals_known = true;
}

std::optional<Snapshot> FindParent(const std::vector<Snapshot>& snapshots, const std::string& host,
                                   const std::vector<std::string>& paths) {
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it)
    if (it->hostname == JsonSafeText(host) && it->paths == JsonSafeText(paths)) return *it;
  return std::nullopt;
}

std::optional<Snapshot> FindTaggedParent(const std::vector<Snapshot>& snapshots, const std::string& host,
                                         const std::string& tag) {
  if (tag.empty()) return std::nullopt;
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it)
    if (it->hostname == JsonSafeText(host) && std::find(it->tags.begin(), it->tags.end(), tag) != it->tags.end())
      return *it;
  return std::nullopt;
}

// Runs the pipeline over one source: the paths in `trie`, or one stream
// (the snapshot root then holds just that file). Returns the root tree's id.
Result<Id> BackupSource(Repository& repo, RepositoryWriter& writer, const BackupOptions& options, const PathTrie& trie,
                        std::optional<Tree> parent_root, const std::string& stream_name, int stream_fd,
                        SnapshotSummary* summary, WarningSink& warnings) {
  const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  SourceWalker walker(repo, options, trie, std::move(parent_root), &warnings);
  TreeAssembler assembler(writer, summary, options.progress, &warnings);
  CAIRN_ASSIGN_OR_RETURN(const Id zero_id, crypto::BlobId(repo.key(), Bytes(walker.zero_chunk_length(), 0)));

  // Each token holds at most one chunk; a few per worker keep every stage busy.
  // Many light tokens let small chunks flow past a large one that is still
  // being compressed; the byte budget, not the token count, bounds memory.
  const size_t tokens = 32;
  // Hash; if new to the repository, compress and encrypt.
  auto seal = [&](const Bytes& data, Id* id, bool* encoded, Bytes* stored, uint32_t* raw_length) -> Status {
    CAIRN_ASSIGN_OR_RETURN(*id, crypto::BlobId(repo.key(), data));
    if (writer.Known(*id)) return Status::Ok();
    CAIRN_ASSIGN_OR_RETURN(*raw_length, EncodeBlob(repo.key(), *id, data, options.compression, stored));
    *encoded = true;
    return Status::Ok();
  };
  ByteBudget budget(kInFlightBytes);
  bool stream_started = false;
  Status failed;  // a worker's error (sealing), first one wins; read by the assembler stage
  Status pipeline = OrderedPipeline<Work>::Run(
      tokens, threads,
      [&](Work* w) {
        if (!stream_name.empty() && !stream_started) {
          walker.StartStream(stream_name, stream_fd, w);
          stream_started = true;
        }
        if (writer.failed() || (options.context && options.context->Done()) || !walker.Next(w)) return false;
        return budget.Acquire(w->length + w->small_bytes);
      },
      [&](Work* w) {
        for (Event& e : w->events) {
          if (e.type != Event::kSmallFile) continue;
          SmallFile& small = *e.small;
          Status st = ReadSmallFile(small.path, small.expected_size, repo.chunker().params().max_size, &small.data);
          if (!st.ok()) small.error = st.message();
          else if (!small.data.empty() && w->error.ok())
            w->error = seal(small.data, &small.id, &small.encoded, &small.stored, &small.raw_length);
        }
        if (!w->has_chunk || !w->error.ok()) return;
        if (w->zero_run) {
          w->id = zero_id;
          if (writer.Known(w->id)) return;
          w->data.assign(w->length, 0);
          auto raw = EncodeBlob(repo.key(), w->id, w->data, options.compression, &w->stored);
          if (!raw.ok()) {
            w->error = raw.status();
            return;
          }
          w->raw_length = *raw;
          w->encoded = true;
          return;
        }
        w->error = seal(w->data, &w->id, &w->encoded, &w->stored, &w->raw_length);
      },
      [&](Work* w) {
        if (!w->error.ok()) {
          failed = w->error;
          return false;
        }
        assembler.Apply(w);
        budget.Release(w->length + w->small_bytes);
        w->ReleaseLargeBuffers();
        return !writer.failed() && assembler.status().ok();
      },
      [&] { budget.Cancel(); });
  if (writer.failed()) return writer.Finish().WithContext("backup failed");
  CAIRN_RETURN_IF_ERROR(CheckContext(options.context));
  CAIRN_RETURN_IF_ERROR(failed.WithContext("backup failed"));
  CAIRN_RETURN_IF_ERROR(pipeline.WithContext("backup failed"));
  CAIRN_RETURN_IF_ERROR(assembler.status().WithContext("backup failed"));
  return assembler.FinishRoot();
}

// Splits absolute paths into the trie of components the walker follows.
Result<PathTrie> BuildPathTrie(const std::vector<std::string>& raw_paths, std::vector<std::string>* normalized) {
  PathTrie trie;
  if (raw_paths.empty()) return Status::InvalidArgument("nothing to back up: give at least one path");
  for (const std::string& raw : raw_paths) {
    std::string path = NormalizePath(raw);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "cannot back up " + raw);
    normalized->push_back(path);
  }
  std::sort(normalized->begin(), normalized->end());
  normalized->erase(std::unique(normalized->begin(), normalized->end()), normalized->end());
  for (const std::string& path : *normalized) {
    PathTrie* node = &trie;
    bool covered = false;
    for (const auto& part : std::filesystem::path(path).relative_path()) {
      if (node->backed_up) covered = true;
      node = &node->children[part.string()];
    }
    if (path == "/") node = &trie;
    if (!covered) node->backed_up = true;
  }
  if (trie.backed_up) return Status::InvalidArgument("backing up / as a whole is not supported; list its directories");
  return trie;
}

// A service's restore point: each part becomes a directory at the snapshot
// root holding the part's stream file or its file tree.
Status BackupParts(Repository& repo, RepositoryWriter& writer, const BackupOptions& options,
                   const std::optional<Tree>& parent_root, Snapshot* snap, WarningSink& warnings) {
  std::vector<Node> roots;
  for (CapturePart& part : *options.parts) {
    if (!ValidPartName(part.name)) return Status::InvalidArgument("invalid part name '" + part.name + "'");
    Node dir;
    dir.name = part.name;
    dir.type = NodeType::kDir;
    dir.mode = S_IFDIR | 0700;
    dir.uid = ::geteuid();
    dir.gid = ::getegid();
    dir.mtime_ns = dir.ctime_ns = dir.atime_ns = NowNs();
    const SnapshotSummary& sum = snap->summary;
    const uint64_t files_before = sum.files_new + sum.files_changed + sum.files_unmodified;
    if (part.kind == CapturePart::Kind::kStream) {
      if (!ValidPartFileName(part.file_name))
        return Status::InvalidArgument("invalid file name '" + part.file_name + "'");
      CAIRN_ASSIGN_OR_RETURN(int fd, part.open());
      const uint64_t before = snap->summary.total_bytes;
      const uint64_t warnings_before = warnings.count();
      Result<Id> tree = BackupSource(repo, writer, options, PathTrie{}, std::nullopt, part.file_name, fd,
                                     &snap->summary, warnings);
      ::close(fd);
      Status finished = part.finish ? part.finish() : Status::Ok();
      if (!tree.ok()) return tree.status();
      CAIRN_RETURN_IF_ERROR(finished.WithContext("part " + part.name));
      if (warnings.count() > warnings_before) return Status::IOError("part " + part.name + ": " + warnings.last());
      dir.subtree = *tree;
      dir.size = snap->summary.total_bytes - before;
    } else {
      if (!part.root.empty())
        return Status::Unsupported("part " + part.name + ": files below a staging root are sent to repository "
                                   "targets by copy, not stored again");
      std::vector<std::string> normalized;
      CAIRN_ASSIGN_OR_RETURN(PathTrie trie, BuildPathTrie(part.paths, &normalized));
      std::optional<Tree> parent;
      if (parent_root)
        if (const Node* old = parent_root->Find(part.name); old && old->subtree)
          if (auto t = repo.LoadTree(*old->subtree); t.ok()) parent = std::move(t).value();
      const uint64_t before = snap->summary.total_bytes;
      CAIRN_ASSIGN_OR_RETURN(Id tree, BackupSource(repo, writer, options, trie, std::move(parent), "", -1,
                                                   &snap->summary, warnings));
      dir.subtree = tree;
      dir.size = snap->summary.total_bytes - before;
    }
    if (options.on_part_done)
      options.on_part_done(part, dir.size, sum.files_new + sum.files_changed + sum.files_unmodified - files_before);
    roots.push_back(std::move(dir));
    snap->paths.push_back(part.name);
  }
  std::sort(roots.begin(), roots.end(), [](const Node& a, const Node& b) { return a.name < b.name; });
  CAIRN_ASSIGN_OR_RETURN(snap->tree, writer.Add(BlobType::kTree, EncodeTree(Tree{std::move(roots)})));
  return Status::Ok();
}

}  // namespace

Result<BackupResult> RunBackup(Repository& repo, const BackupOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  BackupResult result;
  Snapshot& snap = result.snapshot;
  snap.time_ns = options.time_ns ? options.time_ns : NowNs();
  snap.hostname = options.hostname.empty() ? Hostname() : options.hostname;
  snap.username = Username();
  snap.tags = options.tags;
  snap.excludes = options.excludes;
  snap.program_version = CAIRN_VERSION;

  const bool composite = options.parts != nullptr;
  PathTrie trie;
  if (composite) {
    if (options.stdin_name || !options.paths.empty())
      return Status::InvalidArgument("a backup of parts takes no paths or stdin");
  } else if (options.stdin_name) {
    if (options.stdin_name->empty() || options.stdin_name->find('/') != std::string::npos)
      return Status::InvalidArgument("--stdin-name must be a plain file name");
    snap.paths = {*options.stdin_name};
  } else {
    CAIRN_ASSIGN_OR_RETURN(trie, BuildPathTrie(options.paths, &snap.paths));
  }

  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/false));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  for (const auto& d : repo.damaged_index_files()) result.repository_warnings.push_back(d);
  CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> snapshots, repo.ListSnapshots(&result.repository_warnings));
  std::optional<Tree> parent_root;
  if (!options.stdin_name) {
    std::optional<Snapshot> parent;
    if (composite) parent = FindTaggedParent(snapshots, snap.hostname, options.parent_tag);
    else parent = FindParent(snapshots, snap.hostname, snap.paths);
    if (parent) {
      snap.parent = parent->id;
      if (auto tree = repo.LoadTree(parent->tree); tree.ok()) parent_root = std::move(tree).value();
    }
  }

  std::atomic<bool> scan_stop{false};
  std::thread scanner;
  if (options.progress && !options.stdin_name && !composite)
    scanner = std::thread([&] { ScanTotals(trie, "", options, options.progress, scan_stop); });

  WarningSink warnings(options, &result.warnings);
  auto writer = repo.NewWriter(options.compression);
  Status st;
  if (composite) {
    st = BackupParts(repo, *writer, options, parent_root, &snap, warnings);
  } else {
    Result<Id> tree = BackupSource(repo, *writer, options, trie, std::move(parent_root),
                                   options.stdin_name.value_or(""), options.stdin_fd, &snap.summary, warnings);
    if (tree.ok()) snap.tree = *tree;
    st = tree.status();
  }
  scan_stop = true;
  if (scanner.joinable()) scanner.join();
  if (!st.ok()) {
    Status ignored = writer->Finish();  // indexes what was uploaded; unreferenced until prune
    (void)ignored;
    return st;
  }
  CAIRN_RETURN_IF_ERROR(writer->Finish().WithContext("backup failed"));
  snap.summary.bytes_stored = writer->bytes_stored();
  snap.summary.errors = warnings.count();
  snap.summary.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options.before_save) CAIRN_RETURN_IF_ERROR(options.before_save(snap));
  CAIRN_ASSIGN_OR_RETURN(snap.id, repo.SaveSnapshot(snap));
  return result;
}

}  // namespace cairn
