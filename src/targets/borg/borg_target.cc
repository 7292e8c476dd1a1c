#include "targets/borg/borg_target.h"

#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "cairn/engine.h"
#include "cairn/repository.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn {
namespace {

constexpr char kManifestPart[] = "manifest";
constexpr char kManifestFile[] = "cairn-manifest.json";
constexpr size_t kPointIdLength = 16;
// An incomplete point younger than this may belong to a store that is still
// running in another process, so retention leaves it alone.
constexpr int64_t kIncompleteGraceNs = int64_t{24} * 3600 * 1'000'000'000;
// borg delete takes archive names on its command line; batches keep argv short.
constexpr size_t kDeleteBatch = 200;

const std::set<std::string> kSettings = {"compression", "ssh_command", "remote_path",
                                         "encryption",  "base_dir",    "lock_wait"};

bool IsPointId(std::string_view s) {
  return s.size() == kPointIdLength &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool ValidServiceName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

// Matches exactly one point id, so service "app" never picks up the archives
// of a service "app.x" (service names may contain dots).
std::string PointIdGlob() {
  std::string glob;
  for (size_t i = 0; i < kPointIdLength; ++i) glob += "[0-9a-f]";
  return glob;
}

struct ArchiveName {
  std::string service, point_id, part;
};

// Splits "<service>.<point_id>.<part>". Both the service and the part may
// contain dots; the point id is the first 16-hex-digit segment that has a
// service before it and a part after it.
std::optional<ArchiveName> SplitArchiveName(const std::string& name, const std::string& service) {
  auto split_at = [&name](size_t dot) -> std::optional<ArchiveName> {
    const size_t id_begin = dot + 1, id_end = id_begin + kPointIdLength;
    if (dot == 0 || id_end + 1 >= name.size() || name[dot] != '.' || name[id_end] != '.') return std::nullopt;
    if (!IsPointId(std::string_view(name).substr(id_begin, kPointIdLength))) return std::nullopt;
    return ArchiveName{name.substr(0, dot), name.substr(id_begin, kPointIdLength), name.substr(id_end + 1)};
  };
  if (!service.empty()) {
    if (name.size() <= service.size() || name.compare(0, service.size(), service) != 0) return std::nullopt;
    return split_at(service.size());
  }
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    if (auto split = split_at(dot)) return split;
  }
  return std::nullopt;
}

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// The line of a borg message that names the cause: a traceback's last line
// ("PermissionError: [Errno 13] Permission denied: '/srv/repo'"), else the first.
std::string Summary(const std::string& message) {
  if (message.rfind("Traceback", 0) != 0) return FirstLine(message);
  size_t end = message.find_last_not_of(" \r\n");
  if (end == std::string::npos) return "";
  size_t begin = message.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return message.substr(begin, end - begin + 1);
}

// Borg's --timestamp takes whole seconds, UTC.
std::string BorgTimestamp(int64_t time_ns) { return FormatTime(time_ns).substr(0, 19); }

// Process::Wait reports "<program> failed (exit N): ..."; borg's exit code
// separates warnings (1) from errors (2).
int ExitCodeOf(const Status& status) {
  const std::string& m = status.message();
  size_t at = m.find("(exit ");
  if (at == std::string::npos) return -1;
  return std::atoi(m.c_str() + at + 6);
}

// One line of borg's --log-json output.
struct LogEntry {
  std::string level, name, msgid, message;
};

std::vector<LogEntry> ParseLog(const std::string& text, std::vector<std::string>* other_lines = nullptr) {
  std::vector<LogEntry> entries;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("type", "") == "log_message") {
      LogEntry e;
      e.level = j.value("levelname", "");
      e.name = j.value("name", "");
      e.msgid = j.value("msgid", "");
      e.message = j.value("message", "");
      entries.push_back(std::move(e));
    } else if (other_lines && !j.is_object()) {
      other_lines->push_back(line);
    }
  }
  return entries;
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool Contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

struct Stats {
  uint64_t original = 0, deduplicated = 0, files = 0;
};

// A borg location without "ssh://" or "host:" is a local directory.
bool IsLocalLocation(const std::string& location) {
  if (location.rfind("ssh://", 0) == 0) return false;
  size_t colon = location.find(':'), slash = location.find('/');
  return colon == std::string::npos || (slash != std::string::npos && slash < colon);
}

// The borg command line, environment and error reporting of one target;
// shared by the target and the readers it hands out.
class BorgRunner {
 public:
  struct Options {
    int stdin_fd = -1;
    int stdout_fd = -1;  // >= 0: borg's stdout goes there instead of being captured
    std::string cwd;
    bool low_priority = false;
    bool merge_log = false;          // stderr into the captured stdout: the whole log, not its tail
    bool tolerate_warnings = false;  // exit code 1 is success
    bool new_passphrase = false;     // borg init
  };
  struct Output {
    std::string out, log;
    int exit_code = 0;
  };

