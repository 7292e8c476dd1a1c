// S3 driver pieces that need no server: the SigV4 signer (against AWS's
// published example), the XML reader, location parsing and option checks.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "storage/s3/s3_sigv4.h"
#include "storage/s3/s3_storage.h"
#include "storage/s3/s3_xml.h"

namespace cairn {
namespace {

using namespace cairn::s3;

// "Example: GET Object" from the S3 SigV4 header-auth documentation.
TEST(S3SigV4Test, MatchesTheAwsDocumentationExample) {
  SigV4Request req;
  req.method = "GET";
  req.canonical_uri = "/test.txt";
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                 {"Range", "bytes=0-9"},
                 {"x-amz-content-sha256", std::string(kEmptySha256)},
                 {"x-amz-date", "20130524T000000Z"}};
  req.payload_hash = std::string(kEmptySha256);
  std::string canonical;
  std::string auth = SignV4(req, {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, "us-east-1",
                            "20130524T000000Z", &canonical);
  EXPECT_EQ(canonical,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(S3SigV4Test, EncodesPathsAndQueriesPerRfc3986) {
  EXPECT_EQ(UriEncode("a b+c=d/e~f_g.h-i*(j)", true), "a%20b%2Bc%3Dd/e~f_g.h-i%2A%28j%29");
  EXPECT_EQ(UriEncode("dir/x", false), "dir%2Fx");
  EXPECT_EQ(UriEncode("\xc3\xbc", true), "%C3%BC");
  // Sorted by name, valueless parameters keep their '='.
  EXPECT_EQ(CanonicalQuery({{"uploadId", "a/b+c"}, {"partNumber", "2"}}), "partNumber=2&uploadId=a%2Fb%2Bc");
  EXPECT_EQ(CanonicalQuery({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(CanonicalQuery({{"prefix", "dir/"}, {"list-type", "2"}, {"continuation-token", "x=="}}),
            "continuation-token=x%3D%3D&list-type=2&prefix=dir%2F");
  EXPECT_EQ(AmzDate(0), "19700101T000000Z");
  EXPECT_EQ(Sha256Hex({}), kEmptySha256);
}

TEST(S3XmlTest, DecodesEntities) {
  EXPECT_EQ(XmlDecode("a&amp;b&lt;c&gt;d&quot;e&apos;f"), "a&b<c>d\"e'f");
  EXPECT_EQ(XmlDecode("&#65;&#x42;&#xfc;&#x1F600;"), "AB\xc3\xbc\xf0\x9f\x98\x80");
  EXPECT_EQ(XmlDecode("&bogus;"), std::nullopt);
  EXPECT_EQ(XmlDecode("a & b"), std::nullopt);
  EXPECT_EQ(XmlDecode("&#0;"), std::nullopt);
  EXPECT_EQ(XmlEscape("<a&b>"), "&lt;a&amp;b&gt;");
}

TEST(S3XmlTest, ParsesListObjectsV2Pages) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p/</Prefix>"
      "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
      "<Contents><Key>p/a&amp;b&lt;c&gt;&#x20;d</Key><LastModified>x</LastModified><ETag>&quot;e&quot;</ETag>"
      "<Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>p/IsTruncated</Key><Size>0</Size></Contents>"
      "<NextContinuationToken>tok+/=&amp;</NextContinuationToken></ListBucketResult>";
  ListPage page;
  ASSERT_TRUE(ParseListObjectsV2(xml, &page));
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[0].key, "p/a&b<c> d");
  EXPECT_EQ(page.entries[0].size, 12u);
  EXPECT_EQ(page.entries[1].key, "p/IsTruncated");
  EXPECT_TRUE(page.truncated);
  EXPECT_EQ(page.next_token, "tok+/=&");

  ASSERT_TRUE(ParseListObjectsV2("<ListBucketResult><Prefix/><IsTruncated>false</IsTruncated></ListBucketResult>",
                                 &page));
  EXPECT_TRUE(page.entries.empty());
  EXPECT_FALSE(page.truncated);

  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>x</Code></Error>", &page));
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", &page));
  EXPECT_FALSE(ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents><IsTruncated>false</IsTruncated>"
      "</ListBucketResult>",
      &page));
}

TEST(S3XmlTest, ParsesErrorDocuments) {
  auto err = ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature &amp; "
      "more</Message><StringToSign>x</StringToSign></Error>");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "SignatureDoesNotMatch");
  EXPECT_EQ(err->message, "The request signature & more");
  EXPECT_FALSE(ParseS3Error("plain text").has_value());
}

// Sets and restores environment variables for one test.
class EnvGuard {
 public:
  void Set(const char* name, const std::string& value) {
    Save(name);
    ::setenv(name, value.c_str(), 1);
  }
  void Unset(const char* name) {
    Save(name);
    ::unsetenv(name);
  }
  ~EnvGuard() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }

 private:
  void Save(const char* name) {
    const char* v = std::getenv(name);
    saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

class S3LocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                             "AWS_DEFAULT_REGION", "CAIRN_S3_CREDENTIALS_FILE", "CAIRN_S3_ALLOW_HTTP",
                             "CAIRN_S3_CA_BUNDLE", "AWS_CA_BUNDLE"})
      env_.Unset(name);
    env_.Set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    env_.Set("AWS_SECRET_ACCESS_KEY", "very-secret-value");
  }
  EnvGuard env_;
};

