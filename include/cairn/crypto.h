// Cryptography used by the repository format (see docs/format.md):
//  - AES-256-GCM authenticated encryption of every stored blob and metadata
//    object, with a fresh random 96-bit nonce per message;
//  - HMAC-SHA-256 under a repository secret for blob ids, so stored names
//    reveal nothing about content;
//  - SHA-256 for naming stored files by their content;
//  - Argon2id (libsodium) to derive the key that wraps the master key.
// All functions are thread-safe. Sealing contexts are cached per thread.
// Nothing here throws: a failure inside OpenSSL or of the random generator
// (which cannot happen short of a broken libcrypto or kernel, but a backup
// thread must not end the process over it) comes back as a Status.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "cairn/bytes.h"
#include "cairn/status.h"

namespace cairn::crypto {

constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kSealOverhead = kNonceSize + kTagSize;

// The repository's secrets, generated once at `repo init` and stored only
// wrapped (encrypted) in key files.
struct MasterKey {
  std::array<uint8_t, kKeySize> encryption{};  // AES-256-GCM key
  std::array<uint8_t, kKeySize> id_mac{};      // HMAC-SHA-256 key for blob ids
  uint64_t chunker_seed = 0;                   // keys the chunker's gear table

  static Result<MasterKey> Generate();
  Bytes Serialize() const;
  static Result<MasterKey> Parse(ByteView data);
};

// Output layout: nonce (12) || ciphertext || tag (16).
// `associated` is authenticated but not stored (binds a ciphertext to its role).
// Appends the sealed message to `out`.
Status Seal(const MasterKey& key, ByteView plaintext, Bytes* out, ByteView associated = {});
Result<Bytes> Seal(const MasterKey& key, ByteView plaintext, ByteView associated = {});
// Seals in place: `frame` holds kNonceSize free bytes, then `length` bytes of
// plaintext, then kTagSize free bytes; saves a copy of large blobs.
Status SealInPlace(const MasterKey& key, uint8_t* frame, size_t length, ByteView associated);
// Same, with a raw 32-byte key (used for key files).
Result<Bytes> SealWithKey(const uint8_t* key32, ByteView plaintext);
// Corruption when the message was altered or the key is wrong.
Status Open(const MasterKey& key, ByteView sealed, Bytes* plaintext, ByteView associated = {});
Status OpenWithKey(const uint8_t* key32, ByteView sealed, Bytes* plaintext);

Result<Id> BlobId(const MasterKey& key, ByteView plaintext);
Id Sha256(ByteView data);
Status RandomBytes(uint8_t* out, size_t n);

namespace testing {
// Makes the next `count` sealing, blob-id or random-number operations (of any
// thread) fail as if libcrypto had, so tests can prove such a failure ends
// as an error and not as std::terminate. Test-only; 0 turns it off.
void FailNextOperations(int count);
}  // namespace testing

struct KdfParams {
  // Above OWASP's Argon2id minimums (19 MiB x 2 passes), and kept at 32 MiB
  // so that opening a repository does not dominate a backup's peak memory.
  uint64_t ops_limit = 3;                    // Argon2id passes
  uint64_t mem_limit = 32ull * 1024 * 1024;  // bytes of memory
};
// Derives a 32-byte key from a password with Argon2id.
Status DeriveKey(const std::string& password, ByteView salt, const KdfParams& params,
                 std::array<uint8_t, kKeySize>* out);

}  // namespace cairn::crypto