  BorgRunner(TargetConfig config, std::string compression, std::string rsh, std::string remote_path,
             std::string base_dir, int lock_wait)
      : config_(std::move(config)),
        compression_(std::move(compression)),
        rsh_(std::move(rsh)),
        remote_path_(std::move(remote_path)),
        base_dir_(std::move(base_dir)),
        lock_wait_(lock_wait) {}

  const TargetConfig& config() const { return config_; }
  const std::string& location() const { return config_.location; }
  const std::string& compression() const { return compression_; }
  std::string Archive(const std::string& name) const { return config_.location + "::" + name; }

  // Runs `borg COMMAND ARGS...`; `what` names the operation in errors.
  Result<Output> Run(const std::string& command, const std::vector<std::string>& args, const std::string& what,
                     const Options& options) const {
    std::error_code ec;
    std::filesystem::create_directories(base_dir_, ec);  // borg creates it too; this keeps it private
    if (!ec) ::chmod(base_dir_.c_str(), 0700);

    ProcessOptions p;
    std::vector<std::string> argv = {"borg", command, "--log-json", "--lock-wait", std::to_string(lock_wait_)};
    if (!remote_path_.empty()) argv.insert(argv.end(), {"--remote-path", remote_path_});
    argv.insert(argv.end(), args.begin(), args.end());
    if (options.merge_log) {
      // Process keeps only the tail of stderr; a prune --list of many
      // archives is longer, so the shell folds stderr into captured stdout.
      p.argv = {"/bin/sh", "-c", "exec \"$@\" 2>&1", "sh"};
      if (FindProgram("borg").empty()) return NotInstalled();
      p.argv.insert(p.argv.end(), argv.begin(), argv.end());
    } else {
      p.argv = std::move(argv);
    }
    p.env = Environment(options.new_passphrase);
    p.cwd = options.cwd;
    p.low_priority = options.low_priority;
    p.stdin_fd = options.stdin_fd;
    if (options.stdout_fd >= 0) {
      p.stdout_mode = ProcessOptions::Output::kFd;
      p.stdout_fd = options.stdout_fd;
    } else {
      p.stdout_mode = ProcessOptions::Output::kCapture;
    }
    auto started = Process::Start(std::move(p));
    if (!started.ok()) {
      if (started.status().IsNotFound()) return NotInstalled();
      return started.status().WithContext("target " + config_.name);
    }
    std::unique_ptr<Process> process = std::move(started).value();
    Status st = process->Wait();
    Output output;
    if (options.merge_log) {
      output.log = process->captured_stdout();
    } else {
      output.out = process->captured_stdout();
      output.log = process->captured_stderr();
    }
    if (st.ok()) return output;
    const int code = ExitCodeOf(st);
    output.exit_code = code;
    if (code == 1 && options.tolerate_warnings) return output;
    return Failure(what, output.log, code, st);
  }

  // Turns borg's log into one line naming the cause.
  Status Failure(const std::string& what, const std::string& log, int exit_code, const Status& raw) const {
    std::vector<std::string> other;
    std::vector<LogEntry> entries = ParseLog(log, &other);
    const LogEntry* error = nullptr;
    std::string remote, warning;
    for (const LogEntry& e : entries) {
      if (e.message.rfind("Remote: ", 0) == 0) {
        std::string line = FirstLine(e.message.substr(8));
        if (!line.empty() && !Contains(line, "Warning: Permanently added")) remote = line;
        continue;
      }
      if ((e.level == "ERROR" || e.level == "CRITICAL") && !error) error = &e;
      if (e.level == "WARNING" && warning.empty()) warning = FirstLine(e.message);
    }
    const std::string prefix = "target " + config_.name + ": ";
    const std::string repo = "borg repository " + config_.location;
    const std::string msgid = error ? error->msgid : "";
    std::string message = error ? Summary(error->message) : "";
    if (message == "Local Exception") {  // the traceback follows as its own log line
      for (const LogEntry& e : entries)
        if (e.level == "ERROR" && e.message.rfind("Traceback", 0) == 0) message = Summary(e.message);
    }

    if (msgid == "PassphraseWrong" || Contains(message, "passphrase supplied in BORG_PASSPHRASE"))
      return Status::WrongPassword(prefix + "wrong passphrase for " + repo);
    if (EndsWith(msgid, "DoesNotExist") && Contains(message, "Repository"))
      return Status::NotFound(prefix + repo + " does not exist");
    if (EndsWith(msgid, "DoesNotExist") && Contains(message, "Archive"))
      return Status::NotFound(prefix + what + ": " + message + " in " + repo);
    if (EndsWith(msgid, "InvalidRepository") || EndsWith(msgid, "InvalidRepositoryConfig"))
      return Status::InvalidArgument(prefix + config_.location + " is not a borg repository");
    if (EndsWith(msgid, "ConnectionClosed") || EndsWith(msgid, "ConnectionClosedWithHint")) {
      // Borg does not always pass on ssh's own error (a race in when it
      // reads ssh's stderr): then ask ssh directly what is wrong.
      if (remote.empty()) remote = ProbeSsh();
      return Status::IOError(prefix + "cannot connect to " + repo + ": " + (remote.empty() ? message : remote));
    }
    if (EndsWith(msgid, "PathNotAllowed"))
      return Status::IOError(prefix + "the borg server refuses " + repo + ": " + message);
    if (Contains(msgid, "Lock"))
      return Status::Locked(prefix + repo + " is locked by another borg process (waited " + std::to_string(lock_wait_) +
                            " s): " + message);
    if (Contains(msgid, "StorageQuotaExceeded") || Contains(msgid, "InsufficientFreeSpace") ||
        Contains(message, "No space left on device"))
      return Status::NoSpace(prefix + what + ": " + repo + " is full: " + message);
    if (EndsWith(msgid, "EncryptionMethodMismatch") || EndsWith(msgid, "RepositoryAccessAborted") ||
        EndsWith(msgid, "CacheInitAbortedError"))
      return Status::IOError(prefix + what + ": " + message);
    if (exit_code == 1 && !error)
      return Status::IOError(prefix + what + " on " + repo +
                             " finished with warnings: " + (warning.empty() ? "borg exit code 1" : warning));
    std::string cause = message;
    if (cause.empty() && !remote.empty()) cause = remote;
    if (cause.empty() && !other.empty()) cause = FirstLine(other.back());
    if (cause.empty()) cause = raw.message();
    return Status::IOError(prefix + what + " failed on " + repo + ": " + cause);
  }

