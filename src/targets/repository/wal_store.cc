#include "targets/repository/wal_store.h"

#include <algorithm>
#include <cstring>

#include "cairn/crypto.h"
#include "cairn/format.h"
#include "util/binlog_names.h"

namespace cairn {
namespace {

bool IsHex(const std::string& s, size_t from, size_t n) {
  if (s.size() < from + n) return false;
  for (size_t i = from; i < from + n; ++i)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F'))) return false;
  return true;
}

bool IsServiceName(const std::string& s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string Key(const std::string& service, const std::string& name) { return "wal/" + service + "/" + name; }

Status CheckNames(const std::string& service, const std::string& name) {
  if (!IsServiceName(service)) return Status::InvalidArgument("'" + service + "' cannot name a WAL archive");
  if (name != "HEAD" && !IsWalName(name)) return Status::InvalidArgument("'" + name + "' is not a WAL file name");
  return Status::Ok();
}

Bytes Encode(Repository& repo, const std::string& key, ByteView data, Status* st) {
  const Id id = crypto::Sha256(ByteView(reinterpret_cast<const uint8_t*>(key.data()), key.size()));
  Bytes out(4, 0);
  auto raw = EncodeBlob(repo.key(), id, data, CompressionOptions{}, &out);
  if (!raw.ok()) {
    *st = raw.status();
    return {};
  }
  const uint32_t n = *raw;
  std::memcpy(out.data(), &n, 4);  // little-endian hosts only, as the rest of the format
  return out;
}

Result<Bytes> Decode(Repository& repo, const std::string& key, ByteView stored) {
  if (stored.size() < 4) return Status::Corruption(key + " is corrupt: too short");
  uint32_t raw = 0;
  std::memcpy(&raw, stored.data(), 4);
  const Id id = crypto::Sha256(ByteView(reinterpret_cast<const uint8_t*>(key.data()), key.size()));
  Bytes plain;
  CAIRN_RETURN_IF_ERROR(DecodeBlob(repo.key(), id, stored.subspan(4), raw, &plain).WithContext(key + " is corrupt"));
  return plain;
}

}  // namespace

bool IsWalName(const std::string& name) {
  if (name.size() == 24) return IsHex(name, 0, 24);
  if (name.size() == 32 && name.ends_with(".partial")) return IsHex(name, 0, 24);
  if (name.size() == 16 && name.ends_with(".history")) return IsHex(name, 0, 8);
  return binlog::ParsePiece(name, nullptr);  // a MariaDB binary log piece
}

Status PutWalObject(Repository& repo, const std::string& service, const std::string& name, ByteView data,
                    int64_t now_ns) {
  CAIRN_RETURN_IF_ERROR(CheckNames(service, name));
  const std::string key = Key(service, name);
  if (!name.ends_with(".partial")) {
    // Archiving again what is archived already is normal (a retry after a
    // crash); different content under the same name never is.
    auto existing = repo.storage().Get(key);
    if (existing.ok()) {
      auto plain = Decode(repo, key, *existing);
      if (plain.ok() && plain->size() == data.size() && std::equal(plain->begin(), plain->end(), data.begin()))
        return Status::Ok();
      return Status::AlreadyExists(key + " is archived already with other content: refusing to overwrite it");
    }
    if (!existing.status().IsNotFound()) return existing.status();
  }
  Status st;
  Bytes sealed = Encode(repo, key, data, &st);
  CAIRN_RETURN_IF_ERROR(st);
  CAIRN_RETURN_IF_ERROR(repo.storage().Put(key, sealed));
  const std::string head = Json{{"name", name}, {"stored_ns", now_ns}}.dump();
  Bytes sealed_head =
      Encode(repo, Key(service, "HEAD"), ByteView(reinterpret_cast<const uint8_t*>(head.data()), head.size()), &st);
  CAIRN_RETURN_IF_ERROR(st);
  return repo.storage().Put(Key(service, "HEAD"), sealed_head);
}

Result<Bytes> GetWalObject(Repository& repo, const std::string& service, const std::string& name) {
  CAIRN_RETURN_IF_ERROR(CheckNames(service, name));
  const std::string key = Key(service, name);
  CAIRN_ASSIGN_OR_RETURN(Bytes stored, repo.storage().Get(key));
  return Decode(repo, key, stored);
}

Result<WalListing> ListWalObjects(Repository& repo, const std::string& service) {
  CAIRN_RETURN_IF_ERROR(CheckNames(service, "HEAD"));
  WalListing out;
  const std::string prefix = "wal/" + service + "/";
  CAIRN_RETURN_IF_ERROR(repo.storage().List(prefix, [&](const ObjectInfo& info) {
    std::string name = info.key.substr(info.key.rfind('/') + 1);
    if (IsWalName(name)) out.names.push_back(std::move(name));
    return Status::Ok();
  }));
  std::sort(out.names.begin(), out.names.end());
  auto head = repo.storage().Get(Key(service, "HEAD"));
  if (head.ok()) {
    CAIRN_ASSIGN_OR_RETURN(Bytes plain, Decode(repo, Key(service, "HEAD"), *head));
    Json j = Json::parse(plain.begin(), plain.end(), nullptr, false);
    if (j.is_object()) {
      out.head = j.value("name", "");
      out.head_ns = j.value("stored_ns", int64_t{0});
    }
  } else if (!head.status().IsNotFound()) {
    return head.status();
  }
  return out;
}

Status TouchWalHead(Repository& repo, const std::string& service, int64_t now_ns) {
  CAIRN_RETURN_IF_ERROR(CheckNames(service, "HEAD"));
  const std::string key = Key(service, "HEAD");
  auto stored = repo.storage().Get(key);
  if (!stored.ok()) return stored.status().IsNotFound() ? Status::Ok() : stored.status();
  CAIRN_ASSIGN_OR_RETURN(Bytes plain, Decode(repo, key, *stored));
  Json j = Json::parse(plain.begin(), plain.end(), nullptr, false);
  if (!j.is_object() || !j.contains("name")) return Status::Corruption(key + " is corrupt: not a head");
  if (j.value("stored_ns", int64_t{0}) >= now_ns) return Status::Ok();
  const std::string head = Json{{"name", j.value("name", "")}, {"stored_ns", now_ns}}.dump();
  Status st;
  Bytes sealed = Encode(repo, key, ByteView(reinterpret_cast<const uint8_t*>(head.data()), head.size()), &st);
  CAIRN_RETURN_IF_ERROR(st);
  return repo.storage().Put(key, sealed);
}

Status DeleteWalObjects(Repository& repo, const std::string& service, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    CAIRN_RETURN_IF_ERROR(CheckNames(service, name));
    Status st = repo.storage().Delete(Key(service, name));
    if (!st.ok() && !st.IsNotFound()) return st;
  }
  return Status::Ok();
}

}  // namespace cairn
