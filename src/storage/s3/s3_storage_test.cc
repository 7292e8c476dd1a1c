// The S3 driver against a real, signature-verifying S3 server on loopback
// (s3_test_harness.h): the storage conformance suite, S3-specific behaviour,
// an independent client (rclone), and transient faults injected by a proxy.
// A server that cannot be started fails the tests; nothing is skipped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "storage/s3/s3_storage.h"
#include "storage/s3/s3_test_harness.h"
#include "storage/testing/storage_conformance.h"
#include "storage/testing/storage_test_util.h"
#include "storage/wrappers/retrying_storage.h"

namespace cairn {
namespace {

using namespace std::chrono_literals;
using s3_testing::FaultProxy;
using s3_testing::kAccessKey;
using s3_testing::kBucket;
using s3_testing::kSecret;
using s3_testing::RunCommand;
using s3_testing::S3TestServer;
using s3_testing::ShellQuote;
using storage_testing::HasCode;
using storage_testing::HoldsBytes;
using storage_testing::IsOk;
using storage_testing::ListAll;
using storage_testing::PatternBytes;

// A prefix no other test (or earlier run against a reused server) uses.
std::string UniquePrefix(const std::string& tag) {
  static std::atomic<int> counter{0};
  return tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

S3Options OptionsFor(const std::string& endpoint, const std::string& prefix) {
  S3Options o;
  o.endpoint = endpoint;
  o.bucket = kBucket;
  o.prefix = prefix;
  o.access_key_id = kAccessKey;
  o.secret_access_key = kSecret;
  o.allow_http = true;
  return o;
}

std::unique_ptr<Storage> OpenOrFail(const S3Options& o) {
  auto s = OpenS3Storage(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Fails the calling test (rather than skipping it) when the server is down.
#define REQUIRE_SERVER(server) ASSERT_TRUE((server).ok()) << "S3 test server unavailable: " << (server).error()

// ---- conformance ----

std::unique_ptr<Storage> MakeScratchS3Storage() {
  S3TestServer& server = S3TestServer::Shared();
  if (!server.ok()) {
    ADD_FAILURE() << "S3 test server unavailable: " << server.error();
    return nullptr;
  }
  return OpenOrFail(OptionsFor(server.endpoint(), UniquePrefix("conformance")));
}

}  // namespace

namespace storage_testing {
INSTANTIATE_TEST_SUITE_P(S3, StorageConformanceTest,
                         ::testing::Values(StorageDriver{"s3", &MakeScratchS3Storage}));
}  // namespace storage_testing

namespace {

class S3StorageTest : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_SERVER(server()); }
  static S3TestServer& server() { return S3TestServer::Shared(); }
  S3Options Options(const std::string& tag) const { return OptionsFor(server().endpoint(), UniquePrefix(tag)); }
};

TEST_F(S3StorageTest, WrongSecretFailsWithASignatureError) {
  S3Options good = Options("auth");
  auto storage = OpenOrFail(good);
  ASSERT_TRUE(IsOk(storage->Put("config", AsBytes("cfg"))));

  S3Options bad = good;
  bad.secret_access_key = "not-the-secret-Xy12";
  auto wrong = OpenOrFail(bad);
  Status put = wrong->Put("other", AsBytes("x"));
  EXPECT_EQ(put.code(), StatusCode::kIOError);
  EXPECT_NE(put.message().find("signature mismatch"), std::string::npos) << put.message();
  EXPECT_NE(put.message().find("SignatureDoesNotMatch"), std::string::npos) << put.message();
  EXPECT_FALSE(IsTransient(put));
  auto get = wrong->Get("config");
  EXPECT_NE(get.status().message().find("SignatureDoesNotMatch"), std::string::npos) << get.status().message();
  // HEAD answers carry no body, so only the status is known.
  auto stat = wrong->Stat("config");
  EXPECT_EQ(stat.status().code(), StatusCode::kIOError);
  EXPECT_NE(stat.status().message().find("access denied or signature mismatch"), std::string::npos)
      << stat.status().message();
  for (const Status& s : {put, get.status(), stat.status()}) {
    EXPECT_EQ(s.message().find(bad.secret_access_key), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kAccessKey), std::string::npos) << s.message();
  }

  S3Options unknown = good;
  unknown.access_key_id = "nobody-knows-me";
  Status put2 = OpenOrFail(unknown)->Put("other", AsBytes("x"));
  EXPECT_NE(put2.message().find("does not know this access key id"), std::string::npos) << put2.message();
  EXPECT_EQ(put2.message().find("nobody-knows-me"), std::string::npos) << put2.message();
}

TEST_F(S3StorageTest, MissingBucketIsAnIOErrorNotNotFound) {
  S3Options o = Options("nobucket");
  o.bucket = "no-such-bucket";
  auto storage = OpenOrFail(o);
  auto get = storage->Get("config");
  EXPECT_EQ(get.status().code(), StatusCode::kIOError) << get.status().message();
  EXPECT_NE(get.status().message().find("does not exist"), std::string::npos) << get.status().message();
}

TEST_F(S3StorageTest, ListPaginatesAndDecodesKeys) {
  FaultProxy proxy(server().port());  // forwards everything; counts requests
  ASSERT_TRUE(proxy.ok());
  S3Options o = Options("paging");
  o.endpoint = proxy.endpoint();
  o.list_page_size = 7;
  auto storage = OpenOrFail(o);
  std::map<std::string, uint64_t> expected;
  for (int i = 0; i < 40; ++i) expected["index/" + std::to_string(1000 + i)] = static_cast<uint64_t>(i);
  // Keys that must be percent-encoded in URLs and entity-encoded in XML.
  for (std::string key : {"index/a&b<c>d\"e'f", "index/space key+plus=eq", "index/\xc3\xbcml\xc3\xa4ut",
                          "index/paren(1)*[2]~!$,;@"})
    expected[key] = key.size();
  for (const auto& [key, size] : expected) ASSERT_TRUE(IsOk(storage->Put(key, PatternBytes(size, size)))) << key;

  proxy.ClearSeen();
  auto listed = ListAll(*storage, "index/");
  ASSERT_TRUE(IsOk(listed.status()));
  for (const auto& [key, size] : expected) EXPECT_TRUE(listed->contains(key)) << "missing " << key;
  for (const auto& [key, size] : *listed) EXPECT_TRUE(expected.contains(key)) << "unexpected " << key;
  EXPECT_EQ(*listed, expected);
  EXPECT_EQ(proxy.requests(), (expected.size() + 6) / 7) << "one request per page of 7";
  for (const auto& seen : proxy.seen()) EXPECT_NE(seen.request_line.find("max-keys=7"), std::string::npos);
  for (const auto& [key, size] : expected) EXPECT_TRUE(HoldsBytes(storage->Get(key), PatternBytes(size, size))) << key;
}

TEST_F(S3StorageTest, MultipartUploadOf40MiBRoundTrips) {
  FaultProxy proxy(server().port());
  ASSERT_TRUE(proxy.ok());
  S3Options o = Options("multipart");
  o.endpoint = proxy.endpoint();
  o.part_size = 5 << 20;
  o.multipart_threshold = 5 << 20;
  auto storage = OpenOrFail(o);
  const Bytes data = PatternBytes(40 << 20, 40);
  ASSERT_TRUE(IsOk(storage->Put("data/big", data)));
  auto seen = proxy.seen();
  ASSERT_EQ(seen.size(), 10u) << "initiate + 8 parts + complete";
  EXPECT_TRUE(seen.front().request_line.starts_with("POST ")) << seen.front().request_line;
  EXPECT_NE(seen.front().request_line.find("?uploads= "), std::string::npos) << seen.front().request_line;
  for (size_t i = 1; i <= 8; ++i)
    EXPECT_NE(seen[i].request_line.find("partNumber=" + std::to_string(i) + "&uploadId="), std::string::npos)
        << seen[i].request_line;
  EXPECT_TRUE(seen.back().request_line.starts_with("POST ")) << seen.back().request_line;

  auto info = storage->Stat("data/big");
  ASSERT_TRUE(IsOk(info.status()));
  EXPECT_EQ(info->size, data.size());
  EXPECT_TRUE(HoldsBytes(storage->Get("data/big"), data));
  // Ranges across part boundaries.
  const uint64_t part = 5 << 20;
  EXPECT_TRUE(HoldsBytes(storage->GetRange("data/big", part - 100, 200), ByteView(data).subspan(part - 100, 200)));
  EXPECT_TRUE(HoldsBytes(storage->GetRange("data/big", 7 * part + 1, part - 1), ByteView(data).subspan(7 * part + 1)));
}

TEST_F(S3StorageTest, RangeReads) {
  auto storage = OpenOrFail(Options("range"));
  const Bytes data = PatternBytes(100000, 9);
  ASSERT_TRUE(IsOk(storage->Put("pack", data)));
  for (auto [offset, length] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 1}, {0, 100000}, {99999, 1}, {12345, 54321}, {65536, 1024}}) {
    EXPECT_TRUE(HoldsBytes(storage->GetRange("pack", offset, length), ByteView(data).subspan(offset, length)))
        << offset << "+" << length;
  }
  EXPECT_TRUE(HoldsBytes(storage->GetRange("pack", 500, 0), {}));
  EXPECT_TRUE(HasCode(storage->GetRange("pack", 100001, 0).status(), StatusCode::kCorruption));
  EXPECT_TRUE(HasCode(storage->GetRange("pack", 99999, 2).status(), StatusCode::kCorruption));
  EXPECT_TRUE(HasCode(storage->GetRange("pack", 100000, 1).status(), StatusCode::kCorruption));
  EXPECT_TRUE(HasCode(storage->GetRange("absent", 0, 1).status(), StatusCode::kNotFound));
}

