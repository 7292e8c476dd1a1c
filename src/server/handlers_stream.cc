// The two responses that outlive their handler: the event stream and file
// downloads. Both are written by the connection's thread from a content
// provider after the handler returned.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "server/api_server_core.h"
#include "server/http_util.h"
#include "util/process.h"

namespace cairn {
namespace {

using SteadyClock = std::chrono::steady_clock;

// ------------------------------------------------------------------ events

struct EventStream {
  std::shared_ptr<SseClient> client;
  Connection* connection = nullptr;
  std::chrono::milliseconds heartbeat{15000};
  SteadyClock::time_point last_write = SteadyClock::now();
  bool started = false;
};

// One step of an event stream: write what is queued, or a heartbeat when
// one is due, or wait. Returns false to end the stream.
bool StreamEvents(EventStream& s, httplib::DataSink& sink) {
  if (!s.started) {
    s.started = true;
    s.last_write = SteadyClock::now();
    // Sent at once so that the client (and any proxy) sees the stream open;
    // `retry` is how long an EventSource waits before it reconnects.
    static const std::string kHello = ": connected\nretry: 3000\n\n";
    return sink.write(kHello.data(), kHello.size());
  }
  for (;;) {
    std::string batch;
    if (s.client->Take(&batch) != SseClient::State::kOpen) return false;
    const auto now = SteadyClock::now();
    if (!batch.empty()) {
      s.last_write = now;
      return sink.write(batch.data(), batch.size());
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(s.last_write + s.heartbeat - now);
    if (left.count() <= 0) {
      s.last_write = now;
      static const std::string kHeartbeat = ": keep-alive\n\n";
      return sink.write(kHeartbeat.data(), kHeartbeat.size());
    }
    if (s.connection->WaitForWake(s.client->wake_fd(), left) == Connection::Wake::kPeerGone) return false;
  }
}

// ------------------------------------------------------------------ downloads

// DaemonApi::DownloadFile pushes bytes; httplib pulls them. A producer thread
// runs the daemon's call and hands pieces over through a small bounded queue,
// so a slow client slows the daemon's reading instead of growing memory.
struct Download final : Interruptible {
  static constexpr size_t kMaxQueuedBytes = 1 << 20;
  static constexpr auto kStallLimit = std::chrono::seconds(60);

  std::mutex mu;
  std::condition_variable cv;
  bool started = false, done = false, cancelled = false;
  FileDownload file;
  Status status;
  std::deque<std::string> pieces;
  size_t queued = 0;
  std::thread producer;

  bool Push(ByteView bytes) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return cancelled || queued < kMaxQueuedBytes; });
    if (cancelled) return false;
    if (bytes.empty()) return true;  // a daemon asking whether to go on
    pieces.emplace_back(AsString(bytes));
    queued += bytes.size();
    cv.notify_all();
    return true;
  }

  // The next piece into `out`; false when the file ended early, failed,
  // stalled, or the server stops.
  bool Pop(std::string* out) {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, kStallLimit, [&] { return !pieces.empty() || done || cancelled; })) return false;
    if (pieces.empty() || cancelled) return false;
    *out = std::move(pieces.front());
    pieces.pop_front();
    queued -= out->size();
    cv.notify_all();
    return true;
  }

  void Interrupt() override {
    {
      std::lock_guard lock(mu);
      cancelled = true;
    }
    cv.notify_all();
  }

  void Finish() {
    Interrupt();
    if (producer.joinable()) producer.join();
  }
};

// RFC 6266: a plain ASCII fallback and the exact name in RFC 5987 form.
std::string ContentDisposition(const std::string& name) {
  std::string ascii, encoded;
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '-' || c == '_';
    ascii += plain ? static_cast<char>(c) : '_';
    if (plain) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  if (ascii.empty()) ascii = encoded = "download";
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

}  // namespace