 private:
  // Runs `<ssh command> [-p PORT] [USER@]HOST true` as borg would connect,
  // and returns ssh's last error line, a note that ssh itself works (so the
  // fault is borg on the server), or "" when the location is not over ssh.
  std::string ProbeSsh() const {
    std::string loc = config_.location, user_host, port;
    if (loc.rfind("ssh://", 0) == 0) {
      std::string rest = loc.substr(6);
      user_host = rest.substr(0, rest.find('/'));
      const size_t at = user_host.rfind('@');
      const size_t colon = user_host.rfind(':');
      if (colon != std::string::npos && (at == std::string::npos || colon > at) && user_host.find(']') == std::string::npos) {
        port = user_host.substr(colon + 1);
        user_host = user_host.substr(0, colon);
      }
    } else if (!IsLocalLocation(loc)) {
      user_host = loc.substr(0, loc.find(':'));
    }
    if (user_host.empty()) return "";
    auto quote = [](const std::string& s) {
      std::string q = "'";
      for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      return q + "'";
    };
    std::string command = rsh_ + " -o ConnectTimeout=10";
    if (!port.empty()) command += " -p " + quote(port);
    command += " " + quote(user_host) + " true";
    ProcessOptions p = ShellCommand(command);
    Status st = RunQuiet(std::move(p));
    if (st.ok()) return "ssh connects, but borg on the server closed the connection (is borg installed there?)";
    const std::string& m = st.message();
    const size_t cause = m.find("): ");
    return cause == std::string::npos ? m : m.substr(cause + 3);
  }

  Status NotInstalled() const {
    return Status::NotFound("target " + config_.name +
                            ": borg is not installed (not found on PATH; apt install borgbackup)");
  }

  std::vector<std::string> Environment(bool new_passphrase) const {
    std::vector<std::string> env = {
        "BORG_PASSPHRASE=" + config_.password,
        "BORG_RSH=" + rsh_,
        "BORG_BASE_DIR=" + base_dir_,
        "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
        "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no",
        // Never let a borg prompt (stdin is /dev/null anyway) delete or repair a whole repository.
        "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=NO",
        "BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=NO",
        "BORG_DISPLAY_PASSPHRASE=no",
        // Borg prints and buckets archive times in local time; UTC makes both match Cairn's.
        "TZ=UTC",
    };
    if (new_passphrase) env.push_back("BORG_NEW_PASSPHRASE=" + config_.password);
    return env;
  }

  TargetConfig config_;
  std::string compression_, rsh_, remote_path_, base_dir_;
  int lock_wait_;
};

Stats StatsOf(const std::string& create_json) {
  Stats s;
  Json j = Json::parse(create_json, nullptr, false);
  if (!j.is_object() || !j.contains("archive")) return s;
  const Json stats = j["archive"].value("stats", Json::object());
  s.original = stats.value("original_size", uint64_t{0});
  s.deduplicated = stats.value("deduplicated_size", uint64_t{0});
  s.files = stats.value("nfiles", uint64_t{0});
  return s;
}


class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

class BorgPartReader : public PartReader {
 public:
  BorgPartReader(std::shared_ptr<const BorgRunner> borg, std::string prefix)
      : borg_(std::move(borg)), prefix_(std::move(prefix)) {}

  Status ReadStream(const std::string& part, const std::string& file_name, int fd) override {
    BorgRunner::Options o;
    o.stdout_fd = fd;
    const std::string archive = prefix_ + "." + part;
    auto r = borg_->Run("extract", {"--stdout", borg_->Archive(archive), file_name},
                        "reading part " + part + " (archive " + archive + ")", o);
    return r.ok() ? Status::Ok() : r.status();
  }