TEST_F(S3StorageTest, OpenStorageWiresS3WithRetriesAndEnvCredentials) {
  const std::string prefix = UniquePrefix("wired");
  ::setenv("AWS_ACCESS_KEY_ID", kAccessKey, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
  ::unsetenv("CAIRN_S3_CREDENTIALS_FILE");
  const std::string location = "s3:" + server().endpoint() + "/" + kBucket + "/" + prefix;
  auto storage = OpenStorage(location, /*create=*/true);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  EXPECT_NE(dynamic_cast<RetryingStorage*>(storage->get()), nullptr);
  EXPECT_EQ((*storage)->location(), location);
  ASSERT_TRUE(IsOk((*storage)->Put("config", AsBytes("hello"))));
  EXPECT_TRUE(HoldsBytes((*storage)->Get("config"), AsBytes("hello")));

  ::setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret", 1);
  auto wrong = OpenStorage(location, false);
  ASSERT_TRUE(wrong.ok());
  auto get = (*wrong)->Get("config");
  EXPECT_NE(get.status().message().find("signature mismatch"), std::string::npos) << get.status().message();
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");

  // Paths stay local.
  auto local = OpenStorage(std::filesystem::temp_directory_path().string(), false);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(dynamic_cast<RetryingStorage*>(local->get()), nullptr);
}

TEST_F(S3StorageTest, VirtualHostedAddressingPutsTheBucketInTheHostName) {
  // The test server cannot verify virtual-hosted signatures (it signs
  // "/bucket/key" where clients sign "/key"), so check the request shape
  // against the proxy, which answers by itself. curl resolves *.localhost
  // to loopback without DNS.
  FaultProxy proxy(server().port());
  ASSERT_TRUE(proxy.ok());
  proxy.Script({}, FaultProxy::Fault::kOkEmpty);
  S3Options o = Options("vhost");
  o.endpoint = "http://localhost:" + std::to_string(proxy.port());
  o.path_style = false;
  auto storage = OpenOrFail(o);
  auto info = storage->Stat("dir/a b");
  ASSERT_TRUE(IsOk(info.status()));
  EXPECT_EQ(info->size, 5u);
  auto seen = proxy.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].host, std::string(kBucket) + ".localhost:" + std::to_string(proxy.port()));
  EXPECT_EQ(seen[0].request_line, "HEAD /" + o.prefix + "/dir/a%20b HTTP/1.1");
}