void HandleEvents(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  Connection* connection = HttpTransport::Current();
  if (!connection) {
    SendError(r.res, 500, "event streams need the server's own connections");
    return;
  }
  auto client = core.sse.Add();
  if (!client) {
    r.res.set_header("Retry-After", "10");
    SendError(r.res, 503, "too many event streams are open");
    return;
  }
  auto stream = std::make_shared<EventStream>();
  stream->client = client;
  stream->connection = connection;
  stream->heartbeat = core.sse.limits().heartbeat;
  r.res.status = 200;
  // Proxies that buffer responses (nginx) would hold events back.
  r.res.set_header("X-Accel-Buffering", "no");
  SseHub* hub = &core.sse;
  // The exact type "text/event-stream": httplib compresses other text types.
  r.res.set_chunked_content_provider(
      "text/event-stream", [stream](size_t, httplib::DataSink& sink) { return StreamEvents(*stream, sink); },
      [hub, client](bool) { hub->Remove(client); });
}

void HandleFileContent(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  const std::optional<std::string> path = q.Text("path");
  if (!core.FinishQuery(r, q)) return;
  if (!path) {
    SendError(r.res, 400, "query parameter 'path' is required");
    return;
  }
  if (Status st = CheckSnapshotPath(*path, /*allow_root=*/false); !st.ok()) {
    SendError(r.res, 400, "query parameter 'path': " + st.message());
    return;
  }
  if (core.downloads.fetch_add(1) >= static_cast<int>(core.options.max_downloads)) {
    core.downloads.fetch_sub(1);
    r.res.set_header("Retry-After", "10");
    SendError(r.res, 503, "too many downloads at once; try again shortly");
    return;
  }
  auto dl = std::make_shared<Download>();
  const std::string service = r.match.params.service, point = r.match.params.point;
  DaemonApi* daemon = &core.daemon;
  dl->producer = std::thread([dl, daemon, service, point, file = *path] {
    BlockSigpipeInThisThread();
    Status st = daemon->DownloadFile(
        service, point, file,
        [&](const FileDownload& f) {
          std::lock_guard lock(dl->mu);
          dl->file = f;
          dl->started = true;
          dl->cv.notify_all();
        },
        [&](ByteView bytes) { return dl->Push(bytes); });
    std::lock_guard lock(dl->mu);
    dl->status = std::move(st);
    dl->done = true;
    dl->cv.notify_all();
  });
  ApiServer::Core* owner = &core;
  core.Track(dl);
  auto release = [dl, owner](bool) {
    dl->Finish();
    owner->Untrack(dl);
    owner->downloads.fetch_sub(1);
  };

  FileDownload file;
  Status failed;
  bool interrupted = false;
  {
    std::unique_lock lock(dl->mu);
    dl->cv.wait(lock, [&] { return dl->started || dl->done || dl->cancelled; });
    if (!dl->started && dl->done)
      failed = dl->status.ok() ? Status::IOError("the daemon sent no file") : dl->status;
    interrupted = !dl->started && !dl->done;
    file = dl->file;
  }
  if (interrupted) {
    release(true);
    return SendError(r.res, 503, "the server is stopping");
  }
  bool stopping = false;
  if (!failed.ok() || file.size == 0) {
    // Headers are not sent yet: a failure (or an empty file's outcome) can still be told.
    if (failed.ok()) {
      std::unique_lock lock(dl->mu);
      dl->cv.wait(lock, [&] { return dl->done || dl->cancelled; });
      failed = dl->status;
      stopping = !dl->done;
    }
    release(true);
    if (stopping) return SendError(r.res, 503, "the server is stopping");
    if (!failed.ok()) return core.Fail(r, failed);
    r.res.status = 200;
    r.res.set_header("Content-Disposition", ContentDisposition(file.name));
    r.res.set_content("", "application/octet-stream");
    return;
  }
  r.res.status = 200;
  r.res.set_header("Content-Disposition", ContentDisposition(file.name));
  auto pending = std::make_shared<std::string>();
  r.res.set_content_provider(
      file.size, "application/octet-stream",
      [dl, pending](size_t, size_t length, httplib::DataSink& sink) {
        // An error after the headers can only cut the body short; the
        // client sees fewer bytes than Content-Length.
        if (pending->empty() && !dl->Pop(pending.get())) return false;
        const size_t n = std::min(length, pending->size());
        if (!sink.write(pending->data(), n)) return false;
        pending->erase(0, n);
        return true;
      },
      release);
}

}  // namespace cairn
