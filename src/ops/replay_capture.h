// A Capture that gives back a restore point already stored on one target,
// so that the same point (same id, same manifest) can be stored on another
// target without capturing the service again. Stream parts are piped from
// the source target's PartReader as the destination reads them; files parts
// are extracted into a private staging directory first and stored from it
// with CapturePart::root (Borg then archives exactly the paths a capture from
// "/" would have).
// Thread-safety: used by one thread, like every Capture.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cairn/service.h"
#include "cairn/target.h"

namespace cairn {

class ReplayCapture : public Capture {
 public:
  // `reader` reads `point` from its target and must outlive the capture;
  // `staging_parent` is where files parts are extracted (a temp directory).
  static Result<std::unique_ptr<ReplayCapture>> Make(const RestorePoint& point, PartReader* reader,
                                                     const std::string& staging_parent);
  ~ReplayCapture() override;

  std::vector<CapturePart>& parts() override { return parts_; }
  // The point's own facts are in the manifest the caller passes on; nothing to add.
  Result<Json> Finish() override { return Json::object(); }

 private:
  ReplayCapture() = default;
  std::vector<CapturePart> parts_;
  std::vector<std::thread> feeders_;
  std::vector<std::string> staging_;
};

}  // namespace cairn