TEST_F(S3StorageTest, HttpsWithACustomCaBundle) {
  const std::string dir = s3_testing::MakeTempDir("s3tls");
  ASSERT_FALSE(dir.empty());
  std::string out;
  int rc = RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "
                      "subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + ShellQuote(dir + "/key.pem") +
                          " -out " + ShellQuote(dir + "/cert.pem"),
                      &out);
  ASSERT_EQ(rc, 0) << out;
  {
    S3TestServer tls(dir + "/key.pem", dir + "/cert.pem");
    REQUIRE_SERVER(tls);
    S3Options o = OptionsFor(tls.endpoint(), "tls");
    o.allow_http = false;
    o.ca_bundle = dir + "/cert.pem";
    auto storage = OpenOrFail(o);
    ASSERT_TRUE(IsOk(storage->Put("config", AsBytes("over tls"))));
    EXPECT_TRUE(HoldsBytes(storage->Get("config"), AsBytes("over tls")));

    o.ca_bundle = "/etc/ssl/certs/ca-certificates.crt";  // does not know our self-signed certificate
    if (std::filesystem::exists(o.ca_bundle)) {
      Status put = OpenOrFail(o)->Put("config", AsBytes("x"));
      EXPECT_EQ(put.code(), StatusCode::kIOError);
      EXPECT_FALSE(IsTransient(put)) << put.message();
      EXPECT_NE(put.message().find("certificate"), std::string::npos) << put.message();
    }
  }
  std::filesystem::remove_all(dir);
}