  Status ExtractFiles(const std::string& part, const std::string& directory) override {
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    if (ec) return Status::FromErrno(ec.value(), "cannot create directory " + directory);
    BorgRunner::Options o;
    o.cwd = directory;
    const std::string archive = prefix_ + "." + part;
    auto r =
        borg_->Run("extract", {borg_->Archive(archive)}, "restoring part " + part + " (archive " + archive + ")", o);
    return r.ok() ? Status::Ok() : r.status();
  }

 private:
  std::shared_ptr<const BorgRunner> borg_;
  std::string prefix_;  // "<service>.<point_id>"
};

struct Archive {
  std::string name, id;
  int64_t time_ns = 0;
  ArchiveName split;
};

// The archives of one restore point.
struct PointArchives {
  std::string service, id;
  int64_t time_ns = 0;  // from the archives (whole seconds)
  std::vector<Archive> archives;
  std::optional<Archive> manifest;
  std::string Prefix() const { return service + "." + id; }
};

std::string RetentionReason(const std::string& rule, const RetentionPolicy& policy) {
  std::string base = rule.substr(0, rule.find('['));
  std::string reason;
  if (base == "secondly") {
    reason = "last snapshot";
  } else if (base == "within") {
    int64_t hours = (policy.keep_within.count() + 3599) / 3600;
    reason = "within " + (hours % 24 == 0 ? std::to_string(hours / 24) + "d" : std::to_string(hours) + "h");
  } else {
    reason = base + " snapshot";
  }
  if (Contains(rule, "[oldest]")) reason += " (oldest)";
  return reason;
}

class BorgTarget : public Target {
 public:
  explicit BorgTarget(std::shared_ptr<const BorgRunner> borg) : borg_(std::move(borg)) {}

  const TargetConfig& config() const override { return borg_->config(); }

  Status Initialize() override {
    if (initialized_) return Status::Ok();
    auto probe = borg_->Run("list", {"--json", "--last", "1", borg_->location()}, "opening", {});
    if (probe.ok()) {
      initialized_ = true;
      return Status::Ok();
    }
    const Status& st = probe.status();
    bool create = st.IsNotFound();
    // An empty directory made ahead of time by the operator is a fine place for a new repository.
    if (st.code() == StatusCode::kInvalidArgument && IsLocalLocation(borg_->location())) {
      std::error_code ec;
      create = std::filesystem::is_directory(borg_->location(), ec) &&
               std::filesystem::is_empty(borg_->location(), ec) && !ec;
    }
    if (!create) return st;
    const std::string encryption = config().settings.value("encryption", "repokey-blake2");
    BorgRunner::Options o;
    o.new_passphrase = true;
    auto init = borg_->Run("init", {"--encryption=" + encryption, "--make-parent-dirs", borg_->location()},
                           "creating the repository", o);
    if (!init.ok()) return init.status();
    initialized_ = true;
    return Status::Ok();
  }

