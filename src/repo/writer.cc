#include <pthread.h>

#include <algorithm>

#include "cairn/repository.h"

namespace cairn {

std::string PackKey(const Id& pack) { return "data/" + pack.Hex().substr(0, 2) + "/" + pack.Hex(); }

RepositoryWriter::RepositoryWriter(Repository& repo, const CompressionOptions& compression,
                                   bool dedup_against_index)
    : repo_(repo), compression_(compression), dedup_against_index_(dedup_against_index) {
  // Closed packs waiting for or in upload are the writer's whole memory cost,
  // so allow only as many as there are uploaders.
  const int uploaders = std::max(1, repo.storage().capabilities().preferred_concurrency);
  max_queued_ = static_cast<size_t>(uploaders);
  for (int i = 0; i < uploaders; ++i) uploaders_.emplace_back(&RepositoryWriter::UploadLoop, this);
}

RepositoryWriter::~RepositoryWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& t : uploaders_)
    if (t.joinable()) t.join();
}

bool RepositoryWriter::Known(const Id& id) const {
  {
    std::lock_guard lock(mu_);
    if (pending_.count(id)) return true;
  }
  return dedup_against_index_ && repo_.Lookup(id).has_value();
}

bool RepositoryWriter::AddEncoded(BlobType type, const Id& id, ByteView stored, uint32_t raw_length) {
  std::unique_lock lock(mu_);
  if (pending_.count(id) || (dedup_against_index_ && repo_.Lookup(id))) return false;
  pending_.emplace(id, true);
  OpenPack& pack = open_[static_cast<int>(type)];
  if (pack.data.empty() && type == BlobType::kData && !spare_buffers_.empty()) {
    pack.data = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  // A data pack reserves, once, the most it can hold: a pack closes at
  // pack_size, so one more blob of at most the largest chunk fits. Reserved
  // pages cost nothing until written; growing by doubling would copy and
  // touch up to twice the memory.
  const size_t most = repo_.config().pack_size + repo_.config().chunker.max_size + 4096;
  if (type == BlobType::kData && pack.data.capacity() < pack.data.size() + stored.size())
    pack.data.reserve(std::max<size_t>(pack.data.size() + stored.size(), most));
  pack.blobs.push_back(PackedBlob{type, id, static_cast<uint32_t>(pack.data.size()),
                                  static_cast<uint32_t>(stored.size()), raw_length});
  pack.data.insert(pack.data.end(), stored.begin(), stored.end());
  bytes_stored_ += stored.size();
  if (pack.data.size() >= repo_.config().pack_size) {
    // ClosePack may wait for an upload slot; it takes the lock with it.
    lock.release();
    ClosePack(&pack);
    mu_.unlock();
  }
  return true;
}

Result<Id> RepositoryWriter::Add(BlobType type, ByteView plaintext) {
  CAIRN_ASSIGN_OR_RETURN(Id id, crypto::BlobId(repo_.key(), plaintext));
  if (Known(id)) return id;
  Bytes stored;
  CAIRN_ASSIGN_OR_RETURN(uint32_t raw, EncodeBlob(repo_.key(), id, plaintext, compression_, &stored));
  AddEncoded(type, id, stored, raw);
  return id;
}

void RepositoryWriter::ClosePack(OpenPack* pack) {
  std::unique_lock lock(mu_, std::adopt_lock);
  if (!pack->blobs.empty()) {
    // Take the pack out before waiting, so that other adders start a new one.
    Bytes data = std::move(pack->data);
    std::vector<PackedBlob> blobs = std::move(pack->blobs);
    pack->data = Bytes();
    pack->blobs.clear();
    auto header = crypto::Seal(repo_.key(), EncodePackHeader(blobs));
    if (!header.ok()) {
      if (upload_status_.ok()) upload_status_ = header.status().WithContext("sealing a pack header");
    } else {
      data.insert(data.end(), header->begin(), header->end());
      PutU32(&data, static_cast<uint32_t>(header->size()));
      queue_cv_.wait(lock, [&] { return queue_.size() + uploads_in_flight_ < max_queued_ || stopping_; });
      queue_.emplace_back(std::move(data), std::move(blobs));
      queue_cv_.notify_all();
    }
  }
  lock.release();
}

void RepositoryWriter::UploadLoop() {
  pthread_setname_np(pthread_self(), "cairn-upload");
  std::unique_lock lock(mu_);
  for (;;) {
    queue_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;
    auto [data, blobs] = std::move(queue_.front());
    queue_.erase(queue_.begin());
    ++uploads_in_flight_;
    lock.unlock();
    const Id pack_id = crypto::Sha256(data);
    Status st;
    try {
      st = repo_.storage().PutUnsynced(PackKey(pack_id), data);
    } catch (const std::exception& e) {  // an upload thread must not end the process
      st = Status::IOError(std::string("internal error while writing a pack: ") + e.what());
    }
    data.clear();
    lock.lock();
    if (data.capacity() >= repo_.config().pack_size && spare_buffers_.empty()) spare_buffers_.push_back(std::move(data));
    --uploads_in_flight_;
    if (st.ok()) {
      written_.push_back(PackContents{pack_id, std::move(blobs)});
      ++packs_written_;
    } else if (upload_status_.ok()) {
      upload_status_ = st.WithContext("writing pack");
    }
    queue_cv_.notify_all();
  }
}

Status RepositoryWriter::Finish() {
  mu_.lock();
  for (OpenPack& pack : open_) {
    ClosePack(&pack);  // keeps mu_ locked
  }
  stopping_ = true;
  mu_.unlock();
  queue_cv_.notify_all();
  for (auto& t : uploaders_)
    if (t.joinable()) t.join();
  std::lock_guard lock(mu_);
  CAIRN_RETURN_IF_ERROR(upload_status_);
  if (!written_.empty()) {
    // Packs must be durable before an index names them, and the index file
    // before the in-memory index does: a Repository outlives a failed writer
    // (the daemon keeps them open), and deduplicating against blobs whose
    // index file was never written would save snapshots that cannot be read.
    CAIRN_RETURN_IF_ERROR(repo_.storage().Flush().WithContext("syncing packs"));
    auto index = repo_.PutContentAddressed("index", EncodeIndex(written_));
    if (!index.ok()) return index.status().WithContext("writing index");
    index_written_ = *index;
    for (const PackContents& p : written_) repo_.AddToIndex(p.pack_id, p.blobs);
    written_.clear();
  }
  return Status::Ok();
}

}  // namespace cairn
