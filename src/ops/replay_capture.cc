#include "ops/replay_capture.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>

#include "util/process.h"
#include "util/staging.h"

namespace cairn {
namespace {

// The result of one feeder thread, handed to the part's finish.
struct Feed {
  std::mutex mu;
  Status status;
  bool done = false;
};

}  // namespace

Result<std::unique_ptr<ReplayCapture>> ReplayCapture::Make(const RestorePoint& point, PartReader* reader,
                                                            const std::string& staging_parent) {
  std::unique_ptr<ReplayCapture> capture(new ReplayCapture());
  const Json parts = point.manifest.value("parts", Json::array());
  if (!parts.is_array() || parts.empty())
    return Status::Corruption("restore point " + point.id + " has no parts in its manifest");
  for (const Json& p : parts) {
    CapturePart part;
    part.name = p.value("name", "");
    const std::string kind = p.value("kind", "");
    if (kind == "stream") {
      part.kind = CapturePart::Kind::kStream;
      part.file_name = p.value("file", "");
      auto feed = std::make_shared<Feed>();
      ReplayCapture* self = capture.get();
      const std::string name = part.name, file = part.file_name;
      part.open = [self, reader, name, file, feed]() -> Result<int> {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "cannot create a pipe");
        self->feeders_.emplace_back([reader, name, file, feed, write_fd = fds[1]] {
          BlockSigpipeInThisThread();  // the consumer may stop reading early
          Status st = reader->ReadStream(name, file, write_fd);
          ::close(write_fd);
          std::lock_guard lock(feed->mu);
          feed->status = st;
          feed->done = true;
        });
        return fds[0];
      };
      part.finish = [self, feed]() -> Status {
        for (auto& t : self->feeders_)
          if (t.joinable()) t.join();
        std::lock_guard lock(feed->mu);
        return feed->done ? feed->status : Status::IOError("the stored part was never read");
      };
    } else if (kind == "files") {
      part.kind = CapturePart::Kind::kFiles;
      part.paths = p.value("paths", std::vector<std::string>{});
      CAIRN_ASSIGN_OR_RETURN(std::string dir, MakeStagingDir(staging_parent, ".cairn-replay-"));
      capture->staging_.push_back(dir);
      CAIRN_RETURN_IF_ERROR(reader->ExtractFiles(part.name, dir).WithContext("reading part " + part.name));
      part.root = dir;
    } else {
      return Status::Corruption("restore point " + point.id + ": part '" + part.name + "' has unknown kind '" + kind +
                                "'");
    }
    capture->parts_.push_back(std::move(part));
  }
  return capture;
}

ReplayCapture::~ReplayCapture() {
  for (auto& t : feeders_)
    if (t.joinable()) t.join();
  std::error_code ec;
  for (const auto& dir : staging_) std::filesystem::remove_all(dir, ec);
}

}  // namespace cairn