  Result<RestorePoint> Store(const StoreRequest& request) override {
    const auto started = std::chrono::steady_clock::now();
    if (!ValidServiceName(request.service))
      return Status::InvalidArgument("target " + config().name + ": invalid service name '" + request.service + "'");
    if (!IsPointId(request.point_id))
      return Status::InvalidArgument("target " + config().name + ": invalid restore point id '" + request.point_id +
                                     "' (16 hex digits)");
    if (!request.capture) return Status::InvalidArgument("target " + config().name + ": nothing to store");
    std::vector<CapturePart>& parts = request.capture->parts();
    std::set<std::string> names;
    for (const CapturePart& part : parts) {
      if (!ValidPartName(part.name) || part.name == kManifestPart || !names.insert(part.name).second)
        return Status::InvalidArgument("target " + config().name + ": part name '" + part.name +
                                       "' is invalid, reserved or repeated");
      if (part.kind == CapturePart::Kind::kFiles) {
        if (part.paths.empty()) return Status::InvalidArgument("part " + part.name + " has no paths");
        for (const std::string& path : part.paths)
          if (path.empty() || path[0] != '/')
            return Status::InvalidArgument("part " + part.name + ": path '" + path + "' is not absolute");
      } else if (part.file_name.empty() || !part.open || !part.finish) {
        return Status::InvalidArgument("part " + part.name + " is a stream without a file name or producer");
      }
    }
    CAIRN_RETURN_IF_ERROR(Initialize());

    const std::string prefix = request.service + "." + request.point_id;
    const std::string timestamp = BorgTimestamp(request.time_ns);
    // Removes whatever this store wrote, checkpoint archives included; the
    // point never had a manifest, so no one can have restored from it.
    bool wrote = false;  // whether a borg create ran, so there may be something to remove
    auto fail = [&](Status cause) -> Status {
      if (!wrote) return cause;
      BorgRunner::Options o;
      o.tolerate_warnings = true;
      (void)borg_->Run("delete", {"--glob-archives", prefix + ".*", borg_->location()}, "cleaning up", o);
      return cause;
    };

    Json parts_json = Json::array();
    uint64_t size = 0, stored = 0;
    for (CapturePart& part : parts) {
      const std::string archive = prefix + "." + part.name;
      const std::string what = "storing part " + part.name;
      BorgRunner::Options o;
      o.low_priority = true;
      std::vector<std::string> args = {"--json", "--timestamp", timestamp, "--compression", borg_->compression()};
      Result<BorgRunner::Output> created = Status::Aborted("not run");
      if (part.kind == CapturePart::Kind::kStream) {
        auto fd = part.open();
        if (!fd.ok()) return fail(fd.status().WithContext("part " + part.name));
        FdCloser closer(*fd);
        o.stdin_fd = *fd;
        args.insert(args.end(), {"--stdin-name", part.file_name, borg_->Archive(archive), "-"});
        wrote = true;
        created = borg_->Run("create", args, what, o);
        // Closing before finish: a producer still writing sees EPIPE instead of blocking forever.
        closer.Close();
        Status finished = part.finish();
        if (!created.ok()) return fail(created.status());
        if (!finished.ok()) return fail(finished.WithContext("part " + part.name));
      } else {
        args.push_back(borg_->Archive(archive));
        if (part.root.empty()) {
          args.insert(args.end(), part.paths.begin(), part.paths.end());
        } else {
          // Borg stores paths without their leading "/": run it in the
          // staging root with the same paths made relative, and the archive
          // holds exactly what a capture from "/" would have.
          o.cwd = part.root;
          for (const std::string& p : part.paths) args.push_back(p.substr(1));
        }
        wrote = true;
        created = borg_->Run("create", args, what, o);
        if (!created.ok()) return fail(created.status());
      }
      Stats stats = StatsOf(created->out);
      size += stats.original;
      stored += stats.deduplicated;
      parts_json.push_back(PartManifest(part, stats.original, stats.files));
      if (request.progress) {
        request.progress->bytes_done += stats.original;
        request.progress->files_done += stats.files;
      }
    }

    auto facts = request.capture->Finish();
    if (!facts.ok()) return fail(facts.status());
    Json manifest = request.manifest.is_object() ? request.manifest : Json::object();
    if (facts->is_object())
      for (auto& [key, value] : facts->items()) manifest[key] = value;
    manifest["parts"] = parts_json;
    manifest["point_id"] = request.point_id;
    manifest["service"] = request.service;
    manifest["kind"] = request.kind;
    manifest["time"] = FormatTime(request.time_ns);
    manifest["size"] = size;
    const double duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    manifest["duration_s"] = duration_s;

    auto mem = MemoryFile("cairn-manifest", manifest.dump());  // borg's stdin
    if (!mem.ok()) return fail(mem.status());
    FdCloser closer(*mem);
    wrote = true;
    BorgRunner::Options o;
    o.stdin_fd = *mem;
    auto published = borg_->Run("create",
                                {"--json", "--timestamp", timestamp, "--stdin-name", kManifestFile,
                                 borg_->Archive(prefix + "." + kManifestPart), "-"},
                                "publishing the manifest", o);
    if (!published.ok()) return fail(published.status());
    stored += StatsOf(published->out).deduplicated;

    RestorePoint point;
    point.id = request.point_id;
    point.service = request.service;
    point.target = config().name;
    point.time_ns = request.time_ns;
    point.kind = request.kind;
    point.status = "complete";
    point.size = size;
    point.stored = stored;
    point.duration_s = duration_s;
    point.manifest = std::move(manifest);
    point.native_id = prefix;
    return point;
  }

  Result<std::vector<RestorePoint>> List(const std::string& service) override {
    if (!service.empty() && !ValidServiceName(service))
      return Status::InvalidArgument("target " + config().name + ": invalid service name '" + service + "'");
    CAIRN_ASSIGN_OR_RETURN(auto groups, Points(service));
    std::vector<RestorePoint> points;
    for (const auto& [key, group] : groups) {
      CAIRN_ASSIGN_OR_RETURN(RestorePoint point, Describe(group));
      points.push_back(std::move(point));
    }
    std::sort(points.begin(), points.end(), [](const RestorePoint& a, const RestorePoint& b) {
      return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.native_id < b.native_id;
    });
    return points;
  }

  Result<std::unique_ptr<PartReader>> Open(const RestorePoint& point) override {
    std::string prefix = point.native_id.empty() ? point.service + "." + point.id : point.native_id;
    if (point.status == "incomplete")
      return Status::NotFound("target " + config().name + ": restore point " + point.id + " of service " +
                              point.service + " is incomplete (no manifest archive " + prefix +
                              ".manifest): it cannot be restored");
    return std::unique_ptr<PartReader>(new BorgPartReader(borg_, prefix));
  }

