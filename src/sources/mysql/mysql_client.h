// Running the MariaDB client tools for the MariaDB/MySQL source: finding
// them, connecting them without a password on argv, one-shot SQL scripts,
// long-lived sessions driven line by line, and mariadb-dump's progress log.
//
// Thread-safety: each object is used by one thread, except that Session and
// DumpLog run their own reader thread internally.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/private_dir.h"
#include "cairn/status.h"
#include "util/process.h"

namespace cairn::mysql {

// Where a client connects.
struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string socket;  // preferred when set
  // "127.0.0.1:3306" or "socket /run/mysqld/mysqld.sock", for messages.
  std::string Where() const;
};


// Writes all of `data` to a child's stdin pipe (EPIPE: IOError, no signal).
Status WriteToChild(int fd, const std::string& data);

// The client tools of one endpoint and account. The password never appears
// on argv: it goes into an option file (mode 600, private directory) given
// as --defaults-file, the first option, which also keeps /etc/mysql/my.cnf
// and ~/.my.cnf out; without a password the first option is --no-defaults.
class Client {
 public:
  Client(Endpoint endpoint, std::string user, std::string password, std::string bin_dir, std::string temp_base);
  // Creates the private directory and the option file.
  Status Init();

  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& user() const { return user_; }
  std::string Where() const { return endpoint_.Where(); }
  const std::string& private_dir() const { return dir_->path(); }
  const std::string& temp_base() const { return temp_base_; }
  const std::string& bin_dir() const { return bin_dir_; }
  // A copy for another endpoint with the same account.
  Result<std::unique_ptr<Client>> For(const Endpoint& endpoint) const;

  // The path of the first of `names` that is installed (bin_dir when set,
  // else PATH, then the usual sbin directories), or NotFound naming the
  // tool and the package that provides it.
  Result<std::string> Tool(const std::vector<std::string>& names, const std::string& package) const;
  // [tool, --defaults-file=...|--no-defaults, connection options..., extra...]
  std::vector<std::string> Argv(const std::string& tool, const std::vector<std::string>& extra) const;
  // A failed tool's stderr as a one-line Status naming the endpoint.
  Status Classify(const std::string& stderr_text, const std::string& action) const;

  // Runs `script` through `mariadb -N -B` (in `database` when not empty) and
  // returns its output.
  Result<std::string> RunSql(const std::string& script, const std::string& database = "",
                             const std::string& action = "MariaDB query failed",
                             const std::vector<std::string>& extra_options = {}, bool low_priority = false) const;

 private:
  Endpoint endpoint_;
  std::string user_, password_, bin_dir_, temp_base_;
  std::shared_ptr<PrivateDir> dir_;
  std::string first_option_ = "--no-defaults";
};

// A `mariadb` client kept open and fed statements while Cairn reads its
// output line by line (a session that must hold a lock or a snapshot across
// other work). A reader thread drains the output, so neither side blocks.
class Session {
 public:
  static Result<std::unique_ptr<Session>> Open(const Client& client, const std::string& action, bool low_priority);
  ~Session();
  Status Send(const std::string& sql);
  // The output lines up to the line `marker` (which is consumed). An ended
  // session gives the client's error; timeout_s 0 waits without limit.
  Result<std::vector<std::string>> ReadUntil(const std::string& marker, int timeout_s);
  // Ends the session (stdin closed) and reports the client's exit.
  Status Close();

 private:
  Session() = default;
  void ReadLoop(int fd);
  Status Ended();

  const Client* client_ = nullptr;
  std::string action_;
  std::unique_ptr<Process> process_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool eof_ = false;
};

// mariadb-dump's --log-error, pointed at a FIFO in a private directory: its
// --verbose progress arrives here as it happens, which tells when the dump's
// transaction has started.
class DumpLog {
 public:
  static Result<std::unique_ptr<DumpLog>> Create(const std::string& path);
  ~DumpLog();
  const std::string& path() const { return path_; }
  // Returns once the dump printed a line after "-- Starting transaction..."
  // (its START TRANSACTION WITH CONSISTENT SNAPSHOT returned). Aborted when the
  // dump ended first, IOError after timeout_s.
  Status WaitForSnapshot(Process* dump, int timeout_s);
  // Keeps reading in the background (the dump blocks on a full FIFO).
  void StartDrain();
  // After the dump exited: the text it wrote (the last 16 KiB).
  std::string Finish();

 private:
  DumpLog() = default;
  std::string path_;
  int fd_ = -1;
  std::string text_;
  std::thread drain_;
};

// Starts a server that must outlive Cairn: double fork, new session, stdio on
// /dev/null, no inherited descriptors. Returns its pid.
Result<pid_t> StartDetached(const std::vector<std::string>& argv);
// Stops such a server: SIGTERM, then up to `wait_s` seconds for it to exit
// (an exited server init has not reaped yet counts as stopped). Whether it did.
bool StopDetached(pid_t pid, int wait_s = 60);

// A TCP port on 127.0.0.1 nobody listens on right now.
Result<int> FreePort();
bool PortInUse(int port);

}  // namespace cairn::mysql