// ---- an independent client ----

class RcloneInteropTest : public S3StorageTest {
 protected:
  void SetUp() override {
    S3StorageTest::SetUp();
    std::string out;
    ASSERT_EQ(RunCommand("command -v rclone", &out), 0) << "rclone is not installed (scripts/setup.sh installs it)";
    dir_ = s3_testing::MakeTempDir("rclone");
    ASSERT_FALSE(dir_.empty());
    std::ofstream(dir_ + "/rclone.conf") << "[s3t]\ntype = s3\nprovider = Other\naccess_key_id = " << kAccessKey
                                         << "\nsecret_access_key = " << kSecret
                                         << "\nendpoint = " << server().endpoint()
                                         << "\nregion = us-east-1\nforce_path_style = true\n";
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // rclone 1.60 fails on any S3 command when AWS_CA_BUNDLE is set; one try only.
  int Rclone(const std::string& args, std::string* out) {
    return RunCommand("env -u AWS_CA_BUNDLE rclone --config " + ShellQuote(dir_ + "/rclone.conf") +
                          " --retries 1 --low-level-retries 1 " + args,
                      out);
  }
  std::string dir_;
};

TEST_F(RcloneInteropTest, RcloneReadsWhatCairnWroteAndViceVersa) {
  const std::string prefix = UniquePrefix("rclone");
  S3Options o = Options("unused");
  o.prefix = prefix;
  o.part_size = 5 << 20;
  o.multipart_threshold = 6 << 20;
  auto storage = OpenOrFail(o);
  std::map<std::string, Bytes> objects = {
      {"config", PatternBytes(300, 1)},
      {"data/ab/ab01", PatternBytes(70000, 2)},
      {"snapshots/space name+1", PatternBytes(10, 3)},
      {"data/cd/multipart", PatternBytes(13 << 20, 4)},
  };
  for (const auto& [key, data] : objects) ASSERT_TRUE(IsOk(storage->Put(key, data))) << key;

  std::string out;
  ASSERT_EQ(Rclone("lsf -R --files-only --format ps --separator '|' --s3-list-version 2 s3t:" + std::string(kBucket) +
                       "/" + prefix,
                   &out),
            0)
      << out;
  std::map<std::string, uint64_t> listed;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    size_t bar = line.rfind('|');
    ASSERT_NE(bar, std::string::npos) << line;
    listed[line.substr(0, bar)] = std::stoull(line.substr(bar + 1));
  }
  std::map<std::string, uint64_t> expected;
  for (const auto& [key, data] : objects) expected[key] = data.size();
  EXPECT_EQ(listed, expected) << out;

  for (const auto& [key, data] : objects) {
    const std::string copy = dir_ + "/copy";
    ASSERT_EQ(Rclone("copyto " + ShellQuote("s3t:" + std::string(kBucket) + "/" + prefix + "/" + key) + " " +
                         ShellQuote(copy),
                     &out),
              0)
        << out;
    std::ifstream in(copy, std::ios::binary);
    Bytes got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(storage_testing::SameBytes(got, data)) << key;
  }