  Status Remove(const RestorePoint& point) override {
    if (!ValidServiceName(point.service) || !IsPointId(point.id))
      return Status::InvalidArgument("target " + config().name + ": invalid restore point " + point.service + "/" +
                                     point.id);
    const std::string prefix = point.service + "." + point.id;
    BorgRunner::Options o;
    // One borg transaction: the manifest and the parts disappear together.
    CAIRN_ASSIGN_OR_RETURN(auto out,
                           borg_->Run("delete", {"--list", "--glob-archives", prefix + ".*", borg_->location()},
                                      "removing restore point " + point.id, o));
    for (const LogEntry& e : ParseLog(out.log))
      if (e.message.rfind("Deleting archive", 0) == 0) return Status::Ok();
    return Status::NotFound("target " + config().name + ": restore point " + point.id + " of service " + point.service +
                            " does not exist");
  }

  Status Compact() override {
    CAIRN_RETURN_IF_ERROR(Initialize());
    return borg_->Run("compact", {borg_->location()}, "compacting", {}).status();
  }

  Result<std::vector<RetentionDecision>> ApplyRetention(const std::string& service, bool dry_run,
                                                        bool compact) override {
    const RetentionPolicy& policy = config().retention;
    if (policy.Empty()) return Status::InvalidArgument("target " + config().name + " has no retention policy");
    if (!policy.keep_tags.empty())
      return Status::InvalidArgument("target " + config().name +
                                     ": borg prune cannot apply keep_tags (borg archives carry no Cairn tags)");
    CAIRN_RETURN_IF_ERROR(policy.Validate());
    if (!service.empty() && !ValidServiceName(service))
      return Status::InvalidArgument("target " + config().name + ": invalid service name '" + service + "'");

    CAIRN_ASSIGN_OR_RETURN(auto groups, Points(service));
    std::set<std::string> services;
    for (const auto& [key, group] : groups) services.insert(group.service);
    std::vector<RetentionDecision> decisions;
    std::vector<std::string> doomed;  // archives to delete once borg prune removed the manifests
    std::set<std::string> removed_points, kept_points;
    for (const std::string& svc : services) {
      CAIRN_RETURN_IF_ERROR(Prune(svc, groups, dry_run, &decisions, &doomed, &removed_points, &kept_points));
    }
    if (!dry_run) {
      BorgRunner::Options o;
      o.tolerate_warnings = true;  // "archive not found": removed meanwhile by someone else
      for (size_t i = 0; i < doomed.size(); i += kDeleteBatch) {
        std::vector<std::string> args = {borg_->location()};
        args.insert(args.end(), doomed.begin() + i, doomed.begin() + std::min(doomed.size(), i + kDeleteBatch));
        CAIRN_RETURN_IF_ERROR(borg_->Run("delete", args, "removing pruned restore points", o).status());
      }
      CAIRN_RETURN_IF_ERROR(VerifyWhole(service, removed_points, kept_points));
      if (!removed_points.empty() && compact)
        CAIRN_RETURN_IF_ERROR(borg_->Run("compact", {borg_->location()}, "compacting", {}).status());
    }
    std::stable_sort(decisions.begin(), decisions.end(), [&](const RetentionDecision& a, const RetentionDecision& b) {
      return TimeOf(groups, a.id) > TimeOf(groups, b.id);
    });
    return decisions;
  }

  Status Check(bool read_data) override {
    std::vector<std::string> args;
    if (read_data) args.push_back("--verify-data");
    args.push_back(borg_->location());
    BorgRunner::Options o;
    o.tolerate_warnings = true;
    CAIRN_ASSIGN_OR_RETURN(auto out, borg_->Run("check", args, "checking", o));
    if (out.exit_code == 0) return Status::Ok();
    // borg check exits 1 when it found problems; its first error says which.
    std::string cause;
    for (const LogEntry& e : ParseLog(out.log)) {
      if ((e.level == "ERROR" || e.level == "WARNING" || e.level == "CRITICAL") && cause.empty())
        cause = FirstLine(e.message);
    }
    return Status::Corruption("target " + config().name + ": borg check found problems in borg repository " +
                              borg_->location() + (cause.empty() ? "" : ": " + cause));
  }

 private:
  using Groups = std::map<std::string, PointArchives>;  // key: "<service>.<point_id>"

  static int64_t TimeOf(const Groups& groups, const std::string& decision_id) {
    for (const auto& [key, g] : groups)
      if (g.id == decision_id) return g.time_ns;
    return 0;
  }

  Result<Groups> Points(const std::string& service) {
    std::vector<std::string> args = {"--json"};
    if (!service.empty()) args.insert(args.end(), {"--glob-archives", service + "." + PointIdGlob() + ".*"});
    args.push_back(borg_->location());
    CAIRN_ASSIGN_OR_RETURN(auto out, borg_->Run("list", args, "listing archives", {}));
    Json j = Json::parse(out.out, nullptr, false);
    if (!j.is_object() || !j.contains("archives") || !j["archives"].is_array())
      return Status::IOError("target " + config().name + ": borg list printed no archive list");
    Groups groups;
    for (const Json& a : j["archives"]) {
      Archive archive;
      archive.name = a.value("name", "");
      archive.id = a.value("id", "");
      auto split = SplitArchiveName(archive.name, service);
      if (!split) continue;  // not Cairn's
      archive.split = *split;
      auto t = ParseTime(a.value("time", ""));
      archive.time_ns = t.ok() ? *t : 0;
      PointArchives& group = groups[split->service + "." + split->point_id];
      group.service = split->service;
      group.id = split->point_id;
      if (group.archives.empty() || archive.time_ns < group.time_ns) group.time_ns = archive.time_ns;
      if (split->part == kManifestPart) group.manifest = archive;
      group.archives.push_back(std::move(archive));
    }
    return groups;
  }

