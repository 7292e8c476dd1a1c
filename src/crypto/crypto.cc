#include "cairn/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <cstring>
#include <memory>
#include <atomic>

namespace cairn::crypto {
namespace {

std::atomic<int> g_injected_failures{0};

// True when a test asked for this operation to fail.
bool InjectedFailure() {
  if (g_injected_failures.load(std::memory_order_relaxed) <= 0) return false;
  return g_injected_failures.fetch_sub(1) > 0;
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// EVP context creation is measurable at per-blob rates, so each thread keeps one.
EVP_CIPHER_CTX* ThreadCipherContext() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

// Encrypts frame[kNonceSize, kNonceSize+length) in place (GCM allows it),
// filling the nonce before it and the tag after it.
Status SealFrame(const uint8_t* key, uint8_t* frame, const uint8_t* plaintext, size_t length, ByteView associated) {
  uint8_t* nonce = frame;
  CAIRN_RETURN_IF_ERROR(RandomBytes(nonce, kNonceSize));
  EVP_CIPHER_CTX* ctx = ThreadCipherContext();
  int len = 0;
  bool ok = !InjectedFailure() && ctx && EVP_EncryptInit_ex(ctx, Aes256Gcm(), nullptr, key, nonce) == 1;
  if (ok && !associated.empty())
    ok = EVP_EncryptUpdate(ctx, nullptr, &len, associated.data(), static_cast<int>(associated.size())) == 1;
  uint8_t* ct = nonce + kNonceSize;
  if (ok && length) ok = EVP_EncryptUpdate(ctx, ct, &len, plaintext, static_cast<int>(length)) == 1;
  ok = ok && EVP_EncryptFinal_ex(ctx, ct + length, &len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, ct + length) == 1;
  // Encryption with a valid key cannot fail short of a broken libcrypto.
  if (!ok) return Status::IOError("AES-256-GCM encryption failed inside OpenSSL");
  return Status::Ok();
}

Status SealRaw(const uint8_t* key, ByteView plaintext, ByteView associated, Bytes* out) {
  const size_t start = out->size();
  out->resize(start + kNonceSize + plaintext.size() + kTagSize);
  Status st = SealFrame(key, out->data() + start, plaintext.data(), plaintext.size(), associated);
  if (!st.ok()) out->resize(start);
  return st;
}

Status OpenRaw(const uint8_t* key, ByteView sealed, ByteView associated, Bytes* plaintext) {
  if (sealed.size() < kSealOverhead) return Status::Corruption("encrypted object is too short");
  const uint8_t* nonce = sealed.data();
  const uint8_t* ct = nonce + kNonceSize;
  const size_t ct_len = sealed.size() - kSealOverhead;
  plaintext->resize(ct_len);
  EVP_CIPHER_CTX* ctx = ThreadCipherContext();
  if (!ctx) return Status::IOError("OpenSSL could not allocate a cipher context");
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx, Aes256Gcm(), nullptr, key, nonce) == 1;
  if (ok && !associated.empty())
    ok = EVP_DecryptUpdate(ctx, nullptr, &len, associated.data(), static_cast<int>(associated.size())) == 1;
  if (ok && ct_len) ok = EVP_DecryptUpdate(ctx, plaintext->data(), &len, ct, static_cast<int>(ct_len)) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize,
                                 const_cast<uint8_t*>(ct + ct_len)) == 1;
  ok = ok && EVP_DecryptFinal_ex(ctx, plaintext->data() + ct_len, &len) == 1;
  if (!ok) return Status::Corruption("authentication failed (data altered or wrong key)");
  return Status::Ok();
}

}  // namespace

Result<MasterKey> MasterKey::Generate() {
  MasterKey k;
  CAIRN_RETURN_IF_ERROR(RandomBytes(k.encryption.data(), k.encryption.size()));
  CAIRN_RETURN_IF_ERROR(RandomBytes(k.id_mac.data(), k.id_mac.size()));
  CAIRN_RETURN_IF_ERROR(RandomBytes(reinterpret_cast<uint8_t*>(&k.chunker_seed), sizeof(k.chunker_seed)));
  return k;
}

Bytes MasterKey::Serialize() const {
  Bytes out(encryption.begin(), encryption.end());
  out.insert(out.end(), id_mac.begin(), id_mac.end());
  PutU64(&out, chunker_seed);
  return out;
}

