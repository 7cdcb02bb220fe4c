#include "common/ca_bundle.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace relayscope {
namespace {

TEST(CaBundle, FirstReadableCandidateWins) {
  const std::filesystem::path dir = testing::TempDir();
  const std::string present = (dir / "ca_bundle_present.pem").string();
  std::ofstream(present) << "-----BEGIN CERTIFICATE-----\n";
  const std::string missing = (dir / "ca_bundle_missing.pem").string();
  std::filesystem::remove(missing);
  EXPECT_EQ(FindCaBundle({missing, present}), present);
  EXPECT_EQ(FindCaBundle({missing}), "");
  EXPECT_EQ(FindCaBundle({}), "");
}

TEST(CaBundle, KnownBundlesNameTheMajorDistributions) {
  const auto& known = KnownCaBundles();
  EXPECT_EQ(known.front(), "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_NE(std::find(known.begin(), known.end(), "/etc/pki/tls/certs/ca-bundle.crt"), known.end());
  EXPECT_NE(std::find(known.begin(), known.end(), "/etc/ssl/ca-bundle.pem"), known.end());
  EXPECT_NE(std::find(known.begin(), known.end(), "/etc/ssl/cert.pem"), known.end());
}

// The user's SSL_CERT_FILE is kept; without it the machine's bundle is set.
TEST(CaBundle, UseSystemCaBundleKeepsTheUsersChoiceAndOtherwiseSetsTheFoundOne) {
  setenv("SSL_CERT_FILE", "/my/own.pem", 1);  // NOLINT(concurrency-mt-unsafe)
  EXPECT_EQ(UseSystemCaBundle(), "");
  EXPECT_STREQ(std::getenv("SSL_CERT_FILE"), "/my/own.pem");  // NOLINT(concurrency-mt-unsafe)
  unsetenv("SSL_CERT_FILE");                                  // NOLINT(concurrency-mt-unsafe)
  unsetenv("SSL_CERT_DIR");                                   // NOLINT(concurrency-mt-unsafe)
  const std::string expected = FindCaBundle(KnownCaBundles());
  ASSERT_FALSE(expected.empty()) << "this test machine has no CA bundle (ca-certificates)";
  EXPECT_EQ(UseSystemCaBundle(), expected);
  EXPECT_EQ(std::string(std::getenv("SSL_CERT_FILE")), expected);  // NOLINT(concurrency-mt-unsafe)
  unsetenv("SSL_CERT_FILE");                                       // NOLINT(concurrency-mt-unsafe)
}

}  // namespace
}  // namespace relayscope