  Result<RestorePoint> Describe(const PointArchives& group) {
    RestorePoint p;
    p.id = group.id;
    p.service = group.service;
    p.target = config().name;
    p.time_ns = group.time_ns;
    p.status = "incomplete";
    p.native_id = group.Prefix();
    if (!group.manifest) return p;
    CAIRN_ASSIGN_OR_RETURN(auto out,
                           borg_->Run("extract", {"--stdout", borg_->Archive(group.manifest->name), kManifestFile},
                                      "reading the manifest of restore point " + group.id, {}));
    Json manifest = Json::parse(out.out, nullptr, false);
    if (!manifest.is_object()) return p;  // unreadable manifest: not restorable
    std::set<std::string> present;
    for (const Archive& a : group.archives) present.insert(a.split.part);
    bool whole = true;
    uint64_t size = 0;
    for (const Json& part : manifest.value("parts", Json::array())) {
      if (!part.is_object()) continue;
      whole = whole && present.count(part.value("name", ""));
      size += part.value("bytes", uint64_t{0});
    }
    if (manifest.contains("time") && manifest["time"].is_string()) {
      auto t = ParseTime(manifest["time"].get<std::string>());
      if (t.ok()) p.time_ns = *t;
    }
    p.kind = manifest.value("kind", "");
    p.size = size;
    p.duration_s = manifest.value("duration_s", 0.0);
    p.manifest = std::move(manifest);
    if (whole) p.status = "complete";
    return p;
  }

  std::vector<std::string> PolicyArgs() const {
    const RetentionPolicy& policy = config().retention;
    std::vector<std::string> args;
    auto add = [&args](const char* flag, int n) {
      if (n != 0) args.push_back(std::string(flag) + "=" + std::to_string(n));
    };
    add("--keep-last", policy.keep_last);
    add("--keep-hourly", policy.keep_hourly);
    add("--keep-daily", policy.keep_daily);
    add("--keep-weekly", policy.keep_weekly);
    add("--keep-monthly", policy.keep_monthly);
    add("--keep-yearly", policy.keep_yearly);
    if (policy.keep_within.count() > 0)
      args.push_back("--keep-within=" + std::to_string((policy.keep_within.count() + 3599) / 3600) + "H");
    return args;
  }

  // Borg decides over the manifest archives alone: they are exactly the
  // complete points, one per point, so part archives (whose sets differ from
  // point to point) and incomplete points cannot skew the counting. Parts of
  // pruned points are deleted afterwards; an interruption in between leaves
  // incomplete points, never a manifest whose parts are gone.
  Status Prune(const std::string& service, const Groups& groups, bool dry_run,
               std::vector<RetentionDecision>* decisions, std::vector<std::string>* doomed,
               std::set<std::string>* removed, std::set<std::string>* kept) {
    std::map<std::string, const PointArchives*> by_manifest_id;
    int64_t newest_complete = INT64_MIN;
    for (const auto& [key, g] : groups) {
      if (g.service != service || !g.manifest) continue;
      by_manifest_id[g.manifest->id] = &g;
      newest_complete = std::max(newest_complete, g.time_ns);
    }
    if (!by_manifest_id.empty()) {
      std::vector<std::string> args = {"--list", "--glob-archives",
                                       service + "." + PointIdGlob() + "." + kManifestPart};
      if (dry_run) args.push_back("--dry-run");
      std::vector<std::string> policy = PolicyArgs();
      args.insert(args.end(), policy.begin(), policy.end());
      args.push_back(borg_->location());
      BorgRunner::Options o;
      o.merge_log = true;
      CAIRN_ASSIGN_OR_RETURN(auto out, borg_->Run("prune", args, "applying retention to service " + service, o));
      for (const LogEntry& e : ParseLog(out.log)) {
        if (e.name != "borg.output.list") continue;
        size_t open = e.message.rfind('['), close = e.message.rfind(']');
        if (open == std::string::npos || close == std::string::npos || close < open) continue;
        auto it = by_manifest_id.find(e.message.substr(open + 1, close - open - 1));
        if (it == by_manifest_id.end()) continue;
        const PointArchives& g = *it->second;
        RetentionDecision d{g.id, false, {}};
        if (e.message.rfind("Keeping", 0) == 0) {
          d.keep = true;
          size_t rule = e.message.find("(rule: ");
          if (rule != std::string::npos) {
            std::string text = e.message.substr(rule + 7, e.message.find(')', rule) - rule - 7);
            d.reasons.push_back(RetentionReason(text.substr(0, text.find(" #")), config().retention));
          } else {
            d.reasons.push_back("checkpoint");
          }
          kept->insert(g.Prefix());
        } else if (e.message.rfind("Would prune", 0) == 0 || e.message.rfind("Pruning archive", 0) == 0) {
          removed->insert(g.Prefix());
          for (const Archive& a : g.archives)
            if (a.split.part != kManifestPart) doomed->push_back(a.name);
        } else {
          continue;
        }
        decisions->push_back(std::move(d));
      }
    }
    const int64_t now = NowNs();
    for (const auto& [key, g] : groups) {
      if (g.service != service || g.manifest) continue;
      if (g.time_ns >= newest_complete || now - g.time_ns < kIncompleteGraceNs) continue;
      decisions->push_back(RetentionDecision{g.id, false, {}});
      removed->insert(g.Prefix());
      for (const Archive& a : g.archives) doomed->push_back(a.name);
    }
    return Status::Ok();
  }