Result<MasterKey> MasterKey::Parse(ByteView data) {
  MasterKey k;
  ByteReader r(data);
  ByteView enc, mac;
  if (!r.Raw(kKeySize, &enc) || !r.Raw(kKeySize, &mac) || !r.U64(&k.chunker_seed) || !r.done())
    return Status::Corruption("master key has the wrong length");
  std::memcpy(k.encryption.data(), enc.data(), kKeySize);
  std::memcpy(k.id_mac.data(), mac.data(), kKeySize);
  return k;
}

Status Seal(const MasterKey& key, ByteView plaintext, Bytes* out, ByteView associated) {
  return SealRaw(key.encryption.data(), plaintext, associated, out);
}
Result<Bytes> Seal(const MasterKey& key, ByteView plaintext, ByteView associated) {
  Bytes out;
  CAIRN_RETURN_IF_ERROR(Seal(key, plaintext, &out, associated));
  return out;
}
Status SealInPlace(const MasterKey& key, uint8_t* frame, size_t length, ByteView associated) {
  return SealFrame(key.encryption.data(), frame, frame + kNonceSize, length, associated);
}
Result<Bytes> SealWithKey(const uint8_t* key32, ByteView plaintext) {
  Bytes out;
  CAIRN_RETURN_IF_ERROR(SealRaw(key32, plaintext, {}, &out));
  return out;
}
Status Open(const MasterKey& key, ByteView sealed, Bytes* plaintext, ByteView associated) {
  return OpenRaw(key.encryption.data(), sealed, associated, plaintext);
}
Status OpenWithKey(const uint8_t* key32, ByteView sealed, Bytes* plaintext) {
  return OpenRaw(key32, sealed, {}, plaintext);
}

namespace {
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
// One-shot HMAC() fetches the algorithm and expands the key on every call,
// which costs as much as hashing a small file; a thread keeps a keyed context.
// Null when OpenSSL fails.
EVP_MAC_CTX* ThreadMacContext(const MasterKey& key) {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  thread_local std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx;
  thread_local std::array<uint8_t, kKeySize> ctx_key{};
  if (!ctx || ctx_key != key.id_mac) {
    ctx.reset(mac ? EVP_MAC_CTX_new(mac) : nullptr);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_init(ctx.get(), key.id_mac.data(), kKeySize, params) != 1) {
      ctx.reset();
      return nullptr;
    }
    ctx_key = key.id_mac;
    return ctx.get();
  }
  if (EVP_MAC_init(ctx.get(), nullptr, 0, nullptr) != 1) return nullptr;  // same key: only reset the state
  return ctx.get();
}
}  // namespace

Result<Id> BlobId(const MasterKey& key, ByteView plaintext) {
  Id id;
  size_t len = 0;
  EVP_MAC_CTX* ctx = InjectedFailure() ? nullptr : ThreadMacContext(key);
  if (!ctx || EVP_MAC_update(ctx, plaintext.data(), plaintext.size()) != 1 ||
      EVP_MAC_final(ctx, id.bytes.data(), &len, id.bytes.size()) != 1 || len != id.bytes.size())
    return Status::IOError("HMAC-SHA-256 failed inside OpenSSL");
  return id;
}

Id Sha256(ByteView data) {
  Id id;
  SHA256(data.data(), data.size(), id.bytes.data());
  return id;
}

Status RandomBytes(uint8_t* out, size_t n) {
  if (InjectedFailure() || RAND_bytes(out, static_cast<int>(n)) != 1)
    return Status::IOError("the system random number generator failed");
  return Status::Ok();
}

namespace testing {
void FailNextOperations(int count) { g_injected_failures.store(count); }
}  // namespace testing

Status DeriveKey(const std::string& password, ByteView salt, const KdfParams& params,
                 std::array<uint8_t, kKeySize>* out) {
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) return Status::IOError("libsodium failed to initialise");
  if (salt.size() != crypto_pwhash_SALTBYTES) return Status::Corruption("key file salt has the wrong length");
  if (crypto_pwhash(out->data(), out->size(), password.data(), password.size(), salt.data(), params.ops_limit,
                    params.mem_limit, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status::IOError("Argon2id key derivation ran out of memory");
  return Status::Ok();
}

}  // namespace cairn::crypto
