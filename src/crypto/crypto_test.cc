#include "cairn/crypto.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>

namespace cairn::crypto {
namespace {

Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(CryptoTest, SealOpenRoundTrip) {
  MasterKey key = MasterKey::Generate().value();
  for (size_t size : {0, 1, 15, 16, 17, 4096, 1 << 20}) {
    Bytes plain(size);
    ASSERT_TRUE(RandomBytes(plain.data(), plain.size()).ok());
    Bytes sealed = Seal(key, plain).value();
    ASSERT_EQ(sealed.size(), size + kSealOverhead);
    Bytes opened;
    ASSERT_TRUE(Open(key, sealed, &opened).ok());
    EXPECT_EQ(opened, plain);
  }
}

TEST(CryptoTest, SealingTwiceGivesDifferentCiphertexts) {
  MasterKey key = MasterKey::Generate().value();
  EXPECT_NE(Seal(key, Text("same")).value(), Seal(key, Text("same")).value());
}

TEST(CryptoTest, EveryFlippedByteIsDetected) {
  MasterKey key = MasterKey::Generate().value();
  Bytes sealed = Seal(key, Text("a message that must not be altered")).value();
  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes damaged = sealed;
    damaged[i] ^= 0x01;
    Bytes out;
    Status st = Open(key, damaged, &out);
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << "byte " << i;
  }
}

TEST(CryptoTest, WrongKeyTruncationAndContextAreRejected) {
  MasterKey key = MasterKey::Generate().value(), other = MasterKey::Generate().value();
  Bytes sealed = Seal(key, Text("payload"), Text("role-a")).value();
  Bytes out;
  EXPECT_FALSE(Open(other, sealed, &out, Text("role-a")).ok());
  EXPECT_FALSE(Open(key, sealed, &out, Text("role-b")).ok());
  EXPECT_TRUE(Open(key, sealed, &out, Text("role-a")).ok());
  EXPECT_FALSE(Open(key, ByteView(sealed).first(kSealOverhead - 1), &out).ok());
}

TEST(CryptoTest, BlobIdsAreKeyedAndDeterministic) {
  MasterKey a = MasterKey::Generate().value(), b = MasterKey::Generate().value();
  EXPECT_EQ(BlobId(a, Text("chunk")).value(), BlobId(a, Text("chunk")).value());
  EXPECT_NE(BlobId(a, Text("chunk")).value(), BlobId(b, Text("chunk")).value());
  EXPECT_NE(BlobId(a, Text("chunk")).value(), Sha256(Text("chunk")));
}

TEST(CryptoTest, BlobIdIsHmacSha256KnownAnswer) {
  MasterKey k;
  k.id_mac.fill(0);
  std::memcpy(k.id_mac.data(), "key", 3);  // HMAC pads short keys with zeros, so this is key "key"
  EXPECT_EQ(BlobId(k, Text("abc")).value().Hex(), "9c196e32dc0175f86f4b1cb89289d6619de6bee699e4c378e68309ed97a1a6ab");
  EXPECT_EQ(BlobId(k, Text("abc")).value(), BlobId(k, Text("abc")).value());  // the reused context resets
}

TEST(CryptoTest, FailuresInsideOpenSslAreStatusesNotExceptions) {
  MasterKey key = MasterKey::Generate().value();
  testing::FailNextOperations(3);
  EXPECT_EQ(Seal(key, Text("x")).status().code(), StatusCode::kIOError);
  EXPECT_EQ(BlobId(key, Text("x")).status().code(), StatusCode::kIOError);
  uint8_t buf[8];
  EXPECT_EQ(RandomBytes(buf, sizeof(buf)).code(), StatusCode::kIOError);
  EXPECT_TRUE(BlobId(key, Text("x")).ok());  // the injected failures are used up
}

TEST(CryptoTest, Sha256KnownAnswer) {
  EXPECT_EQ(Sha256(Text("abc")).Hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, MasterKeySerializesAndRejectsBadLengths) {
  MasterKey k = MasterKey::Generate().value();
  auto parsed = MasterKey::Parse(k.Serialize());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->encryption, k.encryption);
  EXPECT_EQ(parsed->id_mac, k.id_mac);
  EXPECT_EQ(parsed->chunker_seed, k.chunker_seed);
  Bytes short_key = k.Serialize();
  short_key.pop_back();
  EXPECT_FALSE(MasterKey::Parse(short_key).ok());
}

TEST(CryptoTest, KeyDerivationDependsOnPasswordAndSalt) {
  KdfParams cheap{1, 8 * 1024 * 1024};
  Bytes salt(crypto_pwhash_SALTBYTES, 1), salt2(crypto_pwhash_SALTBYTES, 2);
  std::array<uint8_t, kKeySize> a, b, c, d;
  ASSERT_TRUE(DeriveKey("password", salt, cheap, &a).ok());
  ASSERT_TRUE(DeriveKey("password", salt, cheap, &b).ok());
  ASSERT_TRUE(DeriveKey("passwore", salt, cheap, &c).ok());
  ASSERT_TRUE(DeriveKey("password", salt2, cheap, &d).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  EXPECT_FALSE(DeriveKey("password", Bytes(3), cheap, &a).ok());
}

}  // namespace
}  // namespace cairn::crypto