  // The promise of retention: whole points kept or whole points gone.
  Status VerifyWhole(const std::string& service, const std::set<std::string>& removed,
                     const std::set<std::string>& kept) {
    CAIRN_ASSIGN_OR_RETURN(auto after, Points(service));
    for (const std::string& prefix : removed)
      if (after.count(prefix))
        return Status::IOError("target " + config().name + ": retention left archives of removed restore point " +
                               prefix + " behind in borg repository " + borg_->location());
    for (const std::string& prefix : kept)
      if (!after.count(prefix) || !after.at(prefix).manifest)
        return Status::IOError("target " + config().name + ": retention removed the manifest of kept restore point " +
                               prefix + " in borg repository " + borg_->location());
    return Status::Ok();
  }

  std::shared_ptr<const BorgRunner> borg_;
  bool initialized_ = false;
};

Result<std::string> StringSetting(const TargetConfig& c, const std::string& key, const std::string& fallback) {
  if (!c.settings.contains(key)) return fallback;
  const Json& v = c.settings[key];
  if (!v.is_string()) return Status::InvalidArgument("target " + c.name + ": " + key + " must be a string");
  return v.get<std::string>();
}

std::string DefaultBaseDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/cairn/borg";
  const char* home = std::getenv("HOME");
  std::string h = home && *home ? home : "";
  if (h.empty())
    if (struct passwd* pw = ::getpwuid(::geteuid())) h = pw->pw_dir;
  return (h.empty() ? std::string("/tmp") : h) + "/.cache/cairn/borg";
}

}  // namespace

Result<std::unique_ptr<Target>> OpenBorgTarget(const TargetConfig& config) {
  const std::string where = "target " + config.name;
  if (config.location.empty()) return Status::InvalidArgument(where + ": location is required");
  if (config.location.find("::") != std::string::npos)
    return Status::InvalidArgument(where + ": location names a borg repository, not an archive (no '::')");
  if (!config.settings.is_object()) return Status::InvalidArgument(where + ": settings must be a mapping");
  for (const auto& [key, value] : config.settings.items())
    if (!kSettings.count(key))
      return Status::InvalidArgument(where + ": unknown borg setting '" + key +
                                     "' (compression, ssh_command, remote_path, encryption, base_dir, lock_wait)");
  CAIRN_ASSIGN_OR_RETURN(std::string compression, StringSetting(config, "compression", "zstd,3"));
  CAIRN_ASSIGN_OR_RETURN(std::string ssh, StringSetting(config, "ssh_command", ""));
  CAIRN_ASSIGN_OR_RETURN(std::string remote_path, StringSetting(config, "remote_path", ""));
  CAIRN_ASSIGN_OR_RETURN(std::string encryption, StringSetting(config, "encryption", "repokey-blake2"));
  CAIRN_ASSIGN_OR_RETURN(std::string base_dir, StringSetting(config, "base_dir", DefaultBaseDir()));
  int lock_wait = 60;
  if (config.settings.contains("lock_wait")) {
    const Json& v = config.settings["lock_wait"];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 86400)
      return Status::InvalidArgument(where + ": lock_wait must be a number of seconds");
    lock_wait = v.get<int>();
  }
  if (compression.empty()) return Status::InvalidArgument(where + ": compression must not be empty");
  if (config.password.empty() && encryption != "none")
    return Status::InvalidArgument(where + ": a borg repository with encryption " + encryption +
                                   " needs a passphrase (password or password_file)");
  if (ssh.empty()) {
    // A scheduled backup must fail, not wait for someone to type a password.
    const char* env = std::getenv("BORG_RSH");
    ssh = env && *env ? env : "ssh -o BatchMode=yes";
  }
  auto runner = std::make_shared<const BorgRunner>(config, compression, ssh, remote_path, base_dir, lock_wait);
  return std::unique_ptr<Target>(new BorgTarget(std::move(runner)));
}

}  // namespace cairn