  // rclone writes (a small object and a multipart one); Cairn reads and lists.
  const Bytes small = PatternBytes(1234, 5), large = PatternBytes(11 << 20, 6);
  std::ofstream(dir_ + "/small", std::ios::binary).write(reinterpret_cast<const char*>(small.data()), small.size());
  std::ofstream(dir_ + "/large", std::ios::binary).write(reinterpret_cast<const char*>(large.data()), large.size());
  const std::string dest = "s3t:" + std::string(kBucket) + "/" + prefix + "/from-rclone/";
  ASSERT_EQ(Rclone("copyto " + ShellQuote(dir_ + "/small") + " " + ShellQuote(dest + "small"), &out), 0) << out;
  ASSERT_EQ(Rclone("copyto --s3-upload-cutoff 5M --s3-chunk-size 5M " + ShellQuote(dir_ + "/large") + " " +
                       ShellQuote(dest + "large"),
                   &out),
            0)
      << out;
  EXPECT_TRUE(HoldsBytes(storage->Get("from-rclone/small"), small));
  EXPECT_TRUE(HoldsBytes(storage->Get("from-rclone/large"), large));
  EXPECT_TRUE(HoldsBytes(storage->GetRange("from-rclone/large", 6 << 20, 10), ByteView(large).subspan(6 << 20, 10)));
  auto cairn_listed = ListAll(*storage, "from-rclone/");
  ASSERT_TRUE(IsOk(cairn_listed.status()));
  EXPECT_EQ(*cairn_listed, (std::map<std::string, uint64_t>{{"from-rclone/large", large.size()},
                                                            {"from-rclone/small", small.size()}}));
  ASSERT_TRUE(IsOk(storage->Delete("from-rclone/small")));
  ASSERT_EQ(Rclone("lsf " + ShellQuote(dest), &out), 0) << out;
  EXPECT_EQ(out, "large\n");
}

// ---- transient faults ----

class S3FaultTest : public S3StorageTest {
 protected:
  void SetUp() override {
    S3StorageTest::SetUp();
    proxy_ = std::make_unique<FaultProxy>(server().port(), 4s);
    ASSERT_TRUE(proxy_->ok());
    S3Options o = Options("faults");
    direct_ = OpenOrFail(o);
    o.endpoint = proxy_->endpoint();
    o.stall_timeout = 1s;
    o.part_size = 5 << 20;
    o.multipart_threshold = 5 << 20;
    RetryOptions retry;
    retry.max_attempts = 4;
    retry.base_delay = 20ms;
    retry.max_delay = 200ms;
    retrying_ = WrapRetrying(OpenOrFail(o), retry);
  }
  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<Storage> direct_;    // straight to the server
  std::unique_ptr<Storage> retrying_;  // through the proxy, with retries
};

using Fault = FaultProxy::Fault;

RetryOptions FastRetries(int attempts) {
  RetryOptions retry;
  retry.max_attempts = attempts;
  retry.base_delay = 1ms;
  return retry;
}