TEST_F(S3LocationTest, ParsesEndpointBucketPrefixAndOptions) {
  auto o = ParseS3Location("s3:http://127.0.0.1:9000/bucket/some/prefix/");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(o->bucket, "bucket");
  EXPECT_EQ(o->prefix, "some/prefix");
  EXPECT_EQ(o->region, "us-east-1");
  EXPECT_TRUE(o->path_style);
  EXPECT_TRUE(o->allow_http);  // loopback
  EXPECT_EQ(o->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(o->secret_access_key, "very-secret-value");

  o = ParseS3Location("s3:https://S3.Example.COM/bkt?region=eu-west-1&path_style=false&max_connections=3");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->endpoint, "https://s3.example.com");
  EXPECT_EQ(o->bucket, "bkt");
  EXPECT_EQ(o->prefix, "");
  EXPECT_EQ(o->region, "eu-west-1");
  EXPECT_FALSE(o->path_style);
  EXPECT_EQ(o->max_connections, 3);
  EXPECT_FALSE(o->allow_http);

  env_.Set("AWS_REGION", "ap-south-1");
  o = ParseS3Location("s3:https://[::1]:9443/b/p");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->endpoint, "https://[::1]:9443");
  EXPECT_EQ(o->region, "ap-south-1");
}

TEST_F(S3LocationTest, RejectsMalformedLocationsWithoutEchoingCredentials) {
  for (const std::string loc : {"s3:", "s3:bucket/prefix", "s3:ftp://host/b", "s3:https://host", "s3:https://host/",
                                "s3:https://host:99999/b", "s3:https://host/b?colour=red", "s3:https://ho st/b"}) {
    auto o = ParseS3Location(loc);
    EXPECT_FALSE(o.ok()) << loc;
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument) << loc;
  }
  auto o = ParseS3Location("s3:https://AKID:hunter2secret@host/b");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message().find("hunter2secret"), std::string::npos) << o.status().message();
  EXPECT_NE(o.status().message().find("must not contain credentials"), std::string::npos);
}

TEST_F(S3LocationTest, CredentialsComeFromTheEnvironmentOrAFile) {
  env_.Unset("AWS_SECRET_ACCESS_KEY");
  auto o = ParseS3Location("s3:https://host/b");
  ASSERT_TRUE(o.ok());  // a configured target may still supply credentials
  EXPECT_TRUE(o->access_key_id.empty());
  auto driver = OpenS3Storage(*o);
  ASSERT_FALSE(driver.ok());
  EXPECT_NE(driver.status().message().find("no S3 credentials"), std::string::npos) << driver.status().message();

  const std::string dir = std::filesystem::temp_directory_path() / ("cairn-s3cred-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/credentials";
  std::ofstream(file) << "# Cairn S3 credentials\n[other]\naccess_key_id = WRONG\n[default]\n"
                         "aws_access_key_id = FILEKEY\nsecret_access_key = file secret with spaces\n"
                         "region = ignored\n";
  env_.Set("CAIRN_S3_CREDENTIALS_FILE", file);
  o = ParseS3Location("s3:https://host/b");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->access_key_id, "FILEKEY");
  EXPECT_EQ(o->secret_access_key, "file secret with spaces");

  std::ofstream(file) << "access_key_id = ONLYKEY\n";
  o = ParseS3Location("s3:https://host/b");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("must set access_key_id and secret_access_key"), std::string::npos);

  env_.Set("CAIRN_S3_CREDENTIALS_FILE", dir + "/missing");
  o = ParseS3Location("s3:https://host/b");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("cannot read"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_F(S3LocationTest, PlainHttpIsRefusedUnlessAllowed) {
  auto o = ParseS3Location("s3:http://s3.example.com/b");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_FALSE(o->allow_http);
  auto s = OpenS3Storage(*o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("refusing plain http"), std::string::npos) << s.status().message();

  env_.Set("CAIRN_S3_ALLOW_HTTP", "1");
  o = ParseS3Location("s3:http://s3.example.com/b");
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->allow_http);
  EXPECT_TRUE(OpenS3Storage(*o).ok());
}

TEST_F(S3LocationTest, OpenValidatesOptionsAndLocationHidesCredentials) {
  auto o = ParseS3Location("s3:https://s3.example.com/bkt/pre/fix");
  ASSERT_TRUE(o.ok());
  auto s = OpenS3Storage(*o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->location(), "s3:https://s3.example.com/bkt/pre/fix");
  EXPECT_EQ((*s)->capabilities().preferred_concurrency, 8);
  EXPECT_FALSE((*s)->capabilities().cheap_range_reads);

  S3Options bad = *o;
  bad.part_size = 1 << 20;
  EXPECT_FALSE(OpenS3Storage(bad).ok());
  bad = *o;
  bad.max_connections = 0;
  EXPECT_FALSE(OpenS3Storage(bad).ok());
  bad = *o;
  bad.path_style = false;
  bad.bucket = "Under_Score";
  EXPECT_FALSE(OpenS3Storage(bad).ok());
  bad = *o;
  bad.path_style = false;
  bad.endpoint = "https://10.0.0.1";
  EXPECT_FALSE(OpenS3Storage(bad).ok());
  bad = *o;
  bad.secret_access_key = "";
  EXPECT_FALSE(OpenS3Storage(bad).ok());
  bad = *o;
  bad.ca_bundle = "/nonexistent/ca.pem";
  EXPECT_FALSE(OpenS3Storage(bad).ok());
}

}  // namespace
}  // namespace cairn