TEST_F(S3FaultTest, ServerErrorsAndThrottlingAreRetried) {
  const Bytes data = PatternBytes(300000, 11);
  proxy_->Script({Fault::k500, Fault::k503, Fault::k429});
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(IsOk(retrying_->Put("data/x", data)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(proxy_->requests(), 4u);
  EXPECT_TRUE(HoldsBytes(direct_->Get("data/x"), data));

  proxy_->ClearSeen();
  proxy_->Script({Fault::k503, Fault::k500});
  EXPECT_TRUE(HoldsBytes(retrying_->Get("data/x"), data));
  EXPECT_EQ(proxy_->requests(), 3u);

  proxy_->ClearSeen();
  proxy_->Script({Fault::k503});
  auto listed = ListAll(*retrying_, "data/");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_EQ(*listed, (std::map<std::string, uint64_t>{{"data/x", data.size()}}));
}

TEST_F(S3FaultTest, StalledResponseTimesOutAndIsRetried) {
  const Bytes data = PatternBytes(5000, 12);
  ASSERT_TRUE(IsOk(direct_->Put("data/stall", data)));
  proxy_->Script({Fault::kStall});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(HoldsBytes(retrying_->Get("data/stall"), data));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);  // waited for the stall timeout...
  EXPECT_LT(took, 3900ms);  // ...and not for the stall itself
  EXPECT_EQ(proxy_->requests(), 2u);
}

TEST_F(S3FaultTest, ConnectionDropsMidUploadAreRetried) {
  const Bytes data = PatternBytes(2 << 20, 13);
  proxy_->Script({Fault::kDropMidBody, Fault::kDropAfterRequest});
  ASSERT_TRUE(IsOk(retrying_->Put("data/drop", data)));
  EXPECT_EQ(proxy_->requests(), 3u);
  EXPECT_TRUE(HoldsBytes(direct_->Get("data/drop"), data));
}

TEST_F(S3FaultTest, FailedMultipartPartRestartsTheUpload) {
  const Bytes data = PatternBytes(11 << 20, 14);  // 3 parts
  // initiate, part 1, then part 2 is cut off midway.
  proxy_->Script({Fault::kForward, Fault::kForward, Fault::kDropMidBody});
  ASSERT_TRUE(IsOk(retrying_->Put("data/mp", data)));
  auto seen = proxy_->seen();
  ASSERT_GE(seen.size(), 3u + 1u + 5u);  // first try, its abort, a whole second upload
  EXPECT_TRUE(HoldsBytes(direct_->Get("data/mp"), data));
}

TEST_F(S3FaultTest, GivesUpWithAClearErrorWhenTheBudgetIsSpent) {
  proxy_->Script({}, Fault::k503);
  const auto start = std::chrono::steady_clock::now();
  Status put = retrying_->Put("data/never", AsBytes("x"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(put.code(), StatusCode::kIOError);
  EXPECT_FALSE(IsTransient(put)) << put.message();
  EXPECT_NE(put.message().find("put data/never failed after 4 attempts: "), std::string::npos) << put.message();
  EXPECT_NE(put.message().find("HTTP 503 SlowDown"), std::string::npos) << put.message();
  EXPECT_EQ(proxy_->requests(), 4u);
  EXPECT_TRUE(HasCode(direct_->Stat("data/never").status(), StatusCode::kNotFound));

  // Stalls too: every attempt times out.
  proxy_->ClearSeen();
  proxy_->Script({}, Fault::kStall);
  auto get = retrying_->Get("data/never");
  EXPECT_NE(get.status().message().find("failed after 4 attempts"), std::string::npos) << get.status().message();
  EXPECT_NE(get.status().message().find("no data moved for 1 s"), std::string::npos) << get.status().message();
  EXPECT_EQ(proxy_->requests(), 4u);
}

TEST_F(S3FaultTest, NonTransientErrorsAreNotRetried) {
  EXPECT_TRUE(HasCode(retrying_->Get("data/absent").status(), StatusCode::kNotFound));
  EXPECT_EQ(proxy_->requests(), 1u);
  proxy_->ClearSeen();
  EXPECT_TRUE(HasCode(retrying_->Delete("data/absent"), StatusCode::kNotFound));
  EXPECT_EQ(proxy_->requests(), 1u);  // the HEAD that found nothing

  proxy_->ClearSeen();
  S3Options o = Options("faults");
  o.endpoint = proxy_->endpoint();
  o.secret_access_key = "wrong";
  auto wrong = WrapRetrying(OpenOrFail(o), FastRetries(4));
  Status put = wrong->Put("data/x", AsBytes("x"));
  EXPECT_NE(put.message().find("SignatureDoesNotMatch"), std::string::npos) << put.message();
  EXPECT_EQ(proxy_->requests(), 1u);
}

TEST_F(S3FaultTest, RefusedConnectionsAreTransient) {
  // A port nobody listens on: bind one, close it.
  FaultProxy* unused = new FaultProxy(1);
  const int port = unused->port();
  delete unused;
  S3Options o = Options("refused");
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
  auto raw = OpenOrFail(o);
  Status put = raw->Put("x", AsBytes("x"));
  EXPECT_TRUE(IsTransient(put)) << put.message();
  auto retrying = WrapRetrying(std::move(raw), FastRetries(3));
  put = retrying->Put("x", AsBytes("x"));
  EXPECT_NE(put.message().find("failed after 3 attempts"), std::string::npos) << put.message();
}

}  // namespace
}  // namespace cairn
